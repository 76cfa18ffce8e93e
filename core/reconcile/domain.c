#include "core/reconcile/domain.h"

#include "core/reconcile/alarms.h"
#include "core/reconcile/backup.h"
#include "core/reconcile/health.h"
#include "core/reconcile/scaling.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct bsup_domain *const bsup_domains[] = {&bsup_scaling_domain, &bsup_health_domain,
                                                  &bsup_replace_domain, &bsup_backup_domain,
                                                  &bsup_alarms_domain};
const size_t bsup_n_domains = sizeof(bsup_domains) / sizeof(bsup_domains[0]);

void bsup_domain_member_fail(struct bsup_domain_member *m, const char *fmt, ...)
{
    va_list ap;
    m->failed = true;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof(m->error), fmt, ap);
    va_end(ap);
}

const void *bsup_domain_peer(const struct bsup_domain_member *m, const struct bsup_domain *d)
{
    for (size_t i = 0; m->peers && i < bsup_n_domains; i++)
        if (bsup_domains[i] == d)
            return m->peers[i];
    return NULL;
}

bool bsup_domain_obs_found(const struct bsup_domain *d, const void *obs)
{
    bool found;
    memcpy(&found, (const char *)obs + d->found_offset, sizeof(found));
    return found;
}

void bsup_domain_obs_write(struct bsup_buf *b, const struct bsup_domain *d, const void *obs)
{
    if (!bsup_domain_obs_found(d, obs)) {
        bsup_buf_puts(b, "{\"found\":false}");
        return;
    }
    for (size_t i = 0; i < d->n_fields; i++) {
        const struct bsup_field *f = &d->fields[i];
        const char *p = (const char *)obs + f->offset;
        bsup_buf_puts(b, i ? ",\"" : "{\"");
        bsup_buf_puts(b, f->name);
        bsup_buf_puts(b, "\":");
        if (f->type == BSUP_FIELD_BOOL) {
            bool v;
            memcpy(&v, p, sizeof(v));
            bsup_buf_puts(b, v ? "true" : "false");
        } else if (f->type == BSUP_FIELD_INT64) {
            int64_t v;
            memcpy(&v, p, sizeof(v));
            bsup_buf_int(b, v);
        } else {
            bsup_buf_json_string(b, p);
        }
    }
    bsup_buf_puts(b, d->n_fields ? "}" : "{}");
}

json_t *bsup_domain_params_json(const struct bsup_aws_params *params)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < params->n; i++) {
        if (json_object_set_new(o, params->items[i].name, json_string(params->items[i].value))) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}
