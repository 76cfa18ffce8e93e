/* bsupd: the daemon's entry point. */
#include "daemon/check_config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/options.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    struct bsup_options opts;
    int rc = bsup_options_parse(&opts, argc, argv);
    if (rc == 0 && opts.help) {
        bsup_options_usage(stdout);
    } else if (rc == 0 && opts.version) {
        puts("bsupd " BSUP_VERSION);
    } else if (rc == 0 && opts.check_config) {
        rc = bsup_check_config(&opts.settings, stdout, stderr);
    } else if (rc == 0) {
        bsup_log_init();
        bsup_log_set_level((enum bsup_log_level)(opts.settings.log_level + BSUP_LOG_ERR));
        rc = bsup_daemon_main(&opts);
    }
    bsup_options_cleanup(&opts);
    return rc;
}
