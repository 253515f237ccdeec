/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: everything a plugin needs, in one include.
 * Compile with `pkg-config --cflags vaproxy-sdk`; link against nothing. */
#ifndef VAPROXY_VAPROXY_H
#define VAPROXY_VAPROXY_H

#include "version.h"
#include "common.h"
#include "errors.h"
#include "plugin.h"
#include "host.h"
#include "auth.h"
#include "cache.h"
#include "consistency.h"

#endif
