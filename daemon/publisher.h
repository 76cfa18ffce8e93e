/* The publisher: on its own timer it sends what waits in the outboxes — metric datums to
 * CloudWatch (PutMetricData, as few requests as the API's limits allow) and alerts to SNS
 * (Publish, one per alert, under the global rate limit) — and deletes each only after AWS
 * accepted it. It also writes the daemon-wide datums, drops (and counts) what CloudWatch would
 * refuse or what exceeds the outbox's bound, and queues reminders. docs/metrics.md. */
#ifndef BSUP_DAEMON_PUBLISHER_H
#define BSUP_DAEMON_PUBLISHER_H

#include "core/config/config.h"
#include "daemon/aws/client.h"
#include "daemon/close.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The desired state of a declared service, or NULL (removed, unknown). */
typedef const struct bsup_service *(*bsup_publisher_lookup_fn)(void *ctx, const char *service);

struct bsup_publisher_options {
    uv_loop_t *loop;
    struct bsup_store *store;
    struct bsup_aws_client *aws;
    const struct bsup_settings *settings;
    bsup_publisher_lookup_fn lookup;
    void *ctx;
};

struct bsup_publisher_figures {
    size_t outbox_depth;       /* datums waiting */
    int64_t oldest_at_ms;      /* the oldest waiting datum's timestamp; 0: none */
    size_t alerts_waiting;     /* alerts waiting */
    size_t alerts_held;        /* closing alerts held until their condition has lasted closed */
    int64_t last_publish_at_s; /* CloudWatch last accepted a request; 0: never (this run) */
    int64_t last_alert_at_s;   /* SNS last accepted an alert; 0: never (this run) */
    uint64_t requests;         /* PutMetricData requests accepted (this run) */
    uint64_t datums;           /* datums accepted (this run) */
    uint64_t dropped;          /* datums dropped by the bounds (this run) */
    uint64_t alerts_sent;      /* this run */
    const char *last_error;    /* the last failure of either, or NULL */
    int64_t last_error_at_s;   /* when it happened; 0: never (this run) */
    /* The oldest waiting alert that failed: its failures (0: none fails), service ("":
     * daemon-wide), what and last error. */
    int failing_attempts;
    const char *failing_service, *failing_what, *failing_error;
};

struct bsup_publisher;

int bsup_publisher_new(const struct bsup_publisher_options *o, struct bsup_publisher **out,
                       struct bsup_diag *diag);
/* Reads the outbox figures (the depths from the store, kept until bsup_publisher_recount or
 * for a second). */
void bsup_publisher_figures(struct bsup_publisher *p, struct bsup_publisher_figures *out);
/* Something else wrote to the outboxes (the engine's datums, an event's alert): waiting
 * alerts go from the next loop turn, under the rate limit, not at the next round. */
void bsup_publisher_recount(struct bsup_publisher *p);
/* Stops the timer; a call in flight is finished (an accepted request is still deleted) or
 * cancelled by the AWS client's close; cb(user) once the timer is closed and no call is left. */
void bsup_publisher_close(struct bsup_publisher *p, bsup_close_fn cb, void *user);

#endif
