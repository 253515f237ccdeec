/* Plugin loading.  The order matters for safety: open the module, find the
 * descriptor, check every field we can without executing plugin code, and
 * only then call its init.  A plugin that fails any step is refused with
 * its path and the reason, and unloaded.
 *
 * Modules are opened with immediate binding (RTLD_NOW): a plugin that
 * needs a symbol nobody provides is refused at start, naming the symbol,
 * instead of killing the daemon the first time that code runs.  A module
 * file, or the directory holding it, that anyone may write is refused too:
 * whoever can replace it runs code as the daemon. */
#include "autoconf.h"

#include "plugin/plugin_loader.h"

#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <ltdl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"

/* The smallest descriptor and ops tables ABI 1.0 defines. */
#define DESC_MIN_SIZE (offsetof(vp_plugin_t, provides) + sizeof(void *))
#define OPS_MAX_SIZE 4096

static int lt_ready;

/* What the plugin whose init is running said with set_error(NULL, ...). */
static char init_error[512];

void
vpd_plugins_vset_init_error(const char *fmt, va_list ap)
{
    vsnprintf(init_error, sizeof init_error, fmt, ap);
}

const char *
vpd_kind_name(vp_kind_t kind)
{
    switch (kind) {
    case VP_KIND_AUTH:
        return "auth";
    case VP_KIND_CACHE:
        return "cache";
    case VP_KIND_CONSISTENCY:
        return "consistency";
    }
    return "unknown";
}

static int refuse(char *err, size_t err_len, const char *path, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static int
refuse(char *err, size_t err_len, const char *path, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    snprintf(err, err_len, "plugin %s refused: %s", path, reason);
    return -1;
}

/* The module name libltdl derives: the file's base name up to the first
 * '.', other non-alphanumerics mapped to '_'. */
static void
module_name(const char *path, char *out, size_t out_len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t i = 0;
    for (; base[i] && base[i] != '.' && i + 1 < out_len; i++) {
        char c = base[i];
        out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9'))
                     ? c
                     : '_';
    }
    out[i] = '\0';
}

/* Why the last module open was refused, when the file was there: libltdl
 * itself only says "file not found" after trying every candidate name. */
static char open_refusal[512];

/* Refuses a file or directory anyone may write (the sticky bit does not
 * help: it only stops others from renaming what is already there). */
static int
refuse_world_writable(const char *path, char *why, size_t why_len)
{
    struct stat st;
    if (stat(path, &st) != 0 || !(st.st_mode & S_IWOTH))
        return 0;
    snprintf(why, why_len,
             "%s %s is writable by every user (mode %04o); remove that "
             "permission (chmod o-w)",
             S_ISDIR(st.st_mode) ? "directory" : "file", path,
             (unsigned)(st.st_mode & 07777));
    return -1;
}

/* The directory part of path ("." when there is none). */
static void
dir_of(const char *path, char *out, size_t out_len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, out_len, ".");
    else if (slash == path)
        snprintf(out, out_len, "/");
    else
        snprintf(out, out_len, "%.*s", (int)(slash - path), path);
}

/* libltdl's own dlopen loader binds lazily (RTLD_LAZY), so this one
 * replaces it: the same dlopen, with RTLD_NOW, after the permission
 * check.  It records the reason of a refusal for a file that exists. */
static lt_module
now_open(lt_user_data data, const char *filename, lt_dladvise advise)
{
    (void)data;
    (void)advise;
    struct stat st;
    if (!filename || stat(filename, &st) != 0)
        return NULL;
    char dir[1024];
    dir_of(filename, dir, sizeof dir);
    if (refuse_world_writable(filename, open_refusal, sizeof open_refusal) !=
            0 ||
        refuse_world_writable(dir, open_refusal, sizeof open_refusal) != 0)
        return NULL;
    void *h = dlopen(filename, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(open_refusal, sizeof open_refusal, "%s", dlerror());
    return h;
}

static int
now_close(lt_user_data data, lt_module module)
{
    (void)data;
    return dlclose(module);
}

static void *
now_sym(lt_user_data data, lt_module module, const char *name)
{
    (void)data;
    return dlsym(module, name);
}

static const lt_dlvtable now_loader = {
    .name = "vaproxy_dlopen_now",
    .module_open = now_open,
    .module_close = now_close,
    .find_sym = now_sym,
    .priority = LT_DLLOADER_PREPEND,
};

static int
check_ops(const vp_provide_t *p, const char *path, char *err, size_t err_len)
{
    size_t size = *(const size_t *)p->ops;
    size_t min = 0;
    switch (p->kind) {
    case VP_KIND_AUTH: {
        const vp_auth_ops_t *ops = p->ops;
        min = offsetof(vp_auth_ops_t, login_step) + sizeof(void *);
        if (size >= min && !ops->login_begin)
            return refuse(err, err_len, path,
                          "auth method \"%s\" has no login_begin", p->name);
        break;
    }
    case VP_KIND_CACHE: {
        const vp_cache_ops_t *ops = p->ops;
        min = offsetof(vp_cache_ops_t, stats) + sizeof(void *);
        if (size >= min && (!ops->lookup || !ops->store || !ops->evict))
            return refuse(err, err_len, path,
                          "cache \"%s\" lacks lookup, store or evict", p->name);
        break;
    }
    case VP_KIND_CONSISTENCY: {
        const vp_consistency_ops_t *ops = p->ops;
        min = offsetof(vp_consistency_ops_t, on_response) + sizeof(void *);
        if (size >= min && !ops->on_request && !ops->on_response)
            return refuse(err, err_len, path, "consistency \"%s\" has no hooks",
                          p->name);
        break;
    }
    default:
        return refuse(err, err_len, path,
                      "implementation \"%s\" has unknown kind %d", p->name,
                      (int)p->kind);
    }
    if (size < min || size > OPS_MAX_SIZE)
        return refuse(err, err_len, path,
                      "%s \"%s\": ops table size %zu is not a valid ABI 1.x "
                      "size (at least %zu)",
                      vpd_kind_name(p->kind), p->name, size, min);
    return 0;
}

/* Everything that can be checked without running plugin code. */
static int
check_descriptor(const vpd_registry *reg, const vp_host_api_t *host,
                 const vp_plugin_t *d, const char *path, const char *modname,
                 char *err, size_t err_len)
{
    if (d->magic != VP_PLUGIN_MAGIC)
        return refuse(err, err_len, path,
                      "bad magic 0x%08x (not a vaproxy plugin, or built "
                      "against a foreign SDK)",
                      (unsigned)d->magic);
    if (d->abi_major != host->abi_major)
        return refuse(err, err_len, path,
                      "built for ABI %u.%u, this vaproxyd speaks ABI %u.%u "
                      "(major versions must match)",
                      d->abi_major, d->abi_minor, host->abi_major,
                      host->abi_minor);
    /* The minor a plugin records is the one it needs
     * (VP_TARGET_ABI_MINOR), not necessarily that of its headers. */
    if (d->abi_minor > host->abi_minor)
        return refuse(err, err_len, path,
                      "built for ABI %u.%u, newer than this vaproxyd's "
                      "ABI %u.%u: upgrade vaproxyd",
                      d->abi_major, d->abi_minor, host->abi_major,
                      host->abi_minor);
    if (d->size < DESC_MIN_SIZE)
        return refuse(err, err_len, path, "descriptor size %u is too small",
                      (unsigned)d->size);
    if (!d->name || strcmp(d->name, modname) != 0)
        return refuse(err, err_len, path,
                      "descriptor name \"%s\" does not match the file name "
                      "\"%s\"",
                      d->name ? d->name : "(null)", modname);
    if (!d->provides)
        return refuse(err, err_len, path, "provides no implementation");
    return 0;
}

/* The implementations, read from the host's copy of the arrays. */
static int
check_provides(const vpd_registry *reg, const vp_plugin_t *d,
               const vpd_layout *l, const char *path, char *err, size_t err_len)
{
    if (l->n_provides == 0)
        return refuse(err, err_len, path, "provides no implementation");
    for (const vp_provide_t *p = l->provides; p->kind != 0; p++) {
        if (!p->name || !p->name[0] || !p->ops)
            return refuse(err, err_len, path,
                          "an implementation has no name or no ops");
        if (check_ops(p, path, err, err_len) != 0)
            return -1;
        vpd_plugin *other = NULL;
        if (vpd_plugins_find(reg, p->kind, p->name, &other))
            return refuse(err, err_len, path,
                          "%s \"%s\" is already provided by %s",
                          vpd_kind_name(p->kind), p->name, other->path);
    }
    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->v[i].desc->name, d->name) == 0)
            return refuse(err, err_len, path,
                          "a plugin named \"%s\" is already loaded from %s",
                          d->name, reg->v[i].path);
    }
    return 0;
}

static int
ensure_ltdl(char *err, size_t err_len)
{
    if (lt_ready)
        return 0;
    if (lt_dlinit() != 0) {
        snprintf(err, err_len, "libltdl: %s", lt_dlerror());
        return -1;
    }
    /* Only our loader may open files: were libltdl's lazy one left in
     * place, it would retry a module ours refused.  libltdl frees every
     * loader's table in lt_dlexit, and forgets the one it hands back
     * here, so both are heap copies released with free. */
    free(lt_dlloader_remove("lt_dlopen"));
    lt_dlvtable *mine = malloc(sizeof *mine);
    if (mine)
        *mine = now_loader;
    if (!mine || lt_dlloader_add(mine) != 0) {
        snprintf(err, err_len, "libltdl: %s",
                 mine ? lt_dlerror() : "out of memory");
        free(mine);
        lt_dlexit();
        return -1;
    }
    lt_ready = 1;
    return 0;
}

int
vpd_plugins_load_file(vpd_registry *reg, const char *path,
                      const vp_host_api_t *host, char *err, size_t err_len)
{
    if (ensure_ltdl(err, err_len) != 0)
        return -1;

    /* Strip a known extension: lt_dlopenadvise with the "ext" advice tries
     * .la first, then the platform's module suffix. */
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", path);
    size_t len = strlen(stem);
    if (len > 3 && (strcmp(stem + len - 3, ".la") == 0 ||
                    strcmp(stem + len - 3, ".so") == 0))
        stem[len - 3] = '\0';
    char modname[256];
    module_name(stem, modname, sizeof modname);

    /* The directory and a libtool archive (which names the file libltdl
     * opens next) must be as safe as the module itself. */
    char dir[1024], la[1100];
    dir_of(stem, dir, sizeof dir);
    snprintf(la, sizeof la, "%s.la", stem);
    open_refusal[0] = '\0';
    if (refuse_world_writable(dir, open_refusal, sizeof open_refusal) != 0 ||
        refuse_world_writable(la, open_refusal, sizeof open_refusal) != 0)
        return refuse(err, err_len, path, "%s", open_refusal);

    lt_dladvise advise;
    lt_dladvise_init(&advise);
    lt_dladvise_ext(&advise);
    lt_dladvise_local(&advise);
    lt_dlhandle h = lt_dlopenadvise(stem, advise);
    lt_dladvise_destroy(&advise);
    if (!h)
        return refuse(err, err_len, path, "cannot be loaded: %s",
                      open_refusal[0] ? open_refusal : lt_dlerror());

    /* lt_dlsym tries <modname>_LTX_vaproxy_plugin, then vaproxy_plugin. */
    const vp_plugin_t *desc = lt_dlsym(h, "vaproxy_plugin");
    if (!desc) {
        lt_dlclose(h);
        return refuse(err, err_len, path,
                      "no descriptor: neither %s_LTX_vaproxy_plugin nor "
                      "vaproxy_plugin is exported (was the file renamed? "
                      "define it with VP_PLUGIN_DEFINE(%s))",
                      modname, modname);
    }
    if (check_descriptor(reg, host, desc, path, modname, err, err_len) != 0) {
        lt_dlclose(h);
        return -1;
    }
    vpd_layout layout;
    char why[512];
    if (vpd_layout_copy(desc, &layout, why, sizeof why) != 0) {
        lt_dlclose(h);
        return refuse(err, err_len, path, "%s", why);
    }
    if (check_provides(reg, desc, &layout, path, err, err_len) != 0) {
        vpd_layout_free(&layout);
        lt_dlclose(h);
        return -1;
    }

    void *state = NULL;
    if (desc->init) {
        init_error[0] = '\0';
        int rc = desc->init(host, &state);
        if (rc != 0) {
            vpd_layout_free(&layout);
            lt_dlclose(h);
            return refuse(err, err_len, path, "init failed (%d, %s)%s%s", rc,
                          vp_strerror(rc), init_error[0] ? ": " : "",
                          init_error);
        }
    }

    vpd_plugin *grown = realloc(reg->v, (reg->n + 1) * sizeof *grown);
    char *saved_path = strdup(path);
    if (!grown || !saved_path) {
        free(saved_path);
        if (grown)
            reg->v = grown;
        if (desc->fini)
            desc->fini(state);
        vpd_layout_free(&layout);
        lt_dlclose(h);
        return refuse(err, err_len, path, "out of memory");
    }
    reg->v = grown;
    reg->v[reg->n++] = (vpd_plugin){.path = saved_path,
                                    .handle = h,
                                    .desc = desc,
                                    .layout = layout,
                                    .host = host,
                                    .state = state};
    vpd_log(VPD_LOG_DEBUG, "proxy.plugins", "loaded %s (%s %s, ABI %u.%u)",
            path, desc->name, desc->version ? desc->version : "?",
            desc->abi_major, desc->abi_minor);
    return 0;
}

/* The loaded plugin whose module is called modname, or NULL. */
static const vpd_plugin *
loaded_module(const vpd_registry *reg, const char *modname)
{
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->v[i].desc->name, modname) == 0)
            return &reg->v[i];
    return NULL;
}

int
vpd_plugins_load_search_path(vpd_registry *reg, const char *const *dirs,
                             size_t n_dirs, const char *default_dir,
                             const vp_host_api_t *host, char *err,
                             size_t err_len)
{
    for (size_t i = 0; i < n_dirs; i++)
        if (vpd_plugins_load_dir(reg, dirs[i], host, err, err_len) != 0)
            return -1;
    if (!default_dir)
        return 0;
    /* Someone who names directories of their own may run from a tree
     * where the compiled-in one was never installed. */
    struct stat st;
    if (n_dirs > 0 && stat(default_dir, &st) != 0 && errno == ENOENT) {
        vpd_log(VPD_LOG_DEBUG, "proxy.plugins",
                "the default plugin directory %s does not exist", default_dir);
        return 0;
    }
    return vpd_plugins_load_dir(reg, default_dir, host, err, err_len);
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
vpd_plugins_load_dir(vpd_registry *reg, const char *dir,
                     const vp_host_api_t *host, char *err, size_t err_len)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_len, "plugin directory %s: cannot be read: %m", dir);
        return -1;
    }
    /* Collect stems first: a build tree has foo.la (next to .libs/foo.so),
     * an install has foo.so; each module is opened once, in name order so
     * refusals and duplicates are reported deterministically. */
    char **stems = NULL;
    size_t n = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || e->d_name[0] == '.')
            continue;
        const char *ext = e->d_name + len - 3;
        if (strcmp(ext, ".la") != 0 && strcmp(ext, ".so") != 0)
            continue;
        char stem[512];
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 3), e->d_name);
        int seen = 0;
        for (size_t i = 0; i < n; i++)
            seen |= strcmp(stems[i], stem) == 0;
        if (seen)
            continue;
        char **grown = realloc(stems, (n + 1) * sizeof *grown);
        if (!grown || !(grown[n] = strdup(stem))) {
            stems = grown ? grown : stems;
            snprintf(err, err_len, "out of memory");
            rc = -1;
            break;
        }
        stems = grown;
        n++;
    }
    closedir(d);
    if (rc == 0)
        qsort(stems, n, sizeof *stems, compare_names);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, stems[i]);
        /* Directories are searched in order, like PATH: a module an
         * earlier directory provided hides the one of the same name
         * here. */
        char modname[256];
        module_name(stems[i], modname, sizeof modname);
        const vpd_plugin *earlier = loaded_module(reg, modname);
        if (earlier) {
            vpd_log(VPD_LOG_DEBUG, "proxy.plugins",
                    "skipped %s: %s is already loaded from %s", path, modname,
                    earlier->path);
            continue;
        }
        rc = vpd_plugins_load_file(reg, path, host, err, err_len);
    }
    for (size_t i = 0; i < n; i++)
        free(stems[i]);
    free(stems);
    return rc;
}

const vp_provide_t *
vpd_plugins_find(const vpd_registry *reg, vp_kind_t kind, const char *name,
                 vpd_plugin **owner)
{
    for (size_t i = 0; i < reg->n; i++) {
        for (const vp_provide_t *p = reg->v[i].layout.provides; p->kind; p++) {
            if (p->kind == kind && strcmp(p->name, name) == 0) {
                if (owner)
                    *owner = &reg->v[i];
                return p;
            }
        }
    }
    return NULL;
}

void
vpd_plugins_unload(vpd_registry *reg)
{
    int keep_mapped = getenv("VAPROXY_NO_DLCLOSE") != NULL;
    for (size_t i = reg->n; i-- > 0;) {
        vpd_plugin *p = &reg->v[i];
        if (p->desc->fini)
            p->desc->fini(p->state);
        vpd_layout_free(&p->layout);
        if (!keep_mapped)
            lt_dlclose(p->handle);
        free(p->path);
    }
    free(reg->v);
    reg->v = NULL;
    reg->n = 0;
    if (lt_ready && !keep_mapped) {
        lt_dlexit();
        lt_ready = 0;
    }
}
