/* The health domains' pure parts: the plan (settings drift, missing, degraded, outage,
 * targets and posture as findings), the damped replacement (a table of cycles), the memory's
 * text form, and the exact requests. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "core/reconcile/health.h"
#include "core/reconcile/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A service with min_size 2; extra adds keys (an "environment:" line replaces prod). */
static struct bsup_service s_service(const char *extra)
{
    char yaml[2048];
    bool env = strncmp(extra, "environment:", 12) == 0;
    snprintf(yaml, sizeof(yaml),
             "service_name: api\n%svpc_id: vpc-0a1b2c3d\n"
             "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\ndatabase_username: a\n"
             "database_password: ssm:/a\nmin_size: 2\nmax_size: 6\n%s",
             env ? "" : "environment: prod\n", extra);
    return bsup_test_service(yaml);
}

/* A target group as the drop-in's defaults want it, with three healthy targets, read now, on
 * an internal load balancer that follows every posture rule. */
static struct bsup_health_observed s_group(void)
{
    struct bsup_health_observed o = {.found = true,
                                     .enabled = true,
                                     .interval_s = 30,
                                     .timeout_s = 5,
                                     .healthy_threshold = 5,
                                     .unhealthy_threshold = 2,
                                     .health_read_at = 1000,
                                     .health_fresh = true,
                                     .targets = 3,
                                     .lb_read_at = 1000,
                                     .listeners_read_at = 1000,
                                     .attributes_read_at = 1000,
                                     .access_logs = true,
                                     .deletion_protection = true};
    snprintf(o.name, sizeof(o.name), "api-prod");
    snprintf(o.arn, sizeof(o.arn),
             "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/api-prod/1");
    snprintf(o.path, sizeof(o.path), "/");
    snprintf(o.port, sizeof(o.port), "traffic-port");
    snprintf(o.protocol, sizeof(o.protocol), "HTTP");
    snprintf(o.matcher, sizeof(o.matcher), "200");
    o.counts[BSUP_TARGET_HEALTHY] = 3;
    snprintf(o.lb_arn, sizeof(o.lb_arn),
             "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/api-prod/9");
    snprintf(o.lb_name, sizeof(o.lb_name), "api-prod");
    snprintf(o.scheme, sizeof(o.scheme), "internal");
    o.n_listeners = 2;
    o.listeners[0] = (struct bsup_health_listener){.port = 443,
                                                   .protocol = "HTTPS",
                                                   .ssl_policy = "P-1-2",
                                                   .tls = BSUP_TLS_OK,
                                                   .oldest = "TLSv1.2",
                                                   .action = "forward"};
    o.listeners[1] = (struct bsup_health_listener){
        .port = 80, .protocol = "HTTP", .action = "redirect", .to_https = true};
    return o;
}

/* Sets targets from "id:state:reason id:state ..." (healthy ones only counted). */
static void s_targets(struct bsup_health_observed *o, int healthy, const char *spec)
{
    memset(o->counts, 0, sizeof(o->counts));
    o->counts[BSUP_TARGET_HEALTHY] = healthy;
    o->targets = healthy;
    o->n_tracked = 0;
    char copy[512], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", spec);
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        struct bsup_health_target *x = &o->tracked[o->n_tracked++];
        char *id = t, *state = strchr(t, ':'), *reason = NULL;
        *state++ = 0;
        if ((reason = strchr(state, ':')))
            *reason++ = 0;
        snprintf(x->id, sizeof(x->id), "%s", id);
        x->state = bsup_target_state_from_name(state);
        snprintf(x->reason, sizeof(x->reason), "%s", reason ? reason : "");
        o->counts[x->state]++;
        o->targets++;
    }
}

/* The plan as "kind resource field=observed>desired;...|...". */
static void s_render(const struct bsup_plan *p, char *out, size_t len)
{
    out[0] = 0;
    for (size_t i = 0; i < p->n_actions; i++) {
        const struct bsup_action *a = &p->actions[i];
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s %s ", i ? "|" : "", bsup_action_kind_name(a->kind),
                 a->resource);
        for (size_t j = 0; j < a->n_changes; j++) {
            used = strlen(out);
            snprintf(out + used, len - used, "%s%s=%s>%s", j ? ";" : "", a->changes[j].field,
                     a->changes[j].observed, a->changes[j].desired);
        }
    }
}

enum s_tweak {
    T_NONE,
    T_MISSING,
    T_PATH,
    T_THRESHOLDS,
    T_ALL_SETTINGS,
    T_BELOW_FLOOR,
    T_OUTAGE,
    T_OUTAGE_STOPPED,
    T_DRAINING,
    T_NEVER_READ,
    T_PUBLIC,
    T_WEAK_TLS,
    T_HTTP_FORWARD,
    T_NO_LOGS,
    T_NO_LB,
    T_OTHER_VPC,
    T_SAME_VPC,
};

static void s_tweak(struct bsup_health_observed *o, enum s_tweak t)
{
    switch (t) {
    case T_NONE:
        break;
    case T_MISSING:
        o->found = false;
        break;
    case T_PATH:
        snprintf(o->path, sizeof(o->path), "/old");
        break;
    case T_THRESHOLDS:
        o->healthy_threshold = 3;
        o->unhealthy_threshold = 10;
        break;
    case T_ALL_SETTINGS:
        snprintf(o->path, sizeof(o->path), "/x");
        snprintf(o->port, sizeof(o->port), "8080");
        snprintf(o->protocol, sizeof(o->protocol), "HTTPS");
        o->interval_s = 10;
        o->timeout_s = 6;
        snprintf(o->matcher, sizeof(o->matcher), "200-299");
        o->enabled = false;
        break;
    case T_BELOW_FLOOR:
        s_targets(o, 1, "i-2:unhealthy:Target.Timeout i-3:initial:Elb.InitialHealthChecking");
        break;
    case T_OUTAGE:
        s_targets(o, 0, "i-1:unhealthy:Target.FailedHealthChecks i-2:unhealthy:Target.Timeout");
        break;
    case T_OUTAGE_STOPPED:
        s_targets(o, 0, "i-1:unhealthy:Target.Timeout i-2:unused:Target.InvalidState");
        break;
    case T_DRAINING:
        s_targets(o, 2, "i-9:draining:Target.DeregistrationInProgress i-8:unused:Target.NotInUse");
        break;
    case T_NEVER_READ:
        s_targets(o, 0, "");
        o->health_read_at = 0;
        break;
    case T_PUBLIC:
        snprintf(o->scheme, sizeof(o->scheme), "internet-facing");
        break;
    case T_WEAK_TLS:
        o->listeners[0].tls = BSUP_TLS_WEAK;
        snprintf(o->listeners[0].ssl_policy, sizeof(o->listeners[0].ssl_policy),
                 "ELBSecurityPolicy-2016-08");
        snprintf(o->listeners[0].oldest, sizeof(o->listeners[0].oldest), "TLSv1");
        break;
    case T_HTTP_FORWARD:
        snprintf(o->listeners[1].action, sizeof(o->listeners[1].action), "forward");
        o->listeners[1].to_https = false;
        break;
    case T_NO_LOGS:
        o->access_logs = false;
        o->deletion_protection = false;
        break;
    case T_NO_LB:
        o->lb_arn[0] = 0;
        o->scheme[0] = 0;
        break;
    case T_OTHER_VPC:
        snprintf(o->vpc_id, sizeof(o->vpc_id), "vpc-99999999");
        break;
    case T_SAME_VPC:
        snprintf(o->vpc_id, sizeof(o->vpc_id), "vpc-0a1b2c3d");
        break;
    }
}

/* The lines a paced read judges while it has not come (none since a restart): the engine keeps
 * them as last recorded instead of taking them for cleared. */
static void test_unjudged(void **state)
{
    (void)state;
    bool (*unjudged)(const struct bsup_service *, const void *, const char *, const char *) =
        bsup_health_domain.unjudged;
    assert_non_null(unjudged);
    struct bsup_service svc = s_service("");
    struct bsup_health_observed o = s_group();
    const char *tg = "targetgroup/api-prod", *lb = "loadbalancer/api-prod";
    assert_false(unjudged(&svc, &o, tg, "HealthyTargets"));
    assert_false(unjudged(&svc, &o, lb, "Scheme"));
    o.health_read_at = 0;
    o.listeners_read_at = 0;
    assert_true(unjudged(&svc, &o, tg, "HealthyTargets"));
    assert_true(unjudged(&svc, &o, tg, "Target i-0abc"));
    assert_false(unjudged(&svc, &o, "targetgroup/other", "HealthyTargets"));
    assert_true(unjudged(&svc, &o, lb, "Listener 80 DefaultAction"));
    assert_false(unjudged(&svc, &o, lb, "Scheme")); /* read: judged */
    assert_false(unjudged(&svc, &o, lb, "access_logs.s3.enabled"));
    bsup_service_cleanup(&svc);
}

static void test_plan_table(void **state)
{
    (void)state;
    static const struct {
        const char *dropin;
        enum s_tweak tweak;
        const char *want;
    } rows[] = {
        {"", T_NONE, ""},
        {"resources: {target_group: api-tg}\n", T_MISSING,
         "missing targetgroup/api-tg TargetGroup=absent>exists"},
        {"", T_MISSING, ""}, /* none declared, none by the default name: nothing to check */
        {"health_check: {path: /healthz}\n", T_PATH,
         "update targetgroup/api-prod HealthCheckPath=/old>/healthz"},
        /* Only the settings the drop-in declares are enforced: the others are the target
         * group owner's, never ELBv2's defaults (a path of / may answer 404). */
        {"", T_THRESHOLDS, ""},
        {"health_check: {healthy_threshold: 5}\n", T_THRESHOLDS,
         "update targetgroup/api-prod HealthyThresholdCount=3>5"},
        {"", T_ALL_SETTINGS, ""},
        {"health_check: {path: /}\n", T_ALL_SETTINGS,
         "update targetgroup/api-prod HealthCheckPath=/x>/;HealthCheckEnabled=false>true"},
        {"health_check: {replace_unhealthy: true}\n", T_ALL_SETTINGS,
         "update targetgroup/api-prod HealthCheckEnabled=false>true"},
        {"health_check: {path: /, port: traffic-port, protocol: HTTP, interval: 30s, timeout: 5s,\n"
         "  healthy_threshold: 5, unhealthy_threshold: 2, matcher: '200'}\n",
         T_ALL_SETTINGS,
         "update targetgroup/api-prod HealthCheckPath=/x>/;HealthCheckPort=8080>traffic-port;"
         "HealthCheckProtocol=HTTPS>HTTP;HealthCheckIntervalSeconds=10>30;"
         "HealthCheckTimeoutSeconds=6>5;Matcher.HttpCode=200-299>200;"
         "HealthCheckEnabled=false>true"},
        /* min_healthy defaults to min_size (2): one healthy is below; the registering target
         * is on its way (no finding), the unhealthy one is a finding. */
        {"", T_BELOW_FLOOR,
         "degraded targetgroup/api-prod HealthyTargets=1 of 3>at least 2|"
         "finding targetgroup/api-prod Target i-2=unhealthy (Target.Timeout)>healthy"},
        {"health_check: {min_healthy: 1}\n", T_BELOW_FLOOR,
         "finding targetgroup/api-prod Target i-2=unhealthy (Target.Timeout)>healthy"},
        /* Every target unhealthy: degraded even with no floor. */
        {"health_check: {min_healthy: 0}\n", T_OUTAGE,
         "degraded targetgroup/api-prod HealthyTargets=0 of 2, every target unhealthy: an "
         "outage>at least 1|"
         "finding targetgroup/api-prod Target i-1=unhealthy (Target.FailedHealthChecks)>healthy|"
         "finding targetgroup/api-prod Target i-2=unhealthy (Target.Timeout)>healthy"},
        /* None healthy, one unhealthy, one stopped: an outage, but not "every target
         * unhealthy". */
        {"health_check: {min_healthy: 0}\n", T_OUTAGE_STOPPED,
         "degraded targetgroup/api-prod HealthyTargets=0 of 2, none healthy, some unhealthy: an "
         "outage>at least 1|"
         "finding targetgroup/api-prod Target i-1=unhealthy (Target.Timeout)>healthy|"
         "finding targetgroup/api-prod Target i-2=unused (Target.InvalidState)>healthy"},
        {"", T_DRAINING,
         "finding targetgroup/api-prod Target i-8=unused (Target.NotInUse)>healthy"},
        /* Never read (paced): nothing is known, nothing is said. */
        {"", T_NEVER_READ, ""},
        {"", T_PUBLIC, "finding loadbalancer/api-prod Scheme=internet-facing>internal"},
        {"health_check: {public: true}\n", T_PUBLIC, ""},
        {"", T_WEAK_TLS,
         "finding loadbalancer/api-prod Listener 443 SslPolicy=ELBSecurityPolicy-2016-08 (allows "
         "TLSv1)>a TLS 1.2-or-newer policy"},
        {"", T_HTTP_FORWARD,
         "finding loadbalancer/api-prod Listener 80 DefaultAction=forward>redirect to HTTPS"},
        {"", T_NO_LOGS,
         "finding loadbalancer/api-prod access_logs.s3.enabled=false>true|"
         "finding loadbalancer/api-prod deletion_protection.enabled=false>true"},
        {"environment: staging\n", T_NO_LOGS,
         "finding loadbalancer/api-staging access_logs.s3.enabled=false>true"},
        {"", T_NO_LB, ""},
        /* A target group in another VPC than the drop-in's: reported, never changed. */
        {"", T_OTHER_VPC, "report targetgroup/api-prod VpcId=vpc-99999999>vpc-0a1b2c3d"},
        {"", T_SAME_VPC, ""},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct bsup_service svc = s_service(rows[r].dropin);
        struct bsup_health_observed o = s_group();
        if (svc.environment == BSUP_ENV_STAGING)
            snprintf(o.lb_name, sizeof(o.lb_name), "api-staging");
        s_tweak(&o, rows[r].tweak);
        struct bsup_plan p;
        bsup_plan_init(&p);
        assert_int_equal(bsup_health_plan(&svc, &o, &p), 0);
        char got[2048];
        s_render(&p, got, sizeof(got));
        if (strcmp(got, rows[r].want) != 0)
            fail_msg("row %zu:\n got  %s\n want %s", r, got, rows[r].want);
        struct bsup_change found[16];
        size_t posture = bsup_health_posture(&svc, &o, found, 16);
        assert_int_equal(posture,
                         (size_t)(strstr(rows[r].want, "loadbalancer/") != NULL) +
                             (rows[r].tweak == T_NO_LOGS && !strstr(rows[r].dropin, "staging")));
        bsup_plan_cleanup(&p);
        bsup_service_cleanup(&svc);
    }
}

/* With one of interval and timeout declared, the other is the target group's: the plan says
 * when ELBv2 would refuse the pair, and each change names the key that asks for it. */
static void test_declared_pair(void **state)
{
    (void)state;
    static const struct {
        const char *dropin;
        int64_t interval_s, timeout_s; /* observed */
        const char *field, *reason;
    } rows[] = {
        {"health_check: {timeout: 10s}\n", 30, 5, "HealthCheckTimeoutSeconds",
         "health_check.timeout in the drop-in"},
        {"health_check: {timeout: 20s}\n", 15, 5, "HealthCheckTimeoutSeconds",
         "health_check.timeout in the drop-in; not shorter than the target group's interval, "
         "which ELBv2 refuses: declare health_check.interval too"},
        {"health_check: {interval: 5s}\n", 30, 5, "HealthCheckIntervalSeconds",
         "health_check.interval in the drop-in; not longer than the target group's timeout, "
         "which ELBv2 refuses: declare health_check.timeout too"},
        {"health_check: {interval: 20s, timeout: 10s}\n", 30, 15, "HealthCheckIntervalSeconds",
         "health_check.interval in the drop-in"},
        {"health_check: {matcher: '200-299'}\n", 30, 5, "Matcher.HttpCode",
         "health_check.matcher in the drop-in"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct bsup_service svc = s_service(rows[r].dropin);
        struct bsup_health_observed o = s_group();
        o.interval_s = rows[r].interval_s;
        o.timeout_s = rows[r].timeout_s;
        struct bsup_plan p;
        bsup_plan_init(&p);
        assert_int_equal(bsup_health_plan(&svc, &o, &p), 0);
        assert_int_equal(p.n_actions, 1);
        const struct bsup_change *c = bsup_action_find_change(&p.actions[0], rows[r].field);
        if (!c || strcmp(c->reason, rows[r].reason) != 0)
            fail_msg("row %zu: %s: %s", r, rows[r].field, c ? c->reason : "no change");
        bsup_plan_cleanup(&p);
        bsup_service_cleanup(&svc);
    }
}

/* The exact requests: ModifyTargetGroup with only what differs, from the drop-in (a path
 * longer than a plan line), and SetInstanceHealth as the issue asks. */
static void test_requests(void **state)
{
    (void)state;
    char path[300] = "/";
    memset(path + 1, 'p', 200);
    char dropin[512];
    snprintf(dropin, sizeof(dropin), "health_check: {path: %s, unhealthy_threshold: 3}\n", path);
    struct bsup_service svc = s_service(dropin);
    struct bsup_health_observed o = s_group();
    o.interval_s = 15; /* not declared: not sent */
    struct bsup_plan p;
    bsup_plan_init(&p);
    assert_int_equal(bsup_health_plan(&svc, &o, &p), 0);
    assert_int_equal(p.n_actions, 1);
    struct bsup_aws_params params = {0};
    const char *action = NULL;
    assert_int_equal(bsup_health_domain.request(&svc, &o, &p.actions[0], &action, &params), 0);
    assert_string_equal(action, "ModifyTargetGroup");
    assert_int_equal(params.n, 3);
    assert_string_equal(bsup_aws_params_get(&params, "TargetGroupArn"), o.arn);
    assert_string_equal(bsup_aws_params_get(&params, "HealthCheckPath"), path);
    assert_string_equal(bsup_aws_params_get(&params, "UnhealthyThresholdCount"), "3");
    bsup_aws_params_cleanup(&params);
    /* Accepted: the observation shows it until the next reading. */
    bsup_health_domain.applied(&o, &p.actions[0]);
    assert_int_equal(o.unhealthy_threshold, 3);
    bsup_plan_cleanup(&p);

    struct bsup_replace_observed r = {.found = true, .n_candidates = 1, .observed_at = 77};
    snprintf(r.candidates[0].id, sizeof(r.candidates[0].id), "i-0abc");
    r.candidates[0].streak = 3;
    snprintf(r.candidates[0].reason, sizeof(r.candidates[0].reason), "Target.Timeout");
    bsup_plan_init(&p);
    assert_int_equal(bsup_replace_plan(&svc, &r, &p), 0);
    assert_int_equal(p.n_actions, 1);
    assert_int_equal(p.actions[0].kind, BSUP_ACTION_UPDATE);
    assert_string_equal(p.actions[0].resource, "instance/i-0abc");
    assert_non_null(strstr(p.actions[0].changes[0].observed, "3 times in a row (Target.Timeout)"));
    assert_int_equal(bsup_replace_domain.request(&svc, &r, &p.actions[0], &action, &params), 0);
    assert_string_equal(action, "SetInstanceHealth");
    assert_int_equal(params.n, 3);
    assert_string_equal(bsup_aws_params_get(&params, "InstanceId"), "i-0abc");
    assert_string_equal(bsup_aws_params_get(&params, "HealthStatus"), "Unhealthy");
    assert_string_equal(bsup_aws_params_get(&params, "ShouldRespectGracePeriod"), "true");
    bsup_aws_params_cleanup(&params);
    bsup_replace_domain.applied(&r, &p.actions[0]);
    assert_int_equal(r.marked, 1);
    assert_string_equal(r.remembered, "i-0abc:0@77");
    bsup_plan_cleanup(&p);
    bsup_service_cleanup(&svc);
}

/* One cycle of the damping: the group (instances "id" in service and healthy, "id!" unhealthy
 * in the group, "id~" not in service), target health ("id:state"), fresh or not, and the
 * memory before; what is marked, the memory after, and why nothing (more) is marked. */
struct s_damp_row {
    const char *dropin;
    const char *group;
    int64_t pending, terminating;
    bool fresh;
    int healthy;
    const char *targets;
    const char *before;
    const char *want_marked;
    const char *want_after;
    const char *want_waiting;
};

static void s_damp(const struct s_damp_row *row, size_t r)
{
    struct bsup_service svc = s_service(row->dropin);
    struct bsup_health_observed h = s_group();
    s_targets(&h, row->healthy, row->targets);
    h.health_fresh = row->fresh;
    struct bsup_asg_observed g = {
        .found = true, .pending = row->pending, .terminating = row->terminating};
    char copy[512], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", row->group);
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        struct bsup_asg_member *mb = &g.listed[g.n_listed++];
        size_t len = strcspn(t, "!~");
        snprintf(mb->id, sizeof(mb->id), "%.*s", (int)len, t);
        mb->in_service = t[len] != '~';
        mb->healthy = t[len] != '!';
        g.unhealthy += !mb->healthy;
    }
    g.instances = g.n_listed + row->pending;
    struct bsup_health_history before;
    bsup_health_history_parse(row->before, &before);
    struct bsup_health_damp_in in = {
        .cfg = &svc.health_check, .now_s = 5000, .health = &h, .group = &g, .history = &before};
    struct bsup_replace_observed out = {0};
    bsup_health_damp(&in, &out);
    char marked[256] = "", after[1200];
    for (int64_t i = 0; i < out.n_candidates; i++) {
        size_t used = strlen(marked);
        snprintf(marked + used, sizeof(marked) - used, "%s%s", i ? "," : "", out.candidates[i].id);
    }
    bsup_health_history_format(&out.history, after, sizeof(after));
    if (strcmp(marked, row->want_marked) != 0 || strcmp(after, row->want_after) != 0 ||
        !strstr(out.waiting, row->want_waiting))
        fail_msg("row %zu:\n marked %s (want %s)\n memory %s (want %s)\n waiting %s (want %s)", r,
                 marked, row->want_marked, after, row->want_after, out.waiting, row->want_waiting);
    bsup_service_cleanup(&svc);
}

static void test_damping(void **state)
{
    (void)state;
    const char *on = "health_check: {replace_unhealthy: true}\n";
    const char *on2 = "health_check: {replace_unhealthy: true, unhealthy_cycles: 2}\n";
    const char *half = "health_check: {replace_unhealthy: true, max_replace_percent: 50}\n";
    static const char *const eight = "i-1 i-2 i-3 i-4 i-5 i-6 i-7 i-8";
    const struct s_damp_row rows[] = {
        /* Counting: one fresh unhealthy reading per cycle; the third marks (unhealthy_cycles 3). */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy:Target.Timeout", "", "", "i-4:1/5000",
         "1 instance unhealthy, the longest for 1 of 3"},
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:1", "", "i-4:2/5000",
         "2 of 3"},
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:2", "i-4", "i-4:3/5000", ""},
        /* A reading carried forward (paced) is no new evidence: nothing counts, nothing is
         * marked. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, false, 3, "i-4:unhealthy", "i-4:2", "", "i-4:2",
         "not read this cycle"},
        /* Healthy again: the count starts over. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 4, "", "i-4:2", "", "", ""},
        /* Off: the memory is kept (turning it on finds it), nothing is marked. */
        {"", "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:5", "", "i-4:6/5000",
         "replace_unhealthy is off"},
        /* At most max_replace_percent of the group at once (25% of 8: 2), the longest
         * unhealthy first. */
        {on2, eight, 0, 0, true, 5, "i-1:unhealthy i-2:unhealthy i-3:unhealthy",
         "i-1:1,i-2:4,i-3:2", "i-2,i-3", "i-1:2/5000,i-2:5/5000,i-3:3/5000",
         "1 more wait: at most 2 of 8"},
        {half, eight, 0, 0, true, 5, "i-1:unhealthy i-2:unhealthy i-3:unhealthy",
         "i-1:3,i-2:3,i-3:3", "i-1,i-2,i-3", "i-1:4/5000,i-2:4/5000,i-3:4/5000", ""},
        /* At least one, however small the group. */
        {on, "i-1 i-2", 0, 0, true, 1, "i-2:unhealthy", "i-2:2", "i-2", "i-2:3/5000", ""},
        /* Every target unhealthy: an outage, never a marking, and no evidence against an
         * instance: every count ends (a marking is still remembered). */
        {on, "i-1 i-2 i-3", 0, 0, true, 0, "i-1:unhealthy i-2:unhealthy i-3:unhealthy",
         "i-1:5,i-2:5,i-3:5", "", "", "an outage"},
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 0, "i-1:unhealthy i-2:unhealthy i-3:unhealthy",
         "i-1:1,i-4:2@4900", "", "i-4:0@4900", "an outage"},
        /* The first target healthy again: those still recovering count from one. */
        {on, "i-1 i-2 i-3", 0, 0, true, 1, "i-2:unhealthy i-3:unhealthy", "", "",
         "i-2:1/5000,i-3:1/5000", "2 instances unhealthy, the longest for 1 of 3"},
        /* A replacement in progress: launching, terminating, or the group's own unhealthy. */
        {on, "i-1 i-2 i-3 i-4", 1, 0, true, 3, "i-4:unhealthy", "i-4:2", "", "i-4:3/5000",
         "in progress (1 pending"},
        {on, "i-1 i-2 i-3 i-4", 0, 1, true, 3, "i-4:unhealthy", "i-4:2", "", "i-4:3/5000",
         "1 terminating"},
        {on, "i-1 i-2! i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:2", "", "i-4:3/5000",
         "1 unhealthy in the group"},
        /* Marked by bsupd and still in the group (the group shows it healthy yet): nothing new;
         * the marked one is not marked again. */
        {on, "i-1 i-2 i-3 i-4 i-5", 0, 0, true, 3, "i-4:unhealthy i-5:unhealthy",
         "i-4:3@4900,i-5:3", "", "i-4:4@4900/5000,i-5:4/5000", "1 marked"},
        /* Gone from the group: the marking is done and forgotten; the next may go. */
        {on, "i-1 i-2 i-3 i-5", 0, 0, true, 3, "i-5:unhealthy", "i-4:3@4900,i-5:3", "i-5",
         "i-5:4/5000", ""},
        /* A marking AWS ignored (grace period) expires after grace_period + 10 minutes: the
         * instance may be marked again. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:9@4200", "",
         "i-4:10@4200/5000", "1 marked"},
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:9@4101", "",
         "i-4:10@4101/5000", "1 marked"},
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:9@4100", "i-4", "i-4:10/5000",
         ""},
        /* At the load balancer's pace: a reading within the target group's health-check
         * interval (30 s here) of the last one counted is the same verdict read again (a
         * requested cycle): it neither grows nor ends the streak, and marks nothing early. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:2/4971", "", "i-4:2/4971",
         "2 of 3 observations (one counts per health-check interval of the target group: this "
         "reading came too soon)"},
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:2/4970", "i-4", "i-4:3/5000",
         ""},
        /* ... a count already reached (a replacement was in progress then) still marks. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:3/4990", "i-4", "i-4:3/4990",
         ""},
        /* ... a healthy reading, or an outage, ends the streak however soon it comes. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 4, "", "i-4:2/4999", "", "", ""},
        {on, "i-1 i-2 i-3", 0, 0, true, 0, "i-1:unhealthy i-2:unhealthy i-3:unhealthy",
         "i-1:2/4999", "", "", "an outage"},
        /* ... a last count ahead of the clock (set back since) is long ago. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:unhealthy", "i-4:2/6000", "i-4", "i-4:3/5000",
         ""},
        /* Only the group's own in-service instances: a stranger target or one in standby is
         * never marked. */
        {on, "i-1 i-2 i-3 i-4~", 0, 0, true, 3, "i-4:unhealthy i-9:unhealthy", "i-4:3,i-9:3", "",
         "i-4:4/5000,i-9:4/5000",
         "2 instances unhealthy, but none is an in-service, healthy instance"},
        /* An IP target is never an instance of the group: not counted. */
        {on, "i-1 i-2", 0, 0, true, 2, "10.0.0.5:unhealthy", "", "", "", ""},
        /* Not healthy but not unhealthy (registering, unused): not counted. */
        {on, "i-1 i-2 i-3 i-4", 0, 0, true, 3, "i-4:initial", "i-4:2", "", "", ""},
        /* Never read: nothing to go on. */
        {on, "i-1 i-2", 0, 0, false, 0, "", "", "", "", "not read yet"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (r == sizeof(rows) / sizeof(rows[0]) - 1)
            continue; /* needs health_read_at 0: below */
        s_damp(&rows[r], r);
    }
    /* Never read. */
    struct bsup_service svc = s_service(on);
    struct bsup_health_observed h = s_group();
    h.health_read_at = 0;
    h.health_fresh = false;
    struct bsup_asg_observed g = {.found = true, .instances = 2};
    struct bsup_health_history none = {0};
    struct bsup_health_damp_in in = {
        .cfg = &svc.health_check, .now_s = 5000, .health = &h, .group = &g, .history = &none};
    struct bsup_replace_observed out = {0};
    bsup_health_damp(&in, &out);
    assert_int_equal(out.n_candidates, 0);
    assert_non_null(strstr(out.waiting, "not read yet"));
    assert_int_equal(out.cap, 1);
    bsup_service_cleanup(&svc);
}

/* Cycles at the given times, each reading i-4 unhealthy afresh, the memory carried from one to
 * the next: how many readings counted, and when i-4 was first marked (0: never). */
static int64_t s_paced(int64_t interval_s, const int64_t *at, size_t n, int64_t *out_marked_at)
{
    struct bsup_service svc = s_service("health_check: {replace_unhealthy: true}\n");
    struct bsup_health_observed h = s_group();
    h.interval_s = interval_s;
    s_targets(&h, 3, "i-4:unhealthy");
    struct bsup_asg_observed g = {.found = true, .instances = 4, .n_listed = 4};
    for (int i = 0; i < 4; i++) {
        snprintf(g.listed[i].id, sizeof(g.listed[i].id), "i-%d", i + 1);
        g.listed[i].in_service = g.listed[i].healthy = true;
    }
    struct bsup_health_history mem = {0};
    struct bsup_replace_observed out = {0};
    *out_marked_at = 0;
    for (size_t i = 0; i < n && !*out_marked_at; i++) {
        h.health_read_at = at[i];
        struct bsup_health_damp_in in = {
            .cfg = &svc.health_check, .now_s = at[i], .health = &h, .group = &g, .history = &mem};
        memset(&out, 0, sizeof(out));
        bsup_health_damp(&in, &out);
        if (out.n_candidates)
            *out_marked_at = at[i];
        mem = out.history;
    }
    bsup_service_cleanup(&svc);
    return mem.n ? mem.v[0].streak : 0;
}

/* Requested cycles back to back (bsupctl reconcile --wait, reloads, --once runs) do not bring
 * a marking forward: readings count one per health-check interval of the target group. */
static void test_damping_pace(void **state)
{
    (void)state;
    int64_t marked_at;
    /* Six cycles in a second, then a minute on: two readings counted, nothing marked. */
    const int64_t rapid[] = {5000, 5000, 5000, 5001, 5001, 5001, 5060};
    assert_int_equal(s_paced(30, rapid, 7, &marked_at), 2);
    assert_int_equal(marked_at, 0);
    /* Spaced by the interval (5 s, ELBv2's least), with requested cycles between: the third
     * counted reading marks. */
    const int64_t spaced[] = {5000, 5002, 5004, 5005, 5009, 5010};
    assert_int_equal(s_paced(5, spaced, 6, &marked_at), 3);
    assert_int_equal(marked_at, 5010);
    /* The timer's own cycles (interval 60 s) are never too soon for a 30 s health check. */
    const int64_t timer[] = {5000, 5060, 5120};
    s_paced(30, timer, 3, &marked_at);
    assert_int_equal(marked_at, 5120);
    /* A target group whose interval is unknown: ELBv2's default, 30 s. */
    const int64_t unknown[] = {5000, 5029, 5030, 5059, 5060};
    s_paced(0, unknown, 5, &marked_at);
    assert_int_equal(marked_at, 5060);
}

static const struct bsup_observe_step *s_step(const char *action)
{
    for (size_t i = 0; i < bsup_health_domain.n_steps; i++)
        if (strcmp(bsup_health_domain.steps[i].action, action) == 0)
            return &bsup_health_domain.steps[i];
    fail_msg("no step %s", action);
    return NULL;
}

/* The metric fields (HealthyHostCount, UnhealthyHostCount): -1, no datum, until the target
 * group's targets were read; then the reading's counts, carried forward between readings. */
static void test_host_counts(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("");
    const struct bsup_observe_step *st = s_step("DescribeTargetHealth");
    struct bsup_health_observed obs = s_group(), prev;
    obs.health_read_at = 0;
    memset(obs.counts, 0, sizeof(obs.counts));
    struct bsup_domain_member m = {.desired = &svc, .obs = &obs, .now_s = 2000};
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_int_equal(st->prepare(&m, key), 90); /* never read: soon */
    assert_int_equal(obs.healthy_hosts, -1);
    assert_int_equal(obs.unhealthy_hosts, -1);
    struct bsup_buf text = BSUP_BUF_INIT(1 << 20, 0);
    bsup_domain_obs_write(&text, &bsup_health_domain, &obs);
    json_t *fields = json_loads(bsup_buf_str(&text), 0, NULL);
    assert_non_null(fields);
    assert_int_equal(json_integer_value(json_object_get(fields, "healthy")), -1);
    json_decref(fields);
    bsup_buf_cleanup(&text);
    json_t *pages =
        json_pack("[{s:[{s:{s:s}, s:{s:s}}, {s:{s:s}, s:{s:s}}, {s:{s:s}, s:{s:s, s:s}}]}]",
                  "TargetHealthDescriptions", "Target", "Id", "i-1", "TargetHealth", "State",
                  "healthy", "Target", "Id", "i-2", "TargetHealth", "State", "healthy", "Target",
                  "Id", "i-3", "TargetHealth", "State", "unhealthy", "Reason", "Target.Timeout");
    struct bsup_domain_member *ms[] = {&m};
    struct bsup_diag diag = {0};
    assert_int_equal(st->parse(pages, ms, 1, &diag), 0);
    json_decref(pages);
    assert_int_equal(obs.healthy_hosts, 2);
    assert_int_equal(obs.unhealthy_hosts, 1);
    /* The next cycle does not read (not due): the counts are carried, and known. */
    prev = obs;
    obs = s_group();
    obs.health_read_at = 0;
    memset(obs.counts, 0, sizeof(obs.counts));
    m.prev = &prev;
    m.now_s = 2010;
    assert_true(st->prepare(&m, key) > 0); /* a target not healthy: looks wrong */
    assert_false(obs.health_fresh);
    assert_int_equal(obs.healthy_hosts, 2);
    assert_int_equal(obs.unhealthy_hosts, 1);
    /* Another target group (its ARN changed): unknown again. */
    obs = s_group();
    obs.health_read_at = 0;
    snprintf(obs.arn, sizeof(obs.arn), "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x/2");
    assert_int_equal(st->prepare(&m, key), 90);
    assert_int_equal(obs.healthy_hosts, -1);
    bsup_service_cleanup(&svc);
}

/* The load balancer's answer for one group: HealthyHostCount (h0) and UnHealthyHostCount (u0),
 * latest minute first. */
static json_t *s_metric_pages(int64_t at, double healthy, double unhealthy)
{
    return json_pack("[{s:[{s:s, s:s, s:[I, I], s:[f, f]}, {s:s, s:s, s:[I], s:[f]}]}]",
                     "MetricDataResults", "Id", "h0", "StatusCode", "Complete", "Timestamps",
                     (json_int_t)at, (json_int_t)(at - 60), "Values", healthy, 1.0, "Id", "u0",
                     "StatusCode", "Complete", "Timestamps", (json_int_t)at, "Values", unhealthy);
}

/* A group never read: CloudWatch's word that every target was healthy, as many as the floor,
 * is its first reading; any other answer leaves the targets to be read. */
static void test_metrics_first_reading(void **state)
{
    (void)state;
    struct bsup_service svc = s_service(""); /* min_size 2: min_healthy 2 */
    const struct bsup_observe_step *st = s_step("GetMetricData");
    const struct bsup_observe_step *th = s_step("DescribeTargetHealth");
    const int64_t now = 1800000030, minute = 1799999880; /* the window's start */
    struct {
        const char *lb; /* NULL: none */
        bool answered;  /* a datapoint came */
        double healthy, unhealthy;
        bool reading; /* taken as the reading */
    } rows[] = {
        {"app/api-prod/9", true, 3, 0, true},
        {"net/api-prod/9", true, 2, 0, true},   /* an NLB: AWS/NetworkELB */
        {"app/api-prod/9", true, 2, 1, false},  /* one unhealthy */
        {"app/api-prod/9", true, 1, 0, false},  /* below min_healthy */
        {"app/api-prod/9", false, 0, 0, false}, /* no datapoint (new, or no traffic yet) */
        {NULL, false, 0, 0, false},             /* no load balancer: no metrics */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_health_observed obs = s_group();
        obs.health_read_at = 0;
        obs.targets = 0;
        memset(obs.counts, 0, sizeof(obs.counts));
        snprintf(obs.lb_arn, sizeof(obs.lb_arn), "%s%s",
                 rows[i].lb ? "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/" : "",
                 rows[i].lb ? rows[i].lb : "");
        struct bsup_health_observed twin = obs;
        struct bsup_domain_member m = {.desired = &svc, .obs = &obs, .now_s = now};
        struct bsup_domain_member m2 = {.desired = &svc, .obs = &twin, .now_s = now};
        char key[BSUP_DOMAIN_KEY_MAX];
        if (!rows[i].lb) {
            assert_int_equal(st->prepare(&m, key), 0);
            assert_int_equal(th->prepare(&m, key), 90);
            continue;
        }
        assert_int_equal(st->prepare(&m, key), 1);
        assert_int_equal(st->prepare(&m2, key), 1);
        char want[200];
        snprintf(want, sizeof(want), "targetgroup/api-prod/1 %s", rows[i].lb);
        assert_string_equal(key, want);
        /* Two services of one group: one pair of queries. */
        struct bsup_domain_member *ms[] = {&m, &m2};
        struct bsup_aws_params p = {0};
        assert_int_equal(st->build(ms, 2, &p), 0);
        const char *q = "MetricDataQueries.member.";
        char name[160];
        snprintf(name, sizeof(name), "%s2.MetricStat.Metric.MetricName", q);
        assert_string_equal(bsup_aws_params_get(&p, name), "UnHealthyHostCount");
        snprintf(name, sizeof(name), "%s1.MetricStat.Metric.Namespace", q);
        assert_string_equal(bsup_aws_params_get(&p, name),
                            rows[i].lb[0] == 'n' ? "AWS/NetworkELB" : "AWS/ApplicationELB");
        snprintf(name, sizeof(name), "%s1.MetricStat.Metric.Dimensions.member.1.Value", q);
        assert_string_equal(bsup_aws_params_get(&p, name), "targetgroup/api-prod/1");
        snprintf(name, sizeof(name), "%s1.MetricStat.Metric.Dimensions.member.2.Value", q);
        assert_string_equal(bsup_aws_params_get(&p, name), rows[i].lb);
        snprintf(name, sizeof(name), "%s3.Id", q);
        assert_null(bsup_aws_params_get(&p, name));
        assert_string_equal(bsup_aws_params_get(&p, "EndTime"), "2027-01-15T08:01:00Z");
        assert_string_equal(bsup_aws_params_get(&p, "StartTime"), "2027-01-15T07:58:00Z");
        snprintf(name, sizeof(name), "%s1.MetricStat.Period", q);
        assert_string_equal(bsup_aws_params_get(&p, name), "180");
        bsup_aws_params_cleanup(&p);

        json_t *pages = rows[i].answered
                            ? s_metric_pages(minute, rows[i].healthy, rows[i].unhealthy)
                            : json_pack("[{s:[]}]", "MetricDataResults");
        struct bsup_diag diag = {0};
        assert_int_equal(st->parse(pages, ms, 2, &diag), 0);
        json_decref(pages);
        for (size_t k = 0; k < 2; k++) {
            const struct bsup_health_observed *o = k ? &twin : &obs;
            assert_int_equal(o->health_from_metrics, rows[i].reading);
            assert_int_equal(o->health_read_at, rows[i].reading ? minute : 0);
            assert_int_equal(o->healthy_hosts, rows[i].reading ? (int64_t)rows[i].healthy : -1);
            assert_int_equal(o->unhealthy_hosts, rows[i].reading ? 0 : -1);
            assert_false(o->health_fresh); /* no fresh reading: no damping count */
        }
        /* A reading spares the targets' read until the sweep; else they are read now. */
        assert_int_equal(th->prepare(&m, key), rows[i].reading ? 0 : 90);
    }
    bsup_service_cleanup(&svc);
}

/* A listener's serving action is the last of its default actions by Order (an
 * authenticate-oidc first, then the redirect), whatever the list's order. */
static void test_listener_action(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("");
    const struct bsup_observe_step *st = s_step("DescribeListeners");
    struct bsup_health_observed obs = s_group();
    struct bsup_domain_member m = {.desired = &svc, .obs = &obs, .now_s = 2000};
    json_t *pages = json_pack(
        "[{s:[{s:i, s:s, s:[{s:s, s:i}, {s:s, s:i, s:{s:s}}]}, {s:i, s:s, s:[{s:s, s:i}]}]}]",
        "Listeners", "Port", 80, "Protocol", "HTTP", "DefaultActions", "Type", "authenticate-oidc",
        "Order", 1, "Type", "redirect", "Order", 2, "RedirectConfig", "Protocol", "HTTPS", "Port",
        8080, "Protocol", "HTTP", "DefaultActions", "Type", "forward", "Order", 1);
    struct bsup_domain_member *ms[] = {&m};
    struct bsup_diag diag = {0};
    assert_int_equal(st->parse(pages, ms, 1, &diag), 0);
    json_decref(pages);
    assert_int_equal(obs.n_listeners, 2);
    assert_string_equal(obs.listeners[0].action, "redirect");
    assert_true(obs.listeners[0].to_https);
    assert_string_equal(obs.listeners[1].action, "forward");
    assert_false(obs.listeners[1].to_https);
    bsup_service_cleanup(&svc);
}

/* The memory's text: what the cache keeps across restarts. */
static void test_memory_text(void **state)
{
    (void)state;
    struct bsup_health_history h;
    bsup_health_history_parse("i-1:3,i-2:0@1795611060,,garbage,i-3:x,:4,i-4:2@,i-5:2/1795611000,"
                              "i-6:1@1795610000/1795611030,i-7:1/-5",
                              &h);
    assert_int_equal(h.n, 5);
    assert_string_equal(h.v[0].id, "i-1");
    assert_int_equal(h.v[0].streak, 3);
    assert_int_equal(h.v[0].counted_at, 0); /* written before counted_at was kept: long ago */
    assert_int_equal(h.v[1].marked_at, 1795611060);
    assert_int_equal(h.v[3].counted_at, 1795611000);
    assert_int_equal(h.v[4].marked_at, 1795610000);
    assert_int_equal(h.v[4].counted_at, 1795611030);
    char text[1200];
    bsup_health_history_format(&h, text, sizeof(text));
    assert_string_equal(
        text, "i-1:3,i-2:0@1795611060,i-4:2,i-5:2/1795611000,i-6:1@1795610000/1795611030");
    bsup_health_history_parse(NULL, &h);
    assert_int_equal(h.n, 0);
    /* Bounded: BSUP_HEALTH_MAX_TRACKED entries, whole entries only when the text is short. */
    char big[4096] = "";
    for (int i = 0; i < 40; i++) {
        size_t used = strlen(big);
        snprintf(big + used, sizeof(big) - used, "%si-%017d:%d", i ? "," : "", i, i);
    }
    bsup_health_history_parse(big, &h);
    assert_int_equal(h.n, BSUP_HEALTH_MAX_TRACKED);
    char small[50];
    bsup_health_history_format(&h, small, sizeof(small));
    assert_string_equal(small, "i-00000000000000000:0,i-00000000000000001:1");
}

static void test_state_names(void **state)
{
    (void)state;
    assert_int_equal(bsup_target_state_from_name("healthy"), BSUP_TARGET_HEALTHY);
    assert_int_equal(bsup_target_state_from_name("unhealthy"), BSUP_TARGET_UNHEALTHY);
    assert_int_equal(bsup_target_state_from_name("unhealthy.draining"), BSUP_TARGET_DRAINING);
    assert_int_equal(bsup_target_state_from_name("unused"), BSUP_TARGET_UNUSED);
    assert_int_equal(bsup_target_state_from_name("something-new"), BSUP_TARGET_UNAVAILABLE);
    assert_int_equal(bsup_target_state_from_name(NULL), BSUP_TARGET_UNAVAILABLE);
    for (int i = 0; i < BSUP_TARGET_STATE_COUNT; i++)
        assert_int_equal(bsup_target_state_from_name(bsup_target_state_name(i)), i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_table),
        cmocka_unit_test(test_declared_pair),
        cmocka_unit_test(test_unjudged),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_damping),
        cmocka_unit_test(test_damping_pace),
        cmocka_unit_test(test_memory_text),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_host_counts),
        cmocka_unit_test(test_listener_action),
        cmocka_unit_test(test_metrics_first_reading),
    };
    return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
