#include "daemon/daemon.h"

#include "core/base/strmap.h"
#include "core/reconcile/backup.h"
#include "daemon/daemon_internal.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "store/events.h"
#include "store/journal.h"

#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_EVENT_MAX_AGE_S (30 * 86400)
#define S_MAX_ROWS 100000    /* events and journal rows kept at most */
#define S_FILE_ERRORS_MAX 20 /* messages listed (and logged) per drop-in; the rest are counted */

static int64_t s_now_s(void)
{
    return (int64_t)time(NULL);
}

void bsup_daemon_event(struct bsup_daemon *d, const char *service, const char *kind,
                       const char *request_id, const char *fmt, ...)
{
    char msg[1024];
    struct bsup_diag diag = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (bsup_store_event_add(d->store, s_now_s(), service, kind, msg, request_id, &diag))
        bsup_log_err("cannot record an event kind=%s error=%s", kind, diag.message);
    if (d->pub)
        bsup_publisher_recount(d->pub); /* the event may have queued an alert */
}

void bsup_daemon_request_id(struct bsup_daemon *d, char out[40])
{
    snprintf(out, 40, "r%llx-%llu", (unsigned long long)d->started_at_s,
             (unsigned long long)++d->request_seq);
}

void bsup_daemon_status_line(const struct bsup_daemon *d, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%zu service%s", d->load_services, d->load_services == 1 ? "" : "s");
    if (n > 0 && (size_t)n < len && d->files_rejected)
        n += snprintf(buf + n, len - (size_t)n, ", %zu file%s rejected", d->files_rejected,
                      d->files_rejected == 1 ? "" : "s");
    if (n > 0 && (size_t)n < len && d->reload_failed_at_s) /* the earlier load still serves */
        n += snprintf(buf + n, len - (size_t)n, ", last reload failed");
    struct bsup_reconcile_figures f = {.healthy = true};
    if (d->rec)
        bsup_reconcile_figures(d->rec, &f);
    if (n > 0 && (size_t)n < len) {
        if (f.cycles == 0 && f.n_recorded == 0)
            n += snprintf(buf + n, len - (size_t)n, ", never reconciled");
        else
            n += snprintf(buf + n, len - (size_t)n, ", %zu drift, %zu degraded", f.n_drift,
                          f.n_degraded);
        if (n > 0 && (size_t)n < len && f.n_error) /* AWS unreachable is not "degraded" */
            n += snprintf(buf + n, len - (size_t)n, ", %zu error", f.n_error);
        if (n > 0 && (size_t)n < len && f.cycles)
            n += snprintf(
                buf + n, len - (size_t)n, ", last cycle %llds ago", /* clock set back: 0 */
                (long long)(s_now_s() > f.last_cycle_at_s ? s_now_s() - f.last_cycle_at_s : 0));
        if (n > 0 && (size_t)n < len && f.n_recorded)
            n += snprintf(buf + n, len - (size_t)n, ", %zu as recorded before the start",
                          f.n_recorded);
    }
    if (n > 0 && (size_t)n < len && d->pub) {
        struct bsup_publisher_figures pf;
        bsup_publisher_figures(d->pub, &pf);
        if (pf.outbox_depth && d->settings->metrics.enabled) /* disabled: kept, not waiting */
            n += snprintf(buf + n, len - (size_t)n, ", %zu metric%s waiting (oldest %llds)",
                          pf.outbox_depth, pf.outbox_depth == 1 ? "" : "s",
                          (long long)(s_now_s() - pf.oldest_at_ms / 1000));
        if (n > 0 && (size_t)n < len && pf.alerts_waiting)
            n += snprintf(buf + n, len - (size_t)n, ", %zu alert%s waiting", pf.alerts_waiting,
                          pf.alerts_waiting == 1 ? "" : "s");
        if (n > 0 && (size_t)n < len && pf.alerts_held)
            n += snprintf(buf + n, len - (size_t)n, ", %zu recover%s held", pf.alerts_held,
                          pf.alerts_held == 1 ? "y" : "ies");
    }
    if (n > 0 && (size_t)n < len && !f.healthy)
        n += snprintf(buf + n, len - (size_t)n, ", UNHEALTHY: state database failing");
    if (n > 0 && (size_t)n < len && d->paused)
        snprintf(buf + n, len - (size_t)n, ", paused");
}

static void s_update_status(struct bsup_daemon *d, bool ready)
{
    char line[256];
    bsup_daemon_status_line(d, line, sizeof(line));
    if (ready)
        bsup_notify_ready(line);
    else
        bsup_notify_status(line);
}

static int s_generation_row(void *ctx, const char *service, int64_t generation)
{
    json_t *value = json_integer(generation);
    return json_object_set_new(ctx, service, value) ? BSUP_ENOMEM : 0;
}

/* name -> generation of every stored service, to tell what a load added, changed or removed.
 * Only those two columns are read: a copy of every stored config would be the load's largest
 * allocation (10 000 services: 10 MiB beside the parsed drop-ins). */
static json_t *s_generations(struct bsup_daemon *d, struct bsup_diag *diag)
{
    json_t *map = json_object();
    int rc = map ? bsup_store_generations_each(d->store, s_generation_row, map, diag) : BSUP_ENOMEM;
    if (rc == 0)
        return map;
    if (rc == BSUP_ENOMEM)
        bsup_diag_set(diag, rc, "reading the desired state: out of memory");
    json_decref(map);
    return NULL;
}

static int s_incumbent_row(void *ctx, const struct bsup_store_service *row)
{
    /* One allocation, "file\0service\0": the value is the file, the key lives in it. */
    size_t lf = strlen(row->source_file) + 1, ls = strlen(row->service) + 1;
    char *v = malloc(lf + ls);
    if (!v)
        return BSUP_ENOMEM;
    memcpy(v, row->source_file, lf);
    memcpy(v + lf, row->service, ls);
    if (bsup_strmap_put(ctx, v + lf, v)) {
        free(v);
        return BSUP_ENOMEM;
    }
    return 0;
}

/* service -> the file it was loaded from (the store's source_file): the loader leaves a service
 * with that file while it still holds it (docs/config.md, "Two files, one service_name"). */
static int s_incumbents(struct bsup_daemon *d, struct bsup_strmap *out, struct bsup_diag *diag)
{
    int rc = bsup_store_services_each(d->store, false, s_incumbent_row, out, diag);
    if (rc == BSUP_ENOMEM)
        bsup_diag_set(diag, rc, "reading the desired state: out of memory");
    return rc;
}

struct s_kept {
    const char *service;
    struct bsup_service *out;
    int rc;
};

static int s_kept_row(void *ctx, const struct bsup_store_service *row)
{
    struct s_kept *k = ctx;
    if (strcmp(row->service, k->service) == 0)
        k->rc = bsup_service_from_json(row->config_json, k->out);
    return 1; /* the first row from the name is the service, or it is not stored */
}

/* The state a service keeps while its file is rejected (the loader's kept_fn): the store's. */
static int s_kept(void *ctx, const char *service, struct bsup_service *out)
{
    struct bsup_daemon *d = ctx;
    struct s_kept k = {.service = service, .out = out, .rc = BSUP_ENOTFOUND};
    struct bsup_diag diag = {0};
    int rc = bsup_store_services_from(d->store, true, service, 0, s_kept_row, &k, &diag);
    if (rc < 0)
        bsup_log_err("%s", diag.message);
    return rc < 0 ? rc : k.rc;
}

/* Appends text to *list, made on first use. */
static void s_list_add(json_t **list, const char *text)
{
    if (!*list)
        *list = json_array();
    json_array_append_new(*list, json_string(text));
}

/* The load's messages, each once: logged, and its errors listed under its file (file_errors[i]
 * for set->files[i], NULL while it has none) or, when about no listed file, in other. Per file the
 * first S_FILE_ERRORS_MAX are kept and the rest counted in one "... and K more" line, so a drop-in
 * with thousands of bad keys cannot flood the log or outgrow a control reply. */
static int s_collect_msgs(const struct bsup_config_set *set, json_t **file_errors, json_t *other)
{
    struct bsup_strmap by_name = {0};
    size_t *n_msgs = calloc(set->n_files + 1, sizeof(*n_msgs));
    size_t *n_errors = calloc(set->n_files + 1, sizeof(*n_errors));
    int rc = BSUP_ENOMEM;
    if (!n_msgs || !n_errors || bsup_strmap_reserve(&by_name, set->n_files))
        goto out;
    for (size_t i = 0; i < set->n_files; i++)
        if (bsup_strmap_put(&by_name, set->files[i].name, (void *)(uintptr_t)(i + 1)))
            goto out;
    for (size_t m = 0; m < set->n_msgs; m++) {
        const struct bsup_config_msg *msg = &set->msgs[m];
        bool error = msg->severity == BSUP_CONFIG_ERROR;
        uintptr_t at = msg->file ? (uintptr_t)bsup_strmap_get(&by_name, msg->file) : 0;
        if (at == 0 || ++n_msgs[at - 1] <= S_FILE_ERRORS_MAX)
            bsup_log(error ? BSUP_LOG_ERR : BSUP_LOG_WARNING, "%s file=%s", msg->text,
                     msg->file ? msg->file : "-");
        if (!error)
            continue;
        if (at == 0)
            json_array_append_new(other, json_string(msg->text));
        else if (++n_errors[at - 1] <= S_FILE_ERRORS_MAX)
            s_list_add(&file_errors[at - 1], msg->text);
    }
    for (size_t i = 0; i < set->n_files; i++) {
        const char *name = set->files[i].name;
        if (n_msgs[i] > S_FILE_ERRORS_MAX)
            bsup_log_warn("%s: \u2026 and %zu more messages not logged file=%s", name,
                          n_msgs[i] - S_FILE_ERRORS_MAX, name);
        if (n_errors[i] > S_FILE_ERRORS_MAX) {
            char line[512];
            snprintf(line, sizeof(line), "%s: \u2026 and %zu more errors", name,
                     n_errors[i] - S_FILE_ERRORS_MAX);
            s_list_add(&file_errors[i], line);
        }
    }
    rc = 0;
out:
    bsup_strmap_cleanup(&by_name);
    free(n_msgs);
    free(n_errors);
    return rc;
}

/* The settings file's content as it is now (a hash; "missing"), to tell it changed since the
 * start: an editor that rewrites it unchanged is no change. */
static void s_settings_sig(const struct bsup_daemon *d, char *out, size_t len)
{
    const char *path = d->opts->settings_file ? d->opts->settings_file : BSUP_DEFAULT_SETTINGS_FILE;
    FILE *f = fopen(path, "rbe");
    if (!f) {
        snprintf(out, len, "missing");
        return;
    }
    uint64_t h = 1469598103934665603ull, n = 0;
    for (int c; (c = getc(f)) != EOF; n++)
        h = (h ^ (unsigned char)c) * 1099511628211ull;
    fclose(f);
    snprintf(out, len, "%llu/%llx", (unsigned long long)n, (unsigned long long)h);
}

/* j encoded, or [] for NULL. */
static void s_put_list(struct bsup_buf *b, const json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (j && !text)
        bsup_buf_fail(b, BSUP_ENOMEM);
    bsup_buf_puts(b, text ? text : "[]");
    free(text);
}

/* The load's summary, status's daemon.last_load: written as text, not built as objects (at
 * 10 000 files the objects took 5 MiB at the load's peak for a 0.7 MiB text). NULL: no memory. */
static char *s_load_text(const struct bsup_config_set *set, json_t *const *file_errors,
                         const json_t *errors, const struct bsup_store_apply_stats *stats,
                         size_t services, size_t rejected, const char *warning)
{
    struct bsup_buf b = BSUP_BUF_INIT(SIZE_MAX, 0);
    char *text = NULL;
    bsup_buf_puts(&b, rejected ? "{\"ok\":false" : "{\"ok\":true");
    bsup_buf_json_int(&b, "at", s_now_s());
    bsup_buf_json_int(&b, "files", (int64_t)set->n_files);
    bsup_buf_json_int(&b, "files_rejected", (int64_t)rejected);
    bsup_buf_json_int(&b, "services", (int64_t)services);
    bsup_buf_json_int(&b, "added", (int64_t)stats->added);
    bsup_buf_json_int(&b, "changed", (int64_t)stats->changed);
    bsup_buf_json_int(&b, "unchanged", (int64_t)stats->unchanged);
    bsup_buf_json_int(&b, "removed", (int64_t)stats->removed);
    bsup_buf_json_int(&b, "kept", (int64_t)stats->kept);
    bsup_buf_puts(&b, ",\"file_list\":[");
    for (size_t i = 0; i < set->n_files; i++) {
        bsup_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
        bsup_buf_json_string(&b, set->files[i].name);
        bsup_buf_puts(&b, set->files[i].ok ? ",\"ok\":true" : ",\"ok\":false");
        bsup_buf_json_int(&b, "services", (int64_t)set->files[i].n_services);
        bsup_buf_puts(&b, ",\"errors\":");
        s_put_list(&b, file_errors[i]);
        bsup_buf_putc(&b, '}');
    }
    bsup_buf_puts(&b, "],\"errors\":");
    s_put_list(&b, errors);
    bsup_buf_puts(&b, ",\"warnings\":[");
    if (warning)
        bsup_buf_json_string(&b, warning);
    bsup_buf_puts(&b, "]}");
    bsup_buf_take(&b, &text, NULL);
    return text;
}

static int s_file_of(void *ctx, const char *key, void *value)
{
    (void)key;
    return bsup_strmap_put(ctx, value, value); /* "file\0service": the file is its start */
}

/* had[i]: whether rejected file i had services loaded (it holds them at their last good state)
 * or never loaded any (nothing of it runs), as incumbents says. 0 or BSUP_ENOMEM. */
static int s_rejected_had(const struct bsup_strmap *incumbents, const struct bsup_config_set *set,
                          bool *had)
{
    struct bsup_strmap files = {0};
    int rc = bsup_strmap_each(incumbents, s_file_of, &files);
    for (size_t i = 0; rc == 0 && i < set->n_files; i++)
        had[i] = !set->files[i].ok && bsup_strmap_get(&files, set->files[i].name);
    bsup_strmap_cleanup(&files);
    return rc;
}

int bsup_daemon_reload(struct bsup_daemon *d, const char *request_id, json_t **out_error)
{
    struct bsup_diag diag = {0};
    struct bsup_config_set set;
    struct bsup_store_apply_stats stats = {0};
    json_t *before = NULL, *after = NULL, *errors = NULL;
    json_t **file_errors = NULL;
    struct bsup_strmap incumbents = {0};
    bool *had = NULL;                          /* per file: rejected, with services loaded before */
    bool was_rejected = d->files_rejected > 0; /* the sweep deleted nothing meanwhile */
    int rc = 0;

    bsup_config_set_init(&set);
    if (out_error)
        *out_error = NULL;
    if (!(before = s_generations(d, &diag))) {
        rc = diag.code ? diag.code : BSUP_ENOMEM;
        goto fail;
    }
    if ((rc = s_incumbents(d, &incumbents, &diag)))
        goto fail;
    set.incumbents = &incumbents;
    set.region = d->settings->region;
    set.kept_fn = s_kept;
    set.kept_ctx = d;
    rc = bsup_config_load_dir(d->settings->config_dir, &set, &diag);
    set.incumbents = NULL;
    if (rc == 0 &&
        (!(had = calloc(set.n_files + 1, sizeof(*had))) || s_rejected_had(&incumbents, &set, had)))
        rc = bsup_diag_set(&diag, BSUP_ENOMEM, "out of memory");
    /* No drop-in at all while services are loaded is taken for a mistake (a mount missing, the
     * files moved away), not an order to remove them all, which starts the sweeps of their
     * alarms and drill instances: a drop-in of services: [] says it is meant. */
    if (rc == 0 && set.n_files == 0 && json_object_size(before) > 0)
        rc = bsup_diag_set(&diag, BSUP_EINVAL,
                           "%s holds no drop-in: the %zu services loaded stay (to remove them "
                           "all, leave a drop-in holding 'services: []')",
                           d->settings->config_dir, json_object_size(before));
    bsup_strmap_cleanup_free(&incumbents);
    if (rc)
        goto fail;
    errors = json_array();
    file_errors = calloc(set.n_files + 1, sizeof(*file_errors));
    if (!errors || !file_errors || s_collect_msgs(&set, file_errors, errors)) {
        rc = bsup_diag_set(&diag, BSUP_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = bsup_store_apply_config(d->store, &set, s_now_s(), &stats, &diag)))
        goto fail;
    if (!(after = s_generations(d, &diag))) {
        rc = diag.code ? diag.code : BSUP_ENOMEM;
        goto fail;
    }

    /* What changed, as events an operator can read back with bsupctl events: in one
     * transaction (10 000 services added must not cost 10 000 commits). */
    bool tx = bsup_store_begin(d->store, &diag) == 0;
    if (!tx)
        bsup_log_err("%s", diag.message);
    const char *name;
    json_t *gen;
    json_object_foreach(after, name, gen)
    {
        json_t *old = json_object_get(before, name);
        if (!old)
            bsup_daemon_event(d, name, "service.added", request_id, "added at generation %lld",
                              (long long)json_integer_value(gen));
        else if (json_integer_value(old) != json_integer_value(gen))
            bsup_daemon_event(
                d, name, "service.changed", request_id, "changed: generation %lld -> %lld",
                (long long)json_integer_value(old), (long long)json_integer_value(gen));
    }
    json_object_foreach(before, name, gen)
    {
        if (!json_object_get(after, name))
            bsup_daemon_event(d, name, "service.removed", request_id,
                              "removed: no longer declared (was generation %lld)",
                              (long long)json_integer_value(gen));
    }
    /* A reload that changes nothing and finds the same files rejected says so once: a reload
     * storm must not push the history out of the bounded events table. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < set.n_files; i++)
        for (const char *c = set.files[i].ok ? "" : set.files[i].name; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
    char sig[64];
    snprintf(sig, sizeof(sig), "%zu/%zu/%zu/%llx", set.n_files, json_object_size(after), stats.kept,
             (unsigned long long)h);
    bool same = !stats.added && !stats.changed && !stats.removed && strcmp(sig, d->load_sig) == 0;
    size_t rejected = 0;
    for (size_t i = 0; i < set.n_files; i++) {
        if (set.files[i].ok)
            continue;
        rejected++;
        json_t *first = json_array_get(file_errors[i], 0);
        if (!same)
            bsup_daemon_event(d, NULL, "config.file_rejected", request_id, "%s rejected; %s: %s",
                              set.files[i].name,
                              had[i] ? "its services keep their last good state"
                                     : "it never loaded, so none of its services runs",
                              first ? json_string_value(first) : "errors");
    }
    /* bsupd.yaml is read at start only: an operator who edited it and reloads is told. */
    char settings_now[sizeof(d->settings_sig)], warning[600];
    s_settings_sig(d, settings_now, sizeof(settings_now));
    bool settings_changed = d->settings_sig[0] && strcmp(settings_now, d->settings_sig) != 0;
    if (settings_changed) {
        snprintf(warning, sizeof(warning),
                 "%s changed since bsupd started and is read at start only: restart bsupd to "
                 "apply it (bsupd --check-config first)",
                 d->opts->settings_file ? d->opts->settings_file : BSUP_DEFAULT_SETTINGS_FILE);
        bsup_log_warn("%s", warning);
    }
    char *load_text = s_load_text(&set, file_errors, errors, &stats, json_object_size(after),
                                  rejected, settings_changed ? warning : NULL);
    struct bsup_strmap rejected_files = {0};
    for (size_t i = 0; load_text && i < set.n_files; i++) {
        char *copy = set.files[i].ok ? NULL : strdup(set.files[i].name);
        if (!set.files[i].ok && (!copy || bsup_strmap_put(&rejected_files, copy, copy))) {
            free(copy);
            free(load_text);
            load_text = NULL;
        }
    }
    if (!load_text) {
        bsup_strmap_cleanup_free(&rejected_files);
        if (tx)
            bsup_store_rollback(d->store);
        rc = BSUP_ENOMEM;
        goto out;
    }
    free(d->last_load);
    d->last_load = load_text;
    bsup_strmap_cleanup_free(&d->rejected_files);
    d->rejected_files = rejected_files;
    d->load_services = json_object_size(after);
    d->files_rejected = rejected;
    d->reloads++;
    /* After a failed reload even an identical load is said: the configuration loads again
     * (and the config-failed alert closes). */
    if (!same || d->reload_failed_at_s)
        bsup_daemon_event(d, NULL, "config.loaded", request_id,
                          "%sloaded %zu files (%zu rejected): %zu services, %zu added, %zu "
                          "changed, %zu removed, %zu kept from rejected files",
                          d->reload_failed_at_s ? "configuration loads again after a failed "
                                                  "reload: "
                                                : "",
                          set.n_files, rejected, json_object_size(after), stats.added,
                          stats.changed, stats.removed, stats.kept);
    d->reload_failed_at_s = 0;
    snprintf(d->load_sig, sizeof(d->load_sig), "%s", sig);
    if (tx && bsup_store_commit(d->store, &diag))
        bsup_log_err("%s", diag.message);
    bsup_log(rejected ? BSUP_LOG_WARNING : BSUP_LOG_INFO,
             "desired state loaded action=reload request_id=%s files=%zu rejected=%zu "
             "services=%zu added=%zu changed=%zu unchanged=%zu removed=%zu kept=%zu",
             request_id ? request_id : "-", set.n_files, rejected, json_object_size(after),
             stats.added, stats.changed, stats.unchanged, stats.removed, stats.kept);
    /* The load is in the store and its summary encoded: the rest goes before the engine takes
     * the parsed services over (moved, neither copied nor parsed back from the store: 10 000
     * services never take memory twice). */
    for (size_t i = 0; file_errors && i < set.n_files; i++)
        json_decref(file_errors[i]);
    free(file_errors);
    file_errors = NULL;
    json_decref(before);
    json_decref(after);
    before = after = NULL;
    bsup_store_prune(d->store, s_now_s() - S_EVENT_MAX_AGE_S, S_MAX_ROWS, NULL);
    if (d->rec && bsup_reconcile_sync(d->rec, &set, &diag))
        bsup_log_err("reconcile engine: %s", diag.message);
    else if (d->sweep &&
             (d->reloads == 1 || stats.removed || stats.changed || (was_rejected && !rejected)))
        bsup_sweep_soon(d->sweep); /* what services that left (or moved) had, once known */
    bsup_config_set_cleanup(&set);
    bsup_config_set_init(&set);
    malloc_trim(0); /* the load's memory back to the system, not kept as free heap */
    goto out;
fail:
    bsup_log_err("configuration not loaded action=reload request_id=%s error=%s: %s",
                 request_id ? request_id : "-", bsup_err_name(rc), diag.message);
    d->reload_failed_at_s = s_now_s();
    snprintf(d->reload_failed_error, sizeof(d->reload_failed_error), "%s", diag.message);
    if (d->store)
        bsup_daemon_event(d, NULL, "config.failed", request_id, "configuration not loaded: %s",
                          diag.message);
    if (out_error)
        *out_error = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", bsup_err_name(rc), "message",
                               diag.message);
out:
    for (size_t i = 0; file_errors && i < set.n_files; i++)
        json_decref(file_errors[i]);
    free(file_errors);
    json_decref(errors);
    json_decref(before);
    json_decref(after);
    bsup_strmap_cleanup_free(&incumbents);
    free(had);
    bsup_config_set_cleanup(&set);
    return rc;
}

/* Status's attention: a service needs an operator (drift, missing, fighting, error ...), or
 * the configuration does (a rejected file, a failed reload). */
static bool s_attention(const struct bsup_daemon *d)
{
    struct bsup_reconcile_figures f = {0};
    if (d->rec)
        bsup_reconcile_figures(d->rec, &f);
    return f.attention || d->files_rejected || d->reload_failed_at_s;
}

static void on_engine_change(void *ctx)
{
    struct bsup_daemon *d = ctx;
    struct bsup_reconcile_figures f;
    if (d->pub)
        bsup_publisher_recount(d->pub); /* datums and alerts of the batch */
    bsup_reconcile_figures(d->rec, &f);
    if (d->healthy != f.healthy) {
        bsup_log_warn("%s", f.healthy ? "healthy again: the state database answers"
                                      : "unhealthy: the state database fails");
        /* An alert too (daemon-unhealthy / daemon-healthy), if the database takes it. */
        bsup_daemon_event(d, NULL, f.healthy ? "daemon.healthy" : "daemon.unhealthy", NULL, "%s",
                          f.healthy       ? "the state database answers again"
                          : f.store_error ? f.store_error
                                          : "state database fails");
    }
    d->healthy = f.healthy;
    if (!d->stopping)
        s_update_status(d, false);
}

/* Sends a waiter its reply (taken), with its request's "id". */
static void s_waiter_reply(struct bsup_daemon_waiter *w, json_t *reply)
{
    if (reply && w->id)
        json_object_set(reply, "id", w->id);
    if (reply && w->d->control)
        bsup_control_reply(w->d->control, w->client_id, reply);
    else
        json_decref(reply);
}

static void s_waiter_free(struct bsup_daemon_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->d->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    json_decref(w->id);
    free(w);
}

static void on_waiter_done(void *ctx, bool cut_short)
{
    struct bsup_daemon_waiter *w = ctx;
    struct bsup_daemon *d = w->d;
    /* A waiter told shutting_down was promised that the events tell how its cycle ended. */
    bsup_daemon_event(d, NULL, "reconcile.done", w->request_id, "%s",
                      cut_short     ? "requested cycle cut short by the stop: the services it did "
                                      "not finish keep their last recorded state"
                      : w->answered ? "requested cycle done during the stop"
                                    : "requested cycle done");
    if (!w->answered) {
        s_waiter_reply(w, json_pack("{s:b, s:s, s:b, s:b}", "ok", 1, "request_id", w->request_id,
                                    "completed", 1, "attention", s_attention(d)));
    }
    s_waiter_free(w);
}

/* Every reconcile --wait whose cycle is not done is answered shutting_down now, before the
 * socket closes: the cycle may be cut short, and the stop may take until its deadline. */
static void s_answer_waiters(struct bsup_daemon *d)
{
    for (struct bsup_daemon_waiter *w = d->waiters; w; w = w->next) {
        if (w->answered)
            continue;
        w->answered = true;
        s_waiter_reply(w, bsup_control_error("shutting_down",
                                             "bsupd is stopping before the cycle asked for was "
                                             "done (request %s); 'bsupctl events' tells how it "
                                             "ended once bsupd runs again",
                                             w->request_id));
    }
}

int bsup_daemon_reconcile(struct bsup_daemon *d, const char *service, const char *request_id,
                          struct bsup_daemon_waiter *waiter)
{
    if (waiter) {
        waiter->d = d;
        snprintf(waiter->request_id, sizeof(waiter->request_id), "%s", request_id);
    }
    int rc = bsup_reconcile_now(d->rec, service, waiter ? on_waiter_done : NULL, waiter);
    if (rc && waiter) {
        json_decref(waiter->id);
        free(waiter);
    } else if (waiter) {
        waiter->next = d->waiters;
        if (waiter->next)
            waiter->next->prev = waiter;
        d->waiters = waiter;
    }
    return rc;
}

static void on_watchdog(uv_timer_t *t)
{
    struct bsup_daemon *d = t->data;
    if (d->healthy)
        bsup_notify_watchdog();
    else
        bsup_log_err("unhealthy, not feeding the systemd watchdog");
}

static void on_control_closed(void *user)
{
    struct bsup_daemon *d = user;
    d->control = NULL;
    bsup_log_debug("control socket closed");
}

static void on_http_closed(void *user)
{
    struct bsup_daemon *d = user;
    d->http_up = false;
}

static void on_aws_closed(void *user)
{
    struct bsup_daemon *d = user;
    d->aws_up = false;
    if (d->http_up)
        bsup_http_engine_close(&d->http, on_http_closed, d);
}

/* Cancels AWS calls still in flight; the engine goes once the client has closed. */
static void s_close_aws(struct bsup_daemon *d)
{
    if (d->aws_up && !d->aws.closing)
        bsup_aws_client_close(&d->aws, on_aws_closed, d);
    else if (!d->aws_up && d->http_up)
        bsup_http_engine_close(&d->http, on_http_closed, d);
}

static void s_work_closed(struct bsup_daemon *d)
{
    if (!d->rec && !d->pub && !d->sweep)
        s_close_aws(d);
}

static void on_rec_closed(void *user)
{
    struct bsup_daemon *d = user;
    d->rec = NULL;
    s_work_closed(d);
}

static void on_pub_closed(void *user)
{
    struct bsup_daemon *d = user;
    d->pub = NULL;
    s_work_closed(d);
}

static void on_sweep_closed(void *user)
{
    struct bsup_daemon *d = user;
    d->sweep = NULL;
    s_work_closed(d);
}

/* Stops the reconcile engine, the publisher and the alarm sweep (calls in flight may finish
 * until the deadline), then AWS. */
static void s_close_work(struct bsup_daemon *d)
{
    if (d->pub && !d->pub_closing) {
        d->pub_closing = true;
        bsup_publisher_close(d->pub, on_pub_closed, d);
    }
    if (d->sweep && !d->sweep_closing) {
        d->sweep_closing = true;
        bsup_sweep_close(d->sweep, on_sweep_closed, d);
    }
    if (d->rec && !d->rec_closing) {
        d->rec_closing = true;
        bsup_reconcile_close(d->rec, on_rec_closed, d);
    } else {
        s_work_closed(d);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct bsup_daemon *d = t->data;
    bsup_log_warn("stop deadline reached, cancelling what is left deadline_ms=%d",
                  BSUP_DAEMON_STOP_DEADLINE_MS);
    if (d->control)
        bsup_control_drop_clients(d->control);
    s_close_aws(d);
}

static void s_stop(struct bsup_daemon *d, int signum)
{
    if (d->stopping) {
        /* An impatient operator: stop now. No transaction is open between loop callbacks,
         * so closing the database here leaves it consistent. */
        bsup_log_warn("second stop signal, exiting now signal=%s", strsignal(signum));
        bsup_store_close(d->store);
        d->store = NULL;
        fflush(stderr);
        _exit(0);
    }
    d->stopping = true;
    bsup_notify_stopping();
    bsup_log_notice("stopping signal=%s deadline_ms=%d", strsignal(signum),
                    BSUP_DAEMON_STOP_DEADLINE_MS);
    uv_timer_stop(&d->watchdog);
    s_answer_waiters(d);
    if (d->control)
        bsup_control_close(d->control, on_control_closed, d);
    s_close_work(d);
    uv_timer_start(&d->deadline, on_deadline, BSUP_DAEMON_STOP_DEADLINE_MS, 0);
    uv_unref((uv_handle_t *)&d->deadline);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct bsup_daemon *d = h->data;
    if (signum == SIGHUP) {
        if (d->stopping)
            return;
        char rid[40];
        bsup_daemon_request_id(d, rid);
        bsup_log_info("reloading signal=SIGHUP request_id=%s", rid);
        bsup_notify_reloading();
        bsup_daemon_reload(d, rid, NULL);
        s_update_status(d, true);
        return;
    }
    s_stop(d, signum);
}

static gid_t s_group_gid(const char *name, const char *setting)
{
    struct group *gr = name ? getgrnam(name) : NULL;
    if (!gr) {
        bsup_log_warn("group does not exist, nobody gets its rights setting=%s group=%s", setting,
                      name ? name : "-");
        return (gid_t)-1;
    }
    return gr->gr_gid;
}

static void on_checkpoint_work(uv_work_t *w)
{
    struct bsup_daemon *d = w->data;
    d->checkpoint_diag = (struct bsup_diag){0};
    d->checkpoint_rc =
        bsup_store_checkpoint(bsup_store_path(d->store), NULL, NULL, &d->checkpoint_diag);
}

static void on_checkpoint_done(uv_work_t *w, int status)
{
    struct bsup_daemon *d = w->data;
    d->checkpointing = false;
    if (status == 0 && d->checkpoint_rc)
        bsup_log_warn("WAL checkpoint failed, tried again after the next commit: %s",
                      d->checkpoint_diag.message);
}

/* The WAL has grown past its mark: one checkpoint at a time, off the loop. */
static void on_checkpoint_due(void *ctx)
{
    struct bsup_daemon *d = ctx;
    if (d->checkpointing || d->stopping)
        return;
    d->checkpoint.data = d;
    if (uv_queue_work(&d->loop, &d->checkpoint, on_checkpoint_work, on_checkpoint_done) == 0)
        d->checkpointing = true;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_once_done(void *ctx, bool cut_short)
{
    (void)cut_short;
    struct bsup_daemon *d = ctx;
    struct bsup_reconcile_figures f;
    if (d->pub)
        bsup_publisher_recount(d->pub); /* datums and alerts of the batch */
    bsup_reconcile_figures(d->rec, &f);
    bsup_log_notice("one cycle done action=once services=%u drift=%zu degraded=%zu error=%zu "
                    "files_rejected=%zu observing_calls=%u",
                    f.services_last_cycle, f.n_drift, f.n_degraded, f.n_error, d->files_rejected,
                    f.observing_calls_last_cycle);
    d->once_attention = s_attention(d);
    d->once_done = true;
    s_close_work(d);
}

/* --once: load, one cycle for every service, then stop. 0 nothing left to do, 1 drift or
 * errors remain, 2 fatal. */
static int s_once(struct bsup_daemon *d)
{
    if (bsup_daemon_reload(d, NULL, NULL))
        return 2;
    if (bsup_reconcile_now(d->rec, NULL, on_once_done, d)) {
        s_close_work(d);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        return 2;
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (!d->once_done)
        return 2;
    return d->once_attention ? 1 : 0;
}

static const struct bsup_service *s_lookup(void *ctx, const char *service)
{
    struct bsup_daemon *d = ctx;
    return d->rec ? bsup_reconcile_desired(d->rec, service) : NULL;
}

/* The restore-drill instance a declared service's drill record names (the sweep's drill_of). */
static bool s_drill_of(void *ctx, const char *service, char *out, size_t len)
{
    struct bsup_daemon *d = ctx;
    char key[BSUP_DOMAIN_KEY_MAX];
    const char *value = NULL;
    bsup_backup_drill_key(service, key);
    if (!d->rec || !bsup_reconcile_cache_value(d->rec, &bsup_backup_domain, key, &value))
        return false;
    struct bsup_drill_record r;
    bsup_drill_record_parse(value, &r);
    snprintf(out, len, "%s", r.state != BSUP_DRILL_STATE_IDLE ? r.instance : "");
    return true;
}

/* The HTTP engine, the AWS client, the reconcile engine and (not with --once) the
 * publisher. */
static int s_start_work(struct bsup_daemon *d, struct bsup_diag *diag)
{
    struct bsup_aws_client_options o = {.region = d->settings->region};
    /* bsupd.yaml's rate_limits are laid out in API-family order. */
    _Static_assert(sizeof(struct bsup_rate_limits) ==
                       BSUP_API_FAMILY_COUNT * sizeof(struct bsup_rate_limit),
                   "one rate limit per API family");
    const struct bsup_rate_limit *rl = (const struct bsup_rate_limit *)&d->settings->rate_limits;
    for (int f = 0; f < BSUP_API_FAMILY_COUNT; f++) {
        o.burst[f] = rl[f].burst;
        o.rate_per_s[f] = rl[f].rate_per_s;
    }
    /* endpoint_urls are laid out in the order of the endpoint table. */
    _Static_assert(sizeof(struct bsup_endpoint_urls) == BSUP_AWS_SERVICE_COUNT * sizeof(char *),
                   "one endpoint URL per service");
    const char *const *urls = (const char *const *)&d->settings->endpoint_urls;
    for (int i = 0; i < BSUP_AWS_SERVICE_COUNT; i++)
        o.endpoint_urls[i] = urls[i];
    o.max_attempts = (int)d->settings->max_attempts; /* AWS_MAX_ATTEMPTS in it (options.c) */
    /* AWS_CA_BUNDLE or the profile's ca_bundle, for every call, credentials' too. */
    struct bsup_http_engine_options ho = {.ca_file = d->opts->ca_bundle.path};
    if (bsup_http_engine_init(&d->http, &d->loop, &ho))
        return bsup_diag_set(diag, BSUP_EIO, "cannot start the HTTP engine");
    d->http_up = true;
    if (bsup_aws_client_init(&d->aws, &d->loop, &d->http, &o, diag))
        return diag->code;
    d->aws_up = true;
    struct bsup_reconcile_options ro = {.loop = &d->loop,
                                        .store = d->store,
                                        .aws = &d->aws,
                                        .settings = d->settings,
                                        .dry_run = d->opts->dry_run,
                                        .once = d->opts->once,
                                        .paused = &d->paused,
                                        .on_change = on_engine_change,
                                        .ctx = d};
    int rc = bsup_reconcile_new(&ro, &d->rec, diag);
    if (rc || d->opts->once)
        return rc;
    struct bsup_publisher_options po = {.loop = &d->loop,
                                        .store = d->store,
                                        .aws = &d->aws,
                                        .settings = d->settings,
                                        .lookup = s_lookup,
                                        .ctx = d};
    struct bsup_sweep_options so = {.loop = &d->loop,
                                    .store = d->store,
                                    .aws = &d->aws,
                                    .settings = d->settings,
                                    .paused = &d->paused,
                                    .dry_run = d->opts->dry_run,
                                    .files_rejected = &d->files_rejected,
                                    .lookup = s_lookup,
                                    .drill_of = s_drill_of,
                                    .ctx = d};
    rc = bsup_publisher_new(&po, &d->pub, diag);
    return rc ? rc : bsup_sweep_new(&so, &d->sweep, diag);
}

int bsup_daemon_main(const struct bsup_options *opts)
{
    struct bsup_daemon d;
    struct bsup_diag diag = {0};
    const struct bsup_settings *s = &opts->settings;
    int rc = opts->once ? 2 : 1; /* --once: 1 means the cycle found something, not "cannot run" */
    char *paused = NULL;

    /* A client that hangs up must cost an EPIPE on write, not the daemon; SIGUSR1 and SIGUSR2
     * mean nothing to bsupd and must not kill it with a journal intent open. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    memset(&d, 0, sizeof(d));
    d.opts = opts;
    d.settings = s;
    d.healthy = true;
    d.self_uid = geteuid();
    d.started_at_s = s_now_s();
    if (uv_loop_init(&d.loop) != 0) {
        bsup_log_err("cannot create the event loop");
        return rc;
    }
    uv_timer_init(&d.loop, &d.watchdog);
    uv_timer_init(&d.loop, &d.deadline);
    uv_signal_init(&d.loop, &d.sig_hup);
    uv_signal_init(&d.loop, &d.sig_term);
    uv_signal_init(&d.loop, &d.sig_int);
    d.watchdog.data = d.deadline.data = &d;
    d.sig_hup.data = d.sig_term.data = d.sig_int.data = &d;

    d.read_gid = s_group_gid(s->read_group, "read_group");
    d.admin_gid = s_group_gid(s->admin_group, "admin_group");

    if (!opts->once) {
        /* Signals are caught before the socket exists (a client that sees it may signal):
         * one that comes during the first load is handled once the loop runs (SIGHUP loads
         * again, SIGTERM stops) instead of killing bsupd. They never keep the loop alive. */
        uv_signal_start(&d.sig_hup, on_signal, SIGHUP);
        uv_signal_start(&d.sig_term, on_signal, SIGTERM);
        uv_signal_start(&d.sig_int, on_signal, SIGINT);
        uv_unref((uv_handle_t *)&d.sig_hup);
        uv_unref((uv_handle_t *)&d.sig_term);
        uv_unref((uv_handle_t *)&d.sig_int);
        /* The socket first: a second bsupd must not touch the database of a live one. */
        int fd = bsup_notify_listen_fd();
        struct bsup_control_limits limits = BSUP_CONTROL_LIMITS_DEFAULT;
        struct bsup_control_handlers handlers = {
            .on_request = bsup_daemon_on_request, .classify = bsup_daemon_classify, .ctx = &d};
        if (fd == BSUP_EINVAL)
            goto out;
        if (bsup_control_open(&d.loop, s->socket, fd, &limits, &handlers, &d.control, &diag)) {
            bsup_log_err("%s", diag.message);
            goto out;
        }
    }
    if (bsup_store_open(s->state_dir, &d.store, &diag)) {
        bsup_log_err("%s", diag.message);
        goto out;
    }
    bsup_store_checkpoint_hook(d.store, 0, on_checkpoint_due, &d);
    s_settings_sig(&d, d.settings_sig, sizeof(d.settings_sig));
    int prc = bsup_store_meta_get(d.store, "paused", &paused, &diag);
    d.paused = bsup_store_flag_get(d.store, "paused");
    if (prc == 0) {
        d.paused |= strcmp(paused, "1") == 0;
    } else if (prc != BSUP_ENOTFOUND) {
        /* Fail closed: a kill switch that cannot be read counts as pulled. */
        bsup_log_err("%s; observing only until 'bsupctl resume'", diag.message);
        d.paused = true;
    }
    if (s_start_work(&d, &diag)) {
        bsup_log_err("%s", diag.message);
        goto out;
    }
    if (opts->once) {
        rc = s_once(&d);
        goto out;
    }
    if (bsup_daemon_reload(&d, NULL, NULL))
        goto out;

    d.watchdog_ms = bsup_notify_watchdog_period_ms();
    if (d.watchdog_ms) {
        uint64_t every = d.watchdog_ms / 2 ? d.watchdog_ms / 2 : 1;
        uv_timer_start(&d.watchdog, on_watchdog, every, every);
        bsup_log_info("systemd watchdog enabled period_ms=%llu ping_ms=%llu",
                      (unsigned long long)d.watchdog_ms, (unsigned long long)every);
    }
    if (opts->ca_bundle.path)
        bsup_log_notice("AWS calls trust only the CA bundle %s (%s)", opts->ca_bundle.path,
                        opts->ca_bundle.from);
    bsup_log_notice("ready socket=%s state_dir=%s config_dir=%s paused=%s dry_run=%s", s->socket,
                    s->state_dir, s->config_dir, d.paused ? "yes" : "no",
                    opts->dry_run ? "yes" : "no");
    s_update_status(&d, true);
    if (d.watchdog_ms)
        bsup_notify_watchdog();
    uv_run(&d.loop, UV_RUN_DEFAULT);
    bsup_log_notice("stopped");
    rc = 0;
out:
    free(paused);
    if (!d.stopping) { /* it never ran: a signal now has its default effect, not s_stop's */
        uv_signal_stop(&d.sig_hup);
        uv_signal_stop(&d.sig_term);
        uv_signal_stop(&d.sig_int);
    }
    if (d.control) { /* a stop left a client the loop did not wait for, or we never ran */
        if (!d.stopping)
            bsup_control_close(d.control, on_control_closed, &d);
        bsup_control_drop_clients(d.control);
    }
    s_close_work(&d);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_walk(&d.loop, on_walk_close, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d.loop) != 0)
        bsup_log_warn("event loop closed with handles still open");
    while (d.waiters) /* (a cycle the engine never ended) */
        s_waiter_free(d.waiters);
    free(d.last_load);
    bsup_strmap_cleanup_free(&d.rejected_files);
    bsup_strmap_cleanup_free(&d.status_obs);
    bsup_store_close(d.store);
    bsup_http_global_cleanup();
    return rc;
}
