#include "store/journal.h"

#include "core/base/failpoint.h"
#include "store/store_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Runs one statement with bindings described by types: 't' text (NULL allowed), 'i' int64. */
static int s_exec(struct bsup_store *st, const char *sql, const char *types, ...)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL);
    if (src != SQLITE_OK)
        return src;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') {
            const char *t = va_arg(ap, const char *);
            if (t)
                sqlite3_bind_text(q, i + 1, t, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(q, i + 1);
        } else {
            sqlite3_bind_int64(q, i + 1, va_arg(ap, int64_t));
        }
    }
    va_end(ap);
    src = sqlite3_step(q);
    sqlite3_finalize(q);
    return src == SQLITE_DONE || src == SQLITE_ROW ? SQLITE_OK : src;
}

/* A failure a test build injects (BSUP_FAILPOINT_ERROR) where the store would fail. */
static int s_injected(struct bsup_store *st, const char *failpoint, const char *doing,
                      struct bsup_diag *diag)
{
    return bsup_diag_set(diag, BSUP_ESTORE, "state database %s: %s failed (failpoint %s)", st->path,
                         doing, failpoint);
}

int bsup_store_journal_begin(struct bsup_store *st, const char *service, const char *resource,
                             const char *action, const char *params_json, int64_t now_s,
                             int64_t *out_id, struct bsup_diag *diag)
{
    if (bsup_failpoint_error("store-journal-write"))
        return s_injected(st, "store-journal-write", "journaling an intent", diag);
    int src = s_exec(st,
                     "INSERT INTO journal(service, resource, action, params, started_at) "
                     "VALUES(?, ?, ?, ?, ?)",
                     "tttti", service, resource, action, params_json, now_s);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "journaling an intent", diag);
    *out_id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int bsup_store_journal_end(struct bsup_store *st, int64_t id, const char *outcome,
                           const char *error_code, const char *error_message,
                           const char *request_id, int64_t now_s, struct bsup_diag *diag)
{
    int src = s_exec(st,
                     "UPDATE journal SET outcome = ?, error_code = ?, error_message = ?, "
                     "request_id = ?, finished_at = ? WHERE id = ?",
                     "ttttii", outcome, error_code, error_message, request_id, now_s, id);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "journaling an outcome", diag);
    return 0;
}

int bsup_store_journal_recover(struct bsup_store *st, int64_t now_s, size_t *out_n,
                               struct bsup_diag *diag)
{
    int src = s_exec(st,
                     "UPDATE journal SET outcome = 'unknown', finished_at = ?, "
                     "error_message = 'bsupd stopped between intent and outcome; the next "
                     "observation decides' WHERE outcome IS NULL",
                     "i", now_s);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "recovering the journal", diag);
    if (out_n)
        *out_n = (size_t)sqlite3_changes(st->db);
    return 0;
}

static char *s_col(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? strdup((const char *)t) : NULL;
}

int bsup_store_journal_list(struct bsup_store *st, const char *service, size_t limit,
                            struct bsup_store_journal_entry **out, size_t *out_n,
                            struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    struct bsup_store_journal_entry *v = NULL;
    size_t n = 0;
    int src = sqlite3_prepare_v2(st->db,
                                 "SELECT id, service, resource, action, params, outcome, "
                                 "error_code, error_message, request_id, started_at, finished_at "
                                 "FROM journal WHERE ?1 IS NULL OR service = ?1 "
                                 "ORDER BY id DESC LIMIT ?2",
                                 -1, &q, NULL);
    if (src == SQLITE_OK) {
        if (service)
            sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (int64_t)limit);
        v = calloc(limit ? limit : 1, sizeof(*v));
        if (!v)
            src = SQLITE_NOMEM;
    }
    while (src == SQLITE_OK && n < limit && (src = sqlite3_step(q)) == SQLITE_ROW) {
        src = SQLITE_OK;
        struct bsup_store_journal_entry *e = &v[n++];
        e->id = sqlite3_column_int64(q, 0);
        e->service = s_col(q, 1);
        e->resource = s_col(q, 2);
        e->action = s_col(q, 3);
        e->params = s_col(q, 4);
        e->outcome = s_col(q, 5);
        e->error_code = s_col(q, 6);
        e->error_message = s_col(q, 7);
        e->request_id = s_col(q, 8);
        e->started_at_s = sqlite3_column_int64(q, 9);
        e->finished_at_s = sqlite3_column_int64(q, 10);
    }
    if (src == SQLITE_DONE || src == SQLITE_ROW)
        src = SQLITE_OK;
    sqlite3_finalize(q);
    if (src != SQLITE_OK) {
        bsup_store_journal_free(v, n);
        return bsup_store_error(st->db, st->path, src, "reading the journal", diag);
    }
    *out = v;
    *out_n = n;
    return 0;
}

void bsup_store_journal_free(struct bsup_store_journal_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].service);
        free(v[i].resource);
        free(v[i].action);
        free(v[i].params);
        free(v[i].outcome);
        free(v[i].error_code);
        free(v[i].error_message);
        free(v[i].request_id);
    }
    free(v);
}

int bsup_store_memory_get(struct bsup_store *st, const char *service, const char *resource,
                          struct bsup_resource_memory *out, struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    memset(out, 0, sizeof(*out));
    if (bsup_failpoint_error("store-memory-read"))
        return s_injected(st, "store-memory-read", "reading resource memory", diag);
    int src = sqlite3_prepare_v2(
        st->db,
        "SELECT last_change_at, corrections_in_a_row, fighting, changes, counted_changes FROM "
        "resource_memory WHERE service = ? AND resource = ?",
        -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, resource, -1, SQLITE_STATIC);
        src = sqlite3_step(q);
        if (src == SQLITE_ROW) {
            out->last_change_s = sqlite3_column_int64(q, 0);
            out->corrections_in_a_row = sqlite3_column_int(q, 1);
            out->fighting = sqlite3_column_int(q, 2) != 0;
            out->changes = sqlite3_column_int64(q, 3);
            out->counted_changes = sqlite3_column_int64(q, 4);
        }
    }
    sqlite3_finalize(q);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return bsup_store_error(st->db, st->path, src, "reading resource memory", diag);
    /* A change whose outcome is unknown may have landed: it counts as one for the cooldown.
     * (A service never overlaps itself, so an open intent is a dead process's.) */
    if (bsup_failpoint_error("store-journal-read"))
        return s_injected(st, "store-journal-read", "reading the journal", diag);
    q = NULL;
    src = sqlite3_prepare_v2(st->db,
                             "SELECT max(started_at) FROM journal WHERE service = ? AND "
                             "resource = ? AND (outcome IS NULL OR outcome = 'unknown')",
                             -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, resource, -1, SQLITE_STATIC);
        src = sqlite3_step(q);
        if (src == SQLITE_ROW)
            out->unknown_since_s = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return bsup_store_error(st->db, st->path, src, "reading the journal", diag);
    return 0;
}

int bsup_store_memory_streaks(struct bsup_store *st, const char *service, char ***out,
                              size_t *out_n, struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    char **v = NULL;
    size_t n = 0;
    int rc = 0;
    *out = NULL;
    *out_n = 0;
    if (bsup_failpoint_error("store-memory-read"))
        return s_injected(st, "store-memory-read", "reading resource memory", diag);
    int src = sqlite3_prepare_v2(st->db,
                                 "SELECT resource FROM resource_memory WHERE service = ? AND "
                                 "(corrections_in_a_row > 0 OR fighting != 0)",
                                 -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
        while ((src = sqlite3_step(q)) == SQLITE_ROW) {
            char **nv = realloc(v, (n + 1) * sizeof(*nv));
            char *r = s_col(q, 0);
            if (!nv || !r) {
                free(r);
                if (nv)
                    v = nv;
                rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory reading resource memory");
                break;
            }
            v = nv;
            v[n++] = r;
        }
    }
    sqlite3_finalize(q);
    if (rc == 0 && src != SQLITE_DONE)
        rc = bsup_store_error(st->db, st->path, src, "reading resource memory", diag);
    if (rc) {
        bsup_store_strings_free(v, n);
        return rc;
    }
    *out = v;
    *out_n = n;
    return 0;
}

void bsup_store_strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int bsup_store_memory_put(struct bsup_store *st, const char *service, const char *resource,
                          const struct bsup_resource_memory *mem, struct bsup_diag *diag)
{
    if (bsup_failpoint_error("store-memory-write"))
        return s_injected(st, "store-memory-write", "saving resource memory", diag);
    int src = s_exec(
        st,
        "INSERT INTO resource_memory(service, resource, last_change_at, "
        "corrections_in_a_row, fighting, changes, counted_changes) VALUES(?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(service, resource) DO UPDATE SET "
        "last_change_at = excluded.last_change_at, "
        "corrections_in_a_row = excluded.corrections_in_a_row, "
        "fighting = excluded.fighting, "
        "changes = excluded.changes, counted_changes = excluded.counted_changes",
        "ttiiiii", service, resource, mem->last_change_s, (int64_t)mem->corrections_in_a_row,
        (int64_t)mem->fighting, mem->changes, mem->counted_changes);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "saving resource memory", diag);
    return 0;
}

int bsup_store_observation_put(struct bsup_store *st, const char *service, int64_t now_s,
                               const char *state, const char *detail_json, struct bsup_diag *diag)
{
    int src = s_exec(st,
                     "INSERT INTO observations(service, observed_at, state, detail) "
                     "VALUES(?, ?, ?, ?) ON CONFLICT(service) DO UPDATE SET "
                     "observed_at = excluded.observed_at, state = excluded.state, "
                     "detail = excluded.detail",
                     "titt", service, now_s, state, detail_json);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "saving an observation", diag);
    return 0;
}

int bsup_store_observation_get(struct bsup_store *st, const char *service, int64_t *out_at_s,
                               char **out_state, char **out_detail)
{
    sqlite3_stmt *q = NULL;
    int rc = BSUP_ENOTFOUND;
    *out_state = *out_detail = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT observed_at, state, detail FROM observations WHERE service = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return BSUP_ESTORE;
    sqlite3_bind_text(q, 1, service, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        *out_at_s = sqlite3_column_int64(q, 0);
        *out_state = s_col(q, 1);
        *out_detail = s_col(q, 2);
        rc = *out_state && *out_detail ? 0 : BSUP_ENOMEM;
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_prune(struct bsup_store *st, int64_t before_s, size_t max_rows,
                     struct bsup_diag *diag)
{
    static const char *const sql[] = {
        "DELETE FROM journal WHERE started_at < ?1 AND outcome IS NOT NULL",
        "DELETE FROM journal WHERE outcome IS NOT NULL AND id <= "
        "(SELECT id FROM journal ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        "DELETE FROM events WHERE at < ?1",
        "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    };
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        int src = s_exec(st, sql[i], "ii", before_s, (int64_t)max_rows);
        if (src != SQLITE_OK)
            return bsup_store_error(st->db, st->path, src, "pruning old rows", diag);
    }
    return 0;
}
