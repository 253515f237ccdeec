/* The TLS byte pump (http/tls.c) as the upstream client drives it, against
 * an OpenSSL server in memory: a request in several buffers becomes one
 * record, input split anywhere still decrypts, ciphertext is taken in
 * place, close_notify and garbage are told apart without trusting the
 * thread's error queue, and the client offers AES-128-GCM first. */
#include "autoconf.h"

#include <openssl/err.h>
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

typedef struct {
    SSL_CTX *sctx;
    SSL *server;
    BIO *srd, *swr; /* the server's input and output */
    vpd_up_tls *tls;
    vpd_tls_conn *client;
    vpd_buf plain; /* what the client decrypted */
} pair_t;

/* Moves the client's ciphertext to the server, in place. */
static void
client_to_server(pair_t *p)
{
    size_t n;
    const char *out = vpd_tls_conn_output(p->client, &n);
    if (n) {
        ASSERT(BIO_write(p->srd, out, (int)n) == (int)n);
        vpd_tls_conn_output_done(p->client, n);
    }
    ASSERT_INT_EQ(vpd_tls_conn_pending_output(p->client), 0);
}

/* Hands the client everything the server wrote, `step` bytes at a time
 * (0: all at once); returns the last vpd_tls_conn_recv result. */
static int
server_to_client(pair_t *p, size_t step)
{
    char err[256] = "";
    int r = VPD_TLS_OK;
    vpd_buf all = VPD_BUF_INIT;
    char chunk[4096];
    int got;
    while ((got = BIO_read(p->swr, chunk, sizeof chunk)) > 0)
        ASSERT(vpd_buf_append(&all, chunk, (size_t)got) == 0);
    size_t off = 0;
    while (off < all.len && r == VPD_TLS_OK) {
        size_t n = step && step < all.len - off ? step : all.len - off;
        r = vpd_tls_conn_recv(p->client, all.data + off, n, &p->plain, err,
                              sizeof err);
        off += n;
    }
    vpd_buf_free(&all);
    return r;
}

static void
pair_open(pair_t *p)
{
    memset(p, 0, sizeof *p);
    p->sctx = lb_tls_server_ctx();
    p->server = SSL_new(p->sctx);
    p->srd = BIO_new(BIO_s_mem());
    p->swr = BIO_new(BIO_s_mem());
    ASSERT(p->server && p->srd && p->swr);
    BIO_set_mem_eof_return(p->srd, -1);
    BIO_set_mem_eof_return(p->swr, -1);
    SSL_set_bio(p->server, p->srd, p->swr);
    SSL_set_accept_state(p->server);
    char err[256] = "";
    vpd_up_tls_opts o = {.skip_verify = true};
    p->tls = vpd_up_tls_new(&o, err, sizeof err);
    ASSERT_NOT_NULL(p->tls);
    p->client = vpd_up_tls_conn_new(p->tls, "localhost");
    ASSERT_NOT_NULL(p->client);
    bool server_done = false;
    for (int round = 0; round < 20; round++) {
        char e[256];
        ASSERT_INT_EQ(
            vpd_tls_conn_recv(p->client, NULL, 0, &p->plain, e, sizeof e),
            VPD_TLS_OK);
        client_to_server(p);
        if (!server_done)
            server_done = SSL_do_handshake(p->server) == 1;
        ASSERT_INT_EQ(server_to_client(p, 0), VPD_TLS_OK);
        if (server_done && vpd_tls_conn_established(p->client) && round > 2)
            break;
    }
    ASSERT(server_done);
    ASSERT(vpd_tls_conn_established(p->client));
    client_to_server(p);
    ASSERT_INT_EQ(p->plain.len, 0);
}

static void
pair_close(pair_t *p)
{
    vpd_tls_conn_free(p->client);
    vpd_up_tls_unref(p->tls);
    SSL_free(p->server);
    SSL_CTX_free(p->sctx);
    vpd_buf_free(&p->plain);
}

/* Splits the server's pending input into TLS records: their count and the
 * length field of each (up to `max`). */
static int
records_in(BIO *b, size_t *lens, int max)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    int count = 0;
    long off = 0;
    while (off + 5 <= n) {
        size_t len = ((size_t)(unsigned char)data[off + 3] << 8) |
                     (unsigned char)data[off + 4];
        ASSERT_INT_EQ((unsigned char)data[off], 0x17); /* application data */
        if (count < max)
            lens[count] = len;
        count++;
        off += 5 + (long)len;
    }
    ASSERT_INT_EQ(off, n);
    return count;
}

/* Everything the server can read now. */
static void
server_read_all(pair_t *p, vpd_buf *out)
{
    char chunk[4096];
    size_t got;
    while (SSL_read_ex(p->server, chunk, sizeof chunk, &got) == 1)
        ASSERT(vpd_buf_append(out, chunk, got) == 0);
}

TEST(head_and_body_go_out_as_one_record)
{
    pair_t p;
    pair_open(&p);
    static const char head[] = "POST /v1/x HTTP/1.1\r\nHost: v\r\n"
                               "Content-Length: 7\r\n\r\n";
    static const char body[] = "{\"a\":1}";
    uv_buf_t bufs[3] = {uv_buf_init((char *)head, sizeof head - 1),
                        uv_buf_init(NULL, 0),
                        uv_buf_init((char *)body, sizeof body - 1)};
    ASSERT_INT_EQ(vpd_tls_conn_sendv(p.client, bufs, 3), 0);
    client_to_server(&p);
    size_t lens[4];
    ASSERT_INT_EQ(records_in(p.srd, lens, 4), 1);
    /* TLS 1.3: the content type byte and a 16-byte tag around the text. */
    ASSERT_INT_EQ(lens[0], sizeof head - 1 + sizeof body - 1 + 17);
    vpd_buf got = VPD_BUF_INIT;
    server_read_all(&p, &got);
    ASSERT_INT_EQ(got.len, sizeof head - 1 + sizeof body - 1);
    ASSERT(memcmp(got.data, head, sizeof head - 1) == 0);
    ASSERT(memcmp(got.data + sizeof head - 1, body, sizeof body - 1) == 0);
    vpd_buf_free(&got);
    pair_close(&p);
}

TEST(large_requests_are_gathered_into_full_records)
{
    pair_t p;
    pair_open(&p);
    size_t sizes[3] = {10000, 20000, 5};
    char *parts[3];
    uv_buf_t bufs[3];
    for (int i = 0; i < 3; i++) {
        parts[i] = malloc(sizes[i]);
        ASSERT_NOT_NULL(parts[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            parts[i][j] = (char)('a' + (i * 7 + j) % 26);
        bufs[i] = uv_buf_init(parts[i], (unsigned)sizes[i]);
    }
    ASSERT_INT_EQ(vpd_tls_conn_sendv(p.client, bufs, 3), 0);
    client_to_server(&p);
    size_t lens[4];
    ASSERT_INT_EQ(records_in(p.srd, lens, 4), 2);
    ASSERT_INT_EQ(lens[0], 16384 + 17);
    ASSERT_INT_EQ(lens[1], 30005 - 16384 + 17);
    vpd_buf got = VPD_BUF_INIT;
    server_read_all(&p, &got);
    ASSERT_INT_EQ(got.len, 30005);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        ASSERT(memcmp(got.data + off, parts[i], sizes[i]) == 0);
        off += sizes[i];
        free(parts[i]);
    }
    vpd_buf_free(&got);
    pair_close(&p);
}

TEST(input_split_anywhere_is_decrypted_whole)
{
    pair_t p;
    pair_open(&p);
    vpd_buf want = VPD_BUF_INIT;
    for (int i = 0; want.len < 40000; i++)
        ASSERT(vpd_buf_printf(&want, "line %d of the answer\n", i) == 0);
    /* Three records of different sizes, handed over a byte, 7 bytes and
     * 1000 bytes at a time. */
    size_t steps[3] = {1, 7, 1000};
    for (int s = 0; s < 3; s++) {
        p.plain.len = 0;
        size_t w;
        ASSERT(SSL_write_ex(p.server, want.data, 10, &w) == 1);
        ASSERT(SSL_write_ex(p.server, want.data + 10, 20000, &w) == 1);
        ASSERT(SSL_write_ex(p.server, want.data + 20010, want.len - 20010,
                            &w) == 1);
        ASSERT_INT_EQ(server_to_client(&p, steps[s]), VPD_TLS_OK);
        ASSERT_INT_EQ(p.plain.len, want.len);
        ASSERT(memcmp(p.plain.data, want.data, want.len) == 0);
    }
    vpd_buf_free(&want);
    pair_close(&p);
}

TEST(a_stale_error_in_the_queue_is_not_a_tls_failure)
{
    pair_t p;
    pair_open(&p);
    size_t w;
    ASSERT(SSL_write_ex(p.server, "pong", 4, &w) == 1);
    /* Something else in the thread left an error behind. */
    ERR_raise(ERR_LIB_SYS, 1);
    ASSERT_INT_EQ(server_to_client(&p, 3), VPD_TLS_OK);
    ASSERT_STR_EQ(p.plain.data, "pong");
    ERR_raise(ERR_LIB_SYS, 1);
    uv_buf_t b = uv_buf_init("ping", 4);
    ASSERT_INT_EQ(vpd_tls_conn_sendv(p.client, &b, 1), 0);
    ERR_clear_error();
    pair_close(&p);
}

TEST(close_notify_closes_and_garbage_fails)
{
    pair_t p;
    pair_open(&p);
    size_t w;
    ASSERT(SSL_write_ex(p.server, "last", 4, &w) == 1);
    (void)SSL_shutdown(p.server);
    ASSERT_INT_EQ(server_to_client(&p, 0), VPD_TLS_CLOSED);
    ASSERT_STR_EQ(p.plain.data, "last");
    pair_close(&p);

    pair_open(&p);
    /* A well-formed record header around bytes that do not decrypt. */
    static const char junk[] = "\x17\x03\x03\x00\x20"
                               "0123456789abcdef0123456789abcdef";
    char err[256] = "";
    ASSERT_INT_EQ(vpd_tls_conn_recv(p.client, junk, sizeof junk - 1, &p.plain,
                                    err, sizeof err),
                  VPD_TLS_ERROR);
    ASSERT_STR_CONTAINS(err, "TLS");
    ASSERT_STR_CONTAINS(err, "record mac");
    /* A broken session sends nothing more. */
    uv_buf_t b = uv_buf_init("x", 1);
    ASSERT_INT_EQ(vpd_tls_conn_sendv(p.client, &b, 1), -1);
    pair_close(&p);
}

TEST(output_is_taken_in_place_or_copied)
{
    pair_t p;
    pair_open(&p);
    /* A session that has written nothing yet has nothing to give. */
    vpd_tls_conn *fresh = vpd_up_tls_conn_new(p.tls, "localhost");
    ASSERT_NOT_NULL(fresh);
    size_t none = 1;
    (void)vpd_tls_conn_output(fresh, &none);
    ASSERT_INT_EQ(none, 0);
    vpd_tls_conn_output_done(fresh, 0);
    char nothing[8];
    ASSERT_INT_EQ(vpd_tls_conn_read_output(fresh, nothing, sizeof nothing), 0);
    vpd_tls_conn_free(fresh);
    ASSERT_INT_EQ(vpd_tls_conn_send(p.client, "hello", 5), 0);
    size_t n;
    const char *out = vpd_tls_conn_output(p.client, &n);
    ASSERT_INT_EQ(n, 5 + 5 + 17);
    char copy[64];
    memcpy(copy, out, n);
    /* Part sent now, the rest later, from where it was. */
    vpd_tls_conn_output_done(p.client, 3);
    ASSERT_INT_EQ(vpd_tls_conn_pending_output(p.client), n - 3);
    size_t rest;
    const char *again = vpd_tls_conn_output(p.client, &rest);
    ASSERT_INT_EQ(rest, n - 3);
    ASSERT(memcmp(again, copy + 3, rest) == 0);
    char tail[64];
    ASSERT_INT_EQ(vpd_tls_conn_read_output(p.client, tail, sizeof tail), n - 3);
    ASSERT(memcmp(tail, copy + 3, n - 3) == 0);
    ASSERT_INT_EQ(vpd_tls_conn_pending_output(p.client), 0);
    ASSERT_INT_EQ(vpd_tls_conn_read_output(p.client, tail, sizeof tail), 0);
    ASSERT(BIO_write(p.srd, copy, (int)n) == (int)n);
    vpd_buf got = VPD_BUF_INIT;
    server_read_all(&p, &got);
    ASSERT_STR_EQ(got.data, "hello");
    vpd_buf_free(&got);
    pair_close(&p);
}

TEST(client_offers_aes128_gcm_first)
{
    pair_t p;
    pair_open(&p);
    ASSERT_STR_EQ(
        SSL_CIPHER_get_name(SSL_get_current_cipher(vpd_tls_conn_ssl(p.client))),
        "TLS_AES_128_GCM_SHA256");
    ASSERT_INT_EQ(SSL_version(vpd_tls_conn_ssl(p.client)), TLS1_3_VERSION);
    pair_close(&p);
}

int
main(void)
{
    return RUN_TESTS(T(head_and_body_go_out_as_one_record),
                     T(large_requests_are_gathered_into_full_records),
                     T(input_split_anywhere_is_decrypted_whole),
                     T(a_stale_error_in_the_queue_is_not_a_tls_failure),
                     T(close_notify_closes_and_garbage_fails),
                     T(output_is_taken_in_place_or_copied),
                     T(client_offers_aes128_gcm_first));
}
