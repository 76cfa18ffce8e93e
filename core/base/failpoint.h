/* Failpoints: named places where a test build can make the process die, to prove crash
 * safety. Compiled in only with -DBSUP_FAILPOINTS=ON; otherwise they cost nothing.
 * BSUP_FAILPOINT=<name> in the environment makes bsup_failpoint("<name>") _exit(86). */
#ifndef BSUP_CORE_BASE_FAILPOINT_H
#define BSUP_CORE_BASE_FAILPOINT_H

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
#else
#define bsup_failpoint(name) ((void)0)
#endif

#endif
