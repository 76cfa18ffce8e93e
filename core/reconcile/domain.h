/* A reconcile domain: one kind of AWS resource bsupd keeps as declared (scaling; health,
 * backup and alarms next). A domain is one table entry of pure functions: which AWS
 * operations it observes with and how they batch, how to build an observe request for a
 * batch, how to read the answer into its typed observation of each service, how to plan from
 * desired + observed, and how to turn a planned action into the exact request to send. The
 * engine (daemon/reconcile.c) only schedules, batches, spends budgets, journals, calls and
 * records, for any domain; the safety rails (rails.h) gate every mutating action with the
 * resource's memory. Adding a domain is a new entry in bsup_domains, not an engine change. */
#ifndef BSUP_CORE_RECONCILE_DOMAIN_H
#define BSUP_CORE_RECONCILE_DOMAIN_H

#include "core/aws/query.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/config/config.h"
#include "core/reconcile/cache.h"
#include "core/reconcile/plan.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BSUP_DOMAIN_KEY_MAX 300

/* One service as a domain's observe step sees it. */
struct bsup_domain_member {
    const struct bsup_service *desired;
    void *obs;        /* the domain's observation of this service (obs_size bytes), fresh */
    const void *prev; /* its last complete observation, or NULL: what a paced step did not
                       * re-read this time is carried forward from here */
    int64_t now_s;    /* wall clock */
    /* The same service's fresh observations by every domain (as listed to the engine): a
     * domain that names another in `after` may read its results here. */
    void *const *peers;
    struct bsup_domain_cache *cache;      /* what the domain learnt once and keeps (saved) */
    const struct bsup_settings *settings; /* the daemon's (metrics namespace, default topic) */
    /* Another service's desired state by name, or NULL when it is not declared (any more): for
     * a domain whose cache spans services (the restore drills' fleet-wide limit). */
    const struct bsup_service *(*lookup)(const void *ctx, const char *service);
    const void *lookup_ctx;
    void *engine; /* the engine's own; domains leave it alone */
    bool failed;
    char error[512];
};

/* Fails a member of a step with a message (the service's cycle is then an error). */
void bsup_domain_member_fail(struct bsup_domain_member *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define BSUP_OBSERVE_ALL_PAGES 0x1u /* follow NextToken/Marker to the end */
#define BSUP_OBSERVE_OPTIONAL 0x2u  /* a failure is logged; it does not fail the service */
#define BSUP_OBSERVE_NEEDS 0x4u     /* the step needs only the earlier steps in `needs` */
/* A failed call is not retried one key per call: its answer covers every key or none (an
 * error there is about the call, e.g. a permission, never about one resource). */
#define BSUP_OBSERVE_WHOLE 0x8u

/* One observing call of a domain. A step begins once every earlier step of its domain has
 * all its answers (step k+1 may use what step k read), or, with BSUP_OBSERVE_NEEDS, once
 * those in `needs` have: a step that reads nothing of the others goes out with the first.
 * Within a step, the engine puts up to batch_max keys in one call. A failed call covering
 * several keys is retried one key per call, so one bad resource holds back only itself. */
struct bsup_observe_step {
    const char *service; /* our AWS service id: "autoscaling" */
    const char *action;  /* "DescribeAutoScalingGroups"; its API family sets the budget */
    size_t batch_max;    /* keys one call can cover (1: one call per key) */
    unsigned flags;      /* BSUP_OBSERVE_* */
    /* With BSUP_OBSERVE_NEEDS: the earlier steps (bit k: step k) whose answers this one's
     * prepare and build read, through the members' observations; 0: none. */
    unsigned needs;
    /* 0: every key that needs it, every cycle. Else the step is paced: per batch, at most
     * max(1, budget_share x its API family's configured rate x interval) keys, the highest
     * priorities first (what must be read per resource, e.g. target health, within budget). */
    double budget_share;
    /* Whether m needs this step — 0: no; > 0: yes, with that priority — and under which key:
     * members with equal keys share one slot of a call (e.g. one launch template version read
     * for every group using it). It may fill m's observation from the cache or from prev
     * instead and return 0. */
    int (*prepare)(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX]);
    /* The request for the members of one call (every member of each of its keys). */
    int (*build)(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out);
    /* For a JSON-protocol service (Secrets Manager, SSM), instead of build: the request body
     * (*out is new; the engine releases it). */
    int (*build_json)(struct bsup_domain_member *const *m, size_t n, json_t **out);
    /* AWS error codes (NULL-terminated; NULL: none) that answer "no such resource" for a call
     * covering one key: its members are parsed with an empty answer instead of failing (a
     * call over several keys that fails is split first, as for any error). */
    const char *const *absent_codes;
    /* Reads the answer (an array of parsed pages) into the members' observations; fails
     * members it cannot account for. A non-zero return fails every member of the call. */
    int (*parse)(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                 struct bsup_diag *diag);
};

/* Observation fields shown by status and kept with the last observation. */
enum bsup_field_type { BSUP_FIELD_BOOL, BSUP_FIELD_INT64, BSUP_FIELD_STRING };

struct bsup_field {
    const char *name; /* JSON name */
    enum bsup_field_type type;
    size_t offset; /* in the observation; STRING: a char array */
    /* INT64 or BOOL: the catalogue metric it feeds (core/metrics/catalogue.h, CloudWatch
     * MetricName), or NULL. The driver writes it as a datum of the service each cycle the
     * domain observed the resource; a domain only tags its fields. */
    const char *metric;
};

/* An event of its own for a finding or degraded line of a field (a row of a domain's events
 * table): recorded when the line appears (instead of finding.appeared) and when it clears
 * (instead of finding.cleared; NULL: none for a degraded line). An event kind that is an alert
 * (core/metrics/alerts.h) queues it. */
struct bsup_domain_event {
    enum bsup_action_kind kind; /* BSUP_ACTION_FINDING or BSUP_ACTION_DEGRADED */
    const char *field;          /* NULL ends the table */
    const char *appeared;
    const char *cleared;
};

struct bsup_domain {
    const char *name;     /* "scaling": the key of its observation in status */
    const char *resource; /* what it keeps, in words: "Auto Scaling group" */
    size_t obs_size;
    size_t found_offset; /* offset of the observation's bool "the resource exists" */
    const struct bsup_field *fields;
    size_t n_fields;
    const struct bsup_observe_step *steps;
    size_t n_steps;
    /* The domains whose observations this one reads (through peers), NULL-terminated: its
     * steps start once theirs have all run. NULL: at once. */
    const char *const *after;
    /* NULL, or completes an observation once every domain's steps have run, from the peers'
     * (a domain whose calls need nothing of theirs, only its plan does, observes from the
     * start instead of waiting with `after`). Not called for a failed member. */
    void (*settle)(struct bsup_domain_member *m);
    /* Appends the domain's actions for one observed service. 0 or BSUP_ENOMEM. */
    int (*plan)(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan);
    /* The exact request for a mutating action: out_action gets the AWS action name (static),
     * out the parameters. The journal records and the call sends this one value. */
    int (*request)(const struct bsup_service *desired, const void *obs, const struct bsup_action *a,
                   const char **out_action, struct bsup_aws_params *out);
    const char *mutate_service; /* AWS service of the mutating actions: "autoscaling" */
    /* AWS accepted action: the observation shows its target until the next cycle. */
    void (*applied)(void *obs, const struct bsup_action *a);
    /* NULL, or the domain keeps bsupd's own resources (its alarms), not the service's: the
     * change caps per cycle and per service do not apply to its actions. They are paced
     * instead by the configured rate of this operation's API family (at most one interval's
     * worth per interval, across batches; the rest is held as "paced" until the next cycle).
     * The mode, the cooldown and fight detection apply as to any change. */
    const char *owned_pace_action;
    /* NULL, or events of its own for some fields' findings and degraded lines. */
    const struct bsup_domain_event *events;
    /* NULL, or whether obs has not judged yet a finding or degraded line of this domain about
     * (resource, field): the read the line needs has not come (paced, failed, or none since
     * bsupd started). The engine then keeps the line as last planned (or, in a new process, as
     * last recorded) instead of taking its absence from the plan for cleared. */
    bool (*unjudged)(const struct bsup_service *desired, const void *obs, const char *resource,
                     const char *field);
    /* NULL, or whether the domain takes AWS refusing action a for good (an error no retry can
     * mend: not throttling, a 5xx or no answer; code and message are AWS's) as what it
     * observed: it records the outcome in m (its observation and cache) and the engine plans
     * the lines it now sees instead of failing the cycle (a restore drill that could not
     * start is a failed drill, not an error retried each cycle). */
    bool (*refused)(struct bsup_domain_member *m, const struct bsup_action *a, const char *code,
                    const char *message);
};

/* The domains bsupd reconciles, in the order their actions are planned. */
extern const struct bsup_domain *const bsup_domains[];
extern const size_t bsup_n_domains;

/* The fresh observation of domain d of m's service (one of bsup_domains, which lists the
 * domains as the engine runs them: peers are in that order), or NULL. */
const void *bsup_domain_peer(const struct bsup_domain_member *m, const struct bsup_domain *d);
/* An observation as JSON text appended to b: {"found":false}, or every field of the domain
 * (strings as bsup_buf_json_string writes them). b's sticky error says if it failed. */
void bsup_domain_obs_write(struct bsup_buf *b, const struct bsup_domain *d, const void *obs);
/* Whether the observation says the resource exists. */
bool bsup_domain_obs_found(const struct bsup_domain *d, const void *obs);
/* The parameters as a JSON object in request order (the journal's record of a request). */
json_t *bsup_domain_params_json(const struct bsup_aws_params *params);

#endif
