/* Which PEM CA bundle AWS calls trust, chosen as the AWS SDKs choose it: AWS_CA_BUNDLE, else
 * the selected profile's ca_bundle in the shared config file (~/.aws/config, AWS_CONFIG_FILE,
 * AWS_PROFILE). Pure: files come through the read callback. */
#ifndef BSUP_CORE_AWS_CA_BUNDLE_H
#define BSUP_CORE_AWS_CA_BUNDLE_H

#include "core/aws/profile.h"

/* Largest CA bundle accepted (Debian's whole system bundle is about 220 KiB). */
#define BSUP_AWS_CA_BUNDLE_MAX_BYTES (4 * 1024 * 1024)

struct bsup_aws_ca_bundle {
    char *path;     /* malloc'd; NULL: none configured (libcurl's default CAs) */
    char from[300]; /* "AWS_CA_BUNDLE" or "ca_bundle of profile 'NAME' in PATH"; "" when none */
};

/* Finds the bundle and checks it: it must be a readable file of PEM certificates, each of
 * which parses, at least one. Returns 0 (out->path NULL when none is configured),
 * BSUP_ECONFIG with diag naming the variable or profile and the path (a missing, unreadable
 * or non-PEM bundle, or a config file that cannot be read or parsed while AWS_CA_BUNDLE is
 * unset), or BSUP_ENOMEM. Never falls back to the default CAs when one is configured. */
int bsup_aws_ca_bundle_resolve(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                               bsup_aws_read_file_fn *read_fn, void *read_ctx,
                               struct bsup_aws_ca_bundle *out, struct bsup_diag *diag);
/* Frees; accepts a zeroed struct. */
void bsup_aws_ca_bundle_cleanup(struct bsup_aws_ca_bundle *bundle);

#endif
