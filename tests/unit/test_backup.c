/* The backup domain's pure parts: the drill's record, names, schedule and steps as tables;
 * the plan from observations; the exact requests; and its observe steps driven by hand with
 * parsed answers (no engine, no network), the domain cache included. */
#include "tests/lib/testlib.h"

#include "core/config/config.h"
#include "core/reconcile/backup.h"
#include "core/reconcile/cache.h"
#include "core/reconcile/plan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1796000000 /* 2026-11-30T00:53:20Z */
#define DAY 86400

static struct bsup_service s_service(const char *env, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "service_name: api\nenvironment: %s\nvpc_id: vpc-0a1b2c3d\n"
             "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: api\n"
             "database_username: api_admin\n%s%s",
             env, strstr(extra, "database_password") ? "" : "database_password: ssm:/prod/api/db\n",
             extra);
    return bsup_test_service(yaml);
}

/* An instance as the declared one, in sync: retention 7, encrypted, protected, a fresh
 * encrypted snapshot; no drill, no cache, the ssm parameter a SecureString. */
static struct bsup_backup_observed s_obs(void)
{
    struct bsup_backup_observed o = {.found = true,
                                     .observed_at_s = NOW,
                                     .db = "api-prod",
                                     .status = "available",
                                     .retention_d = 7,
                                     .retention_ok = true,
                                     .storage_encrypted = true,
                                     .deletion_protection = true,
                                     .db_name = "api",
                                     .master_username = "api_admin",
                                     .subnet_group = "api-prod",
                                     .snapshots_read_at_s = NOW - 60,
                                     .snapshots = 3,
                                     .snapshot = "rds:api-prod-2026-11-29-03-00",
                                     .snapshot_time_s = NOW - 3600,
                                     .snapshot_encrypted = true,
                                     .drill_phase = BSUP_DRILL_OFF,
                                     .secret = BSUP_SEEN_FOUND,
                                     .secret_read_at_s = NOW - 60,
                                     .ssm_type = "SecureString",
                                     .secret_last_rotated_s = -1};
    return o;
}

/* "kind resource field; ..." for every change of the plan, for one-line comparisons. */
static void s_render(const struct bsup_plan *p, char *out, size_t len)
{
    out[0] = 0;
    for (size_t i = 0; i < p->n_actions; i++)
        for (size_t j = 0; j < p->actions[i].n_changes; j++) {
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s%s %s %s", used ? "; " : "",
                     bsup_action_kind_name(p->actions[i].kind), p->actions[i].resource,
                     p->actions[i].changes[j].field);
        }
}

static const struct bsup_change *s_change(const struct bsup_plan *p, const char *field)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        const struct bsup_change *c = bsup_action_find_change(&p->actions[i], field);
        if (c)
            return c;
    }
    return NULL;
}

/* ---- records, names, schedule ---- */

static void test_record_round_trip(void **state)
{
    (void)state;
    struct bsup_drill_record r = {.state = BSUP_DRILL_STATE_PLANNED,
                                  .instance = "bsup-restore-api-20261130",
                                  .planned_at_s = NOW,
                                  .result = BSUP_DRILL_FAILED,
                                  .result_at_s = NOW - DAY,
                                  .why = "incompatible-restore"};
    char text[256];
    bsup_drill_record_format(&r, text, sizeof(text));
    assert_string_equal(text, "state=planned id=bsup-restore-api-20261130 planned=1796000000 "
                              "last=failed at=1795913600 restore=0 why=incompatible-restore");
    struct bsup_drill_record back;
    bsup_drill_record_parse(text, &back);
    assert_memory_equal(&back, &r, sizeof(r));
    /* Its instance seen: one more word, which an older bsupd skips. */
    r.made = true;
    bsup_drill_record_format(&r, text, sizeof(text));
    assert_non_null(strstr(text, " why=incompatible-restore made=1"));
    bsup_drill_record_parse(text, &back);
    assert_true(back.made);
    /* Lenient: unknown words skipped, nothing at all is idle and never drilled; a planned
     * record that names no instance is idle. */
    bsup_drill_record_parse("colour=blue last=ok at=5 restore=312 junk", &back);
    assert_int_equal(back.state, BSUP_DRILL_STATE_IDLE);
    assert_int_equal(back.result, BSUP_DRILL_OK);
    assert_int_equal(back.restore_s, 312);
    bsup_drill_record_parse(NULL, &back);
    assert_int_equal(back.result, BSUP_DRILL_NONE);
    bsup_drill_record_parse("state=planned id=-", &back);
    assert_int_equal(back.state, BSUP_DRILL_STATE_IDLE);
}

static void test_drill_names(void **state)
{
    (void)state;
    char name[80];
    bsup_backup_drill_name("api", NOW, name, sizeof(name));
    assert_string_equal(name, "bsup-restore-api-20261130");
    /* 41 characters still fit: 63 in all. */
    const char *s41 = "a2345678901234567890123456789012345678901";
    bsup_backup_drill_name(s41, NOW, name, sizeof(name));
    assert_int_equal(strlen(name), 63);
    /* Longer: cut, never ending the cut on '-', with a hash of the whole name. */
    const char *longer = "billing-reconciliation-worker-ingest-x-eu-west";
    bsup_backup_drill_name(longer, NOW, name, sizeof(name));
    assert_true(strlen(name) <= 63);
    assert_null(strstr(name, "--"));
    assert_int_equal(strncmp(name, "bsup-restore-billing-reconciliation-worker-inges", 47), 0);
    char other[80];
    bsup_backup_drill_name("billing-reconciliation-worker-ingest-x-eu-east", NOW, other,
                           sizeof(other));
    assert_string_not_equal(name, other);
    const char *dash = "abcdefghijklmnopqrstuvwxyzabcdefg-hijklmnop";
    bsup_backup_drill_name(dash, NOW, name, sizeof(name));
    assert_null(strstr(name, "--"));
}

static void test_drill_due(void **state)
{
    (void)state;
    static const struct {
        int result;
        int64_t at, interval, want;
    } rows[] = {
        {BSUP_DRILL_NONE, 0, 7 * DAY, NOW},
        {BSUP_DRILL_OK, NOW - DAY, 7 * DAY, NOW + 6 * DAY},
        {BSUP_DRILL_FAILED, NOW - 3600, 7 * DAY, NOW - 3600 + DAY}, /* retried within a day */
        {BSUP_DRILL_INTERRUPTED, NOW - 3600, 7 * DAY, NOW - 3600 + DAY},
        {BSUP_DRILL_FAILED, NOW - 3600, 2 * 3600, NOW + 3600}, /* or sooner, if asked */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_drill_record r = {.result = rows[i].result, .result_at_s = rows[i].at};
        assert_int_equal(bsup_backup_drill_due(&r, rows[i].interval, NOW), rows[i].want);
    }
}

/* Every move of a drill, one row each. */
static void test_drill_steps(void **state)
{
    (void)state;
    static const struct {
        int state;
        bool found, ours;
        const char *status;
        bool enabled, continuing, snapshot_ok;
        int64_t started;
        int phase, new_state, result;
        const char *why;
    } rows[] = {
        /* planned, not there yet: restore (or drop the plan when there is nothing to do) */
        {BSUP_DRILL_STATE_PLANNED, false, false, NULL, true, false, true, 0, BSUP_DRILL_RESTORE_DUE,
         BSUP_DRILL_STATE_PLANNED, BSUP_DRILL_NONE, ""},
        {BSUP_DRILL_STATE_PLANNED, false, false, NULL, true, false, false, 0, BSUP_DRILL_IDLE,
         BSUP_DRILL_STATE_IDLE, BSUP_DRILL_NONE, ""},
        {BSUP_DRILL_STATE_PLANNED, false, false, NULL, false, false, true, 0, BSUP_DRILL_OFF,
         BSUP_DRILL_STATE_IDLE, BSUP_DRILL_NONE, ""},
        /* restored by this run: wait, succeed, fail, time out */
        {BSUP_DRILL_STATE_PLANNED, true, true, "creating", true, true, true, NOW - 600,
         BSUP_DRILL_RESTORING, BSUP_DRILL_STATE_PLANNED, BSUP_DRILL_NONE, ""},
        {BSUP_DRILL_STATE_PLANNED, true, true, "available", true, true, true, NOW - 600,
         BSUP_DRILL_CLEANUP, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_OK, ""},
        {BSUP_DRILL_STATE_PLANNED, true, true, "incompatible-restore", true, true, true, NOW - 600,
         BSUP_DRILL_CLEANUP, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_FAILED, "incompatible-restore"},
        {BSUP_DRILL_STATE_PLANNED, true, true, "incompatible-net work", true, true, true, NOW - 600,
         BSUP_DRILL_CLEANUP, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_FAILED,
         "incompatible-net-work"}, /* one word in the record, whatever AWS says */
        {BSUP_DRILL_STATE_PLANNED, true, true, "creating", true, true, true,
         NOW - BSUP_BACKUP_DRILL_TIMEOUT_S - 1, BSUP_DRILL_CLEANUP, BSUP_DRILL_STATE_CLEANUP,
         BSUP_DRILL_FAILED, "timeout"},
        /* a leftover of a run that ended (restart, crash), or restore_test turned off */
        {BSUP_DRILL_STATE_PLANNED, true, true, "creating", true, false, true, 0, BSUP_DRILL_CLEANUP,
         BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_INTERRUPTED, "interrupted"},
        {BSUP_DRILL_STATE_PLANNED, true, true, "available", false, true, true, NOW - 600,
         BSUP_DRILL_CLEANUP, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_INTERRUPTED, "interrupted"},
        {BSUP_DRILL_STATE_PLANNED, true, true, "deleting", true, false, true, 0,
         BSUP_DRILL_DELETING, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_INTERRUPTED, "interrupted"},
        /* deleted by someone else after this run restored it: proved nothing, not a failure,
         * and never restored again under the same name */
        {BSUP_DRILL_STATE_PLANNED, true, true, "deleting", true, true, true, NOW - 600,
         BSUP_DRILL_DELETING, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_INTERRUPTED, "deleted"},
        {BSUP_DRILL_STATE_PLANNED, false, false, NULL, true, true, true, NOW - 600,
         BSUP_DRILL_DELETING, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_INTERRUPTED, "deleted"},
        /* not bsupd's: never touched */
        {BSUP_DRILL_STATE_PLANNED, true, false, "available", true, true, true, NOW - 600,
         BSUP_DRILL_CONFLICT, BSUP_DRILL_STATE_PLANNED, BSUP_DRILL_NONE, ""},
        {BSUP_DRILL_STATE_CLEANUP, true, false, "available", true, false, true, 0,
         BSUP_DRILL_CONFLICT, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_NONE, ""},
        /* cleanup: delete, watch it go, done */
        {BSUP_DRILL_STATE_CLEANUP, true, true, "available", true, false, true, 0,
         BSUP_DRILL_CLEANUP, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_NONE, ""},
        {BSUP_DRILL_STATE_CLEANUP, true, true, "deleting", true, false, true, 0,
         BSUP_DRILL_DELETING, BSUP_DRILL_STATE_CLEANUP, BSUP_DRILL_NONE, ""},
        {BSUP_DRILL_STATE_CLEANUP, false, false, NULL, true, false, true, 0, BSUP_DRILL_IDLE,
         BSUP_DRILL_STATE_IDLE, BSUP_DRILL_NONE, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_drill_record r = {.state = rows[i].state,
                                      .instance = "bsup-restore-api-20261130",
                                      .planned_at_s = NOW - 700};
        struct bsup_drill_view v = {rows[i].found, rows[i].ours, rows[i].status};
        int phase = bsup_backup_drill_step(&r, &v, rows[i].enabled, rows[i].continuing,
                                           rows[i].snapshot_ok, rows[i].started, NOW);
        if (phase != rows[i].phase || r.state != rows[i].new_state || r.result != rows[i].result ||
            strcmp(r.why, rows[i].why) != 0)
            fail_msg("row %zu: phase %s state %d result %d why '%s'", i,
                     bsup_drill_phase_name(phase), r.state, r.result, r.why);
        if (rows[i].result == BSUP_DRILL_OK)
            assert_int_equal(r.restore_s, 600);
        if (r.state == BSUP_DRILL_STATE_IDLE)
            assert_string_equal(r.instance, "");
        /* A planned drill's instance seen (ours) is marked made: it holds a drill slot even
         * in observe mode. */
        if (r.state == BSUP_DRILL_STATE_PLANNED && r.made != (rows[i].found && rows[i].ours))
            fail_msg("row %zu: made %d", i, r.made);
    }
}

static void test_settings(void **state)
{
    (void)state;
    struct bsup_service prod = s_service("prod", "");
    struct bsup_service dev = s_service("dev", "backup: {restore_test: 7d}\n");
    struct bsup_service dev_enc = s_service("dev", "backup: {require_encryption: true}\n");
    struct bsup_service prod_no = s_service("prod", "backup: {require_encryption: false}\n");
    assert_true(bsup_backup_require_encryption(&prod));
    assert_false(bsup_backup_require_encryption(&dev));
    assert_true(bsup_backup_require_encryption(&dev_enc));
    assert_false(bsup_backup_require_encryption(&prod_no));
    assert_int_equal(bsup_backup_restore_interval(&prod), 0);
    assert_int_equal(bsup_backup_restore_interval(&dev), 7 * DAY);
    assert_int_equal(prod.backup.max_age_s, 26 * 3600);
    assert_int_equal(prod.backup.password_max_age_s, 90 * DAY);
    bsup_service_cleanup(&prod);
    bsup_service_cleanup(&dev);
    bsup_service_cleanup(&dev_enc);
    bsup_service_cleanup(&prod_no);
}

/* ---- plan ---- */

/* One row: a drop-in tail, an environment, a change to the in-sync observation, and the
 * plan it must give. */
static void s_mut_none(struct bsup_backup_observed *o)
{
    (void)o;
}
static void s_mut_missing(struct bsup_backup_observed *o)
{
    o->found = false;
}
static void s_mut_retention(struct bsup_backup_observed *o)
{
    o->retention_d = 3;
}
static void s_mut_off(struct bsup_backup_observed *o)
{
    o->retention_d = 0;
}
static void s_mut_no_snapshot(struct bsup_backup_observed *o)
{
    o->snapshot[0] = 0;
    o->snapshots = 0;
}
static void s_mut_creating(struct bsup_backup_observed *o)
{
    o->snapshot[0] = 0;
    o->snapshots = 1;
    snprintf(o->newest_status, sizeof(o->newest_status), "creating");
}
static void s_mut_stale(struct bsup_backup_observed *o)
{
    o->snapshot_time_s = NOW - 30 * 3600;
}
static void s_mut_unread(struct bsup_backup_observed *o)
{
    o->snapshots_read_at_s = 0;
    o->snapshot[0] = 0;
}
static void s_mut_plain(struct bsup_backup_observed *o)
{
    o->snapshot_encrypted = false;
    o->storage_encrypted = false;
}
static void s_mut_posture(struct bsup_backup_observed *o)
{
    o->deletion_protection = false;
    snprintf(o->db_name, sizeof(o->db_name), "postgres");
    snprintf(o->master_username, sizeof(o->master_username), "root");
}
static void s_mut_restore_due(struct bsup_backup_observed *o)
{
    o->drill_phase = BSUP_DRILL_RESTORE_DUE;
    o->drill_ready = true;
    snprintf(o->drill_instance, sizeof(o->drill_instance), "bsup-restore-api-20261130");
}
static void s_mut_restore_unsaved(struct bsup_backup_observed *o)
{
    s_mut_restore_due(o);
    o->drill_ready = false;
}
static void s_mut_cleanup_ok(struct bsup_backup_observed *o)
{
    s_mut_restore_due(o);
    o->drill_phase = BSUP_DRILL_CLEANUP;
    o->last_drill = BSUP_DRILL_OK;
    o->last_drill_restore_s = 312;
    snprintf(o->drill_status, sizeof(o->drill_status), "available");
}
static void s_mut_conflict(struct bsup_backup_observed *o)
{
    s_mut_restore_due(o);
    o->drill_phase = BSUP_DRILL_CONFLICT;
}
static void s_mut_failed(struct bsup_backup_observed *o)
{
    o->drill_phase = BSUP_DRILL_IDLE;
    o->last_drill = BSUP_DRILL_FAILED;
    snprintf(o->last_drill_why, sizeof(o->last_drill_why), "incompatible-restore");
}
static void s_mut_interrupted(struct bsup_backup_observed *o)
{
    o->drill_phase = BSUP_DRILL_IDLE;
    o->last_drill = BSUP_DRILL_INTERRUPTED;
}
static void s_mut_cache(struct bsup_backup_observed *o)
{
    o->cache = BSUP_SEEN_FOUND;
    snprintf(o->cache_group, sizeof(o->cache_group), "api-prod");
    o->cache_retention_d = 1;
    o->cache_at_rest_encrypted = false;
    o->cache_in_transit_encrypted = true;
    o->cache_snapshots_read_at_s = NOW - 60;
    o->cache_snapshots = 2;
    o->cache_snapshot_time_s = NOW - 50 * 3600;
}
static void s_mut_cache_undated(struct bsup_backup_observed *o)
{
    s_mut_cache(o);
    o->cache_retention_d = 3;
    o->cache_at_rest_encrypted = true;
    o->cache_snapshot_time_s = -1; /* moto: snapshots without NodeSnapshots */
}
static void s_mut_cache_absent(struct bsup_backup_observed *o)
{
    o->cache = BSUP_SEEN_ABSENT;
    snprintf(o->cache_group, sizeof(o->cache_group), "api-prod");
}
static void s_mut_ssm_absent(struct bsup_backup_observed *o)
{
    o->secret = BSUP_SEEN_ABSENT;
}
static void s_mut_ssm_plain(struct bsup_backup_observed *o)
{
    snprintf(o->ssm_type, sizeof(o->ssm_type), "String");
}
static void s_mut_secret_norot(struct bsup_backup_observed *o)
{
    o->ssm_type[0] = 0;
    o->secret_rotation_enabled = false;
}
static void s_mut_secret_old(struct bsup_backup_observed *o)
{
    o->ssm_type[0] = 0;
    o->secret_rotation_enabled = true;
    o->secret_last_rotated_s = NOW - 100 * DAY;
}
static void s_mut_secret_fresh(struct bsup_backup_observed *o)
{
    o->ssm_type[0] = 0;
    o->secret_rotation_enabled = true;
    o->secret_last_rotated_s = NOW - 10 * DAY;
}

#define SM                                                                                         \
    "database_password: "                                                                          \
    "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf\n"

static void test_plan_table(void **state)
{
    (void)state;
    static const struct {
        const char *env, *extra;
        void (*mut)(struct bsup_backup_observed *);
        const char *want;
    } rows[] = {
        {"prod", "", s_mut_none, ""},
        {"prod", "", s_mut_missing, "missing rds-instance/api-prod DBInstance"},
        {"prod", "", s_mut_retention, "update rds-instance/api-prod BackupRetentionPeriod"},
        {"prod", "", s_mut_off, "finding rds-instance/api-prod BackupRetentionPeriod"},
        {"prod", "backup: {allow_disruptive: true}\n", s_mut_off,
         "update rds-instance/api-prod BackupRetentionPeriod"},
        {"prod", "enable_backup: false\n", s_mut_off, ""},
        {"prod", "", s_mut_no_snapshot, "finding rds-instance/api-prod AutomatedSnapshot"},
        {"prod", "", s_mut_creating, "finding rds-instance/api-prod AutomatedSnapshot"},
        {"prod", "", s_mut_stale, "finding rds-instance/api-prod AutomatedSnapshot"},
        {"prod", "backup: {max_age: 2d}\n", s_mut_stale, ""},
        {"prod", "", s_mut_unread, ""}, /* a paced read has not come yet: no judgement */
        {"prod", "", s_mut_plain,
         "finding rds-instance/api-prod SnapshotEncrypted; "
         "finding rds-instance/api-prod StorageEncrypted"},
        {"dev", "", s_mut_plain, ""},
        {"dev", "backup: {require_encryption: true}\n", s_mut_plain,
         "finding rds-instance/api-prod SnapshotEncrypted; "
         "finding rds-instance/api-prod StorageEncrypted"},
        {"prod", "", s_mut_posture,
         "finding rds-instance/api-prod DeletionProtection; finding rds-instance/api-prod "
         "DBName; finding rds-instance/api-prod MasterUsername"},
        {"staging", "", s_mut_posture,
         "finding rds-instance/api-prod DBName; finding rds-instance/api-prod MasterUsername"},
        {"prod", "", s_mut_restore_due,
         "update rds-instance/bsup-restore-api-20261130 DBSnapshotIdentifier"},
        {"prod", "", s_mut_restore_unsaved, ""},
        {"prod", "", s_mut_cleanup_ok,
         "update rds-instance/bsup-restore-api-20261130 DBInstanceStatus"},
        {"prod", "", s_mut_conflict, "finding rds-instance/bsup-restore-api-20261130 Tags"},
        {"prod", "backup: {restore_test: 7d}\n", s_mut_failed,
         "degraded rds-instance/api-prod RestoreDrill"},
        {"prod", "backup: {restore_test: 7d}\n", s_mut_interrupted,
         "finding rds-instance/api-prod RestoreDrill"},
        /* restore_test turned off: no drill will run, so the last one judges nothing */
        {"prod", "", s_mut_failed, ""},
        {"prod", "", s_mut_interrupted, ""},
        {"prod", "cache: {snapshot_retention: 3}\n", s_mut_cache,
         "report elasticache-group/api-prod SnapshotRetentionLimit; finding "
         "elasticache-group/api-prod Snapshot; finding elasticache-group/api-prod "
         "AtRestEncryptionEnabled"},
        {"dev", "cache: {snapshot_retention: 1}\n", s_mut_cache,
         "finding elasticache-group/api-prod Snapshot"},
        {"prod", "cache: {snapshot_retention: 3}\n", s_mut_cache_undated, ""},
        {"prod", "cache: {snapshot_retention: 3}\n", s_mut_cache_absent,
         "missing elasticache-group/api-prod ReplicationGroup"},
        {"prod", "", s_mut_ssm_absent, "finding ssm-parameter/prod/api/db Parameter"},
        {"prod", "", s_mut_ssm_plain, "finding ssm-parameter/prod/api/db Type"},
        {"prod", SM, s_mut_secret_norot,
         "finding secret/db-AbCdEf RotationEnabled; finding secret/db-AbCdEf LastRotatedDate"},
        {"prod", SM, s_mut_secret_old, "finding secret/db-AbCdEf LastRotatedDate"},
        {"prod", SM, s_mut_secret_fresh, ""},
        {"staging", SM, s_mut_secret_norot, ""}, /* rotation is a prod rule */
        {"prod", SM "backup: {password_max_age: 120d}\n", s_mut_secret_old, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct bsup_service svc = s_service(rows[i].env, rows[i].extra);
        struct bsup_backup_observed o = s_obs();
        rows[i].mut(&o);
        struct bsup_plan plan;
        bsup_plan_init(&plan);
        assert_int_equal(bsup_backup_plan(&svc, &o, &plan), 0);
        char got[2048];
        s_render(&plan, got, sizeof(got));
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("row %zu: got '%s', want '%s'", i, got, rows[i].want);
        bsup_plan_cleanup(&plan);
        bsup_service_cleanup(&svc);
    }
}

/* The lines a read judges that has not come yet: the engine keeps them as last recorded (after
 * a restart there is no reading to carry forward) instead of taking them for cleared. */
static void test_unjudged(void **state)
{
    (void)state;
    bool (*unjudged)(const struct bsup_service *, const void *, const char *, const char *) =
        bsup_backup_domain.unjudged;
    assert_non_null(unjudged);
    struct bsup_service svc = s_service("prod", "cache: {snapshot_retention: 3}\n");
    struct bsup_backup_observed o = s_obs();
    s_mut_cache(&o);
    const char *db = "rds-instance/api-prod", *cache = "elasticache-group/api-prod",
               *ssm = "ssm-parameter/prod/api/db";
    /* Everything read: everything judged. */
    assert_false(unjudged(&svc, &o, db, "AutomatedSnapshot"));
    assert_false(unjudged(&svc, &o, cache, "Snapshot"));
    assert_false(unjudged(&svc, &o, ssm, "Type"));
    /* Snapshots not read yet (paced): their lines wait; the instance's own are judged. */
    s_mut_unread(&o);
    o.cache_snapshots_read_at_s = 0;
    assert_true(unjudged(&svc, &o, db, "AutomatedSnapshot"));
    assert_true(unjudged(&svc, &o, db, "SnapshotEncrypted"));
    assert_false(unjudged(&svc, &o, db, "StorageEncrypted"));
    assert_false(unjudged(&svc, &o, "rds-instance/other", "AutomatedSnapshot"));
    assert_true(unjudged(&svc, &o, cache, "Snapshot"));
    assert_false(unjudged(&svc, &o, cache, "AtRestEncryptionEnabled"));
    /* The group or the password not read (a failed read): all their lines wait. */
    o.cache = BSUP_SEEN_UNKNOWN;
    o.secret = BSUP_SEEN_UNKNOWN;
    assert_true(unjudged(&svc, &o, cache, "AtRestEncryptionEnabled"));
    assert_true(unjudged(&svc, &o, ssm, "Type"));
    assert_false(unjudged(&svc, &o, "ssm-parameter/other", "Type"));
    bsup_service_cleanup(&svc);
}

/* What the plan lines say, for the operator reading bsupctl plan. */
static void test_plan_words(void **state)
{
    (void)state;
    struct bsup_service svc = s_service("prod", "backup: {max_age: 26h}\n");
    struct bsup_backup_observed o = s_obs();
    s_mut_stale(&o);
    s_mut_off(&o);
    struct bsup_plan plan;
    bsup_plan_init(&plan);
    assert_int_equal(bsup_backup_plan(&svc, &o, &plan), 0);
    const struct bsup_change *c = s_change(&plan, "AutomatedSnapshot");
    assert_string_equal(c->observed, "30h old (rds:api-prod-2026-11-29-03-00)");
    assert_string_equal(c->desired, "younger than 26h");
    c = s_change(&plan, "BackupRetentionPeriod");
    assert_string_equal(c->observed, "0 (backups off)");
    assert_string_equal(c->desired, "7");
    assert_non_null(strstr(c->reason, "allow_disruptive"));
    bsup_plan_cleanup(&plan);
    bsup_plan_init(&plan);
    o = s_obs();
    s_mut_cleanup_ok(&o);
    assert_int_equal(bsup_backup_plan(&svc, &o, &plan), 0);
    assert_string_equal(s_change(&plan, "DBInstanceStatus")->observed, "available: restored in 5m");
    /* Deleting the drill's instance is a cleanup: the cooldown of its restore does not hold it. */
    for (size_t i = 0; i < plan.n_actions; i++)
        assert_int_equal(plan.actions[i].cleanup,
                         bsup_action_find_change(&plan.actions[i], "DBInstanceStatus") != NULL);
    bsup_plan_cleanup(&plan);
    bsup_service_cleanup(&svc);
}

/* ---- requests ---- */

static json_t *s_request(const struct bsup_service *svc, const struct bsup_backup_observed *o,
                         const char *resource, const char *field, const char *observed,
                         const char *desired, const char **out_action, int *out_rc)
{
    struct bsup_action a = {.kind = BSUP_ACTION_UPDATE};
    snprintf(a.resource, sizeof(a.resource), "%s", resource);
    bsup_action_change(&a, field, observed, desired, "test");
    struct bsup_aws_params p = {0};
    *out_rc = bsup_backup_domain.request(svc, o, &a, out_action, &p);
    json_t *j = *out_rc ? NULL : bsup_domain_params_json(&p);
    bsup_aws_params_cleanup(&p);
    return j;
}

static void test_requests(void **state)
{
    (void)state;
    struct bsup_service svc =
        s_service("prod", "backup: {restore_test: 7d, restore_instance_class: db.t3.micro}\n");
    struct bsup_backup_observed o = s_obs();
    const char *action = NULL;
    int rc;
    json_t *j = s_request(&svc, &o, "rds-instance/api-prod", "BackupRetentionPeriod", "3", "7",
                          &action, &rc);
    json_t *want = json_pack("{s:s, s:s, s:s}", "DBInstanceIdentifier", "api-prod",
                             "BackupRetentionPeriod", "7", "ApplyImmediately", "true");
    assert_string_equal(action, "ModifyDBInstance");
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);

    j = s_request(&svc, &o, "rds-instance/bsup-restore-api-20261130", "DBSnapshotIdentifier",
                  "(drill due)", "rds:api-prod-2026-11-29-03-00", &action, &rc);
    want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "DBInstanceIdentifier", "bsup-restore-api-20261130", "DBSnapshotIdentifier",
                     "rds:api-prod-2026-11-29-03-00", "DBInstanceClass", "db.t3.micro",
                     "DBSubnetGroupName", "api-prod", "MultiAZ", "false", "PubliclyAccessible",
                     "false", "DeletionProtection", "false", "CopyTagsToSnapshot", "false",
                     "Tags.Tag.1.Key", "bsup:drill", "Tags.Tag.1.Value", "api", "Tags.Tag.2.Key",
                     "bsup:owner", "Tags.Tag.2.Value", "bsupd");
    assert_string_equal(action, "RestoreDBInstanceFromDBSnapshot");
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);

    j = s_request(&svc, &o, "rds-instance/bsup-restore-api-20261130", "DBInstanceStatus",
                  "available", "deleted", &action, &rc);
    want = json_pack("{s:s, s:s, s:s}", "DBInstanceIdentifier", "bsup-restore-api-20261130",
                     "SkipFinalSnapshot", "true", "DeleteAutomatedBackups", "true");
    assert_string_equal(action, "DeleteDBInstance");
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);

    /* Nothing but a drill instance is ever deleted or restored into. */
    j = s_request(&svc, &o, "rds-instance/api-prod", "DBInstanceStatus", "available", "deleted",
                  &action, &rc);
    assert_null(j);
    assert_int_equal(rc, BSUP_EINVAL);
    bsup_service_cleanup(&svc);
}

static void test_applied(void **state)
{
    (void)state;
    struct bsup_backup_observed o = s_obs();
    struct bsup_action a = {.kind = BSUP_ACTION_UPDATE};
    bsup_action_change(&a, "DBSnapshotIdentifier", "(drill due)", "rds:x", "test");
    bsup_backup_domain.applied(&o, &a);
    assert_int_equal(o.drill_phase, BSUP_DRILL_RESTORING);
    assert_int_equal(o.drill_started_s, NOW);
    assert_true(o.drill_active);
    struct bsup_action b = {.kind = BSUP_ACTION_UPDATE};
    bsup_action_change(&b, "BackupRetentionPeriod", "3", "7", "test");
    o.retention_d = 3;
    o.retention_ok = false;
    bsup_backup_domain.applied(&o, &b);
    assert_int_equal(o.retention_d, 7);
    assert_true(o.retention_ok);
}

/* ---- the observe steps, by hand ---- */

struct s_member {
    struct bsup_service svc;
    struct bsup_backup_observed obs;
    struct bsup_backup_observed prev;
    struct bsup_domain_member m;
};

static void s_member_init(struct s_member *x, const char *env, const char *extra,
                          struct bsup_domain_cache *cache, bool with_prev)
{
    memset(x, 0, sizeof(*x));
    x->svc = s_service(env, extra);
    x->m = (struct bsup_domain_member){.desired = &x->svc,
                                       .obs = &x->obs,
                                       .prev = with_prev ? &x->prev : NULL,
                                       .now_s = NOW,
                                       .cache = cache};
}

static const struct bsup_observe_step *s_step(const char *action, size_t nth)
{
    for (size_t i = 0; i < bsup_backup_domain.n_steps; i++)
        if (strcmp(bsup_backup_domain.steps[i].action, action) == 0 && nth-- == 0)
            return &bsup_backup_domain.steps[i];
    fail_msg("no step %s", action);
    return NULL;
}

/* What each step waits for: the database's three steps one after another, the cache's
 * snapshots for its replication group only, and the cache and password reads for nothing of
 * the database's (they go out with the first step; a warm cycle of a few services is then two
 * rounds of calls, not three). */
static void test_step_needs(void **state)
{
    (void)state;
    const struct bsup_domain *d = &bsup_backup_domain;
    size_t group = (size_t)(s_step("DescribeReplicationGroups", 0) - d->steps);
    static const struct {
        const char *action;
        size_t nth;
        bool alone; /* needs no other step */
    } want[] = {{"DescribeDBInstances", 0, true},  {"DescribeDBSnapshots", 0, false},
                {"DescribeDBInstances", 1, false}, {"DescribeReplicationGroups", 0, true},
                {"DescribeSecret", 0, true},       {"DescribeParameters", 0, true}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct bsup_observe_step *st = s_step(want[i].action, want[i].nth);
        size_t k = (size_t)(st - d->steps);
        bool none = k == 0 || ((st->flags & BSUP_OBSERVE_NEEDS) && st->needs == 0);
        assert_int_equal(none, want[i].alone);
        if (!want[i].alone) /* every earlier step */
            assert_false(st->flags & BSUP_OBSERVE_NEEDS);
    }
    const struct bsup_observe_step *csnap = s_step("DescribeSnapshots", 0);
    assert_true(csnap->flags & BSUP_OBSERVE_NEEDS);
    assert_int_equal(csnap->needs, 1u << group);
}

/* DescribeDBInstances: one filter over every identifier, lowercase; found case-insensitively. */
static void test_step_instances(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct s_member a, b;
    s_member_init(&a, "prod", "resources: {db_instance: API-Main}\n", &cache, false);
    s_member_init(&b, "dev", "", &cache, false);
    const struct bsup_observe_step *st = s_step("DescribeDBInstances", 0);
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_int_equal(st->prepare(&a.m, key), 1);
    assert_string_equal(key, "api-main");
    assert_int_equal(st->prepare(&b.m, key), 1);
    struct bsup_domain_member *ms[] = {&a.m, &b.m};
    struct bsup_aws_params p = {0};
    assert_int_equal(st->build(ms, 2, &p), 0);
    assert_string_equal(bsup_aws_params_get(&p, "Filters.Filter.1.Name"), "db-instance-id");
    assert_string_equal(bsup_aws_params_get(&p, "Filters.Filter.1.Values.Value.1"), "api-main");
    assert_string_equal(bsup_aws_params_get(&p, "Filters.Filter.1.Values.Value.2"), "api-dev");
    assert_string_equal(bsup_aws_params_get(&p, "MaxRecords"), "100");
    bsup_aws_params_cleanup(&p);
    json_t *pages = json_pack("[{s:[{s:s, s:s, s:i, s:b, s:b, s:s, s:s, s:{s:s}}]}]", "DBInstances",
                              "DBInstanceIdentifier", "api-main", "DBInstanceStatus", "available",
                              "BackupRetentionPeriod", 7, "StorageEncrypted", 1,
                              "DeletionProtection", 1, "DBName", "api", "MasterUsername",
                              "api_admin", "DBSubnetGroup", "DBSubnetGroupName", "main-subnets");
    struct bsup_diag diag = {0};
    assert_int_equal(st->parse(pages, ms, 2, &diag), 0);
    json_decref(pages);
    assert_true(a.obs.found);
    assert_true(a.obs.retention_ok);
    assert_string_equal(a.obs.subnet_group, "main-subnets");
    assert_false(b.obs.found); /* not in the answer: it does not exist */
    bsup_service_cleanup(&a.svc);
    bsup_service_cleanup(&b.svc);
}

/* DescribeDBSnapshots: the newest available one counts; one being taken does not hide it. */
static void test_step_snapshots(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct s_member a;
    s_member_init(&a, "prod", "", &cache, false);
    a.obs.found = true;
    snprintf(a.obs.db, sizeof(a.obs.db), "api-prod");
    a.obs.observed_at_s = NOW;
    const struct bsup_observe_step *st = s_step("DescribeDBSnapshots", 0);
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_true(st->budget_share > 0);              /* paced */
    assert_int_equal(st->prepare(&a.m, key), 1500); /* never read: before the rest */
    struct bsup_domain_member *ms[] = {&a.m};
    struct bsup_aws_params p = {0};
    assert_int_equal(st->build(ms, 1, &p), 0);
    assert_string_equal(bsup_aws_params_get(&p, "SnapshotType"), "automated");
    bsup_aws_params_cleanup(&p);
    json_t *pages =
        json_pack("[{s:[{s:s, s:s, s:s, s:b, s:s}, {s:s, s:s, s:s, s:b, s:s}, {s:s, s:s, s:s}]}]",
                  "DBSnapshots", "DBSnapshotIdentifier", "rds:old", "DBInstanceIdentifier",
                  "API-PROD", "Status", "available", "Encrypted", 1, "SnapshotCreateTime",
                  "2026-11-28T03:00:00Z", "DBSnapshotIdentifier", "rds:new", "DBInstanceIdentifier",
                  "api-prod", "Status", "available", "Encrypted", 1, "SnapshotCreateTime",
                  "2026-11-29T03:00:00Z", "DBSnapshotIdentifier", "rds:taking",
                  "DBInstanceIdentifier", "api-prod", "Status", "creating");
    struct bsup_diag diag = {0};
    assert_int_equal(st->parse(pages, ms, 1, &diag), 0);
    json_decref(pages);
    assert_int_equal(a.obs.snapshots, 3);
    assert_string_equal(a.obs.snapshot, "rds:new");
    assert_string_equal(a.obs.newest_status, "creating");
    assert_int_equal(a.obs.snapshot_time_s, 1795921200); /* 2026-11-29T03:00:00Z */
    assert_int_equal(a.obs.backup_age_s, NOW - a.obs.snapshot_time_s);
    /* Read a minute ago and fine: carried forward, lowest priority. */
    struct s_member b;
    s_member_init(&b, "prod", "", &cache, true);
    b.prev = a.obs;
    b.prev.snapshots_read_at_s = NOW - 60;
    b.prev.snapshot_time_s = NOW - 3600;
    b.obs.found = true;
    snprintf(b.obs.db, sizeof(b.obs.db), "api-prod");
    b.obs.observed_at_s = NOW;
    assert_int_equal(st->prepare(&b.m, key), 2);
    assert_string_equal(b.obs.snapshot, "rds:new");
    assert_int_equal(b.obs.backup_age_s, 3600);
    /* Stale when last read: first. */
    b.prev.snapshot_time_s = NOW - 30 * 3600;
    assert_int_equal(st->prepare(&b.m, key), 2000);
    bsup_service_cleanup(&a.svc);
    bsup_service_cleanup(&b.svc);
}

static json_t *s_drill_page(const char *id, const char *status, const char *tag_value)
{
    return json_pack("[{s:[{s:s, s:s, s:[{s:s, s:s}]}]}]", "DBInstances", "DBInstanceIdentifier",
                     id, "DBInstanceStatus", status, "TagList", "Key", "bsup:drill", "Value",
                     tag_value);
}

static int s_saved(void *ctx, const char *key, const char *value)
{
    (void)ctx, (void)key, (void)value;
    return 0;
}

/* The drill across cycles, as the engine would run its step: scheduled (name saved first),
 * restore due, restoring, done, cleaned up; a restart in between makes it interrupted. */
static void test_step_drill(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    const struct bsup_observe_step *st = s_step("DescribeDBInstances", 1);
    struct bsup_diag diag = {0};
    char key[BSUP_DOMAIN_KEY_MAX], id[64];
    struct s_member a;
    s_member_init(&a, "prod", "backup: {restore_test: 7d}\n", &cache, true);
    a.prev = s_obs();
    a.obs = s_obs();
    /* Cycle 1: due; the name is put in the cache, nothing is read or restored yet. */
    assert_int_equal(st->prepare(&a.m, key), 0);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_SCHEDULED);
    assert_false(a.obs.drill_ready);
    assert_int_equal(a.obs.drill_success, -1); /* no drill ended: no RestoreDrillSuccess */
    snprintf(id, sizeof(id), "%s", a.obs.drill_instance);
    assert_string_equal(id, "bsup-restore-api-20261130");
    assert_false(bsup_domain_cache_saved(&cache, "drill/api"));
    /* Cycle 2, the cycle's records not saved (a store failure): still no restore. */
    a.obs = s_obs();
    assert_int_equal(st->prepare(&a.m, key), 1);
    assert_string_equal(key, id);
    assert_false(a.obs.drill_ready);
    /* Saved now: the instance is read (absent) and the restore is due. */
    assert_int_equal(bsup_domain_cache_flush(&cache, s_saved, NULL), 0);
    a.obs = s_obs();
    assert_int_equal(st->prepare(&a.m, key), 1);
    assert_true(a.obs.drill_ready);
    struct bsup_domain_member *ms[] = {&a.m};
    json_t *none = json_pack("[{s:[]}]", "DBInstances");
    assert_int_equal(st->parse(none, ms, 1, &diag), 0);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_RESTORE_DUE);
    struct bsup_plan plan;
    bsup_plan_init(&plan);
    assert_int_equal(bsup_backup_plan(&a.svc, &a.obs, &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_non_null(bsup_action_find_change(&plan.actions[0], "DBSnapshotIdentifier"));
    bsup_backup_domain.applied(&a.obs, &plan.actions[0]);
    bsup_plan_cleanup(&plan);
    /* Cycle 3: creating, this run's: restoring. */
    a.prev = a.obs;
    a.obs = s_obs();
    a.m.now_s = NOW + 300;
    assert_int_equal(st->prepare(&a.m, key), 1);
    json_t *page = s_drill_page(id, "creating", "api");
    assert_int_equal(st->parse(page, ms, 1, &diag), 0);
    json_decref(page);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_RESTORING);
    assert_int_equal(a.obs.drill_started_s, NOW);
    assert_int_equal(a.obs.drill_success, -1);
    /* Cycle 4: available: success, timed, and its deletion planned. */
    a.prev = a.obs;
    a.obs = s_obs();
    a.m.now_s = NOW + 900;
    assert_int_equal(st->prepare(&a.m, key), 1);
    page = s_drill_page(id, "available", "api");
    assert_int_equal(st->parse(page, ms, 1, &diag), 0);
    json_decref(page);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_CLEANUP);
    assert_int_equal(a.obs.last_drill, BSUP_DRILL_OK);
    assert_int_equal(a.obs.last_drill_restore_s, 900);
    assert_int_equal(a.obs.next_drill_at_s, NOW + 900 + 7 * DAY);
    assert_int_equal(a.obs.drill_success, 1);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_backup_plan(&a.svc, &a.obs, &plan), 0);
    assert_non_null(s_change(&plan, "DBInstanceStatus"));
    bsup_plan_cleanup(&plan);
    /* Cycle 5: gone: idle, not due for a week. */
    a.prev = a.obs;
    a.obs = s_obs();
    assert_int_equal(st->prepare(&a.m, key), 1);
    assert_int_equal(st->parse(none, ms, 1, &diag), 0);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_IDLE);
    a.obs = s_obs();
    assert_int_equal(st->prepare(&a.m, key), 0);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_IDLE);
    assert_string_equal(a.obs.last_drill_text, "ok");
    assert_int_equal(a.obs.drill_success, 1); /* every cycle while the last one stands */

    /* A restart during a drill: the same record, no previous observation. The first cycle
     * reads the instance, calls it interrupted and plans its deletion. */
    char text[256];
    struct bsup_drill_record r = {.state = BSUP_DRILL_STATE_PLANNED, .planned_at_s = NOW};
    snprintf(r.instance, sizeof(r.instance), "%s", id);
    bsup_drill_record_format(&r, text, sizeof(text));
    assert_int_equal(bsup_domain_cache_put(&cache, "drill/api", text, true), 0);
    a.m.prev = NULL;
    a.obs = s_obs();
    assert_int_equal(st->prepare(&a.m, key), 1);
    assert_false(a.obs.drill_ready);
    page = s_drill_page(id, "creating", "api");
    assert_int_equal(st->parse(page, ms, 1, &diag), 0);
    json_decref(page);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_CLEANUP);
    assert_int_equal(a.obs.last_drill, BSUP_DRILL_INTERRUPTED);
    assert_int_equal(a.obs.drill_success, -1); /* proved nothing either way */
    bsup_plan_init(&plan);
    assert_int_equal(bsup_backup_plan(&a.svc, &a.obs, &plan), 0);
    char got[1024];
    s_render(&plan, got, sizeof(got));
    assert_string_equal(got, "update rds-instance/bsup-restore-api-20261130 DBInstanceStatus; "
                             "finding rds-instance/api-prod RestoreDrill");
    bsup_plan_cleanup(&plan);
    /* An instance of that name without bsupd's tag is never deleted. */
    bsup_drill_record_format(&r, text, sizeof(text));
    assert_int_equal(bsup_domain_cache_put(&cache, "drill/api", text, true), 0);
    a.obs = s_obs();
    assert_int_equal(st->prepare(&a.m, key), 1);
    page = s_drill_page(id, "available", "someone-else");
    assert_int_equal(st->parse(page, ms, 1, &diag), 0);
    json_decref(page);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_CONFLICT);
    bsup_plan_init(&plan);
    assert_int_equal(bsup_backup_plan(&a.svc, &a.obs, &plan), 0);
    for (size_t i = 0; i < plan.n_actions; i++)
        assert_int_not_equal(plan.actions[i].kind, BSUP_ACTION_UPDATE);
    bsup_plan_cleanup(&plan);
    /* A failed drill that ended: 0 each cycle; nothing with restore_test off. */
    r = (struct bsup_drill_record){.result = BSUP_DRILL_FAILED, .result_at_s = NOW};
    bsup_drill_record_format(&r, text, sizeof(text));
    assert_int_equal(bsup_domain_cache_put(&cache, "drill/api", text, true), 0);
    a.obs = s_obs();
    a.obs.found = false; /* not due: the record alone decides */
    assert_int_equal(st->prepare(&a.m, key), 0);
    assert_int_equal(a.obs.drill_success, 0);
    struct s_member off;
    s_member_init(&off, "prod", "", &cache, true);
    off.obs = s_obs();
    assert_int_equal(st->prepare(&off.m, key), 0);
    assert_int_equal(off.obs.drill_success, -1);
    bsup_service_cleanup(&off.svc);
    json_decref(none);
    bsup_service_cleanup(&a.svc);
    bsup_domain_cache_cleanup(&cache);
}

static void test_refused(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct s_member a;
    s_member_init(&a, "prod", "backup: {restore_test: 7d}\n", &cache, true);
    a.obs = s_obs();
    char text[256];
    struct bsup_drill_record r = {.state = BSUP_DRILL_STATE_PLANNED,
                                  .instance = "bsup-restore-api-20261130",
                                  .planned_at_s = NOW - 60};
    bsup_drill_record_format(&r, text, sizeof(text));
    assert_int_equal(bsup_domain_cache_put(&cache, "drill/api", text, true), 0);
    struct bsup_action keep = {.kind = BSUP_ACTION_UPDATE};
    bsup_action_change(&keep, "BackupRetentionPeriod", "3", "7", "test");
    assert_false(bsup_backup_domain.refused(&a.m, &keep, "InvalidParameterCombination", "no"));
    struct bsup_action restore = {.kind = BSUP_ACTION_UPDATE};
    bsup_action_change(&restore, "DBSnapshotIdentifier", "(drill due)", "rds:x", "test");
    assert_true(bsup_backup_domain.refused(&a.m, &restore, "InstanceQuotaExceeded",
                                           "DB instance quota exceeded"));
    bsup_drill_record_parse(bsup_domain_cache_get(&cache, "drill/api"), &r);
    assert_int_equal(r.state, BSUP_DRILL_STATE_IDLE);
    assert_int_equal(r.result, BSUP_DRILL_FAILED);
    assert_string_equal(r.why, "refused-InstanceQuotaExceeded");
    assert_false(bsup_domain_cache_saved(&cache, "drill/api")); /* saved with the cycle */
    assert_int_equal(bsup_backup_drill_due(&r, 7 * 86400, NOW), NOW + 86400);
    assert_int_equal(a.obs.drill_phase, BSUP_DRILL_IDLE);
    assert_int_equal(a.obs.drill_success, 0);
    struct bsup_plan plan;
    bsup_plan_init(&plan);
    assert_int_equal(bsup_backup_plan(&a.svc, &a.obs, &plan), 0);
    const struct bsup_change *c = NULL;
    for (size_t i = 0; i < plan.n_actions; i++) {
        assert_int_not_equal(plan.actions[i].kind, BSUP_ACTION_UPDATE); /* no restore again */
        if (plan.actions[i].kind == BSUP_ACTION_DEGRADED)
            c = bsup_action_find_change(&plan.actions[i], "RestoreDrill");
    }
    assert_non_null(c);
    assert_string_equal(c->observed,
                        "could not start: InstanceQuotaExceeded: DB instance quota exceeded");
    bsup_plan_cleanup(&plan);
    bsup_service_cleanup(&a.svc);
    bsup_domain_cache_cleanup(&cache);
}

/* The fleet a test's members look up: services by name, NULL when not declared. */
static const struct bsup_service *s_fleet_lookup(const void *ctx, const char *service)
{
    for (const struct bsup_service *const *f = ctx; *f; f++)
        if (strcmp((*f)->service_name, service) == 0)
            return *f;
    return NULL;
}

/* A drill instance is tagged with bsupd.yaml's owner, read by the first step. */
static void test_drill_owner_tag(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct bsup_settings st;
    bsup_settings_init(&st);
    struct s_member a;
    s_member_init(&a, "prod", "backup: {restore_test: 7d}\n", &cache, false);
    char key[BSUP_DOMAIN_KEY_MAX];
    for (int i = 0; i < 2; i++) {
        struct bsup_diag diag = {0};
        if (i)
            assert_int_equal(bsup_settings_set(&st, "owner", "team-a", &diag), 0);
        a.m.settings = &st;
        assert_int_equal(s_step("DescribeDBInstances", 0)->prepare(&a.m, key), 1);
        const char *action = NULL;
        int rc;
        json_t *j = s_request(&a.svc, &a.obs, "rds-instance/bsup-restore-api-20261130",
                              "DBSnapshotIdentifier", "(drill due)", "rds:x", &action, &rc);
        assert_string_equal(action, "RestoreDBInstanceFromDBSnapshot");
        assert_string_equal(json_string_value(json_object_get(j, "Tags.Tag.2.Key")), "bsup:owner");
        assert_string_equal(json_string_value(json_object_get(j, "Tags.Tag.2.Value")),
                            i ? "team-a" : "bsupd");
        json_decref(j);
    }
    bsup_settings_cleanup(&st);
    bsup_service_cleanup(&a.svc);
}

/* At most BSUP_BACKUP_DRILLS_AT_ONCE drills run at once: the next due one waits. Only a drill
 * that can run holds a slot: its service declared, in enforce mode (its own or the daemon's). */
/* The drill phase svc's prepare gives beside the fleet declared (its drills in cache). */
static int s_slot_phase(struct bsup_domain_cache *cache, const struct bsup_service *svc,
                        const struct bsup_settings *settings,
                        const struct bsup_service *const *declared)
{
    struct s_member x;
    char key[BSUP_DOMAIN_KEY_MAX];
    s_member_init(&x, "prod", "", cache, true);
    x.m.desired = svc;
    x.m.settings = settings;
    x.m.lookup = s_fleet_lookup;
    x.m.lookup_ctx = declared;
    x.obs = s_obs();
    assert_int_equal(s_step("DescribeDBInstances", 1)->prepare(&x.m, key), 0);
    bsup_service_cleanup(&x.svc);
    return x.obs.drill_phase;
}

static void test_step_drill_at_once(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct bsup_settings settings;
    bsup_settings_init(&settings);
    settings.mode = BSUP_MODE_ENFORCE;
    static const struct {
        const char *name, *mode; /* mode: NULL is the daemon's; "removed": not declared */
    } fleet[] = {{"a", NULL}, {"o", "observe"}, {"b", "enforce"}, {"c", NULL}, {"d", NULL}};
    struct bsup_service svcs[5];
    const struct bsup_service *declared[6] = {0};
    for (size_t i = 0, n = 0; i < 5; i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "%s%s\nbackup: {restore_test: 7d}\n",
                 fleet[i].mode ? "mode: " : "", fleet[i].mode ? fleet[i].mode : "");
        svcs[i] = s_service("prod", extra);
        free(svcs[i].service_name);
        svcs[i].service_name = strdup(fleet[i].name);
        declared[n++] = &svcs[i];
    }
    static const struct {
        const char *service;
        int want;
    } rows[] = {
        {"a", BSUP_DRILL_SCHEDULED},
        {"o", BSUP_DRILL_SCHEDULED}, /* planned, never restored: holds no slot */
        {"b", BSUP_DRILL_SCHEDULED},
        {"c", BSUP_DRILL_WAITING}, /* a and b run */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int phase =
            s_slot_phase(&cache, s_fleet_lookup(declared, rows[i].service), &settings, declared);
        if (phase != rows[i].want)
            fail_msg("%s: %s", rows[i].service, bsup_drill_phase_name(phase));
    }
    /* a is removed from the drop-ins, its drill in progress (the sweep deletes its instance):
     * it no longer holds a slot, and d's drill runs beside b's. */
    declared[0] = &svcs[1];
    declared[1] = &svcs[2];
    declared[2] = &svcs[3];
    declared[3] = &svcs[4];
    declared[4] = NULL;
    assert_int_equal(s_slot_phase(&cache, &svcs[4], &settings, declared), BSUP_DRILL_SCHEDULED);
    /* d is put in observe mode mid-drill: while its instance exists (restoring: planned and
     * made; ended, waiting for deletion: cleanup) it keeps its slot, so c still waits beside b;
     * only planned, it held none (o above). */
    svcs[4].mode = BSUP_MODE_OBSERVE;
    static const struct {
        int state;
        bool made;
        int want;
    } slots[] = {{BSUP_DRILL_STATE_CLEANUP, false, BSUP_DRILL_WAITING},
                 {BSUP_DRILL_STATE_PLANNED, true, BSUP_DRILL_WAITING},
                 {BSUP_DRILL_STATE_PLANNED, false, BSUP_DRILL_SCHEDULED}};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        struct bsup_drill_record r = {.state = slots[i].state, .made = slots[i].made};
        char text[256];
        snprintf(r.instance, sizeof(r.instance), "bsup-restore-d-20261202");
        bsup_drill_record_format(&r, text, sizeof(text));
        assert_int_equal(bsup_domain_cache_put(&cache, "drill/d", text, true), 0);
        int phase = s_slot_phase(&cache, &svcs[3], &settings, declared);
        if (phase != slots[i].want)
            fail_msg("slot %zu: %s", i, bsup_drill_phase_name(phase));
    }
    for (size_t i = 0; i < 5; i++)
        bsup_service_cleanup(&svcs[i]);
    bsup_settings_cleanup(&settings);
    bsup_domain_cache_cleanup(&cache);
}

/* DescribeSecret and DescribeParameters: JSON bodies, never a value; absence is an answer. */
static void test_step_secrets(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct s_member s, p, q;
    s_member_init(&s, "prod", SM, &cache, false);
    s_member_init(&p, "prod", "", &cache, false);
    s_member_init(&q, "dev", "database_password: ssm:prod/api/db\n", &cache, false);
    s.obs = p.obs = q.obs = s_obs();
    const struct bsup_observe_step *sec = s_step("DescribeSecret", 0);
    const struct bsup_observe_step *par = s_step("DescribeParameters", 0);
    assert_non_null(sec->build_json);
    assert_non_null(sec->absent_codes);
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_int_equal(sec->prepare(&p.m, key), 0); /* an ssm: password: not this step */
    assert_true(sec->prepare(&s.m, key) > 0);
    struct bsup_domain_member *ms[] = {&s.m};
    json_t *body = NULL;
    assert_int_equal(sec->build_json(ms, 1, &body), 0);
    assert_string_equal(json_string_value(json_object_get(body, "SecretId")),
                        "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf");
    assert_int_equal(json_object_size(body), 1);
    json_decref(body);
    struct bsup_diag diag = {0};
    json_t *empty = json_array();
    assert_int_equal(sec->parse(empty, ms, 1, &diag), 0);
    assert_int_equal(s.obs.secret, BSUP_SEEN_ABSENT);
    json_t *pages = json_pack("[{s:s, s:s, s:b, s:f}]", "ARN", "arn:x", "Name", "db",
                              "RotationEnabled", 1, "LastRotatedDate", (double)(NOW - DAY));
    assert_int_equal(sec->parse(pages, ms, 1, &diag), 0);
    json_decref(pages);
    assert_int_equal(s.obs.secret, BSUP_SEEN_FOUND);
    assert_true(s.obs.secret_rotation_enabled);
    assert_int_equal(s.obs.secret_last_rotated_s, NOW - DAY);

    assert_true(par->prepare(&p.m, key) > 0);
    assert_string_equal(key, "/prod/api/db");
    assert_true(par->prepare(&q.m, key) > 0);
    struct bsup_domain_member *ps[] = {&p.m, &q.m};
    assert_int_equal(par->build_json(ps, 2, &body), 0);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"MaxResults\":50,\"ParameterFilters\":[{\"Key\":\"Name\","
                              "\"Option\":\"Equals\",\"Values\":[\"/prod/api/db\","
                              "\"prod/api/db\"]}]}");
    free(text);
    json_decref(body);
    pages = json_pack("[{s:[{s:s, s:s}]}]", "Parameters", "Name", "/prod/api/db", "Type", "String");
    assert_int_equal(par->parse(pages, ps, 2, &diag), 0);
    json_decref(pages);
    assert_int_equal(p.obs.secret, BSUP_SEEN_FOUND);
    assert_string_equal(p.obs.ssm_type, "String");
    assert_int_equal(q.obs.secret, BSUP_SEEN_FOUND); /* the same parameter, named without '/' */
    pages = json_pack("[{s:[]}]", "Parameters");
    assert_int_equal(par->parse(pages, ps, 2, &diag), 0);
    json_decref(pages);
    assert_int_equal(p.obs.secret, BSUP_SEEN_ABSENT);
    json_decref(empty);
    bsup_service_cleanup(&s.svc);
    bsup_service_cleanup(&p.svc);
    bsup_service_cleanup(&q.svc);
}

/* ElastiCache: one listing for every group; snapshots per group, dated by their nodes. */
static void test_step_cache(void **state)
{
    (void)state;
    struct bsup_domain_cache cache = {0};
    struct s_member a, b, c;
    s_member_init(&a, "prod", "cache: {snapshot_retention: 3}\n", &cache, false);
    s_member_init(&b, "prod", "resources: {cache_replication_group: Other}\n", &cache, false);
    s_member_init(&c, "prod", "", &cache, false);
    a.obs = b.obs = c.obs = s_obs();
    const struct bsup_observe_step *grp = s_step("DescribeReplicationGroups", 0);
    const struct bsup_observe_step *snp = s_step("DescribeSnapshots", 0);
    char key[BSUP_DOMAIN_KEY_MAX];
    assert_int_equal(grp->prepare(&a.m, key), 1);
    assert_string_equal(key, "*");
    assert_int_equal(grp->prepare(&b.m, key), 1);
    assert_int_equal(grp->prepare(&c.m, key), 0); /* no cache declared */
    struct bsup_domain_member *ms[] = {&a.m, &b.m};
    json_t *pages = json_pack("[{s:[{s:s, s:i, s:b, s:b}]}]", "ReplicationGroups",
                              "ReplicationGroupId", "api-prod", "SnapshotRetentionLimit", 3,
                              "AtRestEncryptionEnabled", 1, "TransitEncryptionEnabled", 1);
    struct bsup_diag diag = {0};
    assert_int_equal(grp->parse(pages, ms, 2, &diag), 0);
    json_decref(pages);
    assert_int_equal(a.obs.cache, BSUP_SEEN_FOUND);
    assert_int_equal(b.obs.cache, BSUP_SEEN_ABSENT);
    assert_int_equal(snp->prepare(&b.m, key), 0);
    assert_int_equal(snp->prepare(&a.m, key), 1500);
    struct bsup_domain_member *one[] = {&a.m};
    pages = json_pack("[{s:[{s:s, s:s, s:[{s:s}, {s:s}]}, {s:s, s:s}, {s:s, s:s}]}]", "Snapshots",
                      "SnapshotName", "s1", "SnapshotStatus", "available", "NodeSnapshots",
                      "SnapshotCreateTime", "2026-11-29T04:00:00Z", "SnapshotCreateTime",
                      "2026-11-29T04:10:00Z", "SnapshotName", "s2", "SnapshotStatus", "available",
                      "SnapshotName", "s3", "SnapshotStatus", "creating");
    assert_int_equal(snp->parse(pages, one, 1, &diag), 0);
    json_decref(pages);
    assert_int_equal(a.obs.cache_snapshots, 2);
    assert_int_equal(a.obs.cache_snapshot_time_s, 1795925400); /* its last node, 04:10 */
    bsup_service_cleanup(&a.svc);
    bsup_service_cleanup(&b.svc);
    bsup_service_cleanup(&c.svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* clang-format off */
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_drill_names),
        cmocka_unit_test(test_drill_due),
        cmocka_unit_test(test_drill_steps),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_plan_table),
        cmocka_unit_test(test_unjudged),
        cmocka_unit_test(test_plan_words),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_applied),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_step_needs),
        cmocka_unit_test(test_step_instances),
        cmocka_unit_test(test_drill_owner_tag),
        cmocka_unit_test(test_step_snapshots),
        cmocka_unit_test(test_step_drill),
        cmocka_unit_test(test_step_drill_at_once),
        cmocka_unit_test(test_step_secrets),
        cmocka_unit_test(test_step_cache),
        /* clang-format on */
    };
    return cmocka_run_group_tests_name("backup domain", tests, NULL, NULL);
}
