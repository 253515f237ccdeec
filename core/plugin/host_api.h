/* The host side of the SDK: the vp_host_api_t table handed to plugins,
 * plugin instances with their checked configuration, and login requests.
 *
 * Ownership: instances are created by vpd_instance_new and freed by
 * vpd_instance_free (which calls the ops' destroy).  An instance owns a
 * copy of its configuration, so it never depends on the config it was
 * read from.  A vp_login_t is owned by whoever called vpd_login_new. */
#ifndef VPD_HOST_API_H
#define VPD_HOST_API_H

#include <vaproxy/vaproxy.h>

#include "config/cfgtree.h"
#include "http/http.h"
#include "plugin/plugin_loader.h"

const vp_host_api_t *vpd_host_api(void);

/* Errors a plugin's init reported with set_error(NULL, ...). */
void vpd_host_clear_init_error(void);
const char *vpd_host_init_error(void);

/* A synthetic configuration key/value for instances configured from core
 * settings rather than a `config` block. */
typedef struct {
    const char *key;
    const char *value;
} vpd_conf_pair;

typedef struct vpd_instance {
    vp_instance_t pub; /* first: plugins get &pub */
    vp_kind_t kind;
    const vp_provide_t *provide;
    vpd_plugin *plugin;
    vpd_cfg_node *conf;   /* a copy of the `config` object (owned),
                             or NULL */
    vpd_conf_pair *pairs; /* synthetic keys (owned copies) */
    size_t n_pairs;
    char label[96]; /* "auth approle", for messages */
    char last_error[512];
    bool created;
} vpd_instance;

/* Checks conf (an OBJECT node, may be NULL) and the synthetic pairs against
 * the implementation's schema, then calls its create.  On error returns
 * NULL with "FILE:LINE: ..." (or the plugin's own message) in err. */
vpd_instance *vpd_instance_new(vpd_registry *reg, vp_kind_t kind,
                               const char *name, const vpd_cfg_node *conf,
                               const vpd_conf_pair *pairs, size_t n_pairs,
                               const char *where, char *err, size_t err_len);
void vpd_instance_free(vpd_instance *inst);

/* True when both instances run the same implementation with equal
 * configurations (config objects compared by value, positions ignored,
 * and the synthetic pairs). */
bool vpd_instance_same_config(const vpd_instance *a, const vpd_instance *b);

/* The implementation's reconfigure op, or NULL when it has none: auth
 * methods (swapped instead), and every implementation of a plugin built
 * against ABI 1.0, whose ops tables end before the op. */
int (*vpd_instance_reconfigure_op(const vpd_instance *inst))(vp_instance_t *,
                                                             vp_instance_t *);

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

/* A login request being described by an auth method. */
struct vp_login {
    char method[16];
    char *path;  /* below /v1/ */
    char *body;  /* secret */
    char *token; /* secret, X-Vault-Token */
    vpd_hdrs headers;
    char *client_cert, *client_key, *ca_cert;
    vp_login_result_t result;
};

vp_login_t *vpd_login_new(void);
void vpd_login_reset(vp_login_t *login);
void vpd_login_free(vp_login_t *login);

/* Secret buffers (also used by the core). */
char *vpd_secret_dup(const char *s, size_t len);
void vpd_secret_free(char *s);

#endif
