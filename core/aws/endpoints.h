/* The AWS services' endpoint data (one row per BSUP_AWS_SERVICE_MAP entry, core/aws/services.h)
 * and endpoint resolution as the SDKs do it. Pure: the environment is read through a callback. */
#ifndef BSUP_CORE_AWS_ENDPOINTS_H
#define BSUP_CORE_AWS_ENDPOINTS_H

#include "core/aws/services.h"
#include "core/base/error.h"

#include <stddef.h>

struct bsup_endpoint_service {
    enum bsup_aws_service_id id;
    const char *name;            /* ours, as in config and logs: "autoscaling", "elbv2" */
    const char *service_id;      /* botocore metadata.serviceId: "Auto Scaling" */
    const char *endpoint_prefix; /* metadata.endpointPrefix: "autoscaling" */
    const char *signing_name;    /* metadata.signingName, else endpointPrefix */
};
/* Protocol, API version and JSON target live with the shapes in core/aws/model.h; the two
 * tables meet on endpoint_prefix. */

/* The row for id, or NULL when out of range. */
const struct bsup_endpoint_service *bsup_endpoints_service(enum bsup_aws_service_id id);
/* The row whose name is our name (e.g. "elbv2"), or NULL. */
const struct bsup_endpoint_service *bsup_endpoints_service_by_name(const char *name);
/* "AWS_ENDPOINT_URL_" + serviceId upper-cased, spaces as '_' into out. 0 or BSUP_ETOOBIG. */
int bsup_endpoints_env_name(const struct bsup_endpoint_service *svc, char *out, size_t out_size);

/* Whether url is acceptable as a custom endpoint (http:// or https://, the core/base/url.h
 * rules, no query or fragment): NULL, or a phrase that completes "URL ...". */
const char *bsup_endpoints_url_problem(const char *url);

/* Reads one environment variable (NULL when unset). Tests pass a table; bsupd passes getenv. */
typedef const char *(*bsup_endpoints_getenv_fn)(void *ctx, const char *name);

struct bsup_endpoint {
    char scheme[8];      /* "https" or "http" */
    char host[256];      /* host, with ":port" when one was given */
    char base_path[256]; /* "" or "/prefix" (no trailing slash) from a custom URL */
    char signing_region[64];
    char signing_name[64];
    char source[64]; /* where it came from: the variable name, "endpoint_url", "default" */
};

/* Resolves the endpoint of svc. Order: AWS_ENDPOINT_URL_<SERVICE_ID>, then configured_url (the
 * service's endpoint_url from bsup config, may be NULL), then AWS_ENDPOINT_URL, then the default
 * https://<prefix>.<region>.<dns suffix> with AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT.
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the first three. region NULL or "" falls back
 * to AWS_REGION, then AWS_DEFAULT_REGION. Errors (BSUP_ECONFIG) name the offending variable
 * in diag (may be NULL). */
int bsup_endpoints_resolve(const struct bsup_endpoint_service *svc, const char *region,
                           const char *configured_url, bsup_endpoints_getenv_fn getenv_fn,
                           void *getenv_ctx, struct bsup_endpoint *out, struct bsup_diag *diag);

/* Checks once what resolve reads from the environment for every service: the boolean switches,
 * AWS_ENDPOINT_URL and each AWS_ENDPOINT_URL_<SERVICE_ID> (unless ignored). 0, or BSUP_ECONFIG
 * with diag naming the variable. The region is not checked here. */
int bsup_endpoints_check_env(bsup_endpoints_getenv_fn getenv_fn, void *getenv_ctx,
                             struct bsup_diag *diag);

#endif
