/* Alert rules: which events and state changes are alerts, one message per transition
 * (open/close), reminders while a condition lasts, and the global rate limit. */
#include "tests/lib/testlib.h"

#include "core/metrics/alerts.h"
#include "store/outbox.h"

#include <sqlite3.h>
#include <string.h>

static void test_classify(void **state)
{
    (void)state;
    static const struct {
        enum bsup_state before, after;
        enum bsup_alert want;
    } cases[] = {
        {BSUP_STATE_OK, BSUP_STATE_ERROR, BSUP_ALERT_DEGRADED},
        {BSUP_STATE_NEVER, BSUP_STATE_MISSING, BSUP_ALERT_DEGRADED},
        {BSUP_STATE_DRIFT, BSUP_STATE_DEGRADED, BSUP_ALERT_DEGRADED},
        {BSUP_STATE_ERROR, BSUP_STATE_MISSING, BSUP_ALERT_DEGRADED}, /* the condition says no */
        {BSUP_STATE_ERROR, BSUP_STATE_OK, BSUP_ALERT_RECOVERED},
        {BSUP_STATE_MISSING, BSUP_STATE_DRIFT, BSUP_ALERT_RECOVERED},
        {BSUP_STATE_NEVER, BSUP_STATE_OK, BSUP_ALERT_RECOVERED}, /* after a restart */
        {BSUP_STATE_OK, BSUP_STATE_NEVER, BSUP_ALERT_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(bsup_alert_for_states(cases[i].before, cases[i].after), cases[i].want);
    assert_int_equal(bsup_alert_for_event("action.failed"), BSUP_ALERT_ACTION_FAILED);
    assert_int_equal(bsup_alert_for_event("service.fighting"), BSUP_ALERT_FIGHTING);
    assert_int_equal(bsup_alert_for_event("config.file_rejected"), BSUP_ALERT_CONFIG_REJECTED);
    assert_int_equal(bsup_alert_for_event("daemon.unhealthy"), BSUP_ALERT_DAEMON_UNHEALTHY);
    assert_int_equal(bsup_alert_for_event("backup.stale"), BSUP_ALERT_BACKUP_STALE);
    assert_int_equal(bsup_alert_for_event("cache.backup_stale"), BSUP_ALERT_CACHE_BACKUP_STALE);
    assert_int_equal(bsup_alert_for_event("cache.backup_ok"), BSUP_ALERT_CACHE_BACKUP_OK);
    assert_int_equal(bsup_alert_find("cache-backup-stale"), BSUP_ALERT_CACHE_BACKUP_STALE);
    assert_int_equal(bsup_alert_for_event("service.state"), BSUP_ALERT_NONE);
    assert_int_equal(bsup_alert_find("recovered"), BSUP_ALERT_RECOVERED);
    assert_int_equal(bsup_alert_find("nope"), BSUP_ALERT_NONE);
    /* A subject names what happened: AWS failing is "in error", not "degraded". */
    static const struct {
        enum bsup_alert a;
        const char *observed, *words;
    } words[] = {
        {BSUP_ALERT_DEGRADED, "degraded", "degraded"},
        {BSUP_ALERT_DEGRADED, "missing", "missing"},
        {BSUP_ALERT_DEGRADED, "error", "in error"},
        {BSUP_ALERT_DEGRADED, NULL, "degraded"},
        {BSUP_ALERT_RECOVERED, "ok", "recovered"},
        {BSUP_ALERT_BACKUP_STALE, "error", "backup stale"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        assert_string_equal(bsup_alert_words(words[i].a, words[i].observed), words[i].words);
    assert_null(bsup_alert_words(BSUP_ALERT_NONE, NULL));
    /* Every OPEN has a CLOSE of the same condition, and ONCE alerts have none. */
    for (int a = 0; a < BSUP_ALERT_COUNT; a++) {
        const struct bsup_alert_info *x = &bsup_alerts[a];
        assert_true((x->condition == NULL) == (x->effect == BSUP_ALERT_ONCE));
        int closes = 0;
        for (int b = 0; x->effect == BSUP_ALERT_OPEN && b < BSUP_ALERT_COUNT; b++)
            closes += bsup_alerts[b].effect == BSUP_ALERT_CLOSE &&
                      strcmp(bsup_alerts[b].condition, x->condition) == 0;
        assert_true(x->effect != BSUP_ALERT_OPEN || closes == 1);
    }
}

/* A sequence of alerts on one condition and whether each is queued. */
static void test_one_per_transition(void **state)
{
    (void)state;
    static const struct {
        enum bsup_alert a;
        bool queued;
    } seq[] = {
        {BSUP_ALERT_RECOVERED, false}, /* nothing was open */
        {BSUP_ALERT_DEGRADED, true},
        {BSUP_ALERT_DEGRADED, false}, /* error -> missing */
        {BSUP_ALERT_RECOVERED, true},
        {BSUP_ALERT_RECOVERED, false},
        {BSUP_ALERT_DEGRADED, true},
        /* A failed drill's alert is the service's page: the state's DEGRADED after it is not. */
        {BSUP_ALERT_RECOVERED, true},
        {BSUP_ALERT_DRILL_FAILED, true},
        {BSUP_ALERT_DEGRADED, false},
        {BSUP_ALERT_DRILL_FAILED, false}, /* a second failure while it stands: reminders say it */
    };
    struct bsup_alert_condition c = {0};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        assert_int_equal(bsup_alert_decide(seq[i].a, &c, 100 + (int64_t)i, 0), seq[i].queued);
    assert_true(c.open);
    assert_true(bsup_alert_decide(BSUP_ALERT_ACTION_FAILED, NULL, 200, 0));
    assert_true(bsup_alert_decide(BSUP_ALERT_ACTION_FAILED, NULL, 201, 0)); /* each is a fact */
}

/* A service's conditions kept by name, as the store keeps them (alert_conditions: one row per
 * scope and condition): alert a decided against its condition's memory. */
struct s_conditions {
    const char *name[4];
    struct bsup_alert_condition c[4];
};

static bool s_decide(struct s_conditions *t, enum bsup_alert a, int64_t now_s)
{
    const char *cond = bsup_alerts[a].condition;
    size_t i = 0;
    while (i < 4 && t->name[i] && strcmp(t->name[i], cond) != 0)
        i++;
    assert_true(i < 4);
    t->name[i] = cond;
    return bsup_alert_decide(a, &t->c[i], now_s, 0);
}

/* The database's and the cache's stale backups are conditions of their own: neither opening
 * swallows the other's, and one closing never says the other is fine. */
static void test_backup_conditions(void **state)
{
    (void)state;
    static const struct {
        enum bsup_alert a;
        bool queued;
    } seq[] = {
        {BSUP_ALERT_CACHE_BACKUP_STALE, true},  {BSUP_ALERT_BACKUP_STALE, true}, /* not swallowed */
        {BSUP_ALERT_CACHE_BACKUP_STALE, false},                                  /* it lasts */
        {BSUP_ALERT_BACKUP_OK, true},           {BSUP_ALERT_BACKUP_OK, false},
        {BSUP_ALERT_CACHE_BACKUP_STALE, false}, /* the cache is still stale */
        {BSUP_ALERT_CACHE_BACKUP_OK, true},     {BSUP_ALERT_CACHE_BACKUP_OK, false},
        {BSUP_ALERT_BACKUP_OK, false},
    };
    struct s_conditions t = {0};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        assert_int_equal(s_decide(&t, seq[i].a, 100 + (int64_t)i), seq[i].queued);
    assert_string_equal(bsup_alerts[BSUP_ALERT_CACHE_BACKUP_STALE].condition, "cache-backup");
}

static void test_reminders(void **state)
{
    (void)state;
    struct bsup_alert_condition c = {0};
    assert_false(bsup_alert_remind(&c, 10000, 60)); /* closed */
    assert_true(bsup_alert_decide(BSUP_ALERT_DEGRADED, &c, 1000, 0));
    assert_false(bsup_alert_remind(&c, 1059, 60));
    assert_true(bsup_alert_remind(&c, 1060, 60));
    assert_false(bsup_alert_remind(&c, 1100, 60));
    assert_true(bsup_alert_remind(&c, 1120, 60));
    assert_int_equal(c.reminders, 2);
    assert_false(bsup_alert_remind(&c, 99999, 0)); /* reminders off */
    assert_true(bsup_alert_decide(BSUP_ALERT_RECOVERED, &c, 1200, 0));
    assert_false(bsup_alert_remind(&c, 99999, 60));
}

/* A recovery is held: a service that flaps back within the hold is one incident, no page
 * either way; one that stays recovered closes its condition when the hold ends. */
static void test_flap_hold(void **state)
{
    (void)state;
    static const struct {
        enum bsup_alert a;
        int64_t at_s;
        bool queued, open;
        int64_t closes_at_s;
    } seq[] = {
        {BSUP_ALERT_DEGRADED, 1000, true, true, 0},
        {BSUP_ALERT_RECOVERED, 1060, true, true, 1180},  /* queued, held until 1180 */
        {BSUP_ALERT_RECOVERED, 1070, false, true, 1180}, /* the hold does not start again */
        {BSUP_ALERT_DEGRADED, 1120, false, true, 0},     /* flaps back: no page, no recovery */
        {BSUP_ALERT_RECOVERED, 1180, true, true, 1300},
        {BSUP_ALERT_DEGRADED, 1300, true, true, 0}, /* after the hold: a new incident */
        {BSUP_ALERT_RECOVERED, 1360, true, true, 1480},
        {BSUP_ALERT_RECOVERED, 1500, false, false, 0}, /* closed since 1480 */
    };
    struct bsup_alert_condition c = {0};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        assert_int_equal(bsup_alert_decide(seq[i].a, &c, seq[i].at_s, 120), seq[i].queued);
        assert_int_equal(c.open, seq[i].open);
        assert_int_equal(c.closes_at_s, seq[i].closes_at_s);
    }
    assert_int_equal(c.opened_at_s, 0);
    /* No reminder while the recovery is held. */
    c = (struct bsup_alert_condition){0};
    assert_true(bsup_alert_decide(BSUP_ALERT_DEGRADED, &c, 1000, 120));
    assert_true(bsup_alert_decide(BSUP_ALERT_RECOVERED, &c, 1100, 120));
    assert_false(bsup_alert_remind(&c, 1150, 60));
}

static int s_count_rows(const char *dir, const char *sql)
{
    char path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    snprintf(path, sizeof(path), "%s/bsup.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* The store keeps the hold across a restart: a held recovery is not due (pending), counts as
 * held, is taken back by a re-open within the hold, goes after it, and closes its condition
 * when it has gone. */
static void test_store_flap_hold(void **state)
{
    (void)state;
    char *dir = bsup_test_mkdtemp();
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    struct bsup_store_alert *v = NULL;
    size_t n = 0, waiting = 0, held = 0;
    int64_t due = 0;
    assert_int_equal(bsup_store_open(dir, &st, &diag), 0);
#define S_STATE(at, kind, a, obs)                                                                  \
    assert_int_equal(                                                                              \
        bsup_store_event_alert(st, at, "web", "prod", kind, "m", a, obs, "ok", 120, &diag), 0)
    S_STATE(1000, "service.degraded", BSUP_ALERT_DEGRADED, "degraded");
    S_STATE(1060, "service.ok", BSUP_ALERT_RECOVERED, "ok");
    assert_int_equal(bsup_store_alerts_pending(st, 0, 1100, 10, &v, &n, &diag), 0);
    assert_int_equal(n, 1); /* the degraded page; the recovery is held */
    assert_string_equal(v[0].what, "degraded");
    assert_int_equal(bsup_store_alert_sent(st, &v[0], "arn:t", "m-1", 1001, &diag), 0);
    bsup_store_alerts_free(v, n);
    assert_int_equal(bsup_store_alerts_depth(st, 1100, &waiting, &held, &diag), 0);
    assert_int_equal(waiting, 0);
    assert_int_equal(held, 1);
    assert_int_equal(bsup_store_alerts_held_next(st, 1100, &due, &diag), 0);
    assert_int_equal(due, 1180);
    /* Flaps back within the hold: nothing queued, nothing held, every transition an event. */
    S_STATE(1120, "service.degraded", BSUP_ALERT_DEGRADED, "degraded");
    assert_int_equal(bsup_store_alerts_depth(st, 1120, &waiting, &held, &diag), 0);
    assert_int_equal(waiting + held, 0);
    assert_int_equal(s_count_rows(dir, "SELECT count(*) FROM events"), 4); /* + alert.sent */
    /* Recovers for good; a restart in the hold keeps it. */
    S_STATE(1180, "service.ok", BSUP_ALERT_RECOVERED, "ok");
    bsup_store_close(st);
    st = NULL;
    assert_int_equal(bsup_store_open(dir, &st, &diag), 0);
    assert_int_equal(bsup_store_alerts_pending(st, 0, 1299, 10, &v, &n, &diag), 0);
    assert_int_equal(n, 0);
    size_t reminders = 0; /* no reminder for a condition whose recovery is held */
    assert_int_equal(bsup_store_alert_reminders(st, 1299, 60, &reminders, &diag), 0);
    assert_int_equal(reminders, 0);
    assert_int_equal(bsup_store_alerts_pending(st, 0, 1300, 10, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].what, "recovered");
    assert_int_equal(v[0].at_s, 1180); /* when it recovered, not when the hold ended */
    assert_int_equal(bsup_store_alert_sent(st, &v[0], "arn:t", "m-2", 1300, &diag), 0);
    bsup_store_alerts_free(v, n);
    assert_int_equal(s_count_rows(dir, "SELECT count(*) FROM alert_conditions"), 0);
    /* Degraded again later: a new incident, paged. */
    S_STATE(1400, "service.degraded", BSUP_ALERT_DEGRADED, "degraded");
    assert_int_equal(bsup_store_alerts_depth(st, 1400, &waiting, &held, &diag), 0);
    assert_int_equal(waiting, 1);
#undef S_STATE
    bsup_store_close(st);
    bsup_test_rmtree(dir);
    free(dir);
}

/* A reminder says where the service is now, and since when the condition is open: a later
 * OPEN of an open condition is not sent but becomes what the reminders say (a failed drill
 * keeps its own values beside the plain degraded state it causes). */
static void test_reminder_current(void **state)
{
    (void)state;
    static const struct {
        enum bsup_alert was, a;
        const char *observed;
        bool updates;
    } cases[] = {
        {BSUP_ALERT_DEGRADED, BSUP_ALERT_DEGRADED, "error", true},
        {BSUP_ALERT_BACKUP_STALE, BSUP_ALERT_BACKUP_STALE, "none", true},
        {BSUP_ALERT_DRILL_FAILED, BSUP_ALERT_DEGRADED, "degraded", false},
        {BSUP_ALERT_DRILL_FAILED, BSUP_ALERT_DEGRADED, "error", true},
        {BSUP_ALERT_DEGRADED, BSUP_ALERT_DRILL_FAILED, "failed: x", true},
        {BSUP_ALERT_DEGRADED, BSUP_ALERT_RECOVERED, "ok", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(bsup_alert_updates(cases[i].was, cases[i].a, cases[i].observed),
                         cases[i].updates);

    char *dir = bsup_test_mkdtemp();
    struct bsup_store *st = NULL;
    struct bsup_diag diag = {0};
    struct bsup_store_alert *v = NULL;
    size_t n = 0, reminders = 0;
    assert_int_equal(bsup_store_open(dir, &st, &diag), 0);
    assert_int_equal(bsup_store_event_alert(st, 1000, "web", "prod", "service.degraded",
                                            "2 healthy (want 3)", BSUP_ALERT_DEGRADED, "degraded",
                                            "ok", 0, &diag),
                     0);
    assert_int_equal(bsup_store_event_alert(st, 1100, "web", "prod", "service.error",
                                            "AWS answered 500", BSUP_ALERT_DEGRADED, "error", "ok",
                                            0, &diag),
                     0);
    assert_int_equal(bsup_store_alert_reminders(st, 4600, 3600, &reminders, &diag), 0);
    assert_int_equal(reminders, 1);
    assert_int_equal(bsup_store_alerts_pending(st, 0, 4600, 10, &v, &n, &diag), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].opened_at_s, 1000); /* the opening page */
    assert_string_equal(v[0].observed, "degraded");
    assert_int_equal(v[1].reminder, 1);
    assert_string_equal(v[1].what, "degraded");
    assert_string_equal(v[1].observed, "error"); /* now, not when it opened */
    assert_string_equal(v[1].message, "AWS answered 500");
    assert_string_equal(bsup_alert_words(bsup_alert_find(v[1].what), v[1].observed), "in error");
    assert_int_equal(v[1].at_s, 4600);
    assert_int_equal(v[1].opened_at_s, 1000); /* since when */
    bsup_store_alerts_free(v, n);

    /* A failed drill's reminder keeps the drill's values beside the degraded state. */
    assert_int_equal(bsup_store_event_alert(st, 2000, "db", "prod", "drill.failed", "drill",
                                            BSUP_ALERT_DRILL_FAILED, "failed: incompatible-restore",
                                            "available", 0, &diag),
                     0);
    assert_int_equal(bsup_store_event_alert(st, 2000, "db", "prod", "service.degraded", "drill",
                                            BSUP_ALERT_DEGRADED, "degraded", "ok", 0, &diag),
                     0);
    assert_int_equal(bsup_store_alert_reminders(st, 5600, 3600, &reminders, &diag), 0);
    assert_int_equal(bsup_store_alerts_pending(st, 0, 5600, 10, &v, &n, &diag), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[3].service, "db");
    assert_string_equal(v[3].what, "drill-failed");
    assert_string_equal(v[3].observed, "failed: incompatible-restore");
    assert_int_equal(v[3].opened_at_s, 2000);
    bsup_store_alerts_free(v, n);

    /* A stale backup that grows older without a transition: its condition takes the line's
     * values, and the reminder says them; a condition open as another alert keeps its own. */
    assert_int_equal(bsup_store_event_alert(st, 3000, "db", "prod", "backup.stale", "27h old",
                                            BSUP_ALERT_BACKUP_STALE, "27h old (rds:db-1)",
                                            "younger than 26h", 0, &diag),
                     0);
    assert_int_equal(bsup_store_alert_condition_values(st, "db", BSUP_ALERT_BACKUP_STALE, "31h old",
                                                       "31h old (rds:db-1)", "younger than 26h",
                                                       &diag),
                     0);
    assert_int_equal(bsup_store_alert_condition_values(st, "db", BSUP_ALERT_DEGRADED, "x",
                                                       "degraded", "ok", &diag),
                     0); /* open as drill-failed: its values stay */
    assert_int_equal(
        bsup_store_alert_condition_values(st, "web", BSUP_ALERT_BACKUP_STALE, "x", "x", "x", &diag),
        0); /* not open: nothing */
    assert_int_equal(bsup_store_alert_reminders(st, 9700, 3600, &reminders, &diag), 0);
    assert_int_equal(bsup_store_alerts_pending(st, 0, 9700, 10, &v, &n, &diag), 0);
    bool stale = false, drill = false;
    for (size_t i = 4; i < n; i++) {
        if (strcmp(v[i].what, "backup-stale") == 0 && v[i].reminder) {
            stale = true;
            assert_string_equal(v[i].observed, "31h old (rds:db-1)");
            assert_string_equal(v[i].message, "31h old");
        }
        if (strcmp(v[i].what, "drill-failed") == 0 && v[i].reminder) {
            drill = true;
            assert_string_equal(v[i].observed, "failed: incompatible-restore");
        }
    }
    assert_true(stale && drill);
    bsup_store_alerts_free(v, n);
    bsup_store_close(st);
    bsup_test_rmtree(dir);
    free(dir);
}

static void test_rate_limit(void **state)
{
    (void)state;
    struct bsup_alert_budget b;
    bsup_alert_budget_init(&b, 3, 6, 0); /* 3 at once, then one per 10 s */
    int sent = 0;
    for (int i = 0; i < 10; i++)
        sent += bsup_alert_budget_take(&b, 0);
    assert_int_equal(sent, 3);
    assert_false(bsup_alert_budget_take(&b, 9999));
    assert_true(bsup_alert_budget_take(&b, 10000));
    assert_false(bsup_alert_budget_take(&b, 10001));
    /* A long quiet time refills to the burst, not beyond. */
    sent = 0;
    for (int i = 0; i < 10; i++)
        sent += bsup_alert_budget_take(&b, 3600000);
    assert_int_equal(sent, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),          cmocka_unit_test(test_one_per_transition),
        cmocka_unit_test(test_backup_conditions), cmocka_unit_test(test_reminders),
        cmocka_unit_test(test_rate_limit),        cmocka_unit_test(test_flap_hold),
        cmocka_unit_test(test_store_flap_hold),   cmocka_unit_test(test_reminder_current),
    };
    return cmocka_run_group_tests_name("alerts", tests, NULL, NULL);
}
