/* Runs one short-lived helper (a credential_process) on the loop: no shell, stdin /dev/null,
 * stdout captured up to a cap, stderr discarded (it may hold secrets), the environment
 * inherited, in a session of its own so that a timeout kills it and its children (SIGKILL). */
#ifndef BSUP_DAEMON_AWS_PROCESS_H
#define BSUP_DAEMON_AWS_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* How a run ended: error NULL when it exited by itself (exit_status), else why not ("timed out
 * after 60 s (killed)", "killed by signal 9", "printed more than 65536 bytes", "cancelled").
 * out is its stdout (a secret: wiped after the call). */
typedef void (*bsup_process_fn)(void *user, int exit_status, const char *error, const char *out,
                                size_t out_len);

struct bsup_process;

/* Starts argv[0] (looked up in PATH) with argv. 0 with *out_proc set: cb runs once, from the
 * loop, when the process is gone and every handle closed. A negative code (BSUP_EIO: could not
 * start, BSUP_ENOMEM) with why[] set: cb never runs. */
int bsup_process_run(uv_loop_t *loop, char *const *argv, uint32_t timeout_ms, size_t max_out_bytes,
                     bsup_process_fn cb, void *user, struct bsup_process **out_proc, char *why,
                     size_t why_size);
/* Kills it and its children (SIGKILL); cb still runs, with error "cancelled". */
void bsup_process_cancel(struct bsup_process *p);

#endif
