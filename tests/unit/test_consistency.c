/* Consistency: Vault's merge rule for remembered X-Vault-Index states and
 * the decisions of the "always" and "never" policies. */
#include "autoconf.h"

#include "test.h"

#include <openssl/evp.h>
#include <string.h>

#include "proxy/chain.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "index_state.h"
#include "plugin/plugin_loader.h"
#include "plugin/request.h"

/* base64("v1:<cluster>:<local>:<replicated>:abcd") */
static const char *
state(const char *cluster, unsigned local, unsigned repl)
{
    static char out[8][256];
    static int slot;
    char text[128];
    int n =
        snprintf(text, sizeof text, "v1:%s:%u:%u:abcd", cluster, local, repl);
    char *o = out[slot++ % 8];
    EVP_EncodeBlock((unsigned char *)o, (unsigned char *)text, n);
    return o;
}

static int
has(const vp_index_set *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->values[i], v) == 0)
            return 1;
    return 0;
}

TEST(parse_reads_the_indexes)
{
    vp_index_state st;
    ASSERT_INT_EQ(vp_index_parse(state("c1", 7, 9), &st), 0);
    ASSERT_STR_EQ(st.cluster_id, "c1");
    ASSERT_INT_EQ(st.local_index, 7);
    ASSERT_INT_EQ(st.replicated_index, 9);
    ASSERT_INT_EQ(vp_index_parse("not base64!", &st), -1);
    ASSERT_INT_EQ(vp_index_parse("djI6YzE6MToxOmFi", &st), -1); /* v2:... */
}

TEST(first_state_is_kept)
{
    vp_index_set s = {.n = 0};
    vp_index_merge(&s, state("c1", 1, 1));
    ASSERT_INT_EQ(s.n, 1);
}

TEST(newer_on_both_replaces_older)
{
    vp_index_set s = {.n = 0};
    const char *old = state("c1", 1, 1), *newer = state("c1", 2, 2);
    vp_index_merge(&s, old);
    vp_index_merge(&s, newer);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT(has(&s, newer));
}

TEST(older_on_both_is_ignored)
{
    vp_index_set s = {.n = 0};
    const char *old = state("c1", 5, 5), *older = state("c1", 2, 2);
    vp_index_merge(&s, old);
    vp_index_merge(&s, older);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT(has(&s, old));
}

TEST(mixed_states_are_both_kept)
{
    vp_index_set s = {.n = 0};
    const char *a = state("c1", 5, 1), *b = state("c1", 1, 5);
    vp_index_merge(&s, a);
    vp_index_merge(&s, b);
    ASSERT_INT_EQ(s.n, 2);
    ASSERT(has(&s, a) && has(&s, b));
}

TEST(other_cluster_or_garbage_resets)
{
    vp_index_set s = {.n = 0};
    vp_index_merge(&s, state("c1", 5, 1));
    vp_index_merge(&s, state("c1", 1, 5));
    const char *other = state("c2", 1, 1);
    vp_index_merge(&s, other);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT(has(&s, other));
    vp_index_merge(&s, "garbage");
    ASSERT_INT_EQ(s.n, 1);
    ASSERT(has(&s, "garbage"));
}

TEST(more_than_two_states_reset)
{
    vp_index_set s = {.n = 0};
    vp_index_merge(&s, state("c1", 5, 1));
    vp_index_merge(&s, state("c1", 1, 5));
    vp_index_merge(&s, state("c1", 3, 3)); /* mixed with both: 3 kept */
    ASSERT_INT_EQ(s.n, 3);
    const char *n = state("c1", 9, 9);
    vp_index_merge(&s, n);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT(has(&s, n));
}

/* ---- the policies through the chain ---------------------------------- */

typedef struct {
    vpd_registry reg;
    vpd_chain chain;
} policy;

static void
policy_setup(policy *p, const char *name, const char *when)
{
    memset(p, 0, sizeof *p);
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&p->reg,
                                        VP_BUILD_PLUGINDIR "/consistency_vault",
                                        vpd_host_api(), err, sizeof err),
                  0);
    vpd_conf_pair pair = {"when_inconsistent", when};
    vpd_instance *i = vpd_instance_new(&p->reg, VP_KIND_CONSISTENCY, name, NULL,
                                       &pair, 1, "t", err, sizeof err);
    ASSERT_NOT_NULL(i);
    vpd_chain_add(&p->chain, i);
}

/* Sends one request through the policy; returns the response verdict. */
static vp_status_t
exchange(policy *p, const char *client_header, int status,
         const char *answer_index, vpd_hdrs *sent)
{
    vpd_http_req http = {.method = "GET", .path = "/v1/x"};
    vp_req_t req = {.http = &http};
    if (client_header)
        vpd_hdrs_add(&req.up_headers, client_header, "x");
    char err[256];
    ASSERT_INT_EQ(vpd_chain_on_request(&p->chain, &req, err, sizeof err),
                  VP_CONTINUE);
    vpd_hdrs_copy(sent, &req.up_headers);
    vpd_fwd_resp resp = {.status = status, .attempts = 1};
    if (answer_index)
        vpd_hdrs_add(&resp.headers, "X-Vault-Index", answer_index);
    req.resp = &resp;
    vp_status_t rc = vpd_chain_on_response(&p->chain, &req, err, sizeof err);
    vpd_hdrs_free(&resp.headers);
    req.resp = NULL;
    vpd_req_release(&req);
    return rc;
}

TEST(always_sends_what_it_learned)
{
    policy p;
    policy_setup(&p, "always", "fail");
    vpd_hdrs sent = {0};
    const char *s1 = state("c1", 4, 4);
    ASSERT_INT_EQ(exchange(&p, NULL, 200, s1, &sent), VP_CONTINUE);
    ASSERT_INT_EQ(vpd_hdrs_count(&sent, "X-Vault-Index"), 0);
    vpd_hdrs_free(&sent);
    ASSERT_INT_EQ(exchange(&p, NULL, 200, NULL, &sent), VP_CONTINUE);
    ASSERT_STR_EQ(vpd_hdrs_get(&sent, "X-Vault-Index", 0), s1);
    ASSERT_INT_EQ(vpd_hdrs_count(&sent, "X-Vault-Inconsistent"), 0);
    vpd_hdrs_free(&sent);
}

TEST(client_managed_requests_are_untouched)
{
    policy p;
    policy_setup(&p, "always", "forward");
    vpd_hdrs sent = {0};
    ASSERT_INT_EQ(exchange(&p, NULL, 200, state("c1", 4, 4), &sent),
                  VP_CONTINUE);
    vpd_hdrs_free(&sent);
    /* The client's own index: nothing added, nothing learned. */
    ASSERT_INT_EQ(exchange(&p, "X-Vault-Index", 200, state("c1", 9, 9), &sent),
                  VP_CONTINUE);
    ASSERT_INT_EQ(vpd_hdrs_count(&sent, "X-Vault-Index"), 1);
    ASSERT_INT_EQ(vpd_hdrs_count(&sent, "X-Vault-Inconsistent"), 0);
    vpd_hdrs_free(&sent);
    ASSERT_INT_EQ(exchange(&p, NULL, 200, NULL, &sent), VP_CONTINUE);
    ASSERT_STR_EQ(vpd_hdrs_get(&sent, "X-Vault-Index", 0), state("c1", 4, 4));
    ASSERT_STR_EQ(vpd_hdrs_get(&sent, "X-Vault-Inconsistent", 0),
                  "forward-active-node");
    vpd_hdrs_free(&sent);
    /* Client-managed 412s follow the default policy: retried. */
    ASSERT_INT_EQ(exchange(&p, "X-Vault-Forward", 412, NULL, &sent), VP_RETRY);
    vpd_hdrs_free(&sent);
}

TEST(a_412_is_retried_unless_managed_fail)
{
    policy fail, retry, never;
    vpd_hdrs sent = {0};
    policy_setup(&fail, "always", "fail");
    ASSERT_INT_EQ(exchange(&fail, NULL, 412, NULL, &sent), VP_CONTINUE);
    vpd_hdrs_free(&sent);
    policy_setup(&retry, "always", "retry");
    ASSERT_INT_EQ(exchange(&retry, NULL, 412, NULL, &sent), VP_RETRY);
    vpd_hdrs_free(&sent);
    policy_setup(&never, "never", "fail");
    ASSERT_INT_EQ(exchange(&never, NULL, 412, NULL, &sent), VP_RETRY);
    ASSERT_INT_EQ(exchange(&never, NULL, 200, state("c1", 1, 1), &sent),
                  VP_CONTINUE);
    vpd_hdrs_free(&sent);
}

/* SIGHUP: the running "always" takes a new when_inconsistent and keeps
 * the states it learned (a restart would forget them). */
TEST(always_reconfigured_keeps_what_it_learned)
{
    policy p;
    policy_setup(&p, "always", "fail");
    vpd_instance *running = p.chain.consistency[0];
    vpd_hdrs sent = {0};
    const char *s1 = state("c1", 4, 4);
    ASSERT_INT_EQ(exchange(&p, NULL, 200, s1, &sent), VP_CONTINUE);
    vpd_hdrs_free(&sent);
    ASSERT_INT_EQ(exchange(&p, NULL, 412, NULL, &sent), VP_CONTINUE);
    vpd_hdrs_free(&sent);

    char err[1024];
    vpd_conf_pair pair = {"when_inconsistent", "forward"};
    vpd_instance *next = vpd_instance_new(&p.reg, VP_KIND_CONSISTENCY, "always",
                                          NULL, &pair, 1, "t", err, sizeof err);
    ASSERT_NOT_NULL(next);
    ASSERT_NOT_NULL(vpd_instance_reconfigure_op(running));
    ASSERT_INT_EQ(vpd_instance_reconfigure(running, next, err, sizeof err), 0);
    vpd_instance_free(next);
    ASSERT_STR_EQ(running->conf.pairs[0].value, "forward");

    ASSERT_INT_EQ(exchange(&p, NULL, 412, NULL, &sent), VP_RETRY);
    ASSERT_STR_EQ(vpd_hdrs_get(&sent, "X-Vault-Index", 0), s1);
    ASSERT_STR_EQ(vpd_hdrs_get(&sent, "X-Vault-Inconsistent", 0),
                  "forward-active-node");
    vpd_hdrs_free(&sent);
    vpd_chain_free(&p.chain);
    vpd_plugins_unload(&p.reg);
}

/* "never" has nothing to apply, but says it applied it: no restart asked
 * for a setting it ignores. */
TEST(never_accepts_any_reconfigure)
{
    policy p;
    policy_setup(&p, "never", "fail");
    char err[1024];
    vpd_conf_pair pair = {"when_inconsistent", "retry"};
    vpd_instance *next = vpd_instance_new(&p.reg, VP_KIND_CONSISTENCY, "never",
                                          NULL, &pair, 1, "t", err, sizeof err);
    ASSERT_NOT_NULL(next);
    ASSERT_INT_EQ(
        vpd_instance_reconfigure(p.chain.consistency[0], next, err, sizeof err),
        0);
    vpd_instance_free(next);
    ASSERT_STR_EQ(p.chain.consistency[0]->conf.pairs[0].value, "retry");
    vpd_hdrs sent = {0};
    ASSERT_INT_EQ(exchange(&p, NULL, 412, NULL, &sent), VP_RETRY);
    vpd_hdrs_free(&sent);
    vpd_chain_free(&p.chain);
    vpd_plugins_unload(&p.reg);
}

int
main(void)
{
    return RUN_TESTS(
        T(parse_reads_the_indexes), T(first_state_is_kept),
        T(newer_on_both_replaces_older), T(older_on_both_is_ignored),
        T(mixed_states_are_both_kept), T(other_cluster_or_garbage_resets),
        T(more_than_two_states_reset), T(always_sends_what_it_learned),
        T(client_managed_requests_are_untouched),
        T(a_412_is_retried_unless_managed_fail),
        T(always_reconfigured_keeps_what_it_learned),
        T(never_accepts_any_reconfigure));
}
