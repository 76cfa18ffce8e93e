#include "core/metrics/catalogue.h"

#include <string.h>

const struct bsup_metric_info bsup_metrics[BSUP_METRIC_COUNT] = {
#define BSUP_S_METRIC_ROW(e, name, unit, scope, emitter, emitted, doc)                             \
    [BSUP_METRIC_##e] = {name, unit, scope, emitter, emitted, doc},
    BSUP_METRIC_MAP(BSUP_S_METRIC_ROW)
#undef BSUP_S_METRIC_ROW
};

int bsup_metric_find(const char *name)
{
    for (int i = 0; name && i < BSUP_METRIC_COUNT; i++)
        if (strcmp(bsup_metrics[i].name, name) == 0)
            return i;
    return -1;
}
