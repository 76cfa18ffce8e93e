/* Running statements: prepare, bind, step, finalize, with errors that name the database and
 * what the statement was for. */
#include "store/store_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int s_bind(sqlite3_stmt *q, const struct bsup_store_arg *args, size_t n_args)
{
    for (size_t i = 0; i < n_args; i++) {
        int col = (int)i + 1, src;
        if (args[i].type == BSUP_STORE_ARG_INT)
            src = sqlite3_bind_int64(q, col, args[i].i);
        else if (args[i].type == BSUP_STORE_ARG_DOUBLE)
            src = sqlite3_bind_double(q, col, args[i].d);
        else if (args[i].text)
            src = sqlite3_bind_text(q, col, args[i].text, -1, SQLITE_TRANSIENT);
        else
            src = sqlite3_bind_null(q, col);
        if (src != SQLITE_OK)
            return src;
    }
    return SQLITE_OK;
}

int bsup_store_prepare(struct bsup_store *st, const char *doing, const char *sql,
                       const struct bsup_store_arg *args, size_t n_args, sqlite3_stmt **out,
                       struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    int src = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL);
    if (src == SQLITE_OK)
        src = s_bind(q, args, n_args);
    if (src != SQLITE_OK) {
        int rc = bsup_store_error(st->db, st->path, src, doing, diag);
        sqlite3_finalize(q);
        return rc;
    }
    *out = q;
    return 0;
}

int bsup_store_step(struct bsup_store *st, sqlite3_stmt *q, const char *doing,
                    struct bsup_diag *diag)
{
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return bsup_store_error(st->db, st->path, src, doing, diag);
}

/* The kept statement of sql, not in use, prepared now (in place of the least recently used
 * one when all BSUP_STORE_CACHED are taken); NULL when every kept one is in use or it does
 * not prepare (the caller's own prepare reports why). */
static sqlite3_stmt *s_take(struct bsup_store *st, const char *sql)
{
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < st->n_cached; i++) {
        if (st->cached[i].in_use)
            continue;
        if (strcmp(st->cached[i].sql, sql) == 0) {
            st->cached[i].in_use = true;
            st->cached[i].used = ++st->uses;
            return st->cached[i].q;
        }
        if (victim == SIZE_MAX || st->cached[i].used < st->cached[victim].used)
            victim = i;
    }
    size_t slot = st->n_cached < BSUP_STORE_CACHED ? st->n_cached : victim;
    if (slot == SIZE_MAX)
        return NULL; /* every kept one is in use */
    sqlite3_stmt *q = NULL;
    char *copy = strdup(sql);
    if (!copy || sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL)) {
        free(copy);
        sqlite3_finalize(q);
        return NULL;
    }
    if (slot < st->n_cached) { /* evicted */
        sqlite3_finalize(st->cached[slot].q);
        free(st->cached[slot].sql);
    } else {
        st->n_cached++;
    }
    st->cached[slot].sql = copy;
    st->cached[slot].q = q;
    st->cached[slot].in_use = true;
    st->cached[slot].used = ++st->uses;
    return q;
}

void bsup_store_cache_clear(struct bsup_store *st)
{
    for (size_t i = 0; i < st->n_cached; i++) {
        sqlite3_finalize(st->cached[i].q);
        free(st->cached[i].sql);
    }
    st->n_cached = 0;
}

int bsup_store_query(struct bsup_store *st, const char *doing, const char *sql,
                     const struct bsup_store_arg *args, size_t n_args, sqlite3_stmt **out,
                     struct bsup_diag *diag)
{
    sqlite3_stmt *q = s_take(st, sql);
    *out = NULL;
    if (!q)
        return bsup_store_prepare(st, doing, sql, args, n_args, out, diag);
    int src = s_bind(q, args, n_args);
    if (src != SQLITE_OK) {
        int rc = bsup_store_error(st->db, st->path, src, doing, diag);
        bsup_store_finish(st, q);
        return rc;
    }
    *out = q;
    return 0;
}

void bsup_store_finish(struct bsup_store *st, sqlite3_stmt *q)
{
    for (size_t i = 0; q && i < st->n_cached; i++) {
        if (st->cached[i].q == q) {
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            st->cached[i].in_use = false;
            return;
        }
    }
    sqlite3_finalize(q);
}

int bsup_store_exec(struct bsup_store *st, const char *doing, const char *sql,
                    const struct bsup_store_arg *args, size_t n_args, struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    int rc = bsup_store_query(st, doing, sql, args, n_args, &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1)
        rc = 0;
    bsup_store_finish(st, q);
    return rc;
}

int bsup_store_column_dup(sqlite3_stmt *q, int col, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(q, col) == SQLITE_NULL)
        return 0;
    const unsigned char *t = sqlite3_column_text(q, col);
    if (!t)
        return BSUP_ENOMEM; /* SQLite could not convert the value */
    *out = strdup((const char *)t);
    return *out ? 0 : BSUP_ENOMEM;
}
