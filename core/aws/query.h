/* AWS request serialisation: Query, the EC2 Query variant and JSON 1.0/1.1.
 * Callers pass parameters under their flattened Query names ("Tags.member.1.Key") or,
 * for JSON services, a jansson object; the serialisers fill a struct bsup_aws_request
 * (method, path, Content-Type, X-Amz-Target, body). Pure: no I/O. */
#ifndef BSUP_CORE_AWS_QUERY_H
#define BSUP_CORE_AWS_QUERY_H

#include "core/aws/model.h"
#include "core/aws/request.h"

#include <jansson.h>
#include <stddef.h>

/* Hard caps: parameter count and serialised body size. */
#define BSUP_AWS_PARAMS_MAX 10000
#define BSUP_AWS_BODY_MAX_BYTES (16u * 1024u * 1024u)

struct bsup_aws_param {
    char *name;
    char *value; /* in name's allocation, after it */
};

/* An ordered list of name=value pairs; zero-initialised is an empty list. */
struct bsup_aws_params {
    struct bsup_aws_param *items;
    size_t n;
    size_t cap;
};

/* Frees (and wipes) every name and value; accepts a zeroed or half-built list. */
void bsup_aws_params_cleanup(struct bsup_aws_params *params);
/* Appends name=value (both copied). 0, BSUP_EINVAL, BSUP_ETOOBIG or BSUP_ENOMEM. */
int bsup_aws_params_add(struct bsup_aws_params *params, const char *name, const char *value);
/* Appends with a printf-formatted name: ("Tags.member.%d.Key", 1) -> value. */
int bsup_aws_params_addf(struct bsup_aws_params *params, const char *value, const char *name_fmt,
                         ...) __attribute__((format(printf, 3, 4)));
/* The value of the first parameter named name, or NULL. */
const char *bsup_aws_params_get(const struct bsup_aws_params *params, const char *name);

/* Flattens structured input (botocore-style JSON for input shape `shape` of `model`) into
 * Query parameters, following Query rules (member lists, flattened lists, locationName,
 * maps entry.N.key/value) or EC2 rules (List.N, queryName, capitalised names) for
 * protocol BSUP_AWS_PROTO_EC2. Timestamps may be epoch numbers or strings. */
int bsup_aws_params_from_json(const struct bsup_shape_model *model, int32_t shape,
                              const json_t *input, enum bsup_aws_protocol protocol,
                              struct bsup_aws_params *out);

/* Query / EC2: POST / with form body "Action=..&Version=..&k=v.." (names and values
 * percent-encoded by core/base/percent.h, RFC 3986, '/' too) and
 * Content-Type application/x-www-form-urlencoded; charset=utf-8. req must be initialised
 * (bsup_aws_request_init); headers are appended, the body replaced. */
int bsup_query_serialize(struct bsup_aws_request *req, const char *action, const char *api_version,
                         const struct bsup_aws_params *params);

/* JSON 1.0/1.1: POST / with X-Amz-Target "<target_prefix>.<action>",
 * Content-Type application/x-amz-json-<json_version> and body (NULL: "{}"). */
int bsup_json_serialize(struct bsup_aws_request *req, const char *target_prefix,
                        const char *json_version, const char *action, const json_t *body);

/* Converts structured input into the JSON wire body for input shape `shape`: member
 * locationNames, timestamps (epoch numbers by default), blobs base64. *out is new. */
int bsup_json_body_from_input(const struct bsup_shape_model *model, int32_t shape,
                              const json_t *input, json_t **out);

/* Serialises one operation of the generated tables: Query/EC2 from params, JSON from
 * json_input (params must then be NULL, and vice versa). */
int bsup_aws_serialize(struct bsup_aws_request *req, const struct bsup_aws_operation *op,
                       const struct bsup_aws_params *params, const json_t *json_input);

#endif
