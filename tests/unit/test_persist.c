/* The encrypted persistent store: every field survives, restore order and
 * expiry, keys (key_file forms, kubernetes SA token, wrong keys refused),
 * keep_after_import, and crash safety (a torn last record at every byte,
 * a compaction cut off at every byte, write failures, a full disk that
 * loses nothing, and a writer killed with SIGKILL at random moments). */
#include "autoconf.h"

#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>
#include <vaproxy/errors.h>

#include "config/cfgtree.h"
#include "base/secmem.h"
#include "base/log.h"
#include "cache/persist.h"

#define WRONG_KEY_MSG                                                          \
    "cannot decrypt the persistent cache: wrong key or not a vaproxy cache "   \
    "file"

/* ---- scaffolding ------------------------------------------------------- */

static char dir[256];
static char db[512], tmpf[512], keyf[512], tokf[512];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
cleanup(void)
{
    if (dir[0])
        nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory: in $TMPDIR if set, else on tmpfs when there is one
 * (the crash tests reopen the store thousands of times; fsync costs
 * nothing there). */
static void
setup(void)
{
    const char *base = getenv("TMPDIR")                ? getenv("TMPDIR")
                       : access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                       : "/tmp";
    snprintf(dir, sizeof dir, "%s/vp-persist-XXXXXX", base);
    ASSERT_NOT_NULL(mkdtemp(dir));
    atexit(cleanup);
    snprintf(db, sizeof db, "%s/vaproxy-cache.db", dir);
    snprintf(tmpf, sizeof tmpf, "%s/vaproxy-cache.db.tmp", dir);
    snprintf(keyf, sizeof keyf, "%s/key", dir);
    snprintf(tokf, sizeof tokf, "%s/sa-token", dir);
    vpd_log_set_level(VPD_LOG_ERROR); /* torn tails warn by design */
}

static void
write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    ASSERT_INT_EQ(write(fd, data, len), (long long)len);
    ASSERT_INT_EQ(close(fd), 0);
}

static void
write_str(const char *path, const char *s)
{
    write_file(path, s, strlen(s));
}

static char *
read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ASSERT(fd >= 0);
    struct stat st;
    ASSERT_INT_EQ(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    ASSERT_NOT_NULL(buf);
    ASSERT_INT_EQ(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static off_t
file_size(const char *path)
{
    struct stat st;
    ASSERT_INT_EQ(stat(path, &st), 0);
    return st.st_size;
}

static const unsigned char KEY_A[32] = "0123456789abcdef0123456789ABCDE";
static const unsigned char KEY_B[32] = "fedcba9876543210fedcba987654321";

static vpd_persist_config
file_cfg(bool keep)
{
    vpd_persist_config c = {0};
    c.type = (char *)"file";
    c.kind = VPD_PERSIST_FILE;
    c.path = dir;
    c.keep_after_import = keep;
    c.key_file = keyf;
    return c;
}

static vpd_persist_config
k8s_cfg(void)
{
    vpd_persist_config c = {0};
    c.type = (char *)"kubernetes";
    c.kind = VPD_PERSIST_KUBERNETES;
    c.path = dir;
    c.keep_after_import = true;
    c.service_account_token_file = tokf;
    return c;
}

/* ---- entries as text ---------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

__attribute__((format(printf, 2, 3))) static void
sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ASSERT(need >= 0);
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ASSERT_NOT_NULL(b->s);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

#define S(x) ((x) ? (x) : "(null)")

static void
entry_text(sbuf *b, const vp_cache_entry_t *e)
{
    sb_add(b, "%s|%s|%s|%s|%s|%s|%s|%s|%llu|%llu|", S(e->id), S(e->namespace_),
           S(e->request_path), S(e->token), S(e->token_accessor),
           S(e->token_parent), S(e->lease), S(e->lease_token),
           (unsigned long long)e->last_renewed_ms,
           (unsigned long long)e->ttl_ms);
    for (size_t i = 0; i < e->response.len; i++)
        sb_add(b, "%02x", (unsigned char)e->response.ptr[i]);
    sb_add(b, "\n");
}

static int
collect(void *arg, const vp_cache_entry_t *e)
{
    ASSERT_INT_EQ(e->size, sizeof *e);
    entry_text(arg, e);
    return 0;
}

typedef struct {
    vpd_persist_restore_stats st;
    char *aat;
    int rc;
} restored;

/* Opens, restores into text (with "aat=..." last) and closes. */
static char *
restore_text_cfg(const vpd_persist_config *c, uint64_t now, restored *out)
{
    char err[512] = "";
    vpd_persist *p = vpd_persist_open(c, err, sizeof err);
    if (!p)
        TEST_FAIL_("open: %s", err);
    sbuf b = {0};
    sb_add(&b, "%s", "");
    restored r = {0};
    r.rc = vpd_persist_restore(p, now, collect, &b, &r.aat, &r.st, err,
                               sizeof err);
    if (r.rc < 0)
        TEST_FAIL_("restore: %s", err);
    sb_add(&b, "aat=%s\n", S(r.aat));
    vpd_persist_close(p);
    if (out)
        *out = r;
    else
        vpd_secret_free(r.aat);
    return b.s;
}

static char *
restore_text(uint64_t now)
{
    vpd_persist_config c = file_cfg(true);
    return restore_text_cfg(&c, now, NULL);
}

/* A store opened and restored (asserting it was empty or ignoring it). */
static vpd_persist *
open_ready(const vpd_persist_config *c)
{
    char err[512] = "";
    vpd_persist *p = vpd_persist_open(c, err, sizeof err);
    if (!p)
        TEST_FAIL_("open: %s", err);
    sbuf b = {0};
    ASSERT(vpd_persist_restore(p, 0, collect, &b, NULL, NULL, err,
                               sizeof err) >= 0);
    free(b.s);
    return p;
}

static vp_cache_entry_t
lease_entry(const char *id, const char *resp, uint64_t lr, uint64_t ttl)
{
    vp_cache_entry_t e = {0};
    e.size = sizeof e;
    e.id = id;
    e.namespace_ = "root/";
    e.request_path = "/v1/db/creds/app";
    e.lease = "db/creds/app/abc";
    e.lease_token = "hvs.parent";
    e.response.ptr = resp;
    e.response.len = strlen(resp);
    e.last_renewed_ms = lr;
    e.ttl_ms = ttl;
    return e;
}

static vp_cache_entry_t
token_entry(const char *id, const char *token)
{
    vp_cache_entry_t e = {0};
    e.size = sizeof e;
    e.id = id;
    e.namespace_ = "";
    e.request_path = "";
    e.token = token;
    return e;
}

/* A fresh directory and key file, and a store opened on them with the
 * file kept after import (most tests start here). */
static vpd_persist *
open_fresh(vpd_persist_config *c)
{
    setup();
    write_file(keyf, KEY_A, 32);
    *c = file_cfg(true);
    return open_ready(c);
}

/* Puts each entry of a NULL-terminated list, in order. */
static void
put_each(vpd_persist *p, vp_cache_entry_t *const *entries)
{
    for (; *entries; entries++)
        ASSERT_INT_EQ(vpd_persist_put(p, *entries), 0);
}

/* ---- basics ------------------------------------------------------------ */

TEST(round_trip_all_fields)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: "
                               "application/json\r\n\r\n{\"auth\":{}}\0\xff";
    vp_cache_entry_t e = {
        .size = sizeof e,
        .id = "id-full",
        .namespace_ = "team-a/",
        .request_path = "/v1/auth/token/create",
        .token = "hvs.secret-child-token",
        .token_accessor = "accessor-1",
        .token_parent = "hvs.parent-token",
        .lease = "auth/token/create/xyz",
        .lease_token = "hvs.lease-token",
        .response = {resp, sizeof resp - 1},
        .last_renewed_ms = 1700000000123ull,
        .ttl_ms = 3600000,
    };
    ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    vp_cache_entry_t sparse = {.size = sizeof sparse,
                               .id = "id-sparse",
                               .namespace_ = "root/",
                               .request_path = "/v1/x",
                               .lease = "x/1",
                               .response = {"r", 1},
                               .last_renewed_ms = 1700000000000ull,
                               .ttl_ms = 60000};
    ASSERT_INT_EQ(vpd_persist_put(p, &sparse), 0);
    vpd_persist_close(p);

    sbuf want = {0};
    entry_text(&want, &e);
    entry_text(&want, &sparse);
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(1700000001000ull), want.s);
    /* Twice: the restore rewrote the file, nothing was lost. */
    ASSERT_STR_EQ(restore_text(1700000001000ull), want.s);

    /* Nothing secret in clear in the file. */
    size_t len;
    char *raw = read_all(db, &len);
    ASSERT_NULL(memmem(raw, len, "hvs.secret-child-token", 22));
    ASSERT_NULL(memmem(raw, len, "accessor-1", 10));
    ASSERT_NULL(memmem(raw, len, "team-a/", 7));
    ASSERT_NULL(memmem(raw, len, KEY_A, 32));
    free(raw);
    cleanup();
}

TEST(restore_order_tokens_first_creation_order)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "a1", 1000, 600000);
    vp_cache_entry_t t1 = token_entry("auto-auth-1", "hvs.auto1");
    vp_cache_entry_t b = lease_entry("B", "b1", 1000, 600000);
    vp_cache_entry_t cc = lease_entry("C", "c1", 1000, 600000);
    cc.lease = NULL; /* an auth answer: a token, with a response */
    cc.token = "hvs.child";
    cc.token_parent = "hvs.auto1";
    vp_cache_entry_t d = lease_entry("D", "d1", 1000, 600000);
    put_each(p, (vp_cache_entry_t *[]){&a, &t1, &b, &cc, &d, NULL});
    /* A replacement keeps its place; a renewal too; delete + put moves
     * to the end. */
    vp_cache_entry_t a2 = lease_entry("A", "a2", 2000, 700000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a2), 0);
    ASSERT_INT_EQ(vpd_persist_renewed(p, "B", 5000, 900000), 0);
    ASSERT_INT_EQ(vpd_persist_delete(p, "D"), 0);
    ASSERT_INT_EQ(vpd_persist_put(p, &d), 0);
    vp_cache_entry_t t0 = token_entry("auto-auth-0", "hvs.auto0");
    ASSERT_INT_EQ(vpd_persist_put(p, &t0), 0);
    ASSERT_INT_EQ(vpd_persist_count(p), 6);
    vpd_persist_close(p);

    b.last_renewed_ms = 5000;
    b.ttl_ms = 900000;
    sbuf want = {0};
    entry_text(&want, &t1);
    entry_text(&want, &t0);
    entry_text(&want, &a2);
    entry_text(&want, &b);
    entry_text(&want, &cc);
    entry_text(&want, &d);
    sb_add(&want, "aat=hvs.auto0\n");
    ASSERT_STR_EQ(restore_text(10000), want.s);
    /* The order survives the compaction the restore did. */
    ASSERT_STR_EQ(restore_text(10000), want.s);
    cleanup();
}

TEST(expired_entries_dropped)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    uint64_t now = 1700000100000ull;
    /* Whole seconds, as Vault: 10 s ttl kept at 10.999 s, dropped at 11. */
    vp_cache_entry_t keep1 = lease_entry("keep1", "k", now - 10999, 10000);
    vp_cache_entry_t gone1 = lease_entry("gone1", "g", now - 11000, 10000);
    vp_cache_entry_t gone2 = lease_entry("gone2", "g", now - 7200000, 3600000);
    vp_cache_entry_t renewed =
        lease_entry("renewed", "r", now - 7200000, 3600000);
    vp_cache_entry_t future = lease_entry("future", "f", now + 5000, 0);
    vp_cache_entry_t tok = token_entry("auto-auth-7", "hvs.aa");
    tok.last_renewed_ms = 1; /* token entries are never expired */
    put_each(p, (vp_cache_entry_t *[]){&keep1, &gone1, &gone2, &renewed,
                                       &future, &tok, NULL});
    ASSERT_INT_EQ(vpd_persist_renewed(p, "renewed", now - 1000, 3600000), 0);
    vpd_persist_close(p);

    renewed.last_renewed_ms = now - 1000;
    sbuf want = {0};
    entry_text(&want, &tok);
    entry_text(&want, &keep1);
    entry_text(&want, &renewed);
    entry_text(&want, &future);
    sb_add(&want, "aat=hvs.aa\n");
    restored r;
    vpd_persist_config c2 = file_cfg(true);
    ASSERT_STR_EQ(restore_text_cfg(&c2, now, &r), want.s);
    ASSERT_INT_EQ(r.rc, 4);
    ASSERT_INT_EQ(r.st.restored, 4);
    ASSERT_INT_EQ(r.st.expired, 2);
    ASSERT_INT_EQ(r.st.failed, 0);
    ASSERT(r.st.existed);
    /* Dropped for good: an earlier clock does not bring them back. */
    ASSERT_STR_EQ(restore_text_cfg(&c2, now - 20000, &r), want.s);
    ASSERT_INT_EQ(r.st.expired, 0);
    cleanup();
}

static int
refuse_b(void *arg, const vp_cache_entry_t *e)
{
    (void)arg;
    return strcmp(e->id, "B") == 0;
}

TEST(delete_clear_and_refused_entries)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    vp_cache_entry_t b = lease_entry("B", "b", 1000, 600000);
    put_each(p, (vp_cache_entry_t *[]){&a, &b, NULL});
    ASSERT_INT_EQ(vpd_persist_delete(p, "A"), 0);
    ASSERT_INT_EQ(vpd_persist_delete(p, "A"), VP_ENOENT);
    ASSERT_INT_EQ(vpd_persist_renewed(p, "nope", 1, 1), VP_ENOENT);
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.kept"), 0);
    vpd_persist_close(p);
    sbuf want = {0};
    entry_text(&want, &b);
    sb_add(&want, "aat=hvs.kept\n");
    ASSERT_STR_EQ(restore_text(2000), want.s);

    p = open_ready(&c);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    ASSERT_INT_EQ(vpd_persist_clear(p), 0);
    ASSERT_INT_EQ(vpd_persist_count(p), 0);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    vpd_persist_close(p);
    want.n = 0;
    entry_text(&want, &a);
    sb_add(&want, "aat=hvs.kept\n"); /* clear keeps the auto-auth token */
    ASSERT_STR_EQ(restore_text(2000), want.s);

    /* An entry the caller cannot take is removed from the store. */
    p = open_ready(&c);
    ASSERT_INT_EQ(vpd_persist_put(p, &b), 0);
    vpd_persist_close(p);
    char err[256];
    p = vpd_persist_open(&c, err, sizeof err);
    ASSERT_NOT_NULL(p);
    vpd_persist_restore_stats st;
    ASSERT_INT_EQ(vpd_persist_restore(p, 2000, refuse_b, NULL, NULL, &st, err,
                                      sizeof err),
                  1);
    ASSERT_INT_EQ(st.failed, 1);
    vpd_persist_close(p);
    ASSERT_STR_EQ(restore_text(2000), want.s);
    cleanup();
}

TEST(auto_auth_token)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t t = token_entry("auto-auth-1", "hvs.first");
    ASSERT_INT_EQ(vpd_persist_put(p, &t), 0);
    vpd_persist_close(p);
    restored r;
    restore_text_cfg(&c, 0, &r);
    ASSERT_STR_EQ(r.aat, "hvs.first");
    vpd_secret_free(r.aat);

    /* Set explicitly after a token entry: the explicit one wins, also
     * across the compaction the restore does. */
    p = open_ready(&c);
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.second"), 0);
    vpd_persist_close(p);
    restore_text_cfg(&c, 0, &r);
    ASSERT_STR_EQ(r.aat, "hvs.second");
    vpd_secret_free(r.aat);
    restore_text_cfg(&c, 0, &r);
    ASSERT_STR_EQ(r.aat, "hvs.second");
    vpd_secret_free(r.aat);

    p = open_ready(&c);
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, NULL), 0);
    vpd_persist_close(p);
    restore_text_cfg(&c, 0, &r);
    ASSERT_NULL(r.aat);
    ASSERT_INT_EQ(r.st.restored, 1); /* the token entry itself stays */
    cleanup();
}

/* ---- keys -------------------------------------------------------------- */

static void
expect_open_error(const vpd_persist_config *c, const char *needle)
{
    char err[512] = "";
    vpd_persist *p = vpd_persist_open(c, err, sizeof err);
    if (p)
        TEST_FAIL_("opened, expected \"%s\"", needle);
    ASSERT_STR_CONTAINS(err, needle);
}

TEST(wrong_key_refused)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    vpd_persist_close(p);
    size_t len;
    char *before = read_all(db, &len);

    write_file(keyf, KEY_B, 32);
    char want[1024];
    snprintf(want, sizeof want, "%s: %s", db, WRONG_KEY_MSG);
    expect_open_error(&c, want);
    /* Refusing changed nothing. */
    size_t len2;
    char *after = read_all(db, &len2);
    ASSERT_INT_EQ(len2, len);
    ASSERT(memcmp(before, after, len) == 0);

    /* Not our file: garbage, a short file, an empty one. */
    char junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7 + 3);
    write_file(db, junk, sizeof junk);
    expect_open_error(&c, WRONG_KEY_MSG);
    write_file(db, "VPXCACHE", 8);
    expect_open_error(&c, WRONG_KEY_MSG);
    write_file(db, "", 0);
    expect_open_error(&c, WRONG_KEY_MSG);

    /* A flipped bit in the sealed key. */
    write_file(keyf, KEY_A, 32);
    before[70] ^= 1;
    write_file(db, before, len);
    expect_open_error(&c, WRONG_KEY_MSG);
    before[70] ^= 1;
    write_file(db, before, len);
    sbuf want_a = {0};
    entry_text(&want_a, &a);
    sb_add(&want_a, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(2000), want_a.s);

    /* The caller may give up on it and start afresh. */
    char err[256];
    write_file(keyf, KEY_B, 32);
    ASSERT_INT_EQ(vpd_persist_discard(&c, err, sizeof err), 0);
    ASSERT_STR_EQ(restore_text(2000), "aat=(null)\n");
    free(before);
    free(after);
    cleanup();
}

TEST(key_file_forms)
{
    setup();
    static const char hex[] = "000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191A1B1C1D1E1F";
    write_str(keyf, hex);
    vpd_persist_config c = file_cfg(true);
    vpd_persist *p = open_ready(&c);
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    vpd_persist_close(p);
    sbuf want = {0};
    entry_text(&want, &a);
    sb_add(&want, "aat=(null)\n");

    unsigned char raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    const char *same[] = {
        "  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        write_str(keyf, same[i]);
        ASSERT_STR_EQ(restore_text(2000), want.s);
    }
    write_file(keyf, raw, 32);
    ASSERT_STR_EQ(restore_text(2000), want.s);
    /* URL-safe base64 of another key is a valid key, just not this one. */
    write_str(keyf, "_-_-AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
    expect_open_error(&c, WRONG_KEY_MSG);

    const char *bad[] = {"short", "000102030405060708090a0b0c0d0e0f", "",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A==",
                         ("zz0102030405060708090a0b0c0d0e0f101112131415161718"
                          "191a1b1c1d1e1f")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_str(keyf, bad[i]);
        expect_open_error(&c, "expected 32 raw bytes, 64 hex digits or the "
                              "base64 of 32 bytes");
    }
    unlink(keyf);
    expect_open_error(&c, "cannot read the persistent cache key_file");
    cleanup();
}

TEST(kubernetes_service_account_token)
{
    setup();
    write_str(tokf, "  eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.sig\n");
    vpd_persist_config c = k8s_cfg();
    vpd_persist *p = open_ready(&c);
    vp_cache_entry_t t = token_entry("auto-auth-1", "hvs.k8s");
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    put_each(p, (vp_cache_entry_t *[]){&t, &a, NULL});
    vpd_persist_close(p);
    sbuf want = {0};
    entry_text(&want, &t);
    entry_text(&want, &a);
    sb_add(&want, "aat=hvs.k8s\n");
    /* Only surrounding white space differs: the same token. */
    write_str(tokf, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.sig");
    ASSERT_STR_EQ(restore_text_cfg(&c, 2000, NULL), want.s);

    size_t len;
    char *raw = read_all(db, &len);
    ASSERT_NULL(memmem(raw, len, "eyJhbGciOiJSUzI1NiJ9", 20));
    ASSERT_NULL(memmem(raw, len, "hvs.k8s", 7));
    free(raw);

    /* Another token: refused. */
    write_str(tokf, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdGhlciJ9.sig2\n");
    expect_open_error(&c, WRONG_KEY_MSG);
    /* A file type store with a kubernetes file: refused, said so. */
    write_file(keyf, KEY_A, 32);
    vpd_persist_config fc = file_cfg(true);
    expect_open_error(&fc, "written for persist \"kubernetes\"");
    /* No token file. */
    unlink(tokf);
    char want_err[600];
    snprintf(want_err, sizeof want_err,
             "failed to read service account "
             "token from %s: No such file or directory",
             tokf);
    expect_open_error(&c, want_err);
    write_str(tokf, " \n");
    expect_open_error(&c, "the file is empty");
    cleanup();
}

TEST(kubernetes_token_rotation_followed_by_compaction)
{
    setup();
    write_str(tokf, "token-one");
    vpd_persist_config c = k8s_cfg();
    vpd_persist *p = open_ready(&c);
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    /* The kubelet rotates the token; the next generation uses it. */
    write_str(tokf, "token-two");
    char err[256];
    ASSERT_INT_EQ(vpd_persist_compact(p, err, sizeof err), 0);
    vpd_persist_close(p);
    sbuf want = {0};
    entry_text(&want, &a);
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text_cfg(&c, 2000, NULL), want.s);
    write_str(tokf, "token-one");
    expect_open_error(&c, WRONG_KEY_MSG);
    cleanup();
}

/* ---- files ------------------------------------------------------------- */

TEST(file_mode_0600_and_lock)
{
    setup();
    write_file(keyf, KEY_A, 32);
    umask(0);
    vpd_persist_config c = file_cfg(true);
    vpd_persist *p = open_ready(&c);
    struct stat st;
    ASSERT_INT_EQ(stat(db, &st), 0);
    ASSERT_INT_EQ(st.st_mode & 07777, 0600);
    /* A second user of the same directory is refused. */
    expect_open_error(&c, "in use by another process");
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    char err[256];
    ASSERT_INT_EQ(vpd_persist_compact(p, err, sizeof err), 0);
    ASSERT_INT_EQ(stat(db, &st), 0);
    ASSERT_INT_EQ(st.st_mode & 07777, 0600);
    vpd_persist_close(p);
    /* Looser permissions found on open are tightened. */
    ASSERT_INT_EQ(chmod(db, 0644), 0);
    umask(0277);
    restore_text(2000);
    ASSERT_INT_EQ(stat(db, &st), 0);
    ASSERT_INT_EQ(st.st_mode & 07777, 0600);
    ASSERT_INT_EQ(access(tmpf, F_OK), -1);
    /* A missing directory. */
    vpd_persist_config bad = c;
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/nope", dir);
    bad.path = nodir;
    expect_open_error(&bad, "cannot open the persistent cache directory");
    cleanup();
}

TEST(keep_after_import_false)
{
    setup();
    write_file(keyf, KEY_A, 32);
    /* No file yet: created and used for the whole run. */
    vpd_persist_config c = file_cfg(false);
    vpd_persist *p = open_ready(&c);
    ASSERT(vpd_persist_active(p));
    vp_cache_entry_t a = lease_entry("A", "a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    vpd_persist_close(p);

    /* An existing file: imported, deleted, persistence off. */
    char err[256];
    p = vpd_persist_open(&c, err, sizeof err);
    ASSERT_NOT_NULL(p);
    sbuf b = {0};
    vpd_persist_restore_stats st;
    ASSERT_INT_EQ(
        vpd_persist_restore(p, 2000, collect, &b, NULL, &st, err, sizeof err),
        1);
    ASSERT(st.existed);
    ASSERT(st.deleted);
    ASSERT(!vpd_persist_active(p));
    ASSERT_INT_EQ(access(db, F_OK), -1);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0); /* a no-op */
    ASSERT_INT_EQ(vpd_persist_clear(p), 0);
    vpd_persist_close(p);
    ASSERT_INT_EQ(access(db, F_OK), -1);
    /* Writes before restore are refused. */
    p = vpd_persist_open(&c, err, sizeof err);
    ASSERT_NOT_NULL(p);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), VP_EINVAL);
    vpd_persist_close(p);
    cleanup();
}

TEST(compaction_bounds_the_file)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    char resp[400];
    memset(resp, 'x', sizeof resp - 1);
    resp[sizeof resp - 1] = '\0';
    char ids[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "id%d", i);
        vp_cache_entry_t e = lease_entry(ids[i], resp, 1000, 600000);
        ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    }
    off_t max = 0;
    for (int i = 0; i < 30000; i++) {
        ASSERT_INT_EQ(
            vpd_persist_renewed(p, ids[i % 20], 1000 + (uint64_t)i, 600000), 0);
        if (i % 1000 == 0 && file_size(db) > max)
            max = file_size(db);
    }
    /* ~1.4 MB of renewals went in; the file stayed near the threshold. */
    ASSERT(max < 2 * (off_t)VPD_PERSIST_COMPACT_MIN_BYTES);
    vpd_persist_close(p);
    sbuf want = {0};
    for (int i = 0; i < 20; i++) {
        vp_cache_entry_t e =
            lease_entry(ids[i], resp, 1000 + (uint64_t)(29980 + i), 600000);
        entry_text(&want, &e);
    }
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(2000), want.s);
    cleanup();
}

/* ---- crash safety ------------------------------------------------------ */

/* For the last record of each kind: the file cut at every byte of it
 * restores the state before it, and whole the state after it. */
TEST(torn_last_record_every_offset)
{
    setup();
    write_file(keyf, KEY_A, 32);
    vpd_persist_config c = file_cfg(true);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    vp_cache_entry_t b = lease_entry("B", "response b", 1000, 600000);
    vp_cache_entry_t t = token_entry("auto-auth-1", "hvs.tok");
    for (int op = 0; op < 6; op++) {
        unlink(db);
        vpd_persist *p = open_ready(&c);
        put_each(p, (vp_cache_entry_t *[]){&a, &t, &b, NULL});
        vpd_persist_close(p);
        char *old_state = restore_text(2000);
        p = vpd_persist_open(&c, (char[256]){0}, 256);
        ASSERT_NOT_NULL(p);
        sbuf junk = {0};
        ASSERT_INT_EQ(
            vpd_persist_restore(p, 2000, collect, &junk, NULL, NULL, NULL, 0),
            3);
        off_t old_size = file_size(db);
        vp_cache_entry_t a2 =
            lease_entry("A", "new response for a", 3000, 700000);
        switch (op) {
        case 0:
            ASSERT_INT_EQ(vpd_persist_put(p, &a2), 0);
            break;
        case 1:
            ASSERT_INT_EQ(vpd_persist_renewed(p, "B", 4000, 800000), 0);
            break;
        case 2:
            ASSERT_INT_EQ(vpd_persist_delete(p, "A"), 0);
            break;
        case 3:
            ASSERT_INT_EQ(vpd_persist_clear(p), 0);
            break;
        case 4:
            ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.other"), 0);
            break;
        case 5: {
            vp_cache_entry_t nt = token_entry("auto-auth-2", "hvs.tok2");
            ASSERT_INT_EQ(vpd_persist_put(p, &nt), 0);
            break;
        }
        }
        vpd_persist_close(p);
        size_t len;
        char *full = read_all(db, &len);
        ASSERT((off_t)len > old_size);
        char *new_state = restore_text(2000);
        ASSERT(strcmp(old_state, new_state) != 0);
        for (size_t cut = (size_t)old_size; cut <= len; cut++) {
            write_file(db, full, cut);
            restored r;
            char *got = restore_text_cfg(&c, 2000, &r);
            vpd_secret_free(r.aat);
            const char *want = cut == len ? new_state : old_state;
            if (strcmp(got, want) != 0)
                TEST_FAIL_("op %d cut at %zu of %zu: got\n%s\nwant\n%s", op,
                           cut, len, got, want);
            ASSERT_INT_EQ(r.st.torn_bytes,
                          cut == len ? 0 : (off_t)cut - old_size);
            free(got);
        }
        free(full);
        free(old_state);
        free(new_state);
    }
    cleanup();
}

/* A compaction cut off at any byte (the temp file partly written, not yet
 * renamed) leaves the old file, which restores; the left-over temp file
 * goes.  Renamed, the new file restores the same state. */
TEST(torn_compaction_every_offset)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    vp_cache_entry_t b = lease_entry("B", "response b", 1000, 600000);
    vp_cache_entry_t t = token_entry("auto-auth-1", "hvs.tok");
    put_each(p, (vp_cache_entry_t *[]){&a, &t, &b, NULL});
    ASSERT_INT_EQ(vpd_persist_renewed(p, "A", 1500, 600000), 0);
    ASSERT_INT_EQ(vpd_persist_delete(p, "B"), 0);
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.aa"), 0);
    size_t old_len, new_len;
    char *old = read_all(db, &old_len);
    char err[256];
    ASSERT_INT_EQ(vpd_persist_compact(p, err, sizeof err), 0);
    char *fresh = read_all(db, &new_len);
    ASSERT(memcmp(old, fresh, 8) == 0 && new_len < old_len);
    vpd_persist_close(p);
    char *state = restore_text(2000);
    ASSERT_STR_CONTAINS(state, "aat=hvs.aa\n");
    for (size_t cut = 0; cut <= new_len; cut++) {
        write_file(db, old, old_len);
        write_file(tmpf, fresh, cut);
        char *got = restore_text(2000);
        if (strcmp(got, state) != 0)
            TEST_FAIL_("cut at %zu: got\n%s\nwant\n%s", cut, got, state);
        ASSERT_INT_EQ(access(tmpf, F_OK), -1);
        free(got);
    }
    write_file(db, fresh, new_len);
    ASSERT_STR_EQ(restore_text(2000), state);
    free(old);
    free(fresh);
    free(state);
    cleanup();
}

/* Damage in the middle (not a crash, but a bad disk): the records before
 * it restore, nothing after it is trusted, no garbage comes out. */
TEST(damaged_record_restores_the_prefix)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    vp_cache_entry_t b = lease_entry("B", "response b", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    off_t after_a = file_size(db);
    ASSERT_INT_EQ(vpd_persist_put(p, &b), 0);
    off_t after_b = file_size(db);
    ASSERT_INT_EQ(vpd_persist_delete(p, "A"), 0);
    vpd_persist_close(p);
    size_t len;
    char *raw = read_all(db, &len);
    raw[after_a + (after_b - after_a) / 2] ^= 0x40;
    write_file(db, raw, len);
    sbuf want = {0};
    entry_text(&want, &a);
    sb_add(&want, "aat=(null)\n");
    restored r;
    ASSERT_STR_EQ(restore_text_cfg(&c, 2000, &r), want.s);
    ASSERT_INT_EQ(r.st.torn_bytes, (off_t)len - after_a);
    free(raw);
    cleanup();
}

/* A write that fails half-way (the file size limit stands in for a full
 * disk) is rolled back, but the entry stays in the store: the next write
 * rewrites the store as a new generation that holds it. */
TEST(failed_write_recovers)
{
    setup();
    write_file(keyf, KEY_A, 32);
    signal(SIGXFSZ, SIG_IGN);
    vpd_persist_config c = file_cfg(true);
    vpd_persist *p = open_ready(&c);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    off_t size = file_size(db);
    char big[2000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vp_cache_entry_t b = lease_entry("B", big, 1000, 600000);
    struct rlimit old_rl, rl;
    ASSERT_INT_EQ(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
    rl = old_rl;
    rl.rlim_cur = (rlim_t)size + 100;
    ASSERT_INT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ASSERT_INT_EQ(vpd_persist_put(p, &b), 0); /* kept in memory */
    ASSERT_INT_EQ(file_size(db), size);       /* the torn bytes were cut off */
    ASSERT(!vpd_persist_whole(p));
    ASSERT_INT_EQ(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
    vp_cache_entry_t cc = lease_entry("C", "response c", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &cc), 0); /* kept: no retry yet */
    ASSERT(!vpd_persist_whole(p));
    ASSERT_INT_EQ(vpd_persist_count(p), 3);
    char err[256];
    ASSERT_INT_EQ(vpd_persist_compact(p, err, sizeof err), 0);
    ASSERT(vpd_persist_whole(p));
    vpd_persist_close(p);
    sbuf want = {0};
    entry_text(&want, &a);
    entry_text(&want, &b);
    entry_text(&want, &cc);
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(2000), want.s);
    cleanup();
}

/* ---- a full disk ------------------------------------------------------- */

/* The write seam: while disk_full is set the disk has room for
 * space_left more bytes (then none), so the first write tears a record as
 * a disk that fills up in the middle of a write does, and every later one
 * fails with ENOSPC; writes_refused counts those failures.  Atomic: the
 * retry's background rewrite writes on a worker thread. */
static _Atomic bool disk_full;
static _Atomic long space_left;
static _Atomic unsigned writes_refused;

static void
fill_disk(long room)
{
    space_left = room;
    writes_refused = 0;
    disk_full = true;
}

static ssize_t
full_disk_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (!disk_full)
        return pwrite(fd, buf, n, off);
    long room = space_left;
    if (room <= 0) {
        writes_refused++;
        errno = ENOSPC;
        return -1;
    }
    size_t part = n < (size_t)room ? n : (size_t)room;
    ssize_t w = pwrite(fd, buf, part, off);
    if (w > 0)
        space_left -= w;
    return w;
}

/* Log lines, caught by pointing stderr at a file. */
typedef struct {
    char path[600];
    int saved_fd;
} log_catch;

static void
log_catch_start(log_catch *lc)
{
    snprintf(lc->path, sizeof lc->path, "%s/log", dir);
    int fd = open(lc->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    lc->saved_fd = dup(STDERR_FILENO);
    ASSERT(lc->saved_fd >= 0);
    ASSERT_INT_EQ(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    vpd_log_set_level(VPD_LOG_INFO);
}

/* Returns what was logged since start (the caller frees it). */
static char *
log_catch_stop(log_catch *lc)
{
    vpd_log_set_level(VPD_LOG_ERROR);
    ASSERT_INT_EQ(dup2(lc->saved_fd, STDERR_FILENO), STDERR_FILENO);
    close(lc->saved_fd);
    size_t len = 0;
    char *text = read_all(lc->path, &len);
    text[len] = '\0';
    return text;
}

static unsigned
count_of(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *at = hay; (at = strstr(at, needle)); at++)
        n++;
    return n;
}

#define EPISODE_WARN "the cache keeps serving"
#define EPISODE_INFO "is whole again"

/* Every kind of write made while the disk is full - a new entry, a
 * replacement, a renewal, a put then delete, the auto-auth token - stays
 * in the store, also a write right after a failed rewrite (the retry's
 * backoff never refuses a write); once there is space the next due write
 * rewrites the store with all of it.  The episode is logged once at warn
 * with the reason and once at info when it is over, without a secret. */
TEST(full_disk_keeps_every_write)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    vp_cache_entry_t b = lease_entry("B", "response b", 1000, 600000);
    put_each(p, (vp_cache_entry_t *[]){&a, &b, NULL});
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.before"), 0);
    off_t size = file_size(db);

    log_catch lc;
    log_catch_start(&lc);
    vpd_persist_set_pwrite(full_disk_pwrite);
    fill_disk(10);
    vp_cache_entry_t cc = lease_entry("C", "response c", 2000, 600000);
    cc.token = "hvs.secret-of-c";
    ASSERT_INT_EQ(vpd_persist_put(p, &cc), 0); /* the write fails */
    ASSERT(!vpd_persist_whole(p));
    ASSERT_INT_EQ(file_size(db), size); /* the torn bytes were cut off */
    unsigned refused = writes_refused;
    ASSERT_INT_EQ(refused, 1);
    vp_cache_entry_t b2 = lease_entry("B", "response b, again", 2001, 600000);
    usleep(250 * 1000);                        /* the backoff's first wait */
    ASSERT_INT_EQ(vpd_persist_put(p, &b2), 0); /* a rewrite, which fails */
    ASSERT(writes_refused > refused);
    ASSERT(access(tmpf, F_OK) != 0);
    /* Within the backoff's wait after that failed rewrite: kept all the
     * same, with no rewrite tried. */
    refused = writes_refused;
    vp_cache_entry_t d = lease_entry("D", "response d", 2002, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &d), 0);
    ASSERT_INT_EQ(vpd_persist_renewed(p, "A", 2003, 700000), 0);
    vp_cache_entry_t e = lease_entry("E", "response e", 2004, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    ASSERT_INT_EQ(vpd_persist_delete(p, "E"), 0);
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.during"), 0);
    ASSERT_INT_EQ(writes_refused, refused);
    ASSERT_INT_EQ(vpd_persist_count(p), 4);
    ASSERT_INT_EQ(file_size(db), size);

    /* Space is back; the next write after the wait (twice the first, less
     * up to a quarter of it) rewrites everything. */
    disk_full = false;
    usleep(450 * 1000);
    vp_cache_entry_t f = lease_entry("F", "response f", 2005, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &f), 0);
    ASSERT(vpd_persist_whole(p));
    vpd_persist_set_pwrite(NULL);
    /* Appends go on after it. */
    vp_cache_entry_t g = lease_entry("G", "response g", 2006, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &g), 0);
    char *log = log_catch_stop(&lc);
    ASSERT_INT_EQ(count_of(log, EPISODE_WARN), 1);
    ASSERT_STR_CONTAINS(log, "No space left on device");
    ASSERT_INT_EQ(count_of(log, EPISODE_INFO), 1);
    ASSERT(!strstr(log, "hvs."));
    free(log);
    vpd_persist_close(p);

    sbuf want = {0};
    a.last_renewed_ms = 2003;
    a.ttl_ms = 700000;
    entry_text(&want, &a);
    entry_text(&want, &b2);
    entry_text(&want, &cc);
    entry_text(&want, &d);
    entry_text(&want, &f);
    entry_text(&want, &g);
    sb_add(&want, "aat=hvs.during\n");
    ASSERT_STR_EQ(restore_text(3000), want.s);
    free(want.s);
    cleanup();
}

/* Closing while the disk is still full tries once more, and says so when
 * it cannot write what it kept: the restart then restores the state from
 * before the failure, never a damaged file. */
TEST(full_disk_at_close_says_what_is_lost)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);
    log_catch lc;
    log_catch_start(&lc);
    vpd_persist_set_pwrite(full_disk_pwrite);
    fill_disk(10);
    vp_cache_entry_t b = lease_entry("B", "response b", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &b), 0);
    vpd_persist_close(p);
    disk_full = false;
    vpd_persist_set_pwrite(NULL);
    char *log = log_catch_stop(&lc);
    ASSERT_INT_EQ(count_of(log, EPISODE_WARN), 1);
    ASSERT_STR_CONTAINS(log, "before closing it");
    ASSERT_STR_CONTAINS(log, "are lost");
    free(log);
    sbuf want = {0};
    entry_text(&want, &a);
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(2000), want.s);
    free(want.s);
    cleanup();
}

/* With a loop nothing has to write again: the retry timer rewrites in the
 * background with a backoff while the disk is full (each try fails), and
 * heals the store on its own once there is space; then it stops. */
static void
space_returns(uv_timer_t *t)
{
    (void)t;
    disk_full = false;
}

static void
watchdog(uv_timer_t *t)
{
    uv_stop(t->loop);
}

TEST(full_disk_heals_on_its_own_with_a_loop)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    uv_loop_t loop;
    ASSERT_INT_EQ(uv_loop_init(&loop), 0);
    vpd_persist_set_loop(p, &loop);
    vp_cache_entry_t a = lease_entry("A", "response a", 1000, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &a), 0);

    vpd_persist_set_pwrite(full_disk_pwrite);
    fill_disk(10);
    char ids[30][8];
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof ids[i], "L%d", i);
        vp_cache_entry_t e =
            lease_entry(ids[i], "leased", 1000 + (uint64_t)i, 600000);
        ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    }
    ASSERT(!vpd_persist_whole(p));
    unsigned at_first = writes_refused;
    ASSERT_INT_EQ(at_first, 1); /* one failed append; the rest wait */

    uv_timer_t space, dog;
    ASSERT_INT_EQ(uv_timer_init(&loop, &space), 0);
    ASSERT_INT_EQ(uv_timer_init(&loop, &dog), 0);
    uv_timer_start(&space, space_returns, 700, 0);
    uv_timer_start(&dog, watchdog, 15000, 0);
    uv_unref((uv_handle_t *)&dog);
    /* Returns when the store healed and its timer stopped, or at the
     * watchdog. */
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT(vpd_persist_whole(p));
    ASSERT(writes_refused > at_first); /* retried while it was full */
    vpd_persist_set_pwrite(NULL);
    uv_close((uv_handle_t *)&space, NULL);
    uv_close((uv_handle_t *)&dog, NULL);
    vpd_persist_set_loop(p, NULL);
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);

    /* Healed before closing: nothing is left to the last rewrite. */
    char *raw_before = NULL;
    size_t len_before = 0;
    raw_before = read_all(db, &len_before);
    vpd_persist_close(p);
    size_t len_after = 0;
    char *raw_after = read_all(db, &len_after);
    ASSERT_INT_EQ(len_after, len_before);
    ASSERT(memcmp(raw_after, raw_before, len_before) == 0);
    free(raw_before);
    free(raw_after);

    sbuf want = {0};
    entry_text(&want, &a);
    for (int i = 0; i < 30; i++) {
        vp_cache_entry_t e =
            lease_entry(ids[i], "leased", 1000 + (uint64_t)i, 600000);
        entry_text(&want, &e);
    }
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(3000), want.s);
    free(want.s);
    cleanup();
}

/* ---- a writer killed at random moments --------------------------------- */

#define MAXE 64
#define NIDS 40

typedef struct {
    int id;
    bool token;
    unsigned ver;
    uint64_t lr, ttl;
} ment;

typedef struct {
    ment e[MAXE]; /* creation order */
    int n;
    char aat[40];
} model;

static uint64_t
mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct {
    char id[16], rp[48], tok[48], lease[48], resp[160];
} ment_text;

static vp_cache_entry_t
ment_entry(const ment *m, ment_text *t)
{
    vp_cache_entry_t e = {.size = sizeof e};
    snprintf(t->id, sizeof t->id, "id-%d", m->id);
    e.id = t->id;
    if (m->token) {
        snprintf(t->tok, sizeof t->tok, "hvs.tok-%d-%u", m->id, m->ver);
        e.namespace_ = "";
        e.request_path = "";
        e.token = t->tok;
    } else {
        snprintf(t->rp, sizeof t->rp, "/v1/p/%d/%u", m->id, m->ver);
        snprintf(t->lease, sizeof t->lease, "lease/%d/%u", m->id, m->ver);
        int n = snprintf(t->resp, sizeof t->resp, "resp %d %u ", m->id, m->ver);
        for (unsigned k = 0; k < m->ver % 9 * 12 && n < 150; k++)
            t->resp[n++] = (char)('a' + k % 26);
        t->resp[n] = '\0';
        e.namespace_ = "ns/";
        e.request_path = t->rp;
        e.lease = t->lease;
        e.lease_token = "hvs.parent";
        e.response.ptr = t->resp;
        e.response.len = (size_t)n;
    }
    e.last_renewed_ms = m->lr;
    e.ttl_ms = m->ttl;
    return e;
}

static char *
model_text(const model *m)
{
    sbuf b = {0};
    sb_add(&b, "%s", "");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->n; i++) {
            if (m->e[i].token != (pass == 0))
                continue;
            ment_text t;
            vp_cache_entry_t e = ment_entry(&m->e[i], &t);
            entry_text(&b, &e);
        }
    sb_add(&b, "aat=%s\n", m->aat[0] ? m->aat : "(null)");
    return b.s;
}

static int
model_find(const model *m, int id)
{
    for (int i = 0; i < m->n; i++)
        if (m->e[i].id == id)
            return i;
    return -1;
}

static void
model_remove(model *m, int i)
{
    memmove(&m->e[i], &m->e[i + 1], (size_t)(m->n - i - 1) * sizeof m->e[0]);
    m->n--;
}

/* Operation number i, applied to the model and (when p) to the store;
 * which one it is depends only on i and the model. */
static void
model_op(model *m, vpd_persist *p, uint64_t i)
{
    uint64_t h = mix(0x5eed ^ (i * 0x100000001b3ull));
    int r = (int)(h % 100);
    if (r < 45 || m->n == 0) {
        ment x = {.id = (int)((h >> 8) % NIDS),
                  .token = (h >> 20) % 6 == 0,
                  .ver = (unsigned)((h >> 24) & 0xffff),
                  .lr = 1000000 + i,
                  .ttl = 1000000000000ull};
        int at = model_find(m, x.id);
        if (at >= 0)
            m->e[at] = x;
        else
            m->e[m->n++] = x;
        if (x.token)
            snprintf(m->aat, sizeof m->aat, "hvs.tok-%d-%u", x.id, x.ver);
        if (p) {
            ment_text t;
            vp_cache_entry_t e = ment_entry(&x, &t);
            ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
        }
    } else if (r < 70) {
        ment *x = &m->e[(h >> 8) % (uint64_t)m->n];
        x->lr = 2000000 + i;
        x->ttl = 1000000000000ull + i;
        if (p) {
            char id[16];
            snprintf(id, sizeof id, "id-%d", x->id);
            ASSERT_INT_EQ(vpd_persist_renewed(p, id, x->lr, x->ttl), 0);
        }
    } else if (r < 88) {
        int at = (int)((h >> 8) % (uint64_t)m->n);
        char id[16];
        snprintf(id, sizeof id, "id-%d", m->e[at].id);
        model_remove(m, at);
        if (p)
            ASSERT_INT_EQ(vpd_persist_delete(p, id), 0);
    } else if (r < 90) {
        m->n = 0;
        if (p)
            ASSERT_INT_EQ(vpd_persist_clear(p), 0);
    } else {
        if (h & (1u << 12))
            m->aat[0] = '\0';
        else
            snprintf(m->aat, sizeof m->aat, "aa-%llu", (unsigned long long)i);
        if (p)
            ASSERT_INT_EQ(
                vpd_persist_set_auto_auth_token(p, m->aat[0] ? m->aat : NULL),
                0);
    }
}

/* A writer killed at random moments: the file restores exactly the
 * acknowledged operations, or one more.  background: the compactions run
 * on a libuv worker while the writer goes on, and the kill may land in
 * any of their steps. */
static void
sigkill_run(bool background)
{
    setup();
    write_file(keyf, KEY_A, 32);
    vpd_persist_config c = file_cfg(true);
    model m = {0};
    uint64_t done = 0; /* operations the file holds */
    uint64_t rng = 0x1234567;
    int rounds = 60, outcomes[3] = {0};
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        ASSERT_INT_EQ(pipe(fds), 0);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            model cm = m;
            vpd_persist *p = open_ready(&c);
            uv_loop_t loop;
            if (background) {
                if (uv_loop_init(&loop) != 0)
                    _exit(5);
                vpd_persist_set_loop(p, &loop);
            }
            for (uint64_t i = done; i < done + 400; i++) {
                model_op(&cm, p, i);
                if (write(fds[1], &i, sizeof i) != sizeof i)
                    _exit(3);
                if (background) {
                    /* Finishes a job whose worker is done. */
                    uv_run(&loop, UV_RUN_NOWAIT);
                    if (i % 37 == 0 && vpd_persist_compact_start(p) != 0)
                        _exit(4);
                } else if (i % 37 == 0 &&
                           vpd_persist_compact(p, (char[256]){0}, 256) != 0) {
                    _exit(4);
                }
            }
            for (;;)
                pause();
        }
        close(fds[1]);
        rng = mix(rng);
        usleep((useconds_t)(rng % 4000));
        kill(pid, SIGKILL);
        int status;
        ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        uint64_t acked = done, v;
        while (read(fds[0], &v, sizeof v) == sizeof v)
            acked = v + 1;
        close(fds[0]);

        /* The file holds `acked` operations, or one more whose record was
         * written but not acknowledged. */
        model ma = m;
        for (uint64_t i = done; i < acked; i++)
            model_op(&ma, NULL, i);
        model mb = ma;
        model_op(&mb, NULL, acked);
        char *sa = model_text(&ma), *sb = model_text(&mb);
        char *got = restore_text(5000000);
        if (strcmp(got, sa) == 0) {
            outcomes[acked == done ? 0 : 1]++;
            m = ma;
            done = acked;
        } else if (strcmp(got, sb) == 0) {
            m = mb;
            done = acked + 1;
            outcomes[2]++;
        } else {
            TEST_FAIL_("round %d, %llu ops acknowledged: got\n%s\nwant\n%s"
                       "\nor\n%s",
                       round, (unsigned long long)acked, got, sa, sb);
        }
        free(sa);
        free(sb);
        free(got);
    }
    printf("# %s: %llu operations over %d kills: %d before any write, %d "
           "exactly the acknowledged ones, %d one unacknowledged write "
           "more\n",
           background ? "background compactions" : "compactions inline",
           (unsigned long long)done, rounds, outcomes[0], outcomes[1],
           outcomes[2]);
    cleanup();
}

TEST(sigkill_at_random_moments)
{
    sigkill_run(false);
}

TEST(sigkill_during_background_compactions)
{
    sigkill_run(true);
}

/* ---- configuration ----------------------------------------------------- */

static vpd_cfg_tree tree;

static int
parse(const char *file, const char *text, vpd_persist_config *out, char *err,
      size_t err_len)
{
    char perr[256];
    vpd_cfg_tree_free(&tree);
    memset(&tree, 0, sizeof tree);
    ASSERT_INT_EQ(
        vpd_cfg_parse(file, text, strlen(text), &tree, perr, sizeof perr), 0);
    const vpd_cfg_member *cm = vpd_cfg_get(tree.root, "cache");
    ASSERT_NOT_NULL(cm);
    return vpd_persist_config_parse(cm->value, out, err, err_len);
}

static void
parse_fails(const char *text, const char *want)
{
    vpd_persist_config pc;
    char err[512] = "";
    int rc = parse("t.hcl", text, &pc, err, sizeof err);
    vpd_persist_config_free(&pc);
    if (rc != -1)
        TEST_FAIL_("parsed (%d), expected \"%s\"", rc, want);
    ASSERT_STR_EQ(err, want);
}

TEST(config_parse)
{
    vpd_persist_config pc;
    char err[512] = "";
    ASSERT_INT_EQ(parse("t.hcl",
                        "cache {\n"
                        "  persist \"Kubernetes\" {\n"
                        "    path = \"/vault/cache\"\n"
                        "    keep_after_import = true\n"
                        "    exit_on_err = true\n"
                        "  }\n"
                        "}\n",
                        &pc, err, sizeof err),
                  1);
    ASSERT_STR_EQ(pc.type, "kubernetes");
    ASSERT_INT_EQ(pc.kind, VPD_PERSIST_KUBERNETES);
    ASSERT_STR_EQ(pc.path, "/vault/cache");
    ASSERT(pc.keep_after_import && pc.exit_on_err);
    ASSERT_STR_EQ(pc.service_account_token_file,
                  "/var/run/secrets/kubernetes.io/serviceaccount/token");
    ASSERT_STR_EQ(pc.file, "t.hcl");
    ASSERT_INT_EQ(pc.line, 2);
    vpd_persist_config_free(&pc);

    ASSERT_INT_EQ(parse("t.hcl",
                        "cache {\n"
                        "  persist {\n"
                        "    type = \"file\"\n"
                        "    path = \"/c\"\n"
                        "    key_file = \"/k\"\n"
                        "  }\n"
                        "}\n",
                        &pc, err, sizeof err),
                  1);
    ASSERT_STR_EQ(pc.type, "file");
    ASSERT_STR_EQ(pc.key_file, "/k");
    ASSERT(!pc.keep_after_import && !pc.exit_on_err);
    ASSERT_NULL(pc.service_account_token_file);
    vpd_persist_config_free(&pc);

    ASSERT_INT_EQ(parse("t.json",
                        "{\"cache\": {\"persist\": {\"kubernetes\": "
                        "{\"path\": \"/p\", \"service_account_token_file\": "
                        "\"/t\"}}}}",
                        &pc, err, sizeof err),
                  1);
    ASSERT_STR_EQ(pc.service_account_token_file, "/t");
    vpd_persist_config_free(&pc);
    ASSERT_INT_EQ(parse("t.json",
                        "{\"cache\": {\"persist\": [{\"type\": \"file\", "
                        "\"path\": \"/p\", \"key_file\": \"/k\"}]}}",
                        &pc, err, sizeof err),
                  1);
    vpd_persist_config_free(&pc);
    ASSERT_INT_EQ(parse("t.hcl", "cache {\n use_auto_auth_token = true\n}\n",
                        &pc, err, sizeof err),
                  0);

    parse_fails("cache {\n  persist {\n    path = \"/p\"\n  }\n}\n",
                "t.hcl:2: persist type must be specified");
    parse_fails("cache {\n  persist \"aws\" {\n    path = \"/p\"\n  }\n}\n",
                "t.hcl:2: persistent key protection type \"aws\" not "
                "supported (file or kubernetes)");
    parse_fails("cache {\n  persist \"kubernetes\" {\n    pth = \"/p\"\n"
                "  }\n}\n",
                "t.hcl:3: unknown key \"pth\" in cache.persist \"kubernetes\" "
                "(did you mean \"path\"?)");
    parse_fails("cache {\n  persist \"kubernetes\" {\n    path = \"/p\"\n"
                "    keep_after_import = \"true\"\n  }\n}\n",
                "t.hcl:4: cache.persist \"kubernetes\": keep_after_import: "
                "expected a bool, got a string");
    parse_fails("cache {\n  persist \"kubernetes\" {\n"
                "    keep_after_import = true\n  }\n}\n",
                "t.hcl:2: cache.persist \"kubernetes\": must specify "
                "persistent cache path");
    parse_fails("cache {\n  persist \"file\" {\n    path = \"/p\"\n  }\n}\n",
                "t.hcl:2: cache.persist \"file\": key_file is required (a "
                "file holding 32 random bytes, 64 hex digits or their "
                "base64)");
    parse_fails("cache {\n  persist \"kubernetes\" {\n    path = \"/p\"\n"
                "    key_file = \"/k\"\n  }\n}\n",
                "t.hcl:4: cache.persist \"kubernetes\": key_file: only valid "
                "with persist \"file\"");
    parse_fails("cache {\n  persist \"file\" {\n    path = \"/p\"\n"
                "    key_file = \"/k\"\n"
                "    service_account_token_file = \"/t\"\n  }\n}\n",
                "t.hcl:5: cache.persist \"file\": service_account_token_file: "
                "only valid with persist \"kubernetes\"");
    parse_fails("cache {\n  persist \"kubernetes\" {\n    path = \"/p\"\n"
                "  }\n  persist \"kubernetes\" {\n    path = \"/q\"\n  }\n}\n",
                "t.hcl:5: cache: only one persist block is allowed");
    parse_fails("cache {\n  persist = \"kubernetes\"\n}\n",
                "t.hcl:2: cache: persist: expected a block, got a string");
}

/* ---- compaction off the loop ------------------------------------------- */

/* A store driven by `loop` holding n leases (ids prefix0.., answers of
 * RESP_LEN-1 `fill` bytes in resp), renewed until a threshold compaction
 * has started in the background.  *done_before: the compactions finished
 * before the renewals (opening the store makes one). */
#define RESP_LEN 400
static vpd_persist *
open_compacting(uv_loop_t *loop, char ids[][16], int n, const char *prefix,
                char resp[RESP_LEN], char fill, unsigned *done_before)
{
    vpd_persist_config c;
    vpd_persist *p = open_fresh(&c);
    ASSERT_INT_EQ(uv_loop_init(loop), 0);
    vpd_persist_set_loop(p, loop);
    memset(resp, fill, RESP_LEN - 1);
    resp[RESP_LEN - 1] = '\0';
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], 16, "%s%d", prefix, i);
        vp_cache_entry_t e = lease_entry(ids[i], resp, 1000, 600000);
        ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    }
    *done_before = vpd_persist_compactions(p);
    for (int i = 0; i < 100000 && !vpd_persist_compacting(p); i++)
        ASSERT_INT_EQ(vpd_persist_renewed(p, ids[i % n], 1000, 600000), 0);
    ASSERT(vpd_persist_compacting(p));
    return p;
}

/* Every kind of write made while a background compaction runs - puts,
 * replacements, deletes, renewals, the auto-auth token, a delete then a
 * put of the same id - is in the compacted file, in order; the file is
 * compacted; the loop finishing the job is what makes it the store. */
TEST(appends_during_background_compaction_are_kept)
{
    uv_loop_t loop;
    char resp[RESP_LEN], ids[20][16];
    unsigned done0;
    vpd_persist *p = open_compacting(&loop, ids, 20, "id", resp, 'x', &done0);
    off_t before = file_size(db);
    ASSERT(before > (off_t)VPD_PERSIST_COMPACT_MIN_BYTES);
    ASSERT_INT_EQ(vpd_persist_compactions(p), done0);

    /* Meanwhile (the job cannot finish before the loop runs): */
    char nid[10][16];
    for (int i = 0; i < 10; i++) {
        snprintf(nid[i], sizeof nid[i], "new%d", i);
        vp_cache_entry_t e =
            lease_entry(nid[i], "fresh", 5000 + (uint64_t)i, 600000);
        ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    }
    ASSERT_INT_EQ(vpd_persist_delete(p, "id0"), 0);
    ASSERT_INT_EQ(vpd_persist_renewed(p, "id1", 7777, 123000), 0);
    vp_cache_entry_t repl = lease_entry("id2", "replaced", 8888, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &repl), 0);
    vp_cache_entry_t k1 = lease_entry("k", "first", 1, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &k1), 0);
    ASSERT_INT_EQ(vpd_persist_delete(p, "k"), 0);
    vp_cache_entry_t k2 = lease_entry("k", "second", 2, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &k2), 0);
    ASSERT_INT_EQ(vpd_persist_set_auto_auth_token(p, "hvs.during"), 0);
    ASSERT(vpd_persist_compacting(p));
    ASSERT_INT_EQ(vpd_persist_compactions(p), done0);

    /* The loop finishes the job (bounded: the run ends when it is done). */
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT(!vpd_persist_compacting(p));
    ASSERT_INT_EQ(vpd_persist_compactions(p), done0 + 1);
    ASSERT(access(tmpf, F_OK) != 0);
    ASSERT(file_size(db) < before / 4);
    /* Writes after it go to the new file. */
    ASSERT_INT_EQ(vpd_persist_renewed(p, "id3", 9999, 600000), 0);
    vp_cache_entry_t after = lease_entry("after", "later", 3, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &after), 0);
    vpd_persist_close(p);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);

    sbuf want = {0};
    for (int i = 1; i < 20; i++) {
        vp_cache_entry_t e = lease_entry(ids[i], resp, 1000, 600000);
        if (i == 1) {
            e.last_renewed_ms = 7777;
            e.ttl_ms = 123000;
        } else if (i == 2) {
            e = repl;
        } else if (i == 3) {
            e.last_renewed_ms = 9999;
        }
        entry_text(&want, &e);
    }
    for (int i = 0; i < 10; i++) {
        vp_cache_entry_t e =
            lease_entry(nid[i], "fresh", 5000 + (uint64_t)i, 600000);
        entry_text(&want, &e);
    }
    entry_text(&want, &k2);
    entry_text(&want, &after);
    sb_add(&want, "aat=hvs.during\n");
    ASSERT_STR_EQ(restore_text(10000), want.s);
    free(want.s);
    cleanup();
}

/* Closing while a background compaction runs waits for it and finishes
 * it: nothing written meanwhile is lost. */
TEST(close_during_background_compaction)
{
    uv_loop_t loop;
    char resp[RESP_LEN], ids[8][16];
    unsigned done0;
    vpd_persist *p = open_compacting(&loop, ids, 8, "c", resp, 'y', &done0);
    (void)done0;
    vp_cache_entry_t late = lease_entry("late", "meanwhile", 4, 600000);
    ASSERT_INT_EQ(vpd_persist_put(p, &late), 0);
    ASSERT_INT_EQ(vpd_persist_delete(p, "c7"), 0);
    vpd_persist_close(p);
    ASSERT(access(tmpf, F_OK) != 0);
    /* The job's after-work callback still runs, and only frees it. */
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    ASSERT(file_size(db) < 64 * 1024);

    sbuf want = {0};
    for (int i = 0; i < 7; i++) {
        vp_cache_entry_t e = lease_entry(ids[i], resp, 1000, 600000);
        entry_text(&want, &e);
    }
    entry_text(&want, &late);
    sb_add(&want, "aat=(null)\n");
    ASSERT_STR_EQ(restore_text(10000), want.s);
    free(want.s);
    cleanup();
}

/* ---- record payloads, decoded without a file ----------------------------- */

/* A record payload built by hand, as the format in persist.h lays it
 * out, so the decoder is checked against the format and not against its
 * own encoder. */
typedef struct {
    uint8_t b[512];
    size_t n;
} payload;

static void
pl_u8(payload *p, uint8_t v)
{
    ASSERT(p->n < sizeof p->b);
    p->b[p->n++] = v;
}

static void
pl_u32(payload *p, uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        pl_u8(p, (uint8_t)(v >> shift));
}

static void
pl_u64(payload *p, uint64_t v)
{
    pl_u32(p, (uint32_t)(v >> 32));
    pl_u32(p, (uint32_t)v);
}

static void
pl_str(payload *p, const char *s)
{
    if (!s) {
        pl_u32(p, 0xffffffffu);
        return;
    }
    size_t len = strlen(s);
    pl_u32(p, (uint32_t)len);
    for (size_t i = 0; i <= len; i++)
        pl_u8(p, (uint8_t)s[i]);
}

/* A PUT of a lease entry (resp given) or of a token entry (resp NULL). */
static payload
pl_put(const char *id, const char *resp, uint64_t lr, uint64_t ttl)
{
    payload p = {0};
    pl_u8(&p, 1);
    pl_u8(&p, resp ? 0 : 1);
    pl_u64(&p, lr);
    pl_u64(&p, ttl);
    pl_str(&p, id);
    pl_str(&p, "ns/");
    pl_str(&p, "/v1/x");
    pl_str(&p, resp ? NULL : "hvs.token");
    pl_str(&p, NULL);
    pl_str(&p, NULL);
    pl_str(&p, resp ? "x/1" : NULL);
    pl_str(&p, NULL);
    size_t rlen = resp ? strlen(resp) : 0;
    pl_u32(&p, (uint32_t)rlen);
    for (size_t i = 0; i < rlen; i++)
        pl_u8(&p, (uint8_t)resp[i]);
    return p;
}

static payload
pl_renewed(const char *id, uint64_t lr, uint64_t ttl)
{
    payload p = {0};
    pl_u8(&p, 2);
    pl_u64(&p, lr);
    pl_u64(&p, ttl);
    pl_str(&p, id);
    return p;
}

static payload
pl_op_str(uint8_t op, const char *s)
{
    payload p = {0};
    pl_u8(&p, op);
    pl_str(&p, s);
    return p;
}

/* The entry pl_put encodes, as restore hands it out. */
static vp_cache_entry_t
decoded(const char *id, const char *resp, uint64_t lr, uint64_t ttl)
{
    return (vp_cache_entry_t){
        .size = sizeof(vp_cache_entry_t),
        .id = id,
        .namespace_ = "ns/",
        .request_path = "/v1/x",
        .token = resp ? NULL : "hvs.token",
        .lease = resp ? "x/1" : NULL,
        .response = {resp ? resp : "", resp ? strlen(resp) : 0},
        .last_renewed_ms = lr,
        .ttl_ms = ttl};
}

/* Decodes n payloads into text; *rc gets vpd_persist_decode's result. */
static char *
decode_text(const payload *pls, size_t n, int *rc, char *err, size_t err_len)
{
    const uint8_t *pl[16];
    size_t len[16];
    ASSERT(n <= 16);
    for (size_t i = 0; i < n; i++) {
        pl[i] = pls[i].b;
        len[i] = pls[i].n;
    }
    sbuf got = {0};
    sb_add(&got, "%s", "");
    *rc = vpd_persist_decode(pl, len, n, collect, &got, err, err_len);
    return got.s;
}

TEST(decode_every_record_type)
{
    char err[512] = "";
    int rc;

    /* Renewals and deletes of unknown ids are no-ops; a token entry comes
     * first; a renewal's values replace the PUT's. */
    payload ok[] = {
        pl_put("a", "r1", 1000, 60000),
        pl_put("t", NULL, 2000, 0),
        pl_put("b", "r2", 3000, 60000),
        pl_renewed("a", 5000, 120000),
        pl_op_str(3, "b"),
        pl_op_str(3, "nobody"),
        pl_renewed("nobody", 1, 1),
        pl_op_str(5, NULL),
    };
    char *got = decode_text(ok, sizeof ok / sizeof *ok, &rc, err, sizeof err);
    ASSERT_INT_EQ(rc, 2);
    sbuf want = {0};
    vp_cache_entry_t t = decoded("t", NULL, 2000, 0);
    vp_cache_entry_t a = decoded("a", "r1", 5000, 120000);
    entry_text(&want, &t);
    entry_text(&want, &a);
    ASSERT_STR_EQ(got, want.s);
    free(got);
    free(want.s);

    /* A PUT of a known id keeps its place; after a DELETE it goes to the
     * end; a CLEAR forgets everything before it. */
    payload order[] = {
        pl_put("x", "r", 1, 60000), pl_put("a", "r", 1, 60000),
        pl_put("b", "r", 1, 60000), pl_put("a", "r3", 7, 60000),
        pl_op_str(3, "b"),          pl_put("b", "r4", 8, 60000),
    };
    got =
        decode_text(order, sizeof order / sizeof *order, &rc, err, sizeof err);
    ASSERT_INT_EQ(rc, 3);
    want = (sbuf){0};
    vp_cache_entry_t ex = decoded("x", "r", 1, 60000);
    vp_cache_entry_t ea = decoded("a", "r3", 7, 60000);
    vp_cache_entry_t eb = decoded("b", "r4", 8, 60000);
    entry_text(&want, &ex);
    entry_text(&want, &ea);
    entry_text(&want, &eb);
    ASSERT_STR_EQ(got, want.s);
    free(got);
    free(want.s);
    payload cleared[] = {
        pl_put("a", "r", 1, 60000), {{4}, 1}, pl_put("b", "r", 1, 60000)};
    got = decode_text(cleared, 3, &rc, err, sizeof err);
    ASSERT_INT_EQ(rc, 1);
    ASSERT_STR_EQ(got,
                  "b|ns/|/v1/x|(null)|(null)|(null)|x/1|(null)|1|60000|72\n");
    free(got);

    /* A malformed record of a known type is refused like an unknown type
     * (an authentic record this version cannot read), and nothing is
     * handed out. */
    payload bad[6];
    bad[0] = pl_renewed("a", 1, 1);
    bad[0].n -= 3;               /* the id cut short */
    bad[1] = pl_op_str(3, NULL); /* a DELETE without an id */
    bad[2] = pl_put("a", "r1", 1, 1);
    bad[2].n--; /* the response shorter than its length says */
    bad[3] = pl_op_str(5, "tok");
    bad[3].b[bad[3].n - 1] = 'x'; /* no NUL after the token */
    bad[4] = (payload){{9}, 1};   /* a type from a newer version */
    bad[5] = pl_op_str(1, "a");   /* a PUT with nothing after the flags */
    const unsigned types[] = {2, 3, 1, 5, 9, 1};
    for (size_t i = 0; i < 6; i++) {
        payload two[] = {pl_put("a", "r1", 1, 60000), bad[i]};
        char needle[64];
        snprintf(needle, sizeof needle, "unsupported record (type %u)",
                 types[i]);
        err[0] = '\0';
        got = decode_text(two, 2, &rc, err, sizeof err);
        ASSERT_INT_EQ(rc, -1);
        ASSERT_NOT_NULL(strstr(err, needle));
        ASSERT_STR_EQ(got, "");
        free(got);
    }
}

int
main(void)
{
    return RUN_TESTS(
        T(round_trip_all_fields), T(restore_order_tokens_first_creation_order),
        T(expired_entries_dropped), T(delete_clear_and_refused_entries),
        T(auto_auth_token), T(wrong_key_refused), T(key_file_forms),
        T(kubernetes_service_account_token),
        T(kubernetes_token_rotation_followed_by_compaction),
        T(file_mode_0600_and_lock), T(keep_after_import_false),
        T(compaction_bounds_the_file), T(torn_last_record_every_offset),
        T(torn_compaction_every_offset), T(damaged_record_restores_the_prefix),
        T(failed_write_recovers), T(full_disk_keeps_every_write),
        T(full_disk_at_close_says_what_is_lost),
        T(full_disk_heals_on_its_own_with_a_loop), T(sigkill_at_random_moments),
        T(sigkill_during_background_compactions),
        T(appends_during_background_compaction_are_kept),
        T(close_during_background_compaction), T(config_parse),
        T(decode_every_record_type));
}
