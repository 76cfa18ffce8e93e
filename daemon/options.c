#include "daemon/options.h"

#include "core/aws/ca_bundle.h"
#include "core/aws/endpoints.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_getenv(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

enum { OPT_CHECK = 256, OPT_ONCE, OPT_DRY_RUN, OPT_REGION, OPT_MODE, OPT_LOG_LEVEL };

static const struct option s_longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"config-dir", required_argument, NULL, 'd'},
    {"state-dir", required_argument, NULL, 's'},
    {"socket", required_argument, NULL, 'S'},
    {"region", required_argument, NULL, OPT_REGION},
    {"mode", required_argument, NULL, OPT_MODE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"once", no_argument, NULL, OPT_ONCE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {0},
};

void bsup_options_usage(FILE *out)
{
    fputs("Usage: bsupd [OPTION]...\n"
          "Keep AWS backend services the way /etc/bsup.d declares them.\n"
          "\n"
          "  -c, --config FILE      daemon settings (default " BSUP_DEFAULT_SETTINGS_FILE
          ", optional)\n"
          "  -d, --config-dir DIR   service drop-ins (default /etc/bsup.d)\n"
          "  -s, --state-dir DIR    state database (default $STATE_DIRECTORY or /var/lib/bsup)\n"
          "  -S, --socket PATH      control socket (default $RUNTIME_DIRECTORY/bsupd.sock\n"
          "                         or /run/bsup/bsupd.sock)\n"
          "      --region REGION    AWS region (default: settings, AWS_REGION,\n"
          "                         AWS_DEFAULT_REGION)\n"
          "      --mode MODE        observe (report drift) or enforce (correct it)\n"
          "      --log-level LEVEL  error, warning, notice, info or debug\n"
          "      --check-config     validate the drop-ins, print every service, and exit\n"
          "      --once             run one cycle for every service and exit\n"
          "      --dry-run          observe only: never change anything in AWS\n"
          "  -h, --help             show this help and exit\n"
          "  -V, --version          show the version and exit\n"
          "\n"
          "Settings come from the built-in defaults, then the settings file, then these flags.\n"
          "\n"
          "Signals: SIGHUP rereads the drop-ins (broken files keep their services' last good\n"
          "state); SIGTERM or SIGINT stops gracefully (exit 0), a second one at once.\n"
          "Under systemd: Type=notify with READY/STATUS/WATCHDOG, and socket activation\n"
          "(bsupd.socket) replaces --socket. Talk to the running daemon with bsupctl(8).\n"
          "\n"
          "Exit status:\n"
          "  0  stopped by SIGTERM or SIGINT; --check-config: every drop-in valid;\n"
          "     --once: the cycle ran and nothing needs attention\n"
          "  1  cannot start (bad settings file, AWS_REGION, AWS_MAX_ATTEMPTS,\n"
          "     AWS_ENDPOINT_URL*, AWS_CA_BUNDLE or the profile's ca_bundle,\n"
          "     unreadable drop-in directory, another bsupd on the socket or state\n"
          "     directory, unusable database);\n"
          "     --check-config: a drop-in invalid, or cannot read its input;\n"
          "     --once: the cycle ran and a drop-in is rejected or a service needs\n"
          "     attention (drift, degraded, error, ...)\n"
          "  2  usage error; --once: also when the cycle could not run (anything\n"
          "     that keeps bsupd from starting, as for 1 above)\n"
          "Documentation: bsupd(8), bsup.d(5), /usr/share/doc/bsup/operations.md\n",
          out);
}

int bsup_options_parse(struct bsup_options *opts, int argc, char **argv)
{
    struct s_override {
        const char *key;
        const char *value;
    } overrides[8];
    size_t n_over = 0;
    memset(opts, 0, sizeof(*opts));
    bsup_settings_init(&opts->settings);

    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:d:s:S:hV", s_longopts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c':
            opts->settings_file = optarg;
            break;
        case 'd':
            key = "config_dir";
            break;
        case 's':
            key = "state_dir";
            break;
        case 'S':
            key = "socket";
            break;
        case OPT_REGION:
            key = "region";
            break;
        case OPT_MODE:
            key = "mode";
            break;
        case OPT_LOG_LEVEL:
            key = "log_level";
            break;
        case OPT_CHECK:
            opts->check_config = true;
            break;
        case OPT_ONCE:
            opts->once = true;
            break;
        case OPT_DRY_RUN:
            opts->dry_run = true;
            break;
        case 'h':
            opts->help = true;
            return 0;
        case 'V':
            opts->version = true;
            return 0;
        default: {
            /* optopt names a known option used wrongly; 0 an unknown (or ambiguous) long one. */
            const char *arg = argv[optind - 1];
            if (optopt && arg[0] == '-' && arg[1] == '-')
                fprintf(stderr, "bsupd: option %.*s %s\n", (int)strcspn(arg, "="), arg,
                        strchr(arg, '=') ? "takes no value" : "needs a value");
            else if (optopt && optopt < 256)
                fprintf(stderr, "bsupd: option -%c %s\n", optopt,
                        strchr("cdsS", optopt) ? "needs a value" : "is not known");
            else
                fprintf(stderr, "bsupd: %s: unknown option\n", arg);
            fputs("Try 'bsupd --help'.\n", stderr);
            return 2;
        }
        }
        if (key && n_over < sizeof(overrides) / sizeof(overrides[0]))
            overrides[n_over++] = (struct s_override){key, optarg};
    }
    if (optind < argc) {
        fprintf(stderr, "bsupd: unexpected argument '%s'\nTry 'bsupd --help'.\n", argv[optind]);
        return 2;
    }
    if (opts->check_config && opts->once) {
        fputs("bsupd: --check-config and --once exclude each other\n", stderr);
        return 2;
    }

    struct bsup_diag diag = {0};
    const char *file = opts->settings_file ? opts->settings_file : BSUP_DEFAULT_SETTINGS_FILE;
    if (bsup_settings_load(&opts->settings, file, opts->settings_file == NULL, &diag)) {
        fprintf(stderr, "bsupd: %s\n", diag.message);
        return opts->once ? 2 : 1;
    }
    for (size_t i = 0; i < n_over; i++) {
        /* Paths on the command line may be relative to where bsupd was started. */
        char abs[4096], cwd[4000];
        const char *value = overrides[i].value;
        bool is_path = strcmp(overrides[i].key, "config_dir") == 0 ||
                       strcmp(overrides[i].key, "state_dir") == 0 ||
                       strcmp(overrides[i].key, "socket") == 0;
        if (is_path && value[0] && value[0] != '/' && getcwd(cwd, sizeof(cwd))) {
            snprintf(abs, sizeof(abs), "%s/%s", cwd, value);
            value = abs;
        }
        if (bsup_settings_set(&opts->settings, overrides[i].key, value, &diag)) {
            fprintf(stderr, "bsupd: %s\n", diag.message);
            return 2;
        }
    }
    /* Like the SDKs: with no region configured, the environment decides. */
    const char *env_name = "AWS_REGION", *env_region = getenv(env_name);
    if (!env_region || !*env_region)
        env_region = getenv(env_name = "AWS_DEFAULT_REGION");
    if (!opts->settings.region && env_region && *env_region &&
        bsup_settings_set(&opts->settings, "region", env_region, &diag)) {
        fprintf(stderr, "bsupd: %s: %s\n", env_name, diag.message);
        return opts->once ? 2 : 1; /* the environment, as with AWS_ENDPOINT_URL below */
    }
    /* AWS_MAX_ATTEMPTS wins over the setting, as in the SDKs, within the setting's bounds. */
    const char *env_attempts = getenv("AWS_MAX_ATTEMPTS");
    if (env_attempts && *env_attempts &&
        bsup_settings_set(&opts->settings, "max_attempts", env_attempts, &diag)) {
        fprintf(stderr, "bsupd: AWS_MAX_ATTEMPTS: %s\n", diag.message);
        return opts->once ? 2 : 1;
    }
    /* An endpoint URL the client would refuse fails every call: refuse to start instead. */
    if (bsup_endpoints_check_env(s_getenv, NULL, &diag)) {
        fprintf(stderr, "bsupd: %s\n", diag.message);
        return opts->once ? 2 : 1;
    }
    /* So would a CA bundle that cannot be used; one configured is never replaced by the
     * default CAs. */
    if (bsup_aws_ca_bundle_resolve(s_getenv, NULL, bsup_aws_profile_read_file, NULL,
                                   &opts->ca_bundle, &diag)) {
        fprintf(stderr, "bsupd: %s\n", diag.message);
        return opts->once ? 2 : 1;
    }
    return 0;
}

void bsup_options_cleanup(struct bsup_options *opts)
{
    bsup_settings_cleanup(&opts->settings);
    bsup_aws_ca_bundle_cleanup(&opts->ca_bundle);
}
