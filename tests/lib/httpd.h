/* A tiny HTTP/1.1 server for tests, on 127.0.0.1 with an ephemeral port, running on the test's
 * own libuv loop. Keep-alive; canned responses chosen by path:
 *   /echo...          200, body "METHOD TARGET\n<request header lines>\n<request body>",
 *                     headers Date, x-amzn-RequestId: req-<n>, x-amz-retry-after: 7
 *   /big?n=BYTES      200 with Content-Length and BYTES of 'x'
 *   /chunked?n=BYTES  200, chunked, BYTES of 'x'
 *   /stall            headers promising 100 bytes, 10 bytes, then silence
 *   /status/NNN       status NNN, small body
 *   CONNECT host:port 403 (records the target: lets tests see a proxy being used)
 * Anything else: 404, unless the test's handler answers first. */
#ifndef BSUP_TESTS_HTTPD_H
#define BSUP_TESTS_HTTPD_H

#include <uv.h>

struct bsup_test_httpd;
/* Called after each complete request is parsed and answered. */
typedef void (*bsup_test_httpd_request_fn)(struct bsup_test_httpd *srv, const char *method,
                                           const char *target, void *user);

/* A test's own answer to a request: return 1 after filling *out_status and *out_body (malloc'd,
 * freed by the server), 0 to fall back to the canned paths, 2 to answer it later with
 * bsup_test_httpd_answer (one such request at a time). */
typedef int (*bsup_test_httpd_handler_fn)(struct bsup_test_httpd *srv, const char *method,
                                          const char *target, const char *body, size_t body_len,
                                          int *out_status, char **out_body, void *user);

struct bsup_test_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    unsigned connections_accepted;
    unsigned connections_open;
    unsigned requests;
    char last_connect_target[256];
    bsup_test_httpd_request_fn on_request;
    bsup_test_httpd_handler_fn handler; /* may be NULL */
    void *user;
    void *conns; /* private: list of open connections */
    void *held;  /* private: the connection of the request whose answer the handler held */
    int closing;
};

/* Listens on 127.0.0.1:0; srv->port is the port. 0 or a negative libuv error. */
int bsup_test_httpd_start(struct bsup_test_httpd *srv, uv_loop_t *loop);
/* Answers the request the handler held (body: NUL-terminated). 0, or -1 when none is held (or
 * its client has gone). */
int bsup_test_httpd_answer(struct bsup_test_httpd *srv, int status, const char *body);
/* Closes the listener and every connection (asynchronously: run the loop afterwards). */
void bsup_test_httpd_close(struct bsup_test_httpd *srv);
/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
int bsup_test_free_port(void);

#endif
