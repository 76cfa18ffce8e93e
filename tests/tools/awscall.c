/* awscall SERVICE ACTION [Name=Value ...]: one signed call through bsup's AWS client, with the
 * normal credential chain and endpoint rules. Prints the parsed response as JSON; exits 0 on
 * success, 1 with the AWS error code and message on failure, 2 on a usage error.
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
    int exit_code;
};

static void on_engine_closed(struct bsup_http_engine *e, void *user)
{
    (void)e;
    (void)user;
}

static void on_client_closed(struct bsup_aws_client *c)
{
    struct s_state *st = (struct s_state *)((char *)c - offsetof(struct s_state, client));
    bsup_http_engine_shutdown(&st->engine, on_engine_closed, st);
}

static void on_done(struct bsup_aws_call *call, const struct bsup_aws_result *res, void *user)
{
    (void)call;
    struct s_state *st = user;
    if (res->err == 0) {
        json_t *out = json_array_size(res->pages) == 1 ? json_array_get(res->pages, 0) : res->pages;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        st->exit_code = 0;
    } else if (res->err == BSUP_EAWS) {
        fprintf(stderr, "%s: %s\n", res->error.code, res->message);
        st->exit_code = 1;
    } else {
        fprintf(stderr, "%s: %s\n", bsup_err_name(res->err), res->message);
        st->exit_code = 1;
    }
    fprintf(stderr, "attempts=%d latency_ms=%lld\n", res->attempts, (long long)res->latency_ms);
    bsup_aws_client_close(&st->client, on_client_closed);
}

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: awscall SERVICE ACTION [--all-pages] [Name=Value ...]\n"
                        "  Query names for nested parameters: "
                        "AutoScalingGroupNames.member.1=api\n");
        return 2;
    }
    bsup_log_init();
    if (getenv("BSUP_LOG_LEVEL"))
        bsup_log_set_level((enum bsup_log_level)bsup_log_level_parse(getenv("BSUP_LOG_LEVEL")));
    static struct s_state st = {.exit_code = 1};
    struct bsup_aws_params params = {0};
    json_t *json = json_object();
    unsigned flags = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--all-pages") == 0) {
            flags |= BSUP_AWS_ALL_PAGES;
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "awscall: %s: expected Name=Value\n", argv[i]);
            return 2;
        }
        *eq = 0;
        bsup_aws_params_add(&params, argv[i], eq + 1);
        json_object_set_new(json, argv[i], json_string(eq + 1));
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bsup_diag diag = {0};
    if (bsup_http_engine_init(&st.engine, &loop, NULL) ||
        bsup_aws_client_init(&st.client, &loop, &st.engine, NULL, &diag)) {
        fprintf(stderr, "awscall: cannot start: %s\n", diag.message);
        return 2;
    }
    int rc = bsup_aws_call(&st.client, argv[1], argv[2], &params, json, flags, on_done, &st, NULL);
    bsup_aws_params_cleanup(&params);
    json_decref(json);
    if (rc) {
        const struct bsup_aws_service_state *s = NULL;
        for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++)
            if (strcmp(st.client.services[i].info->name, argv[1]) == 0)
                s = &st.client.services[i];
        fprintf(stderr, "awscall: %s %s: %s\n", argv[1], argv[2],
                s && s->resolve_rc     ? s->resolve_error.message
                : rc == BSUP_ENOTFOUND ? "unknown service or action"
                                       : bsup_strerror(rc));
        bsup_aws_client_close(&st.client, on_client_closed);
        st.exit_code = 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "awscall: handles left open\n");
    bsup_http_global_cleanup();
    return st.exit_code;
}
