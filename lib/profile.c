/* SPDX-License-Identifier: MIT */
/*
 * profile.c -- a running program asked from outside what it holds:
 * profiles that pprof and flame-graph tools read (rgn_profile_write), on
 * a signal, on an interval and at exit (RGN_PROFILE_DIR,
 * RGN_PROFILE_SIGNAL, RGN_PROFILE_EVERY), and a timeline of every site's
 * live count and bytes in the Trace Event Format and in TSV.
 *
 * A profile is pprof's profile.proto, gzipped: a sample per (region,
 * site, label) whose values are resources and bytes, its stack the site
 * (function, file, line) under a frame naming the region, with string
 * labels "site" (file:line), "region" and "label" beside.  No binary or
 * address is needed: every location carries its function.  The protobuf
 * and the gzip container (stored deflate blocks, CRC-32) are written
 * here: rgn links nothing but libc and pthreads.
 *
 * Triggers.  A signal handler only posts a semaphore; a thread of rgn's
 * own, started by the library's constructor only when the environment
 * asks for it, writes the snapshot -- never inside the handler, with no
 * lock of the program's held.  The same thread wakes on the interval.
 * Writes go to a temporary file renamed into place, so a reader never
 * sees half a profile.  A forked child inherits no thread: it writes no
 * snapshots on signals or intervals.
 *
 * Glue at the top: reads snapshot.c, writes files.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- a growing byte buffer ---------------------------------------------- */

struct buf {
    unsigned char *p;
    size_t n, cap;
    bool failed;
};

static void put(struct buf *b, const void *data, size_t n)
{
    if (b->failed || n == 0) /* data may be NULL when n is 0 */
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *p = rgn__realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void buf_free(struct buf *b)
{
    rgn__free(b->p);
    *b = (struct buf){NULL, 0, 0, false};
}

/* ---- protobuf ------------------------------------------------------------- */

static void varint(struct buf *b, uint64_t v)
{
    unsigned char c[10];
    size_t n = 0;
    do {
        c[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            c[n] |= 0x80;
        n++;
    } while (v);
    put(b, c, n);
}

static void field_varint(struct buf *b, unsigned field, uint64_t v)
{
    varint(b, (uint64_t)field << 3 | 0);
    varint(b, v);
}

static void field_bytes(struct buf *b, unsigned field, const void *data,
                        size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, data, n);
}

/* The strings of a profile, by index ([0] is ""), each a copy. */
struct strtab {
    char **s;
    size_t n, cap;
    bool failed;
};

static int64_t intern(struct strtab *t, const char *s)
{
    if (!s)
        s = "";
    for (size_t i = 0; i < t->n; i++) /* a few hundred at most */
        if (strcmp(t->s[i], s) == 0)
            return (int64_t)i;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **v = rgn__realloc(t->s, cap * sizeof *v);
        if (!v) {
            t->failed = true;
            return 0;
        }
        t->s = v;
        t->cap = cap;
    }
    size_t len = strlen(s) + 1;
    char *c = rgn__malloc(len);
    if (!c) {
        t->failed = true;
        return 0;
    }
    memcpy(c, s, len);
    t->s[t->n] = c;
    return (int64_t)t->n++;
}

static void strtab_free(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        rgn__free(t->s[i]);
    rgn__free(t->s);
}

/* A ValueType {type, unit}. */
static void value_type(struct buf *b, unsigned field, struct strtab *t,
                       const char *type, const char *unit)
{
    struct buf m = {0};
    field_varint(&m, 1, (uint64_t)intern(t, type));
    field_varint(&m, 2, (uint64_t)intern(t, unit));
    field_bytes(b, field, m.p, m.n);
    b->failed |= m.failed;
    buf_free(&m);
}

/* A Label {key, str}. */
static void label(struct buf *b, struct strtab *t, const char *key,
                  const char *str)
{
    struct buf m = {0};
    field_varint(&m, 1, (uint64_t)intern(t, key));
    field_varint(&m, 2, (uint64_t)intern(t, str));
    field_bytes(b, 3, m.p, m.n);
    b->failed |= m.failed;
    buf_free(&m);
}

/* A Function {id, name, system_name, filename, start_line} and the one
 * Location {id, line {function_id, line}} that calls it; ids are equal. */
static void function_location(struct buf *fn, struct buf *loc,
                              struct strtab *t, uint64_t id, const char *name,
                              const char *file, int line)
{
    struct buf m = {0};
    field_varint(&m, 1, id);
    field_varint(&m, 2, (uint64_t)intern(t, name));
    field_varint(&m, 3, (uint64_t)intern(t, name));
    field_varint(&m, 4, (uint64_t)intern(t, file));
    field_varint(&m, 5, (uint64_t)(line > 0 ? line : 0));
    field_bytes(fn, 5, m.p, m.n);
    fn->failed |= m.failed;
    buf_free(&m);

    struct buf l = {0}, ln = {0};
    field_varint(&ln, 1, id);
    field_varint(&ln, 2, (uint64_t)(line > 0 ? line : 0));
    field_varint(&l, 1, id);
    field_bytes(&l, 4, ln.p, ln.n);
    field_bytes(loc, 4, l.p, l.n);
    loc->failed |= l.failed || ln.failed;
    buf_free(&l);
    buf_free(&ln);
}

/* The location id of each site and region, made once. */
struct frames {
    const void **key; /* a site, or a region's name */
    size_t n, cap;
};

static uint64_t frame_id(struct frames *f, const void *key, bool *made)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->key[i] == key) {
            *made = false;
            return i + 1;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        const void **v = rgn__realloc(f->key, cap * sizeof *v);
        if (!v)
            return 0;
        f->key = v;
        f->cap = cap;
    }
    f->key[f->n++] = key;
    *made = true;
    return f->n;
}

/* What names the frame of a row's site. */
static const void *site_key(const struct rgn_snap_row *r)
{
    static const char arena_key, unknown_key;
    return r->arena  ? (const void *)&arena_key
           : r->site ? (const void *)r->site
                     : &unknown_key;
}

static void encode_pprof(struct buf *out, const struct rgn_snapshot *s)
{
    struct strtab t = {0};
    intern(&t, "");
    struct buf samples = {0}, fns = {0}, locs = {0}, head = {0};
    struct frames f = {0};
    value_type(&head, 1, &t, "resources", "count");
    value_type(&head, 1, &t, "bytes", "bytes");
    uint64_t fails = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct rgn_snap_row *r = &s->v[i];
        bool made;
        uint64_t site_id = frame_id(&f, site_key(r), &made);
        char where[300];
        if (r->site)
            snprintf(where, sizeof where, "%s:%d", r->site->file,
                     r->site->line);
        else
            snprintf(where, sizeof where, r->arena ? "arena" : "unknown");
        if (site_id && made) {
            if (r->site)
                function_location(&fns, &locs, &t, site_id, r->site->func,
                                  r->site->file, r->site->line);
            else
                function_location(&fns, &locs, &t, site_id,
                                  r->arena ? "(arena)" : "(unknown site)", "",
                                  0);
        }
        uint64_t region_id = frame_id(&f, r->region, &made);
        char frame[320];
        snprintf(frame, sizeof frame, "region %s", r->region);
        if (region_id && made)
            function_location(&fns, &locs, &t, region_id, frame, "", 0);
        if (!site_id || !region_id) {
            fails++;
            continue;
        }
        struct buf m = {0}, ids = {0}, vals = {0};
        varint(&ids, site_id);
        varint(&ids, region_id);
        varint(&vals, r->count);
        varint(&vals, r->bytes);
        field_bytes(&m, 1, ids.p, ids.n);
        field_bytes(&m, 2, vals.p, vals.n);
        label(&m, &t, "site", where);
        label(&m, &t, "region", r->region);
        if (r->label)
            label(&m, &t, "label", r->label);
        field_bytes(&samples, 2, m.p, m.n);
        samples.failed |= m.failed || ids.failed || vals.failed;
        buf_free(&m);
        buf_free(&ids);
        buf_free(&vals);
    }
    put(out, head.p, head.n);
    put(out, samples.p, samples.n);
    put(out, locs.p, locs.n);
    put(out, fns.p, fns.n);
    int64_t resources = intern(&t, "resources");
    /* pprof shows a profile's comments with its header (-comments):
     * where sites are sampled, the counts are estimates. */
    int64_t comment = 0;
    if (s->sample_every > 1) {
        char c[128];
        snprintf(c, sizeof c,
                 "rgn: sites sampled 1 in %u (RGN_AUDIT_SAMPLE): counts and "
                 "bytes by site are estimates",
                 (unsigned)s->sample_every);
        comment = intern(&t, c);
    }
    for (size_t i = 0; i < t.n; i++)
        field_bytes(out, 6, t.s[i], strlen(t.s[i]));
    field_varint(out, 9, s->at_ns);
    value_type(out, 11, &t, "resources", "count");
    field_varint(out, 12, 1);
    if (comment > 0)
        field_varint(out, 13, (uint64_t)comment);
    field_varint(out, 14, (uint64_t)resources);
    out->failed |= head.failed || samples.failed || locs.failed ||
                   fns.failed || t.failed || fails;
    buf_free(&head);
    buf_free(&samples);
    buf_free(&locs);
    buf_free(&fns);
    strtab_free(&t);
    rgn__free(f.key);
}

/* ---- gzip: stored deflate blocks ------------------------------------------ */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
    rgn__race_release(&crc_once);
}

static uint32_t crc32(const unsigned char *p, size_t n)
{
    rgn__once(&crc_once, crc_init);
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void le32(struct buf *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, c, 4);
}

/* data as a gzip member that every gunzip reads: the deflate stream is
 * stored blocks, so no compressor is needed (a profile is a few KB). */
static void gzip(struct buf *out, const struct buf *data)
{
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0,
                                           0,    0,    0, 0, 0xff};
    put(out, head, sizeof head);
    size_t at = 0;
    do {
        size_t n = data->n - at > 65535 ? 65535 : data->n - at;
        unsigned char h[5] = {at + n == data->n ? 1 : 0, (unsigned char)n,
                              (unsigned char)(n >> 8), (unsigned char)~n,
                              (unsigned char)(~n >> 8)};
        put(out, h, sizeof h);
        put(out, data->p + at, n);
        at += n;
    } while (at < data->n);
    le32(out, crc32(data->p, data->n));
    le32(out, (uint32_t)data->n);
}

/* ---- folded stacks -------------------------------------------------------- */

/* What a row is called in folded stacks and in the timeline: its site
 * and label. */
static void series_name(char *buf, size_t n, const struct rgn_snap_row *r)
{
    if (r->arena)
        snprintf(buf, n, "(arena)");
    else if (r->site)
        snprintf(buf, n, "%s:%d %s%s%s%s", r->site->file, r->site->line,
                 r->site->func, rgn__fn_parens(r->site->func),
                 r->label ? " " : "", r->label ? r->label : "");
    else
        snprintf(buf, n, "(unknown site)");
}

static void encode_folded(struct buf *out, const struct rgn_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct rgn_snap_row *r = &s->v[i];
        if (!r->count)
            continue; /* the arena: bytes, no resources */
        char name[1024], line[1024];
        series_name(name, sizeof name, r);
        int n = snprintf(line, sizeof line, "%s;%s %" PRIu64 "\n", r->region,
                         name, r->count);
        if (n > 0)
            put(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line);
    }
}

/* ---- writing a file --------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes b to path through a temporary file renamed into place. */
static int write_file(const char *path, const struct buf *b)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = write_all(fd, b->p, b->n);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static int profile_write(const char *path, int format)
{
    struct rgn_snapshot s;
    int rc = rgn__snapshot_take(&s);
    rgn__snapshot_sort(&s);
    struct buf body = {0}, out = {0};
    if (format == RGN_PROFILE_PPROF) {
        encode_pprof(&body, &s);
        gzip(&out, &body);
    } else {
        encode_folded(&out, &s);
    }
    if (!rc && (body.failed || out.failed))
        rc = -ENOMEM;
    if (!rc)
        rc = write_file(path, &out);
    buf_free(&body);
    buf_free(&out);
    rgn__snapshot_free(&s);
    return rc;
}

int rgn_profile_write(const char *path, int format)
{
    if (!path || (format != RGN_PROFILE_PPROF && format != RGN_PROFILE_FOLDED))
        return rgn__refused(-EINVAL);
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    int saved = errno;
    int rc = profile_write(path, format);
    errno = saved;
    pthread_setcancelstate(state, NULL);
    return rc < 0 && rc != -ENOMEM ? rgn__failed(rc, RGN_FROM_SYSTEM)
                                   : rgn__refused(rc);
}

/* ---- asked from outside: the environment's triggers ------------------------ */

static struct {
    char dir[3072];
    int signo;            /* 0: none */
    uint64_t every_ns;    /* 0: none */
    pid_t pid;            /* the process that set it up */
    atomic_uint next;     /* the number of the next snapshot */
    pthread_mutex_t lock; /* one writer at a time: thread and exit */
    sem_t wake;
    struct timespec start;
    bool trace_started;
} prof = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    sem_post(&prof.wake); /* async-signal-safe; the thread writes */
    errno = saved;
}

/* One snapshot into the directory, as rgn.<pid>.<n>.pb.gz. */
static void snapshot_file(void)
{
    char path[4096];
    unsigned n = atomic_fetch_add(&prof.next, 1);
    snprintf(path, sizeof path, "%s/rgn.%ld.%u.pb.gz", prof.dir,
             (long)getpid(), n);
    int rc = profile_write(path, RGN_PROFILE_PPROF);
    if (rc)
        rgn__emit("rgn: profile: cannot write %s: %s", path, strerror(-rc));
}

static double seconds_since_start(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - prof.start.tv_sec) +
           (double)(t.tv_nsec - prof.start.tv_nsec) / 1e9;
}

static FILE *open_append(const char *suffix)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/rgn.%ld.%s", prof.dir, (long)getpid(),
             suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (f)
        fseek(f, 0, SEEK_END); /* so that ftell says whether it is new */
    return f;
}

/* What a JSON string may hold: quotes, backslashes and controls escaped. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One point of the timeline: every row, as TSV lines and as two counter
 * events per region (resources and bytes) in the Trace Event Format's
 * JSON array, which needs no closing bracket. */
static void timeline_point(void)
{
    struct rgn_snapshot s;
    rgn__snapshot_take(&s);
    rgn__snapshot_sort(&s);
    double t = seconds_since_start();
    FILE *tsv = open_append("timeline.tsv");
    FILE *trace = open_append("trace.json");
    if (tsv) {
        if (ftell(tsv) == 0)
            fputs("seconds\tregion\tsite\tresources\tbytes\n", tsv);
        for (size_t i = 0; i < s.n; i++) {
            char name[512];
            series_name(name, sizeof name, &s.v[i]);
            fprintf(tsv, "%.3f\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\n", t,
                    s.v[i].region, name, s.v[i].count, s.v[i].bytes);
        }
        fclose(tsv);
    }
    if (trace) {
        if (ftell(trace) == 0)
            fputs("[\n", trace);
        for (size_t i = 0; i < s.n;) {
            size_t j = i;
            while (j < s.n && strcmp(s.v[j].region, s.v[i].region) == 0)
                j++;
            for (int bytes = 0; bytes < 2; bytes++) {
                char ev[400];
                snprintf(ev, sizeof ev, "%s%s", s.v[i].region,
                         bytes ? " (bytes)" : "");
                fputs("{\"name\":", trace);
                json_string(trace, ev);
                fprintf(trace,
                        ",\"ph\":\"C\",\"ts\":%.0f,\"pid\":%ld,\"tid\":0,"
                        "\"args\":{",
                        t * 1e6, (long)getpid());
                for (size_t k = i; k < j; k++) {
                    char name[512];
                    series_name(name, sizeof name, &s.v[k]);
                    if (k > i)
                        fputc(',', trace);
                    json_string(trace, name);
                    fprintf(trace, ":%" PRIu64,
                            bytes ? s.v[k].bytes : s.v[k].count);
                }
                fputs("}},\n", trace);
            }
            i = j;
        }
        fclose(trace);
    }
    rgn__snapshot_free(&s);
}

static void *profiler(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* the program's, not ours */
    for (;;) {
        int rc;
        if (prof.every_ns) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + prof.every_ns;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            rc = sem_timedwait(&prof.wake, &ts);
        } else {
            rc = sem_wait(&prof.wake);
        }
        if (rc != 0 && errno == EINTR)
            continue;
        pthread_mutex_lock(&prof.lock);
        snapshot_file();
        if (rc != 0) /* the interval came round */
            timeline_point();
        pthread_mutex_unlock(&prof.lock);
    }
    return NULL;
}

static void profile_at_exit(void)
{
    if (getpid() != prof.pid)
        return;
    pthread_mutex_lock(&prof.lock);
    snapshot_file();
    if (prof.every_ns)
        timeline_point();
    pthread_mutex_unlock(&prof.lock);
}

/* "USR2", "SIGUSR2", "12". */
static int signal_number(const char *v)
{
    static const struct {
        const char *name;
        int signo;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP},
                 {"QUIT", SIGQUIT}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}};
    if (!strncasecmp(v, "SIG", 3))
        v += 3;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcasecmp(v, names[i].name))
            return names[i].signo;
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n > 0 && n < 65 && n != SIGKILL && n != SIGSTOP
               ? (int)n
               : 0;
}

__attribute__((constructor)) static void profile_init(void)
{
    const char *dir = getenv("RGN_PROFILE_DIR");
    const char *sig = getenv("RGN_PROFILE_SIGNAL");
    const char *every = getenv("RGN_PROFILE_EVERY");
    if (!(dir && *dir) && !(sig && *sig) && !(every && *every))
        return;
    snprintf(prof.dir, sizeof prof.dir, "%s", dir && *dir ? dir : ".");
    atomic_init(&prof.next, 1);
    prof.pid = getpid();
    clock_gettime(CLOCK_MONOTONIC, &prof.start);
    if (sig && *sig && !(prof.signo = signal_number(sig)))
        rgn__emit("rgn: profile: ignoring RGN_PROFILE_SIGNAL=%s: not a signal "
                  "name such as USR2",
                  sig);
    if (every && *every &&
        !(rgn__parse_duration(every, &prof.every_ns) &&
          prof.every_ns >= 1000000u)) {
        rgn__emit("rgn: profile: ignoring RGN_PROFILE_EVERY=%s: not an "
                  "interval of 1ms or more, such as 1s or 250ms",
                  every);
        prof.every_ns = 0;
    }
    atexit(profile_at_exit);
    if (!prof.signo && !prof.every_ns)
        return;
    pthread_t t;
    pthread_attr_t attr;
    if (sem_init(&prof.wake, 0, 0) != 0 || pthread_attr_init(&attr) != 0)
        return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, profiler, NULL) == 0 && prof.signo) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(prof.signo, &sa, NULL);
    }
    pthread_attr_destroy(&attr);
}
