/* bsupctl: asks the running bsupd over its control socket (docs/control-protocol.md).
 * Exit codes: 0 all good, 1 a service needs attention, 2 error. */
#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/base/units.h"
#include "core/reconcile/state.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define S_DEFAULT_SOCKET "/run/bsup/bsupd.sock"
#define S_MAX_REPLY_BYTES (64 * 1024 * 1024)
#define S_ERROR_LINES 20        /* services in error whose reason the table view lists */
#define S_EVENTS_PER_REPLY 1000 /* bsupd's default events limit: a full reply has more behind */
#define S_WIDTH 100             /* the width when COLUMNS is unset and stdout is not a terminal */

enum { S_EXIT_OK = 0, S_EXIT_ATTENTION = 1, S_EXIT_ERROR = 2 };

struct s_args {
    const char *socket;
    const char *command;
    const char *service;
    const char *since;
    bool json;
    bool wait;
    bool follow;
    int timeout_ms;
};

static bool s_colour;
static int s_width = S_WIDTH; /* columns to wrap text at (s_columns) */

static const char *s_c(const char *code)
{
    return s_colour ? code : "";
}
#define S_RED s_c("\033[31m")
#define S_YELLOW s_c("\033[33m")
#define S_GREEN s_c("\033[32m")
#define S_BOLD s_c("\033[1m")
#define S_RESET s_c("\033[0m")

static void s_usage(FILE *out)
{
    fputs("Usage: bsupctl [--socket PATH] COMMAND [ARGS] [--json]\n"
          "Ask the running bsupd what it knows, or tell it what to do.\n"
          "\n"
          "Commands:\n"
          "  status [SERVICE]          desired state and reconcile state of each service\n"
          "  plan [SERVICE]            what bsupd would change (nothing until observed)\n"
          "  reconcile [SERVICE] [--wait]\n"
          "                            ask for a cycle now; --wait returns when it is done\n"
          "  reload                    reread /etc/bsup.d (like systemctl reload bsupd)\n"
          "  events [--since DURATION] [--service S] [--follow]\n"
          "                            what happened (config loads, requests, pauses);\n"
          "                            -f, --follow: then each new event as it comes\n"
          "  pause                     kill switch: observe only everywhere, until resume\n"
          "  resume                    undo pause\n"
          "\n"
          "Options:\n"
          "  -S, --socket PATH         control socket (default $BSUP_SOCKET or " S_DEFAULT_SOCKET
          ")\n"
          "  -j, --json                print the daemon's reply as JSON (stable, documented)\n"
          "  -h, --help                show this help and exit\n"
          "  -V, --version             show the version and exit\n"
          "\n"
          "Reading (status, plan, events) needs root, bsup or bsup-admin; changing (reconcile,\n"
          "reload, pause, resume) root or bsup-admin. Exit status: 0 all good, 1 a service\n"
          "needs attention, 2 error (daemon unreachable, permission denied, bad arguments).\n"
          "Durations: 90s, 5m, 26h, 7d. Colour only on a terminal, never with NO_COLOR.\n"
          "Text wraps at $COLUMNS, else the terminal's width, else 100; names are never cut.\n"
          "Documentation: bsupctl(8), /usr/share/doc/bsup/control-protocol.md\n",
          out);
}

/* The columns text wraps at: $COLUMNS, else the terminal's width, else S_WIDTH; at least 40.
 * Tables are as wide as their cells: a service name is never cut. */
static int s_columns(void)
{
    const char *env = getenv("COLUMNS");
    struct winsize ws;
    long cols = env && *env ? strtol(env, NULL, 10) : 0;
    if (cols <= 0 && isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
        cols = ws.ws_col;
    if (cols <= 0)
        cols = S_WIDTH;
    return cols < 40 ? 40 : cols > 1000 ? 1000 : (int)cols;
}

__attribute__((format(printf, 1, 2))) static int s_bad_args(const char *fmt, ...)
{
    va_list ap;
    fputs("bsupctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'bsupctl --help'.\n", stderr);
    return S_EXIT_ERROR;
}

/* Whether text can be a service name in a request: UTF-8 (as JSON needs), no control character. */
static bool s_is_name_text(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    json_t *probe = json_string(text); /* NULL for text that is not UTF-8 */
    json_decref(probe);
    return probe != NULL;
}

static int s_parse_args(struct s_args *a, int argc, char **argv, bool *out_done)
{
    static const char *const commands[] = {"status", "plan",  "reconcile", "reload",
                                           "events", "pause", "resume"};
    bool service_flag = false; /* --service: events' filter, not status' SERVICE */
    *out_done = false;
    a->socket = getenv("BSUP_SOCKET");
    if (!a->socket || !*a->socket)
        a->socket = S_DEFAULT_SOCKET;
    a->timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            s_usage(stdout);
            *out_done = true;
            return 0;
        } else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            puts("bsupctl " BSUP_VERSION);
            *out_done = true;
            return 0;
        } else if (strcmp(arg, "-j") == 0 || strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "--wait") == 0) {
            a->wait = true;
        } else if (strcmp(arg, "-f") == 0 || strcmp(arg, "--follow") == 0) {
            a->follow = true;
        } else if (strcmp(arg, "-S") == 0 || strcmp(arg, "--socket") == 0 ||
                   strcmp(arg, "--since") == 0 || strcmp(arg, "--service") == 0) {
            if (i + 1 >= argc)
                return s_bad_args("%s needs a value", arg);
            const char *v = argv[++i];
            if (arg[2] == 's' && arg[3] == 'i')
                a->since = v;
            else if (strcmp(arg, "--service") == 0)
                a->service = v, service_flag = true;
            else
                a->socket = v;
        } else if (strncmp(arg, "--socket=", 9) == 0) {
            a->socket = arg + 9;
        } else if (strncmp(arg, "--since=", 8) == 0) {
            a->since = arg + 8;
        } else if (strncmp(arg, "--service=", 10) == 0) {
            a->service = arg + 10;
            service_flag = true;
        } else if (arg[0] == '-' && arg[1]) {
            return s_bad_args("unknown option %s", arg);
        } else if (!a->command) {
            for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
                if (strcmp(arg, commands[k]) == 0)
                    a->command = commands[k];
            if (!a->command)
                return s_bad_args("unknown command '%s'", arg);
        } else if (!a->service &&
                   (strcmp(a->command, "status") == 0 || strcmp(a->command, "plan") == 0 ||
                    strcmp(a->command, "reconcile") == 0)) {
            a->service = arg;
        } else {
            return s_bad_args("unexpected argument '%s'", arg);
        }
    }
    if (!a->command)
        return s_bad_args("%s", "a command is needed: status, plan, reconcile, reload, events, "
                                "pause or resume");
    /* A name bsupd could not be sent (not UTF-8) was dropped from the request, which then meant
     * every service; one with control characters came back in the error, to the terminal. */
    if (!*a->socket) /* an empty sun_path is an abstract address, not "the default" */
        return s_bad_args("%s", "--socket needs a path");
    if (a->service && !s_is_name_text(a->service))
        return s_bad_args("%s", "a SERVICE is UTF-8 text without control characters");
    if (a->wait && strcmp(a->command, "reconcile") != 0)
        return s_bad_args("%s", "--wait goes with reconcile");
    bool takes_name = strcmp(a->command, "status") == 0 || strcmp(a->command, "plan") == 0 ||
                      strcmp(a->command, "reconcile") == 0;
    if (a->since && strcmp(a->command, "events") != 0)
        return s_bad_args("%s", "--since goes with events");
    /* 'status api --service worker' showed worker: one name, where the command takes it. */
    if (service_flag && strcmp(a->command, "events") != 0)
        return s_bad_args("--service goes with events%s%s%s", takes_name ? " (" : "",
                          takes_name ? a->command : "", takes_name ? " takes SERVICE)" : "");
    if (a->follow && strcmp(a->command, "events") != 0)
        return s_bad_args("%s", "--follow goes with events");
    if (a->wait)
        a->timeout_ms = 600000;
    return 0;
}

static int s_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "bsupctl: socket path %s is too long\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        const char *hint = "";
        if (err == ENOENT || err == ECONNREFUSED)
            hint = "; is bsupd running? (systemctl status bsupd)";
        else if (err == EACCES || err == EPERM)
            /* bsupd's socket is 0666 (it decides who may do what by the peer's groups, and
             * answers 'permission denied' itself): refused here, it is the path. */
            hint = "; this user may not open the socket or search a directory on its path";
        fprintf(stderr, "bsupctl: cannot reach bsupd at %s: %s%s\n", path, strerror(err), hint);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends one request line and reads one reply line within timeout_ms. */
static json_t *s_call(const struct s_args *a, json_t *req)
{
    char *line = json_dumps(req, JSON_COMPACT);
    struct bsup_buf buf = BSUP_BUF_INIT(S_MAX_REPLY_BYTES, 0);
    size_t scanned = 0; /* bytes of buf already searched for the newline */
    json_t *reply = NULL;
    int fd = -1;
    if (!line || (fd = s_connect(a->socket)) < 0)
        goto out;
    size_t n = strlen(line);
    int send_err = 0;
    line[n] = '\n'; /* json_dumps leaves room for the NUL we overwrite */
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = send(fd, line + off, n + 1 - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            send_err = errno; /* bsupd may have refused us at once: its reply is there */
            break;
        }
        if (w < 0) {
            fprintf(stderr, "bsupctl: cannot send to bsupd at %s: %s\n", a->socket,
                    strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        const char *data = bsup_buf_str(&buf);
        const char *nl = memchr(data + scanned, '\n', buf.len - scanned);
        scanned = buf.len;
        if (nl) {
            json_error_t err;
            reply = json_loadb(data, (size_t)(nl - data), 0, &err);
            if (!reply)
                fprintf(stderr, "bsupctl: bsupd at %s sent a reply that is not JSON: %s\n",
                        a->socket, err.text);
            goto out;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited_ms =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited_ms >= a->timeout_ms) {
            fprintf(stderr, "bsupctl: bsupd at %s did not answer within %d s\n", a->socket,
                    a->timeout_ms / 1000);
            goto out;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(a->timeout_ms - waited_ms));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char chunk[65536];
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (send_err)
                fprintf(stderr, "bsupctl: cannot send to bsupd at %s: %s\n", a->socket,
                        strerror(send_err));
            else
                fprintf(stderr,
                        "bsupctl: bsupd at %s closed the connection without answering%s%s\n",
                        a->socket, r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
            goto out;
        }
        int rc = bsup_buf_append(&buf, chunk, (size_t)r);
        if (rc == BSUP_ETOOBIG) {
            fprintf(stderr, "bsupctl: reply from %s is too large\n", a->socket);
            goto out;
        } else if (rc < 0) {
            fputs("bsupctl: out of memory\n", stderr);
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(line);
    bsup_buf_cleanup(&buf);
    return reply;
}

/* status and plan come in pages when they are long: asks for the rest (a new connection per
 * page) and appends their services to reply, which then reads as one answer. A page is asked
 * for by the first service it begins with (next_from), so that services added or removed in
 * between shift no other; a bsupd older than next_from is asked by offset. NULL on error. */
static json_t *s_rest_of_pages(const struct s_args *a, json_t *req, json_t *reply)
{
    json_t *services = json_object_get(reply, "services"), *last = json_incref(reply);
    while (json_is_true(json_object_get(reply, "ok"))) {
        json_t *from = json_object_get(last, "next_from");
        json_t *offset = json_object_get(last, "next_offset");
        if (json_is_string(from))
            json_object_set(req, "from", from);
        else if (json_is_integer(offset))
            json_object_set(req, "offset", offset);
        else
            break;
        json_decref(last);
        last = s_call(a, req);
        json_t *rows = json_object_get(last, "services");
        if (last && !json_is_true(json_object_get(last, "ok"))) {
            json_decref(reply);
            return last; /* the error, reported as any other */
        }
        if (!last || json_array_size(rows) == 0 || json_array_extend(services, rows)) {
            if (last)
                fprintf(stderr, "bsupctl: %s: a page of %s came back empty\n", a->socket,
                        a->command);
            json_decref(last);
            json_decref(reply);
            return NULL;
        }
    }
    json_decref(last);
    if (!json_is_true(json_object_get(reply, "ok")))
        return reply; /* an error object, printed as the daemon sent it */
    json_object_set_new(reply, "next_offset", json_null()); /* one answer: nothing follows */
    if (json_object_get(reply, "next_from"))
        json_object_set_new(reply, "next_from", json_null());
    return reply;
}

static const char *s_str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "-";
}

/* Copies text into a cell of at most width characters, marking a cut with '~'. */
static void s_cell(char *out, size_t outlen, const char *text, int width)
{
    snprintf(out, outlen, "%.*s", width, text);
    if ((int)strlen(text) > width && width > 0)
        out[width - 1] = '~';
}

/* Prints text from column col on, wrapped at spaces before column s_width (a word longer
 * than a line, such as a resource's name or ARN, runs past it whole: never split or cut),
 * each further line starting at column indent. */
static void s_wrap(const char *text, int col, int indent)
{
    size_t left = strlen(text);
    do {
        int room_i = s_width - col;
        size_t room = room_i < 20 ? 20 : (size_t)room_i, take = left;
        if (take > room) { /* break at the last space that fits, else after the long word */
            take = room;
            while (take > 0 && text[take] != ' ')
                take--;
            if (take == 0)
                take = strcspn(text, " ");
        }
        printf("%.*s\n", (int)take, text);
        text += take;
        left -= take;
        while (*text == ' ')
            text++, left--;
        if (left)
            printf("%*s", indent, "");
        col = indent;
    } while (left > 0);
}

/* An age in words for a cell: "45s", "12m", "26h", "9d". */
static void s_age_cell(json_int_t s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, len, "%llds", (long long)s);
    else if (s < 2 * 3600)
        snprintf(buf, len, "%lldm", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(buf, len, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

/* The backup domain's cells: newest backup age, retention ok, last drill. */
static void s_backup_cells(json_t *bk, char *age, char *ret, char *drill, size_t len)
{
    snprintf(age, len, "-");
    snprintf(ret, len, "-");
    snprintf(drill, len, "-");
    if (!json_is_true(json_object_get(bk, "found")))
        return;
    json_int_t a = json_integer_value(json_object_get(bk, "newest_backup_age_s"));
    if (json_object_get(bk, "newest_backup_age_s") && a >= 0)
        s_age_cell(a, age, len);
    else if (json_integer_value(json_object_get(bk, "snapshots_read_at")) > 0)
        snprintf(age, len, "none");
    if (json_is_true(json_object_get(bk, "retention_ok")))
        snprintf(ret, len, "ok");
    else
        snprintf(ret, len, "%lldd",
                 (long long)json_integer_value(json_object_get(bk, "backup_retention")));
    /* The drill phase in a word, where it says more than the last drill's result: a due drill
     * is only planned (observe mode plans it and runs none); a drill that ended shows its
     * result while its instance is deleted. Phases: BSUP_DRILL_PHASE_MAP, core/reconcile. */
    static const char *const phases[][2] = {{"waiting", "due"},
                                            {"scheduled", "due"},
                                            {"restore-due", "due"},
                                            {"restoring", "running"},
                                            {"conflict", "conflict"}};
    const char *phase = s_str(bk, "drill"), *word = NULL;
    for (size_t k = 0; k < sizeof(phases) / sizeof(phases[0]); k++)
        if (strcmp(phase, phases[k][0]) == 0)
            word = phases[k][1];
    const char *last = json_string_value(json_object_get(bk, "last_drill"));
    json_int_t at = json_integer_value(json_object_get(bk, "last_drill_at"));
    char when[24];
    s_age_cell((json_int_t)time(NULL) - at, when, sizeof(when));
    if (strcmp(phase, "off") == 0)
        return; /* restore_test off: "-", whatever the last drill was */
    if (word)
        snprintf(drill, len, "%s", word);
    else if (last && *last)
        snprintf(drill, len, "%s %s", /* "ok 2d", "fail 3h", "intr 1d" */
                 strcmp(last, "interrupted") == 0 ? "intr"
                 : strcmp(last, "failed") == 0    ? "fail"
                                                  : last,
                 when);
    else if (json_integer_value(json_object_get(bk, "next_drill_at")) > 0)
        snprintf(drill, len, "never");
}

/* A Unix time as the Metrics line and the log give it: "2026-11-30T03:05:00Z". */
static void s_time_text(json_int_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

/* "bsupd VERSION (pid N): SUMMARY", wrapped at ", " to stay within s_width columns; then a
 * reload that failed as a whole (daemon.reload_failed), which leaves the last load serving. */
static void s_print_summary(json_t *daemon, const char *summary)
{
    char head[128];
    int col = snprintf(head, sizeof(head), "bsupd %s (pid %lld): ", s_str(daemon, "version"),
                       (long long)json_integer_value(json_object_get(daemon, "pid")));
    printf("%s%s%s", S_BOLD, head, S_RESET);
    for (const char *p = summary; *p;) {
        size_t n = strcspn(p, ",");
        if (col > 4 && col + (int)n + 1 > s_width) {
            printf("\n   ");
            col = 3;
            while (*p == ' ')
                p++, n--;
        }
        printf("%.*s%s", (int)n, p, p[n] ? "," : "");
        col += (int)n + 1;
        p += n + (p[n] == ',');
    }
    printf("\n");
    json_t *failed = json_object_get(daemon, "reload_failed");
    if (!json_is_object(failed))
        return;
    json_t *loaded = json_object_get(json_object_get(daemon, "last_load"), "at");
    char ago[24], at[32] = "the start";
    s_age_cell((json_int_t)time(NULL) - json_integer_value(json_object_get(failed, "at")), ago,
               sizeof(ago));
    if (json_is_integer(loaded))
        s_time_text(json_integer_value(loaded), at, sizeof(at));
    const char *err = s_str(failed, "error");
    size_t len = strlen(err) + 80;
    char *rest = malloc(len);
    if (!rest)
        return;
    snprintf(rest, len, "%s; serving the configuration loaded at %s", err, at);
    printf("%sLast reload failed%s %s ago: ", S_RED, S_RESET, ago);
    s_wrap(rest, (int)strlen("Last reload failed  ago: ") + (int)strlen(ago), 2);
    free(rest);
}

/* A row's state as a table cell shows it (narrow names), into buf: "*" marks a state an
 * earlier run recorded, not reconciled yet by this one. */
static const char *s_state_cell(json_t *row, char *buf, size_t len)
{
    int st = bsup_state_from_name(s_str(row, "state"));
    snprintf(buf, len, "%s%s",
             st >= 0 ? bsup_state_short((enum bsup_state)st) : s_str(row, "state"),
             json_is_true(json_object_get(row, "recorded")) ? "*" : "");
    return buf;
}

/* Why services are in state error: a line each, cut at s_width, under the table; or, for the
 * one service asked about (one), the whole reason, when it was last reconciled and how old its
 * target-health reading is. */
static void s_print_errors(json_t *services, bool one)
{
    size_t i;
    json_t *row;
    bool header = false;
    size_t shown = 0, more = 0;
    json_array_foreach(services, i, row)
    {
        const char *err = json_string_value(json_object_get(row, "error"));
        json_int_t last = json_integer_value(json_object_get(row, "last_reconciled_at"));
        if (one) {
            if (err || last > 0)
                printf("\n");
            if (err) {
                printf("%sError%s: ", S_RED, S_RESET);
                s_wrap(err, 7, 2);
            }
            if (last <= 0)
                continue;
            char ago[24];
            s_age_cell((json_int_t)time(NULL) - last, ago, sizeof(ago));
            json_int_t failures = json_integer_value(json_object_get(row, "failures"));
            printf("Last reconciled %s ago", ago);
            if (failures > 0)
                printf(", failed %lld time%s in a row (retried with backoff)", (long long)failures,
                       failures == 1 ? "" : "s");
            printf("%s\n",
                   json_is_true(json_object_get(row, "running")) ? "; a cycle is running now" : "");
            /* Target health is read at its own pace (health_check.sweep, the ELBv2 budget):
             * HEALTHY may be older than the cycle. */
            json_t *health = json_object_get(row, "health");
            json_int_t read = json_integer_value(json_object_get(health, "health_read_at"));
            if (json_is_true(json_object_get(health, "found")) && read > 0) {
                s_age_cell((json_int_t)time(NULL) - read, ago, sizeof(ago));
                printf("Healthy targets %lld/%lld, read %s ago%s\n",
                       (long long)json_integer_value(json_object_get(health, "healthy")),
                       (long long)json_integer_value(json_object_get(health, "targets")), ago,
                       json_is_true(json_object_get(health, "health_from_metrics"))
                           ? " (the load balancer's metrics)"
                           : "");
            }
            /* bsupd's own alarms are no state of the service: said here, or an ok service
             * hides that its alarms are not kept. */
            json_int_t refused =
                json_integer_value(json_object_get(json_object_get(row, "alarms"), "refused"));
            if (refused > 0)
                printf("%sAlarms%s: %lld of bsupd's refused by AWS ('bsupctl plan %s' says why)\n",
                       S_YELLOW, S_RESET, (long long)refused, s_str(row, "service"));
            continue;
        }
        if (!err)
            continue;
        if (shown == S_ERROR_LINES) { /* an AWS outage puts every service in error */
            more++;
            continue;
        }
        shown++;
        if (!header)
            printf("\n%sErrors%s ('bsupctl status SERVICE' shows one whole):\n", S_RED, S_RESET);
        header = true;
        int room = s_width - 4 - (int)strlen(s_str(row, "service"));
        if ((int)strlen(err) > room)
            printf("  %s: %.*s~\n", s_str(row, "service"), room > 1 ? room - 1 : 0, err);
        else
            printf("  %s: %s\n", s_str(row, "service"), err);
    }
    if (more)
        printf("  ... and %zu more in error (bsupctl status --json has every one)\n", more);
}

/* The role the credentials are for (web identity, assume role), a credential lookup in progress
 * (which provider it waits for, for how long) and why the last one failed; nothing while
 * credentials of another kind are simply there. */
static void s_print_credentials(json_t *creds)
{
    bool resolving = json_is_true(json_object_get(creds, "resolving"));
    bool failed = json_is_string(json_object_get(creds, "last_error"));
    bool role = json_is_string(json_object_get(creds, "description"));
    if (!resolving && !failed && !role)
        return;
    printf("\nCredentials: ");
    if (role)
        s_wrap(s_str(creds, "description"), 13, 4);
    if (resolving) {
        char ago[24], asking[48] = "";
        s_age_cell((json_int_t)time(NULL) -
                       json_integer_value(json_object_get(creds, "resolving_since")),
                   ago, sizeof(ago));
        if (json_is_string(json_object_get(creds, "asking")))
            snprintf(asking, sizeof(asking), ", waiting for the %s endpoint",
                     s_str(creds, "asking"));
        printf("%s%sresolving for %s%s%s; %s\n", role ? "  " : "", S_YELLOW, ago, S_RESET, asking,
               json_is_string(json_object_get(creds, "source"))
                   ? "AWS calls use the current ones meanwhile"
                   : "AWS calls wait for them");
    }
    if (failed) {
        char ago[24];
        s_age_cell((json_int_t)time(NULL) -
                       json_integer_value(json_object_get(creds, "last_error_at")),
                   ago, sizeof(ago));
        int col = printf("%slast lookup failed %s ago: ", resolving || role ? "  " : "", ago);
        s_wrap(s_str(creds, "last_error"), resolving || role ? col : col + 13, 4);
    }
}

static int s_show_status(json_t *reply, bool one)
{
    json_t *daemon = json_object_get(reply, "daemon");
    json_t *services = json_object_get(reply, "services");
    json_t *engine = json_object_get(reply, "engine");
    s_print_summary(daemon, s_str(reply, "summary"));
    /* UNHEALTHY in the summary, and why: the database's last error names the file and cause. */
    if (json_is_false(json_object_get(engine, "healthy")) &&
        json_is_string(json_object_get(engine, "store_error"))) {
        printf("%sState database failing%s: ", S_RED, S_RESET);
        s_wrap(s_str(engine, "store_error"), (int)strlen("State database failing: "), 2);
    }
    /* SERVICE ENV MODE GEN STATE MIN/MAX/DES INSVC HEALTHY BACKUP DRILL, two spaces apart; the
     * SERVICE column is as wide as the longest name (never cut: names may share a long prefix),
     * so the table passes 100 columns only for names over 21 characters. The source file is
     * in --json; a service whose file is rejected (it keeps its last good state) is marked "!". */
    int w_service = 7, w_gen = 3, w_state = 5;
    size_t i, n_recorded = 0;
    json_t *row;
    json_array_foreach(services, i, row)
    {
        char gen[32], cell[64];
        int l = (int)strlen(s_str(row, "service")) + 1; /* room for the "!" mark */
        w_service = l > w_service ? l : w_service;
        l = snprintf(gen, sizeof(gen), "%lld",
                     (long long)json_integer_value(json_object_get(row, "generation")));
        w_gen = l > w_gen ? l : w_gen;
        l = (int)strlen(s_state_cell(row, cell, sizeof(cell)));
        w_state = l > w_state ? l : w_state;
        n_recorded += json_is_true(json_object_get(row, "recorded"));
    }
    const int w_env = 7, w_mode = 7, w_asg = 11, w_insvc = 5, w_healthy = 7, w_age = 6;
    printf("%s%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %*s  %*s  %-*s  %s%s\n", S_BOLD, w_service,
           "SERVICE", w_env, "ENV", w_mode, "MODE", w_gen, "GEN", w_state, "STATE", w_asg,
           "MIN/MAX/DES", w_insvc, "INSVC", w_healthy, "HEALTHY", w_age, "BACKUP", "DRILL",
           S_RESET);
    json_array_foreach(services, i, row)
    {
        char name[300], state[64];
        bool kept = strcmp(s_str(row, "config"), "ok") != 0;
        snprintf(name, sizeof(name), "%s%s", s_str(row, "service"), kept ? "!" : "");
        s_state_cell(row, state, sizeof(state));
        json_t *asg = json_object_get(row, "scaling");
        char bounds[32] = "-", insvc[16] = "-";
        if (json_is_true(json_object_get(asg, "found"))) {
            snprintf(bounds, sizeof(bounds), "%lld/%lld/%lld",
                     (long long)json_integer_value(json_object_get(asg, "min_size")),
                     (long long)json_integer_value(json_object_get(asg, "max_size")),
                     (long long)json_integer_value(json_object_get(asg, "desired_capacity")));
            snprintf(insvc, sizeof(insvc), "%lld",
                     (long long)json_integer_value(json_object_get(asg, "in_service")));
        }
        /* Healthy targets of all, as the load balancer last said ("-" until read). */
        json_t *health = json_object_get(row, "health");
        char counts[48], healthy[16] = "-";
        if (json_is_true(json_object_get(health, "found")) &&
            json_integer_value(json_object_get(health, "health_read_at")) > 0) {
            snprintf(counts, sizeof(counts), "%lld/%lld",
                     (long long)json_integer_value(json_object_get(health, "healthy")),
                     (long long)json_integer_value(json_object_get(health, "targets")));
            s_cell(healthy, sizeof(healthy), counts, w_healthy);
        }
        /* The newest backup's age, "!" when the retention differs from the drop-in. */
        char age[32], ret[32], drill[32], backup[40];
        s_backup_cells(json_object_get(row, "backup"), age, ret, drill, sizeof(age));
        snprintf(backup, sizeof(backup), "%s%s", age,
                 strcmp(ret, "ok") == 0 || strcmp(ret, "-") == 0 ? "" : "!");
        int st = bsup_state_from_name(s_str(row, "state"));
        bool ok = st >= 0 && (bsup_state_flags((enum bsup_state)st) & BSUP_STATE_F_GOOD);
        printf("%s%-*s%s  %-*s  %-*s  %*lld  %s%-*s%s  %-*s  %*s  %*s  %-*s  %s\n",
               kept ? S_RED : "", w_service, name, kept ? S_RESET : "", w_env,
               s_str(row, "environment"), w_mode, s_str(row, "mode"), w_gen,
               (long long)json_integer_value(json_object_get(row, "generation")),
               ok ? S_GREEN : S_YELLOW, w_state, state, S_RESET, w_asg, bounds, w_insvc, insvc,
               w_healthy, healthy, w_age, backup, drill);
    }
    if (n_recorded)
        printf("\n* as the last cycle before bsupd started recorded it; not reconciled since\n");
    s_print_errors(services, one);
    json_t *load = json_object_get(daemon, "last_load");
    json_t *files = json_object_get(load, "file_list");
    bool header = false;
    json_array_foreach(files, i, row)
    {
        if (json_is_true(json_object_get(row, "ok")))
            continue;
        if (!header)
            printf("\n%sRejected files%s (a service one held before keeps its last good "
                   "generation, marked !; one never loaded runs none):\n",
                   S_RED, S_RESET);
        header = true;
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(row, "errors"), k, e)
            printf("  %s\n", json_string_value(e));
    }
    json_t *metrics = json_object_get(daemon, "metrics");
    if (json_is_object(metrics)) {
        json_t *last = json_object_get(metrics, "last_publish_at");
        json_t *oldest = json_object_get(metrics, "oldest_age_s");
        char when[64] = "never (this run)";
        if (json_is_integer(last))
            s_time_text(json_integer_value(last), when, sizeof(when));
        long long depth = (long long)json_integer_value(json_object_get(metrics, "outbox_depth"));
        if (json_is_false(json_object_get(metrics, "enabled"))) {
            /* Nothing is measured or sent; datums of an earlier run are only kept. */
            printf("\nMetrics: disabled (metrics.enabled: false)");
            if (depth)
                printf(", %lld measured before kept unsent", depth);
            printf("\n");
        } else {
            printf("\nMetrics: %lld waiting", depth);
            if (json_is_integer(oldest))
                printf(" (oldest %llds)", (long long)json_integer_value(oldest));
            printf(", last published %s, %lld dropped\n", when,
                   (long long)json_integer_value(json_object_get(metrics, "dropped")));
        }
        long long held = (long long)json_integer_value(json_object_get(metrics, "alerts_held"));
        printf("Alerts: %lld waiting",
               (long long)json_integer_value(json_object_get(metrics, "alerts_waiting")));
        if (held) /* recoveries that go once they last (docs/metrics.md) */
            printf(", %lld held", held);
        printf(", %lld sent\n",
               (long long)json_integer_value(json_object_get(metrics, "alerts_sent")));
        json_t *fa = json_object_get(metrics, "failing_alert");
        if (json_is_object(fa)) {
            /* What holds the oldest alert back (last error only says the latest failure). */
            long long tries = (long long)json_integer_value(json_object_get(fa, "attempts"));
            int col = printf("  failing: %s %s, %lld attempt%s: ",
                             json_is_string(json_object_get(fa, "service")) ? s_str(fa, "service")
                                                                            : "bsupd",
                             s_str(fa, "what"), tries, tries == 1 ? "" : "s");
            s_wrap(s_str(fa, "error"), col, 4);
        }
        if (json_is_string(json_object_get(metrics, "last_error"))) {
            /* Its age tells an error of now from one that publishing has recovered from. */
            json_t *err_at = json_object_get(metrics, "last_error_at");
            char ago[24] = "";
            if (json_is_integer(err_at))
                s_age_cell((json_int_t)time(NULL) - json_integer_value(err_at), ago, sizeof(ago));
            int col = printf("  last error%s%s%s: ", *ago ? " " : "", ago, *ago ? " ago" : "");
            s_wrap(s_str(metrics, "last_error"), col, 4);
        }
    }
    s_print_credentials(json_object_get(daemon, "credentials"));
    json_t *ca = json_object_get(daemon, "ca_bundle");
    if (json_is_object(ca)) /* only these CAs are trusted: said, as a TLS failure may follow */
        printf("\nTLS: trusting only the CA bundle %s (%s)\n", s_str(ca, "path"),
               s_str(ca, "from"));
    if (json_is_true(json_object_get(daemon, "paused")))
        printf("\n%sPaused%s: every service observes only until 'bsupctl resume'.\n", S_YELLOW,
               S_RESET);
    if (json_is_true(json_object_get(daemon, "dry_run")))
        printf("\nDry run: bsupd was started with --dry-run and observes only.\n");
    return json_is_true(json_object_get(reply, "attention")) ? S_EXIT_ATTENTION : S_EXIT_OK;
}

/* The actions of a plan row that need an operator: the service's not applied (a change AWS
 * accepted in the last cycle is done), and an alarm of bsupd's own that it stopped keeping
 * because something else keeps changing it (fighting) or that AWS refuses (its finding). */
static size_t s_service_actions(json_t *row)
{
    size_t a, n = 0;
    json_t *act;
    json_array_foreach(json_object_get(row, "actions"), a, act)
    {
        n += !json_is_true(json_object_get(act, "applied")) &&
             (!json_is_true(json_object_get(act, "owned")) ||
              strcmp(s_str(act, "held_by"), bsup_hold_name(BSUP_HOLD_FIGHTING)) == 0 ||
              bsup_action_kind_from_name(s_str(act, "action")) == BSUP_ACTION_FINDING);
    }
    return n;
}

static bool s_plan_has_actions(json_t *reply)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(reply, "services"), i, row)
    {
        if (s_service_actions(row))
            return true;
    }
    return false;
}

/* Why the plan's services in state error are so, which plan rows do not say: name -> error
 * from a status request with the plan's filter, or NULL when none is in error. */
static json_t *s_plan_errors(const struct s_args *a, json_t *plan)
{
    size_t i;
    json_t *row, *errors = NULL, *status = NULL;
    bool any = false;
    json_array_foreach(json_object_get(plan, "services"), i, row)
    {
        any |= bsup_state_from_name(s_str(row, "state")) == BSUP_STATE_ERROR;
    }
    json_t *req = any ? json_pack("{s:s}", "cmd", "status") : NULL;
    if (!req)
        return NULL;
    if (a->service)
        json_object_set_new(req, "service", json_string(a->service));
    status = s_call(a, req);
    if (status)
        status = s_rest_of_pages(a, req, status);
    json_decref(req);
    errors = json_object();
    json_array_foreach(json_object_get(status, "services"), i, row)
    {
        json_t *err = json_object_get(row, "error");
        if (errors && json_is_string(err))
            json_object_set(errors, s_str(row, "service"), err);
    }
    json_decref(status);
    return errors;
}

/* Per service: its actions, each change as FIELD OBSERVED -> DESIRED, and why (wrapped, never
 * cut: the FIELD column is as wide as the plan's longest field). */
static int s_show_plan(const struct s_args *args, json_t *reply)
{
    size_t i, a, c;
    json_t *row, *act, *ch;
    int rc = S_EXIT_OK, w_field = 17;
    json_t *errors = s_plan_errors(args, reply);
    json_array_foreach(json_object_get(reply, "services"), i, row)
    {
        json_array_foreach(json_object_get(row, "actions"), a, act)
        {
            json_array_foreach(json_object_get(act, "changes"), c, ch)
            {
                int l = (int)strlen(s_str(ch, "field"));
                w_field = l > w_field ? l : w_field;
            }
        }
    }
    json_array_foreach(json_object_get(reply, "services"), i, row)
    {
        json_t *actions = json_object_get(row, "actions");
        const char *service = s_str(row, "service");
        const char *err = json_string_value(json_object_get(errors, service));
        int col = printf("%s%s%s (generation %lld, %s mode): ", S_BOLD, service, S_RESET,
                         (long long)json_integer_value(json_object_get(row, "generation")),
                         s_str(row, "mode")) -
                  (int)(strlen(S_BOLD) + strlen(S_RESET));
        if (!json_is_true(json_object_get(row, "observed"))) {
            if (err) { /* this run tried: the hint to observe it would not help */
                printf("%serror%s: ", S_YELLOW, S_RESET);
                s_wrap(err, col + 7, 4);
            } else {
                printf("not observed since bsupd started; 'bsupctl reconcile %s' observes it "
                       "now\n",
                       service);
            }
            continue;
        }
        size_t own = json_array_size(actions) - s_service_actions(row), applied = 0;
        json_array_foreach(actions, a, act)
        {
            applied += json_is_true(json_object_get(act, "applied")) &&
                       !json_is_true(json_object_get(act, "owned"));
        }
        if (err) { /* the last cycle could not observe: the actions are an older reading's */
            printf("%serror%s\n  %serror%s: ", S_YELLOW, S_RESET, S_YELLOW, S_RESET);
            s_wrap(err, 9, 4);
            if (json_array_size(actions) > 0)
                printf("  as last observed, before the error:\n");
            rc = S_EXIT_ATTENTION;
        } else if (json_array_size(actions) == own) {
            /* corrected: what it changed is listed, applied */
            printf("%s\n", applied ? s_str(row, "state") : "in sync");
        } else {
            printf("%s%s%s\n", S_YELLOW, s_str(row, "state"), S_RESET);
            rc = S_EXIT_ATTENTION;
        }
        json_array_foreach(actions, a, act)
        {
            const char *kind = s_str(act, "action");
            int k = bsup_action_kind_from_name(kind);
            printf("  %-7s %s%s%s\n", kind, s_str(act, "resource"),
                   json_is_true(json_object_get(act, "applied")) ? "  (applied)" : "",
                   json_is_true(json_object_get(act, "owned")) ? "  (bsupd's own alarm)"
                   : k == BSUP_ACTION_REPORT || k == BSUP_ACTION_FINDING
                       ? "  (reported, never changed by bsupd)"
                   : k == BSUP_ACTION_MISSING  ? "  (missing)"
                   : k == BSUP_ACTION_DEGRADED ? "  (degraded)"
                                               : "");
            json_array_foreach(json_object_get(act, "changes"), c, ch)
            {
                printf("          %-*s %s -> %s\n            why: ", w_field, s_str(ch, "field"),
                       s_str(ch, "observed"), s_str(ch, "desired"));
                s_wrap(s_str(ch, "reason"), 17, 17);
            }
            if (json_is_true(json_object_get(act, "held"))) {
                printf("          %sheld:%s ", S_RED, S_RESET);
                s_wrap(s_str(act, "held_reason"), 16, 16);
            }
        }
    }
    json_decref(errors);
    if (json_is_true(json_object_get(reply, "paused")))
        printf("\n%sPaused%s: nothing is applied until 'bsupctl resume'.\n", S_YELLOW, S_RESET);
    return rc;
}

/* TIME SERVICE KIND MESSAGE; long messages wrap under MESSAGE (s_wrap). SERVICE is as wide
 * as the longest name shown: a name is never cut. */
static int s_show_events(json_t *reply, bool header)
{
    enum { W_AT = 14, W_KIND = 21 };
    size_t i;
    json_t *row;
    static int w_service = 7; /* following, it only grows: earlier rows stay aligned */
    json_array_foreach(json_object_get(reply, "events"), i, row)
    {
        int l = (int)strlen(s_str(row, "service"));
        w_service = l > w_service ? l : w_service;
    }
    if (header)
        printf("%s%-*s  %-*s  %-*s  %s%s\n", S_BOLD, W_AT, "TIME", w_service, "SERVICE", W_KIND,
               "KIND", "MESSAGE", S_RESET);
    json_array_foreach(json_object_get(reply, "events"), i, row)
    {
        char at[32], kind[32];
        time_t t = (time_t)json_integer_value(json_object_get(row, "at"));
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(at, sizeof(at), "%m-%d %H:%M:%S", &tm);
        s_cell(kind, sizeof(kind), s_str(row, "kind"), W_KIND);
        int col =
            printf("%-*s  %-*s  %-*s  ", W_AT, at, w_service, s_str(row, "service"), W_KIND, kind);
        s_wrap(s_str(row, "message"), col, col);
    }
    return S_EXIT_OK;
}

/* Text from bsupd (AWS's error messages, event messages, names) reaches a terminal: a control
 * character in it (C0, DEL, or C1 as UTF-8 \xc2\x80-\x9f) is shown as \xNN, never sent raw,
 * so that no answer can move the cursor, recolour or retitle the operator's terminal. JSON
 * output escapes them itself. */
static void s_defang(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x) s_defang(x);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) s_defang(x);
    } else if (json_is_string(v)) {
        const unsigned char *t = (const unsigned char *)json_string_value(v);
        size_t n = json_string_length(v), bad = 0;
        for (i = 0; i < n; i++)
            bad += t[i] < 0x20 || t[i] == 0x7f || (t[i] == 0xc2 && i + 1 < n && t[i + 1] < 0xa0);
        if (!bad)
            return;
        char *out = malloc(n + 8 * bad + 1), *o = out;
        if (!out)
            return;
        for (i = 0; i < n; i++) {
            if (t[i] == 0xc2 && i + 1 < n && t[i + 1] < 0xa0) {
                o += sprintf(o, "\\x%02x\\x%02x", t[i], t[i + 1]);
                i++;
            } else if (t[i] < 0x20 || t[i] == 0x7f) {
                o += sprintf(o, "\\x%02x", t[i]);
            } else {
                *o++ = (char)t[i];
            }
        }
        json_string_setn(v, out, (size_t)(o - out));
        free(out);
    }
}

/* Whether everything printed reached stdout: a full disk or a closed pipe is an error, not
 * "all good". */
static bool s_output_ok(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return true;
    fprintf(stderr, "bsupctl: cannot write the output: %s\n", strerror(errno));
    return false;
}

static volatile sig_atomic_t s_stopped;

static void on_stop_signal(int sig)
{
    (void)sig;
    s_stopped = 1;
}

/* The newest event's id, for a follower whose first reply had none: 0 when there is none. */
static bool s_newest_id(const struct s_args *a, json_int_t *out)
{
    json_t *req = json_pack("{s:s, s:i}", "cmd", "events", "limit", 1);
    if (req && a->service)
        json_object_set_new(req, "service", json_string(a->service));
    json_t *reply = req ? s_call(a, req) : NULL;
    json_decref(req);
    bool ok = json_is_true(json_object_get(reply, "ok"));
    *out = json_integer_value(
        json_object_get(json_array_get(json_object_get(reply, "events"), 0), "id"));
    json_decref(reply);
    return ok;
}

/* events --follow: the events of the first reply, then those after the last one shown, asked for
 * every second (at once while a reply comes full), until SIGINT or SIGTERM (0) or bsupd stops
 * answering (2). With --json one event per line. Rows are also filtered by id, so that a bsupd
 * that predates after_id does not repeat itself. reply is consumed. */
static int s_follow(const struct s_args *a, json_t *reply)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    json_int_t last = -1;
    bool header = !a->json;
    while (reply) {
        if (!json_is_true(json_object_get(reply, "ok"))) {
            json_t *err = json_object_get(reply, "error");
            fprintf(stderr, "bsupctl: %s: %s (%s)\n", a->socket, s_str(err, "message"),
                    s_str(err, "code"));
            json_decref(reply);
            return S_EXIT_ERROR;
        }
        json_t *events = json_object_get(reply, "events"), *fresh = json_array(), *row;
        size_t i;
        json_array_foreach(events, i, row)
        {
            json_int_t id = json_integer_value(json_object_get(row, "id"));
            if (id > last) {
                json_array_append(fresh, row);
                last = id;
            }
        }
        bool full = json_is_true(json_object_get(reply, "truncated")) ||
                    json_array_size(events) >= S_EVENTS_PER_REPLY;
        json_decref(reply);
        reply = NULL;
        if (a->json) {
            json_array_foreach(fresh, i, row)
            {
                json_dumpf(row, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fputc('\n', stdout);
            }
        } else if (header || json_array_size(fresh)) {
            s_defang(fresh);
            json_t *page = json_pack("{s:O}", "events", fresh);
            s_show_events(page, header);
            json_decref(page);
            header = false;
        }
        json_decref(fresh);
        if (!s_output_ok())
            return S_EXIT_ERROR;
        if (last < 0 && !s_newest_id(a, &last))
            return S_EXIT_ERROR;
        /* Waits a second (a signal ends it early), or less when no one reads the output any
         * more (the reader of the pipe exited, as with | head): the end of following. */
        struct pollfd out = {.fd = STDOUT_FILENO};
        if (!full && poll(&out, 1, 1000) > 0 && (out.revents & (POLLERR | POLLHUP | POLLNVAL)))
            break;
        if (s_stopped)
            break;
        json_t *req = json_pack("{s:s, s:I}", "cmd", "events", "after_id", last);
        if (req && a->service)
            json_object_set_new(req, "service", json_string(a->service));
        reply = req ? s_call(a, req) : NULL;
        json_decref(req);
        if (!reply && s_stopped)
            break;
        if (!reply)
            return S_EXIT_ERROR;
    }
    return S_EXIT_OK;
}

static int s_show_reload(json_t *reply)
{
    json_t *l = json_object_get(reply, "loaded");
#define S_N(k) ((long long)json_integer_value(json_object_get(l, k)))
    printf("reloaded (request %s): %lld files, %lld rejected; %lld services: %lld added, %lld "
           "changed, %lld removed, %lld kept from rejected files\n",
           s_str(reply, "request_id"), S_N("files"), S_N("files_rejected"), S_N("services"),
           S_N("added"), S_N("changed"), S_N("removed"), S_N("kept"));
    size_t i, k;
    json_t *e, *f;
    json_array_foreach(json_object_get(l, "errors"), i, e)
        printf("  %s%s%s\n", S_RED, json_string_value(e), S_RESET);
    json_array_foreach(json_object_get(l, "file_list"), k, f)
        json_array_foreach(json_object_get(f, "errors"), i, e)
            printf("  %s%s%s\n", S_RED, json_string_value(e), S_RESET);
    json_array_foreach(json_object_get(l, "warnings"), i, e)
        printf("  warning: %s\n", json_string_value(e));
    return S_N("files_rejected") ? S_EXIT_ATTENTION : S_EXIT_OK;
#undef S_N
}

int main(int argc, char **argv)
{
    struct s_args a = {0};
    bool done;
    int rc = s_parse_args(&a, argc, argv, &done);
    if (rc || done)
        return rc || s_output_ok() ? rc : S_EXIT_ERROR;
    s_colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    s_width = s_columns();

    json_t *req = json_pack("{s:s}", "cmd", a.command);
    if (!req)
        return S_EXIT_ERROR;
    if (a.service)
        json_object_set_new(req, "service", json_string(a.service));
    if (a.wait)
        json_object_set_new(req, "wait", json_true());
    if (a.since) {
        int64_t since_s;
        if (bsup_duration_parse(a.since, &since_s) || since_s < 0) {
            json_decref(req);
            return s_bad_args("--since %s is not a duration (90s, 5m, 26h, 7d)", a.since);
        }
        json_object_set_new(req, "since_s", json_integer(since_s));
    }
    json_t *reply = s_call(&a, req);
    if (reply && (strcmp(a.command, "status") == 0 || strcmp(a.command, "plan") == 0))
        reply = s_rest_of_pages(&a, req, reply);
    json_decref(req);
    if (!reply)
        return S_EXIT_ERROR;
    if (a.follow)
        return s_follow(&a, reply);
    if (a.json) {
        json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    s_defang(reply);
    if (!json_is_true(json_object_get(reply, "ok"))) {
        json_t *err = json_object_get(reply, "error");
        fprintf(stderr, "bsupctl: %s: %s (%s)\n", a.socket, s_str(err, "message"),
                s_str(err, "code"));
        json_decref(reply);
        return S_EXIT_ERROR;
    }
    const char *c = a.command;
    if (strcmp(c, "status") == 0)
        rc = a.json ? (json_is_true(json_object_get(reply, "attention")) ? S_EXIT_ATTENTION : 0)
                    : s_show_status(reply, a.service != NULL);
    else if (a.json)
        rc = (strcmp(c, "reload") == 0 &&
              json_integer_value(
                  json_object_get(json_object_get(reply, "loaded"), "files_rejected"))) ||
                     (strcmp(c, "plan") == 0 && s_plan_has_actions(reply)) ||
                     json_is_true(json_object_get(reply, "attention"))
                 ? S_EXIT_ATTENTION
                 : S_EXIT_OK;
    else if (strcmp(c, "plan") == 0)
        rc = s_show_plan(&a, reply) || json_is_true(json_object_get(reply, "attention"))
                 ? S_EXIT_ATTENTION
                 : S_EXIT_OK; /* as with --json: a service in error may have no actions */
    else if (strcmp(c, "events") == 0)
        rc = s_show_events(reply, true);
    else if (strcmp(c, "reload") == 0)
        rc = s_show_reload(reply);
    else if (strcmp(c, "reconcile") == 0 && a.wait) {
        bool attention = json_is_true(json_object_get(reply, "attention"));
        printf("reconcile %s done: %s\n", s_str(reply, "request_id"),
               attention ? "some services need attention (bsupctl status)" : "all in sync");
        rc = attention ? S_EXIT_ATTENTION : S_EXIT_OK;
    } else if (strcmp(c, "reconcile") == 0)
        printf("reconcile %s requested%s\n", s_str(reply, "request_id"),
               json_is_true(json_object_get(reply, "paused")) ? " (paused: observe only)" : "");
    else if (strcmp(c, "pause") == 0 || strcmp(c, "resume") == 0)
        printf("%s%s\n",
               json_is_true(json_object_get(reply, "paused"))
                   ? "paused: every service observes only until 'bsupctl resume'"
                   : "resumed: services follow their configured mode",
               json_is_true(json_object_get(reply, "changed")) ? "" : " (already so)");
    json_decref(reply);
    return s_output_ok() ? rc : S_EXIT_ERROR;
}
