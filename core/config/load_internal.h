/* Internal to core/config/: what the YAML walker (yaml.c), the drop-in loader (dir.c) and the
 * settings loader (settings.c) share. Every problem found in a file becomes one message
 * "file:line:column: message" in the file's bsup_config_set. */
#ifndef BSUP_CORE_CONFIG_LOAD_INTERNAL_H
#define BSUP_CORE_CONFIG_LOAD_INTERNAL_H

#include "core/config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#define BSUP_CONFIG_MAX_KEYS 32 /* keys per table, for tracking where each was set */

/* One YAML document being loaded: its file name, its messages, its tree. */
struct bsup_config_doc {
    struct bsup_config_set *set;
    const char *name;
    bool settings; /* bsupd.yaml, not a drop-in: said so in messages */
    yaml_document_t doc;
    size_t errors; /* in this file */
    int rc;        /* BSUP_ENOMEM sticks */
};

/* Where each key of a table was written in the file. */
struct bsup_config_seen {
    bool set[BSUP_CONFIG_MAX_KEYS];
    yaml_mark_t mark[BSUP_CONFIG_MAX_KEYS];
};

/* ---- messages (yaml.c) ---- */

/* Appends a message (text is taken, even on failure). 0 or BSUP_ENOMEM. */
int bsup_config_msg_add(struct bsup_config_set *set, int severity, const char *file, char *text);
/* Adds "name:line:column: ..." (or "name: ..." without mark) to f's set; ENOMEM sticks in f->rc. */
void bsup_config_report(struct bsup_config_doc *f, int severity, const yaml_mark_t *mark,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define bsup_config_error(f, mark, ...) bsup_config_report(f, BSUP_CONFIG_ERROR, mark, __VA_ARGS__)
#define bsup_config_warning(f, mark, ...)                                                          \
    bsup_config_report(f, BSUP_CONFIG_WARNING, mark, __VA_ARGS__)
/* A short, printable rendering of an operator's value for messages (never for secrets). */
const char *bsup_config_shown(const char *v, char *buf, size_t len);

/* ---- the YAML tree to the key tables (yaml.c) ---- */

bool bsup_config_yaml_is_null(const yaml_node_t *n);
/* "a mapping", "a list" or "text", for messages. */
const char *bsup_config_yaml_node_kind(const yaml_node_t *n);
/* Sets the fields of base from the keys of map, per table; seen (may be NULL) records where
 * each key was written. prefix ("health_check.") names a section in messages. */
void bsup_config_yaml_apply_mapping(struct bsup_config_doc *f, const struct bsup_config_key *table,
                                    yaml_node_t *map, void *base, const char *prefix,
                                    struct bsup_config_seen *seen);
/* The value node of section.key in map (a service's mapping), or NULL when not written there:
 * for rules across keys of a section, which need to know what was set and where. */
yaml_node_t *bsup_config_yaml_find(struct bsup_config_doc *f, yaml_node_t *map, const char *section,
                                   const char *key);
/* The index of key name in table, or -1. */
int bsup_config_key_index(const struct bsup_config_key *table, const char *name);

/* ---- bytes and events before the tree (yaml.c) ---- */

/* The offset of the first byte that is not UTF-8 text YAML allows, or len; *out_why says why. */
size_t bsup_config_utf8_check(const unsigned char *s, size_t len, const char **out_why);
/* The line and column of byte off, for a message about it (a leading byte order mark is no
 * column, as libyaml counts). */
yaml_mark_t bsup_config_mark_at(const unsigned char *s, size_t off);
/* Reports libyaml's parse error as a message (or ENOMEM in f->rc). */
void bsup_config_yaml_report_parser(struct bsup_config_doc *f, yaml_parser_t *p);
/* Reads the file's one YAML document into f->doc (which the caller then deletes), refusing
 * aliases, anchors, several documents, too many nodes, too deep nesting; false with a message
 * (or f->rc) when the file must not be loaded, f->doc then not held. */
bool bsup_config_yaml_load(struct bsup_config_doc *f, const unsigned char *data, size_t len);

/* ---- files (dir.c) ---- */

/* Reads the regular file name (relative to dirfd) of at most BSUP_CONFIG_MAX_FILE_BYTES:
 * 0 and *out (caller frees), or a code with a message in why. */
int bsup_config_read_file(int dirfd, const char *name, bool confine, char **out, size_t *out_len,
                          char *why, size_t why_len);

#endif
