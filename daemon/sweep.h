/* The sweep of what bsupd made for services that have left the configuration (the domains
 * keep only what declared services own). A round:
 *
 * - restore drills (core/reconcile/backup.h): an RDS instance named bsup-restore-* tagged
 *   bsup:drill=<service> whose service is no longer declared, and tagged bsup:owner=<owner>
 *   (bsupd.yaml's; untagged, made before the setting: only the default owner's)
 *   (DescribeDBInstances, every page) is deleted without a final snapshot (DeleteDBInstance; a
 * service declared again by a reload during the round keeps its instance), a drill.deleted event
 *   (one it may not delete, or whose delete fails, is left running: a drill.orphaned event);
 * - alarms (core/reconcile/alarms.h): an alarm named bsup-* of bsupd's name form whose
 *   service is no longer declared in that environment, and that carries the tag
 *   bsup:owner=<owner> (DescribeAlarms by prefix, every page; ListTagsForResource, one call per
 *   such alarm), is deleted (DeleteAlarms, 100 names per call), an alarm.deleted event.
 *
 * What another owner's tag marks as another bsupd's is never deleted: one info line per round.
 *
 * Rounds run once the configuration has loaded, after each reload that removed or changed a
 * service or that ends the rejection of drop-ins, then every hour. With the daemon in observe
 * mode, paused or --dry-run, or while a drop-in is rejected (it may declare a service the
 * round would take for gone), a round deletes nothing: it logs the alarms it would delete,
 * and says each drill instance it leaves running in an event. Never with --once. */
#ifndef BSUP_DAEMON_SWEEP_H
#define BSUP_DAEMON_SWEEP_H

#include "core/config/config.h"
#include "daemon/aws/client.h"
#include "daemon/close.h"
#include "store/store.h"

#include <stdbool.h>
#include <uv.h>

#define BSUP_SWEEP_EVERY_S 3600
#define BSUP_SWEEP_MAX_DELETES 300 /* per round: the rest goes next round */

/* The desired state of a declared service, or NULL. */
typedef const struct bsup_service *(*bsup_sweep_lookup_fn)(void *ctx, const char *service);
/* The restore-drill instance a declared service's drill record names ("" none), into out;
 * false when it is not known. */
typedef bool (*bsup_sweep_drill_fn)(void *ctx, const char *service, char *out, size_t len);

struct bsup_sweep_options {
    uv_loop_t *loop;
    struct bsup_store *store;
    struct bsup_aws_client *aws;
    const struct bsup_settings *settings;
    const bool *paused;
    bool dry_run;
    /* Drop-ins the last load rejected: while any is, a round deletes nothing (a broken file
     * may declare a service that moved into it). */
    const size_t *files_rejected;
    bsup_sweep_lookup_fn lookup;
    bsup_sweep_drill_fn drill_of; /* NULL: not asked */
    void *ctx;
};

struct bsup_sweep;

int bsup_sweep_new(const struct bsup_sweep_options *o, struct bsup_sweep **out,
                   struct bsup_diag *diag);
/* The configuration (re)loaded: a round starts soon (on the next loop turn). */
void bsup_sweep_soon(struct bsup_sweep *s);
/* Stops the timer; a call in flight ends (or the AWS client's close cancels it); cb(user)
 * once nothing is left. */
void bsup_sweep_close(struct bsup_sweep *s, bsup_close_fn cb, void *user);

#endif
