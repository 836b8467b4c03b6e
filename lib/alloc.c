/* SPDX-License-Identifier: MIT */
/*
 * alloc.c -- the process-wide allocator every byte of rgn comes from.
 *
 * It may change only until the first region exists: after that, memory
 * from one allocator could be handed to another's free.  A mutex guards
 * the change; once frozen, constructors pay a single acquire load.  The
 * fork handlers hold the mutex across fork().  Calls nothing of rgn's.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

rgn_allocator rgn__alloc = {malloc, realloc, free};
atomic_bool rgn__alloc_frozen;
static pthread_mutex_t setting = PTHREAD_MUTEX_INITIALIZER;

int rgn_set_allocator(const rgn_allocator *a)
{
    if (a && (!a->malloc || !a->realloc || !a->free))
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&setting);
    if (atomic_load_explicit(&rgn__alloc_frozen, memory_order_relaxed))
        rc = -EBUSY;
    else
        rgn__alloc = a ? *a : (rgn_allocator){malloc, realloc, free};
    pthread_mutex_unlock(&setting);
    return rc;
}

void rgn__allocator_freeze_slow(void)
{
    pthread_mutex_lock(&setting);
    atomic_store_explicit(&rgn__alloc_frozen, true, memory_order_release);
    pthread_mutex_unlock(&setting);
}

/* A fork while another thread held the mutex would leave it held for good
 * in the child, whose first rgn_new would wait on it for ever. */
void rgn__alloc_fork_prepare(void)
{
    pthread_mutex_lock(&setting);
}

/* In the parent and in the child alike: the forking thread holds it. */
void rgn__alloc_fork_release(void)
{
    pthread_mutex_unlock(&setting);
}
