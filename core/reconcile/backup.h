/* The backup domain: whether a service's data could be brought back. Its RDS instance exists,
 * keeps automated backups for backup_retention days (corrected with ModifyDBInstance; turning
 * backups on from 0 restarts the instance, so only with backup.allow_disruptive), its newest
 * available automated snapshot is younger than backup.max_age and encrypted when required,
 * storage is encrypted, deletion protection is on in prod, DBName and MasterUsername are the
 * declared ones. With backup.restore_test, a restore drill: the newest automated snapshot is
 * restored into a tagged throwaway instance, watched across cycles until available, timed,
 * and deleted. The ElastiCache group's snapshot retention, newest snapshot and encryption, and
 * the password secret (DescribeSecret, DescribeParameters: never a value) are reported.
 * Observed with batched DescribeDBInstances, paced batched DescribeDBSnapshots, a batched
 * DescribeDBInstances of the drills in progress, one DescribeReplicationGroups listing, paced
 * DescribeSnapshots, DescribeSecret and DescribeParameters. Everything but the retention and
 * the drill is a finding (report-only); docs/reconcile.md says it in full. */
#ifndef BSUP_CORE_RECONCILE_BACKUP_H
#define BSUP_CORE_RECONCILE_BACKUP_H

#include "core/config/config.h"
#include "core/reconcile/domain.h"
#include "core/reconcile/plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BSUP_BACKUP_DRILLS_AT_ONCE 2            /* restore drills running at once, daemon-wide */
#define BSUP_BACKUP_DRILL_TIMEOUT_S (24 * 3600) /* a drill not available by then has failed */
#define BSUP_BACKUP_DRILL_RETRY_S (24 * 3600)   /* after a failed or interrupted drill, at most */
#define BSUP_BACKUP_DRILL_TAG "bsup:drill"      /* its value: the service name */

/* A drill as one cycle sees it. X(enum suffix, name shown in status) */
#define BSUP_DRILL_PHASE_MAP(X)                                                                    \
    X(OFF, "off")                 /* backup.restore_test is off */                                 \
    X(IDLE, "idle")               /* not due (next_drill_at says when) */                          \
    X(WAITING, "waiting")         /* due, but other drills are running */                          \
    X(SCHEDULED, "scheduled")     /* due: its instance name is being saved first */                \
    X(RESTORE_DUE, "restore-due") /* name saved: the restore goes out (enforce mode) */            \
    X(RESTORING, "restoring")     /* restored by this run, not available yet */                    \
    X(CLEANUP, "cleanup")         /* ended: its instance is deleted (no final snapshot) */         \
    X(DELETING, "deleting")       /* being deleted */                                              \
    X(CONFLICT, "conflict")       /* an instance of that name is not bsupd's: left alone */

enum bsup_drill_phase {
#define X(e, name) BSUP_DRILL_##e,
    BSUP_DRILL_PHASE_MAP(X)
#undef X
        BSUP_DRILL_PHASE_COUNT
};

/* How the last drill ended. */
enum bsup_drill_result {
    BSUP_DRILL_NONE,        /* never ran */
    BSUP_DRILL_OK,          /* restored and available; restore_s says how long it took */
    BSUP_DRILL_FAILED,      /* a failed status, or not available in time: alert-worthy */
    BSUP_DRILL_INTERRUPTED, /* bsupd stopped or restarted during it (or restore_test went off) */
};

/* What bsupd keeps of a service's drills (the domain cache, key "drill/<service>"), so a
 * restart finds the instance it may have left and knows when the next drill is due. */
enum bsup_drill_state {
    BSUP_DRILL_STATE_IDLE,    /* no drill instance */
    BSUP_DRILL_STATE_PLANNED, /* instance named (saved before any restore is sent) */
    BSUP_DRILL_STATE_CLEANUP, /* the drill ended: its instance must go */
};

struct bsup_drill_record {
    int state; /* enum bsup_drill_state */
    char instance[64];
    int64_t planned_at_s;
    int result; /* enum bsup_drill_result, of the last drill that ended */
    int64_t result_at_s;
    int64_t restore_s; /* OK: time to restore */
    char why[48];      /* FAILED: the status, or "timeout" */
    bool made;         /* PLANNED: its instance has been seen (the restore went out) */
};

/* One line of "key=value" words; parse is lenient (unknown words are skipped). */
void bsup_drill_record_format(const struct bsup_drill_record *r, char *buf, size_t len);
void bsup_drill_record_parse(const char *text, struct bsup_drill_record *out);

/* The drill instance name for service at a time: bsup-restore-<service>-<yyyymmdd> (UTC), a
 * valid DB identifier (at most 63 characters: a long service name is cut and given a hash). */
void bsup_backup_drill_name(const char *service, int64_t at_s, char *buf, size_t len);
/* The backup domain's cache key of service's drill record. */
void bsup_backup_drill_key(const char *service, char key[BSUP_DOMAIN_KEY_MAX]);
/* When the next drill is due after r (now_s when none ran); interval_s: backup.restore_test. */
int64_t bsup_backup_drill_due(const struct bsup_drill_record *r, int64_t interval_s, int64_t now_s);

/* What one cycle saw of the recorded drill instance. */
struct bsup_drill_view {
    bool found;
    bool ours;          /* tagged bsup:drill=<service> */
    const char *status; /* DBInstanceStatus */
};

/* Moves a PLANNED or CLEANUP record on with what was seen and returns this cycle's phase.
 * enabled: restore_test is on; continuing: this run sent the restore (its previous
 * observation shows the start, started_s), so the drill may go on; otherwise a drill found is
 * a leftover of a run that ended: interrupted. snapshot_ok: a restorable snapshot is known. */
enum bsup_drill_phase bsup_backup_drill_step(struct bsup_drill_record *r,
                                             const struct bsup_drill_view *v, bool enabled,
                                             bool continuing, bool snapshot_ok, int64_t started_s,
                                             int64_t now_s);
const char *bsup_drill_phase_name(int phase);

/* Where a check is: not declared, not read yet (a failed or paced read), found, absent. */
enum bsup_backup_seen { BSUP_SEEN_NONE, BSUP_SEEN_UNKNOWN, BSUP_SEEN_FOUND, BSUP_SEEN_ABSENT };

struct bsup_backup_observed {
    bool found; /* the RDS instance exists */
    int64_t observed_at_s;
    /* The DB instance. */
    char db[64];
    char status[32];
    int64_t retention_d;
    bool retention_ok; /* what enable_backup/backup_retention ask for */
    bool storage_encrypted;
    bool deletion_protection;
    char db_name[64];
    char master_username[64];
    char subnet_group[256];
    char owner[BSUP_OWNER_MAX]; /* bsupd.yaml's owner: the bsup:owner tag of a drill instance it
                                   restores */
    /* Its newest available automated snapshot (paced: carried forward when not read). */
    int64_t snapshots_read_at_s; /* 0: not read yet */
    int64_t snapshots;           /* automated snapshots seen */
    char snapshot[256];          /* "" none available */
    int64_t snapshot_time_s;
    bool snapshot_encrypted;
    char newest_status[32]; /* of the newest automated snapshot, available or not */
    int64_t backup_age_s;   /* -1 unknown or none */
    /* The restore drill. */
    int drill_phase;   /* enum bsup_drill_phase */
    char drill[16];    /* its name, for status */
    bool drill_active; /* scheduled, restoring or being cleaned up */
    bool drill_ready;  /* a restore may go out: its name is saved and this run saw the service */
    char drill_instance[64];
    char drill_status[32];
    int64_t drill_started_s; /* when this run's restore was accepted */
    int last_drill;          /* enum bsup_drill_result */
    char last_drill_text[16];
    int64_t last_drill_at_s;
    int64_t last_drill_restore_s;
    char last_drill_why[48];
    char drill_refused[200]; /* AWS's message refusing this cycle's restore (not in status) */
    /* RestoreDrillSuccess: 1 the last drill that ended restored, 0 it failed; -1 none yet,
     * interrupted, or restore_test off (no datum). */
    int64_t drill_success;
    int64_t next_drill_at_s; /* 0 off */
    /* The ElastiCache replication group. */
    int cache; /* enum bsup_backup_seen */
    char cache_state[12];
    char cache_group[64];
    int64_t cache_retention_d;
    bool cache_at_rest_encrypted;
    bool cache_in_transit_encrypted;
    int64_t cache_snapshots_read_at_s;
    int64_t cache_snapshots;
    int64_t cache_snapshot_time_s; /* -1: a snapshot whose time AWS did not say */
    int64_t cache_backup_age_s;    /* -1 unknown or none */
    /* The password secret (secretsmanager: or ssm:). */
    int secret; /* enum bsup_backup_seen */
    char secret_state[12];
    int64_t secret_read_at_s;
    bool secret_rotation_enabled;
    int64_t secret_last_rotated_s; /* -1 never */
    bool secret_deleted;           /* scheduled for deletion */
    char ssm_type[16];
};

extern const struct bsup_domain bsup_backup_domain;

/* Appends the backup actions for svc to plan. 0 or BSUP_ENOMEM. */
int bsup_backup_plan(const struct bsup_service *svc, const struct bsup_backup_observed *obs,
                     struct bsup_plan *plan);
/* backup.require_encryption as it applies to svc (unset: true in prod). */
bool bsup_backup_require_encryption(const struct bsup_service *svc);
/* backup.restore_test in seconds; 0 off. */
int64_t bsup_backup_restore_interval(const struct bsup_service *svc);

#endif
