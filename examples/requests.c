/* SPDX-License-Identifier: MIT */
/*
 * requests.c -- a request loop on one region, cleared after each request.
 *
 * A server handles its requests one after another with a single scope:
 * each request takes its memory from the region's arena (rgn_strndup,
 * rgn_asprintf, rgn_zalloc: a pointer bump, nothing to free one by one)
 * and registers what needs a real cleanup (here, a log stream); then
 * rgn_clear() runs the cleanups and empties the arena, keeping the region
 * -- and one chunk of memory -- for the next request, as apr_pool_clear
 * does.  Under RGN_AUDIT=abort it runs silently: a clear, like a scope's
 * close, is the intended end of what the region held.
 *
 *   RGN_AUDIT=abort ./requests
 */
#include <rgn.h>

#include <stdio.h>
#include <string.h>

/* Parses "METHOD /path?query" into the arena and answers it. */
static int handle(rgn_t *req, const char *line, size_t *reply_bytes)
{
    const char *sp = strchr(line, ' ');
    if (!sp)
        return -1;
    char *method = rgn_strndup(req, line, (size_t)(sp - line));
    char *path = rgn_strndup(req, sp + 1, strcspn(sp + 1, "?"));
    int *counts = rgn_zalloc(req, 256 * sizeof *counts); /* scratch */
    FILE *log = rgn_fopen(req, "/dev/null", "w", NULL);  /* a resource */
    if (!method || !path || !counts || !log)
        return -1;
    for (const char *p = path; *p; p++)
        counts[(unsigned char)*p]++;
    char *reply = rgn_asprintf(req, "%s %s: 200, %d slashes", method, path,
                               counts['/']);
    if (!reply)
        return -1;
    fprintf(log, "%s\n", reply);
    *reply_bytes += strlen(reply);
    return 0;
}

int main(void)
{
    static const char *const lines[] = {
        "GET /index.html",
        "GET /api/items?limit=10",
        "POST /api/items/42/comments",
        "GET /static/css/site.css?v=3",
    };
    rgn_t *req = rgn_new_scope();
    if (!req)
        return 1;
    rgn_set_name(req, "request");
    size_t bytes = 0;
    int requests = 10000;
    for (int i = 0; i < requests; i++) {
        if (handle(req, lines[i % 4], &bytes) != 0)
            return 1;
        if (rgn_clear(req) != 0) /* the log closes; the arena empties */
            return 1;
    }
    printf("requests: %d requests on one cleared region, %zu bytes of "
           "replies\n", requests, bytes);
    return rgn_close(req) == 0 ? 0 : 1;
}
