/* The reconcile domains' caches (core/reconcile/cache.h) on disk: facts by (domain, key). */
#ifndef BSUP_STORE_CACHE_H
#define BSUP_STORE_CACHE_H

#include "core/reconcile/cache.h"
#include "store/store.h"

#include <stdint.h>

/* Loads domain's facts (the newest BSUP_DOMAIN_CACHE_MAX) into c, as saved. */
int bsup_store_cache_load(struct bsup_store *st, const char *domain, struct bsup_domain_cache *c,
                          struct bsup_diag *diag);
/* Saves c's new facts under domain (inside the caller's transaction, if any). */
int bsup_store_cache_save(struct bsup_store *st, const char *domain, struct bsup_domain_cache *c,
                          int64_t now_s, struct bsup_diag *diag);

#endif
