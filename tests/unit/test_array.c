/* Array growth: capacities chosen, overflow refused, the old array kept on failure. */
#include "tests/lib/testlib.h"

#include "core/base/array.h"
#include "core/base/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_capacity_table(void **state)
{
    (void)state;
    static const struct {
        size_t cap, need, elem;
        int rc;
        size_t want_cap; /* after the call */
    } rows[] = {
        {0, 0, 4, 0, 0},                  /* nothing needed, nothing allocated */
        {0, 1, 4, 0, BSUP_ARRAY_MIN_CAP}, /* first allocation */
        {0, 20, 4, 0, 20},                /* a bigger first need wins */
        {8, 8, 4, 0, 8},                  /* fits */
        {8, 9, 4, 0, 16},                 /* doubles */
        {8, 100, 4, 0, 100},              /* need beats doubling */
        {16, 17, 1, 0, 32},
        {0, SIZE_MAX / 8 + 1, 8, BSUP_ENOMEM, 0}, /* bytes overflow size_t */
        {0, SIZE_MAX, 2, BSUP_ENOMEM, 0},         /* likewise */
        {0, 1, 0, BSUP_EINVAL, 0},                /* elements have a size */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *v = NULL;
        size_t cap = 0;
        if (rows[i].cap) { /* start from a real array of rows[i].cap elements */
            v = calloc(rows[i].cap, rows[i].elem);
            assert_non_null(v);
            cap = rows[i].cap;
        }
        void *before = v;
        int rc = bsup_array_reserve(&v, &cap, rows[i].need, rows[i].elem);
        if (rc != rows[i].rc || cap != (rows[i].rc ? rows[i].cap : rows[i].want_cap))
            fail_msg("row %zu: rc %d cap %zu", i, rc, cap);
        if (rc)
            assert_ptr_equal(v, before); /* unchanged on failure */
        free(v);
    }
}

struct s_item {
    int id;
    char name[12];
};

/* The typed macro keeps contents across growth. */
static void test_grow_keeps_contents(void **state)
{
    (void)state;
    struct s_item *items = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(BSUP_ARRAY_RESERVE(items, cap, n + 1), 0);
        assert_true(cap >= n + 1);
        items[n].id = i;
        memset(items[n].name, 'a' + i % 26, sizeof(items[n].name));
        n++;
    }
    assert_int_equal(cap, 1024); /* 8, 16, ..., 1024 */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(items[i].id, i);
        assert_int_equal(items[i].name[11], 'a' + i % 26);
    }
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_table),
        cmocka_unit_test(test_grow_keeps_contents),
    };
    return cmocka_run_group_tests_name("array", tests, NULL, NULL);
}
