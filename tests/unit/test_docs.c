/* The man pages exist and bsup.d(5) names every key of both key tables (docs/config.md is
 * checked by test_config). The tables are the truth; the docs must follow. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether text mentions key as a word (roff escapes "-" as "\-", so both are accepted). */
static int s_mentions(const char *text, const char *key)
{
    for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
        char after = p[strlen(key)];
        if (!(after == '_' || (after >= 'a' && after <= 'z')))
            return 1;
    }
    return 0;
}

static void s_check_keys(const char *path, const char *text, const struct bsup_config_key *keys,
                         const char *prefix, int *missing)
{
    for (const struct bsup_config_key *k = keys; k->name; k++) {
        if (k->type == BSUP_KEY_SECTION && k->section)
            s_check_keys(path, text, k->section, k->name, missing);
        if (!s_mentions(text, k->name)) {
            fprintf(stderr, "%s does not mention %s%s%s\n", path, prefix ? prefix : "",
                    prefix ? "." : "", k->name);
            (*missing)++;
        }
    }
}

static void test_man_page_keys(void **state)
{
    (void)state;
    char *text = bsup_test_read(BSUP_SRCDIR "/docs/man/bsup.d.5", NULL);
    int missing = 0;
    assert_non_null(text);
    s_check_keys("bsup.d(5)", text, bsup_service_keys, NULL, &missing);
    s_check_keys("bsup.d(5)", text, bsup_settings_keys, NULL, &missing);
    free(text);
    assert_int_equal(missing, 0);
}

static void test_man_pages_exist(void **state)
{
    (void)state;
    static const char *const pages[] = {"bsupd.8", "bsupctl.8", "bsup.d.5"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/docs/man/%s", BSUP_SRCDIR, pages[i]);
        char *text = bsup_test_read(path, NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, ".TH "));
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man_pages_exist),
        cmocka_unit_test(test_man_page_keys),
    };
    return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
