/* The alarms domain: bsupd's own CloudWatch alarms on the metrics it publishes, per service,
 * named bsup-<service>-<environment>-<what> and tagged bsup:owner=<owner> (bsupd.yaml's):
 *
 * - healthy:    HealthyHostCount below health_check.min_healthy (a service with a target group
 *               and min_healthy > 0);
 * - backup-age: BackupAgeSeconds above backup.max_age (a service whose RDS instance exists);
 * - errors:     ReconcileErrors in metrics.error_periods periods in a row (every service).
 *
 * Each goes to the service's alerts.sns_topic_arn, else bsupd.yaml's (alarm and OK actions;
 * none when neither is set). The period is the service's interval rounded up to whole minutes.
 * Observed with DescribeAlarms by name (33 services, 99 names, per call); created or updated
 * with PutMetricAlarm only where a field differs, and deleted (DeleteAlarms) when the service
 * no longer wants one. Alarms are bsupd's own resources: the change caps do not apply, the
 * PutMetricAlarm budget paces them (struct bsup_domain's owned_pace_action); observe mode
 * reports them like any change. AWS refusing a put or delete for good is a finding of the alarm
 * (the refused hook), kept in the cache and sent again after BSUP_ALARM_REFUSED_RETRY_S or when
 * what is wanted changes; never the service's error. Alarms of services removed from the
 * configuration are swept by daemon/sweep.c with the name parser below. docs/metrics.md says it in
 * full. */
#ifndef BSUP_CORE_RECONCILE_ALARMS_H
#define BSUP_CORE_RECONCILE_ALARMS_H

#include "core/config/config.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(enum suffix, the <what> of the name) */
#define BSUP_ALARM_MAP(X)                                                                          \
    X(HEALTHY, "healthy")                                                                          \
    X(BACKUP_AGE, "backup-age")                                                                    \
    X(ERRORS, "errors")

enum bsup_alarm_kind {
#define X(e, what) BSUP_ALARM_##e,
    BSUP_ALARM_MAP(X)
#undef X
        BSUP_ALARM_COUNT
};

#define BSUP_ALARM_PREFIX "bsup-"
#define BSUP_ALARM_NAME_MAX 256 /* CloudWatch: 255 characters */
#define BSUP_ALARM_TOPIC_MAX 320

/* An alarm's settings, as bsupd wants them or as DescribeAlarms shows them. */
struct bsup_alarm_spec {
    bool present; /* wanted / exists */
    char namespace_[256];
    char metric[32];
    char statistic[16];
    char comparison[40];
    double threshold;
    int64_t period_s;
    int64_t evaluation_periods;
    char treat_missing[16];
    bool actions_enabled;
    char alarm_actions[BSUP_ALARM_TOPIC_MAX]; /* ARNs joined by ","; "" none */
    char ok_actions[BSUP_ALARM_TOPIC_MAX];
    char dimensions[200]; /* "Environment=prod,Service=api", sorted by name */
};

struct bsup_alarms_observed {
    /* Read this cycle: metrics.enabled and metrics.alarms, and DescribeAlarms answered (a
     * failed read is the step's optional failure; nothing is planned then). */
    bool found;
    struct bsup_alarm_spec want[BSUP_ALARM_COUNT];
    struct bsup_alarm_spec have[BSUP_ALARM_COUNT];
    int64_t wanted; /* for status */
    int64_t in_sync;
    /* Per alarm: AWS's standing refusal of the change it wants ("AccessDenied: message"), ""
     * none; kept in the domain's cache, so it outlives a restart. It stands while the alarm is
     * not as wanted and what is wanted is what AWS refused; the change is sent again
     * (retry) once BSUP_ALARM_REFUSED_RETRY_S have passed since. */
    char refused[BSUP_ALARM_COUNT][128];
    bool retry[BSUP_ALARM_COUNT];
    int64_t n_refused;          /* for status */
    bool kept;                  /* metrics.enabled and metrics.alarms: bsupd keeps the alarms */
    char owner[BSUP_OWNER_MAX]; /* bsupd.yaml's owner: the tag of an alarm it creates */
};

/* How long AWS's refusal of an alarm stands before bsupd sends it again. */
#define BSUP_ALARM_REFUSED_RETRY_S 600

const char *bsup_alarm_what(int kind);
/* bsup-<service>-<environment>-<what>. */
void bsup_alarm_name(const struct bsup_service *svc, int kind, char *buf, size_t len);
/* The service and environment an alarm name of bsupd's form names; false when name is not of
 * that form. */
bool bsup_alarm_name_parse(const char *name, char *service, size_t len, int *environment);

/* What bsupd wants of the service's alarms: health_found and backup_found say whether the
 * health and backup domains found its target group and database this cycle. Pure. */
void bsup_alarms_want(const struct bsup_service *svc, const struct bsup_settings *settings,
                      bool health_found, bool backup_found,
                      struct bsup_alarm_spec want[BSUP_ALARM_COUNT]);
/* An update per alarm to create, correct or delete. 0 or BSUP_ENOMEM. */
int bsup_alarms_plan(const struct bsup_service *svc, const struct bsup_alarms_observed *obs,
                     struct bsup_plan *plan);

extern const struct bsup_domain bsup_alarms_domain;

#endif
