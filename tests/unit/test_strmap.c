/* The string map: lookups, replacement, removal (probing past tombstones) and growth. */
#include "tests/lib/testlib.h"

#include "core/base/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_basics(void **state)
{
    (void)state;
    struct bsup_strmap m = {0};
    int a = 1, b = 2;
    assert_null(bsup_strmap_get(&m, "x"));
    bsup_strmap_del(&m, "x");
    assert_int_equal(bsup_strmap_put(&m, "api", &a), 0);
    assert_int_equal(bsup_strmap_put(&m, "worker", &b), 0);
    assert_ptr_equal(bsup_strmap_get(&m, "api"), &a);
    assert_ptr_equal(bsup_strmap_get(&m, "worker"), &b);
    assert_int_equal(bsup_strmap_put(&m, "api", &b), 0); /* replaced, not added */
    assert_int_equal(m.n, 2);
    assert_ptr_equal(bsup_strmap_get(&m, "api"), &b);
    bsup_strmap_del(&m, "api");
    assert_null(bsup_strmap_get(&m, "api"));
    assert_ptr_equal(bsup_strmap_get(&m, "worker"), &b);
    assert_int_equal(m.n, 1);
    bsup_strmap_cleanup(&m);
}

static void test_many_and_churn(void **state)
{
    (void)state;
    enum { N = 10000 };
    static char keys[N][16];
    struct bsup_strmap m = {0};
    assert_int_equal(bsup_strmap_reserve(&m, N), 0);
    size_t cap = m.cap;
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "svc-%d", i);
        assert_int_equal(bsup_strmap_put(&m, keys[i], keys[i]), 0);
    }
    assert_int_equal(m.cap, cap); /* reserved: no rehash while loading */
    for (int i = 0; i < N; i++)
        assert_ptr_equal(bsup_strmap_get(&m, keys[i]), keys[i]);
    /* Remove and re-add over and over: tombstones never fill the table. */
    for (int round = 0; round < 20; round++) {
        for (int i = round % 2; i < N; i += 2)
            bsup_strmap_del(&m, keys[i]);
        for (int i = round % 2; i < N; i += 2)
            assert_int_equal(bsup_strmap_put(&m, keys[i], keys[i]), 0);
    }
    assert_int_equal(m.n, N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(bsup_strmap_get(&m, keys[i]), keys[i]);
    assert_null(bsup_strmap_get(&m, "svc-10000"));
    bsup_strmap_cleanup(&m);
}

/* Values that own their keys are freed with the map (ASan and valgrind see no leak), removed
 * entries included. */
static int s_count(void *ctx, const char *key, void *value)
{
    int *n = ctx;
    assert_ptr_equal(key, value); /* each entry's own key, never a removed one */
    return ++*n == 3 ? 7 : 0;
}

/* Every live entry once, removed ones skipped; a non-zero return stops and is returned. */
static void test_each(void **state)
{
    (void)state;
    static const char *const keys[] = {"a", "b", "c", "d"};
    struct bsup_strmap m = {0};
    int n = 0;
    assert_int_equal(bsup_strmap_each(&m, s_count, &n), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(bsup_strmap_put(&m, keys[i], (void *)keys[i]), 0);
    bsup_strmap_del(&m, "c");
    n = -10;
    assert_int_equal(bsup_strmap_each(&m, s_count, &n), 0);
    assert_int_equal(n, -7);
    n = 0;
    assert_int_equal(bsup_strmap_each(&m, s_count, &n), 7);
    assert_int_equal(n, 3);
    bsup_strmap_cleanup(&m);
}

static void test_cleanup_free(void **state)
{
    (void)state;
    struct bsup_strmap m = {0};
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "svc-%d", i);
        char *v = strdup(name);
        assert_non_null(v);
        assert_int_equal(bsup_strmap_put(&m, v, v), 0);
    }
    char *gone = bsup_strmap_get(&m, "svc-7");
    bsup_strmap_del(&m, "svc-7");
    free(gone);
    assert_null(bsup_strmap_get(&m, "svc-7"));
    bsup_strmap_cleanup_free(&m);
    assert_int_equal(m.n, 0);
    assert_null(m.slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_many_and_churn),
        cmocka_unit_test(test_each),
        cmocka_unit_test(test_cleanup_free),
    };
    return cmocka_run_group_tests_name("strmap", tests, NULL, NULL);
}
