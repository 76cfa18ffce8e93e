/* Desired state: one row per service with its resolved values, content hash and generation. */
#include "store/store_internal.h"

#include "core/base/failpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s_file_broken(const struct bsup_config_set *set, const char *file)
{
    for (size_t i = 0; i < set->n_files; i++)
        if (!set->files[i].ok && strcmp(set->files[i].name, file) == 0)
            return true;
    return false;
}

static bool s_declared(const struct bsup_config_set *set, const char *service)
{
    for (size_t i = 0; i < set->n_services; i++)
        if (strcmp(set->services[i].service_name, service) == 0)
            return true;
    return false;
}

/* Upserts one service; *out_kind: 0 unchanged, 1 added, 2 changed. */
static int s_upsert(sqlite3 *db, const struct bsup_service *svc, int64_t now_s, int *out_kind)
{
    char hash[65];
    char *json = bsup_service_to_json(svc);
    sqlite3_stmt *q = NULL;
    int src = SQLITE_NOMEM;
    if (!json || bsup_service_hash(svc, hash) != 0)
        goto out;
    src = sqlite3_prepare_v2(db, "SELECT content_hash FROM desired_state WHERE service = ?", -1, &q,
                             NULL);
    if (src != SQLITE_OK)
        goto out;
    sqlite3_bind_text(q, 1, svc->service_name, -1, SQLITE_STATIC);
    src = sqlite3_step(q);
    if (src == SQLITE_ROW)
        *out_kind = strcmp((const char *)sqlite3_column_text(q, 0), hash) == 0 ? 0 : 2;
    else if (src == SQLITE_DONE)
        *out_kind = 1;
    else
        goto out;
    sqlite3_finalize(q);
    q = NULL;

    static const char *const sql[] = {
        /* unchanged: the file may have been renamed; the generation stays */
        "UPDATE desired_state SET source_file = ?4, seen_at = ?5 WHERE service = ?1",
        "INSERT INTO desired_state(service, generation, content_hash, config_json, source_file,"
        " loaded_at, seen_at) VALUES(?1, 1, ?2, ?3, ?4, ?5, ?5)",
        "UPDATE desired_state SET generation = generation + 1, content_hash = ?2,"
        " config_json = ?3, source_file = ?4, loaded_at = ?5, seen_at = ?5 WHERE service = ?1",
    };
    src = sqlite3_prepare_v2(db, sql[*out_kind], -1, &q, NULL);
    if (src != SQLITE_OK)
        goto out;
    sqlite3_bind_text(q, 1, svc->service_name, -1, SQLITE_STATIC);
    if (*out_kind) {
        sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, json, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(q, 4, svc->source_file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, now_s);
    src = sqlite3_step(q);
    if (src == SQLITE_DONE)
        src = SQLITE_OK;
out:
    sqlite3_finalize(q);
    free(json);
    return src;
}

/* Deletes rows of services no file declares any more, except those of broken files. */
static int s_prune(sqlite3 *db, const struct bsup_config_set *set, size_t *removed, size_t *kept)
{
    sqlite3_stmt *q = NULL, *del = NULL;
    int src =
        sqlite3_prepare_v2(db, "SELECT service, source_file FROM desired_state", -1, &q, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, "DELETE FROM desired_state WHERE service = ?", -1, &del, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
        const char *service = (const char *)sqlite3_column_text(q, 0);
        const char *file = (const char *)sqlite3_column_text(q, 1);
        src = SQLITE_OK;
        if (s_declared(set, service))
            continue;
        if (s_file_broken(set, file)) {
            (*kept)++;
            continue;
        }
        sqlite3_bind_text(del, 1, service, -1, SQLITE_TRANSIENT);
        src = sqlite3_step(del);
        sqlite3_reset(del);
        if (src == SQLITE_DONE) {
            src = SQLITE_OK;
            (*removed)++;
        }
    }
    if (src == SQLITE_DONE)
        src = SQLITE_OK;
    sqlite3_finalize(q);
    sqlite3_finalize(del);
    return src;
}

int bsup_store_apply_config(struct bsup_store *st, const struct bsup_config_set *set, int64_t now_s,
                            struct bsup_store_apply_stats *out, struct bsup_diag *diag)
{
    struct bsup_store_apply_stats stats = {0};
    int src = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return bsup_store_error(st->db, st->path, src, "starting a configuration load", diag);
    for (size_t i = 0; i < set->n_services && src == SQLITE_OK; i++) {
        int kind = 0;
        src = s_upsert(st->db, &set->services[i], now_s, &kind);
        if (src == SQLITE_OK)
            *(kind == 1 ? &stats.added : kind == 2 ? &stats.changed : &stats.unchanged) += 1;
        bsup_failpoint("store-apply-mid");
    }
    if (src == SQLITE_OK)
        src = s_prune(st->db, set, &stats.removed, &stats.kept);
    if (src == SQLITE_OK) {
        sqlite3_stmt *q = NULL;
        size_t failed = 0;
        for (size_t i = 0; i < set->n_files; i++)
            failed += !set->files[i].ok;
        src = sqlite3_prepare_v2(st->db,
                                 "INSERT INTO config_loads(loaded_at, files, files_failed, "
                                 "services, added, changed, removed, kept) "
                                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                                 -1, &q, NULL);
        if (src == SQLITE_OK) {
            int64_t v[] = {now_s,
                           (int64_t)set->n_files,
                           (int64_t)failed,
                           (int64_t)set->n_services,
                           (int64_t)stats.added,
                           (int64_t)stats.changed,
                           (int64_t)stats.removed,
                           (int64_t)stats.kept};
            for (int i = 0; i < 8; i++)
                sqlite3_bind_int64(q, i + 1, v[i]);
            src = sqlite3_step(q);
            if (src == SQLITE_DONE)
                src = SQLITE_OK;
        }
        sqlite3_finalize(q);
    }
    if (src == SQLITE_OK)
        src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        int rc = bsup_store_error(st->db, st->path, src, "saving the desired state", diag);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (out)
        *out = stats;
    return 0;
}

static char *s_dup_col(sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    return strdup(t ? (const char *)t : "");
}

int bsup_store_services_list(struct bsup_store *st, struct bsup_store_service **out, size_t *out_n,
                             struct bsup_diag *diag)
{
    sqlite3_stmt *q = NULL;
    struct bsup_store_service *v = NULL;
    size_t n = 0, cap = 0;
    int src = sqlite3_prepare_v2(st->db,
                                 "SELECT service, generation, content_hash, config_json, "
                                 "source_file, loaded_at, seen_at FROM desired_state "
                                 "ORDER BY service",
                                 -1, &q, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct bsup_store_service *nv = realloc(v, cap * sizeof(*nv));
            if (!nv) {
                src = SQLITE_NOMEM;
                break;
            }
            v = nv;
        }
        struct bsup_store_service *s = &v[n++];
        memset(s, 0, sizeof(*s));
        s->service = s_dup_col(q, 0);
        s->generation = sqlite3_column_int64(q, 1);
        snprintf(s->content_hash, sizeof(s->content_hash), "%s",
                 (const char *)sqlite3_column_text(q, 2));
        s->config_json = s_dup_col(q, 3);
        s->source_file = s_dup_col(q, 4);
        s->loaded_at_s = sqlite3_column_int64(q, 5);
        s->seen_at_s = sqlite3_column_int64(q, 6);
        if (!s->service || !s->config_json || !s->source_file)
            src = SQLITE_NOMEM;
    }
    if (src == SQLITE_DONE)
        src = SQLITE_OK;
    sqlite3_finalize(q);
    if (src != SQLITE_OK) {
        bsup_store_services_free(v, n);
        return bsup_store_error(st->db, st->path, src, "reading the desired state", diag);
    }
    *out = v;
    *out_n = n;
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
