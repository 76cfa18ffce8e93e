#include "core/base/strmap.h"

#include "core/base/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Marks a removed entry: probing goes on past it. */
static const char S_TOMBSTONE[] = "";

static uint64_t s_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

void bsup_strmap_cleanup(struct bsup_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

void bsup_strmap_cleanup_free(struct bsup_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].value); /* NULL in an empty or removed slot */
    bsup_strmap_cleanup(m);
}

/* The slot holding key, or NULL. */
static struct bsup_strmap_slot *s_find(const struct bsup_strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = s_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct bsup_strmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != S_TOMBSTONE && strcmp(s->key, key) == 0)
            return s;
    }
}

static int s_rehash(struct bsup_strmap *m, size_t cap)
{
    struct bsup_strmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return BSUP_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        const struct bsup_strmap_slot *s = &m->slots[i];
        if (!s->key || s->key == S_TOMBSTONE)
            continue;
        size_t j = s_hash(s->key) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->n;
    return 0;
}

int bsup_strmap_reserve(struct bsup_strmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    while (cap < SIZE_MAX / 4 && cap / 4 * 3 <= n) /* at most 3/4 full */
        cap *= 2;
    return cap == m->cap ? 0 : s_rehash(m, cap);
}

int bsup_strmap_put(struct bsup_strmap *m, const char *key, void *value)
{
    struct bsup_strmap_slot *s = s_find(m, key);
    if (s) {
        s->key = key;
        s->value = value;
        return 0;
    }
    if (m->used + 1 > m->cap / 4 * 3) {
        int rc = m->n + 1 > m->cap / 2 ? bsup_strmap_reserve(m, m->n + 1) : s_rehash(m, m->cap);
        if (rc)
            return rc;
    }
    size_t i = s_hash(key) & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != S_TOMBSTONE)
        i = (i + 1) & (m->cap - 1);
    m->used += m->slots[i].key == NULL;
    m->slots[i] = (struct bsup_strmap_slot){key, value};
    m->n++;
    return 0;
}

void *bsup_strmap_get(const struct bsup_strmap *m, const char *key)
{
    const struct bsup_strmap_slot *s = s_find(m, key);
    return s ? s->value : NULL;
}

int bsup_strmap_each(const struct bsup_strmap *m,
                     int (*fn)(void *ctx, const char *key, void *value), void *ctx)
{
    for (size_t i = 0; i < m->cap; i++) {
        const struct bsup_strmap_slot *s = &m->slots[i];
        int rc = s->key && s->key != S_TOMBSTONE ? fn(ctx, s->key, s->value) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

void bsup_strmap_del(struct bsup_strmap *m, const char *key)
{
    struct bsup_strmap_slot *s = s_find(m, key);
    if (!s)
        return;
    s->key = S_TOMBSTONE;
    s->value = NULL;
    m->n--;
}
