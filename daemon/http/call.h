/* One HTTP call inside the engine: the easy handle built from a bsup_aws_request, the response
 * captured into bounded buffers, and the mapping of libcurl results to BSUP_E codes.
 * Private to daemon/http/. */
#ifndef BSUP_DAEMON_HTTP_CALL_H
#define BSUP_DAEMON_HTTP_CALL_H

#include "core/base/buf.h"
#include "daemon/http/engine.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* Tiny intrusive circular list; the head is a bsup_http_link whose next/prev point to itself. */
static inline void bsup_http_list_init(struct bsup_http_link *head)
{
    head->next = head->prev = head;
}

static inline int bsup_http_list_empty(const struct bsup_http_link *head)
{
    return head->next == head;
}

static inline void bsup_http_list_push(struct bsup_http_link *head, struct bsup_http_link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void bsup_http_list_remove(struct bsup_http_link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node->prev = node;
}

#define BSUP_HTTP_CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* In-flight counter for one endpoint (host:port); lives while any call refers to it. */
struct bsup_http_host {
    struct bsup_http_link link;
    unsigned in_flight;
    unsigned refs;
    char key[]; /* "host:port", lower-case */
};

enum bsup_http_call_state {
    BSUP_HTTP_CALL_QUEUED,     /* in engine->queue */
    BSUP_HTTP_CALL_RUNNING,    /* in engine->running and the multi handle */
    BSUP_HTTP_CALL_DONE,       /* in engine->done, result fixed */
    BSUP_HTTP_CALL_DELIVERING, /* its callback is running */
};

struct bsup_http_call {
    struct bsup_http_link link;
    struct bsup_http_engine *engine;
    struct bsup_http_host *host;
    CURL *easy;
    struct curl_slist *req_headers; /* may hold a session token: wiped before it is freed */
    char *req_body; /* what CURLOPT_POSTFIELDS sends (an STS form may hold a token): wiped */
    size_t req_body_len;
    enum bsup_http_call_state state;
    bsup_http_done_fn cb;
    void *user;
    int err;       /* result once DONE */
    int abort_err; /* set by a curl callback that could not serve this transfer */
    int too_big;
    int nomem;
    size_t max_response_bytes;
    size_t stored_bytes;      /* header + body bytes kept so far */
    struct bsup_buf body_buf; /* the body as it arrives, capped at max_response_bytes */
    unsigned char *body;      /* taken from body_buf when the response is handed out */
    size_t body_len;
    struct bsup_http_header *headers;
    size_t n_headers;
    size_t cap_headers;
    long status;
    uint64_t queued_at_ms;
    uint64_t queued_time_ms;
    uint64_t total_time_ms;
    const char *error_text;
    char errbuf[CURL_ERROR_SIZE];
};

/* Builds a call and its easy handle from req; key receives "host:port" for the endpoint
 * (key_size bytes). 0, BSUP_EINVAL or BSUP_ENOMEM; on error *out_call is NULL. */
int bsup_http_call_create(struct bsup_http_engine *e, const struct bsup_aws_request *req,
                          const struct bsup_http_request_options *opts, char *key, size_t key_size,
                          struct bsup_http_call **out_call);
/* Frees the call, its easy handle and buffers; accepts a half-built call. */
void bsup_http_call_destroy(struct bsup_http_call *call);
/* Fixes err, status, timings and error text from libcurl's result for a finished transfer. */
void bsup_http_call_set_result(struct bsup_http_call *call, CURLcode result);
/* Fixes err and error text for a call that ends without a libcurl result (cancel, ENOMEM). */
void bsup_http_call_set_error(struct bsup_http_call *call, int err, const char *text);
/* The response view handed to the done callback. */
void bsup_http_call_response(struct bsup_http_call *call, struct bsup_http_response *out);

#endif
