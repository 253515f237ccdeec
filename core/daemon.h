/* The daemon's life: load and check the config, load plugins, build the
 * chain, start listeners and auto-auth, run the loop, stop gracefully.
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
    const char **plugin_dirs;
    size_t n_plugin_dirs;
    const char *log_level;    /* flag, or NULL */
    const char *log_format;   /* flag, or NULL */
    bool check_config;        /* validate everything, start nothing */
    bool dump_chain;          /* print the chain and exit */
    int exit_after_auth;      /* -1: from config, 0/1: the flag */
} vpd_options;

/* Returns the process exit status. */
int vpd_daemon_run(const vpd_options *opt);

#endif
