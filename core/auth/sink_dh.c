/* Diffie-Hellman sink encryption, byte-compatible with Vault's dhutil
 * envelope (see sink_dh.h).  Error texts follow sink.encryptToken so that
 * logs read the same as Vault's. */
#include "autoconf.h"

#include "auth/sink_dh.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DH_KEY_LEN 32
#define DH_NONCE_LEN 12
#define DH_TAG_LEN 16
#define DH_FILE_MAX (1024 * 1024)

struct vpd_dh_sink {
    char *dh_path;
    bool derive_key;
    unsigned char *aad;
    size_t aad_len;
    bool have_remote; /* TOFU: set once, never reset */
    unsigned char remote_pub[DH_KEY_LEN];
};

/* ---- the process key pair ------------------------------------------- */

static pthread_mutex_t g_key_mu = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY *g_key; /* never freed: process lifetime */
static unsigned char g_pub[DH_KEY_LEN];

/* Fills err with "prefix: <first OpenSSL error or fallback>" and clears the
 * OpenSSL error queue so that it does not leak into other modules. */
static void
ossl_err(char *err, size_t err_len, const char *prefix, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256];
    if (e) {
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(err, err_len, "%s: %s", prefix, buf);
    } else {
        snprintf(err, err_len, "%s: %s", prefix, fallback);
    }
    ERR_clear_error();
}

/* Returns the process key pair, creating it on first use (a failure is not
 * remembered: the next call tries again). */
static EVP_PKEY *
process_key(unsigned char pub[DH_KEY_LEN], char *err, size_t err_len)
{
    pthread_mutex_lock(&g_key_mu);
    if (!g_key) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        size_t n = DH_KEY_LEN;
        if (k && EVP_PKEY_get_raw_public_key(k, g_pub, &n) == 1 &&
            n == DH_KEY_LEN) {
            g_key = k;
        } else {
            EVP_PKEY_free(k);
            ossl_err(err, err_len, "error generating pub/pri curve25519 keys",
                     "key generation failed");
        }
    }
    EVP_PKEY *k = g_key;
    if (k)
        memcpy(pub, g_pub, DH_KEY_LEN);
    pthread_mutex_unlock(&g_key_mu);
    return k;
}

/* ---- base64 (standard alphabet, padded) ------------------------------ */

static char *
b64_encode(const unsigned char *in, size_t n)
{
    if (n > (size_t)INT_MAX / 4 * 3 - 3)
        return NULL;
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int w = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    if (w < 0 || (size_t)w >= cap) {
        free(out);
        return NULL;
    }
    out[w] = '\0';
    return out;
}

static int
b64_val(unsigned char c)
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

/* Decodes like Go's base64.StdEncoding (what encoding/json uses for
 * []byte): padding required, '\r' and '\n' ignored, anything else outside
 * the alphabet is an error.  Writes at most out_cap bytes; returns the
 * decoded length or -1 (bad data) / -2 (longer than out_cap). */
static long
b64_decode(const char *in, size_t n, unsigned char *out, size_t out_cap)
{
    unsigned char quad[4];
    size_t q = 0, w = 0;
    bool done = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n')
            continue;
        if (done)
            return -1;
        quad[q++] = c;
        if (q < 4)
            continue;
        q = 0;
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (quad[j] == '=' && j >= 2) {
                v[j] = 0;
                pad++;
            } else {
                if (pad)
                    return -1; /* data after '=' inside a quantum */
                v[j] = b64_val(quad[j]);
                if (v[j] < 0)
                    return -1;
            }
        }
        if (pad == 1 && quad[3] != '=')
            return -1;
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                        (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char b[3] = {(unsigned char)(bits >> 16),
                              (unsigned char)(bits >> 8), (unsigned char)bits};
        size_t nb = 3 - (size_t)pad;
        if (w + nb > out_cap)
            return -2;
        memcpy(out + w, b, nb);
        w += nb;
        if (pad)
            done = true;
    }
    if (q != 0)
        return -1;
    return (long)w;
}

/* ---- reading the client's public key (TOFU) -------------------------- */

static int
read_file(const char *path, char **data, size_t *len, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len,
                 "error reading file for dh parameters: "
                 "open %s: %s",
                 path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        snprintf(err, err_len,
                 "error reading file for dh parameters: "
                 "out of memory");
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= DH_FILE_MAX) {
                free(buf);
                close(fd);
                snprintf(err, err_len,
                         "error reading file for dh "
                         "parameters: %s: file too large",
                         path);
                return -1;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                snprintf(err, err_len,
                         "error reading file for dh "
                         "parameters: out of memory");
                return -1;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            snprintf(err, err_len,
                     "error reading file for dh parameters: "
                     "read %s: %s",
                     path, strerror(e));
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* Parses {"curve25519_public_key":"<b64>"} like Go's encoding/json into
 * dhutil.PublicKeyInfo: the first JSON value only, field name matched
 * case-insensitively (the last match wins), unknown fields ignored,
 * missing/null/empty => "public key is nil".  Additionally insists on
 * exactly 32 bytes (Vault would fail later, in GenerateSharedSecret, with
 * "invalid public key length"). */
static int
parse_pub_file(const char *data, size_t len, unsigned char pub[DH_KEY_LEN],
               char *err, size_t err_len)
{
    if (len > INT_MAX) {
        snprintf(err, err_len, "error decoding public key: file too large");
        return -1;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        snprintf(err, err_len, "error decoding public key: out of memory");
        return -1;
    }
    json_object *root = json_tokener_parse_ex(tok, data, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root) {
        if (jerr == json_tokener_success || jerr == json_tokener_continue)
            snprintf(err, err_len,
                     "error decoding public key: unexpected "
                     "end of JSON input");
        else
            snprintf(err, err_len, "error decoding public key: %s",
                     json_tokener_error_desc(jerr));
        return -1;
    }
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(err, err_len,
                 "error decoding public key: expected a JSON "
                 "object with \"curve25519_public_key\"");
        json_object_put(root);
        return -1;
    }
    json_object *val = NULL;
    bool found = false;
    json_object_object_foreach(root, key, v)
    {
        if (strcasecmp(key, "curve25519_public_key") == 0) {
            val = v;
            found = true;
        }
    }
    int rc = -1;
    if (!found || !val ||
        (json_object_is_type(val, json_type_string) &&
         json_object_get_string_len(val) == 0)) {
        snprintf(err, err_len, "public key is nil");
    } else if (!json_object_is_type(val, json_type_string)) {
        snprintf(err, err_len,
                 "error decoding public key: "
                 "\"curve25519_public_key\" must be a base64 string");
    } else {
        const char *s = json_object_get_string(val);
        size_t sl = (size_t)json_object_get_string_len(val);
        unsigned char tmp[DH_KEY_LEN];
        long n = b64_decode(s, sl, tmp, sizeof tmp);
        if (n == -1) {
            snprintf(err, err_len,
                     "error decoding public key: "
                     "\"curve25519_public_key\" is not valid base64");
        } else if (n != DH_KEY_LEN) {
            if (n == -2)
                snprintf(err, err_len,
                         "error calculating shared key: "
                         "invalid public key length: more than %d bytes "
                         "(a curve25519 public key is 32 bytes)",
                         DH_KEY_LEN);
            else
                snprintf(err, err_len,
                         "error calculating shared key: "
                         "invalid public key length: %ld (a curve25519 "
                         "public key is 32 bytes)",
                         n);
        } else {
            memcpy(pub, tmp, DH_KEY_LEN);
            rc = 0;
        }
    }
    json_object_put(root);
    return rc;
}

static int
load_remote(vpd_dh_sink *s, char *err, size_t err_len)
{
    struct stat st;
    if (lstat(s->dh_path, &st) != 0) {
        if (errno == ENOENT)
            snprintf(err, err_len,
                     "no dh parameters file found, and no cached pub key");
        else
            snprintf(err, err_len,
                     "error stat-ing dh parameters file: "
                     "lstat %s: %s",
                     s->dh_path, strerror(errno));
        return -1;
    }
    char *data = NULL;
    size_t len = 0;
    if (read_file(s->dh_path, &data, &len, err, err_len) != 0)
        return -1;
    int rc = parse_pub_file(data, len, s->remote_pub, err, err_len);
    free(data);
    if (rc == 0)
        s->have_remote = true;
    return rc;
}

/* ---- key agreement and AES-GCM --------------------------------------- */

static int
shared_secret(EVP_PKEY *own, const unsigned char remote[DH_KEY_LEN],
              unsigned char secret[DH_KEY_LEN], char *err, size_t err_len)
{
    int rc = -1;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *peer =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, remote, DH_KEY_LEN);
    size_t n = DH_KEY_LEN;
    if (peer && (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL)) &&
        EVP_PKEY_derive_init(ctx) == 1 &&
        EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
        EVP_PKEY_derive(ctx, secret, &n) == 1 && n == DH_KEY_LEN)
        rc = 0;
    else
        ossl_err(err, err_len, "error calculating shared key",
                 "X25519 failed (low order point?)");
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return rc;
}

/* dhutil.DeriveSharedKey: HKDF-SHA256(secret, salt = smaller public key,
 * info = larger public key), 32 bytes. */
static int
derive_key(const unsigned char secret[DH_KEY_LEN],
           const unsigned char ours[DH_KEY_LEN],
           const unsigned char theirs[DH_KEY_LEN],
           unsigned char key[DH_KEY_LEN], char *err, size_t err_len)
{
    int c = memcmp(ours, theirs, DH_KEY_LEN);
    if (c == 0) {
        snprintf(err, err_len,
                 "error deriving shared key: same public key "
                 "supplied for both participants");
        return -1;
    }
    const unsigned char *salt = c < 0 ? ours : theirs;
    const unsigned char *info = c < 0 ? theirs : ours;
    int rc = -1;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                         (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
                                          DH_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                          DH_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                          DH_KEY_LEN),
        OSSL_PARAM_construct_end(),
    };
    if (kctx && EVP_KDF_derive(kctx, key, DH_KEY_LEN, params) == 1)
        rc = 0;
    else
        ossl_err(err, err_len, "error deriving shared key", "HKDF failed");
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* dhutil.EncryptAES: ct (len + 16 bytes: ciphertext || tag) and nonce. */
static int
encrypt_aes(const unsigned char key[DH_KEY_LEN], const unsigned char *pt,
            size_t len, const unsigned char *aad, size_t aad_len,
            unsigned char *ct, unsigned char nonce[DH_NONCE_LEN], char *err,
            size_t err_len)
{
    const char *pfx = "error encrypting with shared key";
    if (len == 0) {
        snprintf(err, err_len, "%s: empty plaintext provided", pfx);
        return -1;
    }
    if (RAND_bytes(nonce, DH_NONCE_LEN) != 1) {
        ossl_err(err, err_len, pfx, "no random nonce");
        return -1;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc = -1, outl = 0;
    if (!ctx ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DH_NONCE_LEN, NULL) !=
            1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
        goto out;
    for (size_t off = 0; off < aad_len;) {
        size_t chunk = aad_len - off > (1u << 30) ? (1u << 30) : aad_len - off;
        if (EVP_EncryptUpdate(ctx, NULL, &outl, aad + off, (int)chunk) != 1)
            goto out;
        off += chunk;
    }
    size_t w = 0;
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
        if (EVP_EncryptUpdate(ctx, ct + w, &outl, pt + off, (int)chunk) != 1)
            goto out;
        w += (size_t)outl;
        off += chunk;
    }
    if (EVP_EncryptFinal_ex(ctx, ct + w, &outl) != 1)
        goto out;
    w += (size_t)outl;
    if (w != len ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, DH_TAG_LEN, ct + w) != 1)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        ossl_err(err, err_len, pfx, "AES-256-GCM failed");
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* ---- public API ------------------------------------------------------ */

vpd_dh_sink *
vpd_dh_sink_new(const char *dh_path, bool derive_key_flag, const char *aad,
                size_t aad_len, char *err, size_t err_len)
{
    if (!dh_path || !dh_path[0]) {
        snprintf(err, err_len, "dh_path is required for a dh sink");
        return NULL;
    }
    if (!aad && aad_len) {
        snprintf(err, err_len, "aad: NULL with a non-zero length");
        return NULL;
    }
    vpd_dh_sink *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->dh_path = strdup(dh_path);
    s->aad = malloc(aad_len ? aad_len : 1);
    if (!s->dh_path || !s->aad)
        goto oom;
    if (aad_len)
        memcpy(s->aad, aad, aad_len);
    s->aad_len = aad_len;
    s->derive_key = derive_key_flag;
    return s;
oom:
    vpd_dh_sink_free(s);
    snprintf(err, err_len, "out of memory");
    return NULL;
}

void
vpd_dh_sink_free(vpd_dh_sink *s)
{
    if (!s)
        return;
    free(s->dh_path);
    if (s->aad) {
        OPENSSL_cleanse(s->aad, s->aad_len);
        free(s->aad);
    }
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

int
vpd_dh_sink_encrypt(vpd_dh_sink *s, const char *plaintext, size_t len,
                    char **out, size_t *out_len, char *err, size_t err_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!s->have_remote && load_remote(s, err, err_len) != 0)
        return -1;

    unsigned char own_pub[DH_KEY_LEN];
    EVP_PKEY *own = process_key(own_pub, err, err_len);
    if (!own)
        return -1;

    unsigned char secret[DH_KEY_LEN], key[DH_KEY_LEN];
    unsigned char nonce[DH_NONCE_LEN];
    unsigned char *ct = NULL;
    char *b_pub = NULL, *b_nonce = NULL, *b_ct = NULL;
    int rc = -1;

    if (shared_secret(own, s->remote_pub, secret, err, err_len) != 0)
        goto out;
    if (s->derive_key) {
        if (derive_key(secret, own_pub, s->remote_pub, key, err, err_len) != 0)
            goto out;
    } else {
        memcpy(key, secret, DH_KEY_LEN);
    }

    if (len > SIZE_MAX - DH_TAG_LEN || !(ct = malloc(len + DH_TAG_LEN))) {
        snprintf(err, err_len,
                 "error encrypting with shared key: "
                 "out of memory");
        goto out;
    }
    if (encrypt_aes(key, (const unsigned char *)plaintext, len, s->aad,
                    s->aad_len, ct, nonce, err, err_len) != 0)
        goto out;

    b_pub = b64_encode(own_pub, DH_KEY_LEN);
    b_nonce = b64_encode(nonce, DH_NONCE_LEN);
    b_ct = b64_encode(ct, len + DH_TAG_LEN);
    if (!b_pub || !b_nonce || !b_ct) {
        snprintf(err, err_len,
                 "error encoding encrypted payload: "
                 "out of memory");
        goto out;
    }
    /* Go's json.Encoder output for dhutil.Envelope: compact, field order of
     * the struct, then "\n".  Base64 never needs JSON escaping. */
    static const char fmt[] = "{\"curve25519_public_key\":\"%s\","
                              "\"nonce\":\"%s\","
                              "\"encrypted_payload\":\"%s\"}\n";
    size_t n = sizeof fmt + strlen(b_pub) + strlen(b_nonce) + strlen(b_ct);
    char *buf = malloc(n);
    if (!buf) {
        snprintf(err, err_len,
                 "error encoding encrypted payload: "
                 "out of memory");
        goto out;
    }
    int w = snprintf(buf, n, fmt, b_pub, b_nonce, b_ct);
    if (w < 0 || (size_t)w >= n) {
        free(buf);
        snprintf(err, err_len, "error encoding encrypted payload");
        goto out;
    }
    *out = buf;
    if (out_len)
        *out_len = (size_t)w;
    rc = 0;
out:
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(key, sizeof key);
    if (ct) {
        OPENSSL_cleanse(ct, len + DH_TAG_LEN);
        free(ct);
    }
    free(b_pub);
    free(b_nonce);
    free(b_ct);
    return rc;
}
