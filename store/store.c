#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Append only: never edit a released migration. */
const char *const bsup_store_migrations[] = {
    /* 1: desired state per service, small settings */
    "CREATE TABLE desired_state ("
    "  service TEXT PRIMARY KEY,"
    "  generation INTEGER NOT NULL CHECK (generation > 0),"
    "  content_hash TEXT NOT NULL,"
    "  config_json TEXT NOT NULL,"
    "  source_file TEXT NOT NULL,"
    "  loaded_at INTEGER NOT NULL,"
    "  seen_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;",
    /* 2: a history of configuration loads, for status and audits */
    "CREATE TABLE config_loads ("
    "  id INTEGER PRIMARY KEY,"
    "  loaded_at INTEGER NOT NULL,"
    "  files INTEGER NOT NULL,"
    "  files_failed INTEGER NOT NULL,"
    "  services INTEGER NOT NULL,"
    "  added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL,"
    "  kept INTEGER NOT NULL"
    ") STRICT;",
    /* 3: what happened, for bsupctl events: config loads, requests, pauses */
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  service TEXT,"
    "  kind TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  request_id TEXT"
    ") STRICT;"
    "CREATE INDEX events_at ON events(at);",
    /* 4: the action journal (intent before the call, outcome after), what bsupd remembers of
     * each resource between cycles, and the last observation of each service */
    "CREATE TABLE journal ("
    "  id INTEGER PRIMARY KEY,"
    "  service TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  params TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  outcome TEXT CHECK (outcome IN ('ok', 'error', 'unknown')),"
    "  error_code TEXT,"
    "  error_message TEXT,"
    "  request_id TEXT,"
    "  finished_at INTEGER"
    ") STRICT;"
    "CREATE INDEX journal_open ON journal(outcome) WHERE outcome IS NULL;"
    "CREATE TABLE resource_memory ("
    "  service TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  last_change_at INTEGER NOT NULL DEFAULT 0,"
    "  changes INTEGER NOT NULL DEFAULT 0,"
    "  counted_changes INTEGER NOT NULL DEFAULT 0,"
    "  corrections_in_a_row INTEGER NOT NULL DEFAULT 0,"
    "  fighting INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (service, resource)"
    ") STRICT;"
    "CREATE TABLE observations ("
    "  service TEXT PRIMARY KEY,"
    "  observed_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  detail TEXT NOT NULL"
    ") STRICT;",
    /* 5: facts a reconcile domain learnt once and keeps (e.g. a launch template version's
     * instance type); the journal by resource, for the rails' unknown-outcome lookup */
    "CREATE TABLE domain_cache ("
    "  domain TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, key)"
    ") STRICT;"
    "CREATE INDEX journal_resource ON journal(service, resource);",
    /* 6: the metric and alert outboxes (rows wait here until CloudWatch or SNS accepted them;
     * AUTOINCREMENT: an id is never reused, so a range of ids read is exactly what is deleted
     * and an alert's id stays unique for receivers), and the open alert conditions */
    "CREATE TABLE metric_outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  service TEXT,"
    "  environment TEXT,"
    "  at_ms INTEGER NOT NULL,"
    "  value REAL NOT NULL,"
    "  unit TEXT NOT NULL"
    ") STRICT;"
    "CREATE TABLE alert_outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id INTEGER NOT NULL,"
    "  service TEXT,"
    "  environment TEXT,"
    "  what TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  observed TEXT,"
    "  desired TEXT,"
    "  at INTEGER NOT NULL,"
    "  reminder INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT"
    ") STRICT;"
    "CREATE TABLE alert_conditions ("
    "  scope TEXT NOT NULL,"
    "  condition TEXT NOT NULL,"
    "  opened_at INTEGER NOT NULL,"
    "  last_sent_at INTEGER NOT NULL,"
    "  reminders INTEGER NOT NULL DEFAULT 0,"
    "  what TEXT NOT NULL,"
    "  environment TEXT,"
    "  message TEXT NOT NULL,"
    "  observed TEXT,"
    "  desired TEXT,"
    "  event_id INTEGER NOT NULL,"
    "  PRIMARY KEY (scope, condition)"
    ") STRICT;",
    /* 7: a service's environment and mode beside its config, written with it: status reads
     * them for every service, and extracting them from the JSON was a seventh of its time */
    "ALTER TABLE desired_state ADD COLUMN environment TEXT;"
    "ALTER TABLE desired_state ADD COLUMN mode TEXT;"
    "UPDATE desired_state SET environment = json_extract(config_json, '$.environment'),"
    " mode = json_extract(config_json, '$.mode');",
    /* 8: a service's last observations as status writes them, so that status after a restart
     * copies them instead of parsing each record (NULL in rows written before) */
    "ALTER TABLE observations ADD COLUMN observed TEXT;",
    /* 9: what bsupd's last change to a resource set, so that fight detection tells the same
     * drift coming back from an operator's new desired value (0: unknown, rows before) */
    "ALTER TABLE resource_memory ADD COLUMN desired_sig INTEGER NOT NULL DEFAULT 0;",
    /* 10: a condition's closing alert held (docs/metrics.md): the outbox row waits until
     * held_until (0: not held), and its condition names it until then (0: none) */
    "ALTER TABLE alert_outbox ADD COLUMN held_until INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE alert_conditions ADD COLUMN held_id INTEGER NOT NULL DEFAULT 0;",
    /* 11: when a condition alert's condition opened (0: a single fact, or rows before), which
     * a reminder says beside the condition's current state */
    "ALTER TABLE alert_outbox ADD COLUMN opened_at INTEGER NOT NULL DEFAULT 0;",
};
const int bsup_store_n_migrations =
    sizeof(bsup_store_migrations) / sizeof(bsup_store_migrations[0]);

int bsup_store_schema_version(void)
{
    return bsup_store_n_migrations;
}

int bsup_store_error(sqlite3 *db, const char *path, int sqlite_rc, const char *doing,
                     struct bsup_diag *diag)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(sqlite_rc);
    switch (sqlite_rc & 0xff) {
    case SQLITE_FULL:
        return bsup_diag_set(diag, BSUP_EFULL,
                             "state database %s: no space left while %s; free disk space", path,
                             doing);
    case SQLITE_READONLY:
        return bsup_diag_set(diag, BSUP_EREADONLY,
                             "state database %s is read-only (%s) while %s; the state directory "
                             "must be writable by bsupd",
                             path, msg, doing);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return bsup_diag_set(diag, BSUP_EPERM, "state database %s cannot be opened (%s) while %s",
                             path, msg, doing);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return bsup_diag_set(diag, BSUP_ECORRUPT,
                             "state database %s is corrupt or not a bsup database (%s); move it "
                             "aside and bsupd will start afresh from the drop-ins",
                             path, msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return bsup_diag_set(diag, BSUP_EBUSY,
                             "state database %s is locked by another process while %s", path,
                             doing);
    case SQLITE_NOMEM:
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory while %s", doing);
    default:
        return bsup_diag_set(diag, BSUP_ESTORE, "state database %s: %s while %s", path, msg, doing);
    }
}

static int s_user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int bsup_store_migrate(sqlite3 *db, const char *path, int target, struct bsup_diag *diag)
{
    int version = 0;
    int rc = s_user_version(db, &version);
    if (rc != SQLITE_OK)
        return bsup_store_error(db, path, rc, "reading the schema version", diag);
    if (version > bsup_store_n_migrations)
        return bsup_diag_set(diag, BSUP_ESTORE,
                             "state database %s has schema version %d, newer than this bsupd "
                             "(%d); run a newer bsupd or move the database aside",
                             path, version, bsup_store_n_migrations);
    for (int v = version; v < target; v++) {
        char *sql = NULL;
        if (asprintf(&sql, "BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
                     bsup_store_migrations[v], v + 1) < 0)
            return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        free(sql);
        if (rc != SQLITE_OK) {
            char doing[64];
            snprintf(doing, sizeof(doing), "migrating the schema to version %d", v + 1);
            int err = bsup_store_error(db, path, rc, doing, diag);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return err;
        }
    }
    return 0;
}

static int s_prepare_dir(const char *dir, struct bsup_diag *diag)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0750) != 0)
            return bsup_diag_set(diag, errno == EROFS ? BSUP_EREADONLY : BSUP_EPERM,
                                 "state directory %s cannot be created: %s", dir, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return bsup_diag_set(diag, BSUP_EINVAL, "state directory %s is not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return bsup_diag_set(diag, errno == EROFS ? BSUP_EREADONLY : BSUP_EPERM,
                             "state directory %s is not writable: %s", dir, strerror(errno));
    return 0;
}

int bsup_store_open(const char *state_dir, struct bsup_store **out, struct bsup_diag *diag)
{
    struct bsup_store *st = calloc(1, sizeof(*st));
    int rc;
    *out = NULL;
    if (!st || asprintf(&st->path, "%s/%s", state_dir, BSUP_STORE_FILE) < 0) {
        free(st);
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    }
    st->lock_fd = -1;
    if ((rc = s_prepare_dir(state_dir, diag)) ||
        (rc = bsup_store_lock(state_dir, &st->lock_fd, diag)))
        goto fail;
    int src = sqlite3_open_v2(st->path, &st->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                  SQLITE_OPEN_EXRESCODE,
                              NULL);
    if (src != SQLITE_OK) {
        rc = bsup_store_error(st->db, st->path, src, "opening", diag);
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL for readers during writes. NORMAL: a commit is safe from a crash of bsupd at once,
     * from a power cut once the WAL is synced, which every journal intent does before its call
     * (bsup_store_journal_begin) and every checkpoint does. A checkpoint (its syncs) every
     * 4000 pages (16 MiB, s_wal_hook): a cycle of 1000 services writes about 6 MiB. */
    static const char *const pragmas =
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
    src = sqlite3_exec(st->db, pragmas, NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = bsup_store_error(st->db, st->path, src, "opening", diag);
        goto fail;
    }
    bsup_store_checkpoint_hook(st, 0, NULL, NULL);
    /* A damaged file is found now, not in the middle of a reconcile. */
    sqlite3_stmt *q = NULL;
    if ((rc = bsup_store_prepare(st, "checking integrity", "PRAGMA quick_check", BSUP_STORE_NO_ARGS,
                                 &q, diag)) < 0 ||
        (rc = bsup_store_step(st, q, "checking integrity", diag)) < 0) {
        sqlite3_finalize(q);
        goto fail;
    }
    const char *res = rc == 1 ? (const char *)sqlite3_column_text(q, 0) : "ok";
    if (!res || strcmp(res, "ok") != 0) {
        rc = bsup_diag_set(diag, BSUP_ECORRUPT,
                           "state database %s is corrupt (%s); move it aside and bsupd "
                           "will start afresh from the drop-ins",
                           st->path, res ? res : "?");
        sqlite3_finalize(q);
        goto fail;
    }
    sqlite3_finalize(q);
    if ((rc = bsup_store_migrate(st->db, st->path, bsup_store_n_migrations, diag)))
        goto fail;
    *out = st;
    return 0;
fail:
    bsup_store_close(st);
    return rc;
}

/* After every commit (sqlite3_wal_hook): what wal_autocheckpoint does, or the caller's
 * checkpoint_due instead of the checkpoint and its syncs on this thread. */
static int s_wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
    struct bsup_store *st = ctx;
    if (pages < st->checkpoint_pages)
        return SQLITE_OK;
    if (st->checkpoint_due)
        st->checkpoint_due(st->checkpoint_ctx);
    else
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

void bsup_store_checkpoint_hook(struct bsup_store *st, int pages, bsup_store_checkpoint_fn due,
                                void *ctx)
{
    st->checkpoint_pages = pages > 0 ? pages : BSUP_STORE_CHECKPOINT_PAGES;
    st->checkpoint_due = due;
    st->checkpoint_ctx = ctx;
    sqlite3_wal_hook(st->db, s_wal_hook, st);
}

int bsup_store_checkpoint(const char *path, int *out_wal_pages, int *out_done_pages,
                          struct bsup_diag *diag)
{
    sqlite3 *db = NULL;
    int log = -1, done = -1;
    int src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);
    if (src == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        /* A read first: a connection knows the file is in WAL mode once it has read it. */
        src = sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    }
    int rc = src == SQLITE_OK ? 0 : bsup_store_error(db, path, src, "checkpointing", diag);
    sqlite3_close_v2(db);
    if (out_wal_pages)
        *out_wal_pages = log;
    if (out_done_pages)
        *out_done_pages = done;
    return rc;
}

void bsup_store_close(struct bsup_store *st)
{
    if (!st)
        return;
    bsup_store_cache_clear(st);
    if (st->db)
        sqlite3_close_v2(st->db);
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    free(st->path);
    free(st);
}

const char *bsup_store_path(const struct bsup_store *st)
{
    return st->path;
}

int bsup_store_meta_get(struct bsup_store *st, const char *key, char **out, struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    int rc = bsup_store_prepare(st, "reading a setting", "SELECT value FROM meta WHERE key = ?",
                                BSUP_STORE_ARGS(BSUP_STORE_TEXT(key)), &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, "reading a setting", diag)) == 1)
        rc = bsup_store_column_dup(q, 0, out);
    else if (rc == 0)
        rc = BSUP_ENOTFOUND;
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_meta_set(struct bsup_store *st, const char *key, const char *value,
                        struct bsup_diag *diag)
{
    return bsup_store_exec(st, "saving a setting",
                           "INSERT INTO meta(key, value) VALUES(?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           BSUP_STORE_ARGS(BSUP_STORE_TEXT(key), BSUP_STORE_TEXT(value)), diag);
}

int bsup_store_check_file(struct bsup_store *st, const char *doing, struct bsup_diag *diag)
{
    int moved = 0;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK || !moved)
        return 0;
    return bsup_diag_set(diag, BSUP_ESTORE,
                         "state database %s was deleted or replaced while bsupd runs (while %s); "
                         "restart bsupd: it starts afresh from the drop-ins",
                         st->path, doing);
}

int bsup_store_begin(struct bsup_store *st, struct bsup_diag *diag)
{
    int rc = bsup_store_check_file(st, "starting a transaction", diag);
    if (rc)
        return rc;
    int src = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return src == SQLITE_OK
               ? 0
               : bsup_store_error(st->db, st->path, src, "starting a transaction", diag);
}

int bsup_store_commit(struct bsup_store *st, struct bsup_diag *diag)
{
    int src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (src == SQLITE_OK)
        return 0;
    int rc = bsup_store_error(st->db, st->path, src, "committing", diag);
    bsup_store_rollback(st);
    return rc;
}

void bsup_store_rollback(struct bsup_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The flag file name of the database's directory: "<state_dir>/<name>". */
static int s_flag_path(const struct bsup_store *st, const char *name, char *out, size_t len)
{
    const char *slash = strrchr(st->path, '/');
    int dir_len = slash ? (int)(slash - st->path) : 1;
    int n = snprintf(out, len, "%.*s/%s", dir_len, slash ? st->path : ".", name);
    return n > 0 && (size_t)n < len ? 0 : BSUP_ETOOBIG;
}

int bsup_store_flag_set(struct bsup_store *st, const char *name, bool on, struct bsup_diag *diag)
{
    char path[4096];
    if (s_flag_path(st, name, path, sizeof(path)))
        return bsup_diag_set(diag, BSUP_ETOOBIG, "state directory path too long");
    if (on) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0 || fsync(fd) != 0) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            return bsup_diag_set(diag, BSUP_EIO, "%s cannot be written: %s", path, strerror(err));
        }
        close(fd);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        return bsup_diag_set(diag, BSUP_EIO, "%s cannot be removed: %s", path, strerror(errno));
    }
    return 0;
}

bool bsup_store_flag_get(const struct bsup_store *st, const char *name)
{
    char path[4096];
    struct stat sb;
    return s_flag_path(st, name, path, sizeof(path)) == 0 && lstat(path, &sb) == 0;
}
