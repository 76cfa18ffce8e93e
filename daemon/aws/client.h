/* The AWS client: every AWS call bsupd makes goes through it. It resolves endpoints like the
 * SDKs, gets credentials from the chain, serialises with the service's protocol, signs with
 * SigV4, paces calls with a token bucket per API family, sends through the HTTP engine,
 * retries in standard mode (corrected for clock skew), follows pages when asked, and parses
 * the result. Callbacks always run later, never inside bsup_aws_call. */
#ifndef BSUP_DAEMON_AWS_CLIENT_H
#define BSUP_DAEMON_AWS_CLIENT_H

#include "core/aws/endpoints.h"
#include "core/aws/model.h"
#include "core/aws/query.h"
#include "core/aws/response.h"
#include "core/aws/retry.h"
#include "core/aws/sigv4.h"
#include "core/aws/ratelimit.h"
#include "daemon/aws/credprovider.h"
#include "daemon/http/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#define BSUP_AWS_ALL_PAGES 0x1u /* follow NextToken/Marker to the end */
/* A change: retried only when the answer proves AWS did not apply it (throttled, or the
 * connection never opened), never after a request may have reached AWS. */
#define BSUP_AWS_MUTATION 0x2u
/* gzip the body when it is large (core/aws/gzip.h), for operations that accept it. */
#define BSUP_AWS_GZIP 0x4u

struct bsup_aws_client_options {
    const char *region;                                /* NULL: AWS_REGION, AWS_DEFAULT_REGION */
    const char *endpoint_urls[BSUP_AWS_SERVICE_COUNT]; /* per service from bsupd.yaml; NULL */
    int max_attempts;                                  /* 0: 3 (or AWS_MAX_ATTEMPTS) */
    uint32_t timeout_ms;                               /* per attempt; 0: 30 s */
    uint32_t connect_timeout_ms;                       /* 0: 5 s */
    int64_t burst[BSUP_API_FAMILY_COUNT];              /* 0: the family's default */
    int64_t rate_per_s[BSUP_API_FAMILY_COUNT];         /* 0: the family's default */
    uint64_t seed;                                     /* retry jitter; 0: bsup_random_seed() */
    bsup_aws_getenv_fn *getenv_fn;                     /* NULL: the process environment */
    void *getenv_ctx;
};

struct bsup_aws_service_state {
    const struct bsup_endpoint_service *info;
    const struct bsup_aws_service *model;
    struct bsup_endpoint endpoint;
    int resolve_rc;
    struct bsup_diag resolve_error;
    struct bsup_sigv4_cache sigv4;
    struct bsup_retry_quota quota;
    struct bsup_retry_stats stats; /* finished calls (cancelled ones not counted) */
    int64_t last_error_at_s;       /* the last call that finally failed; 0: none */
    char last_error[512];          /* its message */
};

/* A service's calls whose first request is sent (handed to the HTTP engine) and that have no
 * final answer yet: one operation, between its retries and pages too. */
struct bsup_aws_in_flight {
    unsigned n;
    uint64_t oldest_sent_ms; /* uv_now when the oldest of them was first sent; 0: none */
};

struct bsup_aws_call;
struct bsup_aws_parse_job;

struct bsup_aws_client {
    uv_loop_t *loop;
    struct bsup_http_engine *engine;
    struct bsup_credprovider creds;
    struct bsup_retry_policy policy;
    struct bsup_aws_service_state services[BSUP_AWS_SERVICE_COUNT];
    struct bsup_bucket buckets[BSUP_API_FAMILY_COUNT];
    uint64_t attempts[BSUP_API_FAMILY_COUNT]; /* HTTP requests sent, per family */
    int64_t clock_offset_s;                   /* server - local, learnt from skew errors */
    uint32_t timeout_ms;
    uint32_t connect_timeout_ms;
    struct bsup_aws_call *calls; /* in progress, for cancel on close */
    unsigned n_alive;            /* calls not yet freed (their timer still closing) */
    /* Answers waiting to be parsed on the thread pool, one at a time (a 100-group answer's
     * document is megabytes: parsing several at once multiplied the peak). */
    struct bsup_aws_parse_job *parse_head, *parse_tail;
    bool parsing;
    bool closing;
    bsup_close_fn close_cb;
    void *close_user;
};

/* What a call produced. Valid during the callback only (json_incref to keep pages). */
struct bsup_aws_result {
    int err;                     /* 0; BSUP_EAWS (see error); a transport or local BSUP_E* code */
    json_t *pages;               /* on success: an array of parsed pages (one unless ALL_PAGES) */
    struct bsup_aws_error error; /* AWS's code, message, request id, status (err == BSUP_EAWS) */
    char message[1024];          /* one line for a log or an operator, for any err */
    const char *service;         /* our service name: "autoscaling" */
    const char *action;
    int attempts; /* HTTP attempts in total, all pages */
    int64_t latency_ms;
};

typedef void (*bsup_aws_done_fn)(struct bsup_aws_call *call, const struct bsup_aws_result *res,
                                 void *user);

int bsup_aws_client_init(struct bsup_aws_client *c, uv_loop_t *loop,
                         struct bsup_http_engine *engine,
                         const struct bsup_aws_client_options *opts, struct bsup_diag *diag);
/* Starts a call of service ("autoscaling", "elbv2", ... or the endpoint prefix) and action with
 * Query/EC2 params or, for JSON services, json_input. Returns 0 (cb will run exactly once) or a
 * negative code with nothing started (unknown service or action, closing, out of memory). */
int bsup_aws_call(struct bsup_aws_client *c, const char *service, const char *action,
                  const struct bsup_aws_params *params, const json_t *json_input, unsigned flags,
                  bsup_aws_done_fn cb, void *user, struct bsup_aws_call **out_call);
/* Why bsup_aws_call refused to start a call of service with rc, in words. */
const char *bsup_aws_client_why(const struct bsup_aws_client *c, const char *service, int rc);
/* The calls in flight per service, out[i] for services[i]: a hung endpoint shows here (the
 * stats count calls only once they finish). Walks the calls in progress; allocates nothing. */
void bsup_aws_client_in_flight(const struct bsup_aws_client *c,
                               struct bsup_aws_in_flight out[BSUP_AWS_SERVICE_COUNT]);
/* The callback then runs with BSUP_ECANCELED. */
void bsup_aws_call_cancel(struct bsup_aws_call *call);
/* Cancels every call (their callbacks get BSUP_ECANCELED), closes the credential provider;
 * cb(user) once all is freed, never inside this call (daemon/close.h). The engine stays open:
 * close it after. */
void bsup_aws_client_close(struct bsup_aws_client *c, bsup_close_fn cb, void *user);

#endif
