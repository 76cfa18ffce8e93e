/* Scalar wire formats: timestamps, numbers and base64 as AWS protocols write them. */
#include "core/aws/wire.h"

#include "core/base/error.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int bsup_wire_format_timestamp(double epoch_s, const char *format, char *buf, size_t size)
{
    if (!isfinite(epoch_s) || fabs(epoch_s) > 1e13)
        return BSUP_EINVAL;
    double whole = floor(epoch_s);
    long usec = lround((epoch_s - whole) * 1e6);
    if (usec == 1000000) { /* rounds up to the next second, not to ".1000000" */
        whole += 1;
        usec = 0;
    }
    time_t t = (time_t)whole;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return BSUP_EINVAL;
    int n;
    if (format && strcmp(format, "unixTimestamp") == 0) {
        if (usec)
            n = snprintf(buf, size, "%.3f", epoch_s);
        else
            n = snprintf(buf, size, "%lld", (long long)t);
    } else if (format && strcmp(format, "rfc822") == 0) {
        n = (int)strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (n == 0)
            return BSUP_ETOOBIG;
    } else {
        char base[32];
        if (!strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm))
            return BSUP_ETOOBIG;
        if (usec)
            n = snprintf(buf, size, "%s.%06ldZ", base, usec);
        else
            n = snprintf(buf, size, "%sZ", base);
    }
    return n < 0 || (size_t)n >= size ? BSUP_ETOOBIG : 0;
}

static bool s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int bsup_wire_parse_timestamp(const char *text, double *out_epoch_s)
{
    struct tm tm = {0};
    const char *end;
    if (!text || !*text)
        return BSUP_EPARSE;
    char *num_end;
    double v = strtod(text, &num_end);
    if (*num_end == '\0' && num_end != text && (strnlen(text, 5) < 5 || text[4] != '-')) {
        *out_epoch_s = v;
        return 0;
    }
    end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        end = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
    double frac = 0;
    long offset_s = 0;
    if (end) {
        if (*end == '.') { /* digits only: strtod alone would also take ".5e3" (500 s) */
            size_t n = 0;
            while (s_is_digit(end[1 + n]))
                n++;
            if (n == 0)
                return BSUP_EPARSE;
            char digits[32] = "0.";
            memcpy(digits + 2, end + 1, n < sizeof(digits) - 3 ? n : sizeof(digits) - 3);
            frac = strtod(digits, NULL);
            end += 1 + n;
        }
        if (*end == 'Z' || *end == 'z') {
            end++;
        } else if (*end == '+' || *end == '-') {
            /* Exactly "+hh:mm"; each test stops at the text's NUL. */
            const char *o = end + 1;
            if (!s_is_digit(o[0]) || !s_is_digit(o[1]) || o[2] != ':' || !s_is_digit(o[3]) ||
                !s_is_digit(o[4]))
                return BSUP_EPARSE;
            long hh = (o[0] - '0') * 10 + (o[1] - '0'), mm = (o[3] - '0') * 10 + (o[4] - '0');
            offset_s = (hh * 3600L + mm * 60L) * (*end == '-' ? -1 : 1);
            end = o + 5;
        }
    } else {
        end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    }
    if (!end || *end)
        return BSUP_EPARSE;
    *out_epoch_s = (double)timegm(&tm) - (double)offset_s + frac;
    return 0;
}

int bsup_wire_format_double(double v, char *buf, size_t size)
{
    int n;
    if (isnan(v)) {
        n = snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        n = snprintf(buf, size, "%sInfinity", v < 0 ? "-" : "");
    } else {
        n = -1;
        for (int prec = 1; prec <= 17; prec++) {
            n = snprintf(buf, size, "%.*g", prec, v);
            if (n < 0 || (size_t)n >= size)
                return BSUP_ETOOBIG;
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return n < 0 || (size_t)n >= size ? BSUP_ETOOBIG : 0;
}

int bsup_wire_base64_encode(const void *data, size_t len, char **out)
{
    *out = NULL;
    if (len > (size_t)1 << 30)
        return BSUP_ETOOBIG;
    char *s = malloc(4 * ((len + 2) / 3) + 1);
    if (!s)
        return BSUP_ENOMEM;
    EVP_EncodeBlock((unsigned char *)s, data, (int)len);
    *out = s;
    return 0;
}

int bsup_wire_base64_decode(const char *text, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(text), pad = 0;
    *out = NULL;
    *out_len = 0;
    while (pad < len && text[len - 1 - pad] == '=')
        pad++;
    /* At most "==", and only at the end: EVP_DecodeBlock takes "====" for three bytes. */
    if (len % 4 || len > (size_t)1 << 30 || pad > 2 || memchr(text, '=', len - pad))
        return BSUP_EPARSE;
    unsigned char *b = malloc(len / 4 * 3 + 1);
    if (!b)
        return BSUP_ENOMEM;
    int n = EVP_DecodeBlock(b, (const unsigned char *)text, (int)len);
    if (n < 0) {
        free(b);
        return BSUP_EPARSE;
    }
    n -= (int)pad; /* EVP_DecodeBlock counts padding as zero bytes */
    b[n] = '\0';
    *out = b;
    *out_len = (size_t)n;
    return 0;
}
