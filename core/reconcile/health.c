#include "core/reconcile/health.h"

#include "core/aws/results.h"
#include "core/aws/wire.h"
#include "core/base/error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_state_names[] = {
#define X(e, name) name,
    BSUP_TARGET_STATE_MAP(X)
#undef X
};

const char *bsup_target_state_name(int state)
{
    return state >= 0 && state < BSUP_TARGET_STATE_COUNT ? s_state_names[state] : "?";
}

enum bsup_target_state bsup_target_state_from_name(const char *name)
{
    if (name && strcmp(name, "unhealthy.draining") == 0)
        return BSUP_TARGET_DRAINING;
    for (int i = 0; name && i < BSUP_TARGET_STATE_COUNT; i++)
        if (strcmp(name, s_state_names[i]) == 0)
            return (enum bsup_target_state)i;
    return BSUP_TARGET_UNAVAILABLE;
}

static void s_num(char *buf, size_t len, int64_t v)
{
    snprintf(buf, len, "%lld", (long long)v);
}

static const char *s_protocol_name(int protocol)
{
    return protocol == BSUP_HEALTH_HTTPS ? "HTTPS" : "HTTP";
}

/* ---- history of the replacement ---- */

void bsup_health_history_parse(const char *text, struct bsup_health_history *out)
{
    memset(out, 0, sizeof(*out));
    for (const char *p = text ? text : ""; *p && out->n < BSUP_HEALTH_MAX_TRACKED;) {
        size_t len = strcspn(p, ",");
        char item[96], id[24];
        long long streak = 0, at = 0, counted = 0;
        int used = 0;
        if (len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = 0;
            /* Each part optional after the streak; an entry written before counted_at was kept
             * has none: its last count is long ago. */
            if (sscanf(item, "%23[^:@/]:%lld%n", id, &streak, &used) == 2) {
                const char *rest = item + used;
                if (sscanf(rest, "@%lld%n", &at, &used) == 1)
                    rest += used;
                if (sscanf(rest, "/%lld", &counted) != 1)
                    counted = 0;
                if (streak >= 0 && at >= 0 && counted >= 0) {
                    struct bsup_health_memory *e = &out->v[out->n++];
                    snprintf(e->id, sizeof(e->id), "%s", id);
                    e->streak = streak;
                    e->marked_at = at;
                    e->counted_at = counted;
                }
            }
        }
        p += len;
        if (*p == ',')
            p++;
    }
}

void bsup_health_history_format(const struct bsup_health_history *h, char *buf, size_t len)
{
    buf[0] = 0;
    for (size_t i = 0, used = 0; i < h->n; i++, used = strlen(buf)) {
        char item[96], at[24] = "", counted[24] = "";
        const struct bsup_health_memory *e = &h->v[i];
        if (e->marked_at)
            snprintf(at, sizeof(at), "@%lld", (long long)e->marked_at);
        if (e->counted_at)
            snprintf(counted, sizeof(counted), "/%lld", (long long)e->counted_at);
        snprintf(item, sizeof(item), "%s:%lld%s%s", e->id, (long long)e->streak, at, counted);
        if (used + strlen(item) + 2 > len)
            break; /* whole entries only */
        snprintf(buf + used, len - used, "%s%s", used ? "," : "", item);
    }
}

/* ---- the damped replacement ---- */

static const struct bsup_asg_member *s_member(const struct bsup_asg_observed *g, const char *id)
{
    for (int64_t i = 0; i < g->n_listed; i++)
        if (strcmp(g->listed[i].id, id) == 0)
            return &g->listed[i];
    return NULL;
}

static const struct bsup_health_target *s_tracked(const struct bsup_health_observed *h,
                                                  const char *id)
{
    for (int64_t i = 0; i < h->n_tracked; i++)
        if (strcmp(h->tracked[i].id, id) == 0)
            return &h->tracked[i];
    return NULL;
}

static const struct bsup_health_memory *s_remembered(const struct bsup_health_history *h,
                                                     const char *id)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].id, id) == 0)
            return &h->v[i];
    return NULL;
}

static int s_by_streak(const void *a, const void *b)
{
    const struct bsup_health_memory *x = a, *y = b;
    if (x->streak != y->streak)
        return x->streak > y->streak ? -1 : 1;
    return strcmp(x->id, y->id);
}

void bsup_health_damp(const struct bsup_health_damp_in *in, struct bsup_replace_observed *out)
{
    const struct bsup_health_check *cfg = in->cfg;
    const struct bsup_health_observed *h = in->health;
    const struct bsup_asg_observed *g = in->group;
    struct bsup_health_history *nh = &out->history;
    memset(nh, 0, sizeof(*nh));
    out->enabled = cfg->replace_unhealthy;
    out->observed_at = in->now_s;
    out->group_size = g->instances;
    out->cap = g->instances * cfg->max_replace_percent / 100;
    if (out->cap < 1)
        out->cap = 1;
    out->n_candidates = out->counting = out->marked = 0;
    out->waiting[0] = 0;

    /* What is remembered goes on: a marking while its instance is in the group (when the
     * listing is cut short, it may be) and not expired; a streak grows with each fresh
     * unhealthy reading and ends with a fresh reading that is not, or that is an outage: that
     * is no evidence against an instance, and counting through it would mark the instances
     * still recovering the moment the first target is healthy again. An unhealthy reading
     * within the target group's health-check interval of the last one counted is the same
     * verdict read again (a requested cycle): it neither grows nor ends the streak. A last
     * count ahead of the clock (set back since) is taken as long ago. */
    int64_t healthy = h->counts[BSUP_TARGET_HEALTHY], unhealthy = h->counts[BSUP_TARGET_UNHEALTHY];
    bool outage = healthy == 0 && unhealthy > 0;
    bool cut = g->n_listed < g->instances;
    int64_t ttl = cfg->grace_period_s + BSUP_HEALTH_MARK_TTL_S;
    int64_t gap = h->interval_s > 0 ? h->interval_s : BSUP_HEALTH_ELB_INTERVAL_S;
    int64_t unseen_marks = 0, too_soon = 0;
    for (size_t i = 0; i < in->history->n; i++) {
        const struct bsup_health_memory *e = &in->history->v[i];
        const struct bsup_asg_member *mb = s_member(g, e->id);
        bool live = e->marked_at && (mb || cut) && in->now_s - e->marked_at < ttl;
        int64_t streak = e->streak, counted_at = e->counted_at;
        if (h->health_fresh) {
            const struct bsup_health_target *t = s_tracked(h, e->id);
            bool due = counted_at > in->now_s || in->now_s - counted_at >= gap;
            if (outage || !t || t->state != BSUP_TARGET_UNHEALTHY)
                streak = counted_at = 0;
            else if (due)
                streak++, counted_at = in->now_s;
            else
                too_soon++;
        }
        if ((!live && streak == 0) || nh->n == BSUP_HEALTH_MAX_TRACKED)
            continue;
        nh->v[nh->n++] = (struct bsup_health_memory){
            .streak = streak, .marked_at = live ? e->marked_at : 0, .counted_at = counted_at};
        snprintf(nh->v[nh->n - 1].id, sizeof(nh->v[0].id), "%s", e->id);
        unseen_marks += live && mb && mb->healthy && mb->in_service;
    }
    for (int64_t i = 0;
         h->health_fresh && !outage && i < h->n_tracked && nh->n < BSUP_HEALTH_MAX_TRACKED; i++) {
        const struct bsup_health_target *t = &h->tracked[i];
        /* Instances only: an IP or Lambda target is never an instance of the group. */
        if (t->state != BSUP_TARGET_UNHEALTHY || strncmp(t->id, "i-", 2) != 0 ||
            strlen(t->id) >= sizeof(nh->v[0].id) || s_remembered(in->history, t->id))
            continue;
        struct bsup_health_memory *e = &nh->v[nh->n++];
        *e = (struct bsup_health_memory){.streak = 1, .counted_at = in->now_s};
        snprintf(e->id, sizeof(e->id), "%.23s", t->id);
    }
    int64_t longest = 0;
    for (size_t i = 0; i < nh->n; i++) {
        out->counting += nh->v[i].streak > 0;
        out->marked += nh->v[i].marked_at > 0;
        longest = nh->v[i].streak > longest ? nh->v[i].streak : longest;
    }
    /* In progress: what the group is doing (launching, terminating, replacing what it found
     * unhealthy) and markings the group does not show yet. */
    out->in_progress = g->pending + g->terminating + g->unhealthy + unseen_marks;

    if (!cfg->replace_unhealthy) {
        snprintf(out->waiting, sizeof(out->waiting), "health_check.replace_unhealthy is off");
        return;
    }
    if (!h->health_read_at) {
        snprintf(out->waiting, sizeof(out->waiting), "target health not read yet");
        return;
    }
    if (!h->health_fresh) {
        snprintf(out->waiting, sizeof(out->waiting),
                 "target health was not read this cycle (paced); marking waits for a fresh "
                 "reading");
        return;
    }
    if (outage) {
        snprintf(out->waiting, sizeof(out->waiting),
                 "no target is healthy and some are unhealthy: an outage, not bad instances; "
                 "nothing is marked or counted");
        return;
    }
    if (out->in_progress > 0) {
        snprintf(out->waiting, sizeof(out->waiting),
                 "a replacement is in progress (%lld pending, %lld terminating, %lld unhealthy "
                 "in the group, %lld marked): nothing new is marked",
                 (long long)g->pending, (long long)g->terminating, (long long)g->unhealthy,
                 (long long)out->marked);
        return;
    }
    struct bsup_health_memory eligible[BSUP_HEALTH_MAX_TRACKED];
    size_t n = 0;
    for (size_t i = 0; i < nh->n; i++) {
        const struct bsup_health_memory *e = &nh->v[i];
        const struct bsup_asg_member *mb = s_member(g, e->id);
        if (e->streak >= cfg->unhealthy_cycles && !e->marked_at && mb && mb->in_service &&
            mb->healthy)
            eligible[n++] = *e;
    }
    if (n == 0) {
        const char *s = out->counting == 1 ? "" : "s";
        if (out->counting && longest >= cfg->unhealthy_cycles)
            snprintf(out->waiting, sizeof(out->waiting),
                     "%lld instance%s unhealthy, but none is an in-service, healthy instance of "
                     "the group that bsupd has not marked",
                     (long long)out->counting, s);
        else if (out->counting)
            snprintf(out->waiting, sizeof(out->waiting),
                     "%lld instance%s unhealthy, the longest for %lld of %lld observations%s",
                     (long long)out->counting, s, (long long)longest,
                     (long long)cfg->unhealthy_cycles,
                     too_soon ? " (one counts per health-check interval of the target group: "
                                "this reading came too soon)"
                              : "");
        return;
    }
    qsort(eligible, n, sizeof(eligible[0]), s_by_streak);
    for (size_t i = 0; i < n && out->n_candidates < out->cap; i++) {
        const struct bsup_health_target *t = s_tracked(h, eligible[i].id);
        size_t k = (size_t)out->n_candidates++;
        memcpy(out->candidates[k].id, eligible[i].id, sizeof(out->candidates[k].id));
        out->candidates[k].streak = eligible[i].streak;
        snprintf(out->candidates[k].reason, sizeof(out->candidates[k].reason), "%s",
                 t && t->reason[0] ? t->reason : "unhealthy");
    }
    if ((int64_t)n > out->n_candidates)
        snprintf(out->waiting, sizeof(out->waiting),
                 "%lld more wait: at most %lld of %lld instances are marked at once "
                 "(health_check.max_replace_percent)",
                 (long long)((int64_t)n - out->n_candidates), (long long)out->cap,
                 (long long)g->instances);
}

/* ---- plans ---- */

/* The health-check settings the drop-in declares that differ from the target group's, as
 * changes of one update; an undeclared one is the target group owner's and is left as it is.
 * HealthCheckEnabled is wanted when any is declared or replace_unhealthy relies on the checks. */
static void s_settings_drift(const struct bsup_service *svc, const struct bsup_health_observed *o,
                             struct bsup_action *upd)
{
    const struct bsup_health_check *hc = &svc->health_check;
    char ob[32], de[32];
    const struct {
        const char *key, *field, *observed, *desired, *why;
    } strs[] = {
        {"path", "HealthCheckPath", o->path, hc->path, "health_check.path in the drop-in"},
        {"port", "HealthCheckPort", o->port, hc->port, "health_check.port in the drop-in"},
        {"protocol", "HealthCheckProtocol", o->protocol, s_protocol_name(hc->protocol),
         "health_check.protocol in the drop-in"},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (bsup_health_declared(hc, strs[i].key) && strcmp(strs[i].observed, strs[i].desired))
            bsup_action_change(upd, strs[i].field, strs[i].observed, strs[i].desired, strs[i].why);
    /* With one of interval and timeout declared, the other is the target group's: a pair
     * ELBv2 refuses is said in the plan, not hidden until the request fails. */
    bool both = bsup_health_declared(hc, "interval") && bsup_health_declared(hc, "timeout");
    const struct {
        const char *key, *field;
        int64_t observed, desired;
        const char *why;
    } nums[] = {
        {"interval", "HealthCheckIntervalSeconds", o->interval_s, hc->interval_s,
         !both && hc->interval_s <= o->timeout_s
             ? "health_check.interval in the drop-in; not longer than the target group's "
               "timeout, which ELBv2 refuses: declare health_check.timeout too"
             : "health_check.interval in the drop-in"},
        {"timeout", "HealthCheckTimeoutSeconds", o->timeout_s, hc->timeout_s,
         !both && hc->timeout_s >= o->interval_s
             ? "health_check.timeout in the drop-in; not shorter than the target group's "
               "interval, which ELBv2 refuses: declare health_check.interval too"
             : "health_check.timeout in the drop-in"},
        {"healthy_threshold", "HealthyThresholdCount", o->healthy_threshold, hc->healthy_threshold,
         "health_check.healthy_threshold in the drop-in"},
        {"unhealthy_threshold", "UnhealthyThresholdCount", o->unhealthy_threshold,
         hc->unhealthy_threshold, "health_check.unhealthy_threshold in the drop-in"},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (!bsup_health_declared(hc, nums[i].key) || nums[i].observed == nums[i].desired)
            continue;
        s_num(ob, sizeof(ob), nums[i].observed);
        s_num(de, sizeof(de), nums[i].desired);
        bsup_action_change(upd, nums[i].field, ob, de, nums[i].why);
    }
    if (bsup_health_declared(hc, "matcher") && strcmp(o->matcher, hc->matcher) != 0)
        bsup_action_change(upd, "Matcher.HttpCode", o->matcher, hc->matcher,
                           "health_check.matcher in the drop-in");
    if (!o->enabled && bsup_health_declares_any(hc))
        bsup_action_change(upd, "HealthCheckEnabled", "false", "true",
                           "the drop-in declares health-check settings");
    else if (!o->enabled && hc->replace_unhealthy)
        bsup_action_change(upd, "HealthCheckEnabled", "false", "true",
                           "health_check.replace_unhealthy relies on the load balancer's checks");
}

size_t bsup_health_posture(const struct bsup_service *svc, const struct bsup_health_observed *obs,
                           struct bsup_change *out, size_t max)
{
    size_t n = 0;
#define S_FINDING(f, o, d, r)                                                                      \
    do {                                                                                           \
        if (n < max) {                                                                             \
            snprintf(out[n].field, sizeof(out[n].field), "%s", f);                                 \
            snprintf(out[n].observed, sizeof(out[n].observed), "%s", o);                           \
            snprintf(out[n].desired, sizeof(out[n].desired), "%s", d);                             \
            out[n++].reason = r;                                                                   \
        }                                                                                          \
    } while (0)
    if (!obs->found || !obs->lb_arn[0])
        return 0;
    if (obs->lb_read_at && !svc->health_check.public && strcmp(obs->scheme, "internal") != 0)
        S_FINDING("Scheme", obs->scheme, "internal",
                  "only a drop-in with health_check.public: true may have an internet-facing "
                  "load balancer");
    for (int64_t i = 0; obs->listeners_read_at && i < obs->n_listeners; i++) {
        const struct bsup_health_listener *l = &obs->listeners[i];
        char field[40], seen[128];
        bool tls = strcmp(l->protocol, "HTTPS") == 0 || strcmp(l->protocol, "TLS") == 0;
        if (tls && l->tls == BSUP_TLS_WEAK) {
            snprintf(field, sizeof(field), "Listener %lld SslPolicy", (long long)l->port);
            snprintf(seen, sizeof(seen), "%s (allows %s)", l->ssl_policy, l->oldest);
            S_FINDING(field, seen, "a TLS 1.2-or-newer policy",
                      "an HTTPS listener must not accept TLS older than 1.2");
        } else if (strcmp(l->protocol, "HTTP") == 0 && !l->to_https) {
            snprintf(field, sizeof(field), "Listener %lld DefaultAction", (long long)l->port);
            S_FINDING(field, l->action[0] ? l->action : "none", "redirect to HTTPS",
                      "a plain-HTTP listener may only redirect to HTTPS");
        }
    }
    if (obs->attributes_read_at && !obs->access_logs)
        S_FINDING("access_logs.s3.enabled", "false", "true",
                  "access logs keep a record of every request the load balancer served");
    if (obs->attributes_read_at && !obs->deletion_protection && svc->environment == BSUP_ENV_PROD)
        S_FINDING("deletion_protection.enabled", "false", "true",
                  "a prod load balancer keeps deletion protection on");
#undef S_FINDING
    return n;
}

int bsup_health_plan(const struct bsup_service *svc, const struct bsup_health_observed *obs,
                     struct bsup_plan *plan)
{
    char name[256], resource[280];
    bsup_service_resource_name(svc, "target_group", name, sizeof(name));
    snprintf(resource, sizeof(resource), "targetgroup/%s", name);
    if (!obs->found) {
        /* Not every backend sits behind a load balancer: only a declared target group must
         * exist; none by the default name means the service has none to check. */
        if (!svc->resources.target_group)
            return 0;
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_MISSING, resource);
        if (!a)
            return BSUP_ENOMEM;
        bsup_action_change(a, "TargetGroup", "absent", "exists",
                           "bsupd never creates target groups: create it, or name the right one "
                           "in resources.target_group");
        return 0;
    }

    struct bsup_action upd = {.kind = BSUP_ACTION_UPDATE};
    s_settings_drift(svc, obs, &upd);
    if (upd.n_changes) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_UPDATE, resource);
        if (!a)
            return BSUP_ENOMEM;
        snprintf(upd.resource, sizeof(upd.resource), "%s", resource);
        *a = upd;
    }
    /* A target group stays in its VPC: another than the drop-in's is reported, never changed. */
    if (obs->vpc_id[0] && svc->vpc_id && strcmp(obs->vpc_id, svc->vpc_id) != 0) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_REPORT, resource);
        if (!a)
            return BSUP_ENOMEM;
        bsup_action_change(a, "VpcId", obs->vpc_id, svc->vpc_id,
                           "vpc_id in the drop-in: the target group is in another VPC (the "
                           "drop-in names the wrong group or VPC); bsupd never moves it");
    }

    if (obs->health_read_at) {
        int64_t healthy = obs->counts[BSUP_TARGET_HEALTHY];
        int64_t unhealthy = obs->counts[BSUP_TARGET_UNHEALTHY];
        bool outage = healthy == 0 && unhealthy > 0;
        int64_t floor = svc->health_check.min_healthy;
        if (outage || healthy < floor) {
            /* Say "every target unhealthy" only when it is so: others may be stopped (unused). */
            char seen[96], want[64];
            snprintf(seen, sizeof(seen), "%lld of %lld%s", (long long)healthy,
                     (long long)obs->targets,
                     !outage                     ? ""
                     : unhealthy == obs->targets ? ", every target unhealthy: an outage"
                                                 : ", none healthy, some unhealthy: an outage");
            snprintf(want, sizeof(want), "at least %lld", (long long)(floor ? floor : 1));
            struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_DEGRADED, resource);
            if (!a)
                return BSUP_ENOMEM;
            bsup_action_change(a, "HealthyTargets", seen, want,
                               outage ? "no target is healthy and some are unhealthy: an outage; "
                                        "bsupd marks no instance for replacement"
                                      : "fewer healthy targets than health_check.min_healthy");
        }
        /* Each target that does not serve: a finding, so its appearing and clearing are
         * events. Registering and draining targets are on their way and left out. */
        for (int64_t i = 0; i < obs->n_tracked; i++) {
            const struct bsup_health_target *t = &obs->tracked[i];
            if (t->state == BSUP_TARGET_INITIAL || t->state == BSUP_TARGET_DRAINING)
                continue;
            char field[40], seen[128];
            snprintf(field, sizeof(field), "Target %.30s", t->id);
            snprintf(seen, sizeof(seen), "%s%s%s%s", bsup_target_state_name(t->state),
                     t->reason[0] ? " (" : "", t->reason, t->reason[0] ? ")" : "");
            struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_FINDING, resource);
            if (!a)
                return BSUP_ENOMEM;
            bsup_action_change(a, field, seen, "healthy",
                               "the load balancer's health check of this target");
        }
    }

    struct bsup_change found[16];
    size_t n = bsup_health_posture(svc, obs, found, sizeof(found) / sizeof(found[0]));
    if (n) {
        char lb[280];
        snprintf(lb, sizeof(lb), "loadbalancer/%s", obs->lb_name);
        for (size_t i = 0; i < n; i++) {
            struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_FINDING, lb);
            if (!a)
                return BSUP_ENOMEM;
            a->changes[0] = found[i];
            a->n_changes = 1;
        }
    }
    return 0;
}

int bsup_replace_plan(const struct bsup_service *svc, const struct bsup_replace_observed *obs,
                      struct bsup_plan *plan)
{
    (void)svc;
    for (int64_t i = 0; obs->found && i < obs->n_candidates; i++) {
        char resource[64], seen[128];
        snprintf(resource, sizeof(resource), "instance/%s", obs->candidates[i].id);
        snprintf(seen, sizeof(seen),
                 "Healthy; unhealthy on the load balancer %lld times in a row (%s)",
                 (long long)obs->candidates[i].streak, obs->candidates[i].reason);
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_UPDATE, resource);
        if (!a)
            return BSUP_ENOMEM;
        bsup_action_change(a, "HealthStatus", seen, "Unhealthy",
                           "health_check.replace_unhealthy: marked so the group replaces it, "
                           "damped (unhealthy_cycles, max_replace_percent)");
    }
    return 0;
}

/* ---- the health domain's observation ---- */

static struct bsup_health_observed *s_obs(struct bsup_domain_member *m)
{
    return m->obs;
}

static int s_groups_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    bsup_service_resource_name(m->desired, "target_group", key, BSUP_DOMAIN_KEY_MAX);
    return 1;
}

/* Adds one parameter per distinct key of m (members sharing a key are adjacent). */
static int s_add_keys(struct bsup_domain_member *const *m, size_t n, const char *list,
                      void (*key_of)(const struct bsup_domain_member *, char *),
                      struct bsup_aws_params *out)
{
    char key[BSUP_DOMAIN_KEY_MAX], last[BSUP_DOMAIN_KEY_MAX] = "";
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        key_of(m[i], key);
        if (i && strcmp(key, last) == 0)
            continue;
        snprintf(last, sizeof(last), "%s", key);
        rc = bsup_aws_params_addf(out, key, "%s.member.%zu", list, ++k);
    }
    return rc;
}

static void s_group_key(const struct bsup_domain_member *m, char *key)
{
    s_groups_prepare(m, key);
}

static int s_groups_build(struct bsup_domain_member *const *m, size_t n,
                          struct bsup_aws_params *out)
{
    /* botocore's model sets no maximum on Names; DescribeLoadBalancers documents 20 ARNs per
     * call, and the same 20 is used here (batch_max). */
    return s_add_keys(m, n, "Names", s_group_key, out);
}

/* The load balancer's name in its ARN: ...:loadbalancer/app/<name>/<id>. */
static void s_lb_name(const char *arn, char *out, size_t len)
{
    const char *p = strstr(arn, ":loadbalancer/");
    out[0] = 0;
    if (!p || !(p = strchr(p + 14, '/')))
        return;
    snprintf(out, len, "%.*s", (int)strcspn(p + 1, "/"), p + 1);
}

static void s_fill_group(struct bsup_health_observed *o, const struct bsup_service *svc,
                         const struct bsup_elb_target_group *tg)
{
    o->found = true;
    snprintf(o->name, sizeof(o->name), "%s", tg->name ? tg->name : "");
    snprintf(o->arn, sizeof(o->arn), "%s", tg->arn ? tg->arn : "");
    snprintf(o->path, sizeof(o->path), "%s", tg->health_check_path ? tg->health_check_path : "");
    snprintf(o->port, sizeof(o->port), "%s", tg->health_check_port ? tg->health_check_port : "");
    snprintf(o->protocol, sizeof(o->protocol), "%s",
             tg->health_check_protocol ? tg->health_check_protocol : "");
    o->enabled = tg->health_check_enabled;
    o->interval_s = tg->health_check_interval_s;
    o->timeout_s = tg->health_check_timeout_s;
    o->healthy_threshold = tg->healthy_threshold;
    o->unhealthy_threshold = tg->unhealthy_threshold;
    snprintf(o->matcher, sizeof(o->matcher), "%s",
             tg->matcher_http_code ? tg->matcher_http_code : "");
    snprintf(o->vpc_id, sizeof(o->vpc_id), "%s", tg->vpc_id ? tg->vpc_id : "");
    /* The load balancer named like the service, else the group's first. */
    char want[BSUP_DOMAIN_KEY_MAX], name[64];
    bsup_service_resource_name(svc, "load_balancer", want, sizeof(want));
    o->lb_arn[0] = o->lb_name[0] = 0;
    for (size_t i = 0; i < tg->n_load_balancer_arns; i++) {
        s_lb_name(tg->load_balancer_arns[i], name, sizeof(name));
        if (i == 0 || strcmp(name, want) == 0) {
            snprintf(o->lb_arn, sizeof(o->lb_arn), "%s", tg->load_balancer_arns[i]);
            snprintf(o->lb_name, sizeof(o->lb_name), "%s", name);
        }
        if (strcmp(name, want) == 0)
            break;
    }
}

static int s_groups_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                          struct bsup_diag *diag)
{
    char key[BSUP_DOMAIN_KEY_MAX];
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_elb_target_group_page pg = {0};
        if (bsup_elb_target_group_page_parse(page, &pg)) {
            bsup_elb_target_group_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeTargetGroups");
        }
        for (size_t g = 0; g < pg.n_groups; g++) {
            for (size_t i = 0; pg.groups[g].name && i < n; i++) {
                s_groups_prepare(m[i], key);
                if (strcmp(key, pg.groups[g].name) == 0)
                    s_fill_group(s_obs(m[i]), m[i]->desired, &pg.groups[g]);
            }
        }
        bsup_elb_target_group_page_cleanup(&pg);
    }
    return 0; /* a name AWS did not return does not exist (found stays false) */
}

/* ---- target health: a paced step ---- */

/* Whether the service looks wrong enough to read its targets this cycle rather than at the
 * next sweep: its settings are being corrected, a target does not serve, it is below its
 * floor, or its group is changing or disagrees with the last reading. */
static bool s_looks_wrong(const struct bsup_domain_member *m, const struct bsup_health_observed *o)
{
    struct bsup_action probe = {.kind = BSUP_ACTION_UPDATE};
    s_settings_drift(m->desired, o, &probe);
    const struct bsup_asg_observed *g = bsup_domain_peer(m, &bsup_scaling_domain);
    return probe.n_changes || o->counts[BSUP_TARGET_HEALTHY] != o->targets ||
           o->counts[BSUP_TARGET_HEALTHY] < m->desired->health_check.min_healthy ||
           (g && g->found &&
            (g->pending || g->terminating || g->unhealthy || g->instances != o->targets));
}

/* The reported host counts: those of the last reading, or -1 (unknown) before the first. */
static void s_hosts(struct bsup_health_observed *o)
{
    o->healthy_hosts = o->health_read_at ? o->counts[BSUP_TARGET_HEALTHY] : -1;
    o->unhealthy_hosts = o->health_read_at ? o->counts[BSUP_TARGET_UNHEALTHY] : -1;
}

/* The last reading of the targets, carried forward from prev (the same target group). */
static void s_carry_health(const struct bsup_domain_member *m)
{
    struct bsup_health_observed *o = m->obs;
    const struct bsup_health_observed *prev = m->prev;
    o->health_fresh = false;
    if (o->found && prev && prev->found && strcmp(prev->arn, o->arn) == 0) {
        o->health_read_at = prev->health_read_at;
        o->health_from_metrics = prev->health_from_metrics;
        o->targets = prev->targets;
        memcpy(o->counts, prev->counts, sizeof(o->counts));
        memcpy(o->reasons, prev->reasons, sizeof(o->reasons));
        memcpy(o->tracked, prev->tracked, sizeof(o->tracked));
        o->n_tracked = prev->n_tracked;
    }
    s_hosts(o);
}

/* ---- a first reading from the load balancer's own metrics ----
 *
 * ELB publishes HealthyHostCount and UnHealthyHostCount every minute for each target group
 * and load balancer it serves. For a group with no reading yet (a start, `--once`, a new
 * service), one GetMetricData call covers 250 groups where DescribeTargetHealth takes one call
 * each: where CloudWatch says every target was healthy and as many as the group has
 * instances throughout the last three minutes, that is the reading, as of their start; any
 * other answer (some unhealthy, fewer, none) and the targets are read as before. So this can
 * only spare a read of a service that looks fine. */

/* One period over the last three minutes (the current one included): the fewest healthy and
 * the most unhealthy any load balancer node counted in it. A period so long, read as of its
 * start, claims no more than it saw; one datapoint per query keeps the call small. */
#define S_METRIC_WINDOW_S 180
#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)

/* "targetgroup/<name>/<id>" and, for the load balancer, the namespace its type publishes in
 * and "app/<name>/<id>"; false for an ARN of another shape. */
static bool s_metric_dims(const struct bsup_health_observed *o, const char **ns, const char **tg,
                          const char **lb)
{
    static const struct {
        const char *prefix, *ns;
    } types[] = {
        {"app/", "AWS/ApplicationELB"}, {"net/", "AWS/NetworkELB"}, {"gwy/", "AWS/GatewayELB"}};
    const char *t = strstr(o->arn, ":targetgroup/");
    const char *l = strstr(o->lb_arn, ":loadbalancer/");
    if (!t || !l)
        return false;
    *tg = t + 1;
    *lb = l + strlen(":loadbalancer/");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strncmp(*lb, types[i].prefix, strlen(types[i].prefix)) == 0) {
            *ns = types[i].ns;
            return true;
        }
    return false;
}

static int s_metrics_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const struct bsup_health_observed *o = m->obs;
    const char *ns, *tg, *lb;
    s_carry_health(m);
    if (!o->found || o->health_read_at || !s_metric_dims(o, &ns, &tg, &lb))
        return 0;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s %s", tg, lb);
    return 1;
}

/* The first member of m[0..i] with the same target group and load balancer as m[i]: its index
 * names their queries ("h3", "u3"). */
static size_t s_metrics_first(struct bsup_domain_member *const *m, size_t i)
{
    const struct bsup_health_observed *o = s_obs(m[i]);
    size_t j = 0;
    while (j < i && (strcmp(s_obs(m[j])->arn, o->arn) || strcmp(s_obs(m[j])->lb_arn, o->lb_arn)))
        j++;
    return j;
}

static int s_metrics_build(struct bsup_domain_member *const *m, size_t n,
                           struct bsup_aws_params *out)
{
    static const struct {
        const char *id, *name, *stat;
    } q[] = {{"h", "HealthyHostCount", "Minimum"}, {"u", "UnHealthyHostCount", "Maximum"}};
    int64_t end = (m[0]->now_s / 60 + 1) * 60;
    char start_s[40], end_s[40], id[32];
    int rc = bsup_wire_format_timestamp((double)(end - S_METRIC_WINDOW_S), NULL, start_s,
                                        sizeof(start_s)) < 0 ||
                     bsup_wire_format_timestamp((double)end, NULL, end_s, sizeof(end_s)) < 0
                 ? BSUP_EINVAL
                 : 0;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *ns, *tg, *lb;
        if (s_metrics_first(m, i) != i || !s_metric_dims(s_obs(m[i]), &ns, &tg, &lb))
            continue;
        for (size_t x = 0; rc == 0 && x < 2; x++) {
            k++;
            snprintf(id, sizeof(id), "%s%zu", q[x].id, i);
#define S_Q(value, suffix)                                                                         \
    bsup_aws_params_addf(out, value, "MetricDataQueries.member.%zu." suffix, k)
            /* TargetGroup first: the order the local AWS (moto) needs to match a metric. */
            rc = S_Q(id, "Id") || S_Q(ns, "MetricStat.Metric.Namespace") ||
                 S_Q(q[x].name, "MetricStat.Metric.MetricName") ||
                 S_Q("TargetGroup", "MetricStat.Metric.Dimensions.member.1.Name") ||
                 S_Q(tg, "MetricStat.Metric.Dimensions.member.1.Value") ||
                 S_Q("LoadBalancer", "MetricStat.Metric.Dimensions.member.2.Name") ||
                 S_Q(lb, "MetricStat.Metric.Dimensions.member.2.Value") ||
                 S_Q(S_STR(S_METRIC_WINDOW_S), "MetricStat.Period") ||
                 S_Q(q[x].stat, "MetricStat.Stat");
#undef S_Q
        }
    }
    if (rc == 0)
        rc = bsup_aws_params_add(out, "StartTime", start_s) ||
             bsup_aws_params_add(out, "EndTime", end_s) ||
             bsup_aws_params_add(out, "ScanBy", "TimestampDescending");
    return rc ? BSUP_ENOMEM : 0;
}

/* The latest datapoint of query id: its value and period's start; false when it has none. */
static bool s_metric_latest(const struct bsup_cw_metric_data_page *pg, const char *id,
                            double *value, int64_t *at)
{
    bool found = false;
    for (size_t r = 0; r < pg->n_results; r++) {
        const struct bsup_cw_metric_result *x = &pg->results[r];
        if (!x->id || strcmp(x->id, id) != 0)
            continue;
        for (size_t i = 0; i < x->n_values && i < x->n_timestamps; i++)
            if (!found || x->timestamps[i] > *at) {
                *value = x->values[i];
                *at = x->timestamps[i];
                found = true;
            }
    }
    return found;
}

static int s_metrics_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                           struct bsup_diag *diag)
{
    struct bsup_cw_metric_data_page pg = {0};
    if (json_array_size(pages) == 0 ||
        bsup_cw_metric_data_page_parse(json_array_get(pages, 0), &pg)) {
        bsup_cw_metric_data_page_cleanup(&pg);
        return bsup_diag_set(diag, BSUP_EPROTO, "cannot read GetMetricData");
    }
    for (size_t i = 0; i < n; i++) {
        struct bsup_health_observed *o = s_obs(m[i]);
        char h_id[32], u_id[32];
        double healthy, unhealthy;
        int64_t at, u_at;
        size_t j = s_metrics_first(m, i);
        snprintf(h_id, sizeof(h_id), "h%zu", j);
        snprintf(u_id, sizeof(u_id), "u%zu", j);
        if (!s_metric_latest(&pg, h_id, &healthy, &at) ||
            !s_metric_latest(&pg, u_id, &unhealthy, &u_at) || u_at != at || unhealthy != 0 ||
            !(healthy >= 1 && healthy <= 1e6) || at <= 0)
            continue;
        o->targets = o->counts[BSUP_TARGET_HEALTHY] = (int64_t)healthy;
        o->health_read_at = at < m[i]->now_s ? at : m[i]->now_s;
        o->health_from_metrics = true;
        if (s_looks_wrong(m[i], o)) { /* fewer than the group has, or below its floor */
            o->targets = o->counts[BSUP_TARGET_HEALTHY] = 0;
            o->health_read_at = 0;
            o->health_from_metrics = false;
        }
        s_hosts(o);
    }
    bsup_cw_metric_data_page_cleanup(&pg);
    return 0;
}

/* ---- the targets themselves ---- */

static int s_health_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_health_observed *o = m->obs;
    if (!o->health_read_at) /* else carried already, or read from the metrics */
        s_carry_health(m);
    if (!o->found)
        return 0;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", o->arn);
    if (!o->health_read_at)
        return 90;
    if (s_looks_wrong(m, o))
        return 100;
    int64_t age = m->now_s - o->health_read_at;
    if (age < m->desired->health_check.sweep_s)
        return 0;
    return 1 + (int)(age / 60 < 80 ? age / 60 : 80);
}

static int s_health_build(struct bsup_domain_member *const *m, size_t n,
                          struct bsup_aws_params *out)
{
    (void)n; /* one target group per call: every member shares it */
    return bsup_aws_params_add(out, "TargetGroupArn", s_obs(m[0])->arn);
}

static int s_by_target_id(const void *a, const void *b)
{
    return strcmp(((const struct bsup_health_target *)a)->id,
                  ((const struct bsup_health_target *)b)->id);
}

/* "reason=count" for each reason code among the targets not healthy. */
static void s_reasons(const struct bsup_elb_target_health_page *pg, char *out, size_t len)
{
    out[0] = 0;
    for (size_t i = 0; i < pg->n_targets; i++) {
        const char *r = pg->targets[i].reason;
        bool seen = !r;
        for (size_t k = 0; !seen && k < i; k++)
            seen = pg->targets[k].reason && strcmp(pg->targets[k].reason, r) == 0;
        if (seen)
            continue;
        int count = 0;
        for (size_t k = i; k < pg->n_targets; k++)
            count += pg->targets[k].reason && strcmp(pg->targets[k].reason, r) == 0;
        size_t used = strlen(out);
        if (used + strlen(r) + 16 < len)
            snprintf(out + used, len - used, "%s%s=%d", used ? "," : "", r, count);
    }
}

static int s_health_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                          struct bsup_diag *diag)
{
    struct bsup_elb_target_health_page pg = {0};
    if (json_array_size(pages) == 0 ||
        bsup_elb_target_health_page_parse(json_array_get(pages, 0), &pg)) {
        bsup_elb_target_health_page_cleanup(&pg);
        return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeTargetHealth");
    }
    struct bsup_health_observed *o = s_obs(m[0]);
    memset(o->counts, 0, sizeof(o->counts));
    o->targets = (int64_t)pg.n_targets;
    o->n_tracked = 0;
    for (size_t i = 0; i < pg.n_targets; i++) {
        const struct bsup_elb_target_health *t = &pg.targets[i];
        enum bsup_target_state st = bsup_target_state_from_name(t->state);
        o->counts[st]++;
        if (st == BSUP_TARGET_HEALTHY || !t->target_id)
            continue;
        struct bsup_health_target tr = {.state = st};
        snprintf(tr.id, sizeof(tr.id), "%s", t->target_id);
        snprintf(tr.reason, sizeof(tr.reason), "%s", t->reason ? t->reason : "");
        if (o->n_tracked < BSUP_HEALTH_MAX_TRACKED) {
            o->tracked[o->n_tracked++] = tr;
        } else {
            /* Keep the first ids in order, so the same ones are followed cycle after cycle. */
            qsort(o->tracked, (size_t)o->n_tracked, sizeof(tr), s_by_target_id);
            if (strcmp(tr.id, o->tracked[o->n_tracked - 1].id) < 0)
                o->tracked[o->n_tracked - 1] = tr;
        }
    }
    qsort(o->tracked, (size_t)o->n_tracked, sizeof(o->tracked[0]), s_by_target_id);
    s_reasons(&pg, o->reasons, sizeof(o->reasons));
    o->health_read_at = m[0]->now_s;
    o->health_fresh = true;
    o->health_from_metrics = false;
    s_hosts(o);
    bsup_elb_target_health_page_cleanup(&pg);
    for (size_t i = 1; i < n; i++) {
        struct bsup_health_observed *x = s_obs(m[i]);
        x->targets = o->targets;
        memcpy(x->counts, o->counts, sizeof(o->counts));
        memcpy(x->reasons, o->reasons, sizeof(o->reasons));
        memcpy(x->tracked, o->tracked, sizeof(o->tracked));
        x->n_tracked = o->n_tracked;
        x->health_read_at = o->health_read_at;
        x->health_fresh = true;
        x->health_from_metrics = false;
        s_hosts(x);
    }
    return 0;
}

/* ---- the load balancer's posture: paced, hourly, carried forward between readings ---- */

/* The priority of a posture reading last done at read_at: never read first, then the oldest
 * past the hour; 0 while fresh. */
static int s_posture_priority(const struct bsup_domain_member *m, int64_t read_at)
{
    if (!read_at)
        return 50;
    int64_t age = m->now_s - read_at;
    if (age < BSUP_HEALTH_POSTURE_EVERY_S)
        return 0;
    return 1 + (int)(age / 60 < 40 ? age / 60 : 40);
}

static void s_lb_key(const struct bsup_domain_member *m, char *key)
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", ((const struct bsup_health_observed *)m->obs)->lb_arn);
}

static int s_lb_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_health_observed *o = m->obs;
    const struct bsup_health_observed *prev = m->prev;
    if (!o->found || !o->lb_arn[0])
        return 0;
    if (prev && prev->found && strcmp(prev->lb_arn, o->lb_arn) == 0) {
        o->lb_read_at = prev->lb_read_at;
        memcpy(o->scheme, prev->scheme, sizeof(o->scheme));
        o->listeners_read_at = prev->listeners_read_at;
        memcpy(o->listeners, prev->listeners, sizeof(o->listeners));
        o->n_listeners = prev->n_listeners;
        o->attributes_read_at = prev->attributes_read_at;
        o->access_logs = prev->access_logs;
        o->deletion_protection = prev->deletion_protection;
    }
    s_lb_key(m, key);
    return s_posture_priority(m, o->lb_read_at);
}

static int s_lb_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    return s_add_keys(m, n, "LoadBalancerArns", s_lb_key, out);
}

static int s_lb_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                      struct bsup_diag *diag)
{
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_elb_load_balancer_page pg = {0};
        if (bsup_elb_load_balancer_page_parse(page, &pg)) {
            bsup_elb_load_balancer_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeLoadBalancers");
        }
        for (size_t k = 0; k < pg.n_load_balancers; k++) {
            const struct bsup_elb_load_balancer *lb = &pg.load_balancers[k];
            for (size_t i = 0; lb->arn && i < n; i++) {
                struct bsup_health_observed *o = s_obs(m[i]);
                if (strcmp(o->lb_arn, lb->arn) != 0)
                    continue;
                snprintf(o->scheme, sizeof(o->scheme), "%s", lb->scheme ? lb->scheme : "");
                o->lb_read_at = m[i]->now_s;
            }
        }
        bsup_elb_load_balancer_page_cleanup(&pg);
    }
    return 0;
}

static int s_listeners_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const struct bsup_health_observed *o = m->obs;
    if (!o->found || !o->lb_arn[0])
        return 0;
    s_lb_key(m, key);
    return s_posture_priority(m, o->listeners_read_at);
}

static int s_lb_arn_build(struct bsup_domain_member *const *m, size_t n,
                          struct bsup_aws_params *out)
{
    (void)n; /* one load balancer per call */
    return bsup_aws_params_add(out, "LoadBalancerArn", s_obs(m[0])->lb_arn);
}

static int s_listeners_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                             struct bsup_diag *diag)
{
    struct bsup_health_listener v[BSUP_HEALTH_MAX_LISTENERS];
    size_t nv = 0, pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_elb_listener_page pg = {0};
        if (bsup_elb_listener_page_parse(page, &pg)) {
            bsup_elb_listener_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeListeners");
        }
        for (size_t k = 0; k < pg.n_listeners && nv < BSUP_HEALTH_MAX_LISTENERS; k++) {
            const struct bsup_elb_listener *l = &pg.listeners[k];
            struct bsup_health_listener *x = &v[nv++];
            memset(x, 0, sizeof(*x));
            x->port = l->port;
            snprintf(x->protocol, sizeof(x->protocol), "%s", l->protocol ? l->protocol : "");
            snprintf(x->ssl_policy, sizeof(x->ssl_policy), "%s",
                     l->ssl_policy ? l->ssl_policy : "");
            if (l->n_default_actions) {
                /* The action that ends the chain (authenticate-* come first): the last by
                 * Order, or in the list when there is none. */
                const struct bsup_elb_action *a = &l->default_actions[0];
                for (size_t i = 1; i < l->n_default_actions; i++)
                    if (l->default_actions[i].order >= a->order)
                        a = &l->default_actions[i];
                snprintf(x->action, sizeof(x->action), "%s", a->type ? a->type : "");
                x->to_https = a->type && strcmp(a->type, "redirect") == 0 && a->redirect_protocol &&
                              strcmp(a->redirect_protocol, "HTTPS") == 0;
            }
        }
        bsup_elb_listener_page_cleanup(&pg);
    }
    for (size_t i = 0; i < n; i++) {
        struct bsup_health_observed *o = s_obs(m[i]);
        memcpy(o->listeners, v, nv * sizeof(v[0]));
        o->n_listeners = (int64_t)nv;
        o->listeners_read_at = m[i]->now_s;
    }
    return 0;
}

static int s_attributes_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const struct bsup_health_observed *o = m->obs;
    if (!o->found || !o->lb_arn[0])
        return 0;
    s_lb_key(m, key);
    return s_posture_priority(m, o->attributes_read_at);
}

static int s_attributes_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                              struct bsup_diag *diag)
{
    struct bsup_elb_lb_attributes at = {0};
    if (json_array_size(pages) == 0 ||
        bsup_elb_lb_attributes_parse(json_array_get(pages, 0), &at)) {
        bsup_elb_lb_attributes_cleanup(&at);
        return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeLoadBalancerAttributes");
    }
    bool logs = false, protect = false;
    for (size_t k = 0; k < at.n_attributes; k++) {
        const char *key = at.attributes[k].key, *value = at.attributes[k].value;
        bool on = value && strcmp(value, "true") == 0;
        if (key && strcmp(key, "access_logs.s3.enabled") == 0)
            logs = on;
        else if (key && strcmp(key, "deletion_protection.enabled") == 0)
            protect = on;
    }
    bsup_elb_lb_attributes_cleanup(&at);
    for (size_t i = 0; i < n; i++) {
        struct bsup_health_observed *o = s_obs(m[i]);
        o->access_logs = logs;
        o->deletion_protection = protect;
        o->attributes_read_at = m[i]->now_s;
    }
    return 0;
}

/* TLS policies never change: what a policy allows is learnt once (DescribeSSLPolicies) and
 * kept in the domain cache under "ssl|<name>" as its oldest protocol. */
static void s_policy_key(const char *policy, char *key)
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "ssl|%s", policy);
}

static bool s_needs_policy(const struct bsup_health_listener *l)
{
    return l->tls == BSUP_TLS_UNKNOWN && l->ssl_policy[0] &&
           (strcmp(l->protocol, "HTTPS") == 0 || strcmp(l->protocol, "TLS") == 0);
}

static void s_set_policy(struct bsup_health_observed *o, const char *policy, const char *oldest)
{
    for (int64_t i = 0; i < o->n_listeners; i++) {
        struct bsup_health_listener *l = &o->listeners[i];
        if (!s_needs_policy(l) || strcmp(l->ssl_policy, policy) != 0)
            continue;
        snprintf(l->oldest, sizeof(l->oldest), "%s", oldest);
        /* "TLSv1" and "TLSv1.1" are older than 1.2; "TLSv1.2", "TLSv1.3" are not. */
        l->tls = strcmp(oldest, "TLSv1") == 0 || strcmp(oldest, "TLSv1.1") == 0 ? BSUP_TLS_WEAK
                                                                                : BSUP_TLS_OK;
    }
}

/* The first listener's policy still unknown after the cache was asked, or NULL. */
static const char *s_unknown_policy(const struct bsup_health_observed *o)
{
    for (int64_t i = 0; i < o->n_listeners; i++)
        if (s_needs_policy(&o->listeners[i]))
            return o->listeners[i].ssl_policy;
    return NULL;
}

static int s_policy_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_health_observed *o = m->obs;
    char ck[BSUP_DOMAIN_KEY_MAX];
    for (int64_t i = 0; o->found && i < o->n_listeners; i++) {
        const struct bsup_health_listener *l = &o->listeners[i];
        if (!s_needs_policy(l))
            continue;
        s_policy_key(l->ssl_policy, ck);
        const char *oldest = bsup_domain_cache_get(m->cache, ck);
        if (oldest)
            s_set_policy(o, l->ssl_policy, oldest);
    }
    const char *policy = o->found ? s_unknown_policy(o) : NULL;
    if (!policy)
        return 0;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", policy);
    return 1;
}

static void s_policy_of(const struct bsup_domain_member *m, char *key)
{
    const char *p = s_unknown_policy(m->obs);
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", p ? p : "");
}

static int s_policy_build(struct bsup_domain_member *const *m, size_t n,
                          struct bsup_aws_params *out)
{
    return s_add_keys(m, n, "Names", s_policy_of, out);
}

/* Protocol names in age order; a name not listed counts as the newest. */
static int s_protocol_age(const char *p)
{
    static const char *const order[] = {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
    for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
        if (strcmp(p, order[i]) == 0)
            return i;
    return 100;
}

static int s_policy_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                          struct bsup_diag *diag)
{
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_elb_ssl_policy_page pg = {0};
        if (bsup_elb_ssl_policy_page_parse(page, &pg)) {
            bsup_elb_ssl_policy_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeSSLPolicies");
        }
        for (size_t k = 0; k < pg.n_policies; k++) {
            const struct bsup_elb_ssl_policy *p = &pg.policies[k];
            const char *oldest = NULL;
            for (size_t j = 0; j < p->n_ssl_protocols; j++)
                if (p->ssl_protocols[j] &&
                    (!oldest || s_protocol_age(p->ssl_protocols[j]) < s_protocol_age(oldest)))
                    oldest = p->ssl_protocols[j];
            if (!p->name || !oldest)
                continue;
            char ck[BSUP_DOMAIN_KEY_MAX];
            s_policy_key(p->name, ck);
            bsup_domain_cache_put(m[0]->cache, ck, oldest, false); /* a miss only costs a call */
            for (size_t i = 0; i < n; i++)
                s_set_policy(s_obs(m[i]), p->name, oldest);
        }
        bsup_elb_ssl_policy_page_cleanup(&pg);
    }
    return 0; /* a policy AWS does not know stays unknown: no finding either way */
}

/* Last: the posture findings counted for status (the plan lists them). No call. */
static int s_tally_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    (void)key;
    struct bsup_health_observed *o = m->obs;
    struct bsup_change found[16];
    o->findings =
        (int64_t)bsup_health_posture(m->desired, o, found, sizeof(found) / sizeof(found[0]));
    return 0;
}

/* ---- correction: ModifyTargetGroup ---- */

static int s_request(const struct bsup_service *desired, const void *obs,
                     const struct bsup_action *a, const char **out_action,
                     struct bsup_aws_params *out)
{
    const struct bsup_health_observed *o = obs;
    const struct bsup_health_check *hc = &desired->health_check;
    char num[4][32];
    s_num(num[0], sizeof(num[0]), hc->interval_s);
    s_num(num[1], sizeof(num[1]), hc->timeout_s);
    s_num(num[2], sizeof(num[2]), hc->healthy_threshold);
    s_num(num[3], sizeof(num[3]), hc->unhealthy_threshold);
    /* The values come from the drop-in, not the plan's text (a path may be longer than a
     * plan line holds). */
    const struct {
        const char *field, *value;
    } fields[] = {
        {"HealthCheckPath", hc->path},
        {"HealthCheckPort", hc->port},
        {"HealthCheckProtocol", s_protocol_name(hc->protocol)},
        {"HealthCheckIntervalSeconds", num[0]},
        {"HealthCheckTimeoutSeconds", num[1]},
        {"HealthyThresholdCount", num[2]},
        {"UnhealthyThresholdCount", num[3]},
        {"Matcher.HttpCode", hc->matcher},
        {"HealthCheckEnabled", "true"},
    };
    *out_action = "ModifyTargetGroup";
    int rc = bsup_aws_params_add(out, "TargetGroupArn", o->arn);
    for (size_t i = 0; rc == 0 && i < sizeof(fields) / sizeof(fields[0]); i++)
        if (bsup_action_find_change(a, fields[i].field))
            rc = bsup_aws_params_add(out, fields[i].field, fields[i].value);
    return rc;
}

static void s_applied(void *obs, const struct bsup_action *a)
{
    struct bsup_health_observed *o = obs;
    struct {
        const char *field;
        char *text;
        size_t len;
    } strs[] = {{"HealthCheckPort", o->port, sizeof(o->port)},
                {"HealthCheckProtocol", o->protocol, sizeof(o->protocol)},
                {"Matcher.HttpCode", o->matcher, sizeof(o->matcher)}};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const struct bsup_change *c = bsup_action_find_change(a, strs[i].field);
        if (c)
            snprintf(strs[i].text, strs[i].len, "%s", c->desired);
    }
    /* A path as long as a plan line may have been cut there: the next reading shows it. */
    const struct bsup_change *c = bsup_action_find_change(a, "HealthCheckPath");
    if (c && strlen(c->desired) + 1 < sizeof(c->desired))
        snprintf(o->path, sizeof(o->path), "%s", c->desired);
    struct {
        const char *field;
        int64_t *value;
    } nums[] = {{"HealthCheckIntervalSeconds", &o->interval_s},
                {"HealthCheckTimeoutSeconds", &o->timeout_s},
                {"HealthyThresholdCount", &o->healthy_threshold},
                {"UnhealthyThresholdCount", &o->unhealthy_threshold}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if ((c = bsup_action_find_change(a, nums[i].field)))
            *nums[i].value = strtoll(c->desired, NULL, 10);
    if (bsup_action_find_change(a, "HealthCheckEnabled"))
        o->enabled = true;
}

/* ---- the health domain's table entry ---- */

#define S_FIELD(json, ftype, member)                                                               \
    {                                                                                              \
        .name = json, .type = ftype, .offset = offsetof(struct bsup_health_observed, member)       \
    }

static const struct bsup_field s_fields[] = {
    S_FIELD("found", BSUP_FIELD_BOOL, found),
    S_FIELD("name", BSUP_FIELD_STRING, name),
    S_FIELD("path", BSUP_FIELD_STRING, path),
    S_FIELD("port", BSUP_FIELD_STRING, port),
    S_FIELD("protocol", BSUP_FIELD_STRING, protocol),
    S_FIELD("interval", BSUP_FIELD_INT64, interval_s),
    S_FIELD("timeout", BSUP_FIELD_INT64, timeout_s),
    S_FIELD("healthy_threshold", BSUP_FIELD_INT64, healthy_threshold),
    S_FIELD("unhealthy_threshold", BSUP_FIELD_INT64, unhealthy_threshold),
    S_FIELD("matcher", BSUP_FIELD_STRING, matcher),
    S_FIELD("vpc_id", BSUP_FIELD_STRING, vpc_id),
    S_FIELD("targets", BSUP_FIELD_INT64, targets),
    /* -1 until the first reading; the last reading's counts after (a datum each cycle). */
    {.name = "healthy",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_health_observed, healthy_hosts),
     .metric = "HealthyHostCount"},
    {.name = "unhealthy",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_health_observed, unhealthy_hosts),
     .metric = "UnhealthyHostCount"},
    S_FIELD("initial", BSUP_FIELD_INT64, counts[BSUP_TARGET_INITIAL]),
    S_FIELD("draining", BSUP_FIELD_INT64, counts[BSUP_TARGET_DRAINING]),
    S_FIELD("unused", BSUP_FIELD_INT64, counts[BSUP_TARGET_UNUSED]),
    S_FIELD("unavailable", BSUP_FIELD_INT64, counts[BSUP_TARGET_UNAVAILABLE]),
    S_FIELD("reasons", BSUP_FIELD_STRING, reasons),
    S_FIELD("health_read_at", BSUP_FIELD_INT64, health_read_at),
    S_FIELD("health_from_metrics", BSUP_FIELD_BOOL, health_from_metrics),
    S_FIELD("load_balancer", BSUP_FIELD_STRING, lb_name),
    S_FIELD("scheme", BSUP_FIELD_STRING, scheme),
    S_FIELD("posture_read_at", BSUP_FIELD_INT64, listeners_read_at),
    S_FIELD("findings", BSUP_FIELD_INT64, findings),
};

#undef S_FIELD

/* DescribeTargetGroups refuses a whole call over one unknown name; alone, it is absent. */
static const char *const s_tg_absent[] = {"TargetGroupNotFound", NULL};

static const struct bsup_observe_step s_steps[] = {
    {.service = "elbv2",
     .action = "DescribeTargetGroups",
     .batch_max = 20,
     .flags = BSUP_OBSERVE_ALL_PAGES,
     .absent_codes = s_tg_absent,
     .prepare = s_groups_prepare,
     .build = s_groups_build,
     .parse = s_groups_parse},
    /* A first reading from the load balancer's metrics, for groups with none (optional: a
     * failure only leaves their targets to be read). */
    {.service = "cloudwatch",
     .action = "GetMetricData",
     .batch_max = 250, /* 500 queries a call, two per group */
     .flags = BSUP_OBSERVE_OPTIONAL | BSUP_OBSERVE_NEEDS | BSUP_OBSERVE_WHOLE,
     .needs = 0x1,
     .prepare = s_metrics_prepare,
     .build = s_metrics_build,
     .parse = s_metrics_parse},
    /* Half the ELBv2 describe budget: one call per target group. */
    {.service = "elbv2",
     .action = "DescribeTargetHealth",
     .batch_max = 1,
     .budget_share = 0.5,
     .prepare = s_health_prepare,
     .build = s_health_build,
     .parse = s_health_parse},
    /* Posture is reported only: a failed read logs and keeps the last one. */
    {.service = "elbv2",
     .action = "DescribeLoadBalancers",
     .batch_max = 20,
     .flags = BSUP_OBSERVE_OPTIONAL,
     .budget_share = 0.1, /* in keys: 20 load balancers per call */
     .prepare = s_lb_prepare,
     .build = s_lb_build,
     .parse = s_lb_parse},
    {.service = "elbv2",
     .action = "DescribeListeners",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL,
     .budget_share = 0.05,
     .prepare = s_listeners_prepare,
     .build = s_lb_arn_build,
     .parse = s_listeners_parse},
    {.service = "elbv2",
     .action = "DescribeLoadBalancerAttributes",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_OPTIONAL,
     .budget_share = 0.05,
     .prepare = s_attributes_prepare,
     .build = s_lb_arn_build,
     .parse = s_attributes_parse},
    {.service = "elbv2",
     .action = "DescribeSSLPolicies",
     .batch_max = 20,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL,
     .budget_share = 0.02,
     .prepare = s_policy_prepare,
     .build = s_policy_build,
     .parse = s_policy_parse},
    {.service = "elbv2", .action = "DescribeTargetGroups", .prepare = s_tally_prepare},
};

static int s_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    return bsup_health_plan(desired, obs, plan);
}

/* The lines a paced read judges, while it has not come: the targets' (their health) and the
 * load balancer's posture (its scheme, listeners and attributes, each its own read). */
static bool s_unjudged(const struct bsup_service *desired, const void *obs, const char *resource,
                       const char *field)
{
    const struct bsup_health_observed *o = obs;
    char name[256], res[280];
    if (!o->found)
        return false;
    bsup_service_resource_name(desired, "target_group", name, sizeof(name));
    snprintf(res, sizeof(res), "targetgroup/%s", name);
    if (strcmp(resource, res) == 0)
        return !o->health_read_at &&
               (strcmp(field, "HealthyTargets") == 0 || strncmp(field, "Target ", 7) == 0);
    snprintf(res, sizeof(res), "loadbalancer/%s", o->lb_name);
    if (!o->lb_arn[0] || strcmp(resource, res) != 0)
        return false;
    if (strcmp(field, "Scheme") == 0)
        return !o->lb_read_at;
    if (strncmp(field, "Listener ", 9) == 0)
        return !o->listeners_read_at;
    return !o->attributes_read_at; /* access_logs.s3.enabled, deletion_protection.enabled */
}

const struct bsup_domain bsup_health_domain = {
    .name = "health",
    .resource = "target group",
    .obs_size = sizeof(struct bsup_health_observed),
    .found_offset = offsetof(struct bsup_health_observed, found),
    .fields = s_fields,
    .n_fields = sizeof(s_fields) / sizeof(s_fields[0]),
    .steps = s_steps,
    .n_steps = sizeof(s_steps) / sizeof(s_steps[0]),
    .after = (const char *const[]){"scaling", NULL},
    .plan = s_plan,
    .request = s_request,
    .mutate_service = "elbv2",
    .applied = s_applied,
    .unjudged = s_unjudged,
};

/* ---- the replacement domain: no call of its own ---- */

/* The damping, at observe time (it needs the cache): this cycle's health and scaling
 * observations and what was remembered give the new memory and the instances to mark. */
static int s_replace_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    (void)key;
    struct bsup_replace_observed *o = m->obs;
    const struct bsup_health_observed *h = bsup_domain_peer(m, &bsup_health_domain);
    const struct bsup_asg_observed *g = bsup_domain_peer(m, &bsup_scaling_domain);
    if (!h || !g || !h->found || !g->found)
        return 0; /* nothing to go on: the memory stays as it was */
    o->found = true;
    snprintf(o->group, sizeof(o->group), "%s", g->name);
    char ck[BSUP_DOMAIN_KEY_MAX];
    snprintf(ck, sizeof(ck), "memory|%s", m->desired->service_name);
    struct bsup_health_history before;
    bsup_health_history_parse(bsup_domain_cache_get(m->cache, ck), &before);
    /* Markings AWS accepted last cycle (applied) that the saved memory does not hold yet. */
    const struct bsup_replace_observed *prev = m->prev;
    for (size_t i = 0; prev && i < prev->history.n; i++) {
        const struct bsup_health_memory *e = &prev->history.v[i];
        if (!e->marked_at)
            continue;
        struct bsup_health_memory *x = NULL;
        for (size_t k = 0; k < before.n && !x; k++)
            if (strcmp(before.v[k].id, e->id) == 0)
                x = &before.v[k];
        if (!x && before.n < BSUP_HEALTH_MAX_TRACKED)
            x = &before.v[before.n++], *x = *e;
        if (x && !x->marked_at)
            x->marked_at = e->marked_at;
    }
    struct bsup_health_damp_in in = {.cfg = &m->desired->health_check,
                                     .now_s = m->now_s,
                                     .health = h,
                                     .group = g,
                                     .history = &before};
    bsup_health_damp(&in, o);
    bsup_health_history_format(&o->history, o->remembered, sizeof(o->remembered));
    if (o->remembered[0] || bsup_domain_cache_get(m->cache, ck))
        bsup_domain_cache_put(m->cache, ck, o->remembered, false); /* full: the memory is lost */
    return 0;
}

static int s_replace_request(const struct bsup_service *desired, const void *obs,
                             const struct bsup_action *a, const char **out_action,
                             struct bsup_aws_params *out)
{
    (void)desired, (void)obs;
    const char *id = strrchr(a->resource, '/');
    *out_action = "SetInstanceHealth";
    int rc = bsup_aws_params_add(out, "InstanceId", id ? id + 1 : a->resource);
    if (rc == 0)
        rc = bsup_aws_params_add(out, "HealthStatus", "Unhealthy");
    return rc ? rc : bsup_aws_params_add(out, "ShouldRespectGracePeriod", "true");
}

static void s_replace_applied(void *obs, const struct bsup_action *a)
{
    struct bsup_replace_observed *o = obs;
    const char *id = strrchr(a->resource, '/');
    id = id ? id + 1 : a->resource;
    struct bsup_health_history *h = &o->history;
    struct bsup_health_memory *x = NULL;
    for (size_t k = 0; k < h->n && !x; k++)
        if (strcmp(h->v[k].id, id) == 0)
            x = &h->v[k];
    if (!x && h->n < BSUP_HEALTH_MAX_TRACKED) {
        x = &h->v[h->n++];
        memset(x, 0, sizeof(*x));
        snprintf(x->id, sizeof(x->id), "%.23s", id);
    }
    if (x && !x->marked_at) {
        x->marked_at = o->observed_at;
        o->marked++;
        o->in_progress++;
    }
    bsup_health_history_format(h, o->remembered, sizeof(o->remembered));
}

#define S_RFIELD(json, ftype, member)                                                              \
    {                                                                                              \
        .name = json, .type = ftype, .offset = offsetof(struct bsup_replace_observed, member)      \
    }

static const struct bsup_field s_replace_fields[] = {
    S_RFIELD("found", BSUP_FIELD_BOOL, found),
    S_RFIELD("enabled", BSUP_FIELD_BOOL, enabled),
    S_RFIELD("group_size", BSUP_FIELD_INT64, group_size),
    S_RFIELD("at_once", BSUP_FIELD_INT64, cap),
    S_RFIELD("counting", BSUP_FIELD_INT64, counting),
    S_RFIELD("in_progress", BSUP_FIELD_INT64, in_progress),
    S_RFIELD("marked", BSUP_FIELD_INT64, marked),
    S_RFIELD("to_mark", BSUP_FIELD_INT64, n_candidates),
    S_RFIELD("waiting", BSUP_FIELD_STRING, waiting),
    S_RFIELD("memory", BSUP_FIELD_STRING, remembered),
};

#undef S_RFIELD

static const struct bsup_observe_step s_replace_steps[] = {
    {.service = "autoscaling", .action = "DescribeAutoScalingGroups", .prepare = s_replace_prepare},
};

static int s_replace_plan_fn(const struct bsup_service *desired, const void *obs,
                             struct bsup_plan *plan)
{
    return bsup_replace_plan(desired, obs, plan);
}

const struct bsup_domain bsup_replace_domain = {
    .name = "replacement",
    .resource = "Auto Scaling instance",
    .obs_size = sizeof(struct bsup_replace_observed),
    .found_offset = offsetof(struct bsup_replace_observed, found),
    .fields = s_replace_fields,
    .n_fields = sizeof(s_replace_fields) / sizeof(s_replace_fields[0]),
    .steps = s_replace_steps,
    .n_steps = sizeof(s_replace_steps) / sizeof(s_replace_steps[0]),
    .after = (const char *const[]){"health", NULL},
    .plan = s_replace_plan_fn,
    .request = s_replace_request,
    .mutate_service = "autoscaling",
    .applied = s_replace_applied,
};
