/* The common parts of the scripted loopback servers that the upstream
 * client's and the forwarder's unit tests run in threads of the test
 * process: a listening socket on 127.0.0.1, an accept thread that hands
 * every connection to a thread of its own, reads and writes over a plain
 * or a TLS connection, and a self-signed certificate for the TLS servers.
 * What a server answers stays in each test file.
 *
 * Ownership: the caller owns the listening socket, each connection (it
 * closes it with lb_conn_close) and the lb_tls it made (lb_tls_cleanup
 * removes the files; the SSL_CTX lives as long as the test process), and
 * a context from lb_tls_server_ctx. */
#ifndef VP_TEST_LOOPBACK_H
#define VP_TEST_LOOPBACK_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A listening TCP socket on 127.0.0.1:port (0: any free port); the port
 * it got goes to *bound_port. */
int lb_listen(int port, int *bound_port);

/* Starts a detached thread that accepts on lfd until it fails: for every
 * connection, new_conn(fd, arg) runs in that thread (so it may count
 * connections in order) and what it returns goes to conn_main in a
 * detached thread of its own. */
void lb_accept_in_thread(int lfd, void *(*new_conn)(int fd, void *arg),
                         void *(*conn_main)(void *conn), void *arg);

/* The TLS server side of an accepted connection, or NULL when the
 * handshake failed. */
SSL *lb_tls_accept(SSL_CTX *ctx, int fd);

/* Reads what is there (at most n bytes): the count, or -1 at the end of
 * the stream or on an error. */
ssize_t lb_read(int fd, SSL *ssl, void *p, size_t n);

/* Writes all n bytes: 0, or -1 when the peer went away. */
int lb_write_all(int fd, SSL *ssl, const void *p, size_t n);

/* Shuts TLS down (when there is any) and closes the socket. */
void lb_conn_close(int fd, SSL *ssl);

typedef struct {
    char cert[64], key[64]; /* PEM files under /tmp */
    SSL_CTX *ctx;           /* a server context with that key pair */
} lb_tls;

typedef struct {
    bool expired;         /* valid until an hour ago */
    bool ask_client_cert; /* the server asks the client for a certificate */
} lb_tls_opts;

/* A self-signed certificate for localhost, vault.test and 127.0.0.1 that
 * is also its own CA, for server and client use. */
void lb_tls_make(lb_tls *t, lb_tls_opts o);
void lb_tls_cleanup(lb_tls *t);

/* A server context with such a certificate, kept in memory only (for
 * tests that drive both TLS ends through memory BIOs); the caller frees
 * it with SSL_CTX_free. */
SSL_CTX *lb_tls_server_ctx(void);

#endif
