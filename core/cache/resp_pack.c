/* Raw deflate (no zlib header or checksum: the store and the persistent
 * file have their own integrity) with a preset dictionary.  zlib matches
 * against the dictionary as if it preceded the text, and strings near its
 * end are the cheapest to refer to, so the most common ones come last. */
#include "autoconf.h"

#include "cache/resp_pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <openssl/crypto.h>

#define HDR 5
#define WINDOW_BITS (-15) /* raw deflate, 32 KiB window */

static const char dictionary[] =
    /* token answers (logins, token/create) */
    "{\"request_id\":\"\",\"lease_id\":\"\",\"renewable\":false,"
    "\"lease_duration\":0,\"data\":null,\"wrap_info\":null,\"warnings\":null,"
    "\"auth\":{\"client_token\":\"hvs.\",\"accessor\":\"\",\"policies\":"
    "[\"default\"],\"token_policies\":[\"default\"],\"identity_policies\":"
    "null,\"metadata\":{\"role_name\":\"\"},\"lease_duration\":2764800,"
    "\"renewable\":true,\"entity_id\":\"\",\"token_type\":\"service\","
    "\"orphan\":true,\"mfa_requirement\":null,\"num_uses\":0},"
    "\"mount_type\":\"\"}\n"
    /* response heads */
    "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
    "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
    "X-Vault-Index: \r\n"
    "Date: Sun, Mon, Tue, Wed, Thu, Fri, Sat, "
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec GMT\r\n"
    "Content-Type: application/json\r\n\r\n"
    /* leased secrets, the most common answer */
    "{\"access_key\":\"\",\"secret_key\":\"\",\"security_token\":null}"
    "{\"request_id\":\"\",\"lease_id\":\"\",\"renewable\":true,"
    "\"lease_duration\":,\"data\":{\"username\":\"\",\"password\":\"\"},"
    "\"wrap_info\":null,\"warnings\":null,\"auth\":null";

struct vpd_resp_packer {
    z_stream def, inf;
    int def_ok, inf_ok;
};

vpd_resp_packer *
vpd_resp_pack_new(void)
{
    vpd_resp_packer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    /* memLevel 8, level 6: answers are small, so the level hardly changes
     * the time; the state is made once. */
    p->def_ok = deflateInit2(&p->def, 6, Z_DEFLATED, WINDOW_BITS, 8,
                             Z_DEFAULT_STRATEGY) == Z_OK;
    p->inf_ok = inflateInit2(&p->inf, WINDOW_BITS) == Z_OK;
    if (!p->def_ok || !p->inf_ok) {
        vpd_resp_pack_free(p);
        return NULL;
    }
    return p;
}

void
vpd_resp_pack_free(vpd_resp_packer *p)
{
    if (!p)
        return;
    if (p->def_ok)
        deflateEnd(&p->def);
    if (p->inf_ok)
        inflateEnd(&p->inf);
    free(p);
}

char *
vpd_resp_pack(vpd_resp_packer *p, const char *text, size_t len, size_t *out_len)
{
    if (len >= UINT32_MAX)
        return NULL;
    z_stream *z = &p->def;
    if (deflateReset(z) != Z_OK ||
        deflateSetDictionary(z, (const Bytef *)dictionary,
                             sizeof dictionary - 1) != Z_OK)
        return NULL;
    uLong bound = deflateBound(z, (uLong)len);
    char *out = malloc(HDR + bound);
    if (!out)
        return NULL;
    out[0] = (char)VPD_RESP_PACKED;
    out[1] = (char)(len >> 24);
    out[2] = (char)(len >> 16);
    out[3] = (char)(len >> 8);
    out[4] = (char)len;
    z->next_in = (Bytef *)(uintptr_t)text;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)out + HDR;
    z->avail_out = (uInt)bound;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
        OPENSSL_cleanse(out, HDR + bound);
        free(out);
        return NULL;
    }
    *out_len = HDR + (bound - z->avail_out);
    return out; /* the store copies *out_len bytes of it */
}

char *
vpd_resp_unpack(vpd_resp_packer *p, const char *stored, size_t len,
                size_t *out_len)
{
    if (len >= 5 && memcmp(stored, "HTTP/", 5) == 0) {
        char *text = malloc(len + 1);
        if (!text)
            return NULL;
        memcpy(text, stored, len);
        text[len] = '\0';
        *out_len = len;
        return text;
    }
    if (len < HDR || (unsigned char)stored[0] != VPD_RESP_PACKED)
        return NULL;
    const unsigned char *u = (const unsigned char *)stored;
    size_t n =
        (size_t)u[1] << 24 | (size_t)u[2] << 16 | (size_t)u[3] << 8 | u[4];
    /* The length is read before anything is checked, so damaged bytes
     * could ask for up to 4 GiB per lookup (found by fuzzing).  Deflate
     * emits at least 2 bits per 258 bytes of output, so no genuine stream
     * of k bytes inflates to more than 1032 * k. */
    if (n / 1032 > len - HDR)
        return NULL;
    char *text = malloc(n + 1);
    if (!text)
        return NULL;
    z_stream *z = &p->inf;
    int rc = inflateReset(z) == Z_OK &&
                     inflateSetDictionary(z, (const Bytef *)dictionary,
                                          sizeof dictionary - 1) == Z_OK
                 ? Z_OK
                 : Z_DATA_ERROR;
    if (rc == Z_OK) {
        z->next_in = (Bytef *)(uintptr_t)(stored + HDR);
        z->avail_in = (uInt)(len - HDR);
        z->next_out = (Bytef *)text;
        z->avail_out = (uInt)n;
        rc = inflate(z, Z_FINISH);
    }
    if (rc != Z_STREAM_END || z->avail_out != 0) {
        OPENSSL_cleanse(text, n);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *out_len = n;
    return text;
}
