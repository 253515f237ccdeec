/* The regression side of a fuzz target: a plain program that feeds every
 * file of the target's corpus (seeds and every reproducer found so far)
 * to LLVMFuzzerTestOneInput once, so `make check` and its ASan+UBSan run
 * keep each fixed crash fixed.  It speaks TAP, one line per file.
 *
 * The corpus is VP_FUZZ_CORPUS, a ':'-separated list of directories (a -D
 * from tests/fuzz/local.mk naming $(abs_top_srcdir), so distcheck's
 * read-only source tree works), or the directories given as arguments.
 * Seeds that exist elsewhere in the tree (test and example configs) are
 * read where they are instead of being copied into the corpus. */
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

/* Appends the regular files of dir, sorted, as "dir/name" to *paths.
 * Returns 0, or -1 when the directory cannot be read. */
static int
list_dir(const char *dir, char ***paths, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        /* A missing corpus is an error, not a skip: it would silently
         * stop replaying every reproducer. */
        printf("Bail out! cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    size_t first = *n;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        char **nn = realloc(*paths, (*n + 1) * sizeof **paths);
        if (!nn || !(nn[*n] = strdup(path))) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        *paths = nn;
        (*n)++;
    }
    closedir(d);
    /* Sorted, so a failure names the same file on every run. */
    qsort(*paths + first, *n - first, sizeof **paths, by_name);
    return 0;
}

int
main(int argc, char **argv)
{
    char **paths = NULL;
    size_t n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            if (list_dir(argv[i], &paths, &n) != 0)
                return 1;
    } else {
        char *dirs = strdup(VP_FUZZ_CORPUS), *save = NULL;
        for (char *d = strtok_r(dirs, ":", &save); d;
             d = strtok_r(NULL, ":", &save))
            if (list_dir(d, &paths, &n) != 0)
                return 1;
        free(dirs);
    }
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        fflush(stdout); /* the name is out before a crash */
        uint8_t *buf = slurp(paths[i], &len);
        if (!buf) {
            printf("not ok %zu - %s: cannot read\n", i + 1, paths[i]);
            failed = 1;
        } else {
            LLVMFuzzerTestOneInput(buf, len);
            printf("ok %zu - %s (%zu bytes)\n", i + 1, paths[i], len);
        }
        free(buf);
        free(paths[i]);
    }
    free(paths);
    return failed;
}
