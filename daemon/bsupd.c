/* bsupd: the daemon's entry point. */
#include "daemon/check_config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/options.h"

#include <malloc.h>
#include <stdio.h>
#include <uv.h>

/* glibc's malloc for a daemon whose peaks are bursts (a load, a status page, an AWS answer):
 * one arena (curl's resolver threads would each get their own, kept for good), and a fixed
 * mmap threshold, because the dynamic one rises to the largest block ever freed, after which
 * every 4 MiB reply is carved from the heap and its pages stay resident. */
static void s_malloc_tune(void)
{
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024);
}

int main(int argc, char **argv)
{
    s_malloc_tune();
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
    /* AWS answers are parsed on libuv's thread pool: its threads exit now, before the process
     * does. */
    uv_library_shutdown();
    return rc;
}
