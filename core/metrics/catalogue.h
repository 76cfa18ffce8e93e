/* The metrics bsupd publishes to CloudWatch: the one list. The enum, the names the
 * domains' observation fields name (struct bsup_field.metric), the units sent with each datum
 * and docs/metrics.md (checked by tests/unit/test_docs.c) all derive from this table.
 * Pure data and lookups: no I/O. */
#ifndef BSUP_CORE_METRICS_CATALOGUE_H
#define BSUP_CORE_METRICS_CATALOGUE_H

#include <stdbool.h>

/* Scope of a metric: per service (dimensions Service and Environment) or daemon-wide (no
 * dimension). */
enum bsup_metric_scope { BSUP_METRIC_SERVICE, BSUP_METRIC_DAEMON };

/* clang-format off */
/* X(enum suffix, CloudWatch MetricName, CloudWatch Unit, scope, who emits it, emitted today,
 *   doc line). "who" is a domain name, "engine" (the reconcile driver, per service per cycle)
 * or "daemon" (the publisher, daemon-wide, per publish interval). A metric of a domain that is
 * not in this build is listed with emitted = false: the catalogue says so, nothing is sent. */
#define BSUP_METRIC_MAP(X)                                                                         \
    X(IN_SERVICE_INSTANCES, "InServiceInstances", "Count", BSUP_METRIC_SERVICE, "scaling", true,   \
      "instances of the Auto Scaling group in service")                                            \
    X(DESIRED_CAPACITY, "DesiredCapacity", "Count", BSUP_METRIC_SERVICE, "scaling", true,          \
      "the Auto Scaling group's desired capacity")                                                 \
    X(HEALTHY_HOST_COUNT, "HealthyHostCount", "Count", BSUP_METRIC_SERVICE, "health", true,        \
      "healthy targets of the service's target group at its last reading (none before the "        \
      "first)")                                                                                    \
    X(UNHEALTHY_HOST_COUNT, "UnhealthyHostCount", "Count", BSUP_METRIC_SERVICE, "health", true,    \
      "unhealthy targets of the service's target group at its last reading (none before the "      \
      "first)")                                                                                    \
    X(DRIFT_COUNT, "DriftCount", "Count", BSUP_METRIC_SERVICE, "engine", true,                     \
      "fields that differ from the declared state after the cycle's plan")                         \
    X(ACTIONS_APPLIED, "ActionsApplied", "Count", BSUP_METRIC_SERVICE, "engine", true,             \
      "mutating calls AWS accepted in the cycle")                                                  \
    X(ACTIONS_FAILED, "ActionsFailed", "Count", BSUP_METRIC_SERVICE, "engine", true,               \
      "mutating calls that failed in the cycle")                                                   \
    X(RECONCILE_ERRORS, "ReconcileErrors", "Count", BSUP_METRIC_SERVICE, "engine", true,           \
      "1 when the cycle ended in state error, else 0")                                             \
    X(RECONCILE_DURATION, "ReconcileDuration", "Milliseconds", BSUP_METRIC_SERVICE, "engine",      \
      true, "wall time of the service's cycle, observe to record")                                 \
    X(BACKUP_AGE_SECONDS, "BackupAgeSeconds", "Seconds", BSUP_METRIC_SERVICE, "backup", true,      \
      "age of the newest completed database backup")                                               \
    X(CACHE_BACKUP_AGE_SECONDS, "CacheBackupAgeSeconds", "Seconds", BSUP_METRIC_SERVICE, "backup", \
      true, "age of the cache's newest available snapshot")                                        \
    X(RESTORE_DRILL_SUCCESS, "RestoreDrillSuccess", "Count", BSUP_METRIC_SERVICE, "backup", true,  \
      "1 when the last restore drill that ended succeeded, 0 when it failed (each cycle while "     \
      "restore_test is on; none before a drill ended, nor after an interrupted one)")              \
    X(CYCLE_DURATION, "CycleDuration", "Milliseconds", BSUP_METRIC_DAEMON, "engine", true,         \
      "wall time of one reconcile batch")                                                          \
    X(AWS_REQUESTS, "AwsRequests", "Count", BSUP_METRIC_DAEMON, "daemon", true,                    \
      "HTTP requests to AWS since the last publish interval, retries included")                    \
    X(AWS_THROTTLES, "AwsThrottles", "Count", BSUP_METRIC_DAEMON, "daemon", true,                  \
      "throttled attempts since the last publish interval")                                        \
    X(AWS_ERRORS, "AwsErrors", "Count", BSUP_METRIC_DAEMON, "daemon", true,                        \
      "AWS calls that failed since the last publish interval")                                     \
    X(OUTBOX_DEPTH, "OutboxDepth", "Count", BSUP_METRIC_DAEMON, "daemon", true,                    \
      "datums waiting in the metric outbox")                                                       \
    X(OUTBOX_DROPPED, "OutboxDropped", "Count", BSUP_METRIC_DAEMON, "daemon", true,                \
      "datums dropped from the outbox since the last publish interval (too old, ahead of the clock, or too many)")
/* clang-format on */

enum bsup_metric {
#define BSUP_S_METRIC_ENUM(e, ...) BSUP_METRIC_##e,
    BSUP_METRIC_MAP(BSUP_S_METRIC_ENUM)
#undef BSUP_S_METRIC_ENUM
        BSUP_METRIC_COUNT
};

struct bsup_metric_info {
    const char *name; /* CloudWatch MetricName */
    const char *unit; /* CloudWatch StandardUnit */
    enum bsup_metric_scope scope;
    const char *emitter; /* domain name, "engine" or "daemon" */
    bool emitted;        /* false: declared for a domain not in this build */
    const char *doc;
};

extern const struct bsup_metric_info bsup_metrics[BSUP_METRIC_COUNT];

/* The metric called name (CloudWatch MetricName), or -1. */
int bsup_metric_find(const char *name);

#endif
