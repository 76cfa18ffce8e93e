/* The alarms domain's pure parts: names both ways, what is wanted, the plan (create, correct,
 * delete, in sync, refused by AWS), the exact requests, and its observe step driven by hand with a
 * parsed DescribeAlarms answer (no engine, no network). */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "core/reconcile/alarms.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC "arn:aws:sns:us-east-1:123456789012:oncall"

static struct bsup_service s_service(const char *name, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "service_name: %s\nenvironment: prod\nvpc_id: vpc-0a1b2c3d\n"
             "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: api\n"
             "database_username: api_admin\ndatabase_password: ssm:/prod/api/db\n"
             "min_size: 2\nmax_size: 6\n%s",
             name, extra);
    return bsup_test_service(yaml);
}

static struct bsup_settings s_settings(void)
{
    struct bsup_settings st;
    bsup_settings_init(&st);
    free(st.alerts.sns_topic_arn);
    st.alerts.sns_topic_arn = strdup(TOPIC);
    return st;
}

static void test_names(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("web-api", "");
    char name[BSUP_ALARM_NAME_MAX], service[64];
    int env = -1;
    bsup_alarm_name(&svc, BSUP_ALARM_BACKUP_AGE, name, sizeof(name));
    assert_string_equal(name, "bsup-web-api-prod-backup-age");
    assert_true(bsup_alarm_name_parse(name, service, sizeof(service), &env));
    assert_string_equal(service, "web-api");
    assert_int_equal(env, BSUP_ENV_PROD);
    const struct {
        const char *name;
        bool ok;
        const char *service;
    } cases[] = {
        {"bsup-a-dev-errors", true, "a"},       {"bsup-x-staging-prod-healthy", true, "x-staging"},
        {"bsup-prod-errors", false, NULL},   /* no service */
        {"bsup-api-qa-errors", false, NULL}, /* no such environment */
        {"bsup-api-prod-latency", false, NULL}, {"other-api-prod-errors", false, NULL},
        {"bsup-api-proderrors", false, NULL},   {"", false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = bsup_alarm_name_parse(cases[i].name, service, sizeof(service), &env);
        if (ok != cases[i].ok)
            fail_msg("%s: parsed %d", cases[i].name, ok);
        if (ok)
            assert_string_equal(service, cases[i].service);
    }
    bsup_service_cleanup(&svc);
    /* Names that look like another service's, environment's or kind's parse back to what made
     * them, so the sweep never takes one service's alarm for another's. */
    static const char *const tricky[] = {"api-prod", "api-prod-errors", "x-healthy", "db-backup",
                                         "staging",  "a-dev-b",         "healthy",   "backup-age",
                                         "api",      "api-v2"};
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        for (int e = BSUP_ENV_DEV; e <= BSUP_ENV_PROD; e++) {
            for (int k = 0; k < BSUP_ALARM_COUNT; k++) {
                struct bsup_service t = {.service_name = (char *)tricky[i], .environment = e};
                bsup_alarm_name(&t, k, name, sizeof(name));
                env = -1;
                if (!bsup_alarm_name_parse(name, service, sizeof(service), &env) ||
                    strcmp(service, tricky[i]) != 0 || env != e)
                    fail_msg("%s parsed as %s in %d", name, service, env);
            }
        }
    }
}

static void test_want(void **state)
{
    (void)state;
    struct bsup_settings st = s_settings();
    struct bsup_service svc = s_service("api", "health_check: {min_healthy: 3}\n"
                                               "backup: {max_age: 26h}\ninterval: 90s\n");
    struct bsup_alarm_spec want[BSUP_ALARM_COUNT];
    bsup_alarms_want(&svc, &st, true, true, want);
    const struct bsup_alarm_spec *h = &want[BSUP_ALARM_HEALTHY], *b = &want[BSUP_ALARM_BACKUP_AGE],
                                 *e = &want[BSUP_ALARM_ERRORS];
    assert_true(h->present && b->present && e->present);
    assert_string_equal(h->metric, "HealthyHostCount");
    assert_string_equal(h->comparison, "LessThanThreshold");
    assert_true(h->threshold == 3);
    assert_int_equal(h->period_s, 120); /* 90 s rounded up to whole minutes */
    assert_string_equal(b->metric, "BackupAgeSeconds");
    assert_true(b->threshold == 26 * 3600);
    assert_string_equal(e->statistic, "Maximum");
    assert_int_equal(e->evaluation_periods, 3);
    assert_string_equal(e->treat_missing, "notBreaching");
    assert_string_equal(e->alarm_actions, TOPIC);
    assert_string_equal(e->ok_actions, TOPIC);
    assert_string_equal(e->namespace_, "BSUP");
    assert_string_equal(e->dimensions, "Environment=prod,Service=api");

    /* No target group, no database: only the errors alarm. */
    bsup_alarms_want(&svc, &st, false, false, want);
    assert_false(want[BSUP_ALARM_HEALTHY].present);
    assert_false(want[BSUP_ALARM_BACKUP_AGE].present);
    assert_true(want[BSUP_ALARM_ERRORS].present);
    bsup_service_cleanup(&svc);

    /* The service's own topic wins; a day-long interval keeps periods x period to a day. */
    svc = s_service("api", "alerts: {sns_topic_arn: 'arn:aws:sns:us-east-1:123456789012:api'}\n"
                           "interval: 1d\n");
    bsup_alarms_want(&svc, &st, false, false, want);
    assert_string_equal(want[BSUP_ALARM_ERRORS].alarm_actions,
                        "arn:aws:sns:us-east-1:123456789012:api");
    assert_int_equal(want[BSUP_ALARM_ERRORS].period_s, 86400);
    assert_int_equal(want[BSUP_ALARM_ERRORS].evaluation_periods, 1);
    bsup_service_cleanup(&svc);
    bsup_settings_cleanup(&st);
}

static const struct bsup_observe_step *s_step(void)
{
    assert_int_equal(bsup_alarms_domain.n_steps, 1);
    return &bsup_alarms_domain.steps[0];
}

/* The domain's cache and the wall clock the observe step below sees. */
static struct bsup_domain_cache s_cache;
static int64_t s_now_s = 1800000000;

/* The observe step by hand: prepare, build, then parse an answer of have. */
static void s_observe(const struct bsup_service *svc, const struct bsup_settings *st,
                      json_t *alarms, struct bsup_alarms_observed *o)
{
    memset(o, 0, sizeof(*o));
    struct bsup_domain_member m = {
        .desired = svc, .obs = o, .settings = st, .cache = &s_cache, .now_s = s_now_s};
    struct bsup_domain_member *ms[] = {&m};
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_true(s_step()->prepare(&m, key) > 0);
    struct bsup_aws_params p = {0};
    assert_int_equal(s_step()->build(ms, 1, &p), 0);
    assert_int_equal(p.n, BSUP_ALARM_COUNT);
    assert_string_equal(bsup_aws_params_get(&p, "AlarmNames.member.3"), "bsup-api-prod-errors");
    bsup_aws_params_cleanup(&p);
    json_t *pages = json_pack("[{s:o}]", "MetricAlarms", alarms);
    struct bsup_diag diag = {0};
    assert_int_equal(s_step()->parse(pages, ms, 1, &diag), 0);
    json_decref(pages);
    bsup_alarms_domain.settle(&m); /* no peers here: neither target group nor database */
}

/* The errors alarm as bsupd puts it, as DescribeAlarms shows it. */
static json_t *s_errors_alarm(double threshold, const char *topic)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:i, s:i, s:b, s:[s], s:[s], s:s, "
                     "s:[{s:s, s:s}, {s:s, s:s}]}",
                     "AlarmName", "bsup-api-prod-errors", "Namespace", "BSUP", "MetricName",
                     "ReconcileErrors", "Statistic", "Maximum", "ComparisonOperator",
                     "GreaterThanOrEqualToThreshold", "Threshold", threshold, "Period", 60,
                     "EvaluationPeriods", 3, "ActionsEnabled", 1, "AlarmActions", topic,
                     "OKActions", topic, "TreatMissingData", "notBreaching", "Dimensions", "Name",
                     "Service", "Value", "api", "Name", "Environment", "Value", "prod");
}

static void test_plan_and_requests(void **state)
{
    (void)state;
    struct bsup_settings st = s_settings();
    struct bsup_service svc = s_service("api", "");
    struct bsup_alarms_observed o;
    struct bsup_plan plan;

    /* In sync: nothing to do. */
    s_observe(&svc, &st, json_pack("[o]", s_errors_alarm(1, TOPIC)), &o);
    assert_int_equal(o.wanted, 1);
    assert_int_equal(o.in_sync, 1);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
    assert_int_equal(plan.n_actions, 0);
    bsup_plan_cleanup(&plan);

    /* Someone raised the threshold and dropped the OK action: one update, two lines. */
    json_t *edited = s_errors_alarm(5, TOPIC);
    json_object_set_new(edited, "OKActions", json_array());
    s_observe(&svc, &st, json_pack("[o]", edited), &o);
    assert_int_equal(o.in_sync, 0);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    const struct bsup_action *a = &plan.actions[0];
    assert_string_equal(a->resource, "cloudwatch-alarm/bsup-api-prod-errors");
    assert_int_equal(a->kind, BSUP_ACTION_UPDATE);
    assert_int_equal(a->n_changes, 2);
    assert_non_null(bsup_action_find_change(a, "Threshold"));
    assert_non_null(bsup_action_find_change(a, "OKActions"));
    const char *action = NULL;
    struct bsup_aws_params p = {0};
    assert_int_equal(bsup_alarms_domain.request(&svc, &o, a, &action, &p), 0);
    assert_string_equal(action, "PutMetricAlarm");
    assert_string_equal(bsup_aws_params_get(&p, "AlarmName"), "bsup-api-prod-errors");
    assert_string_equal(bsup_aws_params_get(&p, "Threshold"), "1");
    assert_string_equal(bsup_aws_params_get(&p, "OKActions.member.1"), TOPIC);
    assert_string_equal(bsup_aws_params_get(&p, "Dimensions.member.1.Value"), "api");
    assert_string_equal(bsup_aws_params_get(&p, "Tags.member.1.Key"), "bsup:owner");
    assert_string_equal(bsup_aws_params_get(&p, "Tags.member.1.Value"), "bsupd");
    bsup_aws_params_cleanup(&p);
    /* Another owner (bsupd.yaml's owner) tags its alarms with its own name. */
    struct bsup_diag diag = {0};
    struct bsup_alarms_observed o2;
    assert_int_equal(bsup_settings_set(&st, "owner", "team-a", &diag), 0);
    s_observe(&svc, &st, json_pack("[o]", s_errors_alarm(5, TOPIC)), &o2);
    assert_int_equal(bsup_alarms_domain.request(&svc, &o2, a, &action, &p), 0);
    assert_string_equal(bsup_aws_params_get(&p, "Tags.member.1.Value"), "team-a");
    bsup_aws_params_cleanup(&p);
    bsup_alarms_domain.applied(&o, a);
    assert_int_equal(o.in_sync, 1);
    bsup_plan_cleanup(&plan);

    /* Missing: created. An alarm the service no longer wants (it has no database): deleted. */
    json_t *stale = s_errors_alarm(1, TOPIC);
    json_object_set_new(stale, "AlarmName", json_string("bsup-api-prod-backup-age"));
    s_observe(&svc, &st, json_pack("[o]", stale), &o);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
    assert_int_equal(plan.n_actions, 2);
    assert_string_equal(plan.actions[0].resource, "cloudwatch-alarm/bsup-api-prod-backup-age");
    assert_string_equal(bsup_action_find_change(&plan.actions[0], "Alarm")->desired, "absent");
    assert_int_equal(bsup_alarms_domain.request(&svc, &o, &plan.actions[0], &action, &p), 0);
    assert_string_equal(action, "DeleteAlarms");
    assert_string_equal(bsup_aws_params_get(&p, "AlarmNames.member.1"), "bsup-api-prod-backup-age");
    bsup_aws_params_cleanup(&p);
    assert_string_equal(plan.actions[1].resource, "cloudwatch-alarm/bsup-api-prod-errors");
    assert_string_equal(bsup_action_find_change(&plan.actions[1], "Alarm")->desired, "exists");
    bsup_alarms_domain.applied(&o, &plan.actions[0]);
    bsup_alarms_domain.applied(&o, &plan.actions[1]);
    assert_false(o.have[BSUP_ALARM_BACKUP_AGE].present);
    assert_int_equal(o.in_sync, 1);
    bsup_plan_cleanup(&plan);

    /* Alarms off: not observed, nothing planned. */
    st.metrics.alarms = false;
    memset(&o, 0, sizeof(o));
    struct bsup_domain_member m = {.desired = &svc, .obs = &o, .settings = &st};
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_int_equal(s_step()->prepare(&m, key), 0);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
    assert_int_equal(plan.n_actions, 0);
    bsup_plan_cleanup(&plan);

    bsup_service_cleanup(&svc);
    bsup_settings_cleanup(&st);
}

static size_t s_lines(const struct bsup_plan *plan, enum bsup_action_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < plan->n_actions; i++)
        n += plan->actions[i].kind == kind;
    return n;
}

/* AWS refusing an alarm for good is what the domain observes: a finding of the alarm, kept in
 * the cache; the change is sent again 10 minutes later, or at once when what is wanted
 * changes; the refusal is forgotten once the alarm is as wanted. */
static void test_refused(void **state)
{
    (void)state;
    struct bsup_settings st = s_settings();
    struct bsup_service svc = s_service("api", "");
    struct bsup_alarms_observed o;
    struct bsup_plan plan;
    const int64_t t0 = s_now_s;

    s_observe(&svc, &st, json_array(), &o); /* the errors alarm is missing: put */
    bsup_plan_init(&plan);
    assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    struct bsup_action put = plan.actions[0];
    bsup_plan_cleanup(&plan);
    struct bsup_domain_member m = {
        .desired = &svc, .obs = &o, .settings = &st, .cache = &s_cache, .now_s = t0};
    struct bsup_action other = {.kind = BSUP_ACTION_UPDATE, .resource = "cloudwatch-alarm/x"};
    assert_false(bsup_alarms_domain.refused(&m, &other, "AccessDenied", "no"));
    assert_true(bsup_alarms_domain.refused(&m, &put, "AccessDenied", "not authorized"));
    assert_string_equal(o.refused[BSUP_ALARM_ERRORS], "AccessDenied: not authorized");
    assert_int_equal(o.n_refused, 1);
    assert_non_null(bsup_domain_cache_get(&s_cache, "bsup-api-prod-errors"));

    /* The refusal is the alarm's finding; the put is not planned again for 10 minutes. */
    for (int64_t later = 0; later <= 600; later += 599) {
        s_now_s = t0 + later;
        s_observe(&svc, &st, json_array(), &o);
        assert_int_equal(o.n_refused, 1);
        bsup_plan_init(&plan);
        assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
        assert_int_equal(s_lines(&plan, BSUP_ACTION_FINDING), 1);
        assert_int_equal(s_lines(&plan, BSUP_ACTION_UPDATE), later >= 600 ? 1 : 0);
        const struct bsup_change *c = bsup_action_find_change(&plan.actions[0], "PutMetricAlarm");
        assert_non_null(c);
        assert_string_equal(plan.actions[0].resource, "cloudwatch-alarm/bsup-api-prod-errors");
        assert_string_equal(c->observed, "refused: AccessDenied: not authorized");
        assert_string_equal(c->desired, "accepted");
        bsup_plan_cleanup(&plan);
    }

    /* Unread (DescribeAlarms failed): the line stands as last planned; off: it does not. */
    o.found = false;
    assert_true(bsup_alarms_domain.unjudged(&svc, &o, "cloudwatch-alarm/bsup-api-prod-errors",
                                            "PutMetricAlarm"));
    assert_false(bsup_alarms_domain.unjudged(&svc, &o, "cloudwatch-alarm/bsup-web-prod-errors",
                                             "PutMetricAlarm"));
    assert_false(bsup_alarms_domain.unjudged(&svc, &o, "cloudwatch-alarm/bsup-api-prod-errors",
                                             "Threshold"));
    o.kept = false;
    assert_false(bsup_alarms_domain.unjudged(&svc, &o, "cloudwatch-alarm/bsup-api-prod-errors",
                                             "PutMetricAlarm"));

    /* What is wanted changes (another topic): put at once, the refusal forgotten. */
    s_now_s = t0 + 1;
    free(st.alerts.sns_topic_arn);
    st.alerts.sns_topic_arn = strdup(TOPIC "-2");
    s_observe(&svc, &st, json_array(), &o);
    assert_int_equal(o.n_refused, 0);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_alarms_plan(&svc, &o, &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_int_equal(plan.actions[0].kind, BSUP_ACTION_UPDATE);
    bsup_plan_cleanup(&plan);
    assert_string_equal(bsup_domain_cache_get(&s_cache, "bsup-api-prod-errors"), "");

    /* Refused again, then found as wanted (fixed by hand): forgotten. */
    m.now_s = s_now_s;
    assert_true(bsup_alarms_domain.refused(&m, &put, "InvalidParameterValue", "bad topic"));
    s_observe(&svc, &st, json_pack("[o]", s_errors_alarm(1, TOPIC "-2")), &o);
    assert_int_equal(o.n_refused, 0);
    assert_int_equal(o.in_sync, 1);
    assert_string_equal(bsup_domain_cache_get(&s_cache, "bsup-api-prod-errors"), "");

    /* Its own events: one condition for the service's alarms. */
    assert_string_equal(bsup_alarms_domain.events[0].field, "PutMetricAlarm");
    assert_string_equal(bsup_alarms_domain.events[0].appeared, "alarm.refused");
    assert_string_equal(bsup_alarms_domain.events[0].cleared, "alarm.ok");
    bsup_domain_cache_cleanup(&s_cache);
    bsup_service_cleanup(&svc);
    bsup_settings_cleanup(&st);
}

/* The domain is owned (paced, not capped); it reads from the start, and what it wants
 * is settled from health and backup after every domain's steps. */
static void test_table_entry(void **state)
{
    (void)state;
    assert_string_equal(bsup_alarms_domain.owned_pace_action, "PutMetricAlarm");
    assert_null(bsup_alarms_domain.after);
    assert_non_null(bsup_alarms_domain.settle);
    assert_true(s_step()->batch_max * BSUP_ALARM_COUNT <= 100); /* AlarmNames: at most 100 */
    bool listed = false;
    for (size_t i = 0; i < bsup_n_domains; i++)
        listed |= bsup_domains[i] == &bsup_alarms_domain;
    assert_true(listed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_want),
        cmocka_unit_test(test_plan_and_requests),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_table_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
