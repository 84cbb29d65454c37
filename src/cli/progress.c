/* sockdrill CLI: a long command's progress line: in place on a terminal, periodic elsewhere. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../util/util.h"
#include "progress.h"

/* A terminal's line is redrawn at most this often: more is flicker, not news. */
#define PROGRESS_TTY_S 0.1
/* A log gets a line at most this often, the first one this long after the start: a short run
 * (every test's) prints none, so what such runs print on stderr does not change. */
#define PROGRESS_LOG_S 10.0

static double mono(void *arg)
{
	(void)arg;
	return sd__mono_s();
}

void sd__progress_begin(struct sd__progress *p)
{
	const char *env = getenv(SD__PROGRESS_PERIOD_ENV);
	char *end = NULL;
	long ms = env ? strtol(env, &end, 10) : -1;
	/* 0: a line at every step */
	p->period = ms >= 0 && end != env && !*end ? ms / 1000.0 : PROGRESS_LOG_S;
	p->drawn = 0;
	p->t0 = p->last = p->now(p->now_arg);
	if (p->tty && !p->quiet) /* from the start: the first item may be a long one */
		sd__progress_step(p, 0, 0);
}

void sd__progress_start(struct sd__progress *p, long total, const char *what, const char *unit,
			const char *finding, int tty, int quiet)
{
	*p = (struct sd__progress){.out = stderr,
				   .what = what,
				   .unit = unit,
				   .finding = finding,
				   .total = total,
				   .tty = tty,
				   .quiet = quiet,
				   .now = mono};
	sd__progress_begin(p);
}

/* "6 s", "2 min 5 s", "1 h 20 min". */
static void duration(char *out, size_t size, double s)
{
	long t = (long)s;
	t += t < s; /* up: "0 s left" is not yet done */
	if (t < 60)
		sd__textf(out, size, "%ld s", t);
	else if (t < 3600)
		sd__textf(out, size, "%ld min %ld s", t / 60, t % 60);
	else
		sd__textf(out, size, "%ld h %ld min", t / 3600, t / 60 % 60);
}

void sd__progress_format(const struct sd__progress *p, double now, char *buf, size_t size)
{
	char rate[48] = "", left[64] = "";
	double el = now - p->t0;
	/* a rate from one item or less than a second says little: none before */
	if (p->done >= 2 && el >= 1) {
		double r = p->done / el;
		sd__textf(rate, sizeof rate, " · %.1f/s", r);
		if (p->done < p->total) {
			char d[32];
			duration(d, sizeof d, (p->total - p->done) / r);
			sd__textf(left, sizeof left, " · %s left", d);
		}
	}
	sd__textf(buf, size, "%s: %ld/%ld %s%s%s · %ld %s", p->what, p->done, p->total, p->unit,
		  rate, left, p->findings, p->finding);
}

void sd__progress_put(struct sd__progress *p, const char *line)
{
	if (p->tty) {
		struct winsize ws;
		int cols = p->cols;
		if (!cols)
			cols = ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1
				       ? ws.ws_col - 1
				       : 79;
		/* cut to the width: a wrapped line would not be erased by the next \r */
		fprintf(p->out, "\r%.*s\033[K", cols, line);
		p->drawn = 1;
	} else {
		fprintf(p->out, "%s\n", line);
	}
	fflush(p->out);
}

void sd__progress_step(struct sd__progress *p, long done, long findings)
{
	if (p->quiet)
		return;
	p->done = done, p->findings = findings;
	double now = p->now(p->now_arg);
	int due = p->tty ? !p->drawn || done >= p->total || now - p->last >= PROGRESS_TTY_S
			 : now - p->last >= p->period;
	if (!due)
		return;
	char line[512];
	sd__progress_format(p, now, line, sizeof line);
	fflush(stdout); /* what the command printed comes first, above the line */
	sd__progress_put(p, line);
	p->last = now;
}

void sd__progress_hide(struct sd__progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", p->out);
	fflush(p->out);
	p->drawn = 0;
}

void sd__progress_end(struct sd__progress *p) { sd__progress_hide(p); }
