/* Durations: the daemon's parser (base/duration.c, also behind the host
 * table's conf_duration_ms) and the SDK's mock host read every case alike,
 * so a plugin tested against the mock meets no surprise in vaproxyd.  Each
 * case also states the value Vault gives it, so both cannot drift
 * together. */
#include "autoconf.h"

#include "test.h"

#include <stdint.h>

#include "base/duration.h"
#include "mock_host.h"
#include "plugin/plugin_conf.h"

typedef struct {
    const char *text;
    int ok;
    uint64_t ms;
} duration_case;

static const duration_case cases[] = {
    {"1d12h", 0, 0}, /* "d" is no Go unit; only a bare "Nd" is days */
    {"1.5h", 1, 5400000},
    {"90", 1, 90000}, /* bare integers are seconds */
    {"90s", 1, 90000},
    {"0", 1, 0},
    {"-1s", 0, 0}, /* negative durations are never valid settings */
    {"", 1, 0},    /* Vault reads an empty duration as zero */
    {"1x", 0, 0},
    {"2d", 1, 172800000},
    {"1h30m", 1, 5400000},
    {"250ms", 1, 250},
    {"106751d", 1, 106751ull * 86400000ull},
    {"106752d", 0, 0},             /* past Go's time.Duration */
    {"9223372036854775807", 0, 0}, /* seconds past it */
    {"2562048h", 0, 0},
    {"99999999999999999999s", 0, 0},
};

static const vp_conf_field_t schema[] = {
    VP_CONF_FIELD("d", VP_CONF_DURATION, 0, NULL, "a duration"),
    VP_CONF_END,
};

/* The daemon: the parser itself, then the host table's path (an
 * instance's configuration with the value as a synthetic pair). */
static int
daemon_parse(const char *text, uint64_t *ms)
{
    uint64_t direct = 0;
    int rc = vpd_duration_parse(text, &direct);
    vpd_plugin_conf c;
    vpd_conf_pair pair = {"d", text};
    ASSERT_INT_EQ(vpd_plugin_conf_init(&c, schema, NULL, &pair, 1), 0);
    const char *str = NULL;
    int64_t num = 0;
    int host_rc = vpd_plugin_conf_get(&c, "d", VP_CONF_DURATION, &str, &num);
    vpd_plugin_conf_free(&c);
    ASSERT_INT_EQ(host_rc == 0, rc == 0);
    if (rc == 0)
        ASSERT(direct == (uint64_t)num);
    *ms = direct;
    return rc;
}

/* The mock host: its schema check and its conf_duration_ms. */
static int
mock_parse(const char *text, uint64_t *ms)
{
    const char *pairs[] = {"d", text, NULL};
    char err[256];
    int check = mock_check_schema(schema, pairs, err, sizeof err);
    mock_instance *mi = mock_instance_new("d", schema, pairs);
    ASSERT_NOT_NULL(mi);
    int rc = mock_host()->conf_duration_ms(&mi->pub, "d", ms);
    mock_instance_free(mi);
    ASSERT_INT_EQ(check == 0, rc == 0);
    return rc;
}

TEST(daemon_and_mock_host_read_durations_alike)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t d_ms = 0, m_ms = 0;
        int d = daemon_parse(cases[i].text, &d_ms);
        int m = mock_parse(cases[i].text, &m_ms);
        if ((d == 0) != cases[i].ok || (m == 0) != cases[i].ok)
            TEST_FAIL_("\"%s\": daemon %s, mock host %s, expected %s",
                       cases[i].text, d == 0 ? "accepts" : "refuses",
                       m == 0 ? "accepts" : "refuses",
                       cases[i].ok ? "accepted" : "refused");
        if (cases[i].ok && (d_ms != cases[i].ms || m_ms != cases[i].ms))
            TEST_FAIL_("\"%s\": daemon %llu ms, mock host %llu ms, "
                       "expected %llu",
                       cases[i].text, (unsigned long long)d_ms,
                       (unsigned long long)m_ms,
                       (unsigned long long)cases[i].ms);
    }
}

/* The mock's type error names what the key wants in the daemon's words. */
TEST(mock_host_says_what_a_duration_looks_like)
{
    const char *pairs[] = {"d", "soon", NULL};
    char err[256];
    ASSERT_INT_EQ(mock_check_schema(schema, pairs, err, sizeof err), -1);
    ASSERT_STR_EQ(err, "d: expected a duration (\"30s\", \"5m\", or seconds), "
                       "got string");
}

int
main(void)
{
    return RUN_TESTS(T(daemon_and_mock_host_read_durations_alike),
                     T(mock_host_says_what_a_duration_looks_like));
}
