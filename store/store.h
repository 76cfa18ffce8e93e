/* The state database: SQLite in WAL mode in the state directory. The only place with SQL.
 * Every error names the database path and says what an operator can do about it. */
#ifndef BSUP_STORE_STORE_H
#define BSUP_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/base/error.h"

#define BSUP_STORE_FILE "bsup.db"

struct bsup_store;

/* Opens (creating the directory and database if needed) and migrates to the current schema.
 * Errors: BSUP_EREADONLY, BSUP_EFULL, BSUP_ECORRUPT, BSUP_EPERM, BSUP_ESTORE, with diag. */
int bsup_store_open(const char *state_dir, struct bsup_store **out, struct bsup_diag *diag);
void bsup_store_close(struct bsup_store *st);
const char *bsup_store_path(const struct bsup_store *st);
/* The schema version this build writes (PRAGMA user_version). */
int bsup_store_schema_version(void);

struct bsup_store_apply_stats {
    size_t added;     /* new services */
    size_t changed;   /* content changed: generation + 1 */
    size_t unchanged; /* same content: generation kept */
    size_t removed;   /* no longer declared anywhere */
    size_t kept;      /* declared in a broken file: last good generation kept */
};

/* Applies a loaded configuration in one transaction: services of good files are upserted
 * (generation + 1 only when the content hash changes), services of broken files keep their
 * last good row, the rest are removed. On any error nothing changes. */
int bsup_store_apply_config(struct bsup_store *st, const struct bsup_config_set *set, int64_t now_s,
                            struct bsup_store_apply_stats *out, struct bsup_diag *diag);

struct bsup_store_service {
    char *service;
    int64_t generation;
    char content_hash[65];
    char *config_json; /* bsup_service_to_json: resolved values, secrets redacted */
    char *source_file;
    int64_t loaded_at_s; /* when this generation was loaded */
    int64_t seen_at_s;   /* last load that found the service */
    /* The drop-in's environment and mode (NULL: none, the mode is inherited). */
    char *environment;
    char *mode;
};

/* Calls fn for every service in name order, until fn returns non-zero (returned as is). The
 * row is SQLite's memory, valid during the call only: nothing is copied, so status and the
 * engine's sync read any fleet without holding it twice. with_config: config_json is set
 * (else NULL). */
typedef int (*bsup_store_service_fn)(void *ctx, const struct bsup_store_service *row);
int bsup_store_services_each(struct bsup_store *st, bool with_config, bsup_store_service_fn fn,
                             void *ctx, struct bsup_diag *diag);
/* The same from the first service named from or after it (NULL: the first), less the first
 * skip of those: a page of status reads its own rows only. */
int bsup_store_services_from(struct bsup_store *st, bool with_config, const char *from,
                             int64_t skip, bsup_store_service_fn fn, void *ctx,
                             struct bsup_diag *diag);
/* How many services are stored (before not NULL: named before it). 0 and *out, or an error. */
int bsup_store_services_count(struct bsup_store *st, const char *before, int64_t *out,
                              struct bsup_diag *diag);

/* Every stored service's name and generation, in no particular order, until fn returns non-zero
 * (returned as is): what a load compares before and after, without reading the configs. */
typedef int (*bsup_store_generation_fn)(void *ctx, const char *service, int64_t generation);
int bsup_store_generations_each(struct bsup_store *st, bsup_store_generation_fn fn, void *ctx,
                                struct bsup_diag *diag);

/* All services in name order, copied (with config_json). Free with bsup_store_services_free. */
int bsup_store_services_list(struct bsup_store *st, struct bsup_store_service **out, size_t *out_n,
                             struct bsup_diag *diag);
void bsup_store_services_free(struct bsup_store_service *v, size_t n);

/* WAL checkpoints (copying the WAL into the database, with their syncs: 10–20 ms) move off the
 * caller's thread. Once a commit leaves at least pages pages in the WAL (<= 0: the default
 * BSUP_STORE_CHECKPOINT_PAGES, 16 MiB), due(ctx) is called instead of checkpointing there; the
 * caller then runs bsup_store_checkpoint on another thread. Without a hook the commit that
 * crosses the mark checkpoints, as SQLite's wal_autocheckpoint does. */
#define BSUP_STORE_CHECKPOINT_PAGES 4000
typedef void (*bsup_store_checkpoint_fn)(void *ctx);
void bsup_store_checkpoint_hook(struct bsup_store *st, int pages, bsup_store_checkpoint_fn due,
                                void *ctx);
/* A passive checkpoint of the database at path through a connection of its own (any thread;
 * never waits for the store's writers): the WAL's pages and how many it copied, -1 unknown. */
int bsup_store_checkpoint(const char *path, int *out_wal_pages, int *out_done_pages,
                          struct bsup_diag *diag);

/* One transaction around many writes (a reconcile batch's records: one commit, one fsync).
 * commit rolls back when it fails; rollback is a no-op outside a transaction. */
int bsup_store_begin(struct bsup_store *st, struct bsup_diag *diag);
int bsup_store_commit(struct bsup_store *st, struct bsup_diag *diag);
void bsup_store_rollback(struct bsup_store *st);

/* A flag kept as a file in the state directory (e.g. "paused"), so that it outlives the
 * database being moved aside. */
int bsup_store_flag_set(struct bsup_store *st, const char *name, bool on, struct bsup_diag *diag);
bool bsup_store_flag_get(const struct bsup_store *st, const char *name);

/* Small persistent settings (e.g. "paused"). get: 0 and *out (malloc'd) or BSUP_ENOTFOUND. */
int bsup_store_meta_get(struct bsup_store *st, const char *key, char **out, struct bsup_diag *diag);
int bsup_store_meta_set(struct bsup_store *st, const char *key, const char *value,
                        struct bsup_diag *diag);

#endif
