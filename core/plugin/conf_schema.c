/* Configuration against a schema: see conf_schema.h.  The conversions
 * follow the daemon's own config reader: Go's boolean spellings, Vault's
 * durations (base/duration.h), octal file modes.
 *
 * This file has a second user: the SDK's mock host (tests/host/mock_host.c)
 * includes it, and `make install` ships it beside mock_host.c as
 * plugin/conf_schema.c.  There it must stand alone: the mock defines
 * VPD_CONF_SCHEMA_STATIC first, which makes these functions static and
 * skips the core's headers (conf_schema.h, installed beside it, is not
 * one: it then declares the types only), and includes base/duration.c and
 * base/conf_words.c before it.  Keep it to libc and the SDK's headers. */
#ifndef VPD_CONF_SCHEMA_STATIC
#include "autoconf.h"

#include "plugin/conf_schema.h"

#include "base/conf_words.h"
#include "base/duration.h"
#define VPD_CONF_SCHEMA_LINKAGE
#else
#include "plugin/conf_schema.h"
#define VPD_CONF_SCHEMA_LINKAGE static
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

VPD_CONF_SCHEMA_LINKAGE const vp_conf_field_t *
vpd_conf_schema_field(const vp_conf_field_t *schema, const char *key)
{
    for (const vp_conf_field_t *f = schema; f && f->key; f++) {
        if (strcmp(f->key, key) == 0)
            return f;
    }
    return NULL;
}

/* What a field of the type takes, as the messages say it. */
static const char *
conf_schema_wants(vp_conf_type_t type)
{
    switch (type) {
    case VP_CONF_STRING:
    case VP_CONF_PATH:
        return "a string";
    case VP_CONF_INT:
        return "an integer";
    case VP_CONF_BOOL:
        return "a bool";
    case VP_CONF_DURATION:
        return "a duration (\"30s\", \"5m\", or seconds)";
    case VP_CONF_MODE:
        return "a file mode (0640 or \"0640\")";
    }
    return "a known type";
}

static int
conf_schema_int_text(const char *s, int base, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int
conf_schema_bool(const vpd_conf_value *v, int64_t *num)
{
    bool b = false;
    if (v->kind == VPD_CONF_VALUE_TRUTH) {
        *num = v->whole != 0;
        return 0;
    }
    if (v->kind != VPD_CONF_VALUE_TEXT || vpd_parse_go_bool(v->text, &b) != 0)
        return -1;
    *num = b;
    return 0;
}

/* A bare number is seconds, as in Vault's configuration. */
static int
conf_schema_duration(const vpd_conf_value *v, int64_t *num)
{
    uint64_t ms;
    if (v->kind == VPD_CONF_VALUE_WHOLE && v->whole >= 0) {
        *num = v->whole * 1000;
        return 0;
    }
    if (v->kind != VPD_CONF_VALUE_TEXT || vpd_duration_parse(v->text, &ms) != 0)
        return -1;
    *num = (int64_t)ms;
    return 0;
}

/* HCL's 0640 is already octal; JSON users write "0640" (which fixes
 * hashicorp/vault#9404: JSON has no octal numbers). */
static int
conf_schema_mode(const vpd_conf_value *v, int64_t *num)
{
    if (v->kind == VPD_CONF_VALUE_WHOLE)
        *num = v->whole;
    else if (v->kind != VPD_CONF_VALUE_TEXT ||
             conf_schema_int_text(v->text, 8, num) != 0)
        return -1;
    return (*num >= 0 && *num <= 07777) ? 0 : -1;
}

VPD_CONF_SCHEMA_LINKAGE int
vpd_conf_schema_convert(vp_conf_type_t type, const vpd_conf_value *v,
                        const char **str, int64_t *num)
{
    switch (type) {
    case VP_CONF_STRING:
    case VP_CONF_PATH:
        if (v->kind != VPD_CONF_VALUE_TEXT)
            return -1;
        *str = v->text;
        return 0;
    case VP_CONF_INT:
        if (v->kind == VPD_CONF_VALUE_WHOLE) {
            *num = v->whole;
            return 0;
        }
        return v->kind == VPD_CONF_VALUE_TEXT
                   ? conf_schema_int_text(v->text, 10, num)
                   : -1;
    case VP_CONF_BOOL:
        return conf_schema_bool(v, num);
    case VP_CONF_DURATION:
        return conf_schema_duration(v, num);
    case VP_CONF_MODE:
        return conf_schema_mode(v, num);
    }
    return -1;
}

VPD_CONF_SCHEMA_LINKAGE int
vpd_conf_schema_get(const vp_conf_field_t *schema, const char *key,
                    vp_conf_type_t want_type, const vpd_conf_value *v,
                    const char **str, int64_t *num)
{
    const vp_conf_field_t *f = vpd_conf_schema_field(schema, key);
    if (!f)
        return VP_EINVAL;
    /* The getter's type must be compatible with the schema's. */
    int text_like = want_type == VP_CONF_STRING;
    int schema_text = f->type == VP_CONF_STRING || f->type == VP_CONF_PATH;
    if (text_like != schema_text)
        return VP_EINVAL;
    vpd_conf_value fallback = {VPD_CONF_VALUE_TEXT, f->default_value, 0,
                               "string"};
    if (!v && !f->default_value)
        return VP_ENOENT;
    return vpd_conf_schema_convert(f->type, v ? v : &fallback, str, num) == 0
               ? 0
               : VP_EINVAL;
}

/* An unknown key names the closest one, when it is within two edits,
 * since that is almost always a typo. */
static void
conf_schema_unknown(const vp_conf_field_t *schema, const char *key, char *msg,
                    size_t msg_len)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (const vp_conf_field_t *s = schema; s && s->key; s++) {
        size_t d = vpd_edit_distance(key, s->key);
        if (d < best_d) {
            best_d = d;
            best = s->key;
        }
    }
    snprintf(msg, msg_len, "unknown key \"%s\"%s%s%s", key,
             best ? " (did you mean \"" : "", best ? best : "",
             best ? "\"?)" : "");
}

VPD_CONF_SCHEMA_LINKAGE int
vpd_conf_schema_check_value(const vp_conf_field_t *schema, const char *key,
                            const vpd_conf_value *v, char *msg, size_t msg_len)
{
    const vp_conf_field_t *f = vpd_conf_schema_field(schema, key);
    if (!f) {
        conf_schema_unknown(schema, key, msg, msg_len);
        return -1;
    }
    const char *str;
    int64_t num;
    if (vpd_conf_schema_convert(f->type, v, &str, &num) != 0) {
        snprintf(msg, msg_len, "%s: expected %s, got %s", key,
                 conf_schema_wants(f->type), v->type_name);
        return -1;
    }
    return 0;
}

VPD_CONF_SCHEMA_LINKAGE const vp_conf_field_t *
vpd_conf_schema_missing(const vp_conf_field_t *schema,
                        int (*present)(const void *ctx, const char *key),
                        const void *ctx, char *msg, size_t msg_len)
{
    for (const vp_conf_field_t *f = schema; f && f->key; f++) {
        if ((f->flags & VP_CONF_REQUIRED) && !present(ctx, f->key)) {
            snprintf(msg, msg_len, "missing required key \"%s\"", f->key);
            return f;
        }
    }
    return NULL;
}
