/* bsupd's command line and the settings it resolves to: defaults, then bsupd.yaml, then
 * flags. */
#ifndef BSUP_DAEMON_OPTIONS_H
#define BSUP_DAEMON_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "core/aws/ca_bundle.h"
#include "core/config/config.h"

#define BSUP_DEFAULT_SETTINGS_FILE "/etc/bsup/bsupd.yaml"

struct bsup_options {
    struct bsup_settings settings;
    struct bsup_aws_ca_bundle ca_bundle; /* AWS_CA_BUNDLE or the profile's ca_bundle, checked */
    const char *settings_file;           /* NULL: the default, which may be missing */
    bool check_config;
    bool once;
    bool dry_run;
    bool help;
    bool version;
};

/* Parses argv and loads the settings file. Returns 0, or 2 for a usage error and 1 for an
 * invalid settings file, with the message already printed to stderr. */
int bsup_options_parse(struct bsup_options *opts, int argc, char **argv);
void bsup_options_cleanup(struct bsup_options *opts);
void bsup_options_usage(FILE *out);

#endif
