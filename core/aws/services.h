/* The AWS services bsupd talks to and the API families it paces: the one place each list is
 * written. The enums, the endpoint table (endpoints.c), the rate-limit defaults (ratelimit.c),
 * bsupd.yaml's endpoint_urls and rate_limits keys (core/config) and the generated model tables
 * (tools/gen_aws_model.py reads this file) derive from these two X-macros.
 * Pure data: no functions, no I/O. */
#ifndef BSUP_CORE_AWS_SERVICES_H
#define BSUP_CORE_AWS_SERVICES_H

/* clang-format off */

/* One row per service, in enum order:
 * XX(ID, name, botocore data directory, metadata.serviceId, metadata.endpointPrefix,
 *    metadata.signingName (else the prefix), protocol we speak)
 * name is ours (bsupd.yaml, logs, bsup_aws_call); the three metadata columns must equal
 * botocore's (the generator refuses to run otherwise). The generator walks
 * <testdata>/aws-responses/<name>/ for the golden-test table. */
#define BSUP_AWS_SERVICE_MAP(XX)                                                                   \
    XX(AUTOSCALING, autoscaling, "autoscaling", "Auto Scaling", "autoscaling", "autoscaling",      \
       QUERY)                                                                                      \
    XX(ELBV2, elbv2, "elbv2", "Elastic Load Balancing v2", "elasticloadbalancing",                 \
       "elasticloadbalancing", QUERY)                                                              \
    XX(RDS, rds, "rds", "RDS", "rds", "rds", QUERY)                                                \
    XX(CLOUDWATCH, cloudwatch, "cloudwatch", "CloudWatch", "monitoring", "monitoring", QUERY)      \
    XX(SNS, sns, "sns", "SNS", "sns", "sns", QUERY)                                                \
    XX(ELASTICACHE, elasticache, "elasticache", "ElastiCache", "elasticache", "elasticache",       \
       QUERY)                                                                                      \
    XX(EC2, ec2, "ec2", "EC2", "ec2", "ec2", EC2)                                                  \
    XX(STS, sts, "sts", "STS", "sts", "sts", QUERY)                                                \
    XX(SECRETSMANAGER, secretsmanager, "secretsmanager", "Secrets Manager", "secretsmanager",      \
       "secretsmanager", JSON)                                                                     \
    XX(SSM, ssm, "ssm", "SSM", "ssm", "ssm", JSON)

/* One row per API family (a client-side token bucket), in enum order:
 * XX(ID, name, endpoint prefix, default burst, default calls per second,
 *    AWS's burst, AWS's calls per second, where AWS publishes them)
 * name is the bsupd.yaml rate_limits key; the prefix is "" for OTHER, which takes every
 * operation no row claims. Which family an operation draws from is a column of the
 * generated operation table (OPERATIONS in tools/gen_aws_model.py; core/aws/model.h).
 * AWS's numbers are the account-and-Region bucket the family's calls draw from (a TPS quota
 * N counts as N/N; 0 where AWS publishes none); bsupd shares that bucket with everything else
 * in the account, so a default stays strictly below it (test_schedule checks). */
#define BSUP_API_FAMILY_MAP(XX)                                                                    \
    XX(AUTOSCALING_DESCRIBE, autoscaling_describe, "autoscaling", 20, 5, 0, 0,                     \
       "Amazon EC2 Auto Scaling API Reference, Welcome > API request rate: one bucket shared by "  \
       "every Auto Scaling call, size not published")                                              \
    XX(AUTOSCALING_MUTATE, autoscaling_mutate, "autoscaling", 5, 1, 0, 0,                          \
       "Amazon EC2 Auto Scaling API Reference, Welcome > API request rate: the same bucket")       \
    XX(ELBV2_DESCRIBE, elbv2_describe, "elasticloadbalancing", 20, 5, 40, 10,                      \
       "ELB User Guide, Request throttling for the ELB API: non-mutating (Describe*) bucket 40, "  \
       "refill 10/s")                                                                              \
    XX(ELBV2_MUTATE, elbv2_mutate, "elasticloadbalancing", 5, 1, 0, 0,                             \
       "ELB User Guide, Request throttling for the ELB API: mutating calls have buckets of their " \
       "own (not reproduced here)")                                                                \
    XX(RDS, rds, "rds", 100, 6, 300, 12,                                                           \
       "RDS User Guide, Request throttling for the Amazon RDS API: burst 300, sustained 12/s, "    \
       "shared by every RDS call")                                                                 \
    XX(ELASTICACHE, elasticache, "elasticache", 20, 5, 0, 0,                                       \
       "ElastiCache publishes no API request rate")                                                \
    XX(EC2_DESCRIBE, ec2_describe, "ec2", 50, 10, 100, 20,                                         \
       "EC2 Developer Guide, Request throttling for the Amazon EC2 API: non-mutating actions "     \
       "bucket 100, refill 20/s")                                                                  \
    XX(CLOUDWATCH_PUT_METRIC_DATA, cloudwatch_put_metric_data, "monitoring", 50, 20, 150, 150,     \
       "CloudWatch User Guide, CloudWatch service quotas: PutMetricData TPS (150, raised to 500 "  \
       "in some Regions; the lower taken)")                                                        \
    XX(CLOUDWATCH_PUT_METRIC_ALARM, cloudwatch_put_metric_alarm, "monitoring", 2, 1, 3, 3,         \
       "CloudWatch User Guide, CloudWatch service quotas: PutMetricAlarm 3 TPS")                   \
    XX(CLOUDWATCH_DESCRIBE_ALARMS, cloudwatch_describe_alarms, "monitoring", 6, 3, 9, 9,           \
       "CloudWatch User Guide, CloudWatch service quotas: DescribeAlarms 9 TPS")                   \
    XX(CLOUDWATCH_GET_METRIC_DATA, cloudwatch_get_metric_data, "monitoring", 20, 10, 50, 50,      \
       "CloudWatch User Guide, CloudWatch service quotas: GetMetricData 50 TPS")                   \
    XX(SNS, sns, "sns", 30, 10, 300, 300,                                                          \
       "AWS General Reference, Amazon SNS endpoints and quotas: Publish 300 to 30,000 TPS by "     \
       "Region (the lowest taken)")                                                                \
    XX(OTHER, other, "", 20, 5, 40, 40,                                                            \
       "the lowest of the services it covers: Systems Manager quotas, GetParameter 40 TPS "        \
       "(STS and Secrets Manager allow more)")

enum bsup_aws_service_id {
#define BSUP_S_SERVICE_ENUM(id, ...) BSUP_AWS_##id,
    BSUP_AWS_SERVICE_MAP(BSUP_S_SERVICE_ENUM)
#undef BSUP_S_SERVICE_ENUM
    BSUP_AWS_SERVICE_COUNT
};

enum bsup_api_family {
#define BSUP_S_FAMILY_ENUM(id, ...) BSUP_API_##id,
    BSUP_API_FAMILY_MAP(BSUP_S_FAMILY_ENUM)
#undef BSUP_S_FAMILY_ENUM
    BSUP_API_FAMILY_COUNT
};

enum bsup_aws_protocol {
    BSUP_AWS_PROTO_QUERY = 1,
    BSUP_AWS_PROTO_EC2,
    BSUP_AWS_PROTO_JSON,
};

/* clang-format on */

#endif
