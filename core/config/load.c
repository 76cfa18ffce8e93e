/* Drop-in loading: directory scan, file checks, YAML (libyaml) to the key tables, rules that
 * span keys, and duplicate service names. Every problem becomes one message with a position. */
#include "core/config/config.h"
#include "core/config/fields.h"

#include "core/base/array.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define S_MAX_KEYS 32 /* keys per table, for tracking where each was set */

struct s_file {
    struct bsup_config_set *set;
    const char *name;
    yaml_document_t doc;
    size_t errors; /* in this file */
    int rc;        /* BSUP_ENOMEM sticks */
};

/* Where each key of a table was written in the file. */
struct s_seen {
    bool set[S_MAX_KEYS];
    yaml_mark_t mark[S_MAX_KEYS];
};

static int s_msg_add(struct bsup_config_set *set, int severity, const char *file, char *text)
{
    if (BSUP_ARRAY_RESERVE(set->msgs, set->cap_msgs, set->n_msgs + 1) < 0) {
        free(text);
        return BSUP_ENOMEM;
    }
    char *f = file ? strdup(file) : NULL;
    if (file && !f) {
        free(text);
        return BSUP_ENOMEM;
    }
    set->msgs[set->n_msgs++] = (struct bsup_config_msg){severity, f, text};
    if (severity == BSUP_CONFIG_ERROR)
        set->n_errors++;
    return 0;
}

static void s_report(struct s_file *f, int severity, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_report(struct s_file *f, int severity, const yaml_mark_t *mark, const char *fmt, ...)
{
    char body[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    char *text = NULL;
    int n = mark
                ? asprintf(&text, "%s:%zu:%zu: %s", f->name, mark->line + 1, mark->column + 1, body)
                : asprintf(&text, "%s: %s", f->name, body);
    if (n < 0 || s_msg_add(f->set, severity, f->name, text)) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    if (severity == BSUP_CONFIG_ERROR)
        f->errors++;
}

#define s_error(f, mark, ...) s_report(f, BSUP_CONFIG_ERROR, mark, __VA_ARGS__)
#define s_warning(f, mark, ...) s_report(f, BSUP_CONFIG_WARNING, mark, __VA_ARGS__)

/* A short, printable rendering of an operator's value for messages (never for secrets). */
static const char *s_shown(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; v[i] && o + 4 < len; i++)
        buf[o++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    if (v[o] && o + 4 >= len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

static size_t s_levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

static const char *s_suggest(const struct bsup_config_key *table, const char *name)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const struct bsup_config_key *k = table; k->name; k++) {
        size_t d = s_levenshtein(name, k->name);
        if (d < best_d) {
            best_d = d;
            best = k->name;
        }
    }
    size_t limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
    return best_d <= limit ? best : NULL;
}

static bool s_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *s_node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "text";
    }
}

static const char *s_type_wanted(int type)
{
    switch (type) {
    case BSUP_KEY_INT:
        return "a whole number";
    case BSUP_KEY_BOOL:
        return "true or false";
    case BSUP_KEY_LIST:
        return "a list";
    case BSUP_KEY_SECTION:
        return "a mapping";
    case BSUP_KEY_DURATION:
        return "a duration";
    default:
        return "text";
    }
}

static void s_apply_mapping(struct s_file *f, const struct bsup_config_key *table, yaml_node_t *map,
                            void *base, const char *prefix, struct s_seen *seen);

static void s_apply_value(struct s_file *f, const struct bsup_config_key *k, yaml_node_t *val,
                          void *base, const char *prefix)
{
    char why[512], full[96];
    snprintf(full, sizeof(full), "%s%s", prefix, k->name);
    void *field = (char *)base + k->offset;

    if (k->type == BSUP_KEY_SECTION) {
        if (val->type != YAML_MAPPING_NODE) {
            s_error(f, &val->start_mark, "%s must be a mapping, not %s", full, s_node_kind(val));
            return;
        }
        char sub[128];
        snprintf(sub, sizeof(sub), "%s.", full);
        s_apply_mapping(f, k->section, val, field, sub, NULL);
        return;
    }
    if (k->type == BSUP_KEY_LIST) {
        if (val->type != YAML_SEQUENCE_NODE) {
            s_error(f, &val->start_mark, "%s must be a list, not %s", full, s_node_kind(val));
            return;
        }
        struct bsup_strlist *l = field;
        size_t count = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
        if (count < (size_t)k->min || count > (size_t)k->max) {
            s_error(f, &val->start_mark, "%s must hold %lld to %lld entries (it holds %zu)", full,
                    (long long)k->min, (long long)k->max, count);
            return;
        }
        for (yaml_node_item_t *it = val->data.sequence.items.start;
             it < val->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&f->doc, *it);
            if (e->type != YAML_SCALAR_NODE) {
                s_error(f, &e->start_mark, "each entry of %s must be text, not %s", full,
                        s_node_kind(e));
                continue;
            }
            const char *text = (const char *)e->data.scalar.value;
            char shown[64];
            for (size_t i = 0; i < l->n; i++) {
                if (strcmp(l->v[i], text) == 0) {
                    s_error(f, &e->start_mark, "%s lists %s twice", full,
                            s_shown(text, shown, sizeof(shown)));
                    text = NULL;
                    break;
                }
            }
            if (!text)
                continue;
            int rc = bsup_config_field_set(k, base, text, why, sizeof(why));
            if (rc == BSUP_ENOMEM)
                f->rc = rc;
            else if (rc)
                s_error(f, &e->start_mark, "%s%s (entry %s)", prefix, why,
                        s_shown(text, shown, sizeof(shown)));
        }
        return;
    }
    if (val->type != YAML_SCALAR_NODE) {
        s_error(f, &val->start_mark, "%s must be %s, not %s", full, s_type_wanted(k->type),
                s_node_kind(val));
        return;
    }
    const char *text = (const char *)val->data.scalar.value;
    int rc = bsup_config_field_set(k, base, text, why, sizeof(why));
    if (rc == BSUP_ENOMEM) {
        f->rc = rc;
    } else if (rc) {
        char shown[64];
        /* Say what was written, except for secrets. */
        if (k->type == BSUP_KEY_SECRET || k->type == BSUP_KEY_INT ||
            (k->type == BSUP_KEY_DURATION && strstr(why, " between ")))
            s_error(f, &val->start_mark, "%s%s", prefix, why);
        else
            s_error(f, &val->start_mark, "%s%s (got \"%s\")", prefix, why,
                    s_shown(text, shown, sizeof(shown)));
    }
}

static void s_apply_mapping(struct s_file *f, const struct bsup_config_key *table, yaml_node_t *map,
                            void *base, const char *prefix, struct s_seen *seen)
{
    struct s_seen local;
    if (!seen)
        seen = &local;
    memset(seen, 0, sizeof(*seen));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&f->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(&f->doc, p->value);
        if (key->type != YAML_SCALAR_NODE) {
            s_error(f, &key->start_mark, "keys must be plain words, not %s", s_node_kind(key));
            continue;
        }
        const char *name = (const char *)key->data.scalar.value;
        const struct bsup_config_key *k = table;
        size_t idx = 0;
        while (k->name && strcmp(k->name, name) != 0) {
            k++;
            idx++;
        }
        char shown[64];
        if (!k->name) {
            const char *hint = s_suggest(table, name);
            if (hint)
                s_error(f, &key->start_mark, "unknown key %s%s; did you mean %s%s?", prefix,
                        s_shown(name, shown, sizeof(shown)), prefix, hint);
            else
                s_error(f, &key->start_mark, "unknown key %s%s", prefix,
                        s_shown(name, shown, sizeof(shown)));
            continue;
        }
        if (seen->set[idx]) {
            s_error(f, &key->start_mark, "%s%s is set twice (first at line %zu)", prefix, name,
                    seen->mark[idx].line + 1);
            continue;
        }
        seen->set[idx] = true;
        seen->mark[idx] = val->start_mark;
        if (s_is_null(val)) {
            seen->set[idx] = false;
            if (k->required)
                s_error(f, &val->start_mark, "%s%s has no value", prefix, name);
            continue;
        }
        s_apply_value(f, k, val, base, prefix);
    }
}

static int s_key_index(const struct bsup_config_key *table, const char *name)
{
    for (int i = 0; table[i].name; i++)
        if (strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

/* Rules that involve more than one key, and required keys. */
static void s_check_service(struct s_file *f, struct bsup_service *svc, const struct s_seen *seen,
                            const yaml_mark_t *map_mark)
{
    for (int i = 0; bsup_service_keys[i].name; i++)
        if (bsup_service_keys[i].required && !seen->set[i])
            s_error(f, map_mark, "%s is required", bsup_service_keys[i].name);

    int imin = s_key_index(bsup_service_keys, "min_size");
    int imax = s_key_index(bsup_service_keys, "max_size");
    if (svc->min_size > svc->max_size) {
        if (seen->set[imax])
            s_error(f, &seen->mark[imax], "max_size (%lld) is less than min_size (%lld)",
                    (long long)svc->max_size, (long long)svc->min_size);
        else
            s_error(f, &seen->mark[imin],
                    "min_size (%lld) is greater than max_size (%lld, the default)",
                    (long long)svc->min_size, (long long)svc->max_size);
    }

    int ipw = s_key_index(bsup_service_keys, "database_password");
    const char *pw = svc->database_password;
    if (pw && seen->set[ipw]) {
        const yaml_mark_t *m = &seen->mark[ipw];
        if (strncmp(pw, "secretsmanager:", 15) == 0) {
            const char *arn = pw + 15;
            /* arn:<partition>:secretsmanager:<region>:<account>:secret:<name> */
            char part[6][64];
            int n = sscanf(arn, "arn:%63[^:]:%63[^:]:%63[^:]:%63[^:]:%63[^:]:%63s", part[0],
                           part[1], part[2], part[3], part[4], part[5]);
            if (n != 6 || strcmp(part[1], "secretsmanager") != 0 || strlen(part[3]) != 12 ||
                strspn(part[3], "0123456789") != 12 || strncmp(part[4], "secret", 7) != 0)
                s_error(f, m,
                        "database_password: a secretsmanager reference must be a secret ARN, "
                        "e.g. secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:"
                        "secret:name");
        } else if (strncmp(pw, "ssm:", 4) == 0) {
            const char *p = pw + 4;
            if (!*p || strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                 "_.-/") != strlen(p))
                s_error(f, m,
                        "database_password: an ssm reference must name a parameter, e.g. "
                        "ssm:/prod/api/db-password");
        } else if (strncmp(pw, "file:", 5) == 0) {
            if (pw[5] != '/')
                s_error(f, m,
                        "database_password: a file reference needs an absolute path, e.g. "
                        "file:/etc/bsup/secrets/api-db");
        } else if (svc->environment != BSUP_ENV_DEV) {
            s_error(f, m,
                    "database_password is a plaintext password, which is refused outside "
                    "environment: dev; use secretsmanager:<arn>, ssm:<name> or file:<path>");
        } else {
            s_warning(f, m,
                      "database_password is a plaintext password; accepted because environment "
                      "is dev, but it is kept in memory only and shown as <redacted>");
        }
    }
}

static int s_services_push(struct bsup_service **v, size_t *n, size_t *cap)
{
    if (BSUP_ARRAY_RESERVE(*v, *cap, *n + 1) < 0)
        return BSUP_ENOMEM;
    memset(&(*v)[*n], 0, sizeof(**v));
    (*n)++;
    return 0;
}

struct s_pending {
    struct bsup_service *v;
    size_t n, cap;
};

static void s_parse_service(struct s_file *f, yaml_node_t *map, struct s_pending *out)
{
    if (map->type != YAML_MAPPING_NODE) {
        s_error(f, &map->start_mark, "a service must be a mapping of keys, not %s",
                s_node_kind(map));
        return;
    }
    if (s_services_push(&out->v, &out->n, &out->cap)) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    struct bsup_service *svc = &out->v[out->n - 1];
    bsup_config_fields_init(bsup_service_keys, svc);
    if (bsup_config_fields_defaults(bsup_service_keys, svc)) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    svc->source_file = strdup(f->name);
    if (!svc->source_file) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    svc->line = (unsigned)map->start_mark.line + 1;
    svc->column = (unsigned)map->start_mark.column + 1;

    struct s_seen seen;
    s_apply_mapping(f, bsup_service_keys, map, svc, "", &seen);
    s_check_service(f, svc, &seen, &map->start_mark);

    /* Duplicate names: against good files loaded before, then earlier in this file. */
    if (!svc->service_name)
        return;
    int iname = s_key_index(bsup_service_keys, "service_name");
    const yaml_mark_t *m = &seen.mark[iname];
    for (size_t i = 0; i < f->set->n_services; i++) {
        const struct bsup_service *o = &f->set->services[i];
        if (strcmp(o->service_name, svc->service_name) == 0)
            s_error(f, m, "service_name %s is already declared in %s:%u:%u", svc->service_name,
                    o->source_file, o->line, o->column);
    }
    for (size_t i = 0; i + 1 < out->n; i++) {
        const struct bsup_service *o = &out->v[i];
        if (o->service_name && strcmp(o->service_name, svc->service_name) == 0)
            s_error(f, m, "service_name %s is declared twice in this file (first at line %u)",
                    svc->service_name, o->line);
    }
}

/* Returns the offset of the first byte that is not valid UTF-8 or is a control character
 * YAML forbids, or len when all is well. */
static size_t s_utf8_check(const unsigned char *s, size_t len, const char **out_why)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
                *out_why = "a control character, which YAML does not allow";
                return i;
            }
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
        } else {
            *out_why = "not valid UTF-8";
            return i;
        }
        if (i + n > len) {
            *out_why = "not valid UTF-8 (truncated character)";
            return i;
        }
        for (size_t j = 1; j < n; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                *out_why = "not valid UTF-8";
                return i;
            }
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            *out_why = "not valid UTF-8 (overlong or out-of-range character)";
            return i;
        }
        i += n;
    }
    return len;
}

static yaml_mark_t s_mark_at(const unsigned char *s, size_t off)
{
    yaml_mark_t m = {0};
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if ((s[i] & 0xc0) != 0x80) {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

static void s_report_parser(struct s_file *f, yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR) {
        f->rc = BSUP_ENOMEM;
    } else if (p->context) {
        s_error(f, &p->problem_mark, "not valid YAML: %s %s (line %zu)", problem, p->context,
                p->context_mark.line + 1);
    } else {
        s_error(f, &p->problem_mark, "not valid YAML: %s", problem);
    }
}

/* Walks the events once to refuse what the tree would hide or make dangerous: aliases and
 * anchors (alias bombs), several documents, too many nodes, too deep nesting. */
static bool s_prescan(struct s_file *f, const unsigned char *data, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&p)) {
        f->rc = BSUP_ENOMEM;
        return false;
    }
    yaml_parser_set_input_string(&p, data, len);
    bool ok = true, done = false;
    size_t nodes = 0, depth = 0, docs = 0;
    while (ok && !done) {
        if (!yaml_parser_parse(&p, &ev)) {
            s_report_parser(f, &p);
            ok = false;
            break;
        }
        const yaml_char_t *anchor = NULL;
        switch (ev.type) {
        case YAML_ALIAS_EVENT:
            s_error(f, &ev.start_mark, "YAML aliases (*%s) are not allowed in drop-ins",
                    (const char *)ev.data.alias.anchor);
            ok = false;
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            nodes++;
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            nodes++;
            depth++;
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            nodes++;
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                s_error(f, &ev.start_mark,
                        "a drop-in holds one YAML document; put more services under services:");
                ok = false;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        if (ok && anchor) {
            s_error(f, &ev.start_mark, "YAML anchors (&%s) are not allowed in drop-ins",
                    (const char *)anchor);
            ok = false;
        } else if (ok && nodes > BSUP_CONFIG_MAX_NODES) {
            s_error(f, &ev.start_mark, "too many YAML nodes (more than %d)", BSUP_CONFIG_MAX_NODES);
            ok = false;
        } else if (ok && depth > BSUP_CONFIG_MAX_DEPTH) {
            s_error(f, &ev.start_mark, "nested too deeply (more than %d levels)",
                    BSUP_CONFIG_MAX_DEPTH);
            ok = false;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return ok;
}

/* Moves every pending service into set; what could not be moved stays for the caller. */
static int s_move_services(struct bsup_config_set *set, struct s_pending *pend)
{
    for (size_t i = 0; i < pend->n; i++) {
        if (s_services_push(&set->services, &set->n_services, &set->cap_services))
            return BSUP_ENOMEM;
        set->services[set->n_services - 1] = pend->v[i];
        memset(&pend->v[i], 0, sizeof(pend->v[i]));
    }
    return 0;
}

static int s_file_push(struct bsup_config_set *set, const char *name)
{
    if (BSUP_ARRAY_RESERVE(set->files, set->cap_files, set->n_files + 1) < 0)
        return BSUP_ENOMEM;
    char *n = strdup(name);
    if (!n)
        return BSUP_ENOMEM;
    set->files[set->n_files++] = (struct bsup_config_file){.name = n};
    return 0;
}

int bsup_config_parse_buffer(struct bsup_config_set *set, const char *name, const char *data,
                             size_t len)
{
    struct s_file f = {.set = set, .name = name};
    struct s_pending pend = {0};
    const unsigned char *u = (const unsigned char *)data;
    yaml_parser_t parser;
    bool have_doc = false;

    if (s_file_push(set, name))
        return BSUP_ENOMEM;

    /* A UTF-8 byte order mark is allowed; everything else must be UTF-8 text. */
    size_t skip = len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf ? 3 : 0;
    const char *why = NULL;
    size_t bad = s_utf8_check(u + skip, len - skip, &why);
    if (len > BSUP_CONFIG_MAX_FILE_BYTES) {
        s_error(&f, NULL, "file is %zu bytes; drop-ins are limited to %d bytes (1 MiB)", len,
                BSUP_CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    if (bad != len - skip) {
        yaml_mark_t m = s_mark_at(u + skip, bad);
        s_error(&f, &m, "byte 0x%02x is %s", u[skip + bad], why);
        goto out;
    }
    if (!s_prescan(&f, u, len))
        goto out;

    if (!yaml_parser_initialize(&parser)) {
        f.rc = BSUP_ENOMEM;
        goto out;
    }
    yaml_parser_set_input_string(&parser, u, len);
    if (!yaml_parser_load(&parser, &f.doc)) {
        s_report_parser(&f, &parser);
        yaml_parser_delete(&parser);
        goto out;
    }
    yaml_parser_delete(&parser);
    have_doc = true;

    yaml_node_t *root = yaml_document_get_root_node(&f.doc);
    yaml_mark_t start = {0};
    if (!root || s_is_null(root)) {
        s_error(&f, &start,
                "file is empty; a drop-in declares one service, or a list under services:");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        s_error(&f, &root->start_mark,
                "a drop-in must be a mapping of keys (one service) or hold services:, not %s",
                s_node_kind(root));
        goto out;
    }
    yaml_node_t *list = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&f.doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, "services") == 0)
            list = yaml_document_get_node(&f.doc, p->value);
    }
    if (!list) {
        s_parse_service(&f, root, &pend);
    } else if (root->data.mapping.pairs.top - root->data.mapping.pairs.start != 1) {
        s_error(&f, &root->start_mark,
                "with services:, every key belongs to a list item; move the other keys into "
                "the services");
    } else if (list->type != YAML_SEQUENCE_NODE) {
        s_error(&f, &list->start_mark, "services must be a list of services, not %s",
                s_node_kind(list));
    } else if (list->data.sequence.items.top == list->data.sequence.items.start) {
        s_warning(&f, &list->start_mark, "services is an empty list; this file declares nothing");
    } else {
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top && f.rc == 0; it++)
            s_parse_service(&f, yaml_document_get_node(&f.doc, *it), &pend);
    }

out:
    if (have_doc)
        yaml_document_delete(&f.doc);
    struct bsup_config_file *file = &set->files[set->n_files - 1];
    if (f.rc == 0 && f.errors == 0) {
        file->ok = true;
        file->n_services = pend.n;
        f.rc = s_move_services(set, &pend);
    }
    for (size_t i = 0; i < pend.n; i++)
        bsup_service_cleanup(&pend.v[i]);
    free(pend.v);
    return f.rc;
}

bool bsup_config_is_dropin_name(const char *name)
{
    static const char *const leftovers[] = {"~",       ".swp",     ".swx",     ".bak", ".orig",
                                            ".rpmnew", ".rpmsave", ".rpmorig", "#"};
    size_t n = strlen(name);
    if (n == 0 || name[0] == '.' || strstr(name, ".dpkg-") || strstr(name, ".ucf-"))
        return false;
    for (size_t i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
        size_t l = strlen(leftovers[i]);
        if (n >= l && strcmp(name + n - l, leftovers[i]) == 0)
            return false;
    }
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole regular file of at most cap bytes. Returns 0, or an errno-style code with a
 * message in why. */
static int s_read_file(int dirfd, const char *name, char **out, size_t *out_len, char *why,
                       size_t why_len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open: %s", strerror(errno));
        return errno == ENOENT ? BSUP_ENOTFOUND : BSUP_EIO;
    }
    struct stat st;
    char *buf = NULL;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "not a regular file");
        rc = BSUP_EIO;
        goto out;
    }
    if (st.st_size > BSUP_CONFIG_MAX_FILE_BYTES) {
        snprintf(why, why_len, "file is %lld bytes; drop-ins are limited to %d bytes (1 MiB)",
                 (long long)st.st_size, BSUP_CONFIG_MAX_FILE_BYTES);
        rc = BSUP_ETOOBIG;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    buf = malloc(cap + 1);
    if (!buf) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, why_len, "cannot read: %s", strerror(errno));
            rc = BSUP_EIO;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) { /* grew while we read it */
            snprintf(why, why_len, "file changed size while being read");
            rc = BSUP_EIO;
            goto out;
        }
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int bsup_config_load_dir(const char *dir, struct bsup_config_set *set, struct bsup_diag *diag)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return bsup_diag_set(diag, errno == ENOENT ? BSUP_ENOTFOUND : BSUP_EIO,
                             "%s: cannot open the configuration directory: %s", dir,
                             strerror(errno));
    int dfd2 = dup(dfd);
    DIR *d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
    if (!d) {
        rc = bsup_diag_set(diag, BSUP_EIO, "%s: cannot list the directory: %s", dir,
                           strerror(errno));
        if (dfd2 >= 0)
            close(dfd2);
        goto out;
    }
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!bsup_config_is_dropin_name(de->d_name))
            continue;
        if (n == BSUP_CONFIG_MAX_FILES) {
            rc = bsup_diag_set(diag, BSUP_ETOOBIG, "%s: more than %d drop-ins", dir,
                               BSUP_CONFIG_MAX_FILES);
            closedir(d);
            goto out;
        }
        if (BSUP_ARRAY_RESERVE(names, cap, n + 1) < 0) {
            closedir(d);
            rc = BSUP_ENOMEM;
            goto out;
        }
        if (!(names[n] = strdup(de->d_name))) {
            closedir(d);
            rc = BSUP_ENOMEM;
            goto out;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), s_cmp);

    for (size_t i = 0; i < n && rc == 0; i++) {
        char *data = NULL, why[512];
        size_t len = 0;
        int frc = s_read_file(dfd, names[i], &data, &len, why, sizeof(why));
        if (frc == BSUP_ENOMEM) {
            rc = frc;
        } else if (frc) {
            char *text = NULL;
            if ((rc = s_file_push(set, names[i])) == 0) {
                if (asprintf(&text, "%s: %s", names[i], why) < 0)
                    rc = BSUP_ENOMEM;
                else
                    rc = s_msg_add(set, BSUP_CONFIG_ERROR, names[i], text);
            }
        } else {
            rc = bsup_config_parse_buffer(set, names[i], data, len);
        }
        free(data);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    close(dfd);
    if (rc == BSUP_ENOMEM)
        bsup_diag_set(diag, rc, "%s: out of memory while loading drop-ins", dir);
    return rc;
}

void bsup_config_set_init(struct bsup_config_set *set)
{
    memset(set, 0, sizeof(*set));
}

void bsup_config_set_cleanup(struct bsup_config_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_services; i++)
        bsup_service_cleanup(&set->services[i]);
    free(set->services);
    for (size_t i = 0; i < set->n_files; i++)
        free(set->files[i].name);
    free(set->files);
    for (size_t i = 0; i < set->n_msgs; i++) {
        free(set->msgs[i].file);
        free(set->msgs[i].text);
    }
    free(set->msgs);
    memset(set, 0, sizeof(*set));
}

static void s_settings_env_defaults(struct bsup_settings *s)
{
    char why[256], path[4096];
    const char *state = getenv("STATE_DIRECTORY");
    const char *runtime = getenv("RUNTIME_DIRECTORY");
    int state_key = s_key_index(bsup_settings_keys, "state_dir");
    int socket_key = s_key_index(bsup_settings_keys, "socket");
    /* systemd may pass several directories separated by ':'; the first is ours. */
    if (state && *state == '/') {
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(state, ":"), state);
        bsup_config_field_set(&bsup_settings_keys[state_key], s, path, why, sizeof(why));
    }
    if (runtime && *runtime == '/') {
        snprintf(path, sizeof(path), "%.*s/bsupd.sock", (int)strcspn(runtime, ":"), runtime);
        bsup_config_field_set(&bsup_settings_keys[socket_key], s, path, why, sizeof(why));
    }
}

void bsup_settings_init(struct bsup_settings *s)
{
    memset(s, 0, sizeof(*s));
    bsup_config_fields_init(bsup_settings_keys, s);
    bsup_config_fields_defaults(bsup_settings_keys, s);
    s_settings_env_defaults(s);
}

void bsup_settings_cleanup(struct bsup_settings *s)
{
    if (!s)
        return;
    bsup_config_fields_free(bsup_settings_keys, s);
    memset(s, 0, sizeof(*s));
}

int bsup_settings_set(struct bsup_settings *s, const char *key, const char *value,
                      struct bsup_diag *diag)
{
    int i = s_key_index(bsup_settings_keys, key);
    if (i < 0)
        return bsup_diag_set(diag, BSUP_EINVAL, "unknown setting %s", key);
    char why[512];
    int rc = bsup_config_field_set(&bsup_settings_keys[i], s, value, why, sizeof(why));
    if (rc)
        bsup_diag_set(diag, rc, "%s", why);
    return rc;
}

int bsup_settings_load(struct bsup_settings *s, const char *path, bool optional,
                       struct bsup_diag *diag)
{
    struct bsup_config_set msgs;
    bsup_config_set_init(&msgs);
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash && slash == path)
        snprintf(dir, sizeof(dir), "/");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *data = NULL, why[512];
    size_t len = 0;
    int rc = 0;
    bool have_doc = false;
    struct s_file f = {.set = &msgs, .name = path};
    if (dfd < 0) {
        rc = (optional && errno == ENOENT) ? 0 : BSUP_EIO;
        if (rc)
            bsup_diag_set(diag, rc, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = s_read_file(dfd, slash ? slash + 1 : path, &data, &len, why, sizeof(why));
    close(dfd);
    if (rc) {
        if (optional && rc == BSUP_ENOTFOUND)
            rc = 0;
        else
            bsup_diag_set(diag, rc, "%s: %s", path, why);
        goto out;
    }
    const char *bad_why = NULL;
    size_t bad = s_utf8_check((const unsigned char *)data, len, &bad_why);
    if (bad != len) {
        yaml_mark_t m = s_mark_at((const unsigned char *)data, bad);
        s_error(&f, &m, "byte 0x%02x is %s", (unsigned char)data[bad], bad_why);
    } else if (s_prescan(&f, (const unsigned char *)data, len)) {
        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser)) {
            rc = BSUP_ENOMEM;
            goto out;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
        if (!yaml_parser_load(&parser, &f.doc)) {
            s_report_parser(&f, &parser);
        } else {
            have_doc = true;
            yaml_node_t *root = yaml_document_get_root_node(&f.doc);
            if (root && !s_is_null(root)) {
                if (root->type != YAML_MAPPING_NODE)
                    s_error(&f, &root->start_mark, "settings must be a mapping of keys, not %s",
                            s_node_kind(root));
                else
                    s_apply_mapping(&f, bsup_settings_keys, root, s, "", NULL);
            }
        }
        yaml_parser_delete(&parser);
    }
    if (f.rc) {
        rc = f.rc;
    } else if (msgs.n_errors) {
        /* Every error, joined, so the operator fixes them in one go. */
        char all[sizeof(diag->message)] = "";
        for (size_t i = 0; i < msgs.n_msgs; i++) {
            size_t used = strlen(all);
            snprintf(all + used, sizeof(all) - used, "%s%s", i ? "; " : "", msgs.msgs[i].text);
        }
        rc = bsup_diag_set(diag, BSUP_ECONFIG, "%s", all);
    }
out:
    if (have_doc)
        yaml_document_delete(&f.doc);
    free(data);
    bsup_config_set_cleanup(&msgs);
    return rc;
}
