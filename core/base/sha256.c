/* SHA-256 and lower-case hex (without printf: the loader hashes every service). */
#include "core/base/sha256.h"

#include "core/base/error.h"

#include <openssl/evp.h>

void bsup_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int bsup_sha256_hex(const void *data, size_t len, char out[BSUP_SHA256_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int md_len = 0;
    if (!EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return BSUP_ECRYPTO;
    bsup_hex(md, 32, out);
    return 0;
}
