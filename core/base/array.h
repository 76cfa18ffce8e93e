/* Growing a heap array by doubling, with the size arithmetic checked: the one place that
 * computes "how many bytes for n elements". Typical use:
 *     if ((rc = BSUP_ARRAY_RESERVE(list->items, list->cap, list->n + 1)) < 0)
 *         return rc;
 *     list->items[list->n++] = item; */
#ifndef BSUP_CORE_BASE_ARRAY_H
#define BSUP_CORE_BASE_ARRAY_H

#include <stddef.h>

#define BSUP_ARRAY_MIN_CAP 8 /* elements in a first allocation */

/* Makes room for at least need elements of elem_size bytes in *v, an array with room for
 * *cap (the realloc'd memory is not zeroed). When it must grow, the new capacity is
 * max(need, 2 x *cap, BSUP_ARRAY_MIN_CAP). 0, or BSUP_ENOMEM when the memory is not there or
 * the size overflows size_t (BSUP_EINVAL for elem_size 0); *v and *cap are then unchanged
 * (and still valid). */
int bsup_array_reserve(void **v, size_t *cap, size_t need, size_t elem_size);

/* bsup_array_reserve for a typed pointer lvalue `ptr` and size_t lvalue `cap`. */
#define BSUP_ARRAY_RESERVE(ptr, cap, need)                                                         \
    bsup_array_reserve((void **)&(ptr), &(cap), (need), sizeof(*(ptr)))

#endif
