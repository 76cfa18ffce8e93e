/* The reconcile engine (the driver): for every declared service, on its schedule, observe AWS
 * in batches for every domain (core/reconcile/domain.h), plan against the desired state, gate
 * the plan with the safety rails, apply it in enforce mode (journaled intent -> call ->
 * outcome), and record what happened. It knows no resource kind: domains are data.
 * Every store read it depends on fails closed: a service whose memory or journal cannot be
 * read makes no change that cycle, and the engine reports itself unhealthy. */
#ifndef BSUP_DAEMON_RECONCILE_H
#define BSUP_DAEMON_RECONCILE_H

#include "core/config/config.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"
#include "core/reconcile/state.h"
#include "daemon/aws/client.h"
#include "daemon/close.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct bsup_reconcile_engine;
/* cut_short: bsupd began to stop before the cycle was done; the services it did not finish
 * keep their last recorded state. */
typedef void (*bsup_reconcile_done_fn)(void *ctx, bool cut_short);

struct bsup_reconcile_options {
    uv_loop_t *loop;
    struct bsup_store *store;
    struct bsup_aws_client *aws;
    const struct bsup_settings *settings;
    bool dry_run;
    /* --once: a state that needs attention is logged even when the last run recorded it too
     * (its stderr is all a cron job has); a daemon logs a state when it changes. */
    bool once;
    const bool *paused; /* observe only while *paused */
    /* The domains to reconcile; NULL: bsup_domains. */
    const struct bsup_domain *const *domains;
    size_t n_domains;
    /* Services observed at once (0: 250). Each holds its working observations, about 45 KB:
     * a larger cycle runs as batches of this size, one after another, sharing the cycle's
     * max_changes_per_cycle. */
    size_t observing_max;
    /* Members of a batch set up, planned or recorded in one loop turn (0: 25). */
    size_t turn_members;
    void (*on_change)(void *ctx); /* after every batch (status line, waiters) */
    void *ctx;
};

/* What the engine knows of one service. Strings stay valid until the loop runs again. */
struct bsup_reconcile_status {
    /* After a restart, until this run's first cycle of the service: the state its last
     * cycle recorded (recorded true; last_cycle_at_s that cycle's time), else never. */
    enum bsup_state state;
    bool recorded;
    bool observed; /* a cycle has observed it: plan and observations are there */
    bool running;
    int64_t last_cycle_at_s; /* 0: never */
    unsigned calls_last_cycle;
    unsigned changes_last_cycle;
    unsigned failures; /* cycles in a row that ended in error */
    const char *error; /* the last cycle's error, or NULL */
    /* Changes (to a value never seen before) whenever the observations change: what was
     * derived from them for an equal version is still right. */
    uint64_t version;
};

/* Engine-wide figures. */
struct bsup_reconcile_figures {
    uint64_t cycles;
    unsigned services_last_cycle;
    unsigned observing_calls_last_cycle;
    uint64_t observing_calls_total;
    uint64_t late_cycles; /* batches that started a whole interval late */
    int64_t last_cycle_at_s;
    size_t n_drift;    /* services in a state flagged drift */
    size_t n_degraded; /* services in a state flagged degraded, error aside */
    size_t n_error;    /* services in state error (AWS could not be asked or refused) */
    size_t n_recorded; /* services whose state is an earlier run's record (not reconciled yet) */
    bool attention;    /* a service needs an operator */
    bool healthy;      /* false while the state database fails */
    uint64_t store_errors;
    const char *store_error; /* the last one, or NULL */
};

int bsup_reconcile_new(const struct bsup_reconcile_options *opts,
                       struct bsup_reconcile_engine **out, struct bsup_diag *diag);
/* Rebuilds the service list from the store's desired state (after a load): keeps what it knows
 * of services that stay, schedules new ones, drops removed ones. loaded (may be NULL) is the set
 * that load just wrote to the store: a service of it is moved out of it (its entry left empty)
 * as the store holds it (bsup_service_as_stored) rather than read back and parsed; the others
 * (kept from a rejected file) are read. 0 or a store error. */
int bsup_reconcile_sync(struct bsup_reconcile_engine *e, struct bsup_config_set *loaded,
                        struct bsup_diag *diag);
/* Runs a cycle now for service (NULL: all); done (may be NULL) runs when it has finished,
 * always asynchronously. */
int bsup_reconcile_now(struct bsup_reconcile_engine *e, const char *service,
                       bsup_reconcile_done_fn done, void *ctx);
/* false when service is unknown. */
bool bsup_reconcile_service_status(const struct bsup_reconcile_engine *e, const char *service,
                                   struct bsup_reconcile_status *out);
size_t bsup_reconcile_n_domains(const struct bsup_reconcile_engine *e);
const struct bsup_domain *bsup_reconcile_domain(const struct bsup_reconcile_engine *e, size_t i);
/* The last complete observation of service by domain i, written to out (the domain's
 * obs_size bytes); false when there is none. */
bool bsup_reconcile_observation(const struct bsup_reconcile_engine *e, const char *service,
                                size_t i, void *out);
/* The last cycle's plan of service into out (initialised; the caller cleans it up): empty
 * until a cycle has observed it. 0, BSUP_ENOTFOUND or BSUP_ENOMEM. */
int bsup_reconcile_plan(const struct bsup_reconcile_engine *e, const char *service,
                        struct bsup_plan *out);
/* The value of key in dom's cache (*out NULL: none); false when that is not known (dom is not
 * one of the engine's, or a domain's cache could not be read at start). */
bool bsup_reconcile_cache_value(const struct bsup_reconcile_engine *e,
                                const struct bsup_domain *dom, const char *key, const char **out);
/* The desired state of a declared service, or NULL. */
const struct bsup_service *bsup_reconcile_desired(const struct bsup_reconcile_engine *e,
                                                  const char *service);
void bsup_reconcile_figures(const struct bsup_reconcile_engine *e,
                            struct bsup_reconcile_figures *out);
/* Stops scheduling; batches end as the AWS client cancels their calls. The engine (made by
 * bsup_reconcile_new) frees itself, then cb(user) runs, always from the loop. */
void bsup_reconcile_close(struct bsup_reconcile_engine *e, bsup_close_fn cb, void *user);

#endif
