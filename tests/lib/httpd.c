#include "tests/lib/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct s_conn {
    uv_tcp_t tcp;
    struct bsup_test_httpd *srv;
    struct s_conn *next;
    struct s_conn **pprev;
    char *buf;
    size_t len;
    size_t cap;
    int closing;
};

struct s_write {
    uv_write_t req;
    char *data;
};

static void on_write(uv_write_t *req, int status)
{
    (void)status;
    struct s_write *w = (struct s_write *)req;
    free(w->data);
    free(w);
}

static void s_send(struct s_conn *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    struct s_write *w = calloc(1, sizeof(*w));
    char *copy = malloc(len ? len : 1);
    if (!w || !copy) {
        free(w);
        free(copy);
        return;
    }
    memcpy(copy, data, len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(copy);
        free(w);
    }
}

static void on_conn_close(uv_handle_t *h)
{
    struct s_conn *c = h->data;
    c->srv->connections_open--;
    free(c->buf);
    free(c);
}

static void s_conn_close(struct s_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->srv->held == c)
        c->srv->held = NULL;
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void s_respond(struct s_conn *c, int status, const char *extra_headers, const char *body,
                      size_t body_len)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n%s\r\n",
                     status, body_len, extra_headers ? extra_headers : "");
    s_send(c, head, (size_t)n);
    if (body_len)
        s_send(c, body, body_len);
}

/* A handler's answer, with a Date header as AWS sends. */
static void s_respond_dated(struct s_conn *c, int status, const char *body)
{
    char date[64], extra[128];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    snprintf(extra, sizeof(extra), "Date: %s\r\n", date);
    s_respond(c, status, extra, body ? body : "", body ? strlen(body) : 0);
}

int bsup_test_httpd_answer(struct bsup_test_httpd *srv, int status, const char *body)
{
    struct s_conn *c = srv->held;
    if (!c)
        return -1;
    srv->held = NULL;
    s_respond_dated(c, status, body);
    return 0;
}

static size_t s_query_n(const char *target)
{
    const char *q = strstr(target, "n=");
    return q ? (size_t)strtoul(q + 2, NULL, 10) : 0;
}

static void s_handle(struct s_conn *c, const char *method, const char *target, const char *hdrs,
                     size_t hdrs_len, const char *body, size_t body_len)
{
    struct bsup_test_httpd *srv = c->srv;
    const char *path = target;
    if (strncmp(path, "http://", 7) == 0) { /* absolute form, through a proxy */
        path = strchr(path + 7, '/');
        if (!path)
            path = "/";
    }
    srv->requests++;
    int status = 0, handled = 0;
    char *answer = NULL;
    if (srv->handler)
        handled = srv->handler(srv, method, target, body, body_len, &status, &answer, srv->user);
    if (handled == 2) {
        srv->held = c;
        return;
    }
    if (handled) {
        s_respond_dated(c, status, answer);
        free(answer);
    } else if (strcmp(method, "CONNECT") == 0) {
        snprintf(srv->last_connect_target, sizeof(srv->last_connect_target), "%s", target);
        s_respond(c, 403, NULL, NULL, 0);
    } else if (strncmp(path, "/echo", 5) == 0) {
        size_t size = strlen(method) + strlen(target) + hdrs_len + body_len + 8;
        char *out = malloc(size), date[64], extra[256];
        if (!out)
            return;
        int n = snprintf(out, size, "%s %s\n", method, target);
        memcpy(out + n, hdrs, hdrs_len);
        n += (int)hdrs_len;
        out[n++] = '\n';
        memcpy(out + n, body, body_len);
        n += (int)body_len;
        time_t now = time(NULL);
        struct tm tm;
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
        snprintf(extra, sizeof(extra),
                 "Date: %s\r\nx-amzn-RequestId: req-%u\r\n"
                 "X-Amz-Retry-After:   7  \r\n",
                 date, srv->requests);
        s_respond(c, 200, extra, out, (size_t)n);
        free(out);
    } else if (strncmp(path, "/big", 4) == 0) {
        size_t n = s_query_n(path);
        char *out = malloc(n ? n : 1);
        if (!out)
            return;
        memset(out, 'x', n);
        s_respond(c, 200, NULL, out, n);
        free(out);
    } else if (strncmp(path, "/chunked", 8) == 0) {
        size_t n = s_query_n(path);
        const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        s_send(c, head, strlen(head));
        char chunk[16384 + 32];
        while (n) {
            size_t k = n < 16384 ? n : 16384;
            int h = snprintf(chunk, sizeof(chunk), "%zx\r\n", k);
            memset(chunk + h, 'x', k);
            memcpy(chunk + h + k, "\r\n", 2);
            s_send(c, chunk, (size_t)h + k + 2);
            n -= k;
        }
        s_send(c, "0\r\n\r\n", 5);
    } else if (strncmp(path, "/stall", 6) == 0) {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
        s_send(c, head, strlen(head));
    } else if (strncmp(path, "/status/", 8) == 0) {
        s_respond(c, atoi(path + 8), NULL, "status", 6);
    } else {
        s_respond(c, 404, NULL, "not found", 9);
    }
    if (srv->on_request)
        srv->on_request(srv, method, target, srv->user);
}

/* Parses and answers every complete request in the buffer. */
static void s_process(struct s_conn *c)
{
    for (;;) {
        char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (!end)
            return;
        size_t head_len = (size_t)(end - c->buf) + 4, body_len = 0;
        char *line_end = memmem(c->buf, head_len, "\r\n", 2);
        char method[16] = "", target[1024] = "";
        char *reqline = strndup(c->buf, (size_t)(line_end - c->buf));
        if (!reqline || sscanf(reqline, "%15s %1023s", method, target) != 2) {
            free(reqline);
            s_conn_close(c);
            return;
        }
        free(reqline);
        const char *hdrs = line_end + 2;
        size_t hdrs_len = (size_t)(end + 2 - hdrs);
        for (const char *p = hdrs; p < end;) {
            const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
            if (!eol)
                break;
            if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
                body_len = strtoul(p + 15, NULL, 10);
            p = eol + 2;
        }
        if (c->len < head_len + body_len)
            return;
        s_handle(c, method, target, hdrs, hdrs_len, c->buf + head_len, body_len);
        if (c->closing)
            return;
        memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
        c->len -= head_len + body_len;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct s_conn *c = h->data;
    if (c->cap - c->len < suggested) {
        char *nb = realloc(c->buf, c->len + suggested);
        if (!nb) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = nb;
        c->cap = c->len + suggested;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct s_conn *c = s->data;
    if (nread < 0) {
        s_conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    s_process(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct bsup_test_httpd *srv = listener->data;
    if (status < 0 || srv->closing)
        return;
    struct s_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    srv->connections_open++;
    struct s_conn **head = (struct s_conn **)&srv->conns;
    c->next = *head;
    if (c->next)
        c->next->pprev = &c->next;
    c->pprev = head;
    *head = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        s_conn_close(c);
        return;
    }
    srv->connections_accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int bsup_test_httpd_start(struct bsup_test_httpd *srv, uv_loop_t *loop)
{
    struct sockaddr_in addr;
    struct sockaddr_storage name;
    int namelen = sizeof(name), rc;
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    if ((rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection)) != 0 ||
        (rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&name, &namelen)) != 0) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        return rc;
    }
    srv->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
    return 0;
}

void bsup_test_httpd_close(struct bsup_test_httpd *srv)
{
    if (srv->closing)
        return;
    srv->closing = 1;
    uv_close((uv_handle_t *)&srv->listener, NULL);
    while (srv->conns)
        s_conn_close(srv->conns);
}

int bsup_test_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}
