/* DH sink encryption (dh_type "curve25519"): a client-side decryptor built on
 * OpenSSL (X25519, HKDF done by hand with HMAC-SHA256, AES-256-GCM) opens what
 * the sink writes, the way a Vault dhutil client would. */
#include "autoconf.h"

#include "auth/sink_dh.h"
#include "test.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <sys/stat.h>

/* ---- helpers ----------------------------------------------------------- */

typedef struct {
    EVP_PKEY *key;
    unsigned char pub[32];
} client_t;

static void
client_new(client_t *c)
{
    c->key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    ASSERT_NOT_NULL(c->key);
    size_t n = sizeof c->pub;
    ASSERT_INT_EQ(EVP_PKEY_get_raw_public_key(c->key, c->pub, &n), 1);
    ASSERT_INT_EQ(n, 32);
}

static char *
b64(const unsigned char *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    ASSERT_NOT_NULL(out);
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* Standard padded base64 via OpenSSL; returns the decoded length. */
static size_t
unb64(const char *in, unsigned char **out)
{
    size_t n = strlen(in);
    ASSERT(n % 4 == 0 && n > 0);
    *out = malloc(n / 4 * 3 + 1);
    ASSERT_NOT_NULL(*out);
    int r = EVP_DecodeBlock(*out, (const unsigned char *)in, (int)n);
    ASSERT(r >= 0);
    size_t len = (size_t)r;
    if (in[n - 1] == '=')
        len--;
    if (in[n - 2] == '=')
        len--;
    return len;
}

static char tmpdir[] = "/tmp/vp_dh_XXXXXX";

static char *
mkpath(const char *name)
{
    static char buf[4][256];
    static int i;
    /* A flag, not the template's last 'X': mkdtemp's own random suffix
     * may end in 'X' too. */
    static bool created;
    if (!created) {
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        created = true;
    }
    char *p = buf[i++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    ASSERT_INT_EQ(fclose(f), 0);
}

static void
write_pub(const char *path, const unsigned char *pub, size_t n)
{
    char *b = b64(pub, n);
    char text[512];
    snprintf(text, sizeof text, "{\"curve25519_public_key\":\"%s\"}\n", b);
    write_text(path, text);
    free(b);
}

typedef struct {
    unsigned char pub[32];
    unsigned char nonce[12];
    unsigned char *payload;
    size_t payload_len;
} envelope_t;

static void
parse_envelope(const char *out, size_t out_len, envelope_t *e)
{
    ASSERT_INT_EQ(strlen(out), out_len);
    ASSERT(out_len > 0 && out[out_len - 1] == '\n');
    json_object *o = json_tokener_parse(out);
    ASSERT_NOT_NULL(o);
    ASSERT(json_object_is_type(o, json_type_object));
    ASSERT_INT_EQ(json_object_object_length(o), 3);
    unsigned char *buf;
    json_object *v;
    ASSERT(json_object_object_get_ex(o, "curve25519_public_key", &v));
    ASSERT_INT_EQ(unb64(json_object_get_string(v), &buf), 32);
    memcpy(e->pub, buf, 32);
    free(buf);
    ASSERT(json_object_object_get_ex(o, "nonce", &v));
    ASSERT_INT_EQ(unb64(json_object_get_string(v), &buf), 12);
    memcpy(e->nonce, buf, 12);
    free(buf);
    ASSERT(json_object_object_get_ex(o, "encrypted_payload", &v));
    e->payload_len = unb64(json_object_get_string(v), &e->payload);
    json_object_put(o);
}

/* HKDF-SHA256 (RFC 5869) with HMAC directly, as a cross-check of the
 * salt/info order used by the sink. */
static void
hkdf32(const unsigned char *ikm, const unsigned char *salt,
       const unsigned char *info, unsigned char okm[32])
{
    unsigned char prk[32], t[33];
    unsigned int n = 0;
    ASSERT_NOT_NULL(HMAC(EVP_sha256(), salt, 32, ikm, 32, prk, &n));
    memcpy(t, info, 32);
    t[32] = 1;
    ASSERT_NOT_NULL(HMAC(EVP_sha256(), prk, 32, t, 33, okm, &n));
}

/* Opens an envelope as the client.  Returns the malloc'd plaintext (NUL
 * terminated) or NULL when authentication fails. */
static char *
client_open(const client_t *c, const envelope_t *e, bool derive,
            const void *aad, size_t aad_len, size_t *pt_len)
{
    EVP_PKEY *peer =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, e->pub, 32);
    ASSERT_NOT_NULL(peer);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(c->key, NULL);
    unsigned char secret[32], key[32];
    size_t sl = 32;
    ASSERT_INT_EQ(EVP_PKEY_derive_init(pc), 1);
    ASSERT_INT_EQ(EVP_PKEY_derive_set_peer(pc, peer), 1);
    ASSERT_INT_EQ(EVP_PKEY_derive(pc, secret, &sl), 1);
    EVP_PKEY_CTX_free(pc);
    EVP_PKEY_free(peer);
    if (derive) {
        int cmp = memcmp(c->pub, e->pub, 32);
        ASSERT(cmp != 0);
        hkdf32(secret, cmp < 0 ? c->pub : e->pub, cmp < 0 ? e->pub : c->pub,
               key);
    } else {
        memcpy(key, secret, 32);
    }
    ASSERT(e->payload_len >= 16);
    size_t ct_len = e->payload_len - 16;
    char *pt = malloc(ct_len + 1);
    ASSERT_NOT_NULL(pt);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, ok = 1;
    ok &= EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL);
    ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    ok &= EVP_DecryptInit_ex(ctx, NULL, NULL, key, e->nonce);
    if (aad_len)
        ok &= EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len);
    ok &= EVP_DecryptUpdate(ctx, (unsigned char *)pt, &outl, e->payload,
                            (int)ct_len);
    ASSERT_INT_EQ(ok, 1);
    ASSERT_INT_EQ(outl, ct_len);
    ASSERT_INT_EQ(
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, e->payload + ct_len),
        1);
    int fin = EVP_DecryptFinal_ex(ctx, (unsigned char *)pt + outl, &outl);
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(secret, 32);
    OPENSSL_cleanse(key, 32);
    if (fin != 1) {
        free(pt);
        return NULL;
    }
    pt[ct_len] = '\0';
    if (pt_len)
        *pt_len = ct_len;
    return pt;
}

/* One sink + client set-up; encrypts msg and returns the envelope. */
static vpd_dh_sink *
setup(client_t *c, const char *name, bool derive, const char *aad,
      size_t aad_len)
{
    char err[256] = "";
    client_new(c);
    const char *path = mkpath(name);
    write_pub(path, c->pub, 32);
    vpd_dh_sink *s =
        vpd_dh_sink_new(path, derive, aad, aad_len, err, sizeof err);
    if (!s)
        TEST_FAIL_("vpd_dh_sink_new: %s", err);
    return s;
}

static void
seal(vpd_dh_sink *s, const char *msg, envelope_t *e, char **raw)
{
    char err[256] = "", *out = NULL;
    size_t out_len = 0;
    if (vpd_dh_sink_encrypt(s, msg, strlen(msg), &out, &out_len, err,
                            sizeof err) != 0)
        TEST_FAIL_("encrypt: %s", err);
    ASSERT_NOT_NULL(out);
    parse_envelope(out, out_len, e);
    if (raw)
        *raw = out;
    else
        free(out);
}

static void
expect_error(vpd_dh_sink *s, const char *needle)
{
    char err[256] = "", *out = (char *)"sentinel";
    size_t out_len = 7;
    ASSERT_INT_EQ(
        vpd_dh_sink_encrypt(s, "tok", 3, &out, &out_len, err, sizeof err), -1);
    ASSERT_NULL(out);
    ASSERT_STR_CONTAINS(err, needle);
}

/* ---- tests ------------------------------------------------------------- */

static const char TOKEN[] = "hvs.CAESIJ0nR0tL2m3exampletokenvalue";

TEST(roundtrip_raw_key)
{
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", false, NULL, 0);
    seal(s, TOKEN, &e, NULL);
    ASSERT_INT_EQ(e.payload_len, strlen(TOKEN) + 16);
    char *pt = client_open(&c, &e, false, NULL, 0, NULL);
    ASSERT_STR_EQ(pt, TOKEN);
    /* a derive_key client cannot open a raw-key envelope */
    ASSERT_NULL(client_open(&c, &e, true, NULL, 0, NULL));
    vpd_dh_sink_free(s);
}

TEST(roundtrip_derive_key)
{
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", true, NULL, 0);
    seal(s, TOKEN, &e, NULL);
    char *pt = client_open(&c, &e, true, NULL, 0, NULL);
    ASSERT_STR_EQ(pt, TOKEN);
    ASSERT_NULL(client_open(&c, &e, false, NULL, 0, NULL));
    vpd_dh_sink_free(s);
}

TEST(roundtrip_with_aad)
{
    static const char aad[] = "foo\0bar"; /* binary, length-delimited */
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", true, aad, sizeof aad - 1);
    seal(s, TOKEN, &e, NULL);
    char *pt = client_open(&c, &e, true, aad, sizeof aad - 1, NULL);
    ASSERT_STR_EQ(pt, TOKEN);
    vpd_dh_sink_free(s);
}

TEST(large_plaintext)
{
    size_t n = 200000;
    char *msg = malloc(n + 1);
    ASSERT_NOT_NULL(msg);
    for (size_t i = 0; i < n; i++)
        msg[i] = (char)('a' + i % 26);
    msg[n] = '\0';
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", false, "x", 1);
    seal(s, msg, &e, NULL);
    size_t pl = 0;
    char *pt = client_open(&c, &e, false, "x", 1, &pl);
    ASSERT_NOT_NULL(pt);
    ASSERT_INT_EQ(pl, n);
    ASSERT(memcmp(pt, msg, n) == 0);
    vpd_dh_sink_free(s);
}

TEST(wrong_aad_fails)
{
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", false, "ctx-a", 5);
    seal(s, TOKEN, &e, NULL);
    ASSERT_NULL(client_open(&c, &e, false, "ctx-b", 5, NULL));
    ASSERT_NULL(client_open(&c, &e, false, NULL, 0, NULL));
    ASSERT_STR_EQ(client_open(&c, &e, false, "ctx-a", 5, NULL), TOKEN);
    vpd_dh_sink_free(s);

    /* sink without aad, client with one */
    s = setup(&c, "pub2.json", false, "", 0);
    seal(s, TOKEN, &e, NULL);
    ASSERT_NULL(client_open(&c, &e, false, "x", 1, NULL));
    ASSERT_STR_EQ(client_open(&c, &e, false, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s);
}

TEST(tampered_ciphertext_fails)
{
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", true, NULL, 0);
    seal(s, TOKEN, &e, NULL);
    e.payload[0] ^= 0x01; /* ciphertext */
    ASSERT_NULL(client_open(&c, &e, true, NULL, 0, NULL));
    e.payload[0] ^= 0x01;
    e.payload[e.payload_len - 1] ^= 0x80; /* tag */
    ASSERT_NULL(client_open(&c, &e, true, NULL, 0, NULL));
    e.payload[e.payload_len - 1] ^= 0x80;
    e.nonce[3] ^= 0x10; /* nonce */
    ASSERT_NULL(client_open(&c, &e, true, NULL, 0, NULL));
    e.nonce[3] ^= 0x10;
    ASSERT_STR_EQ(client_open(&c, &e, true, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s);
}

TEST(nonce_differs_between_encryptions)
{
    client_t c;
    envelope_t e1, e2;
    vpd_dh_sink *s = setup(&c, "pub.json", false, NULL, 0);
    seal(s, TOKEN, &e1, NULL);
    seal(s, TOKEN, &e2, NULL);
    ASSERT(memcmp(e1.nonce, e2.nonce, 12) != 0);
    ASSERT(memcmp(e1.payload, e2.payload, e1.payload_len) != 0);
    /* the sink's key pair is reused */
    ASSERT(memcmp(e1.pub, e2.pub, 32) == 0);
    ASSERT_STR_EQ(client_open(&c, &e2, false, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s);
}

TEST(tofu_keeps_first_client_key)
{
    client_t c1, c2;
    envelope_t e;
    vpd_dh_sink *s = setup(&c1, "pub.json", true, NULL, 0);
    seal(s, TOKEN, &e, NULL);
    ASSERT_STR_EQ(client_open(&c1, &e, true, NULL, 0, NULL), TOKEN);
    /* an attacker (or the client) replaces the key file: ignored */
    client_new(&c2);
    write_pub(mkpath("pub.json"), c2.pub, 32);
    seal(s, "second", &e, NULL);
    ASSERT_STR_EQ(client_open(&c1, &e, true, NULL, 0, NULL), "second");
    ASSERT_NULL(client_open(&c2, &e, true, NULL, 0, NULL));
    /* even removing it changes nothing */
    ASSERT_INT_EQ(unlink(mkpath("pub.json")), 0);
    seal(s, "third", &e, NULL);
    ASSERT_STR_EQ(client_open(&c1, &e, true, NULL, 0, NULL), "third");
    /* a new sink on the same path reads the file afresh */
    write_pub(mkpath("pub.json"), c2.pub, 32);
    char err[256];
    vpd_dh_sink *s2 =
        vpd_dh_sink_new(mkpath("pub.json"), true, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s2);
    seal(s2, "fourth", &e, NULL);
    ASSERT_STR_EQ(client_open(&c2, &e, true, NULL, 0, NULL), "fourth");
    vpd_dh_sink_free(s);
    vpd_dh_sink_free(s2);
}

TEST(missing_file_error_then_recovers)
{
    char err[256];
    vpd_dh_sink *s =
        vpd_dh_sink_new(mkpath("absent.json"), false, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s);
    char *out = (char *)"x";
    size_t out_len = 9;
    ASSERT_INT_EQ(vpd_dh_sink_encrypt(s, TOKEN, strlen(TOKEN), &out, &out_len,
                                      err, sizeof err),
                  -1);
    ASSERT_STR_EQ(err, "no dh parameters file found, and no cached pub key");
    ASSERT_NULL(out);
    ASSERT_INT_EQ(out_len, 0);
    /* the sink server retries; once the client writes the file it works */
    client_t c;
    client_new(&c);
    write_pub(mkpath("absent.json"), c.pub, 32);
    envelope_t e;
    seal(s, TOKEN, &e, NULL);
    ASSERT_STR_EQ(client_open(&c, &e, false, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s);
}

TEST(malformed_dh_file_errors)
{
    char err[256];
    const char *p = mkpath("bad.json");
    vpd_dh_sink *s = vpd_dh_sink_new(p, false, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s);

    write_text(p, "this is not json");
    expect_error(s, "error decoding public key");
    write_text(p, "");
    expect_error(s, "error decoding public key");
    write_text(p, "[\"AAAA\"]");
    expect_error(s, "error decoding public key");
    write_text(p, "{\"curve25519_public_key\": 42}");
    expect_error(s, "error decoding public key");
    write_text(p, "{\"curve25519_public_key\": \"not base64!!\"}");
    expect_error(s, "not valid base64");
    /* unpadded base64 of 32 bytes: Go's StdEncoding rejects it */
    write_text(p, "{\"curve25519_public_key\": "
                  "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    expect_error(s, "not valid base64");
    /* missing / null / empty */
    write_text(p, "{\"other\": \"x\"}");
    expect_error(s, "public key is nil");
    write_text(p, "{\"curve25519_public_key\": null}");
    expect_error(s, "public key is nil");
    write_text(p, "{\"curve25519_public_key\": \"\"}");
    expect_error(s, "public key is nil");

    /* wrong lengths */
    unsigned char k[33] = {9};
    write_pub(p, k, 31);
    expect_error(s, "invalid public key length: 31");
    write_pub(p, k, 33);
    expect_error(s, "invalid public key length");
    write_pub(p, k, 16);
    expect_error(s, "invalid public key length: 16");

    /* nothing bad was cached: a good key now works */
    client_t c;
    client_new(&c);
    write_pub(p, c.pub, 32);
    envelope_t e;
    seal(s, TOKEN, &e, NULL);
    ASSERT_STR_EQ(client_open(&c, &e, false, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s);
}

TEST(dh_file_like_go_json)
{
    /* Go's encoding/json: case-insensitive field names, unknown fields
     * ignored, '\n' inside base64 ignored, whitespace anywhere. */
    client_t c;
    client_new(&c);
    char *b = b64(c.pub, 32);
    char text[512];
    snprintf(text, sizeof text,
             "\n { \"comment\": 1, \"Curve25519_Public_Key\" : \"%.20s\\n%s\" }"
             "\n",
             b, b + 20);
    const char *p = mkpath("go.json");
    write_text(p, text);
    char err[256];
    vpd_dh_sink *s = vpd_dh_sink_new(p, true, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s);
    envelope_t e;
    seal(s, TOKEN, &e, NULL);
    ASSERT_STR_EQ(client_open(&c, &e, true, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s);
    free(b);
}

TEST(envelope_format)
{
    client_t c;
    envelope_t e;
    char *raw = NULL;
    vpd_dh_sink *s = setup(&c, "pub.json", false, NULL, 0);
    seal(s, "abc", &e, &raw); /* 3 + 16 bytes => 28 base64 chars */
    size_t n = strlen(raw);
    ASSERT(n > 2 && raw[n - 1] == '\n' && raw[n - 2] == '}');
    ASSERT(strchr(raw, '\n') == raw + n - 1);
    /* exactly the three keys, in dhutil.Envelope's order, compact */
    const char *k1 = strstr(raw, "\"curve25519_public_key\":\"");
    const char *k2 = strstr(raw, "\",\"nonce\":\"");
    const char *k3 = strstr(raw, "\",\"encrypted_payload\":\"");
    ASSERT(k1 == raw + 1);
    ASSERT(k2 == raw + 1 + 25 + 44);
    ASSERT(k3 == k2 + 11 + 16);
    ASSERT(strcmp(k3 + 23 + 28, "\"}\n") == 0);
    ASSERT_NULL(strchr(raw, ' '));
    ASSERT_NULL(strchr(raw, '\\')); /* no "\/" escaping */
    json_object *o = json_tokener_parse(raw);
    ASSERT_NOT_NULL(o);
    int i = 0;
    const char *want[] = {"curve25519_public_key", "nonce",
                          "encrypted_payload"};
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        ASSERT(i < 3);
        ASSERT_STR_EQ(key, want[i]);
        i++;
    }
    ASSERT_INT_EQ(i, 3);
    /* padded standard base64 lengths */
    json_object *v;
    ASSERT(json_object_object_get_ex(o, "nonce", &v));
    ASSERT_INT_EQ(json_object_get_string_len(v), 16);
    ASSERT(json_object_object_get_ex(o, "curve25519_public_key", &v));
    ASSERT_INT_EQ(json_object_get_string_len(v), 44);
    ASSERT(json_object_get_string(v)[43] == '=');
    ASSERT(json_object_object_get_ex(o, "encrypted_payload", &v));
    ASSERT_INT_EQ(json_object_get_string_len(v), 28);
    ASSERT_INT_EQ(e.payload_len, 19);
    json_object_put(o);
    free(raw);
    vpd_dh_sink_free(s);
}

TEST(same_process_key_pair_across_sinks)
{
    client_t c1, c2;
    envelope_t e1, e2;
    vpd_dh_sink *s1 = setup(&c1, "a.json", false, NULL, 0);
    vpd_dh_sink *s2 = setup(&c2, "b.json", true, "aad", 3);
    seal(s1, TOKEN, &e1, NULL);
    seal(s2, TOKEN, &e2, NULL);
    ASSERT(memcmp(e1.pub, e2.pub, 32) == 0);
    vpd_dh_sink_free(s1);
    vpd_dh_sink_free(s2);
    /* still the same after every sink is gone */
    client_t c3;
    envelope_t e3;
    vpd_dh_sink *s3 = setup(&c3, "c.json", false, NULL, 0);
    seal(s3, TOKEN, &e3, NULL);
    ASSERT(memcmp(e1.pub, e3.pub, 32) == 0);
    ASSERT_STR_EQ(client_open(&c3, &e3, false, NULL, 0, NULL), TOKEN);
    vpd_dh_sink_free(s3);
}

TEST(equal_public_keys_with_derive_key_fail)
{
    /* learn the process public key, then hand it back as the client's */
    client_t c;
    envelope_t e;
    vpd_dh_sink *s = setup(&c, "pub.json", false, NULL, 0);
    seal(s, TOKEN, &e, NULL);
    vpd_dh_sink_free(s);
    const char *p = mkpath("self.json");
    write_pub(p, e.pub, 32);
    char err[256];
    s = vpd_dh_sink_new(p, true, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s);
    expect_error(s, "same public key supplied for both participants");
    vpd_dh_sink_free(s);
    /* without derive_key Vault accepts it (X25519 of its own key) */
    s = vpd_dh_sink_new(p, false, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s);
    char *out = NULL;
    ASSERT_INT_EQ(vpd_dh_sink_encrypt(s, "t", 1, &out, NULL, err, sizeof err),
                  0);
    free(out);
    vpd_dh_sink_free(s);
}

TEST(low_order_client_key_fails)
{
    unsigned char zero[32] = {0};
    const char *p = mkpath("zero.json");
    write_pub(p, zero, 32);
    char err[256];
    vpd_dh_sink *s = vpd_dh_sink_new(p, false, NULL, 0, err, sizeof err);
    ASSERT_NOT_NULL(s);
    expect_error(s, "error calculating shared key");
    vpd_dh_sink_free(s);
}

TEST(empty_plaintext_fails)
{
    client_t c;
    vpd_dh_sink *s = setup(&c, "pub.json", false, NULL, 0);
    char err[256], *out = NULL;
    ASSERT_INT_EQ(vpd_dh_sink_encrypt(s, "", 0, &out, NULL, err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "empty plaintext provided");
    ASSERT_NULL(out);
    vpd_dh_sink_free(s);
}

TEST(new_validates_arguments)
{
    char err[256] = "";
    ASSERT_NULL(vpd_dh_sink_new("", false, NULL, 0, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "dh_path");
    ASSERT_NULL(vpd_dh_sink_new(NULL, false, NULL, 0, err, sizeof err));
    ASSERT_NULL(vpd_dh_sink_new("/x", false, NULL, 3, err, sizeof err));
    vpd_dh_sink_free(NULL);
    /* new does not read the file */
    vpd_dh_sink *s = vpd_dh_sink_new("/nonexistent/dir/pub.json", true, "a", 1,
                                     err, sizeof err);
    ASSERT_NOT_NULL(s);
    vpd_dh_sink_free(s);
}

TEST(error_never_contains_plaintext)
{
    char err[256];
    vpd_dh_sink *s =
        vpd_dh_sink_new(mkpath("nofile"), false, NULL, 0, err, sizeof err);
    char *out = NULL;
    ASSERT_INT_EQ(vpd_dh_sink_encrypt(s, TOKEN, strlen(TOKEN), &out, NULL, err,
                                      sizeof err),
                  -1);
    ASSERT_NULL(strstr(err, "hvs."));
    vpd_dh_sink_free(s);
}

static void
cleanup(void)
{
    if (tmpdir[sizeof tmpdir - 2] != 'X') {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "# could not remove %s\n", tmpdir);
    }
}

int
main(void)
{
    /* One temp dir for all tests (created before the forks). */
    mkpath("x");
    int rc = RUN_TESTS(
        T(roundtrip_raw_key), T(roundtrip_derive_key), T(roundtrip_with_aad),
        T(large_plaintext), T(wrong_aad_fails), T(tampered_ciphertext_fails),
        T(nonce_differs_between_encryptions), T(tofu_keeps_first_client_key),
        T(missing_file_error_then_recovers), T(malformed_dh_file_errors),
        T(dh_file_like_go_json), T(envelope_format),
        T(same_process_key_pair_across_sinks),
        T(equal_public_keys_with_derive_key_fail),
        T(low_order_client_key_fails), T(empty_plaintext_fails),
        T(new_validates_arguments), T(error_never_contains_plaintext));
    cleanup();
    return rc;
}
