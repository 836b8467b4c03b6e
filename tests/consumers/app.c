/* SPDX-License-Identifier: MIT
 *
 * tests/consumers/app.c -- the program the CMake and meson consumer
 * projects build against the installed rgn (tests/consumers/run.sh): it
 * makes a region, registers a cleanup, closes the region, and checks the
 * cleanup ran exactly once, at the close.
 */
#include <rgn.h>
#include <stdio.h>

static int count_cleanup(void *resource, rgn_release_type how)
{
    (void)how;
    ++*(int *)resource;
    return 0;
}

int main(void)
{
    int ran = 0;
    rgn_t *r = rgn_new_scope();
    if (r == NULL) {
        fprintf(stderr, "consumer: rgn_new_scope failed\n");
        return 1;
    }
    int rc = rgn_register(r, count_cleanup, &ran, NULL);
    if (rc != 0) {
        fprintf(stderr, "consumer: rgn_register: %s\n", rgn_strerror(rc));
        return 1;
    }
    if (ran != 0) {
        fprintf(stderr, "consumer: the cleanup ran before the close\n");
        return 1;
    }
    rc = rgn_close(r);
    if (rc != 0 || ran != 1) {
        fprintf(stderr, "consumer: rgn_close returned %d, cleanup ran %d times\n",
                rc, ran);
        return 1;
    }
    printf("consumer: rgn %s: the cleanup ran once, at the close\n",
           rgn_version());
    return 0;
}
