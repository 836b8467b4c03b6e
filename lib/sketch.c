/* SPDX-License-Identifier: MIT */
/*
 * sketch.c -- the relative-error quantile sketch (see sketch.h).
 *
 * Written from the paper's description of the compactor and its
 * section schedule; the bookkeeping (one global trigger on the sum of the
 * nominal capacities, a level's sections doubling while its section size
 * shrinks by sqrt 2) follows the published ReqSketch design.
 *
 * Nothing here allocates on the way to a failure it cannot undo: every
 * buffer a step needs is grown before the step changes anything, so when
 * memory runs out the sketch is left exactly as it was.  Owns nothing
 * but the sketches it is given; calls only the allocator.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "alloc.h"
#include "sketch.h"

#include <stdlib.h>

#ifndef MIN_SECTION
#define MIN_SECTION 4u
#endif
#ifndef INIT_SECTIONS
#define INIT_SECTIONS 3u
#endif
#define MAX_LEVELS 64u

/* ---- sorting 64-bit values ---------------------------------------------- */

static void insertion_sort(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t x = a[i];
        size_t j = i;
        for (; j && a[j - 1] > x; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void sift_down(uint64_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1] > a[c])
            c++;
        if (a[i] >= a[c])
            return;
        uint64_t t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

/* The fallback that keeps the sort O(n log n) on any input. */
static void heap_sort(uint64_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

static bool in_order(const uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return false;
    return true;
}

static uint64_t median3(uint64_t a, uint64_t b, uint64_t c)
{
    if (a > b) {
        uint64_t t = a;
        a = b;
        b = t;
    }
    return c <= a ? a : c >= b ? b : c;
}

static void intro_sort(uint64_t *a, size_t n, unsigned depth)
{
    while (n > 16) {
        if (depth-- == 0) {
            heap_sort(a, n);
            return;
        }
        uint64_t p = median3(a[0], a[n / 2], a[n - 1]);
        size_t i = 0, j = n - 1;
        for (;;) { /* Hoare: equal keys split evenly */
            while (a[i] < p)
                i++;
            while (a[j] > p)
                j--;
            if (i >= j)
                break;
            uint64_t t = a[i];
            a[i++] = a[j];
            a[j--] = t;
        }
        /* Recurse into the smaller part, loop on the larger. */
        size_t left = j + 1;
        if (left < n - left) {
            intro_sort(a, left, depth);
            a += left;
            n -= left;
        } else {
            intro_sort(a + left, n - left, depth);
            n = left;
        }
    }
    insertion_sort(a, n);
}

/* Lifetimes often repeat one value (anything under the clock's tick) or
 * arrive in order, so an ordered run is checked for first. */
static void sort_u64(uint64_t *a, size_t n)
{
    if (n < 2 || in_order(a, n))
        return;
    unsigned depth = 0;
    for (size_t m = n; m; m >>= 1)
        depth += 2;
    intro_sort(a, n, depth);
}

/* Merges sorted b[0..nb) into sorted a[0..na), which has room for both,
 * from the back so nothing is overwritten before it is read. */
static void merge_into(uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t out = na + nb;
    while (nb) {
        if (na && a[na - 1] > b[nb - 1])
            a[--out] = a[--na];
        else
            a[--out] = b[--nb];
    }
}

/* ---- levels ------------------------------------------------------------- */

static uint32_t nominal_capacity(const struct rgn_sketch_level *l)
{
    return 2 * l->sections * l->section;
}

static bool reserve_items(struct rgn_sketch_level *l, uint32_t need)
{
    if (need <= l->cap)
        return true;
    /* Levels grow rarely (a few times per doubling of the stream), so a
     * half again is enough slack and keeps the bytes close to the items. */
    uint32_t cap = need < 16 ? 16 : need + need / 2;
    uint64_t *v = rgn__realloc(l->v, (size_t)cap * sizeof *v);
    if (!v)
        return false;
    l->v = v;
    l->cap = cap;
    return true;
}

/* What s->lv points to before the first insert: nothing is ever written
 * to it, as the room it leaves for inserts is none. */
static struct rgn_sketch_level no_level;

/* Makes sure level h exists. */
static bool reserve_level(struct rgn_sketch *s, uint32_t h)
{
    if (h < s->nlevels)
        return true;
    if (h >= MAX_LEVELS)
        return false; /* 2^64 items: cannot happen */
    if (h >= s->lv_cap) {
        uint32_t cap = s->lv_cap ? s->lv_cap : 4;
        while (cap <= h)
            cap *= 2;
        struct rgn_sketch_level *lv =
            rgn__realloc(s->lv_cap ? s->lv : NULL, cap * sizeof *lv);
        if (!lv)
            return false;
        s->lv = lv;
        s->lv_cap = cap;
    }
    while (s->nlevels <= h) {
        s->lv[s->nlevels++] = (struct rgn_sketch_level){
            .sections = INIT_SECTIONS,
            .section = RGN_SKETCH_K,
            .section_f = (float)RGN_SKETCH_K,
        };
        s->nominal += 2 * INIT_SECTIONS * RGN_SKETCH_K;
    }
    return true;
}

/* Once a level has compacted 2^(sections-1) times, it splits its sections
 * in two, each sqrt 2 times smaller: the paper's schedule, which keeps
 * the error relative however long the stream runs.  Returns whether the
 * level changed. */
static bool more_sections(struct rgn_sketch *s, struct rgn_sketch_level *l)
{
    if (l->sections >= 32 || l->state < (1ull << (l->sections - 1)) ||
        l->section <= MIN_SECTION)
        return false;
    float f = l->section_f / 1.41421356f;
    uint32_t even = 2 * (uint32_t)(f / 2 + 0.5f);
    if (even < MIN_SECTION)
        return false;
    s->nominal -= nominal_capacity(l);
    l->section_f = f;
    l->section = even;
    l->sections *= 2;
    s->nominal += nominal_capacity(l);
    return true;
}

static uint64_t next_random(struct rgn_sketch *s)
{
    /* xorshift64*: the coin needs to be fair, not secret. */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1Du;
}

static unsigned trailing_ones(uint64_t x)
{
    return x == UINT64_MAX ? 64u : (unsigned)__builtin_ctzll(~x);
}

/* Totals of v[from .. to), level 0's unsorted tail.  The sum goes in
 * two 32-bit halves so that the loop has no carry chain and vectorises:
 * a tail is far shorter than 2^32 items. */
static void fold_tail(const uint64_t *v, uint32_t from, uint32_t to,
                      uint64_t *min, uint64_t *max, uint64_t *lo, uint64_t *hi)
{
    uint64_t mn = *min, mx = *max, sum_lo = 0, sum_hi = 0;
    for (uint32_t i = from; i < to; i++) {
        uint64_t x = ~v[i];
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
        sum_lo += x & 0xFFFFFFFFu;
        sum_hi += x >> 32;
    }
    *min = mn;
    *max = mx;
    /* lo:hi += sum_hi * 2^32 + sum_lo, in 128 bits */
    uint64_t add = sum_lo + (sum_hi << 32);
    uint64_t carry = (sum_hi >> 32) + (add < sum_lo);
    *lo += add;
    *hi += carry + (*lo < add);
}

/* Counts level 0's unsorted tail into the totals. */
static void count_tail(struct rgn_sketch *s)
{
    struct rgn_sketch_level *l = s->lv;
    fold_tail(l->v, l->sorted, l->n, &s->min, &s->max, &s->sum_lo, &s->sum_hi);
    s->n += l->n - l->sorted;
}

/* Level 0 collects items unsorted, uncounted; counts them and puts them
 * in order. */
static void sort_level0(struct rgn_sketch *s)
{
    struct rgn_sketch_level *l = s->lv;
    count_tail(s);
    if (l->sorted < l->n) {
        uint64_t *tail = l->v + l->sorted;
        uint32_t nt = l->n - l->sorted;
        sort_u64(tail, nt);
        if (l->sorted && tail[0] < tail[-1]) {
            if (l->cap - l->n >= nt) {
                /* Merge the sorted prefix and the tail, through the
                 * spare room past n. */
                memcpy(l->v + l->n, tail, nt * sizeof *tail);
                merge_into(l->v, l->sorted, l->v + l->n, nt);
            } else {
                sort_u64(l->v, l->n); /* no room: slower, no memory */
            }
        }
    }
    l->sorted = l->n;
}

/*
 * Compacts level h: its smallest items, leaving out the largest half of
 * its nominal capacity and the sections the counter spares, lose every
 * other one and the rest go up a level.  False when memory ran out: then
 * nothing changed.
 */
static bool compact(struct rgn_sketch *s, uint32_t h)
{
    if (!reserve_level(s, h + 1))
        return false;
    struct rgn_sketch_level *l = &s->lv[h], *up = &s->lv[h + 1];
    uint32_t secs = trailing_ones(l->state) + 1;
    if (secs > l->sections)
        secs = l->sections;
    uint32_t keep =
        nominal_capacity(l) / 2 + (l->sections - secs) * l->section;
    if (keep >= l->n)
        return true;
    if ((l->n - keep) & 1)
        keep++;
    uint32_t end = l->n - keep, promoted = end / 2;
    if (!reserve_items(up, up->n + promoted))
        return false;
    if (h == 0)
        sort_level0(s);

    /* Every other compaction flips the last coin instead of tossing a new
     * one: the paper's trick that halves the variance of the error.  The
     * smallest values are the largest stored keys, at the end: the level
     * just gets shorter. */
    l->coin = (l->state & 1) ? !l->coin : (next_random(s) >> 63) != 0;
    uint64_t *v = l->v + keep;
    for (uint32_t t = 0, from = l->coin; t < promoted; t++, from += 2)
        v[t] = v[from];
    merge_into(up->v, up->n, v, promoted);
    up->n += promoted;
    up->sorted = up->n;
    l->n = keep;
    l->sorted = keep;
    if (h == 0)
        s->above += promoted;
    else
        s->above -= end - promoted;
    l->state++;
    more_sections(s, l);
    return true;
}

/* How many items level 0 may hold before the next insert must compact:
 * up to its buffer's end, and no more than puts the sketch one batch
 * past its nominal capacity. */
static void set_room(struct rgn_sketch *s)
{
    uint32_t limit = s->nominal + RGN_SKETCH_STAGE - 1;
    uint32_t room = limit > s->above ? limit - s->above : 0;
    if (room > s->lv->cap)
        room = s->lv->cap; /* the shared empty level's is 0 */
    s->room = room;
}

/* Compacts full levels, lowest first, until the sketch is back under its
 * nominal capacity (or memory ran out: it stays a little over). */
static void compress(struct rgn_sketch *s)
{
    for (uint32_t h = 0;
         h < s->nlevels && rgn__sketch_retained(s) >= s->nominal; h++) {
        if (s->lv[h].n < nominal_capacity(&s->lv[h]))
            continue;
        if (!compact(s, h))
            break;
    }
    set_room(s);
}

/* ---- the interface ------------------------------------------------------ */

static atomic_uint_fast64_t seeds;

void rgn__sketch_init(struct rgn_sketch *s)
{
    memset(s, 0, sizeof *s);
    s->lv = &no_level;
    s->min = UINT64_MAX;
    /* splitmix64 of a counter: distinct, never-zero streams per sketch,
     * reproducible run to run. */
    uint64_t z = atomic_fetch_add(&seeds, 1) * 0x9E3779B97F4A7C15u +
                 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    s->rng = (z ^ (z >> 31)) | 1;
}

void rgn__sketch_free(struct rgn_sketch *s)
{
    for (uint32_t h = 0; h < s->nlevels; h++)
        rgn__free(s->lv[h].v);
    if (s->lv_cap)
        rgn__free(s->lv);
    rgn__sketch_init(s);
}

/* The inline insert's other half: the first item, growth, compaction. */
bool rgn__sketch_add_slow(struct rgn_sketch *s, uint64_t v)
{
    if (rgn__sketch_retained(s) + 1 >= s->nominal + RGN_SKETCH_STAGE) {
        compress(s);
        /* Out of memory to compact: refusing the item keeps the bound. */
        if (rgn__sketch_retained(s) + 1 >= s->nominal + RGN_SKETCH_STAGE)
            return false;
    }
    if (!reserve_level(s, 0) || !reserve_items(s->lv, s->lv->n + 1))
        return false;
    set_room(s);
    s->lv->v[s->lv->n++] = ~v;
    return true;
}

int rgn__sketch_merge(struct rgn_sketch *into, const struct rgn_sketch *from)
{
    if (!rgn__sketch_count(from))
        return 0;
    /* Room first, so that a failure leaves `into` as it was. */
    if (!reserve_level(into, from->nlevels - 1))
        return -ENOMEM;
    for (uint32_t h = 0; h < from->nlevels; h++)
        if (!reserve_items(&into->lv[h], into->lv[h].n + from->lv[h].n))
            return -ENOMEM;

    /* Level 0: the sorted, counted parts merge; from's uncounted tail
     * becomes into's, to be counted when it is sorted. */
    sort_level0(into);
    struct rgn_sketch_level *l0 = into->lv;
    const struct rgn_sketch_level *o0 = from->lv;
    merge_into(l0->v, l0->n, o0->v, o0->sorted);
    l0->n += o0->sorted;
    l0->sorted = l0->n;
    memcpy(l0->v + l0->n, o0->v + o0->sorted,
           (o0->n - o0->sorted) * sizeof *o0->v);
    l0->n += o0->n - o0->sorted;
    for (uint32_t h = 0; h < from->nlevels; h++) {
        struct rgn_sketch_level *l = &into->lv[h];
        const struct rgn_sketch_level *o = &from->lv[h];
        if (h > 0) {
            merge_into(l->v, l->n, o->v, o->n);
            l->n += o->n;
            l->sorted = l->n;
            into->above += o->n;
        }
        /* The merged level has compacted as often as either did, in the
         * counter's terms; its sections catch up. */
        l->state |= o->state;
        while (more_sections(into, l))
            ;
    }
    into->n += from->n;
    into->sum_lo += from->sum_lo;
    into->sum_hi += from->sum_hi + (into->sum_lo < from->sum_lo);
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    /* A merge can leave a level far over its capacity: one compaction
     * takes all of its excess, and the next level's turn follows. */
    compress(into);
    return 0;
}

/* The totals with level 0's uncounted tail folded in, for readers. */
struct totals {
    uint64_t n, min, max, sum_lo, sum_hi;
};

static struct totals totals_of(const struct rgn_sketch *s)
{
    struct totals t = {s->n, s->min, s->max, s->sum_lo, s->sum_hi};
    const struct rgn_sketch_level *l = s->lv;
    fold_tail(l->v, l->sorted, l->n, &t.min, &t.max, &t.sum_lo, &t.sum_hi);
    t.n += l->n - l->sorted;
    return t;
}

double rgn__sketch_sum(const struct rgn_sketch *s)
{
    struct totals t = totals_of(s);
    return (double)t.sum_hi * 18446744073709551616.0 + (double)t.sum_lo;
}

uint64_t rgn__sketch_min(const struct rgn_sketch *s)
{
    struct totals t = totals_of(s);
    return t.n ? t.min : 0;
}

uint64_t rgn__sketch_max(const struct rgn_sketch *s)
{
    return totals_of(s).max;
}

/* Items of level l that are <= v, that is whose keys are >= ~v. */
static uint64_t level_rank(const struct rgn_sketch_level *l, uint64_t v)
{
    uint64_t key = ~v;
    uint32_t lo = 0, hi = l->sorted;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (l->v[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t count = l->sorted - lo;
    for (uint32_t i = l->sorted; i < l->n; i++) /* level 0's tail */
        count += l->v[i] >= key;
    return count;
}

uint64_t rgn__sketch_rank(const struct rgn_sketch *s, uint64_t v)
{
    uint64_t rank = 0;
    for (uint32_t h = 0; h < s->nlevels; h++)
        rank += level_rank(&s->lv[h], v) << h;
    return rank;
}

/* The sketches first, first + stride, ... (count of them), as one. */
struct set {
    const char *first;
    size_t count, stride;
};

static const struct rgn_sketch *member(struct set set, size_t i)
{
    return (const struct rgn_sketch *)(set.first + i * set.stride);
}

static uint64_t set_rank(struct set set, uint64_t v)
{
    uint64_t rank = 0;
    for (size_t i = 0; i < set.count; i++)
        rank += rgn__sketch_rank(member(set, i), v);
    return rank;
}

uint64_t rgn__sketch_quantile_set(const struct rgn_sketch *first, size_t count,
                                  size_t stride, double q)
{
    struct set set = {(const char *)first, count, stride};
    uint64_t n = 0, lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < count; i++) {
        struct totals t = totals_of(member(set, i));
        n += t.n;
        if (t.n && t.min < lo)
            lo = t.min;
        if (t.n && t.max > hi)
            hi = t.max;
    }
    if (!n)
        return 0;
    if (!(q > 0))
        return lo;
    if (q >= 1)
        return hi;
    double exact = q * (double)n;
    uint64_t want = (uint64_t)exact;
    if ((double)want < exact || want == 0)
        want++;
    /* The rank only steps at held values, so the smallest value reaching
     * `want` is one of them: a binary search over the value range finds
     * it without sorting (or allocating) anything, and ranks of several
     * sketches simply add up. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (set_rank(set, mid) >= want)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t rgn__sketch_quantile(const struct rgn_sketch *s, double q)
{
    return rgn__sketch_quantile_set(s, 1, sizeof *s, q);
}

size_t rgn__sketch_bytes(const struct rgn_sketch *s)
{
    size_t b = (size_t)s->lv_cap * sizeof *s->lv;
    for (uint32_t h = 0; h < s->nlevels; h++)
        b += s->lv[h].cap * sizeof *s->lv[h].v;
    return b;
}
