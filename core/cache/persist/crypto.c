/* The cryptography of the persistent cache: AES-256-GCM for records and
 * for the data key sealed in the header, HKDF-SHA256 for the key that
 * seals it (the scheme and the header layout are in core/cache/persist.h).
 * Nothing secret leaves a function here except into the caller's buffers.
 *
 * Ownership: every function reads only its arguments and writes only the
 * caller's buffers, so all of them are safe on a worker thread; derived
 * keys are wiped before returning. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define MAGIC "VPXCACHE"
#define FORMAT_VERSION 1
#define HDR_AAD_LEN 48
#define SALT_OFF 16
#define NONCE_OFF 48
#define SEALED_OFF 60
#define SEAL_TAG_OFF 92

/* AES-256-GCM over in[0..n) into out (may be in), with AAD aad1||aad2.
 * Decrypting checks tag.  Returns 0, or -1 (a wrong tag, an OpenSSL
 * failure). */
static int
gcm(bool enc, const uint8_t key[VPD_PERSIST_KEY_LEN],
    const uint8_t nonce[VPD_PERSIST_NONCE_LEN], const uint8_t *aad1,
    size_t aad1_len, const uint8_t *aad2, size_t aad2_len, const uint8_t *in,
    size_t n, uint8_t *out, uint8_t tag[VPD_PERSIST_TAG_LEN])
{
    if (n > VPD_PERSIST_MAX_PAYLOAD || aad2_len > VPD_PERSIST_MAX_PAYLOAD)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx != NULL;
    int len = 0;
    ok = ok && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
                                 enc ? 1 : 0) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                                   VPD_PERSIST_NONCE_LEN, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) == 1;
    if (ok && aad1_len)
        ok = EVP_CipherUpdate(ctx, NULL, &len, aad1, (int)aad1_len) == 1;
    if (ok && aad2_len)
        ok = EVP_CipherUpdate(ctx, NULL, &len, aad2, (int)aad2_len) == 1;
    if (ok && n)
        ok = EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, VPD_PERSIST_TAG_LEN,
                                 tag) == 1;
    ok = ok && EVP_CipherFinal_ex(ctx, out + (n ? len : 0), &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, VPD_PERSIST_TAG_LEN,
                                 tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok && !enc && n)
        OPENSSL_cleanse(out, n); /* nothing unauthenticated escapes */
    return ok ? 0 : -1;
}

static int
derive_kek(vpd_persist_kind kind, const char *ikm, size_t ikm_len,
           const uint8_t salt[32], uint8_t kek[VPD_PERSIST_KEY_LEN])
{
    const char *info = kind == VPD_PERSIST_FILE
                           ? "vaproxy persistent cache v1 KEK file"
                           : "vaproxy persistent cache v1 KEK kubernetes";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                         (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
                                          ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                          32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                          strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int rc = kctx && EVP_KDF_derive(kctx, kek, VPD_PERSIST_KEY_LEN, params) == 1
                 ? 0
                 : -1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

static void
record_nonce(uint64_t seq, uint8_t nonce[VPD_PERSIST_NONCE_LEN])
{
    memcpy(nonce, "VPRC", 4);
    vpd_persist_be64_put(nonce + 4, seq);
}

int
vpd_persist_seal_record(const uint8_t dk[VPD_PERSIST_KEY_LEN], uint64_t seq,
                        const uint8_t *pl, size_t n, uint8_t *out)
{
    uint8_t nonce[VPD_PERSIST_NONCE_LEN];
    vpd_persist_be32_put(out, (uint32_t)n);
    vpd_persist_be64_put(out + 4, seq);
    record_nonce(seq, nonce);
    return gcm(true, dk, nonce, out, VPD_PERSIST_REC_HDR, NULL, 0, pl, n,
               out + VPD_PERSIST_REC_HDR, out + VPD_PERSIST_REC_HDR + n);
}

int
vpd_persist_open_record(const uint8_t dk[VPD_PERSIST_KEY_LEN], uint8_t *rec,
                        size_t n)
{
    uint8_t nonce[VPD_PERSIST_NONCE_LEN];
    record_nonce(vpd_persist_be64_get(rec + 4), nonce);
    return gcm(false, dk, nonce, rec, VPD_PERSIST_REC_HDR, NULL, 0,
               rec + VPD_PERSIST_REC_HDR, n, rec + VPD_PERSIST_REC_HDR,
               rec + VPD_PERSIST_REC_HDR + n);
}
int
vpd_persist_make_header(vpd_persist_kind kind, const char *ikm, size_t ikm_len,
                        const uint8_t dk[VPD_PERSIST_KEY_LEN],
                        uint8_t h[VPD_PERSIST_HDR_LEN])
{
    memset(h, 0, VPD_PERSIST_HDR_LEN);
    memcpy(h, MAGIC, 8);
    h[8] = 0;
    h[9] = FORMAT_VERSION;
    h[10] = (uint8_t)kind;
    if (RAND_bytes(h + SALT_OFF, 32) != 1 ||
        RAND_bytes(h + NONCE_OFF, VPD_PERSIST_NONCE_LEN) != 1)
        return -1;
    uint8_t kek[VPD_PERSIST_KEY_LEN];
    int rc = derive_kek(kind, ikm, ikm_len, h + SALT_OFF, kek);
    bool k8s = kind == VPD_PERSIST_KUBERNETES;
    if (rc == 0)
        rc = gcm(true, kek, h + NONCE_OFF, h, HDR_AAD_LEN,
                 k8s ? (const uint8_t *)ikm : NULL, k8s ? ikm_len : 0, dk,
                 VPD_PERSIST_KEY_LEN, h + SEALED_OFF, h + SEAL_TAG_OFF);
    OPENSSL_cleanse(kek, sizeof kek);
    return rc;
}

int
vpd_persist_read_header(vpd_persist_kind kind, const char *ikm, size_t ikm_len,
                        const char *db_path,
                        const uint8_t h[VPD_PERSIST_HDR_LEN],
                        uint8_t dk[VPD_PERSIST_KEY_LEN], char *err,
                        size_t err_len)
{
    if (memcmp(h, MAGIC, 8) != 0)
        return vpd_persist_fail(err, err_len, "%s: %s", db_path,
                                VPD_PERSIST_WRONG_KEY);
    unsigned version = (unsigned)h[8] << 8 | h[9];
    if (version != FORMAT_VERSION)
        return vpd_persist_fail(err, err_len,
                                "%s: %s (format version %u; this "
                                "vaproxyd reads %u)",
                                db_path, VPD_PERSIST_WRONG_KEY, version,
                                FORMAT_VERSION);
    if (h[10] != (uint8_t)kind)
        return vpd_persist_fail(err, err_len, "%s: %s (it was written for %s)",
                                db_path, VPD_PERSIST_WRONG_KEY,
                                h[10] == VPD_PERSIST_FILE ? "persist \"file\""
                                : h[10] == VPD_PERSIST_KUBERNETES
                                    ? "persist \"kubernetes\""
                                    : "an unknown key protection");
    uint8_t kek[VPD_PERSIST_KEY_LEN], tag[VPD_PERSIST_TAG_LEN],
        sealed[VPD_PERSIST_KEY_LEN];
    memcpy(tag, h + SEAL_TAG_OFF, VPD_PERSIST_TAG_LEN);
    memcpy(sealed, h + SEALED_OFF, VPD_PERSIST_KEY_LEN);
    bool k8s = kind == VPD_PERSIST_KUBERNETES;
    int rc = derive_kek(kind, ikm, ikm_len, h + SALT_OFF, kek);
    if (rc == 0)
        rc = gcm(false, kek, h + NONCE_OFF, h, HDR_AAD_LEN,
                 k8s ? (const uint8_t *)ikm : NULL, k8s ? ikm_len : 0, sealed,
                 VPD_PERSIST_KEY_LEN, dk, tag);
    OPENSSL_cleanse(kek, sizeof kek);
    if (rc != 0)
        return vpd_persist_fail(err, err_len, "%s: %s", db_path,
                                VPD_PERSIST_WRONG_KEY);
    return 0;
}
