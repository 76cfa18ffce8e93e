/* The control socket server (daemon/control.c): framing, limits and peer identity, over a real
 * Unix socket in a temporary directory, with server and clients on the test's own loop. */
#include "tests/lib/testlib.h"

#include "core/base/error.h"
#include "daemon/control.h"

#include <jansson.h>
#include <signal.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define S_MAX_LINES 24
#define S_MAX_REQUESTS 32
#define S_MAX_CLASSES 8
#define S_CLIENT_IN (5 * 1024 * 1024) /* room for a whole reply of up to 4 MiB */

struct fixture {
    uv_loop_t loop;
    char *dir;
    char path[108];
    struct bsup_control_limits limits;
    struct bsup_control *ctl;
    bool defer;         /* on_request answers later (returns NULL) */
    bool in_close_call; /* set around bsup_control_close */
    int closed;         /* close callbacks seen */
    size_t big_reply;   /* > 0: on_request answers with an array of this many numbers */
    size_t encoded_pad; /* > 0: on_request answers encoded, with a string this long */
    char *encoded_text; /* the text of its last such answer */
    enum bsup_control_class classes[S_MAX_CLASSES]; /* per connection, in accept order */
    size_t n_classes;                               /* classes set; beyond: readers */
    size_t n_classified;
    size_t n_requests;
    json_t *requests[S_MAX_REQUESTS];
    uint64_t client_ids[S_MAX_REQUESTS];
    struct bsup_peer peers[S_MAX_REQUESTS];
    int open_clients; /* client handles (in the test's stack frame) not closed yet */
};

/* One client: a connected socket on the test's loop that collects the reply lines. */
struct client {
    struct fixture *f;
    uv_pipe_t pipe;
    int fd;
    char *in; /* S_CLIENT_IN */
    size_t in_len;
    size_t longest_line; /* bytes */
    json_t *lines[S_MAX_LINES];
    size_t n_lines;
    bool eof; /* EOF or a read error: the server closed the connection */
    bool handle_closed;
};

/* ---- the server side ---- */

static json_t *on_request(void *ctx, uint64_t client_id, const struct bsup_peer *peer,
                          json_t *request)
{
    struct fixture *f = ctx;
    assert_true(f->n_requests < S_MAX_REQUESTS);
    f->requests[f->n_requests] = json_incref(request);
    f->client_ids[f->n_requests] = client_id;
    f->peers[f->n_requests] = *peer;
    f->n_requests++;
    if (f->defer)
        return NULL;
    if (f->encoded_pad) {
        size_t len = f->encoded_pad + 24;
        char *text = malloc(len + 1);
        assert_non_null(text);
        memset(text, 'a', len);
        memcpy(text, "{\"ok\":true,\"pad\":\"", 18);
        memcpy(text + len - 2, "\"}", 3);
        f->encoded_text = text;
        return bsup_control_encoded(text, len);
    }
    if (f->big_reply) {
        json_t *numbers = json_array();
        for (size_t i = 0; i < f->big_reply; i++)
            json_array_append_new(numbers, json_integer((json_int_t)i));
        return json_pack("{s:b, s:o}", "ok", 1, "numbers", numbers);
    }
    return json_pack("{s:b, s:O}", "ok", 1, "echo", request);
}

static enum bsup_control_class on_classify(void *ctx, const struct bsup_peer *peer,
                                           json_t **out_refusal)
{
    struct fixture *f = ctx;
    (void)peer;
    size_t i = f->n_classified++;
    enum bsup_control_class cls = i < f->n_classes ? f->classes[i] : BSUP_CONTROL_READER;
    if (cls == BSUP_CONTROL_REFUSED)
        *out_refusal = bsup_control_error("permission_denied", "not you");
    return cls;
}

static void on_control_closed(void *user)
{
    struct fixture *f = user;
    assert_false(f->in_close_call); /* never from inside the close call */
    f->closed++;
}

static void s_open(struct fixture *f)
{
    struct bsup_diag diag = {0};
    struct bsup_control_handlers h = {.on_request = on_request, .classify = on_classify, .ctx = f};
    assert_int_equal(bsup_control_open(&f->loop, f->path, -1, &f->limits, &h, &f->ctl, &diag), 0);
}

/* Closes the server; with drop_clients, without waiting for them (as bsupd's exit path). */
static void s_close(struct fixture *f, bool drop_clients)
{
    struct bsup_control *ctl = f->ctl;
    f->in_close_call = true;
    bsup_control_close(ctl, on_control_closed, f);
    if (drop_clients)
        bsup_control_drop_clients(ctl);
    f->in_close_call = false;
    f->ctl = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->dir = bsup_test_mkdtemp();
    assert_non_null(f->dir);
    assert_true((size_t)snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir) <
                sizeof(f->path));
    f->limits = BSUP_CONTROL_LIMITS_DEFAULT;
    f->limits.reserved_clients = 0; /* the tests of the reserve set it */
    alarm(20);                      /* a hang fails the test instead of the ctest timeout */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int expect_closed = f->closed;
    /* A test that failed half-way left its clients' handles in its stack frame, gone now: the
     * loop run over them would abort in libuv (uv__stream_io), and its failure go unreported. */
    if (f->open_clients > 0)
        fail_msg("%d client(s) of the test still open: not running the loop over them",
                 f->open_clients);
    if (f->ctl) {
        s_close(f, true);
        expect_closed++;
    }
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->closed, expect_closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (size_t i = 0; i < f->n_requests; i++)
        json_decref(f->requests[i]);
    bsup_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    alarm(0);
    return 0;
}

/* ---- the client side ---- */

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct client *cl = h->data;
    *buf = uv_buf_init(cl->in + cl->in_len, (unsigned)(S_CLIENT_IN - cl->in_len));
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct client *cl = s->data;
    if (nread < 0) { /* EOF, or ECONNRESET when the server left our input unread */
        cl->eof = true;
        uv_read_stop(s);
        return;
    }
    cl->in_len += (size_t)nread;
    char *nl;
    while ((nl = memchr(cl->in, '\n', cl->in_len))) {
        size_t len = (size_t)(nl - cl->in);
        json_error_t err;
        assert_true(cl->n_lines < S_MAX_LINES);
        cl->lines[cl->n_lines] = json_loadb(cl->in, len, 0, &err);
        if (!cl->lines[cl->n_lines])
            fail_msg("reply is not JSON: %.*s", (int)len, cl->in);
        cl->n_lines++;
        if (len > cl->longest_line)
            cl->longest_line = len;
        memmove(cl->in, nl + 1, cl->in_len - len - 1);
        cl->in_len -= len + 1;
    }
}

/* Connects (the kernel completes it from the listen backlog) and reads on the test's loop. */
static void s_connect(struct fixture *f, struct client *cl)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memset(cl, 0, sizeof(*cl));
    cl->f = f;
    cl->in = malloc(S_CLIENT_IN);
    assert_non_null(cl->in);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(cl->fd >= 0);
    assert_int_equal(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(uv_pipe_init(&f->loop, &cl->pipe, 0), 0);
    f->open_clients++;
    assert_int_equal(uv_pipe_open(&cl->pipe, cl->fd), 0);
    cl->pipe.data = cl;
    assert_int_equal(uv_read_start((uv_stream_t *)&cl->pipe, on_client_alloc, on_client_read), 0);
}

static void on_client_closed(uv_handle_t *h)
{
    struct client *cl = h->data;
    cl->handle_closed = true;
    cl->f->open_clients--;
}

/* Closes the client and waits until its handle is gone. */
static void s_disconnect(struct client *cl)
{
    uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
    while (!cl->handle_closed)
        uv_run(&cl->f->loop, UV_RUN_ONCE);
    for (size_t i = 0; i < cl->n_lines; i++)
        json_decref(cl->lines[i]);
    cl->n_lines = 0;
    free(cl->in);
    cl->in = NULL;
}

/* Writes everything now (the socket buffer takes it): one write(2) per call. */
static void s_send(struct client *cl, const char *data, size_t len)
{
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    assert_int_equal(uv_try_write((uv_stream_t *)&cl->pipe, &buf, 1), (int)len);
}

static void s_send_str(struct client *cl, const char *s)
{
    s_send(cl, s, strlen(s));
}

/* Bytes this client wrote that the server has not read yet. */
static int s_unread(const struct client *cl)
{
    int n = -1;
    assert_int_equal(ioctl(cl->fd, SIOCOUTQ, &n), 0);
    return n;
}

/* Runs the loop until the server has read everything the client wrote. */
static void s_wait_consumed(struct client *cl)
{
    while (s_unread(cl) > 0)
        uv_run(&cl->f->loop, UV_RUN_ONCE);
}

/* Runs the loop until the client holds n reply lines (or the server closed it first). */
static void s_wait_lines(struct client *cl, size_t n)
{
    while (cl->n_lines < n && !cl->eof)
        uv_run(&cl->f->loop, UV_RUN_ONCE);
    assert_int_equal(cl->n_lines, n);
}

static void s_wait_eof(struct client *cl)
{
    while (!cl->eof)
        uv_run(&cl->f->loop, UV_RUN_ONCE);
}

static void s_wait_clients(struct fixture *f, size_t n)
{
    while (bsup_control_n_clients(f->ctl) != n)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static const char *s_error_code(const json_t *reply)
{
    assert_true(json_is_false(json_object_get(reply, "ok")));
    const char *code = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
    assert_non_null(code);
    return code;
}

/* The reply to {"id": id, ...}: ok, the same id, and the request echoed by on_request. */
static void s_assert_echo(const json_t *reply, json_int_t id)
{
    assert_true(json_is_true(json_object_get(reply, "ok")));
    assert_int_equal(json_integer_value(json_object_get(reply, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "echo"), "id")), id);
}

/* ---- the line splitter, pure ---- */

struct s_split_case {
    const char *in;
    const char *lines[4]; /* NULL-terminated */
    const char *rest;     /* the incomplete line kept for the next read */
};

static const struct s_split_case s_split_cases[] = {
    {"", {NULL}, ""},
    {"abc", {NULL}, "abc"},
    {"a\n", {"a", NULL}, ""},
    {"a\r\n", {"a", NULL}, ""},
    {"a\nb", {"a", NULL}, "b"},
    {"a\n\nb\r\nc", {"a", "b", NULL}, "c"},
    {"\n\r\n\n", {NULL}, ""},       /* empty lines are ignored */
    {"\r", {NULL}, "\r"},           /* maybe the start of "\r\n" */
    {"a\rb\n", {"a\rb", NULL}, ""}, /* only a '\r' right before the '\n' goes */
    {"a\r\r\n", {"a\r", NULL}, ""}, /* and only one */
    {"{\"x\":1}\n[2]\n", {"{\"x\":1}", "[2]", NULL}, ""},
    {"one\ntwo\nthree\nfour", {"one", "two", "three", NULL}, "four"},
};

/* Feeds in as pieces of piece bytes the way on_read does (resume scanning after what was kept,
 * keep the incomplete rest) and checks the lines and the rest. */
static void s_split_pieces(const struct s_split_case *c, size_t piece)
{
    char buf[64];
    size_t len = 0, n = 0, in_len = strlen(c->in);
    size_t off = 0;
    do {
        size_t chunk = in_len - off < piece ? in_len - off : piece;
        size_t start = 0, scan = len;
        const char *line;
        size_t line_len;
        memcpy(buf + len, c->in + off, chunk);
        off += chunk;
        len += chunk;
        while (bsup_control_next_line(buf, len, &start, &scan, &line, &line_len)) {
            if (!c->lines[n])
                fail_msg("input %s: unexpected line %.*s", c->in, (int)line_len, line);
            assert_int_equal(line_len, strlen(c->lines[n]));
            assert_memory_equal(line, c->lines[n], line_len);
            n++;
        }
        assert_int_equal(scan, len);
        memmove(buf, buf + start, len - start);
        len -= start;
    } while (off < in_len);
    if (c->lines[n])
        fail_msg("input %s (pieces of %zu): line %s missing", c->in, piece, c->lines[n]);
    assert_int_equal(len, strlen(c->rest));
    assert_memory_equal(buf, c->rest, len);
}

static void test_line_splitter(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(s_split_cases) / sizeof(s_split_cases[0]); i++)
        for (size_t piece = 1; piece <= 4; piece++)
            s_split_pieces(&s_split_cases[i], piece);
    for (size_t i = 0; i < sizeof(s_split_cases) / sizeof(s_split_cases[0]); i++)
        s_split_pieces(&s_split_cases[i], 64); /* all at once */
}

/* An error message cut inside a character, or holding bytes that are not UTF-8, still makes a
 * reply: tests/fuzz/fuzz_control.c found that an unknown command of "s" and 40 "é" (cut at 64
 * bytes by the message) got no reply at all, which the server takes for a deferred answer. */
static void test_error_reply_is_always_utf8(void **state)
{
    (void)state;
    char long_cmd[128] = "s", cut[128] = "unknown command \"s";
    for (int i = 0; i < 40; i++)
        strcat(long_cmd, "\xc3\xa9");
    for (int i = 0; i < 31; i++)
        strcat(cut, "\xc3\xa9");
    strcat(cut, "?\"");
    static const struct {
        const char *arg;
        const char *message;
    } cases[] = {
        {"a\xff"
         "b",
         "a?b"},
        {"\xc0\xaf", "??"},           /* overlong "/" */
        {"\xed\xa0\x80", "???"},      /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", "????"}, /* beyond U+10FFFF */
        {"\xc3\xa9\xf0\x9f\x98\x80", "\xc3\xa9\xf0\x9f\x98\x80"},
    };
    json_t *reply = bsup_control_error("unknown_command", "unknown command \"%.64s\"", long_cmd);
    assert_non_null(reply);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "error"), "message")), cut);
    json_decref(reply);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply = bsup_control_error("bad_request", "%s", cases[i].arg);
        assert_non_null(reply);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(reply, "error"), "message")),
            cases[i].message);
        json_decref(reply);
    }
}

/* ---- over the socket ---- */

static void test_one_line_one_reply(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1,\"cmd\":\"status\"}\n");
    s_wait_lines(&cl, 1);
    s_assert_echo(cl.lines[0], 1);
    assert_string_equal(json_string_value(json_object_get(f->requests[0], "cmd")), "status");
    /* The connection stays open for the next request. */
    s_send_str(&cl, "{\"id\":\"two\"}\n");
    s_wait_lines(&cl, 2);
    assert_true(json_is_true(json_object_get(cl.lines[1], "ok")));
    assert_string_equal(json_string_value(json_object_get(cl.lines[1], "id")), "two");
    assert_false(cl.eof);
    /* Without an id, the reply has none. */
    s_send_str(&cl, "{\"cmd\":\"status\"}\n");
    s_wait_lines(&cl, 3);
    assert_null(json_object_get(cl.lines[2], "id"));
    assert_int_equal(f->n_requests, 3);
    assert_int_equal(f->client_ids[0], f->client_ids[2]);
    s_disconnect(&cl);
}

static void test_several_requests_in_one_write(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1}\n\n{\"id\":2}\r\n{\"id\":3}\n{\"id\":4}");
    s_wait_lines(&cl, 3);
    for (size_t i = 0; i < 3; i++)
        s_assert_echo(cl.lines[i], (json_int_t)i + 1);
    /* The fourth waits for its newline. */
    s_wait_consumed(&cl);
    assert_int_equal(f->n_requests, 3);
    s_send_str(&cl, "\n");
    s_wait_lines(&cl, 4);
    s_assert_echo(cl.lines[3], 4);
    s_disconnect(&cl);
}

static void test_request_split_across_writes(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    const char *req = "{\"id\":42,\"cmd\":\"reconcile\",\"service\":\"api\"}\r\n";
    s_open(f);
    s_connect(f, &cl);
    /* One byte per write, each read by the server before the next is sent; served once the
     * newline is there. */
    for (size_t i = 0; req[i]; i++) {
        s_send(&cl, req + i, 1);
        s_wait_consumed(&cl);
        assert_int_equal(f->n_requests, 0);
    }
    s_wait_lines(&cl, 1);
    assert_int_equal(f->n_requests, 1);
    s_assert_echo(cl.lines[0], 42);
    assert_string_equal(json_string_value(json_object_get(f->requests[0], "service")), "api");
    s_disconnect(&cl);
}

static void test_last_request_before_eof_counts(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1}\n{\"id\":2}");
    assert_int_equal(shutdown(cl.fd, SHUT_WR), 0);
    s_wait_lines(&cl, 2);
    s_assert_echo(cl.lines[1], 2);
    s_wait_eof(&cl);
    s_disconnect(&cl);
}

/* A JSON line padded to exactly len bytes (without the newline) with id 1. */
static char *s_line_of(size_t len, const char *end)
{
    const char *head = "{\"id\":1,\"pad\":\"";
    size_t fixed = strlen(head) + 2; /* the closing "} */
    assert_true(len >= fixed);
    char *s = malloc(len + strlen(end) + 1);
    assert_non_null(s);
    memcpy(s, head, strlen(head));
    memset(s + strlen(head), 'x', len - fixed);
    memcpy(s + len - 2, "\"}", 2);
    strcpy(s + len, end);
    return s;
}

static void test_line_length_limit(void **state)
{
    struct fixture *f = *state;
    static const struct {
        long delta;      /* line length - max_line_bytes */
        const char *end; /* what follows the line */
        bool refused;
    } cases[] = {
        {-1, "\n", false}, {0, "\n", false},
        {1, "\n", true},   {1, "", true}, /* no newline yet: refused as soon as it cannot fit */
        {40, "\n", true},
    };
    f->limits.max_line_bytes = 32;
    s_open(f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct client cl;
        char *line =
            s_line_of((size_t)((long)f->limits.max_line_bytes + cases[i].delta), cases[i].end);
        size_t before = f->n_requests;
        s_connect(f, &cl);
        s_send_str(&cl, line);
        s_wait_lines(&cl, 1);
        if (cases[i].refused) {
            assert_string_equal(s_error_code(cl.lines[0]), "line_too_long");
            s_wait_eof(&cl);
            assert_int_equal(f->n_requests, before);
        } else {
            s_assert_echo(cl.lines[0], 1);
            assert_false(cl.eof);
        }
        free(line);
        s_disconnect(&cl);
    }
}

static void test_long_line_after_good_ones(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->limits.max_line_bytes = 32;
    s_open(f);
    s_connect(f, &cl);
    char *line = s_line_of(100, "\n{\"id\":3}\n");
    s_send_str(&cl, "{\"id\":1}\n{\"id\":2}\n");
    s_send_str(&cl, line);
    s_wait_lines(&cl, 3);
    s_assert_echo(cl.lines[0], 1);
    s_assert_echo(cl.lines[1], 2);
    assert_string_equal(s_error_code(cl.lines[2]), "line_too_long");
    s_wait_eof(&cl);
    assert_int_equal(cl.n_lines, 3); /* nothing after the refusal is read */
    assert_int_equal(f->n_requests, 2);
    free(line);
    s_disconnect(&cl);
}

static void test_bad_requests_keep_the_connection(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *line;
        const char *code;
    } cases[] = {
        {"{", "bad_json"},
        {"not json", "bad_json"},
        {"{\"id\":1,\"id\":2}", "bad_json"},    /* duplicate keys */
        {"{\"cmd\":\"status\"} x", "bad_json"}, /* one value, nothing after it */
        /* Valid JSON that is not an object, whatever its type. */
        {"42", "bad_request"},
        {"\"status\"", "bad_request"},
        {"null", "bad_request"},
        {"true", "bad_request"},
        {"[{\"id\":1}]", "bad_request"},
        {"[]", "bad_request"},
    };
    struct client cl;
    s_open(f);
    s_connect(f, &cl);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s_send_str(&cl, cases[i].line);
        s_send_str(&cl, "\n");
        s_wait_lines(&cl, 2 * i + 1);
        if (strcmp(s_error_code(cl.lines[2 * i]), cases[i].code) != 0)
            fail_msg("%s: got %s, want %s", cases[i].line, s_error_code(cl.lines[2 * i]),
                     cases[i].code);
        assert_null(json_object_get(cl.lines[2 * i], "id"));
        /* Still open: the next request is served. */
        s_send_str(&cl, "{\"id\":7}\n");
        s_wait_lines(&cl, 2 * i + 2);
        s_assert_echo(cl.lines[2 * i + 1], 7);
    }
    assert_int_equal(f->n_requests, sizeof(cases) / sizeof(cases[0]));
    assert_false(cl.eof);
    s_disconnect(&cl);
}

static void test_client_limit(void **state)
{
    struct fixture *f = *state;
    struct client a, b, over, later;
    f->limits.max_clients = 2;
    s_open(f);
    s_connect(f, &a);
    s_connect(f, &b);
    s_wait_clients(f, 2);
    s_connect(f, &over);
    s_wait_lines(&over, 1);
    assert_string_equal(s_error_code(over.lines[0]), "too_many_clients");
    s_wait_eof(&over);
    s_disconnect(&over);
    /* The two within the limit are served... */
    s_send_str(&a, "{\"id\":1}\n");
    s_send_str(&b, "{\"id\":2}\n");
    s_wait_lines(&a, 1);
    s_wait_lines(&b, 1);
    s_assert_echo(a.lines[0], 1);
    s_assert_echo(b.lines[0], 2);
    /* ...and when one leaves, a new client takes its place. */
    s_disconnect(&a);
    s_wait_clients(f, 1);
    s_connect(f, &later);
    s_send_str(&later, "{\"id\":3}\n");
    s_wait_lines(&later, 1);
    s_assert_echo(later.lines[0], 3);
    assert_int_equal(bsup_control_n_clients(f->ctl), 2);
    s_disconnect(&b);
    s_disconnect(&later);
}

static void test_flood_beyond_twice_the_limit(void **state)
{
    struct fixture *f = *state;
    struct client c[4];
    f->limits.max_clients = 1;
    s_open(f);
    s_connect(f, &c[0]);
    s_wait_clients(f, 1);
    /* Accepted in one go: the first over the limit is told, the rest (beyond 2 in all) are
     * closed without a line. */
    for (size_t i = 1; i < 4; i++)
        s_connect(f, &c[i]);
    for (size_t i = 1; i < 4; i++)
        s_wait_eof(&c[i]);
    assert_int_equal(c[1].n_lines, 1);
    assert_string_equal(s_error_code(c[1].lines[0]), "too_many_clients");
    assert_int_equal(c[2].n_lines, 0);
    assert_int_equal(c[3].n_lines, 0);
    assert_int_equal(bsup_control_n_clients(f->ctl), 1);
    for (size_t i = 0; i < 4; i++)
        s_disconnect(&c[i]);
}

static void test_idle_timeout(void **state)
{
    struct fixture *f = *state;
    struct client quiet;
    f->limits.idle_timeout_ms = 50;
    s_open(f);
    s_connect(f, &quiet);
    s_wait_eof(&quiet);
    assert_int_equal(quiet.n_lines, 1);
    assert_string_equal(s_error_code(quiet.lines[0]), "idle_timeout");
    assert_int_equal(f->n_requests, 0);
    s_disconnect(&quiet);
}

struct s_late_reply {
    struct fixture *f;
    uint64_t client_id;
    int rc;
    bool sent;
};

static void on_late_reply(uv_timer_t *t)
{
    struct s_late_reply *late = t->data;
    late->rc = bsup_control_reply(late->f->ctl, late->client_id,
                                  json_pack("{s:b, s:s}", "ok", 1, "late", "yes"));
    late->sent = true;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_deferred_reply_holds_the_idle_timer(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    uv_timer_t timer;
    struct s_late_reply late = {.f = f};
    f->limits.idle_timeout_ms = 50;
    f->defer = true;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    /* Answered well after the idle timeout: a client waiting for its reply is not idle. */
    late.client_id = f->client_ids[0];
    uv_timer_init(&f->loop, &timer);
    timer.data = &late;
    uv_timer_start(&timer, on_late_reply, 4 * f->limits.idle_timeout_ms, 0);
    s_wait_lines(&cl, 1);
    assert_true(late.sent);
    assert_int_equal(late.rc, 0);
    assert_string_equal(json_string_value(json_object_get(cl.lines[0], "late")), "yes");
    /* Then the idle clock runs again. */
    s_wait_eof(&cl);
    assert_int_equal(cl.n_lines, 2);
    assert_string_equal(s_error_code(cl.lines[1]), "idle_timeout");
    /* Replying to a client that has gone. */
    assert_int_equal(bsup_control_reply(f->ctl, late.client_id, json_object()), BSUP_ENOTFOUND);
    s_disconnect(&cl);
}

static void test_peer_credentials_reach_the_callback(void **state)
{
    struct fixture *f = *state;
    struct client a, b;
    s_open(f);
    s_connect(f, &a);
    s_connect(f, &b);
    s_send_str(&a, "{\"id\":1}\n");
    s_wait_lines(&a, 1);
    s_send_str(&b, "{\"id\":2}\n");
    s_wait_lines(&b, 1);
    assert_int_equal(f->n_requests, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct bsup_peer *p = &f->peers[i];
        assert_int_equal(p->uid, getuid());
        assert_int_equal(p->gid, getgid());
        assert_int_equal(p->pid, getpid());
        assert_true(bsup_peer_in_group(p, getgid()));
        gid_t groups[64];
        int n = getgroups(64, groups);
        assert_true(n >= 0);
        for (int g = 0; g < n; g++)
            assert_true(bsup_peer_in_group(p, groups[g]));
    }
    assert_true(f->client_ids[0] != f->client_ids[1]);
    s_disconnect(&a);
    s_disconnect(&b);
}

static void test_peer_in_group(void **state)
{
    (void)state;
    struct bsup_peer p = {.uid = 1000, .gid = 100, .groups = {10, 20, 30}, .n_groups = 3};
    static const struct {
        gid_t gid;
        bool in;
    } cases[] = {{100, true}, {10, true}, {30, true}, {0, false}, {40, false}, {1000, false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(bsup_peer_in_group(&p, cases[i].gid), cases[i].in);
}

static void test_graceful_close_flushes_pending_replies(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->defer = true;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    struct bsup_control *ctl = f->ctl;
    s_close(f, false);
    assert_int_equal(f->closed, 0);
    assert_int_equal(access(f->path, F_OK), -1); /* no new clients */
    /* The client waiting for its reply still gets it, then is closed; then the server is. */
    assert_int_equal(bsup_control_reply(ctl, f->client_ids[0], json_pack("{s:b}", "ok", 1)), 0);
    s_wait_lines(&cl, 1);
    s_wait_eof(&cl);
    while (f->closed == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    s_disconnect(&cl);
}

static void test_drop_clients_hurries_a_close(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->defer = true;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    struct bsup_control *ctl = f->ctl;
    s_close(f, false);
    /* The close waits for the pending reply... */
    for (int i = 0; i < 5; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(cl.eof);
    assert_int_equal(f->closed, 0);
    /* ...until the deadline drops the client: no reply, the connection closed, then the server. */
    f->in_close_call = true;
    bsup_control_drop_clients(ctl);
    f->in_close_call = false;
    assert_int_equal(f->closed, 0);
    s_wait_eof(&cl);
    assert_int_equal(cl.n_lines, 0);
    while (f->closed == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    s_disconnect(&cl);
}

static void test_close_and_drop_at_once(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->defer = true;
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":1}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    s_close(f, true);
    assert_int_equal(f->closed, 0); /* never inside the calls */
    s_wait_eof(&cl);
    assert_int_equal(cl.n_lines, 0);
    while (f->closed == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    s_disconnect(&cl);
}

/* ---- deadlines, slots and fairness (the adversarial findings) ---- */

/* Sends one byte of text every period_ms until the text is used up or the server closed. */
struct s_drip {
    struct client *cl;
    uv_timer_t timer;
    const char *text;
    size_t sent;
    uint64_t first_ms, eof_ms;
    bool done;
};

static void on_drip(uv_timer_t *t)
{
    struct s_drip *d = t->data;
    if (d->cl->eof || !d->text[d->sent]) {
        d->eof_ms = uv_now(t->loop);
        d->done = true;
        uv_timer_stop(t);
        uv_stop(t->loop); /* as on_waited */
        return;
    }
    if (d->sent == 0)
        d->first_ms = uv_now(t->loop);
    uv_buf_t buf = uv_buf_init((char *)d->text + d->sent, 1);
    if (uv_try_write((uv_stream_t *)&d->cl->pipe, &buf, 1) == 1)
        d->sent++;
}

/* Drips text into cl, period_ms per byte, until done; returns the bytes the server took. */
static size_t s_drip(struct client *cl, const char *text, uint64_t period_ms)
{
    struct s_drip d = {.cl = cl, .text = text};
    uv_timer_init(&cl->f->loop, &d.timer);
    d.timer.data = &d;
    uv_timer_start(&d.timer, on_drip, 0, period_ms);
    while (!d.done)
        uv_run(&cl->f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&d.timer, NULL);
    uv_run(&cl->f->loop, UV_RUN_NOWAIT);
    return d.sent;
}

static void test_slow_drip_meets_the_request_deadline(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    /* 200 bytes at one per 5 ms would take a second; each byte used to re-arm the idle timer. */
    char text[201];
    memset(text, ' ', 200);
    text[0] = '{';
    text[200] = '\0';
    f->limits.request_timeout_ms = 60;
    f->limits.idle_timeout_ms = 5000;
    s_open(f);
    s_connect(f, &cl);
    size_t sent = s_drip(&cl, text, 5);
    s_wait_eof(&cl);
    assert_true(sent < 200); /* cut off before the drip ended */
    assert_int_equal(cl.n_lines, 1);
    assert_string_equal(s_error_code(cl.lines[0]), "request_timeout");
    assert_int_equal(f->n_requests, 0);
    s_disconnect(&cl);
}

static void test_lines_in_time_are_served(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    /* The deadline runs per line, from its first byte: two lines each dripped within it. */
    f->limits.request_timeout_ms = 400;
    s_open(f);
    s_connect(f, &cl);
    s_drip(&cl, "{\"id\":1}\n", 2);
    s_wait_lines(&cl, 1);
    s_drip(&cl, "{\"id\":2}\n", 2);
    s_wait_lines(&cl, 2);
    s_assert_echo(cl.lines[0], 1);
    s_assert_echo(cl.lines[1], 2);
    assert_false(cl.eof);
    s_disconnect(&cl);
}

static void test_empty_lines_do_not_keep_a_client(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    char text[201];
    memset(text, '\n', 200);
    text[200] = '\0';
    f->limits.idle_timeout_ms = 60;
    s_open(f);
    s_connect(f, &cl);
    size_t sent = s_drip(&cl, text, 5);
    s_wait_eof(&cl);
    assert_true(sent < 200);
    assert_int_equal(cl.n_lines, 1);
    assert_string_equal(s_error_code(cl.lines[0]), "idle_timeout");
    s_disconnect(&cl);
}

static void test_reserved_slots_for_admins(void **state)
{
    struct fixture *f = *state;
    struct client r[3], a[2];
    static const enum bsup_control_class order[] = {BSUP_CONTROL_READER, BSUP_CONTROL_READER,
                                                    BSUP_CONTROL_READER, BSUP_CONTROL_ADMIN,
                                                    BSUP_CONTROL_ADMIN};
    memcpy(f->classes, order, sizeof(order));
    f->n_classes = 5;
    f->limits.max_clients = 3;
    f->limits.reserved_clients = 1;
    s_open(f);
    /* Readers take what is not reserved... */
    s_connect(f, &r[0]);
    s_connect(f, &r[1]);
    s_wait_clients(f, 2);
    s_connect(f, &r[2]);
    s_wait_lines(&r[2], 1);
    assert_string_equal(s_error_code(r[2].lines[0]), "too_many_clients");
    s_wait_eof(&r[2]);
    /* ...an admin still gets in and is served... */
    s_connect(f, &a[0]);
    s_wait_clients(f, 3);
    s_send_str(&a[0], "{\"id\":9}\n");
    s_wait_lines(&a[0], 1);
    s_assert_echo(a[0].lines[0], 9);
    /* ...and max_clients still holds for admins. */
    s_connect(f, &a[1]);
    s_wait_lines(&a[1], 1);
    assert_string_equal(s_error_code(a[1].lines[0]), "too_many_clients");
    assert_int_equal(bsup_control_n_clients(f->ctl), 3);
    for (size_t i = 0; i < 3; i++)
        s_disconnect(&r[i]);
    for (size_t i = 0; i < 2; i++)
        s_disconnect(&a[i]);
}

static void test_refused_peer_is_told_at_once(void **state)
{
    struct fixture *f = *state;
    struct client cl, ok;
    f->classes[0] = BSUP_CONTROL_REFUSED;
    f->n_classes = 1;
    f->limits.max_clients = 1;
    s_open(f);
    /* Told before it sends anything, and it holds no slot. */
    s_connect(f, &cl);
    s_wait_lines(&cl, 1);
    assert_string_equal(s_error_code(cl.lines[0]), "permission_denied");
    s_wait_eof(&cl);
    s_connect(f, &ok);
    s_send_str(&ok, "{\"id\":1}\n");
    s_wait_lines(&ok, 1);
    s_assert_echo(ok.lines[0], 1);
    assert_int_equal(f->n_requests, 1);
    s_disconnect(&cl);
    s_disconnect(&ok);
}

static void test_hung_up_client_frees_its_slot(void **state)
{
    struct fixture *f = *state;
    struct client gone, next;
    f->limits.max_clients = 1;
    f->defer = true;
    s_open(f);
    /* It asks, and hangs up before its (deferred) answer comes. */
    s_connect(f, &gone);
    s_send_str(&gone, "{\"id\":1}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    s_disconnect(&gone);
    s_wait_clients(f, 0);
    f->defer = false;
    s_connect(f, &next);
    s_send_str(&next, "{\"id\":2}\n");
    s_wait_lines(&next, 1);
    s_assert_echo(next.lines[0], 2);
    /* The late answer to the one that left goes nowhere, harmlessly. */
    bsup_control_reply(f->ctl, f->client_ids[0], json_pack("{s:b}", "ok", 1));
    s_disconnect(&next);
}

static void test_connect_and_go_burst_frees_slots(void **state)
{
    struct fixture *f = *state;
    struct client gone[2], next;
    f->limits.max_clients = 2;
    s_open(f);
    /* Both connect and hang up before bsupd has even accepted them; the next one comes in the
     * same accept burst. */
    s_connect(f, &gone[0]);
    s_connect(f, &gone[1]);
    s_disconnect(&gone[0]);
    s_disconnect(&gone[1]);
    s_connect(f, &next);
    s_send_str(&next, "{\"id\":3}\n");
    s_wait_lines(&next, 1);
    s_assert_echo(next.lines[0], 3);
    s_disconnect(&next);
}

static void test_oversized_reply_is_truncated_not_dropped(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->limits.max_queued_bytes = 4096;
    f->big_reply = 5000; /* about 24 KB encoded */
    s_open(f);
    s_connect(f, &cl);
    s_send_str(&cl, "{\"id\":5}\n");
    s_wait_lines(&cl, 1);
    json_t *r = cl.lines[0];
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(r, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
    size_t n = json_array_size(json_object_get(r, "numbers"));
    assert_true(n > 100 && n < 5000);
    assert_true(cl.longest_line < 4096);
    /* The first elements are kept, in order; the connection serves on. */
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r, "numbers"), n - 1)),
                     (json_int_t)n - 1);
    f->big_reply = 0;
    s_send_str(&cl, "{\"id\":6}\n");
    s_wait_lines(&cl, 2);
    s_assert_echo(cl.lines[1], 6);
    assert_false(cl.eof);
    s_disconnect(&cl);
}

static void test_encode_within(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t max;
        const char *out; /* NULL: cannot fit */
    } cases[] = {
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10]}", 28, "{\"a\":[1,2,3,4,5,6,7,8,9,10]}"}, /* fits */
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10]}", 27, "{\"a\":[1],\"truncated\":true}"},
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10]}", 25, "{\"a\":[],\"truncated\":true}"},
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10]}", 24, NULL}, /* not even with the array empty */
        /* the longest array is cut first, then whichever is longest */
        {"{\"s\":[1,2,3,4,5,6],\"l\":[1,2,3,4,5,6,7,8]}", 40,
         "{\"s\":[1,2],\"l\":[1,2,3],\"truncated\":true}"},
        {"{\"x\":{\"rows\":[[1,2],[3,4],[5,6],[7,8]]}}", 39,
         "{\"x\":{\"rows\":[[1,2]]},\"truncated\":true}"},
        {"{\"s\":\"a string longer than the limit\"}", 20, NULL}, /* nothing to cut */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_loads(cases[i].in, JSON_PRESERVE_ORDER, NULL);
        assert_non_null(in);
        char *before = json_dumps(in, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t len = 0;
        char *out = bsup_control_encode_within(in, cases[i].max, &len);
        if (!cases[i].out) {
            assert_null(out);
        } else {
            assert_non_null(out);
            /* Compare as JSON: where "truncated" lands is not the point. */
            json_t *got = json_loads(out, 0, NULL), *want = json_loads(cases[i].out, 0, NULL);
            if (!json_equal(got, want))
                fail_msg("case %zu: got %s, want %s", i, out, cases[i].out);
            assert_int_equal(len, strlen(out));
            assert_true(len <= cases[i].max);
            json_decref(got);
            json_decref(want);
        }
        /* The caller's reply is untouched. */
        char *after = json_dumps(in, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(before, after);
        free(before);
        free(after);
        free(out);
        json_decref(in);
    }
}

/* An encoded reply goes out as it is, with the request's "id" first, and is never cut. */
static void test_encoded_reply(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *id; /* JSON, or NULL: none */
        size_t max;
        const char *out; /* NULL: does not fit */
    } cases[] = {
        {"{\"ok\":true,\"services\":[1,2]}", NULL, 100, "{\"ok\":true,\"services\":[1,2]}"},
        {"{\"ok\":true}", "7", 100, "{\"id\":7,\"ok\":true}"},
        {"{\"ok\":true}", "{\"a\":[\"x\"]}", 100, "{\"id\":{\"a\":[\"x\"]},\"ok\":true}"},
        {"{}", "\"q\"", 100, "{\"id\":\"q\"}"},
        {"{\"ok\":true}", "7", 18, "{\"id\":7,\"ok\":true}"}, /* exactly */
        {"{\"ok\":true}", "7", 17, NULL},
        {"{\"ok\":true,\"services\":[1,2]}", NULL, 20, NULL}, /* an array, yet not cut */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *reply = bsup_control_encoded(strdup(cases[i].text), strlen(cases[i].text));
        assert_non_null(reply);
        if (cases[i].id)
            json_object_set_new(reply, "id", json_loads(cases[i].id, JSON_DECODE_ANY, NULL));
        size_t len = 0;
        char *out = bsup_control_encode_within(reply, cases[i].max, &len);
        if (!cases[i].out) {
            assert_null(out);
        } else {
            assert_non_null(out);
            assert_string_equal(out, cases[i].out);
            assert_int_equal(len, strlen(out));
        }
        free(out);
        bsup_control_reply_drop(reply);
    }
}

static void on_waited(uv_timer_t *t)
{
    *(bool *)t->data = true;
    uv_stop(t->loop); /* run from the top of a uv_run, it would then wait for I/O, maybe none */
}

/* Runs the loop for ms. */
static void s_run_for(struct fixture *f, uint64_t ms)
{
    uv_timer_t t;
    bool done = false;
    uv_timer_init(&f->loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_waited, ms, 0);
    while (!done)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Asks cl for one more reply, of encoded_pad: n replies are then in. The server serves a request
 * only once the reply before it is written: that reply's memory has been kept or let go. */
static void s_ask(struct client *cl, size_t encoded_pad, size_t n)
{
    char line[32];
    cl->f->encoded_pad = encoded_pad;
    snprintf(line, sizeof(line), "{\"id\":%zu}\n", n);
    s_send_str(cl, line);
    s_wait_lines(cl, n);
}

/* A large encoded reply's memory, once written, is kept for the next reply to be built in
 * (bsup_control_spare), the larger of two; a small one's is not. spare_keep_ms is longer than
 * the test may run (alarm): a loaded machine that pauses the test between two steps must not let
 * the spare go under it (test_spare_not_taken_is_let_go tests that). */
static void test_written_reply_is_kept_as_spare(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    size_t n = 0, cap = 1;
    f->limits.spare_keep_ms = 60 * 1000;
    s_open(f);
    s_connect(f, &cl);
    assert_null(bsup_control_spare(f->ctl, &cap));
    assert_int_equal(cap, 0);
    s_ask(&cl, 300 * 1024, ++n);
    assert_int_equal(strlen(json_string_value(json_object_get(cl.lines[0], "pad"))),
                     300 * 1024 + 4);
    const char *first = f->encoded_text;
    s_ask(&cl, 1000, ++n);
    char *spare = bsup_control_spare(f->ctl, &cap);
    assert_ptr_equal(spare, first);
    assert_true(cap >= 300 * 1024);
    free(spare);
    assert_null(bsup_control_spare(f->ctl, &cap)); /* taken */
    /* Of two large replies written the larger is kept: a status's short last page does not
     * take the place of its first page's memory. */
    s_ask(&cl, 300 * 1024, ++n);
    const char *larger = f->encoded_text;
    s_ask(&cl, 200 * 1024, ++n);
    s_ask(&cl, 1000, ++n);
    spare = bsup_control_spare(f->ctl, &cap);
    assert_ptr_equal(spare, larger);
    assert_true(cap >= 300 * 1024);
    free(spare);
    /* A small reply's memory is not kept. */
    s_ask(&cl, 1000, ++n);
    s_ask(&cl, 1000, ++n);
    assert_null(bsup_control_spare(f->ctl, &cap));
    /* A spare still kept when the server closes goes with it (LeakSanitizer watches). */
    s_ask(&cl, 300 * 1024, ++n);
    s_ask(&cl, 1000, ++n);
    s_disconnect(&cl);
}

/* A spare not taken within spare_keep_ms is let go. */
static void test_spare_not_taken_is_let_go(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    size_t cap = 1;
    f->limits.spare_keep_ms = 100;
    s_open(f);
    s_connect(f, &cl);
    s_ask(&cl, 300 * 1024, 1);
    s_ask(&cl, 1000, 2); /* the large one is written: its keep runs */
    s_run_for(f, 300);
    assert_null(bsup_control_spare(f->ctl, &cap));
    assert_int_equal(cap, 0);
    s_disconnect(&cl);
}

/* The order in which the server served the clients' requests, as client letters. */
static void s_served_order(struct fixture *f, uint64_t ids[], const char *names, char *out)
{
    for (size_t i = 0; i < f->n_requests; i++) {
        out[i] = '?';
        for (size_t k = 0; names[k]; k++)
            if (f->client_ids[i] == ids[k])
                out[i] = names[k];
    }
    out[f->n_requests] = '\0';
}

static void test_requests_are_served_in_turns(void **state)
{
    struct fixture *f = *state;
    struct client heavy, reader, admin;
    char many[12 * 10 + 1] = "", order[S_MAX_REQUESTS + 1];
    static const enum bsup_control_class classes[] = {BSUP_CONTROL_READER, BSUP_CONTROL_READER,
                                                      BSUP_CONTROL_ADMIN};
    memcpy(f->classes, classes, sizeof(classes));
    f->n_classes = 3;
    s_open(f);
    s_connect(f, &heavy);
    s_connect(f, &reader);
    s_connect(f, &admin);
    s_wait_clients(f, 3);
    /* One client pipelines ten requests; then two more clients ask once each. */
    for (int i = 0; i < 10; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "{\"id\":%d}\n", i);
    s_send_str(&heavy, many);
    s_wait_consumed(&heavy);
    s_send_str(&reader, "{\"id\":100}\n");
    s_send_str(&admin, "{\"id\":200}\n");
    s_wait_lines(&heavy, 10);
    s_wait_lines(&reader, 1);
    s_wait_lines(&admin, 1);
    assert_int_equal(f->n_requests, 12);
    /* The heavy client's requests go one per turn: the others wait at most one of them, and
     * the admin is served first in its turn. */
    uint64_t ids[3];
    ids[0] = f->client_ids[0];
    for (size_t i = 0; i < f->n_requests; i++) {
        if (json_integer_value(json_object_get(f->requests[i], "id")) == 100)
            ids[1] = f->client_ids[i];
        if (json_integer_value(json_object_get(f->requests[i], "id")) == 200)
            ids[2] = f->client_ids[i];
    }
    s_served_order(f, ids, "hra", order);
    const char *r = strchr(order, 'r'), *a = strchr(order, 'a');
    if (!r || !a || r - order > 2 || a - order > 1 || a > r)
        fail_msg("served in the order %s (h: the heavy client)", order);
    for (int i = 0; i < 10; i++)
        s_assert_echo(heavy.lines[i], i); /* and each client's replies stay in order */
    s_disconnect(&heavy);
    s_disconnect(&reader);
    s_disconnect(&admin);
}

static void test_next_request_waits_for_the_reply_to_be_taken(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->big_reply = 200000; /* about 1.3 MB, more than the socket takes at once */
    s_open(f);
    s_connect(f, &cl);
    uv_read_stop((uv_stream_t *)&cl.pipe);
    s_send_str(&cl, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    for (int i = 0; i < 50; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->n_requests, 1); /* no more work while its reply sits unread */
    assert_int_equal(uv_read_start((uv_stream_t *)&cl.pipe, on_client_alloc, on_client_read), 0);
    s_wait_lines(&cl, 3);
    assert_int_equal(f->n_requests, 3);
    assert_false(cl.eof);
    s_disconnect(&cl);
}

static void test_client_that_takes_no_output_is_closed(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    f->big_reply = 200000;
    f->limits.idle_timeout_ms = 50;
    s_open(f);
    s_connect(f, &cl);
    uv_read_stop((uv_stream_t *)&cl.pipe);
    s_send_str(&cl, "{\"id\":1}\n");
    while (f->n_requests == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    s_wait_clients(f, 0);
    /* What it reads now ends before the reply does. */
    assert_int_equal(uv_read_start((uv_stream_t *)&cl.pipe, on_client_alloc, on_client_read), 0);
    s_wait_eof(&cl);
    assert_int_equal(cl.n_lines, 0);
    s_disconnect(&cl);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as bsupd: a client that hung up costs an EPIPE */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_splitter),
        cmocka_unit_test(test_peer_in_group),
        cmocka_unit_test(test_error_reply_is_always_utf8),
        cmocka_unit_test_setup_teardown(test_one_line_one_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_requests_in_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_split_across_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_request_before_eof_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_after_good_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_keep_the_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_beyond_twice_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_reply_holds_the_idle_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_credentials_reach_the_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graceful_close_flushes_pending_replies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drop_clients_hurries_a_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_and_drop_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_drip_meets_the_request_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines_in_time_are_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_lines_do_not_keep_a_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_slots_for_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_peer_is_told_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hung_up_client_frees_its_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_and_go_burst_frees_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_reply_is_truncated_not_dropped, setup,
                                        teardown),
        cmocka_unit_test(test_encode_within),
        cmocka_unit_test(test_encoded_reply),
        cmocka_unit_test_setup_teardown(test_written_reply_is_kept_as_spare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_not_taken_is_let_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_are_served_in_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_request_waits_for_the_reply_to_be_taken, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_that_takes_no_output_is_closed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
