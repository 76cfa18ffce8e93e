/* Percent-encoding (RFC 3986) as AWS wants it: the unreserved set A-Z a-z 0-9 - . _ ~ stays,
 * every other byte becomes %XX with upper-case hex. Byte-wise and locale-independent: UTF-8
 * text is encoded byte by byte, whatever the process locale says about letters. Used by SigV4
 * canonicalisation and the Query form serialiser. */
#ifndef BSUP_CORE_BASE_PERCENT_H
#define BSUP_CORE_BASE_PERCENT_H

#include "core/base/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define BSUP_PERCENT_KEEP_SLASH 0x1u /* '/' stays as it is (paths) */

/* Whether c is in the RFC 3986 unreserved set. Inline: the Query serialiser asks for every
 * byte of a 1000-datum PutMetricData twice. */
static inline bool bsup_percent_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends src[0..n) to b, encoded. 0, or b's sticky error (BSUP_ETOOBIG, BSUP_ENOMEM). */
int bsup_percent_encode(struct bsup_buf *b, const char *src, size_t n, unsigned flags);

/* Decodes %XX escapes (either hex case) of src[0..n) into out, which has room for n + 1
 * bytes, and NUL-terminates it. A malformed escape stays literal; '+' stays '+' (our
 * builders encode a space as %20). Returns the decoded length (out may hold NULs). */
size_t bsup_percent_decode(const char *src, size_t n, char *out);

#endif
