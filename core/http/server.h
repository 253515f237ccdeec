/* Listeners: TCP or unix sockets, plain or TLS, each serving HTTP/1.1 with
 * llhttp and handing complete requests to the router.  A connection that
 * agrees on h2 by ALPN, or opens with the HTTP/2 preface on a listener
 * with http2_prior_knowledge, is served by http/h2_conn.h instead; its
 * streams reach the same router.
 *
 * Ownership: the server owns its listeners and connections.  It keeps a
 * pointer to the config it was started from (which must outlive it). */
#ifndef VPD_SERVER_H
#define VPD_SERVER_H

#include <uv.h>

#include "config/config.h"
#include "http/http.h"

typedef struct vpd_server vpd_server;

/* Binds every listener of cfg (unix: removes a stale socket file, applies
 * socket_mode / socket_user / socket_group each on its own; TLS: loads the
 * certificate).  Returns NULL with a message in err if any fails (handles
 * already opened are closed on the next loop run).
 *
 * Limits of a listener that are 0 mean the default: max_header_bytes
 * 64 KiB, max_body_bytes 32 MiB, max_connections 4096; a timeout of 0 is
 * no timeout.  At max_connections a new connection takes the place of the
 * oldest one lingering after its last answer, else of the oldest idle
 * keep-alive one, else of the one that has waited longest for a request
 * head; when every connection is busy it is accepted and closed at once.
 * A client that ends its side (FIN, close_notify) gets the answers to
 * every request it sent, in order, before the close.  SIGPIPE is set to SIG_IGN
 * if it still has its default action (libuv writes with write(2)).  A TCP host
 * name (not an IP literal) is resolved here, blocking, so call this before the
 * loop serves. */
vpd_server *vpd_server_start(uv_loop_t *loop, const vpd_config *cfg,
                             vpd_http_handler_fn handler, void *arg, char *err,
                             size_t err_len);

/* The port a TCP listener is bound to (useful with port 0), by its index
 * in cfg->listeners.  Returns -1 for a unix listener, a closed listener or
 * a bad index. */
int vpd_server_port(const vpd_server *srv, size_t listener_idx);

/* SIGHUP: reloads TLS certificates of every listener from their files.
 * A listener whose new files fail to load keeps its old certificate.
 * Returns the number of listeners that failed. */
int vpd_server_reload_tls(vpd_server *srv);

/* SIGHUP with a new config: builds the TLS context of every TLS listener
 * from cfg->listeners[i] when that entry still has the listener's type
 * and address (files are read now, nothing of cfg is kept).  All load or
 * none is used: returns 0, or -1 with "FILE:LINE: listener NAME: why" in
 * err and the old certificates still served. */
int vpd_server_reload_tls_from(vpd_server *srv, const vpd_config *cfg,
                               char *err, size_t err_len);

/* Stops accepting (closes listening sockets, removes unix socket files) but
 * lets in-flight requests finish; idle keep-alive connections are closed. */
void vpd_server_stop_accepting(vpd_server *srv);

/* Number of requests handed to the router and not yet responded to. */
size_t vpd_server_inflight(const vpd_server *srv);

/* Open client connections over every listener (for the metrics). */
size_t vpd_server_connections(const vpd_server *srv);

/* Closes everything; `done` runs (from a close callback, never inline)
 * when every handle is closed and the server is freed.  Requests still
 * with the router get client_gone = true; answering them later only
 * frees them. */
void vpd_server_close(vpd_server *srv, void (*done)(void *), void *arg);

#endif
