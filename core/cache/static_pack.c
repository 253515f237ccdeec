/* Raw deflate with a preset dictionary of KV answers.  zlib refers to the
 * dictionary as if it preceded the text, and strings near its end cost
 * the least, so the most common ones come last. */
#include "autoconf.h"

#include "cache/static_pack.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HDR 5
#define WINDOW_BITS (-15)

static const char dictionary[] =
    /* KV v1 and metadata vocabulary */
    "{\"keys\":[\"\"]},\"cas_required\":false,\"current_version\":1,"
    "\"max_versions\":0,\"oldest_version\":0,\"delete_version_after\":\"0s\","
    "\"updated_time\":\"\",\"versions\":{\"1\":{}}"
    "\"username\":\"\",\"password\":\"\",\"api_key\":\"\",\"value\":\"\","
    "\"host\":\"\",\"port\":\"\",\"token\":\"\",\"secret\":\"\","
    /* heads */
    "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
    "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
    "X-Vault-Index: \r\nServer: \r\n"
    "Content-Type: application/json\r\n\r\n"
    /* a KV v2 read, the most common answer */
    "{\"request_id\":\"\",\"lease_id\":\"\",\"renewable\":false,"
    "\"lease_duration\":0,\"data\":{\"data\":{\"\":\"\"},\"metadata\":{"
    "\"created_time\":\"2026-01-01T00:00:00.000000000Z\","
    "\"custom_metadata\":null,\"deletion_time\":\"\",\"destroyed\":false,"
    "\"version\":1}},\"wrap_info\":null,\"warnings\":null,\"auth\":null,"
    "\"mount_type\":\"kv\"}\n";

struct vpd_static_packer {
    z_stream def, inf;
    int def_ok, inf_ok;
};

vpd_static_packer *
vpd_static_pack_new(void)
{
    vpd_static_packer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    /* Level 9: an entry is packed once and kept long; inflating does not
     * depend on the level. */
    p->def_ok = deflateInit2(&p->def, 9, Z_DEFLATED, WINDOW_BITS, 8,
                             Z_DEFAULT_STRATEGY) == Z_OK;
    p->inf_ok = inflateInit2(&p->inf, WINDOW_BITS) == Z_OK;
    if (!p->def_ok || !p->inf_ok) {
        vpd_static_pack_free(p);
        return NULL;
    }
    return p;
}

void
vpd_static_pack_free(vpd_static_packer *p)
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
vpd_static_pack(vpd_static_packer *p, const char *text, size_t len,
                size_t *out_len)
{
    if (len >= UINT32_MAX)
        return NULL;
    z_stream *z = &p->def;
    if (deflateReset(z) != Z_OK ||
        deflateSetDictionary(z, (const Bytef *)dictionary,
                             sizeof dictionary - 1) != Z_OK)
        return NULL;
    uLong bound = deflateBound(z, (uLong)len);
    char *work = malloc(HDR + bound);
    if (!work)
        return NULL;
    work[0] = (char)VPD_STATIC_PACKED;
    work[1] = (char)(len >> 24);
    work[2] = (char)(len >> 16);
    work[3] = (char)(len >> 8);
    work[4] = (char)len;
    z->next_in = (Bytef *)(uintptr_t)text;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)work + HDR;
    z->avail_out = (uInt)bound;
    char *out = NULL;
    if (deflate(z, Z_FINISH) == Z_STREAM_END) {
        /* An exact-size copy: the bound is far above what is kept. */
        *out_len = HDR + (bound - z->avail_out);
        out = malloc(*out_len);
        if (out)
            memcpy(out, work, *out_len);
    }
    OPENSSL_cleanse(work, HDR + bound);
    free(work);
    return out;
}

char *
vpd_static_unpack(vpd_static_packer *p, const char *stored, size_t len,
                  size_t *out_len)
{
    if (len < HDR || (unsigned char)stored[0] != VPD_STATIC_PACKED)
        return NULL;
    const unsigned char *u = (const unsigned char *)stored;
    size_t n =
        (size_t)u[1] << 24 | (size_t)u[2] << 16 | (size_t)u[3] << 8 | u[4];
    /* No genuine stream of k bytes inflates to more than 1032 * k: damaged
     * bytes cannot ask for gigabytes. */
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
