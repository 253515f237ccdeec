/* The encrypted persistent store of the lease cache (the `persist` block
 * of vaproxyd.hcl(5)): what the cache keeps survives a restart, so a sidecar
 * can pick up the tokens and leases an init container obtained (Vault's
 * bolt-based persistent cache, not byte-compatible with it).
 *
 * Configuration, inside `cache { ... }`:
 *
 *     persist "file" {                    persist "kubernetes" {
 *       path              = "/var/cache/vp"  path = "/vault/cache"
 *       key_file          = "/etc/vp/key"    service_account_token_file = ".."
 *       keep_after_import = true             keep_after_import = true
 *       exit_on_err       = true             exit_on_err       = true
 *     }                                    }
 *
 * `path` is a directory (it must exist); the store is the file
 * `<path>/vaproxy-cache.db`, mode 0600.  `keep_after_import` and
 * `exit_on_err` are real bools and default to false, as in Vault's code
 * (Vault's documentation says exit_on_err defaults to true; its code, which
 * is what running proxies do, says false).
 * `key_file` (type "file" only, required) holds the 32-byte key: exactly
 * 32 raw bytes (not all printable ASCII: a 32-character text is refused
 * rather than taken for a key), or 64 hex digits, or the standard or
 * URL-safe base64 of 32 bytes (padding optional); surrounding white space
 * is ignored in the text forms.  `openssl rand -hex 32 > key` makes one.
 * A key_file readable by group or others is used with a warning.
 * `service_account_token_file` (type "kubernetes" only) defaults to
 * /var/run/secrets/kubernetes.io/serviceaccount/token; its contents,
 * trimmed of surrounding white space, are the key material.
 *
 * ---- Keys and threat model ------------------------------------------
 *
 * Every file generation has its own random 256-bit data key (DK).  The DK
 * is never written in clear: the header holds it sealed with AES-256-GCM
 * under a key-encryption key
 *
 *     KEK = HKDF-SHA256(ikm = key material, salt = the header's random
 *                       32-byte salt, info = "vaproxy persistent cache v1
 *                       KEK file" or "... KEK kubernetes")
 *
 * where the key material is the key_file's 32 bytes or the trimmed
 * service-account token, which also is the sealing AAD for "kubernetes"
 * (Vault's AAD).  A wrong key_file, a different service-account token, a
 * file written for the other type or a file that is not ours all fail
 * the seal's tag and are refused with "PATH: cannot decrypt the
 * persistent cache: wrong key or not a vaproxy cache file" - never with
 * garbage entries.
 *
 * What this protects: the cache file alone (a copied volume, a backup, a
 * container that shares the cache volume but not the key or token mount)
 * reveals nothing but sizes and the number of writes, and cannot be
 * altered undetected except by cutting records off its end (which looks
 * like a crash and restores an older state).  Vault stores its key in
 * clear beside the data, so there the file alone is enough.
 * What it does not protect against: anyone who can read both the file and
 * the key material (the key_file, or the service-account token - which
 * every process of the pod that mounts it, the node and the API server
 * can read); root on the node; the memory of the running process.  The SA
 * token is a signed JWT with far more than 256 bits of entropy, so HKDF
 * needs no password stretching.  Projected SA tokens are rotated by the
 * kubelet: each compaction re-reads the token file and seals the new
 * generation with the token it finds, but a restart after a rotation the
 * store did not see since its last compaction is refused like a wrong key
 * (Vault's AAD check fails the same way); with exit_on_err = false the
 * caller then runs without the restore (see vpd_persist_discard).
 *
 * ---- File format (all integers big-endian) --------------------------
 *
 *     header, 108 bytes:
 *       0   8  magic "VPXCACHE"
 *       8   2  format version, 1
 *      10   1  protection: 1 = file, 2 = kubernetes
 *      11   5  zero
 *      16  32  salt (random per generation)
 *      48  12  seal nonce (random)
 *      60  32  DK sealed with the KEK, AAD = bytes 0..47 (+ the SA token)
 *      92  16  seal tag
 *     records, each:
 *       0   4  n, the payload length (1 .. 1 GiB)
 *       4   8  seq: 1 for the first record, then +1 each
 *      12   n  payload encrypted with AES-256-GCM under DK,
 *              nonce = "VPRC" || seq, AAD = bytes 0..11
 *    12+n  16  tag
 *
 * Payloads (strings are u32 length + bytes + NUL; length 0xffffffff =
 * absent):
 *     1 PUT      u8 flags (bit 0: token entry), u64 last_renewed_ms,
 *                u64 ttl_ms, id, namespace, request_path, token,
 *                token_accessor, token_parent, lease, lease_token,
 *                u32 length + response bytes
 *     2 RENEWED  u64 last_renewed_ms, u64 ttl_ms, id
 *     3 DELETE   id
 *     4 CLEAR    (nothing; the auto-auth token stays, as in Vault)
 *     5 AUTOAUTH token (absent = forget it)
 * Replaying the records in order gives the state.  A PUT of a known id
 * keeps the entry's place in creation order; a DELETE then PUT puts it
 * at the end.  A PUT of a token entry also records its token as the
 * auto-auth token (Vault's meta/auto-auth-token).  A record of an
 * unknown type (a newer vaproxyd) makes the file refused.
 *
 * ---- Crash safety ----------------------------------------------------
 *
 * The file is an append-only log of sealed records plus whole-file
 * rewrites ("compaction").  A log rather than a snapshot per change: a
 * cache store or renewal then costs one small write(2) on the loop
 * instead of rewriting and fsyncing every cached response.  Every API
 * call that changes the state appends exactly one record with one
 * pwrite(2) at the end of the good log, so every prefix of the log is a
 * state the store really had, and a state change is either wholly in the
 * file or not at all.  A kill -9 can only leave a torn last record (a
 * large write cut short): on open, reading stops at the first record that
 * is incomplete, fails its tag or breaks the seq chain; that tail is
 * dropped (a warning says how many bytes) and the state is the one before
 * the torn write.  Damage anywhere else (a bad disk) stops reading there
 * too: an older state, never garbage.  Nonces are never reused: seq only
 * grows within a generation, and every start (the restore rewrites an
 * existing file; a missing one is created) and every failed write moves
 * to a new generation (new DK) before anything else is appended, so a
 * torn record is never overwritten under the same key and nonce.
 *
 * Compaction writes the live state as a new generation to
 * `<path>/vaproxy-cache.db.tmp` (mode 0600, O_EXCL), fsyncs it, renames
 * it over the store and fsyncs the directory; until the rename the old
 * file is untouched, after it the new one is complete, and a left-over
 * temp file is removed on open.  It runs when a restore kept the file,
 * when dead bytes (replaced, renewed, deleted records) exceed both
 * 256 KiB and the live bytes, on vpd_persist_compact, and after a failed
 * write (see "Failed writes" below).  With a loop (vpd_persist_set_loop) the
 * threshold compactions write and fsync the new generation on a worker
 * thread while appends go on to the old file; the loop then re-seals
 * those appends onto the new file in order and renames it (the old file
 * stays the store, complete, until that rename; the three steps are in
 * core/cache/persist/compact.c).
 *
 * ---- Failed writes ---------------------------------------------------
 *
 * A write that fails (a full disk, a quota) loses nothing the cache
 * holds: the index is always the whole state the cache gave the store
 * (an entry whose record could not be written keeps its payload in
 * memory, wiped when freed), the torn bytes are cut off, and from then on
 * nothing is appended - a record after a torn one would reuse its nonce -
 * until a rewrite as a new generation holds the whole index again.  That
 * rewrite is retried with a backoff from 200 ms doubling to 5 s: with a
 * loop on a timer that starts a background compaction, without one by
 * the next write whose wait is over, and once more when the handle is
 * closed.  A warning with the reason ("No space left on device") is
 * logged when the first write fails, an info line when the file is whole
 * again, and a warning if it is still behind when the handle is closed
 * (what was kept in memory is then lost, and a restart restores the
 * state from before the failure).  Writes keep succeeding meanwhile.
 *
 * fsync policy: appends are not fsynced (a write(2) of a few hundred bytes
 * to the page cache: kill -9 loses nothing already returned; a power
 * loss may lose the most recent appends, which then restore as an older
 * state).  A compaction fsyncs the new file and the directory; one inside
 * a write stalls the caller for the time to write the live entries plus
 * two fsyncs, a background one only for the rename (its directory fsync
 * waits for the next sync, close or compaction);
 * vpd_persist_sync and vpd_persist_close fdatasync the log.  A directory
 * lock (flock on `path`, waited for up to 1 s like Vault's bolt lock)
 * keeps a second process from using the store.
 *
 * Wiring (for the daemon): open and restore before the loop serves; a
 * NULL open, a negative restore or stats.failed > 0 are the restore
 * errors that, with exit_on_err, abort start-up ("exiting with error as
 * exit_on_err is set to true"), and are otherwise logged - then run
 * without the store, or vpd_persist_discard and open again to persist
 * afresh.  Mirror every store of the cache with vpd_persist_put, every
 * renewal with vpd_persist_renewed, every eviction with
 * vpd_persist_delete, cache-clear "all" with vpd_persist_clear; preload
 * auth with the restored auto-auth token.
 *
 * Ownership: a vpd_persist owns its file descriptors, its keys (wiped on
 * close) and an index of ids and offsets - not the entries, which live in
 * the file and are read back on restore and compaction.  Entries passed in
 * are copied into the file; entries handed to callbacks are borrowed for
 * the call.  Not thread-safe: one thread (the loop) uses a handle.
 * Returns: functions returning int give 0 (or a count) or a negative
 * VP_E* code; nothing secret is ever logged or put in an error message.
 */
#ifndef VPD_PERSIST_H
#define VPD_PERSIST_H

#include <stdbool.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>
#include <vaproxy/cache.h>

#include "config/cfgtree.h"

#define VPD_PERSIST_FILE_NAME "vaproxy-cache.db"
#define VPD_PERSIST_DEFAULT_SA_TOKEN_FILE                                      \
    "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define VPD_PERSIST_COMPACT_MIN_BYTES (256u * 1024u)

typedef enum {
    VPD_PERSIST_FILE = 1,
    VPD_PERSIST_KUBERNETES = 2,
} vpd_persist_kind;

/* Ownership: the strings are owned (vpd_persist_config_free); `file`
 * points into the config tree, which must outlive its use in messages. */
typedef struct {
    char *type; /* "file" or "kubernetes" */
    vpd_persist_kind kind;
    char *path; /* the directory */
    bool keep_after_import;
    bool exit_on_err;
    char *key_file;                   /* type file */
    char *service_account_token_file; /* type kubernetes, defaulted */
    const char *file;                 /* where the block was written */
    int line;
} vpd_persist_config;

/* Reads the `persist` block of a `cache` block (HCL `persist "type" {}`
 * or `persist { type = ... }`, JSON object or list forms).  Keys are
 * checked strictly; errors read "FILE:LINE: ...".  Returns 1 and fills
 * *out when there is a persist block, 0 when there is none (*out zeroed),
 * -1 with a message in err.  Ownership: free *out with
 * vpd_persist_config_free (also after an error). */
int vpd_persist_config_parse(const vpd_cfg_node *cache_block,
                             vpd_persist_config *out, char *err,
                             size_t err_len);
void vpd_persist_config_free(vpd_persist_config *c);

typedef struct vpd_persist vpd_persist;

/* Locks the directory, reads the key material, removes a left-over temp
 * file and opens the store: a missing file is created (a new generation,
 * header only); an existing one has its key checked and its log read into
 * the index (a torn tail is dropped).  Returns the handle, or NULL with a
 * message in err (wrong key, unreadable key material, directory in use,
 * I/O).  Blocking: call before the loop serves.  Ownership: the config is
 * copied. */
vpd_persist *vpd_persist_open(const vpd_persist_config *c, char *err,
                              size_t err_len);

typedef struct {
    unsigned restored;   /* entries fn accepted */
    unsigned expired;    /* dropped by the expiry rule */
    unsigned failed;     /* fn refused them, or they could not be read */
    uint64_t torn_bytes; /* tail dropped when the file was opened */
    bool existed;        /* the file existed when opened */
    bool deleted;        /* keep_after_import = false: file gone, store off */
} vpd_persist_restore_stats;

/* Must be called once after open and before any write.  Calls fn for
 * every live entry: token entries (vpd_persist_is_token_entry) first,
 * then the others, each group in creation order (parents before the
 * children they created).  A non-token entry is expired, and skipped,
 * when (now_wall_ms - last_renewed_ms) / 1000 > ttl_ms / 1000 (whole
 * seconds, as Vault's hasExpired); token entries are not checked (Vault's
 * restoreTokens).  fn returns 0 when it took the entry, non-zero when it
 * could not (a missing parent, ...); fn must not call into the store.
 * Expired and refused entries are removed from the store.
 * *auto_auth_token (may be NULL to ignore) gets a copy of the stored
 * auto-auth token, or NULL; free it with vpd_secret_free.
 * Then, if the file existed: with keep_after_import the live state is
 * compacted into a new generation and persistence goes on; without it
 * the file is deleted and the handle is inert for the rest of the run
 * (writes succeed and do nothing; vpd_persist_active says false), as in
 * Vault.  A file that did not exist keeps being used either way.  If that
 * compaction fails, the entries were delivered all the same, a warning
 * is logged and the handle turns inert (stats->deleted stays false).
 * Returns the number restored, or a VP_E* code (err says why; fn was not
 * called).  stats may be NULL.  Blocking. */
int vpd_persist_restore(vpd_persist *p, uint64_t now_wall_ms,
                        int (*fn)(void *arg, const vp_cache_entry_t *e),
                        void *arg, char **auto_auth_token,
                        vpd_persist_restore_stats *stats, char *err,
                        size_t err_len);

/* A token entry is what the lease cache stores for the auto-auth token:
 * a token and no response, like the index Vault's lease cache keeps for
 * its auto-auth token.  Such entries restore first and
 * their token becomes the stored auto-auth token. */
static inline bool
vpd_persist_is_token_entry(const vp_cache_entry_t *e)
{
    return e->token && e->token[0] && e->response.len == 0;
}

/* The static secret cache's entries (static_persist.c) share the store:
 * their ids start with this prefix, they carry no token, lease or parent,
 * and their token set is in lease_token (one token a line).  The lease
 * cache hands them to the static cache when it restores. */
#define VPD_PERSIST_STATIC_PREFIX "static:"

static inline bool
vpd_persist_is_static_entry(const vp_cache_entry_t *e)
{
    return e->id && strncmp(e->id, VPD_PERSIST_STATIC_PREFIX,
                            sizeof VPD_PERSIST_STATIC_PREFIX - 1) == 0;
}

/* Inserts or replaces the entry with e->id (a replacement keeps the
 * creation position).  Returns 0 when the entry is in the store: written,
 * or - when the write failed (a full disk) - kept in memory and written
 * by the next rewrite (see "Failed writes" above).  Returns VP_EINVAL (no
 * id, before restore) or VP_ENOMEM when it is not in the store at all: a
 * caller logs that and keeps serving the entry from memory; an older
 * version of it is then gone from the store too. */
int vpd_persist_put(vpd_persist *p, const vp_cache_entry_t *e);

/* Records a renewal.  Returns 0, VP_ENOENT (unknown id) or an error. */
int vpd_persist_renewed(vpd_persist *p, const char *id,
                        uint64_t last_renewed_ms, uint64_t ttl_ms);

/* Returns 0, VP_ENOENT (unknown id) or an error. */
int vpd_persist_delete(vpd_persist *p, const char *id);

/* Removes every entry (cache-clear "all"); the auto-auth token stays. */
int vpd_persist_clear(vpd_persist *p);

/* Records the auto-auth token (NULL or "" forgets it). */
int vpd_persist_set_auto_auth_token(vpd_persist *p, const char *token);

/* Rewrites the store as a new generation now (after finishing a
 * background compaction under way).  Returns 0 or an error (the old file
 * is then unchanged).  Blocking: two fsyncs. */
int vpd_persist_compact(vpd_persist *p, char *err, size_t err_len);

/* From now on, compactions that a write triggers (dead bytes past the
 * threshold) run on the loop's worker threads: the write returns at once
 * and goes on appending to the old file; the loop finishes the rewrite
 * (carrying those appends over, in order) when the worker is done.  Without
 * a loop (the default) they run inside the write.  The loop must run
 * until the compaction under way is done; vpd_persist_compact and
 * vpd_persist_close wait for it.  Since the loop uses the handle,
 * everything else stays on the loop thread.  After a failed write the
 * loop also carries the retry timer: call vpd_persist_set_loop(p, NULL)
 * while the loop still runs, before it stops, so the timer is closed and
 * freed by it. */
void vpd_persist_set_loop(vpd_persist *p, uv_loop_t *loop);

/* Starts a background compaction now (none if one is under way).
 * Returns 0, VP_EINVAL (no loop set, not restored) or an error. */
int vpd_persist_compact_start(vpd_persist *p);

/* True while a background compaction is under way. */
bool vpd_persist_compacting(const vpd_persist *p);

/* Number of compactions finished since open (for tests and metrics). */
unsigned vpd_persist_compactions(const vpd_persist *p);

/* fdatasync of the log.  Returns 0 or VP_EIO. */
int vpd_persist_sync(vpd_persist *p);

/* False once the store is off (restored without keep_after_import, or a
 * failed restore compaction). */
bool vpd_persist_active(const vpd_persist *p);

/* True unless a write failed and no rewrite since has written the whole
 * state (see "Failed writes" above). */
bool vpd_persist_whole(const vpd_persist *p);

/* Number of live entries (token entries included). */
size_t vpd_persist_count(const vpd_persist *p);

/* Syncs, unlocks, wipes the keys and frees.  The file stays (the
 * keep_after_import deletion happens in vpd_persist_restore).  NULL is
 * ignored. */
void vpd_persist_close(vpd_persist *p);

/* Deletes the store file of a configuration (for a caller that gives up
 * on an unreadable store and wants to start afresh).  Returns 0 (also
 * when there was none) or VP_EIO with a message. */
int vpd_persist_discard(const vpd_persist_config *c, char *err, size_t err_len);

/* For tests: the call every write of every store goes through, pwrite(2)
 * unless replaced (NULL restores it), so a test can make the disk look
 * full without filling one.  Replace it only while no background
 * compaction is under way: its worker thread reads it. */
typedef ssize_t (*vpd_persist_pwrite_fn)(int fd, const void *buf, size_t n,
                                         off_t off);
void vpd_persist_set_pwrite(vpd_persist_pwrite_fn fn);

/* The replay and read-back of vpd_persist_restore over record payloads
 * that are already opened: no file, no keys.  A fuzzer cannot forge the
 * GCM tags, so tests/fuzz/fuzz_persist.c reaches the decoder through
 * this.  Applies pl[0..n) (len[i] bytes each) in order, then hands every
 * live entry to fn, token entries first; e points into pl.  Returns how
 * many fn accepted (returned 0), or -1 with a message when a payload is
 * refused as restore would refuse it. */
int vpd_persist_decode(const uint8_t *const *pl, const size_t *len, size_t n,
                       int (*fn)(void *arg, const vp_cache_entry_t *e),
                       void *arg, char *err, size_t err_len);

#endif
