#include "store/events.h"

#include "store/store_internal.h"

#include "core/base/array.h"
#include "core/metrics/alerts.h"

#include <stdlib.h>
#include <string.h>

int bsup_store_event_add(struct bsup_store *st, int64_t at_s, const char *service, const char *kind,
                         const char *message, const char *request_id, struct bsup_diag *diag)
{
    return bsup_store_event_alert_rid(st, at_s, service, NULL, kind, message, request_id,
                                      BSUP_ALERT_NONE, NULL, NULL, 0, diag);
}

/* The rows sql (?1 an integer, ?2 the service or NULL, ?3 the limit) selects: id, at, service,
 * kind, message, request_id. */
static int s_list(struct bsup_store *st, const char *sql, int64_t arg, const char *service,
                  size_t limit, struct bsup_store_event **out, size_t *out_n,
                  struct bsup_diag *diag)
{
    static const char *const doing = "listing events";
    sqlite3_stmt *q = NULL;
    struct bsup_store_event *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *out_n = 0;
    if (limit == 0)
        return 0;
    int rc = bsup_store_prepare(
        st, doing, sql,
        BSUP_STORE_ARGS(BSUP_STORE_INT(arg), BSUP_STORE_TEXT(service), BSUP_STORE_INT(limit)), &q,
        diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        rc = 0;
        if (BSUP_ARRAY_RESERVE(v, cap, n + 1) < 0) {
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
            break;
        }
        struct bsup_store_event *e = &v[n++];
        memset(e, 0, sizeof(*e));
        e->id = sqlite3_column_int64(q, 0);
        e->at_s = sqlite3_column_int64(q, 1);
        if (bsup_store_column_dup(q, 2, &e->service) < 0 ||
            bsup_store_column_dup(q, 3, &e->kind) < 0 ||
            bsup_store_column_dup(q, 4, &e->message) < 0 ||
            bsup_store_column_dup(q, 5, &e->request_id) < 0) {
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
            break;
        }
    }
    sqlite3_finalize(q);
    if (rc < 0) {
        bsup_store_events_free(v, n);
        return rc;
    }
    *out = v;
    *out_n = n;
    return 0;
}

int bsup_store_events_list(struct bsup_store *st, int64_t since_s, const char *service,
                           size_t limit, struct bsup_store_event **out, size_t *out_n,
                           struct bsup_diag *diag)
{
    /* The newest `limit` matching rows, returned oldest first. */
    return s_list(st,
                  "SELECT id, at, service, kind, message, request_id FROM ("
                  "  SELECT * FROM events WHERE at >= ?1 AND (?2 IS NULL OR service = ?2)"
                  "  ORDER BY id DESC LIMIT ?3) ORDER BY id",
                  since_s, service, limit, out, out_n, diag);
}

int bsup_store_events_after(struct bsup_store *st, int64_t after_id, const char *service,
                            size_t limit, struct bsup_store_event **out, size_t *out_n,
                            struct bsup_diag *diag)
{
    return s_list(st,
                  "SELECT id, at, service, kind, message, request_id FROM events"
                  " WHERE id > ?1 AND (?2 IS NULL OR service = ?2) ORDER BY id LIMIT ?3",
                  after_id, service, limit, out, out_n, diag);
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
    int rc = bsup_store_exec(st, "pruning events", "DELETE FROM events WHERE at < ?",
                             BSUP_STORE_ARGS(BSUP_STORE_INT(before_s)), diag);
    if (rc == 0 && out_deleted)
        *out_deleted = (size_t)sqlite3_changes(st->db);
    return rc;
}
