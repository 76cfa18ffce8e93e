#include "daemon/publisher.h"

#include "core/base/array.h"
#include "core/metrics/catalogue.h"
#include "core/metrics/putdata.h"
#include "daemon/log.h"
#include "store/events.h"
#include "store/outbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Datums read per request built. A request holds at most 1000 keys, and bsupd's datums
 * hardly ever share one (a key includes the time, to the millisecond): reading more would only
 * cost time on the loop (2 ms per 5000), and datums that do merge leave room that the next
 * request fills. */
#define S_READ_MAX BSUP_PUTDATA_MAX_ENTRIES
#define S_ALERTS_READ_MAX 50
#define S_AGE_MARGIN_S 3600 /* dropped an hour before CloudWatch would refuse them */

struct bsup_publisher {
    uv_loop_t *loop;
    struct bsup_store *store;
    struct bsup_aws_client *aws;
    const struct bsup_settings *settings;
    bsup_publisher_lookup_fn lookup;
    void *ctx;
    uv_timer_t timer;
    bool metrics_busy; /* a PutMetricData in flight */
    bool alerts_busy;  /* a Publish in flight */
    bool closing;
    bool timer_closed;
    uv_timer_t kick; /* alerts go as soon as they are queued, not at the next round */
    bool kick_closed;
    bsup_close_fn close_cb;
    void *close_user;
    struct bsup_alert_budget budget;
    /* The request in flight: the outbox ids it carries. */
    int64_t first_id, last_id;
    /* Datums CloudWatch accepted whose delete failed (0: none): deleted before any other
     * request, never sent again by this process. */
    int64_t undeleted_first, undeleted_last;
    size_t n_datums;
    /* After CloudWatch refused a request for its content (InvalidParameterValue...): at most
     * this many datums per request, halved at each refusal, until the one it refuses is alone
     * and dropped (0: no limit). first_datum names the request's first datum for that drop. */
    size_t probe;
    bool dropped_this_round; /* a refused datum was dropped: bisect no more until next round */
    char first_datum[256];
    struct bsup_store_alert *alert; /* the alert in flight */
    /* An alert SNS accepted whose leaving the outbox could not be recorded: recorded before
     * anything else goes, never sent again by this process. */
    struct bsup_store_alert *unrecorded;
    char unrecorded_topic[1100], unrecorded_mid[128];
    char topic[1100];
    char **failed_topics; /* topics a Publish failed to this round */
    size_t n_failed_topics, cap_failed_topics;
    uint64_t aws_seen[3]; /* requests, throttles, errors already published */
    uint64_t dropped_unpublished;
    struct bsup_publisher_figures fig;
    uint64_t depth_read_ms; /* loop time fig's outbox depths were read; 0 never */
    char last_error[512];
    char failing_service[128], failing_what[64], failing_error[512];
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool s_topic_failed(const struct bsup_publisher *p, const char *topic)
{
    for (size_t i = 0; i < p->n_failed_topics; i++)
        if (strcmp(p->failed_topics[i], topic) == 0)
            return true;
    return false;
}

static void s_forget_failed_topics(struct bsup_publisher *p)
{
    for (size_t i = 0; i < p->n_failed_topics; i++)
        free(p->failed_topics[i]);
    p->n_failed_topics = 0;
}

/* A Publish to topic failed: its other alerts wait for the next round, so their order holds,
 * and the alerts of other topics go on (a wrong or deleted topic holds up only its own). */
static void s_topic_failing(struct bsup_publisher *p, const char *topic)
{
    char *t = strdup(topic);
    if (!t ||
        BSUP_ARRAY_RESERVE(p->failed_topics, p->cap_failed_topics, p->n_failed_topics + 1) < 0) {
        free(t);
        return;
    }
    p->failed_topics[p->n_failed_topics++] = t;
}

static void s_maybe_closed(struct bsup_publisher *p)
{
    if (!p->closing || !p->timer_closed || !p->kick_closed || p->metrics_busy || p->alerts_busy)
        return;
    bsup_close_fn cb = p->close_cb;
    void *user = p->close_user;
    s_forget_failed_topics(p);
    free(p->failed_topics);
    bsup_store_alerts_free(p->unrecorded, p->unrecorded ? 1 : 0);
    free(p);
    if (cb)
        cb(user);
}

static void s_failed(struct bsup_publisher *p, const char *what, const char *msg)
{
    size_t n = strlen(what);
    if (n > 64)
        n = 64;
    memcpy(p->last_error, what, n);
    memcpy(p->last_error + n, ": ", 2);
    size_t room = sizeof(p->last_error) - n - 3, m = strlen(msg);
    m = m < room ? m : room;
    memcpy(p->last_error + n + 2, msg, m);
    p->last_error[n + 2 + m] = '\0';
    p->fig.last_error = p->last_error;
    p->fig.last_error_at_s = (int64_t)time(NULL);
}

/* ---- metrics ---- */

static void s_send_metrics(struct bsup_publisher *p);

/* CloudWatch refused the request for its content: the errors botocore's model gives
 * PutMetricData as the sender's fault (HTTP 400). Sending it again cannot succeed, unlike a
 * refusal of the caller (AccessDenied, an expired token), which waits for the operator's fix. */
static bool s_content_refused(const struct bsup_aws_result *res)
{
    static const char *const codes[] = {"InvalidParameterValue", "MissingParameter",
                                        "InvalidParameterCombination"};
    if (res->err != BSUP_EAWS || res->error.http_status != 400)
        return false;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(res->error.code, codes[i]) == 0)
            return true;
    return false;
}

/* The one datum of the request in flight, refused for its content: it leaves the outbox with
 * its event in one transaction (never sent again, never silent). */
static void s_drop_refused(struct bsup_publisher *p, const struct bsup_aws_result *res)
{
    struct bsup_diag diag = {0};
    char msg[1400];
    snprintf(msg, sizeof(msg), "metric datum refused by CloudWatch and dropped: %s: %s",
             p->first_datum, res->message);
    bsup_log_warn("%s", msg);
    if (bsup_store_begin(p->store, &diag) ||
        bsup_store_metrics_delete(p->store, p->first_id, p->last_id, &diag) ||
        bsup_store_event_add(p->store, (int64_t)time(NULL), NULL, "metrics.dropped", msg, NULL,
                             &diag) ||
        bsup_store_commit(p->store, &diag)) {
        bsup_store_rollback(p->store);
        bsup_log_err("publisher: %s", diag.message);
        return; /* still in the outbox: found again (and dropped) next round */
    }
    p->fig.dropped++;
    p->dropped_unpublished++;
    p->probe = 0;
    p->dropped_this_round = true;
}

static void on_put(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct bsup_publisher *p = user;
    struct bsup_diag diag = {0};
    p->metrics_busy = false;
    p->depth_read_ms = 0;
    if (res->err == 0) {
        /* Accepted: delete at once, before anything else runs (docs/metrics.md: a kill -9
         * between CloudWatch's answer and this commit repeats these datums, nothing else). */
        if (bsup_store_metrics_delete(p->store, p->first_id, p->last_id, &diag)) {
            bsup_log_err("%s", diag.message);
            s_failed(p, "metric outbox", diag.message);
            p->undeleted_first = p->first_id;
            p->undeleted_last = p->last_id;
        } else {
            p->fig.requests++;
            p->fig.datums += p->n_datums;
            p->fig.last_publish_at_s = (int64_t)time(NULL);
            bsup_log_debug("metrics published datums=%zu", p->n_datums);
            if (!p->closing)
                s_send_metrics(p);
        }
    } else if (s_content_refused(res)) {
        /* One drop a round: were CloudWatch to refuse every datum, each costs about ten calls. */
        bool go_on = !p->dropped_this_round;
        s_failed(p, "PutMetricData", res->message);
        if (p->n_datums > 1) {
            /* Refused for what it carries: the refused datum is in one half or the other. */
            p->probe = p->n_datums / 2;
            bsup_log_warn("CloudWatch refused %zu metric datums, sent again %zu at a time to "
                          "find the refused one: %s",
                          p->n_datums, p->probe, res->message);
        } else {
            s_drop_refused(p, res);
        }
        if (!p->closing && go_on)
            s_send_metrics(p);
    } else {
        /* Kept: they go again next round with their original timestamps. A lost answer (5xx,
         * timeout) may mean CloudWatch has them already: at-least-once, see docs/metrics.md. */
        s_failed(p, "PutMetricData", res->message);
        if (res->err != BSUP_ECANCELED)
            bsup_log_warn("metrics not published, they wait in the outbox: %s", res->message);
    }
    s_maybe_closed(p);
}

/* Sends the next request of waiting datums (one in flight at a time). */
static void s_send_metrics(struct bsup_publisher *p)
{
    struct bsup_metric_datum *d = NULL;
    size_t n = 0;
    struct bsup_diag diag = {0};
    struct bsup_putdata_request r = {0};
    if (p->metrics_busy || p->closing)
        return;
    if (p->undeleted_first) {
        if (bsup_store_metrics_delete(p->store, p->undeleted_first, p->undeleted_last, &diag)) {
            bsup_log_err("publisher: %s", diag.message);
            return; /* the database fails: nothing else goes until they are deleted */
        }
        p->undeleted_first = p->undeleted_last = 0;
    }
    if (bsup_store_metrics_pending(p->store, S_READ_MAX, &d, &n, &diag)) {
        bsup_log_err("%s", diag.message);
        return;
    }
    if (n == 0) {
        p->probe = 0; /* nothing refused waits (both halves may have gone): full requests again */
        goto out;
    }
    int rc = bsup_putdata_next(p->settings->metrics.namespace_, d,
                               p->probe && p->probe < n ? p->probe : n, NULL, &r);
    if (rc == 0)
        rc = bsup_aws_call(p->aws, "cloudwatch", "PutMetricData", &r.params, NULL,
                           BSUP_AWS_MUTATION | BSUP_AWS_GZIP, on_put, p, NULL);
    if (rc) {
        s_failed(p, "PutMetricData", bsup_aws_client_why(p->aws, "cloudwatch", rc));
        goto out;
    }
    p->metrics_busy = true;
    p->first_id = d[0].id;
    p->last_id = d[r.n_datums - 1].id;
    p->n_datums = r.n_datums;
    char at[48];
    bsup_putdata_timestamp(d[0].at_ms, at);
    snprintf(p->first_datum, sizeof(p->first_datum), "%s%s%s%s%s value %g at %s", d[0].name,
             d[0].service ? " service=" : "", d[0].service ? d[0].service : "",
             d[0].environment ? " environment=" : "", d[0].environment ? d[0].environment : "",
             d[0].value, at);
out:
    bsup_putdata_request_cleanup(&r);
    bsup_store_metrics_free(d, n);
}

/* ---- alerts ---- */

static void s_send_alerts(struct bsup_publisher *p);
static void on_kick(uv_timer_t *t);

static const char *s_topic(struct bsup_publisher *p, const char *service)
{
    const struct bsup_service *s = service && p->lookup ? p->lookup(p->ctx, service) : NULL;
    if (s && s->alerts.sns_topic_arn)
        return s->alerts.sns_topic_arn;
    return p->settings->alerts.sns_topic_arn;
}

/* SNS accepted alert a: it leaves the outbox (one transaction). */
static int s_record_sent(struct bsup_publisher *p, const struct bsup_store_alert *a,
                         const char *topic, const char *mid, struct bsup_diag *diag)
{
    bool tx = bsup_store_begin(p->store, diag) == 0;
    if (!tx || bsup_store_alert_sent(p->store, a, topic, mid, (int64_t)time(NULL), diag) ||
        bsup_store_commit(p->store, diag)) {
        bsup_store_rollback(p->store);
        return diag->code ? diag->code : BSUP_ESTORE;
    }
    return 0;
}

static void on_published(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct bsup_publisher *p = user;
    struct bsup_store_alert *a = p->alert;
    struct bsup_diag diag = {0};
    int64_t now = (int64_t)time(NULL);
    p->alerts_busy = false;
    p->alert = NULL;
    p->depth_read_ms = 0;
    if (res->err == 0) {
        json_t *page = json_array_get(res->pages, 0);
        const char *mid = json_string_value(json_object_get(page, "MessageId"));
        bool recorded = s_record_sent(p, a, p->topic, mid, &diag) == 0;
        p->fig.alerts_sent++;
        p->fig.last_alert_at_s = now;
        bsup_log_notice("alert sent service=%s what=%s alert_id=%lld event_id=%lld topic=%s "
                        "message_id=%s",
                        a->service ? a->service : "-", a->what, (long long)a->id,
                        (long long)a->event_id, p->topic, mid ? mid : "-");
        if (!recorded) {
            /* Reading the outbox again would send it again: kept here until recorded. */
            bsup_log_err("alert sent but still in the outbox, not sent again alert_id=%lld: %s",
                         (long long)a->id, diag.message);
            p->unrecorded = a;
            a = NULL;
            snprintf(p->unrecorded_topic, sizeof(p->unrecorded_topic), "%s", p->topic);
            snprintf(p->unrecorded_mid, sizeof(p->unrecorded_mid), "%s", mid ? mid : "");
        } else if (!p->closing) {
            s_send_alerts(p);
        }
    } else {
        s_failed(p, "Publish", res->message);
        if (res->err != BSUP_ECANCELED) {
            bsup_log_warn("alert not published, it waits in the outbox service=%s what=%s "
                          "alert_id=%lld: %s",
                          a->service ? a->service : "-", a->what, (long long)a->id, res->message);
            if (bsup_store_alert_failed(p->store, a, res->message, now, &diag))
                bsup_log_err("%s", diag.message);
            s_topic_failing(p, p->topic);
            if (!p->closing)
                s_send_alerts(p);
        }
    }
    bsup_store_alerts_free(a, a ? 1 : 0);
    s_maybe_closed(p);
}

static json_t *s_alert_body(const struct bsup_store_alert *a, const char *environment)
{
    char when[48], opened[48];
    bsup_putdata_timestamp(a->at_s * 1000, when);
    bsup_putdata_timestamp(a->opened_at_s * 1000, opened);
    return json_pack("{s:s?, s:s?, s:s, s:s?, s:s?, s:s, s:s?, s:I, s:I, s:i, s:s}", "service",
                     a->service, "environment", environment, "what", a->what, "observed",
                     a->observed, "desired", a->desired, "when", when, "opened",
                     a->opened_at_s ? opened : NULL, "event_id", (json_int_t)a->event_id,
                     "alert_id", (json_int_t)a->id, "reminder", a->reminder, "message", a->message);
}

/* The oldest waiting alert whose topic has not failed this round (*out_topic its topic),
 * letting go on the way those with no topic (events only). 0 with *out NULL: none. */
static int s_next_alert(struct bsup_publisher *p, struct bsup_store_alert **out,
                        const char **out_topic, struct bsup_diag *diag)
{
    int64_t after = 0;
    *out = NULL;
    for (;;) {
        struct bsup_store_alert *v = NULL;
        size_t n = 0, i;
        int rc = bsup_store_alerts_pending(p->store, after, (int64_t)time(NULL), S_ALERTS_READ_MAX,
                                           &v, &n, diag);
        if (rc || n == 0)
            return rc;
        for (i = 0; i < n; i++) {
            const char *topic = s_topic(p, v[i].service);
            if (topic && !s_topic_failed(p, topic)) {
                *out_topic = topic;
                break;
            }
            if (topic)
                continue;
            /* No topic anywhere: the alert is an event only (it is in the events table). */
            if ((rc = s_record_sent(p, &v[i], NULL, NULL, diag))) {
                bsup_store_alerts_free(v, n);
                return rc;
            }
        }
        if (i < n) {
            *out = malloc(sizeof(**out));
            if (!*out) {
                bsup_store_alerts_free(v, n);
                return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
            }
            **out = v[i];
            memset(&v[i], 0, sizeof(v[i])); /* its strings are *out's now */
        }
        after = v[n - 1].id;
        bsup_store_alerts_free(v, n);
        if (*out)
            return 0;
    }
}

/* Publishes the oldest waiting alert of a topic that has not failed this round (one in flight
 * at a time), within the rate limit. */
static void s_send_alerts(struct bsup_publisher *p)
{
    struct bsup_store_alert *a = NULL;
    const char *topic = NULL;
    struct bsup_diag diag = {0};
    if (p->alerts_busy || p->closing)
        return;
    if (p->unrecorded) {
        if (s_record_sent(p, p->unrecorded, p->unrecorded_topic,
                          *p->unrecorded_mid ? p->unrecorded_mid : NULL, &diag)) {
            bsup_log_err("publisher: %s", diag.message);
            return; /* the database fails: nothing else goes until it is recorded */
        }
        bsup_store_alerts_free(p->unrecorded, 1);
        p->unrecorded = NULL;
    }
    if (s_next_alert(p, &a, &topic, &diag)) {
        bsup_log_err("%s", diag.message);
        return;
    }
    if (!a) {
        /* Nothing due: a held alert goes when its hold ends, whatever else runs (or not). */
        int64_t now_s = (int64_t)time(NULL), due_s = 0;
        if (bsup_store_alerts_held_next(p->store, now_s, &due_s, &diag))
            bsup_log_err("%s", diag.message);
        else if (due_s)
            uv_timer_start(&p->kick, on_kick, (uint64_t)(due_s - now_s) * 1000, 0);
        return;
    }
    struct bsup_store_alert *v = a;
    size_t n = 1;
    if (!bsup_alert_budget_take(&p->budget, s_now_ms())) {
        bsup_store_alerts_free(v, n);
        /* Over the rate limit: it waits for the next token, not for the next round. */
        uv_timer_start(&p->kick, on_kick, (uint64_t)(60000 / p->settings->alerts.per_minute) + 1,
                       0);
        return;
    }
    const struct bsup_service *s = a->service && p->lookup ? p->lookup(p->ctx, a->service) : NULL;
    const char *env = a->environment ? a->environment
                      : s            ? bsup_environment_name(s->environment)
                                     : NULL;
    const char *words = bsup_alert_words(bsup_alert_find(a->what), a->observed);
    char subject[101], id[32], dedup[128];
    snprintf(subject, sizeof(subject), "bsup: %s%s%s %s%s", a->service ? a->service : "bsupd",
             env ? "-" : "", env ? env : "", words ? words : a->what,
             a->reminder ? " (reminder)" : "");
    snprintf(id, sizeof(id), "%lld", (long long)a->id);
    json_t *body = s_alert_body(a, env);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct bsup_aws_params params = {0};
    int rc = text ? 0 : BSUP_ENOMEM;
    if (rc == 0)
        rc = bsup_aws_params_add(&params, "TopicArn", topic) ||
                     bsup_aws_params_add(&params, "Subject", subject) ||
                     bsup_aws_params_add(&params, "Message", text) ||
                     bsup_aws_params_add(&params, "MessageAttributes.entry.1.Name",
                                         "bsup_alert_id") ||
                     bsup_aws_params_add(&params, "MessageAttributes.entry.1.Value.DataType",
                                         "String") ||
                     bsup_aws_params_add(&params, "MessageAttributes.entry.1.Value.StringValue", id)
                 ? BSUP_ENOMEM
                 : 0;
    size_t tl = strlen(topic);
    if (rc == 0 && tl > 5 && strcmp(topic + tl - 5, ".fifo") == 0) {
        /* A FIFO topic wants a group (a service's alerts keep their order) and refuses a
         * message without a deduplication id (unless its topic hashes the content, which would
         * take two equal reminders for one): the alert's, so that SNS drops a repeat sent
         * within 5 minutes (an answer lost after SNS took it), and its time and the owner
         * besides, so that a new state database's or another bsupd's alert of the same id is
         * not taken for it. */
        snprintf(dedup, sizeof(dedup), "%s-%lld-%lld", p->settings->owner ? p->settings->owner : "",
                 (long long)a->id, (long long)a->at_s);
        rc = bsup_aws_params_add(&params, "MessageGroupId", a->service ? a->service : "bsupd") ||
                     bsup_aws_params_add(&params, "MessageDeduplicationId", dedup)
                 ? BSUP_ENOMEM
                 : 0;
    }
    if (rc == 0)
        rc = bsup_aws_call(p->aws, "sns", "Publish", &params, NULL, BSUP_AWS_MUTATION, on_published,
                           p, NULL);
    if (rc == 0) {
        p->alerts_busy = true;
        p->alert = a;
        snprintf(p->topic, sizeof(p->topic), "%s", topic);
        v = NULL;
    } else {
        s_failed(p, "Publish", bsup_aws_client_why(p->aws, "sns", rc));
    }
    bsup_aws_params_cleanup(&params);
    free(text);
    json_decref(body);
    bsup_store_alerts_free(v, n);
}

/* ---- the round ---- */

static void s_daemon_datums(struct bsup_publisher *p, size_t dropped, struct bsup_diag *diag)
{
    uint64_t now[3] = {0};
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++) {
        const struct bsup_retry_stats *st = &p->aws->services[i].stats;
        now[0] += st->requests + st->retries;
        now[1] += st->throttles;
        now[2] += st->errors;
    }
    static const enum bsup_metric which[3] = {BSUP_METRIC_AWS_REQUESTS, BSUP_METRIC_AWS_THROTTLES,
                                              BSUP_METRIC_AWS_ERRORS};
    int64_t at = s_now_ms();
    for (int k = 0; k < 3; k++) {
        const struct bsup_metric_info *mi = &bsup_metrics[which[k]];
        if (bsup_store_metric_add(p->store, mi->name, NULL, NULL, at,
                                  (double)(now[k] - p->aws_seen[k]), mi->unit, diag) == 0)
            p->aws_seen[k] = now[k];
    }
    size_t depth = 0;
    int64_t oldest = 0;
    bsup_store_metrics_depth(p->store, &depth, &oldest, diag);
    const struct bsup_metric_info *d = &bsup_metrics[BSUP_METRIC_OUTBOX_DEPTH];
    bsup_store_metric_add(p->store, d->name, NULL, NULL, at, (double)depth, d->unit, diag);
    d = &bsup_metrics[BSUP_METRIC_OUTBOX_DROPPED];
    bsup_store_metric_add(p->store, d->name, NULL, NULL, at,
                          (double)(dropped + p->dropped_unpublished), d->unit, diag);
    p->dropped_unpublished = 0;
}

static void on_timer(uv_timer_t *t)
{
    struct bsup_publisher *p = t->data;
    struct bsup_diag diag = {0};
    int64_t now_s = (int64_t)time(NULL);
    if (p->closing)
        return;
    p->depth_read_ms = 0;
    /* Bounds, reminders and the daemon's own datums: one transaction. */
    if (bsup_store_begin(p->store, &diag) == 0) {
        size_t dropped = 0, reminders = 0;
        int64_t max_age = p->settings->metrics.outbox_max_age_s;
        if (max_age > BSUP_PUTDATA_MAX_AGE_S - S_AGE_MARGIN_S)
            max_age = BSUP_PUTDATA_MAX_AGE_S - S_AGE_MARGIN_S;
        /* A datum ahead of the clock (it was set back since) would have CloudWatch refuse
         * every request that carries it, and the outbox would wait behind it for hours. */
        int64_t ahead = BSUP_PUTDATA_MAX_AHEAD_S - S_AGE_MARGIN_S;
        int rc = bsup_store_metrics_prune(
            p->store, s_now_ms() - max_age * 1000, s_now_ms() + ahead * 1000,
            (size_t)p->settings->metrics.outbox_max_rows, &dropped, &diag);
        if (rc == 0 && dropped) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "%zu metric datums dropped from the outbox (older than %llds, more than "
                     "%llds ahead of the clock, or beyond %lld rows): CloudWatch never gets them",
                     dropped, (long long)max_age, (long long)ahead,
                     (long long)p->settings->metrics.outbox_max_rows);
            bsup_log_warn("%s", msg);
            rc = bsup_store_event_add(p->store, now_s, NULL, "metrics.dropped", msg, NULL, &diag);
            p->fig.dropped += dropped;
        }
        if (rc == 0)
            rc = bsup_store_alert_reminders(p->store, now_s, p->settings->alerts.reminder_s,
                                            &reminders, &diag);
        if (rc == 0 && p->settings->metrics.enabled)
            s_daemon_datums(p, dropped, &diag);
        if (rc == 0 && diag.code == 0)
            rc = bsup_store_commit(p->store, &diag);
        else
            bsup_store_rollback(p->store);
        if (rc || diag.code) {
            if (dropped)
                p->dropped_unpublished += dropped;
            bsup_log_err("publisher: %s", diag.message);
        }
    } else {
        bsup_log_err("publisher: %s", diag.message);
    }
    p->dropped_this_round = false;
    if (p->settings->metrics.enabled)
        s_send_metrics(p);
    s_forget_failed_topics(p); /* each round tries every topic again */
    s_send_alerts(p);
}

int bsup_publisher_new(const struct bsup_publisher_options *o, struct bsup_publisher **out,
                       struct bsup_diag *diag)
{
    struct bsup_publisher *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    p->loop = o->loop;
    p->store = o->store;
    p->aws = o->aws;
    p->settings = o->settings;
    p->lookup = o->lookup;
    p->ctx = o->ctx;
    bsup_alert_budget_init(&p->budget, o->settings->alerts.burst, o->settings->alerts.per_minute,
                           s_now_ms());
    uv_timer_init(o->loop, &p->timer);
    p->timer.data = p;
    uint64_t every = (uint64_t)o->settings->metrics.interval_s * 1000;
    uv_timer_start(&p->timer, on_timer, every, every);
    uv_timer_init(o->loop, &p->kick);
    p->kick.data = p;
    *out = p;
    return 0;
}

static void on_kick(uv_timer_t *t)
{
    s_send_alerts(t->data);
}

void bsup_publisher_recount(struct bsup_publisher *p)
{
    p->depth_read_ms = 0;
    if (!p->closing) /* from the next loop turn: the caller may be inside a transaction */
        uv_timer_start(&p->kick, on_kick, 0, 0);
}

static int s_count_with_topic(void *ctx, const char *service, size_t n, size_t held)
{
    struct bsup_publisher *p = ctx;
    if (s_topic(p, service)) {
        p->fig.alerts_waiting += n;
        p->fig.alerts_held += held;
    }
    return 0;
}

void bsup_publisher_figures(struct bsup_publisher *p, struct bsup_publisher_figures *out)
{
    /* Counting the outbox scans it (10 000 datums a cycle at 1000 services): the count is
     * kept until something may have changed it (bsup_publisher_recount) or for a second. */
    uint64_t now = uv_now(p->loop);
    if (!p->depth_read_ms || now - p->depth_read_ms >= 1000) {
        struct bsup_diag diag = {0};
        bsup_store_metrics_depth(p->store, &p->fig.outbox_depth, &p->fig.oldest_at_ms, &diag);
        /* An alert with no topic to go to is an event only, not waiting: the next round
         * lets it go without a call. */
        int64_t now_s = (int64_t)time(NULL);
        p->fig.alerts_waiting = p->fig.alerts_held = 0;
        if (p->settings->alerts.sns_topic_arn)
            bsup_store_alerts_depth(p->store, now_s, &p->fig.alerts_waiting, &p->fig.alerts_held,
                                    &diag);
        else
            bsup_store_alerts_depth_each(p->store, now_s, s_count_with_topic, p, &diag);
        bsup_store_alerts_failing(p->store, p->failing_service, sizeof(p->failing_service),
                                  p->failing_what, sizeof(p->failing_what),
                                  &p->fig.failing_attempts, p->failing_error,
                                  sizeof(p->failing_error), &diag);
        p->fig.failing_service = p->failing_service;
        p->fig.failing_what = p->failing_what;
        p->fig.failing_error = p->failing_error;
        p->depth_read_ms = now ? now : 1;
    }
    *out = p->fig;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct bsup_publisher *p = h->data;
    if (h == (uv_handle_t *)&p->kick)
        p->kick_closed = true;
    else
        p->timer_closed = true;
    s_maybe_closed(p);
}

void bsup_publisher_close(struct bsup_publisher *p, bsup_close_fn cb, void *user)
{
    p->closing = true;
    p->close_cb = cb;
    p->close_user = user;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    uv_close((uv_handle_t *)&p->kick, on_timer_closed);
}
