/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: cache plugins (kind VP_KIND_CACHE).
 *
 * A cache plugin stores and finds entries; the core decides what is
 * cacheable, computes the key, renews leases and tokens, and tells the
 * cache what to evict.  An entry's key (`id`) is derived from the method,
 * raw URI, headers, body and the effective token, so an entry is never
 * served to another token.
 *
 * One entry is not an answer: while auto-auth holds a token, the core
 * stores it as a managed token so that what it creates can be found and
 * evicted with it.  That entry has the id "auto-auth-N", an empty
 * namespace_ and request_path (""), `token` set, no lease and an empty
 * `response` ({NULL, 0}); it is never served, and it counts against a
 * store's limits like any other entry.
 *
 * Re-entrancy: the core never calls an op of an instance from inside a
 * visit of that instance (to evict what a find matched, it collects the
 * ids first and evicts after find returns), so a store need not support
 * evict or store during a lookup or find visit, and a visit callback a
 * plugin writes for its own use must not call them either.
 */
#ifndef VAPROXY_CACHE_H
#define VAPROXY_CACHE_H

#include "host.h"

VP_BEGIN_DECLS

/* One cached response and the indexes it is found by.  Strings are
 * NUL-terminated; NULL when the entry has no such index. */
typedef struct vp_cache_entry {
    size_t size;              /* sizeof(vp_cache_entry_t) */
    const char *id;           /* the key, unique */
    const char *namespace_;   /* "root/" when the request named none */
    const char *request_path; /* "/v1/..." */
    const char *token;        /* token this response created */
    const char *token_accessor;
    const char *token_parent; /* managed token that created `token` */
    const char *lease;        /* lease id this response carries */
    const char *lease_token;  /* token that obtained `lease` */
    vp_str_t response;        /* the answer in the core's own packed
                                 form: opaque bytes, not HTTP text, whose
                                 format may change between versions; store
                                 and return them unchanged.  Empty for the
                                 auto-auth token's entry. */
    uint64_t last_renewed_ms; /* wall clock, ms since the epoch */
    uint64_t ttl_ms;          /* lease or token duration */
} vp_cache_entry_t;

/* Which index a selector looks at. */
typedef enum vp_cache_index {
    VP_CACHE_BY_ID = 1,
    VP_CACHE_BY_REQUEST_PATH = 2, /* namespace exact, path prefix */
    VP_CACHE_BY_TOKEN = 3,
    VP_CACHE_BY_TOKEN_ACCESSOR = 4,
    VP_CACHE_BY_LEASE = 5,
    VP_CACHE_BY_TOKEN_PARENT = 6,
    VP_CACHE_BY_LEASE_TOKEN = 7,
    VP_CACHE_ALL = 8
} vp_cache_index_t;

typedef struct vp_cache_selector {
    size_t size; /* sizeof(vp_cache_selector_t) */
    vp_cache_index_t index;
    const char *value;      /* exact value, or prefix for request paths */
    const char *namespace_; /* for VP_CACHE_BY_REQUEST_PATH */
} vp_cache_selector_t;

/* Called for each entry found; the entry is borrowed for the call.
 * Return 0 to go on, non-zero to stop. */
typedef int (*vp_cache_visit_fn)(void *arg, const vp_cache_entry_t *entry);

typedef struct vp_cache_ops {
    size_t size; /* sizeof(vp_cache_ops_t) */

    /* Checks configuration, sets up inst->data.  Returns 0 or VP_E*.
     * Since 1.0. */
    int (*create)(vp_instance_t *inst);
    void (*destroy)(vp_instance_t *inst);

    /* Finds the entry with this id.  Returns VP_DONE (visit was called
     * once), VP_DECLINED (miss) or VP_ERROR.  Since 1.0. */
    vp_status_t (*lookup)(vp_instance_t *inst, const char *id,
                          vp_cache_visit_fn visit, void *arg);

    /* Stores a copy of the entry (replacing one with the same id).
     * Returns VP_CONTINUE, VP_DECLINED (full: the core relays uncached)
     * or VP_ERROR.  Ownership: everything is copied.  Since 1.0. */
    vp_status_t (*store)(vp_instance_t *inst, const vp_cache_entry_t *entry);

    /* Visits every entry the selector matches.  Returns the number
     * visited, or a VP_E* code.  Since 1.0. */
    int (*find)(vp_instance_t *inst, const vp_cache_selector_t *sel,
                vp_cache_visit_fn visit, void *arg);

    /* Removes every entry the selector matches.  Returns the number
     * removed, or a VP_E* code.  Since 1.0. */
    int (*evict)(vp_instance_t *inst, const vp_cache_selector_t *sel);

    /* Records a successful renewal.  Returns 0 or VP_ENOENT.  May be NULL.
     * Since 1.0. */
    int (*renewed)(vp_instance_t *inst, const char *id,
                   uint64_t last_renewed_ms, uint64_t ttl_ms);

    /* Current size.  May be NULL.  Since 1.0. */
    int (*stats)(vp_instance_t *inst, uint64_t *entries, uint64_t *bytes);

    /* ---- Added in ABI 1.1: tables built against 1.0 end above. ---- */

    /* Applies a changed configuration block to the running instance, on
     * SIGHUP, without losing what it holds (entries, and the renewals the
     * core runs for them).  `next` is an instance of the same
     * implementation made from the new block: checked against the schema
     * and created (its create returned 0).  Read the new settings from it
     * with the conf getters, or take them from next->data.  Called on the
     * loop thread between requests, never from inside another op; only
     * when the block changed.
     * Returns: 0 when applied; from then on inst's configuration is the
     * new one (the conf getters on inst return the new values).  Or a
     * VP_E* code, with the reason given by set_error(inst, ...): inst must
     * then be as it was; the core keeps its running configuration and logs
     * the reason in one line.
     * Ownership: next is borrowed; the core destroys it after the call,
     * whatever the result, with whatever next->data then holds (a plugin
     * may exchange inst->data and next->data, so that destroy releases the
     * old state).  After a 0, strings read from next's configuration stay
     * valid until inst is destroyed or reconfigured again, and strings
     * read from inst's previous configuration only until the call returns.
     * May be NULL: a changed block is then logged as needing a restart.
     * Async: no.  Since 1.1. */
    int (*reconfigure)(vp_instance_t *inst, vp_instance_t *next);
} vp_cache_ops_t;

VP_END_DECLS

#endif
