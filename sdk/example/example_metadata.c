/* SPDX-License-Identifier: Apache-2.0 */
/* Example auth method "metadata": logs in with an identity token fetched
 * from a cloud metadata server, the way GCP's (and, with other paths and
 * headers, AWS's and Azure's) instance identity works.
 *
 * It shows the fetch-based pattern of ABI 1.2.  A hook never blocks, so
 * login_begin cannot wait for the metadata server: the first time it
 * starts a fetch and answers VP_DECLINED; the fetch's callback keeps the
 * token and calls host->reauth, which brings login_begin back at once,
 * now with a token to send to Vault's jwt method ({"role", "jwt"} at the
 * method block's mount_path).  Each token serves one login.
 *
 * Configuration: metadata_url (the identity endpoint, audience included),
 * role, and timeout (of the fetch).  Build: `make example_metadata.so`.
 *
 * Ownership: the instance's state is created in create and released in
 * destroy (a fetch under way is cancelled first); the token is a host
 * secret buffer. */
#include <stdio.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

typedef struct {
    const char *url;
    const char *role;
    uint64_t timeout_ms;
    vp_fetch_t *fetch; /* under way, or NULL */
    char *token;       /* secret, for the next login, or NULL */
    char error[256];   /* why the last fetch failed, "" if it did not */
} metadata_state;

static const vp_conf_field_t metadata_schema[] = {
    VP_CONF_FIELD("metadata_url", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "the metadata server's identity token URL"),
    VP_CONF_FIELD("role", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "the jwt role"),
    VP_CONF_FIELD("timeout", VP_CONF_DURATION, 0, "5s",
                  "how long a fetch may take"),
    VP_CONF_END,
};

static int
metadata_create(vp_instance_t *inst)
{
    const vp_host_api_t *h = inst->host;
    if (!VP_HOST_HAS(h, fetch) || !VP_HOST_HAS(h, json_to_text)) {
        h->set_error(inst, "needs vaproxyd with plugin ABI 1.2 (fetch)");
        return VP_ENOTSUP;
    }
    metadata_state *st = h->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    if (h->conf_string(inst, "metadata_url", &st->url) != 0 ||
        h->conf_string(inst, "role", &st->role) != 0 ||
        h->conf_duration_ms(inst, "timeout", &st->timeout_ms) != 0) {
        h->free(st);
        h->set_error(inst, "cannot read the settings");
        return VP_EINVAL;
    }
    inst->data = st;
    return 0;
}

static void
metadata_destroy(vp_instance_t *inst)
{
    metadata_state *st = inst->data;
    inst->host->fetch_cancel(st->fetch);
    inst->host->secret_free(st->token);
    inst->host->free(st);
}

static void
on_token(vp_instance_t *inst, const vp_fetch_answer_t *answer, void *arg)
{
    const vp_host_api_t *h = inst->host;
    metadata_state *st = arg;
    st->fetch = NULL; /* the handle is done once this returns */
    st->error[0] = '\0';
    if (answer->status != 200) {
        /* The body of an error is not logged: it may echo credentials. */
        if (answer->error)
            snprintf(st->error, sizeof st->error, "%s", answer->error);
        else
            snprintf(st->error, sizeof st->error, "status %d", answer->status);
        h->log(inst, VP_LOG_WARN, "metadata server: %s", st->error);
        return; /* the core's backoff brings login_begin back */
    }
    h->secret_free(st->token);
    st->token = h->secret_dup(answer->body, answer->body_len);
    if (st->token)
        h->reauth(inst);
}

static vp_status_t
metadata_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *h = inst->host;
    metadata_state *st = inst->data;
    if (!st->token) {
        if (!st->fetch) {
            static const char *const headers[] = {"Metadata-Flavor: Google",
                                                  NULL};
            vp_fetch_request_t req = {.size = sizeof req,
                                      .url = st->url,
                                      .headers = headers,
                                      .timeout_ms = st->timeout_ms,
                                      .max_answer = 64 * 1024};
            st->fetch = h->fetch(inst, &req, on_token, st);
            if (!st->fetch)
                return VP_ERROR; /* set_error said why */
        }
        h->set_error(inst, "waiting for the metadata server%s%s",
                     st->error[0] ? ": " : "", st->error);
        return VP_DECLINED;
    }
    vp_json_t *body = h->json_new(VP_JSON_OBJECT);
    char *text = NULL;
    if (body && h->json_add_str(body, "role", st->role) == 0 &&
        h->json_add_str(body, "jwt", st->token) == 0)
        text = h->json_to_text(body, NULL);
    h->json_free(body);
    /* One token, one login: the next login fetches a fresh one. */
    h->secret_free(st->token);
    st->token = NULL;
    int rc = text ? h->login_set_body(login, text) : VP_ENOMEM;
    h->secret_free(text);
    if (rc != 0) {
        h->set_error(inst, "out of memory");
        return VP_ERROR;
    }
    return VP_CONTINUE;
}

static const vp_auth_ops_t metadata_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = metadata_create,
    .destroy = metadata_destroy,
    .login_begin = metadata_login_begin,
};

static const vp_provide_t metadata_provides[] = {
    {VP_KIND_AUTH, "metadata", &metadata_ops, metadata_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(example_metadata) = {
    VP_PLUGIN_HEADER(example_metadata),
    .version = "1.0",
    .summary = "identity token from a metadata server (fetch example)",
    .provides = metadata_provides,
};
