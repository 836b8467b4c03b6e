/* SPDX-License-Identifier: MIT */
/*
 * group.h -- the text of the audit's reports (group.c): resources grouped
 * by site and label, and the lines that show a group, a region, a site,
 * an age.  Every report (report.c, watch.c, misuse.c, since.c) is made of
 * these, so that a leak, a held resource and a growing site read alike.
 */
#ifndef RGN_GROUP_H
#define RGN_GROUP_H

#include "base.h"
#include "audit.h"
#include "own.h"
#include "sink.h"

/* Resources of one site and label. */
struct rgn_group {
    const struct rgn_site *site;
    const char *label;
    size_t count;
    uint64_t oldest;             /* earliest birth; UINT64_MAX: unknown */
    uint64_t bytes;              /* of the resources grouped */
    uint64_t released, p50, p99; /* lifetimes of the site's releases */
    bool estimated;              /* counted from sampled sites: ~count */
    uint8_t ndesc;               /* descriptions kept, the oldest last */
    char desc[3][48];            /* what the kinds' describe wrote of the
                                    group's oldest resources */
};

/* Sixteen sites fit without an allocation; each group costs the memset
 * of a report, so the table on the stack stays small. */
#define RGN_STACK_GROUPS 16

/* A small hash table that starts on the stack: a report of a million
 * resources from a handful of sites allocates nothing. */
struct rgn_groups {
    struct rgn_group *v; /* open addressing; count == 0: empty entry */
    size_t cap, n;
    size_t other; /* resources that found no room in the table */
    uint64_t other_oldest;
    size_t total;     /* resources grouped, other included (sampled ones
                         standing for the rest: an estimate then) */
    size_t unsampled; /* resources whose sites were not sampled, grouped
                         or not */
    size_t records;   /* resources grouped, each once (total weighs them) */
    bool estimated;   /* some resource grouped stood for others (sampled) */
    bool sorted;      /* packed by rgn__groups_sort: no more adds */
    struct rgn_group stack[RGN_STACK_GROUPS];
};

RGN_HIDDEN void rgn__groups_init(struct rgn_groups *g);
RGN_HIDDEN void rgn__groups_free(struct rgn_groups *g);
RGN_HIDDEN struct rgn_group *rgn__groups_add(struct rgn_groups *g,
                                             const struct rgn_site *site,
                                             const char *label, uint64_t born,
                                             uint64_t bytes, uint32_t weight);
/* Packs the groups to the front, most numerous first, after folding the
 * unlabelled resources of a site into its labelled group when it has
 * exactly one: a resource labelled after it was registered (rgn_label)
 * is then never a group of its own. */
RGN_HIDDEN void rgn__groups_sort(struct rgn_groups *g);
/* After the sort: no estimated group counts more than `most` resources
 * or `most_bytes` bytes, what its region holds (a sampled resource may
 * stand for more than that), nor the rest; total is their sum again.
 * The order stays. */
RGN_HIDDEN void rgn__groups_cap(struct rgn_groups *g, size_t most,
                                uint64_t most_bytes);
/* Adds the groups of `from`, sorted (and capped, say), to `to`. */
RGN_HIDDEN void rgn__groups_merge(struct rgn_groups *to,
                                  const struct rgn_groups *from);
/* Gives each group its tally's lifetimes in t. */
RGN_HIDDEN void rgn__groups_lifetimes(struct rgn_groups *g,
                                      const struct rgn_tracking *t);

/* What rgn__groups_collect counts apart: resources that are no leak. */
struct rgn_apart {
    size_t expected; /* meant to go with the close */
    size_t children; /* child regions */
};

/* Groups r's live resources, r locked, and sorts them; counts apart
 * those that are no leak, and leaves them out when only_unexpected.  No
 * group counts more than r holds of what was grouped (rgn__groups_cap). */
RGN_HIDDEN void rgn__groups_collect(rgn_t *r, bool only_unexpected,
                                    struct rgn_groups *g,
                                    struct rgn_apart *apart);
/* How many of r's live resources (r locked) are possible leaks -- not
 * expected at close, no child region -- exactly, apart as
 * rgn__groups_collect counted it: with sites sampled, the groups are
 * estimates.  Lean resources are never expected or children (audit.h). */
static inline size_t rgn__groups_held(rgn_t *r, const struct rgn_apart *apart)
{
    size_t live = rgn__slots_live(&r->slots);
    size_t n = apart->expected + apart->children;
    return live > n ? live - n : 0;
}
/* Whether slot i's resource of r (locked), whose record is rec, is one
 * a checkpoint at mark counts: registered after it (it has a record and
 * a birth: a lean one has neither), and a possible leak -- not expected
 * at close, no child region.  rgn_audit_since's open regions and a
 * close's RGN_SINCE_CLOSED count by it. */
static inline bool rgn__left_since(rgn_t *r, uint32_t i,
                                   const struct rgn_arec *rec, uint64_t mark)
{
    return rec && rec->born > mark && !(rec->flags & RGN_AREC_EXPECTED) &&
           !rgn__own_of(rgn__cb(&r->slots, i)->fn)->nests;
}
/* " (2 expected at close, 1 child region)", or "" when nothing is
 * apart. */
RGN_HIDDEN void rgn__fmt_apart(char *buf, size_t n,
                               const struct rgn_apart *apart);

/* The time of a report: now on the audit's clock, and how many
 * nanoseconds a tick is, read once for all its lines. */
struct rgn_when {
    uint64_t now;
    double tick_ns;
};
RGN_HIDDEN struct rgn_when rgn__when_now(void);
RGN_HIDDEN uint64_t rgn__span_ns(const struct rgn_when *w, uint64_t ticks);
/* The age of a resource born at `born` (UINT64_MAX or 0: unknown, 0). */
RGN_HIDDEN uint64_t rgn__age_ns(const struct rgn_when *w, uint64_t born);

/* An age or a lifetime with units that fit: 420ns, 850us, 2.1ms. */
RGN_HIDDEN void rgn__fmt_age(char *buf, size_t n, uint64_t ns);
/* Bytes with units that fit: 512 B, 21 KiB, 3.5 MiB. */
RGN_HIDDEN void rgn__fmt_bytes(char *buf, size_t n, uint64_t bytes);
/* What follows a site's function in text: "()", or nothing where the
 * name has its parameters already, as C++20's
 * std::source_location::function_name() gives them ("void f(int)"):
 * "f()" and "void f(int)", never "void f(int)()". */
static inline const char *rgn__fn_parens(const char *func)
{
    return strchr(func, '(') ? "" : "()";
}

/* How a report names a region: its name and where it was made. */
RGN_HIDDEN void rgn__fmt_region(char *buf, size_t n, const rgn_t *r);
/* " at file:line in func()", or "" for a call that records no site. */
RGN_HIDDEN void rgn__fmt_at(char *buf, size_t n, const struct rgn_site *s);
/* "file:line: func()" (or "(unknown site)") and " "label":" (or "") --
 * the front of every line about a site. */
RGN_HIDDEN void rgn__fmt_site(char *where, size_t nw, char *label, size_t nl,
                              const struct rgn_site *site, const char *text);

/* One line "rgn: PREFIX: SITE: LABEL: N live, oldest AGE[, BYTES];
 * lifetimes TAIL" for group e. */
RGN_HIDDEN void rgn__out_group(struct rgn_report *o, const char *prefix,
                               const struct rgn_group *e,
                               const struct rgn_when *w, const char *tail);
/* Lines for the first max_lines groups and one for the rest; returns how
 * many sites there were. */
RGN_HIDDEN size_t rgn__out_groups(struct rgn_report *o, const char *prefix,
                                  const struct rgn_groups *g,
                                  size_t max_lines);

static inline const char *rgn__plural(size_t n, const char *one,
                                      const char *many)
{
    return n == 1 ? one : many;
}

#endif /* RGN_GROUP_H */
