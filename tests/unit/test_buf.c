/* The capped growable buffer: appends, the cap and its sticky error, take/reset/cleanup. */
#include "tests/lib/testlib.h"

#include "core/base/buf.h"
#include "core/base/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum s_op { S_PUTS, S_PUTC, S_APPEND3, S_PRINTF_INT, S_PRINTF_LONG };

struct s_step {
    enum s_op op;
    const char *arg;
    int rc; /* expected */
};

/* Each row: a cap, a list of operations, the final content or error take() reports. */
static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        size_t max_bytes;
        struct s_step steps[6];
        int take_rc;
        const char *content;
    } rows[] = {
        {"empty takes \"\"", 16, {{S_PUTS, NULL, 0}}, 0, ""},
        {"puts and putc", 16, {{S_PUTS, "ab", 0}, {S_PUTC, "c", 0}, {S_PUTS, NULL, 0}}, 0, "abc"},
        {"exactly the cap", 3, {{S_PUTS, "abc", 0}, {S_PUTS, NULL, 0}}, 0, "abc"},
        {"one past the cap",
         3,
         {{S_PUTS, "ab", 0}, {S_PUTS, "cd", BSUP_ETOOBIG}, {S_PUTS, NULL, 0}},
         BSUP_ETOOBIG,
         NULL},
        {"the error sticks even for what would fit",
         4,
         {{S_PUTS, "abcde", BSUP_ETOOBIG}, {S_PUTC, "x", BSUP_ETOOBIG}, {S_PUTS, NULL, 0}},
         BSUP_ETOOBIG,
         NULL},
        {"cap 0 holds only \"\"",
         0,
         {{S_PUTS, "", 0}, {S_PUTC, "x", BSUP_ETOOBIG}},
         BSUP_ETOOBIG,
         NULL},
        {"bytes with a NUL", 16, {{S_APPEND3, "a\0b", 0}, {S_PUTS, NULL, 0}}, 0, "a"},
        {"printf short",
         16,
         {{S_PUTS, "n=", 0}, {S_PRINTF_INT, NULL, 0}, {S_PUTS, NULL, 0}},
         0,
         "n=42"},
        {"printf longer than the stack buffer",
         1024,
         {{S_PRINTF_LONG, NULL, 0}, {S_PUTS, NULL, 0}},
         0,
         NULL},
        {"printf over the cap",
         100,
         {{S_PRINTF_LONG, NULL, BSUP_ETOOBIG}, {S_PUTS, NULL, 0}},
         BSUP_ETOOBIG,
         NULL},
    };
    char long_text[301];
    memset(long_text, 'x', 300);
    long_text[300] = '\0';
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_buf b = BSUP_BUF_INIT(rows[i].max_bytes, 0);
        for (size_t s = 0; s < 6 && !(rows[i].steps[s].op == S_PUTS && !rows[i].steps[s].arg);
             s++) {
            const struct s_step *st = &rows[i].steps[s];
            int rc = 0;
            switch (st->op) {
            case S_PUTS:
                rc = bsup_buf_puts(&b, st->arg);
                break;
            case S_PUTC:
                rc = bsup_buf_putc(&b, st->arg[0]);
                break;
            case S_APPEND3:
                rc = bsup_buf_append(&b, st->arg, 3);
                break;
            case S_PRINTF_INT:
                rc = bsup_buf_printf(&b, "%d", 42);
                break;
            case S_PRINTF_LONG:
                rc = bsup_buf_printf(&b, "%s%d", long_text, 7);
                break;
            }
            if (rc != st->rc)
                fail_msg("%s: step %zu returned %d, want %d", rows[i].what, s, rc, st->rc);
            assert_true(b.len <= rows[i].max_bytes);
        }
        char *out = (char *)"unset";
        size_t len = 99;
        int rc = bsup_buf_take(&b, &out, &len);
        if (rc != rows[i].take_rc)
            fail_msg("%s: take returned %d, want %d", rows[i].what, rc, rows[i].take_rc);
        if (rc) {
            assert_null(out);
            assert_int_equal(len, 0);
        } else if (rows[i].content) {
            assert_string_equal(out, rows[i].content);
        } else {
            assert_int_equal(len, 301);
            assert_int_equal(strncmp(out, long_text, 300), 0);
            assert_string_equal(out + 300, "7");
        }
        /* After take the buffer is empty, error-free and usable. */
        assert_null(b.data);
        assert_int_equal(b.err, 0);
        free(out);
        bsup_buf_cleanup(&b);
    }
}

static void test_growth_and_reuse(void **state)
{
    (void)state;
    struct bsup_buf b;
    bsup_buf_init(&b, 1u << 20, BSUP_BUF_WIPE);
    assert_string_equal(bsup_buf_str(&b), "");
    for (int i = 0; i < 10000; i++)
        assert_int_equal(bsup_buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_int_equal(bsup_buf_str(&b)[10000], '\0');
    assert_int_equal(bsup_buf_str(&b)[25], 'z');
    size_t cap = b.cap;
    bsup_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* memory kept */
    assert_string_equal(bsup_buf_str(&b), "");
    assert_int_equal(bsup_buf_puts(&b, "again"), 0);
    assert_string_equal(bsup_buf_str(&b), "again");
    bsup_buf_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(b.max_bytes, 1u << 20);
    assert_int_equal(b.flags, BSUP_BUF_WIPE);
    bsup_buf_cleanup(&b); /* twice is fine */
    bsup_buf_cleanup(NULL);

    /* Reset clears a sticky error. */
    struct bsup_buf small = BSUP_BUF_INIT(2, 0);
    assert_int_equal(bsup_buf_puts(&small, "abc"), BSUP_ETOOBIG);
    assert_int_equal(bsup_buf_puts(&small, "a"), BSUP_ETOOBIG);
    bsup_buf_reset(&small);
    assert_int_equal(bsup_buf_puts(&small, "ab"), 0);
    assert_string_equal(bsup_buf_str(&small), "ab");
    bsup_buf_cleanup(&small);

    /* A builder's own failure sticks like the buffer's, and the first one wins. */
    struct bsup_buf own = BSUP_BUF_INIT(16, 0);
    assert_int_equal(bsup_buf_puts(&own, "x"), 0);
    assert_int_equal(bsup_buf_fail(&own, BSUP_ENOMEM), BSUP_ENOMEM);
    assert_int_equal(bsup_buf_fail(&own, BSUP_EINVAL), BSUP_ENOMEM);
    assert_int_equal(bsup_buf_puts(&own, "y"), BSUP_ENOMEM);
    char *out = NULL;
    assert_int_equal(bsup_buf_take(&own, &out, NULL), BSUP_ENOMEM);
    assert_null(out);
    bsup_buf_cleanup(&own);

    /* An adopted allocation is written in without growing and is what take hands over; what
     * the buffer held before is freed (ASan would see a leak). */
    struct bsup_buf ad = BSUP_BUF_INIT(SIZE_MAX, 0);
    assert_int_equal(bsup_buf_puts(&ad, "before"), 0);
    char *mem = malloc(64), *taken = NULL;
    assert_non_null(mem);
    memcpy(mem, "stale", 6);
    bsup_buf_adopt(&ad, mem, 64);
    assert_string_equal(bsup_buf_str(&ad), "");
    assert_int_equal(bsup_buf_puts(&ad, "new"), 0);
    assert_ptr_equal(ad.data, mem);
    size_t len = 0;
    assert_int_equal(bsup_buf_take(&ad, &taken, &len), 0);
    assert_ptr_equal(taken, mem);
    assert_string_equal(taken, "new");
    assert_int_equal(len, 3);
    free(taken);

    /* A huge cap is clamped so sizes never overflow. */
    struct bsup_buf huge = BSUP_BUF_INIT(SIZE_MAX, 0);
    assert_int_equal(bsup_buf_puts(&huge, "x"), 0);
    assert_int_equal(bsup_buf_append(&huge, "y", SIZE_MAX - 1), BSUP_ETOOBIG);
    bsup_buf_cleanup(&huge);
}

/* JSON strings as jansson would write them, and valid JSON whatever the bytes. */
/* Integers in decimal, the extremes included, as printf writes them. */
static void test_int(void **state)
{
    (void)state;
    const int64_t v[] = {0, 7, -7, 10, 1234567890123, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct bsup_buf b = BSUP_BUF_INIT(64, 0);
        char want[32];
        snprintf(want, sizeof(want), "%" PRId64, v[i]);
        assert_int_equal(bsup_buf_int(&b, v[i]), 0);
        assert_string_equal(bsup_buf_str(&b), want);
        bsup_buf_cleanup(&b);
    }
    struct bsup_buf small = BSUP_BUF_INIT(3, 0);
    assert_int_equal(bsup_buf_int(&small, -1000), BSUP_ETOOBIG);
    bsup_buf_cleanup(&small);
}

static void test_json_string(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"", "\"\""},
        {"svc-0001", "\"svc-0001\""},
        {"a\"b\\c", "\"a\\\"b\\\\c\""},
        {"l1\nl2\tx\r\b\f", "\"l1\\nl2\\tx\\r\\b\\f\""},
        {"\x01\x1f", "\"\\u0001\\u001F\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"bad\xff end", "\"bad\xef\xbf\xbd end\""},                         /* not UTF-8 */
        {"cut\xc3", "\"cut\xef\xbf\xbd\""},                                 /* truncated sequence */
        {"over\xc0\xaf", "\"over\xef\xbf\xbd\xef\xbf\xbd\""},               /* overlong */
        {"sur\xed\xa0\x80", "\"sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* surrogate */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_buf b = BSUP_BUF_INIT(1024, 0);
        assert_int_equal(bsup_buf_json_string(&b, rows[i].in), 0);
        assert_string_equal(bsup_buf_str(&b), rows[i].out);
        bsup_buf_cleanup(&b);
    }
    struct bsup_buf m = BSUP_BUF_INIT(1024, 0);
    const char *long_key = "a_key_longer_than_the_sixty_bytes_that_fit_in_the_one_append_path";
    bsup_buf_putc(&m, '{');
    bsup_buf_json_string(&m, "first");
    bsup_buf_putc(&m, ':');
    bsup_buf_int(&m, 1);
    assert_int_equal(bsup_buf_json_int(&m, "n", -42), 0);
    assert_int_equal(bsup_buf_json_key(&m, long_key), 0);
    bsup_buf_puts(&m, "null}");
    char want[256];
    snprintf(want, sizeof(want), "{\"first\":1,\"n\":-42,\"%s\":null}", long_key);
    assert_string_equal(bsup_buf_str(&m), want);
    bsup_buf_cleanup(&m);

    struct bsup_buf b = BSUP_BUF_INIT(1024, 0);
    bsup_buf_puts(&b, "abcdef");
    bsup_buf_truncate(&b, 9); /* longer: nothing */
    assert_string_equal(bsup_buf_str(&b), "abcdef");
    bsup_buf_truncate(&b, 2);
    assert_string_equal(bsup_buf_str(&b), "ab");
    assert_int_equal(b.len, 2);
    bsup_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_growth_and_reuse),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_int),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
