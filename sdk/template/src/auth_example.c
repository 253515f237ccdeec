/* Auth method "example": logs in as a user (or role) whose password is
 * read from a file, with Vault's userpass API:
 *
 *     PUT <mount_path>/login/<username>   {"password": "<file content>"}
 *
 * It is the plugin of the vaproxy SDK template: small, but a real login.
 * Copy the template, rename the module (this file, the .la in Makefile.am
 * and VP_PLUGIN_DEFINE below must agree) and the method, and change what
 * login_begin describes.
 *
 * Like every auth method it does no network I/O: it describes the login
 * request through the host's login_* setters and the daemon sends it,
 * takes the token from the answer, renews it and logs in again when it
 * dies.  The password file is re-read at every login, so whoever delivers
 * it can rotate it without restarting vaproxyd.
 *
 * Configuration (the `config` block of `method "example"`):
 *
 *     username            the user to log in as (required)
 *     password_file_path  file holding its password (required)
 *
 * and, next to `config`, the usual `mount_path = "auth/userpass"` (the
 * daemon's default for a method "example" is auth/example). */
#include <stdio.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

/* Per-instance state (ownership rule 5): made in create, released in
 * destroy.  The strings are borrowed from the instance's configuration,
 * which the daemon keeps until the instance is destroyed. */
typedef struct {
    const char *username;
    const char *password_path;
} example_state;

/* The keys `config` may hold.  The daemon checks the user's block against
 * this before create runs: an unknown key, a wrong type or a missing
 * required key stops vaproxyd with the file, the line and the key. */
static const vp_conf_field_t example_schema[] = {
    VP_CONF_FIELD("username", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "the user to log in as"),
    VP_CONF_FIELD("password_file_path", VP_CONF_PATH, VP_CONF_REQUIRED, NULL,
                  "file holding the user's password (re-read at every login)"),
    VP_CONF_END,
};

/* The user name goes into the request path, so it must not be able to
 * change the path: no '/', '?', '%', '..' tricks, no spaces. */
static int
username_is_safe(const char *name)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-@";
    return name[0] != '\0' && name[0] != '.' &&
           strspn(name, allowed) == strlen(name);
}

/* Checks what the schema cannot (values, not types) and says exactly what
 * is wrong: this text is what the operator reads. */
static int
example_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    const char *username = NULL, *path = NULL;

    if (host->conf_string(inst, "username", &username) != 0 ||
        !username_is_safe(username)) {
        host->set_error(inst,
                        "username must be a non-empty name of "
                        "letters, digits and . _ - @ (got \"%s\")",
                        username ? username : "");
        return VP_EINVAL;
    }
    if (host->conf_string(inst, "password_file_path", &path) != 0 || !path[0]) {
        host->set_error(inst, "password_file_path must be a non-empty path");
        return VP_EINVAL;
    }

    example_state *st = host->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    st->username = username;
    st->password_path = path;
    inst->data = st;
    return 0;
}

static void
example_destroy(vp_instance_t *inst)
{
    inst->host->free(inst->data);
    inst->data = NULL;
}

/* Describes the login.  The daemon has already filled in its default,
 * PUT <mount_path>/login with the body {}; userpass wants the user name
 * appended to that path and the password in the body. */
static vp_status_t
example_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    example_state *st = inst->data;

    /* The password is a secret: read_file returns it in a buffer that
     * secret_free wipes, and it never goes to a log line. */
    char *password = NULL;
    size_t len = 0;
    int rc = host->read_file(inst, st->password_path, 1, &password, &len);
    if (rc != 0) {
        /* read_file has said why with set_error.  DECLINED: not possible
         * right now; the daemon retries after its backoff, by which time
         * the file may have been delivered. */
        return VP_DECLINED;
    }
    if (len == 0) {
        host->secret_free(password);
        host->set_error(inst, "the password file %s is empty",
                        st->password_path);
        return VP_DECLINED;
    }

    /* The path: the default <mount_path>/login plus "/<username>".
     * login_path is borrowed until the request changes, so the new path
     * is built in a buffer of ours first. */
    const char *base = host->login_path(login);
    size_t n = strlen(base) + 1 + strlen(st->username) + 1;
    char *path = host->alloc(n);
    if (path)
        snprintf(path, n, "%s/%s", base, st->username);

    /* The body: {"password": "..."}, built by the host's JSON helper,
     * which escapes the value and returns a secret buffer. */
    const char *pairs[] = {"password", password, NULL};
    char *body = host->json_object_from_pairs(pairs);
    host->secret_free(password);

    /* Both setters copy what they are given: path and body stay ours to
     * release, whatever happens. */
    vp_status_t status = VP_ERROR;
    if (path && body && host->login_set_request(login, "PUT", path) == 0 &&
        host->login_set_body(login, body) == 0)
        status = VP_CONTINUE;
    else
        host->set_error(inst, "out of memory describing the login");
    host->free(path);
    host->secret_free(body);
    return status;
}

/* Reads the answer to the login (the daemon only passes answers below
 * 400).  The daemon itself takes the token from auth.client_token, so
 * there is nothing left to do but look: here, the user name Vault saw.
 * Do not insist on an auth block: with wrap_ttl on the method the answer
 * is a wrap_info instead, and the daemon handles that too. */
static vp_status_t
example_login_step(vp_instance_t *inst, const vp_auth_answer_t *answer,
                   vp_login_t *next)
{
    const vp_host_api_t *host = inst->host;
    char *who = NULL;
    (void)next; /* one round trip: nothing to send after this answer */
    if (host->json_get_string(answer->body.ptr, answer->body.len,
                              "auth.metadata.username", &who) == 0)
        host->log(inst, VP_LOG_DEBUG, "logged in as %s", who);
    /* json_get_string hands back a secret buffer, whatever it holds. */
    host->secret_free(who);
    return VP_DONE;
}

/* The ops table: size first, members set by name, NULL = not provided.
 * The daemon refuses a table smaller than it needs. */
static const vp_auth_ops_t example_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = example_create,
    .destroy = example_destroy,
    .login_begin = example_login_begin,
    .login_step = example_login_step,
};

static const vp_provide_t example_provides[] = {
    {VP_KIND_AUTH, "example", &example_ops, example_schema},
    {0, NULL, NULL, NULL},
};

/* The one exported symbol.  No init/fini: this plugin keeps no state
 * beyond its instances. */
VP_PLUGIN_DEFINE(auth_example) = {
    VP_PLUGIN_HEADER(auth_example),
    .version = "0.1.0",
    .summary = "auth method example: userpass login, password from a file",
    .provides = example_provides,
};
