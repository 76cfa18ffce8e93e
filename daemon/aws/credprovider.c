#include "daemon/aws/credprovider.h"

#include "daemon/log.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_VALID_MARGIN_S 60 /* do not sign with credentials that expire sooner */

struct bsup_credprovider_waiter {
    bsup_credprovider_fn cb;
    void *user;
    struct bsup_credprovider_waiter *next;
};

const char *bsup_credprovider_getenv(void *ctx, const char *name)
{
    (void)ctx;
    const char *v = getenv(name);
    if (!v && strcmp(name, "HOME") == 0) {
        /* Under systemd without a login session HOME may be unset. */
        struct passwd *pw = getpwuid(getuid());
        v = pw ? pw->pw_dir : NULL;
    }
    return v;
}

static void s_step(struct bsup_credprovider *cp, const struct bsup_aws_chain_response *resp);

static void s_finish(struct bsup_credprovider *cp, const struct bsup_aws_credentials *creds,
                     const struct bsup_diag *diag)
{
    bsup_aws_chain_free(cp->chain);
    cp->chain = NULL;
    cp->resolving_since_s = 0;
    cp->asking[0] = '\0';
    struct bsup_credprovider_waiter *w = cp->waiters;
    cp->waiters = NULL;
    while (w) {
        struct bsup_credprovider_waiter *next = w->next;
        w->cb(w->user, creds, diag);
        free(w);
        w = next;
    }
}

static void on_refresh_timer(uv_timer_t *t);

static void s_arm_refresh(struct bsup_credprovider *cp)
{
    int64_t now = (int64_t)time(NULL);
    uint32_t jitter = (uint32_t)bsup_random_below(&cp->rng, 60);
    int64_t at = bsup_aws_credentials_refresh_at(&cp->creds, now, jitter);
    if (at <= 0 || cp->closing)
        return; /* static credentials never need a refresh */
    cp->timer_for_step = false;
    uv_timer_start(&cp->timer, on_refresh_timer, (uint64_t)(at - now) * 1000, 0);
}

/* The last step of a close: the timer is closed and no request is in flight. */
static void s_closed(struct bsup_credprovider *cp)
{
    bsup_close_fn cb = cp->close_cb;
    cp->close_cb = NULL;
    if (cb)
        cb(cp->close_user); /* may free cp */
}

static void on_http_done(struct bsup_http_call *call, struct bsup_http_response *resp, void *user)
{
    (void)call;
    struct bsup_credprovider *cp = user;
    cp->call = NULL;
    struct bsup_aws_chain_response r = {
        .status = resp->err ? 0 : (int)resp->status,
        .error = resp->err ? resp->error_text : NULL,
        .body = (const char *)resp->body,
        .body_len = resp->body_len,
    };
    if (resp->err == BSUP_ECANCELED || cp->closing) {
        struct bsup_diag d;
        bsup_diag_set(&d, BSUP_ECANCELED, "credential resolution cancelled");
        s_finish(cp, NULL, &d);
        if (cp->closing && cp->timer_closed)
            s_closed(cp);
        return;
    }
    s_step(cp, &r);
    if (resp->body)
        bsup_secure_zero(resp->body, resp->body_len);
}

static void on_process_done(void *user, int exit_status, const char *error, const char *out,
                            size_t out_len)
{
    struct bsup_credprovider *cp = user;
    cp->proc = NULL;
    if (cp->closing) {
        struct bsup_diag d;
        bsup_diag_set(&d, BSUP_ECANCELED, "credential resolution cancelled");
        s_finish(cp, NULL, &d);
        if (cp->timer_closed)
            s_closed(cp);
        return;
    }
    struct bsup_aws_chain_response r = {
        .status = exit_status, .body = out, .body_len = out_len, .error = error};
    s_step(cp, &r);
}

static void s_send(struct bsup_credprovider *cp, const struct bsup_aws_chain_step *step)
{
    if (step->kind == BSUP_AWS_CHAIN_STEP_PROCESS) {
        char why[160];
        if (bsup_process_run(cp->loop, step->argv, step->timeout_ms, step->max_response_bytes,
                             on_process_done, cp, &cp->proc, why, sizeof(why)) < 0) {
            struct bsup_aws_chain_response failed = {.error = why};
            s_step(cp, &failed);
        }
        return;
    }
    struct bsup_http_request_options o = {.timeout_ms = step->timeout_ms,
                                          .connect_timeout_ms = step->timeout_ms,
                                          .max_response_bytes = step->max_response_bytes};
    int rc = bsup_http_send(cp->engine, &step->request, &o, on_http_done, cp, &cp->call);
    if (rc) {
        /* The chain treats "no response" like a failed request and retries or gives up. */
        struct bsup_aws_chain_response none = {0};
        s_step(cp, &none);
    }
}

static void on_step_timer(uv_timer_t *t)
{
    struct bsup_credprovider *cp = t->data;
    s_step(cp, NULL);
}

static void s_step(struct bsup_credprovider *cp, const struct bsup_aws_chain_response *resp)
{
    const struct bsup_aws_chain_step *step = NULL;
    struct bsup_aws_credentials creds = {0};
    struct bsup_diag diag = {0};
    if (!resp && cp->timer_for_step && cp->pending_step) {
        /* A delayed step is due now. */
        step = cp->pending_step;
        cp->pending_step = NULL;
        cp->timer_for_step = false;
        s_send(cp, step);
        return;
    }
    int rc = bsup_aws_chain_next(cp->chain, resp, &step, &creds, &diag);
    if (rc) {
        cp->last_error = diag;
        cp->last_error_at_s = (int64_t)time(NULL);
        bsup_log_err("%s", diag.message);
        s_finish(cp, NULL, &diag);
        return;
    }
    if (step) {
        bsup_log_debug("AWS credentials: asking provider=%s", step->provider);
        snprintf(cp->asking, sizeof(cp->asking), "%s", step->provider);
        if (step->delay_ms) {
            cp->pending_step = step;
            cp->timer_for_step = true;
            uv_timer_start(&cp->timer, on_step_timer, step->delay_ms, 0);
        } else {
            s_send(cp, step);
        }
        return;
    }
    bsup_aws_credentials_cleanup(&cp->creds);
    cp->creds = creds;
    cp->resolutions++;
    memset(&cp->last_error, 0, sizeof(cp->last_error));
    cp->last_error_at_s = 0;
    bsup_log_info("AWS credentials from %s%s",
                  cp->creds.description[0] ? cp->creds.description : cp->creds.source,
                  cp->creds.expiration_s ? " (temporary)" : "");
    s_arm_refresh(cp);
    s_finish(cp, &cp->creds, NULL);
}

static int s_start(struct bsup_credprovider *cp)
{
    if (cp->chain)
        return 0;
    struct bsup_aws_chain_options o = {.getenv_fn = cp->getenv_fn,
                                       .getenv_ctx = cp->getenv_ctx,
                                       .region = cp->region,
                                       .sts_endpoint_url = cp->sts_endpoint_url};
    int rc = bsup_aws_chain_new(&o, &cp->chain);
    if (rc)
        return rc;
    cp->resolving_since_s = (int64_t)time(NULL);
    /* Start on the next loop turn, so a waiter never hears back inside the call. */
    cp->timer_for_step = false;
    uv_timer_start(&cp->timer, on_step_timer, 0, 0);
    return 0;
}

static void on_refresh_timer(uv_timer_t *t)
{
    struct bsup_credprovider *cp = t->data;
    if (!cp->chain && s_start(cp) != 0)
        bsup_log_err("AWS credentials: cannot start a refresh");
}

int bsup_credprovider_init(struct bsup_credprovider *cp, uv_loop_t *loop,
                           struct bsup_http_engine *engine, bsup_aws_getenv_fn *getenv_fn,
                           void *getenv_ctx, const char *region, const char *sts_endpoint_url)
{
    memset(cp, 0, sizeof(*cp));
    if ((region && !(cp->region = strdup(region))) ||
        (sts_endpoint_url && !(cp->sts_endpoint_url = strdup(sts_endpoint_url)))) {
        free(cp->region);
        cp->region = NULL;
        return BSUP_ENOMEM;
    }
    cp->loop = loop;
    cp->engine = engine;
    cp->getenv_fn = getenv_fn ? getenv_fn : bsup_credprovider_getenv;
    cp->getenv_ctx = getenv_ctx;
    bsup_random_init(&cp->rng, bsup_random_seed());
    int rc = uv_timer_init(loop, &cp->timer);
    if (rc) {
        free(cp->region);
        free(cp->sts_endpoint_url);
        cp->region = cp->sts_endpoint_url = NULL;
        return BSUP_EIO;
    }
    cp->timer.data = cp;
    return 0;
}

const struct bsup_aws_credentials *bsup_credprovider_current(struct bsup_credprovider *cp)
{
    if (!cp->creds.access_key_id)
        return NULL;
    if (cp->creds.expiration_s && cp->creds.expiration_s - S_VALID_MARGIN_S <= (int64_t)time(NULL))
        return NULL;
    return &cp->creds;
}

int bsup_credprovider_wait(struct bsup_credprovider *cp, bsup_credprovider_fn cb, void *user)
{
    if (cp->closing)
        return BSUP_ESHUTDOWN;
    struct bsup_credprovider_waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return BSUP_ENOMEM;
    w->cb = cb;
    w->user = user;
    w->next = cp->waiters;
    cp->waiters = w;
    int rc = s_start(cp);
    if (rc) {
        cp->waiters = w->next;
        free(w);
    }
    return rc;
}

void bsup_credprovider_refused(struct bsup_credprovider *cp, uint64_t resolution, const char *code)
{
    if (cp->closing || resolution != cp->resolutions || !cp->creds.access_key_id)
        return; /* already dropped or replaced */
    bsup_log_warn("AWS refused the credentials from %s (%s); resolving them again for the next "
                  "call",
                  cp->creds.source, code);
    bsup_aws_credentials_cleanup(&cp->creds);
    if (!cp->chain) /* the refresh of the dropped ones, if armed */
        uv_timer_stop(&cp->timer);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct bsup_credprovider *cp = h->data;
    bsup_aws_credentials_cleanup(&cp->creds);
    free(cp->region);
    free(cp->sts_endpoint_url);
    cp->region = cp->sts_endpoint_url = NULL;
    cp->timer_closed = true;
    if (!cp->call && !cp->proc) /* else on_http_done or on_process_done finishes the close */
        s_closed(cp);
}

void bsup_credprovider_close(struct bsup_credprovider *cp, bsup_close_fn cb, void *user)
{
    cp->closing = true;
    cp->close_cb = cb;
    cp->close_user = user;
    cp->pending_step = NULL;
    if (cp->call) {
        bsup_http_cancel(cp->call); /* on_http_done finishes the waiters */
    } else if (cp->proc) {
        bsup_process_cancel(cp->proc); /* on_process_done finishes the waiters */
    } else if (cp->chain || cp->waiters) {
        struct bsup_diag d;
        bsup_diag_set(&d, BSUP_ECANCELED, "credential resolution cancelled");
        s_finish(cp, NULL, &d);
    }
    uv_timer_stop(&cp->timer);
    uv_close((uv_handle_t *)&cp->timer, on_timer_closed);
}
