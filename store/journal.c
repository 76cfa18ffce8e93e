#include "store/journal.h"

#include "core/base/array.h"
#include "core/base/failpoint.h"
#include "store/store_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
    int rc = bsup_store_check_file(st, "journaling an intent", diag);
    if (rc)
        return rc;
    /* The intent is on disk before the call it announces goes out, even across a power cut:
     * this commit alone syncs the WAL (which makes every commit before it durable too). */
    bool sync = sqlite3_get_autocommit(st->db) &&
                sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) == SQLITE_OK;
    rc = bsup_store_exec(st, "journaling an intent",
                         "INSERT INTO journal(service, resource, action, params, started_at) "
                         "VALUES(?, ?, ?, ?, ?)",
                         BSUP_STORE_ARGS(BSUP_STORE_TEXT(service), BSUP_STORE_TEXT(resource),
                                         BSUP_STORE_TEXT(action), BSUP_STORE_TEXT(params_json),
                                         BSUP_STORE_INT(now_s)),
                         diag);
    if (rc == 0)
        *out_id = sqlite3_last_insert_rowid(st->db);
    if (sync) /* failing, it stays FULL: slower, never less safe */
        sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return rc;
}

int bsup_store_journal_end(struct bsup_store *st, int64_t id, const char *outcome,
                           const char *error_code, const char *error_message,
                           const char *request_id, int64_t now_s, struct bsup_diag *diag)
{
    return bsup_store_exec(
        st, "journaling an outcome",
        "UPDATE journal SET outcome = ?, error_code = ?, error_message = ?, request_id = ?, "
        "finished_at = ? WHERE id = ?",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(outcome), BSUP_STORE_TEXT(error_code),
                        BSUP_STORE_TEXT(error_message), BSUP_STORE_TEXT(request_id),
                        BSUP_STORE_INT(now_s), BSUP_STORE_INT(id)),
        diag);
}

int bsup_store_journal_recover(struct bsup_store *st, int64_t now_s, size_t *out_n,
                               struct bsup_diag *diag)
{
    int rc = bsup_store_exec(st, "recovering the journal",
                             "UPDATE journal SET outcome = 'unknown', finished_at = ?, "
                             "error_message = 'bsupd stopped between intent and outcome; the next "
                             "observation decides' WHERE outcome IS NULL",
                             BSUP_STORE_ARGS(BSUP_STORE_INT(now_s)), diag);
    if (rc == 0 && out_n)
        *out_n = (size_t)sqlite3_changes(st->db);
    return rc;
}

int bsup_store_journal_list(struct bsup_store *st, const char *service, size_t limit,
                            struct bsup_store_journal_entry **out, size_t *out_n,
                            struct bsup_diag *diag)
{
    static const char doing[] = "reading the journal";
    sqlite3_stmt *q = NULL;
    size_t n = 0;
    struct bsup_store_journal_entry *v = calloc(limit ? limit : 1, sizeof(*v));
    int rc = v ? 0 : bsup_diag_set(diag, BSUP_ENOMEM, "out of memory %s", doing);
    if (rc == 0)
        rc = bsup_store_prepare(
            st, doing,
            "SELECT id, service, resource, action, params, outcome, "
            "error_code, error_message, request_id, started_at, finished_at "
            "FROM journal WHERE ?1 IS NULL OR service = ?1 "
            "ORDER BY id DESC LIMIT ?2",
            BSUP_STORE_ARGS(BSUP_STORE_TEXT(service), BSUP_STORE_INT((int64_t)limit)), &q, diag);
    while (rc == 0 && n < limit && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        struct bsup_store_journal_entry *e = &v[n++];
        e->id = sqlite3_column_int64(q, 0);
        char **text[] = {&e->service, &e->resource,   &e->action,        &e->params,
                         &e->outcome, &e->error_code, &e->error_message, &e->request_id};
        for (int c = 0; rc == 1 && c < (int)(sizeof(text) / sizeof(text[0])); c++)
            if (bsup_store_column_dup(q, c + 1, text[c]))
                rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory %s", doing);
        e->started_at_s = sqlite3_column_int64(q, 9);
        e->finished_at_s = sqlite3_column_int64(q, 10);
        rc = rc == 1 ? 0 : rc;
    }
    sqlite3_finalize(q);
    if (rc < 0) {
        bsup_store_journal_free(v, n);
        return rc;
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
    static const char doing[] = "reading resource memory", doing_journal[] = "reading the journal";
    sqlite3_stmt *q = NULL;
    memset(out, 0, sizeof(*out));
    if (bsup_failpoint_error("store-memory-read"))
        return s_injected(st, "store-memory-read", doing, diag);
    int rc = bsup_store_query(
        st, doing,
        "SELECT last_change_at, corrections_in_a_row, fighting, changes, counted_changes, "
        "desired_sig FROM resource_memory WHERE service = ? AND resource = ?",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(service), BSUP_STORE_TEXT(resource)), &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        out->last_change_s = sqlite3_column_int64(q, 0);
        out->corrections_in_a_row = sqlite3_column_int(q, 1);
        out->fighting = sqlite3_column_int(q, 2) != 0;
        out->changes = sqlite3_column_int64(q, 3);
        out->counted_changes = sqlite3_column_int64(q, 4);
        out->desired_sig = sqlite3_column_int64(q, 5);
    }
    bsup_store_finish(st, q);
    if (rc < 0)
        return rc;
    /* A change whose outcome is unknown may have landed: it counts as one for the cooldown.
     * (A service never overlaps itself, so an open intent is a dead process's.) */
    if (bsup_failpoint_error("store-journal-read"))
        return s_injected(st, "store-journal-read", doing_journal, diag);
    q = NULL;
    rc = bsup_store_query(st, doing_journal,
                          "SELECT max(started_at) FROM journal WHERE service = ? AND "
                          "resource = ? AND (outcome IS NULL OR outcome = 'unknown')",
                          BSUP_STORE_ARGS(BSUP_STORE_TEXT(service), BSUP_STORE_TEXT(resource)), &q,
                          diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing_journal, diag)) == 1)
        out->unknown_since_s = sqlite3_column_int64(q, 0);
    bsup_store_finish(st, q);
    return rc < 0 ? rc : 0;
}

int bsup_store_memory_streaks(struct bsup_store *st, const char *service, char ***out,
                              size_t *out_n, struct bsup_diag *diag)
{
    static const char doing[] = "reading resource memory";
    sqlite3_stmt *q = NULL;
    char **v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *out_n = 0;
    if (bsup_failpoint_error("store-memory-read"))
        return s_injected(st, "store-memory-read", doing, diag);
    int rc = bsup_store_query(
        st, doing,
        "SELECT resource FROM resource_memory WHERE service = ? AND "
        "(corrections_in_a_row > 0 OR fighting != 0 OR counted_changes != changes)",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(service)), &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        if (BSUP_ARRAY_RESERVE(v, cap, n + 1) || bsup_store_column_dup(q, 0, &v[n]))
            rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory %s", doing);
        else
            n++, rc = 0;
    }
    bsup_store_finish(st, q);
    if (rc < 0) {
        bsup_store_strings_free(v, n);
        return rc;
    }
    *out = v;
    *out_n = n;
    return 0;
}

void bsup_store_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int bsup_store_memory_put(struct bsup_store *st, const char *service, const char *resource,
                          const struct bsup_resource_memory *mem, struct bsup_diag *diag)
{
    if (bsup_failpoint_error("store-memory-write"))
        return s_injected(st, "store-memory-write", "saving resource memory", diag);
    return bsup_store_exec(
        st, "saving resource memory",
        "INSERT INTO resource_memory(service, resource, last_change_at, "
        "corrections_in_a_row, fighting, changes, counted_changes, desired_sig) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(service, resource) DO UPDATE SET "
        "last_change_at = excluded.last_change_at, "
        "corrections_in_a_row = excluded.corrections_in_a_row, "
        "fighting = excluded.fighting, "
        "changes = excluded.changes, counted_changes = excluded.counted_changes, "
        "desired_sig = excluded.desired_sig",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(service), BSUP_STORE_TEXT(resource),
                        BSUP_STORE_INT(mem->last_change_s),
                        BSUP_STORE_INT(mem->corrections_in_a_row), BSUP_STORE_INT(mem->fighting),
                        BSUP_STORE_INT(mem->changes), BSUP_STORE_INT(mem->counted_changes),
                        BSUP_STORE_INT(mem->desired_sig)),
        diag);
}

int bsup_store_observation_put(struct bsup_store *st, const char *service, int64_t now_s,
                               const char *state, const char *detail_json,
                               const char *observed_text, struct bsup_diag *diag)
{
    return bsup_store_exec(
        st, "saving an observation",
        "INSERT INTO observations(service, observed_at, state, detail, observed) "
        "VALUES(?, ?, ?, ?, ?) ON CONFLICT(service) DO UPDATE SET "
        "observed_at = excluded.observed_at, state = excluded.state, "
        "detail = excluded.detail, observed = excluded.observed",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(service), BSUP_STORE_INT(now_s), BSUP_STORE_TEXT(state),
                        BSUP_STORE_TEXT(detail_json), BSUP_STORE_TEXT(observed_text)),
        diag);
}

int bsup_store_observation_observed(struct bsup_store *st, const char *service, char **out,
                                    struct bsup_diag *diag)
{
    static const char doing[] = "reading an observation";
    sqlite3_stmt *q = NULL;
    *out = NULL;
    int rc = bsup_store_query(st, doing, "SELECT observed FROM observations WHERE service = ?",
                              BSUP_STORE_ARGS(BSUP_STORE_TEXT(service)), &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1)
        rc = bsup_store_column_dup(q, 0, out) ? BSUP_ENOMEM : *out ? 0 : BSUP_ENOTFOUND;
    else if (rc == 0)
        rc = BSUP_ENOTFOUND;
    bsup_store_finish(st, q);
    return rc;
}

int bsup_store_observation_get(struct bsup_store *st, const char *service, int64_t *out_at_s,
                               char **out_state, char **out_detail, struct bsup_diag *diag)
{
    static const char doing[] = "reading an observation";
    sqlite3_stmt *q = NULL;
    *out_state = *out_detail = NULL;
    int rc = bsup_store_query(st, doing,
                              "SELECT observed_at, state, detail FROM observations "
                              "WHERE service = ?",
                              BSUP_STORE_ARGS(BSUP_STORE_TEXT(service)), &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        *out_at_s = sqlite3_column_int64(q, 0);
        rc = bsup_store_column_dup(q, 1, out_state) || bsup_store_column_dup(q, 2, out_detail) ||
                     !*out_state || !*out_detail
                 ? BSUP_ENOMEM
                 : 0;
    } else if (rc == 0) {
        rc = BSUP_ENOTFOUND;
    }
    bsup_store_finish(st, q);
    if (rc) {
        free(*out_state);
        free(*out_detail);
        *out_state = *out_detail = NULL;
    }
    return rc;
}

int bsup_store_observations_each(struct bsup_store *st, bsup_store_observed_fn fn, void *ctx,
                                 struct bsup_diag *diag)
{
    static const char doing[] = "reading the last observations";
    sqlite3_stmt *q = NULL;
    int rc = bsup_store_prepare(st, doing,
                                "SELECT service, observed_at, state, CASE WHEN json_valid(detail) "
                                "THEN NULLIF(json_extract(detail, '$.error'), '') END "
                                "FROM observations",
                                BSUP_STORE_NO_ARGS, &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        const char *service = (const char *)sqlite3_column_text(q, 0);
        const char *state = (const char *)sqlite3_column_text(q, 2);
        const char *error = (const char *)sqlite3_column_text(q, 3);
        rc = service && state ? fn(ctx, service, sqlite3_column_int64(q, 1), state, error)
                              : bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_prune(struct bsup_store *st, int64_t before_s, size_t max_rows,
                     struct bsup_diag *diag)
{
    static const struct {
        const char *sql;
        bool by_count; /* else by age */
    } steps[] = {
        {"DELETE FROM journal WHERE started_at < ? AND outcome IS NOT NULL", false},
        {"DELETE FROM journal WHERE outcome IS NOT NULL AND id <= "
         "(SELECT id FROM journal ORDER BY id DESC LIMIT 1 OFFSET ?)",
         true},
        {"DELETE FROM events WHERE at < ?", false},
        {"DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
         true},
        {"DELETE FROM config_loads WHERE loaded_at < ?", false},
        {"DELETE FROM config_loads WHERE id <= "
         "(SELECT id FROM config_loads ORDER BY id DESC LIMIT 1 OFFSET ?)",
         true},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int64_t arg = steps[i].by_count ? (int64_t)max_rows : before_s;
        int rc = bsup_store_exec(st, "pruning old rows", steps[i].sql,
                                 BSUP_STORE_ARGS(BSUP_STORE_INT(arg)), diag);
        if (rc)
            return rc;
    }
    return 0;
}
