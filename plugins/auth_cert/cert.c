/* Auth method "cert" (vaproxyd.hcl(5)): log in with a TLS client certificate.
 * The server looks at the certificate the connection presented; the body
 * only names the certificate role to match ({"name": ...}, or {} to let the
 * server pick the first role that matches).
 *
 * Which certificate: with client_cert and client_key (and/or ca_cert, to
 * verify the server) set here, the login goes out on its own connection
 * with that identity (host->login_set_tls; the core's forwarder opens a
 * fresh connection for a request that carries its own identity).  With
 * none of them set, the login uses the vault block's client certificate,
 * like every other request: there is nothing to do here.
 *
 * `reload` is accepted for compatibility: Vault Proxy caches the dedicated
 * client unless it is set, but here the files are named on every login
 * and read when that login's connection is made, so a renewed certificate
 * is always picked up, with or without it. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <vaproxy/vaproxy.h>

typedef struct {
    const char *name;    /* NULL: send {} */
    const char *ca_cert; /* NULL when not set */
    const char *client_cert;
    const char *client_key;
} cert_state;

static const vp_conf_field_t cert_schema[] = {
    VP_CONF_FIELD(
        "name", VP_CONF_STRING, 0, NULL,
        "certificate role to log in with (default: the first that matches)"),
    VP_CONF_FIELD("ca_cert", VP_CONF_PATH, 0, NULL,
                  "CA file to verify the server with for the login"),
    VP_CONF_FIELD("client_cert", VP_CONF_PATH, 0, NULL,
                  "client certificate for the login (with client_key)"),
    VP_CONF_FIELD("client_key", VP_CONF_PATH, 0, NULL,
                  "private key of client_cert"),
    VP_CONF_FIELD("reload", VP_CONF_BOOL, 0, "false",
                  "accepted; the files are re-read at every login anyway"),
    VP_CONF_END,
};

/* A string key, or NULL when it is absent or empty. */
static const char *
conf_optional(vp_instance_t *inst, const char *key)
{
    const char *v = NULL;
    if (inst->host->conf_string(inst, key, &v) != 0 || !v || !v[0])
        return NULL;
    return v;
}

static int
cert_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    int reload = 0;
    if (host->conf_bool(inst, "reload", &reload) != 0) {
        host->set_error(inst, "reload must be a boolean");
        return VP_EINVAL;
    }
    cert_state *st = host->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    st->name = conf_optional(inst, "name");
    st->ca_cert = conf_optional(inst, "ca_cert");
    st->client_cert = conf_optional(inst, "client_cert");
    st->client_key = conf_optional(inst, "client_key");
    if (!st->client_cert != !st->client_key) {
        host->free(st);
        host->set_error(inst, "client_cert and client_key must be set "
                              "together");
        return VP_EINVAL;
    }
    inst->data = st;
    return 0;
}

static void
cert_destroy(vp_instance_t *inst)
{
    if (inst->data)
        inst->host->free(inst->data);
    inst->data = NULL;
}

/* Fails the login early, with the file's name, when a configured file
 * cannot be read: clearer than a failed TLS handshake.  access() only asks
 * (a local file operation, like read_file); the key is not read here. */
static int
check_readable(vp_instance_t *inst, const char *key, const char *path)
{
    if (!path || access(path, R_OK) == 0)
        return 0;
    inst->host->set_error(inst, "cannot read %s %s: %s", key, path,
                          strerror(errno));
    return -1;
}

static vp_status_t
cert_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    cert_state *st = inst->data;

    if (st->client_cert || st->ca_cert) {
        if (check_readable(inst, "ca_cert", st->ca_cert) != 0 ||
            check_readable(inst, "client_cert", st->client_cert) != 0 ||
            check_readable(inst, "client_key", st->client_key) != 0)
            return VP_ERROR;
        if (host->login_set_tls(login, st->client_cert, st->client_key,
                                st->ca_cert) != 0)
            return VP_ERROR;
    }

    const char *pairs[] = {"name", st->name, NULL};
    char *body = host->json_object_from_pairs(pairs);
    if (!body)
        return VP_ERROR;
    int rc = host->login_set_body(login, body);
    host->secret_free(body);
    return rc == 0 ? VP_CONTINUE : VP_ERROR;
}

static const vp_auth_ops_t cert_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = cert_create,
    .destroy = cert_destroy,
    .login_begin = cert_login_begin,
    .login_step = NULL, /* the login answer is final */
};

static const vp_provide_t cert_provides[] = {
    {VP_KIND_AUTH, "cert", &cert_ops, cert_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(auth_cert) = {
    VP_PLUGIN_HEADER(auth_cert),
    .version = "1.0",
    .summary = "auth method cert: TLS client certificate login",
    .provides = cert_provides,
};
