/* The upstream client's TLS session saving (upstream/tls_client): a new
 * session is filed under the name its connection was opened for, even when
 * the string the caller passed is gone by the time the session ticket
 * arrives (an upgraded connection, such as the KV event stream, outlives
 * the pool whose name it was given once SIGHUP replaces the TLS files). */
#include "autoconf.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "http/tls.h"
#include "loopback.h"
#include "test.h"
#include "upstream/tls_client.h"

/* Moves bytes between the client connection and an in-memory server until
 * the handshake is done and the server's session tickets have reached the
 * client. */
static void
handshake(vpd_tls_conn *client, SSL *server)
{
    BIO *srd = BIO_new(BIO_s_mem()), *swr = BIO_new(BIO_s_mem());
    ASSERT(srd && swr);
    BIO_set_mem_eof_return(srd, -1);
    BIO_set_mem_eof_return(swr, -1);
    SSL_set_bio(server, srd, swr);
    SSL_set_accept_state(server);
    vpd_buf plain = {0};
    char err[256], chunk[16384];
    bool server_done = false;
    for (int round = 0; round < 20; round++) {
        ASSERT_INT_EQ(
            vpd_tls_conn_recv(client, NULL, 0, &plain, err, sizeof err),
            VPD_TLS_OK);
        size_t n;
        while ((n = vpd_tls_conn_read_output(client, chunk, sizeof chunk)))
            ASSERT(BIO_write(srd, chunk, (int)n) == (int)n);
        if (!server_done)
            server_done = SSL_do_handshake(server) == 1;
        int got;
        while ((got = BIO_read(swr, chunk, sizeof chunk)) > 0)
            ASSERT_INT_EQ(vpd_tls_conn_recv(client, chunk, (size_t)got, &plain,
                                            err, sizeof err),
                          VPD_TLS_OK);
        if (server_done && vpd_tls_conn_established(client) &&
            BIO_ctrl_pending(swr) == 0 && round > 2)
            break;
    }
    ASSERT(server_done);
    ASSERT(vpd_tls_conn_established(client));
    vpd_buf_free(&plain);
}

TEST(session_is_filed_under_the_name_even_after_the_caller_reused_it)
{
    SSL_CTX *sctx = lb_tls_server_ctx();
    char err[256] = "";
    vpd_up_tls_opts o = {.skip_verify = true};
    vpd_up_tls *tls = vpd_up_tls_new(&o, err, sizeof err);
    ASSERT_NOT_NULL(tls);

    /* The caller's string changes (as freed memory would) before the
     * session ticket arrives. */
    char *name = strdup("localhost");
    ASSERT_NOT_NULL(name);
    vpd_tls_conn *c = vpd_up_tls_conn_new(tls, name);
    ASSERT_NOT_NULL(c);
    strcpy(name, "elsewhere");
    free(name);
    SSL *s = SSL_new(sctx);
    ASSERT_NOT_NULL(s);
    handshake(c, s);

    /* The next connection to localhost offers the saved session. */
    vpd_tls_conn *again = vpd_up_tls_conn_new(tls, "localhost");
    ASSERT_NOT_NULL(again);
    ASSERT_NOT_NULL(SSL_get_session(vpd_tls_conn_ssl(again)));
    vpd_tls_conn *other = vpd_up_tls_conn_new(tls, "elsewhere");
    ASSERT_NOT_NULL(other);
    ASSERT_NULL(SSL_get_session(vpd_tls_conn_ssl(other)));

    vpd_tls_conn_free(other);
    vpd_tls_conn_free(again);
    vpd_tls_conn_free(c);
    SSL_free(s);
    vpd_up_tls_unref(tls);
    SSL_CTX_free(sctx);
}

int
main(void)
{
    return RUN_TESTS(
        T(session_is_filed_under_the_name_even_after_the_caller_reused_it));
}
