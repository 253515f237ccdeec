/* Durations as Vault reads them in configuration: an integer is seconds,
 * "Nd" is days, anything else is Go's time.ParseDuration syntax ("300ms",
 * "1.5h", "1h30m"), and the empty string is zero.  See vaproxyd.hcl(5).
 *
 * The same source is compiled into the SDK's mock host, so plugin tests
 * read durations exactly like the daemon (see duration.c).
 *
 * Ownership: nothing is kept; the text is borrowed for the call. */
#ifndef VPD_DURATION_H
#define VPD_DURATION_H

#include <stdint.h>

/* Parses s into milliseconds.  Returns 0, or -1 for NULL, a malformed or
 * negative duration, or one longer than Go's time.Duration holds (about
 * 292 years); *out_ms is then unchanged. */
int vpd_duration_parse(const char *s, uint64_t *out_ms);

#endif
