/* The control commands: one table of name, whether it changes anything, and handler. */
#include "core/base/strmap.h"
#include "daemon/daemon_internal.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "store/events.h"

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

/* The engine's view of one service merged into its status row (docs/control-protocol.md):
 * state, drift/degraded/attention from the state's flags, one observation per domain. */
static int s_status_fields(struct bsup_daemon *d, const char *service,
                           const struct bsup_reconcile_status *st, json_t *row)
{
    bool never = st->state == BSUP_STATE_NEVER;
    unsigned flags = bsup_state_flags(st->state);
    bool drift = flags & BSUP_STATE_F_DRIFT, degraded = flags & BSUP_STATE_F_DEGRADED;
    int rc = json_object_set_new(row, "state", json_string(bsup_state_name(st->state)));
    rc |=
        json_object_set_new(row, "last_reconciled_at",
                            st->last_cycle_at_s ? json_integer(st->last_cycle_at_s) : json_null());
    rc |= json_object_set_new(row, "drift", never ? json_null() : json_boolean(drift));
    rc |= json_object_set_new(row, "degraded", never ? json_null() : json_boolean(degraded));
    if (flags & BSUP_STATE_F_ATTENTION)
        rc |= json_object_set_new(row, "attention", json_true());
    for (size_t i = 0; i < bsup_reconcile_n_domains(d->rec); i++) {
        const struct bsup_domain *dom = bsup_reconcile_domain(d->rec, i);
        const void *obs = bsup_reconcile_observation(d->rec, service, i);
        rc |=
            json_object_set_new(row, dom->name, obs ? bsup_domain_obs_json(dom, obs) : json_null());
    }
    rc |= json_object_set_new(row, "calls_last_cycle", json_integer(st->calls_last_cycle));
    rc |= json_object_set_new(row, "changes_last_cycle", json_integer(st->changes_last_cycle));
    rc |= json_object_set_new(row, "running", json_boolean(st->running));
    rc |= json_object_set_new(row, "failures", json_integer(st->failures));
    rc |= json_object_set_new(row, "error", st->error ? json_string(st->error) : json_null());
    return rc ? BSUP_ENOMEM : 0;
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
    return json_pack("{s:I, s:i, s:i, s:I, s:I, s:b, s:I, s:s?, s:o*}", "cycles",
                     (json_int_t)f.cycles, "services_last_cycle", (int)f.services_last_cycle,
                     "observing_calls_last_cycle", (int)f.observing_calls_last_cycle,
                     "observing_calls_total", (json_int_t)f.observing_calls_total, "late_cycles",
                     (json_int_t)f.late_cycles, "healthy", f.healthy, "store_errors",
                     (json_int_t)f.store_errors, "store_error", f.store_error, "api", calls);
}

/* One page of service rows: from offset, at most limit rows and budget_bytes of encoded rows
 * (at least one row, so that paging moves on). total, more and attention cover every matching
 * service, not only the page. */
struct s_page {
    size_t offset, limit, budget_bytes;
    size_t total;   /* out: services matching */
    bool more;      /* out: rows after this page */
    bool attention; /* out: a matching service needs an operator */
};

/* Reads "offset" and "limit" (optional integers) into page; an error reply, or NULL. */
static json_t *s_page_args(json_t *req, struct s_page *page)
{
    json_t *offset = json_object_get(req, "offset"), *limit = json_object_get(req, "limit");
    if (offset && (!json_is_integer(offset) || json_integer_value(offset) < 0))
        return bsup_control_error("bad_request", "offset must be an integer >= 0");
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

/* The services of the store as status (or plan) rows; NULL service: all. */
static json_t *s_service_rows(struct bsup_daemon *d, const char *service, bool plan,
                              struct s_page *page, json_t **out_err)
{
    struct bsup_store_service *v = NULL;
    size_t n = 0, used_bytes = 0;
    struct bsup_diag diag = {0};
    *out_err = NULL;
    page->total = 0;
    page->more = false;
    page->attention = false;
    if (bsup_store_services_list(d->store, &v, &n, &diag)) {
        *out_err = bsup_control_error("internal", "%s", diag.message);
        return NULL;
    }
    json_t *rows = json_array();
    json_t *files = d->last_load ? json_object_get(d->last_load, "file_list") : NULL;
    /* The last load's files by name: one lookup per service, not a scan. */
    struct bsup_strmap by_file = {0};
    size_t fi;
    json_t *file;
    json_array_foreach(files, fi, file)
    {
        const char *name = json_string_value(json_object_get(file, "name"));
        if (name && bsup_strmap_put(&by_file, name, file)) {
            json_decref(rows);
            rows = NULL;
            break;
        }
    }
    for (size_t i = 0; rows && i < n; i++) {
        if (service && strcmp(service, v[i].service) != 0)
            continue;
        size_t at = page->total++;
        json_t *f = bsup_strmap_get(&by_file, v[i].source_file);
        bool file_ok = !f || json_is_true(json_object_get(f, "ok"));
        struct bsup_reconcile_status st;
        bool known = d->rec && bsup_reconcile_service_status(d->rec, v[i].service, &st);
        if (!file_ok || (known && (bsup_state_flags(st.state) & BSUP_STATE_F_ATTENTION)))
            page->attention = true;
        if (at < page->offset)
            continue;
        if (json_array_size(rows) >= page->limit ||
            (json_array_size(rows) > 0 && used_bytes >= page->budget_bytes)) {
            page->more = true;
            continue;
        }
        json_t *cfg = json_loads(v[i].config_json, 0, NULL);
        const char *env = json_string_value(json_object_get(cfg, "environment"));
        const char *mode = json_string_value(json_object_get(cfg, "mode"));
        bool inherited = !mode;
        if (!mode)
            mode = bsup_mode_name(d->settings->mode);
        const char *forced = d->paused ? "paused" : d->opts->dry_run ? "dry-run" : NULL;
        json_t *row;
        if (plan) {
            bool observed = known && st.observed;
            row = json_pack("{s:s, s:I, s:s, s:b, s:o, s:s, s:o*}", "service", v[i].service,
                            "generation", (json_int_t)v[i].generation, "mode",
                            forced ? "observe" : mode, "observed", observed, "observed_at",
                            observed ? json_integer(st.last_cycle_at_s) : json_null(), "state",
                            bsup_state_name(known ? st.state : BSUP_STATE_NEVER), "actions",
                            observed ? bsup_plan_json(st.plan) : json_array());
        } else {
            row = json_pack(
                "{s:s, s:s, s:s, s:s, s:b, s:s?, s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:n, s:n, "
                "s:b, s:b}",
                "service", v[i].service, "environment", env ? env : "?", "mode",
                forced ? "observe" : mode, "configured_mode", mode, "mode_inherited", inherited,
                "mode_forced_by", forced, "generation", (json_int_t)v[i].generation, "content_hash",
                v[i].content_hash, "source_file", v[i].source_file, "loaded_at",
                (json_int_t)v[i].loaded_at_s, "seen_at", (json_int_t)v[i].seen_at_s, "config",
                file_ok ? "ok" : "rejected-kept-last-good", "state",
                bsup_state_name(BSUP_STATE_NEVER), "last_reconciled_at", "drift", "degraded", 0,
                "attention", !file_ok);
        }
        json_decref(cfg);
        if (row && !plan && known && s_status_fields(d, v[i].service, &st, row)) {
            json_decref(row);
            row = NULL;
        }
        if (row && !plan && !file_ok)
            json_object_set_new(row, "attention", json_true());
        size_t row_bytes = s_json_bytes(row) + 1; /* and its comma */
        if (row && json_array_size(rows) > 0 && used_bytes + row_bytes > page->budget_bytes) {
            json_decref(row); /* the next page begins with it */
            used_bytes = page->budget_bytes;
            page->more = true;
            continue;
        }
        used_bytes += row_bytes;
        if (!row || json_array_append_new(rows, row)) {
            json_decref(rows);
            rows = NULL;
        }
    }
    bsup_store_services_free(v, n);
    bsup_strmap_cleanup(&by_file);
    if (!rows)
        *out_err = bsup_control_error("internal", "out of memory");
    else if (service && page->total == 0) {
        json_decref(rows);
        rows = NULL;
        *out_err = bsup_control_error("not_found", "no service named %s", service);
    }
    return rows;
}

/* Adds services (a page of rows) and where the page stands to reply (taking rows). */
static json_t *s_paged(json_t *reply, json_t *rows, const struct s_page *page)
{
    size_t next = page->offset + json_array_size(rows);
    if (!reply || json_object_set_new(reply, "services", rows) ||
        json_object_set_new(reply, "total", json_integer((json_int_t)page->total)) ||
        json_object_set_new(reply, "offset", json_integer((json_int_t)page->offset)) ||
        json_object_set_new(reply, "next_offset",
                            page->more ? json_integer((json_int_t)next) : json_null())) {
        json_decref(reply);
        return bsup_control_error("internal", "out of memory");
    }
    return reply;
}

/* The outboxes and the last publish (docs/control-protocol.md). */
static json_t *s_metrics_json(struct bsup_daemon *d)
{
    if (!d->pub)
        return json_null();
    struct bsup_publisher_figures f;
    bsup_publisher_figures(d->pub, &f);
    int64_t now = (int64_t)time(NULL);
    return json_pack(
        "{s:b, s:s, s:I, s:o, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:s?}", "enabled",
        d->settings->metrics.enabled, "namespace", d->settings->metrics.namespace_, "outbox_depth",
        (json_int_t)f.outbox_depth, "oldest_age_s",
        f.outbox_depth ? json_integer(now - f.oldest_at_ms / 1000) : json_null(), "alerts_waiting",
        (json_int_t)f.alerts_waiting, "last_publish_at",
        f.last_publish_at_s ? json_integer(f.last_publish_at_s) : json_null(), "last_alert_at",
        f.last_alert_at_s ? json_integer(f.last_alert_at_s) : json_null(), "requests",
        (json_int_t)f.requests, "datums", (json_int_t)f.datums, "dropped", (json_int_t)f.dropped,
        "alerts_sent", (json_int_t)f.alerts_sent, "last_error", f.last_error);
}

static json_t *s_daemon_info(struct bsup_daemon *d)
{
    json_t *load = d->last_load ? json_deep_copy(d->last_load) : json_null();
    struct bsup_reconcile_figures f = {.healthy = true};
    if (d->rec)
        bsup_reconcile_figures(d->rec, &f);
    json_t *info = json_pack(
        "{s:s, s:i, s:I, s:b, s:b, s:s, s:s, s:s, s:s, s:o, s:I, s:o, s:I, s:I, s:b}", "version",
        BSUP_VERSION, "pid", (int)getpid(), "started_at", (json_int_t)d->started_at_s, "paused",
        d->paused, "dry_run", d->opts->dry_run, "mode", bsup_mode_name(d->settings->mode),
        "config_dir", d->settings->config_dir, "state_dir", d->settings->state_dir, "region",
        d->settings->region ? d->settings->region : "", "last_load", load, "reloads",
        (json_int_t)d->reloads, "last_cycle_at",
        f.last_cycle_at_s ? json_integer(f.last_cycle_at_s) : json_null(), "cycles",
        (json_int_t)f.cycles, "clients",
        (json_int_t)(d->control ? bsup_control_n_clients(d->control) : 0), "healthy", d->healthy);
    if (info)
        json_object_set_new(info, "metrics", s_metrics_json(d));
    return info;
}

static json_t *on_status(struct s_call *call)
{
    struct s_page page = {0};
    json_t *err = s_page_args(call->req, &page), *rows;
    if (err)
        return err;
    char line[256];
    bsup_daemon_status_line(call->d, line, sizeof(line));
    json_t *reply = json_pack("{s:b, s:i, s:s, s:b, s:o, s:o, s:[], s:i, s:i, s:n}", "ok", 1,
                              "protocol", BSUP_CONTROL_PROTOCOL, "summary", line, "attention", 0,
                              "daemon", s_daemon_info(call->d), "engine", s_engine_json(call->d),
                              "services", "total", 0, "offset", 0, "next_offset");
    if (!reply)
        return bsup_control_error("internal", "out of memory");
    page.budget_bytes = s_budget(call, reply);
    if (!(rows = s_service_rows(call->d, call->service, false, &page, &err))) {
        json_decref(reply);
        return err;
    }
    bool attention = call->d->files_rejected > 0 || page.attention;
    json_object_set_new(reply, "attention", json_boolean(attention));
    return s_paged(reply, rows, &page);
}

static json_t *on_plan(struct s_call *call)
{
    struct s_page page = {0};
    json_t *err = s_page_args(call->req, &page), *rows;
    if (err)
        return err;
    json_t *reply = json_pack("{s:b, s:i, s:b, s:[], s:i, s:i, s:n}", "ok", 1, "protocol",
                              BSUP_CONTROL_PROTOCOL, "paused", call->d->paused, "services", "total",
                              0, "offset", 0, "next_offset");
    if (!reply)
        return bsup_control_error("internal", "out of memory");
    page.budget_bytes = s_budget(call, reply);
    if (!(rows = s_service_rows(call->d, call->service, true, &page, &err))) {
        json_decref(reply);
        return err;
    }
    return s_paged(reply, rows, &page);
}

static json_t *on_reconcile(struct s_call *call)
{
    struct bsup_daemon *d = call->d;
    json_t *wait = json_object_get(call->req, "wait");
    if (wait && !json_is_boolean(wait))
        return bsup_control_error("bad_request", "wait must be true or false");
    if (call->service) {
        struct s_page page = {.limit = 1, .budget_bytes = SIZE_MAX};
        json_t *err;
        json_t *rows = s_service_rows(d, call->service, true, &page, &err);
        if (!rows)
            return err;
        json_decref(rows);
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
    json_t *result = NULL;
    bsup_notify_reloading();
    int rc = bsup_daemon_reload(call->d, call->request_id, &result);
    char line[256];
    bsup_daemon_status_line(call->d, line, sizeof(line));
    bsup_notify_ready(line);
    if (rc) {
        json_t *err = bsup_control_error(
            "reload_failed", "%s",
            result ? json_string_value(json_object_get(result, "message")) : "reload failed");
        json_decref(result);
        return err;
    }
    return json_pack("{s:b, s:s, s:o}", "ok", 1, "request_id", call->request_id, "loaded", result);
}

static json_t *on_events(struct s_call *call)
{
    json_t *since = json_object_get(call->req, "since_s");
    json_t *limit = json_object_get(call->req, "limit");
    if (since && (!json_is_integer(since) || json_integer_value(since) < 0))
        return bsup_control_error("bad_request", "since_s must be a number of seconds >= 0");
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
                  json_integer_value(limit) > 10000))
        return bsup_control_error("bad_request", "limit must be 1 to 10000");
    int64_t since_at = since ? (int64_t)time(NULL) - (int64_t)json_integer_value(since) : 0;
    size_t max = limit ? (size_t)json_integer_value(limit) : 1000;
    struct bsup_store_event *v = NULL;
    size_t n = 0;
    struct bsup_diag diag = {0};
    if (bsup_store_events_list(call->d->store, since_at, call->service, max, &v, &n, &diag))
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
    /* Within one reply: the newest events that fit; the older ones are left out. */
    json_t *reply = json_pack("{s:b, s:[]}", "ok", 1, "events");
    size_t budget = s_budget(call, reply), used = 0, keep = 0;
    for (size_t i = json_array_size(rows); i > 0; i--, keep++) {
        used += s_json_bytes(json_array_get(rows, i - 1)) + 1;
        if (used > budget)
            break;
    }
    size_t drop = json_array_size(rows) - keep;
    if (drop > 0) {
        json_t *newest = json_array();
        for (size_t i = drop; newest && i < json_array_size(rows); i++)
            json_array_append(newest, json_array_get(rows, i));
        json_decref(rows);
        rows = newest;
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
