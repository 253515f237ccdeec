/* Auth method "approle" (vaproxyd.hcl(5), "method"): log in with a role id and,
 * unless the role does without one, a secret id, both read from files.
 *
 * Both files are re-read at every login and trimmed.  A file that is
 * missing, cannot be read or is empty is not an error as long as an earlier
 * login read a value from it: that value is used again (with a warning,
 * except for a missing file, the normal state of a consumed secret-id
 * file).  The secret-id
 * file is deleted right after it was read (remove_secret_id_file_after_
 * reading, true by default), so whoever delivers secret ids can tell that
 * it was consumed; the role-id file is never deleted.
 *
 * With secret_id_response_wrapping_path the secret-id file holds a
 * response-wrapping token instead of the secret id.  A login is then three
 * round trips:
 *
 *   1. GET sys/wrapping/lookup with the wrapping token: the token must have
 *      been created at exactly the configured path, so that a token wrapping
 *      something else (say, a token stolen from another role) is refused;
 *   2. PUT sys/wrapping/unwrap with the same token: data.secret_id;
 *   3. the real login, PUT <mount>/login {"role_id", "secret_id"}.
 *
 * A wrapping token can be unwrapped once only, so the unwrapped secret id
 * is what is kept for later logins, and so is the wrapping token it came
 * from: if the file still holds that token (the option to delete it is
 * off), the kept secret id is used instead of unwrapping it again.  With
 * wrapping, the file is deleted once the token has been unwrapped (a failed
 * lookup leaves it in place for inspection). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vaproxy/vaproxy.h>

/* Where a login is: which answer login_step is about to read. */
typedef enum {
    STEP_LOGIN = 0,  /* the answer to the real login: final */
    STEP_LOOKUP = 1, /* the answer to sys/wrapping/lookup */
    STEP_UNWRAP = 2  /* the answer to sys/wrapping/unwrap */
} approle_step;

typedef struct {
    /* configuration, borrowed from the instance */
    const char *role_id_path;
    const char *secret_id_path; /* NULL: role-id-only logins */
    const char *wrapping_path;  /* NULL: the file holds the secret id */
    int remove_secret_id;

    /* last good values, secret buffers */
    char *role_id;
    char *secret_id;
    char *used_wrapping_token; /* the token secret_id was unwrapped from */

    /* the login under way */
    approle_step step;
    char *wrapping_token; /* secret buffer, while unwrapping */
    char *login_method;   /* the core's default request, remembered */
    char *login_path;     /* in login_begin for round 3 */
} approle_state;

static const vp_conf_field_t approle_schema[] = {
    VP_CONF_FIELD(
        "role_id_file_path", VP_CONF_PATH, VP_CONF_REQUIRED, NULL,
        "file holding the role id (re-read at every login, never deleted)"),
    VP_CONF_FIELD(
        "secret_id_file_path", VP_CONF_PATH, 0, NULL,
        "file holding the secret id; absent or empty: role-id-only login"),
    VP_CONF_FIELD("remove_secret_id_file_after_reading", VP_CONF_BOOL, 0,
                  "true", "delete the secret-id file once it has been read"),
    VP_CONF_FIELD(
        "secret_id_response_wrapping_path", VP_CONF_STRING, 0, NULL,
        "the secret-id file holds a wrapping token created at this path"),
    VP_CONF_END,
};

static int
approle_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    const char *role_path = NULL, *secret_path = NULL, *wrap_path = NULL;
    int remove = 1;

    if (host->conf_string(inst, "role_id_file_path", &role_path) != 0 ||
        !role_path[0]) {
        host->set_error(inst, "role_id_file_path must be a non-empty path");
        return VP_EINVAL;
    }
    if (host->conf_string(inst, "secret_id_file_path", &secret_path) != 0 ||
        !secret_path[0]) {
        /* Role-id-only login (bind_secret_id=false roles): the two keys
         * about the secret-id file mean nothing then and are ignored. */
        secret_path = NULL;
    } else {
        if (host->conf_bool(inst, "remove_secret_id_file_after_reading",
                            &remove) != 0) {
            host->set_error(inst, "remove_secret_id_file_after_reading must "
                                  "be a boolean");
            return VP_EINVAL;
        }
        int rc = host->conf_string(inst, "secret_id_response_wrapping_path",
                                   &wrap_path);
        if (rc == VP_ENOENT) {
            wrap_path = NULL;
        } else if (rc != 0 || !wrap_path[0]) {
            host->set_error(inst, "secret_id_response_wrapping_path must not "
                                  "be empty when it is set");
            return VP_EINVAL;
        }
    }

    approle_state *st = host->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    st->role_id_path = role_path;
    st->secret_id_path = secret_path;
    st->wrapping_path = wrap_path;
    st->remove_secret_id = remove;
    inst->data = st;
    return 0;
}

static void
approle_destroy(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    approle_state *st = inst->data;
    if (!st)
        return;
    host->secret_free(st->role_id);
    host->secret_free(st->secret_id);
    host->secret_free(st->used_wrapping_token);
    host->secret_free(st->wrapping_token);
    host->free(st->login_method);
    host->free(st->login_path);
    host->free(st);
    inst->data = NULL;
}

/* Reads one of the two files.  Returns 1 with a fresh value in *out (a
 * secret buffer), or 0 when the file is missing, unreadable or empty, with
 * the reason in why and, in *level, how loudly to say that a value read
 * before is used instead: a missing file is the normal case once the
 * secret-id file has been consumed (debug), an unreadable or empty one is
 * worth a warning. */
static int
read_value(vp_instance_t *inst, const char *path, char **out, char *why,
           size_t why_len, vp_log_level_t *level)
{
    const vp_host_api_t *host = inst->host;
    char *text = NULL;
    size_t len = 0;
    int rc = host->read_file(inst, path, 1, &text, &len);
    if (rc == 0 && len > 0) {
        *out = text;
        return 1;
    }
    host->secret_free(text);
    *level = rc == VP_ENOENT ? VP_LOG_DEBUG : VP_LOG_WARN;
    if (rc == 0)
        snprintf(why, why_len, "%s is empty", path);
    else if (rc == VP_ENOENT)
        snprintf(why, why_len, "%s does not exist", path);
    else
        snprintf(why, why_len, "cannot read %s", path);
    *out = NULL;
    return 0;
}

static void
replace_secret(const vp_host_api_t *host, char **slot, char *value)
{
    host->secret_free(*slot);
    *slot = value;
}

static void
remove_secret_id_file(vp_instance_t *inst)
{
    approle_state *st = inst->data;
    if (!st->remove_secret_id)
        return;
    /* A local file operation, not I/O on the network: allowed.  Failing
     * to delete is worth a line in the log, not a failed login. */
    if (unlink(st->secret_id_path) != 0 && errno != ENOENT)
        inst->host->log(inst, VP_LOG_ERROR,
                        "cannot remove the secret-id file %s after reading "
                        "it: %s",
                        st->secret_id_path, strerror(errno));
}

/* Describes the real login into `login`: PUT <mount>/login with the role
 * id and, when there is one, the secret id. */
static vp_status_t
describe_login(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    approle_state *st = inst->data;
    const char *pairs[] = {
        "role_id",   st->role_id,
        "secret_id", st->secret_id_path ? st->secret_id : NULL,
        NULL,
    };
    char *body = host->json_object_from_pairs(pairs);
    if (!body)
        return VP_ERROR;
    int rc = host->login_set_request(login, st->login_method, st->login_path);
    if (rc == 0)
        rc = host->login_set_body(login, body);
    host->secret_free(body);
    if (rc != 0)
        return VP_ERROR;
    st->step = STEP_LOGIN;
    return VP_CONTINUE;
}

static int
remember_default_request(vp_instance_t *inst, const vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    approle_state *st = inst->data;
    char *method = host->strdup(host->login_method(login));
    char *path = host->strdup(host->login_path(login));
    if (!method || !path) {
        host->free(method);
        host->free(path);
        return VP_ENOMEM;
    }
    host->free(st->login_method);
    host->free(st->login_path);
    st->login_method = method;
    st->login_path = path;
    return 0;
}

static vp_status_t
approle_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *host = inst->host;
    approle_state *st = inst->data;
    char why[512];
    char *value = NULL;
    vp_log_level_t level = VP_LOG_WARN;

    st->step = STEP_LOGIN;
    host->secret_free(st->wrapping_token);
    st->wrapping_token = NULL;
    if (remember_default_request(inst, login) != 0)
        return VP_ERROR;

    if (read_value(inst, st->role_id_path, &value, why, sizeof why, &level)) {
        replace_secret(host, &st->role_id, value);
    } else if (st->role_id) {
        host->log(inst, level, "%s: using the role ID read before", why);
    } else {
        host->set_error(inst, "no known role ID: %s", why);
        return VP_ERROR;
    }

    if (!st->secret_id_path)
        return describe_login(inst, login);

    if (!read_value(inst, st->secret_id_path, &value, why, sizeof why,
                    &level)) {
        if (!st->secret_id) {
            host->set_error(inst, "no known secret ID: %s", why);
            return VP_ERROR;
        }
        host->log(inst, level, "%s: using the secret ID read before", why);
        return describe_login(inst, login);
    }

    if (!st->wrapping_path) {
        replace_secret(host, &st->secret_id, value);
        remove_secret_id_file(inst);
        return describe_login(inst, login);
    }

    /* A wrapping token.  The one already unwrapped cannot be unwrapped
     * again: the secret id it gave is used instead. */
    if (st->used_wrapping_token && st->secret_id &&
        strcmp(st->used_wrapping_token, value) == 0) {
        host->secret_free(value);
        host->log(inst, VP_LOG_DEBUG,
                  "the wrapping token in %s was "
                  "unwrapped before: using its secret ID",
                  st->secret_id_path);
        remove_secret_id_file(inst);
        return describe_login(inst, login);
    }
    st->wrapping_token = value;
    if (host->login_set_request(login, "GET", "sys/wrapping/lookup") != 0 ||
        host->login_set_body(login, NULL) != 0 ||
        host->login_set_token(login, st->wrapping_token) != 0)
        return VP_ERROR;
    st->step = STEP_LOOKUP;
    return VP_CONTINUE;
}

/* Round 1 answered: the wrapping token must come from the configured
 * path; then ask for the unwrap. */
static vp_status_t
check_lookup(vp_instance_t *inst, const vp_auth_answer_t *answer,
             vp_login_t *next)
{
    const vp_host_api_t *host = inst->host;
    approle_state *st = inst->data;
    char *creation_path = NULL;
    int rc = host->json_get_string(answer->body.ptr, answer->body.len,
                                   "data.creation_path", &creation_path);
    if (rc != 0) {
        host->set_error(inst, "the lookup of the wrapped secret ID has no "
                              "data.creation_path");
        return VP_ERROR;
    }
    if (strcmp(creation_path, st->wrapping_path) != 0) {
        /* Paths are not secrets: both go to the log for the operator. */
        host->log(inst, VP_LOG_ERROR,
                  "SECURITY: unable to validate wrapping token creation "
                  "path: expected \"%s\", found \"%s\"",
                  st->wrapping_path, creation_path);
        host->set_error(inst,
                        "SECURITY: unable to validate the wrapping "
                        "token's creation path (expected \"%s\", "
                        "found \"%s\"): refusing to unwrap it",
                        st->wrapping_path, creation_path);
        host->secret_free(creation_path);
        return VP_ERROR;
    }
    host->secret_free(creation_path);
    if (host->login_set_request(next, "PUT", "sys/wrapping/unwrap") != 0 ||
        host->login_set_body(next, "null") != 0 ||
        host->login_set_token(next, st->wrapping_token) != 0)
        return VP_ERROR;
    st->step = STEP_UNWRAP;
    return VP_CONTINUE;
}

/* Round 2 answered: keep the secret id, then the real login. */
static vp_status_t
take_unwrapped(vp_instance_t *inst, const vp_auth_answer_t *answer,
               vp_login_t *next)
{
    const vp_host_api_t *host = inst->host;
    approle_state *st = inst->data;
    char *secret_id = NULL;
    int rc = host->json_get_string(answer->body.ptr, answer->body.len,
                                   "data.secret_id", &secret_id);
    if (rc != 0 || !secret_id[0]) {
        host->secret_free(secret_id);
        host->set_error(inst, "the unwrapped answer has no data.secret_id");
        return VP_ERROR;
    }
    replace_secret(host, &st->secret_id, secret_id);
    replace_secret(host, &st->used_wrapping_token, st->wrapping_token);
    st->wrapping_token = NULL;
    remove_secret_id_file(inst);
    return describe_login(inst, next);
}

static vp_status_t
approle_login_step(vp_instance_t *inst, const vp_auth_answer_t *answer,
                   vp_login_t *next)
{
    approle_state *st = inst->data;
    switch (st->step) {
    case STEP_LOOKUP:
        return check_lookup(inst, answer, next);
    case STEP_UNWRAP:
        return take_unwrapped(inst, answer, next);
    case STEP_LOGIN:
        break;
    }
    return VP_DONE; /* the core takes auth.client_token from it */
}

static const vp_auth_ops_t approle_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = approle_create,
    .destroy = approle_destroy,
    .login_begin = approle_login_begin,
    .login_step = approle_login_step,
};

static const vp_provide_t approle_provides[] = {
    {VP_KIND_AUTH, "approle", &approle_ops, approle_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(auth_approle) = {
    VP_PLUGIN_HEADER(auth_approle),
    .version = "1.0",
    .summary = "auth method approle: role id and secret id from files",
    .provides = approle_provides,
};
