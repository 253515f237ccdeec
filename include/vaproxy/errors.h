/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: error codes and hook statuses.
 *
 * Host functions return 0 or a negative VP_E* code (libuv style).  Hooks
 * return a vp_status_t that tells the core how to go on. */
#ifndef VAPROXY_ERRORS_H
#define VAPROXY_ERRORS_H

#include "common.h"

VP_BEGIN_DECLS

/* X-macro: (NAME, number, text).  Never renumber; only append. */
#define VP_ERRNO_MAP(XX)                                                       \
    XX(NOMEM, -1, "out of memory")                                             \
    XX(INVAL, -2, "invalid argument")                                          \
    XX(NOENT, -3, "not found")                                                 \
    XX(IO, -4, "input/output error")                                           \
    XX(PROTO, -5, "unexpected answer from the server")                         \
    XX(NOTSUP, -6, "not supported")                                            \
    XX(EXIST, -7, "already exists")                                            \
    XX(FULL, -8, "no room left")                                               \
    XX(AUTH, -9, "authentication failed")

typedef enum vp_errno {
    VP_OK = 0,
#define VP_ERRNO_ENUM_(name, num, text) VP_E##name = (num),
    VP_ERRNO_MAP(VP_ERRNO_ENUM_)
#undef VP_ERRNO_ENUM_
} vp_errno_t;

/* What a hook tells the core. */
typedef enum vp_status {
    VP_ERROR = -1,   /* failed; the plugin said why with host->set_error */
    VP_CONTINUE = 0, /* done with this step, go on to the next */
    VP_DECLINED = 1, /* does not apply (a cache miss, a method not ready) */
    VP_DONE = 2,     /* finished: a request was answered, a login succeeded */
    VP_RETRY = 3     /* send the request upstream again (bounded by core) */
} vp_status_t;

VP_END_DECLS

#endif
