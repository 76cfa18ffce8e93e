#include "core/base/pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The data is a sequence of (zeros, n, n literal bytes), both counts as LEB128. A zero run
 * shorter than this stays in the literal: cutting it would cost as much as it saves. */
#define S_MIN_RUN 4

/* Writes v at out (NULL: only counts); returns its length. */
static size_t s_varint(unsigned char *out, size_t v)
{
    size_t n = 0;
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (out)
            out[n] = (unsigned char)(c | (v ? 0x80 : 0));
        n++;
    } while (v);
    return n;
}

/* The length of the run of zero bytes at p (at most n), a word at a time. */
static size_t s_zeros(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (uint64_t w; i + sizeof(w) <= n; i += sizeof(w)) {
        memcpy(&w, p + i, sizeof(w));
        if (w)
            break;
    }
    while (i < n && p[i] == 0)
        i++;
    return i;
}

/* Encodes p into out, which has room for s_bound(size) bytes; returns the data's length. */
static size_t s_encode(const unsigned char *p, size_t size, unsigned char *out)
{
    size_t len = 0, i = 0, zeros = s_zeros(p, size);
    while (i < size) {
        size_t lit = i + zeros, end = lit;
        zeros = 0;
        while (end < size) { /* the literal ends at a long zero run, or at the end */
            const unsigned char *z = memchr(p + end, 0, size - end);
            size_t at = z ? (size_t)(z - p) : size, run = s_zeros(p + at, size - at);
            end = at;
            if (run >= S_MIN_RUN || at + run == size) {
                zeros = run;
                break;
            }
            end += run;
        }
        len += s_varint(out + len, lit - i);
        len += s_varint(out + len, end - lit);
        memcpy(out + len, p + lit, end - lit);
        len += end - lit;
        i = end;
    }
    return len;
}

/* The most bytes s_encode writes for size: every record but the first and last covers at
 * least S_MIN_RUN zeros and a literal byte, and costs two counts besides its literal. */
static size_t s_bound(size_t size)
{
    size_t counts = s_varint(NULL, size);
    return size + (size / (S_MIN_RUN + 1) + 2) * 2 * counts;
}

struct bsup_pack *bsup_pack(const void *p, size_t size)
{
    struct bsup_pack *pk = malloc(sizeof(*pk) + s_bound(size));
    if (!pk)
        return NULL;
    pk->size = size;
    pk->len = s_encode(p, size, pk->data);
    struct bsup_pack *fit = realloc(pk, sizeof(*pk) + pk->len);
    return fit ? fit : pk;
}

static size_t s_read(const unsigned char *data, size_t len, size_t *at)
{
    size_t v = 0;
    for (unsigned shift = 0; *at < len && shift < 64; shift += 7) {
        unsigned char c = data[(*at)++];
        v |= (size_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
    }
    return v;
}

void bsup_unpack(const struct bsup_pack *pk, void *out)
{
    unsigned char *o = out;
    size_t at = 0, w = 0;
    memset(out, 0, pk->size);
    while (at < pk->len && w < pk->size) {
        size_t zeros = s_read(pk->data, pk->len, &at);
        size_t n = s_read(pk->data, pk->len, &at);
        w += zeros < pk->size - w ? zeros : pk->size - w;
        if (n > pk->size - w || n > pk->len - at)
            return; /* cannot happen with data bsup_pack wrote; never past the record */
        memcpy(o + w, pk->data + at, n);
        w += n;
        at += n;
    }
}
