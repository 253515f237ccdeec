/* The upstream client: every exchange the daemon has with Vault goes
 * through here.  It keeps one pool of keep-alive connections per
 * destination and identity (vpd_up_dest: origin, TLS identity, egress
 * proxy), bounds the connections open at once, and queues exchanges in
 * arrival order when the bound is reached.  One exchange is one request
 * and its answer: no retries beyond Go's rule for a connection the server
 * had closed (vpd_up_conn_stale), no redirects; the forwarder does those.
 * Requests on kept-alive connections are written together just before
 * the loop next waits (vpd_up_conn_send says why), so an upstream on the
 * same machine is woken once for a whole batch of them.
 *
 * Ownership: the client copies dest at vpd_up_client_start (and takes a
 * reference on its TLS identity); the exchange stays the caller's and must
 * stay valid until its callback or vpd_up_client_cancel. */
#ifndef VPD_UP_CLIENT_H
#define VPD_UP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "upstream/conn.h"

/* vault { max_connections } when unset. */
#define VPD_UP_DEFAULT_MAX_CONNECTIONS 256
/* Go's http.Transport closes idle connections after 90 s (Vault's client
 * keeps that default). */
#define VPD_UP_DEFAULT_IDLE_MS 90000

typedef struct vpd_up_client vpd_up_client;

vpd_up_client *vpd_up_client_new(uv_loop_t *loop, unsigned max_connections,
                                 uint64_t idle_ms);

/* Starts x towards dest.  x->cb runs exactly once, on the loop, never
 * before this returns, with x->error, x->status, and the caller's header
 * list and body filled.  Returns 0, or -1 when out of memory (the
 * callback will not run). */
int vpd_up_client_start(vpd_up_client *cl, const vpd_up_dest *dest,
                        vpd_up_exchange *x);

/* Withdraws an exchange whose callback has not run; it never will.  A
 * connection in the middle of it is closed, never reused. */
void vpd_up_client_cancel(vpd_up_exchange *x);

/* Stops reusing connections made with tls (replaced on SIGHUP): idle ones
 * close now, busy ones when their exchange ends. */
void vpd_up_client_retire(vpd_up_client *cl, const vpd_up_tls *tls);

size_t vpd_up_client_open_connections(const vpd_up_client *cl);

/* Closes every connection.  Exchanges still under way or queued must
 * have been cancelled.  May run inside an exchange callback: the client
 * is then released when that callback returns.  The loop must run
 * afterwards so libuv can finish closing. */
void vpd_up_client_free(vpd_up_client *cl);

#endif
