/* The record payloads of the persistent cache, in plaintext: big-endian
 * integers, strings as u32 length + bytes + NUL (0xffffffff for absent),
 * and one builder and one parser per record type (layout in
 * core/cache/persist.h).  Nothing here knows about keys or files.
 *
 * Ownership: builders copy into the caller's vpd_persist_wbuf, which
 * wipes what it held when it grows or is freed; parsers return pointers
 * into the payload they were given. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define NO_STR 0xffffffffu
#define FLAG_TOKEN 1
/* op, flags, then last_renewed_ms and ttl_ms */
#define PUT_TIMES_OFF 2

/* ---- byte order -------------------------------------------------------- */

void
vpd_persist_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void
vpd_persist_be64_put(uint8_t *p, uint64_t v)
{
    vpd_persist_be32_put(p, (uint32_t)(v >> 32));
    vpd_persist_be32_put(p + 4, (uint32_t)v);
}

uint32_t
vpd_persist_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

uint64_t
vpd_persist_be64_get(const uint8_t *p)
{
    return (uint64_t)vpd_persist_be32_get(p) << 32 |
           vpd_persist_be32_get(p + 4);
}

/* ---- building ---------------------------------------------------------- */

void
vpd_persist_wb_put(vpd_persist_wbuf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len)
            cap *= 2;
        /* Not realloc: the old block held plaintext and must be wiped. */
        uint8_t *np = malloc(cap);
        if (!np) {
            b->oom = true;
            return;
        }
        if (b->n)
            memcpy(np, b->p, b->n);
        if (b->p) {
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = cap;
    }
    if (len && data)
        memcpy(b->p + b->n, data, len);
    b->n += len; /* data NULL: room reserved for the caller to fill */
}

static void
wb_u8(vpd_persist_wbuf *b, uint8_t v)
{
    vpd_persist_wb_put(b, &v, 1);
}

static void
wb_u32(vpd_persist_wbuf *b, uint32_t v)
{
    uint8_t t[4];
    vpd_persist_be32_put(t, v);
    vpd_persist_wb_put(b, t, 4);
}

static void
wb_u64(vpd_persist_wbuf *b, uint64_t v)
{
    uint8_t t[8];
    vpd_persist_be64_put(t, v);
    vpd_persist_wb_put(b, t, 8);
}

static void
wb_str(vpd_persist_wbuf *b, const char *s)
{
    if (!s) {
        wb_u32(b, NO_STR);
        return;
    }
    size_t len = strlen(s);
    if (len >= NO_STR) {
        b->oom = true;
        return;
    }
    wb_u32(b, (uint32_t)len);
    vpd_persist_wb_put(b, s, len + 1);
}

void
vpd_persist_wb_free(vpd_persist_wbuf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof *b);
}

void
vpd_persist_encode_put(vpd_persist_wbuf *b, const vp_cache_entry_t *e,
                       bool token)
{
    wb_u8(b, VPD_PERSIST_OP_PUT);
    wb_u8(b, token ? FLAG_TOKEN : 0);
    wb_u64(b, e->last_renewed_ms);
    wb_u64(b, e->ttl_ms);
    wb_str(b, e->id);
    wb_str(b, e->namespace_);
    wb_str(b, e->request_path);
    wb_str(b, e->token);
    wb_str(b, e->token_accessor);
    wb_str(b, e->token_parent);
    wb_str(b, e->lease);
    wb_str(b, e->lease_token);
    if (e->response.len >= NO_STR) {
        b->oom = true;
        return;
    }
    wb_u32(b, (uint32_t)e->response.len);
    vpd_persist_wb_put(b, e->response.ptr, e->response.len);
}

void
vpd_persist_encode_renewed(vpd_persist_wbuf *b, uint64_t last_renewed_ms,
                           uint64_t ttl_ms, const char *id)
{
    wb_u8(b, VPD_PERSIST_OP_RENEWED);
    wb_u64(b, last_renewed_ms);
    wb_u64(b, ttl_ms);
    wb_str(b, id);
}

void
vpd_persist_encode_delete(vpd_persist_wbuf *b, const char *id)
{
    wb_u8(b, VPD_PERSIST_OP_DELETE);
    wb_str(b, id);
}

void
vpd_persist_encode_clear(vpd_persist_wbuf *b)
{
    wb_u8(b, VPD_PERSIST_OP_CLEAR);
}

void
vpd_persist_encode_autoauth(vpd_persist_wbuf *b, const char *token)
{
    wb_u8(b, VPD_PERSIST_OP_AUTOAUTH);
    wb_str(b, token);
}

void
vpd_persist_put_set_times(uint8_t *pl, uint64_t last_renewed_ms,
                          uint64_t ttl_ms)
{
    vpd_persist_be64_put(pl + PUT_TIMES_OFF, last_renewed_ms);
    vpd_persist_be64_put(pl + PUT_TIMES_OFF + 8, ttl_ms);
}

/* ---- parsing ----------------------------------------------------------- */

/* A reader that turns bad once it runs past the end; the caller checks
 * once at the end instead of after every field. */
typedef struct {
    const uint8_t *p;
    size_t n, o;
    bool bad;
} rd;

static uint8_t
rd_u8(rd *r)
{
    if (r->bad || r->n - r->o < 1) {
        r->bad = true;
        return 0;
    }
    return r->p[r->o++];
}

static uint32_t
rd_u32(rd *r)
{
    if (r->bad || r->n - r->o < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v = vpd_persist_be32_get(r->p + r->o);
    r->o += 4;
    return v;
}

static uint64_t
rd_u64(rd *r)
{
    if (r->bad || r->n - r->o < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t v = vpd_persist_be64_get(r->p + r->o);
    r->o += 8;
    return v;
}

/* A pointer into the payload (strings are stored with their NUL, so
 * they can be used in place). */
static const char *
rd_str(rd *r)
{
    uint32_t len = rd_u32(r);
    if (r->bad || len == NO_STR)
        return NULL;
    if (r->n - r->o < (size_t)len + 1 || r->p[r->o + len] != '\0') {
        r->bad = true;
        return NULL;
    }
    const char *s = (const char *)r->p + r->o;
    r->o += (size_t)len + 1;
    return s;
}

int
vpd_persist_parse_put(const uint8_t *pl, size_t n, vp_cache_entry_t *e,
                      bool *token)
{
    rd r = {pl, n, 0, false};
    memset(e, 0, sizeof *e);
    e->size = sizeof *e;
    if (rd_u8(&r) != VPD_PERSIST_OP_PUT)
        return -1;
    *token = (rd_u8(&r) & FLAG_TOKEN) != 0;
    e->last_renewed_ms = rd_u64(&r);
    e->ttl_ms = rd_u64(&r);
    e->id = rd_str(&r);
    e->namespace_ = rd_str(&r);
    e->request_path = rd_str(&r);
    e->token = rd_str(&r);
    e->token_accessor = rd_str(&r);
    e->token_parent = rd_str(&r);
    e->lease = rd_str(&r);
    e->lease_token = rd_str(&r);
    uint32_t rlen = rd_u32(&r);
    if (r.bad || r.n - r.o != rlen || !e->id)
        return -1;
    e->response.ptr = (const char *)pl + r.o;
    e->response.len = rlen;
    return 0;
}

/* The parsers below, as the replay always did, ignore bytes after the
 * last field. */

int
vpd_persist_parse_renewed(const uint8_t *pl, size_t n,
                          uint64_t *last_renewed_ms, uint64_t *ttl_ms,
                          const char **id)
{
    rd r = {pl, n, 0, false};
    if (rd_u8(&r) != VPD_PERSIST_OP_RENEWED)
        return -1;
    *last_renewed_ms = rd_u64(&r);
    *ttl_ms = rd_u64(&r);
    *id = rd_str(&r);
    return r.bad || !*id ? -1 : 0;
}

int
vpd_persist_parse_delete(const uint8_t *pl, size_t n, const char **id)
{
    rd r = {pl, n, 0, false};
    if (rd_u8(&r) != VPD_PERSIST_OP_DELETE)
        return -1;
    *id = rd_str(&r);
    return r.bad || !*id ? -1 : 0;
}

/* An absent token is a valid record: it forgets the stored one. */
int
vpd_persist_parse_autoauth(const uint8_t *pl, size_t n, const char **token)
{
    rd r = {pl, n, 0, false};
    if (rd_u8(&r) != VPD_PERSIST_OP_AUTOAUTH)
        return -1;
    *token = rd_str(&r);
    return r.bad ? -1 : 0;
}
