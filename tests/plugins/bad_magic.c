/* Test plugin: a descriptor with the wrong magic number. */
#include <vaproxy/vaproxy.h>

static const vp_consistency_ops_t ops = {.size = sizeof ops};
static const vp_provide_t provides[] = {
    {VP_KIND_CONSISTENCY, "bad_magic", &ops, NULL}, {0, NULL, NULL, NULL}};

VP_PLUGIN_DEFINE(bad_magic) = {
    VP_PLUGIN_HEADER(bad_magic),
    .magic = 0x12345678u,
    .provides = provides,
};
