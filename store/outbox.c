#include "store/outbox.h"

#include "core/base/array.h"
#include "core/base/failpoint.h"
#include "store/events.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- metrics ---- */

int bsup_store_metric_add(struct bsup_store *st, const char *name, const char *service,
                          const char *environment, int64_t at_ms, double value, const char *unit,
                          struct bsup_diag *diag)
{
    return bsup_store_exec(st, "queueing a metric datum",
                           "INSERT INTO metric_outbox(name, service, environment, at_ms, value, "
                           "unit) VALUES(?, ?, ?, ?, ?, ?)",
                           BSUP_STORE_ARGS(BSUP_STORE_TEXT(name), BSUP_STORE_TEXT(service),
                                           BSUP_STORE_TEXT(environment), BSUP_STORE_INT(at_ms),
                                           BSUP_STORE_DOUBLE(value), BSUP_STORE_TEXT(unit)),
                           diag);
}

void bsup_store_metrics_free(struct bsup_metric_datum *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free((char *)v[i].name); /* the datum's strings are one allocation */
    free(v);
}

/* The text columns cols[0..n) of a row copied one after another into one allocation (which
 * out[0] points to when that column is not NULL); out[i] is NULL for SQL NULL. The
 * allocation, or NULL on out of memory. */
static char *s_strings(sqlite3_stmt *q, const int *cols, size_t n, const char **out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = (const char *)sqlite3_column_text(q, cols[i]); /* then its bytes, as UTF-8 */
        len += (size_t)sqlite3_column_bytes(q, cols[i]) + 1;
    }
    char *buf = malloc(len), *p = buf;
    for (size_t i = 0; buf && i < n; i++) {
        size_t l = (size_t)sqlite3_column_bytes(q, cols[i]);
        if (out[i])
            out[i] = memcpy(p, out[i], l);
        p[l] = '\0';
        p += l + 1;
    }
    return buf;
}

int bsup_store_metrics_pending(struct bsup_store *st, size_t limit, struct bsup_metric_datum **out,
                               size_t *out_n, struct bsup_diag *diag)
{
    static const char doing[] = "reading the metric outbox";
    static const int cols[] = {1, 6, 2, 3}; /* name and unit first: never NULL */
    sqlite3_stmt *q = NULL;
    struct bsup_metric_datum *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *out_n = 0;
    int rc = bsup_store_query(st, doing,
                              "SELECT id, name, service, environment, at_ms, value, unit FROM "
                              "metric_outbox ORDER BY id LIMIT ?",
                              BSUP_STORE_ARGS(BSUP_STORE_INT(limit)), &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        rc = 0;
        if (BSUP_ARRAY_RESERVE(v, cap, n + 1) < 0) {
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
            break;
        }
        struct bsup_metric_datum *d = &v[n];
        const char *text[4];
        memset(d, 0, sizeof(*d));
        d->id = sqlite3_column_int64(q, 0);
        d->at_ms = sqlite3_column_int64(q, 4);
        d->value = sqlite3_column_double(q, 5);
        char *buf = s_strings(q, cols, 4, text);
        if (!buf || !text[0] || !text[1]) {
            free(buf);
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
            break;
        }
        n++;
        d->name = text[0];
        d->unit = text[1];
        d->service = text[2];
        d->environment = text[3];
    }
    bsup_store_finish(st, q);
    if (rc < 0) {
        bsup_store_metrics_free(v, n);
        return rc;
    }
    *out = v;
    *out_n = n;
    return 0;
}

int bsup_store_metrics_delete(struct bsup_store *st, int64_t first_id, int64_t last_id,
                              struct bsup_diag *diag)
{
    if (bsup_failpoint_error("store-metrics-delete"))
        return bsup_diag_set(diag, BSUP_ESTORE,
                             "state database %s: deleting published metric datums failed "
                             "(failpoint store-metrics-delete)",
                             st->path);
    return bsup_store_exec(st, "deleting published metric datums",
                           "DELETE FROM metric_outbox WHERE id BETWEEN ? AND ?",
                           BSUP_STORE_ARGS(BSUP_STORE_INT(first_id), BSUP_STORE_INT(last_id)),
                           diag);
}

int bsup_store_metrics_depth(struct bsup_store *st, size_t *out_depth, int64_t *out_oldest_ms,
                             struct bsup_diag *diag)
{
    static const char doing[] = "measuring the metric outbox";
    sqlite3_stmt *q = NULL;
    *out_depth = 0;
    *out_oldest_ms = 0;
    int rc =
        bsup_store_prepare(st, doing, "SELECT count(*), coalesce(min(at_ms), 0) FROM metric_outbox",
                           BSUP_STORE_NO_ARGS, &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        *out_depth = (size_t)sqlite3_column_int64(q, 0);
        *out_oldest_ms = sqlite3_column_int64(q, 1);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_metrics_prune(struct bsup_store *st, int64_t before_ms, int64_t after_ms,
                             size_t max_rows, size_t *out_dropped, struct bsup_diag *diag)
{
    *out_dropped = 0;
    int rc =
        bsup_store_exec(st, "dropping metric datums too old or too far ahead for CloudWatch",
                        "DELETE FROM metric_outbox WHERE at_ms < ? OR at_ms > ?",
                        BSUP_STORE_ARGS(BSUP_STORE_INT(before_ms), BSUP_STORE_INT(after_ms)), diag);
    if (rc)
        return rc;
    *out_dropped += (size_t)sqlite3_changes(st->db);
    rc = bsup_store_exec(st, "dropping metric datums over the outbox bound",
                         "DELETE FROM metric_outbox WHERE id <= (SELECT id FROM metric_outbox "
                         "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                         BSUP_STORE_ARGS(BSUP_STORE_INT(max_rows)), diag);
    if (rc == 0)
        *out_dropped += (size_t)sqlite3_changes(st->db);
    return rc;
}

/* ---- alerts ---- */

static int s_savepoint(struct bsup_store *st, const char *sql, struct bsup_diag *diag)
{
    int src = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0
                            : bsup_store_error(st->db, st->path, src, "recording an event", diag);
}

static int s_queue(struct bsup_store *st, int64_t event_id, int64_t at_s, const char *service,
                   const char *environment, const char *what, const char *message,
                   const char *observed, const char *desired, int reminder, int64_t held_until_s,
                   int64_t opened_at_s, struct bsup_diag *diag)
{
    return bsup_store_exec(
        st, "queueing an alert",
        "INSERT INTO alert_outbox(event_id, service, environment, what, message, observed, "
        "desired, at, reminder, held_until, opened_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        BSUP_STORE_ARGS(BSUP_STORE_INT(event_id), BSUP_STORE_TEXT(service),
                        BSUP_STORE_TEXT(environment), BSUP_STORE_TEXT(what),
                        BSUP_STORE_TEXT(message), BSUP_STORE_TEXT(observed),
                        BSUP_STORE_TEXT(desired), BSUP_STORE_INT(at_s), BSUP_STORE_INT(reminder),
                        BSUP_STORE_INT(held_until_s), BSUP_STORE_INT(opened_at_s)),
        diag);
}

/* Decides alert a against its condition's stored memory and queues it when due. A CLOSE held
 * (hold_s) waits in the outbox, named by its condition, until the hold ends; an OPEN within
 * the hold deletes it (core/metrics/alerts.h). */
static int s_alert(struct bsup_store *st, int64_t event_id, int64_t at_s, const char *service,
                   const char *environment, const char *message, enum bsup_alert a,
                   const char *observed, const char *desired, int64_t hold_s,
                   struct bsup_diag *diag)
{
    static const char doing[] = "reading an alert condition";
    const struct bsup_alert_info *info = &bsup_alerts[a];
    const char *scope = service ? service : "";
    struct bsup_alert_condition c = {0};
    int64_t held_id = 0;
    enum bsup_alert was = BSUP_ALERT_NONE;
    int rc = 0;
    if (info->condition) {
        sqlite3_stmt *q = NULL;
        rc = bsup_store_prepare(
            st, doing,
            "SELECT c.opened_at, c.last_sent_at, c.reminders, c.held_id, "
            "coalesce(o.held_until, 1), c.what FROM alert_conditions c LEFT JOIN alert_outbox o "
            "ON o.id = c.held_id WHERE c.scope = ? AND c.condition = ?",
            BSUP_STORE_ARGS(BSUP_STORE_TEXT(scope), BSUP_STORE_TEXT(info->condition)), &q, diag);
        if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
            held_id = sqlite3_column_int64(q, 3);
            was = bsup_alert_find((const char *)sqlite3_column_text(q, 5));
            c = (struct bsup_alert_condition){.open = true,
                                              .opened_at_s = sqlite3_column_int64(q, 0),
                                              .last_sent_at_s = sqlite3_column_int64(q, 1),
                                              .reminders = sqlite3_column_int(q, 2),
                                              .closes_at_s =
                                                  held_id ? sqlite3_column_int64(q, 4) : 0};
            rc = 0;
        }
        sqlite3_finalize(q);
        if (rc)
            return rc;
    }
    bool was_held = c.closes_at_s != 0;
    int64_t opened_at_s = c.opened_at_s;
    if (!bsup_alert_decide(a, info->condition ? &c : NULL, at_s, hold_s)) {
        /* Open still: what its reminders say is where the service is now. */
        if (c.open && !c.closes_at_s && bsup_alert_updates(was, a, observed))
            rc = bsup_store_exec(
                st, "updating an alert condition",
                "UPDATE alert_conditions SET what = ?, environment = ?, message = ?, observed = "
                "?, desired = ?, event_id = ? WHERE scope = ? AND condition = ?",
                BSUP_STORE_ARGS(BSUP_STORE_TEXT(info->what), BSUP_STORE_TEXT(environment),
                                BSUP_STORE_TEXT(message), BSUP_STORE_TEXT(observed),
                                BSUP_STORE_TEXT(desired), BSUP_STORE_INT(event_id),
                                BSUP_STORE_TEXT(scope), BSUP_STORE_TEXT(info->condition)),
                diag);
        if (rc == 0 && was_held && c.open && !c.closes_at_s) { /* opened again within the hold */
            rc = bsup_store_exec(st, "taking back a held alert",
                                 "DELETE FROM alert_outbox WHERE id = ?",
                                 BSUP_STORE_ARGS(BSUP_STORE_INT(held_id)), diag);
            if (rc == 0)
                rc = bsup_store_exec(st, "taking back a held alert",
                                     "UPDATE alert_conditions SET held_id = 0 WHERE held_id = ?",
                                     BSUP_STORE_ARGS(BSUP_STORE_INT(held_id)), diag);
        }
        return rc;
    }
    if (info->condition && c.open && !c.closes_at_s)
        rc = bsup_store_exec(
            st, "opening an alert condition",
            "INSERT OR REPLACE INTO alert_conditions(scope, condition, opened_at, last_sent_at, "
            "reminders, what, environment, message, observed, desired, event_id) "
            "VALUES(?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            BSUP_STORE_ARGS(BSUP_STORE_TEXT(scope), BSUP_STORE_TEXT(info->condition),
                            BSUP_STORE_INT(c.opened_at_s), BSUP_STORE_INT(c.last_sent_at_s),
                            BSUP_STORE_TEXT(info->what), BSUP_STORE_TEXT(environment),
                            BSUP_STORE_TEXT(message), BSUP_STORE_TEXT(observed),
                            BSUP_STORE_TEXT(desired), BSUP_STORE_INT(event_id)),
            diag);
    else if (info->condition && !c.open)
        rc = bsup_store_exec(
            st, "closing an alert condition",
            "DELETE FROM alert_conditions WHERE scope = ? AND condition = ?",
            BSUP_STORE_ARGS(BSUP_STORE_TEXT(scope), BSUP_STORE_TEXT(info->condition)), diag);
    if (rc == 0)
        rc = s_queue(st, event_id, at_s, service, environment, info->what, message, observed,
                     desired, 0, c.closes_at_s,
                     info->effect == BSUP_ALERT_OPEN ? at_s : opened_at_s, diag);
    if (rc == 0 && c.closes_at_s)
        rc = bsup_store_exec(st, "holding an alert",
                             "UPDATE alert_conditions SET held_id = ? WHERE scope = ? AND "
                             "condition = ?",
                             BSUP_STORE_ARGS(BSUP_STORE_INT(sqlite3_last_insert_rowid(st->db)),
                                             BSUP_STORE_TEXT(scope),
                                             BSUP_STORE_TEXT(info->condition)),
                             diag);
    return rc;
}

int bsup_store_alert_condition_values(struct bsup_store *st, const char *service, enum bsup_alert a,
                                      const char *message, const char *observed,
                                      const char *desired, struct bsup_diag *diag)
{
    const struct bsup_alert_info *info = &bsup_alerts[a];
    if (!info->condition || info->effect != BSUP_ALERT_OPEN)
        return 0;
    return bsup_store_exec(
        st, "updating an alert condition's values",
        "UPDATE alert_conditions SET message = ?, observed = ?, desired = ? WHERE scope = ? AND "
        "condition = ? AND what = ? AND held_id = 0",
        BSUP_STORE_ARGS(BSUP_STORE_TEXT(message), BSUP_STORE_TEXT(observed),
                        BSUP_STORE_TEXT(desired), BSUP_STORE_TEXT(service ? service : ""),
                        BSUP_STORE_TEXT(info->condition), BSUP_STORE_TEXT(info->what)),
        diag);
}

int bsup_store_event_alert_rid(struct bsup_store *st, int64_t at_s, const char *service,
                               const char *environment, const char *kind, const char *message,
                               const char *request_id, enum bsup_alert a, const char *observed,
                               const char *desired, int64_t hold_s, struct bsup_diag *diag)
{
    if (a == BSUP_ALERT_NONE)
        a = bsup_alert_for_event(kind);
    bool outermost = sqlite3_get_autocommit(st->db);
    int rc = a == BSUP_ALERT_NONE ? 0 : s_savepoint(st, "SAVEPOINT bsup_event", diag);
    if (rc)
        return rc;
    rc = bsup_store_exec(st, "recording an event",
                         "INSERT INTO events(at, service, kind, message, request_id) "
                         "VALUES(?, ?, ?, ?, ?)",
                         BSUP_STORE_ARGS(BSUP_STORE_INT(at_s), BSUP_STORE_TEXT(service),
                                         BSUP_STORE_TEXT(kind), BSUP_STORE_TEXT(message),
                                         BSUP_STORE_TEXT(request_id)),
                         diag);
    if (a == BSUP_ALERT_NONE)
        return rc;
    if (rc == 0)
        rc = s_alert(st, sqlite3_last_insert_rowid(st->db), at_s, service, environment, message, a,
                     observed, desired, hold_s, diag);
    if (rc == 0 && (rc = s_savepoint(st, "RELEASE bsup_event", diag)) == 0)
        return 0;
    sqlite3_exec(st->db, "ROLLBACK TO bsup_event; RELEASE bsup_event", NULL, NULL, NULL);
    if (outermost) /* its RELEASE was the commit: failing (disk full), it leaves it open */
        bsup_store_rollback(st);
    return rc;
}

int bsup_store_event_alert(struct bsup_store *st, int64_t at_s, const char *service,
                           const char *environment, const char *kind, const char *message,
                           enum bsup_alert a, const char *observed, const char *desired,
                           int64_t hold_s, struct bsup_diag *diag)
{
    return bsup_store_event_alert_rid(st, at_s, service, environment, kind, message, NULL, a,
                                      observed, desired, hold_s, diag);
}

void bsup_store_alerts_free(struct bsup_store_alert *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].service);
        free(v[i].environment);
        free(v[i].what);
        free(v[i].message);
        free(v[i].observed);
        free(v[i].desired);
    }
    free(v);
}

int bsup_store_alerts_pending(struct bsup_store *st, int64_t after_id, int64_t now_s, size_t limit,
                              struct bsup_store_alert **out, size_t *out_n, struct bsup_diag *diag)
{
    static const char doing[] = "reading the alert outbox";
    sqlite3_stmt *q = NULL;
    struct bsup_store_alert *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *out_n = 0;
    int rc = bsup_store_prepare(
        st, doing,
        "SELECT id, event_id, service, environment, what, message, "
        "observed, desired, at, reminder, attempts, opened_at FROM alert_outbox "
        "WHERE id > ? AND held_until <= ? ORDER BY id LIMIT ?",
        BSUP_STORE_ARGS(BSUP_STORE_INT(after_id), BSUP_STORE_INT(now_s), BSUP_STORE_INT(limit)), &q,
        diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        rc = 0;
        if (BSUP_ARRAY_RESERVE(v, cap, n + 1) < 0) {
            rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
            break;
        }
        struct bsup_store_alert *a = &v[n++];
        memset(a, 0, sizeof(*a));
        a->id = sqlite3_column_int64(q, 0);
        a->event_id = sqlite3_column_int64(q, 1);
        char **text[] = {&a->service, &a->environment, &a->what,
                         &a->message, &a->observed,    &a->desired};
        for (int c = 0; c < 6; c++)
            if (bsup_store_column_dup(q, c + 2, text[c]))
                rc = bsup_store_error(st->db, st->path, SQLITE_NOMEM, doing, diag);
        a->at_s = sqlite3_column_int64(q, 8);
        a->reminder = sqlite3_column_int(q, 9);
        a->attempts = sqlite3_column_int(q, 10);
        a->opened_at_s = sqlite3_column_int64(q, 11);
        if (rc)
            break;
    }
    sqlite3_finalize(q);
    if (rc < 0) {
        bsup_store_alerts_free(v, n);
        return rc;
    }
    *out = v;
    *out_n = n;
    return 0;
}

int bsup_store_alerts_depth(struct bsup_store *st, int64_t now_s, size_t *out_depth,
                            size_t *out_held, struct bsup_diag *diag)
{
    static const char doing[] = "measuring the alert outbox";
    sqlite3_stmt *q = NULL;
    *out_depth = *out_held = 0;
    int rc = bsup_store_prepare(st, doing,
                                "SELECT coalesce(sum(held_until <= ?1), 0), "
                                "coalesce(sum(held_until > ?1), 0) FROM alert_outbox",
                                BSUP_STORE_ARGS(BSUP_STORE_INT(now_s)), &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        *out_depth = (size_t)sqlite3_column_int64(q, 0);
        *out_held = (size_t)sqlite3_column_int64(q, 1);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_alerts_depth_each(struct bsup_store *st, int64_t now_s, bsup_store_alert_count_fn fn,
                                 void *ctx, struct bsup_diag *diag)
{
    static const char doing[] = "measuring the alert outbox";
    sqlite3_stmt *q = NULL;
    int rc = bsup_store_prepare(st, doing,
                                "SELECT service, sum(held_until <= ?1), sum(held_until > ?1) "
                                "FROM alert_outbox GROUP BY service",
                                BSUP_STORE_ARGS(BSUP_STORE_INT(now_s)), &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1)
        rc = fn(ctx, (const char *)sqlite3_column_text(q, 0), (size_t)sqlite3_column_int64(q, 1),
                (size_t)sqlite3_column_int64(q, 2));
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_alerts_held_next(struct bsup_store *st, int64_t now_s, int64_t *out_at_s,
                                struct bsup_diag *diag)
{
    static const char doing[] = "reading the alert outbox";
    sqlite3_stmt *q = NULL;
    *out_at_s = 0;
    int rc = bsup_store_prepare(
        st, doing, "SELECT coalesce(min(held_until), 0) FROM alert_outbox WHERE held_until > ?",
        BSUP_STORE_ARGS(BSUP_STORE_INT(now_s)), &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        *out_at_s = sqlite3_column_int64(q, 0);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_alerts_failing(struct bsup_store *st, char *out_service, size_t service_len,
                              char *out_what, size_t what_len, int *out_attempts, char *out_error,
                              size_t error_len, struct bsup_diag *diag)
{
    static const char doing[] = "reading the alert outbox";
    sqlite3_stmt *q = NULL;
    *out_attempts = 0;
    int rc = bsup_store_prepare(st, doing,
                                "SELECT coalesce(service, ''), coalesce(what, ''), attempts, "
                                "coalesce(last_error, '') FROM alert_outbox WHERE attempts > 0 "
                                "ORDER BY id LIMIT 1",
                                BSUP_STORE_NO_ARGS, &q, diag);
    if (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        snprintf(out_service, service_len, "%s", (const char *)sqlite3_column_text(q, 0));
        snprintf(out_what, what_len, "%s", (const char *)sqlite3_column_text(q, 1));
        *out_attempts = sqlite3_column_int(q, 2);
        snprintf(out_error, error_len, "%s", (const char *)sqlite3_column_text(q, 3));
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

int bsup_store_alert_sent(struct bsup_store *st, const struct bsup_store_alert *a,
                          const char *topic, const char *message_id, int64_t now_s,
                          struct bsup_diag *diag)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s%s alert %lld (event %lld) published to %s, message id %s",
             a->what, a->reminder ? " reminder" : "", (long long)a->id, (long long)a->event_id,
             topic ? topic : "-", message_id ? message_id : "-");
    if (bsup_failpoint_error("store-alert-sent"))
        return bsup_diag_set(diag, BSUP_ESTORE,
                             "state database %s: deleting a published alert failed (failpoint "
                             "store-alert-sent)",
                             st->path);
    int rc =
        bsup_store_exec(st, "deleting a published alert", "DELETE FROM alert_outbox WHERE id = ?",
                        BSUP_STORE_ARGS(BSUP_STORE_INT(a->id)), diag);
    if (rc == 0) /* a held CLOSE: its hold is over, its condition closed */
        rc = bsup_store_exec(st, "closing an alert condition",
                             "DELETE FROM alert_conditions WHERE held_id = ?",
                             BSUP_STORE_ARGS(BSUP_STORE_INT(a->id)), diag);
    if (rc == 0 && topic)
        rc = bsup_store_event_add(st, now_s, a->service, "alert.sent", msg, NULL, diag);
    return rc;
}

int bsup_store_alert_failed(struct bsup_store *st, const struct bsup_store_alert *a,
                            const char *error, int64_t now_s, struct bsup_diag *diag)
{
    int rc = bsup_store_exec(st, "recording an alert failure",
                             "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ? "
                             "WHERE id = ?",
                             BSUP_STORE_ARGS(BSUP_STORE_TEXT(error), BSUP_STORE_INT(a->id)), diag);
    if (rc == 0 && a->attempts == 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "%s alert %lld (event %lld) not published, it waits and is retried: %s", a->what,
                 (long long)a->id, (long long)a->event_id, error);
        rc = bsup_store_event_add(st, now_s, a->service, "alert.failed", msg, NULL, diag);
    }
    return rc;
}

int bsup_store_alert_reminders(struct bsup_store *st, int64_t now_s, int64_t reminder_s,
                               size_t *out_n, struct bsup_diag *diag)
{
    static const char doing[] = "reading the open alert conditions";
    sqlite3_stmt *q = NULL;
    *out_n = 0;
    if (reminder_s <= 0)
        return 0;
    int rc = bsup_store_prepare(st, doing,
                                "SELECT scope, condition, opened_at, last_sent_at, reminders, "
                                "what, environment, message, observed, desired, event_id "
                                "FROM alert_conditions WHERE held_id = 0 AND last_sent_at + ? <= ?",
                                BSUP_STORE_ARGS(BSUP_STORE_INT(reminder_s), BSUP_STORE_INT(now_s)),
                                &q, diag);
    while (rc == 0 && (rc = bsup_store_step(st, q, doing, diag)) == 1) {
        struct bsup_alert_condition c = {.open = true,
                                         .opened_at_s = sqlite3_column_int64(q, 2),
                                         .last_sent_at_s = sqlite3_column_int64(q, 3),
                                         .reminders = sqlite3_column_int(q, 4)};
        rc = 0;
        if (!bsup_alert_remind(&c, now_s, reminder_s))
            continue;
        const char *scope = (const char *)sqlite3_column_text(q, 0);
        const char *cond = (const char *)sqlite3_column_text(q, 1);
        const char *col[5];
        for (int i = 0; i < 5; i++)
            col[i] = (const char *)sqlite3_column_text(q, 5 + i);
        rc = s_queue(st, sqlite3_column_int64(q, 10), now_s, scope && *scope ? scope : NULL, col[1],
                     col[0], col[2] ? col[2] : "", col[3], col[4], c.reminders, 0, c.opened_at_s,
                     diag);
        if (rc == 0)
            rc = bsup_store_exec(st, "recording a reminder",
                                 "UPDATE alert_conditions SET last_sent_at = ?, reminders = ? "
                                 "WHERE scope = ? AND condition = ?",
                                 BSUP_STORE_ARGS(BSUP_STORE_INT(c.last_sent_at_s),
                                                 BSUP_STORE_INT(c.reminders),
                                                 BSUP_STORE_TEXT(scope), BSUP_STORE_TEXT(cond)),
                                 diag);
        if (rc == 0)
            (*out_n)++;
    }
    sqlite3_finalize(q);
    return rc < 0 ? rc : 0;
}
