/* Kept free of the SDK so the unit tests can link it directly. */
#include "index_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding, strict (Go's StdEncoding). */
static int
b64_decode(const char *in, char *out, size_t out_cap, size_t *out_len)
{
    size_t len = strlen(in);
    if (len == 0 || len % 4 != 0)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad)
                return -1;
            v[j] = b64_value(c);
            if (v[j] < 0)
                return -1;
        }
        unsigned triple =
            (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        char bytes[3] = {(char)(triple >> 16), (char)(triple >> 8),
                         (char)triple};
        for (int j = 0; j < 3 - pad; j++) {
            if (n + 1 >= out_cap)
                return -1;
            out[n++] = bytes[j];
        }
    }
    out[n] = '\0';
    *out_len = n;
    return 0;
}

static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int
vp_index_parse(const char *value, vp_index_state *out)
{
    char text[VP_INDEX_VALUE_MAX];
    size_t len;
    if (b64_decode(value, text, sizeof text, &len) != 0 ||
        memchr(text, '\0', len))
        return -1;
    const char *field[5];
    size_t flen[5];
    const char *p = text;
    for (int i = 0; i < 5; i++) {
        const char *colon = strchr(p, ':');
        if ((i < 4) != (colon != NULL))
            return -1;
        field[i] = p;
        flen[i] = colon ? (size_t)(colon - p) : strlen(p);
        p = colon ? colon + 1 : p + flen[i];
    }
    if (flen[0] != 2 || memcmp(field[0], "v1", 2) != 0 ||
        flen[1] >= sizeof out->cluster_id)
        return -1;
    memcpy(out->cluster_id, field[1], flen[1]);
    out->cluster_id[flen[1]] = '\0';
    if (parse_u64(field[2], flen[2], &out->local_index) != 0 ||
        parse_u64(field[3], flen[3], &out->replicated_index) != 0)
        return -1;
    return 0;
}

/* 1: a is ahead (or equal) on both, -1: behind on both, 0: mixed;
 * -2: not comparable. */
static int
compare(const char *a, const char *b)
{
    vp_index_state sa, sb;
    if (vp_index_parse(a, &sa) != 0 || vp_index_parse(b, &sb) != 0 ||
        strcmp(sa.cluster_id, sb.cluster_id) != 0)
        return -2;
    if (sa.local_index >= sb.local_index &&
        sa.replicated_index >= sb.replicated_index)
        return 1;
    if (sa.local_index <= sb.local_index &&
        sa.replicated_index <= sb.replicated_index)
        return -1;
    return 0;
}

static void
add_unique(vp_index_set *out, const char *value)
{
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->values[i], value) == 0)
            return;
    }
    if (out->n < VP_INDEX_SET_MAX)
        snprintf(out->values[out->n++], VP_INDEX_VALUE_MAX, "%s", value);
}

void
vp_index_merge(vp_index_set *set, const char *value)
{
    if (strlen(value) >= VP_INDEX_VALUE_MAX)
        return; /* not a state we could ever send back */
    vp_index_set merged = {.n = 0};
    if (set->n == 0 || set->n > VP_INDEX_SET_RESET_ABOVE) {
        add_unique(&merged, value);
        *set = merged;
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        int c = compare(set->values[i], value);
        if (c == -2) {
            merged.n = 0;
            add_unique(&merged, value);
            break;
        }
        if (c == 1) {
            add_unique(&merged, set->values[i]);
        } else if (c == -1) {
            add_unique(&merged, value);
        } else {
            add_unique(&merged, set->values[i]);
            add_unique(&merged, value);
        }
    }
    *set = merged;
}
