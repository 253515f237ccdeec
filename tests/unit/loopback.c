/* The scripted loopback servers' common parts (loopback.h). */
#include "autoconf.h"

#include "loopback.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

int
lb_listen(int port, int *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ASSERT_INT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ASSERT_INT_EQ(listen(fd, 128), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *bound_port = ntohs(sa.sin_port);
    return fd;
}

typedef struct {
    int lfd;
    void *(*new_conn)(int fd, void *arg);
    void *(*conn_main)(void *conn);
    void *arg;
} acceptor;

static void *
accept_main(void *p)
{
    acceptor *a = p;
    for (;;) {
        int fd = accept(a->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            free(a);
            return NULL;
        }
        void *conn = a->new_conn(fd, a->arg);
        pthread_t t;
        pthread_create(&t, NULL, a->conn_main, conn);
        pthread_detach(t);
    }
}

void
lb_accept_in_thread(int lfd, void *(*new_conn)(int fd, void *arg),
                    void *(*conn_main)(void *conn), void *arg)
{
    acceptor *a = calloc(1, sizeof *a);
    ASSERT_NOT_NULL(a);
    *a = (acceptor){lfd, new_conn, conn_main, arg};
    pthread_t t;
    pthread_create(&t, NULL, accept_main, a);
    pthread_detach(t);
}

SSL *
lb_tls_accept(SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

ssize_t
lb_read(int fd, SSL *ssl, void *p, size_t n)
{
    if (ssl) {
        int r = SSL_read(ssl, p, (int)n);
        return r > 0 ? r : -1;
    }
    ssize_t r;
    do
        r = read(fd, p, n);
    while (r < 0 && errno == EINTR);
    return r > 0 ? r : -1;
}

int
lb_write_all(int fd, SSL *ssl, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t r;
        if (ssl)
            r = SSL_write(ssl, s, (int)n);
        else
            r = send(fd, s, n, MSG_NOSIGNAL);
        if (r <= 0)
            return -1;
        s += r;
        n -= (size_t)r;
    }
    return 0;
}

void
lb_conn_close(int fd, SSL *ssl)
{
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
}

static void
add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, x, x, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    ASSERT_NOT_NULL(ex);
    X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
}

/* A fresh key pair and a self-signed certificate for localhost,
 * vault.test and 127.0.0.1 that is also its own CA. */
static void
make_cert(bool expired, EVP_PKEY **key, X509 **cert)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    ASSERT_NOT_NULL(k);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), expired ? -7200 : -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), expired ? -3600 : 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, n);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign");
    add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(x, NID_subject_key_identifier, "hash");
    add_ext(x, NID_subject_alt_name,
            "DNS:localhost,DNS:vault.test,IP:127.0.0.1");
    ASSERT(X509_sign(x, k, EVP_sha256()) > 0);
    *key = k;
    *cert = x;
}

static SSL_CTX *
server_ctx_with(EVP_PKEY *k, X509 *x)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ASSERT_NOT_NULL(ctx);
    ASSERT(SSL_CTX_use_certificate(ctx, x) == 1);
    ASSERT(SSL_CTX_use_PrivateKey(ctx, k) == 1);
    return ctx;
}

void
lb_tls_make(lb_tls *t, lb_tls_opts o)
{
    EVP_PKEY *k;
    X509 *x;
    make_cert(o.expired, &k, &x);

    snprintf(t->cert, sizeof t->cert, "/tmp/lbcertXXXXXX");
    snprintf(t->key, sizeof t->key, "/tmp/lbkeyXXXXXX");
    int cfd = mkstemp(t->cert), kfd = mkstemp(t->key);
    ASSERT(cfd >= 0 && kfd >= 0);
    FILE *cf = fdopen(cfd, "w"), *kf = fdopen(kfd, "w");
    PEM_write_X509(cf, x);
    PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL);
    fclose(cf);
    fclose(kf);

    t->ctx = server_ctx_with(k, x);
    if (o.ask_client_cert)
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    X509_free(x);
    EVP_PKEY_free(k);
}

SSL_CTX *
lb_tls_server_ctx(void)
{
    EVP_PKEY *k;
    X509 *x;
    make_cert(false, &k, &x);
    SSL_CTX *ctx = server_ctx_with(k, x);
    X509_free(x);
    EVP_PKEY_free(k);
    return ctx;
}

void
lb_tls_cleanup(lb_tls *t)
{
    unlink(t->cert);
    unlink(t->key);
}
