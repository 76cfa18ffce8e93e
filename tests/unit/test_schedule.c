/* Rate limiting and scheduling arithmetic under a fake clock. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "core/aws/model.h"
#include "core/aws/ratelimit.h"
#include "core/reconcile/schedule.h"

#include <stdio.h>
#include <string.h>

static void test_bucket_burst_then_rate(void **state)
{
    (void)state;
    struct bsup_bucket b;
    bsup_bucket_init(&b, 40, 10, 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(bsup_bucket_take(&b, 0), 0);
    /* Past the burst, each call reserves the next slot: one token per 100 ms at 10/s, in the
     * order they asked, each told once when to go. */
    int64_t at[200];
    for (int i = 0; i < 200; i++) {
        at[i] = bsup_bucket_take(&b, 0);
        assert_int_equal(at[i], 100 * (i + 1));
    }
    assert_int_equal(b.waits, 200);
    /* Over any second, at most rate + 1 of them go. */
    for (int i = 0; i + 11 < 200; i++)
        assert_true(at[i + 11] - at[i] >= 1000);
    /* Later callers queue behind the reservations. */
    assert_int_equal(bsup_bucket_take(&b, 100), 20000);
}

static void test_bucket_throttle_and_recovery(void **state)
{
    (void)state;
    struct bsup_bucket b;
    bsup_bucket_init(&b, 10, 10, 0);
    bsup_bucket_on_throttle(&b, 0);
    assert_true(b.rate_per_s == 5.0);
    assert_true(b.tokens == 0.0);
    assert_int_equal(bsup_bucket_take(&b, 0), 200);
    for (int i = 0; i < 10; i++)
        bsup_bucket_on_throttle(&b, 0);
    assert_true(b.rate_per_s == 0.5); /* floor: 5% of base */
    /* Recovery is slow: after 5 calm seconds the rate is still below base, after 30 it is back. */
    bsup_bucket_take(&b, 5000);
    assert_true(b.rate_per_s < 10.0 && b.rate_per_s > 0.5);
    bsup_bucket_take(&b, 30000);
    assert_true(b.rate_per_s == 10.0);
    assert_int_equal(b.throttles, 11);
}

static void test_families(void **state)
{
    (void)state;
    /* The family is a column of the generated operation table; services are named ours or by
     * endpoint prefix. */
    assert_int_equal(bsup_api_family_of("elbv2", "DescribeTargetGroups"), BSUP_API_ELBV2_DESCRIBE);
    assert_int_equal(bsup_api_family_of("elasticloadbalancing", "ModifyTargetGroup"),
                     BSUP_API_ELBV2_MUTATE);
    assert_int_equal(bsup_api_family_of("autoscaling", "UpdateAutoScalingGroup"),
                     BSUP_API_AUTOSCALING_MUTATE);
    assert_int_equal(bsup_api_family_of("autoscaling", "SetInstanceHealth"),
                     BSUP_API_AUTOSCALING_MUTATE);
    assert_int_equal(bsup_api_family_of("elbv2", "DescribeListeners"), BSUP_API_ELBV2_DESCRIBE);
    assert_int_equal(bsup_api_family_of("cloudwatch", "PutMetricAlarm"),
                     BSUP_API_CLOUDWATCH_PUT_METRIC_ALARM);
    assert_int_equal(bsup_api_family_of("monitoring", "DescribeAlarms"),
                     BSUP_API_CLOUDWATCH_DESCRIBE_ALARMS);
    assert_int_equal(bsup_api_family_of("rds", "ModifyDBInstance"), BSUP_API_RDS);
    assert_int_equal(bsup_api_family_of("sts", "GetCallerIdentity"), BSUP_API_OTHER);
    /* Not in the table: OTHER, whatever the name looks like. */
    assert_int_equal(bsup_api_family_of("elbv2", "DescribeRules"), BSUP_API_OTHER);
    assert_int_equal(bsup_api_family_of("nope", "Describe"), BSUP_API_OTHER);
    assert_int_equal(bsup_api_family_by_name("elbv2_describe"), BSUP_API_ELBV2_DESCRIBE);
    assert_int_equal(bsup_api_family_by_name("nope"), -1);
    /* Every operation bsupd calls draws from a family of its own service, or from OTHER. */
    for (size_t i = 0; i < bsup_aws_n_operations; i++) {
        const struct bsup_aws_operation *op = &bsup_aws_operations[i];
        assert_in_range(op->family, 0, BSUP_API_FAMILY_COUNT - 1);
        if (op->family != BSUP_API_OTHER)
            assert_string_equal(bsup_api_families[op->family].service,
                                bsup_aws_operation_service(op)->endpoint_prefix);
    }
    /* Every family but OTHER belongs to a service bsupd talks to. */
    for (int f = 0; f < BSUP_API_FAMILY_COUNT; f++)
        if (f != BSUP_API_OTHER)
            assert_non_null(bsup_aws_service_by_prefix(bsup_api_families[f].service));
    assert_string_equal(bsup_api_families[BSUP_API_OTHER].service, "");
    /* Every default stays strictly below the AWS bucket its calls share with the rest of the
     * account, where AWS publishes one, and names where AWS says so. */
    for (int f = 0; f < BSUP_API_FAMILY_COUNT; f++) {
        const struct bsup_api_family_info *fam = &bsup_api_families[f];
        assert_true(fam->burst > 0 && fam->rate_per_s > 0 && fam->rate_per_s <= fam->burst);
        assert_true(fam->aws_burst >= 0 && fam->aws_rate_per_s >= 0);
        if (fam->aws_burst)
            assert_true(fam->burst < fam->aws_burst);
        if (fam->aws_rate_per_s)
            assert_true(fam->rate_per_s < fam->aws_rate_per_s);
        assert_true(strlen(fam->source) > 20);
    }
    /* The buckets the issue names: EC2 describe 100/20, ELBv2 describe 40/10, RDS 300/12,
     * CloudWatch PutMetricAlarm 3 TPS. */
    assert_int_equal(bsup_api_families[BSUP_API_EC2_DESCRIBE].aws_burst, 100);
    assert_int_equal(bsup_api_families[BSUP_API_EC2_DESCRIBE].aws_rate_per_s, 20);
    assert_int_equal(bsup_api_families[BSUP_API_ELBV2_DESCRIBE].aws_rate_per_s, 10);
    assert_int_equal(bsup_api_families[BSUP_API_RDS].aws_burst, 300);
    assert_int_equal(bsup_api_families[BSUP_API_RDS].aws_rate_per_s, 12);
    assert_int_equal(bsup_api_families[BSUP_API_CLOUDWATCH_PUT_METRIC_ALARM].aws_rate_per_s, 3);
    /* bsupd.yaml's rate_limits keys are the family names, laid out in family order (bsupd
     * copies struct bsup_rate_limits into an array indexed by family). */
    const struct bsup_config_key *rl = NULL;
    for (const struct bsup_config_key *k = bsup_settings_keys; k->name; k++)
        if (strcmp(k->name, "rate_limits") == 0)
            rl = k->section;
    assert_non_null(rl);
    int n = 0;
    for (; rl[n].name; n++) {
        assert_true(n < BSUP_API_FAMILY_COUNT);
        assert_string_equal(rl[n].name, bsup_api_families[n].name);
        assert_int_equal(bsup_api_family_by_name(rl[n].name), n);
        assert_int_equal(rl[n].offset, (size_t)n * sizeof(struct bsup_rate_limit));
    }
    assert_int_equal(n, BSUP_API_FAMILY_COUNT);
}

static void test_schedule(void **state)
{
    (void)state;
    /* First runs of 1000 services spread over the interval: no 1-second slot holds many. */
    int slots[60] = {0};
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "svc-%04d", i);
        int64_t d = bsup_schedule_first_delay_ms(name, 60000);
        assert_in_range(d, 0, 59999);
        slots[d / 1000]++;
    }
    for (int s = 0; s < 60; s++)
        assert_in_range(slots[s], 1, 40);
    assert_int_equal(bsup_schedule_first_delay_ms("api", 60000),
                     bsup_schedule_first_delay_ms("api", 60000));

    assert_int_equal(bsup_schedule_next_delay_ms(60000, 10000, 0, 0.0), 60000);
    assert_int_equal(bsup_schedule_next_delay_ms(60000, 10000, 0, 0.5), 65000);
    assert_int_equal(bsup_schedule_next_delay_ms(60000, 0, 1, 0.5), 120000);
    assert_int_equal(bsup_schedule_next_delay_ms(60000, 0, 3, 0.5), 480000);
    assert_int_equal(bsup_schedule_next_delay_ms(60000, 0, 40, 0.5), BSUP_SCHEDULE_MAX_BACKOFF_MS);
    /* An interval above the cap is never shortened by backoff. */
    assert_int_equal(bsup_schedule_next_delay_ms(3600000, 0, 5, 0.5), 3600000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_then_rate),
        cmocka_unit_test(test_bucket_throttle_and_recovery),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
