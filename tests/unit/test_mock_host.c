/* The SDK's mock host covers every kind: a consistency policy (the test
 * plugin "trace") and a cache store (the test plugin "keyed") are created
 * through it like the core does, and the proxied-request members act on a
 * mock request the test reads back.  The plugins are dlopened from the
 * build tree; no core code is linked. */
#include "autoconf.h"

#include "test.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "mock_host.h"

static const vp_provide_t *
provide(const char *module, vp_kind_t kind, const char *name)
{
    char path[512], sym[128];
    snprintf(path, sizeof path, "%s/.libs/%s.so", VP_TEST_PLUGINDIR, module);
    snprintf(sym, sizeof sym, "%s_LTX_vaproxy_plugin", module);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        TEST_FAIL_("dlopen %s: %s", path, dlerror());
    const vp_plugin_t *desc = dlsym(dl, sym);
    ASSERT_NOT_NULL(desc);
    for (const vp_provide_t *p = desc->provides; p->kind; p++)
        if (p->kind == kind && strcmp(p->name, name) == 0)
            return p;
    TEST_FAIL_("%s provides no %s", module, name);
    return NULL;
}

TEST(a_consistency_policy_runs_on_a_mock_request)
{
    const vp_provide_t *p = provide("trace", VP_KIND_CONSISTENCY, "trace");
    const vp_consistency_ops_t *ops = p->ops;
    int rc;
    char err[256];
    const char *none[] = {NULL};
    ASSERT_NULL(mock_create_consistency(ops, "trace", p->schema, none, &rc, err,
                                        sizeof err));
    ASSERT_INT_EQ(rc, VP_EINVAL);
    ASSERT_STR_CONTAINS(err, "label");
    const char *pairs[] = {"label", "A", NULL};
    mock_instance *mi = mock_create_consistency(ops, "trace", p->schema, pairs,
                                                &rc, err, sizeof err);
    ASSERT_NOT_NULL(mi);

    vp_req_t *req = mock_req_new("GET", "/v1/secret/x", "tok");
    ASSERT_NOT_NULL(req);
    ASSERT_INT_EQ(ops->on_request(&mi->pub, req), VP_CONTINUE);
    ASSERT_STR_EQ(mock_req_added_response_header(req, "X-Trace"), "A:request");
    ASSERT_INT_EQ(req->answer_status, 0);

    /* Steered by a request header, it answers early. */
    ASSERT_INT_EQ(mock_req_add_header(req, "X-Trace-Answer", "A"), 0);
    ASSERT_INT_EQ(ops->on_request(&mi->pub, req), VP_DONE);
    ASSERT_INT_EQ(req->answer_status, 200);
    ASSERT_STR_EQ(req->answer_content_type, "application/json");
    ASSERT_STR_EQ(req->answer_body, "{\"answered_by\":\"A\"}");

    /* Response hooks see the upstream answer and the attempt count. */
    ASSERT_INT_EQ(mock_req_add_header(req, "X-Trace-Retry", "A:2"), 0);
    ASSERT_INT_EQ(mock_req_set_response(req, 412, "{}"), 0);
    req->attempts = 1;
    ASSERT_INT_EQ(ops->on_response(&mi->pub, req), VP_RETRY);
    req->attempts = 2;
    ASSERT_INT_EQ(ops->on_response(&mi->pub, req), VP_CONTINUE);
    mock_req_free(req);
    mock_destroy_consistency(ops, mi);
}

static int cleanups;

static void
count_cleanup(void *ptr)
{
    (void)ptr;
    cleanups++;
}

/* The request members behave as the daemon's request.c does. */
TEST(request_members_follow_the_daemon)
{
    const vp_host_api_t *h = mock_host();
    mock_instance *mi = mock_instance_new("t", NULL, NULL);
    vp_req_t *req = mock_req_new(NULL, "/v1/a?b=c", NULL);
    ASSERT_STR_EQ(h->req_method(req), "GET");
    ASSERT_STR_EQ(h->req_path(req), "/v1/a?b=c");
    ASSERT_STR_EQ(h->req_token(req), "");
    ASSERT_INT_EQ(h->req_header_add(req, "Connection", "close"), VP_EINVAL);
    ASSERT_INT_EQ(h->req_header_add(req, "host", "x"), VP_EINVAL);
    ASSERT_INT_EQ(h->req_header_add(req, "X-A", "1"), 0);
    ASSERT_INT_EQ(h->req_header_add(req, "x-a", "2"), 0);
    ASSERT_INT_EQ(h->req_header_count(req, "X-A"), 2);
    ASSERT_STR_EQ(h->req_header(req, "X-A", 1), "2");
    ASSERT_INT_EQ(h->req_header_remove(req, "X-A"), 2);
    ASSERT_NULL(h->req_header(req, "X-A", 0));
    /* No answer yet: nothing to see. */
    ASSERT_INT_EQ(h->resp_status(req), 0);
    ASSERT_INT_EQ(h->resp_body(req).len, 0);
    ASSERT_INT_EQ(mock_req_set_response(req, 200, "body"), 0);
    ASSERT_INT_EQ(mock_req_add_response_header(req, "X-Vault-Index", "i"), 0);
    ASSERT_INT_EQ(h->resp_status(req), 200);
    ASSERT_STR_EQ(h->resp_header(req, "x-vault-index", 0), "i");
    ASSERT_INT_EQ(h->resp_body(req).len, 4);
    ASSERT_INT_EQ(h->req_respond(req, 99, NULL, "", 0), VP_EINVAL);
    ASSERT_INT_EQ(h->req_respond(req, 600, NULL, "", 0), VP_EINVAL);
    /* Per-request state: replaced state is cleaned up, the rest when the
     * request ends; past the daemon's limit, VP_EFULL. */
    cleanups = 0;
    static int a, b;
    ASSERT_INT_EQ(h->req_ctx_set(req, &mi->pub, &a, count_cleanup), 0);
    ASSERT_INT_EQ(h->req_ctx_set(req, &mi->pub, &b, count_cleanup), 0);
    ASSERT_INT_EQ(cleanups, 1);
    ASSERT(h->req_ctx_get(req, &mi->pub) == &b);
    vp_instance_t others[MOCK_REQ_CTX_MAX];
    for (size_t i = 0; i + 1 < MOCK_REQ_CTX_MAX; i++)
        ASSERT_INT_EQ(h->req_ctx_set(req, &others[i], NULL, NULL), 0);
    ASSERT_INT_EQ(
        h->req_ctx_set(req, &others[MOCK_REQ_CTX_MAX - 1], NULL, NULL),
        VP_EFULL);
    mock_req_free(req);
    ASSERT_INT_EQ(cleanups, 2);
    mock_instance_free(mi);
}

TEST(a_cache_store_is_created_against_its_schema)
{
    const vp_provide_t *p = provide("keyed", VP_KIND_CACHE, "keyed_store");
    const vp_cache_ops_t *ops = p->ops;
    int rc;
    char err[256];
    const char *bad[] = {"slots", "0", NULL};
    ASSERT_NULL(mock_create_cache(ops, "keyed_store", p->schema, bad, &rc, err,
                                  sizeof err));
    ASSERT_INT_EQ(rc, VP_EINVAL);
    ASSERT_STR_EQ(err, "slots must be at least 1");
    const char *unknown[] = {"slots", "2", "bogus", "1", NULL};
    ASSERT_NULL(mock_create_cache(ops, "keyed_store", p->schema, unknown, &rc,
                                  err, sizeof err));
    ASSERT_STR_CONTAINS(err, "bogus");
    const char *good[] = {"slots", "2", NULL};
    mock_log_clear();
    mock_instance *mi = mock_create_cache(ops, "keyed_store", p->schema, good,
                                          &rc, err, sizeof err);
    ASSERT_NOT_NULL(mi);
    ASSERT_STR_CONTAINS(mock_log_text(), "keyed_store: 2 slots");
    ASSERT_INT_EQ(ops->lookup(&mi->pub, "id", NULL, NULL), VP_DECLINED);
    mock_destroy_cache(ops, mi);
}

int
main(void)
{
    return RUN_TESTS(T(a_consistency_policy_runs_on_a_mock_request),
                     T(request_members_follow_the_daemon),
                     T(a_cache_store_is_created_against_its_schema));
}
