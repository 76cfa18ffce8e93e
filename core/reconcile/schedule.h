/* When each service reconciles: every interval, plus jitter; first runs spread over one
 * interval by a hash of the name so N services never fire at once; failing services back off
 * exponentially, capped. Pure arithmetic: time and randomness come from the caller. */
#ifndef BSUP_CORE_RECONCILE_SCHEDULE_H
#define BSUP_CORE_RECONCILE_SCHEDULE_H

#include <stdint.h>

#define BSUP_SCHEDULE_MAX_BACKOFF_MS (30 * 60 * 1000) /* a failing service: at most 30 min */

/* Delay before a service's first cycle: a stable point in [0, interval_ms) from its name. */
int64_t bsup_schedule_first_delay_ms(const char *service, int64_t interval_ms);
/* Delay from the end of a cycle to the next: interval_ms x 2^failures (capped at
 * max(interval_ms, BSUP_SCHEDULE_MAX_BACKOFF_MS)) + rand01 x jitter_ms. */
int64_t bsup_schedule_next_delay_ms(int64_t interval_ms, int64_t jitter_ms, unsigned failures,
                                    double rand01);

#endif
