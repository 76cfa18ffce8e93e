/* The words of the reconcile engine, each from one table: service states, the reasons a
 * safety rail holds an action back, and the kinds of planned action. The engine, the store,
 * the control protocol and bsupctl use these enums; a name is written only here, and text
 * is never compared to recognise a state. */
#ifndef BSUP_CORE_RECONCILE_STATE_H
#define BSUP_CORE_RECONCILE_STATE_H

#include <stdbool.h>

/* State flags. */
#define BSUP_STATE_F_GOOD 0x1u      /* in sync: shown green */
#define BSUP_STATE_F_DRIFT 0x2u     /* counts as drift in the summary */
#define BSUP_STATE_F_DEGRADED 0x4u  /* counts as degraded in the summary */
#define BSUP_STATE_F_ATTENTION 0x8u /* an operator should look (bsupctl exit 1) */

/* Service states, least to most severe: a service with several domains shows the most
 * severe of them. X(enum suffix, name, flags, event kind recorded when a service enters it);
 * a name in a table cell is at most 9 characters: "never reconciled" is shown "never". */
#define BSUP_STATE_MAP(X)                                                                          \
    X(NEVER, "never reconciled", 0, "service.state")                                               \
    X(OK, "ok", BSUP_STATE_F_GOOD, "service.state")                                                \
    X(CORRECTED, "corrected", BSUP_STATE_F_GOOD, "service.state")                                  \
    X(DRIFT, "drift", BSUP_STATE_F_DRIFT | BSUP_STATE_F_ATTENTION, "drift.found")                  \
    X(HELD, "held", BSUP_STATE_F_DRIFT | BSUP_STATE_F_ATTENTION, "drift.found")                    \
    X(FIGHTING, "fighting", BSUP_STATE_F_DRIFT | BSUP_STATE_F_ATTENTION, "service.state")          \
    X(DEGRADED, "degraded", BSUP_STATE_F_DEGRADED | BSUP_STATE_F_ATTENTION, "service.degraded")    \
    X(MISSING, "missing", BSUP_STATE_F_DEGRADED | BSUP_STATE_F_ATTENTION, "service.missing")       \
    X(ERROR, "error", BSUP_STATE_F_DEGRADED | BSUP_STATE_F_ATTENTION, "service.error")

enum bsup_state {
#define X(e, name, flags, event) BSUP_STATE_##e,
    BSUP_STATE_MAP(X)
#undef X
        BSUP_STATE_COUNT
};

/* Why a safety rail held an action back. X(enum suffix, name) */
#define BSUP_HOLD_MAP(X)                                                                           \
    X(NONE, "")                                                                                    \
    X(SCALE_IN_GUARD, "scale-in-guard")                                                            \
    X(FIGHTING, "fighting")                                                                        \
    X(COOLDOWN, "cooldown")                                                                        \
    X(UNKNOWN_OUTCOME, "unknown-outcome")                                                          \
    X(CAP_SERVICE, "cap-service")                                                                  \
    X(CAP_CYCLE, "cap-cycle")                                                                      \
    X(PACED, "paced")

enum bsup_hold {
#define X(e, name) BSUP_HOLD_##e,
    BSUP_HOLD_MAP(X)
#undef X
        BSUP_HOLD_COUNT
};

/* Kinds of planned action. X(enum suffix, name, mutating: bsupd sends a change) */
#define BSUP_ACTION_MAP(X)                                                                         \
    X(UPDATE, "update", true)      /* a mutating call with the changed fields */                   \
    X(REPORT, "report", false)     /* drift bsupd reports and never corrects (e.g. subnets) */     \
    X(MISSING, "missing", false)   /* the resource does not exist: an error, never created */      \
    X(DEGRADED, "degraded", false) /* it serves below its floor (e.g. too few healthy) */          \
    X(FINDING, "finding", false)   /* a posture rule bsupd reports, never changes; an event when   \
                                      it appears and when it clears; no effect on the state */

enum bsup_action_kind {
#define X(e, name, mutating) BSUP_ACTION_##e,
    BSUP_ACTION_MAP(X)
#undef X
        BSUP_ACTION_KIND_COUNT
};

const char *bsup_state_name(enum bsup_state state);
/* The name for a narrow table cell (at most 9 characters). */
const char *bsup_state_short(enum bsup_state state);
/* The state called name, or -1. */
int bsup_state_from_name(const char *name);
unsigned bsup_state_flags(enum bsup_state state);
const char *bsup_state_event(enum bsup_state state);

const char *bsup_hold_name(enum bsup_hold hold);
/* The hold reason called name, or -1. */
int bsup_hold_from_name(const char *name);

const char *bsup_action_kind_name(enum bsup_action_kind kind);
/* The action kind called name, or -1. */
int bsup_action_kind_from_name(const char *name);
bool bsup_action_kind_mutating(enum bsup_action_kind kind);

#endif
