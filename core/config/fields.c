/* Loops over the key tables: set a field from text, free, copy, JSON both ways. */
#include "core/config/fields.h"
#include "core/config/load_internal.h"

#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/sha256.h"
#include "core/base/units.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(base, key, type) ((type *)((char *)(base) + (key)->offset))
#define CFIELD(base, key, type) ((const type *)((const char *)(base) + (key)->offset))

static const char *const s_redacted = "<redacted>";

static void s_free_str(char **p, bool wipe)
{
    if (*p && wipe)
        bsup_secure_zero(*p, strlen(*p));
    free(*p);
    *p = NULL;
}

static void s_strlist_free(struct bsup_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int bsup_strlist_push(struct bsup_strlist *l, const char *s)
{
    if (BSUP_ARRAY_RESERVE(l->v, l->cap, l->n + 1) < 0 || !(l->v[l->n] = strdup(s)))
        return BSUP_ENOMEM;
    l->n++;
    return 0;
}

static void s_describe_choices(const char *const *choices, char *buf, size_t len)
{
    size_t n = 0;
    while (choices[n])
        n++;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "),
                 choices[i]);
    }
}

static int s_bounds(const struct bsup_config_key *k, int64_t v, const char *shown, char *why,
                    size_t why_len)
{
    if (k->min == 0 && k->max == 0)
        return 0;
    if (v < k->min || v > k->max) {
        const char *unit = k->unit ? k->unit : (k->type == BSUP_KEY_DURATION ? "seconds" : "");
        snprintf(why, why_len, "%s (%s) must be between %lld and %lld%s%s", k->name, shown,
                 (long long)k->min, (long long)k->max, *unit ? " " : "", unit);
        return BSUP_ECONFIG;
    }
    return 0;
}

int bsup_config_check_text(const struct bsup_config_key *k, const char *text, char *why,
                           size_t why_len)
{
    /* The form first: "not a region" says more than "9 to 32 characters" about "mars-1". */
    const char *bad = k->check ? k->check(text) : NULL;
    if (bad) {
        snprintf(why, why_len, "%s %s", k->name, bad);
        return BSUP_ECONFIG;
    }
    /* For lists, min and max bound the number of entries, not their length. */
    size_t len = strlen(text);
    if (k->type != BSUP_KEY_LIST && (k->min || k->max) &&
        (len < (size_t)k->min || len > (size_t)k->max)) {
        snprintf(why, why_len, "%s must be %lld to %lld characters long (it is %zu)", k->name,
                 (long long)k->min, (long long)k->max, len);
        return BSUP_ECONFIG;
    }
    return 0;
}

int bsup_config_field_set(const struct bsup_config_key *k, void *base, const char *text, char *why,
                          size_t why_len)
{
    int64_t v;
    int rc;
    switch (k->type) {
    case BSUP_KEY_STRING:
    case BSUP_KEY_SECRET: {
        if (k->type == BSUP_KEY_STRING && (rc = bsup_config_check_text(k, text, why, why_len)))
            return rc;
        if (k->type == BSUP_KEY_SECRET &&
            (strlen(text) < (size_t)k->min || strlen(text) > (size_t)k->max)) {
            snprintf(why, why_len, "%s must be %lld to %lld characters long", k->name,
                     (long long)k->min, (long long)k->max);
            return BSUP_ECONFIG;
        }
        char *copy = strdup(text);
        if (!copy)
            return BSUP_ENOMEM;
        s_free_str(FIELD(base, k, char *), k->type == BSUP_KEY_SECRET);
        *FIELD(base, k, char *) = copy;
        return 0;
    }
    case BSUP_KEY_INT:
        rc = bsup_int_parse(text, &v);
        if (rc) {
            snprintf(why, why_len, "%s must be a whole number%s", k->name,
                     rc == BSUP_ETOOBIG ? " of sensible size" : "");
            return BSUP_ECONFIG;
        }
        if ((rc = s_bounds(k, v, text, why, why_len)))
            return rc;
        *FIELD(base, k, int64_t) = v;
        return 0;
    case BSUP_KEY_DURATION:
        rc = bsup_duration_parse(text, &v);
        if (rc) {
            snprintf(why, why_len,
                     "%s must be a duration such as 90s, 5m, 26h or 7d (a bare number is "
                     "seconds)",
                     k->name);
            return BSUP_ECONFIG;
        }
        if (k->min || k->max) {
            if (v < k->min || v > k->max) {
                char lo[24], hi[24];
                bsup_duration_format(k->min, lo, sizeof(lo));
                bsup_duration_format(k->max, hi, sizeof(hi));
                snprintf(why, why_len, "%s (%s) must be between %s and %s", k->name, text, lo, hi);
                return BSUP_ECONFIG;
            }
        }
        *FIELD(base, k, int64_t) = v;
        return 0;
    case BSUP_KEY_BOOL: /* exactly, as every value: not True, yes or on (YAML 1.1) */
        if (strcmp(text, "true") == 0)
            *FIELD(base, k, bool) = true;
        else if (strcmp(text, "false") == 0)
            *FIELD(base, k, bool) = false;
        else {
            snprintf(why, why_len, "%s must be true or false", k->name);
            return BSUP_ECONFIG;
        }
        return 0;
    case BSUP_KEY_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (strcmp(text, k->choices[i]) == 0) {
                *FIELD(base, k, int) = i;
                return 0;
            }
        }
        {
            char choices[128];
            s_describe_choices(k->choices, choices, sizeof(choices));
            snprintf(why, why_len, "%s must be %s", k->name, choices);
        }
        return BSUP_ECONFIG;
    case BSUP_KEY_LIST:
        if ((rc = bsup_config_check_text(k, text, why, why_len)))
            return rc;
        return bsup_strlist_push(FIELD(base, k, struct bsup_strlist), text);
    default:
        snprintf(why, why_len, "%s cannot be set from text", k->name);
        return BSUP_EINVAL;
    }
}

void bsup_config_fields_init(const struct bsup_config_key *table, void *base)
{
    for (const struct bsup_config_key *k = table; k->name; k++) {
        if (k->type == BSUP_KEY_ENUM)
            *FIELD(base, k, int) = k->required || k->default_text ? 0 : BSUP_MODE_DEFAULT;
        else if (k->type == BSUP_KEY_SECTION)
            bsup_config_fields_init(k->section, FIELD(base, k, char));
    }
}

int bsup_config_fields_defaults(const struct bsup_config_key *table, void *base)
{
    char why[256];
    for (const struct bsup_config_key *k = table; k->name; k++) {
        if (k->type == BSUP_KEY_SECTION) {
            int rc = bsup_config_fields_defaults(k->section, (char *)base + k->offset);
            if (rc)
                return rc;
            continue;
        }
        if (!k->default_text)
            continue;
        int rc = bsup_config_field_set(k, base, k->default_text, why, sizeof(why));
        if (rc)
            return rc; /* a default that fails its own rule is a bug; tests catch it */
    }
    return 0;
}

void bsup_config_fields_free(const struct bsup_config_key *table, void *base)
{
    for (const struct bsup_config_key *k = table; k->name; k++) {
        switch (k->type) {
        case BSUP_KEY_STRING:
        case BSUP_KEY_SECRET:
            s_free_str(FIELD(base, k, char *), k->type == BSUP_KEY_SECRET);
            break;
        case BSUP_KEY_LIST:
            s_strlist_free(FIELD(base, k, struct bsup_strlist));
            break;
        case BSUP_KEY_SECTION:
            bsup_config_fields_free(k->section, FIELD(base, k, char));
            break;
        default:
            break;
        }
    }
}

int bsup_config_fields_copy(const struct bsup_config_key *table, void *dst, const void *src)
{
    for (const struct bsup_config_key *k = table; k->name; k++) {
        switch (k->type) {
        case BSUP_KEY_STRING:
        case BSUP_KEY_SECRET: {
            const char *s = *CFIELD(src, k, char *);
            *FIELD(dst, k, char *) = NULL;
            if (s && !(*FIELD(dst, k, char *) = strdup(s)))
                return BSUP_ENOMEM;
            break;
        }
        case BSUP_KEY_LIST: {
            const struct bsup_strlist *l = CFIELD(src, k, struct bsup_strlist);
            struct bsup_strlist *d = FIELD(dst, k, struct bsup_strlist);
            d->v = NULL;
            d->n = d->cap = 0;
            for (size_t i = 0; i < l->n; i++)
                if (bsup_strlist_push(d, l->v[i]))
                    return BSUP_ENOMEM;
            break;
        }
        case BSUP_KEY_SECTION: {
            int rc = bsup_config_fields_copy(k->section, FIELD(dst, k, char), CFIELD(src, k, char));
            if (rc)
                return rc;
            break;
        }
        case BSUP_KEY_INT:
        case BSUP_KEY_DURATION:
            *FIELD(dst, k, int64_t) = *CFIELD(src, k, int64_t);
            break;
        case BSUP_KEY_BOOL:
            *FIELD(dst, k, bool) = *CFIELD(src, k, bool);
            break;
        case BSUP_KEY_ENUM:
            *FIELD(dst, k, int) = *CFIELD(src, k, int);
            break;
        }
    }
    return 0;
}

bool bsup_secret_is_reference(const char *value)
{
    return value && (strncmp(value, "secretsmanager:", 15) == 0 || strncmp(value, "ssm:", 4) == 0 ||
                     strncmp(value, "file:", 5) == 0);
}

/* The JSON text of a service, written straight into a buffer, byte for byte what jansson's
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) made of the same object (every stored content hash
 * depends on it; the unit tests check it against jansson): at 10 000 services, building the
 * objects to dump them was a quarter of the start-up. */

struct s_order {
    const struct bsup_config_key *table;
    const struct bsup_config_key *keys[BSUP_CONFIG_MAX_KEYS + 1]; /* strcmp order, NULL-ended */
};

static int s_by_name(const void *a, const void *b)
{
    return strcmp((*(const struct bsup_config_key *const *)a)->name,
                  (*(const struct bsup_config_key *const *)b)->name);
}

/* The table's keys in strcmp order: sorted once per table (a handful, all static; bsupd writes
 * JSON on its loop thread only), into o when the cache is full. */
static const struct bsup_config_key *const *s_sorted(const struct bsup_config_key *table,
                                                     struct s_order *o)
{
    static struct s_order cache[16];
    static size_t n_cache;
    for (size_t i = 0; i < n_cache; i++)
        if (cache[i].table == table)
            return cache[i].keys;
    struct s_order *dst = n_cache < sizeof(cache) / sizeof(cache[0]) ? &cache[n_cache] : o;
    size_t n = 0;
    while (table[n].name && n < BSUP_CONFIG_MAX_KEYS) {
        dst->keys[n] = &table[n];
        n++;
    }
    qsort(dst->keys, n, sizeof(dst->keys[0]), s_by_name);
    dst->keys[n] = NULL;
    dst->table = table;
    n_cache += dst != o;
    return dst->keys;
}

static void s_json_member(struct bsup_buf *b, bool *first, const char *name)
{
    if (!*first)
        bsup_buf_putc(b, ',');
    *first = false;
    bsup_buf_json_string(b, name);
    bsup_buf_putc(b, ':');
}

static void s_declared_json(struct bsup_buf *b, bool *first, uint32_t declared);

/* The members of the table's non-empty fields (what jansson would have held: no null, no empty
 * section), in key order; *first tells whether a comma goes before the next. */
static void s_fields_json(struct bsup_buf *b, const struct bsup_config_key *table, const void *base,
                          bool *first, uint32_t declared)
{
    struct s_order spare;
    bool declared_done = declared == 0;
    for (const struct bsup_config_key *const *kp = s_sorted(table, &spare); *kp; kp++) {
        const struct bsup_config_key *k = *kp;
        if (!declared_done && strcmp(k->name, "declared") > 0) {
            s_declared_json(b, first, declared);
            declared_done = true;
        }
        switch (k->type) {
        case BSUP_KEY_STRING:
        case BSUP_KEY_SECRET: {
            const char *s = *CFIELD(base, k, char *);
            if (!s)
                break;
            if (k->type == BSUP_KEY_SECRET && !bsup_secret_is_reference(s))
                s = s_redacted;
            s_json_member(b, first, k->name);
            bsup_buf_json_string(b, s);
            break;
        }
        case BSUP_KEY_INT:
        case BSUP_KEY_DURATION: {
            int64_t n = *CFIELD(base, k, int64_t);
            if (k->type == BSUP_KEY_DURATION && n == 0 && !k->default_text)
                break;
            s_json_member(b, first, k->name);
            bsup_buf_int(b, n);
            break;
        }
        case BSUP_KEY_BOOL:
            s_json_member(b, first, k->name);
            bsup_buf_puts(b, *CFIELD(base, k, bool) ? "true" : "false");
            break;
        case BSUP_KEY_ENUM: {
            int e = *CFIELD(base, k, int);
            if (e < 0)
                break;
            s_json_member(b, first, k->name);
            bsup_buf_json_string(b, k->choices[e]);
            break;
        }
        case BSUP_KEY_LIST: {
            const struct bsup_strlist *l = CFIELD(base, k, struct bsup_strlist);
            s_json_member(b, first, k->name);
            bsup_buf_putc(b, '[');
            for (size_t i = 0; i < l->n; i++) {
                if (i)
                    bsup_buf_putc(b, ',');
                bsup_buf_json_string(b, l->v[i]);
            }
            bsup_buf_putc(b, ']');
            break;
        }
        case BSUP_KEY_SECTION: {
            const void *section = CFIELD(base, k, char);
            size_t at = b->len;
            bool was_first = *first, inner = true;
            s_json_member(b, first, k->name);
            bsup_buf_putc(b, '{');
            size_t open = b->len;
            s_fields_json(b, k->section, section, &inner,
                          strcmp(k->name, "health_check") == 0
                              ? ((const struct bsup_health_check *)section)->declared
                              : 0);
            if (b->len == open) { /* empty: left out */
                bsup_buf_truncate(b, at);
                *first = was_first;
            } else {
                bsup_buf_putc(b, '}');
            }
            break;
        }
        }
    }
    if (!declared_done)
        s_declared_json(b, first, declared);
}

static int s_fields_from_json(const struct bsup_config_key *table, void *base, json_t *obj)
{
    char why[256];
    for (const struct bsup_config_key *k = table; k->name; k++) {
        json_t *v = json_object_get(obj, k->name);
        if (!v)
            continue;
        int rc = 0;
        char num[32];
        switch (k->type) {
        case BSUP_KEY_STRING:
        case BSUP_KEY_SECRET:
        case BSUP_KEY_ENUM:
            rc = json_is_string(v)
                     ? bsup_config_field_set(k, base, json_string_value(v), why, sizeof(why))
                     : BSUP_EPARSE;
            break;
        case BSUP_KEY_INT:
        case BSUP_KEY_DURATION:
            if (!json_is_integer(v))
                return BSUP_EPARSE;
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            rc = bsup_config_field_set(k, base, num, why, sizeof(why));
            break;
        case BSUP_KEY_BOOL:
            if (!json_is_boolean(v))
                return BSUP_EPARSE;
            *FIELD(base, k, bool) = json_is_true(v);
            break;
        case BSUP_KEY_LIST: {
            size_t i;
            json_t *e;
            if (!json_is_array(v))
                return BSUP_EPARSE;
            json_array_foreach(v, i, e)
            {
                if (!json_is_string(e))
                    return BSUP_EPARSE;
                if ((rc = bsup_config_field_set(k, base, json_string_value(e), why, sizeof(why))))
                    break;
            }
            break;
        }
        case BSUP_KEY_SECTION:
            rc = json_is_object(v) ? s_fields_from_json(k->section, FIELD(base, k, char), v)
                                   : BSUP_EPARSE;
            break;
        }
        if (rc)
            return rc == BSUP_ENOMEM ? rc : BSUP_EPARSE;
    }
    return 0;
}

void bsup_service_cleanup(struct bsup_service *svc)
{
    if (!svc)
        return;
    bsup_config_fields_free(bsup_service_keys, svc);
    free(svc->source_file);
    memset(svc, 0, sizeof(*svc));
}

int bsup_service_copy(struct bsup_service *dst, const struct bsup_service *src)
{
    *dst = *src;
    dst->source_file = src->source_file ? strdup(src->source_file) : NULL;
    int rc = bsup_config_fields_copy(bsup_service_keys, dst, src);
    if (rc || (src->source_file && !dst->source_file)) {
        bsup_service_cleanup(dst);
        return BSUP_ENOMEM;
    }
    return 0;
}

int bsup_service_as_stored(struct bsup_service *svc)
{
    const char *p = svc->database_password;
    if (p && !bsup_secret_is_reference(p)) {
        char *redacted = strdup(s_redacted);
        if (!redacted)
            return BSUP_ENOMEM;
        s_free_str(&svc->database_password, true);
        svc->database_password = redacted;
    }
    s_free_str(&svc->source_file, false);
    svc->line = svc->column = 0;
    return 0;
}

/* The health_check section's key table: bit i of bsup_health_check.declared is its key i. */
static const struct bsup_config_key *s_health_keys(void)
{
    const struct bsup_config_key *k = bsup_service_keys;
    while (strcmp(k->name, "health_check") != 0)
        k++;
    return k->section;
}

/* The bit of health_check.<key> in declared; 0 for a key that has none. */
static uint32_t s_declared_bit(const char *key)
{
    const struct bsup_config_key *t = s_health_keys();
    for (unsigned i = 0; t[i].name; i++)
        if (strcmp(t[i].name, key) == 0)
            return 1u << i;
    return 0;
}

bool bsup_health_declared(const struct bsup_health_check *hc, const char *key)
{
    return (hc->declared & s_declared_bit(key)) != 0;
}

bool bsup_health_declares_any(const struct bsup_health_check *hc)
{
    /* grace_period is the Auto Scaling group's setting, not the target group's */
    return (hc->declared & ~s_declared_bit("grace_period")) != 0;
}

/* health_check.declared: the names of the written target-group settings, in table order. Left
 * out when there are none, so a service that declares none keeps the JSON (and content hash)
 * older builds gave it. */
static void s_declared_json(struct bsup_buf *b, bool *first, uint32_t declared)
{
    const struct bsup_config_key *t = s_health_keys();
    bool none = true;
    s_json_member(b, first, "declared");
    bsup_buf_putc(b, '[');
    for (unsigned i = 0; t[i].name; i++)
        if ((declared >> i) & 1u) {
            if (!none)
                bsup_buf_putc(b, ',');
            none = false;
            bsup_buf_json_string(b, t[i].name);
        }
    bsup_buf_putc(b, ']');
}

static int s_declared_from_json(struct bsup_health_check *hc, json_t *obj)
{
    json_t *list = json_object_get(json_object_get(obj, "health_check"), "declared");
    size_t i;
    json_t *e;
    if (!list)
        return 0;
    if (!json_is_array(list))
        return BSUP_EPARSE;
    const struct bsup_config_key *t = s_health_keys();
    json_array_foreach(list, i, e)
    {
        unsigned k = 0;
        while (t[k].name && !(json_is_string(e) && strcmp(t[k].name, json_string_value(e)) == 0))
            k++;
        if (!t[k].name || !t[k].if_declared)
            return BSUP_EPARSE;
        hc->declared |= 1u << k;
    }
    return 0;
}

char *bsup_service_to_json(const struct bsup_service *svc)
{
    struct bsup_buf b = BSUP_BUF_INIT(SIZE_MAX, 0);
    bool first = true;
    char *out = NULL;
    bsup_buf_putc(&b, '{');
    s_fields_json(&b, bsup_service_keys, svc, &first, 0);
    bsup_buf_putc(&b, '}');
    bsup_buf_take(&b, &out, NULL);
    return out;
}

int bsup_service_from_json(const char *text, struct bsup_service *out)
{
    memset(out, 0, sizeof(*out));
    bsup_config_fields_init(bsup_service_keys, out);
    json_error_t err;
    json_t *obj = json_loads(text, 0, &err);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return BSUP_EPARSE;
    }
    int rc = bsup_config_fields_defaults(bsup_service_keys, out);
    if (!rc)
        rc = s_fields_from_json(bsup_service_keys, out, obj);
    if (!rc)
        rc = s_declared_from_json(&out->health_check, obj);
    json_decref(obj);
    if (!rc && !out->service_name)
        rc = BSUP_EPARSE;
    if (rc)
        bsup_service_cleanup(out);
    return rc;
}

int bsup_service_json_hash(const char *json, char out_hex[65])
{
    return bsup_sha256_hex(json, strlen(json), out_hex);
}

const char *bsup_service_resource_name(const struct bsup_service *svc, const char *kind, char *buf,
                                       size_t len)
{
    for (const struct bsup_config_key *k = bsup_service_keys; k->name; k++) {
        if (k->type != BSUP_KEY_SECTION || strcmp(k->name, "resources") != 0)
            continue;
        for (const struct bsup_config_key *r = k->section; r->name; r++) {
            const char *v = *(const char *const *)((const char *)&svc->resources + r->offset);
            if (strcmp(r->name, kind) == 0 && v) {
                snprintf(buf, len, "%s", v);
                return buf;
            }
        }
    }
    snprintf(buf, len, "%s-%s", svc->service_name, bsup_environment_name(svc->environment));
    return buf;
}

const char *bsup_environment_name(int env)
{
    static const char *const names[] = {"dev", "staging", "prod"};
    return env >= 0 && env <= 2 ? names[env] : "?";
}

const char *bsup_mode_name(int mode)
{
    return mode == BSUP_MODE_ENFORCE   ? "enforce"
           : mode == BSUP_MODE_OBSERVE ? "observe"
                                       : "default";
}
