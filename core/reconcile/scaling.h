/* The scaling domain: what the Auto Scaling group should look like, compared with what was
 * observed, as a plan. The group must exist (bsupd never creates one); MinSize and MaxSize
 * follow the service; DesiredCapacity is only clamped into the bounds, otherwise it belongs
 * to the group's own scaling; HealthCheckType ELB with the configured grace period when the
 * group serves a target group (EC2 when health_check.replace_unhealthy: bsupd then replaces
 * instances the load balancer finds unhealthy, damped, instead of the group replacing them all
 * at once); subnets and instance type are reported, not changed.
 * Observed with batched DescribeAutoScalingGroups (instance types from the instances); an
 * empty group's launch template through batched DescribeLaunchTemplates and, once per version
 * ever (cached, saved), DescribeLaunchTemplateVersions. Corrected with UpdateAutoScalingGroup. */
#ifndef BSUP_CORE_RECONCILE_SCALING_H
#define BSUP_CORE_RECONCILE_SCALING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"

/* One instance of the group, for domains that act on single instances (health: the damped
 * replacement must know an instance is the group's, and how it stands). */
#define BSUP_ASG_MAX_LISTED 64

struct bsup_asg_member {
    char id[24];     /* "i-0123456789abcdef0" */
    bool in_service; /* LifecycleState InService */
    bool healthy;    /* HealthStatus Healthy */
};

struct bsup_asg_observed {
    bool found;
    char name[256];
    int64_t min_size;
    int64_t max_size;
    int64_t desired_capacity;
    char health_check_type[40]; /* "EC2", "ELB", "EBS,ELB": AWS's list, at most 32 */
    int64_t health_check_grace_s;
    bool subnets_match;            /* VPCZoneIdentifier holds exactly the drop-in's subnet_ids */
    char vpc_zone_identifier[128]; /* as AWS says it, cut to fit: for the report */
    bool has_target_groups;
    char launch_template_id[64];      /* "" when the group has none */
    char launch_template_version[24]; /* as the group names it: "4", "$Latest", "$Default" */
    int64_t launch_template_number;   /* the version number it stands for; 0 unknown */
    /* The types the group's instances run ("t3.large", or sorted "a,b" when mixed); for a
     * group with none, its launch template version's type; "" when unknown. */
    char instance_type[64];
    /* Instance figures, for status, metrics and the scale-in guard. */
    int64_t instances;
    int64_t in_service;
    int64_t healthy_in_service;
    int64_t pending;
    int64_t terminating; /* Terminating*, Detaching: leaving the group */
    int64_t unhealthy;
    /* The first BSUP_ASG_MAX_LISTED instances in the answer's order (n_listed < instances
     * when the group has more). */
    struct bsup_asg_member listed[BSUP_ASG_MAX_LISTED];
    int64_t n_listed;
};

extern const struct bsup_domain bsup_scaling_domain;

/* Whether a comma-separated list holds exactly the subnets of want, in any order. */
bool bsup_scaling_same_subnets(const char *observed, const struct bsup_strlist *want);
/* Appends the scaling actions for svc to plan. 0 or BSUP_ENOMEM. */
int bsup_scaling_plan(const struct bsup_service *svc, const struct bsup_asg_observed *obs,
                      struct bsup_plan *plan);

#endif
