#include "core/reconcile/plan.h"

#include "core/base/error.h"

#include <stdarg.h>
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

int bsup_plan_pack(const struct bsup_plan *plan, struct bsup_pack **out)
{
    *out =
        plan->n_actions ? bsup_pack(plan->actions, plan->n_actions * sizeof(*plan->actions)) : NULL;
    return plan->n_actions && !*out ? BSUP_ENOMEM : 0;
}

int bsup_plan_unpack(const struct bsup_pack *pk, struct bsup_plan *out)
{
    bsup_plan_init(out);
    if (!pk)
        return 0;
    size_t n = pk->size / sizeof(*out->actions);
    if (!(out->actions = malloc(n * sizeof(*out->actions))))
        return BSUP_ENOMEM;
    bsup_unpack(pk, out->actions);
    out->n_actions = out->cap_actions = n;
    return 0;
}

struct bsup_action *bsup_plan_add(struct bsup_plan *plan, enum bsup_action_kind kind,
                                  const char *resource)
{
    if (plan->n_actions == plan->cap_actions) {
        size_t cap = plan->cap_actions ? plan->cap_actions * 2 : 2;
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
    return a;
}

int64_t bsup_action_desired_sig(const struct bsup_action *a)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < a->n_changes; i++)
        for (int part = 0; part < 2; part++) {
            const char *t = part ? a->changes[i].desired : a->changes[i].field;
            for (size_t k = 0, n = strlen(t); k <= n; k++) /* the NUL too: "ab","c" != "a","bc" */
                h = (h ^ (unsigned char)t[k]) * 1099511628211ull;
        }
    return (int64_t)(h & INT64_MAX) ? (int64_t)(h & INT64_MAX) : 1;
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
    c->reason = reason;
}

const struct bsup_change *bsup_action_find_change(const struct bsup_action *a, const char *field)
{
    for (size_t i = 0; i < a->n_changes; i++)
        if (strcmp(a->changes[i].field, field) == 0)
            return &a->changes[i];
    return NULL;
}

void bsup_action_hold(struct bsup_action *a, enum bsup_hold reason, const char *fmt, ...)
{
    va_list ap;
    a->hold = reason;
    va_start(ap, fmt);
    vsnprintf(a->held_reason, sizeof(a->held_reason), fmt, ap);
    va_end(ap);
}

bool bsup_plan_has_drift(const struct bsup_plan *plan)
{
    for (size_t i = 0; i < plan->n_actions; i++)
        if (!plan->actions[i].owned)
            return true;
    return false;
}

enum bsup_state bsup_plan_state(const struct bsup_plan *plan, bool failed, bool applied_ok)
{
    if (failed)
        return BSUP_STATE_ERROR;
    bool update = false, held = false, report = false, fighting = false, missing = false,
         degraded = false;
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct bsup_action *a = &plan->actions[i];
        if (a->owned)
            continue;
        missing |= a->kind == BSUP_ACTION_MISSING;
        degraded |= a->kind == BSUP_ACTION_DEGRADED;
        report |= a->kind == BSUP_ACTION_REPORT;
        if (bsup_action_kind_mutating(a->kind)) {
            update = true;
            held |= a->hold != BSUP_HOLD_NONE;
            fighting |= a->hold == BSUP_HOLD_FIGHTING;
        }
    }
    if (missing)
        return BSUP_STATE_MISSING;
    if (degraded)
        return BSUP_STATE_DEGRADED;
    if (fighting)
        return BSUP_STATE_FIGHTING;
    if (update && applied_ok && !held)
        return report ? BSUP_STATE_DRIFT : BSUP_STATE_CORRECTED;
    if (held)
        return BSUP_STATE_HELD;
    if (update || report)
        return BSUP_STATE_DRIFT;
    return BSUP_STATE_OK;
}

json_t *bsup_plan_json(const struct bsup_plan *plan)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < plan->n_actions; i++) {
        const struct bsup_action *a = &plan->actions[i];
        json_t *changes = json_array();
        for (size_t j = 0; changes && j < a->n_changes; j++) {
            const struct bsup_change *c = &a->changes[j];
            if (json_array_append_new(changes, json_pack("{s:s,s:s,s:s,s:s}", "field", c->field,
                                                         "observed", c->observed, "desired",
                                                         c->desired, "reason", c->reason))) {
                json_decref(changes);
                changes = NULL;
            }
        }
        bool held = a->hold != BSUP_HOLD_NONE;
        json_t *o = changes
                        ? json_pack("{s:s,s:s,s:o,s:b}", "action", bsup_action_kind_name(a->kind),
                                    "resource", a->resource, "changes", changes, "held", held)
                        : NULL;
        if (o && ((a->owned && json_object_set_new(o, "owned", json_true())) ||
                  (a->applied && json_object_set_new(o, "applied", json_true())))) {
            json_decref(o);
            o = NULL;
        }
        if (o && held &&
            (json_object_set_new(o, "held_reason", json_string(a->held_reason)) ||
             json_object_set_new(o, "held_by", json_string(bsup_hold_name(a->hold))))) {
            json_decref(o);
            o = NULL;
        }
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

int bsup_plan_findings_from_json(const json_t *plan_json, struct bsup_plan *out)
{
    size_t i;
    const json_t *a;
    json_array_foreach(plan_json, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "action"));
        const char *resource = json_string_value(json_object_get(a, "resource"));
        int kind = name ? bsup_action_kind_from_name(name) : -1;
        if (!resource || (kind != BSUP_ACTION_FINDING && kind != BSUP_ACTION_DEGRADED &&
                          kind != BSUP_ACTION_MISSING))
            continue;
        struct bsup_action *x = bsup_plan_add(out, (enum bsup_action_kind)kind, resource);
        if (!x)
            return BSUP_ENOMEM;
        size_t j;
        const json_t *c;
        json_array_foreach(json_object_get(a, "changes"), j, c)
        {
            const char *field = json_string_value(json_object_get(c, "field"));
            const char *observed = json_string_value(json_object_get(c, "observed"));
            const char *desired = json_string_value(json_object_get(c, "desired"));
            if (field)
                bsup_action_change(x, field, observed ? observed : "", desired ? desired : "", "");
        }
    }
    return 0;
}
