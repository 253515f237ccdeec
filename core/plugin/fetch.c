/* Plugin fetch over libcurl's multi interface: see fetch.h. */
#include "autoconf.h"

#include "plugin/fetch.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/secmem.h"
#include "plugin/curl_api.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_ANSWER (1024 * 1024)
/* A plugin may ask for more, never for an unbounded answer. */
#define HARD_MAX_ANSWER (16 * 1024 * 1024)

struct vp_fetch {
    CURL *easy;
    vp_instance_t *inst;
    vp_fetch_cb cb;
    void *arg;
    struct curl_slist *headers;
    char *body; /* secret copy of the request body */
    vpd_buf answer;
    size_t max_answer;
    bool too_large;
    char error[CURL_ERROR_SIZE];
    struct vp_fetch *prev, *next;
};

/* One socket curl wants watched. */
typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
} socket_watch;

static uv_loop_t *fetch_loop;
/* libcurl, loaded by the first fetch (curl_api.h). */
static const vpd_curl_api *cu;
static CURLM *multi;
static uv_timer_t multi_timer;
static bool curl_ready;
static vp_fetch_t *live_fetches;

void
vpd_plugin_fetch_set_loop(uv_loop_t *loop)
{
    fetch_loop = loop;
}

static void
wipe_slist(struct curl_slist *l)
{
    for (; l; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
}

static void
unlink_fetch(vp_fetch_t *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        live_fetches = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

static void
free_fetch(vp_fetch_t *f)
{
    cu->multi_remove_handle(multi, f->easy);
    cu->easy_cleanup(f->easy);
    wipe_slist(f->headers);
    cu->slist_free_all(f->headers);
    vpd_secret_free(f->body);
    vpd_buf_free_secret(&f->answer);
    free(f);
}

/* Takes the request out of curl and releases it; no callback. */
static void
release(vp_fetch_t *f)
{
    unlink_fetch(f);
    free_fetch(f);
}

static void
deliver(vp_fetch_t *f, CURLcode result)
{
    long status = 0;
    vp_fetch_answer_t ans = {.size = sizeof ans};
    if (result == CURLE_OK) {
        cu->easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
        ans.status = (int)status;
        ans.body = f->answer.data ? f->answer.data : "";
        ans.body_len = f->answer.len;
    } else {
        ans.error = f->too_large  ? "the answer is larger than allowed"
                    : f->error[0] ? f->error
                                  : cu->easy_strerror(result);
        ans.body = "";
    }
    /* Out of the list before the callback: it may start other requests
     * or cancel others, and a shutdown inside it must not free this one
     * twice. */
    unlink_fetch(f);
    f->cb(f->inst, &ans, f->arg);
    free_fetch(f);
}

static void
check_done(void)
{
    CURLMsg *msg;
    int pending;
    while ((msg = cu->multi_info_read(multi, &pending))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        vp_fetch_t *f = NULL;
        cu->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        CURLcode result = msg->data.result;
        cu->multi_remove_handle(multi, msg->easy_handle);
        if (f)
            deliver(f, result);
    }
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
    socket_watch *w = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    cu->multi_socket_action(multi, w->fd, flags, &running);
    check_done();
}

static void
on_multi_timer(uv_timer_t *t)
{
    (void)t;
    int running;
    cu->multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static int
on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    (void)userp;
    if (timeout_ms < 0)
        uv_timer_stop(&multi_timer);
    else
        /* 0 means "at once": on the next loop iteration, not inside
         * curl's own call. */
        uv_timer_start(&multi_timer, on_multi_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void
on_watch_closed(uv_handle_t *h)
{
    free(h->data);
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
               void *socketp)
{
    (void)easy;
    (void)userp;
    socket_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            uv_poll_stop(&w->poll);
            uv_close((uv_handle_t *)&w->poll, on_watch_closed);
            cu->multi_assign(multi, fd, NULL);
        }
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w || uv_poll_init_socket(fetch_loop, &w->poll, fd) != 0) {
            free(w);
            return -1;
        }
        w->fd = fd;
        w->poll.data = w;
        cu->multi_assign(multi, fd, w);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&w->poll, events, on_poll);
    return 0;
}

/* Loads libcurl (at the first fetch) and starts the multi handle; on a
 * failure *why says what went wrong. */
static int
multi_ready(const char **why)
{
    if (multi)
        return 0;
    *why = "libcurl could not start";
    if (!cu && !(cu = vpd_curl_api_get(why)))
        return -1;
    if (!curl_ready) {
        if (cu->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        curl_ready = true;
    }
    multi = cu->multi_init();
    if (!multi)
        return -1;
    uv_timer_init(fetch_loop, &multi_timer);
    cu->multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    cu->multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    return 0;
}

static size_t
on_body(char *data, size_t size, size_t n, void *userp)
{
    vp_fetch_t *f = userp;
    size_t len = size * n;
    if (f->answer.len + len > f->max_answer) {
        f->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return vpd_buf_append(&f->answer, data, len) == 0 ? len : 0;
}

/* A request field appended after the plugin's SDK reads as absent. */
#define REQ_HAS(req, member)                                                   \
    ((req)->size >=                                                            \
     offsetof(vp_fetch_request_t, member) + sizeof((req)->member))

static int
set_options(vp_fetch_t *f, const vp_fetch_request_t *req)
{
    CURL *e = f->easy;
    const char *method = REQ_HAS(req, method) ? req->method : NULL;
    const char *body = REQ_HAS(req, body_len) ? req->body : NULL;
    size_t body_len = body ? req->body_len : 0;
    if (!method)
        method = body ? "POST" : "GET";
    cu->easy_setopt(e, CURLOPT_URL, req->url);
    cu->easy_setopt(e, CURLOPT_PRIVATE, f);
    cu->easy_setopt(e, CURLOPT_ERRORBUFFER, f->error);
    cu->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    cu->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    cu->easy_setopt(e, CURLOPT_WRITEDATA, f);
    uint64_t tmo = REQ_HAS(req, timeout_ms) && req->timeout_ms
                       ? req->timeout_ms
                       : DEFAULT_TIMEOUT_MS;
    cu->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)tmo);
    if (strcmp(method, "HEAD") == 0) {
        cu->easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || body) {
        /* Every other method sends its body, or an empty one with
         * Content-Length: 0 (as a PUT for a metadata token needs). */
        f->body = vpd_secret_dup(body ? body : "", body_len);
        if (!f->body)
            return VP_ENOMEM;
        cu->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        cu->easy_setopt(e, CURLOPT_POSTFIELDS, f->body);
        if (strcmp(method, "POST") != 0)
            cu->easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (REQ_HAS(req, headers) && req->headers) {
        for (const char *const *h = req->headers; *h; h++) {
            struct curl_slist *l = cu->slist_append(f->headers, *h);
            if (!l)
                return VP_ENOMEM;
            f->headers = l;
        }
        cu->easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    }
    if (REQ_HAS(req, ca_file) && req->ca_file)
        cu->easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    if (REQ_HAS(req, client_key)) {
        if (req->client_cert)
            cu->easy_setopt(e, CURLOPT_SSLCERT, req->client_cert);
        if (req->client_key)
            cu->easy_setopt(e, CURLOPT_SSLKEY, req->client_key);
    }
    if (REQ_HAS(req, insecure_skip_verify) && req->insecure_skip_verify) {
        cu->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        cu->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return 0;
}

vp_fetch_t *
vpd_plugin_fetch(vp_instance_t *inst, const vp_fetch_request_t *req,
                 vp_fetch_cb cb, void *arg)
{
    const vp_host_api_t *host = inst ? inst->host : NULL;
    if (!inst || !req || !cb ||
        req->size < offsetof(vp_fetch_request_t, url) + sizeof req->url ||
        !req->url) {
        if (host)
            host->set_error(inst, "fetch: no request or no url");
        return NULL;
    }
    const char *why = NULL;
    if (!fetch_loop) {
        host->set_error(inst, "fetch: not available (no event loop)");
        return NULL;
    }
    if (multi_ready(&why) != 0) {
        host->set_error(inst, "fetch: not available: %s", why);
        return NULL;
    }
    vp_fetch_t *f = calloc(1, sizeof *f);
    if (!f || !(f->easy = cu->easy_init())) {
        free(f);
        host->set_error(inst, "fetch: out of memory");
        return NULL;
    }
    f->inst = inst;
    f->cb = cb;
    f->arg = arg;
    f->answer = (vpd_buf)VPD_BUF_INIT;
    size_t max = REQ_HAS(req, max_answer) && req->max_answer
                     ? req->max_answer
                     : DEFAULT_MAX_ANSWER;
    f->max_answer = max > HARD_MAX_ANSWER ? HARD_MAX_ANSWER : max;
    f->next = live_fetches;
    if (live_fetches)
        live_fetches->prev = f;
    live_fetches = f;
    if (set_options(f, req) != 0 ||
        cu->multi_add_handle(multi, f->easy) != CURLM_OK) {
        release(f);
        host->set_error(inst, "fetch: out of memory");
        return NULL;
    }
    return f;
}

void
vpd_plugin_fetch_cancel(vp_fetch_t *f)
{
    if (f)
        release(f);
}

void
vpd_plugin_fetch_cancel_instance(const vp_instance_t *inst)
{
    vp_fetch_t *f = live_fetches;
    while (f) {
        vp_fetch_t *next = f->next;
        if (f->inst == inst)
            release(f);
        f = next;
    }
}

void
vpd_plugin_fetch_shutdown(void)
{
    while (live_fetches)
        release(live_fetches);
    if (multi) {
        cu->multi_cleanup(multi);
        multi = NULL;
        uv_close((uv_handle_t *)&multi_timer, NULL);
    }
    fetch_loop = NULL;
}
