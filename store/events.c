#include "store/events.h"

#include "store/store_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int bsup_store_event_add(struct bsup_store *st, int64_t at_s, const char *service, const char *kind,
                         const char *message, const char *request_id, struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(st->db,
                                 "INSERT INTO events(at, service, kind, message, request_id) "
                                 "VALUES(?, ?, ?, ?, ?)",
                                 -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, at_s);
        sqlite3_bind_text(q, 2, service, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, message, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, request_id, -1, SQLITE_STATIC);
        src = sqlite3_step(q);
        if (src == SQLITE_DONE)
            src = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return src == SQLITE_OK ? 0
                            : bsup_store_error(st->db, st->path, src, "recording an event", diag);
}

static char *s_dup_col(sqlite3_stmt *q, int col, bool *oom)
{
    const char *v = (const char *)sqlite3_column_text(q, col);
    if (!v)
        return NULL;
    char *d = strdup(v);
    if (!d)
        *oom = true;
    return d;
}

int bsup_store_events_list(struct bsup_store *st, int64_t since_s, const char *service,
                           size_t limit, struct bsup_store_event **out, size_t *out_n,
                           struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    struct bsup_store_event *v = NULL;
    size_t n = 0;
    bool oom = false;
    int rc = 0;
    *out = NULL;
    *out_n = 0;
    if (limit == 0)
        return 0;
    /* The newest `limit` matching rows, returned oldest first. */
    int src =
        sqlite3_prepare_v2(st->db,
                           "SELECT id, at, service, kind, message, request_id FROM ("
                           "  SELECT * FROM events WHERE at >= ?1 AND (?2 IS NULL OR service = ?2)"
                           "  ORDER BY id DESC LIMIT ?3) ORDER BY id",
                           -1, &q, NULL);
    if (src != SQLITE_OK) {
        rc = bsup_store_error(st->db, st->path, src, "listing events", diag);
        goto out;
    }
    sqlite3_bind_int64(q, 1, since_s);
    sqlite3_bind_text(q, 2, service, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)limit);
    v = calloc(limit < 1024 ? limit : 1024, sizeof(*v));
    size_t cap = limit < 1024 ? limit : 1024;
    if (!v) {
        rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
        goto out;
    }
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            struct bsup_store_event *nv = realloc(v, 2 * cap * sizeof(*v));
            if (!nv) {
                oom = true;
                break;
            }
            v = nv;
            cap *= 2;
        }
        struct bsup_store_event *e = &v[n++];
        memset(e, 0, sizeof(*e));
        e->id = sqlite3_column_int64(q, 0);
        e->at_s = sqlite3_column_int64(q, 1);
        e->service = s_dup_col(q, 2, &oom);
        e->kind = s_dup_col(q, 3, &oom);
        e->message = s_dup_col(q, 4, &oom);
        e->request_id = s_dup_col(q, 5, &oom);
        if (oom)
            break;
    }
    if (oom) {
        rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
        goto out;
    }
    if (src != SQLITE_DONE) {
        rc = bsup_store_error(st->db, st->path, src, "listing events", diag);
        goto out;
    }
    *out = v;
    *out_n = n;
    v = NULL;
    n = 0;
out:
    sqlite3_finalize(q);
    bsup_store_events_free(v, n);
    return rc;
}

void bsup_store_events_free(struct bsup_store_event *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].service);
        free(v[i].kind);
        free(v[i].message);
        free(v[i].request_id);
    }
    free(v);
}

int bsup_store_events_prune(struct bsup_store *st, int64_t before_s, size_t *out_deleted,
                            struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(st->db, "DELETE FROM events WHERE at < ?", -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, before_s);
        src = sqlite3_step(q);
        if (src == SQLITE_DONE)
            src = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "pruning events", diag);
    if (out_deleted)
        *out_deleted = (size_t)sqlite3_changes(st->db);
    return 0;
}
