#include "daemon/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum bsup_log_level s_level = BSUP_LOG_INFO;
static bool s_journal;

static const char *const s_level_names[] = {
    [BSUP_LOG_ERR] = "error", [BSUP_LOG_WARNING] = "warning", [BSUP_LOG_NOTICE] = "notice",
    [BSUP_LOG_INFO] = "info", [BSUP_LOG_DEBUG] = "debug",
};

void bsup_log_init(void)
{
    /* JOURNAL_STREAM is "dev:ino" of the stream journald gave us; trust it only if it is
     * still our stderr (a child of ours may have inherited the variable). */
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    s_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void bsup_log_set_level(enum bsup_log_level level)
{
    s_level = level;
}

enum bsup_log_level bsup_log_get_level(void)
{
    return s_level;
}

int bsup_log_level_parse(const char *name)
{
    for (int i = BSUP_LOG_ERR; i <= BSUP_LOG_DEBUG; i++)
        if (name && strcmp(name, s_level_names[i]) == 0)
            return i;
    return -1;
}

const char *bsup_log_level_name(enum bsup_log_level level)
{
    return level >= BSUP_LOG_ERR && level <= BSUP_LOG_DEBUG ? s_level_names[level] : "?";
}

void bsup_log(enum bsup_log_level level, const char *fmt, ...)
{
    if (level > s_level)
        return;
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One line per record: a newline inside a message would forge a second record. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (s_journal) {
        fprintf(stderr, "<%d>%s\n", (int)level, line);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[40];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, s_level_names[level],
                line);
    }
}
