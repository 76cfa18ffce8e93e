/* Query, EC2 Query and JSON 1.0/1.1 request serialisation. */
#include "core/aws/query.h"

#include "core/aws/wire.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/base/percent.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NAME_MAX 1024 /* longest flattened parameter name */
#define S_DEPTH_MAX 32

void bsup_aws_params_cleanup(struct bsup_aws_params *params)
{
    if (!params)
        return;
    for (size_t i = 0; i < params->n; i++) {
        struct bsup_aws_param *p = &params->items[i];
        if (p->value)
            bsup_secure_zero(p->value, strlen(p->value));
        free(p->name); /* the value lives in the same allocation */
    }
    free(params->items);
    *params = (struct bsup_aws_params){0};
}

int bsup_aws_params_add(struct bsup_aws_params *params, const char *name, const char *value)
{
    if (!params || !name || !*name || !value)
        return BSUP_EINVAL;
    if (params->n >= BSUP_AWS_PARAMS_MAX)
        return BSUP_ETOOBIG;
    if (BSUP_ARRAY_RESERVE(params->items, params->cap, params->n + 1) < 0)
        return BSUP_ENOMEM;
    /* One allocation for both: a PutMetricData of 1000 datums is 9000 parameters. */
    size_t name_len = strlen(name) + 1, value_len = strlen(value) + 1;
    char *both = malloc(name_len + value_len);
    if (!both)
        return BSUP_ENOMEM;
    memcpy(both, name, name_len);
    memcpy(both + name_len, value, value_len);
    params->items[params->n++] = (struct bsup_aws_param){both, both + name_len};
    return 0;
}

int bsup_aws_params_addf(struct bsup_aws_params *params, const char *value, const char *name_fmt,
                         ...)
{
    char name[S_NAME_MAX];
    va_list ap;
    va_start(ap, name_fmt);
    int n = vsnprintf(name, sizeof(name), name_fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(name))
        return BSUP_ETOOBIG;
    return bsup_aws_params_add(params, name, value);
}

const char *bsup_aws_params_get(const struct bsup_aws_params *params, const char *name)
{
    for (size_t i = 0; params && name && i < params->n; i++)
        if (strcmp(params->items[i].name, name) == 0)
            return params->items[i].value;
    return NULL;
}

/* ---- structured input -> flattened Query names ---- */

struct s_flatten {
    const struct bsup_shape_model *model;
    int ec2;
    struct bsup_aws_params *out;
};

static int s_join(char *dst, size_t size, const char *prefix, const char *name)
{
    int n = *prefix ? snprintf(dst, size, "%s.%s", prefix, name) : snprintf(dst, size, "%s", name);
    return n < 0 || (size_t)n >= size ? BSUP_ETOOBIG : 0;
}

/* The wire name of a member: Query uses locationName; EC2 queryName, else the
 * capitalised locationName, else the member name. */
static void s_member_wire_name(const struct s_flatten *f, const struct bsup_shape_member *m,
                               const char *dflt, char *buf, size_t size)
{
    if (f->ec2 && m->query_name) {
        snprintf(buf, size, "%s", m->query_name);
    } else if (m->location_name) {
        snprintf(buf, size, "%s", m->location_name);
        if (f->ec2 && buf[0] >= 'a' && buf[0] <= 'z')
            buf[0] = (char)(buf[0] - 'a' + 'A'); /* ASCII, whatever the locale */
    } else {
        snprintf(buf, size, "%s", dflt);
    }
}

static int s_scalar_text(const struct bsup_shape *sh, const json_t *v, char *buf, size_t size,
                         char **out_alloc)
{
    *out_alloc = NULL;
    switch (sh->type) {
    case BSUP_SHAPE_BOOLEAN:
        if (!json_is_boolean(v))
            return BSUP_EINVAL;
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
        return 0;
    case BSUP_SHAPE_INTEGER:
    case BSUP_SHAPE_LONG:
        if (json_is_integer(v)) {
            snprintf(buf, size, "%lld", (long long)json_integer_value(v));
            return 0;
        }
        break;
    case BSUP_SHAPE_FLOAT:
    case BSUP_SHAPE_DOUBLE:
        if (json_is_number(v))
            return bsup_wire_format_double(json_number_value(v), buf, size);
        break;
    case BSUP_SHAPE_TIMESTAMP:
        if (json_is_number(v))
            return bsup_wire_format_timestamp(json_number_value(v), sh->timestamp_format, buf,
                                              size);
        break;
    case BSUP_SHAPE_BLOB:
        if (json_is_string(v))
            return bsup_wire_base64_encode(json_string_value(v), json_string_length(v), out_alloc);
        return BSUP_EINVAL;
    default:
        break;
    }
    if (!json_is_string(v))
        return BSUP_EINVAL;
    if (json_string_length(v) >= size)
        return (*out_alloc = strdup(json_string_value(v))) ? 0 : BSUP_ENOMEM;
    snprintf(buf, size, "%s", json_string_value(v));
    return 0;
}

static int s_flatten(struct s_flatten *f, int32_t shape, uint32_t mflags, const json_t *v,
                     const char *prefix, int depth)
{
    const struct bsup_shape *sh = bsup_shape_get(f->model, shape);
    char name[S_NAME_MAX], wire[256];
    int rc;
    if (!sh)
        return BSUP_EINVAL;
    if (depth > S_DEPTH_MAX)
        return BSUP_ETOOBIG;
    if (json_is_null(v))
        return 0;
    switch (sh->type) {
    case BSUP_SHAPE_STRUCTURE: {
        const char *key;
        json_t *mv;
        if (!json_is_object(v))
            return BSUP_EINVAL;
        json_object_foreach((json_t *)v, key, mv)
        {
            const struct bsup_shape_member *m = NULL;
            for (uint32_t i = 0; i < sh->n_members && !m; i++) {
                const struct bsup_shape_member *c = bsup_shape_member(f->model, sh, i);
                if (c && strcmp(c->name, key) == 0)
                    m = c;
            }
            if (!m)
                return BSUP_EINVAL;
            if (m->flags & BSUP_SHAPE_F_NOT_BODY)
                continue;
            s_member_wire_name(f, m, key, wire, sizeof(wire));
            const struct bsup_shape *msh = bsup_shape_get(f->model, m->shape);
            /* A flattened list whose member has a locationName takes that name. */
            if (!f->ec2 && msh && msh->type == BSUP_SHAPE_LIST &&
                ((msh->flags | m->flags) & BSUP_SHAPE_F_FLATTENED)) {
                const struct bsup_shape_member *lm = bsup_shape_member(f->model, msh, 0);
                if (lm && lm->location_name)
                    snprintf(wire, sizeof(wire), "%s", lm->location_name);
            }
            if ((rc = s_join(name, sizeof(name), prefix, wire)) < 0 ||
                (rc = s_flatten(f, m->shape, m->flags, mv, name, depth + 1)) < 0)
                return rc;
        }
        return 0;
    }
    case BSUP_SHAPE_LIST: {
        const struct bsup_shape_member *lm = bsup_shape_member(f->model, sh, 0);
        if (!json_is_array(v) || !lm)
            return BSUP_EINVAL;
        if (json_array_size(v) == 0)
            return f->ec2 ? 0 : bsup_aws_params_add(f->out, prefix, "");
        char list_prefix[S_NAME_MAX];
        if (f->ec2 || ((sh->flags | mflags) & BSUP_SHAPE_F_FLATTENED))
            snprintf(list_prefix, sizeof(list_prefix), "%s", prefix);
        else if ((rc = s_join(list_prefix, sizeof(list_prefix), prefix,
                              lm->location_name ? lm->location_name : "member")) < 0)
            return rc;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            int n = snprintf(name, sizeof(name), "%s.%zu", list_prefix, i + 1);
            if (n < 0 || (size_t)n >= sizeof(name))
                return BSUP_ETOOBIG;
            if ((rc = s_flatten(f, lm->shape, lm->flags, e, name, depth + 1)) < 0)
                return rc;
        }
        return 0;
    }
    case BSUP_SHAPE_MAP: {
        const struct bsup_shape_member *km = bsup_shape_member(f->model, sh, 0);
        const struct bsup_shape_member *vm = bsup_shape_member(f->model, sh, 1);
        if (!json_is_object(v) || !km || !vm)
            return BSUP_EINVAL;
        const char *key;
        json_t *mv;
        size_t i = 0;
        json_object_foreach((json_t *)v, key, mv)
        {
            i++;
            const char *ks = km->location_name ? km->location_name : "key";
            const char *vs = vm->location_name ? vm->location_name : "value";
            const char *entry = ((sh->flags | mflags) & BSUP_SHAPE_F_FLATTENED) ? "" : ".entry";
            json_t *kj = json_string(key);
            if (!kj)
                return BSUP_ENOMEM;
            int n = snprintf(name, sizeof(name), "%s%s.%zu.%s", prefix, entry, i, ks);
            rc = n < 0 || (size_t)n >= sizeof(name)
                     ? BSUP_ETOOBIG
                     : s_flatten(f, km->shape, 0, kj, name, depth + 1);
            json_decref(kj);
            if (rc < 0)
                return rc;
            n = snprintf(name, sizeof(name), "%s%s.%zu.%s", prefix, entry, i, vs);
            if (n < 0 || (size_t)n >= sizeof(name))
                return BSUP_ETOOBIG;
            if ((rc = s_flatten(f, vm->shape, vm->flags, mv, name, depth + 1)) < 0)
                return rc;
        }
        return 0;
    }
    default: {
        char buf[128], *alloc = NULL;
        if ((rc = s_scalar_text(sh, v, buf, sizeof(buf), &alloc)) < 0)
            return rc;
        rc = bsup_aws_params_add(f->out, prefix, alloc ? alloc : buf);
        free(alloc);
        return rc;
    }
    }
}

int bsup_aws_params_from_json(const struct bsup_shape_model *model, int32_t shape,
                              const json_t *input, enum bsup_aws_protocol protocol,
                              struct bsup_aws_params *out)
{
    struct s_flatten f = {model, protocol == BSUP_AWS_PROTO_EC2, out};
    if (!model || !out || !input)
        return BSUP_EINVAL;
    return s_flatten(&f, shape, 0, input, "", 0);
}

/* ---- form body ---- */

/* Percent-encodes s for the form body, a space as '+' as botocore's urlencode writes it:
 * AWS reads both, and a verifier that rebuilds the body from the parsed form (moto does, for
 * SNS) gets the same bytes back. The body is hashed as sent, so signing is unaffected. */
static void s_form_encode(struct bsup_buf *b, const char *s)
{
    for (const char *sp; (sp = strchr(s, ' ')); s = sp + 1) {
        bsup_percent_encode(b, s, (size_t)(sp - s), 0);
        bsup_buf_putc(b, '+');
    }
    bsup_percent_encode(b, s, strlen(s), 0);
}

static void s_pair(struct bsup_buf *b, const char *name, const char *value)
{
    if (b->len)
        bsup_buf_putc(b, '&');
    s_form_encode(b, name);
    bsup_buf_putc(b, '=');
    s_form_encode(b, value);
}

int bsup_query_serialize(struct bsup_aws_request *req, const char *action, const char *api_version,
                         const struct bsup_aws_params *params)
{
    /* Parameters may carry secrets (SNS messages): the buffer is wiped. */
    struct bsup_buf b = BSUP_BUF_INIT(BSUP_AWS_BODY_MAX_BYTES, BSUP_BUF_WIPE);
    int rc = BSUP_EINVAL;
    if (!req || !action || !api_version)
        goto out;
    s_pair(&b, "Action", action);
    s_pair(&b, "Version", api_version);
    for (size_t i = 0; params && i < params->n; i++)
        s_pair(&b, params->items[i].name, params->items[i].value);
    if ((rc = b.err) < 0)
        goto out;
    snprintf(req->method, sizeof(req->method), "POST");
    if ((rc = bsup_aws_request_add_header(
             req, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8")) < 0 ||
        (rc = bsup_aws_request_set_body(req, b.data, b.len)) < 0)
        goto out;
    rc = 0;
out:
    bsup_buf_cleanup(&b);
    return rc;
}

/* ---- JSON ---- */

static int s_json_body(const struct bsup_shape_model *model, int32_t shape, const json_t *v,
                       int depth, json_t **out)
{
    const struct bsup_shape *sh = bsup_shape_get(model, shape);
    int rc = 0;
    *out = NULL;
    if (!sh)
        return BSUP_EINVAL;
    if (depth > S_DEPTH_MAX)
        return BSUP_ETOOBIG;
    if (sh->flags & BSUP_SHAPE_F_DOCUMENT) {
        *out = json_deep_copy(v);
        return *out ? 0 : BSUP_ENOMEM;
    }
    switch (sh->type) {
    case BSUP_SHAPE_STRUCTURE:
    case BSUP_SHAPE_MAP: {
        const char *key;
        json_t *mv;
        if (!json_is_object(v))
            return BSUP_EINVAL;
        json_t *obj = json_object();
        if (!obj)
            return BSUP_ENOMEM;
        json_object_foreach((json_t *)v, key, mv)
        {
            int32_t ms = -1;
            const char *wire = key;
            if (sh->type == BSUP_SHAPE_MAP) {
                const struct bsup_shape_member *vm = bsup_shape_member(model, sh, 1);
                ms = vm ? vm->shape : -1;
            } else {
                for (uint32_t i = 0; i < sh->n_members; i++) {
                    const struct bsup_shape_member *c = bsup_shape_member(model, sh, i);
                    if (c && strcmp(c->name, key) == 0) {
                        ms = c->shape;
                        wire = c->location_name ? c->location_name : key;
                        if (c->flags & BSUP_SHAPE_F_NOT_BODY)
                            ms = -2;
                    }
                }
            }
            if (ms == -2 || json_is_null(mv))
                continue;
            json_t *child;
            if ((rc = s_json_body(model, ms, mv, depth + 1, &child)) < 0 ||
                (rc = json_object_set_new(obj, wire, child) ? BSUP_ENOMEM : 0) < 0) {
                json_decref(obj);
                return rc;
            }
        }
        *out = obj;
        return 0;
    }
    case BSUP_SHAPE_LIST: {
        const struct bsup_shape_member *lm = bsup_shape_member(model, sh, 0);
        size_t i;
        json_t *e;
        if (!json_is_array(v) || !lm)
            return BSUP_EINVAL;
        json_t *arr = json_array();
        if (!arr)
            return BSUP_ENOMEM;
        json_array_foreach(v, i, e)
        {
            json_t *child;
            if ((rc = s_json_body(model, lm->shape, e, depth + 1, &child)) < 0 ||
                (rc = json_array_append_new(arr, child) ? BSUP_ENOMEM : 0) < 0) {
                json_decref(arr);
                return rc;
            }
        }
        *out = arr;
        return 0;
    }
    case BSUP_SHAPE_TIMESTAMP:
        if (json_is_number(v)) {
            const char *fmt = sh->timestamp_format ? sh->timestamp_format : "unixTimestamp";
            double t = json_number_value(v);
            if (strcmp(fmt, "unixTimestamp") == 0) {
                *out = t == floor(t) ? json_integer((json_int_t)t) : json_real(t);
            } else {
                char buf[64];
                if ((rc = bsup_wire_format_timestamp(t, fmt, buf, sizeof(buf))) < 0)
                    return rc;
                *out = json_string(buf);
            }
            return *out ? 0 : BSUP_ENOMEM;
        }
        break;
    case BSUP_SHAPE_BLOB:
        if (json_is_string(v)) {
            char *b64;
            if ((rc = bsup_wire_base64_encode(json_string_value(v), json_string_length(v), &b64)) <
                0)
                return rc;
            *out = json_string(b64);
            free(b64);
            return *out ? 0 : BSUP_ENOMEM;
        }
        return BSUP_EINVAL;
    default:
        break;
    }
    *out = json_deep_copy(v);
    return *out ? 0 : BSUP_ENOMEM;
}

int bsup_json_body_from_input(const struct bsup_shape_model *model, int32_t shape,
                              const json_t *input, json_t **out)
{
    if (!model || !input || !out)
        return BSUP_EINVAL;
    return s_json_body(model, shape, input, 0, out);
}

int bsup_json_serialize(struct bsup_aws_request *req, const char *target_prefix,
                        const char *json_version, const char *action, const json_t *body)
{
    char target[256], ctype[64];
    char *text = NULL;
    int rc = BSUP_EINVAL;
    if (!req || !target_prefix || !json_version || !action)
        goto out;
    int n = snprintf(target, sizeof(target), "%s.%s", target_prefix, action);
    int m = snprintf(ctype, sizeof(ctype), "application/x-amz-json-%s", json_version);
    if (n < 0 || (size_t)n >= sizeof(target) || m < 0 || (size_t)m >= sizeof(ctype))
        goto out;
    rc = BSUP_ENOMEM;
    text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    if (!text)
        goto out;
    rc = BSUP_ETOOBIG;
    size_t len = strlen(text);
    if (len > BSUP_AWS_BODY_MAX_BYTES)
        goto out;
    snprintf(req->method, sizeof(req->method), "POST");
    if ((rc = bsup_aws_request_add_header(req, "X-Amz-Target", target)) < 0 ||
        (rc = bsup_aws_request_add_header(req, "Content-Type", ctype)) < 0 ||
        (rc = bsup_aws_request_set_body(req, text, len)) < 0)
        goto out;
    rc = 0;
out:
    if (text)
        bsup_secure_zero(text, strlen(text));
    free(text);
    return rc;
}

int bsup_aws_serialize(struct bsup_aws_request *req, const struct bsup_aws_operation *op,
                       const struct bsup_aws_params *params, const json_t *json_input)
{
    const struct bsup_aws_service *svc = bsup_aws_operation_service(op);
    if (!svc || (params && json_input))
        return BSUP_EINVAL;
    if (svc->protocol == BSUP_AWS_PROTO_JSON) {
        if (params)
            return BSUP_EINVAL;
        return bsup_json_serialize(req, svc->target_prefix, svc->json_version, op->action,
                                   json_input);
    }
    if (json_input) {
        struct bsup_aws_params flat = {0};
        int rc =
            bsup_aws_params_from_json(op->model, op->input_shape, json_input, svc->protocol, &flat);
        if (rc == 0)
            rc = bsup_query_serialize(req, op->action, svc->api_version, &flat);
        bsup_aws_params_cleanup(&flat);
        return rc;
    }
    return bsup_query_serialize(req, op->action, svc->api_version, params);
}
