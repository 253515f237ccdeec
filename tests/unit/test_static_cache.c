/* The static secret cache without a server: which requests it serves and
 * stores, the token-set rule (a token is served only what Vault answered
 * it), eviction by writes (every version of a KV v2 name, a read racing a
 * write), the path rules, the token registry and the entry table, events
 * and cache-clear.  Re-reads and capability checks need a server: they are
 * test_static_cache.py's. */
#include "autoconf.h"

#include "test.h"

#include <string.h>

#include "cache/static_cache.h"
#include "cache/static_paths.h"
#include "cache/static_table.h"
#include "cache/static_tokens.h"
#include "plugin/request.h"

static const char KV_ANSWER[] =
    "{\"request_id\":\"1\",\"lease_id\":\"\",\"renewable\":false,"
    "\"lease_duration\":0,\"data\":{\"data\":{\"k\":\"v\"}},"
    "\"wrap_info\":null,\"warnings\":null,\"auth\":null,"
    "\"mount_type\":\"kv\"}\n";

typedef struct {
    vpd_http_req http;
    vp_req_t req;
    char target[256];
} request;

static void
make_request(request *rq, const char *method, const char *target,
             const char *token, const char *ns)
{
    memset(rq, 0, sizeof *rq);
    snprintf(rq->http.method, sizeof rq->http.method, "%s", method);
    snprintf(rq->target, sizeof rq->target, "%s", target);
    rq->http.target = rq->target;
    char *q = strchr(rq->target, '?');
    rq->http.path = strdup(rq->target);
    char *pq = strchr(rq->http.path, '?');
    if (pq)
        *pq = '\0';
    rq->http.query = q ? q + 1 : "";
    rq->req.http = &rq->http;
    rq->req.token = strdup(token);
    if (ns)
        vpd_hdrs_add(&rq->req.up_headers, "X-Vault-Namespace", ns);
}

static void
free_request(request *rq)
{
    free(rq->http.path);
    free(rq->req.token);
    vpd_hdrs_free(&rq->req.up_headers);
}

static void
answer(vpd_fwd_resp *resp, int status, const char *body)
{
    memset(resp, 0, sizeof *resp);
    resp->status = status;
    vpd_hdrs_add(&resp->headers, "Content-Type", "application/json");
    vpd_hdrs_add(&resp->headers, "Date", "Mon, 07 Dec 2026 00:00:00 GMT");
    resp->body = (char *)body;
    resp->body_len = strlen(body);
}

static vpd_static_cache *
new_cache(void)
{
    vpd_sc_config cfg = {.refresh_ms = 0};
    vpd_static_cache *sc = vpd_sc_new(NULL, NULL, &cfg);
    ASSERT_NOT_NULL(sc);
    return sc;
}

/* Sends a GET through lookup and, on a miss, settles it with body.
 * Returns 1 for a hit, 0 for a miss. */
static int
get(vpd_static_cache *sc, const char *target, const char *token, const char *ns,
    const char *body)
{
    request rq;
    make_request(&rq, "GET", target, token, ns);
    vpd_lc_hit hit;
    vpd_sc_ticket t;
    int was_hit = vpd_sc_lookup(sc, &rq.req, &hit, &t);
    if (was_hit) {
        ASSERT_STR_EQ(vpd_hdrs_get(&hit.headers, "X-Cache", 0), "HIT");
        ASSERT_NOT_NULL(vpd_hdrs_get(&hit.headers, "Age", 0));
        ASSERT_NULL(vpd_hdrs_get(&hit.headers, "Date", 0));
        ASSERT_STR_EQ(vpd_hdrs_get(&hit.headers, "Content-Type", 0),
                      "application/json");
        if (body)
            ASSERT_STR_EQ(hit.body, body);
        vpd_lc_hit_free(&hit);
    } else if (body) {
        vpd_fwd_resp resp;
        answer(&resp, 200, body);
        vpd_sc_settle(sc, &t, &rq.req, &resp);
        vpd_hdrs_free(&resp.headers);
    }
    free_request(&rq);
    return was_hit;
}

static void
write_req(vpd_static_cache *sc, const char *method, const char *target,
          const char *ns)
{
    request rq;
    make_request(&rq, method, target, "tok-w", ns);
    vpd_lc_hit hit;
    vpd_sc_ticket t;
    ASSERT(!vpd_sc_lookup(sc, &rq.req, &hit, &t));
    vpd_fwd_resp resp;
    answer(&resp, 204, "");
    vpd_sc_settle(sc, &t, &rq.req, &resp);
    vpd_hdrs_free(&resp.headers);
    free_request(&rq);
}

TEST(second_read_of_a_token_is_a_hit_other_tokens_are_not)
{
    vpd_static_cache *sc = new_cache();
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "tok-a", NULL, KV_ANSWER), 0);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "tok-a", NULL, KV_ANSWER), 1);
    /* Another token: a miss even though the entry exists... */
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "tok-b", NULL, NULL), 0);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "tok-b", NULL, NULL), 0);
    /* ...until Vault answered it. */
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "tok-b", NULL, KV_ANSWER), 0);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "tok-b", NULL, KV_ANSWER), 1);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "", NULL, NULL), 0);
    const vpd_sc_counters *c = vpd_sc_counters_get(sc);
    ASSERT_INT_EQ(c->entries, 1);
    ASSERT_INT_EQ(c->tokens, 2);
    ASSERT_INT_EQ(c->hits, 2);
    vpd_sc_close(sc, NULL, NULL);
}

TEST(key_is_namespace_path_and_query)
{
    vpd_static_cache *sc = new_cache();
    get(sc, "/v1/secret/data/a?version=1", "t", NULL, KV_ANSWER);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "t", NULL, NULL), 0);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a?version=1", "t", NULL, NULL), 1);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a?version=1", "t", "ns1/", NULL), 0);
    get(sc, "/v1/secret/data/a", "t", "/ns1", KV_ANSWER);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "t", "ns1", NULL), 1);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "t", NULL, NULL), 0);
    vpd_sc_close(sc, NULL, NULL);
}

TEST(only_static_kv_answers_are_stored)
{
    vpd_static_cache *sc = new_cache();
    static const char lease[] = "{\"lease_id\":\"db/creds/x/1\",\"data\":{},"
                                "\"mount_type\":\"kv\"}";
    static const char auth[] = "{\"auth\":{\"client_token\":\"x\"},"
                               "\"mount_type\":\"kv\"}";
    static const char wrap[] = "{\"wrap_info\":{\"token\":\"x\"},"
                               "\"mount_type\":\"kv\"}";
    static const char other[] = "{\"data\":{},\"mount_type\":\"pki\"}";
    static const char *const bodies[] = {lease, auth,  wrap,
                                         other, "[1]", "not json"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        get(sc, "/v1/secret/data/a", "t", NULL, bodies[i]);
        ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "t", NULL, NULL), 0);
    }
    /* Lists, sys/ and wrapped requests are neither served nor stored. */
    get(sc, "/v1/secret/metadata/?list=true", "t", NULL, KV_ANSWER);
    ASSERT_INT_EQ(get(sc, "/v1/secret/metadata/?list=true", "t", NULL, NULL),
                  0);
    get(sc, "/v1/sys/mounts", "t", NULL, KV_ANSWER);
    ASSERT_INT_EQ(get(sc, "/v1/sys/mounts", "t", NULL, NULL), 0);
    ASSERT_INT_EQ(vpd_sc_counters_get(sc)->entries, 0);
    get(sc, "/v1/secret/data/a", "t", NULL, KV_ANSWER);
    request rq;
    make_request(&rq, "GET", "/v1/secret/data/a", "t", NULL);
    vpd_hdrs_add(&rq.req.up_headers, "X-Vault-Wrap-TTL", "60");
    vpd_lc_hit hit;
    vpd_sc_ticket t;
    ASSERT(!vpd_sc_lookup(sc, &rq.req, &hit, &t));
    ASSERT_INT_EQ(t.kind, VPD_SP_NONE);
    free_request(&rq);
    vpd_sc_close(sc, NULL, NULL);
}

TEST(writes_evict_every_version_of_a_kv2_name)
{
    vpd_static_cache *sc = new_cache();
    static const char *const writes[][2] = {
        {"POST", "/v1/secret/data/a"},       {"PUT", "/v1/secret/metadata/a"},
        {"POST", "/v1/secret/delete/a"},     {"POST", "/v1/secret/undelete/a"},
        {"POST", "/v1/secret/destroy/a"},    {"DELETE", "/v1/secret/data/a"},
        {"DELETE", "/v1/secret/metadata/a"}, {"PATCH", "/v1/secret/data/a"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        get(sc, "/v1/secret/data/a", "t", NULL, KV_ANSWER);
        get(sc, "/v1/secret/data/a?version=2", "t", NULL, KV_ANSWER);
        get(sc, "/v1/secret/data/b", "t", NULL, KV_ANSWER);
        ASSERT_INT_EQ(vpd_sc_counters_get(sc)->entries, 3);
        write_req(sc, writes[i][0], writes[i][1], NULL);
        ASSERT_INT_EQ(get(sc, "/v1/secret/data/a", "t", NULL, NULL), 0);
        ASSERT_INT_EQ(get(sc, "/v1/secret/data/a?version=2", "t", NULL, NULL),
                      0);
        ASSERT_INT_EQ(get(sc, "/v1/secret/data/b", "t", NULL, NULL), 1);
    }
    /* KV v1: the path itself; another namespace is another name. */
    get(sc, "/v1/kv/x", "t", NULL, KV_ANSWER);
    get(sc, "/v1/kv/x", "t", "ns1", KV_ANSWER);
    write_req(sc, "POST", "/v1/kv/x", "ns1");
    ASSERT_INT_EQ(get(sc, "/v1/kv/x", "t", "ns1", NULL), 0);
    ASSERT_INT_EQ(get(sc, "/v1/kv/x", "t", NULL, NULL), 1);
    vpd_sc_close(sc, NULL, NULL);
}

TEST(a_read_racing_a_write_is_not_stored)
{
    vpd_static_cache *sc = new_cache();
    request rd;
    make_request(&rd, "GET", "/v1/secret/data/a", "t", NULL);
    vpd_lc_hit hit;
    vpd_sc_ticket t;
    ASSERT(!vpd_sc_lookup(sc, &rd.req, &hit, &t));
    /* The write is forwarded and answered while the read is under way. */
    write_req(sc, "POST", "/v1/secret/metadata/a", NULL);
    vpd_fwd_resp resp;
    answer(&resp, 200, KV_ANSWER);
    vpd_sc_settle(sc, &t, &rd.req, &resp);
    ASSERT_INT_EQ(vpd_sc_counters_get(sc)->entries, 0);
    /* A write to another name does not stop it. */
    ASSERT(!vpd_sc_lookup(sc, &rd.req, &hit, &t));
    write_req(sc, "POST", "/v1/secret/data/other", NULL);
    vpd_sc_settle(sc, &t, &rd.req, &resp);
    ASSERT_INT_EQ(vpd_sc_counters_get(sc)->entries, 1);
    vpd_hdrs_free(&resp.headers);
    free_request(&rd);
    vpd_sc_close(sc, NULL, NULL);
}

TEST(cache_clear_by_prefix_and_namespace_and_all)
{
    vpd_static_cache *sc = new_cache();
    get(sc, "/v1/secret/data/app1", "t", NULL, KV_ANSWER);
    get(sc, "/v1/secret/data/app2?version=1", "t", NULL, KV_ANSWER);
    get(sc, "/v1/secret/data/db", "t", NULL, KV_ANSWER);
    get(sc, "/v1/secret/data/app1", "t", "ns1", KV_ANSWER);
    ASSERT_INT_EQ(vpd_sc_clear(sc, NULL, "/v1/secret/data/app"), 2);
    ASSERT_INT_EQ(vpd_sc_clear(sc, "ns1/", "/v1/secret/data/app"), 1);
    ASSERT_INT_EQ(get(sc, "/v1/secret/data/db", "t", NULL, NULL), 1);
    ASSERT_INT_EQ(vpd_sc_clear(sc, NULL, NULL), 1);
    ASSERT_INT_EQ(vpd_sc_counters_get(sc)->entries, 0);
    ASSERT_INT_EQ(vpd_sc_counters_get(sc)->tokens, 0);
    vpd_sc_close(sc, NULL, NULL);
}

TEST(events_are_counted_and_change_the_refresh_state)
{
    vpd_static_cache *sc = new_cache();
    vpd_sc_events_connected(sc);
    ASSERT(vpd_sc_counters_get(sc)->events_connected);
    vpd_sc_events_event(sc, "", "secret/data/a", true);
    vpd_sc_events_event(sc, "", "secret/metadata/a", false);
    ASSERT_INT_EQ(vpd_sc_counters_get(sc)->events_received, 2);
    vpd_sc_events_disconnected(sc);
    ASSERT(!vpd_sc_counters_get(sc)->events_connected);
    vpd_sc_events_connected(sc);
    vpd_sc_events_unavailable(sc);
    ASSERT(!vpd_sc_counters_get(sc)->events_connected);
    vpd_sc_close(sc, NULL, NULL);
}

static void
collect(void *arg, const char *name)
{
    char *out = arg;
    strcat(out, name);
    strcat(out, ";");
}

TEST(path_rules)
{
    ASSERT_INT_EQ(vpd_sp_classify("GET", "/v1/secret/data/a", "", false),
                  VPD_SP_READ);
    ASSERT_INT_EQ(
        vpd_sp_classify("GET", "/v1/secret/data/a", "list=true", false),
        VPD_SP_NONE);
    ASSERT_INT_EQ(vpd_sp_classify("GET", "/v1/secret/data/a", "", true),
                  VPD_SP_NONE);
    ASSERT_INT_EQ(vpd_sp_classify("LIST", "/v1/secret/metadata/", "", false),
                  VPD_SP_NONE);
    ASSERT_INT_EQ(vpd_sp_classify("GET", "/v1/sys/health", "", false),
                  VPD_SP_NONE);
    /* Vault's own roots hold no secrets engine: not read, not written. */
    static const char *const reserved[] = {
        "/v1/auth/token/lookup-self", "/v1/audit", "/v1/cubbyhole/x",
        "/v1/identity/entity/id/1", "/v1/sys"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        ASSERT_INT_EQ(vpd_sp_classify("GET", reserved[i], "", false),
                      VPD_SP_NONE);
        ASSERT_INT_EQ(vpd_sp_classify("PUT", reserved[i], "", false),
                      VPD_SP_NONE);
    }
    /* A mount merely starting with those letters is anybody's. */
    ASSERT_INT_EQ(vpd_sp_classify("GET", "/v1/authors/data/a", "", false),
                  VPD_SP_READ);
    ASSERT_INT_EQ(vpd_sp_classify("GET", "/v1/system-kv/a", "", false),
                  VPD_SP_READ);
    ASSERT_INT_EQ(vpd_sp_classify("GET", "/proxy/v1/metrics", "", false),
                  VPD_SP_NONE);
    ASSERT_INT_EQ(vpd_sp_classify("DELETE", "/v1/kv/a", "", false),
                  VPD_SP_WRITE);
    char out[512] = "";
    ASSERT_INT_EQ(vpd_sp_stale_names("secret/metadata/app/x", collect, out), 2);
    ASSERT_STR_EQ(out, "secret/metadata/app/x;secret/data/app/x;");
    out[0] = '\0';
    ASSERT_INT_EQ(vpd_sp_stale_names("secret/data/a", collect, out), 1);
    ASSERT_STR_EQ(out, "secret/data/a;");
    out[0] = '\0';
    /* A mount named like an operation: every split is covered. */
    vpd_sp_stale_names("team/delete/destroy/a", collect, out);
    ASSERT_STR_EQ(out, "team/delete/destroy/a;team/data/destroy/a;"
                       "team/delete/data/a;");
    char ns[16];
    ASSERT_INT_EQ(vpd_sp_namespace("/a/b/", ns, sizeof ns), 0);
    ASSERT_STR_EQ(ns, "a/b");
}

TEST(token_registry_counts_references_and_reuses_ids)
{
    vpd_st_registry *reg = vpd_st_new();
    uint32_t a = vpd_st_acquire(reg, "alpha");
    uint32_t b = vpd_st_acquire(reg, "beta");
    ASSERT(a && b && a != b);
    ASSERT_INT_EQ(vpd_st_acquire(reg, "alpha"), a);
    ASSERT_INT_EQ(vpd_st_find(reg, "beta"), b);
    ASSERT_INT_EQ(vpd_st_acquire(reg, ""), 0);
    vpd_st_unref(reg, a);
    ASSERT_STR_EQ(vpd_st_token(reg, a), "alpha");
    vpd_st_unref(reg, a);
    ASSERT_NULL(vpd_st_token(reg, a));
    ASSERT_INT_EQ(vpd_st_find(reg, "alpha"), 0);
    ASSERT_INT_EQ(vpd_st_count(reg), 1);
    /* Many tokens: the index grows and every one is found again. */
    char t[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(t, sizeof t, "tok-%d", i);
        ASSERT(vpd_st_acquire(reg, t));
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(t, sizeof t, "tok-%d", i);
        vpd_st_unref(reg, vpd_st_find(reg, t));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(t, sizeof t, "tok-%d", i);
        ASSERT_INT_EQ(vpd_st_find(reg, t) != 0, i % 2 == 1);
    }
    vpd_st_free(reg);
}

static void
count_visit(void *arg, vpd_se_entry *e)
{
    (void)e;
    (*(int *)arg)++;
}

TEST(entry_table_groups_a_names_versions)
{
    vpd_st_registry *reg = vpd_st_new();
    vpd_se_table *t = vpd_se_new(reg);
    char q[32];
    for (int i = 0; i < 300; i++) {
        snprintf(q, sizeof q, "version=%d", i);
        vpd_se_entry *e = vpd_se_put(t, "", "secret/data/a", q);
        ASSERT_NOT_NULL(e);
        uint32_t id = vpd_st_acquire(reg, "tok");
        ASSERT_INT_EQ(vpd_se_add_token(t, e, id), 0);
        vpd_st_unref(reg, id);
        vpd_se_put(t, "", q, "");
    }
    int n = 0;
    ASSERT_INT_EQ(vpd_se_each_of_name(t, "", "secret/data/a", count_visit, &n),
                  300);
    vpd_se_entry *e = vpd_se_get(t, "", "secret/data/a", "version=7");
    ASSERT_NOT_NULL(e);
    for (int i = 0; i < 20; i++) {
        snprintf(q, sizeof q, "t%d", i);
        uint32_t id = vpd_st_acquire(reg, q);
        ASSERT_INT_EQ(vpd_se_add_token(t, e, id), 0);
        vpd_st_unref(reg, id);
    }
    ASSERT_INT_EQ(e->n_tokens, 21);
    ASSERT(vpd_se_remove_token(t, e, vpd_st_find(reg, "tok")));
    ASSERT(!vpd_se_has_token(e, vpd_st_find(reg, "tok")));
    ASSERT(vpd_se_has_token(e, vpd_st_find(reg, "t19")));
    ASSERT_INT_EQ(vpd_se_count(t), 600);
    vpd_se_remove(t, e);
    ASSERT_NULL(vpd_se_get(t, "", "secret/data/a", "version=7"));
    ASSERT_INT_EQ(vpd_st_find(reg, "t3"), 0);
    vpd_se_free(t);
    ASSERT_INT_EQ(vpd_st_count(reg), 0);
    vpd_st_free(reg);
}

int
main(void)
{
    return RUN_TESTS(T(second_read_of_a_token_is_a_hit_other_tokens_are_not),
                     T(key_is_namespace_path_and_query),
                     T(only_static_kv_answers_are_stored),
                     T(writes_evict_every_version_of_a_kv2_name),
                     T(a_read_racing_a_write_is_not_stored),
                     T(cache_clear_by_prefix_and_namespace_and_all),
                     T(events_are_counted_and_change_the_refresh_state),
                     T(path_rules),
                     T(token_registry_counts_references_and_reuses_ids),
                     T(entry_table_groups_a_names_versions));
}
