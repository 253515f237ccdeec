/* The request a listener hands the router, and the calls that answer it.
 * The header list, the header policy and the status texts have their own
 * modules (http/hdrs.h, http/hdr_policy.h, http/status.h); they are
 * included here for the many users that need all of them.
 *
 * Ownership: a vpd_http_req belongs to the server until the router calls
 * vpd_http_respond exactly once; after that the pointer is dead.  Header
 * names and values are NUL-terminated copies owned by the request; the
 * router may edit req->headers with the vpd_hdrs_* calls, but must not
 * free or re-point target, path, query or body (target and path share one
 * allocation).  req->listener points into the config the server was
 * started from; include config/config.h to read its fields. */
#ifndef VPD_HTTP_H
#define VPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "http/hdr_policy.h"
#include "http/hdrs.h"
#include "http/status.h"

struct vpd_listener_config;

typedef struct vpd_http_req {
    /* the listener it came in on */
    const struct vpd_listener_config *listener;
    char method[24];   /* as sent, e.g. "GET", "LIST" */
    char *target;      /* raw request-target: path and query */
    char *path;        /* the path part of target (not decoded) */
    const char *query; /* after '?' in target, or "" */
    vpd_hdrs headers;  /* in wire order, original case */
    char *body;        /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    int http_major, http_minor;
    bool keep_alive;  /* the client wants the connection kept */
    bool client_gone; /* set by the server if the client left */
    char peer[64];    /* "127.0.0.1:5555" or "unix" */
    void *user;       /* for the router */
} vpd_http_req;

/* The router: called once per parsed request, on the loop thread. */
typedef void (*vpd_http_handler_fn)(vpd_http_req *req, void *arg);

/* Sends the response and releases the request.  `hdrs` may be NULL;
 * Content-Length, Date, Connection are added by the server.  body is
 * copied (or written before return).  Safe to call after the client left.
 *
 * Details: Content-Length, Transfer-Encoding, Connection and Keep-Alive in
 * `hdrs` are dropped (the server frames the message itself), except that a
 * given Content-Length is kept on HEAD and 304 answers; a given Date is
 * kept.  Headers whose name or value holds CR or LF are dropped.  1xx, 204
 * and 304 carry no body and no Content-Length; HEAD carries no body.  A
 * status outside 100..999 becomes 500. */
void vpd_http_respond(vpd_http_req *req, int status, const vpd_hdrs *hdrs,
                      const char *body, size_t body_len);

/* Convenience: Vault-style {"errors":["msg"]} with Content-Type JSON. */
void vpd_http_respond_error(vpd_http_req *req, int status, const char *msg);

#endif
