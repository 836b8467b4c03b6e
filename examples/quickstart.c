/* SPDX-License-Identifier: MIT */
/*
 * quickstart.c -- the shortest useful rgn program.
 *
 * A region collects cleanups; releasing early is by key; whatever is left
 * is cleaned up newest first when the region closes.  Run it with
 * RGN_AUDIT=report to have rgn name anything left to the close unasked.
 */
#include <rgn.h>

#include <stdio.h>
#include <stdlib.h>

static int free_buffer(void *buf, rgn_release_type how)
{
    printf("  free %s (%s)\n", (char *)buf,
           how == RGN_RELEASE_EARLY ? "released early" : "region closed");
    free(buf);
    return 0;
}

static char *buffer(rgn_t *r, const char *name, rgn_key_t *key)
{
    char *b = malloc(32);
    if (b)
        snprintf(b, 32, "%s", name);
    /* On failure rgn_register cleans up at once: nothing leaks. */
    if (!b || rgn_register(r, free_buffer, b, key) != 0)
        return NULL;
    return b;
}

int main(void)
{
    rgn_t *r = rgn_new();
    if (!r)
        return 1;
    rgn_key_t config, scratch, output;
    printf("register config, scratch and output\n");
    buffer(r, "config", &config);
    buffer(r, "scratch", &scratch);
    buffer(r, "output", &output);
    /* Left to the close on purpose: the leak audit (RGN_AUDIT=report)
     * reports anything else still live when the region closes. */
    rgn_expect_close(r, config);
    rgn_expect_close(r, output);

    printf("release scratch early, by key\n");
    rgn_release(r, scratch);

    printf("close the region: the rest go newest first\n");
    int rc = rgn_close(r);
    printf("done (%s)\n", rgn_strerror(rc));
    return rc == 0 ? 0 : 1;
}
