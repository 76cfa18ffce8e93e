/* Internal to the daemon: its state, shared by the loop (daemon.c) and the control commands
 * (commands.c). */
#ifndef BSUP_DAEMON_DAEMON_INTERNAL_H
#define BSUP_DAEMON_DAEMON_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "core/base/strmap.h"
#include "daemon/control.h"
#include "daemon/aws/client.h"
#include "daemon/daemon.h"
#include "daemon/http/engine.h"
#include "daemon/publisher.h"
#include "daemon/sweep.h"
#include "daemon/reconcile.h"
#include "store/store.h"

/* A reconcile --wait client, answered when the cycle it asked for is done, or with
 * shutting_down when bsupd starts to stop first. Freed when the cycle is done. */
struct bsup_daemon_waiter {
    struct bsup_daemon *d;
    struct bsup_daemon_waiter *prev, *next; /* d->waiters */
    uint64_t client_id;
    json_t *id; /* the request's "id", echoed */
    char request_id[40];
    bool answered; /* told shutting_down */
};

struct bsup_daemon {
    uv_loop_t loop;
    const struct bsup_options *opts;
    const struct bsup_settings *settings;
    struct bsup_store *store;
    struct bsup_control *control;
    /* A WAL checkpoint on libuv's thread pool, so its copy and syncs never hold the loop
     * (bsup_store_checkpoint_hook); its outcome, read when it is done. */
    uv_work_t checkpoint;
    bool checkpointing;
    int checkpoint_rc;
    struct bsup_diag checkpoint_diag;

    uv_signal_t sig_hup, sig_term, sig_int;
    uv_timer_t watchdog;
    uint64_t watchdog_ms;
    uv_timer_t deadline;
    struct bsup_http_engine http;
    struct bsup_aws_client aws;
    struct bsup_reconcile_engine *rec; /* NULL once closed */
    struct bsup_publisher *pub;        /* NULL once closed */
    struct bsup_sweep *sweep;          /* NULL once closed */
    bool http_up, aws_up, rec_closing, pub_closing, sweep_closing;
    bool once_done;
    bool once_attention;

    bool stopping;
    struct bsup_daemon_waiter *waiters; /* reconcile --wait clients whose cycle is not done */
    bool healthy; /* false while the state database fails: the watchdog stops */
    bool paused;
    uid_t self_uid;
    gid_t read_gid, admin_gid; /* (gid_t)-1 when the group does not exist */
    int64_t started_at_s;
    uint64_t request_seq;

    /* The last configuration load. */
    /* status's daemon.last_load, encoded once per load: {"at","ok","files",...}. At 10 000
     * drop-ins, 0.7 MiB of text rather than 4 MiB of objects copied for every status. */
    char *last_load;
    size_t load_services;
    struct bsup_strmap rejected_files; /* name -> its own copy: the last load's rejected files */
    /* status: each service's observations as written for its engine version (commands.c),
     * emptied at each reload */
    struct bsup_strmap status_obs;
    uint64_t status_obs_reloads;
    size_t files_rejected;
    uint64_t reloads;
    char load_sig[64];     /* the last load's outcome, to say an identical reload once */
    char settings_sig[48]; /* bsupd.yaml as read at start: a reload says when it changed */
    /* The last reload failed as a whole (nothing loaded) at this time, and why; 0 once a load
     * succeeds. status's daemon.reload_failed. */
    int64_t reload_failed_at_s;
    char reload_failed_error[sizeof(((struct bsup_diag *)0)->message)];
};

/* Answers one control request (bsup_control_request_fn). */
json_t *bsup_daemon_on_request(void *ctx, uint64_t client_id, const struct bsup_peer *peer,
                               json_t *request);

/* Who a new control client is, from its credentials at connect (bsup_control_classify_fn):
 * root, bsupd's own uid and admin_group are admins, read_group readers, anyone else refused. */
enum bsup_control_class bsup_daemon_classify(void *ctx, const struct bsup_peer *peer,
                                             json_t **out_refusal);

/* Loads the drop-ins and applies them (one transaction); the load's summary becomes
 * d->last_load. Returns 0 or a negative code (directory unreadable, store failure); the
 * previous state stays in place on failure, and *out_error (may be NULL) gets
 * {ok, error, message}. */
int bsup_daemon_reload(struct bsup_daemon *d, const char *request_id, json_t **out_error);

/* Runs a cycle now for service (NULL: all); with waiter (heap, owned from then on) the client is
 * answered when that cycle is done. */
int bsup_daemon_reconcile(struct bsup_daemon *d, const char *service, const char *request_id,
                          struct bsup_daemon_waiter *waiter);

/* The one-line summary for STATUS= and logs. */
void bsup_daemon_status_line(const struct bsup_daemon *d, char *buf, size_t len);

/* A fresh request id ("r<start>-<seq>") for a changing request. */
void bsup_daemon_request_id(struct bsup_daemon *d, char out[40]);

/* Records an event, logging (not failing) if the store refuses. */
void bsup_daemon_event(struct bsup_daemon *d, const char *service, const char *kind,
                       const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
