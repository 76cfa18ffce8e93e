/* AWS credentials and the pure parts of the credential chain (profile files, selection).
 * Secrets live only in memory and are wiped by bsup_aws_credentials_cleanup. */
#ifndef BSUP_CORE_AWS_CREDENTIALS_H
#define BSUP_CORE_AWS_CREDENTIALS_H

#include <stdint.h>

struct bsup_aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL for long-term credentials */
    int64_t expiration_s; /* Unix time; 0 = does not expire */
    char source[32];      /* "environment", "profile", "container", "imds", ... (for status) */
};

/* Wipes the secrets and frees; accepts a zeroed struct. */
void bsup_aws_credentials_cleanup(struct bsup_aws_credentials *creds);

#endif
