/* The scaling domain: what the Auto Scaling group should look like, compared with what was
 * observed, as a plan. The group must exist (bsupd never creates one); MinSize and MaxSize
 * follow the service; DesiredCapacity is only clamped into the bounds, otherwise it belongs
 * to the group's own scaling; HealthCheckType ELB with the configured grace period when the
 * group serves a target group; subnets and instance type are reported, not changed.
 * Observed with batched DescribeAutoScalingGroups, then the launch template version in use
 * (cached: numbered versions never change); corrected with UpdateAutoScalingGroup. */
#ifndef BSUP_CORE_RECONCILE_SCALING_H
#define BSUP_CORE_RECONCILE_SCALING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"

struct bsup_asg_observed {
    bool found;
    char name[256];
    int64_t min_size;
    int64_t max_size;
    int64_t desired_capacity;
    char health_check_type[8]; /* "EC2" or "ELB" */
    int64_t health_check_grace_s;
    char vpc_zone_identifier[2048]; /* comma-separated subnet ids */
    bool has_target_groups;
    char launch_template[BSUP_DOMAIN_KEY_MAX]; /* "<id>|<version>" in use; "" none */
    char instance_type[32]; /* of the launch template version in use; "" when unknown */
    /* Instance figures, for status, metrics and the scale-in guard. */
    int64_t instances;
    int64_t in_service;
    int64_t healthy_in_service;
    int64_t pending;
    int64_t unhealthy;
};

extern const struct bsup_domain bsup_scaling_domain;

/* Appends the scaling actions for svc to plan. 0 or BSUP_ENOMEM. */
int bsup_scaling_plan(const struct bsup_service *svc, const struct bsup_asg_observed *obs,
                      struct bsup_plan *plan);

#endif
