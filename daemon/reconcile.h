/* The reconcile engine: for every declared service, on its schedule, observe AWS in batches,
 * plan against the desired state, gate the plan with the safety rails, apply it in enforce
 * mode (journaled intent -> call -> outcome), and record what happened. */
#ifndef BSUP_DAEMON_RECONCILE_H
#define BSUP_DAEMON_RECONCILE_H

#include "core/config/config.h"
#include "core/reconcile/plan.h"
#include "core/reconcile/rails.h"
#include "core/reconcile/scaling.h"
#include "daemon/aws/client.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#define BSUP_RECONCILE_BATCH_MAX 100 /* DescribeAutoScalingGroups names per call (MaxRecords) */

struct bsup_reconcile_service {
    char *name;
    struct bsup_service desired;
    int64_t generation;
    uint64_t next_due_ms; /* loop time */
    bool running;
    bool requested; /* bsupctl reconcile: run at the next tick */
    unsigned failures;
    int64_t last_cycle_at_s;
    char state[16]; /* never, ok, drift, corrected, held, missing, fighting, error */
    bool observed;
    struct bsup_asg_observed obs;
    struct bsup_plan plan;
    char mode[8]; /* effective mode of the last cycle */
    unsigned calls_last_cycle;
    unsigned mutations_last_cycle;
    char last_error[1024];
    bool gone; /* removed from the configuration: dropped when idle */
};

struct bsup_reconcile_batch;
typedef void (*bsup_reconcile_done_fn)(void *ctx);

struct bsup_reconcile_engine {
    uv_loop_t *loop;
    struct bsup_store *store;
    struct bsup_aws_client *aws;
    const struct bsup_settings *settings;
    bool dry_run;
    const bool *paused;
    struct bsup_rails_config rails;
    struct bsup_reconcile_service **services;
    size_t n_services;
    uv_timer_t tick;
    struct bsup_reconcile_batch *batches;
    void *lt_cache; /* launch template instance types */
    bool closing;
    bool tick_closed;
    unsigned n_kicks; /* batches whose timer is not closed yet */
    void (*close_cb)(struct bsup_reconcile_engine *e);
    void (*on_change)(void *ctx); /* after every batch (status line, waiters) */
    void *ctx;
    /* Figures for status. */
    uint64_t cycles;
    uint64_t observing_calls_total;
    unsigned observing_calls_last_batch;
    unsigned services_last_batch;
    int64_t last_batch_at_s;
    uint64_t late_batches; /* batches that could not start on time */
};

int bsup_reconcile_init(struct bsup_reconcile_engine *e, uv_loop_t *loop, struct bsup_store *store,
                        struct bsup_aws_client *aws, const struct bsup_settings *settings,
                        bool dry_run, const bool *paused);
/* Rebuilds the service list from the store's desired state (after a load): keeps what it knows
 * of services that stay, schedules new ones, drops removed ones. 0 or a store error. */
int bsup_reconcile_sync(struct bsup_reconcile_engine *e, struct bsup_diag *diag);
/* Runs a cycle now for service (NULL: all); done (may be NULL) runs when it has finished. */
int bsup_reconcile_now(struct bsup_reconcile_engine *e, const char *service,
                       bsup_reconcile_done_fn done, void *ctx);
/* Whether any service is in a state that needs attention (drift, missing, fighting, error). */
bool bsup_reconcile_needs_attention(const struct bsup_reconcile_engine *e);
/* Counts by state for the status line. */
void bsup_reconcile_counts(const struct bsup_reconcile_engine *e, size_t *out_drift,
                           size_t *out_degraded);
/* Status of one service (or NULL when unknown) as JSON fields merged into obj. */
void bsup_reconcile_status_fields(const struct bsup_reconcile_engine *e, const char *service,
                                  json_t *obj);
/* The current plan of a service as a JSON array (NULL when it was never observed). */
json_t *bsup_reconcile_plan_json(const struct bsup_reconcile_engine *e, const char *service);
/* Engine-wide figures for status --json. */
json_t *bsup_reconcile_engine_json(const struct bsup_reconcile_engine *e);
/* Stops scheduling, cancels AWS calls in progress (via the client), frees; close_cb at the end. */
void bsup_reconcile_close(struct bsup_reconcile_engine *e,
                          void (*close_cb)(struct bsup_reconcile_engine *e));

#endif
