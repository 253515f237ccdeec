/* The auto-auth token holder: the one place the current auto-auth token
 * lives.  The API proxy reads it for every request that uses it; auto-auth
 * replaces it after each login; anyone who learns the token is dead (a
 * renewal failed, the server said "invalid token") marks it so no request
 * is sent with it again until a new one arrives.
 *
 * Ownership: the holder owns a wiped copy of the token.  Readers get a
 * pointer valid until the next vpd_token_set on the loop thread. */
#ifndef VPD_TOKEN_HOLDER_H
#define VPD_TOKEN_HOLDER_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*vpd_token_listener_fn)(const char *token, uint64_t generation,
                                      void *arg);

typedef struct {
    char *token;         /* NULL before the first login */
    uint64_t generation; /* +1 at every new token */
    bool dead;
    struct {
        vpd_token_listener_fn fn;
        void *arg;
    } listeners[8];
    int n_listeners;
} vpd_token_holder;

/* The usable token, or NULL (none yet, or known dead). */
const char *vpd_token_current(const vpd_token_holder *h);

/* The generation of the current token (0 before the first login); a
 * request remembers it so that marking its token dead cannot hit a newer
 * one. */
uint64_t vpd_token_generation(const vpd_token_holder *h);

/* True when there is a token but it is known dead, so a new one is on its
 * way and requests should wait for it rather than go without. */
bool vpd_token_is_dead(const vpd_token_holder *h);

/* Installs a new token (copied) and tells the listeners.  Returns 0 or -1
 * when out of memory (the old token stays). */
int vpd_token_set(vpd_token_holder *h, const char *token);

/* Marks the token of that generation dead (ignored if a newer one has
 * arrived meanwhile). */
void vpd_token_mark_dead(vpd_token_holder *h, uint64_t generation);

/* Calls fn after every new token.  Returns 0, or -1 when full. */
int vpd_token_listen(vpd_token_holder *h, vpd_token_listener_fn fn, void *arg);

/* Stops calling fn with arg (a listener that goes away first). */
void vpd_token_unlisten(vpd_token_holder *h, vpd_token_listener_fn fn,
                        void *arg);

void vpd_token_holder_clear(vpd_token_holder *h);

#endif
