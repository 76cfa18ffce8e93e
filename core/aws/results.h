/* Typed results of the AWS operations bsupd calls, extracted from the parsed (jansson)
 * responses by one table per struct. Strings are owned (NUL-terminated); integers absent
 * from the response are -1, booleans false, timestamps are epoch seconds (-1 absent).
 * Every struct has <name>_parse(page, out) and <name>_cleanup(out); cleanup accepts a
 * zeroed or half-built struct and wipes secrets (SecretString, SSM values). */
#ifndef BSUP_CORE_AWS_RESULTS_H
#define BSUP_CORE_AWS_RESULTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- generic extraction ---- */

enum bsup_aws_field_type {
    BSUP_AWS_FIELD_STRING = 1, /* char * */
    BSUP_AWS_FIELD_SECRET,     /* char *, wiped on cleanup */
    BSUP_AWS_FIELD_INT,        /* int64_t, -1 when absent */
    BSUP_AWS_FIELD_DOUBLE,     /* double, NAN when absent */
    BSUP_AWS_FIELD_BOOL,       /* bool */
    BSUP_AWS_FIELD_TIME,       /* int64_t epoch seconds (ISO 8601 text or epoch number) */
    BSUP_AWS_FIELD_STRINGS,    /* char **, count at count_offset (size_t) */
    BSUP_AWS_FIELD_DOUBLES,    /* double *, count at count_offset */
    BSUP_AWS_FIELD_TIMES,      /* int64_t * (epoch seconds), count at count_offset */
    BSUP_AWS_FIELD_LIST,       /* array of record structs, count at count_offset */
    BSUP_AWS_FIELD_RECORD,     /* one embedded record struct */
};

struct bsup_aws_record;

struct bsup_aws_field {
    const char *path; /* member path in the parsed result: "LaunchTemplate.Version" */
    enum bsup_aws_field_type type;
    size_t offset;
    size_t count_offset;                  /* STRINGS, DOUBLES, TIMES, LIST */
    const struct bsup_aws_record *record; /* LIST, RECORD */
};

struct bsup_aws_record {
    const char *name; /* C struct name, for diagnostics */
    size_t size;
    const struct bsup_aws_field *fields;
    size_t n_fields;
};

/* Hard cap on list lengths taken from one page. */
#define BSUP_AWS_RESULT_LIST_MAX 100000

/* Fills out (zeroed first) from obj following rec. 0, BSUP_EPROTO (a member has the wrong
 * JSON type), BSUP_ETOOBIG or BSUP_ENOMEM; on error out is cleaned up. */
int bsup_aws_record_parse(const struct bsup_aws_record *rec, const json_t *obj, void *out);
/* Frees what bsup_aws_record_parse allocated; accepts a zeroed or half-built struct. */
void bsup_aws_record_cleanup(const struct bsup_aws_record *rec, void *obj);

/* ---- autoscaling ---- */

struct bsup_asg_instance {
    char *instance_id;
    char *availability_zone;
    char *lifecycle_state; /* "InService", "Pending", ... */
    char *health_status;   /* "Healthy" / "Unhealthy" */
    char *instance_type;
};

struct bsup_asg {
    char *name;
    int64_t min_size;
    int64_t max_size;
    int64_t desired_capacity;
    struct bsup_asg_instance *instances;
    size_t n_instances;
    char *health_check_type; /* "EC2" / "ELB" */
    int64_t health_check_grace_period_s;
    char *vpc_zone_identifier; /* comma-separated subnet ids */
    char **target_group_arns;
    size_t n_target_group_arns;
    char *launch_template_id;
    char *launch_template_name;
    char *launch_template_version;
    char *status;
};

/* DescribeAutoScalingGroups page. */
struct bsup_asg_page {
    struct bsup_asg *groups;
    size_t n_groups;
    char *next_token;
    char *request_id;
};

/* Any operation whose result bsupd only acknowledges (UpdateAutoScalingGroup,
 * PutMetricData, PutMetricAlarm, ...). */
struct bsup_aws_ack {
    char *request_id;
};

/* ---- elbv2 ---- */

struct bsup_elb_target_group {
    char *arn;
    char *name;
    char *protocol;
    int64_t port;
    char *vpc_id;
    char *health_check_protocol;
    char *health_check_port; /* "traffic-port" or a number */
    char *health_check_path;
    bool health_check_enabled;
    int64_t health_check_interval_s;
    int64_t health_check_timeout_s;
    int64_t healthy_threshold;
    int64_t unhealthy_threshold;
    char *matcher_http_code; /* "200", "200-299" */
    char **load_balancer_arns;
    size_t n_load_balancer_arns;
};

/* DescribeTargetGroups page and ModifyTargetGroup result. */
struct bsup_elb_target_group_page {
    struct bsup_elb_target_group *groups;
    size_t n_groups;
    char *next_marker;
    char *request_id;
};

struct bsup_elb_target_health {
    char *target_id;
    int64_t port;
    char *health_check_port;
    char *state; /* "healthy", "unhealthy", "initial", "draining", ... */
    char *reason;
    char *description;
};

struct bsup_elb_target_health_page {
    struct bsup_elb_target_health *targets;
    size_t n_targets;
    char *request_id;
};

struct bsup_elb_load_balancer {
    char *arn;
    char *name;
    char *dns_name;
    char *type;
    char *scheme;
    char *vpc_id;
    char *state; /* "active", "provisioning", ... */
};

struct bsup_elb_load_balancer_page {
    struct bsup_elb_load_balancer *load_balancers;
    size_t n_load_balancers;
    char *next_marker;
    char *request_id;
};

struct bsup_elb_action {
    char *type;              /* "forward", "redirect", "fixed-response", ... */
    char *target_group_arn;  /* forward */
    char *redirect_protocol; /* redirect: "HTTPS", "#{protocol}" */
    int64_t order;           /* 1..50000; the last one is what serves: forward, redirect, ... */
};

struct bsup_elb_listener {
    char *arn;
    int64_t port;
    char *protocol;   /* "HTTP", "HTTPS", "TCP", "TLS", ... */
    char *ssl_policy; /* HTTPS and TLS listeners */
    struct bsup_elb_action *default_actions;
    size_t n_default_actions;
};

struct bsup_elb_listener_page {
    struct bsup_elb_listener *listeners;
    size_t n_listeners;
    char *next_marker;
    char *request_id;
};

struct bsup_elb_attribute {
    char *key; /* "access_logs.s3.enabled", "deletion_protection.enabled", ... */
    char *value;
};

/* DescribeLoadBalancerAttributes. */
struct bsup_elb_lb_attributes {
    struct bsup_elb_attribute *attributes;
    size_t n_attributes;
    char *request_id;
};

struct bsup_elb_ssl_policy {
    char *name;
    char **ssl_protocols; /* "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" */
    size_t n_ssl_protocols;
};

struct bsup_elb_ssl_policy_page {
    struct bsup_elb_ssl_policy *policies;
    size_t n_policies;
    char *next_marker;
    char *request_id;
};

/* ---- rds ---- */

/* A resource tag (RDS TagList, CloudWatch ListTagsForResource). */
struct bsup_aws_tag {
    char *key;
    char *value;
};

struct bsup_rds_instance {
    char *identifier;
    char *status;
    char *engine;
    char *instance_class;
    int64_t backup_retention_period_d;
    char *preferred_backup_window;
    bool storage_encrypted;
    bool multi_az;
    int64_t latest_restorable_time; /* epoch seconds, -1 absent */
    bool deletion_protection;
    char *db_name;
    char *master_username;
    char *db_subnet_group; /* DBSubnetGroup.DBSubnetGroupName */
    int64_t instance_create_time;
    struct bsup_aws_tag *tags;
    size_t n_tags;
};

struct bsup_rds_instance_page {
    struct bsup_rds_instance *instances;
    size_t n_instances;
    char *marker;
    char *request_id;
};

/* ModifyDBInstance result. */
struct bsup_rds_modify_result {
    struct bsup_rds_instance instance;
    char *request_id;
};

struct bsup_rds_snapshot {
    char *identifier;
    char *instance_identifier;
    char *status;
    char *type; /* "automated", "manual" */
    bool encrypted;
    int64_t create_time; /* epoch seconds */
};

struct bsup_rds_snapshot_page {
    struct bsup_rds_snapshot *snapshots;
    size_t n_snapshots;
    char *marker;
    char *request_id;
};

/* ---- elasticache ---- */

struct bsup_ec_replication_group {
    char *id;
    char *description;
    char *status;
    int64_t snapshot_retention_limit_d;
    char *snapshot_window;
    bool at_rest_encryption_enabled;
    bool transit_encryption_enabled;
};

struct bsup_ec_replication_group_page {
    struct bsup_ec_replication_group *groups;
    size_t n_groups;
    char *marker;
    char *request_id;
};

/* One node's part of a snapshot: when it was taken. */
struct bsup_ec_node_snapshot {
    char *cache_cluster_id;
    int64_t create_time; /* epoch seconds, -1 absent */
};

struct bsup_ec_snapshot {
    char *name;
    char *replication_group_id;
    char *status;
    char *source; /* "automated", "manual" */
    struct bsup_ec_node_snapshot *node_snapshots;
    size_t n_node_snapshots;
};

struct bsup_ec_snapshot_page {
    struct bsup_ec_snapshot *snapshots;
    size_t n_snapshots;
    char *marker;
    char *request_id;
};

/* ---- monitoring, sns, sts ---- */

struct bsup_cw_dimension {
    char *name;
    char *value;
};

struct bsup_cw_alarm {
    char *name;
    char *arn;
    char *description;
    char *state; /* "OK", "ALARM", "INSUFFICIENT_DATA" */
    char *state_reason;
    char *namespace_;
    char *metric_name;
    char *statistic;
    char *comparison_operator;
    double threshold;
    int64_t period_s;
    int64_t evaluation_periods;
    bool actions_enabled;
    char **alarm_actions;
    size_t n_alarm_actions;
    char **ok_actions;
    size_t n_ok_actions;
    char *treat_missing_data; /* "missing", "notBreaching", ...; NULL: AWS's default */
    struct bsup_cw_dimension *dimensions;
    size_t n_dimensions;
};

struct bsup_cw_alarm_page {
    struct bsup_cw_alarm *alarms;
    size_t n_alarms;
    char *next_token;
    char *request_id;
};

/* CloudWatch GetMetricData: each query's datapoints, in the order asked for (ScanBy). */
struct bsup_cw_metric_result {
    char *id;
    char *status_code; /* "Complete", "PartialData", ... */
    int64_t *timestamps;
    size_t n_timestamps;
    double *values;
    size_t n_values;
};

struct bsup_cw_metric_data_page {
    struct bsup_cw_metric_result *results;
    size_t n_results;
    char *next_token;
    char *request_id;
};

/* CloudWatch ListTagsForResource. */
struct bsup_cw_tags {
    struct bsup_aws_tag *tags;
    size_t n_tags;
    char *request_id;
};

struct bsup_sns_publish_result {
    char *message_id;
    char *request_id;
};

struct bsup_sts_identity {
    char *account;
    char *arn;
    char *user_id;
    char *request_id;
};

/* AssumeRole and AssumeRoleWithWebIdentity: temporary credentials (secrets wiped on cleanup). */
struct bsup_sts_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    int64_t expiration_s;
    char *assumed_role_arn; /* "arn:aws:sts::123456789012:assumed-role/NAME/SESSION" */
    char *request_id;
};

/* ---- ec2 ---- */

struct bsup_ec2_launch_template_version {
    char *launch_template_id;
    char *launch_template_name;
    int64_t version_number;
    bool default_version;
    char *instance_type;
    char *image_id;
};

struct bsup_ec2_launch_template_version_page {
    struct bsup_ec2_launch_template_version *versions;
    size_t n_versions;
    char *next_token;
    char *request_id;
};

/* DescribeLaunchTemplates: what $Latest and $Default stand for. */
struct bsup_ec2_launch_template {
    char *launch_template_id;
    char *launch_template_name;
    int64_t default_version_number;
    int64_t latest_version_number;
};

struct bsup_ec2_launch_template_page {
    struct bsup_ec2_launch_template *templates;
    size_t n_templates;
    char *next_token;
    char *request_id;
};

/* ---- secrets ---- */

struct bsup_secret_value {
    char *arn;
    char *name;
    char *version_id;
    char *secret_string; /* secret: never log; wiped by cleanup */
};

struct bsup_ssm_parameter {
    char *name;
    char *type;  /* "String", "SecureString", ... */
    char *value; /* secret for SecureString: never log; wiped by cleanup */
    int64_t version;
    char *arn;
};

/* DescribeSecret: what a secret is, never its value. */
struct bsup_secret_description {
    char *arn;
    char *name;
    bool rotation_enabled;
    int64_t last_rotated; /* epoch seconds, -1 never */
    int64_t last_changed;
    int64_t deleted; /* scheduled for deletion at; -1 not */
};

/* DescribeParameters: parameter metadata, never a value. */
struct bsup_ssm_parameter_meta {
    char *name;
    char *type; /* "String", "StringList", "SecureString" */
    int64_t last_modified;
};

struct bsup_ssm_parameter_page {
    struct bsup_ssm_parameter_meta *parameters;
    size_t n_parameters;
    char *next_token;
};

/* <name>_parse(page, out) / <name>_cleanup(out) for every typed result. */
#define BSUP_AWS_RESULTS_MAP(XX)                                                                   \
    XX(bsup_asg_page, "autoscaling", "DescribeAutoScalingGroups")                                  \
    XX(bsup_aws_ack, NULL, NULL)                                                                   \
    XX(bsup_elb_target_group_page, "elbv2", "DescribeTargetGroups")                                \
    XX(bsup_elb_target_health_page, "elbv2", "DescribeTargetHealth")                               \
    XX(bsup_elb_load_balancer_page, "elbv2", "DescribeLoadBalancers")                              \
    XX(bsup_elb_listener_page, "elbv2", "DescribeListeners")                                       \
    XX(bsup_elb_lb_attributes, "elbv2", "DescribeLoadBalancerAttributes")                          \
    XX(bsup_elb_ssl_policy_page, "elbv2", "DescribeSSLPolicies")                                   \
    XX(bsup_rds_instance_page, "rds", "DescribeDBInstances")                                       \
    XX(bsup_rds_modify_result, "rds", "ModifyDBInstance")                                          \
    XX(bsup_rds_snapshot_page, "rds", "DescribeDBSnapshots")                                       \
    XX(bsup_ec_replication_group_page, "elasticache", "DescribeReplicationGroups")                 \
    XX(bsup_ec_snapshot_page, "elasticache", "DescribeSnapshots")                                  \
    XX(bsup_cw_alarm_page, "cloudwatch", "DescribeAlarms")                                         \
    XX(bsup_cw_tags, "cloudwatch", "ListTagsForResource")                                          \
    XX(bsup_cw_metric_data_page, "cloudwatch", "GetMetricData")                                    \
    XX(bsup_sns_publish_result, "sns", "Publish")                                                  \
    XX(bsup_sts_identity, "sts", "GetCallerIdentity")                                              \
    XX(bsup_sts_credentials, "sts", "AssumeRole")                                                  \
    XX(bsup_ec2_launch_template_page, "ec2", "DescribeLaunchTemplates")                            \
    XX(bsup_ec2_launch_template_version_page, "ec2", "DescribeLaunchTemplateVersions")             \
    XX(bsup_secret_value, "secretsmanager", "GetSecretValue")                                      \
    XX(bsup_ssm_parameter, "ssm", "GetParameter")                                                  \
    XX(bsup_secret_description, "secretsmanager", "DescribeSecret")                                \
    XX(bsup_ssm_parameter_page, "ssm", "DescribeParameters")

#define BSUP_AWS_RESULT_DECL(name, svc, action)                                                    \
    extern const struct bsup_aws_record name##_record;                                             \
    int name##_parse(const json_t *page, struct name *out);                                        \
    void name##_cleanup(struct name *obj);
BSUP_AWS_RESULTS_MAP(BSUP_AWS_RESULT_DECL)
#undef BSUP_AWS_RESULT_DECL

/* The table of typed results: which record reads which operation's parse. ModifyTargetGroup
 * reads into bsup_elb_target_group_page; UpdateAutoScalingGroup, SetInstanceHealth,
 * PutMetricData, PutMetricAlarm and DeleteAlarms into bsup_aws_ack; RestoreDBInstanceFromDBSnapshot
 * and DeleteDBInstance into bsup_rds_modify_result; AssumeRoleWithWebIdentity into
 * bsup_sts_credentials. */
struct bsup_aws_result_entry {
    const char *service; /* our name (services.h); NULL: any operation (bsup_aws_ack) */
    const char *action;
    const struct bsup_aws_record *record;
};
extern const struct bsup_aws_result_entry bsup_aws_results[];
extern const size_t bsup_aws_n_results;
/* The record that reads service/action's parsed result (service: our name or endpoint
 * prefix), or NULL. */
const struct bsup_aws_record *bsup_aws_result_find(const char *service, const char *action);

#endif
