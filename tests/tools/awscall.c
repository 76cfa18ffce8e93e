/* awscall SERVICE ACTION [Name=Value ...]: signed calls through bsup's AWS client, with the
 * normal credential chain and endpoint rules. Prints the parsed response as JSON; exits 0 on
 * success, 1 with the AWS error code and message on failure, 2 on a usage error.
 * Options for tests: --concurrent N (N identical calls at once), --count N --interval-ms MS
 * (N rounds, MS apart), --rate N (pace every API family at N/s, burst N), --stats (engine
 * and client figures as JSON on stderr).
 * A debugging tool built with the tests; not installed. */
#include "daemon/aws/client.h"
#include "daemon/http/engine.h"
#include "daemon/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct s_state {
    struct bsup_http_engine engine;
    struct bsup_aws_client client;
    uv_timer_t round_timer;
    const char *service;
    const char *action;
    struct bsup_aws_params params;
    json_t *json;
    unsigned flags;
    int concurrent;
    int rounds_left;
    int interval_ms;
    int pending;
    int ok;
    int failed;
    int exit_code;
    bool stats;
};

static void on_client_closed(void *user)
{
    struct s_state *st = user;
    const struct bsup_aws_client *c = &st->client;
    if (st->stats) {
        struct bsup_http_stats hs;
        bsup_http_engine_stats(&st->engine, &hs);
        struct bsup_retry_stats rs = {0};
        for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++) {
            rs.retries += c->services[i].stats.retries;
            rs.throttles += c->services[i].stats.throttles;
        }
        fprintf(stderr,
                "{\"calls_ok\":%d,\"calls_failed\":%d,\"http_requests\":%llu,"
                "\"connections_opened\":%llu,\"peak_in_flight\":%u,\"credential_resolutions\":"
                "%llu,\"retries\":%llu,\"throttles\":%llu}\n",
                st->ok, st->failed, (unsigned long long)hs.requests_started,
                (unsigned long long)hs.connections_opened, hs.peak_in_flight,
                (unsigned long long)c->creds.resolutions, (unsigned long long)rs.retries,
                (unsigned long long)rs.throttles);
    }
    bsup_http_engine_close(&st->engine, NULL, NULL);
}

static void s_finish(struct s_state *st)
{
    uv_close((uv_handle_t *)&st->round_timer, NULL);
    bsup_aws_client_close(&st->client, on_client_closed, st);
}

static void s_round(struct s_state *st);

static void on_round_timer(uv_timer_t *t)
{
    s_round(t->data);
}

static void on_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_state *st = user;
    if (res->err == 0) {
        st->ok++;
        if (st->concurrent == 1) {
            json_t *out =
                json_array_size(res->pages) == 1 ? json_array_get(res->pages, 0) : res->pages;
            json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            fputc('\n', stdout);
        }
    } else {
        st->failed++;
        fprintf(stderr, "%s: %s\n",
                res->err == BSUP_EAWS ? res->error.code : bsup_err_name(res->err), res->message);
        st->exit_code = 1;
    }
    fprintf(stderr, "attempts=%d latency_ms=%lld\n", res->attempts, (long long)res->latency_ms);
    if (--st->pending > 0)
        return;
    if (st->rounds_left > 0)
        uv_timer_start(&st->round_timer, on_round_timer, (uint64_t)st->interval_ms, 0);
    else
        s_finish(st);
}

static void s_round(struct s_state *st)
{
    st->rounds_left--;
    for (int i = 0; i < st->concurrent; i++) {
        int rc = bsup_aws_call(&st->client, st->service, st->action, &st->params, st->json,
                               st->flags, on_done, st, NULL);
        if (rc) {
            const struct bsup_aws_service_state *s = NULL;
            for (int j = 0; j < BSUP_AWS_SERVICE_COUNT; j++)
                if (strcmp(st->client.services[j].info->name, st->service) == 0)
                    s = &st->client.services[j];
            fprintf(stderr, "awscall: %s %s: %s\n", st->service, st->action,
                    s && s->resolve_rc     ? s->resolve_error.message
                    : rc == BSUP_ENOTFOUND ? "unknown service or action"
                                           : bsup_strerror(rc));
            st->exit_code = 2;
            break;
        }
        st->pending++;
    }
    if (st->pending == 0)
        s_finish(st);
}

int main(int argc, char **argv)
{
    static struct s_state st = {.exit_code = 0, .concurrent = 1, .rounds_left = 1};
    struct bsup_aws_client_options opts = {0};
    int i = 1, rate = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--all-pages") == 0)
            st.flags |= BSUP_AWS_ALL_PAGES;
        else if (strcmp(argv[i], "--stats") == 0)
            st.stats = true;
        else if (strcmp(argv[i], "--concurrent") == 0 && i + 1 < argc)
            st.concurrent = atoi(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            st.rounds_left = atoi(argv[++i]);
        else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc)
            st.interval_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            rate = atoi(argv[++i]);
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            opts.timeout_ms = (uint32_t)atoi(argv[++i]);
        else
            break;
    }
    if (argc - i < 2 || st.concurrent < 1 || st.rounds_left < 1) {
        fprintf(stderr,
                "usage: awscall [--all-pages] [--stats] [--concurrent N] [--count N "
                "--interval-ms MS] [--rate N] [--timeout-ms MS] SERVICE ACTION [Name=Value ...]\n"
                "  nested parameters use the Query names: "
                "AutoScalingGroupNames.member.1=api\n");
        return 2;
    }
    st.service = argv[i];
    st.action = argv[i + 1];
    bsup_log_init();
    if (getenv("BSUP_LOG_LEVEL"))
        bsup_log_set_level((enum bsup_log_level)bsup_log_level_parse(getenv("BSUP_LOG_LEVEL")));
    st.json = json_object();
    for (i += 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "awscall: %s: expected Name=Value\n", argv[i]);
            return 2;
        }
        *eq = 0;
        bsup_aws_params_add(&st.params, argv[i], eq + 1);
        json_object_set_new(st.json, argv[i], json_string(eq + 1));
    }
    for (int f = 0; rate > 0 && f < BSUP_API_FAMILY_COUNT; f++)
        opts.burst[f] = opts.rate_per_s[f] = rate;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bsup_diag diag = {0};
    if (bsup_http_engine_init(&st.engine, &loop, NULL) ||
        bsup_aws_client_init(&st.client, &loop, &st.engine, &opts, &diag)) {
        fprintf(stderr, "awscall: cannot start: %s\n", diag.message);
        return 2;
    }
    uv_timer_init(&loop, &st.round_timer);
    st.round_timer.data = &st;
    s_round(&st);
    uv_run(&loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&loop);
    bsup_aws_params_cleanup(&st.params);
    json_decref(st.json);
    bsup_http_global_cleanup();
    uv_library_shutdown(); /* the thread pool's threads exit before the process does */
    if (closed != 0) {
        fprintf(stderr, "awscall: handles left open\n");
        return 2;
    }
    return st.exit_code;
}
