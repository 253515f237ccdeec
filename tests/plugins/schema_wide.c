/* Test plugins "schema10" and "schema12": one schema with a key of every
 * type and flag, in the ABI 1.0 layout (schema10, built with
 * -DSCHEMA_WIDE_1_0: the 1.0 descriptor and fields of layout_1_0.h) and
 * in this SDK's (schema12, VP_PLUGIN_HEADER and VP_CONF_FIELD).  The
 * daemon must read every field of both alike; one read with the wrong
 * stride shows as keys it does not know, wrong types or a crash.
 *
 * Each provides consistency "<module>" with the wide schema and
 * consistency "<module>_narrow" with a one-key schema after it, so the
 * second schema's place in the copies is checked too.  create reads every
 * key through the host table and logs what it got. */
#include <inttypes.h>
#include <stdio.h>

#include <vaproxy/vaproxy.h>

#include "schema_wide.h"

#ifdef SCHEMA_WIDE_1_0
#include "layout_1_0.h"
#define MODULE schema10
#define FIELD(key, type, flags, def, help)                                     \
    {                                                                          \
        key, type, flags, def, help                                            \
    }
#define FIELD_END                                                              \
    {                                                                          \
        NULL, 0, 0, NULL, NULL                                                 \
    }
typedef vp_conf_field_1_0 field_t;
#define SCHEMA(array) VP_SCHEMA_1_0(array)
#else
#define MODULE schema12
#define FIELD VP_CONF_FIELD
#define FIELD_END VP_CONF_END
typedef vp_conf_field_t field_t;
#define SCHEMA(array) (array)
#endif

#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)

#define WIDE_FIELD(key, type, flags, def, help)                                \
    FIELD(key, type, flags, def, help),
static const field_t wide_schema[] = {SCHEMA_WIDE_FIELDS(WIDE_FIELD) FIELD_END};

static const field_t narrow_schema[] = {
    FIELD("only", VP_CONF_INT, VP_CONF_REQUIRED, NULL, "the one key"),
    FIELD_END,
};

static int
wide_create(vp_instance_t *inst)
{
    const vp_host_api_t *h = inst->host;
    const char *address = NULL, *ca = NULL;
    int64_t retries = 0;
    int verify = 0;
    uint64_t interval = 0;
    if (h->conf_string(inst, "address", &address) != 0 ||
        h->conf_string(inst, "ca_file", &ca) != 0 ||
        h->conf_int(inst, "retries", &retries) != 0 ||
        h->conf_bool(inst, "verify", &verify) != 0 ||
        h->conf_duration_ms(inst, "interval", &interval) != 0)
        return VP_EINVAL;
    h->log(inst, VP_LOG_INFO,
           "%s: address=%s ca_file=%s retries=%" PRId64
           " verify=%d interval_ms=%" PRIu64,
           inst->name, address, ca, retries, verify, interval);
    return 0;
}

static vp_status_t
pass(vp_instance_t *inst, vp_req_t *req)
{
    (void)inst;
    (void)req;
    return VP_CONTINUE;
}

static const vp_consistency_ops_t wide_ops = {
    .size = sizeof wide_ops, .create = wide_create, .on_request = pass};
static const vp_consistency_ops_t narrow_ops = {.size = sizeof narrow_ops,
                                                .on_request = pass};

static const vp_provide_t provides[] = {
    {VP_KIND_CONSISTENCY, TEXT(MODULE), &wide_ops, SCHEMA(wide_schema)},
    {VP_KIND_CONSISTENCY, TEXT(MODULE) "_narrow", &narrow_ops,
     SCHEMA(narrow_schema)},
    {0, NULL, NULL, NULL},
};

#ifdef SCHEMA_WIDE_1_0
VP_PLUGIN_DEFINE_1_0(schema10) = {
    .magic = VP_PLUGIN_MAGIC,
    .abi_major = 1,
    .abi_minor = 0,
    .size = (uint32_t)sizeof(vp_plugin_1_0),
    .name = "schema10",
    .version = "test",
    .summary = "a wide schema in the 1.0 layout",
    .provides = provides,
};
#else
VP_PLUGIN_DEFINE(schema12) = {
    VP_PLUGIN_HEADER(schema12),
    .version = "test",
    .summary = "a wide schema in this SDK's layout",
    .provides = provides,
};
#endif
