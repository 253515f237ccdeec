/* The encrypted persistent store of the lease cache: an append-only log of
 * AES-256-GCM records under a per-generation data key that is kept sealed
 * in the file header (format, key handling and crash-safety argument in
 * persist.h).
 *
 * The in-memory index holds, per live entry, its id, the offset of its
 * latest PUT record and its latest renewal values; entries themselves
 * stay in the file and are read back on restore and on compaction, so
 * the store does not keep a second copy of every cached response. */
#include "autoconf.h"

#include "cache/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <vaproxy/errors.h>

#include "base/secmem.h"
#include "base/log.h"
#include "base/textutil.h"

#include <uv.h>

#define COMPONENT "proxy.cache.persist"

#define MAGIC "VPXCACHE"
#define FORMAT_VERSION 1
#define HDR_LEN 108
#define HDR_AAD_LEN 48
#define SALT_OFF 16
#define NONCE_OFF 48
#define SEALED_OFF 60
#define SEAL_TAG_OFF 92
#define REC_HDR 12
#define TAG_LEN 16
#define KEY_LEN 32
#define NONCE_LEN 12
#define MAX_PAYLOAD (1u << 30)
#define NO_STR 0xffffffffu
#define TMP_NAME VPD_PERSIST_FILE_NAME ".tmp"
#define PUT_TIMES_OFF 2 /* op, flags, then last_renewed_ms and ttl_ms */
#define RECOVER_INTERVAL_MS 2000u
#define FLUSH_BYTES (256u * 1024u)

enum {
    OP_PUT = 1,
    OP_RENEWED = 2,
    OP_DELETE = 3,
    OP_CLEAR = 4,
    OP_AUTOAUTH = 5
};
enum { FLAG_TOKEN = 1 };

static const char WRONG_KEY[] = "cannot decrypt the persistent cache: wrong "
                                "key or not a vaproxy cache file";

/* ---- messages ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const persist_keys[] = {
    "type",        "path",     "keep_after_import",
    "exit_on_err", "key_file", "service_account_token_file",
};
#define N_PERSIST_KEYS (sizeof persist_keys / sizeof persist_keys[0])

static bool
is_persist_key(const char *k)
{
    for (size_t i = 0; i < N_PERSIST_KEYS; i++)
        if (strcmp(persist_keys[i], k) == 0)
            return true;
    return false;
}

typedef struct {
    const vpd_cfg_node *body;
    const char *label;
    int line;
} pblock;

typedef struct {
    pblock v[2]; /* the first two found; more only counted */
    size_t n;
} pblocks;

static void
pb_add(pblocks *b, const vpd_cfg_node *body, const char *label, int line)
{
    if (b->n < 2)
        b->v[b->n] = (pblock){body, label, line};
    b->n++;
}

static bool
obj_or_obj_list(const vpd_cfg_node *v)
{
    if (v->type == VPD_CFG_OBJECT)
        return true;
    if (v->type != VPD_CFG_LIST || v->n_items == 0)
        return false;
    for (size_t i = 0; i < v->n_items; i++)
        if (v->items[i]->type != VPD_CFG_OBJECT)
            return false;
    return true;
}

/* `persist "kubernetes" {}` arrives as {kubernetes: {...}}, `persist {type
 * = ...}` as {type: ...}: labelled when every member holds a block and
 * none is a persist key (the rule config.c uses for other blocks). */
static void
collect_obj(pblocks *b, const vpd_cfg_node *o, int line)
{
    bool labelled = o->n_members > 0;
    for (size_t i = 0; labelled && i < o->n_members; i++)
        if (!obj_or_obj_list(o->members[i].value) ||
            is_persist_key(o->members[i].key))
            labelled = false;
    if (!labelled) {
        pb_add(b, o, NULL, line);
        return;
    }
    for (size_t i = 0; i < o->n_members; i++) {
        const vpd_cfg_member *lm = &o->members[i];
        if (lm->value->type == VPD_CFG_OBJECT) {
            pb_add(b, lm->value, lm->key, lm->line);
            continue;
        }
        for (size_t j = 0; j < lm->value->n_items; j++)
            pb_add(b, lm->value->items[j], lm->key, lm->value->items[j]->line);
    }
}

static int
cfg_str(const char *file, const char *name, const vpd_cfg_member *m, char **dst,
        char *err, size_t err_len)
{
    const vpd_cfg_node *v = m->value;
    if (v->type != VPD_CFG_STRING && v->type != VPD_CFG_NUMBER)
        return fail(err, err_len, "%s:%d: %s: %s: expected a string, got %s",
                    file, m->line, name, m->key, vpd_cfg_a_type(v));
    char *s = NULL;
    if (v->str && v->str[0] && !(s = strdup(v->str)))
        return fail(err, err_len, "%s:%d: out of memory", file, m->line);
    free(*dst);
    *dst = s;
    return 0;
}

/* Plain Go struct bools: a real bool only (spec 1.2). */
static int
cfg_bool(const char *file, const char *name, const vpd_cfg_member *m, bool *dst,
         char *err, size_t err_len)
{
    if (m->value->type != VPD_CFG_BOOL)
        return fail(err, err_len, "%s:%d: %s: %s: expected a bool, got %s",
                    file, m->line, name, m->key, vpd_cfg_a_type(m->value));
    *dst = m->value->boolean;
    return 0;
}

static int
parse_block(const char *file, const pblock *bl, vpd_persist_config *out,
            char *err, size_t err_len)
{
    char name[128];
    const vpd_cfg_node *body = bl->body;
    /* The type first, so messages can name the block; `type` wins over
     * the label (parsePersist). */
    for (size_t i = 0; i < body->n_members; i++)
        if (strcmp(body->members[i].key, "type") == 0 &&
            cfg_str(file, "cache.persist", &body->members[i], &out->type, err,
                    err_len) != 0)
            return -1;
    if (!out->type && bl->label && bl->label[0] &&
        !(out->type = strdup(bl->label)))
        return fail(err, err_len, "%s:%d: out of memory", file, bl->line);
    if (!out->type)
        return fail(err, err_len, "%s:%d: persist type must be specified", file,
                    bl->line);
    for (char *c = out->type; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (strcmp(out->type, "file") == 0)
        out->kind = VPD_PERSIST_FILE;
    else if (strcmp(out->type, "kubernetes") == 0)
        out->kind = VPD_PERSIST_KUBERNETES;
    else
        return fail(err, err_len,
                    "%s:%d: persistent key protection type \"%s\" not "
                    "supported (file or kubernetes)",
                    file, bl->line, vpd_msg_text(out->type));
    snprintf(name, sizeof name, "cache.persist \"%s\"", out->type);

    for (size_t i = 0; i < body->n_members; i++) {
        const vpd_cfg_member *m = &body->members[i];
        int rc = 0;
        if (strcmp(m->key, "type") == 0) {
            continue;
        } else if (strcmp(m->key, "path") == 0) {
            rc = cfg_str(file, name, m, &out->path, err, err_len);
        } else if (strcmp(m->key, "keep_after_import") == 0) {
            rc = cfg_bool(file, name, m, &out->keep_after_import, err, err_len);
        } else if (strcmp(m->key, "exit_on_err") == 0) {
            rc = cfg_bool(file, name, m, &out->exit_on_err, err, err_len);
        } else if (strcmp(m->key, "key_file") == 0) {
            if (out->kind != VPD_PERSIST_FILE)
                return fail(err, err_len,
                            "%s:%d: %s: key_file: only valid "
                            "with persist \"file\"",
                            file, m->line, name);
            rc = cfg_str(file, name, m, &out->key_file, err, err_len);
        } else if (strcmp(m->key, "service_account_token_file") == 0) {
            if (out->kind != VPD_PERSIST_KUBERNETES)
                return fail(err, err_len,
                            "%s:%d: %s: "
                            "service_account_token_file: only valid with "
                            "persist \"kubernetes\"",
                            file, m->line, name);
            rc = cfg_str(file, name, m, &out->service_account_token_file, err,
                         err_len);
        } else {
            const char *best = NULL;
            size_t best_d = 3;
            for (size_t k = 0; k < N_PERSIST_KEYS; k++) {
                size_t d = vpd_edit_distance(m->key, persist_keys[k]);
                if (d < best_d) {
                    best_d = d;
                    best = persist_keys[k];
                }
            }
            if (best)
                return fail(err, err_len,
                            "%s:%d: unknown key \"%s\" in %s "
                            "(did you mean \"%s\"?)",
                            file, m->line, vpd_msg_text(m->key), name, best);
            return fail(err, err_len, "%s:%d: unknown key \"%s\" in %s", file,
                        m->line, vpd_msg_text(m->key), name);
        }
        if (rc != 0)
            return -1;
    }
    if (!out->path)
        return fail(err, err_len,
                    "%s:%d: %s: must specify persistent cache "
                    "path",
                    file, bl->line, name);
    if (out->kind == VPD_PERSIST_FILE && !out->key_file)
        return fail(err, err_len,
                    "%s:%d: %s: key_file is required (a file "
                    "holding 32 random bytes, 64 hex digits or their "
                    "base64)",
                    file, bl->line, name);
    if (out->kind == VPD_PERSIST_KUBERNETES &&
        !out->service_account_token_file &&
        !(out->service_account_token_file =
              strdup(VPD_PERSIST_DEFAULT_SA_TOKEN_FILE)))
        return fail(err, err_len, "%s:%d: out of memory", file, bl->line);
    out->file = file;
    out->line = bl->line;
    return 0;
}

int
vpd_persist_config_parse(const vpd_cfg_node *cache, vpd_persist_config *out,
                         char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (!cache || cache->type != VPD_CFG_OBJECT)
        return 0;
    const char *file = cache->file ? cache->file : "?";
    pblocks b = {0};
    for (size_t i = 0; i < cache->n_members; i++) {
        const vpd_cfg_member *m = &cache->members[i];
        if (strcmp(m->key, "persist") != 0)
            continue;
        const vpd_cfg_node *v = m->value;
        if (v->type == VPD_CFG_OBJECT) {
            collect_obj(&b, v, m->line);
        } else if (v->type == VPD_CFG_LIST) {
            for (size_t j = 0; j < v->n_items; j++) {
                if (v->items[j]->type != VPD_CFG_OBJECT)
                    return fail(err, err_len,
                                "%s:%d: cache: persist: "
                                "expected a block, got %s in a list",
                                file, m->line, vpd_cfg_a_type(v->items[j]));
                collect_obj(&b, v->items[j], v->items[j]->line);
            }
        } else {
            return fail(err, err_len,
                        "%s:%d: cache: persist: expected a "
                        "block, got %s",
                        file, m->line, vpd_cfg_a_type(v));
        }
    }
    if (b.n == 0)
        return 0;
    if (b.n > 1)
        return fail(err, err_len,
                    "%s:%d: cache: only one persist block is "
                    "allowed",
                    file, b.v[1].line);
    return parse_block(file, &b.v[0], out, err, err_len) == 0 ? 1 : -1;
}

void
vpd_persist_config_free(vpd_persist_config *c)
{
    if (!c)
        return;
    free(c->type);
    free(c->path);
    free(c->key_file);
    free(c->service_account_token_file);
    memset(c, 0, sizeof *c);
}

/* ---- byte helpers ------------------------------------------------------ */

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* A growable buffer; wiped when freed since payloads hold secrets. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void
wb_put(wbuf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len)
            cap *= 2;
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
wb_u8(wbuf *b, uint8_t v)
{
    wb_put(b, &v, 1);
}

static void
wb_u32(wbuf *b, uint32_t v)
{
    uint8_t t[4];
    put_be32(t, v);
    wb_put(b, t, 4);
}

static void
wb_u64(wbuf *b, uint64_t v)
{
    uint8_t t[8];
    put_be64(t, v);
    wb_put(b, t, 8);
}

static void
wb_str(wbuf *b, const char *s)
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
    wb_put(b, s, len + 1);
}

static void
wb_free(wbuf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof *b);
}

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
    uint32_t v = get_be32(r->p + r->o);
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
    uint64_t v = get_be64(r->p + r->o);
    r->o += 8;
    return v;
}

/* A pointer into the payload (strings are stored with their NUL). */
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

static void
build_put(wbuf *b, const vp_cache_entry_t *e, bool token)
{
    wb_u8(b, OP_PUT);
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
    wb_put(b, e->response.ptr, e->response.len);
}

/* A PUT payload as an entry pointing into it.  Returns 0 or -1. */
static int
parse_put(const uint8_t *pl, size_t n, vp_cache_entry_t *e, uint8_t *flags)
{
    rd r = {pl, n, 0, false};
    memset(e, 0, sizeof *e);
    e->size = sizeof *e;
    if (rd_u8(&r) != OP_PUT)
        return -1;
    *flags = rd_u8(&r);
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

/* ---- crypto ------------------------------------------------------------ */

/* AES-256-GCM over in[0..n) into out (may be in), with AAD aad1||aad2.
 * Decrypting checks tag.  Returns 0, or -1 (a wrong tag, an OpenSSL
 * failure). */
static int
gcm(bool enc, const uint8_t key[KEY_LEN], const uint8_t nonce[NONCE_LEN],
    const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2, size_t aad2_len,
    const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[TAG_LEN])
{
    if (n > MAX_PAYLOAD || aad2_len > MAX_PAYLOAD)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx != NULL;
    int len = 0;
    ok = ok && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
                                 enc ? 1 : 0) == 1;
    ok = ok &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) == 1;
    if (ok && aad1_len)
        ok = EVP_CipherUpdate(ctx, NULL, &len, aad1, (int)aad1_len) == 1;
    if (ok && aad2_len)
        ok = EVP_CipherUpdate(ctx, NULL, &len, aad2, (int)aad2_len) == 1;
    if (ok && n)
        ok = EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(ctx, out + (n ? len : 0), &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok && !enc && n)
        OPENSSL_cleanse(out, n); /* nothing unauthenticated escapes */
    return ok ? 0 : -1;
}

static int
derive_kek(vpd_persist_kind kind, const char *ikm, size_t ikm_len,
           const uint8_t salt[32], uint8_t kek[KEY_LEN])
{
    const char *info = kind == VPD_PERSIST_FILE
                           ? "vaproxy persistent cache v1 KEK file"
                           : "vaproxy persistent cache v1 KEK kubernetes";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                         (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
                                          ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                          32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                          strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int rc = kctx && EVP_KDF_derive(kctx, kek, KEY_LEN, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

static void
record_nonce(uint64_t seq, uint8_t nonce[NONCE_LEN])
{
    memcpy(nonce, "VPRC", 4);
    put_be64(nonce + 4, seq);
}

/* Seals a payload as a whole record into out (REC_HDR + n + TAG_LEN). */
static int
seal_record(const uint8_t dk[KEY_LEN], uint64_t seq, const uint8_t *pl,
            size_t n, uint8_t *out)
{
    uint8_t nonce[NONCE_LEN];
    put_be32(out, (uint32_t)n);
    put_be64(out + 4, seq);
    record_nonce(seq, nonce);
    return gcm(true, dk, nonce, out, REC_HDR, NULL, 0, pl, n, out + REC_HDR,
               out + REC_HDR + n);
}

/* Opens a whole record in place: the payload is then at rec + REC_HDR. */
static int
open_record(const uint8_t dk[KEY_LEN], uint8_t *rec, size_t n)
{
    uint8_t nonce[NONCE_LEN];
    record_nonce(get_be64(rec + 4), nonce);
    return gcm(false, dk, nonce, rec, REC_HDR, NULL, 0, rec + REC_HDR, n,
               rec + REC_HDR, rec + REC_HDR + n);
}

/* ---- key material ------------------------------------------------------ */

/* Reads a small file into a secret buffer.  Returns 0, or -1 with errno
 * (EFBIG when it is larger than max). */
static int
read_secret_file(const char *path, size_t max, char **out, size_t *len,
                 mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    if (mode)
        *mode = st.st_mode;
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            OPENSSL_cleanse(buf, max + 1);
            free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            OPENSSL_cleanse(buf, max + 1);
            free(buf);
            close(fd);
            errno = EFBIG;
            return -1;
        }
    }
    close(fd);
    *out = vpd_secret_dup(buf, n);
    OPENSSL_cleanse(buf, max + 1);
    free(buf);
    if (!*out) {
        errno = ENOMEM;
        return -1;
    }
    *len = n;
    return 0;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int
b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* 32 raw bytes; else, trimmed, 64 hex digits or base64 of 32 bytes.  32
 * bytes that are all printable are text (a 16-byte key in hex, a
 * password): random bytes are that only with probability ~1e-14. */
static int
decode_key(const char *s, size_t n, uint8_t key[KEY_LEN])
{
    bool printable = true;
    for (size_t i = 0; n == KEY_LEN && i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            printable = false;
    if (n == KEY_LEN && !printable) {
        memcpy(key, s, KEY_LEN);
        return 0;
    }
    while (n && is_space(s[0])) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 2 * KEY_LEN) {
        for (size_t i = 0; i < KEY_LEN; i++) {
            int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                goto base64;
            key[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
    }
base64:
    if (n == 44 && s[43] == '=')
        n = 43;
    if (n != 43)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            key[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == KEY_LEN && acc == 0 ? 0 : -1;
}

/* The key material: the key_file's 32 bytes or the trimmed SA token, in a
 * secret buffer. */
static int
load_ikm(const vpd_persist_config *c, char **ikm, size_t *ikm_len, char *err,
         size_t err_len)
{
    char *raw = NULL;
    size_t n = 0;
    mode_t mode = 0;
    if (c->kind == VPD_PERSIST_FILE) {
        if (read_secret_file(c->key_file, 4096, &raw, &n, &mode) != 0)
            return fail(err, err_len,
                        "cannot read the persistent cache "
                        "key_file %s: %s",
                        c->key_file,
                        errno == EFBIG    ? "too large for a key"
                        : errno == EINVAL ? "not a regular file"
                                          : strerror(errno));
        uint8_t key[KEY_LEN];
        int rc = decode_key(raw, n, key);
        vpd_secret_free(raw);
        if (rc != 0) {
            OPENSSL_cleanse(key, sizeof key);
            return fail(err, err_len,
                        "persistent cache key_file %s: "
                        "expected 32 raw bytes, 64 hex digits or the base64 "
                        "of 32 bytes",
                        c->key_file);
        }
        if (mode & 077)
            vpd_log(VPD_LOG_WARN, COMPONENT,
                    "key_file %s can be read by "
                    "group or others (mode %04o); make it 0600 or 0400",
                    c->key_file, (unsigned)(mode & 07777));
        *ikm = vpd_secret_dup((const char *)key, KEY_LEN);
        OPENSSL_cleanse(key, sizeof key);
        *ikm_len = KEY_LEN;
        if (!*ikm)
            return fail(err, err_len, "out of memory");
        return 0;
    }
    const char *f = c->service_account_token_file;
    if (read_secret_file(f, 64 * 1024, &raw, &n, NULL) != 0)
        return fail(err, err_len,
                    "failed to read service account token "
                    "from %s: %s",
                    f,
                    errno == EFBIG    ? "file too large"
                    : errno == EINVAL ? "not a regular file"
                                      : strerror(errno));
    size_t a = 0, b = n;
    while (a < b && is_space(raw[a]))
        a++;
    while (b > a && is_space(raw[b - 1]))
        b--;
    if (a == b) {
        vpd_secret_free(raw);
        return fail(err, err_len,
                    "failed to read service account token "
                    "from %s: the file is empty",
                    f);
    }
    *ikm = vpd_secret_dup(raw + a, b - a);
    *ikm_len = b - a;
    vpd_secret_free(raw);
    if (!*ikm)
        return fail(err, err_len, "out of memory");
    return 0;
}

/* ---- the index --------------------------------------------------------- */

typedef struct pent {
    char *id;
    struct pent *hnext;       /* hash chain */
    struct pent *prev, *next; /* creation order */
    uint64_t off;             /* its latest PUT record */
    uint32_t rec_len;
    uint64_t last_renewed_ms, ttl_ms;
    uint32_t snap_idx; /* its place in the compaction under way */
    bool token;
} pent;

typedef struct compact_job compact_job;

struct vpd_persist {
    vpd_persist_config cfg; /* owned copies */
    char *db_path;          /* for messages */
    int dirfd, fd;
    char *ikm; /* secret */
    size_t ikm_len;
    uint8_t dk[KEY_LEN];
    uint64_t seq; /* the next record's */
    uint64_t end; /* end of the good log */
    pent **buckets;
    size_t nbuckets, count;
    pent *head, *tail;
    char *auto_auth;     /* secret, or NULL */
    uint64_t live_bytes; /* PUT records of live entries */
    uint64_t torn_bytes;
    uint64_t last_recover_ms;
    uv_loop_t *loop;  /* set: threshold compactions run off the loop */
    compact_job *job; /* the background compaction under way */
    unsigned compactions;
    bool existed, restored, inert, broken;
    bool failed_during_job; /* an append failed while a job ran */
    bool dir_dirty;         /* a rename not yet fsynced into the directory */
};

static uint64_t
hash_id(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static pent *
idx_find(const vpd_persist *p, const char *id)
{
    if (!p->nbuckets)
        return NULL;
    for (pent *x = p->buckets[hash_id(id) & (p->nbuckets - 1)]; x; x = x->hnext)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

static int
idx_grow(vpd_persist *p)
{
    size_t nb = p->nbuckets ? p->nbuckets * 2 : 64;
    pent **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (pent *x = p->head; x; x = x->next) {
        size_t i = hash_id(x->id) & (nb - 1);
        x->hnext = b[i];
        b[i] = x;
    }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
    return 0;
}

/* A new entry, not yet linked. */
static pent *
pent_new(const char *id)
{
    pent *x = calloc(1, sizeof *x);
    if (x && !(x->id = strdup(id))) {
        free(x);
        return NULL;
    }
    return x;
}

static void
pent_free(pent *x)
{
    if (x) {
        free(x->id);
        free(x);
    }
}

/* Links x at the end of the creation order.  Returns 0 or -1 (ENOMEM;
 * x is then not linked). */
static int
idx_link(vpd_persist *p, pent *x)
{
    if (p->count + 1 > p->nbuckets && idx_grow(p) != 0 && !p->nbuckets)
        return -1;
    size_t i = hash_id(x->id) & (p->nbuckets - 1);
    x->hnext = p->buckets[i];
    p->buckets[i] = x;
    x->prev = p->tail;
    x->next = NULL;
    if (p->tail)
        p->tail->next = x;
    else
        p->head = x;
    p->tail = x;
    p->count++;
    p->live_bytes += x->rec_len;
    return 0;
}

static void
idx_remove(vpd_persist *p, pent *x)
{
    pent **pp = &p->buckets[hash_id(x->id) & (p->nbuckets - 1)];
    while (*pp != x)
        pp = &(*pp)->hnext;
    *pp = x->hnext;
    if (x->prev)
        x->prev->next = x->next;
    else
        p->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        p->tail = x->prev;
    p->count--;
    p->live_bytes -= x->rec_len;
    pent_free(x);
}

static void
idx_clear(vpd_persist *p)
{
    for (pent *x = p->head, *n; x; x = n) {
        n = x->next;
        pent_free(x);
    }
    p->head = p->tail = NULL;
    if (p->buckets)
        memset(p->buckets, 0, p->nbuckets * sizeof *p->buckets);
    p->count = 0;
    p->live_bytes = 0;
}

static int
set_auto_auth(vpd_persist *p, const char *token)
{
    char *copy = NULL;
    if (token && token[0] && !(copy = vpd_secret_dup(token, strlen(token))))
        return -1;
    vpd_secret_free(p->auto_auth);
    p->auto_auth = copy;
    return 0;
}

/* ---- file I/O ---------------------------------------------------------- */

static int
pwrite_all(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, buf, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Returns the bytes read (fewer at the end of the file) or -1. */
static ssize_t
pread_all(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads and opens the record at off (whole length len) into *buf (grown
 * as needed, wiped by the caller).  Returns 0 or -1. */
static int
load_record_at(int fd, const uint8_t dk[KEY_LEN], uint64_t off, uint32_t len,
               uint8_t **buf, size_t *cap)
{
    if (len < REC_HDR + TAG_LEN + 1)
        return -1;
    if (*cap < len) {
        uint8_t *nb = malloc(len);
        if (!nb)
            return -1;
        if (*buf) {
            OPENSSL_cleanse(*buf, *cap);
            free(*buf);
        }
        *buf = nb;
        *cap = len;
    }
    if (pread_all(fd, *buf, len, off) != (ssize_t)len)
        return -1;
    uint32_t n = get_be32(*buf);
    if ((uint64_t)n + REC_HDR + TAG_LEN != len)
        return -1;
    return open_record(dk, *buf, n);
}

static int
load_record(vpd_persist *p, uint64_t off, uint32_t len, uint8_t **buf,
            size_t *cap)
{
    return load_record_at(p->fd, p->dk, off, len, buf, cap);
}

static void
buf_wipe_free(uint8_t *buf, size_t cap)
{
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
}

/* ---- the header -------------------------------------------------------- */

/* Thread-safe: reads only its arguments (compactions seal headers off
 * the loop). */
static int
make_header(vpd_persist_kind kind, const char *ikm, size_t ikm_len,
            const uint8_t dk[KEY_LEN], uint8_t h[HDR_LEN])
{
    memset(h, 0, HDR_LEN);
    memcpy(h, MAGIC, 8);
    h[8] = 0;
    h[9] = FORMAT_VERSION;
    h[10] = (uint8_t)kind;
    if (RAND_bytes(h + SALT_OFF, 32) != 1 ||
        RAND_bytes(h + NONCE_OFF, NONCE_LEN) != 1)
        return -1;
    uint8_t kek[KEY_LEN];
    int rc = derive_kek(kind, ikm, ikm_len, h + SALT_OFF, kek);
    bool k8s = kind == VPD_PERSIST_KUBERNETES;
    if (rc == 0)
        rc = gcm(true, kek, h + NONCE_OFF, h, HDR_AAD_LEN,
                 k8s ? (const uint8_t *)ikm : NULL, k8s ? ikm_len : 0, dk,
                 KEY_LEN, h + SEALED_OFF, h + SEAL_TAG_OFF);
    OPENSSL_cleanse(kek, sizeof kek);
    return rc;
}

/* Checks the header and unseals the data key into p->dk. */
static int
read_header(vpd_persist *p, const uint8_t h[HDR_LEN], char *err, size_t err_len)
{
    if (memcmp(h, MAGIC, 8) != 0)
        return fail(err, err_len, "%s: %s", p->db_path, WRONG_KEY);
    unsigned version = (unsigned)h[8] << 8 | h[9];
    if (version != FORMAT_VERSION)
        return fail(err, err_len,
                    "%s: %s (format version %u; this "
                    "vaproxyd reads %u)",
                    p->db_path, WRONG_KEY, version, FORMAT_VERSION);
    if (h[10] != (uint8_t)p->cfg.kind)
        return fail(err, err_len, "%s: %s (it was written for %s)", p->db_path,
                    WRONG_KEY,
                    h[10] == VPD_PERSIST_FILE ? "persist \"file\""
                    : h[10] == VPD_PERSIST_KUBERNETES
                        ? "persist \"kubernetes\""
                        : "an unknown key protection");
    uint8_t kek[KEY_LEN], tag[TAG_LEN], sealed[KEY_LEN];
    memcpy(tag, h + SEAL_TAG_OFF, TAG_LEN);
    memcpy(sealed, h + SEALED_OFF, KEY_LEN);
    bool k8s = p->cfg.kind == VPD_PERSIST_KUBERNETES;
    int rc = derive_kek(p->cfg.kind, p->ikm, p->ikm_len, h + SALT_OFF, kek);
    if (rc == 0)
        rc = gcm(false, kek, h + NONCE_OFF, h, HDR_AAD_LEN,
                 k8s ? (const uint8_t *)p->ikm : NULL, k8s ? p->ikm_len : 0,
                 sealed, KEY_LEN, p->dk, tag);
    OPENSSL_cleanse(kek, sizeof kek);
    if (rc != 0)
        return fail(err, err_len, "%s: %s", p->db_path, WRONG_KEY);
    return 0;
}

/* ---- replay ------------------------------------------------------------ */

/* Applies one opened record.  Returns 0, or -1 with a message (a record
 * type this version does not know, out of memory). */
static int
apply(vpd_persist *p, const uint8_t *pl, size_t n, uint64_t off,
      uint32_t rec_len, char *err, size_t err_len)
{
    rd r = {pl, n, 0, false};
    uint8_t op = pl[0];
    pent *x;
    switch (op) {
    case OP_PUT: {
        vp_cache_entry_t e;
        uint8_t flags = 0;
        if (parse_put(pl, n, &e, &flags) != 0)
            break;
        if ((x = idx_find(p, e.id))) {
            p->live_bytes = p->live_bytes - x->rec_len + rec_len;
        } else {
            if (!(x = pent_new(e.id)) || idx_link(p, x) != 0) {
                pent_free(x);
                return fail(err, err_len, "out of memory");
            }
            p->live_bytes += rec_len;
        }
        x->off = off;
        x->rec_len = rec_len;
        x->last_renewed_ms = e.last_renewed_ms;
        x->ttl_ms = e.ttl_ms;
        x->token = (flags & FLAG_TOKEN) != 0;
        if (x->token && set_auto_auth(p, e.token) != 0)
            return fail(err, err_len, "out of memory");
        return 0;
    }
    case OP_RENEWED: {
        r.o = 1;
        uint64_t lr = rd_u64(&r), ttl = rd_u64(&r);
        const char *id = rd_str(&r);
        if (r.bad || !id)
            break;
        if ((x = idx_find(p, id))) {
            x->last_renewed_ms = lr;
            x->ttl_ms = ttl;
        }
        return 0;
    }
    case OP_DELETE: {
        r.o = 1;
        const char *id = rd_str(&r);
        if (r.bad || !id)
            break;
        if ((x = idx_find(p, id)))
            idx_remove(p, x);
        return 0;
    }
    case OP_CLEAR:
        idx_clear(p);
        return 0;
    case OP_AUTOAUTH: {
        r.o = 1;
        const char *tok = rd_str(&r);
        if (r.bad)
            break;
        if (set_auto_auth(p, tok) != 0)
            return fail(err, err_len, "out of memory");
        return 0;
    }
    default:
        break;
    }
    /* Authentic but not understood: written by another version. */
    return fail(err, err_len,
                "%s: unsupported record (type %u) in the "
                "persistent cache; was it written by a newer vaproxyd?",
                p->db_path, (unsigned)op);
}

/* Reads the log after the header; stops at the first record that is
 * incomplete, fails its tag or breaks the seq chain (a torn tail). */
static int
replay(vpd_persist *p, uint64_t size, char *err, size_t err_len)
{
    uint64_t off = HDR_LEN, seq = 1;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (off < size && size - off >= REC_HDR + TAG_LEN + 1) {
        uint8_t h[REC_HDR];
        if (pread_all(p->fd, h, REC_HDR, off) != REC_HDR) {
            rc = fail(err, err_len, "cannot read %s: %s", p->db_path,
                      strerror(errno));
            break;
        }
        uint32_t n = get_be32(h);
        if (n == 0 || n > MAX_PAYLOAD || get_be64(h + 4) != seq ||
            (uint64_t)n + REC_HDR + TAG_LEN > size - off)
            break;
        uint32_t len = n + REC_HDR + TAG_LEN;
        if (load_record(p, off, len, &buf, &cap) != 0)
            break;
        rc = apply(p, buf + REC_HDR, n, off, len, err, err_len);
        OPENSSL_cleanse(buf, len);
        if (rc != 0)
            break;
        off += len;
        seq++;
    }
    buf_wipe_free(buf, cap);
    if (rc != 0)
        return -1;
    if (off < size) {
        p->torn_bytes = size - off;
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "%s: dropped the last %llu bytes "
                "(an incomplete or damaged write); restoring the state "
                "before it",
                p->db_path, (unsigned long long)(size - off));
    }
    p->end = off;
    p->seq = seq;
    return 0;
}

/* ---- compaction -------------------------------------------------------- */

/* A compaction has three steps, so that the heavy middle one can run on a
 * libuv worker thread while the loop goes on appending to the old file:
 *
 *  1. snapshot (loop): the live entries' record offsets and renewal
 *     values, the auto-auth token, the data key and a dup of the fd -
 *     an immutable picture of the state at the current end of the log;
 *  2. write (any thread): a new generation in the temp file: header,
 *     every snapshot record re-sealed under a new data key, the auto-auth
 *     record; fsync.  It reads only the old file below the snapshot's end,
 *     which appends never touch;
 *  3. finish (loop): the records appended to the old file since the
 *     snapshot are re-sealed, in order, onto the end of the temp file,
 *     which is then renamed over the store, and the index is pointed at
 *     the new offsets.
 *
 * Crash safety is that of the synchronous rewrite: until the rename the
 * store is the old file (complete, and still receiving every append);
 * after it the new one, which holds the snapshot plus every later record,
 * in their order.  A kill -9 between the steps leaves the old file and a
 * temp file that open removes.  The tail records of step 3 are not
 * fsynced (no appends are), so a power loss may lose them like any recent
 * append: an older state.  The directory is fsynced after a synchronous
 * rewrite at once, after a background one by the next sync, close or
 * compaction. */

struct compact_job {
    uv_work_t req;
    vpd_persist *p; /* NULL once the job was finished without
                       its after-work callback */
    /* the snapshot */
    size_t n;
    uint64_t *offs;     /* old offsets in; new offsets out */
    uint32_t *lens;     /* 0 out: could not be read, dropped */
    uint64_t *lr, *ttl; /* renewal values at snapshot time */
    char *auto_auth;    /* secret copy */
    uint8_t old_dk[KEY_LEN];
    int old_fd;
    uint64_t snap_end;
    bool sync_dir; /* fsync the directory first */
    /* the key material: a copy, refreshed from the SA token file */
    char *ikm;
    size_t ikm_len;
    bool ikm_changed;
    /* the result */
    uint8_t dk[KEY_LEN];
    int tfd;
    uint64_t end, seq; /* of the new file */
    int rc;
    char err[512];
    /* for a caller that must wait for the worker (close, compact) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool written;
};

static void
job_free(compact_job *j)
{
    if (!j)
        return;
    if (j->old_fd >= 0)
        close(j->old_fd);
    if (j->tfd >= 0) /* never handed over: an unfinished rewrite */
        close(j->tfd);
    vpd_secret_free(j->auto_auth);
    vpd_secret_free(j->ikm);
    OPENSSL_cleanse(j->old_dk, sizeof j->old_dk);
    OPENSSL_cleanse(j->dk, sizeof j->dk);
    free(j->offs);
    free(j->lens);
    free(j->lr);
    free(j->ttl);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Step 1.  Returns the job, or NULL with a message. */
static compact_job *
snapshot(vpd_persist *p, char *err, size_t err_len)
{
    compact_job *j = calloc(1, sizeof *j);
    if (!j) {
        fail(err, err_len, "out of memory");
        return NULL;
    }
    j->old_fd = j->tfd = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->p = p;
    j->n = p->count;
    size_t n = j->n ? j->n : 1;
    j->offs = calloc(n, sizeof *j->offs);
    j->lens = calloc(n, sizeof *j->lens);
    j->lr = calloc(n, sizeof *j->lr);
    j->ttl = calloc(n, sizeof *j->ttl);
    j->ikm = vpd_secret_dup(p->ikm, p->ikm_len);
    j->ikm_len = p->ikm_len;
    bool oom = !j->offs || !j->lens || !j->lr || !j->ttl || !j->ikm;
    if (p->auto_auth &&
        !(j->auto_auth = vpd_secret_dup(p->auto_auth, strlen(p->auto_auth))))
        oom = true;
    if (oom) {
        job_free(j);
        fail(err, err_len, "out of memory");
        return NULL;
    }
    if (p->fd >= 0 && (j->old_fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        fail(err, err_len, "cannot compact %s: %s", p->db_path,
             strerror(errno));
        job_free(j);
        return NULL;
    }
    size_t i = 0;
    for (pent *x = p->head; x; x = x->next, i++) {
        x->snap_idx = (uint32_t)i;
        j->offs[i] = x->off;
        j->lens[i] = x->rec_len;
        j->lr[i] = x->last_renewed_ms;
        j->ttl[i] = x->ttl_ms;
    }
    memcpy(j->old_dk, p->dk, KEY_LEN);
    j->snap_end = p->end;
    j->sync_dir = p->dir_dirty;
    return j;
}

static int
flush_out(int fd, wbuf *out, uint64_t *written)
{
    if (out->oom)
        return -1;
    if (pwrite_all(fd, out->p, out->n, *written) != 0)
        return -1;
    *written += out->n;
    out->n = 0;
    return 0;
}

/* Step 2: the new generation in the temp file, fsynced, not renamed.
 * Touches nothing but the job and the store's immutable parts (config,
 * directory fd, path), so it may run on a worker thread.  Sets j->rc. */
static void
write_generation(const vpd_persist *p, compact_job *j)
{
    uint8_t hdr[HDR_LEN], *buf = NULL;
    size_t cap = 0;
    wbuf out = {0}, pl = {0};
    const char *step = "write";
    j->rc = -1;
    if (j->sync_dir)
        fsync(p->dirfd);
    /* A rotated service-account token seals the next generation. */
    if (p->cfg.kind == VPD_PERSIST_KUBERNETES) {
        char *ikm = NULL, e[64];
        size_t len = 0;
        if (load_ikm(&p->cfg, &ikm, &len, e, sizeof e) == 0) {
            if (len != j->ikm_len || CRYPTO_memcmp(ikm, j->ikm, len) != 0) {
                vpd_secret_free(j->ikm);
                j->ikm = ikm;
                j->ikm_len = len;
                j->ikm_changed = true;
            } else {
                vpd_secret_free(ikm);
            }
        } /* else keep sealing with the one we have */
    }
    if (RAND_bytes(j->dk, KEY_LEN) != 1 ||
        make_header(p->cfg.kind, j->ikm, j->ikm_len, j->dk, hdr) != 0) {
        fail(j->err, sizeof j->err, "cannot make a key for %s", p->db_path);
        goto done;
    }
    for (int tries = 0; j->tfd < 0 && tries < 2; tries++) {
        j->tfd =
            openat(p->dirfd, TMP_NAME,
                   O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (j->tfd < 0 && errno == EEXIST)
            unlinkat(p->dirfd, TMP_NAME, 0);
        else if (j->tfd < 0)
            break;
    }
    if (j->tfd < 0) {
        fail(j->err, sizeof j->err, "cannot create %s.tmp: %s", p->db_path,
             strerror(errno));
        goto done;
    }
    /* The umask only narrows; make it exactly 0600 all the same. */
    if (fchmod(j->tfd, 0600) != 0) {
        step = "fchmod";
        goto io_fail;
    }
    uint64_t written = 0, pos = HDR_LEN, seq = 1;
    wb_put(&out, hdr, HDR_LEN);
    for (size_t i = 0; i < j->n; i++) {
        uint32_t len = j->lens[i];
        if (load_record_at(j->old_fd, j->old_dk, j->offs[i], len, &buf, &cap) !=
            0) {
            /* Damaged since it was read: left out (finish says so). */
            j->lens[i] = 0;
            continue;
        }
        size_t n = len - REC_HDR - TAG_LEN;
        uint8_t *payload = buf + REC_HDR;
        put_be64(payload + PUT_TIMES_OFF, j->lr[i]);
        put_be64(payload + PUT_TIMES_OFF + 8, j->ttl[i]);
        size_t at = out.n;
        wb_put(&out, NULL, len);
        if (out.oom) {
            OPENSSL_cleanse(buf, cap);
            fail(j->err, sizeof j->err, "out of memory");
            goto done;
        }
        int sealed = seal_record(j->dk, seq, payload, n, out.p + at);
        OPENSSL_cleanse(buf, len);
        if (sealed != 0) {
            fail(j->err, sizeof j->err, "cannot encrypt the persistent cache");
            goto done;
        }
        j->offs[i] = pos;
        pos += len;
        seq++;
        if (out.n >= FLUSH_BYTES && flush_out(j->tfd, &out, &written) != 0)
            goto io_fail;
    }
    /* Last, so it wins over the token entries' own tokens on replay. */
    wb_u8(&pl, OP_AUTOAUTH);
    wb_str(&pl, j->auto_auth);
    if (pl.oom) {
        fail(j->err, sizeof j->err, "out of memory");
        goto done;
    }
    size_t at = out.n;
    wb_put(&out, NULL, REC_HDR + pl.n + TAG_LEN);
    if (out.oom || seal_record(j->dk, seq, pl.p, pl.n, out.p + at) != 0) {
        fail(j->err, sizeof j->err, "cannot encrypt the persistent cache");
        goto done;
    }
    pos += REC_HDR + pl.n + TAG_LEN;
    seq++;
    if (flush_out(j->tfd, &out, &written) != 0)
        goto io_fail;
    step = "fsync";
    if (fsync(j->tfd) != 0)
        goto io_fail;
    j->end = pos;
    j->seq = seq;
    j->rc = 0;
    goto done;
io_fail:
    fail(j->err, sizeof j->err, "%s %s.tmp: %s", step, p->db_path,
         strerror(errno));
done:
    if (j->rc != 0 && j->tfd >= 0) {
        close(j->tfd);
        j->tfd = -1;
        unlinkat(p->dirfd, TMP_NAME, 0);
    }
    buf_wipe_free(buf, cap);
    wb_free(&out);
    wb_free(&pl);
}

/* Drops the temp file of a job that will not be finished. */
static void
job_abandon(vpd_persist *p, compact_job *j)
{
    if (j->tfd >= 0) {
        close(j->tfd);
        j->tfd = -1;
        unlinkat(p->dirfd, TMP_NAME, 0);
    }
}

/* Step 3 (on the loop): carries the records appended since the snapshot
 * over, renames, switches the store to the new file.  On failure the old
 * file and state are unchanged.  Returns 0 or -1 with a message. */
static int
finish(vpd_persist *p, compact_job *j, bool sync_dir, char *err, size_t err_len)
{
    if (j->rc != 0) {
        fail(err, err_len, "%s", j->err);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t off = j->snap_end;
    const char *step = "write";
    /* The appends made meanwhile: whole, authentic records (p->end only
     * moves past records that were written in full). */
    while (off < p->end) {
        uint8_t h[REC_HDR];
        if (pread_all(p->fd, h, REC_HDR, off) != REC_HDR)
            goto io_fail;
        uint32_t n = get_be32(h);
        uint32_t len = n + REC_HDR + TAG_LEN;
        if (n == 0 || n > MAX_PAYLOAD || off + len > p->end ||
            load_record(p, off, len, &buf, &cap) != 0) {
            errno = EIO;
            goto io_fail;
        }
        uint8_t *rec = malloc(len);
        if (!rec || seal_record(j->dk, j->seq, buf + REC_HDR, n, rec) != 0) {
            free(rec);
            errno = ENOMEM;
            goto io_fail;
        }
        OPENSSL_cleanse(buf, len);
        int w = pwrite_all(j->tfd, rec, len, j->end);
        free(rec); /* ciphertext */
        if (w != 0)
            goto io_fail;
        j->seq++;
        j->end += len;
        off += len;
    }
    step = "rename";
    if (renameat(p->dirfd, TMP_NAME, p->dirfd, VPD_PERSIST_FILE_NAME) != 0)
        goto io_fail;
    buf_wipe_free(buf, cap);
    /* From here on the new generation is the store. */
    if (sync_dir) {
        if (fsync(p->dirfd) != 0)
            vpd_log(VPD_LOG_WARN, COMPONENT, "fsync of the directory of %s: %s",
                    p->db_path, strerror(errno));
        p->dir_dirty = false;
    } else {
        p->dir_dirty = true;
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = j->tfd;
    j->tfd = -1;
    memcpy(p->dk, j->dk, KEY_LEN);
    p->seq = j->seq;
    uint64_t shift_from = j->snap_end,
             new_tail = j->end - (p->end - j->snap_end);
    p->end = j->end;
    p->broken = false;
    p->compactions++;
    if (j->ikm_changed) {
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "the service-account token "
                "changed; the persistent cache is sealed with the new one");
        vpd_secret_free(p->ikm);
        p->ikm = j->ikm;
        p->ikm_len = j->ikm_len;
        j->ikm = NULL;
    }
    unsigned dropped = 0;
    for (pent *x = p->head, *nx; x; x = nx) {
        nx = x->next;
        if (x->off >= shift_from) {
            x->off = x->off - shift_from + new_tail; /* appended meanwhile */
        } else if (x->snap_idx < j->n && j->lens[x->snap_idx]) {
            x->off = j->offs[x->snap_idx];
        } else {
            dropped++;
            idx_remove(p, x);
        }
    }
    if (dropped)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "%s: %u entr%s could not be read back and %s dropped",
                p->db_path, dropped, dropped == 1 ? "y" : "ies",
                dropped == 1 ? "is" : "are");
    return 0;
io_fail:
    fail(err, err_len, "%s %s.tmp: %s", step, p->db_path, strerror(errno));
    buf_wipe_free(buf, cap);
    job_abandon(p, j);
    return -1;
}

/* Writes the live state as a new generation and renames it over the
 * store, all on the calling thread.  On failure the old file and state
 * are unchanged. */
static int
compact(vpd_persist *p, char *err, size_t err_len)
{
    compact_job *j = snapshot(p, err, err_len);
    if (!j)
        return -1;
    write_generation(p, j);
    int rc = finish(p, j, true, err, err_len);
    job_free(j);
    return rc;
}

static void
job_work(uv_work_t *req)
{
    compact_job *j = req->data;
    write_generation(j->p, j);
    pthread_mutex_lock(&j->mu);
    j->written = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void start_job(vpd_persist *p);

static void
job_done(uv_work_t *req, int status)
{
    compact_job *j = req->data;
    vpd_persist *p = j->p;
    if (!p) { /* finished already by vpd_persist_close or _compact */
        job_free(j);
        return;
    }
    p->job = NULL;
    char why[512];
    if (status != 0) {
        job_abandon(p, j);
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                uv_strerror(status));
    } else if (finish(p, j, false, why, sizeof why) != 0) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
    }
    job_free(j);
    /* An append that failed meanwhile left the index ahead of the file
     * (a renewal) or the log without a record: rewrite once more. */
    if (p->failed_during_job && !p->inert) {
        p->failed_during_job = false;
        start_job(p);
    }
}

/* Step 1 now, step 2 on a worker, step 3 when it is done. */
static void
start_job(vpd_persist *p)
{
    char why[512];
    compact_job *j = snapshot(p, why, sizeof why);
    if (!j) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
        return;
    }
    j->req.data = j;
    int rc = uv_queue_work(p->loop, &j->req, job_work, job_done);
    if (rc != 0) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                uv_strerror(rc));
        job_free(j);
        return;
    }
    p->job = j;
}

/* Waits for the worker of the job under way and finishes it here (the
 * job's after-work callback then only frees it). */
static int
settle_job(vpd_persist *p, char *err, size_t err_len)
{
    compact_job *j = p->job;
    if (!j)
        return 0;
    pthread_mutex_lock(&j->mu);
    while (!j->written)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    p->job = NULL;
    int rc = finish(p, j, true, err, err_len);
    j->p = NULL;
    return rc;
}

int
vpd_persist_compact(vpd_persist *p, char *err, size_t err_len)
{
    if (!p || !p->restored) {
        fail(err, err_len, "the persistent cache is not restored yet");
        return VP_EINVAL;
    }
    if (p->inert)
        return 0;
    char why[512];
    if (settle_job(p, why, sizeof why) != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
    return compact(p, err, err_len) == 0 ? 0 : VP_EIO;
}

int
vpd_persist_compact_start(vpd_persist *p)
{
    if (!p || !p->restored || !p->loop)
        return VP_EINVAL;
    if (p->inert || p->job)
        return 0;
    start_job(p);
    return p->job ? 0 : VP_EIO;
}

void
vpd_persist_set_loop(vpd_persist *p, uv_loop_t *loop)
{
    if (p)
        p->loop = loop;
}

bool
vpd_persist_compacting(const vpd_persist *p)
{
    return p && p->job;
}

unsigned
vpd_persist_compactions(const vpd_persist *p)
{
    return p ? p->compactions : 0;
}

/* ---- open and close ---------------------------------------------------- */

static char *
xstrdup_opt(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static void
persist_free(vpd_persist *p)
{
    if (p->fd >= 0)
        close(p->fd);
    if (p->dirfd >= 0)
        close(p->dirfd); /* releases the lock */
    OPENSSL_cleanse(p->dk, sizeof p->dk);
    vpd_secret_free(p->ikm);
    vpd_secret_free(p->auto_auth);
    idx_clear(p);
    free(p->buckets);
    free(p->db_path);
    vpd_persist_config_free(&p->cfg);
    free(p);
}

vpd_persist *
vpd_persist_open(const vpd_persist_config *c, char *err, size_t err_len)
{
    if (!c || !c->path ||
        (c->kind != VPD_PERSIST_FILE && c->kind != VPD_PERSIST_KUBERNETES) ||
        (c->kind == VPD_PERSIST_FILE && !c->key_file) ||
        (c->kind == VPD_PERSIST_KUBERNETES && !c->service_account_token_file)) {
        fail(err, err_len, "persistent cache: incomplete configuration");
        return NULL;
    }
    vpd_persist *p = calloc(1, sizeof *p);
    if (!p) {
        fail(err, err_len, "out of memory");
        return NULL;
    }
    p->fd = p->dirfd = -1;
    bool oom = false;
    p->cfg = *c;
    p->cfg.type = xstrdup_opt(c->type, &oom);
    p->cfg.path = xstrdup_opt(c->path, &oom);
    p->cfg.key_file = xstrdup_opt(c->key_file, &oom);
    p->cfg.service_account_token_file =
        xstrdup_opt(c->service_account_token_file, &oom);
    size_t plen = strlen(c->path) + sizeof(VPD_PERSIST_FILE_NAME) + 2;
    if (oom || !(p->db_path = malloc(plen))) {
        fail(err, err_len, "out of memory");
        goto fail_out;
    }
    snprintf(p->db_path, plen, "%s/%s", c->path, VPD_PERSIST_FILE_NAME);
    if (load_ikm(&p->cfg, &p->ikm, &p->ikm_len, err, err_len) != 0)
        goto fail_out;

    p->dirfd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) {
        fail(err, err_len,
             "cannot open the persistent cache directory %s: "
             "%s",
             c->path, strerror(errno));
        goto fail_out;
    }
    /* Like Vault's 1 s bolt lock timeout: a predecessor that is exiting
     * gets a moment to let go. */
    int locked, tries = 0;
    while ((locked = flock(p->dirfd, LOCK_EX | LOCK_NB)) != 0 &&
           (errno == EWOULDBLOCK || errno == EINTR) && tries++ < 20)
        usleep(50 * 1000);
    if (locked != 0 && errno == EWOULDBLOCK) {
        fail(err, err_len,
             "%s: the persistent cache is in use by another "
             "process",
             p->db_path);
        goto fail_out;
    }
    if (locked != 0) /* a file system without flock on directories */
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot lock %s (%s); make sure "
                "no other vaproxyd uses it",
                c->path, strerror(errno));
    /* A compaction that was cut off; the store itself is intact. */
    if (unlinkat(p->dirfd, TMP_NAME, 0) == 0)
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "removed an unfinished rewrite of "
                "%s",
                p->db_path);

    p->fd = openat(p->dirfd, VPD_PERSIST_FILE_NAME,
                   O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (p->fd < 0 && errno == ENOENT) {
        /* New store: a first generation with nothing but the header. */
        if (compact(p, err, err_len) != 0)
            goto fail_out;
        p->existed = false;
        return p;
    }
    if (p->fd < 0) {
        fail(err, err_len, "cannot open %s: %s", p->db_path, strerror(errno));
        goto fail_out;
    }
    p->existed = true;
    struct stat st;
    if (fstat(p->fd, &st) != 0) {
        fail(err, err_len, "cannot stat %s: %s", p->db_path, strerror(errno));
        goto fail_out;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, err_len, "%s: not a regular file", p->db_path);
        goto fail_out;
    }
    if (st.st_mode & 077) {
        vpd_log(VPD_LOG_WARN, COMPONENT, "%s had mode %04o; set to 0600",
                p->db_path, (unsigned)(st.st_mode & 07777));
        if (fchmod(p->fd, 0600) != 0)
            vpd_log(VPD_LOG_WARN, COMPONENT, "chmod %s: %s", p->db_path,
                    strerror(errno));
    }
    uint8_t h[HDR_LEN];
    ssize_t got = pread_all(p->fd, h, HDR_LEN, 0);
    if (got < 0) {
        fail(err, err_len, "cannot read %s: %s", p->db_path, strerror(errno));
        goto fail_out;
    }
    if (got < HDR_LEN) {
        fail(err, err_len, "%s: %s", p->db_path, WRONG_KEY);
        goto fail_out;
    }
    if (read_header(p, h, err, err_len) != 0)
        goto fail_out;
    if (replay(p, (uint64_t)st.st_size, err, err_len) != 0)
        goto fail_out;
    return p;
fail_out:
    persist_free(p);
    return NULL;
}

void
vpd_persist_close(vpd_persist *p)
{
    if (!p)
        return;
    char why[512];
    if (settle_job(p, why, sizeof why) != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
    if (p->fd >= 0 && !p->inert && fdatasync(p->fd) != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT, "fdatasync %s: %s", p->db_path,
                strerror(errno));
    if (p->dir_dirty)
        fsync(p->dirfd);
    persist_free(p);
}

int
vpd_persist_discard(const vpd_persist_config *c, char *err, size_t err_len)
{
    if (!c || !c->path) {
        fail(err, err_len, "persistent cache: no path");
        return VP_EINVAL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->path, VPD_PERSIST_FILE_NAME);
    if (unlink(path) != 0 && errno != ENOENT) {
        fail(err, err_len, "cannot remove %s: %s", path, strerror(errno));
        return VP_EIO;
    }
    return 0;
}

int
vpd_persist_sync(vpd_persist *p)
{
    if (!p || p->inert || p->fd < 0)
        return 0;
    if (p->dir_dirty && fsync(p->dirfd) == 0)
        p->dir_dirty = false;
    return fdatasync(p->fd) == 0 ? 0 : VP_EIO;
}

bool
vpd_persist_active(const vpd_persist *p)
{
    return p && !p->inert;
}

size_t
vpd_persist_count(const vpd_persist *p)
{
    return p ? p->count : 0;
}

/* ---- restore ----------------------------------------------------------- */

static bool
expired(uint64_t now, const pent *x)
{
    return now >= x->last_renewed_ms &&
           (now - x->last_renewed_ms) / 1000u > x->ttl_ms / 1000u;
}

int
vpd_persist_restore(vpd_persist *p, uint64_t now_wall_ms,
                    int (*fn)(void *arg, const vp_cache_entry_t *e), void *arg,
                    char **auto_auth_token, vpd_persist_restore_stats *stats,
                    char *err, size_t err_len)
{
    vpd_persist_restore_stats st = {0};
    if (auto_auth_token)
        *auto_auth_token = NULL;
    if (stats)
        *stats = st;
    if (!p || !fn || p->restored) {
        fail(err, err_len, "persistent cache: %s",
             p && p->restored ? "restored already" : "invalid arguments");
        return VP_EINVAL;
    }
    st.existed = p->existed;
    st.torn_bytes = p->torn_bytes;
    if (auto_auth_token && p->auto_auth &&
        !(*auto_auth_token =
              vpd_secret_dup(p->auto_auth, strlen(p->auto_auth)))) {
        fail(err, err_len, "out of memory");
        return VP_ENOMEM;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (pent *x = p->head, *nx; x; x = nx) {
            nx = x->next;
            if (x->token != (pass == 0))
                continue;
            vp_cache_entry_t e;
            uint8_t flags;
            size_t used = x->rec_len; /* x may be freed below */
            if (load_record(p, x->off, x->rec_len, &buf, &cap) != 0 ||
                parse_put(buf + REC_HDR, x->rec_len - REC_HDR - TAG_LEN, &e,
                          &flags) != 0) {
                vpd_log(VPD_LOG_WARN, COMPONENT,
                        "%s: an entry could not be "
                        "read back and is dropped",
                        p->db_path);
                st.failed++;
                idx_remove(p, x);
                if (buf)
                    OPENSSL_cleanse(buf, used < cap ? used : cap);
                continue;
            }
            e.last_renewed_ms = x->last_renewed_ms;
            e.ttl_ms = x->ttl_ms;
            if (!x->token && expired(now_wall_ms, x)) {
                st.expired++;
                idx_remove(p, x);
            } else if (fn(arg, &e) != 0) {
                st.failed++;
                idx_remove(p, x);
            } else {
                st.restored++;
            }
            OPENSSL_cleanse(buf, used);
        }
    }
    buf_wipe_free(buf, cap);
    p->restored = true;
    if (p->existed && !p->cfg.keep_after_import) {
        /* Vault: import once, then run without persistence. */
        close(p->fd);
        p->fd = -1;
        if (unlinkat(p->dirfd, VPD_PERSIST_FILE_NAME, 0) != 0)
            vpd_log(VPD_LOG_WARN, COMPONENT, "cannot remove %s: %s", p->db_path,
                    strerror(errno));
        else
            st.deleted = true;
        fsync(p->dirfd);
        p->inert = true;
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "restored %u entries from %s and "
                "removed it (keep_after_import is false); the cache is not "
                "persisted for the rest of this run",
                st.restored, p->db_path);
    } else if (p->existed) {
        char why[512];
        if (compact(p, why, sizeof why) != 0) {
            vpd_log(VPD_LOG_WARN, COMPONENT,
                    "restored %u entries, but "
                    "cannot rewrite the persistent cache (%s); the cache is "
                    "not persisted for the rest of this run",
                    st.restored, why);
            p->inert = true;
        } else {
            vpd_log(VPD_LOG_INFO, COMPONENT,
                    "restored %u entries from %s "
                    "(%u expired, %u not restored)",
                    st.restored, p->db_path, st.expired, st.failed);
        }
    }
    if (stats)
        *stats = st;
    return (int)st.restored;
}

/* ---- decoding without the file ----------------------------------------- */

int
vpd_persist_decode(const uint8_t *const *pl, const size_t *len, size_t n,
                   int (*fn)(void *arg, const vp_cache_entry_t *e), void *arg,
                   char *err, size_t err_len)
{
    vpd_persist *p = calloc(1, sizeof *p);
    if (!p || !(p->db_path = strdup("(decoded payloads)"))) {
        free(p);
        return fail(err, err_len, "out of memory");
    }
    p->fd = p->dirfd = -1;
    int rc = 0, handed = 0;
    /* The record index stands in for the offset: restore reads a live
     * entry back from its latest PUT, here pl[x->off]. */
    for (size_t i = 0; i < n && rc == 0; i++)
        if (len[i] > 0 && len[i] <= MAX_PAYLOAD)
            rc = apply(p, pl[i], len[i], i, (uint32_t)len[i], err, err_len);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (pent *x = p->head; x; x = x->next) {
            vp_cache_entry_t e;
            uint8_t flags;
            if (x->token != (pass == 0) ||
                parse_put(pl[x->off], len[x->off], &e, &flags) != 0)
                continue;
            e.last_renewed_ms = x->last_renewed_ms;
            e.ttl_ms = x->ttl_ms;
            if (fn(arg, &e) == 0)
                handed++;
        }
    }
    persist_free(p);
    return rc != 0 ? -1 : handed;
}

/* ---- writes ------------------------------------------------------------ */

static int
write_gate(vpd_persist *p)
{
    if (!p)
        return VP_EINVAL;
    if (p->inert)
        return 1;
    if (!p->restored)
        return VP_EINVAL;
    return 0;
}

/* After a failed write, the next write starts a new generation (nonces
 * are never reused and the torn bytes go away); tried at most every
 * RECOVER_INTERVAL_MS so a full disk does not rewrite on every call. */
static int
recover(vpd_persist *p)
{
    if (p->job) {
        /* The job's new generation replaces the damaged log when it is
         * done; until then writes fail (their entries are not stored). */
        p->failed_during_job = true;
        return -1;
    }
    uint64_t now = mono_ms();
    if (p->last_recover_ms && now - p->last_recover_ms < RECOVER_INTERVAL_MS)
        return -1;
    p->last_recover_ms = now;
    char why[512];
    if (compact(p, why, sizeof why) != 0) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot rewrite the persistent "
                "cache: %s",
                why);
        return -1;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT, "the persistent cache is written again");
    return 0;
}

/* Appends one sealed record with one write.  Returns 0 or a VP_E* code;
 * off/len (may be NULL) get where it went. */
static int
append(vpd_persist *p, const wbuf *pl, uint64_t *off, uint32_t *len)
{
    if (pl->oom)
        return VP_ENOMEM;
    if (pl->n > MAX_PAYLOAD)
        return VP_EINVAL;
    if (p->broken && recover(p) != 0)
        return VP_EIO;
    size_t total = REC_HDR + pl->n + TAG_LEN;
    uint8_t *rec = malloc(total);
    if (!rec)
        return VP_ENOMEM;
    uint64_t seq = p->seq++; /* never reused, even if the write fails */
    if (seal_record(p->dk, seq, pl->p, pl->n, rec) != 0) {
        free(rec);
        p->broken = true; /* keep the seq chain whole: new generation */
        if (p->job)
            p->failed_during_job = true;
        return VP_EIO;
    }
    int rc = pwrite_all(p->fd, rec, total, p->end);
    int e = errno;
    free(rec);
    if (rc != 0) {
        if (ftruncate(p->fd, (off_t)p->end) != 0) {
            /* The torn bytes stay; restore drops them, and the next write
             * starts a new generation anyway. */
        }
        p->broken = true;
        if (p->job)
            p->failed_during_job = true;
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot append to %s: %s; the "
                "next write rewrites it",
                p->db_path, strerror(e));
        return e == ENOSPC || e == EDQUOT ? VP_EFULL : VP_EIO;
    }
    if (off)
        *off = p->end;
    if (len)
        *len = (uint32_t)total;
    p->end += total;
    return 0;
}

static void
maybe_compact(vpd_persist *p)
{
    uint64_t live =
        p->live_bytes + (p->auto_auth ? strlen(p->auto_auth) + 40u : 0u);
    uint64_t used = p->end - HDR_LEN;
    uint64_t dead = used > live ? used - live : 0;
    if (dead <= VPD_PERSIST_COMPACT_MIN_BYTES || dead <= live || p->job)
        return;
    if (p->loop) {
        start_job(p); /* off the loop (see "compaction" above) */
        return;
    }
    char why[512];
    if (compact(p, why, sizeof why) != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
}

int
vpd_persist_put(vpd_persist *p, const vp_cache_entry_t *e)
{
    int g = write_gate(p);
    if (g != 0 || !e || !e->id || !e->id[0])
        return g > 0 ? 0 : VP_EINVAL;
    bool token = vpd_persist_is_token_entry(e);
    pent *x = idx_find(p, e->id), *fresh = NULL;
    if (!x && !(fresh = pent_new(e->id)))
        return VP_ENOMEM;
    wbuf pl = {0};
    build_put(&pl, e, token);
    uint64_t off = 0;
    uint32_t len = 0;
    int rc = append(p, &pl, &off, &len);
    wb_free(&pl);
    if (rc != 0) {
        /* The old record no longer says what the cache holds. */
        pent_free(fresh);
        if (x)
            idx_remove(p, x);
        if (token)
            set_auto_auth(p, e->token);
        return rc;
    }
    if (fresh) {
        x = fresh;
        if (idx_link(p, x) != 0) {
            pent_free(x);
            /* Written but not indexed: the next compaction drops it. */
            return VP_ENOMEM;
        }
    }
    p->live_bytes = p->live_bytes - x->rec_len + len;
    x->off = off;
    x->rec_len = len;
    x->last_renewed_ms = e->last_renewed_ms;
    x->ttl_ms = e->ttl_ms;
    x->token = token;
    if (token && set_auto_auth(p, e->token) != 0)
        return VP_ENOMEM;
    maybe_compact(p);
    return 0;
}

/* The last step of every write but a put: the record goes out, its
 * buffer is freed, and a threshold compaction may start. */
static int
append_op(vpd_persist *p, wbuf *pl)
{
    int rc = append(p, pl, NULL, NULL);
    wb_free(pl);
    if (rc == 0)
        maybe_compact(p);
    return rc;
}

int
vpd_persist_renewed(vpd_persist *p, const char *id, uint64_t last_renewed_ms,
                    uint64_t ttl_ms)
{
    int g = write_gate(p);
    if (g != 0 || !id)
        return g > 0 ? 0 : VP_EINVAL;
    pent *x = idx_find(p, id);
    if (!x)
        return VP_ENOENT;
    /* The index first: a later compaction writes these values even if
     * this append fails. */
    x->last_renewed_ms = last_renewed_ms;
    x->ttl_ms = ttl_ms;
    wbuf pl = {0};
    wb_u8(&pl, OP_RENEWED);
    wb_u64(&pl, last_renewed_ms);
    wb_u64(&pl, ttl_ms);
    wb_str(&pl, id);
    return append_op(p, &pl);
}

int
vpd_persist_delete(vpd_persist *p, const char *id)
{
    int g = write_gate(p);
    if (g != 0 || !id)
        return g > 0 ? 0 : VP_EINVAL;
    pent *x = idx_find(p, id);
    if (!x)
        return VP_ENOENT;
    idx_remove(p, x);
    wbuf pl = {0};
    wb_u8(&pl, OP_DELETE);
    wb_str(&pl, id);
    return append_op(p, &pl);
}

int
vpd_persist_clear(vpd_persist *p)
{
    int g = write_gate(p);
    if (g != 0)
        return g > 0 ? 0 : g;
    idx_clear(p);
    wbuf pl = {0};
    wb_u8(&pl, OP_CLEAR);
    return append_op(p, &pl);
}

int
vpd_persist_set_auto_auth_token(vpd_persist *p, const char *token)
{
    int g = write_gate(p);
    if (g != 0)
        return g > 0 ? 0 : g;
    if (set_auto_auth(p, token) != 0)
        return VP_ENOMEM;
    wbuf pl = {0};
    wb_u8(&pl, OP_AUTOAUTH);
    wb_str(&pl, p->auto_auth);
    return append_op(p, &pl);
}
