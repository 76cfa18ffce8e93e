#include "daemon/aws/client.h"

#include "core/aws/gzip.h"
#include "core/base/random.h"
#include "daemon/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_MAX_PAGES 1000 /* a paged listing longer than this is refused, not followed forever */

struct bsup_aws_call {
    struct bsup_aws_client *c;
    struct bsup_aws_service_state *svc;
    const struct bsup_aws_operation *op;
    enum bsup_api_family family;
    struct bsup_aws_params params; /* as given; the page token is added per request */
    json_t *json_input;            /* JSON services: a copy we may add a token to */
    char *page_token;
    unsigned flags;
    bsup_aws_done_fn cb;
    void *user;
    struct bsup_http_call *http;
    uv_timer_t timer;
    struct bsup_retry_request retry; /* this page's attempts */
    struct bsup_retry_request done;  /* the earlier pages' retries and throttles, for stats */
    json_t *pages;
    int attempts;
    uint64_t first_sent_ms;    /* its first request was sent (attempts > 0): its age, its latency */
    uint64_t held_ms;          /* since then, waited for a bucket token or credentials */
    uint64_t held_since_ms;    /* such a wait began (held) */
    uint64_t creds_resolution; /* the credentials it was last signed with */
    bool held;
    bool canceled;
    bool delivered;
    bool token_reserved; /* waited for its bucket token: the next attempt goes at once */
    struct bsup_aws_call *next;
    struct bsup_aws_call **pprev;
};

static const char *s_getenv(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static void s_attempt(struct bsup_aws_call *call);
static void s_attempt_with(struct bsup_aws_call *call, const struct bsup_aws_credentials *creds);

static void s_maybe_closed(struct bsup_aws_client *c);

/* A wait for a bucket token or credentials begins: bsupd's own pacing, not AWS's latency. */
static void s_hold(struct bsup_aws_call *call)
{
    if (!call->held && call->attempts > 0) {
        call->held = true;
        call->held_since_ms = uv_now(call->c->loop);
    }
}

static void s_unhold(struct bsup_aws_call *call)
{
    if (call->held)
        call->held_ms += uv_now(call->c->loop) - call->held_since_ms;
    call->held = false;
}

static void on_call_timer_closed(uv_handle_t *h)
{
    struct bsup_aws_call *call = h->data;
    struct bsup_aws_client *c = call->c;
    bsup_aws_params_cleanup(&call->params);
    json_decref(call->json_input);
    json_decref(call->pages);
    free(call->page_token);
    free(call);
    c->n_alive--;
    s_maybe_closed(c);
}

static void s_deliver(struct bsup_aws_call *call, int err, const struct bsup_aws_error *aws_err,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void s_deliver(struct bsup_aws_call *call, int err, const struct bsup_aws_error *aws_err,
                      const char *fmt, ...)
{
    struct bsup_aws_client *c = call->c;
    s_unhold(call);
    /* From the first send to the answer, retries and pages included, waits for tokens and
     * credentials not; 0 for a call never sent. */
    uint64_t latency_ms =
        call->attempts ? uv_now(c->loop) - call->first_sent_ms - call->held_ms : 0;
    struct bsup_aws_result res = {
        .err = err,
        .pages = err ? NULL : call->pages,
        .service = call->svc->info->name,
        .action = call->op->action,
        .attempts = call->attempts,
        .latency_ms = (int64_t)latency_ms,
    };
    if (aws_err)
        res.error = *aws_err;
    char text[600] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
    }
    if (err == BSUP_EAWS)
        snprintf(res.message, sizeof(res.message),
                 "%s %s: %s: %s (HTTP %d, request id %s, %d attempt%s)", res.service, res.action,
                 res.error.code, res.error.message, res.error.http_status,
                 res.error.request_id[0] ? res.error.request_id : "-", res.attempts,
                 res.attempts == 1 ? "" : "s");
    else if (err)
        snprintf(res.message, sizeof(res.message), "%s %s: %s", res.service, res.action,
                 text[0] ? text : bsup_strerror(err));
    if (err != BSUP_ECANCELED) { /* a cancel is bsupd stopping, not AWS failing */
        struct bsup_retry_request all = call->retry;
        all.attempts += call->done.attempts;
        all.throttles += call->done.throttles;
        bsup_retry_stats_add(&call->svc->stats, &all, err != 0, res.latency_ms);
    }
    if (err && err != BSUP_ECANCELED) {
        call->svc->last_error_at_s = (int64_t)time(NULL);
        snprintf(call->svc->last_error, sizeof(call->svc->last_error), "%.500s", res.message);
    }

    call->delivered = true;
    *call->pprev = call->next;
    if (call->next)
        call->next->pprev = call->pprev;
    call->cb(call, &res, call->user);
    uv_timer_stop(&call->timer);
    uv_close((uv_handle_t *)&call->timer, on_call_timer_closed);
}

static void on_timer(uv_timer_t *t)
{
    struct bsup_aws_call *call = t->data;
    if (call->canceled)
        s_deliver(call, BSUP_ECANCELED, NULL, "cancelled");
    else
        s_attempt(call);
}

static void on_creds(void *user, const struct bsup_aws_credentials *creds,
                     const struct bsup_diag *diag)
{
    struct bsup_aws_call *call = user;
    if (call->canceled)
        s_deliver(call, BSUP_ECANCELED, NULL, "cancelled");
    else if (!creds)
        s_deliver(call, diag && diag->code ? diag->code : BSUP_ECREDENTIALS, NULL, "%s",
                  diag ? diag->message : "no AWS credentials");
    else
        s_attempt_with(call, creds); /* even if they expire soon: no resolution loop */
}

static void s_header_copy(struct bsup_aws_header *dst, const struct bsup_http_response *resp,
                          size_t max)
{
    for (size_t i = 0; i < resp->n_headers && i < max; i++) {
        dst[i].name = resp->headers[i].name;
        dst[i].value = resp->headers[i].value;
    }
}

/* A successful page, parsed (rc, page): keep it, then fetch the next or deliver. */
static void s_on_page(struct bsup_aws_call *call, int rc, json_t *page)
{
    if (call->canceled) {
        json_decref(page);
        s_deliver(call, BSUP_ECANCELED, NULL, "cancelled");
        return;
    }
    if (rc) {
        s_deliver(call, BSUP_EPROTO, NULL, "cannot read the response (%s)", bsup_strerror(rc));
        return;
    }
    if (json_array_append_new(call->pages, page)) {
        s_deliver(call, BSUP_ENOMEM, NULL, NULL);
        return;
    }
    const char *token =
        (call->flags & BSUP_AWS_ALL_PAGES) ? bsup_aws_next_token(call->op, page) : NULL;
    if (!token || !*token) {
        s_deliver(call, 0, NULL, NULL);
        return;
    }
    if (json_array_size(call->pages) >= S_MAX_PAGES) {
        s_deliver(call, BSUP_ETOOBIG, NULL, "more than %d pages", S_MAX_PAGES);
        return;
    }
    free(call->page_token);
    call->page_token = strdup(token);
    if (!call->page_token) {
        s_deliver(call, BSUP_ENOMEM, NULL, NULL);
        return;
    }
    if (call->retry.attempts > 1) /* a page's first attempt is not a retry */
        call->done.attempts += call->retry.attempts - 1;
    call->done.throttles += call->retry.throttles;
    memset(&call->retry, 0, sizeof(call->retry)); /* each page has its own attempts */
    s_attempt(call);
}

/* A page is parsed on libuv's thread pool: a 100-group answer is megabytes of XML, about 9 ms a
 * megabyte to parse, which the loop (status, the control socket, timers) should not wait for.
 * The parse touches only the body, the static model tables, an expat parser of its own and new
 * jansson values. */
struct bsup_aws_parse_job {
    uv_work_t work;
    struct bsup_aws_call *call;
    char *body;
    size_t len;
    json_t *page;
    int rc;
    struct bsup_aws_parse_job *next;
};

static void on_parse(uv_work_t *w);
static void on_parsed(uv_work_t *w, int status);

/* Hands the next waiting answer to the thread pool, if none is being parsed. */
static void s_parse_next(struct bsup_aws_client *c)
{
    struct bsup_aws_parse_job *p = c->parse_head;
    if (c->parsing || !p)
        return;
    c->parse_head = p->next;
    if (!c->parse_head)
        c->parse_tail = NULL;
    c->parsing = true;
    if (uv_queue_work(c->loop, &p->work, on_parse, on_parsed) != 0) {
        on_parse(&p->work); /* no thread for it: parsed here (on_parsed goes on) */
        on_parsed(&p->work, 0);
    }
}

static void on_parse(uv_work_t *w)
{
    struct bsup_aws_parse_job *p = w->data;
    p->rc = bsup_aws_parse_response(p->call->op, p->body, p->len, &p->page);
}

static void on_parsed(uv_work_t *w, int status)
{
    struct bsup_aws_parse_job *p = w->data;
    struct bsup_aws_call *call = p->call;
    struct bsup_aws_client *c = call->c;
    c->parsing = false;
    int rc = status ? BSUP_ECANCELED : p->rc;
    json_t *page = p->page;
    bsup_secure_zero(p->body, p->len); /* a copy of what AWS sent: it may carry a secret */
    free(p->body);
    free(p);
    s_on_page(call, rc, page);
    s_parse_next(c);
}

static void s_parse_page(struct bsup_aws_call *call, struct bsup_http_response *resp)
{
    struct bsup_aws_parse_job *p = calloc(1, sizeof(*p));
    if (p && (p->body = malloc(resp->body_len ? resp->body_len : 1))) {
        memcpy(p->body, resp->body, resp->body_len);
        p->len = resp->body_len;
        p->call = call;
        p->work.data = p;
        struct bsup_aws_client *c = call->c;
        if (c->parse_tail)
            c->parse_tail->next = p;
        else
            c->parse_head = p;
        c->parse_tail = p;
        s_parse_next(c);
        return;
    }
    free(p);
    json_t *page = NULL; /* no memory for a copy: parsed here */
    int rc = bsup_aws_parse_response(call->op, resp->body, resp->body_len, &page);
    s_on_page(call, rc, page);
}

/* Error codes by which AWS says the key or token itself is not (or no longer) valid. */
static bool s_credentials_refused(const char *code)
{
    static const char *const codes[] = {"InvalidClientTokenId", "UnrecognizedClientException",
                                        "ExpiredToken",         "ExpiredTokenException",
                                        "InvalidAccessKeyId",   "AuthFailure"};
    for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static void on_http_done(struct bsup_http_call *http, struct bsup_http_response *resp, void *user)
{
    (void)http;
    struct bsup_aws_call *call = user;
    struct bsup_aws_client *c = call->c;
    call->http = NULL;
    if (call->canceled || resp->err == BSUP_ECANCELED) {
        s_deliver(call, BSUP_ECANCELED, NULL, "cancelled");
        return;
    }
    struct bsup_aws_error aws_err = {0};
    struct bsup_retry_outcome out = {0};
    if (resp->err) {
        if (resp->err == BSUP_ETOOBIG || resp->err == BSUP_ECRYPTO) {
            s_deliver(call, resp->err, NULL, "%s", resp->error_text);
            return;
        }
        out.transport_error = true;
    } else if (resp->status >= 200 && resp->status < 300) {
        out.http_status = (int)resp->status;
    } else {
        struct bsup_aws_header hdrs[64];
        size_t n = resp->n_headers < 64 ? resp->n_headers : 64;
        s_header_copy(hdrs, resp, n);
        bsup_aws_error_parse((int)resp->status, hdrs, n, resp->body, resp->body_len, &aws_err);
        out.http_status = (int)resp->status;
        out.error_code = aws_err.code[0] ? aws_err.code : NULL;
        out.retry_after = bsup_http_response_header(resp, "x-amz-retry-after");
        int64_t offset = 0;
        if (out.error_code &&
            bsup_retry_clock_skew((int64_t)time(NULL), bsup_http_response_header(resp, "date"),
                                  out.error_code, &offset) == 0 &&
            offset != 0 && offset != c->clock_offset_s) {
            bsup_log_warn("clock skew: AWS's clock is %llds from ours; signing with it "
                          "service=%s",
                          (long long)offset, call->svc->info->name);
            c->clock_offset_s = offset;
            out.clock_skew_corrected = true;
        }
    }
    struct bsup_retry_decision d;
    bsup_retry_decide(&c->policy, &call->svc->quota, &call->retry, &out, &d);
    bsup_log_debug("aws service=%s action=%s status=%ld attempt=%d latency_ms=%llu "
                   "request_id=%s%s%s",
                   call->svc->info->name, call->op->action, resp->status, call->retry.attempts,
                   (unsigned long long)resp->total_time_ms,
                   aws_err.request_id[0] ? aws_err.request_id : "-", out.error_code ? " code=" : "",
                   out.error_code ? out.error_code : "");
    if (s_credentials_refused(out.error_code))
        bsup_credprovider_refused(&c->creds, call->creds_resolution, out.error_code);
    if (d.cls == BSUP_RETRY_THROTTLING)
        bsup_bucket_on_throttle(&c->buckets[call->family], (int64_t)uv_now(c->loop));
    if (d.cls == BSUP_RETRY_SUCCESS) {
        s_parse_page(call, resp);
        return;
    }
    if (d.retry && (call->flags & BSUP_AWS_MUTATION) && d.cls != BSUP_RETRY_THROTTLING &&
        !(out.transport_error && resp->err == BSUP_ECONNECT)) {
        d.retry = false; /* it may have been applied: the next observation decides */
        bsup_log_warn("not retrying a change that may have reached AWS service=%s action=%s",
                      call->svc->info->name, call->op->action);
    }
    if (d.retry) {
        uv_timer_start(&call->timer, on_timer, (uint64_t)d.delay_ms, 0);
        return;
    }
    if (out.transport_error)
        s_deliver(call, resp->err, NULL, "%s (%d attempt%s)", resp->error_text, call->attempts,
                  call->attempts == 1 ? "" : "s");
    else if (aws_err.code[0])
        s_deliver(call, BSUP_EAWS, &aws_err, NULL);
    else
        s_deliver(call, BSUP_EPROTO, NULL, "HTTP %ld with a body that is not an AWS error",
                  resp->status);
}

static int s_build(struct bsup_aws_call *call, const struct bsup_aws_credentials *creds,
                   struct bsup_aws_request *req)
{
    struct bsup_aws_service_state *svc = call->svc;
    const struct bsup_endpoint *ep = &svc->endpoint;
    char path[300];
    snprintf(path, sizeof(path), "%s/", ep->base_path);
    struct bsup_aws_params params = {0};
    int rc = bsup_aws_request_init(req, "POST", ep->scheme, ep->host, path);
    if (rc)
        return rc;
    if (svc->model->protocol == BSUP_AWS_PROTO_JSON) {
        if (call->page_token && json_object_set_new(call->json_input, call->op->input_token,
                                                    json_string(call->page_token)))
            return BSUP_ENOMEM;
        rc = bsup_aws_serialize(req, call->op, NULL, call->json_input);
    } else if (!call->page_token) {
        rc = bsup_aws_serialize(req, call->op, &call->params, NULL);
    } else {
        /* A copy with the page's token (a PutMetricData of 1000 datums is 9000 parameters:
         * they are copied only for the describe calls that page). */
        for (size_t i = 0; rc == 0 && i < call->params.n; i++)
            rc = bsup_aws_params_add(&params, call->params.items[i].name,
                                     call->params.items[i].value);
        if (rc == 0)
            rc = bsup_aws_params_add(&params, call->op->input_token, call->page_token);
        if (rc == 0)
            rc = bsup_aws_serialize(req, call->op, &params, NULL);
        bsup_aws_params_cleanup(&params);
    }
    if (rc == 0 && (call->flags & BSUP_AWS_GZIP))
        rc = bsup_aws_request_gzip(req, 0);
    if (rc == 0)
        rc = bsup_sigv4_sign(req, creds, ep->signing_region, ep->signing_name,
                             (int64_t)time(NULL) + call->c->clock_offset_s, &svc->sigv4);
    return rc;
}

static void s_attempt(struct bsup_aws_call *call)
{
    s_attempt_with(call, NULL);
}

/* One attempt: credentials (creds, else the provider's current ones, else wait for them),
 * a token from the family's bucket, then the signed request. */
static void s_attempt_with(struct bsup_aws_call *call, const struct bsup_aws_credentials *creds)
{
    struct bsup_aws_client *c = call->c;
    if (call->canceled || c->closing) {
        s_deliver(call, BSUP_ECANCELED, NULL, "cancelled");
        return;
    }
    if (!creds)
        creds = bsup_credprovider_current(&c->creds);
    if (!creds) {
        s_hold(call);
        int rc = bsup_credprovider_wait(&c->creds, on_creds, call);
        if (rc)
            s_deliver(call, rc, NULL, "cannot resolve AWS credentials");
        return;
    }
    if (!call->token_reserved) {
        int64_t wait_ms = bsup_bucket_take(&c->buckets[call->family], (int64_t)uv_now(c->loop));
        if (wait_ms > 0) {
            s_hold(call);
            call->token_reserved = true;
            uv_timer_start(&call->timer, on_timer, (uint64_t)wait_ms, 0);
            return;
        }
    }
    call->token_reserved = false;
    call->creds_resolution = c->creds.resolutions;
    struct bsup_aws_request req;
    int rc = s_build(call, creds, &req);
    if (rc == 0) {
        struct bsup_http_request_options o = {.timeout_ms = c->timeout_ms,
                                              .connect_timeout_ms = c->connect_timeout_ms};
        rc = bsup_http_send(c->engine, &req, &o, on_http_done, call, &call->http);
    }
    bsup_aws_request_cleanup(&req);
    if (rc) {
        s_deliver(call, rc, NULL, "cannot send the request (%s)", bsup_strerror(rc));
        return;
    }
    s_unhold(call);
    if (call->attempts++ == 0)
        call->first_sent_ms = uv_now(c->loop);
    c->attempts[call->family]++;
}

int bsup_aws_client_init(struct bsup_aws_client *c, uv_loop_t *loop,
                         struct bsup_http_engine *engine,
                         const struct bsup_aws_client_options *opts, struct bsup_diag *diag)
{
    struct bsup_aws_client_options none = {0};
    if (!opts)
        opts = &none;
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->engine = engine;
    c->timeout_ms = opts->timeout_ms;
    c->connect_timeout_ms = opts->connect_timeout_ms;
    bsup_aws_getenv_fn *env = opts->getenv_fn ? opts->getenv_fn : s_getenv;
    bsup_retry_policy_init(&c->policy, opts->seed ? opts->seed : bsup_random_seed());
    const char *max = env(opts->getenv_ctx, "AWS_MAX_ATTEMPTS");
    if (opts->max_attempts > 0)
        c->policy.max_attempts = opts->max_attempts;
    else if (max && atoi(max) > 0)
        c->policy.max_attempts = atoi(max);
    int64_t now_ms = (int64_t)uv_now(loop);
    for (int f = 0; f < BSUP_API_FAMILY_COUNT; f++)
        bsup_bucket_init(
            &c->buckets[f], opts->burst[f] ? opts->burst[f] : bsup_api_families[f].burst,
            opts->rate_per_s[f] ? opts->rate_per_s[f] : bsup_api_families[f].rate_per_s, now_ms);
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++) {
        struct bsup_aws_service_state *s = &c->services[i];
        s->info = bsup_endpoints_service((enum bsup_aws_service_id)i);
        s->model = &bsup_aws_services[i];
        bsup_sigv4_cache_init(&s->sigv4);
        bsup_retry_quota_init(&s->quota, 0);
        /* An endpoint that does not resolve fails its calls, not the client. */
        s->resolve_rc = bsup_endpoints_resolve(s->info, opts->region, opts->endpoint_urls[i], env,
                                               opts->getenv_ctx, &s->endpoint, &s->resolve_error);
    }
    int rc = bsup_credprovider_init(&c->creds, loop, engine, opts->getenv_fn, opts->getenv_ctx,
                                    opts->region, opts->endpoint_urls[BSUP_AWS_STS]);
    if (rc)
        return bsup_diag_set(diag, rc, "cannot start the credential provider");
    return 0;
}

static struct bsup_aws_service_state *s_service(struct bsup_aws_client *c, const char *name)
{
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++) {
        struct bsup_aws_service_state *s = &c->services[i];
        if (strcmp(s->info->name, name) == 0 || strcmp(s->info->endpoint_prefix, name) == 0)
            return s;
    }
    return NULL;
}

int bsup_aws_call(struct bsup_aws_client *c, const char *service, const char *action,
                  const struct bsup_aws_params *params, const json_t *json_input, unsigned flags,
                  bsup_aws_done_fn cb, void *user, struct bsup_aws_call **out_call)
{
    if (c->closing)
        return BSUP_ESHUTDOWN;
    struct bsup_aws_service_state *svc = s_service(c, service);
    if (!svc || !svc->model)
        return BSUP_ENOTFOUND;
    const struct bsup_aws_operation *op = bsup_aws_operation_find(svc->model->id, action);
    if (!op)
        return BSUP_ENOTFOUND;
    if (svc->resolve_rc)
        return svc->resolve_rc;
    struct bsup_aws_call *call = calloc(1, sizeof(*call));
    if (!call)
        return BSUP_ENOMEM;
    call->c = c;
    call->svc = svc;
    call->op = op;
    call->family = op->family;
    call->flags = flags;
    call->cb = cb;
    call->user = user;
    call->pages = json_array();
    int rc = call->pages ? 0 : BSUP_ENOMEM;
    for (size_t i = 0; rc == 0 && params && i < params->n; i++)
        rc = bsup_aws_params_add(&call->params, params->items[i].name, params->items[i].value);
    if (rc == 0 && svc->model->protocol == BSUP_AWS_PROTO_JSON) {
        call->json_input = json_input ? json_deep_copy(json_input) : json_object();
        if (!call->json_input)
            rc = BSUP_ENOMEM;
    }
    if (rc == 0)
        rc = uv_timer_init(c->loop, &call->timer) ? BSUP_EIO : 0;
    if (rc) {
        bsup_aws_params_cleanup(&call->params);
        json_decref(call->json_input);
        json_decref(call->pages);
        free(call);
        return rc;
    }
    call->timer.data = call;
    c->n_alive++;
    call->next = c->calls;
    if (c->calls)
        c->calls->pprev = &call->next;
    call->pprev = &c->calls;
    c->calls = call;
    /* The first attempt starts on the next loop turn: the callback never runs in here. */
    uv_timer_start(&call->timer, on_timer, 0, 0);
    if (out_call)
        *out_call = call;
    return 0;
}

const char *bsup_aws_client_why(const struct bsup_aws_client *c, const char *service, int rc)
{
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++) {
        const struct bsup_aws_service_state *s = &c->services[i];
        if (s->resolve_rc && rc == s->resolve_rc &&
            (strcmp(s->info->name, service) == 0 || strcmp(s->info->endpoint_prefix, service) == 0))
            return s->resolve_error.message;
    }
    return rc == BSUP_ENOTFOUND ? "unknown AWS service or action" : bsup_strerror(rc);
}

void bsup_aws_client_in_flight(const struct bsup_aws_client *c,
                               struct bsup_aws_in_flight out[BSUP_AWS_SERVICE_COUNT])
{
    memset(out, 0, BSUP_AWS_SERVICE_COUNT * sizeof(*out));
    for (const struct bsup_aws_call *call = c->calls; call; call = call->next) {
        if (!call->attempts)
            continue; /* not sent yet: waiting for its first turn, a token, credentials */
        struct bsup_aws_in_flight *f = &out[call->svc - c->services];
        if (f->n++ == 0 || call->first_sent_ms < f->oldest_sent_ms)
            f->oldest_sent_ms = call->first_sent_ms;
    }
}

void bsup_aws_call_cancel(struct bsup_aws_call *call)
{
    if (call->canceled || call->delivered)
        return;
    call->canceled = true;
    if (call->http) {
        bsup_http_cancel(call->http);
    } else if (uv_is_active((uv_handle_t *)&call->timer)) {
        uv_timer_start(&call->timer, on_timer, 0, 0);
    }
    /* else it waits for credentials (on_creds) or its page is being parsed (s_on_page): that
     * delivers the cancellation */
}

static void s_maybe_closed(struct bsup_aws_client *c)
{
    if (!c->closing || c->calls || c->n_alive || !c->creds.timer_closed)
        return;
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++)
        bsup_sigv4_cache_cleanup(&c->services[i].sigv4);
    bsup_close_fn cb = c->close_cb;
    c->close_cb = NULL;
    if (cb)
        cb(c->close_user);
}

static void on_creds_closed(void *user)
{
    s_maybe_closed(user);
}

void bsup_aws_client_close(struct bsup_aws_client *c, bsup_close_fn cb, void *user)
{
    c->closing = true;
    c->close_cb = cb;
    c->close_user = user;
    for (struct bsup_aws_call *call = c->calls; call; call = call->next)
        bsup_aws_call_cancel(call);
    bsup_credprovider_close(&c->creds, on_creds_closed, c);
}
