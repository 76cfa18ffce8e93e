/* The action journal and what the reconcile engine remembers between cycles.
 *
 * Every mutating AWS call is written as an intent before the call and completed with its
 * outcome after it. An intent found without an outcome at start-up belongs to a bsupd that
 * died in between: it is marked "unknown" and never repeated blindly — the next observation
 * decides whether anything is left to do. */
#ifndef BSUP_STORE_JOURNAL_H
#define BSUP_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reconcile/rails.h"
#include "store/store.h"

/* Writes an intent (committed before it returns) and gives its id. */
int bsup_store_journal_begin(struct bsup_store *st, const char *service, const char *resource,
                             const char *action, const char *params_json, int64_t now_s,
                             int64_t *out_id, struct bsup_diag *diag);
/* Completes an intent: outcome "ok" or "error" (then code, message, request id; any may be
 * NULL). */
int bsup_store_journal_end(struct bsup_store *st, int64_t id, const char *outcome,
                           const char *error_code, const char *error_message,
                           const char *request_id, int64_t now_s, struct bsup_diag *diag);
/* Marks every intent without an outcome "unknown"; *out_n says how many there were. */
int bsup_store_journal_recover(struct bsup_store *st, int64_t now_s, size_t *out_n,
                               struct bsup_diag *diag);

struct bsup_store_journal_entry {
    int64_t id;
    char *service, *resource, *action, *params, *outcome, *error_code, *error_message, *request_id;
    int64_t started_at_s, finished_at_s;
};
/* The newest entries (of service unless NULL), newest first, at most limit. */
int bsup_store_journal_list(struct bsup_store *st, const char *service, size_t limit,
                            struct bsup_store_journal_entry **out, size_t *out_n,
                            struct bsup_diag *diag);
void bsup_store_journal_free(struct bsup_store_journal_entry *v, size_t n);

/* Resource memory for the safety rails; a resource never seen reads as zeroes. It includes
 * the start of the newest change to it whose outcome is unknown (from the journal). */
int bsup_store_memory_get(struct bsup_store *st, const char *service, const char *resource,
                          struct bsup_resource_memory *out, struct bsup_diag *diag);
/* The resources of service with a correction streak, a fight or a correction not yet counted
 * (bsup_rails_observe) to forget once they converge.
 * Free with bsup_store_strings_free. */
int bsup_store_memory_streaks(struct bsup_store *st, const char *service, char ***out,
                              size_t *out_n, struct bsup_diag *diag);
void bsup_store_strings_free(char **v, size_t n);
int bsup_store_memory_put(struct bsup_store *st, const char *service, const char *resource,
                          const struct bsup_resource_memory *mem, struct bsup_diag *diag);

/* The last observation of a service: a state word, a JSON detail (mode, plan, calls) and the
 * domains' observations as status members (,"scaling":{...},...; may be NULL). */
int bsup_store_observation_put(struct bsup_store *st, const char *service, int64_t now_s,
                               const char *state, const char *detail_json,
                               const char *observed_text, struct bsup_diag *diag);
/* 0 and malloc'd *out_state / *out_detail, or BSUP_ENOTFOUND. */
int bsup_store_observation_get(struct bsup_store *st, const char *service, int64_t *out_at_s,
                               char **out_state, char **out_detail, struct bsup_diag *diag);
/* The observations text of the service's last observation (malloc'd), or BSUP_ENOTFOUND when
 * there is none. */
int bsup_store_observation_observed(struct bsup_store *st, const char *service, char **out,
                                    struct bsup_diag *diag);
/* Every service's last observation, without its detail: fn(ctx, service, at_s, state, error)
 * per row until it returns non-zero (returned); error is the detail's "error" or NULL when it
 * had none. 0 or a store error. */
typedef int (*bsup_store_observed_fn)(void *ctx, const char *service, int64_t at_s,
                                      const char *state, const char *error);
int bsup_store_observations_each(struct bsup_store *st, bsup_store_observed_fn fn, void *ctx,
                                 struct bsup_diag *diag);

/* Drops journal rows, events and config loads older than before_s, then keeps at most max_rows
 * of each. */
int bsup_store_prune(struct bsup_store *st, int64_t before_s, size_t max_rows,
                     struct bsup_diag *diag);

#endif
