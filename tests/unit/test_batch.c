/* How an observe step's work is cut into calls: keys shared, batch_max per call, and the
 * highest-priority units first when the step is paced. */
#include "tests/lib/testlib.h"

#include "core/reconcile/batch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Renders a plan as "call|call", each call "unit,unit", each unit "key:index+index". */
static void s_render(const struct bsup_batch_item *items, const struct bsup_batch_plan *p,
                     char *out, size_t len)
{
    out[0] = 0;
    size_t unit = 0;
    for (size_t c = 0; c < p->n_calls; c++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s", c ? "|" : "");
        for (bool first = true; unit < p->call_end[c]; unit++, first = false) {
            size_t start = unit ? p->unit_end[unit - 1] : 0;
            used = strlen(out);
            snprintf(out + used, len - used, "%s%s:", first ? "" : ",", items[start].key);
            for (size_t i = start; i < p->unit_end[unit]; i++) {
                used = strlen(out);
                snprintf(out + used, len - used, "%s%zu", i > start ? "+" : "", items[i].index);
            }
        }
    }
}

static void test_table(void **state)
{
    (void)state;
    struct {
        const char *keys;       /* one letter per member, in member order */
        const char *priorities; /* one digit per member */
        size_t batch_max, allowance;
        const char *want;
    } rows[] = {
        {"", "", 2, 0, ""},
        {"abc", "111", 2, 0, "a:0,b:1|c:2"},
        {"cba", "111", 5, 0, "a:2,b:1,c:0"},
        {"abab", "1111", 2, 0, "a:0+2,b:1+3"}, /* equal keys share a slot */
        {"abcde", "11111", 1, 0, "a:0|b:1|c:2|d:3|e:4"},
        {"abcde", "13121", 2, 2, "b:1,d:3"},     /* paced: the two most urgent */
        {"abcde", "11111", 2, 3, "a:0,b:1|c:2"}, /* equal priority: key order */
        {"aabc", "1129", 10, 1, "c:3"},
        {"aabc", "2911", 10, 1, "a:0+1"},    /* a unit takes its most urgent member */
        {"abc", "111", 2, 5, "a:0,b:1|c:2"}, /* allowance beyond the work */
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct bsup_batch_item items[16];
        char keys[16][2];
        size_t n = strlen(rows[r].keys);
        for (size_t i = 0; i < n; i++) {
            keys[i][0] = rows[r].keys[i];
            keys[i][1] = 0;
            items[i] = (struct bsup_batch_item){keys[i], rows[r].priorities[i] - '0', i};
        }
        struct bsup_batch_plan p;
        assert_int_equal(bsup_batch_plan_make(items, n, rows[r].batch_max, rows[r].allowance, &p),
                         0);
        char got[256];
        s_render(items, &p, got, sizeof(got));
        if (strcmp(got, rows[r].want) != 0)
            fail_msg("row %zu: got %s, want %s", r, got, rows[r].want);
        bsup_batch_plan_cleanup(&p);
    }
}

/* A paced step's allowance: full at first use, spent across batches, accruing at its rate up
 * to one interval's worth. */
static void test_pace(void **state)
{
    (void)state;
    struct {
        uint64_t at_ms;
        size_t used; /* what the batch reads of what it was allowed */
        size_t want; /* the allowance at at_ms */
    } steps[] = {
        {1000, 2, 2},  /* full at first use: cap 2.5 keys */
        {1100, 0, 0},  /* 0.5 + 0.1 s of 1 key/s: not a whole key */
        {1500, 1, 1},  /* 0.5 + 0.5 */
        {2000, 0, 0},  /* 0.5 */
        {9000, 2, 2},  /* capped at 2.5 */
        {9000, 0, 0},  /* same instant: 0.5 */
        {8000, 0, 0},  /* a clock that goes back accrues nothing */
        {10600, 2, 2}, /* 0.5 + 1.6 */
    };
    struct bsup_pace p = {0};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        size_t got = bsup_pace_allowance(&p, 1.0, 2.5, steps[i].at_ms);
        if (got != steps[i].want)
            fail_msg("step %zu: allowance %zu, want %zu", i, got, steps[i].want);
        bsup_pace_spend(&p, steps[i].used);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table), cmocka_unit_test(test_pace)};
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
