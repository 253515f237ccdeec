/* TLS for the listeners, and the byte pump the upstream client shares:
 * OpenSSL 3 over a BIO of our own that reads the caller's buffers and
 * queues what OpenSSL writes, so the socket I/O stays with libuv and
 * OpenSSL only transforms bytes.
 *
 * A vpd_tls_ctx is one listener's certificate, key and policy (versions,
 * ciphers, client certificates, ALPN h2 and http/1.1).  A vpd_tls_conn is one
 * accepted connection made from it; the connection keeps the context's
 * OpenSSL state alive on its own, so a context may be freed (replaced on
 * SIGHUP) while connections made from it are still open.
 *
 * Nothing here does I/O on sockets: ciphertext goes in through
 * vpd_tls_conn_recv and comes out through vpd_tls_conn_output (in place)
 * or vpd_tls_conn_read_output (copied).
 *
 * Ownership: the caller owns contexts and connections; a connection owns
 * its SSL object and its queued ciphertext. */
#ifndef VPD_TLS_H
#define VPD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "base/buf.h"
#include "config/config.h"

typedef struct vpd_tls_ctx vpd_tls_ctx;
typedef struct vpd_tls_conn vpd_tls_conn;
struct ssl_st; /* OpenSSL's SSL */

/* Builds a context from the listener's tls_* keys (vaproxyd.hcl(5)): reads
 * tls_cert_file (a PEM chain) and tls_key_file, checks they match, applies
 * tls_min_version / tls_max_version ("tls10".."tls13"), tls_cipher_suites
 * (Go/IANA names mapped to OpenSSL names, other names passed through;
 * TLS 1.3 suite names are ignored as Go does) and the client-certificate
 * mode: request-but-don't-require by default, require and verify against
 * tls_client_ca_file (system roots without it) with
 * tls_require_and_verify_client_cert, never ask with
 * tls_disable_client_certs.  Blocking file reads: call at start-up or on
 * SIGHUP only.  Returns NULL with a one-line reason in err on failure. */
vpd_tls_ctx *vpd_tls_ctx_new(const vpd_listener_config *l, char *err,
                             size_t err_len);
void vpd_tls_ctx_free(vpd_tls_ctx *ctx);

/* A server-side session on ctx.  Returns NULL when out of memory. */
vpd_tls_conn *vpd_tls_conn_new(vpd_tls_ctx *ctx);

/* Wraps an SSL object the caller has configured (the upstream client sets
 * connect state, SNI, the name to verify and a session to resume) in the
 * same pump, so both sides of the daemon share one way of
 * moving TLS bytes.  Takes ownership of ssl, also on failure (NULL, out
 * of memory).  A client session starts its handshake on the first
 * vpd_tls_conn_recv, with or without data. */
vpd_tls_conn *vpd_tls_conn_adopt(struct ssl_st *ssl);

/* The OpenSSL session underneath, for verification results and session
 * resumption; it stays owned by the connection. */
struct ssl_st *vpd_tls_conn_ssl(vpd_tls_conn *c);
void vpd_tls_conn_free(vpd_tls_conn *c);

#define VPD_TLS_OK 0
#define VPD_TLS_CLOSED 1 /* the peer sent close_notify */
#define VPD_TLS_ERROR (-1)

/* Feeds received ciphertext (len may be 0), advances the handshake and
 * appends every plaintext byte now available to `plain`.  Handshake and
 * alert records to send back become available to vpd_tls_conn_read_output.
 * Returns VPD_TLS_OK, VPD_TLS_CLOSED or VPD_TLS_ERROR with a reason in
 * err (the connection is then unusable, but an alert may be pending).
 * data is read in place; any part OpenSSL did not take is kept. */
int vpd_tls_conn_recv(vpd_tls_conn *c, const char *data, size_t len,
                      vpd_buf *plain, char *err, size_t err_len);

/* Encrypts plaintext into the output queue.  Only valid once the
 * handshake is done.  Returns 0 or -1. */
int vpd_tls_conn_send(vpd_tls_conn *c, const void *data, size_t len);

/* The same for bytes in several buffers (a request's head and body),
 * gathered so that they make as few records as their size allows. */
int vpd_tls_conn_sendv(vpd_tls_conn *c, const uv_buf_t *bufs, unsigned nbufs);

/* Queues a close_notify alert (once the handshake is done). */
void vpd_tls_conn_shutdown(vpd_tls_conn *c);

/* Ciphertext waiting to be sent, and a way to take it out. */
size_t vpd_tls_conn_pending_output(vpd_tls_conn *c);
size_t vpd_tls_conn_read_output(vpd_tls_conn *c, char *out, size_t cap);

/* The same without a copy: all the ciphertext waiting, in place (valid
 * until the next call on c), then how many of those bytes were sent or
 * copied away. */
const char *vpd_tls_conn_output(vpd_tls_conn *c, size_t *len);
void vpd_tls_conn_output_done(vpd_tls_conn *c, size_t n);

bool vpd_tls_conn_established(const vpd_tls_conn *c);

/* Whether the client and we agreed on h2 by ALPN (after the handshake). */
bool vpd_tls_conn_alpn_h2(vpd_tls_conn *c);

#endif
