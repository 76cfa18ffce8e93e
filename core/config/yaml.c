/* YAML (libyaml) to the key tables: checks that a file is UTF-8 text, refuses what the tree
 * would hide or make dangerous (aliases, anchors, several documents, too many nodes, too deep
 * nesting), walks mappings into typed fields (type, bounds, rules; unknown keys with a
 * suggestion), and turns every problem into one "file:line:column: message". Shared by the
 * drop-in loader (dir.c) and the settings loader (settings.c). */
#include "core/config/load_internal.h"

#include "core/base/array.h"
#include "core/config/fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bsup_config_msg_add(struct bsup_config_set *set, int severity, const char *file, char *text)
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

#define S_MESSAGE_MAX 300 /* bytes of a message's body */

void bsup_config_report(struct bsup_config_doc *f, int severity, const yaml_mark_t *mark,
                        const char *fmt, ...)
{
    char body[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    /* Messages quote the file (keys, values): never a control byte, never more than a short
     * piece of it, whatever the file holds. */
    for (char *c = body; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    if (strlen(body) > S_MESSAGE_MAX) {
        size_t cut = S_MESSAGE_MAX - 3;
        while (cut && ((unsigned char)body[cut] & 0xc0) == 0x80)
            cut--; /* not inside a UTF-8 character */
        memcpy(body + cut, "...", 4);
    }
    char *text = NULL;
    int n = mark
                ? asprintf(&text, "%s:%zu:%zu: %s", f->name, mark->line + 1, mark->column + 1, body)
                : asprintf(&text, "%s: %s", f->name, body);
    if (n < 0 || bsup_config_msg_add(f->set, severity, f->name, text)) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    if (severity == BSUP_CONFIG_ERROR)
        f->errors++;
}

/* A short, printable rendering of an operator's value for messages (never for secrets). */
const char *bsup_config_shown(const char *v, char *buf, size_t len)
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

bool bsup_config_yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

const char *bsup_config_yaml_node_kind(const yaml_node_t *n)
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

static void s_apply_value(struct bsup_config_doc *f, const struct bsup_config_key *k,
                          yaml_node_t *val, void *base, const char *prefix)
{
    char why[512], full[96];
    snprintf(full, sizeof(full), "%s%s", prefix, k->name);
    void *field = (char *)base + k->offset;

    if (k->type == BSUP_KEY_SECTION) {
        if (val->type != YAML_MAPPING_NODE) {
            bsup_config_error(f, &val->start_mark, "%s must be a mapping, not %s", full,
                              bsup_config_yaml_node_kind(val));
            return;
        }
        char sub[128];
        snprintf(sub, sizeof(sub), "%s.", full);
        bsup_config_yaml_apply_mapping(f, k->section, val, field, sub, NULL);
        return;
    }
    if (k->type == BSUP_KEY_LIST) {
        if (val->type != YAML_SEQUENCE_NODE) {
            bsup_config_error(f, &val->start_mark, "%s must be a list, not %s", full,
                              bsup_config_yaml_node_kind(val));
            return;
        }
        struct bsup_strlist *l = field;
        size_t count = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
        if (count < (size_t)k->min || count > (size_t)k->max) {
            bsup_config_error(f, &val->start_mark,
                              "%s must hold %lld to %lld entries (it holds %zu)", full,
                              (long long)k->min, (long long)k->max, count);
            return;
        }
        for (yaml_node_item_t *it = val->data.sequence.items.start;
             it < val->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&f->doc, *it);
            if (e->type != YAML_SCALAR_NODE) {
                bsup_config_error(f, &e->start_mark, "each entry of %s must be text, not %s", full,
                                  bsup_config_yaml_node_kind(e));
                continue;
            }
            const char *text = (const char *)e->data.scalar.value;
            char shown[64];
            for (size_t i = 0; i < l->n; i++) {
                if (strcmp(l->v[i], text) == 0) {
                    bsup_config_error(f, &e->start_mark, "%s lists %s twice", full,
                                      bsup_config_shown(text, shown, sizeof(shown)));
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
                bsup_config_error(f, &e->start_mark, "%s%s (entry %s)", prefix, why,
                                  bsup_config_shown(text, shown, sizeof(shown)));
        }
        return;
    }
    if (val->type != YAML_SCALAR_NODE) {
        bsup_config_error(f, &val->start_mark, "%s must be %s, not %s", full,
                          s_type_wanted(k->type), bsup_config_yaml_node_kind(val));
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
            bsup_config_error(f, &val->start_mark, "%s%s", prefix, why);
        else
            bsup_config_error(f, &val->start_mark, "%s%s (got \"%s\")", prefix, why,
                              bsup_config_shown(text, shown, sizeof(shown)));
    }
}

void bsup_config_yaml_apply_mapping(struct bsup_config_doc *f, const struct bsup_config_key *table,
                                    yaml_node_t *map, void *base, const char *prefix,
                                    struct bsup_config_seen *seen)
{
    struct bsup_config_seen local;
    if (!seen)
        seen = &local;
    memset(seen, 0, sizeof(*seen));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&f->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(&f->doc, p->value);
        if (key->type != YAML_SCALAR_NODE) {
            bsup_config_error(f, &key->start_mark, "keys must be plain words, not %s",
                              bsup_config_yaml_node_kind(key));
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
            if (!*name)
                bsup_config_error(f, &key->start_mark, "a key is empty (\"\" or a lone ?)");
            else if (hint)
                bsup_config_error(f, &key->start_mark, "unknown key %s%s; did you mean %s%s?",
                                  prefix, bsup_config_shown(name, shown, sizeof(shown)), prefix,
                                  hint);
            else
                bsup_config_error(f, &key->start_mark, "unknown key %s%s", prefix,
                                  bsup_config_shown(name, shown, sizeof(shown)));
            continue;
        }
        if (seen->set[idx]) {
            /* The first key's line: its value may start lines below (a block under it). */
            yaml_node_t *first = NULL;
            for (yaml_node_pair_t *q = map->data.mapping.pairs.start; !first && q < p; q++) {
                yaml_node_t *qk = yaml_document_get_node(&f->doc, q->key);
                if (qk->type == YAML_SCALAR_NODE &&
                    strcmp((const char *)qk->data.scalar.value, name) == 0)
                    first = qk;
            }
            bsup_config_error(f, &key->start_mark, "%s%s is set twice (first at line %zu)", prefix,
                              name, (first ? first->start_mark : seen->mark[idx]).line + 1);
            continue;
        }
        seen->set[idx] = true;
        seen->mark[idx] = val->start_mark;
        /* An empty value is an error, never the default: a template that rendered empty must
         * not change bounds or mode unnoticed. */
        if (bsup_config_yaml_is_null(val)) {
            seen->set[idx] = false;
            if (k->required)
                bsup_config_error(f, &val->start_mark, "%s%s has no value", prefix, name);
            else if (k->if_declared)
                bsup_config_error(
                    f, &val->start_mark,
                    "%s%s has no value; remove the key to leave the target group's value "
                    "as it is",
                    prefix, name);
            else if (k->default_text)
                bsup_config_error(f, &val->start_mark,
                                  "%s%s has no value; remove the key to take the default (%s)",
                                  prefix, name, k->default_text);
            else
                bsup_config_error(f, &val->start_mark,
                                  "%s%s has no value; remove the key to take the default%s", prefix,
                                  name, k->type == BSUP_KEY_SECTION ? "s" : "");
            continue;
        }
        s_apply_value(f, k, val, base, prefix);
    }
}

/* The value of key in mapping map, or NULL (also when map is not a mapping). */
static yaml_node_t *s_find(struct bsup_config_doc *f, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&f->doc, p->value);
    }
    return NULL;
}

yaml_node_t *bsup_config_yaml_find(struct bsup_config_doc *f, yaml_node_t *map, const char *section,
                                   const char *key)
{
    yaml_node_t *v = s_find(f, s_find(f, map, section), key);
    return v && !bsup_config_yaml_is_null(v) ? v : NULL;
}

int bsup_config_key_index(const struct bsup_config_key *table, const char *name)
{
    for (int i = 0; table[i].name; i++)
        if (strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

/* Returns the offset of the first byte that is not valid UTF-8 or is a control character
 * YAML forbids, or len when all is well. */
size_t bsup_config_utf8_check(const unsigned char *s, size_t len, const char **out_why)
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

yaml_mark_t bsup_config_mark_at(const unsigned char *s, size_t off)
{
    yaml_mark_t m = {0};
    /* A leading byte order mark is no column, as libyaml counts. */
    size_t bom = off >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf ? 3 : 0;
    /* Line breaks as libyaml's: LF, CR, CR LF (one), NEL, LS and PS. s is valid UTF-8 up to off. */
    for (size_t i = bom; i < off; i++) {
        bool lf_next = i + 1 < off && s[i + 1] == '\n';
        bool nel = s[i] == 0xc2 && i + 1 < off && s[i + 1] == 0x85;
        bool ls_ps = s[i] == 0xe2 && i + 2 < off && s[i + 1] == 0x80 &&
                     (s[i + 2] == 0xa8 || s[i + 2] == 0xa9);
        if (s[i] == '\n' || (s[i] == '\r' && !lf_next) || nel || ls_ps) {
            m.line++;
            m.column = 0;
            i += nel ? 1 : ls_ps ? 2 : 0;
        } else if ((s[i] & 0xc0) != 0x80 && s[i] != '\r') {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

void bsup_config_yaml_report_parser(struct bsup_config_doc *f, yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR) {
        f->rc = BSUP_ENOMEM;
    } else if (p->context) {
        bsup_config_error(f, &p->problem_mark, "not valid YAML: %s %s (line %zu)", problem,
                          p->context, p->context_mark.line + 1);
    } else {
        bsup_config_error(f, &p->problem_mark, "not valid YAML: %s", problem);
    }
}

/* A collection being read: its node, and for a mapping the key waiting for its value. */
struct s_open {
    int id;
    int key;
};

/* Adds the node an event starts to the document, under the collection open at the top of the
 * stack (as an item, or a mapping's key then its value). Its id, or 0 without memory. */
static int s_add_node(yaml_document_t *doc, const yaml_event_t *ev, struct s_open *top)
{
    int id = 0;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        id = yaml_document_add_scalar(doc, NULL, ev->data.scalar.value, (int)ev->data.scalar.length,
                                      ev->data.scalar.style);
        break;
    case YAML_SEQUENCE_START_EVENT:
        id = yaml_document_add_sequence(doc, NULL, ev->data.sequence_start.style);
        break;
    default:
        id = yaml_document_add_mapping(doc, NULL, ev->data.mapping_start.style);
        break;
    }
    if (!id)
        return 0;
    doc->nodes.start[id - 1].start_mark = ev->start_mark;
    doc->nodes.start[id - 1].end_mark = ev->end_mark;
    if (!top)
        return id; /* the root */
    yaml_node_t *parent = &doc->nodes.start[top->id - 1];
    if (parent->type == YAML_SEQUENCE_NODE)
        return yaml_document_append_sequence_item(doc, top->id, id) ? id : 0;
    if (!top->key) {
        top->key = id;
        return id;
    }
    int key = top->key;
    top->key = 0;
    return yaml_document_append_mapping_pair(doc, top->id, key, id) ? id : 0;
}

/* Reads the one document of a drop-in or the settings file into f->doc, in one pass over the
 * events that refuses first what the tree would hide or make dangerous: aliases and anchors
 * (alias bombs), tags, several documents, too many nodes, too deep nesting. */
bool bsup_config_yaml_load(struct bsup_config_doc *f, const unsigned char *data, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct s_open open[BSUP_CONFIG_MAX_DEPTH];
    if (!yaml_parser_initialize(&p)) {
        f->rc = BSUP_ENOMEM;
        return false;
    }
    if (!yaml_document_initialize(&f->doc, NULL, NULL, NULL, 1, 1)) {
        yaml_parser_delete(&p);
        f->rc = BSUP_ENOMEM;
        return false;
    }
    yaml_parser_set_input_string(&p, data, len);
    bool ok = true, done = false;
    size_t nodes = 0, depth = 0, docs = 0;
    const char *where = f->settings ? "the settings file" : "drop-ins";
    while (ok && !done) {
        if (!yaml_parser_parse(&p, &ev)) {
            bsup_config_yaml_report_parser(f, &p);
            ok = false;
            break;
        }
        const yaml_char_t *anchor = NULL, *tag = NULL;
        bool node = false;
        switch (ev.type) {
        case YAML_ALIAS_EVENT:
            bsup_config_error(f, &ev.start_mark, "YAML aliases (*%s) are not allowed in %s",
                              (const char *)ev.data.alias.anchor, where);
            ok = false;
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            tag = ev.data.scalar.tag;
            node = true;
            /* An escaped NUL ("\0", "\x00", "\u0000") would cut the text short unseen: a
             * key or a file reference would read as its first part. */
            if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length) {
                bsup_config_error(f, &ev.start_mark,
                                  "text holds a NUL character (\\0), not allowed in %s", where);
                ok = false;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            tag = ev.data.sequence_start.tag;
            node = true;
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            tag = ev.data.mapping_start.tag;
            node = true;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            f->doc.nodes.start[open[depth].id - 1].end_mark = ev.end_mark;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                bsup_config_error(f, &ev.start_mark, "%s",
                                  f->settings ? "the settings file holds one YAML document"
                                              : "a drop-in holds one YAML document; put more "
                                                "services under services:");
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
            bsup_config_error(f, &ev.start_mark, "YAML anchors (&%s) are not allowed in %s",
                              (const char *)anchor, where);
            ok = false;
        } else if (ok && tag && strcmp((const char *)tag, YAML_STR_TAG) != 0) {
            /* Every value is read as the text written (!!str says just that): a tag another
             * tool acts on (!vault, !include, !env, !!binary) would be dropped unseen. */
            const char *t = (const char *)tag, *core = "tag:yaml.org,2002:";
            bool short_form = strncmp(t, core, strlen(core)) == 0; /* as written: !!str */
            bsup_config_error(f, &ev.start_mark, "YAML tags (%s%s) are not allowed in %s",
                              short_form ? "!!" : "", short_form ? t + strlen(core) : t, where);
            ok = false;
        } else if (ok && node && ++nodes > BSUP_CONFIG_MAX_NODES) {
            bsup_config_error(f, &ev.start_mark, "too many YAML nodes (more than %d)",
                              BSUP_CONFIG_MAX_NODES);
            ok = false;
        } else if (ok && node && ev.type != YAML_SCALAR_EVENT && depth == BSUP_CONFIG_MAX_DEPTH) {
            bsup_config_error(f, &ev.start_mark, "nested too deeply (more than %d levels)",
                              BSUP_CONFIG_MAX_DEPTH);
            ok = false;
        } else if (ok && node) {
            int id = s_add_node(&f->doc, &ev, depth ? &open[depth - 1] : NULL);
            if (!id) {
                f->rc = BSUP_ENOMEM;
                ok = false;
            } else if (ev.type != YAML_SCALAR_EVENT) {
                open[depth++] = (struct s_open){.id = id};
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (!ok)
        yaml_document_delete(&f->doc);
    return ok;
}
