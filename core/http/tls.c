/* TLS for both sides of the daemon over a BIO of our own.  libuv owns the
 * socket; this file only moves bytes between the caller's buffers and an
 * SSL object, so it never blocks and never touches a file descriptor. */
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
    /* Ciphertext from the peer not yet taken by OpenSSL: the caller's
     * bytes during vpd_tls_conn_recv, or `held` between calls. */
    const char *in;
    size_t in_len;
    vpd_buf held;
    bool in_held; /* `in` points into `held` */
    vpd_buf out;  /* ciphertext to the peer, from out_off on */
    size_t out_off;
    bool read_blocked; /* this SSL call found no more input */
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

/* ---- the BIO between OpenSSL and the connection ------------------------
 *
 * One BIO serves both directions.  Reading hands OpenSSL the bytes the
 * caller passed to vpd_tls_conn_recv where they lie (libuv's read buffer),
 * so ciphertext is copied once, into OpenSSL's record buffer, instead of
 * twice through a memory BIO.  Writing appends OpenSSL's records to `out`,
 * which the caller sends from where they lie (vpd_tls_conn_output).  Its
 * ctrl answers the few questions OpenSSL asks on every record without the
 * memory BIO's bookkeeping. */

static BIO_METHOD *bio_method;
static CRYPTO_ONCE bio_method_once = CRYPTO_ONCE_STATIC_INIT;

static int
bio_read(BIO *b, char *buf, int len)
{
    vpd_tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (c->in_len == 0) {
        /* "Try again", never end of file: more may come. */
        c->read_blocked = true;
        BIO_set_retry_read(b);
        return -1;
    }
    if (len <= 0)
        return 0;
    size_t n = (size_t)len < c->in_len ? (size_t)len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (int)n;
}

static int
bio_write(BIO *b, const char *buf, int len)
{
    vpd_tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (vpd_buf_append(&c->out, buf, (size_t)len) != 0)
        return -1; /* out of memory: OpenSSL fails the session */
    return len;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    vpd_tls_conn *c = BIO_get_data(b);
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* the caller sends `out` itself */
    case BIO_CTRL_PENDING:
        return c ? (long)c->in_len : 0;
    case BIO_CTRL_WPENDING:
        return c ? (long)(c->out.len - c->out_off) : 0;
    default:
        return 0; /* no kTLS, no EOF, nothing else to report */
    }
}

static int
bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void
bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "vaproxyd tls");
    if (m && (BIO_meth_set_read(m, bio_read) != 1 ||
              BIO_meth_set_write(m, bio_write) != 1 ||
              BIO_meth_set_ctrl(m, bio_ctrl) != 1 ||
              BIO_meth_set_create(m, bio_create) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    bio_method = m;
}

vpd_tls_conn *
vpd_tls_conn_adopt(SSL *ssl)
{
    if (!CRYPTO_THREAD_run_once(&bio_method_once, bio_method_init))
        bio_method = NULL;
    vpd_tls_conn *c = ssl && bio_method ? calloc(1, sizeof *c) : NULL;
    BIO *bio = c ? BIO_new(bio_method) : NULL;
    if (!bio) {
        SSL_free(ssl);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    c->ssl = ssl;
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio); /* SSL owns it now, one reference */
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
    SSL_free(c->ssl); /* frees the BIO, which points at c */
    vpd_buf_free(&c->held);
    vpd_buf_free(&c->out);
    free(c);
}

/* Keeps the input OpenSSL has not taken for the next call: c->in points
 * into the caller's buffer, which is gone once vpd_tls_conn_recv returns.
 * OpenSSL takes everything it is offered before it asks for more, so this
 * only copies after a failure, when nothing reads the rest any more. */
static int
keep_unread_input(vpd_tls_conn *c)
{
    int rc = 0;
    if (c->in_len == 0) {
        c->held.len = 0;
    } else if (c->in_held) {
        memmove(c->held.data, c->in, c->in_len);
        c->held.len = c->in_len;
    } else {
        c->held.len = 0;
        rc = vpd_buf_append(&c->held, c->in, c->in_len);
    }
    c->in = NULL;
    c->in_len = 0;
    c->in_held = false;
    return rc;
}

/* The end of an SSL_read that produced nothing, told apart without
 * OpenSSL's error queue: SSL_get_error would need that queue emptied before
 * every call (hundreds of instructions twice per request even when it is
 * empty, and wrong when anything else in the thread left an error there).
 * A read that stopped because this BIO had no more input is the usual
 * case; close_notify leaves its mark in the shutdown state; anything else
 * is a failure, which OpenSSL always records in the queue. */
static int
read_stopped(vpd_tls_conn *c, char *err, size_t err_len)
{
    if (c->read_blocked && SSL_want_read(c->ssl))
        return VPD_TLS_OK;
    if (SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN) {
        ERR_clear_error();
        return VPD_TLS_CLOSED;
    }
    c->failed = true;
    set_err(err, err_len, "%s",
            SSL_is_init_finished(c->ssl) ? "TLS error"
                                         : "TLS handshake failed");
    /* The failure's entries would otherwise stay in the thread's queue,
     * where the next caller of SSL_get_error would take them for its own. */
    ERR_clear_error();
    return VPD_TLS_ERROR;
}

int
vpd_tls_conn_recv(vpd_tls_conn *c, const char *data, size_t len, vpd_buf *plain,
                  char *err, size_t err_len)
{
    if (c->held.len) {
        /* Bytes left from an earlier call come first. */
        if (len && vpd_buf_append(&c->held, data, len) != 0) {
            set_err(err, err_len, "buffering TLS input");
            return VPD_TLS_ERROR;
        }
        c->in = c->held.data;
        c->in_len = c->held.len;
        c->in_held = true;
    } else {
        c->in = data;
        c->in_len = data ? len : 0;
    }
    int r;
    for (;;) {
        /* One record's plaintext at most fits; with read-ahead OpenSSL may
         * hold more, and the loop takes it. */
        const size_t chunk = 16384;
        if (vpd_buf_reserve(plain, chunk) != 0) {
            set_err(err, err_len, "out of memory");
            r = VPD_TLS_ERROR;
            break;
        }
        size_t got = 0;
        c->read_blocked = false;
        if (SSL_read_ex(c->ssl, plain->data + plain->len, chunk, &got) == 1) {
            plain->len += got;
            plain->data[plain->len] = '\0';
            /* Nothing left to decrypt, here or in the session: the next
             * SSL_read could only find that out, a full trip through the
             * record layer per message. */
            if (c->in_len == 0 && !SSL_has_pending(c->ssl)) {
                r = VPD_TLS_OK;
                break;
            }
            continue;
        }
        r = read_stopped(c, err, err_len);
        break;
    }
    if (r != VPD_TLS_OK) {
        c->in = NULL;
        c->in_len = 0;
        c->in_held = false;
        c->held.len = 0;
        return r;
    }
    if (keep_unread_input(c) != 0) {
        set_err(err, err_len, "buffering TLS input");
        return VPD_TLS_ERROR;
    }
    return VPD_TLS_OK;
}

/* One SSL_write for the bytes given; a memory sink never fills up, so it
 * either takes them all or the session is broken. */
static int
write_all(vpd_tls_conn *c, const char *p, size_t len)
{
    size_t done = 0;
    if (SSL_write_ex(c->ssl, p, len, &done) != 1 || done != len) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static bool
can_send(const vpd_tls_conn *c)
{
    return !c->shut && !c->failed && SSL_is_init_finished(c->ssl);
}

int
vpd_tls_conn_send(vpd_tls_conn *c, const void *data, size_t len)
{
    if (!can_send(c))
        return -1;
    return len ? write_all(c, data, len) : 0;
}

int
vpd_tls_conn_sendv(vpd_tls_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (!can_send(c))
        return -1;
    unsigned nonempty = 0, last = 0;
    for (unsigned i = 0; i < nbufs; i++)
        if (bufs[i].len) {
            nonempty++;
            last = i;
        }
    if (nonempty <= 1)
        return nonempty ? write_all(c, bufs[last].base, bufs[last].len) : 0;
    /* Gathered into full records: a request's head and body become one
     * record, one encryption pass and one record for the server to open,
     * rather than one each. */
    char rec[16384];
    size_t fill = 0, used = 0;
    int rc = 0;
    for (unsigned i = 0; i < nbufs && rc == 0; i++) {
        const char *p = bufs[i].base;
        size_t left = bufs[i].len;
        while (left > 0 && rc == 0) {
            size_t n = sizeof rec - fill < left ? sizeof rec - fill : left;
            memcpy(rec + fill, p, n);
            fill += n;
            p += n;
            left -= n;
            if (fill > used)
                used = fill;
            if (fill == sizeof rec) {
                rc = write_all(c, rec, fill);
                fill = 0;
            }
        }
    }
    if (rc == 0 && fill)
        rc = write_all(c, rec, fill);
    OPENSSL_cleanse(rec, used); /* requests carry tokens */
    return rc;
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

const char *
vpd_tls_conn_output(vpd_tls_conn *c, size_t *len)
{
    *len = c->out.len - c->out_off;
    /* Nothing queued may mean no buffer yet: no pointer arithmetic on
     * NULL. */
    return *len ? c->out.data + c->out_off : c->out.data;
}

/* A buffer grown for a large body is let go once it has been sent, so that
 * an idle connection keeps at most the room one full record took. */
#define OUT_KEEP_MAX (32 * 1024)

void
vpd_tls_conn_output_done(vpd_tls_conn *c, size_t n)
{
    size_t avail = c->out.len - c->out_off;
    c->out_off += n < avail ? n : avail;
    if (c->out_off < c->out.len)
        return;
    if (c->out.cap > OUT_KEEP_MAX)
        vpd_buf_free(&c->out);
    c->out.len = 0;
    c->out_off = 0;
}

size_t
vpd_tls_conn_pending_output(vpd_tls_conn *c)
{
    return c->out.len - c->out_off;
}

size_t
vpd_tls_conn_read_output(vpd_tls_conn *c, char *out, size_t cap)
{
    size_t n;
    const char *p = vpd_tls_conn_output(c, &n);
    if (n > cap)
        n = cap;
    if (n) {
        memcpy(out, p, n);
        vpd_tls_conn_output_done(c, n);
    }
    return n;
}

bool
vpd_tls_conn_established(const vpd_tls_conn *c)
{
    return SSL_is_init_finished(c->ssl) != 0;
}
