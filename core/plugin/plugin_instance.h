/* Plugin instances: one configured use of an implementation (an auth
 * method, a cache, a consistency policy), created through its ops table,
 * compared and reconfigured on SIGHUP, destroyed through its ops table.
 *
 * Ownership: instances are created by vpd_instance_new and freed by
 * vpd_instance_free (which calls the ops' destroy).  An instance owns its
 * configuration (vpd_plugin_conf), so it never depends on the config it
 * was read from.  It borrows its implementation and host table from the
 * plugin that provides it, which must stay loaded until it is freed. */
#ifndef VPD_PLUGIN_INSTANCE_H
#define VPD_PLUGIN_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <vaproxy/vaproxy.h>

#include "config/cfgtree.h"
#include "plugin/plugin_conf.h"
#include "plugin/plugin_loader.h"

typedef struct vpd_instance {
    vp_instance_t pub; /* first: plugins get &pub */
    vp_kind_t kind;
    const vp_provide_t *provide;
    vpd_plugin *plugin;
    vpd_plugin_conf conf;
    char label[96]; /* "auth approle", for messages */
    char last_error[512];
    bool created;
} vpd_instance;

/* Checks conf (an OBJECT node, may be NULL) and the synthetic pairs against
 * the implementation's schema, then calls its create.  The instance gets
 * the host table its plugin's init was given.  On error returns NULL with
 * "FILE:LINE: ..." (or the plugin's own message) in err. */
vpd_instance *vpd_instance_new(vpd_registry *reg, vp_kind_t kind,
                               const char *name, const vpd_cfg_node *conf,
                               const vpd_conf_pair *pairs, size_t n_pairs,
                               const char *where, char *err, size_t err_len);
void vpd_instance_free(vpd_instance *inst);

/* True when both instances run the same implementation with equal
 * configurations (config objects compared by value, positions ignored,
 * and the synthetic pairs). */
bool vpd_instance_same_config(const vpd_instance *a, const vpd_instance *b);

/* The implementation's reconfigure op, or NULL when it has none: every
 * implementation of a plugin built against ABI 1.0, and auth methods of
 * plugins built before 1.2, whose ops tables end before the op. */
int (*vpd_instance_reconfigure_op(const vpd_instance *inst))(vp_instance_t *,
                                                             vp_instance_t *);

/* An auth method's login_failed op (ABI 1.2), or NULL when it has none. */
vp_auth_failure_t (*vpd_instance_login_failed_op(const vpd_instance *inst))(
    vp_instance_t *, const vp_auth_answer_t *);

/* Applies next's configuration to the running inst (same implementation;
 * next made by vpd_instance_new from the new configuration, so already
 * checked and created).  Returns 0: inst now has next's configuration and
 * next holds inst's old one, so that freeing next releases it.  Returns
 * VP_ENOTSUP when there is no reconfigure op, or the plugin's error with
 * "LABEL: REASON" in err; inst is then unchanged.  Either way the caller
 * frees next with vpd_instance_free. */
int vpd_instance_reconfigure(vpd_instance *inst, vpd_instance *next, char *err,
                             size_t err_len);

static inline const void *
vpd_instance_ops(const vpd_instance *inst)
{
    return inst->provide->ops;
}

/* The last error an instance's hook reported ("" if none). */
const char *vpd_instance_error(const vpd_instance *inst);
void vpd_instance_clear_error(vpd_instance *inst);

#endif
