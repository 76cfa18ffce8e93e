/* Request serialisation as bsupd uses it (flattened Query names, JSON objects), the
 * generated operation table, wire formats, and the parsers' hard limits. */
#include "tests/lib/testlib.h"

#include "core/aws/model.h"
#include "core/aws/query.h"
#include "core/aws/request.h"
#include "core/aws/response.h"
#include "core/aws/wire.h"
#include "core/base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_body(const struct bsup_aws_request *req)
{
    char *s = strndup((const char *)req->body, req->body_len);
    assert_non_null(s);
    return s;
}

static void test_query_update_asg(void **state)
{
    (void)state;
    struct bsup_aws_request req;
    struct bsup_aws_params p = {0};
    const struct bsup_aws_operation *op =
        bsup_aws_operation_find("autoscaling", "UpdateAutoScalingGroup");
    assert_non_null(op);
    assert_int_equal(
        bsup_aws_request_init(&req, "GET", "https", "autoscaling.eu-west-1.amazonaws.com", NULL),
        0);
    assert_int_equal(bsup_aws_params_add(&p, "AutoScalingGroupName", "api prod/é"), 0);
    assert_int_equal(bsup_aws_params_addf(&p, "2", "MinSize"), 0);
    assert_int_equal(bsup_aws_params_addf(&p, "sg-1", "Tags.member.%d.Key", 1), 0);
    assert_string_equal(bsup_aws_params_get(&p, "MinSize"), "2");
    assert_null(bsup_aws_params_get(&p, "MaxSize"));
    assert_int_equal(bsup_aws_serialize(&req, op, &p, NULL), 0);
    char *body = s_body(&req);
    assert_string_equal(body, "Action=UpdateAutoScalingGroup&Version=2011-01-01"
                              "&AutoScalingGroupName=api+prod%2F%C3%A9&MinSize=2"
                              "&Tags.member.1.Key=sg-1");
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/");
    assert_string_equal(bsup_aws_request_header(&req, "content-type"),
                        "application/x-www-form-urlencoded; charset=utf-8");
    free(body);
    bsup_aws_params_cleanup(&p);
    bsup_aws_params_cleanup(&p); /* idempotent */
    bsup_aws_request_cleanup(&req);
}

/* Structured input through the generated input shapes: Query lists are "member" lists,
 * EC2 lists are Name.N with queryName/capitalised names. */
static void test_structured_input(void **state)
{
    (void)state;
    struct {
        const char *service, *action, *input, *body;
    } cases[] = {
        {"autoscaling", "DescribeAutoScalingGroups",
         "{\"AutoScalingGroupNames\":[\"api-prod\",\"web\"],\"MaxRecords\":50}",
         "Action=DescribeAutoScalingGroups&Version=2011-01-01"
         "&AutoScalingGroupNames.member.1=api-prod&AutoScalingGroupNames.member.2=web"
         "&MaxRecords=50"},
        {"ec2", "DescribeLaunchTemplateVersions",
         "{\"LaunchTemplateId\":\"lt-1\",\"Versions\":[\"$Latest\"]}",
         "Action=DescribeLaunchTemplateVersions&Version=2016-11-15"
         "&LaunchTemplateId=lt-1&LaunchTemplateVersion.1=%24Latest"},
        {"cloudwatch", "PutMetricData",
         "{\"Namespace\":\"bsup\",\"MetricData\":[{\"MetricName\":\"Drift\",\"Value\":1.5,"
         "\"Timestamp\":1422172800,\"Dimensions\":[{\"Name\":\"Service\",\"Value\":\"api\"}]}]}",
         "Action=PutMetricData&Version=2010-08-01&Namespace=bsup"
         "&MetricData.member.1.MetricName=Drift&MetricData.member.1.Value=1.5"
         "&MetricData.member.1.Timestamp=2015-01-25T08%3A00%3A00Z"
         "&MetricData.member.1.Dimensions.member.1.Name=Service"
         "&MetricData.member.1.Dimensions.member.1.Value=api"},
        {"rds", "ModifyDBInstance",
         "{\"DBInstanceIdentifier\":\"api\",\"BackupRetentionPeriod\":7,"
         "\"ApplyImmediately\":true}",
         "Action=ModifyDBInstance&Version=2014-10-31&DBInstanceIdentifier=api"
         "&BackupRetentionPeriod=7&ApplyImmediately=true"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t err;
        json_t *in = json_loads(cases[i].input, 0, &err);
        struct bsup_aws_request req;
        const struct bsup_aws_operation *op =
            bsup_aws_operation_find(cases[i].service, cases[i].action);
        assert_non_null(in);
        assert_non_null(op);
        assert_true(op->input_shape >= 0);
        assert_int_equal(bsup_aws_request_init(&req, "POST", "https", "h", "/"), 0);
        assert_int_equal(bsup_aws_serialize(&req, op, NULL, in), 0);
        char *body = s_body(&req);
        assert_string_equal(body, cases[i].body);
        free(body);
        bsup_aws_request_cleanup(&req);
        json_decref(in);
    }
    /* An unknown member is refused, not silently dropped. */
    json_error_t err;
    json_t *bad = json_loads("{\"NoSuchMember\":1}", 0, &err);
    struct bsup_aws_params p = {0};
    const struct bsup_aws_service *svc = bsup_aws_service_find("rds");
    const struct bsup_aws_operation *op = bsup_aws_operation_find("rds", "ModifyDBInstance");
    assert_int_equal(
        bsup_aws_params_from_json(&svc->model, op->input_shape, bad, BSUP_AWS_PROTO_QUERY, &p),
        BSUP_EINVAL);
    bsup_aws_params_cleanup(&p);
    json_decref(bad);
}

static void test_json_request(void **state)
{
    (void)state;
    struct bsup_aws_request req;
    json_t *in = json_pack("{s:s}", "SecretId", "api-prod/db");
    const struct bsup_aws_operation *op =
        bsup_aws_operation_find("secretsmanager", "GetSecretValue");
    assert_non_null(op);
    assert_int_equal(bsup_aws_request_init(&req, "POST", "https", "h", "/"), 0);
    assert_int_equal(bsup_aws_serialize(&req, op, NULL, in), 0);
    char *body = s_body(&req);
    assert_string_equal(body, "{\"SecretId\":\"api-prod/db\"}");
    assert_string_equal(bsup_aws_request_header(&req, "X-Amz-Target"),
                        "secretsmanager.GetSecretValue");
    assert_string_equal(bsup_aws_request_header(&req, "Content-Type"),
                        "application/x-amz-json-1.1");
    free(body);
    bsup_aws_request_cleanup(&req);
    json_decref(in);

    op = bsup_aws_operation_find("ssm", "GetParameter");
    assert_int_equal(bsup_aws_request_init(&req, "POST", "https", "h", "/"), 0);
    assert_int_equal(bsup_aws_serialize(&req, op, NULL, NULL), 0); /* no input: {} */
    assert_int_equal(req.body_len, 2);
    assert_string_equal(bsup_aws_request_header(&req, "X-Amz-Target"), "AmazonSSM.GetParameter");
    /* Query params for a JSON service are a caller error. */
    struct bsup_aws_params p = {0};
    assert_int_equal(bsup_aws_serialize(&req, op, &p, NULL), BSUP_EINVAL);
    bsup_aws_request_cleanup(&req);
}

static void test_service_table(void **state)
{
    (void)state;
    static const struct {
        const char *id, *prefix, *version;
        enum bsup_aws_protocol proto;
    } want[] = {
        {"autoscaling", "autoscaling", "2011-01-01", BSUP_AWS_PROTO_QUERY},
        {"elbv2", "elasticloadbalancing", "2015-12-01", BSUP_AWS_PROTO_QUERY},
        {"rds", "rds", "2014-10-31", BSUP_AWS_PROTO_QUERY},
        {"cloudwatch", "monitoring", "2010-08-01", BSUP_AWS_PROTO_QUERY},
        {"sns", "sns", "2010-03-31", BSUP_AWS_PROTO_QUERY},
        {"elasticache", "elasticache", "2015-02-02", BSUP_AWS_PROTO_QUERY},
        {"ec2", "ec2", "2016-11-15", BSUP_AWS_PROTO_EC2},
        {"sts", "sts", "2011-06-15", BSUP_AWS_PROTO_QUERY},
        {"secretsmanager", "secretsmanager", "2017-10-17", BSUP_AWS_PROTO_JSON},
        {"ssm", "ssm", "2014-11-06", BSUP_AWS_PROTO_JSON},
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), BSUP_AWS_SERVICE_COUNT);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct bsup_aws_service *s = bsup_aws_service_find(want[i].id);
        assert_ptr_equal(s, &bsup_aws_services[i]); /* indexed by enum bsup_aws_service_id */
        assert_ptr_equal(bsup_aws_service_find(want[i].prefix), s);
        assert_string_equal(s->endpoint_prefix, want[i].prefix);
        assert_string_equal(s->api_version, want[i].version);
        assert_int_equal(s->protocol, want[i].proto);
    }
    assert_null(bsup_aws_service_find("nope"));
    assert_null(bsup_aws_operation_find("rds", "Nope"));
    /* bsupd's table holds the operations it calls, nothing the golden tests alone need. */
    assert_null(bsup_aws_operation_find("ec2", "DescribeInstances"));
    for (size_t i = 0; i < bsup_aws_n_operations; i++) {
        assert_true(bsup_aws_operations[i].called);
        assert_ptr_equal(bsup_aws_operations[i].model,
                         &bsup_aws_operation_service(&bsup_aws_operations[i])->model);
    }
    /* Paging descriptors come from botocore's paginators. */
    static const struct {
        const char *svc, *action, *in, *out;
    } paging[] = {
        {"autoscaling", "DescribeAutoScalingGroups", "NextToken", "NextToken"},
        {"elbv2", "DescribeTargetGroups", "Marker", "NextMarker"},
        {"elbv2", "DescribeLoadBalancers", "Marker", "NextMarker"},
        {"rds", "DescribeDBInstances", "Marker", "Marker"},
        {"rds", "DescribeDBSnapshots", "Marker", "Marker"},
        {"elasticache", "DescribeReplicationGroups", "Marker", "Marker"},
        {"cloudwatch", "DescribeAlarms", "NextToken", "NextToken"},
        {"ec2", "DescribeLaunchTemplateVersions", "NextToken", "NextToken"},
    };
    for (size_t i = 0; i < sizeof(paging) / sizeof(paging[0]); i++) {
        const struct bsup_aws_operation *op =
            bsup_aws_operation_find(paging[i].svc, paging[i].action);
        assert_non_null(op);
        assert_string_equal(op->input_token, paging[i].in);
        assert_string_equal(op->output_token, paging[i].out);
    }
    const struct bsup_aws_operation *op = bsup_aws_operation_find("sns", "Publish");
    assert_null(op->input_token);
    json_t *page = json_pack("{s:s}", "NextToken", "abc");
    assert_null(bsup_aws_next_token(op, page)); /* not paged */
    op = bsup_aws_operation_find("cloudwatch", "DescribeAlarms");
    assert_string_equal(bsup_aws_next_token(op, page), "abc");
    json_object_set_new(page, "NextToken", json_string(""));
    assert_null(bsup_aws_next_token(op, page)); /* empty token: last page */
    json_decref(page);
}

static void test_wire(void **state)
{
    (void)state;
    char buf[64];
    double t;
    assert_int_equal(bsup_wire_format_timestamp(1422172800, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2015-01-25T08:00:00Z");
    assert_int_equal(bsup_wire_format_timestamp(946845296, "rfc822", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Sun, 02 Jan 2000 20:34:56 GMT");
    assert_int_equal(bsup_wire_format_timestamp(1422172800, "unixTimestamp", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1422172800");
    assert_int_equal(bsup_wire_format_timestamp(1, NULL, buf, 4), BSUP_ETOOBIG);
    assert_int_equal(bsup_wire_parse_timestamp("2019-12-16T22:48:18-01:00", &t), 0);
    assert_true(t == 1576540098);
    assert_int_equal(bsup_wire_parse_timestamp("2000-01-02T20:34:56.123Z", &t), 0);
    assert_true(t > 946845296.12 && t < 946845296.13);
    assert_int_equal(bsup_wire_parse_timestamp("Sun, 02 Jan 2000 20:34:56 GMT", &t), 0);
    assert_true(t == 946845296);
    assert_int_equal(bsup_wire_parse_timestamp("yesterday", &t), BSUP_EPARSE);
    assert_int_equal(bsup_wire_format_double(10.8, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "10.8");
    char *b64;
    unsigned char *raw;
    size_t n;
    assert_int_equal(bsup_wire_base64_encode("value", 5, &b64), 0);
    assert_string_equal(b64, "dmFsdWU=");
    assert_int_equal(bsup_wire_base64_decode(b64, &raw, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(raw, "value", 5);
    free(b64);
    free(raw);
    assert_int_equal(bsup_wire_base64_decode("abc", &raw, &n), BSUP_EPARSE);
}

/* Timestamps shorter than the parser's look-ahead, found by tests/fuzz/fuzz_wire.c (and
 * fuzz_aws_response.c through an RDS LatestRestorableTime): a bare number under five
 * characters and a cut "+hh:mm" offset were read past their end. Each text is a heap copy of
 * its exact length, so that ASan sees any such read. */
static void test_wire_timestamp_stays_in_the_text(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        double t;
    } cases[] = {
        {"1", 0, 1},
        {"12", 0, 12},
        {"-1", 0, -1},
        {"2015", 0, 2015},
        {"2015-01-01T00:00:00+01:30", 0, 1420065000},
        {"2015-01-01T00:00:00+1:1", BSUP_EPARSE, 0},
        {"2015-01-01T00:00:00+01:3", BSUP_EPARSE, 0},
        {"2015-01-01T00:00:00+01", BSUP_EPARSE, 0},
        {"2015-01-01T00:00:00-", BSUP_EPARSE, 0},
        {"2015-01-01T00:00:00+ 1:30", BSUP_EPARSE, 0},
        /* A fraction is digits: strtod read ".5e3" as 500 seconds. */
        {"2015-01-01T00:00:00.5e3Z", BSUP_EPARSE, 0},
        {"2015-01-01T00:00:00.Z", BSUP_EPARSE, 0},
        {"2015-01-01T00:00:00.25Z", 0, 1420070400.25},
        {"2015-01-01T00:00:00.", BSUP_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = strdup(cases[i].text);
        double t = -42;
        assert_non_null(text);
        int rc = bsup_wire_parse_timestamp(text, &t);
        if (rc != cases[i].rc || (rc == 0 && t != cases[i].t))
            fail_msg("%s: rc %d t %f", cases[i].text, rc, t);
        free(text);
    }
}

/* A fraction that rounds to a whole microsecond million carries into the seconds: it printed
 * ".1000000", 0.9 s off (tests/fuzz/fuzz_wire.c: -6E-33 became 23:59:59.1). */
static void test_wire_timestamp_rounds_up(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(bsup_wire_format_timestamp(1422172799.9999996, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2015-01-25T08:00:00Z");
    assert_int_equal(bsup_wire_format_timestamp(-6e-33, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_int_equal(bsup_wire_format_timestamp(1422172799.9999994, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2015-01-25T07:59:59.999999Z");
    assert_int_equal(bsup_wire_format_timestamp(1422172799.9999996, "rfc822", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "Sun, 25 Jan 2015 08:00:00 GMT");
}

/* Base64 padding only at the end and at most "==": "====" decoded to -1 bytes and wrote one
 * byte before the buffer (tests/fuzz/fuzz_wire.c). */
static void test_wire_base64_padding(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        size_t len;
    } cases[] = {
        {"====", BSUP_EPARSE, 0}, {"A===", BSUP_EPARSE, 0},
        {"=AAA", BSUP_EPARSE, 0}, {"AA=A", BSUP_EPARSE, 0},
        {"QQ==", 0, 1},           {"QUI=", 0, 2},
        {"QUJD", 0, 3},           {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *raw = NULL;
        size_t n = 42;
        int rc = bsup_wire_base64_decode(cases[i].text, &raw, &n);
        if (rc != cases[i].rc || (rc == 0 && n != cases[i].len))
            fail_msg("%s: rc %d, %zu bytes", cases[i].text, rc, n);
        if (rc == 0)
            assert_memory_equal(raw, "ABC", n);
        free(raw);
    }
}

/* Hard limits and hostile input. */
static void test_limits(void **state)
{
    (void)state;
    const struct bsup_aws_operation *op = bsup_aws_operation_find("sns", "Publish");
    json_t *out = NULL;
    size_t k;
    /* Bigger than the cap: refused before parsing. */
    assert_int_equal(bsup_aws_parse_response(op, "<a/>", BSUP_AWS_RESPONSE_MAX_BYTES + 1, &out),
                     BSUP_ETOOBIG);
    assert_int_equal(bsup_aws_json_parse(NULL, -1, "{}", BSUP_AWS_RESPONSE_MAX_BYTES + 1, &out),
                     BSUP_ETOOBIG);
    /* XXE: a DTD with an external entity is refused; nothing is fetched or expanded. */
    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                      "\"file:///etc/passwd\">]><PublishResponse><PublishResult><MessageId>&x;"
                      "</MessageId></PublishResult></PublishResponse>";
    assert_int_equal(bsup_aws_parse_response(op, xxe, strlen(xxe), &out), BSUP_EPARSE);
    assert_null(out);
    const char *doctype = "<!DOCTYPE PublishResponse><PublishResponse/>";
    assert_int_equal(bsup_aws_parse_response(op, doctype, strlen(doctype), &out), BSUP_EPARSE);
    const char *bad = "<PublishResponse><oops></PublishResponse>";
    assert_int_equal(bsup_aws_parse_response(op, bad, strlen(bad), &out), BSUP_EPARSE);
    /* Elements nested deeper than the parser keeps: refused while it reads them. */
    char nested[300 * 7 + 64];
    k = (size_t)snprintf(nested, sizeof(nested), "<PublishResponse>");
    for (int i = 0; i < 300; i++)
        k += (size_t)snprintf(nested + k, sizeof(nested) - k, "<a>");
    for (int i = 0; i < 300; i++)
        k += (size_t)snprintf(nested + k, sizeof(nested) - k, "</a>");
    k += (size_t)snprintf(nested + k, sizeof(nested) - k, "</PublishResponse>");
    assert_int_equal(bsup_aws_parse_response(op, nested, k, &out), BSUP_ETOOBIG);
    assert_null(out);
    /* Nesting deeper than the cap: JSON refused; an integer that is not one: EPARSE. */
    char deep[512];
    k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k] = '\0';
    char obj[600];
    snprintf(obj, sizeof(obj), "{\"a\":%s}", deep);
    assert_int_equal(bsup_aws_json_parse(NULL, -1, obj, strlen(obj), &out), BSUP_ETOOBIG);
    assert_int_equal(bsup_aws_json_parse(NULL, -1, "[1]", 3, &out), BSUP_EPROTO);
    assert_int_equal(bsup_aws_json_parse(NULL, -1, " ", 1, &out), 0);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    const struct bsup_aws_operation *asg =
        bsup_aws_operation_find("autoscaling", "DescribeAutoScalingGroups");
    const char *notint = "<R><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>"
                         "<MinSize>two</MinSize></member></AutoScalingGroups>"
                         "</DescribeAutoScalingGroupsResult></R>";
    assert_int_equal(bsup_aws_parse_response(asg, notint, strlen(notint), &out), BSUP_EPARSE);
    /* Parameter list cap. */
    struct bsup_aws_params p = {0};
    int rc = 0;
    for (int i = 0; i <= BSUP_AWS_PARAMS_MAX && rc == 0; i++)
        rc = bsup_aws_params_addf(&p, "v", "K.%d", i);
    assert_int_equal(rc, BSUP_ETOOBIG);
    assert_int_equal(p.n, BSUP_AWS_PARAMS_MAX);
    bsup_aws_params_cleanup(&p);
}

static void test_error_variants(void **state)
{
    (void)state;
    struct bsup_aws_error e;
    struct bsup_aws_header h[] = {
        {"X-Amzn-RequestId", "rid-1"},
        {"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
    };
    const char *json = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":\"no\"}";
    assert_int_equal(bsup_aws_error_parse(400, h, 2, json, strlen(json), &e), 0);
    assert_string_equal(e.code, "AWS.SimpleQueueService.NonExistentQueue");
    assert_string_equal(e.message, "no");
    assert_string_equal(e.request_id, "rid-1");
    assert_int_equal(bsup_aws_error_parse(400, h, 1, json, strlen(json), &e), 0);
    assert_string_equal(e.code, "QueueDoesNotExist");
    const char *typed = "{\"code\":\"ThrottlingException:http://internal\",\"Message\":\"slow\"}";
    assert_int_equal(bsup_aws_error_parse(400, NULL, 0, typed, strlen(typed), &e), 0);
    assert_string_equal(e.code, "ThrottlingException");
    assert_string_equal(e.message, "slow");
    /* Bodies we cannot read still give the status and request id. */
    assert_int_equal(bsup_aws_error_parse(503, h, 1, "<html>", 6, &e), BSUP_EPARSE);
    assert_int_equal(e.http_status, 503);
    assert_string_equal(e.request_id, "rid-1");
    assert_string_equal(e.code, "");
    assert_int_equal(bsup_aws_error_parse(500, NULL, 0, NULL, 0, &e), BSUP_EPARSE);
    /* XML text as sent: namespace prefixes dropped, CDATA joined, entities and character
     * references decoded, comments skipped, whitespace kept. */
    struct {
        const char *body, *code, *message, *request_id;
    } xml[] = {
        {"<p:ErrorResponse xmlns:p=\"urn:x\"><p:Error><p:Code>Throttling</p:Code>"
         "<p:Message>slow</p:Message></p:Error><p:RequestId>r</p:RequestId></p:ErrorResponse>",
         "Throttling", "slow", "r"},
        {"<ErrorResponse><Error><Code><![CDATA[Thr]]>ott&amp;ling</Code><Message> a &lt;b&gt; "
         "&#65;&#x42; <!-- c --> d\r\n e </Message></Error></ErrorResponse>",
         "Thrott&ling", " a <b> AB  d\n e ", ""},
        {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>C</Code>\n  "
         "<RequestId>\n  r\n</RequestId>\n</Error>\n",
         "C", "", "\n  r\n"},
    };
    for (size_t i = 0; i < sizeof(xml) / sizeof(xml[0]); i++) {
        assert_int_equal(bsup_aws_error_parse(400, NULL, 0, xml[i].body, strlen(xml[i].body), &e),
                         0);
        assert_string_equal(e.code, xml[i].code);
        assert_string_equal(e.message, xml[i].message);
        assert_string_equal(e.request_id, xml[i].request_id);
    }
    /* Over-long fields are truncated, not overflowed. */
    char big[2048];
    memset(big, 'x', sizeof(big));
    snprintf(big, sizeof(big), "{\"__type\":\"%0*d\"}", 1500, 0);
    assert_int_equal(bsup_aws_error_parse(400, NULL, 0, big, strlen(big), &e), 0);
    assert_int_equal(strlen(e.code), sizeof(e.code) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_update_asg),
        cmocka_unit_test(test_structured_input),
        cmocka_unit_test(test_json_request),
        cmocka_unit_test(test_service_table),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_wire_timestamp_stays_in_the_text),
        cmocka_unit_test(test_wire_timestamp_rounds_up),
        cmocka_unit_test(test_wire_base64_padding),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_error_variants),
    };
    return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
