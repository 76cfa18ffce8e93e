/* A growable byte buffer with a hard cap (curl's dynbuf idea): no input can make it grow
 * beyond max_bytes. The first failure (BSUP_ETOOBIG past the cap, BSUP_ENOMEM) sticks: later
 * appends do nothing and return it, so a builder appends freely and checks once at the end.
 * With BSUP_BUF_WIPE every byte is wiped before memory is freed or moved (secrets).
 * Zero-initialised is not valid: use BSUP_BUF_INIT or bsup_buf_init. */
#ifndef BSUP_CORE_BASE_BUF_H
#define BSUP_CORE_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define BSUP_BUF_WIPE 0x1u /* holds secrets: wipe on grow, reset and cleanup */

struct bsup_buf {
    char *data;       /* NUL-terminated after len bytes; NULL until the first append */
    size_t len;       /* bytes held, the NUL not counted */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* len never exceeds this (nor SIZE_MAX / 2) */
    unsigned flags;   /* BSUP_BUF_WIPE */
    int err;          /* 0, or the first failure; sticks until reset */
};

#define BSUP_BUF_INIT(max_bytes, flags)                                                            \
    {                                                                                              \
        NULL, 0, 0, (max_bytes), (flags), 0                                                        \
    }

void bsup_buf_init(struct bsup_buf *b, size_t max_bytes, unsigned flags);

/* Appends n bytes (which may contain NULs). 0, or the sticky error. */
int bsup_buf_append(struct bsup_buf *b, const void *p, size_t n);
int bsup_buf_puts(struct bsup_buf *b, const char *s);
int bsup_buf_putc(struct bsup_buf *b, char c);
/* Appends v in decimal (without printf: status writes tens of thousands of them). */
int bsup_buf_int(struct bsup_buf *b, int64_t v);
int bsup_buf_printf(struct bsup_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int bsup_buf_vprintf(struct bsup_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Appends s as a JSON string: quoted, with '"', '\\' and control characters escaped (as
 * jansson writes them) and every byte that is not valid UTF-8 as U+FFFD, so the text is always
 * valid JSON. For replies written without building objects (status rows). */
int bsup_buf_json_string(struct bsup_buf *b, const char *s);

/* Appends ,"key": — the start of a JSON object's member after another (key a literal that
 * needs no escaping) — and, with _int, the member's value. For replies written as text. */
int bsup_buf_json_key(struct bsup_buf *b, const char *key);
int bsup_buf_json_int(struct bsup_buf *b, const char *key, int64_t v);

/* Cuts the content back to its first len bytes (len <= b->len; larger does nothing). */
void bsup_buf_truncate(struct bsup_buf *b, size_t len);

/* Records err as the sticky error unless one is already there, for a builder's own failure
 * (a helper allocation) that take() should report. Returns the sticky error. */
int bsup_buf_fail(struct bsup_buf *b, int err);

/* The content so far, NUL-terminated; "" while empty. Valid until the next append. */
const char *bsup_buf_str(const struct bsup_buf *b);

/* Hands the content over: 0 and *out (caller frees; "" when empty, never NULL) and *out_len
 * (may be NULL); b is empty again. On a sticky error returns it, frees the content and sets
 * *out = NULL. */
int bsup_buf_take(struct bsup_buf *b, char **out, size_t *out_len);

/* Empties b and clears the error; the memory is kept for reuse. */
void bsup_buf_reset(struct bsup_buf *b);
/* Frees the memory and clears the error; b stays usable (empty, same max_bytes and flags).
 * Accepts a zeroed buffer. */
void bsup_buf_cleanup(struct bsup_buf *b);
/* Empties b into data, a malloc'd allocation of cap bytes (at least 1) that b then owns: a
 * builder reuses an allocation whose pages are already resident. */
void bsup_buf_adopt(struct bsup_buf *b, char *data, size_t cap);

#endif
