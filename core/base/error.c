#include "core/base/error.h"

#include <stdio.h>
#include <string.h>

#define BSUP_ERR_INDEX(err) (-(err)-1)

static const char *const s_names[] = {
#define XX(name, msg) "BSUP_E" #name,
    BSUP_ERRNO_MAP(XX)
#undef XX
};

static const char *const s_messages[] = {
#define XX(name, msg) msg,
    BSUP_ERRNO_MAP(XX)
#undef XX
};

#define S_COUNT (sizeof(s_names) / sizeof(s_names[0]))

const char *bsup_err_name(int err)
{
    if (err == 0)
        return "BSUP_EOK";
    if (err > 0 || (size_t)BSUP_ERR_INDEX(err) >= S_COUNT)
        return "BSUP_E?";
    return s_names[BSUP_ERR_INDEX(err)];
}

const char *bsup_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err > 0 || (size_t)BSUP_ERR_INDEX(err) >= S_COUNT)
        return "unknown error";
    return s_messages[BSUP_ERR_INDEX(err)];
}

int bsup_diag_vset(struct bsup_diag *diag, int code, const char *fmt, va_list ap)
{
    if (diag) {
        diag->code = code;
        vsnprintf(diag->message, sizeof(diag->message), fmt, ap);
    }
    return code;
}

int bsup_diag_set(struct bsup_diag *diag, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bsup_diag_vset(diag, code, fmt, ap);
    va_end(ap);
    return code;
}

void bsup_secure_zero(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}
