/* The agent runner (runner.h).  Secrets live in one table keyed by what
 * a template asked for (operation, path, arguments); each knows the
 * templates that read it, so an answer that changed re-renders only
 * those. */
#include "autoconf.h"

#include "agent/runner.h"

#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command.h"
#include "agent/dest_file.h"
#include "agent/schedule.h"
#include "base/backoff.h"
#include "base/buf.h"
#include "base/log.h"

#define COMPONENT "agent"
#define N_BUCKETS 4096u
#define DEFAULT_RETRY_MIN_MS 250u
#define DEFAULT_RETRY_MAX_MS 60000u
#define DEFAULT_STATIC_INTERVAL_MS (5u * 60u * 1000u)
/* Vault Agent's default for template_config.max_connections_per_host. */
#define DEFAULT_MAX_IN_FLIGHT 10u

typedef struct tmpl_entry tmpl_entry;

enum { FETCH_READ = 1, FETCH_RENEW = 2 };

typedef struct secret {
    struct secret *chain; /* hash chain */
    struct vpd_agent_runner *runner;
    char *key; /* op, path and arguments, NUL-separated into one string */
    vpd_agent_op op;
    char *path;
    char *write_body; /* JSON of the key=value arguments (writes) */
    char *answer;     /* the last good answer; NULL before the first */
    char *lease_id;
    uint64_t lease_ms;
    int fetching; /* 0, or FETCH_READ or FETCH_RENEW while queued or sent */
    bool queued;  /* waiting in the runner's queue for a free slot */
    struct secret *queue_next;
    vpd_agent_next_kind next_kind; /* what the timer does when it fires */
    uv_timer_t timer;
    bool timer_open;
    vpd_backoff backoff;
    unsigned failures;
    tmpl_entry **readers;
    size_t n_readers, cap_readers;
} secret;

struct tmpl_entry {
    struct vpd_agent_runner *runner;
    size_t index;
    char name[64]; /* for messages: the destination or the variable */
    const vpd_template_config *cfg;         /* file templates */
    const vpd_env_template_config *env_cfg; /* env templates */
    void *compiled;
    secret **deps; /* what the last render asked for */
    size_t n_deps, cap_deps;
    bool dirty;
    bool complete; /* rendered once with every secret known */
    bool failed;   /* the last render failed */
    char *value;   /* env templates: the last rendered value */
    uv_timer_t wait_timer;
    bool wait_open;
    uint64_t wait_first; /* loop time of the first change being held */
    bool command_running, command_pending;
};

struct vpd_agent_runner {
    uv_loop_t *loop;
    vpd_agent_runner_deps deps;
    const vpd_template_settings *settings;
    double threshold;
    uint64_t static_interval_ms;
    tmpl_entry *tmpls;
    size_t n_tmpls;
    size_t n_env;
    secret *buckets[N_BUCKETS];
    size_t n_secrets;
    uv_timer_t pass_timer;
    bool pass_pending;
    size_t inflight;     /* fetches not answered yet */
    size_t max_inflight; /* template_config.max_connections_per_host */
    /* Fetches waiting for a slot, oldest first, so that no secret waits
     * behind ones asked for after it. */
    secret *queue_head, *queue_tail;
    size_t commands_running;
    size_t open_handles; /* timers still to close */
    bool started, closing, finished, freed;
    bool env_sent;
    vpd_agent_stats stats;
    /* Set during one render: the template being rendered, and whether it
     * asked for something not fetched yet. */
    tmpl_entry *rendering;
    bool missing;
};

static void schedule_pass(vpd_agent_runner *r);
static void fetch(secret *s);
static void pump(vpd_agent_runner *r);
static void check_done(vpd_agent_runner *r);

/* ---- the secret table ---------------------------------------------------- */

static uint32_t
hash_key(const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

/* The key: "R|W|L" path, then each argument, '\n'-separated. */
static char *
make_key(vpd_agent_op op, const char *path, const char *const *kv, size_t n,
         size_t *len)
{
    vpd_buf b = {0};
    char c = op == VPD_AGENT_READ ? 'R' : op == VPD_AGENT_WRITE ? 'W' : 'L';
    vpd_buf_append(&b, &c, 1);
    vpd_buf_append(&b, path, strlen(path));
    for (size_t i = 0; i < n; i++) {
        vpd_buf_append(&b, "\n", 1);
        vpd_buf_append(&b, kv[i], strlen(kv[i]));
    }
    if (vpd_buf_append(&b, "", 1) != 0) {
        vpd_buf_free(&b);
        return NULL;
    }
    *len = b.len - 1;
    return (char *)b.data;
}

/* {"k":"v",...} from "k=v" arguments, as consul-template sends them. */
static char *
kv_body(const char *const *kv, size_t n)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        char *k = eq ? strndup(kv[i], (size_t)(eq - kv[i])) : strdup(kv[i]);
        if (!k)
            continue;
        json_object_object_add(o, k, json_object_new_string(eq ? eq + 1 : ""));
        free(k);
    }
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

static secret *
secret_find(vpd_agent_runner *r, const char *key, size_t len, uint32_t h)
{
    for (secret *s = r->buckets[h % N_BUCKETS]; s; s = s->chain)
        if (strcmp(s->key, key) == 0)
            return s;
    (void)len;
    return NULL;
}

static secret *
secret_add(vpd_agent_runner *r, char *key, uint32_t h, vpd_agent_op op,
           const char *path, const char *const *kv, size_t n)
{
    secret *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->runner = r;
    s->key = key;
    s->op = op;
    s->path = strdup(path);
    s->write_body = op == VPD_AGENT_WRITE ? kv_body(kv, n) : NULL;
    if (!s->path || (op == VPD_AGENT_WRITE && !s->write_body)) {
        free(s->path);
        free(s->write_body);
        free(s);
        return NULL;
    }
    uint64_t lo =
        r->deps.retry_min_ms ? r->deps.retry_min_ms : DEFAULT_RETRY_MIN_MS;
    uint64_t hi =
        r->deps.retry_max_ms ? r->deps.retry_max_ms : DEFAULT_RETRY_MAX_MS;
    vpd_backoff_init(&s->backoff, lo, hi > lo ? hi : lo + 1);
    uv_timer_init(r->loop, &s->timer);
    s->timer.data = s;
    s->timer_open = true;
    r->open_handles++;
    s->chain = r->buckets[h % N_BUCKETS];
    r->buckets[h % N_BUCKETS] = s;
    r->n_secrets++;
    r->stats.secrets++;
    return s;
}

static int
add_ptr(void ***v, size_t *n, size_t *cap, void *p)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == p)
            return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        void **nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = p;
    return 0;
}

/* The engine's lookup: the answer, or NULL (and a fetch) when unknown. */
static const char *
lookup(void *ctx, vpd_agent_op op, const char *path, const char *const *kv,
       size_t n_kv)
{
    vpd_agent_runner *r = ctx;
    size_t len = 0;
    char *key = make_key(op, path, kv, n_kv, &len);
    if (!key) {
        r->missing = true;
        return NULL;
    }
    uint32_t h = hash_key(key, len);
    secret *s = secret_find(r, key, len, h);
    if (s) {
        free(key);
    } else if (!(s = secret_add(r, key, h, op, path, kv, n_kv))) {
        free(key);
        r->missing = true;
        return NULL;
    }
    tmpl_entry *t = r->rendering;
    if (t) {
        add_ptr((void ***)&t->deps, &t->n_deps, &t->cap_deps, s);
        add_ptr((void ***)&s->readers, &s->n_readers, &s->cap_readers, t);
    }
    if (!s->answer) {
        r->missing = true;
        if (!s->fetching && !uv_is_active((uv_handle_t *)&s->timer))
            fetch(s);
        return NULL;
    }
    return s->answer;
}

/* ---- fetching --------------------------------------------------------------
 */

static void on_secret_timer(uv_timer_t *t);

static void
arm(secret *s, vpd_agent_next_kind kind, uint64_t delay_ms)
{
    s->next_kind = kind;
    uv_timer_start(&s->timer, on_secret_timer, delay_ms, 0);
}

/* An answer changed: the templates that read it and now have everything
 * they asked for are rendered again. */
static void
mark_readers(secret *s)
{
    for (size_t i = 0; i < s->n_readers; i++) {
        tmpl_entry *t = s->readers[i];
        bool all = true;
        for (size_t j = 0; j < t->n_deps && all; j++)
            all = t->deps[j]->answer != NULL;
        if (all)
            t->dirty = true;
    }
    schedule_pass(s->runner);
}

static void
finish(vpd_agent_runner *r, int code)
{
    if (r->finished)
        return;
    r->finished = true;
    if (r->deps.on_exit)
        r->deps.on_exit(code, r->deps.arg);
}

static void
on_failure(secret *s, int status, const char *body, size_t len)
{
    vpd_agent_runner *r = s->runner;
    const vpd_config *cfg = r->deps.cfg;
    s->failures++;
    vpd_log(VPD_LOG_WARN, COMPONENT, "%s %s: %s %d: %.*s (attempt %u)",
            s->op == VPD_AGENT_WRITE ? "write" : "read", s->path,
            status ? "status" : "no answer", status,
            (int)(len > 200 ? 200 : len), body ? body : "", s->failures);
    if (cfg->template_config.exit_on_retry_failure &&
        s->failures > (unsigned)cfg->vault.num_retries) {
        vpd_log(VPD_LOG_ERROR, COMPONENT,
                "%s: giving up after %u attempts (exit_on_retry_failure)",
                s->path, s->failures);
        finish(r, 1);
        return;
    }
    arm(s, VPD_AGENT_NEXT_REFETCH, vpd_backoff_next(&s->backoff));
}

/* A renewal's answer: renew again while the lease grows back to what it
 * was; a lease that stopped growing (its max TTL is near) is replaced by
 * a fresh secret at its threshold instead of being renewed to its end. */
static void
on_renewed(secret *s, const char *body)
{
    vpd_agent_runner *r = s->runner;
    vpd_agent_lease l;
    if (vpd_agent_lease_parse(body, &l) != 0 || !l.has_lease) {
        fetch(s);
        return;
    }
    if (l.duration_ms * 3 < s->lease_ms * 2)
        l.renewable = false;
    else
        s->lease_ms = l.duration_ms;
    vpd_agent_next n =
        vpd_agent_schedule(&l, r->threshold, r->static_interval_ms);
    arm(s, n.kind, n.delay_ms);
}

static char *
lease_id_of(const char *text)
{
    json_object *o = json_tokener_parse(text), *v;
    char *id = NULL;
    if (o && json_object_object_get_ex(o, "lease_id", &v) &&
        json_object_is_type(v, json_type_string))
        id = strdup(json_object_get_string(v));
    json_object_put(o);
    return id;
}

static void
on_answer(int status, const vpd_hdrs *hdrs, const char *body, size_t len,
          void *arg)
{
    secret *s = arg;
    vpd_agent_runner *r = s->runner;
    (void)hdrs;
    bool renewal = s->fetching == FETCH_RENEW;
    s->fetching = 0;
    r->inflight--;
    /* The freed slot goes to the oldest waiting request first. */
    pump(r);
    if (r->closing || r->finished) {
        check_done(r);
        return;
    }
    if (status == 404 && s->op == VPD_AGENT_LIST) {
        /* Nothing under the path: an empty list, as consul-template
         * gives. */
        status = 200;
        body = "{\"data\":{\"keys\":[]}}";
        len = strlen(body);
    }
    if (status < 200 || status > 299) {
        if (renewal) {
            vpd_log(VPD_LOG_INFO, COMPONENT,
                    "%s: the lease could not be renewed (status %d); "
                    "fetching the secret again",
                    s->path, status);
            fetch(s);
            return;
        }
        on_failure(s, status, body, len);
        return;
    }
    s->failures = 0;
    vpd_backoff_reset(&s->backoff);
    const char *text = len ? body : "{}";
    size_t text_len = len ? len : 2;
    if (renewal) {
        r->stats.renewals++;
        on_renewed(s, text);
        return;
    }
    vpd_agent_lease l = {0};
    vpd_agent_lease_parse(text, &l);
    free(s->lease_id);
    s->lease_id = l.has_lease ? lease_id_of(text) : NULL;
    s->lease_ms = l.duration_ms;
    bool changed = !s->answer || strlen(s->answer) != text_len ||
                   memcmp(s->answer, text, text_len) != 0;
    if (changed) {
        char *copy = strndup(text, text_len);
        if (copy) {
            free(s->answer);
            s->answer = copy;
        }
    }
    if (!r->deps.once) {
        vpd_agent_next n =
            vpd_agent_schedule(&l, r->threshold, r->static_interval_ms);
        arm(s, n.kind, n.delay_ms);
    }
    if (changed)
        mark_readers(s);
}

static void
send_request(secret *s, const char *method, const char *target,
             const char *body, int kind)
{
    vpd_agent_runner *r = s->runner;
    s->fetching = kind;
    r->inflight++;
    if (r->deps.fetch(r->deps.fetch_ctx, method, target, body,
                      body ? strlen(body) : 0, on_answer, s) != 0) {
        s->fetching = 0;
        r->inflight--;
        on_failure(s, 0, "cannot send the request", 23);
    }
}

/* Whether a new request must wait: every slot is taken, or others are
 * already waiting and go first. */
static bool
must_queue(const vpd_agent_runner *r)
{
    return r->inflight >= r->max_inflight || r->queue_head != NULL;
}

static void
enqueue(secret *s, int kind)
{
    vpd_agent_runner *r = s->runner;
    s->fetching = kind;
    s->queued = true;
    s->queue_next = NULL;
    if (r->queue_tail)
        r->queue_tail->queue_next = s;
    else
        r->queue_head = s;
    r->queue_tail = s;
}

static void
start_fetch(secret *s)
{
    vpd_agent_runner *r = s->runner;
    r->stats.fetches++;
    size_t n = strlen(s->path) + 32;
    char *target = malloc(n);
    if (!target) {
        on_failure(s, 0, "out of memory", 13);
        return;
    }
    if (s->op == VPD_AGENT_LIST)
        snprintf(target, n, "/v1/%s%slist=true", s->path,
                 strchr(s->path, '?') ? "&" : "?");
    else
        snprintf(target, n, "/v1/%s", s->path);
    send_request(s, s->op == VPD_AGENT_WRITE ? "PUT" : "GET", target,
                 s->write_body, FETCH_READ);
    free(target);
}

static void
fetch(secret *s)
{
    vpd_agent_runner *r = s->runner;
    if (r->closing || r->finished)
        return;
    uv_timer_stop(&s->timer);
    if (must_queue(r))
        enqueue(s, FETCH_READ);
    else
        start_fetch(s);
}

static void
start_renew(secret *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "lease_id", json_object_new_string(s->lease_id));
    char *body =
        strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (!body) {
        fetch(s);
        return;
    }
    send_request(s, "PUT", "/v1/sys/leases/renew", body, FETCH_RENEW);
    free(body);
}

static void
renew(secret *s)
{
    if (must_queue(s->runner))
        enqueue(s, FETCH_RENEW);
    else
        start_renew(s);
}

/* Sends queued requests while slots are free.  A request that cannot be
 * sent gives its slot back at once, so the loop goes on to the next. */
static void
pump(vpd_agent_runner *r)
{
    while (r->queue_head && r->inflight < r->max_inflight && !r->closing &&
           !r->finished) {
        secret *s = r->queue_head;
        r->queue_head = s->queue_next;
        if (!r->queue_head)
            r->queue_tail = NULL;
        s->queue_next = NULL;
        s->queued = false;
        int kind = s->fetching;
        s->fetching = 0;
        if (kind == FETCH_RENEW && s->answer && s->lease_id)
            start_renew(s);
        else
            start_fetch(s);
    }
}

static void
on_secret_timer(uv_timer_t *t)
{
    secret *s = t->data;
    if (s->fetching || s->runner->closing || s->runner->finished)
        return;
    if (s->next_kind == VPD_AGENT_NEXT_RENEW && s->answer && s->lease_id)
        renew(s);
    else
        fetch(s);
}

/* ---- rendering --------------------------------------------------------------
 */

static void run_command(tmpl_entry *t);

static void
on_command_done(int status, void *arg)
{
    tmpl_entry *t = arg;
    vpd_agent_runner *r = t->runner;
    t->command_running = false;
    if (status != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT, "template %s: command %s %d", t->name,
                status < 0 ? "timed out" : "exited with",
                status < 0 ? 0 : status);
    r->commands_running--;
    if (t->command_pending && !r->closing && !r->finished) {
        /* Changed again while it ran: once more, for the newest file. */
        t->command_pending = false;
        run_command(t);
    }
    check_done(r);
}

/* Runs a file template's command (or its exec block's). */
static void
run_command(tmpl_entry *t)
{
    vpd_agent_runner *r = t->runner;
    const vpd_template_config *c = t->cfg;
    const char *const *argv = c->exec.command ? c->exec.command : c->command;
    size_t n = c->exec.command ? c->exec.n_command : c->n_command;
    bool shell = !c->exec.command && c->command_is_shell;
    uint64_t timeout =
        c->exec.command ? c->exec.timeout_ms : c->command_timeout_ms;
    if (!argv)
        return;
    if (t->command_running) {
        t->command_pending = true;
        return;
    }
    char err[512];
    r->stats.commands++;
    if (vpd_agent_command_run(r->loop, argv, n, shell, timeout, on_command_done,
                              t, err, sizeof err) != 0) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "template %s: %s", t->name, err);
        return;
    }
    t->command_running = true;
    r->commands_running++;
}

/* Every env template's value, once all have rendered. */
static void
send_env(vpd_agent_runner *r)
{
    if (!r->n_env || !r->deps.on_env)
        return;
    const char **names = calloc(r->n_env, sizeof *names);
    const char **values = calloc(r->n_env, sizeof *values);
    size_t k = 0;
    for (size_t i = 0; names && values && i < r->n_tmpls; i++) {
        tmpl_entry *t = &r->tmpls[i];
        if (!t->env_cfg)
            continue;
        if (!t->complete) {
            k = 0;
            break;
        }
        names[k] = t->env_cfg->name;
        values[k++] = t->value ? t->value : "";
    }
    if (k == r->n_env) {
        r->env_sent = true;
        r->deps.on_env(names, values, k, r->deps.arg);
    }
    free(names);
    free(values);
}

static void
render(tmpl_entry *t)
{
    vpd_agent_runner *r = t->runner;
    t->dirty = false;
    t->n_deps = 0;
    vpd_agent_source src = {
        .lookup = lookup,
        .ctx = r,
        .sandbox_path = t->cfg ? t->cfg->sandbox_path : NULL,
    };
    vpd_buf out = {0};
    char err[1024] = "";
    r->rendering = t;
    r->missing = false;
    int rc = r->deps.engine->render(t->compiled, &src, &out, err, sizeof err);
    r->rendering = NULL;
    r->stats.renders++;
    if (r->missing) {
        /* Asked for something still on its way: rendered again when it
         * arrives. */
        vpd_buf_free(&out);
        return;
    }
    if (rc != 0) {
        vpd_buf_free(&out);
        if (!t->failed)
            vpd_log(VPD_LOG_ERROR, COMPONENT, "template %s: %s", t->name, err);
        t->failed = true;
        if (r->deps.once || r->deps.cfg->template_config.exit_on_retry_failure)
            finish(r, 1);
        return;
    }
    t->failed = false;
    const char *text = out.data ? (const char *)out.data : "";
    if (t->env_cfg) {
        bool changed = !t->value || strcmp(t->value, text) != 0;
        t->complete = true;
        if (changed) {
            free(t->value);
            t->value = strndup(text, out.len);
            send_env(r);
        } else if (!r->env_sent) {
            send_env(r);
        }
        vpd_buf_free(&out);
        return;
    }
    const vpd_template_config *c = t->cfg;
    vpd_agent_dest d = {
        .path = c->destination,
        .mode = c->mode,
        .user = c->user,
        .group = c->group,
        .create_dirs = c->create_dest_dirs,
        .backup = c->backup,
    };
    int w = vpd_agent_dest_write(&d, text, out.len, err, sizeof err);
    vpd_buf_free(&out);
    if (w < 0) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "template %s: %s", t->name, err);
        if (r->deps.once)
            finish(r, 1);
        return;
    }
    t->complete = true;
    if (w == 1) {
        r->stats.writes++;
        vpd_log(VPD_LOG_INFO, COMPONENT, "rendered %s", c->destination);
        run_command(t);
    }
}

static void
on_wait_timer(uv_timer_t *timer)
{
    tmpl_entry *t = timer->data;
    t->wait_first = 0;
    render(t);
    check_done(t->runner);
}

/* Renders a changed template now, or, with `wait`, once no change came
 * for wait.min (but no later than wait.max after the first). */
static void
render_or_wait(tmpl_entry *t)
{
    vpd_agent_runner *r = t->runner;
    const vpd_wait_config *w = t->cfg ? &t->cfg->wait : NULL;
    if (!w || w->min_ms == 0 || !t->complete) {
        /* The first render is never held back, as in consul-template. */
        render(t);
        return;
    }
    t->dirty = false;
    uint64_t now = uv_now(r->loop);
    if (!t->wait_first)
        t->wait_first = now;
    uint64_t until_max = t->wait_first + w->max_ms - now;
    uint64_t delay = w->min_ms < until_max ? w->min_ms : until_max;
    uv_timer_start(&t->wait_timer, on_wait_timer, delay, 0);
}

static void
on_pass(uv_timer_t *timer)
{
    vpd_agent_runner *r = timer->data;
    r->pass_pending = false;
    for (size_t i = 0; i < r->n_tmpls && !r->finished && !r->closing; i++)
        if (r->tmpls[i].dirty)
            render_or_wait(&r->tmpls[i]);
    check_done(r);
}

static void
schedule_pass(vpd_agent_runner *r)
{
    if (r->pass_pending || r->closing || !r->started)
        return;
    r->pass_pending = true;
    uv_timer_start(&r->pass_timer, on_pass, 0, 0);
}

/* ---- life -------------------------------------------------------------------
 */

static void
free_runner(vpd_agent_runner *r)
{
    for (size_t i = 0; i < N_BUCKETS; i++) {
        secret *s = r->buckets[i];
        while (s) {
            secret *next = s->chain;
            free(s->key);
            free(s->path);
            free(s->write_body);
            free(s->answer);
            free(s->lease_id);
            free(s->readers);
            free(s);
            s = next;
        }
    }
    for (size_t i = 0; i < r->n_tmpls; i++) {
        tmpl_entry *t = &r->tmpls[i];
        if (t->compiled)
            r->deps.engine->free(t->compiled);
        free(t->deps);
        free(t->value);
    }
    free(r->tmpls);
    free(r);
}

static void
handle_gone(vpd_agent_runner *r)
{
    r->open_handles--;
    check_done(r);
}

static void
on_secret_timer_closed(uv_handle_t *h)
{
    handle_gone(((secret *)h->data)->runner);
}

static void
on_wait_timer_closed(uv_handle_t *h)
{
    handle_gone(((tmpl_entry *)h->data)->runner);
}

static void
on_pass_timer_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

/* One-shot: done when every template has rendered and no command runs.
 * After close: frees the runner once nothing is under way. */
static void
check_done(vpd_agent_runner *r)
{
    if (r->closing) {
        if (r->inflight == 0 && r->open_handles == 0 &&
            r->commands_running == 0 && !r->freed) {
            r->freed = true;
            free_runner(r);
        }
        return;
    }
    if (!r->deps.once || r->finished || !r->started)
        return;
    for (size_t i = 0; i < r->n_tmpls; i++)
        if (!r->tmpls[i].complete || r->tmpls[i].command_running ||
            r->tmpls[i].command_pending)
            return;
    vpd_log(VPD_LOG_INFO, COMPONENT,
            "every template rendered once; exiting (one-shot mode)");
    finish(r, 0);
}

/* The template's text: its contents, or its source file read now. */
static char *
template_text(const char *contents, const char *source, size_t *len, char *err,
              size_t err_len)
{
    if (contents) {
        *len = strlen(contents);
        return strdup(contents);
    }
    FILE *f = fopen(source, "rb");
    if (!f) {
        snprintf(err, err_len, "source: cannot read %s: %s", source,
                 strerror(errno));
        return NULL;
    }
    vpd_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        vpd_buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    if (vpd_buf_append(&b, "", 1) != 0) {
        vpd_buf_free(&b);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    return (char *)b.data;
}

static int
compile_entry(vpd_agent_runner *r, tmpl_entry *t, const char *contents,
              const char *source, const vpd_agent_tmpl_options *opt,
              const char *file, int line, const char *what, char *err,
              size_t err_len)
{
    char why[1024];
    size_t len = 0;
    char *text = template_text(contents, source, &len, why, sizeof why);
    if (text) {
        t->compiled = r->deps.engine->compile(
            text, len, source ? source : t->name, opt, why, sizeof why);
        free(text);
    }
    if (!t->compiled) {
        snprintf(err, err_len, "%s:%d: %s: %s", file, line, what, why);
        return -1;
    }
    return 0;
}

vpd_agent_runner *
vpd_agent_runner_new(uv_loop_t *loop, const vpd_agent_runner_deps *deps,
                     char *err, size_t err_len)
{
    const vpd_config *cfg = deps->cfg;
    vpd_agent_runner *r = calloc(1, sizeof *r);
    size_t n = cfg->n_templates + cfg->n_env_templates;
    if (!r || !(r->tmpls = calloc(n ? n : 1, sizeof *r->tmpls))) {
        free(r);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->deps = *deps;
    r->settings = &cfg->template_config;
    r->threshold = cfg->template_config.present
                       ? cfg->template_config.lease_threshold
                       : 0.9;
    r->max_inflight = cfg->template_config.present &&
                              cfg->template_config.max_connections_per_host
                          ? cfg->template_config.max_connections_per_host
                          : DEFAULT_MAX_IN_FLIGHT;
    r->static_interval_ms =
        cfg->template_config.present
            ? cfg->template_config.static_secret_render_interval_ms
            : DEFAULT_STATIC_INTERVAL_MS;
    r->n_tmpls = n;
    for (size_t i = 0; i < cfg->n_templates; i++) {
        const vpd_template_config *c = &cfg->templates[i];
        tmpl_entry *t = &r->tmpls[i];
        t->runner = r;
        t->index = i;
        t->cfg = c;
        snprintf(t->name, sizeof t->name, "%s", c->destination);
        vpd_agent_tmpl_options opt = {c->error_on_missing_key,
                                      c->left_delimiter, c->right_delimiter,
                                      c->function_denylist};
        if (compile_entry(r, t, c->contents, c->source, &opt, c->file, c->line,
                          "template", err, err_len) != 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->n_env_templates; i++) {
        const vpd_env_template_config *c = &cfg->env_templates[i];
        tmpl_entry *t = &r->tmpls[cfg->n_templates + i];
        t->runner = r;
        t->index = cfg->n_templates + i;
        t->env_cfg = c;
        snprintf(t->name, sizeof t->name, "%s", c->name);
        vpd_agent_tmpl_options opt = {c->error_on_missing_key,
                                      c->left_delimiter, c->right_delimiter,
                                      c->function_denylist};
        char what[160];
        snprintf(what, sizeof what, "env_template \"%s\"", c->name);
        if (compile_entry(r, t, c->contents, c->source, &opt, c->file, c->line,
                          what, err, err_len) != 0)
            goto fail;
        r->n_env++;
    }
    uv_timer_init(loop, &r->pass_timer);
    r->pass_timer.data = r;
    r->open_handles++;
    for (size_t i = 0; i < n; i++) {
        uv_timer_init(loop, &r->tmpls[i].wait_timer);
        r->tmpls[i].wait_timer.data = &r->tmpls[i];
        r->tmpls[i].wait_open = true;
        r->open_handles++;
    }
    return r;
fail:
    free_runner(r);
    return NULL;
}

void
vpd_agent_runner_start(vpd_agent_runner *r)
{
    if (r->started || r->closing)
        return;
    r->started = true;
    vpd_log(VPD_LOG_INFO, COMPONENT, "rendering %zu template(s)%s", r->n_tmpls,
            r->deps.once ? " once" : "");
    for (size_t i = 0; i < r->n_tmpls; i++)
        r->tmpls[i].dirty = true;
    schedule_pass(r);
}

void
vpd_agent_runner_close(vpd_agent_runner *r)
{
    if (!r || r->closing)
        return;
    r->closing = true;
    uv_close((uv_handle_t *)&r->pass_timer, on_pass_timer_closed);
    for (size_t i = 0; i < r->n_tmpls; i++)
        if (r->tmpls[i].wait_open)
            uv_close((uv_handle_t *)&r->tmpls[i].wait_timer,
                     on_wait_timer_closed);
    for (size_t b = 0; b < N_BUCKETS; b++)
        for (secret *s = r->buckets[b]; s; s = s->chain)
            if (s->timer_open)
                uv_close((uv_handle_t *)&s->timer, on_secret_timer_closed);
}

void
vpd_agent_runner_stats(const vpd_agent_runner *r, vpd_agent_stats *out)
{
    *out = r->stats;
}
