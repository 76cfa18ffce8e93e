#include "daemon/http/call.h"

#include "core/base/array.h"
#include "core/base/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libcurl results that are not "broken connection" (BSUP_EIO), as one table. */
static const struct {
    CURLcode code;
    int err;
} s_result_map[] = {
    {CURLE_OPERATION_TIMEDOUT, BSUP_ETIMEDOUT},
    {CURLE_COULDNT_CONNECT, BSUP_ECONNECT},
    {CURLE_COULDNT_RESOLVE_HOST, BSUP_ECONNECT},
    {CURLE_COULDNT_RESOLVE_PROXY, BSUP_ECONNECT},
    {CURLE_SSL_CONNECT_ERROR, BSUP_ECONNECT},
    {CURLE_PEER_FAILED_VERIFICATION, BSUP_ECRYPTO},
    {CURLE_SSL_CACERT_BADFILE, BSUP_ECRYPTO},
    {CURLE_SSL_CERTPROBLEM, BSUP_ECRYPTO},
    {CURLE_SSL_CIPHER, BSUP_ECRYPTO},
    {CURLE_SSL_ENGINE_INITFAILED, BSUP_ECRYPTO},
    {CURLE_FILESIZE_EXCEEDED, BSUP_ETOOBIG},
    {CURLE_OUT_OF_MEMORY, BSUP_ENOMEM},
    {CURLE_URL_MALFORMAT, BSUP_EINVAL},
    {CURLE_UNSUPPORTED_PROTOCOL, BSUP_EINVAL},
    {CURLE_WEIRD_SERVER_REPLY, BSUP_EPROTO},
    {CURLE_BAD_CONTENT_ENCODING, BSUP_EPROTO},
};

static int s_map_result(const struct bsup_http_call *call, CURLcode result)
{
    if (result == CURLE_OK)
        return 0;
    if (result == CURLE_WRITE_ERROR) {
        if (call->too_big)
            return BSUP_ETOOBIG;
        if (call->nomem)
            return BSUP_ENOMEM;
    }
    for (size_t i = 0; i < sizeof(s_result_map) / sizeof(s_result_map[0]); i++)
        if (s_result_map[i].code == result)
            return s_result_map[i].err;
    return BSUP_EIO;
}

/* Characters that may appear in a URL part or header value we pass on: no controls, no space. */
static int s_printable(const char *s, const char *also_forbidden)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f || strchr(also_forbidden, c))
            return 0;
    }
    return 1;
}

static int s_header_name_ok(const char *name)
{
    return name && *name && s_printable(name, ":()<>@,;\\\"/[]?={}");
}

static int s_header_value_ok(const char *value)
{
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return 0;
    return 1;
}

/* "host:port" lower-case from a Host value, adding the scheme's default port. */
static int s_endpoint_key(const char *host, int https, char *key, size_t key_size)
{
    const char *port = NULL;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end)
            return BSUP_EINVAL;
        if (end[1] == ':')
            port = end + 1;
        else if (end[1] != '\0')
            return BSUP_EINVAL;
    } else {
        port = strchr(host, ':');
        if (port && strchr(port + 1, ':'))
            return BSUP_EINVAL;
    }
    int n = port ? snprintf(key, key_size, "%s", host)
                 : snprintf(key, key_size, "%s:%s", host, https ? "443" : "80");
    if (n < 0 || (size_t)n >= key_size)
        return BSUP_EINVAL;
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct bsup_http_call *call = userp;
    size_t n = size * nmemb;
    if (n > call->max_response_bytes - call->stored_bytes) {
        call->too_big = 1;
        return 0;
    }
    int rc = bsup_buf_append(&call->body_buf, data, n);
    if (rc < 0) {
        *(rc == BSUP_ETOOBIG ? &call->too_big : &call->nomem) = 1;
        return 0;
    }
    call->stored_bytes += n;
    return n;
}

static void s_free_headers(struct bsup_http_call *call)
{
    for (size_t i = 0; i < call->n_headers; i++) {
        free(call->headers[i].name);
        free(call->headers[i].value);
    }
    call->n_headers = 0;
}

static char *s_strndup_trim(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return strndup(s, len);
}

/* Appends a folded continuation line to the last header's value. 0 or -1 (no memory). */
static int s_fold_header(struct bsup_http_call *call, const char *line, size_t len)
{
    if (call->n_headers == 0)
        return 0;
    struct bsup_http_header *h = &call->headers[call->n_headers - 1];
    char *more = s_strndup_trim(line, len);
    if (!more)
        return -1;
    size_t old = strlen(h->value), add = strlen(more);
    char *value = realloc(h->value, old + 1 + add + 1);
    if (!value) {
        free(more);
        return -1;
    }
    value[old] = ' ';
    memcpy(value + old + 1, more, add + 1);
    h->value = value;
    free(more);
    return 0;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userp)
{
    struct bsup_http_call *call = userp;
    size_t n = size * nitems, len = n;
    if (n > call->max_response_bytes - call->stored_bytes) {
        call->too_big = 1;
        return 0;
    }
    call->stored_bytes += n;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    if (len == 0)
        return n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, for example): keep only the last one's headers. */
        s_free_headers(call);
        return n;
    }
    if (data[0] == ' ' || data[0] == '\t') {
        if (s_fold_header(call, data, len) < 0)
            goto nomem;
        return n;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return n;
    if (BSUP_ARRAY_RESERVE(call->headers, call->cap_headers, call->n_headers + 1) < 0)
        goto nomem;
    char *name = s_strndup_trim(data, (size_t)(colon - data));
    char *value = s_strndup_trim(colon + 1, len - (size_t)(colon - data) - 1);
    if (!name || !value) {
        free(name);
        free(value);
        goto nomem;
    }
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    call->headers[call->n_headers].name = name;
    call->headers[call->n_headers].value = value;
    call->n_headers++;
    return n;
nomem:
    call->nomem = 1;
    return 0;
}

static int s_is_method(const char *method)
{
    if (!*method)
        return 0;
    for (const char *p = method; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return 0;
    return 1;
}

/* Request headers as a curl_slist: "Name: value", "Name;" for an empty value, and "Expect:" so
 * libcurl never waits for 100 Continue. 0, BSUP_EINVAL or BSUP_ENOMEM. */
static int s_build_headers(const struct bsup_aws_request *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL, *next;
    char *line = NULL;
    int rc = 0, has_expect = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct bsup_aws_header *h = &req->headers[i];
        if (!s_header_name_ok(h->name) || !h->value || !s_header_value_ok(h->value)) {
            rc = BSUP_EINVAL;
            goto out;
        }
        if (strcasecmp(h->name, "expect") == 0)
            has_expect = 1;
        size_t size = strlen(h->name) + strlen(h->value) + 3;
        line = malloc(size);
        if (!line) {
            rc = BSUP_ENOMEM;
            goto out;
        }
        if (*h->value)
            snprintf(line, size, "%s: %s", h->name, h->value);
        else
            snprintf(line, size, "%s;", h->name);
        next = curl_slist_append(list, line);
        bsup_secure_zero(line, size); /* may be Authorization */
        free(line);
        line = NULL;
        if (!next) {
            rc = BSUP_ENOMEM;
            goto out;
        }
        list = next;
    }
    if (!has_expect) {
        next = curl_slist_append(list, "Expect:");
        if (!next) {
            rc = BSUP_ENOMEM;
            goto out;
        }
        list = next;
    }
out:
    if (rc < 0) {
        curl_slist_free_all(list);
        list = NULL;
    }
    *out = list;
    return rc;
}

static int s_build_url(const struct bsup_aws_request *req, int *out_https, char **out_url)
{
    *out_url = NULL;
    if (!req->scheme || !req->host || !*req->host)
        return BSUP_EINVAL;
    if (strcasecmp(req->scheme, "https") == 0)
        *out_https = 1;
    else if (strcasecmp(req->scheme, "http") == 0)
        *out_https = 0;
    else
        return BSUP_EINVAL;
    const char *path = req->path && *req->path ? req->path : "/";
    const char *query = req->query && *req->query ? req->query : NULL;
    if (path[0] != '/' || !s_printable(req->host, "/?#@\\") || !s_printable(path, "?#") ||
        (query && !s_printable(query, "#")))
        return BSUP_EINVAL;
    size_t size = strlen(req->scheme) + 3 + strlen(req->host) + strlen(path) +
                  (query ? strlen(query) + 1 : 0) + 1;
    char *url = malloc(size);
    if (!url)
        return BSUP_ENOMEM;
    snprintf(url, size, "%s://%s%s%s%s", *out_https ? "https" : "http", req->host, path,
             query ? "?" : "", query ? query : "");
    *out_url = url;
    return 0;
}

#define S_SET(cc, easy, opt, val)                                                                  \
    do {                                                                                           \
        if ((cc) == CURLE_OK)                                                                      \
            (cc) = curl_easy_setopt((easy), (opt), (val));                                         \
    } while (0)

static int s_setup_easy(struct bsup_http_call *call, struct bsup_http_engine *e,
                        const struct bsup_aws_request *req,
                        const struct bsup_http_request_options *opts, const char *url)
{
    CURL *easy = call->easy;
    CURLcode cc = CURLE_OK;
    long connect_ms = opts && opts->connect_timeout_ms ? (long)opts->connect_timeout_ms
                                                       : BSUP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
    long total_ms =
        opts && opts->timeout_ms ? (long)opts->timeout_ms : BSUP_HTTP_DEFAULT_TIMEOUT_MS;

    S_SET(cc, easy, CURLOPT_URL, url);
    S_SET(cc, easy, CURLOPT_PRIVATE, (void *)call);
    S_SET(cc, easy, CURLOPT_ERRORBUFFER, call->errbuf);
    S_SET(cc, easy, CURLOPT_NOSIGNAL, 1L);
    S_SET(cc, easy, CURLOPT_PROTOCOLS_STR, "http,https");
    S_SET(cc, easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    S_SET(cc, easy, CURLOPT_FOLLOWLOCATION, 0L);
    S_SET(cc, easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    S_SET(cc, easy, CURLOPT_PATH_AS_IS, 1L); /* the signer signed this exact path */
    S_SET(cc, easy, CURLOPT_SHARE, e->share);
    S_SET(cc, easy, CURLOPT_DNS_CACHE_TIMEOUT, e->opts.dns_cache_timeout_s);
    S_SET(cc, easy, CURLOPT_TCP_KEEPALIVE, 1L);
    S_SET(cc, easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    S_SET(cc, easy, CURLOPT_TIMEOUT_MS, total_ms);
    S_SET(cc, easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)call->max_response_bytes);
    S_SET(cc, easy, CURLOPT_SSL_VERIFYPEER, 1L);
    S_SET(cc, easy, CURLOPT_SSL_VERIFYHOST, 2L);
    S_SET(cc, easy, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    S_SET(cc, easy, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    S_SET(cc, easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    if (e->ca_file) {
        /* Exactly these CAs, like AWS_CA_BUNDLE in the SDKs: drop the default CA directory. */
        S_SET(cc, easy, CURLOPT_CAINFO, e->ca_file);
        S_SET(cc, easy, CURLOPT_CAPATH, (const char *)NULL);
    }
    S_SET(cc, easy, CURLOPT_USERAGENT, e->user_agent);
    S_SET(cc, easy, CURLOPT_WRITEFUNCTION, on_body);
    S_SET(cc, easy, CURLOPT_WRITEDATA, (void *)call);
    S_SET(cc, easy, CURLOPT_HEADERFUNCTION, on_header);
    S_SET(cc, easy, CURLOPT_HEADERDATA, (void *)call);
    S_SET(cc, easy, CURLOPT_HTTPHEADER, call->req_headers);

    if (strcmp(req->method, "GET") == 0 && req->body_len == 0) {
        S_SET(cc, easy, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0 && req->body_len == 0) {
        S_SET(cc, easy, CURLOPT_NOBODY, 1L);
    } else {
        /* POST, PUT, DELETE, ...: the body (possibly empty), from the call's own copy, which is
         * wiped when the call goes (libcurl's COPYPOSTFIELDS copy would be freed as it is). */
        call->req_body = malloc(req->body_len + 1);
        if (!call->req_body)
            return BSUP_ENOMEM;
        if (req->body_len)
            memcpy(call->req_body, req->body, req->body_len);
        call->req_body_len = req->body_len;
        S_SET(cc, easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        S_SET(cc, easy, CURLOPT_POSTFIELDS, call->req_body);
        if (strcmp(req->method, "POST") != 0)
            S_SET(cc, easy, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (cc == CURLE_OUT_OF_MEMORY)
        return BSUP_ENOMEM;
    return cc == CURLE_OK ? 0 : BSUP_EINVAL;
}

int bsup_http_call_create(struct bsup_http_engine *e, const struct bsup_aws_request *req,
                          const struct bsup_http_request_options *opts, char *key, size_t key_size,
                          struct bsup_http_call **out_call)
{
    struct bsup_http_call *call = NULL;
    char *url = NULL;
    int rc, https = 0;

    *out_call = NULL;
    if (!s_is_method(req->method) || (req->body_len && !req->body))
        return BSUP_EINVAL;
    rc = s_build_url(req, &https, &url);
    if (rc < 0)
        goto out;
    rc = s_endpoint_key(req->host, https, key, key_size);
    if (rc < 0)
        goto out;
    call = calloc(1, sizeof(*call));
    if (!call) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    call->engine = e;
    bsup_http_list_init(&call->link);
    call->max_response_bytes = opts && opts->max_response_bytes
                                   ? opts->max_response_bytes
                                   : BSUP_HTTP_DEFAULT_MAX_RESPONSE_BYTES;
    bsup_buf_init(&call->body_buf, call->max_response_bytes, 0);
    call->error_text = "";
    rc = s_build_headers(req, &call->req_headers);
    if (rc < 0)
        goto out;
    call->easy = curl_easy_init();
    if (!call->easy) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    rc = s_setup_easy(call, e, req, opts, url);
    if (rc < 0)
        goto out;
    *out_call = call;
    call = NULL;
out:
    bsup_http_call_destroy(call);
    free(url);
    return rc;
}

void bsup_http_call_destroy(struct bsup_http_call *call)
{
    if (!call)
        return;
    if (call->easy)
        curl_easy_cleanup(call->easy);
    for (struct curl_slist *h = call->req_headers; h; h = h->next)
        bsup_secure_zero(h->data, strlen(h->data));
    curl_slist_free_all(call->req_headers);
    if (call->req_body) {
        bsup_secure_zero(call->req_body, call->req_body_len);
        free(call->req_body);
    }
    s_free_headers(call);
    free(call->headers);
    bsup_buf_cleanup(&call->body_buf);
    free(call->body);
    free(call);
}

void bsup_http_call_set_result(struct bsup_http_call *call, CURLcode result)
{
    long status = 0;
    curl_off_t total_us = 0;
    if (curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        call->status = status;
    if (curl_easy_getinfo(call->easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK)
        call->total_time_ms = (uint64_t)(total_us / 1000);
    call->err = s_map_result(call, result);
    if (call->err == BSUP_ETOOBIG)
        call->error_text = "response exceeds max_response_bytes";
    else if (call->err == 0)
        call->error_text = "";
    else if (result == CURLE_PEER_FAILED_VERIFICATION) {
        /* libcurl's words ("SSL certificate problem: unable to get local issuer certificate")
         * do not say that the server was refused, nor which CAs it was checked against. */
        char text[CURL_ERROR_SIZE];
        snprintf(text, sizeof(text), "TLS certificate verification failed (%s%.80s): %.120s",
                 call->engine->ca_file ? "CA bundle " : "the system CAs",
                 call->engine->ca_file ? call->engine->ca_file : "",
                 call->errbuf[0] ? call->errbuf : curl_easy_strerror(result));
        memcpy(call->errbuf, text, sizeof(text));
        call->error_text = call->errbuf;
    } else if (call->errbuf[0])
        call->error_text = call->errbuf;
    else
        call->error_text = curl_easy_strerror(result);
}

void bsup_http_call_set_error(struct bsup_http_call *call, int err, const char *text)
{
    call->err = err;
    call->error_text = text ? text : bsup_strerror(err);
}

void bsup_http_call_response(struct bsup_http_call *call, struct bsup_http_response *out)
{
    memset(out, 0, sizeof(*out));
    if (!call->body) {
        /* An empty body is still a NUL-terminated buffer; NULL only when memory ran out. */
        char *body = NULL;
        bsup_buf_take(&call->body_buf, &body, &call->body_len);
        call->body = (unsigned char *)body;
    }
    out->err = call->err;
    out->status = call->status;
    out->headers = call->headers;
    out->n_headers = call->n_headers;
    out->body = call->body;
    out->body_len = call->body_len;
    out->total_time_ms = call->total_time_ms;
    out->queued_time_ms = call->queued_time_ms;
    out->error_text = call->error_text;
}
