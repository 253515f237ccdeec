/* Test plugin "abi_target": compiled against this SDK's headers but with
 * VP_TARGET_ABI_MINOR=1 (see tests/plugins/local.mk), the way an author
 * who uses nothing newer than ABI 1.1 builds a plugin that also loads into
 * 1.1 daemons.  Its descriptor must say 1.1 whatever the headers' minor. */
#include <vaproxy/vaproxy.h>

_Static_assert(VP_TARGET_ABI_MINOR == 1, "built with VP_TARGET_ABI_MINOR=1");

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
    {VP_KIND_CONSISTENCY, "abi_target", &ops, NULL}, {0, NULL, NULL, NULL}};

VP_PLUGIN_DEFINE(abi_target) = {
    VP_PLUGIN_HEADER(abi_target),
    .version = "test",
    .summary = "targets ABI 1.1",
    .provides = provides,
};
