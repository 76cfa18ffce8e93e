/* Internal to store/: the handle, the migrations and the SQLite error mapping. */
#ifndef BSUP_STORE_INTERNAL_H
#define BSUP_STORE_INTERNAL_H

#include "core/metrics/alerts.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Statements bsup_store_exec and bsup_store_query keep prepared, by their text: a cycle of
 * 1000 services runs the same few INSERTs tens of thousands of times, and preparing one costs
 * more than running it. Past this many, the least recently used one is replaced, so one-off
 * statements (pruning, a load) never crowd out a cycle's. */
#define BSUP_STORE_CACHED 32

struct bsup_store {
    sqlite3 *db;
    char *path;
    int lock_fd; /* the state directory's lock, -1 when not held */
    struct {
        char *sql;
        sqlite3_stmt *q;
        bool in_use;   /* taken by bsup_store_query, not yet given back */
        uint64_t used; /* uses when last taken: the least recently used goes first */
    } cached[BSUP_STORE_CACHED];
    size_t n_cached;
    uint64_t uses;
    /* bsup_store_checkpoint_hook: a WAL of checkpoint_pages calls checkpoint_due(ctx). */
    int checkpoint_pages;
    bsup_store_checkpoint_fn checkpoint_due;
    void *checkpoint_ctx;
};

/* Finalizes the kept statements (before closing the database). */
void bsup_store_cache_clear(struct bsup_store *st);

#define BSUP_STORE_LOCK_FILE "bsup.lock"

/* Takes the state directory's exclusive lock (BSUP_EBUSY naming the holder's pid when another
 * process has it); *out_fd keeps it until closed. */
int bsup_store_lock(const char *state_dir, int *out_fd, struct bsup_diag *diag);

/* BSUP_ESTORE when the database file was deleted or replaced since it was opened: what is
 * written from then on lands in a file no restart finds (and a moved-away file goes stale). */
int bsup_store_check_file(struct bsup_store *st, const char *doing, struct bsup_diag *diag);

/* Migration N (1-based) brings the schema from version N-1 to N. */
extern const char *const bsup_store_migrations[];
extern const int bsup_store_n_migrations;

/* Runs migrations from the database's user_version up to target, each in its own
 * transaction. For tests: target lets them build every earlier version. */
int bsup_store_migrate(sqlite3 *db, const char *path, int target, struct bsup_diag *diag);

/* Turns an SQLite failure into a BSUP_E code and an operator's message naming the path. */
int bsup_store_error(sqlite3 *db, const char *path, int sqlite_rc, const char *doing,
                     struct bsup_diag *diag);

/* ---- Running statements (store/exec.c): the way store/ talks to SQLite ----
 *
 * `doing` says what the statement is for, as an operator reads it after "while"
 * ("recording an event", "saving the desired state"). Every failure goes through
 * bsup_store_error: a BSUP_E code, and a diag naming the database path and `doing`.
 * Parameters are bound in order (?1, ?2, ...) from BSUP_STORE_ARGS(...); text is copied when
 * bound (NULL binds SQL NULL), integers are int64, reals double:
 *
 *     return bsup_store_exec(st, "recording an event",
 *                            "INSERT INTO events(at, service, kind) VALUES(?, ?, ?)",
 *                            BSUP_STORE_ARGS(BSUP_STORE_INT(at_s), BSUP_STORE_TEXT(service),
 *                                            BSUP_STORE_TEXT(kind)),
 *                            diag);
 *
 * and for rows:
 *
 *     sqlite3_stmt *q = NULL;
 *     int rc = bsup_store_prepare(st, "listing events", "SELECT ... WHERE at >= ?",
 *                                 BSUP_STORE_ARGS(BSUP_STORE_INT(since_s)), &q, diag);
 *     while (rc == 0 && (rc = bsup_store_step(st, q, "listing events", diag)) == 1) {
 *         ... sqlite3_column_int64(q, 0), bsup_store_column_dup(q, 1, &text) ...
 *     }
 *     sqlite3_finalize(q);   (rc is 0 at the end of the rows, negative on failure) */

enum bsup_store_arg_type { BSUP_STORE_ARG_TEXT, BSUP_STORE_ARG_INT, BSUP_STORE_ARG_DOUBLE };

struct bsup_store_arg {
    enum bsup_store_arg_type type;
    const char *text;
    int64_t i;
    double d;
};

#define BSUP_STORE_TEXT(s) ((struct bsup_store_arg){BSUP_STORE_ARG_TEXT, (s), 0, 0})
#define BSUP_STORE_INT(n) ((struct bsup_store_arg){BSUP_STORE_ARG_INT, NULL, (int64_t)(n), 0})
#define BSUP_STORE_DOUBLE(x) ((struct bsup_store_arg){BSUP_STORE_ARG_DOUBLE, NULL, 0, (double)(x)})
/* Expands to two arguments, the array and its length; BSUP_STORE_NO_ARGS for none. */
#define BSUP_STORE_ARGS(...)                                                                       \
    (const struct bsup_store_arg[]){__VA_ARGS__},                                                  \
        sizeof((const struct bsup_store_arg[]){__VA_ARGS__}) / sizeof(struct bsup_store_arg)
#define BSUP_STORE_NO_ARGS NULL, 0

/* Prepares one statement and binds args: 0 and *out (the caller steps it and finalizes it
 * with sqlite3_finalize), or an error with *out NULL. */
int bsup_store_prepare(struct bsup_store *st, const char *doing, const char *sql,
                       const struct bsup_store_arg *args, size_t n_args, sqlite3_stmt **out,
                       struct bsup_diag *diag);
/* The same, but the statement may be a kept one (BSUP_STORE_CACHED): give it back with
 * bsup_store_finish, never sqlite3_finalize. For the statements a cycle runs per service. */
int bsup_store_query(struct bsup_store *st, const char *doing, const char *sql,
                     const struct bsup_store_arg *args, size_t n_args, sqlite3_stmt **out,
                     struct bsup_diag *diag);
/* Resets a kept statement for its next use; finalizes any other (NULL does nothing). */
void bsup_store_finish(struct bsup_store *st, sqlite3_stmt *q);
/* One step: 1 when a row is ready, 0 when the statement is done, or an error. */
int bsup_store_step(struct bsup_store *st, sqlite3_stmt *q, const char *doing,
                    struct bsup_diag *diag);
/* Prepare (or take the kept statement of the same text), bind, step to the end (rows are
 * ignored), reset or finalize: for INSERT, UPDATE, DELETE. sqlite3_changes(st->db) afterwards
 * tells how many rows changed. */
int bsup_store_exec(struct bsup_store *st, const char *doing, const char *sql,
                    const struct bsup_store_arg *args, size_t n_args, struct bsup_diag *diag);
/* A copy of a text column: 0 and *out (NULL for SQL NULL; caller frees), or BSUP_ENOMEM. */
int bsup_store_column_dup(sqlite3_stmt *q, int col, char **out);

/* An event (request_id may be NULL) and, when it is alert a (BSUP_ALERT_NONE: the alert its
 * kind is by itself, if any) and the rules queue it, the alert, in one savepoint
 * (store/outbox.c; bsup_store_event_add and bsup_store_event_alert are this). */
int bsup_store_event_alert_rid(struct bsup_store *st, int64_t at_s, const char *service,
                               const char *environment, const char *kind, const char *message,
                               const char *request_id, enum bsup_alert a, const char *observed,
                               const char *desired, int64_t hold_s, struct bsup_diag *diag);

#endif
