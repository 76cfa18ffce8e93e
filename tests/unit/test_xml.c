/* Golden AWS responses: every aws-responses/<svc>/X.xml parsed with the generated model (bsupd's
 * operations, or the golden-test table for the others) must equal botocore's parse X.json;
 * every errors/X.xml must give botocore's Error. */
#include "tests/lib/testlib.h"
#include "tests/lib/model_test.h"

#include "core/aws/model.h"
#include "core/aws/response.h"
#include "core/base/error.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* aws-responses/<service>/: our service names. */
static const char *const s_dirs[] = {"autoscaling", "elbv2", "rds", "cloudwatch",
                                     "sns",         "sts",   "ec2"};

/* "ec2-describe-instances.xml" -> the operation whose name is "describeinstances", from
 * bsupd's table or the golden-test one. */
static const struct bsup_aws_operation *s_op_for(const char *service, const char *file)
{
    char key[256];
    size_t k = 0;
    const char *p = strchr(file, '-');
    for (p = p ? p + 1 : file; *p && *p != '.' && k + 1 < sizeof(key); p++)
        if (*p != '-')
            key[k++] = (char)tolower((unsigned char)*p);
    key[k] = '\0';
    return bsup_test_aws_operation_find(service, key);
}

static json_t *s_load_json(const char *path)
{
    json_error_t err;
    return json_load_file(path, 0, &err);
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_golden_responses(void **state)
{
    (void)state;
    int total = 0, passed = 0, paged = 0;
    for (size_t d = 0; d < sizeof(s_dirs) / sizeof(s_dirs[0]); d++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/aws-responses/%s", BSUP_TESTDATA, s_dirs[d]);
        DIR *dh = opendir(dir);
        assert_non_null(dh);
        struct dirent *de;
        while ((de = readdir(dh))) {
            if (!s_ends_with(de->d_name, ".xml"))
                continue;
            char path[1024], jpath[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            snprintf(jpath, sizeof(jpath), "%.*s.json", (int)(strlen(path) - 4), path);
            total++;
            const struct bsup_aws_operation *op = s_op_for(s_dirs[d], de->d_name);
            size_t len;
            char *body = bsup_test_read(path, &len);
            json_t *want = s_load_json(jpath), *got = NULL;
            assert_non_null(body);
            assert_non_null(want);
            int rc = op ? bsup_aws_parse_response(op, body, len, &got) : BSUP_ENOTFOUND;
            if (rc == 0 && json_equal(got, want)) {
                passed++;
                /* Paging: the generic helper finds what botocore's parse holds. */
                const char *next = bsup_aws_next_token(op, got);
                const char *want_next =
                    op->output_token ? json_string_value(json_object_get(want, op->output_token))
                                     : NULL;
                if (want_next && *want_next) {
                    assert_non_null(next);
                    assert_string_equal(next, want_next);
                    paged++;
                } else {
                    assert_null(next);
                }
            } else {
                char *g = got ? json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
                char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
                fprintf(stderr, "MISMATCH %s rc=%d\n  got  %.600s\n  want %.600s\n", path, rc,
                        g ? g : "(null)", w);
                free(g);
                free(w);
            }
            json_decref(got);
            json_decref(want);
            free(body);
        }
        closedir(dh);
    }
    fprintf(stderr, "golden responses: %d/%d pass, %d with a next-page token\n", passed, total,
            paged);
    assert_true(total >= 100);
    assert_int_equal(passed, total);
}

static void test_golden_errors(void **state)
{
    (void)state;
    int total = 0;
    for (size_t d = 0; d < sizeof(s_dirs) / sizeof(s_dirs[0]); d++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/aws-responses/%s/errors", BSUP_TESTDATA, s_dirs[d]);
        DIR *dh = opendir(dir);
        if (!dh)
            continue;
        struct dirent *de;
        while ((de = readdir(dh))) {
            if (!s_ends_with(de->d_name, ".xml"))
                continue;
            char path[1024], jpath[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            snprintf(jpath, sizeof(jpath), "%.*s.json", (int)(strlen(path) - 4), path);
            size_t len;
            char *body = bsup_test_read(path, &len);
            json_t *want = s_load_json(jpath);
            assert_non_null(body);
            assert_non_null(want);
            struct bsup_aws_error e;
            assert_int_equal(bsup_aws_error_parse(400, NULL, 0, body, len, &e), 0);
            assert_int_equal(e.http_status, 400);
            assert_string_equal(
                e.code, json_string_value(json_object_get(json_object_get(want, "Error"), "Code")));
            assert_string_equal(e.message, json_string_value(json_object_get(
                                               json_object_get(want, "Error"), "Message")));
            assert_string_equal(e.request_id,
                                json_string_value(json_object_get(
                                    json_object_get(want, "ResponseMetadata"), "RequestId")));
            total++;
            json_decref(want);
            free(body);
        }
        closedir(dh);
    }
    fprintf(stderr, "golden errors: %d pass\n", total);
    assert_int_equal(total, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_responses),
        cmocka_unit_test(test_golden_errors),
    };
    return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
