#include "daemon/daemon.h"

#include "daemon/check_config.h"
#include "daemon/log.h"
#include "store/store.h"

#include <time.h>

int bsup_daemon_main(const struct bsup_options *opts)
{
    const struct bsup_settings *s = &opts->settings;
    struct bsup_diag diag = {0};
    struct bsup_store *store = NULL;
    struct bsup_config_set set;
    struct bsup_store_apply_stats stats;
    int rc = 1;

    bsup_config_set_init(&set);
    if (bsup_store_open(s->state_dir, &store, &diag)) {
        bsup_log_err("%s", diag.message);
        goto out;
    }
    if (bsup_config_load_dir(s->config_dir, &set, &diag)) {
        bsup_log_err("%s", diag.message);
        goto out;
    }
    for (size_t i = 0; i < set.n_msgs; i++)
        bsup_log(set.msgs[i].severity == BSUP_CONFIG_ERROR ? BSUP_LOG_ERR : BSUP_LOG_WARNING, "%s",
                 set.msgs[i].text);
    if (bsup_store_apply_config(store, &set, (int64_t)time(NULL), &stats, &diag)) {
        bsup_log_err("%s", diag.message);
        goto out;
    }
    bsup_log_info("desired state loaded services=%zu added=%zu changed=%zu unchanged=%zu "
                  "removed=%zu kept=%zu errors=%zu",
                  set.n_services, stats.added, stats.changed, stats.unchanged, stats.removed,
                  stats.kept, set.n_errors);
    rc = 0;
out:
    bsup_config_set_cleanup(&set);
    bsup_store_close(store);
    return rc;
}
