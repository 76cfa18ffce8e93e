/* The drop-in loader: every rule and message, file handling, and a mutation fuzz. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "core/config/load_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE                                                                                       \
    "service_name: api\n"                                                                          \
    "environment: prod\n"                                                                          \
    "vpc_id: vpc-0a1b2c3d\n"                                                                       \
    "subnet_ids: [subnet-0a1b2c3d, subnet-0a1b2c3e]\n"                                             \
    "database_name: api\n"                                                                         \
    "database_username: admin\n"                                                                   \
    "database_password: ssm:/prod/api/db\n"

/* Each case: a drop-in and the one message (substring, with position) it must produce,
 * or NULL when it must load cleanly. */
struct s_case {
    const char *yaml;
    const char *expect;
};

static const struct s_case s_cases[] = {
    {BASE, NULL},
    {BASE "min_size: 3\nmax_size: 1\n", "f.yaml:9:11: max_size (1) is less than min_size (3)"},
    {BASE "min_size: 5\n", "f.yaml:8:11: min_size (5) is greater than max_size (4, the default)"},
    {BASE "min_sise: 1\n", "f.yaml:8:1: unknown key min_sise; did you mean min_size?"},
    {BASE "colour: blue\n", "f.yaml:8:1: unknown key colour"},
    {BASE "backup_retention: 40\n",
     "f.yaml:8:19: backup_retention (40) must be between 1 and 35 days"},
    {BASE "backup_retention: 0\n", "backup_retention (0) must be between 1 and 35 days"},
    {BASE "backup_retention: seven\n", "f.yaml:8:19: backup_retention must be a whole number"},
    {BASE "backup_retention: [7]\n",
     "f.yaml:8:19: backup_retention must be a whole number, not a list"},
    {BASE "min_size: 99999999999999999999999\n",
     "min_size must be a whole number of sensible size"},
    {BASE "max_size: -1\n", "max_size (-1) must be between 0 and 10000 instances"},
    /* Booleans are true or false, as written: no other case, no YAML 1.1 yes/no/on/off. */
    {BASE "enable_backup: yes\n", "f.yaml:8:16: enable_backup must be true or false"},
    {BASE "enable_backup: True\n",
     "f.yaml:8:16: enable_backup must be true or false (got \"True\")"},
    {BASE "enable_backup: FALSE\n",
     "f.yaml:8:16: enable_backup must be true or false (got \"FALSE\")"},
    {BASE "enable_backup: off\n", "enable_backup must be true or false (got \"off\")"},
    {BASE "health_check: {public: True}\n",
     "f.yaml:8:24: health_check.public must be true or false (got \"True\")"},
    {BASE "enable_backup: false\nhealth_check: {public: true}\n", NULL},
    {BASE "instance_type: large\n", "instance_type must look like an EC2 instance type"},
    {BASE "mode: fix\n", "f.yaml:8:7: mode must be observe or enforce (got \"fix\")"},
    {BASE "interval: 5s\n", "f.yaml:8:11: interval (5s) must be between 10s and 1d"},
    {BASE "interval: soon\n", "interval must be a duration such as 90s"},
    /* What is wrong with a value's form comes before its length ... */
    {BASE "region: mars-1\n",
     "f.yaml:8:9: region must look like an AWS region, e.g. eu-west-1 (got \"mars-1\")"},
    {BASE "backup: {restore_test: 0}\n",
     "f.yaml:8:24: backup.restore_test must be off or a duration from 1d to 365d, such as 7d "
     "(got \"0\")"},
    {BASE "alerts: {sns_topic_arn: notanarn}\n",
     "f.yaml:8:25: alerts.sns_topic_arn must be an SNS topic ARN "
     "(arn:aws:sns:<region>:<account>:<name>) (got \"notanarn\")"},
    {"vpc_id: vpc-xyz\n", "f.yaml:1:9: vpc_id must look like vpc-0123456789abcdef0"},
    /* ... which is said only of values of the right form. */
    {BASE "region: eu-central-southwest-northeast-north-1\n",
     "f.yaml:8:9: region must be 9 to 32 characters long (it is 38)"},
    {BASE "backup: {restore_test: 0000000000000007d}\n",
     "backup.restore_test must be 2 to 16 characters long (it is 17)"},
    {"service_name: a123456789012345678901234567890123456789012345678901234567890123\n",
     "f.yaml:1:15: service_name must be 1 to 63 characters long (it is 64)"},
    {BASE "region: Eu-West-1\n", "region must look like an AWS region"},
    {BASE "resources: {auto_scaling_group: api-asg, colour: x}\n", "unknown key resources.colour"},
    {BASE "resources: api\n", "resources must be a mapping, not text"},
    {BASE "resources:\n  target_group: a-name-that-is-much-too-long-for-elbv2\n",
     "resources.target_group must be 1 to 32 characters long"},
    {BASE "min_size: 2\nmin_size: 3\n", "f.yaml:9:1: min_size is set twice (first at line 8)"},
    {BASE "backup:\n  max_age: 2d\n  require_encryption: false\n  restore_test: 7d\n"
          "  restore_instance_class: db.t3.micro\n  allow_disruptive: true\n"
          "  password_max_age: 30d\ncache: {snapshot_retention: 3}\n",
     NULL},
    {BASE "backup: {max_age: soon}\n",
     "f.yaml:8:19: backup.max_age must be a duration such as 90s, 5m, 26h or 7d"},
    {BASE "backup:\n  restore_test: sometimes\n",
     "f.yaml:9:17: backup.restore_test must be off or a duration from 1d to 365d, such as 7d "
     "(got \"sometimes\")"},
    {BASE "backup: {restore_test: 1h}\n",
     "f.yaml:8:24: backup.restore_test must be off or a duration from 1d to 365d"},
    {BASE "backup: {require_encryption: yes}\n",
     "f.yaml:8:30: backup.require_encryption must be false or true (got \"yes\")"},
    {BASE "backup: {restore_instance_class: t3.micro}\n",
     "f.yaml:8:34: backup.restore_instance_class must look like an RDS instance class"},
    {BASE "backup: {allow_disruptive: maybe}\n",
     "f.yaml:8:28: backup.allow_disruptive must be true or false"},
    {BASE "backup: {password_max_age: 2000d}\n",
     "f.yaml:8:28: backup.password_max_age (2000d) must be between 1d and 1000d"},
    {BASE "backup: {max_age: 0s}\n", "backup.max_age (0s) must be between 1s and 35d"},
    {BASE "backup: {colour: blue}\n", "f.yaml:8:10: unknown key backup.colour"},
    {BASE "backup: 7d\n", "f.yaml:8:9: backup must be a mapping, not text"},
    {BASE "cache: {snapshot_retention: 40}\n",
     "f.yaml:8:29: cache.snapshot_retention (40) must be between 0 and 35 days"},
    /* health_check: the ELBv2 API limits, and the rules across keys. */
    {BASE "health_check: {path: /healthz, port: '8080', protocol: HTTPS, interval: 10s,\n"
          "  timeout: 9s, healthy_threshold: 2, unhealthy_threshold: 10, matcher: '200-299',\n"
          "  min_healthy: 1, replace_unhealthy: true, unhealthy_cycles: 5,\n"
          "  max_replace_percent: 50, public: true, sweep: 2m}\n",
     NULL},
    {BASE "health_check: {matcher: '200,202,204'}\n", NULL},
    {BASE "health_check: {path: healthz}\n",
     "f.yaml:8:22: health_check.path must start with / (got \"healthz\")"},
    {BASE "health_check: {path: '/a b'}\n", "health_check.path may only hold printable ASCII"},
    {BASE "health_check: {port: '0'}\n", "health_check.port must be traffic-port or a port"},
    {BASE "health_check: {port: '65536'}\n", "health_check.port must be traffic-port or a port"},
    {BASE "health_check: {port: traffic}\n", "health_check.port must be traffic-port or a port"},
    {BASE "health_check: {protocol: TCP}\n",
     "f.yaml:8:26: health_check.protocol must be HTTP or HTTPS (got \"TCP\")"},
    {BASE "health_check: {interval: 4s}\n",
     "f.yaml:8:26: health_check.interval (4s) must be between 5s and 5m"},
    {BASE "health_check: {interval: 301}\n", "health_check.interval (301) must be between 5s"},
    {BASE "health_check: {timeout: 1s}\n", "health_check.timeout (1s) must be between 2s and 2m"},
    {BASE "health_check: {timeout: 121s}\n", "health_check.timeout (121s) must be between"},
    {BASE "health_check: {interval: 10s, timeout: 10s}\n",
     "f.yaml:8:40: health_check.timeout (10s) must be less than health_check.interval (10s)"},
    /* With one of the two written, the other is the target group's, unknown here: the plan
     * says when ELBv2 would refuse the pair. */
    {BASE "health_check: {interval: 5s}\n", NULL},
    {BASE "health_check: {timeout: 60s}\n", NULL},
    {BASE "health_check: {healthy_threshold: 1}\n",
     "health_check.healthy_threshold (1) must be between 2 and 10 checks"},
    {BASE "health_check: {unhealthy_threshold: 11}\n",
     "health_check.unhealthy_threshold (11) must be between 2 and 10 checks"},
    {BASE "health_check: {matcher: '199'}\n", "health_check.matcher must be HTTP codes 200-499"},
    {BASE "health_check: {matcher: '500'}\n", "health_check.matcher must be HTTP codes 200-499"},
    {BASE "health_check: {matcher: '200-'}\n", "health_check.matcher must be HTTP codes"},
    {BASE "health_check: {matcher: '299-200'}\n", "health_check.matcher must be HTTP codes"},
    {BASE "health_check: {matcher: '200,,202'}\n", "health_check.matcher must be HTTP codes"},
    {BASE "health_check: {matcher: '200,202-299'}\n", "health_check.matcher must be HTTP codes"},
    {BASE "health_check: {matcher: 200}\n", NULL}, /* YAML's number is text to the loader */
    {BASE "health_check: {min_healthy: 5}\n",
     "f.yaml:8:29: health_check.min_healthy (5) is greater than max_size (4, the default)"},
    {BASE "max_size: 6\nhealth_check: {min_healthy: 7}\n",
     "health_check.min_healthy (7) is greater than max_size (6): the service could never"},
    {BASE "health_check: {unhealthy_cycles: 0}\n",
     "health_check.unhealthy_cycles (0) must be between 1 and 100 observations"},
    {BASE "health_check: {max_replace_percent: 0}\n",
     "health_check.max_replace_percent (0) must be between 1 and 100 percent"},
    {BASE "health_check: {replace_unhealthy: yes}\n",
     "health_check.replace_unhealthy must be true or false"},
    {BASE "health_check: {sweep: 5s}\n", "health_check.sweep (5s) must be between 10s and 1d"},
    {BASE "health_check: {publik: true}\n",
     "unknown key health_check.publik; did you mean health_check.public?"},
    {"environment: prod\n", "f.yaml:1:1: service_name is required"},
    {BASE "service_name2: x\n", "unknown key service_name2; did you mean service_name?"},
    {"service_name:\nenvironment: dev\n", "f.yaml:1:14: service_name has no value"},
    /* An empty value never means the default: every form of YAML's null, every kind of key. */
    {BASE "min_size:\n",
     "f.yaml:8:10: min_size has no value; remove the key to take the default (2)"},
    {BASE "min_size: ~\n",
     "f.yaml:8:11: min_size has no value; remove the key to take the default (2)"},
    {BASE "mode: null\n", "f.yaml:8:7: mode has no value; remove the key to take the default"},
    {BASE "enable_backup: NULL\n",
     "enable_backup has no value; remove the key to take the default (true)"},
    {BASE "interval: Null\n", "interval has no value; remove the key to take the default"},
    {BASE "health_check: {path: }\n",
     "health_check.path has no value; remove the key to leave the target group's value as it is"},
    {BASE "backup:\n  restore_test:\n",
     "backup.restore_test has no value; remove the key to take the default (off)"},
    {BASE "health_check:\n", "health_check has no value; remove the key to take the defaults"},
    {BASE "min_size: ''\n", "min_size must be a whole number"}, /* quoted: text, not null */
    {"service_name: 1api\n", "service_name must start with a lowercase letter"},
    {"service_name: api_x\n", "service_name may only hold lowercase letters, digits and '-'"},
    {"service_name: api-\n", "service_name must not end with '-'"},
    {"service_name: [a]\n", "f.yaml:1:15: service_name must be text, not a list"},
    {"environment: production\n",
     "f.yaml:1:14: environment must be dev, staging or prod (got \"production\")"},
    {"vpc_id: vpc-0A1B2C3D\n", "vpc_id must look like vpc-0123456789abcdef0"},
    {"subnet_ids: subnet-0a1b2c3d\n", "f.yaml:1:13: subnet_ids must be a list, not text"},
    {"subnet_ids: []\n", "subnet_ids must hold 1 to 64 entries (it holds 0)"},
    {"subnet_ids: [subnet-0a1b2c3d, subnet-0a1b2c3d]\n",
     "f.yaml:1:31: subnet_ids lists subnet-0a1b2c3d twice"},
    {"subnet_ids: [subnet-zz]\n",
     "f.yaml:1:14: subnet_ids must look like subnet-0123456789abcdef0"},
    {"subnet_ids: [subnet-0a1b2c3x]\n",
     "subnet_ids must look like subnet-0123456789abcdef0 (entry subnet-0a1b2c3x)"},
    {"subnet_ids: [[a]]\n", "each entry of subnet_ids must be text, not a list"},
    {"database_name: 1api\n", "database_name must start with a letter"},
    {"database_username: a-b\n", "database_username must start with a letter and hold only"},
    {"database_password: secretsmanager:my-secret\n",
     "f.yaml:1:20: database_password: a secretsmanager reference must be a secret ARN"},
    {"database_password: 'ssm:'\n", "an ssm reference must name a parameter"},
    {"database_password: file:relative/path\n", "a file reference needs an absolute path"},
    {"database_password: \"file:/x\\e]0;t\\a\\e[2J\"\n",
     "f.yaml:1:20: database_password: a reference may not hold control characters"},
    {"database_password: "
     "\"secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:a\\eb\"\n",
     "database_password: a reference may not hold control characters"},
    {"[1, 2]\n", "f.yaml:1:1: a drop-in must be a mapping of keys (one service) or hold "
                 "services:, not a list"},
    {"", "f.yaml:1:1: file is empty"},
    {"# only a comment\n", "f.yaml:1:1: file is empty"},
    {"~\n", "f.yaml:1:1: file is empty"},
    {"service_name: [unclosed\n", "f.yaml:2:1: not valid YAML: did not find expected ',' or ']'"},
    {"a: b\n c: d\n", "f.yaml:2:3: not valid YAML: mapping values are not allowed"},
    {"\tservice_name: x\n", "not valid YAML"},
    {"a: &anchor 1\nb: *anchor\n", "f.yaml:1:4: YAML anchors (&anchor) are not allowed"},
    {"a: *nothing\n", "f.yaml:1:4: YAML aliases (*nothing) are not allowed"},
    {"a: 1\n---\nb: 2\n", "f.yaml:2:1: a drop-in holds one YAML document"},
    /* Values are read as written text: a tag another tool would act on is refused, not dropped. */
    {BASE "max_size: !!int 5\n", "f.yaml:8:11: YAML tags (!!int) are not allowed in drop-ins"},
    {BASE "max_size: !vault 5\n", "f.yaml:8:11: YAML tags (!vault) are not allowed in drop-ins"},
    {BASE "backup: !!map {max_age: 1h}\n", "f.yaml:8:9: YAML tags (!!map) are not allowed"},
    {"%TAG !e! tag:example.com,2000:\n---\nmin_size: !e!x 3\n",
     "f.yaml:3:11: YAML tags (tag:example.com,2000:x) are not allowed"},
    {"service_name: \"caf\xc3\xa9\"\n", "service_name may only hold lowercase letters"},
    {"service_name: x\xff\n", "f.yaml:1:16: byte 0xff is not valid UTF-8"},
    {"service_name: x\xc0\xaf\n", "byte 0xc0 is not valid UTF-8 (overlong"},
    {"\xef\xbb\xbfservice_name: x\xff\n", "f.yaml:1:16: byte 0xff is not valid UTF-8"},
    /* A bad byte's line counts the line breaks libyaml counts: CR, CR LF, NEL, LS. */
    {"a: 1\rb: 2\rc: x\xff\r", "f.yaml:3:5: byte 0xff is not valid UTF-8"},
    {"a: 1\r\nb: 2\r\nc: x\xff\r\n", "f.yaml:3:5: byte 0xff is not valid UTF-8"},
    {"a: 1\xc2\x85"
     "b: 2\xe2\x80\xa8"
     "c: x\xff\n",
     "f.yaml:3:5: byte 0xff is not valid UTF-8"},
    {"service_name: x\x01\n", "f.yaml:1:16: byte 0x01 is a control character"},
    /* An escaped NUL would cut the text short: a truncated value or key, never loaded. */
    {BASE "region: \"eu-west-1\\0evil\"\n", "f.yaml:8:9: text holds a NUL character"},
    {BASE "\"min_size\\x00x\": 3\n", "f.yaml:8:1: text holds a NUL character"},
    {BASE "instance_type: \"t3.large\\u0000\"\n", "f.yaml:8:16: text holds a NUL character"},
    {"? [a, b]\n: c\n", "f.yaml:1:3: keys must be plain words, not a list"},
    {BASE "\"\": 3\n", "f.yaml:8:1: a key is empty"},
    /* A key set twice names the first key's line, not the line its block value starts on. */
    {BASE "backup:\n\n  max_age: 1h\nbackup: {max_age: 2h}\n",
     "f.yaml:11:1: backup is set twice (first at line 8)"},
    {"backup:\n  ?\n  : 3\n", "f.yaml:2:4: a key is empty"},
    {"services: {a: 1}\n", "f.yaml:1:11: services must be a list of services, not a mapping"},
    {"services: [a]\n", "f.yaml:1:12: a service must be a mapping of keys, not text"},
    {"services: []\nextra: 1\n", "with services:, every key belongs to a list item"},
    {"services:\n- {}\nservices: []\n", "f.yaml:3:1: services is set twice (first at line 1)"},
    {"services:\n- {service_name: a, environment: dev, vpc_id: vpc-0a1b2c3d,\n"
     "   subnet_ids: [subnet-0a1b2c3d], database_name: a, database_username: a,\n"
     "   database_password: \"file:/etc/bsup/a\"}\n",
     NULL},
};

static void s_load_one(const char *yaml, struct bsup_config_set *set)
{
    bsup_config_set_init(set);
    assert_int_equal(bsup_config_parse_buffer(set, "f.yaml", yaml, strlen(yaml)), 0);
}

static bool s_has_msg(const struct bsup_config_set *set, const char *text)
{
    for (size_t i = 0; i < set->n_msgs; i++)
        if (strstr(set->msgs[i].text, text))
            return true;
    return false;
}

static void s_dump(const struct bsup_config_set *set)
{
    for (size_t i = 0; i < set->n_msgs; i++)
        fprintf(stderr, "  got: %s\n", set->msgs[i].text);
}

static void test_rules_and_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(s_cases) / sizeof(s_cases[0]); i++) {
        struct bsup_config_set set;
        s_load_one(s_cases[i].yaml, &set);
        if (!s_cases[i].expect) {
            if (set.n_errors)
                s_dump(&set);
            assert_int_equal(set.n_errors, 0);
            assert_int_equal(set.n_services, 1);
            assert_true(set.files[0].ok);
        } else {
            if (!s_has_msg(&set, s_cases[i].expect)) {
                fprintf(stderr, "case %zu: expected: %s\n", i, s_cases[i].expect);
                s_dump(&set);
                fail();
            }
            assert_true(set.n_errors > 0);
            assert_int_equal(set.n_services, 0); /* a file with an error gives nothing */
            assert_false(set.files[0].ok);
        }
        bsup_config_set_cleanup(&set);
    }
}

/* A default resource name longer than its resources.<kind> key allows is refused, naming the
 * fix; a name set in resources, or a cache group never read, is not in the way. */
static void test_default_resource_names(void **state)
{
    (void)state;
#define S63 "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh"
#define S28 "abcdefghij-abcdefghij-abcdef"
#define S36 "abcdefghij-abcdefghij-abcdefghij-abc"
    static const struct {
        const char *name, *env, *extra;
        const char *expect; /* NULL: loads cleanly */
        int n_errors;
    } rows[] = {
        {S28, "dev", "", NULL, 0}, /* 32 characters: the ELBv2 limit exactly */
        {S28 "a", "dev", "",
         "f.yaml:1:15: the default ELBv2 target group name \"" S28 "a-dev\" is 33 characters, "
         "AWS allows 32: set resources.target_group to a name of at most 32 characters",
         2},
        {S28 "a", "dev", "resources: {target_group: tg}\n",
         "the default ELBv2 load balancer name \"" S28 "a-dev\" is 33 characters, AWS allows 32: "
         "set resources.load_balancer to a name of at most 32 characters",
         1},
        {S63, "dev", "resources: {target_group: tg, load_balancer: lb}\n",
         "the default RDS DB instance identifier \"" S63 "-dev\" is 67 characters, AWS allows "
         "63: set resources.db_instance to a name of at most 63 characters",
         1},
        {S63, "dev", "resources: {target_group: tg, load_balancer: lb, db_instance: db}\n", NULL,
         0},
        /* The cache group is read only when cache.snapshot_retention declares it. */
        {S36, "staging",
         "resources: {target_group: tg, load_balancer: lb}\ncache: {snapshot_retention: 3}\n",
         "the default ElastiCache replication group id \"" S36 "-staging\" is 44 characters, AWS "
         "allows 40: set resources.cache_replication_group to a name of at most 40 characters",
         1},
        {S36, "staging", "resources: {target_group: tg, load_balancer: lb}\n", NULL, 0},
    };
#undef S63
#undef S28
#undef S36
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "service_name: %s\nenvironment: %s\nvpc_id: vpc-0a1b2c3d\n"
                 "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: api\ndatabase_username: admin\n"
                 "database_password: ssm:/prod/api/db\n%s",
                 rows[i].name, rows[i].env, rows[i].extra);
        struct bsup_config_set set;
        s_load_one(yaml, &set);
        if ((rows[i].expect && !s_has_msg(&set, rows[i].expect)) ||
            set.n_errors != (size_t)rows[i].n_errors) {
            fprintf(stderr, "row %zu: expected %d errors, one: %s\n", i, rows[i].n_errors,
                    rows[i].expect ? rows[i].expect : "(none)");
            s_dump(&set);
            fail();
        }
        assert_int_equal(set.n_services, rows[i].expect ? 0 : 1);
        bsup_config_set_cleanup(&set);
    }
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    struct bsup_config_set set;
    s_load_one(BASE "interval: 5m\nresources: {db_instance: api-db}\nmode: enforce\n", &set);
    assert_int_equal(set.n_errors, 0);
    const struct bsup_service *s = set.services[0];
    assert_string_equal(s->service_name, "api");
    assert_int_equal(s->environment, BSUP_ENV_PROD);
    assert_int_equal(s->subnet_ids.n, 2);
    assert_string_equal(s->subnet_ids.v[1], "subnet-0a1b2c3e");
    assert_string_equal(s->instance_type, "t3.medium");
    assert_int_equal(s->min_size, 2);
    assert_int_equal(s->max_size, 4);
    assert_true(s->enable_backup);
    assert_int_equal(s->backup_retention, 7);
    assert_null(s->region);
    assert_int_equal(s->mode, BSUP_MODE_ENFORCE);
    assert_int_equal(s->interval_s, 300);
    assert_string_equal(s->source_file, "f.yaml");
    assert_int_equal(s->line, 1);
    char buf[128];
    assert_string_equal(bsup_service_resource_name(s, "db_instance", buf, sizeof(buf)), "api-db");
    assert_string_equal(bsup_service_resource_name(s, "auto_scaling_group", buf, sizeof(buf)),
                        "api-prod");
    bsup_config_set_cleanup(&set);

    s_load_one(BASE, &set);
    assert_int_equal(set.services[0]->mode, BSUP_MODE_DEFAULT);
    assert_int_equal(set.services[0]->interval_s, 0);
    bsup_config_set_cleanup(&set);
}

/* health_check: ELBv2's defaults where the drop-in is silent; min_healthy follows min_size
 * unless written; the path's length limit is the API's (1024). */
static void test_health_check_defaults(void **state)
{
    (void)state;
    struct bsup_config_set set;
    s_load_one(BASE "min_size: 3\n", &set);
    assert_int_equal(set.n_errors, 0);
    const struct bsup_health_check *hc = &set.services[0]->health_check;
    assert_string_equal(hc->path, "/");
    assert_string_equal(hc->port, "traffic-port");
    assert_int_equal(hc->protocol, BSUP_HEALTH_HTTP);
    assert_int_equal(hc->interval_s, 30);
    assert_int_equal(hc->timeout_s, 5);
    assert_int_equal(hc->healthy_threshold, 5);
    assert_int_equal(hc->unhealthy_threshold, 2);
    assert_string_equal(hc->matcher, "200");
    assert_int_equal(hc->min_healthy, 3);
    assert_false(hc->replace_unhealthy);
    assert_int_equal(hc->unhealthy_cycles, 3);
    assert_int_equal(hc->max_replace_percent, 25);
    assert_false(hc->public);
    assert_int_equal(hc->sweep_s, 300);
    assert_int_equal(hc->grace_period_s, 300);
    /* Resolved values travel with the service (the store keeps this JSON). */
    char *json = bsup_service_to_json(set.services[0]);
    struct bsup_service back;
    assert_int_equal(bsup_service_from_json(json, &back), 0);
    assert_int_equal(back.health_check.min_healthy, 3);
    assert_string_equal(back.health_check.matcher, "200");
    assert_int_equal(back.health_check.protocol, BSUP_HEALTH_HTTP);
    bsup_service_cleanup(&back);
    free(json);
    bsup_config_set_cleanup(&set);

    s_load_one(BASE "health_check: {min_healthy: 0, protocol: HTTPS}\n", &set);
    assert_int_equal(set.n_errors, 0);
    assert_int_equal(set.services[0]->health_check.min_healthy, 0);
    assert_int_equal(set.services[0]->health_check.protocol, BSUP_HEALTH_HTTPS);
    bsup_config_set_cleanup(&set);

    char yaml[2048], path[1100];
    memset(path, 'a', sizeof(path));
    for (size_t len = 1024; len <= 1025; len++) {
        path[0] = '/';
        path[len] = 0;
        snprintf(yaml, sizeof(yaml), BASE "health_check: {path: %s}\n", path);
        s_load_one(yaml, &set);
        assert_int_equal(set.n_errors, len == 1024 ? 0 : 1);
        if (len == 1025)
            assert_true(s_has_msg(&set, "health_check.path must be 1 to 1024 characters long"));
        bsup_config_set_cleanup(&set);
        path[len] = 'a';
    }
}

static void test_services_list_and_duplicates(void **state)
{
    (void)state;
    struct bsup_config_set set;
    bsup_config_set_init(&set);
    const char *list = "services:\n"
                       "- service_name: a\n  environment: dev\n  vpc_id: vpc-0a1b2c3d\n"
                       "  subnet_ids: [subnet-0a1b2c3d]\n  database_name: a\n"
                       "  database_username: a\n  database_password: file:/etc/bsup/a\n"
                       "- service_name: b\n  environment: dev\n  vpc_id: vpc-0a1b2c3d\n"
                       "  subnet_ids: [subnet-0a1b2c3d]\n  database_name: b\n"
                       "  database_username: b\n  database_password: file:/etc/bsup/b\n";
    assert_int_equal(bsup_config_parse_buffer(&set, "10-a.yaml", list, strlen(list)), 0);
    assert_int_equal(set.n_errors, 0);
    assert_int_equal(set.n_services, 2);
    assert_int_equal(set.services[1]->line, 9);
    assert_int_equal(set.services[1]->column, 3);

    /* The same name in a later file: that file is rejected, naming both places. */
    const char *again = "service_name: b\nenvironment: dev\nvpc_id: vpc-0a1b2c3d\n"
                        "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: b\n"
                        "database_username: b\ndatabase_password: file:/x\n";
    assert_int_equal(bsup_config_parse_buffer(&set, "20-b.yaml", again, strlen(again)), 0);
    assert_true(s_has_msg(&set, "20-b.yaml:1:15: service_name b is already declared in "
                                "10-a.yaml:9:3"));
    assert_int_equal(set.n_services, 2);
    assert_false(set.files[1].ok);
    bsup_config_set_cleanup(&set);

    /* Twice in one file. */
    const char *twice = "services:\n"
                        "- {service_name: a, environment: dev}\n"
                        "- {service_name: a, environment: dev}\n";
    s_load_one(twice, &set);
    assert_true(s_has_msg(&set, "f.yaml:3:18: service_name a is declared twice in this file "
                                "(first at line 2)"));
    bsup_config_set_cleanup(&set);
}

/* A drop-in of one service per name in names (comma-separated), each min_size as given. */
static char *s_dropin(const char *names, int min_size)
{
    char *out = NULL, *name = strdup(names), *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fprintf(f, "services:\n");
    for (char *n = strtok_r(name, ",", &save); n; n = strtok_r(NULL, ",", &save))
        fprintf(f,
                "- service_name: %s\n  environment: dev\n  vpc_id: vpc-0a1b2c3d\n"
                "  subnet_ids: [subnet-0a1b2c3d]\n  database_name: a\n  database_username: a\n"
                "  database_password: file:/etc/bsup/a\n  min_size: %d\n  max_size: 9\n",
                n, min_size);
    fclose(f);
    free(name);
    return out;
}

static const struct bsup_config_file *s_file(const struct bsup_config_set *set, const char *name)
{
    for (size_t i = 0; i < set->n_files; i++)
        if (strcmp(set->files[i].name, name) == 0)
            return &set->files[i];
    fail_msg("no file %s", name);
    return NULL;
}

static const struct bsup_service *s_service(const struct bsup_config_set *set, const char *name)
{
    uintptr_t at = (uintptr_t)bsup_strmap_get(&set->by_name, name);
    return at ? set->services[at - 1] : NULL;
}

/* Two files, one service_name: the file bsupd loaded it from keeps it while that file declares
 * it or is rejected; otherwise (a new service, or its file gone or no longer declaring it) the
 * first in lexical order has it. The other services of both files are unaffected. */
static void test_incumbent_keeps_service(void **state)
{
    (void)state;
    static const struct {
        const char *incumbent; /* of api, NULL: not loaded before */
        const char *early;     /* 05-dup.yaml: its services (min_size 5) */
        const char *late;      /* 10-api.yaml: its services (min_size 1); NULL: broken */
        const char *winner;    /* the file api comes from, NULL: none */
        bool early_ok, late_ok;
        const char *expect; /* the message rejecting the other */
    } cases[] = {
        /* The stray copy is rejected, whatever its place in lexical order. */
        {"10-api.yaml", "api,c", "api,b", "10-api.yaml", false, true,
         "05-dup.yaml:2:17: service_name api is already declared in 10-api.yaml (which bsupd "
         "loaded it from)"},
        {"05-dup.yaml", "api,c", "api,b", "05-dup.yaml", true, false,
         "10-api.yaml:2:17: service_name api is already declared in 05-dup.yaml (which bsupd "
         "loaded it from)"},
        /* The incumbent rejected on its own keeps it (its last good state): still no takeover. */
        {"10-api.yaml", "api,c", NULL, NULL, false, false,
         "05-dup.yaml:2:17: service_name api is already declared in 10-api.yaml (which bsupd "
         "loaded it from)"},
        /* Not loaded before, or its file gone: the first in lexical order. */
        {NULL, "api,c", "api,b", "05-dup.yaml", true, false,
         "10-api.yaml:2:17: service_name api is already declared in 05-dup.yaml:2:3"},
        {"01-gone.yaml", "api,c", "api,b", "05-dup.yaml", true, false,
         "10-api.yaml:2:17: service_name api is already declared in 05-dup.yaml:2:3"},
        /* Its file no longer declares it: a move, in one reload. */
        {"10-api.yaml", "api,c", "b", "05-dup.yaml", true, true, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = bsup_test_mkdtemp();
        char *early = s_dropin(cases[i].early, 5);
        char *late = cases[i].late ? s_dropin(cases[i].late, 1) : strdup("min_size: [\n");
        free(bsup_test_write(dir, "05-dup.yaml", early, -1));
        free(bsup_test_write(dir, "10-api.yaml", late, -1));
        free(early);
        free(late);
        struct bsup_strmap incumbents = {0};
        if (cases[i].incumbent)
            assert_int_equal(bsup_strmap_put(&incumbents, "api", (void *)cases[i].incumbent), 0);
        struct bsup_config_set set;
        struct bsup_diag diag = {0};
        bsup_config_set_init(&set);
        set.incumbents = &incumbents;
        assert_int_equal(bsup_config_load_dir(dir, &set, &diag), 0);
        if (cases[i].expect && !s_has_msg(&set, cases[i].expect)) {
            fprintf(stderr, "case %zu: expected: %s\n", i, cases[i].expect);
            s_dump(&set);
            fail();
        }
        if (!cases[i].expect && set.n_errors) {
            s_dump(&set);
            fail_msg("case %zu: errors", i);
        }
        const struct bsup_service *api = s_service(&set, "api");
        if (cases[i].winner) {
            assert_non_null(api);
            assert_string_equal(api->source_file, cases[i].winner);
            assert_int_equal(api->min_size, strcmp(cases[i].winner, "05-dup.yaml") ? 1 : 5);
        } else {
            assert_null(api);
        }
        /* The file that keeps api loads its other service; the rejected one gives nothing. */
        assert_int_equal(s_file(&set, "05-dup.yaml")->ok, cases[i].early_ok);
        assert_int_equal(s_file(&set, "10-api.yaml")->ok, cases[i].late_ok);
        assert_int_equal(s_service(&set, "c") != NULL, cases[i].early_ok);
        assert_int_equal(s_service(&set, "b") != NULL, cases[i].late_ok);
        bsup_config_set_cleanup(&set);
        bsup_strmap_cleanup(&incumbents);
        bsup_test_rmtree(dir);
        free(dir);
    }
}

/* A drop-in of one service, name, with extra keys after the required ones. */
static char *s_service_yaml(const char *name, const char *extra)
{
    char *out = NULL;
    assert_true(asprintf(&out,
                         "service_name: %s\nenvironment: prod\nvpc_id: vpc-0a1b2c3d\n"
                         "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\ndatabase_username: a\n"
                         "database_password: file:/etc/bsup/a\n%s",
                         name, extra) > 0);
    return out;
}

/* A new directory with 05-canary.yaml and 10-checkout.yaml, the services with these extra
 * keys; checkout NULL: its file is broken YAML. */
static char *s_pair_dir(const char *canary, const char *checkout)
{
    char *dir = bsup_test_mkdtemp();
    char *a = s_service_yaml("canary", canary);
    char *b = checkout ? s_service_yaml("checkout", checkout) : NULL;
    free(bsup_test_write(dir, "05-canary.yaml", a, -1));
    free(bsup_test_write(dir, "10-checkout.yaml", b ? b : "min_size: [\n", -1));
    free(a);
    free(b);
    return dir;
}

#define S_SHARED                                                                                   \
    "resources: {target_group: checkout-prod, auto_scaling_group: checkout-prod, "                 \
    "db_instance: checkout-prod}\n"
#define S_FIX                                                                                      \
    ": bsupd would change it back and forth; make them equal, or give one service its own "        \
    "resources."

/* Two services that use one resource (a written name, or one's default) must declare the same
 * settings for what bsupd changes on it, or bsupd changes it back and forth: of the two, the
 * one its incumbent file declares again wins, else the first in lexical order, and the other's
 * file is rejected. Equal settings share it; other regions are other resources. */
static void test_shared_resource(void **state)
{
    (void)state;
    static const struct {
        const char *incumbent; /* of checkout, NULL: not loaded before */
        const char *region;    /* the daemon's */
        const char *canary;    /* 05-canary.yaml: service canary's keys */
        const char *checkout;  /* 10-checkout.yaml: service checkout's keys (default names) */
        bool canary_ok, checkout_ok;
        const char *expect; /* the message rejecting the other */
    } cases[] = {
        {NULL, NULL, S_SHARED, "", true, true, NULL},
        {NULL, NULL, S_SHARED "health_check: {path: /ping}\n", "health_check: {path: /ready}\n",
         true, false,
         "10-checkout.yaml:1:15: service checkout uses target group checkout-prod, as does "
         "service canary (05-canary.yaml:1:1), with health_check.path \"/ping\" there and "
         "\"/ready\" here" S_FIX "target_group"},
        /* The service bsupd runs keeps it, whatever its place in lexical order. */
        {"10-checkout.yaml", NULL, S_SHARED "health_check: {path: /ping}\n",
         "health_check: {path: /ready}\n", false, true,
         "05-canary.yaml:1:15: service canary uses target group checkout-prod, as does service "
         "checkout (10-checkout.yaml:1:1), with health_check.path \"/ready\" there and \"/ping\" "
         "here" S_FIX "target_group"},
        {NULL, NULL, S_SHARED "health_check: {path: /ping, interval: 10s, matcher: \"200-299\"}\n",
         "health_check: {path: /, interval: 30s, matcher: \"200\"}\n", true, false,
         "with health_check.path \"/ping\" there and \"/\" here (and 2 more settings)" S_FIX
         "target_group"},
        /* A health-check setting one leaves as the resource has it (not written) disagrees with
         * no one: only the other enforces it. */
        {NULL, NULL, S_SHARED "health_check: {path: /ping, grace_period: 90s}\n", "", true, true,
         NULL},
        {NULL, NULL, S_SHARED "min_size: 3\n", "", true, false,
         "10-checkout.yaml:1:15: service checkout uses Auto Scaling group checkout-prod, as does "
         "service canary (05-canary.yaml:1:1), with min_size 3 there and 2 here" S_FIX
         "auto_scaling_group"},
        {NULL, NULL, S_SHARED "health_check: {grace_period: 90s}\n",
         "health_check: {grace_period: 5m}\n", true, false,
         "with health_check.grace_period 90s there and 5m here"},
        {NULL, NULL, S_SHARED "health_check: {replace_unhealthy: true}\n", "", true, false,
         "with health_check.replace_unhealthy true there and false here"},
        {NULL, NULL, S_SHARED "backup_retention: 14\n", "", true, false,
         "uses DB instance checkout-prod, as does service canary (05-canary.yaml:1:1), with "
         "backup_retention 14 there and 7 here" S_FIX "db_instance"},
        /* Without enable_backup bsupd changes nothing on the database. */
        {NULL, NULL, S_SHARED "backup_retention: 14\nenable_backup: false\n", "", true, true, NULL},
        /* One name in two regions: two resources; the daemon's region is checkout's. */
        {NULL, NULL, S_SHARED "region: us-east-1\nhealth_check: {path: /ping}\n",
         "health_check: {path: /}\n", true, true, NULL},
        {NULL, "us-east-1", S_SHARED "region: us-east-1\nhealth_check: {path: /ping}\n",
         "health_check: {path: /}\n", true, false,
         "with health_check.path \"/ping\" there and \"/\" here"},
        /* Settings bsupd does not change on the resource may differ. */
        {NULL, NULL, S_SHARED "instance_type: m5.large\nhealth_check: {min_healthy: 1}\n", "", true,
         true, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = s_pair_dir(cases[i].canary, cases[i].checkout);
        struct bsup_strmap incumbents = {0};
        if (cases[i].incumbent)
            assert_int_equal(bsup_strmap_put(&incumbents, "checkout", (void *)cases[i].incumbent),
                             0);
        struct bsup_config_set set;
        struct bsup_diag diag = {0};
        bsup_config_set_init(&set);
        set.incumbents = &incumbents;
        set.region = cases[i].region;
        assert_int_equal(bsup_config_load_dir(dir, &set, &diag), 0);
        if (cases[i].expect ? !s_has_msg(&set, cases[i].expect) || set.n_errors != 1
                            : set.n_errors != 0) {
            fprintf(stderr, "case %zu: expected: %s\n", i,
                    cases[i].expect ? cases[i].expect : "no error");
            s_dump(&set);
            fail();
        }
        assert_int_equal(s_file(&set, "05-canary.yaml")->ok, cases[i].canary_ok);
        assert_int_equal(s_file(&set, "10-checkout.yaml")->ok, cases[i].checkout_ok);
        assert_int_equal(s_service(&set, "canary") != NULL, cases[i].canary_ok);
        assert_int_equal(s_service(&set, "checkout") != NULL, cases[i].checkout_ok);
        bsup_config_set_cleanup(&set);
        bsup_strmap_cleanup(&incumbents);
        bsup_test_rmtree(dir);
        free(dir);
    }
}

/* kept_fn: checkout as a drop-in with ctx's keys declared it (NULL: not kept). */
static int s_kept_checkout(void *ctx, const char *service, struct bsup_service *out)
{
    if (!ctx || strcmp(service, "checkout") != 0)
        return BSUP_ENOTFOUND;
    struct bsup_config_set set;
    char *yaml = s_service_yaml("checkout", ctx);
    s_load_one(yaml, &set);
    free(yaml);
    assert_int_equal(set.n_services, 1);
    int rc = bsup_service_copy(out, set.services[0]);
    bsup_config_set_cleanup(&set);
    return rc;
}

/* A file rejected on its own keeps its services' last good state: services that share a
 * resource with one must agree with that state. */
static void test_shared_resource_kept(void **state)
{
    (void)state;
    static const struct {
        const char *kept;   /* checkout's keys as kept, NULL: not kept */
        const char *canary; /* 05-canary.yaml: canary's keys */
        const char *expect; /* the message rejecting 05-canary.yaml, NULL: loaded */
    } cases[] = {
        {"health_check: {path: /ready}\n", S_SHARED "health_check: {path: /ping}\n",
         "05-canary.yaml:1:15: service canary uses target group checkout-prod, as does service "
         "checkout (kept from rejected 10-checkout.yaml), with health_check.path \"/ready\" "
         "there and \"/ping\" here" S_FIX "target_group"},
        {"health_check: {path: /ready}\n", S_SHARED "health_check: {path: /ready}\n", NULL},
        /* Kept under a name of its own: the canary's default-named neighbour is another group. */
        {"resources: {auto_scaling_group: old-asg}\n", "min_size: 1\n", NULL},
        {"resources: {auto_scaling_group: old-asg}\n",
         "resources: {auto_scaling_group: old-asg}\nmin_size: 1\n",
         "05-canary.yaml:1:15: service canary uses Auto Scaling group old-asg, as does service "
         "checkout (kept from rejected 10-checkout.yaml), with min_size 2 there and 1 here"},
        {NULL, S_SHARED "health_check: {path: /ping}\n", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = s_pair_dir(cases[i].canary, NULL);
        struct bsup_strmap incumbents = {0};
        assert_int_equal(bsup_strmap_put(&incumbents, "checkout", (void *)"10-checkout.yaml"), 0);
        struct bsup_config_set set;
        struct bsup_diag diag = {0};
        bsup_config_set_init(&set);
        set.incumbents = &incumbents;
        set.kept_fn = s_kept_checkout;
        set.kept_ctx = (void *)cases[i].kept;
        assert_int_equal(bsup_config_load_dir(dir, &set, &diag), 0);
        if (cases[i].expect ? !s_has_msg(&set, cases[i].expect) || set.n_errors != 2
                            : set.n_errors != 1) {
            fprintf(stderr, "case %zu: expected: %s\n", i,
                    cases[i].expect ? cases[i].expect : "no error but the broken file's");
            s_dump(&set);
            fail();
        }
        assert_int_equal(s_file(&set, "05-canary.yaml")->ok, !cases[i].expect);
        assert_false(s_file(&set, "10-checkout.yaml")->ok);
        bsup_config_set_cleanup(&set);
        bsup_strmap_cleanup(&incumbents);
        bsup_test_rmtree(dir);
        free(dir);
    }
}

/* kept_fn: ctx is {service, keys, ..., NULL}: each as a drop-in with those keys declared it. */
static int s_kept_table(void *ctx, const char *service, struct bsup_service *out)
{
    for (const char *const *t = ctx; t[0]; t += 2) {
        if (strcmp(t[0], service) != 0)
            continue;
        struct bsup_config_set set;
        char *yaml = s_service_yaml(service, t[1]);
        s_load_one(yaml, &set);
        free(yaml);
        assert_int_equal(set.n_services, 1);
        int rc = bsup_service_copy(out, set.services[0]);
        bsup_config_set_cleanup(&set);
        return rc;
    }
    return BSUP_ENOTFOUND;
}

/* Both loaded, one file edited alone away from the settings they shared: that file is the one
 * rejected, wherever it sorts (the other declares what bsupd runs). Both edited: the later. */
static void test_shared_resource_edited(void **state)
{
    (void)state;
    static const char *const ready[] = {"canary", S_SHARED "health_check: {path: /ready}\n",
                                        "checkout", "health_check: {path: /ready}\n", NULL};
    static const char *const apart[] = {"canary", S_SHARED "health_check: {path: /a}\n", "checkout",
                                        "health_check: {path: /b}\n", NULL};
    static const char *const own[] = {"canary", "health_check: {path: /a}\n", "checkout",
                                      "health_check: {path: /b}\n", NULL};
    static const struct {
        const char *const *kept;
        const char *canary, *checkout; /* their keys now */
        bool canary_ok;
        const char *expect;
    } cases[] = {
        {ready, S_SHARED "health_check: {path: /ping}\n", "health_check: {path: /ready}\n", false,
         "05-canary.yaml:1:15: service canary uses target group checkout-prod, as does service "
         "checkout (10-checkout.yaml:1:1), with health_check.path \"/ready\" there and \"/ping\" "
         "here" S_FIX "target_group"},
        {ready, S_SHARED "health_check: {path: /ready}\n", "health_check: {path: /ping}\n", true,
         "10-checkout.yaml:1:15: service checkout uses target group checkout-prod, as does "
         "service canary (05-canary.yaml:1:1), with health_check.path \"/ready\" there and "
         "\"/ping\" here"},
        /* Both edited, or a pair that differed already: the lexical rule. */
        {apart, S_SHARED "health_check: {path: /c}\n", "health_check: {path: /d}\n", true,
         "10-checkout.yaml:1:15: service checkout uses target group checkout-prod"},
        {apart, S_SHARED "health_check: {path: /a}\n", "health_check: {path: /b}\n", true,
         "10-checkout.yaml:1:15: service checkout uses target group checkout-prod"},
        /* canary, on a group of its own, joins checkout's with other settings: canary's is the
         * change. */
        {own, S_SHARED "health_check: {path: /a}\n", "health_check: {path: /b}\n", false,
         "05-canary.yaml:1:15: service canary uses target group checkout-prod, as does service "
         "checkout (10-checkout.yaml:1:1), with health_check.path \"/b\" there and \"/a\" here"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = s_pair_dir(cases[i].canary, cases[i].checkout);
        struct bsup_strmap incumbents = {0};
        assert_int_equal(bsup_strmap_put(&incumbents, "canary", (void *)"05-canary.yaml"), 0);
        assert_int_equal(bsup_strmap_put(&incumbents, "checkout", (void *)"10-checkout.yaml"), 0);
        struct bsup_config_set set;
        struct bsup_diag diag = {0};
        bsup_config_set_init(&set);
        set.incumbents = &incumbents;
        set.kept_fn = s_kept_table;
        set.kept_ctx = (void *)cases[i].kept;
        assert_int_equal(bsup_config_load_dir(dir, &set, &diag), 0);
        if (!s_has_msg(&set, cases[i].expect) || set.n_errors != 1) {
            fprintf(stderr, "case %zu: expected: %s\n", i, cases[i].expect);
            s_dump(&set);
            fail();
        }
        assert_int_equal(s_file(&set, "05-canary.yaml")->ok, cases[i].canary_ok);
        assert_int_equal(s_file(&set, "10-checkout.yaml")->ok, !cases[i].canary_ok);
        bsup_config_set_cleanup(&set);
        bsup_strmap_cleanup(&incumbents);
        bsup_test_rmtree(dir);
        free(dir);
    }
}

/* A rejected file claims nothing: the next service that uses the resource is checked against
 * the services loaded, not against one that is not. Two services of one file are checked too. */
static void test_shared_resource_rejected_claims_nothing(void **state)
{
    (void)state;
    char *dir = bsup_test_mkdtemp();
    char *api = s_service_yaml("api", "");
    char *checkout = s_service_yaml("checkout", "health_check: {path: /ready}\n");
    const char *both = "services:\n"
                       "- {service_name: api, environment: dev, vpc_id: vpc-0a1b2c3d,\n"
                       "   subnet_ids: [subnet-0a1b2c3d], database_name: a, database_username: a,\n"
                       "   database_password: \"file:/etc/bsup/a\"}\n"
                       "- {service_name: canary, environment: dev, vpc_id: vpc-0a1b2c3d,\n"
                       "   subnet_ids: [subnet-0a1b2c3d], database_name: a, database_username: a,\n"
                       "   database_password: \"file:/etc/bsup/a\",\n"
                       "   resources: {target_group: checkout-prod},\n"
                       "   health_check: {path: /ping}}\n";
    free(bsup_test_write(dir, "01-api.yaml", api, -1));
    free(bsup_test_write(dir, "05-both.yaml", both, -1));
    free(bsup_test_write(dir, "10-checkout.yaml", checkout, -1));
    free(api);
    free(checkout);
    struct bsup_config_set set;
    struct bsup_diag diag = {0};
    bsup_config_set_init(&set);
    assert_int_equal(bsup_config_load_dir(dir, &set, &diag), 0);
    assert_true(s_has_msg(&set, "05-both.yaml:2:18: service_name api is already declared in "
                                "01-api.yaml:1:1"));
    assert_int_equal(set.n_errors, 1);
    assert_false(s_file(&set, "05-both.yaml")->ok);
    assert_true(s_file(&set, "10-checkout.yaml")->ok);
    assert_non_null(s_service(&set, "checkout"));
    bsup_config_set_cleanup(&set);

    /* One file, two services at odds. */
    const char *odds = "services:\n"
                       "- {service_name: a, environment: dev, vpc_id: vpc-0a1b2c3d,\n"
                       "   subnet_ids: [subnet-0a1b2c3d], database_name: a, database_username: a,\n"
                       "   database_password: \"file:/etc/bsup/a\", max_size: 6}\n"
                       "- {service_name: b, environment: dev, vpc_id: vpc-0a1b2c3d,\n"
                       "   subnet_ids: [subnet-0a1b2c3d], database_name: a, database_username: a,\n"
                       "   database_password: \"file:/etc/bsup/a\",\n"
                       "   resources: {auto_scaling_group: a-dev}}\n";
    s_load_one(odds, &set);
    assert_true(s_has_msg(&set, "f.yaml:5:18: service b uses Auto Scaling group a-dev, as does "
                                "service a (f.yaml:2:3), with max_size 6 there and 4 here"));
    assert_int_equal(set.n_services, 0);
    /* Checked against what an earlier buffer loaded, too; equal settings share. */
    char *c = s_service_yaml("c", "resources: {auto_scaling_group: a-dev}\nmax_size: 6\n");
    assert_int_equal(bsup_config_parse_buffer(&set, "g.yaml", c, strlen(c)), 0);
    free(c);
    assert_int_equal(set.n_services, 1);
    c = s_service_yaml("d", "resources: {auto_scaling_group: a-dev}\n");
    assert_int_equal(bsup_config_parse_buffer(&set, "h.yaml", c, strlen(c)), 0);
    free(c);
    assert_true(s_has_msg(&set, "h.yaml:1:15: service d uses Auto Scaling group a-dev, as does "
                                "service c (g.yaml:1:1), with max_size 6 there and 4 here"));
    assert_int_equal(set.n_services, 1);
    bsup_config_set_cleanup(&set);
    bsup_test_rmtree(dir);
    free(dir);
}

static void test_secrets_never_leak(void **state)
{
    (void)state;
    const char *secret = "Hunter2-VerySecret";
    char yaml[1024];
    struct bsup_config_set set;

    /* Refused outside dev, and the message does not hold the value. */
    snprintf(yaml, sizeof(yaml),
             "service_name: a\nenvironment: staging\nvpc_id: vpc-0a1b2c3d\n"
             "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\ndatabase_username: a\n"
             "database_password: %s\n",
             secret);
    s_load_one(yaml, &set);
    assert_true(s_has_msg(&set, "f.yaml:7:20: database_password is a plaintext password, which "
                                "is refused outside environment: dev"));
    for (size_t i = 0; i < set.n_msgs; i++)
        assert_null(strstr(set.msgs[i].text, secret));
    bsup_config_set_cleanup(&set);

    /* Accepted in dev with a warning; JSON and hash never see it. */
    snprintf(yaml, sizeof(yaml),
             "service_name: a\nenvironment: dev\nvpc_id: vpc-0a1b2c3d\n"
             "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\ndatabase_username: a\n"
             "database_password: %s\n",
             secret);
    s_load_one(yaml, &set);
    assert_int_equal(set.n_errors, 0);
    assert_int_equal(set.n_msgs, 1);
    assert_true(s_has_msg(&set, "f.yaml:7:20: database_password is a plaintext password; "
                                "accepted because environment is dev"));
    assert_null(strstr(set.msgs[0].text, secret));
    assert_string_equal(set.services[0]->database_password, secret);
    char *json = bsup_service_to_json(set.services[0]);
    assert_non_null(json);
    assert_null(strstr(json, secret));
    assert_non_null(strstr(json, "\"database_password\":\"<redacted>\""));
    free(json);
    bsup_config_set_cleanup(&set);

    /* A wrong type of password is reported without its value. */
    s_load_one("database_password: [Hunter2-VerySecret]\n", &set);
    for (size_t i = 0; i < set.n_msgs; i++)
        assert_null(strstr(set.msgs[i].text, secret));
    bsup_config_set_cleanup(&set);
}

static void test_json_round_trip_and_hash(void **state)
{
    (void)state;
    struct bsup_config_set set;
    s_load_one(BASE "interval: 90s\nresources: {target_group: tg}\nregion: eu-west-1\n", &set);
    assert_int_equal(set.n_errors, 0);
    char *json = bsup_service_to_json(set.services[0]);
    struct bsup_service back;
    assert_int_equal(bsup_service_from_json(json, &back), 0);
    char *json2 = bsup_service_to_json(&back);
    assert_string_equal(json, json2);
    char h1[65], h2[65];
    assert_int_equal(bsup_service_json_hash(json, h1), 0);
    assert_int_equal(bsup_service_json_hash(json2, h2), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(h1), 64);
    back.max_size = 5;
    free(json2);
    json2 = bsup_service_to_json(&back);
    assert_int_equal(bsup_service_json_hash(json2, h2), 0);
    assert_string_not_equal(h1, h2);
    free(json);
    free(json2);
    bsup_service_cleanup(&back);
    bsup_config_set_cleanup(&set);
    assert_int_equal(bsup_service_from_json("{\"environment\":\"dev\"}", &back), BSUP_EPARSE);
    assert_int_equal(bsup_service_from_json("not json", &back), BSUP_EPARSE);
    assert_int_equal(bsup_service_from_json("{\"service_name\":\"a\",\"min_size\":\"x\"}", &back),
                     BSUP_EPARSE);
}

/* Only the target-group settings a drop-in writes are enforced: they travel in the stored JSON
 * as health_check.declared, left out when none is written, so such a service keeps the JSON,
 * hence the content hash, of the builds that enforced ELBv2's defaults. */
static void test_health_declared(void **state)
{
    (void)state;
    struct bsup_config_set set;
    s_load_one(BASE "health_check: {min_healthy: 1, replace_unhealthy: true}\n", &set);
    assert_int_equal(set.n_errors, 0);
    const struct bsup_health_check *hc = &set.services[0]->health_check;
    assert_false(bsup_health_declares_any(hc));
    assert_false(bsup_health_declared(hc, "path"));
    char *json = bsup_service_to_json(set.services[0]);
    assert_string_equal(
        json, "{\"backup\":{\"allow_disruptive\":false,\"max_age\":93600,\"password_max_age\":"
              "7776000,\"restore_test\":\"off\"},\"backup_retention\":7,\"cache\":{\"snapshot_"
              "retention\":0},\"database_name\":"
              "\"api\",\"database_password\":\"ssm:/prod/api/db\",\"database_username\":"
              "\"admin\",\"enable_backup\":true,\"environment\":\"prod\",\"health_check\":{"
              "\"grace_period\":300,\"healthy_threshold\":5,\"interval\":30,\"matcher\":"
              "\"200\",\"max_replace_percent\":25,\"min_healthy\":1,\"path\":\"/\",\"port\":"
              "\"traffic-port\",\"protocol\":\"HTTP\",\"public\":false,\"replace_unhealthy\":"
              "true,\"sweep\":300,\"timeout\":5,\"unhealthy_cycles\":3,\"unhealthy_threshold\":"
              "2},\"instance_type\":\"t3.medium\",\"max_size\":4,\"min_size\":2,"
              "\"service_name\":\"api\",\"subnet_ids\":[\"subnet-0a1b2c3d\",\"subnet-0a1b2c3e\"],"
              "\"vpc_id\":\"vpc-0a1b2c3d\"}");
    free(json);
    bsup_config_set_cleanup(&set);

    s_load_one(BASE "health_check: {timeout: 10s, path: /ready, sweep: 1m}\n", &set);
    assert_int_equal(set.n_errors, 0);
    hc = &set.services[0]->health_check;
    assert_true(bsup_health_declares_any(hc));
    assert_true(bsup_health_declared(hc, "path"));
    assert_true(bsup_health_declared(hc, "timeout"));
    assert_false(bsup_health_declared(hc, "interval"));
    assert_false(bsup_health_declared(hc, "sweep")); /* not a target-group setting */
    json = bsup_service_to_json(set.services[0]);
    assert_non_null(strstr(json, "\"declared\":[\"path\",\"timeout\"]"));
    struct bsup_service back;
    assert_int_equal(bsup_service_from_json(json, &back), 0);
    assert_int_equal(back.health_check.declared, hc->declared);
    bsup_service_cleanup(&back);
    free(json);
    bsup_config_set_cleanup(&set);

    static const char *const bad[] = {"\"path\"", "[\"sweep\"]", "[\"nope\"]", "[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "{\"service_name\":\"a\",\"health_check\":{\"declared\":%s}}",
                 bad[i]);
        assert_int_equal(bsup_service_from_json(text, &back), BSUP_EPARSE);
    }
}

/* Every key table fits the loader's per-table tracking and the JSON writer's sorted keys. */
static size_t s_check_table_size(const struct bsup_config_key *t)
{
    size_t n = 0;
    for (; t[n].name; n++)
        if (t[n].type == BSUP_KEY_SECTION)
            s_check_table_size(t[n].section);
    assert_true(n <= BSUP_CONFIG_MAX_KEYS);
    return n;
}

static void test_table_sizes(void **state)
{
    (void)state;
    assert_true(s_check_table_size(bsup_service_keys) > 0);
    assert_true(s_check_table_size(bsup_settings_keys) > 0);
}

/* bsupd writes a service's JSON itself: it must be what jansson writes of the same object
 * (compact, keys sorted), byte for byte, or every stored content hash would change. */
static void s_assert_canonical(const char *json)
{
    json_error_t err;
    json_t *obj = json_loads(json, 0, &err);
    assert_non_null(obj);
    char *again = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(again, json);
    free(again);
    json_decref(obj);
}

static void test_json_as_jansson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        BASE,
        BASE "health_check: {path: \"/a\\\"b\\\\c/d\", interval: 10s, "
             "unhealthy_threshold: 4}\n",
        BASE "resources: {auto_scaling_group: asg/x.y:z_w}\nmode: enforce\n",
        BASE "backup: {restore_test: 7d, restore_instance_class: db.t3.micro}\n"
             "cache: {snapshot_retention: 3}\nalerts: {sns_topic_arn: "
             "'arn:aws:sns:eu-west-1:123456789012:api'}\n",
        BASE "health_check: {min_healthy: 0}\n",
        BASE "instance_type: !!str t3.large\n", /* !!str says what bsupd does anyway */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bsup_config_set set;
        s_load_one(cases[i], &set);
        for (size_t m = 0; m < set.n_msgs; m++)
            fprintf(stderr, "case %zu: %s\n", i, set.msgs[m].text);
        assert_int_equal(set.n_errors, 0);
        char *json = bsup_service_to_json(set.services[0]);
        s_assert_canonical(json);
        free(json);
        bsup_config_set_cleanup(&set);
    }
    /* Text no drop-in may hold (the loader checks every string): escapes, non-ASCII, a slash. */
    struct bsup_config_set set;
    s_load_one(BASE, &set);
    free(set.services[0]->service_name);
    set.services[0]->service_name = strdup("a\"b\\c/d\u00e9\u2028\t\n\r\b\f\x01\x1f\x7f");
    char *json = bsup_service_to_json(set.services[0]);
    s_assert_canonical(json);
    assert_non_null(strstr(json, "\"service_name\":\"a\\\"b\\\\c/d\u00e9\u2028\\t\\n\\r\\b\\f"
                                 "\\u0001\\u001F\x7f\""));
    free(json);
    bsup_config_set_cleanup(&set);
}

/* What the engine takes over from a load is what it would read back from the store: the same
 * JSON, the plaintext password redacted, where it was declared forgotten. */
static void test_as_stored(void **state)
{
    (void)state;
    struct bsup_config_set set;
    s_load_one("services:\n"
               "- service_name: api\n  environment: prod\n  vpc_id: vpc-0a1b2c3d\n"
               "  subnet_ids: [subnet-0a1b2c3d, subnet-0a1b2c3e]\n  database_name: api\n"
               "  database_username: admin\n  database_password: ssm:/prod/api/db\n"
               "  instance_type: t3.large\n  min_size: 2\n  max_size: 6\n"
               "  backup_retention: 14\n  mode: enforce\n  interval: 90s\n"
               "  region: eu-west-1\n  resources: {auto_scaling_group: api-asg}\n"
               "  backup: {max_age: 26h, restore_test: 7d, password_max_age: 90d}\n"
               "  cache: {snapshot_retention: 3}\n"
               "  health_check: {path: /health, interval: 10s, min_healthy: 1, sweep: 1m}\n"
               "  alerts: {sns_topic_arn: 'arn:aws:sns:eu-west-1:123456789012:api'}\n"
               "- service_name: dev-one\n  environment: dev\n  vpc_id: vpc-0a1b2c3d\n"
               "  subnet_ids: [subnet-0a1b2c3d]\n  database_name: d\n"
               "  database_username: d\n  database_password: Hunter2-VerySecret\n",
               &set);
    assert_int_equal(set.n_errors, 0);
    assert_int_equal(set.n_services, 2);
    for (size_t i = 0; i < set.n_services; i++) {
        char *json = bsup_service_to_json(set.services[i]);
        s_assert_canonical(json);
        struct bsup_service back, moved;
        assert_int_equal(bsup_service_from_json(json, &back), 0);
        assert_int_equal(bsup_service_copy(&moved, set.services[i]), 0);
        assert_non_null(moved.source_file);
        assert_int_equal(bsup_service_as_stored(&moved), 0);
        char *a = bsup_service_to_json(&back), *b = bsup_service_to_json(&moved);
        assert_string_equal(a, b);
        assert_string_equal(a, json);
        assert_string_equal(back.database_password, moved.database_password);
        assert_null(moved.source_file);
        assert_null(back.source_file);
        assert_int_equal(moved.line, back.line);
        assert_int_equal(moved.column, back.column);
        free(a);
        free(b);
        free(json);
        bsup_service_cleanup(&back);
        bsup_service_cleanup(&moved);
    }
    assert_string_equal(set.services[1]->database_password, "Hunter2-VerySecret");
    bsup_config_set_cleanup(&set);
}

static void test_dropin_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool ok;
    } names[] = {
        {"10-api.yaml", true},
        {"api.yml", true},
        {".hidden.yaml", false},
        {"api.yaml~", false},
        {".api.yaml.swp", false},
        {"api.yaml.dpkg-old", false},
        {"api.yaml.dpkg-new", false},
        {"api.dpkg-dist.yaml", false},
        {"api.yaml.rpmnew", false},
        {"api.yaml.rpmsave", false},
        {"#api.yaml#", false},
        {"api.json", false},
        {"yaml", false},
        {".yaml", false},
        {"api.yaml.bak", false},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (bsup_config_is_dropin_name(names[i].name) != names[i].ok)
            fail_msg("%s", names[i].name);
    }
}

static void test_directory(void **state)
{
    (void)state;
    char *dir = bsup_test_mkdtemp();
    struct bsup_config_set set;
    struct bsup_diag diag = {0};
    const char *good = BASE;
    free(bsup_test_write(dir, "20-b.yaml", "service_name: b\nenvironment: dev\n", -1));
    free(bsup_test_write(dir, "10-a.yaml", good, -1));
    free(bsup_test_write(dir, "10-a.yaml~", "garbage: [", -1));
    free(bsup_test_write(dir, ".30-hidden.yaml", "garbage: [", -1));
    free(bsup_test_write(dir, "README", "not a drop-in", -1));
    char *sub = NULL;
    assert_true(asprintf(&sub, "%s/40-dir.yaml", dir) > 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(sub);
    char *unreadable = bsup_test_write(dir, "50-secret.yaml", good, -1);
    chmod(unreadable, 0);
    free(unreadable);
    /* Too big: 1 MiB + 1 of comments. */
    size_t big = BSUP_CONFIG_MAX_FILE_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    huge[big - 1] = '\n';
    free(bsup_test_write(dir, "60-huge.yaml", huge, (long)big));
    free(huge);
    /* A FIFO must not hang the loader; a symlink may only lead to a file of the directory. */
    char *path = NULL;
    assert_true(asprintf(&path, "%s/70-fifo.yaml", dir) > 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    free(path);
    char *outside = bsup_test_mkdtemp();
    char *foreign = bsup_test_write(outside, "shadow", "root:secret-hash:19000:0:99999:7:::\n", -1);
    assert_true(asprintf(&path, "%s/80-outside.yaml", dir) > 0);
    assert_int_equal(symlink(foreign, path), 0);
    free(path);
    free(foreign);
    free(bsup_test_write(dir, "svc-c.conf",
                         "service_name: c\nenvironment: dev\nvpc_id: vpc-0a1b2c3d\n"
                         "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\n"
                         "database_username: a\ndatabase_password: x\n",
                         -1));
    assert_true(asprintf(&path, "%s/15-c.yaml", dir) > 0);
    assert_int_equal(symlink("svc-c.conf", path), 0);
    free(path);
    /* A name with a terminal escape is never loaded, nor shown as it is. */
    free(bsup_test_write(dir, "90-\x1b[2J.yaml", good, -1));

    bsup_config_set_init(&set);
    assert_int_equal(bsup_config_load_dir(dir, &set, &diag), 0);
    assert_int_equal(set.n_services, 2);
    assert_true(s_has_msg(&set, "90-\\x1b[2J.yaml: a drop-in's name may not hold control "
                                "characters (shown as \\xNN); rename the file"));
    for (size_t i = 0; i < set.n_msgs; i++)
        assert_null(strchr(set.msgs[i].text, '\x1b'));
    for (size_t i = 0; i < set.n_files; i++)
        assert_null(strchr(set.files[i].name, '\x1b'));
    assert_string_equal(set.services[0]->service_name, "api");
    assert_string_equal(set.services[1]->service_name, "c"); /* through a link inside */
    assert_true(s_has_msg(&set, "70-fifo.yaml: not a regular file"));
    assert_true(s_has_msg(&set, "80-outside.yaml: symlink leads outside the configuration"));
    for (size_t i = 0; i < set.n_msgs; i++)
        assert_null(strstr(set.msgs[i].text, "secret-hash")); /* nothing of it quoted */
    bsup_test_rmtree(outside);
    free(outside);
    assert_string_equal(set.files[0].name, "10-a.yaml"); /* lexical order */
    assert_true(set.files[0].ok);
    assert_string_equal(set.files[2].name, "20-b.yaml");
    assert_false(set.files[2].ok);
    assert_true(s_has_msg(&set, "20-b.yaml:1:1: vpc_id is required"));
    assert_true(s_has_msg(&set, "40-dir.yaml: not a regular file"));
    if (geteuid() != 0) /* root reads anything */
        assert_true(s_has_msg(&set, "50-secret.yaml: cannot open: Permission denied"));
    assert_true(s_has_msg(&set, "60-huge.yaml: file is 1048577 bytes; drop-ins are limited"));
    assert_false(s_has_msg(&set, "hidden"));
    bsup_config_set_cleanup(&set);
    bsup_test_rmtree(dir);
    free(dir);

    /* A message quotes only a short piece of what the file holds. */
    char key[1000]; /* libyaml takes plain keys of up to 1024 characters */
    memset(key, 'k', sizeof(key) - 4);
    memcpy(key + sizeof(key) - 4, ": 1", 4);
    s_load_one(key, &set);
    const char *msg = NULL;
    for (size_t i = 0; i < set.n_msgs; i++)
        if (strstr(set.msgs[i].text, "unknown key kkkk"))
            msg = set.msgs[i].text;
    assert_non_null(msg);
    assert_true(strlen(msg) < 320);
    assert_non_null(strstr(msg, "..."));
    bsup_config_set_cleanup(&set);

    bsup_config_set_init(&set);
    assert_int_equal(bsup_config_load_dir("/nonexistent/bsup.d", &set, &diag), BSUP_ENOTFOUND);
    assert_string_equal(diag.message, "/nonexistent/bsup.d: cannot open the configuration "
                                      "directory: No such file or directory");
    bsup_config_set_cleanup(&set);
}

static void test_settings(void **state)
{
    (void)state;
    char *dir = bsup_test_mkdtemp();
    struct bsup_settings s;
    struct bsup_diag diag = {0};
    unsetenv("STATE_DIRECTORY");
    setenv("RUNTIME_DIRECTORY", "/run/bsup-test", 1);
    bsup_settings_init(&s);
    assert_int_equal(s.interval_s, 60);
    assert_int_equal(s.jitter_s, 10);
    assert_string_equal(s.state_dir, "/var/lib/bsup");
    assert_string_equal(s.socket, "/run/bsup-test/bsupd.sock");
    assert_int_equal(s.mode, BSUP_MODE_OBSERVE);
    assert_null(s.region);

    char *path = bsup_test_write(dir, "bsupd.yaml",
                                 "region: eu-west-1\ninterval: 2m\nmode: enforce\n"
                                 "log_level: debug\n",
                                 -1);
    assert_int_equal(bsup_settings_load(&s, path, false, &diag), 0);
    assert_string_equal(s.region, "eu-west-1");
    assert_int_equal(s.interval_s, 120);
    assert_int_equal(s.mode, BSUP_MODE_ENFORCE);
    assert_int_equal(s.log_level, 4);
    assert_int_equal(bsup_settings_set(&s, "interval", "30s", &diag), 0);
    assert_int_equal(s.interval_s, 30);
    assert_int_equal(bsup_settings_set(&s, "interval", "1s", &diag), BSUP_ECONFIG);
    assert_string_equal(diag.message, "interval (1s) must be between 10s and 1d");
    free(path);

    path = bsup_test_write(dir, "bad.yaml", "intervall: 2m\nmode: fix\n", -1);
    assert_int_equal(bsup_settings_load(&s, path, false, &diag), BSUP_ECONFIG);
    assert_non_null(strstr(diag.message, "bad.yaml:1:1: unknown key intervall; did you mean "
                                         "interval?"));
    assert_non_null(strstr(diag.message, "; "));
    assert_non_null(strstr(diag.message, "bad.yaml:2:7: mode must be observe or enforce"));
    free(path);

    /* A byte order mark is no column, in bsupd.yaml as in a drop-in. */
    path = bsup_test_write(dir, "bom.yaml", "\xef\xbb\xbfinterval: 1d\xff\n", -1);
    assert_int_equal(bsup_settings_load(&s, path, false, &diag), BSUP_ECONFIG);
    assert_non_null(strstr(diag.message, "bom.yaml:1:13: byte 0xff is not valid UTF-8"));
    free(path);

    /* The shared YAML reader's refusals name bsupd.yaml as what it is, not a drop-in. */
    path = bsup_test_write(dir, "docs.yaml", "interval: 1d\n---\nmode: enforce\n", -1);
    assert_int_equal(bsup_settings_load(&s, path, false, &diag), BSUP_ECONFIG);
    assert_non_null(
        strstr(diag.message, "docs.yaml:2:1: the settings file holds one YAML document"));
    assert_null(strstr(diag.message, "drop-in"));
    free(path);
    path = bsup_test_write(dir, "anchor.yaml", "interval: &i 1d\n", -1);
    assert_int_equal(bsup_settings_load(&s, path, false, &diag), BSUP_ECONFIG);
    assert_non_null(strstr(
        diag.message, "anchor.yaml:1:11: YAML anchors (&i) are not allowed in the settings file"));
    free(path);

    /* bsupd.yaml too: an empty value is an error, not the default. */
    path = bsup_test_write(dir, "empty.yaml", "mode:\nmetrics: {enabled: ~}\n", -1);
    assert_int_equal(bsup_settings_load(&s, path, false, &diag), BSUP_ECONFIG);
    assert_non_null(strstr(diag.message, "empty.yaml:1:6: mode has no value; remove the key to "
                                         "take the default (observe)"));
    assert_non_null(strstr(diag.message, "empty.yaml:2:20: metrics.enabled has no value"));
    free(path);

    char *missing = NULL;
    assert_true(asprintf(&missing, "%s/none.yaml", dir) > 0);
    assert_int_equal(bsup_settings_load(&s, missing, true, &diag), 0);
    assert_int_equal(bsup_settings_load(&s, missing, false, &diag), BSUP_ENOTFOUND);
    assert_non_null(strstr(diag.message, "none.yaml: cannot open: No such file"));
    free(missing);
    bsup_settings_cleanup(&s);
    unsetenv("RUNTIME_DIRECTORY");
    bsup_test_rmtree(dir);
    free(dir);
}

/* owner: a short tag value of safe characters; which leftovers it sweeps. */
static void test_settings_owner(void **state)
{
    (void)state;
    struct bsup_settings s;
    struct bsup_diag diag = {0};
    bsup_settings_init(&s);
    assert_string_equal(s.owner, "bsupd");
    const struct {
        const char *value;
        int rc;
    } cases[] = {
        {"team-a", 0},
        {"prod2", 0},
        {"", BSUP_ECONFIG},
        {"Team", BSUP_ECONFIG},
        {"a b", BSUP_ECONFIG},
        {"a=b", BSUP_ECONFIG},
        {"-a", BSUP_ECONFIG},
        {"a-", BSUP_ECONFIG},
        {"abcdefghijklmnopqrstuvwxyz0123456", BSUP_ECONFIG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(bsup_settings_set(&s, "owner", cases[i].value, &diag), cases[i].rc);
    bsup_settings_cleanup(&s);

    /* tag (NULL: none), owner, untagged_default: owner's? */
    const struct {
        const char *tag, *owner;
        bool untagged_default, is;
    } own[] = {
        {"bsupd", "bsupd", false, true},  {"team-a", "team-a", false, true},
        {"bsupd", "team-a", true, false}, {"team-a", "bsupd", true, false},
        {NULL, "bsupd", true, true},      {NULL, "bsupd", false, false},
        {NULL, "team-a", true, false},    {"", "bsupd", true, false},
    };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        assert_int_equal(bsup_owner_is(own[i].tag, own[i].owner, own[i].untagged_default),
                         own[i].is);
}

/* endpoint_urls are checked when bsupd.yaml is read, by the AWS client's own rules. */
static void test_settings_endpoint_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url, *message_has; /* NULL: accepted */
    } rows[] = {
        {"http://x:70000", "2:16: endpoint_urls.autoscaling has an invalid port"},
        {"http://user@x", "must not contain user information"},
        {"http://x?a=b", "must not have a query or fragment"},
        {"http://x#f", "must not have a query or fragment"},
        {"https://", "did not specify a host"},
        {"http://x y", "has an invalid character"},
        {"http://x:", "has an empty port"},
        {"ftp://x.example", "is not an http:// or https:// URL"},
        {"http://127.0.0.1:5000", NULL},
        {"HTTPS://vpce-1.autoscaling.eu-west-1.vpce.amazonaws.com/", NULL},
        {"http://[::1]:8080/prefix", NULL},
    };
    char *dir = bsup_test_mkdtemp();
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_settings s;
        struct bsup_diag diag = {0};
        char text[256];
        snprintf(text, sizeof(text), "endpoint_urls:\n  autoscaling: '%s'\n", rows[i].url);
        char *path = bsup_test_write(dir, "bsupd.yaml", text, -1);
        bsup_settings_init(&s);
        int rc = bsup_settings_load(&s, path, false, &diag);
        if (!rows[i].message_has && rc)
            fail_msg("%s: refused: %s", rows[i].url, diag.message);
        if (rows[i].message_has &&
            (rc != BSUP_ECONFIG || !strstr(diag.message, rows[i].message_has)))
            fail_msg("%s: rc %d, \"%s\" lacks \"%s\"", rows[i].url, rc, diag.message,
                     rows[i].message_has);
        bsup_settings_cleanup(&s);
        free(path);
    }
    bsup_test_rmtree(dir);
    free(dir);
}

/* Every key in both tables is documented, and every default satisfies its own rule. */
static void test_docs_and_defaults(void **state)
{
    (void)state;
    char *doc = bsup_test_read(BSUP_SRCDIR "/docs/config.md", NULL);
    char *example = bsup_test_read(BSUP_SRCDIR "/etc/bsupd.yaml", NULL);
    assert_non_null(doc);
    assert_non_null(example);
    const struct bsup_config_key *tables[] = {bsup_service_keys, bsup_settings_keys};
    for (size_t t = 0; t < 2; t++) {
        for (const struct bsup_config_key *k = tables[t]; k->name; k++) {
            char needle[80];
            snprintf(needle, sizeof(needle), "`%s`", k->name);
            if (!strstr(doc, needle))
                fail_msg("docs/config.md does not document %s", k->name);
            if (t == 1 && !strstr(example, k->name))
                fail_msg("etc/bsupd.yaml does not show %s", k->name);
            for (const struct bsup_config_key *r = k->section; r && r->name; r++) {
                snprintf(needle, sizeof(needle), "`%s.%s`", k->name, r->name);
                if (!strstr(doc, needle))
                    fail_msg("docs/config.md does not document %s.%s", k->name, r->name);
            }
        }
    }
    free(doc);
    free(example);
    struct bsup_settings s;
    bsup_settings_init(&s); /* would leave NULLs if a default failed its rule */
    assert_non_null(s.config_dir);
    bsup_settings_cleanup(&s);
}

/* Byte-by-byte mutations of a valid file: the loader must never crash (ASan watches), and
 * must either accept or explain. Bounded and seeded. */
static void test_mutation_fuzz(void **state)
{
    (void)state;
    const char *orig = "services:\n"
                       "- service_name: api\n  environment: prod\n  vpc_id: vpc-0a1b2c3d\n"
                       "  subnet_ids: [subnet-0a1b2c3d, \"subnet-0a1b2c3e\"]\n"
                       "  database_name: api\n  database_username: admin\n"
                       "  database_password: 'ssm:/prod/api/db'\n  min_size: 2\n"
                       "  max_size: 6\n  interval: 90s\n  resources: {db_instance: x}\n";
    size_t len = strlen(orig);
    char *buf = malloc(len + 64);
    unsigned seed = 20261125;
    static const char alphabet[] = ":-[]{}&*!|>'\"#%@`\n\t ,?\\\x00\xff\xc3";
    for (int round = 0; round < 4000; round++) {
        memcpy(buf, orig, len);
        size_t n = len;
        int edits = 1 + rand_r(&seed) % 4;
        for (int e = 0; e < edits; e++) {
            size_t pos = (size_t)rand_r(&seed) % n;
            int op = rand_r(&seed) % 3;
            char c = (rand_r(&seed) % 2) ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
                                         : (char)(rand_r(&seed) & 0xff);
            if (op == 0) {
                buf[pos] = c;
            } else if (op == 1 && n < len + 60) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = c;
                n++;
            } else if (n > 1) {
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            }
        }
        struct bsup_config_set set;
        bsup_config_set_init(&set);
        assert_int_equal(bsup_config_parse_buffer(&set, "fuzz.yaml", buf, n), 0);
        assert_true(set.n_errors > 0 || set.n_services <= 1);
        for (size_t i = 0; i < set.n_msgs; i++)
            assert_non_null(strstr(set.msgs[i].text, "fuzz.yaml:"));
        bsup_config_set_cleanup(&set);
    }
    free(buf);
}

/* A billion-laughs document is refused at the first alias, quickly and in bounded memory. */
static void test_alias_bomb(void **state)
{
    (void)state;
    const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n";
    struct bsup_config_set set;
    s_load_one(bomb, &set);
    assert_int_equal(set.n_errors, 1);
    assert_true(s_has_msg(&set, "YAML anchors (&a) are not allowed"));
    bsup_config_set_cleanup(&set);

    /* Deep nesting and many nodes are bounded too. */
    char deep[200];
    memset(deep, '[', 100);
    strcpy(deep + 100, "1");
    s_load_one(deep, &set);
    assert_true(s_has_msg(&set, "nested too deeply (more than 16 levels)"));
    bsup_config_set_cleanup(&set);

    size_t cap = 200000;
    char *many = malloc(cap);
    size_t o = (size_t)sprintf(many, "subnet_ids: [");
    for (int i = 0; i < 30000; i++)
        o += (size_t)sprintf(many + o, "a,");
    strcpy(many + o, "a]\n");
    s_load_one(many, &set);
    assert_true(s_has_msg(&set, "too many YAML nodes (more than 20000)"));
    bsup_config_set_cleanup(&set);
    free(many);
}

/* A restore drill asked for where enable_backup is false can never run: loaded, with a warning at
 * the key; with backups on, or the drill off, no word. */
static void test_restore_test_without_backup(void **state)
{
    (void)state;
    struct bsup_config_set set;
    const char *base = "service_name: a\nenvironment: dev\nvpc_id: vpc-0a1b2c3d\n"
                       "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\ndatabase_username: a\n"
                       "database_password: ssm:/dev/a\n";
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "%senable_backup: false\nbackup:\n  restore_test: 7d\n", base);
    s_load_one(yaml, &set);
    assert_int_equal(set.n_errors, 0);
    assert_int_equal(set.n_services, 1);
    assert_int_equal(set.n_msgs, 1);
    assert_true(s_has_msg(&set, "f.yaml:10:17: backup.restore_test is set but enable_backup is "
                                "false: no restore drill runs"));
    bsup_config_set_cleanup(&set);
    const char *quiet[] = {"enable_backup: true\nbackup:\n  restore_test: 7d\n",
                           "enable_backup: false\nbackup:\n  restore_test: \"off\"\n"};
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        snprintf(yaml, sizeof(yaml), "%s%s", base, quiet[i]);
        s_load_one(yaml, &set);
        assert_int_equal(set.n_errors, 0);
        assert_int_equal(set.n_msgs, 0);
        bsup_config_set_cleanup(&set);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_and_messages),
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_default_resource_names),
        cmocka_unit_test(test_health_check_defaults),
        cmocka_unit_test(test_restore_test_without_backup),
        cmocka_unit_test(test_services_list_and_duplicates),
        cmocka_unit_test(test_incumbent_keeps_service),
        cmocka_unit_test(test_shared_resource),
        cmocka_unit_test(test_shared_resource_kept),
        cmocka_unit_test(test_shared_resource_edited),
        cmocka_unit_test(test_shared_resource_rejected_claims_nothing),
        cmocka_unit_test(test_secrets_never_leak),
        cmocka_unit_test(test_json_round_trip_and_hash),
        cmocka_unit_test(test_dropin_names),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_settings_owner),
        cmocka_unit_test(test_settings_endpoint_urls),
        cmocka_unit_test(test_docs_and_defaults),
        cmocka_unit_test(test_mutation_fuzz),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_as_stored),
        cmocka_unit_test(test_health_declared),
        cmocka_unit_test(test_json_as_jansson),
        cmocka_unit_test(test_table_sizes),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
