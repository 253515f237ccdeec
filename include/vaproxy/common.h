/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: small shared definitions.
 *
 * Ownership: a vp_str_t never owns its bytes; it points into memory whose
 * owner and lifetime the function taking or returning it states. */
#ifndef VAPROXY_COMMON_H
#define VAPROXY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define VP_BEGIN_DECLS extern "C" {
#define VP_END_DECLS }
#else
#define VP_BEGIN_DECLS
#define VP_END_DECLS
#endif

#if defined(__GNUC__)
#define VP_EXPORT __attribute__((visibility("default")))
#define VP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VP_EXPORT
#define VP_PRINTF(fmt, args)
#endif

/* A span of bytes, not NUL-terminated unless stated. */
typedef struct vp_str {
    const char *ptr;
    size_t len;
} vp_str_t;

#endif
