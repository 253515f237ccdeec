/* Test plugin: needs a symbol nothing provides, so loading must fail with
 * the symbol's name (it is linked without --no-undefined on purpose). */
#include <vaproxy/vaproxy.h>

extern int vp_symbol_nobody_defines(void);

static vp_status_t
calls_missing(vp_instance_t *inst, vp_req_t *req)
{
    (void)inst;
    (void)req;
    return vp_symbol_nobody_defines() ? VP_CONTINUE : VP_ERROR;
}

static const vp_consistency_ops_t ops = {.size = sizeof ops,
                                         .on_request = calls_missing};
static const vp_provide_t provides[] = {
    {VP_KIND_CONSISTENCY, "undefined_symbol", &ops, NULL},
    {0, NULL, NULL, NULL}};

VP_PLUGIN_DEFINE(undefined_symbol) = {
    VP_PLUGIN_HEADER(undefined_symbol),
    .provides = provides,
};
