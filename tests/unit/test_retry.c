#include "tests/lib/testlib.h"

#include "core/aws/retry.h"
#include "core/base/error.h"

#include <string.h>

/* A rand_fn returning a fixed value, so delays are exact. */
static double s_fixed(void *ctx)
{
    return *(const double *)ctx;
}

static void test_classify_table(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *code;
        bool transport, skew_fixed;
        enum bsup_retry_class want;
    } rows[] = {
        {200, NULL, false, false, BSUP_RETRY_SUCCESS},
        {204, "", false, false, BSUP_RETRY_SUCCESS},
        {400, "Throttling", false, false, BSUP_RETRY_THROTTLING},
        {400, "ThrottlingException", false, false, BSUP_RETRY_THROTTLING},
        {400, "ThrottledException", false, false, BSUP_RETRY_THROTTLING},
        {400, "RequestThrottledException", false, false, BSUP_RETRY_THROTTLING},
        {400, "TooManyRequestsException", false, false, BSUP_RETRY_THROTTLING},
        {400, "ProvisionedThroughputExceededException", false, false, BSUP_RETRY_THROTTLING},
        {400, "TransactionInProgressException", false, false, BSUP_RETRY_THROTTLING},
        {503, "RequestLimitExceeded", false, false, BSUP_RETRY_THROTTLING},
        {400, "BandwidthLimitExceeded", false, false, BSUP_RETRY_THROTTLING},
        {400, "LimitExceededException", false, false, BSUP_RETRY_THROTTLING},
        {400, "RequestThrottled", false, false, BSUP_RETRY_THROTTLING},
        {503, "SlowDown", false, false, BSUP_RETRY_THROTTLING},
        {400, "PriorRequestNotComplete", false, false, BSUP_RETRY_THROTTLING},
        {400, "EC2ThrottledException", false, false, BSUP_RETRY_THROTTLING},
        {429, NULL, false, false, BSUP_RETRY_THROTTLING},
        {400, "RequestTimeout", false, false, BSUP_RETRY_TRANSIENT},
        {400, "RequestTimeoutException", false, false, BSUP_RETRY_TRANSIENT},
        {400, "IDPCommunicationError", false, false, BSUP_RETRY_TRANSIENT},
        {500, NULL, false, false, BSUP_RETRY_TRANSIENT},
        {500, "InternalFailure", false, false, BSUP_RETRY_TRANSIENT},
        {502, NULL, false, false, BSUP_RETRY_TRANSIENT},
        {503, "ServiceUnavailable", false, false, BSUP_RETRY_TRANSIENT},
        {504, NULL, false, false, BSUP_RETRY_TRANSIENT},
        {0, NULL, true, false, BSUP_RETRY_TRANSIENT},
        {501, NULL, false, false, BSUP_RETRY_NOT_RETRYABLE},
        {400, "ValidationError", false, false, BSUP_RETRY_NOT_RETRYABLE},
        {403, "AccessDenied", false, false, BSUP_RETRY_NOT_RETRYABLE},
        {404, NULL, false, false, BSUP_RETRY_NOT_RETRYABLE},
        {409, NULL, false, false, BSUP_RETRY_NOT_RETRYABLE},
        {200, "InternalError", false, false, BSUP_RETRY_NOT_RETRYABLE},
        {403, "SignatureDoesNotMatch", false, false, BSUP_RETRY_NOT_RETRYABLE},
        {403, "SignatureDoesNotMatch", false, true, BSUP_RETRY_TRANSIENT},
        {400, "RequestExpired", false, true, BSUP_RETRY_TRANSIENT},
        {403, "AccessDenied", false, true, BSUP_RETRY_NOT_RETRYABLE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_retry_outcome o = {.http_status = rows[i].status,
                                       .error_code = rows[i].code,
                                       .transport_error = rows[i].transport,
                                       .clock_skew_corrected = rows[i].skew_fixed};
        enum bsup_retry_class got = bsup_retry_classify(&o);
        if (got != rows[i].want)
            fail_msg("row %zu (%d %s): %s, want %s", i, rows[i].status,
                     rows[i].code ? rows[i].code : "-", bsup_retry_class_name(got),
                     bsup_retry_class_name(rows[i].want));
    }
    assert_string_equal(bsup_retry_class_name(BSUP_RETRY_THROTTLING), "throttling");
}

static void test_delays(void **state)
{
    (void)state;
    struct bsup_retry_policy p;
    double r = 1.0;
    bsup_retry_policy_init(&p, 1);
    p.rand_fn = s_fixed;
    p.rand_ctx = &r;
    /* rand = 1: the ceilings themselves. */
    static const struct {
        enum bsup_retry_class cls;
        int attempt;
        int64_t want_ms;
    } rows[] = {
        {BSUP_RETRY_TRANSIENT, 1, 50},     {BSUP_RETRY_TRANSIENT, 2, 100},
        {BSUP_RETRY_TRANSIENT, 3, 200},    {BSUP_RETRY_TRANSIENT, 9, 12800},
        {BSUP_RETRY_TRANSIENT, 10, 20000}, {BSUP_RETRY_TRANSIENT, 1000, 20000},
        {BSUP_RETRY_THROTTLING, 1, 1000},  {BSUP_RETRY_THROTTLING, 2, 2000},
        {BSUP_RETRY_THROTTLING, 5, 16000}, {BSUP_RETRY_THROTTLING, 6, 20000},
        {BSUP_RETRY_THROTTLING, 0, 1000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(bsup_retry_delay_ms(&p, rows[i].cls, rows[i].attempt, -1),
                         rows[i].want_ms);
    r = 0.5;
    assert_int_equal(bsup_retry_delay_ms(&p, BSUP_RETRY_THROTTLING, 2, -1), 1000);
    assert_int_equal(bsup_retry_delay_ms(&p, BSUP_RETRY_TRANSIENT, 1, -1), 25);
    /* x-amz-retry-after: never below t (500), never above t + 5 s. */
    assert_int_equal(bsup_retry_delay_ms(&p, BSUP_RETRY_THROTTLING, 1, 100), 500);
    assert_int_equal(bsup_retry_delay_ms(&p, BSUP_RETRY_THROTTLING, 1, 3000), 3000);
    assert_int_equal(bsup_retry_delay_ms(&p, BSUP_RETRY_THROTTLING, 1, 60000), 5500);
    assert_int_equal(bsup_retry_delay_ms(&p, BSUP_RETRY_THROTTLING, 1, 0), 500);
    assert_int_equal(bsup_retry_parse_retry_after("1500"), 1500);
    assert_int_equal(bsup_retry_parse_retry_after("-1"), -1);
    assert_int_equal(bsup_retry_parse_retry_after("1.5"), -1);
    assert_int_equal(bsup_retry_parse_retry_after(""), -1);
    assert_int_equal(bsup_retry_parse_retry_after(NULL), -1);
    assert_int_equal(bsup_retry_parse_retry_after("99999999999999999999999"), -1);
}

/* The seeded generator: reproducible, in range, and the delays follow it. */
static void test_seeded_rng(void **state)
{
    (void)state;
    struct bsup_retry_policy a, b;
    bsup_retry_policy_init(&a, 42);
    bsup_retry_policy_init(&b, 42);
    bool any_differs_from_first = false;
    int64_t first = -1;
    for (int i = 0; i < 1000; i++) {
        int64_t da = bsup_retry_delay_ms(&a, BSUP_RETRY_THROTTLING, 3, -1);
        int64_t db = bsup_retry_delay_ms(&b, BSUP_RETRY_THROTTLING, 3, -1);
        assert_int_equal(da, db);
        assert_true(da >= 0 && da < 4000);
        if (first < 0)
            first = da;
        any_differs_from_first |= da != first;
    }
    assert_true(any_differs_from_first);
    /* The default rand_fn draws from the policy's own generator, uniform in [0, 1). */
    struct bsup_retry_policy p;
    bsup_retry_policy_init(&p, 7);
    assert_ptr_equal(p.rand_ctx, &p.rng);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = p.rand_fn(p.rand_ctx);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(sum / 10000 > 0.45 && sum / 10000 < 0.55);
}

static void test_quota_drain_and_refund(void **state)
{
    (void)state;
    struct bsup_retry_quota q;
    bsup_retry_quota_init(&q, 0);
    assert_int_equal(q.available, 500);
    assert_int_equal(q.capacity, 500);
    /* 35 transient retries take 490; the 36th does not fit in the 10 left. */
    for (int i = 0; i < 35; i++)
        assert_true(bsup_retry_quota_acquire(&q, BSUP_RETRY_QUOTA_COST));
    assert_int_equal(q.available, 10);
    assert_false(bsup_retry_quota_acquire(&q, BSUP_RETRY_QUOTA_COST));
    assert_int_equal(q.available, 10);
    /* A throttling retry (5) still fits twice. */
    assert_true(bsup_retry_quota_acquire(&q, BSUP_RETRY_QUOTA_THROTTLING_COST));
    assert_true(bsup_retry_quota_acquire(&q, BSUP_RETRY_QUOTA_THROTTLING_COST));
    assert_false(bsup_retry_quota_acquire(&q, 1));
    bsup_retry_quota_release(&q, 1000);
    assert_int_equal(q.available, 500);
    bsup_retry_quota_release(&q, 1);
    assert_int_equal(q.available, 500);
}

static void test_decide_sequence(void **state)
{
    (void)state;
    struct bsup_retry_policy p;
    struct bsup_retry_quota q;
    double r = 1.0;
    bsup_retry_policy_init(&p, 1);
    p.rand_fn = s_fixed;
    p.rand_ctx = &r;
    bsup_retry_quota_init(&q, 0);

    /* 503, 503, then success: two retries (14 each), refund of the last cost (14). */
    struct bsup_retry_request req = {0};
    struct bsup_retry_decision d;
    struct bsup_retry_outcome e503 = {.http_status = 503};
    struct bsup_retry_outcome ok = {.http_status = 200};
    bsup_retry_decide(&p, &q, &req, &e503, &d);
    assert_true(d.retry);
    assert_int_equal(d.delay_ms, 50);
    assert_int_equal(q.available, 486);
    bsup_retry_decide(&p, &q, &req, &e503, &d);
    assert_true(d.retry);
    assert_int_equal(d.delay_ms, 100);
    assert_int_equal(q.available, 472);
    bsup_retry_decide(&p, &q, &req, &ok, &d);
    assert_false(d.retry);
    assert_string_equal(d.reason, "success");
    assert_int_equal(q.available, 486);

    /* Three throttles: the third attempt is the last (max 3). */
    struct bsup_retry_request t = {0};
    struct bsup_retry_outcome thr = {
        .http_status = 400, .error_code = "Throttling", .retry_after = "2500"};
    bsup_retry_decide(&p, &q, &t, &thr, &d);
    assert_true(d.retry);
    assert_int_equal(d.cls, BSUP_RETRY_THROTTLING);
    assert_int_equal(d.delay_ms, 2500); /* t = 1000, retry-after 2500 within [1000, 6000] */
    assert_int_equal(q.available, 481);
    bsup_retry_decide(&p, &q, &t, &thr, &d);
    assert_true(d.retry);
    assert_int_equal(q.available, 476);
    bsup_retry_decide(&p, &q, &t, &thr, &d);
    assert_false(d.retry);
    assert_string_equal(d.reason, "max attempts");
    assert_int_equal(q.available, 476);
    assert_int_equal(t.throttles, 3);

    /* Success on the first attempt refunds 1. */
    struct bsup_retry_request s = {0};
    bsup_retry_decide(&p, &q, &s, &ok, &d);
    assert_int_equal(q.available, 477);

    /* Not retryable: no quota taken. */
    struct bsup_retry_request n = {0};
    struct bsup_retry_outcome bad = {.http_status = 400, .error_code = "ValidationError"};
    bsup_retry_decide(&p, &q, &n, &bad, &d);
    assert_false(d.retry);
    assert_string_equal(d.reason, "not retryable");
    assert_int_equal(q.available, 477);

    /* An empty quota stops transient retries. */
    q.available = 13;
    struct bsup_retry_request e = {0};
    struct bsup_retry_outcome conn = {.transport_error = true};
    bsup_retry_decide(&p, &q, &e, &conn, &d);
    assert_false(d.retry);
    assert_string_equal(d.reason, "quota");
    assert_int_equal(q.available, 13);

    /* Configurable max attempts. */
    p.max_attempts = 5;
    struct bsup_retry_request m = {0};
    q.available = 500;
    for (int i = 0; i < 4; i++) {
        bsup_retry_decide(&p, &q, &m, &e503, &d);
        assert_true(d.retry);
    }
    bsup_retry_decide(&p, &q, &m, &e503, &d);
    assert_false(d.retry);
    assert_int_equal(m.attempts, 5);
}

static void test_clock_skew(void **state)
{
    (void)state;
    const int64_t local = INT64_C(1440938160); /* Sun, 30 Aug 2015 12:36:00 GMT */
    static const struct {
        const char *date, *code;
        int rc;
        int64_t offset;
    } rows[] = {
        {"Sun, 30 Aug 2015 12:46:00 GMT", "RequestTimeTooSkewed", 0, 600},
        {"Sun, 30 Aug 2015 12:26:00 GMT", "SignatureDoesNotMatch", 0, -600},
        {"Sun, 30 Aug 2015 12:40:00 GMT", "InvalidSignatureException", 0, 0}, /* 240 s: no */
        {"Sun, 30 Aug 2015 12:40:01 GMT", "InvalidSignatureException", 0, 241},
        {"Sun, 30 Aug 2015 13:36:00 GMT", "RequestExpired", 0, 3600},
        {"Sat, 29 Aug 2015 12:36:00 GMT", "RequestInTheFuture", 0, -86400},
        {"Sun, 30 Aug 2015 13:36:00 GMT", "AccessDenied", 0, 0},
        {"Sun, 30 Aug 2015 13:36:00 GMT", NULL, 0, 0},
        {"yesterday", "RequestTimeTooSkewed", BSUP_EPARSE, 0},
        {NULL, "RequestTimeTooSkewed", BSUP_EPARSE, 0},
        {"Sun, 30 Foo 2015 13:36:00 GMT", "RequestTimeTooSkewed", BSUP_EPARSE, 0},
        {"Sun, 30 Aug 2015 13:36:00 PST", "RequestTimeTooSkewed", BSUP_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t off = 12345;
        assert_int_equal(bsup_retry_clock_skew(local, rows[i].date, rows[i].code, &off),
                         rows[i].rc);
        if (off != rows[i].offset)
            fail_msg("row %zu: offset %lld, want %lld", i, (long long)off,
                     (long long)rows[i].offset);
    }
}

static void test_stats(void **state)
{
    (void)state;
    struct bsup_retry_stats s = {0};
    struct bsup_retry_request a = {.attempts = 3, .last_cost = 5, .throttles = 2};
    struct bsup_retry_request b = {.attempts = 1};
    bsup_retry_stats_add(&s, &a, false, 120);
    bsup_retry_stats_add(&s, &b, true, 30);
    bsup_retry_stats_add(&s, NULL, false, -5);
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.retries, 2);
    assert_int_equal(s.throttles, 2);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.latency_sum_ms, 150);
    assert_int_equal(s.latency_max_ms, 120);
    s.latency_sum_ms = UINT64_MAX - 1;
    bsup_retry_stats_add(&s, &b, false, 10);
    assert_true(s.latency_sum_ms == UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),  cmocka_unit_test(test_delays),
        cmocka_unit_test(test_seeded_rng),      cmocka_unit_test(test_quota_drain_and_refund),
        cmocka_unit_test(test_decide_sequence), cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
