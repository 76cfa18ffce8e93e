/* The running daemon: load the desired state into the store, then serve. */
#ifndef BSUP_DAEMON_DAEMON_H
#define BSUP_DAEMON_DAEMON_H

#include "daemon/options.h"

/* Runs until stopped; returns the process exit code. */
int bsup_daemon_main(const struct bsup_options *opts);

#endif
