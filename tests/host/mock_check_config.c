/* mock_check_config: the mock host's verdict on a plugin configuration,
 * for tests that hold it against vaproxyd's (test_plugins.py).
 *
 *     mock_check_config PLUGIN.so IMPLEMENTATION [KEY VALUE]...
 *
 * Loads the plugin, finds the implementation in its descriptor and runs
 * mock_check_schema on the pairs: prints "ok" and exits 0, or prints the
 * message and exits 1; anything else (a plugin it cannot read) exits 2.
 * It reads the plugin's arrays directly, so it takes only plugins built
 * with these headers' layouts: the daemon's loader is what copes with
 * the others. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "mock_host.h"

static const vp_plugin_t *
descriptor(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return NULL;
    }
    /* The module name is the file's name up to its first dot. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char sym[256];
    snprintf(sym, sizeof sym, "%.*s_LTX_vaproxy_plugin",
             (int)strcspn(base, "."), base);
    const vp_plugin_t *d = dlsym(dl, sym);
    if (!d)
        fprintf(stderr, "%s has no %s\n", path, sym);
    return d;
}

int
main(int argc, char **argv)
{
    if (argc < 3 || argc % 2 != 1) {
        fprintf(stderr, "usage: %s PLUGIN.so IMPLEMENTATION [KEY VALUE]...\n",
                argv[0]);
        return 2;
    }
    const vp_plugin_t *d = descriptor(argv[1]);
    if (!d)
        return 2;
    if (d->size < sizeof *d || d->conf_field_size != sizeof(vp_conf_field_t) ||
        d->provide_size != sizeof(vp_provide_t)) {
        fprintf(stderr, "%s was built with other layouts\n", argv[1]);
        return 2;
    }
    for (const vp_provide_t *p = d->provides; p->kind; p++) {
        if (strcmp(p->name, argv[2]) != 0)
            continue;
        char err[1024] = "";
        /* argv's pairs end with its NULL, as mock_check_schema wants. */
        if (mock_check_schema(p->schema, (const char *const *)argv + 3, err,
                              sizeof err) == 0) {
            printf("ok\n");
            return 0;
        }
        printf("%s\n", err);
        return 1;
    }
    fprintf(stderr, "%s provides no \"%s\"\n", argv[1], argv[2]);
    return 2;
}
