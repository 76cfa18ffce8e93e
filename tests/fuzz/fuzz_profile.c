/* AWS shared config and credentials files (core/aws/profile.c). The files cannot hold a NUL
 * byte, so one splits the input: the bytes before the first NUL are the config file and those
 * after it the credentials file; without a NUL the whole input is read as both. Every profile
 * and property that comes out must be found again by the lookups, under a valid name. */
#include "tests/fuzz/fuzz.h"

#include "core/aws/profile.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool s_identifier(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_-/.%@:+", *s))
            return false;
    return true;
}

static void s_check_profile(const struct bsup_aws_profile *p, const struct bsup_aws_profile *found)
{
    BSUP_FUZZ_CHECK(found == p);
    BSUP_FUZZ_CHECK(s_identifier(p->name));
    for (size_t k = 0; k < p->n_props; k++) {
        const struct bsup_aws_profile_property *prop = &p->props[k];
        BSUP_FUZZ_CHECK(s_identifier(prop->name) && prop->value);
        for (const char *c = prop->name; *c; c++)
            BSUP_FUZZ_CHECK(!isupper((unsigned char)*c));
        /* Names are unique, case-insensitively: the lookup finds this very value. */
        char upper[256];
        snprintf(upper, sizeof(upper), "%s", prop->name);
        for (char *c = upper; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        if (strlen(prop->name) < sizeof(upper))
            BSUP_FUZZ_CHECK(bsup_aws_profile_get(p, upper) == prop->value);
    }
}

static void s_merge(struct bsup_aws_profile_set *set, enum bsup_aws_profile_file_kind kind,
                    const char *data, size_t len, const char *name)
{
    struct bsup_diag diag = {0};
    int rc = bsup_aws_profile_set_merge(set, kind, data, len, name, &diag);
    BSUP_FUZZ_CHECK(rc == 0 || rc == BSUP_EPARSE || rc == BSUP_ETOOBIG || rc == BSUP_ENOMEM);
    if (rc < 0)
        BSUP_FUZZ_CHECK(strncmp(diag.message, name, strlen(name)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t config_len = nul ? (size_t)(nul - text) : size;
    const char *creds = nul ? nul + 1 : text;
    size_t creds_len = nul ? size - config_len - 1 : size;

    struct bsup_aws_profile_set set;
    bsup_aws_profile_set_init(&set);
    s_merge(&set, BSUP_AWS_PROFILE_FILE_CONFIG, text, config_len, "config");
    s_merge(&set, BSUP_AWS_PROFILE_FILE_CREDENTIALS, creds, creds_len, "credentials");
    for (size_t i = 0; i < set.n_profiles; i++) {
        const struct bsup_aws_profile *p = &set.profiles[i];
        s_check_profile(p, bsup_aws_profile_set_find(&set, p->name));
        const char *sso = bsup_aws_profile_get(p, "sso_session");
        if (sso)
            (void)bsup_aws_profile_set_find_sso_session(&set, sso);
    }
    for (size_t i = 0; i < set.n_sso_sessions; i++) {
        const struct bsup_aws_profile *p = &set.sso_sessions[i];
        s_check_profile(p, bsup_aws_profile_set_find_sso_session(&set, p->name));
    }
    bsup_aws_profile_set_cleanup(&set);
    return 0;
}
