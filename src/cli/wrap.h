/* sockdrill wrap: what its files share (wrap.c the command, wrap_prog.c the program,
 * wrap_server.c --run, wrap_stats.c the summary). */
#ifndef SD_CLI_WRAP_H
#define SD_CLI_WRAP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

struct run_writer;
struct sd_html_events;
struct sd__sarif;

/* One wrap of a program, as the command line and the --run files set it. */
struct sd__wrap {
	const char *prog;          /* the program file (resolved from CMD) */
	char **cargv;              /* CMD's words, {port} replaced */
	int port;                  /* {port}, -1 when CMD has none */
	const char *faults;        /* the spec the program gets */
	struct sd_fault_spec used; /* ... parsed */
	uint64_t seed, timeout, logmax;
	const char *pidfile; /* --pidfile, or NULL */
	const char *logpath; /* --log made absolute, or NULL */
	int quiet;
	const char *const *runs;  /* the --run files ... */
	struct sd_scenario **scs; /* ... loaded */
	int nruns;                /* ... and how many */
	char statspath[PATH_MAX]; /* the counts file the summary reads, "" for none */
	/* --html: the page's writer (run_html.c, told each --run file's run on real) and the
	 * calls of the file being run; NULL without */
	struct run_writer *html;
	struct sd_html_events *events;
	const char *repro;       /* the command that reproduces the wrap ("" out of memory) */
	int ran, passed, failed; /* --html: the --run files' verdicts, for the page's totals */
	struct sd__sarif *sarif; /* --sarif: the log of the findings, or NULL */
};

/* wrap_prog.c: the program file for argv0 (a path, or searched in PATH) into out: 0 or -1. */
int sd__wrap_resolve(const char *argv0, char *out, size_t size);
/* 1 for an ELF program without an interpreter (static), 0 for dynamic or not ELF. */
int sd__wrap_is_static(const char *path);
/* The ASan runtime a program built with gcc's ASan needs first in LD_PRELOAD: 0 with its path
 * in out, or -1 when the program has none. */
int sd__wrap_asan_runtime(const char *prog, char *out, size_t size);
/* CMD's words (argc of argv) with {port} replaced by a free loopback port, which goes into
 * *port (-1 when no word has {port}): a calloc'd NULL-ended array, or NULL with the message
 * printed. */
char **sd__wrap_command(int argc, char **argv, int *port);
/* Without --run: runs the program, waits, prints the summary: its exit status (128 + signal). */
int sd__wrap_plain(struct sd__wrap *w);

/* wrap_server.c: --run: starts the server, waits for it to listen, runs the scenarios, stops
 * it and judges how it ended: the exit status. argc, argv: sockdrill wrap's own, for the
 * command that reproduces a finding. */
int sd__wrap_serve(struct sd__wrap *w, int argc, char **argv);
/* sockdrill wrap's own command line, quoted for a shell: malloc'd, NULL out of memory. */
char *sd__wrap_repro_cmd(int argc, char **argv);

/* wrap_sarif.c: --sarif. A --run file's failed steps (file i of w->runs, its result r) as
 * results, each at its line; `blame` remembers the first one's place. */
struct sd__sarif_where;
void sd__wrap_sarif_steps(const struct sd__wrap *w, int i, const struct sd_sc_result *r,
			  const char *repro, struct sd__sarif_where *blame);
/* A finding of the server's own (rule, text): at the first frame of its sanitizer report (its
 * stderr in errpath) in the code under test, else at the first failed step (blame), else at
 * the first --run file. */
void sd__wrap_sarif_server(const struct sd__wrap *w, const char *rule, const char *text,
			   const char *errpath, const char *repro,
			   const struct sd__sarif_where *blame);

/* wrap_stats.c: creates the counts file the preload writes (SOCKDRILL_STATS names it): 0 with
 * its path in path, or -1 (no summary: the program runs all the same). */
int sd__wrap_stats_create(char *path, size_t size);
/* Prints the summary on stderr (unless quiet), appends the log's last line when it reached
 * its cap, and removes the counts file. Called once the program (and all it started) ended. */
void sd__wrap_stats_report(char *path, const struct sd_fault_spec *sp, const char *logpath,
			   uint64_t logmax, int quiet);

#endif
