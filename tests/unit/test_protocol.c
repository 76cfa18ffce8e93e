/* botocore's Smithy protocol compliance cases (protocol-tests/input and output) for
 * query, ec2, json (1.1) and json_1_0, run through our serialisers and parsers. */
#include "tests/lib/testlib.h"

#include "core/aws/model.h"
#include "core/aws/query.h"
#include "core/aws/request.h"
#include "core/aws/response.h"
#include "core/aws/wire.h"
#include "core/base/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_t *s_ignore;

static int s_ignored(const char *proto, const char *dir, const char *suite, const char *id)
{
    json_t *suites =
        json_object_get(json_object_get(json_object_get(s_ignore, "general"), dir), "suites");
    size_t i;
    json_t *v;
    json_array_foreach(suites, i, v)
    {
        if (strcmp(json_string_value(v), suite) == 0)
            return 1;
    }
    json_t *cases = json_object_get(
        json_object_get(json_object_get(json_object_get(s_ignore, "protocols"), proto), dir),
        "cases");
    json_array_foreach(cases, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0)
            return 1;
    }
    return 0;
}

static json_t *s_load(const char *rel)
{
    char path[512];
    json_error_t err;
    snprintf(path, sizeof(path), "%s/protocol-tests/%s", BSUP_TESTDATA, rel);
    json_t *v = json_load_file(path, 0, &err);
    assert_non_null(v);
    return v;
}

static int s_media_equal(const char *a, const char *b)
{
    size_t la = strcspn(a, ";"), lb = strcspn(b, ";");
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Serialises one input case; 1 when method, URI, body and headers match. */
static int s_run_input(const char *proto, const struct bsup_shape_model *model, const json_t *meta,
                       const json_t *c)
{
    const json_t *given = json_object_get(c, "given");
    const json_t *ser = json_object_get(c, "serialized");
    const char *action = json_string_value(json_object_get(given, "name"));
    int32_t in_shape = bsup_shape_find(
        model, json_string_value(json_object_get(json_object_get(given, "input"), "shape")));
    struct bsup_aws_request req;
    struct bsup_aws_params params = {0};
    json_t *body = NULL;
    int ok = 0, rc;
    assert_int_equal(bsup_aws_request_init(&req, "POST", "https", "example.com", "/"), 0);
    const json_t *input = json_object_get(c, "params");
    if (strcmp(proto, "query") == 0 || strcmp(proto, "ec2") == 0) {
        rc = in_shape < 0
                 ? 0
                 : bsup_aws_params_from_json(model, in_shape, input,
                                             strcmp(proto, "ec2") == 0 ? BSUP_AWS_PROTO_EC2
                                                                       : BSUP_AWS_PROTO_QUERY,
                                             &params);
        if (rc == 0)
            rc = bsup_query_serialize(
                &req, action, json_string_value(json_object_get(meta, "apiVersion")), &params);
    } else {
        rc = in_shape < 0 ? 0 : bsup_json_body_from_input(model, in_shape, input, &body);
        if (rc == 0)
            rc = bsup_json_serialize(&req, json_string_value(json_object_get(meta, "targetPrefix")),
                                     json_string_value(json_object_get(meta, "jsonVersion")),
                                     action, body);
    }
    if (rc < 0) {
        fprintf(stderr, "  serialise failed: %s\n", bsup_err_name(rc));
        goto out;
    }
    if (strcmp(req.method, json_string_value(json_object_get(ser, "method"))) != 0 ||
        strcmp(req.path, json_string_value(json_object_get(ser, "uri"))) != 0)
        goto out;
    const char *want_body = json_string_value(json_object_get(ser, "body"));
    char *got_body = strndup((const char *)req.body, req.body_len);
    assert_non_null(got_body);
    if (want_body && strncmp(proto, "json", 4) == 0) {
        json_error_t err;
        json_t *w = json_loads(want_body, 0, &err), *g = json_loads(got_body, 0, &err);
        ok = w && g && json_equal(w, g);
        json_decref(w);
        json_decref(g);
    } else {
        ok = !want_body || strcmp(want_body, got_body) == 0;
    }
    if (!ok)
        fprintf(stderr, "  body\n    got  %s\n    want %s\n", got_body, want_body);
    free(got_body);
    const char *hk;
    json_t *hv;
    json_object_foreach(json_object_get(ser, "headers"), hk, hv)
    {
        const char *got = bsup_aws_request_header(&req, hk);
        if (!got || !s_media_equal(got, json_string_value(hv))) {
            fprintf(stderr, "  header %s: got %s\n", hk, got ? got : "(none)");
            ok = 0;
        }
    }
out:
    json_decref(body);
    bsup_aws_params_cleanup(&params);
    bsup_aws_request_cleanup(&req);
    return ok;
}

static void test_input_cases(void **state)
{
    (void)state;
    static const char *const protos[] = {"query", "ec2", "json", "json_1_0"};
    int total = 0, run = 0, passed = 0;
    for (size_t p = 0; p < sizeof(protos) / sizeof(protos[0]); p++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "input/%s.json", protos[p]);
        json_t *suites = s_load(rel);
        size_t si, ci;
        json_t *suite, *c;
        json_array_foreach(suites, si, suite)
        {
            struct bsup_shape_model *model = NULL;
            assert_int_equal(bsup_shape_model_load_json(json_object_get(suite, "shapes"), &model),
                             0);
            const char *desc = json_string_value(json_object_get(suite, "description"));
            json_array_foreach(json_object_get(suite, "cases"), ci, c)
            {
                const char *id = json_string_value(json_object_get(c, "id"));
                const json_t *ser = json_object_get(c, "serialized");
                total++;
                /* Skipped: botocore's own ignore list; host prefixes and endpoint paths
                 * (the endpoints module's job); request compression (not supported). */
                if (s_ignored(protos[p], "input", desc, id) || json_object_get(ser, "host") ||
                    json_object_get(json_object_get(ser, "headers"), "Content-Encoding"))
                    continue;
                run++;
                if (s_run_input(protos[p], model, json_object_get(suite, "metadata"), c))
                    passed++;
                else
                    fprintf(stderr, "FAIL input %s %s\n", protos[p], id);
            }
            bsup_shape_model_free(model);
        }
        json_decref(suites);
    }
    fprintf(stderr, "protocol input cases: %d run, %d pass, %d skipped (of %d)\n", run, passed,
            total - run, total);
    assert_true(run > 100);
    assert_int_equal(passed, run);
}

/* Does our parse `got` say what botocore's `want` says? Timestamps: our raw strings
 * against epoch seconds; blobs: our base64 text against the bytes. */
static int s_match(const struct bsup_shape_model *m, int32_t shape, const json_t *got,
                   const json_t *want)
{
    const struct bsup_shape *sh = bsup_shape_get(m, shape);
    if (!sh || !got || !want)
        return 0;
    if (sh->flags & BSUP_SHAPE_F_DOCUMENT)
        return json_equal(got, want);
    switch (sh->type) {
    case BSUP_SHAPE_STRUCTURE: {
        const char *k;
        json_t *v;
        if (!json_is_object(got) || !json_is_object(want))
            return 0;
        json_object_foreach((json_t *)got, k, v)
        {
            if (strcmp(k, "ResponseMetadata") != 0 && !json_object_get(want, k))
                return 0;
        }
        json_object_foreach((json_t *)want, k, v)
        {
            int32_t ms = -1;
            for (uint32_t i = 0; i < sh->n_members; i++) {
                const struct bsup_shape_member *mm = bsup_shape_member(m, sh, i);
                if (strcmp(mm->name, k) == 0)
                    ms = mm->shape;
            }
            if (!s_match(m, ms, json_object_get(got, k), v))
                return 0;
        }
        return 1;
    }
    case BSUP_SHAPE_LIST: {
        size_t i;
        json_t *v;
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
            return 0;
        json_array_foreach(want, i, v)
        {
            if (!s_match(m, bsup_shape_member(m, sh, 0)->shape, json_array_get(got, i), v))
                return 0;
        }
        return 1;
    }
    case BSUP_SHAPE_MAP: {
        const char *k;
        json_t *v;
        if (!json_is_object(got) || json_object_size(got) != json_object_size(want))
            return 0;
        json_object_foreach((json_t *)want, k, v)
        {
            if (!s_match(m, bsup_shape_member(m, sh, 1)->shape, json_object_get(got, k), v))
                return 0;
        }
        return 1;
    }
    case BSUP_SHAPE_TIMESTAMP: {
        double g;
        if (json_is_number(got))
            g = json_number_value(got);
        else if (!json_is_string(got) || bsup_wire_parse_timestamp(json_string_value(got), &g))
            return 0;
        return json_is_number(want) && fabs(g - json_number_value(want)) < 1e-3;
    }
    case BSUP_SHAPE_BLOB: {
        unsigned char *b;
        size_t n;
        if (!json_is_string(got) || bsup_wire_base64_decode(json_string_value(got), &b, &n))
            return 0;
        int ok = n == json_string_length(want) && memcmp(b, json_string_value(want), n) == 0;
        free(b);
        return ok;
    }
    case BSUP_SHAPE_FLOAT:
    case BSUP_SHAPE_DOUBLE:
        if (json_is_string(want) && json_is_string(got)) /* NaN, Infinity */
            return strcmp(json_string_value(got), json_string_value(want)) == 0;
        if (json_is_number(got) && json_is_number(want))
            return json_number_value(got) == json_number_value(want);
        return json_equal(got, want);
    default:
        return json_equal(got, want);
    }
}

static json_t *s_headers_of(const json_t *response, struct bsup_aws_header *h, size_t *n)
{
    const char *k;
    json_t *v;
    *n = 0;
    json_object_foreach(json_object_get(response, "headers"), k, v)
    {
        if (*n < 16)
            h[(*n)++] = (struct bsup_aws_header){(char *)k, (char *)json_string_value(v)};
    }
    return NULL;
}

static int s_run_output(const char *proto, const struct bsup_shape_model *model, const json_t *c)
{
    const json_t *given = json_object_get(c, "given");
    const json_t *resp = json_object_get(c, "response");
    const char *body = json_string_value(json_object_get(resp, "body"));
    size_t len = body ? strlen(body) : 0;
    const char *want_code = json_string_value(json_object_get(c, "errorCode"));
    if (want_code) {
        struct bsup_aws_header h[16];
        size_t n;
        struct bsup_aws_error e;
        s_headers_of(resp, h, &n);
        int status = (int)json_integer_value(json_object_get(resp, "status_code"));
        int rc = bsup_aws_error_parse(status, h, n, body, len, &e);
        const char *want_msg = json_string_value(json_object_get(c, "errorMessage"));
        int ok = rc == 0 && e.http_status == status && strcmp(e.code, want_code) == 0 &&
                 (!want_msg || strcmp(e.message, want_msg) == 0);
        if (!ok)
            fprintf(stderr, "  error rc=%d code=%s msg=%s\n", rc, e.code, e.message);
        return ok;
    }
    const json_t *out = json_object_get(given, "output");
    int32_t shape = bsup_shape_find(model, json_string_value(json_object_get(out, "shape")));
    json_t *got = NULL;
    int rc;
    if (strncmp(proto, "json", 4) == 0) {
        rc = bsup_aws_json_parse(model, shape, body, len, &got);
    } else {
        char wrapper[256];
        const char *w = json_string_value(json_object_get(out, "resultWrapper"));
        snprintf(wrapper, sizeof(wrapper), "%sResult",
                 json_string_value(json_object_get(given, "name")));
        rc = body ? bsup_aws_xml_parse(model, shape, w ? w : wrapper,
                                       strcmp(proto, "ec2") == 0 ? BSUP_AWS_PROTO_EC2
                                                                 : BSUP_AWS_PROTO_QUERY,
                                       body, len, &got)
                  : 0;
    }
    const json_t *want = json_object_get(c, "result");
    int ok = rc == 0 &&
             (shape < 0 || !got ? json_object_size(want) == 0 : s_match(model, shape, got, want));
    if (!ok) {
        char *g = got ? json_dumps(got, JSON_COMPACT) : NULL;
        fprintf(stderr, "  rc=%d got %.400s\n", rc, g ? g : "(null)");
        free(g);
    }
    json_decref(got);
    return ok;
}

static void test_output_cases(void **state)
{
    (void)state;
    static const char *const protos[] = {"query", "ec2", "json", "json_1_0"};
    int total = 0, run = 0, passed = 0;
    for (size_t p = 0; p < sizeof(protos) / sizeof(protos[0]); p++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "output/%s.json", protos[p]);
        json_t *suites = s_load(rel);
        size_t si, ci;
        json_t *suite, *c;
        json_array_foreach(suites, si, suite)
        {
            struct bsup_shape_model *model = NULL;
            assert_int_equal(bsup_shape_model_load_json(json_object_get(suite, "shapes"), &model),
                             0);
            const char *desc = json_string_value(json_object_get(suite, "description"));
            json_array_foreach(json_object_get(suite, "cases"), ci, c)
            {
                const char *id = json_string_value(json_object_get(c, "id"));
                total++;
                if (s_ignored(protos[p], "output", desc, id))
                    continue;
                run++;
                if (s_run_output(protos[p], model, c))
                    passed++;
                else
                    fprintf(stderr, "FAIL output %s %s\n", protos[p], id);
            }
            bsup_shape_model_free(model);
        }
        json_decref(suites);
    }
    fprintf(stderr, "protocol output cases: %d run, %d pass, %d skipped (of %d)\n", run, passed,
            total - run, total);
    assert_true(run > 100);
    assert_int_equal(passed, run);
}

static int s_setup(void **state)
{
    (void)state;
    s_ignore = s_load("protocol-tests-ignore-list.json");
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    json_decref(s_ignore);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_cases),
        cmocka_unit_test(test_output_cases),
    };
    return cmocka_run_group_tests_name("protocol", tests, s_setup, s_teardown);
}
