/* Client TLS contexts.  Session resumption saves a full handshake per new
 * connection: OpenSSL hands every new session (TLS 1.3 tickets arrive
 * after the handshake) to on_new_session, which keeps the latest one per
 * identity; the next connection to the same name offers it. */
#include "autoconf.h"

#include "upstream/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/url.h"

struct vpd_up_tls {
    SSL_CTX *ctx;
    unsigned refs;
    bool skip_verify;
    SSL_SESSION *session; /* the latest one, for session_name */
    char session_name[VPD_UP_HOST_MAX];
};

/* SSL ex_data: the name a session belongs to, the connection's own copy.
 * A pointer into the pool would not do: an upgraded connection (the KV
 * event stream) can outlive its pool when SIGHUP replaces the TLS files,
 * and a session ticket arriving then would read freed memory. */
static int ex_index = -1;

static void
free_name(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
          void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void
reason(char *err, size_t err_len, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    char ossl[200] = "";
    if (e)
        ERR_error_string_n(e, ossl, sizeof ossl);
    snprintf(err, err_len, "%s %s%s%s", what, file ? file : "", e ? ": " : "",
             ossl);
}

/* Encrypted keys would make OpenSSL prompt on the terminal. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    vpd_up_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const char *name = SSL_get_ex_data(ssl, ex_index);
    if (!t || !name || strlen(name) >= sizeof t->session_name)
        return 0;
    SSL_SESSION_free(t->session);
    t->session = sess; /* returning 1 keeps OpenSSL's reference for us */
    snprintf(t->session_name, sizeof t->session_name, "%s", name);
    return 1;
}

vpd_up_tls *
vpd_up_tls_new(const vpd_up_tls_opts *o, char *err, size_t err_len)
{
    ERR_clear_error();
    if (ex_index < 0)
        ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_name);
    vpd_up_tls *t = calloc(1, sizeof *t);
    SSL_CTX *ctx = t ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (!ctx) {
        free(t);
        snprintf(err, err_len, "TLS client context: out of memory");
        return NULL;
    }
    t->ctx = ctx;
    t->refs = 1;
    t->skip_verify = o->skip_verify;
    SSL_CTX_set_app_data(ctx, t);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* No SSL_MODE_RELEASE_BUFFERS: a kept-alive connection to Vault
     * reads and writes records all the time, and releasing would free
     * and allocate both record buffers per request. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read-ahead: OpenSSL takes all the input at hand in one BIO read
     * rather than a record's header, then its body. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Go's client order on hardware with AES instructions, which Vault's
     * servers follow unless they insist on their own: AES-128-GCM first,
     * cheaper per record than OpenSSL's default AES-256-GCM. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
                                  "TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                            SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);

    if (o->ca_cert || o->ca_path) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_cert, o->ca_path) != 1) {
            reason(err, err_len, "vault CA",
                   o->ca_cert ? o->ca_cert : o->ca_path);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        reason(err, err_len, "loading the system CA roots", NULL);
        goto fail;
    }
    if (o->client_cert &&
        SSL_CTX_use_certificate_chain_file(ctx, o->client_cert) != 1) {
        reason(err, err_len, "client certificate", o->client_cert);
        goto fail;
    }
    if (o->client_key && SSL_CTX_use_PrivateKey_file(ctx, o->client_key,
                                                     SSL_FILETYPE_PEM) != 1) {
        reason(err, err_len, "client key", o->client_key);
        goto fail;
    }
    SSL_CTX_set_verify(ctx, o->skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       NULL);
    return t;
fail:
    SSL_CTX_free(ctx);
    free(t);
    return NULL;
}

vpd_up_tls *
vpd_up_tls_ref(vpd_up_tls *t)
{
    if (t)
        t->refs++;
    return t;
}

void
vpd_up_tls_unref(vpd_up_tls *t)
{
    if (!t || --t->refs > 0)
        return;
    SSL_SESSION_free(t->session);
    SSL_CTX_free(t->ctx);
    free(t);
}

vpd_tls_conn *
vpd_up_tls_conn_new(vpd_up_tls *t, const char *name)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return NULL;
    SSL_set_connect_state(ssl);
    char *own = strdup(name);
    if (!own || SSL_set_ex_data(ssl, ex_index, own) != 1) {
        free(own);
        SSL_free(ssl);
        return NULL;
    }
    bool ip = vpd_up_host_is_ip(name);
    if (!ip)
        SSL_set_tlsext_host_name(ssl, name);
    if (!t->skip_verify) {
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
        else
            SSL_set1_host(ssl, name);
    }
    if (t->session && strcmp(t->session_name, name) == 0)
        SSL_set_session(ssl, t->session);
    ERR_clear_error();
    return vpd_tls_conn_adopt(ssl);
}

bool
vpd_up_tls_verify_failed(vpd_tls_conn *c, char *err, size_t err_len)
{
    SSL *ssl = vpd_tls_conn_ssl(c);
    long v = SSL_get_verify_result(ssl);
    if (v == X509_V_OK)
        return false;
    snprintf(err, err_len, "TLS: certificate verify failed: %s",
             X509_verify_cert_error_string(v));
    return true;
}
