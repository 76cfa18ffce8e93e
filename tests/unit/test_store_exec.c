/* The store's statement helpers: binding, stepping, copying columns, and errors that name the
 * database and what the statement was for. */
#include "tests/lib/testlib.h"

#include "store/store.h"
#include "store/store_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct s_env {
    char *dir;
    struct bsup_store *st;
};

static int s_setup(void **state)
{
    struct s_env *e = calloc(1, sizeof(*e));
    struct bsup_diag diag = {0};
    e->dir = bsup_test_mkdtemp();
    if (!e->dir || bsup_store_open(e->dir, &e->st, &diag) != 0)
        return -1;
    if (bsup_store_exec(e->st, "creating a scratch table",
                        "CREATE TABLE scratch (k TEXT PRIMARY KEY, v TEXT, n INTEGER NOT NULL)",
                        BSUP_STORE_NO_ARGS, &diag) != 0)
        return -1;
    *state = e;
    return 0;
}

static int s_teardown(void **state)
{
    struct s_env *e = *state;
    bsup_store_close(e->st);
    bsup_test_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void test_exec_table(void **state)
{
    struct s_env *e = *state;
    static const struct {
        const char *doing, *sql;
        struct bsup_store_arg args[3];
        size_t n_args;
        int rc;
        const char *message_has; /* besides the path and doing */
    } rows[] = {
        {"adding a",
         "INSERT INTO scratch(k, v, n) VALUES(?, ?, ?)",
         {BSUP_STORE_TEXT("a"), BSUP_STORE_TEXT("x"), BSUP_STORE_INT(1)},
         3,
         0,
         NULL},
        {"adding b with a NULL",
         "INSERT INTO scratch(k, v, n) VALUES(?, ?, ?)",
         {BSUP_STORE_TEXT("b"), BSUP_STORE_TEXT(NULL), BSUP_STORE_INT(INT64_MAX)},
         3,
         0,
         NULL},
        {"numbered parameters",
         "UPDATE scratch SET n = ?2 WHERE k = ?1",
         {BSUP_STORE_TEXT("a"), BSUP_STORE_INT(-7)},
         2,
         0,
         NULL},
        {"adding a twice",
         "INSERT INTO scratch(k, v, n) VALUES(?, ?, ?)",
         {BSUP_STORE_TEXT("a"), BSUP_STORE_TEXT("y"), BSUP_STORE_INT(2)},
         3,
         BSUP_ESTORE,
         "UNIQUE constraint failed"},
        {"breaking a rule",
         "INSERT INTO scratch(k, v, n) VALUES(?, ?, ?)",
         {BSUP_STORE_TEXT("c"), BSUP_STORE_TEXT("z"), BSUP_STORE_TEXT(NULL)},
         3,
         BSUP_ESTORE,
         "NOT NULL constraint failed"},
        {"writing nonsense",
         "INSERT INTO nowhere VALUES(1)",
         {{0}},
         0,
         BSUP_ESTORE,
         "no such table"},
        {"binding too much",
         "DELETE FROM scratch WHERE k = ?",
         {BSUP_STORE_TEXT("a"), BSUP_STORE_INT(1)},
         2,
         BSUP_ESTORE,
         NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_diag diag = {0};
        int rc = bsup_store_exec(e->st, rows[i].doing, rows[i].sql,
                                 rows[i].n_args ? rows[i].args : NULL, rows[i].n_args, &diag);
        if (rc != rows[i].rc)
            fail_msg("%s: rc %d (%s), want %d", rows[i].doing, rc, diag.message, rows[i].rc);
        if (rc == 0)
            continue;
        assert_int_equal(diag.code, rc);
        if (!strstr(diag.message, bsup_store_path(e->st)) || !strstr(diag.message, rows[i].doing) ||
            (rows[i].message_has && !strstr(diag.message, rows[i].message_has)))
            fail_msg("%s: message \"%s\"", rows[i].doing, diag.message);
    }
    /* The statement that failed to bind did not run. */
    assert_int_equal(bsup_store_exec(e->st, "counting", "SELECT 1", BSUP_STORE_NO_ARGS, NULL), 0);
}

/* Statements are kept by their text, at most BSUP_STORE_CACHED of them, and a kept one runs
 * with its new parameters each time, also after one of its runs failed. */
static void test_kept_statements(void **state)
{
    struct s_env *e = *state;
    struct bsup_diag diag = {0};
    const char *insert = "INSERT INTO scratch(k, v, n) VALUES(?, ?, ?)";
    for (int i = 0; i < 3; i++) {
        char k[16], sql[128];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(bsup_store_exec(e->st, "adding", insert,
                                         BSUP_STORE_ARGS(BSUP_STORE_TEXT(k), BSUP_STORE_TEXT("v"),
                                                         BSUP_STORE_INT(i)),
                                         &diag),
                         0);
        /* the same text from another buffer is the same statement */
        snprintf(sql, sizeof(sql), "%s", insert);
        assert_int_equal(bsup_store_exec(e->st, "adding twice", sql,
                                         BSUP_STORE_ARGS(BSUP_STORE_TEXT(k), BSUP_STORE_TEXT("v"),
                                                         BSUP_STORE_INT(i)),
                                         &diag),
                         BSUP_ESTORE);
    }
    size_t kept = 0;
    for (sqlite3_stmt *q = sqlite3_next_stmt(e->st->db, NULL); q;
         q = sqlite3_next_stmt(e->st->db, q))
        kept++;
    assert_int_equal(kept, e->st->n_cached);
    /* One-off statements fill the cache; a statement run between them (a cycle's INSERT
     * among a load's statements) is kept all the same: the least recently used goes. */
    const char *hot = "UPDATE scratch SET v = ? WHERE k = ?";
    for (int i = 0; i < BSUP_STORE_CACHED + 8; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "UPDATE scratch SET n = n + %d WHERE k = ?", i);
        assert_int_equal(bsup_store_exec(e->st, "adding to n", sql,
                                         BSUP_STORE_ARGS(BSUP_STORE_TEXT("k2")), &diag),
                         0);
        if (i >= BSUP_STORE_CACHED)
            assert_int_equal(
                bsup_store_exec(e->st, "setting v", hot,
                                BSUP_STORE_ARGS(BSUP_STORE_TEXT("w"), BSUP_STORE_TEXT("k1")),
                                &diag),
                0);
    }
    kept = 0;
    bool hot_kept = false;
    for (sqlite3_stmt *q = sqlite3_next_stmt(e->st->db, NULL); q;
         q = sqlite3_next_stmt(e->st->db, q))
        kept++;
    for (size_t i = 0; i < e->st->n_cached; i++)
        hot_kept |= strcmp(e->st->cached[i].sql, hot) == 0;
    assert_int_equal(kept, BSUP_STORE_CACHED);
    assert_true(hot_kept);
    /* A kept statement in use is not handed out twice: the same query inside its own rows
     * gets a statement of its own. */
    const char *select = "SELECT k FROM scratch WHERE n >= ? ORDER BY k";
    bsup_store_cache_clear(e->st);
    sqlite3_stmt *outer = NULL, *inner = NULL;
    assert_int_equal(bsup_store_query(e->st, "listing", select, BSUP_STORE_ARGS(BSUP_STORE_INT(0)),
                                      &outer, &diag),
                     0);
    assert_int_equal(bsup_store_step(e->st, outer, "listing", &diag), 1);
    assert_int_equal(bsup_store_query(e->st, "listing", select, BSUP_STORE_ARGS(BSUP_STORE_INT(2)),
                                      &inner, &diag),
                     0);
    assert_ptr_not_equal(inner, outer);
    assert_int_equal(bsup_store_step(e->st, inner, "listing", &diag), 1);
    assert_string_equal((const char *)sqlite3_column_text(inner, 0), "k2");
    assert_string_equal((const char *)sqlite3_column_text(outer, 0), "k0");
    bsup_store_finish(e->st, inner);
    bsup_store_finish(e->st, outer);
    assert_int_equal(e->st->n_cached, 2);
    assert_false(e->st->cached[0].in_use || e->st->cached[1].in_use);
    sqlite3_stmt *q = NULL;
    assert_int_equal(bsup_store_prepare(e->st, "reading", "SELECT count(*), sum(n) FROM scratch",
                                        BSUP_STORE_NO_ARGS, &q, &diag),
                     0);
    assert_int_equal(bsup_store_step(e->st, q, "reading", &diag), 1);
    assert_int_equal(sqlite3_column_int64(q, 0), 3);
    /* 0 + 1 + 2, and k2 got 0 + 1 + ... + 39 */
    assert_int_equal(sqlite3_column_int64(q, 1),
                     3 + (BSUP_STORE_CACHED + 8) * (BSUP_STORE_CACHED + 7) / 2);
    sqlite3_finalize(q);
}

static void test_rows(void **state)
{
    struct s_env *e = *state;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_exec(e->st, "adding",
                                     "INSERT INTO scratch VALUES(?, ?, ?), (?, ?, ?)",
                                     BSUP_STORE_ARGS(BSUP_STORE_TEXT("p"), BSUP_STORE_TEXT("1"),
                                                     BSUP_STORE_INT(10), BSUP_STORE_TEXT("q"),
                                                     BSUP_STORE_TEXT(NULL), BSUP_STORE_INT(20)),
                                     &diag),
                     0);
    sqlite3_stmt *q = NULL;
    int rc =
        bsup_store_prepare(e->st, "listing", "SELECT k, v, n FROM scratch WHERE n >= ? ORDER BY k",
                           BSUP_STORE_ARGS(BSUP_STORE_INT(10)), &q, &diag);
    assert_int_equal(rc, 0);
    static const struct {
        const char *k, *v;
        int64_t n;
    } want[] = {{"p", "1", 10}, {"q", NULL, 20}};
    size_t seen = 0;
    while ((rc = bsup_store_step(e->st, q, "listing", &diag)) == 1) {
        char *k = NULL, *v = (char *)"unset";
        assert_true(seen < 2);
        assert_int_equal(bsup_store_column_dup(q, 0, &k), 0);
        assert_int_equal(bsup_store_column_dup(q, 1, &v), 0);
        assert_string_equal(k, want[seen].k);
        if (want[seen].v)
            assert_string_equal(v, want[seen].v);
        else
            assert_null(v);
        assert_int_equal(sqlite3_column_int64(q, 2), want[seen].n);
        free(k);
        free(v);
        seen++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(seen, 2);
    sqlite3_finalize(q);

    /* A statement that cannot be prepared leaves *out NULL and says why. */
    q = (sqlite3_stmt *)&rc;
    rc = bsup_store_prepare(e->st, "listing badly", "SELEC nothing", BSUP_STORE_NO_ARGS, &q, &diag);
    assert_int_equal(rc, BSUP_ESTORE);
    assert_null(q);
    assert_non_null(strstr(diag.message, "while listing badly"));

    /* Changes are counted by SQLite as usual. */
    assert_int_equal(bsup_store_exec(e->st, "cleaning", "DELETE FROM scratch WHERE n >= ?",
                                     BSUP_STORE_ARGS(BSUP_STORE_INT(10)), &diag),
                     0);
    assert_int_equal(sqlite3_changes(((struct bsup_store *)e->st)->db), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_table, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kept_statements, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("store_exec", tests, NULL, NULL);
}
