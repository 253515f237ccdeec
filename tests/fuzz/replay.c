/* The regression side of a fuzz target: a plain program that feeds every
 * file of the target's corpus (seeds and every reproducer found so far)
 * to LLVMFuzzerTestOneInput once, so `make check` and its ASan+UBSan run
 * keep each fixed crash fixed.  It speaks TAP, one line per file.
 *
 * The corpus directory is VP_FUZZ_CORPUS (a -D from tests/fuzz/local.mk
 * naming $(abs_top_srcdir), so distcheck's read-only source tree works),
 * or argv[1] when given. */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole file in an exact-size buffer (ASan sees reads past its end). */
static uint8_t *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &st) == 0 &&
        (buf = malloc(st.st_size ? st.st_size : 1)))
        *len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    return buf;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : VP_FUZZ_CORPUS;
    DIR *d = opendir(dir);
    if (!d) {
        /* A missing corpus is an error, not a skip: it would silently
         * stop replaying every reproducer. */
        printf("Bail out! cannot open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (!nn || !(nn[n] = strdup(de->d_name))) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        names = nn;
        n++;
    }
    closedir(d);
    /* Sorted, so a failure names the same file on every run. */
    qsort(names, n, sizeof *names, by_name);
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        fflush(stdout); /* the name is out before a crash */
        uint8_t *buf = slurp(path, &len);
        if (!buf) {
            printf("not ok %zu - %s: cannot read\n", i + 1, names[i]);
            failed = 1;
        } else {
            LLVMFuzzerTestOneInput(buf, len);
            printf("ok %zu - %s (%zu bytes)\n", i + 1, names[i], len);
        }
        free(buf);
        free(names[i]);
    }
    free(names);
    return failed;
}
