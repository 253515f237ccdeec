/* The host-table members whose code is the same in every host: the
 * configuration getters (conf_string, conf_int, conf_bool,
 * conf_duration_ms) and the file readers (read_file, read_file_opts).
 * The daemon's host_table.c and the SDK's mock host
 * (tests/host/mock_host.c, which finds this file installed beside it as
 * plugin/host_members.c) both include it, so a plugin meets the same
 * members in its unit tests as in vaproxyd.
 *
 * It is never compiled on its own.  The includer first provides, as
 * macros naming its own functions:
 *   VPD_MEMBERS_CONF_GET(inst, key, want_type, &str, &num): the value
 *     lookup (plugin_conf.h's vpd_plugin_conf_get, or the mock's);
 *   VPD_MEMBERS_SECRET_DUP(s, len): a secret buffer;
 *   VPD_MEMBERS_SET_ERROR(inst, fmt, ...) and VPD_MEMBERS_LOG(inst,
 *     level, fmt, ...): the host's set_error and log members;
 * and the declaration of vpd_file_read (plugin/file_read.h, or
 * file_read.c itself).  The members defined here are static;
 * VPD_HOST_MEMBERS_SHARED puts them in the includer's vp_host_api_t
 * initializer.  Keep it to libc
 * and the SDK's headers. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <vaproxy/vaproxy.h>

/* The largest file a plugin may read through the host. */
#define VPD_MEMBERS_FILE_MAX (1024 * 1024)

static int
member_conf_string(const vp_instance_t *inst, const char *key, const char **out)
{
    int64_t unused = 0;
    return VPD_MEMBERS_CONF_GET(inst, key, VP_CONF_STRING, out, &unused);
}

static int
member_conf_int(const vp_instance_t *inst, const char *key, int64_t *out)
{
    const char *unused;
    return VPD_MEMBERS_CONF_GET(inst, key, VP_CONF_INT, &unused, out);
}

static int
member_conf_bool(const vp_instance_t *inst, const char *key, int *out)
{
    const char *unused;
    int64_t v = 0;
    int rc = VPD_MEMBERS_CONF_GET(inst, key, VP_CONF_BOOL, &unused, &v);
    if (rc == 0)
        *out = v != 0;
    return rc;
}

static int
member_conf_duration_ms(const vp_instance_t *inst, const char *key,
                        uint64_t *out)
{
    const char *unused;
    int64_t v = 0;
    int rc = VPD_MEMBERS_CONF_GET(inst, key, VP_CONF_DURATION, &unused, &v);
    if (rc == 0)
        *out = (uint64_t)v;
    return rc;
}

/* Zeroes the raw bytes read (usually a secret) in a way the compiler may
 * not drop. */
static void
member_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* The rules and messages are file_read.c's; what the plugin gets is a
 * secret buffer, trimmed when it asked. */
static int
member_read_with(const vp_instance_t *inst, const char *path, unsigned flags,
                 unsigned deny_mode, char **out, size_t *out_len)
{
    *out = NULL;
    char why[512], *raw = NULL;
    size_t len = 0;
    int rc = vpd_file_read(path, flags, deny_mode, VPD_MEMBERS_FILE_MAX, &raw,
                           &len, why, sizeof why);
    if (rc != 0) {
        if (inst && rc != VP_ENOMEM)
            VPD_MEMBERS_SET_ERROR(inst, "%s", why);
        return rc;
    }
    if (why[0])
        VPD_MEMBERS_LOG(inst, VP_LOG_WARN, "%s", why);
    const char *start = raw;
    size_t n = len;
    if (flags & VP_READ_TRIM) {
        while (n && isspace((unsigned char)*start)) {
            start++;
            n--;
        }
        while (n && isspace((unsigned char)start[n - 1]))
            n--;
    }
    *out = VPD_MEMBERS_SECRET_DUP(start, n);
    member_wipe(raw, len);
    free(raw);
    if (!*out)
        return VP_ENOMEM;
    if (out_len)
        *out_len = n;
    return 0;
}

static int
member_read_file(const vp_instance_t *inst, const char *path, int trim,
                 char **out, size_t *out_len)
{
    return member_read_with(inst, path, trim ? VP_READ_TRIM : 0, 0, out,
                            out_len);
}

static int
member_read_file_opts(const vp_instance_t *inst, const char *path,
                      const vp_read_opts_t *opts, char **out, size_t *out_len)
{
    *out = NULL;
    if (!opts)
        return member_read_with(inst, path, 0, 0, out, out_len);
    const unsigned known = VP_READ_TRIM | VP_READ_NOFOLLOW | VP_READ_REMOVE;
    if (opts->size < sizeof *opts || (opts->flags & ~known)) {
        if (inst)
            VPD_MEMBERS_SET_ERROR(inst, "read_file_opts: %s",
                                  opts->size < sizeof *opts
                                      ? "options too small"
                                      : "unknown flags");
        return VP_EINVAL;
    }
    return member_read_with(inst, path, opts->flags, opts->deny_mode, out,
                            out_len);
}

/* The designated initializers of every member above, for the includer's
 * vp_host_api_t. */
#define VPD_HOST_MEMBERS_SHARED                                                \
    .conf_string = member_conf_string, .conf_int = member_conf_int,            \
    .conf_bool = member_conf_bool,                                             \
    .conf_duration_ms = member_conf_duration_ms,                               \
    .read_file = member_read_file, .read_file_opts = member_read_file_opts
