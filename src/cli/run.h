/* sockdrill run: what its files share: the paths, the run, the report writers. */
#ifndef SD_CLI_RUN_H
#define SD_CLI_RUN_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

#include "report.h" /* the report files (--junit, --json) */

/* ---- run_paths.c: the scenario files the PATH arguments name ----------------------------- */

struct run_files {
	char **v;
	int n, cap;
};

/* Adds the files of one PATH argument: a directory's .sd files in name order, or the file
 * itself. 0, or -1 with the message printed. */
int sd__run_add_path(struct run_files *f, const char *arg);
void sd__run_files_free(struct run_files *f);

/* ---- run.c and run_loop.c: the run ----------------------------------------------------------- */

/* The run the command line asked for. */
struct run_cfg {
	const char *backend; /* a registered backend's name, or "both" */
	const char *runs[2]; /* the backends each file runs on: one, or sim and real */
	unsigned caps[2];    /* their SD_CAP_* */
	int both, verbose;
	int quiet; /* --quiet: no progress line */
	struct sd_sc_options opt;
	struct sd_fault_spec faults; /* --faults, parsed (opt.faults points here) */
	const char *faults_text;     /* --faults as given, for the reproduce command */
	const char *target;          /* --target as given */
	FILE *trace[2];              /* --trace: each backend's (runs[b]) file, or NULL */
	/* --html: each backend's calls of the file being run, for the page's writer; or NULL */
	struct sd_html_events *html;
};

/* One file's runs, as the writers see them. */
struct run_item {
	const char *file;
	int steps;
	uint64_t seed;
	int nres;               /* backends run: 1, or 2 on both */
	const char *backend[2]; /* cfg->runs */
	const struct sd_sc_result *res[2];
	const char *repro[2]; /* the command that reproduces each run ("" if none) */
	int compared;         /* both backends ran the file: sim and real compared */
	const char *side;     /* their side-by-side report (NULL: out of memory) */
};

/* What the whole run counted. */
struct run_totals {
	int files, malformed, passed, failed, skipped;
	int per_passed[2], per_failed[2], per_skipped[2];
	double seconds;
};

/* Every file of the list on every backend of cfg, told to the writers: SD_EXIT_OK,
 * SD_EXIT_CHECK or SD_EXIT_USAGE. */
struct run_writer;
struct sd_html_events;
int sd__run_loop(const struct run_cfg *cfg, const struct run_files *files,
		 struct run_writer *const w[], int nw);

/* ---- the report writers: run_console.c, run_json.c, run_junit.c,
 * run_sarif.c-------------------------- */

/* A writer of the run's results: the console, a JSON document, JUnit XML. Each member is
 * called in this order: `malformed` or `item` once per file, then `finish` once, or `discard`
 * instead when the run stops at an error. `finish` returns 0, or -1 with the message printed;
 * `discard` leaves a report file as it was. Both free the writer. */
struct run_writer {
	void (*malformed)(struct run_writer *w, const char *file, const char *err);
	void (*item)(struct run_writer *w, const struct run_item *it);
	int (*finish)(struct run_writer *w, const struct run_totals *t);
	void (*discard)(struct run_writer *w);
};

/* A writer's state of `size` bytes, zeroed, which starts with its methods: NULL when out of
 * memory (with the message printed). */
struct run_writer *sd__run_writer_new(size_t size, const struct run_writer *methods);

/* NULL when out of memory (with the message printed). */
struct run_writer *sd__run_console(const struct run_cfg *cfg);
/* The writers of report files: the file (`opt`'s) is checked before anything runs, and
 * written only when the run is complete. NULL with the message printed. */
struct run_writer *sd__run_json(const char *path);
struct run_writer *sd__run_junit(const char *path);
/* --html: the calls of every run as a timeline (run_html.c), collected in cfg->html, which
 * must be set (two collections) before the writer is made. */
struct run_writer *sd__run_html(const char *path, const struct run_cfg *cfg);
/* run_sarif.c: each failed step, difference and malformed file as a SARIF result. */
struct run_writer *sd__run_sarif(const char *path);

/* ---- run_side.c: sim and real side by side --------------------------------------------------- */

enum { SD_RUN_SIDE_LIMIT = 8 };

/* Steps whose backend-independent outcome differs between a (sim) and b (real): their
 * indices into out[], at most `limit`; *diverged is set when the runs took different paths
 * (a different step at the same index, or a different number of steps). */
int sd__run_differing_steps(const struct sd_sc_result *a, const struct sd_sc_result *b, int *idx,
			    int limit, int *diverged);
/* The side-by-side report of those steps, as `sockdrill run` prints it (malloc'd; NULL when
 * out of memory). */
char *sd__run_side_by_side(const struct sd_sc_result *a, const struct sd_sc_result *b);

#endif
