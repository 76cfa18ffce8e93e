/* The running daemon: one libuv loop that keeps the desired state loaded (SIGHUP reloads),
 * serves the control socket, talks to systemd and stops gracefully on SIGTERM/SIGINT. */
#ifndef BSUP_DAEMON_DAEMON_H
#define BSUP_DAEMON_DAEMON_H

#include "daemon/options.h"

/* How long a graceful stop may take before in-flight work is cancelled. */
#define BSUP_DAEMON_STOP_DEADLINE_MS 10000

/* Runs until stopped; returns the process exit code (0 after a clean stop, 1 when the daemon
 * could not start; with --once 0 when nothing needs attention, else 1). */
int bsup_daemon_main(const struct bsup_options *opts);

#endif
