/* The PutMetricData batcher: every request within CloudWatch's limits (entries, values per
 * entry, body bytes), datums taken in order as a prefix, identical keys merged into
 * Values/Counts; and the figure for 1000 services' datums beside the minimum the limits allow. */
#include "tests/lib/testlib.h"

#include "core/aws/query.h"
#include "core/metrics/catalogue.h"
#include "core/metrics/putdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/* The form body's size for params as the Query serialiser writes it. */
static size_t s_body_bytes(const struct bsup_aws_params *p)
{
    struct bsup_aws_request req;
    assert_int_equal(bsup_aws_request_init(&req, "POST", "https", "monitoring.example", "/"), 0);
    assert_int_equal(bsup_query_serialize(&req, "PutMetricData", "2010-08-01", p), 0);
    size_t n = req.body_len;
    bsup_aws_request_cleanup(&req);
    return n;
}

static size_t s_entries(const struct bsup_aws_params *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += strstr(p->items[i].name, ".MetricName") != NULL;
    return n;
}

/* Cuts d[0..n) into requests with limits; checks each against them; returns the count. */
static size_t s_cut(const struct bsup_metric_datum *d, size_t n,
                    const struct bsup_putdata_limits *lim)
{
    size_t calls = 0, max_bytes = lim && lim->max_bytes ? lim->max_bytes : BSUP_PUTDATA_MAX_BYTES;
    size_t max_entries = lim && lim->max_entries ? lim->max_entries : BSUP_PUTDATA_MAX_ENTRIES;
    while (n) {
        struct bsup_putdata_request r;
        assert_int_equal(bsup_putdata_next("BSUP", d, n, lim, &r), 0);
        assert_true(r.n_datums >= 1 && r.n_datums <= n);
        size_t body = s_body_bytes(&r.params);
        assert_true(body <= max_bytes);
        assert_true(body <= r.body_bytes); /* the estimate never under-counts */
        assert_int_equal(s_entries(&r.params), r.n_entries);
        assert_true(r.n_entries <= max_entries);
        for (size_t i = 0; i < r.params.n; i++) {
            const char *v = strstr(r.params.items[i].name, ".Values.member.");
            if (v)
                assert_true((size_t)atoi(v + strlen(".Values.member.")) <= BSUP_PUTDATA_MAX_VALUES);
        }
        d += r.n_datums;
        n -= r.n_datums;
        calls++;
        bsup_putdata_request_cleanup(&r);
    }
    return calls;
}

static char s_names[1000][32];

/* One cycle's datums of n services: every per-service metric the catalogue emits. */
static struct bsup_metric_datum *s_fleet(size_t n, size_t *out_n)
{
    struct bsup_metric_datum *d = calloc(n * BSUP_METRIC_COUNT, sizeof(*d));
    size_t k = 0;
    for (size_t s = 0; s < n; s++) {
        snprintf(s_names[s], sizeof(s_names[s]), "svc-%04zu", s);
        for (int m = 0; m < BSUP_METRIC_COUNT; m++) {
            if (bsup_metrics[m].scope != BSUP_METRIC_SERVICE || !bsup_metrics[m].emitted)
                continue;
            d[k] = (struct bsup_metric_datum){.id = (int64_t)k + 1,
                                              .name = bsup_metrics[m].name,
                                              .service = s_names[s],
                                              .environment = "prod",
                                              .at_ms = S_NOW_MS + (int64_t)s,
                                              .value = (double)(s % 7),
                                              .unit = bsup_metrics[m].unit};
            k++;
        }
    }
    *out_n = k;
    return d;
}

static void test_fleet_figure(void **state)
{
    (void)state;
    size_t n = 0;
    struct bsup_metric_datum *d = s_fleet(1000, &n);
    size_t calls = s_cut(d, n, NULL), total_bytes = 0, k = 0;
    while (k < n) {
        struct bsup_putdata_request r;
        assert_int_equal(bsup_putdata_next("BSUP", d + k, n - k, NULL, &r), 0);
        total_bytes += s_body_bytes(&r.params);
        k += r.n_datums;
        bsup_putdata_request_cleanup(&r);
    }
    size_t by_entries = (n + BSUP_PUTDATA_MAX_ENTRIES - 1) / BSUP_PUTDATA_MAX_ENTRIES;
    size_t by_bytes = (total_bytes + BSUP_PUTDATA_MAX_BYTES - 1) / BSUP_PUTDATA_MAX_BYTES;
    size_t minimum = by_entries > by_bytes ? by_entries : by_bytes;
    printf("FIGURE: 1000 services x %zu metrics = %zu datums: %zu PutMetricData calls; the API "
           "limits allow no fewer than %zu (1000 entries per call: %zu; 1 MB per call: %zu, "
           "%zu body bytes in all)\n",
           n / 1000, n, calls, minimum, by_entries, by_bytes, total_bytes);
    assert_int_equal(calls, minimum);
    free(d);
}

/* Datums of one key at one time merge into Values/Counts: 150 distinct values per entry. */
static void test_values_counts(void **state)
{
    (void)state;
    enum { N = 400 };
    struct bsup_metric_datum d[N];
    for (int i = 0; i < N; i++)
        d[i] = (struct bsup_metric_datum){.id = i + 1,
                                          .name = "ReconcileDuration",
                                          .service = "api",
                                          .environment = "prod",
                                          .at_ms = S_NOW_MS,
                                          .value = (double)(i % 200),
                                          .unit = "Milliseconds"};
    struct bsup_putdata_request r;
    assert_int_equal(bsup_putdata_next("BSUP", d, N, NULL, &r), 0);
    assert_int_equal(r.n_datums, N);
    assert_int_equal(r.n_entries, 2); /* 200 distinct values: 150 + 50 */
    assert_string_equal(bsup_aws_params_get(&r.params, "MetricData.member.1.Counts.member.1"), "2");
    assert_null(bsup_aws_params_get(&r.params, "MetricData.member.1.Values.member.151"));
    assert_string_equal(bsup_aws_params_get(&r.params, "MetricData.member.2.Values.member.50"),
                        "199");
    bsup_putdata_request_cleanup(&r);
    /* Another timestamp is another entry: original timestamps are never rounded. */
    d[1].at_ms = S_NOW_MS + 1;
    assert_int_equal(bsup_putdata_next("BSUP", d, 2, NULL, &r), 0);
    assert_int_equal(r.n_entries, 2);
    assert_string_equal(bsup_aws_params_get(&r.params, "MetricData.member.2.Timestamp"),
                        "2026-01-01T00:00:00.001Z");
    assert_string_equal(bsup_aws_params_get(&r.params, "MetricData.member.1.Value"), "0");
    assert_string_equal(
        bsup_aws_params_get(&r.params, "MetricData.member.1.Dimensions.member.2.Value"), "prod");
    bsup_putdata_request_cleanup(&r);
}

/* Small limits: the cut respects each of them. */
static void test_limits_table(void **state)
{
    (void)state;
    size_t n = 0;
    struct bsup_metric_datum *d = s_fleet(50, &n);
    static const struct {
        struct bsup_putdata_limits lim;
        size_t calls;
    } cases[] = {
        {{.max_entries = 1}, 0},
        {{.max_entries = 7}, 0},
        {{.max_entries = 100}, 0},
        {{.max_bytes = 2000}, 0},
        {{.max_bytes = 50000}, 0},
        {{.max_values = 1}, 0},
        {{0}, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t calls = s_cut(d, n, &cases[i].lim);
        if (cases[i].calls)
            assert_int_equal(calls, cases[i].calls);
        if (cases[i].lim.max_entries)
            assert_int_equal(calls, (n + cases[i].lim.max_entries - 1) / cases[i].lim.max_entries);
    }
    /* Daemon-wide datums have no dimension. */
    struct bsup_metric_datum g = {
        .name = "OutboxDepth", .at_ms = S_NOW_MS, .value = 3, .unit = "Count"};
    struct bsup_putdata_request r;
    assert_int_equal(bsup_putdata_next("BSUP", &g, 1, NULL, &r), 0);
    assert_null(bsup_aws_params_get(&r.params, "MetricData.member.1.Dimensions.member.1.Name"));
    assert_string_equal(bsup_aws_params_get(&r.params, "Namespace"), "BSUP");
    bsup_putdata_request_cleanup(&r);
    free(d);
}

static void test_acceptable(void **state)
{
    (void)state;
    int64_t day = 86400000;
    assert_true(bsup_putdata_acceptable(S_NOW_MS, S_NOW_MS, 0));
    assert_true(bsup_putdata_acceptable(S_NOW_MS - 13 * day, S_NOW_MS, 3600));
    assert_false(bsup_putdata_acceptable(S_NOW_MS - 14 * day, S_NOW_MS, 0));
    assert_false(bsup_putdata_acceptable(S_NOW_MS - 14 * day + 1000, S_NOW_MS, 3600));
    assert_false(bsup_putdata_acceptable(S_NOW_MS + 3 * 3600000, S_NOW_MS, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_figure),
        cmocka_unit_test(test_values_counts),
        cmocka_unit_test(test_limits_table),
        cmocka_unit_test(test_acceptable),
    };
    return cmocka_run_group_tests_name("putdata", tests, NULL, NULL);
}
