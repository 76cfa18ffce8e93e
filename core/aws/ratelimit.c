#include "core/aws/ratelimit.h"

#include "core/aws/model.h"

#include <math.h>
#include <string.h>

const struct bsup_api_family_info bsup_api_families[BSUP_API_FAMILY_COUNT] = {
#define S_ROW(id, name, prefix, burst, rate, aws_burst, aws_rate, source)                          \
    [BSUP_API_##id] = {#name, prefix, burst, rate, aws_burst, aws_rate, source},
    BSUP_API_FAMILY_MAP(S_ROW)
#undef S_ROW
};

enum bsup_api_family bsup_api_family_of(const char *service, const char *action)
{
    const struct bsup_aws_operation *op = bsup_aws_operation_find(service, action);
    return op ? op->family : BSUP_API_OTHER;
}

int bsup_api_family_by_name(const char *name)
{
    for (int f = 0; f < BSUP_API_FAMILY_COUNT; f++)
        if (strcmp(bsup_api_families[f].name, name) == 0)
            return f;
    return -1;
}

void bsup_bucket_init(struct bsup_bucket *b, int64_t burst, int64_t rate_per_s, int64_t now_ms)
{
    memset(b, 0, sizeof(*b));
    b->burst = burst > 0 ? (double)burst : 1;
    b->base_rate_per_s = rate_per_s > 0 ? (double)rate_per_s : 1;
    b->rate_per_s = b->base_rate_per_s;
    b->tokens = b->burst;
    b->updated_ms = now_ms;
    b->calm_since_ms = now_ms;
}

static void s_refill(struct bsup_bucket *b, int64_t now_ms)
{
    if (now_ms <= b->updated_ms)
        return;
    double dt_s = (double)(now_ms - b->updated_ms) / 1000.0;
    /* Recover 5% of the base rate per calm second, up to the base rate. */
    if (b->rate_per_s < b->base_rate_per_s) {
        double calm_s = (double)(now_ms - b->calm_since_ms) / 1000.0;
        if (calm_s > 0) {
            b->rate_per_s += b->base_rate_per_s * 0.05 * dt_s;
            if (b->rate_per_s > b->base_rate_per_s)
                b->rate_per_s = b->base_rate_per_s;
        }
    }
    b->tokens += dt_s * b->rate_per_s;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    b->updated_ms = now_ms;
}

int64_t bsup_bucket_take(struct bsup_bucket *b, int64_t now_ms)
{
    s_refill(b, now_ms);
    /* The token is reserved now: callers queue in order, each woken once at its own time. */
    b->tokens -= 1.0;
    if (b->tokens >= 0.0)
        return 0;
    b->waits++;
    int64_t wait_ms = (int64_t)ceil(-b->tokens / b->rate_per_s * 1000.0 - 1e-6);
    return wait_ms > 0 ? wait_ms : 1;
}

void bsup_bucket_on_throttle(struct bsup_bucket *b, int64_t now_ms)
{
    s_refill(b, now_ms);
    b->throttles++;
    b->rate_per_s /= 2;
    if (b->rate_per_s < b->base_rate_per_s * 0.05)
        b->rate_per_s = b->base_rate_per_s * 0.05;
    if (b->tokens > 0)
        b->tokens = 0; /* reservations already made (negative tokens) stay in line */
    b->calm_since_ms = now_ms;
}
