/* sockdrill fuzz: the campaign watched (fuzz_watch.c): the engine's output read for a
 * progress line, crash reports shown whole, a summary at the end. */
#ifndef SD_CLI_FUZZ_WATCH_H
#define SD_CLI_FUZZ_WATCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* libFuzzer's lines since its last status line kept for a crash report (what a target printed
 * just before its finding, such as sim_vs_kernel's side-by-side table). */
#define REPORT_RING 64
#define LINE_CAP    4096

/* What an engine has told of its campaign so far; -1 (or "") where it has not. */
struct fuzz_stats {
	long long execs, rate, cov, ft, corpus, crashes, edges, total_edges;
	char stability[16]; /* AFL++'s, as "100.00%" */
	int forked;         /* libFuzzer -fork: only the driver's "#N:" lines count */
};

struct watch {
	pid_t pid[64];
	int np, ended[64], status[64];
	int fd;    /* libFuzzer's output, or the AFL++ main instance's; -1 once closed */
	FILE *log; /* where all of that output is kept */
	int udp[64], nudp, statsd;  /* AFL++ instances' StatsD sockets; whether one spoke */
	struct fuzz_stats inst[64]; /* what each said last */
	const char *log_path, *art, *before, *afl_out;
	const struct timespec *since;
	int afl, ninst, tty;
	int quiet; /* --quiet: no progress line */
	uint64_t secs;
	char line[LINE_CAP];
	size_t len;
	char *ring[REPORT_RING];
	size_t nring;                     /* lines since libFuzzer's last status line */
	int in_report, after_unit, shown; /* crash reports shown */
	int drawn, told;                  /* a line on the terminal; the first stats shown */
	struct fuzz_stats st;
	double t0, t1, last_draw; /* the run's start and end */
};

void sd__stats_init(struct fuzz_stats *s);
void sd__watch_run(struct watch *w);
int sd__watch_failed(const struct watch *w);
int sd__watch_status(const struct watch *w);
void sd__fuzz_summary(const struct watch *w, const char *name, const char *engine);

#endif
