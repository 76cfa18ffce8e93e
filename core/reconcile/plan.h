/* A plan: the typed actions a reconciler wants, each with the fields it would change (observed,
 * desired, why), whether bsupd may apply it, and why not when a safety rail holds it back. */
#ifndef BSUP_CORE_RECONCILE_PLAN_H
#define BSUP_CORE_RECONCILE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BSUP_PLAN_MAX_CHANGES 8

enum bsup_action_kind {
    BSUP_ACTION_UPDATE_ASG, /* autoscaling:UpdateAutoScalingGroup with the changed fields */
    BSUP_ACTION_REPORT,     /* drift bsupd reports and never corrects (e.g. subnets) */
    BSUP_ACTION_MISSING,    /* the resource does not exist: an error, never created */
};

struct bsup_change {
    char field[40];     /* AWS name: "MaxSize" */
    char observed[128]; /* as text */
    char desired[128];
    char reason[160];
};

struct bsup_action {
    int kind;           /* enum bsup_action_kind */
    char resource[280]; /* "autoscaling-group/api-service-prod" */
    struct bsup_change changes[BSUP_PLAN_MAX_CHANGES];
    size_t n_changes;
    /* Held back by a safety rail (cooldown, cap, fight, scale-in guard): reported, not applied. */
    bool held;
    char held_reason[200];
    /* UPDATE_ASG parameters; -1 or "" = leave as is. */
    int64_t min_size;
    int64_t max_size;
    int64_t desired_capacity;
    char health_check_type[8];
    int64_t health_check_grace_s;
};

struct bsup_plan {
    struct bsup_action *actions;
    size_t n_actions;
    size_t cap_actions;
};

void bsup_plan_init(struct bsup_plan *plan);
void bsup_plan_cleanup(struct bsup_plan *plan);
/* Appends a zeroed action of kind for resource; NULL on BSUP_ENOMEM. */
struct bsup_action *bsup_plan_add(struct bsup_plan *plan, int kind, const char *resource);
/* Adds a change line to an action (silently capped at BSUP_PLAN_MAX_CHANGES). */
void bsup_action_change(struct bsup_action *a, const char *field, const char *observed,
                        const char *desired, const char *reason);
/* "update", "report", "missing". */
const char *bsup_action_kind_name(int kind);
/* Whether any action is a drift or error (something an operator should look at). */
bool bsup_plan_has_drift(const struct bsup_plan *plan);
/* The plan as a JSON array (documented in docs/control-protocol.md); caller frees. */
char *bsup_plan_to_json(const struct bsup_plan *plan);

#endif
