/* Kept deliberately tiny: it is read on every proxied request. */
#include "autoconf.h"

#include "auth/token_holder.h"

#include <string.h>

#include "base/secmem.h"

const char *
vpd_token_current(const vpd_token_holder *h)
{
    return (h->token && !h->dead) ? h->token : NULL;
}

uint64_t
vpd_token_generation(const vpd_token_holder *h)
{
    return h->generation;
}

bool
vpd_token_is_dead(const vpd_token_holder *h)
{
    return h->token && h->dead;
}

int
vpd_token_set(vpd_token_holder *h, const char *token)
{
    char *copy = vpd_secret_dup(token, strlen(token));
    if (!copy)
        return -1;
    vpd_secret_free(h->token);
    h->token = copy;
    h->dead = false;
    h->generation++;
    for (int i = 0; i < h->n_listeners; i++)
        h->listeners[i].fn(h->token, h->generation, h->listeners[i].arg);
    return 0;
}

void
vpd_token_mark_dead(vpd_token_holder *h, uint64_t generation)
{
    if (generation == h->generation)
        h->dead = true;
}

int
vpd_token_listen(vpd_token_holder *h, vpd_token_listener_fn fn, void *arg)
{
    if (h->n_listeners == (int)(sizeof h->listeners / sizeof h->listeners[0]))
        return -1;
    h->listeners[h->n_listeners].fn = fn;
    h->listeners[h->n_listeners].arg = arg;
    h->n_listeners++;
    return 0;
}

void
vpd_token_unlisten(vpd_token_holder *h, vpd_token_listener_fn fn, void *arg)
{
    for (int i = 0; i < h->n_listeners; i++) {
        if (h->listeners[i].fn != fn || h->listeners[i].arg != arg)
            continue;
        memmove(&h->listeners[i], &h->listeners[i + 1],
                (size_t)(h->n_listeners - i - 1) * sizeof h->listeners[0]);
        h->n_listeners--;
        return;
    }
}

void
vpd_token_holder_clear(vpd_token_holder *h)
{
    vpd_secret_free(h->token);
    memset(h, 0, sizeof *h);
}
