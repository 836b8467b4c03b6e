/* SPDX-License-Identifier: MIT */
/*
 * arena_misuse.c -- misuses of arena memory that AddressSanitizer and
 * valgrind's memcheck must report, clean programs they must not, and the
 * programs check_arena.c runs under RGN_ARENA_FILL.
 *
 *   arena_misuse NAME
 *
 * tests/arena_tools.sh builds this file with -fsanitize=address against
 * the plain library and runs the plain build under valgrind: each
 * misuse must fail with a report whose first frame is the misuse's own
 * function (named after the scenario), each clean scenario must pass.
 * Nothing here tells the tools anything: the library does it.
 */
#include <rgn.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#define UNCHECKED __attribute__((noinline, no_sanitize_address))
#else
#define NOINLINE
#define UNCHECKED
#endif

static rgn_t *region(const char *name)
{
    rgn_t *r = rgn_new();
    if (!r || rgn_set_name(r, name) != 0) {
        fprintf(stderr, "arena_misuse: no region\n");
        exit(99);
    }
    return r;
}

static char *alloc(rgn_t *r, size_t n)
{
    char *p = rgn_alloc(r, n);
    if (!p) {
        fprintf(stderr, "arena_misuse: rgn_alloc(%zu) failed\n", n);
        exit(99);
    }
    return p;
}

/* A read the compiler keeps. */
static int use(const volatile char *p)
{
    return *p;
}

/* ---- the misuses: issue 25's table, one function each --------------------- */

/* a = rgn_alloc(r, 13); a[13] = 'y' */
static NOINLINE void past_end(void)
{
    rgn_t *r = region("past_end");
    char *a = alloc(r, 13);
    memset(a, 'a', 13);
    a[13] = 'y';
    rgn_close(r);
}

/* One byte past a 16-byte allocation: where the next one starts. */
static NOINLINE void into_next(void)
{
    rgn_t *r = region("into_next");
    char *a = alloc(r, 16), *b = alloc(r, 16);
    memset(b, 'b', 16);
    a[16] = 'x';
    printf("b[0] = %c\n", b[0]);
    rgn_close(r);
}

/* One byte past 100 bytes in a chunk: memcheck names the allocation,
 * not the chunk's malloc. */
static NOINLINE void chunk_past_end(void)
{
    rgn_t *r = region("chunk_past_end");
    char *a = alloc(r, 100);
    memset(a, 'c', 100);
    a[100] = 'y';
    rgn_close(r);
}

/* 100 bytes past the last allocation, inside its chunk. */
static NOINLINE void past_last(void)
{
    rgn_t *r = region("past_last");
    char *p = alloc(r, 100);
    memset(p, 'p', 100);
    printf("%d\n", use(p + 200));
    rgn_close(r);
}

/* Off by one past 8190 bytes: an allocation with a chunk of its own. */
static NOINLINE void own_chunk(void)
{
    rgn_t *r = region("own_chunk");
    char *p = alloc(r, 8190);
    memset(p, 'o', 8190);
    p[8190] = 0;
    rgn_close(r);
}

/* One byte before the region's first allocation: malloc's blocks have a
 * red zone in front, so the arena's must too (it read the region's own
 * bytes, unseen by both tools). */
static NOINLINE void before_first(void)
{
    rgn_t *r = region("before_first");
    char *p = alloc(r, 8);
    memset(p, 'f', 8);
    printf("%d\n", use(p - 1));
    rgn_close(r);
}

/* One byte before the first allocation of a chunk, the second area a
 * region allocates from (it read the chunk's header). */
static NOINLINE void before_chunk(void)
{
    rgn_t *r = region("before_chunk");
    alloc(r, 32); /* the inline bytes, all of them where a tool is on */
    char *p = alloc(r, 200);
    memset(p, 'c', 200);
    printf("%d\n", use(p - 1));
    rgn_close(r);
}

/* A read after rgn_clear, in the inline bytes. */
static NOINLINE void clear_inline(void)
{
    rgn_t *r = region("clear_inline");
    char *p = alloc(r, 8);
    strcpy(p, "secret");
    rgn_clear(r);
    printf("%d\n", use(p));
    rgn_close(r);
}

/* A read after rgn_clear, in the chunk the clear keeps for the next round. */
static NOINLINE void clear_kept(void)
{
    rgn_t *r = region("clear_kept");
    alloc(r, 32); /* the inline bytes, all of them where a tool is on */
    char *p = alloc(r, 200);
    strcpy(p, "secret");
    rgn_clear(r);
    printf("%d\n", use(p));
    rgn_close(r);
}

/* A read after rgn_clear, in a chunk the clear gave back. */
static NOINLINE void clear_freed(void)
{
    rgn_t *r = region("clear_freed");
    char *p = alloc(r, 8190);
    strcpy(p, "secret");
    rgn_clear(r);
    printf("%d\n", use(p));
    rgn_close(r);
}

/* A read after rgn_close, in the inline bytes. */
static NOINLINE void after_close(void)
{
    rgn_t *r = region("after_close");
    char *p = alloc(r, 8);
    strcpy(p, "secret");
    rgn_close(r);
    printf("%d\n", use(p));
}

/* A read after rgn_close, in a chunk. */
static NOINLINE void after_close_chunk(void)
{
    rgn_t *r = region("after_close_chunk");
    alloc(r, 32); /* the inline bytes, all of them where a tool is on */
    char *p = alloc(r, 500);
    strcpy(p, "secret");
    rgn_close(r);
    printf("%d\n", use(p));
}

/* An uninitialised read in a reused chunk: without the tools it prints
 * the previous round's byte.  (memcheck's; ASan does not look.) */
static NOINLINE void uninit_reuse(void)
{
    rgn_t *r = region("uninit_reuse");
    alloc(r, 32); /* the inline bytes, all of them where a tool is on */
    char *p = alloc(r, 200);
    memset(p, 'S', 200);
    rgn_clear(r);
    alloc(r, 32); /* the inline bytes, all of them where a tool is on */
    char *q = alloc(r, 200);
    if (q[0] == 'S')
        puts("the previous round's byte");
    else
        puts("another byte");
    rgn_close(r);
}

/* ---- clean programs: nothing to report -------------------------------- */

static int reads_string(void *s, rgn_release_type how)
{
    (void)how;
    return strcmp(s, "kept") == 0 ? 0 : -1;
}

static int in_thread(rgn_t *r, void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        char *p = rgn_alloc(r, (size_t)(i % 300));
        if (!p)
            return 1;
        memset(p, 't', (size_t)(i % 300));
    }
    return 0;
}

/* Stays open to the end, its memory reachable only through it: a leak
 * check must not call it lost. */
static rgn_t *global;

static NOINLINE int clean(void)
{
    int bad = 0;
    rgn_t *r = region("clean");
    for (int round = 0; round < 4; round++) {
        size_t total = 0;
        /* Every byte of allocations of every size, across the inline
         * bytes, chunks and chunks of their own; rounds that grow and
         * shrink. */
        for (int i = 0; i < (round == 2 ? 20 : 400); i++) {
            size_t n = (size_t)(i * 37 % 700) + (i % 50 == 0 ? 9000 : 0);
            unsigned char *p = rgn_alloc(r, n);
            if (!p)
                return 1;
            memset(p, i & 0xff, n);
            for (size_t j = 0; j < n; j++)
                bad |= p[j] != (unsigned char)(i & 0xff);
            total += n;
        }
        char *z = rgn_zalloc(r, 300);
        for (int j = 0; j < 300; j++)
            bad |= z[j] != 0;
        bad |= strcmp(rgn_strndup(r, "abcdef", 3), "abc") != 0;
        char want[16];
        snprintf(want, sizeof want, "x-%d", round);
        bad |= strcmp(rgn_asprintf(r, "x-%d", round), want) != 0;
        bad |= rgn_memdup(r, "12345", 5) == NULL;
        bad |= rgn_alloc(r, 0) == NULL;
        char *s = rgn_strndup(r, "kept", 10);
        bad |= rgn_register(r, reads_string, s, NULL) != 0;
        bad |= total == 0;
        bad |= rgn_clear(r) != 0;
    }
    /* A child, a shared region used by another thread. */
    rgn_t *c = rgn_new_child(r);
    bad |= c == NULL || rgn_alloc(c, 5000) == NULL;
    pthread_t t;
    bad |= rgn_thread_create(&t, NULL, r, in_thread, NULL) != 0;
    bad |= in_thread(r, NULL);
    void *ret;
    pthread_join(t, &ret);
    bad |= ret != NULL;
    bad |= rgn_close(r) != 0;
    /* Many small scopes, one after another. */
    for (int i = 0; i < 200; i++) {
        rgn_t *s = rgn_new_scope();
        for (int j = 0; j < 40; j++)
            memset(rgn_alloc(s, 64), j, 64);
        rgn_close(s);
    }
    global = region("global");
    for (int i = 0; i < 100; i++) {
        char **link = rgn_alloc(global, 2 * sizeof(char *));
        link[0] = rgn_strndup(global, "reachable through the region", 64);
        link[1] = NULL;
    }
    rgn_alloc(global, 20000);
    return bad;
}

/* Clean, under the audit's quarantine too: run with RGN_AUDIT=report. */
static NOINLINE int clean_audited(void)
{
    rgn_t *r = region("clean_audited");
    for (int i = 0; i < 100; i++)
        memset(rgn_alloc(r, 100), 'a', 100);
    rgn_clear(r);
    memset(rgn_alloc(r, 40), 'b', 40);
    return rgn_close(r) != 0;
}

/* ---- RGN_ARENA_FILL (check_arena.c runs these) -------------------------- */

/* Writes past an allocation where no tool looks, as a library built
 * without ASan would: the sentinel has to find it. */
static UNCHECKED void write_unchecked(char *p, size_t i, char v)
{
    ((volatile char *)p)[i] = v;
}

static UNCHECKED int read_unchecked(const char *p)
{
    return ((const volatile unsigned char *)p)[0];
}

static NOINLINE void fill_past_end(void)
{
    rgn_t *r = region("fill");
    printf("site alloc %d\n", __LINE__ + 1);
    char *a = rgn_alloc(r, 13);
    memset(a, 'a', 13);
    write_unchecked(a, 13, 'y');
    rgn_clear(r);
    puts("cleared");
    fflush(stdout);
    rgn_close(r);
}

static NOINLINE void fill_at_close(void)
{
    rgn_t *r = region("fill");
    char *a = rgn_alloc(r, 40);
    char *b = rgn_alloc(r, 300); /* in a chunk */
    write_unchecked(a, 40, 'y');
    write_unchecked(b, 303, 'y');
    write_unchecked(b, 301, 'y');
    rgn_close(r);
    puts("closed");
}

static NOINLINE void fill_pattern(void)
{
    rgn_t *r = region("fill");
    unsigned char *p = (unsigned char *)alloc(r, 32);
    printf("new %#x\n", read_unchecked((char *)p + 31));
    memset(p, 'x', 32);
    rgn_clear(r);
    printf("cleared %#x\n", read_unchecked((char *)p));
    /* In a chunk the clear keeps: a stale read of memory rgn still
     * holds, not of freed memory. */
    unsigned char *q = (unsigned char *)alloc(r, 200);
    memset(q, 'x', 200);
    rgn_clear(r);
    printf("cleared chunk %#x\n", read_unchecked((char *)q + 10));
    rgn_close(r);
}

static NOINLINE void fill_clean(void)
{
    rgn_t *r = region("fill");
    for (int i = 0; i < 300; i++)
        memset(rgn_alloc(r, (size_t)i), 'c', (size_t)i);
    rgn_clear(r);
    rgn_close(r);
    puts("clean");
}

/* ---- running one ------------------------------------------------------- */

static const struct {
    const char *name;
    void (*misuse)(void);
    int (*clean)(void);
} scenarios[] = {
    {"past_end", past_end, NULL},
    {"into_next", into_next, NULL},
    {"past_last", past_last, NULL},
    {"chunk_past_end", chunk_past_end, NULL},
    {"before_first", before_first, NULL},
    {"before_chunk", before_chunk, NULL},
    {"own_chunk", own_chunk, NULL},
    {"clear_inline", clear_inline, NULL},
    {"clear_kept", clear_kept, NULL},
    {"clear_freed", clear_freed, NULL},
    {"after_close", after_close, NULL},
    {"after_close_chunk", after_close_chunk, NULL},
    {"uninit_reuse", uninit_reuse, NULL},
    {"clean", NULL, clean},
    {"clean_audited", NULL, clean_audited},
    {"fill_past_end", fill_past_end, NULL},
    {"fill_at_close", fill_at_close, NULL},
    {"fill_pattern", fill_pattern, NULL},
    {"fill_clean", fill_clean, NULL},
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCENARIO\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(argv[1], scenarios[i].name) != 0)
            continue;
        if (scenarios[i].clean)
            return scenarios[i].clean() ? 1 : 0;
        scenarios[i].misuse();
        return 0;
    }
    fprintf(stderr, "%s: no scenario %s\n", argv[0], argv[1]);
    return 2;
}
