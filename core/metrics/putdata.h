/* Cutting waiting datums into PutMetricData requests within every limit CloudWatch sets
 * (botocore's cloudwatch model, PutMetricData): at most 1000 MetricData entries per request,
 * at most 150 distinct values per entry (Values/Counts), at most 1 MB of POST body, and no
 * timestamp older than two weeks or more than two hours ahead. Datums of the same metric,
 * dimensions, unit and timestamp share one entry (Values/Counts). Pure: no I/O, no clock. */
#ifndef BSUP_CORE_METRICS_PUTDATA_H
#define BSUP_CORE_METRICS_PUTDATA_H

#include "core/aws/query.h"

#include <stddef.h>
#include <stdint.h>

#define BSUP_PUTDATA_MAX_ENTRIES 1000       /* MetricData entries per request */
#define BSUP_PUTDATA_MAX_VALUES 150         /* distinct values per entry (Values/Counts) */
#define BSUP_PUTDATA_MAX_BYTES 1000000      /* POST body: "1 MB"; kept under 10^6 bytes */
#define BSUP_PUTDATA_MAX_AGE_S (14 * 86400) /* "as much as two weeks before the current date" */
#define BSUP_PUTDATA_MAX_AHEAD_S (2 * 3600) /* "as much as 2 hours after" */

/* One measured value, as the outbox keeps it. */
struct bsup_metric_datum {
    int64_t id;              /* the outbox row: deleted once CloudWatch accepted it */
    const char *name;        /* MetricName */
    const char *service;     /* NULL: daemon-wide (no dimension) */
    const char *environment; /* with service */
    int64_t at_ms;           /* when it was measured (Timestamp) */
    double value;
    const char *unit;
};

struct bsup_putdata_limits {
    size_t max_entries; /* 0: BSUP_PUTDATA_MAX_ENTRIES */
    size_t max_values;  /* 0: BSUP_PUTDATA_MAX_VALUES */
    size_t max_bytes;   /* 0: BSUP_PUTDATA_MAX_BYTES */
};

struct bsup_putdata_request {
    struct bsup_aws_params params; /* Namespace and MetricData.member.N.* */
    size_t n_datums;               /* how many of the given datums (a prefix) it carries */
    size_t n_entries;              /* MetricData entries */
    size_t body_bytes;             /* the form body's size, Action and Version included */
};

/* The next request: as many datums from the start of d[0..n) as fit, in order (a prefix, so
 * the caller deletes exactly d[0..out->n_datums) once CloudWatch has accepted it). n must
 * be > 0; at least one datum always fits. 0 or BSUP_ENOMEM; free with
 * bsup_putdata_request_cleanup. */
int bsup_putdata_next(const char *namespace_, const struct bsup_metric_datum *d, size_t n,
                      const struct bsup_putdata_limits *limits, struct bsup_putdata_request *out);
void bsup_putdata_request_cleanup(struct bsup_putdata_request *r);

/* How many requests bsup_putdata_next cuts d[0..n) into (for figures and tests). */
int bsup_putdata_count(const char *namespace_, const struct bsup_metric_datum *d, size_t n,
                       const struct bsup_putdata_limits *limits, size_t *out_requests);

/* Whether a datum measured at at_ms may still be sent at now_ms (CloudWatch refuses older
 * than two weeks and more than two hours ahead); with a safety margin of margin_s. */
int bsup_putdata_acceptable(int64_t at_ms, int64_t now_ms, int64_t margin_s);

/* The ISO 8601 UTC form CloudWatch's Query API takes: 2026-01-02T03:04:05.123Z. */
void bsup_putdata_timestamp(int64_t at_ms, char out[48]);

#endif
