/* The wide schema of the test plugins schema10 and schema12
 * (schema_wide.c), as one list both the plugins and the test that holds
 * the daemon's copy of it against the source (test_loader.c) expand:
 * SCHEMA_WIDE_FIELDS(F) calls F(key, type, flags, default_value, help)
 * once a key, in order.
 *
 * Ownership: a macro only. */
#ifndef VP_TEST_SCHEMA_WIDE_H
#define VP_TEST_SCHEMA_WIDE_H

#include <vaproxy/vaproxy.h>

#define SCHEMA_WIDE_FIELDS(F)                                                  \
    F("address", VP_CONF_STRING, VP_CONF_REQUIRED, NULL,                       \
      "where to send things")                                                  \
    F("ca_file", VP_CONF_PATH, 0, "/etc/ssl/ca.pem", "a CA bundle")            \
    F("retries", VP_CONF_INT, 0, "3", "how many tries")                        \
    F("verify", VP_CONF_BOOL, 0, "true", "check the peer")                     \
    F("interval", VP_CONF_DURATION, 0, "30s", "how often")                     \
    F("file_mode", VP_CONF_MODE, 0, "0640", "mode of what is written")         \
    F("api_key", VP_CONF_STRING, VP_CONF_SECRET, NULL, "kept secret")

#endif
