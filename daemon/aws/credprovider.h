/* Credentials for the AWS client: runs the SDK-order chain (core/aws/chain.h) on the loop,
 * performing its container/IMDS/STS requests through the HTTP engine and its credential_process
 * with daemon/aws/process.h, keeps the result, and
 * refreshes temporary credentials in the background before they expire, so requests never
 * stall on a refresh. Secrets never reach a log. */
#ifndef BSUP_DAEMON_AWS_CREDPROVIDER_H
#define BSUP_DAEMON_AWS_CREDPROVIDER_H

#include "core/aws/chain.h"
#include "core/aws/credentials.h"
#include "core/base/random.h"
#include "daemon/aws/process.h"
#include "daemon/close.h"
#include "daemon/http/engine.h"

#include <stdbool.h>
#include <uv.h>

/* Called when a resolution the caller waited for ends: creds NULL with diag on failure. */
typedef void (*bsup_credprovider_fn)(void *user, const struct bsup_aws_credentials *creds,
                                     const struct bsup_diag *diag);

struct bsup_credprovider_waiter;

struct bsup_credprovider {
    uv_loop_t *loop;
    struct bsup_http_engine *engine;
    bsup_aws_getenv_fn *getenv_fn;
    void *getenv_ctx;
    char *region;           /* for STS (web identity, assume role); NULL: the chain's rules */
    char *sts_endpoint_url; /* bsupd.yaml endpoint_urls.sts, or NULL */
    struct bsup_aws_credentials creds; /* last good; valid while creds.access_key_id */
    struct bsup_aws_chain *chain;      /* a resolution in progress */
    struct bsup_http_call *call;       /* its request in flight */
    struct bsup_process *proc;         /* or its credential_process running */
    uv_timer_t timer;                  /* step delays, and the refresh before expiry */
    struct bsup_credprovider_waiter *waiters;
    struct bsup_diag last_error; /* why the last resolution failed; cleared by a success */
    int64_t last_error_at_s;     /* when it failed; 0 with no failure */
    int64_t resolving_since_s;   /* when the resolution in progress began; 0: none runs */
    char asking[16]; /* the provider it waits for ("container", "imds", "sts", "process"), or "" */
    struct bsup_random rng;                         /* refresh jitter */
    uint64_t resolutions;                           /* the number of the current credentials */
    const struct bsup_aws_chain_step *pending_step; /* a step waiting for its delay */
    bool timer_for_step;
    bool timer_closed;
    bool closing;
    bsup_close_fn close_cb;
    void *close_user;
};

/* region and sts_endpoint_url (both may be NULL) are copied: STS's endpoint, resolved as for
 * every service. */
int bsup_credprovider_init(struct bsup_credprovider *cp, uv_loop_t *loop,
                           struct bsup_http_engine *engine, bsup_aws_getenv_fn *getenv_fn,
                           void *getenv_ctx, const char *region, const char *sts_endpoint_url);
/* Credentials valid now (with a margin), or NULL: then call bsup_credprovider_wait. */
const struct bsup_aws_credentials *bsup_credprovider_current(struct bsup_credprovider *cp);
/* Starts a resolution if none runs and calls cb (never inside this call) when it ends. */
int bsup_credprovider_wait(struct bsup_credprovider *cp, bsup_credprovider_fn cb, void *user);
/* AWS refused the credentials of resolution number `resolution` (code: its error code): when
 * they are still the current ones they are dropped, so the next call runs the chain again and
 * picks up keys rotated in the shared files (or a container's new ones). */
void bsup_credprovider_refused(struct bsup_credprovider *cp, uint64_t resolution, const char *code);
/* Cancels what runs, fails the waiters with BSUP_ECANCELED, wipes the secrets; cb(user) runs
 * once every handle is closed, never inside this call (daemon/close.h). */
void bsup_credprovider_close(struct bsup_credprovider *cp, bsup_close_fn cb, void *user);
/* The environment as the chain sees it, with HOME from the password database when unset. */
const char *bsup_credprovider_getenv(void *ctx, const char *name);

#endif
