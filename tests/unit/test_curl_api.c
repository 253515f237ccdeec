/* libcurl loaded at run time (core/plugin/curl_api.h): a library that
 * cannot be loaded gives a reason naming it, the default one gives a full
 * table, and a fetch without libcurl fails at once with that reason. */
#include "autoconf.h"

#include <string.h>
#include <uv.h>

#include "plugin/curl_api.h"
#include "plugin/fetch.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "test.h"

#define MISSING "libvaproxy-no-such-curl.so.4"

TEST(a_missing_library_is_reported_by_name)
{
    vpd_curl_api_set_library(MISSING);
    const char *why = NULL;
    ASSERT(vpd_curl_api_get(&why) == NULL);
    ASSERT_NOT_NULL(why);
    ASSERT_NOT_NULL(strstr(why, MISSING));
    vpd_curl_api_set_library(NULL);
}

TEST(a_library_without_curl_entry_points_is_refused)
{
    /* libuv is loaded already and is no libcurl. */
    vpd_curl_api_set_library("libuv.so.1");
    const char *why = NULL;
    ASSERT(vpd_curl_api_get(&why) == NULL);
    ASSERT_NOT_NULL(strstr(why, "curl_global_init"));
    vpd_curl_api_set_library(NULL);
}

static void
never_called(vp_instance_t *i, const vp_fetch_answer_t *a, void *arg)
{
    (void)i;
    (void)a;
    (void)arg;
    TEST_FAIL_("a fetch that failed to start called back");
}

TEST(a_fetch_without_libcurl_fails_with_the_reason)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_plugin_fetch_set_loop(&loop);
    vpd_instance core_inst = {.kind = VP_KIND_AUTH};
    core_inst.pub = (vp_instance_t){
        .host = vpd_host_api(), .name = "t", .size = sizeof core_inst.pub};
    vpd_curl_api_set_library(MISSING);
    vp_fetch_request_t req = {.size = sizeof req, .url = "http://127.0.0.1:1/"};
    ASSERT_NULL(
        core_inst.pub.host->fetch(&core_inst.pub, &req, never_called, NULL));
    ASSERT_STR_CONTAINS(core_inst.last_error, MISSING);
    vpd_curl_api_set_library(NULL);
    vpd_plugin_fetch_shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(the_default_library_gives_every_entry_point)
{
    const char *why = NULL;
    const vpd_curl_api *cu = vpd_curl_api_get(&why);
    ASSERT_NOT_NULL(cu);
    ASSERT_NOT_NULL(cu->global_init);
    ASSERT_NOT_NULL(cu->multi_socket_action);
    ASSERT_NOT_NULL(cu->slist_free_all);
    ASSERT_NOT_NULL(strstr(cu->version(), "libcurl/"));
    /* Loaded once: naming another library no longer matters. */
    vpd_curl_api_set_library(MISSING);
    ASSERT(vpd_curl_api_get(NULL) == cu);
    vpd_curl_api_set_library(NULL);
}

int
main(void)
{
    return RUN_TESTS(T(a_missing_library_is_reported_by_name),
                     T(a_library_without_curl_entry_points_is_refused),
                     T(a_fetch_without_libcurl_fails_with_the_reason),
                     T(the_default_library_gives_every_entry_point));
}
