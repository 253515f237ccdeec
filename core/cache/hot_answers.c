/* Direct mapping rather than an LRU list: keys are SHA-256 outputs, so
 * their low bits spread answers evenly, and a slot needs no links.  A
 * client grinding keys onto one slot only makes its own hits slower. */
#include "autoconf.h"

#include "cache/hot_answers.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define HOT_SLOTS 512 /* a power of two */

typedef struct {
    uint8_t key[VPD_HOT_KEY_LEN];
    char *text; /* NULL: empty */
    size_t len;
    uint64_t date;
} hot_slot;

struct vpd_hot {
    hot_slot slot[HOT_SLOTS];
};

static hot_slot *
slot_of(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN])
{
    unsigned i = (unsigned)key[0] | (unsigned)key[1] << 8;
    return &h->slot[i & (HOT_SLOTS - 1)];
}

static void
slot_empty(hot_slot *s)
{
    if (!s->text)
        return;
    OPENSSL_cleanse(s->text, s->len);
    free(s->text);
    s->text = NULL;
    s->len = 0;
}

vpd_hot *
vpd_hot_new(void)
{
    return calloc(1, sizeof(vpd_hot));
}

void
vpd_hot_free(vpd_hot *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < HOT_SLOTS; i++)
        slot_empty(&h->slot[i]);
    free(h);
}

const char *
vpd_hot_get(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN], size_t *len,
            uint64_t *date)
{
    hot_slot *s = slot_of(h, key);
    if (!s->text || memcmp(s->key, key, VPD_HOT_KEY_LEN) != 0)
        return NULL;
    *len = s->len;
    *date = s->date;
    return s->text;
}

void
vpd_hot_put(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN], const char *text,
            size_t len, uint64_t date)
{
    hot_slot *s = slot_of(h, key);
    slot_empty(s);
    if (len > VPD_HOT_MAX_TEXT || !(s->text = malloc(len + 1)))
        return;
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    s->len = len;
    s->date = date;
    memcpy(s->key, key, VPD_HOT_KEY_LEN);
}

void
vpd_hot_drop(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN])
{
    hot_slot *s = slot_of(h, key);
    if (s->text && memcmp(s->key, key, VPD_HOT_KEY_LEN) == 0)
        slot_empty(s);
}
