/* The control commands: one table of name, whether it changes anything, and handler. */
#include "core/base/buf.h"
#include "core/base/strmap.h"
#include "daemon/daemon_internal.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "store/events.h"
#include "store/journal.h"

#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct s_call {
    struct bsup_daemon *d;
    uint64_t client_id;
    const struct bsup_peer *peer;
    json_t *req;
    const char *service; /* the "service" argument, or NULL */
    char request_id[40]; /* for changing commands */
};

typedef json_t *(*s_command_fn)(struct s_call *call);

/* Status and plan rows are written as text, not built as objects: at 1000 services a status
 * is 800 KiB, and building then encoding it twice (once to measure each row) cost 19 ms of the
 * loop. Each writer appends one member ("key":value) after a comma unless first. */

static void s_kv_str(struct bsup_buf *b, const char *key, const char *v)
{
    bsup_buf_json_key(b, key);
    if (v)
        bsup_buf_json_string(b, v);
    else
        bsup_buf_puts(b, "null");
}

/* v, or null when v is 0 (a time that has not happened). */
static void s_kv_time(struct bsup_buf *b, const char *key, int64_t v)
{
    bsup_buf_json_key(b, key);
    if (v)
        bsup_buf_int(b, v);
    else
        bsup_buf_puts(b, "null");
}

static void s_kv_bool(struct bsup_buf *b, const char *key, bool v)
{
    bsup_buf_json_key(b, key);
    bsup_buf_puts(b, v ? "true" : "false");
}

/* key and j, encoded by jansson (small values: a plan's actions). */
static void s_kv_json(struct bsup_buf *b, const char *key, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    bsup_buf_json_key(b, key);
    if (!text)
        bsup_buf_fail(b, BSUP_ENOMEM);
    bsup_buf_puts(b, text ? text : "null");
    free(text);
    json_decref(j);
}

/* Per AWS service called so far (finished or in flight): the client's counters, for status. */
static json_t *s_aws_json(struct bsup_daemon *d)
{
    struct bsup_aws_in_flight fl[BSUP_AWS_SERVICE_COUNT];
    json_t *aws = json_object();
    if (!aws || !d->aws_up)
        return aws;
    bsup_aws_client_in_flight(&d->aws, fl);
    uint64_t now_ms = uv_now(&d->loop);
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++) {
        const struct bsup_aws_service_state *sv = &d->aws.services[i];
        const struct bsup_retry_stats *st = &sv->stats;
        if (st->requests == 0 && fl[i].n == 0)
            continue;
        json_object_set_new(
            aws, sv->info->name,
            json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:s, s:i, s:o, s:s?, s:o}", "requests",
                      (json_int_t)st->requests, "retries", (json_int_t)st->retries, "throttles",
                      (json_int_t)st->throttles, "errors", (json_int_t)st->errors, "latency_avg_ms",
                      st->requests ? json_integer((json_int_t)(st->latency_sum_ms / st->requests))
                                   : json_null(),
                      "latency_max_ms", (json_int_t)st->latency_max_ms, "endpoint",
                      sv->resolve_rc ? "" : sv->endpoint.host, "in_flight", (int)fl[i].n,
                      "oldest_in_flight_s",
                      fl[i].n ? json_integer((json_int_t)((now_ms - fl[i].oldest_sent_ms) / 1000))
                              : json_null(),
                      "last_error", sv->last_error_at_s ? sv->last_error : NULL, "last_error_at",
                      sv->last_error_at_s ? json_integer(sv->last_error_at_s) : json_null()));
    }
    return aws;
}

/* Engine-wide figures and the AWS client's per-family counters, for status --json. */
static json_t *s_engine_json(struct bsup_daemon *d)
{
    struct bsup_reconcile_figures f = {.healthy = true};
    if (d->rec)
        bsup_reconcile_figures(d->rec, &f);
    json_t *calls = json_object();
    for (int i = 0; calls && d->aws_up && i < BSUP_API_FAMILY_COUNT; i++) {
        const struct bsup_bucket *bk = &d->aws.buckets[i];
        json_object_set_new(calls, bsup_api_families[i].name,
                            json_pack("{s:I, s:f, s:I, s:I}", "requests",
                                      (json_int_t)d->aws.attempts[i], "rate_per_s", bk->rate_per_s,
                                      "throttles", (json_int_t)bk->throttles, "waits",
                                      (json_int_t)bk->waits));
    }
    return json_pack("{s:I, s:i, s:i, s:I, s:I, s:b, s:I, s:s?, s:o*, s:o*}", "cycles",
                     (json_int_t)f.cycles, "services_last_cycle", (int)f.services_last_cycle,
                     "observing_calls_last_cycle", (int)f.observing_calls_last_cycle,
                     "observing_calls_total", (json_int_t)f.observing_calls_total, "late_cycles",
                     (json_int_t)f.late_cycles, "healthy", f.healthy, "store_errors",
                     (json_int_t)f.store_errors, "store_error", f.store_error, "api", calls, "aws",
                     s_aws_json(d));
}

/* The encoded rows of one status or plan page, at most (2.5 MiB): a page is built whole before
 * it is sent, so this bounds the memory a status takes (10 000 services are about 7 MiB of rows)
 * while a fleet of about a thousand observed services still answers in one page (each more
 * page is a round trip, and waits for its loop turn while a cycle runs). */
#define S_PAGE_ROW_BYTES ((size_t)5 * 512 * 1024)

/* One page of service rows: from offset (or from the first service named from or after it),
 * at most limit rows, until the reply is budget_bytes long (at least one row, so that paging
 * moves on). total, more and attention cover every matching service, not only the page. */
struct s_page {
    size_t offset, limit, budget_bytes;
    const char *from; /* the request's, or NULL */
    size_t total;     /* out: services matching */
    bool more;        /* out: rows after this page */
    char *next_from;  /* out: with more, the first service left out */
    bool attention;   /* out: a matching service needs an operator */
};

/* Reads "offset" and "limit" (optional integers) or "from" (a service name) into page; an error
 * reply, or NULL. */
static json_t *s_page_args(json_t *req, struct s_page *page)
{
    json_t *offset = json_object_get(req, "offset"), *limit = json_object_get(req, "limit");
    json_t *from = json_object_get(req, "from");
    if (offset && (!json_is_integer(offset) || json_integer_value(offset) < 0))
        return bsup_control_error("bad_request", "offset must be an integer >= 0");
    if (from && !json_is_string(from))
        return bsup_control_error("bad_request", "from must be a service name");
    if (from && offset)
        return bsup_control_error("bad_request", "from and offset cannot be combined");
    page->from = json_string_value(from);
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1))
        return bsup_control_error("bad_request", "limit must be an integer >= 1");
    page->offset = offset ? (size_t)json_integer_value(offset) : 0;
    page->limit = limit ? (size_t)json_integer_value(limit) : SIZE_MAX;
    return NULL;
}

/* Encoded size of j, compact. */
static size_t s_json_bytes(const json_t *j)
{
    return j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
}

/* The reply budget left for rows once head (the reply without them) and the request's "id" are
 * in: what bsupctl status at 10 000 services gets page by page instead of nothing. */
static size_t s_budget(const struct s_call *call, const json_t *head)
{
    size_t max = call->d->control ? bsup_control_max_reply_bytes(call->d->control) : SIZE_MAX;
    size_t used = s_json_bytes(head) + s_json_bytes(json_object_get(call->req, "id")) + 256;
    return max > used ? max - used : 0;
}

/* One page of status (or plan) rows being written into out, from the stored services. */
struct s_rows {
    struct bsup_daemon *d;
    const char *service; /* only this one, or NULL: all */
    bool plan;
    const char *forced; /* "paused", "dry-run": what forces observe mode, or NULL */
    struct s_page *page;
    struct bsup_buf *out;
    size_t n_rows;
};

/* A service's observations as written into status, for one engine version of them. */
struct s_obs_text {
    uint64_t version;
    size_t len;
    char *text; /* after name */
    char name[];
};

/* The service's observations as its stored record has them (status members), when they are
 * JSON members naming exactly today's domains (a record of an older bsupd may not): else NULL.
 * The text is copied into status as it is, so it is parsed first: what a damaged or
 * hand-edited database holds must not break the reply of every service. */
static char *s_recorded_observations(struct bsup_daemon *d, const char *service)
{
    struct bsup_diag diag = {0};
    char *text = NULL;
    if (bsup_store_observation_observed(d->store, service, &text, &diag))
        return NULL;
    size_t len = strlen(text), n = bsup_reconcile_n_domains(d->rec);
    char *whole = len > 1 && text[0] == ',' ? realloc(text, len + 2) : NULL;
    if (!whole) { /* (an empty record, or out of memory) */
        free(text);
        return NULL;
    }
    text = whole; /* ,"scaling":{...},... is parsed as {"scaling":{...},...} */
    text[0] = '{';
    text[len] = '}';
    json_error_t err;
    json_t *members = json_loadb(text, len + 1, JSON_REJECT_DUPLICATES, &err);
    text[0] = ',';
    text[len] = 0;
    bool ok = json_is_object(members) && json_object_size(members) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_object_get(members, bsup_reconcile_domain(d->rec, i)->name) != NULL;
    if (!members)
        bsup_log_warn("service=%s its stored observations are not JSON (%s at character %d); "
                      "status shows none until its next cycle",
                      service, err.text, err.position);
    json_decref(members);
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

/* The service's domain observations as status members (,"scaling":{...},...): written once
 * per version of them and kept, so a status of 1000 services copies 2 MiB instead of writing
 * every field again. A recorded service's come from its stored record. */
static void s_observations(struct bsup_daemon *d, struct bsup_buf *b, const char *service,
                           uint64_t version, bool recorded)
{
    if (d->status_obs_reloads != d->reloads) { /* removed services' entries go */
        bsup_strmap_cleanup_free(&d->status_obs);
        d->status_obs_reloads = d->reloads;
    }
    struct s_obs_text *old = bsup_strmap_get(&d->status_obs, service);
    if (old && old->version == version) {
        bsup_buf_append(b, old->text, old->len);
        return;
    }
    size_t mark = b->len, size = 0;
    for (size_t i = 0; i < bsup_reconcile_n_domains(d->rec); i++)
        if (bsup_reconcile_domain(d->rec, i)->obs_size > size)
            size = bsup_reconcile_domain(d->rec, i)->obs_size;
    void *obs = malloc(size ? size : 1);
    if (!obs) {
        bsup_buf_fail(b, BSUP_ENOMEM);
        return;
    }
    char *stored = recorded ? s_recorded_observations(d, service) : NULL;
    bool any = stored != NULL;
    for (size_t i = 0; !stored && i < bsup_reconcile_n_domains(d->rec); i++) {
        const struct bsup_domain *dom = bsup_reconcile_domain(d->rec, i);
        bsup_buf_json_key(b, dom->name);
        if (bsup_reconcile_observation(d->rec, service, i, obs)) {
            bsup_domain_obs_write(b, dom, obs);
            any = true;
        } else {
            bsup_buf_puts(b, "null");
        }
    }
    if (stored)
        bsup_buf_puts(b, stored);
    free(stored);
    free(obs);
    if (!any) { /* nothing observed: as quick to write again as to copy, so not kept */
        if (old) {
            bsup_strmap_del(&d->status_obs, service);
            free(old);
        }
        return;
    }
    size_t name_len = strlen(service) + 1, len = b->len - mark;
    struct s_obs_text *t = b->err ? NULL : malloc(sizeof(*t) + name_len + len);
    if (!t)
        return; /* written, not kept */
    t->version = version;
    t->len = len;
    memcpy(t->name, service, name_len);
    t->text = t->name + name_len;
    memcpy(t->text, b->data + mark, len);
    if (bsup_strmap_put(&d->status_obs, t->name, t)) {
        free(t);
        return;
    }
    free(old);
}

/* What s_row returns when the page needs no more rows (the walk of the store stops). */
#define S_PAGE_DONE 1

/* The page is full: service, the first left out, is where the next one begins. */
static int s_page_ends(struct s_page *page, const char *service)
{
    page->more = true;
    page->next_from = strdup(service);
    return page->next_from ? S_PAGE_DONE : BSUP_ENOMEM;
}

/* One stored service of the page's walk (from its first row on): written when it fits. */
static int s_row(void *ctx, const struct bsup_store_service *v)
{
    struct s_rows *r = ctx;
    struct bsup_daemon *d = r->d;
    struct s_page *page = r->page;
    struct bsup_buf *b = r->out;
    if (r->service && strcmp(r->service, v->service) != 0)
        return S_PAGE_DONE; /* the walk began at it: past it */
    bool file_ok = !bsup_strmap_get(&d->rejected_files, v->source_file);
    struct bsup_reconcile_status st;
    bool known = d->rec && bsup_reconcile_service_status(d->rec, v->service, &st);
    unsigned flags = known ? bsup_state_flags(st.state) : 0;
    if (r->service) {
        page->total = 1;
        page->attention = !file_ok || (flags & BSUP_STATE_F_ATTENTION);
        if (page->from && strcmp(v->service, page->from) < 0)
            page->offset = 1; /* the page begins after it */
        if (page->offset > 0)
            return S_PAGE_DONE;
    }
    if (r->n_rows >= page->limit || (r->n_rows > 0 && b->len >= page->budget_bytes))
        return s_page_ends(page, v->service);
    size_t mark = b->len;
    const char *mode = v->mode ? v->mode : bsup_mode_name(d->settings->mode);
    bsup_buf_puts(b, r->n_rows ? ",{\"service\":" : "{\"service\":");
    bsup_buf_json_string(b, v->service);
    if (r->plan) {
        bool observed = known && st.observed;
        bsup_buf_json_int(b, "generation", v->generation);
        s_kv_str(b, "mode", r->forced ? "observe" : mode);
        s_kv_bool(b, "observed", observed);
        s_kv_time(b, "observed_at", observed ? st.last_cycle_at_s : 0);
        s_kv_str(b, "state", bsup_state_name(known ? st.state : BSUP_STATE_NEVER));
        struct bsup_plan plan;
        bsup_plan_init(&plan);
        if (observed && bsup_reconcile_plan(d->rec, v->service, &plan))
            bsup_buf_fail(b, BSUP_ENOMEM);
        s_kv_json(b, "actions", observed ? bsup_plan_json(&plan) : json_array());
        bsup_plan_cleanup(&plan);
    } else {
        bool never = !known || st.state == BSUP_STATE_NEVER;
        s_kv_str(b, "environment", v->environment ? v->environment : "?");
        s_kv_str(b, "mode", r->forced ? "observe" : mode);
        s_kv_str(b, "configured_mode", mode);
        s_kv_bool(b, "mode_inherited", !v->mode);
        s_kv_str(b, "mode_forced_by", r->forced);
        bsup_buf_json_int(b, "generation", v->generation);
        s_kv_str(b, "content_hash", v->content_hash);
        s_kv_str(b, "source_file", v->source_file);
        bsup_buf_json_int(b, "loaded_at", v->loaded_at_s);
        bsup_buf_json_int(b, "seen_at", v->seen_at_s);
        s_kv_str(b, "config", file_ok ? "ok" : "rejected-kept-last-good");
        s_kv_str(b, "state", bsup_state_name(known ? st.state : BSUP_STATE_NEVER));
        s_kv_time(b, "last_reconciled_at", known ? st.last_cycle_at_s : 0);
        s_kv_bool(b, "recorded", known && st.recorded);
        bsup_buf_json_key(b, "drift");
        bsup_buf_puts(b, never ? "null" : (flags & BSUP_STATE_F_DRIFT) ? "true" : "false");
        bsup_buf_json_key(b, "degraded");
        bsup_buf_puts(b, never ? "null" : (flags & BSUP_STATE_F_DEGRADED) ? "true" : "false");
        s_kv_bool(b, "attention", !file_ok || (flags & BSUP_STATE_F_ATTENTION));
        if (known)
            s_observations(d, b, v->service, st.version, st.recorded);
        if (known) {
            bsup_buf_json_int(b, "calls_last_cycle", st.calls_last_cycle);
            bsup_buf_json_int(b, "changes_last_cycle", st.changes_last_cycle);
            s_kv_bool(b, "running", st.running);
            bsup_buf_json_int(b, "failures", st.failures);
            s_kv_str(b, "error", st.error);
        }
    }
    bsup_buf_putc(b, '}');
    if (b->err)
        return b->err;
    if (r->n_rows > 0 && b->len > page->budget_bytes) {
        bsup_buf_truncate(b, mark); /* the next page begins with it */
        return s_page_ends(page, v->service);
    }
    r->n_rows++;
    return 0;
}

/* total, offset (for a page asked for by name) and attention of a page of every service: from
 * counts and the engine's figures, so that a page reads only its own rows. */
static int s_page_counts(struct bsup_daemon *d, struct s_page *page, struct bsup_diag *diag)
{
    int64_t n = 0, before = 0;
    int rc = bsup_store_services_count(d->store, NULL, &n, diag);
    if (rc == 0 && page->from)
        rc = bsup_store_services_count(d->store, page->from, &before, diag);
    if (rc)
        return rc;
    page->total = (size_t)n;
    if (page->from)
        page->offset = (size_t)before;
    struct bsup_reconcile_figures f = {0};
    if (d->rec)
        bsup_reconcile_figures(d->rec, &f);
    page->attention = f.attention;
    return 0;
}

/* A status or plan reply: b holds its beginning (an object's members, unclosed); appends a
 * page of the stored services' rows and total, offset, next_offset, next_from and, for status,
 * attention. b is consumed. */
static json_t *s_paged(struct s_call *call, struct bsup_buf *b, bool plan)
{
    struct bsup_daemon *d = call->d;
    struct s_page page = {0};
    struct bsup_diag diag = {0};
    json_t *err = s_page_args(call->req, &page), *reply = NULL;
    if (err)
        goto out;
    bsup_buf_puts(b, ",\"services\":[");
    size_t max = d->control ? bsup_control_max_reply_bytes(d->control) : SIZE_MAX;
    size_t used = b->len + s_json_bytes(json_object_get(call->req, "id")) + 256;
    size_t rows = max > used ? max - used : 0;
    page.budget_bytes = b->len + (rows < S_PAGE_ROW_BYTES ? rows : S_PAGE_ROW_BYTES);
    struct s_rows r = {.d = d,
                       .service = call->service,
                       .plan = plan,
                       .forced = d->paused          ? "paused"
                                 : d->opts->dry_run ? "dry-run"
                                                    : NULL,
                       .page = &page,
                       .out = b};
    int rc = call->service ? 0 : s_page_counts(d, &page, &diag);
    if (rc == 0)
        rc = call->service
                 ? bsup_store_services_from(d->store, plan, call->service, 0, s_row, &r, &diag)
                 : bsup_store_services_from(d->store, plan, page.from,
                                            page.from ? 0 : (int64_t)page.offset, s_row, &r, &diag);
    if (rc < 0) {
        err = bsup_control_error("internal", "%s",
                                 rc == BSUP_ENOMEM ? "out of memory" : diag.message);
        goto out;
    }
    if (call->service && page.total == 0) {
        err = bsup_control_error("not_found", "no service named %s", call->service);
        goto out;
    }
    bsup_buf_puts(b, "],\"total\":");
    bsup_buf_int(b, (int64_t)page.total);
    bsup_buf_json_int(b, "offset", (int64_t)page.offset);
    bsup_buf_json_key(b, "next_offset");
    if (page.more)
        bsup_buf_int(b, (int64_t)(page.offset + r.n_rows));
    else
        bsup_buf_puts(b, "null");
    s_kv_str(b, "next_from", page.next_from);
    /* A rejected file or a failed reload leaves the running configuration stale. */
    s_kv_bool(b, "attention", d->files_rejected > 0 || d->reload_failed_at_s || page.attention);
    bsup_buf_putc(b, '}');
    char *text = NULL;
    size_t len = 0;
    if (bsup_buf_take(b, &text, &len) || !(reply = bsup_control_encoded(text, len)))
        err = bsup_control_error("internal", "out of memory");
out:
    free(page.next_from);
    bsup_buf_cleanup(b);
    return reply ? reply : err;
}

/* Appends j's members (j encoded, without its closing brace) to b; takes j. */
static void s_open_object(struct bsup_buf *b, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        bsup_buf_append(b, text, strlen(text) - 1);
    else
        bsup_buf_fail(b, BSUP_ENOMEM);
    free(text);
    json_decref(j);
}

/* The outboxes and the last publish (docs/control-protocol.md). */
static json_t *s_metrics_json(struct bsup_daemon *d)
{
    if (!d->pub)
        return json_null();
    struct bsup_publisher_figures f;
    bsup_publisher_figures(d->pub, &f);
    int64_t now = (int64_t)time(NULL);
    json_t *m = json_pack(
        "{s:b, s:s, s:I, s:o, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:s?, s:o}", "enabled",
        d->settings->metrics.enabled, "namespace", d->settings->metrics.namespace_, "outbox_depth",
        (json_int_t)f.outbox_depth, "oldest_age_s",
        f.outbox_depth ? json_integer(now - f.oldest_at_ms / 1000) : json_null(), "alerts_waiting",
        (json_int_t)f.alerts_waiting, "last_publish_at",
        f.last_publish_at_s ? json_integer(f.last_publish_at_s) : json_null(), "last_alert_at",
        f.last_alert_at_s ? json_integer(f.last_alert_at_s) : json_null(), "requests",
        (json_int_t)f.requests, "datums", (json_int_t)f.datums, "dropped", (json_int_t)f.dropped,
        "alerts_sent", (json_int_t)f.alerts_sent, "last_error", f.last_error, "last_error_at",
        f.last_error_at_s ? json_integer(f.last_error_at_s) : json_null());
    if (m)
        json_object_set_new(m, "alerts_held", json_integer((json_int_t)f.alerts_held));
    if (m && f.failing_attempts)
        json_object_set_new(m, "failing_alert",
                            json_pack("{s:s?, s:s, s:i, s:s}", "service",
                                      *f.failing_service ? f.failing_service : NULL, "what",
                                      f.failing_what, "attempts", f.failing_attempts, "error",
                                      f.failing_error));
    else if (m)
        json_object_set_new(m, "failing_alert", json_null());
    return m;
}

/* Where the AWS credentials come from, a lookup in progress and the last one that failed (never
 * a secret; docs/control-protocol.md). */
static json_t *s_credentials_json(struct bsup_daemon *d)
{
    if (!d->aws_up)
        return json_null();
    const struct bsup_credprovider *cp = &d->aws.creds;
    bool have = cp->creds.access_key_id != NULL;
    return json_pack("{s:s?, s:s?, s:o, s:b, s:o, s:s?, s:s?, s:o}", "source",
                     have ? cp->creds.source : NULL, "description",
                     have && cp->creds.description[0] ? cp->creds.description : NULL, "expires_at",
                     have && cp->creds.expiration_s ? json_integer(cp->creds.expiration_s)
                                                    : json_null(),
                     "resolving", cp->chain != NULL, "resolving_since",
                     cp->chain ? json_integer(cp->resolving_since_s) : json_null(), "asking",
                     cp->chain && cp->asking[0] ? cp->asking : NULL, "last_error",
                     cp->last_error_at_s ? cp->last_error.message : NULL, "last_error_at",
                     cp->last_error_at_s ? json_integer(cp->last_error_at_s) : json_null());
}

/* The daemon's part of status, without last_load (kept encoded since the load). */
static json_t *s_daemon_info(struct bsup_daemon *d)
{
    struct bsup_reconcile_figures f = {.healthy = true};
    if (d->rec)
        bsup_reconcile_figures(d->rec, &f);
    json_t *info = json_pack(
        "{s:s, s:i, s:I, s:b, s:b, s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:b}", "version",
        BSUP_VERSION, "pid", (int)getpid(), "started_at", (json_int_t)d->started_at_s, "paused",
        d->paused, "dry_run", d->opts->dry_run, "mode", bsup_mode_name(d->settings->mode),
        "config_dir", d->settings->config_dir, "state_dir", d->settings->state_dir, "region",
        d->settings->region ? d->settings->region : "", "reloads", (json_int_t)d->reloads,
        "last_cycle_at", f.last_cycle_at_s ? json_integer(f.last_cycle_at_s) : json_null(),
        "cycles", (json_int_t)f.cycles, "clients",
        (json_int_t)(d->control ? bsup_control_n_clients(d->control) : 0), "healthy", d->healthy);
    if (info)
        json_object_set_new(info, "metrics", s_metrics_json(d));
    if (info)
        json_object_set_new(info, "credentials", s_credentials_json(d));
    const struct bsup_aws_ca_bundle *ca = &d->opts->ca_bundle;
    if (info)
        json_object_set_new(info, "ca_bundle",
                            ca->path ? json_pack("{s:s, s:s}", "path", ca->path, "from", ca->from)
                                     : json_null());
    if (info)
        json_object_set_new(info, "reload_failed",
                            d->reload_failed_at_s
                                ? json_pack("{s:I, s:s}", "at", (json_int_t)d->reload_failed_at_s,
                                            "error", d->reload_failed_error)
                                : json_null());
    return info;
}

/* A reply buffer in the allocation of the last large reply written, when the control server
 * kept one: its pages are resident, where a fresh one faults each 4 KiB page in (about a
 * quarter of a status of 1000 services). */
static void s_reply_buf(struct bsup_daemon *d, struct bsup_buf *b)
{
    size_t cap = 0;
    char *spare = d->control ? bsup_control_spare(d->control, &cap) : NULL;
    if (spare)
        bsup_buf_adopt(b, spare, cap);
}

static json_t *on_status(struct s_call *call)
{
    struct bsup_daemon *d = call->d;
    struct bsup_buf b = BSUP_BUF_INIT(SIZE_MAX, 0);
    s_reply_buf(d, &b);
    char line[256];
    bsup_daemon_status_line(d, line, sizeof(line));
    s_open_object(&b, json_pack("{s:b, s:i, s:s, s:o}", "ok", 1, "protocol", BSUP_CONTROL_PROTOCOL,
                                "summary", line, "engine", s_engine_json(d)));
    bsup_buf_puts(&b, ",\"daemon\":");
    s_open_object(&b, s_daemon_info(d));
    bsup_buf_puts(&b, ",\"last_load\":");
    bsup_buf_puts(&b, d->last_load ? d->last_load : "null");
    bsup_buf_putc(&b, '}');
    return s_paged(call, &b, false);
}

static json_t *on_plan(struct s_call *call)
{
    struct bsup_buf b = BSUP_BUF_INIT(SIZE_MAX, 0);
    s_reply_buf(call->d, &b);
    s_open_object(&b, json_pack("{s:b, s:i, s:b}", "ok", 1, "protocol", BSUP_CONTROL_PROTOCOL,
                                "paused", call->d->paused));
    return s_paged(call, &b, true);
}

static json_t *on_reconcile(struct s_call *call)
{
    struct bsup_daemon *d = call->d;
    json_t *wait = json_object_get(call->req, "wait");
    if (wait && !json_is_boolean(wait))
        return bsup_control_error("bad_request", "wait must be true or false");
    if (call->service) {
        json_t *found = on_plan(call); /* not_found, or the service's plan row */
        if (json_object_get(found, "error"))
            return found;
        bsup_control_reply_drop(found);
    }
    bsup_daemon_event(d, call->service, "reconcile.requested", call->request_id,
                      "reconcile requested by uid %u%s", (unsigned)call->peer->uid,
                      d->paused ? " (paused: observe only)" : "");
    bsup_log_info("reconcile requested action=reconcile request_id=%s service=%s uid=%u",
                  call->request_id, call->service ? call->service : "*", (unsigned)call->peer->uid);
    if (json_is_true(wait)) {
        struct bsup_daemon_waiter *w = calloc(1, sizeof(*w));
        if (!w)
            return bsup_control_error("internal", "out of memory");
        w->client_id = call->client_id;
        w->id = json_incref(json_object_get(call->req, "id"));
        if (bsup_daemon_reconcile(d, call->service, call->request_id, w))
            return bsup_control_error("shutting_down", "bsupd is stopping");
        return NULL; /* answered by the cycle */
    }
    if (bsup_daemon_reconcile(d, call->service, call->request_id, NULL))
        return bsup_control_error("shutting_down", "bsupd is stopping");
    return json_pack("{s:b, s:s, s:b, s:b}", "ok", 1, "request_id", call->request_id, "accepted", 1,
                     "paused", d->paused);
}

static json_t *on_reload(struct s_call *call)
{
    json_t *error = NULL, *reply = NULL;
    bsup_notify_reloading();
    int rc = bsup_daemon_reload(call->d, call->request_id, &error);
    char line[256];
    bsup_daemon_status_line(call->d, line, sizeof(line));
    bsup_notify_ready(line);
    if (rc) {
        reply = bsup_control_error("reload_failed", "%s",
                                   error ? json_string_value(json_object_get(error, "message"))
                                         : "reload failed");
        json_decref(error);
        return reply;
    }
    /* The load's summary is kept encoded (status shows it too): written, not rebuilt. */
    struct bsup_buf b = BSUP_BUF_INIT(SIZE_MAX, 0);
    bsup_buf_puts(&b, "{\"ok\":true,\"request_id\":");
    bsup_buf_json_string(&b, call->request_id);
    bsup_buf_puts(&b, ",\"loaded\":");
    bsup_buf_puts(&b, call->d->last_load ? call->d->last_load : "null");
    bsup_buf_putc(&b, '}');
    char *text = NULL;
    size_t len = 0;
    if (bsup_buf_take(&b, &text, &len) || !(reply = bsup_control_encoded(text, len)))
        reply = bsup_control_error("internal", "out of memory");
    bsup_buf_cleanup(&b);
    return reply;
}

/* The first row from the name: 1 it is that service, 2 it is not (either stops the scan). */
static int s_service_row_is(void *ctx, const struct bsup_store_service *row)
{
    return strcmp(row->service, ctx) == 0 ? 1 : 2;
}

/* Whether events may name service: it is configured, or the store has an event of it (a
 * removed service's history stays readable until pruned). 0 yes, BSUP_ENOTFOUND, or an error. */
static int s_events_service_known(struct bsup_daemon *d, const char *service,
                                  struct bsup_diag *diag)
{
    struct bsup_store_event *v = NULL;
    size_t n = 0;
    int rc = bsup_store_services_from(d->store, false, service, 0, s_service_row_is,
                                      (void *)service, diag);
    if (rc < 0 || rc == 1)
        return rc < 0 ? rc : 0;
    if ((rc = bsup_store_events_list(d->store, 0, service, 1, &v, &n, diag)))
        return rc;
    bsup_store_events_free(v, n);
    return n ? 0 : BSUP_ENOTFOUND;
}

static json_t *on_events(struct s_call *call)
{
    json_t *since = json_object_get(call->req, "since_s");
    json_t *after = json_object_get(call->req, "after_id");
    json_t *limit = json_object_get(call->req, "limit");
    if (since && (!json_is_integer(since) || json_integer_value(since) < 0))
        return bsup_control_error("bad_request", "since_s must be a number of seconds >= 0");
    if (after && (!json_is_integer(after) || json_integer_value(after) < 0))
        return bsup_control_error("bad_request", "after_id must be an event id >= 0");
    if (since && after)
        return bsup_control_error("bad_request", "since_s and after_id do not go together");
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
                  json_integer_value(limit) > 10000))
        return bsup_control_error("bad_request", "limit must be 1 to 10000");
    int64_t since_at = since ? (int64_t)time(NULL) - (int64_t)json_integer_value(since) : 0;
    size_t max = limit ? (size_t)json_integer_value(limit) : 1000;
    struct bsup_store_event *v = NULL;
    size_t n = 0;
    struct bsup_diag diag = {0};
    if (after ? bsup_store_events_after(call->d->store, (int64_t)json_integer_value(after),
                                        call->service, max, &v, &n, &diag)
              : bsup_store_events_list(call->d->store, since_at, call->service, max, &v, &n, &diag))
        return bsup_control_error("internal", "%s", diag.message);
    int rc = n == 0 && call->service ? s_events_service_known(call->d, call->service, &diag) : 0;
    if (rc == BSUP_ENOTFOUND)
        return bsup_control_error("not_found", "no service named %s, now or in the events",
                                  call->service);
    if (rc)
        return bsup_control_error("internal", "%s", diag.message);
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < n; i++)
        json_array_append_new(rows, json_pack("{s:I, s:I, s:s?, s:s, s:s, s:s?}", "id",
                                              (json_int_t)v[i].id, "at", (json_int_t)v[i].at_s,
                                              "service", v[i].service, "kind", v[i].kind, "message",
                                              v[i].message, "request_id", v[i].request_id));
    bsup_store_events_free(v, n);
    if (!rows)
        return bsup_control_error("internal", "out of memory");
    /* Within one reply: the newest events that fit, the older ones left out; after an id, the
     * oldest that fit, so that asking again after the last one misses none. */
    json_t *reply = json_pack("{s:b, s:[]}", "ok", 1, "events");
    size_t budget = s_budget(call, reply), used = 0, keep = 0, total = json_array_size(rows);
    for (; keep < total; keep++) {
        used += s_json_bytes(json_array_get(rows, after ? keep : total - 1 - keep)) + 1;
        if (used > budget)
            break;
    }
    size_t drop = total - keep;
    if (drop > 0) {
        json_t *fit = json_array();
        for (size_t i = after ? 0 : drop; fit && i < (after ? keep : total); i++)
            json_array_append(fit, json_array_get(rows, i));
        json_decref(rows);
        rows = fit;
        json_object_set_new(reply, "truncated", json_true());
        json_object_set_new(reply, "omitted", json_integer((json_int_t)drop));
    }
    if (!reply || !rows || json_object_set_new(reply, "events", rows)) {
        json_decref(reply);
        return bsup_control_error("internal", "out of memory");
    }
    return reply;
}

static json_t *s_set_paused(struct s_call *call, bool paused)
{
    struct bsup_daemon *d = call->d;
    struct bsup_diag diag = {0};
    bool changed = d->paused != paused;
    /* The kill switch works even when the database does not: pausing takes effect at once;
     * it is kept in the database and in a file of the state directory, which survives the
     * database being moved aside (start-up honours either). Resuming needs both cleared. */
    bool meta = bsup_store_meta_set(d->store, "paused", paused ? "1" : "0", &diag) == 0;
    if (!meta)
        bsup_log_err("%s", diag.message);
    bool flag = bsup_store_flag_set(d->store, "paused", paused, &diag) == 0;
    if (!flag)
        bsup_log_err("%s", diag.message);
    if (!paused && (!meta || !flag))
        return bsup_control_error("internal", "not resumed: %s", diag.message);
    d->paused = paused;
    if (changed) {
        bsup_daemon_event(d, NULL, paused ? "daemon.paused" : "daemon.resumed", call->request_id,
                          "%s by uid %u", paused ? "paused: observe only everywhere" : "resumed",
                          (unsigned)call->peer->uid);
        bsup_log_notice("%s action=%s request_id=%s uid=%u",
                        paused ? "paused: every service observes only" : "resumed",
                        paused ? "pause" : "resume", call->request_id, (unsigned)call->peer->uid);
        char line[256];
        bsup_daemon_status_line(d, line, sizeof(line));
        bsup_notify_status(line);
    }
    return json_pack("{s:b, s:s, s:b, s:b}", "ok", 1, "request_id", call->request_id, "paused",
                     paused, "changed", changed);
}

static json_t *on_pause(struct s_call *call)
{
    return s_set_paused(call, true);
}

static json_t *on_resume(struct s_call *call)
{
    return s_set_paused(call, false);
}

static const struct s_command {
    const char *name;
    bool changes; /* needs admin rights */
    bool takes_service;
    s_command_fn fn;
} s_commands[] = {
    {"status", false, true, on_status}, {"plan", false, true, on_plan},
    {"events", false, true, on_events}, {"reconcile", true, true, on_reconcile},
    {"reload", true, false, on_reload}, {"pause", true, false, on_pause},
    {"resume", true, false, on_resume},
};

static bool s_peer_may(const struct bsup_daemon *d, const struct bsup_peer *peer, bool changes)
{
    if (peer->uid == 0 || peer->uid == d->self_uid)
        return true;
    if (d->admin_gid != (gid_t)-1 && bsup_peer_in_group(peer, d->admin_gid))
        return true;
    return !changes && d->read_gid != (gid_t)-1 && bsup_peer_in_group(peer, d->read_gid);
}

enum bsup_control_class bsup_daemon_classify(void *ctx, const struct bsup_peer *peer,
                                             json_t **out_refusal)
{
    struct bsup_daemon *d = ctx;
    if (s_peer_may(d, peer, true))
        return BSUP_CONTROL_ADMIN;
    if (s_peer_may(d, peer, false))
        return BSUP_CONTROL_READER;
    struct passwd *pw = getpwuid(peer->uid);
    *out_refusal = bsup_control_error(
        "permission_denied",
        "uid %u (%s) may not use bsupd: reading needs root or the group %s, changing root or "
        "the group %s",
        (unsigned)peer->uid, pw ? pw->pw_name : "?", d->settings->read_group,
        d->settings->admin_group);
    return BSUP_CONTROL_REFUSED;
}

json_t *bsup_daemon_on_request(void *ctx, uint64_t client_id, const struct bsup_peer *peer,
                               json_t *request)
{
    struct bsup_daemon *d = ctx;
    json_t *cmd = json_object_get(request, "cmd");
    if (!json_is_string(cmd))
        return bsup_control_error("bad_request", "request needs \"cmd\": one of status, plan, "
                                                 "events, reconcile, reload, pause, resume");
    const struct s_command *c = NULL;
    for (size_t i = 0; i < sizeof(s_commands) / sizeof(s_commands[0]); i++)
        if (strcmp(s_commands[i].name, json_string_value(cmd)) == 0)
            c = &s_commands[i];
    if (!c)
        return bsup_control_error("unknown_command",
                                  "unknown command \"%.64s\"; known: status, plan, events, "
                                  "reconcile, reload, pause, resume",
                                  json_string_value(cmd));
    if (!s_peer_may(d, peer, c->changes)) {
        struct passwd *pw = getpwuid(peer->uid);
        bsup_log_warn("control request refused action=%s uid=%u", c->name, (unsigned)peer->uid);
        return bsup_control_error("permission_denied",
                                  "uid %u (%s) may not %s: %s needs root or the group %s",
                                  (unsigned)peer->uid, pw ? pw->pw_name : "?", c->name,
                                  c->changes ? "changing" : "reading",
                                  c->changes ? d->settings->admin_group : d->settings->read_group);
    }
    json_t *service = json_object_get(request, "service");
    if (service && !json_is_null(service) && (!c->takes_service || !json_is_string(service)))
        return bsup_control_error("bad_request", c->takes_service
                                                     ? "service must be a string"
                                                     : "this command takes no service");
    struct s_call call = {.d = d,
                          .client_id = client_id,
                          .peer = peer,
                          .req = request,
                          .service = json_string_value(service)};
    if (c->changes)
        bsup_daemon_request_id(d, call.request_id);
    return c->fn(&call);
}
