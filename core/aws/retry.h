/* Standard-mode retries as botocore retries/standard.py defines them (with the "retry behavior
 * 2.1" numbers), the shared retry quota, clock-skew detection and per-service statistics.
 * Pure: randomness and time are injected. docs/aws-client.md lists every number. */
#ifndef BSUP_CORE_AWS_RETRY_H
#define BSUP_CORE_AWS_RETRY_H

#include "core/base/random.h"

#include <stdbool.h>
#include <stdint.h>

#define BSUP_RETRY_MAX_ATTEMPTS 3          /* attempts in total, first one included */
#define BSUP_RETRY_TRANSIENT_BASE_MS 50    /* backoff base for transient errors */
#define BSUP_RETRY_THROTTLING_BASE_MS 1000 /* backoff base for throttling errors */
#define BSUP_RETRY_MAX_BACKOFF_MS 20000    /* cap of base x 2^(attempt-1) */
#define BSUP_RETRY_AFTER_MAX_EXTRA_MS 5000 /* x-amz-retry-after may add at most this */
#define BSUP_RETRY_QUOTA_INITIAL 500
#define BSUP_RETRY_QUOTA_COST 14           /* per retry of a transient error */
#define BSUP_RETRY_QUOTA_THROTTLING_COST 5 /* per retry of a throttling error */
#define BSUP_RETRY_QUOTA_SUCCESS_REFUND 1  /* success without any retry */
#define BSUP_RETRY_CLOCK_SKEW_THRESHOLD_S 240

enum bsup_retry_class {
    BSUP_RETRY_SUCCESS,       /* 2xx, no error code, no transport error */
    BSUP_RETRY_NOT_RETRYABLE, /* any other 4xx, unknown codes, ... */
    BSUP_RETRY_TRANSIENT,     /* 500/502/503/504, transport errors, transient codes */
    BSUP_RETRY_THROTTLING,    /* throttling codes and 429 */
};

/* What one attempt produced. */
struct bsup_retry_outcome {
    int http_status;           /* 0 when no response arrived */
    const char *error_code;    /* the service's error code ("Throttling"), or NULL */
    bool transport_error;      /* connect/reset/timeout: no complete response */
    const char *retry_after;   /* x-amz-retry-after header (milliseconds), or NULL */
    bool clock_skew_corrected; /* caller applied a new offset (bsup_retry_clock_skew) */
};

/* "success", "not-retryable", "transient", "throttling". */
const char *bsup_retry_class_name(enum bsup_retry_class cls);
/* Classifies an outcome; error codes are looked at before the status. A clock-skew error code
 * is transient only when clock_skew_corrected is set (then a re-signed retry can succeed). */
enum bsup_retry_class bsup_retry_classify(const struct bsup_retry_outcome *outcome);

/* Returns a uniform double in [0, 1). */
typedef double (*bsup_retry_rand_fn)(void *ctx);

struct bsup_retry_policy {
    int max_attempts;
    int64_t transient_base_ms;
    int64_t throttling_base_ms;
    int64_t max_backoff_ms;
    int64_t retry_after_max_extra_ms;
    bsup_retry_rand_fn rand_fn;
    void *rand_ctx;
    struct bsup_random rng; /* used when rand_ctx points here (the default) */
};

/* Defaults above, rand_fn drawing from p->rng (core/base/random.h) seeded with seed: the
 * daemon passes bsup_random_seed(), tests a constant. rand_ctx then points into *p:
 * initialise the policy where it lives rather than copying it. */
void bsup_retry_policy_init(struct bsup_retry_policy *p, uint64_t seed);

/* The delay before retrying after failed attempt number attempt (1-based):
 * rand() x min(base x 2^(attempt-1), max_backoff) with base by class; with a valid
 * retry_after_ms (>= 0) the result is max(t, min(retry_after_ms, t + max_extra)). */
int64_t bsup_retry_delay_ms(const struct bsup_retry_policy *p, enum bsup_retry_class cls,
                            int attempt, int64_t retry_after_ms);
/* Parses an x-amz-retry-after value (integer milliseconds); -1 when absent or invalid. */
int64_t bsup_retry_parse_retry_after(const char *value);

/* The retry quota shared by all requests to one service endpoint (token bucket). */
struct bsup_retry_quota {
    int available;
    int capacity;
};
/* capacity <= 0: BSUP_RETRY_QUOTA_INITIAL. */
void bsup_retry_quota_init(struct bsup_retry_quota *q, int capacity);
/* Takes amount when available (true), else leaves the quota alone (false). */
bool bsup_retry_quota_acquire(struct bsup_retry_quota *q, int amount);
/* Gives back amount, never above capacity. */
void bsup_retry_quota_release(struct bsup_retry_quota *q, int amount);

/* Per-request state: zero it before the first attempt. */
struct bsup_retry_request {
    int attempts;  /* attempts made so far */
    int last_cost; /* quota taken by the latest retry; 0 when none happened */
    int throttles; /* attempts that were throttled */
};

struct bsup_retry_decision {
    bool retry;
    enum bsup_retry_class cls;
    int64_t delay_ms;
    const char *reason; /* "retry", "success", "not retryable", "max attempts", "quota" */
};

/* Records one finished attempt and says whether to retry and after how long. On success it
 * refunds the quota (1 when no retry happened, else the cost of the last retry). */
void bsup_retry_decide(const struct bsup_retry_policy *p, struct bsup_retry_quota *q,
                       struct bsup_retry_request *r, const struct bsup_retry_outcome *outcome,
                       struct bsup_retry_decision *out);

/* Clock skew: when error_code is a skew error (RequestTimeTooSkewed, SignatureDoesNotMatch,
 * InvalidSignatureException, RequestExpired, RequestInTheFuture, ...) and the server's Date
 * header (RFC 1123, "Sun, 30 Aug 2015 12:36:00 GMT") is more than 240 s from local_now_s, sets
 * *out_offset_s = server - local (add it to the signing time); else sets 0.
 * 0, or BSUP_EPARSE when a skew error came with an unreadable Date. */
int bsup_retry_clock_skew(int64_t local_now_s, const char *date_header, const char *error_code,
                          int64_t *out_offset_s);

/* Per-service statistics, added once per finished request. */
struct bsup_retry_stats {
    uint64_t requests;
    uint64_t retries;
    uint64_t throttles;
    uint64_t errors; /* requests that finally failed */
    uint64_t latency_sum_ms;
    uint64_t latency_max_ms;
};
void bsup_retry_stats_add(struct bsup_retry_stats *s, const struct bsup_retry_request *r,
                          bool failed, int64_t latency_ms);

#endif
