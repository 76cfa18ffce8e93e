/* AWS service models: the subset of botocore's shapes the codecs walk, as plain tables.
 * The static tables come from tools/gen_aws_model.py (core/aws/model_gen.c); tests load
 * the same structures from JSON (bsup_shape_model_load_json). Pure data, no I/O. */
#ifndef BSUP_CORE_AWS_MODEL_H
#define BSUP_CORE_AWS_MODEL_H

#include "core/aws/services.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bsup_shape_type {
    BSUP_SHAPE_STRUCTURE = 1,
    BSUP_SHAPE_LIST,
    BSUP_SHAPE_MAP,
    BSUP_SHAPE_STRING,
    BSUP_SHAPE_INTEGER,
    BSUP_SHAPE_LONG,
    BSUP_SHAPE_BOOLEAN,
    BSUP_SHAPE_FLOAT,
    BSUP_SHAPE_DOUBLE,
    BSUP_SHAPE_TIMESTAMP,
    BSUP_SHAPE_BLOB,
};

/* Shape flags. */
#define BSUP_SHAPE_F_FLATTENED 0x01u /* list/map (shape or member): no wrapper element */
#define BSUP_SHAPE_F_SENSITIVE 0x02u /* value is a secret */
/* Member flags. */
#define BSUP_SHAPE_F_ATTRIBUTE 0x04u   /* XML attribute, not element */
#define BSUP_SHAPE_F_NOT_BODY 0x08u    /* bound to a header/URI, not the body */
#define BSUP_SHAPE_F_IDEMPOTENCY 0x10u /* idempotency token */
/* Shape or member flag. */
#define BSUP_SHAPE_F_DOCUMENT 0x20u /* free-form JSON document */

/* A structure member, a list's "member", or a map's "key" and "value". */
struct bsup_shape_member {
    const char *name;          /* member name in the parsed result */
    const char *location_name; /* wire name (locationName) or NULL: name */
    const char *query_name;    /* EC2 queryName or NULL */
    int32_t shape;             /* index into the model's shapes */
    uint32_t flags;
};

struct bsup_shape {
    const char *name;
    enum bsup_shape_type type;
    uint32_t flags;
    uint32_t first_member;        /* index into the model's members */
    uint32_t n_members;           /* structure: members; list: 1; map: 2 (key, value) */
    const char *timestamp_format; /* "iso8601", "unixTimestamp", ... or NULL */
};

struct bsup_shape_model {
    const struct bsup_shape *shapes;
    size_t n_shapes;
    const struct bsup_shape_member *members;
    size_t n_members;
};

/* Per-service protocol metadata (ours; the endpoints table owns hosts and regions). */
struct bsup_aws_service {
    const char *id;              /* "autoscaling", "monitoring", ... */
    const char *endpoint_prefix; /* "elasticloadbalancing" */
    const char *signing_name;
    enum bsup_aws_protocol protocol;
    const char *api_version;   /* Query "Version=" */
    const char *target_prefix; /* JSON X-Amz-Target prefix or NULL */
    const char *json_version;  /* "1.0" / "1.1" or NULL */
    struct bsup_shape_model model;
};

struct bsup_aws_operation {
    uint32_t service; /* index into bsup_aws_services */
    const char *action;
    int32_t input_shape;        /* -1: none (or not generated) */
    int32_t output_shape;       /* -1: none */
    const char *result_wrapper; /* Query "<Action>Result" or NULL */
    const char *input_token;    /* paging: request parameter, or NULL if not paged */
    const char *output_token;   /* paging: member of the parsed result */
    bool called;                /* bsupd calls it (input shapes generated) */
};

extern const struct bsup_aws_service bsup_aws_services[];
extern const size_t bsup_aws_n_services;
extern const struct bsup_aws_operation bsup_aws_operations[];
extern const size_t bsup_aws_n_operations;

/* The service with that id, or NULL. */
const struct bsup_aws_service *bsup_aws_service_find(const char *id);
/* The model whose endpoint prefix is endpoint_prefix ("monitoring" for CloudWatch), or NULL. */
const struct bsup_aws_service *bsup_aws_service_by_prefix(const char *endpoint_prefix);
/* The operation of service id named action, or NULL. */
const struct bsup_aws_operation *bsup_aws_operation_find(const char *service_id,
                                                         const char *action);
/* The service an operation belongs to. */
const struct bsup_aws_service *bsup_aws_operation_service(const struct bsup_aws_operation *op);

/* Shape by index (NULL when out of range) and by name (-1 when absent). */
const struct bsup_shape *bsup_shape_get(const struct bsup_shape_model *model, int32_t index);
int32_t bsup_shape_find(const struct bsup_shape_model *model, const char *name);
/* The i-th member of a shape (NULL when out of range). */
const struct bsup_shape_member *bsup_shape_member(const struct bsup_shape_model *model,
                                                  const struct bsup_shape *shape, uint32_t i);

/* Builds a model from botocore-style JSON {"ShapeName": {"type": ..., ...}, ...}
 * (as in protocol tests). *out_model is heap-owned; free with bsup_shape_model_free.
 * 0, BSUP_EINVAL (unknown shape reference or type) or BSUP_ENOMEM. */
int bsup_shape_model_load_json(const json_t *shapes, struct bsup_shape_model **out_model);
/* Frees a model from bsup_shape_model_load_json; NULL is fine. */
void bsup_shape_model_free(struct bsup_shape_model *model);

#endif
