/* SPDX-License-Identifier: MIT */
/*
 * line_server.c -- a threaded line server with one planted leak.
 *
 * The server owns a long-lived region.  Each connection is served by a
 * thread of its own (rgn_thread_create shares the server's region with
 * it) in a region of the connection's own, a child of the server's: the
 * stream, the line buffer and the reply are left to that region's close,
 * as they should be.  One thing is not: the peer's name is copied into
 * the *server's* region -- where it stays until the server closes.
 *
 *   RGN_AUDIT=report ./line_server           names that line, and only it
 *   RGN_AUDIT=report ./line_server --fixed   silence
 *
 * The connection regions are scopes (rgn_new_child makes them so), so
 * leaving everything to their close reports nothing; the server region is
 * an owner (rgn_new), so what it still holds when it closes is reported,
 * one line per site however many connections left it there.  The
 * connections are socket pairs: no network is touched.
 */
#include <rgn.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECTIONS 300
#define LINES 4

static int fixed;

struct connection {
    int fd;       /* the server's end of the socket pair */
    int id;
};

static int free_line(void *line, rgn_release_type how)
{
    (void)how;
    free(line);
    return 0;
}

/* Serves one connection: echoes each line upper-cased. */
static int serve(rgn_t *server, void *arg)
{
    struct connection *c = arg;
    rgn_t *conn = rgn_new_child(server); /* a scope: ends with the thread */
    if (!conn) {
        close(c->fd);
        return -1;
    }
    FILE *f = fdopen(c->fd, "r+");
    if (!f) {
        close(c->fd);
        rgn_close_error(conn);
        return -1;
    }
    if (rgn_adopt_file(conn, f, NULL) != 0)
        return -1; /* f was closed; conn goes with server */
    char peer[32];
    snprintf(peer, sizeof peer, "peer-%d", c->id);
    /* The planted leak: the name belongs to the connection, not to the
     * server, which keeps it until it closes. */
    char *name = rgn_strdup(fixed ? conn : server, peer); /* LEAK-SITE */
    if (!name || rgn_label(fixed ? conn : server, rgn_mem_key(name),
                           "peer name")) {
        rgn_close_error(conn);
        return -1;
    }

    char *line = NULL;
    size_t cap = 0;
    rgn_key_t line_key = RGN_KEY_NONE;
    while (getline(&line, &cap, f) > 0) {
        if (rgn_key_is_none(line_key) &&
            rgn_register(conn, free_line, line, &line_key) != 0)
            return -1; /* line was freed; conn goes with server */
        char *reply = rgn_strdup(conn, line);
        if (!reply)
            break;
        for (char *p = reply; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        fputs(reply, f);
        fflush(f);
    }
    if (rgn_key_is_none(line_key))
        free(line);
    return rgn_close(conn); /* the stream, the line, the replies */
}

/* Talks to the server as a client would; returns the lines echoed. */
static int client(int fd, int id)
{
    char buf[256];
    int echoed = 0;
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(buf, sizeof buf, "hello %d from %d\n", i, id);
        if (write(fd, buf, (size_t)n) != n)
            return -1;
        if (read(fd, buf, sizeof buf) > 0)
            echoed++;
    }
    close(fd);
    return echoed;
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    rgn_t *server = rgn_new();
    if (!server)
        return 1;
    rgn_set_name(server, "line-server");
    int lines = 0;
    for (int id = 0; id < CONNECTIONS; id++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return 1;
        struct connection c = {sv[1], id};
        pthread_t t;
        if (rgn_thread_create(&t, NULL, server, serve, &c) != 0)
            return 1;
        lines += client(sv[0], id);
        void *ret;
        pthread_join(t, &ret);
        if (ret != NULL)
            return 1;
    }
    printf("line_server%s: %d connections, %d lines echoed; the server "
           "region holds %zu resources\n", fixed ? " --fixed" : "",
           CONNECTIONS, lines, rgn_live(server));
    fflush(stdout); /* before the audit writes its report to stderr */
    return rgn_close(server) == 0 ? 0 : 1;
}
