/* The header policy (http/hdr_policy): the flag of every listed name, the
 * filter in both directions, headers named by Connection headers (several
 * of them, comma lists, any case, white space), and the Content-Length
 * rule for HEAD and 304 answers. */
#include "autoconf.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http/hdr_policy.h"
#include "http/hdrs.h"
#include "test.h"

static unsigned
flags_of(const char *name)
{
    return vpd_hdr_flags(name, strlen(name));
}

/* "a,b,c": the names left in h, in order. */
static void
names(const vpd_hdrs *h, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < h->n; i++) {
        if (i)
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, h->v[i].name, len - strlen(out) - 1);
    }
}

static void
filtered(vpd_hdrs *h, vpd_hdr_direction dir, bool keep_length, size_t want_gone,
         const char *want)
{
    char got[1024];
    ASSERT_INT_EQ(vpd_hdrs_filter(h, dir, keep_length), want_gone);
    names(h, got, sizeof got);
    ASSERT_STR_EQ(got, want);
}

TEST(hop_by_hop_names_carry_the_flag)
{
    const char *hop[] = {"Connection",
                         "Keep-Alive",
                         "Proxy-Connection",
                         "Proxy-Authenticate",
                         "Proxy-Authorization",
                         "TE",
                         "Trailer",
                         "Transfer-Encoding",
                         "Upgrade"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++) {
        ASSERT(flags_of(hop[i]) & VPD_HDR_HOP_BY_HOP);
        ASSERT(vpd_hdr_is_hop_by_hop(hop[i]));
    }
    ASSERT(!vpd_hdr_is_hop_by_hop("Content-Length"));
    ASSERT(!vpd_hdr_is_hop_by_hop("X-Vault-Token"));
    ASSERT(!vpd_hdr_is_hop_by_hop("Tex")); /* length matters */
    ASSERT(!vpd_hdr_is_hop_by_hop(NULL));
    /* The _n form looks only at the given bytes. */
    ASSERT(vpd_hdr_is_hop_by_hop_n("TEXT", 2));
}

TEST(other_flags)
{
    ASSERT_INT_EQ(flags_of("Content-Length"), VPD_HDR_FRAMING);
    ASSERT(flags_of("Transfer-Encoding") & VPD_HDR_FRAMING);
    ASSERT(flags_of("Connection") & VPD_HDR_CONNECTION);
    ASSERT(flags_of("Keep-Alive") & VPD_HDR_CONNECTION);
    ASSERT(!(flags_of("Upgrade") & VPD_HDR_CONNECTION));
    ASSERT_INT_EQ(flags_of("Host"), VPD_HDR_NOT_UPSTREAM);
    ASSERT_INT_EQ(flags_of("Expect"), VPD_HDR_NOT_UPSTREAM);
    ASSERT_INT_EQ(flags_of("Accept-Encoding"), VPD_HDR_NOT_UPSTREAM);
    ASSERT_INT_EQ(flags_of("User-Agent"), 0);
    ASSERT_INT_EQ(flags_of("X-Vault-Token"), 0);
}

/* The inline first-letter check in vpd_hdr_flags never turns away a
 * name the table lists: it agrees with the full lookup on every prefix of
 * every listed name, in three casings, and of common other names. */
TEST(the_inline_check_agrees_with_the_lookup)
{
    static const char *names[] = {"Connection",
                                  "Keep-Alive",
                                  "Proxy-Connection",
                                  "Proxy-Authenticate",
                                  "Proxy-Authorization",
                                  "TE",
                                  "Trailer",
                                  "Transfer-Encoding",
                                  "Upgrade",
                                  "Content-Length",
                                  "Host",
                                  "Expect",
                                  "Accept-Encoding",
                                  "User-Agent",
                                  "X-Vault-Token",
                                  "Content-Type",
                                  "Date",
                                  "Server",
                                  "Cache-Control",
                                  "X-Vault-Request",
                                  "Accept",
                                  "Authorization",
                                  "@ost",
                                  "[e",
                                  "1E"};
    size_t listed = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char v[3][32];
        size_t n = strlen(names[i]);
        for (size_t k = 0; k <= n; k++) {
            v[0][k] = names[i][k];
            v[1][k] = (char)toupper((unsigned char)names[i][k]);
            v[2][k] = (char)tolower((unsigned char)names[i][k]);
        }
        for (size_t c = 0; c < 3; c++)
            for (size_t nl = 0; nl <= n; nl++) {
                unsigned fast = vpd_hdr_flags(v[c], nl);
                if (fast != vpd_hdr_flags_lookup(v[c], nl))
                    TEST_FAIL_("%.*s: %u inline, %u looked up", (int)nl, v[c],
                               fast, vpd_hdr_flags_lookup(v[c], nl));
                listed += fast != 0;
            }
    }
    ASSERT_INT_EQ(listed, 13 * 3); /* each listed name, whole, thrice */
}

/* The word-at-a-time name check says what the byte loop says: for the
 * names the router asks about and a few more lengths, with every byte
 * value at every position of the name in either case. */
TEST(the_wide_name_check_agrees_with_the_byte_loop)
{
    static const char *lower[] = {"user-agent", "x-vault-token", "abcdefgh",
                                  "x-1-2-3-4-5-6-7z", "content-length"};
    size_t matches = 0;
    for (size_t i = 0; i < sizeof lower / sizeof *lower; i++) {
        size_t ll = strlen(lower[i]);
        char name[24];
        for (int upper = 0; upper < 2; upper++) {
            for (size_t pos = 0; pos < ll; pos++) {
                for (int b = 0; b < 256; b++) {
                    for (size_t k = 0; k < ll; k++)
                        name[k] =
                            upper ? (char)toupper((unsigned char)lower[i][k])
                                  : lower[i][k];
                    name[pos] = (char)b;
                    bool want = vpd_hdr_name_is(name, ll, lower[i], ll);
                    if (vpd_hdr_name_is_wide(name, ll, lower[i], ll) != want)
                        TEST_FAIL_("%s: byte %d at %zu", lower[i], b, pos);
                    matches += want;
                }
            }
        }
        ASSERT(!vpd_hdr_name_is_wide(lower[i], ll - 1, lower[i], ll));
    }
    /* At a letter's position exactly its two cases match, elsewhere the
     * byte itself: per name and case, twice its length less its
     * non-letters (1, 2, 0, 14 and 1 of them). */
    ASSERT_INT_EQ(matches,
                  2 * (2 * (10 + 13 + 8 + 16 + 14) - (1 + 2 + 0 + 14 + 1)));
}

TEST(names_match_in_any_case)
{
    ASSERT(vpd_hdr_is_hop_by_hop("connection"));
    ASSERT(vpd_hdr_is_hop_by_hop("TRANSFER-ENCODING"));
    ASSERT(vpd_hdr_is_hop_by_hop("te"));
    ASSERT_INT_EQ(flags_of("content-LENGTH"), VPD_HDR_FRAMING);
    ASSERT_INT_EQ(flags_of("hOST"), VPD_HDR_NOT_UPSTREAM);
}

/* Names are compared a word at a time with case folded only where the
 * listed name has a letter: a byte that equals a letter or '-' once bit
 * 0x20 is set (CR for '-', '_' and '@'-row bytes for letters) must not
 * match, in the first word, the last one, or a short tail. */
TEST(near_misses_do_not_match)
{
    static const char *misses[] = {"Content\rLength",
                                   "Content-Lengt\x08",
                                   "\x03ontent-Length",
                                   "Proxy\rAuthorization",
                                   "Proxy-Authorizatio\x0e",
                                   "Keep\rAlive",
                                   "Transfer-Encodin\x07",
                                   "T\x05",
                                   "\x14\x45",
                                   "Hos\x14",
                                   "Content_Length",
                                   "Content-Lengti",
                                   "Connectiom"};
    for (size_t i = 0; i < sizeof misses / sizeof *misses; i++) {
        size_t n = strlen(misses[i]);
        if (vpd_hdr_flags_lookup(misses[i], n) != 0)
            TEST_FAIL_("entry %zu matched a listed name", i);
    }
    /* Every letter of a listed name may be in either case. */
    ASSERT_INT_EQ(flags_of("pROXY-aUTHORIZATIOn"), VPD_HDR_HOP_BY_HOP);
    ASSERT_INT_EQ(flags_of("Content-LengtH"), VPD_HDR_FRAMING);
}

/* The list keeps each name's and value's length: the filter reads the
 * name's instead of measuring it. */
TEST(lengths_are_kept)
{
    vpd_hdrs h = {0};
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "Connection", "close"), 0);
    ASSERT_INT_EQ(vpd_hdrs_addn(&h, "Close-Me", 5, "ab\0cd", 5), 0);
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "X-Kept", NULL), 0);
    ASSERT_INT_EQ(h.v[0].name_len, 10);
    ASSERT_INT_EQ(h.v[0].value_len, 5);
    ASSERT_INT_EQ(h.v[1].name_len, 5);
    ASSERT_INT_EQ(h.v[1].value_len, 5);
    ASSERT_INT_EQ(h.v[2].name_len, 6);
    ASSERT_INT_EQ(h.v[2].value_len, 0);
    /* "Close" (five bytes of "Close-Me") is what Connection names. */
    filtered(&h, VPD_HDR_TO_CLIENT, false, 2, "X-Kept");
    vpd_hdrs_free(&h);
}

TEST(toward_upstream)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Host", "client.example");
    vpd_hdrs_add(&h, "X-Vault-Token", "s.abc");
    vpd_hdrs_add(&h, "content-length", "3");
    vpd_hdrs_add(&h, "Expect", "100-continue");
    vpd_hdrs_add(&h, "Accept-Encoding", "gzip");
    vpd_hdrs_add(&h, "Upgrade", "h2c");
    vpd_hdrs_add(&h, "Proxy-Authorization", "Basic x");
    vpd_hdrs_add(&h, "X-Vault-Namespace", "ns1/");
    vpd_hdrs_add(&h, "Transfer-Encoding", "chunked");
    filtered(&h, VPD_HDR_TO_UPSTREAM, false, 7,
             "X-Vault-Token,X-Vault-Namespace");
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "X-Vault-Token", 0), "s.abc");
    vpd_hdrs_free(&h);
}

TEST(toward_the_client)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    vpd_hdrs_add(&h, "Content-Length", "12");
    vpd_hdrs_add(&h, "Host", "vault"); /* only the upstream side drops it */
    vpd_hdrs_add(&h, "Proxy-Authenticate", "Basic");
    vpd_hdrs_add(&h, "Keep-Alive", "timeout=5");
    vpd_hdrs_add(&h, "Cache-Control", "no-store");
    filtered(&h, VPD_HDR_TO_CLIENT, false, 3,
             "Content-Type,Host,Cache-Control");
    vpd_hdrs_free(&h);
}

TEST(head_and_304_answers_keep_their_length)
{
    ASSERT(vpd_hdr_keeps_length("HEAD", 200));
    ASSERT(vpd_hdr_keeps_length("GET", 304));
    ASSERT(!vpd_hdr_keeps_length("GET", 200));
    ASSERT(!vpd_hdr_keeps_length("head", 200)); /* methods are exact */
    ASSERT(!vpd_hdr_keeps_length(NULL, 200));

    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Length", "99");
    vpd_hdrs_add(&h, "Transfer-Encoding", "chunked");
    filtered(&h, VPD_HDR_TO_CLIENT, vpd_hdr_keeps_length("HEAD", 200), 1,
             "Content-Length");
    vpd_hdrs_free(&h);

    /* The rule is for answers: a request never keeps its length. */
    vpd_hdrs_add(&h, "Content-Length", "99");
    filtered(&h, VPD_HDR_TO_UPSTREAM, true, 1, "");
    vpd_hdrs_free(&h);
}

TEST(headers_named_by_connection_go)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-A", "1");
    vpd_hdrs_add(&h, "Connection", " x-b ,\tX-C,, keep-alive ");
    vpd_hdrs_add(&h, "X-B", "2");
    vpd_hdrs_add(&h, "x-c", "3");
    vpd_hdrs_add(&h, "X-Cc", "4"); /* a longer name is not a match */
    vpd_hdrs_add(&h, "X-D", "5");
    filtered(&h, VPD_HDR_TO_CLIENT, false, 3, "X-A,X-Cc,X-D");
    vpd_hdrs_free(&h);
}

/* Only a header named Connection, in any case, names others: not one
 * whose name starts like it, is shorter, or is a Content- header. */
TEST(only_connection_itself_names_headers)
{
    static const char *not_connection[] = {
        "C",           "Co",          "Con",          "Conn",
        "Connectio",   "Connections", "Content-Type", "Content-Length",
        "Connection-X"};
    for (size_t i = 0; i < sizeof not_connection / sizeof *not_connection;
         i++) {
        vpd_hdrs h = {0};
        vpd_hdrs_add(&h, not_connection[i], "X-Named");
        vpd_hdrs_add(&h, "X-Named", "1");
        char want[64];
        snprintf(want, sizeof want, "%s,X-Named", not_connection[i]);
        filtered(&h, VPD_HDR_TO_CLIENT, true, 0, want);
        vpd_hdrs_free(&h);
    }
    static const char *spellings[] = {"connection", "CONNECTION", "cOnNeCtIoN"};
    for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
        vpd_hdrs h = {0};
        vpd_hdrs_add(&h, spellings[i], "X-Named");
        vpd_hdrs_add(&h, "X-Named", "1");
        vpd_hdrs_add(&h, "X-Other", "2");
        filtered(&h, VPD_HDR_TO_UPSTREAM, false, 2, "X-Other");
        vpd_hdrs_free(&h);
    }
}

TEST(several_connection_headers_all_count)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Early", "named by a later Connection header");
    vpd_hdrs_add(&h, "Connection", "close");
    vpd_hdrs_add(&h, "X-Keep", "k");
    vpd_hdrs_add(&h, "connection", "X-EARLY");
    vpd_hdrs_add(&h, "CONNECTION", "x-late");
    vpd_hdrs_add(&h, "X-Late", "l");
    filtered(&h, VPD_HDR_TO_UPSTREAM, false, 5, "X-Keep");
    vpd_hdrs_free(&h);
}

TEST(many_connection_headers_are_all_read)
{
    /* More Connection headers than the filter keeps at hand: it reads the
     * list itself and still finds the last one's names. */
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Keep", "k");
    for (int i = 0; i < 12; i++)
        vpd_hdrs_add(&h, "Connection", "close");
    vpd_hdrs_add(&h, "Connection", "X-Gone");
    vpd_hdrs_add(&h, "X-Gone", "g");
    vpd_hdrs_add(&h, "X-Keep-Too", "k");
    filtered(&h, VPD_HDR_TO_CLIENT, false, 14, "X-Keep,X-Keep-Too");
    vpd_hdrs_free(&h);
}

TEST(many_connection_tokens_are_all_read)
{
    /* One Connection value with more tokens than the filter splits ahead:
     * the last token still names a header; white space and empty list
     * elements around tokens never count as names. */
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Keep", "k");
    vpd_hdrs_add(&h, "Connection",
                 "a, b,c ,d,e,f,g,h,i,j,k,l,m,n,o,p,q,"
                 " ,, X-Gone\t");
    vpd_hdrs_add(&h, "X-Gone", "g");
    vpd_hdrs_add(&h, "Connection", " , X-Gone-Too ,");
    vpd_hdrs_add(&h, "X-Gone-Too", "g");
    vpd_hdrs_add(&h, "X-Keep-Too", "k");
    filtered(&h, VPD_HDR_TO_CLIENT, false, 4, "X-Keep,X-Keep-Too");
    vpd_hdrs_add(&h, "Connection", "x-keep");
    filtered(&h, VPD_HDR_TO_CLIENT, false, 2, "X-Keep-Too");
    vpd_hdrs_free(&h);
}

/* The list's memory: names and values stay where they are while the list
 * grows, a removed header's bytes are wiped, and a cleared list takes new
 * headers in the memory it kept. */
TEST(header_memory_stays_put_and_is_reused)
{
    vpd_hdrs h = {0};
    char name[32], value[64];
    const char *first_name = NULL, *first_value = NULL;
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "X-Header-%d", i);
        snprintf(value, sizeof value, "value number %d of the list", i);
        ASSERT_INT_EQ(vpd_hdrs_add(&h, name, value), 0);
        if (i == 0) {
            first_name = h.v[0].name;
            first_value = h.v[0].value;
        }
    }
    ASSERT(h.v[0].name == first_name);
    ASSERT_STR_EQ(first_name, "X-Header-0");
    ASSERT_STR_EQ(first_value, "value number 0 of the list");
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "x-header-199", 0),
                  "value number 199 of the list");
    const char *gone = vpd_hdrs_get(&h, "X-Header-7", 0);
    ASSERT_INT_EQ(vpd_hdrs_del(&h, "X-Header-7"), 1);
    ASSERT_INT_EQ(gone[0], '\0'); /* wiped, still ours until cleared */
    ASSERT_INT_EQ(h.n, 199);
    vpd_hdrs_truncate(&h, 1);
    ASSERT_INT_EQ(h.n, 1);
    ASSERT_STR_EQ(h.v[0].value, "value number 0 of the list");
    vpd_hdrs_clear(&h);
    ASSERT_INT_EQ(h.n, 0);
    ASSERT_NOT_NULL(h.mem);
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "A", "1"), 0);
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "B", ""), 0);
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "a", 0), "1");
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "b", 0), "");
    ASSERT(vpd_hdrs_get(&h, "X-Header-0", 0) == NULL);
    /* A moved list (struct copy, source zeroed) keeps working. */
    vpd_hdrs moved = h;
    memset(&h, 0, sizeof h);
    ASSERT_INT_EQ(vpd_hdrs_add(&moved, "C", "3"), 0);
    ASSERT_INT_EQ(moved.n, 3);
    vpd_hdrs_free(&h);
    vpd_hdrs_free(&moved);
    ASSERT(moved.mem == NULL && moved.v == NULL && moved.n == 0);
}

/* Adds that find room in the kept memory and adds that must grow it give
 * the same list: names and values cut to their lengths and NUL-ended, a
 * missing value empty, absurd lengths refused either way; only a checked
 * add marks its header line_safe, whatever the reused slot held before. */
TEST(adds_with_room_and_without_agree)
{
    vpd_hdrs h = {0};
    for (int round = 0; round < 3; round++) {
        /* Round 0 grows everything; later rounds reuse what it kept. */
        for (int i = 0; i < 40; i++) {
            char name[32], value[64];
            int nl = snprintf(name, sizeof name, "X-Name-%dzzz", i);
            int vl = snprintf(value, sizeof value, "v%d-%dyyy", round, i);
            bool checked = (i + round) % 2 == 0;
            ASSERT_INT_EQ((checked ? vpd_hdrs_addn_checked : vpd_hdrs_addn)(
                              &h, name, (size_t)nl - 3, value, (size_t)vl - 3),
                          0);
        }
        ASSERT_INT_EQ(vpd_hdrs_addn(&h, "X-Null", 6, NULL, 5), 0);
        ASSERT_INT_EQ(vpd_hdrs_addn(&h, "X-Huge", 6, "v", (size_t)-1 / 2), -1);
        ASSERT_INT_EQ(vpd_hdrs_addn(&h, NULL, 6, "v", 1), -1);
        ASSERT_INT_EQ(h.n, 41);
        for (int i = 0; i < 40; i++) {
            char name[32], value[64];
            snprintf(name, sizeof name, "X-Name-%d", i);
            snprintf(value, sizeof value, "v%d-%d", round, i);
            ASSERT_STR_EQ(h.v[i].name, name);
            ASSERT_STR_EQ(h.v[i].value, value);
            ASSERT_INT_EQ(h.v[i].name_len, strlen(name));
            ASSERT_INT_EQ(h.v[i].value_len, strlen(value));
            ASSERT(h.v[i].line_safe == ((i + round) % 2 == 0));
        }
        ASSERT(!h.v[40].line_safe);
        ASSERT_STR_EQ(vpd_hdrs_get(&h, "x-null", 0), "");
        ASSERT_INT_EQ(h.v[40].value_len, 0);
        vpd_hdrs_clear(&h);
    }
    ASSERT_INT_EQ(vpd_hdrs_addn(NULL, "A", 1, "b", 1), -1);
    vpd_hdrs_free(&h);
}

TEST(a_connection_header_can_name_a_framing_header)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Connection", "Content-Length");
    vpd_hdrs_add(&h, "Content-Length", "5");
    filtered(&h, VPD_HDR_TO_CLIENT, true, 2, "");
    vpd_hdrs_free(&h);
}

TEST(the_predicate_matches_the_in_place_filter)
{
    /* The forwarder checks names one by one while building its own list;
     * it must reach the same verdicts as vpd_hdrs_filter. */
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Connection", "X-Hop");
    vpd_hdrs_add(&h, "X-Hop", "1");
    vpd_hdrs_add(&h, "Host", "h");
    vpd_hdrs_add(&h, "Accept", "*/*");
    vpd_hdr_filter f;
    vpd_hdr_filter_init(&f, &h, VPD_HDR_TO_UPSTREAM, false);
    ASSERT(vpd_hdr_filter_drops(&f, "Connection", 10));
    ASSERT(vpd_hdr_filter_drops(&f, "x-hop", 5));
    ASSERT(vpd_hdr_filter_drops(&f, "Host", 4));
    ASSERT(!vpd_hdr_filter_drops(&f, "Accept", 6));
    /* Names need no NUL: the length decides. */
    ASSERT(vpd_hdr_filter_drops(&f, "Hostile", 4));
    ASSERT(!vpd_hdr_filter_drops(&f, "X-Hop-Not", 9));

    vpd_hdr_filter none;
    vpd_hdr_filter_init(&none, NULL, VPD_HDR_TO_CLIENT, false);
    ASSERT(!vpd_hdr_filter_drops(&none, "X-Hop", 5));
    ASSERT(!vpd_hdr_filter_drops(&none, "Host", 4));
    vpd_hdrs_free(&h);
}

TEST(nothing_to_drop_changes_nothing)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "B", "2");
    vpd_hdrs_add(&h, "A", "1");
    filtered(&h, VPD_HDR_TO_UPSTREAM, false, 0, "B,A");
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "A", 0), "1");
    ASSERT_INT_EQ(vpd_hdrs_filter(NULL, VPD_HDR_TO_CLIENT, false), 0);
    vpd_hdrs_free(&h);
    filtered(&h, VPD_HDR_TO_CLIENT, false, 0, "");
}

/* The line check the answer writers share: the byte loop, the words and
 * the overlapping last word all find the first NUL, CR or LF wherever it
 * falls, and let every other byte through (tabs and bytes above 0x7f
 * included).  A line_safe header is not looked at again. */
static size_t
line_len_oracle(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            return i;
        if (s[i] == '\r' || s[i] == '\n')
            return SIZE_MAX;
    }
    return len;
}

TEST(header_line_length_finds_what_ends_a_line)
{
    const char special[] = {'\0', '\r', '\n', '\t', '\x0e', '\x80', 'a'};
    char buf[24];
    for (size_t len = 0; len <= sizeof buf; len++)
        for (size_t at = 0; at < len; at++)
            for (size_t k = 0; k < sizeof special; k++) {
                memset(buf, 'v', sizeof buf);
                buf[at] = special[k];
                if (at + 3 < len)
                    buf[at + 3] = '\n'; /* a second one after it */
                ASSERT_INT_EQ(vpd_hdr_line_len(buf, len),
                              line_len_oracle(buf, len));
            }
    vpd_hdrs h = {0};
    ASSERT_INT_EQ(vpd_hdrs_addn(&h, "X-A", 3, "ok\tvalue", 8), 0);
    ASSERT_INT_EQ(vpd_hdrs_addn(&h, "X-B", 3, "a\r\nX-C: 1", 9), 0);
    ASSERT_INT_EQ(vpd_hdrs_addn(&h, "X-D", 3, "cut\0rest", 8), 0);
    size_t nl, vl;
    ASSERT(vpd_hdr_line_lens(&h.v[0], &nl, &vl));
    ASSERT_INT_EQ(nl, 3);
    ASSERT_INT_EQ(vl, 8);
    ASSERT(!vpd_hdr_line_lens(&h.v[1], &nl, &vl));
    ASSERT(vpd_hdr_line_lens(&h.v[2], &nl, &vl));
    ASSERT_INT_EQ(vl, 3);
    /* Marked safe: taken at its stored lengths without a look. */
    h.v[2].line_safe = true;
    ASSERT(vpd_hdr_line_lens(&h.v[2], &nl, &vl));
    ASSERT_INT_EQ(vl, 8);
    vpd_hdrs_free(&h);
}

int
main(void)
{
    return RUN_TESTS(T(hop_by_hop_names_carry_the_flag), T(other_flags),
                     T(the_inline_check_agrees_with_the_lookup),
                     T(the_wide_name_check_agrees_with_the_byte_loop),
                     T(names_match_in_any_case), T(near_misses_do_not_match),
                     T(lengths_are_kept), T(toward_upstream),
                     T(toward_the_client),
                     T(head_and_304_answers_keep_their_length),
                     T(headers_named_by_connection_go),
                     T(only_connection_itself_names_headers),
                     T(several_connection_headers_all_count),
                     T(many_connection_headers_are_all_read),
                     T(many_connection_tokens_are_all_read),
                     T(header_memory_stays_put_and_is_reused),
                     T(adds_with_room_and_without_agree),
                     T(a_connection_header_can_name_a_framing_header),
                     T(the_predicate_matches_the_in_place_filter),
                     T(nothing_to_drop_changes_nothing),
                     T(header_line_length_finds_what_ends_a_line));
}
