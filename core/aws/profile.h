/* The AWS shared config and credentials files (~/.aws/config, ~/.aws/credentials), read
 * exactly as the AWS SDKs define them (the cross-SDK profile-parser tests are the spec),
 * and where those files live. Pure: the caller reads the files (or uses
 * bsup_aws_profile_read_file) and passes their contents in.
 *
 * Values may be secrets (aws_secret_access_key): bsup_aws_profile_set_cleanup wipes them. */
#ifndef BSUP_CORE_AWS_PROFILE_H
#define BSUP_CORE_AWS_PROFILE_H

#include "core/base/error.h"

#include <stddef.h>

/* Largest config or credentials file we accept. */
#define BSUP_AWS_PROFILE_MAX_BYTES (1024 * 1024)

/* Returns the value of an environment variable, or NULL when unset. */
typedef const char *(bsup_aws_getenv_fn)(void *ctx, const char *name);

/* Reads the whole file at path into a malloc'd NUL-terminated buffer (*out_data, *out_len).
 * Returns 0, BSUP_ENOTFOUND when it does not exist, BSUP_ETOOBIG over limit_bytes, or
 * another negative BSUP_E* code. */
typedef int(bsup_aws_read_file_fn)(void *ctx, const char *path, size_t limit_bytes, char **out_data,
                                   size_t *out_len);

enum bsup_aws_profile_file_kind {
    BSUP_AWS_PROFILE_FILE_CONFIG,      /* sections are [profile NAME], [default], [sso-session X] */
    BSUP_AWS_PROFILE_FILE_CREDENTIALS, /* sections are [NAME] */
};

struct bsup_aws_profile_property {
    char *name; /* lower case */
    char *value;
};

/* One profile (or sso-session): properties in first-definition order. */
struct bsup_aws_profile {
    char *name;
    struct bsup_aws_profile_property *props;
    size_t n_props;
    size_t cap_props;
};

struct bsup_aws_profile_set {
    struct bsup_aws_profile *profiles;
    size_t n_profiles;
    size_t cap_profiles;
    struct bsup_aws_profile *sso_sessions;
    size_t n_sso_sessions;
    size_t cap_sso_sessions;
};

/* Where the files are and which profile is selected (all malloc'd; any may be NULL when it
 * cannot be determined, e.g. HOME unset and no override). */
struct bsup_aws_profile_files {
    char *config_path;      /* $AWS_CONFIG_FILE or ~/.aws/config ("~/" expanded with HOME) */
    char *credentials_path; /* $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials */
    char *profile;          /* $AWS_PROFILE or "default" (never NULL after success) */
    int profile_explicit;   /* 1 when AWS_PROFILE chose it */
};

/* Zeroes the set. */
void bsup_aws_profile_set_init(struct bsup_aws_profile_set *set);
/* Wipes every value and frees; accepts a zeroed or half-built set. */
void bsup_aws_profile_set_cleanup(struct bsup_aws_profile_set *set);

/* Parses one file's text and merges its profiles into set: load the config file first, then
 * the credentials file (its properties win). file_name only labels diag messages
 * ("FILE:LINE: Expected an '=' sign defining a property"). Invalid profile or property names
 * are ignored, as the SDKs do. Returns 0, BSUP_ETOOBIG over BSUP_AWS_PROFILE_MAX_BYTES,
 * BSUP_EPARSE (diag set; set keeps what earlier files gave), or BSUP_ENOMEM. */
int bsup_aws_profile_set_merge(struct bsup_aws_profile_set *set,
                               enum bsup_aws_profile_file_kind kind, const char *data, size_t len,
                               const char *file_name, struct bsup_diag *diag);

/* The profile (or sso-session) with exactly that name, or NULL. */
const struct bsup_aws_profile *bsup_aws_profile_set_find(const struct bsup_aws_profile_set *set,
                                                         const char *name);
const struct bsup_aws_profile *
bsup_aws_profile_set_find_sso_session(const struct bsup_aws_profile_set *set, const char *name);

/* The value of a property (name case-insensitive), or NULL. */
const char *bsup_aws_profile_get(const struct bsup_aws_profile *profile, const char *name);

/* Resolves file locations and the profile name from the environment (Linux rules). 0 or
 * BSUP_ENOMEM. */
int bsup_aws_profile_files_locate(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                                  struct bsup_aws_profile_files *out);
/* Frees; accepts a zeroed struct. */
void bsup_aws_profile_files_cleanup(struct bsup_aws_profile_files *files);

/* A bsup_aws_read_file_fn over the real file system (ctx unused). */
int bsup_aws_profile_read_file(void *ctx, const char *path, size_t limit_bytes, char **out_data,
                               size_t *out_len);

#endif
