/* Test plugin "abi_old": what a plugin compiled against ABI 1.0 looks like
 * to a 1.1 daemon.  Its descriptor says 1.0 and its consistency ops table
 * has the 1.0 layout, which ends where 1.1 appended `reconfigure`.
 *
 * Two traps catch a daemon that reads an op the plugin cannot have:
 *   - "abi_old": right after the 1.0 table, where 1.1's reconfigure would
 *     be, sits a function that applies the new label anyway and logs
 *     "abi_old: reconfigure read past the end of a 1.0 ops table";
 *   - "abi_old_padded": a full 1.1-sized table with reconfigure set (a
 *     table padded by hand), which the daemon must still ignore because
 *     the plugin declares minor 0.
 * Its descriptor and schema have the 1.0 layouts too (layout_1_0.h).
 * Both add their label (read in create) to answers as X-Abi-Old-Label, so
 * a test sees that a changed label did not apply and needs a restart. */
#include <stddef.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

#include "layout_1_0.h"

/* vp_consistency_ops_t as ABI 1.0 defined it. */
typedef struct {
    size_t size;
    int (*create)(vp_instance_t *inst);
    void (*destroy)(vp_instance_t *inst);
    vp_status_t (*on_request)(vp_instance_t *inst, vp_req_t *req);
    vp_status_t (*on_response)(vp_instance_t *inst, vp_req_t *req);
} ops_1_0;

_Static_assert(sizeof(ops_1_0) == offsetof(vp_consistency_ops_t, reconfigure),
               "the 1.0 table ends where 1.1 appended reconfigure");

static const vp_conf_field_1_0 old_schema[] = {
    {"label", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
     "sent as X-Abi-Old-Label"},
    {NULL, 0, 0, NULL, NULL},
};

static int
old_create(vp_instance_t *inst)
{
    const char *label = NULL;
    if (inst->host->conf_string(inst, "label", &label) != 0)
        return VP_EINVAL;
    inst->data = inst->host->strdup(label);
    return inst->data ? 0 : VP_ENOMEM;
}

static void
old_destroy(vp_instance_t *inst)
{
    inst->host->free(inst->data);
}

static vp_status_t
old_on_response(vp_instance_t *inst, vp_req_t *req)
{
    return inst->host->resp_header_add(req, "X-Abi-Old-Label", inst->data)
               ? VP_ERROR
               : VP_CONTINUE;
}

/* The trap: never to be called by a daemon that honours the table's size
 * and the plugin's minor. */
static int
trap_reconfigure(vp_instance_t *inst, vp_instance_t *next)
{
    inst->host->log(inst, VP_LOG_ERROR,
                    "abi_old: reconfigure read past the end of a 1.0 ops "
                    "table");
    void *tmp = inst->data;
    inst->data = next->data;
    next->data = tmp;
    return 0;
}

static const struct {
    ops_1_0 ops;
    int (*beyond)(vp_instance_t *, vp_instance_t *);
} old_table = {
    .ops = {.size = sizeof(ops_1_0),
            .create = old_create,
            .destroy = old_destroy,
            .on_response = old_on_response},
    .beyond = trap_reconfigure,
};

static const vp_consistency_ops_t padded_ops = {
    .size = sizeof(vp_consistency_ops_t),
    .create = old_create,
    .destroy = old_destroy,
    .on_response = old_on_response,
    .reconfigure = trap_reconfigure,
};

static const vp_provide_t old_provides[] = {
    {VP_KIND_CONSISTENCY, "abi_old", &old_table.ops, VP_SCHEMA_1_0(old_schema)},
    {VP_KIND_CONSISTENCY, "abi_old_padded", &padded_ops,
     VP_SCHEMA_1_0(old_schema)},
    {0, NULL, NULL, NULL},
};

/* Spelled out instead of VP_PLUGIN_HEADER, which records the minor and
 * the layouts of the headers it is compiled with: this descriptor has the
 * 1.0 size, so its schema is read with the 1.0 stride. */
VP_PLUGIN_DEFINE_1_0(abi_old) = {
    .magic = VP_PLUGIN_MAGIC,
    .abi_major = 1,
    .abi_minor = 0,
    .size = (uint32_t)sizeof(vp_plugin_1_0),
    .name = "abi_old",
    .version = "test",
    .summary = "built against ABI 1.0",
    .provides = old_provides,
};
