/* The scaling reconciler's plan: a table of observed groups and the plan each must give. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "core/reconcile/plan.h"
#include "core/reconcile/rails.h"
#include "core/reconcile/scaling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct bsup_service s_service(const char *extra)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "service_name: api\nenvironment: prod\nvpc_id: vpc-0a1b2c3d\n"
             "subnet_ids: [subnet-0a1b2c3d, subnet-0a1b2c3e]\ndatabase_name: a\n"
             "database_username: a\ndatabase_password: ssm:/a\ninstance_type: t3.large\n"
             "min_size: 2\nmax_size: 6\n%s",
             extra);
    return bsup_test_service(yaml);
}

static struct bsup_asg_observed s_group(int64_t min, int64_t max, int64_t desired)
{
    struct bsup_asg_observed g = {.found = true,
                                  .min_size = min,
                                  .max_size = max,
                                  .desired_capacity = desired,
                                  .health_check_type = "ELB",
                                  .health_check_grace_s = 300,
                                  .has_target_groups = true,
                                  .instance_type = "t3.large",
                                  .in_service = desired,
                                  .healthy_in_service = desired};
    snprintf(g.name, sizeof(g.name), "api-prod");
    snprintf(g.vpc_zone_identifier, sizeof(g.vpc_zone_identifier),
             "subnet-0a1b2c3e,subnet-0a1b2c3d");
    g.subnets_match = true; /* the same set in another order: see test_subnets */
    return g;
}

/* The value the domain would send for name in the request of action a, as a number; -1 when
 * the request leaves it out. */
static int64_t s_sent(const struct bsup_service *svc, const struct bsup_asg_observed *g,
                      const struct bsup_action *a, const char *name)
{
    struct bsup_aws_params params = {0};
    const char *action = NULL;
    assert_int_equal(bsup_scaling_domain.request(svc, g, a, &action, &params), 0);
    assert_string_equal(action, "UpdateAutoScalingGroup");
    const char *v = bsup_aws_params_get(&params, name);
    int64_t n = v ? strtoll(v, NULL, 10) : -1;
    bsup_aws_params_cleanup(&params);
    return n;
}

static const struct bsup_change *s_change(const struct bsup_plan *p, enum bsup_action_kind kind,
                                          const char *field)
{
    for (size_t i = 0; i < p->n_actions; i++)
        for (size_t j = 0; p->actions[i].kind == kind && j < p->actions[i].n_changes; j++)
            if (strcmp(p->actions[i].changes[j].field, field) == 0)
                return &p->actions[i].changes[j];
    return NULL;
}

static void test_in_sync(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("");
    struct bsup_asg_observed g = s_group(2, 6, 3);
    struct bsup_plan p;
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&svc, &g, &p), 0);
    assert_int_equal(p.n_actions, 0);
    assert_false(bsup_plan_has_drift(&p));
    bsup_plan_cleanup(&p);
    bsup_service_cleanup(&svc);
}

static void test_bounds_drift_and_clamp(void **state)
{
    (void)state;
    struct {
        int64_t min, max, desired;
        int64_t want_min, want_max, want_desired; /* -1: unchanged */
        bool held;
    } rows[] = {
        {1, 10, 3, 2, 6, -1, false},  /* bounds only; desired inside stays the group's */
        {1, 10, 1, 2, 6, 2, false},   /* desired below min: raised to min */
        {2, 10, 8, -1, 6, 6, true},   /* would terminate 2 healthy instances: held */
        {2, 6, 6, -1, -1, -1, false}, /* at the top of the bounds: fine */
        {3, 3, 3, 2, 6, -1, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_service svc = s_service("");
        struct bsup_asg_observed g = s_group(rows[i].min, rows[i].max, rows[i].desired);
        struct bsup_plan p;
        bsup_plan_init(&p);
        assert_int_equal(bsup_scaling_plan(&svc, &g, &p), 0);
        bool any = rows[i].want_min >= 0 || rows[i].want_max >= 0 || rows[i].want_desired >= 0;
        assert_int_equal(p.n_actions, any ? 1 : 0);
        if (any) {
            const struct bsup_action *a = &p.actions[0];
            assert_int_equal(a->kind, BSUP_ACTION_UPDATE);
            assert_string_equal(a->resource, "autoscaling-group/api-prod");
            assert_int_equal(s_sent(&svc, &g, a, "MinSize"), rows[i].want_min);
            assert_int_equal(s_sent(&svc, &g, a, "MaxSize"), rows[i].want_max);
            assert_int_equal(s_sent(&svc, &g, a, "DesiredCapacity"), rows[i].want_desired);
            assert_int_equal(a->hold != BSUP_HOLD_NONE, rows[i].held);
            if (rows[i].held)
                assert_non_null(strstr(a->held_reason, "healthy in-service instances (8)"));
        }
        bsup_plan_cleanup(&p);
        bsup_service_cleanup(&svc);
    }

    struct bsup_service svc = s_service("");
    struct bsup_asg_observed g = s_group(1, 10, 3);
    struct bsup_plan p;
    bsup_plan_init(&p);
    bsup_scaling_plan(&svc, &g, &p);
    const struct bsup_change *c = s_change(&p, BSUP_ACTION_UPDATE, "MaxSize");
    assert_non_null(c);
    assert_string_equal(c->observed, "10");
    assert_string_equal(c->desired, "6");
    assert_string_equal(c->reason, "max_size in the drop-in");
    json_t *j = bsup_plan_json(&p);
    char *json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(strstr(json, "\"action\":\"update\""));
    assert_non_null(strstr(json, "{\"field\":\"MinSize\",\"observed\":\"1\",\"desired\":\"2\""));
    free(json);
    bsup_plan_cleanup(&p);
    bsup_service_cleanup(&svc);
}

static void test_missing_group(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("resources: {auto_scaling_group: api-asg}\n");
    struct bsup_asg_observed g = {.found = false};
    struct bsup_plan p;
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&svc, &g, &p), 0);
    assert_int_equal(p.n_actions, 1);
    assert_int_equal(p.actions[0].kind, BSUP_ACTION_MISSING);
    assert_string_equal(p.actions[0].resource, "autoscaling-group/api-asg");
    assert_true(bsup_plan_has_drift(&p));
    bsup_plan_cleanup(&p);
    bsup_service_cleanup(&svc);
}

static void test_health_check_and_reports(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("health_check: {grace_period: 2m}\n");
    struct bsup_asg_observed g = s_group(2, 6, 2);
    snprintf(g.health_check_type, sizeof(g.health_check_type), "EC2");
    snprintf(g.vpc_zone_identifier, sizeof(g.vpc_zone_identifier), "subnet-0a1b2c3d");
    g.subnets_match = bsup_scaling_same_subnets(g.vpc_zone_identifier, &svc.subnet_ids);
    snprintf(g.instance_type, sizeof(g.instance_type), "t3.micro");
    struct bsup_plan p;
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&svc, &g, &p), 0);
    assert_int_equal(p.n_actions, 2);
    struct bsup_aws_params params = {0};
    const char *action = NULL;
    assert_int_equal(bsup_scaling_domain.request(&svc, &g, &p.actions[0], &action, &params), 0);
    assert_string_equal(bsup_aws_params_get(&params, "HealthCheckType"), "ELB");
    assert_string_equal(bsup_aws_params_get(&params, "HealthCheckGracePeriod"), "120");
    assert_string_equal(bsup_aws_params_get(&params, "AutoScalingGroupName"), "api-prod");
    bsup_aws_params_cleanup(&params);
    assert_non_null(s_change(&p, BSUP_ACTION_UPDATE, "HealthCheckGracePeriod"));
    const struct bsup_change *c = s_change(&p, BSUP_ACTION_REPORT, "VPCZoneIdentifier");
    assert_non_null(c);
    assert_string_equal(c->desired, "subnet-0a1b2c3d,subnet-0a1b2c3e");
    c = s_change(&p, BSUP_ACTION_REPORT, "InstanceType");
    assert_non_null(c);
    assert_string_equal(c->observed, "t3.micro");
    bsup_plan_cleanup(&p);

    /* With the damped replacement on, the group must not replace instances itself. */
    struct bsup_service damped = s_service("health_check: {replace_unhealthy: true}\n");
    g = s_group(2, 6, 2);
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&damped, &g, &p), 0);
    c = s_change(&p, BSUP_ACTION_UPDATE, "HealthCheckType");
    assert_non_null(c);
    assert_string_equal(c->observed, "ELB");
    assert_string_equal(c->desired, "EC2");
    assert_non_null(strstr(c->reason, "damped"));
    bsup_plan_cleanup(&p);

    /* HealthCheckType is a list: bsupd switches ELB on or off and keeps the types it does not
     * manage (EBS, VPC_LATTICE); EC2 is always on and written only alone. */
    const struct {
        const char *have;
        bool damped;
        const char *want; /* NULL: no change */
    } types[] = {
        {"EBS,ELB", false, NULL},
        {"ELB,EBS", false, NULL},
        {"EBS", false, "EBS,ELB"},
        {"EC2,EBS", false, "EBS,ELB"},
        {"ELB,EBS", true, "EBS"},
        {"VPC_LATTICE,ELB", true, "VPC_LATTICE"},
        {"EC2", true, NULL},
        {"EBS", true, NULL},
        {"EBS,ELB,VPC_LATTICE", false, NULL},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        g = s_group(2, 6, 2);
        snprintf(g.health_check_type, sizeof(g.health_check_type), "%s", types[i].have);
        bsup_plan_init(&p);
        assert_int_equal(bsup_scaling_plan(types[i].damped ? &damped : &svc, &g, &p), 0);
        c = s_change(&p, BSUP_ACTION_UPDATE, "HealthCheckType");
        if (!types[i].want) {
            assert_null(c);
        } else {
            assert_non_null(c);
            assert_string_equal(c->observed, types[i].have);
            assert_string_equal(c->desired, types[i].want);
            assert_int_equal(bsup_scaling_domain.request(types[i].damped ? &damped : &svc, &g,
                                                         &p.actions[0], &action, &params),
                             0);
            assert_string_equal(bsup_aws_params_get(&params, "HealthCheckType"), types[i].want);
            bsup_aws_params_cleanup(&params);
        }
        bsup_plan_cleanup(&p);
    }
    bsup_service_cleanup(&damped);

    /* An undeclared grace period is the group's own: a 600 s one a module set is not reset
     * to the 300 s default. */
    struct bsup_service silent = s_service("");
    g = s_group(2, 6, 2);
    g.health_check_grace_s = 600;
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&silent, &g, &p), 0);
    assert_null(s_change(&p, BSUP_ACTION_UPDATE, "HealthCheckGracePeriod"));
    bsup_plan_cleanup(&p);

    /* ... but switching the type sets the default with it, and the plan says so: what the
     * plan, the event and the journal show is what the call sends. */
    snprintf(g.health_check_type, sizeof(g.health_check_type), "EC2");
    g.health_check_grace_s = 10;
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&silent, &g, &p), 0);
    c = s_change(&p, BSUP_ACTION_UPDATE, "HealthCheckGracePeriod");
    assert_non_null(c);
    assert_string_equal(c->observed, "10");
    assert_string_equal(c->desired, "300");
    assert_int_equal(s_sent(&silent, &g, &p.actions[0], "HealthCheckGracePeriod"), 300);
    bsup_plan_cleanup(&p);
    g.health_check_grace_s = 300; /* already the default: nothing to say, nothing sent */
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&silent, &g, &p), 0);
    assert_null(s_change(&p, BSUP_ACTION_UPDATE, "HealthCheckGracePeriod"));
    assert_int_equal(s_sent(&silent, &g, &p.actions[0], "HealthCheckGracePeriod"), -1);
    bsup_plan_cleanup(&p);
    bsup_service_cleanup(&silent);

    /* Without a target group, the health-check type is the group's business. */
    g = s_group(2, 6, 2);
    g.has_target_groups = false;
    snprintf(g.health_check_type, sizeof(g.health_check_type), "EC2");
    bsup_plan_init(&p);
    assert_int_equal(bsup_scaling_plan(&svc, &g, &p), 0);
    assert_int_equal(p.n_actions, 0);
    bsup_plan_cleanup(&p);
    bsup_service_cleanup(&svc);
}

static void test_subnets(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("");
    struct {
        const char *observed;
        bool same;
    } rows[] = {
        {"subnet-0a1b2c3d,subnet-0a1b2c3e", true},
        {"subnet-0a1b2c3e,subnet-0a1b2c3d", true},
        {"subnet-0a1b2c3d", false},
        {"subnet-0a1b2c3d,subnet-0a1b2c3e,subnet-0a1b2c3f", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(bsup_scaling_same_subnets(rows[i].observed, &svc.subnet_ids),
                         rows[i].same);
    bsup_service_cleanup(&svc);
}

static void test_rails(void **state)
{
    (void)state;
    struct bsup_rails_config cfg = BSUP_RAILS_DEFAULTS;
    struct bsup_resource_memory mem = {0};
    /* Drift bsupd never corrected is not a fight. */
    assert_false(bsup_rails_observe(&cfg, &mem, true, 0));
    assert_int_equal(mem.corrections_in_a_row, 0);
    /* Corrected, and back again after each of three corrections: fighting. */
    mem.last_change_s = 100;
    mem.changes = 1;
    assert_false(bsup_rails_observe(&cfg, &mem, true, 0));
    /* Drift seen again without a new correction (cooldown, caps) does not count. */
    assert_false(bsup_rails_observe(&cfg, &mem, true, 0));
    assert_int_equal(mem.corrections_in_a_row, 1);
    mem.changes = 2;
    assert_false(bsup_rails_observe(&cfg, &mem, true, 0));
    mem.changes = 3;
    assert_true(bsup_rails_observe(&cfg, &mem, true, 0));
    assert_true(mem.fighting);
    mem.changes = 4;
    assert_false(bsup_rails_observe(&cfg, &mem, true, 0)); /* reported once */

    struct bsup_plan p;
    bsup_plan_init(&p);
    struct bsup_action *a = bsup_plan_add(&p, BSUP_ACTION_UPDATE, "autoscaling-group/x");
    int cycle = 20, svc = 3;
    bsup_rails_gate(&cfg, &mem, a, 1000, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_FIGHTING);
    assert_non_null(strstr(a->held_reason, "fighting"));
    assert_int_equal(cycle, 20);

    /* Converged: the fight is forgotten. */
    assert_false(bsup_rails_observe(&cfg, &mem, false, 0));
    assert_false(mem.fighting);
    /* A correction that converged held: when the drift comes back later, a fight takes three
     * new corrections after which it comes back, not two and that one. */
    struct bsup_resource_memory later = {.changes = 1, .last_change_s = 100};
    assert_false(bsup_rails_observe(&cfg, &later, false, 0));
    for (int k = 1; k <= 4; k++) {
        assert_int_equal(bsup_rails_observe(&cfg, &later, true, 0), k == 4);
        later.changes++; /* corrected */
    }
    assert_int_equal(later.corrections_in_a_row, 3);

    /* The operator's own edits are not a fight: each correction set a new desired value. */
    struct bsup_resource_memory ed = {0};
    struct bsup_action e = {0};
    int64_t sig = 0;
    for (int v = 4; v <= 8; v++) {
        char want[8];
        snprintf(want, sizeof(want), "%d", v);
        e.n_changes = 0;
        bsup_action_change(&e, "MaxSize", "3", want, "max_size in the drop-in");
        sig = bsup_action_desired_sig(&e);
        assert_false(bsup_rails_observe(&cfg, &ed, true, sig));
        ed.changes++; /* applied */
        ed.desired_sig = sig;
    }
    assert_int_equal(ed.corrections_in_a_row, 0);
    assert_false(ed.fighting);
    /* The same desired value coming back after each correction is: fighting at 3. */
    for (int k = 1; k <= 3; k++) {
        assert_int_equal(bsup_rails_observe(&cfg, &ed, true, sig), k == 3);
        ed.changes++;
    }
    /* A new desired value ends it: the operator decided. */
    e.n_changes = 0;
    bsup_action_change(&e, "MaxSize", "3", "12", "max_size in the drop-in");
    assert_int_not_equal(bsup_action_desired_sig(&e), sig);
    assert_false(bsup_rails_observe(&cfg, &ed, true, bsup_action_desired_sig(&e)));
    assert_false(ed.fighting);

    /* Cooldown, then caps. */
    a->hold = BSUP_HOLD_NONE;
    bsup_rails_gate(&cfg, &mem, a, 150, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_COOLDOWN);
    assert_string_equal(a->held_reason, "cooldown: changed 50s ago; next change allowed in 70s");
    a->hold = BSUP_HOLD_NONE;
    a->cleanup = true; /* bsupd removing what it made: no cooldown */
    bsup_rails_gate(&cfg, &mem, a, 150, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_NONE);
    cycle++, svc++; /* (it took one of each cap) */
    a->cleanup = false;
    bsup_rails_gate(&cfg, &mem, a, 1000, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_NONE);
    assert_int_equal(cycle, 19);
    assert_int_equal(svc, 2);
    svc = 0;
    bsup_rails_gate(&cfg, &mem, a, 1000, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_CAP_SERVICE);
    assert_non_null(strstr(a->held_reason, "per service"));
    a->hold = BSUP_HOLD_NONE;
    svc = 1;
    cycle = 0;
    bsup_rails_gate(&cfg, &mem, a, 1000, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_CAP_CYCLE);
    assert_non_null(strstr(a->held_reason, "across all services"));
    /* A change whose outcome is unknown counts for the cooldown. */
    a->hold = BSUP_HOLD_NONE;
    cycle = svc = 1;
    struct bsup_resource_memory unknown = {.unknown_since_s = 990};
    bsup_rails_gate(&cfg, &unknown, a, 1000, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_UNKNOWN_OUTCOME);
    assert_int_equal(cycle, 1);
    /* ... but not a cleanup: a restore lost in a crash left an instance the cycle has seen. */
    a->hold = BSUP_HOLD_NONE;
    a->cleanup = true;
    bsup_rails_gate(&cfg, &unknown, a, 1000, &cycle, &svc);
    assert_int_equal(a->hold, BSUP_HOLD_NONE);
    a->cleanup = false;
    cycle = svc = 1;
    /* Reports are never gated. */
    struct bsup_action *r = bsup_plan_add(&p, BSUP_ACTION_REPORT, "autoscaling-group/x");
    bsup_rails_gate(&cfg, &mem, r, 1000, &cycle, &svc);
    assert_int_equal(r->hold, BSUP_HOLD_NONE);
    bsup_plan_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_sync),       cmocka_unit_test(test_bounds_drift_and_clamp),
        cmocka_unit_test(test_missing_group), cmocka_unit_test(test_health_check_and_reports),
        cmocka_unit_test(test_subnets),       cmocka_unit_test(test_rails),
    };
    return cmocka_run_group_tests_name("scaling", tests, NULL, NULL);
}
