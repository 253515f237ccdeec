/* The forwarder: sends requests to the Vault server the way Vault's own
 * client does (retries, redirects, deadlines, error mapping), over the
 * upstream client's pooled keep-alive connections (upstream/client.h), all
 * on the libuv loop (no blocking, no threads of ours).
 *
 * Ownership: vpd_fwd_send copies everything in the request before it
 * returns.  The response handed to the callback is borrowed for the
 * duration of the callback; copy what you keep (vpd_fwd_resp_take moves
 * the body out).  The callback may add or remove headers in it: the
 * forwarder frees whatever the list holds afterwards. */
#ifndef VPD_FORWARD_H
#define VPD_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config/config.h"
#include "http/http.h"
#include "upstream/conn.h"

typedef struct vpd_fwd vpd_fwd;
typedef struct vpd_fwd_op vpd_fwd_op;

typedef enum {
    VPD_FWD_OK = 0,      /* an HTTP response arrived (any status) */
    VPD_FWD_UNREACHABLE, /* connect/DNS/reset: answer 502 */
    VPD_FWD_TIMEOUT,     /* no answer in time: answer 504 */
    VPD_FWD_TLS,         /* TLS handshake or verification failed: 502 */
    VPD_FWD_CANCELLED,
    VPD_FWD_INTERNAL,
} vpd_fwd_error;

typedef struct {
    const char *method;      /* sent as is, "LIST" included */
    const char *target;      /* "/v1/...?..." relative to vault.address */
    const vpd_hdrs *headers; /* hop-by-hop, Host, Content-Length dropped */
    const char *body;
    size_t body_len;
    int max_retries; /* -1: vault.retry.num_retries */
    long timeout_ms; /* 0: the default (60 s, VAULT_CLIENT_TIMEOUT) */
    /* TLS identity for this request only (the cert auth method). */
    const char *client_cert;
    const char *client_key;
    const char *ca_cert;
    /* A protocol to switch to ("websocket"): sent as Upgrade with
     * Connection: Upgrade.  A 101 answer then hands the connection over
     * in resp->upgraded; redirects are followed as for any request. */
    const char *upgrade;
    /* Set when the caller vouches for `headers`: none is one the header
     * policy drops toward the upstream (http/hdr_policy.h), every name is
     * a token and no value holds CR or LF (vpd_fwd_header_ok).  The
     * forwarder then writes them out without filtering them again; the
     * router checks each header as it builds its list anyway. */
    bool headers_checked;
} vpd_fwd_req;

/* What the callback sees.  `headers` are the upstream's in its order,
 * minus hop-by-hop headers (and any named in Connection) and
 * Content-Length (the server recomputes it; kept on HEAD and 304 answers).
 * The body is identity-encoded: the forwarder never asks for compression.
 * For an error, status is 0, headers are empty and body is "". */
typedef struct {
    vpd_fwd_error error;
    const char *error_text; /* for logs and the 502/504 body */
    int status;
    vpd_hdrs headers; /* in upstream order */
    char *body;       /* NUL-terminated */
    size_t body_len;
    int attempts; /* how many times it was sent */
    /* After a 101 to a request with `upgrade`: the connection, which the
     * callback takes by setting this to NULL (then reads and writes it
     * with vpd_up_conn_stream and closes it with vpd_up_conn_close); one
     * left here is closed when the callback returns. */
    vpd_up_conn *upgraded;
} vpd_fwd_resp;

typedef void (*vpd_fwd_cb)(vpd_fwd_resp *resp, void *arg);

/* Creates a forwarder for `vault` (copied).  address is http(s)://host
 * [:port][/prefix] (the prefix goes before every target) or
 * unix:///path/to/socket.  TLS: verification on unless tls_skip_verify;
 * minimum TLS 1.2; tls_server_name becomes the SNI and verification name
 * while the connection still goes to the address's host (the Host header
 * stays the address's).  Returns NULL with a message in err on a bad
 * address or an unusable proxy setting in the environment.  vault.
 * max_connections bounds the connections open to Vault (client.h). */
vpd_fwd *vpd_fwd_new(uv_loop_t *loop, const vpd_vault_config *vault, char *err,
                     size_t err_len);

/* SIGHUP: takes vault's ca_cert, ca_path, client_cert, client_key and
 * tls_skip_verify (copied), reads the files again (even under the same
 * names) and uses them for every connection made from now on; requests
 * under way finish on their connections, which then close, as do the
 * idle ones made with the old settings.  Files that cannot be used show
 * as TLS errors on the requests.  Returns 0, or -1 (out of memory) with
 * the old settings kept. */
int vpd_fwd_set_tls(vpd_fwd *fwd, const vpd_vault_config *vault);

/* Whether a header can go on the wire as it is: its name a token (RFC 9110
 * tchar) and its value free of CR and LF.  The forwarder drops any other
 * header, as one that could smuggle header lines. */
bool vpd_fwd_header_ok(const char *name, size_t name_len, const char *value,
                       size_t value_len);
/* The value half of that check, for a name known to be a token. */
bool vpd_fwd_header_value_ok(const char *value, size_t value_len);

/* Starts a request.  cb runs exactly once on the loop, never before
 * vpd_fwd_send returns.  Retries transport errors, 429 and 5xx except 501
 * (as Vault's client does; 412 is left to the consistency layer) with linear
 * jittered waits, and follows one 301/302/307 as Vault's client does (never
 * from https to http).  Returns the op, or NULL (bad method or target, out of
 * memory, forwarder being freed): then cb never runs. */
vpd_fwd_op *vpd_fwd_send(vpd_fwd *fwd, const vpd_fwd_req *req, vpd_fwd_cb cb,
                         void *arg);

/* Abandons an op: its callback runs with VPD_FWD_CANCELLED before
 * vpd_fwd_cancel returns (so the caller may free its context right after).
 * Does nothing if the op's callback is already running; the op pointer is
 * dead once its callback has returned. */
void vpd_fwd_cancel(vpd_fwd_op *op);

/* Number of requests under way (including waits between retries). */
size_t vpd_fwd_inflight(const vpd_fwd *fwd);

/* Upstream connections open now (kept-alive idle ones included). */
size_t vpd_fwd_open_connections(const vpd_fwd *fwd);

/* Sets the base wait between attempts: attempt n (0-based) waits a random
 * value in [min_ms, max_ms] times (n + 1).  The default is 1000..1500 ms
 * (go-retryablehttp's linear jitter, which Vault's client uses); tests use a
 * few ms.  A Retry-After header on 429/503 still wins, as in Vault.  Since:
 * 0.1. */
void vpd_fwd_set_retry_base_ms(vpd_fwd *fwd, unsigned min_ms, unsigned max_ms);

/* Moves the body out of a response inside the callback.  Returns the
 * NUL-terminated body (free with free(); wipe it first if it held
 * secrets) and its length in *len; resp->body becomes NULL.  The callback
 * may move the headers out the same way by copying resp->headers and
 * zeroing it.  Since: 0.1. */
char *vpd_fwd_resp_take(vpd_fwd_resp *resp, size_t *len);

/* Cancels every op still under way (their callbacks run with
 * VPD_FWD_CANCELLED before this returns), then closes the libuv handles.
 * Closing finishes on the loop: the caller must run the loop (uv_run until
 * it returns) afterwards so the close callbacks release their memory.
 * Safe to call from inside a forwarder callback (the teardown is then
 * finished when that callback returns). */
void vpd_fwd_free(vpd_fwd *fwd);

#endif
