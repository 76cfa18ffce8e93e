/* The per-owner generator: the reference xoshiro256** outputs, reproducible seeding, ranges. */
#include "tests/lib/testlib.h"

#include "core/base/random.h"

#include <string.h>

/* The first outputs of xoshiro256** from state {1, 2, 3, 4} (the reference implementation). */
static void test_reference_vector(void **state)
{
    (void)state;
    static const uint64_t want[] = {11520u, 0u, 1509978240u, UINT64_C(1215971899390074240)};
    struct bsup_random r = {{1, 2, 3, 4}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(bsup_random_u64(&r) == want[i]);
}

static void test_seeding(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {0, 1, 2, 42, UINT64_MAX};
    uint64_t first[sizeof(seeds) / sizeof(seeds[0])];
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        struct bsup_random a, b;
        bsup_random_init(&a, seeds[i]);
        bsup_random_init(&b, seeds[i]);
        assert_true(a.s[0] | a.s[1] | a.s[2] | a.s[3]); /* never the all-zero state */
        first[i] = bsup_random_u64(&a);
        assert_true(first[i] == bsup_random_u64(&b));
        for (int k = 0; k < 1000; k++)
            assert_true(bsup_random_u64(&a) == bsup_random_u64(&b));
        for (size_t j = 0; j < i; j++)
            assert_true(first[i] != first[j]); /* seeds give distinct sequences */
    }
    /* Seeds from the system differ from call to call. */
    assert_true(bsup_random_seed() != bsup_random_seed());
}

static void test_ranges(void **state)
{
    (void)state;
    struct bsup_random r;
    bsup_random_init(&r, 7);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = bsup_random_double01(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);

    static const uint64_t bounds[] = {1, 2, 3, 60, 1000, UINT64_C(1) << 63};
    for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
        for (int i = 0; i < 10000; i++)
            assert_true(bsup_random_below(&r, bounds[b]) < bounds[b]);
    assert_true(bsup_random_below(&r, 0) == 0);
    /* Every value of a small range shows up, about equally often. */
    unsigned count[60];
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 60000; i++)
        count[bsup_random_below(&r, 60)]++;
    for (int v = 0; v < 60; v++)
        assert_true(count[v] > 800 && count[v] < 1200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vector),
        cmocka_unit_test(test_seeding),
        cmocka_unit_test(test_ranges),
    };
    return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
