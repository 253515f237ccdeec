/* Diffie-Hellman sink encryption (the sink keys dh_type, dh_path,
 * derive_key, aad and aad_env_var of vaproxyd.hcl(5)), compatible with Vault's
 * helper/dhutil and sink.encryptToken:
 *
 *   - the client writes dh_path: {"curve25519_public_key":"<b64 32 bytes>"};
 *     it is read the first time it is needed and trusted forever after
 *     (TOFU: later changes to the file are ignored);
 *   - one X25519 key pair per process, shared by all dh sinks;
 *   - AES key = X25519(own private, client public), or with derive_key
 *     HKDF-SHA256(ikm = that secret, salt = the smaller public key,
 *     info = the larger one), 32 bytes;
 *   - AES-256-GCM, random 12-byte nonce, AAD = the configured aad bytes;
 *   - output {"curve25519_public_key":b64,"nonce":b64,
 *     "encrypted_payload":b64(ciphertext||tag)} followed by "\n".
 *
 * dh_type validation and aad_env_var lookup belong to the config reader;
 * this module receives the final aad bytes.
 *
 * Thread safety: the process key pair is created once (thread-safe); one
 * vpd_dh_sink must not be used by two threads at the same time. */
#ifndef VPD_SINK_DH_H
#define VPD_SINK_DH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vpd_dh_sink vpd_dh_sink;

/* Creates the per-sink state (copies dh_path and the aad bytes; aad may be
 * NULL when aad_len is 0).  Does not touch dh_path yet.  Returns NULL with
 * a message on error (empty dh_path, out of memory). */
vpd_dh_sink *vpd_dh_sink_new(const char *dh_path, bool derive_key,
                             const char *aad, size_t aad_len, char *err,
                             size_t err_len);

/* Encrypts plaintext into the JSON envelope (see above), written compactly
 * with the keys in that order and a final "\n".  Returns 0 and a malloc'd,
 * NUL-terminated *out (*out_len excludes the NUL), or -1 with a message
 * (never containing the plaintext).  Errors follow Vault's texts, e.g.
 * "no dh parameters file found, and no cached pub key" when dh_path does
 * not exist yet; a malformed dh_path is not cached, so a later call reads
 * it again. */
int vpd_dh_sink_encrypt(vpd_dh_sink *s, const char *plaintext, size_t len,
                        char **out, size_t *out_len, char *err, size_t err_len);

void vpd_dh_sink_free(vpd_dh_sink *s);

#endif
