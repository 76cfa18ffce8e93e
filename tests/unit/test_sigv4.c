/* Walks every case of the official SigV4 suite under BSUP_TESTDATA/sigv4 (nested directories
 * included) and checks the canonical request, string to sign, Authorization and signed request.
 * Fixed inputs come from tests/data/sigv4/README.md. */
#include "tests/lib/testlib.h"

#include "core/aws/sigv4.h"
#include "core/base/error.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define S_SUITE BSUP_TESTDATA "/sigv4"
#define S_ACCESS_KEY "AKIDEXAMPLE"
#define S_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define S_NOW_S INT64_C(1440938160) /* 20150830T123600Z */
#define S_REGION "us-east-1"
#define S_SERVICE "service"

struct s_case {
    char dir[PATH_MAX];
    char name[256];
};

struct s_cases {
    struct s_case *v;
    size_t n;
};

/* A directory is a case when it holds <basename>.req; otherwise it is a group to descend. */
static void s_collect(const char *dir, struct s_cases *out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX], req[PATH_MAX + 300];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        snprintf(req, sizeof(req), "%s/%s.req", path, e->d_name);
        if (stat(req, &st) == 0) {
            out->v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
            assert_non_null(out->v);
            snprintf(out->v[out->n].dir, sizeof(out->v[out->n].dir), "%s", path);
            snprintf(out->v[out->n].name, sizeof(out->v[out->n].name), "%s", e->d_name);
            out->n++;
        } else {
            s_collect(path, out);
        }
    }
    closedir(d);
}

static char *s_read_case(const struct s_case *c, const char *ext)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s.%s", c->dir, c->name, ext);
    char *s = bsup_test_read(path, NULL);
    if (!s)
        fail_msg("cannot read %s", path);
    return s;
}

/* Parses the raw request: "METHOD target HTTP/1.1", "Name:value" lines (a line starting with
 * whitespace continues the previous value), a blank line, then the body. */
static void s_parse_req(const char *raw, struct bsup_aws_request *req)
{
    const char *eol = strchr(raw, '\n');
    size_t line_len = eol ? (size_t)(eol - raw) : strlen(raw);
    char *line = strndup(raw, line_len);
    char *sp = strchr(line, ' ');
    char *http = strstr(line, " HTTP/");
    assert_non_null(sp);
    assert_non_null(http);
    *sp = '\0';
    *http = '\0';
    char *target = sp + 1;
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    assert_int_equal(bsup_aws_request_init(req, line, "https", "", target), 0);
    if (q)
        assert_int_equal(bsup_aws_request_set_query(req, q), 0);
    free(line);

    const char *p = eol ? eol + 1 : raw + line_len;
    while (*p && *p != '\n') {
        eol = strchr(p, '\n');
        line_len = eol ? (size_t)(eol - p) : strlen(p);
        if (*p == ' ' || *p == '\t') {
            assert_true(req->n_headers > 0);
            struct bsup_aws_header *h = &req->headers[req->n_headers - 1];
            size_t old = strlen(h->value);
            h->value = realloc(h->value, old + 1 + line_len + 1);
            assert_non_null(h->value);
            h->value[old] = '\n';
            memcpy(h->value + old + 1, p, line_len);
            h->value[old + 1 + line_len] = '\0';
        } else {
            const char *colon = memchr(p, ':', line_len);
            assert_non_null(colon);
            char *name = strndup(p, (size_t)(colon - p));
            char *value = strndup(colon + 1, line_len - (size_t)(colon - p) - 1);
            assert_int_equal(bsup_aws_request_add_header(req, name, value), 0);
            if (strcasecmp(name, "host") == 0) {
                free(req->host);
                req->host = strdup(value);
            }
            free(name);
            free(value);
        }
        p = eol ? eol + 1 : p + line_len;
    }
    if (*p == '\n' && p[1])
        assert_int_equal(bsup_aws_request_set_body(req, p + 1, strlen(p + 1)), 0);
}

/* The signed request in the suite's layout ("Authorization: " has a space, others do not). */
static char *s_format_sreq(const char *raw_req, const struct bsup_aws_request *req, bool with_authz)
{
    size_t cap = 65536, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    const char *eol = strchr(raw_req, '\n');
    len += (size_t)snprintf(out, cap, "%.*s", (int)(eol ? eol - raw_req : (long)strlen(raw_req)),
                            raw_req);
    for (size_t i = 0; i < req->n_headers; i++) {
        bool authz = strcasecmp(req->headers[i].name, "authorization") == 0;
        if (authz && !with_authz)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "\n%s:%s%s", req->headers[i].name,
                                authz ? " " : "", req->headers[i].value);
    }
    if (req->body_len)
        len += (size_t)snprintf(out + len, cap - len, "\n\n%.*s", (int)req->body_len,
                                (const char *)req->body);
    assert_true(len < cap);
    return out;
}

/* Drops the "Authorization:" line from a signed request text (in place). */
static void s_strip_authz_line(char *s)
{
    char *a = strstr(s, "\nAuthorization:");
    if (!a)
        return;
    char *end = strchr(a + 1, '\n');
    memmove(a, end ? end : a + strlen(a), strlen(end ? end : a + strlen(a)) + 1);
}

/* The value of header name in a raw request text, or NULL (malloc'd). */
static char *s_raw_header(const char *raw, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = raw; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p == '\n')
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            const char *e = strchr(v, '\n');
            return e ? strndup(v, (size_t)(e - v)) : strdup(v);
        }
    }
    return NULL;
}

static void s_run_case(const struct s_case *c)
{
    char *raw = s_read_case(c, "req"), *exp_creq = s_read_case(c, "creq"),
         *exp_sts = s_read_case(c, "sts"), *exp_authz = s_read_case(c, "authz"),
         *exp_sreq = s_read_case(c, "sreq");
    struct bsup_aws_request req;
    struct bsup_aws_credentials creds = {0};
    unsigned flags = 0;
    creds.access_key_id = strdup(S_ACCESS_KEY);
    creds.secret_access_key = strdup(S_SECRET);
    /* The session-token cases: the token is the X-Amz-Security-Token of the signed request;
     * post-sts-token/readme.txt says "header-after" adds it after signing. */
    creds.session_token = s_raw_header(exp_sreq, "X-Amz-Security-Token");
    if (strstr(c->name, "header-after"))
        flags |= BSUP_SIGV4_TOKEN_UNSIGNED;
    if (strstr(c->dir, "/post-sts-token/")) {
        char *readme = bsup_test_read(S_SUITE "/post-sts-token/readme.txt", NULL);
        assert_non_null(readme);
        assert_non_null(creds.session_token);
        assert_non_null(strstr(readme, creds.session_token));
        free(readme);
    }

    s_parse_req(raw, &req);
    /* Lower-level steps first, on the request as the suite gives it (X-Amz-Date present; the
     * token header added beforehand when it is to be signed). */
    struct bsup_aws_request pre;
    s_parse_req(raw, &pre);
    if (creds.session_token && !(flags & BSUP_SIGV4_TOKEN_UNSIGNED) &&
        !bsup_aws_request_header(&pre, "X-Amz-Security-Token"))
        assert_int_equal(
            bsup_aws_request_add_header(&pre, "X-Amz-Security-Token", creds.session_token), 0);
    char *creq = NULL, *sts = NULL, sig[BSUP_SIGV4_HEX_LEN + 1];
    assert_int_equal(bsup_sigv4_canonical_request(&pre, 0, &creq, NULL), 0);
    assert_string_equal(creq, exp_creq);
    assert_int_equal(bsup_sigv4_string_to_sign("20150830T123600Z", S_REGION, S_SERVICE, creq, &sts),
                     0);
    assert_string_equal(sts, exp_sts);
    assert_int_equal(
        bsup_sigv4_signature(&creds, "20150830T123600Z", S_REGION, S_SERVICE, sts, NULL, sig), 0);
    assert_non_null(strstr(exp_authz, sig));

    /* The whole signer, in place. */
    assert_int_equal(bsup_sigv4_sign_ex(&req, &creds, S_REGION, S_SERVICE, S_NOW_S, flags, NULL),
                     0);
    assert_string_equal(bsup_aws_request_header(&req, "Authorization"), exp_authz);
    /* get-vanilla-with-session-token.sreq carries a stale Signature (the one of get-vanilla)
     * that disagrees with its own .authz/.sts; Authorization is checked against .authz above,
     * so the signed request is compared without its Authorization line. */
    char *sreq = s_format_sreq(raw, &req, false);
    s_strip_authz_line(exp_sreq);
    assert_string_equal(sreq, exp_sreq);

    free(sreq);
    free(creq);
    free(sts);
    bsup_aws_request_cleanup(&pre);
    bsup_aws_request_cleanup(&req);
    bsup_aws_credentials_cleanup(&creds);
    free(raw);
    free(exp_creq);
    free(exp_sts);
    free(exp_authz);
    free(exp_sreq);
}

static void test_suite(void **state)
{
    (void)state;
    struct s_cases cases = {0};
    s_collect(S_SUITE, &cases);
    /* README.md: "Every SigV4 implementation should pass all 34 cases." */
    assert_int_equal(cases.n, 34);
    for (size_t i = 0; i < cases.n; i++) {
        print_message("sigv4 case %s\n", cases.v[i].name);
        s_run_case(&cases.v[i]);
    }
    print_message("sigv4: %zu/%zu cases pass\n", cases.n, cases.n);
    free(cases.v);
}

static struct bsup_aws_credentials s_creds(const char *ak, const char *sk, const char *tok)
{
    struct bsup_aws_credentials c = {0};
    c.access_key_id = strdup(ak);
    c.secret_access_key = strdup(sk);
    c.session_token = tok ? strdup(tok) : NULL;
    return c;
}

static void test_cache(void **state)
{
    (void)state;
    struct bsup_sigv4_cache cache;
    struct bsup_aws_credentials a = s_creds(S_ACCESS_KEY, S_SECRET, NULL);
    struct bsup_aws_credentials b = s_creds(S_ACCESS_KEY, "otherSecret", NULL);
    char s1[BSUP_SIGV4_HEX_LEN + 1], s2[BSUP_SIGV4_HEX_LEN + 1], s3[BSUP_SIGV4_HEX_LEN + 1];
    const char *sts =
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
        "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63";

    bsup_sigv4_cache_init(&cache);
    assert_int_equal(
        bsup_sigv4_signature(&a, "20150830T123600Z", S_REGION, S_SERVICE, sts, &cache, s1), 0);
    assert_string_equal(s1, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    assert_int_equal(cache.misses, 1);
    /* Same day, region, service, secret: the cached key gives the same signature. */
    assert_int_equal(
        bsup_sigv4_signature(&a, "20150830T235959Z", S_REGION, S_SERVICE, sts, &cache, s2), 0);
    assert_int_equal(cache.hits, 1);
    assert_string_equal(s2, s1);
    /* Another secret must not reuse the key. */
    assert_int_equal(
        bsup_sigv4_signature(&b, "20150830T123600Z", S_REGION, S_SERVICE, sts, &cache, s3), 0);
    assert_int_equal(cache.misses, 2);
    assert_string_not_equal(s3, s1);
    /* Another region / day miss too. */
    assert_int_equal(
        bsup_sigv4_signature(&a, "20150830T123600Z", "eu-west-1", S_SERVICE, sts, &cache, s3), 0);
    assert_int_equal(
        bsup_sigv4_signature(&a, "20150831T000000Z", "eu-west-1", S_SERVICE, sts, &cache, s3), 0);
    assert_int_equal(cache.misses, 4);
    /* The secret is not stored in the cache. */
    assert_null(memmem(&cache, sizeof(cache), S_SECRET, strlen(S_SECRET)));
    bsup_sigv4_cache_cleanup(&cache);
    assert_int_equal(cache.valid, 0);
    bsup_aws_credentials_cleanup(&a);
    bsup_aws_credentials_cleanup(&b);
}

static void test_resign_and_token(void **state)
{
    (void)state;
    struct bsup_aws_request req;
    struct bsup_aws_credentials c = s_creds(S_ACCESS_KEY, S_SECRET, "TOKEN");
    assert_int_equal(bsup_aws_request_init(&req, "GET", "https", "example.amazonaws.com", "/"), 0);
    /* No Host header: the signer signs req->host. Signing twice replaces, never duplicates. */
    assert_int_equal(bsup_sigv4_sign(&req, &c, S_REGION, S_SERVICE, S_NOW_S, NULL), 0);
    assert_int_equal(bsup_sigv4_sign(&req, &c, S_REGION, S_SERVICE, S_NOW_S + 60, NULL), 0);
    assert_int_equal(req.n_headers, 3);
    assert_string_equal(bsup_aws_request_header(&req, "X-Amz-Date"), "20150830T123700Z");
    assert_string_equal(bsup_aws_request_header(&req, "X-Amz-Security-Token"), "TOKEN");
    assert_non_null(strstr(bsup_aws_request_header(&req, "Authorization"),
                           "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="));
    /* Credentials without a token drop a stale token header. */
    free(c.session_token);
    c.session_token = NULL;
    assert_int_equal(bsup_sigv4_sign(&req, &c, S_REGION, S_SERVICE, S_NOW_S, NULL), 0);
    assert_null(bsup_aws_request_header(&req, "X-Amz-Security-Token"));
    assert_string_equal(
        bsup_aws_request_header(&req, "Authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        "aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* Bad inputs. */
    assert_int_equal(bsup_sigv4_sign(&req, &c, "", S_SERVICE, S_NOW_S, NULL), BSUP_EINVAL);
    assert_int_equal(bsup_sigv4_sign(&req, &c, "us/east", S_SERVICE, S_NOW_S, NULL), BSUP_EINVAL);
    assert_int_equal(bsup_sigv4_sign(&req, &c, S_REGION, S_SERVICE, -1, NULL), BSUP_EINVAL);
    bsup_aws_request_cleanup(&req);
    bsup_aws_credentials_cleanup(&c);
}

/* Canonical-URI and query rules beyond the suite: double encoding, S3 mode, '+' and bad %. */
static void test_canonical_uri_query_table(void **state)
{
    (void)state;
    static const struct {
        const char *path, *query;
        unsigned flags;
        const char *want_uri, *want_query;
    } rows[] = {
        {"/a%20b", NULL, 0, "/a%2520b", ""},
        {"/a%20b", NULL, BSUP_SIGV4_NO_NORMALIZE_PATH, "/a%20b", ""},
        {"//x//./y/../", NULL, BSUP_SIGV4_NO_NORMALIZE_PATH, "//x//./y/../", ""},
        {"/a/b/../../..", NULL, 0, "/", ""},
        {"", "b=2&a=1&a", 0, "/", "a=&a=1&b=2"},
        {"/", "x=a+b&y=%zz&z=%2f", 0, "/", "x=a%2Bb&y=%25zz&z=%2F"},
        {"/", "Action=ListUsers&Version=2010-05-08", 0, "/", "Action=ListUsers&Version=2010-05-08"},
        {"/", "&&a=1&&", 0, "/", "a=1"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_aws_request req;
        char *creq = NULL, want[512];
        assert_int_equal(bsup_aws_request_init(&req, "GET", "https", "h", rows[i].path), 0);
        assert_int_equal(bsup_aws_request_set_query(&req, rows[i].query), 0);
        assert_int_equal(bsup_sigv4_canonical_request(&req, rows[i].flags, &creq, NULL), 0);
        snprintf(want, sizeof(want), "GET\n%s\n%s\nhost:h\n", rows[i].want_uri, rows[i].want_query);
        if (strncmp(creq, want, strlen(want)) != 0)
            fail_msg("row %zu: got\n%s\nwant prefix\n%s", i, creq, want);
        free(creq);
        bsup_aws_request_cleanup(&req);
    }
}

static void test_amz_date(void **state)
{
    (void)state;
    char d[BSUP_SIGV4_AMZ_DATE_LEN + 1];
    assert_int_equal(bsup_sigv4_amz_date(0, d), 0);
    assert_string_equal(d, "19700101T000000Z");
    assert_int_equal(bsup_sigv4_amz_date(S_NOW_S, d), 0);
    assert_string_equal(d, "20150830T123600Z");
    assert_int_equal(bsup_sigv4_amz_date(-5, d), BSUP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_resign_and_token),
        cmocka_unit_test(test_canonical_uri_query_table),
        cmocka_unit_test(test_amz_date),
    };
    return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
