#include "core/base/random.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t s_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void bsup_random_init(struct bsup_random *r, uint64_t seed)
{
    /* splitmix64 never yields four zero words, the one state xoshiro cannot leave. */
    for (int i = 0; i < 4; i++)
        r->s[i] = s_splitmix64(&seed);
}

uint64_t bsup_random_u64(struct bsup_random *r)
{
    uint64_t *s = r->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

double bsup_random_double01(struct bsup_random *r)
{
    return (double)(bsup_random_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t bsup_random_below(struct bsup_random *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Reject the top sliver of 2^64 that does not divide evenly by n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = bsup_random_u64(r);
    while (x >= limit);
    return x % n;
}

uint64_t bsup_random_seed(void)
{
    uint64_t seed;
    ssize_t n;
    do
        n = getrandom(&seed, sizeof(seed), GRND_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(seed))
        return seed;
    struct timespec rt = {0}, mono = {0};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t x = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    x ^= ((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec) << 1;
    x ^= (uint64_t)getpid() << 32;
    return s_splitmix64(&x);
}
