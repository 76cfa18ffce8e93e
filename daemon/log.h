/* Logging to stderr. With journald listening (JOURNAL_STREAM matches stderr) lines carry
 * "<N>" priority prefixes and no timestamp; otherwise an ISO-8601 timestamp and level.
 * Messages are "text key=value key=value"; callers never pass secrets. */
#ifndef BSUP_DAEMON_LOG_H
#define BSUP_DAEMON_LOG_H

enum bsup_log_level {
    BSUP_LOG_ERR = 3,
    BSUP_LOG_WARNING = 4,
    BSUP_LOG_NOTICE = 5,
    BSUP_LOG_INFO = 6,
    BSUP_LOG_DEBUG = 7,
};

/* Decides the output format from JOURNAL_STREAM; call once at start. */
void bsup_log_init(void);
void bsup_log_set_level(enum bsup_log_level level);
enum bsup_log_level bsup_log_get_level(void);
/* "error", "warning", "notice", "info", "debug" -> level; -1 when unknown. */
int bsup_log_level_parse(const char *name);
const char *bsup_log_level_name(enum bsup_log_level level);

void bsup_log(enum bsup_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define bsup_log_err(...) bsup_log(BSUP_LOG_ERR, __VA_ARGS__)
#define bsup_log_warn(...) bsup_log(BSUP_LOG_WARNING, __VA_ARGS__)
#define bsup_log_notice(...) bsup_log(BSUP_LOG_NOTICE, __VA_ARGS__)
#define bsup_log_info(...) bsup_log(BSUP_LOG_INFO, __VA_ARGS__)
#define bsup_log_debug(...) bsup_log(BSUP_LOG_DEBUG, __VA_ARGS__)

#endif
