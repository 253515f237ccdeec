/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: error codes and hook statuses.
 *
 * Host functions return 0 or a negative VP_E* code (libuv style).  Hooks
 * return a vp_status_t that tells the core how to go on. */
#ifndef VAPROXY_ERRORS_H
#define VAPROXY_ERRORS_H

#include "common.h"

VP_BEGIN_DECLS

/* X-macro: (NAME, number, text).  Never renumber; only append.  The one
 * exception so far: VP_ENOMEM was -1 until ABI 1.2, the same number as
 * VP_ERROR, so a caller could not tell the two apart; it now has its own
 * number.  A plugin built against ABI 1.1 or older still returns -1 for
 * it, which is why the daemon treats every negative return as a failure
 * and never tests for VP_ENOMEM alone; a plugin should do the same with
 * what the host returns. */
#define VP_ERRNO_MAP(XX)                                                       \
    XX(INVAL, -2, "invalid argument")                                          \
    XX(NOENT, -3, "not found")                                                 \
    XX(IO, -4, "input/output error")                                           \
    XX(PROTO, -5, "unexpected answer from the server")                         \
    XX(NOTSUP, -6, "not supported")                                            \
    XX(EXIST, -7, "already exists")                                            \
    XX(FULL, -8, "no room left")                                               \
    XX(AUTH, -9, "authentication failed")                                      \
    XX(NOMEM, -10, "out of memory")

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

/* A short English text for a VP_E* code, for log lines and messages:
 * "success" for 0, the code's text for each VP_E* value, and for -1
 * (VP_ERROR, and VP_ENOMEM of plugins built before ABI 1.2) "failed".
 * Any other number gives "unknown error".  Static inline, so a plugin
 * that links nothing of the daemon can use it.
 * Returns a static string.  Ownership: never free it.  Async: no.
 * Since 1.2 (a header-only addition: the host table is unchanged). */
static inline const char *
vp_strerror(int code)
{
    switch (code) {
    case VP_OK:
        return "success";
    case VP_ERROR:
        return "failed";
#define VP_STRERROR_CASE_(name, num, text)                                     \
    case num:                                                                  \
        return text;
        VP_ERRNO_MAP(VP_STRERROR_CASE_)
#undef VP_STRERROR_CASE_
    }
    return "unknown error";
}

VP_END_DECLS

#endif
