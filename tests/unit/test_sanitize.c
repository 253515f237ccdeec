/* Answers about the auto-auth token lose its id and accessor;
 * everything else passes untouched. */
#include "autoconf.h"

#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "proxy/sanitize.h"

static const char LOOKUP[] =
    "{\"request_id\":\"r\",\"data\":{\"id\":\"hvs.AUTO\",\"accessor\":\"acc\","
    "\"ttl\":30,\"policies\":[\"default\"]},\"auth\":null}";
static const char RENEW[] =
    "{\"auth\":{\"client_token\":\"hvs.AUTO\",\"accessor\":\"acc\","
    "\"lease_duration\":30},\"data\":null}";

static vpd_sanitize_result
run(const char *path, const char *req_token, const char *req_body,
    const char *answer, char **out)
{
    size_t len = 0;
    *out = NULL;
    return vpd_sanitize_token_answer(
        path, req_token, req_body, req_body ? strlen(req_body) : 0, "hvs.AUTO",
        answer, strlen(answer), out, &len);
}

TEST(lookup_self_with_the_auto_token_loses_id_and_accessor)
{
    char *out;
    ASSERT_INT_EQ(
        run("/v1/auth/token/lookup-self", "hvs.AUTO", NULL, LOOKUP, &out),
        VPD_SANITIZED);
    ASSERT(!strstr(out, "hvs.AUTO"));
    ASSERT(!strstr(out, "\"accessor\""));
    ASSERT_STR_CONTAINS(out, "\"ttl\":30");
    free(out);
}

TEST(renew_self_blanks_client_token_and_accessor)
{
    char *out;
    ASSERT_INT_EQ(
        run("/v1/auth/token/renew-self", "hvs.AUTO", NULL, RENEW, &out),
        VPD_SANITIZED);
    ASSERT_STR_CONTAINS(out, "\"client_token\":\"\"");
    ASSERT_STR_CONTAINS(out, "\"accessor\":\"\"");
    ASSERT_STR_CONTAINS(out, "\"lease_duration\":30");
    free(out);
}

TEST(another_token_is_left_alone)
{
    char *out;
    ASSERT_INT_EQ(
        run("/v1/auth/token/lookup-self", "hvs.OTHER", NULL, LOOKUP, &out),
        VPD_SANITIZE_UNTOUCHED);
    ASSERT_NULL(out);
}

TEST(lookup_by_body_token_or_empty_token)
{
    char *out;
    ASSERT_INT_EQ(run("/v1/auth/token/lookup", "hvs.X",
                      "{\"token\":\"hvs.AUTO\"}", LOOKUP, &out),
                  VPD_SANITIZED);
    free(out);
    ASSERT_INT_EQ(run("/v1/auth/token/lookup", "hvs.AUTO", "{\"token\":\"\"}",
                      LOOKUP, &out),
                  VPD_SANITIZED);
    free(out);
    ASSERT_INT_EQ(run("/v1/auth/token/renew", "hvs.AUTO",
                      "{\"token\":\"hvs.OTHER\"}", RENEW, &out),
                  VPD_SANITIZE_UNTOUCHED);
    /* A missing or non-string token leaves the answer alone. */
    ASSERT_INT_EQ(
        run("/v1/auth/token/lookup", "hvs.AUTO", "{\"token\":5}", LOOKUP, &out),
        VPD_SANITIZE_UNTOUCHED);
}

TEST(unparsable_request_body_is_an_error)
{
    char *out;
    ASSERT_INT_EQ(
        run("/v1/auth/token/lookup", "hvs.AUTO", "{not json", LOOKUP, &out),
        VPD_SANITIZE_ERROR);
}

TEST(namespaced_and_trailing_slash_paths_match)
{
    char *out;
    ASSERT_INT_EQ(
        run("/v1/ns1/auth/token/lookup-self", "hvs.AUTO", NULL, LOOKUP, &out),
        VPD_SANITIZED);
    free(out);
    ASSERT_INT_EQ(
        run("/v1/auth/token/lookup-self/", "hvs.AUTO", NULL, LOOKUP, &out),
        VPD_SANITIZED);
    free(out);
    ASSERT_INT_EQ(run("/v1/secret/auth/token/lookup-selfish", "hvs.AUTO", NULL,
                      LOOKUP, &out),
                  VPD_SANITIZE_UNTOUCHED);
    ASSERT_INT_EQ(run("/v1/sys/health", "hvs.AUTO", NULL, LOOKUP, &out),
                  VPD_SANITIZE_UNTOUCHED);
}

int
main(void)
{
    return RUN_TESTS(T(lookup_self_with_the_auto_token_loses_id_and_accessor),
                     T(renew_self_blanks_client_token_and_accessor),
                     T(another_token_is_left_alone),
                     T(lookup_by_body_token_or_empty_token),
                     T(unparsable_request_body_is_an_error),
                     T(namespaced_and_trailing_slash_paths_match));
}
