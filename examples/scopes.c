/* SPDX-License-Identifier: MIT */
/*
 * scopes.c -- request handlers written the way regions are meant to be
 * used: everything a request needs goes into a scope, and the scope's
 * close is how it all goes away.
 *
 * Each request runs in rgn_with() (resourcet's runResourceT); it takes
 * scratch memory with rgn_malloc and rgn_strdup, opens a file with
 * rgn_fopen, parses in a child region of its own, and releases nothing
 * by hand.  That is correct, not a leak, and the audit knows it: a scope
 * reports nothing at its close.  So this program runs silently under
 *
 *   RGN_AUDIT=abort ./scopes
 *
 * and exits 0.  (A region made by rgn_new() is an owner instead -- a
 * client, a pool, a server -- and what it still holds at its close is
 * reported: see partial_read.c and line_server.c.)
 */
#include <rgn.h>

#include <stdio.h>
#include <string.h>

struct request {
    const char *path;
    const char *query;
};

/* Splits a query string into its fields, in a region of the parser's
 * own: a child of the request, closed when parsing is done (or with the
 * request, if parsing fails half-way). */
static int count_fields(rgn_t *req, const char *query, int *fields)
{
    rgn_t *parse = rgn_new_child(req);
    if (!parse)
        return -1;
    char *copy = rgn_strdup(parse, query);
    if (!copy)
        return -1; /* parse goes with req */
    *fields = 0;
    for (char *save, *f = strtok_r(copy, "&", &save); f;
         f = strtok_r(NULL, "&", &save))
        ++*fields;
    return rgn_close(parse);
}

/* One request: every resource it takes is left to its scope. */
static int handle(rgn_t *req, void *arg)
{
    const struct request *rq = arg;
    char *path = rgn_strdup(req, rq->path);
    char *reply = rgn_malloc(req, 256);
    FILE *log = rgn_fopen(req, "/dev/null", "w", NULL);
    int fields;
    if (!path || !reply || !log || count_fields(req, rq->query, &fields))
        return -1;
    snprintf(reply, 256, "200 %s (%d fields)", path, fields);
    fprintf(log, "%s\n", reply); /* flushed and closed by the scope */
    return 0;
}

int main(void)
{
    static const struct request requests[] = {
        {"/index.html", "lang=en"},
        {"/search", "q=regions&page=2&sort=new"},
        {"/api/items", "limit=10&offset=20"},
    };
    for (int i = 0; i < 300; i++)
        if (rgn_with(handle, (void *)&requests[i % 3]) != 0)
            return 1;

    /* The same with a block-scoped region (GCC and Clang). */
    for (int i = 0; i < 300; i++) {
        RGN_SCOPE(batch);
        if (!batch || !rgn_malloc(batch, 4096) ||
            !rgn_strdup(batch, requests[i % 3].path))
            return 1;
    }
    return 0;
}
