/* Which CA bundle AWS calls trust (AWS_CA_BUNDLE, else the profile's ca_bundle), and that a
 * configured one that cannot be used is an error, never the default CAs. */
#include "tests/lib/testlib.h"

#include "core/aws/ca_bundle.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fake environment: NULL-terminated "NAME=value" strings. */
static const char *s_fake_getenv(void *ctx, const char *name)
{
    const char *const *env = ctx;
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static char s_cert_pem[4096]; /* a self-signed certificate made by the group setup */

/* Fake files: "/ca.pem" is the certificate, "/denied" unreadable, others as named. */
static int s_fake_read(void *ctx, const char *path, size_t limit_bytes, char **out_data,
                       size_t *out_len)
{
    const char *const *files = ctx; /* pairs: path, contents */
    const char *text = NULL;
    (void)limit_bytes;
    *out_data = NULL;
    *out_len = 0;
    if (strcmp(path, "/denied") == 0)
        return BSUP_EPERM;
    if (strcmp(path, "/ca.pem") == 0)
        text = s_cert_pem;
    for (; !text && files && files[0]; files += 2)
        if (strcmp(files[0], path) == 0)
            text = files[1];
    if (!text)
        return BSUP_ENOTFOUND;
    *out_data = strdup(text);
    *out_len = strlen(text);
    return *out_data ? 0 : BSUP_ENOMEM;
}

static int s_make_cert(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    int ok = key && x && bio && X509_set_version(x, 2) &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_set_pubkey(x, key) &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                        (const unsigned char *)"test ca", -1, -1, 0) &&
             X509_set_issuer_name(x, X509_get_subject_name(x)) && X509_sign(x, key, EVP_sha256()) &&
             PEM_write_bio_X509(bio, x);
    long n = ok ? BIO_get_mem_data(bio, &p) : 0;
    if (n > 0 && (size_t)n < sizeof(s_cert_pem))
        memcpy(s_cert_pem, p, (size_t)n);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return n > 0 && (size_t)n < sizeof(s_cert_pem) ? 0 : -1;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define FILES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_resolve(void **state)
{
    (void)state;
#define CFG "/home/op/.aws/config"
    const struct {
        const char *const *env;
        const char *const *files;
        const char *path;      /* expected; NULL: none */
        const char *from_has;  /* in out.from */
        const char *error_has; /* NULL: success */
    } rows[] = {
        /* Nothing configured: libcurl's default CAs. */
        {ENV("HOME=/home/op"), NULL, NULL, "", NULL},
        {ENV("AWS_CA_BUNDLE="), NULL, NULL, "", NULL},
        {ENV("AWS_CA_BUNDLE=/ca.pem"), NULL, "/ca.pem", "AWS_CA_BUNDLE", NULL},
        /* The variable wins over the profile, whose file is then not even read. */
        {ENV("HOME=/home/op", "AWS_CA_BUNDLE=/ca.pem"),
         FILES(CFG, "[default]\nca_bundle = /missing\n"), "/ca.pem", "AWS_CA_BUNDLE", NULL},
        {ENV("HOME=/home/op", "AWS_CA_BUNDLE=/ca.pem"), FILES(CFG, "[default\n"), "/ca.pem",
         "AWS_CA_BUNDLE", NULL},
        {ENV("HOME=/home/op"), FILES(CFG, "[default]\nregion = eu-west-1\nca_bundle = /ca.pem\n"),
         "/ca.pem", "ca_bundle of profile 'default' in /home/op/.aws/config", NULL},
        {ENV("HOME=/home/op", "AWS_PROFILE=ops"),
         FILES(CFG, "[default]\nca_bundle = /missing\n[profile ops]\nCA_Bundle = /ca.pem\n"),
         "/ca.pem", "profile 'ops'", NULL},
        {ENV("AWS_CONFIG_FILE=/etc/aws.conf"),
         FILES("/etc/aws.conf", "[default]\nca_bundle=/ca.pem"), "/ca.pem", "in /etc/aws.conf",
         NULL},
        /* Another profile's ca_bundle is not the selected one's. */
        {ENV("HOME=/home/op"), FILES(CFG, "[profile ops]\nca_bundle = /missing\n"), NULL, "", NULL},
        /* A configured bundle that cannot be used is an error naming where it came from. */
        {ENV("AWS_CA_BUNDLE=/missing"), NULL, NULL, NULL,
         "AWS_CA_BUNDLE: cannot read the CA bundle /missing: not found"},
        {ENV("AWS_CA_BUNDLE=/denied"), NULL, NULL, NULL, "/denied: permission denied"},
        {ENV("AWS_CA_BUNDLE=/junk"), FILES("/junk", "not a certificate\n"), NULL, NULL,
         "AWS_CA_BUNDLE: /junk is not a PEM CA bundle"},
        {ENV("AWS_CA_BUNDLE=/bad"),
         FILES("/bad", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
         NULL, NULL, "/bad is not a PEM CA bundle"},
        {ENV("HOME=/home/op"), FILES(CFG, "[default]\nca_bundle = /missing\n"), NULL, NULL,
         "ca_bundle of profile 'default' in /home/op/.aws/config: cannot read the CA bundle "
         "/missing"},
        /* Without AWS_CA_BUNDLE, a config file that cannot be read might have named one. */
        {ENV("HOME=/home/op"), FILES(CFG, "[default\n"), NULL, NULL, "/home/op/.aws/config:1:"},
        {ENV("AWS_CONFIG_FILE=/denied"), NULL, NULL, NULL,
         "cannot read /denied for its ca_bundle (AWS_CA_BUNDLE unset): permission denied"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_aws_ca_bundle b;
        struct bsup_diag diag = {0};
        int rc = bsup_aws_ca_bundle_resolve(s_fake_getenv, (void *)rows[i].env, s_fake_read,
                                            (void *)rows[i].files, &b, &diag);
        if (rows[i].error_has) {
            if (rc != BSUP_ECONFIG || !strstr(diag.message, rows[i].error_has))
                fail_msg("row %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, diag.message,
                         rows[i].error_has);
            assert_null(b.path);
            continue;
        }
        if (rc)
            fail_msg("row %zu: refused: %s", i, diag.message);
        if (rows[i].path ? !b.path || strcmp(b.path, rows[i].path) != 0 : b.path != NULL)
            fail_msg("row %zu: path %s, expected %s", i, b.path ? b.path : "(none)",
                     rows[i].path ? rows[i].path : "(none)");
        if (!strstr(b.from, rows[i].from_has) || (!b.path && b.from[0]))
            fail_msg("row %zu: from \"%s\" lacks \"%s\"", i, b.from, rows[i].from_has);
        bsup_aws_ca_bundle_cleanup(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests_name("ca_bundle", tests, s_make_cert, NULL);
}
