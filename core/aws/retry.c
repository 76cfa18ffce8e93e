#include "core/aws/retry.h"

#include "core/base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* botocore retries/standard.py ThrottledRetryableChecker._THROTTLED_ERROR_CODES. */
static const char *const s_throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

/* TransientRetryableChecker._TRANSIENT_ERROR_CODES, plus special.RetryIDPCommunicationError
 * (STS). PriorRequestNotComplete is in both botocore lists; throttling is checked first, as
 * botocore's quota and backoff do. */
static const char *const s_transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "IDPCommunicationError",
};

/* Status codes, looked at when the error code did not decide. 429 is our addition: botocore's
 * standard mode only uses codes, but the other SDKs and _retry.json treat 429 as throttling. */
static const struct {
    int status;
    enum bsup_retry_class cls;
} s_statuses[] = {
    {429, BSUP_RETRY_THROTTLING}, {500, BSUP_RETRY_TRANSIENT}, {502, BSUP_RETRY_TRANSIENT},
    {503, BSUP_RETRY_TRANSIENT},  {504, BSUP_RETRY_TRANSIENT},
};

/* Error codes that mean "your clock is off" (aws-sdk-go-v2 / Java v2 lists; AuthFailure is
 * EC2's way to say it). */
static const char *const s_skew_codes[] = {
    "RequestTimeTooSkewed",      "RequestExpired",        "RequestInTheFuture",
    "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure",
};

static const char *const s_class_names[] = {
    [BSUP_RETRY_SUCCESS] = "success",
    [BSUP_RETRY_NOT_RETRYABLE] = "not-retryable",
    [BSUP_RETRY_TRANSIENT] = "transient",
    [BSUP_RETRY_THROTTLING] = "throttling",
};

static bool s_in(const char *const *list, size_t n, const char *code)
{
    for (size_t i = 0; code && i < n; i++)
        if (strcmp(list[i], code) == 0)
            return true;
    return false;
}

const char *bsup_retry_class_name(enum bsup_retry_class cls)
{
    if ((size_t)cls >= S_COUNT(s_class_names))
        return "?";
    return s_class_names[cls];
}

enum bsup_retry_class bsup_retry_classify(const struct bsup_retry_outcome *o)
{
    const char *code = o->error_code && *o->error_code ? o->error_code : NULL;
    if (s_in(s_throttling_codes, S_COUNT(s_throttling_codes), code))
        return BSUP_RETRY_THROTTLING;
    if (s_in(s_transient_codes, S_COUNT(s_transient_codes), code))
        return BSUP_RETRY_TRANSIENT;
    if (o->clock_skew_corrected && s_in(s_skew_codes, S_COUNT(s_skew_codes), code))
        return BSUP_RETRY_TRANSIENT;
    if (o->transport_error)
        return BSUP_RETRY_TRANSIENT;
    for (size_t i = 0; i < S_COUNT(s_statuses); i++)
        if (o->http_status == s_statuses[i].status)
            return s_statuses[i].cls;
    if (o->http_status >= 200 && o->http_status < 300 && !code)
        return BSUP_RETRY_SUCCESS;
    return BSUP_RETRY_NOT_RETRYABLE;
}

/* ---- randomness ---- */

static double s_uniform(void *ctx)
{
    return bsup_random_double01(ctx);
}

void bsup_retry_policy_init(struct bsup_retry_policy *p, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->max_attempts = BSUP_RETRY_MAX_ATTEMPTS;
    p->transient_base_ms = BSUP_RETRY_TRANSIENT_BASE_MS;
    p->throttling_base_ms = BSUP_RETRY_THROTTLING_BASE_MS;
    p->max_backoff_ms = BSUP_RETRY_MAX_BACKOFF_MS;
    p->retry_after_max_extra_ms = BSUP_RETRY_AFTER_MAX_EXTRA_MS;
    bsup_random_init(&p->rng, seed);
    p->rand_fn = s_uniform;
    p->rand_ctx = &p->rng;
}

/* ---- delay ---- */

int64_t bsup_retry_parse_retry_after(const char *value)
{
    if (!value || !*value)
        return -1;
    int64_t v = 0;
    for (const char *c = value; *c; c++) {
        if (*c < '0' || *c > '9' || v > INT64_C(1000000000000)) /* digits only, bounded */
            return -1;
        v = v * 10 + (*c - '0');
    }
    return v;
}

int64_t bsup_retry_delay_ms(const struct bsup_retry_policy *p, enum bsup_retry_class cls,
                            int attempt, int64_t retry_after_ms)
{
    int64_t base = cls == BSUP_RETRY_THROTTLING ? p->throttling_base_ms : p->transient_base_ms;
    int64_t cap = p->max_backoff_ms;
    if (attempt < 1)
        attempt = 1;
    /* base x 2^(attempt-1), stopping as soon as it reaches the cap (no overflow). */
    int64_t ceiling = base;
    for (int i = 1; i < attempt && ceiling < cap; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    double r = p->rand_fn ? p->rand_fn(p->rand_ctx) : 1.0;
    if (!(r >= 0.0)) /* also NaN */
        r = 0.0;
    if (r > 1.0)
        r = 1.0;
    int64_t t = (int64_t)(r * (double)ceiling);
    if (retry_after_ms >= 0) {
        int64_t hi = t + p->retry_after_max_extra_ms;
        int64_t ra = retry_after_ms < hi ? retry_after_ms : hi;
        return ra > t ? ra : t;
    }
    return t;
}

/* ---- quota ---- */

void bsup_retry_quota_init(struct bsup_retry_quota *q, int capacity)
{
    q->capacity = capacity > 0 ? capacity : BSUP_RETRY_QUOTA_INITIAL;
    q->available = q->capacity;
}

bool bsup_retry_quota_acquire(struct bsup_retry_quota *q, int amount)
{
    if (amount < 0 || amount > q->available)
        return false;
    q->available -= amount;
    return true;
}

void bsup_retry_quota_release(struct bsup_retry_quota *q, int amount)
{
    if (amount <= 0)
        return;
    int room = q->capacity - q->available;
    q->available += amount < room ? amount : room;
}

/* ---- the decision ---- */

void bsup_retry_decide(const struct bsup_retry_policy *p, struct bsup_retry_quota *q,
                       struct bsup_retry_request *r, const struct bsup_retry_outcome *o,
                       struct bsup_retry_decision *out)
{
    memset(out, 0, sizeof(*out));
    r->attempts++;
    out->cls = bsup_retry_classify(o);
    if (out->cls == BSUP_RETRY_THROTTLING)
        r->throttles++;
    switch (out->cls) {
    case BSUP_RETRY_SUCCESS:
        bsup_retry_quota_release(q, r->last_cost ? r->last_cost : BSUP_RETRY_QUOTA_SUCCESS_REFUND);
        out->reason = "success";
        return;
    case BSUP_RETRY_NOT_RETRYABLE:
        out->reason = "not retryable";
        return;
    case BSUP_RETRY_TRANSIENT:
    case BSUP_RETRY_THROTTLING:
        break;
    }
    if (r->attempts >= p->max_attempts) {
        out->reason = "max attempts";
        return;
    }
    int cost = out->cls == BSUP_RETRY_THROTTLING ? BSUP_RETRY_QUOTA_THROTTLING_COST
                                                 : BSUP_RETRY_QUOTA_COST;
    if (!bsup_retry_quota_acquire(q, cost)) {
        out->reason = "quota";
        return;
    }
    r->last_cost = cost;
    out->retry = true;
    out->reason = "retry";
    out->delay_ms =
        bsup_retry_delay_ms(p, out->cls, r->attempts, bsup_retry_parse_retry_after(o->retry_after));
}

/* ---- clock skew ---- */

/* "Sun, 30 Aug 2015 12:36:00 GMT" (RFC 1123, the only form AWS sends). */
static int s_parse_http_date(const char *s, int64_t *out_s)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wday[4], mon[4], zone[4];
    int day, year, hh, mm, ss, n = 0;
    struct tm tm = {0};
    if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday, &day, mon, &year,
               &hh, &mm, &ss, zone, &n) != 8 ||
        s[n] != '\0' || strcmp(zone, "GMT") != 0)
        return BSUP_EPARSE;
    tm.tm_mon = -1;
    for (int i = 0; i < 12; i++)
        if (strcasecmp(mon, months[i]) == 0)
            tm.tm_mon = i;
    if (tm.tm_mon < 0 || day < 1 || day > 31 || year < 1970 || hh > 23 || mm > 59 || ss > 60)
        return BSUP_EPARSE;
    tm.tm_mday = day;
    tm.tm_year = year - 1900;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return BSUP_EPARSE;
    *out_s = (int64_t)t;
    return 0;
}

int bsup_retry_clock_skew(int64_t local_now_s, const char *date_header, const char *error_code,
                          int64_t *out_offset_s)
{
    int64_t server_s;
    *out_offset_s = 0;
    if (!s_in(s_skew_codes, S_COUNT(s_skew_codes), error_code))
        return 0;
    if (!date_header || s_parse_http_date(date_header, &server_s))
        return BSUP_EPARSE;
    int64_t skew = server_s - local_now_s;
    if (skew > BSUP_RETRY_CLOCK_SKEW_THRESHOLD_S || skew < -BSUP_RETRY_CLOCK_SKEW_THRESHOLD_S)
        *out_offset_s = skew;
    return 0;
}

/* ---- statistics ---- */

void bsup_retry_stats_add(struct bsup_retry_stats *s, const struct bsup_retry_request *r,
                          bool failed, int64_t latency_ms)
{
    uint64_t lat = latency_ms > 0 ? (uint64_t)latency_ms : 0;
    s->requests++;
    if (r) {
        s->retries += r->attempts > 1 ? (uint64_t)(r->attempts - 1) : 0;
        s->throttles += r->throttles > 0 ? (uint64_t)r->throttles : 0;
    }
    s->errors += failed ? 1 : 0;
    s->latency_sum_ms =
        s->latency_sum_ms + lat < s->latency_sum_ms ? UINT64_MAX : s->latency_sum_ms + lat;
    if (lat > s->latency_max_ms)
        s->latency_max_ms = lat;
}
