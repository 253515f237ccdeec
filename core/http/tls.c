/* Server-side TLS termination over memory BIOs.  libuv owns the socket;
 * this file only moves bytes between two BIO_s_mem and an SSL object, so
 * it never blocks and never touches a file descriptor. */
#include "autoconf.h"

#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct vpd_tls_ctx {
    SSL_CTX *ssl_ctx;
};

struct vpd_tls_conn {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer; SSL reads it */
    BIO *wbio; /* ciphertext to the peer; SSL writes it */
    bool shut;
    bool failed; /* fatal error: no close_notify any more */
};

/* One reason line: our words, then OpenSSL's innermost error if any. */
static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t err_len, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* The earliest error is the specific one ("no start line"); later
     * ones only say which layer gave up ("PEM lib"). */
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!err || !err_len)
        return;
    if (e) {
        char ossl[256];
        ERR_error_string_n(e, ossl, sizeof ossl);
        snprintf(err, err_len, "%s: %s", what, ossl);
    } else {
        snprintf(err, err_len, "%s", what);
    }
}

static int
parse_version(const char *s, int dflt, int *out)
{
    if (!s || !*s) {
        *out = dflt;
        return 0;
    }
    static const struct {
        const char *name;
        int v;
    } tab[] = {{"tls10", TLS1_VERSION},
               {"tls11", TLS1_1_VERSION},
               {"tls12", TLS1_2_VERSION},
               {"tls13", TLS1_3_VERSION}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcasecmp(s, tab[i].name) == 0) {
            *out = tab[i].v;
            return 0;
        }
    }
    return -1;
}

/* Go and Vault spell suites by their IANA names; OpenSSL knows the mapping
 * (OPENSSL_cipher_name).  Go also accepts the CHACHA20 names without the
 * _SHA256 tail.  TLS 1.3 suites are not configurable in Go, so they are
 * skipped here too; anything unknown is passed through in case it is
 * already an OpenSSL name, and OpenSSL has the last word. */
static int
apply_cipher_suites(SSL_CTX *ctx, const char *list, char *err, size_t err_len)
{
    vpd_buf out = VPD_BUF_INIT;
    char *copy = strdup(list);
    int rc = -1;
    if (!copy) {
        set_err(err, err_len, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t n = strlen(tok);
        while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            tok[--n] = '\0';
        if (!n)
            continue;
        if (strncmp(tok, "TLS_AES_", 8) == 0 ||
            strncmp(tok, "TLS_CHACHA20_", 13) == 0)
            continue;
        const char *name = OPENSSL_cipher_name(tok);
        if (!name || strcmp(name, "(NONE)") == 0) {
            char alt[128];
            snprintf(alt, sizeof alt, "%s_SHA256", tok);
            name = OPENSSL_cipher_name(alt);
            if (!name || strcmp(name, "(NONE)") == 0)
                name = tok;
        }
        if ((out.len && vpd_buf_append(&out, ":", 1) != 0) ||
            vpd_buf_append_str(&out, name) != 0) {
            set_err(err, err_len, "out of memory");
            goto done;
        }
    }
    if (out.len == 0) {
        rc = 0; /* only TLS 1.3 names: nothing to restrict */
        goto done;
    }
    if (SSL_CTX_set_cipher_list(ctx, out.data) != 1) {
        set_err(err, err_len, "tls_cipher_suites \"%s\": no usable cipher",
                list);
        goto done;
    }
    rc = 0;
done:
    free(copy);
    vpd_buf_free(&out);
    return rc;
}

/* h2 first, then http/1.1, as Go's server offers them; HTTP/2 needs
 * TLS 1.2 or later (RFC 9113 9.2), so an older session gets http/1.1.
 * A client that offers only other protocols still gets a connection
 * without ALPN. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
            const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    static const unsigned char http11[] = "\x08http/1.1";
    bool h2_ok = SSL_version(ssl) >= TLS1_2_VERSION;
    unsigned char *sel = NULL;
    unsigned char sel_len = 0;
    if (SSL_select_next_proto(&sel, &sel_len, h2_ok ? both : http11,
                              h2_ok ? sizeof both - 1 : sizeof http11 - 1, in,
                              inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        *outlen = sel_len;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

bool
vpd_tls_conn_alpn_h2(vpd_tls_conn *c)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(vpd_tls_conn_ssl(c), &p, &len);
    return len == 2 && memcmp(p, "h2", 2) == 0;
}

/* Go's tls.RequestClientCert: ask, take whatever comes, verify nothing. */
static int
accept_any_cert(int ok, X509_STORE_CTX *store)
{
    return 1;
}

/* Encrypted keys are not supported; without this OpenSSL would prompt on
 * the terminal and block the daemon. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

vpd_tls_ctx *
vpd_tls_ctx_new(const vpd_listener_config *l, char *err, size_t err_len)
{
    int min_v, max_v;
    ERR_clear_error();
    if (!l->tls_cert_file || !*l->tls_cert_file || !l->tls_key_file ||
        !*l->tls_key_file) {
        set_err(err, err_len,
                "TLS is enabled but tls_cert_file and tls_key_file are not "
                "both set (set tls_disable = true for plain HTTP)");
        return NULL;
    }
    if (parse_version(l->tls_min_version, TLS1_2_VERSION, &min_v) != 0) {
        set_err(err, err_len, "tls_min_version \"%s\": want tls10..tls13",
                l->tls_min_version);
        return NULL;
    }
    if (parse_version(l->tls_max_version, TLS1_3_VERSION, &max_v) != 0) {
        set_err(err, err_len, "tls_max_version \"%s\": want tls10..tls13",
                l->tls_max_version);
        return NULL;
    }
    if (max_v < min_v) {
        set_err(err, err_len, "tls_max_version is lower than tls_min_version");
        return NULL;
    }
    if (l->tls_require_and_verify_client_cert && l->tls_disable_client_certs) {
        set_err(err, err_len,
                "tls_require_and_verify_client_cert and "
                "tls_disable_client_certs are mutually exclusive");
        return NULL;
    }

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_err(err, err_len, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    /* Client-initiated renegotiation is a CPU sink and HTTP/1.1 never
     * needs it; small idle connections matter more than buffer reuse. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Session resumption with client certificates fails without an id
     * context. */
    static const unsigned char sid[] = "vaproxyd";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);

    if (SSL_CTX_set_min_proto_version(ctx, min_v) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, max_v) != 1) {
        set_err(err, err_len, "setting TLS versions");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, l->tls_cert_file) != 1) {
        set_err(err, err_len, "tls_cert_file %s", l->tls_cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, l->tls_key_file, SSL_FILETYPE_PEM) !=
        1) {
        set_err(err, err_len, "tls_key_file %s", l->tls_key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, err_len, "tls_key_file %s does not match tls_cert_file %s",
                l->tls_key_file, l->tls_cert_file);
        goto fail;
    }
    if (l->tls_cipher_suites && *l->tls_cipher_suites &&
        apply_cipher_suites(ctx, l->tls_cipher_suites, err, err_len) != 0)
        goto fail;

    if (l->tls_disable_client_certs) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else if (l->tls_require_and_verify_client_cert) {
        if (l->tls_client_ca_file && *l->tls_client_ca_file) {
            if (SSL_CTX_load_verify_locations(ctx, l->tls_client_ca_file,
                                              NULL) != 1) {
                set_err(err, err_len, "tls_client_ca_file %s",
                        l->tls_client_ca_file);
                goto fail;
            }
            STACK_OF(X509_NAME) *names =
                SSL_load_client_CA_file(l->tls_client_ca_file);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
            ERR_clear_error();
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            set_err(err, err_len, "loading the system CA roots");
            goto fail;
        }
        SSL_CTX_set_verify(
            ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

    vpd_tls_ctx *t = calloc(1, sizeof *t);
    if (!t) {
        set_err(err, err_len, "out of memory");
        goto fail;
    }
    t->ssl_ctx = ctx;
    return t;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

void
vpd_tls_ctx_free(vpd_tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx); /* live SSL objects hold their own ref */
    free(ctx);
}

vpd_tls_conn *
vpd_tls_conn_adopt(SSL *ssl)
{
    vpd_tls_conn *c = ssl ? calloc(1, sizeof *c) : NULL;
    BIO *rbio = c ? BIO_new(BIO_s_mem()) : NULL;
    BIO *wbio = rbio ? BIO_new(BIO_s_mem()) : NULL;
    if (!wbio) {
        SSL_free(ssl);
        BIO_free(rbio);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    c->ssl = ssl;
    c->rbio = rbio;
    c->wbio = wbio;
    /* An empty memory BIO means "try again", not end of file. */
    BIO_set_mem_eof_return(c->rbio, -1);
    BIO_set_mem_eof_return(c->wbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio); /* SSL owns both now */
    return c;
}

vpd_tls_conn *
vpd_tls_conn_new(vpd_tls_ctx *ctx)
{
    SSL *ssl = SSL_new(ctx->ssl_ctx);
    if (ssl)
        SSL_set_accept_state(ssl);
    return vpd_tls_conn_adopt(ssl);
}

SSL *
vpd_tls_conn_ssl(vpd_tls_conn *c)
{
    return c->ssl;
}

void
vpd_tls_conn_free(vpd_tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    free(c);
}

/* Empties this thread's OpenSSL error queue before an SSL call, as
 * SSL_get_error needs.  ERR_clear_error resets all the queue's slots,
 * hundreds of instructions even when it is empty, which is the usual case
 * twice per proxied request; SSL_get_error itself only asks ERR_peek_error,
 * so a queue that answers 0 there needs no clearing. */
static void
clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

int
vpd_tls_conn_recv(vpd_tls_conn *c, const char *data, size_t len, vpd_buf *plain,
                  char *err, size_t err_len)
{
    clear_errors();
    if (len > 0) {
        if (len > (size_t)0x7fffffff ||
            BIO_write(c->rbio, data, (int)len) != (int)len) {
            set_err(err, err_len, "buffering TLS input");
            return VPD_TLS_ERROR;
        }
    }
    for (;;) {
        const size_t chunk = 16384;
        if (vpd_buf_reserve(plain, chunk) != 0) {
            set_err(err, err_len, "out of memory");
            return VPD_TLS_ERROR;
        }
        int n = SSL_read(c->ssl, plain->data + plain->len, (int)chunk);
        if (n > 0) {
            plain->len += (size_t)n;
            plain->data[plain->len] = '\0';
            /* Nothing left to decrypt, in the BIO or in the session: the
             * next SSL_read could only say "want read", a full trip
             * through the record layer and SSL_get_error per message. */
            if (BIO_ctrl_pending(c->rbio) == 0 && !SSL_has_pending(c->ssl))
                return VPD_TLS_OK;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        switch (e) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return VPD_TLS_OK;
        case SSL_ERROR_ZERO_RETURN:
            return VPD_TLS_CLOSED;
        default:
            c->failed = true;
            set_err(err, err_len, "%s",
                    SSL_is_init_finished(c->ssl) ? "TLS error"
                                                 : "TLS handshake failed");
            return VPD_TLS_ERROR;
        }
    }
}

int
vpd_tls_conn_send(vpd_tls_conn *c, const void *data, size_t len)
{
    const char *p = data;
    clear_errors();
    if (!SSL_is_init_finished(c->ssl) || c->shut || c->failed)
        return -1;
    while (len > 0) {
        int n = len > 0x40000000 ? 0x40000000 : (int)len;
        /* A memory BIO never fills up, so a write either completes or the
         * session is broken. */
        int w = SSL_write(c->ssl, p, n);
        if (w <= 0) {
            ERR_clear_error();
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void
vpd_tls_conn_shutdown(vpd_tls_conn *c)
{
    if (c->shut || c->failed || !SSL_is_init_finished(c->ssl))
        return;
    c->shut = true;
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
}

size_t
vpd_tls_conn_pending_output(vpd_tls_conn *c)
{
    return BIO_ctrl_pending(c->wbio);
}

size_t
vpd_tls_conn_read_output(vpd_tls_conn *c, char *out, size_t cap)
{
    if (cap > 0x7fffffff)
        cap = 0x7fffffff;
    int n = BIO_read(c->wbio, out, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

bool
vpd_tls_conn_established(const vpd_tls_conn *c)
{
    return SSL_is_init_finished(c->ssl) != 0;
}
