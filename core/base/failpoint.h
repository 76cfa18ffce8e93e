/* Failpoints: named places where a test build can make the process die, or an operation
 * fail, to prove crash safety and that the rails fail closed. Compiled in only with
 * -DBSUP_FAILPOINTS=ON; otherwise they cost nothing.
 *   BSUP_FAILPOINT=<name>                 bsup_failpoint("<name>") does _exit(86)
 *   BSUP_FAILPOINT_ERROR=<name>[,<name>]  bsup_failpoint_error("<name>") is true: the caller
 *                                         fails as if the operation had failed */
#ifndef BSUP_CORE_BASE_FAILPOINT_H
#define BSUP_CORE_BASE_FAILPOINT_H

#include <stdbool.h>

#ifdef BSUP_FAILPOINTS
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static inline void bsup_failpoint(const char *name)
{
    const char *want = getenv("BSUP_FAILPOINT");
    if (want && strcmp(want, name) == 0)
        _exit(86);
}

static inline bool bsup_failpoint_error(const char *name)
{
    const char *p = getenv("BSUP_FAILPOINT_ERROR");
    size_t len = strlen(name);
    while (p && *p) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}
#else
#define bsup_failpoint(name) ((void)0)
#define bsup_failpoint_error(name) false
#endif

#endif
