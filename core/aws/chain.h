/* The AWS default credential chain as a pure state machine: it decides which provider
 * applies (environment, shared files with AWS_PROFILE, web identity, container, IMDSv2; STS
 * for web identity and roles; a profile's credential_process), asks its driver to perform the
 * HTTP requests and run the processes it needs, and parses the answers. No network I/O here: the
 * daemon's HTTP engine performs the steps; the tests replay recorded traffic.
 *
 * Driving it (the contract for the daemon side):
 *
 *     struct bsup_aws_chain *chain;
 *     bsup_aws_chain_new(&opts, &chain);
 *     const struct bsup_aws_chain_response *resp = NULL;
 *     for (;;) {
 *         const struct bsup_aws_chain_step *step;
 *         rc = bsup_aws_chain_next(chain, resp, &step, &creds, &diag);
 *         if (rc < 0) break;                    // failed: diag.message says what was tried
 *         if (!step) break;                     // creds resolved (caller owns, cleanup)
 *         wait step->delay_ms, then send step->request (or run step->argv) with step->timeout_ms;
 *         resp = {status, body, body_len}       // status 0: no response (connect error,
 *     }                                         // timeout, body over max_response_bytes)
 *     bsup_aws_chain_free(chain);
 *
 * One chain resolves once; build a new one for each refresh. The step (and its headers, which
 * carry tokens) stays valid until the next call; never log header values. Response bodies
 * hold secrets: the caller wipes its own buffers after bsup_aws_chain_next returns.
 * Messages in diag never contain secrets. */
#ifndef BSUP_CORE_AWS_CHAIN_H
#define BSUP_CORE_AWS_CHAIN_H

#include "core/aws/credentials.h"
#include "core/aws/profile.h"
#include "core/aws/request.h"
#include "core/base/error.h"

#include <stddef.h>
#include <stdint.h>

#define BSUP_AWS_CHAIN_ECS_HOST "169.254.170.2"
#define BSUP_AWS_CHAIN_IMDS_IPV4 "http://169.254.169.254"
#define BSUP_AWS_CHAIN_IMDS_IPV6 "http://[fd00:ec2::254]"
#define BSUP_AWS_CHAIN_IMDS_TOKEN_TTL_S 21600
/* Attempts per request for answers worth retrying (no response, HTTP 5xx). */
#define BSUP_AWS_CHAIN_MAX_ATTEMPTS 3

struct bsup_aws_chain_options {
    bsup_aws_getenv_fn *getenv_fn; /* required */
    void *getenv_ctx;
    bsup_aws_read_file_fn *read_file_fn; /* NULL: bsup_aws_profile_read_file */
    void *read_file_ctx;
    const char *imds_endpoint_override; /* e.g. from bsupd.yaml; NULL: env, then profile */
    const char *imds_mode_override;     /* "IPv4" / "IPv6"; NULL: env, then profile */
    /* STS (web identity, assume role): the region (NULL: AWS_REGION, AWS_DEFAULT_REGION, the
     * selected profile's region) and bsupd.yaml's endpoint_urls.sts (NULL: none); the endpoint
     * is resolved as for every service (core/aws/endpoints.h). */
    const char *region;
    const char *sts_endpoint_url;
    /* The clock that signs AssumeRole and names sessions (Unix seconds); NULL: time(). */
    int64_t (*now_fn)(void *ctx);
    void *now_ctx;
};

/* Credential process: the whole run, after which the driver kills it (SIGKILL). */
#define BSUP_AWS_CHAIN_PROCESS_TIMEOUT_MS 60000

enum bsup_aws_chain_step_kind {
    BSUP_AWS_CHAIN_STEP_HTTP,    /* send request */
    BSUP_AWS_CHAIN_STEP_PROCESS, /* run argv: no shell, stdin /dev/null, stdout captured, stderr
                                  * discarded (it may hold secrets), the environment inherited */
};

/* One HTTP request or one process the driver must perform. */
struct bsup_aws_chain_step {
    enum bsup_aws_chain_step_kind kind;
    struct bsup_aws_request request; /* method, scheme, host, path, query, headers, body (STS:
                                      * a form that may hold the web identity token: a secret) */
    char *url;                       /* the same request as one URL (no secrets in it) */
    char **argv;                     /* PROCESS: the program (looked up in PATH) and its
                                      * arguments, NULL-terminated */
    uint32_t timeout_ms;             /* whole request, or the process's whole run */
    uint32_t delay_ms;               /* wait before sending (retry backoff) */
    size_t max_response_bytes;       /* a longer body (or stdout) is a failure (status 0) */
    const char *provider;            /* "container", "imds", "sts" or "process", for logs */
};

/* The outcome of the last step. HTTP: status 0 when no response was received. PROCESS: error
 * set when it did not exit by itself (could not start, killed by a signal, timed out, printed
 * more than max_response_bytes), else status is its exit status; body is its stdout. */
struct bsup_aws_chain_response {
    int status;
    const char *body;
    size_t body_len;
    const char *error; /* status 0 (or a process): why (the transport's error text), or NULL */
};

struct bsup_aws_chain;

/* 0 or BSUP_EINVAL (no getenv_fn) / BSUP_ENOMEM. */
int bsup_aws_chain_new(const struct bsup_aws_chain_options *opts, struct bsup_aws_chain **out);
/* Frees and wipes tokens; accepts NULL. */
void bsup_aws_chain_free(struct bsup_aws_chain *chain);

/* Advances the chain. response: NULL on the first call, then the outcome of the step the
 * previous call returned. Returns 0 with *out_step set (perform it and call again), 0 with
 * *out_step NULL and *out_creds filled (caller owns them), or a negative code with diag set:
 * BSUP_ECREDENTIALS when no provider had credentials or a provider failed, BSUP_ECONFIG when
 * the configuration is invalid or asks for a provider this version does not support.
 * After a negative return or resolved credentials, further calls return BSUP_EINVAL. */
int bsup_aws_chain_next(struct bsup_aws_chain *chain,
                        const struct bsup_aws_chain_response *response,
                        const struct bsup_aws_chain_step **out_step,
                        struct bsup_aws_credentials *out_creds, struct bsup_diag *diag);

/* The container credentials URL from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (wins) or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback, ECS or EKS address).
 * 0 with a malloc'd *out_url, BSUP_ENOTFOUND when neither is set, BSUP_ECONFIG when invalid
 * (diag set). */
int bsup_aws_chain_container_url(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx, char **out_url,
                                 struct bsup_diag *diag);

/* The IMDS base URL (no trailing '/'): endpoint_override, AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * the profile's ec2_metadata_service_endpoint, else by mode (mode_override,
 * AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE, ec2_metadata_service_endpoint_mode; IPv4 default).
 * profile may be NULL. 0 with a malloc'd *out_endpoint, or BSUP_ECONFIG with diag set. */
int bsup_aws_chain_imds_endpoint(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                                 const struct bsup_aws_profile *profile,
                                 const char *endpoint_override, const char *mode_override,
                                 char **out_endpoint, struct bsup_diag *diag);

#endif
