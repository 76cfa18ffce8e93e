/* The AWS client's per-service figures against the test HTTP server: a call whose answer is
 * held is in flight, and counted once it finishes; a call that fails leaves its last error; a
 * retried call's age counts from its first send; latency leaves out the wait for a token;
 * credentials AWS refuses are resolved again. */
#include "tests/lib/testlib.h"
#include "tests/lib/httpd.h"
#include "daemon/aws/client.h"
#include "daemon/http/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_STS "sts"

struct s_env {
    uv_loop_t loop;
    struct bsup_test_httpd httpd;
    struct bsup_http_engine http;
    struct bsup_aws_client client;
    json_t *env;
    int hold;       /* the next hold requests' answers are held (the handler returns 2) */
    bool answer_ok; /* the others are answered 200, else 403 */
    int done;       /* calls delivered */
    int last_err;
};

static const char s_identity[] =
    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t</Arn>"
    "<UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>";

static const char s_unavailable[] =
    "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
    "<Message>try again</Message></Error><RequestId>r-3</RequestId></ErrorResponse>";

static const char s_denied[] =
    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
    "<Message>not for you</Message></Error><RequestId>r-2</RequestId></ErrorResponse>";

static const char s_invalid_token[] =
    "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
    "<Message>The security token included in the request is invalid.</Message></Error>"
    "<RequestId>r-4</RequestId></ErrorResponse>";

static int s_handler(struct bsup_test_httpd *srv, const char *method, const char *target,
                     const char *body, size_t body_len, int *out_status, char **out_body,
                     void *user)
{
    (void)srv, (void)method, (void)target, (void)body, (void)body_len;
    struct s_env *t = user;
    if (t->hold) {
        t->hold--;
        return 2;
    }
    *out_status = t->answer_ok ? 200 : 403;
    *out_body = strdup(t->answer_ok ? s_identity : s_denied);
    return 1;
}

static void on_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_env *t = user;
    t->done++;
    t->last_err = res->err;
}

/* A client of at most max_attempts attempts a call; rate_per_s (0: the default) tokens a
 * second, a burst of one, for every API family. */
static int s_setup_with(void **state, int max_attempts, int64_t rate_per_s)
{
    struct s_env *t = calloc(1, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    assert_int_equal(bsup_test_httpd_start(&t->httpd, &t->loop), 0);
    t->httpd.handler = s_handler;
    t->httpd.user = t;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", t->httpd.port);
    t->env =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "AWS_ACCESS_KEY_ID", "AKIDEXAMPLE",
                  "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AWS_REGION",
                  "eu-west-1", "AWS_ENDPOINT_URL", url, "AWS_EC2_METADATA_DISABLED", "true",
                  "AWS_CONFIG_FILE", "/nonexistent/config", "AWS_SHARED_CREDENTIALS_FILE",
                  "/nonexistent/credentials");
    assert_int_equal(bsup_http_engine_init(&t->http, &t->loop, NULL), 0);
    struct bsup_aws_client_options o = {.region = "eu-west-1",
                                        .getenv_fn = bsup_test_json_getenv,
                                        .getenv_ctx = t->env,
                                        .max_attempts = max_attempts,
                                        .seed = 1};
    for (int f = 0; rate_per_s && f < BSUP_API_FAMILY_COUNT; f++) {
        o.rate_per_s[f] = rate_per_s;
        o.burst[f] = 1;
    }
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_aws_client_init(&t->client, &t->loop, &t->http, &o, &diag), 0);
    *state = t;
    return 0;
}

static int s_setup(void **state)
{
    return s_setup_with(state, 1, 0);
}

static int s_setup_retrying(void **state)
{
    return s_setup_with(state, 2, 0);
}

static int s_setup_paced(void **state)
{
    return s_setup_with(state, 1, 2); /* a token every 500 ms */
}

static void on_client_closed(void *user)
{
    struct s_env *t = user;
    bsup_http_engine_close(&t->http, NULL, NULL);
    bsup_test_httpd_close(&t->httpd);
}

static int s_teardown(void **state)
{
    struct s_env *t = *state;
    bsup_aws_client_close(&t->client, on_client_closed, t);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    json_decref(t->env);
    free(t);
    return 0;
}

/* Runs the loop until n calls have been delivered, or the server has seen n_requests. */
static void s_run_until(struct s_env *t, int done, unsigned requests)
{
    for (int i = 0; i < 100000 && t->done < done && t->httpd.requests < requests; i++)
        uv_run(&t->loop, UV_RUN_ONCE);
}

static const struct bsup_aws_service_state *s_sts(const struct s_env *t, int *out_i)
{
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++)
        if (strcmp(t->client.services[i].info->name, S_STS) == 0) {
            *out_i = i;
            return &t->client.services[i];
        }
    fail_msg("no sts service");
    return NULL;
}

static void test_in_flight_then_counted(void **state)
{
    struct s_env *t = *state;
    struct bsup_aws_in_flight fl[BSUP_AWS_SERVICE_COUNT];
    int i = 0;
    const struct bsup_aws_service_state *sts = s_sts(t, &i);

    /* Nothing called: nothing in flight, nothing counted. */
    bsup_aws_client_in_flight(&t->client, fl);
    for (int k = 0; k < BSUP_AWS_SERVICE_COUNT; k++)
        assert_int_equal(fl[k].n, 0);

    t->hold = 1;
    assert_int_equal(
        bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL), 0);
    s_run_until(t, 1, 1); /* the server has the request, and holds its answer */
    assert_int_equal(t->httpd.requests, 1);
    assert_int_equal(t->done, 0);
    bsup_aws_client_in_flight(&t->client, fl);
    assert_int_equal(fl[i].n, 1);
    assert_true(fl[i].oldest_sent_ms > 0 && fl[i].oldest_sent_ms <= uv_now(&t->loop));
    for (int k = 0; k < BSUP_AWS_SERVICE_COUNT; k++)
        if (k != i)
            assert_int_equal(fl[k].n, 0);
    assert_int_equal(sts->stats.requests, 0); /* counted once finished */

    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 200, s_identity), 0);
    s_run_until(t, 1, UINT32_MAX);
    assert_int_equal(t->done, 1);
    assert_int_equal(t->last_err, 0);
    bsup_aws_client_in_flight(&t->client, fl);
    assert_int_equal(fl[i].n, 0);
    assert_int_equal(sts->stats.requests, 1);
    assert_int_equal(sts->stats.errors, 0);
    assert_int_equal(sts->last_error_at_s, 0);

    /* A call that fails for good: an error, with its message and time. */
    assert_int_equal(
        bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL), 0);
    s_run_until(t, 2, UINT32_MAX);
    assert_int_equal(t->last_err, BSUP_EAWS);
    assert_int_equal(sts->stats.requests, 2);
    assert_int_equal(sts->stats.errors, 1);
    assert_true(sts->last_error_at_s > 0);
    assert_non_null(strstr(sts->last_error, "AccessDenied"));
    bsup_aws_client_in_flight(&t->client, fl);
    assert_int_equal(fl[i].n, 0);
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
}

/* Lets the loop's clock advance by at least ms. */
static void s_pass(struct s_env *t, uint64_t ms)
{
    uv_timer_t tick;
    uint64_t from = uv_now(&t->loop);
    assert_int_equal(uv_timer_init(&t->loop, &tick), 0);
    assert_int_equal(uv_timer_start(&tick, on_tick, ms, 0), 0);
    while (uv_now(&t->loop) < from + ms)
        uv_run(&t->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
}

/* A call is one operation: against an endpoint that keeps it waiting, its age in flight runs
 * from its first send across its retries, and its latency spans them. */
static void test_retried_call_keeps_its_age(void **state)
{
    struct s_env *t = *state;
    struct bsup_aws_in_flight fl[BSUP_AWS_SERVICE_COUNT];
    int i = 0;
    const struct bsup_aws_service_state *sts = s_sts(t, &i);
    t->hold = 2;
    t->answer_ok = true;
    assert_int_equal(
        bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL), 0);
    s_run_until(t, 1, 1);
    bsup_aws_client_in_flight(&t->client, fl);
    assert_int_equal(fl[i].n, 1);
    uint64_t first = fl[i].oldest_sent_ms;
    s_pass(t, 50);
    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 503, s_unavailable), 0);
    s_run_until(t, 1, 2); /* retried: the second attempt is held too */
    assert_int_equal(t->httpd.requests, 2);
    bsup_aws_client_in_flight(&t->client, fl);
    assert_int_equal(fl[i].n, 1);
    assert_int_equal(fl[i].oldest_sent_ms, first);
    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 200, s_identity), 0);
    s_run_until(t, 1, UINT32_MAX);
    assert_int_equal(t->last_err, 0);
    assert_int_equal(sts->stats.retries, 1);
    assert_true(sts->stats.latency_max_ms >= 50);
}

/* Latency is AWS's: the time a call waited for its rate-limit token is not in it. */
static void test_latency_leaves_out_the_token_wait(void **state)
{
    struct s_env *t = *state;
    int i = 0;
    const struct bsup_aws_service_state *sts = s_sts(t, &i);
    t->answer_ok = true;
    uint64_t start = uv_now(&t->loop);
    for (int k = 0; k < 2; k++) /* the second waits ~500 ms for its token */
        assert_int_equal(
            bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL),
            0);
    s_run_until(t, 2, UINT32_MAX);
    assert_int_equal(t->done, 2);
    assert_int_equal(t->last_err, 0);
    assert_true(uv_now(&t->loop) - start >= 400); /* it did wait */
    assert_int_equal(sts->stats.requests, 2);
    assert_true(sts->stats.latency_max_ms < 300);
}

/* Keys rotated under a running daemon: a call AWS refuses as an invalid token drops the
 * credentials, and the next call resolves them again and signs with the new ones; a refusal
 * for another reason (AccessDenied) keeps them. */
static void test_refused_credentials_resolved_again(void **state)
{
    struct s_env *t = *state;
    assert_int_equal(
        bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL), 0);
    s_run_until(t, 1, UINT32_MAX);
    assert_int_equal(t->last_err, BSUP_EAWS); /* AccessDenied */
    assert_int_equal(t->client.creds.resolutions, 1);
    assert_string_equal(t->client.creds.creds.access_key_id, "AKIDEXAMPLE");

    t->hold = 1;
    assert_int_equal(
        bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL), 0);
    s_run_until(t, 2, 2);
    json_object_set_new(t->env, "AWS_ACCESS_KEY_ID", json_string("AKIDROTATED"));
    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 403, s_invalid_token), 0);
    s_run_until(t, 2, UINT32_MAX);
    assert_int_equal(t->last_err, BSUP_EAWS);
    assert_null(t->client.creds.creds.access_key_id);

    t->answer_ok = true;
    assert_int_equal(
        bsup_aws_call(&t->client, S_STS, "GetCallerIdentity", NULL, NULL, 0, on_done, t, NULL), 0);
    s_run_until(t, 3, UINT32_MAX);
    assert_int_equal(t->last_err, 0);
    assert_int_equal(t->client.creds.resolutions, 2);
    assert_string_equal(t->client.creds.creds.access_key_id, "AKIDROTATED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_flight_then_counted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retried_call_keeps_its_age, s_setup_retrying,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_latency_leaves_out_the_token_wait, s_setup_paced,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_refused_credentials_resolved_again, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("aws_client", tests, NULL, NULL);
}
