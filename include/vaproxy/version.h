/* vaproxy SDK: ABI version and changelog.
 *
 * A plugin records the ABI it was compiled against in its descriptor.  The
 * daemon loads it only if the majors are equal and the plugin's minor is
 * not newer than the daemon's.  Additions bump the minor; anything that
 * breaks a compiled plugin bumps the major (which we intend never to do).
 *
 * Changelog (one dated entry per ABI version):
 *
 * 1.0 (2026-11-23)
 *     First ABI: plugin descriptor, host table, auth / cache / consistency
 *     ops tables, configuration schema.
 */
#ifndef VAPROXY_VERSION_H
#define VAPROXY_VERSION_H

#define VP_ABI_MAJOR 1
#define VP_ABI_MINOR 0

/* "VPX1": the first word of every plugin descriptor. */
#define VP_PLUGIN_MAGIC 0x56505831u

#endif
