/* HTTP types shared by the server side (listeners) and the client side
 * (forwarder): header lists and the request a listener hands the router.
 *
 * Ownership: a vpd_http_req belongs to the server until the router calls
 * vpd_http_respond exactly once; after that the pointer is dead.  Header
 * names and values are NUL-terminated copies owned by the request. */
#ifndef VPD_HTTP_H
#define VPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

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
int vpd_hdrs_copy(vpd_hdrs *dst, const vpd_hdrs *src);
void vpd_hdrs_free(vpd_hdrs *h);
/* Hop-by-hop headers (RFC 9110 7.6.1) that a proxy must not forward. */
bool vpd_hdr_is_hop_by_hop(const char *name);

typedef struct vpd_listener vpd_listener;

typedef struct vpd_http_req {
    const vpd_listener_config *listener; /* the listener it came in on */
    char method[24];          /* as sent, e.g. "GET", "LIST" */
    char *target;             /* raw request-target: path and query */
    char *path;               /* the path part of target (not decoded) */
    const char *query;        /* after '?' in target, or "" */
    vpd_hdrs headers;         /* in wire order, original case */
    char *body;               /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    int http_major, http_minor;
    bool keep_alive;          /* the client wants the connection kept */
    bool client_gone;         /* set by the server if the client left */
    char peer[64];            /* "127.0.0.1:5555" or "unix" */
    void *user;               /* for the router */
} vpd_http_req;

/* The router: called once per parsed request, on the loop thread. */
typedef void (*vpd_http_handler_fn)(vpd_http_req *req, void *arg);

/* Sends the response and releases the request.  `hdrs` may be NULL;
 * Content-Length, Date, Connection are added by the server.  body is
 * copied (or written before return).  Safe to call after the client left.
 */
void vpd_http_respond(vpd_http_req *req, int status, const vpd_hdrs *hdrs,
                      const char *body, size_t body_len);

/* Convenience: Vault-style {"errors":["msg"]} with Content-Type JSON. */
void vpd_http_respond_error(vpd_http_req *req, int status, const char *msg);

const char *vpd_http_reason(int status);

#endif
