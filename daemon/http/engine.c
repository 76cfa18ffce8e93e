#include "daemon/http/engine.h"

#include "core/base/error.h"
#include "daemon/http/call.h"
#include "daemon/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One uv_poll_t per socket libcurl asks us to watch; freed only in its close callback. */
struct bsup_http_socket {
    struct bsup_http_link link;
    struct bsup_http_engine *engine;
    curl_socket_t fd;
    uv_poll_t poll;
};

static int s_global_ready;

int bsup_http_global_init(void)
{
    if (s_global_ready)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return BSUP_EIO;
    s_global_ready = 1;
    return 0;
}

void bsup_http_global_cleanup(void)
{
    if (s_global_ready)
        curl_global_cleanup();
    s_global_ready = 0;
}

static void s_begin_close(struct bsup_http_engine *e);
static void s_drain(struct bsup_http_engine *e);
static void on_deliver(uv_idle_t *idle);

/* ---- endpoints ---------------------------------------------------------------------------- */

static struct bsup_http_host *s_host_get(struct bsup_http_engine *e, const char *key)
{
    for (struct bsup_http_link *l = e->hosts.next; l != &e->hosts; l = l->next) {
        struct bsup_http_host *h = BSUP_HTTP_CONTAINER(l, struct bsup_http_host, link);
        if (strcmp(h->key, key) == 0) {
            h->refs++;
            return h;
        }
    }
    size_t len = strlen(key);
    struct bsup_http_host *h = calloc(1, sizeof(*h) + len + 1);
    if (!h)
        return NULL;
    memcpy(h->key, key, len + 1);
    h->refs = 1;
    bsup_http_list_push(&e->hosts, &h->link);
    return h;
}

static void s_host_put(struct bsup_http_host *h)
{
    if (h && --h->refs == 0) {
        bsup_http_list_remove(&h->link);
        free(h);
    }
}

static void s_call_free(struct bsup_http_call *call)
{
    if (!call)
        return;
    s_host_put(call->host);
    call->host = NULL;
    bsup_http_call_destroy(call);
}

/* ---- call state transitions -------------------------------------------------------------- */

static int s_has_slot(const struct bsup_http_engine *e, const struct bsup_http_host *h)
{
    return e->stats.in_flight < e->opts.max_in_flight &&
           h->in_flight < e->opts.max_in_flight_per_host;
}

/* Moves a queued or running call (result already set) to the done list; the idle handle
 * delivers it on a later loop iteration. Does not start queued calls. */
static void s_complete(struct bsup_http_engine *e, struct bsup_http_call *call)
{
    bsup_http_list_remove(&call->link);
    if (call->state == BSUP_HTTP_CALL_RUNNING) {
        e->stats.in_flight--;
        call->host->in_flight--;
    } else if (call->state == BSUP_HTTP_CALL_QUEUED) {
        e->stats.queued--;
        call->queued_time_ms = uv_now(e->loop) - call->queued_at_ms;
    }
    if (call->err == 0)
        e->stats.requests_completed++;
    else if (call->err == BSUP_ECANCELED)
        e->stats.requests_canceled++;
    else
        e->stats.requests_failed++;
    call->state = BSUP_HTTP_CALL_DONE;
    bsup_http_list_push(&e->done, &call->link);
    if (!e->closing && !uv_is_active((uv_handle_t *)&e->deliver))
        uv_idle_start(&e->deliver, on_deliver);
}

static void s_count_connects(struct bsup_http_engine *e, struct bsup_http_call *call)
{
    long n = 0;
    if (curl_easy_getinfo(call->easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0)
        e->stats.connections_opened += (uint64_t)n;
}

/* Takes a running call out of libcurl with err (not a libcurl result). */
static void s_abort_running(struct bsup_http_engine *e, struct bsup_http_call *call, int err,
                            const char *text)
{
    s_count_connects(e, call);
    curl_multi_remove_handle(e->multi, call->easy);
    long status = 0;
    if (curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        call->status = status;
    bsup_http_call_set_error(call, err, text);
    s_complete(e, call);
}

static void s_start(struct bsup_http_engine *e, struct bsup_http_call *call)
{
    call->state = BSUP_HTTP_CALL_RUNNING;
    call->queued_time_ms = uv_now(e->loop) - call->queued_at_ms;
    bsup_http_list_push(&e->running, &call->link);
    e->stats.in_flight++;
    call->host->in_flight++;
    if (e->stats.in_flight > e->stats.peak_in_flight)
        e->stats.peak_in_flight = e->stats.in_flight;
    if (call->host->in_flight > e->stats.peak_host_in_flight)
        e->stats.peak_host_in_flight = call->host->in_flight;
    CURLMcode mc = curl_multi_add_handle(e->multi, call->easy);
    if (mc != CURLM_OK) {
        bsup_http_call_set_error(call, mc == CURLM_OUT_OF_MEMORY ? BSUP_ENOMEM : BSUP_EIO,
                                 curl_multi_strerror(mc));
        s_complete(e, call);
        return;
    }
    e->stats.requests_started++;
}

/* Starts queued calls, oldest first, while their endpoint and the engine have room. */
static void s_pump(struct bsup_http_engine *e)
{
    if (e->shutting_down)
        return;
    struct bsup_http_link *l = e->queue.next, *next;
    for (; l != &e->queue && e->stats.in_flight < e->opts.max_in_flight; l = next) {
        next = l->next;
        struct bsup_http_call *call = BSUP_HTTP_CONTAINER(l, struct bsup_http_call, link);
        if (!s_has_slot(e, call->host))
            continue;
        bsup_http_list_remove(&call->link);
        e->stats.queued--;
        s_start(e, call);
    }
}

/* Removes running calls that a curl callback flagged (no memory for a poll context, ...). */
static void s_process_aborts(struct bsup_http_engine *e)
{
    /* Removing a handle may run the socket callback again, which may flag another call. */
    while (e->pending_aborts > 0) {
        e->pending_aborts = 0;
        struct bsup_http_link *l = e->running.next, *next;
        for (; l != &e->running; l = next) {
            next = l->next;
            struct bsup_http_call *call = BSUP_HTTP_CONTAINER(l, struct bsup_http_call, link);
            if (call->abort_err)
                s_abort_running(e, call, call->abort_err, "cannot watch the transfer's socket");
        }
    }
}

static void s_flag_abort(struct bsup_http_engine *e, CURL *easy, int err)
{
    char *priv = NULL;
    if (!easy || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
        return;
    struct bsup_http_call *call = (struct bsup_http_call *)priv;
    if (call->state == BSUP_HTTP_CALL_RUNNING && !call->abort_err) {
        call->abort_err = err;
        e->pending_aborts++;
    }
}

/* Reads every message libcurl has, whatever the number of running transfers: a transfer that
 * finishes on the timer path is reported here too (the bug in curl's multi-uv.c example). */
static void s_drain(struct bsup_http_engine *e)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result; /* msg is invalid after remove_handle */
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        struct bsup_http_call *call = (struct bsup_http_call *)priv;
        s_count_connects(e, call);
        curl_multi_remove_handle(e->multi, easy);
        bsup_http_call_set_result(call, result);
        s_complete(e, call);
    }
    s_process_aborts(e);
    s_pump(e);
}

/* ---- libuv <-> libcurl glue --------------------------------------------------------------- */

/* Counts a closed handle; the last one of a close frees the share and reports. */
static void s_handle_closed(struct bsup_http_engine *e)
{
    e->open_handles--;
    if (!e->closing || e->open_handles > 0)
        return;
    if (e->share && curl_share_cleanup(e->share) != CURLSHE_OK)
        bsup_log_warn("http: share handle still in use at shutdown");
    e->share = NULL;
    free(e->ca_file);
    free(e->user_agent);
    e->ca_file = e->user_agent = NULL;
    e->initialized = 0;
    bsup_close_fn cb = e->close_cb;
    void *user = e->close_user;
    if (cb)
        cb(user); /* may free e: nothing after this */
}

static void on_engine_handle_close(uv_handle_t *handle)
{
    s_handle_closed(handle->data);
}

static void on_poll_close(uv_handle_t *handle)
{
    struct bsup_http_socket *sock = handle->data;
    struct bsup_http_engine *e = sock->engine;
    free(sock);
    s_handle_closed(e);
}

static void s_socket_close(struct bsup_http_socket *sock)
{
    bsup_http_list_remove(&sock->link);
    uv_poll_stop(&sock->poll);
    uv_close((uv_handle_t *)&sock->poll, on_poll_close);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct bsup_http_socket *sock = handle->data;
    struct bsup_http_engine *e = sock->engine;
    int flags = 0, running = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else
        flags = ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    CURLMcode mc = curl_multi_socket_action(e->multi, sock->fd, flags, &running);
    if (mc != CURLM_OK)
        bsup_log_warn("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    s_drain(e);
}

static void on_timer(uv_timer_t *timer)
{
    struct bsup_http_engine *e = timer->data;
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (mc != CURLM_OK)
        bsup_log_warn("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    s_drain(e);
}

/* CURLMOPT_SOCKETFUNCTION. Never fails towards libcurl (a -1 kills the whole multi handle in
 * libcurl 7.88): a transfer whose socket cannot be watched is flagged and removed by s_drain. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct bsup_http_engine *e = userp;
    struct bsup_http_socket *sock = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sock)
            s_socket_close(sock);
        return 0;
    }
    if (!sock) {
        sock = calloc(1, sizeof(*sock));
        if (!sock) {
            s_flag_abort(e, easy, BSUP_ENOMEM);
            return 0;
        }
        if (uv_poll_init_socket(e->loop, &sock->poll, s) != 0) {
            free(sock);
            s_flag_abort(e, easy, BSUP_EIO);
            return 0;
        }
        sock->engine = e;
        sock->fd = s;
        sock->poll.data = sock;
        bsup_http_list_push(&e->sockets, &sock->link);
        e->open_handles++;
        if (curl_multi_assign(e->multi, s, sock) != CURLM_OK) {
            s_socket_close(sock);
            s_flag_abort(e, easy, BSUP_EIO);
            return 0;
        }
    }
    int events =
        ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    if (uv_poll_start(&sock->poll, events, on_poll) != 0)
        s_flag_abort(e, easy, BSUP_EIO);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: only arms the uv timer; libcurl is driven from on_timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct bsup_http_engine *e = userp;
    if (e->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&e->timer);
    else
        uv_timer_start(&e->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* Runs one done callback a loop turn, outside any call into the engine (a turn's other work,
 * such as a control request, never waits behind several answers being read); then finishes a
 * close. */
static void on_deliver(uv_idle_t *idle)
{
    struct bsup_http_engine *e = idle->data;
    if (!bsup_http_list_empty(&e->done)) {
        struct bsup_http_call *call =
            BSUP_HTTP_CONTAINER(e->done.next, struct bsup_http_call, link);
        bsup_http_list_remove(&call->link);
        call->state = BSUP_HTTP_CALL_DELIVERING;
        struct bsup_http_response resp;
        bsup_http_call_response(call, &resp);
        call->cb(call, &resp, call->user);
        if (!resp.body)
            call->body = NULL; /* the callback took it */
        s_call_free(call);
    }
    if (!bsup_http_list_empty(&e->done))
        return;
    uv_idle_stop(idle);
    if (e->shutting_down)
        s_begin_close(e);
}

static void s_begin_close(struct bsup_http_engine *e)
{
    if (e->closing)
        return;
    e->closing = 1;
    /* Closes cached connections; libcurl may report their sockets removed while doing so. */
    curl_multi_cleanup(e->multi);
    e->multi = NULL;
    while (!bsup_http_list_empty(&e->sockets))
        s_socket_close(BSUP_HTTP_CONTAINER(e->sockets.next, struct bsup_http_socket, link));
    uv_timer_stop(&e->timer);
    uv_close((uv_handle_t *)&e->timer, on_engine_handle_close);
    uv_close((uv_handle_t *)&e->deliver, on_engine_handle_close);
}

/* ---- public API --------------------------------------------------------------------------- */

static unsigned s_or(unsigned v, unsigned dflt)
{
    return v ? v : dflt;
}

int bsup_http_engine_init(struct bsup_http_engine *e, uv_loop_t *loop,
                          const struct bsup_http_engine_options *opts)
{
    int rc = 0;
    memset(e, 0, sizeof(*e));
    e->loop = loop;
    bsup_http_list_init(&e->queue);
    bsup_http_list_init(&e->running);
    bsup_http_list_init(&e->done);
    bsup_http_list_init(&e->sockets);
    bsup_http_list_init(&e->hosts);
    if (opts)
        e->opts = *opts;
    e->opts.max_in_flight = s_or(e->opts.max_in_flight, BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT);
    e->opts.max_in_flight_per_host =
        s_or(e->opts.max_in_flight_per_host, BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST);
    e->opts.max_queued = s_or(e->opts.max_queued, BSUP_HTTP_DEFAULT_MAX_QUEUED);
    e->opts.max_connections = s_or(e->opts.max_connections, e->opts.max_in_flight);
    e->opts.max_host_connections =
        s_or(e->opts.max_host_connections, e->opts.max_in_flight_per_host);
    if (e->opts.dns_cache_timeout_s <= 0)
        e->opts.dns_cache_timeout_s = BSUP_HTTP_DEFAULT_DNS_CACHE_TIMEOUT_S;
    e->opts.ca_file = NULL; /* kept in e->ca_file / e->user_agent as copies */
    e->opts.user_agent = NULL;

    rc = bsup_http_global_init();
    if (rc < 0)
        goto out;
    rc = BSUP_ENOMEM;
    if (opts && opts->ca_file && !(e->ca_file = strdup(opts->ca_file)))
        goto out;
    e->user_agent = strdup(opts && opts->user_agent ? opts->user_agent : "bsup/" BSUP_VERSION);
    if (!e->user_agent)
        goto out;
    e->share = curl_share_init();
    if (!e->share)
        goto out;
    /* Connections are pooled by the multi handle itself; the share adds DNS and TLS sessions. */
    if (curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        goto out;
    e->multi = curl_multi_init();
    if (!e->multi)
        goto out;
    CURLM *m = e->multi;
    if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, (void *)e) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, (void *)e) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)e->opts.max_host_connections) !=
            CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)e->opts.max_connections) !=
            CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)e->opts.max_connections) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING) != CURLM_OK) {
        rc = BSUP_EIO;
        goto out;
    }
    /* Neither can fail on Unix (they only initialise fields); they come last so that a failure
     * above leaves no handle to close. */
    uv_timer_init(loop, &e->timer);
    uv_idle_init(loop, &e->deliver);
    e->timer.data = e;
    e->deliver.data = e;
    e->open_handles = 2;
    e->initialized = 1;
    rc = 0;
out:
    if (rc < 0) {
        if (e->multi)
            curl_multi_cleanup(e->multi);
        if (e->share)
            curl_share_cleanup(e->share);
        free(e->ca_file);
        free(e->user_agent);
        memset(e, 0, sizeof(*e));
    }
    return rc;
}

int bsup_http_send(struct bsup_http_engine *e, const struct bsup_aws_request *req,
                   const struct bsup_http_request_options *opts, bsup_http_done_fn cb, void *user,
                   struct bsup_http_call **out_call)
{
    struct bsup_http_call *call = NULL;
    char key[512];
    int rc;

    if (out_call)
        *out_call = NULL;
    if (!e || !req || !cb)
        return BSUP_EINVAL;
    if (!e->initialized || e->shutting_down)
        return BSUP_ESHUTDOWN;
    rc = bsup_http_call_create(e, req, opts, key, sizeof(key), &call);
    if (rc < 0)
        goto out;
    call->host = s_host_get(e, key);
    if (!call->host) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    call->cb = cb;
    call->user = user;
    call->queued_at_ms = uv_now(e->loop);
    /* s_pump runs after every release, so no queued call could start now: a call that finds room
     * does not overtake anyone, and one that does not waits its turn. */
    if (s_has_slot(e, call->host)) {
        s_start(e, call);
    } else {
        if (e->stats.queued >= e->opts.max_queued) {
            rc = BSUP_EBUSY;
            goto out;
        }
        call->state = BSUP_HTTP_CALL_QUEUED;
        bsup_http_list_push(&e->queue, &call->link);
        e->stats.queued++;
    }
    e->stats.requests_submitted++;
    if (out_call)
        *out_call = call;
    call = NULL;
out:
    s_call_free(call);
    return rc;
}

void bsup_http_cancel(struct bsup_http_call *call)
{
    if (!call)
        return;
    struct bsup_http_engine *e = call->engine;
    if (call->state == BSUP_HTTP_CALL_QUEUED) {
        bsup_http_call_set_error(call, BSUP_ECANCELED, "canceled");
        s_complete(e, call);
    } else if (call->state == BSUP_HTTP_CALL_RUNNING) {
        s_abort_running(e, call, BSUP_ECANCELED, "canceled");
        s_process_aborts(e);
        s_pump(e);
    }
}

void bsup_http_engine_close(struct bsup_http_engine *e, bsup_close_fn cb, void *user)
{
    if (!e->initialized || e->shutting_down)
        return;
    e->shutting_down = 1;
    e->close_cb = cb;
    e->close_user = user;
    while (!bsup_http_list_empty(&e->queue)) {
        struct bsup_http_call *call =
            BSUP_HTTP_CONTAINER(e->queue.next, struct bsup_http_call, link);
        bsup_http_call_set_error(call, BSUP_ECANCELED, "engine shut down");
        s_complete(e, call);
    }
    while (!bsup_http_list_empty(&e->running)) {
        struct bsup_http_call *call =
            BSUP_HTTP_CONTAINER(e->running.next, struct bsup_http_call, link);
        s_abort_running(e, call, BSUP_ECANCELED, "engine shut down");
    }
    e->pending_aborts = 0;
    /* The idle handle delivers the cancellations, then closes everything (s_begin_close). */
    uv_idle_start(&e->deliver, on_deliver);
}

void bsup_http_engine_stats(const struct bsup_http_engine *e, struct bsup_http_stats *out_stats)
{
    *out_stats = e->stats;
}

const char *bsup_http_response_header(const struct bsup_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}
