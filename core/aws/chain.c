#include "core/aws/chain.h"

#include "core/aws/endpoints.h"
#include "core/aws/query.h"
#include "core/aws/response.h"
#include "core/aws/results.h"
#include "core/aws/sigv4.h"
#include "core/base/url.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_MAX_BODY_BYTES (64 * 1024)
#define S_MAX_TOKEN_FILE_BYTES (16 * 1024)
/* STS takes a WebIdentityToken of up to 20000 characters. */
#define S_MAX_WEB_IDENTITY_TOKEN_BYTES 20000
#define S_CONTAINER_TIMEOUT_MS 5000
#define S_IMDS_TIMEOUT_MS 1000
#define S_STS_TIMEOUT_MS 10000
#define S_RETRY_BASE_DELAY_MS 100

/* Providers in SDK order. */
enum s_stage { S_ENV, S_PROFILE, S_WEB_IDENTITY, S_CONTAINER, S_IMDS, S_EXHAUSTED, S_FINISHED };
enum s_imds_phase { S_IMDS_TOKEN, S_IMDS_ROLE, S_IMDS_CREDS };
/* What a provider function decided (negative: a BSUP_E* failure that ends the chain). */
enum s_outcome { S_NEXT = 0, S_FOUND = 1, S_STEP = 2 };
/* Where the credentials that assume a role come from. */
enum s_base {
    S_BASE_STATIC,
    S_BASE_ENV,
    S_BASE_WEB_IDENTITY,
    S_BASE_CONTAINER,
    S_BASE_IMDS,
    S_BASE_PROCESS
};
/* Roles chained through source_profile, at most. */
#define S_MAX_ROLES 8

struct bsup_aws_chain {
    bsup_aws_getenv_fn *getenv_fn;
    void *getenv_ctx;
    bsup_aws_read_file_fn *read_file_fn;
    void *read_file_ctx;
    char *imds_endpoint_override;
    char *imds_mode_override;
    char *region;
    char *sts_endpoint_url;
    int64_t (*now_fn)(void *ctx);
    void *now_ctx;

    enum s_stage stage;
    int step_out; /* a step was handed out and its response is due */
    int attempt;  /* of the current request, from 1 */
    enum s_imds_phase imds_phase;

    struct bsup_aws_profile_files files;
    struct bsup_aws_profile_set profiles;
    const struct bsup_aws_profile *profile; /* the selected one, or NULL */

    char *container_url;
    char *container_auth; /* secret */
    char *imds_base;
    char *imds_token; /* secret */
    char *imds_role;

    /* STS: the request in flight (its parameters may hold the web identity token). */
    int sts_active;
    const char *sts_action;            /* "AssumeRoleWithWebIdentity" */
    struct bsup_aws_params sts_params; /* wiped on free */
    char sts_what[300];                /* "web identity arn:... (profile A)", for messages */

    /* credential_process: the one that runs (never its output or arguments in a message). */
    int proc_active;
    char proc_what[200]; /* "credential_process PROGRAM (profile 'A')" */

    /* Assume role: the profiles whose role_arn to assume (roles[0] the selected one, assumed
     * last), the base credentials and how far it got. */
    const struct bsup_aws_profile *roles[S_MAX_ROLES];
    size_t n_roles;
    size_t role_next; /* roles[role_next - 1] is assumed next */
    int role_phase;   /* 0: getting the base credentials, 1: assuming */
    enum s_base base;
    const struct bsup_aws_profile *base_profile;
    char base_what[320];             /* "profile ops", "environment", "web identity arn:..." */
    struct bsup_aws_credentials src; /* the credentials that sign the next AssumeRole */

    struct bsup_aws_chain_step step;
    char tried[900]; /* "environment (...); profile ... (...)" */
};

static void s_wipe_free(char *s)
{
    if (s) {
        bsup_secure_zero(s, strlen(s));
        free(s);
    }
}

static const char *s_env(const struct bsup_aws_chain *chain, const char *name)
{
    const char *v = chain->getenv_fn(chain->getenv_ctx, name);
    if (!v)
        return NULL;
    for (const char *p = v; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return v;
    return NULL; /* empty or blank counts as unset */
}

static const char *s_fn_env(bsup_aws_getenv_fn *fn, void *ctx, const char *name)
{
    const char *v = fn ? fn(ctx, name) : NULL;
    return v && *v ? v : NULL;
}

__attribute__((format(printf, 2, 3))) static void s_tried(struct bsup_aws_chain *chain,
                                                          const char *fmt, ...)
{
    size_t used = strlen(chain->tried);
    if (used && used + 2 < sizeof(chain->tried)) {
        memcpy(chain->tried + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(chain->tried + used, sizeof(chain->tried) - used, fmt, ap);
    va_end(ap);
}

/* http is allowed only to loopback and the ECS / EKS credential addresses. */
static int s_container_host_allowed(const struct bsup_url *u)
{
    char host[64];
    size_t n = u->host.len;
    if (n >= sizeof(host))
        return 0;
    memcpy(host, u->host.p, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    unsigned char a4[4], a6[16], want6[16];
    if (inet_pton(AF_INET, host, a4) == 1)
        return a4[0] == 127 || strcmp(host, "169.254.170.2") == 0 ||
               strcmp(host, "169.254.170.23") == 0;
    if (u->ipv6 && inet_pton(AF_INET6, host, a6) == 1) {
        static const char *const allowed6[] = {"::1", "fd00:ec2::23"};
        for (size_t i = 0; i < sizeof(allowed6) / sizeof(allowed6[0]); i++)
            if (inet_pton(AF_INET6, allowed6[i], want6) == 1 && memcmp(a6, want6, 16) == 0)
                return 1;
    }
    return 0;
}

int bsup_aws_chain_container_url(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx, char **out_url,
                                 struct bsup_diag *diag)
{
    *out_url = NULL;
    const char *rel = s_fn_env(getenv_fn, getenv_ctx, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = s_fn_env(getenv_fn, getenv_ctx, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel) {
        if (!bsup_url_chars_ok(rel))
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: invalid uri character");
        size_t n = strlen("http://" BSUP_AWS_CHAIN_ECS_HOST) + (rel[0] != '/') + strlen(rel) + 1;
        char *url = malloc(n);
        if (!url)
            return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
        snprintf(url, n, "http://" BSUP_AWS_CHAIN_ECS_HOST "%s%s", rel[0] != '/' ? "/" : "", rel);
        *out_url = url;
        return 0;
    }
    if (!full)
        return bsup_diag_set(diag, BSUP_ENOTFOUND,
                             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI unset");
    if (!bsup_url_chars_ok(full))
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI: invalid uri character");
    struct bsup_url u;
    const char *why = NULL;
    if (bsup_url_parse(full, &u, &why) < 0)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI '%.200s': URI %s", full, why);
    if (!bsup_url_scheme_is(&u, "https") &&
        !(bsup_url_scheme_is(&u, "http") && s_container_host_allowed(&u)))
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI '%.200s': URI did not refer to an "
                             "allowed host (use https, or http to a loopback, ECS or EKS address)",
                             full);
    *out_url = strdup(full);
    return *out_url ? 0 : bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
}

static int s_endpoint_from(const char *what, const char *value, char **out, struct bsup_diag *diag)
{
    struct bsup_url u;
    const char *why = NULL;
    if (!bsup_url_chars_ok(value))
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s '%.200s': invalid uri character", what, value);
    if (bsup_url_parse(value, &u, &why) < 0)
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s '%.200s': URI %s", what, value, why);
    if (!bsup_url_scheme_is(&u, "http") && !bsup_url_scheme_is(&u, "https"))
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s '%.200s': scheme must be http or https", what,
                             value);
    size_t n = strlen(value);
    while (n > 0 && value[n - 1] == '/')
        n--;
    *out = strndup(value, n);
    return *out ? 0 : bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
}

int bsup_aws_chain_imds_endpoint(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                                 const struct bsup_aws_profile *profile,
                                 const char *endpoint_override, const char *mode_override,
                                 char **out_endpoint, struct bsup_diag *diag)
{
    *out_endpoint = NULL;
    const char *env_ep = s_fn_env(getenv_fn, getenv_ctx, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *prof_ep = bsup_aws_profile_get(profile, "ec2_metadata_service_endpoint");
    if (endpoint_override && *endpoint_override)
        return s_endpoint_from("IMDS endpoint override", endpoint_override, out_endpoint, diag);
    if (env_ep)
        return s_endpoint_from("AWS_EC2_METADATA_SERVICE_ENDPOINT", env_ep, out_endpoint, diag);
    if (prof_ep && *prof_ep)
        return s_endpoint_from("ec2_metadata_service_endpoint", prof_ep, out_endpoint, diag);

    const char *what = "IMDS endpoint mode override", *mode = mode_override;
    if (!mode || !*mode) {
        what = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
        mode = s_fn_env(getenv_fn, getenv_ctx, what);
    }
    if (!mode) {
        what = "ec2_metadata_service_endpoint_mode";
        mode = bsup_aws_profile_get(profile, what);
    }
    const char *base = BSUP_AWS_CHAIN_IMDS_IPV4;
    if (mode && *mode) {
        if (strcasecmp(mode, "IPv6") == 0)
            base = BSUP_AWS_CHAIN_IMDS_IPV6;
        else if (strcasecmp(mode, "IPv4") != 0)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "%s: `%.64s` is not a valid endpoint mode (IPv4 or IPv6)", what,
                                 mode);
    }
    *out_endpoint = strdup(base);
    return *out_endpoint ? 0 : bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
}

int bsup_aws_chain_new(const struct bsup_aws_chain_options *opts, struct bsup_aws_chain **out)
{
    *out = NULL;
    if (!opts || !opts->getenv_fn)
        return BSUP_EINVAL;
    struct bsup_aws_chain *chain = calloc(1, sizeof(*chain));
    if (!chain)
        return BSUP_ENOMEM;
    chain->getenv_fn = opts->getenv_fn;
    chain->getenv_ctx = opts->getenv_ctx;
    chain->read_file_fn = opts->read_file_fn ? opts->read_file_fn : bsup_aws_profile_read_file;
    chain->read_file_ctx = opts->read_file_ctx;
    chain->now_fn = opts->now_fn;
    chain->now_ctx = opts->now_ctx;
    bsup_aws_profile_set_init(&chain->profiles);
    if ((opts->imds_endpoint_override &&
         !(chain->imds_endpoint_override = strdup(opts->imds_endpoint_override))) ||
        (opts->imds_mode_override &&
         !(chain->imds_mode_override = strdup(opts->imds_mode_override))) ||
        (opts->region && !(chain->region = strdup(opts->region))) ||
        (opts->sts_endpoint_url && !(chain->sts_endpoint_url = strdup(opts->sts_endpoint_url)))) {
        bsup_aws_chain_free(chain);
        return BSUP_ENOMEM;
    }
    *out = chain;
    return 0;
}

static void s_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        s_wipe_free(argv[i]); /* a command line may carry a secret */
    free(argv);
}

static void s_step_cleanup(struct bsup_aws_chain_step *step)
{
    bsup_aws_request_cleanup(&step->request);
    free(step->url);
    s_argv_free(step->argv);
    memset(step, 0, sizeof(*step));
}

void bsup_aws_chain_free(struct bsup_aws_chain *chain)
{
    if (!chain)
        return;
    s_step_cleanup(&chain->step);
    bsup_aws_profile_set_cleanup(&chain->profiles);
    bsup_aws_profile_files_cleanup(&chain->files);
    free(chain->imds_endpoint_override);
    free(chain->imds_mode_override);
    free(chain->region);
    free(chain->sts_endpoint_url);
    bsup_aws_params_cleanup(&chain->sts_params);
    bsup_aws_credentials_cleanup(&chain->src);
    free(chain->container_url);
    s_wipe_free(chain->container_auth);
    free(chain->imds_base);
    s_wipe_free(chain->imds_token);
    free(chain->imds_role);
    free(chain);
}

/* Prepares chain->step for method url (url already validated). */
static int s_step_new(struct bsup_aws_chain *chain, const char *method, const char *base,
                      const char *suffix, const char *provider, uint32_t timeout_ms,
                      struct bsup_diag *diag)
{
    struct bsup_aws_chain_step *step = &chain->step;
    s_step_cleanup(step);
    size_t n = strlen(base) + strlen(suffix) + 1;
    int rc = 0;
    char *scheme = NULL, *host = NULL, *path = NULL, *query = NULL;
    step->url = malloc(n);
    if (!step->url) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    snprintf(step->url, n, "%s%s", base, suffix);
    struct bsup_url u;
    const char *why = NULL;
    if (bsup_url_parse(step->url, &u, &why) < 0) {
        rc = bsup_diag_set(diag, BSUP_ECONFIG, "%s URL '%.200s': URI %s", provider, step->url, why);
        goto out;
    }
    scheme = strndup(u.scheme.p, u.scheme.len);
    host = strndup(u.authority.p, u.authority.len);
    path = strndup(u.path.p, u.path.len);
    if (u.query.p)
        query = strndup(u.query.p, u.query.len);
    if (!scheme || !host || !path || (u.query.p && !query)) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    for (char *c = scheme; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if ((rc = bsup_aws_request_init(&step->request, method, scheme, host, path)) < 0 ||
        (query && (rc = bsup_aws_request_set_query(&step->request, query)) < 0))
        goto out;
    step->timeout_ms = timeout_ms;
    step->delay_ms =
        chain->attempt > 1 ? (uint32_t)S_RETRY_BASE_DELAY_MS << (chain->attempt - 2) : 0;
    step->max_response_bytes = S_MAX_BODY_BYTES;
    step->provider = provider;
out:
    free(scheme);
    free(host);
    free(path);
    free(query);
    if (rc == BSUP_ENOMEM)
        bsup_diag_set(diag, rc, "out of memory");
    if (rc < 0)
        s_step_cleanup(step);
    return rc;
}

static int s_add_header(struct bsup_aws_chain *chain, const char *name, const char *value,
                        struct bsup_diag *diag)
{
    int rc = bsup_aws_request_add_header(&chain->step.request, name, value);
    if (rc < 0) {
        s_step_cleanup(&chain->step);
        return bsup_diag_set(diag, rc, "out of memory");
    }
    return 0;
}

static int s_set_creds(struct bsup_aws_credentials *out, const char *akid, const char *secret,
                       const char *token, const char *account, const char *source,
                       struct bsup_diag *diag)
{
    memset(out, 0, sizeof(*out));
    out->access_key_id = strdup(akid);
    out->secret_access_key = strdup(secret);
    if (token)
        out->session_token = strdup(token);
    if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token)) {
        bsup_aws_credentials_cleanup(out);
        return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
    }
    if (account && strlen(account) < sizeof(out->account_id))
        snprintf(out->account_id, sizeof(out->account_id), "%s", account);
    snprintf(out->source, sizeof(out->source), "%s", source);
    return S_FOUND;
}

/* Whether the selected profile is a role whose source is these very keys (role_arn with
 * credential_source = Environment, itself or at the end of its source_profile chain): then they
 * assume it (the profile provider) instead of being used as they are. Files that cannot be read
 * or parsed decide nothing here. */
static int s_env_is_role_source(struct bsup_aws_chain *chain)
{
    struct bsup_aws_profile_files f;
    struct bsup_aws_profile_set set;
    struct bsup_diag ignored = {0};
    int yes = 0;
    bsup_aws_profile_set_init(&set);
    if (bsup_aws_profile_files_locate(chain->getenv_fn, chain->getenv_ctx, &f) < 0)
        goto out;
    const char *paths[] = {f.config_path, f.credentials_path};
    const enum bsup_aws_profile_file_kind kinds[] = {BSUP_AWS_PROFILE_FILE_CONFIG,
                                                     BSUP_AWS_PROFILE_FILE_CREDENTIALS};
    for (size_t i = 0; i < 2; i++) {
        char *data = NULL;
        size_t len = 0;
        int rc = paths[i] ? chain->read_file_fn(chain->read_file_ctx, paths[i],
                                                BSUP_AWS_PROFILE_MAX_BYTES, &data, &len)
                          : BSUP_ENOTFOUND;
        if (rc == 0)
            rc = bsup_aws_profile_set_merge(&set, kinds[i], data, len, paths[i], &ignored);
        bsup_secure_zero(data, len);
        free(data);
        if (rc < 0 && rc != BSUP_ENOTFOUND)
            goto out;
    }
    const struct bsup_aws_profile *p = bsup_aws_profile_set_find(&set, f.profile);
    for (int i = 0; p && i < S_MAX_ROLES; i++) {
        const char *role = bsup_aws_profile_get(p, "role_arn");
        const char *cs = bsup_aws_profile_get(p, "credential_source");
        const char *src = bsup_aws_profile_get(p, "source_profile");
        if (!role || !*role || (cs && *cs)) {
            yes = role && *role && strcmp(cs, "Environment") == 0;
            break;
        }
        const struct bsup_aws_profile *sp = src ? bsup_aws_profile_set_find(&set, src) : NULL;
        const char *akid = bsup_aws_profile_get(sp, "aws_access_key_id");
        if (sp == p || (akid && *akid)) /* its own or its source's keys */
            break;
        p = sp;
    }
out:
    bsup_aws_profile_set_cleanup(&set);
    bsup_aws_profile_files_cleanup(&f);
    return yes;
}

static int s_provider_env(struct bsup_aws_chain *chain, struct bsup_aws_credentials *out,
                          struct bsup_diag *diag)
{
    const char *akid = s_env(chain, "AWS_ACCESS_KEY_ID");
    const char *secret = s_env(chain, "AWS_SECRET_ACCESS_KEY");
    if (!akid) {
        s_tried(chain, "environment (AWS_ACCESS_KEY_ID unset)");
        return S_NEXT;
    }
    if (!secret)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: AWS_ACCESS_KEY_ID is set but "
                             "AWS_SECRET_ACCESS_KEY is not");
    if (s_env_is_role_source(chain))
        return S_NEXT;
    return s_set_creds(out, akid, secret, s_env(chain, "AWS_SESSION_TOKEN"),
                       s_env(chain, "AWS_ACCOUNT_ID"), "environment", diag);
}

/* Reads and merges one shared file; *out_found says whether it exists. */
static int s_load_file(struct bsup_aws_chain *chain, const char *path,
                       enum bsup_aws_profile_file_kind kind, int *out_found, struct bsup_diag *diag)
{
    *out_found = 0;
    if (!path)
        return 0;
    char *data = NULL;
    size_t len = 0;
    int rc =
        chain->read_file_fn(chain->read_file_ctx, path, BSUP_AWS_PROFILE_MAX_BYTES, &data, &len);
    if (rc == BSUP_ENOTFOUND)
        return 0;
    if (rc < 0)
        return bsup_diag_set(diag, BSUP_ECONFIG, "AWS credentials: cannot read %s: %s", path,
                             bsup_strerror(rc));
    *out_found = 1;
    rc = bsup_aws_profile_set_merge(&chain->profiles, kind, data, len, path, diag);
    if (rc < 0 && rc != BSUP_ENOMEM)
        rc = BSUP_ECONFIG;
    if (rc < 0 && diag)
        diag->code = rc;
    bsup_secure_zero(data, len);
    free(data);
    return rc;
}

/* Profile settings that select a provider this version does not implement. */
static const struct {
    const char *key;
    const char *what;
} s_unsupported[] = {
    {"sso_session", "sso_session (IAM Identity Center)"},
    {"sso_start_url", "sso_start_url (IAM Identity Center)"},
    {"sso_account_id", "sso_account_id (IAM Identity Center)"},
};

static int s_web_identity_start(struct bsup_aws_chain *chain, const char *token_file,
                                const char *role_arn, const char *session,
                                const struct bsup_aws_profile *profile, struct bsup_diag *diag);
static int s_web_identity_answer(struct bsup_aws_chain *chain,
                                 const struct bsup_aws_chain_response *resp,
                                 struct bsup_aws_credentials *out, struct bsup_diag *diag);
static int s_profile_unsupported(const struct bsup_aws_profile *p, struct bsup_diag *diag);
static int s_role_plan(struct bsup_aws_chain *chain, const struct bsup_aws_profile *p,
                       struct bsup_diag *diag);
static int s_process_start(struct bsup_aws_chain *chain, const struct bsup_aws_profile *p,
                           struct bsup_diag *diag);
static int s_process_answer(struct bsup_aws_chain *chain,
                            const struct bsup_aws_chain_response *resp,
                            struct bsup_aws_credentials *out, struct bsup_diag *diag);
static int s_role_run(struct bsup_aws_chain *chain, const struct bsup_aws_chain_response *resp,
                      struct bsup_aws_credentials *out, struct bsup_diag *diag);

static int s_provider_profile(struct bsup_aws_chain *chain,
                              const struct bsup_aws_chain_response *resp,
                              struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    if (resp)
        return chain->n_roles       ? s_role_run(chain, resp, out, diag)
               : chain->proc_active ? s_process_answer(chain, resp, out, diag)
                                    : s_web_identity_answer(chain, resp, out, diag);
    struct bsup_aws_profile_files *f = &chain->files;
    int rc = bsup_aws_profile_files_locate(chain->getenv_fn, chain->getenv_ctx, f);
    if (rc < 0)
        return bsup_diag_set(diag, rc, "out of memory");
    int have_cfg = 0, have_cred = 0;
    if ((rc = s_load_file(chain, f->config_path, BSUP_AWS_PROFILE_FILE_CONFIG, &have_cfg, diag)) <
            0 ||
        (rc = s_load_file(chain, f->credentials_path, BSUP_AWS_PROFILE_FILE_CREDENTIALS, &have_cred,
                          diag)) < 0)
        return rc;
    const struct bsup_aws_profile *p = bsup_aws_profile_set_find(&chain->profiles, f->profile);
    chain->profile = p;
    if (!p) {
        char where[600] = "HOME unset";
        if (f->config_path || f->credentials_path)
            snprintf(where, sizeof(where), "%s%.250s%s%s%s%.250s%s",
                     f->config_path && have_cfg ? "not in " : "",
                     f->config_path ? f->config_path : "",
                     f->config_path && !have_cfg ? " not found" : "",
                     f->config_path && f->credentials_path ? ", " : "",
                     f->credentials_path && have_cred ? "not in " : "",
                     f->credentials_path ? f->credentials_path : "",
                     f->credentials_path && !have_cred ? " not found" : "");
        if (f->profile_explicit)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: AWS_PROFILE names profile '%.100s', which is "
                                 "not defined (%s)",
                                 f->profile, where);
        s_tried(chain, "profile '%.100s' (%s)", f->profile, where);
        return S_NEXT;
    }
    const char *wi_file = bsup_aws_profile_get(p, "web_identity_token_file");
    const char *role_arn = bsup_aws_profile_get(p, "role_arn");
    if (wi_file && (!role_arn || !*role_arn))
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: profile '%.100s': `web_identity_token_file` was "
                             "specified but `role_arn` was missing",
                             p->name);
    if ((rc = s_profile_unsupported(p, diag)) < 0)
        return rc;
    if (wi_file)
        return s_web_identity_start(chain, wi_file, role_arn,
                                    bsup_aws_profile_get(p, "role_session_name"), p, diag);
    if (role_arn && *role_arn) {
        if ((rc = s_role_plan(chain, p, diag)) < 0)
            return rc;
        return s_role_run(chain, NULL, out, diag);
    }
    const char *akid = bsup_aws_profile_get(p, "aws_access_key_id");
    const char *secret = bsup_aws_profile_get(p, "aws_secret_access_key");
    const char *token = bsup_aws_profile_get(p, "aws_session_token");
    if (akid && *akid) {
        if (!secret || !*secret)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s' sets aws_access_key_id but "
                                 "not aws_secret_access_key",
                                 p->name);
        return s_set_creds(out, akid, secret, token && *token ? token : NULL,
                           bsup_aws_profile_get(p, "aws_account_id"), "profile", diag);
    }
    /* Half a key pair is a broken provider, whichever half: never a pass to another identity. */
    if (secret && *secret)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: profile '%.100s' sets aws_secret_access_key but "
                             "not aws_access_key_id",
                             p->name);
    if (bsup_aws_profile_get(p, "credential_process"))
        return s_process_start(chain, p, diag);
    s_tried(chain, "profile '%.100s' (no aws_access_key_id in it)", p->name);
    return S_NEXT;
}

/* A token for an HTTP header: trailing whitespace dropped, no control characters. */
static int s_header_token(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return n > 0;
}

static int s_container_request(struct bsup_aws_chain *chain, struct bsup_diag *diag)
{
    int rc = s_step_new(chain, "GET", chain->container_url, "", "container", S_CONTAINER_TIMEOUT_MS,
                        diag);
    if (rc == 0)
        rc = s_add_header(chain, "Accept", "application/json", diag);
    if (rc == 0 && chain->container_auth)
        rc = s_add_header(chain, "Authorization", chain->container_auth, diag);
    return rc < 0 ? rc : S_STEP;
}

static int s_retryable(const struct bsup_aws_chain *chain,
                       const struct bsup_aws_chain_response *resp)
{
    return (resp->status == 0 || resp->status >= 500) &&
           chain->attempt < BSUP_AWS_CHAIN_MAX_ATTEMPTS;
}

static int s_provider_container(struct bsup_aws_chain *chain,
                                const struct bsup_aws_chain_response *resp,
                                struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    if (!resp) {
        int rc = bsup_aws_chain_container_url(chain->getenv_fn, chain->getenv_ctx,
                                              &chain->container_url, diag);
        if (rc == BSUP_ENOTFOUND) {
            s_tried(chain, "container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI unset)");
            return S_NEXT;
        }
        if (rc < 0) {
            if (rc == BSUP_ECONFIG && diag) {
                char msg[sizeof(diag->message)];
                snprintf(msg, sizeof(msg), "%s", diag->message);
                bsup_diag_set(diag, rc, "AWS credentials: container: %.900s", msg);
            }
            return rc;
        }
        const char *file = s_env(chain, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        const char *token = s_env(chain, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (file) {
            size_t len = 0;
            rc = chain->read_file_fn(chain->read_file_ctx, file, S_MAX_TOKEN_FILE_BYTES,
                                     &chain->container_auth, &len);
            if (rc < 0)
                return bsup_diag_set(
                    diag, BSUP_ECREDENTIALS,
                    "AWS credentials: container: cannot read "
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.300s: %s",
                    file, rc == BSUP_ENOTFOUND ? "No such file or directory" : bsup_strerror(rc));
            if (strlen(chain->container_auth) != len || !s_header_token(chain->container_auth))
                return bsup_diag_set(diag, BSUP_ECONFIG,
                                     "AWS credentials: container: "
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.300s does not "
                                     "hold a valid token",
                                     file);
        } else if (token) {
            chain->container_auth = strdup(token);
            if (!chain->container_auth)
                return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
            if (!s_header_token(chain->container_auth))
                return bsup_diag_set(diag, BSUP_ECONFIG,
                                     "AWS credentials: container: "
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN is not a valid token");
        }
        chain->attempt = 1;
        return s_container_request(chain, diag);
    }
    if (s_retryable(chain, resp)) {
        chain->attempt++;
        return s_container_request(chain, diag);
    }
    if (resp->status == 0)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                             "AWS credentials: container: no response from %.300s after %d "
                             "attempts%s%.300s",
                             chain->container_url, chain->attempt, resp->error ? ": " : "",
                             resp->error ? resp->error : "");
    if (resp->status != 200)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                             "AWS credentials: container: %.300s answered HTTP %d",
                             chain->container_url, resp->status);
    struct bsup_diag jd = {0};
    int rc = bsup_aws_credentials_from_json(resp->body, resp->body_len, "container", out, &jd);
    if (rc < 0)
        return bsup_diag_set(diag, rc == BSUP_ENOMEM ? rc : BSUP_ECREDENTIALS,
                             "AWS credentials: %.300s: %.600s", chain->container_url, jd.message);
    return S_FOUND;
}

static int s_imds_request(struct bsup_aws_chain *chain, struct bsup_diag *diag)
{
    int rc;
    switch (chain->imds_phase) {
    case S_IMDS_TOKEN:
        rc = s_step_new(chain, "PUT", chain->imds_base, "/latest/api/token", "imds",
                        S_IMDS_TIMEOUT_MS, diag);
        if (rc == 0)
            rc = s_add_header(chain, "X-aws-ec2-metadata-token-ttl-seconds", "21600", diag);
        break;
    case S_IMDS_ROLE:
        rc = s_step_new(chain, "GET", chain->imds_base,
                        "/latest/meta-data/iam/security-credentials/", "imds", S_IMDS_TIMEOUT_MS,
                        diag);
        if (rc == 0)
            rc = s_add_header(chain, "X-aws-ec2-metadata-token", chain->imds_token, diag);
        break;
    default: {
        char path[320];
        snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s",
                 chain->imds_role);
        rc = s_step_new(chain, "GET", chain->imds_base, path, "imds", S_IMDS_TIMEOUT_MS, diag);
        if (rc == 0)
            rc = s_add_header(chain, "X-aws-ec2-metadata-token", chain->imds_token, diag);
        break;
    }
    }
    return rc < 0 ? rc : S_STEP;
}

/* The first line of an IMDS text answer, trimmed, as a new string (NULL if empty/invalid). */
static char *s_first_line(const char *body, size_t len, size_t max_len)
{
    size_t b = 0, e = 0;
    while (b < len && (body[b] == ' ' || body[b] == '\t' || body[b] == '\r' || body[b] == '\n'))
        b++;
    e = b;
    while (e < len && body[e] != '\r' && body[e] != '\n')
        e++;
    while (e > b && (body[e - 1] == ' ' || body[e - 1] == '\t'))
        e--;
    if (e == b || e - b > max_len)
        return NULL;
    for (size_t i = b; i < e; i++)
        if ((unsigned char)body[i] <= 0x20 || (unsigned char)body[i] >= 0x7f || body[i] == '/')
            return NULL;
    return strndup(body + b, e - b);
}

static int s_provider_imds(struct bsup_aws_chain *chain, const struct bsup_aws_chain_response *resp,
                           struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    if (!resp) {
        const char *disabled = s_env(chain, "AWS_EC2_METADATA_DISABLED");
        if (disabled && strcasecmp(disabled, "true") == 0) {
            s_tried(chain, "IMDS (disabled by AWS_EC2_METADATA_DISABLED)");
            return S_NEXT;
        }
        int rc = bsup_aws_chain_imds_endpoint(chain->getenv_fn, chain->getenv_ctx, chain->profile,
                                              chain->imds_endpoint_override,
                                              chain->imds_mode_override, &chain->imds_base, diag);
        if (rc < 0) {
            if (rc == BSUP_ECONFIG && diag) {
                char msg[sizeof(diag->message)];
                snprintf(msg, sizeof(msg), "%s", diag->message);
                bsup_diag_set(diag, rc, "AWS credentials: IMDS: %.900s", msg);
            }
            return rc;
        }
        chain->imds_phase = S_IMDS_TOKEN;
        chain->attempt = 1;
        return s_imds_request(chain, diag);
    }
    if (s_retryable(chain, resp)) {
        chain->attempt++;
        return s_imds_request(chain, diag);
    }
    static const char *const what[] = {"token request", "IAM role request", "credentials request"};
    if (resp->status == 0) {
        s_tried(chain, "IMDS (no response from %.200s to the %s after %d attempts%s%.200s)",
                chain->imds_base, what[chain->imds_phase], chain->attempt, resp->error ? ": " : "",
                resp->error ? resp->error : "");
        return S_NEXT;
    }
    switch (chain->imds_phase) {
    case S_IMDS_TOKEN:
        if (resp->status == 403) {
            s_tried(chain, "IMDS (token request forbidden: IMDS is disabled on this instance, "
                           "HTTP 403)");
            return S_NEXT;
        }
        if (resp->status != 200)
            break;
        chain->imds_token = strndup(resp->body, resp->body_len);
        if (!chain->imds_token)
            return bsup_diag_set(diag, BSUP_ENOMEM, "out of memory");
        if (strlen(chain->imds_token) != resp->body_len || !s_header_token(chain->imds_token)) {
            s_tried(chain, "IMDS (the token response is not a valid token)");
            return S_NEXT;
        }
        chain->imds_phase = S_IMDS_ROLE;
        chain->attempt = 1;
        return s_imds_request(chain, diag);
    case S_IMDS_ROLE:
        if (resp->status == 404) {
            s_tried(chain, "IMDS (no IAM role attached to the instance, HTTP 404)");
            return S_NEXT;
        }
        if (resp->status != 200)
            break;
        chain->imds_role = s_first_line(resp->body, resp->body_len, 255);
        if (!chain->imds_role) {
            s_tried(chain, "IMDS (no valid IAM role name in the answer)");
            return S_NEXT;
        }
        chain->imds_phase = S_IMDS_CREDS;
        chain->attempt = 1;
        return s_imds_request(chain, diag);
    case S_IMDS_CREDS:
        if (resp->status != 200)
            break;
        struct bsup_diag jd = {0};
        int rc = bsup_aws_credentials_from_json(resp->body, resp->body_len, "imds", out, &jd);
        if (rc == BSUP_ENOMEM)
            return bsup_diag_set(diag, rc, "out of memory");
        if (rc < 0) {
            s_tried(chain, "IMDS (role '%.100s': %.300s)", chain->imds_role, jd.message);
            return S_NEXT;
        }
        return S_FOUND;
    }
    s_tried(chain, "IMDS (%s answered HTTP %d)", what[chain->imds_phase], resp->status);
    return S_NEXT;
}

/* ---- STS: web identity ---- */

static int64_t s_now(const struct bsup_aws_chain *chain)
{
    return chain->now_fn ? chain->now_fn(chain->now_ctx) : (int64_t)time(NULL);
}

/* bsupd's region, else AWS_REGION, AWS_DEFAULT_REGION, the selected profile's region. */
static const char *s_region(const struct bsup_aws_chain *chain)
{
    const char *r = chain->region && *chain->region ? chain->region : s_env(chain, "AWS_REGION");
    if (!r)
        r = s_env(chain, "AWS_DEFAULT_REGION");
    if (!r) {
        r = bsup_aws_profile_get(chain->profile, "region");
        r = r && *r ? r : NULL;
    }
    return r;
}

/* Prepares the STS step for chain->sts_action with chain->sts_params, signed with sign (NULL:
 * unsigned, as AssumeRoleWithWebIdentity is). */
static int s_sts_request(struct bsup_aws_chain *chain, const struct bsup_aws_credentials *sign,
                         struct bsup_diag *diag)
{
    const char *region = s_region(chain);
    if (!region)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: %.300s: STS needs an AWS region: set region in "
                             "bsupd.yaml, AWS_REGION, or region in the profile",
                             chain->sts_what);
    struct bsup_endpoint ep;
    struct bsup_diag ed = {0};
    int rc = bsup_endpoints_resolve(bsup_endpoints_service(BSUP_AWS_STS), region,
                                    chain->sts_endpoint_url, chain->getenv_fn, chain->getenv_ctx,
                                    &ep, &ed);
    if (rc < 0)
        return bsup_diag_set(diag, rc == BSUP_ENOMEM ? rc : BSUP_ECONFIG,
                             "AWS credentials: %.300s: STS endpoint: %.600s", chain->sts_what,
                             ed.message);
    char base[600];
    snprintf(base, sizeof(base), "%s://%s%s", ep.scheme, ep.host, ep.base_path);
    if ((rc = s_step_new(chain, "POST", base, "/", "sts", S_STS_TIMEOUT_MS, diag)) < 0)
        return rc;
    const struct bsup_aws_operation *op = bsup_aws_operation_find("sts", chain->sts_action);
    rc = op ? bsup_aws_serialize(&chain->step.request, op, &chain->sts_params, NULL) : BSUP_EINVAL;
    if (rc == 0 && sign)
        rc = bsup_sigv4_sign(&chain->step.request, sign, ep.signing_region, ep.signing_name,
                             s_now(chain), NULL);
    if (rc < 0) {
        s_step_cleanup(&chain->step);
        return bsup_diag_set(diag, rc,
                             "AWS credentials: %.300s: cannot build the STS %s request: %s",
                             chain->sts_what, chain->sts_action, bsup_strerror(rc));
    }
    return S_STEP;
}

/* The account id of an ARN ("arn:aws:sts::123456789012:assumed-role/R/S"), or "". */
static void s_arn_account(const char *arn, char *out, size_t out_size)
{
    out[0] = '\0';
    const char *p = arn;
    for (int i = 0; p && i < 4; i++)
        if ((p = strchr(p, ':')))
            p++;
    size_t n = p ? strcspn(p, ":") : 0;
    if (n == 12 && strspn(p, "0123456789") == 12 && n < out_size)
        snprintf(out, out_size, "%.12s", p);
}

/* The outcome of the STS step: credentials into out, a retry, or the error naming what asked. */
static int s_sts_answer(struct bsup_aws_chain *chain, const struct bsup_aws_chain_response *resp,
                        const struct bsup_aws_credentials *sign, struct bsup_aws_credentials *out,
                        struct bsup_diag *diag)
{
    if (s_retryable(chain, resp)) {
        chain->attempt++;
        return s_sts_request(chain, sign, diag);
    }
    if (resp->status == 0)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                             "AWS credentials: %.300s: no response from %.200s after %d "
                             "attempts%s%.300s",
                             chain->sts_what, chain->step.url ? chain->step.url : "STS",
                             chain->attempt, resp->error ? ": " : "",
                             resp->error ? resp->error : "");
    if (resp->status != 200) {
        struct bsup_aws_error err;
        bsup_aws_error_parse(resp->status, NULL, 0, resp->body, resp->body_len, &err);
        return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                             "AWS credentials: %.300s: STS %s answered HTTP %d%s%.100s%s%.300s",
                             chain->sts_what, chain->sts_action, resp->status,
                             err.code[0] ? ": " : "", err.code, err.message[0] ? ": " : "",
                             err.message);
    }
    const struct bsup_aws_operation *op = bsup_aws_operation_find("sts", chain->sts_action);
    json_t *page = NULL;
    struct bsup_sts_credentials r = {0};
    int rc = bsup_aws_parse_response(op, resp->body, resp->body_len, &page);
    if (rc == 0)
        rc = bsup_sts_credentials_parse(page, &r);
    if (page) {
        bsup_aws_json_wipe(page);
        json_decref(page);
    }
    if (rc == 0 &&
        (!r.access_key_id || !*r.access_key_id || !r.secret_access_key || !*r.secret_access_key ||
         !r.session_token || !*r.session_token || r.expiration_s <= 0))
        rc = BSUP_EPROTO;
    if (rc == 0)
        rc =
            s_set_creds(out, r.access_key_id, r.secret_access_key, r.session_token, NULL, "", diag);
    if (rc == S_FOUND) {
        out->expiration_s = r.expiration_s;
        if (r.assumed_role_arn)
            s_arn_account(r.assumed_role_arn, out->account_id, sizeof(out->account_id));
    }
    bsup_sts_credentials_cleanup(&r);
    if (rc < 0 && rc != BSUP_ENOMEM)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                             "AWS credentials: %.300s: the STS %s answer is not understood (%s: "
                             "no Credentials with AccessKeyId, SecretAccessKey, SessionToken and "
                             "Expiration)",
                             chain->sts_what, chain->sts_action, bsup_strerror(rc));
    return rc;
}

/* AssumeRoleWithWebIdentity with the token in token_file (read now: EKS rotates it). profile:
 * the profile that configures it, NULL for the environment. */
static int s_web_identity_start(struct bsup_aws_chain *chain, const char *token_file,
                                const char *role_arn, const char *session,
                                const struct bsup_aws_profile *profile, struct bsup_diag *diag)
{
    if (profile)
        snprintf(chain->sts_what, sizeof(chain->sts_what), "web identity %.150s (profile '%.100s')",
                 role_arn, profile->name);
    else
        snprintf(chain->sts_what, sizeof(chain->sts_what), "web identity %.150s (environment)",
                 role_arn);
    char *token = NULL;
    size_t len = 0;
    int rc = chain->read_file_fn(chain->read_file_ctx, token_file, S_MAX_WEB_IDENTITY_TOKEN_BYTES,
                                 &token, &len);
    if (rc < 0)
        return bsup_diag_set(
            diag, BSUP_ECREDENTIALS,
            "AWS credentials: %.300s: cannot read the token file %.300s: %s", chain->sts_what,
            token_file, rc == BSUP_ENOTFOUND ? "No such file or directory" : bsup_strerror(rc));
    int ok = strlen(token) == len && s_header_token(token);
    char name[64];
    if (!session || !*session) {
        snprintf(name, sizeof(name), "bsupd-%lld", (long long)s_now(chain));
        session = name;
    }
    bsup_aws_params_cleanup(&chain->sts_params);
    if (ok && ((rc = bsup_aws_params_add(&chain->sts_params, "RoleArn", role_arn)) < 0 ||
               (rc = bsup_aws_params_add(&chain->sts_params, "RoleSessionName", session)) < 0 ||
               (rc = bsup_aws_params_add(&chain->sts_params, "WebIdentityToken", token)) < 0))
        ok = 0;
    bsup_secure_zero(token, len);
    free(token);
    if (rc < 0)
        return bsup_diag_set(diag, rc, "AWS credentials: %.300s: %s", chain->sts_what,
                             bsup_strerror(rc));
    if (!ok)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                             "AWS credentials: %.300s: the token file %.300s does not hold a "
                             "token",
                             chain->sts_what, token_file);
    chain->sts_active = 1;
    chain->sts_action = "AssumeRoleWithWebIdentity";
    chain->attempt = 1;
    return s_sts_request(chain, NULL, diag);
}

/* The web identity request's answer: the credentials, described for status. */
static int s_web_identity_answer(struct bsup_aws_chain *chain,
                                 const struct bsup_aws_chain_response *resp,
                                 struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    int rc = s_sts_answer(chain, resp, NULL, out, diag);
    if (rc == S_FOUND) {
        snprintf(out->source, sizeof(out->source), "web-identity");
        snprintf(out->description, sizeof(out->description), "%s", chain->sts_what);
    }
    return rc;
}

/* ---- STS: assume role (role_arn with source_profile or credential_source) ---- */

static const char *s_nonempty(const struct bsup_aws_profile *p, const char *key)
{
    const char *v = bsup_aws_profile_get(p, key);
    return v && *v ? v : NULL;
}

/* The IAM Identity Center keys this version does not implement: an error naming it, or 0. */
static int s_profile_unsupported(const struct bsup_aws_profile *p, struct bsup_diag *diag)
{
    for (size_t i = 0; i < sizeof(s_unsupported) / sizeof(s_unsupported[0]); i++)
        if (bsup_aws_profile_get(p, s_unsupported[i].key))
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s' uses %s, which this version "
                                 "of bsup does not support; use static keys, the environment, "
                                 "container credentials or IMDS",
                                 p->name, s_unsupported[i].what);
    return 0;
}

/* Static keys of p as a base: 1 when it has some, 0 when not, or an error. */
static int s_has_static_keys(const struct bsup_aws_profile *p, struct bsup_diag *diag)
{
    if (!s_nonempty(p, "aws_access_key_id"))
        return 0;
    if (!s_nonempty(p, "aws_secret_access_key"))
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: profile '%.100s' sets aws_access_key_id but "
                             "not aws_secret_access_key",
                             p->name);
    return 1;
}

static const struct {
    const char *name; /* credential_source value, as the SDKs spell it */
    enum s_base base;
} s_credential_sources[] = {
    {"Environment", S_BASE_ENV},
    {"Ec2InstanceMetadata", S_BASE_IMDS},
    {"EcsContainer", S_BASE_CONTAINER},
};

/* Walks from the selected profile p (which has role_arn) through source_profile to the base
 * credentials, recording the roles to assume. Loops, unknown profiles and settings a daemon
 * cannot honour (mfa_serial) are configuration errors. */
static int s_role_plan(struct bsup_aws_chain *chain, const struct bsup_aws_profile *p,
                       struct bsup_diag *diag)
{
    int rc;
    for (;;) {
        if (s_nonempty(p, "mfa_serial"))
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s' sets mfa_serial: bsupd runs "
                                 "unattended and cannot ask for an MFA code; use a role whose "
                                 "trust policy does not require MFA",
                                 p->name);
        if (chain->n_roles == S_MAX_ROLES)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s': more than %d roles chained "
                                 "through source_profile",
                                 chain->roles[0]->name, S_MAX_ROLES);
        chain->roles[chain->n_roles++] = p;
        const char *src = s_nonempty(p, "source_profile");
        const char *cs = s_nonempty(p, "credential_source");
        if (src && cs)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s' sets both source_profile and "
                                 "credential_source; it must set one",
                                 p->name);
        if (cs) {
            for (size_t i = 0; i < sizeof(s_credential_sources) / sizeof(s_credential_sources[0]);
                 i++)
                if (strcmp(cs, s_credential_sources[i].name) == 0) {
                    chain->base = s_credential_sources[i].base;
                    chain->base_profile = p;
                    return 0;
                }
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s': credential_source '%.64s' is "
                                 "not Environment, Ec2InstanceMetadata or EcsContainer",
                                 p->name, cs);
        }
        if (!src)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s' sets role_arn but neither "
                                 "source_profile nor credential_source",
                                 p->name);
        const struct bsup_aws_profile *sp = bsup_aws_profile_set_find(&chain->profiles, src);
        if (!sp)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s': source_profile '%.100s' is "
                                 "not defined",
                                 p->name, src);
        if (sp == p) { /* a role assumed with the profile's own keys */
            if ((rc = s_has_static_keys(p, diag)) < 0)
                return rc;
            if (!rc)
                return bsup_diag_set(diag, BSUP_ECONFIG,
                                     "AWS credentials: profile '%.100s' is its own source_profile "
                                     "but has no aws_access_key_id",
                                     p->name);
            chain->base = S_BASE_STATIC;
            chain->base_profile = p;
            return 0;
        }
        for (size_t i = 0; i < chain->n_roles; i++)
            if (chain->roles[i] == sp)
                return bsup_diag_set(diag, BSUP_ECONFIG,
                                     "AWS credentials: profile '%.100s': source_profile loop "
                                     "back to '%.100s'",
                                     chain->roles[0]->name, sp->name);
        if ((rc = s_profile_unsupported(sp, diag)) < 0 || (rc = s_has_static_keys(sp, diag)) < 0)
            return rc;
        chain->base_profile = sp;
        if (rc) { /* a source profile's keys win over its role_arn, as in the SDKs */
            chain->base = S_BASE_STATIC;
            return 0;
        }
        const char *wi = s_nonempty(sp, "web_identity_token_file");
        const char *role = s_nonempty(sp, "role_arn");
        if (wi && !role)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s': `web_identity_token_file` "
                                 "was specified but `role_arn` was missing",
                                 sp->name);
        if (wi) {
            chain->base = S_BASE_WEB_IDENTITY;
            return 0;
        }
        if (!role && bsup_aws_profile_get(sp, "credential_process")) {
            chain->base = S_BASE_PROCESS;
            return 0;
        }
        if (!role)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s' (source_profile of '%.100s') "
                                 "has no credentials: no aws_access_key_id, role_arn, "
                                 "web_identity_token_file or credential_process",
                                 sp->name, p->name);
        p = sp;
    }
}

/* The base credentials into chain->src: S_FOUND, S_STEP, or an error of the base's own. */
static int s_role_base(struct bsup_aws_chain *chain, const struct bsup_aws_chain_response *resp,
                       struct bsup_diag *diag)
{
    const struct bsup_aws_profile *bp = chain->base_profile;
    const char *cs = s_nonempty(bp, "credential_source");
    int rc;
    switch (chain->base) {
    case S_BASE_STATIC:
        snprintf(chain->base_what, sizeof(chain->base_what), "profile %.100s", bp->name);
        return s_set_creds(&chain->src, s_nonempty(bp, "aws_access_key_id"),
                           s_nonempty(bp, "aws_secret_access_key"),
                           s_nonempty(bp, "aws_session_token"), NULL, "profile", diag);
    case S_BASE_ENV: {
        snprintf(chain->base_what, sizeof(chain->base_what), "environment");
        const char *akid = s_env(chain, "AWS_ACCESS_KEY_ID");
        const char *secret = s_env(chain, "AWS_SECRET_ACCESS_KEY");
        if (!akid || !secret)
            return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                                 "AWS credentials: profile '%.100s' has credential_source = "
                                 "Environment, but %s is unset",
                                 bp->name, akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return s_set_creds(&chain->src, akid, secret, s_env(chain, "AWS_SESSION_TOKEN"), NULL,
                           "environment", diag);
    }
    case S_BASE_WEB_IDENTITY:
        if (!resp)
            return s_web_identity_start(chain, s_nonempty(bp, "web_identity_token_file"),
                                        s_nonempty(bp, "role_arn"),
                                        s_nonempty(bp, "role_session_name"), bp, diag);
        rc = s_sts_answer(chain, resp, NULL, &chain->src, diag);
        if (rc == S_FOUND)
            snprintf(chain->base_what, sizeof(chain->base_what), "%s", chain->sts_what);
        return rc;
    case S_BASE_PROCESS:
        if (!resp)
            return s_process_start(chain, bp, diag);
        rc = s_process_answer(chain, resp, &chain->src, diag);
        if (rc == S_FOUND)
            snprintf(chain->base_what, sizeof(chain->base_what), "%s", chain->proc_what);
        return rc;
    case S_BASE_CONTAINER:
    case S_BASE_IMDS:
        snprintf(chain->base_what, sizeof(chain->base_what), "%s",
                 chain->base == S_BASE_IMDS ? "IMDS" : "container");
        if (!resp)
            chain->tried[0] = '\0'; /* this provider's failure alone makes the message */
        rc = chain->base == S_BASE_IMDS ? s_provider_imds(chain, resp, &chain->src, diag)
                                        : s_provider_container(chain, resp, &chain->src, diag);
        if (rc == S_NEXT)
            return bsup_diag_set(diag, BSUP_ECREDENTIALS,
                                 "AWS credentials: profile '%.100s' has credential_source = "
                                 "%.32s, but: %.700s",
                                 bp->name, cs, chain->tried);
        return rc;
    }
    return BSUP_EINVAL;
}

/* AssumeRole for the next role of the plan, signed with chain->src. */
static int s_assume_request(struct bsup_aws_chain *chain, struct bsup_diag *diag)
{
    const struct bsup_aws_profile *p = chain->roles[chain->role_next - 1];
    const char *arn = s_nonempty(p, "role_arn");
    const char *session = s_nonempty(p, "role_session_name");
    const char *external_id = s_nonempty(p, "external_id");
    const char *duration = s_nonempty(p, "duration_seconds");
    snprintf(chain->sts_what, sizeof(chain->sts_what), "assume role %.150s (profile '%.100s')", arn,
             p->name);
    if (duration) {
        char *end = NULL;
        long v = strtol(duration, &end, 10);
        if (*end || v < 900 || v > 43200)
            return bsup_diag_set(diag, BSUP_ECONFIG,
                                 "AWS credentials: profile '%.100s': duration_seconds '%.32s' is "
                                 "not a number of seconds from 900 to 43200",
                                 p->name, duration);
    }
    char name[64];
    if (!session) {
        snprintf(name, sizeof(name), "bsupd-%lld", (long long)s_now(chain));
        session = name;
    }
    bsup_aws_params_cleanup(&chain->sts_params);
    int rc;
    if ((rc = bsup_aws_params_add(&chain->sts_params, "RoleArn", arn)) < 0 ||
        (rc = bsup_aws_params_add(&chain->sts_params, "RoleSessionName", session)) < 0 ||
        (external_id &&
         (rc = bsup_aws_params_add(&chain->sts_params, "ExternalId", external_id)) < 0) ||
        (duration &&
         (rc = bsup_aws_params_add(&chain->sts_params, "DurationSeconds", duration)) < 0))
        return bsup_diag_set(diag, rc, "AWS credentials: %.300s: %s", chain->sts_what,
                             bsup_strerror(rc));
    chain->sts_active = 1;
    chain->sts_action = "AssumeRole";
    chain->attempt = 1;
    return s_sts_request(chain, &chain->src, diag);
}

/* Runs the plan: the base credentials, then each role from the one nearest the base to the
 * selected profile's, each assumed with the credentials before it. */
static int s_role_run(struct bsup_aws_chain *chain, const struct bsup_aws_chain_response *resp,
                      struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    int rc;
    if (!chain->role_phase) {
        if ((rc = s_role_base(chain, resp, diag)) != S_FOUND)
            return rc;
        chain->role_phase = 1;
        chain->role_next = chain->n_roles;
        return s_assume_request(chain, diag);
    }
    struct bsup_aws_credentials next;
    if ((rc = s_sts_answer(chain, resp, &chain->src, &next, diag)) != S_FOUND)
        return rc;
    bsup_aws_credentials_cleanup(&chain->src);
    chain->src = next;
    if (--chain->role_next > 0)
        return s_assume_request(chain, diag);
    *out = chain->src;
    memset(&chain->src, 0, sizeof(chain->src));
    snprintf(out->source, sizeof(out->source), "assume-role");
    const char *arn = s_nonempty(chain->roles[0], "role_arn");
    if (chain->n_roles > 1)
        snprintf(out->description, sizeof(out->description),
                 "assume role %.120s via %.120s (source: %.120s)", arn,
                 s_nonempty(chain->roles[chain->n_roles - 1], "role_arn"), chain->base_what);
    else
        snprintf(out->description, sizeof(out->description), "assume role %.150s (source: %.200s)",
                 arn, chain->base_what);
    return S_FOUND;
}

/* ---- credential_process ---- */

static int s_argv_push(char ***argv, size_t *n, char *word)
{
    char **grown = word ? realloc(*argv, (*n + 2) * sizeof(**argv)) : NULL;
    if (!grown) {
        s_wipe_free(word);
        return BSUP_ENOMEM;
    }
    *argv = grown;
    grown[(*n)++] = word;
    grown[*n] = NULL;
    return 0;
}

/* Splits a command line into words as Python's shlex.split does (botocore's ProcessProvider,
 * off Windows): blanks separate words; '...' is literal; in "..." a backslash escapes only " and
 * \; elsewhere it escapes any character. 0 with a NULL-terminated *out_argv (at least one word),
 * BSUP_EPARSE with *out_why, or BSUP_ENOMEM. */
static int s_split_command(const char *cmd, char ***out_argv, const char **out_why)
{
    size_t len = strlen(cmd), n = 0;
    char **argv = NULL;
    char *word = malloc(len + 1);
    int rc = word ? 0 : BSUP_ENOMEM;
    size_t w = 0;
    int in_word = 0;
    char quote = 0;
    *out_why = NULL;
    for (const char *c = cmd; rc == 0 && *c; c++) {
        if (quote == '\'') {
            if (*c == '\'')
                quote = 0;
            else
                word[w++] = *c;
        } else if (quote == '"') {
            if (*c == '"')
                quote = 0;
            else if (*c == '\\' && (c[1] == '"' || c[1] == '\\'))
                word[w++] = *++c;
            else
                word[w++] = *c;
        } else if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n') {
            if (in_word) {
                char *done = strndup(word, w);
                rc = s_argv_push(&argv, &n, done);
                w = 0;
                in_word = 0;
            }
        } else {
            in_word = 1;
            if (*c == '\'' || *c == '"')
                quote = *c;
            else if (*c == '\\' && !c[1])
                *out_why = "a backslash ends it";
            else
                word[w++] = *c == '\\' ? *++c : *c;
        }
    }
    if (rc == 0 && quote)
        *out_why = "a quotation is not closed";
    if (rc == 0 && !*out_why && in_word)
        rc = s_argv_push(&argv, &n, strndup(word, w));
    if (rc == 0 && !*out_why && !n)
        *out_why = "it is empty";
    if (word) {
        bsup_secure_zero(word, len + 1);
        free(word);
    }
    if (rc == 0 && *out_why)
        rc = BSUP_EPARSE;
    if (rc < 0) {
        s_argv_free(argv);
        argv = NULL;
    }
    *out_argv = argv;
    return rc;
}

/* Runs profile p's credential_process (the selected profile's, or a role's source). */
static int s_process_start(struct bsup_aws_chain *chain, const struct bsup_aws_profile *p,
                           struct bsup_diag *diag)
{
    struct bsup_aws_chain_step *step = &chain->step;
    s_step_cleanup(step);
    const char *why = NULL;
    int rc = s_split_command(bsup_aws_profile_get(p, "credential_process"), &step->argv, &why);
    if (rc == BSUP_ENOMEM)
        return bsup_diag_set(diag, rc, "out of memory");
    if (rc < 0)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: profile '%.100s': credential_process cannot be "
                             "split into words: %s",
                             p->name, why);
    const char *prog = strrchr(step->argv[0], '/');
    prog = prog && prog[1] ? prog + 1 : step->argv[0];
    snprintf(chain->proc_what, sizeof(chain->proc_what),
             "credential_process %.64s (profile '%.100s')", prog, p->name);
    step->kind = BSUP_AWS_CHAIN_STEP_PROCESS;
    step->timeout_ms = BSUP_AWS_CHAIN_PROCESS_TIMEOUT_MS;
    step->max_response_bytes = S_MAX_BODY_BYTES;
    step->provider = "process";
    chain->proc_active = 1;
    return S_STEP;
}

/* What the process printed: the credentials, or why not (never its output). Not retried: a
 * failing helper says so at once, and the next AWS call runs the chain again. */
static int s_process_answer(struct bsup_aws_chain *chain,
                            const struct bsup_aws_chain_response *resp,
                            struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    chain->proc_active = 0;
    if (resp->error)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS, "AWS credentials: %s: %.300s",
                             chain->proc_what, resp->error);
    if (resp->status != 0)
        return bsup_diag_set(diag, BSUP_ECREDENTIALS, "AWS credentials: %s exited with status %d",
                             chain->proc_what, resp->status);
    struct bsup_diag jd = {0};
    int rc = bsup_aws_credentials_from_process_json(resp->body, resp->body_len, out, &jd);
    if (rc < 0)
        return bsup_diag_set(diag, rc == BSUP_ENOMEM ? rc : BSUP_ECREDENTIALS,
                             "AWS credentials: %s: its output is not understood: %.300s",
                             chain->proc_what, jd.message);
    snprintf(out->description, sizeof(out->description), "%s", chain->proc_what);
    return S_FOUND;
}

/* AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (and AWS_ROLE_SESSION_NAME). */
static int s_provider_web_identity(struct bsup_aws_chain *chain,
                                   const struct bsup_aws_chain_response *resp,
                                   struct bsup_aws_credentials *out, struct bsup_diag *diag)
{
    if (resp)
        return s_web_identity_answer(chain, resp, out, diag);
    const char *file = s_env(chain, "AWS_WEB_IDENTITY_TOKEN_FILE");
    if (!file) {
        s_tried(chain, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE unset)");
        return S_NEXT;
    }
    const char *role = s_env(chain, "AWS_ROLE_ARN");
    if (!role)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "AWS credentials: AWS_WEB_IDENTITY_TOKEN_FILE is set but "
                             "AWS_ROLE_ARN is not");
    return s_web_identity_start(chain, file, role, s_env(chain, "AWS_ROLE_SESSION_NAME"), NULL,
                                diag);
}

int bsup_aws_chain_next(struct bsup_aws_chain *chain,
                        const struct bsup_aws_chain_response *response,
                        const struct bsup_aws_chain_step **out_step,
                        struct bsup_aws_credentials *out_creds, struct bsup_diag *diag)
{
    *out_step = NULL;
    memset(out_creds, 0, sizeof(*out_creds));
    if (chain->stage >= S_EXHAUSTED)
        return bsup_diag_set(diag, BSUP_EINVAL, "AWS credential chain already finished");
    if (!response != !chain->step_out)
        return bsup_diag_set(diag, BSUP_EINVAL,
                             response ? "AWS credential chain: a response without a request"
                                      : "AWS credential chain: the response is missing");
    /* A NULL body reads as "" so providers need no NULL checks. */
    struct bsup_aws_chain_response empty;
    if (response && !response->body) {
        empty = *response;
        empty.body = "";
        empty.body_len = 0;
        response = &empty;
    }
    chain->step_out = 0;
    int rc = S_NEXT;
    while (chain->stage < S_EXHAUSTED) {
        switch (chain->stage) {
        case S_ENV:
            rc = s_provider_env(chain, out_creds, diag);
            break;
        case S_PROFILE:
            rc = s_provider_profile(chain, response, out_creds, diag);
            break;
        case S_WEB_IDENTITY:
            rc = s_provider_web_identity(chain, response, out_creds, diag);
            break;
        case S_CONTAINER:
            rc = s_provider_container(chain, response, out_creds, diag);
            break;
        default:
            rc = s_provider_imds(chain, response, out_creds, diag);
            break;
        }
        response = NULL;
        if (rc < 0 || rc == S_FOUND)
            break;
        if (rc == S_STEP) {
            chain->step_out = 1;
            *out_step = &chain->step;
            return 0;
        }
        chain->stage++;
    }
    s_step_cleanup(&chain->step);
    if (rc == S_FOUND) {
        chain->stage = S_FINISHED;
        return 0;
    }
    bsup_aws_credentials_cleanup(out_creds);
    if (rc < 0) {
        chain->stage = S_FINISHED;
        return rc;
    }
    chain->stage = S_FINISHED;
    return bsup_diag_set(diag, BSUP_ECREDENTIALS, "no AWS credentials: %s", chain->tried);
}
