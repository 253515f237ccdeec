/* Plugin instances: see plugin_instance.h.  Every ops table starts with
 * its size and then create and destroy, but the tables are distinct types,
 * so each step picks the member through the instance's kind. */
#include "autoconf.h"

#include "plugin/plugin_instance.h"

#include "plugin/fetch.h"
#include "plugin/reauth.h"
#include "plugin/timers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int (*create_op(const vp_provide_t *p))(vp_instance_t *)
{
    switch (p->kind) {
    case VP_KIND_AUTH:
        return ((const vp_auth_ops_t *)p->ops)->create;
    case VP_KIND_CACHE:
        return ((const vp_cache_ops_t *)p->ops)->create;
    case VP_KIND_CONSISTENCY:
        return ((const vp_consistency_ops_t *)p->ops)->create;
    }
    return NULL;
}

static void (*destroy_op(const vp_provide_t *p))(vp_instance_t *)
{
    switch (p->kind) {
    case VP_KIND_AUTH:
        return ((const vp_auth_ops_t *)p->ops)->destroy;
    case VP_KIND_CACHE:
        return ((const vp_cache_ops_t *)p->ops)->destroy;
    case VP_KIND_CONSISTENCY:
        return ((const vp_consistency_ops_t *)p->ops)->destroy;
    }
    return NULL;
}

vpd_instance *
vpd_instance_new(vpd_registry *reg, vp_kind_t kind, const char *name,
                 const vpd_cfg_node *conf, const vpd_conf_pair *pairs,
                 size_t n_pairs, const char *where, char *err, size_t err_len)
{
    vpd_plugin *owner = NULL;
    const vp_provide_t *p = vpd_plugins_find(reg, kind, name, &owner);
    if (!p) {
        snprintf(err, err_len,
                 "%s: no plugin provides %s \"%s\" (is it in "
                 "--plugin-dir?)",
                 where, vpd_kind_name(kind), name);
        return NULL;
    }
    vpd_instance *vi = calloc(1, sizeof *vi);
    if (!vi) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    vi->pub.host = owner->host;
    vi->pub.name = p->name;
    vi->pub.size = (uint32_t)sizeof vi->pub;
    vi->kind = kind;
    vi->provide = p;
    vi->plugin = owner;
    snprintf(vi->label, sizeof vi->label, "%s \"%s\"", vpd_kind_name(kind),
             name);
    if (vpd_plugin_conf_init(&vi->conf, p->schema, conf, pairs, n_pairs) != 0) {
        free(vi);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (vpd_plugin_conf_check(&vi->conf, vi->label, where, err, err_len) != 0) {
        vpd_instance_free(vi);
        return NULL;
    }
    int (*create)(vp_instance_t *) = create_op(p);
    if (create) {
        int rc = create(&vi->pub);
        if (rc != 0) {
            snprintf(err, err_len, "%s: %s: %s", where, vi->label,
                     vi->last_error[0] ? vi->last_error
                                       : "the plugin refused its config");
            vpd_instance_free(vi);
            return NULL;
        }
    }
    vi->created = true;
    owner->live_instances++;
    return vi;
}

void
vpd_instance_free(vpd_instance *vi)
{
    if (!vi)
        return;
    if (vi->created) {
        void (*destroy)(vp_instance_t *) = destroy_op(vi->provide);
        if (destroy)
            destroy(&vi->pub);
        vi->plugin->live_instances--;
    }
    /* Timers and requests the plugin left running must not call into an
     * instance that is gone (ABI 1.2: cancelled on destroy). */
    vpd_plugin_timers_cancel(&vi->pub);
    vpd_plugin_fetch_cancel_instance(&vi->pub);
    vpd_plugin_reauth_unregister(&vi->pub);
    /* The configuration goes after destroy: the plugin's state may point
     * at its strings until then. */
    vpd_plugin_conf_free(&vi->conf);
    free(vi);
}

bool
vpd_instance_same_config(const vpd_instance *a, const vpd_instance *b)
{
    return a->provide == b->provide &&
           vpd_plugin_conf_equal(&a->conf, &b->conf);
}

/* An op added after ABI 1.0 exists only when the plugin was built against
 * a minor that has it AND its table is long enough to hold it: the size
 * is checked before the member is read, so a 1.0 table is never read past
 * its end, and the minor guards against a table padded by hand. */
#define OPS_HAS(type, ops, member, since_minor, plugin_minor)                  \
    ((plugin_minor) >= (since_minor) &&                                        \
     ((const type *)(ops))->size >=                                            \
         offsetof(type, member) + sizeof(((const type *)0)->member))

int (*vpd_instance_reconfigure_op(const vpd_instance *vi))(vp_instance_t *,
                                                           vp_instance_t *)
{
    const void *ops = vi->provide->ops;
    unsigned minor = vi->plugin ? vi->plugin->desc->abi_minor : 0;
    switch (vi->kind) {
    case VP_KIND_CACHE:
        if (OPS_HAS(vp_cache_ops_t, ops, reconfigure, 1, minor))
            return ((const vp_cache_ops_t *)ops)->reconfigure;
        break;
    case VP_KIND_CONSISTENCY:
        if (OPS_HAS(vp_consistency_ops_t, ops, reconfigure, 1, minor))
            return ((const vp_consistency_ops_t *)ops)->reconfigure;
        break;
    case VP_KIND_AUTH:
        if (OPS_HAS(vp_auth_ops_t, ops, reconfigure, 2, minor))
            return ((const vp_auth_ops_t *)ops)->reconfigure;
        break;
    }
    return NULL;
}

vp_auth_failure_t (*vpd_instance_login_failed_op(const vpd_instance *vi))(
    vp_instance_t *, const vp_auth_answer_t *)
{
    unsigned minor = vi->plugin ? vi->plugin->desc->abi_minor : 0;
    if (vi->kind == VP_KIND_AUTH &&
        OPS_HAS(vp_auth_ops_t, vi->provide->ops, login_failed, 2, minor))
        return ((const vp_auth_ops_t *)vi->provide->ops)->login_failed;
    return NULL;
}

int
vpd_instance_reconfigure(vpd_instance *vi, vpd_instance *next, char *err,
                         size_t err_len)
{
    int (*reconfigure)(vp_instance_t *, vp_instance_t *) =
        vpd_instance_reconfigure_op(vi);
    if (!reconfigure || next->provide != vi->provide) {
        snprintf(err, err_len, "%s: cannot be reconfigured", vi->label);
        return VP_ENOTSUP;
    }
    vpd_instance_clear_error(vi);
    int rc = reconfigure(&vi->pub, &next->pub);
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s", vi->label,
                 vi->last_error[0] ? vi->last_error
                                   : "the plugin refused its new config");
        return rc < 0 ? rc : VP_EINVAL;
    }
    /* Exchange the configurations: inst reads the new one from now on;
     * the old one is released with next, after next's destroy. */
    vpd_plugin_conf_swap(&vi->conf, &next->conf);
    return 0;
}

const char *
vpd_instance_error(const vpd_instance *inst)
{
    return inst->last_error;
}

void
vpd_instance_clear_error(vpd_instance *inst)
{
    inst->last_error[0] = '\0';
}
