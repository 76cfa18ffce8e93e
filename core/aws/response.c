/* Response bodies -> jansson trees shaped like botocore's parse; AWS error bodies; paging. */
#include "core/aws/response.h"

#include "core/base/error.h"

#include <ctype.h>
#include <expat.h>
#include <limits.h>
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* At most this many sibling nodes share one member (flattened lists). */
#define S_NODES_MAX 100000
/* Elements nested deeper than this are refused while the tree is built (libxml2's default
 * limit, which this parser replaced); the walk stops at BSUP_AWS_RESPONSE_MAX_DEPTH. */
#define S_ELEMENTS_DEPTH_MAX 256
/* The tree's arena grows by blocks of this size; a larger allocation gets a block of its own. */
#define S_BLOCK_BYTES (32u * 1024u)

/* An element of a parsed body: its local name (namespace dropped), its attributes, its own
 * text (its text and CDATA, not its children's) and its element children. */
struct s_node {
    const char *name;
    const char *text;   /* NULL: none */
    const char **attrs; /* NULL, or local name, value, ..., NULL */
    struct s_node *children;
    struct s_node *next;
};

struct s_block {
    struct s_block *next;
    size_t used, size;
    alignas(void *) char data[];
};

/* A body read into s_nodes by expat's callbacks; everything lives in one arena. */
struct s_tree {
    XML_Parser parser;
    struct s_block *blocks;
    struct s_node *root;
    int rc;    /* the first error of a callback; it stops the parser */
    int depth; /* elements open */
    struct {
        struct s_node *node, *last_child;
        size_t text_at; /* where its text starts in text */
    } open[S_ELEMENTS_DEPTH_MAX];
    char *text; /* text of the open elements, outermost first */
    size_t text_len, text_size;
};

struct s_xml {
    const struct bsup_shape_model *model;
};

static void *s_alloc(struct s_tree *t, size_t size)
{
    size = (size + alignof(void *) - 1) & ~(alignof(void *) - 1);
    struct s_block *b = t->blocks;
    if (b && b->size - b->used >= size) {
        b->used += size;
        return b->data + b->used - size;
    }
    size_t block = size > S_BLOCK_BYTES / 4 ? size : S_BLOCK_BYTES;
    if (!(b = malloc(sizeof(*b) + block)))
        return NULL;
    b->used = size;
    b->size = block;
    if (block == size && t->blocks) { /* full already: keep filling the current block */
        b->next = t->blocks->next;
        t->blocks->next = b;
    } else {
        b->next = t->blocks;
        t->blocks = b;
    }
    return b->data;
}

static char *s_strdup(struct s_tree *t, const char *s, size_t len)
{
    char *d = s_alloc(t, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* "uri name" (expat's expanded name) -> "name". */
static const char *s_local(struct s_tree *t, const char *name)
{
    const char *sep = strrchr(name, ' ');
    name = sep ? sep + 1 : name;
    return s_strdup(t, name, strlen(name));
}

/* expat's name, value, ..., NULL -> the same with local names; NULL when there are none. */
static const char **s_attrs(struct s_tree *t, const XML_Char **attrs)
{
    size_t n = 0;
    while (attrs[n])
        n++;
    const char **a = n ? s_alloc(t, (n + 1) * sizeof(*a)) : NULL;
    for (size_t i = 0; a && i < n; i++)
        if (!(a[i] = i % 2 ? s_strdup(t, attrs[i], strlen(attrs[i])) : s_local(t, attrs[i])))
            a = NULL;
    if (a)
        a[n] = NULL;
    return a;
}

static void s_stop(struct s_tree *t, int rc)
{
    if (!t->rc)
        t->rc = rc;
    XML_StopParser(t->parser, XML_FALSE);
}

static void XMLCALL s_on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct s_tree *t = data;
    if (t->rc)
        return;
    if (t->depth == S_ELEMENTS_DEPTH_MAX) {
        s_stop(t, BSUP_ETOOBIG);
        return;
    }
    struct s_node *n = s_alloc(t, sizeof(*n));
    if (n)
        *n = (struct s_node){.name = s_local(t, name), .attrs = s_attrs(t, attrs)};
    if (!n || !n->name || (attrs[0] && !n->attrs)) {
        s_stop(t, BSUP_ENOMEM);
        return;
    }
    if (t->depth == 0) {
        t->root = n;
    } else {
        struct s_node **link = t->open[t->depth - 1].last_child
                                   ? &t->open[t->depth - 1].last_child->next
                                   : &t->open[t->depth - 1].node->children;
        *link = t->open[t->depth - 1].last_child = n;
    }
    t->open[t->depth].node = n;
    t->open[t->depth].last_child = NULL;
    t->open[t->depth].text_at = t->text_len;
    t->depth++;
}

static void XMLCALL s_on_end(void *data, const XML_Char *name)
{
    struct s_tree *t = data;
    (void)name;
    if (t->rc || t->depth == 0)
        return;
    t->depth--;
    size_t at = t->open[t->depth].text_at;
    if (t->text_len > at &&
        !(t->open[t->depth].node->text = s_strdup(t, t->text + at, t->text_len - at)))
        s_stop(t, BSUP_ENOMEM);
    t->text_len = at;
}

/* The open elements' text buffer, wiped: it held what AWS sent. */
static void s_text_free(struct s_tree *t)
{
    if (t->text)
        bsup_secure_zero(t->text, t->text_size);
    free(t->text);
    t->text = NULL;
}

/* Text and CDATA content, entities and character references decoded, whitespace as sent. */
static void XMLCALL s_on_text(void *data, const XML_Char *s, int len)
{
    struct s_tree *t = data;
    if (t->rc || t->depth == 0 || len <= 0)
        return;
    if ((size_t)len > t->text_size - t->text_len) {
        size_t size = t->text_size ? t->text_size : 256;
        while ((size_t)len > size - t->text_len)
            size *= 2;
        char *text = malloc(size); /* not realloc: the old text is wiped, not left behind */
        if (!text) {
            s_stop(t, BSUP_ENOMEM);
            return;
        }
        if (t->text_len)
            memcpy(text, t->text, t->text_len);
        s_text_free(t);
        t->text = text;
        t->text_size = size;
    }
    memcpy(t->text + t->text_len, s, (size_t)len);
    t->text_len += (size_t)len;
}

/* AWS never sends a DTD: refuse rather than interpret one. */
static void XMLCALL s_on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                                 const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    s_stop(data, BSUP_EPARSE);
}

static void s_tree_free(struct s_tree *t)
{
    if (!t)
        return;
    while (t->blocks) {
        struct s_block *b = t->blocks;
        t->blocks = b->next;
        bsup_secure_zero(b->data, b->used); /* an answer may carry a secret (STS keys) */
        free(b);
    }
    s_text_free(t);
    free(t);
}

/* Reads a body into a tree of elements (t->root): 0, BSUP_EPARSE (malformed, a DTD, no root),
 * BSUP_ETOOBIG or BSUP_ENOMEM. No external entity is ever loaded, none is expanded. */
static int s_read_xml(const void *body, size_t len, struct s_tree **out_tree)
{
    *out_tree = NULL;
    if (len > BSUP_AWS_RESPONSE_MAX_BYTES || len > (size_t)INT_MAX)
        return BSUP_ETOOBIG;
    struct s_tree *t = calloc(1, sizeof(*t));
    if (!t)
        return BSUP_ENOMEM;
    int rc = BSUP_ENOMEM;
    if (!(t->parser = XML_ParserCreateNS(NULL, ' ')))
        goto out;
    XML_SetUserData(t->parser, t);
    XML_SetElementHandler(t->parser, s_on_start, s_on_end);
    XML_SetCharacterDataHandler(t->parser, s_on_text);
    XML_SetStartDoctypeDeclHandler(t->parser, s_on_doctype);
    XML_SetParamEntityParsing(t->parser, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status status = XML_Parse(t->parser, body, (int)len, XML_TRUE);
    rc = t->rc ? t->rc : status != XML_STATUS_OK || !t->root ? BSUP_EPARSE : 0;
out:
    if (t->parser)
        XML_ParserFree(t->parser);
    t->parser = NULL;
    s_text_free(t); /* only the open elements' text: none is open now */
    if (rc < 0)
        s_tree_free(t);
    else
        *out_tree = t;
    return rc;
}

static int s_is(const struct s_node *n, const char *name)
{
    return n && strcmp(n->name, name) == 0;
}

static struct s_node *s_child(const struct s_node *parent, const char *name)
{
    for (struct s_node *c = parent ? parent->children : NULL; c; c = c->next)
        if (s_is(c, name))
            return c;
    return NULL;
}

/* The node's text: its text and CDATA; "" when empty. Lives as long as the tree. */
static const char *s_text(const struct s_node *n)
{
    return n && n->text ? n->text : "";
}

/* The value of the node's attribute of that local name, or NULL. */
static const char *s_attr(const struct s_node *n, const char *name)
{
    for (const char **a = n->attrs; a && a[0]; a += 2)
        if (strcmp(a[0], name) == 0)
            return a[1];
    return NULL;
}

static int s_parse(struct s_xml *x, int32_t shape, uint32_t mflags, struct s_node **nodes,
                   size_t n_nodes, int depth, json_t **out);

static int s_scalar(const struct bsup_shape *sh, const struct s_node *node, json_t **out)
{
    const char *text = s_text(node);
    char *end;
    switch (sh->type) {
    case BSUP_SHAPE_BOOLEAN:
        *out = json_boolean(strcmp(text, "true") == 0);
        break;
    case BSUP_SHAPE_INTEGER:
    case BSUP_SHAPE_LONG: {
        long long v = strtoll(text, &end, 10);
        if (end == text || *end)
            return BSUP_EPARSE;
        *out = json_integer((json_int_t)v);
        break;
    }
    case BSUP_SHAPE_FLOAT:
    case BSUP_SHAPE_DOUBLE: {
        double v = strtod(text, &end);
        if (end == text || *end)
            return BSUP_EPARSE;
        if (isfinite(v))
            *out = json_real(v);
        else /* JSON has no NaN/Infinity: keep AWS's spelling */
            *out = json_string(text);
        break;
    }
    default: /* strings, timestamps (raw text), blobs (base64 text) */
        *out = json_string(text);
        break;
    }
    return *out ? 0 : BSUP_ENOMEM;
}

/* The XML element name of a structure member, as botocore's _member_key_name. */
static const char *s_member_xml_name(const struct s_xml *x, const struct bsup_shape_member *m)
{
    const struct bsup_shape *msh = bsup_shape_get(x->model, m->shape);
    if (msh && msh->type == BSUP_SHAPE_LIST && ((msh->flags | m->flags) & BSUP_SHAPE_F_FLATTENED)) {
        const struct bsup_shape_member *lm = bsup_shape_member(x->model, msh, 0);
        if (lm && lm->location_name)
            return lm->location_name;
    }
    return m->location_name ? m->location_name : m->name;
}

static int s_structure(struct s_xml *x, const struct bsup_shape *sh, struct s_node *node, int depth,
                       json_t **out)
{
    int rc = BSUP_ENOMEM;
    struct s_node **matches = NULL;
    json_t *obj = json_object();
    if (!obj)
        goto out;
    size_t n_children = 0;
    for (struct s_node *c = node->children; c; c = c->next)
        n_children++;
    rc = BSUP_ETOOBIG;
    if (n_children > S_NODES_MAX)
        goto out;
    rc = BSUP_ENOMEM;
    matches = malloc((n_children ? n_children : 1) * sizeof(*matches));
    if (!matches)
        goto out;
    for (uint32_t i = 0; i < sh->n_members; i++) {
        const struct bsup_shape_member *m = bsup_shape_member(x->model, sh, i);
        if (!m || (m->flags & BSUP_SHAPE_F_NOT_BODY))
            continue;
        const char *xml_name = s_member_xml_name(x, m);
        json_t *v = NULL;
        if (m->flags & BSUP_SHAPE_F_ATTRIBUTE) {
            const char *a = s_attr(node, xml_name);
            if (!a)
                continue;
            v = json_string(a);
            if (!v || json_object_set_new(obj, m->name, v))
                goto out;
            continue;
        }
        size_t n = 0;
        for (struct s_node *c = node->children; c; c = c->next)
            if (s_is(c, xml_name))
                matches[n++] = c;
        if (n == 0)
            continue;
        if ((rc = s_parse(x, m->shape, m->flags, matches, n, depth + 1, &v)) < 0)
            goto out;
        rc = BSUP_ENOMEM;
        if (json_object_set_new(obj, m->name, v))
            goto out;
    }
    *out = obj;
    obj = NULL;
    rc = 0;
out:
    free(matches);
    json_decref(obj);
    return rc;
}

static int s_parse(struct s_xml *x, int32_t shape, uint32_t mflags, struct s_node **nodes,
                   size_t n_nodes, int depth, json_t **out)
{
    const struct bsup_shape *sh = bsup_shape_get(x->model, shape);
    int rc = 0;
    *out = NULL;
    if (!sh || n_nodes == 0)
        return BSUP_EINVAL;
    if (depth > BSUP_AWS_RESPONSE_MAX_DEPTH)
        return BSUP_ETOOBIG;
    if (sh->type == BSUP_SHAPE_STRUCTURE)
        return s_structure(x, sh, nodes[0], depth, out);
    if (sh->type != BSUP_SHAPE_LIST && sh->type != BSUP_SHAPE_MAP)
        return s_scalar(sh, nodes[0], out);

    /* Lists and maps: flattened ones are the sibling nodes themselves; wrapped ones are
     * every element child of the (first) wrapper node. */
    int flat = ((sh->flags | mflags) & BSUP_SHAPE_F_FLATTENED) != 0;
    json_t *coll = sh->type == BSUP_SHAPE_LIST ? json_array() : json_object();
    if (!coll)
        return BSUP_ENOMEM;
    size_t i = 0;
    struct s_node *c = flat ? NULL : nodes[0]->children;
    for (;;) {
        struct s_node *item;
        if (flat) {
            if (i >= n_nodes)
                break;
            item = nodes[i++];
        } else {
            if (!c)
                break;
            item = c;
            c = c->next;
        }
        if (sh->type == BSUP_SHAPE_LIST) {
            const struct bsup_shape_member *lm = bsup_shape_member(x->model, sh, 0);
            json_t *v;
            rc = lm ? s_parse(x, lm->shape, lm->flags, &item, 1, depth + 1, &v) : BSUP_EINVAL;
            if (rc == 0 && json_array_append_new(coll, v))
                rc = BSUP_ENOMEM;
        } else {
            const struct bsup_shape_member *km = bsup_shape_member(x->model, sh, 0);
            const struct bsup_shape_member *vm = bsup_shape_member(x->model, sh, 1);
            const char *kn = km && km->location_name ? km->location_name : "key";
            const char *vn = vm && vm->location_name ? vm->location_name : "value";
            struct s_node *kx = s_child(item, kn), *vx = s_child(item, vn);
            json_t *v = NULL;
            rc = !km || !vm || !kx || !vx ? BSUP_EPARSE : 0;
            if (rc == 0)
                rc = s_parse(x, vm->shape, vm->flags, &vx, 1, depth + 1, &v);
            if (rc == 0 && json_object_set_new(coll, s_text(kx), v))
                rc = BSUP_ENOMEM;
        }
        if (rc < 0) {
            json_decref(coll);
            return rc;
        }
    }
    *out = coll;
    return 0;
}

static int s_inject_metadata(struct s_node *root, enum bsup_aws_protocol protocol, json_t *obj)
{
    json_t *meta = NULL;
    if (protocol == BSUP_AWS_PROTO_EC2) {
        struct s_node *rid = s_child(root, "requestId");
        if (!rid)
            return 0;
        meta = json_pack("{s:s}", "RequestId", s_text(rid));
    } else {
        struct s_node *rm = s_child(root, "ResponseMetadata");
        if (!rm)
            return 0;
        meta = json_object();
        for (struct s_node *c = rm->children; meta && c; c = c->next) {
            if (json_object_set_new(meta, c->name, json_string(s_text(c)))) {
                json_decref(meta);
                meta = NULL;
            }
        }
    }
    if (!meta || json_object_set_new(obj, "ResponseMetadata", meta))
        return BSUP_ENOMEM;
    return 0;
}

int bsup_aws_xml_parse(const struct bsup_shape_model *model, int32_t shape,
                       const char *result_wrapper, enum bsup_aws_protocol protocol,
                       const void *body, size_t len, json_t **out)
{
    struct s_tree *doc = NULL;
    json_t *obj = NULL;
    struct s_xml x = {model};
    int rc = BSUP_EINVAL;
    if (!out || (!body && len))
        goto out;
    *out = NULL;
    if ((rc = s_read_xml(body, len, &doc)) < 0)
        goto out;
    struct s_node *root = doc->root;
    struct s_node *start = root;
    if (result_wrapper && protocol != BSUP_AWS_PROTO_EC2)
        start = s_child(root, result_wrapper);
    if (shape >= 0 && start) {
        if ((rc = s_parse(&x, shape, 0, &start, 1, 0, &obj)) < 0)
            goto out;
        rc = BSUP_EPROTO;
        if (!json_is_object(obj))
            goto out;
    } else {
        rc = BSUP_ENOMEM;
        if (!(obj = json_object()))
            goto out;
    }
    if ((rc = s_inject_metadata(root, protocol, obj)) < 0)
        goto out;
    *out = obj;
    obj = NULL;
    rc = 0;
out:
    json_decref(obj);
    s_tree_free(doc);
    return rc;
}

static int s_json_depth_ok(const json_t *v, int depth)
{
    if (depth > BSUP_AWS_RESPONSE_MAX_DEPTH)
        return 0;
    const char *key;
    json_t *c;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, c)
        {
            if (!s_json_depth_ok(c, depth + 1))
                return 0;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c)
        {
            if (!s_json_depth_ok(c, depth + 1))
                return 0;
        }
    }
    return 1;
}

/* Zeroes string values in place; only_unshared: those no other tree also holds. */
static void s_wipe(json_t *v, int depth, int only_unshared)
{
    const char *key;
    json_t *c;
    size_t i;
    if (!v || depth > BSUP_AWS_RESPONSE_MAX_DEPTH + 1)
        return;
    if (only_unshared && v->refcount > 1)
        return; /* this subtree lives on in the filtered result */
    if (json_is_string(v)) {
        bsup_secure_zero((char *)json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, c)
        {
            s_wipe(c, depth + 1, only_unshared);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c)
        {
            s_wipe(c, depth + 1, only_unshared);
        }
    }
}

void bsup_aws_json_wipe(json_t *v)
{
    s_wipe(v, 0, 0);
}

/* A copy of v keeping what shape models: no nulls, no unknown members. */
static int s_json_filter(const struct bsup_shape_model *model, int32_t shape, const json_t *v,
                         int depth, json_t **out)
{
    const struct bsup_shape *sh = bsup_shape_get(model, shape);
    *out = NULL;
    if (depth > BSUP_AWS_RESPONSE_MAX_DEPTH)
        return BSUP_ETOOBIG;
    if (!sh || (sh->flags & BSUP_SHAPE_F_DOCUMENT) ||
        (sh->type != BSUP_SHAPE_STRUCTURE && sh->type != BSUP_SHAPE_LIST &&
         sh->type != BSUP_SHAPE_MAP)) {
        *out = json_incref((json_t *)v);
        return 0;
    }
    int rc = 0;
    json_t *res = sh->type == BSUP_SHAPE_LIST ? json_array() : json_object();
    if (!res)
        return BSUP_ENOMEM;
    if (sh->type == BSUP_SHAPE_STRUCTURE && json_is_object(v)) {
        for (uint32_t i = 0; rc == 0 && i < sh->n_members; i++) {
            const struct bsup_shape_member *m = bsup_shape_member(model, sh, i);
            json_t *mv = json_object_get(v, m->location_name ? m->location_name : m->name), *c;
            if (!mv || json_is_null(mv) || (m->flags & BSUP_SHAPE_F_NOT_BODY))
                continue;
            if ((rc = s_json_filter(model, m->shape, mv, depth + 1, &c)) == 0 &&
                json_object_set_new(res, m->name, c))
                rc = BSUP_ENOMEM;
        }
    } else if (sh->type == BSUP_SHAPE_LIST && json_is_array(v)) {
        size_t i;
        json_t *e, *c;
        json_array_foreach(v, i, e)
        {
            if (rc == 0 &&
                (rc = s_json_filter(model, bsup_shape_member(model, sh, 0)->shape, e, depth + 1,
                                    &c)) == 0 &&
                json_array_append_new(res, c))
                rc = BSUP_ENOMEM;
        }
    } else if (sh->type == BSUP_SHAPE_MAP && json_is_object(v)) {
        const char *k;
        json_t *e, *c;
        json_object_foreach((json_t *)v, k, e)
        {
            if (rc == 0 && !json_is_null(e) &&
                (rc = s_json_filter(model, bsup_shape_member(model, sh, 1)->shape, e, depth + 1,
                                    &c)) == 0 &&
                json_object_set_new(res, k, c))
                rc = BSUP_ENOMEM;
        }
    } else {
        rc = BSUP_EPROTO;
    }
    if (rc < 0) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

static int s_json_load(const void *body, size_t len, json_t **out);

int bsup_aws_json_parse(const struct bsup_shape_model *model, int32_t shape, const void *body,
                        size_t len, json_t **out)
{
    json_t *raw;
    if (!out)
        return BSUP_EINVAL;
    if (!model || shape < 0)
        return s_json_load(body, len, out);
    int rc = s_json_load(body, len, &raw);
    if (rc < 0)
        return rc;
    rc = s_json_filter(model, shape, raw, 0, out);
    s_wipe(raw, 0, 1); /* members the model does not know are dropped wiped */
    json_decref(raw);
    return rc;
}

static int s_json_load(const void *body, size_t len, json_t **out)
{
    json_error_t err;
    if (!out || (!body && len))
        return BSUP_EINVAL;
    *out = NULL;
    if (len > BSUP_AWS_RESPONSE_MAX_BYTES)
        return BSUP_ETOOBIG;
    size_t i = 0;
    while (i < len && isspace(((const unsigned char *)body)[i]))
        i++;
    if (i == len)
        return (*out = json_object()) ? 0 : BSUP_ENOMEM;
    json_t *v = json_loadb(body, len, 0, &err);
    if (!v)
        return BSUP_EPARSE;
    if (!s_json_depth_ok(v, 0)) {
        json_decref(v);
        return BSUP_ETOOBIG;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return BSUP_EPROTO;
    }
    *out = v;
    return 0;
}

int bsup_aws_parse_response(const struct bsup_aws_operation *op, const void *body, size_t len,
                            json_t **out)
{
    const struct bsup_aws_service *svc = bsup_aws_operation_service(op);
    if (!svc)
        return BSUP_EINVAL;
    if (svc->protocol == BSUP_AWS_PROTO_JSON)
        return bsup_aws_json_parse(op->model, op->output_shape, body, len, out);
    return bsup_aws_xml_parse(op->model, op->output_shape, op->result_wrapper, svc->protocol, body,
                              len, out);
}

/* ---- errors ---- */

static void s_copy(char *dst, size_t size, const char *src)
{
    if (src)
        snprintf(dst, size, "%s", src);
}

static const char *s_header(const struct bsup_aws_header *h, size_t n, const char *name)
{
    for (size_t i = 0; h && i < n; i++)
        if (h[i].name && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/..." -> "FooError";
 * "Code;Sender" (x-amzn-query-error) -> "Code". */
static void s_sanitize_code(char *code)
{
    char *hash = strrchr(code, '#');
    if (hash)
        memmove(code, hash + 1, strlen(hash + 1) + 1);
    code[strcspn(code, ":;")] = '\0';
    size_t n = strlen(code);
    while (n && isspace((unsigned char)code[n - 1]))
        code[--n] = '\0';
}

static void s_copy_text(char *dst, size_t size, const struct s_node *n)
{
    if (n)
        snprintf(dst, size, "%s", s_text(n));
}

static int s_xml_error(const void *body, size_t len, struct bsup_aws_error *out)
{
    struct s_tree *doc;
    int rc = s_read_xml(body, len, &doc);
    if (rc < 0)
        return rc;
    struct s_node *root = doc->root, *err = NULL, *rid = NULL;
    if (s_is(root, "ErrorResponse") || s_is(root, "Response")) {
        /* Query <ErrorResponse><Error>, EC2 <Response><Errors><Error>; like botocore, either
         * root may wrap its Error in Errors (IAM-style signature failures do). */
        err = s_child(root, "Error");
        if (!err)
            err = s_child(s_child(root, "Errors"), "Error");
        rid = s_child(root, "RequestId");
        if (!rid)
            rid = s_child(root, "RequestID");
    } else if (s_is(root, "Error")) { /* bare <Error> (S3 style) */
        err = root;
        rid = s_child(root, "RequestId");
    }
    s_copy_text(out->code, sizeof(out->code), s_child(err, "Code"));
    s_copy_text(out->message, sizeof(out->message), s_child(err, "Message"));
    if (rid)
        s_copy_text(out->request_id, sizeof(out->request_id), rid);
    s_tree_free(doc);
    return 0;
}

static int s_json_error(const void *body, size_t len, struct bsup_aws_error *out)
{
    json_t *v;
    int rc = s_json_load(body, len, &v);
    if (rc < 0)
        return rc;
    static const char *const code_keys[] = {"__type", "code", "Code"};
    static const char *const msg_keys[] = {"message", "Message", "errorMessage"};
    for (size_t i = 0; i < sizeof(code_keys) / sizeof(code_keys[0]) && !out->code[0]; i++)
        s_copy(out->code, sizeof(out->code), json_string_value(json_object_get(v, code_keys[i])));
    for (size_t i = 0; i < sizeof(msg_keys) / sizeof(msg_keys[0]) && !out->message[0]; i++)
        s_copy(out->message, sizeof(out->message),
               json_string_value(json_object_get(v, msg_keys[i])));
    json_decref(v);
    return 0;
}

/* Whether s starts with word, ignoring ASCII case. */
static bool s_starts_icase(const char *s, const char *word)
{
    for (; *word; s++, word++)
        if (!*s || tolower((unsigned char)*s) != tolower((unsigned char)*word))
            return false;
    return true;
}

void bsup_aws_redact(char *msg)
{
    static const char *const cut[] = {"the canonical string", "the string-to-sign",
                                      "canonical request", "string to sign"};
    static const char *const keyed[] = {
        "x-amz-security-token",  "credential",      "signature",
        "aws_secret_access_key", "secretaccesskey", "webidentitytoken"};
    static const char mask[] = "<redacted>";
    char out[sizeof(((struct bsup_aws_error *)0)->message)];
    size_t o = 0;
    for (const char *p = msg; *p && o + sizeof(mask) < sizeof(out);) {
        bool stop = false;
        for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]) && !stop; i++)
            stop = s_starts_icase(p, cut[i]);
        if (stop) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "[signing details redacted]");
            break;
        }
        size_t key = 0;
        for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]) && !key; i++)
            if (s_starts_icase(p, keyed[i]) &&
                (p[strlen(keyed[i])] == '=' || p[strlen(keyed[i])] == ':'))
                key = strlen(keyed[i]) + 1;
        /* Access key ids: AKIA/ASIA and 16 more capitals or digits. */
        bool akid = (strncmp(p, "AKIA", 4) == 0 || strncmp(p, "ASIA", 4) == 0) &&
                    strspn(p + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") >= 12;
        if (key || akid) {
            size_t skip = akid ? 4 : key;
            if (o + skip + sizeof(mask) > sizeof(out))
                break; /* no room for the key and its mask: the message ends before it */
            memcpy(out + o, p, skip);
            o += skip;
            p += skip;
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, " ,;&'\"\n");
            memcpy(out + o, mask, sizeof(mask) - 1);
            o += sizeof(mask) - 1;
            p += n;
            continue;
        }
        out[o++] = *p++;
    }
    out[o < sizeof(out) ? o : sizeof(out) - 1] = 0;
    memcpy(msg, out, strlen(out) + 1);
}

int bsup_aws_error_parse(int http_status, const struct bsup_aws_header *headers, size_t n_headers,
                         const void *body, size_t len, struct bsup_aws_error *out)
{
    if (!out)
        return BSUP_EINVAL;
    *out = (struct bsup_aws_error){.http_status = http_status};
    s_copy(out->request_id, sizeof(out->request_id),
           s_header(headers, n_headers, "x-amzn-RequestId"));
    if (!out->request_id[0])
        s_copy(out->request_id, sizeof(out->request_id),
               s_header(headers, n_headers, "x-amz-request-id"));
    size_t i = 0;
    while (body && i < len && isspace(((const unsigned char *)body)[i]))
        i++;
    int rc = 0;
    if (body && i < len && ((const char *)body)[i] == '<')
        rc = s_xml_error(body, len, out);
    else if (body && i < len)
        rc = s_json_error(body, len, out);
    /* awsQueryCompatible JSON services name the Query error code in a header. */
    const char *qe = s_header(headers, n_headers, "x-amzn-query-error");
    if (qe && *qe)
        s_copy(out->code, sizeof(out->code), qe);
    if (!out->code[0])
        s_copy(out->code, sizeof(out->code), s_header(headers, n_headers, "x-amzn-ErrorType"));
    s_sanitize_code(out->code);
    bsup_aws_redact(out->message);
    if (out->code[0])
        return 0;
    return rc == BSUP_ETOOBIG ? rc : BSUP_EPARSE;
}

/* ---- paging ---- */

const char *bsup_aws_next_token(const struct bsup_aws_operation *op, const json_t *page)
{
    if (!op || !op->output_token || !page)
        return NULL;
    /* Tokens may be paths ("Parent.NextToken"). */
    char path[128];
    snprintf(path, sizeof(path), "%s", op->output_token);
    const json_t *v = page;
    for (char *save = NULL, *seg = strtok_r(path, ".", &save); seg && v;
         seg = strtok_r(NULL, ".", &save))
        v = json_object_get(v, seg);
    const char *t = json_string_value(v);
    return t && *t ? t : NULL;
}
