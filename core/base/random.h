/* Pseudo-random numbers for jitter and backoff (never for secrets): xoshiro256** with its
 * state seeded through splitmix64. Each owner keeps its own generator, so there is no hidden
 * global state, and a fixed seed makes a test reproducible. */
#ifndef BSUP_CORE_BASE_RANDOM_H
#define BSUP_CORE_BASE_RANDOM_H

#include <stdint.h>

struct bsup_random {
    uint64_t s[4];
};

/* Seeds r; any seed (0 included) gives a good, distinct sequence. */
void bsup_random_init(struct bsup_random *r, uint64_t seed);
/* The next 64 random bits. */
uint64_t bsup_random_u64(struct bsup_random *r);
/* A uniform double in [0, 1) with 53 random bits. */
double bsup_random_double01(struct bsup_random *r);
/* A uniform integer in [0, n) without modulo bias; 0 when n is 0. */
uint64_t bsup_random_below(struct bsup_random *r, uint64_t n);

/* A seed from getrandom(2). Should the kernel refuse (no entropy source, seccomp), the
 * fallback mixes CLOCK_REALTIME, CLOCK_MONOTONIC and the pid: good enough to keep processes
 * that start together from jittering in step, which is all a seed here is for. */
uint64_t bsup_random_seed(void);

#endif
