/* The lease cache's dictionary and level for the shared packer
 * (deflate_pack.h).  zlib matches against the dictionary as if it preceded
 * the text, and strings near its end are the cheapest to refer to, so the
 * most common ones come last. */
#include "autoconf.h"

#include "cache/resp_pack.h"

#include "cache/deflate_pack.h"

#include <stdlib.h>
#include <string.h>

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
    vpd_deflate_packer *z;
};

vpd_resp_packer *
vpd_resp_pack_new(void)
{
    /* Level 6: answers are small, so the level hardly changes the time;
     * the result is copied by the store, which keeps only its length. */
    static const vpd_deflate_params params = {
        .dict = dictionary,
        .dict_len = sizeof dictionary - 1,
        .level = 6,
        .tag = VPD_RESP_PACKED,
        .exact_size = false,
    };
    vpd_resp_packer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->z = vpd_deflate_pack_new(&params);
    if (!p->z) {
        free(p);
        return NULL;
    }
    return p;
}

void
vpd_resp_pack_free(vpd_resp_packer *p)
{
    if (!p)
        return;
    vpd_deflate_pack_free(p->z);
    free(p);
}

char *
vpd_resp_pack(vpd_resp_packer *p, const char *text, size_t len, size_t *out_len)
{
    return vpd_deflate_pack(p->z, text, len, out_len);
}

char *
vpd_resp_unpack(vpd_resp_packer *p, const char *stored, size_t len,
                size_t *out_len)
{
    /* Text stored by earlier versions (a persistent cache) is kept as it
     * is. */
    if (len >= 5 && memcmp(stored, "HTTP/", 5) == 0) {
        char *text = malloc(len + 1);
        if (!text)
            return NULL;
        memcpy(text, stored, len);
        text[len] = '\0';
        *out_len = len;
        return text;
    }
    return vpd_deflate_unpack(p->z, stored, len, out_len);
}
