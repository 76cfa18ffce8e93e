/* Telling systemd what bsupd is doing (sd_notify). Every call is a no-op without
 * NOTIFY_SOCKET, so the daemon calls them unconditionally. */
#ifndef BSUP_DAEMON_NOTIFY_H
#define BSUP_DAEMON_NOTIFY_H

#include <stdint.h>

/* READY=1 plus a STATUS= line. */
void bsup_notify_ready(const char *status);
/* STATUS= only. */
void bsup_notify_status(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (what systemd 253+ expects for Type=notify-reload). */
void bsup_notify_reloading(void);
void bsup_notify_stopping(void);
void bsup_notify_watchdog(void);
/* The watchdog period systemd asks for (WATCHDOG_USEC, checked against WATCHDOG_PID), in
 * milliseconds; 0 when there is none. */
uint64_t bsup_notify_watchdog_period_ms(void);
/* The first socket systemd passed (sd_listen_fds) if it is a listening Unix stream socket;
 * -1 when none was passed; BSUP_EINVAL when one was passed but is not usable. */
int bsup_notify_listen_fd(void);

#endif
