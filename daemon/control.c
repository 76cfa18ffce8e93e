#include "daemon/control.h"

#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Requests served per loop turn at most (round robin over the clients that have one ready,
 * admins first), and the time after which a turn stops early: one client's heavy requests
 * delay another's by at most one of them. */
#define S_TURN_MAX_REQUESTS 8
#define S_TURN_MAX_NS (10 * 1000 * 1000)

struct s_client;

/* Clients with a complete request ready to serve, oldest first. */
struct s_queue {
    struct s_client *head, *tail;
};

struct s_client {
    uv_pipe_t pipe;
    uv_timer_t timer; /* the nearest deadline of s_client_arm */
    uv_shutdown_t shutdown_req;
    struct bsup_control *ctl;
    struct s_client *prev, *next;   /* every client */
    struct s_client *qnext, *qprev; /* within *queue */
    struct s_queue *queue;          /* the ready queue it waits in, or NULL */
    uint64_t id;
    struct bsup_peer peer;
    char *buf;        /* max_line_bytes + 1 */
    size_t len;       /* bytes in buf */
    size_t lines_end; /* just past the last '\n' in buf: [0, lines_end) holds whole lines */
    uint64_t partial_since_ms; /* when the incomplete line (len > lines_end) began */
    uint64_t idle_since_ms;    /* since when the client owes us its next request */
    uint64_t stall_since_ms;   /* since when its queued output has not moved */
    size_t stall_bytes;        /* the write queue then */
    size_t queued_bytes;
    unsigned pending_replies;
    int open_handles;
    bool admin;    /* classified BSUP_CONTROL_ADMIN */
    bool counted;  /* holds one of max_clients */
    bool reading;  /* uv_read_start in effect */
    bool eof;      /* the client sends no more; what it sent is still served */
    bool closing;  /* uv_close called */
    bool draining; /* no more requests; closes after queued output */
    bool shutdown_started;
};

struct s_write {
    uv_write_t req;
    struct s_client *client;
    size_t len;
    char *data;   /* the encoded reply, its NUL turned into the line's newline; or, for an
                   * encoded one (hold), the text sent before hold's */
    json_t *hold; /* an encoded reply, sent from its own text, without a copy */
};

struct bsup_control {
    uv_loop_t *loop;
    uv_pipe_t listener;
    uv_idle_t turn; /* active while a queue is not empty */
    bool listener_open, turn_open;
    char *path; /* to unlink on close; NULL for an activated socket */
    struct bsup_control_limits limits;
    struct bsup_control_handlers h;
    struct s_client *clients;
    struct s_queue ready_admin, ready_reader;
    size_t n_counted; /* clients within max_clients */
    size_t n_readers; /* of those, readers */
    size_t n_all;     /* every client struct alive */
    uint64_t next_id;
    uint64_t refused;           /* clients turned away (limits or rights), ever */
    uint64_t refused_logged_ms; /* uv_now of the last warning about it */
    bool stopping;
    bsup_close_fn on_closed;
    void *closed_user;
    /* A written encoded reply's allocation, kept limits.spare_keep_ms for the next one to be
     * built in (bsup_control_spare): its pages are resident, where a fresh one faults each page
     * in. */
    char *spare;
    size_t spare_cap;
    uv_timer_t spare_timer; /* lets the spare go */
    bool spare_timer_open;
};

#define S_SPARE_MIN_BYTES (128u << 10) /* smaller replies come from the heap, already resident */

static void s_client_close(struct s_client *c);
static void s_client_step(struct s_client *c);
static void on_timer(uv_timer_t *t);
static void on_turn(uv_idle_t *h);
static void on_turn_closed(uv_handle_t *h);
static void on_spare_timer_closed(uv_handle_t *h);
static void s_reply_written(struct bsup_control *ctl, json_t *reply);

bool bsup_peer_in_group(const struct bsup_peer *peer, gid_t gid)
{
    if (peer->gid == gid)
        return true;
    for (size_t i = 0; i < peer->n_groups; i++)
        if (peer->groups[i] == gid)
            return true;
    return false;
}

/* Supplementary groups as the kernel saw them at connect time (SO_PEERGROUPS), else from
 * /proc/<pid>/status. A peer whose groups cannot be read simply has none. */
static void s_peer_identify(int fd, struct bsup_peer *peer)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    memset(peer, 0, sizeof(*peer));
    peer->uid = (uid_t)-1;
    peer->gid = (gid_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return;
    peer->uid = cred.uid;
    peer->gid = cred.gid;
    peer->pid = cred.pid;
#ifdef SO_PEERGROUPS
    len = sizeof(peer->groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0) {
        peer->n_groups = len / sizeof(gid_t);
        return;
    }
#endif
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)cred.pid);
    FILE *f = cred.pid > 0 ? fopen(path, "re") : NULL;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        char *p = line + 7, *end;
        while (peer->n_groups < sizeof(peer->groups) / sizeof(peer->groups[0])) {
            unsigned long g = strtoul(p, &end, 10);
            if (end == p)
                break;
            peer->groups[peer->n_groups++] = (gid_t)g;
            p = end;
        }
        break;
    }
    fclose(f);
}

/* Length of the UTF-8 character at p as jansson accepts it (no overlong form, surrogate or
 * code point beyond U+10FFFF), or 0 when p does not start one. */
static size_t s_utf8_char_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                              : 0;
    if (n == 0)
        return 0;
    uint32_t cp = p[0] & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* the terminating NUL stops here too */
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

json_t *bsup_control_error(const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages quote the client ("%.64s", jansson's error text) and may be cut inside a
     * character; jansson refuses such text, and a NULL reply would leave the client waiting. */
    for (unsigned char *p = (unsigned char *)msg; *p;) {
        size_t n = s_utf8_char_len(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
    return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code, "message", msg);
}

static void s_maybe_closed(struct bsup_control *ctl)
{
    if (!ctl->stopping || ctl->listener_open || ctl->n_all > 0)
        return;
    /* The last handles: their close callbacks come back here. */
    if (ctl->turn_open || ctl->spare_timer_open) {
        if (ctl->turn_open && !uv_is_closing((uv_handle_t *)&ctl->turn))
            uv_close((uv_handle_t *)&ctl->turn, on_turn_closed);
        if (ctl->spare_timer_open && !uv_is_closing((uv_handle_t *)&ctl->spare_timer))
            uv_close((uv_handle_t *)&ctl->spare_timer, on_spare_timer_closed);
        return;
    }
    bsup_close_fn cb = ctl->on_closed;
    void *user = ctl->closed_user;
    free(ctl->spare);
    free(ctl->path);
    free(ctl);
    if (cb)
        cb(user);
}

static void on_turn_closed(uv_handle_t *h)
{
    struct bsup_control *ctl = h->data;
    ctl->turn_open = false;
    s_maybe_closed(ctl);
}

static void on_spare_timer_closed(uv_handle_t *h)
{
    struct bsup_control *ctl = h->data;
    ctl->spare_timer_open = false;
    s_maybe_closed(ctl);
}

/* ---- the ready queues ---- */

static void s_queue_push(struct s_queue *q, struct s_client *c)
{
    c->queue = q;
    c->qnext = NULL;
    c->qprev = q->tail;
    if (q->tail)
        q->tail->qnext = c;
    else
        q->head = c;
    q->tail = c;
}

static void s_queue_remove(struct s_client *c)
{
    struct s_queue *q = c->queue;
    if (!q)
        return;
    if (c->qprev)
        c->qprev->qnext = c->qnext;
    else
        q->head = c->qnext;
    if (c->qnext)
        c->qnext->qprev = c->qprev;
    else
        q->tail = c->qprev;
    c->queue = NULL;
    c->qnext = c->qprev = NULL;
}

/* ---- one client ---- */

/* The client gives up its slot: it hung up, or is being drained or closed. */
static void s_client_uncount(struct s_client *c)
{
    if (!c->counted)
        return;
    c->counted = false;
    c->ctl->n_counted--;
    if (!c->admin)
        c->ctl->n_readers--;
}

static void on_client_handle_closed(uv_handle_t *h)
{
    struct s_client *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct bsup_control *ctl = c->ctl;
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ctl->n_all--;
    bsup_log_debug("control client closed client=%llu", (unsigned long long)c->id);
    free(c->buf);
    free(c);
    s_maybe_closed(ctl);
}

static void s_client_close(struct s_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->draining = true;
    c->reading = false;
    s_queue_remove(c);
    s_client_uncount(c);
    uv_close((uv_handle_t *)&c->pipe, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_client_handle_closed);
}

static void s_read_stop(struct s_client *c)
{
    if (!c->reading)
        return;
    uv_read_stop((uv_stream_t *)&c->pipe);
    c->reading = false;
}

static void on_write(uv_write_t *req, int status)
{
    struct s_write *w = (struct s_write *)req;
    struct s_client *c = w->client;
    c->queued_bytes -= w->len;
    free(w->data);
    s_reply_written(c->ctl, w->hold);
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        bsup_log_debug("control client write failed client=%llu error=%s",
                       (unsigned long long)c->id, uv_strerror(status));
        s_client_close(c);
        return;
    }
    if (c->queued_bytes == 0) /* it has taken its reply: now it owes us the next request */
        c->idle_since_ms = uv_now(c->ctl->loop);
    s_client_step(c);
}

/* The array with the most elements within j, or NULL when every array is empty. */
static json_t *s_longest_array(json_t *j)
{
    json_t *best = json_is_array(j) && json_array_size(j) > 0 ? j : NULL, *v, *sub;
    const char *key;
    size_t i;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            sub = s_longest_array(v);
            if (sub && (!best || json_array_size(sub) > json_array_size(best)))
                best = sub;
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, key, v)
        {
            sub = s_longest_array(v);
            if (sub && (!best || json_array_size(sub) > json_array_size(best)))
                best = sub;
        }
    }
    return best;
}

/* The members of an encoded reply that hold its text's address and length: no request or
 * handler makes such keys. */
#define S_ENCODED "\x01encoded"
#define S_ENCODED_LEN "\x01encoded_len"

json_t *bsup_control_encoded(char *text, size_t len)
{
    json_t *reply = text ? json_object() : NULL;
    if (!reply ||
        json_object_set_new(reply, S_ENCODED, json_integer((json_int_t)(uintptr_t)text)) ||
        json_object_set_new(reply, S_ENCODED_LEN, json_integer((json_int_t)len))) {
        json_decref(reply);
        free(text);
        return NULL;
    }
    return reply;
}

/* An encoded reply's text (its length in *len), or NULL for any other reply. */
static const char *s_encoded(const json_t *reply, size_t *len)
{
    const json_t *at = json_object_get(reply, S_ENCODED),
                 *n = json_object_get(reply, S_ENCODED_LEN);
    if (!json_is_integer(at) || !json_is_integer(n))
        return NULL;
    *len = (size_t)json_integer_value(n);
    return (const char *)(uintptr_t)json_integer_value(at);
}

void bsup_control_reply_drop(json_t *reply)
{
    size_t len = 0;
    if (reply && reply->refcount == 1)
        free((char *)s_encoded(reply, &len));
    json_decref(reply);
}

static void on_spare_timer(uv_timer_t *t)
{
    struct bsup_control *ctl = t->data;
    free(ctl->spare);
    ctl->spare = NULL;
}

/* Lets go of a written reply (takes the reference), keeping a large encoded one's text as the
 * spare (a status of 1000 services, 2.2 MiB, costs about a quarter less CPU built in it): the
 * larger of it and the spare kept, so that the last, short page of a status does not make the
 * next status's first page fault a fresh buffer in. */
static void s_reply_written(struct bsup_control *ctl, json_t *reply)
{
    size_t len = 0, cap;
    char *text = reply && reply->refcount == 1 ? (char *)s_encoded(reply, &len) : NULL;
    if (!text || ctl->stopping || !ctl->spare_timer_open || !ctl->limits.spare_keep_ms ||
        (cap = malloc_usable_size(text)) < S_SPARE_MIN_BYTES) {
        bsup_control_reply_drop(reply);
        return;
    }
    if (ctl->spare && ctl->spare_cap >= cap) {
        bsup_control_reply_drop(reply);
    } else {
        json_decref(reply);
        free(ctl->spare);
        ctl->spare = text;
        ctl->spare_cap = cap;
    }
    uv_timer_start(&ctl->spare_timer, on_spare_timer, ctl->limits.spare_keep_ms, 0);
}

char *bsup_control_spare(struct bsup_control *ctl, size_t *cap)
{
    char *spare = ctl->spare;
    *cap = spare ? ctl->spare_cap : 0;
    ctl->spare = NULL;
    return spare;
}

/* What goes before an encoded reply's text (len bytes): the "id" the server set beside it, as
 * the first member ({"id":X, then the text from *skip, its own "{" skipped; "" and 0 without an
 * id). *out_len: the whole line's length. NULL when the text is not an object, or the line is
 * longer than max_bytes, or memory runs out. */
static char *s_encoded_prefix(const json_t *reply, const char *text, size_t len, size_t max_bytes,
                              size_t *skip, size_t *out_len)
{
    const json_t *id = json_object_get(reply, "id");
    char *id_text = id ? json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY) : NULL, *out = NULL;
    if (len < 2 || text[0] != '{' || (id && !id_text))
        goto out;
    size_t id_len = id_text ? strlen(id_text) + 6 : 0; /* "id":X, */
    size_t n = len + id_len - (id_text && len == 2);   /* {"id":X} has no comma */
    if (n > max_bytes || !(out = malloc(id_len + 2)))
        goto out;
    out[0] = '\0';
    if (id_text)
        sprintf(out, "{\"id\":%s%s", id_text, len == 2 ? "" : ",");
    *skip = id_text ? 1 : 0;
    *out_len = n;
out:
    free(id_text);
    return out;
}

/* An encoded reply's line: s_encoded_prefix and the text, in one buffer. */
static char *s_encoded_text(const json_t *reply, const char *text, size_t len, size_t max_bytes,
                            size_t *out_len)
{
    size_t skip = 0, n = 0;
    char *prefix = s_encoded_prefix(reply, text, len, max_bytes, &skip, &n);
    char *out = prefix ? realloc(prefix, n + 1) : NULL;
    if (!out) {
        free(prefix);
        return NULL;
    }
    size_t at = strlen(out);
    memcpy(out + at, text + skip, n - at);
    out[n] = '\0';
    *out_len = n;
    return out;
}

char *bsup_control_encode_within(const json_t *reply, size_t max_bytes, size_t *out_len)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    size_t enc_len = 0;
    const char *enc = s_encoded(reply, &enc_len);
    if (enc)
        return s_encoded_text(reply, enc, enc_len, max_bytes, out_len);
    char *text = json_dumps(reply, flags);
    json_t *copy = NULL;
    size_t len = text ? strlen(text) : 0;
    if (!text || len <= max_bytes)
        goto out;
    free(text);
    text = NULL;
    /* A copy: parts of a reply may be shared with the caller's state. */
    copy = json_deep_copy(reply);
    if (!json_is_object(copy) || json_object_set_new(copy, "truncated", json_true()))
        goto out;
    for (;;) {
        json_t *longest = s_longest_array(copy);
        if (!longest)
            goto out;
        /* Keep the share of the longest array that would fit if it were all there is; the
         * loop cuts further when the rest of the reply is large too. */
        size_t n = json_array_size(longest);
        size_t keep = (size_t)((double)n * (double)max_bytes / (double)len);
        if (keep >= n)
            keep = n - 1;
        while (json_array_size(longest) > keep)
            json_array_remove(longest, json_array_size(longest) - 1);
        if (!(text = json_dumps(copy, flags)))
            goto out;
        len = strlen(text);
        if (len <= max_bytes)
            goto out;
        free(text);
        text = NULL;
    }
out:
    json_decref(copy);
    if (text)
        *out_len = len;
    return text;
}

/* Queues one reply line (taking the reference). A reply too large for max_queued_bytes on its
 * own is shrunk and marked "truncated"; a client whose earlier output is still unread when this
 * one would pass the cap does not read, and is closed. */
static void s_client_send(struct s_client *c, json_t *reply)
{
    struct bsup_control *ctl = c->ctl;
    size_t max = ctl->limits.max_queued_bytes ? ctl->limits.max_queued_bytes - 1 : 0, len = 0;
    char *text = NULL;
    if (c->closing || !reply) {
        bsup_control_reply_drop(reply);
        if (!reply)
            s_client_close(c);
        return;
    }
    /* An encoded reply is sent from its own text, after its prefix: a status of 1000 services
     * (2 MiB) is never copied. */
    size_t enc_len = 0, skip = 0;
    const char *enc = s_encoded(reply, &enc_len);
    text = enc ? s_encoded_prefix(reply, enc, enc_len, max, &skip, &len)
               : bsup_control_encode_within(reply, max, &len);
    json_t *hold = enc ? reply : NULL; /* kept until written */
    if (!text) {
        hold = NULL;
        bsup_log_warn("control reply too large even when cut, answering an error client=%llu "
                      "max_queued_bytes=%zu",
                      (unsigned long long)c->id, ctl->limits.max_queued_bytes);
        json_t *err = bsup_control_error("reply_too_large", "the reply does not fit in %zu bytes",
                                         ctl->limits.max_queued_bytes);
        json_t *id = json_object_get(reply, "id");
        if (err && id && !json_is_object(id) && !json_is_array(id))
            json_object_set(err, "id", id);
        text = err ? bsup_control_encode_within(err, max, &len) : NULL;
        json_decref(err);
    }
    if (!hold)
        bsup_control_reply_drop(reply); /* a cut or error reply's text is its own copy */
    if (!text) {
        bsup_log_err("cannot encode a control reply client=%llu", (unsigned long long)c->id);
        s_client_close(c);
        return;
    }
    if (c->queued_bytes > 0 && c->queued_bytes + len + 1 > ctl->limits.max_queued_bytes) {
        bsup_log_warn("control client does not read its replies, closing client=%llu "
                      "queued_bytes=%zu",
                      (unsigned long long)c->id, c->queued_bytes);
        free(text);
        bsup_control_reply_drop(hold);
        s_client_close(c);
        return;
    }
    struct s_write *w = malloc(sizeof(*w));
    if (!w) {
        free(text);
        bsup_control_reply_drop(hold);
        s_client_close(c);
        return;
    }
    w->data = text;
    w->hold = hold;
    w->len = len + 1;
    w->client = c;
    uv_buf_t bufs[3];
    unsigned n_bufs = 1;
    if (hold) {
        size_t at = strlen(text);
        bufs[0] = uv_buf_init(text, (unsigned)at);
        bufs[1] = uv_buf_init((char *)enc + skip, (unsigned)(len - at));
        bufs[2] = uv_buf_init((char *)"\n", 1);
        n_bufs = 3;
    } else {
        text[len] = '\n'; /* was its NUL */
        bufs[0] = uv_buf_init(text, (unsigned)w->len);
    }
    if (c->queued_bytes == 0)
        c->stall_since_ms = uv_now(ctl->loop);
    c->queued_bytes += w->len;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, bufs, n_bufs, on_write);
    if (rc < 0) {
        c->queued_bytes -= w->len;
        free(w->data);
        bsup_control_reply_drop(w->hold);
        free(w);
        s_client_close(c);
        return;
    }
    c->stall_bytes = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    s_client_close(req->data);
}

/* No more requests from this client: it gives up its slot, and closes once its pending
 * replies are sent and its output is flushed. */
static void s_client_drain(struct s_client *c)
{
    if (c->closing || c->draining)
        return;
    c->draining = true;
    s_read_stop(c);
    s_queue_remove(c);
    s_client_uncount(c);
    s_client_step(c);
}

/* Re-arms the client's one timer for its nearest deadline: its queued output not moving, its
 * incomplete request line, or its next request (idle). */
static void s_client_arm(struct s_client *c)
{
    const struct bsup_control_limits *lim = &c->ctl->limits;
    uint64_t now = uv_now(c->ctl->loop), due = UINT64_MAX, t;
    if (c->closing)
        return;
    if (c->queued_bytes > 0)
        due = c->stall_since_ms + lim->idle_timeout_ms;
    if (!c->draining && c->reading && c->len > c->lines_end) {
        t = c->partial_since_ms + lim->request_timeout_ms;
        due = t < due ? t : due;
    }
    if (!c->draining && !c->eof && c->len == 0 && c->pending_replies == 0 && c->queued_bytes == 0) {
        t = c->idle_since_ms + lim->idle_timeout_ms;
        due = t < due ? t : due;
    }
    if (due == UINT64_MAX)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct s_client *c = t->data;
    const struct bsup_control_limits *lim = &c->ctl->limits;
    uint64_t now = uv_now(c->ctl->loop);
    if (c->queued_bytes > 0 && now >= c->stall_since_ms + lim->idle_timeout_ms) {
        size_t left = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
        if (left > 0 && left >= c->stall_bytes) {
            bsup_log_warn("control client takes none of its output, closing client=%llu "
                          "queued_bytes=%zu idle_timeout_ms=%llu",
                          (unsigned long long)c->id, c->queued_bytes,
                          (unsigned long long)lim->idle_timeout_ms);
            s_client_close(c);
            return;
        }
        c->stall_bytes = left; /* it reads, slowly: give it another period */
        c->stall_since_ms = now;
    }
    if (!c->draining && c->reading && c->len > c->lines_end &&
        now >= c->partial_since_ms + lim->request_timeout_ms) {
        bsup_log_info("control request line not finished in time, closing client=%llu uid=%u "
                      "request_timeout_ms=%llu",
                      (unsigned long long)c->id, (unsigned)c->peer.uid,
                      (unsigned long long)lim->request_timeout_ms);
        s_client_send(c, bsup_control_error("request_timeout",
                                            "request line not finished within %llu ms of its "
                                            "first byte, closing",
                                            (unsigned long long)lim->request_timeout_ms));
        s_client_drain(c);
        return;
    }
    if (!c->draining && !c->eof && c->len == 0 && c->pending_replies == 0 && c->queued_bytes == 0 &&
        now >= c->idle_since_ms + lim->idle_timeout_ms) {
        s_client_send(c, bsup_control_error("idle_timeout", "no request for %llu ms, closing",
                                            (unsigned long long)lim->idle_timeout_ms));
        s_client_drain(c);
        return;
    }
    s_client_arm(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct s_client *c = h->data;
    size_t room = c->ctl->limits.max_line_bytes + 1 - c->len;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Moves the client on after any change: queues it when its next request can be served (a whole
 * line is there, nothing pending, its last reply taken), reads again when there is room,
 * finishes a drain, and re-arms its deadline. */
static void s_client_step(struct s_client *c)
{
    struct bsup_control *ctl = c->ctl;
    if (c->closing)
        return;
    if (!c->draining && c->eof && c->lines_end == 0 && c->pending_replies == 0) {
        s_client_drain(c); /* comes back here */
        return;
    }
    if (c->draining) {
        if (c->pending_replies == 0 && !c->shutdown_started) {
            c->shutdown_started = true; /* after the queued output */
            c->shutdown_req.data = c;
            if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->pipe, on_shutdown) < 0) {
                s_client_close(c);
                return;
            }
        }
    } else {
        if (c->lines_end > 0 && c->pending_replies == 0 && c->queued_bytes == 0 && !c->queue) {
            s_queue_push(c->admin ? &ctl->ready_admin : &ctl->ready_reader, c);
            uv_idle_start(&ctl->turn, on_turn);
        }
        if (!c->reading && !c->eof && c->len <= ctl->limits.max_line_bytes) {
            if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0) {
                s_client_close(c);
                return;
            }
            c->reading = true;
            c->partial_since_ms = uv_now(ctl->loop); /* the line's clock restarts with reading */
        }
    }
    s_client_arm(c);
}

static void s_client_line(struct s_client *c, const char *line, size_t len)
{
    struct bsup_control *ctl = c->ctl;
    json_error_t err;
    /* Any JSON value parses: one that is not an object is bad_request, not bad_json. */
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    json_t *reply = NULL;
    c->idle_since_ms = uv_now(ctl->loop);
    if (!req) {
        reply = bsup_control_error("bad_json", "request is not JSON: %s (column %d)", err.text,
                                   err.column);
    } else if (!json_is_object(req)) {
        reply = bsup_control_error("bad_request", "request must be a JSON object");
    } else if (ctl->stopping) {
        reply = bsup_control_error("shutting_down", "bsupd is shutting down");
    } else {
        reply = ctl->h.on_request(ctl->h.ctx, c->id, &c->peer, req);
        if (!reply) {
            c->pending_replies++;
            json_decref(req);
            return;
        }
    }
    json_t *id = req && json_is_object(req) ? json_object_get(req, "id") : NULL;
    if (id && json_is_object(reply) && !json_object_get(reply, "id"))
        json_object_set(reply, "id", id);
    json_decref(req);
    s_client_send(c, reply);
}

/* Serves the client's next request (the first non-empty whole line) and drops it from the
 * buffer. */
static void s_client_serve(struct s_client *c)
{
    size_t start = 0, scan = 0, line_len = 0;
    const char *line = NULL;
    bool got = bsup_control_next_line(c->buf, c->lines_end, &start, &scan, &line, &line_len);
    if (got)
        s_client_line(c, line, line_len);
    if (c->closing)
        return;
    size_t used = got ? start : c->lines_end; /* else only empty lines were there */
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    c->lines_end -= used;
    s_client_step(c);
}

/* One loop turn's share of requests: admins' first, then readers', one per client, each
 * client going to the back of its queue until its reply has been taken. */
static void on_turn(uv_idle_t *h)
{
    struct bsup_control *ctl = h->data;
    uint64_t start_ns = uv_hrtime();
    for (int i = 0; i < S_TURN_MAX_REQUESTS; i++) {
        struct s_client *c = ctl->ready_admin.head ? ctl->ready_admin.head : ctl->ready_reader.head;
        if (!c)
            break;
        s_queue_remove(c);
        s_client_serve(c);
        if (uv_hrtime() - start_ns > S_TURN_MAX_NS)
            break;
    }
    if (!ctl->ready_admin.head && !ctl->ready_reader.head)
        uv_idle_stop(&ctl->turn);
}

bool bsup_control_next_line(const char *buf, size_t len, size_t *start, size_t *scan,
                            const char **out_line, size_t *out_len)
{
    for (size_t i = *scan; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        size_t begin = *start, end = i;
        *start = *scan = i + 1;
        if (end > begin && buf[end - 1] == '\r')
            end--;
        if (end > begin) {
            *out_line = buf + begin;
            *out_len = end - begin;
            return true;
        }
    }
    *scan = len;
    return false;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct s_client *c = s->data;
    struct bsup_control *ctl = c->ctl;
    if (nread == UV_ENOBUFS) { /* no room: wait until a request is served */
        s_read_stop(c);
        s_client_step(c);
        return;
    }
    if (nread == UV_EOF) {
        /* It sends no more: its slot is free now; what it sent is still answered, and a last
         * request without a newline counts (the buffer has room: reading stops when full). */
        s_read_stop(c);
        c->eof = true;
        s_client_uncount(c);
        if (c->len > c->lines_end) {
            c->buf[c->len++] = '\n';
            c->lines_end = c->len;
        }
        s_client_step(c);
        return;
    }
    if (nread < 0) {
        s_client_close(c);
        return;
    }
    if (nread == 0 || c->draining)
        return;
    size_t old = c->len;
    uint64_t now = uv_now(ctl->loop);
    c->len += (size_t)nread;
    const char *nl = memrchr(c->buf + old, '\n', (size_t)nread);
    if (nl) {
        c->lines_end = (size_t)(nl - c->buf) + 1;
        c->partial_since_ms = now; /* a line after it starts now, if any */
    } else if (old == c->lines_end) {
        c->partial_since_ms = now; /* the first byte of a new line */
    }
    if (c->len - c->lines_end > ctl->limits.max_line_bytes) {
        s_client_send(c, bsup_control_error("line_too_long",
                                            "request line longer than %zu bytes, closing",
                                            ctl->limits.max_line_bytes));
        c->len = c->lines_end;
        s_client_drain(c);
        return;
    }
    if (c->len > ctl->limits.max_line_bytes)
        s_read_stop(c); /* full of whole lines: read on once some are served */
    s_client_step(c);
}

/* Whether a client of this class may take a slot now. */
static bool s_slot_free(const struct bsup_control *ctl, bool admin)
{
    const struct bsup_control_limits *lim = &ctl->limits;
    size_t readers_max =
        lim->max_clients > lim->reserved_clients ? lim->max_clients - lim->reserved_clients : 0;
    return ctl->n_counted < lim->max_clients && (admin || ctl->n_readers < readers_max);
}

/* Whether uid already holds its share of the reader slots. */
static bool s_uid_full(const struct bsup_control *ctl, uid_t uid)
{
    size_t n = 0;
    for (const struct s_client *c = ctl->clients; c; c = c->next)
        n += c->counted && !c->admin && c->peer.uid == uid;
    return ctl->limits.max_reader_per_uid && n >= ctl->limits.max_reader_per_uid;
}

/* Clients whose peer has shut its end give up their slot now, before the loop reads their EOF:
 * a burst of clients that connect and go must not turn the next one away. */
static void s_reap_hung_up(struct bsup_control *ctl)
{
    size_t n = 0;
    struct pollfd *fds = calloc(ctl->n_counted + 1, sizeof(*fds));
    struct s_client **who = calloc(ctl->n_counted + 1, sizeof(*who));
    if (!fds || !who)
        goto out;
    for (struct s_client *c = ctl->clients; c && n < ctl->n_counted; c = c->next) {
        uv_os_fd_t fd;
        if (!c->counted || uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
            continue;
        fds[n] = (struct pollfd){.fd = fd, .events = POLLRDHUP};
        who[n++] = c;
    }
    if (n == 0 || poll(fds, n, 0) <= 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!(fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
            continue;
        bsup_log_debug("control client hung up, its slot is free client=%llu",
                       (unsigned long long)who[i]->id);
        s_client_uncount(who[i]);
    }
out:
    free(fds);
    free(who);
}

/* Counts a refused client; one warning per second at most: a flood must not flood the journal
 * too. */
static void s_log_refused(struct bsup_control *ctl, const struct s_client *c, const char *why)
{
    uint64_t now_ms = uv_now(ctl->loop);
    ctl->refused++;
    if (ctl->refused_logged_ms != 0 && now_ms - ctl->refused_logged_ms < 1000)
        return;
    bsup_log_warn("control client refused reason=%s clients=%zu max_clients=%zu "
                  "reserved_clients=%zu refused=%llu uid=%u",
                  why, ctl->n_counted, ctl->limits.max_clients, ctl->limits.reserved_clients,
                  (unsigned long long)ctl->refused, (unsigned)c->peer.uid);
    ctl->refused_logged_ms = now_ms;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct bsup_control *ctl = server->data;
    if (status < 0) {
        bsup_log_warn("control socket accept failed error=%s", uv_strerror(status));
        return;
    }
    struct s_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->buf = malloc(ctl->limits.max_line_bytes + 1))) {
        /* Take the connection off the backlog so the loop does not spin on it. */
        uv_os_fd_t lfd;
        free(c);
        bsup_log_err("out of memory accepting a control client");
        int fd = uv_fileno((uv_handle_t *)server, &lfd) == 0
                     ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC)
                     : -1;
        if (fd >= 0)
            close(fd);
        return;
    }
    c->ctl = ctl;
    c->id = ++ctl->next_id;
    uv_pipe_init(ctl->loop, &c->pipe, 0);
    uv_timer_init(ctl->loop, &c->timer);
    c->pipe.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->next = ctl->clients;
    if (c->next)
        c->next->prev = c;
    ctl->clients = c;
    ctl->n_all++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        s_client_close(c);
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0)
        s_peer_identify(fd, &c->peer);
    c->idle_since_ms = uv_now(ctl->loop);
    json_t *refusal = NULL;
    enum bsup_control_class cls =
        ctl->h.classify ? ctl->h.classify(ctl->h.ctx, &c->peer, &refusal) : BSUP_CONTROL_READER;
    c->admin = cls == BSUP_CONTROL_ADMIN;
    /* Beyond twice the limit not even worth an error line; admins are bounded by their slots. */
    if (!c->admin && ctl->n_all > 2 * ctl->limits.max_clients) {
        json_decref(refusal);
        s_client_close(c);
        return;
    }
    if (cls == BSUP_CONTROL_REFUSED) {
        s_log_refused(ctl, c, "permission");
        s_client_send(c, refusal ? refusal
                                 : bsup_control_error("permission_denied", "not allowed here"));
        s_client_drain(c);
        return;
    }
    json_decref(refusal);
    if (!s_slot_free(ctl, c->admin) || (!c->admin && s_uid_full(ctl, c->peer.uid)))
        s_reap_hung_up(ctl);
    if (!c->admin && s_uid_full(ctl, c->peer.uid)) {
        s_log_refused(ctl, c, "too_many_clients_of_user");
        s_client_send(c, bsup_control_error("too_many_clients",
                                            "bsupd serves at most %zu clients of one user at "
                                            "once; retry",
                                            ctl->limits.max_reader_per_uid));
        s_client_drain(c);
        return;
    }
    if (!s_slot_free(ctl, c->admin)) {
        s_log_refused(ctl, c, "too_many_clients");
        if (c->admin || ctl->limits.reserved_clients == 0)
            s_client_send(c, bsup_control_error("too_many_clients",
                                                "bsupd serves at most %zu clients at once; retry",
                                                ctl->limits.max_clients));
        else
            s_client_send(c, bsup_control_error(
                                 "too_many_clients",
                                 "bsupd serves at most %zu clients at once, %zu of them only for "
                                 "root and its admin group; retry",
                                 ctl->limits.max_clients, ctl->limits.reserved_clients));
        s_client_drain(c);
        return;
    }
    c->counted = true;
    ctl->n_counted++;
    if (!c->admin)
        ctl->n_readers++;
    bsup_log_debug("control client connected client=%llu uid=%u gid=%u pid=%d class=%s",
                   (unsigned long long)c->id, (unsigned)c->peer.uid, (unsigned)c->peer.gid,
                   (int)c->peer.pid, c->admin ? "admin" : "reader");
    s_client_step(c); /* starts reading and the idle clock */
}

/* Whether something answers on path: then another daemon owns it. */
/* Whether something answers on path; who says what (the listener's name and pid, as far as
 * SO_PEERCRED and /proc tell): an operator stops that, bsupd or not. */
static bool s_socket_is_live(const char *path, char *who, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    snprintf(who, len, "another process");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (live && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid > 0) {
        char proc[64], comm[32] = "";
        snprintf(proc, sizeof(proc), "/proc/%d/comm", (int)cred.pid);
        FILE *f = fopen(proc, "re");
        if (f && fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        if (f)
            fclose(f);
        snprintf(who, len, "%s (pid %d)", comm[0] ? comm : "a process", (int)cred.pid);
    }
    close(fd);
    return live;
}

static int s_make_parent(const char *path, struct bsup_diag *diag)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode)
                   ? 0
                   : bsup_diag_set(diag, BSUP_EINVAL,
                                   "control socket directory %s is not a directory", dir);
    /* Only the last component: a missing /run is not ours to invent. */
    if (mkdir(dir, 0755) != 0)
        return bsup_diag_set(diag, BSUP_EPERM, "cannot create control socket directory %s: %s", dir,
                             strerror(errno));
    return 0;
}

static int s_listen_path(const char *path, int *out_fd, struct bsup_diag *diag)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd = -1, rc;
    if (strlen(path) >= sizeof(sa.sun_path))
        return bsup_diag_set(diag, BSUP_EINVAL, "control socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((rc = s_make_parent(path, diag)))
        return rc;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return bsup_diag_set(diag, BSUP_EEXISTS,
                                 "control socket path %s exists and is not a socket; remove it",
                                 path);
        char who[96];
        if (s_socket_is_live(path, who, sizeof(who)))
            return bsup_diag_set(diag, BSUP_EEXISTS, "%s is already listening on %s; stop it first",
                                 who, path);
        bsup_log_notice("removing a stale control socket path=%s", path);
        if (unlink(path) != 0 && errno != ENOENT)
            return bsup_diag_set(diag, BSUP_EPERM, "cannot remove stale socket %s: %s", path,
                                 strerror(errno));
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return bsup_diag_set(diag, BSUP_EIO, "cannot create a socket: %s", strerror(errno));
    /* 0666: anyone may connect; the peer's credentials decide what it may do
     * (docs/operations.md, "The control socket and its permissions"). */
    mode_t old = umask(0111);
    int brc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int berr = errno;
    umask(old);
    if (brc != 0) {
        rc = bsup_diag_set(diag, berr == EACCES ? BSUP_EPERM : BSUP_EIO,
                           "cannot bind control socket %s: %s", path, strerror(berr));
        goto fail;
    }
    if (chmod(path, 0666) != 0 || listen(fd, 128) != 0) {
        rc = bsup_diag_set(diag, BSUP_EIO, "cannot listen on control socket %s: %s", path,
                           strerror(errno));
        unlink(path);
        goto fail;
    }
    *out_fd = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

int bsup_control_open(uv_loop_t *loop, const char *path, int listen_fd,
                      const struct bsup_control_limits *limits,
                      const struct bsup_control_handlers *handlers, struct bsup_control **out,
                      struct bsup_diag *diag)
{
    struct bsup_control *ctl = calloc(1, sizeof(*ctl));
    int fd = listen_fd, rc;
    *out = NULL;
    if (!ctl)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    ctl->loop = loop;
    ctl->limits = *limits;
    ctl->h = *handlers;
    if (fd < 0) {
        if ((rc = s_listen_path(path, &fd, diag)))
            goto fail;
        if (!(ctl->path = strdup(path))) {
            rc = bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
            unlink(path);
            close(fd);
            goto fail;
        }
    } else {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    uv_idle_init(loop, &ctl->turn);
    ctl->turn.data = ctl;
    ctl->turn_open = true;
    uv_timer_init(loop, &ctl->spare_timer);
    ctl->spare_timer.data = ctl;
    ctl->spare_timer_open = true;
    uv_pipe_init(loop, &ctl->listener, 0);
    ctl->listener.data = ctl;
    ctl->listener_open = true;
    if ((rc = uv_pipe_open(&ctl->listener, fd)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&ctl->listener, 128, on_connection)) < 0) {
        /* The handles are initialised: they must be closed through the loop. */
        rc = bsup_diag_set(diag, BSUP_EIO, "cannot listen on control socket %s: %s",
                           path ? path : "(activated)", uv_strerror(rc));
        bsup_control_close(ctl, NULL, NULL);
        return rc;
    }
    *out = ctl;
    return 0;
fail:
    free(ctl->path);
    free(ctl);
    return rc;
}

int bsup_control_reply(struct bsup_control *ctl, uint64_t client_id, json_t *reply)
{
    for (struct s_client *c = ctl->clients; c; c = c->next) {
        if (c->id != client_id || c->closing)
            continue;
        if (c->pending_replies > 0)
            c->pending_replies--;
        c->idle_since_ms = uv_now(ctl->loop);
        s_client_send(c, reply);
        s_client_step(c);
        return 0;
    }
    bsup_control_reply_drop(reply);
    return BSUP_ENOTFOUND;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct bsup_control *ctl = h->data;
    ctl->listener_open = false;
    s_maybe_closed(ctl);
}

void bsup_control_close(struct bsup_control *ctl, bsup_close_fn cb, void *user)
{
    ctl->on_closed = cb;
    ctl->closed_user = user;
    ctl->stopping = true;
    if (ctl->listener_open && !uv_is_closing((uv_handle_t *)&ctl->listener)) {
        uv_close((uv_handle_t *)&ctl->listener, on_listener_closed);
        if (ctl->path)
            unlink(ctl->path);
    }
    /* Each client sends no more: requests it has already sent are answered (shutting_down),
     * an unfinished line is dropped, pending replies are awaited; then it is closed. */
    for (struct s_client *c = ctl->clients; c; c = c->next) {
        if (c->closing || c->draining)
            continue;
        s_read_stop(c);
        c->eof = true;
        c->len = c->lines_end;
        s_client_uncount(c);
        s_client_step(c);
    }
}

void bsup_control_drop_clients(struct bsup_control *ctl)
{
    for (struct s_client *c = ctl->clients; c; c = c->next)
        s_client_close(c); /* unlinked only in the close callback */
}

size_t bsup_control_n_clients(const struct bsup_control *ctl)
{
    return ctl->n_counted;
}

size_t bsup_control_max_reply_bytes(const struct bsup_control *ctl)
{
    return ctl->limits.max_queued_bytes ? ctl->limits.max_queued_bytes - 1 : 0;
}
