/* Internal to store/: the handle, the migrations and the SQLite error mapping. */
#ifndef BSUP_STORE_INTERNAL_H
#define BSUP_STORE_INTERNAL_H

#include "store/store.h"

#include <sqlite3.h>

struct bsup_store {
    sqlite3 *db;
    char *path;
    int lock_fd; /* the state directory's lock, -1 when not held */
};

#define BSUP_STORE_LOCK_FILE "bsup.lock"

/* Takes the state directory's exclusive lock (BSUP_EBUSY naming the holder's pid when another
 * process has it); *out_fd keeps it until closed. */
int bsup_store_lock(const char *state_dir, int *out_fd, struct bsup_diag *diag);

/* Migration N (1-based) brings the schema from version N-1 to N. */
extern const char *const bsup_store_migrations[];
extern const int bsup_store_n_migrations;

/* Runs migrations from the database's user_version up to target, each in its own
 * transaction. For tests: target lets them build every earlier version. */
int bsup_store_migrate(sqlite3 *db, const char *path, int target, struct bsup_diag *diag);

/* Turns an SQLite failure into a BSUP_E code and an operator's message naming the path. */
int bsup_store_error(sqlite3 *db, const char *path, int sqlite_rc, const char *doing,
                     struct bsup_diag *diag);

#endif
