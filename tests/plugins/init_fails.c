/* Test plugin: its init reports a failure. */
#include <vaproxy/vaproxy.h>

static int
init_fails_init(const vp_host_api_t *host, void **state)
{
    (void)state;
    host->set_error(NULL, "the test plugin always fails");
    return VP_EIO;
}

static vp_status_t
noop(vp_instance_t *inst, vp_req_t *req)
{
    (void)inst;
    (void)req;
    return VP_CONTINUE;
}

static const vp_consistency_ops_t ops = {.size = sizeof ops,
                                         .on_request = noop};
static const vp_provide_t provides[] = {
    {VP_KIND_CONSISTENCY, "init_fails", &ops, NULL}, {0, NULL, NULL, NULL}};

VP_PLUGIN_DEFINE(init_fails) = {
    VP_PLUGIN_HEADER(init_fails),
    .init = init_fails_init,
    .provides = provides,
};
