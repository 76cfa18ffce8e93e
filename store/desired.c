/* Desired state: one row per service with its resolved values, content hash and generation. */
#include "store/store_internal.h"

#include "core/base/array.h"
#include "core/base/failpoint.h"
#include "core/base/strmap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s_declared(const struct bsup_config_set *set, const char *service)
{
    return bsup_strmap_get(&set->by_name, service) != NULL;
}

#define S_SAVING "saving the desired state"

/* Upserts one service; *out_kind: 0 unchanged, 1 added, 2 changed. */
static int s_upsert(struct bsup_store *st, const struct bsup_service *svc, int64_t now_s,
                    int *out_kind, struct bsup_diag *diag)
{
    char hash[65];
    char *json = bsup_service_to_json(svc);
    sqlite3_stmt *q = NULL;
    int rc;
    if (!json || bsup_service_json_hash(json, hash) != 0) {
        rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, S_SAVING, diag);
        goto out;
    }
    if ((rc = bsup_store_query(
             st, S_SAVING, "SELECT content_hash, config_json FROM desired_state WHERE service = ?",
             BSUP_STORE_ARGS(BSUP_STORE_TEXT(svc->service_name)), &q, diag)) < 0 ||
        (rc = bsup_store_step(st, q, S_SAVING, diag)) < 0)
        goto out;
    if (rc == 1) {
        /* Unchanged only if the stored row still is what its hash says: a row edited or
         * damaged behind bsupd's back is rewritten (as a change). */
        const char *stored_hash = (const char *)sqlite3_column_text(q, 0);
        const char *stored_json = (const char *)sqlite3_column_text(q, 1);
        *out_kind = stored_hash && stored_json && strcmp(stored_hash, hash) == 0 &&
                            strcmp(stored_json, json) == 0
                        ? 0
                        : 2;
    } else {
        *out_kind = 1;
    }
    bsup_store_finish(st, q); /* kept prepared for the next service */
    q = NULL;

    static const char *const sql[] = {
        /* unchanged: the file may have been renamed; the generation stays */
        "UPDATE desired_state SET source_file = ?4, seen_at = ?5, environment = ?6, mode = ?7"
        " WHERE service = ?1",
        "INSERT INTO desired_state(service, generation, content_hash, config_json, source_file,"
        " loaded_at, seen_at, environment, mode) VALUES(?1, 1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
        "UPDATE desired_state SET generation = generation + 1, content_hash = ?2,"
        " config_json = ?3, source_file = ?4, loaded_at = ?5, seen_at = ?5,"
        " environment = ?6, mode = ?7 WHERE service = ?1",
    };
    /* The columns status filters on, as the JSON has them (a mode left to the daemon: NULL). */
    const char *env = svc->environment >= 0 ? bsup_environment_name(svc->environment) : NULL;
    const char *mode = svc->mode >= 0 ? bsup_mode_name(svc->mode) : NULL;
    rc = bsup_store_exec(st, S_SAVING, sql[*out_kind],
                         BSUP_STORE_ARGS(BSUP_STORE_TEXT(svc->service_name), BSUP_STORE_TEXT(hash),
                                         BSUP_STORE_TEXT(json), BSUP_STORE_TEXT(svc->source_file),
                                         BSUP_STORE_INT(now_s), BSUP_STORE_TEXT(env),
                                         BSUP_STORE_TEXT(mode)),
                         diag);
out:
    bsup_store_finish(st, q);
    free(json);
    return rc;
}

/* Deletes rows of services no file declares any more, except those of broken files. The
 * rows to delete are collected first, then deleted, so the table never changes under the
 * statement that reads it. */
static int s_prune(struct bsup_store *st, const struct bsup_config_set *set, size_t *removed,
                   size_t *kept, struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    char **gone = NULL;
    size_t n_gone = 0, cap_gone = 0;
    struct bsup_strmap broken = {0}; /* files rejected this time: their services stay */
    int rc = 0;
    for (size_t i = 0; i < set->n_files && rc == 0; i++)
        if (!set->files[i].ok && bsup_strmap_put(&broken, set->files[i].name, &broken))
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, S_SAVING, diag);
    if (rc == 0)
        rc = bsup_store_prepare(st, S_SAVING, "SELECT service, source_file FROM desired_state",
                                BSUP_STORE_NO_ARGS, &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, S_SAVING, diag)) == 1) {
        const char *service = (const char *)sqlite3_column_text(q, 0);
        const char *file = (const char *)sqlite3_column_text(q, 1);
        rc = 0;
        if (s_declared(set, service))
            continue;
        if (file && bsup_strmap_get(&broken, file)) {
            (*kept)++;
            continue;
        }
        if (BSUP_ARRAY_RESERVE(gone, cap_gone, n_gone + 1) < 0 ||
            bsup_store_column_dup(q, 0, &gone[n_gone]) < 0) {
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, S_SAVING, diag);
            break;
        }
        n_gone++;
    }
    sqlite3_finalize(q);
    for (size_t i = 0; i < n_gone && rc == 0; i++) {
        rc = bsup_store_exec(st, S_SAVING, "DELETE FROM desired_state WHERE service = ?",
                             BSUP_STORE_ARGS(BSUP_STORE_TEXT(gone[i])), diag);
        if (rc == 0)
            (*removed)++;
    }
    for (size_t i = 0; i < n_gone; i++)
        free(gone[i]);
    free(gone);
    bsup_strmap_cleanup(&broken);
    return rc;
}

int bsup_store_apply_config(struct bsup_store *st, const struct bsup_config_set *set, int64_t now_s,
                            struct bsup_store_apply_stats *out, struct bsup_diag *diag)
{
    struct bsup_store_apply_stats stats = {0};
    int rc = bsup_store_check_file(st, "starting a configuration load", diag);
    if (rc == 0)
        rc = bsup_store_exec(st, "starting a configuration load", "BEGIN IMMEDIATE",
                             BSUP_STORE_NO_ARGS, diag);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < set->n_services && rc == 0; i++) {
        int kind = 0;
        rc = s_upsert(st, set->services[i], now_s, &kind, diag);
        if (rc == 0)
            *(kind == 1 ? &stats.added : kind == 2 ? &stats.changed : &stats.unchanged) += 1;
        bsup_failpoint("store-apply-mid");
    }
    if (rc == 0)
        rc = s_prune(st, set, &stats.removed, &stats.kept, diag);
    if (rc == 0) {
        size_t failed = 0;
        for (size_t i = 0; i < set->n_files; i++)
            failed += !set->files[i].ok;
        rc = bsup_store_exec(
            st, S_SAVING,
            "INSERT INTO config_loads(loaded_at, files, files_failed, services, added, changed, "
            "removed, kept) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
            BSUP_STORE_ARGS(BSUP_STORE_INT(now_s), BSUP_STORE_INT(set->n_files),
                            BSUP_STORE_INT(failed), BSUP_STORE_INT(set->n_services),
                            BSUP_STORE_INT(stats.added), BSUP_STORE_INT(stats.changed),
                            BSUP_STORE_INT(stats.removed), BSUP_STORE_INT(stats.kept)),
            diag);
    }
    if (rc == 0)
        rc = bsup_store_exec(st, S_SAVING, "COMMIT", BSUP_STORE_NO_ARGS, diag);
    if (rc < 0) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (out)
        *out = stats;
    return 0;
}

int bsup_store_services_each(struct bsup_store *st, bool with_config, bsup_store_service_fn fn,
                             void *ctx, struct bsup_diag *diag)
{
    return bsup_store_services_from(st, with_config, NULL, 0, fn, ctx, diag);
}

int bsup_store_services_from(struct bsup_store *st, bool with_config, const char *from,
                             int64_t skip, bsup_store_service_fn fn, void *ctx,
                             struct bsup_diag *diag)
{
    static const char *const doing = "reading the desired state";
    sqlite3_stmt *q = NULL;
    int rc = bsup_store_prepare(
        st, doing,
        with_config ? "SELECT service, generation, content_hash, source_file, loaded_at, seen_at, "
                      "environment, mode, config_json FROM desired_state WHERE service >= ?1 "
                      "ORDER BY service LIMIT -1 OFFSET ?2"
                    : "SELECT service, generation, content_hash, source_file, loaded_at, seen_at, "
                      "environment, mode FROM desired_state WHERE service >= ?1 ORDER BY service "
                      "LIMIT -1 OFFSET ?2",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(from ? from : ""), BSUP_STORE_INT(skip)), &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        struct bsup_store_service row = {
            .service = (char *)sqlite3_column_text(q, 0),
            .generation = sqlite3_column_int64(q, 1),
            .source_file = (char *)sqlite3_column_text(q, 3),
            .loaded_at_s = sqlite3_column_int64(q, 4),
            .seen_at_s = sqlite3_column_int64(q, 5),
        };
        snprintf(row.content_hash, sizeof(row.content_hash), "%s",
                 (const char *)sqlite3_column_text(q, 2));
        row.environment = (char *)sqlite3_column_text(q, 6);
        row.mode = (char *)sqlite3_column_text(q, 7);
        if (with_config)
            row.config_json = (char *)sqlite3_column_text(q, 8);
        if (!row.service || !row.source_file || (with_config && !row.config_json)) {
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
            break;
        }
        rc = fn(ctx, &row);
        /* A test build fails the read half-way, after the first row. */
        if (rc == 0 && bsup_failpoint_error("store-desired-read")) {
            rc = bsup_diag_set(diag, BSUP_ESTORE,
                               "state database %s: %s failed (failpoint store-desired-read)",
                               st->path, doing);
            break;
        }
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_services_count(struct bsup_store *st, const char *before, int64_t *out,
                              struct bsup_diag *diag)
{
    static const char *const doing = "counting the services";
    sqlite3_stmt *q = NULL;
    int rc = before ? bsup_store_prepare(st, doing,
                                         "SELECT count(*) FROM desired_state WHERE service < ?",
                                         BSUP_STORE_ARGS(BSUP_STORE_TEXT(before)), &q, diag)
                    : bsup_store_prepare(st, doing, "SELECT count(*) FROM desired_state",
                                         BSUP_STORE_NO_ARGS, &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        *out = sqlite3_column_int64(q, 0);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_generations_each(struct bsup_store *st, bsup_store_generation_fn fn, void *ctx,
                                struct bsup_diag *diag)
{
    static const char *const doing = "reading the desired state";
    sqlite3_stmt *q = NULL;
    int rc = bsup_store_prepare(st, doing, "SELECT service, generation FROM desired_state",
                                BSUP_STORE_NO_ARGS, &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        const char *service = (const char *)sqlite3_column_text(q, 0);
        rc = service ? fn(ctx, service, sqlite3_column_int64(q, 1))
                     : bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
    }
    sqlite3_finalize(q);
    return rc;
}

struct s_list {
    struct bsup_store_service *v;
    size_t n, cap;
};

static int s_list_row(void *ctx, const struct bsup_store_service *row)
{
    struct s_list *l = ctx;
    if (BSUP_ARRAY_RESERVE(l->v, l->cap, l->n + 1) < 0)
        return BSUP_ENOMEM;
    struct bsup_store_service *s = &l->v[l->n];
    *s = *row;
    s->service = strdup(row->service);
    s->config_json = strdup(row->config_json);
    s->source_file = strdup(row->source_file);
    l->n++;
    return s->service && s->config_json && s->source_file ? 0 : BSUP_ENOMEM;
}

int bsup_store_services_list(struct bsup_store *st, struct bsup_store_service **out, size_t *out_n,
                             struct bsup_diag *diag)
{
    struct s_list l = {0};
    int rc = bsup_store_services_each(st, true, s_list_row, &l, diag);
    if (rc == BSUP_ENOMEM)
        rc = bsup_diag_set(diag, rc, "reading the desired state: out of memory");
    if (rc < 0) {
        bsup_store_services_free(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *out_n = l.n;
    return 0;
}

void bsup_store_services_free(struct bsup_store_service *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].service);
        free(v[i].config_json);
        free(v[i].source_file);
    }
    free(v);
}
