/* The state database: migrations, generations, last good state, crash and disk failures. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "store/journal.h"
#include "store/store.h"
#include "store/store_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SVC(name, extra)                                                                           \
    "service_name: " name "\nenvironment: prod\nvpc_id: vpc-0a1b2c3d\n"                            \
    "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: db\ndatabase_username: u\n"                     \
    "database_password: ssm:/x\n" extra

struct s_env {
    char *state;
    char *conf;
};

static int s_setup(void **state)
{
    struct s_env *e = calloc(1, sizeof(*e));
    e->state = bsup_test_mkdtemp();
    e->conf = bsup_test_mkdtemp();
    *state = e;
    return 0;
}

static int s_teardown(void **state)
{
    struct s_env *e = *state;
    chmod(e->state, 0700);
    bsup_test_rmtree(e->state);
    bsup_test_rmtree(e->conf);
    free(e->state);
    free(e->conf);
    free(e);
    return 0;
}

static void s_write(struct s_env *e, const char *name, const char *text)
{
    free(bsup_test_write(e->conf, name, text, -1));
}

/* Loads the config dir into the store; returns the stats. */
static struct bsup_store_apply_stats s_load(struct s_env *e, struct bsup_store *st, int64_t now)
{
    struct bsup_config_set set;
    struct bsup_diag diag = {0};
    struct bsup_store_apply_stats stats;
    bsup_config_set_init(&set);
    assert_int_equal(bsup_config_load_dir(e->conf, &set, &diag), 0);
    int rc = bsup_store_apply_config(st, &set, now, &stats, &diag);
    if (rc)
        fail_msg("%s", diag.message);
    bsup_config_set_cleanup(&set);
    return stats;
}

static const struct bsup_store_service *s_find(const struct bsup_store_service *v, size_t n,
                                               const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].service, name) == 0)
            return &v[i];
    return NULL;
}

/* ctx: int64_t[2], the generations of services "a" and "b". */
static int s_generation_of(void *ctx, const char *service, int64_t generation)
{
    int64_t *gens = ctx;
    if (strcmp(service, "a") != 0 && strcmp(service, "b") != 0)
        return -1;
    gens[service[0] - 'a'] = generation;
    return 0;
}

/* ctx: char[64]; appends "service:environment:mode," ("-" for NULL). */
static int s_env_mode(void *ctx, const struct bsup_store_service *row)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%s:%s:%s,", row->service, row->environment ? row->environment : "-",
             row->mode ? row->mode : "-");
    return 0;
}

static int s_generation_stop(void *ctx, const char *service, int64_t generation)
{
    (void)ctx;
    (void)service;
    (void)generation;
    return 7;
}

static void test_generations_and_last_good(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);

    s_write(e, "10-a.yaml", SVC("a", "min_size: 1\n"));
    s_write(e, "20-b.yaml", SVC("b", ""));
    struct bsup_store_apply_stats s = s_load(e, st, 1000);
    assert_int_equal(s.added, 2);

    /* Same content: generation kept. */
    s = s_load(e, st, 2000);
    assert_int_equal(s.unchanged, 2);
    assert_int_equal(s.added + s.changed + s.removed, 0);

    /* Changed content: generation + 1. */
    s_write(e, "10-a.yaml", SVC("a", "min_size: 2\n"));
    s = s_load(e, st, 3000);
    assert_int_equal(s.changed, 1);
    assert_int_equal(s.unchanged, 1);

    /* Break b: a stays current, b keeps its last good generation and content. */
    s_write(e, "20-b.yaml", SVC("b", "max_size: lots\n"));
    s = s_load(e, st, 4000);
    assert_int_equal(s.kept, 1);
    assert_int_equal(s.removed, 0);

    struct bsup_store_service *v;
    size_t n;
    assert_int_equal(bsup_store_services_list(st, &v, &n, &diag), 0);
    assert_int_equal(n, 2);
    const struct bsup_store_service *a = s_find(v, n, "a"), *b = s_find(v, n, "b");
    assert_int_equal(a->generation, 2);
    assert_int_equal(a->loaded_at_s, 3000);
    assert_int_equal(a->seen_at_s, 4000);
    assert_non_null(strstr(a->config_json, "\"min_size\":2"));
    assert_int_equal(b->generation, 1);
    assert_int_equal(b->loaded_at_s, 1000);
    assert_non_null(strstr(b->config_json, "\"max_size\":4"));
    assert_string_equal(b->source_file, "20-b.yaml");
    struct bsup_service back;
    assert_int_equal(bsup_service_from_json(b->config_json, &back), 0);
    assert_string_equal(back.service_name, "b");
    bsup_service_cleanup(&back);
    bsup_store_services_free(v, n);

    /* What a load compares: each name with its generation, and a stop asked by the callback. */
    int64_t gens[2] = {0, 0};
    assert_int_equal(bsup_store_generations_each(st, s_generation_of, gens, &diag), 0);
    assert_int_equal(gens[0], 2);
    assert_int_equal(gens[1], 1);
    assert_int_equal(bsup_store_generations_each(st, s_generation_stop, NULL, &diag), 7);
    /* Without the configs: each row's environment, and its mode (none: inherited). */
    char seen[64] = "";
    assert_int_equal(bsup_store_services_each(st, false, s_env_mode, seen, &diag), 0);
    assert_string_equal(seen, "a:prod:-,b:prod:-,");
    /* A page's walk: from a name on (the next one when none is so named), less a skip. */
    seen[0] = '\0';
    assert_int_equal(bsup_store_services_from(st, false, "a0", 0, s_env_mode, seen, &diag), 0);
    assert_string_equal(seen, "b:prod:-,");
    seen[0] = '\0';
    assert_int_equal(bsup_store_services_from(st, false, NULL, 1, s_env_mode, seen, &diag), 0);
    assert_string_equal(seen, "b:prod:-,");
    seen[0] = '\0';
    assert_int_equal(bsup_store_services_from(st, false, "c", 0, s_env_mode, seen, &diag), 0);
    assert_string_equal(seen, "");
    int64_t count = -1;
    assert_int_equal(bsup_store_services_count(st, NULL, &count, &diag), 0);
    assert_int_equal(count, 2);
    assert_int_equal(bsup_store_services_count(st, "b", &count, &diag), 0);
    assert_int_equal(count, 1);
    assert_int_equal(bsup_store_services_count(st, "a", &count, &diag), 0);
    assert_int_equal(count, 0);

    /* Remove a's file: a goes away; b is still kept. */
    char *path = NULL;
    assert_true(asprintf(&path, "%s/10-a.yaml", e->conf) > 0);
    unlink(path);
    free(path);
    s = s_load(e, st, 5000);
    assert_int_equal(s.removed, 1);
    assert_int_equal(s.kept, 1);

    /* Fix b with the same content as before: no new generation. */
    s_write(e, "20-b.yaml", SVC("b", ""));
    s = s_load(e, st, 6000);
    assert_int_equal(s.unchanged, 1);
    assert_int_equal(bsup_store_services_list(st, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].generation, 1);
    bsup_store_services_free(v, n);

    /* A row edited behind bsupd's back no longer hashes to its content: the next load
     * rewrites it (as a change) from the drop-in. */
    sqlite3 *db = NULL;
    char *db_path = NULL;
    assert_true(asprintf(&db_path, "%s/%s", e->state, BSUP_STORE_FILE) > 0);
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE desired_state SET config_json = "
                                  "replace(config_json, '\"max_size\":4', '\"max_size\":40')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    free(db_path);
    s = s_load(e, st, 7000);
    assert_int_equal(s.changed, 1);
    assert_int_equal(bsup_store_services_list(st, &v, &n, &diag), 0);
    assert_non_null(strstr(v[0].config_json, "\"max_size\":4,"));
    bsup_store_services_free(v, n);

    /* The meta table persists across reopen. */
    assert_int_equal(bsup_store_meta_set(st, "paused", "1", &diag), 0);
    bsup_store_close(st);
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    char *val = NULL;
    assert_int_equal(bsup_store_meta_get(st, "paused", &val, &diag), 0);
    assert_string_equal(val, "1");
    free(val);
    assert_int_equal(bsup_store_meta_get(st, "nothing", &val, &diag), BSUP_ENOTFOUND);
    bsup_store_close(st);
}

/* Builds a database at every earlier schema version, with data where the version allows,
 * and checks that opening migrates it to the current one without losing anything. */
static void test_migrate_from_every_version(void **state)
{
    struct s_env *e = *state;
    struct bsup_diag diag = {0};
    for (int from = 0; from < bsup_store_schema_version(); from++) {
        char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", e->state, BSUP_STORE_FILE) > 0);
        unlink(path);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(bsup_store_migrate(db, path, from, &diag), 0);
        if (from >= 1)
            assert_int_equal(sqlite3_exec(db,
                                          "INSERT INTO desired_state(service, generation, "
                                          "content_hash, config_json, source_file, loaded_at, "
                                          "seen_at) VALUES('old', 3, 'h', "
                                          "'{\"service_name\":\"old\",\"environment\":"
                                          "\"prod\"}', 'x.yaml', 1, 1)",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
        if (from >= 7) /* written with the config since 7 */
            assert_int_equal(
                sqlite3_exec(db, "UPDATE desired_state SET environment = 'prod'", NULL, NULL, NULL),
                SQLITE_OK);
        if (from >= 4) /* a service's last observation, since 4 */
            assert_int_equal(sqlite3_exec(db,
                                          "INSERT INTO observations(service, observed_at, state, "
                                          "detail) VALUES('old', 5, 'drift', '{}')",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
        sqlite3_close(db);

        struct bsup_store *st = NULL;
        if (bsup_store_open(e->state, &st, &diag))
            fail_msg("from version %d: %s", from, diag.message);
        bsup_store_close(st);

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(q, 0), bsup_store_schema_version());
        sqlite3_finalize(q);
        if (from >= 1) {
            assert_int_equal(sqlite3_prepare_v2(db,
                                                "SELECT generation, environment, mode "
                                                "FROM desired_state WHERE service = 'old'",
                                                -1, &q, NULL),
                             SQLITE_OK);
            assert_int_equal(sqlite3_step(q), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int(q, 0), 3);
            assert_string_equal((const char *)sqlite3_column_text(q, 1), "prod");
            assert_int_equal(sqlite3_column_type(q, 2), SQLITE_NULL);
            sqlite3_finalize(q);
        }
        if (from >= 4) { /* kept; its observations text unknown (8) */
            assert_int_equal(sqlite3_prepare_v2(db,
                                                "SELECT observed_at, state, observed "
                                                "FROM observations WHERE service = 'old'",
                                                -1, &q, NULL),
                             SQLITE_OK);
            assert_int_equal(sqlite3_step(q), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int(q, 0), 5);
            assert_string_equal((const char *)sqlite3_column_text(q, 1), "drift");
            assert_int_equal(sqlite3_column_type(q, 2), SQLITE_NULL);
            sqlite3_finalize(q);
        }
        sqlite3_close(db);
        free(path);
    }

    /* A database from a newer bsupd is refused, naming the path and both versions. */
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", e->state, BSUP_STORE_FILE) > 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct bsup_store *st = NULL;
    assert_int_equal(bsup_store_open(e->state, &st, &diag), BSUP_ESTORE);
    assert_non_null(strstr(diag.message, path));
    assert_non_null(strstr(diag.message, "schema version 999, newer than this bsupd"));
    free(path);
}

/* A process that dies in the middle of a load leaves the previous generation intact. */
static void test_crash_mid_load(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    s_write(e, "10-a.yaml", SVC("a", "min_size: 1\n"));
    s_write(e, "20-b.yaml", SVC("b", "min_size: 1\n"));
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    s_load(e, st, 100);
    bsup_store_close(st);

    s_write(e, "10-a.yaml", SVC("a", "min_size: 3\n"));
    s_write(e, "20-b.yaml", SVC("b", "min_size: 3\n"));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("BSUP_FAILPOINT", "store-apply-mid", 1);
        struct bsup_store *cst = NULL;
        if (bsup_store_open(e->state, &cst, NULL))
            _exit(1);
        s_load(e, cst, 200);
        _exit(0); /* only reached if failpoints are not compiled in */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
#ifdef BSUP_FAILPOINTS
    assert_int_equal(WEXITSTATUS(status), 86);
#endif

    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    struct bsup_store_service *v;
    size_t n;
    assert_int_equal(bsup_store_services_list(st, &v, &n, &diag), 0);
    assert_int_equal(n, 2);
#ifdef BSUP_FAILPOINTS
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].generation, 1);
        assert_non_null(strstr(v[i].config_json, "\"min_size\":1"));
    }
#endif
    bsup_store_services_free(v, n);
    bsup_store_close(st);
}

static void test_corrupt_readonly_full(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", e->state, BSUP_STORE_FILE) > 0);

    /* Not a database at all. */
    char junk[8192];
    memset(junk, 'x', sizeof(junk));
    free(bsup_test_write(e->state, BSUP_STORE_FILE, junk, sizeof(junk)));
    assert_int_equal(bsup_store_open(e->state, &st, &diag), BSUP_ECORRUPT);
    assert_non_null(strstr(diag.message, path));
    assert_non_null(strstr(diag.message, "is corrupt or not a bsup database"));
    unlink(path);

    /* A real database with a damaged page. */
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    s_write(e, "10-a.yaml", SVC("a", ""));
    s_load(e, st, 1);
    bsup_store_close(st);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, 4096, 4096), 4096);
    close(fd);
    int rc = bsup_store_open(e->state, &st, &diag);
    assert_int_equal(rc, BSUP_ECORRUPT);
    assert_non_null(strstr(diag.message, path));
    unlink(path);
    char *wal = NULL;
    assert_true(asprintf(&wal, "%s-wal", path) > 0);
    unlink(wal);
    free(wal);

    /* A directory that is not writable (root ignores modes, so only as a user). */
    if (geteuid() != 0) {
        chmod(e->state, 0500);
        assert_int_equal(bsup_store_open(e->state, &st, &diag), BSUP_EPERM);
        assert_non_null(strstr(diag.message, e->state));
        assert_non_null(strstr(diag.message, "is not writable"));
        chmod(e->state, 0700);
    }
    assert_int_equal(bsup_store_open("/proc/bsup-cannot-exist", &st, &diag), BSUP_EPERM);
    assert_non_null(strstr(diag.message, "state directory /proc/bsup-cannot-exist cannot be "
                                         "created"));

    /* A full disk: SQLite's page limit makes the database "full" at a known point. The load
     * fails with a clear message and leaves the previous state. */
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    s_load(e, st, 1);
    struct bsup_store *raw = st;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(raw->db, "PRAGMA page_count", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int pages = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %d", pages);
    assert_int_equal(sqlite3_exec(raw->db, sql, NULL, NULL, NULL), SQLITE_OK);
    struct bsup_config_set set;
    bsup_config_set_init(&set);
    char big[4000];
    for (int i = 0; i < 60; i++) {
        char name[32];
        snprintf(name, sizeof(name), "svc-%02d.yaml", i);
        snprintf(big, sizeof(big), SVC("svc-%02d", ""), i);
        assert_int_equal(bsup_config_parse_buffer(&set, name, big, strlen(big)), 0);
    }
    struct bsup_store_apply_stats stats;
    assert_int_equal(bsup_store_apply_config(st, &set, 2, &stats, &diag), BSUP_EFULL);
    assert_non_null(strstr(diag.message, path));
    assert_non_null(strstr(diag.message, "no space left"));
    bsup_config_set_cleanup(&set);
    struct bsup_store_service *v;
    size_t n;
    assert_int_equal(bsup_store_services_list(st, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].service, "a");
    bsup_store_services_free(v, n);
    bsup_store_close(st);
    free(path);
}

/* The database file deleted (or moved aside) while the store is open: writes would land in a
 * file no restart finds, so a transaction or a journal intent fails, naming what happened. */
static void test_file_deleted(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    int64_t id = 0;
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    assert_int_equal(bsup_store_begin(st, &diag), 0);
    assert_int_equal(bsup_store_commit(st, &diag), 0);
    char *path = NULL, *aside = NULL;
    assert_true(asprintf(&path, "%s/bsup.db", e->state) > 0);
    assert_true(asprintf(&aside, "%s/bsup.db.bad", e->state) > 0);
    assert_int_equal(rename(path, aside), 0);
    assert_int_equal(bsup_store_begin(st, &diag), BSUP_ESTORE);
    assert_non_null(strstr(diag.message, path));
    assert_non_null(strstr(diag.message, "deleted or replaced while bsupd runs"));
    diag = (struct bsup_diag){0};
    assert_int_equal(bsup_store_journal_begin(st, "api", "asg", "update", "{}", 1, &id, &diag),
                     BSUP_ESTORE);
    assert_non_null(strstr(diag.message, "journaling an intent"));
    struct bsup_config_set set;
    bsup_config_set_init(&set);
    assert_int_equal(bsup_store_apply_config(st, &set, 2, NULL, &diag), BSUP_ESTORE);
    assert_non_null(strstr(diag.message, "starting a configuration load"));
    bsup_config_set_cleanup(&set);
    assert_int_equal(unlink(aside), 0);
    assert_int_equal(bsup_store_begin(st, &diag), BSUP_ESTORE);
    bsup_store_close(st);
    free(path);
    free(aside);
}

/* Intents, outcomes, crash recovery, resource memory, observations and pruning. */
/* Appends "service@at:state " to the string ctx (test_journal's observations). */
static int s_observed_row(void *ctx, const char *service, int64_t at_s, const char *state,
                          const char *error)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 96 - n, "%s@%lld:%s(%s) ", service, (long long)at_s, state,
             error ? error : "-");
    return 0;
}

static void test_journal(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    int64_t a, b;
    assert_int_equal(bsup_store_journal_begin(st, "api", "autoscaling-group/api-prod",
                                              "UpdateAutoScalingGroup", "{\"MaxSize\":6}", 100, &a,
                                              &diag),
                     0);
    assert_int_equal(bsup_store_journal_end(st, a, "ok", NULL, NULL, "req-1", 101, &diag), 0);
    assert_int_equal(bsup_store_journal_begin(st, "api", "autoscaling-group/api-prod",
                                              "UpdateAutoScalingGroup", "{}", 200, &b, &diag),
                     0);
    bsup_store_close(st); /* "crash" with b open */

    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    size_t n = 0;
    assert_int_equal(bsup_store_journal_recover(st, 300, &n, &diag), 0);
    assert_int_equal(n, 1);
    struct bsup_store_journal_entry *v;
    assert_int_equal(bsup_store_journal_list(st, "api", 10, &v, &n, &diag), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, b);
    assert_string_equal(v[0].outcome, "unknown");
    assert_string_equal(v[1].outcome, "ok");
    assert_string_equal(v[1].request_id, "req-1");
    bsup_store_journal_free(v, n);
    assert_int_equal(bsup_store_journal_recover(st, 301, &n, &diag), 0);
    assert_int_equal(n, 0);

    struct bsup_resource_memory m = {
        .last_change_s = 5, .corrections_in_a_row = 2, .fighting = true};
    struct bsup_resource_memory got;
    assert_int_equal(bsup_store_memory_get(st, "api", "r", &got, &diag), 0);
    assert_int_equal(got.last_change_s, 0);
    assert_int_equal(got.unknown_since_s, 0);
    assert_int_equal(bsup_store_memory_put(st, "api", "r", &m, &diag), 0);
    assert_int_equal(bsup_store_memory_get(st, "api", "r", &got, &diag), 0);
    assert_int_equal(got.corrections_in_a_row, 2);
    assert_true(got.fighting);
    /* The change whose outcome is unknown counts for the rails. */
    assert_int_equal(bsup_store_memory_get(st, "api", "autoscaling-group/api-prod", &got, &diag),
                     0);
    assert_int_equal(got.unknown_since_s, 200);
    /* Resources with a streak to forget. */
    char **streaks = NULL;
    assert_int_equal(bsup_store_memory_streaks(st, "api", &streaks, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(streaks[0], "r");
    bsup_store_strings_free(streaks, n);
    /* ... and one with a correction the rails have not counted yet (its first). */
    struct bsup_resource_memory first = {.last_change_s = 6, .changes = 1};
    assert_int_equal(bsup_store_memory_put(st, "api", "s", &first, &diag), 0);
    assert_int_equal(bsup_store_memory_streaks(st, "api", &streaks, &n, &diag), 0);
    assert_int_equal(n, 2);
    bsup_store_strings_free(streaks, n);

    char *state_word, *detail;
    int64_t at;
    assert_int_equal(bsup_store_observation_get(st, "api", &at, &state_word, &detail, &diag),
                     BSUP_ENOTFOUND);
    assert_int_equal(bsup_store_observation_put(st, "api", 7, "drift", "{\"x\":1}", NULL, &diag),
                     0);
    assert_int_equal(
        bsup_store_observation_put(st, "api", 8, "ok", "{\"error\":\"\"}", NULL, &diag), 0);
    assert_int_equal(bsup_store_observation_get(st, "api", &at, &state_word, &detail, &diag), 0);
    assert_int_equal(at, 8);
    assert_string_equal(state_word, "ok");
    free(state_word);
    free(detail);
    /* Every service's record without its detail, as a restart reads them. */
    char *observed = NULL;
    assert_int_equal(bsup_store_observation_observed(st, "api", &observed, &diag),
                     BSUP_ENOTFOUND); /* a record without them */
    assert_int_equal(bsup_store_observation_put(st, "web", 9, "error", "{\"error\":\"timed out\"}",
                                                ",\"scaling\":null", &diag),
                     0);
    assert_int_equal(bsup_store_observation_observed(st, "web", &observed, &diag), 0);
    assert_string_equal(observed, ",\"scaling\":null");
    free(observed);
    char seen[96] = ""; /* with the detail's error, for a restart to show why */
    assert_int_equal(bsup_store_observations_each(st, s_observed_row, seen, &diag), 0);
    assert_string_equal(seen, "api@8:ok(-) web@9:error(timed out) ");

    /* Pruning by age keeps recent rows; by count keeps the newest. */
    for (int i = 0; i < 10; i++) {
        int64_t id;
        bsup_store_journal_begin(st, "api", "r", "X", "{}", 1000 + i, &id, &diag);
        bsup_store_journal_end(st, id, "ok", NULL, NULL, NULL, 1000 + i, &diag);
    }
    assert_int_equal(bsup_store_prune(st, 500, 5, &diag), 0);
    assert_int_equal(bsup_store_journal_list(st, NULL, 100, &v, &n, &diag), 0);
    assert_int_equal(n, 5);
    assert_int_equal(v[0].started_at_s, 1009);
    bsup_store_journal_free(v, n);
    bsup_store_close(st);
}

/* One process per state directory: a second open is refused naming the holder, and the
 * directory is free again once the first closes. */
/* ---- a VFS that counts syncs: which commits reach the disk ---- */

static sqlite3_vfs *s_base_vfs;
static int s_syncs;

struct s_file {
    sqlite3_file base; /* methods: s_io */
    sqlite3_file *real;
};

static int s_close(sqlite3_file *f)
{
    struct s_file *x = (struct s_file *)f;
    int rc = x->real->pMethods ? x->real->pMethods->xClose(x->real) : SQLITE_OK;
    sqlite3_free(x->real);
    return rc;
}
#define S_FWD(name, sig, args)                                                                     \
    static int s_##name sig                                                                        \
    {                                                                                              \
        struct s_file *x = (struct s_file *)f;                                                     \
        return x->real->pMethods->x##name args;                                                    \
    }
S_FWD(Read, (sqlite3_file * f, void *p, int n, sqlite3_int64 o), (x->real, p, n, o))
S_FWD(Write, (sqlite3_file * f, const void *p, int n, sqlite3_int64 o), (x->real, p, n, o))
S_FWD(Truncate, (sqlite3_file * f, sqlite3_int64 n), (x->real, n))
S_FWD(FileSize, (sqlite3_file * f, sqlite3_int64 *n), (x->real, n))
S_FWD(Lock, (sqlite3_file * f, int l), (x->real, l))
S_FWD(Unlock, (sqlite3_file * f, int l), (x->real, l))
S_FWD(CheckReservedLock, (sqlite3_file * f, int *r), (x->real, r))
S_FWD(FileControl, (sqlite3_file * f, int op, void *p), (x->real, op, p))
S_FWD(SectorSize, (sqlite3_file * f), (x->real))
S_FWD(DeviceCharacteristics, (sqlite3_file * f), (x->real))
S_FWD(ShmMap, (sqlite3_file * f, int i, int n, int w, void volatile **p), (x->real, i, n, w, p))
S_FWD(ShmLock, (sqlite3_file * f, int o, int n, int fl), (x->real, o, n, fl))
S_FWD(ShmUnmap, (sqlite3_file * f, int d), (x->real, d))
static void s_ShmBarrier(sqlite3_file *f)
{
    struct s_file *x = (struct s_file *)f;
    x->real->pMethods->xShmBarrier(x->real);
}
static int s_Sync(sqlite3_file *f, int flags)
{
    struct s_file *x = (struct s_file *)f;
    s_syncs++;
    return x->real->pMethods->xSync(x->real, flags);
}

static const sqlite3_io_methods s_io = {
    .iVersion = 2, /* with the shared memory WAL needs; without memory mapping */
    .xClose = s_close,
    .xRead = s_Read,
    .xWrite = s_Write,
    .xTruncate = s_Truncate,
    .xSync = s_Sync,
    .xFileSize = s_FileSize,
    .xLock = s_Lock,
    .xUnlock = s_Unlock,
    .xCheckReservedLock = s_CheckReservedLock,
    .xFileControl = s_FileControl,
    .xSectorSize = s_SectorSize,
    .xDeviceCharacteristics = s_DeviceCharacteristics,
    .xShmMap = s_ShmMap,
    .xShmLock = s_ShmLock,
    .xShmBarrier = s_ShmBarrier,
    .xShmUnmap = s_ShmUnmap,
};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    struct s_file *x = (struct s_file *)f;
    x->base.pMethods = NULL;
    if (!(x->real = sqlite3_malloc(s_base_vfs->szOsFile)))
        return SQLITE_NOMEM;
    memset(x->real, 0, (size_t)s_base_vfs->szOsFile);
    int rc = s_base_vfs->xOpen(s_base_vfs, name, x->real, flags, out);
    if (rc != SQLITE_OK) {
        sqlite3_free(x->real);
        return rc;
    }
    x->base.pMethods = &s_io;
    return SQLITE_OK;
}

/* Only the commits that must reach the disk do: a journal intent syncs, before its call
 * goes out; an ordinary transaction (a batch's records) does not (WAL, synchronous=NORMAL). */
static void test_syncs(void **state)
{
    struct s_env *e = *state;
    static sqlite3_vfs vfs;
    s_base_vfs = sqlite3_vfs_find(NULL);
    vfs = *s_base_vfs;
    vfs.zName = "bsup-test-count-syncs";
    vfs.szOsFile = (int)sizeof(struct s_file);
    vfs.xOpen = s_open;
    assert_int_equal(sqlite3_vfs_register(&vfs, 1), SQLITE_OK);
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    s_syncs = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bsup_store_begin(st, &diag), 0);
        assert_int_equal(bsup_store_observation_put(st, "api", 100 + i, "ok", "{}", NULL, &diag),
                         0);
        assert_int_equal(bsup_store_commit(st, &diag), 0);
    }
    assert_int_equal(s_syncs, 0);
    int64_t id;
    assert_int_equal(bsup_store_journal_begin(st, "api", "autoscaling-group/api-prod",
                                              "UpdateAutoScalingGroup", "{}", 200, &id, &diag),
                     0);
    assert_true(s_syncs >= 1);
    int after_intent = s_syncs;
    assert_int_equal(bsup_store_journal_end(st, id, "ok", NULL, NULL, "r", 201, &diag), 0);
    assert_int_equal(s_syncs, after_intent); /* the outcome need not: unknown is safe */
    bsup_store_close(st);
    assert_int_equal(sqlite3_vfs_unregister(&vfs), SQLITE_OK);
}

static void s_count_due(void *ctx)
{
    (*(int *)ctx)++;
}

/* With a hook, a WAL past its mark is the caller's to checkpoint (the daemon: off the loop):
 * the commit does not, and bsup_store_checkpoint then copies it all through its own
 * connection while the store stays open. */
static void test_checkpoint_hook(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    char *path = NULL;
    int due = 0, wal = -1, done = -1;
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    bsup_store_checkpoint_hook(st, 8, s_count_due, &due);
    for (int i = 0; i < 100 && due == 0; i++)
        assert_int_equal(bsup_store_observation_put(st, "api", 100 + i, "ok", "{}", NULL, &diag),
                         0);
    assert_true(due >= 1);
    assert_true(asprintf(&path, "%s/" BSUP_STORE_FILE, e->state) > 0);
    assert_int_equal(bsup_store_checkpoint(path, &wal, &done, &diag), 0);
    assert_true(wal >= 8);
    assert_int_equal(done, wal);
    /* The store goes on writing after it. */
    assert_int_equal(bsup_store_observation_put(st, "api", 500, "ok", "{}", NULL, &diag), 0);
    bsup_store_close(st);
    free(path);
}

static void test_lock(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *a = NULL, *b = NULL;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_open(e->state, &a, &diag), 0);
    assert_int_equal(bsup_store_open(e->state, &b, &diag), BSUP_EBUSY);
    assert_null(b);
    /* The holder named as the kernel has it: this process, which is no bsupd. */
    char want[96];
    snprintf(want, sizeof(want), "in use by another process, test_store (pid %ld)", (long)getpid());
    assert_non_null(strstr(diag.message, want));
    bsup_store_close(a);
    assert_int_equal(bsup_store_open(e->state, &b, &diag), 0);
    bsup_store_close(b);
}

/* The process that took the lock has exited and a child of it holds it: its pid is no one's
 * to name (nor is a pid bsup.lock may still hold from a bsupd gone since). */
static void test_lock_holder_gone(void **state)
{
    struct s_env *e = *state;
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    char path[4096], stale[64];
    int hold[2], gone[2];
    snprintf(path, sizeof(path), "%s/" BSUP_STORE_LOCK_FILE, e->state);
    assert_int_equal(pipe(hold), 0);
    assert_int_equal(pipe(gone), 0);
    pid_t taker = fork();
    assert_true(taker >= 0);
    if (taker == 0) {
        int fd = open(path, O_RDWR | O_CREAT, 0640);
        /* What a bsupd that exited left in the file before this build. */
        int len = snprintf(stale, sizeof(stale), "%ld\n", (long)getpid());
        if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(fd, stale, (size_t)len) != len)
            _exit(1);
        if (fork() == 0) { /* keeps the lock until the test closes hold, then says so */
            char c;
            close(hold[1]);
            close(gone[0]);
            bool ok = read(hold[0], &c, 1) == 0 && flock(fd, LOCK_UN) == 0;
            _exit(ok && write(gone[1], "x", 1) == 1 ? 0 : 1);
        }
        _exit(0);
    }
    close(hold[0]);
    close(gone[1]);
    int status = 0;
    assert_int_equal(waitpid(taker, &status, 0), taker);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(bsup_store_open(e->state, &st, &diag), BSUP_EBUSY);
    assert_non_null(strstr(diag.message, "in use by another process (pid unknown)"));
    snprintf(stale, sizeof(stale), "(pid %ld)", (long)taker);
    assert_null(strstr(diag.message, stale));
    close(hold[1]);
    char c;
    assert_int_equal(read(gone[0], &c, 1), 1); /* the lock is free */
    close(gone[0]);
    assert_int_equal(bsup_store_open(e->state, &st, &diag), 0);
    bsup_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generations_and_last_good, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_every_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_load, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_readonly_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_file_deleted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_journal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_holder_gone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_hook, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_syncs, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
