/* Fixed-size records kept compactly. A domain's observation or a plan's actions is a struct of
 * fixed char arrays, mostly their unused zero tails (an alarms observation is 7.4 KB, of which
 * a few hundred bytes say something). What the engine keeps between cycles for every service
 * is packed: the zero runs are left out, the rest is copied as it is. Working copies (a cycle's
 * observations, a status row) are unpacked into full structs, so domains never see the form. */
#ifndef BSUP_CORE_BASE_PACK_H
#define BSUP_CORE_BASE_PACK_H

#include <stddef.h>

struct bsup_pack {
    size_t size; /* bytes of the record */
    size_t len;  /* bytes of data */
    unsigned char data[];
};

/* A packed copy of size bytes at p (one allocation: free() it), or NULL on out of memory. */
struct bsup_pack *bsup_pack(const void *p, size_t size);
/* Writes the record back: pk->size bytes at out. */
void bsup_unpack(const struct bsup_pack *pk, void *out);

#endif
