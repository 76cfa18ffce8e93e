/* Scalar wire formats shared by the AWS codecs: timestamps, base64, numbers. */
#ifndef BSUP_CORE_AWS_WIRE_H
#define BSUP_CORE_AWS_WIRE_H

#include <stddef.h>

/* Formats epoch seconds as format "iso8601" (default when NULL: 2015-01-25T08:00:00Z,
 * with .ffffff when fractional), "unixTimestamp" (1422172800) or "rfc822" (HTTP date). */
int bsup_wire_format_timestamp(double epoch_s, const char *format, char *buf, size_t size);
/* Parses ISO 8601 (with optional fraction and Z/±hh:mm), HTTP date or epoch seconds. */
int bsup_wire_parse_timestamp(const char *text, double *out_epoch_s);
/* Shortest decimal text that reads back as the same double ("10.8"); NaN/Infinity as AWS
 * writes them. */
int bsup_wire_format_double(double v, char *buf, size_t size);
/* Base64 (standard alphabet, padded) of len bytes into a new NUL-terminated string. */
int bsup_wire_base64_encode(const void *data, size_t len, char **out);
/* Decodes standard base64 into a new buffer (NUL-terminated for convenience). */
int bsup_wire_base64_decode(const char *text, unsigned char **out, size_t *out_len);

#endif
