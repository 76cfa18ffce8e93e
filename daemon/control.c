#include "daemon/control.h"

#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct s_client {
    uv_pipe_t pipe;
    uv_timer_t idle;
    uv_shutdown_t shutdown_req;
    struct bsup_control *ctl;
    struct s_client *prev, *next;
    uint64_t id;
    struct bsup_peer peer;
    char *buf; /* max_line_bytes + 1 */
    size_t len;
    size_t queued_bytes;
    unsigned pending_replies;
    int open_handles;
    bool counted;  /* holds one of max_clients */
    bool closing;  /* uv_close called */
    bool draining; /* no more requests; closes after queued output */
    bool shutdown_started;
};

struct s_write {
    uv_write_t req;
    struct s_client *client;
    size_t len;
    char data[];
};

struct bsup_control {
    uv_loop_t *loop;
    uv_pipe_t listener;
    bool listener_open;
    char *path; /* to unlink on close; NULL for an activated socket */
    struct bsup_control_limits limits;
    bsup_control_request_fn on_request;
    void *ctx;
    struct s_client *clients;
    size_t n_counted; /* clients within max_clients */
    size_t n_all;     /* every client struct alive */
    uint64_t next_id;
    uint64_t refused;           /* clients turned away over max_clients, ever */
    uint64_t refused_logged_ms; /* uv_now of the last warning about it */
    bool stopping;
    bsup_close_fn on_closed;
    void *closed_user;
};

static void s_client_close(struct s_client *c);
static void s_client_drain(struct s_client *c);

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
    bsup_close_fn cb = ctl->on_closed;
    void *user = ctl->closed_user;
    free(ctl->path);
    free(ctl);
    if (cb)
        cb(user);
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
    if (c->counted)
        ctl->n_counted--;
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
    uv_close((uv_handle_t *)&c->pipe, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_client_handle_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct s_write *w = (struct s_write *)req;
    struct s_client *c = w->client;
    c->queued_bytes -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        bsup_log_debug("control client write failed client=%llu error=%s",
                       (unsigned long long)c->id, uv_strerror(status));
        s_client_close(c);
    }
}

/* Queues one reply line; a client that lets too much output pile up is closed. */
static void s_client_send(struct s_client *c, json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(reply);
    if (c->closing) {
        free(text);
        return;
    }
    if (!text) {
        bsup_log_err("cannot encode a control reply client=%llu", (unsigned long long)c->id);
        s_client_close(c);
        return;
    }
    size_t len = strlen(text);
    if (c->queued_bytes + len + 1 > c->ctl->limits.max_queued_bytes) {
        bsup_log_warn("control client does not read its replies, closing client=%llu "
                      "queued_bytes=%zu",
                      (unsigned long long)c->id, c->queued_bytes);
        free(text);
        s_client_close(c);
        return;
    }
    struct s_write *w = malloc(sizeof(*w) + len + 1);
    if (!w) {
        free(text);
        s_client_close(c);
        return;
    }
    memcpy(w->data, text, len);
    w->data[len] = '\n';
    w->len = len + 1;
    w->client = c;
    free(text);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    c->queued_bytes += w->len;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
    if (rc < 0) {
        c->queued_bytes -= w->len;
        free(w);
        s_client_close(c);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    s_client_close(req->data);
}

/* No more requests from this client: close once its output is flushed. */
static void s_client_drain(struct s_client *c)
{
    if (c->closing)
        return;
    c->draining = true;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (c->pending_replies > 0 || c->shutdown_started)
        return; /* bsup_control_reply finishes the job */
    c->shutdown_started = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->pipe, on_shutdown) < 0)
        s_client_close(c);
}

static void on_idle(uv_timer_t *t)
{
    struct s_client *c = t->data;
    if (c->draining) { /* a client that does not take its last reply */
        s_client_close(c);
        return;
    }
    s_client_send(c, bsup_control_error("idle_timeout", "no request for %llu ms, closing",
                                        (unsigned long long)c->ctl->limits.idle_timeout_ms));
    s_client_drain(c);
}

static void s_client_line(struct s_client *c, const char *line, size_t len)
{
    struct bsup_control *ctl = c->ctl;
    json_error_t err;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    json_t *reply = NULL;
    if (!req) {
        reply = bsup_control_error("bad_json", "request is not JSON: %s (column %d)", err.text,
                                   err.column);
    } else if (!json_is_object(req)) {
        reply = bsup_control_error("bad_request", "request must be a JSON object");
    } else if (ctl->stopping) {
        reply = bsup_control_error("shutting_down", "bsupd is shutting down");
    } else {
        reply = ctl->on_request(ctl->ctx, c->id, &c->peer, req);
        if (!reply) {
            c->pending_replies++;
            uv_timer_stop(&c->idle);
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

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct s_client *c = h->data;
    size_t room = c->ctl->limits.max_line_bytes + 1 - c->len;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct s_client *c = s->data;
    if (nread < 0) {
        if (nread != UV_EOF) {
            s_client_close(c);
            return;
        }
        /* A last request without a newline still counts. */
        if (c->len > 0 && !c->draining)
            s_client_line(c, c->buf, c->len);
        c->len = 0;
        s_client_drain(c);
        return;
    }
    if (nread == 0 || c->draining)
        return;
    uv_timer_again(&c->idle);
    size_t start = 0, scan = c->len; /* what was kept from earlier reads holds no newline */
    const char *line;
    size_t line_len;
    c->len += (size_t)nread;
    while (!c->draining && bsup_control_next_line(c->buf, c->len, &start, &scan, &line, &line_len))
        s_client_line(c, line, line_len);
    if (c->closing)
        return;
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
    if (c->len > c->ctl->limits.max_line_bytes) {
        s_client_send(c, bsup_control_error("line_too_long",
                                            "request line longer than %zu bytes, closing",
                                            c->ctl->limits.max_line_bytes));
        c->len = 0;
        s_client_drain(c);
    }
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
    uv_timer_init(ctl->loop, &c->idle);
    c->pipe.data = c;
    c->idle.data = c;
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
    uv_timer_start(&c->idle, on_idle, ctl->limits.idle_timeout_ms, ctl->limits.idle_timeout_ms);
    if (ctl->n_all > 2 * ctl->limits.max_clients) { /* not even worth an error line */
        s_client_close(c);
        return;
    }
    if (ctl->n_counted >= ctl->limits.max_clients) {
        /* One warning per second at most: a flood must not flood the journal too. */
        uint64_t now_ms = uv_now(ctl->loop);
        ctl->refused++;
        if (now_ms - ctl->refused_logged_ms >= 1000 || ctl->refused_logged_ms == 0) {
            bsup_log_warn("too many control clients, refusing max_clients=%zu refused=%llu "
                          "uid=%u",
                          ctl->limits.max_clients, (unsigned long long)ctl->refused,
                          (unsigned)c->peer.uid);
            ctl->refused_logged_ms = now_ms;
        }
        s_client_send(c, bsup_control_error("too_many_clients",
                                            "bsupd serves at most %zu clients at once; retry",
                                            ctl->limits.max_clients));
        s_client_drain(c);
        return;
    }
    c->counted = true;
    ctl->n_counted++;
    bsup_log_debug("control client connected client=%llu uid=%u gid=%u pid=%d",
                   (unsigned long long)c->id, (unsigned)c->peer.uid, (unsigned)c->peer.gid,
                   (int)c->peer.pid);
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0)
        s_client_close(c);
}

/* Whether something answers on path: then another daemon owns it. */
static bool s_socket_is_live(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
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

static int s_listen_path(const char *path, gid_t gid, int *out_fd, struct bsup_diag *diag)
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
        if (s_socket_is_live(path))
            return bsup_diag_set(diag, BSUP_EEXISTS,
                                 "another bsupd is already listening on %s; stop it first", path);
        bsup_log_notice("removing a stale control socket path=%s", path);
        if (unlink(path) != 0 && errno != ENOENT)
            return bsup_diag_set(diag, BSUP_EPERM, "cannot remove stale socket %s: %s", path,
                                 strerror(errno));
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return bsup_diag_set(diag, BSUP_EIO, "cannot create a socket: %s", strerror(errno));
    mode_t old = umask(0117); /* born 0660: no window where others could connect */
    int brc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int berr = errno;
    umask(old);
    if (brc != 0) {
        rc = bsup_diag_set(diag, berr == EACCES ? BSUP_EPERM : BSUP_EIO,
                           "cannot bind control socket %s: %s", path, strerror(berr));
        goto fail;
    }
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0)
        bsup_log_warn("cannot give the control socket to its group path=%s gid=%u error=%s", path,
                      (unsigned)gid, strerror(errno));
    if (chmod(path, 0660) != 0 || listen(fd, 128) != 0) {
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

int bsup_control_open(uv_loop_t *loop, const char *path, int listen_fd, gid_t socket_gid,
                      const struct bsup_control_limits *limits, bsup_control_request_fn on_request,
                      void *ctx, struct bsup_control **out, struct bsup_diag *diag)
{
    struct bsup_control *ctl = calloc(1, sizeof(*ctl));
    int fd = listen_fd, rc;
    *out = NULL;
    if (!ctl)
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    ctl->loop = loop;
    ctl->limits = *limits;
    ctl->on_request = on_request;
    ctl->ctx = ctx;
    if (fd < 0) {
        if ((rc = s_listen_path(path, socket_gid, &fd, diag)))
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
    uv_pipe_init(loop, &ctl->listener, 0);
    ctl->listener.data = ctl;
    ctl->listener_open = true;
    if ((rc = uv_pipe_open(&ctl->listener, fd)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&ctl->listener, 128, on_connection)) < 0) {
        /* The handle is initialised: it must be closed through the loop. */
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
        s_client_send(c, reply);
        if (c->closing)
            return 0;
        if (c->draining && c->pending_replies == 0) {
            s_client_drain(c);
        } else if (c->pending_replies == 0) {
            uv_timer_again(&c->idle);
        }
        return 0;
    }
    json_decref(reply);
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
    for (struct s_client *c = ctl->clients; c; c = c->next)
        s_client_drain(c); /* after its pending replies, if any */
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
