/* Fuzz target: the DH sink's public key file (dh_path), which the client
 * application writes: JSON with a base64 curve25519_public_key.  Each
 * input goes into a memfd named by its /proc/self/fd path, then one token
 * is encrypted for it, as the sink does on its first write. */
#define _GNU_SOURCE
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "auth/sink_dh.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_sink_dh", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    /* Both key derivations, picked by the input so the fuzzer steers it. */
    vpd_dh_sink *s = vpd_dh_sink_new(path, size & 1, "aad", 3, err, sizeof err);
    if (s) {
        char *out = NULL;
        size_t out_len = 0;
        if (vpd_dh_sink_encrypt(s, "hvs.TOKEN", 9, &out, &out_len, err,
                                sizeof err) == 0) {
            if (!out || strlen(out) != out_len)
                abort();
            free(out);
        }
        vpd_dh_sink_free(s);
    }
    close(fd);
    return 0;
}
