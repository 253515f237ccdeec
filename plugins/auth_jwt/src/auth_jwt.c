/* SPDX-License-Identifier: Apache-2.0 */
/* Auth method "jwt": Vault Agent's jwt method as a third-party plugin.
 *
 * It logs in with PUT <mount_path>/login {"role": ROLE, "jwt": JWT}, the JWT
 * read from the file `path`.  As Vault Agent does, it removes the file after
 * reading it unless remove_jwt_after_reading is false, keeps the JWT it
 * read for the logins that follow, and watches the file (every
 * watch_interval) so that a new JWT appearing there brings a new login at
 * once.  A login Vault refuses (400, 403) will not succeed with the same
 * JWT: the method drops it and waits for a new file instead of retrying.
 *
 * It is built only against the installed SDK (see Makefile), like any
 * plugin from outside vaproxy's tree, and needs ABI 1.2: timers, reauth,
 * the JSON builder, login_failed and reconfigure.
 *
 * Ownership: the instance's state (struct jwt_state) is created in create
 * and released in destroy; the JWT lives in a host secret buffer; the
 * configuration strings are the host's (valid until destroy, or until a
 * reconfigure that returned 0 has handed over the new ones). */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vaproxy/vaproxy.h>

typedef struct jwt_state {
    const char *path;
    const char *role;
    int remove_after_reading;
    uint64_t watch_ms;
    char *jwt; /* secret: the JWT of the next login, NULL when none */
    /* The file last read, when it was left in place: a change of any of
     * these means a new JWT. */
    int have_seen;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    vp_timer_t *watch;
} jwt_state;

static const vp_conf_field_t jwt_schema[] = {
    VP_CONF_FIELD("path", VP_CONF_PATH, VP_CONF_REQUIRED, NULL,
                  "the file holding the JWT to log in with"),
    VP_CONF_FIELD("role", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,
                  "the role of the jwt auth method to log in to"),
    VP_CONF_FIELD("remove_jwt_after_reading", VP_CONF_BOOL, 0, "true",
                  "remove the file once it has been read, as Vault Agent does"),
    VP_CONF_FIELD("watch_interval", VP_CONF_DURATION, 0, "500ms",
                  "how often the file is checked for a new JWT"),
    VP_CONF_END,
};

/* Reads the instance's settings from its configuration (inst or, in
 * reconfigure, the new one) into st. */
static int
read_settings(vp_instance_t *inst, jwt_state *st)
{
    const vp_host_api_t *h = inst->host;
    int remove = 1;
    uint64_t watch = 500;
    if (h->conf_string(inst, "path", &st->path) != 0 ||
        h->conf_string(inst, "role", &st->role) != 0 ||
        h->conf_bool(inst, "remove_jwt_after_reading", &remove) != 0 ||
        h->conf_duration_ms(inst, "watch_interval", &watch) != 0) {
        h->set_error(inst, "cannot read the jwt method's settings");
        return VP_EINVAL;
    }
    if (!st->path[0] || !st->role[0]) {
        h->set_error(inst, "path and role must not be empty");
        return VP_EINVAL;
    }
    if (watch == 0) {
        h->set_error(inst, "watch_interval must be above 0");
        return VP_EINVAL;
    }
    st->remove_after_reading = remove;
    st->watch_ms = watch;
    return 0;
}

static int
jwt_create(vp_instance_t *inst)
{
    const vp_host_api_t *h = inst->host;
    if (!VP_HOST_HAS(h, timer_start) || !VP_HOST_HAS(h, json_to_text)) {
        h->set_error(inst, "the jwt method needs vaproxyd with ABI 1.2");
        return VP_ENOTSUP;
    }
    jwt_state *st = h->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    int rc = read_settings(inst, st);
    if (rc != 0) {
        h->free(st);
        return rc;
    }
    /* The file is not read here: create also runs for --check-config and
     * for the instance a SIGHUP builds, and reading would consume a JWT
     * meant for the running instance. */
    inst->data = st;
    return 0;
}

static void
jwt_destroy(vp_instance_t *inst)
{
    jwt_state *st = inst->data;
    if (!st)
        return;
    inst->host->timer_stop(st->watch);
    inst->host->secret_free(st->jwt);
    inst->host->free(st);
    inst->data = NULL;
}

static int
same_file(const jwt_state *st, const struct stat *sb)
{
    return st->have_seen && st->dev == sb->st_dev && st->ino == sb->st_ino &&
           st->size == sb->st_size && st->mtime.tv_sec == sb->st_mtim.tv_sec &&
           st->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/* Takes the JWT from the file when the file holds one that was not read
 * yet.  Returns 1 when a new JWT was taken, 0 when there was none (the
 * file is absent or unchanged), or a VP_E* code (set_error says why). */
static int
take_new_jwt(vp_instance_t *inst, jwt_state *st)
{
    const vp_host_api_t *h = inst->host;
    struct stat sb;
    if (stat(st->path, &sb) != 0 || same_file(st, &sb))
        return 0;
    char *jwt = NULL;
    size_t len = 0;
    int rc = h->read_file(inst, st->path, 1, &jwt, &len);
    if (rc == VP_ENOENT)
        return 0; /* gone between the two calls */
    if (rc != 0)
        return rc;
    if (len == 0) {
        /* An empty file is a JWT being written: look again later. */
        h->secret_free(jwt);
        return 0;
    }
    if (st->remove_after_reading) {
        st->have_seen = 0;
        if (unlink(st->path) != 0)
            h->log(inst, VP_LOG_WARN, "cannot remove %s after reading it",
                   st->path);
    } else {
        st->have_seen = 1;
        st->dev = sb.st_dev;
        st->ino = sb.st_ino;
        st->size = sb.st_size;
        st->mtime = sb.st_mtim;
    }
    h->secret_free(st->jwt);
    st->jwt = jwt;
    return 1;
}

/* The watch: a new JWT in the file means a new login now, as Vault
 * Agent's jwt method does when its file changes. */
static void
on_watch(vp_instance_t *inst, void *arg)
{
    jwt_state *st = arg;
    if (take_new_jwt(inst, st) == 1) {
        inst->host->log(inst, VP_LOG_INFO, "new JWT in %s: logging in again",
                        st->path);
        inst->host->reauth(inst);
    }
}

static int
start_watch(vp_instance_t *inst, jwt_state *st)
{
    if (st->watch)
        return 0;
    st->watch =
        inst->host->timer_start(inst, st->watch_ms, st->watch_ms, on_watch, st);
    return st->watch ? 0 : VP_ENOMEM;
}

static vp_status_t
jwt_login_begin(vp_instance_t *inst, vp_login_t *login)
{
    const vp_host_api_t *h = inst->host;
    jwt_state *st = inst->data;
    if (start_watch(inst, st) != 0)
        h->log(inst, VP_LOG_WARN,
               "cannot watch %s: a new JWT there will "
               "be read at the next login only",
               st->path);
    int rc = take_new_jwt(inst, st);
    if (rc < 0)
        return VP_ERROR;
    if (!st->jwt) {
        h->set_error(inst, "no JWT in %s yet", st->path);
        return VP_DECLINED;
    }
    vp_json_t *body = h->json_new(VP_JSON_OBJECT);
    char *text = NULL;
    if (body && h->json_add_str(body, "role", st->role) == 0 &&
        h->json_add_str(body, "jwt", st->jwt) == 0)
        text = h->json_to_text(body, NULL);
    h->json_free(body);
    if (!text || h->login_set_body(login, text) != 0) {
        h->secret_free(text);
        h->set_error(inst, "out of memory");
        return VP_ERROR;
    }
    h->secret_free(text);
    return VP_CONTINUE;
}

/* Vault refuses a JWT it cannot verify, an expired one, or one the role
 * does not bind with 400 or 403: the same JWT will never do, so drop it
 * and wait for a new one.  Anything else (no answer, 5xx, 429) may pass. */
static vp_auth_failure_t
jwt_login_failed(vp_instance_t *inst, const vp_auth_answer_t *answer)
{
    jwt_state *st = inst->data;
    if (answer->status != 400 && answer->status != 403)
        return VP_AUTH_FAIL_TRANSIENT;
    inst->host->secret_free(st->jwt);
    st->jwt = NULL;
    inst->host->set_error(inst,
                          "Vault refused the JWT from %s for role \"%s\": "
                          "waiting for a new JWT there",
                          st->path, st->role);
    return VP_AUTH_FAIL_PERMANENT;
}

/* A changed block keeps the JWT already read (its file may be gone) unless
 * the file it came from changed. */
static int
jwt_reconfigure(vp_instance_t *inst, vp_instance_t *next)
{
    jwt_state *st = inst->data;
    jwt_state fresh = {0};
    int rc = read_settings(next, &fresh);
    if (rc != 0) {
        inst->host->set_error(inst, "%s", "invalid settings");
        return rc;
    }
    if (strcmp(fresh.path, st->path) != 0) {
        inst->host->secret_free(st->jwt);
        st->jwt = NULL;
        st->have_seen = 0;
    }
    int interval_changed = fresh.watch_ms != st->watch_ms;
    st->path = fresh.path;
    st->role = fresh.role;
    st->remove_after_reading = fresh.remove_after_reading;
    st->watch_ms = fresh.watch_ms;
    if (interval_changed && st->watch) {
        inst->host->timer_stop(st->watch);
        st->watch = NULL;
        start_watch(inst, st);
    }
    return 0;
}

static const vp_auth_ops_t jwt_ops = {
    .size = sizeof(vp_auth_ops_t),
    .create = jwt_create,
    .destroy = jwt_destroy,
    .login_begin = jwt_login_begin,
    .login_failed = jwt_login_failed,
    .reconfigure = jwt_reconfigure,
};

static const vp_provide_t jwt_provides[] = {
    {VP_KIND_AUTH, "jwt", &jwt_ops, jwt_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(auth_jwt) = {
    VP_PLUGIN_HEADER(auth_jwt),
    .version = "1.0.0",
    .summary = "JWT from a file (Vault Agent's jwt method)",
    .provides = jwt_provides,
};
