#include "store/cache.h"

#include "store/store_internal.h"

#include <stddef.h>

int bsup_store_cache_load(struct bsup_store *st, const char *domain, struct bsup_domain_cache *c,
                          struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    int rc = 0;
    int src = sqlite3_prepare_v2(st->db,
                                 "SELECT key, value FROM domain_cache WHERE domain = ? "
                                 "ORDER BY updated_at DESC LIMIT ?",
                                 -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(q, 1, domain, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, BSUP_DOMAIN_CACHE_MAX);
        while (rc == 0 && (src = sqlite3_step(q)) == SQLITE_ROW) {
            const char *key = (const char *)sqlite3_column_text(q, 0);
            const char *value = (const char *)sqlite3_column_text(q, 1);
            if (key && value && bsup_domain_cache_put(c, key, value, true) == BSUP_ENOMEM)
                rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory loading the %s cache", domain);
        }
    }
    sqlite3_finalize(q);
    if (rc == 0 && src != SQLITE_DONE)
        rc = bsup_store_error(st->db, st->path, src, "reading the domain cache", diag);
    return rc;
}

struct s_save {
    struct bsup_store *st;
    sqlite3_stmt *q;
};

static int s_save_one(void *ctx, const char *key, const char *value)
{
    struct s_save *s = ctx;
    sqlite3_reset(s->q);
    sqlite3_bind_text(s->q, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->q, 3, value, -1, SQLITE_STATIC);
    int src = sqlite3_step(s->q);
    return src == SQLITE_DONE ? 0 : src;
}

int bsup_store_cache_save(struct bsup_store *st, const char *domain, struct bsup_domain_cache *c,
                          int64_t now_s, struct bsup_diag *diag)
{
    if (c->n_dirty == 0)
        return 0;
    struct s_save s = {.st = st};
    int src = sqlite3_prepare_v2(st->db,
                                 "INSERT INTO domain_cache(domain, key, value, updated_at) "
                                 "VALUES(?, ?, ?, ?) ON CONFLICT(domain, key) DO UPDATE SET "
                                 "value = excluded.value, updated_at = excluded.updated_at",
                                 -1, &s.q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(s.q, 1, domain, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s.q, 4, now_s);
        src = bsup_domain_cache_flush(c, s_save_one, &s);
    }
    sqlite3_finalize(s.q);
    return src == SQLITE_OK
               ? 0
               : bsup_store_error(st->db, st->path, src, "saving the domain cache", diag);
}
