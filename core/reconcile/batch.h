/* How one observe step's work is cut into calls: the members that need it, each under a key
 * (members with equal keys share one slot of a call: a "unit"), at most batch_max units per
 * call, and — for a paced step — only the `allowance` units of highest priority this time.
 * Pure: the engine turns the result into AWS calls. */
#ifndef BSUP_CORE_RECONCILE_BATCH_H
#define BSUP_CORE_RECONCILE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bsup_batch_item {
    const char *key;
    int priority; /* > 0; higher goes first when the step is paced */
    size_t index; /* the caller's: which member */
};

struct bsup_batch_plan {
    size_t n_items;   /* items kept: items[0..n_items), in call and unit order */
    size_t *unit_end; /* unit u holds items [u ? unit_end[u-1] : 0, unit_end[u]) */
    size_t n_units;
    size_t *call_end; /* call c holds units [c ? call_end[c-1] : 0, call_end[c]) */
    size_t n_calls;
};

/* Reorders items and fills out. allowance 0: every unit. 0 or BSUP_ENOMEM. */
int bsup_batch_plan_make(struct bsup_batch_item *items, size_t n, size_t batch_max,
                         size_t allowance, struct bsup_batch_plan *out);
void bsup_batch_plan_cleanup(struct bsup_batch_plan *plan);

/* A paced step's allowance across batches: keys to read accrue at rate_per_s up to cap (one
 * interval's worth), full at first use, so the step keeps its budget share per interval
 * however many batches the interval holds. Zero-initialised is unused. */
struct bsup_pace {
    double keys;
    uint64_t at_ms;
    bool primed;
};

/* The whole keys a batch starting at now_ms may read (0: none until more accrue). */
size_t bsup_pace_allowance(struct bsup_pace *p, double rate_per_s, double cap, uint64_t now_ms);
/* Takes used keys (what the batch actually read) from the allowance. */
void bsup_pace_spend(struct bsup_pace *p, size_t used);

#endif
