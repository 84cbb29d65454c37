/* sockdrill fuzz: the campaign watched: progress line, crash reports, summary. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util/util.h"
#include "cli.h"
#include "fuzz_files.h"
#include "fuzz_watch.h"
#include "proc.h"
#include "progress.h"

/* How often the progress line is drawn: in place on a terminal, as a plain line elsewhere (a
 * CI log), where the engine's first statistics are shown at once and then at most this often. */
#define PROGRESS_TTY_MS 1000
#define PROGRESS_LOG_MS 10000
#define WATCH_POLL_MS   250
/* Reads of the engine's output taken once it has ended (64 KiB each): a helper it left behind
 * that keeps writing must not keep us. */
#define DRAIN_READS 1024

void sd__stats_init(struct fuzz_stats *s)
{
	*s = (struct fuzz_stats){-1, -1, -1, -1, -1, -1, -1, -1, "", 0};
}

/* The number after key in a libFuzzer status line ("cov: 12"; -fork's "exec/s 9"). */
static void lf_field(const char *line, const char *key, long long *v)
{
	const char *p = strstr(line, key);
	if (!p)
		return;
	for (p += strlen(key); *p == ':' || *p == ' ';)
		p++;
	if (*p >= '0' && *p <= '9')
		*v = strtoll(p, NULL, 10);
}

/* The number right after prefix at the start of l (strtoll: a huge one saturates), else -1. */
static long long lead_num(const char *l, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(l, prefix, n) || l[n] < '0' || l[n] > '9')
		return -1;
	return strtoll(l + n, NULL, 10);
}

/* 1 for a libFuzzer status line, "#N\tNEW    cov: ... exec/s: ..." from a fuzzing process
 * (without cov: for a target built without coverage) or "#N: cov: ... exec/s ..." from the
 * -fork driver, taken into s; 0 for any other line. */
static int lf_status(const char *line, struct fuzz_stats *s)
{
	char *end;
	if (line[0] != '#' || line[1] < '0' || line[1] > '9')
		return 0;
	long long n = strtoll(line + 1, &end, 10);
	if ((*end != ':' && *end != '\t') || !strstr(end, " exec/s"))
		return 0;
	if (*end == ':')
		s->forked = 1;
	else if (s->forked)
		return 1; /* a -fork job's own count, in the log of its crash */
	s->execs = n;
	lf_field(end, " cov: ", &s->cov);
	lf_field(end, " ft: ", &s->ft);
	lf_field(end, " corp: ", &s->corpus);
	lf_field(end, " exec/s", &s->rate);
	return 1;
}

/* Whether a libFuzzer line starts a crash report: a sanitizer's or libFuzzer's "==PID==ERROR:",
 * UBSan's "runtime error:", a sockdrill oracle's finding. */
static int lf_report_starts(const char *l)
{
	if (!strncmp(l, "sockdrill finding: ", 19) || strstr(l, ": runtime error: "))
		return 1;
	if (strncmp(l, "==", 2) || l[2] < '0' || l[2] > '9')
		return 0;
	for (l += 2; *l >= '0' && *l <= '9';)
		l++;
	return !strncmp(l, "==", 2) && strstr(l, "ERROR:");
}

/* AFL++'s fuzzer_stats of the ninst instances below out: execs and crashes summed, coverage
 * and corpus the largest instance's, stability the lowest. 0 before the main instance has
 * written a whole one (it rewrites the file in place: a read can catch it half written). */
static int afl_stats(const char *out, int ninst, struct fuzz_stats *s)
{
	struct fuzz_stats t;
	double stab = -1;
	sd__stats_init(&t);
	for (int i = 0; i < ninst; i++) {
		char path[PATH_MAX + 200], key[64], val[64], *line = NULL;
		size_t cap = 0;
		long long execs = -1, corpus = -1, crashes = 0, edges = -1, total = -1;
		double st = -1;
		int whole = 0;
		if (i)
			sd__textf(path, sizeof path, "%s/s%d/fuzzer_stats", out, i);
		else
			sd__textf(path, sizeof path, "%s/main/fuzzer_stats", out);
		FILE *f = fopen(path, "r");
		while (f && getline(&line, &cap, f) > 0) {
			if (sscanf(line, "%63s : %63s", key, val) != 2)
				continue;
			if (!strcmp(key, "execs_done"))
				execs = strtoll(val, NULL, 10);
			else if (!strcmp(key, "corpus_count") || !strcmp(key, "paths_total"))
				corpus = strtoll(val, NULL, 10);
			else if (!strcmp(key, "saved_crashes") || !strcmp(key, "unique_crashes"))
				crashes = strtoll(val, NULL, 10);
			else if (!strcmp(key, "edges_found"))
				edges = strtoll(val, NULL, 10);
			else if (!strcmp(key, "total_edges"))
				total = strtoll(val, NULL, 10);
			else if (!strcmp(key, "stability"))
				st = strtod(val, NULL);
			else if (!strcmp(key, "command_line")) /* the last line */
				whole = 1;
		}
		if (f)
			fclose(f);
		free(line);
		if (execs < 0 || !whole) {
			if (!i)
				return 0;
			continue;
		}
		t.execs = (t.execs < 0 ? 0 : t.execs) + execs;
		t.crashes = (t.crashes < 0 ? 0 : t.crashes) + crashes;
		if (corpus > t.corpus)
			t.corpus = corpus;
		if (edges > t.edges)
			t.edges = edges;
		if (total > t.total_edges)
			t.total_edges = total;
		if (st >= 0 && edges > 0 && (stab < 0 || st < stab)) /* 0.00% before calibration */
			stab = st;
	}
	if (stab >= 0)
		sd__textf(t.stability, sizeof t.stability, "%.2f%%", stab);
	*s = t;
	return 1;
}

/* One StatsD datagram of an AFL++ instance ("fuzzing.execs_done:123|g", a line each) into s:
 * AFL++ sends one a second, where its fuzzer_stats is rewritten once a minute. */
static void afl_statsd(const char *msg, struct fuzz_stats *s)
{
	for (const char *l = msg; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		char key[48];
		int at = 0;
		if (sscanf(l, "fuzzing.%47[a-z_]:%n", key, &at) != 1 || !at)
			continue;
		long long v = lead_num(l + at, "");
		if (v < 0)
			continue;
		if (!strcmp(key, "execs_done"))
			s->execs = v;
		else if (!strcmp(key, "corpus_count") || !strcmp(key, "paths_total"))
			s->corpus = v;
		else if (!strcmp(key, "saved_crashes") || !strcmp(key, "unique_crashes"))
			s->crashes = v;
		else if (!strcmp(key, "edges_found"))
			s->edges = v;
	}
}

static void num(char *out, size_t size, long long v)
{
	if (v < 0)
		sd__textf(out, size, "-");
	else
		sd__textf(out, size, "%lld", v);
}

/* "N execs (R/s), COVERAGE, corpus N": the fields both lines share (rate: exec/s). */
static void stats_text(char *out, size_t size, const struct fuzz_stats *s, long long rate, int afl)
{
	char execs[32], r[32], a[32], b[32], corpus[32];
	num(execs, sizeof execs, s->execs);
	num(r, sizeof r, rate);
	num(corpus, sizeof corpus, s->corpus);
	if (afl) {
		char pct[64];
		num(a, sizeof a, s->edges);
		num(b, sizeof b, s->total_edges);
		if (s->edges >= 0 && s->total_edges > 0)
			sd__textf(pct, sizeof pct, "/%s (%.2f%%)", b,
				  100.0 * s->edges / s->total_edges);
		sd__textf(out, size, "%s execs (%s/s), edges %s%s, corpus %s", execs, r, a,
			  s->total_edges > 0 ? pct : "", corpus);
	} else {
		num(a, sizeof a, s->cov);
		num(b, sizeof b, s->ft);
		sd__textf(out, size, "%s execs (%s/s), cov %s ft %s, corpus %s", execs, r, a, b,
			  corpus);
	}
}

/* One engine run being watched: its processes, its output, what it has told so far. */

/* An engine line that must be seen (a crash report), above the progress line. */
static void show(struct watch *w, const char *l)
{
	if (w->drawn)
		fputs("\r\033[K", stderr), w->drawn = 0;
	fprintf(stderr, "%s\n", l);
}

static void ring_reset(struct watch *w)
{
	for (size_t i = 0; i < REPORT_RING; i++)
		free(w->ring[i]), w->ring[i] = NULL;
	w->nring = 0;
}

/* The lines before a crash report's first line: what the target printed on that input. */
static void ring_flush(struct watch *w)
{
	size_t first = w->nring > REPORT_RING ? w->nring - REPORT_RING : 0;
	if (first)
		fprintf(stderr, "sockdrill fuzz: (%zu lines before these are in %s)\n", first,
			w->log_path);
	for (size_t i = first; i < w->nring; i++)
		if (w->ring[i % REPORT_RING])
			show(w, w->ring[i % REPORT_RING]);
	ring_reset(w);
}

static void lf_line(struct watch *w, const char *l)
{
	long long n;
	if (lf_status(l, &w->st)) {
		ring_reset(w);
		return;
	}
	if (!w->st.forked && ((n = lead_num(l, "Done ")) >= 0 ||
			      (n = lead_num(l, "stat::number_of_executed_units: ")) >= 0))
		w->st.execs = n;
	if (!w->in_report && !strncmp(l, "WARNING: ", 9)) { /* libFuzzer's own, once each */
		show(w, l);
		return;
	}
	if (w->after_unit && !strncmp(l, "Base64: ", 8)) {
		w->after_unit = 0;
		show(w, l);
		return;
	}
	w->after_unit = 0;
	if (!w->in_report && lf_report_starts(l)) {
		w->in_report = 1, w->shown++;
		ring_flush(w);
	}
	if (w->in_report) { /* to the line that names the crash file, and its Base64 */
		show(w, l);
		if (strstr(l, "Test unit written to "))
			w->in_report = 0, w->after_unit = 1;
		return;
	}
	free(w->ring[w->nring % REPORT_RING]);
	w->ring[w->nring++ % REPORT_RING] = strdup(l);
}

static void take_line(struct watch *w)
{
	w->line[w->len] = 0;
	if (!w->afl) /* AFL++'s statistics come by StatsD and fuzzer_stats; its lines are logged */
		lf_line(w, w->line);
	w->len = 0;
}

/* Reads what the engine wrote (at most `reads` times 64 KiB): 1 something, 0 nothing now, -1
 * its end (the descriptor is closed). Everything goes to the log; lines to take_line. */
static int watch_read(struct watch *w, int reads)
{
	char buf[65536];
	int got = 0;
	for (int r = 0; r < reads; r++) {
		ssize_t k = read(w->fd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return got;
			close(w->fd);
			w->fd = -1;
			if (w->len)
				take_line(w);
			return -1;
		}
		got = 1;
		if (w->log)
			fwrite(buf, 1, (size_t)k, w->log);
		for (ssize_t i = 0; i < k; i++) {
			if (buf[i] == '\n' || w->len == sizeof w->line - 1) {
				take_line(w);
				if (buf[i] == '\n')
					continue;
			}
			w->line[w->len++] = buf[i];
		}
	}
	return got;
}

/* Takes the StatsD datagrams waiting on instance i's socket. */
static void statsd_read(struct watch *w, int i)
{
	char buf[8192];
	ssize_t k;
	while ((k = recv(w->udp[i], buf, sizeof buf - 1, 0)) > 0) {
		buf[k] = 0;
		afl_statsd(buf, &w->inst[i]);
		w->statsd = 1;
	}
}

/* AFL++'s figures: the instances' last StatsD numbers, summed (execs, crashes) or the largest
 * (corpus, edges); from fuzzer_stats (file) the map size and stability, and all of it at the
 * end (AFL++'s last word) or without StatsD sockets (the caller's own AFL_STATSD). */
static void afl_update(struct watch *w, int file, int last)
{
	struct fuzz_stats f;
	if (file && afl_stats(w->afl_out, w->ninst, &f)) {
		if (last || !w->nudp) {
			w->st = f;
			return;
		}
		w->st.total_edges = f.total_edges;
		memcpy(w->st.stability, f.stability, sizeof f.stability);
	}
	if (last || !w->statsd)
		return;
	long long execs = 0, crashes = 0, corpus = -1, edges = -1;
	for (int i = 0; i < w->nudp; i++) {
		const struct fuzz_stats *s = &w->inst[i];
		if (s->execs < 0)
			continue;
		execs += s->execs, crashes += s->crashes > 0 ? s->crashes : 0;
		corpus = s->corpus > corpus ? s->corpus : corpus;
		edges = s->edges > edges ? s->edges : edges;
	}
	w->st.execs = execs, w->st.crashes = crashes, w->st.corpus = corpus, w->st.edges = edges;
}

static void draw(struct watch *w, double now)
{
	char text[512], line[600];
	long long el = (long long)(now - w->t0);
	/* libFuzzer tells its rate; AFL++'s, over its first seconds, is calibration's */
	double secs = now - w->t0 > 1 ? now - w->t0 : 1;
	long long rate = w->afl && w->st.execs >= 0 ? (long long)(w->st.execs / secs) : w->st.rate;
	stats_text(text, sizeof text, &w->st, rate, w->afl);
	sd__textf(line, sizeof line, "fuzz: %lld/%llu s, %s, crashes %lld, stability %s", el,
		  (unsigned long long)w->secs, text, w->st.crashes < 0 ? 0 : w->st.crashes,
		  w->afl && *w->st.stability ? w->st.stability : "-");
	/* fuzz's own text, drawn as every command's progress line is */
	struct sd__progress out = {.out = stderr, .tty = w->tty};
	sd__progress_put(&out, line);
	w->drawn |= out.drawn;
	w->last_draw = now;
	w->told |= w->st.execs > 0;
}

/* The progress line, when it is due: the first statistics at once, then once a second on a
 * terminal (which shows it from the start), every PROGRESS_LOG_MS elsewhere; never inside a
 * crash report being shown (on a pipe the line would land between the report's lines). */
static void tick(struct watch *w)
{
	if (w->in_report) /* a crash report is shown whole: the line waits for its end */
		return;
	double now = sd__mono_s();
	int due = (now - w->last_draw) * 1000 >= (w->tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS);
	if (w->afl)
		afl_update(w, !w->told || due, 0);
	if (w->quiet || (!(!w->told && w->st.execs > 0) && !(due && (w->tty || w->told))))
		return;
	if (!w->afl) /* libFuzzer's crashes: the files it wrote */
		w->st.crashes = sd__print_crashes(w->art, NULL, NULL, w->before, w->since);
	draw(w, now);
}

/* Runs the loop until every process has ended, reading the engine's output and drawing the
 * progress line. After SIGINT/SIGTERM (passed on by the handler) the processes get
 * SD__PROC_GRACE_MS before SIGKILL. */
void sd__watch_run(struct watch *w)
{
	double stop_at = -1;
	w->t0 = sd__mono_s();
	w->last_draw = w->tty ? w->t0 - 1 : w->t0;
	for (;;) {
		int live = 0;
		for (int i = 0; i < w->np; i++) {
			if (w->ended[i])
				continue;
			int r = sd__proc_poll(w->pid[i], &w->status[i]);
			if (r < 0)
				w->status[i] = 127 << 8;
			w->ended[i] = r != 0;
			live += r == 0;
		}
		if (!live) { /* what it wrote before it ended, and no more */
			if (w->fd >= 0)
				watch_read(w, DRAIN_READS);
			for (int i = 0; i < w->nudp; i++)
				statsd_read(w, i);
			break;
		}
		if (sd__proc_caught() && stop_at < 0)
			stop_at = sd__mono_s() + SD__PROC_GRACE_MS / 1000.0;
		if (stop_at >= 0 && sd__mono_s() > stop_at)
			for (int i = 0; i < w->np; i++)
				if (!w->ended[i])
					sd__proc_stop(w->pid[i], SIGKILL, &w->status[i]),
						w->ended[i] = 1;
		struct pollfd p[65] = {{.fd = w->fd, .events = POLLIN}};
		for (int i = 0; i < w->nudp; i++)
			p[1 + i] = (struct pollfd){.fd = w->udp[i], .events = POLLIN};
		if (poll(p, 1 + (nfds_t)w->nudp, WATCH_POLL_MS) > 0) { /* a closed fd: skipped */
			if (p[0].revents)
				watch_read(w, 16);
			for (int i = 0; i < w->nudp; i++)
				if (p[1 + i].revents)
					statsd_read(w, i);
		}
		tick(w);
	}
	if (w->fd >= 0)
		close(w->fd), w->fd = -1;
	for (int i = 0; i < w->nudp; i++)
		close(w->udp[i]);
	ring_reset(w);
	if (!w->told && !sd__proc_caught()) /* a run too short for a line of its own */
		tick(w);
	if (w->afl)
		afl_update(w, 1, 1);
	if (w->drawn)
		fputs("\r\033[K", stderr), w->drawn = 0;
	w->t1 = sd__mono_s();
}

/* The first of the watched processes that failed, or -1. */
int sd__watch_failed(const struct watch *w)
{
	for (int i = 0; i < w->np; i++)
		if (!WIFEXITED(w->status[i]) || WEXITSTATUS(w->status[i]))
			return i;
	return -1;
}

/* Its exit status as a shell tells it (0 when none failed). */
int sd__watch_status(const struct watch *w)
{
	int i = sd__watch_failed(w);
	if (i < 0)
		return 0;
	return sd__proc_code(w->status[i]);
}

/* The summary of a run that executed inputs: its time, executions, average rate, coverage,
 * corpus and stability (the crashes follow, each with its repro command). */
void sd__fuzz_summary(const struct watch *w, const char *name, const char *engine)
{
	char text[512];
	double secs = w->t1 - w->t0;
	if (w->st.execs <= 0)
		return;
	long long rate = (long long)(w->st.execs / (secs > 0.001 ? secs : 0.001) + 0.5);
	stats_text(text, sizeof text, &w->st, rate, w->afl);
	printf("fuzz: %s on %s: ran %.0f s, %s, stability %s\n", name, engine, secs, text,
	       w->afl && *w->st.stability ? w->st.stability : "-");
}
