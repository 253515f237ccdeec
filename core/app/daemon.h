/* The daemon's life: load and check the config, load plugins, build the
 * chain, start listeners and auto-auth, run the loop, reload on SIGHUP,
 * stop gracefully; systemd is told about each step (sd_notify.h).
 *
 * Ownership: vpd_daemon_run owns everything it creates and releases it all
 * before returning. */
#ifndef VPD_DAEMON_H
#define VPD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char **config_paths;
    size_t n_config_paths;
    const char **plugin_dirs; /* searched in order, before the default */
    size_t n_plugin_dirs;
    bool no_default_plugin_dir; /* search only plugin_dirs */
    const char *log_level;      /* flag, or NULL */
    const char *log_format;     /* flag, or NULL */
    /* -log-file and the rotation flags: NULL unless given; they win over
     * the config's keys, at start and at every reload (vaproxyd(8)). */
    const char *log_file;
    const char *log_rotate_bytes;
    const char *log_rotate_duration;
    const char *log_rotate_max_files;
    bool combine_logs;     /* log lines on stdout instead of stderr */
    bool check_config;     /* validate everything, start nothing */
    bool verbose;          /* with check_config: print the config */
    bool dump_chain;       /* print the chain and exit */
    bool describe_plugins; /* print every loaded plugin and exit */
    int exit_after_auth;   /* -1: from config, 0/1: the flag */
} vpd_options;

/* Returns the process exit status. */
int vpd_daemon_run(const vpd_options *opt);

#endif
