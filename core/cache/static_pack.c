/* The static cache's dictionary of KV answers and its level for the
 * shared packer (deflate_pack.h).  zlib refers to the
 * dictionary as if it preceded the text, and strings near its end cost
 * the least, so the most common ones come last. */
#include "autoconf.h"

#include "cache/static_pack.h"

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

vpd_static_packer *
vpd_static_pack_new(void)
{
    /* Level 9: an entry is packed once and kept long, so it is also kept
     * at its exact size; inflating does not depend on the level. */
    static const vpd_deflate_params params = {
        .dict = dictionary,
        .dict_len = sizeof dictionary - 1,
        .level = 9,
        .tag = VPD_STATIC_PACKED,
        .exact_size = true,
    };
    return vpd_deflate_pack_new(&params);
}
