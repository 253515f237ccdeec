/* The RFC 6455 framing codec (upstream/ws_frame): client frames are masked
 * and sized as the RFC says; server frames decode the same whether they
 * come whole, byte by byte or several in one read; fragments join into
 * messages with control frames between them; every violation a client
 * must refuse is refused with the right close code. */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "upstream/ws_frame.h"

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* An unmasked server frame. */
static size_t
server_frame(uint8_t *out, unsigned b0, const void *p, size_t n)
{
    size_t h = 0;
    out[h++] = (uint8_t)b0;
    if (n < 126) {
        out[h++] = (uint8_t)n;
    } else if (n <= 0xFFFF) {
        out[h++] = 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (n)
        memcpy(out + h, p, n);
    return h + n;
}

/* Feeds bytes in pieces of `piece` and records the events in order. */
typedef struct {
    vpd_ws_event ev[16];
    char text[16][256];
    int n;
} seen;

static void
feed(vpd_ws_decoder *d, const uint8_t *p, size_t n, size_t piece, seen *s)
{
    size_t off = 0;
    while (off < n) {
        size_t k = n - off < piece ? n - off : piece;
        size_t pos = 0;
        while (pos < k) {
            size_t used = 0;
            vpd_ws_event e =
                vpd_ws_decode(d, (const char *)p + off + pos, k - pos, &used);
            ASSERT(used <= k - pos);
            pos += used;
            if (e == VPD_WS_MORE) {
                ASSERT_INT_EQ(pos, k);
                break;
            }
            ASSERT(s->n < 16);
            s->ev[s->n] = e;
            if (e == VPD_WS_MESSAGE)
                snprintf(s->text[s->n], 256, "%.*s", (int)d->msg_len, d->msg);
            else if (e == VPD_WS_PING || e == VPD_WS_PONG)
                snprintf(s->text[s->n], 256, "%.*s", (int)d->ctl_len,
                         (const char *)d->ctl);
            else if (e == VPD_WS_CLOSE)
                snprintf(s->text[s->n], 256, "%u %s", d->close_code,
                         d->close_reason);
            else if (e == VPD_WS_ERROR)
                snprintf(s->text[s->n], 256, "%u", d->error_code);
            s->n++;
            if (e == VPD_WS_ERROR || e == VPD_WS_CLOSE)
                return;
        }
        off += k;
    }
}

/* Decodes one byte string and expects one error with that close code. */
static void
expect_error(const uint8_t *p, size_t n, uint16_t code)
{
    for (size_t piece = 1; piece <= n; piece += n > 20 ? 7 : 1) {
        vpd_ws_decoder d;
        vpd_ws_decoder_init(&d, 1 << 20, 1 << 20);
        seen s = {0};
        feed(&d, p, n, piece, &s);
        ASSERT(s.n >= 1);
        ASSERT_INT_EQ(s.ev[s.n - 1], VPD_WS_ERROR);
        ASSERT_INT_EQ(d.error_code, code);
        ASSERT_NOT_NULL(d.error);
        /* Nothing more is taken after an error. */
        size_t used = 7;
        ASSERT_INT_EQ(vpd_ws_decode(&d, "\x81\x00", 2, &used), VPD_WS_ERROR);
        ASSERT_INT_EQ(used, 0);
        vpd_ws_decoder_free(&d);
    }
}

TEST(encode_small_frame_is_masked)
{
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_ws_encode(&b, VPD_WS_OP_TEXT, true, "Hello", 5, MASK), 0);
    ASSERT_INT_EQ(b.len, 2 + 4 + 5);
    const uint8_t *u = (const uint8_t *)b.data;
    ASSERT_INT_EQ(u[0], 0x81);
    ASSERT_INT_EQ(u[1], 0x80 | 5);
    ASSERT(memcmp(u + 2, MASK, 4) == 0);
    for (int i = 0; i < 5; i++)
        ASSERT_INT_EQ(u[6 + i] ^ MASK[i & 3], (uint8_t) "Hello"[i]);
    vpd_buf_free(&b);
}

TEST(encode_lengths_use_the_shortest_form)
{
    static char big[70000];
    size_t lens[] = {0, 125, 126, 65535, 65536, 70000};
    size_t heads[] = {6, 6, 8, 8, 14, 14};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        vpd_buf b = VPD_BUF_INIT;
        ASSERT_INT_EQ(
            vpd_ws_encode(&b, VPD_WS_OP_BINARY, false, big, lens[i], MASK), 0);
        ASSERT_INT_EQ(b.len, heads[i] + lens[i]);
        const uint8_t *u = (const uint8_t *)b.data;
        ASSERT_INT_EQ(u[0], 0x02); /* not final */
        if (heads[i] == 8) {
            ASSERT_INT_EQ(u[1], 0x80 | 126);
            ASSERT_INT_EQ(((size_t)u[2] << 8) | u[3], lens[i]);
        } else if (heads[i] == 14) {
            ASSERT_INT_EQ(u[1], 0x80 | 127);
            uint64_t l = 0;
            for (int k = 2; k < 10; k++)
                l = (l << 8) | u[k];
            ASSERT_INT_EQ(l, lens[i]);
        } else {
            ASSERT_INT_EQ(u[1], 0x80 | lens[i]);
        }
        vpd_buf_free(&b);
    }
}

TEST(encode_refuses_bad_control_frames)
{
    char p[126] = {0};
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_ws_encode(&b, VPD_WS_OP_PING, true, p, 126, MASK), -1);
    ASSERT_INT_EQ(vpd_ws_encode(&b, VPD_WS_OP_PING, false, p, 1, MASK), -1);
    ASSERT_INT_EQ(vpd_ws_encode(&b, 16, true, p, 1, MASK), -1);
    ASSERT_INT_EQ(b.len, 0);
    ASSERT_INT_EQ(vpd_ws_encode(&b, VPD_WS_OP_PONG, true, p, 125, MASK), 0);
    vpd_buf_free(&b);
}

TEST(encode_close_carries_code_and_reason)
{
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_ws_encode_close(&b, 1000, "bye", MASK), 0);
    const uint8_t *u = (const uint8_t *)b.data;
    ASSERT_INT_EQ(u[0], 0x88);
    ASSERT_INT_EQ(u[1], 0x80 | 5);
    ASSERT_INT_EQ(u[6] ^ MASK[0], 0x03);
    ASSERT_INT_EQ(u[7] ^ MASK[1], 0xE8);
    ASSERT_INT_EQ(u[8] ^ MASK[2], 'b');
    vpd_buf_reset(&b);
    char longr[300];
    memset(longr, 'x', sizeof longr - 1);
    longr[sizeof longr - 1] = '\0';
    ASSERT_INT_EQ(vpd_ws_encode_close(&b, 1001, longr, MASK), 0);
    ASSERT_INT_EQ(b.len, 6 + 125);
    vpd_buf_reset(&b);
    ASSERT_INT_EQ(vpd_ws_encode_close(&b, 0, NULL, MASK), 0);
    ASSERT_INT_EQ(b.len, 6);
    vpd_buf_free(&b);
}

/* A client's own frame, unmasked, decodes to what was sent: the encoder
 * and decoder agree on every length form. */
TEST(encoder_and_decoder_agree_on_lengths)
{
    static char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        const uint8_t zero[4] = {0, 0, 0, 0};
        vpd_buf b = VPD_BUF_INIT;
        ASSERT_INT_EQ(
            vpd_ws_encode(&b, VPD_WS_OP_TEXT, true, big, lens[i], zero), 0);
        /* Drop the mask bit and key: a server frame of the same bytes. */
        uint8_t *u = (uint8_t *)b.data;
        size_t hl = b.len - lens[i] - 4;
        u[1] &= 0x7F;
        memmove(u + hl, u + hl + 4, lens[i]);
        vpd_ws_decoder d;
        vpd_ws_decoder_init(&d, 1 << 20, 1 << 20);
        size_t used;
        ASSERT_INT_EQ(vpd_ws_decode(&d, b.data, b.len - 4, &used),
                      VPD_WS_MESSAGE);
        ASSERT_INT_EQ(used, b.len - 4);
        ASSERT_INT_EQ(d.msg_len, lens[i]);
        ASSERT(memcmp(d.msg, big, lens[i]) == 0);
        vpd_ws_decoder_free(&d);
        vpd_buf_free(&b);
    }
}

TEST(frames_split_at_every_byte_and_coalesced)
{
    uint8_t in[600];
    size_t n = 0;
    n += server_frame(in + n, 0x81, "first", 5);
    n += server_frame(in + n, 0x89, "hb", 2);
    char mid[300];
    memset(mid, 'm', sizeof mid);
    n += server_frame(in + n, 0x82, mid, sizeof mid);
    n += server_frame(in + n, 0x8A, "", 0);
    n += server_frame(in + n, 0x81, "", 0);
    for (size_t piece = 1; piece <= n; piece++) {
        vpd_ws_decoder d;
        vpd_ws_decoder_init(&d, 1 << 20, 1 << 20);
        seen s = {0};
        feed(&d, in, n, piece, &s);
        ASSERT_INT_EQ(s.n, 5);
        ASSERT_INT_EQ(s.ev[0], VPD_WS_MESSAGE);
        ASSERT_STR_EQ(s.text[0], "first");
        ASSERT_INT_EQ(s.ev[1], VPD_WS_PING);
        ASSERT_STR_EQ(s.text[1], "hb");
        ASSERT_INT_EQ(s.ev[2], VPD_WS_MESSAGE);
        ASSERT_INT_EQ(strlen(s.text[2]), 255); /* 300 'm', truncated */
        ASSERT_INT_EQ(s.ev[3], VPD_WS_PONG);
        ASSERT_INT_EQ(s.ev[4], VPD_WS_MESSAGE);
        ASSERT_STR_EQ(s.text[4], "");
        vpd_ws_decoder_free(&d);
    }
}

TEST(fragments_join_with_control_frames_between)
{
    uint8_t in[200];
    size_t n = 0;
    n += server_frame(in + n, 0x01, "{\"a\":", 5); /* text, not final */
    n += server_frame(in + n, 0x89, "p", 1);       /* ping in between */
    n += server_frame(in + n, 0x00, "1", 1);       /* continuation */
    n += server_frame(in + n, 0x8A, "q", 1);       /* pong in between */
    n += server_frame(in + n, 0x80, "}", 1);       /* final continuation */
    n += server_frame(in + n, 0x88, "\x03\xe8ok", 4);
    for (size_t piece = 1; piece <= n; piece++) {
        vpd_ws_decoder d;
        vpd_ws_decoder_init(&d, 1 << 20, 1 << 20);
        seen s = {0};
        feed(&d, in, n, piece, &s);
        ASSERT_INT_EQ(s.n, 4);
        ASSERT_INT_EQ(s.ev[0], VPD_WS_PING);
        ASSERT_STR_EQ(s.text[0], "p");
        ASSERT_INT_EQ(s.ev[1], VPD_WS_PONG);
        ASSERT_INT_EQ(s.ev[2], VPD_WS_MESSAGE);
        ASSERT_STR_EQ(s.text[2], "{\"a\":1}");
        ASSERT_INT_EQ(d.msg_opcode, VPD_WS_OP_TEXT);
        ASSERT_INT_EQ(s.ev[3], VPD_WS_CLOSE);
        ASSERT_STR_EQ(s.text[3], "1000 ok");
        vpd_ws_decoder_free(&d);
    }
}

TEST(close_without_code_is_no_status)
{
    uint8_t in[8];
    size_t n = server_frame(in, 0x88, "", 0);
    vpd_ws_decoder d;
    vpd_ws_decoder_init(&d, 1024, 1024);
    size_t used;
    ASSERT_INT_EQ(vpd_ws_decode(&d, (char *)in, n, &used), VPD_WS_CLOSE);
    ASSERT_INT_EQ(d.close_code, VPD_WS_CLOSE_NO_STATUS);
    /* Nothing more after a close. */
    ASSERT_INT_EQ(vpd_ws_decode(&d, (char *)in, n, &used), VPD_WS_CLOSE);
    ASSERT_INT_EQ(used, 0);
    vpd_ws_decoder_free(&d);
}

TEST(protocol_violations_are_refused)
{
    uint8_t in[300];
    size_t n;
    /* Reserved bits (no extension was negotiated). */
    n = server_frame(in, 0xC1, "x", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    /* Unknown opcodes, data and control. */
    n = server_frame(in, 0x83, "x", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    n = server_frame(in, 0x8B, "x", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    /* A masked frame from the server. */
    n = server_frame(in, 0x81, "x", 1);
    in[1] |= 0x80;
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    /* Fragmented and oversize control frames. */
    n = server_frame(in, 0x09, "x", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    char p[200] = {0};
    n = server_frame(in, 0x89, p, 126);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    /* A continuation with no message, a new message inside one. */
    n = server_frame(in, 0x80, "x", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    n = server_frame(in, 0x01, "x", 1);
    n += server_frame(in + n, 0x81, "y", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    /* Lengths not in their shortest form, or with the top bit set. */
    const uint8_t l16[] = {0x81, 126, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e'};
    expect_error(l16, sizeof l16, VPD_WS_CLOSE_PROTOCOL);
    const uint8_t l64[] = {0x81, 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    expect_error(l64, sizeof l64, VPD_WS_CLOSE_PROTOCOL);
    const uint8_t top[] = {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_error(top, sizeof top, VPD_WS_CLOSE_PROTOCOL);
    /* Close payloads: one byte, codes never sent on the wire. */
    n = server_frame(in, 0x88, "\x03", 1);
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    n = server_frame(in, 0x88, "\x03\xed", 2); /* 1005 */
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    n = server_frame(in, 0x88, "\x03\xe7", 2); /* 999 */
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
    n = server_frame(in, 0x88, "\x13\x88", 2); /* 5000 */
    expect_error(in, n, VPD_WS_CLOSE_PROTOCOL);
}

TEST(text_must_be_utf8)
{
    uint8_t in[64];
    size_t n = server_frame(in, 0x81, "\xc3\x28", 2);
    expect_error(in, n, VPD_WS_CLOSE_BAD_DATA);
    /* Split across fragments, a character is still whole. */
    n = server_frame(in, 0x01, "\xe2\x82", 2);
    n += server_frame(in + n, 0x80, "\xac", 1);
    vpd_ws_decoder d;
    vpd_ws_decoder_init(&d, 1024, 1024);
    seen s = {0};
    feed(&d, in, n, 1, &s);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT_INT_EQ(s.ev[0], VPD_WS_MESSAGE);
    ASSERT_STR_EQ(s.text[0], "\xe2\x82\xac");
    vpd_ws_decoder_free(&d);
    /* Binary messages are not checked. */
    n = server_frame(in, 0x82, "\xff", 1);
    vpd_ws_decoder_init(&d, 1024, 1024);
    size_t used;
    ASSERT_INT_EQ(vpd_ws_decode(&d, (char *)in, n, &used), VPD_WS_MESSAGE);
    vpd_ws_decoder_free(&d);
    /* A close reason too. */
    n = server_frame(in, 0x88, "\x03\xe8\xff", 3);
    expect_error(in, n, VPD_WS_CLOSE_BAD_DATA);
}

TEST(utf8_validator)
{
    ASSERT(vpd_ws_utf8_valid("", 0));
    ASSERT(vpd_ws_utf8_valid("plain", 5));
    ASSERT(vpd_ws_utf8_valid("\xc2\xa9", 2));
    ASSERT(vpd_ws_utf8_valid("\xf0\x9f\x98\x80", 4));
    ASSERT(vpd_ws_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    ASSERT(!vpd_ws_utf8_valid("\xc0\xaf", 2));         /* overlong */
    ASSERT(!vpd_ws_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    ASSERT(!vpd_ws_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ASSERT(!vpd_ws_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ASSERT(!vpd_ws_utf8_valid("\xe2\x82", 2));         /* truncated */
    ASSERT(!vpd_ws_utf8_valid("\x80", 1));
    ASSERT(!vpd_ws_utf8_valid("\xf8\x88\x80\x80\x80", 5));
}

TEST(limits_on_frames_and_messages)
{
    uint8_t in[300];
    char p[200];
    memset(p, 'z', sizeof p);
    /* One frame above the frame limit. */
    size_t n = server_frame(in, 0x81, p, 101);
    vpd_ws_decoder d;
    vpd_ws_decoder_init(&d, 100, 1000);
    size_t used;
    ASSERT_INT_EQ(vpd_ws_decode(&d, (char *)in, n, &used), VPD_WS_ERROR);
    ASSERT_INT_EQ(d.error_code, VPD_WS_CLOSE_TOO_BIG);
    vpd_ws_decoder_free(&d);
    /* Fragments each under the frame limit, together over the message
     * limit: refused at the header of the fragment that crosses it,
     * before its payload is read. */
    n = server_frame(in, 0x01, p, 60);
    n += server_frame(in + n, 0x00, p, 60);
    vpd_ws_decoder_init(&d, 100, 100);
    seen s = {0};
    feed(&d, in, n, 3, &s);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT_INT_EQ(s.ev[0], VPD_WS_ERROR);
    ASSERT_INT_EQ(d.error_code, VPD_WS_CLOSE_TOO_BIG);
    vpd_ws_decoder_free(&d);
    /* Exactly at the limits is fine. */
    n = server_frame(in, 0x01, p, 50);
    n += server_frame(in + n, 0x80, p, 50);
    vpd_ws_decoder_init(&d, 50, 100);
    memset(&s, 0, sizeof s);
    feed(&d, in, n, 7, &s);
    ASSERT_INT_EQ(s.n, 1);
    ASSERT_INT_EQ(s.ev[0], VPD_WS_MESSAGE);
    ASSERT_INT_EQ(d.msg_len, 100);
    vpd_ws_decoder_free(&d);
}

TEST(a_huge_declared_length_allocates_nothing)
{
    /* 2^40 bytes declared: refused by the limit, not by malloc. */
    const uint8_t in[] = {0x82, 127, 0, 0, 0x01, 0, 0, 0, 0, 0};
    vpd_ws_decoder d;
    vpd_ws_decoder_init(&d, 1 << 20, 1 << 20);
    size_t used;
    ASSERT_INT_EQ(vpd_ws_decode(&d, (const char *)in, sizeof in, &used),
                  VPD_WS_ERROR);
    ASSERT_INT_EQ(d.error_code, VPD_WS_CLOSE_TOO_BIG);
    ASSERT_NULL(d.body.data);
    vpd_ws_decoder_free(&d);
}

int
main(void)
{
    return RUN_TESTS(T(encode_small_frame_is_masked),
                     T(encode_lengths_use_the_shortest_form),
                     T(encode_refuses_bad_control_frames),
                     T(encode_close_carries_code_and_reason),
                     T(encoder_and_decoder_agree_on_lengths),
                     T(frames_split_at_every_byte_and_coalesced),
                     T(fragments_join_with_control_frames_between),
                     T(close_without_code_is_no_status),
                     T(protocol_violations_are_refused), T(text_must_be_utf8),
                     T(utf8_validator), T(limits_on_frames_and_messages),
                     T(a_huge_declared_length_allocates_nothing));
}
