#include "daemon/sweep.h"

#include "core/aws/results.h"
#include "core/base/strmap.h"
#include "core/reconcile/alarms.h"
#include "core/reconcile/backup.h"
#include "daemon/log.h"
#include "store/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct bsup_sweep {
    struct bsup_sweep_options o;
    uv_timer_t timer;
    bool busy;     /* a call in flight */
    bool again;    /* a reload during a round: another round right after it */
    bool in_round; /* from the timer to s_round_end */
    bool closing;
    bool timer_closed;
    bsup_close_fn close_cb;
    void *close_user;
    /* The round in progress: alarms whose service is gone, as (name, arn); those checked. */
    char **names;
    char **arns;
    size_t n, checked;
    char **doomed; /* tagged as bsupd's: deleted */
    size_t n_doomed, deleted;
    /* Restore-drill instances whose service is gone, and that service; the next to delete. */
    char **drills;
    char **drill_services;
    size_t n_drills, drill;
    /* Another bsupd's (its bsup:owner tag): left alone, said once per round. */
    size_t others;
    char other[BSUP_ALARM_NAME_MAX]; /* the first of them */
    /* Alarm names whose tags said another bsupd's, or none: not asked again for a day, so
     * another bsupd's many alarms neither spend every round's ListTagsForResource nor fill its
     * candidates (BSUP_SWEEP_MAX_DELETES) before this one's leftovers. */
    struct bsup_strmap foreign;
};

/* An entry of foreign: its name (the key) and when its tags were read. */
struct s_foreign {
    int64_t at_s;
    char name[];
};

#define S_FOREIGN_MAX 100000
#define S_FOREIGN_FOR_S 86400

/* Remembers that name's tags say it is not this bsupd's (at most S_FOREIGN_MAX names). */
static void s_foreign_add(struct bsup_sweep *s, const char *name)
{
    size_t len = strlen(name);
    struct s_foreign *f = s->foreign.n < S_FOREIGN_MAX ? malloc(sizeof(*f) + len + 1) : NULL;
    if (!f)
        return;
    f->at_s = (int64_t)time(NULL);
    memcpy(f->name, name, len + 1);
    void *was = bsup_strmap_get(&s->foreign, f->name);
    if (bsup_strmap_put(&s->foreign, f->name, f))
        free(f);
    else
        free(was);
}

/* Whether name is known as not this bsupd's (an entry a day old is forgotten: read again). */
static bool s_foreign(struct bsup_sweep *s, const char *name)
{
    struct s_foreign *f = bsup_strmap_get(&s->foreign, name);
    if (f && (int64_t)time(NULL) - f->at_s < S_FOREIGN_FOR_S)
        return true;
    if (f) {
        bsup_strmap_del(&s->foreign, name);
        free(f);
    }
    return false;
}

static void s_alarms_start(struct bsup_sweep *s);

static void on_timer(uv_timer_t *t);

/* Counts a leftover of a service this bsupd does not declare that is another owner's. */
static void s_other(struct bsup_sweep *s, const char *name)
{
    if (s->others++ == 0)
        snprintf(s->other, sizeof(s->other), "%s", name);
}

/* Frees the round's lists; a round asked for meanwhile starts next. */
static void s_round_end(struct bsup_sweep *s)
{
    if (s->others && !s->closing)
        bsup_log_info("sweep: %zu alarms or restore-drill instances of services not declared here "
                      "are another bsupd's (%s other than %s), left alone: %s%s",
                      s->others, BSUP_OWNER_TAG, s->o.settings->owner, s->other,
                      s->others > 1 ? " and others" : "");
    s->others = 0;
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->arns[i]);
    }
    free(s->names);
    free(s->arns);
    free(s->doomed); /* points into names */
    s->names = s->arns = s->doomed = NULL;
    s->n = s->checked = s->n_doomed = s->deleted = 0;
    for (size_t i = 0; i < s->n_drills; i++) {
        free(s->drills[i]);
        free(s->drill_services[i]);
    }
    free(s->drills);
    free(s->drill_services);
    s->drills = s->drill_services = NULL;
    s->n_drills = s->drill = 0;
    s->in_round = false;
    if (s->again && !s->closing) {
        s->again = false;
        uv_timer_start(&s->timer, on_timer, 0, (uint64_t)BSUP_SWEEP_EVERY_S * 1000);
    }
}

static void s_maybe_closed(struct bsup_sweep *s)
{
    if (!s->closing || !s->timer_closed || s->busy)
        return;
    bsup_close_fn cb = s->close_cb;
    void *user = s->close_user;
    s_round_end(s);
    bsup_strmap_cleanup_free(&s->foreign);
    free(s);
    if (cb)
        cb(user);
}

/* Whether the round may change AWS: the daemon enforces, is not paused, not a dry run, and
 * no drop-in is rejected (what a broken file declares is unknown: a service moved into it
 * is not gone). */
static bool s_may_delete(const struct bsup_sweep *s)
{
    return s->o.settings->mode == BSUP_MODE_ENFORCE && !*s->o.paused && !s->o.dry_run &&
           *s->o.files_rejected == 0;
}

/* Why the round deletes nothing, when it may not. */
static const char *s_why_not(const struct bsup_sweep *s)
{
    return *s->o.paused           ? "paused"
           : s->o.dry_run         ? "dry run"
           : *s->o.files_rejected ? "a drop-in is rejected and may declare it"
                                  : "observe mode";
}

static void s_next(struct bsup_sweep *s);

static void on_deleted(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct bsup_sweep *s = user;
    s->busy = false;
    size_t first = s->deleted, n = s->n_doomed - first < 100 ? s->n_doomed - first : 100;
    s->deleted += n;
    if (res->err) {
        if (res->err != BSUP_ECANCELED)
            bsup_log_warn("sweep: DeleteAlarms failed, tried again next round: %s", res->message);
        s->deleted = s->n_doomed; /* the round ends */
    } else {
        struct bsup_diag diag = {0};
        bool tx = bsup_store_begin(s->o.store, &diag) == 0;
        for (size_t i = first; i < first + n; i++) {
            char msg[400];
            snprintf(msg, sizeof(msg), "%s deleted: its service is no longer declared",
                     s->doomed[i]);
            bsup_log_notice("alarm deleted alarm=%s reason=service-removed", s->doomed[i]);
            tx = tx && bsup_store_event_add(s->o.store, (int64_t)time(NULL), NULL, "alarm.deleted",
                                            msg, NULL, &diag) == 0;
        }
        if (!tx || bsup_store_commit(s->o.store, &diag)) {
            bsup_store_rollback(s->o.store);
            bsup_log_err("sweep: %s", diag.message);
        }
    }
    s_next(s);
    s_maybe_closed(s);
}

static void on_tags(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct bsup_sweep *s = user;
    s->busy = false;
    if (res->err == BSUP_ECANCELED) {
        s_round_end(s);
        s_maybe_closed(s);
        return;
    }
    size_t i = s->checked++;
    struct bsup_cw_tags tags = {0};
    if (res->err == 0 && bsup_cw_tags_parse(json_array_get(res->pages, 0), &tags) == 0) {
        const char *owner = NULL;
        for (size_t t = 0; t < tags.n_tags; t++)
            if (tags.tags[t].key && tags.tags[t].value &&
                strcmp(tags.tags[t].key, BSUP_OWNER_TAG) == 0)
                owner = tags.tags[t].value;
        if (bsup_owner_is(owner, s->o.settings->owner, false)) {
            s->doomed[s->n_doomed++] = s->names[i];
        } else {
            if (owner)
                s_other(s, s->names[i]);
            else
                bsup_log_info("sweep: %s is not tagged %s=%s: left alone", s->names[i],
                              BSUP_OWNER_TAG, s->o.settings->owner);
            s_foreign_add(s, s->names[i]);
        }
    } else {
        bsup_log_warn("sweep: cannot read the tags of %s, left for the next round: %s", s->names[i],
                      res->err ? res->message : "cannot read the answer");
    }
    bsup_cw_tags_cleanup(&tags);
    s_next(s);
    s_maybe_closed(s);
}

/* Whether the service of alarm name is (again) declared in its environment. */
static bool s_declared(const struct bsup_sweep *s, const char *name)
{
    char service[BSUP_ALARM_NAME_MAX];
    int env;
    if (!bsup_alarm_name_parse(name, service, sizeof(service), &env))
        return false;
    const struct bsup_service *svc = s->o.lookup(s->o.ctx, service);
    return svc && svc->environment == env;
}

/* Issues the round's next call: a tag check per alarm, then the deletes (a service declared
 * again meanwhile keeps its alarm); ends the round when nothing is left. */
static void s_next(struct bsup_sweep *s)
{
    struct bsup_aws_params p = {0};
    const char *action = NULL;
    bsup_aws_done_fn done = NULL;
    unsigned flags = 0;
    int rc = 0;
    if (!s->closing && s->checked < s->n) {
        action = "ListTagsForResource";
        done = on_tags;
        rc = bsup_aws_params_add(&p, "ResourceARN", s->arns[s->checked]);
    } else if (!s->closing && s->deleted < s->n_doomed && !s_may_delete(s)) {
        for (size_t i = 0; i < s->n_doomed; i++)
            bsup_log_notice("sweep: would delete %s, its service is no longer declared "
                            "(%s)",
                            s->doomed[i], s_why_not(s));
    } else if (!s->closing && s->deleted < s->n_doomed) {
        size_t k = s->deleted;
        for (size_t i = s->deleted; i < s->n_doomed; i++)
            if (!s_declared(s, s->doomed[i]))
                s->doomed[k++] = s->doomed[i];
        s->n_doomed = k;
        size_t n = k - s->deleted < 100 ? k - s->deleted : 100;
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc =
                bsup_aws_params_addf(&p, s->doomed[s->deleted + i], "AlarmNames.member.%zu", i + 1);
        if (n) {
            action = "DeleteAlarms";
            done = on_deleted;
            flags = BSUP_AWS_MUTATION;
        }
    }
    if (rc == 0 && action)
        rc = bsup_aws_call(s->o.aws, "cloudwatch", action, &p, NULL, flags, done, s, NULL);
    bsup_aws_params_cleanup(&p);
    if (rc)
        bsup_log_warn("sweep: %s", bsup_aws_client_why(s->o.aws, "cloudwatch", rc));
    if (rc || !action)
        s_round_end(s);
    else
        s->busy = true;
}

/* Keeps the alarms of bsupd's form whose service is gone (at most BSUP_SWEEP_MAX_DELETES). */
static int s_collect(struct bsup_sweep *s, const json_t *pages)
{
    size_t pi;
    json_t *page;
    int rc = 0;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_cw_alarm_page pg = {0};
        if (bsup_cw_alarm_page_parse(page, &pg))
            rc = BSUP_EPROTO;
        for (size_t i = 0; rc == 0 && i < pg.n_alarms && s->n < BSUP_SWEEP_MAX_DELETES; i++) {
            const struct bsup_cw_alarm *al = &pg.alarms[i];
            char service[BSUP_ALARM_NAME_MAX];
            int env;
            if (!al->name || !al->arn ||
                !bsup_alarm_name_parse(al->name, service, sizeof(service), &env))
                continue;
            const struct bsup_service *svc = s->o.lookup(s->o.ctx, service);
            if ((svc && svc->environment == env) || s_foreign(s, al->name))
                continue;
            if (!(s->names[s->n] = strdup(al->name)) || !(s->arns[s->n] = strdup(al->arn))) {
                free(s->names[s->n]);
                rc = BSUP_ENOMEM;
            } else {
                s->n++;
            }
        }
        bsup_cw_alarm_page_cleanup(&pg);
    }
    return rc;
}

static void on_listed(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct bsup_sweep *s = user;
    s->busy = false;
    if (res->err) {
        if (res->err != BSUP_ECANCELED)
            bsup_log_warn("sweep: DescribeAlarms failed, tried again next round: %s", res->message);
        s_round_end(s);
    } else if (!s->closing) {
        s->names = calloc(BSUP_SWEEP_MAX_DELETES, sizeof(*s->names));
        s->arns = calloc(BSUP_SWEEP_MAX_DELETES, sizeof(*s->arns));
        s->doomed = calloc(BSUP_SWEEP_MAX_DELETES, sizeof(*s->doomed));
        int rc = s->names && s->arns && s->doomed ? s_collect(s, res->pages) : BSUP_ENOMEM;
        if (rc) {
            bsup_log_warn("sweep: cannot read DescribeAlarms (%s); tried again next round",
                          bsup_err_name(rc));
            s_round_end(s);
        } else {
            bsup_log_debug("sweep: %zu alarms of services no longer declared", s->n);
            s_next(s);
        }
    }
    s_maybe_closed(s);
}

/* ---- alarms ---- */

/* The alarms part of a round (after the drills): every alarm named bsup-*. */
static void s_alarms_start(struct bsup_sweep *s)
{
    const struct bsup_metrics_settings *m = &s->o.settings->metrics;
    if (s->closing || !m->enabled || !m->alarms) {
        s_round_end(s);
        return;
    }
    struct bsup_aws_params p = {0};
    int rc = bsup_aws_params_add(&p, "AlarmNamePrefix", BSUP_ALARM_PREFIX);
    if (rc == 0)
        rc = bsup_aws_params_add(&p, "MaxRecords", "100");
    if (rc == 0)
        rc = bsup_aws_call(s->o.aws, "cloudwatch", "DescribeAlarms", &p, NULL, BSUP_AWS_ALL_PAGES,
                           on_listed, s, NULL);
    bsup_aws_params_cleanup(&p);
    if (rc) {
        bsup_log_warn("sweep: %s", bsup_aws_client_why(s->o.aws, "cloudwatch", rc));
        s_round_end(s);
    } else {
        s->busy = true;
    }
}

/* ---- restore drills ---- */

static void s_drill_next(struct bsup_sweep *s);

/* A leftover drill instance the round cannot delete keeps running, and costing: an event says
 * so each round (hourly), not only the log. */
static void s_orphan_event(struct bsup_sweep *s, const char *msg)
{
    struct bsup_diag diag = {0};
    bsup_log_warn("sweep: %s", msg);
    if (bsup_store_event_add(s->o.store, (int64_t)time(NULL), NULL, "drill.orphaned", msg, NULL,
                             &diag))
        bsup_log_err("sweep: %s", diag.message);
}

static void s_drill_orphaned(struct bsup_sweep *s, const char *id, const char *why)
{
    char msg[600];
    snprintf(msg, sizeof(msg),
             "restore-drill instance %s of a service no longer declared is left running: %s", id,
             why);
    s_orphan_event(s, msg);
}

/* A drill instance of a declared service that is not the drill its record names (its record
 * was lost: the state database replaced, a restore from backup): no cycle deletes it, and
 * deleting it here could race a drill starting; said each round so that someone does. */
static void s_drill_unrecorded(struct bsup_sweep *s, const char *id, const char *service)
{
    char msg[600];
    snprintf(msg, sizeof(msg),
             "restore-drill instance %s of %s is not the drill bsupd has a record of, and no "
             "cycle deletes it: it is left running; delete it (aws rds delete-db-instance "
             "--db-instance-identifier %s --skip-final-snapshot)",
             id, service, id);
    s_orphan_event(s, msg);
}

static void on_drill_deleted(struct bsup_aws_call *call, const struct bsup_aws_result *res,
                             void *user)
{
    (void)call;
    struct bsup_sweep *s = user;
    s->busy = false;
    const char *id = s->drills[s->drill++];
    if (res->err == BSUP_ECANCELED) {
        s_round_end(s);
    } else if (res->err) {
        char why[400];
        snprintf(why, sizeof(why), "DeleteDBInstance failed, tried again next round: %.300s",
                 res->message);
        s_drill_orphaned(s, id, why);
        s_drill_next(s);
    } else {
        struct bsup_diag diag = {0};
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "restore-drill instance %s deleted: its service is no longer declared", id);
        bsup_log_notice("drill instance deleted instance=%s reason=service-removed", id);
        if (bsup_store_event_add(s->o.store, (int64_t)time(NULL), NULL, "drill.deleted", msg, NULL,
                                 &diag))
            bsup_log_err("sweep: %s", diag.message);
        s_drill_next(s);
    }
    s_maybe_closed(s);
}

/* Deletes the next leftover drill instance (without a final snapshot, as the drill itself
 * would), then goes on to the alarms. */
static void s_drill_next(struct bsup_sweep *s)
{
    if (s->closing) {
        s_round_end(s);
        return;
    }
    if (s->drill < s->n_drills && !s_may_delete(s)) {
        for (; s->drill < s->n_drills; s->drill++)
            s_drill_orphaned(s, s->drills[s->drill],
                             *s->o.paused   ? "not deleted while paused"
                             : s->o.dry_run ? "not deleted in a dry run"
                             : *s->o.files_rejected
                                 ? "not deleted while a drop-in is rejected (it may declare "
                                   "the service)"
                                 : "not deleted in observe mode (bsupd.yaml's mode)");
    }
    /* A reload during the round may have declared a service again: its drill is its own. */
    for (; s->drill < s->n_drills && s->o.lookup(s->o.ctx, s->drill_services[s->drill]); s->drill++)
        bsup_log_info("sweep: %s left alone: service %s is declared again", s->drills[s->drill],
                      s->drill_services[s->drill]);
    if (s->drill >= s->n_drills) {
        s_alarms_start(s);
        return;
    }
    struct bsup_aws_params p = {0};
    int rc = bsup_aws_params_add(&p, "DBInstanceIdentifier", s->drills[s->drill]);
    if (rc == 0)
        rc = bsup_aws_params_add(&p, "SkipFinalSnapshot", "true");
    if (rc == 0)
        rc = bsup_aws_params_add(&p, "DeleteAutomatedBackups", "true");
    if (rc == 0)
        rc = bsup_aws_call(s->o.aws, "rds", "DeleteDBInstance", &p, NULL, BSUP_AWS_MUTATION,
                           on_drill_deleted, s, NULL);
    bsup_aws_params_cleanup(&p);
    if (rc) {
        bsup_log_warn("sweep: %s", bsup_aws_client_why(s->o.aws, "rds", rc));
        s_round_end(s);
    } else {
        s->busy = true;
    }
}

/* Instances named bsup-restore-*, tagged bsup:drill=<service>, whose service is gone, and
 * that are this bsupd's: tagged bsup:owner=<owner>, or untagged (made before the owner
 * setting) and owner is the default. */
static int s_collect_drills(struct bsup_sweep *s, const json_t *pages)
{
    size_t pi;
    json_t *page;
    int rc = 0;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_rds_instance_page pg = {0};
        if (bsup_rds_instance_page_parse(page, &pg))
            rc = BSUP_EPROTO;
        for (size_t i = 0; rc == 0 && i < pg.n_instances && s->n_drills < BSUP_SWEEP_MAX_DELETES;
             i++) {
            const struct bsup_rds_instance *in = &pg.instances[i];
            const char *service = NULL, *owner = NULL;
            for (size_t t = 0; t < in->n_tags; t++)
                if (in->tags[t].key && strcmp(in->tags[t].key, BSUP_BACKUP_DRILL_TAG) == 0)
                    service = in->tags[t].value;
                else if (in->tags[t].key && strcmp(in->tags[t].key, BSUP_OWNER_TAG) == 0)
                    owner = in->tags[t].value;
            if (!in->identifier || strncmp(in->identifier, "bsup-restore-", 13) != 0 || !service ||
                (in->status && strcmp(in->status, "deleting") == 0))
                continue;
            if (s->o.lookup(s->o.ctx, service)) {
                char recorded[64];
                if (bsup_owner_is(owner, s->o.settings->owner, true) && s->o.drill_of &&
                    s->o.drill_of(s->o.ctx, service, recorded, sizeof(recorded)) &&
                    strcasecmp(recorded, in->identifier) != 0)
                    s_drill_unrecorded(s, in->identifier, service);
                continue;
            }
            if (!bsup_owner_is(owner, s->o.settings->owner, true)) {
                s_other(s, in->identifier);
                continue;
            }
            if (!(s->drills[s->n_drills] = strdup(in->identifier)) ||
                !(s->drill_services[s->n_drills] = strdup(service))) {
                free(s->drills[s->n_drills]);
                s->drills[s->n_drills] = NULL;
                rc = BSUP_ENOMEM;
            } else {
                s->n_drills++;
            }
        }
        bsup_rds_instance_page_cleanup(&pg);
    }
    return rc;
}

static void on_db_listed(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct bsup_sweep *s = user;
    s->busy = false;
    if (res->err == BSUP_ECANCELED || s->closing) {
        s_round_end(s);
    } else if (res->err) {
        bsup_log_warn("sweep: DescribeDBInstances failed, tried again next round: %s",
                      res->message);
        s_alarms_start(s);
    } else {
        s->drills = calloc(BSUP_SWEEP_MAX_DELETES, sizeof(*s->drills));
        s->drill_services = calloc(BSUP_SWEEP_MAX_DELETES, sizeof(*s->drill_services));
        int rc = s->drills && s->drill_services ? s_collect_drills(s, res->pages) : BSUP_ENOMEM;
        if (rc)
            bsup_log_warn("sweep: cannot read DescribeDBInstances (%s); tried again next round",
                          bsup_err_name(rc));
        s_drill_next(s);
    }
    s_maybe_closed(s);
}

/* A round: leftover restore drills, then alarms. */
static void on_timer(uv_timer_t *t)
{
    struct bsup_sweep *s = t->data;
    if (s->closing || s->in_round)
        return;
    s->in_round = true;
    struct bsup_aws_params p = {0};
    int rc = bsup_aws_params_add(&p, "MaxRecords", "100");
    if (rc == 0)
        rc = bsup_aws_call(s->o.aws, "rds", "DescribeDBInstances", &p, NULL, BSUP_AWS_ALL_PAGES,
                           on_db_listed, s, NULL);
    bsup_aws_params_cleanup(&p);
    if (rc) {
        bsup_log_warn("sweep: %s", bsup_aws_client_why(s->o.aws, "rds", rc));
        s_alarms_start(s);
    } else {
        s->busy = true;
    }
}

int bsup_sweep_new(const struct bsup_sweep_options *o, struct bsup_sweep **out,
                   struct bsup_diag *diag)
{
    struct bsup_sweep *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    s->o = *o;
    uv_timer_init(o->loop, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

void bsup_sweep_soon(struct bsup_sweep *s)
{
    if (s->in_round)
        s->again = true; /* the round in progress may have read the old configuration */
    else if (!s->closing)
        uv_timer_start(&s->timer, on_timer, 0, (uint64_t)BSUP_SWEEP_EVERY_S * 1000);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct bsup_sweep *s = h->data;
    s->timer_closed = true;
    s_maybe_closed(s);
}

void bsup_sweep_close(struct bsup_sweep *s, bsup_close_fn cb, void *user)
{
    s->closing = true;
    s->close_cb = cb;
    s->close_user = user;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
