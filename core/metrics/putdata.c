#include "core/metrics/putdata.h"

#include "core/base/error.h"
#include "core/base/percent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_API_VERSION "2010-08-01"

/* One MetricData entry being filled: the datum that opened it and its distinct values. */
struct s_entry {
    size_t first; /* index of the datum that opened it */
    double *values;
    int64_t *counts;
    size_t n_values;
};

static size_t s_encoded_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += bsup_percent_is_unreserved((unsigned char)*s) ? 1 : 3;
    return n;
}

/* Bytes a pair adds to the form body: "&name=value". */
static size_t s_pair_len(const char *name, const char *value)
{
    return 2 + s_encoded_len(name) + s_encoded_len(value);
}

static bool s_same_key(const struct bsup_metric_datum *a, const struct bsup_metric_datum *b)
{
    return a->at_ms == b->at_ms && strcmp(a->name, b->name) == 0 && strcmp(a->unit, b->unit) == 0 &&
           !a->service == !b->service &&
           (!a->service || (strcmp(a->service, b->service) == 0 &&
                            strcmp(a->environment ? a->environment : "",
                                   b->environment ? b->environment : "") == 0));
}

static void s_number(double v, char out[40])
{
    snprintf(out, 40, "%.17g", v);
}

void bsup_putdata_timestamp(int64_t at_ms, char out[48])
{
    time_t t = (time_t)(at_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at_ms % 1000));
}

int bsup_putdata_acceptable(int64_t at_ms, int64_t now_ms, int64_t margin_s)
{
    return at_ms > now_ms - (BSUP_PUTDATA_MAX_AGE_S - margin_s) * 1000 &&
           at_ms < now_ms + (BSUP_PUTDATA_MAX_AHEAD_S - margin_s) * 1000;
}

/* Bytes an entry's fixed members take (everything but its values), for entry number k. */
static size_t s_entry_fixed_len(const struct bsup_metric_datum *d, size_t k)
{
    char name[96], ts[48];
    size_t n = 0;
    snprintf(name, sizeof(name), "MetricData.member.%zu.MetricName", k);
    n += s_pair_len(name, d->name);
    snprintf(name, sizeof(name), "MetricData.member.%zu.Unit", k);
    n += s_pair_len(name, d->unit);
    bsup_putdata_timestamp(d->at_ms, ts);
    snprintf(name, sizeof(name), "MetricData.member.%zu.Timestamp", k);
    n += s_pair_len(name, ts);
    if (d->service) {
        snprintf(name, sizeof(name), "MetricData.member.%zu.Dimensions.member.1.Name", k);
        n += s_pair_len(name, "Service");
        snprintf(name, sizeof(name), "MetricData.member.%zu.Dimensions.member.1.Value", k);
        n += s_pair_len(name, d->service);
        snprintf(name, sizeof(name), "MetricData.member.%zu.Dimensions.member.2.Name", k);
        n += s_pair_len(name, "Environment");
        snprintf(name, sizeof(name), "MetricData.member.%zu.Dimensions.member.2.Value", k);
        n += s_pair_len(name, d->environment ? d->environment : "");
    }
    return n;
}

/* Bytes value number j (1-based) of entry k adds, as a Values/Counts pair (the worst case: a
 * single value sent as Value is shorter). */
static size_t s_value_len(double v, size_t k, size_t j, int64_t count)
{
    char name[96], num[40];
    s_number(v, num);
    snprintf(name, sizeof(name), "MetricData.member.%zu.Values.member.%zu", k, j);
    size_t n = s_pair_len(name, num);
    snprintf(num, sizeof(num), "%lld", (long long)count);
    snprintf(name, sizeof(name), "MetricData.member.%zu.Counts.member.%zu", k, j);
    return n + s_pair_len(name, num) + 2; /* a count may grow a digit or two */
}

static int s_emit(const char *ns, const struct bsup_metric_datum *d, const struct s_entry *e,
                  size_t n_entries, struct bsup_aws_params *p)
{
    int rc = bsup_aws_params_add(p, "Namespace", ns);
    for (size_t k = 0; rc == 0 && k < n_entries; k++) {
        const struct bsup_metric_datum *x = &d[e[k].first];
        char ts[48], num[40];
        size_t m = k + 1;
        bsup_putdata_timestamp(x->at_ms, ts);
        rc = bsup_aws_params_addf(p, x->name, "MetricData.member.%zu.MetricName", m);
        if (rc == 0 && x->service)
            rc =
                bsup_aws_params_addf(p, "Service", "MetricData.member.%zu.Dimensions.member.1.Name",
                                     m) ||
                        bsup_aws_params_addf(
                            p, x->service, "MetricData.member.%zu.Dimensions.member.1.Value", m) ||
                        bsup_aws_params_addf(p, "Environment",
                                             "MetricData.member.%zu.Dimensions.member.2.Name", m) ||
                        bsup_aws_params_addf(p, x->environment ? x->environment : "",
                                             "MetricData.member.%zu.Dimensions.member.2.Value", m)
                    ? BSUP_ENOMEM
                    : 0;
        if (rc == 0)
            rc = bsup_aws_params_addf(p, ts, "MetricData.member.%zu.Timestamp", m);
        if (e[k].n_values == 1 && e[k].counts[0] == 1) {
            s_number(e[k].values[0], num);
            if (rc == 0)
                rc = bsup_aws_params_addf(p, num, "MetricData.member.%zu.Value", m);
        } else {
            for (size_t j = 0; rc == 0 && j < e[k].n_values; j++) {
                s_number(e[k].values[j], num);
                rc = bsup_aws_params_addf(p, num, "MetricData.member.%zu.Values.member.%zu", m,
                                          j + 1);
                snprintf(num, sizeof(num), "%lld", (long long)e[k].counts[j]);
                if (rc == 0)
                    rc = bsup_aws_params_addf(p, num, "MetricData.member.%zu.Counts.member.%zu", m,
                                              j + 1);
            }
        }
        if (rc == 0)
            rc = bsup_aws_params_addf(p, x->unit, "MetricData.member.%zu.Unit", m);
    }
    return rc;
}

int bsup_putdata_next(const char *ns, const struct bsup_metric_datum *d, size_t n,
                      const struct bsup_putdata_limits *limits, struct bsup_putdata_request *out)
{
    size_t max_entries =
        limits && limits->max_entries ? limits->max_entries : BSUP_PUTDATA_MAX_ENTRIES;
    size_t max_values = limits && limits->max_values ? limits->max_values : BSUP_PUTDATA_MAX_VALUES;
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : BSUP_PUTDATA_MAX_BYTES;
    memset(out, 0, sizeof(*out));
    struct s_entry *e = calloc(max_entries, sizeof(*e));
    size_t n_entries = 0, used = 0, rc = 0;
    size_t bytes = strlen("Action=PutMetricData") + s_pair_len("Version", S_API_VERSION) +
                   s_pair_len("Namespace", ns);
    if (!e)
        return BSUP_ENOMEM;
    for (; used < n; used++) {
        const struct bsup_metric_datum *x = &d[used];
        /* An entry of the same key holding the value only counts it; else the first with
         * room adds it. */
        struct s_entry *hit = NULL;
        bool counted = false;
        for (size_t k = 0; k < n_entries && !counted; k++) {
            if (!s_same_key(&d[e[k].first], x))
                continue;
            for (size_t j = 0; j < e[k].n_values && !counted; j++) {
                if (e[k].values[j] == x->value) {
                    e[k].counts[j]++;
                    counted = true;
                }
            }
            if (!hit && e[k].n_values < max_values)
                hit = &e[k];
        }
        if (counted)
            continue;
        if (hit && hit->n_values < max_values) {
            size_t add = s_value_len(x->value, (size_t)(hit - e) + 1, hit->n_values + 1, 1);
            if (bytes + add > max_bytes && used > 0)
                break;
            hit->values[hit->n_values] = x->value;
            hit->counts[hit->n_values++] = 1;
            bytes += add;
            continue;
        }
        /* A new entry. */
        size_t add =
            s_entry_fixed_len(x, n_entries + 1) + s_value_len(x->value, n_entries + 1, 1, 1);
        if (n_entries == max_entries || (bytes + add > max_bytes && used > 0))
            break;
        struct s_entry *ne = &e[n_entries];
        ne->first = used;
        ne->values = malloc(max_values * sizeof(*ne->values));
        ne->counts = malloc(max_values * sizeof(*ne->counts));
        if (!ne->values || !ne->counts) {
            free(ne->values);
            free(ne->counts);
            rc = 1;
            break;
        }
        n_entries++;
        ne->values[0] = x->value;
        ne->counts[0] = 1;
        ne->n_values = 1;
        bytes += add;
    }
    int err = rc ? BSUP_ENOMEM : s_emit(ns, d, e, n_entries, &out->params);
    for (size_t k = 0; k < n_entries; k++) {
        free(e[k].values);
        free(e[k].counts);
    }
    free(e);
    if (err) {
        bsup_aws_params_cleanup(&out->params);
        return err;
    }
    out->n_datums = used;
    out->n_entries = n_entries;
    out->body_bytes = bytes;
    return 0;
}

void bsup_putdata_request_cleanup(struct bsup_putdata_request *r)
{
    bsup_aws_params_cleanup(&r->params);
    memset(r, 0, sizeof(*r));
}

int bsup_putdata_count(const char *ns, const struct bsup_metric_datum *d, size_t n,
                       const struct bsup_putdata_limits *limits, size_t *out_requests)
{
    size_t calls = 0;
    while (n > 0) {
        struct bsup_putdata_request r;
        int rc = bsup_putdata_next(ns, d, n, limits, &r);
        if (rc)
            return rc;
        d += r.n_datums;
        n -= r.n_datums;
        calls++;
        bsup_putdata_request_cleanup(&r);
    }
    *out_requests = calls;
    return 0;
}
