/* sockdrill CLI internals: subcommand table entries and argument helpers. */
#ifndef SD_CLI_H
#define SD_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses shared by every subcommand. */
enum { SD_EXIT_OK = 0, SD_EXIT_CHECK = 1, SD_EXIT_USAGE = 2 };

/* Prints "sockdrill CMD: message" on stderr and returns SD_EXIT_USAGE. */
int sd__usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict decimal parse of `text` into [min, max]; 0 or -1 (with the message printed). */
int sd__parse_num(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
		  uint64_t *out);
/* argv (NULL-terminated) as one shell command line, each word quoted where the shell would
 * otherwise split or expand it: a malloc'd string, or NULL when out of memory. */
char *sd__shell_cmd(const char *const argv[]);

/* The whole command line (main.c; src/cli/entry.c's main calls it): a program that links the
 * CLI's objects, such as a test that registers a backend first, runs commands through it. */
int sd__cli_main(int argc, char **argv);

int sd__cmd_demo(int argc, char **argv);
int sd__cmd_run(int argc, char **argv);
int sd__cmd_wrap(int argc, char **argv);
int sd__cmd_fuzz(int argc, char **argv);
int sd__cmd_repro(int argc, char **argv);

/* The fuzzer binary for TARGET (a built-in target, built for `engine`, or the path of one)
 * into exe, its name into name (both PATH_MAX), as fuzz and repro take it: 0, or -1 with
 * the message printed. */
int sd__fuzz_target(const char *cmd, const char *t, const char *engine, char *root, char *exe,
		    char *name);
/* Copies a file to stderr. */
void sd__show_file(const char *path);
/* sockdrill run --inproc TARGET FILE...: each file replayed against the in-process server of
 * TARGET, on its sim (docs/inproc.md): the exit status. */
int sd__run_inproc(const char *target, const char *engine, char *const files[], int nfiles,
		   const char *seed, int verbose, int max_time_s);
/* After repro ran TARGET with SOCKDRILL_SCENARIO_OUT=out_abs (its stderr in errpath, its
 * status rc): the finding noted in the file, the file checked, the replay commands printed.
 * 0, or SD_EXIT_USAGE with the message printed. */
int sd__repro_scenario(const char *target, const char *out, const char *out_abs,
		       const char *errpath, int rc);
/* repro --html (fuzz_html.c): the run's events (a JSON line each, in `events`) and what it
 * printed (errpath) as a timeline page at out: 0, or SD_EXIT_USAGE (printed). */
int sd__repro_html(const char *out, const char *target, const char *file, const char *engine,
		   const char *events, const char *errpath, int rc);
/* One of sockdrill's libraries, `file` (libsockdrill_preload.so, ...): the path the
 * environment variable `env` names, else the first readable one beside this program or in
 * ../lib, ../lib64 or ../lib/x86_64-linux-gnu from it (an installed layout). 0 with it in out,
 * or -1. */
int sd__find_library(const char *env, const char *file, char *out, size_t size);

#endif
