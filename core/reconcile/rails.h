/* Safety rails applied to a plan before anything is changed: caps on mutating calls per cycle
 * (globally and per service), a cooldown before the same resource is changed again, and fight
 * detection — when the same drift comes back cycle after cycle after being corrected, someone
 * else is changing it too; bsupd stops correcting and says so. */
#ifndef BSUP_CORE_RECONCILE_RAILS_H
#define BSUP_CORE_RECONCILE_RAILS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/reconcile/plan.h"

struct bsup_rails_config {
    int max_mutations_per_cycle;   /* all services together */
    int max_mutations_per_service; /* one service, one cycle */
    int64_t cooldown_s;            /* same resource changed again no sooner than this */
    int fight_threshold;           /* corrections in a row before a resource is "fighting" */
};

#define BSUP_RAILS_DEFAULTS                                                                        \
    ((struct bsup_rails_config){.max_mutations_per_cycle = 20,                                     \
                                .max_mutations_per_service = 3,                                    \
                                .cooldown_s = 120,                                                 \
                                .fight_threshold = 3})

/* What bsupd remembers of a resource between cycles (kept in the store). */
struct bsup_resource_memory {
    int64_t last_change_s;    /* when bsupd last changed it successfully; 0 never */
    int64_t changes;          /* successful changes bsupd made to it, ever */
    int64_t counted_changes;  /* the value of changes the streak below last counted */
    int corrections_in_a_row; /* corrections in a row after which the drift came back */
    bool fighting;
    int64_t desired_sig; /* bsup_action_desired_sig of bsupd's last change to it; 0 unknown */
    /* From the journal: when a change to it started whose outcome is unknown (bsupd died
     * during the call); 0 none. Such a change may have landed: it counts for the cooldown. */
    int64_t unknown_since_s;
};

/* Updates a resource's memory with an enforce-mode cycle's observation: drift is whether the
 * plan found drift to correct on it, desired_sig what the correction would set
 * (bsup_action_desired_sig; 0 unknown). Drift that comes back after a correction bsupd made
 * counts once per correction; a cycle without drift clears the streak (the corrections before
 * it held: the next drift's streak starts at bsupd's next correction), and so does a desired
 * value other than the last one bsupd set (the operator changed the drop-in: not the same drift
 * coming back). Returns true when the resource has just become "fighting". */
bool bsup_rails_observe(const struct bsup_rails_config *cfg, struct bsup_resource_memory *mem,
                        bool drift, int64_t desired_sig);
/* Decides whether a mutating action may run now; when not, marks it held with the reason.
 * *budget_cycle and *budget_service are decremented for actions that may run. */
void bsup_rails_gate(const struct bsup_rails_config *cfg, const struct bsup_resource_memory *mem,
                     struct bsup_action *action, int64_t now_s, int *budget_cycle,
                     int *budget_service);

#endif
