/* Test plugin: claims consistency "never", which consistency_vault
 * already provides, so loading both must refuse the second. */
#include <vaproxy/vaproxy.h>

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
    {VP_KIND_CONSISTENCY, "never", &ops, NULL}, {0, NULL, NULL, NULL}};

VP_PLUGIN_DEFINE(dup_never) = {
    VP_PLUGIN_HEADER(dup_never),
    .provides = provides,
};
