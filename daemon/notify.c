#include "daemon/notify.h"

#include "core/base/error.h"
#include "daemon/log.h"

#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void s_notify(const char *what)
{
    int rc = sd_notify(0, what);
    if (rc < 0)
        bsup_log_warn("cannot notify systemd error=%d", rc);
}

void bsup_notify_ready(const char *status)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
    s_notify(buf);
}

void bsup_notify_status(const char *status)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "STATUS=%s", status);
    s_notify(buf);
}

void bsup_notify_reloading(void)
{
    struct timespec ts;
    char buf[128];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    s_notify(buf);
}

void bsup_notify_stopping(void)
{
    s_notify("STOPPING=1");
}

void bsup_notify_watchdog(void)
{
    s_notify("WATCHDOG=1");
}

uint64_t bsup_notify_watchdog_period_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / 1000;
}

int bsup_notify_listen_fd(void)
{
    int n = sd_listen_fds(1);
    if (n <= 0)
        return -1;
    if (n > 1)
        bsup_log_warn("systemd passed several sockets, using the first count=%d", n);
    int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
        bsup_log_err("the socket systemd passed is not a listening Unix stream socket fd=%d", fd);
        return BSUP_EINVAL;
    }
    return fd;
}
