/* A map from strings to pointers (open addressing, FNV-1a): service names to their records,
 * so that looking one up costs the same for 10 services as for 10 000. Keys are not copied:
 * they must outlive their entry (typically the key is a field of the value). */
#ifndef BSUP_CORE_BASE_STRMAP_H
#define BSUP_CORE_BASE_STRMAP_H

#include <stddef.h>

struct bsup_strmap_slot {
    const char *key; /* NULL: empty; BSUP_STRMAP_TOMBSTONE: removed */
    void *value;
};

struct bsup_strmap {
    struct bsup_strmap_slot *slots;
    size_t cap;  /* a power of two, or 0 */
    size_t n;    /* live entries */
    size_t used; /* live entries and tombstones */
};

/* Zero-initialised is an empty map. */
void bsup_strmap_cleanup(struct bsup_strmap *m);
/* The same, freeing every value first (for maps whose values are single allocations holding
 * their own key). */
void bsup_strmap_cleanup_free(struct bsup_strmap *m);
/* Sets key to value (replacing an entry with an equal key). 0 or BSUP_ENOMEM. */
int bsup_strmap_put(struct bsup_strmap *m, const char *key, void *value);
/* The value of key, or NULL. */
void *bsup_strmap_get(const struct bsup_strmap *m, const char *key);
/* Removes key if present. */
void bsup_strmap_del(struct bsup_strmap *m, const char *key);
/* Calls fn for every entry, in no particular order, until fn returns non-zero (returned). */
int bsup_strmap_each(const struct bsup_strmap *m,
                     int (*fn)(void *ctx, const char *key, void *value), void *ctx);
/* Reserves room for n entries (so that a bulk load does not rehash). 0 or BSUP_ENOMEM. */
int bsup_strmap_reserve(struct bsup_strmap *m, size_t n);

#endif
