#include "tests/lib/testlib.h"

#include "core/aws/endpoints.h"
#include "core/aws/model.h"
#include "core/config/config.h"
#include "core/base/error.h"

#include <stdio.h>
#include <string.h>

/* A fake environment: NULL-terminated "NAME=value" strings. */
static const char *s_fake_getenv(void *ctx, const char *name)
{
    const char *const *env = ctx;
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_table_matches_botocore(void **state)
{
    (void)state;
    static const struct {
        enum bsup_aws_service_id id;
        const char *name, *service_id, *prefix, *signing, *version, *env;
        enum bsup_aws_protocol protocol;
    } rows[] = {
        {BSUP_AWS_AUTOSCALING, "autoscaling", "Auto Scaling", "autoscaling", "autoscaling",
         "2011-01-01", "AWS_ENDPOINT_URL_AUTO_SCALING", BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_ELBV2, "elbv2", "Elastic Load Balancing v2", "elasticloadbalancing",
         "elasticloadbalancing", "2015-12-01", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
         BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_RDS, "rds", "RDS", "rds", "rds", "2014-10-31", "AWS_ENDPOINT_URL_RDS",
         BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_CLOUDWATCH, "cloudwatch", "CloudWatch", "monitoring", "monitoring", "2010-08-01",
         "AWS_ENDPOINT_URL_CLOUDWATCH", BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_SNS, "sns", "SNS", "sns", "sns", "2010-03-31", "AWS_ENDPOINT_URL_SNS",
         BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_ELASTICACHE, "elasticache", "ElastiCache", "elasticache", "elasticache",
         "2015-02-02", "AWS_ENDPOINT_URL_ELASTICACHE", BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_EC2, "ec2", "EC2", "ec2", "ec2", "2016-11-15", "AWS_ENDPOINT_URL_EC2",
         BSUP_AWS_PROTO_EC2},
        {BSUP_AWS_STS, "sts", "STS", "sts", "sts", "2011-06-15", "AWS_ENDPOINT_URL_STS",
         BSUP_AWS_PROTO_QUERY},
        {BSUP_AWS_SECRETSMANAGER, "secretsmanager", "Secrets Manager", "secretsmanager",
         "secretsmanager", "2017-10-17", "AWS_ENDPOINT_URL_SECRETS_MANAGER", BSUP_AWS_PROTO_JSON},
        {BSUP_AWS_SSM, "ssm", "SSM", "ssm", "ssm", "2014-11-06", "AWS_ENDPOINT_URL_SSM",
         BSUP_AWS_PROTO_JSON},
    };
    assert_int_equal(sizeof(rows) / sizeof(rows[0]), BSUP_AWS_SERVICE_COUNT);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct bsup_endpoint_service *s = bsup_endpoints_service(rows[i].id);
        char env[128];
        assert_non_null(s);
        assert_int_equal(s->id, rows[i].id);
        assert_ptr_equal(bsup_endpoints_service_by_name(rows[i].name), s);
        assert_string_equal(s->service_id, rows[i].service_id);
        assert_string_equal(s->endpoint_prefix, rows[i].prefix);
        assert_string_equal(s->signing_name, rows[i].signing);
        /* The generated model table has the same rows in the same order (both follow
         * BSUP_AWS_SERVICE_MAP; the generator checks the metadata against botocore). */
        const struct bsup_aws_service *m = &bsup_aws_services[rows[i].id];
        assert_string_equal(m->id, s->name);
        assert_string_equal(m->endpoint_prefix, s->endpoint_prefix);
        assert_string_equal(m->signing_name, s->signing_name);
        assert_ptr_equal(bsup_aws_service_by_prefix(s->endpoint_prefix), m);
        assert_string_equal(m->api_version, rows[i].version);
        assert_int_equal(m->protocol, rows[i].protocol);
        assert_int_equal(bsup_endpoints_env_name(s, env, sizeof(env)), 0);
        assert_string_equal(env, rows[i].env);
    }
    const struct bsup_aws_service *sm = bsup_aws_service_by_prefix("secretsmanager");
    assert_string_equal(sm->target_prefix, "secretsmanager");
    assert_string_equal(sm->json_version, "1.1");
    const struct bsup_aws_service *ssm = bsup_aws_service_by_prefix("ssm");
    assert_string_equal(ssm->target_prefix, "AmazonSSM");
    assert_string_equal(ssm->json_version, "1.1");
    /* bsupd.yaml's endpoint_urls keys are our names, laid out in table order (bsupd copies
     * struct bsup_endpoint_urls into an array indexed by service). */
    const struct bsup_config_key *urls = NULL;
    for (const struct bsup_config_key *k = bsup_settings_keys; k->name; k++)
        if (strcmp(k->name, "endpoint_urls") == 0)
            urls = k->section;
    assert_non_null(urls);
    int n = 0;
    for (; urls[n].name; n++) {
        assert_true(n < BSUP_AWS_SERVICE_COUNT);
        assert_string_equal(urls[n].name,
                            bsup_endpoints_service((enum bsup_aws_service_id)n)->name);
        assert_int_equal(urls[n].offset, (size_t)n * sizeof(char *));
    }
    assert_int_equal(n, BSUP_AWS_SERVICE_COUNT);
    assert_null(bsup_endpoints_service(BSUP_AWS_SERVICE_COUNT));
    assert_null(bsup_endpoints_service_by_name("s3"));
}

static void test_resolution_order(void **state)
{
    (void)state;
    const struct {
        const char *what;
        enum bsup_aws_service_id id;
        const char *region, *configured;
        const char *const *env;
        const char *scheme, *host, *base_path, *source, *signing_region;
    } rows[] = {
        {"default", BSUP_AWS_AUTOSCALING, "eu-west-1", NULL, ENV("X=1"), "https",
         "autoscaling.eu-west-1.amazonaws.com", "", "default", "eu-west-1"},
        {"china", BSUP_AWS_RDS, "cn-north-1", NULL, ENV("X=1"), "https",
         "rds.cn-north-1.amazonaws.com.cn", "", "default", "cn-north-1"},
        {"region from AWS_REGION", BSUP_AWS_CLOUDWATCH, NULL, NULL,
         ENV("AWS_REGION=us-west-2", "AWS_DEFAULT_REGION=eu-central-1"), "https",
         "monitoring.us-west-2.amazonaws.com", "", "default", "us-west-2"},
        {"region from AWS_DEFAULT_REGION", BSUP_AWS_SNS, "", NULL,
         ENV("AWS_DEFAULT_REGION=eu-central-1"), "https", "sns.eu-central-1.amazonaws.com", "",
         "default", "eu-central-1"},
        {"fips", BSUP_AWS_EC2, "us-east-1", NULL, ENV("AWS_USE_FIPS_ENDPOINT=true"), "https",
         "ec2-fips.us-east-1.amazonaws.com", "", "default", "us-east-1"},
        {"dualstack", BSUP_AWS_ELBV2, "us-east-1", NULL, ENV("AWS_USE_DUALSTACK_ENDPOINT=TRUE"),
         "https", "elasticloadbalancing.us-east-1.api.aws", "", "default", "us-east-1"},
        {"fips+dualstack", BSUP_AWS_STS, "us-east-2", NULL,
         ENV("AWS_USE_DUALSTACK_ENDPOINT=true", "AWS_USE_FIPS_ENDPOINT=true"), "https",
         "sts-fips.us-east-2.api.aws", "", "default", "us-east-2"},
        {"fips=false", BSUP_AWS_SSM, "us-east-1", NULL, ENV("AWS_USE_FIPS_ENDPOINT=false"), "https",
         "ssm.us-east-1.amazonaws.com", "", "default", "us-east-1"},
        {"global env", BSUP_AWS_SSM, "us-east-1", NULL,
         ENV("AWS_ENDPOINT_URL=http://127.0.0.1:5000"), "http", "127.0.0.1:5000", "",
         "AWS_ENDPOINT_URL", "us-east-1"},
        {"config beats global", BSUP_AWS_SSM, "us-east-1", "http://localhost:4566/",
         ENV("AWS_ENDPOINT_URL=http://127.0.0.1:5000"), "http", "localhost:4566", "",
         "endpoint_url (ssm)", "us-east-1"},
        {"service env beats config", BSUP_AWS_AUTOSCALING, "us-east-1", "http://localhost:4566",
         ENV("AWS_ENDPOINT_URL=http://127.0.0.1:5000",
             "AWS_ENDPOINT_URL_AUTO_SCALING=https://as.example.com:8443/base/"),
         "https", "as.example.com:8443", "/base", "AWS_ENDPOINT_URL_AUTO_SCALING", "us-east-1"},
        {"other service's env ignored", BSUP_AWS_RDS, "us-east-1", NULL,
         ENV("AWS_ENDPOINT_URL_AUTO_SCALING=http://x:1"), "https", "rds.us-east-1.amazonaws.com",
         "", "default", "us-east-1"},
        {"custom beats fips", BSUP_AWS_ELBV2, "us-east-1", NULL,
         ENV("AWS_USE_FIPS_ENDPOINT=true",
             "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=http://[::1]:5000"),
         "http", "[::1]:5000", "", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", "us-east-1"},
        {"ignore configured", BSUP_AWS_SECRETSMANAGER, "us-east-1", "http://localhost:1",
         ENV("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true", "AWS_ENDPOINT_URL=http://127.0.0.1:5000",
             "AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:5001"),
         "https", "secretsmanager.us-east-1.amazonaws.com", "", "default", "us-east-1"},
        {"empty env values are unset", BSUP_AWS_SNS, "us-east-1", "",
         ENV("AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_SNS="), "https", "sns.us-east-1.amazonaws.com",
         "", "default", "us-east-1"},
        {"scheme case", BSUP_AWS_SNS, "us-east-1", "HTTPS://Sns.Local", ENV("X=1"), "https",
         "Sns.Local", "", "endpoint_url (sns)", "us-east-1"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_endpoint ep;
        struct bsup_diag diag = {0};
        int rc = bsup_endpoints_resolve(bsup_endpoints_service(rows[i].id), rows[i].region,
                                        rows[i].configured, s_fake_getenv, (void *)rows[i].env, &ep,
                                        &diag);
        if (rc)
            fail_msg("%s: %s", rows[i].what, diag.message);
        if (strcmp(ep.host, rows[i].host) != 0)
            fail_msg("%s: host %s, want %s", rows[i].what, ep.host, rows[i].host);
        assert_string_equal(ep.scheme, rows[i].scheme);
        assert_string_equal(ep.base_path, rows[i].base_path);
        assert_string_equal(ep.source, rows[i].source);
        assert_string_equal(ep.signing_region, rows[i].signing_region);
        assert_string_equal(ep.signing_name, bsup_endpoints_service(rows[i].id)->signing_name);
    }
}

static void test_errors(void **state)
{
    (void)state;
    const struct {
        const char *region, *configured;
        const char *const *env;
        const char *message_has;
    } rows[] = {
        {"us-east-1", NULL, ENV("AWS_ENDPOINT_URL_RDS=ftp://x"), "AWS_ENDPOINT_URL_RDS: "},
        {"us-east-1", NULL, ENV("AWS_ENDPOINT_URL=127.0.0.1:5000"), "AWS_ENDPOINT_URL: "},
        {"us-east-1", "http://", ENV("X=1"), "endpoint_url (rds): "},
        {"us-east-1", "http://user@host", ENV("X=1"), "must not contain user information"},
        {"us-east-1", "http://h:99999", ENV("X=1"), "invalid port"},
        {"us-east-1", "http://h/#f", ENV("X=1"), "fragment"},
        {"us-east-1", "http://h/a b", ENV("X=1"), "invalid character"},
        {"us-east-1", "http://ho$t", ENV("X=1"), "invalid character in its host"},
        {"us-east-1", "http://h:0", ENV("X=1"), "invalid port"},
        {"us-east-1", "http://h:65536", ENV("X=1"), "invalid port"},
        {"us-east-1", "http://h:", ENV("X=1"), "empty port"},
        {"us-east-1", "http://h/?a=1", ENV("X=1"), "query"},
        {"us-east-1", "http://[zz]:1", ENV("X=1"), "IPv6"},
        {"us-east-1", NULL, ENV("AWS_USE_FIPS_ENDPOINT=yes"), "AWS_USE_FIPS_ENDPOINT"},
        {"us-east-1", NULL, ENV("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=1"),
         "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"},
        {NULL, NULL, ENV("X=1"), "no AWS region"},
        {"US_EAST", NULL, ENV("X=1"), "invalid AWS region"},
        {"evil.com/x", NULL, ENV("X=1"), "invalid AWS region"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_endpoint ep;
        struct bsup_diag diag = {0};
        int rc = bsup_endpoints_resolve(bsup_endpoints_service(BSUP_AWS_RDS), rows[i].region,
                                        rows[i].configured, s_fake_getenv, (void *)rows[i].env, &ep,
                                        &diag);
        assert_int_equal(rc, BSUP_ECONFIG);
        assert_int_equal(diag.code, BSUP_ECONFIG);
        if (!strstr(diag.message, rows[i].message_has))
            fail_msg("row %zu: \"%s\" lacks \"%s\"", i, diag.message, rows[i].message_has);
    }
    struct bsup_endpoint ep;
    assert_int_equal(bsup_endpoints_resolve(NULL, "us-east-1", NULL, NULL, NULL, &ep, NULL),
                     BSUP_EINVAL);
    /* A NULL getenv means an empty environment. */
    assert_int_equal(bsup_endpoints_resolve(bsup_endpoints_service(BSUP_AWS_EC2), "eu-west-3", NULL,
                                            NULL, NULL, &ep, NULL),
                     0);
    assert_string_equal(ep.host, "ec2.eu-west-3.amazonaws.com");
}

/* What bsupd checks once at start: every endpoint variable, whatever the service. */
static void test_check_env(void **state)
{
    (void)state;
    const struct {
        const char *const *env;
        const char *message_has; /* NULL: accepted */
    } rows[] = {
        {ENV("X=1"), NULL},
        {ENV("AWS_ENDPOINT_URL=http://127.0.0.1:5000", "AWS_ENDPOINT_URL_RDS=https://r/"), NULL},
        {ENV("AWS_ENDPOINT_URL=ftp://x"), "AWS_ENDPOINT_URL: \"ftp://x\" is not an http://"},
        {ENV("AWS_ENDPOINT_URL_AUTO_SCALING=http://x:70000"),
         "AWS_ENDPOINT_URL_AUTO_SCALING: \"http://x:70000\" has an invalid port"},
        {ENV("AWS_ENDPOINT_URL_SSM=http://x?a=b"), "AWS_ENDPOINT_URL_SSM: "},
        {ENV("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=http://u@x"), "user information"},
        {ENV("AWS_USE_DUALSTACK_ENDPOINT=1"), "AWS_USE_DUALSTACK_ENDPOINT"},
        /* Ignored variables are never read, so they are not in the way. */
        {ENV("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true", "AWS_ENDPOINT_URL=ftp://x"), NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_diag diag = {0};
        int rc = bsup_endpoints_check_env(s_fake_getenv, (void *)rows[i].env, &diag);
        if (!rows[i].message_has && rc)
            fail_msg("row %zu: refused: %s", i, diag.message);
        if (rows[i].message_has &&
            (rc != BSUP_ECONFIG || !strstr(diag.message, rows[i].message_has)))
            fail_msg("row %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, diag.message,
                     rows[i].message_has);
    }
    assert_int_equal(bsup_endpoints_check_env(NULL, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_botocore),
        cmocka_unit_test(test_resolution_order),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_check_env),
    };
    return cmocka_run_group_tests_name("endpoints", tests, NULL, NULL);
}
