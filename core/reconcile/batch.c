#include "core/reconcile/batch.h"

#include "core/base/error.h"

#include <stdlib.h>
#include <string.h>

static int s_by_key(const void *a, const void *b)
{
    const struct bsup_batch_item *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

struct s_unit {
    size_t start, end;
    int priority;
};

static int s_by_priority(const void *a, const void *b)
{
    const struct s_unit *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start); /* then by key, stably */
}

static int s_by_start(const void *a, const void *b)
{
    const struct s_unit *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

void bsup_batch_plan_cleanup(struct bsup_batch_plan *plan)
{
    free(plan->unit_end);
    free(plan->call_end);
    memset(plan, 0, sizeof(*plan));
}

int bsup_batch_plan_make(struct bsup_batch_item *items, size_t n, size_t batch_max,
                         size_t allowance, struct bsup_batch_plan *out)
{
    memset(out, 0, sizeof(*out));
    if (batch_max == 0)
        batch_max = 1;
    qsort(items, n, sizeof(*items), s_by_key);
    struct s_unit *u = calloc(n ? n : 1, sizeof(*u));
    struct bsup_batch_item *kept = calloc(n ? n : 1, sizeof(*kept));
    out->unit_end = calloc(n ? n : 1, sizeof(*out->unit_end));
    out->call_end = calloc(n ? n : 1, sizeof(*out->call_end));
    if (!u || !kept || !out->unit_end || !out->call_end) {
        free(u);
        free(kept);
        bsup_batch_plan_cleanup(out);
        return BSUP_ENOMEM;
    }
    size_t nu = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int p = 0;
        while (j < n && strcmp(items[j].key, items[i].key) == 0) {
            p = items[j].priority > p ? items[j].priority : p;
            j++;
        }
        u[nu++] = (struct s_unit){i, j, p};
        i = j;
    }
    if (allowance && allowance < nu) {
        qsort(u, nu, sizeof(*u), s_by_priority);
        nu = allowance;
        qsort(u, nu, sizeof(*u), s_by_start); /* back in key order */
    }
    for (size_t k = 0; k < nu; k++) {
        for (size_t i = u[k].start; i < u[k].end; i++)
            kept[out->n_items++] = items[i];
        out->unit_end[k] = out->n_items;
        if ((k + 1) % batch_max == 0 || k + 1 == nu)
            out->call_end[out->n_calls++] = k + 1;
    }
    out->n_units = nu;
    memcpy(items, kept, out->n_items * sizeof(*items));
    free(u);
    free(kept);
    return 0;
}

size_t bsup_pace_allowance(struct bsup_pace *p, double rate_per_s, double cap, uint64_t now_ms)
{
    if (!p->primed) {
        p->primed = true;
        p->keys = cap;
    } else if (now_ms > p->at_ms) {
        p->keys += rate_per_s * (double)(now_ms - p->at_ms) / 1000.0;
    }
    if (p->keys > cap)
        p->keys = cap;
    p->at_ms = now_ms > p->at_ms ? now_ms : p->at_ms;
    return p->keys >= 1 ? (size_t)p->keys : 0;
}

void bsup_pace_spend(struct bsup_pace *p, size_t used)
{
    p->keys -= (double)used;
}
