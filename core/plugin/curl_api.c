/* libcurl's entry points resolved at run time: see curl_api.h. */
#include "autoconf.h"

#include "plugin/curl_api.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static vpd_curl_api api;
static void *library;
static const char *library_name;
static char reason[512];

void
vpd_curl_api_set_library(const char *name)
{
    library_name = name;
}

/* One entry point: the table's member, its symbol. */
typedef struct {
    size_t offset;
    const char *symbol;
} entry;

#define ENTRY(member, sym)                                                     \
    {                                                                          \
        offsetof(vpd_curl_api, member), sym                                    \
    }

static const entry entries[] = {
    ENTRY(global_init, "curl_global_init"),
    ENTRY(easy_init, "curl_easy_init"),
    ENTRY(easy_setopt, "curl_easy_setopt"),
    ENTRY(easy_getinfo, "curl_easy_getinfo"),
    ENTRY(easy_cleanup, "curl_easy_cleanup"),
    ENTRY(easy_strerror, "curl_easy_strerror"),
    ENTRY(multi_init, "curl_multi_init"),
    ENTRY(multi_setopt, "curl_multi_setopt"),
    ENTRY(multi_add_handle, "curl_multi_add_handle"),
    ENTRY(multi_remove_handle, "curl_multi_remove_handle"),
    ENTRY(multi_socket_action, "curl_multi_socket_action"),
    ENTRY(multi_assign, "curl_multi_assign"),
    ENTRY(multi_info_read, "curl_multi_info_read"),
    ENTRY(multi_cleanup, "curl_multi_cleanup"),
    ENTRY(slist_append, "curl_slist_append"),
    ENTRY(slist_free_all, "curl_slist_free_all"),
    ENTRY(version, "curl_version"),
};

static const vpd_curl_api *
fail(const char **why)
{
    if (why)
        *why = reason;
    return NULL;
}

const vpd_curl_api *
vpd_curl_api_get(const char **why)
{
    if (library)
        return &api;
    const char *name = library_name ? library_name : VPD_CURL_LIBRARY;
    /* Local binding: the daemon and its plugins never see curl's symbols,
     * only this table does. */
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(reason, sizeof reason, "cannot load %s (install libcurl4): %s",
                 name, e ? e : "unknown error");
        return fail(why);
    }
    vpd_curl_api loaded;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        void *sym = dlsym(h, entries[i].symbol);
        if (!sym) {
            snprintf(reason, sizeof reason, "%s has no %s: not libcurl 4", name,
                     entries[i].symbol);
            dlclose(h);
            return fail(why);
        }
        /* POSIX guarantees a function pointer survives the round trip
         * through void *; memcpy says so without a cast between the
         * two kinds of pointer. */
        memcpy((char *)&loaded + entries[i].offset, &sym, sizeof sym);
    }
    api = loaded;
    library = h;
    return &api;
}
