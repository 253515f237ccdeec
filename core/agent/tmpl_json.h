/* Templates' values to and from JSON and YAML: Vault's answers become
 * values (what `secret` returns), parseJSON reads text, toJSON,
 * toJSONPretty and toYAML write it the way Go's encoding/json and
 * consul-template's YAML helper do (sorted keys; <, > and & escaped in
 * JSON strings, as json.Marshal does).
 *
 * Ownership: returned values carry one reference for the caller; writers
 * append to the caller's buffer. */
#ifndef VPD_TMPL_JSON_H
#define VPD_TMPL_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/tmpl_value.h"
#include "base/buf.h"

/* JSON text into a value.  numbers_as_float: every number is a float, as
 * Go's json.Unmarshal into interface{} (parseJSON); otherwise integers
 * stay ints (they print as Vault's json.Number would).  Empty text is an
 * empty map (consul-template's parseJSON).  Returns 0, or -1 with a
 * message. */
int vpd_tmpl_parse_json(const char *text, size_t len, bool numbers_as_float,
                        tmpl_value **out, char *err, size_t errlen);

/* A Vault answer (its JSON body) as the value secret returns: a map with
 * RequestID, LeaseID, LeaseDuration, Renewable, Data, Warnings (and Auth,
 * WrapInfo when present), the fields of consul-template's secret.
 * Returns NULL when the text is no JSON object or memory runs out. */
tmpl_value *vpd_tmpl_from_vault_json(const char *json, size_t len);

/* json.Marshal (pretty: json.MarshalIndent with two spaces).  Returns 0,
 * or -1 with a message (NaN and infinities have no JSON form). */
int vpd_tmpl_to_json(vpd_buf *out, const tmpl_value *v, bool pretty, char *err,
                     size_t errlen);
/* YAML block style, as consul-template's toYAML writes the common cases:
 * sorted keys, sequences at their key's indentation, strings quoted when
 * they would read back as something else, no trailing newline. */
int vpd_tmpl_to_yaml(vpd_buf *out, const tmpl_value *v);

#endif
