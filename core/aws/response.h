/* AWS response parsing: XML (Query, EC2) and JSON bodies into jansson trees shaped like
 * botocore's parse, driven by the service model; error bodies of every protocol; and
 * generic pagination. expat and jansson do the parsing. Pure: no I/O. */
#ifndef BSUP_CORE_AWS_RESPONSE_H
#define BSUP_CORE_AWS_RESPONSE_H

#include "core/aws/model.h"
#include "core/aws/request.h"

#include <jansson.h>
#include <stddef.h>

/* Hard caps: larger or deeper responses are refused with BSUP_ETOOBIG. */
#define BSUP_AWS_RESPONSE_MAX_BYTES (16u * 1024u * 1024u)
#define BSUP_AWS_RESPONSE_MAX_DEPTH 64

/* Converts an XML response body into a JSON object following output shape `shape`
 * (-1: no output members): Query strips <XResponse><XResult> (result_wrapper), EC2 has no
 * wrapper; namespaces are ignored; lists are arrays, integers/booleans/floats typed,
 * timestamps stay strings, absent members are omitted; ResponseMetadata.RequestId is
 * added. Network access and entity expansion are off; documents with a DTD are refused.
 * 0, BSUP_EPARSE, BSUP_ETOOBIG, BSUP_EINVAL or BSUP_ENOMEM. */
int bsup_aws_xml_parse(const struct bsup_shape_model *model, int32_t shape,
                       const char *result_wrapper, enum bsup_aws_protocol protocol,
                       const void *body, size_t len, json_t **out);

/* Parses a JSON 1.0/1.1 response body (empty body: {}); must be an object. With a model
 * and shape >= 0 only modelled members are kept (wire locationName -> member name) and
 * nulls are dropped, as botocore does; model NULL keeps the body as sent. */
int bsup_aws_json_parse(const struct bsup_shape_model *model, int32_t shape, const void *body,
                        size_t len, json_t **out);

/* Zeroes every string value of a parsed tree in place (call before json_decref on a
 * response that carried a secret: GetSecretValue, GetParameter with decryption). The
 * caller still owns and wipes the raw body buffer. */
void bsup_aws_json_wipe(json_t *v);

/* Parses a successful response of a generated operation with its service's protocol. Safe on
 * any thread: it touches only its arguments, the static model tables, a parser of its own
 * and new jansson values. */
int bsup_aws_parse_response(const struct bsup_aws_operation *op, const void *body, size_t len,
                            json_t **out);

/* An AWS error, whatever the protocol. */
struct bsup_aws_error {
    int http_status;
    char code[128]; /* "Throttling", "DBInstanceNotFound" (no namespace, no URI) */
    char message[512];
    char request_id[128];
};

/* Removes what must never reach a log, status, event or the database from an AWS error
 * message (at most sizeof(struct bsup_aws_error.message) bytes), in place: everything from a
 * canonical request or string-to-sign on, values of X-Amz-Security-Token, Credential,
 * Signature, secret keys and WebIdentityToken, and access key ids. */
void bsup_aws_redact(char *msg);

/* Parses an error response: Query <ErrorResponse>, EC2 <Response><Errors>, JSON __type/code
 * (or the x-amzn-query-error / x-amzn-ErrorType headers), request id from the body or the
 * x-amzn-RequestId / x-amz-request-id headers; the message redacted (bsup_aws_redact). Always
 * fills what it can (status, request id); returns 0 when a code was found, BSUP_EPARSE when
 * the body was not understood. */
int bsup_aws_error_parse(int http_status, const struct bsup_aws_header *headers, size_t n_headers,
                         const void *body, size_t len, struct bsup_aws_error *out);

/* Pagination: the token to send as op->input_token for the next page, or NULL when the
 * page is the last one (or the operation is not paged). Points into page. */
const char *bsup_aws_next_token(const struct bsup_aws_operation *op, const json_t *page);

#endif
