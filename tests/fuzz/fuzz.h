/* The libFuzzer entry points every tests/fuzz/fuzz_<target>.c defines. Built with clang and
 * -fsanitize=fuzzer they are fuzzers (scripts/fuzz); built with replay.c by any compiler they
 * replay the committed corpus (ctest -L fuzz). A target must accept any bytes, keep no state
 * between calls that changes its result, and free everything it allocates. */
#ifndef BSUP_TESTS_FUZZ_FUZZ_H
#define BSUP_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: called once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: report it and abort, so libFuzzer keeps the input as a crash. */
#define BSUP_FUZZ_CHECK(cond)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
