/* AWS responses (core/aws/response.c, results.c): the first byte picks an operation of the
 * generated table (bsup_aws_operations, modulo its size); the rest is the body. The body is
 * parsed as that operation's success response (XML for Query/EC2, JSON for JSON services),
 * paged and read into its typed result; then as an error response, whose headers are, when the
 * first byte's top bit is set, taken from the body's first line. */
#include "tests/fuzz/fuzz.h"

#include "core/aws/model.h"
#include "core/aws/response.h"
#include "core/aws/results.h"
#include "core/base/error.h"

#include <stdbool.h>
#include <string.h>

static void s_success(const struct bsup_aws_operation *op, const uint8_t *body, size_t len)
{
    json_t *page = NULL;
    int rc = bsup_aws_parse_response(op, body, len, &page);
    if (rc < 0) {
        BSUP_FUZZ_CHECK(page == NULL);
        return;
    }
    BSUP_FUZZ_CHECK(json_is_object(page));
    const char *token = bsup_aws_next_token(op, page);
    BSUP_FUZZ_CHECK(token == NULL || token[0] != '\0');
    const struct bsup_aws_service *svc = bsup_aws_operation_service(op);
    const struct bsup_aws_record *rec = bsup_aws_result_find(svc->id, op->action);
    if (rec) {
        void *typed = malloc(rec->size);
        BSUP_FUZZ_CHECK(typed != NULL);
        if (bsup_aws_record_parse(rec, page, typed) == 0)
            bsup_aws_record_cleanup(rec, typed);
        free(typed);
    }
    bsup_aws_json_wipe(page);
    json_decref(page);
}

static void s_error(bool with_headers, const uint8_t *body, size_t len)
{
    struct bsup_aws_header headers[3];
    size_t n_headers = 0;
    char *line = NULL;
    if (with_headers) {
        const uint8_t *nl = memchr(body, '\n', len);
        size_t n = nl ? (size_t)(nl - body) : len;
        line = strndup((const char *)body, n);
        BSUP_FUZZ_CHECK(line != NULL);
        headers[n_headers++] = (struct bsup_aws_header){"x-amzn-query-error", line};
        headers[n_headers++] = (struct bsup_aws_header){"X-Amzn-ErrorType", line};
        headers[n_headers++] = (struct bsup_aws_header){"x-amz-request-id", line};
        body += nl ? n + 1 : n;
        len -= nl ? n + 1 : n;
    }
    struct bsup_aws_error err;
    int rc = bsup_aws_error_parse(400, headers, n_headers, body, len, &err);
    BSUP_FUZZ_CHECK(rc == 0 || rc == BSUP_EPARSE || rc == BSUP_ETOOBIG);
    BSUP_FUZZ_CHECK(err.http_status == 400);
    BSUP_FUZZ_CHECK(memchr(err.code, '\0', sizeof(err.code)) != NULL);
    BSUP_FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    BSUP_FUZZ_CHECK(memchr(err.request_id, '\0', sizeof(err.request_id)) != NULL);
    BSUP_FUZZ_CHECK((rc == 0) == (err.code[0] != '\0'));
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct bsup_aws_operation *op = &bsup_aws_operations[data[0] % bsup_aws_n_operations];
    s_success(op, data + 1, size - 1);
    s_error((data[0] & 0x80) != 0, data + 1, size - 1);
    return 0;
}
