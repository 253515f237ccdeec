/* Test plugin: built for a future major ABI. */
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
    {VP_KIND_CONSISTENCY, "abi_major", &ops, NULL}, {0, NULL, NULL, NULL}};

VP_PLUGIN_DEFINE(abi_major) = {
    VP_PLUGIN_HEADER(abi_major),
    .abi_major = VP_ABI_MAJOR + 1,
    .provides = provides,
};
