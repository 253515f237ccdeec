/* Canonical form: method NUL target NUL, then every header except the
 * left-out ones sorted by lower-cased name (values keep their order),
 * each as "name:value" NUL, then NUL body-length body, then the token.
 * Lengths and NULs keep fields from running into each other. */
#include "autoconf.h"

#include "cache/cache_key.h"

#include "base/textutil.h"

#include <ctype.h>
#include <stdbool.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
left_out(const char *name)
{
    /* Most headers do not start with "x-": they leave after one look. */
    if ((name[0] | 0x20) != 'x' || name[1] != '-')
        return false;
    return strcasecmp(name, "X-Vault-Index") == 0 ||
           strcasecmp(name, "X-Vault-Forward") == 0 ||
           strcasecmp(name, "X-Vault-Inconsistent") == 0 ||
           strcasecmp(name, "X-Vault-Token") == 0; /* hashed as token */
}

/* A context set up for SHA-256, made once and copied for each key: looking
 * the digest up by name and making a context cost more than hashing a
 * request (a cache hit is mostly this).  Used by the loop thread only; it
 * lives as long as the process and holds nothing of any request. */
static EVP_MD_CTX *
digest_ctx(void)
{
    static EVP_MD_CTX *ready, *work;
    if (!ready) {
        EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        EVP_MD_CTX *r = EVP_MD_CTX_new(), *w = EVP_MD_CTX_new();
        if (!sha256 || !r || !w || EVP_DigestInit_ex(r, sha256, NULL) != 1) {
            EVP_MD_free(sha256);
            EVP_MD_CTX_free(r);
            EVP_MD_CTX_free(w);
            return NULL;
        }
        EVP_MD_free(sha256); /* the context holds its own reference */
        ready = r;
        work = w;
    }
    return EVP_MD_CTX_copy_ex(work, ready) == 1 ? work : NULL;
}

/* The canonical form goes to the digest through a buffer: one update per
 * kilobyte instead of several per header (each update costs more than
 * hashing a short header).  It holds the token: wiped when done. */
typedef struct {
    EVP_MD_CTX *md;
    size_t n;
    bool spilled; /* part of the form went to the digest already */
    bool failed;  /* no digest context could be made */
    unsigned char buf[1024];
} feeder;

/* The digest context is set up only when something is hashed: a form
 * that matches the last one is never hashed at all. */
static EVP_MD_CTX *
md_of(feeder *f)
{
    if (!f->md && !f->failed) {
        f->md = digest_ctx();
        f->failed = !f->md;
    }
    return f->md;
}

static void
flush(feeder *f)
{
    if (f->n && md_of(f))
        EVP_DigestUpdate(f->md, f->buf, f->n);
    f->n = 0;
    f->spilled = true;
}

static void
feed(feeder *f, const void *p, size_t len)
{
    if (len > sizeof f->buf - f->n) {
        flush(f);
        if (len >= sizeof f->buf) {
            f->spilled = true;
            if (md_of(f))
                EVP_DigestUpdate(f->md, p, len);
            return;
        }
    }
    memcpy(f->buf + f->n, p, len);
    f->n += len;
}

static void
feed_lower(feeder *f, const char *s)
{
    for (; *s; s++) {
        if (f->n == sizeof f->buf)
            flush(f);
        f->buf[f->n++] = (unsigned char)tolower((unsigned char)*s);
    }
}

void
vpd_cache_key_memo_wipe(vpd_cache_key_memo *memo)
{
    OPENSSL_cleanse(memo, sizeof *memo);
}

/* The sort order of the kept headers: by lower-cased name, ties by their
 * place in the request, so that values keep their order.  Most pairs differ
 * in their first letter: settled without a call, in the order strcasecmp
 * gives. */
static int
by_name(const void *a, const void *b, void *base)
{
    const vpd_hdr *v = base;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    const char *na = v[ia].name, *nb = v[ib].name;
    int c = tolower((unsigned char)na[0]) - tolower((unsigned char)nb[0]);
    if (c == 0)
        c = strcasecmp(na, nb);
    if (c != 0)
        return c;
    return ia < ib ? -1 : ia > ib;
}

int
vpd_cache_key(const char *method, const char *target, const vpd_hdrs *headers,
              const char *body, size_t body_len, const char *token,
              vpd_cache_key_memo *memo, char out[VPD_CACHE_KEY_LEN + 1])
{
    _Static_assert(sizeof memo->form == sizeof((feeder *)0)->buf,
                   "a memo holds what fits in the feeder's buffer");
    size_t small[32];
    size_t *order =
        headers->n <= 32 ? small : malloc(headers->n * sizeof *order);
    if (!order)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < headers->n; i++) {
        if (!left_out(headers->v[i].name))
            order[n++] = i;
    }
    qsort_r(order, n, sizeof *order, by_name, headers->v);

    int rc = -1;
    {
        feeder f;
        f.md = NULL;
        f.n = 0;
        f.spilled = f.failed = false;
        feed(&f, method, strlen(method) + 1);
        feed(&f, target, strlen(target) + 1);
        for (size_t i = 0; i < n; i++) {
            const vpd_hdr *h = &headers->v[order[i]];
            feed_lower(&f, h->name);
            feed(&f, ":", 1);
            feed(&f, h->value, strlen(h->value) + 1);
        }
        char len[24];
        char *digits = vpd_decimal_backwards(len, sizeof len - 1, body_len);
        len[sizeof len - 1] = '\0';
        feed(&f, "", 1);
        feed(&f, digits, (size_t)(len + sizeof len - digits));
        if (body_len)
            feed(&f, body, body_len);
        feed(&f, token ? token : "", token ? strlen(token) : 0);
        size_t used = f.n;
        if (memo && !f.spilled && used && used == memo->len &&
            memcmp(f.buf, memo->form, used) == 0) {
            memcpy(out, memo->hex, sizeof memo->hex);
            OPENSSL_cleanse(f.buf, used);
            rc = 0;
        } else {
            bool whole = !f.spilled;
            flush(&f);
            unsigned char digest[32];
            unsigned int dl = 0;
            if (md_of(&f) && !f.failed &&
                EVP_DigestFinal_ex(f.md, digest, &dl) == 1 && dl == 32) {
                vpd_cache_key_to_hex(digest, out); /* its first 16 bytes */
                if (memo) {
                    OPENSSL_cleanse(memo->form, memo->len);
                    memo->len = 0;
                    if (whole && used) {
                        memcpy(memo->form, f.buf, used);
                        memcpy(memo->hex, out, sizeof memo->hex);
                        memo->len = used;
                    }
                }
                rc = 0;
            }
            OPENSSL_cleanse(f.buf, whole ? used : sizeof f.buf);
            OPENSSL_cleanse(digest, sizeof digest);
        }
    }
    if (order != small)
        free(order);
    return rc;
}

static const char hexdigits[] = "0123456789abcdef";

/* Every lookup turns its key into bytes: a table instead of two branches
 * per digit.  It holds each lower-case hex digit's value plus one, so that
 * the zero of every other byte (a NUL included) says "not a digit". */
static const unsigned char hex_plus_one[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int
vpd_cache_key_to_bin(const char *id, unsigned char out[VPD_CACHE_KEY_BIN_LEN])
{
    for (size_t i = 0; i < VPD_CACHE_KEY_BIN_LEN; i++) {
        unsigned hi = hex_plus_one[(unsigned char)id[2 * i]];
        if (!hi)
            return -1; /* a NUL too: a short id is never read past */
        unsigned lo = hex_plus_one[(unsigned char)id[2 * i + 1]];
        if (!lo)
            return -1;
        out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    return id[VPD_CACHE_KEY_LEN] == '\0' ? 0 : -1;
}

int
vpd_cache_key_upgrade(const char *id, char out[VPD_CACHE_KEY_LEN + 1])
{
    for (size_t i = 0; i < 2 * VPD_CACHE_KEY_LEN; i++) {
        if (!hex_plus_one[(unsigned char)id[i]])
            return -1;
    }
    if (id[2 * VPD_CACHE_KEY_LEN] != '\0')
        return -1;
    memcpy(out, id, VPD_CACHE_KEY_LEN);
    out[VPD_CACHE_KEY_LEN] = '\0';
    return 0;
}

void
vpd_cache_key_to_hex(const unsigned char bin[VPD_CACHE_KEY_BIN_LEN],
                     char out[VPD_CACHE_KEY_LEN + 1])
{
    for (size_t i = 0; i < VPD_CACHE_KEY_BIN_LEN; i++) {
        out[2 * i] = hexdigits[bin[i] >> 4];
        out[2 * i + 1] = hexdigits[bin[i] & 15];
    }
    out[VPD_CACHE_KEY_LEN] = '\0';
}
