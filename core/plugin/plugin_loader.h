/* The plugin loader: opens plugins with libltdl, checks their descriptors
 * before running any of their code, and keeps a registry of what each one
 * provides (kind + implementation name).
 *
 * The loader knows nothing of the host table's implementation: the caller
 * passes the table in, the loader hands it to each plugin's init and
 * records it, and instances of the plugin's implementations get it too.
 *
 * Ownership: the registry owns the module handles and closes them in
 * reverse load order in vpd_plugins_unload, and each plugin's copy of its
 * provides and schemas (plugin_layout.h).  Descriptors, and the names,
 * texts and ops those copies point to, are in the loaded modules and die
 * with them.  The host table
 * is borrowed and must outlive the registry. */
#ifndef VPD_PLUGIN_LOADER_H
#define VPD_PLUGIN_LOADER_H

#include <stdarg.h>
#include <stddef.h>
#include <vaproxy/vaproxy.h>

#include "plugin/plugin_layout.h"

typedef struct vpd_plugin {
    char *path;   /* the file that was opened */
    void *handle; /* lt_dlhandle */
    const vp_plugin_t *desc;
    /* desc's provides and schemas in the host's layout: read these, never
     * desc->provides (whose stride is the plugin's). */
    vpd_layout layout;
    const vp_host_api_t *host; /* the table init was given (borrowed) */
    void *state;               /* from desc->init */
    size_t live_instances;
} vpd_plugin;

typedef struct {
    vpd_plugin *v;
    size_t n;
} vpd_registry;

/* Loads every plugin (.la or .so) in dir, handing each one's init the
 * host table; a module whose name is already loaded (from a directory
 * searched earlier) is skipped.  Stops at the first plugin that is refused and
 * writes "plugin PATH refused: REASON" into err.  Returns 0 or -1. */
int vpd_plugins_load_dir(vpd_registry *reg, const char *dir,
                         const vp_host_api_t *host, char *err, size_t err_len);

/* Loads the plugins of every directory in dirs, in order, then those of
 * default_dir (NULL: none), which may be missing when dirs is not empty.
 * The first directory holding a module of a given name wins: a module of
 * the same name further on is skipped.  Stops at the first refusal, with
 * it in err.  Returns 0 or -1. */
int vpd_plugins_load_search_path(vpd_registry *reg, const char *const *dirs,
                                 size_t n_dirs, const char *default_dir,
                                 const vp_host_api_t *host, char *err,
                                 size_t err_len);

/* Loads one plugin; `path` may omit the extension.  The plugin's ABI is
 * checked against the host table's abi_major and abi_minor (a test hands
 * over an older minor to act as an older daemon).  Returns 0 or -1. */
int vpd_plugins_load_file(vpd_registry *reg, const char *path,
                          const vp_host_api_t *host, char *err, size_t err_len);

/* Records why a plugin's init is failing: a host table's set_error with
 * no instance calls this while the loader runs init, and the loader puts
 * the text in its refusal.  Outside init the text is discarded. */
void vpd_plugins_vset_init_error(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Finds the implementation of `kind` called `name`, or NULL: the host's
 * copy, whose schema is in the host's layout.  *owner (if not NULL)
 * receives the plugin providing it. */
const vp_provide_t *vpd_plugins_find(const vpd_registry *reg, vp_kind_t kind,
                                     const char *name, vpd_plugin **owner);

const char *vpd_kind_name(vp_kind_t kind);

/* Calls each plugin's fini and closes the modules, last loaded first.
 * Setting VAPROXY_NO_DLCLOSE keeps them mapped (for valgrind, gdb). */
void vpd_plugins_unload(vpd_registry *reg);

#endif
