/* Control protocol (daemon/control.c, daemon/commands.c): the bytes are what one client sends.
 *
 * Framing: they arrive in chunks of pseudo-random sizes (derived from the input) into a buffer
 * of max_line_bytes + 1, as on_read receives them, and bsup_control_next_line (the real,
 * pure framing) cuts lines; those must equal a plain reference split of the whole input, and a
 * line_too_long stop must happen exactly when a line does not fit.
 *
 * Requests: each line is decoded as s_client_line does (jansson, duplicates refused; a copy of
 * its few lines, since it is static), then handed to bsup_daemon_on_request from a peer with no
 * rights: the "cmd" check, the command table lookup and the rights check run. What comes after
 * (the "service" argument, the handlers' own checks) needs rights and a running daemon: not
 * reached. Every line must get a reply (NULL would mean "answered later" to the server) that
 * encodes as one JSON line. */
#include "tests/fuzz/fuzz.h"

#include "core/config/config.h"
#include "daemon/control.h"
#include "daemon/daemon_internal.h"
#include "daemon/log.h"

#include <stdbool.h>
#include <string.h>

#define S_MAX_LINE 1024

static struct bsup_settings s_settings;
static struct bsup_daemon s_daemon;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    bsup_log_set_level(BSUP_LOG_ERR); /* refused requests log a warning each */
    bsup_settings_init(&s_settings);
    s_daemon.settings = &s_settings;
    s_daemon.self_uid = 0;
    s_daemon.read_gid = (gid_t)-1;
    s_daemon.admin_gid = (gid_t)-1;
    return 0;
}

/* One request line, answered as s_client_line answers it. */
static void s_request(const char *line, size_t len)
{
    static const struct bsup_peer peer = {.uid = 65534, .gid = 65534, .pid = 1};
    json_error_t err;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    json_t *reply;
    if (!req)
        reply = bsup_control_error("bad_json", "request is not JSON: %s (column %d)", err.text,
                                   err.column);
    else if (!json_is_object(req))
        reply = bsup_control_error("bad_request", "request must be a JSON object");
    else
        reply = bsup_daemon_on_request(&s_daemon, 1, &peer, req);
    /* Nothing here defers (that needs rights): a NULL reply is a client left waiting. */
    BSUP_FUZZ_CHECK(reply != NULL);
    BSUP_FUZZ_CHECK(json_is_object(reply));
    BSUP_FUZZ_CHECK(json_is_false(json_object_get(reply, "ok")));
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    if (id && !json_object_get(reply, "id"))
        json_object_set(reply, "id", id);
    char *text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    BSUP_FUZZ_CHECK(text != NULL);
    BSUP_FUZZ_CHECK(strchr(text, '\n') == NULL);
    free(text);
    json_decref(reply);
    json_decref(req);
}

/* The reference framing: the next non-empty line of data[*at, size) and its raw length
 * (without "\n"); false at the end, *out_partial then says how many bytes lack a "\n". */
static bool s_ref_line(const uint8_t *data, size_t size, size_t *at, size_t *out_off,
                       size_t *out_len, size_t *out_raw, size_t *out_partial)
{
    while (*at < size) {
        const uint8_t *nl = memchr(data + *at, '\n', size - *at);
        if (!nl) {
            *out_partial = size - *at;
            *out_off = *at;
            return false;
        }
        size_t off = *at, raw = (size_t)(nl - data) - off, len = raw;
        *at = off + raw + 1;
        if (len && data[off + len - 1] == '\r')
            len--;
        if (len) {
            *out_off = off;
            *out_len = len;
            *out_raw = raw;
            return true;
        }
    }
    *out_partial = 0;
    *out_off = size;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[S_MAX_LINE + 1];
    uint32_t rng = 2166136261u; /* chunk sizes: FNV-1a of the input, then xorshift */
    for (size_t i = 0; i < size && i < 64; i++)
        rng = (rng ^ data[i]) * 16777619u;
    size_t len = 0, pos = 0, ref_at = 0, off, ref_len, raw, partial;
    bool too_long = false;
    while (pos < size && !too_long) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        size_t n = 1 + rng % 300, room = S_MAX_LINE + 1 - len;
        n = n < room ? n : room;
        n = n < size - pos ? n : size - pos;
        memcpy(buf + len, data + pos, n);
        pos += n;
        size_t start = 0, scan = len;
        const char *line;
        size_t line_len;
        len += n;
        while (bsup_control_next_line(buf, len, &start, &scan, &line, &line_len)) {
            BSUP_FUZZ_CHECK(s_ref_line(data, size, &ref_at, &off, &ref_len, &raw, &partial));
            BSUP_FUZZ_CHECK(line_len == ref_len && memcmp(line, data + off, ref_len) == 0);
            BSUP_FUZZ_CHECK(raw <= S_MAX_LINE);
            s_request(line, line_len);
        }
        BSUP_FUZZ_CHECK(start <= len && scan == len);
        memmove(buf, buf + start, len - start);
        len -= start;
        too_long = len > S_MAX_LINE;
    }
    bool more = s_ref_line(data, size, &ref_at, &off, &ref_len, &raw, &partial);
    if (too_long) {
        /* The line that did not fit is longer than the limit, "\n" or not. */
        BSUP_FUZZ_CHECK(more ? raw > S_MAX_LINE : partial > S_MAX_LINE);
    } else {
        /* EOF: what is left is the last request, without its "\n". */
        BSUP_FUZZ_CHECK(!more && partial == len && memcmp(buf, data + off, len) == 0);
        if (len)
            s_request(buf, len);
    }
    return 0;
}
