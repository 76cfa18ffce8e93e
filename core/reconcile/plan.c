#include "core/reconcile/plan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bsup_plan_init(struct bsup_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
}

void bsup_plan_cleanup(struct bsup_plan *plan)
{
    if (!plan)
        return;
    free(plan->actions);
    memset(plan, 0, sizeof(*plan));
}

struct bsup_action *bsup_plan_add(struct bsup_plan *plan, int kind, const char *resource)
{
    if (plan->n_actions == plan->cap_actions) {
        size_t cap = plan->cap_actions ? plan->cap_actions * 2 : 4;
        struct bsup_action *v = realloc(plan->actions, cap * sizeof(*v));
        if (!v)
            return NULL;
        plan->actions = v;
        plan->cap_actions = cap;
    }
    struct bsup_action *a = &plan->actions[plan->n_actions++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    snprintf(a->resource, sizeof(a->resource), "%s", resource);
    a->min_size = a->max_size = a->desired_capacity = a->health_check_grace_s = -1;
    return a;
}

void bsup_action_change(struct bsup_action *a, const char *field, const char *observed,
                        const char *desired, const char *reason)
{
    if (a->n_changes >= BSUP_PLAN_MAX_CHANGES)
        return;
    struct bsup_change *c = &a->changes[a->n_changes++];
    snprintf(c->field, sizeof(c->field), "%s", field);
    snprintf(c->observed, sizeof(c->observed), "%s", observed);
    snprintf(c->desired, sizeof(c->desired), "%s", desired);
    snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

const char *bsup_action_kind_name(int kind)
{
    static const char *const names[] = {"update", "report", "missing"};
    return kind >= 0 && kind <= BSUP_ACTION_MISSING ? names[kind] : "?";
}

bool bsup_plan_has_drift(const struct bsup_plan *plan)
{
    return plan->n_actions > 0;
}

char *bsup_plan_to_json(const struct bsup_plan *plan)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < plan->n_actions; i++) {
        const struct bsup_action *a = &plan->actions[i];
        json_t *changes = json_array();
        for (size_t j = 0; changes && j < a->n_changes; j++) {
            const struct bsup_change *c = &a->changes[j];
            json_array_append_new(changes, json_pack("{s:s,s:s,s:s,s:s}", "field", c->field,
                                                     "observed", c->observed, "desired", c->desired,
                                                     "reason", c->reason));
        }
        json_t *o =
            json_pack("{s:s,s:s,s:o,s:b}", "action", bsup_action_kind_name(a->kind), "resource",
                      a->resource, "changes", changes ? changes : json_array(), "held", a->held);
        if (o && a->held)
            json_object_set_new(o, "held_reason", json_string(a->held_reason));
        json_array_append_new(arr, o);
    }
    char *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return out;
}
