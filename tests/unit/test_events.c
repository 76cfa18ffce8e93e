#include "tests/lib/testlib.h"

#include "store/events.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void test_add_list_prune(void **state)
{
    (void)state;
    char *dir = bsup_test_mkdtemp();
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    struct bsup_store_event *v = NULL, *v2 = NULL;
    size_t n = 0, n2 = 0, deleted = 0;
    assert_int_equal(bsup_store_open(dir, &st, &diag), 0);

    assert_int_equal(bsup_store_event_add(st, 100, NULL, "config.loaded", "loaded", NULL, &diag),
                     0);
    assert_int_equal(bsup_store_event_add(st, 200, "api", "service.added", "added", "r1-1", &diag),
                     0);
    assert_int_equal(bsup_store_event_add(st, 300, "api", "service.changed", "1 -> 2", NULL, &diag),
                     0);
    assert_int_equal(bsup_store_event_add(st, 400, "worker", "service.added", "w", NULL, &diag), 0);

    /* Everything, oldest first. */
    assert_int_equal(bsup_store_events_list(st, 0, NULL, 100, &v, &n, &diag), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0].kind, "config.loaded");
    assert_null(v[0].service);
    assert_null(v[0].request_id);
    assert_string_equal(v[1].request_id, "r1-1");
    assert_int_equal(v[3].at_s, 400);
    int64_t first_id = v[0].id;
    bsup_store_events_free(v, n);

    /* By service and time. */
    assert_int_equal(bsup_store_events_list(st, 250, "api", 100, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].message, "1 -> 2");
    bsup_store_events_free(v, n);

    /* The newest `limit`, still oldest first. */
    assert_int_equal(bsup_store_events_list(st, 0, NULL, 2, &v, &n, &diag), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].at_s, 300);
    assert_int_equal(v[1].at_s, 400);
    bsup_store_events_free(v, n);

    /* After an id: the oldest `limit` of those after it, so that a follower misses none. */
    assert_int_equal(bsup_store_events_after(st, first_id, NULL, 2, &v2, &n2, &diag), 0);
    assert_int_equal(n2, 2);
    assert_int_equal(v2[0].at_s, 200);
    assert_int_equal(v2[1].at_s, 300);
    bsup_store_events_free(v2, n2);
    assert_int_equal(bsup_store_events_after(st, 0, "worker", 100, &v2, &n2, &diag), 0);
    assert_int_equal(n2, 1);
    assert_string_equal(v2[0].message, "w");
    bsup_store_events_free(v2, n2);

    assert_int_equal(bsup_store_events_prune(st, 250, &deleted, &diag), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(bsup_store_events_list(st, 0, NULL, 100, &v, &n, &diag), 0);
    assert_int_equal(n, 2);
    bsup_store_events_free(v, n);

    /* Limit 0 is an empty answer, not an error. */
    assert_int_equal(bsup_store_events_list(st, 0, NULL, 0, &v, &n, &diag), 0);
    assert_int_equal(n, 0);
    assert_null(v);

    bsup_store_close(st);
    bsup_test_rmtree(dir);
    free(dir);
}

/* An event with an alert is written under a savepoint; outside a transaction its RELEASE is the
 * commit. When that commit cannot write (a full disk), nothing may stay open: a leaked
 * transaction would hold every later write, journal intents included, uncommitted. */
static void test_failed_commit_leaves_no_transaction(void **state)
{
    (void)state;
    char *dir = bsup_test_mkdtemp();
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_open(dir, &st, &diag), 0);
    /* The WAL cannot be written (EFBIG, as ENOSPC would): the commit fails, the insert did not. */
    struct rlimit old, none = {1, 1};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    none.rlim_max = old.rlim_max;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &none), 0);
    int rc = bsup_store_event_add(st, 100, NULL, "daemon.unhealthy", "disk full", NULL, &diag);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    assert_true(rc < 0);
    /* The disk has room again: the next transaction starts, and what it commits stays. */
    assert_int_equal(bsup_store_begin(st, &diag), 0);
    assert_int_equal(bsup_store_event_add(st, 200, NULL, "config.loaded", "later", NULL, &diag), 0);
    assert_int_equal(bsup_store_commit(st, &diag), 0);
    bsup_store_close(st);
    st = NULL;
    struct bsup_store_event *v = NULL;
    size_t n = 0;
    assert_int_equal(bsup_store_open(dir, &st, &diag), 0);
    assert_int_equal(bsup_store_events_list(st, 0, NULL, 10, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].kind, "config.loaded");
    bsup_store_events_free(v, n);
    bsup_store_close(st);
    bsup_test_rmtree(dir);
    free(dir);
}

static void test_schema_has_events(void **state)
{
    (void)state;
    assert_true(bsup_store_schema_version() >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_list_prune),
        cmocka_unit_test(test_failed_commit_leaves_no_transaction),
        cmocka_unit_test(test_schema_has_events),
    };
    return cmocka_run_group_tests_name("store/events", tests, NULL, NULL);
}
