#include "tests/lib/testlib.h"

#include "core/base/buf.h"
#include "core/config/config.h"

#include <errno.h>
#include <jansson.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *bsup_test_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s/bsup-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(buf))
        return NULL;
    return strdup(buf);
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void bsup_test_rmtree(const char *path)
{
    if (path)
        nftw(path, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

char *bsup_test_write(const char *dir, const char *name, const char *data, long len)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(path);
        return NULL;
    }
    size_t n = len < 0 ? strlen(data) : (size_t)len;
    if (fwrite(data, 1, n, f) != n) {
        fclose(f);
        free(path);
        return NULL;
    }
    fclose(f);
    return path;
}

char *bsup_test_read(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct bsup_buf b = BSUP_BUF_INIT(SIZE_MAX, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        bsup_buf_append(&b, chunk, n);
    fclose(f);
    char *data = NULL;
    size_t len = 0;
    if (bsup_buf_take(&b, &data, &len) < 0)
        return NULL;
    if (out_len)
        *out_len = len;
    return data;
}

json_t *bsup_test_load_json(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("%s:%d: %s", path, err.line, err.text);
    return j;
}

const char *bsup_test_json_getenv(void *ctx, const char *name)
{
    return json_string_value(json_object_get((json_t *)ctx, name));
}

struct bsup_service bsup_test_service(const char *yaml)
{
    struct bsup_config_set set;
    bsup_config_set_init(&set);
    assert_int_equal(bsup_config_parse_buffer(&set, "t.yaml", yaml, strlen(yaml)), 0);
    if (set.n_errors)
        fail_msg("%s", set.msgs[0].text);
    assert_int_equal(set.n_services, 1);
    struct bsup_service svc;
    assert_int_equal(bsup_service_copy(&svc, set.services[0]), 0);
    bsup_config_set_cleanup(&set);
    return svc;
}
