#include "core/base/buf.h"

#include "core/base/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MIN_CAP 64

/* The cap, kept far enough from SIZE_MAX that len + n + 1 never overflows. */
static size_t s_max(const struct bsup_buf *b)
{
    return b->max_bytes < SIZE_MAX / 2 ? b->max_bytes : SIZE_MAX / 2;
}

void bsup_buf_init(struct bsup_buf *b, size_t max_bytes, unsigned flags)
{
    *b = (struct bsup_buf)BSUP_BUF_INIT(max_bytes, flags);
}

/* Makes room for need bytes plus the NUL: doubles, clamped to max_bytes + 1. */
static int s_grow(struct bsup_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : S_MIN_CAP;
    while (cap < need + 1)
        cap *= 2;
    if (cap > s_max(b) + 1)
        cap = s_max(b) + 1;
    char *d;
    if (b->flags & BSUP_BUF_WIPE) {
        /* realloc could leave a copy of the secret behind: move it by hand. */
        d = malloc(cap);
        if (d && b->data) {
            memcpy(d, b->data, b->len + 1);
            bsup_secure_zero(b->data, b->cap);
            free(b->data);
        }
    } else {
        d = realloc(b->data, cap);
    }
    if (!d)
        return BSUP_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int bsup_buf_append(struct bsup_buf *b, const void *p, size_t n)
{
    if (b->err)
        return b->err;
    if (n > s_max(b) - b->len)
        return b->err = BSUP_ETOOBIG;
    if ((!b->data || b->len + n + 1 > b->cap) && s_grow(b, b->len + n) < 0)
        return b->err = BSUP_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int bsup_buf_puts(struct bsup_buf *b, const char *s)
{
    return bsup_buf_append(b, s, strlen(s));
}

int bsup_buf_putc(struct bsup_buf *b, char c)
{
    return bsup_buf_append(b, &c, 1);
}

int bsup_buf_int(struct bsup_buf *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    return bsup_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int bsup_buf_vprintf(struct bsup_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    if (b->err)
        return b->err;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return b->err = BSUP_EINVAL;
    if ((size_t)n < sizeof(small)) {
        int rc = bsup_buf_append(b, small, (size_t)n);
        if (b->flags & BSUP_BUF_WIPE)
            bsup_secure_zero(small, sizeof(small));
        return rc;
    }
    /* Longer: format in place once the room is there. */
    if ((size_t)n > s_max(b) - b->len)
        return b->err = BSUP_ETOOBIG;
    if (b->len + (size_t)n + 1 > b->cap && s_grow(b, b->len + (size_t)n) < 0)
        return b->err = BSUP_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int bsup_buf_printf(struct bsup_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = bsup_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 (RFC 3629: no overlongs, surrogates or
 * code points past U+10FFFF). */
static size_t s_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (c > 0xf4 || n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

int bsup_buf_json_key(struct bsup_buf *b, const char *key)
{
    char tmp[64];
    size_t n = strlen(key);
    if (n + 4 > sizeof(tmp)) {
        bsup_buf_puts(b, ",\"");
        bsup_buf_puts(b, key);
        return bsup_buf_puts(b, "\":");
    }
    /* One append: a status row has twenty of these. */
    tmp[0] = ',';
    tmp[1] = '"';
    memcpy(tmp + 2, key, n);
    tmp[n + 2] = '"';
    tmp[n + 3] = ':';
    return bsup_buf_append(b, tmp, n + 4);
}

int bsup_buf_json_int(struct bsup_buf *b, const char *key, int64_t v)
{
    bsup_buf_json_key(b, key);
    return bsup_buf_int(b, v);
}

int bsup_buf_json_string(struct bsup_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    bsup_buf_putc(b, '"');
    while (*p) {
        char esc[8];
        size_t n = 1;
        const char *rep = NULL;
        if (*p == '"')
            rep = "\\\"";
        else if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '\t')
            rep = "\\t";
        else if (*p == '\r')
            rep = "\\r";
        else if (*p == '\b')
            rep = "\\b";
        else if (*p == '\f')
            rep = "\\f";
        else if (*p < 0x20)
            rep = (snprintf(esc, sizeof(esc), "\\u%04X", *p), esc);
        else if (*p >= 0x80 && !(n = s_utf8_len(p)))
            rep = "\xef\xbf\xbd"; /* U+FFFD */
        if (rep) {
            bsup_buf_append(b, run, (size_t)(p - run));
            bsup_buf_puts(b, rep);
            p += n ? n : 1;
            run = p;
        } else {
            p += n;
        }
    }
    bsup_buf_append(b, run, (size_t)(p - run));
    return bsup_buf_putc(b, '"');
}

void bsup_buf_truncate(struct bsup_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

int bsup_buf_fail(struct bsup_buf *b, int err)
{
    if (!b->err)
        b->err = err;
    return b->err;
}

const char *bsup_buf_str(const struct bsup_buf *b)
{
    return b->data ? b->data : "";
}

int bsup_buf_take(struct bsup_buf *b, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!b->err && !b->data)
        bsup_buf_append(b, "", 0);
    if (b->err) {
        int err = b->err;
        bsup_buf_cleanup(b);
        return err;
    }
    *out = b->data;
    if (out_len)
        *out_len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return 0;
}

void bsup_buf_reset(struct bsup_buf *b)
{
    if (b->data) {
        if (b->flags & BSUP_BUF_WIPE)
            bsup_secure_zero(b->data, b->cap);
        b->data[0] = '\0';
    }
    b->len = 0;
    b->err = 0;
}

void bsup_buf_adopt(struct bsup_buf *b, char *data, size_t cap)
{
    bsup_buf_cleanup(b);
    b->data = data;
    b->cap = cap;
    data[0] = '\0';
}

void bsup_buf_cleanup(struct bsup_buf *b)
{
    if (!b)
        return;
    if (b->data && (b->flags & BSUP_BUF_WIPE))
        bsup_secure_zero(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}
