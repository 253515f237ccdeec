/* What the pieces of the persistent cache (core/cache/persist/) share: the
 * record and header sizes of the file format, the handle's layout, the
 * in-memory index, and the functions one piece offers the others.  The
 * public API and the format description are in core/cache/persist.h.
 *
 * The pieces, lowest first (a piece calls only those above it in this
 * list, so there are no cycles):
 *   persist_msg.c      error messages
 *   persist_config.c   the `persist` block of the configuration
 *   codec.c            byte order, payload building and parsing
 *   crypto.c           AES-256-GCM, key derivation, the sealed header
 *   key_material.c     reading the key_file or the service-account token
 *   entry_index.c      the index of live entries, the auto-auth token
 *   record_io.c        whole reads and writes, reading one record back
 *   replay.c           applying records, reading the log on open
 *   compact.c          rewriting the store as a new generation, also in
 *                      the background on a libuv worker
 *   retry.c            after a failed write: the rewrite retried with a
 *                      bounded backoff until the file is whole again
 *   store.c            open, close, sync, discard of the store
 *   restore.c          handing the stored entries to the cache
 *   append.c           the writes: one sealed record per state change
 *
 * Not installed, and included by nothing outside core/cache/persist/.
 *
 * Ownership: a vpd_persist owns its file descriptors, its keys (wiped on
 * close), the index entries and the auto-auth token copy; every piece
 * that changes them keeps these rules.  Buffers that held plaintext are
 * wiped before they are freed (vpd_persist_wbuf, vpd_persist_wipe_free).
 * Everything here runs on the loop thread except where a comment says a
 * function is safe on a worker thread. */
#ifndef VPD_PERSIST_INTERNAL_H
#define VPD_PERSIST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <uv.h>
#include <vaproxy/cache.h>

#include "base/backoff.h"
#include "cache/persist.h"

#define VPD_PERSIST_COMPONENT "proxy.cache.persist"

/* Milliseconds on the monotonic clock (failure episodes and retries). */
static inline uint64_t
vpd_persist_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sizes of the file format (see core/cache/persist.h). */
#define VPD_PERSIST_HDR_LEN 108
#define VPD_PERSIST_REC_HDR 12 /* u32 payload length, u64 seq */
#define VPD_PERSIST_TAG_LEN 16
#define VPD_PERSIST_KEY_LEN 32
#define VPD_PERSIST_NONCE_LEN 12
#define VPD_PERSIST_MAX_PAYLOAD (1u << 30)
#define VPD_PERSIST_TMP_NAME VPD_PERSIST_FILE_NAME ".tmp"

/* The one answer to every key or format mismatch: a wrong key and a file
 * that is not ours must look the same. */
#define VPD_PERSIST_WRONG_KEY                                                  \
    "cannot decrypt the persistent cache: wrong key or not a vaproxy cache "   \
    "file"

/* Record payload types. */
enum {
    VPD_PERSIST_OP_PUT = 1,
    VPD_PERSIST_OP_RENEWED = 2,
    VPD_PERSIST_OP_DELETE = 3,
    VPD_PERSIST_OP_CLEAR = 4,
    VPD_PERSIST_OP_AUTOAUTH = 5
};

/* ---- persist_msg.c ------------------------------------------------------ */

/* Formats a message into err (line breaks become spaces, so a message is
 * one log line).  Always returns -1, so callers can `return fail(...)`. */
__attribute__((format(printf, 3, 4))) int
vpd_persist_fail(char *err, size_t err_len, const char *fmt, ...);

/* ---- codec.c ------------------------------------------------------------ */

void vpd_persist_be32_put(uint8_t *p, uint32_t v);
void vpd_persist_be64_put(uint8_t *p, uint64_t v);
uint32_t vpd_persist_be32_get(const uint8_t *p);
uint64_t vpd_persist_be64_get(const uint8_t *p);

/* A growable byte buffer; wiped when freed since payloads hold secrets.
 * A failed allocation sets oom and makes every later put a no-op, so a
 * builder checks once at the end. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} vpd_persist_wbuf;

/* Appends len bytes; data NULL reserves room for the caller to fill. */
void vpd_persist_wb_put(vpd_persist_wbuf *b, const void *data, size_t len);
void vpd_persist_wb_free(vpd_persist_wbuf *b);

/* The payload builders: one per record type. */
void vpd_persist_encode_put(vpd_persist_wbuf *b, const vp_cache_entry_t *e,
                            bool token);
void vpd_persist_encode_renewed(vpd_persist_wbuf *b, uint64_t last_renewed_ms,
                                uint64_t ttl_ms, const char *id);
void vpd_persist_encode_delete(vpd_persist_wbuf *b, const char *id);
void vpd_persist_encode_clear(vpd_persist_wbuf *b);
void vpd_persist_encode_autoauth(vpd_persist_wbuf *b, const char *token);

/* The payload parsers: each returns 0, or -1 when the payload is not
 * well-formed.  Strings point into the payload. */
int vpd_persist_parse_put(const uint8_t *pl, size_t n, vp_cache_entry_t *e,
                          bool *token);
int vpd_persist_parse_renewed(const uint8_t *pl, size_t n,
                              uint64_t *last_renewed_ms, uint64_t *ttl_ms,
                              const char **id);
int vpd_persist_parse_delete(const uint8_t *pl, size_t n, const char **id);
int vpd_persist_parse_autoauth(const uint8_t *pl, size_t n, const char **token);

/* Overwrites the renewal values of a PUT payload in place (a compaction
 * writes the latest renewal into the entry's record). */
void vpd_persist_put_set_times(uint8_t *pl, uint64_t last_renewed_ms,
                               uint64_t ttl_ms);

/* ---- crypto.c ----------------------------------------------------------- */

/* Seals a payload as a whole record into out (REC_HDR + n + TAG_LEN
 * bytes).  Safe on any thread.  Returns 0 or -1. */
int vpd_persist_seal_record(const uint8_t dk[VPD_PERSIST_KEY_LEN], uint64_t seq,
                            const uint8_t *pl, size_t n, uint8_t *out);

/* Opens a whole record in place (payload of n bytes at rec + REC_HDR).
 * Returns 0, or -1 with the payload wiped when the tag is wrong. */
int vpd_persist_open_record(const uint8_t dk[VPD_PERSIST_KEY_LEN], uint8_t *rec,
                            size_t n);

/* A new header holding dk sealed under the key material.  Safe on any
 * thread: reads only its arguments.  Returns 0 or -1. */
int vpd_persist_make_header(vpd_persist_kind kind, const char *ikm,
                            size_t ikm_len,
                            const uint8_t dk[VPD_PERSIST_KEY_LEN],
                            uint8_t h[VPD_PERSIST_HDR_LEN]);

/* Checks a header read from db_path and unseals its data key into dk.
 * Returns 0, or -1 with the wrong-key message in err. */
int vpd_persist_read_header(vpd_persist_kind kind, const char *ikm,
                            size_t ikm_len, const char *db_path,
                            const uint8_t h[VPD_PERSIST_HDR_LEN],
                            uint8_t dk[VPD_PERSIST_KEY_LEN], char *err,
                            size_t err_len);

/* ---- key_material.c ----------------------------------------------------- */

/* The key material of a configuration: the key_file's 32 bytes or the
 * trimmed service-account token.  Safe on any thread.  Returns 0 with
 * *ikm a secret buffer (vpd_secret_free), or -1 with a message. */
int vpd_persist_load_ikm(const vpd_persist_config *c, char **ikm,
                         size_t *ikm_len, char *err, size_t err_len);

/* ---- entry_index.c ------------------------------------------------------ */

/* One live entry: where its latest PUT record is and its latest renewal
 * values (the entry itself stays in the file).  An entry whose latest PUT
 * could not be written (a full disk) is pending instead: its payload is
 * kept here, off and rec_len are 0, and the next rewrite writes it. */
typedef struct vpd_persist_entry {
    char *id;
    struct vpd_persist_entry *hnext;       /* hash chain */
    struct vpd_persist_entry *prev, *next; /* creation order */
    uint64_t off;                          /* its latest PUT record */
    uint32_t rec_len;
    uint64_t last_renewed_ms, ttl_ms;
    uint32_t snap_idx; /* its place in the compaction under way */
    bool token;
    uint8_t *pending;      /* the PUT payload not in the file (secret) */
    size_t pending_len;    /* its length; the buffer's is pending_cap */
    size_t pending_cap;    /* wiped over this length when freed */
    uint64_t pending_mark; /* p->unsaved when it became pending */
} vpd_persist_entry;

/* A background compaction (compact.c owns its layout). */
typedef struct vpd_persist_job vpd_persist_job;

struct vpd_persist {
    vpd_persist_config cfg; /* owned copies */
    char *db_path;          /* for messages */
    int dirfd, fd;
    char *ikm; /* secret */
    size_t ikm_len;
    uint8_t dk[VPD_PERSIST_KEY_LEN];
    uint64_t seq; /* the next record's */
    uint64_t end; /* end of the good log */
    vpd_persist_entry **buckets;
    size_t nbuckets, count;
    vpd_persist_entry *head, *tail;
    char *auto_auth;     /* secret, or NULL */
    uint64_t live_bytes; /* PUT records of live entries */
    uint64_t torn_bytes;
    uv_loop_t *loop;      /* set: threshold compactions run off the loop */
    vpd_persist_job *job; /* the background compaction under way */
    unsigned compactions;
    bool existed, restored, inert;
    bool dir_dirty; /* a rename not yet fsynced into the directory */
    /* A failure episode (retry.c): behind is set when a change could not
     * be written; from then on changes go to the index only (appending
     * after a torn record would reuse its nonce) until a rewrite made
     * after the last of them is the store.  unsaved counts those changes
     * over the whole run; a rewrite made from a snapshot taken when it
     * was N makes the store whole if it is still N when it finishes. */
    bool behind;
    uint64_t unsaved;
    uint64_t episode_start_ms; /* monotonic */
    vpd_backoff retry;         /* the waits between rewrite tries */
    uint64_t retry_at_ms;      /* without a loop: when a write may retry */
    uv_timer_t *retry_timer;   /* with a loop: armed while behind */
};

vpd_persist_entry *vpd_persist_idx_find(const vpd_persist *p, const char *id);

/* A new entry, not yet linked; NULL when out of memory. */
vpd_persist_entry *vpd_persist_entry_new(const char *id);
void vpd_persist_entry_free(vpd_persist_entry *x);

/* Links x at the end of the creation order.  Returns 0 or -1 (out of
 * memory; x is then not linked). */
int vpd_persist_idx_link(vpd_persist *p, vpd_persist_entry *x);

/* Unlinks and frees x. */
void vpd_persist_idx_remove(vpd_persist *p, vpd_persist_entry *x);
void vpd_persist_idx_clear(vpd_persist *p);

/* Replaces the kept auto-auth token with a copy (NULL or "" forgets it).
 * Returns 0 or -1 (out of memory; the old one stays). */
int vpd_persist_keep_auto_auth(vpd_persist *p, const char *token);

/* Wipes and frees x's pending payload (x is then written or gone). */
void vpd_persist_entry_drop_pending(vpd_persist_entry *x);

/* ---- record_io.c -------------------------------------------------------- */

/* The whole of buf at off.  Safe on any thread.  Returns 0 or -1. */
int vpd_persist_pwrite_all(int fd, const uint8_t *buf, size_t n, uint64_t off);

/* Returns the bytes read (fewer at the end of the file) or -1. */
ssize_t vpd_persist_pread_all(int fd, uint8_t *buf, size_t n, uint64_t off);

/* Reads and opens the record at off (whole length len) into *buf (grown
 * as needed; the caller wipes it).  Safe on any thread.  Returns 0 or -1. */
int vpd_persist_load_record_at(int fd, const uint8_t dk[VPD_PERSIST_KEY_LEN],
                               uint64_t off, uint32_t len, uint8_t **buf,
                               size_t *cap);

/* The same from the store's current file. */
int vpd_persist_load_record(vpd_persist *p, uint64_t off, uint32_t len,
                            uint8_t **buf, size_t *cap);

void vpd_persist_wipe_free(uint8_t *buf, size_t cap);

/* ---- replay.c ----------------------------------------------------------- */

/* Applies one opened record (payload pl of n bytes, whole record at off,
 * rec_len bytes) to the index.  Returns 0, or -1 with a message (a
 * record type this version does not know, out of memory). */
int vpd_persist_apply(vpd_persist *p, const uint8_t *pl, size_t n, uint64_t off,
                      uint32_t rec_len, char *err, size_t err_len);

/* Reads the log after the header of a file of size bytes; stops at the
 * first record that is incomplete, fails its tag or breaks the seq chain
 * (a torn tail).  Returns 0 or -1 with a message. */
int vpd_persist_replay(vpd_persist *p, uint64_t size, char *err,
                       size_t err_len);

/* ---- compact.c ---------------------------------------------------------- */

/* Writes the live state as a new generation and renames it over the
 * store, all on the calling thread.  On failure the old file and state
 * are unchanged.  Returns 0 or -1 with a message. */
int vpd_persist_rewrite(vpd_persist *p, char *err, size_t err_len);

/* Starts a background compaction (the loop must be set; a failure is
 * logged and p->job stays NULL). */
void vpd_persist_job_start(vpd_persist *p);

/* Waits for the worker of the compaction under way and finishes it on
 * this thread.  Returns 0 (also when none was under way) or -1 with a
 * message. */
int vpd_persist_job_settle(vpd_persist *p, char *err, size_t err_len);

/* Compacts when dead bytes exceed both the threshold and the live bytes:
 * in the background with a loop, else at once. */
void vpd_persist_compact_if_due(vpd_persist *p);

/* ---- retry.c ------------------------------------------------------------ */

/* Called by every write that left a change in memory only (p->behind is
 * set): with a loop, arms the retry timer if it is not armed; without
 * one, rewrites now if the backoff's wait is over.  Never while a
 * background compaction is under way (its end is judged when it
 * finishes). */
void vpd_persist_retry_kick(vpd_persist *p);

/* Closes the retry timer (its memory is freed by the loop). */
void vpd_persist_retry_stop(vpd_persist *p);

/* A last rewrite before the handle goes away, when the store is behind;
 * if it fails, says what is lost. */
void vpd_persist_retry_last(vpd_persist *p);

/* ---- store.c ------------------------------------------------------------ */

/* Closes and frees a handle without syncing (also a partly opened one). */
void vpd_persist_free(vpd_persist *p);

#endif
