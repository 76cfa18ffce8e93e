/* SHA-256 and lower-case hex, as SigV4 and the stored content hashes write them. */
#ifndef BSUP_CORE_BASE_SHA256_H
#define BSUP_CORE_BASE_SHA256_H

#include <stddef.h>

#define BSUP_SHA256_HEX_LEN 64

/* The n bytes of in as 2n lower-case hex digits and a NUL, into out (2n + 1 bytes). */
void bsup_hex(const unsigned char *in, size_t n, char *out);

/* SHA-256 of len bytes of data (NULL with len 0: of nothing) in hex. 0 or BSUP_ECRYPTO. */
int bsup_sha256_hex(const void *data, size_t len, char out[BSUP_SHA256_HEX_LEN + 1]);

#endif
