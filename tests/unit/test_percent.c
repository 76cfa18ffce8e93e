/* Percent-encoding: the RFC 3986 unreserved set byte by byte, '/' on request, decoding. */
#include "tests/lib/testlib.h"

#include "core/base/error.h"
#include "core/base/percent.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

static void test_encode_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len; /* 0: strlen */
        unsigned flags;
        const char *out;
    } rows[] = {
        {"", 0, 0, ""},
        {"abcXYZ019", 0, 0, "abcXYZ019"},
        {"-._~", 0, 0, "-._~"},
        {"a b", 0, 0, "a%20b"},
        {"a+b*c", 0, 0, "a%2Bb%2Ac"},
        {"100%", 0, 0, "100%25"},
        {"/a/b c/", 0, 0, "%2Fa%2Fb%20c%2F"},
        {"/a/b c/", 0, BSUP_PERCENT_KEEP_SLASH, "/a/b%20c/"},
        {"api prod/\xc3\xa9", 0, 0, "api%20prod%2F%C3%A9"},
        {"\xff\x80\x7f", 0, 0, "%FF%80%7F"},
        {"a\0b", 3, 0, "a%00b"},
        {"=&?#[]@!$'(),;:", 0, 0, "%3D%26%3F%23%5B%5D%40%21%24%27%28%29%2C%3B%3A"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_buf b = BSUP_BUF_INIT(1024, 0);
        size_t n = rows[i].len ? rows[i].len : strlen(rows[i].in);
        assert_int_equal(bsup_percent_encode(&b, rows[i].in, n, rows[i].flags), 0);
        if (strcmp(bsup_buf_str(&b), rows[i].out) != 0)
            fail_msg("row %zu: \"%s\", want \"%s\"", i, bsup_buf_str(&b), rows[i].out);
        bsup_buf_cleanup(&b);
    }
    /* The buffer's cap holds for encoded output, and the error sticks. */
    struct bsup_buf b = BSUP_BUF_INIT(5, 0);
    assert_int_equal(bsup_percent_encode(&b, "ab", 2, 0), 0);
    assert_int_equal(bsup_percent_encode(&b, " ", 1, 0), 0); /* 5 bytes: "ab%20" */
    assert_int_equal(bsup_percent_encode(&b, "c", 1, 0), BSUP_ETOOBIG);
    assert_int_equal(bsup_percent_encode(&b, "", 0, 0), BSUP_ETOOBIG);
    bsup_buf_cleanup(&b);
}

/* Every byte, under whatever locale the machine offers: only the 66 unreserved stay. */
static void test_every_byte_any_locale(void **state)
{
    (void)state;
    static const char *const locales[] = {"C", "", "C.UTF-8", "en_US.ISO-8859-1", "de_DE"};
    for (size_t l = 0; l < sizeof(locales) / sizeof(locales[0]); l++) {
        if (!setlocale(LC_ALL, locales[l]))
            continue;
        size_t kept = 0;
        for (int c = 0; c < 256; c++) {
            char in = (char)c;
            struct bsup_buf b = BSUP_BUF_INIT(16, 0);
            assert_int_equal(bsup_percent_encode(&b, &in, 1, 0), 0);
            int stays = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
            assert_int_equal(bsup_percent_is_unreserved((unsigned char)c), stays);
            assert_int_equal(b.len, stays ? 1 : 3);
            kept += stays;
            bsup_buf_cleanup(&b);
        }
        assert_int_equal(kept, 66);
    }
    setlocale(LC_ALL, "C");
}

static void test_decode_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t out_len;
    } rows[] = {
        {"", "", 0},         {"abc", "abc", 3},         {"a%20b", "a b", 3},
        {"%2f%2F", "//", 2}, {"%C3%A9", "\xc3\xa9", 2}, {"a+b", "a+b", 3},
        {"%", "%", 1},       {"%4", "%4", 2},           {"%zz%41", "%zzA", 4},
        {"x%41", "xA", 2},   {"%00z", "\0z", 2},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = strlen(rows[i].in);
        char *out = malloc(n + 1);
        assert_non_null(out);
        size_t len = bsup_percent_decode(rows[i].in, n, out);
        if (len != rows[i].out_len || memcmp(out, rows[i].out, len) != 0 || out[len] != '\0')
            fail_msg("row %zu: \"%s\" decoded to %zu bytes \"%s\"", i, rows[i].in, len, out);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_table),
        cmocka_unit_test(test_every_byte_any_locale),
        cmocka_unit_test(test_decode_table),
    };
    return cmocka_run_group_tests_name("percent", tests, NULL, NULL);
}
