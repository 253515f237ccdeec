/* A plugin instance's configuration held against its implementation's
 * schema: which field a key names, how a value converts to the field's
 * type, what a getter returns, and the messages for an unknown key, a
 * value of the wrong type and a missing required key.
 *
 * One source for the daemon (plugin_conf.c, which adds the file, line and
 * instance in front of each message) and the SDK's mock host, which
 * includes conf_schema.c (installed beside mock_host.c as
 * plugin/conf_schema.c): a plugin's unit test meets the daemon's verdicts
 * in the daemon's words.
 *
 * Ownership: nothing is kept.  Schemas, values and keys are borrowed for
 * the call; a *str result points into the value or the schema. */
#ifndef VPD_CONF_SCHEMA_H
#define VPD_CONF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <vaproxy/vaproxy.h>

/* What a configured value is, as far as the conversions care. */
typedef enum {
    VPD_CONF_VALUE_TEXT,  /* a string, in text */
    VPD_CONF_VALUE_WHOLE, /* an integer number, in whole */
    VPD_CONF_VALUE_TRUTH, /* a bool, in whole (0 or 1) */
    VPD_CONF_VALUE_OTHER  /* anything else: a fraction, a list, a map */
} vpd_conf_value_kind;

typedef struct {
    vpd_conf_value_kind kind;
    const char *text;
    int64_t whole;
    const char *type_name; /* for messages: "string", "number", "list" */
} vpd_conf_value;

/* The includer that compiles conf_schema.c into itself (the mock host)
 * gets these as static functions. */
#ifndef VPD_CONF_SCHEMA_STATIC

/* The field of schema called key, or NULL.  schema may be NULL. */
const vp_conf_field_t *vpd_conf_schema_field(const vp_conf_field_t *schema,
                                             const char *key);

/* Converts v to type: text into *str, numbers, booleans, durations
 * (milliseconds) and modes into *num.  Returns 0 or -1. */
int vpd_conf_schema_convert(vp_conf_type_t type, const vpd_conf_value *v,
                            const char **str, int64_t *num);

/* What a getter returns for key, whose configured value is v (NULL when
 * absent: the schema's default applies).  want_type says which getter
 * asks: VP_CONF_STRING for text, anything else for a number.  Returns 0,
 * VP_ENOENT (absent, no default) or VP_EINVAL (not in the schema, a
 * getter of the wrong kind, or a value that does not convert). */
int vpd_conf_schema_get(const vp_conf_field_t *schema, const char *key,
                        vp_conf_type_t want_type, const vpd_conf_value *v,
                        const char **str, int64_t *num);

/* Checks one configured key and its value: known to the schema and of
 * the field's type.  Returns 0, or -1 with the reason in msg: 'unknown
 * key "K"' (with a "did you mean" when a key is within two edits) or
 * 'K: expected TYPE, got TYPE'. */
int vpd_conf_schema_check_value(const vp_conf_field_t *schema, const char *key,
                                const vpd_conf_value *v, char *msg,
                                size_t msg_len);

/* The first required field that present(ctx, key) says is not
 * configured, with 'missing required key "K"' in msg; or NULL. */
const vp_conf_field_t *
vpd_conf_schema_missing(const vp_conf_field_t *schema,
                        int (*present)(const void *ctx, const char *key),
                        const void *ctx, char *msg, size_t msg_len);

#endif /* VPD_CONF_SCHEMA_STATIC */

#endif
