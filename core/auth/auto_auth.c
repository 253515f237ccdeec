/* The auto-auth lifecycle as a small state machine on one timer:
 *
 *   LOGIN --ok--> RENEW (first renewal at once, then the 2/3 schedule)
 *     |             |--renewal failed / max TTL near--> LOGIN (no wait)
 *     +--failed--> BACKOFF --timer--> LOGIN
 *     +--failed, the method says permanently--> STOPPED --reauth--> LOGIN
 *
 * Only one upstream request is under way at a time.  A second timer
 * carries the method's own reauth requests (host->reauth, ABI 1.2) out of
 * the plugin's hook before they start a login. */
#include "autoconf.h"

#include "auth/auto_auth.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/backoff.h"
#include "base/log.h"
#include "base/version.h"
#include "auth/wrap_info.h"
#include "base/secmem.h"
#include "plugin/host_table.h"
#include "plugin/reauth.h"

#define COMPONENT "proxy.auth.handler"
#define MAX_ROUNDS 8 /* round trips in one login (unwrap, then login...) */

typedef enum { AA_IDLE, AA_LOGIN, AA_RENEW, AA_WAIT } aa_state;

struct vpd_auto_auth {
    uv_loop_t *loop;
    const vpd_method_config *method;
    vpd_instance *inst;
    vpd_fwd *fwd;
    vpd_token_holder *holder;
    vpd_auto_auth_events ev;

    uv_timer_t timer;
    uv_timer_t reauth_timer; /* the method's reauth, one loop turn later */
    int open_handles;
    vp_login_t *login;
    vpd_fwd_op *op;
    aa_state state;
    int rounds;
    vpd_backoff backoff; /* the waits between failed logins */
    uint64_t lease_ms;   /* duration the last answer granted */
    uint64_t grace_ms;
    bool closing;
    bool reauth_pending;
    bool backing_off;           /* the last login failed: wait it out */
    bool stopped;               /* the method said the failure is permanent */
    bool method_reauth_pending; /* the method asked during a login */
    bool first_renewal;         /* the renewal right after a login */
    char *preloaded;            /* secret: a token restored from the
                                   persistent cache, tried before a login */
    bool trying_preloaded;
    char login_path[512]; /* "<mount_path>/login" */
    vpd_auto_auth_counters counters;
    void (*closed)(void *);
    void *closed_arg;
};

static void login_now(vpd_auto_auth *a);
static void renew_now(vpd_auto_auth *a);

static void
on_timer(uv_timer_t *t)
{
    vpd_auto_auth *a = t->data;
    if (a->closing)
        return;
    if (a->state == AA_RENEW)
        renew_now(a);
    else
        login_now(a);
}

static void
wait_then(vpd_auto_auth *a, aa_state next, uint64_t ms)
{
    a->state = next == AA_RENEW ? AA_RENEW : AA_WAIT;
    uv_timer_start(&a->timer, on_timer, ms, 0);
}

/* After a failed login wait the current backoff, then grow it (double,
 * cap at max_backoff, take away up to a quarter at random so restarted
 * proxies do not log in in step), as vaproxyd.hcl(5) describes for
 * min_backoff and max_backoff. */
static void
login_failed_as(vpd_auto_auth *a, const char *why, vp_auth_failure_t kind)
{
    a->counters.failures++;
    vpd_log(VPD_LOG_ERROR, COMPONENT, "login failed: %s", why);
    if (a->ev.on_login_done)
        a->ev.on_login_done(false, a->ev.arg);
    if (a->method->exit_on_err) {
        if (a->ev.on_fatal)
            a->ev.on_fatal(why, a->ev.arg);
        return;
    }
    if (a->method_reauth_pending) {
        /* The credential changed while this login was under way: the
         * failure was the old one's, try the new one at once. */
        a->method_reauth_pending = false;
        login_now(a);
        return;
    }
    if (kind == VP_AUTH_FAIL_PERMANENT) {
        /* Retrying cannot help; the method calls reauth when its
         * credential changes, or SIGHUP brings another block. */
        a->stopped = true;
        a->state = AA_WAIT;
        vpd_log(VPD_LOG_ERROR, COMPONENT,
                "the auth method says retrying cannot help: waiting for "
                "its credential or its configuration to change");
        return;
    }
    a->backing_off = true;
    uint64_t wait = vpd_backoff_next(&a->backoff);
    vpd_log(VPD_LOG_INFO, COMPONENT, "retrying login in %llu ms",
            (unsigned long long)wait);
    wait_then(a, AA_LOGIN, wait);
}

/* The method said a login is not possible yet (VP_DECLINED: its
 * credential file is not there yet, say).  That is no failure: it is not
 * logged as one, counted, or fatal under exit_on_err; the login is tried
 * again after the same backoff. */
static void
login_declined(vpd_auto_auth *a, const char *why)
{
    vpd_log(VPD_LOG_WARN, COMPONENT, "the auth method cannot log in yet: %s",
            why);
    if (a->ev.on_login_done)
        a->ev.on_login_done(false, a->ev.arg);
    a->backing_off = true;
    uint64_t wait = vpd_backoff_next(&a->backoff);
    vpd_log(VPD_LOG_INFO, COMPONENT, "retrying login in %llu ms",
            (unsigned long long)wait);
    wait_then(a, AA_LOGIN, wait);
}

static void
login_failed(vpd_auto_auth *a, const char *why)
{
    login_failed_as(a, why, VP_AUTH_FAIL_TRANSIENT);
}

/* A login request failed upstream: the method's login_failed hook (ABI
 * 1.2) sees the answer, may drop what it cached, says whether retrying
 * can help and may give its own message. */
static void
login_request_failed(vpd_auto_auth *a, const vpd_fwd_resp *resp,
                     const char *why)
{
    vp_auth_failure_t (*hook)(vp_instance_t *, const vp_auth_answer_t *) =
        vpd_instance_login_failed_op(a->inst);
    if (!hook) {
        login_failed(a, why);
        return;
    }
    bool answered = resp->error == VPD_FWD_OK;
    const char *body = answered ? (resp->body ? resp->body : "") : why;
    vp_auth_answer_t ans = {
        .status = answered ? resp->status : 0,
        .body = {body, answered ? resp->body_len : strlen(why)},
        .size = sizeof ans,
    };
    vpd_instance_clear_error(a->inst);
    vp_auth_failure_t kind = hook(&a->inst->pub, &ans);
    const char *own = vpd_instance_error(a->inst);
    char msg[1024];
    if (own[0]) {
        snprintf(msg, sizeof msg, "%s (%s)", own, why);
        why = msg;
    }
    login_failed_as(a, why,
                    kind == VP_AUTH_FAIL_PERMANENT ? VP_AUTH_FAIL_PERMANENT
                                                   : VP_AUTH_FAIL_TRANSIENT);
}

static void
go_wrap_ttl(char *out, size_t len, uint64_t ms)
{
    /* The server parses Go duration text; seconds, or milliseconds when
     * the TTL is not a whole number of seconds. */
    if (ms % 1000)
        snprintf(out, len, "%llums", (unsigned long long)ms);
    else
        snprintf(out, len, "%llus", (unsigned long long)(ms / 1000));
}

static void on_login_answer(vpd_fwd_resp *resp, void *arg);

static void
send_login_request(vpd_auto_auth *a)
{
    vp_login_t *l = a->login;
    vpd_hdrs h = {0};
    char target[1024];
    snprintf(target, sizeof target, "/v1/%s", l->path ? l->path : "");
    vpd_hdrs_add(&h, "User-Agent", VPD_AUTO_AUTH_UA);
    vpd_hdrs_add(&h, "X-Vault-Request", "true");
    if (l->token)
        vpd_hdrs_add(&h, "X-Vault-Token", l->token);
    if (a->method->namespace_ && a->method->namespace_[0])
        vpd_hdrs_add(&h, "X-Vault-Namespace", a->method->namespace_);
    /* Only the login itself is wrapped, not the round trips a method
     * makes before it (an unwrap of a wrapped secret id, say). */
    if (a->method->wrap_ttl_ms && l->path &&
        strcmp(l->path, a->login_path) == 0) {
        char ttl[32];
        go_wrap_ttl(ttl, sizeof ttl, a->method->wrap_ttl_ms);
        vpd_hdrs_add(&h, "X-Vault-Wrap-TTL", ttl);
    }
    if (l->body)
        vpd_hdrs_add(&h, "Content-Type", "application/json");
    for (size_t i = 0; i < l->headers.n; i++)
        vpd_hdrs_add(&h, l->headers.v[i].name, l->headers.v[i].value);
    vpd_fwd_req req = {
        .method = l->method,
        .target = target,
        .headers = &h,
        .body = l->body,
        .body_len = l->body ? strlen(l->body) : 0,
        .max_retries = 0, /* login retries follow the auth backoff */
        .client_cert = l->client_cert,
        .client_key = l->client_key,
        .ca_cert = l->ca_cert,
    };
    a->op = vpd_fwd_send(a->fwd, &req, on_login_answer, a);
    /* Headers carry the token: wipe them as soon as they are copied. */
    for (size_t i = 0; i < h.n; i++)
        if (strcasecmp(h.v[i].name, "X-Vault-Token") == 0)
            memset(h.v[i].value, 0, strlen(h.v[i].value));
    vpd_hdrs_free(&h);
    if (!a->op)
        login_failed(a, "could not start the login request");
}

static void
login_now(vpd_auto_auth *a)
{
    a->state = AA_LOGIN;
    a->rounds = 0;
    a->reauth_pending = false;
    a->stopped = false;
    a->counters.login_attempts++;
    vpd_login_reset(a->login);
    if (a->preloaded) {
        /* A token restored from the persistent cache is looked up instead
         * of logging in; if it is still good, no login is needed. */
        const vp_host_api_t *host = vpd_host_api();
        host->login_set_request(a->login, "GET", "auth/token/lookup-self");
        host->login_set_token(a->login, a->preloaded);
        host->login_set_result(a->login, VP_LOGIN_RESULT_LOOKUP);
        vpd_secret_free(a->preloaded);
        a->preloaded = NULL;
        a->trying_preloaded = true;
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "trying the auto-auth token restored from the cache");
        send_login_request(a);
        return;
    }
    a->trying_preloaded = false;
    /* The default request; most methods only set the body. */
    snprintf(a->login_path, sizeof a->login_path, "%s/login",
             a->method->mount_path);
    vpd_host_api()->login_set_request(a->login, "PUT", a->login_path);
    vpd_host_api()->login_set_body(a->login, "{}");

    const vp_auth_ops_t *ops = vpd_instance_ops(a->inst);
    vpd_instance_clear_error(a->inst);
    vp_status_t rc = ops->login_begin(&a->inst->pub, a->login);
    if (rc == VP_DECLINED) {
        const char *why = vpd_instance_error(a->inst);
        login_declined(a, why[0] ? why : "it declined to start a login");
        return;
    }
    if (rc != VP_CONTINUE) {
        const char *why = vpd_instance_error(a->inst);
        login_failed(a, why[0] ? why : "the auth method could not start");
        return;
    }
    vpd_log(VPD_LOG_DEBUG, COMPONENT, "logging in with %s at %s",
            a->inst->pub.name, a->login->path);
    send_login_request(a);
}

/* The first error text of a Vault error answer, for the log.  Vault's
 * error strings do not carry secrets. */
void
vpd_auto_auth_answer_error(const vpd_fwd_resp *resp, char *out, size_t len)
{
    if (resp->error != VPD_FWD_OK) {
        snprintf(out, len, "%s",
                 resp->error_text ? resp->error_text : "no answer");
        return;
    }
    const char *msg = "";
    json_object *root = json_tokener_parse(resp->body ? resp->body : "");
    json_object *errs = NULL;
    if (root && json_object_object_get_ex(root, "errors", &errs) &&
        json_object_is_type(errs, json_type_array) &&
        json_object_array_length(errs) > 0)
        msg = json_object_get_string(json_object_array_get_idx(errs, 0));
    /* errors[0] may be null (json-c gives NULL for it): upstream's bytes
     * must not crash the daemon (found by fuzz_auto_auth). */
    if (!msg)
        msg = "";
    snprintf(out, len, "server answered %d%s%s", resp->status,
             msg[0] ? ": " : "", msg);
    json_object_put(root);
}

/* Pulls token, lease and renewability out of a login or lookup answer. */
int
vpd_auto_auth_extract_token(const char *body, bool lookup, char **token,
                            uint64_t *lease_s, bool *renewable, char *why,
                            size_t why_len)
{
    json_object *root = json_tokener_parse(body ? body : "");
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        snprintf(why, why_len, "the answer is not a JSON object");
        return -1;
    }
    const char *block = lookup ? "data" : "auth";
    const char *tok_key = lookup ? "id" : "client_token";
    const char *ttl_key = lookup ? "ttl" : "lease_duration";
    json_object *b = NULL, *v = NULL;
    int rc = -1;
    if (!json_object_object_get_ex(root, block, &b) ||
        !json_object_is_type(b, json_type_object)) {
        snprintf(why, why_len, "the answer has no \"%s\" block", block);
    } else if (!json_object_object_get_ex(b, tok_key, &v) ||
               !json_object_is_type(v, json_type_string) ||
               json_object_get_string_len(v) == 0) {
        snprintf(why, why_len, "the answer has no %s.%s", block, tok_key);
    } else {
        *token = vpd_secret_dup(json_object_get_string(v),
                                (size_t)json_object_get_string_len(v));
        *lease_s = 0;
        if (json_object_object_get_ex(b, ttl_key, &v))
            *lease_s = (uint64_t)json_object_get_int64(v);
        *renewable = json_object_object_get_ex(b, "renewable", &v) &&
                     json_object_get_boolean(v);
        rc = *token ? 0 : -1;
    }
    json_object_put(root);
    return rc;
}

/* After each renewal sleep two thirds of what is left plus a third of the
 * grace (a random tenth to fifth of the lease, as Vault's lifetime watcher
 * does); when what is left is inside the grace (max TTL near), log in
 * again instead. */
static void
schedule_renewal(vpd_auto_auth *a, uint64_t lease_ms, bool fresh)
{
    if (fresh || lease_ms > a->lease_ms)
        a->grace_ms = vpd_rand_between(lease_ms / 10, lease_ms / 5);
    a->lease_ms = lease_ms;
    uint64_t sleep = lease_ms * 2 / 3 + a->grace_ms / 3;
    if (lease_ms <= a->grace_ms || lease_ms - sleep <= a->grace_ms) {
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "token near its max TTL: logging in again");
        login_now(a);
        return;
    }
    wait_then(a, AA_RENEW, sleep);
}

static void
login_succeeded(vpd_auto_auth *a, const char *body)
{
    char why[256];
    if (a->method->wrap_ttl_ms) {
        /* Method-level wrapping: the sinks get wrap_info, which must not
         * be renewed (the token inside is for the reader). */
        char *text = vpd_wrap_info_text(body, body ? strlen(body) : 0);
        if (!text) {
            login_failed(a, "the answer has no wrap_info token");
            return;
        }
        vpd_backoff_reset(&a->backoff);
        a->state = AA_IDLE;
        a->counters.successes++;
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "authenticated with %s (response-wrapped, not renewed)",
                a->inst->pub.name);
        if (a->ev.on_token)
            a->ev.on_token(text, true, a->ev.arg);
        vpd_secret_free(text);
        if (a->ev.on_login_done)
            a->ev.on_login_done(true, a->ev.arg);
        return;
    }
    char *token = NULL;
    uint64_t lease_s = 0;
    bool renewable = false;
    if (vpd_auto_auth_extract_token(
            body, a->login->result == VP_LOGIN_RESULT_LOOKUP, &token, &lease_s,
            &renewable, why, sizeof why) != 0) {
        login_failed(a, why);
        return;
    }
    vpd_backoff_reset(&a->backoff);
    a->backing_off = false;
    a->method_reauth_pending = false;
    if (vpd_token_set(a->holder, token) != 0) {
        vpd_secret_free(token);
        login_failed(a, "out of memory");
        return;
    }
    a->counters.successes++;
    vpd_log(VPD_LOG_INFO, COMPONENT, "authenticated with %s (lease %llus, %s)",
            a->inst->pub.name, (unsigned long long)lease_s,
            renewable ? "renewable" : "not renewable");
    if (a->ev.on_token)
        a->ev.on_token(token, false, a->ev.arg);
    vpd_secret_free(token);
    if (a->ev.on_login_done)
        a->ev.on_login_done(true, a->ev.arg);

    if (lease_s == 0) {
        /* Root-like tokens never expire: nothing to renew. */
        a->state = AA_IDLE;
        return;
    }
    if (!renewable) {
        /* Log in again when the grace period before expiry begins. */
        uint64_t ms = lease_s * 1000;
        uint64_t grace = vpd_rand_between(ms / 10, ms / 5);
        wait_then(a, AA_LOGIN, ms - grace);
        return;
    }
    a->lease_ms = lease_s * 1000;
    a->grace_ms = vpd_rand_between(a->lease_ms / 10, a->lease_ms / 5);
    a->first_renewal = true;
    renew_now(a); /* the first renewal goes out at once, as in Vault */
}

static void
on_login_answer(vpd_fwd_resp *resp, void *arg)
{
    vpd_auto_auth *a = arg;
    a->op = NULL;
    if (a->closing || resp->error == VPD_FWD_CANCELLED)
        return;
    char why[512];
    if (resp->error != VPD_FWD_OK || resp->status >= 400) {
        vpd_auto_auth_answer_error(resp, why, sizeof why);
        if (a->trying_preloaded) {
            a->counters.failures++;
            vpd_log(VPD_LOG_INFO, COMPONENT,
                    "the restored token is no "
                    "longer valid (%s): logging in",
                    why);
            login_now(a);
            return;
        }
        login_request_failed(a, resp, why);
        return;
    }
    if (a->trying_preloaded) {
        a->trying_preloaded = false;
        login_succeeded(a, resp->body);
        return;
    }
    const vp_auth_ops_t *ops = vpd_instance_ops(a->inst);
    vp_status_t rc = VP_DONE;
    if (ops->login_step) {
        vp_auth_answer_t ans = {
            .status = resp->status,
            .body = {resp->body ? resp->body : "", resp->body_len},
            .size = sizeof ans,
        };
        /* The next request starts empty, with the same result rule. */
        vp_login_t *next = vpd_login_new();
        if (!next) {
            login_failed(a, "out of memory");
            return;
        }
        next->result = a->login->result;
        vpd_instance_clear_error(a->inst);
        rc = ops->login_step(&a->inst->pub, &ans, next);
        if (rc == VP_CONTINUE) {
            if (++a->rounds >= MAX_ROUNDS || !next->path) {
                vpd_login_free(next);
                login_failed(a, "the auth method asked for too many round "
                                "trips or an empty request");
                return;
            }
            vpd_login_free(a->login);
            a->login = next;
            send_login_request(a);
            return;
        }
        vpd_login_free(next);
    }
    if (rc != VP_DONE) {
        const char *e = vpd_instance_error(a->inst);
        login_failed(a, e[0] ? e : "the auth method rejected the answer");
        return;
    }
    login_succeeded(a, resp->body);
}

static void
on_renew_answer(vpd_fwd_resp *resp, void *arg)
{
    vpd_auto_auth *a = arg;
    a->op = NULL;
    if (a->closing || resp->error == VPD_FWD_CANCELLED)
        return;
    char why[512];
    bool first = a->first_renewal;
    a->first_renewal = false;
    if (resp->error != VPD_FWD_OK || resp->status >= 400) {
        vpd_auto_auth_answer_error(resp, why, sizeof why);
        a->counters.failures++;
        if (first) {
            /* A token that cannot be renewed right after it was issued
             * (no permission, no route): use it as a non-renewable one
             * and log in again before it expires, instead of logging in
             * again at once in a loop (hashicorp/vault#22575). */
            vpd_log(VPD_LOG_WARN, COMPONENT,
                    "cannot renew the new token (%s): using it until "
                    "shortly before it expires",
                    why);
            wait_then(a, AA_LOGIN, a->lease_ms - a->grace_ms);
            return;
        }
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "renewal failed (%s): logging in again", why);
        if (resp->error == VPD_FWD_OK)
            vpd_token_mark_dead(a->holder, a->holder->generation);
        login_now(a);
        return;
    }
    json_object *root = json_tokener_parse(resp->body ? resp->body : "");
    json_object *auth = NULL, *v = NULL;
    uint64_t lease_s = 0;
    if (root && json_object_object_get_ex(root, "auth", &auth) &&
        json_object_object_get_ex(auth, "lease_duration", &v))
        lease_s = (uint64_t)json_object_get_int64(v);
    json_object_put(root);
    if (!auth) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "renewal answer has no auth block: logging in again");
        login_now(a);
        return;
    }
    a->counters.successes++;
    vpd_log(VPD_LOG_DEBUG, COMPONENT, "token renewed (lease %llus)",
            (unsigned long long)lease_s);
    if (a->reauth_pending) {
        login_now(a);
        return;
    }
    schedule_renewal(a, lease_s * 1000, false);
}

static void
renew_now(vpd_auto_auth *a)
{
    const char *token = vpd_token_current(a->holder);
    if (!token) {
        login_now(a);
        return;
    }
    a->state = AA_RENEW;
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "User-Agent", VPD_AUTO_AUTH_UA);
    vpd_hdrs_add(&h, "X-Vault-Request", "true");
    vpd_hdrs_add(&h, "X-Vault-Token", token);
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    if (a->method->namespace_ && a->method->namespace_[0])
        vpd_hdrs_add(&h, "X-Vault-Namespace", a->method->namespace_);
    static const char body[] = "{\"increment\":0}";
    vpd_fwd_req req = {
        .method = "PUT",
        .target = "/v1/auth/token/renew-self",
        .headers = &h,
        .body = body,
        .body_len = sizeof body - 1,
        .max_retries = 0,
        /* The token renews over the same TLS identity it logged in with
         * (the cert method's own client certificate and CA). */
        .client_cert = a->login->client_cert,
        .client_key = a->login->client_key,
        .ca_cert = a->login->ca_cert,
    };
    a->op = vpd_fwd_send(a->fwd, &req, on_renew_answer, a);
    for (size_t i = 0; i < h.n; i++)
        if (strcasecmp(h.v[i].name, "X-Vault-Token") == 0)
            memset(h.v[i].value, 0, strlen(h.v[i].value));
    vpd_hdrs_free(&h);
    if (!a->op)
        login_now(a);
}

/* The method's reauth, out of its hook: log in now unless a login is
 * under way (then again right after it), also during a backoff or after
 * a permanent failure, which is what the method's new credential is for. */
static void
on_method_reauth_timer(uv_timer_t *t)
{
    vpd_auto_auth *a = t->data;
    if (a->closing)
        return;
    if (a->state == AA_LOGIN && a->op) {
        a->method_reauth_pending = true;
        return;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT, "the auth method %s asked to log in again",
            a->inst->pub.name);
    a->backing_off = false;
    a->stopped = false;
    if (a->op) {
        /* A renewal is under way; its answer starts the login. */
        a->reauth_pending = true;
        return;
    }
    uv_timer_stop(&a->timer);
    login_now(a);
}

static void
on_method_reauth(void *arg)
{
    vpd_auto_auth *a = arg;
    if (!a->closing)
        uv_timer_start(&a->reauth_timer, on_method_reauth_timer, 0, 0);
}

vpd_auto_auth *
vpd_auto_auth_new(uv_loop_t *loop, const vpd_method_config *method,
                  vpd_instance *inst, vpd_fwd *fwd, vpd_token_holder *holder,
                  const vpd_auto_auth_events *events)
{
    vpd_auto_auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->login = vpd_login_new();
    if (!a->login) {
        free(a);
        return NULL;
    }
    a->loop = loop;
    a->method = method;
    a->inst = inst;
    a->fwd = fwd;
    a->holder = holder;
    if (events)
        a->ev = *events;
    vpd_backoff_init(&a->backoff,
                     method->min_backoff_ms ? method->min_backoff_ms : 1000,
                     method->max_backoff_ms);
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_init(loop, &a->reauth_timer);
    a->reauth_timer.data = a;
    a->open_handles = 2;
    vpd_plugin_reauth_register(&inst->pub, on_method_reauth, a);
    return a;
}

const vpd_auto_auth_counters *
vpd_auto_auth_counters_get(const vpd_auto_auth *a)
{
    return &a->counters;
}

void
vpd_auto_auth_start(vpd_auto_auth *a)
{
    login_now(a);
}

int
vpd_auto_auth_preload(vpd_auto_auth *a, const char *token)
{
    vpd_secret_free(a->preloaded);
    a->preloaded = NULL;
    if (!token || a->method->wrap_ttl_ms)
        return 0; /* a wrapped login's token is the reader's, not ours */
    a->preloaded = vpd_secret_dup(token, strlen(token));
    return a->preloaded ? 0 : -1;
}

void
vpd_auto_auth_reauth(vpd_auto_auth *a)
{
    /* During a failure backoff the timer logs in; requests asking again
     * must not turn the backoff into a login storm. */
    if (a->closing || a->state == AA_LOGIN || a->backing_off || a->stopped)
        return;
    if (a->op) {
        /* A renewal is under way; its answer will decide. */
        a->reauth_pending = true;
        return;
    }
    uv_timer_stop(&a->timer);
    login_now(a);
}

void
vpd_auto_auth_replace_method(vpd_auto_auth *a, const vpd_method_config *method,
                             vpd_instance *inst)
{
    if (a->closing)
        return;
    /* A login of the old method under way is abandoned (its callback
     * runs now, cancelled): its answer would be the old identity. */
    if (a->op && a->state == AA_LOGIN) {
        vpd_fwd_op *op = a->op;
        a->op = NULL;
        vpd_fwd_cancel(op);
    }
    a->method = method;
    a->inst = inst;
    vpd_plugin_reauth_register(&inst->pub, on_method_reauth, a);
    vpd_backoff_init(&a->backoff,
                     method->min_backoff_ms ? method->min_backoff_ms : 1000,
                     method->max_backoff_ms);
    a->backing_off = false;
    a->stopped = false;
    a->method_reauth_pending = false;
    vpd_log(VPD_LOG_INFO, COMPONENT,
            "auth method %s reconfigured: logging in with it", inst->pub.name);
    if (a->op) {
        /* A renewal is under way; its answer starts the login. */
        a->reauth_pending = true;
        return;
    }
    uv_timer_stop(&a->timer);
    login_now(a);
}

bool
vpd_auto_auth_logging_in(const vpd_auto_auth *a)
{
    return a->state == AA_LOGIN;
}

static void
on_closed(uv_handle_t *h)
{
    vpd_auto_auth *a = h->data;
    if (--a->open_handles > 0)
        return;
    void (*done)(void *) = a->closed;
    void *arg = a->closed_arg;
    vpd_login_free(a->login);
    vpd_secret_free(a->preloaded);
    free(a);
    if (done)
        done(arg);
}

void
vpd_auto_auth_close(vpd_auto_auth *a, void (*done)(void *), void *arg)
{
    a->closing = true;
    a->closed = done;
    a->closed_arg = arg;
    if (a->op) {
        vpd_fwd_op *op = a->op;
        a->op = NULL;
        vpd_fwd_cancel(op);
    }
    vpd_plugin_reauth_unregister(&a->inst->pub);
    uv_timer_stop(&a->timer);
    uv_timer_stop(&a->reauth_timer);
    uv_close((uv_handle_t *)&a->timer, on_closed);
    uv_close((uv_handle_t *)&a->reauth_timer, on_closed);
}
