/* The lease cache through its narrow interface (cache/lease_cache.h), on
 * the shipped "memory" store: answers kept per token and never served to
 * another token, cache-clear by every selector type, and coalescing of
 * identical misses (one goes upstream, the others wait for its answer,
 * unless the key's last answer was relayed uncached).
 * The loop never runs: renewals the cache starts are left unsent. */
#include "autoconf.h"

#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cache/cache_key.h"
#include "cache/lease_cache.h"
#include "cache/persist.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"

typedef struct {
    uv_loop_t loop;
    vpd_registry reg;
    vpd_instance *store;
    vpd_fwd *fwd;
    vpd_token_holder holder;
    vpd_lease_cache *lc;
} fixture;

static void
setup(fixture *f)
{
    memset(f, 0, sizeof *f);
    char err[1024];
    uv_loop_init(&f->loop);
    ASSERT_INT_EQ(vpd_plugins_load_dir(&f->reg, VP_BUILD_PLUGINDIR,
                                       vpd_host_api(), err, sizeof err),
                  0);
    f->store = vpd_instance_new(&f->reg, VP_KIND_CACHE, "memory", NULL, NULL, 0,
                                "test", err, sizeof err);
    ASSERT_NOT_NULL(f->store);
    /* Nothing listens there; renewals never leave the unrun loop anyway. */
    vpd_vault_config vault = {.address = "http://127.0.0.1:1"};
    f->fwd = vpd_fwd_new(&f->loop, &vault, err, sizeof err);
    ASSERT_NOT_NULL(f->fwd);
    f->lc = vpd_lease_cache_new(&f->loop, f->store, f->fwd, &f->holder, false);
    ASSERT_NOT_NULL(f->lc);
}

/* A client request as the router hands it over. */
typedef struct {
    vpd_http_req http;
    vp_req_t r;
    char target[256];
} request;

static void
request_init(request *q, const char *method, const char *target,
             const char *body, const char *token)
{
    memset(q, 0, sizeof *q);
    snprintf(q->http.method, sizeof q->http.method, "%s", method);
    snprintf(q->target, sizeof q->target, "%s", target);
    q->http.target = q->target;
    q->http.path = q->target;
    q->http.query = "";
    q->http.body = (char *)body;
    q->http.body_len = strlen(body);
    q->r.http = &q->http;
    q->r.token = (char *)token;
}

/* An upstream answer: JSON, status 200. */
static void
answer_init(vpd_fwd_resp *resp, const char *body)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 200;
    resp->attempts = 1;
    resp->body = (char *)body;
    resp->body_len = strlen(body);
    vpd_hdrs_add(&resp->headers, "Content-Type", "application/json");
}

#define ORPHAN_TOKEN                                                           \
    "{\"auth\":{\"client_token\":\"child-1\",\"accessor\":\"acc-1\","          \
    "\"renewable\":true,\"orphan\":true,\"lease_duration\":3600}}"
#define LEASED_SECRET                                                          \
    "{\"lease_id\":\"db/creds/ro/abc\",\"renewable\":true,"                    \
    "\"lease_duration\":600,\"data\":{\"password\":\"p\"}}"

/* What a lookup's callback saw. */
typedef struct {
    int calls;
    bool hit;
    int status;
    char body[512];
} outcome;

static void
on_lookup(void *arg, vpd_lc_hit *hit)
{
    outcome *o = arg;
    o->calls++;
    o->hit = hit != NULL;
    if (hit) {
        o->status = hit->status;
        snprintf(o->body, sizeof o->body, "%.*s", (int)hit->body_len,
                 hit->body);
        vpd_lc_hit_free(hit);
    }
}

/* A miss forwarded and answered with body: the cache decides what it
 * keeps. */
static void
miss_then_answer(fixture *f, request *q, const char *body)
{
    outcome o = {0};
    vpd_lc_pending *slot = NULL;
    vpd_lc_lookup(f->lc, &q->r, &slot, on_lookup, &o);
    ASSERT_INT_EQ(o.calls, 1);
    ASSERT(!o.hit);
    ASSERT_NOT_NULL(slot);
    vpd_fwd_resp resp;
    answer_init(&resp, body);
    vpd_lc_settle(f->lc, &slot, &q->r, &resp);
    ASSERT_NULL(slot);
    vpd_hdrs_free(&resp.headers);
}

/* Looks q up and settles at once; returns whether it was a hit. */
static bool
is_hit(fixture *f, request *q, outcome *o)
{
    memset(o, 0, sizeof *o);
    vpd_lc_pending *slot = NULL;
    vpd_lc_lookup(f->lc, &q->r, &slot, on_lookup, o);
    ASSERT_INT_EQ(o->calls, 1);
    vpd_lc_settle(f->lc, &slot, &q->r, NULL);
    return o->hit;
}

TEST(a_kept_answer_is_served_to_its_token_only)
{
    fixture f;
    setup(&f);
    request q;
    request_init(&q, "POST", "/v1/auth/token/create-orphan", "{}", "parent-A");
    miss_then_answer(&f, &q, ORPHAN_TOKEN);
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->stored, 1);
    outcome o;
    ASSERT(is_hit(&f, &q, &o));
    ASSERT_INT_EQ(o.status, 200);
    ASSERT_STR_CONTAINS(o.body, "child-1");
    request other;
    request_init(&other, "POST", "/v1/auth/token/create-orphan", "{}",
                 "parent-B");
    ASSERT(!is_hit(&f, &other, &o));
    request none;
    request_init(&none, "POST", "/v1/auth/token/create-orphan", "{}", "");
    ASSERT(!is_hit(&f, &none, &o));
}

TEST(an_unrenewable_answer_is_not_kept)
{
    fixture f;
    setup(&f);
    request q;
    request_init(&q, "GET", "/v1/secret/data/x", "", "parent-A");
    miss_then_answer(&f, &q, "{\"data\":{\"v\":1},\"renewable\":false}");
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->stored, 0);
    outcome o;
    ASSERT(!is_hit(&f, &q, &o));
}

/* The scan that spares most answers a JSON parse must still find
 * "renewable": true when the server spaces or indents its JSON. */
TEST(a_spaced_renewable_answer_is_still_kept)
{
    fixture f;
    setup(&f);
    request q;
    request_init(&q, "POST", "/v1/auth/token/create-orphan", "{}", "parent-A");
    miss_then_answer(&f, &q,
                     "{\n  \"renewable\" : false,\n  \"auth\": {\n"
                     "    \"client_token\": \"child-9\",\n"
                     "    \"accessor\": \"acc-9\",\n"
                     "    \"renewable\"\t:\r\n true,\n"
                     "    \"orphan\": true,\n"
                     "    \"lease_duration\": 3600\n  }\n}\n");
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->stored, 1);
    outcome o;
    ASSERT(is_hit(&f, &q, &o));
    ASSERT_STR_CONTAINS(o.body, "child-9");
}

/* The orphan token child-1 (accessor acc-1), and a lease obtained with it,
 * which is kept because child-1 is now a managed token. */
static void
fill(fixture *f, request *token_req, request *lease_req)
{
    request_init(token_req, "POST", "/v1/auth/token/create-orphan", "{}",
                 "parent-A");
    miss_then_answer(f, token_req, ORPHAN_TOKEN);
    request_init(lease_req, "GET", "/v1/db/creds/ro", "", "child-1");
    miss_then_answer(f, lease_req, LEASED_SECRET);
    ASSERT_INT_EQ(vpd_lc_counters_get(f->lc)->stored, 2);
}

static int
clear(fixture *f, vpd_lc_clear_type type, const char *value, const char *ns)
{
    vpd_lc_selector sel = {type, value, ns};
    return vpd_lc_clear(f->lc, &sel);
}

TEST(clear_by_lease_takes_that_entry_only)
{
    fixture f;
    setup(&f);
    request t, l;
    fill(&f, &t, &l);
    outcome o;
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_LEASE, "db/creds/ro/nope", NULL), 0);
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_LEASE, "db/creds/ro/abc", NULL), 1);
    ASSERT(!is_hit(&f, &l, &o));
    ASSERT(is_hit(&f, &t, &o));
}

TEST(clear_by_token_takes_its_leases_too)
{
    fixture f;
    setup(&f);
    request t, l;
    fill(&f, &t, &l);
    outcome o;
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_TOKEN, "child-1", NULL), 1);
    ASSERT(!is_hit(&f, &t, &o));
    ASSERT(!is_hit(&f, &l, &o));
}

TEST(clear_by_token_accessor)
{
    fixture f;
    setup(&f);
    request t, l;
    fill(&f, &t, &l);
    outcome o;
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_TOKEN_ACCESSOR, "acc-2", NULL), 0);
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_TOKEN_ACCESSOR, "acc-1", NULL), 1);
    ASSERT(!is_hit(&f, &t, &o));
    ASSERT(!is_hit(&f, &l, &o));
}

TEST(clear_by_request_path_in_a_namespace)
{
    fixture f;
    setup(&f);
    request t, l;
    fill(&f, &t, &l);
    outcome o;
    ASSERT_INT_EQ(
        clear(&f, VPD_LC_CLEAR_REQUEST_PATH, "/v1/db/creds/ro", "other/"), 0);
    /* No namespace is the root namespace, where both were kept. */
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_REQUEST_PATH, "/v1/db/creds/ro", ""),
                  1);
    ASSERT(!is_hit(&f, &l, &o));
    ASSERT(is_hit(&f, &t, &o));
}

TEST(clear_all_and_missing_values)
{
    fixture f;
    setup(&f);
    request t, l;
    fill(&f, &t, &l);
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_TOKEN, "", NULL),
                  VPD_LC_CLEAR_NO_VALUE);
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_LEASE, NULL, NULL),
                  VPD_LC_CLEAR_NO_VALUE);
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_ALL, NULL, NULL), 2);
    outcome o;
    ASSERT(!is_hit(&f, &t, &o));
    ASSERT(!is_hit(&f, &l, &o));
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_ALL, NULL, NULL), 0);
}

TEST(identical_misses_wait_for_the_first_and_get_its_answer)
{
    fixture f;
    setup(&f);
    request q[3];
    outcome o[3] = {{0}};
    vpd_lc_pending *slot[3] = {NULL};
    for (int i = 0; i < 3; i++) {
        request_init(&q[i], "POST", "/v1/auth/token/create-orphan", "{}",
                     "parent-A");
        vpd_lc_lookup(f.lc, &q[i].r, &slot[i], on_lookup, &o[i]);
        ASSERT_NOT_NULL(slot[i]);
    }
    /* Only the first goes upstream; the others wait. */
    ASSERT_INT_EQ(o[0].calls, 1);
    ASSERT(!o[0].hit);
    ASSERT_INT_EQ(o[1].calls, 0);
    ASSERT_INT_EQ(o[2].calls, 0);
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->misses, 1);
    /* The router may abandon the first one's upstream call only if nobody
     * waits for it; the waiters themselves forward nothing. */
    ASSERT(vpd_lc_has_waiters(slot[0]));
    ASSERT(!vpd_lc_has_waiters(slot[1]));
    ASSERT(!vpd_lc_has_waiters(NULL));
    vpd_fwd_resp resp;
    answer_init(&resp, ORPHAN_TOKEN);
    vpd_lc_settle(f.lc, &slot[0], &q[0].r, &resp);
    vpd_hdrs_free(&resp.headers);
    for (int i = 1; i < 3; i++) {
        ASSERT_INT_EQ(o[i].calls, 1);
        ASSERT(o[i].hit);
        ASSERT_STR_CONTAINS(o[i].body, "child-1");
        ASSERT_NULL(slot[i]);
    }
}

TEST(a_request_for_another_token_does_not_wait)
{
    fixture f;
    setup(&f);
    request a, b;
    outcome oa = {0}, ob = {0};
    vpd_lc_pending *sa = NULL, *sb = NULL;
    request_init(&a, "POST", "/v1/auth/token/create-orphan", "{}", "parent-A");
    request_init(&b, "POST", "/v1/auth/token/create-orphan", "{}", "parent-B");
    vpd_lc_lookup(f.lc, &a.r, &sa, on_lookup, &oa);
    vpd_lc_lookup(f.lc, &b.r, &sb, on_lookup, &ob);
    ASSERT_INT_EQ(oa.calls, 1);
    ASSERT_INT_EQ(ob.calls, 1);
    ASSERT(!ob.hit);
    ASSERT(!vpd_lc_has_waiters(sa));
    vpd_lc_settle(f.lc, &sa, &a.r, NULL);
    vpd_lc_settle(f.lc, &sb, &b.r, NULL);
}

TEST(waiters_of_a_request_that_gave_up_go_upstream_themselves)
{
    fixture f;
    setup(&f);
    request q[3];
    outcome o[3] = {{0}};
    vpd_lc_pending *slot[3] = {NULL};
    for (int i = 0; i < 3; i++) {
        request_init(&q[i], "POST", "/v1/auth/token/create-orphan", "{}",
                     "parent-A");
        vpd_lc_lookup(f.lc, &q[i].r, &slot[i], on_lookup, &o[i]);
    }
    /* The third waiter's client leaves: it just stops waiting. */
    vpd_lc_settle(f.lc, &slot[2], &q[2].r, NULL);
    ASSERT_NULL(slot[2]);
    vpd_lc_settle(f.lc, &slot[0], &q[0].r, NULL);
    ASSERT_INT_EQ(o[1].calls, 1);
    ASSERT(!o[1].hit);
    ASSERT_NOT_NULL(slot[1]); /* it forwards now, and must settle */
    ASSERT_INT_EQ(o[2].calls, 0);
    /* A woken request does not gather waiters: a new identical lookup
     * forwards in parallel instead of queueing behind it. */
    request late;
    outcome ol = {0};
    vpd_lc_pending *sl = NULL;
    request_init(&late, "POST", "/v1/auth/token/create-orphan", "{}",
                 "parent-A");
    vpd_lc_lookup(f.lc, &late.r, &sl, on_lookup, &ol);
    ASSERT_INT_EQ(ol.calls, 1);
    ASSERT(!ol.hit);
    vpd_lc_settle(f.lc, &slot[1], &q[1].r, NULL);
    vpd_lc_settle(f.lc, &sl, &late.r, NULL);
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->misses, 3);
}

#define KV_READ "{\"data\":{\"v\":1},\"renewable\":false}"

static void
twins(request q[2], const char *method, const char *target, const char *body,
      const char *token)
{
    request_init(&q[0], method, target, body, token);
    request_init(&q[1], method, target, body, token);
}

/* Two identical lookups at once: says whether the second waited for the
 * first.  Both are left pending in slot[0] and slot[1]. */
static bool
second_waits(fixture *f, request q[2], outcome o[2], vpd_lc_pending *slot[2])
{
    for (int i = 0; i < 2; i++) {
        memset(&o[i], 0, sizeof o[i]);
        slot[i] = NULL;
        vpd_lc_lookup(f->lc, &q[i].r, &slot[i], on_lookup, &o[i]);
    }
    ASSERT_INT_EQ(o[0].calls, 1);
    ASSERT(!o[0].hit);
    return o[1].calls == 0;
}

static void
settle_with(fixture *f, request *q, vpd_lc_pending **slot, int status,
            const char *body)
{
    vpd_fwd_resp resp;
    answer_init(&resp, body);
    resp.status = status;
    vpd_lc_settle(f->lc, slot, &q->r, &resp);
    ASSERT_NULL(*slot);
    vpd_hdrs_free(&resp.headers);
}

/* A KV read is never kept: once one answer was relayed uncached, identical
 * reads are forwarded side by side instead of each waiting one round trip
 * for an answer it cannot use. */
TEST(identical_reads_of_an_uncached_answer_go_upstream_at_once)
{
    fixture f;
    setup(&f);
    request q[2];
    outcome o[2];
    vpd_lc_pending *slot[2];
    twins(q, "GET", "/v1/secret/data/x", "", "parent-A");
    /* Nothing known of the key yet: the second waits, then forwards. */
    ASSERT(second_waits(&f, q, o, slot));
    settle_with(&f, &q[0], &slot[0], 200, KV_READ);
    ASSERT_INT_EQ(o[1].calls, 1);
    ASSERT(!o[1].hit);
    settle_with(&f, &q[1], &slot[1], 200, KV_READ);
    /* Now both go at once, and a third meanwhile does not wait either. */
    ASSERT(!second_waits(&f, q, o, slot));
    ASSERT(!o[1].hit);
    ASSERT(!vpd_lc_has_waiters(slot[0]));
    request third;
    outcome o3 = {0};
    vpd_lc_pending *s3 = NULL;
    request_init(&third, "GET", "/v1/secret/data/x", "", "parent-A");
    vpd_lc_lookup(f.lc, &third.r, &s3, on_lookup, &o3);
    ASSERT_INT_EQ(o3.calls, 1);
    settle_with(&f, &q[0], &slot[0], 200, KV_READ);
    settle_with(&f, &q[1], &slot[1], 200, KV_READ);
    settle_with(&f, &third, &s3, 200, KV_READ);
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->misses, 5);
    /* Another token's identical read knows nothing of it. */
    twins(q, "GET", "/v1/secret/data/x", "", "parent-B");
    ASSERT(second_waits(&f, q, o, slot));
    settle_with(&f, &q[0], &slot[0], 200, KV_READ);
    settle_with(&f, &q[1], &slot[1], 200, KV_READ);
}

/* Only a success says what the next answer will be: after an error the
 * next identical requests still wait, so that one creation upstream can
 * serve them all.  And a key whose answer is kept at last waits again
 * once the entry is gone. */
TEST(identical_requests_wait_again_after_an_error_or_a_kept_answer)
{
    fixture f;
    setup(&f);
    request q[2];
    outcome o[2];
    vpd_lc_pending *slot[2];
    twins(q, "POST", "/v1/auth/token/create-orphan", "{}", "parent-A");
    ASSERT(second_waits(&f, q, o, slot));
    settle_with(&f, &q[0], &slot[0], 500, "{\"errors\":[\"busy\"]}");
    settle_with(&f, &q[1], &slot[1], 503, "{\"errors\":[\"sealed\"]}");
    ASSERT(second_waits(&f, q, o, slot));
    /* An answer that is not kept (no renewable token in it)... */
    settle_with(&f, &q[0], &slot[0], 200, KV_READ);
    settle_with(&f, &q[1], &slot[1], 200, KV_READ);
    ASSERT(!second_waits(&f, q, o, slot));
    /* ...then one that is: it forgets the key, and once the entry is
     * cleared, identical requests wait for the first again. */
    settle_with(&f, &q[0], &slot[0], 200, ORPHAN_TOKEN);
    settle_with(&f, &q[1], &slot[1], 200, ORPHAN_TOKEN);
    ASSERT_INT_EQ(vpd_lc_counters_get(f.lc)->stored, 2);
    ASSERT(clear(&f, VPD_LC_CLEAR_ALL, NULL, NULL) > 0);
    ASSERT(second_waits(&f, q, o, slot));
    settle_with(&f, &q[0], &slot[0], 200, ORPHAN_TOKEN);
    ASSERT_INT_EQ(o[1].calls, 1);
    ASSERT(o[1].hit);
    ASSERT_STR_CONTAINS(o[1].body, "child-1");
    ASSERT_NULL(slot[1]);
}

/* Hits are served from an inflated copy once served (hot_answers.h): an
 * entry stored again under the same key must never bring back the copy
 * of the answer it replaced. */
TEST(a_hit_after_the_entry_was_replaced_serves_the_new_answer)
{
    fixture f;
    setup(&f);
    request t, l;
    fill(&f, &t, &l);
    outcome o;
    ASSERT(is_hit(&f, &l, &o));
    ASSERT(is_hit(&f, &l, &o)); /* the second from the inflated copy */
    ASSERT_STR_CONTAINS(o.body, "db/creds/ro/abc");
    ASSERT_INT_EQ(clear(&f, VPD_LC_CLEAR_LEASE, "db/creds/ro/abc", NULL), 1);
    miss_then_answer(&f, &l,
                     "{\"lease_id\":\"db/creds/ro/def\",\"renewable\":true,"
                     "\"lease_duration\":600,\"data\":{\"password\":\"q\"}}");
    ASSERT(is_hit(&f, &l, &o));
    ASSERT_STR_CONTAINS(o.body, "db/creds/ro/def");
    ASSERT(strstr(o.body, "db/creds/ro/abc") == NULL);
}

/* A hit's headers, as the router answers them. */
typedef struct {
    bool hit;
    char age[32], x_cache[16];
    bool has_date;
} hit_headers;

static void
on_lookup_headers(void *arg, vpd_lc_hit *hit)
{
    hit_headers *h = arg;
    h->hit = hit != NULL;
    if (!hit)
        return;
    const char *age = vpd_hdrs_get(&hit->headers, "Age", 0);
    const char *xc = vpd_hdrs_get(&hit->headers, "X-Cache", 0);
    snprintf(h->age, sizeof h->age, "%s", age ? age : "");
    snprintf(h->x_cache, sizeof h->x_cache, "%s", xc ? xc : "");
    h->has_date = vpd_hdrs_get(&hit->headers, "Date", 0) != NULL;
    vpd_lc_hit_free(hit);
}

/* Age counts from the answer's Date, whether the hit is built from the
 * stored form or from the inflated copy. */
TEST(a_hit_says_its_age_from_the_answers_date)
{
    fixture f;
    setup(&f);
    request q;
    request_init(&q, "POST", "/v1/auth/token/create-orphan", "{}", "parent-A");
    vpd_lc_pending *slot = NULL;
    outcome o = {0};
    vpd_lc_lookup(f.lc, &q.r, &slot, on_lookup, &o);
    vpd_fwd_resp resp;
    answer_init(&resp, ORPHAN_TOKEN);
    time_t then = time(NULL) - 1000;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&then));
    vpd_hdrs_add(&resp.headers, "Date", date);
    vpd_lc_settle(f.lc, &slot, &q.r, &resp);
    vpd_hdrs_free(&resp.headers);
    for (int round = 0; round < 2; round++) {
        hit_headers h = {0};
        vpd_lc_lookup(f.lc, &q.r, &slot, on_lookup_headers, &h);
        vpd_lc_settle(f.lc, &slot, &q.r, NULL);
        ASSERT(h.hit);
        ASSERT_STR_EQ(h.x_cache, "HIT");
        ASSERT(!h.has_date);
        long age = strtol(h.age, NULL, 10);
        ASSERT(age >= 1000 && age < 1100);
    }
}

/* The ids a restore hands over, as one comma-separated string. */
typedef struct {
    char ids[1024];
} id_seen;

static int
note_id(void *arg, const vp_cache_entry_t *e)
{
    id_seen *s = arg;
    size_t n = strlen(s->ids);
    snprintf(s->ids + n, sizeof s->ids - n, "%s%s", n ? "," : "", e->id);
    return 0;
}

/* Versions before keyed entries with the whole SHA-256 (64 hex digits);
 * today's key is its first half.  An entry such a version persisted is
 * restored under today's key: the request that made it is a hit again,
 * and the store keeps it under that key from then on. */
TEST(an_entry_an_earlier_version_persisted_is_a_hit_after_restore)
{
    char dir[] = "/tmp/vp-lease-upgrade.XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char keyf[sizeof dir + 8];
    snprintf(keyf, sizeof keyf, "%s/key", dir);
    int fd = open(keyf, O_WRONLY | O_CREAT | O_EXCL, 0400);
    ASSERT(fd >= 0);
    static const char hex_key[] =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    ASSERT_INT_EQ(write(fd, hex_key, sizeof hex_key - 1),
                  (ssize_t)sizeof hex_key - 1);
    close(fd);
    vpd_persist_config c = {.type = (char *)"file",
                            .kind = VPD_PERSIST_FILE,
                            .path = dir,
                            .keep_after_import = true,
                            .key_file = keyf};
    char err[512];

    request q;
    request_init(&q, "POST", "/v1/auth/token/create-orphan", "{}", "parent-A");
    char key[VPD_CACHE_KEY_LEN + 1], old_id[2 * VPD_CACHE_KEY_LEN + 1];
    ASSERT_INT_EQ(vpd_cache_key(q.http.method, q.http.target, &q.r.up_headers,
                                q.http.body, q.http.body_len, q.r.token, NULL,
                                key),
                  0);
    snprintf(old_id, sizeof old_id, "%s%s", key,
             "0123456789abcdef0123456789abcdef");
    static const char stored[] = "HTTP/1.1 200 OK\r\nContent-Type: "
                                 "application/json\r\n\r\n" ORPHAN_TOKEN;
    vp_cache_entry_t e = {
        .size = sizeof e,
        .id = old_id,
        .namespace_ = "root/",
        .request_path = "/v1/auth/token/create-orphan",
        .token = "child-1",
        .token_accessor = "acc-1",
        .response = {stored, sizeof stored - 1},
        .last_renewed_ms = (uint64_t)time(NULL) * 1000,
        .ttl_ms = 3600000,
    };
    vpd_persist *p = vpd_persist_open(&c, err, sizeof err);
    if (!p)
        TEST_FAIL_("persist open: %s", err);
    ASSERT(vpd_persist_restore(p, (uint64_t)time(NULL) * 1000, note_id, NULL,
                               NULL, NULL, err, sizeof err) >= 0);
    ASSERT_INT_EQ(vpd_persist_put(p, &e), 0);
    vpd_persist_close(p);

    fixture f;
    setup(&f);
    p = vpd_persist_open(&c, err, sizeof err);
    ASSERT_NOT_NULL(p);
    ASSERT_INT_EQ(vpd_lc_restore(f.lc, p, NULL, err, sizeof err), 0);
    outcome o;
    ASSERT(is_hit(&f, &q, &o));
    ASSERT_STR_CONTAINS(o.body, "child-1");
    vpd_persist_set_loop(p, NULL);
    vpd_persist_close(p);

    id_seen seen = {{0}};
    p = vpd_persist_open(&c, err, sizeof err);
    ASSERT_NOT_NULL(p);
    ASSERT(vpd_persist_restore(p, (uint64_t)time(NULL) * 1000, note_id, &seen,
                               NULL, NULL, err, sizeof err) >= 0);
    vpd_persist_close(p);
    ASSERT_STR_EQ(seen.ids, key);
    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_INT_EQ(system(cmd), 0);
}

int
main(void)
{
    return RUN_TESTS(
        T(a_kept_answer_is_served_to_its_token_only),
        T(a_hit_after_the_entry_was_replaced_serves_the_new_answer),
        T(a_hit_says_its_age_from_the_answers_date),
        T(an_entry_an_earlier_version_persisted_is_a_hit_after_restore),
        T(an_unrenewable_answer_is_not_kept),
        T(a_spaced_renewable_answer_is_still_kept),
        T(clear_by_lease_takes_that_entry_only),
        T(clear_by_token_takes_its_leases_too), T(clear_by_token_accessor),
        T(clear_by_request_path_in_a_namespace),
        T(clear_all_and_missing_values),
        T(identical_misses_wait_for_the_first_and_get_its_answer),
        T(a_request_for_another_token_does_not_wait),
        T(waiters_of_a_request_that_gave_up_go_upstream_themselves),
        T(identical_reads_of_an_uncached_answer_go_upstream_at_once),
        T(identical_requests_wait_again_after_an_error_or_a_kept_answer));
}
