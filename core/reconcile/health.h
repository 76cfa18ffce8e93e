/* Load-balancer health checking, as two domains over one module:
 *
 * - "health": the target group's health-check settings as the drop-in declares them
 *   (batched DescribeTargetGroups, corrected with ModifyTargetGroup); the health of its
 *   targets (DescribeTargetHealth, one group per call, a paced step: every cycle for a service
 *   that looks wrong, else every health_check.sweep, within its share of the ELBv2 budget),
 *   counted per state, and the service degraded below min_healthy; each target that stops
 *   serving is a finding (events when it appears and clears); and the load balancer's posture
 *   (TLS policy, HTTP only redirecting, internal unless public, access logs, deletion
 *   protection in prod), read hourly and reported as findings, never changed.
 * - "replacement": instances the load balancer keeps finding unhealthy are marked Unhealthy
 *   (SetInstanceHealth) so the Auto Scaling group replaces them — damped: after
 *   unhealthy_cycles fresh observations in a row, each at least the target group's
 *   health-check interval after the last one counted, at most max_replace_percent of the group at
 *   once, never while a replacement is in progress, never in an outage (every target
 *   unhealthy). It reads the health and scaling observations of the same cycle; what it must
 *   remember across restarts (streaks, markings) is in its domain cache.
 *
 * A second domain rather than a second mutating service in one: a domain mutates one AWS
 * service (ELBv2 here, Auto Scaling there), and `after` + peers is how one domain reads
 * another's observation. Everything here is pure; the plans and the damping are table-tested
 * (tests/unit/test_health.c). */
#ifndef BSUP_CORE_RECONCILE_HEALTH_H
#define BSUP_CORE_RECONCILE_HEALTH_H

#include "core/config/config.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"
#include "core/reconcile/scaling.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Target states as ELBv2 names them, counted per service. "unhealthy.draining" counts as
 * draining; a state this table does not know counts as unavailable. X(enum suffix, name) */
#define BSUP_TARGET_STATE_MAP(X)                                                                   \
    X(HEALTHY, "healthy")                                                                          \
    X(UNHEALTHY, "unhealthy")                                                                      \
    X(INITIAL, "initial")                                                                          \
    X(DRAINING, "draining")                                                                        \
    X(UNUSED, "unused")                                                                            \
    X(UNAVAILABLE, "unavailable")

enum bsup_target_state {
#define X(e, name) BSUP_TARGET_##e,
    BSUP_TARGET_STATE_MAP(X)
#undef X
        BSUP_TARGET_STATE_COUNT
};

const char *bsup_target_state_name(int state);
/* The state ELBv2 calls name (see above for the two special cases). */
enum bsup_target_state bsup_target_state_from_name(const char *name);

#define BSUP_HEALTH_MAX_TRACKED 32       /* targets not healthy, kept by id, per service */
#define BSUP_HEALTH_MAX_LISTENERS 8      /* listeners of the load balancer that are looked at */
#define BSUP_HEALTH_POSTURE_EVERY_S 3600 /* the load balancer's posture is re-read this often */
/* A marked instance still in the group after grace_period + this is taken as not replaced
 * (AWS ignores a marking inside the grace period): it no longer blocks, and may be marked
 * again. */
#define BSUP_HEALTH_MARK_TTL_S 600
/* Readings of a target group whose health-check interval is unknown count this far apart
 * (ELBv2's default interval). */
#define BSUP_HEALTH_ELB_INTERVAL_S 30

struct bsup_health_target {
    char id[48]; /* instance id, or IP address for ip targets */
    int state;   /* enum bsup_target_state */
    char reason[40];
};

enum bsup_tls { BSUP_TLS_UNKNOWN, BSUP_TLS_OK, BSUP_TLS_WEAK };

struct bsup_health_listener {
    int64_t port;
    char protocol[12];
    char ssl_policy[72];
    int tls;         /* enum bsup_tls: from the policy's protocols, once known */
    char oldest[12]; /* the policy's oldest protocol: "TLSv1", "TLSv1.2" */
    char action[24]; /* the default action that serves (the last by Order): "forward", ... */
    bool to_https;   /* ... a redirect to HTTPS */
};

struct bsup_health_observed {
    bool found; /* the target group exists */
    char name[64];
    char arn[256];
    /* Its health-check settings as AWS has them. */
    char path[1028];
    char port[16];
    char protocol[12];
    bool enabled;
    int64_t interval_s;
    int64_t timeout_s;
    int64_t healthy_threshold;
    int64_t unhealthy_threshold;
    char matcher[72];
    char vpc_id[32]; /* the VPC it is in (vpc_id in the drop-in: another is reported) */
    /* Its targets at the last reading (carried forward between readings). */
    int64_t health_read_at; /* 0: never read */
    bool health_fresh;      /* read in this cycle */
    /* The reading is the load balancer's own HealthyHostCount and UnHealthyHostCount from
     * CloudWatch (every target healthy, as many as the group has instances), taken for a
     * group with no reading yet instead of DescribeTargetHealth: counts of healthy targets
     * only, no target ids, read as of the start of the three minutes the counts cover. */
    bool health_from_metrics;
    int64_t targets;
    int64_t counts[BSUP_TARGET_STATE_COUNT];
    /* HealthyHostCount / UnhealthyHostCount as reported: the counts of the last reading, -1
     * before the first (no datum then: a 0 would claim targets that were never read). */
    int64_t healthy_hosts;
    int64_t unhealthy_hosts;
    char reasons[200]; /* reason codes of the targets not healthy: "Target.Timeout=2,..." */
    struct bsup_health_target tracked[BSUP_HEALTH_MAX_TRACKED]; /* not healthy, by id */
    int64_t n_tracked;
    /* The load balancer it serves (the one named resources.load_balancer or
     * <service_name>-<environment> among the group's, else its first); each part carried
     * forward between hourly readings. */
    char lb_arn[256];
    char lb_name[64];
    int64_t lb_read_at;
    char scheme[20];
    int64_t listeners_read_at;
    struct bsup_health_listener listeners[BSUP_HEALTH_MAX_LISTENERS];
    int64_t n_listeners;
    int64_t attributes_read_at;
    bool access_logs;
    bool deletion_protection;
    int64_t findings; /* posture findings */
};

/* What the replacement remembers of one instance. */
struct bsup_health_memory {
    char id[24];
    int64_t streak;     /* fresh unhealthy observations in a row, counted at most one per
                         * HealthCheckIntervalSeconds of the target group */
    int64_t marked_at;  /* when bsupd marked it; 0: never (or forgotten) */
    int64_t counted_at; /* when the streak last grew; 0: long ago */
};

struct bsup_health_history {
    struct bsup_health_memory v[BSUP_HEALTH_MAX_TRACKED];
    size_t n;
};

/* "id:streak[@marked_at][/counted_at],..." both ways (the cache keeps this text). Parsing skips
 * what it cannot read: a damaged entry only restarts that instance's count. */
void bsup_health_history_parse(const char *text, struct bsup_health_history *out);
void bsup_health_history_format(const struct bsup_health_history *h, char *buf, size_t len);

struct bsup_replace_observed {
    bool found;   /* the group and the target group were both observed */
    bool enabled; /* health_check.replace_unhealthy */
    char group[256];
    int64_t observed_at;
    int64_t group_size;
    int64_t cap;         /* most instances marked at once */
    int64_t counting;    /* instances whose unhealthy streak is counting */
    int64_t in_progress; /* pending, terminating, unhealthy in the group or marked by bsupd */
    int64_t marked;      /* marked by bsupd and still in the group */
    char waiting[200];   /* why nothing is marked now; "" */
    struct bsup_health_history history;
    char remembered[1600]; /* history as text, for status */
    struct {
        char id[24];
        int64_t streak;
        char reason[40];
    } candidates[BSUP_HEALTH_MAX_TRACKED];
    int64_t n_candidates;
};

/* The damped replacement: the new history and the instances to mark, from this cycle's
 * health and scaling observations and what was remembered. Pure. */
struct bsup_health_damp_in {
    const struct bsup_health_check *cfg;
    int64_t now_s;
    const struct bsup_health_observed *health;
    const struct bsup_asg_observed *group;
    const struct bsup_health_history *history;
};
void bsup_health_damp(const struct bsup_health_damp_in *in, struct bsup_replace_observed *out);

/* The health domain's plan: missing target group, settings drift (one ModifyTargetGroup),
 * degraded below min_healthy (or in an outage), a finding per target not serving and per
 * posture rule broken. 0 or BSUP_ENOMEM. */
int bsup_health_plan(const struct bsup_service *svc, const struct bsup_health_observed *obs,
                     struct bsup_plan *plan);
/* The posture rules obs breaks, as changes (field, observed, desired, reason); at most max. */
size_t bsup_health_posture(const struct bsup_service *svc, const struct bsup_health_observed *obs,
                           struct bsup_change *out, size_t max);
/* The replacement domain's plan: one SetInstanceHealth update per instance to mark. */
int bsup_replace_plan(const struct bsup_service *svc, const struct bsup_replace_observed *obs,
                      struct bsup_plan *plan);

extern const struct bsup_domain bsup_health_domain;
extern const struct bsup_domain bsup_replace_domain;

#endif
