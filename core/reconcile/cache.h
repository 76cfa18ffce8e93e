/* What a domain learns once and may keep (a launch template version's instance type never
 * changes): string facts by key. The engine loads them from the store when it starts and
 * saves new ones with the cycle that learnt them, so they survive restarts and --once runs.
 * Bounded: past BSUP_DOMAIN_CACHE_MAX entries, new facts are not kept (a miss costs a call). */
#ifndef BSUP_CORE_RECONCILE_CACHE_H
#define BSUP_CORE_RECONCILE_CACHE_H

#include "core/base/strmap.h"

#include <stdbool.h>
#include <stddef.h>

#define BSUP_DOMAIN_CACHE_MAX 20000

struct bsup_domain_cache_entry {
    char *key;
    char *value;
    bool dirty; /* not saved yet */
};

struct bsup_domain_cache {
    struct bsup_strmap map; /* key -> entry */
    size_t n_dirty;
};

/* Zero-initialised is empty. */
void bsup_domain_cache_cleanup(struct bsup_domain_cache *c);
/* The value of key, or NULL. */
const char *bsup_domain_cache_get(const struct bsup_domain_cache *c, const char *key);
/* Sets key (copies both); marked to be saved unless loaded is true. 0, BSUP_ENOMEM, or
 * BSUP_ETOOBIG when the cache is full. */
int bsup_domain_cache_put(struct bsup_domain_cache *c, const char *key, const char *value,
                          bool loaded);
/* Whether key's current value is in the store (loaded from it, or saved since it was set):
 * what must survive a crash is acted on only once this is true. */
bool bsup_domain_cache_saved(const struct bsup_domain_cache *c, const char *key);
/* Calls fn for every entry, in no particular order. */
void bsup_domain_cache_each(const struct bsup_domain_cache *c,
                            void (*fn)(void *ctx, const char *key, const char *value), void *ctx);
/* Calls fn for every entry not saved yet, then marks them saved (only if fn returned 0 for
 * all; else they stay to be saved next time). Returns fn's first error. */
int bsup_domain_cache_flush(struct bsup_domain_cache *c,
                            int (*fn)(void *ctx, const char *key, const char *value), void *ctx);

#endif
