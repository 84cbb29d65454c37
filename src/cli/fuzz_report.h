/* sockdrill fuzz --report DIR: the campaign's figures over time and its crashes, kept while it
 * runs (fuzz_report.c) and written as DIR/index.html (fuzz_report_html.c) and DIR/series.json. */
#ifndef SD_CLI_FUZZ_REPORT_H
#define SD_CLI_FUZZ_REPORT_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct fuzz_stats;

/* What the report is about, as sd__cmd_fuzz set the campaign up (the strings are its). */
struct sd__fuzz_report_cfg {
	const char *dir;    /* DIR, absolute, made by sd__fuzz_report_dir */
	const char *t;      /* TARGET as given: what the repro command names */
	const char *name;   /* the target's name as printed */
	const char *engine; /* libfuzzer or afl */
	const char *exe;    /* the fuzzer binary: each crash is replayed once for its kind */
	const char *base;   /* OUT: AFL++'s plot_data is OUT/afl-out/main/plot_data */
	const char *art;    /* OUT/artifacts, and what was there before, as sd__fuzz_each_crash */
	const char *before;
	const struct timespec *since;
	uint64_t secs; /* --time */
};

/* One sample of the engine's figures; -1 where it told none. */
struct report_point {
	double t; /* seconds since the engine started, on the CLI's clock */
	long long execs, rate, cov, ft, corpus;
	const char *src; /* where it came from: "libfuzzer", "statsd", "plot_data" */
};

struct report_crash {
	double t;         /* when its file was written, seconds since the start */
	char *path, *cmd; /* the file; the command that replays it */
	char *kind;       /* the finding's line when replayed, or NULL before that */
	char *timeline;   /* crash-N.html in DIR, or NULL */
};

struct sd__fuzz_report {
	struct sd__fuzz_report_cfg c;
	int afl;
	double t0;               /* the monotonic clock when the engine started */
	struct timespec r0;      /* the wall clock then: crash files' times are read against it */
	struct report_point *pt; /* the samples the CLI took, in order (at most REPORT_POINTS) */
	size_t npt;
	unsigned every, seen; /* once thinned, one sample in `every` is kept */
	struct report_crash *cr;
	size_t ncr;
	double last_write, elapsed;
	int done;         /* the campaign has ended */
	int failed;       /* a write failed (said once) */
	char status[160]; /* how it ended, for the page */
};

/* --report's DIR checked and made (not an existing non-directory; writable), absolute into abs
 * (PATH_MAX): 0, or the exit status with the message printed. */
int sd__fuzz_report_dir(const char *dir, char *abs);

/* A report of the campaign, or NULL when out of memory (with the message printed). */
struct sd__fuzz_report *sd__fuzz_report_new(const struct sd__fuzz_report_cfg *cfg, int afl);
/* The engine starts now: the origin of every time in the report. */
void sd__fuzz_report_start(struct sd__fuzz_report *r);
/* The engine's figures now (src: where they came from); one equal to the last is skipped. */
void sd__fuzz_report_sample(struct sd__fuzz_report *r, const struct fuzz_stats *s, const char *src);
/* The files written again when REPORT_REFRESH_S have passed since the last time. */
void sd__fuzz_report_tick(struct sd__fuzz_report *r);
/* The campaign has ended (status: how, for the page): each crash replayed once for its kind,
 * the files written a last time and their place printed. Frees r. */
void sd__fuzz_report_finish(struct sd__fuzz_report *r, const char *status);

/* The merged series in time order (the CLI's samples and AFL++'s plot_data rows): malloc'd,
 * its length in *n; NULL when empty or out of memory. */
struct report_point *sd__fuzz_report_series(const struct sd__fuzz_report *r, size_t *n);
/* The page (fuzz_report_html.c) of the series p[0..n) and r's crashes, to f. */
void sd__fuzz_report_html(FILE *f, const struct sd__fuzz_report *r, const struct report_point *p,
			  size_t n);

#endif
