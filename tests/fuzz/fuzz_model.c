/* SPDX-License-Identifier: MIT */
/*
 * fuzz_model.c -- rgn against a reference model, driven by arbitrary bytes.
 *
 * The input is decoded into operations over three regions: register,
 * release, unprotect and move, with live, stale, foreign and zero keys;
 * closes of both kinds and rgn_forget_for_exec (the region is then made
 * anew) and clears (it stays); arena allocations, whose bytes must survive until their
 * region's clear or close; rgn_malloc blocks, freed, reallocated and
 * moved, whose bytes and keys must survive each; chains of nested child
 * regions up to 2,000 deep, which close innermost first; and resources
 * whose cleanups call rgn on their own closing region; finds and releases
 * by value (rgn_find, rgn_release_value) of live, dead and duplicated
 * (cleanup, resource) pairs -- TWINs share a pair by the four -- and error
 * closes with a cause (rgn_close_cause), which every cleanup they run,
 * nested children's included, must see.  A small model -- each region's
 * live resources, oldest first -- predicts every result: the return code,
 * which cleanup runs, with which release type and cause, and in which
 * order.  Any difference aborts, so the fuzzer reports it as a crash.
 * An input whose last byte is odd runs it all with the leak audit on and
 * sites sampled one in 4, so that lean calls (lib/audit.h) meet every
 * other call: the audit must change no result, and rgn_audit_dump must
 * count exactly the model's possible leaks (every live resource but the
 * child regions).
 *
 * Built two ways: with clang's libFuzzer (`make fuzz`), and as a plain
 * program that replays files (the seed corpus and every crash ever found,
 * tests/fuzz/corpus/) in `make check`.
 */
#include <rgn.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGIONS 3
#define MAX_RES 256   /* resources one input may make */
#define MAX_LIVE 64   /* per region, in the model */

/* PLAIN and REENTRANT log their cleanup; a BLOCK is an rgn_malloc block
 * (rgn frees it, nothing is logged); a CHAIN is a child region with
 * children nested `depth` deep, whose outermost cleanup logs when the
 * whole chain has closed, innermost first; a TWIN's resource is one of
 * four tokens, so several live TWINs may share a pair: its cleanup logs
 * its token's number, -1 - group, not its id. */
enum kind { PLAIN, REENTRANT, BLOCK, CHAIN, TWIN };

struct res {
    int id;
    enum kind kind;
    int runs;
    rgn_release_type how;
    int region;          /* where the model says it lives; -1: nowhere */
    rgn_key_t key;
    int reentrant_rc;    /* what its own rgn_release returned           */
    unsigned char *p;    /* BLOCK: its memory, n bytes of `fill`        */
    size_t n;
    unsigned char fill;
    rgn_t *child;        /* CHAIN: the outermost child region           */
    int depth, closed;   /* CHAIN: levels, and how many have closed     */
    int group;           /* TWIN: its token                             */
};

static struct res res[MAX_RES];
static int nres;
static rgn_t *region[REGIONS];
static int live[REGIONS][MAX_LIVE]; /* resource ids, oldest first */
static int nlive[REGIONS];
static rgn_key_t dead_keys[64];     /* keys that must be dead forever */
static unsigned ndead;              /* keys ever put in the ring above */
static int run_order[MAX_RES];      /* ids in the order cleanups ran */
static rgn_release_type run_how[MAX_RES]; /* each run's release type */
static int run_cause[MAX_RES];      /* and rgn_cause()'s code, 0: none */
static int nrun;

#define TOKENS 4
static struct token {
    int group;
} tokens[TOKENS] = {{0}, {1}, {2}, {3}};
static int twin_runs;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_model: %s:%d: %s\n", __FILE__,          \
                    __LINE__, #cond);                                     \
            abort();                                                      \
        }                                                                 \
    } while (0)

/* The audit, sampled, on every region of this input. */
static bool audited;

static void discard(const char *line, void *arg)
{
    (void)line;
    (void)arg;
}

static rgn_t *new_region(void)
{
    rgn_t *r = rgn_new();
    if (r && audited)
        CHECK(rgn_audit_set(r, RGN_AUDIT_REPORT) == 0);
    return r;
}

/* Logs one run: what, how, and the cause the cleanup saw. */
static void log_run(int what, rgn_release_type how)
{
    const struct rgn_cause *c = rgn_cause();
    CHECK(nrun < MAX_RES);
    run_how[nrun] = how;
    run_cause[nrun] = c ? c->code : 0;
    CHECK(!c || (c->text && strcmp(c->text, "fuzz") == 0));
    run_order[nrun++] = what;
}

static int cleanup(void *p, rgn_release_type how)
{
    struct res *r = p;
    r->runs++;
    CHECK(r->runs == 1); /* exactly once */
    r->how = how;
    log_run(r->id, how);
    if (r->kind == REENTRANT && r->region >= 0)
        r->reentrant_rc = rgn_release(region[r->region], r->key);
    return 0;
}

static int twin_cleanup(void *p, rgn_release_type how)
{
    const struct token *t = p;
    twin_runs++;
    log_run(-1 - t->group, how);
    return 0;
}

/* One level of a chain: its cleanup checks that every deeper level has
 * closed first, and the outermost logs the chain. */
struct level {
    struct res *chain;
    int depth; /* 1 = outermost */
};
static struct level levels[4096];
static int nlevels;

static int level_cleanup(void *p, rgn_release_type how)
{
    struct level *l = p;
    struct res *c = l->chain;
    CHECK(c->closed == c->depth - l->depth); /* innermost first */
    c->closed++;
    if (l->depth == 1)
        return cleanup(c, how);
    return 0;
}

static void remember_dead(rgn_key_t k)
{
    dead_keys[ndead++ % 64] = k;
}

static void model_remove(int reg, int at)
{
    memmove(&live[reg][at], &live[reg][at + 1],
            (size_t)(nlive[reg] - at - 1) * sizeof live[reg][0]);
    nlive[reg]--;
}

static void op_register(int reg, enum kind kind)
{
    if (nres == MAX_RES || nlive[reg] == MAX_LIVE)
        return;
    struct res *r = &res[nres];
    *r = (struct res){.id = nres, .kind = kind, .how = RGN_RELEASE_EARLY,
                      .region = reg, .reentrant_rc = 1};
    nres++;
    CHECK(rgn_register(region[reg], cleanup, r, &r->key) == 0);
    CHECK(!rgn_key_is_none(r->key));
    live[reg][nlive[reg]++] = r->id;
}

static bool block_intact(const struct res *r)
{
    for (size_t j = 0; j < r->n; j++)
        if (r->p[j] != r->fill)
            return false;
    return true;
}

static void op_malloc(int reg, uint8_t b)
{
    if (nres == MAX_RES || nlive[reg] == MAX_LIVE)
        return;
    struct res *r = &res[nres];
    *r = (struct res){.id = nres, .kind = BLOCK, .region = reg};
    r->n = (size_t)b * 13 % 700;
    r->fill = b;
    r->p = rgn_malloc(region[reg], r->n);
    CHECK(r->p != NULL);
    memset(r->p, b, r->n);
    r->key = rgn_mem_key(r->p);
    CHECK(!rgn_key_is_none(r->key));
    nres++;
    live[reg][nlive[reg]++] = r->id;
}

static void op_chain(int reg, uint8_t b)
{
    int depth = b < 0xf0 ? b % 8 + 1 : 2000; /* now and then, deep */
    if (nres == MAX_RES || nlive[reg] == MAX_LIVE ||
        nlevels + depth > (int)(sizeof levels / sizeof levels[0]))
        return;
    struct res *r = &res[nres];
    *r = (struct res){.id = nres, .kind = CHAIN, .region = reg,
                      .how = RGN_RELEASE_EARLY, .depth = depth};
    rgn_t *parent = region[reg];
    for (int d = 1; d <= depth; d++) {
        rgn_t *c = rgn_new_child(parent);
        CHECK(c != NULL);
        if (d == 1)
            r->child = c;
        struct level *l = &levels[nlevels++];
        *l = (struct level){r, d};
        CHECK(rgn_register(c, level_cleanup, l, NULL) == 0);
        parent = c;
    }
    r->key = rgn_child_key(r->child);
    CHECK(!rgn_key_is_none(r->key));
    nres++;
    live[reg][nlive[reg]++] = r->id;
}

/* How many log entries a resource's end makes: blocks make none. */
static int logs(const struct res *r)
{
    return r->kind != BLOCK;
}

/* What the log says when r's cleanup runs. */
static int log_id(const struct res *r)
{
    return r->kind == TWIN ? -1 - r->group : r->id;
}

static void op_register_twin(int reg, uint8_t b)
{
    if (nres == MAX_RES || nlive[reg] == MAX_LIVE)
        return;
    struct res *r = &res[nres];
    *r = (struct res){.id = nres, .kind = TWIN, .how = RGN_RELEASE_EARLY,
                      .region = reg, .group = b % TOKENS};
    nres++;
    CHECK(rgn_register(region[reg], twin_cleanup, &tokens[r->group],
                       &r->key) == 0);
    live[reg][nlive[reg]++] = r->id;
}

/* The pair r was registered with, as a program would name it: NULL for
 * blocks and chains, whose cleanups are rgn's own. */
static rgn_cleanup_fn pair_of(const struct res *r, void **resource)
{
    switch (r->kind) {
    case PLAIN:
    case REENTRANT:
        *resource = (void *)r;
        return cleanup;
    case TWIN:
        *resource = &tokens[r->group];
        return twin_cleanup;
    default:
        return NULL;
    }
}

/* Where the model has reg's newest live registration of the pair of
 * res[id] -- its place in live[reg] -- or -1. */
static int model_find(int reg, rgn_cleanup_fn fn, void *resource)
{
    for (int at = nlive[reg] - 1; at >= 0; at--) {
        void *p;
        if (pair_of(&res[live[reg][at]], &p) == fn && p == resource)
            return at;
    }
    return -1;
}

static void op_find(uint8_t b, int target)
{
    if (!nres)
        return;
    void *p;
    rgn_cleanup_fn fn = pair_of(&res[(b * 7u) % (unsigned)nres], &p);
    if (!fn)
        return;
    int at = model_find(target, fn, p);
    rgn_key_t k;
    int rc = rgn_find(region[target], fn, p, &k);
    if (at < 0) {
        CHECK(rc == -ENOENT && rgn_key_is_none(k));
        return;
    }
    CHECK(rc == 0 && rgn_key_equal(k, res[live[target][at]].key));
}

static void op_release_value(uint8_t b, int target)
{
    if (!nres)
        return;
    void *p;
    rgn_cleanup_fn fn = pair_of(&res[(b * 7u) % (unsigned)nres], &p);
    if (!fn)
        return;
    int at = model_find(target, fn, p);
    int before = nrun;
    int rc = rgn_release_value(region[target], fn, p);
    if (at < 0) {
        CHECK(rc == -ENOENT && nrun == before);
        return;
    }
    struct res *r = &res[live[target][at]];
    CHECK(rc == 0);
    CHECK(nrun == before + 1 && run_order[before] == log_id(r));
    CHECK(run_how[before] == RGN_RELEASE_EARLY && run_cause[before] == 0);
    if (r->kind == REENTRANT)
        CHECK(r->reentrant_rc == -ENOENT); /* its own key: gone */
    if (r->kind == TWIN)
        r->runs = 1;
    r->region = -1;
    model_remove(target, at);
    remember_dead(r->key);
}

/* Picks a key from the byte: a live one, a dead one, or none. */
static rgn_key_t pick_key(uint8_t b, int *owner, int *at)
{
    *owner = -1;
    *at = -1;
    int reg = b % REGIONS;
    if ((b >> 6) == 3) { /* a quarter: dead or zero keys */
        unsigned n = ndead < 64 ? ndead : 64;
        return n && (b & 1) ? dead_keys[(b >> 1) % n] : RGN_KEY_NONE;
    }
    if (!nlive[reg])
        return RGN_KEY_NONE;
    *owner = reg;
    *at = (b >> 2) % nlive[reg];
    return res[live[reg][*at]].key;
}

static void op_release(uint8_t b, int target)
{
    int owner, at;
    rgn_key_t k = pick_key(b, &owner, &at);
    int before = nrun;
    int rc = rgn_release(region[target], k);
    if (owner == target) {
        struct res *r = &res[live[owner][at]];
        CHECK(rc == 0);
        CHECK(nrun == before + logs(r));
        if (logs(r))
            CHECK(run_order[before] == log_id(r) && run_cause[before] == 0);
        /* A child released by key closes as rgn_close would. */
        CHECK(r->kind == BLOCK ||
              run_how[before] == (r->kind == CHAIN ? RGN_RELEASE_NORMAL
                                                   : RGN_RELEASE_EARLY));
        if (r->kind == TWIN)
            r->runs = 1;
        if (r->kind == CHAIN)
            CHECK(r->closed == r->depth);
        if (r->kind == REENTRANT)
            CHECK(r->reentrant_rc == -ENOENT); /* its own key: gone */
        r->region = -1;
        model_remove(owner, at);
        remember_dead(k);
    } else {
        CHECK(rc == -ENOENT); /* foreign, dead or zero: touches nothing */
        CHECK(nrun == before);
    }
}

static void op_unprotect(uint8_t b, int target)
{
    int owner, at;
    rgn_key_t k = pick_key(b, &owner, &at);
    rgn_cleanup_fn fn = NULL;
    void *p = NULL;
    int rc = rgn_unprotect(region[target], k, &fn, &p);
    if (owner == target) {
        struct res *r = &res[live[owner][at]];
        CHECK(rc == 0);
        r->region = -1;
        model_remove(owner, at);
        remember_dead(k);
        if (r->kind == BLOCK) { /* the caller's pointer, and a free */
            CHECK(p == r->p && block_intact(r));
            CHECK(fn(p, RGN_RELEASE_EARLY) == 0);
        } else if (r->kind == CHAIN) { /* the child, ours to close */
            CHECK(p == r->child);
            int before = nrun;
            CHECK(rgn_close(r->child) == 0);
            CHECK(nrun == before + 1 && r->closed == r->depth);
        } else if (r->kind == TWIN) {
            CHECK(fn == twin_cleanup && p == &tokens[r->group]);
            r->runs = -1000; /* ours now: it must never run */
        } else {
            CHECK(fn == cleanup && p == r);
            r->runs = -1000; /* ours now: it must never run */
        }
    } else {
        CHECK(rc == -ENOENT && fn == NULL && p == NULL);
    }
}

static void op_move(uint8_t b, int target)
{
    int owner, at;
    rgn_key_t k = pick_key(b, &owner, &at);
    rgn_key_t nk;
    if (owner < 0) { /* a dead or zero key moves nothing */
        int from = (target + 1) % REGIONS;
        CHECK(rgn_move(region[from], k, region[target], &nk) == -ENOENT);
        return;
    }
    if (owner != target && nlive[target] == MAX_LIVE)
        return; /* the model has no room there */
    CHECK(rgn_move(region[owner], k, region[target], &nk) == 0);
    CHECK(!rgn_key_equal(nk, k));
    struct res *r = &res[live[owner][at]];
    model_remove(owner, at);
    remember_dead(k);
    r->region = target; /* the newest there */
    r->key = nk;
    live[target][nlive[target]++] = r->id;
    if (r->kind == BLOCK) /* rgn_free and rgn_mem_key follow it */
        CHECK(rgn_key_equal(rgn_mem_key(r->p), nk));
    if (r->kind == CHAIN)
        CHECK(rgn_key_equal(rgn_child_key(r->child), nk));
}

/* rgn_free and rgn_realloc of a block, in its region or another. */
static void op_block(uint8_t b, int target, bool realloc_it)
{
    int owner, at;
    pick_key(b, &owner, &at);
    if (owner < 0 || res[live[owner][at]].kind != BLOCK)
        return;
    struct res *r = &res[live[owner][at]];
    CHECK(block_intact(r));
    if (!realloc_it) {
        int rc = rgn_free(region[target], r->p);
        if (owner != target) {
            CHECK(rc == -ENOENT); /* not that region's: untouched */
            return;
        }
        CHECK(rc == 0);
        r->region = -1;
        model_remove(owner, at);
        remember_dead(r->key);
        return;
    }
    size_t n = (size_t)b * 29 % 2000;
    errno = 0;
    unsigned char *q = rgn_realloc(region[target], r->p, n);
    if (owner != target) {
        CHECK(q == NULL && errno == ENOENT);
        return;
    }
    CHECK(q != NULL);
    CHECK(rgn_key_equal(rgn_mem_key(q), r->key)); /* the key stays */
    r->p = q;
    r->n = n < r->n ? n : r->n;
    CHECK(block_intact(r));
    memset(q, r->fill, n);
    r->n = n;
}

/* Arena allocations: each filled with one byte, checked before its
 * region's clear or close, and forgotten then. */
#define MAX_ARENA 32
static struct {
    unsigned char *p;
    size_t n;
    unsigned char fill;
    int region;
} arena[MAX_ARENA];
static int narena;

static void op_alloc(int reg, uint8_t b)
{
    if (narena == MAX_ARENA)
        return;
    size_t n = (size_t)b * 37 % 3000;
    unsigned char *p = rgn_alloc(region[reg], n);
    CHECK(p != NULL && (uintptr_t)p % 16 == 0);
    memset(p, b, n);
    arena[narena].p = p;
    arena[narena].n = n;
    arena[narena].fill = b;
    arena[narena].region = reg;
    narena++;
}

static void arena_check_and_forget(int reg)
{
    int kept = 0;
    for (int i = 0; i < narena; i++) {
        if (arena[i].region != reg) {
            arena[kept++] = arena[i];
            continue;
        }
        for (size_t j = 0; j < arena[i].n; j++)
            CHECK(arena[i].p[j] == arena[i].fill);
    }
    narena = kept;
}

/* Checks what a close or a clear of reg ran: every live resource, newest
 * first, with `how` and, as rgn_cause() showed it, `cause`. */
static void check_emptied(int reg, int before, rgn_release_type how,
                          int cause)
{
    int n = nlive[reg], at = before;
    for (int i = 0; i < n; i++) { /* newest first */
        struct res *r = &res[live[reg][n - 1 - i]];
        if (logs(r)) {
            CHECK(at < nrun && run_order[at] == log_id(r));
            CHECK(run_how[at] == how && run_cause[at] == cause);
            at++;
        }
        if (r->kind == TWIN)
            r->runs = 1;
        if (r->kind == REENTRANT)
            CHECK(r->reentrant_rc == -ENOENT);
        if (r->kind == CHAIN)
            CHECK(r->closed == r->depth);
        r->region = -1;
        remember_dead(r->key);
    }
    CHECK(nrun == at);
    nlive[reg] = 0;
}

static void blocks_check(int reg)
{
    for (int i = 0; i < nlive[reg]; i++)
        if (res[live[reg][i]].kind == BLOCK)
            CHECK(block_intact(&res[live[reg][i]]));
}

static void op_clear(int reg)
{
    blocks_check(reg);
    arena_check_and_forget(reg);
    int before = nrun;
    CHECK(rgn_clear(region[reg]) == 0);
    check_emptied(reg, before, RGN_RELEASE_NORMAL, 0);
    CHECK(rgn_live(region[reg]) == 0);
}

/* cause: 0, or the code of an error close's cause. */
static void op_close(int reg, bool error, int cause)
{
    blocks_check(reg);
    arena_check_and_forget(reg);
    int before = nrun;
    int rc = cause ? rgn_close_cause(region[reg], cause, "fuzz")
             : error ? rgn_close_error(region[reg])
                     : rgn_close(region[reg]);
    CHECK(rc == 0);
    check_emptied(reg, before, error ? RGN_RELEASE_ERROR : RGN_RELEASE_NORMAL,
                  cause);
    region[reg] = new_region();
    CHECK(region[reg] != NULL);
}


/* rgn_forget_for_exec of reg, as a forked child would: no cleanup runs,
 * every resource is forgotten (rgn's blocks freed, chains' regions with
 * them), and the region is made anew.  Its keys are dead. */
static void op_forget(int reg)
{
    blocks_check(reg);
    arena_check_and_forget(reg);
    int before = nrun;
    CHECK(rgn_forget_for_exec(region[reg]) == 0);
    CHECK(nrun == before);
    for (int i = 0; i < nlive[reg]; i++) {
        struct res *r = &res[live[reg][i]];
        CHECK(r->runs == 0 && (r->kind != CHAIN || r->closed == 0));
        r->region = -1;
        if (r->kind != BLOCK)
            r->runs = -1000; /* forgotten: it must never run */
        remember_dead(r->key);
    }
    nlive[reg] = 0;
    region[reg] = new_region();
    CHECK(region[reg] != NULL);
}

static void run(const uint8_t *data, size_t size)
{
    nres = nrun = ndead = 0;
    twin_runs = 0;
    narena = nlevels = 0;
    audited = size > 0 && (data[size - 1] & 1);
    rgn_audit_set_sink(discard, NULL);
    CHECK(rgn_audit_set_sample(audited ? 4 : 1) == 0);
    for (int i = 0; i < REGIONS; i++) {
        region[i] = new_region();
        CHECK(region[i]);
        nlive[i] = 0;
    }
    for (size_t i = 0; i + 1 < size; i += 2) {
        uint8_t op = data[i], arg = data[i + 1];
        int target = (op >> 4) % REGIONS;
        switch (op % 8) {
        case 0:
            op_register(target, PLAIN);
            break;
        case 1: /* memory blocks and child chains */
            switch (arg % 4) {
            case 0:
                op_malloc(target, arg);
                break;
            case 1:
                op_block(arg, target, false);
                break;
            case 2:
                op_block(arg, target, true);
                break;
            case 3:
                op_chain(target, arg);
                break;
            }
            break;
        case 2:
            op_register(target, REENTRANT);
            break;
        case 3:
            op_release(arg, target);
            break;
        case 4:
            op_unprotect(arg, target);
            break;
        case 5:
            op_move(arg, target);
            break;
        case 6:
            if (arg & 2)
                op_clear(target);
            else /* an error close with arg & 4 has a cause */
                op_close(target, (arg & 1) != 0,
                         (arg & 5) == 5 ? -1 - (arg >> 3) : 0);
            break;
        case 7:
            if (arg & 1) {
                op_alloc(target, arg);
                break;
            }
            if ((arg & 0x0e) == 0x0e) {
                op_forget(target);
                break;
            }
            switch ((arg >> 1) % 4) {
            case 0:
                CHECK(rgn_live(region[target]) == (size_t)nlive[target]);
                if (audited) {
                    long leaks = 0; /* all but child regions may be */
                    for (int k = 0; k < nlive[target]; k++)
                        leaks += res[live[target][k]].kind != CHAIN;
                    CHECK(rgn_audit_dump(region[target], discard, NULL) ==
                          leaks);
                }
                break;
            case 1:
                op_find(arg, target);
                break;
            case 2:
                op_release_value(arg, target);
                break;
            case 3:
                op_register_twin(target, arg);
                break;
            }
            break;
        }
    }
    for (int i = 0; i < REGIONS; i++)
        op_close(i, false, 0);
    for (int i = 0; i < REGIONS; i++)
        rgn_close(region[i]);
    int twins = 0;
    for (int i = 0; i < nres; i++) { /* every resource ran once, or was ours */
        CHECK(res[i].kind == BLOCK || res[i].runs == 1 ||
              res[i].runs == -1000);
        twins += res[i].kind == TWIN && res[i].runs == 1;
    }
    CHECK(twin_runs == twins);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    return 0;
}

#ifndef RGN_LIBFUZZER
/* Replays the files named on the command line. */
int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        run(buf, len);
        n++;
    }
    printf("fuzz_model: %d inputs replayed against the model\n", n);
    return 0;
}
#endif
