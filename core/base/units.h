/* Durations ("90s", "5m", "26h", "7d"; a bare number is seconds) and sizes
 * ("512", "64KiB", "16MiB", "1GiB"; a bare number is bytes). */
#ifndef BSUP_CORE_BASE_UNITS_H
#define BSUP_CORE_BASE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* 0 and *out_s, or BSUP_EINVAL (not a duration) / BSUP_ETOOBIG (overflows). */
int bsup_duration_parse(const char *text, int64_t *out_s);
/* Writes the shortest exact form ("90s", "5m", "26h", "7d") into buf. */
void bsup_duration_format(int64_t s, char *buf, size_t len);
/* 0 and *out_bytes, or BSUP_EINVAL / BSUP_ETOOBIG. */
int bsup_size_parse(const char *text, int64_t *out_bytes);
/* Strict whole-number parse of a decimal integer, optional leading '-'. 0 or BSUP_EINVAL. */
int bsup_int_parse(const char *text, int64_t *out);

#endif
