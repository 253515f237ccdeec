/* Test plugin "reconf": a consistency filter with a reconfigure op (ABI
 * 1.1).  Its `label` (read once, in create) is added to every answer as
 * X-Reconf-Label, next to X-Reconf-Conf (the label the conf getter returns
 * now, which shows the host moved the new configuration into the running
 * instance) and X-Reconf-Count (how many reconfigures were applied: one
 * per changed block, none for an unchanged one).  A new label starting
 * with "refuse" is refused by reconfigure (create accepts any), so tests
 * can watch a refusal keep the running settings. */
#include <stdio.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

typedef struct {
    char *label;
    unsigned reconfigured;
} reconf_state;

static const vp_conf_field_t reconf_schema[] = {
    VP_CONF_FIELD("label", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "sent as X-Reconf-Label"),
    VP_CONF_END,
};

static int
reconf_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    const char *label = NULL;
    if (host->conf_string(inst, "label", &label) != 0)
        return VP_EINVAL;
    reconf_state *st = host->calloc(1, sizeof *st);
    if (!st || !(st->label = host->strdup(label))) {
        host->free(st);
        return VP_ENOMEM;
    }
    inst->data = st;
    return 0;
}

static void
reconf_destroy(vp_instance_t *inst)
{
    reconf_state *st = inst->data;
    if (st) {
        inst->host->free(st->label);
        inst->host->free(st);
    }
}

static int
reconf_reconfigure(vp_instance_t *inst, vp_instance_t *next)
{
    const vp_host_api_t *host = inst->host;
    reconf_state *st = inst->data;
    reconf_state *fresh = next->data;
    if (strncmp(fresh->label, "refuse", 6) == 0) {
        host->set_error(inst, "label \"%s\" is refused on reload",
                        fresh->label);
        return VP_EINVAL;
    }
    /* Take next's label; next is destroyed with the old one. */
    char *old = st->label;
    st->label = fresh->label;
    fresh->label = old;
    st->reconfigured++;
    return 0;
}

static vp_status_t
reconf_on_response(vp_instance_t *inst, vp_req_t *req)
{
    const vp_host_api_t *host = inst->host;
    reconf_state *st = inst->data;
    const char *conf = "?";
    host->conf_string(inst, "label", &conf);
    char count[16];
    snprintf(count, sizeof count, "%u", st->reconfigured);
    if (host->resp_header_add(req, "X-Reconf-Label", st->label) != 0 ||
        host->resp_header_add(req, "X-Reconf-Conf", conf) != 0 ||
        host->resp_header_add(req, "X-Reconf-Count", count) != 0)
        return VP_ERROR;
    return VP_CONTINUE;
}

static const vp_consistency_ops_t reconf_ops = {
    .size = sizeof(vp_consistency_ops_t),
    .create = reconf_create,
    .destroy = reconf_destroy,
    .on_response = reconf_on_response,
    .reconfigure = reconf_reconfigure,
};

static const vp_provide_t reconf_provides[] = {
    {VP_KIND_CONSISTENCY, "reconf", &reconf_ops, reconf_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(reconf) = {
    VP_PLUGIN_HEADER(reconf),
    .version = "test",
    .summary = "a filter whose label reloads live",
    .provides = reconf_provides,
};
