/* libcurl, loaded when the first plugin fetch needs it rather than linked
 * into vaproxyd.  libcurl pulls in a long chain of libraries (LDAP,
 * Kerberos, SSH, RTMP, PSL, brotli, GnuTLS for its dependencies...) that
 * cost every daemon resident memory and start-up time, while most
 * deployments never fetch anything.  Only the few entry points fetch.c
 * calls are resolved, by name, into a table.
 *
 * Ownership: the table is process-wide; once loaded it stays loaded (and
 * the library with it) until the process exits.  The strings returned as
 * reasons are static or owned by this module and valid until the next
 * call. */
#ifndef VPD_PLUGIN_CURL_API_H
#define VPD_PLUGIN_CURL_API_H

#include <curl/curl.h>

/* The shared object loaded when none was named (libcurl's soname). */
#define VPD_CURL_LIBRARY "libcurl.so.4"

typedef struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *easy);
    const char *(*easy_strerror)(CURLcode code);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
    CURLMcode (*multi_socket_action)(CURLM *multi, curl_socket_t fd,
                                     int ev_bitmask, int *running);
    CURLMcode (*multi_assign)(CURLM *multi, curl_socket_t fd, void *p);
    CURLMsg *(*multi_info_read)(CURLM *multi, int *msgs_in_queue);
    CURLMcode (*multi_cleanup)(CURLM *multi);
    struct curl_slist *(*slist_append)(struct curl_slist *list,
                                       const char *data);
    void (*slist_free_all)(struct curl_slist *list);
    char *(*version)(void);
} vpd_curl_api;

/* The table, loading the library at the first call.  NULL when it cannot
 * be loaded or lacks an entry point; then *why (if why is not NULL) says
 * what went wrong, naming the library.  A failure is not remembered: a
 * later call tries again (the package may have been installed since). */
const vpd_curl_api *vpd_curl_api_get(const char **why);

/* Names the shared object to load instead of VPD_CURL_LIBRARY (NULL for
 * the default); it counts only until a load has succeeded.  For tests. */
void vpd_curl_api_set_library(const char *name);

#endif
