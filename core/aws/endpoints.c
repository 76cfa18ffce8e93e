#include "core/aws/endpoints.h"

#include "core/base/url.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* From the service list; tools/gen_aws_model.py checks its metadata columns against botocore. */
static const struct bsup_endpoint_service s_services[BSUP_AWS_SERVICE_COUNT] = {
#define S_ROW(id, name, botocore, service_id, prefix, signing, proto)                              \
    [BSUP_AWS_##id] = {BSUP_AWS_##id, #name, service_id, prefix, signing},
    BSUP_AWS_SERVICE_MAP(S_ROW)
#undef S_ROW
};

/* DNS suffixes per partition, matched on the region prefix; the first row is the fallback. */
static const struct {
    const char *region_prefix;
    const char *dns_suffix;       /* https://<prefix>[-fips].<region>.<dns_suffix> */
    const char *dualstack_suffix; /* https://<prefix>[-fips].<region>.<dualstack_suffix> */
} s_partitions[] = {
    {"", "amazonaws.com", "api.aws"},
    {"cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"},
};

const struct bsup_endpoint_service *bsup_endpoints_service(enum bsup_aws_service_id id)
{
    if ((int)id < 0 || id >= BSUP_AWS_SERVICE_COUNT)
        return NULL;
    return &s_services[id];
}

const struct bsup_endpoint_service *bsup_endpoints_service_by_name(const char *name)
{
    for (size_t i = 0; name && i < BSUP_AWS_SERVICE_COUNT; i++)
        if (strcmp(s_services[i].name, name) == 0)
            return &s_services[i];
    return NULL;
}

int bsup_endpoints_env_name(const struct bsup_endpoint_service *svc, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "AWS_ENDPOINT_URL_%s", svc->service_id);
    if (n < 0 || (size_t)n >= out_size)
        return BSUP_ETOOBIG;
    for (char *c = out; *c; c++) {
        if (*c == ' ' || *c == '-')
            *c = '_';
        else if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    }
    return 0;
}

static const char *s_env(bsup_endpoints_getenv_fn fn, void *ctx, const char *name)
{
    const char *v = fn ? fn(ctx, name) : NULL;
    return v && *v ? v : NULL;
}

/* Unset: false. "true"/"false" in any case; anything else is a configuration error. */
static int s_env_bool(bsup_endpoints_getenv_fn fn, void *ctx, const char *name, bool *out,
                      struct bsup_diag *diag)
{
    const char *v = s_env(fn, ctx, name);
    *out = false;
    if (!v || strcasecmp(v, "false") == 0)
        return 0;
    if (strcasecmp(v, "true") == 0) {
        *out = true;
        return 0;
    }
    return bsup_diag_set(diag, BSUP_ECONFIG, "%s: \"%s\" is not true or false", name, v);
}

static bool s_valid_region(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n >= 64)
        return false;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return false;
    return true;
}

static bool s_http_scheme(const char *url)
{
    return (strncasecmp(url, "https", 5) == 0 && strncmp(url + 5, "://", 3) == 0) ||
           (strncasecmp(url, "http", 4) == 0 && strncmp(url + 4, "://", 3) == 0);
}

const char *bsup_endpoints_url_problem(const char *url)
{
    struct bsup_url u;
    const char *why = NULL;
    if (!s_http_scheme(url))
        return "is not an http:// or https:// URL";
    if (bsup_url_parse(url, &u, &why) < 0)
        return why;
    if (u.query.p || u.fragment.p)
        return "must not have a query or fragment";
    return NULL;
}

/* A custom endpoint (bsup_endpoints_url_problem's rules). origin names the setting for
 * messages. */
static int s_parse_url(const char *url, const char *origin, struct bsup_endpoint *out,
                       struct bsup_diag *diag)
{
    struct bsup_url u;
    const char *why = bsup_endpoints_url_problem(url);
    if (why)
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s: \"%s\" %s", origin, url, why);
    bsup_url_parse(url, &u, NULL);
    if (u.authority.len >= sizeof(out->host))
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s: \"%s\" has too long a host", origin, url);
    size_t path_len = u.path.len;
    while (path_len && u.path.p[path_len - 1] == '/')
        path_len--;
    if (path_len >= sizeof(out->base_path))
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s: \"%s\" has too long a path", origin, url);
    snprintf(out->scheme, sizeof(out->scheme), "%s",
             bsup_url_scheme_is(&u, "https") ? "https" : "http");
    memcpy(out->host, u.authority.p, u.authority.len);
    out->host[u.authority.len] = '\0';
    memcpy(out->base_path, u.path.p, path_len);
    out->base_path[path_len] = '\0';
    snprintf(out->source, sizeof(out->source), "%s", origin);
    return 0;
}

int bsup_endpoints_resolve(const struct bsup_endpoint_service *svc, const char *region,
                           const char *configured_url, bsup_endpoints_getenv_fn getenv_fn,
                           void *getenv_ctx, struct bsup_endpoint *out, struct bsup_diag *diag)
{
    char env_name[128], cfg_name[96];
    bool ignore = false, fips = false, dualstack = false;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!svc)
        return bsup_diag_set(diag, BSUP_EINVAL, "unknown AWS service");
    if (!region || !*region)
        region = s_env(getenv_fn, getenv_ctx, "AWS_REGION");
    if (!region)
        region = s_env(getenv_fn, getenv_ctx, "AWS_DEFAULT_REGION");
    if (!region)
        return bsup_diag_set(diag, BSUP_ECONFIG,
                             "%s: no AWS region (set region in the config or AWS_REGION)",
                             svc->name);
    if (!s_valid_region(region))
        return bsup_diag_set(diag, BSUP_ECONFIG, "%s: invalid AWS region \"%s\"", svc->name,
                             region);
    snprintf(out->signing_region, sizeof(out->signing_region), "%s", region);
    snprintf(out->signing_name, sizeof(out->signing_name), "%s", svc->signing_name);

    if ((rc = s_env_bool(getenv_fn, getenv_ctx, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", &ignore,
                         diag)) ||
        (rc = s_env_bool(getenv_fn, getenv_ctx, "AWS_USE_FIPS_ENDPOINT", &fips, diag)) ||
        (rc = s_env_bool(getenv_fn, getenv_ctx, "AWS_USE_DUALSTACK_ENDPOINT", &dualstack, diag)))
        return rc;
    if ((rc = bsup_endpoints_env_name(svc, env_name, sizeof(env_name))))
        return rc;

    snprintf(cfg_name, sizeof(cfg_name), "endpoint_url (%s)", svc->name);
    if (!ignore) {
        /* Highest first; the first one set wins and is validated (no silent fallback). */
        const struct {
            const char *origin;
            const char *url;
        } custom[] = {
            {env_name, s_env(getenv_fn, getenv_ctx, env_name)},
            {cfg_name, configured_url && *configured_url ? configured_url : NULL},
            {"AWS_ENDPOINT_URL", s_env(getenv_fn, getenv_ctx, "AWS_ENDPOINT_URL")},
        };
        for (size_t i = 0; i < sizeof(custom) / sizeof(custom[0]); i++)
            if (custom[i].url)
                return s_parse_url(custom[i].url, custom[i].origin, out, diag);
    }

    size_t part = 0;
    for (size_t i = 1; i < sizeof(s_partitions) / sizeof(s_partitions[0]); i++)
        if (strncmp(region, s_partitions[i].region_prefix, strlen(s_partitions[i].region_prefix)) ==
            0)
            part = i;
    int n = snprintf(
        out->host, sizeof(out->host), "%s%s.%s.%s", svc->endpoint_prefix, fips ? "-fips" : "",
        region, dualstack ? s_partitions[part].dualstack_suffix : s_partitions[part].dns_suffix);
    if (n < 0 || (size_t)n >= sizeof(out->host))
        return bsup_diag_set(diag, BSUP_ETOOBIG, "%s: endpoint host too long", svc->name);
    snprintf(out->scheme, sizeof(out->scheme), "https");
    snprintf(out->source, sizeof(out->source), "default");
    return 0;
}

int bsup_endpoints_check_env(bsup_endpoints_getenv_fn getenv_fn, void *getenv_ctx,
                             struct bsup_diag *diag)
{
    char name[128];
    bool ignore = false, flag = false;
    int rc;
    if ((rc = s_env_bool(getenv_fn, getenv_ctx, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", &ignore,
                         diag)) ||
        (rc = s_env_bool(getenv_fn, getenv_ctx, "AWS_USE_FIPS_ENDPOINT", &flag, diag)) ||
        (rc = s_env_bool(getenv_fn, getenv_ctx, "AWS_USE_DUALSTACK_ENDPOINT", &flag, diag)))
        return rc;
    if (ignore)
        return 0; /* never read, so never in the way */
    for (size_t i = 0; i <= BSUP_AWS_SERVICE_COUNT; i++) {
        if (i == BSUP_AWS_SERVICE_COUNT)
            snprintf(name, sizeof(name), "AWS_ENDPOINT_URL");
        else if ((rc = bsup_endpoints_env_name(&s_services[i], name, sizeof(name))))
            return rc;
        const char *url = s_env(getenv_fn, getenv_ctx, name);
        const char *why = url ? bsup_endpoints_url_problem(url) : NULL;
        if (why)
            return bsup_diag_set(diag, BSUP_ECONFIG, "%s: \"%s\" %s", name, url, why);
    }
    return 0;
}
