#include "daemon/check_config.h"

#include "core/base/units.h"

#include <jansson.h>
#include <string.h>

static void s_print_value(FILE *out, const char *key, json_t *v, const char *fallback)
{
    fprintf(out, "  %-34s ", key);
    if (!v) {
        fprintf(out, "%s\n", fallback ? fallback : "-");
    } else if (json_is_string(v)) {
        fprintf(out, "%s\n", json_string_value(v));
    } else if (json_is_integer(v)) {
        fprintf(out, "%lld\n", (long long)json_integer_value(v));
    } else if (json_is_boolean(v)) {
        fprintf(out, "%s\n", json_is_true(v) ? "true" : "false");
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) fprintf(out, "%s%s", i ? ", " : "", json_string_value(e));
        fputc('\n', out);
    }
}

static void s_print_table(FILE *out, const struct bsup_service *svc,
                          const struct bsup_settings *settings, const struct bsup_config_key *table,
                          json_t *obj, const char *prefix)
{
    for (const struct bsup_config_key *k = table; k->name; k++) {
        json_t *v = json_object_get(obj, k->name);
        char buf[300], full[96];
        snprintf(full, sizeof(full), "%s%s", prefix, k->name);
        if (k->type == BSUP_KEY_SECTION) {
            char sub[100];
            snprintf(sub, sizeof(sub), "%s.", full);
            s_print_table(out, svc, settings, k->section, v, sub);
            continue;
        }
        const char *fallback = NULL;
        if (k->if_declared && !bsup_health_declared(&svc->health_check, k->name)) {
            /* ELBv2's default would read as if bsupd set it: it leaves the value alone. */
            v = NULL;
            fallback = strcmp(k->name, "grace_period") == 0
                           ? "- (not declared: left as the Auto Scaling group has it)"
                           : "- (not declared: left as the target group has it)";
        } else if (strcmp(prefix, "resources.") == 0) {
            /* Show the AWS names that will be used, overridden or not. */
            char name[256];
            bsup_service_resource_name(svc, k->name, name, sizeof(name));
            snprintf(buf, sizeof(buf), "%s (default)", name);
            fallback = buf;
        } else if (v && k->type == BSUP_KEY_DURATION) {
            bsup_duration_format(json_integer_value(v), buf, sizeof(buf));
            v = NULL;
            fallback = buf;
        } else if (strcmp(full, "region") == 0) {
            snprintf(buf, sizeof(buf), "%s (daemon)",
                     settings->region ? settings->region : "unset: set region or AWS_REGION");
            fallback = buf;
        } else if (strcmp(full, "mode") == 0) {
            snprintf(buf, sizeof(buf), "%s (daemon)", bsup_mode_name(settings->mode));
            fallback = buf;
        } else if (strcmp(full, "backup.require_encryption") == 0) {
            bool prod = svc->environment == BSUP_ENV_PROD;
            snprintf(buf, sizeof(buf), "%s (default in %s)", prod ? "true" : "false",
                     prod ? "prod" : "dev and staging");
            fallback = buf;
        } else if (strcmp(full, "interval") == 0) {
            char d[24];
            bsup_duration_format(settings->interval_s, d, sizeof(d));
            snprintf(buf, sizeof(buf), "%s (daemon)", d);
            fallback = buf;
        }
        s_print_value(out, full, v, fallback);
    }
}

void bsup_print_service(FILE *out, const struct bsup_service *svc,
                        const struct bsup_settings *settings)
{
    char *text = bsup_service_to_json(svc);
    json_t *obj = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!obj) {
        fprintf(out, "%s: out of memory\n", svc->service_name);
        return;
    }
    fprintf(out, "%s (%s:%u:%u)\n", svc->service_name, svc->source_file, svc->line, svc->column);
    s_print_table(out, svc, settings, bsup_service_keys, obj, "");
    json_decref(obj);
}

void bsup_print_config_messages(FILE *out, const struct bsup_config_set *set)
{
    for (size_t i = 0; i < set->n_msgs; i++)
        fprintf(out, "%s: %s\n", set->msgs[i].severity == BSUP_CONFIG_ERROR ? "error" : "warning",
                set->msgs[i].text);
}

int bsup_check_config(const struct bsup_settings *settings, FILE *out, FILE *err)
{
    struct bsup_config_set set;
    struct bsup_diag diag = {0};
    bsup_config_set_init(&set);
    set.region = settings->region;
    int rc = bsup_config_load_dir(settings->config_dir, &set, &diag);
    if (rc) {
        fprintf(err, "error: %s\n", diag.message);
        bsup_config_set_cleanup(&set);
        return 1;
    }
    for (size_t i = 0; i < set.n_services; i++) {
        if (i)
            fputc('\n', out);
        bsup_print_service(out, set.services[i], settings);
    }
    bsup_print_config_messages(err, &set);
    size_t failed = 0;
    for (size_t i = 0; i < set.n_files; i++)
        failed += !set.files[i].ok;
    size_t warnings = set.n_msgs - set.n_errors;
    /* A warning, not an error: the service manager may give bsupd an AWS_REGION this shell
     * lacks. Without one, every cycle of the service fails; a drop-in's region is not bsupd's
     * (it must equal it: unknown here, it cannot be checked). */
    for (size_t i = 0; !settings->region && i < set.n_services; i++) {
        const struct bsup_service *svc = set.services[i];
        if (svc->region)
            fprintf(err,
                    "warning: %s:%u:%u: %s's region %s must be bsupd's, which is unset here "
                    "(bsupd.yaml, AWS_REGION): another one rejects the file, none fails its "
                    "cycles\n",
                    svc->source_file, svc->line, svc->column, svc->service_name, svc->region);
        else
            fprintf(err,
                    "warning: %s:%u:%u: %s has no AWS region: its cycles will fail; set region "
                    "in bsupd.yaml, or AWS_REGION in bsupd's environment\n",
                    svc->source_file, svc->line, svc->column, svc->service_name);
        warnings++;
    }
    fprintf(set.n_services ? out : err,
            "%s%zu service%s in %zu file%s (%s); %zu error%s, %zu warning%s, %zu file%s "
            "rejected\n",
            set.n_services ? "\n" : "", set.n_services, set.n_services == 1 ? "" : "s", set.n_files,
            set.n_files == 1 ? "" : "s", settings->config_dir, set.n_errors,
            set.n_errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", failed,
            failed == 1 ? "" : "s");
    rc = set.n_errors ? 1 : 0;
    bsup_config_set_cleanup(&set);
    return rc;
}
