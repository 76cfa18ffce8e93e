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
    XX(AUTOSCALING, autoscaling, "autoscaling", "Auto Scaling", "autoscaling", "autoscaling", QUERY) \
    XX(ELBV2, elbv2, "elbv2", "Elastic Load Balancing v2", "elasticloadbalancing", "elasticloadbalancing", QUERY) \
    XX(RDS, rds, "rds", "RDS", "rds", "rds", QUERY)                                                 \
    XX(CLOUDWATCH, cloudwatch, "cloudwatch", "CloudWatch", "monitoring", "monitoring", QUERY)       \
    XX(SNS, sns, "sns", "SNS", "sns", "sns", QUERY)                                                 \
    XX(ELASTICACHE, elasticache, "elasticache", "ElastiCache", "elasticache", "elasticache", QUERY) \
    XX(EC2, ec2, "ec2", "EC2", "ec2", "ec2", EC2)                                                   \
    XX(STS, sts, "sts", "STS", "sts", "sts", QUERY)                                                 \
    XX(SECRETSMANAGER, secretsmanager, "secretsmanager", "Secrets Manager", "secretsmanager", "secretsmanager", JSON) \
    XX(SSM, ssm, "ssm", "SSM", "ssm", "ssm", JSON)

/* One row per API family (a client-side token bucket), in enum order:
 * XX(ID, name, endpoint prefix, default burst, default calls per second)
 * name is the bsupd.yaml rate_limits key; the prefix is "" for OTHER, which takes every
 * operation no row claims. Which family an operation draws from is a column of the
 * generated operation table (OPERATIONS in tools/gen_aws_model.py; core/aws/model.h). */
#define BSUP_API_FAMILY_MAP(XX)                                                                    \
    XX(AUTOSCALING_DESCRIBE, autoscaling_describe, "autoscaling", 20, 5)                           \
    XX(AUTOSCALING_MUTATE, autoscaling_mutate, "autoscaling", 5, 1)                                \
    XX(ELBV2_DESCRIBE, elbv2_describe, "elasticloadbalancing", 40, 10)                             \
    XX(ELBV2_MUTATE, elbv2_mutate, "elasticloadbalancing", 10, 2)                                  \
    XX(RDS, rds, "rds", 300, 12)                                                                   \
    XX(ELASTICACHE, elasticache, "elasticache", 20, 5)                                             \
    XX(EC2_DESCRIBE, ec2_describe, "ec2", 50, 10)                                                  \
    XX(CLOUDWATCH_PUT_METRIC_DATA, cloudwatch_put_metric_data, "monitoring", 500, 500)             \
    XX(CLOUDWATCH_PUT_METRIC_ALARM, cloudwatch_put_metric_alarm, "monitoring", 3, 3)               \
    XX(CLOUDWATCH_DESCRIBE_ALARMS, cloudwatch_describe_alarms, "monitoring", 9, 9)                 \
    XX(SNS, sns, "sns", 30, 10)                                                                    \
    XX(OTHER, other, "", 20, 5)

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
