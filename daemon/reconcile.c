#include "daemon/reconcile.h"

#include "core/base/failpoint.h"
#include "core/aws/results.h"
#include "core/reconcile/schedule.h"
#include "daemon/log.h"
#include "store/events.h"
#include "store/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_BATCH_WINDOW_MAX_MS 2000            /* services due this close together share a batch */
#define S_LT_SYMBOLIC_TTL_MS (10 * 60 * 1000) /* $Latest/$Default may change */
#define S_LT_CACHE_MAX 4096

/* Launch template versions: numbered ones never change, so one lookup serves every cycle. */
struct s_lt_entry {
    char key[300]; /* "<id>|<version>" */
    char instance_type[32];
    uint64_t fetched_ms;
};

struct s_lt_cache {
    struct s_lt_entry *v;
    size_t n;
};

struct s_member {
    struct bsup_reconcile_service *svc;
    bool failed;
    char error[1024];
    char lt_key[300];
    unsigned calls;
    unsigned mutations;
    bool applied_ok;
    bool apply_failed;
};

/* One bsup_reconcile_now request, done when every batch it waits for has finished. */
struct s_join {
    bsup_reconcile_done_fn fn;
    void *ctx;
    int pending;
};

struct bsup_reconcile_batch {
    struct bsup_reconcile_engine *e;
    struct s_member *m;
    size_t n;
    int pending; /* AWS calls in flight */
    unsigned calls;
    char **lt_keys; /* launch template versions still to fetch */
    size_t n_lt;
    struct s_join **joins;
    size_t n_joins;
    bool recorded; /* false: stopped before observing; nothing to record */
    uv_timer_t kick;
    int budget_cycle;
    struct bsup_reconcile_batch *next;
};

enum s_req_kind { S_REQ_ASG, S_REQ_LT, S_REQ_APPLY };

struct s_req {
    struct bsup_reconcile_batch *b;
    int kind;
    size_t first, count; /* S_REQ_ASG: members [first, first+count); APPLY: member first */
    char lt_key[300];
    int64_t journal_id;
    struct bsup_action action;
};

static int64_t s_now_s(void)
{
    return (int64_t)time(NULL);
}

static void s_event(struct bsup_reconcile_engine *e, const char *service, const char *kind,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void s_event(struct bsup_reconcile_engine *e, const char *service, const char *kind,
                    const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct bsup_diag diag = {0};
    if (bsup_store_event_add(e->store, s_now_s(), service, kind, msg, NULL, &diag))
        bsup_log_err("cannot record an event: %s", diag.message);
}

static int64_t s_interval_ms(const struct bsup_reconcile_engine *e,
                             const struct bsup_reconcile_service *s)
{
    int64_t iv = s->desired.interval_s ? s->desired.interval_s : e->settings->interval_s;
    return iv * 1000;
}

static int s_effective_mode(const struct bsup_reconcile_engine *e,
                            const struct bsup_reconcile_service *s)
{
    if (e->dry_run || (e->paused && *e->paused))
        return BSUP_MODE_OBSERVE;
    return s->desired.mode == BSUP_MODE_DEFAULT ? e->settings->mode : s->desired.mode;
}

/* ---- launch template cache ---- */

static struct s_lt_entry *s_lt_find(struct bsup_reconcile_engine *e, const char *key, bool fresh)
{
    struct s_lt_cache *c = e->lt_cache;
    uint64_t now = uv_now(e->loop);
    for (size_t i = 0; i < c->n; i++) {
        struct s_lt_entry *x = &c->v[i];
        if (strcmp(x->key, key) != 0)
            continue;
        bool symbolic = strchr(key, '$') != NULL;
        if (fresh && symbolic && now - x->fetched_ms > S_LT_SYMBOLIC_TTL_MS)
            return NULL;
        return x;
    }
    return NULL;
}

static void s_lt_put(struct bsup_reconcile_engine *e, const char *key, const char *type)
{
    struct s_lt_cache *c = e->lt_cache;
    struct s_lt_entry *x = s_lt_find(e, key, false);
    if (!x) {
        if (c->n == S_LT_CACHE_MAX)
            c->n = 0; /* crude but bounded: start over */
        struct s_lt_entry *v = realloc(c->v, (c->n + 1) * sizeof(*v));
        if (!v)
            return;
        c->v = v;
        x = &c->v[c->n++];
        snprintf(x->key, sizeof(x->key), "%s", key);
    }
    snprintf(x->instance_type, sizeof(x->instance_type), "%s", type ? type : "");
    x->fetched_ms = uv_now(e->loop);
}

/* ---- batches ---- */

static void s_batch_observe_lt(struct bsup_reconcile_batch *b);
static void s_batch_plan_and_apply(struct bsup_reconcile_batch *b);
static void s_batch_finish(struct bsup_reconcile_batch *b);
static void s_rearm(struct bsup_reconcile_engine *e);

static void s_member_fail(struct s_member *m, const char *msg)
{
    m->failed = true;
    snprintf(m->error, sizeof(m->error), "%s", msg);
}

static void s_fill_observed(struct bsup_reconcile_service *s, const struct bsup_asg *g)
{
    struct bsup_asg_observed *o = &s->obs;
    memset(o, 0, sizeof(*o));
    o->found = true;
    snprintf(o->name, sizeof(o->name), "%s", g->name ? g->name : "");
    o->min_size = g->min_size;
    o->max_size = g->max_size;
    o->desired_capacity = g->desired_capacity;
    snprintf(o->health_check_type, sizeof(o->health_check_type), "%s",
             g->health_check_type ? g->health_check_type : "");
    o->health_check_grace_s = g->health_check_grace_period_s;
    snprintf(o->vpc_zone_identifier, sizeof(o->vpc_zone_identifier), "%s",
             g->vpc_zone_identifier ? g->vpc_zone_identifier : "");
    o->has_target_groups = g->n_target_group_arns > 0;
    o->instances = (int64_t)g->n_instances;
    for (size_t i = 0; i < g->n_instances; i++) {
        const struct bsup_asg_instance *in = &g->instances[i];
        bool healthy = in->health_status && strcmp(in->health_status, "Healthy") == 0;
        if (in->lifecycle_state && strcmp(in->lifecycle_state, "InService") == 0) {
            o->in_service++;
            o->healthy_in_service += healthy;
        } else if (in->lifecycle_state && strncmp(in->lifecycle_state, "Pending", 7) == 0) {
            o->pending++;
        }
        o->unhealthy += !healthy;
    }
}

static void on_asg_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user);

static int s_describe_groups(struct bsup_reconcile_batch *b, size_t first, size_t count)
{
    struct bsup_aws_params p = {0};
    struct s_req *r = calloc(1, sizeof(*r));
    int rc = r ? 0 : BSUP_ENOMEM;
    char name[256];
    for (size_t i = 0; rc == 0 && i < count; i++) {
        bsup_service_resource_name(&b->m[first + i].svc->desired, "auto_scaling_group", name,
                                   sizeof(name));
        rc = bsup_aws_params_addf(&p, name, "AutoScalingGroupNames.member.%zu", i + 1);
    }
    if (rc == 0)
        rc = bsup_aws_params_add(&p, "MaxRecords", "100");
    if (rc == 0) {
        r->b = b;
        r->kind = S_REQ_ASG;
        r->first = first;
        r->count = count;
        rc = bsup_aws_call(b->e->aws, "autoscaling", "DescribeAutoScalingGroups", &p, NULL,
                           BSUP_AWS_ALL_PAGES, on_asg_done, r, NULL);
    }
    bsup_aws_params_cleanup(&p);
    if (rc) {
        free(r);
        return rc;
    }
    b->pending++;
    return 0;
}

static void on_asg_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_req *r = user;
    struct bsup_reconcile_batch *b = r->b;
    b->pending--;
    b->calls += (unsigned)res->attempts;
    for (size_t i = 0; i < r->count; i++)
        b->m[r->first + i].calls += (unsigned)res->attempts;
    int rc;
    if (res->err && r->count > 1 && res->err != BSUP_ECANCELED) {
        /* One bad name or one throttled group must not hold back the others: ask for each
         * group on its own. */
        bsup_log_warn("batched observation failed, retrying one group per call groups=%zu "
                      "error=%s",
                      r->count, res->message);
        for (size_t i = 0; i < r->count; i++)
            if ((rc = s_describe_groups(b, r->first + i, 1)))
                s_member_fail(&b->m[r->first + i],
                              bsup_aws_client_why(b->e->aws, "autoscaling", rc));
    } else if (res->err) {
        for (size_t i = 0; i < r->count; i++)
            s_member_fail(&b->m[r->first + i], res->message);
    } else {
        for (size_t i = 0; i < r->count; i++)
            b->m[r->first + i].svc->obs.found = false;
        size_t pi;
        json_t *page;
        json_array_foreach(res->pages, pi, page)
        {
            struct bsup_asg_page pg = {0};
            if (bsup_asg_page_parse(page, &pg)) {
                for (size_t i = 0; i < r->count; i++)
                    s_member_fail(&b->m[r->first + i], "cannot read DescribeAutoScalingGroups");
                bsup_asg_page_cleanup(&pg);
                break;
            }
            for (size_t gi = 0; gi < pg.n_groups; gi++) {
                const struct bsup_asg *g = &pg.groups[gi];
                for (size_t i = 0; i < r->count; i++) {
                    struct s_member *m = &b->m[r->first + i];
                    char name[256];
                    bsup_service_resource_name(&m->svc->desired, "auto_scaling_group", name,
                                               sizeof(name));
                    if (!g->name || strcmp(name, g->name) != 0)
                        continue;
                    s_fill_observed(m->svc, g);
                    m->lt_key[0] = 0;
                    if (g->launch_template_id)
                        snprintf(m->lt_key, sizeof(m->lt_key), "%s|%s", g->launch_template_id,
                                 g->launch_template_version ? g->launch_template_version
                                                            : "$Default");
                }
            }
            bsup_asg_page_cleanup(&pg);
        }
    }
    free(r);
    if (b->pending == 0)
        s_batch_observe_lt(b);
}

static void on_lt_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_req *r = user;
    struct bsup_reconcile_batch *b = r->b;
    b->pending--;
    b->calls += (unsigned)res->attempts;
    if (res->err == 0) {
        struct bsup_ec2_launch_template_version_page pg = {0};
        if (json_array_size(res->pages) &&
            bsup_ec2_launch_template_version_page_parse(json_array_get(res->pages, 0), &pg) == 0 &&
            pg.n_versions)
            s_lt_put(b->e, r->lt_key, pg.versions[0].instance_type);
        bsup_ec2_launch_template_version_page_cleanup(&pg);
    } else {
        /* The instance type is only reported; its absence must not fail the cycle. */
        bsup_log_warn("cannot read launch template %s: %s", r->lt_key, res->message);
    }
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->m[i].lt_key, r->lt_key) == 0)
            b->m[i].calls++;
    free(r);
    if (b->pending == 0)
        s_batch_plan_and_apply(b);
}

/* Fetches the instance types of the launch template versions not in the cache. */
static void s_batch_observe_lt(struct bsup_reconcile_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    for (size_t i = 0; i < b->n; i++) {
        struct s_member *m = &b->m[i];
        if (m->failed || !m->svc->obs.found || !m->lt_key[0] || s_lt_find(e, m->lt_key, true))
            continue;
        bool asked = false;
        for (size_t j = 0; j < i; j++)
            asked |= strcmp(b->m[j].lt_key, m->lt_key) == 0 && !b->m[j].failed &&
                     !s_lt_find(e, m->lt_key, true);
        if (asked)
            continue;
        struct s_req *r = calloc(1, sizeof(*r));
        struct bsup_aws_params p = {0};
        char id[300];
        snprintf(id, sizeof(id), "%s", m->lt_key);
        char *bar = strchr(id, '|');
        if (!r || !bar) {
            free(r);
            continue;
        }
        *bar = 0;
        r->b = b;
        r->kind = S_REQ_LT;
        snprintf(r->lt_key, sizeof(r->lt_key), "%s", m->lt_key);
        int rc = bsup_aws_params_add(&p, "LaunchTemplateId", id);
        if (rc == 0)
            rc = bsup_aws_params_add(&p, "LaunchTemplateVersion.1", bar + 1);
        if (rc == 0)
            rc = bsup_aws_call(e->aws, "ec2", "DescribeLaunchTemplateVersions", &p, NULL, 0,
                               on_lt_done, r, NULL);
        bsup_aws_params_cleanup(&p);
        if (rc)
            free(r);
        else
            b->pending++;
    }
    if (b->pending == 0)
        s_batch_plan_and_apply(b);
}

static void on_apply_done(struct bsup_aws_call *call, const struct bsup_aws_result *res,
                          void *user);

static char *s_action_params(const struct bsup_action *a, const char *group,
                             struct bsup_aws_params *p)
{
    char num[32];
    bsup_aws_params_add(p, "AutoScalingGroupName", group);
    json_t *j = json_pack("{s:s}", "AutoScalingGroupName", group);
    struct {
        const char *name;
        int64_t v;
    } nums[] = {{"MinSize", a->min_size},
                {"MaxSize", a->max_size},
                {"DesiredCapacity", a->desired_capacity},
                {"HealthCheckGracePeriod", a->health_check_grace_s}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (nums[i].v < 0)
            continue;
        snprintf(num, sizeof(num), "%lld", (long long)nums[i].v);
        bsup_aws_params_add(p, nums[i].name, num);
        json_object_set_new(j, nums[i].name, json_integer(nums[i].v));
    }
    if (a->health_check_type[0]) {
        bsup_aws_params_add(p, "HealthCheckType", a->health_check_type);
        json_object_set_new(j, "HealthCheckType", json_string(a->health_check_type));
    }
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return text;
}

static void s_apply(struct bsup_reconcile_batch *b, size_t mi, const struct bsup_action *a)
{
    struct bsup_reconcile_engine *e = b->e;
    struct s_member *m = &b->m[mi];
    struct bsup_diag diag = {0};
    struct bsup_aws_params p = {0};
    const char *group = strchr(a->resource, '/') ? strchr(a->resource, '/') + 1 : a->resource;
    char *params = s_action_params(a, group, &p);
    struct s_req *r = calloc(1, sizeof(*r));
    if (!params || !r) {
        s_member_fail(m, "out of memory");
        goto out;
    }
    r->b = b;
    r->kind = S_REQ_APPLY;
    r->first = mi;
    r->action = *a;
    /* The intent is durable before the call: a crash after this line is never repeated
     * blindly; the next observation decides. */
    if (bsup_store_journal_begin(e->store, m->svc->name, a->resource, "UpdateAutoScalingGroup",
                                 params, s_now_s(), &r->journal_id, &diag)) {
        s_member_fail(m, diag.message);
        goto out;
    }
    bsup_failpoint("reconcile-after-intent");
    int rc = bsup_aws_call(e->aws, "autoscaling", "UpdateAutoScalingGroup", &p, NULL, 0,
                           on_apply_done, r, NULL);
    if (rc) {
        bsup_store_journal_end(e->store, r->journal_id, "error", bsup_err_name(rc),
                               "the call could not be started", NULL, s_now_s(), NULL);
        s_member_fail(m, "cannot start UpdateAutoScalingGroup");
        goto out;
    }
    r = NULL;
    b->pending++;
    m->mutations++;
    bsup_log_notice("applying service=%s action=UpdateAutoScalingGroup resource=%s params=%s",
                    m->svc->name, a->resource, params);
out:
    free(r);
    free(params);
    bsup_aws_params_cleanup(&p);
}

static void on_apply_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_req *r = user;
    struct bsup_reconcile_batch *b = r->b;
    struct bsup_reconcile_engine *e = b->e;
    struct s_member *m = &b->m[r->first];
    b->pending--;
    bsup_failpoint("reconcile-after-call");
    int64_t now = s_now_s();
    struct bsup_diag diag = {0};
    const char *rid = res->error.request_id[0] ? res->error.request_id : NULL;
    if (res->err == 0) {
        bsup_store_journal_end(e->store, r->journal_id, "ok", NULL, NULL, rid, now, &diag);
        struct bsup_resource_memory mem;
        bsup_store_memory_get(e->store, m->svc->name, r->action.resource, &mem);
        mem.last_change_s = now;
        mem.changes++;
        bsup_store_memory_put(e->store, m->svc->name, r->action.resource, &mem, &diag);
        m->applied_ok = true;
        /* AWS accepted these values: status shows them rather than the pre-change reading. */
        struct bsup_asg_observed *o = &m->svc->obs;
        if (r->action.min_size >= 0)
            o->min_size = r->action.min_size;
        if (r->action.max_size >= 0)
            o->max_size = r->action.max_size;
        if (r->action.desired_capacity >= 0)
            o->desired_capacity = r->action.desired_capacity;
        if (r->action.health_check_type[0])
            snprintf(o->health_check_type, sizeof(o->health_check_type), "%s",
                     r->action.health_check_type);
        if (r->action.health_check_grace_s >= 0)
            o->health_check_grace_s = r->action.health_check_grace_s;
        char what[512] = "";
        for (size_t i = 0; i < r->action.n_changes; i++) {
            size_t used = strlen(what);
            snprintf(what + used, sizeof(what) - used, "%s%s %s -> %s", i ? ", " : "",
                     r->action.changes[i].field, r->action.changes[i].observed,
                     r->action.changes[i].desired);
        }
        s_event(e, m->svc->name, "action.applied", "UpdateAutoScalingGroup %s: %s",
                r->action.resource, what);
        bsup_log_notice("applied service=%s action=UpdateAutoScalingGroup resource=%s %s",
                        m->svc->name, r->action.resource, what);
    } else {
        bsup_store_journal_end(e->store, r->journal_id, "error",
                               res->err == BSUP_EAWS ? res->error.code : bsup_err_name(res->err),
                               res->message, rid, now, &diag);
        m->apply_failed = true;
        snprintf(m->error, sizeof(m->error), "%s", res->message);
        s_event(e, m->svc->name, "action.failed", "%s", res->message);
        bsup_log_err("apply failed service=%s %s", m->svc->name, res->message);
    }
    free(r);
    if (b->pending == 0)
        s_batch_finish(b);
}

static void s_batch_plan_and_apply(struct bsup_reconcile_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    int64_t now = s_now_s();
    for (size_t i = 0; i < b->n; i++) {
        struct s_member *m = &b->m[i];
        struct bsup_reconcile_service *s = m->svc;
        bsup_plan_cleanup(&s->plan);
        bsup_plan_init(&s->plan);
        if (m->failed)
            continue;
        struct s_lt_entry *lt = m->lt_key[0] ? s_lt_find(e, m->lt_key, false) : NULL;
        if (lt)
            snprintf(s->obs.instance_type, sizeof(s->obs.instance_type), "%s", lt->instance_type);
        s->observed = true;
        if (bsup_scaling_plan(&s->desired, &s->obs, &s->plan)) {
            s_member_fail(m, "out of memory while planning");
            continue;
        }
        int mode = s_effective_mode(e, s);
        snprintf(s->mode, sizeof(s->mode), "%s", bsup_mode_name(mode));
        int budget_service = e->rails.max_mutations_per_service;
        for (size_t ai = 0; ai < s->plan.n_actions; ai++) {
            struct bsup_action *a = &s->plan.actions[ai];
            if (a->kind != BSUP_ACTION_UPDATE_ASG)
                continue;
            if (mode != BSUP_MODE_ENFORCE)
                continue; /* observe mode: drift is recorded, never corrected or counted */
            struct bsup_resource_memory mem;
            struct bsup_diag diag = {0};
            bsup_store_memory_get(e->store, s->name, a->resource, &mem);
            if (bsup_rails_observe(&e->rails, &mem, true)) {
                s_event(e, s->name, "service.fighting",
                        "%s: the same drift came back after %d corrections in a row; bsupd "
                        "stops correcting it until it converges",
                        a->resource, mem.corrections_in_a_row);
                bsup_log_warn("fighting service=%s resource=%s corrections=%d", s->name,
                              a->resource, mem.corrections_in_a_row);
            }
            bsup_store_memory_put(e->store, s->name, a->resource, &mem, &diag);
            bsup_rails_gate(&e->rails, &mem, a, now, &b->budget_cycle, &budget_service);
            if (!a->held)
                s_apply(b, i, a);
        }
        /* A resource without drift this cycle has converged: forget any fight. */
        char resource[280];
        char name[256];
        bsup_service_resource_name(&s->desired, "auto_scaling_group", name, sizeof(name));
        snprintf(resource, sizeof(resource), "autoscaling-group/%s", name);
        bool drift = false;
        for (size_t ai = 0; ai < s->plan.n_actions; ai++)
            drift |= s->plan.actions[ai].kind == BSUP_ACTION_UPDATE_ASG;
        if (!drift && s->obs.found) {
            struct bsup_resource_memory mem;
            bsup_store_memory_get(e->store, s->name, resource, &mem);
            if (mem.corrections_in_a_row || mem.fighting) {
                bsup_rails_observe(&e->rails, &mem, false);
                struct bsup_diag diag = {0};
                bsup_store_memory_put(e->store, s->name, resource, &mem, &diag);
            }
        }
    }
    if (b->pending == 0)
        s_batch_finish(b);
}

static const char *s_state_of(const struct s_member *m)
{
    const struct bsup_reconcile_service *s = m->svc;
    if (m->failed || m->apply_failed)
        return "error";
    if (!s->obs.found)
        return "missing";
    bool update = false, held = false, report = false, fighting = false;
    for (size_t i = 0; i < s->plan.n_actions; i++) {
        const struct bsup_action *a = &s->plan.actions[i];
        if (a->kind == BSUP_ACTION_UPDATE_ASG) {
            update = true;
            held |= a->held;
            fighting |= a->held && strncmp(a->held_reason, "fighting", 8) == 0;
        } else if (a->kind == BSUP_ACTION_REPORT) {
            report = true;
        }
    }
    if (fighting)
        return "fighting";
    if (update && m->applied_ok && !held)
        return report ? "drift" : "corrected";
    if (held)
        return "held";
    if (update || report)
        return "drift";
    return "ok";
}

static json_t *s_observed_json(const struct bsup_reconcile_service *s)
{
    const struct bsup_asg_observed *o = &s->obs;
    if (!s->observed)
        return json_null();
    if (!o->found)
        return json_pack("{s:b}", "found", 0);
    return json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:s}", "found", 1,
                     "name", o->name, "min_size", (json_int_t)o->min_size, "max_size",
                     (json_int_t)o->max_size, "desired_capacity", (json_int_t)o->desired_capacity,
                     "instances", (json_int_t)o->instances, "in_service", (json_int_t)o->in_service,
                     "pending", (json_int_t)o->pending, "unhealthy", (json_int_t)o->unhealthy,
                     "health_check_type", o->health_check_type, "health_check_grace_period",
                     (json_int_t)o->health_check_grace_s, "instance_type", o->instance_type);
}

static void s_record(struct bsup_reconcile_engine *e, struct s_member *m)
{
    struct bsup_reconcile_service *s = m->svc;
    const char *state = s_state_of(m);
    bool changed = strcmp(state, s->state) != 0;
    char previous[32];
    snprintf(previous, sizeof(previous), "%s", s->state);
    snprintf(s->state, sizeof(s->state), "%s", state);
    s->last_cycle_at_s = s_now_s();
    s->calls_last_cycle = m->calls;
    s->mutations_last_cycle = m->mutations;
    if (m->failed || m->apply_failed)
        snprintf(s->last_error, sizeof(s->last_error), "%s", m->error);
    else
        s->last_error[0] = 0;
    if (changed) {
        char what[700] = "";
        for (size_t i = 0; i < s->plan.n_actions && strlen(what) < 500; i++) {
            const struct bsup_action *a = &s->plan.actions[i];
            for (size_t j = 0; j < a->n_changes; j++) {
                size_t used = strlen(what);
                snprintf(what + used, sizeof(what) - used, "%s%s %s (want %s)", used ? ", " : "",
                         a->changes[j].field, a->changes[j].observed, a->changes[j].desired);
            }
        }
        if (strcmp(state, "error") == 0) {
            s_event(e, s->name, "service.error", "%s", s->last_error);
            bsup_log_err("service=%s reconcile failed: %s", s->name, s->last_error);
        } else if (strcmp(state, "missing") == 0)
            s_event(e, s->name, "service.missing",
                    "Auto Scaling group %s does not exist; bsupd never creates it",
                    s->plan.n_actions ? s->plan.actions[0].resource : "?");
        else if (strcmp(state, "drift") == 0 || strcmp(state, "held") == 0)
            s_event(e, s->name, "drift.found", "%s mode: %s", s->mode, what);
        else
            s_event(e, s->name, "service.state", "now %s (was %s)", state, previous);
    }
    char *plan = bsup_plan_to_json(&s->plan);
    json_t *detail =
        json_pack("{s:s, s:o, s:o?, s:i, s:i, s:s}", "mode", s->mode, "observed",
                  s_observed_json(s), "plan", plan ? json_loads(plan, 0, NULL) : NULL, "calls",
                  (int)m->calls, "mutations", (int)m->mutations, "error", s->last_error);
    free(plan);
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    struct bsup_diag diag = {0};
    if (text &&
        bsup_store_observation_put(e->store, s->name, s->last_cycle_at_s, state, text, &diag))
        bsup_log_err("%s", diag.message);
    free(text);
    json_decref(detail);

    /* Failing services back off (capped) without holding up the others. */
    if (strcmp(state, "error") == 0)
        s->failures++;
    else
        s->failures = 0;
    double r = (double)rand() / ((double)RAND_MAX + 1.0);
    s->next_due_ms =
        uv_now(e->loop) + (uint64_t)bsup_schedule_next_delay_ms(
                              s_interval_ms(e, s), e->settings->jitter_s * 1000, s->failures, r);
}

static void s_drop_gone(struct bsup_reconcile_engine *e);

/* The last step of closing: every batch and the tick are gone. */
static void s_maybe_closed(struct bsup_reconcile_engine *e)
{
    if (!e->closing || e->batches || !e->tick_closed || e->n_kicks)
        return;
    s_drop_gone(e);
    free(e->services);
    e->services = NULL;
    struct s_lt_cache *c = e->lt_cache;
    if (c)
        free(c->v);
    free(c);
    e->lt_cache = NULL;
    void (*cb)(struct bsup_reconcile_engine *) = e->close_cb;
    e->close_cb = NULL;
    if (cb)
        cb(e);
}

static void on_kick_closed(uv_handle_t *h)
{
    struct bsup_reconcile_batch *b = h->data;
    struct bsup_reconcile_engine *e = b->e;
    free(b->m);
    free(b->joins);
    free(b);
    e->n_kicks--;
    s_maybe_closed(e);
}

static void on_tick_closed(uv_handle_t *h)
{
    struct bsup_reconcile_engine *e = h->data;
    e->tick_closed = true;
    s_maybe_closed(e);
}

static void s_drop_gone(struct bsup_reconcile_engine *e)
{
    size_t o = 0;
    for (size_t i = 0; i < e->n_services; i++) {
        struct bsup_reconcile_service *s = e->services[i];
        if (s->gone && !s->running) {
            bsup_service_cleanup(&s->desired);
            bsup_plan_cleanup(&s->plan);
            free(s->name);
            free(s);
            continue;
        }
        e->services[o++] = s;
    }
    e->n_services = o;
}

static void s_batch_finish(struct bsup_reconcile_batch *b)
{
    struct bsup_reconcile_engine *e = b->e;
    for (size_t i = 0; i < b->n; i++) {
        /* A cycle cut short by shutdown keeps the service's last recorded state. */
        if (b->recorded && !(e->closing && (b->m[i].failed || b->m[i].apply_failed)))
            s_record(e, &b->m[i]);
        b->m[i].svc->running = false;
    }
    e->cycles++;
    e->observing_calls_total += b->calls;
    e->observing_calls_last_batch = b->calls;
    e->services_last_batch = (unsigned)b->n;
    e->last_batch_at_s = s_now_s();
    bsup_log_info("cycle done services=%zu observing_calls=%u", b->n, b->calls);
    for (struct bsup_reconcile_batch **pp = &e->batches; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    for (size_t i = 0; i < b->n_joins; i++) {
        struct s_join *j = b->joins[i];
        if (--j->pending == 0) {
            j->fn(j->ctx);
            free(j);
        }
    }
    if (e->on_change)
        e->on_change(e->ctx);
    s_drop_gone(e);
    uv_close((uv_handle_t *)&b->kick, on_kick_closed);
    if (!e->closing)
        s_rearm(e);
}

static void on_kick(uv_timer_t *t)
{
    struct bsup_reconcile_batch *b = t->data;
    if (b->n == 0 || b->e->closing) {
        s_batch_finish(b);
        return;
    }
    b->recorded = true;
    for (size_t first = 0; first < b->n; first += BSUP_RECONCILE_BATCH_MAX) {
        size_t count =
            b->n - first < BSUP_RECONCILE_BATCH_MAX ? b->n - first : BSUP_RECONCILE_BATCH_MAX;
        int rc = s_describe_groups(b, first, count);
        if (rc)
            for (size_t i = 0; i < count; i++)
                s_member_fail(&b->m[first + i], bsup_aws_client_why(b->e->aws, "autoscaling", rc));
    }
    if (b->pending == 0)
        s_batch_plan_and_apply(b);
}

/* Starts a batch of the given services (already marked running) on the next loop turn. */
static struct bsup_reconcile_batch *s_batch_new(struct bsup_reconcile_engine *e,
                                                struct bsup_reconcile_service **v, size_t n)
{
    struct bsup_reconcile_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->m = calloc(n ? n : 1, sizeof(*b->m));
    if (!b->m) {
        free(b);
        return NULL;
    }
    b->e = e;
    b->n = n;
    b->budget_cycle = e->rails.max_mutations_per_cycle;
    for (size_t i = 0; i < n; i++) {
        b->m[i].svc = v[i];
        v[i]->running = true;
        v[i]->requested = false;
    }
    uv_timer_init(e->loop, &b->kick);
    b->kick.data = b;
    e->n_kicks++;
    b->next = e->batches;
    e->batches = b;
    uv_timer_start(&b->kick, on_kick, 0, 0);
    return b;
}

static void on_tick(uv_timer_t *t)
{
    struct bsup_reconcile_engine *e = t->data;
    if (e->closing)
        return;
    uint64_t now = uv_now(e->loop);
    struct bsup_reconcile_service **due = calloc(e->n_services ? e->n_services : 1, sizeof(*due));
    size_t n = 0;
    for (size_t i = 0; due && i < e->n_services; i++) {
        struct bsup_reconcile_service *s = e->services[i];
        uint64_t window = (uint64_t)s_interval_ms(e, s) / 10;
        if (window > S_BATCH_WINDOW_MAX_MS)
            window = S_BATCH_WINDOW_MAX_MS;
        if (!s->running && !s->gone && (s->requested || s->next_due_ms <= now + window)) {
            if (!s->requested && s->next_due_ms + (uint64_t)s_interval_ms(e, s) < now)
                e->late_batches++; /* a whole interval late: the loop or AWS is too slow */
            due[n++] = s;
        }
    }
    if (n && !s_batch_new(e, due, n))
        bsup_log_err("out of memory starting a reconcile cycle");
    free(due);
    s_rearm(e);
}

static void s_rearm(struct bsup_reconcile_engine *e)
{
    if (e->closing)
        return;
    uint64_t now = uv_now(e->loop), next = UINT64_MAX;
    for (size_t i = 0; i < e->n_services; i++) {
        const struct bsup_reconcile_service *s = e->services[i];
        if (s->running || s->gone)
            continue;
        uint64_t at = s->requested ? now : s->next_due_ms;
        if (at < next)
            next = at;
    }
    if (next == UINT64_MAX)
        uv_timer_stop(&e->tick);
    else
        uv_timer_start(&e->tick, on_tick, next > now ? next - now : 0, 0);
}

int bsup_reconcile_init(struct bsup_reconcile_engine *e, uv_loop_t *loop, struct bsup_store *store,
                        struct bsup_aws_client *aws, const struct bsup_settings *settings,
                        bool dry_run, const bool *paused)
{
    memset(e, 0, sizeof(*e));
    e->loop = loop;
    e->store = store;
    e->aws = aws;
    e->settings = settings;
    e->dry_run = dry_run;
    e->paused = paused;
    e->rails = (struct bsup_rails_config){
        .max_mutations_per_cycle = (int)settings->max_changes_per_cycle,
        .max_mutations_per_service = (int)settings->max_changes_per_service,
        .cooldown_s = settings->cooldown_s,
        .fight_threshold = (int)settings->fight_threshold,
    };
    e->lt_cache = calloc(1, sizeof(struct s_lt_cache));
    if (!e->lt_cache)
        return BSUP_ENOMEM;
    uv_timer_init(loop, &e->tick);
    e->tick.data = e;
    /* Intents a previous bsupd left without an outcome: never repeated blindly. */
    size_t n = 0;
    struct bsup_diag diag = {0};
    if (bsup_store_journal_recover(store, s_now_s(), &n, &diag) == 0 && n)
        bsup_log_warn("journal: %zu change%s of a previous run ended without an outcome; "
                      "they are re-checked by observation, not repeated",
                      n, n == 1 ? "" : "s");
    return 0;
}

static struct bsup_reconcile_service *s_find(const struct bsup_reconcile_engine *e,
                                             const char *name)
{
    for (size_t i = 0; i < e->n_services; i++)
        if (!e->services[i]->gone && strcmp(e->services[i]->name, name) == 0)
            return e->services[i];
    return NULL;
}

int bsup_reconcile_sync(struct bsup_reconcile_engine *e, struct bsup_diag *diag)
{
    struct bsup_store_service *v = NULL;
    size_t n = 0;
    int rc = bsup_store_services_list(e->store, &v, &n, diag);
    if (rc)
        return rc;
    for (size_t i = 0; i < e->n_services; i++)
        e->services[i]->gone = true;
    uint64_t now = uv_now(e->loop);
    for (size_t i = 0; i < n; i++) {
        struct bsup_service desired;
        if (bsup_service_from_json(v[i].config_json, &desired)) {
            bsup_log_err("service=%s: stored desired state unreadable; skipped", v[i].service);
            continue;
        }
        struct bsup_reconcile_service *s = NULL;
        for (size_t j = 0; j < e->n_services; j++)
            if (strcmp(e->services[j]->name, v[i].service) == 0)
                s = e->services[j];
        if (s) {
            s->gone = false;
            bsup_service_cleanup(&s->desired);
            s->desired = desired;
            s->generation = v[i].generation;
            continue;
        }
        struct bsup_reconcile_service **nv =
            realloc(e->services, (e->n_services + 1) * sizeof(*nv));
        s = calloc(1, sizeof(*s));
        if (!nv || !s || !(s->name = strdup(v[i].service))) {
            if (nv)
                e->services = nv;
            free(s);
            bsup_service_cleanup(&desired);
            rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
            break;
        }
        e->services = nv;
        e->services[e->n_services++] = s;
        s->desired = desired;
        s->generation = v[i].generation;
        snprintf(s->state, sizeof(s->state), "never");
        bsup_plan_init(&s->plan);
        /* First cycles spread by name over one interval, so N services never fire at once
         * (bsupctl reconcile runs one now). */
        s->next_due_ms = now + (uint64_t)bsup_schedule_first_delay_ms(s->name, s_interval_ms(e, s));
    }
    bsup_store_services_free(v, n);
    s_drop_gone(e);
    s_rearm(e);
    return rc;
}

static int s_join_add(struct bsup_reconcile_batch *b, struct s_join *j)
{
    struct s_join **v = realloc(b->joins, (b->n_joins + 1) * sizeof(*v));
    if (!v)
        return BSUP_ENOMEM;
    b->joins = v;
    b->joins[b->n_joins++] = j;
    j->pending++;
    return 0;
}

int bsup_reconcile_now(struct bsup_reconcile_engine *e, const char *service,
                       bsup_reconcile_done_fn done, void *ctx)
{
    if (e->closing)
        return BSUP_ESHUTDOWN;
    struct bsup_reconcile_service **v = calloc(e->n_services ? e->n_services : 1, sizeof(*v));
    struct s_join *join = done ? calloc(1, sizeof(*join)) : NULL;
    if (!v || (done && !join)) {
        free(v);
        free(join);
        return BSUP_ENOMEM;
    }
    if (join)
        *join = (struct s_join){.fn = done, .ctx = ctx};
    size_t n = 0;
    for (size_t i = 0; i < e->n_services; i++) {
        struct bsup_reconcile_service *s = e->services[i];
        if (s->gone || (service && strcmp(s->name, service) != 0))
            continue;
        if (!s->running) {
            v[n++] = s;
            continue;
        }
        /* Never overlaps itself: it runs again right after; a waiter waits for the cycle in
         * progress (which ends after this request). */
        s->requested = true;
        for (struct bsup_reconcile_batch *b = e->batches; join && b; b = b->next)
            for (size_t k = 0; k < b->n; k++)
                if (b->m[k].svc == s) {
                    bool have = false;
                    for (size_t q = 0; q < b->n_joins; q++)
                        have |= b->joins[q] == join;
                    if (!have && s_join_add(b, join) == 0)
                        break;
                }
    }
    /* A batch for the idle ones; an empty one too when a waiter has nothing else to wait
     * for, so it is answered asynchronously. */
    struct bsup_reconcile_batch *b = NULL;
    if (n || (join && join->pending == 0))
        b = s_batch_new(e, v, n);
    free(v);
    if (b && join && s_join_add(b, join) == 0)
        return 0;
    if (join && join->pending == 0) {
        free(join);
        return BSUP_ENOMEM;
    }
    return (n && !b) ? BSUP_ENOMEM : 0;
}

bool bsup_reconcile_needs_attention(const struct bsup_reconcile_engine *e)
{
    for (size_t i = 0; i < e->n_services; i++) {
        const char *st = e->services[i]->state;
        if (!strcmp(st, "drift") || !strcmp(st, "held") || !strcmp(st, "missing") ||
            !strcmp(st, "fighting") || !strcmp(st, "error"))
            return true;
    }
    return false;
}

void bsup_reconcile_counts(const struct bsup_reconcile_engine *e, size_t *out_drift,
                           size_t *out_degraded)
{
    *out_drift = *out_degraded = 0;
    for (size_t i = 0; i < e->n_services; i++) {
        const char *st = e->services[i]->state;
        *out_drift += !strcmp(st, "drift") || !strcmp(st, "held") || !strcmp(st, "fighting");
        *out_degraded += !strcmp(st, "missing") || !strcmp(st, "error");
    }
}

void bsup_reconcile_status_fields(const struct bsup_reconcile_engine *e, const char *service,
                                  json_t *obj)
{
    const struct bsup_reconcile_service *s = s_find(e, service);
    if (!s)
        return;
    bool never = strcmp(s->state, "never") == 0;
    bool drift =
        !strcmp(s->state, "drift") || !strcmp(s->state, "held") || !strcmp(s->state, "fighting");
    bool degraded = !strcmp(s->state, "missing") || !strcmp(s->state, "error");
    json_object_set_new(obj, "state", json_string(never ? "never reconciled" : s->state));
    json_object_set_new(obj, "last_reconciled_at",
                        s->last_cycle_at_s ? json_integer(s->last_cycle_at_s) : json_null());
    json_object_set_new(obj, "drift", never ? json_null() : json_boolean(drift));
    json_object_set_new(obj, "degraded", never ? json_null() : json_boolean(degraded));
    if (drift || degraded)
        json_object_set_new(obj, "attention", json_true());
    json_object_set_new(obj, "scaling", s_observed_json(s));
    json_object_set_new(obj, "calls_last_cycle", json_integer(s->calls_last_cycle));
    json_object_set_new(obj, "changes_last_cycle", json_integer(s->mutations_last_cycle));
    json_object_set_new(obj, "running", json_boolean(s->running));
    json_object_set_new(obj, "failures", json_integer(s->failures));
    json_object_set_new(obj, "error", s->last_error[0] ? json_string(s->last_error) : json_null());
}

json_t *bsup_reconcile_plan_json(const struct bsup_reconcile_engine *e, const char *service)
{
    const struct bsup_reconcile_service *s = s_find(e, service);
    if (!s || !s->observed)
        return NULL;
    char *text = bsup_plan_to_json(&s->plan);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return j;
}

json_t *bsup_reconcile_engine_json(const struct bsup_reconcile_engine *e)
{
    json_t *calls = json_object();
    for (int f = 0; calls && f < BSUP_API_FAMILY_COUNT; f++) {
        const struct bsup_bucket *bk = &e->aws->buckets[f];
        json_object_set_new(calls, bsup_api_families[f].name,
                            json_pack("{s:I, s:f, s:I, s:I}", "requests",
                                      (json_int_t)e->aws->attempts[f], "rate_per_s", bk->rate_per_s,
                                      "throttles", (json_int_t)bk->throttles, "waits",
                                      (json_int_t)bk->waits));
    }
    return json_pack("{s:I, s:i, s:i, s:I, s:I, s:o}", "cycles", (json_int_t)e->cycles,
                     "services_last_cycle", (int)e->services_last_batch,
                     "observing_calls_last_cycle", (int)e->observing_calls_last_batch,
                     "observing_calls_total", (json_int_t)e->observing_calls_total, "late_cycles",
                     (json_int_t)e->late_batches, "api", calls);
}

void bsup_reconcile_close(struct bsup_reconcile_engine *e,
                          void (*close_cb)(struct bsup_reconcile_engine *e))
{
    e->closing = true;
    e->close_cb = close_cb;
    uv_timer_stop(&e->tick);
    uv_close((uv_handle_t *)&e->tick, on_tick_closed);
    /* Batches end as the AWS client cancels their calls; services are freed after them. */
    for (size_t i = 0; i < e->n_services; i++)
        e->services[i]->gone = true;
}
