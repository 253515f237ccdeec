/* vaproxyd's command line.  Long options take one or two dashes and
 * "=value" or a separate value, so Vault's `-config=FILE` works as is. */
#include "autoconf.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vaproxy/version.h>

#include "app/daemon.h"

#define MAX_PATHS 64

static void
usage(FILE *out)
{
    fprintf(
        out,
        "Usage: vaproxyd --config FILE|DIR [options]\n"
        "\n"
        "A Vault Proxy compatible daemon: auto-auth, API proxy, caching,\n"
        "consistency, with auth methods, caches and consistency policies\n"
        "as plugins.\n"
        "\n"
        "Options:\n"
        "  --config PATH        config file (HCL or JSON) or directory of\n"
        "                       .hcl/.json files; repeatable, merged in order\n"
        "                       (default: $BAO_PROXY_CONFIG_PATH or\n"
        "                       $VAULT_PROXY_CONFIG_PATH)\n"
        "  --plugin-dir DIR     load plugins from DIR too; repeatable;\n"
        "                       searched in order, then the default\n"
        "                       directory; a module name found earlier\n"
        "                       hides the same name later\n"
        "                       (default: %s)\n"
        "  --no-default-plugin-dir  search only the --plugin-dir ones\n"
        "  --check-config       validate the config and plugins, then exit;\n"
        "                       with -v also print the merged config as\n"
        "                       JSON, secrets redacted\n"
        "  --dump-chain         print the plugin chain, then exit\n"
        "  --describe-plugins   print every loaded plugin (kind, name,\n"
        "                       version, ABI, configuration keys), then\n"
        "                       exit\n"
        "  --log-level LEVEL    trace, debug, info, warn, error\n"
        "  --log-format FORMAT  standard or json\n"
        "  --log-file PATH      also write log lines to PATH (a trailing '/'\n"
        "                       means PATH/proxy.log); reopened on SIGHUP\n"
        "  --log-rotate-bytes N       rotate the log file at N bytes\n"
        "  --log-rotate-duration D    rotate it after D (default 24h)\n"
        "  --log-rotate-max-files N   archives kept: 0 all, -1 none\n"
        "  --combine-logs       log to stdout instead of stderr\n"
        "  --exit-after-auth    exit once auto-auth has a token\n"
        "  --version            print the version and exit\n"
        "  --help               this text\n"
        "\n"
        "Environment: VAULT_ADDR, VAULT_CACERT, VAULT_CAPATH,\n"
        "VAULT_CLIENT_CERT, VAULT_CLIENT_KEY, VAULT_SKIP_VERIFY,\n"
        "VAULT_TLS_SERVER_NAME, VAULT_MAX_RETRIES (and their BAO_ forms)\n"
        "override the vault block.  BAO_LOG_LEVEL / VAULT_LOG_LEVEL and\n"
        "BAO_LOG_FORMAT / VAULT_LOG_FORMAT set the log level and format.\n"
        "\n"
        "Signals: SIGHUP reloads the config (logging, TLS files, the auth\n"
        "method) and reopens the log file; SIGTERM/SIGINT stop gracefully.\n",
        VP_PLUGINDIR);
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"plugin-dir", required_argument, NULL, 'p'},
        {"no-default-plugin-dir", no_argument, NULL, 'N'},
        {"describe-plugins", no_argument, NULL, 'P'},
        {"check-config", no_argument, NULL, 'k'},
        {"dump-chain", no_argument, NULL, 'D'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, 'f'},
        {"exit-after-auth", optional_argument, NULL, 'x'},
        {"log-file", required_argument, NULL, 'L'},
        {"log-rotate-bytes", required_argument, NULL, 'B'},
        {"log-rotate-duration", required_argument, NULL, 'R'},
        {"log-rotate-max-files", required_argument, NULL, 'M'},
        {"combine-logs", no_argument, NULL, 'C'},
        /* An exact "v" so that -v is not taken for an abbreviated
         * --version by getopt_long_only. */
        {"v", no_argument, NULL, 'v'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *configs[MAX_PATHS];
    const char *plugin_dirs[MAX_PATHS];
    vpd_options opt = {.config_paths = configs,
                       .plugin_dirs = plugin_dirs,
                       .exit_after_auth = -1};
    int c;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'c':
        case 'p': {
            size_t *n = c == 'c' ? &opt.n_config_paths : &opt.n_plugin_dirs;
            if (*n == MAX_PATHS) {
                fprintf(stderr, "vaproxyd: too many --%s options\n",
                        c == 'c' ? "config" : "plugin-dir");
                return 1;
            }
            (c == 'c' ? configs : plugin_dirs)[(*n)++] = optarg;
            break;
        }
        case 'N':
            opt.no_default_plugin_dir = true;
            break;
        case 'P':
            opt.describe_plugins = true;
            break;
        case 'k':
            opt.check_config = true;
            break;
        case 'D':
            opt.dump_chain = true;
            break;
        case 'l':
            opt.log_level = optarg;
            break;
        case 'f':
            opt.log_format = optarg;
            break;
        case 'L':
            opt.log_file = optarg;
            break;
        case 'B':
            opt.log_rotate_bytes = optarg;
            break;
        case 'R':
            opt.log_rotate_duration = optarg;
            break;
        case 'M':
            opt.log_rotate_max_files = optarg;
            break;
        case 'C':
            opt.combine_logs = true;
            break;
        case 'v':
            opt.verbose = true;
            break;
        case 'x':
            opt.exit_after_auth = !(optarg && strcmp(optarg, "false") == 0);
            break;
        case 'V':
            printf("vaproxyd %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
                   VP_ABI_MAJOR, VP_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr,
                    "vaproxyd: unknown or incomplete option \"%s\"\n"
                    "Try 'vaproxyd --help'.\n",
                    argv[optind - 1]);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vaproxyd: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    if (opt.n_config_paths == 0) {
        const char *env = getenv("BAO_PROXY_CONFIG_PATH");
        if (!env)
            env = getenv("VAULT_PROXY_CONFIG_PATH");
        if (env && env[0])
            configs[opt.n_config_paths++] = env;
    }
    if (opt.n_config_paths == 0 && !opt.describe_plugins) {
        fprintf(stderr, "Must specify exactly at least one config path "
                        "using -config\n");
        return 1;
    }
    /* A client that hangs up mid-answer must cost one connection, not
     * the daemon: writes to dead sockets return EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    return vpd_daemon_run(&opt);
}
