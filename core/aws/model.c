/* Lookups in the generated service tables and the JSON shape-model loader. */
#include "core/aws/model.h"

#include "core/base/error.h"

#include <stdlib.h>
#include <string.h>

const struct bsup_aws_service *bsup_aws_service_find(const char *name)
{
    for (size_t i = 0; name && i < BSUP_AWS_SERVICE_COUNT; i++)
        if (strcmp(bsup_aws_services[i].id, name) == 0)
            return &bsup_aws_services[i];
    return bsup_aws_service_by_prefix(name);
}

const struct bsup_aws_service *bsup_aws_service_by_prefix(const char *endpoint_prefix)
{
    for (size_t i = 0; endpoint_prefix && i < BSUP_AWS_SERVICE_COUNT; i++)
        if (strcmp(bsup_aws_services[i].endpoint_prefix, endpoint_prefix) == 0)
            return &bsup_aws_services[i];
    return NULL;
}

const struct bsup_aws_operation *bsup_aws_operation_find(const char *service, const char *action)
{
    const struct bsup_aws_service *svc = bsup_aws_service_find(service);
    if (!svc || !action)
        return NULL;
    for (size_t i = 0; i < bsup_aws_n_operations; i++) {
        const struct bsup_aws_operation *op = &bsup_aws_operations[i];
        if (&bsup_aws_services[op->service] == svc && strcmp(op->action, action) == 0)
            return op;
    }
    return NULL;
}

const struct bsup_aws_service *bsup_aws_operation_service(const struct bsup_aws_operation *op)
{
    return op && (unsigned)op->service < BSUP_AWS_SERVICE_COUNT ? &bsup_aws_services[op->service]
                                                                : NULL;
}

const struct bsup_shape *bsup_shape_get(const struct bsup_shape_model *model, int32_t index)
{
    if (!model || index < 0 || (size_t)index >= model->n_shapes)
        return NULL;
    return &model->shapes[index];
}

int32_t bsup_shape_find(const struct bsup_shape_model *model, const char *name)
{
    for (size_t i = 0; model && name && i < model->n_shapes; i++)
        if (strcmp(model->shapes[i].name, name) == 0)
            return (int32_t)i;
    return -1;
}

const struct bsup_shape_member *bsup_shape_member(const struct bsup_shape_model *model,
                                                  const struct bsup_shape *shape, uint32_t i)
{
    if (!model || !shape || i >= shape->n_members)
        return NULL;
    size_t at = (size_t)shape->first_member + i;
    return at < model->n_members ? &model->members[at] : NULL;
}

/* A loaded model keeps the JSON alive: its strings point into it. */
struct s_loaded_model {
    struct bsup_shape_model pub; /* first: the public pointer is this struct */
    struct bsup_shape *shapes;
    struct bsup_shape_member *members;
    json_t *json;
};

static const struct {
    const char *name;
    enum bsup_shape_type type;
} s_type_names[] = {
    {"structure", BSUP_SHAPE_STRUCTURE},
    {"list", BSUP_SHAPE_LIST},
    {"map", BSUP_SHAPE_MAP},
    {"string", BSUP_SHAPE_STRING},
    {"integer", BSUP_SHAPE_INTEGER},
    {"long", BSUP_SHAPE_LONG},
    {"boolean", BSUP_SHAPE_BOOLEAN},
    {"float", BSUP_SHAPE_FLOAT},
    {"double", BSUP_SHAPE_DOUBLE},
    {"timestamp", BSUP_SHAPE_TIMESTAMP},
    {"blob", BSUP_SHAPE_BLOB},
    {"byte", BSUP_SHAPE_INTEGER},
    {"short", BSUP_SHAPE_INTEGER},
    {"bigInteger", BSUP_SHAPE_LONG},
    {"bigDecimal", BSUP_SHAPE_DOUBLE},
};

static const char *s_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int s_add_member(struct s_loaded_model *m, const json_t *shapes, const char *name,
                        const json_t *ref)
{
    const char *target = s_str(ref, "shape");
    size_t idx = 0;
    const char *key;
    json_t *v;
    int found = 0;
    json_object_foreach((json_t *)shapes, key, v)
    {
        if (target && strcmp(key, target) == 0) {
            found = 1;
            break;
        }
        idx++;
    }
    if (!found)
        return BSUP_EINVAL;
    uint32_t flags = 0;
    if (json_is_true(json_object_get(ref, "xmlAttribute")))
        flags |= BSUP_SHAPE_F_ATTRIBUTE;
    if (json_is_true(json_object_get(ref, "flattened")))
        flags |= BSUP_SHAPE_F_FLATTENED;
    if (json_is_true(json_object_get(ref, "idempotencyToken")))
        flags |= BSUP_SHAPE_F_IDEMPOTENCY;
    const char *loc = s_str(ref, "location");
    if (loc && strcmp(loc, "body") != 0)
        flags |= BSUP_SHAPE_F_NOT_BODY;
    m->members[m->pub.n_members++] = (struct bsup_shape_member){
        .name = name,
        .location_name = s_str(ref, "locationName"),
        .query_name = s_str(ref, "queryName"),
        .shape = (int32_t)idx,
        .flags = flags,
    };
    return 0;
}

int bsup_shape_model_load_json(const json_t *shapes, struct bsup_shape_model **out_model)
{
    int rc = BSUP_EINVAL;
    struct s_loaded_model *m = NULL;
    *out_model = NULL;
    if (!json_is_object(shapes))
        goto out;
    size_t n = json_object_size(shapes), n_members = 0;
    const char *key;
    json_t *s;
    json_object_foreach((json_t *)shapes, key, s)
    {
        n_members += json_object_size(json_object_get(s, "members")) + 2;
    }
    rc = BSUP_ENOMEM;
    m = calloc(1, sizeof(*m));
    if (!m)
        goto out;
    m->json = json_incref((json_t *)shapes);
    m->shapes = calloc(n ? n : 1, sizeof(*m->shapes));
    m->members = calloc(n_members ? n_members : 1, sizeof(*m->members));
    if (!m->shapes || !m->members)
        goto out;
    m->pub.shapes = m->shapes;
    m->pub.members = m->members;
    rc = BSUP_EINVAL;
    json_object_foreach((json_t *)shapes, key, s)
    {
        struct bsup_shape *sh = &m->shapes[m->pub.n_shapes++];
        const char *type = s_str(s, "type");
        sh->name = key;
        for (size_t i = 0; type && i < sizeof(s_type_names) / sizeof(s_type_names[0]); i++)
            if (strcmp(type, s_type_names[i].name) == 0)
                sh->type = s_type_names[i].type;
        if (!sh->type)
            goto out;
        if (json_is_true(json_object_get(s, "flattened")))
            sh->flags |= BSUP_SHAPE_F_FLATTENED;
        if (json_is_true(json_object_get(s, "document")))
            sh->flags |= BSUP_SHAPE_F_DOCUMENT;
        if (json_is_true(json_object_get(s, "sensitive")))
            sh->flags |= BSUP_SHAPE_F_SENSITIVE;
        sh->timestamp_format = s_str(s, "timestampFormat");
        sh->first_member = (uint32_t)m->pub.n_members;
        if (sh->type == BSUP_SHAPE_STRUCTURE) {
            const char *mk;
            json_t *mv;
            json_object_foreach(json_object_get(s, "members"), mk, mv)
            {
                if (s_add_member(m, shapes, mk, mv) < 0)
                    goto out;
            }
        } else if (sh->type == BSUP_SHAPE_LIST) {
            if (s_add_member(m, shapes, "member", json_object_get(s, "member")) < 0)
                goto out;
        } else if (sh->type == BSUP_SHAPE_MAP) {
            if (s_add_member(m, shapes, "key", json_object_get(s, "key")) < 0 ||
                s_add_member(m, shapes, "value", json_object_get(s, "value")) < 0)
                goto out;
        }
        sh->n_members = (uint32_t)(m->pub.n_members - sh->first_member);
    }
    *out_model = &m->pub;
    m = NULL;
    rc = 0;
out:
    bsup_shape_model_free(m ? &m->pub : NULL);
    return rc;
}

void bsup_shape_model_free(struct bsup_shape_model *model)
{
    struct s_loaded_model *m = (struct s_loaded_model *)model;
    if (!m)
        return;
    free(m->shapes);
    free(m->members);
    json_decref(m->json);
    free(m);
}
