/* Replays every file of the fuzz corpus (and any crash reproducer kept
 * there) through the fuzz target, so `make check` proves that inputs which
 * once crashed or hung vaproxyd are still handled.  Speaks TAP: one line
 * per file.  With arguments, replays those files instead (for a fresh
 * crash-<sha1> from contrib/netfuzz/run.sh, without libFuzzer). */
#include "autoconf.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay(const char *path, int n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok %d - %s: cannot open\n", n, path);
        return 1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        printf("not ok %d - %s: out of memory\n", n, path);
        return 1;
    }
    /* A crash or a hang aborts the whole program: the harness counts that
     * as a failure, and the last "# replaying" line names the file. */
    printf("# replaying %s\n", path);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    printf("ok %d - %s\n", n,
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char **argv)
{
    int failed = 0;
    if (argc > 1) {
        printf("1..%d\n", argc - 1);
        for (int i = 1; i < argc; i++)
            failed |= replay(argv[i], i);
        return failed;
    }
    const char *dir = VP_NETFUZZ_CORPUS;
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name), count = 0;
    if (n < 0) {
        printf("1..0 # SKIP no corpus at %s\n", dir);
        return 0;
    }
    for (int i = 0; i < n; i++)
        count += names[i]->d_name[0] != '.';
    printf("1..%d\n", count);
    for (int i = 0, t = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            failed |= replay(path, ++t);
        }
        free(names[i]);
    }
    free(names);
    return failed;
}
