/* sockdrill CLI: the progress line of a long command (run, wrap --run, demo; fuzz draws its own
 * text through it), on stderr only, so that stdout stays what tests and users parse. */
#ifndef SD_CLI_PROGRESS_H
#define SD_CLI_PROGRESS_H

#include <stdio.h>

/* Tests set it (milliseconds; 0: a line at every step) to see the plain periodic lines without
 * a long run. */
#define SD__PROGRESS_PERIOD_ENV "SOCKDRILL_PROGRESS_PERIOD_MS"

/*
 * One command's progress: "run: 37/115 files · 12.3/s · 6 s left · 1 failed".
 * On a terminal one line redrawn in place at most 10 times a second; elsewhere (a CI log) a
 * plain line at most every 10 s, the first one 10 s after the start, so a short run prints
 * none. Quiet: nothing at all. Before any other output on the same terminal, hide the line
 * (sd__progress_hide); the next step draws it again below that output.
 */
struct sd__progress {
	FILE *out;               /* stderr */
	const char *what, *unit; /* "run", "files" */
	const char *finding;     /* what the count after the last dot is: "failed" */
	long total, done, findings;
	int tty, quiet, drawn;    /* drawn: a line on the terminal now */
	double t0, last, period;  /* the start, the last line drawn, seconds between them */
	double (*now)(void *arg); /* the clock (monotonic seconds): a test's fake one */
	void *now_arg;
	int cols; /* the terminal's width (0: ask it), a test's fixed one */
};

/* Starts p: tty is whether stderr is a terminal (isatty(2)), quiet the command's --quiet. */
void sd__progress_start(struct sd__progress *p, long total, const char *what, const char *unit,
			const char *finding, int tty, int quiet);
/* Starts a p whose fields up to cols are set (a test's clock, stream and width). */
void sd__progress_begin(struct sd__progress *p);
/* done of total so far, findings among them: the line when it is due (on a terminal, always
 * after a hide and when done reaches total). */
void sd__progress_step(struct sd__progress *p, long done, long findings);
/* Erases the line from the terminal before other output (a no-op elsewhere); flushes stdout
 * after that output and before the next step, so the two streams do not interleave. */
void sd__progress_hide(struct sd__progress *p);
/* The end: the line erased, so what follows starts on a clean line. */
void sd__progress_end(struct sd__progress *p);
/* One line of text as a progress line: in place, cut to the terminal's width, on a terminal;
 * a line of its own elsewhere (fuzz's own line goes through it). */
void sd__progress_put(struct sd__progress *p, const char *line);
/* The line p would draw now into buf. */
void sd__progress_format(const struct sd__progress *p, double now, char *buf, size_t size);

#endif
