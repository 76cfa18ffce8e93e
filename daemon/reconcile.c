#include "daemon/reconcile.h"

#include "core/aws/retry.h"
#include "core/base/array.h"
#include "core/base/failpoint.h"
#include "core/base/pack.h"
#include "core/base/random.h"
#include "core/base/strmap.h"
#include "core/metrics/catalogue.h"
#include "core/reconcile/batch.h"
#include "core/reconcile/rails.h"
#include "core/reconcile/schedule.h"
#include "daemon/log.h"
#include "store/events.h"
#include "store/cache.h"
#include "store/journal.h"
#include "store/outbox.h"

#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_BATCH_WINDOW_MAX_MS 2000 /* services due this close together share a batch */
/* Services observed at once by default (bsup_reconcile_options.observing_max). Each holds its
 * working observations as full structs (about 45 KB with the last ones unpacked): memory stays
 * bounded whatever the fleet. */
#define S_OBSERVING_MAX 250
#define S_RECORD_MAX_BYTES (4u << 20) /* a service's stored record (observations and plan) */
/* Members a batch sets up, plans or records in one turn of the loop by default (recording 25
 * takes about 2 ms on a slow 2-core machine; setting up or planning them, less): a status call
 * waits for one such turn, never for a whole batch. */
#define S_TURN_MEMBERS 25
#define S_DOMAINS_MAX 16 /* domains an engine may have (bsup_domains holds 5) */
#define S_STEPS_MAX 16   /* observe steps a domain may have (backup has 7) */

struct s_service {
    char *name;
    struct bsup_service *desired; /* its own allocation, taken over from a load */
    int64_t generation;
    uint64_t next_due_ms; /* loop time */
    bool running;
    bool requested; /* bsupctl reconcile: run at the next tick */
    bool gone;      /* removed from the configuration: dropped when idle */
    unsigned failures;
    int64_t last_cycle_at_s;
    enum bsup_state state;
    bool observed;
    bool recorded; /* state and last_cycle_at_s are an earlier run's record, not this run's */
    struct bsup_pack *plan; /* the last cycle's plan, packed; NULL: no action */
    int mode;               /* effective mode of the last cycle */
    unsigned calls_last_cycle;
    unsigned mutations_last_cycle;
    char *last_error;
    struct bsup_pack **obs; /* per domain: the last complete observation (packed), or NULL */
    uint64_t version;       /* new (engine-wide, never reused) each time obs changes */
};

/* One service in a batch: its fresh observations (one per domain) and how the cycle went. */
struct s_member {
    struct s_service *svc;
    struct bsup_domain_member *dm; /* per domain */
    void **fresh;                  /* per domain: dm[d].obs, for the domains' peers */
    void *prev;                    /* the dm[d].prev, unpacked, while the steps run */
    bool failed;
    char error[1024];
    unsigned calls;
    unsigned mutations;
    bool applied_ok;
    bool apply_failed;
    unsigned applied;       /* changes AWS accepted this cycle */
    unsigned apply_errors;  /* changes that failed this cycle */
    bool planned;           /* plan is this cycle's */
    struct bsup_pack *plan; /* this cycle's, packed once its changes are sent */
};

/* The changes a cycle may still make, shared by the batches it was split into. */
struct s_budget {
    int left;
    unsigned refs;
};

/* One bsup_reconcile_now request, done when every batch it waits for has finished. */
struct s_join {
    bsup_reconcile_done_fn fn;
    void *ctx;
    int pending;
    bool cut_short; /* a batch it waits for was stopped before it was done */
};

struct s_batch {
    struct bsup_reconcile_engine *e;
    struct s_member *m;
    size_t n;
    /* Each domain runs an observe step once the steps it needs have all their answers (every
     * earlier one, unless it names its own), independently of the other domains but those it
     * reads (after); then the batch plans and applies. */
    uint32_t begun[S_DOMAINS_MAX];             /* per domain: its steps begun (bits) */
    int in_flight[S_DOMAINS_MAX][S_STEPS_MAX]; /* per step: its calls not answered yet */
    int pending;                               /* AWS calls in flight */
    unsigned calls;
    struct s_join **joins;
    size_t n_joins;
    bool started;      /* false: waits for room (observing_max) */
    size_t n_setup;    /* members given their working observations so far (on_kick) */
    size_t n_planned;  /* members planned so far (s_batch_plan_and_apply) */
    size_t n_recorded; /* members recorded so far (s_batch_finish) */
    bool recorded;     /* false: stopped before observing; nothing to record */
    bool cut_short;    /* a member's cycle was cut short by the stop and not recorded */
    bool store_failed;
    /* Runs the batch's next piece of work on the next loop turn, after the turn's I/O. An idle
     * handle, not a zero timer: libuv before 1.48 (Debian 12 has 1.44) runs a zero timer that
     * its own callback restarts again within the same turn, so nothing else would run. */
    uv_idle_t turn;
    struct s_budget *budget; /* max_changes_per_cycle, shared by the batches of one cycle */
    int64_t started_ms;      /* wall clock, for the duration metrics */
    struct s_batch *next;
};

/* One AWS call of a batch: an observe step over some members, or one change. */
struct s_req {
    struct s_batch *b;
    size_t domain;
    const struct bsup_observe_step *step; /* NULL: a change */
    struct bsup_domain_member **m;        /* observe: the members the call covers */
    size_t n;
    size_t *unit_end; /* observe: where each key's members end in m (for a split retry) */
    size_t n_units;
    size_t member; /* change: index in the batch */
    const char *action;
    int64_t journal_id;
    struct bsup_action change;
};

struct bsup_reconcile_engine {
    uv_loop_t *loop;
    struct bsup_store *store;
    struct bsup_aws_client *aws;
    const struct bsup_settings *settings;
    bool dry_run;
    bool once;     /* log a standing state that needs attention (bsup_reconcile_options) */
    bool standing; /* the state events of this record are logged only: --once, state unchanged */
    const bool *paused;
    const struct bsup_domain *const *domains;
    size_t n_domains;
    struct bsup_domain_cache *caches; /* per domain */
    bool caches_read;                 /* every domain's cache was read at start */
    uint32_t reads[S_DOMAINS_MAX];    /* per domain: the domains it waits for (bits: after) */
    /* Per domain, per step: a paced step's allowance; at [n_steps], an owned domain's changes
     * (struct bsup_domain's owned_pace_action). */
    struct bsup_pace **pace;
    struct bsup_rails_config rails;
    struct s_service **services;
    size_t n_services, cap_services;
    struct bsup_strmap by_name; /* every service in services, by name */
    uint64_t versions;          /* the last s_service version given */
    size_t observing;           /* members of the batches started and not finished */
    size_t observing_max;
    size_t turn_members;
    uv_timer_t tick;
    struct s_batch *batches;
    bool closing;
    bool tick_closed;
    unsigned n_turns; /* batches whose turn handle is not closed yet */
    bsup_close_fn close_cb;
    void *close_user;
    void (*on_change)(void *ctx);
    void *ctx;
    struct bsup_random rng; /* jitter: seeded once from the kernel */
    /* Figures for status. */
    uint64_t cycles;
    uint64_t observing_calls_total;
    unsigned observing_calls_last_batch;
    unsigned services_last_batch;
    int64_t last_batch_at_s;
    uint64_t late_batches;
    bool healthy;
    uint64_t store_errors;
    struct bsup_diag store_error; /* the last store failure */
};

static int64_t s_now_s(void)
{
    return (int64_t)time(NULL);
}

/* A store failure: the service's cycle fails closed and the engine is unhealthy until a
 * batch runs without one. */
static void s_store_failed(struct bsup_reconcile_engine *e, struct s_batch *b,
                           const struct bsup_diag *diag)
{
    e->healthy = false;
    e->store_errors++;
    e->store_error = *diag;
    if (b)
        b->store_failed = true;
    bsup_log_err("%s", diag->message);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t s_interval_ms(const struct bsup_reconcile_engine *e, const struct s_service *s)
{
    int64_t iv = s->desired->interval_s ? s->desired->interval_s : e->settings->interval_s;
    return iv * 1000;
}

/* The log says what a cycle found, as its events do: drift (in observe mode too), a service
 * degraded, in error or back, a finding. A line when an alert opens is a warning (an error for
 * the service's error). Changes and their failures have their own lines where they happen. */
static void s_log_found(const char *service, const char *kind, enum bsup_alert a, const char *msg,
                        bool standing)
{
    const char *as_before = standing ? " (as the last run found)" : "";
    if (a == BSUP_ALERT_NONE)
        a = bsup_alert_for_event(kind);
    if (strcmp(kind, "service.error") == 0)
        bsup_log_err("%s service=%s %s%s", kind, service, msg, as_before);
    else if ((a != BSUP_ALERT_NONE && bsup_alerts[a].effect == BSUP_ALERT_OPEN) ||
             (standing &&
              (strcmp(kind, "service.degraded") == 0 || strcmp(kind, "service.missing") == 0)))
        bsup_log_warn("%s service=%s %s%s", kind, service, msg, as_before);
    else
        bsup_log_notice("%s service=%s %s%s", kind, service, msg, as_before);
}

/* Records an event of service and, when it is an alert (a, or by its kind), the alert in the
 * same savepoint (store/outbox.h): inside a batch's transaction, one commit for both. In a --once
 * run's standing state (e->standing) it is only logged. */
static void s_event_alert(struct bsup_reconcile_engine *e, const char *service, const char *kind,
                          enum bsup_alert a, const char *observed, const char *desired,
                          const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void s_event_alert(struct bsup_reconcile_engine *e, const char *service, const char *kind,
                          enum bsup_alert a, const char *observed, const char *desired,
                          const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const struct s_service *s = service ? bsup_strmap_get(&e->by_name, service) : NULL;
    const char *env = s ? bsup_environment_name(s->desired->environment) : NULL;
    struct bsup_diag diag = {0};
    /* A recovery goes once it has lasted two intervals (at most alerts.recovery_hold): one
     * that flaps back is one incident. */
    int64_t hold_s = s ? 2 * s_interval_ms(e, s) / 1000 : 0;
    if (hold_s > e->settings->alerts.recovery_hold_s)
        hold_s = e->settings->alerts.recovery_hold_s;
    if (!e->standing && bsup_store_event_alert(e->store, s_now_s(), service, env, kind, msg, a,
                                               observed, desired, hold_s, &diag))
        s_store_failed(e, NULL, &diag);
    if (observed && service) /* what a cycle found (a state, a line), not what it did */
        s_log_found(service, kind, a, msg, e->standing);
}

#define s_event(e, service, kind, ...)                                                             \
    s_event_alert(e, service, kind, BSUP_ALERT_NONE, NULL, NULL, __VA_ARGS__)

static int s_effective_mode(const struct bsup_reconcile_engine *e, const struct s_service *s)
{
    if (e->dry_run || (e->paused && *e->paused))
        return BSUP_MODE_OBSERVE;
    return s->desired->mode == BSUP_MODE_DEFAULT ? e->settings->mode : s->desired->mode;
}

static void s_member_fail(struct s_member *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_member_fail(struct s_member *m, const char *fmt, ...)
{
    va_list ap;
    m->failed = true;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof(m->error), fmt, ap);
    va_end(ap);
}

/* Where a turn that starts at member done ends: turn_members further, at most the batch's end. */
static size_t s_turn_end(const struct s_batch *b, size_t done)
{
    return b->n - done > b->e->turn_members ? done + b->e->turn_members : b->n;
}

static void s_batch_next_step(struct s_batch *b);
static int s_join_add(struct s_batch *b, struct s_join *j);
static void s_start_waiting(struct bsup_reconcile_engine *e);
static void s_batch_plan_and_apply(struct s_batch *b);
static void s_batch_finish(struct s_batch *b);
static void s_rearm(struct bsup_reconcile_engine *e);
static int s_carry_unjudged(struct bsup_reconcile_engine *e, const struct s_member *m,
                            struct bsup_plan *plan);

/* ---- observation ---- */

static void s_req_free(struct s_req *r)
{
    if (!r)
        return;
    free(r->m);
    free(r->unit_end);
    free(r);
}

static void on_observed(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user);

/* Starts one observing call over members m[0..n) (n_units keys ending at unit_end[]). */
static int s_observe_call(struct s_batch *b, size_t domain, const struct bsup_observe_step *st,
                          struct bsup_domain_member **m, size_t n, const size_t *unit_end,
                          size_t n_units)
{
    struct bsup_aws_params p = {0};
    json_t *body = NULL;
    struct s_req *r = calloc(1, sizeof(*r));
    int rc = r ? 0 : BSUP_ENOMEM;
    if (rc == 0) {
        r->m = malloc(n * sizeof(*r->m));
        r->unit_end = malloc(n_units * sizeof(*r->unit_end));
        rc = r->m && r->unit_end ? 0 : BSUP_ENOMEM;
    }
    if (rc == 0) {
        memcpy(r->m, m, n * sizeof(*m));
        memcpy(r->unit_end, unit_end, n_units * sizeof(*unit_end));
        *r = (struct s_req){.b = b,
                            .domain = domain,
                            .step = st,
                            .m = r->m,
                            .n = n,
                            .unit_end = r->unit_end,
                            .n_units = n_units};
        rc = st->build_json ? st->build_json(r->m, n, &body) : st->build(r->m, n, &p);
    }
    if (rc == 0)
        rc = bsup_aws_call(b->e->aws, st->service, st->action, st->build_json ? NULL : &p, body,
                           (st->flags & BSUP_OBSERVE_ALL_PAGES) ? BSUP_AWS_ALL_PAGES : 0,
                           on_observed, r, NULL);
    bsup_aws_params_cleanup(&p);
    json_decref(body);
    if (rc) {
        s_req_free(r);
        return rc;
    }
    b->pending++;
    b->in_flight[domain][st - b->e->domains[domain]->steps]++;
    return 0;
}

/* The call could not be made or failed: its members fail (or, for an optional step, only
 * the log says so). */
static void s_observe_failed(struct s_req *r, const char *why)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->step->flags & BSUP_OBSERVE_OPTIONAL)
            continue;
        bsup_domain_member_fail(r->m[i], "%s", why);
    }
    if (r->step->flags & BSUP_OBSERVE_OPTIONAL)
        bsup_log_warn("%s %s failed (optional, the cycle goes on): %s", r->step->service,
                      r->step->action, why);
}

/* Whether AWS answered a one-key call with a code the step reads as "no such resource". */
static bool s_absent(const struct s_req *r, const struct bsup_aws_result *res)
{
    for (const char *const *c = r->step->absent_codes;
         c && *c && r->n_units == 1 && res->err == BSUP_EAWS; c++)
        if (strcmp(*c, res->error.code) == 0)
            return true;
    return false;
}

static void on_observed(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_req *r = user;
    struct s_batch *b = r->b;
    size_t d = r->domain, step = (size_t)(r->step - b->e->domains[d]->steps);
    b->pending--;
    b->in_flight[d][step]--;
    b->calls += (unsigned)res->attempts;
    for (size_t k = 0; k < r->n; k++)
        ((struct s_member *)r->m[k]->engine)->calls += (unsigned)res->attempts;
    if (res->err == BSUP_EAWS && r->n_units > 1 && !(r->step->flags & BSUP_OBSERVE_WHOLE)) {
        /* One bad name or one throttled resource must not hold back the others: ask for each
         * key on its own. Only when AWS answered: a call that got no answer (a timeout, a
         * refused or broken connection) says the endpoint failed, not a resource, and split it
         * would wait that long again for every key. */
        bsup_log_warn("batched observation failed, retrying one resource per call action=%s "
                      "resources=%zu error=%s",
                      r->step->action, r->n_units, res->message);
        for (size_t u = 0, start = 0; u < r->n_units; start = r->unit_end[u++]) {
            size_t end = r->unit_end[u];
            size_t one = end - start;
            int rc = s_observe_call(b, r->domain, r->step, r->m + start, end - start, &one, 1);
            for (size_t i = start; rc && i < end; i++)
                bsup_domain_member_fail(r->m[i], "%s",
                                        bsup_aws_client_why(b->e->aws, r->step->service, rc));
        }
    } else if (res->err && !s_absent(r, res)) {
        s_observe_failed(r, res->message);
    } else {
        /* An answer, or AWS saying the one resource asked for does not exist (no pages). */
        json_t *none = res->err ? json_array() : NULL;
        struct bsup_diag diag = {0};
        if (res->err && !none)
            s_observe_failed(r, "out of memory");
        else if (r->step->parse(res->err ? none : res->pages, r->m, r->n, &diag))
            s_observe_failed(r, diag.message[0] ? diag.message : "cannot read the answer");
        json_decref(none);
    }
    s_req_free(r);
    if (b->in_flight[d][step] == 0)
        s_batch_next_step(b);
}

/* A paced step's share of its family's configured rate, in keys per second and per interval
 * (at least one key). */
static void s_pace_rate(const struct bsup_reconcile_engine *e, const struct bsup_observe_step *st,
                        double *out_per_s, double *out_cap)
{
    const struct bsup_bucket *bk = &e->aws->buckets[bsup_api_family_of(st->service, st->action)];
    *out_per_s = st->budget_share * bk->base_rate_per_s;
    *out_cap = *out_per_s * (double)e->settings->interval_s;
    if (*out_cap < 1)
        *out_cap = 1;
}

/* Issues step st of domain d for every member that needs it: members sharing a key share a
 * slot, up to batch_max keys go in one call, and a paced step reads only its allowance,
 * most urgent first (core/reconcile/batch.h). */
static void s_observe_step(struct s_batch *b, size_t d, size_t k,
                           const struct bsup_observe_step *st)
{
    size_t cap = b->n ? b->n : 1;
    char(*keys)[BSUP_DOMAIN_KEY_MAX] = calloc(cap, sizeof(*keys));
    struct bsup_batch_item *items = calloc(cap, sizeof(*items));
    struct bsup_domain_member **m = calloc(cap, sizeof(*m));
    size_t *rel = calloc(cap, sizeof(*rel));
    struct bsup_batch_plan plan = {0};
    size_t n = 0;
    for (size_t i = 0; keys && items && m && rel && i < b->n; i++) {
        struct bsup_domain_member *dm = &b->m[i].dm[d];
        int priority = b->m[i].failed || dm->failed ? 0 : st->prepare(dm, keys[n]);
        if (priority > 0) {
            items[n] = (struct bsup_batch_item){keys[n], priority, i};
            n++;
        }
    }
    /* A paced step reads what its allowance holds now; the rest is carried forward. */
    struct bsup_pace *pace = st->budget_share > 0 ? &b->e->pace[d][k] : NULL;
    size_t allowance = 0;
    if (pace && n) {
        double per_s, most;
        s_pace_rate(b->e, st, &per_s, &most);
        allowance = bsup_pace_allowance(pace, per_s, most, uv_now(b->e->loop));
        if (allowance == 0)
            n = 0;
    }
    if (!keys || !items || !m || !rel ||
        bsup_batch_plan_make(items, n, st->batch_max, allowance, &plan)) {
        for (size_t i = 0; i < b->n; i++)
            s_member_fail(&b->m[i], "out of memory while observing");
        goto out;
    }
    if (pace)
        bsup_pace_spend(pace, plan.n_units);
    /* Each call: its members, and where each of its keys' members end (for a split retry). */
    for (size_t c = 0, u0 = 0; c < plan.n_calls; u0 = plan.call_end[c++]) {
        size_t u1 = plan.call_end[c];
        size_t first = u0 ? plan.unit_end[u0 - 1] : 0, end = plan.unit_end[u1 - 1];
        for (size_t i = first; i < end; i++)
            m[i - first] = &b->m[items[i].index].dm[d];
        for (size_t u = u0; u < u1; u++)
            rel[u - u0] = plan.unit_end[u] - first;
        int rc = s_observe_call(b, d, st, m, end - first, rel, u1 - u0);
        if (rc) {
            struct s_req tmp = {.step = st, .m = m, .n = end - first};
            s_observe_failed(&tmp, bsup_aws_client_why(b->e->aws, st->service, rc));
        }
    }
out:
    bsup_batch_plan_cleanup(&plan);
    free(keys);
    free(items);
    free(m);
    free(rel);
}

/* Whether step k of domain d has begun and has every answer. */
static bool s_step_done(const struct s_batch *b, size_t d, size_t k)
{
    return (b->begun[d] >> k & 1u) && b->in_flight[d][k] == 0;
}

/* The steps of its domain whose answers step k needs (bits). */
static uint32_t s_step_needs(const struct bsup_domain *dom, size_t k)
{
    const struct bsup_observe_step *st = &dom->steps[k];
    return (st->flags & BSUP_OBSERVE_NEEDS) ? st->needs : (1u << k) - 1u;
}

/* Whether domain d has run all its observe steps and has every answer. */
static bool s_domain_observed(const struct s_batch *b, size_t d)
{
    for (size_t k = 0; k < b->e->domains[d]->n_steps; k++)
        if (!s_step_done(b, d, k))
            return false;
    return true;
}

/* Begins every observe step that can: one whose domain's reads have observed and whose
 * needed steps have all their answers. A step with nothing to ask is done at once. When every
 * domain has observed, plans. (Domains read only those before them and steps need only
 * earlier ones, so one pass in order sees everything that became ready during it.) */
static void s_batch_next_step(struct s_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    bool all = true;
    for (size_t d = 0; d < e->n_domains; d++) {
        bool ready = true;
        for (size_t k = 0; ready && k < d; k++)
            ready = !(e->reads[d] & (1u << k)) || s_domain_observed(b, k);
        const struct bsup_domain *dom = e->domains[d];
        for (size_t k = 0; ready && k < dom->n_steps; k++) {
            uint32_t needs = s_step_needs(dom, k);
            bool go = !(b->begun[d] >> k & 1u);
            for (size_t j = 0; go && j < k; j++)
                go = !(needs >> j & 1u) || s_step_done(b, d, j);
            if (!go)
                continue;
            b->begun[d] |= 1u << k;
            s_observe_step(b, d, k, &dom->steps[k]);
        }
        all = all && s_domain_observed(b, d);
    }
    if (all)
        s_batch_plan_and_apply(b);
}

/* ---- apply ---- */

static void on_applied(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user);

/* Saves domain d's facts not saved yet, in one transaction. */
static int s_cache_save(struct bsup_reconcile_engine *e, size_t d, struct bsup_diag *diag)
{
    if (e->caches[d].n_dirty == 0)
        return 0;
    int rc = bsup_store_begin(e->store, diag);
    if (rc == 0)
        rc = bsup_store_cache_save(e->store, e->domains[d]->name, &e->caches[d], s_now_s(), diag);
    if (rc == 0)
        return bsup_store_commit(e->store, diag);
    bsup_store_rollback(e->store);
    return rc;
}

static void s_apply(struct s_batch *b, size_t mi, const struct bsup_action *a)
{
    struct bsup_reconcile_engine *e = b->e;
    struct s_member *m = &b->m[mi];
    const struct bsup_domain *d = e->domains[a->domain];
    struct bsup_diag diag = {0};
    struct bsup_aws_params p = {0};
    const char *action = NULL;
    char *params = NULL;
    json_t *pj = NULL;
    struct s_req *r = calloc(1, sizeof(*r));
    /* The request is built once: the journal records and the call sends this one value. */
    int rc = r ? d->request(m->svc->desired, m->dm[a->domain].obs, a, &action, &p) : BSUP_ENOMEM;
    if (rc == 0 && !(pj = bsup_domain_params_json(&p)))
        rc = BSUP_ENOMEM;
    if (rc == 0 && !(params = json_dumps(pj, JSON_COMPACT)))
        rc = BSUP_ENOMEM;
    if (rc) {
        m->apply_failed = true;
        snprintf(m->error, sizeof(m->error), "%s: cannot build the request: %s", a->resource,
                 bsup_strerror(rc));
        goto out;
    }
    *r = (struct s_req){.b = b, .domain = a->domain, .member = mi, .action = action, .change = *a};
    /* The intent is durable before the call: a crash after this line is never repeated
     * blindly; the next observation decides. What the domain learnt this cycle goes first (a
     * drill's result before its instance's deletion): the intent's commit syncs it too. */
    if (s_cache_save(e, a->domain, &diag) ||
        bsup_store_journal_begin(e->store, m->svc->name, a->resource, action, params, s_now_s(),
                                 &r->journal_id, &diag)) {
        s_store_failed(e, b, &diag);
        s_member_fail(m, "%s", diag.message);
        goto out;
    }
    bsup_failpoint("reconcile-after-intent");
    rc = bsup_aws_call(e->aws, d->mutate_service, action, &p, NULL, BSUP_AWS_MUTATION, on_applied,
                       r, NULL);
    if (rc) {
        if (bsup_store_journal_end(e->store, r->journal_id, "error", bsup_err_name(rc),
                                   "the call could not be started", NULL, s_now_s(), &diag))
            s_store_failed(e, b, &diag);
        s_member_fail(m, "cannot start %s: %s", action,
                      bsup_aws_client_why(e->aws, d->mutate_service, rc));
        goto out;
    }
    r = NULL;
    b->pending++;
    m->mutations++;
    bsup_log_notice("applying service=%s action=%s resource=%s params=%s", m->svc->name, action,
                    a->resource, params);
out:
    free(r);
    free(params);
    json_decref(pj);
    bsup_aws_params_cleanup(&p);
}

static bool s_has_line(const struct bsup_plan *plan, enum bsup_action_kind kind,
                       const char *resource, const char *field);

/* AWS refused r's change for good (no retry can mend it) and its domain took that as what it
 * observed: the change leaves m's plan and the lines the domain now plans join it (a drill
 * that could not start: its degraded line), so the cycle records what it saw, not an error.
 * Whether it was taken. */
static bool s_refusal_taken(struct bsup_reconcile_engine *e, struct s_member *m,
                            const struct s_req *r, const struct bsup_aws_result *res)
{
    const struct bsup_domain *dom = e->domains[r->domain];
    struct bsup_retry_outcome out = {.http_status = res->error.http_status,
                                     .error_code = res->error.code};
    if (!m->planned || res->err != BSUP_EAWS || !dom->refused ||
        bsup_retry_classify(&out) != BSUP_RETRY_NOT_RETRYABLE ||
        !dom->refused(&m->dm[r->domain], &r->change, res->error.code, res->error.message))
        return false;
    struct bsup_plan p, q;
    struct bsup_pack *pk = NULL;
    bsup_plan_init(&q);
    int rc = bsup_plan_unpack(m->plan, &p);
    for (size_t i = 0; rc == 0 && i < p.n_actions; i++) {
        struct bsup_action *a = &p.actions[i];
        if (a->domain == r->domain && a->kind == r->change.kind &&
            strcmp(a->resource, r->change.resource) == 0) {
            memmove(a, a + 1, (p.n_actions - i - 1) * sizeof(*a));
            p.n_actions--;
            break;
        }
    }
    if (rc == 0)
        rc = dom->plan(m->svc->desired, m->dm[r->domain].obs, &q);
    for (size_t i = 0; rc == 0 && i < q.n_actions; i++) {
        const struct bsup_action *a = &q.actions[i];
        if (bsup_action_kind_mutating(a->kind) || !a->n_changes ||
            s_has_line(&p, a->kind, a->resource, a->changes[0].field))
            continue;
        struct bsup_action *x = bsup_plan_add(&p, a->kind, a->resource);
        if (!x) {
            rc = BSUP_ENOMEM;
            break;
        }
        *x = *a;
        x->domain = r->domain;
        x->owned = dom->owned_pace_action != NULL;
    }
    if (rc == 0 && (rc = bsup_plan_pack(&p, &pk)) == 0) {
        free(m->plan);
        m->plan = pk;
    }
    bsup_plan_cleanup(&p);
    bsup_plan_cleanup(&q);
    return rc == 0;
}

/* AWS accepted r's change: m's plan shows it applied, so `bsupctl plan` reads a corrected service
 * as done, not as a change still to make. */
static void s_mark_applied(struct s_member *m, const struct s_req *r)
{
    struct bsup_plan p;
    struct bsup_pack *pk = NULL;
    int rc = bsup_plan_unpack(m->plan, &p);
    for (size_t i = 0; rc == 0 && i < p.n_actions; i++) {
        struct bsup_action *a = &p.actions[i];
        if (a->domain == r->domain && a->kind == r->change.kind &&
            strcmp(a->resource, r->change.resource) == 0) {
            a->applied = true;
            if ((rc = bsup_plan_pack(&p, &pk)) == 0) {
                free(m->plan);
                m->plan = pk;
            }
            break;
        }
    }
    if (rc)
        bsup_log_err("service=%s out of memory marking a change applied in its plan", m->svc->name);
    bsup_plan_cleanup(&p);
}

static void on_applied(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_req *r = user;
    struct s_batch *b = r->b;
    struct bsup_reconcile_engine *e = b->e;
    struct s_member *m = &b->m[r->member];
    const struct bsup_action *a = &r->change;
    b->pending--;
    bsup_failpoint("reconcile-after-call");
    int64_t now = s_now_s();
    struct bsup_diag diag = {0};
    const char *rid = res->error.request_id[0] ? res->error.request_id : NULL;
    if (res->err == 0) {
        if (bsup_store_journal_end(e->store, r->journal_id, "ok", NULL, NULL, rid, now, &diag))
            s_store_failed(e, b, &diag);
        struct bsup_resource_memory mem;
        if (bsup_store_memory_get(e->store, m->svc->name, a->resource, &mem, &diag) == 0) {
            mem.last_change_s = now;
            mem.changes++;
            mem.desired_sig = bsup_action_desired_sig(a);
            if (bsup_store_memory_put(e->store, m->svc->name, a->resource, &mem, &diag))
                s_store_failed(e, b, &diag);
        } else {
            s_store_failed(e, b, &diag);
        }
        m->applied_ok |= !a->owned; /* bsupd's own alarms do not make the service corrected */
        m->applied++;
        s_mark_applied(m, r);
        /* AWS accepted these values: status shows them rather than the pre-change reading. */
        e->domains[r->domain]->applied(m->dm[r->domain].obs, a);
        char what[512] = "";
        for (size_t i = 0; i < a->n_changes; i++) {
            size_t used = strlen(what);
            snprintf(what + used, sizeof(what) - used, "%s%s %s -> %s", i ? ", " : "",
                     a->changes[i].field, a->changes[i].observed, a->changes[i].desired);
        }
        s_event(e, m->svc->name, "action.applied", "%s %s: %s", r->action, a->resource, what);
        bsup_log_notice("applied service=%s action=%s resource=%s %s", m->svc->name, r->action,
                        a->resource, what);
    } else if (s_refusal_taken(e, m, r, res)) {
        if (bsup_store_journal_end(e->store, r->journal_id, "error", res->error.code, res->message,
                                   rid, now, &diag))
            s_store_failed(e, b, &diag);
        m->apply_errors++;
        s_event(e, m->svc->name, "action.refused", "%s", res->message);
        bsup_log_warn("refused service=%s %s", m->svc->name, res->message);
    } else {
        /* Sent, and no answer from AWS read (a timeout, a connection lost, the stop cancelling
         * it in flight): it may have landed, as a crash's open intent may (rail 4 holds it). */
        bool unknown = res->attempts > 0 && res->err != BSUP_EAWS && res->err != BSUP_ECONNECT;
        const char *why = unknown ? " (outcome unknown: it may have reached AWS; the next "
                                    "observation decides)"
                                  : "";
        if (bsup_store_journal_end(e->store, r->journal_id, unknown ? "unknown" : "error",
                                   res->err == BSUP_EAWS ? res->error.code
                                                         : bsup_err_name(res->err),
                                   res->message, rid, now, &diag))
            s_store_failed(e, b, &diag);
        m->apply_errors++;
        if (a->owned) {
            /* bsupd's own alarm: not the service's error, nor a page (an outage would send one
             * a cycle for each service); the next cycle retries. "<domain>.failed". */
            char kind[64];
            snprintf(kind, sizeof(kind), "%s.failed", e->domains[r->domain]->name);
            s_event(e, m->svc->name, kind, "%s%s", res->message, why);
            bsup_log_warn("apply failed service=%s %s%s", m->svc->name, res->message, why);
        } else {
            s_event(e, m->svc->name, "action.failed", "%s%s", res->message, why);
            m->apply_failed = true;
            int n = snprintf(m->error, sizeof(m->error), "%s", res->message);
            if (n > 0 && (size_t)n < sizeof(m->error))
                snprintf(m->error + n, sizeof(m->error) - (size_t)n, "%s", why);
            bsup_log_err("apply failed service=%s %s%s", m->svc->name, res->message, why);
        }
    }
    free(r);
    if (b->pending == 0 && b->n_planned == b->n)
        s_batch_finish(b);
}

/* ---- plan and rails ---- */

/* Plans one member with every domain whose observation succeeded. */
static int s_plan(struct bsup_reconcile_engine *e, struct s_member *m, struct bsup_plan *plan)
{
    struct s_service *s = m->svc;
    for (size_t d = 0; d < e->n_domains; d++) {
        if (m->dm[d].failed)
            continue;
        size_t first = plan->n_actions;
        if (e->domains[d]->plan(s->desired, m->dm[d].obs, plan))
            return BSUP_ENOMEM;
        for (size_t i = first; i < plan->n_actions; i++) {
            plan->actions[i].domain = (unsigned)d;
            plan->actions[i].owned = e->domains[d]->owned_pace_action != NULL;
        }
    }
    return 0;
}

/* A resource with no change to make and nothing missing has converged: its correction streak
 * (and any fight) is forgotten. */
static int s_forget_converged(struct bsup_reconcile_engine *e, struct s_member *m,
                              const struct bsup_plan *plan, struct bsup_diag *diag)
{
    struct s_service *s = m->svc;
    char **res = NULL;
    size_t n = 0;
    int rc = bsup_store_memory_streaks(e->store, s->name, &res, &n, diag);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool open = false;
        for (size_t k = 0; k < plan->n_actions; k++) {
            const struct bsup_action *a = &plan->actions[k];
            open |= (bsup_action_kind_mutating(a->kind) || a->kind == BSUP_ACTION_MISSING) &&
                    strcmp(a->resource, res[i]) == 0;
        }
        struct bsup_resource_memory mem;
        if (open || (rc = bsup_store_memory_get(e->store, s->name, res[i], &mem, diag)))
            continue;
        bsup_rails_observe(&e->rails, &mem, false, 0);
        rc = bsup_store_memory_put(e->store, s->name, res[i], &mem, diag);
    }
    bsup_store_strings_free(res, n);
    return rc;
}

/* A change of an owned domain goes if its family's configured rate has one left in this
 * interval's worth; else it is held until a later cycle. */
static void s_owned_pace(struct bsup_reconcile_engine *e, struct bsup_action *a)
{
    const struct bsup_domain *dom = e->domains[a->domain];
    const struct bsup_bucket *bk =
        &e->aws->buckets[bsup_api_family_of(dom->mutate_service, dom->owned_pace_action)];
    double per_s = bk->base_rate_per_s, cap = per_s * (double)e->settings->interval_s;
    struct bsup_pace *pace = &e->pace[a->domain][dom->n_steps];
    if (bsup_pace_allowance(pace, per_s, cap < 1 ? 1 : cap, uv_now(e->loop)) == 0) {
        bsup_action_hold(a, BSUP_HOLD_PACED,
                         "paced: bsupd's own %s calls go at most %.3g per second "
                         "(rate_limits); this one waits for a later cycle",
                         dom->owned_pace_action, per_s);
        return;
    }
    bsup_pace_spend(pace, 1);
}

/* Enforce mode: reads the memory of every resource the plan would change, counts the
 * corrections that did not hold (fight detection), then gates each change. Any store failure
 * holds the whole service back: nothing is sent for it. */
static int s_rails(struct s_batch *b, struct s_member *m, struct bsup_plan *plan,
                   struct bsup_diag *diag)
{
    struct bsup_reconcile_engine *e = b->e;
    struct s_service *s = m->svc;
    size_t n = plan->n_actions;
    struct bsup_resource_memory *mem = calloc(n ? n : 1, sizeof(*mem));
    if (!mem)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory while planning");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (bsup_action_kind_mutating(plan->actions[i].kind))
            rc = bsup_store_memory_get(e->store, s->name, plan->actions[i].resource, &mem[i], diag);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct bsup_action *a = &plan->actions[i];
        if (!bsup_action_kind_mutating(a->kind))
            continue;
        if (bsup_rails_observe(&e->rails, &mem[i], true, bsup_action_desired_sig(a))) {
            s_event(e, s->name, "service.fighting",
                    "%s: the same drift came back after %d corrections in a row; bsupd "
                    "stops correcting it until it converges",
                    a->resource, mem[i].corrections_in_a_row);
            bsup_log_warn("fighting service=%s resource=%s corrections=%d", s->name, a->resource,
                          mem[i].corrections_in_a_row);
        }
        rc = bsup_store_memory_put(e->store, s->name, a->resource, &mem[i], diag);
    }
    int budget_service = e->rails.max_mutations_per_service;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct bsup_action *a = &plan->actions[i];
        const struct bsup_domain *dom = e->domains[a->domain];
        if (!dom->owned_pace_action) {
            bsup_rails_gate(&e->rails, &mem[i], a, s_now_s(), &b->budget->left, &budget_service);
            continue;
        }
        int no_cap = 1, no_cap_service = 1; /* bsupd's own resources: paced, not capped */
        bsup_rails_gate(&e->rails, &mem[i], a, s_now_s(), &no_cap, &no_cap_service);
        if (bsup_action_kind_mutating(a->kind) && a->hold == BSUP_HOLD_NONE)
            s_owned_pace(e, a);
    }
    free(mem);
    return rc;
}

static void on_plan_turn(uv_idle_t *t)
{
    uv_idle_stop(t);
    s_batch_plan_and_apply(t->data);
}

/* Plans the batch's members turn_members at a time, the next chunk on the next loop turn, and
 * sends each one's changes; once every member is planned and no change is in flight, records. */
static void s_batch_plan_and_apply(struct s_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    size_t end = s_turn_end(b, b->n_planned);
    for (size_t i = b->n_planned; i < end; i++) {
        struct s_member *m = &b->m[i];
        struct s_service *s = m->svc;
        for (size_t d = 0; d < e->n_domains && !m->failed; d++)
            if (m->dm[d].failed)
                s_member_fail(m, "%s", m->dm[d].error);
        free(m->prev); /* the steps are done: nothing reads it any more */
        m->prev = NULL;
        for (size_t d = 0; d < e->n_domains; d++)
            m->dm[d].prev = NULL;
        if (m->failed || s->gone) /* gone: a reload removed it meanwhile; nothing is changed */
            continue;
        for (size_t d = 0; d < e->n_domains; d++)
            if (e->domains[d]->settle && !m->dm[d].failed)
                e->domains[d]->settle(&m->dm[d]);
        struct bsup_plan plan;
        bsup_plan_init(&plan);
        if (s_plan(e, m, &plan) || s_carry_unjudged(e, m, &plan)) {
            s_member_fail(m, "out of memory while planning");
            bsup_plan_cleanup(&plan);
            continue;
        }
        s->observed = true;
        s->mode = s_effective_mode(e, s);
        struct bsup_diag diag = {0};
        if (s_forget_converged(e, m, &plan, &diag) ||
            (s->mode == BSUP_MODE_ENFORCE && s_rails(b, m, &plan, &diag))) {
            /* Fail closed: without the memory the rails need, nothing is changed. */
            s_store_failed(e, b, &diag);
            s_member_fail(m, "%s", diag.message);
        }
        for (size_t ai = 0; s->mode == BSUP_MODE_ENFORCE && ai < plan.n_actions; ai++) {
            const struct bsup_action *a = &plan.actions[ai];
            if (bsup_action_kind_mutating(a->kind) && a->hold == BSUP_HOLD_NONE && !m->failed)
                s_apply(b, i, a);
        }
        if (bsup_plan_pack(&plan, &m->plan))
            s_member_fail(m, "out of memory while planning");
        else
            m->planned = true;
        bsup_plan_cleanup(&plan);
    }
    b->n_planned = end;
    if (end < b->n)
        uv_idle_start(&b->turn, on_plan_turn);
    else if (b->pending == 0)
        s_batch_finish(b);
}

/* ---- recording ---- */

/* Whether plan holds a line of kind about (resource, field). */
/* plan's line (kind, resource, field), or NULL. */
static const struct bsup_change *s_line(const struct bsup_plan *plan, enum bsup_action_kind kind,
                                        const char *resource, const char *field)
{
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct bsup_action *a = &plan->actions[i];
        const struct bsup_change *c = a->kind == kind && strcmp(a->resource, resource) == 0
                                          ? bsup_action_find_change(a, field)
                                          : NULL;
        if (c)
            return c;
    }
    return NULL;
}

static bool s_has_line(const struct bsup_plan *plan, enum bsup_action_kind kind,
                       const char *resource, const char *field)
{
    return s_line(plan, kind, resource, field) != NULL;
}

/* The event a domain gives a field's lines, or NULL (a restored plan's actions know no
 * domain: fields are looked up in every domain's table). */
static const struct bsup_domain_event *s_line_event(const struct bsup_reconcile_engine *e,
                                                    enum bsup_action_kind kind, const char *field)
{
    for (size_t d = 0; d < e->n_domains; d++)
        for (const struct bsup_domain_event *ev = e->domains[d]->events; ev && ev->field; ev++)
            if (ev->kind == kind && strcmp(ev->field, field) == 0)
                return ev;
    return NULL;
}

/* Whether plan holds a line of kind whose field's event clears with cleared. */
static bool s_has_event_line(const struct bsup_reconcile_engine *e, const struct bsup_plan *plan,
                             enum bsup_action_kind kind, const char *cleared)
{
    for (size_t i = 0; i < plan->n_actions; i++)
        for (size_t j = 0; plan->actions[i].kind == kind && j < plan->actions[i].n_changes; j++) {
            const struct bsup_domain_event *ev =
                s_line_event(e, kind, plan->actions[i].changes[j].field);
            if (ev && ev->cleared && strcmp(ev->cleared, cleared) == 0)
                return true;
        }
    return false;
}

/* An event for every finding (resource, rule) that appeared or cleared since the last plan,
 * and for a degraded line whose field a domain gives an event (backup.stale, drill.failed). */
static void s_finding_events(struct bsup_reconcile_engine *e, const struct s_service *s,
                             const struct bsup_plan *before, const struct bsup_plan *now)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct bsup_plan *from = pass ? before : now, *to = pass ? now : before;
        for (size_t i = 0; i < from->n_actions; i++) {
            const struct bsup_action *a = &from->actions[i];
            if (a->kind != BSUP_ACTION_FINDING && a->kind != BSUP_ACTION_DEGRADED)
                continue;
            for (size_t j = 0; j < a->n_changes; j++) {
                const struct bsup_change *c = &a->changes[j];
                const struct bsup_domain_event *ev = s_line_event(e, a->kind, c->field);
                const char *kind = pass ? (ev ? ev->cleared : "finding.cleared")
                                        : (ev ? ev->appeared : "finding.appeared");
                /* A condition of several lines (a service's alarms) clears with its last. */
                if (pass && ev && ev->cleared && s_has_event_line(e, to, a->kind, ev->cleared))
                    kind = "finding.cleared";
                const struct bsup_change *was = s_line(to, a->kind, a->resource, c->field);
                char msg[1024];
                snprintf(msg, sizeof(msg), "%s %s: %s (want %s): %s", a->resource, c->field,
                         c->observed, c->desired, c->reason ? c->reason : "");
                /* Standing with other values (a stale backup older now): its open condition's
                 * reminders say where it is now. */
                if (!pass && was && kind && strcmp(was->observed, c->observed) != 0) {
                    struct bsup_diag diag = {0};
                    enum bsup_alert al = bsup_alert_for_event(kind);
                    if (al != BSUP_ALERT_NONE &&
                        bsup_store_alert_condition_values(e->store, s->name, al, msg, c->observed,
                                                          c->desired, &diag))
                        s_store_failed(e, NULL, &diag);
                }
                if (!kind || (a->kind == BSUP_ACTION_DEGRADED && !ev) || was)
                    continue;
                if (pass) {
                    s_event(e, s->name, kind, "%s %s: now as declared", a->resource, c->field);
                    bsup_log_notice("%s service=%s %s %s: now as declared", kind, s->name,
                                    a->resource, c->field);
                } else /* an alert (backup-stale, drill-failed) says what was found and wanted */
                    s_event_alert(e, s->name, kind, BSUP_ALERT_NONE, c->observed, c->desired, "%s",
                                  msg);
            }
        }
    }
}

/* One datum of the service (store failures make the engine unhealthy, like any record). */
static void s_datum(struct bsup_reconcile_engine *e, const struct s_service *s,
                    enum bsup_metric metric, double value, int64_t at_ms)
{
    struct bsup_diag diag = {0};
    const struct bsup_metric_info *mi = &bsup_metrics[metric];
    if (bsup_store_metric_add(e->store, mi->name, s ? s->name : NULL,
                              s ? bsup_environment_name(s->desired->environment) : NULL, at_ms,
                              value, mi->unit, &diag))
        s_store_failed(e, NULL, &diag);
}

/* The service's datums of this cycle, written with its records: what the domains' tagged
 * fields observed (only when the domain's observation of this cycle succeeded) and the
 * engine's own figures. */
static void s_measure(struct bsup_reconcile_engine *e, const struct s_batch *b,
                      const struct s_member *m, const struct bsup_plan *plan, enum bsup_state state)
{
    const struct s_service *s = m->svc;
    int64_t now_ms = s_now_ms();
    if (!e->settings->metrics.enabled)
        return;
    for (size_t d = 0; !m->failed && d < e->n_domains; d++) {
        const struct bsup_domain *dom = e->domains[d];
        const void *obs = m->dm[d].obs;
        if (m->dm[d].failed || !obs || !bsup_domain_obs_found(dom, obs))
            continue;
        for (size_t f = 0; f < dom->n_fields; f++) {
            const struct bsup_field *fd = &dom->fields[f];
            int metric = fd->metric ? bsup_metric_find(fd->metric) : -1;
            if (metric < 0 || fd->type == BSUP_FIELD_STRING)
                continue;
            double v;
            if (fd->type == BSUP_FIELD_INT64) {
                int64_t n;
                memcpy(&n, (const char *)obs + fd->offset, sizeof(n));
                if (n < 0)
                    continue; /* a negative figure means "not known": no datum */
                v = (double)n;
            } else {
                bool t;
                memcpy(&t, (const char *)obs + fd->offset, sizeof(t));
                v = t ? 1 : 0;
            }
            s_datum(e, s, (enum bsup_metric)metric, v, now_ms);
        }
    }
    if (m->planned && !m->failed) {
        size_t drift = 0;
        for (size_t i = 0; i < plan->n_actions; i++) {
            const struct bsup_action *a = &plan->actions[i];
            if ((a->kind == BSUP_ACTION_UPDATE || a->kind == BSUP_ACTION_REPORT) && !a->owned)
                drift += a->n_changes;
        }
        s_datum(e, s, BSUP_METRIC_DRIFT_COUNT, (double)drift, now_ms);
    }
    s_datum(e, s, BSUP_METRIC_ACTIONS_APPLIED, m->applied, now_ms);
    s_datum(e, s, BSUP_METRIC_ACTIONS_FAILED, m->apply_errors, now_ms);
    s_datum(e, s, BSUP_METRIC_RECONCILE_ERRORS, state == BSUP_STATE_ERROR ? 1 : 0, now_ms);
    s_datum(e, s, BSUP_METRIC_RECONCILE_DURATION,
            (double)(now_ms > b->started_ms ? now_ms - b->started_ms : 0), now_ms);
}

/* What the state database says the service was and found at its last recorded cycle (by an
 * earlier process: the first cycle of this one), so a restart or a --once run emits only
 * what changed since. 0, or BSUP_ENOTFOUND (never recorded) / a store error: no baseline. */
static int s_stored_baseline(struct bsup_reconcile_engine *e, const struct s_service *s,
                             enum bsup_state *out_state, struct bsup_plan *out_findings)
{
    struct bsup_diag diag = {0};
    char *state = NULL, *detail = NULL;
    int64_t at_s = 0;
    int rc = bsup_store_observation_get(e->store, s->name, &at_s, &state, &detail, &diag);
    int st = rc == 0 ? bsup_state_from_name(state) : -1;
    json_t *j = st >= 0 ? json_loads(detail, 0, NULL) : NULL;
    if (j && bsup_plan_findings_from_json(json_object_get(j, "plan"), out_findings) == 0)
        *out_state = (enum bsup_state)st;
    else if (rc == 0)
        rc = BSUP_EPROTO;
    json_decref(j);
    free(state);
    free(detail);
    return rc;
}

/* Whether domain d observed m's service completely in this cycle. */
static bool s_fresh(const struct s_member *m, size_t d)
{
    return !m->failed && !m->dm[d].failed && m->dm[d].obs;
}

/* The finding, degraded and missing lines of the last plan (in a new process, the recorded one)
 * that this cycle's observations have not judged yet (a domain's unjudged: a paced or failed read,
 * none since bsupd started), appended to plan as they were: a read that has not come never
 * reads as a line cleared. 0 or BSUP_ENOMEM. */
static int s_carry_unjudged(struct bsup_reconcile_engine *e, const struct s_member *m,
                            struct bsup_plan *plan)
{
    const struct s_service *s = m->svc;
    struct bsup_plan last;
    enum bsup_state st;
    bsup_plan_init(&last);
    int rc = 0;
    if (!(s->recorded || s->state == BSUP_STATE_NEVER)) /* as s_record's "before" */
        rc = bsup_plan_unpack(s->plan, &last);
    else if (s_stored_baseline(e, s, &st, &last)) /* none (or unreadable): nothing to keep */
        bsup_plan_cleanup(&last);
    for (size_t i = 0; rc == 0 && i < last.n_actions; i++) {
        const struct bsup_action *a = &last.actions[i];
        if (a->kind != BSUP_ACTION_FINDING && a->kind != BSUP_ACTION_DEGRADED &&
            a->kind != BSUP_ACTION_MISSING)
            continue;
        for (size_t j = 0; rc == 0 && j < a->n_changes; j++) {
            const struct bsup_change *c = &a->changes[j];
            if (s_has_line(plan, a->kind, a->resource, c->field))
                continue;
            for (size_t d = 0; d < e->n_domains; d++) {
                const struct bsup_domain *dom = e->domains[d];
                if (!s_fresh(m, d) || !dom->unjudged ||
                    !dom->unjudged(s->desired, m->dm[d].obs, a->resource, c->field))
                    continue;
                struct bsup_action *x = bsup_plan_add(plan, a->kind, a->resource);
                if (!x) {
                    rc = BSUP_ENOMEM;
                    break;
                }
                x->domain = (unsigned)d;
                x->owned = dom->owned_pace_action != NULL;
                bsup_action_change(x, c->field, c->observed, c->desired,
                                   c->reason && c->reason[0]
                                       ? c->reason
                                       : "as last recorded: not read again since bsupd started; "
                                         "it stands until a read judges it");
                break;
            }
        }
    }
    bsup_plan_cleanup(&last);
    return rc;
}

static void s_record(struct bsup_reconcile_engine *e, const struct s_batch *b, struct s_member *m)
{
    struct s_service *s = m->svc;
    bool failed = m->failed || m->apply_failed;
    enum bsup_state previous = s->state;
    /* now: this cycle's plan, or when it did not get so far the last one, which stands;
     * before: the last one, to see which findings appeared or cleared. */
    struct bsup_plan now, last, stored;
    const struct bsup_plan *before = &last;
    bsup_plan_init(&last);
    bsup_plan_init(&stored);
    if (bsup_plan_unpack(m->planned ? m->plan : s->plan, &now) ||
        (m->planned && bsup_plan_unpack(s->plan, &last)))
        bsup_log_err("service=%s out of memory reading its plans", s->name);
    if (s->recorded) /* the record is the "before" of this run's first cycle, as below */
        previous = BSUP_STATE_NEVER;
    s->recorded = false;
    if (previous == BSUP_STATE_NEVER && s_stored_baseline(e, s, &previous, &stored) == 0)
        before = &stored;
    enum bsup_state state = bsup_plan_state(&now, failed, m->applied_ok);
    s->state = state;
    s->last_cycle_at_s = s_now_s();
    s->calls_last_cycle = m->calls;
    s->mutations_last_cycle = m->mutations;
    free(s->last_error);
    s->last_error = failed ? strdup(m->error) : NULL;
    /* A domain whose observation completed replaces the last one; a failed one keeps it. */
    for (size_t d = 0; d < e->n_domains; d++) {
        struct bsup_pack *pk =
            s_fresh(m, d) ? bsup_pack(m->dm[d].obs, e->domains[d]->obs_size) : NULL;
        if (!pk && s_fresh(m, d))
            bsup_log_err("service=%s out of memory keeping its %s observation", s->name,
                         e->domains[d]->name);
        if (pk) {
            free(s->obs[d]);
            s->obs[d] = pk;
        }
    }
    if (m->planned) {
        free(s->plan);
        s->plan = m->plan;
        m->plan = NULL;
    }
    s->version = ++e->versions;
    /* The lines' own events first: a line's alert that opens the service's condition
     * (drill-failed) is the page, and the state's DEGRADED alert then finds it open. */
    if (m->planned)
        s_finding_events(e, s, before, &now);
    e->standing =
        state == previous && e->once && (bsup_state_flags(state) & BSUP_STATE_F_ATTENTION) != 0;
    if (state != previous || e->standing) {
        char what[700] = "";
        const struct bsup_action *missing = NULL, *held = NULL;
        for (size_t i = 0; i < now.n_actions && strlen(what) < 500; i++) {
            const struct bsup_action *a = &now.actions[i];
            if (a->kind == BSUP_ACTION_MISSING && !missing)
                missing = a;
            if (a->hold != BSUP_HOLD_NONE && !a->owned && !held)
                held = a;
            /* What makes the state: never a finding, and for degraded its degraded lines. */
            bool cause = a->kind != BSUP_ACTION_FINDING &&
                         (state != BSUP_STATE_DEGRADED || a->kind == BSUP_ACTION_DEGRADED);
            for (size_t j = 0; cause && !a->owned && j < a->n_changes; j++) {
                size_t used = strlen(what);
                snprintf(what + used, sizeof(what) - used, "%s%s %s (want %s)", used ? ", " : "",
                         a->changes[j].field, a->changes[j].observed, a->changes[j].desired);
            }
        }
        const char *kind = bsup_state_event(state);
        /* A move into or out of a degraded state is an alert, queued with the state's event
         * in the batch's transaction. */
        enum bsup_alert alert = bsup_alert_for_states(previous, state);
        const char *obs_state = bsup_state_name(state);
        switch (state) {
        case BSUP_STATE_ERROR:
            s_event_alert(e, s->name, kind, alert, obs_state, "ok", "%s",
                          s->last_error ? s->last_error : "");
            break;
        case BSUP_STATE_MISSING:
            s_event_alert(e, s->name, kind, alert, obs_state, "ok",
                          "%s %s does not exist; bsupd never creates it",
                          missing ? e->domains[missing->domain]->resource : "resource",
                          missing ? missing->resource : "?");
            break;
        case BSUP_STATE_DRIFT:
            s_event_alert(e, s->name, kind, alert, obs_state, "ok", "%s mode: %s",
                          bsup_mode_name(s->mode), what);
            break;
        case BSUP_STATE_HELD: /* why it is not corrected, or it reads as being corrected */
            s_event_alert(e, s->name, kind, alert, obs_state, "ok", "%s mode: %s; held: %s",
                          bsup_mode_name(s->mode), what, held ? held->held_reason : "?");
            break;
        case BSUP_STATE_DEGRADED:
            s_event_alert(e, s->name, kind, alert, obs_state, "ok", "%s", what);
            break;
        default:
            s_event_alert(e, s->name, kind, alert, obs_state, "ok", "now %s (was %s)",
                          bsup_state_name(state), bsup_state_name(previous));
            break;
        }
    }
    e->standing = false;
    bsup_plan_cleanup(&last);
    bsup_plan_cleanup(&stored);
    s_measure(e, b, m, &now, state);
    /* The record: {"mode","plan","calls","mutations","error"}, and beside it every domain's
     * observation as status writes them (,"scaling":{...},"health":null,...): status shows
     * them after a restart without parsing. Written as text. */
    struct bsup_buf t = BSUP_BUF_INIT(S_RECORD_MAX_BYTES, 0);
    struct bsup_buf o = BSUP_BUF_INIT(S_RECORD_MAX_BYTES, 0);
    for (size_t d = 0; d < e->n_domains; d++) {
        const struct bsup_domain *dom = e->domains[d];
        void *kept = s->obs[d] && !s_fresh(m, d) ? malloc(dom->obs_size) : NULL;
        if (kept)
            bsup_unpack(s->obs[d], kept);
        const void *obs = s_fresh(m, d) ? m->dm[d].obs : kept;
        bsup_buf_puts(&o, ",");
        bsup_buf_json_string(&o, dom->name);
        bsup_buf_putc(&o, ':');
        if (obs)
            bsup_domain_obs_write(&o, dom, obs);
        else
            bsup_buf_puts(&o, "null");
        free(kept);
    }
    json_t *plan = bsup_plan_json(&now);
    char *plan_text = plan ? json_dumps(plan, JSON_COMPACT) : NULL;
    json_decref(plan);
    if (!plan_text)
        bsup_buf_fail(&t, BSUP_ENOMEM);
    bsup_buf_puts(&t, "{\"mode\":");
    bsup_buf_json_string(&t, bsup_mode_name(s->mode));
    bsup_buf_printf(&t, ",\"plan\":%s,\"calls\":%u,\"mutations\":%u,\"error\":",
                    plan_text ? plan_text : "[]", m->calls, m->mutations);
    bsup_buf_json_string(&t, s->last_error ? s->last_error : "");
    bsup_buf_putc(&t, '}');
    free(plan_text);
    struct bsup_diag diag = {0};
    if (t.err || o.err)
        bsup_log_err("service=%s its record is not written: %s", s->name,
                     bsup_strerror(t.err ? t.err : o.err));
    else if (bsup_store_observation_put(e->store, s->name, s->last_cycle_at_s,
                                        bsup_state_name(state), bsup_buf_str(&t), bsup_buf_str(&o),
                                        &diag))
        s_store_failed(e, NULL, &diag);
    bsup_buf_cleanup(&t);
    bsup_buf_cleanup(&o);
    bsup_plan_cleanup(&now);

    /* Failing services back off (capped) without holding up the others. */
    s->failures = state == BSUP_STATE_ERROR ? s->failures + 1 : 0;
    s->next_due_ms = uv_now(e->loop) + (uint64_t)bsup_schedule_next_delay_ms(
                                           s_interval_ms(e, s), e->settings->jitter_s * 1000,
                                           s->failures, bsup_random_double01(&e->rng));
}

/* ---- batches, the tick and closing ---- */

static void s_service_free(struct bsup_reconcile_engine *e, struct s_service *s)
{
    bsup_service_cleanup(s->desired);
    free(s->desired);
    free(s->plan);
    for (size_t d = 0; s->obs && d < e->n_domains; d++)
        free(s->obs[d]);
    free(s->obs);
    free(s->last_error);
    free(s->name);
    free(s);
}

static void s_drop_gone(struct bsup_reconcile_engine *e)
{
    size_t o = 0;
    for (size_t i = 0; i < e->n_services; i++) {
        struct s_service *s = e->services[i];
        if (s->gone && !s->running) {
            bsup_strmap_del(&e->by_name, s->name);
            s_service_free(e, s);
            continue;
        }
        e->services[o++] = s;
    }
    e->n_services = o;
}

static void s_batch_free(struct s_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        for (size_t d = 0; b->m[i].dm && d < b->e->n_domains; d++)
            free(b->m[i].dm[d].obs);
        free(b->m[i].dm);
        free(b->m[i].fresh);
        free(b->m[i].prev);
        free(b->m[i].plan);
    }
    if (b->budget && --b->budget->refs == 0)
        free(b->budget);
    free(b->m);
    free(b->joins);
    free(b);
}

static void s_pace_free(struct bsup_reconcile_engine *e)
{
    for (size_t d = 0; e->pace && d < e->n_domains; d++)
        free(e->pace[d]);
    free(e->pace);
    e->pace = NULL;
}

/* The last step of closing: every batch and the tick are gone. */
static void s_maybe_closed(struct bsup_reconcile_engine *e)
{
    if (!e->closing || e->batches || !e->tick_closed || e->n_turns)
        return;
    s_drop_gone(e);
    free(e->services);
    bsup_strmap_cleanup(&e->by_name);
    for (size_t d = 0; d < e->n_domains; d++)
        bsup_domain_cache_cleanup(&e->caches[d]);
    free(e->caches);
    s_pace_free(e);
    bsup_close_fn cb = e->close_cb;
    void *user = e->close_user;
    free(e);
    if (cb)
        cb(user);
}

static void on_turn_closed(uv_handle_t *h)
{
    struct s_batch *b = h->data;
    struct bsup_reconcile_engine *e = b->e;
    s_batch_free(b);
#ifdef __GLIBC__
    /* A batch's working observations (full structs, tens of KB per service) were scattered
     * through the heap: hand the pages back, or the daemon keeps its largest batch's size. */
    malloc_trim(0);
#endif
    e->n_turns--;
    s_start_waiting(e); /* after the memory went back */
    s_maybe_closed(e);
}

static void on_tick_closed(uv_handle_t *h)
{
    struct bsup_reconcile_engine *e = h->data;
    e->tick_closed = true;
    s_maybe_closed(e);
}

static void on_record_turn(uv_idle_t *t)
{
    uv_idle_stop(t);
    s_batch_finish(t->data);
}

/* Records the batch's services turn_members at a time, a transaction each, the next chunk on
 * the next loop turn (a status call waits for one chunk, not for the batch); then ends it. */
static void s_batch_finish(struct s_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    uint64_t store_errors = e->store_errors;
    struct bsup_diag diag = {0};
    size_t end = s_turn_end(b, b->n_recorded);
    bool last = end == b->n;
    bool tx = b->recorded && bsup_store_begin(e->store, &diag) == 0;
    if (b->recorded && !tx)
        s_store_failed(e, b, &diag);
    for (size_t i = b->n_recorded; i < end; i++) {
        /* A cycle cut short by shutdown keeps the service's last recorded state. */
        bool cut = e->closing && (!b->recorded || b->m[i].failed || b->m[i].apply_failed);
        if (b->recorded && !cut && !b->m[i].svc->gone)
            s_record(e, b, &b->m[i]);
        b->cut_short |= cut;
        b->m[i].svc->running = false;
    }
    b->n_recorded = end;
    if (last && b->recorded && b->n && e->settings->metrics.enabled) {
        int64_t now_ms = s_now_ms();
        s_datum(e, NULL, BSUP_METRIC_CYCLE_DURATION,
                (double)(now_ms > b->started_ms ? now_ms - b->started_ms : 0), now_ms);
    }
    for (size_t d = 0; last && b->recorded && d < e->n_domains; d++)
        if (bsup_store_cache_save(e->store, e->domains[d]->name, &e->caches[d], s_now_s(), &diag))
            s_store_failed(e, b, &diag);
    if (tx && bsup_store_commit(e->store, &diag))
        s_store_failed(e, b, &diag);
    if (e->store_errors != store_errors)
        b->store_failed = true;
    if (!last) {
        uv_idle_start(&b->turn, on_record_turn);
        return;
    }
    if (b->recorded && !b->store_failed && e->store_errors)
        e->healthy = true; /* a whole batch without a store failure: the database is back */
    e->observing -= b->n;
    e->cycles++;
    e->observing_calls_total += b->calls;
    e->observing_calls_last_batch = b->calls;
    e->services_last_batch = (unsigned)b->n;
    e->last_batch_at_s = s_now_s();
    if (b->recorded) /* exactly the batches that wrote a CycleDuration datum (metrics on) */
        bsup_log_info("cycle done services=%zu observing_calls=%u", b->n, b->calls);
    for (struct s_batch **pp = &e->batches; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    for (size_t i = 0; i < b->n_joins; i++) {
        struct s_join *j = b->joins[i];
        j->cut_short |= b->cut_short;
        if (--j->pending == 0) {
            j->fn(j->ctx, j->cut_short);
            free(j);
        }
    }
    if (e->on_change)
        e->on_change(e->ctx);
    s_drop_gone(e);
    uv_close((uv_handle_t *)&b->turn, on_turn_closed);
    if (!e->closing)
        s_rearm(e);
}

/* n rounded up so that what follows it in one allocation is aligned for any type. */
static size_t s_round_up(size_t n)
{
    size_t a = _Alignof(max_align_t);
    return (n + a - 1) / a * a;
}

/* Another service's desired state, for a domain member (bsup_domain_member.lookup). */
static const struct bsup_service *s_lookup(const void *ctx, const char *service)
{
    return bsup_reconcile_desired(ctx, service);
}

/* Gives the next turn_members members their working observations, fresh (zeroed) and last
 * (unpacked). 0 or BSUP_ENOMEM. */
static int s_batch_setup(struct s_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    size_t nd = e->n_domains ? e->n_domains : 1;
    size_t end = s_turn_end(b, b->n_setup);
    for (size_t i = b->n_setup; i < end; i++, b->n_setup++) {
        struct s_member *m = &b->m[i];
        const struct s_service *s = m->svc;
        size_t prev_size = 0;
        for (size_t d = 0; d < e->n_domains; d++)
            prev_size += s->obs[d] ? s_round_up(e->domains[d]->obs_size) : 0;
        if (!(m->dm = calloc(nd, sizeof(*m->dm))) || !(m->fresh = calloc(nd, sizeof(*m->fresh))) ||
            (prev_size && !(m->prev = malloc(prev_size))))
            return BSUP_ENOMEM;
        char *prev = m->prev;
        for (size_t d = 0; d < e->n_domains; d++) {
            const void *last = NULL;
            if (s->obs[d]) {
                bsup_unpack(s->obs[d], prev);
                last = prev;
                prev += s_round_up(e->domains[d]->obs_size);
            }
            m->dm[d] = (struct bsup_domain_member){.desired = s->desired,
                                                   .obs = calloc(1, e->domains[d]->obs_size),
                                                   .prev = last,
                                                   .now_s = s_now_s(),
                                                   .settings = e->settings,
                                                   .lookup = s_lookup,
                                                   .lookup_ctx = e,
                                                   .cache = &e->caches[d],
                                                   .engine = m,
                                                   .peers = m->fresh};
            if (!(m->fresh[d] = m->dm[d].obs))
                return BSUP_ENOMEM;
        }
        /* The AWS client is in bsupd's region (the loader refuses another; one stored by an
         * older build is kept): never observed or changed there under its names. */
        const char *region = s->desired->region, *own = e->settings->region;
        if (region && own && strcmp(region, own) != 0)
            s_member_fail(m,
                          "region %s is not bsupd's region (%s): not reconciled; one bsupd "
                          "reconciles one region",
                          region, own);
    }
    return 0;
}

/* Starts a batch: sets its members up a chunk a turn, then runs its first observe step. */
static void on_kick(uv_idle_t *t)
{
    struct s_batch *b = t->data;
    uv_idle_stop(t);
    if (b->n_setup == 0) {
        if (b->n == 0 || b->e->closing) {
            s_batch_finish(b);
            return;
        }
        b->recorded = true;
        b->started_ms = s_now_ms();
    }
    if (s_batch_setup(b)) {
        for (size_t i = 0; i < b->n; i++)
            s_member_fail(&b->m[i], "out of memory starting the cycle");
        s_batch_finish(b);
        return;
    }
    if (b->n_setup < b->n)
        uv_idle_start(&b->turn, on_kick);
    else
        s_batch_next_step(b);
}

/* Starts waiting batches in order while the services observed at once stay within
 * observing_max (one batch always may run); every one when closing. */
static void s_start_waiting(struct bsup_reconcile_engine *e)
{
    for (struct s_batch *b = e->batches; b; b = b->next) {
        if (b->started)
            continue;
        if (!e->closing && e->observing && e->observing + b->n > e->observing_max)
            return;
        b->started = true;
        e->observing += b->n;
        uv_idle_start(&b->turn, on_kick);
    }
}

/* Queues one batch of the given services (their working memory comes when it starts). */
static struct s_batch *s_batch_new(struct bsup_reconcile_engine *e, struct s_service **v, size_t n,
                                   struct s_budget *budget)
{
    struct s_batch *b = calloc(1, sizeof(*b));
    if (!b || !(b->m = calloc(n ? n : 1, sizeof(*b->m)))) {
        free(b);
        return NULL;
    }
    b->e = e;
    b->n = n;
    b->budget = budget;
    budget->refs++;
    for (size_t i = 0; i < n; i++) {
        b->m[i].svc = v[i];
        v[i]->running = true;
        v[i]->requested = false;
    }
    uv_idle_init(e->loop, &b->turn);
    b->turn.data = b;
    e->n_turns++;
    struct s_batch **tail = &e->batches;
    while (*tail)
        tail = &(*tail)->next;
    *tail = b;
    return b;
}

/* A cycle of the given services (n may be 0: one empty batch, so a waiter is answered
 * asynchronously): batches of at most observing_max, which join (may be NULL) waits for.
 * 0 or BSUP_ENOMEM (the batches queued so far run). */
static int s_cycle_new(struct bsup_reconcile_engine *e, struct s_service **v, size_t n,
                       struct s_join *join)
{
    struct s_budget *budget = calloc(1, sizeof(*budget));
    if (!budget)
        return BSUP_ENOMEM;
    budget->left = e->rails.max_mutations_per_cycle;
    int rc = 0;
    size_t at = 0;
    do {
        size_t k = n - at < e->observing_max ? n - at : e->observing_max;
        struct s_batch *b = s_batch_new(e, v + at, k, budget);
        if (!b || (join && s_join_add(b, join))) {
            rc = BSUP_ENOMEM;
            break;
        }
        at += k;
    } while (at < n);
    if (budget->refs == 0)
        free(budget);
    s_start_waiting(e);
    return rc;
}

static void on_tick(uv_timer_t *t)
{
    struct bsup_reconcile_engine *e = t->data;
    if (e->closing)
        return;
    uint64_t now = uv_now(e->loop);
    struct s_service **due = calloc(e->n_services ? e->n_services : 1, sizeof(*due));
    size_t n = 0;
    for (size_t i = 0; due && i < e->n_services; i++) {
        struct s_service *s = e->services[i];
        uint64_t window = (uint64_t)s_interval_ms(e, s) / 10;
        if (window > S_BATCH_WINDOW_MAX_MS)
            window = S_BATCH_WINDOW_MAX_MS;
        if (!s->running && !s->gone && (s->requested || s->next_due_ms <= now + window)) {
            if (!s->requested && s->next_due_ms + (uint64_t)s_interval_ms(e, s) < now)
                e->late_batches++; /* a whole interval late: the loop or AWS is too slow */
            due[n++] = s;
        }
    }
    if (n && s_cycle_new(e, due, n, NULL))
        bsup_log_err("out of memory starting a reconcile cycle");
    free(due);
    s_rearm(e);
}

static void s_rearm(struct bsup_reconcile_engine *e)
{
    if (e->closing)
        return;
    uint64_t now = uv_now(e->loop), next = UINT64_MAX;
    for (size_t i = 0; i < e->n_services; i++) {
        const struct s_service *s = e->services[i];
        if (s->running || s->gone)
            continue;
        uint64_t at = s->requested ? now : s->next_due_ms;
        if (at < next)
            next = at;
    }
    if (next == UINT64_MAX)
        uv_timer_stop(&e->tick);
    else
        uv_timer_start(&e->tick, on_tick, next > now ? next - now : 0, 0);
}

int bsup_reconcile_new(const struct bsup_reconcile_options *o, struct bsup_reconcile_engine **out,
                       struct bsup_diag *diag)
{
    *out = NULL;
    struct bsup_reconcile_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    e->loop = o->loop;
    e->store = o->store;
    e->aws = o->aws;
    e->settings = o->settings;
    e->dry_run = o->dry_run;
    e->once = o->once;
    e->paused = o->paused;
    e->domains = o->domains ? o->domains : bsup_domains;
    e->n_domains = o->domains ? o->n_domains : bsup_n_domains;
    e->on_change = o->on_change;
    e->observing_max = o->observing_max ? o->observing_max : S_OBSERVING_MAX;
    e->turn_members = o->turn_members ? o->turn_members : S_TURN_MEMBERS;
    e->ctx = o->ctx;
    e->healthy = true;
    e->rails = (struct bsup_rails_config){
        .max_mutations_per_cycle = (int)o->settings->max_changes_per_cycle,
        .max_mutations_per_service = (int)o->settings->max_changes_per_service,
        .cooldown_s = o->settings->cooldown_s,
        .fight_threshold = (int)o->settings->fight_threshold,
    };
    bsup_random_init(&e->rng, bsup_random_seed());
    if (e->n_domains > S_DOMAINS_MAX) {
        int rc = bsup_diag_set(diag, BSUP_EINVAL, "%zu domains, at most %d", e->n_domains,
                               S_DOMAINS_MAX);
        free(e);
        return rc;
    }
    for (size_t d = 0; d < e->n_domains; d++) {
        const struct bsup_domain *dom = e->domains[d];
        for (size_t k = 0; k < dom->n_steps && k < S_STEPS_MAX; k++) {
            if (s_step_needs(dom, k) >> k == 0)
                continue;
            int rc = bsup_diag_set(diag, BSUP_EINVAL, "domain %s: step %zu needs a later step",
                                   dom->name, k);
            free(e);
            return rc;
        }
        if (dom->n_steps > S_STEPS_MAX) {
            int rc = bsup_diag_set(diag, BSUP_EINVAL, "domain %s: %zu steps, at most %d", dom->name,
                                   dom->n_steps, S_STEPS_MAX);
            free(e);
            return rc;
        }
    }
    /* A domain that reads others' observations starts once all of their steps have run. */
    for (size_t d = 0; d < e->n_domains; d++) {
        const char *const *after = e->domains[d]->after;
        for (size_t a = 0; after && after[a]; a++) {
            size_t k = 0;
            while (k < d && strcmp(e->domains[k]->name, after[a]) != 0)
                k++;
            if (k == d) {
                int rc =
                    bsup_diag_set(diag, BSUP_EINVAL, "domain %s reads %s, which is not before it",
                                  e->domains[d]->name, after[a]);
                free(e);
                return rc;
            }
            e->reads[d] |= 1u << k;
        }
    }
    e->caches = calloc(e->n_domains ? e->n_domains : 1, sizeof(*e->caches));
    e->pace = calloc(e->n_domains ? e->n_domains : 1, sizeof(*e->pace));
    bool ok = e->caches && e->pace;
    for (size_t d = 0; ok && d < e->n_domains; d++)
        ok = (e->pace[d] = calloc(e->domains[d]->n_steps + 1, sizeof(*e->pace[d]))) != NULL;
    if (!ok) {
        free(e->caches);
        s_pace_free(e);
        free(e);
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    }
    /* What the domains learnt in earlier runs; without it they only ask AWS again. */
    e->caches_read = true;
    for (size_t d = 0; d < e->n_domains; d++) {
        struct bsup_diag cd = {0};
        if (bsup_store_cache_load(e->store, e->domains[d]->name, &e->caches[d], &cd)) {
            bsup_log_warn("%s", cd.message);
            e->caches_read = false;
        }
    }
    uv_timer_init(e->loop, &e->tick);
    e->tick.data = e;
    /* Intents a previous bsupd left without an outcome: never repeated blindly. */
    size_t n = 0;
    struct bsup_diag jd = {0};
    if (bsup_store_journal_recover(e->store, s_now_s(), &n, &jd))
        s_store_failed(e, NULL, &jd);
    else if (n)
        bsup_log_warn("journal: %zu change%s of a previous run ended without an outcome; "
                      "they are re-checked by observation, not repeated",
                      n, n == 1 ? "" : "s");
    *out = e;
    return 0;
}

static struct s_service *s_find(const struct bsup_reconcile_engine *e, const char *name)
{
    struct s_service *s = name ? bsup_strmap_get(&e->by_name, name) : NULL;
    return s && !s->gone ? s : NULL;
}

struct s_sync {
    struct bsup_reconcile_engine *e;
    struct bsup_config_set *loaded;
    uint64_t now;
    struct bsup_diag *diag;
    size_t added;
};

/* The desired state of a stored service (allocated): taken over from the set just loaded when it
 * is there (what the store holds of it, without parsing it back), else read from the row. NULL
 * when the row cannot be read or memory runs out. */
static struct bsup_service *s_sync_desired(struct s_sync *y, const struct bsup_store_service *row)
{
    uintptr_t at = y->loaded ? (uintptr_t)bsup_strmap_get(&y->loaded->by_name, row->service) : 0;
    struct bsup_service *svc = at ? y->loaded->services[at - 1] : NULL;
    if (svc) {
        if (bsup_service_as_stored(svc))
            return NULL;
        y->loaded->services[at - 1] = NULL; /* the set's map keeps pointing at the name: ours */
        return svc;
    }
    if (!(svc = malloc(sizeof(*svc))) || bsup_service_from_json(row->config_json, svc)) {
        free(svc);
        return NULL;
    }
    return svc;
}

/* One stored service into the engine: its desired state replaced, or a new entry. */
static int s_sync_row(void *ctx, const struct bsup_store_service *row)
{
    struct s_sync *y = ctx;
    struct bsup_reconcile_engine *e = y->e;
    struct bsup_service *desired = s_sync_desired(y, row);
    struct s_service *s = bsup_strmap_get(&e->by_name, row->service);
    if (!desired) {
        /* Still declared: one the engine has keeps what it had (gone, the sweep would delete
         * its alarms and drill instance). */
        bsup_log_err("service=%s: stored desired state unreadable; %s", row->service,
                     s ? "its last one kept" : "skipped");
        if (s)
            s->gone = false;
        return 0;
    }
    if (s) {
        /* In place: a batch running it holds this address. */
        s->gone = false;
        bsup_service_cleanup(s->desired);
        *s->desired = *desired;
        free(desired);
        s->generation = row->generation;
        return 0;
    }
    bool room = BSUP_ARRAY_RESERVE(e->services, e->cap_services, e->n_services + 1) == 0;
    s = calloc(1, sizeof(*s));
    if (!room || !s || !(s->name = strdup(row->service)) ||
        !(s->obs = calloc(e->n_domains ? e->n_domains : 1, sizeof(*s->obs))) ||
        bsup_strmap_put(&e->by_name, s->name, s)) {
        if (s) {
            free(s->obs);
            free(s->name);
        }
        free(s);
        bsup_service_cleanup(desired);
        free(desired);
        return bsup_diag_set(y->diag, BSUP_ENOMEM, "out of memory");
    }
    s->version = ++e->versions;
    e->services[e->n_services++] = s;
    s->desired = desired;
    s->generation = row->generation;
    s->state = BSUP_STATE_NEVER;
    y->added++;
    /* First cycles spread by name over one interval, so N services never fire at once
     * (bsupctl reconcile runs one now). */
    s->next_due_ms = y->now + (uint64_t)bsup_schedule_first_delay_ms(s->name, s_interval_ms(e, s));
    return 0;
}

/* A new service's state and error as the last cycle recorded them (an earlier run's, before a
 * restart): shown until this run's first cycle of it. */
static int s_sync_recorded(void *ctx, const char *service, int64_t at_s, const char *state,
                           const char *error)
{
    struct bsup_reconcile_engine *e = ctx;
    struct s_service *s = s_find(e, service);
    int st = bsup_state_from_name(state);
    if (s && st > BSUP_STATE_NEVER && s->state == BSUP_STATE_NEVER) {
        s->state = (enum bsup_state)st;
        s->last_cycle_at_s = at_s;
        s->recorded = true;
        free(s->last_error);
        s->last_error = error ? strdup(error) : NULL; /* out of memory: shown without it */
    }
    return 0;
}

int bsup_reconcile_sync(struct bsup_reconcile_engine *e, struct bsup_config_set *loaded,
                        struct bsup_diag *diag)
{
    /* A read that fails half-way removes nothing: the services not read yet are still
     * declared (gone, the sweep would delete their alarms and drill instances). */
    size_t n_before = e->n_services;
    bool *was_gone = malloc((n_before ? n_before : 1) * sizeof(*was_gone));
    if (!was_gone)
        return bsup_diag_set(diag, BSUP_ENOMEM, "reading the desired state: out of memory");
    for (size_t i = 0; i < n_before; i++) {
        was_gone[i] = e->services[i]->gone;
        e->services[i]->gone = true;
    }
    struct s_sync y = {.e = e, .loaded = loaded, .now = uv_now(e->loop), .diag = diag};
    int rc = bsup_store_services_each(e->store, true, s_sync_row, &y, diag);
    if (rc && !diag->code)
        bsup_diag_set(diag, rc, "reading the desired state: %s", bsup_err_name(rc));
    for (size_t i = 0; rc && i < n_before; i++)
        e->services[i]->gone &= was_gone[i]; /* a row read meanwhile said it is declared */
    free(was_gone);
    struct bsup_diag why = {0};
    if (rc == 0 && y.added && bsup_store_observations_each(e->store, s_sync_recorded, e, &why))
        bsup_log_warn("the last recorded states are not shown until the first cycle: %s",
                      why.message);
    s_drop_gone(e);
    s_rearm(e);
    return rc;
}

static int s_join_add(struct s_batch *b, struct s_join *j)
{
    for (size_t q = 0; q < b->n_joins; q++)
        if (b->joins[q] == j)
            return 0;
    struct s_join **v = realloc(b->joins, (b->n_joins + 1) * sizeof(*v));
    if (!v)
        return BSUP_ENOMEM;
    b->joins = v;
    b->joins[b->n_joins++] = j;
    j->pending++;
    return 0;
}

int bsup_reconcile_now(struct bsup_reconcile_engine *e, const char *service,
                       bsup_reconcile_done_fn done, void *ctx)
{
    if (e->closing)
        return BSUP_ESHUTDOWN;
    struct s_service **v = calloc(e->n_services ? e->n_services : 1, sizeof(*v));
    struct s_join *join = done ? calloc(1, sizeof(*join)) : NULL;
    if (!v || (done && !join)) {
        free(v);
        free(join);
        return BSUP_ENOMEM;
    }
    if (join)
        *join = (struct s_join){.fn = done, .ctx = ctx};
    size_t n = 0;
    for (size_t i = 0; i < e->n_services; i++) {
        struct s_service *s = e->services[i];
        if (s->gone || (service && strcmp(s->name, service) != 0))
            continue;
        if (!s->running) {
            v[n++] = s;
            continue;
        }
        /* Never overlaps itself: it runs again right after; a waiter waits for the cycle in
         * progress (which ends after this request). */
        s->requested = true;
        for (struct s_batch *b = e->batches; join && b; b = b->next)
            for (size_t k = 0; k < b->n; k++)
                if (b->m[k].svc == s && s_join_add(b, join) == 0)
                    break;
    }
    /* A cycle for the idle ones; an empty one too when a waiter has nothing else to wait
     * for, so it is answered asynchronously. */
    int rc = n || (join && join->pending == 0) ? s_cycle_new(e, v, n, join) : 0;
    free(v);
    if (join && join->pending == 0) {
        free(join);
        return BSUP_ENOMEM;
    }
    return join ? 0 : rc;
}

bool bsup_reconcile_service_status(const struct bsup_reconcile_engine *e, const char *service,
                                   struct bsup_reconcile_status *out)
{
    const struct s_service *s = s_find(e, service);
    if (!s)
        return false;
    *out = (struct bsup_reconcile_status){
        .state = s->state,
        .observed = s->observed,
        .running = s->running,
        .last_cycle_at_s = s->last_cycle_at_s,
        .calls_last_cycle = s->calls_last_cycle,
        .changes_last_cycle = s->mutations_last_cycle,
        .failures = s->failures,
        .error = s->last_error,
        .version = s->version,
        .recorded = s->recorded,
    };
    return true;
}

size_t bsup_reconcile_n_domains(const struct bsup_reconcile_engine *e)
{
    return e->n_domains;
}

const struct bsup_domain *bsup_reconcile_domain(const struct bsup_reconcile_engine *e, size_t i)
{
    return i < e->n_domains ? e->domains[i] : NULL;
}

bool bsup_reconcile_observation(const struct bsup_reconcile_engine *e, const char *service,
                                size_t i, void *out)
{
    const struct s_service *s = s_find(e, service);
    if (!s || i >= e->n_domains || !s->obs[i])
        return false;
    bsup_unpack(s->obs[i], out);
    return true;
}

int bsup_reconcile_plan(const struct bsup_reconcile_engine *e, const char *service,
                        struct bsup_plan *out)
{
    const struct s_service *s = s_find(e, service);
    bsup_plan_init(out);
    return !s ? BSUP_ENOTFOUND : bsup_plan_unpack(s->plan, out);
}

bool bsup_reconcile_cache_value(const struct bsup_reconcile_engine *e,
                                const struct bsup_domain *dom, const char *key, const char **out)
{
    for (size_t d = 0; e->caches_read && d < e->n_domains; d++)
        if (e->domains[d] == dom) {
            *out = bsup_domain_cache_get(&e->caches[d], key);
            return true;
        }
    return false;
}

const struct bsup_service *bsup_reconcile_desired(const struct bsup_reconcile_engine *e,
                                                  const char *service)
{
    const struct s_service *s = s_find(e, service);
    return s ? s->desired : NULL;
}

void bsup_reconcile_figures(const struct bsup_reconcile_engine *e,
                            struct bsup_reconcile_figures *out)
{
    *out = (struct bsup_reconcile_figures){
        .cycles = e->cycles,
        .services_last_cycle = e->services_last_batch,
        .observing_calls_last_cycle = e->observing_calls_last_batch,
        .observing_calls_total = e->observing_calls_total,
        .late_cycles = e->late_batches,
        .last_cycle_at_s = e->last_batch_at_s,
        .healthy = e->healthy,
        .store_errors = e->store_errors,
        .store_error = e->store_errors ? e->store_error.message : NULL,
    };
    for (size_t i = 0; i < e->n_services; i++) {
        if (e->services[i]->gone) /* removed by a reload, dropped once its cycle ends */
            continue;
        unsigned f = bsup_state_flags(e->services[i]->state);
        bool error = e->services[i]->state == BSUP_STATE_ERROR;
        out->n_drift += (f & BSUP_STATE_F_DRIFT) != 0;
        out->n_degraded += (f & BSUP_STATE_F_DEGRADED) != 0 && !error;
        out->n_error += error;
        out->attention |= (f & BSUP_STATE_F_ATTENTION) != 0;
        out->n_recorded += e->services[i]->recorded;
    }
}

void bsup_reconcile_close(struct bsup_reconcile_engine *e, bsup_close_fn cb, void *user)
{
    e->closing = true;
    e->close_cb = cb;
    e->close_user = user;
    uv_timer_stop(&e->tick);
    uv_close((uv_handle_t *)&e->tick, on_tick_closed);
    s_start_waiting(e); /* they end at once */
    /* Batches end as the AWS client cancels their calls; services are freed after them. */
    for (size_t i = 0; i < e->n_services; i++)
        e->services[i]->gone = true;
}
