/* The event message parser of the KV event subscription (cache/kv_events):
 * Vault's CloudEvents JSON as the stream sends it with json=true, the
 * fields the static cache needs, and messages that are skipped. */
#include "autoconf.h"

#include <string.h>

#include "cache/kv_events.h"
#include "test.h"

static int
parse(const char *s, vpd_kv_event *ev)
{
    return vpd_kv_event_parse(s, strlen(s), ev);
}

TEST(data_write_event)
{
    const char *m =
        "{\"id\":\"a\",\"source\":\"vault://x\",\"specversion\":\"1.0\","
        "\"type\":\"*\",\"data\":{\"event\":{\"id\":\"b\",\"metadata\":{"
        "\"current_version\":\"2\",\"data_path\":\"secret/data/foo\","
        "\"modified\":\"true\",\"oldest_version\":\"0\","
        "\"operation\":\"data-write\",\"path\":\"secret/data/foo\"}},"
        "\"event_type\":\"kv-v2/data-write\",\"plugin_info\":{"
        "\"mount_class\":\"secret\",\"mount_path\":\"secret/\","
        "\"plugin\":\"kv\"}},\"datacontentype\":\"application/cloudevents\"}";
    vpd_kv_event ev;
    ASSERT_INT_EQ(parse(m, &ev), 0);
    ASSERT_STR_EQ(ev.path, "secret/data/foo");
    ASSERT_STR_EQ(ev.event_type, "kv-v2/data-write");
    ASSERT_STR_EQ(ev.ns, "");
    ASSERT(ev.modified);
}

TEST(delete_names_its_own_path_and_namespace)
{
    const char *m = "{\"data\":{\"namespace\":\"team-a/\",\"event\":{"
                    "\"metadata\":{\"modified\":\"true\",\"path\":"
                    "\"secret/delete/foo\"}},\"event_type\":\"kv-v2/delete\"}}";
    vpd_kv_event ev;
    ASSERT_INT_EQ(parse(m, &ev), 0);
    ASSERT_STR_EQ(ev.path, "secret/delete/foo");
    ASSERT_STR_EQ(ev.ns, "team-a/");
    ASSERT(ev.modified);
}

TEST(modified_only_when_the_string_true)
{
    vpd_kv_event ev;
    ASSERT_INT_EQ(parse("{\"data\":{\"event\":{\"metadata\":{\"modified\":"
                        "\"false\",\"path\":\"kv/x\"}}}}",
                        &ev),
                  0);
    ASSERT(!ev.modified);
    /* A boolean is not Vault's shape: not taken as modified. */
    ASSERT_INT_EQ(parse("{\"data\":{\"event\":{\"metadata\":{\"modified\":"
                        "true,\"path\":\"kv/x\"}}}}",
                        &ev),
                  0);
    ASSERT(!ev.modified);
    ASSERT_INT_EQ(
        parse("{\"data\":{\"event\":{\"metadata\":{\"path\":\"kv/x\"}}}}", &ev),
        0);
    ASSERT(!ev.modified);
}

TEST(data_path_when_there_is_no_path)
{
    vpd_kv_event ev;
    ASSERT_INT_EQ(parse("{\"data\":{\"event\":{\"metadata\":{\"modified\":"
                        "\"true\",\"data_path\":\"secret/data/y\"}}}}",
                        &ev),
                  0);
    ASSERT_STR_EQ(ev.path, "secret/data/y");
}

TEST(messages_that_are_not_events)
{
    vpd_kv_event ev;
    ASSERT_INT_EQ(parse("", &ev), -1);
    ASSERT_INT_EQ(parse("not json", &ev), -1);
    ASSERT_INT_EQ(parse("[1,2]", &ev), -1);
    ASSERT_INT_EQ(parse("{\"data\":{}}", &ev), -1);
    ASSERT_INT_EQ(
        parse("{\"data\":{\"event\":{\"metadata\":{\"path\":7}}}}", &ev), -1);
    ASSERT_INT_EQ(
        parse("{\"data\":{\"event\":{\"metadata\":{\"path\":\"\"}}}}", &ev),
        -1);
    /* Trailing bytes after the object: not one JSON value. */
    ASSERT_INT_EQ(
        parse("{\"data\":{\"event\":{\"metadata\":{\"path\":\"a\"}}}}x", &ev),
        -1);
    /* A path longer than the event can hold is refused, not cut. */
    char big[1200 + 64];
    memset(big, 0, sizeof big);
    strcpy(big, "{\"data\":{\"event\":{\"metadata\":{\"path\":\"");
    size_t l = strlen(big);
    memset(big + l, 'p', 1100);
    strcpy(big + l + 1100, "\"}}}}");
    ASSERT_INT_EQ(parse(big, &ev), -1);
}

int
main(void)
{
    return RUN_TESTS(
        T(data_write_event), T(delete_names_its_own_path_and_namespace),
        T(modified_only_when_the_string_true),
        T(data_path_when_there_is_no_path), T(messages_that_are_not_events));
}
