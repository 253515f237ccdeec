/* libFuzzer target for what clients send: the bytes of one connection go
 * through the real listener (core/http/server.c: llhttp, the LIST workaround,
 * pipelining, limits, header handling) into the real router (proxy API
 * paths, token selection, require_request_header), the plugin chain and
 * lease cache when the plugins are built (setup_chain), and the forwarder.
 * Besides sanitizer reports, it aborts when an answer does not start with
 * "HTTP/", when a client's request makes the forwarder refuse it (a 500
 * for the client's own mistake), or when a connection hangs.
 *
 * The upstream is a unix socket path that does not exist, so every
 * forwarded request fails at connect() inside libcurl without waiting,
 * and retries are off: no input can make an iteration block or sleep.
 *
 * One server, router and forwarder live for the whole process (built on
 * the first input); each input opens one client connection and leaves
 * nothing behind once it is closed.  Input layout:
 *
 *   byte 0: bits 0-1 listener (plain+quit, require_request_header,
 *           metrics_only, small limits); bit 2 half-close after sending;
 *           bit 3 with an auto-auth token in the holder
 *   byte 1: where the rest is split into two writes (x/255 of its length)
 *   rest:   the bytes the client sends */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "proxy/chain.h"
#include "config/config.h"
#include "upstream/forward.h"
#include "base/secmem.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "cache/lease_cache.h"
#include "plugin/plugin_loader.h"
#include "base/log.h"
#include "proxy/router.h"
#include "http/server.h"
#include "auth/token_holder.h"

#define N_LISTENERS 4
/* Loop turns per phase: far more than any answer needs (each is a few
 * turns), small enough that a stuck connection shows up as a failure. */
#define MAX_TURNS 4000

static struct {
    bool ready;
    char dir[64];
    char sock[N_LISTENERS][96];
    uv_loop_t loop;
    vpd_config *cfg;
    vpd_fwd *fwd;
    vpd_chain chain;
    vpd_token_holder holder;
    vpd_registry plugins;
    vpd_router *router;
    vpd_server *srv;
} G;

static void
die(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

/* libFuzzer and the replay exit without tearing the server down; the
 * socket files and their directory should not pile up in /tmp. */
static void
remove_files(void)
{
    for (int i = 0; i < N_LISTENERS; i++)
        unlink(G.sock[i]);
    rmdir(G.dir);
}

/* With the built plugins at hand, the chain is the daemon's: consistency
 * "always" (which reads the client's X-Vault-Index and friends) and the
 * lease cache on the "memory" store (cache keys from client requests,
 * cache-clear bodies).  NETFUZZ_PLUGIN_DIR names the directory; the replay
 * build passes its own; without one the router runs with an empty chain. */
static void
setup_chain(void)
{
    char err[1024];
    const char *dir = getenv("NETFUZZ_PLUGIN_DIR");
#ifdef VP_BUILD_PLUGINDIR
    if (!dir)
        dir = VP_BUILD_PLUGINDIR;
#endif
    if (!dir)
        return;
    if (vpd_plugins_load_dir(&G.plugins, dir, vpd_host_api(), err,
                             sizeof err) != 0)
        die(err);
    vpd_conf_pair pairs[] = {{"when_inconsistent", "forward"}};
    vpd_instance *c =
        vpd_instance_new(&G.plugins, VP_KIND_CONSISTENCY, "always", NULL, pairs,
                         1, "fuzz", err, sizeof err);
    if (!c || vpd_chain_add(&G.chain, c) != 0)
        die(err);
    vpd_instance *store =
        vpd_instance_new(&G.plugins, VP_KIND_CACHE, "memory", NULL, NULL, 0,
                         "fuzz", err, sizeof err);
    if (!store)
        die(err);
    vpd_lease_cache *cache =
        vpd_lease_cache_new(&G.loop, store, G.fwd, &G.holder, true);
    if (!cache)
        die("lease cache");
    vpd_chain_set_cache(&G.chain, cache, store);
}

static size_t
client_connections(void *arg)
{
    (void)arg;
    return G.srv ? vpd_server_connections(G.srv) : 0;
}

/* The config goes through the real loader, so listener defaults (limits,
 * timeouts) are the ones the daemon uses. */
static void
setup(void)
{
    char path[128], err[1024];
    snprintf(G.dir, sizeof G.dir, "/tmp/vp-netfuzz-XXXXXX");
    if (!mkdtemp(G.dir))
        die("mkdtemp");
    atexit(remove_files);
    for (int i = 0; i < N_LISTENERS; i++)
        snprintf(G.sock[i], sizeof G.sock[i], "%s/l%d.sock", G.dir, i);
    snprintf(path, sizeof path, "%s/proxy.hcl", G.dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("config file");
    fprintf(f,
            "vault {\n  address = \"unix://%s/no-upstream.sock\"\n"
            "  retry { num_retries = -1 }\n}\n"
            "telemetry { prometheus_retention_time = \"1h\" }\n"
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "  proxy_api { enable_quit = true }\n}\n"
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "  require_request_header = true\n}\n"
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "  role = \"metrics_only\"\n}\n"
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "  max_request_header_bytes = 256\n  max_request_size = 64\n}\n",
            G.dir, G.sock[0], G.sock[1], G.sock[2], G.sock[3]);
    fclose(f);
    const char *paths[] = {path};
    G.cfg = vpd_config_load(paths, 1, err, sizeof err);
    if (!G.cfg) {
        fprintf(stderr, "%s\n", err);
        die("config");
    }
    unlink(path);
    /* Quiet by default: libFuzzer runs millions of inputs.  NETFUZZ_DEBUG=1
     * shows what the server and router did with each one. */
    vpd_log_set_level(getenv("NETFUZZ_DEBUG") ? VPD_LOG_DEBUG : VPD_LOG_ERROR);
    uv_loop_init(&G.loop);
    G.fwd = vpd_fwd_new(&G.loop, &G.cfg->vault, err, sizeof err);
    if (!G.fwd)
        die(err);
    vpd_fwd_set_retry_base_ms(G.fwd, 0, 0);
    setup_chain();
    vpd_router_deps deps = {.cfg = G.cfg,
                            .fwd = G.fwd,
                            .chain = &G.chain,
                            .holder = &G.holder,
                            .client_connections = client_connections};
    G.router = vpd_router_new(&G.loop, &deps);
    if (!G.router)
        die("router");
    G.srv = vpd_server_start(&G.loop, G.cfg, vpd_router_handle, G.router, err,
                             sizeof err);
    if (!G.srv)
        die(err);
    G.ready = true;
}

static bool
busy(void)
{
    return vpd_server_inflight(G.srv) || vpd_router_inflight(G.router) ||
           vpd_fwd_inflight(G.fwd);
}

/* Reads what the server sent so its writes never back up.  Returns false
 * once the server closed the connection.  Every answer must start as an
 * HTTP/1.x status line: anything else would be a framing bug. */
static bool
drain(int fd, size_t *seen)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (*seen == 0 && (n < 5 || memcmp(buf, "HTTP/", 5) != 0))
                die("answer does not start with HTTP/");
            /* Client input never makes the forwarder refuse a request:
             * the server must have refused it first, with a 400.  (A
             * needle split across two reads is missed; that is fine.) */
            if (memmem(buf, (size_t)n, "failed to start the upstream", 28))
                die("a request the forwarder refuses got past the server");
            *seen += (size_t)n;
            continue;
        }
        if (n == 0)
            return false;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

/* Writes all of buf, turning the loop while the socket is full.  Returns
 * false when the server closed the connection before taking it all. */
static bool
send_all(int fd, const uint8_t *buf, size_t len, size_t *seen)
{
    size_t off = 0;
    for (int turns = 0; off < len; turns++) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        if (turns > MAX_TURNS)
            die("the server stopped reading a connection");
        uv_run(&G.loop, UV_RUN_NOWAIT);
        if (!drain(fd, seen))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!G.ready)
        setup();
    if (size < 2)
        return 0;
    int which = data[0] & 3;
    bool half_close = data[0] & 4;
    bool with_token = data[0] & 8;
    size_t len = size - 2, split = len * data[1] / 255;
    const uint8_t *msg = data + 2;

    if (with_token)
        vpd_token_set(&G.holder, "hvs.fuzz-auto-auth-token");

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", G.sock[which]);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        die("connect");
    /* Let the server accept before anything arrives. */
    uv_run(&G.loop, UV_RUN_NOWAIT);

    size_t seen = 0;
    bool open = send_all(fd, msg, split, &seen);
    if (open) {
        /* The first part is parsed on its own before the rest comes. */
        uv_run(&G.loop, UV_RUN_NOWAIT);
        open =
            drain(fd, &seen) && send_all(fd, msg + split, len - split, &seen);
    }
    if (open && half_close)
        shutdown(fd, SHUT_WR);
    /* Until the server closes, or nothing is under way and a few idle
     * turns passed (a keep-alive connection waiting for more). */
    int idle = 0;
    for (int turns = 0; open && idle < 8; turns++) {
        if (turns > MAX_TURNS)
            die("a request never got its answer");
        uv_run(&G.loop, UV_RUN_NOWAIT);
        open = drain(fd, &seen);
        idle = busy() ? 0 : idle + 1;
    }
    close(fd);
    /* The server sees EOF and frees the connection in close callbacks. */
    for (int turns = 0; vpd_server_connections(G.srv) || busy(); turns++) {
        if (turns > MAX_TURNS)
            die("a closed connection was never freed");
        uv_run(&G.loop, UV_RUN_NOWAIT);
    }
    uv_run(&G.loop, UV_RUN_NOWAIT);
    if (with_token) {
        /* Not vpd_token_holder_clear: that would drop the router's
         * listener registration too. */
        vpd_secret_free(G.holder.token);
        G.holder.token = NULL;
        G.holder.dead = false;
    }
    return 0;
}
