/* The HTTP engine against the in-process loopback server (tests/lib/httpd.c) on the same loop. */
#include "tests/lib/testlib.h"

#include "core/base/error.h"
#include "daemon/http/engine.h"
#include "tests/lib/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    uv_loop_t loop;
    struct bsup_test_httpd srv;
    struct bsup_http_engine eng;
    int engine_up;
    int engine_closed;
    int in_engine_call; /* set around bsup_http_send / bsup_http_cancel / bsup_http_engine_close */
};

struct result {
    struct fixture *f;
    int done;
    int err;
    long status;
    char *body;
    size_t body_len;
    char request_id[64];
    char retry_after[16];
    int has_date;
    int names_lower;
    uint64_t done_at_ns;
};

static int setup_with(void **state, const struct bsup_http_engine_options *opts)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(bsup_test_httpd_start(&f->srv, &f->loop), 0);
    assert_int_equal(bsup_http_engine_init(&f->eng, &f->loop, opts), 0);
    f->engine_up = 1;
    alarm(20); /* a hang fails the test instead of the ctest timeout */
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_one_in_flight(void **state)
{
    struct bsup_http_engine_options o = {.max_in_flight = 1};
    return setup_with(state, &o);
}

static void on_engine_closed(void *user)
{
    struct fixture *f = user;
    assert_false(f->in_engine_call); /* never inside the close call */
    f->engine_closed++;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->engine_up && !f->eng.shutting_down)
        bsup_http_engine_close(&f->eng, on_engine_closed, f);
    bsup_test_httpd_close(&f->srv);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->engine_closed, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    alarm(0);
    free(f);
    return 0;
}

static void on_done(struct bsup_http_call *call, struct bsup_http_response *resp, void *user)
{
    (void)call;
    struct result *r = user;
    assert_false(r->f->in_engine_call); /* never synchronously */
    assert_int_equal(r->done, 0);
    r->done = 1;
    r->err = resp->err;
    r->status = resp->status;
    r->done_at_ns = uv_hrtime();
    r->body_len = resp->body_len;
    assert_non_null(resp->body);
    assert_int_equal(resp->body[resp->body_len], '\0');
    r->body = (char *)resp->body; /* take it */
    resp->body = NULL;
    const char *v = bsup_http_response_header(resp, "X-Amzn-RequestId");
    if (v)
        snprintf(r->request_id, sizeof(r->request_id), "%s", v);
    v = bsup_http_response_header(resp, "x-amz-retry-after");
    if (v)
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", v);
    r->has_date = bsup_http_response_header(resp, "date") != NULL;
    r->names_lower = 1;
    for (size_t i = 0; i < resp->n_headers; i++)
        for (const char *p = resp->headers[i].name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                r->names_lower = 0;
}

static void result_free(struct result *r)
{
    free(r->body);
    r->body = NULL;
}

#define assert_prefix(s, prefix) assert_true(strncmp((s), (prefix), strlen(prefix)) == 0)

/* A request to the test server (or port); "?..." in target becomes the query string. */
static void s_request(struct fixture *f, struct bsup_aws_request *req, const char *method,
                      const char *target, int port)
{
    char host[64], path[256];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port ? port : f->srv.port);
    snprintf(path, sizeof(path), "%s", target);
    char *q = strchr(path, '?');
    if (q)
        *q++ = '\0';
    assert_int_equal(bsup_aws_request_init(req, method, "http", host, path), 0);
    if (q)
        assert_int_equal(bsup_aws_request_set_query(req, q), 0);
}

static struct bsup_http_call *s_send(struct fixture *f, const char *method, const char *path,
                                     const struct bsup_http_request_options *opts, struct result *r)
{
    struct bsup_aws_request req;
    struct bsup_http_call *call = NULL;
    s_request(f, &req, method, path, 0);
    r->f = f;
    f->in_engine_call = 1;
    assert_int_equal(bsup_http_send(&f->eng, &req, opts, on_done, r, &call), 0);
    f->in_engine_call = 0;
    bsup_aws_request_cleanup(&req);
    assert_non_null(call);
    return call;
}

static void s_run_until(struct fixture *f, const int *flag)
{
    while (!*flag)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* ---- tests ---- */

static void test_get_and_post_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct result get = {0}, post = {0};
    struct bsup_aws_request req;
    struct bsup_http_call *call;

    s_request(f, &req, "GET", "/echo/a%20b", 0);
    assert_int_equal(bsup_aws_request_set_query(&req, "Action=List&x=1"), 0);
    assert_int_equal(bsup_aws_request_add_header(&req, "X-Amz-Date", "20260101T000000Z"), 0);
    get.f = f;
    f->in_engine_call = 1;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &get, &call), 0);
    f->in_engine_call = 0;
    bsup_aws_request_cleanup(&req);

    s_request(f, &req, "POST", "/echo", 0);
    const char *body = "Action=DescribeDBInstances&Version=2014-10-31";
    assert_int_equal(bsup_aws_request_add_header(
                         &req, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                     0);
    assert_int_equal(bsup_aws_request_set_body(&req, body, strlen(body)), 0);
    post.f = f;
    f->in_engine_call = 1;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &post, &call), 0);
    f->in_engine_call = 0;
    bsup_aws_request_cleanup(&req);

    s_run_until(f, &get.done);
    s_run_until(f, &post.done);

    assert_int_equal(get.err, 0);
    assert_int_equal(get.status, 200);
    assert_prefix(get.body, "GET /echo/a%20b?Action=List&x=1\n");
    assert_non_null(strstr(get.body, "X-Amz-Date: 20260101T000000Z\r\n"));
    assert_non_null(strstr(get.body, "Host: 127.0.0.1:"));
    assert_null(strstr(get.body, "Expect:"));
    assert_true(strncmp(get.request_id, "req-", 4) == 0);
    assert_string_equal(get.retry_after, "7");
    assert_true(get.has_date);
    assert_true(get.names_lower);

    assert_int_equal(post.err, 0);
    assert_int_equal(post.status, 200);
    assert_prefix(post.body, "POST /echo\n");
    assert_non_null(strstr(post.body, "Content-Length: 45\r\n"));
    assert_non_null(strstr(post.body, "Content-Type: application/x-www-form-urlencoded"));
    assert_null(strstr(post.body, "Expect:"));
    size_t n = strlen(body);
    assert_true(post.body_len > n);
    assert_memory_equal(post.body + post.body_len - n, body, n);

    struct bsup_http_stats st;
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.requests_submitted, 2);
    assert_int_equal(st.requests_started, 2);
    assert_int_equal(st.requests_completed, 2);
    assert_int_equal(st.requests_failed, 0);
    assert_int_equal(st.connections_opened, f->srv.connections_accepted);
    result_free(&get);
    result_free(&post);
}

static void test_http_error_status_is_not_transport_error(void **state)
{
    struct fixture *f = *state;
    struct result r = {0};
    s_send(f, "GET", "/status/503", NULL, &r);
    s_run_until(f, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "status");
    result_free(&r);
}

struct chain {
    struct fixture *f;
    int remaining;
    int done;
    int failures;
};

static void on_chain_done(struct bsup_http_call *call, struct bsup_http_response *resp, void *user)
{
    (void)call;
    struct chain *c = user;
    assert_false(c->f->in_engine_call);
    if (resp->err != 0 || resp->status != 200)
        c->failures++;
    if (--c->remaining == 0) {
        c->done = 1;
        return;
    }
    /* The next request starts from inside this callback; its own callback must come later. */
    struct bsup_aws_request req;
    s_request(c->f, &req, "GET", "/echo", 0);
    c->f->in_engine_call = 1;
    assert_int_equal(bsup_http_send(&c->f->eng, &req, NULL, on_chain_done, c, NULL), 0);
    c->f->in_engine_call = 0;
    bsup_aws_request_cleanup(&req);
}

static void test_keepalive_reuses_one_connection(void **state)
{
    struct fixture *f = *state;
    struct chain c = {.f = f, .remaining = 10};
    struct bsup_aws_request req;
    s_request(f, &req, "GET", "/echo", 0);
    f->in_engine_call = 1;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_chain_done, &c, NULL), 0);
    f->in_engine_call = 0;
    bsup_aws_request_cleanup(&req);
    s_run_until(f, &c.done);
    assert_int_equal(c.failures, 0);
    assert_int_equal(f->srv.requests, 10);
    assert_int_equal(f->srv.connections_accepted, 1);
    struct bsup_http_stats st;
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.connections_opened, 1);
    assert_int_equal(st.requests_completed, 10);
}

#define N_CONCURRENT 200

static void test_concurrent_requests_bounded_connections(void **state)
{
    struct fixture *f = *state;
    static struct result r[N_CONCURRENT];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < N_CONCURRENT; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/echo/%d", i);
        s_send(f, "GET", path, NULL, &r[i]);
    }
    struct bsup_http_stats st;
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.in_flight, BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST);
    assert_int_equal(st.queued, N_CONCURRENT - BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST);
    for (int i = 0; i < N_CONCURRENT; i++)
        s_run_until(f, &r[i].done);
    for (int i = 0; i < N_CONCURRENT; i++) {
        char want[32];
        int n = snprintf(want, sizeof(want), "GET /echo/%d\n", i);
        assert_int_equal(r[i].err, 0);
        assert_int_equal(r[i].status, 200);
        assert_memory_equal(r[i].body, want, (size_t)n);
        result_free(&r[i]);
    }
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.requests_completed, N_CONCURRENT);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.queued, 0);
    assert_true(st.peak_host_in_flight <= BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST);
    assert_true(f->srv.connections_accepted >= 1);
    assert_true(f->srv.connections_accepted <= BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST);
    assert_int_equal(st.connections_opened, f->srv.connections_accepted);
    assert_int_equal(f->srv.requests, N_CONCURRENT);
}

static void test_response_size_cap(void **state)
{
    struct fixture *f = *state;
    struct bsup_http_request_options o = {.max_response_bytes = 64 * 1024};
    struct result small = {0}, big = {0}, chunked = {0};
    s_send(f, "GET", "/big?n=1000", &o, &small);
    s_send(f, "GET", "/big?n=1048576", &o, &big);         /* Content-Length known */
    s_send(f, "GET", "/chunked?n=1048576", &o, &chunked); /* found while writing */
    s_run_until(f, &small.done);
    s_run_until(f, &big.done);
    s_run_until(f, &chunked.done);
    assert_int_equal(small.err, 0);
    assert_int_equal(small.body_len, 1000);
    assert_int_equal(big.err, BSUP_ETOOBIG);
    assert_int_equal(chunked.err, BSUP_ETOOBIG);
    assert_true(chunked.body_len <= o.max_response_bytes);
    struct bsup_http_stats st;
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.requests_failed, 2);
    result_free(&small);
    result_free(&big);
    result_free(&chunked);
}

static void test_stalled_body_times_out(void **state)
{
    struct fixture *f = *state;
    struct bsup_http_request_options o = {.timeout_ms = 300};
    struct result r = {0};
    uint64_t start = uv_hrtime();
    s_send(f, "GET", "/stall", &o, &r);
    /* The only transfer ends on the timer path: the engine must still read its completion. */
    s_run_until(f, &r.done);
    uint64_t elapsed_ms = (r.done_at_ns - start) / 1000000;
    assert_int_equal(r.err, BSUP_ETIMEDOUT);
    assert_true(elapsed_ms >= 250);
    assert_true(elapsed_ms < 3000);
    result_free(&r);
}

static void test_connection_refused(void **state)
{
    struct fixture *f = *state;
    struct result r = {.f = f};
    struct bsup_aws_request req;
    int port = bsup_test_free_port();
    assert_true(port > 0);
    s_request(f, &req, "GET", "/", port);
    f->in_engine_call = 1;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &r, NULL), 0);
    f->in_engine_call = 0;
    bsup_aws_request_cleanup(&req);
    s_run_until(f, &r.done);
    assert_int_equal(r.err, BSUP_ECONNECT);
    assert_int_equal(r.status, 0);
    result_free(&r);
}

static void on_request_cancel(struct bsup_test_httpd *srv, const char *method, const char *target,
                              void *user)
{
    (void)srv;
    (void)method;
    if (strcmp(target, "/stall") == 0) {
        struct fixture *f = ((struct result *)user)->f;
        struct bsup_http_call **call = (struct bsup_http_call **)((struct result *)user + 1);
        f->in_engine_call = 1;
        bsup_http_cancel(*call);
        f->in_engine_call = 0;
    }
}

static void test_cancel_is_asynchronous(void **state)
{
    struct fixture *f = *state; /* max_in_flight 1 */
    struct {
        struct result r;
        struct bsup_http_call *call;
    } running = {{0}, NULL};
    struct result queued = {0}, early = {0}, after = {0};

    /* Canceled inside the server's request hook, i.e. while the transfer is running. */
    running.call = s_send(f, "GET", "/stall", NULL, &running.r);
    f->srv.on_request = on_request_cancel;
    f->srv.user = &running;
    struct bsup_http_call *q = s_send(f, "GET", "/echo", NULL, &queued);
    struct bsup_http_call *e = s_send(f, "GET", "/echo", NULL, &early);
    struct bsup_http_stats st;
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.queued, 2);
    f->in_engine_call = 1;
    bsup_http_cancel(q);
    f->in_engine_call = 0;
    assert_false(queued.done);
    s_run_until(f, &queued.done);
    assert_int_equal(queued.err, BSUP_ECANCELED);
    s_run_until(f, &running.r.done);
    assert_int_equal(running.r.err, BSUP_ECANCELED);
    (void)e;
    s_run_until(f, &early.done); /* the queued one after the canceled ones still runs */
    assert_int_equal(early.err, 0);

    /* Canceled right after send, before libcurl did anything. */
    struct bsup_http_call *c = s_send(f, "GET", "/echo", NULL, &after);
    f->in_engine_call = 1;
    bsup_http_cancel(c);
    f->in_engine_call = 0;
    assert_false(after.done);
    s_run_until(f, &after.done);
    assert_int_equal(after.err, BSUP_ECANCELED);

    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.requests_canceled, 3);
    assert_int_equal(st.requests_completed, 1);
    assert_int_equal(st.in_flight, 0);
    f->srv.on_request = NULL;
    result_free(&running.r);
    result_free(&queued);
    result_free(&early);
    result_free(&after);
}

static void test_invalid_requests_fail_synchronously(void **state)
{
    struct fixture *f = *state;
    struct bsup_aws_request req;
    struct bsup_http_call *call = (struct bsup_http_call *)&req;
    struct result r = {.f = f};

    assert_int_equal(bsup_aws_request_init(&req, "GET", "ftp", "127.0.0.1:1", "/"), 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &r, &call), BSUP_EINVAL);
    assert_null(call);
    bsup_aws_request_cleanup(&req);

    s_request(f, &req, "GET", "/", 0);
    assert_int_equal(bsup_aws_request_add_header(&req, "X-Evil", "a\r\nInjected: 1"), 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &r, NULL), BSUP_EINVAL);
    bsup_aws_request_cleanup(&req);

    s_request(f, &req, "GET", "/a b", 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &r, NULL), BSUP_EINVAL);
    bsup_aws_request_cleanup(&req);

    assert_int_equal(bsup_aws_request_init(&req, "get", "http", "127.0.0.1:1", "/"), 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &r, NULL), BSUP_EINVAL);
    bsup_aws_request_cleanup(&req);

    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(r.done);
}

struct close_case {
    struct fixture *f;
    struct result r[5];
    int close_requested;
};

static void on_request_close(struct bsup_test_httpd *srv, const char *method, const char *target,
                             void *user)
{
    (void)method;
    (void)target;
    struct close_case *sc = user;
    if (srv->requests == 2 && !sc->close_requested) {
        sc->close_requested = 1;
        sc->f->in_engine_call = 1;
        bsup_http_engine_close(&sc->f->eng, on_engine_closed, sc->f);
        sc->f->in_engine_call = 0;
    }
}

static void test_close_with_requests_in_flight(void **state)
{
    struct fixture *f = *state;
    static struct close_case sc;
    memset(&sc, 0, sizeof(sc));
    sc.f = f;
    struct bsup_http_engine_options o = {.max_in_flight = 2};
    /* Restart the engine with a cap of 2 so that 3 requests stay queued. */
    bsup_http_engine_close(&f->eng, on_engine_closed, f);
    s_run_until(f, &f->engine_closed);
    f->engine_closed = 0;
    assert_int_equal(bsup_http_engine_init(&f->eng, &f->loop, &o), 0);

    f->srv.on_request = on_request_close;
    f->srv.user = &sc;
    for (int i = 0; i < 5; i++)
        s_send(f, "GET", "/stall", NULL, &sc.r[i]);
    s_run_until(f, &f->engine_closed);
    for (int i = 0; i < 5; i++) {
        assert_true(sc.r[i].done); /* every callback ran before the close callback */
        assert_int_equal(sc.r[i].err, BSUP_ECANCELED);
        result_free(&sc.r[i]);
    }
    assert_int_equal(f->srv.requests, 2);
    struct bsup_aws_request req;
    s_request(f, &req, "GET", "/echo", 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &sc.r[0], NULL), BSUP_ESHUTDOWN);
    bsup_aws_request_cleanup(&req);
    f->srv.on_request = NULL;
    /* teardown: the server closes, uv_run returns 0 and uv_loop_close succeeds. */
}

static void test_close_idle_engine(void **state)
{
    struct fixture *f = *state;
    f->in_engine_call = 1;
    bsup_http_engine_close(&f->eng, on_engine_closed, f);
    f->in_engine_call = 0;
    assert_int_equal(f->engine_closed, 0); /* never inside the call */
    s_run_until(f, &f->engine_closed);
}

static void test_proxy_environment(void **state)
{
    struct fixture *f = *state;
    char proxy[64];
    struct result via = {0}, direct = {0}, refused = {0}, tunnel = {0};
    struct bsup_aws_request req;

    /* http_proxy: libcurl sends the absolute URI to the proxy (our server). */
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", f->srv.port);
    setenv("http_proxy", proxy, 1);
    assert_int_equal(bsup_aws_request_init(&req, "GET", "http", "bsup-proxy-test.invalid", "/echo"),
                     0);
    via.f = f;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &via, NULL), 0);
    bsup_aws_request_cleanup(&req);
    s_run_until(f, &via.done);
    assert_int_equal(via.err, 0);
    assert_prefix(via.body, "GET http://bsup-proxy-test.invalid/echo\n");

    /* HTTPS_PROXY (upper case is honoured for https): a CONNECT tunnel is requested. */
    setenv("HTTPS_PROXY", proxy, 1);
    assert_int_equal(bsup_aws_request_init(&req, "GET", "https", "bsup-proxy-test.invalid", "/"),
                     0);
    tunnel.f = f;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &tunnel, NULL), 0);
    bsup_aws_request_cleanup(&req);
    s_run_until(f, &tunnel.done);
    assert_true(tunnel.err < 0); /* our proxy refuses the tunnel with 403 */
    assert_string_equal(f->srv.last_connect_target, "bsup-proxy-test.invalid:443");
    unsetenv("HTTPS_PROXY");

    /* A dead proxy fails the request; NO_PROXY bypasses it. */
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", bsup_test_free_port());
    setenv("http_proxy", proxy, 1);
    s_send(f, "GET", "/echo", NULL, &refused);
    s_run_until(f, &refused.done);
    assert_int_equal(refused.err, BSUP_ECONNECT);
    setenv("NO_PROXY", "127.0.0.1", 1);
    s_send(f, "GET", "/echo", NULL, &direct);
    s_run_until(f, &direct.done);
    assert_int_equal(direct.err, 0);
    assert_prefix(direct.body, "GET /echo\n");
    unsetenv("NO_PROXY");

    /* Upper-case HTTP_PROXY is ignored by libcurl (httpoxy): the dead proxy is not used. */
    unsetenv("http_proxy");
    setenv("HTTP_PROXY", proxy, 1);
    struct result upper = {0};
    s_send(f, "GET", "/echo", NULL, &upper);
    s_run_until(f, &upper.done);
    assert_int_equal(upper.err, 0);
    unsetenv("HTTP_PROXY");
    result_free(&upper);
    result_free(&via);
    result_free(&tunnel);
    result_free(&refused);
    result_free(&direct);
}

static void test_queue_limits_per_endpoint(void **state)
{
    struct fixture *f = *state; /* max_in_flight 2, per host 1, max_queued 3 */
    struct result a[3] = {{0}}, b = {0}, extra = {.f = f};
    struct bsup_aws_request req;
    char host[64];
    for (int i = 0; i < 3; i++)
        s_send(f, "GET", "/echo/a", NULL, &a[i]);
    /* Another endpoint (host:port differs) is not stuck behind the first one's queue. */
    snprintf(host, sizeof(host), "localhost:%d", f->srv.port);
    assert_int_equal(bsup_aws_request_init(&req, "GET", "http", host, "/echo/b"), 0);
    b.f = f;
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &b, NULL), 0);
    bsup_aws_request_cleanup(&req);
    struct bsup_http_stats st;
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.in_flight, 2);
    assert_int_equal(st.queued, 2);
    s_send(f, "GET", "/echo/a", NULL, &extra); /* third in the queue: allowed */
    s_request(f, &req, "GET", "/echo/a", 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &extra, NULL), BSUP_EBUSY);
    bsup_aws_request_cleanup(&req);
    for (int i = 0; i < 3; i++)
        s_run_until(f, &a[i].done);
    s_run_until(f, &b.done);
    s_run_until(f, &extra.done);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].err, 0);
        result_free(&a[i]);
    }
    assert_int_equal(b.err, 0);
    assert_int_equal(extra.err, 0);
    bsup_http_engine_stats(&f->eng, &st);
    assert_int_equal(st.peak_host_in_flight, 1);
    assert_int_equal(st.peak_in_flight, 2);
    assert_int_equal(st.requests_completed, 5);
    assert_int_equal(f->srv.connections_accepted, 2); /* one per endpoint, reused */
    result_free(&b);
    result_free(&extra);
}

static int setup_small_queue(void **state)
{
    struct bsup_http_engine_options o = {
        .max_in_flight = 2, .max_in_flight_per_host = 1, .max_queued = 3};
    return setup_with(state, &o);
}

static void test_other_methods(void **state)
{
    struct fixture *f = *state;
    struct result put = {.f = f}, del = {.f = f}, head = {.f = f};
    struct bsup_aws_request req;
    s_request(f, &req, "PUT", "/echo/put", 0);
    assert_int_equal(bsup_aws_request_set_body(&req, "abc", 3), 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &put, NULL), 0);
    bsup_aws_request_cleanup(&req);
    s_request(f, &req, "DELETE", "/echo/del", 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &del, NULL), 0);
    bsup_aws_request_cleanup(&req);
    s_request(f, &req, "HEAD", "/echo/head", 0);
    assert_int_equal(bsup_http_send(&f->eng, &req, NULL, on_done, &head, NULL), 0);
    bsup_aws_request_cleanup(&req);
    s_run_until(f, &put.done);
    s_run_until(f, &del.done);
    s_run_until(f, &head.done);
    assert_int_equal(put.err, 0);
    assert_prefix(put.body, "PUT /echo/put\n");
    assert_int_equal(memcmp(put.body + put.body_len - 3, "abc", 3), 0);
    assert_int_equal(del.err, 0);
    assert_prefix(del.body, "DELETE /echo/del\n");
    assert_int_equal(head.err, 0);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.body_len, 0);
    result_free(&put);
    result_free(&del);
    result_free(&head);
}

/* A listener with a full accept queue that never accepts: SYNs are dropped, connect hangs. */
static void test_connect_timeout(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    int fillers[4], n_fillers = 0;
    for (int i = 0; i < 4; i++) { /* fill the accept queue (backlog 0 still admits one) */
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fillers[i] >= 0);
        connect(fillers[i], (struct sockaddr *)&addr, sizeof(addr));
        n_fillers++;
    }
    struct bsup_http_request_options o = {.connect_timeout_ms = 200, .timeout_ms = 5000};
    struct result r = {.f = f};
    struct bsup_aws_request req;
    s_request(f, &req, "GET", "/", ntohs(addr.sin_port));
    uint64_t start = uv_hrtime();
    assert_int_equal(bsup_http_send(&f->eng, &req, &o, on_done, &r, NULL), 0);
    bsup_aws_request_cleanup(&req);
    s_run_until(f, &r.done);
    uint64_t elapsed_ms = (r.done_at_ns - start) / 1000000;
    for (int i = 0; i < n_fillers; i++)
        close(fillers[i]);
    close(lfd);
    assert_int_equal(r.err, BSUP_ETIMEDOUT);
    assert_true(elapsed_ms >= 150 && elapsed_ms < 3000);
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_post_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_error_status_is_not_transport_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_reuses_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_requests_bounded_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_response_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_body_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_is_asynchronous, setup_one_in_flight, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_requests_fail_synchronously, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_idle_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_limits_per_endpoint, setup_small_queue,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
    };
    unsetenv("http_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("https_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("all_proxy");
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    int rc = cmocka_run_group_tests_name("http", tests, NULL, NULL);
    bsup_http_global_cleanup();
    return rc;
}
