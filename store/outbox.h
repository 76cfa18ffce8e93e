/* The outboxes: metric datums and alerts wait here, durable, until CloudWatch or SNS has
 * accepted them; and the open alert conditions (one message per transition, reminders).
 * A datum is written when it is measured, with its own timestamp; an alert in the same
 * transaction as the event it comes from. Nothing is deleted before the AWS answer said
 * yes, except what the bounds drop (too old for CloudWatch, too many), which is counted. */
#ifndef BSUP_STORE_OUTBOX_H
#define BSUP_STORE_OUTBOX_H

#include "core/metrics/alerts.h"
#include "core/metrics/putdata.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Queues one datum (service NULL: daemon-wide). */
int bsup_store_metric_add(struct bsup_store *st, const char *name, const char *service,
                          const char *environment, int64_t at_ms, double value, const char *unit,
                          struct bsup_diag *diag);

/* The oldest waiting datums, at most limit, in id order. Free with bsup_store_metrics_free. */
int bsup_store_metrics_pending(struct bsup_store *st, size_t limit, struct bsup_metric_datum **out,
                               size_t *out_n, struct bsup_diag *diag);
void bsup_store_metrics_free(struct bsup_metric_datum *v, size_t n);
/* Deletes the datums first_id..last_id (what one accepted request carried). */
int bsup_store_metrics_delete(struct bsup_store *st, int64_t first_id, int64_t last_id,
                              struct bsup_diag *diag);
/* Waiting datums and the oldest one's timestamp (0 when none). */
int bsup_store_metrics_depth(struct bsup_store *st, size_t *out_depth, int64_t *out_oldest_ms,
                             struct bsup_diag *diag);
/* Drops datums measured before before_ms or after after_ms (the clock has been set back
 * since), then the oldest beyond max_rows; *out_dropped says how many (never silent: the
 * caller counts, logs and publishes it). */
int bsup_store_metrics_prune(struct bsup_store *st, int64_t before_ms, int64_t after_ms,
                             size_t max_rows, size_t *out_dropped, struct bsup_diag *diag);

/* An alert waiting to be published. */
struct bsup_store_alert {
    int64_t id;       /* unique for ever (AUTOINCREMENT): the receivers' deduplication key */
    int64_t event_id; /* the event it comes from */
    char *service;    /* NULL: daemon-wide */
    char *environment;
    char *what;
    char *message;
    char *observed;
    char *desired;
    int64_t at_s;        /* when the transition happened */
    int reminder;        /* 0: the transition itself; n: the n-th reminder */
    int64_t opened_at_s; /* when its condition opened (0: a single fact) */
    int attempts;
};

/* Records an event and, when it is alert a (BSUP_ALERT_NONE: the alert its kind is by
 * itself, if any) and the alert rules queue it, the alert — atomically (a savepoint, inside
 * the caller's transaction if there is one). observed/desired may be NULL. A CLOSE alert is
 * held hold_s (0: not held) before it goes: an OPEN of its condition before then takes it
 * back (core/metrics/alerts.h). */
int bsup_store_event_alert(struct bsup_store *st, int64_t at_s, const char *service,
                           const char *environment, const char *kind, const char *message,
                           enum bsup_alert a, const char *observed, const char *desired,
                           int64_t hold_s, struct bsup_diag *diag);

/* A line whose alert a opened a condition still stands with other values (a stale backup
 * older now): the open condition of service takes them, so its reminders say where it is now.
 * Nothing when the condition is not open as a, or its recovery is held. */
int bsup_store_alert_condition_values(struct bsup_store *st, const char *service, enum bsup_alert a,
                                      const char *message, const char *observed,
                                      const char *desired, struct bsup_diag *diag);

/* The waiting alerts after after_id (0: from the first) that are due at now_s (a held one
 * is not until its hold ends), oldest first, at most limit. */
int bsup_store_alerts_pending(struct bsup_store *st, int64_t after_id, int64_t now_s, size_t limit,
                              struct bsup_store_alert **out, size_t *out_n, struct bsup_diag *diag);
void bsup_store_alerts_free(struct bsup_store_alert *v, size_t n);
/* The alerts due at now_s (waiting) and those held past it. */
int bsup_store_alerts_depth(struct bsup_store *st, int64_t now_s, size_t *out_depth,
                            size_t *out_held, struct bsup_diag *diag);
/* The waiting and held alerts per service (service NULL: daemon-wide ones), until fn returns
 * non-zero (returned as is): for a count of those that have somewhere to go. */
typedef int (*bsup_store_alert_count_fn)(void *ctx, const char *service, size_t n, size_t held);
int bsup_store_alerts_depth_each(struct bsup_store *st, int64_t now_s, bsup_store_alert_count_fn fn,
                                 void *ctx, struct bsup_diag *diag);
/* When the next held alert is due after now_s (0: none is held). */
int bsup_store_alerts_held_next(struct bsup_store *st, int64_t now_s, int64_t *out_at_s,
                                struct bsup_diag *diag);
/* The oldest waiting alert that failed at least once: its service (empty: daemon-wide), what,
 * attempts and last error copied into the buffers (cut to fit); *out_attempts 0: none. */
int bsup_store_alerts_failing(struct bsup_store *st, char *out_service, size_t service_len,
                              char *out_what, size_t what_len, int *out_attempts, char *out_error,
                              size_t error_len, struct bsup_diag *diag);
/* SNS accepted alert id: it leaves the outbox and an alert.sent event says so (topic NULL:
 * there is no topic to send it to; it only leaves the outbox, its event is the record). */
int bsup_store_alert_sent(struct bsup_store *st, const struct bsup_store_alert *a,
                          const char *topic, const char *message_id, int64_t now_s,
                          struct bsup_diag *diag);
/* Publishing failed: it stays; the first failure of each alert is an alert.failed event. */
int bsup_store_alert_failed(struct bsup_store *st, const struct bsup_store_alert *a,
                            const char *error, int64_t now_s, struct bsup_diag *diag);
/* Queues a reminder for every open condition due one (reminder_s 0: none); *out_n counts. */
int bsup_store_alert_reminders(struct bsup_store *st, int64_t now_s, int64_t reminder_s,
                               size_t *out_n, struct bsup_diag *diag);

#endif
