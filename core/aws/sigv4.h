/* AWS Signature Version 4 (header signing) with OpenSSL 3. Pure: no I/O, time is passed in.
 * The canonical request follows the AWS spec for every service except S3 (see
 * BSUP_SIGV4_NO_NORMALIZE_PATH); tests walk the official vectors in tests/data/sigv4. */
#ifndef BSUP_CORE_AWS_SIGV4_H
#define BSUP_CORE_AWS_SIGV4_H

#include "core/aws/credentials.h"
#include "core/aws/request.h"

#include <stdint.h>

/* S3 rule: sign the path as sent, without dot-segment/slash normalisation or double encoding. */
#define BSUP_SIGV4_NO_NORMALIZE_PATH 0x1u
/* Add X-Amz-Security-Token after signing instead of signing it (services that require it). */
#define BSUP_SIGV4_TOKEN_UNSIGNED 0x2u

#define BSUP_SIGV4_AMZ_DATE_LEN 16 /* "20150830T123600Z" */
#define BSUP_SIGV4_HEX_LEN 64      /* SHA-256 / HMAC-SHA256 in lower-case hex */

/* Caches one derived signing key. The caller owns it (one per signer thread); the secret itself
 * is never stored, only a SHA-256 fingerprint of (access key id, secret) used as the cache key.
 * bsup_sigv4_cache_cleanup wipes it. A zeroed struct is a valid empty cache. */
struct bsup_sigv4_cache {
    int valid;
    char date[9]; /* "20150830" */
    char region[64];
    char service[64];
    unsigned char identity[32];    /* SHA-256("bsup-sigv4\0" access_key_id "\0" secret) */
    unsigned char signing_key[32]; /* kSigning */
    uint64_t hits;                 /* for tests and status */
    uint64_t misses;
};

void bsup_sigv4_cache_init(struct bsup_sigv4_cache *cache);
/* Wipes the key; accepts a zeroed or never-used cache. */
void bsup_sigv4_cache_cleanup(struct bsup_sigv4_cache *cache);

/* Signs req in place for (region, service) at now_s (Unix time): sets X-Amz-Date, sets
 * X-Amz-Security-Token when creds has a session token, then sets Authorization. Existing
 * headers of those names are replaced, so a request can be re-signed for a retry. The payload
 * hash is the x-amz-content-sha256 header when present, else SHA-256 of the body.
 * cache may be NULL. 0, BSUP_EINVAL, BSUP_ENOMEM, BSUP_ETOOBIG or BSUP_ECRYPTO. */
int bsup_sigv4_sign(struct bsup_aws_request *req, const struct bsup_aws_credentials *creds,
                    const char *region, const char *service, int64_t now_s,
                    struct bsup_sigv4_cache *cache);
/* Same with BSUP_SIGV4_* flags. */
int bsup_sigv4_sign_ex(struct bsup_aws_request *req, const struct bsup_aws_credentials *creds,
                       const char *region, const char *service, int64_t now_s, unsigned flags,
                       struct bsup_sigv4_cache *cache);

/* The lower-level steps (exposed for tests and diagnostics). Strings returned through out_*
 * are malloc'd and owned by the caller. */

/* "YYYYMMDDTHHMMSSZ" for now_s in UTC into out (17 bytes). 0 or BSUP_EINVAL. */
int bsup_sigv4_amz_date(int64_t now_s, char out[BSUP_SIGV4_AMZ_DATE_LEN + 1]);
/* The canonical request of req as it stands, and the signed-headers list ("host;x-amz-date").
 * out_signed_headers may be NULL. */
int bsup_sigv4_canonical_request(const struct bsup_aws_request *req, unsigned flags,
                                 char **out_creq, char **out_signed_headers);
/* "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex(sha256(creq))>". */
int bsup_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
                              const char *creq, char **out_sts);
/* Hex HMAC-SHA256 of sts under the signing key derived from creds' secret (cache may be NULL). */
int bsup_sigv4_signature(const struct bsup_aws_credentials *creds, const char *amz_date,
                         const char *region, const char *service, const char *sts,
                         struct bsup_sigv4_cache *cache, char out_hex[BSUP_SIGV4_HEX_LEN + 1]);

#endif
