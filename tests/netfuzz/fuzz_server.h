/* The server side of the two fuzz targets that play a client
 * (tests/netfuzz/fuzz_http.c for HTTP/1.1, tests/fuzz/fuzz_h2.c for h2c):
 * the real listeners (core/http/server.c), router, plugin chain and lease
 * cache when the plugins are built, and forwarder, set up once from a
 * config the target describes; and one client connection per input, driven
 * through them until it is answered, closed and freed.  Besides sanitizer
 * reports, it aborts when the first bytes of an answer are not what the
 * target expects, when a client's request makes the forwarder refuse it
 * (the server must have refused it first), or when a connection hangs or
 * is never freed.
 *
 * The upstream is a unix socket path that does not exist, so every
 * forwarded request fails at connect() without waiting, and retries are
 * off: no input can make an iteration block or sleep.
 *
 * Ownership: the server and everything around it live until the process
 * exits (libFuzzer and the replays never tear them down); the socket files
 * and their directory are removed at exit.  A connection leaves nothing
 * behind once its input is done. */
#ifndef VP_FUZZ_SERVER_H
#define VP_FUZZ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_SERVER_MAX_LISTENERS 4

typedef struct {
    const char *name; /* the target: abort messages, the temp dir */
    const char *top;  /* more top-level config, or "" */
    /* Each unix listener's lines besides its address and tls_disable. */
    const char *listeners[FUZZ_SERVER_MAX_LISTENERS];
    int n_listeners;
    /* Looks at the first bytes the server sent on a connection: what is
     * wrong with them, or NULL when they can start a valid answer. */
    const char *(*check_first)(const char *buf, size_t len);
} fuzz_server_spec;

typedef struct {
    int listener;      /* index into spec->listeners */
    bool half_close;   /* shutdown(SHUT_WR) once everything is sent */
    bool with_token;   /* an auto-auth token in the holder meanwhile */
    bool check_first;  /* hand the first bytes to spec->check_first */
    const void *first; /* sent on its own before the input, or NULL */
    size_t first_len;
    const uint8_t *msg; /* the input, in two writes split at `split` */
    size_t len, split;
} fuzz_client;

/* Runs one client connection; the server is set up on the first call. */
void fuzz_server_connection(const fuzz_server_spec *spec,
                            const fuzz_client *client);

#endif
