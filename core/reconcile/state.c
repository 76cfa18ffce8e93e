#include "core/reconcile/state.h"

#include <string.h>

static const struct {
    const char *name;
    unsigned flags;
    const char *event;
} s_states[] = {
#define X(e, name, flags, event) {name, flags, event},
    BSUP_STATE_MAP(X)
#undef X
};

static const char *const s_holds[] = {
#define X(e, name) name,
    BSUP_HOLD_MAP(X)
#undef X
};

static const struct {
    const char *name;
    bool mutating;
} s_kinds[] = {
#define X(e, name, mutating) {name, mutating},
    BSUP_ACTION_MAP(X)
#undef X
};

const char *bsup_state_name(enum bsup_state state)
{
    return (unsigned)state < BSUP_STATE_COUNT ? s_states[state].name : "?";
}

const char *bsup_state_short(enum bsup_state state)
{
    return state == BSUP_STATE_NEVER ? "never" : bsup_state_name(state);
}

int bsup_state_from_name(const char *name)
{
    for (int i = 0; name && i < BSUP_STATE_COUNT; i++)
        if (strcmp(s_states[i].name, name) == 0)
            return i;
    return -1;
}

unsigned bsup_state_flags(enum bsup_state state)
{
    return (unsigned)state < BSUP_STATE_COUNT ? s_states[state].flags : 0;
}

const char *bsup_state_event(enum bsup_state state)
{
    return (unsigned)state < BSUP_STATE_COUNT ? s_states[state].event : "service.state";
}

const char *bsup_hold_name(enum bsup_hold hold)
{
    return (unsigned)hold < BSUP_HOLD_COUNT ? s_holds[hold] : "?";
}

int bsup_hold_from_name(const char *name)
{
    for (int i = 0; name && i < BSUP_HOLD_COUNT; i++)
        if (strcmp(s_holds[i], name) == 0)
            return i;
    return -1;
}

const char *bsup_action_kind_name(enum bsup_action_kind kind)
{
    return (unsigned)kind < BSUP_ACTION_KIND_COUNT ? s_kinds[kind].name : "?";
}

int bsup_action_kind_from_name(const char *name)
{
    for (int i = 0; name && i < BSUP_ACTION_KIND_COUNT; i++)
        if (strcmp(s_kinds[i].name, name) == 0)
            return i;
    return -1;
}

bool bsup_action_kind_mutating(enum bsup_action_kind kind)
{
    return (unsigned)kind < BSUP_ACTION_KIND_COUNT && s_kinds[kind].mutating;
}
