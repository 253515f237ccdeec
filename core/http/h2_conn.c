/* The nghttp2 server session of one connection: settings, callbacks,
 * flushing, timeouts and the defences against hostile peers.
 *
 * Byte flow: the listener connection decrypts and calls vpd_h2_conn_recv;
 * nghttp2 parses and calls back here (streams open, headers, data, end of
 * stream); frames to send are pulled with nghttp2_session_mem_send in
 * vpd_h2_conn_flush and handed to io->send.  While the socket's write
 * queue is above the high water mark nothing more is pulled, so a client
 * that does not read cannot make us buffer without bound: nghttp2 then
 * counts the acknowledgements it cannot send and ends a SETTINGS or PING
 * flood itself.
 *
 * Defences beyond nghttp2's own checks, each ending the connection with
 * GOAWAY ENHANCE_YOUR_CALM: a header block larger than the header list
 * limit allows, or split over too many CONTINUATION frames
 * (CVE-2024-27316); streams reset by the client faster than a token
 * bucket allows (CVE-2023-44487); SETTINGS, PING, PRIORITY and empty
 * DATA frames faster than another bucket allows.  And one check of the
 * protocol nghttp2 leaves out: a HEADERS frame on a stream id the client
 * skipped ends the connection with GOAWAY PROTOCOL_ERROR. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "http/h2_stream.h"

#define LOG_COMP "proxy.listener"
/* Our windows: 1 MiB per stream as Go's server, 16 MiB per connection
 * so that several streams can upload at once. */
#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (16 << 20)
/* Above this many bytes queued for the socket, stop producing frames. */
#define WRITE_HIGH_WATER (1024 * 1024)
/* Frames gathered before they go to the socket together. */
#define SEND_BATCH (64 * 1024)
/* A header block may exceed the header list limit by this much of
 * framing and encoding before it counts as a flood. */
#define BLOCK_SLACK (16 * 1024)
#define MAX_CONTINUATIONS 64
/* Stream resets by the client: a burst of 1000, then 100 a second (a
 * client that cancels as fast as it asks is not a client). */
#define RESET_BURST 1000
#define RESET_RATE 100
/* SETTINGS, PING, PRIORITY and empty DATA frames. */
#define CONTROL_BURST 1000
#define CONTROL_RATE 200
/* How long the GOAWAY of a failed session may wait for the client. */
#define FAILED_GRACE_MS 5000

static void
bucket_init(h2_bucket *b, uint32_t burst, uint32_t per_sec, uint64_t now)
{
    b->burst = burst;
    b->per_sec = per_sec;
    b->milli = (uint64_t)burst * 1000;
    b->last = now;
}

/* Takes one token; false when none is left. */
static bool
bucket_take(h2_bucket *b, uint64_t now)
{
    if (now > b->last) {
        b->milli += (now - b->last) * b->per_sec;
        if (b->milli > (uint64_t)b->burst * 1000)
            b->milli = (uint64_t)b->burst * 1000;
        b->last = now;
    }
    if (b->milli < 1000)
        return false;
    b->milli -= 1000;
    return true;
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static h2_stream *
stream_of(vpd_h2_conn *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->ng, id);
}

/* A HEADERS frame on a client stream id below the highest one so far.
 * RFC 9113 5.1.1 wants a new stream's id above every stream the client
 * opened, and an unexpected id answered with a connection error
 * PROTOCOL_ERROR; the same section puts skipped ids in the closed state
 * once a higher one is used.  So a HEADERS on an id the client skipped can
 * only be an attempt to open a stream out of order: GOAWAY
 * PROTOCOL_ERROR.  An id the client did open is different: after we reset
 * or ended a stream the client may still send its trailers, which RFC 9113
 * 5.1 says to ignore for a while, so those frames keep nghttp2's handling
 * (STREAM_CLOSED while it remembers the stream, ignored after).  nghttp2
 * ignores both cases alike, since it forgets closed streams; hence our own
 * record of the ids (h2_ids.h), looked at before nghttp2 sees the frame. */
static bool
stream_id_unexpected(vpd_h2_conn *h, const nghttp2_frame_hd *hd)
{
    if (hd->type != NGHTTP2_HEADERS ||
        vpd_h2_ids_headers(&h->ids, hd->stream_id) != VPD_H2_ID_NEVER_OPENED)
        return false;
    vpd_h2_conn_fail(h, NGHTTP2_PROTOCOL_ERROR,
                     "HEADERS on a stream id it skipped");
    return true;
}

static int
on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *user)
{
    vpd_h2_conn *h = user;
    if (h->failed || stream_id_unexpected(h, hd))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (hd->type == NGHTTP2_HEADERS) {
        h->block_bytes = hd->length + 9;
        h->block_frames = 1;
    } else if (hd->type == NGHTTP2_CONTINUATION) {
        h->block_bytes += hd->length + 9;
        h->block_frames++;
    } else {
        return 0;
    }
    if (h->block_bytes > h->lim.max_header + BLOCK_SLACK ||
        h->block_frames > MAX_CONTINUATIONS) {
        vpd_h2_conn_fail(h, NGHTTP2_ENHANCE_YOUR_CALM,
                         h->block_frames > MAX_CONTINUATIONS
                             ? "header block in too many CONTINUATION frames"
                             : "header block too large");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    vpd_h2_conn *h = user;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2_stream *s = stream_of(h, f->hd.stream_id);
    if (s) {
        s->in_trailers = true;
        return 0;
    }
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    s = vpd_h2_stream_new(h, f->hd.stream_id);
    if (!s)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, s);
    h->last_progress = vpd_h2_now(h);
    return 0;
}

/* The value comes as nghttp2's reference-counted buffer, so that the
 * stream can keep :path and :authority without copying them. */
static int
on_header(nghttp2_session *ng, const nghttp2_frame *f, nghttp2_rcbuf *name,
          nghttp2_rcbuf *value, uint8_t flags, void *user)
{
    vpd_h2_conn *h = user;
    h2_stream *s = stream_of(h, f->hd.stream_id);
    if (s) {
        nghttp2_vec nv = nghttp2_rcbuf_get_buf(name);
        vpd_h2_stream_header(s, nv.base, nv.len, value);
    }
    return h->failed ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int
on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
              const uint8_t *data, size_t len, void *user)
{
    vpd_h2_conn *h = user;
    h2_stream *s = stream_of(h, id);
    if (s)
        vpd_h2_stream_data(s, data, len);
    h->last_progress = vpd_h2_now(h);
    return h->failed ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static bool
control_frame(const nghttp2_frame *f)
{
    switch (f->hd.type) {
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
        return !(f->hd.flags & NGHTTP2_FLAG_ACK);
    case NGHTTP2_PRIORITY:
        return true;
    case NGHTTP2_DATA:
        return f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM);
    default:
        return false;
    }
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    vpd_h2_conn *h = user;
    uint64_t now = vpd_h2_now(h);
    if (f->hd.type == NGHTTP2_SETTINGS)
        h->got_settings = true;
    if (control_frame(f) && !bucket_take(&h->control, now)) {
        vpd_h2_conn_fail(h, NGHTTP2_ENHANCE_YOUR_CALM,
                         "too many control frames");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (f->hd.type == NGHTTP2_RST_STREAM) {
        vpd_h2_count_peer_reset();
        if (!bucket_take(&h->resets, now)) {
            vpd_h2_conn_fail(h, NGHTTP2_ENHANCE_YOUR_CALM,
                             "too many stream resets");
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
    }
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    h2_stream *s = stream_of(h, f->hd.stream_id);
    if (!s)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS)
        vpd_h2_stream_headers_done(s);
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        vpd_h2_stream_complete(s);
    return h->failed ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    vpd_h2_conn *h = user;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        vpd_h2_count_goaway();
        return 0;
    }
    if (f->hd.type == NGHTTP2_DATA)
        h->last_progress = vpd_h2_now(h);
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        h2_stream *s = stream_of(h, f->hd.stream_id);
        if (s && s->rst_after)
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id,
                                      NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    vpd_h2_conn *h = user;
    h2_stream *s = stream_of(h, id);
    if (s) {
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        vpd_h2_stream_closed(s);
    }
    return 0;
}

static int
on_error(nghttp2_session *ng, int code, const char *msg, size_t len, void *user)
{
    vpd_h2_conn *h = user;
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 from %s: %.*s", h->peer, (int)len,
            msg);
    return 0;
}

/* ---- the session -------------------------------------------------------- */

vpd_h2_conn *
vpd_h2_conn_new(const vpd_h2_io *io, void *arg, const vpd_h2_limits *lim)
{
    vpd_h2_conn *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    if (!h)
        return NULL;
    h->io = *io;
    h->arg = arg;
    h->lim = *lim;
    snprintf(h->peer, sizeof h->peer, "%s", lim->peer ? lim->peer : "?");
    h->lim.peer = h->peer;
    h->started = h->last_progress = vpd_h2_now(h);
    h->frame_left = VPD_H2_PREFACE_LEN;
    bucket_init(&h->resets, RESET_BURST, RESET_RATE, h->started);
    bucket_init(&h->control, CONTROL_BURST, CONTROL_RATE, h->started);
    if (nghttp2_session_callbacks_new(&cb) != 0 ||
        nghttp2_option_new(&opt) != 0)
        goto fail;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                            on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                              on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    /* Acknowledgements that pile up because the client does not read end
     * the session (nghttp2 answers with GOAWAY itself). */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
#if HAVE_DECL_NGHTTP2_OPTION_SET_MAX_CONTINUATIONS
    nghttp2_option_set_max_continuations(opt, 2 * MAX_CONTINUATIONS);
#endif
#if HAVE_DECL_NGHTTP2_OPTION_SET_STREAM_RESET_RATE_LIMIT
    nghttp2_option_set_stream_reset_rate_limit(opt, 2 * RESET_BURST,
                                               2 * RESET_RATE);
#endif
    nghttp2_mem mem;
    vpd_h2_pool_mem(&h->pool, &mem);
    if (nghttp2_session_server_new3(&h->ng, cb, h, opt, &mem) != 0)
        goto fail;
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    cb = NULL;
    opt = NULL;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, VPD_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)lim->max_header},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv,
                                sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
                                              CONN_WINDOW) != 0)
        goto fail;
    vpd_h2_count_conn(true);
    h->counted = true;
    return h;
fail:
    if (cb)
        nghttp2_session_callbacks_del(cb);
    if (opt)
        nghttp2_option_del(opt);
    if (h->ng)
        nghttp2_session_del(h->ng);
    vpd_h2_pool_clear(&h->pool);
    free(h);
    return NULL;
}

/* Follows the client's bytes frame by frame: returns how many of the len
 * bytes at p reach the end of the preface or of the next frame (all len
 * when none ends in them). */
static size_t
to_frame_end(vpd_h2_conn *h, const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (h->frame_left) {
            size_t k = len - i < h->frame_left ? len - i : h->frame_left;
            h->frame_left -= k;
            i += k;
            if (!h->frame_left)
                return i;
            continue;
        }
        h->frame_hd[h->frame_hd_len++] = p[i++];
        if (h->frame_hd_len == sizeof h->frame_hd) {
            const uint8_t *hd = h->frame_hd;
            h->frame_hd_len = 0;
            /* The first 24 bits of a frame header are its payload length. */
            h->frame_left = (size_t)hd[0] << 16 | (size_t)hd[1] << 8 | hd[2];
            if (!h->frame_left)
                return i;
        }
    }
    return i;
}

static void
feed(vpd_h2_conn *h, const uint8_t *data, size_t len)
{
    ssize_t r = nghttp2_session_mem_recv(h->ng, data, len);
    if (r < 0 && !h->failed) {
        /* A bad preface or a flood nghttp2 caught; it has queued its own
         * GOAWAY when one makes sense. */
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 from %s: %s", h->peer,
                nghttp2_strerror((int)r));
        h->failed = true;
        h->failed_at = vpd_h2_now(h);
        if (r == NGHTTP2_ERR_FLOODED)
            nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
        else if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
            nghttp2_session_terminate_session(h->ng, NGHTTP2_PROTOCOL_ERROR);
    }
}

/* A client with several requests in one read would otherwise get every
 * answer in one write at the end, and send its next requests only then:
 * the two sides would take turns, each idle while the other works, and
 * each wait for the other would end in a wake-up.  So, while io->eager
 * says the client is all the loop has to do, the frames go to nghttp2 one
 * by one and each answer leaves as soon as it is made; the client works
 * on the first answers while we make the rest, and its next requests are
 * there by the time we are done.  Otherwise (many busy connections) the
 * input goes to nghttp2 whole and its answers leave together, one write
 * for many streams, when the connection is flushed.  The frame walk runs
 * either way, so that the next eager read starts on a frame boundary. */
void
vpd_h2_conn_recv(vpd_h2_conn *h, const char *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    if (h->failed || h->detached || !len)
        return;
    if (!h->io.eager(h->arg)) {
        for (size_t i = 0; i < len;)
            i += to_frame_end(h, p + i, len - i);
        feed(h, p, len);
        return;
    }
    while (len && !h->failed && !h->detached) {
        size_t n = to_frame_end(h, p, len);
        feed(h, p, n);
        p += n;
        len -= n;
        if (h->answers_unsent)
            vpd_h2_conn_flush(h);
    }
}

/* Frames are gathered into one buffer and handed over together: one TLS
 * record and one write for many small frames (a burst of answers is
 * HEADERS and DATA for each stream). */
void
vpd_h2_conn_flush(vpd_h2_conn *h)
{
    while (!h->detached && h->io.backlog(h->arg) <= WRITE_HIGH_WATER) {
        const uint8_t *out = NULL;
        ssize_t n = nghttp2_session_mem_send(h->ng, &out);
        if (n < 0 && !h->failed) {
            h->failed = true;
            h->failed_at = vpd_h2_now(h);
            vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 to %s: %s", h->peer,
                    nghttp2_strerror((int)n));
        }
        if (n > 0 && vpd_buf_append(&h->out, out, (size_t)n) != 0)
            n = -1;
        if (h->out.len && (n <= 0 || h->out.len >= SEND_BATCH)) {
            vpd_h2_count_send();
            h->answers_unsent = 0;
            h->io.send(h->arg, (const uint8_t *)h->out.data, h->out.len);
            vpd_buf_reset(&h->out);
        }
        if (n <= 0)
            break;
    }
}

bool
vpd_h2_conn_done(const vpd_h2_conn *h, bool eof)
{
    bool want_write = nghttp2_session_want_write(h->ng);
    if (h->give_up)
        return true;
    if (h->failed)
        return !want_write;
    if (!nghttp2_session_want_read(h->ng) && !want_write)
        return true;
    /* After the client's end of stream no request can complete and no
     * window can open: what is left is the router's answers. */
    return eof && !h->held && !want_write;
}

void
vpd_h2_conn_goaway(vpd_h2_conn *h)
{
    if (h->goaway || h->failed)
        return;
    h->goaway = true;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

bool
vpd_h2_conn_idle(const vpd_h2_conn *h)
{
    return !h->streams && !h->held;
}

/* Quietly, unlike vpd_h2_conn_fail: at the limit a crowd of idle clients
 * is pushed out one by one, and each would be a log line at info. */
void
vpd_h2_conn_evict(vpd_h2_conn *h)
{
    if (h->detached)
        return;
    if (!h->failed) {
        h->failed = true;
        h->failed_at = vpd_h2_now(h);
        nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
    }
    vpd_h2_conn_flush(h);
}

static uint64_t
earlier(uint64_t a, uint64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

/* Requests with the router stop every clock but the streams' own: the
 * wait is ours, not the client's. */
uint64_t
vpd_h2_conn_deadline(const vpd_h2_conn *h)
{
    uint64_t due = 0;
    if (h->detached || h->give_up)
        return 0;
    if (h->failed)
        return h->failed_at + FAILED_GRACE_MS;
    if (!h->got_settings && h->lim.header_ms)
        due = h->started + h->lim.header_ms;
    if (!h->held && h->lim.idle_ms)
        due = earlier(due, h->last_progress + h->lim.idle_ms);
    if (h->lim.read_ms)
        for (const h2_stream *s = h->streams; s; s = s->next)
            if (!s->complete && !s->answered)
                due = earlier(due, s->start + h->lim.read_ms);
    return due;
}

void
vpd_h2_conn_timeout(vpd_h2_conn *h)
{
    uint64_t now = vpd_h2_now(h);
    if (h->detached)
        return;
    if (h->failed) {
        /* A client that does not read its GOAWAY is not waited for. */
        if (now >= h->failed_at + FAILED_GRACE_MS)
            h->give_up = true;
        return;
    }
    if (!h->got_settings && h->lim.header_ms &&
        now >= h->started + h->lim.header_ms) {
        vpd_h2_conn_fail(h, NGHTTP2_SETTINGS_TIMEOUT,
                         "no SETTINGS from the client in time");
        return;
    }
    if (!h->held && h->lim.idle_ms &&
        now >= h->last_progress + h->lim.idle_ms) {
        /* Idle, or every answer stuck behind a window the client keeps
         * shut: either way nothing moves. */
        if (h->streams)
            vpd_h2_conn_fail(h, NGHTTP2_ENHANCE_YOUR_CALM,
                             "no progress (flow-control window kept shut)");
        else
            vpd_h2_conn_fail(h, NGHTTP2_NO_ERROR, "idle");
        return;
    }
    if (!h->lim.read_ms)
        return;
    for (h2_stream *s = h->streams; s; s = s->next)
        if (!s->complete && !s->answered && now >= s->start + h->lim.read_ms)
            vpd_h2_stream_fail(s, 408, "request read timed out");
}

void
vpd_h2_conn_detach(vpd_h2_conn *h, bool run_gone)
{
    if (h->detached)
        return;
    h->detached = true;
    vpd_h2_reqs_detach(h, run_gone);
}

void
vpd_h2_conn_free(vpd_h2_conn *h)
{
    if (!h)
        return;
    vpd_h2_conn_detach(h, false);
    /* The streams go first: they hold references to nghttp2's buffers,
     * which need the session to be released.  nghttp2 runs no callback
     * while it is deleted, so it never sees the streams gone. */
    while (h->streams)
        vpd_h2_stream_free(h->streams);
    nghttp2_session_del(h->ng);
    /* Only now: nghttp2 and the streams have given every block back. */
    vpd_h2_pool_clear(&h->pool);
    vpd_buf_free(&h->out);
    if (h->counted)
        vpd_h2_count_conn(false);
    free(h);
}
