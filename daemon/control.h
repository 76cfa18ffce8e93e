/* The control socket server: a Unix stream socket carrying one JSON object per line in each
 * direction. It frames, limits and authenticates; what a command means is the caller's
 * business (bsup_control_request_fn), and so is who may connect (bsup_control_classify_fn).
 * No client can block the loop or another client: reads are bounded by a line limit and a
 * deadline per line, each client has one request in work at a time and the loop serves at most
 * a few requests per turn, fairly; a reply too large for the output cap is shrunk, never
 * dropped; idle clients and clients that do not read are dropped; beyond max_clients a new
 * client gets an error line and is closed, and reserved_clients slots are kept for peers the
 * caller classifies as admins. */
#ifndef BSUP_DAEMON_CONTROL_H
#define BSUP_DAEMON_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "core/base/error.h"
#include "daemon/close.h"

/* 2: status and plan page their services (offset, limit, total, next_offset); last_load lists
 * each error once, under its file. */
#define BSUP_CONTROL_PROTOCOL 2

/* Who is on the other end (SO_PEERCRED and the supplementary groups). */
struct bsup_peer {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    gid_t groups[64];
    size_t n_groups;
};

/* Whether gid is the peer's primary or one of its supplementary groups. */
bool bsup_peer_in_group(const struct bsup_peer *peer, gid_t gid);

struct bsup_control_limits {
    size_t max_line_bytes; /* a request line longer than this: line_too_long, close */
    /* Output queued for one client. A reply larger than this on its own is shrunk to fit and
     * marked "truncated": true; a client whose earlier output is still unread when a reply
     * would pass it does not read, and is closed. */
    size_t max_queued_bytes;
    uint64_t idle_timeout_ms;    /* no request (or none of its output taken) for this long */
    uint64_t request_timeout_ms; /* a request line must end this long after its first byte */
    size_t max_clients;
    size_t reserved_clients;   /* of max_clients, only for BSUP_CONTROL_ADMIN peers */
    size_t max_reader_per_uid; /* readers of one uid at once: one user cannot take them all */
    uint64_t spare_keep_ms;    /* how long bsup_control_spare keeps a written reply's memory */
};

#define BSUP_CONTROL_LIMITS_DEFAULT                                                                \
    ((struct bsup_control_limits){.max_line_bytes = 64 * 1024,                                     \
                                  .max_queued_bytes = 4 * 1024 * 1024,                             \
                                  .idle_timeout_ms = 30000,                                        \
                                  .request_timeout_ms = 10000,                                     \
                                  .max_clients = 64,                                               \
                                  .reserved_clients = 8,                                           \
                                  .max_reader_per_uid = 16,                                        \
                                  .spare_keep_ms = 10000})

struct bsup_control;

/* One request (a JSON object) from client client_id. Returns the reply (the server takes the
 * reference and adds the request's "id"), or NULL to answer later with bsup_control_reply. */
typedef json_t *(*bsup_control_request_fn)(void *ctx, uint64_t client_id,
                                           const struct bsup_peer *peer, json_t *request);

/* What a peer may do, decided once when it connects (before it sends anything). */
enum bsup_control_class {
    BSUP_CONTROL_REFUSED, /* answered at once with the refusal, then closed; holds no slot */
    BSUP_CONTROL_READER,  /* served within max_clients - reserved_clients */
    BSUP_CONTROL_ADMIN,   /* may also take the reserved slots; served first in each turn */
};

/* Classifies a new peer. For BSUP_CONTROL_REFUSED, *out_refusal gets the reply to send (an
 * error object; the server takes the reference). */
typedef enum bsup_control_class (*bsup_control_classify_fn)(void *ctx, const struct bsup_peer *peer,
                                                            json_t **out_refusal);

struct bsup_control_handlers {
    bsup_control_request_fn on_request;
    bsup_control_classify_fn classify; /* NULL: every peer is a reader */
    void *ctx;
};

/* Listens on the socket systemd passed (listen_fd >= 0) or creates path: parent directory
 * made if missing, mode 0666 (the peer's credentials decide, through classify and
 * on_request), a stale socket removed only if nothing answers on it. BSUP_EEXISTS when another
 * daemon answers there. */
int bsup_control_open(uv_loop_t *loop, const char *path, int listen_fd,
                      const struct bsup_control_limits *limits,
                      const struct bsup_control_handlers *handlers, struct bsup_control **out,
                      struct bsup_diag *diag);

/* Sends a reply that on_request deferred (takes the reference). BSUP_ENOTFOUND when the client
 * has gone meanwhile. */
int bsup_control_reply(struct bsup_control *ctl, uint64_t client_id, json_t *reply);

/* A reply already encoded: text (malloc'd, len bytes, one compact JSON object, no newline) is
 * sent as it is, with the request's "id" added. For replies cheaper to write than to build as
 * objects (status and plan rows: megabytes at thousands of services, never copied). The reply
 * owns text: it is freed once written, or by bsup_control_reply_drop, never by json_decref
 * alone. It is sent whole: the caller makes it fit bsup_control_max_reply_bytes (a longer one
 * is answered reply_too_large). NULL on ENOMEM (text freed). */
json_t *bsup_control_encoded(char *text, size_t len);
/* Lets go of a reply that will not be sent (takes the reference), an encoded one's text too. */
void bsup_control_reply_drop(json_t *reply);
/* The allocation of the last large encoded reply written within limits.spare_keep_ms, for the
 * next one to be built in (the caller owns it; *cap its usable bytes), or NULL. */
char *bsup_control_spare(struct bsup_control *ctl, size_t *cap);

/* {"ok":false,"error":{"code":code,"message":...}}. */
json_t *bsup_control_error(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Stops accepting and removes the socket path it created; each client gets its pending replies
 * and queued output, then is closed. cb(user) runs once nothing is left, never inside this call;
 * ctl is freed just before it. Call once (daemon/close.h). */
void bsup_control_close(struct bsup_control *ctl, bsup_close_fn cb, void *user);

/* Closes every client now, dropping its queued output and pending replies: hurries a close
 * under way (the daemon's stop deadline). */
void bsup_control_drop_clients(struct bsup_control *ctl);

/* The framing, pure: the next non-empty line of buf[*start, len), without its "\n" or "\r\n".
 * Scanning resumes at *scan (*start <= *scan; bytes between them hold no newline). On a line:
 * true, and both move past its "\n"; otherwise false, *scan = len, and [*start, len) is an
 * incomplete line to keep for the next read. */
bool bsup_control_next_line(const char *buf, size_t len, size_t *start, size_t *scan,
                            const char **out_line, size_t *out_len);

/* Clients holding a slot: connected, and not yet hung up (EOF) or being closed. */
size_t bsup_control_n_clients(const struct bsup_control *ctl);

/* The largest reply line a client can be sent whole (limits.max_queued_bytes, without the
 * newline): a command that builds a long list can page it within this. */
size_t bsup_control_max_reply_bytes(const struct bsup_control *ctl);

/* Makes reply, encoded compactly, fit in max_bytes: the longest arrays are cut (their first
 * elements kept) and "truncated": true is set. Returns the encoding (malloc'd, NUL-terminated:
 * len + 1 bytes) and its length, or NULL when even that cannot fit or memory runs out. reply is not
 * changed. An encoded reply (bsup_control_encoded) is never cut: NULL when it does not fit. */
char *bsup_control_encode_within(const json_t *reply, size_t max_bytes, size_t *out_len);

#endif
