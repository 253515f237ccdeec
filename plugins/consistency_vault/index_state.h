/* Vault's replication states (X-Vault-Index values) and the rule for
 * remembering them, as Vault documents for clients of its eventual
 * consistency.  Values stay opaque except for what the merge rule needs:
 * base64 of "v1:<cluster>:<local>:<replicated>:<hmac>".  The HMAC is not
 * checked: the proxy has no key.
 *
 * Ownership: vp_index_set owns copies of its strings. */
#ifndef VP_INDEX_STATE_H
#define VP_INDEX_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Vault's rule resets a set that holds more than two states; one merge
 * can produce three (two mixed states plus the new one). */
#define VP_INDEX_SET_MAX 3
#define VP_INDEX_SET_RESET_ABOVE 2
#define VP_INDEX_VALUE_MAX 1024

typedef struct {
    char values[VP_INDEX_SET_MAX][VP_INDEX_VALUE_MAX];
    size_t n;
} vp_index_set;

typedef struct {
    char cluster_id[256];
    uint64_t local_index;
    uint64_t replicated_index;
} vp_index_state;

/* Decodes one header value.  Returns 0, or -1 if it is not a v1 state. */
int vp_index_parse(const char *value, vp_index_state *out);

/* Merges a new state into the set, as Vault's MergeReplicationStates
 * does: an unparsable value or another cluster replaces the set; a state
 * that is ahead on both indexes wins over one behind on both; states ahead
 * on one and behind on the other are both kept. */
void vp_index_merge(vp_index_set *set, const char *value);

#endif
