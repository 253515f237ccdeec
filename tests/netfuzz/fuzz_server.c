/* One real server for the client-playing fuzz targets, and the client
 * connection each input makes (tests/netfuzz/fuzz_server.h). */
#include "autoconf.h"

#include <errno.h>
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
#include "fuzz_server.h"
#include "http/server.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"
#include "proxy/chain.h"
#include "proxy/router.h"
#include "upstream/forward.h"

/* Loop turns per phase: far more than any answer needs (each is a few
 * turns), small enough that a stuck connection shows up as a failure. */
#define MAX_TURNS 4000

static struct {
    bool ready;
    const fuzz_server_spec *spec;
    char dir[64];
    char sock[FUZZ_SERVER_MAX_LISTENERS][96];
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
    fprintf(stderr, "%s: %s\n", G.spec ? G.spec->name : "fuzz", what);
    abort();
}

/* libFuzzer and the replays exit without tearing the server down; the
 * socket files and their directory should not pile up in /tmp. */
static void
remove_files(void)
{
    for (int i = 0; i < G.spec->n_listeners; i++)
        unlink(G.sock[i]);
    rmdir(G.dir);
}

/* With the built plugins at hand, the chain is the daemon's: consistency
 * "always" (which reads the client's X-Vault-Index and friends) and the
 * lease cache on the "memory" store (cache keys from client requests,
 * cache-clear bodies).  NETFUZZ_PLUGIN_DIR names the directory; the replay
 * builds pass their own; without one the router runs with an empty chain. */
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

/* The config file: the vault block every target shares, the target's own
 * top-level lines, and its unix listeners in the temp dir. */
static void
write_config(const char *path)
{
    const fuzz_server_spec *spec = G.spec;
    FILE *f = fopen(path, "w");
    if (!f)
        die("config file");
    fprintf(f,
            "vault {\n  address = \"unix://%s/no-upstream.sock\"\n"
            "  retry { num_retries = -1 }\n}\n%s",
            G.dir, spec->top);
    for (int i = 0; i < spec->n_listeners; i++)
        fprintf(f,
                "listener \"unix\" {\n  address = \"%s\"\n"
                "  tls_disable = true\n%s}\n",
                G.sock[i], spec->listeners[i]);
    fclose(f);
}

/* The config goes through the real loader, so listener defaults (limits,
 * timeouts) are the ones the daemon uses. */
static void
setup(const fuzz_server_spec *spec)
{
    char path[128], err[1024];
    G.spec = spec;
    if (spec->n_listeners < 1 || spec->n_listeners > FUZZ_SERVER_MAX_LISTENERS)
        die("listener count");
    snprintf(G.dir, sizeof G.dir, "/tmp/vp-%s-XXXXXX", spec->name);
    if (!mkdtemp(G.dir))
        die("mkdtemp");
    atexit(remove_files);
    for (int i = 0; i < spec->n_listeners; i++)
        snprintf(G.sock[i], sizeof G.sock[i], "%s/l%d.sock", G.dir, i);
    snprintf(path, sizeof path, "%s/proxy.hcl", G.dir);
    write_config(path);
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
 * once the server closed the connection. */
static bool
drain(int fd, size_t *seen, bool check_first)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            const char *wrong = *seen == 0 && check_first
                                    ? G.spec->check_first(buf, (size_t)n)
                                    : NULL;
            if (wrong)
                die(wrong);
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
send_all(int fd, const void *buf, size_t len, size_t *seen, bool check)
{
    size_t off = 0;
    for (int turns = 0; off < len; turns++) {
        ssize_t n = send(fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
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

static int
connect_to(int listener)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (listener < 0 || listener >= G.spec->n_listeners)
        die("no such listener");
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", G.sock[listener]);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        die("connect");
    return fd;
}

void
fuzz_server_connection(const fuzz_server_spec *spec, const fuzz_client *cl)
{
    if (!G.ready)
        setup(spec);
    if (cl->with_token)
        vpd_token_set(&G.holder, "hvs.fuzz-auto-auth-token");
    int fd = connect_to(cl->listener);
    /* Let the server accept before anything arrives. */
    uv_run(&G.loop, UV_RUN_NOWAIT);

    size_t seen = 0;
    bool check = cl->check_first, open = true;
    if (cl->first)
        open = send_all(fd, cl->first, cl->first_len, &seen, check);
    if (open)
        open = send_all(fd, cl->msg, cl->split, &seen, check);
    if (open) {
        /* The first part is parsed on its own before the rest comes. */
        uv_run(&G.loop, UV_RUN_NOWAIT);
        open = drain(fd, &seen, check) &&
               send_all(fd, cl->msg + cl->split, cl->len - cl->split, &seen,
                        check);
    }
    if (open && cl->half_close)
        shutdown(fd, SHUT_WR);
    /* Until the server closes, or nothing is under way and a few idle
     * turns passed (a keep-alive connection waiting for more). */
    int idle = 0;
    for (int turns = 0; open && idle < 8; turns++) {
        if (turns > MAX_TURNS)
            die("a request never got its answer");
        uv_run(&G.loop, UV_RUN_NOWAIT);
        open = drain(fd, &seen, check);
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
    if (cl->with_token) {
        /* Not vpd_token_holder_clear: that would drop the router's
         * listener registration too. */
        vpd_secret_free(G.holder.token);
        G.holder.token = NULL;
        G.holder.dead = false;
    }
}
