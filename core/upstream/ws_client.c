/* The WebSocket client: handshake through the forwarder's Upgrade
 * hand-off, then frames on the connection it hands over.
 *
 * Lifetime: the vpd_ws owns one timer handle; the struct is freed from that
 * handle's close callback, so it stays valid for the rest of any callback
 * of ours that ended it (the frame loop checks `state` after each user
 * callback instead of returning at once). */
#include "autoconf.h"

#include "upstream/ws_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/log.h"
#include "upstream/ws_frame.h"

#define WS_LOG "ws"
#define WS_DEFAULT_MAX_MESSAGE (1u << 20)
/* How long our close frame waits for the server's before the connection
 * is simply closed. */
#define WS_CLOSE_WAIT_MS 1000

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

typedef enum {
    WS_CONNECTING, /* the handshake request is under way */
    WS_OPEN,
    WS_CLOSING, /* our close frame is out; no more callbacks */
    WS_DONE,    /* the end was reported or asked for; freeing */
} ws_state;

struct vpd_ws {
    uv_loop_t *loop;
    vpd_fwd *fwd;
    const vpd_ws_events *ev;
    void *arg;
    ws_state state;
    vpd_fwd_op *op;
    vpd_up_conn *conn;
    uv_timer_t timer;
    char key[25];
    vpd_ws_decoder dec;
    size_t max_message;
};

static void
ws_freed(uv_handle_t *h)
{
    vpd_ws *ws = h->data;
    vpd_ws_decoder_free(&ws->dec);
    free(ws);
}

/* Lets go of everything; the memory goes once the timer has closed. */
static void
ws_destroy(vpd_ws *ws)
{
    ws->state = WS_DONE;
    if (ws->op) {
        vpd_fwd_op *op = ws->op;
        ws->op = NULL;
        vpd_fwd_cancel(op);
    }
    if (ws->conn) {
        vpd_up_conn_close(ws->conn);
        ws->conn = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&ws->timer))
        uv_close((uv_handle_t *)&ws->timer, ws_freed);
}

/* Reports the end to the caller, then goes. */
static void
ws_end(vpd_ws *ws, const vpd_ws_end *end)
{
    bool report = ws->state == WS_CONNECTING || ws->state == WS_OPEN;
    ws->state = WS_DONE;
    if (ws->conn) {
        vpd_up_conn_close(ws->conn);
        ws->conn = NULL;
    }
    if (report)
        ws->ev->closed(ws->arg, end);
    ws_destroy(ws);
}

static void
ws_end_simple(vpd_ws *ws, uint16_t code, bool by_server, const char *reason)
{
    vpd_ws_end e = {.opened = true,
                    .body = "",
                    .code = code,
                    .by_server = by_server,
                    .reason = reason};
    ws_end(ws, &e);
}

/* ---- sending ---------------------------------------------------------- */

static int
send_frame(vpd_ws *ws, unsigned op, const void *p, size_t n)
{
    if (!ws->conn)
        return -1;
    uint8_t mask[4];
    if (RAND_bytes(mask, sizeof mask) != 1)
        return -1;
    vpd_buf b = VPD_BUF_INIT;
    int rc = vpd_ws_encode(&b, op, true, p, n, mask);
    if (rc == 0)
        rc = vpd_up_conn_stream_write(ws->conn, b.data, b.len);
    vpd_buf_free_secret(&b);
    return rc;
}

static int
send_close(vpd_ws *ws, uint16_t code, const char *reason)
{
    uint8_t mask[4];
    if (!ws->conn || RAND_bytes(mask, sizeof mask) != 1)
        return -1;
    vpd_buf b = VPD_BUF_INIT;
    int rc = vpd_ws_encode_close(&b, code, reason, mask);
    if (rc == 0)
        rc = vpd_up_conn_stream_write(ws->conn, b.data, b.len);
    vpd_buf_free(&b);
    return rc;
}

int
vpd_ws_send_text(vpd_ws *ws, const char *p, size_t n)
{
    if (ws->state != WS_OPEN)
        return -1;
    return send_frame(ws, VPD_WS_OP_TEXT, p, n);
}

int
vpd_ws_ping(vpd_ws *ws, const void *p, size_t n)
{
    if (ws->state != WS_OPEN || n > VPD_WS_CONTROL_MAX)
        return -1;
    return send_frame(ws, VPD_WS_OP_PING, p, n);
}

/* ---- receiving -------------------------------------------------------- */

static void
on_stream_data(void *arg, const char *p, size_t n)
{
    vpd_ws *ws = arg;
    while (n && ws->state != WS_DONE) {
        size_t used = 0;
        vpd_ws_event e = vpd_ws_decode(&ws->dec, p, n, &used);
        p += used;
        n -= used;
        switch (e) {
        case VPD_WS_MORE:
            return;
        case VPD_WS_MESSAGE:
            if (ws->state == WS_OPEN)
                ws->ev->message(ws->arg, ws->dec.msg, ws->dec.msg_len,
                                ws->dec.msg_opcode == VPD_WS_OP_TEXT);
            break;
        case VPD_WS_PING:
            /* A pong carries the ping's bytes back (section 5.5.3). */
            if (ws->state == WS_OPEN &&
                send_frame(ws, VPD_WS_OP_PONG, ws->dec.ctl, ws->dec.ctl_len) !=
                    0)
                vpd_log(VPD_LOG_WARN, WS_LOG, "cannot answer a ping");
            break;
        case VPD_WS_PONG:
            break;
        case VPD_WS_CLOSE:
            if (ws->state == WS_OPEN) {
                /* The closing handshake: echo the code, then the server
                 * closes the TCP connection (section 7.1.1); ours goes
                 * too, since nothing more is expected on it. */
                uint16_t code = ws->dec.close_code;
                (void)send_close(ws, code == VPD_WS_CLOSE_NO_STATUS ? 0 : code,
                                 NULL);
                char reason[VPD_WS_CONTROL_MAX];
                snprintf(reason, sizeof reason, "%s", ws->dec.close_reason);
                ws_end_simple(ws, code, true, reason);
            } else {
                ws_destroy(ws);
            }
            return;
        case VPD_WS_ERROR:
            vpd_log(VPD_LOG_WARN, WS_LOG,
                    "closing the stream: %s (close code %u)", ws->dec.error,
                    ws->dec.error_code);
            (void)send_close(ws, ws->dec.error_code, ws->dec.error);
            if (ws->state == WS_OPEN)
                ws_end_simple(ws, ws->dec.error_code, false, ws->dec.error);
            else
                ws_destroy(ws);
            return;
        }
    }
}

static void
on_stream_ended(void *arg, const char *why)
{
    vpd_ws *ws = arg;
    ws->conn = NULL; /* closed by the connection itself */
    if (ws->state == WS_OPEN)
        ws_end_simple(ws, VPD_WS_CLOSE_ABNORMAL, false, why);
    else
        ws_destroy(ws);
}

static const vpd_up_stream_events stream_events = {on_stream_data,
                                                   on_stream_ended};

/* ---- the handshake ------------------------------------------------------ */

void
vpd_ws_accept_for(const char *key, char out[29])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    size_t kl = strlen(key);
    char in[128];
    if (kl > sizeof in - sizeof WS_GUID)
        kl = sizeof in - sizeof WS_GUID;
    memcpy(in, key, kl);
    memcpy(in + kl, WS_GUID, sizeof WS_GUID - 1);
    SHA1((const unsigned char *)in, kl + sizeof WS_GUID - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Why a 101 answer cannot be used, or NULL when it can. */
static const char *
check_101(vpd_ws *ws, const vpd_fwd_resp *r)
{
    const char *accept = vpd_hdrs_get(&r->headers, "Sec-WebSocket-Accept", 0);
    char want[29];
    vpd_ws_accept_for(ws->key, want);
    if (!accept || strcmp(accept, want) != 0)
        return "Sec-WebSocket-Accept does not match the key";
    /* Nothing was offered, so nothing may have been chosen (section
     * 4.1, items 5 and 6 of the client's checks). */
    if (vpd_hdrs_get(&r->headers, "Sec-WebSocket-Extensions", 0))
        return "the server chose an extension that was not offered";
    if (vpd_hdrs_get(&r->headers, "Sec-WebSocket-Protocol", 0))
        return "the server chose a subprotocol that was not offered";
    return NULL;
}

static void
on_handshake(vpd_fwd_resp *r, void *arg)
{
    vpd_ws *ws = arg;
    ws->op = NULL;
    if (ws->state != WS_CONNECTING)
        return; /* cancelled by vpd_ws_close */
    vpd_ws_end e = {.error = r->error,
                    .http_status = r->status,
                    .body = r->body && r->body_len ? r->body : "",
                    .code = VPD_WS_CLOSE_ABNORMAL};
    if (r->error != VPD_FWD_OK) {
        e.reason = r->error_text ? r->error_text : "handshake failed";
        ws_end(ws, &e);
        return;
    }
    if (r->status != 101 || !r->upgraded) {
        e.reason = "the server did not switch protocols";
        ws_end(ws, &e);
        return;
    }
    const char *bad = check_101(ws, r);
    if (bad) {
        e.reason = bad;
        ws_end(ws, &e);
        return; /* the forwarder closes the connection */
    }
    ws->conn = r->upgraded;
    r->upgraded = NULL;
    if (vpd_up_conn_stream(ws->conn, &stream_events, ws) != 0) {
        e.reason = "cannot read the upgraded connection";
        ws_end(ws, &e);
        return;
    }
    ws->state = WS_OPEN;
    ws->ev->open(ws->arg);
}

vpd_ws *
vpd_ws_connect(uv_loop_t *loop, vpd_fwd *fwd, const vpd_ws_opts *o,
               const vpd_ws_events *ev, void *arg)
{
    vpd_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->loop = loop;
    ws->fwd = fwd;
    ws->ev = ev;
    ws->arg = arg;
    ws->max_message = o->max_message ? o->max_message : WS_DEFAULT_MAX_MESSAGE;
    vpd_ws_decoder_init(&ws->dec, ws->max_message, ws->max_message);
    unsigned char nonce[16];
    if (RAND_bytes(nonce, sizeof nonce) != 1) {
        free(ws);
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)ws->key, nonce, sizeof nonce);

    vpd_hdrs h = {0};
    if ((o->headers && vpd_hdrs_copy(&h, o->headers) != 0) ||
        vpd_hdrs_add(&h, "Sec-WebSocket-Key", ws->key) != 0 ||
        vpd_hdrs_add(&h, "Sec-WebSocket-Version", "13") != 0) {
        vpd_hdrs_free(&h);
        free(ws);
        return NULL;
    }
    vpd_fwd_req req = {.method = "GET",
                       .target = o->target,
                       .headers = &h,
                       .max_retries = 0,
                       .timeout_ms = o->timeout_ms,
                       .upgrade = "websocket"};
    uv_timer_init(loop, &ws->timer);
    ws->timer.data = ws;
    ws->state = WS_CONNECTING;
    ws->op = vpd_fwd_send(fwd, &req, on_handshake, ws);
    vpd_hdrs_free(&h);
    if (!ws->op) {
        ws->state = WS_DONE;
        uv_close((uv_handle_t *)&ws->timer, ws_freed);
        return NULL;
    }
    return ws;
}

static void
on_close_wait(uv_timer_t *t)
{
    ws_destroy(t->data);
}

void
vpd_ws_close(vpd_ws *ws, uint16_t code, const char *reason)
{
    if (!ws || ws->state == WS_DONE || ws->state == WS_CLOSING)
        return;
    if (ws->state == WS_CONNECTING || !ws->conn ||
        send_close(ws, code, reason) != 0) {
        ws_destroy(ws);
        return;
    }
    ws->state = WS_CLOSING;
    uv_timer_start(&ws->timer, on_close_wait, WS_CLOSE_WAIT_MS, 0);
}
