/* Internal to store/: the handle, the migrations and the SQLite error mapping. */
#ifndef BSUP_STORE_INTERNAL_H
#define BSUP_STORE_INTERNAL_H

#include "store/store.h"

#include <sqlite3.h>

struct bsup_store {
    sqlite3 *db;
    char *path;
};

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
