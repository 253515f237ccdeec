/* The shipped cache plugin "memory" (plugins/cache_memory), loaded from the
 * build tree with dlopen and driven through the mock host
 * (tests/host/mock_host.c), playing the core's part: store, lookup, find
 * and evict by every index (what OpenBao's cachememdb tests check), limits,
 * renewals, stats, and a long random run checked against a reference
 * model.
 *
 * VP_CACHE_BENCH=<n> makes memory_per_entry store n entries with 1 KiB
 * responses and print the accounting and the RSS it took. */
#include "autoconf.h"

#include "test.h"

#include <dlfcn.h>
#include <malloc.h>

#include "mock_host.h"

/* ---- loading the built plugin ------------------------------------------ */

typedef struct {
    const vp_plugin_t *desc;
    const vp_provide_t *prov;
    const vp_cache_ops_t *ops;
} plugin;

static plugin P;

static const plugin *
plug(void)
{
    if (P.ops)
        return &P;
    const char *path = VP_BUILD_PLUGINDIR "/.libs/cache_memory.so";
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        TEST_FAIL_("dlopen %s: %s", path, dlerror());
    P.desc = dlsym(dl, "cache_memory_LTX_vaproxy_plugin");
    if (!P.desc)
        TEST_FAIL_("%s has no cache_memory_LTX_vaproxy_plugin", path);
    for (const vp_provide_t *pr = P.desc->provides; pr && pr->name; pr++) {
        if (pr->kind == VP_KIND_CACHE && strcmp(pr->name, "memory") == 0)
            P.prov = pr;
    }
    if (!P.prov)
        TEST_FAIL_("cache_memory does not provide cache \"memory\"");
    P.ops = P.prov->ops;
    return &P; /* never dlclosed: the process ends with the test */
}

/* Checks the schema and runs create, like the core.  Returns NULL (and the
 * message in err) when either fails. */
static mock_instance *
try_make(const char *const *pairs, int *rc, char *err, size_t err_len)
{
    const plugin *p = plug();
    *rc = 0;
    if (mock_check_schema(p->prov->schema, pairs, err, err_len) != 0) {
        *rc = VP_EINVAL;
        return NULL;
    }
    mock_instance *mi = mock_instance_new("memory", p->prov->schema, pairs);
    if (!mi)
        TEST_FAIL_("out of memory");
    if ((*rc = p->ops->create(&mi->pub)) != 0) {
        snprintf(err, err_len, "%s", mi->error);
        mock_instance_free(mi);
        return NULL;
    }
    return mi;
}

static mock_instance *
make(const char *const *pairs)
{
    int rc = 0;
    char err[1024];
    mock_instance *mi = try_make(pairs, &rc, err, sizeof err);
    if (!mi)
        TEST_FAIL_("create failed (%d): %s", rc, err);
    return mi;
}

/* destroy, then nothing may be left. */
static void
done(mock_instance *mi)
{
    P.ops->destroy(&mi->pub);
    mock_instance_free(mi);
    ASSERT_INT_EQ(mock_live_allocs(), 0);
    ASSERT_INT_EQ(mock_live_secrets(), 0);
}

/* ---- entries ----------------------------------------------------------- */

typedef struct {
    const char *id, *ns, *path, *token, *acc, *parent, *lease, *ltoken;
    const char *resp;
} spec;

static vp_cache_entry_t
entry_of(const spec *s)
{
    vp_cache_entry_t e = {
        .size = sizeof e,
        .id = s->id,
        .namespace_ = s->ns,
        .request_path = s->path,
        .token = s->token,
        .token_accessor = s->acc,
        .token_parent = s->parent,
        .lease = s->lease,
        .lease_token = s->ltoken,
        .response = {s->resp, s->resp ? strlen(s->resp) : 0},
        .last_renewed_ms = 1000,
        .ttl_ms = 60000,
    };
    return e;
}

static vp_status_t
store(mock_instance *mi, spec s)
{
    vp_cache_entry_t e = entry_of(&s);
    return P.ops->store(&mi->pub, &e);
}

static void
put(mock_instance *mi, spec s)
{
    vp_status_t st = store(mi, s);
    if (st != VP_CONTINUE)
        TEST_FAIL_("store %s: %d (%s)", s.id, (int)st, mi->error);
}

static uint64_t
n_entries(mock_instance *mi)
{
    uint64_t n = 0, b = 0;
    ASSERT_INT_EQ(P.ops->stats(&mi->pub, &n, &b), 0);
    return n;
}

static uint64_t
n_bytes(mock_instance *mi)
{
    uint64_t n = 0, b = 0;
    ASSERT_INT_EQ(P.ops->stats(&mi->pub, &n, &b), 0);
    return b;
}

/* Sorted, comma-separated ids of what a find visits (static buffer). */
#define MAX_IDS 256
typedef struct {
    char ids[MAX_IDS][64];
    size_t n;
} idlist;

static int
collect(void *arg, const vp_cache_entry_t *e)
{
    idlist *l = arg;
    if (l->n < MAX_IDS)
        snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", e->id);
    return 0;
}

static int
cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static const char *
found(mock_instance *mi, vp_cache_index_t index, const char *value,
      const char *ns)
{
    static char out[MAX_IDS * 64];
    static idlist l;
    memset(&l, 0, sizeof l);
    vp_cache_selector_t sel = {sizeof sel, index, value, ns};
    int n = P.ops->find(&mi->pub, &sel, collect, &l);
    if (n < 0)
        TEST_FAIL_("find: %d (%s)", n, mi->error);
    ASSERT_INT_EQ(n, l.n);
    /* without a visitor, find counts the same */
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel, NULL, NULL), n);
    qsort(l.ids, l.n, sizeof l.ids[0], cmp_id);
    out[0] = '\0';
    for (size_t i = 0; i < l.n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, l.ids[i]);
    }
    return out;
}

static int
evict(mock_instance *mi, vp_cache_index_t index, const char *value,
      const char *ns)
{
    vp_cache_selector_t sel = {sizeof sel, index, value, ns};
    return P.ops->evict(&mi->pub, &sel);
}

/* find without a visitor: how many match. */
static int
count(mock_instance *mi, vp_cache_index_t index, const char *value)
{
    vp_cache_selector_t sel = {sizeof sel, index, value, NULL};
    return P.ops->find(&mi->pub, &sel, NULL, NULL);
}

/* lookup: the visited entry copied into static buffers. */
typedef struct {
    int visits;
    char id[128], token[128], resp[4096];
    size_t resp_len;
    uint64_t last_renewed_ms, ttl_ms;
    const vp_cache_entry_t *ptr;
} seen;

static int
see(void *arg, const vp_cache_entry_t *e)
{
    seen *s = arg;
    s->visits++;
    s->ptr = e;
    snprintf(s->id, sizeof s->id, "%s", e->id);
    snprintf(s->token, sizeof s->token, "%s", e->token ? e->token : "(null)");
    s->resp_len = e->response.len;
    if (e->response.len < sizeof s->resp)
        memcpy(s->resp, e->response.ptr, e->response.len);
    s->last_renewed_ms = e->last_renewed_ms;
    s->ttl_ms = e->ttl_ms;
    return 0;
}

static seen
look(mock_instance *mi, const char *id)
{
    seen s;
    memset(&s, 0, sizeof s);
    vp_status_t st = P.ops->lookup(&mi->pub, id, see, &s);
    if (st != VP_DONE)
        TEST_FAIL_("lookup %s: %d", id, (int)st);
    ASSERT_INT_EQ(s.visits, 1);
    return s;
}

/* ---- descriptor and configuration -------------------------------------- */

TEST(descriptor)
{
    const plugin *p = plug();
    ASSERT_INT_EQ(p->desc->magic, VP_PLUGIN_MAGIC);
    ASSERT_INT_EQ(p->desc->abi_major, VP_ABI_MAJOR);
    ASSERT(p->desc->abi_minor <= VP_ABI_MINOR);
    ASSERT_INT_EQ(p->desc->size, sizeof(vp_plugin_t));
    ASSERT_STR_EQ(p->desc->name, "cache_memory");
    ASSERT_INT_EQ(p->ops->size, sizeof(vp_cache_ops_t));
    ASSERT_NOT_NULL(p->ops->create);
    ASSERT_NOT_NULL(p->ops->destroy);
    ASSERT_NOT_NULL(p->ops->lookup);
    ASSERT_NOT_NULL(p->ops->store);
    ASSERT_NOT_NULL(p->ops->find);
    ASSERT_NOT_NULL(p->ops->evict);
    ASSERT_NOT_NULL(p->ops->renewed);
    ASSERT_NOT_NULL(p->ops->stats);
    /* reconfigure came with ABI 1.1: the daemon uses it only from a plugin
     * that says so. */
    ASSERT(p->desc->abi_minor >= 1);
    ASSERT_NOT_NULL(p->ops->reconfigure);
    const vp_conf_field_t *f = p->prov->schema;
    ASSERT_STR_EQ(f[0].key, "max_entries");
    ASSERT_INT_EQ(f[0].type, VP_CONF_INT);
    ASSERT_INT_EQ(f[0].flags, 0);
    ASSERT_STR_EQ(f[0].default_value, "100000");
    ASSERT_STR_EQ(f[1].key, "max_bytes");
    ASSERT_INT_EQ(f[1].type, VP_CONF_INT);
    ASSERT_INT_EQ(f[1].flags, 0);
    ASSERT_STR_EQ(f[1].default_value, "268435456");
    ASSERT_NULL(f[2].key);
}

TEST(config_checked)
{
    int rc = 0;
    char err[1024];
    const char *const zero[] = {"max_entries", "0", NULL};
    ASSERT_NULL(try_make(zero, &rc, err, sizeof err));
    ASSERT_INT_EQ(rc, VP_EINVAL);
    ASSERT_STR_CONTAINS(err, "max_entries");
    const char *const neg[] = {"max_bytes", "-1", NULL};
    ASSERT_NULL(try_make(neg, &rc, err, sizeof err));
    ASSERT_INT_EQ(rc, VP_EINVAL);
    ASSERT_STR_CONTAINS(err, "max_bytes");
    const char *const text[] = {"max_bytes", "lots", NULL};
    ASSERT_NULL(try_make(text, &rc, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "max_bytes");
    const char *const unknown[] = {"max_size", "1", NULL};
    ASSERT_NULL(try_make(unknown, &rc, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "max_size");
    /* defaults and explicit values */
    done(make(NULL));
    const char *const both[] = {"max_entries", "5", "max_bytes", "100000",
                                NULL};
    done(make(both));
}

/* ---- store, lookup, replace -------------------------------------------- */

TEST(store_and_lookup)
{
    mock_instance *mi = make(NULL);
    char token[] = "hvs.secret-token";
    char resp[] = "HTTP/1.1 200 OK\r\n\r\n{\"auth\":{}}";
    vp_cache_entry_t e = {
        .size = sizeof e,
        .id = "id1",
        .namespace_ = "root/",
        .request_path = "/v1/auth/approle/login",
        .token = token,
        .token_accessor = "acc1",
        .response = {resp, sizeof resp}, /* with its NUL: bytes, not text */
        .last_renewed_ms = 1234,
        .ttl_ms = 5678,
    };
    ASSERT_INT_EQ(P.ops->store(&mi->pub, &e), VP_CONTINUE);
    /* everything was copied: changing the caller's buffers changes nothing */
    memset(token, 'x', sizeof token - 1);
    memset(resp, 'y', sizeof resp - 1);

    seen s = look(mi, "id1");
    ASSERT_STR_EQ(s.id, "id1");
    ASSERT_STR_EQ(s.token, "hvs.secret-token");
    ASSERT_INT_EQ(s.resp_len, sizeof resp);
    ASSERT(memcmp(s.resp, "HTTP/1.1 200 OK\r\n\r\n{\"auth\":{}}",
                  sizeof resp) == 0);
    ASSERT_INT_EQ(s.last_renewed_ms, 1234);
    ASSERT_INT_EQ(s.ttl_ms, 5678);
    ASSERT_INT_EQ(s.ptr->size, sizeof(vp_cache_entry_t));
    ASSERT(s.ptr->token != token);
    ASSERT_STR_EQ(s.ptr->namespace_, "root/");
    ASSERT_STR_EQ(s.ptr->request_path, "/v1/auth/approle/login");
    ASSERT_STR_EQ(s.ptr->token_accessor, "acc1");
    ASSERT_NULL(s.ptr->token_parent);
    ASSERT_NULL(s.ptr->lease);
    ASSERT_NULL(s.ptr->lease_token);
    /* lookup without a visitor is an existence check */
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "id1", NULL, NULL), VP_DONE);
    ASSERT_INT_EQ(n_entries(mi), 1);
    /* no secret reached the log */
    ASSERT(!strstr(mock_log_text(), "hvs.secret-token"));
    done(mi);
}

TEST(lookup_miss)
{
    mock_instance *mi = make(NULL);
    seen s;
    memset(&s, 0, sizeof s);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "nope", see, &s), VP_DECLINED);
    put(mi, (spec){.id = "a"});
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "nope", see, &s), VP_DECLINED);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "", see, &s), VP_DECLINED);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, NULL, see, &s), VP_DECLINED);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "A", see, &s), VP_DECLINED);
    ASSERT_INT_EQ(s.visits, 0);
    done(mi);
}

TEST(replace_same_id)
{
    mock_instance *mi = make(NULL);
    put(mi, (spec){.id = "k",
                   .token = "t-old",
                   .lease = "l-old",
                   .ns = "root/",
                   .path = "/v1/a",
                   .resp = "old"});
    uint64_t b1 = n_bytes(mi);
    put(mi, (spec){.id = "k",
                   .token = "t-new",
                   .ns = "ns1/",
                   .path = "/v1/b",
                   .resp = "a longer new response"});
    ASSERT_INT_EQ(n_entries(mi), 1);
    /* the difference: response, namespace, no lease (its bytes, its NUL
     * and its index slot) */
    ASSERT_INT_EQ(n_bytes(mi) - b1, strlen("a longer new response") -
                                        strlen("old") - 1 - strlen("l-old") -
                                        1 - 16);
    seen s = look(mi, "k");
    ASSERT_STR_EQ(s.token, "t-new");
    ASSERT_INT_EQ(s.resp_len, strlen("a longer new response"));
    /* the old values are gone from every index */
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "t-old", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE, "l-old", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", "root/"), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "t-new", NULL), "k");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", "ns1/"), "k");
    done(mi);
}

TEST(store_refuses_bad_entries)
{
    mock_instance *mi = make(NULL);
    ASSERT_INT_EQ(store(mi, (spec){.id = NULL, .token = "t"}), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "id");
    ASSERT_INT_EQ(store(mi, (spec){.id = ""}), VP_ERROR);
    vp_cache_entry_t e = entry_of(&(spec){.id = "x"});
    e.size = offsetof(vp_cache_entry_t, ttl_ms);
    ASSERT_INT_EQ(P.ops->store(&mi->pub, &e), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "ABI 1.0");
    e.size = sizeof e;
    e.response.ptr = NULL;
    e.response.len = 5;
    ASSERT_INT_EQ(P.ops->store(&mi->pub, &e), VP_ERROR);
    ASSERT_INT_EQ(P.ops->store(&mi->pub, NULL), VP_ERROR);
    ASSERT_INT_EQ(n_entries(mi), 0);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    done(mi);
}

/* A newer core passes a bigger struct: the plugin reads only the ABI 1.0
 * part and hands back entries of its own size. */
TEST(entry_from_newer_abi)
{
    mock_instance *mi = make(NULL);
    struct {
        vp_cache_entry_t v1;
        const char *future_field;
        uint64_t future_number;
    } big;
    memset(&big, 0, sizeof big);
    big.v1 = entry_of(&(spec){.id = "n", .lease = "L", .resp = "r"});
    big.v1.size = sizeof big;
    big.future_field = "something new";
    big.future_number = 42;
    ASSERT_INT_EQ(P.ops->store(&mi->pub, &big.v1), VP_CONTINUE);
    seen s = look(mi, "n");
    ASSERT_INT_EQ(s.ptr->size, sizeof(vp_cache_entry_t));
    ASSERT_STR_EQ(s.ptr->lease, "L");
    /* a bigger selector too */
    struct {
        vp_cache_selector_t v1;
        int future;
    } sel = {{sizeof sel, VP_CACHE_BY_LEASE, "L", NULL}, 7};
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel.v1, NULL, NULL), 1);
    ASSERT_INT_EQ(P.ops->evict(&mi->pub, &sel.v1), 1);
    done(mi);
}

/* ---- indexes ------------------------------------------------------------ */

/* The fixture of cachememdb's Get / GetByPrefix tests, plus neighbours
 * that must not match. */
static void
fixture(mock_instance *mi)
{
    put(mi, (spec){.id = "login",
                   .ns = "root/",
                   .path = "/v1/auth/approle/login",
                   .token = "hvs.login",
                   .acc = "acc-login",
                   .resp = "{}"});
    put(mi, (spec){.id = "child",
                   .ns = "root/",
                   .path = "/v1/auth/token/create",
                   .token = "hvs.child",
                   .acc = "acc-child",
                   .parent = "hvs.login",
                   .resp = "{}"});
    put(mi, (spec){.id = "lease1",
                   .ns = "root/",
                   .path = "/v1/kv/foo",
                   .lease = "kv/foo/1",
                   .ltoken = "hvs.login",
                   .resp = "{}"});
    put(mi, (spec){.id = "lease2",
                   .ns = "root/",
                   .path = "/v1/kv/foobar",
                   .lease = "kv/foobar/2",
                   .ltoken = "hvs.child",
                   .resp = "{}"});
    put(mi, (spec){.id = "lease3",
                   .ns = "ns1/",
                   .path = "/v1/kv/foo",
                   .lease = "kv/foo/3",
                   .ltoken = "hvs.login",
                   .resp = "{}"});
    /* an auto-auth token entry: no namespace, path or response */
    put(mi, (spec){.id = "auto", .token = "hvs.auto", .acc = ""});
}

TEST(find_by_each_index)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_ID, "lease2", NULL), "lease2");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_ID, "lease", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.child", NULL), "child");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.auto", NULL), "auto");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.chil", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN_ACCESSOR, "acc-login", NULL),
                  "login");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE, "kv/foo/3", NULL), "lease3");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE, "kv/foo", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.login", NULL),
                  "child");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.login", NULL),
                  "lease1,lease3");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.child", NULL),
                  "lease2");
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL),
                  "auto,child,lease1,lease2,lease3,login");
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, "ignored", "ignored"),
                  "auto,child,lease1,lease2,lease3,login");
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, "", NULL),
                  "auto,child,lease1,lease2,lease3,login");
    /* an empty or missing value matches nothing, even entries whose
     * value is "" (auto's accessor) */
    static const vp_cache_index_t idx[] = {
        VP_CACHE_BY_ID,         VP_CACHE_BY_REQUEST_PATH,
        VP_CACHE_BY_TOKEN,      VP_CACHE_BY_TOKEN_ACCESSOR,
        VP_CACHE_BY_LEASE,      VP_CACHE_BY_TOKEN_PARENT,
        VP_CACHE_BY_LEASE_TOKEN};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        ASSERT_STR_EQ(found(mi, idx[i], "", "root/"), "");
        ASSERT_STR_EQ(found(mi, idx[i], NULL, "root/"), "");
        ASSERT_INT_EQ(evict(mi, idx[i], "", "root/"), 0);
        ASSERT_INT_EQ(evict(mi, idx[i], NULL, "root/"), 0);
    }
    ASSERT_INT_EQ(n_entries(mi), 6);
    done(mi);
}

TEST(request_path_prefix_and_namespace)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv/foo", "root/"),
                  "lease1,lease2");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv/foobar", "root/"),
                  "lease2");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv/foo", "ns1/"),
                  "lease3");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", "root/"),
                  "child,lease1,lease2,login");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/", "root/"),
                  "child,lease1,lease2,login");
    /* no namespace means root/, as in the cache-clear API */
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv", NULL),
                  "lease1,lease2");
    /* the namespace is exact, never a prefix */
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", "ns1"), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", "ns2/"), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", ""), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv/foo/", "root/"),
                  "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "v1", "root/"), "");
    /* a namespace without a path is not in the index */
    put(mi, (spec){.id = "nopath", .ns = "root/", .token = "hvs.np"});
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/", "root/"),
                  "child,lease1,lease2,login");

    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv", "root/"), 2);
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL),
                  "auto,child,lease3,login,nopath");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv", "root/"), 0);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/", "ns1/"), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_REQUEST_PATH, "/", "root/"), 2);
    /* the auto-auth entry has no path: only ALL or its token finds it */
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "auto,nopath");
    done(mi);
}

TEST(evict_by_each_index)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "nope", NULL), 0);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "lease2", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "lease2", NULL), 0);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "lease2", NULL, NULL), VP_DECLINED);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.child", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/kv/", "root/"),
                  "lease1");

    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN, "hvs.auto", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN_ACCESSOR, "acc-child", NULL), 1);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.login", NULL), "");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "kv/foo/1", NULL), 1);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.login", NULL),
                  "lease3");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.login", NULL), 1);
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "login");
    ASSERT_INT_EQ(n_entries(mi), 1);
    /* the remaining entry is intact */
    seen s = look(mi, "login");
    ASSERT_STR_EQ(s.token, "hvs.login");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN_ACCESSOR, "acc-login", NULL),
                  "login");
    done(mi);
}

TEST(token_parent_with_many_children)
{
    mock_instance *mi = make(NULL);
    char id[32], tok[32];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "c%02d", i);
        snprintf(tok, sizeof tok, "hvs.c%02d", i);
        put(mi, (spec){.id = id,
                       .token = tok,
                       .parent = i % 2 ? "hvs.P" : "hvs.Q"});
    }
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "l%02d", i);
        snprintf(tok, sizeof tok, "lease/%02d", i);
        put(mi, (spec){.id = id, .lease = tok, .ltoken = "hvs.P"});
    }
    ASSERT_INT_EQ(count(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.P"), 25);
    /* remove some children one by one: from the head, middle and tail of
     * the parent's list */
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "c01", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN, "hvs.c25", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "c49", NULL), 1);
    const char *p = found(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.P", NULL);
    ASSERT(!strstr(p, "c01") && !strstr(p, "c25") && !strstr(p, "c49"));
    ASSERT_STR_CONTAINS(p, "c03,c05");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.P", NULL), 22);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.P", NULL), "");
    /* the other parent's children and P's leases survive */
    ASSERT_INT_EQ(count(mi, VP_CACHE_BY_TOKEN_PARENT, "hvs.Q"), 25);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.P", NULL),
                  "l00,l01,l02,l03,l04,l05,l06,l07,l08,l09");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.P", NULL), 10);
    ASSERT_INT_EQ(n_entries(mi), 25);
    done(mi);
}

/* The core should not store two entries with one token or lease, but a
 * cached renewal would: both stay findable and evictable. */
/* What a visit shows of the strings the store keeps in compact forms. */
typedef struct {
    char id[80], ns[64], path[400], lease[400];
} strings_seen;

static int
see_strings(void *arg, const vp_cache_entry_t *e)
{
    strings_seen *s = arg;
    snprintf(s->id, sizeof s->id, "%s", e->id);
    snprintf(s->ns, sizeof s->ns, "%s", e->namespace_ ? e->namespace_ : "-");
    snprintf(s->path, sizeof s->path, "%s",
             e->request_path ? e->request_path : "-");
    snprintf(s->lease, sizeof s->lease, "%s", e->lease ? e->lease : "-");
    return 0;
}

static strings_seen
strings_of(mock_instance *mi, const char *id)
{
    strings_seen s;
    memset(&s, 0, sizeof s);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, id, see_strings, &s), VP_DONE);
    return s;
}

/* Keys of 32 and 64 hex digits kept as bytes, the root namespace as a
 * flag, a lease's path as a reference to the lease: each reads back as it
 * was stored, is found by its indexes, and counts in `bytes` as if kept
 * whole. */
TEST(compact_forms_read_back_as_stored)
{
    mock_instance *mi = make(NULL);
    const char *k16 = "00112233445566778899aabbccddeeff";
    const char *k32 = "00112233445566778899aabbccddeeff"
                      "00112233445566778899aabbccddeeff";
    put(mi, (spec){.id = k16,
                   .ns = "root/",
                   .path = "/v1/database/creds/app",
                   .lease = "database/creds/app/abc",
                   .ltoken = "hvs.tok",
                   .resp = "r"});
    put(mi, (spec){.id = k32, .ns = "team/", .path = "/v1/kv/x", .token = "t"});
    put(mi, (spec){.id = "00112233445566778899aabbccddeeff00", .token = "u"});
    strings_seen a = strings_of(mi, k16);
    ASSERT_STR_EQ(a.id, k16);
    ASSERT_STR_EQ(a.ns, "root/");
    ASSERT_STR_EQ(a.path, "/v1/database/creds/app");
    ASSERT_STR_EQ(a.lease, "database/creds/app/abc");
    strings_seen b = strings_of(mi, k32);
    ASSERT_STR_EQ(b.id, k32);
    ASSERT_STR_EQ(b.ns, "team/");
    ASSERT_STR_EQ(b.path, "/v1/kv/x");
    ASSERT_STR_EQ(strings_of(mi, "00112233445566778899aabbccddeeff00").id,
                  "00112233445566778899aabbccddeeff00");
    ASSERT_INT_EQ(n_entries(mi), 3);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/database/", NULL),
                  k16);
    ASSERT_STR_EQ(
        found(mi, VP_CACHE_BY_REQUEST_PATH, "/v1/database/cre", "other/"), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE, "database/creds/app/abc", NULL),
                  k16);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, k16, NULL), 1);
    ASSERT_STR_EQ(strings_of(mi, k32).id, k32); /* the longer key stays */
    done(mi);

    /* The same lengths with nothing to share count the same bytes. */
    mock_instance *x = make(NULL);
    put(x, (spec){.id = "a",
                  .ns = "root/",
                  .path = "/v1/database/creds/app",
                  .lease = "database/creds/app/abc"});
    uint64_t shared = n_bytes(x);
    done(x);
    mock_instance *y = make(NULL);
    put(y, (spec){.id = "a",
                  .ns = "abcd/",
                  .path = "/v1/xxxxxxxxxxxxxxxxxx",
                  .lease = "database/creds/app/abc"});
    ASSERT_INT_EQ(n_bytes(y), shared);
    done(y);

    /* A path too long to keep by reference is kept whole. */
    char path[320], lease[320];
    memset(lease, 'p', 300);
    strcpy(lease + 300, "/id");
    snprintf(path, sizeof path, "/v1/%.300s", lease);
    mock_instance *z = make(NULL);
    put(z, (spec){.id = "long", .ns = "root/", .path = path, .lease = lease});
    strings_seen l = strings_of(z, "long");
    ASSERT_STR_EQ(l.path, path);
    ASSERT_STR_EQ(l.lease, lease);
    done(z);
}

TEST(duplicate_values_in_unique_indexes)
{
    mock_instance *mi = make(NULL);
    put(mi, (spec){.id = "login", .token = "hvs.T", .acc = "A"});
    put(mi, (spec){.id = "renew", .token = "hvs.T", .acc = "A"});
    put(mi, (spec){.id = "read", .lease = "L", .ltoken = "hvs.T"});
    put(mi, (spec){.id = "lrenew", .lease = "L", .ltoken = "hvs.T"});
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.T", NULL), "login,renew");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN_ACCESSOR, "A", NULL),
                  "login,renew");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE, "L", NULL), "lrenew,read");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "login", NULL), 1);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.T", NULL), "renew");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "L", NULL), 2);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN_ACCESSOR, "A", NULL), 1);
    ASSERT_INT_EQ(n_entries(mi), 0);
    done(mi);
}

TEST(evict_all)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "bulk%d", i);
        put(mi,
            (spec){.id = id, .ns = "root/", .path = "/v1/x", .resp = "data"});
    }
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, NULL, NULL), 1006);
    ASSERT_INT_EQ(n_entries(mi), 0);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "login", NULL, NULL), VP_DECLINED);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.login", NULL), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_REQUEST_PATH, "/", "root/"), "");
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, "x", NULL), 0);
    /* usable afterwards */
    fixture(mi);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.login", NULL),
                  "lease1,lease3");
    ASSERT_INT_EQ(n_entries(mi), 6);
    done(mi);
}

TEST(invalid_selectors)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    vp_cache_selector_t sel = {sizeof sel, (vp_cache_index_t)0, "x", NULL};
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel, collect, NULL), VP_EINVAL);
    ASSERT_STR_CONTAINS(mi->error, "index");
    ASSERT_INT_EQ(P.ops->evict(&mi->pub, &sel), VP_EINVAL);
    sel.index = (vp_cache_index_t)9;
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel, NULL, NULL), VP_EINVAL);
    ASSERT_INT_EQ(P.ops->evict(&mi->pub, &sel), VP_EINVAL);
    sel.index = (vp_cache_index_t)-1;
    ASSERT_INT_EQ(P.ops->evict(&mi->pub, &sel), VP_EINVAL);
    ASSERT_INT_EQ(P.ops->find(&mi->pub, NULL, NULL, NULL), VP_EINVAL);
    ASSERT_INT_EQ(P.ops->evict(&mi->pub, NULL), VP_EINVAL);
    sel.index = VP_CACHE_ALL;
    sel.size = sizeof sel - 1;
    ASSERT_INT_EQ(P.ops->evict(&mi->pub, &sel), VP_EINVAL);
    ASSERT_INT_EQ(n_entries(mi), 6);
    done(mi);
}

/* ---- visits ------------------------------------------------------------- */

static int
stop_after_two(void *arg, const vp_cache_entry_t *e)
{
    (void)e;
    return ++*(int *)arg == 2;
}

TEST(find_stops_when_told)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    int calls = 0;
    vp_cache_selector_t sel = {sizeof sel, VP_CACHE_ALL, NULL, NULL};
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel, stop_after_two, &calls), 2);
    ASSERT_INT_EQ(calls, 2);
    calls = 0;
    sel = (vp_cache_selector_t){sizeof sel, VP_CACHE_BY_LEASE_TOKEN,
                                "hvs.login", NULL};
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel, stop_after_two, &calls), 2);
    done(mi);
}

/* A visit that evicts (itself, others, everything) or stores: the
 * entry it holds stays readable for the rest of its call, and what was
 * removed is not visited afterwards.  valgrind checks the reads. */
typedef struct {
    mock_instance *mi;
    int visits;
    int mode;
    char first[64];
} reentry;

static int
reenter(void *arg, const vp_cache_entry_t *e)
{
    reentry *r = arg;
    if (r->visits++ == 0) {
        snprintf(r->first, sizeof r->first, "%s", e->id);
        char before[64];
        snprintf(before, sizeof before, "%s", e->id);
        size_t resp_len = e->response.len;
        switch (r->mode) {
        case 0:
            ASSERT_INT_EQ(evict(r->mi, VP_CACHE_ALL, NULL, NULL), 8);
            break;
        case 1:
            ASSERT_INT_EQ(evict(r->mi, VP_CACHE_BY_ID, e->id, NULL), 1);
            break;
        case 2:
            /* replace the visited entry */
            put(r->mi, (spec){.id = e->id,
                              .token = "hvs.replaced",
                              .resp = "a brand new, longer response"});
            break;
        }
        /* still the entry we were given */
        ASSERT_STR_EQ(e->id, before);
        ASSERT_INT_EQ(e->response.len, resp_len);
        if (resp_len)
            ASSERT(memcmp(e->response.ptr, "resp-", 5) == 0);
    }
    return 0;
}

TEST(evict_and_store_during_visits)
{
    char id[16];
    for (int mode = 0; mode < 3; mode++) {
        mock_instance *mi = make(NULL);
        for (int i = 0; i < 8; i++) {
            snprintf(id, sizeof id, "e%d", i);
            put(mi, (spec){.id = id,
                           .ltoken = "hvs.X",
                           .lease = id,
                           .resp = "resp-0123456789"});
        }
        reentry r = {.mi = mi, .mode = mode};
        vp_cache_selector_t sel = {sizeof sel, VP_CACHE_BY_LEASE_TOKEN, "hvs.X",
                                   NULL};
        int n = P.ops->find(&mi->pub, &sel, reenter, &r);
        switch (mode) {
        case 0: /* everything went: nothing more visited */
            ASSERT_INT_EQ(n, 1);
            ASSERT_INT_EQ(n_entries(mi), 0);
            break;
        case 1: /* only the visited one went */
            ASSERT_INT_EQ(n, 8);
            ASSERT_INT_EQ(n_entries(mi), 7);
            ASSERT_INT_EQ(P.ops->lookup(&mi->pub, r.first, NULL, NULL),
                          VP_DECLINED);
            break;
        case 2: /* the replacement is not visited, the others are */
            ASSERT_INT_EQ(n, 8);
            ASSERT_INT_EQ(n_entries(mi), 8);
            ASSERT_STR_EQ(look(mi, r.first).token, "hvs.replaced");
            char want[64] = "";
            for (int i = 0; i < 8; i++) {
                snprintf(id, sizeof id, "e%d", i);
                if (strcmp(id, r.first) == 0)
                    continue;
                if (want[0])
                    strcat(want, ",");
                strcat(want, id);
            }
            ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.X", NULL),
                          want);
            break;
        }
        /* lookup whose visit evicts the entry it is given */
        if (mode == 1) {
            snprintf(id, sizeof id, "e%d", r.first[1] == '0' ? 1 : 0);
            reentry r2 = {.mi = mi, .mode = 1};
            ASSERT_INT_EQ(P.ops->lookup(&mi->pub, id, reenter, &r2), VP_DONE);
            ASSERT_INT_EQ(n_entries(mi), 6);
        }
        done(mi);
    }
}

/* ---- limits ------------------------------------------------------------- */

TEST(limit_on_entries)
{
    const char *const conf[] = {"max_entries", "3", NULL};
    mock_instance *mi = make(conf);
    mock_log_clear();
    put(mi, (spec){.id = "a", .token = "hvs.a"});
    put(mi, (spec){.id = "b"});
    put(mi, (spec){.id = "c"});
    ASSERT_INT_EQ(store(mi, (spec){.id = "d", .token = "hvs.secret-d"}),
                  VP_DECLINED);
    ASSERT_INT_EQ(store(mi, (spec){.id = "e"}), VP_DECLINED);
    ASSERT_INT_EQ(P.ops->lookup(&mi->pub, "d", NULL, NULL), VP_DECLINED);
    ASSERT_STR_EQ(found(mi, VP_CACHE_BY_TOKEN, "hvs.secret-d", NULL), "");
    /* said once, without secrets */
    const char *log = mock_log_text();
    ASSERT_STR_CONTAINS(log, "WARN memory: cache full");
    ASSERT(!strstr(strstr(log, "cache full") + 1, "cache full"));
    ASSERT(!strstr(log, "hvs."));
    /* replacing an entry needs no room */
    put(mi, (spec){.id = "a", .token = "hvs.a2"});
    ASSERT_INT_EQ(n_entries(mi), 3);
    /* room again after an eviction */
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN, "hvs.a2", NULL), 1);
    put(mi, (spec){.id = "d"});
    ASSERT_INT_EQ(store(mi, (spec){.id = "e"}), VP_DECLINED);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, NULL, NULL), 3);
    put(mi, (spec){.id = "e"});
    put(mi, (spec){.id = "f"});
    put(mi, (spec){.id = "g"});
    ASSERT_INT_EQ(n_entries(mi), 3);
    done(mi);
}

TEST(limit_on_bytes)
{
    char big[1001], bigger[1501], small[11];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memset(bigger, 'B', sizeof bigger - 1);
    bigger[sizeof bigger - 1] = '\0';
    memset(small, 's', sizeof small - 1);
    small[sizeof small - 1] = '\0';

    /* what one entry costs */
    mock_instance *probe = make(NULL);
    put(probe, (spec){.id = "x0", .lease = "l0", .resp = big});
    uint64_t cost = n_bytes(probe);
    ASSERT(cost > sizeof big + 6);
    done(probe);

    /* room for two and a half */
    char limit[32];
    snprintf(limit, sizeof limit, "%llu",
             (unsigned long long)(cost * 2 + cost / 2));
    const char *const conf[] = {"max_bytes", limit, NULL};
    mock_instance *mi = make(conf);
    put(mi, (spec){.id = "x1", .lease = "l1", .resp = big});
    put(mi, (spec){.id = "x2", .lease = "l2", .resp = big});
    ASSERT_INT_EQ(n_bytes(mi), cost * 2);
    ASSERT_INT_EQ(store(mi, (spec){.id = "x3", .lease = "l3", .resp = big}),
                  VP_DECLINED);
    /* a replacement counts the difference: 500 more fits, 1500 does not */
    put(mi, (spec){.id = "x2", .lease = "l2", .resp = bigger});
    ASSERT_INT_EQ(n_bytes(mi), cost * 2 + 500);
    char huge[2000];
    memset(huge, 'H', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ASSERT_INT_EQ(store(mi, (spec){.id = "x1", .lease = "l1", .resp = huge}),
                  VP_DECLINED);
    /* the declined replacement left the old entry alone */
    ASSERT_INT_EQ(look(mi, "x1").resp_len, 1000);
    ASSERT_INT_EQ(n_entries(mi), 2);
    /* an entry bigger than the whole limit never fits */
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, NULL, NULL), 2);
    char *enormous = malloc(cost * 3);
    memset(enormous, 'E', cost * 3 - 1);
    enormous[cost * 3 - 1] = '\0';
    ASSERT_INT_EQ(store(mi, (spec){.id = "x9", .resp = enormous}), VP_DECLINED);
    free(enormous);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    /* and after evictions there is room again */
    put(mi, (spec){.id = "x1", .lease = "l1", .resp = big});
    put(mi, (spec){.id = "x4", .lease = "l4", .resp = big});
    ASSERT_INT_EQ(n_bytes(mi), cost * 2);
    done(mi);
}

/* ---- reconfigure (SIGHUP) ---------------------------------------------- */

/* What the core does on a reload: `next` is made from the new settings
 * (schema check and create), handed to reconfigure, then destroyed
 * whatever the answer. */
static int
reconfigure(mock_instance *mi, const char *const *pairs)
{
    mock_instance *next = make(pairs);
    int rc = P.ops->reconfigure(&mi->pub, &next->pub);
    P.ops->destroy(&next->pub);
    mock_instance_free(next);
    return rc;
}

TEST(reconfigure_raises_the_entry_limit)
{
    const char *const three[] = {"max_entries", "3", NULL};
    mock_instance *mi = make(three);
    put(mi, (spec){.id = "a", .lease = "la"});
    put(mi, (spec){.id = "b", .lease = "lb"});
    put(mi, (spec){.id = "c", .lease = "lc"});
    ASSERT_INT_EQ(store(mi, (spec){.id = "d"}), VP_DECLINED);
    const char *const five[] = {"max_entries", "5", NULL};
    ASSERT_INT_EQ(reconfigure(mi, five), 0);
    /* the same entries, and room for two more */
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "a,b,c");
    put(mi, (spec){.id = "d"});
    put(mi, (spec){.id = "e"});
    ASSERT_INT_EQ(store(mi, (spec){.id = "f"}), VP_DECLINED);
    ASSERT_INT_EQ(n_entries(mi), 5);
    done(mi);
}

TEST(reconfigure_below_the_size_keeps_every_entry)
{
    const char *const five[] = {"max_entries", "5", NULL};
    mock_instance *mi = make(five);
    const char *ids[] = {"a", "b", "c", "d", "e"};
    const char *leases[] = {"la", "lb", "lc", "ld", "le"};
    for (int i = 0; i < 5; i++)
        put(mi, (spec){.id = ids[i], .lease = leases[i], .resp = "r"});
    mock_log_clear();
    const char *const two[] = {"max_entries", "2", NULL};
    ASSERT_INT_EQ(reconfigure(mi, two), 0);
    /* Nothing dropped: the proxy renews these leases and must still find
     * them by lease (renewal results, revocations). */
    ASSERT_INT_EQ(n_entries(mi), 5);
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "a,b,c,d,e");
    for (int i = 0; i < 5; i++) {
        ASSERT_STR_EQ(found(mi, VP_CACHE_BY_LEASE, leases[i], NULL), ids[i]);
        ASSERT_INT_EQ(P.ops->renewed(&mi->pub, ids[i], 5000 + i, 7000), 0);
        ASSERT_INT_EQ(look(mi, ids[i]).last_renewed_ms, 5000 + i);
    }
    ASSERT_STR_CONTAINS(mock_log_text(), "above the new max_entries 2");
    /* New entries are declined, a replacement too (it would leave the
     * cache above the limit), and the declined one left the old alone. */
    ASSERT_INT_EQ(store(mi, (spec){.id = "f"}), VP_DECLINED);
    ASSERT_INT_EQ(store(mi, (spec){.id = "a", .resp = "new"}), VP_DECLINED);
    ASSERT_INT_EQ(look(mi, "a").resp_len, 1);
    ASSERT_STR_CONTAINS(mock_log_text(), "cache full");
    /* Evictions bring it down; at the limit still nothing new fits, below
     * it one does. */
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "la", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "lb", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "lc", NULL), 1);
    ASSERT_INT_EQ(store(mi, (spec){.id = "f"}), VP_DECLINED);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "ld", NULL), 1);
    put(mi, (spec){.id = "f"});
    ASSERT_INT_EQ(store(mi, (spec){.id = "g"}), VP_DECLINED);
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "e,f");
    done(mi);
}

TEST(reconfigure_below_the_bytes_keeps_every_entry)
{
    char big[1001];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mock_instance *mi = make(NULL);
    put(mi, (spec){.id = "x1", .lease = "l1", .resp = big});
    uint64_t cost = n_bytes(mi);
    put(mi, (spec){.id = "x2", .lease = "l2", .resp = big});
    put(mi, (spec){.id = "x3", .lease = "l3", .resp = big});
    ASSERT_INT_EQ(n_bytes(mi), cost * 3);
    /* room for one and a half */
    char limit[32];
    snprintf(limit, sizeof limit, "%llu",
             (unsigned long long)(cost + cost / 2));
    const char *const lower[] = {"max_bytes", limit, NULL};
    mock_log_clear();
    ASSERT_INT_EQ(reconfigure(mi, lower), 0);
    ASSERT_INT_EQ(n_entries(mi), 3);
    ASSERT_INT_EQ(n_bytes(mi), cost * 3);
    ASSERT_STR_CONTAINS(mock_log_text(), "above the new max_entries");
    ASSERT_INT_EQ(store(mi, (spec){.id = "y", .resp = "small"}), VP_DECLINED);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "l1", NULL), 1);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE, "l2", NULL), 1);
    put(mi, (spec){.id = "y", .resp = "small"});
    ASSERT_INT_EQ(store(mi, (spec){.id = "x4", .lease = "l4", .resp = big}),
                  VP_DECLINED);
    /* and raised again, everything fits */
    const char *const raise[] = {"max_bytes", "1000000", NULL};
    ASSERT_INT_EQ(reconfigure(mi, raise), 0);
    put(mi, (spec){.id = "x4", .lease = "l4", .resp = big});
    ASSERT_STR_EQ(found(mi, VP_CACHE_ALL, NULL, NULL), "x3,x4,y");
    done(mi);
}

TEST(reconfigure_says_full_again_under_new_limits)
{
    const char *const one[] = {"max_entries", "1", NULL};
    mock_instance *mi = make(one);
    put(mi, (spec){.id = "a"});
    mock_log_clear();
    ASSERT_INT_EQ(store(mi, (spec){.id = "b"}), VP_DECLINED);
    ASSERT_STR_CONTAINS(mock_log_text(), "max_entries 1,");
    const char *const two[] = {"max_entries", "2", NULL};
    ASSERT_INT_EQ(reconfigure(mi, two), 0);
    put(mi, (spec){.id = "b"});
    mock_log_clear();
    ASSERT_INT_EQ(store(mi, (spec){.id = "c"}), VP_DECLINED);
    ASSERT_STR_CONTAINS(mock_log_text(), "max_entries 2,");
    /* Settings equal to the running ones change nothing and say nothing. */
    mock_log_clear();
    ASSERT_INT_EQ(reconfigure(mi, two), 0);
    ASSERT_STR_EQ(mock_log_text(), "");
    ASSERT_INT_EQ(n_entries(mi), 2);
    done(mi);
}

/* ---- renewed and stats -------------------------------------------------- */

TEST(renewed_updates_the_entry)
{
    mock_instance *mi = make(NULL);
    fixture(mi);
    ASSERT_INT_EQ(P.ops->renewed(&mi->pub, "lease1", 99999, 3600000), 0);
    seen s = look(mi, "lease1");
    ASSERT_INT_EQ(s.last_renewed_ms, 99999);
    ASSERT_INT_EQ(s.ttl_ms, 3600000);
    /* the others did not change */
    s = look(mi, "lease2");
    ASSERT_INT_EQ(s.last_renewed_ms, 1000);
    ASSERT_INT_EQ(s.ttl_ms, 60000);
    ASSERT_INT_EQ(P.ops->renewed(&mi->pub, "nope", 1, 1), VP_ENOENT);
    ASSERT_INT_EQ(P.ops->renewed(&mi->pub, NULL, 1, 1), VP_ENOENT);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "lease1", NULL), 1);
    ASSERT_INT_EQ(P.ops->renewed(&mi->pub, "lease1", 1, 1), VP_ENOENT);
    done(mi);
}

TEST(stats_account_for_entries)
{
    mock_instance *mi = make(NULL);
    ASSERT_INT_EQ(n_entries(mi), 0);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    ASSERT_INT_EQ(P.ops->stats(&mi->pub, NULL, NULL), 0);
    char resp[600];
    memset(resp, 'r', sizeof resp - 1);
    resp[sizeof resp - 1] = '\0';
    spec s = {.id = "0123456789abcdef",
              .ns = "root/",
              .path = "/v1/kv/x",
              .lease = "kv/x/123",
              .ltoken = "hvs.tok",
              .resp = resp};
    put(mi, s);
    uint64_t one = n_bytes(mi);
    size_t payload = strlen(s.id) + strlen(s.ns) + strlen(s.path) +
                     strlen(s.lease) + strlen(s.ltoken) + strlen(resp);
    ASSERT(one > payload);
    ASSERT(one < payload + 512); /* per-entry overhead stays small */
    printf("# one entry: %zu bytes of payload, %llu accounted\n", payload,
           (unsigned long long)one);
    s.id = "another";
    put(mi, s);
    ASSERT_INT_EQ(n_entries(mi), 2);
    ASSERT_INT_EQ(n_bytes(mi),
                  2 * one - strlen("0123456789abcdef") + strlen("another"));
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, "another", NULL), 1);
    ASSERT_INT_EQ(n_bytes(mi), one);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE_TOKEN, "hvs.tok", NULL), 1);
    ASSERT_INT_EQ(n_entries(mi), 0);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    done(mi);
}

TEST(destroy_releases_everything)
{
    mock_instance *mi = make(NULL);
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "id%d", i);
        put(mi, (spec){.id = id,
                       .token = id,
                       .acc = id,
                       .lease = id,
                       .parent = "p",
                       .ltoken = "lt",
                       .ns = "root/",
                       .path = "/v1/x",
                       .resp = "secret body"});
    }
    ASSERT(mock_live_allocs() > 3000);
    done(mi); /* asserts nothing is left */
}

/* ---- a long random run against a reference model ------------------------ */

#define NIDS 10000

typedef struct {
    int present;
    char token[40], acc[40], parent[16], lease[48], ltoken[16];
    char ns[16], path[48];
    unsigned resp_len;
    unsigned char resp_seed;
    uint64_t renewed, ttl;
} model_entry;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
    /* xorshift64*: deterministic */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned
rnd(unsigned n)
{
    return (unsigned)(rng() % n);
}

static const char *const namespaces[] = {"root/", "ns1/", "ns1/ns2/"};
static const char *const paths[] = {"/v1/kv/a", "/v1/kv/ab", "/v1/secret/x",
                                    "/v1/auth/token/create",
                                    "/v1/database/creds/r"};
static const char *const prefixes[] = {
    "/v1/kv/a", "/v1/kv/", "/v1/", "/v1/auth", "/v1/database/creds/r1", "/v2"};

static model_entry *model;

/* Response bytes: resp(seed)[i] = seed + 7 i (mod 256), NULs included.
 * As 7 * 183 = 1 (mod 256), that is pattern[] from offset 183 seed. */
static unsigned char pattern[256 + 2048];

static const unsigned char *
resp_of(unsigned char seed)
{
    if (!pattern[1])
        for (unsigned j = 0; j < sizeof pattern; j++)
            pattern[j] = (unsigned char)(j * 7);
    return pattern + (seed * 183u) % 256u;
}

static void
id_of(unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "%08x%08x-%u", i * 2654435761u, i, i);
}

static void
model_store(mock_instance *mi, unsigned i, unsigned gen)
{
    model_entry *m = &model[i];
    memset(m, 0, sizeof *m);
    m->present = 1;
    if (rnd(100) < 35) {
        if (rnd(100) < 5)
            snprintf(m->token, sizeof m->token, "hvs.dup%u", rnd(20));
        else
            snprintf(m->token, sizeof m->token, "hvs.t%u.%u", i, gen);
        if (rnd(100) < 90)
            snprintf(m->acc, sizeof m->acc, "acc.%u.%u", i, gen);
        if (rnd(100) < 60)
            snprintf(m->parent, sizeof m->parent, "p%u", rnd(20));
    } else if (rnd(100) < 80) {
        snprintf(m->lease, sizeof m->lease, "kv/m%u/%u.%u", rnd(5), i, gen);
        snprintf(m->ltoken, sizeof m->ltoken, "lt%u", rnd(30));
    }
    if (rnd(100) < 95) {
        snprintf(m->ns, sizeof m->ns, "%s", namespaces[rnd(3)]);
        snprintf(m->path, sizeof m->path, "%s%u", paths[rnd(5)], rnd(10));
    }
    m->resp_len = rnd(100) < 5 ? 0 : rnd(2000);
    m->resp_seed = (unsigned char)rnd(256);
    m->renewed = rng() % 1000000;
    m->ttl = rng() % 1000000;

    char id[40];
    id_of(i, id, sizeof id);
    vp_cache_entry_t e = {
        .size = sizeof e,
        .id = id,
        .namespace_ = m->ns[0] ? m->ns : NULL,
        .request_path = m->path[0] ? m->path : NULL,
        .token = m->token[0] ? m->token : NULL,
        .token_accessor = m->acc[0] ? m->acc : NULL,
        .token_parent = m->parent[0] ? m->parent : NULL,
        .lease = m->lease[0] ? m->lease : NULL,
        .lease_token = m->ltoken[0] ? m->ltoken : NULL,
        .response = {(const char *)resp_of(m->resp_seed), m->resp_len},
        .last_renewed_ms = m->renewed,
        .ttl_ms = m->ttl,
    };
    ASSERT_INT_EQ(P.ops->store(&mi->pub, &e), VP_CONTINUE);
}

static int
opt_eq(const char *got, const char *want)
{
    return want[0] ? got && strcmp(got, want) == 0 : got == NULL;
}

static int
check_entry(void *arg, const vp_cache_entry_t *e)
{
    const model_entry *m = arg;
    if (!opt_eq(e->token, m->token) || !opt_eq(e->token_accessor, m->acc) ||
        !opt_eq(e->token_parent, m->parent) || !opt_eq(e->lease, m->lease) ||
        !opt_eq(e->lease_token, m->ltoken) || !opt_eq(e->namespace_, m->ns) ||
        !opt_eq(e->request_path, m->path) || e->last_renewed_ms != m->renewed ||
        e->ttl_ms != m->ttl || e->response.len != m->resp_len)
        TEST_FAIL_("entry %s differs from the model", e->id);
    if (memcmp(e->response.ptr, resp_of(m->resp_seed), m->resp_len) != 0)
        TEST_FAIL_("entry %s: response differs", e->id);
    return 0;
}

/* Does model entry m match a selector? */
static int
model_match(unsigned i, vp_cache_index_t index, const char *value,
            const char *ns)
{
    const model_entry *m = &model[i];
    char id[40];
    if (index == VP_CACHE_ALL)
        return 1;
    if (!value || !value[0])
        return 0;
    switch (index) {
    case VP_CACHE_BY_ID:
        id_of(i, id, sizeof id);
        return strcmp(id, value) == 0;
    case VP_CACHE_BY_TOKEN:
        return strcmp(m->token, value) == 0;
    case VP_CACHE_BY_TOKEN_ACCESSOR:
        return strcmp(m->acc, value) == 0;
    case VP_CACHE_BY_LEASE:
        return strcmp(m->lease, value) == 0;
    case VP_CACHE_BY_TOKEN_PARENT:
        return strcmp(m->parent, value) == 0;
    case VP_CACHE_BY_LEASE_TOKEN:
        return strcmp(m->ltoken, value) == 0;
    case VP_CACHE_BY_REQUEST_PATH:
        return m->ns[0] && strcmp(m->ns, ns) == 0 &&
               strncmp(m->path, value, strlen(value)) == 0;
    default:
        return 0;
    }
}

static int
model_count(vp_cache_index_t index, const char *value, const char *ns,
            int remove)
{
    int n = 0;
    unsigned from = 0, to = NIDS;
    if (index == VP_CACHE_BY_ID && value && strrchr(value, '-')) {
        /* an id names its model slot after the '-' */
        from = (unsigned)strtoul(strrchr(value, '-') + 1, NULL, 10);
        to = from < NIDS ? from + 1 : from;
    }
    for (unsigned i = from; i < to; i++) {
        if (model[i].present && model_match(i, index, value, ns)) {
            n++;
            if (remove)
                model[i].present = 0;
        }
    }
    return n;
}

static void
model_check_all(mock_instance *mi)
{
    int n = 0;
    char id[40];
    for (unsigned i = 0; i < NIDS; i++) {
        id_of(i, id, sizeof id);
        if (model[i].present) {
            n++;
            ASSERT_INT_EQ(P.ops->lookup(&mi->pub, id, check_entry, &model[i]),
                          VP_DONE);
        } else {
            ASSERT_INT_EQ(P.ops->lookup(&mi->pub, id, check_entry, NULL),
                          VP_DECLINED);
        }
    }
    ASSERT_INT_EQ(n_entries(mi), n);
    vp_cache_selector_t all = {sizeof all, VP_CACHE_ALL, NULL, NULL};
    ASSERT_INT_EQ(P.ops->find(&mi->pub, &all, NULL, NULL), n);
}

/* A random selector, mostly one that matches something. */
static vp_cache_selector_t
random_selector(char *buf, size_t len)
{
    vp_cache_selector_t sel = {sizeof sel, VP_CACHE_BY_ID, buf, NULL};
    unsigned i = rnd(NIDS);
    const model_entry *m = &model[i];
    switch (rnd(8)) {
    case 0:
        sel.index = VP_CACHE_BY_TOKEN;
        snprintf(buf, len, "%s", m->token[0] ? m->token : "hvs.dup3");
        break;
    case 1:
        sel.index = VP_CACHE_BY_TOKEN_ACCESSOR;
        snprintf(buf, len, "%s", m->acc);
        break;
    case 2:
        sel.index = VP_CACHE_BY_LEASE;
        snprintf(buf, len, "%s", m->lease);
        break;
    case 3:
        sel.index = VP_CACHE_BY_TOKEN_PARENT;
        snprintf(buf, len, "p%u", rnd(25));
        break;
    case 4:
        sel.index = VP_CACHE_BY_LEASE_TOKEN;
        snprintf(buf, len, "lt%u", rnd(35));
        break;
    case 5:
        sel.index = VP_CACHE_BY_REQUEST_PATH;
        sel.namespace_ = namespaces[rnd(3)];
        snprintf(buf, len, "%s%s", prefixes[rnd(6)], rnd(2) ? "" : "1");
        break;
    default:
        sel.index = VP_CACHE_BY_ID;
        id_of(i, buf, len);
        break;
    }
    return sel;
}

TEST(random_run_against_a_model)
{
    model = calloc(NIDS, sizeof *model);
    mock_instance *mi = make(NULL);
    unsigned gen = 0;
    char id[40], value[64];
    /* fill up */
    for (unsigned i = 0; i < NIDS; i++)
        model_store(mi, i, gen++);
    model_check_all(mi);
    uint64_t full_bytes = n_bytes(mi);

    for (int op = 0; op < 30000; op++) {
        unsigned r = rnd(100);
        if (r < 60) {
            model_store(mi, rnd(NIDS), gen++);
        } else if (r < 70) {
            unsigned i = rnd(NIDS);
            id_of(i, id, sizeof id);
            ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_ID, id, NULL),
                          model[i].present);
            model[i].present = 0;
        } else if (r < 80) {
            vp_cache_selector_t sel = random_selector(value, sizeof value);
            int want = model_count(sel.index, sel.value, sel.namespace_, 0);
            ASSERT_INT_EQ(P.ops->find(&mi->pub, &sel, NULL, NULL), want);
            /* visiting gives the same count and the model's entries */
            ASSERT_INT_EQ(
                P.ops->find(&mi->pub, &sel, collect, &(idlist){.n = 0}), want);
        } else if (r < 83) {
            vp_cache_selector_t sel = random_selector(value, sizeof value);
            if (sel.index == VP_CACHE_BY_REQUEST_PATH && rnd(16))
                continue; /* path clears empty the cache fast */
            int want = model_count(sel.index, sel.value, sel.namespace_, 1);
            ASSERT_INT_EQ(P.ops->evict(&mi->pub, &sel), want);
        } else if (r < 93) {
            unsigned i = rnd(NIDS);
            id_of(i, id, sizeof id);
            uint64_t at = rng() % 1000000, ttl = rng() % 1000000;
            ASSERT_INT_EQ(P.ops->renewed(&mi->pub, id, at, ttl),
                          model[i].present ? 0 : VP_ENOENT);
            if (model[i].present) {
                model[i].renewed = at;
                model[i].ttl = ttl;
            }
        } else {
            unsigned i = rnd(NIDS);
            id_of(i, id, sizeof id);
            ASSERT_INT_EQ(P.ops->lookup(&mi->pub, id, check_entry, &model[i]),
                          model[i].present ? VP_DONE : VP_DECLINED);
        }
        if (op % 10000 == 9999)
            model_check_all(mi);
    }
    model_check_all(mi);
    uint64_t n = n_entries(mi);
    printf("# %llu entries left, %llu bytes (full: %llu)\n",
           (unsigned long long)n, (unsigned long long)n_bytes(mi),
           (unsigned long long)full_bytes);
    ASSERT(n > 1000);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, NULL, NULL), n);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    free(model);
    done(mi);
}

/* ---- memory per entry ---------------------------------------------------- */

static long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(memory_per_entry)
{
    const char *bench = getenv("VP_CACHE_BENCH");
    long n = bench && atol(bench) > 0 ? atol(bench) : 2000;
    const char *const conf[] = {"max_entries", "10000000", "max_bytes",
                                "100000000000", NULL};
    char resp[1024];
    memset(resp, 'j', sizeof resp - 1);
    resp[sizeof resp - 1] = '\0';
    char id[80], path[64], lease[80];
    const char *tok = "hvs.CAESIJlWh0NKCpQ9pYhnq2tMnE8sK9oCrGwYxqB8kGL-"
                      "Yd6KGh4KHGh2cy5Ld3R5VmlOWmRjdVBQQUh3dGZ2WGhN";
    long rss0 = rss_kib();
    mock_instance *mi = make(conf);
    size_t payload = 0;
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%016lx%016lx%016lx%016lx",
                 i * 0x9e3779b97f4a7c15UL, i, ~i, i * 31);
        snprintf(path, sizeof path, "/v1/database/creds/role-%ld", i % 100);
        snprintf(lease, sizeof lease, "database/creds/role-%ld/%022lx", i % 100,
                 i * 0x2545f4914f6cdd1dUL);
        spec s = {.id = id,
                  .ns = "root/",
                  .path = path,
                  .lease = lease,
                  .ltoken = tok,
                  .resp = resp};
        put(mi, s);
        payload += strlen(id) + strlen(s.ns) + strlen(path) + strlen(lease) +
                   strlen(tok) + strlen(resp);
    }
    long rss1 = rss_kib();
    uint64_t bytes = n_bytes(mi);
    ASSERT_INT_EQ(n_entries(mi), n);
    printf("# %ld entries, 1 KiB responses: payload %zu bytes/entry, "
           "accounted %llu bytes/entry (%.1f MiB total)\n",
           n, payload / (size_t)n, (unsigned long long)(bytes / (uint64_t)n),
           (double)bytes / 1048576.0);
    if (rss0 >= 0 && rss1 >= 0)
        printf("# RSS grew by %ld KiB: %ld bytes/entry\n", rss1 - rss0,
               (rss1 - rss0) * 1024 / n);
    ASSERT(bytes / (uint64_t)n < payload / (size_t)n + 400);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, NULL, NULL), n);
    done(mi);
}

/* Strings many entries share (a lease token repeated by every lease it
 * obtained, a long namespace, a parent token) are kept once: the live
 * allocations grow by one per entry, not one per copy; every entry still
 * reads its own values, indexes by them, and the shared copies go with
 * the last entry that uses them.  The byte statistic is unchanged. */
TEST(shared_strings_are_kept_once)
{
    const char *ltok = "hvs.CAESIJlWh0NKCpQ9pYhnq2tMnE8sK9oCrGwYxqB8kGL-"
                       "Yd6KGh4KHGh2cy5Ld3R5VmlOWmRjdVBQQUh3dGZ2WGhN";
    const char *ns = "team-payments/prod-eu-west-1/";
    const char *parent = "hvs.CAESIParentTokenOfManyChildTokensxxxxxxxxxx";
    const char *const conf[] = {"max_entries", "1000", NULL};
    /* What one lease entry accounts when it is alone. */
    mock_instance *one = make(conf);
    put(one, (spec){.id = "lease-0",
                    .ns = ns,
                    .path = "/v1/database/creds/app",
                    .lease = "database/creds/app/0",
                    .ltoken = ltok,
                    .resp = "r"});
    uint64_t single = n_bytes(one);
    done(one);
    mock_instance *mi = make(conf);
    char id[32], lease[48], tok[32];
    /* Tables grown for the entries to come first (these stay), so that
     * the heap growth below is the entries'. */
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "warm-%d", i);
        put(mi, (spec){.id = id,
                       .lease = id,
                       .ltoken = id,
                       .token = id,
                       .parent = id,
                       .resp = "w"});
    }
    long live0 = mock_live_allocs();
    size_t heap0 = mallinfo2().uordblks, inline_bytes = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "lease-%d", i);
        snprintf(lease, sizeof lease, "database/creds/app/%d", i);
        put(mi, (spec){.id = id,
                       .ns = ns,
                       .path = "/v1/database/creds/app",
                       .lease = lease,
                       .ltoken = ltok,
                       .resp = "r"});
        inline_bytes += strlen(id) + strlen(ns) + strlen(lease) + strlen(ltok) +
                        strlen("/v1/database/creds/app") + 6;
    }
    size_t per_lease = (mallinfo2().uordblks - heap0) / 100;
    printf("# a lease entry with a %zu-byte lease token and a %zu-byte "
           "namespace takes %zu heap bytes; its strings alone are %zu\n",
           strlen(ltok), strlen(ns), per_lease, inline_bytes / 100);
    /* Header, links and malloc overhead are about 90 bytes: had the token
     * and the namespace been copied, the entry would be bigger than its
     * strings. */
    ASSERT(per_lease < inline_bytes / 100);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "child-%d", i);
        snprintf(tok, sizeof tok, "hvs.child-token-%d", i);
        put(mi, (spec){.id = id,
                       .ns = ns,
                       .path = "/v1/auth/token/create",
                       .token = tok,
                       .parent = parent,
                       .resp = "t"});
    }
    /* One allocation per entry, plus one per distinct shared string. */
    ASSERT_INT_EQ(mock_live_allocs() - live0, 200 + 3);
    uint64_t bytes = n_bytes(mi);
    ASSERT_INT_EQ(found(mi, VP_CACHE_BY_LEASE_TOKEN, ltok, NULL)[0] != '\0', 1);
    ASSERT_INT_EQ(
        P.ops->find(&mi->pub,
                    &(vp_cache_selector_t){sizeof(vp_cache_selector_t),
                                           VP_CACHE_BY_LEASE_TOKEN, ltok, NULL},
                    NULL, NULL),
        100);
    ASSERT_INT_EQ(P.ops->find(&mi->pub,
                              &(vp_cache_selector_t){
                                  sizeof(vp_cache_selector_t),
                                  VP_CACHE_BY_REQUEST_PATH, "/v1/auth/", ns},
                              NULL, NULL),
                  100);
    seen s = look(mi, "lease-42");
    ASSERT_STR_EQ(s.ptr->lease_token, ltok);
    ASSERT_STR_EQ(s.ptr->namespace_, ns);
    ASSERT_STR_EQ(s.ptr->lease, "database/creds/app/42");
    s = look(mi, "child-7");
    ASSERT_STR_EQ(s.ptr->token_parent, parent);
    /* Shared strings count as if inline: 100 leases account 100 times
     * what one did (the children come on top). */
    ASSERT(bytes > 100 * single);
    /* Replacing and evicting keeps the counts right to the end. */
    put(mi, (spec){.id = "lease-1",
                   .ns = "root/",
                   .path = "/v1/x",
                   .lease = "other",
                   .ltoken = "hvs.another-long-token-here",
                   .resp = "r2"});
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_TOKEN_PARENT, parent, NULL), 100);
    ASSERT_INT_EQ(evict(mi, VP_CACHE_BY_LEASE_TOKEN, ltok, NULL), 99);
    ASSERT_INT_EQ(n_entries(mi), 301);
    s = look(mi, "lease-1");
    ASSERT_STR_EQ(s.ptr->lease_token, "hvs.another-long-token-here");
    ASSERT_INT_EQ(evict(mi, VP_CACHE_ALL, NULL, NULL), 301);
    ASSERT_INT_EQ(n_bytes(mi), 0);
    done(mi);
}

int
main(void)
{
    return RUN_TESTS(
        T(descriptor), T(config_checked), T(store_and_lookup), T(lookup_miss),
        T(replace_same_id), T(store_refuses_bad_entries),
        T(entry_from_newer_abi), T(find_by_each_index),
        T(request_path_prefix_and_namespace), T(evict_by_each_index),
        T(token_parent_with_many_children),
        T(compact_forms_read_back_as_stored),
        T(duplicate_values_in_unique_indexes), T(evict_all),
        T(invalid_selectors), T(find_stops_when_told),
        T(evict_and_store_during_visits), T(limit_on_entries),
        T(limit_on_bytes), T(reconfigure_raises_the_entry_limit),
        T(reconfigure_below_the_size_keeps_every_entry),
        T(reconfigure_below_the_bytes_keeps_every_entry),
        T(reconfigure_says_full_again_under_new_limits),
        T(renewed_updates_the_entry), T(stats_account_for_entries),
        T(destroy_releases_everything), T(random_run_against_a_model),
        T(memory_per_entry), T(shared_strings_are_kept_once));
}
