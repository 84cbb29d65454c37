/* sockdrill wrap --record: a server run under the preload, its accepted connections written as a
 * scenario. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../interpose/record.h"
#include "../util/util.h"
#include "cli.h"
#include "proc.h"
#include "wrap_record.h"

/*
 * The preload appends what each accepted connection carried to a file (src/interpose/record.c);
 * once the server has ended, the records, in time order, become one client actor per
 * connection: the bytes the server received are the client's sends, the bytes it sent the
 * client's receives (MSG_WAITALL, exact), the end of the stream it read the client's shutdown,
 * a reset the client's close with linger 0, the server's close the client's reading eof, and
 * the client's pauses sleeps. docs/scenarios.md, "Recording a session", states the bounds.
 */

#define REC_READ_MAX  (256u << 20)  /* record file bytes read at most */
#define REC_OUT_MAX   (1000u << 10) /* scenario bytes: under the language's 1 MiB */
#define REC_CHUNK     512           /* bytes of data per step */
#define REC_PAUSE_MIN 10            /* ms: a shorter gap is no pause */
#define REC_PAUSE_MAX 2000          /* ms: a longer pause is kept at this (said in a comment) */

struct ev {
	struct sd_rec h;
	unsigned char *data;
	size_t seq;
};

struct conn {
	int32_t apid;
	uint32_t conn;
	int n;          /* C<n>, client<n> */
	int family;     /* AF_INET or AF_INET6 */
	int port;       /* the server's local port */
	int last_close; /* index of its last close record, -1 none */
	int last_ev;    /* index of its last record */
	int client_done, server_done, steps;
	int resets; /* the server's close resets it (SO_LINGER 0) */
};

struct out {
	FILE *f;
	size_t bytes;
	int cut, steps;
	/* the pending run of bytes: one connection, one direction */
	int pc, pkind;
	unsigned char *buf;
	size_t len, cap;
};

static int by_time(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->h.t_ns != y->h.t_ns)
		return x->h.t_ns < y->h.t_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || o->cut)
		return;
	if ((size_t)n >= sizeof line) { /* a long header line: cut, its newline kept */
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	if (o->bytes + (size_t)n > REC_OUT_MAX) {
		o->cut = 1;
		fprintf(o->f,
			"# recording cut here: the scenario reached %u bytes (the language "
			"takes 1 MiB); later steps are left out\n",
			REC_OUT_MAX);
		return;
	}
	fputs(line, o->f);
	o->bytes += (size_t)n;
	o->steps += line[0] != '#';
}

/* Bytes as a string of the language: printable ASCII kept, the rest escaped; "${" written
 * "\${" so that it is not read as a variable. */
static size_t quote(const unsigned char *d, size_t n, char *q)
{
	size_t o = 1;
	q[0] = '"';
	o += sd__escape(q + 1, 4 * n + 1, d, n,
			SD__ESC_NL | SD__ESC_CR | SD__ESC_TAB | SD__ESC_QUOTE | SD__ESC_BACKSLASH |
				SD__ESC_DOLLAR,
			NULL);
	q[o++] = '"';
	q[o] = 0;
	return o;
}

/* The pending bytes as steps: sends of the client (what the server received) or its
 * receives (what the server sent), REC_CHUNK bytes a step. */
static void flush(struct out *o, struct conn *cs)
{
	if (!o->len)
		return;
	struct conn *c = &cs[o->pc];
	char q[REC_CHUNK * 4 + 3];
	for (size_t off = 0; off < o->len; off += REC_CHUNK) {
		size_t k = o->len - off < REC_CHUNK ? o->len - off : REC_CHUNK;
		quote(o->buf + off, k, q);
		if (o->pkind == SD_REC_IN)
			emit(o, "client%d: send(C%d, %s) -> %zu\n", c->n, c->n, q, k);
		else
			emit(o, "client%d: recv(C%d, %zu, MSG_WAITALL) -> %s\n", c->n, c->n, k, q);
	}
	o->len = 0;
}

static int pend(struct out *o, struct conn *cs, int ci, int kind, const unsigned char *d, size_t n)
{
	if (o->len && (o->pc != ci || o->pkind != kind))
		flush(o, cs);
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		unsigned char *g = realloc(o->buf, cap);
		if (!g)
			return -1;
		o->buf = g;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, d, n);
	o->len += n;
	o->pc = ci;
	o->pkind = kind;
	return 0;
}

/* A pause of the client before what it does next, from the last thing that happened. */
static void pause_before(struct out *o, int64_t *last_ns, int64_t t_ns)
{
	int64_t ms = *last_ns ? (t_ns - *last_ns) / 1000000 : 0;
	if (ms >= REC_PAUSE_MIN) {
		if (ms > REC_PAUSE_MAX)
			emit(o, "# the client paused %lld ms here: kept as %d ms\n", (long long)ms,
			     REC_PAUSE_MAX);
		emit(o, "sleep(%lld)\n", (long long)(ms > REC_PAUSE_MAX ? REC_PAUSE_MAX : ms));
	}
}

/* The client reads the end of the stream the server made (a reset after SO_LINGER 0), then
 * closes. */
static void client_sees_end(struct out *o, struct conn *c)
{
	if (c->client_done)
		return;
	emit(o, "client%d: recv(C%d, 1) -> %s\n", c->n, c->n, c->resets ? "ECONNRESET" : "eof");
	emit(o, "client%d: close(C%d) -> 0\n", c->n, c->n);
	c->client_done = 1;
}

static int read_records(const char *path, struct ev **evs, size_t *nev, int *cut_read)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, total = 0;
	*evs = NULL;
	*nev = 0;
	*cut_read = 0;
	if (!f)
		return -errno;
	for (;;) {
		struct sd_rec h;
		if (fread(&h, sizeof h, 1, f) != 1)
			break;
		if (h.len > (64u << 20) || (total += sizeof h + h.len) > REC_READ_MAX) {
			*cut_read = 1;
			break;
		}
		unsigned char *d = h.len ? malloc(h.len) : NULL;
		if ((h.len && !d) || (h.len && fread(d, 1, h.len, f) != h.len)) {
			free(d);
			break; /* a record cut short: the process died writing it */
		}
		if (*nev == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct ev *g = realloc(*evs, ncap * sizeof *g);
			if (!g) {
				free(d);
				break;
			}
			*evs = g;
			cap = ncap;
		}
		(*evs)[*nev] = (struct ev){.h = h, .data = d, .seq = *nev};
		(*nev)++;
	}
	fclose(f);
	return 0;
}

static int conn_of(struct conn *cs, int n, const struct sd_rec *h)
{
	for (int i = 0; i < n; i++)
		if (cs[i].apid == h->apid && cs[i].conn == h->conn)
			return i;
	return -1;
}

/* The connections of the sorted records, in the order they were accepted, into cs, with
 * each one's last close and last record: their number. */
static int find_conns(const struct ev *evs, size_t nev, struct conn *cs)
{
	int ncs = 0;
	for (size_t i = 0; i < nev; i++) {
		const struct sd_rec *h = &evs[i].h;
		int ci = conn_of(cs, ncs, h);
		if (h->kind == SD_REC_ACCEPT && ci < 0) {
			uint16_t p = 0;
			if (h->len == sizeof p)
				memcpy(&p, evs[i].data, sizeof p);
			cs[ncs] = (struct conn){.apid = h->apid,
						.conn = h->conn,
						.n = ncs + 1,
						.family = h->aux == AF_INET6 ? AF_INET6 : AF_INET,
						.port = p,
						.last_close = -1};
			ncs++;
		} else if (ci >= 0) {
			if (h->kind == SD_REC_CLOSE)
				cs[ci].last_close = (int)i;
			cs[ci].last_ev = (int)i;
		}
	}
	return ncs;
}

/* The port the scenario names $TARGET_PORT: wrap's {port}, else the one most used. */
static int target_port(const struct conn *cs, int ncs, int port)
{
	int target = port;
	for (int i = 0, best = 0; target <= 0 && i < ncs; i++) {
		int k = 0;
		for (int j = 0; j < ncs; j++)
			k += cs[j].port == cs[i].port;
		if (k > best)
			best = k, target = cs[i].port;
	}
	return target;
}

/* A connection's accept as the client's socket and connect. */
static void emit_connect(struct out *o, const struct conn *c, int target)
{
	if (c->port != target)
		emit(o, "# this connection came to port %d, not the target's\n", c->port);
	emit(o, "client%d: C%d = socket(%s) -> fd\n", c->n, c->n,
	     c->family == AF_INET6 ? "inet6" : "inet");
	if (c->port == target)
		emit(o, "client%d: connect(C%d, %s:$TARGET_PORT) -> 0\n", c->n, c->n,
		     c->family == AF_INET6 ? "[::1]" : "127.0.0.1");
	else
		emit(o, "client%d: connect(C%d, %s:%d) -> 0\n", c->n, c->n,
		     c->family == AF_INET6 ? "[::1]" : "127.0.0.1", c->port);
}

/* Record i (of connection c, number ci) as the client's steps: 0, or -1 out of memory. */
static int emit_record(struct out *o, struct conn *cs, int ci, const struct ev *evs, size_t i,
		       int64_t *last_ns, int target)
{
	const struct sd_rec *h = &evs[i].h;
	struct conn *c = &cs[ci];
	switch (h->kind) {
	case SD_REC_ACCEPT:
		flush(o, cs);
		pause_before(o, last_ns, h->t_ns);
		emit_connect(o, c, target);
		break;
	case SD_REC_IN:
		if (!(o->len && o->pc == ci && o->pkind == SD_REC_IN)) {
			flush(o, cs);
			pause_before(o, last_ns, h->t_ns);
		}
		return pend(o, cs, ci, SD_REC_IN, evs[i].data, h->len);
	case SD_REC_OUT: return pend(o, cs, ci, SD_REC_OUT, evs[i].data, h->len);
	case SD_REC_EOF:
		flush(o, cs);
		pause_before(o, last_ns, h->t_ns);
		emit(o, "client%d: shutdown(C%d, SHUT_WR) -> 0\n", c->n, c->n);
		break;
	case SD_REC_RESET:
		flush(o, cs);
		if (h->aux == 0) { /* the server's read: the client reset it */
			pause_before(o, last_ns, h->t_ns);
			emit(o, "client%d: setsockopt(C%d, SO_LINGER, 0) -> 0\n", c->n, c->n);
		}
		emit(o, "client%d: close(C%d) -> 0\n", c->n, c->n);
		c->client_done = 1;
		break;
	case SD_REC_LINGER0: c->resets = h->aux; break;
	case SD_REC_SHUTDOWN:
		if (h->aux == SHUT_WR || h->aux == SHUT_RDWR) {
			flush(o, cs);
			if (!c->server_done)
				emit(o, "client%d: recv(C%d, 1) -> eof\n", c->n, c->n);
			c->server_done = 1;
		}
		break;
	case SD_REC_CLOSE:
		/* the end only when nothing of the connection follows: a parent that hands it to
		 * a forked worker closes its copy first */
		if ((int)i != c->last_close || c->last_close != c->last_ev)
			break;
		flush(o, cs);
		if (c->server_done && !c->client_done)
			emit(o, "client%d: close(C%d) -> 0\n", c->n, c->n), c->client_done = 1;
		client_sees_end(o, c);
		break;
	}
	return 0;
}

/* The scenario's lines from the header on: 0, or -1 out of memory. */
static int emit_scenario(struct out *o, const struct ev *evs, size_t nev, struct conn *cs, int ncs,
			 char **cargv, int target, int cut_read)
{
	char *cmd = sd__shell_cmd((const char *const *)cargv);
	emit(o,
	     "# Recorded by sockdrill wrap --record: %d connection%s to %s, port %d as "
	     "$TARGET_PORT.\n",
	     ncs, ncs == 1 ? "" : "s", cmd ? cmd : cargv[0], target);
	free(cmd);
	emit(o, "# Each client sends what the server received and must read back exactly what it "
		"sent;\n# replay with: sockdrill wrap --run FILE -- SERVER ... {port}\n");
	emit(o, "set timeout 10000\n");
	int64_t last_ns = 0;
	for (size_t i = 0; i < nev && !o->cut; i++) {
		const struct sd_rec *h = &evs[i].h;
		int ci = conn_of(cs, ncs, h);
		if (h->kind == SD_REC_CUT) {
			flush(o, cs);
			emit(o,
			     "# process %d reached its recording bound: what it did after is "
			     "not here\n",
			     (int)h->pid);
			continue;
		}
		if (ci < 0 || (cs[ci].client_done && h->kind != SD_REC_CLOSE))
			continue;
		if (emit_record(o, cs, ci, evs, i, &last_ns, target) < 0)
			return -1;
		last_ns = h->t_ns;
	}
	flush(o, cs);
	for (int i = 0; i < ncs && !o->cut; i++)
		if (!cs[i].client_done) {
			emit(o,
			     "# connection %d: its end was not seen (the server ended, or a "
			     "process "
			     "holding it exited without closing it)\n",
			     cs[i].n);
			emit(o, "client%d: close(C%d) -> 0\n", cs[i].n, cs[i].n);
		}
	if (cut_read)
		emit(o, "# the recording was longer than %u MiB: the rest is not here\n",
		     REC_READ_MAX >> 20);
	return 0;
}

/* The records as a scenario into out (the header says how it was made): the number of
 * connections, or -1 with the message printed. */
static int write_scenario(const char *recpath, const char *outpath, char **cargv, int port,
			  int *nsteps)
{
	struct ev *evs;
	size_t nev;
	int cut_read, rc = -1, ncs = 0;
	struct conn *cs = NULL;
	struct out o = {0};
	if (read_records(recpath, &evs, &nev, &cut_read) < 0) {
		fprintf(stderr, "sockdrill wrap: cannot read the recording %s: %s\n", recpath,
			strerror(errno));
		return -1;
	}
	if (nev)
		qsort(evs, nev, sizeof *evs, by_time);
	if (!(cs = calloc(nev ? nev : 1, sizeof *cs)))
		goto out;
	if (!(ncs = find_conns(evs, nev, cs))) {
		rc = 0;
		goto out;
	}
	if (!(o.f = fopen(outpath, "w"))) {
		fprintf(stderr, "sockdrill wrap: --record %s: %s\n", outpath, strerror(errno));
		goto out;
	}
	if (emit_scenario(&o, evs, nev, cs, ncs, cargv, target_port(cs, ncs, port), cut_read) < 0)
		goto out;
	rc = ncs;
	*nsteps = o.steps;
out:
	if (o.f && fclose(o.f) != 0 && rc > 0) {
		fprintf(stderr, "sockdrill wrap: --record %s: %s\n", outpath, strerror(errno));
		rc = -1;
	}
	for (size_t i = 0; i < nev; i++)
		free(evs[i].data);
	free(evs);
	free(cs);
	free(o.buf);
	return rc;
}

int sd__wrap_record(const char *outpath, const char *prog, char **cargv, int port)
{
	struct stat st;
	int existed = stat(outpath, &st) == 0;
	if (existed && !S_ISREG(st.st_mode))
		return sd__usage_error("wrap", "--record %s: not a regular file", outpath);
	/* opened here, so a file that cannot be written stops us before CMD starts */
	int ofd = open(outpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (ofd < 0)
		return sd__usage_error("wrap", "--record %s: %s", outpath, strerror(errno));
	close(ofd);
	sd__proc_catch_signals();
	char recpath[PATH_MAX];
	int rfd = sd__proc_tmpfile("record", recpath, sizeof recpath);
	if (rfd < 0) {
		if (!existed)
			unlink(outpath);
		return sd__usage_error("wrap", "cannot create a file in %s: %s", sd__proc_tmpdir(),
				       strerror(-rfd));
	}
	close(rfd);
	setenv("SOCKDRILL_RECORD", recpath, 1);
	if (port > 0)
		printf("wrap: %s on 127.0.0.1:%d, recording to %s (stop it with Ctrl-C)\n",
		       cargv[0], port, outpath);
	else
		printf("wrap: %s, recording to %s (stop it with Ctrl-C)\n", cargv[0], outpath);
	struct sd__proc_io io = {.file = prog, .fd = -1};
	pid_t pid = sd__proc_exec(cargv, &io);
	unsetenv("SOCKDRILL_RECORD");
	int status = 0;
	if (pid < 0 || sd__proc_wait(pid, &status) < 0) {
		unlink(recpath);
		if (!existed)
			unlink(outpath);
		if (sd__proc_caught())
			return sd__proc_exit_status();
		return sd__usage_error("wrap", "cannot start %s: %s", cargv[0],
				       strerror(pid < 0 ? (int)-pid : errno));
	}
	int steps = 0, conns = write_scenario(recpath, outpath, cargv, port, &steps);
	unlink(recpath);
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && !sd__proc_caught())
		printf("wrap: %s exited with status %d\n", cargv[0], WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGINT)
		printf("wrap: %s died of signal %d (%s)\n", cargv[0], WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	if (conns <= 0) {
		if (!existed)
			unlink(outpath);
		if (conns == 0)
			printf("wrap: no connection was accepted: nothing recorded\n");
		return SD_EXIT_CHECK;
	}
	printf("wrap: recorded %d connection%s (%d steps) in %s\n", conns, conns == 1 ? "" : "s",
	       steps, outpath);
	return SD_EXIT_OK;
}
