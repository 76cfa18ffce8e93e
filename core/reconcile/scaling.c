#include "core/reconcile/scaling.h"

#include "core/base/error.h"

#include <stdio.h>
#include <string.h>

/* Whether a comma-separated list holds exactly the subnets of the service, in any order. */
static bool s_same_subnets(const char *observed, const struct bsup_strlist *want)
{
    size_t seen = 0;
    const char *p = observed;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < want->n; i++)
            if (strlen(want->v[i]) == len && strncmp(want->v[i], p, len) == 0)
                found = true;
        if (!found)
            return false;
        seen++;
        p += len;
        if (*p == ',')
            p++;
    }
    return seen == want->n;
}

static void s_num(char *buf, size_t len, int64_t v)
{
    snprintf(buf, len, "%lld", (long long)v);
}

int bsup_scaling_plan(const struct bsup_service *svc, const struct bsup_asg_observed *obs,
                      struct bsup_plan *plan)
{
    char name[256], resource[280], o[32], d[32];
    bsup_service_resource_name(svc, "auto_scaling_group", name, sizeof(name));
    snprintf(resource, sizeof(resource), "autoscaling-group/%s", name);

    if (!obs->found) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_MISSING, resource);
        if (!a)
            return BSUP_ENOMEM;
        bsup_action_change(a, "AutoScalingGroup", "absent", "exists",
                           "bsupd never creates groups: create it, or name the right one in "
                           "resources.auto_scaling_group");
        return 0;
    }

    struct bsup_action upd = {0};
    upd.kind = BSUP_ACTION_UPDATE_ASG;
    snprintf(upd.resource, sizeof(upd.resource), "%s", resource);
    upd.min_size = upd.max_size = upd.desired_capacity = upd.health_check_grace_s = -1;

    if (obs->min_size != svc->min_size) {
        s_num(o, sizeof(o), obs->min_size);
        s_num(d, sizeof(d), svc->min_size);
        bsup_action_change(&upd, "MinSize", o, d, "min_size in the drop-in");
        upd.min_size = svc->min_size;
    }
    if (obs->max_size != svc->max_size) {
        s_num(o, sizeof(o), obs->max_size);
        s_num(d, sizeof(d), svc->max_size);
        bsup_action_change(&upd, "MaxSize", o, d, "max_size in the drop-in");
        upd.max_size = svc->max_size;
    }
    int64_t want_desired = obs->desired_capacity;
    if (want_desired < svc->min_size)
        want_desired = svc->min_size;
    if (want_desired > svc->max_size)
        want_desired = svc->max_size;
    if (want_desired != obs->desired_capacity) {
        s_num(o, sizeof(o), obs->desired_capacity);
        s_num(d, sizeof(d), want_desired);
        bsup_action_change(&upd, "DesiredCapacity", o, d,
                           "outside the new bounds; clamped (otherwise left to the group's own "
                           "scaling)");
        upd.desired_capacity = want_desired;
        /* Scale-in guard: never remove healthy in-service instances in one step. */
        if (want_desired < obs->desired_capacity && want_desired < obs->healthy_in_service) {
            upd.held = true;
            snprintf(upd.held_reason, sizeof(upd.held_reason),
                     "lowering DesiredCapacity from %lld to %lld would terminate healthy "
                     "in-service instances (%lld); scale in by hand or raise max_size",
                     (long long)obs->desired_capacity, (long long)want_desired,
                     (long long)obs->healthy_in_service);
        }
    }
    if (obs->has_target_groups || svc->resources.target_group) {
        if (strcmp(obs->health_check_type, "ELB") != 0) {
            bsup_action_change(&upd, "HealthCheckType", obs->health_check_type, "ELB",
                               "the group serves a target group: replace instances the load "
                               "balancer finds unhealthy");
            snprintf(upd.health_check_type, sizeof(upd.health_check_type), "ELB");
            upd.health_check_grace_s = svc->health_check.grace_period_s;
        }
        if (obs->health_check_grace_s != svc->health_check.grace_period_s) {
            s_num(o, sizeof(o), obs->health_check_grace_s);
            s_num(d, sizeof(d), svc->health_check.grace_period_s);
            bsup_action_change(&upd, "HealthCheckGracePeriod", o, d,
                               "health_check.grace_period in the drop-in");
            upd.health_check_grace_s = svc->health_check.grace_period_s;
        }
    }
    if (upd.n_changes) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_UPDATE_ASG, resource);
        if (!a)
            return BSUP_ENOMEM;
        *a = upd;
    }

    /* Reported only: changing these means replacing instances. */
    struct bsup_action rep = {0};
    if (!s_same_subnets(obs->vpc_zone_identifier, &svc->subnet_ids)) {
        char want[1024] = "";
        for (size_t i = 0; i < svc->subnet_ids.n; i++) {
            size_t used = strlen(want);
            snprintf(want + used, sizeof(want) - used, "%s%s", i ? "," : "", svc->subnet_ids.v[i]);
        }
        bsup_action_change(&rep, "VPCZoneIdentifier", obs->vpc_zone_identifier, want,
                           "subnet_ids in the drop-in; moving subnets replaces instances, so "
                           "bsupd only reports it");
    }
    if (obs->instance_type[0] && strcmp(obs->instance_type, svc->instance_type) != 0)
        bsup_action_change(&rep, "InstanceType", obs->instance_type, svc->instance_type,
                           "instance_type in the drop-in; changing it is a rolling update, which "
                           "bsupd only reports");
    if (rep.n_changes) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_REPORT, resource);
        if (!a)
            return BSUP_ENOMEM;
        memcpy(a->changes, rep.changes, sizeof(rep.changes));
        a->n_changes = rep.n_changes;
    }
    return 0;
}
