/* The reconcile driver with a domain it has never seen: a fake "target-group path" resource
 * kind registered only here. Against a stub AWS on loopback it must batch (keys shared,
 * batch_max per call, a failed batch split one key per call), spend the API family's budget,
 * journal exactly what it sends, gate with the rails, fail closed when the store fails, and
 * answer joined waiters. Nothing in the driver knows this domain. */
#include "tests/lib/testlib.h"

#include "core/aws/results.h"
#include "core/reconcile/domain.h"
#include "daemon/aws/client.h"
#include "daemon/http/engine.h"
#include "daemon/reconcile.h"
#include "store/events.h"
#include "store/journal.h"
#include "store/outbox.h"
#include "tests/lib/httpd.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the fake domain: a target group's health-check path is "/health/<name>" ---- */

struct s_tg_obs {
    bool found;
    char arn[256];
    char path[128];
    int64_t health_at; /* when the paced step last read its health; 0 never */
    char refused[64];  /* the owned variant: AWS refused its change ("code: message") */
};

static int s_tg_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    bsup_service_resource_name(m->desired, "target_group", key, BSUP_DOMAIN_KEY_MAX);
    return 1;
}

static int s_tg_build(struct bsup_domain_member *const *m, size_t n, struct bsup_aws_params *out)
{
    char key[BSUP_DOMAIN_KEY_MAX], last[BSUP_DOMAIN_KEY_MAX] = "";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        s_tg_prepare(m[i], key);
        if (strcmp(key, last) == 0)
            continue; /* members sharing a key are adjacent */
        snprintf(last, sizeof(last), "%s", key);
        int rc = bsup_aws_params_addf(out, key, "Names.member.%zu", ++k);
        if (rc)
            return rc;
    }
    return 0;
}

static int s_tg_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                      struct bsup_diag *diag)
{
    char key[BSUP_DOMAIN_KEY_MAX];
    size_t pi;
    json_t *page;
    json_array_foreach(pages, pi, page)
    {
        struct bsup_elb_target_group_page pg = {0};
        if (bsup_elb_target_group_page_parse(page, &pg)) {
            bsup_elb_target_group_page_cleanup(&pg);
            return bsup_diag_set(diag, BSUP_EPROTO, "cannot read DescribeTargetGroups");
        }
        for (size_t g = 0; g < pg.n_groups; g++) {
            for (size_t i = 0; i < n; i++) {
                s_tg_prepare(m[i], key);
                if (strcmp(key, pg.groups[g].name) != 0)
                    continue;
                struct s_tg_obs *o = m[i]->obs;
                o->found = true;
                snprintf(o->arn, sizeof(o->arn), "%s", pg.groups[g].arn);
                snprintf(o->path, sizeof(o->path), "%s", pg.groups[g].health_check_path);
            }
        }
        bsup_elb_target_group_page_cleanup(&pg);
    }
    return 0;
}

static int s_tg_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    const struct s_tg_obs *o = obs;
    char name[BSUP_DOMAIN_KEY_MAX], resource[BSUP_DOMAIN_KEY_MAX + 16],
        want[BSUP_DOMAIN_KEY_MAX + 16];
    bsup_service_resource_name(desired, "target_group", name, sizeof(name));
    snprintf(resource, sizeof(resource), "targetgroup/%s", name);
    if (!o->found)
        return bsup_plan_add(plan, BSUP_ACTION_MISSING, resource) ? 0 : BSUP_ENOMEM;
    snprintf(want, sizeof(want), "/health/%s", name);
    if (strcmp(o->path, want) == 0)
        return 0;
    /* "/stale": a finding only the paced step's reading judges (none before it comes). */
    if (strcmp(o->path, "/stale") == 0) {
        struct bsup_action *f =
            o->health_at ? bsup_plan_add(plan, BSUP_ACTION_FINDING, resource) : NULL;
        if (o->health_at && !f)
            return BSUP_ENOMEM;
        if (f)
            bsup_action_change(f, "Health", "stale", "fresh", "the test says so");
        return 0;
    }
    /* Two words of this test's own: a path of "/degraded" means the resource serves below its
     * floor (with a finding first, which the state's event does not list); "/finding" is a
     * posture finding bsupd only reports. */
    if (strcmp(o->path, "/degraded") == 0 || strcmp(o->path, "/finding") == 0) {
        bool degraded = strcmp(o->path, "/degraded") == 0;
        struct bsup_action *p =
            degraded ? bsup_plan_add(plan, BSUP_ACTION_FINDING, resource) : NULL;
        if (degraded && !p)
            return BSUP_ENOMEM;
        if (p)
            bsup_action_change(p, "Aside", "x", "y", "the test says so");
        struct bsup_action *f =
            bsup_plan_add(plan, degraded ? BSUP_ACTION_DEGRADED : BSUP_ACTION_FINDING, resource);
        if (!f)
            return BSUP_ENOMEM;
        bsup_action_change(f, degraded ? "HealthyTargets" : "Posture", o->path, "fine",
                           "the test says so");
        return 0;
    }
    if (o->refused[0]) { /* the owned variant: refused this cycle, a finding instead */
        struct bsup_action *f = bsup_plan_add(plan, BSUP_ACTION_FINDING, resource);
        if (!f)
            return BSUP_ENOMEM;
        bsup_action_change(f, "Refused", o->refused, "accepted", "the test says so");
        return 0;
    }
    struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_UPDATE, resource);
    if (!a)
        return BSUP_ENOMEM;
    bsup_action_change(a, "HealthCheckPath", o->path, want, "the test says so");
    return 0;
}

static int s_tg_request(const struct bsup_service *desired, const void *obs,
                        const struct bsup_action *a, const char **out_action,
                        struct bsup_aws_params *out)
{
    (void)desired;
    const struct s_tg_obs *o = obs;
    *out_action = "ModifyTargetGroup";
    int rc = bsup_aws_params_add(out, "TargetGroupArn", o->arn);
    return rc ? rc : bsup_aws_params_add(out, "HealthCheckPath", a->changes[0].desired);
}

static void s_tg_applied(void *obs, const struct bsup_action *a)
{
    struct s_tg_obs *o = obs;
    snprintf(o->path, sizeof(o->path), "%s", a->changes[0].desired);
}

/* A paced step (DescribeTargetHealth, one group per call): a group with drift first, then the
 * ones never read, then the longest unread; what is not read this time is carried forward. */
static int s_health_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    struct s_tg_obs *o = m->obs;
    const struct s_tg_obs *prev = m->prev;
    if (!o->found)
        return 0;
    o->health_at = prev ? prev->health_at : 0;
    s_tg_prepare(m, key);
    char want[BSUP_DOMAIN_KEY_MAX + 16];
    snprintf(want, sizeof(want), "/health/%s", key);
    if (strcmp(o->path, want) != 0)
        return 100;
    if (!o->health_at)
        return 50;
    int64_t age = m->now_s - o->health_at;
    return 1 + (int)(age < 40 ? age : 40);
}

static int s_health_build(struct bsup_domain_member *const *m, size_t n,
                          struct bsup_aws_params *out)
{
    (void)n;
    return bsup_aws_params_add(out, "TargetGroupArn", ((struct s_tg_obs *)m[0]->obs)->arn);
}

static int s_health_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                          struct bsup_diag *diag)
{
    (void)pages, (void)diag;
    for (size_t i = 0; i < n; i++)
        ((struct s_tg_obs *)m[i]->obs)->health_at = m[i]->now_s;
    return 0;
}

static bool s_tg_unjudged(const struct bsup_service *desired, const void *obs, const char *resource,
                          const char *field)
{
    (void)desired, (void)resource;
    const struct s_tg_obs *o = obs;
    return o->found && !o->health_at && strcmp(field, "Health") == 0;
}

static const struct bsup_field s_tg_fields[] = {
    {"found", BSUP_FIELD_BOOL, offsetof(struct s_tg_obs, found), NULL},
    {"path", BSUP_FIELD_STRING, offsetof(struct s_tg_obs, path), NULL},
};

/* DescribeTargetGroups refuses a whole call over one unknown name; alone, it is absent. */
static const char *const s_tg_absent[] = {"TargetGroupNotFound", NULL};

static const struct bsup_observe_step s_tg_steps[] = {
    {.service = "elbv2",
     .action = "DescribeTargetGroups",
     .batch_max = 2,
     .flags = BSUP_OBSERVE_ALL_PAGES,
     .absent_codes = s_tg_absent,
     .prepare = s_tg_prepare,
     .build = s_tg_build,
     .parse = s_tg_parse},
    /* Two groups per batch: 2.5 keys' worth of the 50/s budget over the one-day interval. */
    {.service = "elbv2",
     .action = "DescribeTargetHealth",
     .batch_max = 1,
     .budget_share = 2.5 / (50.0 * 86400.0),
     .prepare = s_health_prepare,
     .build = s_health_build,
     .parse = s_health_parse},
};

static const struct bsup_domain s_tg_domain = {
    .name = "tgpath",
    .resource = "target group",
    .obs_size = sizeof(struct s_tg_obs),
    .found_offset = offsetof(struct s_tg_obs, found),
    .fields = s_tg_fields,
    .n_fields = 2,
    .steps = s_tg_steps,
    .n_steps = 2,
    .plan = s_tg_plan,
    .request = s_tg_request,
    .mutate_service = "elbv2",
    .applied = s_tg_applied,
    .unjudged = s_tg_unjudged,
};

/* A second domain that reads the first one's fresh observation (after + peers) and calls
 * nothing: it must run once "tgpath" has finished all its steps. */
struct s_echo_obs {
    bool found;
    char path[128];
    int64_t health_at;
};

static int s_echo_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    (void)key;
    struct s_echo_obs *o = m->obs;
    const struct s_tg_obs *tg = m->peers[0];
    o->found = tg->found;
    snprintf(o->path, sizeof(o->path), "%s", tg->path);
    o->health_at = tg->health_at;
    return 0;
}

static int s_echo_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    (void)desired, (void)obs, (void)plan;
    return 0;
}

static const struct bsup_observe_step s_echo_steps[] = {
    {.service = "elbv2", .action = "DescribeTargetGroups", .prepare = s_echo_prepare},
};

static const struct bsup_domain s_echo_domain = {
    .name = "echo",
    .resource = "nothing",
    .obs_size = sizeof(struct s_echo_obs),
    .found_offset = offsetof(struct s_echo_obs, found),
    .steps = s_echo_steps,
    .n_steps = 1,
    .after = (const char *const[]){"tgpath", NULL},
    .plan = s_echo_plan,
};

/* A third domain, only in the tests that ask for it: a JSON-protocol step (Secrets Manager
 * DescribeSecret, its body built as JSON) whose "no such secret" answer is an observation,
 * not a failure. */
struct s_sec_obs {
    bool found;
    bool exists;
    char name[64];
    unsigned other_reads; /* answers of the two other steps */
};

static int s_sec_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "sec-%s", m->desired->service_name);
    ((struct s_sec_obs *)m->obs)->found = true;
    return 1;
}

/* The body of a one-secret call: the SecretId prepare names for the call's member. */
static int s_secret_json(struct bsup_domain_member *const *m, size_t n, json_t **out,
                         int (*prepare)(const struct bsup_domain_member *, char *))
{
    (void)n;
    char key[BSUP_DOMAIN_KEY_MAX];
    prepare(m[0], key);
    *out = json_pack("{s:s}", "SecretId", key);
    return *out ? 0 : BSUP_ENOMEM;
}

static int s_sec_build_json(struct bsup_domain_member *const *m, size_t n, json_t **out)
{
    return s_secret_json(m, n, out, s_sec_prepare);
}

static int s_sec_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                       struct bsup_diag *diag)
{
    (void)diag;
    struct bsup_secret_description d = {0};
    bool exists = json_array_size(pages) > 0 &&
                  bsup_secret_description_parse(json_array_get(pages, 0), &d) == 0;
    for (size_t i = 0; i < n; i++) {
        struct s_sec_obs *o = m[i]->obs;
        o->exists = exists;
        snprintf(o->name, sizeof(o->name), "%s", exists && d.name ? d.name : "");
    }
    bsup_secret_description_cleanup(&d);
    return 0;
}

static int s_sec_plan(const struct bsup_service *desired, const void *obs, struct bsup_plan *plan)
{
    (void)desired;
    const struct s_sec_obs *o = obs;
    if (o->exists)
        return 0;
    struct bsup_action *a = bsup_plan_add(plan, BSUP_ACTION_FINDING, "secret/test");
    if (!a)
        return BSUP_ENOMEM;
    bsup_action_change(a, "Secret", "absent", "exists", "the test says so");
    return 0;
}

/* Two more reads of the same kind, by other names: "alone-" needs no other step, so it goes
 * out with the first; "last-" needs both before it. */
static int s_alone_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "alone-%s", m->desired->service_name);
    return 1;
}

static int s_last_prepare(const struct bsup_domain_member *m, char key[BSUP_DOMAIN_KEY_MAX])
{
    snprintf(key, BSUP_DOMAIN_KEY_MAX, "last-%s", m->desired->service_name);
    return 1;
}

static int s_alone_build_json(struct bsup_domain_member *const *m, size_t n, json_t **out)
{
    return s_secret_json(m, n, out, s_alone_prepare);
}

static int s_last_build_json(struct bsup_domain_member *const *m, size_t n, json_t **out)
{
    return s_secret_json(m, n, out, s_last_prepare);
}

static int s_other_parse(const json_t *pages, struct bsup_domain_member *const *m, size_t n,
                         struct bsup_diag *diag)
{
    (void)pages, (void)diag;
    for (size_t i = 0; i < n; i++)
        ((struct s_sec_obs *)m[i]->obs)->other_reads++;
    return 0;
}

static const char *const s_sec_absent[] = {"ResourceNotFoundException", NULL};

static const struct bsup_observe_step s_sec_steps[] = {
    {.service = "secretsmanager",
     .action = "DescribeSecret",
     .batch_max = 1,
     .prepare = s_sec_prepare,
     .build_json = s_sec_build_json,
     .absent_codes = s_sec_absent,
     .parse = s_sec_parse},
    {.service = "secretsmanager",
     .action = "DescribeSecret",
     .batch_max = 1,
     .flags = BSUP_OBSERVE_NEEDS,
     .prepare = s_alone_prepare,
     .build_json = s_alone_build_json,
     .parse = s_other_parse},
    {.service = "secretsmanager",
     .action = "DescribeSecret",
     .batch_max = 1,
     .prepare = s_last_prepare,
     .build_json = s_last_build_json,
     .parse = s_other_parse},
};

static const struct bsup_domain s_sec_domain = {
    .name = "secret",
    .resource = "secret",
    .obs_size = sizeof(struct s_sec_obs),
    .found_offset = offsetof(struct s_sec_obs, found),
    .steps = s_sec_steps,
    .n_steps = 3,
    .plan = s_sec_plan,
};

/* The same domain keeping bsupd's own resources (as the alarms domain does): its changes are
 * owned, and AWS refusing one for good is what it observes. */
static bool s_tg_refused(struct bsup_domain_member *m, const struct bsup_action *a,
                         const char *code, const char *message)
{
    (void)a;
    struct s_tg_obs *o = m->obs;
    snprintf(o->refused, sizeof(o->refused), "%s: %s", code, message);
    return true;
}

static const struct bsup_domain_event s_tg_events[] = {
    {.kind = BSUP_ACTION_FINDING,
     .field = "Refused",
     .appeared = "alarm.refused",
     .cleared = "alarm.ok"},
    {0},
};

/* s_tg_domain with these (s_setup_owned). */
static struct bsup_domain s_tg_owned_domain;

static const struct bsup_domain *const s_domains[] = {&s_tg_domain, &s_echo_domain, &s_sec_domain};
static const struct bsup_domain *const s_owned_domains[] = {&s_tg_owned_domain, &s_echo_domain};
static size_t s_n_domains = 2; /* the secret domain only where a test asks for it */
static bool s_owned;           /* the owned variant of tgpath */

/* ---- a stub ELBv2 on loopback ---- */

#define S_GROUPS 5

struct s_aws {
    const char *names[S_GROUPS];
    char paths[S_GROUPS][128];
    unsigned describes;
    unsigned describe_names; /* names asked for, in all calls */
    unsigned modifies;
    json_t *last_modify;    /* the parameters of the last ModifyTargetGroup */
    char health_reads[256]; /* the groups DescribeTargetHealth was asked for, in order */
    /* answer the next ModifyTargetGroup with "500", "throttle" or "denied" (AccessDenied) */
    const char *modify_fault;
    unsigned secret_reads; /* DescribeSecret calls (JSON bodies) of "sec-" secrets */
    unsigned alone_reads;  /* of "alone-" secrets */
    unsigned last_reads;   /* of "last-" secrets */
    char secret_ids[256];  /* the SecretIds asked for, in order */
    bool hold_secret;      /* hold the answer to the next DescribeSecret found, into: */
    char held_answer[256];
    /* DescribeTargetGroups names ("a-prod,b-prod ") and the ends of batches ("| "), in order. */
    char log[512];
};

static void s_log(struct s_aws *aws, const char *text)
{
    size_t used = strlen(aws->log);
    snprintf(aws->log + used, sizeof(aws->log) - used, "%s", text);
}

/* Decodes one form value in place (%XX and '+'). */
static void s_form_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = 0;
}

static json_t *s_form(const char *body, size_t len)
{
    json_t *o = json_object();
    char *copy = strndup(body, len), *save = NULL;
    for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = 0;
        s_form_decode(eq + 1);
        json_object_set_new(o, kv, json_string(eq + 1));
    }
    free(copy);
    return o;
}

static int s_find_group(struct s_aws *aws, const char *name)
{
    for (int i = 0; i < S_GROUPS; i++)
        if (strcmp(aws->names[i], name) == 0)
            return i;
    return -1;
}

static char *s_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    assert_true(vasprintf(&out, fmt, ap) >= 0);
    va_end(ap);
    return out;
}

static int s_handler(struct bsup_test_httpd *srv, const char *method, const char *target,
                     const char *body, size_t body_len, int *out_status, char **out_body,
                     void *user)
{
    (void)srv, (void)method, (void)target;
    struct s_aws *aws = user;
    if (body_len && body[0] == '{') {
        /* Secrets Manager (JSON 1.1): every secret exists but sec-c's. */
        json_t *req = json_loadb(body, body_len, 0, NULL);
        const char *id = json_string_value(json_object_get(req, "SecretId"));
        bool sec = id && strncmp(id, "sec-", 4) == 0;
        aws->secret_reads += sec;
        aws->alone_reads += id && strncmp(id, "alone-", 6) == 0;
        aws->last_reads += id && strncmp(id, "last-", 5) == 0;
        size_t used = strlen(aws->secret_ids);
        snprintf(aws->secret_ids + used, sizeof(aws->secret_ids) - used, "%s%s", used ? " " : "",
                 id ? id : "?");
        int handled = 1;
        if (id && strcmp(id, "sec-c") != 0) {
            *out_status = 200;
            *out_body = s_printf("{\"ARN\":\"arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
                                 "%s-AbCdEf\",\"Name\":\"%s\",\"RotationEnabled\":true}",
                                 id, id);
        } else {
            *out_status = 400;
            *out_body = strdup("{\"__type\":\"ResourceNotFoundException\",\"message\":"
                               "\"Secrets Manager can't find the specified secret.\"}");
        }
        if (*out_status == 200 && sec && aws->hold_secret) { /* answered later, by the test */
            aws->hold_secret = false;
            snprintf(aws->held_answer, sizeof(aws->held_answer), "%s", *out_body);
            free(*out_body);
            *out_body = NULL;
            handled = 2;
        }
        json_decref(req);
        return handled;
    }
    json_t *form = s_form(body, body_len);
    const char *action = json_string_value(json_object_get(form, "Action"));
    const char *ns = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
    *out_status = 200;
    if (action && strcmp(action, "DescribeTargetGroups") == 0) {
        aws->describes++;
        char *members = strdup("");
        bool unknown = false;
        for (int k = 1;; k++) {
            char key[64];
            snprintf(key, sizeof(key), "Names.member.%d", k);
            const char *name = json_string_value(json_object_get(form, key));
            if (!name)
                break;
            aws->describe_names++;
            s_log(aws, k > 1 ? "," : "");
            s_log(aws, name);
            int g = s_find_group(aws, name);
            if (g < 0) {
                unknown = true;
                continue;
            }
            char *m = s_printf("%s<member><TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:"
                               "123456789012:targetgroup/%s/1</TargetGroupArn><TargetGroupName>%s"
                               "</TargetGroupName><HealthCheckPath>%s</HealthCheckPath></member>",
                               members, name, name, aws->paths[g]);
            free(members);
            members = m;
        }
        s_log(aws, " ");
        if (unknown) {
            *out_status = 400;
            *out_body = s_printf("<ErrorResponse xmlns=\"%s\"><Error><Type>Sender</Type><Code>"
                                 "TargetGroupNotFound</Code><Message>One or more target groups "
                                 "not found</Message></Error><RequestId>r-nf</RequestId>"
                                 "</ErrorResponse>",
                                 ns);
        } else {
            *out_body = s_printf("<DescribeTargetGroupsResponse xmlns=\"%s\"><DescribeTargetGroups"
                                 "Result><TargetGroups>%s</TargetGroups></DescribeTargetGroups"
                                 "Result><ResponseMetadata><RequestId>r-d</RequestId>"
                                 "</ResponseMetadata></DescribeTargetGroupsResponse>",
                                 ns, members);
        }
        free(members);
    } else if (action && strcmp(action, "DescribeTargetHealth") == 0) {
        const char *arn = json_string_value(json_object_get(form, "TargetGroupArn"));
        const char *name = arn ? strstr(arn, "targetgroup/") : NULL;
        size_t used = strlen(aws->health_reads);
        if (name)
            snprintf(aws->health_reads + used, sizeof(aws->health_reads) - used, "%s%.*s",
                     used ? " " : "", (int)strcspn(name + 12, "/"), name + 12);
        *out_body = s_printf("<DescribeTargetHealthResponse xmlns=\"%s\"><DescribeTargetHealth"
                             "Result><TargetHealthDescriptions/></DescribeTargetHealthResult>"
                             "<ResponseMetadata><RequestId>r-h</RequestId></ResponseMetadata>"
                             "</DescribeTargetHealthResponse>",
                             ns);
    } else if (action && strcmp(action, "ModifyTargetGroup") == 0 && aws->modify_fault) {
        aws->modifies++;
        bool throttle = strcmp(aws->modify_fault, "throttle") == 0;
        bool denied = strncmp(aws->modify_fault, "denied", 6) == 0; /* "denied[:Code]" */
        const char *code = !denied                       ? NULL
                           : aws->modify_fault[6] == ':' ? aws->modify_fault + 7
                                                         : "AccessDenied";
        aws->modify_fault = NULL;
        *out_status = throttle || denied ? 400 : 500;
        *out_body = s_printf("<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type><Code>%s</Code>"
                             "<Message>injected</Message></Error><RequestId>r-f</RequestId>"
                             "</ErrorResponse>",
                             ns, throttle || denied ? "Sender" : "Receiver",
                             denied     ? code
                             : throttle ? "Throttling"
                                        : "InternalFailure");
    } else if (action && strcmp(action, "ModifyTargetGroup") == 0) {
        aws->modifies++;
        const char *arn = json_string_value(json_object_get(form, "TargetGroupArn"));
        const char *name = arn ? strstr(arn, "targetgroup/") : NULL;
        char tg[128] = "";
        if (name)
            snprintf(tg, sizeof(tg), "%.*s", (int)strcspn(name + 12, "/"), name + 12);
        int g = s_find_group(aws, tg);
        const char *path = json_string_value(json_object_get(form, "HealthCheckPath"));
        if (g >= 0 && path)
            snprintf(aws->paths[g], sizeof(aws->paths[g]), "%s", path);
        json_object_del(form, "Action");
        json_object_del(form, "Version");
        json_decref(aws->last_modify);
        aws->last_modify = json_incref(form);
        *out_body = s_printf("<ModifyTargetGroupResponse xmlns=\"%s\"><ModifyTargetGroupResult>"
                             "<TargetGroups/></ModifyTargetGroupResult><ResponseMetadata>"
                             "<RequestId>r-m%u</RequestId></ResponseMetadata>"
                             "</ModifyTargetGroupResponse>",
                             ns, aws->modifies);
    } else {
        *out_status = 400;
        *out_body = strdup("unexpected action");
    }
    json_decref(form);
    return 1;
}

/* ---- the environment: store, HTTP engine, AWS client, engine ---- */

struct s_env {
    char *dir;
    uv_loop_t loop;
    struct bsup_test_httpd httpd;
    struct s_aws aws;
    json_t *env;
    struct bsup_settings settings;
    struct bsup_store *store;
    struct bsup_http_engine http;
    struct bsup_aws_client client;
    struct bsup_reconcile_engine *rec;
    bool paused;
    unsigned changes; /* on_change calls */
    int closed;
};

static const char *s_services[] = {"a", "b", "c", "d", "e", "f", "g"};

/* Every service of s_services but skip (NULL: none) into the store, as a reload does. */
/* The services but skip, one of them (extra_for) with extra lines. */
static void s_write_config_with(struct s_env *t, const char *skip, const char *extra_for,
                                const char *extra)
{
    struct bsup_config_set set;
    bsup_config_set_init(&set);
    for (size_t i = 0; i < sizeof(s_services) / sizeof(s_services[0]); i++) {
        if (skip && strcmp(s_services[i], skip) == 0)
            continue;
        char yaml[1024], file[32];
        /* e and f share one target group: one key, one slot in a call. */
        bool shared = strcmp(s_services[i], "e") == 0 || strcmp(s_services[i], "f") == 0;
        snprintf(yaml, sizeof(yaml),
                 "service_name: %s\nenvironment: prod\nvpc_id: vpc-0a1b2c3d\n"
                 "subnet_ids: [subnet-0a1b2c3d]\ndatabase_name: a\ndatabase_username: a\n"
                 "database_password: ssm:/a\nmode: enforce\n%s%s",
                 s_services[i], shared ? "resources: {target_group: shared-tg}\n" : "",
                 extra_for && strcmp(s_services[i], extra_for) == 0 ? extra : "");
        snprintf(file, sizeof(file), "%02zu-%s.yaml", i, s_services[i]);
        assert_int_equal(bsup_config_parse_buffer(&set, file, yaml, strlen(yaml)), 0);
    }
    assert_int_equal(set.n_errors, 0);
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_apply_config(t->store, &set, 1, NULL, &diag), 0);
    bsup_config_set_cleanup(&set);
}

static void s_write_config_but(struct s_env *t, const char *skip)
{
    s_write_config_with(t, skip, NULL, NULL);
}

static void s_write_config(struct s_env *t)
{
    s_write_config_but(t, NULL);
}

static void on_change(void *ctx)
{
    ((struct s_env *)ctx)->changes++;
    s_log(&((struct s_env *)ctx)->aws, "| ");
}

static size_t s_observing_max; /* 0: the engine's default */
static size_t s_turn_members;  /* 0: the engine's default */
static bool s_elbv2_dead;      /* ELBv2's endpoint a port where nothing listens */

static int s_setup(void **state)
{
    struct s_env *t = calloc(1, sizeof(*t));
    t->dir = bsup_test_mkdtemp();
    assert_int_equal(uv_loop_init(&t->loop), 0);
    /* g's group does not exist: it makes the batch holding it fail, and is missing. */
    const char *names[S_GROUPS] = {"a-prod", "b-prod", "c-prod", "d-prod", "shared-tg"};
    for (int i = 0; i < S_GROUPS; i++) {
        t->aws.names[i] = names[i];
        snprintf(t->aws.paths[i], sizeof(t->aws.paths[i]), "/health/%s", names[i]);
    }
    snprintf(t->aws.paths[1], sizeof(t->aws.paths[1]), "/wrong"); /* b drifts */
    assert_int_equal(bsup_test_httpd_start(&t->httpd, &t->loop), 0);
    t->httpd.handler = s_handler;
    t->httpd.user = &t->aws;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", t->httpd.port);
    t->env =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "AWS_ACCESS_KEY_ID", "AKIDEXAMPLE",
                  "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AWS_REGION",
                  "eu-west-1", "AWS_ENDPOINT_URL", url, "AWS_EC2_METADATA_DISABLED", "true",
                  "AWS_CONFIG_FILE", "/nonexistent/config", "AWS_SHARED_CREDENTIALS_FILE",
                  "/nonexistent/credentials");
    bsup_settings_init(&t->settings);
    t->settings.mode = BSUP_MODE_ENFORCE;
    t->settings.interval_s = 86400; /* nothing runs unless asked */
    t->settings.jitter_s = 0;
    t->settings.cooldown_s = 0;
    t->settings.fight_threshold = 2;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_open(t->dir, &t->store, &diag), 0);
    s_write_config(t);
    assert_int_equal(bsup_http_engine_init(&t->http, &t->loop, NULL), 0);
    /* A small ELBv2 describe budget: the batch must wait for tokens, never skip them. */
    struct bsup_aws_client_options o = {.region = "eu-west-1",
                                        .getenv_fn = bsup_test_json_getenv,
                                        .getenv_ctx = t->env,
                                        .max_attempts = 3,
                                        .seed = 1};
    o.burst[BSUP_API_ELBV2_DESCRIBE] = 1;
    o.rate_per_s[BSUP_API_ELBV2_DESCRIBE] = 50;
    char dead[64];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", bsup_test_free_port());
    if (s_elbv2_dead)
        o.endpoint_urls[BSUP_AWS_ELBV2] = dead;
    assert_int_equal(bsup_aws_client_init(&t->client, &t->loop, &t->http, &o, &diag), 0);
    struct bsup_reconcile_options ro = {.loop = &t->loop,
                                        .store = t->store,
                                        .aws = &t->client,
                                        .settings = &t->settings,
                                        .paused = &t->paused,
                                        .domains = s_owned ? s_owned_domains : s_domains,
                                        .n_domains = s_n_domains,
                                        .observing_max = s_observing_max,
                                        .turn_members = s_turn_members,
                                        .on_change = on_change,
                                        .ctx = t};
    assert_int_equal(bsup_reconcile_new(&ro, &t->rec, &diag), 0);
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    *state = t;
    return 0;
}

static void on_http_down(void *user)
{
    ((struct s_env *)user)->closed++;
}

static void on_client_closed(void *user)
{
    struct s_env *t = user;
    bsup_http_engine_close(&t->http, on_http_down, t);
}

static void on_rec_closed(void *user)
{
    struct s_env *t = user;
    t->rec = NULL;
    bsup_aws_client_close(&t->client, on_client_closed, t);
}

static int s_teardown(void **state)
{
    struct s_env *t = *state;
    bsup_reconcile_close(t->rec, on_rec_closed, t);
    while (t->closed == 0)
        uv_run(&t->loop, UV_RUN_ONCE);
    bsup_test_httpd_close(&t->httpd);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    bsup_store_close(t->store);
    bsup_settings_cleanup(&t->settings);
    json_decref(t->env);
    json_decref(t->aws.last_modify);
    bsup_test_rmtree(t->dir);
    free(t->dir);
    free(t);
    unsetenv("BSUP_FAILPOINT_ERROR");
    s_n_domains = 2;
    s_owned = false;
    s_observing_max = 0;
    s_turn_members = 0;
    s_elbv2_dead = false;
    return 0;
}

static int s_setup_observing_2(void **state)
{
    s_observing_max = 2;
    return s_setup(state);
}

static int s_setup_turns_of_2(void **state)
{
    s_turn_members = 2;
    return s_setup(state);
}

static int s_setup_elbv2_dead(void **state)
{
    s_elbv2_dead = true;
    return s_setup(state);
}

static int s_setup_owned(void **state)
{
    s_owned = true;
    s_tg_owned_domain = s_tg_domain;
    s_tg_owned_domain.owned_pace_action = "ModifyTargetGroup";
    s_tg_owned_domain.events = s_tg_events;
    s_tg_owned_domain.refused = s_tg_refused;
    return s_setup(state);
}

/* tgpath with its batched step marked whole (BSUP_OBSERVE_WHOLE). */
static int s_setup_whole(void **state)
{
    static struct bsup_observe_step steps[2];
    memcpy(steps, s_tg_steps, sizeof(steps));
    steps[0].flags |= BSUP_OBSERVE_WHOLE;
    s_owned = true; /* the variant slot */
    s_tg_owned_domain = s_tg_domain;
    s_tg_owned_domain.steps = steps;
    return s_setup(state);
}

static int s_setup_with_secrets(void **state)
{
    s_n_domains = 3;
    return s_setup(state);
}

static void on_done(void *ctx, bool cut_short)
{
    (void)cut_short;
    (*(int *)ctx)++;
}

/* One cycle of service (NULL: all), run to its end. */
static void s_cycle(struct s_env *t, const char *service)
{
    int done = 0;
    assert_int_equal(bsup_reconcile_now(t->rec, service, on_done, &done), 0);
    assert_int_equal(done, 0); /* never answered inside the call */
    while (!done)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(done, 1);
}

static enum bsup_state s_state(struct s_env *t, const char *service)
{
    struct bsup_reconcile_status st;
    assert_true(bsup_reconcile_service_status(t->rec, service, &st));
    return st.state;
}

#ifdef BSUP_FAILPOINTS
static bool s_healthy(struct s_env *t)
{
    struct bsup_reconcile_figures f;
    bsup_reconcile_figures(t->rec, &f);
    return f.healthy;
}
#endif

static size_t s_events(struct s_env *t, const char *service, const char *kind,
                       const char *contains);
static void s_restart(struct s_env *t);

static void test_batches_budget_journal(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, NULL);
    /* Keys a, b, c, d, g, shared-tg (e and f share it) by twos: 3 calls; the one holding the
     * unknown g fails and is split one key per call: 2 more. */
    assert_int_equal(t->aws.describes, 5);
    assert_int_equal(t->aws.describe_names, 6 + 2);
    assert_int_equal(t->client.attempts[BSUP_API_ELBV2_DESCRIBE], 5 + 2);
    assert_true(t->client.buckets[BSUP_API_ELBV2_DESCRIBE].waits > 0); /* burst 1: it waited */
    assert_int_equal(t->client.attempts[BSUP_API_ELBV2_MUTATE], 1);

    assert_int_equal(s_state(t, "a"), BSUP_STATE_OK);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_CORRECTED);
    assert_int_equal(s_state(t, "e"), BSUP_STATE_OK);
    assert_int_equal(s_state(t, "f"), BSUP_STATE_OK);
    /* The call AWS refused for g's unknown name, alone: g does not exist, it is missing (the
     * step names the error code that says so); a batch holding it failed only itself. */
    struct bsup_reconcile_status st;
    assert_true(bsup_reconcile_service_status(t->rec, "g", &st));
    assert_int_equal(st.state, BSUP_STATE_MISSING);
    assert_null(st.error);
    assert_int_equal(s_events(t, "g", "service.missing", "targetgroup/g-prod"), 1);
    /* The observation shows what AWS accepted. */
    struct s_tg_obs o;
    assert_true(bsup_reconcile_observation(t->rec, "b", 0, &o));
    assert_string_equal(o.path, "/health/b-prod");
    assert_int_equal(t->changes, 1);

    /* What was journaled is what was sent. */
    assert_int_equal(t->aws.modifies, 1);
    struct bsup_store_journal_entry *v = NULL;
    size_t n = 0;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_journal_list(t->store, "b", 10, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].action, "ModifyTargetGroup");
    assert_string_equal(v[0].outcome, "ok");
    assert_string_equal(v[0].resource, "targetgroup/b-prod");
    json_t *journaled = json_loads(v[0].params, 0, NULL);
    assert_non_null(journaled);
    assert_true(json_equal(journaled, t->aws.last_modify));
    json_decref(journaled);
    bsup_store_journal_free(v, n);

    /* In sync now: nothing more is sent. */
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 1);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_OK);
}

/* A batched call that gets no answer is not split one key per call: the endpoint failed, not a
 * resource, and each key alone would wait as long again. Every service of the call fails with
 * the connection's error. */
static void test_no_answer_not_split(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, NULL);
    /* 6 keys by twos: 3 calls of 3 attempts each, and no more. */
    assert_int_equal(t->client.attempts[BSUP_API_ELBV2_DESCRIBE], 3 * 3);
    assert_int_equal(t->aws.describes, 0);
    for (size_t i = 0; i < sizeof(s_services) / sizeof(s_services[0]); i++) {
        struct bsup_reconcile_status st;
        assert_true(bsup_reconcile_service_status(t->rec, s_services[i], &st));
        assert_int_equal(st.state, BSUP_STATE_ERROR);
        assert_non_null(st.error);
    }
}

/* A step marked whole is not split after AWS refuses a batched call: the call's services fail
 * with AWS's error, and no call is made per key. */
static void test_whole_not_split(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, NULL);
    assert_int_equal(t->aws.describes, 3); /* 6 keys by twos, the one holding g refused */
    struct bsup_reconcile_status st;
    assert_true(bsup_reconcile_service_status(t->rec, "g", &st));
    assert_int_equal(st.state, BSUP_STATE_ERROR);
    assert_non_null(st.error);
    assert_int_equal(s_state(t, "a"), BSUP_STATE_OK);
}

static void test_joined_waiters(void **state)
{
    struct s_env *t = *state;
    int all = 0, one = 0;
    assert_int_equal(bsup_reconcile_now(t->rec, NULL, on_done, &all), 0);
    /* a is already in the batch above: this waiter joins it, and a runs once more after. */
    assert_int_equal(bsup_reconcile_now(t->rec, "a", on_done, &one), 0);
    while (!all || !one)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(all, 1);
    assert_int_equal(one, 1);
    unsigned before = t->aws.describes;
    uv_run(&t->loop, UV_RUN_NOWAIT); /* the re-run of a starts from the timer */
    while (t->changes < 2)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(t->aws.describes, before + 1);
}

/* With at most 2 services observed at once, a cycle of 7 runs as 4 batches, each after the
 * last has ended; its waiter is answered once, at the end; and they share the cycle's change
 * budget: of two drifts in different batches, one is corrected and one held. */
static void test_observing_max(void **state)
{
    struct s_env *t = *state;
    t->settings.max_changes_per_cycle = 1;
    s_restart(t); /* the engine reads its rails once */
    snprintf(t->aws.paths[3], sizeof(t->aws.paths[3]), "/wrong"); /* d drifts too */
    t->aws.log[0] = '\0';
    s_cycle(t, NULL);
    assert_string_equal(t->aws.log, "a-prod,b-prod | c-prod,d-prod | shared-tg | g-prod | ");
    assert_int_equal(t->aws.modifies, 1);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_CORRECTED);
    assert_int_equal(s_state(t, "d"), BSUP_STATE_HELD);
    struct bsup_plan plan;
    assert_int_equal(bsup_reconcile_plan(t->rec, "d", &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_int_equal(plan.actions[0].hold, BSUP_HOLD_CAP_CYCLE);
    assert_false(plan.actions[0].applied);
    bsup_plan_cleanup(&plan);
    /* Its event says it is held, and why: "enforce mode: X (want Y)" alone reads as corrected. */
    assert_int_equal(s_events(t, "d", "drift.found", "; held: cap: at most 1 changes per cycle"),
                     1);
    /* The plan kept between cycles is the one planned, packed and back, its change marked
     * applied (bsupctl plan shows it done, not pending). */
    assert_int_equal(bsup_reconcile_plan(t->rec, "b", &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_string_equal(plan.actions[0].resource, "targetgroup/b-prod");
    assert_string_equal(plan.actions[0].changes[0].desired, "/health/b-prod");
    assert_true(plan.actions[0].applied);
    json_t *j = bsup_plan_json(&plan);
    assert_true(json_is_true(json_object_get(json_array_get(j, 0), "applied")));
    json_decref(j);
    bsup_plan_cleanup(&plan);
    assert_int_equal(bsup_reconcile_plan(t->rec, "nosuch", &plan), BSUP_ENOTFOUND);
}

/* A batch of 7 worked two members a loop turn: the drifts of b and d, planned in different
 * turns (b's change may be answered before d is planned), are both corrected; the services are
 * recorded two a turn, so a is done while g still runs; the waiter hears once, at the end. */
static void test_turns(void **state)
{
    struct s_env *t = *state;
    snprintf(t->aws.paths[3], sizeof(t->aws.paths[3]), "/wrong"); /* d drifts too */
    int done = 0;
    bool a_before_g = false;
    assert_int_equal(bsup_reconcile_now(t->rec, NULL, on_done, &done), 0);
    while (!done) {
        uv_run(&t->loop, UV_RUN_ONCE);
        struct bsup_reconcile_status a, g;
        assert_true(bsup_reconcile_service_status(t->rec, "a", &a));
        assert_true(bsup_reconcile_service_status(t->rec, "g", &g));
        a_before_g |= !a.running && g.running;
    }
    assert_true(a_before_g);
    assert_int_equal(done, 1);
    assert_int_equal(t->changes, 1);
    assert_int_equal(t->aws.modifies, 2);
    assert_int_equal(s_state(t, "a"), BSUP_STATE_OK);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_CORRECTED);
    assert_int_equal(s_state(t, "d"), BSUP_STATE_CORRECTED);
    assert_int_equal(s_state(t, "g"), BSUP_STATE_MISSING);
    assert_int_equal(s_events(t, "d", "action.applied", "/health/d-prod"), 1);
}

/* Every store failure the rails depend on: no change goes out, the engine says it is
 * unhealthy, and it recovers once the store answers again. */
static void test_rails_fail_closed(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 1);
#ifdef BSUP_FAILPOINTS
    const char *failpoints[] = {"store-memory-read", "store-journal-read", "store-memory-write",
                                "store-journal-write"};
    for (size_t i = 0; i < sizeof(failpoints) / sizeof(failpoints[0]); i++) {
        snprintf(t->aws.paths[1], sizeof(t->aws.paths[1]), "/wrong"); /* b drifts again */
        setenv("BSUP_FAILPOINT_ERROR", failpoints[i], 1);
        s_cycle(t, "b");
        unsetenv("BSUP_FAILPOINT_ERROR");
        assert_int_equal(t->aws.modifies, 1);
        assert_int_equal(s_state(t, "b"), BSUP_STATE_ERROR);
        assert_false(s_healthy(t));
        struct bsup_reconcile_status st;
        assert_true(bsup_reconcile_service_status(t->rec, "b", &st));
        assert_non_null(strstr(st.error, failpoints[i]));
    }
    /* The store answers again: corrected, healthy. */
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 2);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_CORRECTED);
    assert_true(s_healthy(t));
    /* Two corrections that did not hold (fight_threshold 2): fighting, held. */
    snprintf(t->aws.paths[1], sizeof(t->aws.paths[1]), "/wrong");
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 2);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_FIGHTING);
    struct bsup_plan plan;
    assert_int_equal(bsup_reconcile_plan(t->rec, "b", &plan), 0);
    assert_true(plan.n_actions > 0);
    assert_int_equal(plan.actions[0].hold, BSUP_HOLD_FIGHTING);
    bsup_plan_cleanup(&plan);
#else
    print_message("skip: failpoints not compiled in (BSUP_FAILPOINTS=OFF)\n");
#endif
}

/* A change that may have reached AWS is never sent twice; a throttled one (AWS said it did
 * not apply it) is retried. */
static void test_changes_not_retried_blindly(void **state)
{
    struct s_env *t = *state;
    t->aws.modify_fault = "500";
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 1);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_ERROR);
    struct bsup_store_journal_entry *v = NULL;
    size_t n = 0;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_journal_list(t->store, "b", 10, &v, &n, &diag), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].outcome, "error");
    assert_string_equal(v[0].error_code, "InternalFailure");
    bsup_store_journal_free(v, n);
    t->aws.modify_fault = "throttle";
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 3); /* throttled, then applied */
    assert_int_equal(s_state(t, "b"), BSUP_STATE_CORRECTED);
}

/* A service stored with another region than bsupd's (an older build accepted the drop-in) is
 * never observed or changed: bsupd's one AWS client would find its names in bsupd's region. */
static void test_other_region_not_reconciled(void **state)
{
    struct s_env *t = *state;
    struct bsup_diag diag = {0};
    free(t->settings.region);
    t->settings.region = strdup("eu-west-1");
    s_write_config_with(t, NULL, "b", "region: eu-central-1\n");
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    s_cycle(t, "b");
    assert_int_equal(t->aws.describes, 0);
    assert_int_equal(t->aws.modifies, 0);
    struct bsup_reconcile_status st;
    assert_true(bsup_reconcile_service_status(t->rec, "b", &st));
    assert_int_equal(st.state, BSUP_STATE_ERROR);
    assert_non_null(strstr(st.error, "region eu-central-1 is not bsupd's region (eu-west-1)"));
    /* Its own region again: reconciled (b's drift corrected). */
    s_write_config_with(t, NULL, "b", "region: eu-west-1\n");
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 1);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_CORRECTED);
}

/* A change of bsupd's own resources (an owned domain: its alarms) that fails is no error of the
 * service: a transient failure is journaled, a "<domain>.failed" event (no page), and sent again
 * the next cycle; AWS refusing it for good is what the domain observes (its finding, with its own
 * events), not a failure. The service's state is what its own domains say. */
static void test_owned_change_failures(void **state)
{
    struct s_env *t = *state;
    t->aws.modify_fault = "500";
    s_cycle(t, "b");
    assert_int_equal(t->aws.modifies, 1);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_OK);
    assert_int_equal(s_events(t, "b", "action.failed", ""), 0); /* an alert: not for this */
    assert_int_equal(s_events(t, "b", "tgpath.failed", "InternalFailure"), 1);
    struct bsup_reconcile_status st;
    assert_true(bsup_reconcile_service_status(t->rec, "b", &st));
    assert_null(st.error);
    assert_int_equal(st.failures, 0);
    s_cycle(t, "b"); /* sent again, applied */
    assert_int_equal(t->aws.modifies, 2);
    assert_int_equal(s_state(t, "b"), BSUP_STATE_OK);

    snprintf(t->aws.paths[2], sizeof(t->aws.paths[2]), "/wrong"); /* c-prod */
    t->aws.modify_fault = "denied";
    s_cycle(t, "c");
    assert_int_equal(t->aws.modifies, 3);
    assert_int_equal(s_state(t, "c"), BSUP_STATE_OK);
    assert_int_equal(s_events(t, "c", "action.refused", "AccessDenied"), 1);
    assert_int_equal(s_events(t, "c", "action.failed", ""), 0);
    assert_int_equal(s_events(t, "c", "alarm.refused", "c-prod Refused: AccessDenied: injected"),
                     1);
    struct bsup_plan plan;
    assert_int_equal(bsup_reconcile_plan(t->rec, "c", &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_int_equal(plan.actions[0].kind, BSUP_ACTION_FINDING);
    assert_true(plan.actions[0].owned);
    bsup_plan_cleanup(&plan);
    /* This fake forgets the refusal: sent again, refused for another reason. The line stands
     * (no second alarm.refused), and the open condition takes its values: its reminders say
     * why AWS refuses now. */
    t->aws.modify_fault = "denied:InvalidParameterValue";
    s_cycle(t, "c");
    assert_int_equal(t->aws.modifies, 4);
    assert_int_equal(s_events(t, "c", "alarm.refused", ""), 1);
    size_t reminders = 0;
    struct bsup_diag diag = {0};
    struct bsup_store_alert *v = NULL;
    size_t n = 0;
    int64_t later = (int64_t)time(NULL) + 86400;
    assert_int_equal(bsup_store_alert_reminders(t->store, later, 3600, &reminders, &diag), 0);
    assert_int_equal(bsup_store_alerts_pending(t->store, 0, later, 100, &v, &n, &diag), 0);
    bool reminded = false;
    for (size_t i = 0; i < n; i++)
        if (v[i].reminder && v[i].service && strcmp(v[i].service, "c") == 0) {
            reminded = true;
            assert_string_equal(v[i].what, "alarm-refused");
            assert_non_null(strstr(v[i].observed, "InvalidParameterValue: injected"));
            assert_non_null(strstr(v[i].message, "InvalidParameterValue"));
        }
    assert_true(reminded);
    bsup_store_alerts_free(v, n);
    s_cycle(t, "c"); /* sent again, accepted */
    assert_int_equal(t->aws.modifies, 5);
    assert_int_equal(s_events(t, "c", "alarm.ok", "targetgroup/c-prod Refused"), 1);
    assert_int_equal(s_events(t, "c", "service.error", ""), 0);
}

/* A paced step reads only its allowance, the most urgent first (drift), then the never read,
 * then the longest unread; the rest is carried forward. The allowance is a share of the
 * family's rate per interval, not per batch: a second batch within the interval reads only
 * what has accrued since (here: nothing; the accrual itself is tested in test_batch). */
static void test_paced_step(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, NULL);
    /* b (drift) and a (never read, first by key); sent in key order. */
    assert_string_equal(t->aws.health_reads, "a-prod b-prod");
    s_cycle(t, "c");
    s_cycle(t, NULL);
    assert_string_equal(t->aws.health_reads, "a-prod b-prod");
    /* Carried forward: a shows the time it was read; c and e (sharing shared-tg) were never
     * read. */
    struct s_tg_obs a, c, e;
    assert_true(bsup_reconcile_observation(t->rec, "a", 0, &a));
    assert_true(bsup_reconcile_observation(t->rec, "c", 0, &c));
    assert_true(bsup_reconcile_observation(t->rec, "e", 0, &e));
    assert_true(a.health_at > 0 && c.health_at == 0 && e.health_at == 0);
    /* The domain that reads tgpath saw its results, paced step included: it ran after. */
    struct s_echo_obs echo;
    assert_true(bsup_reconcile_observation(t->rec, "a", 1, &echo));
    assert_true(echo.found);
    assert_string_equal(echo.path, "/health/a-prod");
    assert_int_equal(echo.health_at, a.health_at);
}

static size_t s_events(struct s_env *t, const char *service, const char *kind, const char *contains)
{
    struct bsup_store_event *v = NULL;
    size_t n = 0, hits = 0;
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_store_events_list(t->store, 0, service, 1000, &v, &n, &diag), 0);
    for (size_t i = 0; i < n; i++)
        hits += strcmp(v[i].kind, kind) == 0 && strstr(v[i].message, contains);
    bsup_store_events_free(v, n);
    return hits;
}

static void on_rec_restarted(void *user)
{
    ((struct s_env *)user)->rec = NULL;
}

/* A new engine on the same state database, as a restart or a --once run makes. */
static void s_restart(struct s_env *t)
{
    bsup_reconcile_close(t->rec, on_rec_restarted, t);
    while (t->rec)
        uv_run(&t->loop, UV_RUN_ONCE);
    struct bsup_reconcile_options ro = {.loop = &t->loop,
                                        .store = t->store,
                                        .aws = &t->client,
                                        .settings = &t->settings,
                                        .paused = &t->paused,
                                        .domains = s_owned ? s_owned_domains : s_domains,
                                        .n_domains = s_n_domains,
                                        .observing_max = s_observing_max,
                                        .on_change = on_change,
                                        .ctx = t};
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_reconcile_new(&ro, &t->rec, &diag), 0);
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
}

/* Degraded is a state with its event; a finding changes no state and is an event when it
 * appears and when it clears, once each — across restarts too: a new process starts from the
 * recorded state and findings, so a run that finds nothing new records nothing. */
static void test_degraded_and_findings(void **state)
{
    struct s_env *t = *state;
    snprintf(t->aws.paths[2], sizeof(t->aws.paths[2]), "/finding");  /* c-prod */
    snprintf(t->aws.paths[3], sizeof(t->aws.paths[3]), "/degraded"); /* d-prod */
    s_cycle(t, NULL);
    assert_int_equal(s_state(t, "c"), BSUP_STATE_OK);
    assert_int_equal(s_state(t, "d"), BSUP_STATE_DEGRADED);
    assert_int_equal(s_events(t, "c", "finding.appeared", "targetgroup/c-prod Posture"), 1);
    assert_int_equal(s_events(t, "d", "service.degraded", "HealthyTargets /degraded"), 1);
    assert_int_equal(s_events(t, "d", "service.degraded", "Aside"), 0); /* what degrades it */
    s_cycle(t, NULL);
    assert_int_equal(s_events(t, "c", "finding.appeared", "Posture"), 1); /* not again */
    assert_int_equal(t->aws.modifies, 1); /* only b's drift was ever changed */
    s_restart(t);
    s_cycle(t, NULL);
    assert_int_equal(s_events(t, "c", "finding.appeared", "Posture"), 1); /* nor after a restart */
    assert_int_equal(s_events(t, "d", "service.degraded", ""), 1);
    assert_int_equal(s_events(t, "a", "service.state", ""), 1); /* a's first ok, only */
    snprintf(t->aws.paths[2], sizeof(t->aws.paths[2]), "/health/c-prod");
    snprintf(t->aws.paths[3], sizeof(t->aws.paths[3]), "/health/d-prod");
    s_restart(t); /* what cleared while bsupd was down is an event of the next run */
    s_cycle(t, NULL);
    assert_int_equal(s_events(t, "c", "finding.cleared", "targetgroup/c-prod Posture"), 1);
    assert_int_equal(s_state(t, "d"), BSUP_STATE_OK);
    assert_int_equal(s_events(t, "d", "service.state", "now ok (was degraded)"), 1);
}

/* A line only a paced read judges stands as last recorded while that read has not come: after
 * a restart the new process has no reading to carry forward, and the line is neither cleared
 * (backup.ok and its alert, for a stale backup) nor, once read, appeared again. */
static void test_unread_line_not_cleared(void **state)
{
    struct s_env *t = *state;
    snprintf(t->aws.paths[3], sizeof(t->aws.paths[3]), "/stale"); /* d-prod */
    s_cycle(t, NULL);
    assert_string_equal(t->aws.health_reads, "b-prod d-prod");
    assert_int_equal(s_events(t, "d", "finding.appeared", "targetgroup/d-prod Health"), 1);
    /* a and c come before d in the next run's reads: d's is not done in its first cycles. */
    snprintf(t->aws.paths[0], sizeof(t->aws.paths[0]), "/stale");
    snprintf(t->aws.paths[2], sizeof(t->aws.paths[2]), "/stale");
    s_restart(t);
    s_cycle(t, NULL);
    s_cycle(t, NULL); /* nothing read: the allowance is spent */
    assert_string_equal(t->aws.health_reads, "b-prod d-prod a-prod c-prod");
    assert_int_equal(s_events(t, "d", "finding.cleared", ""), 0);
    struct bsup_plan plan;
    assert_int_equal(bsup_reconcile_plan(t->rec, "d", &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_string_equal(plan.actions[0].resource, "targetgroup/d-prod");
    assert_string_equal(plan.actions[0].changes[0].field, "Health");
    assert_string_equal(plan.actions[0].changes[0].observed, "stale");
    assert_non_null(strstr(plan.actions[0].changes[0].reason, "not read again since bsupd"));
    bsup_plan_cleanup(&plan);
    /* Kept across one more restart too; once read, it is the same finding, not a new one. */
    snprintf(t->aws.paths[0], sizeof(t->aws.paths[0]), "/health/a-prod");
    snprintf(t->aws.paths[2], sizeof(t->aws.paths[2]), "/health/c-prod");
    s_restart(t);
    s_cycle(t, NULL);
    struct s_tg_obs d;
    assert_true(bsup_reconcile_observation(t->rec, "d", 0, &d));
    assert_true(d.health_at > 0);
    assert_int_equal(s_events(t, "d", "finding.cleared", ""), 0);
    assert_int_equal(s_events(t, "d", "finding.appeared", "Health"), 1);
    assert_int_equal(bsup_reconcile_plan(t->rec, "d", &plan), 0);
    assert_int_equal(plan.n_actions, 1);
    assert_string_equal(plan.actions[0].changes[0].reason, "the test says so");
    bsup_plan_cleanup(&plan);
    /* A read that finds it fixed clears it. */
    snprintf(t->aws.paths[3], sizeof(t->aws.paths[3]), "/health/d-prod");
    s_cycle(t, NULL);
    assert_int_equal(s_events(t, "d", "finding.cleared", "targetgroup/d-prod Health"), 1);
}

/* A JSON-protocol step sends the body it built; a one-key call answered "no such resource"
 * (a code the step names) is an observation: the service is not failed, the domain sees an
 * empty answer. */
static void test_json_step_and_absent_answer(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, NULL);
    assert_int_equal(t->aws.secret_reads, 7);
    assert_non_null(strstr(t->aws.secret_ids, "sec-a"));
    assert_non_null(strstr(t->aws.secret_ids, "sec-c"));
    struct s_sec_obs a, c;
    assert_true(bsup_reconcile_observation(t->rec, "a", 2, &a));
    assert_true(bsup_reconcile_observation(t->rec, "c", 2, &c));
    assert_true(a.exists);
    assert_string_equal(a.name, "sec-a");
    assert_false(c.exists);
    assert_int_equal(s_state(t, "c"), BSUP_STATE_OK); /* not an error: a finding */
    assert_int_equal(s_events(t, "c", "finding.appeared", "secret/test Secret: absent"), 1);
    /* g's target group: TargetGroupNotFound, an absent code of that step, once the split
     * retry has isolated it: missing, not an error. */
    assert_int_equal(s_state(t, "g"), BSUP_STATE_MISSING);
}

static void on_late(uv_timer_t *timer)
{
    *(bool *)timer->data = true;
}

/* Each domain goes on as soon as its own answers are in: the target groups' two steps, and
 * the domain that reads them, run while a secret read of the third domain is unanswered (one
 * step of every domain at a time would hold the target health back for it). Within that
 * domain, the step that needs no other ("alone-") runs meanwhile too, and the one that needs
 * every earlier step ("last-") waits for the held answer. */
static void test_domains_go_on_their_own(void **state)
{
    struct s_env *t = *state;
    t->aws.hold_secret = true;
    int done = 0;
    bool late = false;
    uv_timer_t deadline;
    uv_timer_init(&t->loop, &deadline);
    deadline.data = &late;
    uv_timer_start(&deadline, on_late, 10000, 0);
    assert_int_equal(bsup_reconcile_now(t->rec, NULL, on_done, &done), 0);
    while (!(t->httpd.held && t->aws.health_reads[0] && t->aws.alone_reads == 7) && !late)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_false(late);
    assert_int_equal(done, 0); /* the cycle waits for the held answer */
    assert_int_equal(t->aws.last_reads, 0);
    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 200, t->aws.held_answer), 0);
    while (!done && !late)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(done, 1);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT); /* its close callback, before it leaves the stack */
    assert_int_equal(t->aws.secret_reads, 7);
    assert_int_equal(t->aws.last_reads, 7);
    struct s_sec_obs sec;
    assert_true(bsup_reconcile_observation(t->rec, "a", 2, &sec));
    assert_int_equal(sec.other_reads, 2);
    /* The reading domain ran once the target groups' steps had all run: it saw their last. */
    struct s_echo_obs echo;
    assert_true(bsup_reconcile_observation(t->rec, "a", 1, &echo));
    assert_true(echo.found);
    assert_true(echo.health_at > 0);
    for (size_t i = 0; i < 6; i++) /* g's group does not exist */
        assert_int_not_equal(s_state(t, s_services[i]), BSUP_STATE_ERROR);
}

/* A service a reload removes while its cycle observes it is neither changed nor recorded: b's
 * drifted path is not corrected once b is gone (it was, after its removal, before). */
static void test_removed_mid_cycle_not_changed(void **state)
{
    struct s_env *t = *state;
    t->aws.hold_secret = true;
    int done = 0;
    bool late = false;
    uv_timer_t deadline;
    uv_timer_init(&t->loop, &deadline);
    deadline.data = &late;
    uv_timer_start(&deadline, on_late, 10000, 0);
    assert_int_equal(bsup_reconcile_now(t->rec, NULL, on_done, &done), 0);
    while (!t->httpd.held && !late)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_false(late);
    s_write_config_but(t, "b");
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 200, t->aws.held_answer), 0);
    while (!done && !late)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(done, 1);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(t->aws.modifies, 0);
    assert_int_equal(s_events(t, "b", "action.applied", ""), 0);
    struct bsup_reconcile_status st;
    assert_false(bsup_reconcile_service_status(t->rec, "b", &st));
    assert_int_equal(s_state(t, "a"), BSUP_STATE_OK); /* the others are recorded as before */
}

/* The figures a cycle's waiter is answered with (reconcile --wait's attention, the summary)
 * leave out a service a reload removed during that cycle: g, missing after the first cycle,
 * needs attention; once removed mid-cycle it counts nowhere. */
struct s_figures_at_done {
    struct s_env *t;
    int done;
    struct bsup_reconcile_figures f;
};

static void on_done_figures(void *ctx, bool cut_short)
{
    (void)cut_short;
    struct s_figures_at_done *w = ctx;
    bsup_reconcile_figures(w->t->rec, &w->f);
    w->done++;
}

static void test_removed_mid_cycle_not_counted(void **state)
{
    struct s_env *t = *state;
    s_cycle(t, NULL);
    struct bsup_reconcile_figures f;
    bsup_reconcile_figures(t->rec, &f);
    assert_int_equal(s_state(t, "g"), BSUP_STATE_MISSING);
    assert_true(f.attention);
    size_t degraded = f.n_degraded;
    t->aws.hold_secret = true;
    struct s_figures_at_done w = {.t = t};
    bool late = false;
    uv_timer_t deadline;
    uv_timer_init(&t->loop, &deadline);
    deadline.data = &late;
    uv_timer_start(&deadline, on_late, 10000, 0);
    assert_int_equal(bsup_reconcile_now(t->rec, NULL, on_done_figures, &w), 0);
    while (!t->httpd.held && !late)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_false(late);
    s_write_config_but(t, "g");
    struct bsup_diag diag = {0};
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    assert_int_equal(bsup_test_httpd_answer(&t->httpd, 200, t->aws.held_answer), 0);
    while (!w.done && !late)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(w.done, 1);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_false(w.f.attention);
    assert_int_equal(w.f.n_degraded, degraded - 1);
}

/* A sync that cannot read the desired state to the end, or one service's row, removes none of
 * the services it did not read: taken for removed, the sweep would delete their alarms and
 * restore-drill instances (daemon/sweep.c). */
static void test_sync_unread_not_removed(void **state)
{
    struct s_env *t = *state;
    struct bsup_diag diag = {0};
    s_write_config_but(t, "c");
    setenv("BSUP_FAILPOINT_ERROR", "store-desired-read", 1); /* after the first row, a */
    assert_int_not_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    unsetenv("BSUP_FAILPOINT_ERROR");
    for (size_t i = 0; i < sizeof(s_services) / sizeof(s_services[0]); i++)
        if (!bsup_reconcile_desired(t->rec, s_services[i]))
            fail_msg("%s taken for removed by a read that failed", s_services[i]);
    diag = (struct bsup_diag){0};
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    assert_null(bsup_reconcile_desired(t->rec, "c")); /* read to the end: removed */

    char path[4096];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/bsup.db", t->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE desired_state SET config_json = '{' WHERE service = 'b'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(bsup_reconcile_sync(t->rec, NULL, &diag), 0);
    const struct bsup_service *b = bsup_reconcile_desired(t->rec, "b");
    assert_non_null(b);
    assert_string_equal(b->service_name, "b"); /* its last desired state */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_budget_journal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_joined_waiters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_not_split, s_setup_elbv2_dead, s_teardown),
        cmocka_unit_test_setup_teardown(test_whole_not_split, s_setup_whole, s_teardown),
        cmocka_unit_test_setup_teardown(test_observing_max, s_setup_observing_2, s_teardown),
        cmocka_unit_test_setup_teardown(test_turns, s_setup_turns_of_2, s_teardown),
        cmocka_unit_test_setup_teardown(test_rails_fail_closed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_changes_not_retried_blindly, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_owned_change_failures, s_setup_owned, s_teardown),
        cmocka_unit_test_setup_teardown(test_paced_step, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_other_region_not_reconciled, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_degraded_and_findings, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unread_line_not_cleared, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_json_step_and_absent_answer, s_setup_with_secrets,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_mid_cycle_not_changed, s_setup_with_secrets,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_mid_cycle_not_counted, s_setup_with_secrets,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_domains_go_on_their_own, s_setup_with_secrets,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_sync_unread_not_removed, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("reconcile driver", tests, NULL, NULL);
}
