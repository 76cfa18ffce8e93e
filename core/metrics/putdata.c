#include "core/metrics/putdata.h"

#include "core/base/error.h"
#include "core/base/percent.h"

#include <stdbool.h>
#include <stdint.h>
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
    size_t n_values, cap_values;
    size_t next; /* the next entry of the same hash slot, + 1; 0: none */
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

/* Bytes "&MetricData.member.<k><suffix>=" takes (every character unreserved: encoded as it
 * is), without the value. */
static size_t s_name_len(size_t k, const char *suffix)
{
    size_t digits = 1;
    for (size_t v = k; v >= 10; v /= 10)
        digits++;
    return 2 + strlen("MetricData.member.") + digits + strlen(suffix);
}

/* Bytes an entry's fixed members take (everything but its values), for entry number k. */
static size_t s_entry_fixed_len(const struct bsup_metric_datum *d, size_t k)
{
    char ts[48];
    bsup_putdata_timestamp(d->at_ms, ts);
    size_t n = s_name_len(k, ".MetricName") + s_encoded_len(d->name) + s_name_len(k, ".Unit") +
               s_encoded_len(d->unit) + s_name_len(k, ".Timestamp") + s_encoded_len(ts);
    if (d->service)
        n += s_name_len(k, ".Dimensions.member.1.Name") + strlen("Service") +
             s_name_len(k, ".Dimensions.member.1.Value") + s_encoded_len(d->service) +
             s_name_len(k, ".Dimensions.member.2.Name") + strlen("Environment") +
             s_name_len(k, ".Dimensions.member.2.Value") +
             s_encoded_len(d->environment ? d->environment : "");
    return n;
}

/* Bytes value number j (1-based) of entry k adds, as a Values/Counts pair (the worst case: a
 * single value sent as Value is shorter). */
static size_t s_value_len(double v, size_t k, size_t j, int64_t count)
{
    char num[40], sub[64];
    s_number(v, num);
    snprintf(sub, sizeof(sub), ".Values.member.%zu", j);
    size_t n = s_name_len(k, sub) + s_encoded_len(num);
    snprintf(num, sizeof(num), "%lld", (long long)count);
    snprintf(sub, sizeof(sub), ".Counts.member.%zu", j);
    return n + s_name_len(k, sub) + s_encoded_len(num) + 2; /* a count may grow a digit or two */
}

/* Adds value v (count 1) to entry e, growing its arrays. 0 or BSUP_ENOMEM. */
static int s_add_value(struct s_entry *e, double v)
{
    if (e->n_values == e->cap_values) {
        size_t cap = e->cap_values ? e->cap_values * 4 : 1;
        double *values = realloc(e->values, cap * sizeof(*values));
        if (!values)
            return BSUP_ENOMEM;
        e->values = values;
        int64_t *counts = realloc(e->counts, cap * sizeof(*counts));
        if (!counts)
            return BSUP_ENOMEM;
        e->counts = counts;
        e->cap_values = cap;
    }
    e->values[e->n_values] = v;
    e->counts[e->n_values++] = 1;
    return 0;
}

/* FNV-1a over a datum's key (what s_same_key compares). */
static uint64_t s_key_hash(const struct bsup_metric_datum *d)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[] = {d->name, d->unit, d->service ? d->service : "\x01",
                           d->environment ? d->environment : ""};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return (h ^ (uint64_t)d->at_ms) * 1099511628211ull;
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
    /* Entries of equal keys are found through a table of 2 x max_entries slots (chains). */
    size_t n_slots = 2 * max_entries;
    struct s_entry *e = calloc(max_entries, sizeof(*e));
    size_t *slot = calloc(n_slots, sizeof(*slot)); /* the first entry of a slot, + 1 */
    size_t n_entries = 0, used = 0, rc = 0;
    size_t bytes = strlen("Action=PutMetricData") + s_pair_len("Version", S_API_VERSION) +
                   s_pair_len("Namespace", ns);
    if (!e || !slot) {
        free(e);
        free(slot);
        return BSUP_ENOMEM;
    }
    for (; used < n; used++) {
        const struct bsup_metric_datum *x = &d[used];
        size_t at = (size_t)(s_key_hash(x) % n_slots);
        /* An entry of the same key holding the value only counts it; else the first with
         * room adds it. */
        struct s_entry *hit = NULL;
        bool counted = false;
        for (size_t k = slot[at]; k && !counted; k = e[k - 1].next) {
            struct s_entry *c = &e[k - 1];
            if (!s_same_key(&d[c->first], x))
                continue;
            for (size_t j = 0; j < c->n_values && !counted; j++) {
                if (c->values[j] == x->value) {
                    c->counts[j]++;
                    counted = true;
                }
            }
            if (!hit && c->n_values < max_values)
                hit = c;
        }
        if (counted)
            continue;
        if (hit) {
            size_t add = s_value_len(x->value, (size_t)(hit - e) + 1, hit->n_values + 1, 1);
            if (bytes + add > max_bytes && used > 0)
                break;
            if (s_add_value(hit, x->value)) {
                rc = 1;
                break;
            }
            bytes += add;
            continue;
        }
        /* A new entry, last of its slot's chain (so the first with room is found first). */
        size_t add =
            s_entry_fixed_len(x, n_entries + 1) + s_value_len(x->value, n_entries + 1, 1, 1);
        if (n_entries == max_entries || (bytes + add > max_bytes && used > 0))
            break;
        struct s_entry *ne = &e[n_entries];
        ne->first = used;
        if (s_add_value(ne, x->value)) {
            free(ne->values);
            free(ne->counts);
            rc = 1;
            break;
        }
        size_t *link = &slot[at];
        while (*link)
            link = &e[*link - 1].next;
        *link = ++n_entries;
        bytes += add;
    }
    free(slot);
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
