#include "core/reconcile/backup.h"

#include "core/aws/results.h"
#include "core/base/error.h"
#include "core/base/units.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define S_PRIO_WRONG 2000 /* a paced read of what looked wrong last time comes first */
#define S_PRIO_NEVER 1500 /* then what was never read */

/* ---- names and records (pure) ---- */

static const char *const s_phase_names[] = {
#define X(e, name) name,
    BSUP_DRILL_PHASE_MAP(X)
#undef X
};
static const char *const s_result_names[] = {"none", "ok", "failed", "interrupted"};
static const char *const s_state_names[] = {"idle", "planned", "cleanup"};

const char *bsup_drill_phase_name(int phase)
{
    return phase >= 0 && phase < BSUP_DRILL_PHASE_COUNT ? s_phase_names[phase] : "?";
}

static int s_index(const char *const *names, size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], v) == 0)
            return (int)i;
    return 0;
}

void bsup_drill_record_format(const struct bsup_drill_record *r, char *buf, size_t len)
{
    int state = r->state >= 0 && r->state < (int)S_ARRAY_LEN(s_state_names) ? r->state : 0;
    int result = r->result >= 0 && r->result < (int)S_ARRAY_LEN(s_result_names) ? r->result : 0;
    snprintf(buf, len, "state=%s id=%s planned=%lld last=%s at=%lld restore=%lld why=%s%s",
             s_state_names[state], r->instance[0] ? r->instance : "-", (long long)r->planned_at_s,
             s_result_names[result], (long long)r->result_at_s, (long long)r->restore_s,
             r->why[0] ? r->why : "-", r->made ? " made=1" : "");
}

void bsup_drill_record_parse(const char *text, struct bsup_drill_record *out)
{
    memset(out, 0, sizeof(*out));
    for (const char *p = text ? text : ""; *p;) {
        size_t n = strcspn(p, " ");
        char word[128];
        snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), p);
        p += n + (p[n] == ' ');
        char *eq = strchr(word, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *v = eq + 1;
        bool none = strcmp(v, "-") == 0;
        if (strcmp(word, "state") == 0)
            out->state = s_index(s_state_names, S_ARRAY_LEN(s_state_names), v);
        else if (strcmp(word, "id") == 0 && !none)
            snprintf(out->instance, sizeof(out->instance), "%s", v);
        else if (strcmp(word, "planned") == 0)
            out->planned_at_s = strtoll(v, NULL, 10);
        else if (strcmp(word, "last") == 0)
            out->result = s_index(s_result_names, S_ARRAY_LEN(s_result_names), v);
        else if (strcmp(word, "at") == 0)
            out->result_at_s = strtoll(v, NULL, 10);
        else if (strcmp(word, "restore") == 0)
            out->restore_s = strtoll(v, NULL, 10);
        else if (strcmp(word, "why") == 0 && !none)
            snprintf(out->why, sizeof(out->why), "%s", v);
        else if (strcmp(word, "made") == 0)
            out->made = strcmp(v, "1") == 0;
    }
    if (out->state != BSUP_DRILL_STATE_IDLE && !out->instance[0])
        out->state = BSUP_DRILL_STATE_IDLE; /* a record without its instance names nothing */
}

static uint32_t s_fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void bsup_backup_drill_name(const char *service, int64_t at_s, char *buf, size_t len)
{
    char date[16];
    time_t t = (time_t)at_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y%m%d", &tm);
    size_t n = strlen(service);
    /* "bsup-restore-" + service + "-" + 8 digits: at most 63, the DB identifier limit. */
    if (n <= 41) {
        snprintf(buf, len, "bsup-restore-%s-%s", service, date);
        return;
    }
    size_t cut = 34;
    while (cut && service[cut - 1] == '-')
        cut--; /* no "--" in an identifier */
    snprintf(buf, len, "bsup-restore-%.*s-%06x-%s", (int)cut, service,
             (unsigned)(s_fnv1a(service) & 0xffffffu), date);
}

int64_t bsup_backup_drill_due(const struct bsup_drill_record *r, int64_t interval_s, int64_t now_s)
{
    if (r->result == BSUP_DRILL_NONE || r->result_at_s <= 0)
        return now_s;
    int64_t wait = interval_s;
    if (r->result != BSUP_DRILL_OK && wait > BSUP_BACKUP_DRILL_RETRY_S)
        wait = BSUP_BACKUP_DRILL_RETRY_S;
    return r->result_at_s + wait;
}

/* The DBInstanceStatus values from which a restore never becomes available. */
static bool s_failed_status(const char *s)
{
    static const char *const failed[] = {"failed", "restore-error", "storage-full",
                                         "insufficient-capacity", "stopped"};
    if (strncmp(s, "incompatible-", 13) == 0 || strncmp(s, "inaccessible-", 13) == 0)
        return true;
    for (size_t i = 0; i < S_ARRAY_LEN(failed); i++)
        if (strcmp(s, failed[i]) == 0)
            return true;
    return false;
}

static void s_end(struct bsup_drill_record *r, int result, const char *why, int64_t now_s)
{
    r->result = result;
    r->result_at_s = now_s;
    snprintf(r->why, sizeof(r->why), "%s", why);
    for (char *c = r->why; *c; c++) /* one word in the record's line */
        if (!isalnum((unsigned char)*c) && *c != '-')
            *c = '-';
    r->state = BSUP_DRILL_STATE_CLEANUP;
}

static enum bsup_drill_phase s_idle(struct bsup_drill_record *r, bool enabled)
{
    r->state = BSUP_DRILL_STATE_IDLE;
    r->instance[0] = 0;
    r->made = false;
    return enabled ? BSUP_DRILL_IDLE : BSUP_DRILL_OFF;
}

enum bsup_drill_phase bsup_backup_drill_step(struct bsup_drill_record *r,
                                             const struct bsup_drill_view *v, bool enabled,
                                             bool continuing, bool snapshot_ok, int64_t started_s,
                                             int64_t now_s)
{
    const char *status = v->status ? v->status : "";
    bool restored = continuing && started_s > 0; /* by this run, which has watched it since */
    if (r->state == BSUP_DRILL_STATE_PLANNED) {
        if (!v->found && restored) { /* deleted by someone else: it proved nothing */
            s_end(r, BSUP_DRILL_INTERRUPTED, "deleted", now_s);
            return BSUP_DRILL_DELETING; /* the record keeps its name a cycle: should the
                                         * answer have been stale, the next one deletes it */
        }
        if (!v->found) /* not restored yet: it is, unless there is no reason or nothing to */
            return enabled && snapshot_ok ? BSUP_DRILL_RESTORE_DUE : s_idle(r, enabled);
        if (!v->ours)
            return BSUP_DRILL_CONFLICT;
        r->made = true;
        if (!enabled || !restored) {
            s_end(r, BSUP_DRILL_INTERRUPTED, "interrupted", now_s);
        } else if (strcmp(status, "deleting") == 0) {
            s_end(r, BSUP_DRILL_INTERRUPTED, "deleted", now_s); /* not by bsupd: not a failure */
        } else if (strcmp(status, "available") == 0) {
            s_end(r, BSUP_DRILL_OK, "", now_s);
            r->restore_s = now_s > started_s ? now_s - started_s : 0;
        } else if (s_failed_status(status)) {
            s_end(r, BSUP_DRILL_FAILED, status, now_s);
        } else if (now_s - started_s > BSUP_BACKUP_DRILL_TIMEOUT_S) {
            s_end(r, BSUP_DRILL_FAILED, "timeout", now_s);
        } else {
            return BSUP_DRILL_RESTORING;
        }
    }
    if (r->state == BSUP_DRILL_STATE_CLEANUP) {
        if (!v->found)
            return s_idle(r, enabled);
        if (!v->ours)
            return BSUP_DRILL_CONFLICT;
        return strcmp(status, "deleting") == 0 ? BSUP_DRILL_DELETING : BSUP_DRILL_CLEANUP;
    }
    return enabled ? BSUP_DRILL_IDLE : BSUP_DRILL_OFF;
}

bool bsup_backup_require_encryption(const struct bsup_service *svc)
{
    if (svc->backup.require_encryption >= 0)
        return svc->backup.require_encryption == 1;
    return svc->environment == BSUP_ENV_PROD;
}

int64_t bsup_backup_restore_interval(const struct bsup_service *svc)
{
    int64_t s = 0;
    const char *v = svc->backup.restore_test;
    if (!v || strcmp(v, "off") == 0 || bsup_duration_parse(v, &s))
        return 0;
    return s;
}

/* ---- small helpers ---- */

static void s_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void s_copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* An age in words: "45s", "12m", "26h", "9d". */
static void s_age(int64_t s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, len, "%llds", (long long)s);
    else if (s < 2 * 3600)
        snprintf(buf, len, "%lldm", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(buf, len, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

static const char *s_seen_name(int seen)
{
    static const char *const names[] = {"none", "unknown", "found", "absent"};
    return seen >= 0 && seen < (int)S_ARRAY_LEN(names) ? names[seen] : "?";
}

static void s_set_seen(int *field, char *name, size_t len, int seen)
{
    *field = seen;
    snprintf(name, len, "%s", s_seen_name(seen));
}

static void s_set_phase(struct bsup_backup_observed *o, int phase)
{
    o->drill_phase = phase;
    o->drill_active = phase >= BSUP_DRILL_SCHEDULED && phase <= BSUP_DRILL_DELETING;
    s_copy(o->drill, sizeof(o->drill), bsup_drill_phase_name(phase));
}

/* The newest available automated snapshot may be restored. */
static bool s_snapshot_usable(const struct bsup_backup_observed *o)
{
    return o->snapshots_read_at_s > 0 && o->snapshot[0];
}

static void s_backup_age(struct bsup_backup_observed *o)
{
    o->backup_age_s =
        o->snapshot[0] && o->snapshot_time_s > 0 ? o->observed_at_s - o->snapshot_time_s : -1;
}

static void s_cache_age(struct bsup_backup_observed *o)
{
    o->cache_backup_age_s = o->cache_snapshots && o->cache_snapshot_time_s > 0
                                ? o->observed_at_s - o->cache_snapshot_time_s
                                : -1;
}

/* A paced step's priority: what looked wrong, then never read, then the longest unread. */
static int s_priority(bool wrong, int64_t read_at_s, int64_t now_s)
{
    if (wrong)
        return S_PRIO_WRONG;
    if (read_at_s <= 0)
        return S_PRIO_NEVER;
    int64_t minutes = (now_s - read_at_s) / 60;
    return 1 + (int)(minutes < 0 ? 0 : minutes > 1000 ? 1000 : minutes);
}

static const char *s_secret_ref(const struct bsup_service *svc, const char *prefix)
{
    const char *p = svc->database_password;
    size_t n = strlen(prefix);
    return p && strncmp(p, prefix, n) == 0 && p[n] ? p + n : NULL;
}

/* ---- step 1: the DB instances (batched DescribeDBInstances, db-instance-id filter) ---- */

static void s_db_key(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    bsup_service_resource_name(m->desired, "db_instance", key, BSUP_DOMAIN_KEY_MAX);
    s_lower(key); /* RDS identifiers are case-insensitive and kept in lowercase */
}

static int s_db_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_backup_observed *o = m->obs;
    o->observed_at_s = m->now_s;
    o->backup_age_s = -1;
    o->cache_backup_age_s = -1;
    o->secret_last_rotated_s = -1;
    o->drill_success = -1;
    snprintf(o->owner, sizeof(o->owner), "%s",
             m->settings && m->settings->owner ? m->settings->owner : BSUP_OWNER_DEFAULT);
    s_db_key(m, key);
    s_copy(o->db, sizeof(o->db), key);
    s_set_phase(o, BSUP_DRILL_OFF);
    s_set_seen(&o->cache, o->cache_state, sizeof(o->cache_state), BSUP_SEEN_NONE);
    s_set_seen(&o->secret, o->secret_state, sizeof(o->secret_state), BSUP_SEEN_NONE);
    return 1;
}

/* Filters.Filter.1 = db-instance-id with the distinct keys of m (members sharing a key are
 * adjacent), key_fn giving each member's key. */
static int s_id_filter(struct bsup_domain_member *const *m, size_t n,
                       void (*key_fn)(const struct bsup_domain_member *, char *),
                       struct bsup_aws_params *out)
{
    char key[BSUP_DOMAIN_KEY_MAX], last[BSUP_DOMAIN_KEY_MAX] = "";
    size_t k = 0;
    int rc = bsup_aws_params_add(out, "Filters.Filter.1.Name", "db-instance-id");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        key_fn(m[i], key);
        if (strcmp(key, last) == 0)
            continue;
        s_copy(last, sizeof(last), key);
        rc = bsup_aws_params_addf(out, key, "Filters.Filter.1.Values.Value.%zu", ++k);
    }
    return rc ? rc : bsup_aws_params_add(out, "MaxRecords", "100");
}

static void s_db_key_fn(const struct bsup_domain_member *m, char *key)
{
    s_db_key(m, key);
}

static int s_db_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    return s_id_filter(m, n, s_db_key_fn, out);
}

static void s_db_fill(struct bsup_backup_observed *o, const struct bsup_service *svc,
                      const struct bsup_rds_instance *in)
{
    o->found = true;
    s_copy(o->status, sizeof(o->status), in->status);
    o->retention_d = in->backup_retention_period_d;
    o->retention_ok = !svc->enable_backup || o->retention_d == svc->backup_retention;
    o->storage_encrypted = in->storage_encrypted;
    o->deletion_protection = in->deletion_protection;
    s_copy(o->db_name, sizeof(o->db_name), in->db_name);
    s_copy(o->master_username, sizeof(o->master_username), in->master_username);
    s_copy(o->subnet_group, sizeof(o->subnet_group), in->db_subnet_group);
}

static int s_db_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                      struct bsup_diag *diag)
{
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_rds_instance_page pg = {0};
        if (bsup_rds_instance_page_parse(page, &pg)) {
            bsup_rds_instance_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeDBInstances");
        }
        for (size_t k = 0; k < pg.n_instances; k++) {
            const struct bsup_rds_instance *in = &pg.instances[k];
            for (size_t i = 0; in->identifier && i < n; i++) {
                struct bsup_backup_observed *o = m[i]->obs;
                if (strcasecmp(o->db, in->identifier) == 0)
                    s_db_fill(o, m[i]->desired, in);
            }
        }
        bsup_rds_instance_page_cleanup(&pg);
    }
    return 0; /* an identifier AWS did not return is an instance that does not exist */
}

/* ---- step 2: automated snapshots (paced, batched DescribeDBSnapshots) ---- */

static bool s_snapshot_wrong(const struct bsup_backup_observed *o, const struct bsup_service *svc)
{
    return !o->snapshot[0] || o->observed_at_s - o->snapshot_time_s > svc->backup.max_age_s ||
           (bsup_backup_require_encryption(svc) && !o->snapshot_encrypted);
}

static int s_snap_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_backup_observed *o = m->obs;
    const struct bsup_backup_observed *p = m->prev;
    if (!o->found)
        return 0;
    if (p && p->found && strcmp(p->db, o->db) == 0) { /* carried forward unless read now */
        o->snapshots_read_at_s = p->snapshots_read_at_s;
        o->snapshots = p->snapshots;
        s_copy(o->snapshot, sizeof(o->snapshot), p->snapshot);
        o->snapshot_time_s = p->snapshot_time_s;
        o->snapshot_encrypted = p->snapshot_encrypted;
        s_copy(o->newest_status, sizeof(o->newest_status), p->newest_status);
        s_backup_age(o);
    }
    s_db_key(m, key);
    return s_priority(o->snapshots_read_at_s > 0 && s_snapshot_wrong(o, m->desired),
                      o->snapshots_read_at_s, m->now_s);
}

static int s_snap_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    int rc = s_id_filter(m, n, s_db_key_fn, out);
    return rc ? rc : bsup_aws_params_add(out, "SnapshotType", "automated");
}

static int s_snap_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                        struct bsup_diag *diag)
{
    /* Each member's newest snapshot of any status, by creation time. */
    int64_t *newest = calloc(n ? n : 1, sizeof(*newest));
    if (!newest)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct bsup_backup_observed *o = m[i]->obs;
        o->snapshots_read_at_s = m[i]->now_s;
        o->snapshots = 0;
        o->snapshot[0] = 0;
        o->snapshot_time_s = 0;
        o->snapshot_encrypted = false;
        o->newest_status[0] = 0;
        newest[i] = -1;
    }
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_rds_snapshot_page pg = {0};
        if (bsup_rds_snapshot_page_parse(page, &pg)) {
            bsup_rds_snapshot_page_cleanup(&pg);
            free(newest);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeDBSnapshots");
        }
        for (size_t k = 0; k < pg.n_snapshots; k++) {
            const struct bsup_rds_snapshot *s = &pg.snapshots[k];
            /* One being taken has no time yet: it is the newest. */
            int64_t t = s->create_time >= 0 ? s->create_time : INT64_MAX;
            bool available = s->status && strcmp(s->status, "available") == 0;
            for (size_t i = 0; s->instance_identifier && s->identifier && i < n; i++) {
                struct bsup_backup_observed *o = m[i]->obs;
                if (strcasecmp(o->db, s->instance_identifier) != 0)
                    continue;
                o->snapshots++;
                if (t > newest[i]) {
                    newest[i] = t;
                    s_copy(o->newest_status, sizeof(o->newest_status), s->status);
                }
                if (available && s->create_time > o->snapshot_time_s) {
                    s_copy(o->snapshot, sizeof(o->snapshot), s->identifier);
                    o->snapshot_time_s = s->create_time;
                    o->snapshot_encrypted = s->encrypted;
                }
            }
        }
        bsup_rds_snapshot_page_cleanup(&pg);
    }
    for (size_t i = 0; i < n; i++)
        s_backup_age(m[i]->obs);
    free(newest);
    return 0;
}

/* ---- step 3: the restore drill (DescribeDBInstances of the drills in progress) ---- */

void bsup_backup_drill_key(const char *service, char key[BSUP_DOMAIN_KEY_MAX])
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "drill/%s", service);
}

static void s_drill_cache_key(const struct bsup_service *svc, char key[BSUP_DOMAIN_KEY_MAX])
{
    bsup_backup_drill_key(svc->service_name, key);
}

static void s_drill_show(struct bsup_backup_observed *o, const struct bsup_drill_record *r,
                         const struct bsup_service *svc, int phase)
{
    s_set_phase(o, phase);
    s_copy(o->drill_instance, sizeof(o->drill_instance), r->instance);
    o->last_drill = r->result;
    s_copy(o->last_drill_text, sizeof(o->last_drill_text),
           r->result == BSUP_DRILL_NONE ? "" : s_result_names[r->result]);
    o->last_drill_at_s = r->result_at_s;
    o->last_drill_restore_s = r->result == BSUP_DRILL_OK ? r->restore_s : 0;
    s_copy(o->last_drill_why, sizeof(o->last_drill_why), r->why);
    int64_t interval = bsup_backup_restore_interval(svc);
    o->next_drill_at_s = interval ? bsup_backup_drill_due(r, interval, o->observed_at_s) : 0;
    o->drill_success = !interval                        ? -1
                       : r->result == BSUP_DRILL_OK     ? 1
                       : r->result == BSUP_DRILL_FAILED ? 0
                                                        : -1;
}

struct s_running {
    const char *self;
    const struct bsup_domain_member *m;
    int n;
};

static void s_count_running(void *ctx, const char *key, const char *value)
{
    struct s_running *c = ctx;
    struct bsup_drill_record r;
    if (strncmp(key, "drill/", 6) != 0 || strcmp(key, c->self) == 0)
        return;
    /* Only a drill that can run holds a slot, or one whose instance stays: its service
     * declared, and in enforce mode, or with its instance made (a service put in observe mode
     * mid-drill keeps it until enforce mode deletes it). A removed service's leftover instance
     * is the sweep's; an observe-mode drill only planned never runs. */
    const struct bsup_service *svc = c->m->lookup ? c->m->lookup(c->m->lookup_ctx, key + 6) : NULL;
    if (!svc)
        return;
    bsup_drill_record_parse(value, &r);
    if ((svc->mode == BSUP_MODE_DEFAULT ? c->m->settings->mode : svc->mode) == BSUP_MODE_ENFORCE)
        c->n += r.state != BSUP_DRILL_STATE_IDLE;
    else
        c->n +=
            r.state == BSUP_DRILL_STATE_CLEANUP || (r.state == BSUP_DRILL_STATE_PLANNED && r.made);
}

static int s_drill_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_backup_observed *o = m->obs;
    const struct bsup_service *svc = m->desired;
    char ck[BSUP_DOMAIN_KEY_MAX];
    struct bsup_drill_record r;
    s_drill_cache_key(svc, ck);
    bsup_drill_record_parse(bsup_domain_cache_get(m->cache, ck), &r);
    int64_t interval = bsup_backup_restore_interval(svc);
    /* A restore goes out only once its instance name is in the database, and only in a run
     * that has seen the service before: a drill belongs to the run that started it. */
    o->drill_ready = m->prev && bsup_domain_cache_saved(m->cache, ck);
    if (r.state != BSUP_DRILL_STATE_IDLE) {
        s_drill_show(o, &r, svc, interval ? BSUP_DRILL_RESTORE_DUE : BSUP_DRILL_OFF);
        snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", r.instance);
        return 1;
    }
    int phase = BSUP_DRILL_OFF;
    if (interval) {
        phase = BSUP_DRILL_IDLE;
        struct s_running running = {ck, m, 0};
        if (o->found && svc->enable_backup && s_snapshot_usable(o) &&
            bsup_backup_drill_due(&r, interval, m->now_s) <= m->now_s) {
            bsup_domain_cache_each(m->cache, s_count_running, &running);
            if (running.n >= BSUP_BACKUP_DRILLS_AT_ONCE) {
                phase = BSUP_DRILL_WAITING;
            } else {
                /* Due: name the instance and save the name; the restore waits for it. */
                char text[256];
                r.state = BSUP_DRILL_STATE_PLANNED;
                r.made = false;
                bsup_backup_drill_name(svc->service_name, m->now_s, r.instance, sizeof(r.instance));
                r.planned_at_s = m->now_s;
                bsup_drill_record_format(&r, text, sizeof(text));
                if (bsup_domain_cache_put(m->cache, ck, text, false) == 0) {
                    phase = BSUP_DRILL_SCHEDULED;
                    o->drill_ready = false;
                } else {
                    r.state = BSUP_DRILL_STATE_IDLE;
                    r.instance[0] = 0;
                }
            }
        }
    }
    s_drill_show(o, &r, svc, phase);
    return 0;
}

static void s_drill_key_fn(const struct bsup_domain_member *m, char *key)
{
    s_copy(key, BSUP_DOMAIN_KEY_MAX, ((const struct bsup_backup_observed *)m->obs)->drill_instance);
    s_lower(key);
}

static int s_drill_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    return s_id_filter(m, n, s_drill_key_fn, out);
}

static bool s_tagged(const struct bsup_rds_instance *in, const char *service)
{
    for (size_t t = 0; t < in->n_tags; t++)
        if (in->tags[t].key && in->tags[t].value &&
            strcmp(in->tags[t].key, BSUP_BACKUP_DRILL_TAG) == 0 &&
            strcmp(in->tags[t].value, service) == 0)
            return true;
    return false;
}

/* Moves one member's drill on with what the answer showed of its instance (NULL: absent). */
static void s_drill_seen(struct bsup_domain_member *m, const struct bsup_rds_instance *in)
{
    struct bsup_backup_observed *o = m->obs;
    const struct bsup_backup_observed *p = m->prev;
    const struct bsup_service *svc = m->desired;
    char ck[BSUP_DOMAIN_KEY_MAX], before[256], after[256];
    struct bsup_drill_record r;
    s_drill_cache_key(svc, ck);
    bsup_drill_record_parse(bsup_domain_cache_get(m->cache, ck), &r);
    bsup_drill_record_format(&r, before, sizeof(before));
    struct bsup_drill_view v = {.found = in != NULL,
                                .ours = in && s_tagged(in, svc->service_name),
                                .status = in ? in->status : NULL};
    bool continuing = p && p->drill_started_s > 0 && strcasecmp(p->drill_instance, r.instance) == 0;
    int64_t started = continuing ? p->drill_started_s : 0;
    int phase = bsup_backup_drill_step(&r, &v, bsup_backup_restore_interval(svc) > 0, continuing,
                                       s_snapshot_usable(o), started, m->now_s);
    bsup_drill_record_format(&r, after, sizeof(after));
    if (strcmp(before, after) != 0)
        bsup_domain_cache_put(m->cache, ck, after, false); /* ENOMEM: the next cycle redoes it */
    s_drill_show(o, &r, svc, phase);
    s_copy(o->drill_status, sizeof(o->drill_status), in ? in->status : "");
    o->drill_started_s = phase == BSUP_DRILL_RESTORING ? started : 0;
}

static int s_drill_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                         struct bsup_diag *diag)
{
    struct bsup_rds_instance_page *pg = calloc(json_array_size(pages) + 1, sizeof(*pg));
    if (!pg)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    int rc = 0;
    size_t np = json_array_size(pages);
    for (size_t k = 0; rc == 0 && k < np; k++)
        if (bsup_rds_instance_page_parse(json_array_get(pages, k), &pg[k]))
            rc = bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeDBInstances");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct bsup_backup_observed *o = m[i]->obs;
        const struct bsup_rds_instance *in = NULL;
        for (size_t k = 0; k < np; k++)
            for (size_t j = 0; j < pg[k].n_instances; j++)
                if (pg[k].instances[j].identifier &&
                    strcasecmp(pg[k].instances[j].identifier, o->drill_instance) == 0)
                    in = &pg[k].instances[j];
        s_drill_seen(m[i], in);
    }
    for (size_t k = 0; k < np; k++)
        bsup_rds_instance_page_cleanup(&pg[k]);
    free(pg);
    return rc;
}

/* ---- step 4: the ElastiCache groups (one DescribeReplicationGroups listing) ---- */

static bool s_cache_declared(const struct bsup_service *svc)
{
    return svc->cache.snapshot_retention > 0 || svc->resources.cache_replication_group;
}

static int s_group_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct bsup_backup_observed *o = m->obs;
    const struct bsup_backup_observed *p = m->prev;
    if (!s_cache_declared(m->desired))
        return 0;
    bsup_service_resource_name(m->desired, "cache_replication_group", o->cache_group,
                               sizeof(o->cache_group));
    s_lower(o->cache_group);
    s_set_seen(&o->cache, o->cache_state, sizeof(o->cache_state), BSUP_SEEN_UNKNOWN);
    if (p && p->cache >= BSUP_SEEN_FOUND && strcmp(p->cache_group, o->cache_group) == 0) {
        s_set_seen(&o->cache, o->cache_state, sizeof(o->cache_state), p->cache);
        o->cache_retention_d = p->cache_retention_d;
        o->cache_at_rest_encrypted = p->cache_at_rest_encrypted;
        o->cache_in_transit_encrypted = p->cache_in_transit_encrypted;
        o->cache_snapshots_read_at_s = p->cache_snapshots_read_at_s;
        o->cache_snapshots = p->cache_snapshots;
        o->cache_snapshot_time_s = p->cache_snapshot_time_s;
        s_cache_age(o);
    }
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "*"); /* one listing for every group */
    return 1;
}

static int s_group_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    (void)m, (void)n;
    return bsup_aws_params_add(out, "MaxRecords", "100");
}

static int s_group_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                         struct bsup_diag *diag)
{
    for (size_t i = 0; i < n; i++) {
        struct bsup_backup_observed *o = m[i]->obs;
        s_set_seen(&o->cache, o->cache_state, sizeof(o->cache_state), BSUP_SEEN_ABSENT);
    }
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_ec_replication_group_page pg = {0};
        if (bsup_ec_replication_group_page_parse(page, &pg)) {
            bsup_ec_replication_group_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeReplicationGroups");
        }
        for (size_t k = 0; k < pg.n_groups; k++) {
            const struct bsup_ec_replication_group *g = &pg.groups[k];
            for (size_t i = 0; g->id && i < n; i++) {
                struct bsup_backup_observed *o = m[i]->obs;
                if (strcasecmp(o->cache_group, g->id) != 0)
                    continue;
                s_set_seen(&o->cache, o->cache_state, sizeof(o->cache_state), BSUP_SEEN_FOUND);
                o->cache_retention_d =
                    g->snapshot_retention_limit_d < 0 ? 0 : g->snapshot_retention_limit_d;
                o->cache_at_rest_encrypted = g->at_rest_encryption_enabled;
                o->cache_in_transit_encrypted = g->transit_encryption_enabled;
            }
        }
        bsup_ec_replication_group_page_cleanup(&pg);
    }
    return 0;
}

/* ---- step 5: the cache's snapshots (paced DescribeSnapshots, one group per call) ---- */

static bool s_cache_snapshots_expected(const struct bsup_backup_observed *o,
                                       const struct bsup_service *svc)
{
    return svc->cache.snapshot_retention > 0 || o->cache_retention_d > 0;
}

static bool s_cache_snapshot_wrong(const struct bsup_backup_observed *o,
                                   const struct bsup_service *svc)
{
    return s_cache_snapshots_expected(o, svc) &&
           (!o->cache_snapshots ||
            (o->cache_snapshot_time_s > 0 &&
             o->observed_at_s - o->cache_snapshot_time_s > svc->backup.max_age_s));
}

static int s_csnap_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const struct bsup_backup_observed *o = m->obs;
    if (o->cache != BSUP_SEEN_FOUND)
        return 0;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", o->cache_group);
    return s_priority(o->cache_snapshots_read_at_s > 0 && s_cache_snapshot_wrong(o, m->desired),
                      o->cache_snapshots_read_at_s, m->now_s);
}

static int s_csnap_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    (void)n; /* one group per call */
    const struct bsup_backup_observed *o = m[0]->obs;
    int rc = bsup_aws_params_add(out, "ReplicationGroupId", o->cache_group);
    return rc ? rc : bsup_aws_params_add(out, "MaxRecords", "50");
}

static int s_csnap_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                         struct bsup_diag *diag)
{
    int64_t count = 0, newest = 0; /* newest: 0 none available, -1 available but undated */
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_ec_snapshot_page pg = {0};
        if (bsup_ec_snapshot_page_parse(page, &pg)) {
            bsup_ec_snapshot_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeSnapshots");
        }
        for (size_t k = 0; k < pg.n_snapshots; k++) {
            const struct bsup_ec_snapshot *s = &pg.snapshots[k];
            if (!s->status || strcmp(s->status, "available") != 0)
                continue;
            count++;
            int64_t t = -1; /* when its nodes were snapshotted, if AWS says */
            for (size_t j = 0; j < s->n_node_snapshots; j++)
                if (s->node_snapshots[j].create_time > t)
                    t = s->node_snapshots[j].create_time;
            if (t > newest || (t < 0 && newest == 0))
                newest = t;
        }
        bsup_ec_snapshot_page_cleanup(&pg);
    }
    for (size_t i = 0; i < n; i++) {
        struct bsup_backup_observed *o = m[i]->obs;
        o->cache_snapshots_read_at_s = m[i]->now_s;
        o->cache_snapshots = count;
        o->cache_snapshot_time_s = newest;
        s_cache_age(o);
    }
    return 0;
}

/* ---- step 6: a secretsmanager: password (paced DescribeSecret; never its value) ---- */

static bool s_secret_wrong(const struct bsup_backup_observed *o, const struct bsup_service *svc)
{
    if (o->secret == BSUP_SEEN_ABSENT || o->secret_deleted)
        return true;
    if (svc->environment != BSUP_ENV_PROD || o->ssm_type[0])
        return false;
    return !o->secret_rotation_enabled || o->secret_last_rotated_s < 0 ||
           o->observed_at_s - o->secret_last_rotated_s > svc->backup.password_max_age_s;
}

/* Carries the secret's reading forward from prev unless the reference changed. */
static void s_secret_carry(const struct bsup_domain_member *m)
{
    struct bsup_backup_observed *o = m->obs;
    const struct bsup_backup_observed *p = m->prev;
    s_set_seen(&o->secret, o->secret_state, sizeof(o->secret_state), BSUP_SEEN_UNKNOWN);
    if (!p || p->secret < BSUP_SEEN_FOUND)
        return;
    s_set_seen(&o->secret, o->secret_state, sizeof(o->secret_state), p->secret);
    o->secret_read_at_s = p->secret_read_at_s;
    o->secret_rotation_enabled = p->secret_rotation_enabled;
    o->secret_last_rotated_s = p->secret_last_rotated_s;
    o->secret_deleted = p->secret_deleted;
    s_copy(o->ssm_type, sizeof(o->ssm_type), p->ssm_type);
}

static int s_secret_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const char *arn = s_secret_ref(m->desired, "secretsmanager:");
    if (!arn || strlen(arn) >= BSUP_DOMAIN_KEY_MAX)
        return 0;
    s_secret_carry(m);
    const struct bsup_backup_observed *o = m->obs;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", arn);
    return s_priority(o->secret_read_at_s > 0 && s_secret_wrong(o, m->desired), o->secret_read_at_s,
                      m->now_s);
}

static int s_secret_build(struct bsup_domain_member *const *m, size_t n, json_t **out)
{
    (void)n; /* one secret per call */
    *out = json_pack("{s:s}", "SecretId", s_secret_ref(m[0]->desired, "secretsmanager:"));
    return *out ? 0 : BSUP_ENOMEM;
}

static int s_secret_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                          struct bsup_diag *diag)
{
    struct bsup_secret_description d = {0};
    bool exists = json_array_size(pages) > 0;
    if (exists && bsup_secret_description_parse(json_array_get(pages, 0), &d)) {
        bsup_secret_description_cleanup(&d);
        return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeSecret");
    }
    for (size_t i = 0; i < n; i++) {
        struct bsup_backup_observed *o = m[i]->obs;
        s_set_seen(&o->secret, o->secret_state, sizeof(o->secret_state),
                   exists ? BSUP_SEEN_FOUND : BSUP_SEEN_ABSENT);
        o->secret_read_at_s = m[i]->now_s;
        o->secret_rotation_enabled = exists && d.rotation_enabled;
        o->secret_last_rotated_s = exists ? d.last_rotated : -1;
        o->secret_deleted = exists && d.deleted > 0;
    }
    bsup_secret_description_cleanup(&d);
    return 0;
}

/* ---- step 7: an ssm: password (paced, batched DescribeParameters; never its value) ---- */

static int s_param_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    const char *name = s_secret_ref(m->desired, "ssm:");
    if (!name || strlen(name) >= BSUP_DOMAIN_KEY_MAX)
        return 0;
    s_secret_carry(m);
    const struct bsup_backup_observed *o = m->obs;
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "%s", name);
    bool wrong = o->secret == BSUP_SEEN_ABSENT || strcmp(o->ssm_type, "SecureString") != 0;
    return s_priority(o->secret_read_at_s > 0 && wrong, o->secret_read_at_s, m->now_s);
}

static int s_param_build(struct bsup_domain_member *const *m, size_t n, json_t **out)
{
    json_t *values = json_array();
    const char *last = "";
    for (size_t i = 0; values && i < n; i++) {
        const char *name = s_secret_ref(m[i]->desired, "ssm:");
        if (strcmp(name, last) == 0)
            continue;
        last = name;
        if (json_array_append_new(values, json_string(name))) {
            json_decref(values);
            values = NULL;
        }
    }
    /* 50: the most values a filter takes, and the most results a page holds. */
    *out = values ? json_pack("{s:[{s:s, s:s, s:o}], s:i}", "ParameterFilters", "Key", "Name",
                              "Option", "Equals", "Values", values, "MaxResults", 50)
                  : NULL;
    return *out ? 0 : BSUP_ENOMEM;
}

/* SSM names with and without the leading '/' are the same parameter. */
static bool s_same_param(const char *a, const char *b)
{
    return strcmp(a + (a[0] == '/'), b + (b[0] == '/')) == 0;
}

static int s_param_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                         struct bsup_diag *diag)
{
    for (size_t i = 0; i < n; i++) {
        struct bsup_backup_observed *o = m[i]->obs;
        s_set_seen(&o->secret, o->secret_state, sizeof(o->secret_state), BSUP_SEEN_ABSENT);
        o->secret_read_at_s = m[i]->now_s;
        o->ssm_type[0] = 0;
    }
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_ssm_parameter_page pg = {0};
        if (bsup_ssm_parameter_page_parse(page, &pg)) {
            bsup_ssm_parameter_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeParameters");
        }
        for (size_t k = 0; k < pg.n_parameters; k++) {
            const struct bsup_ssm_parameter_meta *pm = &pg.parameters[k];
            for (size_t i = 0; pm->name && i < n; i++) {
                struct bsup_backup_observed *o = m[i]->obs;
                if (!s_same_param(pm->name, s_secret_ref(m[i]->desired, "ssm:")))
                    continue;
                s_set_seen(&o->secret, o->secret_state, sizeof(o->secret_state), BSUP_SEEN_FOUND);
                s_copy(o->ssm_type, sizeof(o->ssm_type), pm->type);
            }
        }
        bsup_ssm_parameter_page_cleanup(&pg);
    }
    return 0;
}

/* ---- plan ---- */

/* Adds a change to the last action of kind on resource, or to a new one when there is none
 * or it is full. */
static int s_add(struct bsup_plan *plan, enum bsup_action_kind kind, const char *resource,
                 const char *field, const char *observed, const char *desired, const char *reason)
{
    struct bsup_action *a = NULL;
    for (size_t i = plan->n_actions; i > 0 && !a; i--) {
        struct bsup_action *x = &plan->actions[i - 1];
        if (x->kind == kind && strcmp(x->resource, resource) == 0 &&
            x->n_changes < BSUP_PLAN_MAX_CHANGES)
            a = x;
    }
    if (!a && !(a = bsup_plan_add(plan, kind, resource)))
        return BSUP_ENOMEM;
    bsup_action_change(a, field, observed, desired, reason);
    return 0;
}

static int s_plan_db(const struct bsup_service *svc, const struct bsup_backup_observed *o,
                     const char *res, struct bsup_plan *plan)
{
    char obs[300], want[64], age[24], max[24];
    int rc = 0;
    bool enc = bsup_backup_require_encryption(svc);
    bsup_duration_format(svc->backup.max_age_s, max, sizeof(max));
    if (svc->enable_backup && o->retention_d != svc->backup_retention) {
        snprintf(obs, sizeof(obs), "%lld", (long long)o->retention_d);
        snprintf(want, sizeof(want), "%lld", (long long)svc->backup_retention);
        if (o->retention_d == 0 && !svc->backup.allow_disruptive)
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "BackupRetentionPeriod", "0 (backups off)",
                       want,
                       "backup_retention in the drop-in; turning automated backups on restarts "
                       "the instance, so bsupd does it only with backup.allow_disruptive: true");
        else
            rc = s_add(plan, BSUP_ACTION_UPDATE, res, "BackupRetentionPeriod", obs, want,
                       o->retention_d == 0
                           ? "backup_retention in the drop-in; backup.allow_disruptive: true "
                             "allows the restart that turning backups on takes"
                           : "backup_retention in the drop-in (applied immediately, no restart)");
    }
    /* The newest available automated snapshot, once read (a paced read may not have come). */
    if (rc == 0 && o->snapshots_read_at_s > 0 && (svc->enable_backup || o->retention_d > 0)) {
        snprintf(want, sizeof(want), "younger than %s", max);
        if (!o->snapshot[0]) {
            if (o->snapshots)
                snprintf(obs, sizeof(obs), "none available (newest %s)", o->newest_status);
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "AutomatedSnapshot",
                       o->snapshots ? obs : "none", want,
                       "backup.max_age: without a recent automated snapshot the data cannot be "
                       "brought back to a recent point");
        } else if (o->observed_at_s - o->snapshot_time_s > svc->backup.max_age_s) {
            s_age(o->observed_at_s - o->snapshot_time_s, age, sizeof(age));
            snprintf(obs, sizeof(obs), "%s old (%s)", age, o->snapshot);
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "AutomatedSnapshot", obs, want,
                       "backup.max_age: the newest automated snapshot is older than a day plus "
                       "the backup window allows");
        }
        if (rc == 0 && o->snapshot[0] && enc && !o->snapshot_encrypted)
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "SnapshotEncrypted", "false", "true",
                       "backup.require_encryption: the snapshot's data is not encrypted");
    }
    if (rc == 0 && enc && !o->storage_encrypted)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "StorageEncrypted", "false", "true",
                   "backup.require_encryption: encryption is chosen when an instance is created "
                   "(restore an encrypted copy to change it)");
    if (rc == 0 && svc->environment == BSUP_ENV_PROD && !o->deletion_protection)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "DeletionProtection", "false", "true",
                   "prod: a production database is protected from deletion");
    if (rc == 0 && strcmp(o->db_name, svc->database_name) != 0)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "DBName", o->db_name[0] ? o->db_name : "(none)",
                   svc->database_name, "database_name in the drop-in");
    if (rc == 0 && strcmp(o->master_username, svc->database_username) != 0)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "MasterUsername", o->master_username,
                   svc->database_username, "database_username in the drop-in");
    return rc;
}

static int s_plan_drill(const struct bsup_service *svc, const struct bsup_backup_observed *o,
                        const char *res, struct bsup_plan *plan)
{
    char dres[128], obs[128], age[24];
    int rc = 0;
    snprintf(dres, sizeof(dres), "rds-instance/%s", o->drill_instance);
    if (o->drill_phase == BSUP_DRILL_RESTORE_DUE && o->drill_ready && o->found &&
        s_snapshot_usable(o))
        rc = s_add(plan, BSUP_ACTION_UPDATE, dres, "DBSnapshotIdentifier", "(drill due)",
                   o->snapshot,
                   "backup.restore_test: restore the newest automated snapshot into a tagged "
                   "throwaway instance, wait for it to be available, then delete it");
    if (rc == 0 && o->drill_phase == BSUP_DRILL_CLEANUP) {
        if (o->last_drill == BSUP_DRILL_OK) {
            s_age(o->last_drill_restore_s, age, sizeof(age));
            snprintf(obs, sizeof(obs), "%s: restored in %s", o->drill_status, age);
        } else {
            snprintf(obs, sizeof(obs), "%s: drill %s", o->drill_status, o->last_drill_text);
        }
        rc = s_add(plan, BSUP_ACTION_UPDATE, dres, "DBInstanceStatus", obs, "deleted",
                   "the restore drill is over: its instance is deleted, without a final snapshot");
        if (rc == 0) /* deleting bsupd's own throwaway instance is not a change to damp */
            plan->actions[plan->n_actions - 1].cleanup = true;
    }
    if (rc == 0 && o->drill_phase == BSUP_DRILL_CONFLICT) {
        snprintf(obs, sizeof(obs), "no %s=%s tag", BSUP_BACKUP_DRILL_TAG, svc->service_name);
        rc = s_add(plan, BSUP_ACTION_FINDING, dres, "Tags", obs, BSUP_BACKUP_DRILL_TAG,
                   "an instance has the drill's name but is not bsupd's: it is left alone, and "
                   "no drill runs until it is gone");
    }
    /* With restore_test off no drill runs again: the last one's result judges nothing. */
    bool on = bsup_backup_restore_interval(svc) > 0;
    bool refused = strncmp(o->last_drill_why, "refused-", 8) == 0;
    if (rc == 0 && on && o->last_drill == BSUP_DRILL_FAILED) {
        if (refused)
            snprintf(obs, sizeof(obs), "could not start: %s%s%.90s", o->last_drill_why + 8,
                     o->drill_refused[0] ? ": " : "", o->drill_refused);
        else
            snprintf(obs, sizeof(obs), "failed: %s", o->last_drill_why);
        rc = s_add(plan, BSUP_ACTION_DEGRADED, res, "RestoreDrill", obs, "available",
                   refused ? "AWS refused to restore the newest automated snapshot: the backups "
                             "may not bring the data back (a new drill runs within a day)"
                           : "the newest automated snapshot did not restore: the backups may "
                             "not bring the data back (a new drill runs within a day)");
    }
    if (rc == 0 && on && o->last_drill == BSUP_DRILL_INTERRUPTED &&
        strcmp(o->last_drill_why, "deleted") == 0)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "RestoreDrill", "interrupted", "completed",
                   "the drill's instance was deleted, not by bsupd, before it was available; "
                   "the next drill runs within a day");
    else if (rc == 0 && on && o->last_drill == BSUP_DRILL_INTERRUPTED)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "RestoreDrill", "interrupted", "completed",
                   "bsupd stopped during the drill (or restore_test was turned off): its "
                   "instance was deleted; the next drill runs within a day");
    return rc;
}

static int s_plan_cache(const struct bsup_service *svc, const struct bsup_backup_observed *o,
                        struct bsup_plan *plan)
{
    char res[128], obs[64], want[64], age[24], max[24];
    int rc = 0;
    snprintf(res, sizeof(res), "elasticache-group/%s", o->cache_group);
    if (o->cache == BSUP_SEEN_ABSENT) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_MISSING, res);
        if (!a)
            return BSUP_ENOMEM;
        bsup_action_change(a, "ReplicationGroup", "absent", "exists",
                           "cache.snapshot_retention or resources.cache_replication_group declares "
                           "it; bsupd never creates one");
        return 0;
    }
    if (o->cache != BSUP_SEEN_FOUND)
        return 0;
    if (svc->cache.snapshot_retention > 0 &&
        o->cache_retention_d != svc->cache.snapshot_retention) {
        snprintf(obs, sizeof(obs), "%lld", (long long)o->cache_retention_d);
        snprintf(want, sizeof(want), "%lld", (long long)svc->cache.snapshot_retention);
        rc = s_add(plan, BSUP_ACTION_REPORT, res, "SnapshotRetentionLimit", obs, want,
                   "cache.snapshot_retention in the drop-in; reported, not changed (bsupd does "
                   "not modify replication groups)");
    }
    if (rc == 0 && o->cache_snapshots_read_at_s > 0 && s_cache_snapshots_expected(o, svc)) {
        bsup_duration_format(svc->backup.max_age_s, max, sizeof(max));
        snprintf(want, sizeof(want), "younger than %s", max);
        if (!o->cache_snapshots) {
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "Snapshot", "none", want,
                       "backup.max_age: the cache has no available snapshot");
        } else if (o->cache_snapshot_time_s > 0 &&
                   o->observed_at_s - o->cache_snapshot_time_s > svc->backup.max_age_s) {
            s_age(o->observed_at_s - o->cache_snapshot_time_s, age, sizeof(age));
            snprintf(obs, sizeof(obs), "%s old", age);
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "Snapshot", obs, want,
                       "backup.max_age: the cache's newest snapshot is too old");
        }
    }
    if (rc == 0 && bsup_backup_require_encryption(svc) && !o->cache_at_rest_encrypted)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "AtRestEncryptionEnabled", "false", "true",
                   "backup.require_encryption: the cache's data and snapshots are not encrypted");
    if (rc == 0 && bsup_backup_require_encryption(svc) && !o->cache_in_transit_encrypted)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "TransitEncryptionEnabled", "false", "true",
                   "backup.require_encryption: the cache is reached without TLS");
    return rc;
}

/* The resource the password's lines name, as their ARNs do: secret/<name-suffix>,
 * ssm-parameter/<name without its '/'> ("" when the password names neither). */
static void s_secret_resource(const struct bsup_service *svc, char *res, size_t len)
{
    const char *arn = s_secret_ref(svc, "secretsmanager:");
    const char *name = s_secret_ref(svc, "ssm:");
    if (arn && strstr(arn, ":secret:"))
        arn = strstr(arn, ":secret:") + 8;
    if (arn || name)
        snprintf(res, len, "%s/%s", arn ? "secret" : "ssm-parameter",
                 arn ? arn : name + (name[0] == '/'));
    else
        res[0] = 0;
}

static int s_plan_secret(const struct bsup_service *svc, const struct bsup_backup_observed *o,
                         struct bsup_plan *plan)
{
    char res[280], obs[64], want[64], max[24];
    const char *arn = s_secret_ref(svc, "secretsmanager:");
    const char *name = s_secret_ref(svc, "ssm:");
    int rc = 0;
    s_secret_resource(svc, res, sizeof(res));
    if (o->secret == BSUP_SEEN_ABSENT)
        return s_add(plan, BSUP_ACTION_FINDING, res, arn ? "Secret" : "Parameter", "absent",
                     "exists",
                     "database_password names it: without it the database password cannot be "
                     "read");
    if (o->secret != BSUP_SEEN_FOUND)
        return 0;
    if (name) {
        if (strcmp(o->ssm_type, "SecureString") != 0)
            rc = s_add(plan, BSUP_ACTION_FINDING, res, "Type", o->ssm_type, "SecureString",
                       "a database password parameter is stored encrypted (SecureString)");
        return rc;
    }
    if (o->secret_deleted)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "Secret", "scheduled for deletion", "exists",
                   "database_password names it: it is about to be deleted");
    if (svc->environment != BSUP_ENV_PROD)
        return rc;
    if (rc == 0 && !o->secret_rotation_enabled)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "RotationEnabled", "false", "true",
                   "prod: the database password rotates");
    bsup_duration_format(svc->backup.password_max_age_s, max, sizeof(max));
    snprintf(want, sizeof(want), "within %s", max);
    if (rc == 0 && o->secret_last_rotated_s <= 0)
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "LastRotatedDate", "never", want,
                   "prod: backup.password_max_age");
    else if (rc == 0 &&
             o->observed_at_s - o->secret_last_rotated_s > svc->backup.password_max_age_s) {
        s_age(o->observed_at_s - o->secret_last_rotated_s, obs, sizeof(obs));
        strncat(obs, " ago", sizeof(obs) - strlen(obs) - 1);
        rc = s_add(plan, BSUP_ACTION_FINDING, res, "LastRotatedDate", obs, want,
                   "prod: backup.password_max_age");
    }
    return rc;
}

int bsup_backup_plan(const struct bsup_service *svc, const struct bsup_backup_observed *o,
                     struct bsup_plan *plan)
{
    char res[128];
    snprintf(res, sizeof(res), "rds-instance/%s", o->db);
    int rc = 0;
    if (!o->found) {
        struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_MISSING, res);
        if (!a)
            return BSUP_ENOMEM;
        bsup_action_change(a, "DBInstance", "absent", "exists",
                           "bsupd never creates databases: create it, or name the right one in "
                           "resources.db_instance");
    } else {
        rc = s_plan_db(svc, o, res, plan);
    }
    if (rc == 0)
        rc = s_plan_drill(svc, o, res, plan);
    if (rc == 0)
        rc = s_plan_cache(svc, o, plan);
    if (rc == 0)
        rc = s_plan_secret(svc, o, plan);
    return rc;
}

static int s_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    return bsup_backup_plan(desired, obs, plan);
}

/* The lines a paced or failed read judges, while it has not come: the database's snapshot
 * lines, the cache's (all of them while its group was not read, else its snapshot line) and
 * the password's. */
static bool s_unjudged(const struct bsup_service *desired, const void *obs, const char *resource,
                       const char *field)
{
    const struct bsup_backup_observed *o = obs;
    char res[280];
    snprintf(res, sizeof(res), "rds-instance/%s", o->db);
    if (o->found && strcmp(resource, res) == 0)
        return o->snapshots_read_at_s == 0 && (desired->enable_backup || o->retention_d > 0) &&
               (strcmp(field, "AutomatedSnapshot") == 0 || strcmp(field, "SnapshotEncrypted") == 0);
    snprintf(res, sizeof(res), "elasticache-group/%s", o->cache_group);
    if (o->cache_group[0] && strcmp(resource, res) == 0)
        return o->cache == BSUP_SEEN_UNKNOWN ||
               (o->cache == BSUP_SEEN_FOUND && o->cache_snapshots_read_at_s == 0 &&
                s_cache_snapshots_expected(o, desired) && strcmp(field, "Snapshot") == 0);
    s_secret_resource(desired, res, sizeof(res));
    return o->secret == BSUP_SEEN_UNKNOWN && res[0] && strcmp(resource, res) == 0;
}

/* ---- changes: ModifyDBInstance, RestoreDBInstanceFromDBSnapshot, DeleteDBInstance ---- */

static int s_request(const struct bsup_service *desired, const void *obs,
                     const struct bsup_action *a, const char **out_action,
                     struct bsup_aws_params *out)
{
    const struct bsup_backup_observed *o = obs;
    const char *prefix = "rds-instance/";
    if (strncmp(a->resource, prefix, strlen(prefix)) != 0)
        return BSUP_EINVAL;
    const char *id = a->resource + strlen(prefix);
    const struct bsup_change *c;
    int rc;
    if ((c = bsup_action_find_change(a, "BackupRetentionPeriod"))) {
        *out_action = "ModifyDBInstance";
        rc = bsup_aws_params_add(out, "DBInstanceIdentifier", id);
        if (rc == 0)
            rc = bsup_aws_params_add(out, "BackupRetentionPeriod", c->desired);
        return rc ? rc : bsup_aws_params_add(out, "ApplyImmediately", "true");
    }
    /* The drill: only ever an instance of bsupd's own name. */
    if (strncmp(id, "bsup-restore-", 13) != 0)
        return BSUP_EINVAL;
    if ((c = bsup_action_find_change(a, "DBSnapshotIdentifier"))) {
        *out_action = "RestoreDBInstanceFromDBSnapshot";
        rc = bsup_aws_params_add(out, "DBInstanceIdentifier", id);
        if (rc == 0)
            rc = bsup_aws_params_add(out, "DBSnapshotIdentifier", c->desired);
        if (rc == 0 && desired->backup.restore_instance_class)
            rc =
                bsup_aws_params_add(out, "DBInstanceClass", desired->backup.restore_instance_class);
        if (rc == 0 && o->subnet_group[0])
            rc = bsup_aws_params_add(out, "DBSubnetGroupName", o->subnet_group);
        if (rc == 0)
            rc = bsup_aws_params_add(out, "MultiAZ", "false");
        if (rc == 0)
            rc = bsup_aws_params_add(out, "PubliclyAccessible", "false");
        if (rc == 0)
            rc = bsup_aws_params_add(out, "DeletionProtection", "false");
        if (rc == 0)
            rc = bsup_aws_params_add(out, "CopyTagsToSnapshot", "false");
        if (rc == 0)
            rc = bsup_aws_params_add(out, "Tags.Tag.1.Key", BSUP_BACKUP_DRILL_TAG);
        if (rc == 0)
            rc = bsup_aws_params_add(out, "Tags.Tag.1.Value", desired->service_name);
        if (rc == 0)
            rc = bsup_aws_params_add(out, "Tags.Tag.2.Key", BSUP_OWNER_TAG);
        return rc ? rc
                  : bsup_aws_params_add(out, "Tags.Tag.2.Value",
                                        o->owner[0] ? o->owner : BSUP_OWNER_DEFAULT);
    }
    if (bsup_action_find_change(a, "DBInstanceStatus")) {
        *out_action = "DeleteDBInstance";
        rc = bsup_aws_params_add(out, "DBInstanceIdentifier", id);
        if (rc == 0)
            rc = bsup_aws_params_add(out, "SkipFinalSnapshot", "true");
        return rc ? rc : bsup_aws_params_add(out, "DeleteAutomatedBackups", "true");
    }
    return BSUP_EINVAL;
}

static void s_applied(void *obs, const struct bsup_action *a)
{
    struct bsup_backup_observed *o = obs;
    const struct bsup_change *c = bsup_action_find_change(a, "BackupRetentionPeriod");
    if (c) {
        o->retention_d = strtoll(c->desired, NULL, 10);
        o->retention_ok = true; /* the value the drop-in asks for */
    } else if (bsup_action_find_change(a, "DBSnapshotIdentifier")) {
        s_set_phase(o, BSUP_DRILL_RESTORING);
        o->drill_started_s = o->observed_at_s; /* the next cycles see it as this run's */
        s_copy(o->drill_status, sizeof(o->drill_status), "creating");
    } else if (bsup_action_find_change(a, "DBInstanceStatus")) {
        s_set_phase(o, BSUP_DRILL_DELETING);
        s_copy(o->drill_status, sizeof(o->drill_status), "deleting");
    }
}

/* AWS refused the drill's restore for good (a quota, a parameter, a snapshot it cannot
 * restore): no instance was made, so the drill failed without starting. It is recorded as
 * failed, the next one due a day later, instead of the restore being sent again each cycle. */
static bool s_refused(struct bsup_domain_member *m, const struct bsup_action *a, const char *code,
                      const char *message)
{
    struct bsup_backup_observed *o = m->obs;
    char ck[BSUP_DOMAIN_KEY_MAX], why[64], text[256];
    struct bsup_drill_record r;
    if (!bsup_action_find_change(a, "DBSnapshotIdentifier"))
        return false;
    s_drill_cache_key(m->desired, ck);
    bsup_drill_record_parse(bsup_domain_cache_get(m->cache, ck), &r);
    snprintf(why, sizeof(why), "refused-%s", code);
    s_end(&r, BSUP_DRILL_FAILED, why, m->now_s);
    int phase = s_idle(&r, bsup_backup_restore_interval(m->desired) > 0);
    bsup_drill_record_format(&r, text, sizeof(text));
    if (bsup_domain_cache_put(m->cache, ck, text, false))
        return false;
    s_drill_show(o, &r, m->desired, phase);
    s_copy(o->drill_status, sizeof(o->drill_status), "");
    o->drill_started_s = 0;
    s_copy(o->drill_refused, sizeof(o->drill_refused), message);
    return true;
}

/* ---- the table entry ---- */

#define S_FIELD(json, ftype, member)                                                               \
    {                                                                                              \
        .name = json, .type = ftype, .offset = offsetof(struct bsup_backup_observed, member)       \
    }

static const struct bsup_field s_fields[] = {
    S_FIELD("found", BSUP_FIELD_BOOL, found),
    S_FIELD("name", BSUP_FIELD_STRING, db),
    S_FIELD("status", BSUP_FIELD_STRING, status),
    S_FIELD("backup_retention", BSUP_FIELD_INT64, retention_d),
    S_FIELD("retention_ok", BSUP_FIELD_BOOL, retention_ok),
    S_FIELD("storage_encrypted", BSUP_FIELD_BOOL, storage_encrypted),
    S_FIELD("deletion_protection", BSUP_FIELD_BOOL, deletion_protection),
    S_FIELD("automated_snapshots", BSUP_FIELD_INT64, snapshots),
    S_FIELD("newest_snapshot", BSUP_FIELD_STRING, snapshot),
    {.name = "newest_backup_age_s",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_backup_observed, backup_age_s),
     .metric = "BackupAgeSeconds"},
    S_FIELD("snapshot_encrypted", BSUP_FIELD_BOOL, snapshot_encrypted),
    S_FIELD("snapshots_read_at", BSUP_FIELD_INT64, snapshots_read_at_s),
    S_FIELD("drill", BSUP_FIELD_STRING, drill),
    S_FIELD("drill_active", BSUP_FIELD_BOOL, drill_active),
    S_FIELD("drill_instance", BSUP_FIELD_STRING, drill_instance),
    S_FIELD("drill_status", BSUP_FIELD_STRING, drill_status),
    S_FIELD("drill_started_at", BSUP_FIELD_INT64, drill_started_s),
    S_FIELD("last_drill", BSUP_FIELD_STRING, last_drill_text),
    S_FIELD("last_drill_at", BSUP_FIELD_INT64, last_drill_at_s),
    S_FIELD("last_drill_restore_s", BSUP_FIELD_INT64, last_drill_restore_s),
    S_FIELD("last_drill_why", BSUP_FIELD_STRING, last_drill_why),
    {.name = "drill_success",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_backup_observed, drill_success),
     .metric = "RestoreDrillSuccess"},
    S_FIELD("next_drill_at", BSUP_FIELD_INT64, next_drill_at_s),
    S_FIELD("cache", BSUP_FIELD_STRING, cache_state),
    S_FIELD("cache_group", BSUP_FIELD_STRING, cache_group),
    S_FIELD("cache_snapshot_retention", BSUP_FIELD_INT64, cache_retention_d),
    S_FIELD("cache_at_rest_encrypted", BSUP_FIELD_BOOL, cache_at_rest_encrypted),
    S_FIELD("cache_in_transit_encrypted", BSUP_FIELD_BOOL, cache_in_transit_encrypted),
    S_FIELD("cache_snapshots", BSUP_FIELD_INT64, cache_snapshots),
    {.name = "cache_newest_backup_age_s",
     .type = BSUP_FIELD_INT64,
     .offset = offsetof(struct bsup_backup_observed, cache_backup_age_s),
     .metric = "CacheBackupAgeSeconds"},
    S_FIELD("secret", BSUP_FIELD_STRING, secret_state),
    S_FIELD("secret_rotation_enabled", BSUP_FIELD_BOOL, secret_rotation_enabled),
    S_FIELD("secret_last_rotated_at", BSUP_FIELD_INT64, secret_last_rotated_s),
    S_FIELD("ssm_type", BSUP_FIELD_STRING, ssm_type),
};

static const char *const s_secret_absent[] = {"ResourceNotFoundException", NULL};
static const char *const s_group_absent[] = {"ReplicationGroupNotFoundFault", NULL};

enum { S_STEP_CACHE_GROUP = 3 }; /* DescribeReplicationGroups' index in s_steps */

static const struct bsup_observe_step s_steps[] = {
    /* 100 identifiers per call: the API documents no maximum for a filter's values, and the
     * answer for 100 fits one page (MaxRecords 100). */
    {.service = "rds",
     .action = "DescribeDBInstances",
     .batch_max = 100,
     .flags = BSUP_OBSERVE_ALL_PAGES,
     .prepare = s_db_prepare,
     .build = s_db_build,
     .parse = s_db_parse},
    /* Snapshots change once a day: paced to about 25 instances per batch at the default RDS
     * budget and interval, the rest carried forward. Up to 100 instances a call: AWS answers
     * in pages of 100 snapshots, so what costs is the snapshots, not how they are grouped. */
    {.service = "rds",
     .action = "DescribeDBSnapshots",
     .batch_max = 100,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL,
     .budget_share = 0.07,
     .prepare = s_snap_prepare,
     .build = s_snap_build,
     .parse = s_snap_parse},
    /* Drills in progress (at most BSUP_BACKUP_DRILLS_AT_ONCE): not optional, so no restore
     * goes out while the state of an earlier one is unknown. */
    {.service = "rds",
     .action = "DescribeDBInstances",
     .batch_max = 100,
     .flags = BSUP_OBSERVE_ALL_PAGES,
     .prepare = s_drill_prepare,
     .build = s_drill_build,
     .parse = s_drill_parse},
    /* Report-only from here: a failed read keeps the last one and only logs. The cache and
     * the password read nothing of the database's steps, so they go out with the first. */
    {.service = "elasticache", /* index S_STEP_CACHE_GROUP */
     .action = "DescribeReplicationGroups",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL | BSUP_OBSERVE_NEEDS,
     .prepare = s_group_prepare,
     .build = s_group_build,
     .parse = s_group_parse},
    {.service = "elasticache",
     .action = "DescribeSnapshots",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL | BSUP_OBSERVE_NEEDS,
     .needs = 1u << S_STEP_CACHE_GROUP,
     .budget_share = 0.01,
     .prepare = s_csnap_prepare,
     .build = s_csnap_build,
     .parse = s_csnap_parse,
     .absent_codes = s_group_absent},
    {.service = "secretsmanager",
     .action = "DescribeSecret",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_OPTIONAL | BSUP_OBSERVE_NEEDS,
     .budget_share = 0.01,
     .prepare = s_secret_prepare,
     .build_json = s_secret_build,
     .parse = s_secret_parse,
     .absent_codes = s_secret_absent},
    /* 50: the most values a ParameterFilters entry takes. */
    {.service = "ssm",
     .action = "DescribeParameters",
     .batch_max = 50,
     .flags = BSUP_OBSERVE_ALL_PAGES | BSUP_OBSERVE_OPTIONAL | BSUP_OBSERVE_NEEDS,
     .budget_share = 0.1,
     .prepare = s_param_prepare,
     .build_json = s_param_build,
     .parse = s_param_parse},
};

/* Alerts of their own (core/metrics/alerts.h): the database's newest automated snapshot too
 * old or missing, the cache's newest snapshot too old or none (a condition of its own, so
 * one clearing never says the other is fine), and a failed restore drill. */
static const struct bsup_domain_event s_events[] = {
    {.kind = BSUP_ACTION_FINDING,
     .field = "AutomatedSnapshot",
     .appeared = "backup.stale",
     .cleared = "backup.ok"},
    {.kind = BSUP_ACTION_FINDING,
     .field = "Snapshot",
     .appeared = "cache.backup_stale",
     .cleared = "cache.backup_ok"},
    {.kind = BSUP_ACTION_DEGRADED, .field = "RestoreDrill", .appeared = "drill.failed"},
    {0},
};

const struct bsup_domain bsup_backup_domain = {
    .name = "backup",
    .resource = "backed-up resource",
    .obs_size = sizeof(struct bsup_backup_observed),
    .found_offset = offsetof(struct bsup_backup_observed, found),
    .fields = s_fields,
    .n_fields = sizeof(s_fields) / sizeof(s_fields[0]),
    .steps = s_steps,
    .n_steps = sizeof(s_steps) / sizeof(s_steps[0]),
    .events = s_events,
    .plan = s_plan,
    .request = s_request,
    .mutate_service = "rds",
    .unjudged = s_unjudged,
    .applied = s_applied,
    .refused = s_refused,
};
