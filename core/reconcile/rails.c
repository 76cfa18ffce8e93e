#include "core/reconcile/rails.h"

#include <stdio.h>

bool bsup_rails_observe(const struct bsup_rails_config *cfg, struct bsup_resource_memory *mem,
                        bool drift, int64_t desired_sig)
{
    bool new_desired = desired_sig && mem->desired_sig && desired_sig != mem->desired_sig;
    if (!drift || new_desired) {
        /* Converged (or the other party gave up), or the operator asks for something else:
         * forget the fight. The corrections so far held, or were of another value: none of
         * them is one the drift came back after. */
        mem->corrections_in_a_row = 0;
        mem->counted_changes = mem->changes;
        mem->fighting = false;
        return false;
    }
    if (mem->changes == 0 || mem->changes == mem->counted_changes)
        return false; /* no new correction since: drift it never corrected is not a fight */
    mem->counted_changes = mem->changes;
    mem->corrections_in_a_row++;
    if (!mem->fighting && mem->corrections_in_a_row >= cfg->fight_threshold) {
        mem->fighting = true;
        return true;
    }
    return false;
}

void bsup_rails_gate(const struct bsup_rails_config *cfg, const struct bsup_resource_memory *mem,
                     struct bsup_action *a, int64_t now_s, int *budget_cycle, int *budget_service)
{
    if (!bsup_action_kind_mutating(a->kind) || a->hold != BSUP_HOLD_NONE)
        return;
    if (mem->fighting) {
        bsup_action_hold(
            a, BSUP_HOLD_FIGHTING,
            "fighting: the same drift came back after %d corrections in a row by bsupd; "
            "something else changes this resource",
            mem->corrections_in_a_row);
        return;
    }
    if (!a->cleanup && mem->last_change_s && now_s - mem->last_change_s < cfg->cooldown_s) {
        bsup_action_hold(a, BSUP_HOLD_COOLDOWN,
                         "cooldown: changed %llds ago; next change allowed in %llds",
                         (long long)(now_s - mem->last_change_s),
                         (long long)(cfg->cooldown_s - (now_s - mem->last_change_s)));
        return;
    }
    if (!a->cleanup && mem->unknown_since_s && now_s - mem->unknown_since_s < cfg->cooldown_s) {
        bsup_action_hold(a, BSUP_HOLD_UNKNOWN_OUTCOME,
                         "unknown outcome: a change started %llds ago never reported back; "
                         "next change allowed in %llds",
                         (long long)(now_s - mem->unknown_since_s),
                         (long long)(cfg->cooldown_s - (now_s - mem->unknown_since_s)));
        return;
    }
    if (*budget_service <= 0) {
        bsup_action_hold(a, BSUP_HOLD_CAP_SERVICE, "cap: at most %d changes per service per cycle",
                         cfg->max_mutations_per_service);
        return;
    }
    if (*budget_cycle <= 0) {
        bsup_action_hold(a, BSUP_HOLD_CAP_CYCLE,
                         "cap: at most %d changes per cycle across all services",
                         cfg->max_mutations_per_cycle);
        return;
    }
    (*budget_cycle)--;
    (*budget_service)--;
}
