/* Auth method "token_file" (vaproxyd.hcl(5)): the token is already in a file;
 * "logging in" is looking it up (auth/token/lookup-self), which tells the
 * core its TTL and whether it can be renewed.  The file is re-read at every
 * login and never deleted; if it becomes unreadable or empty, the last
 * token read is used. */
#include <string.h>

#include <vaproxy/vaproxy.h>

typedef struct {
    char *last_token; /* secret buffer */
} token_file_state;

static const vp_conf_field_t token_file_schema[] = {
    VP_CONF_FIELD("token_file_path", VP_CONF_PATH, VP_CONF_REQUIRED, NULL,
                  "file holding the Vault token"),
    VP_CONF_END,
};

static int
token_file_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    const char *path = NULL;
    if (host->conf_string(inst, "token_file_path", &path) != 0 || !path[0]) {
        host->set_error(inst, "token_file_path must be a non-empty path");
        return VP_EINVAL;
    }
    token_file_state *st = host->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    inst->data = st;
    return 0;
}

static void
token_file_destroy(vp_instance_t *inst)
{
    token_file_state *st = inst->data;
    if (!st)
        return;
    inst->host->secret_free(st->last_token);
    inst->host->free(st);
}

static vp_status_t
token_file_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    token_file_state *st = inst->data;
    const char *path = NULL;
    host->conf_string(inst, "token_file_path", &path);

    char *token = NULL;
    size_t len = 0;
    if (host->read_file(inst, path, 1, &token, &len) == 0 && len > 0) {
        host->secret_free(st->last_token);
        st->last_token = token;
    } else {
        host->secret_free(token);
        if (!st->last_token) {
            host->set_error(inst,
                            "error reading token file %s and no "
                            "cached token known",
                            path);
            return VP_ERROR;
        }
        host->log(inst, VP_LOG_WARN,
                  "cannot read %s: using the last token "
                  "read from it",
                  path);
    }
    if (host->login_set_request(login, "GET", "auth/token/lookup-self") != 0 ||
        host->login_set_body(login, NULL) != 0 ||
        host->login_set_token(login, st->last_token) != 0 ||
        host->login_set_result(login, VP_LOGIN_RESULT_LOOKUP) != 0)
        return VP_ERROR;
    return VP_CONTINUE;
}

static const vp_auth_ops_t token_file_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = token_file_create,
    .destroy = token_file_destroy,
    .login_begin = token_file_login_begin,
    .login_step = NULL, /* the lookup answer is final */
};

static const vp_provide_t token_file_provides[] = {
    {VP_KIND_AUTH, "token_file", &token_file_ops, token_file_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(auth_token_file) = {
    VP_PLUGIN_HEADER(auth_token_file),
    .version = "1.0",
    .summary = "auth method token_file: use a token from a file",
    .provides = token_file_provides,
};
