#include "daemon/aws/process.h"

#include "core/base/error.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bsup_process {
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    int open; /* handles not closed yet */
    bool exited, eof, finishing, timed_out, too_big, cancelled, failed_start;
    int64_t exit_status;
    int term_signal;
    char *buf; /* stdout: a secret */
    size_t len, max;
    uint32_t timeout_ms;
    bsup_process_fn cb;
    void *user;
};

static void on_closed(uv_handle_t *h)
{
    struct bsup_process *p = h->data;
    if (--p->open > 0)
        return;
    if (!p->failed_start) {
        char why[64] = "";
        if (p->cancelled)
            snprintf(why, sizeof(why), "cancelled");
        else if (p->timed_out)
            snprintf(why, sizeof(why), "timed out after %u %s (killed)",
                     p->timeout_ms % 1000 ? p->timeout_ms : p->timeout_ms / 1000,
                     p->timeout_ms % 1000 ? "ms" : "s");
        else if (p->too_big)
            snprintf(why, sizeof(why), "printed more than %zu bytes", p->max);
        else if (p->term_signal)
            snprintf(why, sizeof(why), "killed by signal %d", p->term_signal);
        p->cb(p->user, (int)p->exit_status, why[0] ? why : NULL, p->buf ? p->buf : "", p->len);
    }
    if (p->buf)
        bsup_secure_zero(p->buf, p->max + 1);
    free(p->buf);
    free(p);
}

static void s_close_all(struct bsup_process *p)
{
    if (p->finishing)
        return;
    p->finishing = true;
    uv_close((uv_handle_t *)&p->timer, on_closed);
    uv_close((uv_handle_t *)&p->out, on_closed);
    uv_close((uv_handle_t *)&p->proc, on_closed);
}

/* Kills the process's session (it leads its own group): children that hold stdout go too. */
static void s_kill(struct bsup_process *p)
{
    if (p->proc.pid > 0)
        uv_kill(-p->proc.pid, SIGKILL);
}

static void on_exit_cb(uv_process_t *h, int64_t exit_status, int term_signal)
{
    struct bsup_process *p = h->data;
    p->exited = true;
    p->exit_status = exit_status;
    p->term_signal = term_signal;
    if (p->eof || p->timed_out || p->too_big || p->cancelled)
        s_close_all(p);
    /* else its stdout is read to the end, within the timeout */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct bsup_process *p = h->data;
    /* One byte past the cap tells a longer output. */
    *buf = uv_buf_init(p->buf + p->len, (unsigned)(p->max + 1 - p->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct bsup_process *p = s->data;
    if (n > 0) {
        p->len += (size_t)n;
        if (p->len > p->max) {
            p->too_big = true;
            p->len = 0;
            uv_read_stop(s);
            s_kill(p);
            if (p->exited)
                s_close_all(p);
        }
        return;
    }
    if (n < 0) { /* EOF or an error: nothing more to read */
        p->eof = true;
        uv_read_stop(s);
        if (p->exited)
            s_close_all(p);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct bsup_process *p = t->data;
    p->timed_out = true;
    s_kill(p);
    if (p->exited) /* it is gone, a child of its still holds stdout */
        s_close_all(p);
}

int bsup_process_run(uv_loop_t *loop, char *const *argv, uint32_t timeout_ms, size_t max_out_bytes,
                     bsup_process_fn cb, void *user, struct bsup_process **out_proc, char *why,
                     size_t why_size)
{
    *out_proc = NULL;
    struct bsup_process *p = calloc(1, sizeof(*p));
    char *buf = malloc(max_out_bytes + 1);
    if (!p || !buf) {
        free(p);
        free(buf);
        snprintf(why, why_size, "out of memory");
        return BSUP_ENOMEM;
    }
    p->buf = buf;
    p->max = max_out_bytes;
    p->timeout_ms = timeout_ms;
    p->cb = cb;
    p->user = user;
    p->proc.data = p->out.data = p->timer.data = p;
    uv_timer_init(loop, &p->timer);
    uv_pipe_init(loop, &p->out, 0);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
        {.flags = UV_IGNORE},
    };
    uv_process_options_t o = {.exit_cb = on_exit_cb,
                              .file = argv[0],
                              .args = (char **)argv,
                              .flags = UV_PROCESS_DETACHED,
                              .stdio_count = 3,
                              .stdio = stdio};
    p->open = 3;
    int rc = uv_spawn(loop, &p->proc, &o);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
    if (rc < 0) {
        snprintf(why, why_size, "cannot be run: %s", uv_strerror(rc));
        if (p->proc.pid > 0)
            s_kill(p);
        p->failed_start = true;
        s_close_all(p);
        return BSUP_EIO;
    }
    uv_timer_start(&p->timer, on_timeout, timeout_ms, 0);
    *out_proc = p;
    return 0;
}

void bsup_process_cancel(struct bsup_process *p)
{
    p->cancelled = true;
    s_kill(p);
    if (p->exited)
        s_close_all(p);
}
