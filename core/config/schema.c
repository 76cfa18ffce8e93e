/* The key tables: adding a setting is one row here plus its field in core/config/config.h. */
#include "core/config/config.h"

#include "core/aws/endpoints.h"
#include "core/base/units.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

static const char *const s_environments[] = {"dev", "staging", "prod", NULL};
static const char *const s_modes[] = {"observe", "enforce", NULL};
static const char *const s_log_levels[] = {"error", "warning", "notice", "info", "debug", NULL};
static const char *const s_false_true[] = {"false", "true", NULL};

static bool s_all(const char *s, const char *allowed_extra, bool upper)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (islower(c) || isdigit(c) || (upper && isupper(c)) || strchr(allowed_extra, c))
            continue;
        return false;
    }
    return true;
}

/* <prefix> followed by 8 or 17 lowercase hex digits, as EC2 ids are. */
static bool s_ec2_id(const char *v, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(v, prefix, pl) != 0)
        return false;
    const char *h = v + pl;
    size_t n = strlen(h);
    if (n != 8 && n != 17)
        return false;
    for (; *h; h++)
        if (!isxdigit((unsigned char)*h) || isupper((unsigned char)*h))
            return false;
    return true;
}

static const char *s_check_service_name(const char *v)
{
    if (!s_all(v, "-", false))
        return "may only hold lowercase letters, digits and '-'";
    if (!islower((unsigned char)v[0]))
        return "must start with a lowercase letter";
    if (v[strlen(v) - 1] == '-' || strstr(v, "--"))
        return "must not end with '-' or hold '--' (AWS resource name rules)";
    return NULL;
}

static const char *s_check_vpc(const char *v)
{
    return s_ec2_id(v, "vpc-") ? NULL : "must look like vpc-0123456789abcdef0";
}

static const char *s_check_subnet(const char *v)
{
    return s_ec2_id(v, "subnet-") ? NULL : "must look like subnet-0123456789abcdef0";
}

static const char *s_check_db_identifier(const char *v)
{
    if (!isalpha((unsigned char)v[0]) || !s_all(v, "_", true))
        return "must start with a letter and hold only letters, digits and '_'";
    return NULL;
}

static const char *s_check_instance_type(const char *v)
{
    const char *dot = strchr(v, '.');
    if (!dot || dot == v || !dot[1] || strchr(dot + 1, '.') || !s_all(v, ".-", false))
        return "must look like an EC2 instance type, e.g. t3.medium";
    return NULL;
}

static const char *s_check_region(const char *v)
{
    /* e.g. eu-west-1, us-gov-west-1, ap-southeast-4, cn-north-1 */
    size_t n = strlen(v);
    if (n < 9 || !s_all(v, "-", false) || !isdigit((unsigned char)v[n - 1]) || !strchr(v, '-') ||
        v[0] == '-')
        return "must look like an AWS region, e.g. eu-west-1";
    return NULL;
}

static const char *s_check_aws_name(const char *v)
{
    return s_all(v, "-_.:/", true) ? NULL : "may only hold letters, digits and - _ . : /";
}

static const char *s_check_abs_path(const char *v)
{
    return v[0] == '/' ? NULL : "must be an absolute path";
}

static const struct bsup_config_key s_resource_keys[] = {
    {.name = "auto_scaling_group",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_resources, auto_scaling_group),
     .min = 1,
     .max = 255,
     .check = s_check_aws_name,
     .doc = "Auto Scaling group name"},
    {.name = "target_group",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_resources, target_group),
     .min = 1,
     .max = 32,
     .check = s_check_aws_name,
     .doc = "ELBv2 target group name"},
    {.name = "load_balancer",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_resources, load_balancer),
     .min = 1,
     .max = 32,
     .check = s_check_aws_name,
     .doc = "ELBv2 load balancer name"},
    {.name = "db_instance",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_resources, db_instance),
     .min = 1,
     .max = 63,
     .check = s_check_aws_name,
     .doc = "RDS DB instance identifier"},
    {.name = "cache_replication_group",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_resources, cache_replication_group),
     .min = 1,
     .max = 40,
     .check = s_check_aws_name,
     .doc = "ElastiCache replication group id"},
    {0},
};

static const char *const s_health_protocols[] = {"HTTP", "HTTPS", NULL};

/* A health-check path: "/" then printable ASCII without spaces (ELBv2: at most 1024). */
static const char *s_check_hc_path(const char *v)
{
    if (v[0] != '/')
        return "must start with /";
    for (; *v; v++)
        if (*v < 0x21 || *v > 0x7e)
            return "may only hold printable ASCII characters, no spaces";
    return NULL;
}

/* A whole number lo..hi written plainly ("8080"), its value in *out. */
static bool s_plain_number(const char *v, size_t len, long lo, long hi, long *out)
{
    long n = 0;
    if (len == 0 || len > 5 || v[0] == '0')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)v[i]))
            return false;
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return n >= lo && n <= hi;
}

static const char *s_check_hc_port(const char *v)
{
    long n;
    if (strcmp(v, "traffic-port") == 0 || s_plain_number(v, strlen(v), 1, 65535, &n))
        return NULL;
    return "must be traffic-port or a port number 1-65535";
}

/* HTTP codes 200-499 as ELBv2 takes them: "200", "200,202" or "200-299". */
static const char *s_check_hc_matcher(const char *v)
{
    static const char *const why = "must be HTTP codes 200-499 written \"200\", \"200,202\" or "
                                   "\"200-299\"";
    const char *dash = strchr(v, '-');
    long lo, hi;
    if (dash)
        return s_plain_number(v, (size_t)(dash - v), 200, 499, &lo) &&
                       s_plain_number(dash + 1, strlen(dash + 1), 200, 499, &hi) && lo <= hi
                   ? NULL
                   : why;
    for (const char *p = v;; p++) {
        size_t len = strcspn(p, ",");
        if (!s_plain_number(p, len, 200, 499, &lo))
            return why;
        p += len;
        if (!*p)
            return NULL;
    }
}

static const struct bsup_config_key s_health_check_keys[] = {
    {.name = "grace_period",
     .type = BSUP_KEY_DURATION,
     .default_text = "300s",
     .offset = offsetof(struct bsup_health_check, grace_period_s),
     .min = 0,
     .max = 7200,
     .doc = "Auto Scaling health-check grace period when a target group is attached",
     .if_declared = true},
    {.name = "path",
     .type = BSUP_KEY_STRING,
     .default_text = "/",
     .offset = offsetof(struct bsup_health_check, path),
     .min = 1,
     .max = 1024,
     .check = s_check_hc_path,
     .doc = "the target group's HealthCheckPath",
     .if_declared = true},
    {.name = "port",
     .type = BSUP_KEY_STRING,
     .default_text = "traffic-port",
     .offset = offsetof(struct bsup_health_check, port),
     .min = 1,
     .max = 12,
     .check = s_check_hc_port,
     .doc = "HealthCheckPort: traffic-port or 1-65535",
     .if_declared = true},
    {.name = "protocol",
     .type = BSUP_KEY_ENUM,
     .default_text = "HTTP",
     .offset = offsetof(struct bsup_health_check, protocol),
     .choices = s_health_protocols,
     .doc = "HealthCheckProtocol: HTTP or HTTPS",
     .if_declared = true},
    {.name = "interval",
     .type = BSUP_KEY_DURATION,
     .default_text = "30s",
     .offset = offsetof(struct bsup_health_check, interval_s),
     .min = 5,
     .max = 300,
     .doc = "HealthCheckIntervalSeconds, 5s-300s",
     .if_declared = true},
    {.name = "timeout",
     .type = BSUP_KEY_DURATION,
     .default_text = "5s",
     .offset = offsetof(struct bsup_health_check, timeout_s),
     .min = 2,
     .max = 120,
     .doc = "HealthCheckTimeoutSeconds, 2s-120s and less than interval",
     .if_declared = true},
    {.name = "healthy_threshold",
     .type = BSUP_KEY_INT,
     .default_text = "5",
     .offset = offsetof(struct bsup_health_check, healthy_threshold),
     .min = 2,
     .max = 10,
     .unit = "checks",
     .doc = "HealthyThresholdCount, 2-10",
     .if_declared = true},
    {.name = "unhealthy_threshold",
     .type = BSUP_KEY_INT,
     .default_text = "2",
     .offset = offsetof(struct bsup_health_check, unhealthy_threshold),
     .min = 2,
     .max = 10,
     .unit = "checks",
     .doc = "UnhealthyThresholdCount, 2-10",
     .if_declared = true},
    {.name = "matcher",
     .type = BSUP_KEY_STRING,
     .default_text = "200",
     .offset = offsetof(struct bsup_health_check, matcher),
     .min = 3,
     .max = 64,
     .check = s_check_hc_matcher,
     .doc = "Matcher HttpCode: \"200\", \"200,202\" or \"200-299\" (200-499)",
     .if_declared = true},
    {.name = "min_healthy",
     .type = BSUP_KEY_INT,
     .offset = offsetof(struct bsup_health_check, min_healthy),
     .min = 0,
     .max = 10000,
     .unit = "targets",
     .doc = "fewer healthy targets make the service degraded; default min_size"},
    {.name = "replace_unhealthy",
     .type = BSUP_KEY_BOOL,
     .default_text = "false",
     .offset = offsetof(struct bsup_health_check, replace_unhealthy),
     .doc = "mark instances that stay unhealthy so the group replaces them (damped)"},
    {.name = "unhealthy_cycles",
     .type = BSUP_KEY_INT,
     .default_text = "3",
     .offset = offsetof(struct bsup_health_check, unhealthy_cycles),
     .min = 1,
     .max = 100,
     .unit = "observations",
     .doc = "consecutive unhealthy observations, one per health-check interval of the target "
            "group, before an instance is marked"},
    {.name = "max_replace_percent",
     .type = BSUP_KEY_INT,
     .default_text = "25",
     .offset = offsetof(struct bsup_health_check, max_replace_percent),
     .min = 1,
     .max = 100,
     .unit = "percent",
     .doc = "most of the group marked at once (at least one instance)"},
    {.name = "public",
     .type = BSUP_KEY_BOOL,
     .default_text = "false",
     .offset = offsetof(struct bsup_health_check, public),
     .doc = "the load balancer may be internet-facing (else a finding)"},
    {.name = "sweep",
     .type = BSUP_KEY_DURATION,
     .default_text = "5m",
     .offset = offsetof(struct bsup_health_check, sweep_s),
     .min = 10,
     .max = 86400,
     .doc = "how often target health is read while the service looks fine"},
    {0},
};

static const char *s_check_restore_test(const char *v)
{
    int64_t s;
    if (strcmp(v, "off") == 0)
        return NULL;
    if (bsup_duration_parse(v, &s) || s < 86400 || s > 365 * 86400)
        return "must be off or a duration from 1d to 365d, such as 7d";
    return NULL;
}

static const char *s_check_db_class(const char *v)
{
    if (strncmp(v, "db.", 3) != 0 || s_check_instance_type(v + 3))
        return "must look like an RDS instance class, e.g. db.t3.micro";
    return NULL;
}

static const struct bsup_config_key s_backup_keys[] = {
    {.name = "max_age",
     .type = BSUP_KEY_DURATION,
     .default_text = "26h",
     .offset = offsetof(struct bsup_backup, max_age_s),
     .min = 1,
     .max = 35 * 86400,
     .doc = "the newest RDS automated snapshot (and cache snapshot) must be younger than this"},
    {.name = "require_encryption",
     .type = BSUP_KEY_ENUM,
     .offset = offsetof(struct bsup_backup, require_encryption),
     .choices = s_false_true,
     .doc = "storage, snapshots and cache must be encrypted; default true in prod, else false"},
    {.name = "restore_test",
     .type = BSUP_KEY_STRING,
     .default_text = "off",
     .offset = offsetof(struct bsup_backup, restore_test),
     .min = 2,
     .max = 16,
     .check = s_check_restore_test,
     .doc = "off, or how often to restore the newest automated snapshot as a drill (e.g. 7d)"},
    {.name = "restore_instance_class",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_backup, restore_instance_class),
     .min = 4,
     .max = 40,
     .check = s_check_db_class,
     .doc = "instance class of the drill's restored instance; default the snapshot's"},
    {.name = "allow_disruptive",
     .type = BSUP_KEY_BOOL,
     .default_text = "false",
     .offset = offsetof(struct bsup_backup, allow_disruptive),
     .doc = "enforce mode may turn RDS backups on from 0, which restarts the instance"},
    {.name = "password_max_age",
     .type = BSUP_KEY_DURATION,
     .default_text = "90d",
     .offset = offsetof(struct bsup_backup, password_max_age_s),
     .min = 86400,
     .max = 1000 * 86400,
     .doc = "prod: the secretsmanager password must have rotated within this"},
    {0},
};

static const struct bsup_config_key s_cache_keys[] = {
    {.name = "snapshot_retention",
     .type = BSUP_KEY_INT,
     .offset = offsetof(struct bsup_cache, snapshot_retention),
     .min = 0,
     .max = 35,
     .unit = "days",
     .doc = "ElastiCache SnapshotRetentionLimit, 1-35 days; 0 or absent: not checked"},
    {0},
};

static const char *s_check_topic_arn(const char *v)
{
    return strncmp(v, "arn:", 4) == 0 && strstr(v, ":sns:") && s_all(v, "-_.:", true)
               ? NULL
               : "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)";
}

static const struct bsup_config_key s_service_alert_keys[] = {
    {.name = "sns_topic_arn",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_service_alerts, sns_topic_arn),
     .min = 20,
     .max = 1024,
     .check = s_check_topic_arn,
     .doc = "SNS topic of this service's alerts; default: bsupd.yaml's alerts.sns_topic_arn"},
    {0},
};

#define SVC(field) offsetof(struct bsup_service, field)

const struct bsup_config_key bsup_service_keys[] = {
    {.name = "service_name",
     .type = BSUP_KEY_STRING,
     .required = true,
     .offset = SVC(service_name),
     .min = 1,
     .max = 63,
     .check = s_check_service_name,
     .doc = "[a-z0-9-], starts with a letter, unique across all drop-ins"},
    {.name = "environment",
     .type = BSUP_KEY_ENUM,
     .required = true,
     .offset = SVC(environment),
     .choices = s_environments,
     .doc = "dev, staging or prod"},
    {.name = "vpc_id",
     .type = BSUP_KEY_STRING,
     .required = true,
     .offset = SVC(vpc_id),
     .min = 12,
     .max = 21,
     .check = s_check_vpc,
     .doc = "the VPC the service runs in (vpc-...)"},
    {.name = "subnet_ids",
     .type = BSUP_KEY_LIST,
     .required = true,
     .offset = SVC(subnet_ids),
     .min = 1,
     .max = 64,
     .check = s_check_subnet,
     .doc = "non-empty list of subnet-... ids, no duplicates"},
    {.name = "database_name",
     .type = BSUP_KEY_STRING,
     .required = true,
     .offset = SVC(database_name),
     .min = 1,
     .max = 63,
     .check = s_check_db_identifier,
     .doc = "database name: a letter, then letters, digits or _"},
    {.name = "database_username",
     .type = BSUP_KEY_STRING,
     .required = true,
     .offset = SVC(database_username),
     .min = 1,
     .max = 63,
     .check = s_check_db_identifier,
     .doc = "master user name: a letter, then letters, digits or _"},
    {.name = "database_password",
     .type = BSUP_KEY_SECRET,
     .required = true,
     .offset = SVC(database_password),
     .min = 1,
     .max = 2048,
     .doc = "secretsmanager:<arn>, ssm:<name> or file:<path>; plaintext only in dev"},
    {.name = "instance_type",
     .type = BSUP_KEY_STRING,
     .default_text = "t3.medium",
     .offset = SVC(instance_type),
     .min = 3,
     .max = 32,
     .check = s_check_instance_type,
     .doc = "EC2 instance type of the Auto Scaling group"},
    {.name = "min_size",
     .type = BSUP_KEY_INT,
     .default_text = "2",
     .offset = SVC(min_size),
     .min = 0,
     .max = 10000,
     .unit = "instances",
     .doc = "Auto Scaling group minimum, min_size <= max_size"},
    {.name = "max_size",
     .type = BSUP_KEY_INT,
     .default_text = "4",
     .offset = SVC(max_size),
     .min = 0,
     .max = 10000,
     .unit = "instances",
     .doc = "Auto Scaling group maximum"},
    {.name = "enable_backup",
     .type = BSUP_KEY_BOOL,
     .default_text = "true",
     .offset = SVC(enable_backup),
     .doc = "whether RDS automated backups must be on"},
    {.name = "backup_retention",
     .type = BSUP_KEY_INT,
     .default_text = "7",
     .offset = SVC(backup_retention),
     .min = 1,
     .max = 35,
     .unit = "days",
     .doc = "RDS backup retention in days, 1-35 (RDS limits)"},
    {.name = "region",
     .type = BSUP_KEY_STRING,
     .offset = SVC(region),
     .min = 9,
     .max = 32,
     .check = s_check_region,
     .doc = "AWS region; default: the daemon's region"},
    {.name = "mode",
     .type = BSUP_KEY_ENUM,
     .offset = SVC(mode),
     .choices = s_modes,
     .doc = "observe (report drift only) or enforce (correct it); default: the daemon's mode"},
    {.name = "interval",
     .type = BSUP_KEY_DURATION,
     .offset = SVC(interval_s),
     .min = 10,
     .max = 86400,
     .doc = "how often to reconcile; default: the daemon's interval"},
    {.name = "resources",
     .type = BSUP_KEY_SECTION,
     .offset = SVC(resources),
     .section = s_resource_keys,
     .doc = "AWS names that do not follow <service_name>-<environment>"},
    {.name = "health_check",
     .type = BSUP_KEY_SECTION,
     .offset = SVC(health_check),
     .section = s_health_check_keys,
     .doc = "load-balancer health checking"},
    {.name = "backup",
     .type = BSUP_KEY_SECTION,
     .offset = SVC(backup),
     .section = s_backup_keys,
     .doc = "backup verification: snapshot age, encryption, restore drills, password secret"},
    {.name = "cache",
     .type = BSUP_KEY_SECTION,
     .offset = SVC(cache),
     .section = s_cache_keys,
     .doc = "the service's ElastiCache replication group"},
    {.name = "alerts",
     .type = BSUP_KEY_SECTION,
     .offset = SVC(alerts),
     .section = s_service_alert_keys,
     .doc = "where the service's SNS alerts go"},
    {0},
};

static const struct bsup_config_key s_rate_keys[] = {
    {.name = "burst",
     .type = BSUP_KEY_INT,
     .offset = offsetof(struct bsup_rate_limit, burst),
     .min = 0,
     .max = 100000,
     .doc = "calls that may go at once; 0: the built-in default"},
    {.name = "rate",
     .type = BSUP_KEY_INT,
     .offset = offsetof(struct bsup_rate_limit, rate_per_s),
     .min = 0,
     .max = 100000,
     .doc = "calls per second after the burst; 0: the built-in default"},
    {0},
};

static const struct bsup_config_key s_rate_limit_keys[] = {
#define RL(id, fam, ...)                                                                           \
    {.name = #fam,                                                                                 \
     .type = BSUP_KEY_SECTION,                                                                     \
     .offset = offsetof(struct bsup_rate_limits, fam),                                             \
     .section = s_rate_keys,                                                                       \
     .doc = "budget of this API family"},
    BSUP_API_FAMILY_MAP(RL)
#undef RL
        {0},
};

/* The AWS client's own rules, so a URL it would refuse on every call is refused here. */
static const char *s_check_url(const char *v)
{
    return bsup_endpoints_url_problem(v);
}

static const struct bsup_config_key s_endpoint_keys[] = {
#define EP(id, svc, ...)                                                                           \
    {.name = #svc,                                                                                 \
     .type = BSUP_KEY_STRING,                                                                      \
     .offset = offsetof(struct bsup_endpoint_urls, svc),                                           \
     .min = 8,                                                                                     \
     .max = 1024,                                                                                  \
     .check = s_check_url,                                                                         \
     .doc = "endpoint URL of this service (e.g. a VPC endpoint)"},
    BSUP_AWS_SERVICE_MAP(EP)
#undef EP
        {0},
};

static const char *s_check_namespace(const char *v)
{
    return v[0] != ':' && s_all(v, "-_./#: ", true) && strncmp(v, "AWS/", 4) != 0
               ? NULL
               : "must be a CloudWatch namespace (letters, digits, . - _ / # : and spaces; not "
                 "AWS/...)";
}

static const struct bsup_config_key s_metrics_keys[] = {
    {.name = "enabled",
     .type = BSUP_KEY_BOOL,
     .default_text = "true",
     .offset = offsetof(struct bsup_metrics_settings, enabled),
     .doc = "whether bsupd measures and publishes CloudWatch metrics"},
    {.name = "namespace",
     .type = BSUP_KEY_STRING,
     .default_text = "BSUP",
     .offset = offsetof(struct bsup_metrics_settings, namespace_),
     .min = 1,
     .max = 255,
     .check = s_check_namespace,
     .doc = "CloudWatch namespace of every metric"},
    {.name = "interval",
     .type = BSUP_KEY_DURATION,
     .default_text = "60s",
     .offset = offsetof(struct bsup_metrics_settings, interval_s),
     .min = 1,
     .max = 3600,
     .doc = "how often the publisher sends what waits in the outboxes"},
    {.name = "outbox_max_age",
     .type = BSUP_KEY_DURATION,
     .default_text = "13d",
     .offset = offsetof(struct bsup_metrics_settings, outbox_max_age_s),
     .min = 60,
     .max = 13 * 86400,
     .doc = "datums older than this are dropped and counted (CloudWatch refuses two weeks)"},
    {.name = "outbox_max_rows",
     .type = BSUP_KEY_INT,
     .default_text = "1000000",
     .offset = offsetof(struct bsup_metrics_settings, outbox_max_rows),
     .min = 1000,
     .max = 100000000,
     .unit = "datums",
     .doc = "datums the outbox keeps at most; the oldest beyond are dropped and counted"},
    {.name = "alarms",
     .type = BSUP_KEY_BOOL,
     .default_text = "true",
     .offset = offsetof(struct bsup_metrics_settings, alarms),
     .doc = "whether bsupd keeps its own CloudWatch alarms per service (with metrics on)"},
    {.name = "error_periods",
     .type = BSUP_KEY_INT,
     .default_text = "3",
     .offset = offsetof(struct bsup_metrics_settings, error_periods),
     .min = 1,
     .max = 100,
     .unit = "periods",
     .doc = "the errors alarm fires after reconcile errors in this many periods in a row"},
    {0},
};

static const struct bsup_config_key s_alerts_keys[] = {
    {.name = "sns_topic_arn",
     .type = BSUP_KEY_STRING,
     .offset = offsetof(struct bsup_alerts_settings, sns_topic_arn),
     .min = 20,
     .max = 1024,
     .check = s_check_topic_arn,
     .doc = "default SNS topic of alerts; unset: alerts are only events"},
    {.name = "reminder",
     .type = BSUP_KEY_DURATION,
     .default_text = "4h",
     .offset = offsetof(struct bsup_alerts_settings, reminder_s),
     .min = 0,
     .max = 30 * 86400,
     .doc = "a reminder is sent this often while a condition lasts; 0s: never"},
    {.name = "recovery_hold",
     .type = BSUP_KEY_DURATION,
     .default_text = "10m",
     .offset = offsetof(struct bsup_alerts_settings, recovery_hold_s),
     .min = 0,
     .max = 86400,
     .doc = "a service's recovery is sent once it has lasted two of its intervals, at most "
            "this; 0s: at once"},
    {.name = "burst",
     .type = BSUP_KEY_INT,
     .default_text = "20",
     .offset = offsetof(struct bsup_alerts_settings, burst),
     .min = 1,
     .max = 10000,
     .unit = "alerts",
     .doc = "alerts that may go at once (the global rate limit)"},
    {.name = "per_minute",
     .type = BSUP_KEY_INT,
     .default_text = "10",
     .offset = offsetof(struct bsup_alerts_settings, per_minute),
     .min = 1,
     .max = 10000,
     .unit = "alerts",
     .doc = "alerts per minute after the burst; more wait in the outbox"},
    {0},
};

#define SET(field) offsetof(struct bsup_settings, field)

const struct bsup_config_key bsup_settings_keys[] = {
    {.name = "region",
     .type = BSUP_KEY_STRING,
     .offset = SET(region),
     .min = 9,
     .max = 32,
     .check = s_check_region,
     .doc = "default AWS region; else AWS_REGION, AWS_DEFAULT_REGION"},
    {.name = "interval",
     .type = BSUP_KEY_DURATION,
     .default_text = "60s",
     .offset = SET(interval_s),
     .min = 10,
     .max = 86400,
     .doc = "how often each service is reconciled"},
    {.name = "jitter",
     .type = BSUP_KEY_DURATION,
     .default_text = "10s",
     .offset = SET(jitter_s),
     .min = 0,
     .max = 3600,
     .doc = "random delay added to each service's schedule"},
    {.name = "config_dir",
     .type = BSUP_KEY_STRING,
     .default_text = "/etc/bsup.d",
     .offset = SET(config_dir),
     .min = 1,
     .max = 4096,
     .check = s_check_abs_path,
     .doc = "directory of service drop-ins"},
    {.name = "state_dir",
     .type = BSUP_KEY_STRING,
     .default_text = "/var/lib/bsup",
     .offset = SET(state_dir),
     .min = 1,
     .max = 4096,
     .check = s_check_abs_path,
     .doc = "SQLite state; default $STATE_DIRECTORY or /var/lib/bsup"},
    {.name = "socket",
     .type = BSUP_KEY_STRING,
     .default_text = "/run/bsup/bsupd.sock",
     .offset = SET(socket),
     .min = 1,
     .max = 107,
     .check = s_check_abs_path,
     .doc = "control socket; default $RUNTIME_DIRECTORY/bsupd.sock or /run/bsup/bsupd.sock"},
    {.name = "log_level",
     .type = BSUP_KEY_ENUM,
     .default_text = "info",
     .offset = SET(log_level),
     .choices = s_log_levels,
     .doc = "error, warning, notice, info or debug"},
    {.name = "mode",
     .type = BSUP_KEY_ENUM,
     .default_text = "observe",
     .offset = SET(mode),
     .choices = s_modes,
     .doc = "observe (report drift only) or enforce (correct it)"},
    {.name = "read_group",
     .type = BSUP_KEY_STRING,
     .default_text = "bsup",
     .offset = SET(read_group),
     .min = 1,
     .max = 32,
     .doc = "group whose members may read status, plan and events over the socket"},
    {.name = "admin_group",
     .type = BSUP_KEY_STRING,
     .default_text = "bsup-admin",
     .offset = SET(admin_group),
     .min = 1,
     .max = 32,
     .doc = "group whose members may reconcile, reload, pause and resume"},
    {.name = "owner",
     .type = BSUP_KEY_STRING,
     .default_text = BSUP_OWNER_DEFAULT,
     .offset = SET(owner),
     .min = 1,
     .max = BSUP_OWNER_MAX - 1,
     .check = s_check_service_name,
     .doc = "which bsupd: the bsup:owner tag of its alarms and drill instances; [a-z0-9-]"},
    {.name = "cooldown",
     .type = BSUP_KEY_DURATION,
     .default_text = "2m",
     .offset = SET(cooldown_s),
     .min = 0,
     .max = 86400,
     .doc = "a resource bsupd changed is not changed again sooner than this"},
    {.name = "fight_threshold",
     .type = BSUP_KEY_INT,
     .default_text = "3",
     .offset = SET(fight_threshold),
     .min = 2,
     .max = 100,
     .doc = "corrections in a row of drift that keeps coming back before bsupd stops"},
    {.name = "max_changes_per_cycle",
     .type = BSUP_KEY_INT,
     .default_text = "20",
     .offset = SET(max_changes_per_cycle),
     .min = 1,
     .max = 10000,
     .doc = "mutating AWS calls per cycle, all services together"},
    {.name = "max_changes_per_service",
     .type = BSUP_KEY_INT,
     .default_text = "3",
     .offset = SET(max_changes_per_service),
     .min = 1,
     .max = 100,
     .doc = "mutating AWS calls per service per cycle"},
    {.name = "rate_limits",
     .type = BSUP_KEY_SECTION,
     .offset = SET(rate_limits),
     .section = s_rate_limit_keys,
     .doc = "client-side budgets per AWS API family"},
    {.name = "max_attempts",
     .type = BSUP_KEY_INT,
     .default_text = "3",
     .offset = SET(max_attempts),
     .min = 1,
     .max = 10,
     .doc = "attempts per AWS call, retries included (standard retry mode)"},
    {.name = "endpoint_urls",
     .type = BSUP_KEY_SECTION,
     .offset = SET(endpoint_urls),
     .section = s_endpoint_keys,
     .doc = "per-service AWS endpoint URLs"},
    {.name = "metrics",
     .type = BSUP_KEY_SECTION,
     .offset = SET(metrics),
     .section = s_metrics_keys,
     .doc = "CloudWatch metrics: namespace, period and the outbox's bounds"},
    {.name = "alerts",
     .type = BSUP_KEY_SECTION,
     .offset = SET(alerts),
     .section = s_alerts_keys,
     .doc = "SNS alerts: default topic, reminders and the rate limit"},
    {0},
};
