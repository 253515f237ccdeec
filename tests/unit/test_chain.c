/* The chain runs request hooks in config order and response hooks in
 * reverse; an early answer stops the request phase; a retry request comes
 * from the response phase.  Proven with two instances of the trace test
 * plugin, which record every hook in X-Trace. */
#include "autoconf.h"

#include "test.h"

#include <string.h>

#include "proxy/chain.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"
#include "plugin/request.h"

typedef struct {
    vpd_registry reg;
    vpd_chain chain;
    vpd_http_req http;
    vp_req_t req;
    vpd_fwd_resp resp;
} fixture;

static void
setup(fixture *f)
{
    memset(f, 0, sizeof *f);
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&f->reg, VP_TEST_PLUGINDIR "/trace",
                                        vpd_host_api(), err, sizeof err),
                  0);
    const char *labels[] = {"A", "B"};
    for (size_t i = 0; i < 2; i++) {
        vpd_conf_pair pair = {"label", labels[i]};
        vpd_instance *inst =
            vpd_instance_new(&f->reg, VP_KIND_CONSISTENCY, "trace", NULL, &pair,
                             1, "test", err, sizeof err);
        ASSERT_NOT_NULL(inst);
        ASSERT_INT_EQ(vpd_chain_add(&f->chain, inst), 0);
    }
    strcpy(f->http.method, "GET");
    f->http.path = "/v1/secret/data/x";
    f->req.http = &f->http;
    f->resp.status = 200;
    f->resp.attempts = 1;
}

static void
trace_is(fixture *f, const char *expected)
{
    char got[512] = "";
    for (size_t i = 0;
         i < vpd_hdrs_count(&f->req.extra_resp_headers, "X-Trace"); i++) {
        if (i)
            strcat(got, " ");
        strcat(got, vpd_hdrs_get(&f->req.extra_resp_headers, "X-Trace", i));
    }
    ASSERT_STR_EQ(got, expected);
}

static vp_status_t
respond_once(fixture *f)
{
    char err[256];
    f->req.attempts++;
    f->req.resp = &f->resp;
    vp_status_t rc = vpd_chain_on_response(&f->chain, &f->req, err, sizeof err);
    f->req.resp = NULL;
    return rc;
}

TEST(pass_runs_requests_in_order_and_responses_in_reverse)
{
    fixture f;
    setup(&f);
    char err[256];
    ASSERT_INT_EQ(vpd_chain_on_request(&f.chain, &f.req, err, sizeof err),
                  VP_CONTINUE);
    ASSERT_INT_EQ(respond_once(&f), VP_CONTINUE);
    trace_is(&f, "A:request B:request B:response1 A:response1");
    vpd_req_release(&f.req);
    vpd_chain_free(&f.chain);
    vpd_plugins_unload(&f.reg);
}

TEST(early_answer_skips_later_hooks)
{
    fixture f;
    setup(&f);
    vpd_hdrs_add(&f.req.up_headers, "X-Trace-Answer", "A");
    char err[256];
    ASSERT_INT_EQ(vpd_chain_on_request(&f.chain, &f.req, err, sizeof err),
                  VP_DONE);
    ASSERT(f.req.answered);
    ASSERT_INT_EQ(f.req.answer_status, 200);
    ASSERT_STR_EQ(f.req.answer_body, "{\"answered_by\":\"A\"}");
    trace_is(&f, "A:request");
    vpd_req_release(&f.req);
    vpd_chain_free(&f.chain);
    vpd_plugins_unload(&f.reg);
}

TEST(retry_comes_from_the_response_phase)
{
    fixture f;
    setup(&f);
    vpd_hdrs_add(&f.req.up_headers, "X-Trace-Retry", "B:3");
    char err[256];
    ASSERT_INT_EQ(vpd_chain_on_request(&f.chain, &f.req, err, sizeof err),
                  VP_CONTINUE);
    /* B runs first on the way back and asks again until 3 sends; A only
     * sees the final answer. */
    ASSERT_INT_EQ(respond_once(&f), VP_RETRY);
    ASSERT_INT_EQ(respond_once(&f), VP_RETRY);
    ASSERT_INT_EQ(respond_once(&f), VP_CONTINUE);
    trace_is(&f, "A:request B:request B:response1 B:response2 B:response3 "
                 "A:response3");
    vpd_req_release(&f.req);
    vpd_chain_free(&f.chain);
    vpd_plugins_unload(&f.reg);
}

TEST(dump_lists_the_chain)
{
    fixture f;
    setup(&f);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    vpd_chain_dump(&f.chain, out);
    fclose(out);
    ASSERT_STR_CONTAINS(text, "1. consistency \"trace\"");
    ASSERT_STR_CONTAINS(text, "forward: upstream");
    free(text);
    vpd_chain_free(&f.chain);
    vpd_plugins_unload(&f.reg);
}

int
main(void)
{
    return RUN_TESTS(T(pass_runs_requests_in_order_and_responses_in_reverse),
                     T(early_answer_skips_later_hooks),
                     T(retry_comes_from_the_response_phase),
                     T(dump_lists_the_chain));
}
