/* SPDX-License-Identifier: MIT */
/*
 * tools.c -- finding the memory tools a process runs under, and telling
 * them about arena memory.  A program built with -fsanitize=address, or
 * run under valgrind's memcheck, sees rgn_alloc's memory as it sees
 * malloc's, with the library it installed: nothing is decided when rgn
 * is built.
 *
 * AddressSanitizer: the poisoning interface is reached through weak
 * references, which only an ASan process (its runtime linked in) fills
 * in.  memcheck: valgrind's client requests are a few no-op instructions
 * outside valgrind; configure finds <valgrind/memcheck.h>, and without
 * it they compile to nothing.  RUNNING_ON_VALGRIND is true under every
 * valgrind tool, and callgrind or helgrind need rgn's fast paths as they
 * are, so memcheck is told apart by a request only it answers.  The
 * environment's RGN_ARENA_FILL is read at the same time.  All of it
 * once, when the library loads (or at the first allocation, in a static
 * build that allocates before its constructors ran).
 *
 * Owns rgn__tools and what the tools are told.  Calls nothing of rgn's
 * but the sink, for the warning about a bad RGN_ARENA_FILL.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)(p), (void)(n), 0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n), 0)
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n), 0)
#define VALGRIND_CREATE_MEMPOOL(pool, rz, zeroed) ((void)(pool))
#define VALGRIND_DESTROY_MEMPOOL(pool) ((void)(pool))
#define VALGRIND_MEMPOOL_ALLOC(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define VALGRIND_MEMPOOL_TRIM(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#endif

/* Defined by ASan's runtime, in an ASan process only. */
extern void __asan_poison_memory_region(void const volatile *addr, size_t size)
    __attribute__((weak));
extern void __asan_unpoison_memory_region(void const volatile *addr,
                                          size_t size) __attribute__((weak));

unsigned rgn__tools = RGN_TOOL_UNSET;
unsigned rgn__inline_room; /* 0 until the tools were looked for */
unsigned char rgn__fill;

static pthread_once_t found = PTHREAD_ONCE_INIT;

/* RGN_ARENA_FILL: a byte, as C writes it (0xa5, 165). */
static bool read_fill(void)
{
    const char *v = getenv("RGN_ARENA_FILL");
    if (!v || !*v)
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long b = v[0] >= '0' && v[0] <= '9' ? strtoul(v, &end, 0) : 256;
    if (!end || *end || errno || b > 255) {
        char q[96];
        rgn__fmt_quoted(q, sizeof q, v);
        rgn__emit("rgn: arena: ignoring RGN_ARENA_FILL=%s: not a byte "
                  "(0 to 255, such as 0xa5)",
                  q);
        return false;
    }
    rgn__fill = (unsigned char)b;
    return true;
}

static void find(void)
{
    int saved = errno;
    unsigned t = 0;
    if (__asan_poison_memory_region && __asan_unpoison_memory_region)
        t |= RGN_TOOL_ASAN;
    if (RUNNING_ON_VALGRIND) {
        /* memcheck answers -1; other tools leave the default, 0. */
        char probe = 0;
        if ((long)VALGRIND_MAKE_MEM_DEFINED(&probe, 1) == -1)
            t |= RGN_TOOL_MEMCHECK;
    }
    if (read_fill())
        t |= RGN_TOOL_FILL;
    __atomic_store_n(&rgn__inline_room, t ? 0u : RGN_ARENA_INLINE,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&rgn__tools, t, __ATOMIC_RELEASE);
    errno = saved;
}

unsigned rgn__tools_find(void)
{
    pthread_once(&found, find);
    return __atomic_load_n(&rgn__tools, __ATOMIC_ACQUIRE);
}

__attribute__((constructor)) static void find_at_load(void)
{
    rgn__tools_find();
}

static unsigned tools(void)
{
    return __atomic_load_n(&rgn__tools, __ATOMIC_RELAXED);
}

void rgn__tool_hide(const void *p, size_t n)
{
    unsigned t = tools();
    if (n && (t & RGN_TOOL_ASAN))
        __asan_poison_memory_region(p, n);
    if (n && (t & RGN_TOOL_MEMCHECK))
        (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

void rgn__tool_show(const void *p, size_t n)
{
    unsigned t = tools();
    if (n && (t & RGN_TOOL_ASAN))
        __asan_unpoison_memory_region(p, n);
    if (n && (t & RGN_TOOL_MEMCHECK))
        (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
}

void rgn__tool_give(const void *p, size_t n)
{
    unsigned t = tools();
    if (n && (t & RGN_TOOL_ASAN))
        __asan_unpoison_memory_region(p, n);
    if (n && (t & RGN_TOOL_MEMCHECK))
        (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

void rgn__tool_pool_new(const void *pool, size_t redzone)
{
    if (tools() & RGN_TOOL_MEMCHECK)
        VALGRIND_CREATE_MEMPOOL(pool, redzone, 0);
}

void rgn__tool_pool_alloc(const void *pool, const void *p, size_t n)
{
    unsigned t = tools();
    if (n && (t & RGN_TOOL_ASAN))
        __asan_unpoison_memory_region(p, n);
    if (t & RGN_TOOL_MEMCHECK)
        VALGRIND_MEMPOOL_ALLOC(pool, p, n);
}

/* Trimmed to an empty range: every chunk is freed, no-access again, and
 * memcheck names the clear's stack when a stale pointer reads one. */
void rgn__tool_pool_empty(const void *pool)
{
    if (tools() & RGN_TOOL_MEMCHECK)
        VALGRIND_MEMPOOL_TRIM(pool, 0, 0);
}

void rgn__tool_pool_destroy(const void *pool)
{
    if (tools() & RGN_TOOL_MEMCHECK)
        VALGRIND_DESTROY_MEMPOOL(pool);
}
