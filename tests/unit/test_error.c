#include "tests/lib/testlib.h"

#include "core/base/error.h"

#include <string.h>

static void test_names_and_messages(void **state)
{
    (void)state;
    assert_string_equal(bsup_err_name(BSUP_ENOMEM), "BSUP_ENOMEM");
    assert_string_equal(bsup_strerror(BSUP_ENOMEM), "out of memory");
    assert_string_equal(bsup_err_name(BSUP_ESHUTDOWN), "BSUP_ESHUTDOWN");
    assert_string_equal(bsup_err_name(0), "BSUP_EOK");
    assert_string_equal(bsup_err_name(-100000), "BSUP_E?");
    assert_string_equal(bsup_strerror(5), "unknown error");
    assert_true(BSUP_ENOMEM < 0 && BSUP_EINVAL < 0 && BSUP_ENOMEM != BSUP_EINVAL);
}

static void test_diag(void **state)
{
    (void)state;
    struct bsup_diag d = {0};
    assert_int_equal(bsup_diag_set(&d, BSUP_ECONFIG, "%s:%d: bad", "f.yaml", 3), BSUP_ECONFIG);
    assert_string_equal(d.message, "f.yaml:3: bad");
    assert_int_equal(bsup_diag_set(NULL, BSUP_EIO, "x"), BSUP_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_messages),
        cmocka_unit_test(test_diag),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
