/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: ABI version and changelog.
 *
 * A plugin records the ABI it was compiled against in its descriptor.  The
 * daemon loads it only if the majors are equal and the plugin's minor is
 * not newer than the daemon's.  Additions bump the minor; anything that
 * breaks a compiled plugin bumps the major (which we intend never to do).
 * So a plugin built against newer headers than a daemon's is refused by
 * it: plugin authors build against the oldest SDK they mean to support.
 *
 * Plugin projects check these values at configure time with
 * VAPROXY_CHECK_SDK([MAJOR.MINOR]) from the installed vaproxy-sdk.m4, which
 * compiles against this header; vaproxy-sdk.pc repeats them as the
 * variables abi_major and abi_minor (bump sdk/vaproxy-sdk.pc.in with this
 * file: tests/integration/test_sdk_template.py compares the two).  See
 * sdk/GUIDE.md, "Versioning".
 *
 * Changelog (one dated entry per ABI version):
 *
 * 1.0 (2026-11-23)
 *     First ABI: plugin descriptor, host table, auth / cache / consistency
 *     ops tables, configuration schema.
 *
 * 1.1 (2026-11-23)
 *     `reconfigure` appended to vp_cache_ops_t and vp_consistency_ops_t:
 *     on SIGHUP a changed configuration block is applied to the running
 *     instance instead of needing a restart.  Plugins built against 1.0
 *     keep loading; the daemon treats the op as absent for them (their
 *     ops tables end before it).
 *
 * 1.2 (2026-12-07)
 *     VP_ENOMEM is -10 instead of -1, which it shared with VP_ERROR.
 *     Plugins built against 1.0 or 1.1 keep loading and still return -1
 *     for it; the daemon treats every negative return as a failure, so
 *     both mean the same to it.  A plugin that compared a host return
 *     with VP_ENOMEM should compare with < 0.  vp_strerror(code) added to
 *     errors.h, static inline: the host table is unchanged.  Every host
 *     table member's comment now gives Returns, Ownership, Async and
 *     Since; req_ctx_set's failure is VP_EFULL, as it always was.
 *     Appended to vp_host_api_t, each block read only when the table's
 *     size covers it (VP_HOST_HAS):
 *       timers: timer_start, timer_stop (one-shot and repeating, stopped
 *         when their instance is destroyed), reauth (an auth method asks
 *         auto-auth to log in again);
 *       fetch: fetch, fetch_cancel, with vp_fetch_request_t and
 *         vp_fetch_answer_t (asynchronous HTTP(S) to any URL through
 *         libcurl, bounded answer in a secret buffer);
 *       JSON: json_parse, json_free, json_get, json_type, json_get_int,
 *         json_get_number, json_get_bool, json_get_str, json_array_len,
 *         json_array_at, json_new, json_add_str, json_add_int,
 *         json_add_number, json_add_bool, json_add, json_to_text.
 *     Appended to vp_auth_ops_t: login_failed (the method sees a failed
 *     login and says transient or permanent, with its own message) and
 *     reconfigure (SIGHUP applies a changed method block to the running
 *     instance, which keeps its credential).  Plugins built against 1.0
 *     or 1.1 have neither: every failure is transient and a changed
 *     block replaces the instance, as before.
 *     A size field appended to vp_instance_t and vp_auth_answer_t, which
 *     the host allocates: plugins built before 1.2 never read it.
 *     File reading: read_file_opts appended to the host table (no-follow,
 *     permission check, removal after reading); read_file and it read
 *     regular files only, opened without blocking.  VP_TARGET_ABI_MINOR
 *     (plugin.h): VP_PLUGIN_HEADER records the minor a plugin needs,
 *     by default the headers', so a plugin can target older daemons.
 *     A size field appended to vp_conf_field_t (VP_CONF_FIELD fills it,
 *     VP_CONF_END ends a schema), and provide_size and conf_field_size to
 *     vp_plugin_t (VP_PLUGIN_HEADER fills them): the daemon walks provides
 *     and every schema with the strides the plugin was compiled with, and
 *     with the 1.0 ones for a descriptor that ends before them, so plugins
 *     built against 1.0 or 1.1 keep loading.
 */
#ifndef VAPROXY_VERSION_H
#define VAPROXY_VERSION_H

#define VP_ABI_MAJOR 1
#define VP_ABI_MINOR 2

/* "VPX1": the first word of every plugin descriptor. */
#define VP_PLUGIN_MAGIC 0x56505831u

#endif
