#include "core/reconcile/schedule.h"

int64_t bsup_schedule_first_delay_ms(const char *service, int64_t interval_ms)
{
    /* FNV-1a: stable across restarts and machines, spreads similar names apart. */
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)service; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return interval_ms > 0 ? (int64_t)(h % (uint64_t)interval_ms) : 0;
}

int64_t bsup_schedule_next_delay_ms(int64_t interval_ms, int64_t jitter_ms, unsigned failures,
                                    double rand01)
{
    int64_t cap =
        interval_ms > BSUP_SCHEDULE_MAX_BACKOFF_MS ? interval_ms : BSUP_SCHEDULE_MAX_BACKOFF_MS;
    int64_t delay = interval_ms;
    for (unsigned i = 0; i < failures && delay < cap; i++)
        delay *= 2;
    if (delay > cap)
        delay = cap;
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 >= 1)
        rand01 = 0.999999;
    return delay + (int64_t)(rand01 * (double)jitter_ms);
}
