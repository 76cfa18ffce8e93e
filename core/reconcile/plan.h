/* A plan: the typed actions a domain wants for one service, each with the fields it would
 * change (observed, desired, why), whether bsupd may apply it, and why not when a safety rail
 * holds it back. Actions carry no domain fields: the domain that planned an action turns it
 * into request parameters (struct bsup_domain's request). */
#ifndef BSUP_CORE_RECONCILE_PLAN_H
#define BSUP_CORE_RECONCILE_PLAN_H

#include "core/base/pack.h"
#include "core/reconcile/state.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BSUP_PLAN_MAX_CHANGES 8

struct bsup_change {
    char field[40];     /* AWS name: "MaxSize" */
    char observed[128]; /* as text */
    char desired[128];
    const char *reason; /* static: the domain's words for why */
};

struct bsup_action {
    enum bsup_action_kind kind;
    unsigned domain; /* index of the domain that planned it (set by the engine) */
    /* Of an owned domain (bsupd's own alarms; set by the engine): shown in the plan, applied
     * in enforce mode, but neither drift nor a state of the service. */
    bool owned;
    /* Cleans up what bsupd itself made moments ago (a restore drill's instance): the cooldown,
     * which damps changes to one resource, does not hold it, nor does an unknown outcome (the
     * cycle has seen what the lost call made). Set by the domain. */
    bool cleanup;
    /* AWS accepted it in the cycle that planned it (set by the engine): the plan shows it done,
     * not pending. */
    bool applied;
    char resource[280]; /* "autoscaling-group/api-service-prod" */
    struct bsup_change changes[BSUP_PLAN_MAX_CHANGES];
    size_t n_changes;
    /* Held back by a safety rail: reported, not applied; held_reason says it in words. */
    enum bsup_hold hold;
    char held_reason[200];
};

struct bsup_plan {
    struct bsup_action *actions;
    size_t n_actions;
    size_t cap_actions;
};

void bsup_plan_init(struct bsup_plan *plan);
void bsup_plan_cleanup(struct bsup_plan *plan);
/* The plan's actions packed (core/base/pack.h), as the engine keeps a service's last plan:
 * *out is NULL for a plan without actions. 0 or BSUP_ENOMEM. */
int bsup_plan_pack(const struct bsup_plan *plan, struct bsup_pack **out);
/* The plan packed in pk (NULL: none) into out, which is initialised. 0 or BSUP_ENOMEM. */
int bsup_plan_unpack(const struct bsup_pack *pk, struct bsup_plan *out);
/* Appends a zeroed action of kind for resource; NULL on BSUP_ENOMEM. */
struct bsup_action *bsup_plan_add(struct bsup_plan *plan, enum bsup_action_kind kind,
                                  const char *resource);
/* Adds a change line to an action (silently capped at BSUP_PLAN_MAX_CHANGES); reason must be a
 * string with static storage (a literal). */
void bsup_action_change(struct bsup_action *a, const char *field, const char *observed,
                        const char *desired, const char *reason);
/* What the action would set (its fields and desired values) as a nonzero 64-bit fingerprint:
 * the same drift coming back has the same one; a new desired value another. */
int64_t bsup_action_desired_sig(const struct bsup_action *a);
/* The change of field, or NULL. */
const struct bsup_change *bsup_action_find_change(const struct bsup_action *a, const char *field);
/* Holds an action back for reason, with a printf-formatted explanation. */
void bsup_action_hold(struct bsup_action *a, enum bsup_hold reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether any action but an owned one is a drift or error (something an operator should look
 * at). */
bool bsup_plan_has_drift(const struct bsup_plan *plan);
/* The state a service is in after a cycle that produced plan (owned actions aside): failed
 * (observation, planning or a change failed), applied_ok (at least one change of the service's
 * went through). */
enum bsup_state bsup_plan_state(const struct bsup_plan *plan, bool failed, bool applied_ok);
/* The plan as a JSON array (documented in docs/control-protocol.md); NULL on BSUP_ENOMEM. */
json_t *bsup_plan_json(const struct bsup_plan *plan);
/* The finding, degraded and missing actions (resource, field, observed, desired) of a plan in
 * bsup_plan_json's form, appended to out (reasons are not kept: ""). What a stored observation
 * says was found, so a new process tells what appeared or cleared since, and keeps what it
 * has not read again. Skips what it cannot read. 0 or BSUP_ENOMEM. */
int bsup_plan_findings_from_json(const json_t *plan_json, struct bsup_plan *out);

#endif
