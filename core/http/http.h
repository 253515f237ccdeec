/* HTTP types shared by the server side (listeners) and the client side
 * (forwarder): header lists and the request a listener hands the router.
 *
 * Ownership: a vpd_http_req belongs to the server until the router calls
 * vpd_http_respond exactly once; after that the pointer is dead.  Header
 * names and values are NUL-terminated copies owned by the request; the
 * router may edit req->headers with the vpd_hdrs_* calls, but must not
 * free or re-point target, path, query or body (target and path share one
 * allocation). */
#ifndef VPD_HTTP_H
#define VPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

typedef struct {
    char *name;
    char *value;
} vpd_hdr;

typedef struct {
    vpd_hdr *v;
    size_t n;
    size_t cap;
} vpd_hdrs;

/* Each add copies name and value.  Returns 0 or -1 (out of memory). */
int vpd_hdrs_add(vpd_hdrs *h, const char *name, const char *value);
int vpd_hdrs_addn(vpd_hdrs *h, const char *name, size_t name_len,
                  const char *value, size_t value_len);
/* The idx-th value of a header (case-insensitive name), or NULL. */
const char *vpd_hdrs_get(const vpd_hdrs *h, const char *name, size_t idx);
size_t vpd_hdrs_count(const vpd_hdrs *h, const char *name);
/* Removes every header with that name; returns how many went. */
size_t vpd_hdrs_del(vpd_hdrs *h, const char *name);
/* Appends a copy of every header of src to dst (dst zeroed or in use).
 * Returns 0 or -1 (out of memory; dst keeps what was added). */
int vpd_hdrs_copy(vpd_hdrs *dst, const vpd_hdrs *src);
/* Frees every name and value (values are wiped first: they may be tokens)
 * and leaves h empty and reusable. */
void vpd_hdrs_free(vpd_hdrs *h);
/* Like vpd_hdrs_free, but keeps the array for reuse (h->n becomes 0). */
void vpd_hdrs_clear(vpd_hdrs *h);
/* Hop-by-hop headers (RFC 9110 7.6.1) that a proxy must not forward, in
 * either direction; the _n form takes a name that is not NUL-terminated. */
bool vpd_hdr_is_hop_by_hop(const char *name);
bool vpd_hdr_is_hop_by_hop_n(const char *name, size_t nl);

typedef struct vpd_listener vpd_listener;

typedef struct vpd_http_req {
    const vpd_listener_config *listener; /* the listener it came in on */
    char method[24];                     /* as sent, e.g. "GET", "LIST" */
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

/* The body of a Vault error answer: {"errors":["msg"]} plus "\n", JSON
 * escaped like Go's encoding/json (so <, >, & become \u003c, \u003e,
 * \u0026).  Returns a malloc'd NUL-terminated string (free() it) and its
 * length in *len (may be NULL), or NULL when out of memory. */
char *vpd_http_error_json(const char *msg, size_t *len);

/* The standard reason phrase ("Not Found"), or "" for an unknown code. */
const char *vpd_http_reason(int status);

#endif
