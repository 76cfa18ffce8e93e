/* Drop-ins: the directory scan (lexical order; hidden files and editor or package-manager
 * leftovers skipped), each file accepted or rejected as a whole (a file with any error
 * contributes no service, so the store keeps its services' last good state), the rules that
 * span keys, service names unique across files (a loaded service stays with its file), and
 * services that share a resource agreeing on what bsupd changes on it. The YAML itself is
 * yaml.c's job. */
#include "core/config/load_internal.h"

#include "core/base/array.h"
#include "core/base/units.h"
#include "core/config/fields.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* The health_check rules across keys: which target-group settings are written (only those are
 * enforced), timeout < interval when both are (ELBv2 refuses otherwise; with one written, the
 * other is the target group's, known only when read: the plan says so), and min_healthy,
 * min_size unless written, at most max_size. */
static void s_check_health(struct bsup_config_doc *f, struct bsup_service *svc, yaml_node_t *map,
                           const struct bsup_config_seen *seen)
{
    struct bsup_health_check *hc = &svc->health_check;
    const struct bsup_config_key *keys =
        bsup_service_keys[bsup_config_key_index(bsup_service_keys, "health_check")].section;
    for (unsigned i = 0; keys[i].name; i++)
        if (keys[i].if_declared && bsup_config_yaml_find(f, map, "health_check", keys[i].name))
            hc->declared |= 1u << i;
    yaml_node_t *timeout = bsup_config_yaml_find(f, map, "health_check", "timeout");
    yaml_node_t *interval = bsup_config_yaml_find(f, map, "health_check", "interval");
    if (timeout && interval && hc->timeout_s >= hc->interval_s)
        bsup_config_error(f, &timeout->start_mark,
                          "health_check.timeout (%llds) must be less than health_check.interval "
                          "(%llds)",
                          (long long)hc->timeout_s, (long long)hc->interval_s);
    yaml_node_t *min_healthy = bsup_config_yaml_find(f, map, "health_check", "min_healthy");
    if (!min_healthy) {
        hc->min_healthy = svc->min_size;
    } else if (hc->min_healthy > svc->max_size) {
        int imax = bsup_config_key_index(bsup_service_keys, "max_size");
        bsup_config_error(f, &min_healthy->start_mark,
                          "health_check.min_healthy (%lld) is greater than max_size (%lld%s): the "
                          "service could never be healthy",
                          (long long)hc->min_healthy, (long long)svc->max_size,
                          seen->set[imax] ? "" : ", the default");
    }
}

/* A default name, <service_name>-<environment>, must fit the limit resources.<kind> enforces,
 * for each resource bsupd reads: AWS would refuse a longer one, or bsupd would look up a cut one.
 * The cache group is read only when declared (core/reconcile/backup.c, s_cache_declared). */
static void s_check_resource_names(struct bsup_config_doc *f, struct bsup_service *svc,
                                   const struct bsup_config_seen *seen)
{
    int iname = bsup_config_key_index(bsup_service_keys, "service_name");
    int ienv = bsup_config_key_index(bsup_service_keys, "environment");
    int ires = bsup_config_key_index(bsup_service_keys, "resources");
    if (!svc->service_name || !seen->set[iname] || !seen->set[ienv])
        return;
    for (const struct bsup_config_key *r = bsup_service_keys[ires].section; r->name; r++) {
        const char *set = *(const char *const *)((const char *)&svc->resources + r->offset);
        if (set ||
            (strcmp(r->name, "cache_replication_group") == 0 && svc->cache.snapshot_retention <= 0))
            continue;
        char name[256];
        size_t len = strlen(bsup_service_resource_name(svc, r->name, name, sizeof(name)));
        if (len > (size_t)r->max)
            bsup_config_error(f, &seen->mark[iname],
                              "the default %s \"%s\" is %zu characters, AWS allows %lld: set "
                              "resources.%s to a name of at most %lld characters",
                              r->doc, name, len, (long long)r->max, r->name, (long long)r->max);
    }
}

/* Rules that involve more than one key, and required keys. */
static void s_check_service(struct bsup_config_doc *f, struct bsup_service *svc,
                            const struct bsup_config_seen *seen, yaml_node_t *map)
{
    const yaml_mark_t *map_mark = &map->start_mark;
    for (int i = 0; bsup_service_keys[i].name; i++)
        if (bsup_service_keys[i].required && !seen->set[i])
            bsup_config_error(f, map_mark, "%s is required", bsup_service_keys[i].name);

    int imin = bsup_config_key_index(bsup_service_keys, "min_size");
    int imax = bsup_config_key_index(bsup_service_keys, "max_size");
    if (svc->min_size > svc->max_size) {
        if (seen->set[imax])
            bsup_config_error(f, &seen->mark[imax], "max_size (%lld) is less than min_size (%lld)",
                              (long long)svc->max_size, (long long)svc->min_size);
        else
            bsup_config_error(f, &seen->mark[imin],
                              "min_size (%lld) is greater than max_size (%lld, the default)",
                              (long long)svc->min_size, (long long)svc->max_size);
    }

    int ipw = bsup_config_key_index(bsup_service_keys, "database_password");
    const char *pw = svc->database_password;
    if (pw && seen->set[ipw]) {
        const yaml_mark_t *m = &seen->mark[ipw];
        bool control = false; /* escaped in the YAML: "\e[2J", "\t" */
        for (const char *c = pw; *c; c++)
            control |= (unsigned char)*c < 0x20 || *c == 0x7f;
        if (control && bsup_secret_is_reference(pw)) {
            /* A reference is shown (--check-config, bsupctl status, logs): never a terminal
             * escape, and no real name holds one. */
            bsup_config_error(f, m,
                              "database_password: a reference may not hold control characters");
        } else if (strncmp(pw, "secretsmanager:", 15) == 0) {
            const char *arn = pw + 15;
            /* arn:<partition>:secretsmanager:<region>:<account>:secret:<name> */
            char part[6][64];
            int n = sscanf(arn, "arn:%63[^:]:%63[^:]:%63[^:]:%63[^:]:%63[^:]:%63s", part[0],
                           part[1], part[2], part[3], part[4], part[5]);
            if (n != 6 || strcmp(part[1], "secretsmanager") != 0 || strlen(part[3]) != 12 ||
                strspn(part[3], "0123456789") != 12 || strncmp(part[4], "secret", 7) != 0)
                bsup_config_error(
                    f, m,
                    "database_password: a secretsmanager reference must be a secret ARN, "
                    "e.g. secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:"
                    "secret:name");
        } else if (strncmp(pw, "ssm:", 4) == 0) {
            const char *p = pw + 4;
            if (!*p || strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                 "_.-/") != strlen(p))
                bsup_config_error(f, m,
                                  "database_password: an ssm reference must name a parameter, e.g. "
                                  "ssm:/prod/api/db-password");
        } else if (strncmp(pw, "file:", 5) == 0) {
            if (pw[5] != '/')
                bsup_config_error(
                    f, m,
                    "database_password: a file reference needs an absolute path, e.g. "
                    "file:/etc/bsup/secrets/api-db");
        } else if (svc->environment != BSUP_ENV_DEV) {
            bsup_config_error(
                f, m,
                "database_password is a plaintext password, which is refused outside "
                "environment: dev; use secretsmanager:<arn>, ssm:<name> or file:<path>");
        } else {
            bsup_config_warning(
                f, m,
                "database_password is a plaintext password; accepted because environment "
                "is dev, but it is kept in memory only and shown as <redacted>");
        }
    }

    /* bsupd's AWS client is in one region: a service in another would be reconciled, and in
     * enforce mode changed, in bsupd's region under the same names. */
    int ireg = bsup_config_key_index(bsup_service_keys, "region");
    if (svc->region && seen->set[ireg] && f->set->region && strcmp(svc->region, f->set->region))
        bsup_config_error(f, &seen->mark[ireg],
                          "region %s is not bsupd's region (%s): one bsupd reconciles one "
                          "region; run a bsupd per region, or remove region from the drop-in",
                          svc->region, f->set->region);

    /* A drill restores an automated snapshot bsupd verifies only with enable_backup. */
    yaml_node_t *drill = bsup_config_yaml_find(f, map, "backup", "restore_test");
    if (drill && !svc->enable_backup && svc->backup.restore_test &&
        strcmp(svc->backup.restore_test, "off") != 0)
        bsup_config_warning(f, &drill->start_mark,
                            "backup.restore_test is set but enable_backup is false: no restore "
                            "drill runs");
}

/* A service as its file declared it, and where its name is written (for the checks across
 * files, which come after every file's own). */
struct s_parsed {
    struct bsup_service *svc; /* its own allocation: accepting the file hands it to set */
    yaml_mark_t name_mark;
    bool resources_taken; /* its resources checked before the files are claimed (s_resources) */
};

struct s_pending {
    struct s_parsed *v;
    size_t n, cap;
};

static void s_pending_free(struct s_pending *pend)
{
    for (size_t i = 0; i < pend->n; i++) {
        bsup_service_cleanup(pend->v[i].svc);
        free(pend->v[i].svc);
    }
    free(pend->v);
    memset(pend, 0, sizeof(*pend));
}

/* A file after its own checks: its entry in set->files, its errors so far, its services. */
struct s_file {
    size_t index;
    size_t errors;
    struct s_pending pend;
};

static void s_parse_service(struct bsup_config_doc *f, yaml_node_t *map, struct s_pending *out)
{
    if (map->type != YAML_MAPPING_NODE) {
        bsup_config_error(f, &map->start_mark, "a service must be a mapping of keys, not %s",
                          bsup_config_yaml_node_kind(map));
        return;
    }
    if (BSUP_ARRAY_RESERVE(out->v, out->cap, out->n + 1) < 0) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    struct bsup_service *svc = calloc(1, sizeof(*svc));
    if (!svc) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    out->v[out->n++] = (struct s_parsed){.svc = svc};
    bsup_config_fields_init(bsup_service_keys, svc);
    if (bsup_config_fields_defaults(bsup_service_keys, svc)) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    svc->source_file = strdup(f->name);
    if (!svc->source_file) {
        f->rc = BSUP_ENOMEM;
        return;
    }
    svc->line = (unsigned)map->start_mark.line + 1;
    svc->column = (unsigned)map->start_mark.column + 1;

    struct bsup_config_seen seen;
    bsup_config_yaml_apply_mapping(f, bsup_service_keys, map, svc, "", &seen);
    s_check_service(f, svc, &seen, map);
    s_check_resource_names(f, svc, &seen);
    s_check_health(f, svc, map, &seen);

    /* Twice in this file; across files once every file is parsed (s_claim). */
    if (!svc->service_name)
        return;
    int iname = bsup_config_key_index(bsup_service_keys, "service_name");
    const yaml_mark_t *m = &seen.mark[iname];
    out->v[out->n - 1].name_mark = *m;
    for (size_t i = 0; i + 1 < out->n; i++) {
        const struct bsup_service *o = out->v[i].svc;
        if (o->service_name && strcmp(o->service_name, svc->service_name) == 0)
            bsup_config_error(f, m,
                              "service_name %s is declared twice in this file (first at line %u)",
                              svc->service_name, o->line);
    }
}

/* Moves every pending service into set; what could not be moved stays for the caller. */
static int s_move_services(struct bsup_config_set *set, struct s_pending *pend)
{
    for (size_t i = 0; i < pend->n; i++) {
        struct bsup_service *svc = pend->v[i].svc;
        if (BSUP_ARRAY_RESERVE(set->services, set->cap_services, set->n_services + 1) < 0)
            return BSUP_ENOMEM;
        pend->v[i].svc = NULL;
        set->services[set->n_services++] = svc;
        /* Names are checked unique before a file is accepted: one lookup, not a scan. */
        if (bsup_strmap_put(&set->by_name, svc->service_name, (void *)(uintptr_t)set->n_services))
            return BSUP_ENOMEM;
    }
    return 0;
}

static int s_file_push(struct bsup_config_set *set, const char *name)
{
    if (BSUP_ARRAY_RESERVE(set->files, set->cap_files, set->n_files + 1) < 0)
        return BSUP_ENOMEM;
    char *n = strdup(name);
    if (!n)
        return BSUP_ENOMEM;
    set->files[set->n_files++] = (struct bsup_config_file){.name = n};
    return 0;
}

/* Parses one drop-in and checks it on its own, into out (its entry added to set->files). */
static int s_parse_file(struct bsup_config_set *set, const char *name, const char *data, size_t len,
                        struct s_file *out)
{
    struct bsup_config_doc f = {.set = set, .name = name};
    struct s_pending pend = {0};
    const unsigned char *u = (const unsigned char *)data;
    bool have_doc = false;

    if (s_file_push(set, name))
        return BSUP_ENOMEM;
    out->index = set->n_files - 1;

    const char *why = NULL;
    size_t bad = bsup_config_utf8_check(u, len, &why);
    if (len > BSUP_CONFIG_MAX_FILE_BYTES) {
        bsup_config_error(&f, NULL, "file is %zu bytes; drop-ins are limited to %d bytes (1 MiB)",
                          len, BSUP_CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    if (bad != len) {
        yaml_mark_t m = bsup_config_mark_at(u, bad);
        bsup_config_error(&f, &m, "byte 0x%02x is %s", u[bad], why);
        goto out;
    }
    if (!bsup_config_yaml_load(&f, u, len))
        goto out;
    have_doc = true;

    yaml_node_t *root = yaml_document_get_root_node(&f.doc);
    yaml_mark_t start = {0};
    if (!root || bsup_config_yaml_is_null(root)) {
        bsup_config_error(
            &f, &start, "file is empty; a drop-in declares one service, or a list under services:");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        bsup_config_error(
            &f, &root->start_mark,
            "a drop-in must be a mapping of keys (one service) or hold services:, not %s",
            bsup_config_yaml_node_kind(root));
        goto out;
    }
    yaml_node_t *list = NULL;
    size_t list_line = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&f.doc, p->key);
        if (k->type != YAML_SCALAR_NODE || strcmp((char *)k->data.scalar.value, "services") != 0)
            continue;
        if (list) {
            bsup_config_error(&f, &k->start_mark, "services is set twice (first at line %zu)",
                              list_line);
            goto out;
        }
        list = yaml_document_get_node(&f.doc, p->value);
        list_line = k->start_mark.line + 1;
    }
    if (!list) {
        s_parse_service(&f, root, &pend);
    } else if (root->data.mapping.pairs.top - root->data.mapping.pairs.start != 1) {
        bsup_config_error(
            &f, &root->start_mark,
            "with services:, every key belongs to a list item; move the other keys into "
            "the services");
    } else if (list->type != YAML_SEQUENCE_NODE) {
        bsup_config_error(&f, &list->start_mark, "services must be a list of services, not %s",
                          bsup_config_yaml_node_kind(list));
    } else if (list->data.sequence.items.top == list->data.sequence.items.start) {
        bsup_config_warning(&f, &list->start_mark,
                            "services is an empty list; this file declares nothing");
    } else {
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top && f.rc == 0; it++)
            s_parse_service(&f, yaml_document_get_node(&f.doc, *it), &pend);
    }

out:
    if (have_doc)
        yaml_document_delete(&f.doc);
    out->errors = f.errors;
    /* Held until every file is read: at their size (most files declare one service, and
     * 10 000 arrays of the first allocation's 8 would be 2.5 MiB). */
    struct s_parsed *fit =
        pend.n && pend.n < pend.cap ? realloc(pend.v, pend.n * sizeof(*fit)) : NULL;
    if (fit) {
        pend.v = fit;
        pend.cap = pend.n;
    }
    out->pend = pend;
    return f.rc;
}

/* Who still holds a service its incumbent file (set->incumbents) declared before: that file when
 * it declares it again, or when it is rejected on its own (it then keeps its last good state). */
struct s_holders {
    struct bsup_strmap held;   /* service_name -> declared again by its incumbent file */
    struct bsup_strmap broken; /* file name -> rejected on its own */
    bool named_only; /* resources: only names a drop-in writes are claimed (s_resources) */
};

static int s_holders_build(const struct bsup_config_set *set, const struct s_file *files, size_t n,
                           struct s_holders *h)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = set->files[files[i].index].name;
        if (files[i].errors && bsup_strmap_put(&h->broken, name, (void *)name))
            return BSUP_ENOMEM;
        for (size_t j = 0; set->incumbents && j < files[i].pend.n; j++) {
            const char *svc = files[i].pend.v[j].svc->service_name;
            const char *owner = svc ? bsup_strmap_get(set->incumbents, svc) : NULL;
            if (owner && strcmp(owner, name) == 0 && bsup_strmap_put(&h->held, svc, (void *)svc))
                return BSUP_ENOMEM;
        }
    }
    return 0;
}

/* ---- resources more services use ---- */

/* What bsupd changes on a resource, by the drop-in keys that declare it (core/reconcile:
 * scaling.c's UpdateAutoScalingGroup, health.c's ModifyTargetGroup, backup.c's
 * BackupRetentionPeriod). Services that use one resource must agree on these, or bsupd changes
 * it back and forth, each service's cycle undoing the other's, past the rails (which count per
 * service). Cache groups, load balancers and the rest are only read. */
static const struct {
    const char *kind; /* a resources.<kind> key */
    const char *what;
    const char *keys[9];
} s_enforced[] = {
    {"auto_scaling_group",
     "Auto Scaling group",
     {"min_size", "max_size", "health_check.grace_period", "health_check.replace_unhealthy"}},
    {"target_group",
     "target group",
     {"health_check.path", "health_check.port", "health_check.protocol", "health_check.interval",
      "health_check.timeout", "health_check.healthy_threshold", "health_check.unhealthy_threshold",
      "health_check.matcher"}},
    {"db_instance", "DB instance", {"backup_retention"}},
};
#define S_N_ENFORCED (sizeof(s_enforced) / sizeof(s_enforced[0]))

/* A resource in set->resources: the service the others must agree with. */
struct s_claim {
    const struct bsup_service *by; /* NULL: none yet */
    struct s_file *file;           /* by's, when by is a held service (s_take_held) */
    char key[];                    /* "kind/region/name" */
};

/* Whether bsupd changes anything on svc's resource of s_enforced[r]: the database only with
 * enable_backup. */
static bool s_uses(const struct bsup_service *svc, size_t r)
{
    return strcmp(s_enforced[r].kind, "db_instance") != 0 || svc->enable_backup;
}

/* The key of svc's resource of s_enforced[r] in buf (its name, in out_name). */
static const char *s_resource_key(const struct bsup_config_set *set, const struct bsup_service *svc,
                                  size_t r, char *buf, size_t len, char *out_name, size_t name_len)
{
    const char *region = svc->region ? svc->region : set->region ? set->region : "";
    bsup_service_resource_name(svc, s_enforced[r].kind, out_name, name_len);
    snprintf(buf, len, "%s/%s/%s", s_enforced[r].kind, region, out_name);
    return buf;
}

/* The key of path ("health_check.path") and, in out, where svc holds its value. */
static const struct bsup_config_key *s_field(const struct bsup_service *svc, const char *path,
                                             const void **out)
{
    const struct bsup_config_key *table = bsup_service_keys;
    const char *base = (const char *)svc, *dot = strchr(path, '.');
    if (dot) {
        char section[32];
        snprintf(section, sizeof(section), "%.*s", (int)(dot - path), path);
        const struct bsup_config_key *k = &table[bsup_config_key_index(table, section)];
        base += k->offset;
        table = k->section;
        path = dot + 1;
    }
    const struct bsup_config_key *k = &table[bsup_config_key_index(table, path)];
    *out = base + k->offset;
    return k;
}

/* Whether both a and b enforce key k: a health-check setting only when written (.if_declared),
 * so one that leaves it as the resource has it disagrees with no one. */
static bool s_both_enforce(const struct bsup_config_key *k, const struct bsup_service *a,
                           const struct bsup_service *b)
{
    return !k->if_declared || (bsup_health_declared(&a->health_check, k->name) &&
                               bsup_health_declared(&b->health_check, k->name));
}

static bool s_same(const struct bsup_config_key *k, const void *a, const void *b)
{
    switch (k->type) {
    case BSUP_KEY_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return x == y || (x && y && strcmp(x, y) == 0);
    }
    case BSUP_KEY_BOOL:
        return *(const bool *)a == *(const bool *)b;
    case BSUP_KEY_ENUM:
        return *(const int *)a == *(const int *)b;
    default:
        return *(const int64_t *)a == *(const int64_t *)b;
    }
}

/* A value as the drop-in would write it, for messages. */
static const char *s_text(const struct bsup_config_key *k, const void *p, char *buf, size_t len)
{
    char shown[72];
    switch (k->type) {
    case BSUP_KEY_STRING: {
        const char *v = *(char *const *)p;
        snprintf(buf, len, v ? "\"%s\"" : "none",
                 v ? bsup_config_shown(v, shown, sizeof(shown)) : "");
        break;
    }
    case BSUP_KEY_BOOL:
        snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
        break;
    case BSUP_KEY_ENUM: {
        int e = *(const int *)p;
        snprintf(buf, len, "%s", e >= 0 ? k->choices[e] : "unset");
        break;
    }
    case BSUP_KEY_DURATION:
        bsup_duration_format(*(const int64_t *)p, buf, len);
        break;
    default:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)p);
    }
    return buf;
}

/* Checks that svc (declared at m in f) uses the resource of s_enforced[r] named name with the
 * settings of c->by, the service it is claimed by; or claims it when no one has. */
static void s_agree(struct bsup_config_doc *f, const yaml_mark_t *m, const struct bsup_service *svc,
                    struct s_claim *c, size_t r, const char *name)
{
    const struct bsup_service *o = c->by;
    if (!o) {
        c->by = svc;
        return;
    }
    if (o == svc)
        return;
    const struct bsup_config_key *first = NULL;
    const void *here = NULL, *there = NULL;
    const char *path = NULL;
    size_t differ = 0;
    for (size_t i = 0; s_enforced[r].keys[i]; i++) {
        const void *a, *b;
        const struct bsup_config_key *k = s_field(svc, s_enforced[r].keys[i], &a);
        s_field(o, s_enforced[r].keys[i], &b);
        if (!s_both_enforce(k, svc, o) || s_same(k, a, b))
            continue;
        if (!differ++) {
            first = k;
            here = a;
            there = b;
            path = s_enforced[r].keys[i];
        }
    }
    if (!differ)
        return;
    char vh[96], vt[96], more[48] = "";
    if (differ > 1)
        snprintf(more, sizeof(more), " (and %zu more setting%s)", differ - 1,
                 differ > 2 ? "s" : "");
    char where[300];
    if (o->line)
        snprintf(where, sizeof(where), "%s:%u:%u", o->source_file, o->line, o->column);
    else /* kept: its file is rejected (s_keep) */
        snprintf(where, sizeof(where), "kept from rejected %s", o->source_file);
    bsup_config_error(f, m,
                      "service %s uses %s %s, as does service %s (%s), with %s %s there and %s "
                      "here%s: bsupd would change it back and forth; make them equal, or give one "
                      "service its own resources.%s",
                      svc->service_name, s_enforced[r].what, name, o->service_name, where, path,
                      s_text(first, there, vt, sizeof(vt)), s_text(first, here, vh, sizeof(vh)),
                      more, s_enforced[r].kind);
}

/* The claim of svc's resource of s_enforced[r]: made when create, else only found (the loader
 * makes one for each name a drop-in writes in resources.*: two default names never meet). */
static struct s_claim *s_claim_of(struct bsup_config_set *set, const struct bsup_service *svc,
                                  size_t r, bool create, char *name, size_t name_len, int *rc)
{
    char key[512];
    s_resource_key(set, svc, r, key, sizeof(key), name, name_len);
    struct s_claim *c = bsup_strmap_get(&set->resources, key);
    if (c || !create)
        return c;
    size_t len = strlen(key) + 1;
    if (!(c = malloc(sizeof(*c) + len))) {
        *rc = BSUP_ENOMEM;
        return NULL;
    }
    c->by = NULL;
    c->file = NULL;
    memcpy(c->key, key, len);
    if (bsup_strmap_put(&set->resources, c->key, c)) {
        free(c);
        *rc = BSUP_ENOMEM;
        return NULL;
    }
    return c;
}

/* Checks (or claims) every resource svc changes something on. */
static void s_take(struct bsup_config_doc *f, const struct s_parsed *p, bool create)
{
    for (size_t r = 0; r < S_N_ENFORCED && f->rc == 0; r++) {
        char name[256];
        struct s_claim *c = s_uses(p->svc, r)
                                ? s_claim_of(f->set, p->svc, r, create, name, sizeof(name), &f->rc)
                                : NULL;
        if (c)
            s_agree(f, &p->name_mark, p->svc, c, r, name);
    }
}

/* Gives up what svc claimed (its file is rejected: it is not loaded). */
static void s_untake(struct bsup_config_set *set, const struct bsup_service *svc)
{
    for (size_t r = 0; r < S_N_ENFORCED; r++) {
        char name[256];
        int rc = 0;
        struct s_claim *c = s_claim_of(set, svc, r, false, name, sizeof(name), &rc);
        if (c && c->by == svc) {
            c->by = NULL;
            c->file = NULL;
        }
    }
}

/* How many of the settings of s_enforced[r] a and b declare differently. */
static size_t s_differ(const struct bsup_service *a, const struct bsup_service *b, size_t r)
{
    size_t n = 0;
    for (size_t i = 0; s_enforced[r].keys[i]; i++) {
        const void *x, *y;
        const struct bsup_config_key *k = s_field(a, s_enforced[r].keys[i], &x);
        s_field(b, s_enforced[r].keys[i], &y);
        n += s_both_enforce(k, a, b) && !s_same(k, x, y);
    }
    return n;
}

/* Whether held svc declares its resource of s_enforced[r] otherwise than the state bsupd runs
 * (set->kept_fn): another resource, or other settings. Unknown: false. */
static bool s_changed(struct bsup_config_set *set, const struct bsup_service *svc, size_t r,
                      int *rc)
{
    struct bsup_service kept;
    memset(&kept, 0, sizeof(kept));
    int k = set->kept_fn ? set->kept_fn(set->kept_ctx, svc->service_name, &kept) : BSUP_ENOTFOUND;
    if (k == BSUP_ENOMEM)
        *rc = k;
    bool changed = false;
    if (k == 0 && kept.service_name) {
        char a[512], b[512], name[256];
        s_resource_key(set, svc, r, a, sizeof(a), name, sizeof(name));
        s_resource_key(set, &kept, r, b, sizeof(b), name, sizeof(name));
        changed = strcmp(a, b) != 0 || !s_uses(&kept, r) || s_differ(svc, &kept, r);
    }
    bsup_service_cleanup(&kept);
    return changed;
}

/* A held service's claims (s_resources). Of two held services at odds, the one whose file
 * changed the resource's settings, while the other's did not, is the one rejected: the other
 * declares what bsupd runs. Else the later in lexical order (s_agree). */
static void s_take_held(struct bsup_config_doc *f, struct s_file *file, const struct s_parsed *p)
{
    for (size_t r = 0; r < S_N_ENFORCED && f->rc == 0; r++) {
        char name[256];
        struct s_claim *c = s_uses(p->svc, r)
                                ? s_claim_of(f->set, p->svc, r, false, name, sizeof(name), &f->rc)
                                : NULL;
        if (!c)
            continue;
        if (!c->by) {
            c->by = p->svc;
            c->file = file;
            continue;
        }
        struct s_file *other = c->file;
        const struct bsup_service *was = c->by;
        if (!other || other == file || !s_differ(was, p->svc, r) ||
            !s_changed(f->set, was, r, &f->rc) || s_changed(f->set, p->svc, r, &f->rc)) {
            s_agree(f, &p->name_mark, p->svc, c, r, name);
            continue;
        }
        const struct s_parsed *op = NULL;
        for (size_t i = 0; i < other->pend.n && !op; i++)
            if (other->pend.v[i].svc == was)
                op = &other->pend.v[i];
        if (!op) {
            s_agree(f, &p->name_mark, p->svc, c, r, name);
            continue;
        }
        struct bsup_config_doc fo = {
            .set = f->set, .name = f->set->files[other->index].name, .errors = other->errors};
        c->by = p->svc;
        c->file = file;
        s_agree(&fo, &op->name_mark, was, c, r, name);
        other->errors = fo.errors;
        if (fo.rc)
            f->rc = fo.rc;
    }
}

/* The services of incumbent files rejected on their own, as kept (set->kept_fn): they claim
 * their resources first, since bsupd goes on running them as they were. */
struct s_keep {
    struct bsup_config_set *set;
    const struct s_holders *h;
    struct s_pending *kept; /* freed by the caller */
};

static int s_keep(void *ctx, const char *service, void *value)
{
    struct s_keep *k = ctx;
    const char *file = value;
    if (!bsup_strmap_get(&k->h->broken, file))
        return 0;
    if (BSUP_ARRAY_RESERVE(k->kept->v, k->kept->cap, k->kept->n + 1) < 0)
        return BSUP_ENOMEM;
    struct bsup_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return BSUP_ENOMEM;
    k->kept->v[k->kept->n++] = (struct s_parsed){.svc = svc};
    int rc = k->set->kept_fn(k->set->kept_ctx, service, svc);
    if (rc == BSUP_ENOMEM)
        return rc;
    if (rc || !svc->service_name) /* not kept, or unreadable: nothing to agree with */
        return 0;
    free(svc->source_file);
    if (!(svc->source_file = strdup(file)))
        return BSUP_ENOMEM;
    svc->line = svc->column = 0;
    for (size_t r = 0; r < S_N_ENFORCED && rc == 0; r++) {
        char name[256];
        struct s_claim *c =
            s_uses(svc, r) ? s_claim_of(k->set, svc, r, true, name, sizeof(name), &rc) : NULL;
        if (c && !c->by) /* two kept at odds: neither can be rejected now */
            c->by = svc;
    }
    return rc;
}

/* Before the files are claimed: a claim for each resource name a drop-in writes, then the
 * services kept from incumbent files rejected on their own take theirs, then the services their
 * incumbent file declares again (in lexical order), so that a service bsupd runs keeps its
 * resources against a newcomer that names them with other settings. */
static int s_resources(struct bsup_config_set *set, struct s_file *files, size_t n,
                       const struct s_holders *h, struct s_pending *kept)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = 0; !files[i].errors && j < files[i].pend.n && rc == 0; j++) {
            const struct bsup_service *svc = files[i].pend.v[j].svc;
            for (size_t r = 0; r < S_N_ENFORCED && rc == 0; r++) {
                char path[64], name[256];
                const void *v;
                snprintf(path, sizeof(path), "resources.%s", s_enforced[r].kind);
                s_field(svc, path, &v);
                if (*(const char *const *)v && s_uses(svc, r))
                    s_claim_of(set, svc, r, true, name, sizeof(name), &rc);
            }
        }
    }
    struct s_keep keep = {.set = set, .h = h, .kept = kept};
    if (rc == 0 && set->incumbents && set->kept_fn)
        rc = bsup_strmap_each(set->incumbents, s_keep, &keep);
    for (size_t i = 0; i < n && rc == 0 && set->incumbents; i++) {
        const char *file = set->files[files[i].index].name;
        struct bsup_config_doc f = {.set = set, .name = file, .errors = files[i].errors};
        for (size_t j = 0; !files[i].errors && j < files[i].pend.n && f.rc == 0; j++) {
            struct s_parsed *p = &files[i].pend.v[j];
            const char *owner = bsup_strmap_get(set->incumbents, p->svc->service_name);
            if (!owner || strcmp(owner, file) != 0)
                continue;
            p->resources_taken = true;
            s_take_held(&f, &files[i], p);
        }
        files[i].errors = f.errors;
        rc = f.rc;
    }
    return rc;
}

/* The checks across files, then the file is accepted (its services move into set) or rejected.
 * A service stays with its incumbent file while that file holds it; otherwise the first file to
 * declare it, in lexical order, has it. */
static int s_claim(struct bsup_config_set *set, struct s_file *file, const struct s_holders *h)
{
    const char *name = set->files[file->index].name;
    struct bsup_config_doc f = {.set = set, .name = name, .errors = file->errors};
    for (size_t i = 0; i < file->pend.n && f.rc == 0; i++) {
        const char *svc = file->pend.v[i].svc->service_name;
        const yaml_mark_t *m = &file->pend.v[i].name_mark;
        if (!svc)
            continue;
        const char *owner = set->incumbents ? bsup_strmap_get(set->incumbents, svc) : NULL;
        uintptr_t at = (uintptr_t)bsup_strmap_get(&set->by_name, svc);
        if (owner && strcmp(owner, name) != 0 &&
            (bsup_strmap_get(&h->held, svc) || bsup_strmap_get(&h->broken, owner))) {
            bsup_config_error(&f, m,
                              "service_name %s is already declared in %s (which bsupd loaded it "
                              "from)",
                              svc, owner);
        } else if (at) {
            const struct bsup_service *o = set->services[at - 1];
            bsup_config_error(&f, m, "service_name %s is already declared in %s:%u:%u", svc,
                              o->source_file, o->line, o->column);
        }
    }
    /* Not when the file is rejected already: its services claim nothing. */
    for (size_t i = 0; i < file->pend.n && f.rc == 0 && f.errors == 0; i++)
        if (!file->pend.v[i].resources_taken)
            s_take(&f, &file->pend.v[i], !h->named_only);
    if (f.rc == 0 && f.errors == 0) {
        set->files[file->index].ok = true;
        set->files[file->index].n_services = file->pend.n;
        f.rc = s_move_services(set, &file->pend);
    } else {
        for (size_t i = 0; i < file->pend.n; i++)
            if (!file->pend.v[i].resources_taken)
                s_untake(set, file->pend.v[i].svc);
    }
    return f.rc;
}

int bsup_config_parse_buffer(struct bsup_config_set *set, const char *name, const char *data,
                             size_t len)
{
    struct s_file file = {0};
    struct s_holders none = {0};
    int rc = s_parse_file(set, name, data, len, &file);
    if (rc == 0)
        rc = s_claim(set, &file, &none);
    s_pending_free(&file.pend);
    return rc;
}

bool bsup_config_is_dropin_name(const char *name)
{
    static const char *const leftovers[] = {"~",       ".swp",     ".swx",     ".bak", ".orig",
                                            ".rpmnew", ".rpmsave", ".rpmorig", "#"};
    size_t n = strlen(name);
    if (n == 0 || name[0] == '.' || strstr(name, ".dpkg-") || strstr(name, ".ucf-"))
        return false;
    for (size_t i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
        size_t l = strlen(leftovers[i]);
        if (n >= l && strcmp(name + n - l, leftovers[i]) == 0)
            return false;
    }
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* A file name with a control character is never loaded, nor written anywhere as it is (a
 * terminal escape in a log, an event, bsupctl's output): *name becomes its escaped form,
 * each such byte "\\xNN", and BSUP_EINVAL says so. 0 for a plain name, or BSUP_ENOMEM. */
static int s_control_escaped(char **name)
{
    size_t n = 0;
    for (const char *c = *name; *c; c++)
        n += (unsigned char)*c < 0x20 || *c == 0x7f;
    if (!n)
        return 0;
    char *out = malloc(strlen(*name) + 3 * n + 1), *o = out;
    if (!out)
        return BSUP_ENOMEM;
    for (const char *c = *name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            o += sprintf(o, "\\x%02x", (unsigned char)*c);
        else
            *o++ = *c;
    *o = '\0';
    free(*name);
    *name = out;
    return BSUP_EINVAL;
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Where a drop-in that is a symlink leads, when that is inside the directory (dirfd): 0 and
 * the resolved path in out; else an error with why. */
static int s_confined_target(int dirfd, const char *name, char *out, size_t out_len, char *why,
                             size_t why_len)
{
    char link[64], dir[PATH_MAX], *target;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
    if (!realpath(link, dir)) {
        snprintf(why, why_len, "cannot resolve the directory: %s", strerror(errno));
        return BSUP_EIO;
    }
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return BSUP_ENOMEM;
    target = realpath(path, NULL);
    free(path);
    if (!target) {
        snprintf(why, why_len, "symlink cannot be followed: %s", strerror(errno));
        return BSUP_EIO;
    }
    size_t dl = strlen(dir);
    int rc = 0;
    if (strncmp(target, dir, dl) != 0 || target[dl] != '/' || strchr(target + dl + 1, '/')) {
        snprintf(why, why_len,
                 "symlink leads outside the configuration directory; drop-ins must live in it");
        rc = BSUP_EPERM;
    } else {
        snprintf(out, out_len, "%s", target);
    }
    free(target);
    return rc;
}

/* Reads a whole regular file of at most cap bytes: never blocks (a FIFO or device is refused
 * after a non-blocking open) and, with confine, follows a symlink only to a file of the same
 * directory. Returns 0, or an errno-style code with a message in why. */
int bsup_config_read_file(int dirfd, const char *name, bool confine, char **out, size_t *out_len,
                          char *why, size_t why_len)
{
    char target[PATH_MAX];
    struct stat lst;
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    /* Confined, a link is followed only to a file in the directory: ELOOP says it is one. */
    fd = openat(dirfd, name, flags | (confine ? O_NOFOLLOW : 0));
    if (fd < 0 && errno == ELOOP && confine &&
        fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode)) {
        int rc = s_confined_target(dirfd, name, target, sizeof(target), why, why_len);
        if (rc)
            return rc;
        fd = open(target, flags | O_NOFOLLOW);
    }
    if (fd < 0) {
        snprintf(why, why_len, "cannot open: %s", strerror(errno));
        return errno == ENOENT ? BSUP_ENOTFOUND : BSUP_EIO;
    }
    struct stat st;
    char *buf = NULL;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "not a regular file");
        rc = BSUP_EIO;
        goto out;
    }
    if (st.st_size > BSUP_CONFIG_MAX_FILE_BYTES) {
        snprintf(why, why_len, "file is %lld bytes; drop-ins are limited to %d bytes (1 MiB)",
                 (long long)st.st_size, BSUP_CONFIG_MAX_FILE_BYTES);
        rc = BSUP_ETOOBIG;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    buf = malloc(cap + 1);
    if (!buf) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, why_len, "cannot read: %s", strerror(errno));
            rc = BSUP_EIO;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) { /* grew while we read it */
            snprintf(why, why_len, "file changed size while being read");
            rc = BSUP_EIO;
            goto out;
        }
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int bsup_config_load_dir(const char *dir, struct bsup_config_set *set, struct bsup_diag *diag)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct s_file *files = NULL;
    struct s_holders holders = {0};
    struct s_pending kept = {0};
    int rc = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return bsup_diag_set(diag, errno == ENOENT ? BSUP_ENOTFOUND : BSUP_EIO,
                             "%s: cannot open the configuration directory: %s", dir,
                             strerror(errno));
    int dfd2 = dup(dfd);
    DIR *d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
    if (!d) {
        rc = bsup_diag_set(diag, BSUP_EIO, "%s: cannot list the directory: %s", dir,
                           strerror(errno));
        if (dfd2 >= 0)
            close(dfd2);
        goto out;
    }
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!bsup_config_is_dropin_name(de->d_name))
            continue;
        if (n == BSUP_CONFIG_MAX_FILES) {
            rc = bsup_diag_set(diag, BSUP_ETOOBIG, "%s: more than %d drop-ins", dir,
                               BSUP_CONFIG_MAX_FILES);
            closedir(d);
            goto out;
        }
        if (BSUP_ARRAY_RESERVE(names, cap, n + 1) < 0) {
            closedir(d);
            rc = BSUP_ENOMEM;
            goto out;
        }
        if (!(names[n] = strdup(de->d_name))) {
            closedir(d);
            rc = BSUP_ENOMEM;
            goto out;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), s_cmp);

    /* Every file on its own first, then the names across files: whether a service's incumbent
     * file still holds it is known only once every file is read. */
    if (n && !(files = calloc(n, sizeof(*files))))
        rc = BSUP_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *data = NULL, why[512];
        size_t len = 0;
        int frc = s_control_escaped(&names[i]);
        if (frc == 0)
            frc = bsup_config_read_file(dfd, names[i], true, &data, &len, why, sizeof(why));
        else if (frc == BSUP_EINVAL)
            snprintf(why, sizeof(why),
                     "a drop-in's name may not hold control characters "
                     "(shown as \\xNN); rename the file");
        if (frc == BSUP_ENOMEM) {
            rc = frc;
        } else if (frc) {
            char *text = NULL;
            if ((rc = s_file_push(set, names[i])) == 0) {
                files[i] = (struct s_file){.index = set->n_files - 1, .errors = 1};
                if (asprintf(&text, "%s: %s", names[i], why) < 0)
                    rc = BSUP_ENOMEM;
                else
                    rc = bsup_config_msg_add(set, BSUP_CONFIG_ERROR, names[i], text);
            }
        } else {
            rc = s_parse_file(set, names[i], data, len, &files[i]);
        }
        free(data);
    }
    holders.named_only = true;
    if (rc == 0)
        rc = s_holders_build(set, files, n, &holders);
    if (rc == 0)
        rc = s_resources(set, files, n, &holders, &kept);
    /* A rejected file's services are freed at the end: a claim may still point at one. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = s_claim(set, &files[i], &holders);
        if (set->files[files[i].index].ok)
            s_pending_free(&files[i].pend);
    }
out:
    bsup_strmap_cleanup_free(&set->resources);
    s_pending_free(&kept);
    for (size_t i = 0; files && i < n; i++)
        s_pending_free(&files[i].pend);
    free(files);
    bsup_strmap_cleanup(&holders.held);
    bsup_strmap_cleanup(&holders.broken);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    close(dfd);
    if (rc == BSUP_ENOMEM)
        bsup_diag_set(diag, rc, "%s: out of memory while loading drop-ins", dir);
    return rc;
}

void bsup_config_set_init(struct bsup_config_set *set)
{
    memset(set, 0, sizeof(*set));
}

void bsup_config_set_cleanup(struct bsup_config_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_services; i++) {
        bsup_service_cleanup(set->services[i]); /* NULL: taken over */
        free(set->services[i]);
    }
    free(set->services);
    for (size_t i = 0; i < set->n_files; i++)
        free(set->files[i].name);
    free(set->files);
    for (size_t i = 0; i < set->n_msgs; i++) {
        free(set->msgs[i].file);
        free(set->msgs[i].text);
    }
    free(set->msgs);
    bsup_strmap_cleanup(&set->by_name);
    bsup_strmap_cleanup_free(&set->resources);
    memset(set, 0, sizeof(*set));
}
