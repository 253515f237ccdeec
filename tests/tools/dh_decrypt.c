/* dh_decrypt: the client side of a Diffie-Hellman file sink (dh_type =
 * "curve25519" in vaproxyd.hcl(5)), for the integration tests.
 * Independent of the daemon's code: X25519 and AES-256-GCM from OpenSSL 3,
 * HKDF-SHA256 written out with HMAC.
 *
 *   dh_decrypt --generate OUT_PRIV OUT_PUB_JSON
 *       makes a client key pair: OUT_PRIV gets the 32-byte private key as
 *       64 hex digits, OUT_PUB_JSON {"curve25519_public_key":"<base64>"}
 *       (the file a sink's dh_path names).
 *
 *   dh_decrypt (--private-key-hex HEX | --private-key-file FILE)
 *              [--derive-key] [--aad TEXT] ENVELOPE_FILE
 *       opens the envelope the sink wrote ({"curve25519_public_key",
 *       "nonce", "encrypted_payload"}) and prints the plaintext to stdout,
 *       byte for byte, nothing added.
 *
 * Exit status: 0 done, 1 the envelope cannot be opened (bad JSON, wrong
 * key, wrong AAD, tampered data), 2 usage or I/O errors. */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

static void
usage(void)
{
    fprintf(stderr,
            "usage: dh_decrypt --generate OUT_PRIV OUT_PUB_JSON\n"
            "       dh_decrypt (--private-key-hex HEX | --private-key-file "
            "FILE) [--derive-key] [--aad TEXT] ENVELOPE_FILE\n");
    exit(2);
}

static char *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "dh_decrypt: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        exit(2);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb)
            exit(2);
        buf = nb;
    }
    if (ferror(f)) {
        fprintf(stderr, "dh_decrypt: reading %s failed\n", path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "dh_decrypt: writing %s failed\n", path);
        exit(2);
    }
}

static int
hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* 64 hex digits (surrounding whitespace ignored) -> 32 bytes. */
static int
parse_hex_key(const char *s, unsigned char out[KEY_LEN])
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n != 2 * KEY_LEN)
        return -1;
    for (size_t i = 0; i < KEY_LEN; i++) {
        int hi = hex_val((unsigned char)s[2 * i]);
        int lo = hex_val((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static char *
b64_encode(const unsigned char *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        exit(2);
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* Strict standard base64 with padding -> bytes; returns length or -1. */
static long
b64_decode(const char *in, unsigned char **out)
{
    size_t n = strlen(in);
    if (n == 0 || n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        bool pad_ok =
            c == '=' && i >= n - 2 && (i == n - 1 || in[n - 1] == '=');
        if (!(isalnum(c) || c == '+' || c == '/' || pad_ok))
            return -1;
    }
    *out = malloc(n / 4 * 3 + 1);
    if (!*out)
        exit(2);
    int r = EVP_DecodeBlock(*out, (const unsigned char *)in, (int)n);
    if (r < 0)
        return -1;
    long len = r;
    if (in[n - 1] == '=')
        len--;
    if (in[n - 2] == '=')
        len--;
    return len;
}

static EVP_PKEY *
key_from_private(const unsigned char priv[KEY_LEN], unsigned char pub[KEY_LEN])
{
    EVP_PKEY *k =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, KEY_LEN);
    size_t n = KEY_LEN;
    if (!k || EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != KEY_LEN) {
        fprintf(stderr, "dh_decrypt: not a usable X25519 private key\n");
        exit(2);
    }
    return k;
}

static int
generate(const char *priv_path, const char *pub_path)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    unsigned char priv[KEY_LEN], pub[KEY_LEN];
    size_t n1 = KEY_LEN, n2 = KEY_LEN;
    if (!k || EVP_PKEY_get_raw_private_key(k, priv, &n1) != 1 ||
        EVP_PKEY_get_raw_public_key(k, pub, &n2) != 1 || n1 != KEY_LEN ||
        n2 != KEY_LEN) {
        fprintf(stderr, "dh_decrypt: key generation failed\n");
        return 2;
    }
    char hex[2 * KEY_LEN + 2];
    for (size_t i = 0; i < KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", priv[i]);
    hex[2 * KEY_LEN] = '\n';
    hex[2 * KEY_LEN + 1] = '\0';
    write_file(priv_path, hex);
    char *b64 = b64_encode(pub, KEY_LEN);
    char json[128];
    snprintf(json, sizeof json, "{\"curve25519_public_key\":\"%s\"}\n", b64);
    write_file(pub_path, json);
    free(b64);
    OPENSSL_cleanse(priv, sizeof priv);
    OPENSSL_cleanse(hex, sizeof hex);
    EVP_PKEY_free(k);
    return 0;
}

/* HKDF-SHA256 (RFC 5869), one output block of 32 bytes. */
static int
hkdf_sha256(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
            size_t salt_len, const unsigned char *info, size_t info_len,
            unsigned char out[KEY_LEN])
{
    unsigned char prk[EVP_MAX_MD_SIZE];
    unsigned int prk_len = 0;
    if (!HMAC(EVP_sha256(), salt, (int)salt_len, ikm, ikm_len, prk, &prk_len))
        return -1;
    unsigned char msg[256];
    if (info_len + 1 > sizeof msg)
        return -1;
    memcpy(msg, info, info_len);
    msg[info_len] = 0x01;
    unsigned char t[EVP_MAX_MD_SIZE];
    unsigned int t_len = 0;
    if (!HMAC(EVP_sha256(), prk, (int)prk_len, msg, info_len + 1, t, &t_len) ||
        t_len < KEY_LEN)
        return -1;
    memcpy(out, t, KEY_LEN);
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(t, sizeof t);
    return 0;
}

static const char *
json_field(json_object *root, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        fprintf(stderr, "dh_decrypt: the envelope has no string \"%s\"\n", key);
        exit(1);
    }
    return json_object_get_string(v);
}

static int
decrypt(const unsigned char priv[KEY_LEN], bool derive, const char *aad,
        const char *envelope_path)
{
    size_t len = 0;
    char *text = read_all(envelope_path, &len);
    json_object *root = json_tokener_parse(text);
    if (!root || !json_object_is_type(root, json_type_object)) {
        fprintf(stderr, "dh_decrypt: %s is not a JSON object\n", envelope_path);
        return 1;
    }
    unsigned char *peer = NULL, *nonce = NULL, *ct = NULL;
    long peer_len =
        b64_decode(json_field(root, "curve25519_public_key"), &peer);
    long nonce_len = b64_decode(json_field(root, "nonce"), &nonce);
    long ct_len = b64_decode(json_field(root, "encrypted_payload"), &ct);
    if (peer_len != KEY_LEN || nonce_len != NONCE_LEN || ct_len < TAG_LEN) {
        fprintf(stderr,
                "dh_decrypt: bad field sizes (public key %ld, nonce "
                "%ld, payload %ld)\n",
                peer_len, nonce_len, ct_len);
        return 1;
    }

    unsigned char own_pub[KEY_LEN];
    EVP_PKEY *own = key_from_private(priv, own_pub);
    EVP_PKEY *their =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, KEY_LEN);
    EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(own, NULL);
    unsigned char secret[KEY_LEN], key[KEY_LEN];
    size_t slen = KEY_LEN;
    if (!their || !dctx || EVP_PKEY_derive_init(dctx) != 1 ||
        EVP_PKEY_derive_set_peer(dctx, their) != 1 ||
        EVP_PKEY_derive(dctx, secret, &slen) != 1 || slen != KEY_LEN) {
        fprintf(stderr, "dh_decrypt: X25519 key agreement failed\n");
        return 1;
    }
    if (derive) {
        int c = memcmp(own_pub, peer, KEY_LEN);
        if (c == 0) {
            fprintf(stderr, "dh_decrypt: both public keys are the same\n");
            return 1;
        }
        const unsigned char *salt = c < 0 ? own_pub : peer;
        const unsigned char *info = c < 0 ? peer : own_pub;
        if (hkdf_sha256(secret, KEY_LEN, salt, KEY_LEN, info, KEY_LEN, key) !=
            0) {
            fprintf(stderr, "dh_decrypt: HKDF failed\n");
            return 1;
        }
    } else {
        memcpy(key, secret, KEY_LEN);
    }

    size_t pt_cap = (size_t)ct_len - TAG_LEN;
    unsigned char *pt = malloc(pt_cap + 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, fin = 0;
    size_t aad_len = aad ? strlen(aad) : 0;
    if (!pt || !c ||
        EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
        (aad_len &&
         EVP_DecryptUpdate(c, NULL, &outl, (const unsigned char *)aad,
                           (int)aad_len) != 1) ||
        EVP_DecryptUpdate(c, pt, &outl, ct, (int)pt_cap) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, ct + pt_cap) !=
            1 ||
        EVP_DecryptFinal_ex(c, pt + outl, &fin) != 1) {
        fprintf(stderr, "dh_decrypt: authentication failed (wrong key, "
                        "AAD or derive-key setting, or tampered data)\n");
        return 1;
    }
    size_t n = (size_t)outl + (size_t)fin;
    if (fwrite(pt, 1, n, stdout) != n || fflush(stdout) != 0)
        return 2;
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pt, pt_cap);
    EVP_CIPHER_CTX_free(c);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(their);
    EVP_PKEY_free(own);
    json_object_put(root);
    free(pt);
    free(peer);
    free(nonce);
    free(ct);
    free(text);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *priv_hex = NULL, *priv_file = NULL, *aad = NULL;
    const char *envelope = NULL;
    bool derive = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--generate") == 0) {
            if (i + 2 >= argc)
                usage();
            return generate(argv[i + 1], argv[i + 2]);
        } else if (strcmp(a, "--private-key-hex") == 0 && i + 1 < argc) {
            priv_hex = argv[++i];
        } else if (strcmp(a, "--private-key-file") == 0 && i + 1 < argc) {
            priv_file = argv[++i];
        } else if (strcmp(a, "--aad") == 0 && i + 1 < argc) {
            aad = argv[++i];
        } else if (strcmp(a, "--derive-key") == 0) {
            derive = true;
        } else if (a[0] == '-' && a[1] == '-') {
            usage();
        } else if (!envelope) {
            envelope = a;
        } else {
            usage();
        }
    }
    if (!envelope || !priv_hex == !priv_file)
        usage();
    unsigned char priv[KEY_LEN];
    char *file_text = NULL;
    if (priv_file) {
        size_t len = 0;
        file_text = read_all(priv_file, &len);
        priv_hex = file_text;
    }
    if (parse_hex_key(priv_hex, priv) != 0) {
        fprintf(stderr, "dh_decrypt: the private key must be 64 hex digits\n");
        return 2;
    }
    if (file_text) {
        OPENSSL_cleanse(file_text, strlen(file_text));
        free(file_text);
    }
    int rc = decrypt(priv, derive, aad, envelope);
    OPENSSL_cleanse(priv, sizeof priv);
    return rc;
}
