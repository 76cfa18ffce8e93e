#include "core/base/percent.h"

static const char s_hex_upper[] = "0123456789ABCDEF";

int bsup_percent_encode(struct bsup_buf *b, const char *src, size_t n, unsigned flags)
{
    size_t run = 0; /* bytes that stay, appended in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (bsup_percent_is_unreserved(c) || (c == '/' && (flags & BSUP_PERCENT_KEEP_SLASH))) {
            run++;
            continue;
        }
        char esc[3] = {'%', s_hex_upper[c >> 4], s_hex_upper[c & 15]};
        if (run)
            bsup_buf_append(b, src + i - run, run);
        bsup_buf_append(b, esc, 3);
        run = 0;
    }
    return run ? bsup_buf_append(b, src + n - run, run) : b->err;
}

static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t bsup_percent_decode(const char *src, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (src[i] == '%' && i + 2 < n && (hi = s_hexval(src[i + 1])) >= 0 &&
            (lo = s_hexval(src[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = src[i];
        }
    }
    out[o] = '\0';
    return o;
}
