/* AWS error messages are stored and shown redacted: no signing details, tokens, credentials,
 * signatures or access key ids. */
#include "tests/lib/testlib.h"

#include "core/aws/response.h"

#include <stdio.h>
#include <string.h>

static void test_table(void **state)
{
    (void)state;
    struct {
        const char *in, *want;
    } rows[] = {
        {"Rate exceeded", "Rate exceeded"},
        {"The request signature we calculated does not match the signature you provided. The "
         "Canonical String for this request should have been\n'POST\n/\n\nhost:x\n"
         "x-amz-security-token:IQoJb3JpZ2luX2VjEJr...'",
         "The request signature we calculated does not match the signature you provided. "
         "[signing details redacted]"},
        {"The String-to-Sign should have been 'AWS4-HMAC-SHA256\n2026...'",
         "[signing details redacted]"},
        {"bad X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr&X-Amz-Date=1",
         "bad X-Amz-Security-Token=<redacted>&X-Amz-Date=1"},
        {"Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, Signature=5d672d79c1",
         "Credential=<redacted>, Signature=<redacted>"},
        {"The security token included in the request is invalid: key ASIAIOSFODNN7EXAMPLE",
         "The security token included in the request is invalid: key ASIA<redacted>"},
        {"user AKIAIOSFODNN7EXAMPLE is not authorized", "user AKIA<redacted> is not authorized"},
        {"AKIA is a prefix", "AKIA is a prefix"},
        {"cannot read RoleArn=r&WebIdentityToken=eyJhbGciOi.eyJzdWIi.c2ln&x=1",
         "cannot read RoleArn=r&WebIdentityToken=<redacted>&x=1"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", rows[i].in);
        bsup_aws_redact(msg);
        if (strcmp(msg, rows[i].want) != 0)
            fail_msg("row %zu: got \"%s\", want \"%s\"", i, msg, rows[i].want);
    }
}

/* A message as long as the field, its keys' masks longer than their values: the redacted text
 * is cut, never written past the field, and no value is left half masked (the fuzzer found
 * the overflow: tests/fuzz/regressions/aws_response). */
static void test_full_field(void **state)
{
    (void)state;
    const char *keys[] = {"signature= ab ", "aws_secret_access_key=ab ", "AKIAIOSFODNN7EXAMPLE "};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t lead = 0; lead < 40; lead++) {
            char msg[512];
            size_t n = 0;
            memset(msg, 'x', lead);
            n = lead;
            while (n + strlen(keys[k]) < sizeof(msg)) {
                memcpy(msg + n, keys[k], strlen(keys[k]));
                n += strlen(keys[k]);
            }
            msg[n] = 0;
            bsup_aws_redact(msg);
            assert_true(strlen(msg) < sizeof(msg));
            assert_null(strstr(msg, "=ab"));
            assert_null(strstr(msg, "= ab"));
            assert_null(strstr(msg, "IOSFODNN7"));
        }
    }
}

/* Through the error parser: what AWS says is what callers see, redacted. */
static void test_parsed(void **state)
{
    (void)state;
    const char *body = "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch"
                       "</Code><Message>Signature mismatch. The Canonical String for this "
                       "request should have been 'secret-ish'</Message></Error>"
                       "<RequestId>r-1</RequestId></ErrorResponse>";
    struct bsup_aws_error err;
    assert_int_equal(bsup_aws_error_parse(403, NULL, 0, body, strlen(body), &err), 0);
    assert_string_equal(err.code, "SignatureDoesNotMatch");
    assert_string_equal(err.message, "Signature mismatch. [signing details redacted]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table),
                                       cmocka_unit_test(test_full_field),
                                       cmocka_unit_test(test_parsed)};
    return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
