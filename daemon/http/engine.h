/* The HTTP engine: every AWS call goes through one libcurl multi handle driven by a libuv loop
 * (curl_multi_socket_action, one uv_poll_t per socket, one uv_timer_t). HTTP/1.1 with
 * keep-alive, TLS always verified, no redirects, http/https only, bounded responses, and a FIFO
 * queue that caps requests in flight per endpoint (host:port) and in total.
 *
 * Threads: an engine belongs to the thread running its loop. Every function below must be
 * called on that thread and every callback runs on it; nothing is locked.
 *
 * Ownership: the caller owns struct bsup_http_engine and keeps it alive until the close
 * callback. bsup_http_send copies everything it needs from the request; the caller may free the
 * request as soon as bsup_http_send returns. A call handle is valid from bsup_http_send until its
 * done callback returns; the engine frees it then. See docs/http-engine.md. */
#ifndef BSUP_DAEMON_HTTP_ENGINE_H
#define BSUP_DAEMON_HTTP_ENGINE_H

#include "core/aws/request.h"
#include "daemon/close.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Defaults used when an option is 0 (documented in docs/http-engine.md). */
#define BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT 64
#define BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST 8
#define BSUP_HTTP_DEFAULT_MAX_QUEUED 10000
#define BSUP_HTTP_DEFAULT_DNS_CACHE_TIMEOUT_S 60
#define BSUP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define BSUP_HTTP_DEFAULT_TIMEOUT_MS 30000
#define BSUP_HTTP_DEFAULT_MAX_RESPONSE_BYTES (16u * 1024 * 1024)

struct bsup_http_engine_options {
    unsigned max_in_flight;          /* transfers running at once, all endpoints; 0: 64 */
    unsigned max_in_flight_per_host; /* transfers running at once per host:port; 0: 8 */
    unsigned max_queued;             /* requests waiting for a slot; beyond: BSUP_EBUSY; 0: 10000 */
    unsigned max_connections;        /* CURLMOPT_MAX_TOTAL_CONNECTIONS; 0: max_in_flight */
    unsigned max_host_connections;   /* CURLMOPT_MAX_HOST_CONNECTIONS; 0: max_in_flight_per_host */
    long dns_cache_timeout_s;        /* 0: 60 */
    const char *ca_file;             /* PEM CA bundle (CURLOPT_CAINFO); NULL: libcurl's default */
    const char *user_agent;          /* NULL: "bsup/<version>" */
};

struct bsup_http_request_options {
    uint32_t connect_timeout_ms; /* TCP+TLS connect; 0: 5000 */
    uint32_t timeout_ms;         /* whole transfer, from leaving the queue; 0: 30000 */
    size_t max_response_bytes;   /* response headers + body kept; beyond: BSUP_ETOOBIG; 0: 16 MiB */
};

struct bsup_http_header {
    char *name; /* lower-case, e.g. "x-amzn-requestid" */
    char *value;
};

/* What a done callback receives. Valid only while the callback runs, except that the callback
 * may take the body: copy the pointer and set body to NULL, then free() it later. */
struct bsup_http_response {
    int err;     /* 0: a complete HTTP response arrived (any status); else a BSUP_E* code */
    long status; /* HTTP status, 0 when none was received */
    struct bsup_http_header *headers; /* last response's headers, in arrival order */
    size_t n_headers;
    unsigned char *body; /* NUL-terminated after body_len bytes; NULL only if out of memory */
    size_t body_len;
    uint64_t total_time_ms;  /* from leaving the queue to completion */
    uint64_t queued_time_ms; /* waiting in the engine's queue */
    const char *error_text;  /* libcurl's or the engine's message; "" when err is 0 */
};

struct bsup_http_call;
struct bsup_http_engine;

/* Called exactly once per successful bsup_http_send, never inside the call that started it. */
typedef void (*bsup_http_done_fn)(struct bsup_http_call *call, struct bsup_http_response *resp,
                                  void *user);

struct bsup_http_stats {
    uint64_t requests_submitted; /* accepted by bsup_http_send */
    uint64_t requests_started;   /* handed to libcurl */
    uint64_t requests_completed; /* an HTTP response arrived (any status) */
    uint64_t requests_failed;    /* transport error (not counting cancels) */
    uint64_t requests_canceled;  /* bsup_http_cancel or close */
    uint64_t connections_opened; /* sum of CURLINFO_NUM_CONNECTS over finished transfers */
    unsigned in_flight;          /* running now */
    unsigned queued;             /* waiting now */
    unsigned peak_in_flight;
    unsigned peak_host_in_flight; /* highest count on any single endpoint */
};

/* Intrusive doubly-linked list node; private to the engine. */
struct bsup_http_link {
    struct bsup_http_link *prev;
    struct bsup_http_link *next;
};

/* Fields are private; read them only through the functions below. */
struct bsup_http_engine {
    uv_loop_t *loop;
    CURLM *multi;
    CURLSH *share;
    uv_timer_t timer;
    uv_idle_t deliver;
    struct bsup_http_engine_options opts;
    char *ca_file;
    char *user_agent;
    struct bsup_http_link queue;   /* waiting calls, FIFO */
    struct bsup_http_link running; /* calls inside the multi handle */
    struct bsup_http_link done;    /* finished calls awaiting their callback */
    struct bsup_http_link sockets; /* poll contexts */
    struct bsup_http_link hosts;   /* per-endpoint counters */
    struct bsup_http_stats stats;
    unsigned pending_aborts; /* running calls flagged for removal by a curl callback */
    unsigned open_handles;   /* uv handles not yet through their close callback */
    int initialized;
    int shutting_down;
    int closing;
    bsup_close_fn close_cb;
    void *close_user;
};

/* curl_global_init once per process (also done by bsup_http_engine_init). 0 or BSUP_EIO. */
int bsup_http_global_init(void);
/* curl_global_cleanup at process exit, after every engine is shut down. */
void bsup_http_global_cleanup(void);

/* Sets up the engine on loop; opts may be NULL (all defaults). 0, BSUP_ENOMEM or BSUP_EIO.
 * On failure nothing is left open and the engine needs no close. */
int bsup_http_engine_init(struct bsup_http_engine *e, uv_loop_t *loop,
                          const struct bsup_http_engine_options *opts);

/* Sends req (copied) to req->scheme://req->host req->path?req->query with req->headers and body.
 * opts may be NULL (defaults). On 0, cb fires exactly once, later, from the loop; *out_call
 * (out_call may be NULL) identifies the request for bsup_http_cancel until cb returns.
 * On a negative return (BSUP_EINVAL: bad method, scheme, host, control characters in a header or
 * URL part; BSUP_ENOMEM; BSUP_EBUSY: queue full; BSUP_ESHUTDOWN) cb never fires. */
int bsup_http_send(struct bsup_http_engine *e, const struct bsup_aws_request *req,
                   const struct bsup_http_request_options *opts, bsup_http_done_fn cb, void *user,
                   struct bsup_http_call **out_call);

/* Cancels a queued or running call: its callback fires later with BSUP_ECANCELED. No effect when
 * the call has already finished and only awaits (or is inside) its callback. */
void bsup_http_cancel(struct bsup_http_call *call);

/* Cancels everything queued and running (callbacks fire with BSUP_ECANCELED), closes all sockets
 * and handles and calls cb(user) (may be NULL; never inside this call) once everything is freed;
 * afterwards the loop holds no handle of the engine. Later bsup_http_send calls return
 * BSUP_ESHUTDOWN. For an initialised engine; a second call is ignored. See daemon/close.h. */
void bsup_http_engine_close(struct bsup_http_engine *e, bsup_close_fn cb, void *user);

/* Counters so far. */
void bsup_http_engine_stats(const struct bsup_http_engine *e, struct bsup_http_stats *out_stats);

/* Value of the first header named name (any case) in resp, or NULL. */
const char *bsup_http_response_header(const struct bsup_http_response *resp, const char *name);

#endif
