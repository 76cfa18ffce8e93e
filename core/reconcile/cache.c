#include "core/reconcile/cache.h"

#include "core/base/error.h"

#include <stdlib.h>
#include <string.h>

static void s_entry_free(struct bsup_domain_cache_entry *x)
{
    if (!x)
        return;
    free(x->key);
    free(x->value);
    free(x);
}

void bsup_domain_cache_cleanup(struct bsup_domain_cache *c)
{
    for (size_t i = 0; i < c->map.cap; i++)
        if (c->map.slots[i].value)
            s_entry_free(c->map.slots[i].value);
    bsup_strmap_cleanup(&c->map);
    c->n_dirty = 0;
}

const char *bsup_domain_cache_get(const struct bsup_domain_cache *c, const char *key)
{
    const struct bsup_domain_cache_entry *x = bsup_strmap_get(&c->map, key);
    return x ? x->value : NULL;
}

bool bsup_domain_cache_saved(const struct bsup_domain_cache *c, const char *key)
{
    const struct bsup_domain_cache_entry *x = bsup_strmap_get(&c->map, key);
    return x && !x->dirty;
}

void bsup_domain_cache_each(const struct bsup_domain_cache *c,
                            void (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    for (size_t i = 0; i < c->map.cap; i++) {
        const struct bsup_domain_cache_entry *x = c->map.slots[i].value;
        if (x)
            fn(ctx, x->key, x->value);
    }
}

int bsup_domain_cache_put(struct bsup_domain_cache *c, const char *key, const char *value,
                          bool loaded)
{
    struct bsup_domain_cache_entry *x = bsup_strmap_get(&c->map, key);
    if (x && strcmp(x->value, value) == 0)
        return 0;
    if (!x && c->map.n >= BSUP_DOMAIN_CACHE_MAX)
        return BSUP_ETOOBIG;
    char *v = strdup(value);
    if (!v)
        return BSUP_ENOMEM;
    if (x) {
        free(x->value);
        x->value = v;
    } else {
        x = calloc(1, sizeof(*x));
        if (!x || !(x->key = strdup(key)) || bsup_strmap_put(&c->map, x->key, x)) {
            free(v);
            if (x)
                free(x->key);
            free(x);
            return BSUP_ENOMEM;
        }
        x->value = v;
    }
    if (!loaded && !x->dirty) {
        x->dirty = true;
        c->n_dirty++;
    }
    return 0;
}

int bsup_domain_cache_flush(struct bsup_domain_cache *c,
                            int (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    for (size_t i = 0; c->n_dirty && i < c->map.cap; i++) {
        struct bsup_domain_cache_entry *x = c->map.slots[i].value;
        if (!x || !x->dirty)
            continue;
        int rc = fn(ctx, x->key, x->value);
        if (rc)
            return rc;
    }
    for (size_t i = 0; c->n_dirty && i < c->map.cap; i++) {
        struct bsup_domain_cache_entry *x = c->map.slots[i].value;
        if (x && x->dirty) {
            x->dirty = false;
            c->n_dirty--;
        }
    }
    return 0;
}
