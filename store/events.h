/* The events table: a bounded history of what bsupd did and why (config loads, rejected files,
 * services added/changed/removed, reconcile requests, pause/resume). */
#ifndef BSUP_STORE_EVENTS_H
#define BSUP_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct bsup_store_event {
    int64_t id;
    int64_t at_s;
    char *service;    /* NULL: daemon-wide */
    char *kind;       /* e.g. "config.loaded", "service.added" */
    char *message;    /* one line for operators; never a secret */
    char *request_id; /* NULL unless the event answers a control request */
};

/* Appends one event. service and request_id may be NULL. An event whose kind is an alert by
 * itself (core/metrics/alerts.h) queues that alert in the same savepoint. */
int bsup_store_event_add(struct bsup_store *st, int64_t at_s, const char *service, const char *kind,
                         const char *message, const char *request_id, struct bsup_diag *diag);

/* Events at or after since_s (and of service, unless NULL), oldest first, at most limit of the
 * newest. Free with bsup_store_events_free. */
int bsup_store_events_list(struct bsup_store *st, int64_t since_s, const char *service,
                           size_t limit, struct bsup_store_event **out, size_t *out_n,
                           struct bsup_diag *diag);
/* Events after the one whose id is after_id (and of service, unless NULL), oldest first, at most
 * limit of the oldest: a follower asks again from the last id it got and misses none. */
int bsup_store_events_after(struct bsup_store *st, int64_t after_id, const char *service,
                            size_t limit, struct bsup_store_event **out, size_t *out_n,
                            struct bsup_diag *diag);
void bsup_store_events_free(struct bsup_store_event *v, size_t n);

/* Deletes events older than before_s; *out_deleted (may be NULL) says how many. */
int bsup_store_events_prune(struct bsup_store *st, int64_t before_s, size_t *out_deleted,
                            struct bsup_diag *diag);

#endif
