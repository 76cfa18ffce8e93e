/* SigV4 (core/aws/sigv4.c): the bytes are a raw HTTP request in the layout of the official
 * suite's .req files ("METHOD target HTTP/1.1", "Name:value" lines, a line starting with
 * whitespace continues the previous value, a blank line, the body), read leniently. Its
 * canonical request is built with and without path normalisation, and must be a fixed point:
 * a request made of its own lines (path as is) canonicalises to the same text. Then the
 * request is signed, re-signed (the retry path) and signed with the token left unsigned. */
#include "tests/fuzz/fuzz.h"

#include "core/aws/request.h"
#include "core/aws/sigv4.h"
#include "core/base/error.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* The next line of *p (without "\n"), NUL-terminated in place; NULL at the end. */
static char *s_line(char **p)
{
    if (!*p)
        return NULL;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return line;
}

static bool s_append_continuation(struct bsup_aws_request *req, const char *more)
{
    struct bsup_aws_header *h = &req->headers[req->n_headers - 1];
    size_t old = strlen(h->value), add = strlen(more);
    char *v = realloc(h->value, old + 1 + add + 1);
    if (!v)
        return false;
    v[old] = '\n';
    memcpy(v + old + 1, more, add + 1);
    h->value = v;
    return true;
}

/* Fills req from text (modified in place). False only when out of memory. */
static bool s_parse(char *text, struct bsup_aws_request *req)
{
    char *p = text, *first = s_line(&p);
    char *target = strchr(first, ' ');
    if (target)
        *target++ = '\0';
    else
        target = "/";
    char *http = strstr(target, " HTTP/");
    if (http)
        *http = '\0';
    char *query = strchr(target, '?');
    if (query)
        *query++ = '\0';
    first[strnlen(first, sizeof(req->method) - 1)] = '\0'; /* method[8] */
    if (!first[0])
        first = "GET";
    if (bsup_aws_request_init(req, first, "https", "", target) != 0)
        return false;
    if (query && bsup_aws_request_set_query(req, query) != 0)
        return false;
    for (char *line; (line = s_line(&p)) && *line;) {
        if ((*line == ' ' || *line == '\t') && req->n_headers) {
            if (!s_append_continuation(req, line))
                return false;
            continue;
        }
        char *colon = strchr(line, ':');
        const char *value = "";
        if (colon) {
            *colon = '\0';
            value = colon + 1;
        }
        if (bsup_aws_request_add_header(req, line, value) != 0)
            return false;
        if (strcasecmp(line, "host") == 0) {
            char *host = strdup(value);
            if (!host)
                return false;
            free(req->host);
            req->host = host;
        }
    }
    return !p || bsup_aws_request_set_body(req, p, strlen(p)) == 0;
}

/* Rebuilds a request from a canonical request's lines; NULL when it cannot be read back
 * (a payload hash of the caller's own spelling). */
static bool s_from_canonical(char *creq, const struct bsup_aws_request *orig,
                             struct bsup_aws_request *out)
{
    char *p = creq;
    char *method = s_line(&p), *path = s_line(&p), *query = s_line(&p);
    BSUP_FUZZ_CHECK(method && path && query);
    if (bsup_aws_request_init(out, method, "https", orig->host, path) != 0)
        return false;
    if (*query && bsup_aws_request_set_query(out, query) != 0)
        return false;
    for (char *line; (line = s_line(&p)) && *line;) {
        char *colon = strchr(line, ':');
        BSUP_FUZZ_CHECK(colon != NULL);
        *colon = '\0';
        if (bsup_aws_request_add_header(out, line, colon + 1) != 0)
            return false;
    }
    return bsup_aws_request_set_body(out, orig->body, orig->body_len) == 0;
}

static void s_fixed_point(const struct bsup_aws_request *req, unsigned flags)
{
    char *creq = NULL, *signed_headers = NULL, *copy = NULL, *again = NULL;
    struct bsup_aws_request back = {0};
    int rc = bsup_sigv4_canonical_request(req, flags, &creq, &signed_headers);
    if (rc < 0) {
        BSUP_FUZZ_CHECK(rc == BSUP_ETOOBIG || rc == BSUP_ENOMEM);
        goto out;
    }
    BSUP_FUZZ_CHECK(strncmp(creq, req->method, strlen(req->method)) == 0);
    BSUP_FUZZ_CHECK(creq[strlen(req->method)] == '\n');
    BSUP_FUZZ_CHECK(strstr(signed_headers, "host") != NULL);
    /* The payload line is the x-amz-content-sha256 header verbatim when there is one. */
    if (bsup_aws_request_header(req, "x-amz-content-sha256"))
        goto out;
    copy = strdup(creq);
    BSUP_FUZZ_CHECK(copy != NULL);
    if (!s_from_canonical(copy, req, &back))
        goto out;
    rc = bsup_sigv4_canonical_request(&back, BSUP_SIGV4_NO_NORMALIZE_PATH, &again, NULL);
    BSUP_FUZZ_CHECK(rc == 0 || rc == BSUP_ETOOBIG || rc == BSUP_ENOMEM);
    if (rc == 0 && strcmp(creq, again) != 0) {
        fprintf(stderr, "first:\n%s\n--\nagain:\n%s\n", creq, again);
        BSUP_FUZZ_CHECK(!"canonical request is a fixed point");
    }
out:
    bsup_aws_request_cleanup(&back);
    free(again);
    free(copy);
    free(signed_headers);
    free(creq);
}

static void s_sign(struct bsup_aws_request *req)
{
    struct bsup_aws_credentials creds = {
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = "token",
    };
    struct bsup_sigv4_cache cache;
    bsup_sigv4_cache_init(&cache);
    for (int i = 0; i < 3; i++) {
        unsigned flags = i == 2 ? BSUP_SIGV4_TOKEN_UNSIGNED : 0;
        int rc = bsup_sigv4_sign_ex(req, &creds, "us-east-1", "service", 1440938160, flags, &cache);
        if (rc < 0) {
            BSUP_FUZZ_CHECK(rc == BSUP_ETOOBIG || rc == BSUP_ENOMEM);
            break;
        }
        const char *authz = bsup_aws_request_header(req, "Authorization");
        BSUP_FUZZ_CHECK(authz &&
                        strncmp(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 40) == 0);
        BSUP_FUZZ_CHECK(bsup_aws_request_header(req, "X-Amz-Date") != NULL);
    }
    bsup_sigv4_cache_cleanup(&cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size);
    if (!text)
        return 0;
    struct bsup_aws_request req = {0};
    if (s_parse(text, &req)) {
        s_fixed_point(&req, 0);
        s_fixed_point(&req, BSUP_SIGV4_NO_NORMALIZE_PATH);
        s_sign(&req);
    }
    bsup_aws_request_cleanup(&req);
    free(text);
    return 0;
}
