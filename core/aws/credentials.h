/* AWS credentials: the struct every signer uses, parsing the credential documents that the
 * container and instance-metadata endpoints return, and when to refresh.
 * Secrets live only in memory and are wiped by bsup_aws_credentials_cleanup. */
#ifndef BSUP_CORE_AWS_CREDENTIALS_H
#define BSUP_CORE_AWS_CREDENTIALS_H

#include "core/base/error.h"

#include <stddef.h>
#include <stdint.h>

struct bsup_aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL for long-term credentials */
    int64_t expiration_s; /* Unix time; 0 = does not expire */
    char source[32];      /* "environment", "profile", "container", "imds", "web-identity",
                           * "assume-role", "process" (for status) */
    char account_id[16];  /* "123456789012" when the source says so, else "" (not a secret) */
    /* For a role: which, and where its source credentials came from ("assume role arn:...
     * (source: profile ops)"); "" otherwise. Never a secret. */
    char description[400];
};

/* Refresh temporary credentials this long before they expire. */
#define BSUP_AWS_CREDENTIALS_REFRESH_BEFORE_S 300
/* Never schedule a refresh sooner than this after now (a source handing out credentials
 * that are about to expire must not make us spin). */
#define BSUP_AWS_CREDENTIALS_MIN_REFRESH_S 15

/* Wipes the secrets and frees; accepts a zeroed struct. */
void bsup_aws_credentials_cleanup(struct bsup_aws_credentials *creds);

/* Deep copy into *out (zeroed first). 0 or BSUP_ENOMEM (out then left zeroed). */
int bsup_aws_credentials_copy(struct bsup_aws_credentials *out,
                              const struct bsup_aws_credentials *src);

/* When to fetch new credentials (Unix seconds): 0 for credentials that do not expire
 * (never refresh); otherwise expiration - 5 min - jitter_s, but not before
 * now_s + BSUP_AWS_CREDENTIALS_MIN_REFRESH_S. The caller picks jitter_s (e.g. random 0-60)
 * so that a fleet does not refresh in lockstep. */
int64_t bsup_aws_credentials_refresh_at(const struct bsup_aws_credentials *creds, int64_t now_s,
                                        uint32_t jitter_s);

/* 1 when creds can still sign at now_s (static ones always can). */
int bsup_aws_credentials_valid_at(const struct bsup_aws_credentials *creds, int64_t now_s);

/* Parses "2021-09-21T04:16:53Z" (optional fraction, "Z" or "+hh:mm"/"-hh:mm") into Unix
 * seconds. 0 or BSUP_EPARSE. */
int bsup_aws_time_parse_iso8601(const char *s, int64_t *out_s);

/* Parses the JSON document of the container (ECS/EKS) and IMDS credential endpoints:
 * AccessKeyId, SecretAccessKey (required), Token, Expiration (ISO 8601), AccountId, and for
 * IMDS Code ("Success"). source goes into out->source. Returns 0, BSUP_EPARSE or BSUP_EAWS
 * (Code not "Success") with diag set (never quoting the document), or BSUP_ENOMEM. */
int bsup_aws_credentials_from_json(const char *body, size_t len, const char *source,
                                   struct bsup_aws_credentials *out, struct bsup_diag *diag);

/* Parses what a credential_process prints: Version (the number 1), AccessKeyId,
 * SecretAccessKey (required), SessionToken, Expiration (ISO 8601; none: the credentials do not
 * expire), AccountId. out->source is "process". 0, BSUP_EPARSE or BSUP_ETOOBIG with diag set
 * (never quoting the document), or BSUP_ENOMEM. */
int bsup_aws_credentials_from_process_json(const char *body, size_t len,
                                           struct bsup_aws_credentials *out,
                                           struct bsup_diag *diag);

#endif
