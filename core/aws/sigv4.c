#include "core/aws/sigv4.h"

#include "core/base/buf.h"
#include "core/base/error.h"
#include "core/base/percent.h"
#include "core/base/sha256.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* No canonical request of ours comes near this; a hard cap keeps hostile input bounded. */
#define S_MAX_CANON_BYTES (256u * 1024u)

/* Headers never signed: the HTTP engine or a proxy may add, drop or rewrite them. */
static const char *const s_unsigned_headers[] = {
    "authorization", "user-agent", "expect", "x-amzn-trace-id", "connection", "transfer-encoding",
};

static int s_hmac(const void *key, size_t key_len, const void *data, size_t data_len,
                  unsigned char out[32])
{
    size_t out_len = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, data, data_len, out, 32,
                   &out_len) ||
        out_len != 32)
        return BSUP_ECRYPTO;
    return 0;
}

/* ---- canonical URI ---- */

/* Non-S3 rule: drop empty and "." segments, resolve "..", keep a trailing slash, then encode
 * the result once more (the path is already encoded as sent, so escapes are double-encoded). */
static void s_canonical_uri(struct bsup_buf *b, const char *path, unsigned flags)
{
    if (!path || !*path)
        path = "/";
    if (flags & BSUP_SIGV4_NO_NORMALIZE_PATH) {
        bsup_buf_puts(b, path);
        return;
    }
    size_t n = strlen(path);
    /* A stack of (start, len) per kept segment; ".." pops. */
    size_t *seg = calloc(n + 1, 2 * sizeof(*seg));
    if (!seg) {
        bsup_buf_fail(b, BSUP_ENOMEM);
        return;
    }
    size_t nseg = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && path[i] == '/')
            i++;
        size_t start = i;
        while (i < n && path[i] != '/')
            i++;
        size_t len = i - start;
        if (len == 0 || (len == 1 && path[start] == '.'))
            continue;
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            if (nseg)
                nseg--;
            continue;
        }
        seg[2 * nseg] = start;
        seg[2 * nseg + 1] = len;
        nseg++;
    }
    bsup_buf_putc(b, '/');
    for (size_t k = 0; k < nseg; k++) {
        if (k)
            bsup_buf_putc(b, '/');
        bsup_percent_encode(b, path + seg[2 * k], seg[2 * k + 1], 0);
    }
    if (nseg && path[n - 1] == '/')
        bsup_buf_putc(b, '/');
    free(seg);
}

/* ---- canonical query ---- */

struct s_param {
    char *key; /* encoded */
    char *value;
};

static int s_param_cmp(const void *a, const void *b)
{
    const struct s_param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *s_reencode(const char *p, size_t n, int *err)
{
    struct bsup_buf b = BSUP_BUF_INIT(S_MAX_CANON_BYTES, 0);
    char *tmp = malloc(n + 1), *out = NULL;
    if (!tmp) {
        *err = BSUP_ENOMEM;
        return NULL;
    }
    size_t dn = bsup_percent_decode(p, n, tmp);
    bsup_percent_encode(&b, tmp, dn, 0);
    free(tmp);
    *err = bsup_buf_take(&b, &out, NULL);
    return out;
}

/* Each key and value is decoded and re-encoded (so raw and encoded input agree), then the
 * pairs are sorted by key, then value, byte-wise. */
static void s_canonical_query(struct bsup_buf *b, const char *query)
{
    if (!query || !*query)
        return;
    size_t cap = 1;
    for (const char *q = query; *q; q++)
        cap += *q == '&';
    struct s_param *params = calloc(cap, sizeof(*params));
    size_t np = 0;
    int err = 0;
    if (!params) {
        err = BSUP_ENOMEM;
        goto out;
    }
    for (const char *p = query; *p && !err;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            params[np].key = s_reencode(p, klen, &err);
            if (!err)
                params[np].value = s_reencode(eq ? eq + 1 : "", eq ? len - klen - 1 : 0, &err);
            np++;
        }
        p += len + (end ? 1 : 0);
    }
    if (err)
        goto out;
    qsort(params, np, sizeof(*params), s_param_cmp);
    for (size_t i = 0; i < np; i++) {
        if (i)
            bsup_buf_putc(b, '&');
        bsup_buf_puts(b, params[i].key);
        bsup_buf_putc(b, '=');
        bsup_buf_puts(b, params[i].value);
    }
out:
    for (size_t i = 0; params && i < np; i++) {
        free(params[i].key);
        free(params[i].value);
    }
    free(params);
    if (err)
        bsup_buf_fail(b, err);
}

/* ---- canonical headers ---- */

struct s_hdr {
    char *name;        /* lower-case */
    const char *value; /* raw, from the request */
    size_t index;      /* original position: duplicates keep their order */
};

static int s_hdr_cmp(const void *a, const void *b)
{
    const struct s_hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool s_is_unsigned_header(const char *lower_name)
{
    for (size_t i = 0; i < sizeof(s_unsigned_headers) / sizeof(s_unsigned_headers[0]); i++)
        if (strcmp(lower_name, s_unsigned_headers[i]) == 0)
            return true;
    return false;
}

static bool s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed value with inner whitespace runs (folded lines included) collapsed to one space. */
static void s_trimmed_value(struct bsup_buf *b, const char *v)
{
    bool pending_space = false, any = false;
    for (; *v; v++) {
        if (s_is_space(*v)) {
            pending_space = any;
            continue;
        }
        if (pending_space)
            bsup_buf_putc(b, ' ');
        pending_space = false;
        any = true;
        bsup_buf_putc(b, *v);
    }
}

/* Appends "name:v1,v2\n" lines to creq and "a;b" to signed. */
static void s_canonical_headers(struct bsup_buf *creq, struct bsup_buf *signed_hdrs,
                                const struct bsup_aws_request *req)
{
    struct s_hdr *h = calloc(req->n_headers + 1, sizeof(*h));
    size_t nh = 0;
    int err = 0;
    bool have_host = false;
    if (!h) {
        err = BSUP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        char *lower = strdup(req->headers[i].name);
        if (!lower) {
            err = BSUP_ENOMEM;
            goto out;
        }
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (s_is_unsigned_header(lower)) {
            free(lower);
            continue;
        }
        have_host |= strcmp(lower, "host") == 0;
        h[nh++] = (struct s_hdr){lower, req->headers[i].value ? req->headers[i].value : "", i};
    }
    if (!have_host) {
        /* The HTTP engine sends Host from req->host; sign that value. */
        char *lower = strdup("host");
        if (!lower) {
            err = BSUP_ENOMEM;
            goto out;
        }
        h[nh++] = (struct s_hdr){lower, req->host ? req->host : "", req->n_headers};
    }
    qsort(h, nh, sizeof(*h), s_hdr_cmp);
    for (size_t i = 0; i < nh; i++) {
        bool same_as_prev = i && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same_as_prev) {
            bsup_buf_putc(creq, ',');
        } else {
            if (i) {
                bsup_buf_putc(creq, '\n');
                bsup_buf_putc(signed_hdrs, ';');
            }
            bsup_buf_puts(creq, h[i].name);
            bsup_buf_putc(creq, ':');
            bsup_buf_puts(signed_hdrs, h[i].name);
        }
        s_trimmed_value(creq, h[i].value);
    }
    bsup_buf_putc(creq, '\n');
out:
    for (size_t i = 0; h && i < nh; i++)
        free(h[i].name);
    free(h);
    if (err)
        bsup_buf_fail(creq, err);
}

int bsup_sigv4_canonical_request(const struct bsup_aws_request *req, unsigned flags,
                                 char **out_creq, char **out_signed_headers)
{
    struct bsup_buf creq = BSUP_BUF_INIT(S_MAX_CANON_BYTES, 0);
    struct bsup_buf sh = BSUP_BUF_INIT(S_MAX_CANON_BYTES, 0);
    char payload_hex[BSUP_SIGV4_HEX_LEN + 1];
    char *signed_str = NULL;
    int rc;

    *out_creq = NULL;
    if (out_signed_headers)
        *out_signed_headers = NULL;
    if (!req || !req->method[0])
        return BSUP_EINVAL;

    const char *payload = bsup_aws_request_header(req, "x-amz-content-sha256");
    if (!payload) {
        rc = bsup_sha256_hex(req->body, req->body_len, payload_hex);
        if (rc)
            goto out;
        payload = payload_hex;
    }

    bsup_buf_puts(&creq, req->method);
    bsup_buf_putc(&creq, '\n');
    s_canonical_uri(&creq, req->path, flags);
    bsup_buf_putc(&creq, '\n');
    s_canonical_query(&creq, req->query);
    bsup_buf_putc(&creq, '\n');
    s_canonical_headers(&creq, &sh, req);
    bsup_buf_putc(&creq, '\n');
    bsup_buf_puts(&creq, bsup_buf_str(&sh));
    bsup_buf_putc(&creq, '\n');
    bsup_buf_puts(&creq, payload);

    if ((rc = bsup_buf_take(&sh, &signed_str, NULL)) || (rc = bsup_buf_take(&creq, out_creq, NULL)))
        goto out;
    if (out_signed_headers) {
        *out_signed_headers = signed_str;
        signed_str = NULL;
    }
out:
    bsup_buf_cleanup(&creq);
    bsup_buf_cleanup(&sh);
    free(signed_str);
    return rc;
}

static bool s_valid_scope_part(const char *s)
{
    if (!s || !*s || strlen(s) >= 64)
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == ' ' || *s == '\n')
            return false;
    return true;
}

int bsup_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
                              const char *creq, char **out_sts)
{
    char hash[BSUP_SIGV4_HEX_LEN + 1];
    int rc;
    *out_sts = NULL;
    if (!amz_date || strlen(amz_date) != BSUP_SIGV4_AMZ_DATE_LEN || !s_valid_scope_part(region) ||
        !s_valid_scope_part(service) || !creq)
        return BSUP_EINVAL;
    rc = bsup_sha256_hex(creq, strlen(creq), hash);
    if (rc)
        return rc;
    struct bsup_buf b = BSUP_BUF_INIT(S_MAX_CANON_BYTES, 0);
    bsup_buf_puts(&b, "AWS4-HMAC-SHA256\n");
    bsup_buf_puts(&b, amz_date);
    bsup_buf_putc(&b, '\n');
    bsup_buf_append(&b, amz_date, 8);
    bsup_buf_putc(&b, '/');
    bsup_buf_puts(&b, region);
    bsup_buf_putc(&b, '/');
    bsup_buf_puts(&b, service);
    bsup_buf_puts(&b, "/aws4_request\n");
    bsup_buf_puts(&b, hash);
    return bsup_buf_take(&b, out_sts, NULL);
}

/* ---- signing key and cache ---- */

void bsup_sigv4_cache_init(struct bsup_sigv4_cache *cache)
{
    memset(cache, 0, sizeof(*cache));
}

void bsup_sigv4_cache_cleanup(struct bsup_sigv4_cache *cache)
{
    if (cache)
        bsup_secure_zero(cache, sizeof(*cache));
}

static int s_identity(const struct bsup_aws_credentials *creds, unsigned char out[32])
{
    static const char tag[] = "bsup-sigv4";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    int rc = BSUP_ECRYPTO;
    if (!ctx)
        return BSUP_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, tag, sizeof(tag)) &&
        EVP_DigestUpdate(ctx, creds->access_key_id, strlen(creds->access_key_id) + 1) &&
        EVP_DigestUpdate(ctx, creds->secret_access_key, strlen(creds->secret_access_key)) &&
        EVP_DigestFinal_ex(ctx, out, &len) && len == 32)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request") */
static int s_derive_key(const char *secret, const char *date8, const char *region,
                        const char *service, unsigned char out[32])
{
    size_t slen = strlen(secret);
    unsigned char k1[32], k2[32], k3[32];
    char *ksecret = malloc(slen + 5);
    int rc = BSUP_ENOMEM;
    if (!ksecret)
        goto out;
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret, slen + 1);
    if ((rc = s_hmac(ksecret, slen + 4, date8, 8, k1)) ||
        (rc = s_hmac(k1, 32, region, strlen(region), k2)) ||
        (rc = s_hmac(k2, 32, service, strlen(service), k3)) ||
        (rc = s_hmac(k3, 32, "aws4_request", 12, out)))
        goto out;
out:
    if (ksecret) {
        bsup_secure_zero(ksecret, slen + 4);
        free(ksecret);
    }
    bsup_secure_zero(k1, sizeof(k1));
    bsup_secure_zero(k2, sizeof(k2));
    bsup_secure_zero(k3, sizeof(k3));
    return rc;
}

int bsup_sigv4_signature(const struct bsup_aws_credentials *creds, const char *amz_date,
                         const char *region, const char *service, const char *sts,
                         struct bsup_sigv4_cache *cache, char out_hex[BSUP_SIGV4_HEX_LEN + 1])
{
    unsigned char key[32], identity[32], sig[32];
    int rc;
    out_hex[0] = '\0';
    if (!creds || !creds->access_key_id || !creds->secret_access_key || !amz_date ||
        strlen(amz_date) != BSUP_SIGV4_AMZ_DATE_LEN || !s_valid_scope_part(region) ||
        !s_valid_scope_part(service) || !sts)
        return BSUP_EINVAL;

    if (cache) {
        rc = s_identity(creds, identity);
        if (rc)
            goto out;
        if (cache->valid && memcmp(cache->date, amz_date, 8) == 0 &&
            strcmp(cache->region, region) == 0 && strcmp(cache->service, service) == 0 &&
            CRYPTO_memcmp(cache->identity, identity, 32) == 0) {
            memcpy(key, cache->signing_key, 32);
            cache->hits++;
            goto have_key;
        }
    }
    rc = s_derive_key(creds->secret_access_key, amz_date, region, service, key);
    if (rc)
        goto out;
    if (cache) {
        cache->valid = 1;
        memcpy(cache->date, amz_date, 8);
        cache->date[8] = '\0';
        snprintf(cache->region, sizeof(cache->region), "%s", region);
        snprintf(cache->service, sizeof(cache->service), "%s", service);
        memcpy(cache->identity, identity, 32);
        memcpy(cache->signing_key, key, 32);
        cache->misses++;
    }
have_key:
    rc = s_hmac(key, 32, sts, strlen(sts), sig);
    if (rc)
        goto out;
    bsup_hex(sig, 32, out_hex);
out:
    bsup_secure_zero(key, sizeof(key));
    bsup_secure_zero(identity, sizeof(identity));
    bsup_secure_zero(sig, sizeof(sig));
    return rc;
}

int bsup_sigv4_amz_date(int64_t now_s, char out[BSUP_SIGV4_AMZ_DATE_LEN + 1])
{
    struct tm tm;
    time_t t = (time_t)now_s;
    out[0] = '\0';
    if (now_s < 0 || (int64_t)t != now_s || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
        return BSUP_EINVAL;
    if (strftime(out, BSUP_SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) !=
        BSUP_SIGV4_AMZ_DATE_LEN)
        return BSUP_EINVAL;
    return 0;
}

/* ---- signing a request in place ---- */

int bsup_sigv4_sign_ex(struct bsup_aws_request *req, const struct bsup_aws_credentials *creds,
                       const char *region, const char *service, int64_t now_s, unsigned flags,
                       struct bsup_sigv4_cache *cache)
{
    char amz_date[BSUP_SIGV4_AMZ_DATE_LEN + 1];
    char sig[BSUP_SIGV4_HEX_LEN + 1] = "";
    char *creq = NULL, *signed_headers = NULL, *sts = NULL, *authz = NULL;
    bool token = creds && creds->session_token && *creds->session_token;
    int rc;

    if (!req || !creds || !creds->access_key_id || !*creds->access_key_id ||
        !creds->secret_access_key || !s_valid_scope_part(region) || !s_valid_scope_part(service))
        return BSUP_EINVAL;
    if ((rc = bsup_sigv4_amz_date(now_s, amz_date)))
        return rc;

    bsup_aws_request_remove_header(req, "Authorization");
    if ((rc = bsup_aws_request_set_header(req, "X-Amz-Date", amz_date)))
        goto out;
    if (token && !(flags & BSUP_SIGV4_TOKEN_UNSIGNED)) {
        if ((rc = bsup_aws_request_set_header(req, "X-Amz-Security-Token", creds->session_token)))
            goto out;
    } else {
        bsup_aws_request_remove_header(req, "X-Amz-Security-Token");
    }
    if ((rc = bsup_sigv4_canonical_request(req, flags, &creq, &signed_headers)) ||
        (rc = bsup_sigv4_string_to_sign(amz_date, region, service, creq, &sts)) ||
        (rc = bsup_sigv4_signature(creds, amz_date, region, service, sts, cache, sig)))
        goto out;
    if (token && (flags & BSUP_SIGV4_TOKEN_UNSIGNED)) {
        if ((rc = bsup_aws_request_set_header(req, "X-Amz-Security-Token", creds->session_token)))
            goto out;
    }

    struct bsup_buf b = BSUP_BUF_INIT(S_MAX_CANON_BYTES, BSUP_BUF_WIPE);
    bsup_buf_puts(&b, "AWS4-HMAC-SHA256 Credential=");
    bsup_buf_puts(&b, creds->access_key_id);
    bsup_buf_putc(&b, '/');
    bsup_buf_append(&b, amz_date, 8);
    bsup_buf_putc(&b, '/');
    bsup_buf_puts(&b, region);
    bsup_buf_putc(&b, '/');
    bsup_buf_puts(&b, service);
    bsup_buf_puts(&b, "/aws4_request, SignedHeaders=");
    bsup_buf_puts(&b, signed_headers);
    bsup_buf_puts(&b, ", Signature=");
    bsup_buf_puts(&b, sig);
    if ((rc = bsup_buf_take(&b, &authz, NULL)))
        goto out;
    rc = bsup_aws_request_add_header(req, "Authorization", authz);
out:
    bsup_secure_zero(sig, sizeof(sig));
    free(creq);
    free(signed_headers);
    free(sts);
    if (authz) {
        bsup_secure_zero(authz, strlen(authz));
        free(authz);
    }
    return rc;
}

int bsup_sigv4_sign(struct bsup_aws_request *req, const struct bsup_aws_credentials *creds,
                    const char *region, const char *service, int64_t now_s,
                    struct bsup_sigv4_cache *cache)
{
    return bsup_sigv4_sign_ex(req, creds, region, service, now_s, 0, cache);
}
