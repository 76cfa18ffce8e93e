#include "core/reconcile/alarms.h"

#include "core/aws/results.h"
#include "core/base/error.h"
#include "core/reconcile/backup.h"
#include "core/reconcile/health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_PERIODS_S 86400 /* EvaluationPeriods x Period: at most a day */

static const char *const s_what[] = {
#define X(e, what) what,
    BSUP_ALARM_MAP(X)
#undef X
};

const char *bsup_alarm_what(int kind)
{
    return kind >= 0 && kind < BSUP_ALARM_COUNT ? s_what[kind] : "?";
}

void bsup_alarm_name(const struct bsup_service *svc, int kind, char *buf, size_t len)
{
    snprintf(buf, len, BSUP_ALARM_PREFIX "%s-%s-%s", svc->service_name,
             bsup_environment_name(svc->environment), bsup_alarm_what(kind));
}

/* Whether text ends with "-" + word; *end is then where that "-" starts. */
static bool s_ends_with(const char *text, size_t *end, const char *word)
{
    size_t w = strlen(word);
    if (*end < w + 1 || text[*end - w - 1] != '-' || strncmp(text + *end - w, word, w) != 0)
        return false;
    *end -= w + 1;
    return true;
}

bool bsup_alarm_name_parse(const char *name, char *service, size_t len, int *environment)
{
    size_t plen = strlen(BSUP_ALARM_PREFIX);
    if (strncmp(name, BSUP_ALARM_PREFIX, plen) != 0)
        return false;
    size_t end = strlen(name);
    bool what = false;
    for (int k = 0; !what && k < BSUP_ALARM_COUNT; k++)
        what = s_ends_with(name, &end, s_what[k]);
    int env = -1;
    for (int e = BSUP_ENV_DEV; what && env < 0 && e <= BSUP_ENV_PROD; e++)
        if (s_ends_with(name, &end, bsup_environment_name(e)))
            env = e;
    if (env < 0 || end <= plen || end - plen >= len)
        return false;
    snprintf(service, len, "%.*s", (int)(end - plen), name + plen);
    *environment = env;
    return true;
}

/* ---- what bsupd wants ---- */

static void s_spec(struct bsup_alarm_spec *s, const struct bsup_service *svc,
                   const struct bsup_settings *st, const char *metric, const char *statistic,
                   const char *comparison, double threshold, int64_t periods,
                   const char *treat_missing)
{
    int64_t iv = svc->interval_s ? svc->interval_s : st->interval_s;
    int64_t period = (iv + 59) / 60 * 60;
    if (period > S_MAX_PERIODS_S)
        period = S_MAX_PERIODS_S;
    if (periods * period > S_MAX_PERIODS_S)
        periods = S_MAX_PERIODS_S / period;
    const char *topic =
        svc->alerts.sns_topic_arn ? svc->alerts.sns_topic_arn : st->alerts.sns_topic_arn;
    *s = (struct bsup_alarm_spec){.present = true,
                                  .threshold = threshold,
                                  .period_s = period,
                                  .evaluation_periods = periods,
                                  .actions_enabled = true};
    snprintf(s->namespace_, sizeof(s->namespace_), "%s", st->metrics.namespace_);
    snprintf(s->metric, sizeof(s->metric), "%s", metric);
    snprintf(s->statistic, sizeof(s->statistic), "%s", statistic);
    snprintf(s->comparison, sizeof(s->comparison), "%s", comparison);
    snprintf(s->treat_missing, sizeof(s->treat_missing), "%s", treat_missing);
    snprintf(s->alarm_actions, sizeof(s->alarm_actions), "%s", topic ? topic : "");
    snprintf(s->ok_actions, sizeof(s->ok_actions), "%s", topic ? topic : "");
    snprintf(s->dimensions, sizeof(s->dimensions), "Environment=%s,Service=%s",
             bsup_environment_name(svc->environment), svc->service_name);
}

void bsup_alarms_want(const struct bsup_service *svc, const struct bsup_settings *st,
                      bool health_found, bool backup_found,
                      struct bsup_alarm_spec want[BSUP_ALARM_COUNT])
{
    memset(want, 0, sizeof(*want) * BSUP_ALARM_COUNT);
    if (health_found && svc->health_check.min_healthy > 0)
        s_spec(&want[BSUP_ALARM_HEALTHY], svc, st, "HealthyHostCount", "Minimum",
               "LessThanThreshold", (double)svc->health_check.min_healthy, 3, "missing");
    if (backup_found && svc->backup.max_age_s > 0)
        s_spec(&want[BSUP_ALARM_BACKUP_AGE], svc, st, "BackupAgeSeconds", "Maximum",
               "GreaterThanThreshold", (double)svc->backup.max_age_s, 1, "missing");
    s_spec(&want[BSUP_ALARM_ERRORS], svc, st, "ReconcileErrors", "Maximum",
           "GreaterThanOrEqualToThreshold", 1, st->metrics.error_periods, "notBreaching");
}

/* ---- the plan ---- */

static void s_num(char *buf, size_t len, int64_t v)
{
    snprintf(buf, len, "%lld", (long long)v);
}

/* Adds a change line to a (when not NULL) per field of have that differs from want; returns
 * how many differ. */
static size_t s_diff(const struct bsup_alarm_spec *want, const struct bsup_alarm_spec *have,
                     struct bsup_action *a)
{
    char o[2][32], d[2][32];
    const struct {
        const char *field, *observed, *desired;
    } texts[] = {
        {"Namespace", have->namespace_, want->namespace_},
        {"MetricName", have->metric, want->metric},
        {"Statistic", have->statistic, want->statistic},
        {"ComparisonOperator", have->comparison, want->comparison},
        {"TreatMissingData", have->treat_missing, want->treat_missing},
        {"Dimensions", have->dimensions, want->dimensions},
        {"AlarmActions", have->alarm_actions, want->alarm_actions},
        {"OKActions", have->ok_actions, want->ok_actions},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (strcmp(texts[i].observed, texts[i].desired) == 0)
            continue;
        n++;
        if (a)
            bsup_action_change(a, texts[i].field, texts[i].observed[0] ? texts[i].observed : "-",
                               texts[i].desired[0] ? texts[i].desired : "-",
                               "bsupd's alarm, as it keeps it");
    }
    const struct {
        const char *field;
        int64_t observed, desired;
    } nums[] = {
        {"Period", have->period_s, want->period_s},
        {"EvaluationPeriods", have->evaluation_periods, want->evaluation_periods},
        {"ActionsEnabled", have->actions_enabled, want->actions_enabled},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (nums[i].observed == nums[i].desired)
            continue;
        n++;
        s_num(o[0], sizeof(o[0]), nums[i].observed);
        s_num(d[0], sizeof(d[0]), nums[i].desired);
        if (a)
            bsup_action_change(a, nums[i].field, o[0], d[0], "bsupd's alarm, as it keeps it");
    }
    if (fabs(have->threshold - want->threshold) > 1e-9 * fmax(1, fabs(want->threshold))) {
        n++;
        snprintf(o[1], sizeof(o[1]), "%.17g", have->threshold);
        snprintf(d[1], sizeof(d[1]), "%.17g", want->threshold);
        if (a)
            bsup_action_change(a, "Threshold", o[1], d[1], "the drop-in's limit");
    }
    return n;
}

int bsup_alarms_plan(const struct bsup_service *svc, const struct bsup_alarms_observed *obs,
                     struct bsup_plan *plan)
{
    if (!obs->found)
        return 0;
    for (int k = 0; k < BSUP_ALARM_COUNT; k++) {
        const struct bsup_alarm_spec *want = &obs->want[k], *have = &obs->have[k];
        char name[BSUP_ALARM_NAME_MAX];
        struct bsup_action upd = {.kind = BSUP_ACTION_UPDATE};
        bsup_alarm_name(svc, k, name, sizeof(name));
        snprintf(upd.resource, sizeof(upd.resource), "cloudwatch-alarm/%s", name);
        if (want->present && !have->present)
            bsup_action_change(&upd, "Alarm", "absent", "exists",
                               "bsupd keeps this alarm on the metric it publishes");
        else if (!want->present && have->present)
            bsup_action_change(&upd, "Alarm", "exists", "absent",
                               "the service no longer has what this alarm watches");
        else if (want->present)
            s_diff(want, have, &upd);
        if (upd.n_changes == 0)
            continue;
        if (obs->refused[k][0]) {
            char seen[16 + sizeof(obs->refused[k])]; /* cut to the line's length when added */
            snprintf(seen, sizeof(seen), "refused: %s", obs->refused[k]);
            struct bsup_action *f = bsup_plan_add(plan, BSUP_ACTION_FINDING, upd.resource);
            if (!f)
                return BSUP_ENOMEM;
            bsup_action_change(f, want->present ? "PutMetricAlarm" : "DeleteAlarms", seen,
                               "accepted",
                               obs->retry[k] ? "AWS refused bsupd's change of this alarm; it is "
                                               "sent again now"
                                             : "AWS refused bsupd's change of this alarm (its "
                                               "permissions, the topic, a quota): it is sent again "
                                               "10 minutes later, or at once when the drop-in "
                                               "changes the alarm");
            if (!obs->retry[k])
                continue;
        }
        struct bsup_action *a = bsup_plan_add(plan, upd.kind, upd.resource);
        if (!a)
            return BSUP_ENOMEM;
        *a = upd;
    }
    return 0;
}

/* ---- observing: DescribeAlarms by name ---- */

static bool s_enabled(const struct bsup_settings *st)
{
    return st && st->metrics.enabled && st->metrics.alarms;
}

/* Every alarm bsupd may keep for the service is read, wanted or not: the read need not wait
 * for the health and backup domains, only what is wanted does (s_settle). */
static int s_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    if (!s_enabled(m->settings))
        return 0; /* not kept: found stays false, nothing is planned */
    bsup_alarm_name(m->desired, 0, key, BSUP_DOMAIN_KEY_MAX);
    return 1;
}

static int s_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    char name[BSUP_ALARM_NAME_MAX];
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (int a = 0; rc == 0 && a < BSUP_ALARM_COUNT; a++) {
            bsup_alarm_name(m[i]->desired, a, name, sizeof(name));
            rc = bsup_aws_params_addf(out, name, "AlarmNames.member.%zu", ++k);
        }
    }
    return rc;
}

static void s_join(char *buf, size_t len, char *const *v, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "", v[i] ? v[i] : "");
}

static int s_by_dimension_name(const void *a, const void *b)
{
    const struct bsup_cw_dimension *x = a, *y = b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void s_fill(struct bsup_alarm_spec *s, struct bsup_cw_alarm *al)
{
    *s = (struct bsup_alarm_spec){.present = true,
                                  .threshold = al->threshold,
                                  .period_s = al->period_s,
                                  .evaluation_periods = al->evaluation_periods,
                                  .actions_enabled = al->actions_enabled};
    snprintf(s->namespace_, sizeof(s->namespace_), "%s", al->namespace_ ? al->namespace_ : "");
    snprintf(s->metric, sizeof(s->metric), "%s", al->metric_name ? al->metric_name : "");
    snprintf(s->statistic, sizeof(s->statistic), "%s", al->statistic ? al->statistic : "");
    snprintf(s->comparison, sizeof(s->comparison), "%s",
             al->comparison_operator ? al->comparison_operator : "");
    /* Not set is AWS's default, "missing". */
    snprintf(s->treat_missing, sizeof(s->treat_missing), "%s",
             al->treat_missing_data ? al->treat_missing_data : "missing");
    s_join(s->alarm_actions, sizeof(s->alarm_actions), al->alarm_actions, al->n_alarm_actions);
    s_join(s->ok_actions, sizeof(s->ok_actions), al->ok_actions, al->n_ok_actions);
    qsort(al->dimensions, al->n_dimensions, sizeof(*al->dimensions), s_by_dimension_name);
    size_t used = 0;
    for (size_t i = 0; i < al->n_dimensions && used < sizeof(s->dimensions); i++)
        used += (size_t)snprintf(s->dimensions + used, sizeof(s->dimensions) - used, "%s%s=%s",
                                 i ? "," : "", al->dimensions[i].name ? al->dimensions[i].name : "",
                                 al->dimensions[i].value ? al->dimensions[i].value : "");
}

static void s_tally(struct bsup_alarms_observed *o)
{
    o->in_sync = 0;
    for (int k = 0; k < BSUP_ALARM_COUNT; k++)
        o->in_sync +=
            o->want[k].present && o->have[k].present && s_diff(&o->want[k], &o->have[k], NULL) == 0;
}

/* Whether the alarm is not as wanted (the plan changes it). */
static bool s_differs(const struct bsup_alarm_spec *want, const struct bsup_alarm_spec *have)
{
    return want->present != have->present || (want->present && s_diff(want, have, NULL) > 0);
}

/* What is wanted of an alarm, as a fingerprint (FNV-1a of its fields): a refusal stands only
 * for the alarm AWS refused. */
static uint64_t s_sig(const struct bsup_alarm_spec *w)
{
    char text[2048];
    int n =
        snprintf(text, sizeof(text), "%d|%s|%s|%s|%s|%.17g|%lld|%lld|%s|%d|%s|%s|%s", w->present,
                 w->namespace_, w->metric, w->statistic, w->comparison, w->threshold,
                 (long long)w->period_s, (long long)w->evaluation_periods, w->treat_missing,
                 w->actions_enabled, w->alarm_actions, w->ok_actions, w->dimensions);
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n && i < (int)sizeof(text); i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    return h;
}

static void s_count_refused(struct bsup_alarms_observed *o)
{
    o->n_refused = 0;
    for (int k = 0; k < BSUP_ALARM_COUNT; k++)
        o->n_refused += o->refused[k][0] != 0;
}

/* The refusals of the cache (name -> "<at_s> <sig> <code>: <message>") that still stand: the
 * alarm is not as wanted, and what is wanted is what AWS refused. Others are forgotten. */
static void s_refusals(struct bsup_domain_member *m)
{
    struct bsup_alarms_observed *o = m->obs;
    for (int k = 0; o->found && k < BSUP_ALARM_COUNT; k++) {
        char name[BSUP_ALARM_NAME_MAX];
        long long at_s = 0;
        unsigned long long sig = 0;
        int n = 0;
        bsup_alarm_name(m->desired, k, name, sizeof(name));
        const char *v = bsup_domain_cache_get(m->cache, name);
        if (!v || !*v)
            continue;
        if (sscanf(v, "%lld %llx %n", &at_s, &sig, &n) != 2 || n == 0 ||
            sig != s_sig(&o->want[k]) || !s_differs(&o->want[k], &o->have[k])) {
            bsup_domain_cache_put(m->cache, name, "", false); /* full: it is read again */
            continue;
        }
        snprintf(o->refused[k], sizeof(o->refused[k]), "%s", v + n);
        o->retry[k] = m->now_s - at_s >= BSUP_ALARM_REFUSED_RETRY_S;
    }
    s_count_refused(o);
}

/* What is wanted depends on what the health and backup domains found this cycle. */
static void s_settle(struct bsup_domain_member *m)
{
    struct bsup_alarms_observed *o = m->obs;
    const struct bsup_settings *st = m->settings;
    o->kept = s_enabled(st);
    if (!o->kept)
        return;
    snprintf(o->owner, sizeof(o->owner), "%s", st->owner ? st->owner : BSUP_OWNER_DEFAULT);
    const void *health = bsup_domain_peer(m, &bsup_health_domain);
    const void *backup = bsup_domain_peer(m, &bsup_backup_domain);
    bsup_alarms_want(m->desired, st, health && bsup_domain_obs_found(&bsup_health_domain, health),
                     backup && bsup_domain_obs_found(&bsup_backup_domain, backup), o->want);
    o->wanted = 0;
    for (int k = 0; k < BSUP_ALARM_COUNT; k++)
        o->wanted += o->want[k].present;
    s_tally(o);
    s_refusals(m);
}

static int s_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                   struct bsup_diag *diag)
{
    /* The names asked for, written once: name[i * BSUP_ALARM_COUNT + k]. */
    char(*name)[BSUP_ALARM_NAME_MAX] = malloc((n ? n : 1) * BSUP_ALARM_COUNT * sizeof(*name));
    if (!name)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory reading DescribeAlarms");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < BSUP_ALARM_COUNT; k++)
            bsup_alarm_name(m[i]->desired, k, name[i * BSUP_ALARM_COUNT + (size_t)k],
                            sizeof(*name));
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_cw_alarm_page pg = {0};
        if (bsup_cw_alarm_page_parse(page, &pg)) {
            bsup_cw_alarm_page_cleanup(&pg);
            free(name);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeAlarms");
        }
        for (size_t al = 0; al < pg.n_alarms; al++)
            for (size_t j = 0; pg.alarms[al].name && j < n * BSUP_ALARM_COUNT; j++)
                if (strcmp(name[j], pg.alarms[al].name) == 0)
                    s_fill(&((struct bsup_alarms_observed *)m[j / BSUP_ALARM_COUNT]->obs)
                                ->have[j % BSUP_ALARM_COUNT],
                           &pg.alarms[al]);
        bsup_cw_alarm_page_cleanup(&pg);
    }
    free(name);
    for (size_t i = 0; i < n; i++)
        ((struct bsup_alarms_observed *)m[i]->obs)->found = true; /* the plan may compare */
    return 0; /* a name AWS did not return does not exist */
}

/* ---- changes: PutMetricAlarm, DeleteAlarms ---- */

/* Which alarm of the service a change is about: its resource ends with "-<what>". */
static int s_kind_of(const struct bsup_action *a)
{
    size_t end = strlen(a->resource);
    for (int k = 0; k < BSUP_ALARM_COUNT; k++) {
        size_t e = end;
        if (s_ends_with(a->resource, &e, s_what[k]))
            return k;
    }
    return -1;
}

static int s_request(const struct bsup_service *desired, const void *obs,
                     const struct bsup_action *a, const char **out_action,
                     struct bsup_aws_params *out)
{
    const struct bsup_alarms_observed *o = obs;
    int k = s_kind_of(a);
    if (k < 0)
        return BSUP_EINVAL;
    char name[BSUP_ALARM_NAME_MAX];
    bsup_alarm_name(desired, k, name, sizeof(name));
    const struct bsup_alarm_spec *w = &o->want[k];
    if (!w->present) {
        *out_action = "DeleteAlarms";
        return bsup_aws_params_add(out, "AlarmNames.member.1", name);
    }
    char num[3][32], threshold[32], description[512];
    s_num(num[0], sizeof(num[0]), w->period_s);
    s_num(num[1], sizeof(num[1]), w->evaluation_periods);
    snprintf(threshold, sizeof(threshold), "%.17g", w->threshold);
    snprintf(description, sizeof(description),
             "bsupd: %s %s %s of %s (%s). Kept by bsupd; edits are reverted.", w->metric,
             k == BSUP_ALARM_ERRORS    ? "at least"
             : w->comparison[0] == 'L' ? "below"
                                       : "above",
             threshold, desired->service_name, bsup_environment_name(desired->environment));
    const struct {
        const char *name, *value;
    } p[] = {
        {"AlarmName", name},
        {"AlarmDescription", description},
        {"ActionsEnabled", "true"},
        {"Namespace", w->namespace_},
        {"MetricName", w->metric},
        {"Statistic", w->statistic},
        {"Dimensions.member.1.Name", "Service"},
        {"Dimensions.member.1.Value", desired->service_name},
        {"Dimensions.member.2.Name", "Environment"},
        {"Dimensions.member.2.Value", bsup_environment_name(desired->environment)},
        {"Period", num[0]},
        {"EvaluationPeriods", num[1]},
        {"Threshold", threshold},
        {"ComparisonOperator", w->comparison},
        {"TreatMissingData", w->treat_missing},
        {"AlarmActions.member.1", w->alarm_actions[0] ? w->alarm_actions : NULL},
        {"OKActions.member.1", w->ok_actions[0] ? w->ok_actions : NULL},
        /* Tags count only when the alarm is created (AWS ignores them on an update). */
        {"Tags.member.1.Key", BSUP_OWNER_TAG},
        {"Tags.member.1.Value", o->owner[0] ? o->owner : BSUP_OWNER_DEFAULT},
    };
    *out_action = "PutMetricAlarm";
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(p) / sizeof(p[0]); i++)
        if (p[i].value)
            rc = bsup_aws_params_add(out, p[i].name, p[i].value);
    return rc;
}

static void s_applied(void *obs, const struct bsup_action *a)
{
    struct bsup_alarms_observed *o = obs;
    int k = s_kind_of(a);
    if (k < 0)
        return;
    /* Put: as wanted; deleted: gone. */
    o->have[k] = o->want[k].present ? o->want[k] : (struct bsup_alarm_spec){0};
    s_tally(o);
}

/* AWS refused a change of an alarm for good (AccessDenied, a topic it rejects, a quota): the
 * refusal is what bsupd observes of the alarm, a finding, not the service's error; the change
 * is sent again after BSUP_ALARM_REFUSED_RETRY_S, or at once when what is wanted changes. */
static bool s_refused(struct bsup_domain_member *m, const struct bsup_action *a, const char *code,
                      const char *message)
{
    struct bsup_alarms_observed *o = m->obs;
    int k = s_kind_of(a);
    if (k < 0)
        return false;
    char name[BSUP_ALARM_NAME_MAX], value[64 + sizeof(o->refused[k])];
    bsup_alarm_name(m->desired, k, name, sizeof(name));
    snprintf(o->refused[k], sizeof(o->refused[k]), "%s: %s", code ? code : "?",
             message ? message : "");
    snprintf(value, sizeof(value), "%lld %016llx %s", (long long)m->now_s,
             (unsigned long long)s_sig(&o->want[k]), o->refused[k]);
    if (bsup_domain_cache_put(m->cache, name, value, false)) {
        o->refused[k][0] = 0;
        return false;
    }
    o->retry[k] = false;
    s_count_refused(o);
    return true;
}

/* A refusal line stands as last planned while DescribeAlarms has not answered (the plan needs
 * the alarm as it is). */
static bool s_unjudged(const struct bsup_service *desired, const void *obs, const char *resource,
                       const char *field)
{
    const struct bsup_alarms_observed *o = obs;
    const char *prefix = "cloudwatch-alarm/";
    char name[BSUP_ALARM_NAME_MAX];
    if (!o->kept || o->found || strncmp(resource, prefix, strlen(prefix)) != 0 ||
        (strcmp(field, "PutMetricAlarm") != 0 && strcmp(field, "DeleteAlarms") != 0))
        return false;
    for (int k = 0; k < BSUP_ALARM_COUNT; k++) {
        bsup_alarm_name(desired, k, name, sizeof(name));
        if (strcmp(resource + strlen(prefix), name) == 0)
            return true;
    }
    return false;
}

/* ---- the table entry ---- */

static const struct bsup_field s_fields[] = {
    {.name = "found",
     .type = BSUP_FIELD_BOOL,
     .offset = offsetof(struct bsup_alarms_observed, found)},
    {.name = "wanted",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_alarms_observed, wanted)},
    {.name = "in_sync",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_alarms_observed, in_sync)},
    {.name = "refused",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_alarms_observed, n_refused)},
};

/* Alerts of their own (core/metrics/alerts.h): AWS refusing the service's alarms, and
 * accepting them again (one condition for the service's alarms: the last to clear closes it). */
static const struct bsup_domain_event s_events[] = {
    {.kind = BSUP_ACTION_FINDING,
     .field = "PutMetricAlarm",
     .appeared = "alarm.refused",
     .cleared = "alarm.ok"},
    {.kind = BSUP_ACTION_FINDING,
     .field = "DeleteAlarms",
     .appeared = "alarm.refused",
     .cleared = "alarm.ok"},
    {0},
};

static const struct bsup_observe_step s_steps[] = {
    /* AlarmNames: at most 100 per call, three per service. A failed read (a CloudWatch
     * outage) is logged and leaves the alarms alone this cycle: it is not the service's
     * error. */
    {.service = "cloudwatch",
     .action = "DescribeAlarms",
     .batch_max = 100 / BSUP_ALARM_COUNT,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL,
     .prepare = s_prepare,
     .build = s_build,
     .parse = s_parse},
};

static int s_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    return bsup_alarms_plan(desired, obs, plan);
}

const struct bsup_domain bsup_alarms_domain = {
    .name = "alarms",
    .resource = "CloudWatch alarm",
    .obs_size = sizeof(struct bsup_alarms_observed),
    .found_offset = offsetof(struct bsup_alarms_observed, found),
    .fields = s_fields,
    .n_fields = sizeof(s_fields) / sizeof(s_fields[0]),
    .steps = s_steps,
    .n_steps = sizeof(s_steps) / sizeof(s_steps[0]),
    .settle = s_settle,
    .plan = s_plan,
    .request = s_request,
    .mutate_service = "cloudwatch",
    .applied = s_applied,
    .owned_pace_action = "PutMetricAlarm",
    .events = s_events,
    .unjudged = s_unjudged,
    .refused = s_refused,
};
