#include "core/reconcile/scaling.h"

#include "core/aws/results.h"
#include "core/base/error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool bsup_scaling_same_subnets(const char *observed, const struct bsup_strlist *want)
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

/* Into out: the group's HealthCheckType list (have) with ELB on or off, its other types kept
 * (EBS, VPC_LATTICE: someone else's choice); EC2, always on, is written only alone. Returns
 * whether ELB is to be switched. */
static bool s_health_check_types(const char *have, bool elb, char *out, size_t len)
{
    bool has_elb = false;
    size_t used = 0;
    out[0] = 0;
    for (const char *p = have; *p; p += *p == ',') {
        size_t n = strcspn(p, ",");
        if (n == 3 && strncmp(p, "ELB", 3) == 0)
            has_elb = true;
        else if (n && !(n == 3 && strncmp(p, "EC2", 3) == 0) && used < len)
            used += (size_t)snprintf(out + used, len - used, "%s%.*s", used ? "," : "", (int)n, p);
        p += n;
    }
    if (elb && used < len)
        snprintf(out + used, len - used, "%sELB", used ? "," : "");
    if (!out[0])
        snprintf(out, len, "EC2");
    return has_elb != elb;
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

    struct bsup_action upd = {.kind = BSUP_ACTION_UPDATE};
    snprintf(upd.resource, sizeof(upd.resource), "%s", resource);

    if (obs->min_size != svc->min_size) {
        s_num(o, sizeof(o), obs->min_size);
        s_num(d, sizeof(d), svc->min_size);
        bsup_action_change(&upd, "MinSize", o, d, "min_size in the drop-in");
    }
    if (obs->max_size != svc->max_size) {
        s_num(o, sizeof(o), obs->max_size);
        s_num(d, sizeof(d), svc->max_size);
        bsup_action_change(&upd, "MaxSize", o, d, "max_size in the drop-in");
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
        /* Scale-in guard: never remove healthy in-service instances in one step. */
        if (want_desired < obs->desired_capacity && want_desired < obs->healthy_in_service) {
            bsup_action_hold(&upd, BSUP_HOLD_SCALE_IN_GUARD,
                             "lowering DesiredCapacity from %lld to %lld would terminate healthy "
                             "in-service instances (%lld); scale in by hand or raise max_size",
                             (long long)obs->desired_capacity, (long long)want_desired,
                             (long long)obs->healthy_in_service);
        }
    }
    if (obs->has_target_groups || svc->resources.target_group) {
        bool damped = svc->health_check.replace_unhealthy;
        char type[sizeof(obs->health_check_type)];
        bool switching = s_health_check_types(obs->health_check_type, !damped, type, sizeof(type));
        if (switching) {
            bsup_action_change(&upd, "HealthCheckType", obs->health_check_type, type,
                               damped ? "health_check.replace_unhealthy: bsupd replaces instances "
                                        "the load balancer finds unhealthy, damped; the group "
                                        "must not replace them all at once itself"
                                      : "the group serves a target group: replace instances the "
                                        "load balancer finds unhealthy");
        }
        /* Switching the type always sets the grace period that goes with it, written or not. */
        bool declared = bsup_health_declared(&svc->health_check, "grace_period");
        if ((declared || switching) &&
            obs->health_check_grace_s != svc->health_check.grace_period_s) {
            s_num(o, sizeof(o), obs->health_check_grace_s);
            s_num(d, sizeof(d), svc->health_check.grace_period_s);
            bsup_action_change(&upd, "HealthCheckGracePeriod", o, d,
                               declared ? "health_check.grace_period in the drop-in"
                                        : "set with HealthCheckType: health_check.grace_period, "
                                          "300s when unwritten");
        }
    }
    if (upd.n_changes) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_UPDATE, resource);
        if (!a)
            return BSUP_ENOMEM;
        *a = upd;
    }

    /* Reported only: changing these means replacing instances. */
    struct bsup_action rep = {0};
    if (!obs->subnets_match) {
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

/* ---- observation: DescribeAutoScalingGroups ---- */

static struct bsup_asg_observed *s_obs(struct bsup_domain_member *m)
{
    return m->obs;
}

static int s_groups_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    bsup_service_resource_name(m->desired, "auto_scaling_group", key, BSUP_DOMAIN_KEY_MAX);
    return 1;
}

static int s_groups_build(struct bsup_domain_member *const *m, size_t n,
                          struct bsup_aws_params *out)
{
    char name[BSUP_DOMAIN_KEY_MAX];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        s_groups_prepare(m[i], name);
        rc = bsup_aws_params_addf(out, name, "AutoScalingGroupNames.member.%zu", i + 1);
    }
    /* The documented default is 50 groups per page; MaxRecords raises it to the batch size. */
    return rc ? rc : bsup_aws_params_add(out, "MaxRecords", "100");
}

static int s_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct instance types of g's instances, sorted and comma-separated, into out. */
static void s_instance_types(const struct bsup_asg *g, char *out, size_t len)
{
    const char *types[16];
    size_t n = 0;
    for (size_t i = 0; i < g->n_instances; i++) {
        const char *t = g->instances[i].instance_type;
        bool seen = !t;
        for (size_t k = 0; !seen && k < n; k++)
            seen = strcmp(types[k], t) == 0;
        if (!seen && n < sizeof(types) / sizeof(types[0]))
            types[n++] = t;
    }
    qsort(types, n, sizeof(types[0]), s_strcmp);
    out[0] = 0;
    for (size_t k = 0, used = 0; k < n && used < len; k++, used = strlen(out))
        snprintf(out + used, len - used, "%s%s", k ? "," : "", types[k]);
}

static void s_fill(struct bsup_asg_observed *o, const struct bsup_service *svc,
                   const struct bsup_asg *g)
{
    memset(o, 0, sizeof(*o));
    o->found = true;
    snprintf(o->name, sizeof(o->name), "%s", g->name ? g->name : "");
    o->min_size = g->min_size;
    o->max_size = g->max_size;
    o->desired_capacity = g->desired_capacity;
    snprintf(o->health_check_type, sizeof(o->health_check_type), "%s",
             g->health_check_type ? g->health_check_type : "");
    o->health_check_grace_s = g->health_check_grace_period_s;
    const char *zones = g->vpc_zone_identifier ? g->vpc_zone_identifier : "";
    o->subnets_match = bsup_scaling_same_subnets(zones, &svc->subnet_ids);
    snprintf(o->vpc_zone_identifier, sizeof(o->vpc_zone_identifier), "%s", zones);
    o->has_target_groups = g->n_target_group_arns > 0;
    if (g->launch_template_id) {
        snprintf(o->launch_template_id, sizeof(o->launch_template_id), "%s", g->launch_template_id);
        const char *v = g->launch_template_version ? g->launch_template_version : "$Default";
        snprintf(o->launch_template_version, sizeof(o->launch_template_version), "%s", v);
        if (v[0] >= '0' && v[0] <= '9')
            o->launch_template_number = strtoll(v, NULL, 10);
    }
    o->instances = (int64_t)g->n_instances;
    for (size_t i = 0; i < g->n_instances; i++) {
        const struct bsup_asg_instance *in = &g->instances[i];
        const char *life = in->lifecycle_state ? in->lifecycle_state : "";
        bool healthy = in->health_status && strcmp(in->health_status, "Healthy") == 0;
        bool in_service = strcmp(life, "InService") == 0;
        if (in_service) {
            o->in_service++;
            o->healthy_in_service += healthy;
        } else if (strncmp(life, "Pending", 7) == 0) {
            o->pending++;
        } else if (strncmp(life, "Terminating", 11) == 0 || strcmp(life, "Detaching") == 0) {
            o->terminating++;
        }
        o->unhealthy += !healthy;
        if (in->instance_id && o->n_listed < BSUP_ASG_MAX_LISTED) {
            struct bsup_asg_member *mb = &o->listed[o->n_listed++];
            snprintf(mb->id, sizeof(mb->id), "%s", in->instance_id);
            mb->in_service = in_service;
            mb->healthy = healthy;
        }
    }
    s_instance_types(g, o->instance_type, sizeof(o->instance_type));
}

static int s_groups_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                          struct bsup_diag *diag)
{
    char name[BSUP_DOMAIN_KEY_MAX];
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_asg_page pg = {0};
        if (bsup_asg_page_parse(page, &pg)) {
            bsup_asg_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeAutoScalingGroups");
        }
        for (size_t gi = 0; gi < pg.n_groups; gi++) {
            const struct bsup_asg *g = &pg.groups[gi];
            for (size_t i = 0; g->name && i < n; i++) {
                s_groups_prepare(m[i], name);
                if (strcmp(name, g->name) == 0)
                    s_fill(s_obs(m[i]), m[i]->desired, g);
            }
        }
        bsup_asg_page_cleanup(&pg);
    }
    return 0; /* a name AWS did not return is a group that does not exist (found stays false) */
}

/* ---- observation: the instance type of a group with no instances ----
 * Running instances say their type in the group's answer. Only an empty group needs its
 * launch template: $Latest/$Default resolved for many templates in one DescribeLaunchTemplates
 * call, then the numbered version's type, which never changes: cached (and saved) by
 * template and number, so each version is read once, ever. */

static bool s_needs_template(const struct bsup_asg_observed *o)
{
    return o->found && o->launch_template_id[0] && !o->instance_type[0];
}

static int s_alias_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const struct bsup_asg_observed *o = m->obs;
    if (!s_needs_template(o) || o->launch_template_number)
        return 0;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", o->launch_template_id);
    return 1;
}

static int s_alias_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    const char *last = "";
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *id = s_obs(m[i])->launch_template_id;
        if (strcmp(id, last) == 0)
            continue; /* members sharing a template are adjacent */
        last = id;
        rc = bsup_aws_params_addf(out, id, "LaunchTemplateId.%zu", ++k);
    }
    return rc;
}

static int s_alias_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                         struct bsup_diag *diag)
{
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_ec2_launch_template_page pg = {0};
        if (bsup_ec2_launch_template_page_parse(page, &pg)) {
            bsup_ec2_launch_template_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeLaunchTemplates");
        }
        for (size_t t = 0; t < pg.n_templates; t++) {
            const struct bsup_ec2_launch_template *lt = &pg.templates[t];
            for (size_t i = 0; lt->launch_template_id && i < n; i++) {
                struct bsup_asg_observed *o = s_obs(m[i]);
                if (strcmp(o->launch_template_id, lt->launch_template_id) == 0)
                    o->launch_template_number = strcmp(o->launch_template_version, "$Latest") == 0
                                                    ? lt->latest_version_number
                                                    : lt->default_version_number;
            }
        }
        bsup_ec2_launch_template_page_cleanup(&pg);
    }
    return 0;
}

static void s_version_key(const struct bsup_asg_observed *o, char key[BSUP_DOMAIN_KEY_MAX])
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s|%lld", o->launch_template_id,
             (long long)o->launch_template_number);
}

static int s_version_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_asg_observed *o = m->obs;
    if (!s_needs_template(o) || !o->launch_template_number)
        return 0;
    s_version_key(o, key);
    const char *type = bsup_domain_cache_get(m->cache, key);
    if (type) {
        snprintf(o->instance_type, sizeof(o->instance_type), "%s", type);
        return 0;
    }
    return 1;
}

static int s_version_build(struct bsup_domain_member *const *m, size_t n,
                           struct bsup_aws_params *out)
{
    (void)n; /* one key per call: every member uses the same version */
    char num[32];
    const struct bsup_asg_observed *o = s_obs(m[0]);
    snprintf(num, sizeof(num), "%lld", (long long)o->launch_template_number);
    int rc = bsup_aws_params_add(out, "LaunchTemplateId", o->launch_template_id);
    return rc ? rc : bsup_aws_params_add(out, "LaunchTemplateVersion.1", num);
}

static int s_version_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                           struct bsup_diag *diag)
{
    struct bsup_ec2_launch_template_version_page pg = {0};
    int rc = json_array_size(pages) == 0 ||
             bsup_ec2_launch_template_version_page_parse(json_array_get(pages, 0), &pg);
    if (rc == 0 && pg.n_versions) {
        const char *type = pg.versions[0].instance_type ? pg.versions[0].instance_type : "";
        char key[BSUP_DOMAIN_KEY_MAX];
        s_version_key(s_obs(m[0]), key);
        bsup_domain_cache_put(m[0]->cache, key, type, false); /* a miss only costs a call */
        for (size_t i = 0; i < n; i++)
            snprintf(s_obs(m[i])->instance_type, sizeof(s_obs(m[i])->instance_type), "%s", type);
    }
    bsup_ec2_launch_template_version_page_cleanup(&pg);
    return rc ? bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeLaunchTemplateVersions") : 0;
}

/* ---- correction: UpdateAutoScalingGroup ---- */

/* The fields UpdateAutoScalingGroup takes from a plan's changes, by their AWS names. */
static const char *const s_update_fields[] = {"MinSize", "MaxSize", "DesiredCapacity",
                                              "HealthCheckType", "HealthCheckGracePeriod"};

static int s_request(const struct bsup_service *desired, const void *obs,
                     const struct bsup_action *a, const char **out_action,
                     struct bsup_aws_params *out)
{
    (void)obs;
    char name[BSUP_DOMAIN_KEY_MAX];
    *out_action = "UpdateAutoScalingGroup";
    bsup_service_resource_name(desired, "auto_scaling_group", name, sizeof(name));
    int rc = bsup_aws_params_add(out, "AutoScalingGroupName", name);
    for (size_t i = 0; rc == 0 && i < sizeof(s_update_fields) / sizeof(s_update_fields[0]); i++) {
        const struct bsup_change *c = bsup_action_find_change(a, s_update_fields[i]);
        if (c)
            rc = bsup_aws_params_add(out, c->field, c->desired);
    }
    return rc;
}

static void s_applied(void *obs, const struct bsup_action *a)
{
    struct bsup_asg_observed *o = obs;
    struct {
        const char *field;
        int64_t *value;
    } nums[] = {{"MinSize", &o->min_size},
                {"MaxSize", &o->max_size},
                {"DesiredCapacity", &o->desired_capacity},
                {"HealthCheckGracePeriod", &o->health_check_grace_s}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        const struct bsup_change *c = bsup_action_find_change(a, nums[i].field);
        if (c)
            *nums[i].value = strtoll(c->desired, NULL, 10);
    }
    const struct bsup_change *c = bsup_action_find_change(a, "HealthCheckType");
    if (c && strlen(c->desired) < sizeof(o->health_check_type))
        memcpy(o->health_check_type, c->desired, strlen(c->desired) + 1);
}

/* ---- the table entry ---- */

#define S_FIELD(json, ftype, member)                                                               \
    {                                                                                              \
        .name = json, .type = ftype, .offset = offsetof(struct bsup_asg_observed, member)          \
    }

#define S_METRIC_FIELD(json, member, cw_metric)                                                    \
    {                                                                                              \
        .name = json, .type = BSUP_FIELD_INT64,                                                    \
        .offset = offsetof(struct bsup_asg_observed, member), .metric = cw_metric                  \
    }

static const struct bsup_field s_fields[] = {
    S_FIELD("found", BSUP_FIELD_BOOL, found),
    S_FIELD("name", BSUP_FIELD_STRING, name),
    S_FIELD("min_size", BSUP_FIELD_INT64, min_size),
    S_FIELD("max_size", BSUP_FIELD_INT64, max_size),
    S_METRIC_FIELD("desired_capacity", desired_capacity, "DesiredCapacity"),
    S_FIELD("instances", BSUP_FIELD_INT64, instances),
    S_METRIC_FIELD("in_service", in_service, "InServiceInstances"),
    S_FIELD("pending", BSUP_FIELD_INT64, pending),
    S_FIELD("terminating", BSUP_FIELD_INT64, terminating),
    S_FIELD("unhealthy", BSUP_FIELD_INT64, unhealthy),
    S_FIELD("health_check_type", BSUP_FIELD_STRING, health_check_type),
    S_FIELD("health_check_grace_period", BSUP_FIELD_INT64, health_check_grace_s),
    S_FIELD("instance_type", BSUP_FIELD_STRING, instance_type),
};

static const struct bsup_observe_step s_steps[] = {
    {.service = "autoscaling",
     .action = "DescribeAutoScalingGroups",
     .batch_max = 100,
     .flags = BSUP_OBSERVE_ALL_PAGES,
     .prepare = s_groups_prepare,
     .build = s_groups_build,
     .parse = s_groups_parse},
    /* The instance type is only reported: a failed read must not fail the cycle. 200: the
     * API's MaxResults. */
    {.service = "ec2",
     .action = "DescribeLaunchTemplates",
     .batch_max = 200,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL,
     .prepare = s_alias_prepare,
     .build = s_alias_build,
     .parse = s_alias_parse},
    {.service = "ec2",
     .action = "DescribeLaunchTemplateVersions",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_OPTIONAL,
     .prepare = s_version_prepare,
     .build = s_version_build,
     .parse = s_version_parse},
};

static int s_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    return bsup_scaling_plan(desired, obs, plan);
}

const struct bsup_domain bsup_scaling_domain = {
    .name = "scaling",
    .resource = "Auto Scaling group",
    .obs_size = sizeof(struct bsup_asg_observed),
    .found_offset = offsetof(struct bsup_asg_observed, found),
    .fields = s_fields,
    .n_fields = sizeof(s_fields) / sizeof(s_fields[0]),
    .steps = s_steps,
    .n_steps = sizeof(s_steps) / sizeof(s_steps[0]),
    .plan = s_plan,
    .request = s_request,
    .mutate_service = "autoscaling",
    .applied = s_applied,
};
