/* daemon/aws/process.h: a credential_process run on the loop, with its output cap, timeout
 * (which kills the children holding stdout too), stdin /dev/null and cancellation. */
#include "tests/lib/testlib.h"

#include "daemon/aws/process.h"

#include <stdio.h>
#include <string.h>

struct s_run {
    int calls;
    int exit_status;
    char error[128];
    char out[256];
    size_t out_len;
};

static void on_done(void *user, int exit_status, const char *error, const char *out, size_t out_len)
{
    struct s_run *r = user;
    r->calls++;
    r->exit_status = exit_status;
    snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
    snprintf(r->out, sizeof(r->out), "%.*s", (int)out_len, out);
    r->out_len = out_len;
}

/* Runs sh -c script to its end; returns the loop's time spent (ms). */
static uint64_t s_run(const char *script, uint32_t timeout_ms, size_t max, struct s_run *r)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    struct bsup_process *p = NULL;
    char why[160];
    memset(r, 0, sizeof(*r));
    uint64_t t0 = uv_hrtime();
    assert_int_equal(
        bsup_process_run(&loop, argv, timeout_ms, max, on_done, r, &p, why, sizeof(why)), 0);
    assert_int_equal(r->calls, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed */
    assert_int_equal(r->calls, 1);
    return (uv_hrtime() - t0) / 1000000;
}

static void test_process_runs(void **state)
{
    (void)state;
    struct s_run r;
    s_run("echo '{\"Version\": 1}'; echo noise >&2", 10000, 64, &r);
    assert_string_equal(r.error, "");
    assert_int_equal(r.exit_status, 0);
    assert_string_equal(r.out, "{\"Version\": 1}\n"); /* stderr is not captured */

    s_run("echo partial; exit 3", 10000, 64, &r);
    assert_string_equal(r.error, "");
    assert_int_equal(r.exit_status, 3);

    /* stdin is /dev/null: a helper that reads it does not wait. */
    s_run("cat; echo done", 10000, 64, &r);
    assert_string_equal(r.out, "done\n");

    s_run("kill -TERM $$", 10000, 64, &r);
    assert_string_equal(r.error, "killed by signal 15");

    /* Output over the cap is a failure, not a truncation. */
    s_run("printf '%070d' 0", 10000, 64, &r);
    assert_string_equal(r.error, "printed more than 64 bytes");
    assert_int_equal(r.out_len, 0);
    s_run("printf '%064d' 0", 10000, 64, &r);
    assert_string_equal(r.error, "");
    assert_int_equal(r.out_len, 64);
}

static void test_process_timeout(void **state)
{
    (void)state;
    struct s_run r;
    uint64_t ms = s_run("exec sleep 30", 200, 64, &r);
    assert_string_equal(r.error, "timed out after 200 ms (killed)");
    assert_true(ms < 10000);
    /* It exits, but a child of its holds stdout: the timeout ends the wait and kills it. */
    ms = s_run("sleep 30 & echo started", 200, 64, &r);
    assert_string_equal(r.error, "timed out after 200 ms (killed)");
    assert_true(ms < 10000);
}

static void test_process_fails_to_start(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    char *argv[] = {"/nonexistent/bsup-helper", NULL};
    struct bsup_process *p = NULL;
    struct s_run r = {0};
    char why[160];
    assert_true(bsup_process_run(&loop, argv, 1000, 64, on_done, &r, &p, why, sizeof(why)) < 0);
    assert_null(p);
    assert_non_null(strstr(why, "cannot be run: no such file or directory"));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(r.calls, 0);
}

static void on_cancel_timer(uv_timer_t *t)
{
    bsup_process_cancel(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_process_cancel(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    char *argv[] = {"sleep", "30", NULL};
    struct bsup_process *p = NULL;
    struct s_run r = {0};
    char why[160];
    assert_int_equal(bsup_process_run(&loop, argv, 60000, 64, on_done, &r, &p, why, sizeof(why)),
                     0);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = p;
    uv_timer_start(&t, on_cancel_timer, 50, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(r.calls, 1);
    assert_string_equal(r.error, "cancelled");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_runs),
        cmocka_unit_test(test_process_timeout),
        cmocka_unit_test(test_process_fails_to_start),
        cmocka_unit_test(test_process_cancel),
    };
    return cmocka_run_group_tests_name("process", tests, NULL, NULL);
}
