/* The lease cache's dictionaries and level for the shared packer
 * (deflate_pack.h).  zlib matches against the dictionary as if it preceded
 * the text, and strings near its end are the cheapest to refer to, so the
 * most common ones come last, and the entry's own words after them. */
#include "autoconf.h"

#include "cache/resp_pack.h"

#include "cache/deflate_pack.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* Vocabulary both dictionaries share, in the order it appears in them. */
#define TOKEN_ANSWERS                                                          \
    "{\"request_id\":\"\",\"lease_id\":\"\",\"renewable\":false,"              \
    "\"lease_duration\":0,\"data\":null,\"wrap_info\":null,\"warnings\":null," \
    "\"auth\":{\"client_token\":\"hvs.\",\"accessor\":\"\",\"policies\":"      \
    "[\"default\"],\"token_policies\":[\"default\"],\"identity_policies\":"    \
    "null,\"metadata\":{\"role_name\":\"\"},\"lease_duration\":2764800,"       \
    "\"renewable\":true,\"entity_id\":\"\",\"token_type\":\"service\","        \
    "\"orphan\":true,\"mfa_requirement\":null,\"num_uses\":0},"                \
    "\"mount_type\":\"\"}\n"
#define LEASED_SECRETS                                                         \
    "{\"access_key\":\"\",\"secret_key\":\"\",\"security_token\":null}"        \
    "{\"request_id\":\"\",\"lease_id\":\"\",\"renewable\":true,"               \
    "\"lease_duration\":,\"data\":{\"username\":\"\",\"password\":\"\"},"      \
    "\"wrap_info\":null,\"warnings\":null,\"auth\":null"

/* The dictionary of VPD_RESP_PACKED: read only, kept as it was. */
static const char dictionary_1[] =
    /* token answers (logins, token/create) */
    TOKEN_ANSWERS
    /* response heads */
    "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
    "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
    "X-Vault-Index: \r\n"
    "Date: Sun, Mon, Tue, Wed, Thu, Fri, Sat, "
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec GMT\r\n"
    "Content-Type: application/json\r\n\r\n"
    /* leased secrets, the most common answer */
    LEASED_SECRETS;

/* The dictionary of VPD_RESP_PACKED_2: the Date is not in the text, and
 * the entry's words follow this. */
static const char dictionary_2[] = TOKEN_ANSWERS
    /* response heads (a proxy in front of Vault adds Server) */
    "HTTP/1.1 200 OK\r\nServer: \r\nCache-Control: no-store\r\n"
    "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
    "X-Vault-Index: \r\n"
    "Content-Type: application/json\r\n\r\n" LEASED_SECRETS;

/* Words beyond this are left out of the dictionary, the same way when
 * packing and unpacking (a lease id and a token are far shorter). */
#define WORDS_MAX 1024

struct vpd_resp_packer {
    vpd_deflate_packer *z;      /* VPD_RESP_PACKED_2 */
    vpd_deflate_packer *legacy; /* VPD_RESP_PACKED, once one is read */
};

/* Level 6: answers are small, so the level hardly changes the time; the
 * result is copied by the store, which keeps only its length. */
static const vpd_deflate_params params_2 = {
    .dict = dictionary_2,
    .dict_len = sizeof dictionary_2 - 1,
    .level = 6,
    .tag = VPD_RESP_PACKED_2,
    .meta_len = 4,
    .exact_size = false,
};

static const vpd_deflate_params params_1 = {
    .dict = dictionary_1,
    .dict_len = sizeof dictionary_1 - 1,
    .level = 6,
    .tag = VPD_RESP_PACKED,
    .exact_size = false,
};

vpd_resp_packer *
vpd_resp_pack_new(void)
{
    vpd_resp_packer *p = calloc(1, sizeof *p);
    if (p && !(p->z = vpd_deflate_pack_new(&params_2))) {
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
    vpd_deflate_pack_free(p->legacy);
    free(p);
}

/* m's words, NUL-separated, into buf (WORDS_MAX bytes); sets x's. */
static void
join_words(const vpd_resp_meta *m, char *buf, vpd_deflate_extra *x)
{
    size_t n = 0;
    for (size_t i = 0; m && i < sizeof m->words / sizeof m->words[0]; i++) {
        size_t len = m->words[i] ? strlen(m->words[i]) : 0;
        if (!len || len + 1 > WORDS_MAX - n)
            continue;
        memcpy(buf + n, m->words[i], len);
        buf[n + len] = '\0';
        n += len + 1;
    }
    x->words = buf;
    x->words_len = n;
}

char *
vpd_resp_pack_with(vpd_resp_packer *p, const char *text, size_t len,
                   const vpd_resp_meta *m, size_t *out_len)
{
    char words[WORDS_MAX];
    vpd_deflate_extra x;
    memset(&x, 0, sizeof x);
    join_words(m, words, &x);
    uint64_t date = m && m->date <= UINT32_MAX ? m->date : 0;
    for (int i = 0; i < 4; i++)
        x.meta[i] = (unsigned char)(date >> (24 - 8 * i));
    char *out = vpd_deflate_pack(p->z, text, len, &x, out_len);
    OPENSSL_cleanse(words, x.words_len);
    return out;
}

char *
vpd_resp_unpack_with(vpd_resp_packer *p, const char *stored, size_t len,
                     vpd_resp_meta *m, size_t *out_len)
{
    if (m)
        m->date = 0;
    if (len >= 1 && (unsigned char)stored[0] == VPD_RESP_PACKED_2) {
        char words[WORDS_MAX];
        vpd_deflate_extra x;
        memset(&x, 0, sizeof x);
        join_words(m, words, &x);
        char *text = vpd_deflate_unpack(p->z, stored, len, &x, out_len);
        OPENSSL_cleanse(words, x.words_len);
        if (text && m)
            m->date = (uint64_t)x.meta[0] << 24 | (uint64_t)x.meta[1] << 16 |
                      (uint64_t)x.meta[2] << 8 | x.meta[3];
        return text;
    }
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
    if (len < 1 || (unsigned char)stored[0] != VPD_RESP_PACKED)
        return NULL;
    if (!p->legacy && !(p->legacy = vpd_deflate_pack_new(&params_1)))
        return NULL;
    return vpd_deflate_unpack(p->legacy, stored, len, NULL, out_len);
}
