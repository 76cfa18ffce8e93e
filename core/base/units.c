#include "core/base/units.h"

#include "core/base/error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct s_unit {
    const char *suffix;
    int64_t factor;
};

static const struct s_unit s_duration_units[] = {
    {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800},
};

static const struct s_unit s_size_units[] = {
    {"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024},
};

int bsup_int_parse(const char *text, int64_t *out)
{
    const char *p = text;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!isdigit((unsigned char)*p))
        return BSUP_EINVAL;
    int64_t v = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return BSUP_EINVAL;
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return BSUP_ETOOBIG;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static int s_parse_with_units(const char *text, const struct s_unit *units, size_t n_units,
                              int64_t *out)
{
    const char *p = text;
    int64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return BSUP_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return BSUP_ETOOBIG;
        v = v * 10 + (*p - '0');
    }
    for (size_t i = 0; i < n_units; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            if (v > INT64_MAX / units[i].factor)
                return BSUP_ETOOBIG;
            *out = v * units[i].factor;
            return 0;
        }
    }
    return BSUP_EINVAL;
}

int bsup_duration_parse(const char *text, int64_t *out_s)
{
    return s_parse_with_units(text, s_duration_units,
                              sizeof(s_duration_units) / sizeof(s_duration_units[0]), out_s);
}

int bsup_size_parse(const char *text, int64_t *out_bytes)
{
    return s_parse_with_units(text, s_size_units, sizeof(s_size_units) / sizeof(s_size_units[0]),
                              out_bytes);
}

void bsup_duration_format(int64_t s, char *buf, size_t len)
{
    static const struct s_unit order[] = {{"d", 86400}, {"h", 3600}, {"m", 60}};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (s != 0 && s % order[i].factor == 0) {
            snprintf(buf, len, "%lld%s", (long long)(s / order[i].factor), order[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%llds", (long long)s);
}
