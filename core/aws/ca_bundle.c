#include "core/aws/ca_bundle.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_env(bsup_aws_getenv_fn *getenv_fn, void *ctx, const char *name)
{
    const char *v = getenv_fn ? getenv_fn(ctx, name) : NULL;
    return v && *v ? v : NULL;
}

/* The number of certificates in a PEM text, or -1 when a PEM block does not parse. */
static int s_count_certs(const char *data, size_t len)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
    int n = infos ? 0 : -1;
    for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
        n += sk_X509_INFO_value(infos, i)->x509 != NULL;
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(bio);
    ERR_clear_error();
    return n;
}

/* The selected profile's ca_bundle in the config file, copied to *out (NULL when unset). */
static int s_profile_bundle(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                            bsup_aws_read_file_fn *read_fn, void *read_ctx, char **out,
                            struct bsup_aws_ca_bundle *b, struct bsup_diag *diag)
{
    struct bsup_aws_profile_files files;
    struct bsup_aws_profile_set set;
    char *data = NULL;
    size_t len = 0;
    bsup_aws_profile_set_init(&set);
    int rc = bsup_aws_profile_files_locate(getenv_fn, getenv_ctx, &files);
    if (rc < 0 || !files.config_path)
        goto out;
    rc = read_fn(read_ctx, files.config_path, BSUP_AWS_PROFILE_MAX_BYTES, &data, &len);
    if (rc == BSUP_ENOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        rc = bsup_diag_set(diag, rc == BSUP_ENOMEM ? rc : BSUP_ECONFIG,
                           "cannot read %s for its ca_bundle (AWS_CA_BUNDLE unset): %s",
                           files.config_path, bsup_strerror(rc));
        goto out;
    }
    rc = bsup_aws_profile_set_merge(&set, BSUP_AWS_PROFILE_FILE_CONFIG, data, len,
                                    files.config_path, diag);
    if (rc < 0) {
        if (rc != BSUP_ENOMEM && diag)
            diag->code = rc = BSUP_ECONFIG;
        goto out;
    }
    const char *path =
        bsup_aws_profile_get(bsup_aws_profile_set_find(&set, files.profile), "ca_bundle");
    if (path && *path) {
        snprintf(b->from, sizeof(b->from), "ca_bundle of profile '%.60s' in %.200s", files.profile,
                 files.config_path);
        if (!(*out = strdup(path)))
            rc = BSUP_ENOMEM;
    }
out:
    bsup_secure_zero(data, len);
    free(data);
    bsup_aws_profile_set_cleanup(&set);
    bsup_aws_profile_files_cleanup(&files);
    return rc;
}

int bsup_aws_ca_bundle_resolve(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                               bsup_aws_read_file_fn *read_fn, void *read_ctx,
                               struct bsup_aws_ca_bundle *out, struct bsup_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    const char *env = s_env(getenv_fn, getenv_ctx, "AWS_CA_BUNDLE");
    if (env) {
        snprintf(out->from, sizeof(out->from), "AWS_CA_BUNDLE");
        if (!(out->path = strdup(env)))
            rc = BSUP_ENOMEM;
    } else {
        rc = s_profile_bundle(getenv_fn, getenv_ctx, read_fn, read_ctx, &out->path, out, diag);
    }
    if (rc < 0 || !out->path)
        goto out;
    rc = read_fn(read_ctx, out->path, BSUP_AWS_CA_BUNDLE_MAX_BYTES, &data, &len);
    if (rc < 0 && rc != BSUP_ENOMEM) {
        rc = bsup_diag_set(
            diag, BSUP_ECONFIG, "%s: cannot read the CA bundle %s: %s", out->from, out->path,
            rc == BSUP_EIO ? "not a regular file, or an I/O error" : bsup_strerror(rc));
    } else if (rc == 0 && s_count_certs(data, len) <= 0) {
        rc = bsup_diag_set(diag, BSUP_ECONFIG,
                           "%s: %s is not a PEM CA bundle (no certificate, or one that does "
                           "not parse)",
                           out->from, out->path);
    }
out:
    free(data);
    if (rc < 0)
        bsup_aws_ca_bundle_cleanup(out);
    return rc;
}

void bsup_aws_ca_bundle_cleanup(struct bsup_aws_ca_bundle *bundle)
{
    if (!bundle)
        return;
    free(bundle->path);
    memset(bundle, 0, sizeof(*bundle));
}
