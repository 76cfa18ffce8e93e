/* Typed results: one field table per struct, one extractor and one cleanup for all. */
#include "core/aws/results.h"

#include "core/aws/model.h"
#include "core/aws/wire.h"
#include "core/base/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FIELD(T, path, type, member)                                                             \
    {                                                                                              \
        path, BSUP_AWS_FIELD_##type, offsetof(struct T, member), 0, NULL                           \
    }
#define S_MANY(T, path, type, member, count, rec)                                                  \
    {                                                                                              \
        path, BSUP_AWS_FIELD_##type, offsetof(struct T, member), offsetof(struct T, count), rec    \
    }
#define S_RECORD(T, path, member, rec)                                                             \
    {                                                                                              \
        path, BSUP_AWS_FIELD_RECORD, offsetof(struct T, member), 0, rec                            \
    }
#define S_REC(T, fields)                                                                           \
    {                                                                                              \
#T, sizeof(struct T), fields, sizeof(fields) / sizeof(fields[0])                           \
    }
#define S_RID(T) S_FIELD(T, "ResponseMetadata.RequestId", STRING, request_id)

/* ---- autoscaling ---- */

static const struct bsup_aws_field s_asg_instance_fields[] = {
    S_FIELD(bsup_asg_instance, "InstanceId", STRING, instance_id),
    S_FIELD(bsup_asg_instance, "AvailabilityZone", STRING, availability_zone),
    S_FIELD(bsup_asg_instance, "LifecycleState", STRING, lifecycle_state),
    S_FIELD(bsup_asg_instance, "HealthStatus", STRING, health_status),
    S_FIELD(bsup_asg_instance, "InstanceType", STRING, instance_type),
};
static const struct bsup_aws_record s_asg_instance =
    S_REC(bsup_asg_instance, s_asg_instance_fields);

static const struct bsup_aws_field s_asg_fields[] = {
    S_FIELD(bsup_asg, "AutoScalingGroupName", STRING, name),
    S_FIELD(bsup_asg, "MinSize", INT, min_size),
    S_FIELD(bsup_asg, "MaxSize", INT, max_size),
    S_FIELD(bsup_asg, "DesiredCapacity", INT, desired_capacity),
    S_MANY(bsup_asg, "Instances", LIST, instances, n_instances, &s_asg_instance),
    S_FIELD(bsup_asg, "HealthCheckType", STRING, health_check_type),
    S_FIELD(bsup_asg, "HealthCheckGracePeriod", INT, health_check_grace_period_s),
    S_FIELD(bsup_asg, "VPCZoneIdentifier", STRING, vpc_zone_identifier),
    S_MANY(bsup_asg, "TargetGroupARNs", STRINGS, target_group_arns, n_target_group_arns, NULL),
    S_FIELD(bsup_asg, "LaunchTemplate.LaunchTemplateId", STRING, launch_template_id),
    S_FIELD(bsup_asg, "LaunchTemplate.LaunchTemplateName", STRING, launch_template_name),
    S_FIELD(bsup_asg, "LaunchTemplate.Version", STRING, launch_template_version),
    S_FIELD(bsup_asg, "Status", STRING, status),
};
static const struct bsup_aws_record s_asg = S_REC(bsup_asg, s_asg_fields);

static const struct bsup_aws_field s_asg_page_fields[] = {
    S_MANY(bsup_asg_page, "AutoScalingGroups", LIST, groups, n_groups, &s_asg),
    S_FIELD(bsup_asg_page, "NextToken", STRING, next_token),
    S_RID(bsup_asg_page),
};

static const struct bsup_aws_field s_ack_fields[] = {S_RID(bsup_aws_ack)};

/* ---- elbv2 ---- */

static const struct bsup_aws_field s_tg_fields[] = {
    S_FIELD(bsup_elb_target_group, "TargetGroupArn", STRING, arn),
    S_FIELD(bsup_elb_target_group, "TargetGroupName", STRING, name),
    S_FIELD(bsup_elb_target_group, "Protocol", STRING, protocol),
    S_FIELD(bsup_elb_target_group, "Port", INT, port),
    S_FIELD(bsup_elb_target_group, "VpcId", STRING, vpc_id),
    S_FIELD(bsup_elb_target_group, "HealthCheckProtocol", STRING, health_check_protocol),
    S_FIELD(bsup_elb_target_group, "HealthCheckPort", STRING, health_check_port),
    S_FIELD(bsup_elb_target_group, "HealthCheckPath", STRING, health_check_path),
    S_FIELD(bsup_elb_target_group, "HealthCheckEnabled", BOOL, health_check_enabled),
    S_FIELD(bsup_elb_target_group, "HealthCheckIntervalSeconds", INT, health_check_interval_s),
    S_FIELD(bsup_elb_target_group, "HealthCheckTimeoutSeconds", INT, health_check_timeout_s),
    S_FIELD(bsup_elb_target_group, "HealthyThresholdCount", INT, healthy_threshold),
    S_FIELD(bsup_elb_target_group, "UnhealthyThresholdCount", INT, unhealthy_threshold),
    S_FIELD(bsup_elb_target_group, "Matcher.HttpCode", STRING, matcher_http_code),
    S_MANY(bsup_elb_target_group, "LoadBalancerArns", STRINGS, load_balancer_arns,
           n_load_balancer_arns, NULL),
};
static const struct bsup_aws_record s_tg = S_REC(bsup_elb_target_group, s_tg_fields);

static const struct bsup_aws_field s_tg_page_fields[] = {
    S_MANY(bsup_elb_target_group_page, "TargetGroups", LIST, groups, n_groups, &s_tg),
    S_FIELD(bsup_elb_target_group_page, "NextMarker", STRING, next_marker),
    S_RID(bsup_elb_target_group_page),
};

static const struct bsup_aws_field s_th_fields[] = {
    S_FIELD(bsup_elb_target_health, "Target.Id", STRING, target_id),
    S_FIELD(bsup_elb_target_health, "Target.Port", INT, port),
    S_FIELD(bsup_elb_target_health, "HealthCheckPort", STRING, health_check_port),
    S_FIELD(bsup_elb_target_health, "TargetHealth.State", STRING, state),
    S_FIELD(bsup_elb_target_health, "TargetHealth.Reason", STRING, reason),
    S_FIELD(bsup_elb_target_health, "TargetHealth.Description", STRING, description),
};
static const struct bsup_aws_record s_th = S_REC(bsup_elb_target_health, s_th_fields);

static const struct bsup_aws_field s_th_page_fields[] = {
    S_MANY(bsup_elb_target_health_page, "TargetHealthDescriptions", LIST, targets, n_targets,
           &s_th),
    S_RID(bsup_elb_target_health_page),
};

static const struct bsup_aws_field s_lb_fields[] = {
    S_FIELD(bsup_elb_load_balancer, "LoadBalancerArn", STRING, arn),
    S_FIELD(bsup_elb_load_balancer, "LoadBalancerName", STRING, name),
    S_FIELD(bsup_elb_load_balancer, "DNSName", STRING, dns_name),
    S_FIELD(bsup_elb_load_balancer, "Type", STRING, type),
    S_FIELD(bsup_elb_load_balancer, "Scheme", STRING, scheme),
    S_FIELD(bsup_elb_load_balancer, "VpcId", STRING, vpc_id),
    S_FIELD(bsup_elb_load_balancer, "State.Code", STRING, state),
};
static const struct bsup_aws_record s_lb = S_REC(bsup_elb_load_balancer, s_lb_fields);

static const struct bsup_aws_field s_lb_page_fields[] = {
    S_MANY(bsup_elb_load_balancer_page, "LoadBalancers", LIST, load_balancers, n_load_balancers,
           &s_lb),
    S_FIELD(bsup_elb_load_balancer_page, "NextMarker", STRING, next_marker),
    S_RID(bsup_elb_load_balancer_page),
};

static const struct bsup_aws_field s_action_fields[] = {
    S_FIELD(bsup_elb_action, "Type", STRING, type),
    S_FIELD(bsup_elb_action, "TargetGroupArn", STRING, target_group_arn),
    S_FIELD(bsup_elb_action, "RedirectConfig.Protocol", STRING, redirect_protocol),
    S_FIELD(bsup_elb_action, "Order", INT, order),
};
static const struct bsup_aws_record s_action = S_REC(bsup_elb_action, s_action_fields);

static const struct bsup_aws_field s_listener_fields[] = {
    S_FIELD(bsup_elb_listener, "ListenerArn", STRING, arn),
    S_FIELD(bsup_elb_listener, "Port", INT, port),
    S_FIELD(bsup_elb_listener, "Protocol", STRING, protocol),
    S_FIELD(bsup_elb_listener, "SslPolicy", STRING, ssl_policy),
    S_MANY(bsup_elb_listener, "DefaultActions", LIST, default_actions, n_default_actions,
           &s_action),
};
static const struct bsup_aws_record s_listener = S_REC(bsup_elb_listener, s_listener_fields);

static const struct bsup_aws_field s_listener_page_fields[] = {
    S_MANY(bsup_elb_listener_page, "Listeners", LIST, listeners, n_listeners, &s_listener),
    S_FIELD(bsup_elb_listener_page, "NextMarker", STRING, next_marker),
    S_RID(bsup_elb_listener_page),
};

static const struct bsup_aws_field s_attr_fields[] = {
    S_FIELD(bsup_elb_attribute, "Key", STRING, key),
    S_FIELD(bsup_elb_attribute, "Value", STRING, value),
};
static const struct bsup_aws_record s_attr = S_REC(bsup_elb_attribute, s_attr_fields);

static const struct bsup_aws_field s_lb_attrs_fields[] = {
    S_MANY(bsup_elb_lb_attributes, "Attributes", LIST, attributes, n_attributes, &s_attr),
    S_RID(bsup_elb_lb_attributes),
};

static const struct bsup_aws_field s_ssl_fields[] = {
    S_FIELD(bsup_elb_ssl_policy, "Name", STRING, name),
    S_MANY(bsup_elb_ssl_policy, "SslProtocols", STRINGS, ssl_protocols, n_ssl_protocols, NULL),
};
static const struct bsup_aws_record s_ssl = S_REC(bsup_elb_ssl_policy, s_ssl_fields);

static const struct bsup_aws_field s_ssl_page_fields[] = {
    S_MANY(bsup_elb_ssl_policy_page, "SslPolicies", LIST, policies, n_policies, &s_ssl),
    S_FIELD(bsup_elb_ssl_policy_page, "NextMarker", STRING, next_marker),
    S_RID(bsup_elb_ssl_policy_page),
};

/* ---- rds ---- */

static const struct bsup_aws_field s_tag_fields[] = {
    S_FIELD(bsup_aws_tag, "Key", STRING, key),
    S_FIELD(bsup_aws_tag, "Value", STRING, value),
};
static const struct bsup_aws_record s_tag = S_REC(bsup_aws_tag, s_tag_fields);

static const struct bsup_aws_field s_rds_fields[] = {
    S_FIELD(bsup_rds_instance, "DBInstanceIdentifier", STRING, identifier),
    S_FIELD(bsup_rds_instance, "DBInstanceStatus", STRING, status),
    S_FIELD(bsup_rds_instance, "Engine", STRING, engine),
    S_FIELD(bsup_rds_instance, "DBInstanceClass", STRING, instance_class),
    S_FIELD(bsup_rds_instance, "BackupRetentionPeriod", INT, backup_retention_period_d),
    S_FIELD(bsup_rds_instance, "PreferredBackupWindow", STRING, preferred_backup_window),
    S_FIELD(bsup_rds_instance, "StorageEncrypted", BOOL, storage_encrypted),
    S_FIELD(bsup_rds_instance, "MultiAZ", BOOL, multi_az),
    S_FIELD(bsup_rds_instance, "LatestRestorableTime", TIME, latest_restorable_time),
    S_FIELD(bsup_rds_instance, "DeletionProtection", BOOL, deletion_protection),
    S_FIELD(bsup_rds_instance, "DBName", STRING, db_name),
    S_FIELD(bsup_rds_instance, "MasterUsername", STRING, master_username),
    S_FIELD(bsup_rds_instance, "DBSubnetGroup.DBSubnetGroupName", STRING, db_subnet_group),
    S_FIELD(bsup_rds_instance, "InstanceCreateTime", TIME, instance_create_time),
    S_MANY(bsup_rds_instance, "TagList", LIST, tags, n_tags, &s_tag),
};
static const struct bsup_aws_record s_rds = S_REC(bsup_rds_instance, s_rds_fields);

static const struct bsup_aws_field s_rds_page_fields[] = {
    S_MANY(bsup_rds_instance_page, "DBInstances", LIST, instances, n_instances, &s_rds),
    S_FIELD(bsup_rds_instance_page, "Marker", STRING, marker),
    S_RID(bsup_rds_instance_page),
};

static const struct bsup_aws_field s_rds_modify_fields[] = {
    S_RECORD(bsup_rds_modify_result, "DBInstance", instance, &s_rds),
    S_RID(bsup_rds_modify_result),
};

static const struct bsup_aws_field s_rds_snap_fields[] = {
    S_FIELD(bsup_rds_snapshot, "DBSnapshotIdentifier", STRING, identifier),
    S_FIELD(bsup_rds_snapshot, "DBInstanceIdentifier", STRING, instance_identifier),
    S_FIELD(bsup_rds_snapshot, "Status", STRING, status),
    S_FIELD(bsup_rds_snapshot, "SnapshotType", STRING, type),
    S_FIELD(bsup_rds_snapshot, "Encrypted", BOOL, encrypted),
    S_FIELD(bsup_rds_snapshot, "SnapshotCreateTime", TIME, create_time),
};
static const struct bsup_aws_record s_rds_snap = S_REC(bsup_rds_snapshot, s_rds_snap_fields);

static const struct bsup_aws_field s_rds_snap_page_fields[] = {
    S_MANY(bsup_rds_snapshot_page, "DBSnapshots", LIST, snapshots, n_snapshots, &s_rds_snap),
    S_FIELD(bsup_rds_snapshot_page, "Marker", STRING, marker),
    S_RID(bsup_rds_snapshot_page),
};

/* ---- elasticache ---- */

static const struct bsup_aws_field s_rg_fields[] = {
    S_FIELD(bsup_ec_replication_group, "ReplicationGroupId", STRING, id),
    S_FIELD(bsup_ec_replication_group, "Description", STRING, description),
    S_FIELD(bsup_ec_replication_group, "Status", STRING, status),
    S_FIELD(bsup_ec_replication_group, "SnapshotRetentionLimit", INT, snapshot_retention_limit_d),
    S_FIELD(bsup_ec_replication_group, "SnapshotWindow", STRING, snapshot_window),
    S_FIELD(bsup_ec_replication_group, "AtRestEncryptionEnabled", BOOL, at_rest_encryption_enabled),
    S_FIELD(bsup_ec_replication_group, "TransitEncryptionEnabled", BOOL,
            transit_encryption_enabled),
};
static const struct bsup_aws_record s_rg = S_REC(bsup_ec_replication_group, s_rg_fields);

static const struct bsup_aws_field s_rg_page_fields[] = {
    S_MANY(bsup_ec_replication_group_page, "ReplicationGroups", LIST, groups, n_groups, &s_rg),
    S_FIELD(bsup_ec_replication_group_page, "Marker", STRING, marker),
    S_RID(bsup_ec_replication_group_page),
};

static const struct bsup_aws_field s_ecnode_fields[] = {
    S_FIELD(bsup_ec_node_snapshot, "CacheClusterId", STRING, cache_cluster_id),
    S_FIELD(bsup_ec_node_snapshot, "SnapshotCreateTime", TIME, create_time),
};
static const struct bsup_aws_record s_ecnode = S_REC(bsup_ec_node_snapshot, s_ecnode_fields);

static const struct bsup_aws_field s_ecsnap_fields[] = {
    S_FIELD(bsup_ec_snapshot, "SnapshotName", STRING, name),
    S_FIELD(bsup_ec_snapshot, "ReplicationGroupId", STRING, replication_group_id),
    S_FIELD(bsup_ec_snapshot, "SnapshotStatus", STRING, status),
    S_FIELD(bsup_ec_snapshot, "SnapshotSource", STRING, source),
    S_MANY(bsup_ec_snapshot, "NodeSnapshots", LIST, node_snapshots, n_node_snapshots, &s_ecnode),
};
static const struct bsup_aws_record s_ecsnap = S_REC(bsup_ec_snapshot, s_ecsnap_fields);

static const struct bsup_aws_field s_ecsnap_page_fields[] = {
    S_MANY(bsup_ec_snapshot_page, "Snapshots", LIST, snapshots, n_snapshots, &s_ecsnap),
    S_FIELD(bsup_ec_snapshot_page, "Marker", STRING, marker),
    S_RID(bsup_ec_snapshot_page),
};

/* ---- monitoring, sns, sts ---- */

static const struct bsup_aws_field s_dimension_fields[] = {
    S_FIELD(bsup_cw_dimension, "Name", STRING, name),
    S_FIELD(bsup_cw_dimension, "Value", STRING, value),
};
static const struct bsup_aws_record s_dimension = S_REC(bsup_cw_dimension, s_dimension_fields);

static const struct bsup_aws_field s_alarm_fields[] = {
    S_FIELD(bsup_cw_alarm, "AlarmName", STRING, name),
    S_FIELD(bsup_cw_alarm, "AlarmArn", STRING, arn),
    S_FIELD(bsup_cw_alarm, "AlarmDescription", STRING, description),
    S_FIELD(bsup_cw_alarm, "StateValue", STRING, state),
    S_FIELD(bsup_cw_alarm, "StateReason", STRING, state_reason),
    S_FIELD(bsup_cw_alarm, "Namespace", STRING, namespace_),
    S_FIELD(bsup_cw_alarm, "MetricName", STRING, metric_name),
    S_FIELD(bsup_cw_alarm, "Statistic", STRING, statistic),
    S_FIELD(bsup_cw_alarm, "ComparisonOperator", STRING, comparison_operator),
    S_FIELD(bsup_cw_alarm, "Threshold", DOUBLE, threshold),
    S_FIELD(bsup_cw_alarm, "Period", INT, period_s),
    S_FIELD(bsup_cw_alarm, "EvaluationPeriods", INT, evaluation_periods),
    S_FIELD(bsup_cw_alarm, "ActionsEnabled", BOOL, actions_enabled),
    S_MANY(bsup_cw_alarm, "AlarmActions", STRINGS, alarm_actions, n_alarm_actions, NULL),
    S_MANY(bsup_cw_alarm, "OKActions", STRINGS, ok_actions, n_ok_actions, NULL),
    S_FIELD(bsup_cw_alarm, "TreatMissingData", STRING, treat_missing_data),
    S_MANY(bsup_cw_alarm, "Dimensions", LIST, dimensions, n_dimensions, &s_dimension),
};
static const struct bsup_aws_record s_alarm = S_REC(bsup_cw_alarm, s_alarm_fields);

static const struct bsup_aws_field s_alarm_page_fields[] = {
    S_MANY(bsup_cw_alarm_page, "MetricAlarms", LIST, alarms, n_alarms, &s_alarm),
    S_FIELD(bsup_cw_alarm_page, "NextToken", STRING, next_token),
    S_RID(bsup_cw_alarm_page),
};

static const struct bsup_aws_field s_cw_tags_fields[] = {
    S_MANY(bsup_cw_tags, "Tags", LIST, tags, n_tags, &s_tag),
    S_RID(bsup_cw_tags),
};

static const struct bsup_aws_field s_metric_result_fields[] = {
    S_FIELD(bsup_cw_metric_result, "Id", STRING, id),
    S_FIELD(bsup_cw_metric_result, "StatusCode", STRING, status_code),
    S_MANY(bsup_cw_metric_result, "Timestamps", TIMES, timestamps, n_timestamps, NULL),
    S_MANY(bsup_cw_metric_result, "Values", DOUBLES, values, n_values, NULL),
};
static const struct bsup_aws_record s_metric_result =
    S_REC(bsup_cw_metric_result, s_metric_result_fields);

static const struct bsup_aws_field s_metric_data_page_fields[] = {
    S_MANY(bsup_cw_metric_data_page, "MetricDataResults", LIST, results, n_results,
           &s_metric_result),
    S_FIELD(bsup_cw_metric_data_page, "NextToken", STRING, next_token),
    S_RID(bsup_cw_metric_data_page),
};

static const struct bsup_aws_field s_publish_fields[] = {
    S_FIELD(bsup_sns_publish_result, "MessageId", STRING, message_id),
    S_RID(bsup_sns_publish_result),
};

static const struct bsup_aws_field s_identity_fields[] = {
    S_FIELD(bsup_sts_identity, "Account", STRING, account),
    S_FIELD(bsup_sts_identity, "Arn", STRING, arn),
    S_FIELD(bsup_sts_identity, "UserId", STRING, user_id),
    S_RID(bsup_sts_identity),
};

static const struct bsup_aws_field s_sts_creds_fields[] = {
    S_FIELD(bsup_sts_credentials, "Credentials.AccessKeyId", STRING, access_key_id),
    S_FIELD(bsup_sts_credentials, "Credentials.SecretAccessKey", SECRET, secret_access_key),
    S_FIELD(bsup_sts_credentials, "Credentials.SessionToken", SECRET, session_token),
    S_FIELD(bsup_sts_credentials, "Credentials.Expiration", TIME, expiration_s),
    S_FIELD(bsup_sts_credentials, "AssumedRoleUser.Arn", STRING, assumed_role_arn),
    S_RID(bsup_sts_credentials),
};

/* ---- ec2 ---- */

static const struct bsup_aws_field s_ltv_fields[] = {
    S_FIELD(bsup_ec2_launch_template_version, "LaunchTemplateId", STRING, launch_template_id),
    S_FIELD(bsup_ec2_launch_template_version, "LaunchTemplateName", STRING, launch_template_name),
    S_FIELD(bsup_ec2_launch_template_version, "VersionNumber", INT, version_number),
    S_FIELD(bsup_ec2_launch_template_version, "DefaultVersion", BOOL, default_version),
    S_FIELD(bsup_ec2_launch_template_version, "LaunchTemplateData.InstanceType", STRING,
            instance_type),
    S_FIELD(bsup_ec2_launch_template_version, "LaunchTemplateData.ImageId", STRING, image_id),
};
static const struct bsup_aws_record s_ltv = S_REC(bsup_ec2_launch_template_version, s_ltv_fields);

static const struct bsup_aws_field s_ltv_page_fields[] = {
    S_MANY(bsup_ec2_launch_template_version_page, "LaunchTemplateVersions", LIST, versions,
           n_versions, &s_ltv),
    S_FIELD(bsup_ec2_launch_template_version_page, "NextToken", STRING, next_token),
    S_RID(bsup_ec2_launch_template_version_page),
};

static const struct bsup_aws_field s_lt_fields[] = {
    S_FIELD(bsup_ec2_launch_template, "LaunchTemplateId", STRING, launch_template_id),
    S_FIELD(bsup_ec2_launch_template, "LaunchTemplateName", STRING, launch_template_name),
    S_FIELD(bsup_ec2_launch_template, "DefaultVersionNumber", INT, default_version_number),
    S_FIELD(bsup_ec2_launch_template, "LatestVersionNumber", INT, latest_version_number),
};
static const struct bsup_aws_record s_lt = S_REC(bsup_ec2_launch_template, s_lt_fields);

static const struct bsup_aws_field s_lt_page_fields[] = {
    S_MANY(bsup_ec2_launch_template_page, "LaunchTemplates", LIST, templates, n_templates, &s_lt),
    S_FIELD(bsup_ec2_launch_template_page, "NextToken", STRING, next_token),
    S_RID(bsup_ec2_launch_template_page),
};

/* ---- secrets ---- */

static const struct bsup_aws_field s_secret_fields[] = {
    S_FIELD(bsup_secret_value, "ARN", STRING, arn),
    S_FIELD(bsup_secret_value, "Name", STRING, name),
    S_FIELD(bsup_secret_value, "VersionId", STRING, version_id),
    S_FIELD(bsup_secret_value, "SecretString", SECRET, secret_string),
};

static const struct bsup_aws_field s_ssm_fields[] = {
    S_FIELD(bsup_ssm_parameter, "Parameter.Name", STRING, name),
    S_FIELD(bsup_ssm_parameter, "Parameter.Type", STRING, type),
    S_FIELD(bsup_ssm_parameter, "Parameter.Value", SECRET, value),
    S_FIELD(bsup_ssm_parameter, "Parameter.Version", INT, version),
    S_FIELD(bsup_ssm_parameter, "Parameter.ARN", STRING, arn),
};

static const struct bsup_aws_field s_secret_desc_fields[] = {
    S_FIELD(bsup_secret_description, "ARN", STRING, arn),
    S_FIELD(bsup_secret_description, "Name", STRING, name),
    S_FIELD(bsup_secret_description, "RotationEnabled", BOOL, rotation_enabled),
    S_FIELD(bsup_secret_description, "LastRotatedDate", TIME, last_rotated),
    S_FIELD(bsup_secret_description, "LastChangedDate", TIME, last_changed),
    S_FIELD(bsup_secret_description, "DeletedDate", TIME, deleted),
};

static const struct bsup_aws_field s_ssm_meta_fields[] = {
    S_FIELD(bsup_ssm_parameter_meta, "Name", STRING, name),
    S_FIELD(bsup_ssm_parameter_meta, "Type", STRING, type),
    S_FIELD(bsup_ssm_parameter_meta, "LastModifiedDate", TIME, last_modified),
};
static const struct bsup_aws_record s_ssm_meta = S_REC(bsup_ssm_parameter_meta, s_ssm_meta_fields);

static const struct bsup_aws_field s_ssm_page_fields[] = {
    S_MANY(bsup_ssm_parameter_page, "Parameters", LIST, parameters, n_parameters, &s_ssm_meta),
    S_FIELD(bsup_ssm_parameter_page, "NextToken", STRING, next_token),
};

/* ---- the public records and their parse/cleanup pairs ---- */

#define S_FIELDS_bsup_asg_page s_asg_page_fields
#define S_FIELDS_bsup_aws_ack s_ack_fields
#define S_FIELDS_bsup_elb_target_group_page s_tg_page_fields
#define S_FIELDS_bsup_elb_target_health_page s_th_page_fields
#define S_FIELDS_bsup_elb_load_balancer_page s_lb_page_fields
#define S_FIELDS_bsup_elb_listener_page s_listener_page_fields
#define S_FIELDS_bsup_elb_lb_attributes s_lb_attrs_fields
#define S_FIELDS_bsup_elb_ssl_policy_page s_ssl_page_fields
#define S_FIELDS_bsup_rds_instance_page s_rds_page_fields
#define S_FIELDS_bsup_rds_modify_result s_rds_modify_fields
#define S_FIELDS_bsup_rds_snapshot_page s_rds_snap_page_fields
#define S_FIELDS_bsup_ec_replication_group_page s_rg_page_fields
#define S_FIELDS_bsup_ec_snapshot_page s_ecsnap_page_fields
#define S_FIELDS_bsup_cw_alarm_page s_alarm_page_fields
#define S_FIELDS_bsup_cw_tags s_cw_tags_fields
#define S_FIELDS_bsup_cw_metric_data_page s_metric_data_page_fields
#define S_FIELDS_bsup_sns_publish_result s_publish_fields
#define S_FIELDS_bsup_sts_identity s_identity_fields
#define S_FIELDS_bsup_sts_credentials s_sts_creds_fields
#define S_FIELDS_bsup_ec2_launch_template_page s_lt_page_fields
#define S_FIELDS_bsup_ec2_launch_template_version_page s_ltv_page_fields
#define S_FIELDS_bsup_secret_value s_secret_fields
#define S_FIELDS_bsup_ssm_parameter s_ssm_fields
#define S_FIELDS_bsup_secret_description s_secret_desc_fields
#define S_FIELDS_bsup_ssm_parameter_page s_ssm_page_fields

#define S_DEFINE(name, svc, action)                                                                \
    const struct bsup_aws_record name##_record = S_REC(name, S_FIELDS_##name);                     \
    int name##_parse(const json_t *page, struct name *out)                                         \
    {                                                                                              \
        return bsup_aws_record_parse(&name##_record, page, out);                                   \
    }                                                                                              \
    void name##_cleanup(struct name *obj)                                                          \
    {                                                                                              \
        bsup_aws_record_cleanup(&name##_record, obj);                                              \
    }
BSUP_AWS_RESULTS_MAP(S_DEFINE)
#undef S_DEFINE

#define S_ENTRY(name, svc, action) {svc, action, &name##_record},
const struct bsup_aws_result_entry bsup_aws_results[] = {
    BSUP_AWS_RESULTS_MAP(S_ENTRY)
    /* Operations that reuse another operation's result struct. */
    {"elbv2", "ModifyTargetGroup", &bsup_elb_target_group_page_record},
    {"autoscaling", "UpdateAutoScalingGroup", &bsup_aws_ack_record},
    {"autoscaling", "SetInstanceHealth", &bsup_aws_ack_record},
    {"cloudwatch", "PutMetricData", &bsup_aws_ack_record},
    {"cloudwatch", "PutMetricAlarm", &bsup_aws_ack_record},
    {"cloudwatch", "DeleteAlarms", &bsup_aws_ack_record},
    {"rds", "RestoreDBInstanceFromDBSnapshot", &bsup_rds_modify_result_record},
    {"rds", "DeleteDBInstance", &bsup_rds_modify_result_record},
    {"sts", "AssumeRoleWithWebIdentity", &bsup_sts_credentials_record},
};
#undef S_ENTRY
const size_t bsup_aws_n_results = sizeof(bsup_aws_results) / sizeof(bsup_aws_results[0]);

const struct bsup_aws_record *bsup_aws_result_find(const char *service, const char *action)
{
    const struct bsup_aws_service *svc = bsup_aws_service_find(service);
    for (size_t i = 0; svc && action && i < bsup_aws_n_results; i++) {
        const struct bsup_aws_result_entry *e = &bsup_aws_results[i];
        if (e->service && bsup_aws_service_find(e->service) == svc &&
            strcmp(e->action, action) == 0)
            return e->record;
    }
    return NULL;
}

/* ---- the extractor ---- */

static const json_t *s_lookup(const json_t *obj, const char *path)
{
    char seg[128];
    while (obj && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        obj = json_object_get(obj, seg);
        path += n + (path[n] == '.');
    }
    return obj;
}

static int s_field(const struct bsup_aws_field *f, const json_t *v, char *base)
{
    void *at = base + f->offset;
    switch (f->type) {
    case BSUP_AWS_FIELD_STRING:
    case BSUP_AWS_FIELD_SECRET:
        if (!json_is_string(v))
            return BSUP_EPROTO;
        return (*(char **)at = strdup(json_string_value(v))) ? 0 : BSUP_ENOMEM;
    case BSUP_AWS_FIELD_INT:
        if (!json_is_integer(v))
            return BSUP_EPROTO;
        *(int64_t *)at = (int64_t)json_integer_value(v);
        return 0;
    case BSUP_AWS_FIELD_DOUBLE:
        if (!json_is_number(v))
            return BSUP_EPROTO;
        *(double *)at = json_number_value(v);
        return 0;
    case BSUP_AWS_FIELD_BOOL:
        if (!json_is_boolean(v))
            return BSUP_EPROTO;
        *(bool *)at = json_is_true(v);
        return 0;
    case BSUP_AWS_FIELD_TIME: {
        double t;
        if (json_is_number(v))
            t = json_number_value(v);
        else if (!json_is_string(v) || bsup_wire_parse_timestamp(json_string_value(v), &t) < 0)
            return BSUP_EPROTO;
        /* Only what int64_t holds: the text may say 1e300, nan or inf. */
        if (!(t > -9.2e18 && t < 9.2e18))
            return BSUP_EPROTO;
        *(int64_t *)at = (int64_t)floor(t);
        return 0;
    }
    case BSUP_AWS_FIELD_RECORD:
        return bsup_aws_record_parse(f->record, v, at);
    case BSUP_AWS_FIELD_STRINGS:
    case BSUP_AWS_FIELD_DOUBLES:
    case BSUP_AWS_FIELD_TIMES:
    case BSUP_AWS_FIELD_LIST: {
        size_t n = json_array_size(v), i;
        size_t elem = f->type == BSUP_AWS_FIELD_LIST      ? f->record->size
                      : f->type == BSUP_AWS_FIELD_DOUBLES ? sizeof(double)
                      : f->type == BSUP_AWS_FIELD_TIMES   ? sizeof(int64_t)
                                                          : sizeof(char *);
        /* A number list's items are read as that scalar field at the item's place. */
        const struct bsup_aws_field item = {.type = f->type == BSUP_AWS_FIELD_DOUBLES
                                                        ? BSUP_AWS_FIELD_DOUBLE
                                                        : BSUP_AWS_FIELD_TIME};
        json_t *e;
        if (!json_is_array(v))
            return BSUP_EPROTO;
        if (n > BSUP_AWS_RESULT_LIST_MAX)
            return BSUP_ETOOBIG;
        char *items = calloc(n ? n : 1, elem);
        if (!items)
            return BSUP_ENOMEM;
        *(void **)at = items;
        json_array_foreach(v, i, e)
        {
            int rc;
            if (f->type == BSUP_AWS_FIELD_LIST) {
                rc = bsup_aws_record_parse(f->record, e, items + i * elem);
            } else if (f->type != BSUP_AWS_FIELD_STRINGS) {
                rc = s_field(&item, e, items + i * elem);
            } else if (!json_is_string(e)) {
                rc = BSUP_EPROTO;
            } else {
                ((char **)items)[i] = strdup(json_string_value(e));
                rc = ((char **)items)[i] ? 0 : BSUP_ENOMEM;
            }
            /* Count what is built so cleanup frees exactly that. */
            *(size_t *)(base + f->count_offset) = i + (rc == 0);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    }
    return BSUP_EINVAL;
}

static void s_defaults(const struct bsup_aws_record *rec, char *base)
{
    memset(base, 0, rec->size);
    for (size_t i = 0; i < rec->n_fields; i++) {
        const struct bsup_aws_field *f = &rec->fields[i];
        if (f->type == BSUP_AWS_FIELD_INT || f->type == BSUP_AWS_FIELD_TIME)
            *(int64_t *)(base + f->offset) = -1;
        else if (f->type == BSUP_AWS_FIELD_DOUBLE)
            *(double *)(base + f->offset) = NAN;
        else if (f->type == BSUP_AWS_FIELD_RECORD)
            s_defaults(f->record, base + f->offset);
    }
}

int bsup_aws_record_parse(const struct bsup_aws_record *rec, const json_t *obj, void *out)
{
    if (!rec || !out)
        return BSUP_EINVAL;
    s_defaults(rec, out);
    if (!json_is_object(obj))
        return BSUP_EPROTO;
    for (size_t i = 0; i < rec->n_fields; i++) {
        const json_t *v = s_lookup(obj, rec->fields[i].path);
        if (!v || json_is_null(v))
            continue;
        int rc = s_field(&rec->fields[i], v, out);
        if (rc < 0) {
            bsup_aws_record_cleanup(rec, out);
            return rc;
        }
    }
    return 0;
}

void bsup_aws_record_cleanup(const struct bsup_aws_record *rec, void *obj)
{
    char *base = obj;
    if (!rec || !obj)
        return;
    for (size_t i = 0; i < rec->n_fields; i++) {
        const struct bsup_aws_field *f = &rec->fields[i];
        void *at = base + f->offset;
        switch (f->type) {
        case BSUP_AWS_FIELD_SECRET:
            if (*(char **)at)
                bsup_secure_zero(*(char **)at, strlen(*(char **)at));
            /* fall through */
        case BSUP_AWS_FIELD_STRING:
            free(*(char **)at);
            *(char **)at = NULL;
            break;
        case BSUP_AWS_FIELD_RECORD:
            bsup_aws_record_cleanup(f->record, at);
            break;
        case BSUP_AWS_FIELD_STRINGS:
        case BSUP_AWS_FIELD_DOUBLES:
        case BSUP_AWS_FIELD_TIMES:
        case BSUP_AWS_FIELD_LIST: {
            size_t *count = (size_t *)(base + f->count_offset);
            char *items = *(char **)at;
            for (size_t k = 0; items && k < *count; k++) {
                if (f->type == BSUP_AWS_FIELD_LIST)
                    bsup_aws_record_cleanup(f->record, items + k * f->record->size);
                else if (f->type == BSUP_AWS_FIELD_STRINGS)
                    free(((char **)items)[k]);
            }
            free(items);
            *(char **)at = NULL;
            *count = 0;
            break;
        }
        default:
            break;
        }
    }
}
