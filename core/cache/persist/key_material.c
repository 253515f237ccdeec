/* The key material of the persistent cache: the key_file of persist
 * "file" (32 raw bytes, 64 hex digits or the base64 of 32 bytes) or the
 * service-account token of persist "kubernetes", as vaproxyd.hcl(5)
 * describes them.
 *
 * Ownership: what is read goes into secret buffers (vpd_secret_dup) that
 * the caller frees with vpd_secret_free; every temporary copy is wiped.
 * Safe on a worker thread: a compaction re-reads a rotated token there. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "base/textutil.h"
#include "base/secmem.h"

/* Reads a small file into a secret buffer.  Returns 0, or -1 with errno
 * (EFBIG when it is larger than max). */
static int
read_secret_file(const char *path, size_t max, char **out, size_t *len,
                 mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    if (mode)
        *mode = st.st_mode;
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            OPENSSL_cleanse(buf, max + 1);
            free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            OPENSSL_cleanse(buf, max + 1);
            free(buf);
            close(fd);
            errno = EFBIG;
            return -1;
        }
    }
    close(fd);
    *out = vpd_secret_dup(buf, n);
    OPENSSL_cleanse(buf, max + 1);
    free(buf);
    if (!*out) {
        errno = ENOMEM;
        return -1;
    }
    *len = n;
    return 0;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int
b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* 32 raw bytes; else, trimmed, 64 hex digits or base64 of 32 bytes.  32
 * bytes that are all printable are text (a 16-byte key in hex, a
 * password): random bytes are that only with probability ~1e-14. */
static int
decode_key(const char *s, size_t n, uint8_t key[VPD_PERSIST_KEY_LEN])
{
    bool printable = true;
    for (size_t i = 0; n == VPD_PERSIST_KEY_LEN && i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            printable = false;
    if (n == VPD_PERSIST_KEY_LEN && !printable) {
        memcpy(key, s, VPD_PERSIST_KEY_LEN);
        return 0;
    }
    while (n && is_space(s[0])) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 2 * VPD_PERSIST_KEY_LEN) {
        for (size_t i = 0; i < VPD_PERSIST_KEY_LEN; i++) {
            int hi = vpd_hex_value(s[2 * i]), lo = vpd_hex_value(s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                goto base64;
            key[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
    }
base64:
    if (n == 44 && s[43] == '=')
        n = 43;
    if (n != 43)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            key[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == VPD_PERSIST_KEY_LEN && acc == 0 ? 0 : -1;
}

int
vpd_persist_load_ikm(const vpd_persist_config *c, char **ikm, size_t *ikm_len,
                     char *err, size_t err_len)
{
    char *raw = NULL;
    size_t n = 0;
    mode_t mode = 0;
    if (c->kind == VPD_PERSIST_FILE) {
        if (read_secret_file(c->key_file, 4096, &raw, &n, &mode) != 0)
            return vpd_persist_fail(err, err_len,
                                    "cannot read the persistent cache "
                                    "key_file %s: %s",
                                    c->key_file,
                                    errno == EFBIG    ? "too large for a key"
                                    : errno == EINVAL ? "not a regular file"
                                                      : strerror(errno));
        uint8_t key[VPD_PERSIST_KEY_LEN];
        int rc = decode_key(raw, n, key);
        vpd_secret_free(raw);
        if (rc != 0) {
            OPENSSL_cleanse(key, sizeof key);
            return vpd_persist_fail(
                err, err_len,
                "persistent cache key_file %s: "
                "expected 32 raw bytes, 64 hex digits or the base64 "
                "of 32 bytes",
                c->key_file);
        }
        if (mode & 077)
            vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                    "key_file %s can be read by "
                    "group or others (mode %04o); make it 0600 or 0400",
                    c->key_file, (unsigned)(mode & 07777));
        *ikm = vpd_secret_dup((const char *)key, VPD_PERSIST_KEY_LEN);
        OPENSSL_cleanse(key, sizeof key);
        *ikm_len = VPD_PERSIST_KEY_LEN;
        if (!*ikm)
            return vpd_persist_fail(err, err_len, "out of memory");
        return 0;
    }
    const char *f = c->service_account_token_file;
    if (read_secret_file(f, 64 * 1024, &raw, &n, NULL) != 0)
        return vpd_persist_fail(err, err_len,
                                "failed to read service account token "
                                "from %s: %s",
                                f,
                                errno == EFBIG    ? "file too large"
                                : errno == EINVAL ? "not a regular file"
                                                  : strerror(errno));
    size_t a = 0, b = n;
    while (a < b && is_space(raw[a]))
        a++;
    while (b > a && is_space(raw[b - 1]))
        b--;
    if (a == b) {
        vpd_secret_free(raw);
        return vpd_persist_fail(err, err_len,
                                "failed to read service account token "
                                "from %s: the file is empty",
                                f);
    }
    *ikm = vpd_secret_dup(raw + a, b - a);
    *ikm_len = b - a;
    vpd_secret_free(raw);
    if (!*ikm)
        return vpd_persist_fail(err, err_len, "out of memory");
    return 0;
}
