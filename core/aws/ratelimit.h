/* Client-side token buckets per AWS API family, so bsupd stays a good citizen of the account's
 * throttling buckets (which it shares with everything else the operator runs). A bucket slows
 * down by half when AWS throttles, and recovers by 5% of its base rate per second of calm. */
#ifndef BSUP_CORE_AWS_RATELIMIT_H
#define BSUP_CORE_AWS_RATELIMIT_H

#include "core/aws/services.h"

#include <stdbool.h>
#include <stdint.h>

struct bsup_api_family_info {
    const char *name;    /* as in bsupd.yaml's rate_limits: "elbv2_describe" */
    const char *service; /* endpoint prefix: "elasticloadbalancing"; "" for OTHER */
    int64_t burst;       /* default: calls at once */
    int64_t rate_per_s;  /* default: calls per second after the burst */
    int64_t aws_burst;   /* AWS's bucket these calls draw from too; 0: not published */
    int64_t aws_rate_per_s;
    const char *source; /* where AWS publishes it */
};

/* The defaults, indexed by enum bsup_api_family; rows come from BSUP_API_FAMILY_MAP. Each is
 * strictly below AWS's published bucket (or, where none is published, conservative). */
extern const struct bsup_api_family_info bsup_api_families[BSUP_API_FAMILY_COUNT];

/* The family of an operation (service: our name or endpoint prefix) as the generated operation
 * table says (core/aws/model.h); BSUP_API_OTHER for operations it does not list. */
enum bsup_api_family bsup_api_family_of(const char *service, const char *action);
/* -1 when unknown. */
int bsup_api_family_by_name(const char *name);

struct bsup_bucket {
    double tokens;
    double burst;
    double base_rate_per_s;
    double rate_per_s; /* current: base, or lower after throttling */
    int64_t updated_ms;
    int64_t calm_since_ms; /* last throttle, for slow recovery */
    uint64_t throttles;
    uint64_t waits;
};

void bsup_bucket_init(struct bsup_bucket *b, int64_t burst, int64_t rate_per_s, int64_t now_ms);
/* Takes one token: returns 0 when the call may go now, else how many ms to wait first. The
 * token is reserved either way: the caller goes after that wait without taking again, so
 * waiting calls form a FIFO queue and each wakes exactly once. */
int64_t bsup_bucket_take(struct bsup_bucket *b, int64_t now_ms);
/* AWS said "throttled": halve the rate (down to 5% of base) and drain the bucket (tokens
 * already reserved by waiting calls stay reserved). */
void bsup_bucket_on_throttle(struct bsup_bucket *b, int64_t now_ms);

#endif
