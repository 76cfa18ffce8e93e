/* Alert rules: which recorded events become an SNS alert, how a condition alert opens and
 * closes (one message when it starts, one when it ends after a hold, reminders while it lasts)
 * and the global rate limit. One table; pure functions on plain values (no clock, no I/O): the
 * store keeps the condition state, the publisher (daemon/) sends. */
#ifndef BSUP_CORE_METRICS_ALERTS_H
#define BSUP_CORE_METRICS_ALERTS_H

#include "core/reconcile/state.h"

#include <stdbool.h>
#include <stdint.h>

/* What an alert does to its condition: OPEN starts it (sent unless already open), CLOSE
 * ends it (sent only if it was open), ONCE is a single fact (always sent). */
enum bsup_alert_effect { BSUP_ALERT_ONCE, BSUP_ALERT_OPEN, BSUP_ALERT_CLOSE };

/* clang-format off */
/* X(enum suffix, what (the body's "what"), condition (OPEN/CLOSE pair share it; NULL for
 *   ONCE), effect, subject words). A failed restore drill degrades its service: its alert
 *   opens the service's condition, so it is the one page (queued before the state's
 *   DEGRADED, which finds the condition open), and RECOVERED ends it. */
#define BSUP_ALERT_MAP(X)                                                                          \
    X(DEGRADED, "degraded", "service", BSUP_ALERT_OPEN, "degraded")                                \
    X(RECOVERED, "recovered", "service", BSUP_ALERT_CLOSE, "recovered")                            \
    X(BACKUP_STALE, "backup-stale", "backup", BSUP_ALERT_OPEN, "backup stale")                     \
    X(BACKUP_OK, "backup-ok", "backup", BSUP_ALERT_CLOSE, "backup ok again")                       \
    X(CACHE_BACKUP_STALE, "cache-backup-stale", "cache-backup", BSUP_ALERT_OPEN,                   \
      "cache backup stale")                                                                        \
    X(CACHE_BACKUP_OK, "cache-backup-ok", "cache-backup", BSUP_ALERT_CLOSE,                        \
      "cache backup ok again")                                                                     \
    X(DRILL_FAILED, "drill-failed", "service", BSUP_ALERT_OPEN, "restore drill failed")            \
    X(ALARM_REFUSED, "alarm-refused", "alarm", BSUP_ALERT_OPEN, "alarm refused by AWS")            \
    X(ALARM_OK, "alarm-ok", "alarm", BSUP_ALERT_CLOSE, "alarms accepted again")                    \
    X(ACTION_FAILED, "action-failed", NULL, BSUP_ALERT_ONCE, "action failed")                      \
    X(FIGHTING, "fighting", NULL, BSUP_ALERT_ONCE, "fighting another writer")                      \
    X(CONFIG_REJECTED, "config-rejected", NULL, BSUP_ALERT_ONCE, "configuration rejected")         \
    X(CONFIG_FAILED, "config-failed", "config", BSUP_ALERT_OPEN, "configuration not loaded")       \
    X(CONFIG_OK, "config-ok", "config", BSUP_ALERT_CLOSE, "configuration loads again")             \
    X(DAEMON_UNHEALTHY, "daemon-unhealthy", "daemon", BSUP_ALERT_OPEN, "bsupd unhealthy")          \
    X(DAEMON_HEALTHY, "daemon-healthy", "daemon", BSUP_ALERT_CLOSE, "bsupd healthy again")

/* Recorded events that are alerts by themselves: X(event kind, alert). State changes are
 * classified from the states (bsup_alert_for_states), not from their event kinds. */
#define BSUP_ALERT_EVENT_MAP(X)                                                                    \
    X("action.failed", ACTION_FAILED)                                                              \
    X("service.fighting", FIGHTING)                                                                \
    X("config.file_rejected", CONFIG_REJECTED)                                                     \
    X("config.failed", CONFIG_FAILED)                                                              \
    X("config.loaded", CONFIG_OK)                                                                  \
    X("backup.stale", BACKUP_STALE)                                                                \
    X("backup.ok", BACKUP_OK)                                                                      \
    X("cache.backup_stale", CACHE_BACKUP_STALE)                                                    \
    X("cache.backup_ok", CACHE_BACKUP_OK)                                                          \
    X("drill.failed", DRILL_FAILED)                                                                \
    X("alarm.refused", ALARM_REFUSED)                                                              \
    X("alarm.ok", ALARM_OK)                                                                        \
    X("daemon.unhealthy", DAEMON_UNHEALTHY)                                                        \
    X("daemon.healthy", DAEMON_HEALTHY)
/* clang-format on */

enum bsup_alert {
    BSUP_ALERT_NONE = -1,
#define BSUP_S_ALERT_ENUM(e, ...) BSUP_ALERT_##e,
    BSUP_ALERT_MAP(BSUP_S_ALERT_ENUM)
#undef BSUP_S_ALERT_ENUM
        BSUP_ALERT_COUNT
};

struct bsup_alert_info {
    const char *what;
    const char *condition; /* NULL for ONCE */
    enum bsup_alert_effect effect;
    const char *subject;
};

extern const struct bsup_alert_info bsup_alerts[BSUP_ALERT_COUNT];

/* The alert an event kind is by itself, or BSUP_ALERT_NONE. */
enum bsup_alert bsup_alert_for_event(const char *kind);
/* The alert a service's recorded state change may be: a degraded state (degraded, missing,
 * error) is DEGRADED, any other reconciled state RECOVERED. Whether it is sent is the
 * condition's business (bsup_alert_decide on the stored condition): DEGRADED only when the
 * condition is not open yet, RECOVERED only when it is. Kept in the store, the condition
 * outlives a restart (the first cycle after one moves from "never reconciled"). */
enum bsup_alert bsup_alert_for_states(enum bsup_state before, enum bsup_state after);
/* The alert called what, or BSUP_ALERT_NONE. */
enum bsup_alert bsup_alert_find(const char *what);
/* The words of alert a's subject: its table row's, except that a DEGRADED alert names the
 * state the service entered when it is missing or error (observed, the state's name): AWS
 * failing or a resource gone is not a service serving below its floor. */
const char *bsup_alert_words(enum bsup_alert a, const char *observed);

/* A condition's memory between alerts (kept by the store per service and condition). */
struct bsup_alert_condition {
    bool open;
    int64_t opened_at_s;
    int64_t last_sent_at_s; /* the open alert or its last reminder was queued */
    int reminders;
    int64_t closes_at_s; /* 0, or its CLOSE is queued but held until then: it is closed then */
};

/* Whether alert a is queued, given its condition's memory (NULL: a ONCE alert), and the
 * memory after it. An OPEN of an open condition and a CLOSE of a closed one are not queued:
 * one message per transition. A CLOSE with hold_s > 0 is queued held: the condition stays
 * open until closes_at_s, and an OPEN before then is not queued and takes the CLOSE back
 * (closes_at_s 0 again: the incident goes on, a flap is not two pages). */
bool bsup_alert_decide(enum bsup_alert a, struct bsup_alert_condition *c, int64_t now_s,
                       int64_t hold_s);

/* Whether an open condition is due a reminder at now_s (reminder_s 0: never; none while its
 * CLOSE is held); when it is, c is updated as if the reminder were queued. */
bool bsup_alert_remind(struct bsup_alert_condition *c, int64_t now_s, int64_t reminder_s);

/* Whether alert a, not queued because its condition is open with alert was, says the
 * condition's current state (what reminders then repeat): any later OPEN does, except the
 * state's DEGRADED beside a failed drill (observed "degraded"), which the drill explains. */
bool bsup_alert_updates(enum bsup_alert was, enum bsup_alert a, const char *observed);

/* The global rate limit: at most `burst` alerts at once, refilled at per_minute a minute.
 * Alerts over it wait in the outbox (nothing is dropped). */
struct bsup_alert_budget {
    double tokens;
    int64_t at_ms;
    double burst;
    double per_minute;
};

void bsup_alert_budget_init(struct bsup_alert_budget *b, int64_t burst, int64_t per_minute,
                            int64_t now_ms);
/* Takes one token if there is one at now_ms. */
bool bsup_alert_budget_take(struct bsup_alert_budget *b, int64_t now_ms);

#endif
