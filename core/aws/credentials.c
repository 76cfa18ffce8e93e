#include "core/aws/credentials.h"

#include "core/base/error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest credentials document we accept. */
#define S_MAX_JSON_BYTES (64 * 1024)

static void s_wipe_free(char *s)
{
    if (s) {
        bsup_secure_zero(s, strlen(s));
        free(s);
    }
}

void bsup_aws_credentials_cleanup(struct bsup_aws_credentials *creds)
{
    if (!creds)
        return;
    s_wipe_free(creds->access_key_id);
    s_wipe_free(creds->secret_access_key);
    s_wipe_free(creds->session_token);
    memset(creds, 0, sizeof(*creds));
}

int bsup_aws_credentials_copy(struct bsup_aws_credentials *out,
                              const struct bsup_aws_credentials *src)
{
    memset(out, 0, sizeof(*out));
    out->access_key_id = strdup(src->access_key_id ? src->access_key_id : "");
    out->secret_access_key = strdup(src->secret_access_key ? src->secret_access_key : "");
    if (src->session_token)
        out->session_token = strdup(src->session_token);
    if (!out->access_key_id || !out->secret_access_key ||
        (src->session_token && !out->session_token)) {
        bsup_aws_credentials_cleanup(out);
        return BSUP_ENOMEM;
    }
    out->expiration_s = src->expiration_s;
    memcpy(out->source, src->source, sizeof(out->source));
    memcpy(out->account_id, src->account_id, sizeof(out->account_id));
    memcpy(out->description, src->description, sizeof(out->description));
    return 0;
}

int64_t bsup_aws_credentials_refresh_at(const struct bsup_aws_credentials *creds, int64_t now_s,
                                        uint32_t jitter_s)
{
    if (!creds || creds->expiration_s == 0)
        return 0;
    int64_t at = creds->expiration_s - BSUP_AWS_CREDENTIALS_REFRESH_BEFORE_S - (int64_t)jitter_s;
    if (at < now_s + BSUP_AWS_CREDENTIALS_MIN_REFRESH_S)
        at = now_s + BSUP_AWS_CREDENTIALS_MIN_REFRESH_S;
    return at;
}

int bsup_aws_credentials_valid_at(const struct bsup_aws_credentials *creds, int64_t now_s)
{
    return creds && creds->access_key_id &&
           (creds->expiration_s == 0 || now_s < creds->expiration_s);
}

static int s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return BSUP_EPARSE;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int bsup_aws_time_parse_iso8601(const char *s, int64_t *out_s)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (!s || s_digits(&p, 4, &y) || *p++ != '-' || s_digits(&p, 2, &mo) || *p++ != '-' ||
        s_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return BSUP_EPARSE;
    p++;
    if (s_digits(&p, 2, &h) || *p++ != ':' || s_digits(&p, 2, &mi) || *p++ != ':' ||
        s_digits(&p, 2, &sec))
        return BSUP_EPARSE;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return BSUP_EPARSE;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (s_digits(&p, 2, &oh))
            return BSUP_EPARSE;
        if (*p == ':')
            p++;
        if (s_digits(&p, 2, &om))
            return BSUP_EPARSE;
    } else {
        return BSUP_EPARSE;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 23 ||
        om > 59)
        return BSUP_EPARSE;
    int64_t t = s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= (int64_t)sign * (oh * 3600 + om * 60);
    *out_s = t;
    return 0;
}

static int s_dup_member(json_t *obj, const char *key, int required, char **out,
                        struct bsup_diag *diag, const char *source)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return bsup_diag_set(diag, BSUP_EPARSE, "%s credentials: %s missing", source, key);
        return 0;
    }
    if (!json_is_string(v) || (required && json_string_length(v) == 0))
        return bsup_diag_set(diag, BSUP_EPARSE, "%s credentials: %s is not a non-empty string",
                             source, key);
    *out = strndup(json_string_value(v), json_string_length(v));
    return *out ? 0 : bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
}

/* The credential document: token_key names the session token member; version_1 requires
 * "Version": 1 (credential_process) where the endpoints' documents have Code instead. */
static int s_from_json(const char *body, size_t len, const char *source, const char *token_key,
                       int version_1, struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    memset(out, 0, sizeof(*out));
    json_t *root = NULL;
    int rc = 0;
    if (len > S_MAX_JSON_BYTES) {
        rc = bsup_diag_set(diag, BSUP_ETOOBIG, "%s credentials: document larger than %d bytes",
                           source, S_MAX_JSON_BYTES);
        goto out;
    }
    json_error_t jerr;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    /* jerr.text may quote the document, which holds secrets: report the position only. */
    if (!root || !json_is_object(root)) {
        rc = bsup_diag_set(diag, BSUP_EPARSE, "%s credentials: not a JSON object (line %d)", source,
                           root ? 1 : jerr.line);
        goto out;
    }
    json_t *version = json_object_get(root, "Version");
    if (version_1 && (!json_is_integer(version) || json_integer_value(version) != 1)) {
        rc = bsup_diag_set(diag, BSUP_EPARSE, "%s credentials: Version is not 1", source);
        goto out;
    }
    json_t *code = version_1 ? NULL : json_object_get(root, "Code");
    if (code && (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0)) {
        rc = bsup_diag_set(diag, BSUP_EAWS, "%s credentials: Code is %.64s, not Success", source,
                           json_is_string(code) ? json_string_value(code) : "(not a string)");
        goto out;
    }
    if ((rc = s_dup_member(root, "AccessKeyId", 1, &out->access_key_id, diag, source)) < 0 ||
        (rc = s_dup_member(root, "SecretAccessKey", 1, &out->secret_access_key, diag, source)) <
            0 ||
        (rc = s_dup_member(root, token_key, 0, &out->session_token, diag, source)) < 0)
        goto out;
    json_t *exp = json_object_get(root, "Expiration");
    if (exp && !json_is_null(exp)) {
        if (!json_is_string(exp) ||
            bsup_aws_time_parse_iso8601(json_string_value(exp), &out->expiration_s) < 0) {
            rc = bsup_diag_set(diag, BSUP_EPARSE,
                               "%s credentials: Expiration is not an ISO 8601 time", source);
            goto out;
        }
    }
    json_t *acct = json_object_get(root, "AccountId");
    if (json_is_string(acct) && json_string_length(acct) < sizeof(out->account_id))
        snprintf(out->account_id, sizeof(out->account_id), "%s", json_string_value(acct));
    snprintf(out->source, sizeof(out->source), "%s", source);
out:
    if (rc < 0)
        bsup_aws_credentials_cleanup(out);
    json_decref(root);
    return rc;
}

int bsup_aws_credentials_from_json(const char *body, size_t len, const char *source,
                                   struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    return s_from_json(body, len, source, "Token", 0, out, diag);
}

int bsup_aws_credentials_from_process_json(const char *body, size_t len,
                                           struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    return s_from_json(body, len, "process", "SessionToken", 1, out, diag);
}
