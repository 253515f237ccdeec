/* kv_events_probe: the KV event subscription (core/cache/kv_events) on its
 * own, for the integration tests, until the static cache drives it inside
 * the daemon.  It subscribes to a Vault address with the token read from a
 * file (read again at every attempt, so a test can change it) and prints
 * one line per callback on stdout:
 *
 *   connected | unavailable | disconnected | reauth
 *   event <ns>|<path>|<modified 0/1>
 *   stats connected=<0/1> events=<n> connects=<n> disconnects=<n> bad=<n>
 *
 * Usage: kv_events_probe <vault-address> <token-file> [reconnect-ms]
 * (reconnect-ms 0 or absent: the module's default).  KV_PROBE_CA_CERT
 * names the CA bundle for an https address (the vault block's ca_cert).
 * Ends on SIGTERM. */
#include "autoconf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cache/kv_events.h"
#include "upstream/forward.h"

static vpd_kv_events *events;
static char token[4096];
static const char *token_file;

static void
print_stats(void)
{
    vpd_kv_events_stats s;
    vpd_kv_events_stats_get(events, &s);
    printf("stats connected=%d events=%llu connects=%llu disconnects=%llu "
           "bad=%llu\n",
           s.connected, (unsigned long long)s.events_received,
           (unsigned long long)s.connects, (unsigned long long)s.disconnects,
           (unsigned long long)s.bad_messages);
    fflush(stdout);
}

static void
say(const char *what)
{
    printf("%s\n", what);
    fflush(stdout);
}

static void
on_connected(void *arg)
{
    say("connected");
    print_stats();
}

static void
on_event(void *arg, const char *ns, const char *path, bool modified)
{
    printf("event %s|%s|%d\n", ns, path, modified);
    fflush(stdout);
    print_stats();
}

static void
on_unavailable(void *arg)
{
    say("unavailable");
}

static void
on_disconnected(void *arg)
{
    say("disconnected");
    print_stats();
}

static const char *
get_token(void *arg)
{
    FILE *f = fopen(token_file, "r");
    if (!f)
        return NULL;
    size_t n = fread(token, 1, sizeof token - 1, f);
    fclose(f);
    token[n] = '\0';
    token[strcspn(token, "\r\n")] = '\0';
    return token[0] ? token : NULL;
}

static void
reauth(void *arg)
{
    say("reauth");
}

static void
on_term(uv_signal_t *s, int signum)
{
    vpd_kv_events_free(events);
    events = NULL;
    vpd_fwd_free(s->data);
    uv_close((uv_handle_t *)s, NULL);
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kv_events_probe <vault-address> <token-file> "
                        "[reconnect-ms]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    token_file = argv[2];
    uv_loop_t *loop = uv_default_loop();
    char *ca = getenv("KV_PROBE_CA_CERT");
    vpd_vault_config v = {.address = argv[1],
                          .num_retries = -1,
                          .ca_cert = ca && *ca ? ca : NULL};
    char err[256];
    vpd_fwd *fwd = vpd_fwd_new(loop, &v, err, sizeof err);
    if (!fwd) {
        fprintf(stderr, "kv_events_probe: %s\n", err);
        return 1;
    }
    vpd_kv_events_auth auth = {get_token, reauth, NULL};
    vpd_kv_events_opts opts = {.reconnect_ms =
                                   argc > 3 ? strtoull(argv[3], NULL, 10) : 0};
    static const vpd_kv_events_cb cb = {on_connected, on_event, on_unavailable,
                                        on_disconnected};
    events = vpd_kv_events_start(loop, fwd, &auth, &opts, &cb, NULL);
    if (!events)
        return 1;
    uv_signal_t sig;
    uv_signal_init(loop, &sig);
    sig.data = fwd;
    uv_signal_start(&sig, on_term, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
