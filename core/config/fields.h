/* Internal to core/config*: generic operations over a key table and the struct it describes. */
#ifndef BSUP_CORE_CONFIG_FIELDS_H
#define BSUP_CORE_CONFIG_FIELDS_H

#include "core/config/config.h"

/* Sets the field of key k in base from text, checking type, bounds and rule. On error, why
 * holds a message that starts with the key name and never quotes a secret. */
int bsup_config_field_set(const struct bsup_config_key *k, void *base, const char *text, char *why,
                          size_t why_len);
/* Rule check (the form) then length check of one text value. */
int bsup_config_check_text(const struct bsup_config_key *k, const char *text, char *why,
                           size_t why_len);
/* Optional enums start as BSUP_MODE_DEFAULT (-1, "unset"). */
void bsup_config_fields_init(const struct bsup_config_key *table, void *base);
int bsup_config_fields_defaults(const struct bsup_config_key *table, void *base);
void bsup_config_fields_free(const struct bsup_config_key *table, void *base);
int bsup_config_fields_copy(const struct bsup_config_key *table, void *dst, const void *src);
int bsup_strlist_push(struct bsup_strlist *l, const char *s);

#endif
