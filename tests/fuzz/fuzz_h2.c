/* libFuzzer target for HTTP/2 clients: the bytes of one h2c connection go
 * through the real listener (core/http/server.c with
 * http2_prior_knowledge, core/http/h2_conn.c and h2_stream.c on nghttp2)
 * into the real router, the plugin chain and lease cache when the plugins
 * are built, and the forwarder.  Besides sanitizer reports, it aborts when
 * the server's first bytes are not a SETTINGS frame (after a valid
 * preface), when a client's request makes the forwarder refuse it, or when
 * a connection hangs or is never freed.
 *
 * The upstream is a unix socket path that does not exist, so every
 * forwarded request fails at connect() without waiting.  One server lives
 * for the whole process; each input opens one connection.  Input layout:
 *
 *   byte 0: bit 0 listener (plain+quit, or small limits); bit 1
 *           half-close after sending; bit 2 raw: send no preface of our
 *           own (the input must bring it); bit 3 an auto-auth token
 *   byte 1: where the rest is split into two writes (x/255 of its length)
 *   rest:   frames (after the connection preface unless raw) */
#include "autoconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "auth/token_holder.h"
#include "base/log.h"
#include "base/secmem.h"
#include "cache/lease_cache.h"
#include "config/config.h"
#include "fuzz.h"
#include "http/h2_conn.h"
#include "http/server.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"
#include "proxy/chain.h"
#include "proxy/router.h"
#include "upstream/forward.h"

#define N_LISTENERS 2
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
    fprintf(stderr, "fuzz_h2: %s\n", what);
    abort();
}

static void
remove_files(void)
{
    for (int i = 0; i < N_LISTENERS; i++)
        unlink(G.sock[i]);
    rmdir(G.dir);
}

/* The daemon's chain when the plugins are built: consistency and the
 * lease cache, so h2 requests reach the same code as HTTP/1.1 ones. */
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

static void
setup(void)
{
    char path[128], err[1024];
    snprintf(G.dir, sizeof G.dir, "/tmp/vp-h2fuzz-XXXXXX");
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
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "  http2_prior_knowledge = true\n"
            "  proxy_api { enable_quit = true }\n}\n"
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "  http2_prior_knowledge = true\n"
            "  max_request_header_bytes = 256\n  max_request_size = 64\n}\n",
            G.dir, G.sock[0], G.sock[1]);
    fclose(f);
    const char *paths[] = {path};
    G.cfg = vpd_config_load(paths, 1, err, sizeof err);
    if (!G.cfg) {
        fprintf(stderr, "%s\n", err);
        die("config");
    }
    unlink(path);
    vpd_log_set_level(getenv("NETFUZZ_DEBUG") ? VPD_LOG_DEBUG : VPD_LOG_ERROR);
    uv_loop_init(&G.loop);
    G.fwd = vpd_fwd_new(&G.loop, &G.cfg->vault, err, sizeof err);
    if (!G.fwd)
        die(err);
    vpd_fwd_set_retry_base_ms(G.fwd, 0, 0);
    setup_chain();
    vpd_router_deps deps = {
        .cfg = G.cfg, .fwd = G.fwd, .chain = &G.chain, .holder = &G.holder};
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

/* Reads what the server sent so its writes never back up; false once the
 * server closed.  After our preface, the server's first frame must be its
 * SETTINGS (type 4 on stream 0). */
static bool
drain(int fd, size_t *seen, bool check_settings)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (*seen == 0 && check_settings &&
                (n < 9 || buf[3] != 4 || memcmp(buf + 5, "\0\0\0\0", 4)))
                die("the server did not start with SETTINGS");
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

static bool
send_all(int fd, const uint8_t *buf, size_t len, size_t *seen, bool check)
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
        if (!drain(fd, seen, check))
            return false;
    }
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!G.ready)
        setup();
    if (size < 2)
        return 0;
    int which = data[0] & 1;
    bool half_close = data[0] & 2;
    bool raw = data[0] & 4;
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
    uv_run(&G.loop, UV_RUN_NOWAIT);

    size_t seen = 0;
    bool open = true;
    if (!raw)
        open = send_all(fd, (const uint8_t *)VPD_H2_PREFACE, VPD_H2_PREFACE_LEN,
                        &seen, true);
    if (open)
        open = send_all(fd, msg, split, &seen, !raw);
    if (open) {
        uv_run(&G.loop, UV_RUN_NOWAIT);
        open = drain(fd, &seen, !raw) &&
               send_all(fd, msg + split, len - split, &seen, !raw);
    }
    if (open && half_close)
        shutdown(fd, SHUT_WR);
    int idle = 0;
    for (int turns = 0; open && idle < 8; turns++) {
        if (turns > MAX_TURNS)
            die("a request never got its answer");
        uv_run(&G.loop, UV_RUN_NOWAIT);
        open = drain(fd, &seen, !raw);
        idle = busy() ? 0 : idle + 1;
    }
    close(fd);
    for (int turns = 0; vpd_server_connections(G.srv) || busy(); turns++) {
        if (turns > MAX_TURNS)
            die("a closed connection was never freed");
        uv_run(&G.loop, UV_RUN_NOWAIT);
    }
    uv_run(&G.loop, UV_RUN_NOWAIT);
    if (with_token) {
        vpd_secret_free(G.holder.token);
        G.holder.token = NULL;
        G.holder.dead = false;
    }
    return 0;
}
