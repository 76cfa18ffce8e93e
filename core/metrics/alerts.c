#include "core/metrics/alerts.h"

#include <string.h>

const struct bsup_alert_info bsup_alerts[BSUP_ALERT_COUNT] = {
#define BSUP_S_ALERT_ROW(e, what, cond, effect, subject)                                           \
    [BSUP_ALERT_##e] = {what, cond, effect, subject},
    BSUP_ALERT_MAP(BSUP_S_ALERT_ROW)
#undef BSUP_S_ALERT_ROW
};

enum bsup_alert bsup_alert_for_event(const char *kind)
{
#define BSUP_S_ALERT_EVENT(k, e)                                                                   \
    if (strcmp(kind, k) == 0)                                                                      \
        return BSUP_ALERT_##e;
    BSUP_ALERT_EVENT_MAP(BSUP_S_ALERT_EVENT)
#undef BSUP_S_ALERT_EVENT
    return BSUP_ALERT_NONE;
}

enum bsup_alert bsup_alert_for_states(enum bsup_state before, enum bsup_state after)
{
    (void)before;
    if (after == BSUP_STATE_NEVER)
        return BSUP_ALERT_NONE;
    return (bsup_state_flags(after) & BSUP_STATE_F_DEGRADED) ? BSUP_ALERT_DEGRADED
                                                             : BSUP_ALERT_RECOVERED;
}

enum bsup_alert bsup_alert_find(const char *what)
{
    for (int i = 0; what && i < BSUP_ALERT_COUNT; i++)
        if (strcmp(bsup_alerts[i].what, what) == 0)
            return (enum bsup_alert)i;
    return BSUP_ALERT_NONE;
}

const char *bsup_alert_words(enum bsup_alert a, const char *observed)
{
    if (a < 0 || a >= BSUP_ALERT_COUNT)
        return NULL;
    if (a == BSUP_ALERT_DEGRADED && observed) {
        int st = bsup_state_from_name(observed);
        if (st == BSUP_STATE_MISSING)
            return "missing";
        if (st == BSUP_STATE_ERROR)
            return "in error";
    }
    return bsup_alerts[a].subject;
}

bool bsup_alert_decide(enum bsup_alert a, struct bsup_alert_condition *c, int64_t now_s,
                       int64_t hold_s)
{
    if (a < 0 || a >= BSUP_ALERT_COUNT)
        return false;
    if (c && c->closes_at_s && now_s >= c->closes_at_s) /* its held CLOSE is due: closed */
        *c = (struct bsup_alert_condition){0};
    switch (bsup_alerts[a].effect) {
    case BSUP_ALERT_OPEN:
        if (c && c->closes_at_s) { /* opens again within the hold: the same incident */
            c->closes_at_s = 0;
            return false;
        }
        if (!c || c->open)
            return !c;
        *c = (struct bsup_alert_condition){
            .open = true, .opened_at_s = now_s, .last_sent_at_s = now_s};
        return true;
    case BSUP_ALERT_CLOSE:
        if (!c || !c->open || c->closes_at_s)
            return !c;
        if (hold_s > 0)
            c->closes_at_s = now_s + hold_s;
        else
            *c = (struct bsup_alert_condition){0};
        return true;
    case BSUP_ALERT_ONCE:
    default:
        return true;
    }
}

bool bsup_alert_remind(struct bsup_alert_condition *c, int64_t now_s, int64_t reminder_s)
{
    if (!c->open || c->closes_at_s || reminder_s <= 0 || now_s < c->last_sent_at_s + reminder_s)
        return false;
    c->last_sent_at_s = now_s;
    c->reminders++;
    return true;
}

bool bsup_alert_updates(enum bsup_alert was, enum bsup_alert a, const char *observed)
{
    if (a < 0 || a >= BSUP_ALERT_COUNT || bsup_alerts[a].effect != BSUP_ALERT_OPEN)
        return false;
    return !(was == BSUP_ALERT_DRILL_FAILED && a == BSUP_ALERT_DEGRADED && observed &&
             bsup_state_from_name(observed) == BSUP_STATE_DEGRADED);
}

void bsup_alert_budget_init(struct bsup_alert_budget *b, int64_t burst, int64_t per_minute,
                            int64_t now_ms)
{
    *b = (struct bsup_alert_budget){.tokens = (double)burst,
                                    .at_ms = now_ms,
                                    .burst = (double)(burst > 0 ? burst : 1),
                                    .per_minute = (double)per_minute};
}

bool bsup_alert_budget_take(struct bsup_alert_budget *b, int64_t now_ms)
{
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * b->per_minute / 60000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->at_ms = now_ms;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}
