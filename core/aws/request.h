/* An AWS HTTP request before and after signing: the shape the protocol builders fill,
 * the SigV4 signer signs in place, and the HTTP engine sends. Pure data, no I/O. */
#ifndef BSUP_CORE_AWS_REQUEST_H
#define BSUP_CORE_AWS_REQUEST_H

#include <stddef.h>

struct bsup_aws_header {
    char *name;
    char *value;
};

struct bsup_aws_request {
    char method[8]; /* "GET", "POST", ... */
    char *scheme;   /* "https" (or "http" for a loopback endpoint) */
    char *host;     /* Host header value: "rds.eu-west-1.amazonaws.com" or "127.0.0.1:5000" */
    char *path;     /* URI path as sent, already percent-encoded; "/" when empty */
    char *query;    /* query string as sent (encoded, without '?'), or NULL */
    struct bsup_aws_header *headers;
    size_t n_headers;
    size_t cap_headers;
    unsigned char *body; /* owned; may be NULL when body_len is 0 */
    size_t body_len;
};

/* Zeroes *req and sets method, scheme, host and path ("/" when NULL). 0 or BSUP_ENOMEM. */
int bsup_aws_request_init(struct bsup_aws_request *req, const char *method, const char *scheme,
                          const char *host, const char *path);
/* Frees everything; accepts a zeroed or half-built request. */
void bsup_aws_request_cleanup(struct bsup_aws_request *req);
/* Appends a header (copies both strings). 0 or BSUP_ENOMEM. */
int bsup_aws_request_add_header(struct bsup_aws_request *req, const char *name, const char *value);
/* Sets the first header called name (case-insensitive) to value, dropping later duplicates;
 * appends when absent. 0 or BSUP_ENOMEM. */
int bsup_aws_request_set_header(struct bsup_aws_request *req, const char *name, const char *value);
/* Removes every header called name (case-insensitive), wiping the values. */
void bsup_aws_request_remove_header(struct bsup_aws_request *req, const char *name);
/* The value of the first header named name (case-insensitive), or NULL. */
const char *bsup_aws_request_header(const struct bsup_aws_request *req, const char *name);
/* Replaces the body with a copy of data. 0 or BSUP_ENOMEM. */
int bsup_aws_request_set_body(struct bsup_aws_request *req, const void *data, size_t len);
/* Replaces the query string (copied; NULL clears). 0 or BSUP_ENOMEM. */
int bsup_aws_request_set_query(struct bsup_aws_request *req, const char *query);

#endif
