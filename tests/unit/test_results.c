/* Responses captured from a moto server for every operation bsupd calls
 * (tests/data/aws/<svc>/<Action>[-variant].{xml,json}, see capture.py): parsed generically
 * they must equal botocore's parse (.expected.json); errors must give botocore's code,
 * message and request id; the typed structs must read them; paging must find tokens. */
#include "tests/lib/testlib.h"

#include "core/aws/model.h"
#include "core/aws/response.h"
#include "core/aws/results.h"
#include "core/base/error.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DATA BSUP_SRCDIR "/tests/data/aws"

static const char *const s_services[] = {
    "autoscaling", "elbv2", "rds", "elasticache",    "monitoring",
    "sns",         "sts",   "ec2", "secretsmanager", "ssm",
};

static int s_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static json_t *s_load_json(const char *path)
{
    json_error_t err;
    return json_load_file(path, 0, &err);
}

/* Reads tests/data/aws/<svc>/<file> and parses it as that operation's success response. */
static json_t *s_parse_file(const char *svc, const char *file)
{
    char path[512], action[128];
    snprintf(path, sizeof(path), "%s/%s/%s", S_DATA, svc, file);
    snprintf(action, sizeof(action), "%.*s", (int)strcspn(file, "-."), file);
    const struct bsup_aws_operation *op = bsup_aws_operation_find(svc, action);
    assert_non_null(op);
    size_t len;
    char *body = bsup_test_read(path, &len);
    assert_non_null(body);
    json_t *got = NULL;
    assert_int_equal(bsup_aws_parse_response(op, body, len, &got), 0);
    free(body);
    return got;
}

static void test_captured_responses(void **state)
{
    (void)state;
    int ok = 0, errors = 0, typed = 0;
    for (size_t s = 0; s < sizeof(s_services) / sizeof(s_services[0]); s++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", S_DATA, s_services[s]);
        DIR *dh = opendir(dir);
        assert_non_null(dh);
        struct dirent *de;
        while ((de = readdir(dh))) {
            if (!(s_ends_with(de->d_name, ".xml") ||
                  (s_ends_with(de->d_name, ".json") && !s_ends_with(de->d_name, ".meta.json") &&
                   !s_ends_with(de->d_name, ".expected.json"))))
                continue;
            char path[1600], stem[1024], action[128];
            int sl = snprintf(stem, sizeof(stem), "%s/%s", dir, de->d_name);
            assert_true(sl > 0 && (size_t)sl < sizeof(stem));
            stem[strlen(dir) + 1 + strcspn(de->d_name, ".")] = '\0';
            snprintf(action, sizeof(action), "%.*s", (int)strcspn(de->d_name, "-."), de->d_name);
            snprintf(path, sizeof(path), "%s.expected.json", stem);
            json_t *want = s_load_json(path);
            snprintf(path, sizeof(path), "%s.meta.json", stem);
            json_t *meta = s_load_json(path);
            assert_non_null(want);
            assert_non_null(meta);
            int status = (int)json_integer_value(json_object_get(meta, "status"));
            if (status >= 300) {
                struct bsup_aws_header h[8];
                size_t n = 0;
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(meta, "headers"), k, v)
                {
                    if (n < 8)
                        h[n++] = (struct bsup_aws_header){(char *)k, (char *)json_string_value(v)};
                }
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                size_t len;
                char *body = bsup_test_read(path, &len);
                struct bsup_aws_error e;
                assert_int_equal(bsup_aws_error_parse(status, h, n, body, len, &e), 0);
                json_t *we = json_object_get(want, "Error");
                assert_int_equal(e.http_status, status);
                assert_string_equal(e.code, json_string_value(json_object_get(we, "Code")));
                assert_string_equal(e.message, json_string_value(json_object_get(we, "Message")));
                assert_string_equal(e.request_id,
                                    json_string_value(json_object_get(
                                        json_object_get(want, "ResponseMetadata"), "RequestId")));
                free(body);
                errors++;
            } else {
                json_t *got = s_parse_file(s_services[s], de->d_name);
                if (!json_equal(got, want)) {
                    char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
                    fprintf(stderr, "MISMATCH %s\n%s\n", de->d_name, g);
                    free(g);
                    fail();
                }
                const struct bsup_aws_record *rec = bsup_aws_result_find(s_services[s], action);
                if (rec) {
                    char obj[512] __attribute__((aligned(16)));
                    assert_true(rec->size <= sizeof(obj));
                    assert_int_equal(bsup_aws_record_parse(rec, got, obj), 0);
                    bsup_aws_record_cleanup(rec, obj);
                    typed++;
                }
                json_decref(got);
                ok++;
            }
            json_decref(want);
            json_decref(meta);
        }
        closedir(dh);
    }
    fprintf(stderr, "captured responses: %d parsed as botocore does, %d typed, %d errors\n", ok,
            typed, errors);
    assert_true(ok >= 20);
    assert_true(errors >= 8);
    assert_int_equal(typed, ok);
}

static void test_typed_autoscaling(void **state)
{
    (void)state;
    json_t *page = s_parse_file("autoscaling", "DescribeAutoScalingGroups.xml");
    struct bsup_asg_page p;
    assert_int_equal(bsup_asg_page_parse(page, &p), 0);
    assert_int_equal(p.n_groups, 2);
    const struct bsup_asg *g = &p.groups[0];
    assert_string_equal(g->name, "api-prod");
    assert_int_equal(g->min_size, 2);
    assert_int_equal(g->max_size, 4);
    assert_int_equal(g->desired_capacity, 2);
    assert_int_equal(g->n_instances, 2);
    assert_string_equal(g->instances[0].lifecycle_state, "InService");
    assert_string_equal(g->instances[0].health_status, "Healthy");
    assert_string_equal(g->health_check_type, "ELB");
    assert_int_equal(g->health_check_grace_period_s, 300);
    assert_non_null(strstr(g->vpc_zone_identifier, "subnet-"));
    assert_int_equal(g->n_target_group_arns, 1);
    assert_non_null(strstr(g->target_group_arns[0], ":targetgroup/api-prod/"));
    assert_int_equal(strncmp(g->launch_template_id, "lt-", 3), 0);
    assert_string_equal(g->launch_template_name, "api-prod");
    assert_string_equal(g->launch_template_version, "$Latest");
    assert_int_equal(p.groups[1].n_target_group_arns, 0);
    assert_null(p.next_token);
    assert_non_null(p.request_id);
    bsup_asg_page_cleanup(&p);
    bsup_asg_page_cleanup(&p); /* cleanup is idempotent */
    json_decref(page);

    /* Paging: MaxRecords=1 of two groups gives a NextToken, found generically. */
    page = s_parse_file("autoscaling", "DescribeAutoScalingGroups-page1.xml");
    const struct bsup_aws_operation *op =
        bsup_aws_operation_find("autoscaling", "DescribeAutoScalingGroups");
    assert_string_equal(op->input_token, "NextToken");
    const char *next = bsup_aws_next_token(op, page);
    assert_non_null(next);
    assert_int_equal(bsup_asg_page_parse(page, &p), 0);
    assert_int_equal(p.n_groups, 1);
    assert_string_equal(p.next_token, next);
    bsup_asg_page_cleanup(&p);
    json_decref(page);
}

static void test_typed_elbv2(void **state)
{
    (void)state;
    json_t *page = s_parse_file("elbv2", "DescribeTargetGroups.xml");
    struct bsup_elb_target_group_page p;
    assert_int_equal(bsup_elb_target_group_page_parse(page, &p), 0);
    assert_int_equal(p.n_groups, 2);
    const struct bsup_elb_target_group *tg = &p.groups[1];
    assert_string_equal(tg->name, "web-prod");
    assert_string_equal(tg->health_check_path, "/healthz");
    assert_string_equal(tg->health_check_protocol, "HTTP");
    assert_string_equal(tg->health_check_port, "traffic-port");
    assert_int_equal(tg->health_check_interval_s, 15);
    assert_int_equal(tg->health_check_timeout_s, 5);
    assert_int_equal(tg->healthy_threshold, 3);
    assert_int_equal(tg->unhealthy_threshold, 2);
    assert_string_equal(tg->matcher_http_code, "200-299");
    assert_int_equal(tg->port, 8080);
    assert_null(p.next_marker);
    bsup_elb_target_group_page_cleanup(&p);
    json_decref(page);

    page = s_parse_file("elbv2", "ModifyTargetGroup.xml");
    assert_int_equal(bsup_elb_target_group_page_parse(page, &p), 0);
    assert_true(p.n_groups >= 1);
    assert_string_equal(p.groups[0].name, "api-prod");
    assert_string_equal(p.groups[0].health_check_path, "/ready");
    assert_int_equal(p.groups[0].health_check_interval_s, 10);
    bsup_elb_target_group_page_cleanup(&p);
    json_decref(page);

    struct bsup_elb_target_health_page th;
    page = s_parse_file("elbv2", "DescribeTargetHealth.xml");
    assert_int_equal(bsup_elb_target_health_page_parse(page, &th), 0);
    assert_int_equal(th.n_targets, 2); /* the ASG's instance and the one registered */
    for (size_t i = 0; i < th.n_targets; i++) {
        assert_int_equal(strncmp(th.targets[i].target_id, "i-", 2), 0);
        assert_string_equal(th.targets[i].state, "healthy");
    }
    assert_int_equal(th.targets[1].port, 8080);
    bsup_elb_target_health_page_cleanup(&th);
    json_decref(page);

    struct bsup_elb_load_balancer_page lb;
    page = s_parse_file("elbv2", "DescribeLoadBalancers.xml");
    assert_int_equal(bsup_elb_load_balancer_page_parse(page, &lb), 0);
    assert_int_equal(lb.n_load_balancers, 1);
    assert_string_equal(lb.load_balancers[0].name, "api-prod");
    assert_string_equal(lb.load_balancers[0].state, "active");
    bsup_elb_load_balancer_page_cleanup(&lb);
    json_decref(page);
}

/* The load balancer's posture: listeners with their default actions, attributes, TLS
 * policies (moto answers an unknown policy name with an empty list; AWS with an error). */
static void test_typed_elbv2_posture(void **state)
{
    (void)state;
    struct bsup_elb_listener_page lp;
    json_t *page = s_parse_file("elbv2", "DescribeListeners.xml");
    assert_int_equal(bsup_elb_listener_page_parse(page, &lp), 0);
    assert_int_equal(lp.n_listeners, 3);
    assert_int_equal(lp.listeners[0].port, 80);
    assert_string_equal(lp.listeners[0].protocol, "HTTP");
    assert_string_equal(lp.listeners[0].default_actions[0].type, "forward");
    assert_non_null(strstr(lp.listeners[0].default_actions[0].target_group_arn, ":targetgroup/"));
    assert_string_equal(lp.listeners[1].protocol, "HTTPS");
    assert_string_equal(lp.listeners[1].ssl_policy, "ELBSecurityPolicy-TLS13-1-2-2021-06");
    assert_int_equal(lp.listeners[2].n_default_actions, 1);
    assert_string_equal(lp.listeners[2].default_actions[0].type, "redirect");
    assert_string_equal(lp.listeners[2].default_actions[0].redirect_protocol, "HTTPS");
    assert_null(lp.next_marker);
    bsup_elb_listener_page_cleanup(&lp);
    json_decref(page);

    struct bsup_elb_lb_attributes at;
    page = s_parse_file("elbv2", "DescribeLoadBalancerAttributes.xml");
    assert_int_equal(bsup_elb_lb_attributes_parse(page, &at), 0);
    int seen = 0;
    for (size_t i = 0; i < at.n_attributes; i++) {
        if (strcmp(at.attributes[i].key, "access_logs.s3.enabled") == 0) {
            assert_string_equal(at.attributes[i].value, "true");
            seen++;
        } else if (strcmp(at.attributes[i].key, "deletion_protection.enabled") == 0) {
            assert_string_equal(at.attributes[i].value, "false");
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    bsup_elb_lb_attributes_cleanup(&at);
    json_decref(page);

    struct bsup_elb_ssl_policy_page sp;
    page = s_parse_file("elbv2", "DescribeSSLPolicies.xml");
    assert_int_equal(bsup_elb_ssl_policy_page_parse(page, &sp), 0);
    assert_int_equal(sp.n_policies, 2);
    assert_string_equal(sp.policies[1].name, "ELBSecurityPolicy-2016-08");
    assert_int_equal(sp.policies[1].n_ssl_protocols, 3);
    assert_string_equal(sp.policies[1].ssl_protocols[2], "TLSv1");
    bsup_elb_ssl_policy_page_cleanup(&sp);
    json_decref(page);
    page = s_parse_file("elbv2", "DescribeSSLPolicies-unknown.xml");
    assert_int_equal(bsup_elb_ssl_policy_page_parse(page, &sp), 0);
    assert_int_equal(sp.n_policies, 0);
    bsup_elb_ssl_policy_page_cleanup(&sp);
    json_decref(page);
}

static void test_typed_rds_elasticache(void **state)
{
    (void)state;
    json_t *page = s_parse_file("rds", "DescribeDBInstances.xml");
    struct bsup_rds_instance_page p;
    assert_int_equal(bsup_rds_instance_page_parse(page, &p), 0);
    assert_int_equal(p.n_instances, 2);
    assert_string_equal(p.instances[1].identifier, "web-prod");
    assert_string_equal(p.instances[1].status, "available");
    assert_int_equal(p.instances[1].backup_retention_period_d, 7);
    assert_true(p.instances[1].storage_encrypted);
    assert_true(p.instances[1].latest_restorable_time > 1500000000);
    assert_string_equal(p.instances[1].master_username, "app");
    assert_false(p.instances[1].deletion_protection);
    assert_true(p.instances[1].instance_create_time > 1500000000);
    assert_int_equal(p.instances[1].n_tags, 0); /* <TagList/> */
    assert_null(p.marker);
    bsup_rds_instance_page_cleanup(&p);
    json_decref(page);

    struct bsup_rds_modify_result m;
    page = s_parse_file("rds", "ModifyDBInstance.xml");
    assert_int_equal(bsup_rds_modify_result_parse(page, &m), 0);
    assert_string_equal(m.instance.identifier, "api-prod");
    assert_int_equal(m.instance.backup_retention_period_d, 14);
    bsup_rds_modify_result_cleanup(&m);
    json_decref(page);

    struct bsup_rds_snapshot_page sp;
    page = s_parse_file("rds", "DescribeDBSnapshots.xml");
    assert_int_equal(bsup_rds_snapshot_page_parse(page, &sp), 0);
    assert_true(sp.n_snapshots >= 1);
    int manual = 0;
    for (size_t i = 0; i < sp.n_snapshots; i++)
        manual += strcmp(sp.snapshots[i].identifier, "api-prod-manual") == 0;
    assert_int_equal(manual, 1);
    bsup_rds_snapshot_page_cleanup(&sp);
    json_decref(page);

    struct bsup_ec_replication_group_page rg;
    page = s_parse_file("elasticache", "DescribeReplicationGroups.xml");
    assert_int_equal(bsup_ec_replication_group_page_parse(page, &rg), 0);
    assert_int_equal(rg.n_groups, 1);
    assert_string_equal(rg.groups[0].id, "api-prod");
    assert_int_equal(rg.groups[0].snapshot_retention_limit_d, 5);
    assert_string_equal(rg.groups[0].snapshot_window, "03:00-04:00");
    assert_false(rg.groups[0].at_rest_encryption_enabled);
    assert_false(rg.groups[0].transit_encryption_enabled);
    bsup_ec_replication_group_page_cleanup(&rg);
    json_decref(page);
}

static void test_typed_others(void **state)
{
    (void)state;
    json_t *page = s_parse_file("monitoring", "DescribeAlarms.xml");
    struct bsup_cw_alarm_page a;
    assert_int_equal(bsup_cw_alarm_page_parse(page, &a), 0);
    assert_int_equal(a.n_alarms, 2);
    assert_string_equal(a.alarms[0].metric_name, "UnHealthyHostCount");
    assert_true(a.alarms[0].threshold == 1.0);
    assert_int_equal(a.alarms[0].period_s, 60);
    assert_int_equal(a.alarms[0].n_alarm_actions, 1);
    bsup_cw_alarm_page_cleanup(&a);
    json_decref(page);

    struct bsup_sns_publish_result pub;
    page = s_parse_file("sns", "Publish.xml");
    assert_int_equal(bsup_sns_publish_result_parse(page, &pub), 0);
    assert_true(pub.message_id && strlen(pub.message_id) > 8);
    bsup_sns_publish_result_cleanup(&pub);
    json_decref(page);

    struct bsup_sts_identity id;
    page = s_parse_file("sts", "GetCallerIdentity.xml");
    assert_int_equal(bsup_sts_identity_parse(page, &id), 0);
    assert_string_equal(id.account, "123456789012");
    bsup_sts_identity_cleanup(&id);
    json_decref(page);

    /* The load balancer's counts: lists of numbers and of times, per query id. */
    struct bsup_cw_metric_data_page md;
    page = s_parse_file("monitoring", "GetMetricData.xml");
    assert_int_equal(bsup_cw_metric_data_page_parse(page, &md), 0);
    assert_int_equal(md.n_results, 2);
    assert_string_equal(md.results[0].id, "h0");
    assert_string_equal(md.results[0].status_code, "Complete");
    assert_int_equal(md.results[0].n_values, 1);
    assert_true(md.results[0].values[0] == 2.0);
    assert_int_equal(md.results[0].n_timestamps, 1);
    assert_int_equal(md.results[0].timestamps[0], 1796268060); /* 2026-12-03T03:21:00Z */
    assert_string_equal(md.results[1].id, "u0");
    assert_true(md.results[1].n_values == 1 && md.results[1].values[0] == 0.0);
    assert_null(md.next_token);
    bsup_cw_metric_data_page_cleanup(&md);
    json_decref(page);

    struct bsup_ec2_launch_template_version_page lt;
    page = s_parse_file("ec2", "DescribeLaunchTemplateVersions.xml");
    assert_int_equal(bsup_ec2_launch_template_version_page_parse(page, &lt), 0);
    assert_int_equal(lt.n_versions, 1);
    assert_string_equal(lt.versions[0].instance_type, "t3.medium");
    assert_int_equal(lt.versions[0].version_number, 1);
    bsup_ec2_launch_template_version_page_cleanup(&lt);
    json_decref(page);

    struct bsup_secret_value sv;
    page = s_parse_file("secretsmanager", "GetSecretValue.json");
    assert_int_equal(bsup_secret_value_parse(page, &sv), 0);
    assert_string_equal(sv.name, "api-prod/db");
    assert_non_null(strstr(sv.secret_string, "password"));
    bsup_secret_value_cleanup(&sv);
    assert_null(sv.secret_string);
    const char *in_tree = json_string_value(json_object_get(page, "SecretString"));
    size_t in_len = strlen(in_tree);
    bsup_aws_json_wipe(page);
    for (size_t i = 0; i < in_len; i++)
        assert_int_equal(in_tree[i], 0);
    json_decref(page);

    struct bsup_ssm_parameter sp;
    page = s_parse_file("ssm", "GetParameter.json");
    assert_int_equal(bsup_ssm_parameter_parse(page, &sp), 0);
    assert_string_equal(sp.type, "SecureString");
    assert_string_equal(sp.value, "not-a-real-secret");
    assert_int_equal(sp.version, 1);
    bsup_ssm_parameter_cleanup(&sp);
    json_decref(page);
}

/* A member of the wrong JSON type is refused and nothing leaks (ASan checks). */
static void test_typed_wrong_type(void **state)
{
    (void)state;
    json_error_t err;
    json_t *page = json_loads("{\"AutoScalingGroups\":[{\"AutoScalingGroupName\":\"a\","
                              "\"TargetGroupARNs\":[\"x\"]},{\"AutoScalingGroupName\":\"b\","
                              "\"MinSize\":\"two\"}]}",
                              0, &err);
    struct bsup_asg_page p;
    assert_int_equal(bsup_asg_page_parse(page, &p), BSUP_EPROTO);
    assert_null(p.groups);
    assert_int_equal(p.n_groups, 0);
    json_decref(page);
}

/* A time beyond int64_t (or not a number at all) is refused, not converted: the conversion
 * was undefined (clang's UBSan, tests/fuzz/fuzz_aws_response.c: an RDS LatestRestorableTime
 * of 1e300). */
static void test_typed_time_out_of_range(void **state)
{
    (void)state;
    static const char *const bad[] = {"1e300", "-1e300", "nan", "inf", "9.3e18"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *page = json_pack("{s:[{s:s, s:s}]}", "DBInstances", "DBInstanceIdentifier", "db",
                                 "LatestRestorableTime", bad[i]);
        struct bsup_rds_instance_page p;
        if (bsup_rds_instance_page_parse(page, &p) != BSUP_EPROTO)
            fail_msg("LatestRestorableTime %s was accepted", bad[i]);
        assert_null(p.instances);
        json_decref(page);
    }
    json_t *page = json_pack("{s:[{s:f}]}", "DBInstances", "LatestRestorableTime", 1e300);
    struct bsup_rds_instance_page p;
    assert_int_equal(bsup_rds_instance_page_parse(page, &p), BSUP_EPROTO);
    json_decref(page);
    page = json_pack("{s:[{s:s}]}", "DBInstances", "LatestRestorableTime", "1422172800.9");
    assert_int_equal(bsup_rds_instance_page_parse(page, &p), 0);
    assert_int_equal(p.instances[0].latest_restorable_time, 1422172800);
    bsup_rds_instance_page_cleanup(&p);
    json_decref(page);
}

/* Every typed field path exists in the operation's output shape (the model decides). */
static void test_typed_paths_in_model(void **state)
{
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < bsup_aws_n_results; i++) {
        const struct bsup_aws_result_entry *e = &bsup_aws_results[i];
        if (!e->service)
            continue;
        const struct bsup_aws_operation *op = bsup_aws_operation_find(e->service, e->action);
        assert_non_null(op);
        const struct bsup_shape_model *m = op->model;
        /* Depth-first over (record, shape) pairs. */
        struct {
            const struct bsup_aws_record *rec;
            int32_t shape;
        } stack[16];
        size_t n = 0;
        stack[n].rec = e->record;
        stack[n++].shape = op->output_shape;
        while (n) {
            n--;
            const struct bsup_aws_record *rec = stack[n].rec;
            int32_t top = stack[n].shape;
            for (size_t f = 0; f < rec->n_fields; f++) {
                const char *path = rec->fields[f].path;
                if (strncmp(path, "ResponseMetadata.", 17) == 0)
                    continue;
                /* Paging tokens: the generated paginator says which member it is; a
                 * record shared with an unpaged operation may name one it lacks. */
                if (rec == e->record &&
                    (strcmp(path, "NextToken") == 0 || strcmp(path, "NextMarker") == 0 ||
                     strcmp(path, "Marker") == 0)) {
                    if (op->output_token)
                        assert_string_equal(path, op->output_token);
                    else
                        continue;
                }
                int32_t sh = top;
                char seg[128];
                for (const char *p = path; *p;) {
                    size_t l = strcspn(p, ".");
                    snprintf(seg, sizeof(seg), "%.*s", (int)l, p);
                    p += l + (p[l] == '.');
                    const struct bsup_shape *s = bsup_shape_get(m, sh);
                    assert_non_null(s);
                    int32_t next = -1;
                    for (uint32_t k = 0; k < s->n_members; k++)
                        if (strcmp(bsup_shape_member(m, s, k)->name, seg) == 0)
                            next = bsup_shape_member(m, s, k)->shape;
                    if (next < 0)
                        fprintf(stderr, "%s: %s not in %s\n", rec->name, path, s->name);
                    assert_true(next >= 0);
                    sh = next;
                }
                const struct bsup_shape *s = bsup_shape_get(m, sh);
                if (rec->fields[f].type == BSUP_AWS_FIELD_LIST) {
                    assert_int_equal(s->type, BSUP_SHAPE_LIST);
                    assert_true(n < 16);
                    stack[n].rec = rec->fields[f].record;
                    stack[n++].shape = bsup_shape_member(m, s, 0)->shape;
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_RECORD) {
                    assert_int_equal(s->type, BSUP_SHAPE_STRUCTURE);
                    stack[n].rec = rec->fields[f].record;
                    stack[n++].shape = sh;
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_STRINGS) {
                    assert_int_equal(s->type, BSUP_SHAPE_LIST);
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_DOUBLES ||
                           rec->fields[f].type == BSUP_AWS_FIELD_TIMES) {
                    assert_int_equal(s->type, BSUP_SHAPE_LIST);
                    const struct bsup_shape *item =
                        bsup_shape_get(m, bsup_shape_member(m, s, 0)->shape);
                    assert_int_equal(item->type, rec->fields[f].type == BSUP_AWS_FIELD_TIMES
                                                     ? BSUP_SHAPE_TIMESTAMP
                                                     : BSUP_SHAPE_DOUBLE);
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_INT) {
                    assert_true(s->type == BSUP_SHAPE_INTEGER || s->type == BSUP_SHAPE_LONG);
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_BOOL) {
                    assert_int_equal(s->type, BSUP_SHAPE_BOOLEAN);
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_TIME) {
                    assert_int_equal(s->type, BSUP_SHAPE_TIMESTAMP);
                } else if (rec->fields[f].type == BSUP_AWS_FIELD_DOUBLE) {
                    assert_true(s->type == BSUP_SHAPE_DOUBLE || s->type == BSUP_SHAPE_FLOAT);
                } else {
                    assert_int_equal(s->type, BSUP_SHAPE_STRING);
                }
                checked++;
            }
        }
    }
    fprintf(stderr, "typed fields checked against the model: %d\n", checked);
    assert_true(checked > 80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_responses),
        cmocka_unit_test(test_typed_autoscaling),
        cmocka_unit_test(test_typed_elbv2),
        cmocka_unit_test(test_typed_elbv2_posture),
        cmocka_unit_test(test_typed_rds_elasticache),
        cmocka_unit_test(test_typed_others),
        cmocka_unit_test(test_typed_wrong_type),
        cmocka_unit_test(test_typed_paths_in_model),
        cmocka_unit_test(test_typed_time_out_of_range),
    };
    return cmocka_run_group_tests_name("results", tests, NULL, NULL);
}
