/* Parts of the lease cache that keep its memory small: the renewal
 * watcher set (renew_timers.h: table by id, one heap, one timer, parked
 * records) checked against a model under random operations and on a real
 * loop, and the stored-answer packer (resp_pack.h: round trips, text of
 * earlier versions, damaged input refused). */
#include "autoconf.h"

#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cache/cache_key.h"
#include "cache/hot_answers.h"
#include "cache/renew_timers.h"
#include "cache/resp_pack.h"

/* ---- renew_timers -------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void
id_of(unsigned n, uint8_t id[VPD_RT_ID_LEN])
{
    memset(id, 0, VPD_RT_ID_LEN);
    memcpy(id, &n, sizeof n);
    id[VPD_RT_ID_LEN - 1] = (uint8_t)(n * 7);
}

#define MODEL_N 3000

typedef struct {
    vpd_rt_set *s;
    vpd_rt *rec[MODEL_N];  /* NULL: not in the set */
    uint64_t due[MODEL_N]; /* 0: not scheduled */
    unsigned fired, wrong;
    uint64_t last_due;
    int order_broken;
} model;

static model M;

static void
on_fire(void *arg, vpd_rt *r)
{
    model *m = arg;
    unsigned n;
    memcpy(&n, r->id, sizeof n);
    if (n >= MODEL_N || m->rec[n] != r || !m->due[n]) {
        m->wrong++;
        return;
    }
    if (m->due[n] < m->last_due)
        m->order_broken = 1;
    m->last_due = m->due[n];
    m->due[n] = 0;
    m->fired++;
}

/* Random adds, schedules, parks and removes; every record stays findable
 * by its id, and the timer fires exactly the scheduled ones, in order. */
TEST(watchers_against_a_model)
{
    uv_loop_t loop;
    ASSERT_INT_EQ(uv_loop_init(&loop), 0);
    memset(&M, 0, sizeof M);
    M.s = vpd_rt_new(&loop, on_fire, &M);
    ASSERT_NOT_NULL(M.s);
    size_t live = 0;
    unsigned scheduled = 0;
    for (int op = 0; op < 40000; op++) {
        unsigned n = (unsigned)(rnd() % MODEL_N);
        uint8_t id[VPD_RT_ID_LEN];
        id_of(n, id);
        switch (rnd() % 5) {
        case 0:
        case 1:
            if (!M.rec[n]) {
                M.rec[n] = vpd_rt_add(M.s, id);
                ASSERT_NOT_NULL(M.rec[n]);
                ASSERT_NULL(vpd_rt_add(M.s, id)); /* no duplicates */
                live++;
            }
            /* A delay of 0..20 ms from "now" (the loop time is frozen
             * while this runs, so due times are exact). */
            uint64_t delay = rnd() % 21;
            vpd_rt_schedule(M.s, M.rec[n], delay);
            if (!M.due[n])
                scheduled++;
            M.due[n] = uv_now(&loop) + delay;
            break;
        case 2:
            if (M.rec[n]) {
                vpd_rt_park(M.s, M.rec[n], n);
                ASSERT_INT_EQ(vpd_rt_parked(M.rec[n]), n);
                if (M.due[n])
                    scheduled--;
                M.due[n] = 0;
            }
            break;
        case 3:
            if (M.rec[n]) {
                vpd_rt_remove(M.s, M.rec[n]);
                M.rec[n] = NULL;
                if (M.due[n])
                    scheduled--;
                M.due[n] = 0;
                live--;
            }
            break;
        default:
            ASSERT(vpd_rt_get(M.s, id) == M.rec[n]);
            break;
        }
        ASSERT_INT_EQ(vpd_rt_count(M.s), live);
    }
    for (unsigned n = 0; n < MODEL_N; n++) {
        uint8_t id[VPD_RT_ID_LEN];
        id_of(n, id);
        ASSERT(vpd_rt_get(M.s, id) == M.rec[n]);
        if (M.rec[n] && !M.due[n])
            ASSERT(vpd_rt_parked(M.rec[n]) == n ||
                   vpd_rt_parked(M.rec[n]) == VPD_RT_NO_TAG);
    }
    /* The loop fires every scheduled record once, earliest first; the run
     * ends by itself (the timer is off once the heap is empty) within the
     * 20 ms of the longest delay. */
    uv_update_time(&loop);
    while (M.fired < scheduled && uv_run(&loop, UV_RUN_ONCE) != 0)
        ;
    ASSERT_INT_EQ(M.fired, scheduled);
    ASSERT_INT_EQ(M.wrong, 0);
    ASSERT_INT_EQ(M.order_broken, 0);
    vpd_rt_close(M.s, NULL, NULL);
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

static int reschedules;
static vpd_rt_set *again_set;

static void
fire_again(void *arg, vpd_rt *r)
{
    (void)arg;
    /* Scheduled again with no delay from inside its own firing: it must
     * wait for the next loop iteration, not spin in this one. */
    if (++reschedules < 4)
        vpd_rt_schedule(again_set, r, 0);
}

TEST(rescheduling_from_fire_does_not_spin)
{
    uv_loop_t loop;
    ASSERT_INT_EQ(uv_loop_init(&loop), 0);
    again_set = vpd_rt_new(&loop, fire_again, NULL);
    ASSERT_NOT_NULL(again_set);
    uint8_t id[VPD_RT_ID_LEN];
    id_of(1, id);
    vpd_rt *r = vpd_rt_add(again_set, id);
    ASSERT_NOT_NULL(r);
    vpd_rt_schedule(again_set, r, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_INT_EQ(reschedules, 1);
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0); /* timer off at last */
    ASSERT_INT_EQ(reschedules, 4);
    vpd_rt_close(again_set, NULL, NULL);
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

/* A record keeps when its lease runs out to the second, never earlier
 * than told; 0 stays 0 (the next firing ends the watcher). */
TEST(watchers_keep_expiry_to_the_second)
{
    uv_loop_t loop;
    ASSERT_INT_EQ(uv_loop_init(&loop), 0);
    vpd_rt_set *s = vpd_rt_new(&loop, on_fire, NULL);
    ASSERT_NOT_NULL(s);
    uint8_t id[VPD_RT_ID_LEN];
    id_of(1, id);
    vpd_rt *r = vpd_rt_add(s, id);
    ASSERT_NOT_NULL(r);
    ASSERT(sizeof *r <= 40);
    uint64_t now = uv_now(&loop);
    const uint64_t later[] = {
        0, 1, 999, 1000, 1001, 3600000, 86400000ULL * 400};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        vpd_rt_set_expires_at(s, r, now + later[i]);
        uint64_t at = vpd_rt_expires_at(s, r);
        ASSERT(at >= now + later[i]);
        ASSERT(at < now + later[i] + 1000);
    }
    vpd_rt_set_expires_at(s, r, 0);
    ASSERT_INT_EQ(vpd_rt_expires_at(s, r), 0);
    r->lease_s = VPD_RT_LEASE_S_MAX;
    r->failures = 15;
    ASSERT_INT_EQ(r->lease_s, VPD_RT_LEASE_S_MAX);
    ASSERT_INT_EQ(r->failures, 15);
    ASSERT(vpd_rt_get(s, id) == r); /* the bit-fields left the id alone */
    vpd_rt_close(s, NULL, NULL);
    ASSERT_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

/* ---- resp_pack ------------------------------------------------------------
 */

static const char ANSWER[] =
    "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
    "Content-Type: application/json\r\n"
    "Date: Mon, 23 Nov 2026 17:14:46 GMT\r\n\r\n"
    "{\"request_id\":\"0d5b9b6e-3f57-3c3a-2f21-7d2f8b1f0c11\",\"lease_id\":"
    "\"database/creds/app/2hH2d1kq5m9QyUgd2dS5QZ1x\",\"renewable\":true,"
    "\"lease_duration\":3600,\"data\":{\"password\":\"A1a-3Hm0nqPz9LqYd5Fg\","
    "\"username\":\"v-approle-app-Qw3rTy\"},\"wrap_info\":null,"
    "\"warnings\":null,\"auth\":null}\n";

TEST(pack_round_trips_and_shrinks)
{
    vpd_resp_packer *pk = vpd_resp_pack_new();
    ASSERT_NOT_NULL(pk);
    size_t plen = 0, tlen = 0;
    char *packed = vpd_resp_pack(pk, ANSWER, sizeof ANSWER - 1, &plen);
    ASSERT_NOT_NULL(packed);
    ASSERT_INT_EQ((unsigned char)packed[0], VPD_RESP_PACKED_2);
    printf("# a %zu-byte lease answer packs into %zu bytes\n",
           sizeof ANSWER - 1, plen);
    ASSERT(plen < (sizeof ANSWER - 1) * 2 / 3);
    for (int round = 0; round < 3; round++) { /* the streams are reused */
        char *text = vpd_resp_unpack(pk, packed, plen, &tlen);
        ASSERT_NOT_NULL(text);
        ASSERT_INT_EQ(tlen, sizeof ANSWER - 1);
        ASSERT_STR_EQ(text, ANSWER);
        free(text);
    }
    /* Binary bytes and the empty body survive too. */
    char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)(i * 37);
    char *pb = vpd_resp_pack(pk, bin, sizeof bin, &plen);
    ASSERT_NOT_NULL(pb);
    char *tb = vpd_resp_unpack(pk, pb, plen, &tlen);
    ASSERT_NOT_NULL(tb);
    ASSERT_INT_EQ(tlen, sizeof bin);
    ASSERT(memcmp(tb, bin, sizeof bin) == 0);
    free(pb);
    free(tb);
    char *pe = vpd_resp_pack(pk, "", 0, &plen);
    ASSERT_NOT_NULL(pe);
    char *te = vpd_resp_unpack(pk, pe, plen, &tlen);
    ASSERT_NOT_NULL(te);
    ASSERT_INT_EQ(tlen, 0);
    free(pe);
    free(te);
    free(packed);
    vpd_resp_pack_free(pk);
}

TEST(unpack_reads_earlier_text_and_refuses_damage)
{
    vpd_resp_packer *pk = vpd_resp_pack_new();
    ASSERT_NOT_NULL(pk);
    size_t tlen = 0, plen = 0;
    /* What earlier versions stored (a persistent cache): as it is. */
    char *t = vpd_resp_unpack(pk, ANSWER, sizeof ANSWER - 1, &tlen);
    ASSERT_NOT_NULL(t);
    ASSERT_STR_EQ(t, ANSWER);
    free(t);
    ASSERT_NULL(vpd_resp_unpack(pk, "garbage", 7, &tlen));
    ASSERT_NULL(vpd_resp_unpack(pk, "", 0, &tlen));
    char *packed = vpd_resp_pack(pk, ANSWER, sizeof ANSWER - 1, &plen);
    ASSERT_NOT_NULL(packed);
    /* Cut short, a wrong length, flipped bytes: refused, never garbage
     * of the announced length. */
    ASSERT_NULL(vpd_resp_unpack(pk, packed, plen - 3, &tlen));
    packed[4] ^= 1;
    ASSERT_NULL(vpd_resp_unpack(pk, packed, plen, &tlen));
    packed[4] ^= 1;
    int refused = 0;
    for (size_t i = 5; i < plen; i++) {
        packed[i] ^= 0x55;
        char *x = vpd_resp_unpack(pk, packed, plen, &tlen);
        if (!x)
            refused++;
        else if (tlen != sizeof ANSWER - 1)
            TEST_FAIL_("byte %zu flipped: %zu bytes out", i, tlen);
        free(x);
        packed[i] ^= 0x55;
    }
    printf("# %d of %zu single-byte corruptions refused (the rest decode to "
           "other text of the same length)\n",
           refused, plen - 5);
    /* And the intact one still unpacks after all that. */
    t = vpd_resp_unpack(pk, packed, plen, &tlen);
    ASSERT_NOT_NULL(t);
    ASSERT_STR_EQ(t, ANSWER);
    free(t);
    free(packed);
    vpd_resp_pack_free(pk);
}

/* ANSWER as versions before VPD_RESP_PACKED_2 stored it (a persistent
 * cache keeps it so): zlib level 6 under the earlier dictionary. */
static const char ANSWER_PACKED_1[] =
    "\xf1\x00\x00\x01\x81\x23\x3e\x12\x09\x85\x0a\x24\x4e\xc0\xd1\x61"
    "\x64\x0c\x0e\x50\x23\x03\x23\x33\x05\x43\x73\x2b\x43\x13\x2b\x13"
    "\x33\x48\xd0\x82\x82\x0e\x25\x0c\x0c\x52\x4c\x93\x2c\x93\xcc\x52"
    "\x75\x8d\xd3\x4c\xcd\x75\x8d\x93\x8d\x13\x75\x8d\xd2\x8c\x0c\x75"
    "\xcd\x53\x8c\xd2\x2c\x92\x0c\xd3\x0c\x92\x0d\x0d\x51\xc3\x09\x14"
    "\x02\x49\x40\x9e\x3e\x30\xc0\x53\x8a\xf5\x81\x0e\xd1\x37\xca\xf0"
    "\x30\x4a\x31\xcc\x2e\x34\xcd\xb5\x0c\xac\x0c\x4d\x4f\x31\x4a\x09"
    "\x36\x0d\x8c\x32\xac\x20\x26\x48\x41\xa9\x0e\x11\xac\x48\x01\xe9"
    "\x68\x98\xa8\x6b\xec\x91\x6b\x90\x57\x18\x50\x65\xe9\x53\x18\x99"
    "\x62\xea\x96\x0e\x34\x10\x29\xe0\xcb\x74\x81\x96\x83\x32\x2a\x88"
    "\xd6\x0d\x2c\x37\x2e\x0a\xa9\x24\x31\xf8\x6b\xb9\x00";

TEST(unpack_reads_the_earlier_packed_form)
{
    vpd_resp_packer *pk = vpd_resp_pack_new();
    ASSERT_NOT_NULL(pk);
    size_t tlen = 0;
    vpd_resp_meta m = {{"database/creds/app/2hH2d1kq5m9QyUgd2dS5QZ1x"}, 9};
    char *t = vpd_resp_unpack_with(pk, ANSWER_PACKED_1,
                                   sizeof ANSWER_PACKED_1 - 1, &m, &tlen);
    ASSERT_NOT_NULL(t);
    ASSERT_STR_EQ(t, ANSWER);
    ASSERT_INT_EQ(m.date, 0); /* its Date is in its text */
    free(t);
    vpd_resp_pack_free(pk);
}

/* The entry's words and the Date travel beside the text: the same words
 * bring the text back, other words do not, and the lease answer shrinks
 * further with its own lease id as a word. */
TEST(pack_with_words_and_date)
{
    vpd_resp_packer *pk = vpd_resp_pack_new();
    ASSERT_NOT_NULL(pk);
    static const char lease[] = "database/creds/app/2hH2d1kq5m9QyUgd2dS5QZ1x";
    vpd_resp_meta m = {{lease, NULL, "acc"}, 1795194886};
    size_t plain_len = 0, plen = 0, tlen = 0;
    char *plain = vpd_resp_pack(pk, ANSWER, sizeof ANSWER - 1, &plain_len);
    char *packed = vpd_resp_pack_with(pk, ANSWER, sizeof ANSWER - 1, &m, &plen);
    ASSERT_NOT_NULL(plain);
    ASSERT_NOT_NULL(packed);
    printf("# with its lease id as a word: %zu bytes, without: %zu\n", plen,
           plain_len);
    ASSERT(plen + 20 < plain_len);
    vpd_resp_meta back = {{lease, NULL, "acc"}, 0};
    char *t = vpd_resp_unpack_with(pk, packed, plen, &back, &tlen);
    ASSERT_NOT_NULL(t);
    ASSERT_STR_EQ(t, ANSWER);
    ASSERT_INT_EQ(back.date, 1795194886);
    free(t);
    vpd_resp_meta other = {{"database/creds/app/other", NULL, "acc"}, 0};
    t = vpd_resp_unpack_with(pk, packed, plen, &other, &tlen);
    ASSERT(!t || strcmp(t, ANSWER) != 0);
    free(t);
    free(plain);
    free(packed);
    vpd_resp_pack_free(pk);
}

/* ---- cache keys ------------------------------------------------------------
 */

TEST(cache_key_hex_and_binary)
{
    vpd_hdrs h = {0};
    char key[VPD_CACHE_KEY_LEN + 1], back[VPD_CACHE_KEY_LEN + 1];
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "t", NULL, key),
                  0);
    unsigned char bin[VPD_CACHE_KEY_BIN_LEN];
    ASSERT_INT_EQ(vpd_cache_key_to_bin(key, bin), 0);
    vpd_cache_key_to_hex(bin, back);
    ASSERT_STR_EQ(back, key);
    ASSERT_INT_EQ(vpd_cache_key_to_bin("auto-auth-1", bin), -1);
    key[10] = 'A'; /* upper case is not what vpd_cache_key writes */
    ASSERT_INT_EQ(vpd_cache_key_to_bin(key, bin), -1);
    char longer[VPD_CACHE_KEY_LEN + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    ASSERT_INT_EQ(vpd_cache_key_to_bin(longer, bin), -1);
}

/* Keys are the first half of SHA-256 outputs; persisted entries are found
 * again by them, so the canonical form may never change, and a key of an
 * earlier version (the whole digest) upgrades to today's by its first
 * half. */
TEST(cache_keys_stay_what_earlier_versions_computed)
{
    vpd_hdrs h = {0};
    char key[VPD_CACHE_KEY_LEN + 1], up[VPD_CACHE_KEY_LEN + 1];
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "t", NULL, key),
                  0);
    ASSERT_STR_EQ(key, "20cff588c921b9ef9a0d30be2d4856ab");
    ASSERT_INT_EQ(
        vpd_cache_key_upgrade(
            "20cff588c921b9ef9a0d30be2d4856ab3444c9497fca9c45f1ebeb295d521856",
            up),
        0);
    ASSERT_STR_EQ(up, key);
    ASSERT_INT_EQ(vpd_cache_key_upgrade(key, up), -1); /* already today's */
    ASSERT_INT_EQ(vpd_cache_key_upgrade("auto-auth-1", up), -1);
    vpd_hdrs_add(&h, "X-A", "1");
    vpd_hdrs_add(&h, "X-Vault-Index", "left out");
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    for (int i = 0; i < 2; i++) { /* the second from the same context */
        ASSERT_INT_EQ(
            vpd_cache_key("PUT", "/v1/y?a=1", &h, "{}", 2, "tok", NULL, key),
            0);
        ASSERT_STR_EQ(key, "64952e05163420f448179430f9e417a0");
    }
    /* A body longer than the key's buffer goes to the digest as it is. */
    char body[1500];
    memset(body, 'b', sizeof body);
    vpd_hdrs none = {0};
    ASSERT_INT_EQ(vpd_cache_key("POST", "/v1/z", &none, body, sizeof body,
                                "tok", NULL, key),
                  0);
    ASSERT_STR_EQ(key, "760cdd9e523263ac171bb3f1c716811c");
    vpd_hdrs_free(&h);
}

/* A repeated request gets its key without hashing again; the remembered
 * one must never answer for another token, nor for a token that only
 * starts like the remembered one.  The memo is its owner's and holds the
 * token until it is wiped. */
TEST(cache_key_repeated_request_never_crosses_tokens)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Accept", "*/*");
    vpd_cache_key_memo m = {0};
    char a[VPD_CACHE_KEY_LEN + 1], a2[VPD_CACHE_KEY_LEN + 1];
    char b[VPD_CACHE_KEY_LEN + 1], b2[VPD_CACHE_KEY_LEN + 1];
    char c[VPD_CACHE_KEY_LEN + 1], d[VPD_CACHE_KEY_LEN + 1];
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-a", &m, a),
                  0);
    ASSERT(m.len > 0);
    ASSERT_STR_EQ(m.hex, a);
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-a", &m, a2),
                  0);
    ASSERT_STR_EQ(a, a2);
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-b", &m, b),
                  0);
    ASSERT(strcmp(a, b) != 0);
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-b", &m, b2),
                  0);
    ASSERT_STR_EQ(b, b2);
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-bb", &m, c),
                  0);
    ASSERT(strcmp(b, c) != 0);
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, NULL, &m, d), 0);
    ASSERT(strcmp(d, b) != 0 && strcmp(d, c) != 0);
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-a", &m, a2),
                  0);
    ASSERT_STR_EQ(a, a2);
    /* The consistency headers stay out of a remembered key too. */
    vpd_hdrs_add(&h, "X-Vault-Index", "v1:changes");
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-a", &m, a2),
                  0);
    ASSERT_STR_EQ(a, a2);
    /* Two memos remember apart: another one's token is not in this one. */
    vpd_cache_key_memo other = {0};
    ASSERT_INT_EQ(
        vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-b", &other, b2), 0);
    ASSERT_STR_EQ(b, b2);
    ASSERT(memmem(m.form, m.len, "tok-a", 5) != NULL);
    ASSERT(memmem(m.form, m.len, "tok-b", 5) == NULL);
    /* Wiped: nothing of the form or its token is left. */
    vpd_cache_key_memo_wipe(&m);
    ASSERT_INT_EQ(m.len, 0);
    ASSERT(memmem(m.form, sizeof m.form, "tok-a", 5) == NULL);
    vpd_cache_key_memo_wipe(&other);
    /* Without a memo every key is hashed, and still the same. */
    ASSERT_INT_EQ(vpd_cache_key("GET", "/v1/x", &h, NULL, 0, "tok-a", NULL, a2),
                  0);
    ASSERT_STR_EQ(a, a2);
    vpd_hdrs_free(&h);
}

/* ---- hot answers --------------------------------------------------------- */

TEST(hot_answers_keep_drop_and_replace)
{
    vpd_hot *h = vpd_hot_new();
    ASSERT_NOT_NULL(h);
    uint8_t a[VPD_HOT_KEY_LEN] = {1, 2, 3}, b[VPD_HOT_KEY_LEN] = {5, 6, 3};
    uint8_t same_slot[VPD_HOT_KEY_LEN] = {1, 2, 3, 9};
    size_t len = 0;
    uint64_t date = 0;
    ASSERT_NULL(vpd_hot_get(h, a, &len, &date));
    vpd_hot_put(h, a, "answer-a", 8, 77);
    vpd_hot_put(h, b, "answer-b", 8, 0);
    const char *t = vpd_hot_get(h, a, &len, &date);
    ASSERT_NOT_NULL(t);
    ASSERT_INT_EQ(len, 8);
    ASSERT_INT_EQ(date, 77);
    ASSERT_STR_EQ(t, "answer-a");
    /* Another key of a's slot replaces it: found for neither but itself. */
    vpd_hot_put(h, same_slot, "other", 5, 1);
    ASSERT_NULL(vpd_hot_get(h, a, &len, &date));
    ASSERT_STR_EQ(vpd_hot_get(h, same_slot, &len, &date), "other");
    vpd_hot_drop(h, a); /* not there: the slot's answer stays */
    ASSERT_NOT_NULL(vpd_hot_get(h, same_slot, &len, &date));
    vpd_hot_drop(h, same_slot);
    ASSERT_NULL(vpd_hot_get(h, same_slot, &len, &date));
    ASSERT_STR_EQ(vpd_hot_get(h, b, &len, &date), "answer-b");
    /* Too big to keep: the slot is emptied, nothing is kept. */
    char *big = calloc(1, VPD_HOT_MAX_TEXT + 2);
    ASSERT_NOT_NULL(big);
    memset(big, 'x', VPD_HOT_MAX_TEXT + 1);
    vpd_hot_put(h, b, big, VPD_HOT_MAX_TEXT + 1, 0);
    ASSERT_NULL(vpd_hot_get(h, b, &len, &date));
    free(big);
    vpd_hot_free(h);
}

int
main(void)
{
    return RUN_TESTS(
        T(watchers_against_a_model), T(rescheduling_from_fire_does_not_spin),
        T(watchers_keep_expiry_to_the_second), T(pack_round_trips_and_shrinks),
        T(unpack_reads_earlier_text_and_refuses_damage),
        T(unpack_reads_the_earlier_packed_form), T(pack_with_words_and_date),
        T(cache_key_hex_and_binary),
        T(cache_keys_stay_what_earlier_versions_computed),
        T(cache_key_repeated_request_never_crosses_tokens),
        T(hot_answers_keep_drop_and_replace));
}
