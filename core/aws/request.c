#include "core/aws/request.h"

#include "core/base/array.h"
#include "core/base/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int bsup_aws_request_init(struct bsup_aws_request *req, const char *method, const char *scheme,
                          const char *host, const char *path)
{
    memset(req, 0, sizeof(*req));
    if (strlen(method) >= sizeof(req->method))
        return BSUP_EINVAL;
    strcpy(req->method, method);
    req->scheme = strdup(scheme ? scheme : "https");
    req->host = strdup(host ? host : "");
    req->path = strdup(path && *path ? path : "/");
    if (!req->scheme || !req->host || !req->path) {
        bsup_aws_request_cleanup(req);
        return BSUP_ENOMEM;
    }
    return 0;
}

void bsup_aws_request_cleanup(struct bsup_aws_request *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->n_headers; i++) {
        /* Authorization and X-Amz-Security-Token carry secrets-derived data. */
        if (req->headers[i].value)
            bsup_secure_zero(req->headers[i].value, strlen(req->headers[i].value));
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req->scheme);
    free(req->host);
    free(req->path);
    free(req->query);
    if (req->body)
        bsup_secure_zero(req->body, req->body_len);
    free(req->body);
    memset(req, 0, sizeof(*req));
}

int bsup_aws_request_add_header(struct bsup_aws_request *req, const char *name, const char *value)
{
    if (BSUP_ARRAY_RESERVE(req->headers, req->cap_headers, req->n_headers + 1) < 0)
        return BSUP_ENOMEM;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return BSUP_ENOMEM;
    }
    req->headers[req->n_headers].name = n;
    req->headers[req->n_headers].value = v;
    req->n_headers++;
    return 0;
}

const char *bsup_aws_request_header(const struct bsup_aws_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

int bsup_aws_request_set_body(struct bsup_aws_request *req, const void *data, size_t len)
{
    unsigned char *b = NULL;
    if (len) {
        b = malloc(len);
        if (!b)
            return BSUP_ENOMEM;
        memcpy(b, data, len);
    }
    free(req->body);
    req->body = b;
    req->body_len = len;
    return 0;
}

int bsup_aws_request_set_query(struct bsup_aws_request *req, const char *query)
{
    char *q = NULL;
    if (query && !(q = strdup(query)))
        return BSUP_ENOMEM;
    free(req->query);
    req->query = q;
    return 0;
}

/* Drops the headers called name from index first on. */
static void s_drop(struct bsup_aws_request *req, const char *name, size_t first)
{
    for (size_t i = first; i < req->n_headers;) {
        struct bsup_aws_header *h = &req->headers[i];
        if (strcasecmp(h->name, name) != 0) {
            i++;
            continue;
        }
        if (h->value)
            bsup_secure_zero(h->value, strlen(h->value));
        free(h->name);
        free(h->value);
        memmove(h, h + 1, (req->n_headers - i - 1) * sizeof(*h));
        req->n_headers--;
    }
}

int bsup_aws_request_set_header(struct bsup_aws_request *req, const char *name, const char *value)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        struct bsup_aws_header *h = &req->headers[i];
        if (strcasecmp(h->name, name) != 0)
            continue;
        char *v = strdup(value);
        if (!v)
            return BSUP_ENOMEM;
        if (h->value) {
            bsup_secure_zero(h->value, strlen(h->value));
            free(h->value);
        }
        h->value = v;
        s_drop(req, name, i + 1);
        return 0;
    }
    return bsup_aws_request_add_header(req, name, value);
}

void bsup_aws_request_remove_header(struct bsup_aws_request *req, const char *name)
{
    s_drop(req, name, 0);
}
