/* The quick reader of answer heads (upstream/resp_head) behind the answer
 * reader (upstream/response): every answer is read twice, whole (the quick
 * reader's chance) and one byte at a time (llhttp alone, since no head is
 * ever whole then), and both readings must agree on the outcome, status,
 * headers passed on, body, keep-alive and bytes used.  The ordinary
 * answers must take the quick path, and the unusual ones must not. */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http/hdr_policy.h"
#include "test.h"
#include "upstream/resp_head.h"
#include "upstream/response.h"

typedef struct {
    vpd_up_resp_result res;
    int status;
    bool keep_alive, quick, filtered;
    size_t used;
    char headers[1024]; /* "name=value;" for each header passed on */
    char body[256];
} reading;

/* Reads `text` in pieces of `piece` bytes (0: all at once), as a
 * connection does, ending with the close if the answer is not done. */
static void
read_answer(const char *text, size_t piece, bool is_head, reading *out)
{
    size_t size = strlen(text), off = 0;
    vpd_hdrs h = {0};
    vpd_buf body = VPD_BUF_INIT;
    vpd_up_resp r;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);
    vpd_up_resp_init(&r, false, is_head, &h, &body);
    vpd_up_resp_for_client(&r);
    vpd_up_resp_result res = VPD_UP_RESP_MORE;
    while (off < size && res == VPD_UP_RESP_MORE) {
        size_t n = piece && size - off > piece ? piece : size - off, used = 0;
        res = vpd_up_resp_feed(&r, text + off, n, &used);
        ASSERT(used <= n);
        off += used;
    }
    if (res == VPD_UP_RESP_MORE)
        res = vpd_up_resp_eof(&r);
    out->res = res;
    out->used = off;
    out->quick = r.quick;
    if (res == VPD_UP_RESP_DONE) {
        out->status = r.status;
        out->keep_alive = vpd_up_resp_keep_alive(&r);
        out->filtered = vpd_up_resp_filtered(&r);
        /* What the forwarder does with a list not filtered yet. */
        if (!out->filtered)
            vpd_hdrs_filter(&h, VPD_HDR_TO_CLIENT, is_head || r.status == 304);
        for (size_t i = 0; i < h.n; i++) {
            size_t l = strlen(out->headers);
            snprintf(out->headers + l, sizeof out->headers - l, "%s=%s;",
                     h.v[i].name, h.v[i].value);
        }
        snprintf(out->body, sizeof out->body, "%.*s", (int)body.len,
                 body.data ? body.data : "");
    }
    vpd_up_resp_free(&r);
    vpd_hdrs_free(&h);
    vpd_buf_free(&body);
}

/* Whole and byte by byte agree; returns whether the whole reading took
 * the quick path. */
static bool
agree(const char *text, bool is_head)
{
    reading whole, bytes;
    read_answer(text, 0, is_head, &whole);
    read_answer(text, 1, is_head, &bytes);
    ASSERT(!bytes.quick);
    ASSERT_INT_EQ(whole.res, bytes.res);
    if (whole.res == VPD_UP_RESP_DONE) {
        /* (After an error no byte counts as used.) */
        ASSERT_INT_EQ(whole.used, bytes.used);
        ASSERT_INT_EQ(whole.status, bytes.status);
        ASSERT_INT_EQ(whole.keep_alive, bytes.keep_alive);
        ASSERT_STR_EQ(whole.headers, bytes.headers);
        ASSERT_STR_EQ(whole.body, bytes.body);
    }
    return whole.quick;
}

#define NGINX_HEAD                                                             \
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"                              \
    "Date: Mon, 07 Dec 2026 06:00:00 GMT\r\n"                                  \
    "Content-Type: application/json\r\nContent-Length: 11\r\n"                 \
    "Connection: keep-alive\r\n\r\n"

TEST(an_ordinary_answer_takes_the_quick_path)
{
    reading r;
    read_answer(NGINX_HEAD "{\"data\":1}\n", 0, false, &r);
    ASSERT_INT_EQ(r.res, VPD_UP_RESP_DONE);
    ASSERT(r.quick);
    ASSERT(r.filtered);
    ASSERT(r.keep_alive);
    ASSERT_INT_EQ(r.status, 200);
    /* Framing and Connection were left out while reading. */
    ASSERT_STR_EQ(r.headers, "Server=nginx/1.22.1;"
                             "Date=Mon, 07 Dec 2026 06:00:00 GMT;"
                             "Content-Type=application/json;");
    ASSERT_STR_EQ(r.body, "{\"data\":1}\n");
    ASSERT(agree(NGINX_HEAD "{\"data\":1}\n", false));
    /* llhttp's reading leaves them out while reading too. */
    reading b;
    read_answer(NGINX_HEAD "{\"data\":1}\n", 1, false, &b);
    ASSERT(!b.quick);
    ASSERT(b.filtered);
    ASSERT_STR_EQ(b.headers, r.headers);
}

TEST(llhttp_leaves_the_list_to_the_filter_when_connection_names_more)
{
    static const char text[] =
        "HTTP/1.1 200 OK\r\nX-Thing: 1\r\nConnection: x-thing\r\n"
        "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
    reading r;
    read_answer(text, 0, false, &r);
    ASSERT_INT_EQ(r.res, VPD_UP_RESP_DONE);
    ASSERT(!r.quick);
    ASSERT(!r.filtered); /* X-Thing came first: the filter drops it */
    ASSERT_STR_EQ(r.headers, "");
    ASSERT_STR_EQ(r.body, "x");
    ASSERT(!agree(text, false));
}

TEST(a_body_in_later_reads_and_bytes_after_it)
{
    static const char text[] = NGINX_HEAD "{\"data\":1}\nHTTP/1.1 200";
    /* The head whole in the first read, the body spread over the next. */
    size_t head = strlen(NGINX_HEAD);
    for (size_t piece = head; piece < head + 12; piece++) {
        reading r;
        read_answer(text, piece, false, &r);
        ASSERT_INT_EQ(r.res, VPD_UP_RESP_DONE);
        ASSERT(r.quick);
        ASSERT_STR_EQ(r.body, "{\"data\":1}\n");
        ASSERT_INT_EQ(r.used, head + 11); /* the rest is nobody's */
    }
    ASSERT(agree(text, false));
    /* Cut short: the answer ended early. */
    reading r;
    read_answer(NGINX_HEAD "{\"da", 0, false, &r);
    ASSERT_INT_EQ(r.res, VPD_UP_RESP_ERROR);
}

TEST(ordinary_variants_agree_with_llhttp)
{
    static const char *const quick[] = {
        "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\nETag: x\r\n\r\n",
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n"
        "\r\nok",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nClose: x\r\nY: 1\r\n"
        "Content-Length: 0\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX:\r\n"
        "Y:  spaced \t \r\nZ: a\tb \xc3\xa9\r\n\r\n{}\n",
        "HTTP/1.1 200 \r\nKeep-Alive: timeout=5\r\nTE: x\r\nTrailer: y\r\n"
        "Upgrade: z\r\nProxy-Authenticate: w\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 999 Whatever\r\nContent-Length: 000\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++) {
        if (!agree(quick[i], false)) {
            fprintf(stderr, "not quick: %s\n", quick[i]);
            ASSERT(false);
        }
    }
}

TEST(unusual_answers_go_to_llhttp)
{
    static const char *const slow[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: 1\r\n\r\nclose-delimited",
        "HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
        "Content-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789012\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nConnection: x-thing\r\nX-Thing: 1\r\n"
        "Content-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n"
        "\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01z\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++) {
        if (agree(slow[i], false)) {
            fprintf(stderr, "quick: %s\n", slow[i]);
            ASSERT(false);
        }
    }
}

TEST(head_answers_keep_their_length)
{
    static const char text[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX: 1\r\n\r\n";
    reading r;
    read_answer(text, 0, true, &r);
    ASSERT_INT_EQ(r.res, VPD_UP_RESP_DONE);
    ASSERT(r.quick);
    ASSERT_STR_EQ(r.headers, "Content-Length=42;X=1;");
    ASSERT_STR_EQ(r.body, "");
    ASSERT(agree(text, true));
}

TEST(the_reader_alone)
{
    vpd_up_head h;
    vpd_hdrs l = {0};
    static const char text[] = NGINX_HEAD;
    /* Without a list, and with every header kept. */
    ASSERT_INT_EQ(
        vpd_up_head_read(text, sizeof text - 1, false, false, 1024, NULL, &h),
        VPD_UP_HEAD_READ);
    ASSERT_INT_EQ(h.head_len, sizeof text - 1);
    ASSERT_INT_EQ(h.body_len, 11);
    ASSERT(!h.filtered);
    ASSERT_INT_EQ(
        vpd_up_head_read(text, sizeof text - 1, false, false, 1024, &l, &h),
        VPD_UP_HEAD_READ);
    ASSERT_INT_EQ(l.n, 5);
    /* Checked while read: the listener writes them as they are. */
    for (size_t i = 0; i < l.n; i++)
        ASSERT(l.v[i].line_safe);
    vpd_hdrs_add(&l, "X-Other", "1");
    ASSERT(!l.v[5].line_safe);
    vpd_hdrs_truncate(&l, 5);
    /* A head over the bound, or not whole, is declined and adds nothing. */
    ASSERT_INT_EQ(
        vpd_up_head_read(text, sizeof text - 1, false, false, 64, &l, &h),
        VPD_UP_HEAD_DECLINED);
    ASSERT_INT_EQ(
        vpd_up_head_read(text, sizeof text - 3, false, false, 1024, &l, &h),
        VPD_UP_HEAD_DECLINED);
    ASSERT_INT_EQ(l.n, 5);
    vpd_hdrs_free(&l);
}

int
main(void)
{
    return RUN_TESTS(
        T(an_ordinary_answer_takes_the_quick_path),
        T(llhttp_leaves_the_list_to_the_filter_when_connection_names_more),
        T(a_body_in_later_reads_and_bytes_after_it),
        T(ordinary_variants_agree_with_llhttp), T(unusual_answers_go_to_llhttp),
        T(head_answers_keep_their_length), T(the_reader_alone));
}
