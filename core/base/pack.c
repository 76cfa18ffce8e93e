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

/* Encodes p into out (NULL: only counts); returns the data's length. */
static size_t s_encode(const unsigned char *p, size_t size, unsigned char *out)
{
    size_t len = 0, i = 0;
    while (i < size) {
        size_t lit = i;
        while (lit < size && p[lit] == 0)
            lit++;
        size_t end = lit;
        while (end < size) {
            if (p[end] != 0) {
                end++;
                continue;
            }
            size_t z = 0;
            while (end + z < size && z < S_MIN_RUN && p[end + z] == 0)
                z++;
            if (z == S_MIN_RUN || end + z == size)
                break;
            end += z;
        }
        len += s_varint(out ? out + len : NULL, lit - i);
        len += s_varint(out ? out + len : NULL, end - lit);
        if (out)
            memcpy(out + len, p + lit, end - lit);
        len += end - lit;
        i = end;
    }
    return len;
}

struct bsup_pack *bsup_pack(const void *p, size_t size)
{
    size_t len = s_encode(p, size, NULL);
    struct bsup_pack *pk = malloc(sizeof(*pk) + len);
    if (!pk)
        return NULL;
    pk->size = size;
    pk->len = s_encode(p, size, pk->data);
    return pk;
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
