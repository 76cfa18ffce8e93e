/* The URL parser: one table of URLs and what each must give, or why it is refused. */
#include "tests/lib/testlib.h"

#include "core/base/error.h"
#include "core/base/url.h"

#include <stdio.h>
#include <string.h>

#define NONE "\x01" /* the part is absent (p == NULL) */

static void s_part_equal(const char *url, const char *what, struct bsup_url_part got,
                         const char *want)
{
    if (strcmp(want, NONE) == 0) {
        if (got.p)
            fail_msg("%s: %s is \"%.*s\", want absent", url, what, (int)got.len, got.p);
        return;
    }
    if (!got.p || got.len != strlen(want) || memcmp(got.p, want, got.len) != 0)
        fail_msg("%s: %s is \"%.*s\", want \"%s\"", url, what, got.p ? (int)got.len : 6,
                 got.p ? got.p : "(null)", want);
}

static void test_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *scheme, *authority, *host, *path, *query, *fragment;
        unsigned port;
        bool ipv6;
    } rows[] = {
        {"http://h", "http", "h", "h", "", NONE, NONE, 0, false},
        {"HTTPS://Sns.Local/", "HTTPS", "Sns.Local", "Sns.Local", "/", NONE, NONE, 0, false},
        {"http://127.0.0.1:5000", "http", "127.0.0.1:5000", "127.0.0.1", "", NONE, NONE, 5000,
         false},
        {"http://h:1/", "http", "h:1", "h", "/", NONE, NONE, 1, false},
        {"http://h:65535/", "http", "h:65535", "h", "/", NONE, NONE, 65535, false},
        {"http://h:08080/", "http", "h:08080", "h", "/", NONE, NONE, 8080, false},
        {"http://[::1]:8080/c", "http", "[::1]:8080", "::1", "/c", NONE, NONE, 8080, true},
        {"http://[fd00:ec2::23]/v1/credentials", "http", "[fd00:ec2::23]", "fd00:ec2::23",
         "/v1/credentials", NONE, NONE, 0, true},
        {"http://[::ffff:1.2.3.4]", "http", "[::ffff:1.2.3.4]", "::ffff:1.2.3.4", "", NONE, NONE, 0,
         true},
        {"https://a.b-c_d.example/p/a%20th?x=1&y=2#frag", "https", "a.b-c_d.example",
         "a.b-c_d.example", "/p/a%20th", "x=1&y=2", "frag", 0, false},
        {"http://h?", "http", "h", "h", "", "", NONE, 0, false},
        {"http://h#", "http", "h", "h", "", NONE, "", 0, false},
        {"http://h/p#f?g", "http", "h", "h", "/p", NONE, "f?g", 0, false},
        {"svc+x.y-z://h", "svc+x.y-z", "h", "h", "", NONE, NONE, 0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_url u;
        const char *why = NULL;
        if (bsup_url_parse(rows[i].url, &u, &why) != 0)
            fail_msg("%s: refused (%s)", rows[i].url, why);
        s_part_equal(rows[i].url, "scheme", u.scheme, rows[i].scheme);
        s_part_equal(rows[i].url, "authority", u.authority, rows[i].authority);
        s_part_equal(rows[i].url, "host", u.host, rows[i].host);
        s_part_equal(rows[i].url, "path", u.path, rows[i].path);
        s_part_equal(rows[i].url, "query", u.query, rows[i].query);
        s_part_equal(rows[i].url, "fragment", u.fragment, rows[i].fragment);
        if (u.port != rows[i].port || u.ipv6 != rows[i].ipv6)
            fail_msg("%s: port %u ipv6 %d", rows[i].url, u.port, u.ipv6);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *url, *why;
    } rows[] = {
        {"http://h:99999/", "has an invalid port"},
        {"http://h:0", "has an invalid port"},
        {"http://h:65536", "has an invalid port"},
        {"http://h:000080", "has an invalid port"},
        {"http://h:-1", "has an invalid port"},
        {"http://h:8o", "has an invalid port"},
        {"http://h:80x/", "has an invalid port"},
        {"http://a:b:c/", "has an invalid port"},
        {"http://h:", "has an empty port"},
        {"http://h:/p", "has an empty port"},
        {"http://", "did not specify a host"},
        {"http:///path", "did not specify a host"},
        {"http://:80", "did not specify a host"},
        {"/credentials", "did not specify a host"},
        {"127.0.0.1:5000", "did not specify a host"},
        {"://h", "has an invalid scheme"},
        {"1http://h", "has an invalid scheme"},
        {"ht_tp://h", "has an invalid scheme"},
        {"http://user@host", "must not contain user information"},
        {"http://user:pw@host:80/", "must not contain user information"},
        {"http://[::1", "has a bad IPv6 host"},
        {"http://[]", "has a bad IPv6 host"},
        {"http://[zz]:1", "has a bad IPv6 host"},
        {"http://[fe80::1%25eth0]", "has a bad IPv6 host"},
        {"http://[1.2.3.4]", "has a bad IPv6 host"},
        {"http://[::1]x", "has an invalid authority"},
        {"http://[::1]:", "has an empty port"},
        {"http://[::1]:70000", "has an invalid port"},
        {"http://ho!st/", "has an invalid character in its host"},
        {"http://h]/", "has an invalid character in its host"},
        {"http://h/p q", "has an invalid character"},
        {"http://h/\n", "has an invalid character"},
        {"http://h/\xc3\xa9", "has an invalid character"},
        {"http://h/{x}", "has an invalid character"},
        {"http://h:80 ", "has an invalid character"},
        {"not a uri", "has an invalid character"},
        {"", "did not specify a host"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_url u;
        const char *why = NULL;
        int rc = bsup_url_parse(rows[i].url, &u, &why);
        if (rc != BSUP_EINVAL || !why || strcmp(why, rows[i].why) != 0)
            fail_msg("\"%s\": rc %d why \"%s\", want \"%s\"", rows[i].url, rc, why ? why : "",
                     rows[i].why);
    }
    struct bsup_url u;
    assert_int_equal(bsup_url_parse(NULL, &u, NULL), BSUP_EINVAL);
}

static void test_helpers(void **state)
{
    (void)state;
    struct bsup_url u;
    assert_int_equal(bsup_url_parse("HtTpS://h", &u, NULL), 0);
    assert_true(bsup_url_scheme_is(&u, "https"));
    assert_false(bsup_url_scheme_is(&u, "http"));
    assert_false(bsup_url_scheme_is(&u, "httpsx"));
    assert_true(bsup_url_chars_ok("/credentials?a=1&b=%20"));
    assert_true(bsup_url_chars_ok(""));
    assert_false(bsup_url_chars_ok("a b"));
    assert_false(bsup_url_chars_ok("a\"b"));
    assert_false(bsup_url_chars_ok("\x7f"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
