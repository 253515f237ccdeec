/* Auth method "kubernetes" (vaproxyd.hcl(5)): log in with the pod's service
 * account token (a JWT) and a role name.
 *
 * The JWT file is read again, and trimmed, at every login: projected
 * service account tokens are rotated by the kubelet, and a login with an
 * old one would fail.  For the same reason nothing read earlier is kept: a
 * missing or empty file fails the login (the core backs off and retries). */
#include <stdio.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

#define DEFAULT_TOKEN_PATH "/var/run/secrets/kubernetes.io/serviceaccount/token"

static const vp_conf_field_t kubernetes_schema[] = {
    VP_CONF_FIELD("role", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "the Kubernetes auth role to log in as"),
    VP_CONF_FIELD(
        "token_path", VP_CONF_PATH, 0, DEFAULT_TOKEN_PATH,
        "file holding the service account JWT (re-read at every login)"),
    VP_CONF_END,
};

static int
kubernetes_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    const char *role = NULL, *path = NULL;
    if (host->conf_string(inst, "role", &role) != 0 || !role[0]) {
        host->set_error(inst, "role must be a non-empty string");
        return VP_EINVAL;
    }
    if (host->conf_string(inst, "token_path", &path) != 0 || !path[0]) {
        host->set_error(inst, "token_path must be a non-empty path");
        return VP_EINVAL;
    }
    return 0; /* no state: everything is read at each login */
}

static vp_status_t
kubernetes_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    const char *role = NULL, *path = NULL;
    host->conf_string(inst, "role", &role);
    host->conf_string(inst, "token_path", &path);

    char *jwt = NULL;
    size_t len = 0;
    int rc = host->read_file(inst, path, 1, &jwt, &len);
    if (rc != 0 || len == 0) {
        host->secret_free(jwt);
        if (rc == 0)
            host->set_error(inst,
                            "error reading JWT with Kubernetes Auth: "
                            "%s is empty",
                            path);
        else if (rc == VP_ENOENT)
            host->set_error(inst,
                            "error reading JWT with Kubernetes Auth: "
                            "open %s: no such file or directory",
                            path);
        else
            host->set_error(inst,
                            "error reading JWT with Kubernetes Auth: "
                            "cannot read %s",
                            path);
        return VP_ERROR;
    }
    const char *pairs[] = {"role", role, "jwt", jwt, NULL};
    char *body = host->json_object_from_pairs(pairs);
    host->secret_free(jwt);
    if (!body)
        return VP_ERROR;
    rc = host->login_set_body(login, body);
    host->secret_free(body);
    return rc == 0 ? VP_CONTINUE : VP_ERROR;
}

static const vp_auth_ops_t kubernetes_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = kubernetes_create,
    .destroy = NULL,
    .login_begin = kubernetes_login_begin,
    .login_step = NULL, /* the login answer is final */
};

static const vp_provide_t kubernetes_provides[] = {
    {VP_KIND_AUTH, "kubernetes", &kubernetes_ops, kubernetes_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(auth_kubernetes) = {
    VP_PLUGIN_HEADER(auth_kubernetes),
    .version = "1.0",
    .summary = "auth method kubernetes: service account JWT and role",
    .provides = kubernetes_provides,
};
