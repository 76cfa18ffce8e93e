/* The ~/.aws file reader against the cross-SDK data: profile-parser-tests.json and
 * file-location-tests.json (Linux cases; the Windows ones describe another platform). */
#include "tests/lib/testlib.h"

#include "core/aws/profile.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CREDS_DIR BSUP_TESTDATA "/credentials"

/* Asserts that the profiles (or sso-sessions) equal the expected JSON object exactly. */
static void s_assert_profiles(const char *test, const struct bsup_aws_profile *list, size_t n,
                              json_t *expected)
{
    if (json_object_size(expected) != n)
        fail_msg("%s: %zu profiles, expected %zu", test, n, json_object_size(expected));
    const char *pname;
    json_t *props;
    json_object_foreach(expected, pname, props)
    {
        const struct bsup_aws_profile *p = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].name, pname) == 0)
                p = &list[i];
        if (!p)
            fail_msg("%s: profile '%s' missing", test, pname);
        if (json_object_size(props) != p->n_props)
            fail_msg("%s: profile '%s' has %zu properties, expected %zu", test, pname, p->n_props,
                     json_object_size(props));
        const char *key;
        json_t *val;
        json_object_foreach(props, key, val)
        {
            const char *got = bsup_aws_profile_get(p, key);
            if (!got || strcmp(got, json_string_value(val)) != 0)
                fail_msg("%s: %s.%s = '%s', expected '%s'", test, pname, key, got ? got : "(unset)",
                         json_string_value(val));
        }
    }
}

static void test_profile_parser_cases(void **state)
{
    (void)state;
    json_t *root = bsup_test_load_json(CREDS_DIR "/profile-parser-tests.json");
    json_t *tests = json_object_get(root, "tests");
    size_t idx, passed = 0;
    json_t *tc;
    json_array_foreach(tests, idx, tc)
    {
        const char *name = json_string_value(json_object_get(tc, "name"));
        json_t *input = json_object_get(tc, "input"), *output = json_object_get(tc, "output");
        struct bsup_aws_profile_set set;
        struct bsup_diag diag = {0};
        bsup_aws_profile_set_init(&set);
        int rc = 0;
        const char *cfg = json_string_value(json_object_get(input, "configFile"));
        const char *cred = json_string_value(json_object_get(input, "credentialsFile"));
        if (cfg)
            rc = bsup_aws_profile_set_merge(&set, BSUP_AWS_PROFILE_FILE_CONFIG, cfg, strlen(cfg),
                                            "config", &diag);
        if (rc == 0 && cred)
            rc = bsup_aws_profile_set_merge(&set, BSUP_AWS_PROFILE_FILE_CREDENTIALS, cred,
                                            strlen(cred), "credentials", &diag);
        const char *want_err = json_string_value(json_object_get(output, "errorContaining"));
        if (want_err) {
            if (rc != BSUP_EPARSE || !strstr(diag.message, want_err))
                fail_msg("%s: rc %d '%s', expected an error containing '%s'", name, rc,
                         diag.message, want_err);
        } else {
            if (rc != 0)
                fail_msg("%s: rc %d: %s", name, rc, diag.message);
            json_t *config = json_object_get(output, "config");
            s_assert_profiles(name, set.profiles, set.n_profiles,
                              json_object_get(config, "profiles"));
            json_t *sso = json_object_get(config, "sso_sessions");
            if (sso)
                s_assert_profiles(name, set.sso_sessions, set.n_sso_sessions, sso);
            else
                assert_int_equal(set.n_sso_sessions, 0);
        }
        bsup_aws_profile_set_cleanup(&set);
        passed++;
    }
    assert_int_equal(passed, json_array_size(tests));
    assert_int_equal(passed, 65);
    print_message("profile-parser-tests.json: %zu/%zu passed\n", passed, json_array_size(tests));
    json_decref(root);
}

static void test_file_location_cases(void **state)
{
    (void)state;
    json_t *root = bsup_test_load_json(CREDS_DIR "/file-location-tests.json");
    json_t *tests = json_object_get(root, "tests");
    size_t idx, passed = 0, skipped = 0;
    json_t *tc;
    json_array_foreach(tests, idx, tc)
    {
        const char *name = json_string_value(json_object_get(tc, "name"));
        if (strcmp(json_string_value(json_object_get(tc, "platform")), "linux") != 0) {
            skipped++; /* Windows path rules: bsupd runs on Linux only. */
            continue;
        }
        struct bsup_aws_profile_files files;
        assert_int_equal(bsup_aws_profile_files_locate(bsup_test_json_getenv,
                                                       json_object_get(tc, "environment"), &files),
                         0);
        const char *want_cfg = json_string_value(json_object_get(tc, "configLocation"));
        const char *want_cred = json_string_value(json_object_get(tc, "credentialsLocation"));
        const char *want_profile = json_string_value(json_object_get(tc, "profile"));
        if (!files.config_path || strcmp(files.config_path, want_cfg) != 0)
            fail_msg("%s: config '%s', expected '%s'", name, files.config_path, want_cfg);
        if (!files.credentials_path || strcmp(files.credentials_path, want_cred) != 0)
            fail_msg("%s: credentials '%s', expected '%s'", name, files.credentials_path,
                     want_cred);
        assert_string_equal(files.profile, want_profile ? want_profile : "default");
        bsup_aws_profile_files_cleanup(&files);
        passed++;
    }
    assert_true(passed >= 4);
    print_message("file-location-tests.json: %zu passed, %zu skipped (windows)\n", passed, skipped);
    json_decref(root);
}

static const char *s_table_getenv(void *ctx, const char *name)
{
    for (const char *const *kv = ctx; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void test_file_location_edges(void **state)
{
    (void)state;
    struct bsup_aws_profile_files files;
    const char *tilde[] = {"HOME",
                           "/home/u/",
                           "AWS_CONFIG_FILE",
                           "~/cfg/x",
                           "AWS_SHARED_CREDENTIALS_FILE",
                           "~",
                           "AWS_PROFILE",
                           "",
                           NULL};
    assert_int_equal(bsup_aws_profile_files_locate(s_table_getenv, tilde, &files), 0);
    assert_string_equal(files.config_path, "/home/u/cfg/x");
    assert_string_equal(files.credentials_path, "/home/u");
    assert_string_equal(files.profile, "default"); /* empty AWS_PROFILE counts as unset */
    assert_int_equal(files.profile_explicit, 0);
    bsup_aws_profile_files_cleanup(&files);

    const char *nohome[] = {"AWS_PROFILE", "p", "AWS_CONFIG_FILE", "~user/x", NULL};
    assert_int_equal(bsup_aws_profile_files_locate(s_table_getenv, nohome, &files), 0);
    assert_null(files.credentials_path);
    assert_string_equal(files.config_path, "~user/x"); /* only "~/" is expanded */
    assert_string_equal(files.profile, "p");
    assert_int_equal(files.profile_explicit, 1);
    bsup_aws_profile_files_cleanup(&files);
}

static void test_limits_and_reader(void **state)
{
    (void)state;
    struct bsup_aws_profile_set set;
    struct bsup_diag diag = {0};
    bsup_aws_profile_set_init(&set);
    size_t big = BSUP_AWS_PROFILE_MAX_BYTES + 1;
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, '#', big);
    assert_int_equal(
        bsup_aws_profile_set_merge(&set, BSUP_AWS_PROFILE_FILE_CONFIG, data, big, "big", &diag),
        BSUP_ETOOBIG);
    free(data);
    assert_int_equal(bsup_aws_profile_set_merge(&set, BSUP_AWS_PROFILE_FILE_CONFIG,
                                                "[default]\na = b\0c", 16, "nul", &diag),
                     BSUP_EPARSE);
    /* Line numbers in messages. */
    const char *bad = "[default]\n\nkey : v\n";
    assert_int_equal(bsup_aws_profile_set_merge(&set, BSUP_AWS_PROFILE_FILE_CONFIG, bad,
                                                strlen(bad), "/x/config", &diag),
                     BSUP_EPARSE);
    assert_string_equal(diag.message, "/x/config:3: Expected an '=' sign defining a property");
    bsup_aws_profile_set_cleanup(&set);

    char *dir = bsup_test_mkdtemp();
    char *path = bsup_test_write(dir, "config", "[default]\nregion = x\n", -1);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(bsup_aws_profile_read_file(NULL, path, 1024, &out, &len), 0);
    assert_int_equal(len, 21);
    assert_string_equal(out, "[default]\nregion = x\n");
    free(out);
    assert_int_equal(bsup_aws_profile_read_file(NULL, path, 10, &out, &len), BSUP_ETOOBIG);
    assert_null(out);
    char missing[512];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    assert_int_equal(bsup_aws_profile_read_file(NULL, missing, 1024, &out, &len), BSUP_ENOTFOUND);
    /* AWS_CONFIG_FILE=/dev/null: no file, as in the SDKs (it was "not a regular file"). */
    assert_int_equal(bsup_aws_profile_read_file(NULL, "/dev/null", 1024, &out, &len),
                     BSUP_ENOTFOUND);
    /* A FIFO is refused at once, not waited on for a writer (it hung bsupd's start). */
    assert_int_equal(mkfifo(missing, 0600), 0);
    assert_int_equal(bsup_aws_profile_read_file(NULL, missing, 1024, &out, &len), BSUP_EIO);
    assert_null(out);
    free(path);
    bsup_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_parser_cases),
        cmocka_unit_test(test_file_location_cases),
        cmocka_unit_test(test_file_location_edges),
        cmocka_unit_test(test_limits_and_reader),
    };
    return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
