/* Fuzz target: the typed configuration (vpd_config_load) over any bytes:
 * the reader plus every block's checks, duration and number parsing.
 * vpd_config_load reads files, so each input goes into a memfd named by
 * its /proc/self/fd path (no file system writes, nothing to clean up).
 * The reader tells JSON from HCL by the content, so one target covers
 * both. */
#define _GNU_SOURCE
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "fuzz.h"

/* The environment overrides parse values too (addresses, durations,
 * booleans, numbers).  The fake environment gives every variable the
 * text after the input's last '#' (an HCL comment, so the file still
 * loads), which the fuzzer then varies like any other byte. */
static char env_value[128];

static const char *
fake_getenv(const char *name)
{
    (void)name;
    return env_value[0] ? env_value : NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_config", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            close(fd);
            return 0;
        }
        off += (size_t)w;
    }
    char path[64], err[1024];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    const char *paths[1] = {path};
    vpd_config *cfg = vpd_config_load(paths, 1, err, sizeof err);
    if (cfg) {
        const uint8_t *hash = NULL;
        for (size_t i = size; i > 0 && !hash; i--)
            if (data[i - 1] == '#')
                hash = data + i;
        size_t n = hash ? size - (size_t)(hash - data) : 0;
        if (n > sizeof env_value - 1)
            n = sizeof env_value - 1;
        memcpy(env_value, hash ? (const char *)hash : "", n);
        env_value[n] = '\0';
        (void)vpd_config_apply_env(cfg, fake_getenv, err, sizeof err);
        vpd_config_free(cfg);
    }
    close(fd);

    /* Durations come from the same files (and from env overrides). */
    char dur[64];
    size_t n = size < sizeof dur - 1 ? size : sizeof dur - 1;
    memcpy(dur, data, n);
    dur[n] = '\0';
    uint64_t ms;
    (void)vpd_duration_parse(dur, &ms);
    return 0;
}
