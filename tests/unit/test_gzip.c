/* gzip of request bodies: small bodies untouched; large ones compressed in place, decoded back
 * byte for byte, with Content-Encoding and the hash of the bytes sent; and a PutMetricData of
 * 1000 entries as the publisher sends it. */
#include "tests/lib/testlib.h"

#include "core/aws/gzip.h"
#include "core/aws/query.h"
#include "core/aws/sigv4.h"
#include "core/metrics/putdata.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Decodes a gzip stream; the caller frees *out. */
static void s_gunzip(const unsigned char *in, size_t n, unsigned char **out, size_t *out_n)
{
    size_t cap = 4 << 20;
    *out = malloc(cap);
    assert_non_null(*out);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK); /* gzip framing only */
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    *out_n = z.total_out;
    inflateEnd(&z);
}

static void s_sha256_hex(const unsigned char *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    assert_true(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL));
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void s_body(struct bsup_aws_request *req, size_t n)
{
    assert_int_equal(bsup_aws_request_init(req, "POST", "https", "monitoring.example", "/"), 0);
    req->body = malloc(n);
    assert_non_null(req->body);
    for (size_t i = 0; i < n; i++)
        req->body[i] = (unsigned char)"Action=PutMetricData&MetricData.member."[i % 39];
    req->body_len = n;
}

static void test_threshold(void **state)
{
    (void)state;
    struct bsup_aws_request req;
    s_body(&req, BSUP_GZIP_MIN_BYTES - 1);
    assert_int_equal(bsup_aws_request_gzip(&req, 0), 0);
    assert_int_equal(req.body_len, BSUP_GZIP_MIN_BYTES - 1); /* untouched */
    assert_null(bsup_aws_request_header(&req, "content-encoding"));
    assert_null(bsup_aws_request_header(&req, "x-amz-content-sha256"));
    bsup_aws_request_cleanup(&req);

    s_body(&req, BSUP_GZIP_MIN_BYTES);
    unsigned char *plain = malloc(req.body_len);
    memcpy(plain, req.body, req.body_len);
    size_t plain_n = req.body_len;
    assert_int_equal(bsup_aws_request_gzip(&req, 0), 0);
    assert_true(req.body_len < plain_n / 10);
    assert_int_equal(req.body[0], 0x1f); /* gzip magic */
    assert_int_equal(req.body[1], 0x8b);
    assert_string_equal(bsup_aws_request_header(&req, "content-encoding"), "gzip");
    char hex[65];
    s_sha256_hex(req.body, req.body_len, hex);
    assert_string_equal(bsup_aws_request_header(&req, "x-amz-content-sha256"), hex);
    unsigned char *back;
    size_t back_n;
    s_gunzip(req.body, req.body_len, &back, &back_n);
    assert_int_equal(back_n, plain_n);
    assert_memory_equal(back, plain, plain_n);
    /* The signature covers the bytes sent: the canonical request carries their hash. */
    char *creq = NULL;
    assert_int_equal(bsup_sigv4_canonical_request(&req, 0, &creq, NULL), 0);
    assert_non_null(strstr(creq, hex));
    assert_non_null(strstr(creq, "content-encoding:gzip\n"));
    free(creq);
    free(back);
    free(plain);
    bsup_aws_request_cleanup(&req);
}

/* A full PutMetricData (1000 entries, as the publisher cuts them): what goes on the wire. */
static void test_put_metric_data(void **state)
{
    (void)state;
    enum { N = 1000 };
    static struct bsup_metric_datum d[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "svc-%04d", i);
        d[i] = (struct bsup_metric_datum){.id = i + 1,
                                          .name = "ReconcileDuration",
                                          .service = names[i],
                                          .environment = "prod",
                                          .at_ms = 1767225600000LL + i,
                                          .value = (double)(i % 97),
                                          .unit = "Milliseconds"};
    }
    struct bsup_putdata_request r;
    assert_int_equal(bsup_putdata_next("BSUP", d, N, NULL, &r), 0);
    assert_int_equal(r.n_datums, N);
    struct bsup_aws_request req;
    assert_int_equal(bsup_aws_request_init(&req, "POST", "https", "monitoring.example", "/"), 0);
    assert_int_equal(bsup_query_serialize(&req, "PutMetricData", "2010-08-01", &r.params), 0);
    size_t plain = req.body_len;
    assert_int_equal(bsup_aws_request_gzip(&req, 0), 0);
    printf("FIGURE: PutMetricData of %d entries: %zu form bytes, %zu gzip bytes on the wire "
           "(%.1f%%)\n",
           N, plain, req.body_len, 100.0 * (double)req.body_len / (double)plain);
    assert_true(req.body_len * 5 < plain);
    bsup_aws_request_cleanup(&req);
    bsup_putdata_request_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_put_metric_data),
    };
    return cmocka_run_group_tests_name("gzip", tests, NULL, NULL);
}
