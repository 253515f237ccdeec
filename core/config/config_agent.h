/* The agent-mode blocks of the configuration (vaproxyd.hcl(5), AGENT MODE):
 * `template` (any number), `template_config`, `exec` and `env_template
 * "NAME"`, with Vault Agent's keys and defaults.  config.c reads them;
 * the agent runner (agent/runner.h) and the process supervisor
 * (agent/supervisor.h) use them.
 *
 * Ownership: these structs live inside vpd_config, which owns every
 * string in them.  Command lists (`const char **`) are arrays owned by
 * the config whose strings point into its parsed trees. */
#ifndef VPD_CONFIG_AGENT_H
#define VPD_CONFIG_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* template { wait { min max } }: renders of one template are held back
 * until no change came for `min`, but never longer than `max`. */
typedef struct {
    uint64_t min_ms;
    uint64_t max_ms; /* 4 * min when only min is given */
} vpd_wait_config;

/* template { exec { command timeout } }: the newer spelling of command. */
typedef struct {
    const char **command; /* argv; NULL when absent */
    size_t n_command;
    uint64_t timeout_ms; /* default 30 s */
} vpd_tmpl_exec_config;

typedef struct {
    char *source;      /* a file holding the template, or */
    char *contents;    /* the template itself */
    char *destination; /* required */
    bool create_dest_dirs;
    char *perms;   /* octal text as written, e.g. "0600" */
    unsigned mode; /* perms parsed; 0644 when absent */
    char *user;    /* owner of the destination, a name or a number */
    char *group;
    bool backup; /* keep the previous file as DEST.bak */
    /* `command` (a string run through /bin/sh -c, or a list run as is)
     * and its timeout; `exec` replaces both when set. */
    const char **command;
    size_t n_command;
    bool command_is_shell;
    uint64_t command_timeout_ms; /* default 30 s */
    vpd_tmpl_exec_config exec;
    bool error_on_missing_key;
    char *left_delimiter;  /* "{{" when absent */
    char *right_delimiter; /* "}}" when absent */
    /* Template functions the template may not call, NULL-terminated;
     * NULL when absent.  The strings belong to the parsed config tree. */
    const char **function_denylist;
    size_t n_function_denylist;
    char *sandbox_path;
    vpd_wait_config wait;
    const char *file; /* where the block was written */
    int line;
} vpd_template_config;

/* template_config { } */
typedef struct {
    bool present;
    uint64_t static_secret_render_interval_ms; /* default 5 min */
    bool exit_on_retry_failure;
    size_t max_connections_per_host; /* default 10 */
    char *lease_renewal_threshold;   /* as written; NULL: 0.9 */
    double lease_threshold;          /* parsed, in (0, 1] */
} vpd_template_settings;

/* exec { } : the supervised child. */
typedef struct {
    bool present;
    const char **command; /* argv, at least one item */
    size_t n_command;
    char *restart_on_secret_changes; /* "always" (default) or "never" */
    char *restart_stop_signal;       /* default "SIGTERM" */
    int stop_signal;                 /* its number */
    const char *file;
    int line;
} vpd_exec_config;

/* env_template "NAME" { } : one variable of the child's environment. */
typedef struct {
    char *name;
    char *source;
    char *contents;
    bool error_on_missing_key;
    char *left_delimiter;
    char *right_delimiter;
    const char **function_denylist; /* as in vpd_template_config */
    size_t n_function_denylist;
    const char *file;
    int line;
} vpd_env_template_config;

#endif
