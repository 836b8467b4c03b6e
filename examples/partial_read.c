/* SPDX-License-Identifier: MIT */
/*
 * partial_read.c -- the HTTP client that held every partially read
 * response for ever.
 *
 * The client keeps one long-lived region for its connections.  A response
 * holds its connection's key and released it when the body had been read
 * to the end -- and only then.  Callers that read just the headers (a
 * redirect, an error status, a HEAD-like check) closed the response
 * without finishing the body, so its connection stayed registered in the
 * client's region until the process died.
 *
 *   RGN_AUDIT=report ./partial_read           the leak, and where it is
 *   RGN_AUDIT=report ./partial_read --fixed   silence
 *   RGN_AUDIT=report ./partial_read --long    the same over 2.5 seconds
 *
 * With the audit on, the report names the line that registered the
 * connections nobody released, and the limit warning fires while the
 * client is still running -- long before anyone closes anything.  Run
 * long enough (--long), the client is also told, while it runs, that
 * connections it should have given back long ago are held: the ones it
 * did give back lived microseconds.
 */
#include <rgn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct connection {
    int id;
    size_t body_left; /* bytes of the current body still unread */
};

struct client {
    rgn_t *connections; /* lives as long as the client */
    int next_id;
};

struct response {
    struct client *client;
    struct connection *conn;
    rgn_key_t conn_key;
    int status;
};

static int close_connection(void *c, rgn_release_type how)
{
    (void)how;
    free(c); /* a real client would close the socket here */
    return 0;
}

static int fixed; /* --fixed: response_close releases the connection */

/* Sends a request and reads the status line; the body is read later. */
static int fetch(struct client *cl, const char *path, struct response *resp)
{
    struct connection *c = malloc(sizeof *c);
    if (!c)
        return -1;
    c->id = cl->next_id++;
    c->body_left = 4096;
    resp->client = cl;
    resp->conn = c;
    resp->status = strstr(path, "/old") ? 301 : 200;
    int rc = rgn_register_labeled(cl->connections, close_connection, c, &resp->conn_key, "connection"); /* LEAK-SITE */
    if (rc != 0)
        return rc; /* c was closed already: nothing leaks */
    return 0;
}

/* Reads up to n bytes of the body; the connection goes back at its end. */
static size_t response_read(struct response *resp, size_t n)
{
    if (!resp->conn)
        return 0; /* the body is over; the connection went back */
    size_t got = n < resp->conn->body_left ? n : resp->conn->body_left;
    resp->conn->body_left -= got;
    if (resp->conn->body_left == 0) {
        rgn_release(resp->client->connections, resp->conn_key);
        resp->conn = NULL; /* released: closed and freed */
    }
    return got;
}

static void response_close(struct response *resp)
{
    if (fixed) {
        /* Whatever was read, the connection is done with: release it.
         * Releasing a key twice is safe, so a fully read body is fine. */
        rgn_release(resp->client->connections, resp->conn_key);
    }
    /* The bug: without the release above, a body not read to the end
     * leaves its connection registered in the client's region. */
    resp->conn = NULL;
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    int slow = argc > 1 && strcmp(argv[1], "--long") == 0;
    struct client cl = {rgn_new(), 1};
    if (!cl.connections)
        return 1;
    rgn_set_name(cl.connections, "http-client");
    rgn_audit_limit(cl.connections, 100); /* more is not normal here */

    const char *paths[] = {"/index.html", "/old/page", "/api/items"};
    int requests = 1000, complete = 0;
    for (int i = 0; i < requests; i++) {
        struct response resp;
        if (fetch(&cl, paths[i % 3], &resp) != 0)
            return 1;
        if (resp.status == 200) { /* redirects are not read */
            while (response_read(&resp, 1024) > 0)
                ;
            complete++;
        }
        response_close(&resp);
        if (slow) /* a client that runs for a while: 2.5 ms a request */
            nanosleep(&(struct timespec){0, 2500000}, NULL);
    }
    printf("partial_read%s: %d requests, %d bodies read to the end, %zu "
           "connections still registered\n",
           fixed ? " --fixed" : slow ? " --long" : "",
           requests, complete, rgn_live(cl.connections));
    fflush(stdout); /* before the audit writes its report to stderr */
    return rgn_close(cl.connections) == 0 ? 0 : 1;
}
