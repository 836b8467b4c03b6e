/* SPDX-License-Identifier: MIT */
/*
 * check_index.c -- finding and releasing resources by value (lib/index.c):
 * rgn_find and rgn_release_value give the newest live registration of a
 * (cleanup, resource) pair, in a region whose index follows every way a
 * resource comes and goes -- registrations, releases, unprotects, moves
 * in and out, clears, rgn_realloc -- from inside a close too, and from
 * threads sharing the region.
 */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { N = 300 };

START_TEST(find_gives_the_key_of_each_pair)
{
    static struct probe p[N];
    rgn_key_t k[N], got;
    rgn_t *r = rgn_new();
    for (int i = 0; i < N; i++) {
        probe_init(&p[i], i);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(rgn_find(r, probe_cleanup, &p[i], &got), 0);
        ck_assert(rgn_key_equal(got, k[i]));
    }
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p[0], NULL), 0);
    /* Another cleanup, another resource, another region: none. */
    got = k[0];
    ck_assert_int_eq(rgn_find(r, noop_cleanup, &p[0], &got), -ENOENT);
    ck_assert(rgn_key_is_none(got));
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &got, &got), -ENOENT);
    rgn_t *other = rgn_new();
    ck_assert_int_eq(rgn_find(other, probe_cleanup, &p[0], &got), -ENOENT);
    ck_assert_int_eq(rgn_release_value(other, probe_cleanup, &p[0]), -ENOENT);
    ck_assert_int_eq(rgn_close(other), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(p[i].runs, 1);
}
END_TEST

START_TEST(release_value_runs_the_cleanup_early_once)
{
    struct probe p[3];
    for (int i = 0; i < 3; i++)
        probe_init(&p[i], i);
    p[2].ret = -EIO;
    rgn_t *r = rgn_new();
    rgn_key_t k;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k), 0);
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p[1]), 0);
    ck_assert_int_eq(p[1].runs, 1);
    ck_assert_int_eq(p[1].how, RGN_RELEASE_EARLY);
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p[1]), -ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    ck_assert_int_eq(p[1].runs, 1);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p[1], NULL), -ENOENT);
    /* The cleanup's result is passed through, as rgn_release's. */
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p[2]), -EIO);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.released_early, 2);
    ck_assert_uint_eq(st.live, 1);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p[0].runs + p[1].runs + p[2].runs, 3);
}
END_TEST

START_TEST(bad_input_is_einval)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    rgn_key_t k, got = {1, 1, 1};
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    ck_assert_int_eq(rgn_find(NULL, probe_cleanup, &p, &got), -EINVAL);
    ck_assert(rgn_key_is_none(got));
    got = k;
    ck_assert_int_eq(rgn_find(r, NULL, &p, &got), -EINVAL);
    ck_assert(rgn_key_is_none(got));
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    ck_assert_int_eq(rgn_release_value(NULL, probe_cleanup, &p), -EINVAL);
    ck_assert_int_eq(rgn_release_value(r, NULL, &p), -EINVAL);
    ck_assert_int_eq(p.runs, 0);
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_release(r, k), 0); /* untouched */
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* The same pair registered several times: the newest live one first. */
START_TEST(duplicates_are_found_newest_first)
{
    struct probe p;
    probe_init(&p, 7);
    rgn_t *r = rgn_new();
    rgn_key_t k[4], got;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k[i]), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[2]));
    /* A newer one after the index exists. */
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k[3]), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[3]));
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p), 0);
    ck_assert_int_eq(rgn_release(r, k[3]), -ENOENT);
    /* Moving the oldest within r makes it the newest. */
    ck_assert_int_eq(rgn_move(r, k[0], r, &k[0]), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[0]));
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[2]));
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[1]));
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p), 0);
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p), -ENOENT);
    ck_assert_int_eq(p.runs, 4);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* A clear leaves the index's entries stale; the open region's next call
 * builds it anew, and duplicates registered since are found newest
 * first, the cleared ones never. */
START_TEST(after_a_clear_only_what_came_since_is_found)
{
    struct probe p;
    probe_init(&p, 3);
    rgn_t *r = rgn_new();
    rgn_key_t k[4], got;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k[i]), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[1]));
    ck_assert_int_eq(rgn_clear(r), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), -ENOENT);
    for (int i = 2; i < 4; i++) /* into the cleared slots */
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k[i]), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[3]));
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p), 0);
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p, &got), 0);
    ck_assert(rgn_key_equal(got, k[2]));
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 4);
}
END_TEST

/*
 * After the first find, a model of which pairs are live in two regions
 * against every way resources come and go, many times over, so the index
 * is rebuilt and reuses stale buckets: each find must agree.
 */
START_TEST(the_index_follows_every_change)
{
    enum { M = 2000, ROUNDS = 40000 };
    static struct probe p[M];
    static rgn_key_t key[M];
    static int where[M]; /* -1: nowhere, else the region */
    static int regs[M];  /* registrations whose cleanup is to run */
    rgn_t *reg[2] = {rgn_new(), rgn_new()};
    for (int i = 0; i < M; i++) {
        probe_init(&p[i], i);
        where[i] = -1;
    }
    for (int i = 0; i < 50; i++) { /* some before the index */
        ck_assert_int_eq(rgn_register(reg[0], probe_cleanup, &p[i], &key[i]),
                         0);
        where[i] = 0;
        regs[i]++;
    }
    ck_assert_int_eq(rgn_find(reg[0], probe_cleanup, &p[0], NULL), 0);
    ck_assert_int_eq(rgn_find(reg[1], probe_cleanup, &p[0], NULL), -ENOENT);
    unsigned x = 12345;
    for (int round = 0; round < ROUNDS; round++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % M), op = (int)((x >> 20) % 6);
        int w = where[i];
        rgn_key_t got;
        switch (op) {
        case 0:
        case 1: /* register where it is not */
            if (w >= 0)
                break;
            w = op;
            ck_assert_int_eq(rgn_register(reg[w], probe_cleanup, &p[i],
                                          &key[i]),
                             0);
            where[i] = w;
            regs[i]++;
            break;
        case 2: /* release by key, or by value */
            if (w < 0)
                break;
            if (x & 1)
                ck_assert_int_eq(rgn_release(reg[w], key[i]), 0);
            else
                ck_assert_int_eq(
                    rgn_release_value(reg[w], probe_cleanup, &p[i]), 0);
            where[i] = -1;
            break;
        case 3: /* unprotect, then register again */
            if (w < 0)
                break;
            ck_assert_int_eq(rgn_unprotect(reg[w], key[i], NULL, NULL), 0);
            ck_assert_int_eq(rgn_register(reg[w], probe_cleanup, &p[i],
                                          &key[i]),
                             0);
            break;
        case 4: /* move to the other region */
            if (w < 0)
                break;
            ck_assert_int_eq(rgn_move(reg[w], key[i], reg[!w], &key[i]), 0);
            where[i] = !w;
            break;
        case 5: /* find in both */
            for (int j = 0; j < 2; j++) {
                int rc = rgn_find(reg[j], probe_cleanup, &p[i], &got);
                if (w == j) {
                    ck_assert_int_eq(rc, 0);
                    ck_assert(rgn_key_equal(got, key[i]));
                } else {
                    ck_assert_int_eq(rc, -ENOENT);
                }
            }
            break;
        }
        if (round == ROUNDS / 2) { /* a clear: everything of reg[1] goes */
            ck_assert_int_eq(rgn_clear(reg[1]), 0);
            for (int j = 0; j < M; j++)
                if (where[j] == 1)
                    where[j] = -1;
        }
    }
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < 2; j++) {
            rgn_key_t got;
            int rc = rgn_find(reg[j], probe_cleanup, &p[i], &got);
            ck_assert_int_eq(rc, where[i] == j ? 0 : -ENOENT);
            if (rc == 0)
                ck_assert(rgn_key_equal(got, key[i]));
        }
    }
    ck_assert_int_eq(rgn_close(reg[0]), 0);
    ck_assert_int_eq(rgn_close(reg[1]), 0);
    for (int i = 0; i < M; i++)
        ck_assert_int_eq(p[i].runs, regs[i]);
}
END_TEST

/* From a cleanup while the region closes: what is still live is found
 * and released at once, and the close skips it; whether the region had
 * an index before the close or not. */
struct inside {
    rgn_t *r;
    struct probe *other;
    int found, released;
};

static int finds_another(void *p, rgn_release_type how)
{
    (void)how;
    struct inside *in = p;
    rgn_key_t k;
    in->found = rgn_find(in->r, probe_cleanup, in->other, &k);
    in->released = rgn_release_value(in->r, probe_cleanup, in->other);
    return 0;
}

START_TEST(find_and_release_from_inside_a_close)
{
    for (int indexed = 0; indexed < 2; indexed++) {
        log_reset();
        struct probe p[3];
        for (int i = 0; i < 3; i++)
            probe_init(&p[i], i + 1);
        struct inside in = {rgn_new(), &p[0], 1, 1};
        ck_assert_int_eq(rgn_register(in.r, probe_cleanup, &p[0], NULL), 0);
        ck_assert_int_eq(rgn_register(in.r, probe_cleanup, &p[1], NULL), 0);
        ck_assert_int_eq(rgn_register(in.r, finds_another, &in, NULL), 0);
        if (indexed)
            ck_assert_int_eq(rgn_find(in.r, probe_cleanup, &p[1], NULL), 0);
        ck_assert_int_eq(rgn_close(in.r), 0);
        ck_assert_int_eq(in.found, 0);
        ck_assert_int_eq(in.released, 0);
        ck_assert_int_eq(p[0].how, RGN_RELEASE_EARLY);
        ck_assert_int_eq(p[1].how, RGN_RELEASE_NORMAL);
        ASSERT_LOG(1, 2); /* p[0] at once, then the close's next */
    }
}
END_TEST

/* A child region is found by the pair rgn_unprotect hands back; a kind's
 * resource by its kind's cleanup. */
static const struct rgn_kind probe_kind = {.name = "probe",
                                           .cleanup = probe_cleanup};

START_TEST(children_and_kinds_are_found_by_their_pairs)
{
    rgn_t *r = rgn_new();
    rgn_t *c = rgn_new_child(r);
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(r, rgn_child_key(c), &fn, &res), 0);
    ck_assert_ptr_eq(res, c);
    ck_assert_int_eq(rgn_register(r, fn, res, NULL), 0); /* adopted again */
    rgn_key_t k;
    ck_assert_int_eq(rgn_find(r, fn, c, &k), 0);
    ck_assert(rgn_key_equal(k, rgn_child_key(c)));
    struct probe p, q;
    probe_init(&p, 1);
    probe_init(&q, 2);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &q, NULL), 0);
    ck_assert_int_eq(rgn_release_value(r, fn, c), 0); /* closes c */
    ck_assert_int_eq(q.runs, 1);
    ck_assert_int_eq(q.how, RGN_RELEASE_NORMAL);
    rgn_key_t kk;
    ck_assert_int_eq(rgn_register_kind(r, &probe_kind, &p, &kk), 0);
    ck_assert_int_eq(rgn_find(r, probe_kind.cleanup, &p, &k), 0);
    ck_assert(rgn_key_equal(k, kk));
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 1);
}
END_TEST

/* A block rgn_realloc moved is found at its new address. */
START_TEST(a_reallocated_block_is_found_at_its_new_address)
{
    rgn_t *r = rgn_new();
    char *b = rgn_malloc(r, 8);
    ck_assert_ptr_nonnull(b);
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(r, rgn_mem_key(b), &fn, &res), 0);
    ck_assert_int_eq(rgn_register(r, fn, res, NULL), 0);
    rgn_key_t k;
    ck_assert_int_eq(rgn_find(r, fn, b, &k), 0);
    ck_assert(rgn_key_equal(k, rgn_mem_key(b)));
    char *hold = rgn_malloc(r, 8); /* so the block cannot grow in place */
    char *q = rgn_realloc(r, b, 100000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(rgn_find(r, fn, q, &k), 0);
    ck_assert(rgn_key_equal(k, rgn_mem_key(q)));
    if (q != b)
        ck_assert_int_eq(rgn_find(r, fn, b, NULL), -ENOENT);
    ck_assert_int_eq(rgn_release_value(r, fn, q), 0);
    ck_assert_int_eq(rgn_find(r, fn, q, NULL), -ENOENT);
    ck_assert_int_eq(rgn_free(r, hold), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* An audited region finds as any other, and the audit counts a release
 * by value as a release. */
START_TEST(an_audited_region_finds_too)
{
    struct probe p[2];
    probe_init(&p[0], 1);
    probe_init(&p[1], 2);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[0], &k), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[1], NULL), 0);
    rgn_key_t got;
    ck_assert_int_eq(rgn_find(r, probe_cleanup, &p[0], &got), 0);
    ck_assert(rgn_key_equal(got, k));
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p[1]), 0);
    struct capture cap;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&cap)), 1);
    ck_assert_int_eq(rgn_release_value(r, probe_cleanup, &p[0]), 0);
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&cap)), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* Threads sharing a region find and release their own pairs at once;
 * the index is read and changed under the region's lock (TSan). */
struct worker {
    rgn_t *r;
    struct probe p[64];
    int bad;
};

/* probe_cleanup writes the shared run log: here each thread's probes
 * count their own runs, and nothing else. */
static int counts(void *p, rgn_release_type how)
{
    (void)how;
    ((struct probe *)p)->runs++;
    return 0;
}

static void *finds_its_own(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++)
            if (rgn_register(w->r, counts, &w->p[i], NULL) != 0)
                w->bad++;
        for (int i = 0; i < 64; i += 2)
            if (rgn_find(w->r, counts, &w->p[i], NULL) != 0)
                w->bad++;
        for (int i = 0; i < 64; i++)
            if (rgn_release_value(w->r, counts, &w->p[i]) != 0)
                w->bad++;
    }
    return NULL;
}

START_TEST(threads_sharing_a_region_find_their_own)
{
    rgn_t *r = rgn_new();
    static struct worker w[2];
    pthread_t t[2];
    for (int j = 0; j < 2; j++) {
        w[j].r = rgn_share(r);
        w[j].bad = 0;
        for (int i = 0; i < 64; i++)
            probe_init(&w[j].p[i], i);
        ck_assert_int_eq(pthread_create(&t[j], NULL, finds_its_own, &w[j]),
                         0);
    }
    for (int j = 0; j < 2; j++) {
        ck_assert_int_eq(pthread_join(t[j], NULL), 0);
        ck_assert_int_eq(w[j].bad, 0);
        for (int i = 0; i < 64; i++)
            ck_assert_int_eq(w[j].p[i].runs, 200);
        ck_assert_int_eq(rgn_close(w[j].r), 0);
    }
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

Suite *index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *t = tcase_create("by value");
    tcase_add_test(t, find_gives_the_key_of_each_pair);
    tcase_add_test(t, release_value_runs_the_cleanup_early_once);
    tcase_add_test(t, bad_input_is_einval);
    tcase_add_test(t, duplicates_are_found_newest_first);
    tcase_add_test(t, the_index_follows_every_change);
    tcase_add_test(t, after_a_clear_only_what_came_since_is_found);
    tcase_add_test(t, find_and_release_from_inside_a_close);
    tcase_add_test(t, children_and_kinds_are_found_by_their_pairs);
    tcase_add_test(t, a_reallocated_block_is_found_at_its_new_address);
    tcase_add_test(t, an_audited_region_finds_too);
    tcase_add_test(t, threads_sharing_a_region_find_their_own);
    suite_add_tcase(s, t);
    return s;
}
