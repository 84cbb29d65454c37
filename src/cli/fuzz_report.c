/* sockdrill fuzz --report DIR: the series and crashes of a campaign, kept and written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_files.h"
#include "fuzz_report.h"
#include "fuzz_watch.h"
#include "proc.h"

/* Samples kept: past it every other one goes, and from then on one in twice as many is taken,
 * so that a day-long campaign's page stays small. */
#define REPORT_POINTS 4096
/* Seconds between two writes of the files while the campaign runs. */
#define REPORT_REFRESH_S 5
/* Crashes replayed at the end (for their kind, and by `repro --html` for their timeline), how
 * long each replay may take, and all of them. */
#define REPLAY_MAX   16
#define REPLAY_S     20
#define REPLAY_ALL_S 120

int sd__fuzz_report_dir(const char *dir, char *abs)
{
	struct stat st;
	if (!*dir)
		return sd__usage_error("fuzz", "--report: an empty path");
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return sd__usage_error("fuzz", "--report: %s: exists and is not a directory", dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return sd__usage_error("fuzz", "--report: %s: %s", dir, strerror(errno));
	if (access(dir, W_OK | X_OK) < 0 || !realpath(dir, abs))
		return sd__usage_error("fuzz", "--report: %s: %s", dir, strerror(errno));
	return 0;
}

struct sd__fuzz_report *sd__fuzz_report_new(const struct sd__fuzz_report_cfg *cfg, int afl)
{
	struct sd__fuzz_report *r = calloc(1, sizeof *r);
	if (r)
		r->pt = malloc(REPORT_POINTS * sizeof *r->pt);
	if (!r || !r->pt) {
		free(r);
		fprintf(stderr, "sockdrill fuzz: --report: out of memory\n");
		return NULL;
	}
	r->c = *cfg, r->afl = afl, r->every = 1;
	r->t0 = sd__mono_s();
	clock_gettime(CLOCK_REALTIME, &r->r0);
	return r;
}

void sd__fuzz_report_start(struct sd__fuzz_report *r)
{
	r->t0 = sd__mono_s();
	clock_gettime(CLOCK_REALTIME, &r->r0);
	r->last_write = r->t0;
}

void sd__fuzz_report_sample(struct sd__fuzz_report *r, const struct fuzz_stats *s, const char *src)
{
	struct report_point p = {sd__mono_s() - r->t0,
				 s->execs,
				 s->rate,
				 r->afl ? s->edges : s->cov,
				 s->ft,
				 s->corpus,
				 src};
	const struct report_point *l = r->npt ? &r->pt[r->npt - 1] : NULL;
	if (p.execs < 0 ||
	    (l && l->execs == p.execs && l->cov == p.cov && l->ft == p.ft && l->corpus == p.corpus))
		return;
	if (r->seen++ % r->every)
		return;
	/* AFL++'s own rate is its calibration's over its first seconds (211000/s for 4000): the
	 * one between two samples instead, as its executions tell it */
	if (r->afl) {
		double dt = l ? p.t - l->t : p.t > 0.1 ? p.t : 0.1;
		long long de = l ? p.execs - l->execs : p.execs;
		p.rate = dt > 0 && de >= 0 ? (long long)(de / dt + 0.5) : -1;
	}
	if (r->npt == REPORT_POINTS) { /* every other one goes; the first and the last stay */
		size_t k = 0;
		for (size_t i = 0; i < r->npt; i += 2)
			r->pt[k++] = r->pt[i];
		r->pt[k - 1] = r->pt[r->npt - 1];
		r->npt = k, r->every *= 2;
	}
	r->pt[r->npt++] = p;
}

/* ---- AFL++'s plot_data ------------------------------------------------------------------------
 */

/* AFL++'s start on the wall clock (fuzzer_stats' start_time, in seconds), or -1. */
static long long afl_start_time(const char *base)
{
	char path[PATH_MAX + 64], *line = NULL;
	size_t cap = 0;
	long long v = -1;
	sd__textf(path, sizeof path, "%s/afl-out/main/fuzzer_stats", base);
	FILE *f = fopen(path, "r");
	while (f && getline(&line, &cap, f) > 0 && sscanf(line, "start_time : %lld", &v) != 1)
		;
	if (f)
		fclose(f);
	free(line);
	return v;
}

/* The column of each name in plot_data's header ("# relative_time, cycles_done, ..."), -1
 * where absent: AFL++ 4.04c has relative_time, corpus_count, execs_per_sec, total_execs,
 * edges_found; older ones unix_time and paths_total. */
enum { COL_REL, COL_UNIX, COL_CORPUS, COL_PATHS, COL_RATE, COL_EXECS, COL_EDGES, NCOLS };
static const char *const col_names[NCOLS] = {"relative_time", "unix_time",     "corpus_count",
					     "paths_total",   "execs_per_sec", "total_execs",
					     "edges_found"};

static void plot_header(const char *line, int *col)
{
	char name[64];
	int c = 0, at;
	for (int k = 0; k < NCOLS; k++)
		col[k] = -1;
	for (const char *p = line + 1; sscanf(p, " %63[a-z_]%n", name, &at) == 1; c++) {
		for (int k = 0; k < NCOLS; k++)
			if (!strcmp(name, col_names[k]))
				col[k] = c;
		p += at;
		p += strspn(p, " ,");
	}
}

/* AFL++'s plot_data rows (its main instance's: AFL++ 4.04c writes a row every 5 s once it has
 * fuzzed a minute, and one at its end) appended to p (room for cap), their time on the CLI's
 * clock (to the second: AFL++ writes whole seconds), none before the start. */
static size_t plot_rows(const struct sd__fuzz_report *r, struct report_point *p, size_t cap)
{
	char path[PATH_MAX + 64], *line = NULL;
	size_t len = 0, n = 0;
	int col[NCOLS] = {-1, -1, -1, -1, -1, -1, -1};
	double r0 = (double)r->r0.tv_sec + (double)r->r0.tv_nsec / 1e9;
	long long start = afl_start_time(r->c.base);
	sd__textf(path, sizeof path, "%s/afl-out/main/plot_data", r->c.base);
	FILE *f = fopen(path, "r");
	while (f && n < cap && getline(&line, &len, f) > 0) {
		double v[32];
		int k = 0;
		if (line[0] == '#') {
			plot_header(line, col);
			continue;
		}
		for (char *s = line, *end; k < 32; s = end + (*end == ',')) {
			v[k] = strtod(s, &end); /* "11.44%" is a column too: its number */
			if (end == s)
				break;
			k++;
			end += strspn(end, "%");
			if (*end != ',')
				break;
		}
		int rel = col[COL_REL] >= 0 && col[COL_REL] < k && start >= 0;
		if (!rel && (col[COL_UNIX] < 0 || col[COL_UNIX] >= k))
			continue;
#define COL(c) (col[c] >= 0 && col[c] < k ? (long long)v[col[c]] : -1)
		p[n++] = (struct report_point){
			(rel ? (double)start + v[col[COL_REL]] : v[col[COL_UNIX]]) - r0,
			COL(COL_EXECS),
			COL(COL_RATE),
			COL(COL_EDGES),
			-1,
			col[COL_CORPUS] >= 0 ? COL(COL_CORPUS) : COL(COL_PATHS),
			"plot_data"};
#undef COL
		p[n - 1].t = p[n - 1].t < 0 ? 0 : p[n - 1].t;
	}
	if (f)
		fclose(f);
	free(line);
	return n;
}

static int by_time(const void *a, const void *b)
{
	double x = ((const struct report_point *)a)->t, y = ((const struct report_point *)b)->t;
	return (x > y) - (x < y);
}

struct report_point *sd__fuzz_report_series(const struct sd__fuzz_report *r, size_t *n)
{
	size_t cap = r->npt + (r->afl ? REPORT_POINTS : 0);
	struct report_point *p = cap ? malloc(cap * sizeof *p) : NULL;
	*n = 0;
	if (!p)
		return NULL;
	memcpy(p, r->pt, r->npt * sizeof *p);
	/* plot_data only without StatsD figures: its rows start after AFL++'s first minute, in
	 * whole seconds from its own start, and tell what StatsD told each second */
	int statsd = 0;
	for (size_t i = 0; i < r->npt; i++)
		statsd |= !strcmp(r->pt[i].src, "statsd");
	*n = r->npt + (r->afl && !statsd ? plot_rows(r, p + r->npt, REPORT_POINTS) : 0);
	/* a row's time is whole seconds: it is no earlier than a sample with fewer executions */
	for (size_t i = r->npt; i < *n; i++)
		for (size_t j = 0; j < r->npt; j++)
			if (p[j].execs < p[i].execs && p[j].t > p[i].t)
				p[i].t = p[j].t;
	qsort(p, *n, sizeof *p, by_time); /* two sources on one time axis */
	return p;
}

/* ---- crashes --------------------------------------------------------------------------------- */

static void add_crash(void *ctx, const char *path, const struct stat *st)
{
	struct sd__fuzz_report *r = ctx;
	for (size_t i = 0; i < r->ncr; i++)
		if (!strcmp(r->cr[i].path, path))
			return;
	struct report_crash *cr = realloc(r->cr, (r->ncr + 1) * sizeof *cr);
	if (!cr)
		return;
	r->cr = cr;
	cr = &r->cr[r->ncr];
	*cr = (struct report_crash){(double)(st->st_mtim.tv_sec - r->r0.tv_sec) +
					    (double)(st->st_mtim.tv_nsec - r->r0.tv_nsec) / 1e9,
				    strdup(path), sd__fuzz_repro_cmd(r->c.t, path, r->c.engine),
				    NULL, NULL};
	if (cr->path && cr->cmd)
		r->ncr++;
	else
		free(cr->path), free(cr->cmd);
}

static int crash_by_time(const void *a, const void *b)
{
	double x = ((const struct report_crash *)a)->t, y = ((const struct report_crash *)b)->t;
	return (x > y) - (x < y);
}

/* The finding a crash file gives when the fuzzer runs it once (bounded), on one line. */
static char *crash_kind(const struct sd__fuzz_report *r, const char *path)
{
	char err[PATH_MAX], line[600];
	int fd = sd__proc_tmpfile("report", err, sizeof err), status = 0, rc = -1, k = -1;
	if (fd >= 0) {
		char *av[] = {(char *)r->c.exe, (char *)path, NULL};
		struct sd__proc_io io = {.path = err, .both = 1};
		close(fd);
		rc = sd__proc_run(av, &io, REPLAY_S, &status);
	}
	if (rc < 0)
		sd__textf(line, sizeof line, "(not replayed%s)",
			  sd__proc_caught() ? ": the campaign was stopped" : "");
	else if (rc == 1)
		sd__textf(line, sizeof line, "(no verdict after %d s)", REPLAY_S);
	else if ((k = sd__finding_in(err, line + 19, sizeof line - 19)) >= 0)
		memcpy(line,
		       "sockdrill finding: ", 19); /* the oracle's; a sanitizer's names itself */
	else if (WIFSIGNALED(status))
		sd__textf(line, sizeof line, "killed by signal %d (%s)", WTERMSIG(status),
			  strsignal(WTERMSIG(status)));
	else
		sd__textf(line, sizeof line, "%s %d when replayed",
			  WEXITSTATUS(status) ? "exited with status" : "ran clean: status",
			  WEXITSTATUS(status));
	if (fd >= 0)
		unlink(err);
	return strdup(k > 0 ? line + 19 : line);
}

/* DIR/crash-N.html, the timeline of crash n (from 1) as `sockdrill repro --html` draws it: its
 * name in DIR, or NULL when there is none (the target's calls are not traced, say). */
static char *crash_timeline(const struct sd__fuzz_report *r, size_t n)
{
	char self[PATH_MAX], out[PATH_MAX + 64], name[64], log[PATH_MAX];
	const struct report_crash *c = &r->cr[n - 1];
	struct stat st;
	int status, fd = sd__proc_tmpfile("report", log, sizeof log);
	if (fd < 0 || sd__proc_self_exe(self, sizeof self) < 0) {
		if (fd >= 0)
			close(fd), unlink(log);
		return NULL;
	}
	close(fd);
	sd__textf(name, sizeof name, "crash-%zu.html", n);
	sd__textf(out, sizeof out, "%s/%s", r->c.dir, name);
	char *av[] = {self,     "repro",    (char *)r->c.t,
		      c->path,  "--engine", (char *)r->c.engine,
		      "--html", out,        NULL};
	struct sd__proc_io io = {.path = log, .both = 1}; /* its output is not the campaign's */
	int rc = sd__proc_run(av, &io, REPLAY_S * 3, &status);
	unlink(log);
	if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) <= 1 && stat(out, &st) == 0 &&
	    st.st_size > 0)
		return strdup(name);
	unlink(out);
	return NULL;
}

/* ---- the files --------------------------------------------------------------------------------
 */

/* DIR/name becomes text[0..len) at once: a new file beside it renamed over it, so that a reader
 * sees the old one or the new one, never half of one. 0 or a negative errno. */
static int put_file(const char *dir, const char *name, const char *text, size_t len)
{
	char tmp[PATH_MAX + 64], dst[PATH_MAX + 64];
	sd__textf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name);
	sd__textf(dst, sizeof dst, "%s/%s", dir, name);
	int fd = mkostemp(tmp, O_CLOEXEC), rc = 0;
	if (fd < 0)
		return -errno;
	for (size_t done = 0; rc == 0 && done < len;) {
		ssize_t k = write(fd, text + done, len - done);
		if (k > 0)
			done += (size_t)k;
		else if (k == 0 || errno != EINTR)
			rc = k == 0 ? -EIO : -errno;
	}
	if (rc == 0 && fchmod(fd, 0644) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static void json_num(FILE *f, const char *key, long long v, const char *sep)
{
	if (v < 0)
		fprintf(f, "\"%s\": null%s", key, sep);
	else
		fprintf(f, "\"%s\": %lld%s", key, v, sep);
}

/* text, then s as a JSON string or null. */
static void json_opt(FILE *f, const char *text, const char *s)
{
	fputs(text, f);
	if (s)
		sd__json_str(f, s, 0);
	else
		fputs("null", f);
}

/* series.json: the figures and crashes as the page shows them, for a user's own tools. */
static void write_json(FILE *f, const struct sd__fuzz_report *r, const struct report_point *p,
		       size_t n)
{
	fputs("{\n  \"target\": ", f);
	sd__json_str(f, r->c.name, 0);
	fprintf(f, ",\n  \"engine\": \"%s\",\n  \"time_limit\": %llu,\n  \"elapsed\": %.3f,\n",
		r->c.engine, (unsigned long long)r->c.secs, r->elapsed);
	fprintf(f, "  \"running\": %s,\n  \"status\": ", r->done ? "false" : "true");
	sd__json_str(f, r->status, 0);
	fprintf(f, ",\n  \"start\": %lld.%03ld,\n  \"coverage\": \"%s\",\n  \"points\": [",
		(long long)r->r0.tv_sec, r->r0.tv_nsec / 1000000, r->afl ? "edges" : "cov");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"t\": %.3f, ", i ? "," : "", p[i].t);
		json_num(f, "execs", p[i].execs, ", ");
		json_num(f, "execs_per_sec", p[i].rate, ", ");
		json_num(f, "coverage", p[i].cov, ", ");
		json_num(f, "features", p[i].ft, ", ");
		json_num(f, "corpus", p[i].corpus, ", ");
		fprintf(f, "\"source\": \"%s\"}", p[i].src);
	}
	fputs(n ? "\n  ],\n  \"crashes\": [" : "],\n  \"crashes\": [", f);
	for (size_t i = 0; i < r->ncr; i++) {
		const struct report_crash *c = &r->cr[i];
		fprintf(f, "%s\n    {\"t\": %.3f, \"file\": ", i ? "," : "", c->t);
		sd__json_str(f, c->path, 0);
		json_opt(f, ", \"kind\": ", c->kind);
		json_opt(f, ", \"reproduce\": ", c->cmd);
		json_opt(f, ", \"timeline\": ", c->timeline);
		fputc('}', f);
	}
	fputs(r->ncr ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* Both files, from the crashes and figures as they are now. */
static void write_files(struct sd__fuzz_report *r)
{
	size_t n, len;
	char *text = NULL;
	struct report_point *p;
	sd__fuzz_each_crash(r->c.art, r->c.before, r->c.since, add_crash, r);
	qsort(r->cr, r->ncr, sizeof *r->cr, crash_by_time);
	p = sd__fuzz_report_series(r, &n);
	for (int which = 0; which < 2; which++) {
		FILE *m = open_memstream(&text, &len);
		if (!m)
			break;
		if (which)
			sd__fuzz_report_html(m, r, p, n);
		else
			write_json(m, r, p, n);
		int rc = fclose(m) == 0 ? put_file(r->c.dir, which ? "index.html" : "series.json",
						   text, len)
					: -ENOMEM;
		free(text), text = NULL;
		if (rc < 0 && !r->failed++)
			fprintf(stderr, "sockdrill fuzz: --report: cannot write in %s: %s\n",
				r->c.dir, strerror(-rc));
	}
	free(p);
}

void sd__fuzz_report_tick(struct sd__fuzz_report *r)
{
	double now = sd__mono_s();
	if (now - r->last_write < REPORT_REFRESH_S)
		return;
	r->last_write = now, r->elapsed = now - r->t0;
	sd__textf(r->status, sizeof r->status, "running: %.0f of %llu s", r->elapsed,
		  (unsigned long long)r->c.secs);
	write_files(r);
}

void sd__fuzz_report_finish(struct sd__fuzz_report *r, const char *status)
{
	r->elapsed = sd__mono_s() - r->t0, r->done = 1;
	sd__textf(r->status, sizeof r->status, "%s", status);
	sd__fuzz_each_crash(r->c.art, r->c.before, r->c.since, add_crash, r);
	qsort(r->cr, r->ncr, sizeof *r->cr, crash_by_time); /* crash-N.html is row N */
	double until = sd__mono_s() + REPLAY_ALL_S;
	for (size_t i = 0; i < r->ncr; i++) {
		int replay = i < REPLAY_MAX && sd__mono_s() < until;
		r->cr[i].kind = replay ? crash_kind(r, r->cr[i].path)
				       : strdup("(not replayed: too many crashes to replay)");
		if (replay && !sd__proc_caught())
			r->cr[i].timeline = crash_timeline(r, i + 1);
	}
	write_files(r);
	if (!r->failed)
		printf("fuzz: report %s/index.html\n", r->c.dir);
	for (size_t i = 0; i < r->ncr; i++)
		free(r->cr[i].path), free(r->cr[i].cmd), free(r->cr[i].kind),
			free(r->cr[i].timeline);
	free(r->cr), free(r->pt), free(r);
}
