/* The host table's shims: see host_table.h.  The members that act on
 * login requests and proxied requests are implemented in login.c and
 * request.c, the 1.2 timers, reauth, fetch and JSON members in timers.c,
 * reauth.c, fetch.c and json_api.c (the 1.0 JSON helpers too), the
 * configuration getters and file readers in host_members.c (shared with
 * the SDK's mock host); the ones here are the rest: logging and errors,
 * memory, time and randomness. */
#include "autoconf.h"

#include "plugin/host_table.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/secmem.h"
#include "plugin/fetch.h"
#include "plugin/json_api.h"
#include "plugin/file_read.h"
#include "plugin/login.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"
#include "plugin/reauth.h"
#include "plugin/request.h"
#include "plugin/timers.h"

/* ---- logging and errors ----------------------------------------------- */

static const char *
component_of(const vp_instance_t *inst, char *buf, size_t len)
{
    if (!inst)
        return "proxy.plugin";
    const vpd_instance *vi = (const vpd_instance *)inst;
    snprintf(buf, len, "proxy.%s.%s", vpd_kind_name(vi->kind), inst->name);
    return buf;
}

static void host_log(const vp_instance_t *inst, vp_log_level_t level,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
host_log(const vp_instance_t *inst, vp_log_level_t level, const char *fmt, ...)
{
    char comp[128];
    va_list ap;
    va_start(ap, fmt);
    vpd_log_level l =
        level <= VP_LOG_ERROR ? (vpd_log_level)level : VPD_LOG_ERROR;
    vpd_vlog(l, component_of(inst, comp, sizeof comp), fmt, ap);
    va_end(ap);
}

static void host_set_error(const vp_instance_t *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
host_set_error(const vp_instance_t *inst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (inst) {
        vpd_instance *vi = (vpd_instance *)inst;
        vsnprintf(vi->last_error, sizeof vi->last_error, fmt, ap);
    } else {
        vpd_plugins_vset_init_error(fmt, ap);
    }
    va_end(ap);
}

/* ---- memory ------------------------------------------------------------ */

static void *
host_alloc(size_t size)
{
    return malloc(size);
}

static void *
host_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

static void
host_free(void *p)
{
    free(p);
}

static char *
host_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- configuration, files -------------------------------------------- */

/* The getters and the file readers are host_members.c's, shared with the
 * SDK's mock host; these are what they act on. */
static int
instance_conf_get(const vp_instance_t *inst, const char *key,
                  vp_conf_type_t want, const char **str, int64_t *num)
{
    const vpd_instance *vi = (const vpd_instance *)inst;
    return vpd_plugin_conf_get(&vi->conf, key, want, str, num);
}

#define VPD_MEMBERS_CONF_GET instance_conf_get
#define VPD_MEMBERS_SECRET_DUP vpd_secret_dup
#define VPD_MEMBERS_SET_ERROR host_set_error
#define VPD_MEMBERS_LOG host_log
#include "plugin/host_members.c"

/* ---- time and randomness ----------------------------------------------- */

static uint64_t
host_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
host_random_bytes(void *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : VP_EIO;
}

static const vp_host_api_t host_table = {
    .size = sizeof(vp_host_api_t),
    .abi_major = VP_ABI_MAJOR,
    .abi_minor = VP_ABI_MINOR,
    .log = host_log,
    .set_error = host_set_error,
    .alloc = host_alloc,
    .calloc = host_calloc,
    .free = host_free,
    .strdup = host_strdup,
    .secret_dup = vpd_secret_dup,
    .secret_free = vpd_secret_free,
    VPD_HOST_MEMBERS_SHARED,
    VPD_JSON_MEMBERS,
    .login_set_request = vpd_login_set_request,
    .login_set_body = vpd_login_set_body,
    .login_set_token = vpd_login_set_token,
    .login_add_header = vpd_login_add_header,
    .login_set_tls = vpd_login_set_tls,
    .login_set_result = vpd_login_set_result,
    .req_method = vpd_req_method,
    .req_path = vpd_req_path,
    .req_token = vpd_req_token,
    .req_header = vpd_req_header,
    .req_header_count = vpd_req_header_count,
    .req_header_add = vpd_req_header_add,
    .req_header_remove = vpd_req_header_remove,
    .resp_status = vpd_resp_status,
    .resp_header = vpd_resp_header,
    .resp_header_count = vpd_resp_header_count,
    .resp_body = vpd_resp_body,
    .resp_header_add = vpd_resp_header_add,
    .req_respond = vpd_req_respond,
    .req_attempts = vpd_req_attempts,
    .req_ctx_set = vpd_req_ctx_set,
    .req_ctx_get = vpd_req_ctx_get,
    .now_ms = host_now_ms,
    .random_bytes = host_random_bytes,
    .login_method = vpd_login_method,
    .login_path = vpd_login_path,

    /* 1.2: timers */
    .timer_start = vpd_plugin_timer_start,
    .timer_stop = vpd_plugin_timer_stop,
    .reauth = vpd_plugin_reauth,

    /* 1.2: fetch */
    .fetch = vpd_plugin_fetch,
    .fetch_cancel = vpd_plugin_fetch_cancel,
};

const vp_host_api_t *
vpd_host_api(void)
{
    return &host_table;
}
