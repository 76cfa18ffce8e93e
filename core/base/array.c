#include "core/base/array.h"

#include "core/base/error.h"

#include <stdint.h>
#include <stdlib.h>

int bsup_array_reserve(void **v, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap)
        return 0;
    if (elem_size == 0)
        return BSUP_EINVAL;
    size_t max = SIZE_MAX / elem_size;
    if (need > max)
        return BSUP_ENOMEM;
    size_t ncap = *cap > max / 2 ? max : *cap * 2;
    if (ncap < BSUP_ARRAY_MIN_CAP)
        ncap = BSUP_ARRAY_MIN_CAP < max ? BSUP_ARRAY_MIN_CAP : max;
    if (ncap < need)
        ncap = need;
    void *nv = realloc(*v, ncap * elem_size);
    if (!nv)
        return BSUP_ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}
