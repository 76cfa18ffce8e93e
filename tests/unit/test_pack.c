/* Packed records: every record comes back byte for byte, and zero tails cost nothing. */
#include "tests/lib/testlib.h"

#include "core/base/pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void s_round_trip(const void *p, size_t size)
{
    struct bsup_pack *pk = bsup_pack(p, size);
    assert_non_null(pk);
    assert_int_equal(pk->size, size);
    unsigned char *back = malloc(size ? size : 1);
    assert_non_null(back);
    memset(back, 0xa5, size);
    bsup_unpack(pk, back);
    assert_memory_equal(back, p, size);
    free(back);
    free(pk);
}

static void test_shapes(void **state)
{
    (void)state;
    unsigned char b[600] = {0};
    s_round_trip(b, 0);
    s_round_trip(b, 1);
    s_round_trip(b, sizeof(b)); /* all zero */
    memset(b, 7, sizeof(b));
    s_round_trip(b, sizeof(b)); /* no zero at all */
    memset(b, 0, sizeof(b));
    b[0] = 1;
    b[599] = 2;
    s_round_trip(b, sizeof(b));   /* non-zero at both ends */
    b[300] = b[302] = b[305] = 3; /* zero runs of 1, 2 and 3 inside a literal */
    s_round_trip(b, sizeof(b));
    b[599] = 0;
    b[597] = 4; /* a short zero tail */
    s_round_trip(b, sizeof(b));
    for (size_t i = 0; i < sizeof(b); i++) /* the most records: 1 byte, 4 zeros, ... */
        b[i] = i % 5 == 0 ? 9 : 0;
    s_round_trip(b, sizeof(b));
    s_round_trip(b + 1, sizeof(b) - 1);
    uint64_t seed = 88172645463325252ull; /* xorshift: sparse random records */
    for (int round = 0; round < 2000; round++) {
        size_t size = (size_t)(seed % sizeof(b)) + 1;
        memset(b, 0, sizeof(b));
        for (size_t i = 0; i < size; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if (seed % 5 == 0)
                b[i] = (unsigned char)(seed >> 24);
        }
        s_round_trip(b, size);
    }
}

static void test_compact(void **state)
{
    (void)state;
    struct {
        char name[256];
        int64_t n;
        char arn[1024];
    } r;
    memset(&r, 0, sizeof(r));
    strcpy(r.name, "api-service-prod");
    r.n = 300; /* two bytes, then six zeros */
    strcpy(r.arn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1");
    struct bsup_pack *pk = bsup_pack(&r, sizeof(r));
    assert_non_null(pk);
    /* the text and a few bytes of counts; the 1.2 KB of zero tails are gone */
    assert_true(pk->len < strlen(r.name) + strlen(r.arn) + 16);
    free(pk);
    s_round_trip(&r, sizeof(r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
