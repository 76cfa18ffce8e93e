/* A domain's cache: facts set, read back, saved once, and whether each is in the store yet
 * (a domain acts on what must survive a crash only once it is). */
#include "tests/lib/testlib.h"

#include "core/base/error.h"
#include "core/reconcile/cache.h"

#include <stdio.h>
#include <string.h>

struct s_seen {
    char keys[256];
    size_t n;
};

static int s_save(void *ctx, const char *key, const char *value)
{
    (void)value;
    struct s_seen *s = ctx;
    size_t used = strlen(s->keys);
    snprintf(s->keys + used, sizeof(s->keys) - used, "%s;", key);
    s->n++;
    return 0;
}

static int s_fail(void *ctx, const char *key, const char *value)
{
    (void)ctx, (void)key, (void)value;
    return BSUP_EIO;
}

static void s_count(void *ctx, const char *key, const char *value)
{
    struct s_seen *s = ctx;
    if (strncmp(key, "drill/", 6) == 0 && strcmp(value, "idle") != 0)
        s->n++;
}

static void test_put_get_saved(void **state)
{
    (void)state;
    struct bsup_domain_cache c = {0};
    assert_int_equal(bsup_domain_cache_put(&c, "lt|1", "t3.large", true), 0);
    assert_true(bsup_domain_cache_saved(&c, "lt|1")); /* loaded from the store */
    assert_false(bsup_domain_cache_saved(&c, "nothing"));
    assert_int_equal(bsup_domain_cache_put(&c, "drill/a", "planned", false), 0);
    assert_string_equal(bsup_domain_cache_get(&c, "drill/a"), "planned");
    assert_false(bsup_domain_cache_saved(&c, "drill/a"));
    /* A failed save keeps it unsaved; a good one saves each new fact once. */
    struct s_seen seen = {0};
    assert_int_equal(bsup_domain_cache_flush(&c, s_fail, NULL), BSUP_EIO);
    assert_false(bsup_domain_cache_saved(&c, "drill/a"));
    assert_int_equal(bsup_domain_cache_flush(&c, s_save, &seen), 0);
    assert_string_equal(seen.keys, "drill/a;");
    assert_true(bsup_domain_cache_saved(&c, "drill/a"));
    /* The same value again is no change; a new one must be saved again. */
    assert_int_equal(bsup_domain_cache_put(&c, "drill/a", "planned", false), 0);
    assert_true(bsup_domain_cache_saved(&c, "drill/a"));
    assert_int_equal(bsup_domain_cache_put(&c, "drill/a", "idle", false), 0);
    assert_false(bsup_domain_cache_saved(&c, "drill/a"));
    bsup_domain_cache_cleanup(&c);
}

static void test_each(void **state)
{
    (void)state;
    struct bsup_domain_cache c = {0};
    const char *vals[] = {"planned", "idle", "cleanup", "idle"};
    for (int i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof(key), "drill/s%d", i);
        assert_int_equal(bsup_domain_cache_put(&c, key, vals[i], false), 0);
    }
    assert_int_equal(bsup_domain_cache_put(&c, "other", "x", false), 0);
    struct s_seen seen = {0};
    bsup_domain_cache_each(&c, s_count, &seen);
    assert_int_equal(seen.n, 2);
    bsup_domain_cache_cleanup(&c);
    seen.n = 0;
    bsup_domain_cache_each(&c, s_count, &seen); /* empty after cleanup */
    assert_int_equal(seen.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_saved),
        cmocka_unit_test(test_each),
    };
    return cmocka_run_group_tests_name("domain cache", tests, NULL, NULL);
}
