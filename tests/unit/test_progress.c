/* The CLI's progress line (src/cli/progress.c) on a fake clock, into a memory stream: what it
 * draws and when, on a terminal and in a log; no test reads the wall clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_test.h"

#include "../../src/cli/progress.h"

const char sd_unit_module[] = "progress";

struct fake {
	double t;
	char *buf;
	size_t len;
	FILE *out;
};

static double fake_now(void *arg) { return ((struct fake *)arg)->t; }

/* p on the fake clock at 100 s, writing to f's stream; begun. */
static void begin(struct sd__progress *p, struct fake *f, long total, int tty, int quiet)
{
	unsetenv(SD__PROGRESS_PERIOD_ENV);
	f->t = 100;
	f->out = open_memstream(&f->buf, &f->len);
	assert_non_null(f->out);
	*p = (struct sd__progress){.out = f->out,
				   .what = "run",
				   .unit = "files",
				   .finding = "failed",
				   .total = total,
				   .tty = tty,
				   .quiet = quiet,
				   .now = fake_now,
				   .now_arg = f,
				   .cols = 200};
	sd__progress_begin(p);
}

/* What was written so far (the stream flushed). */
static const char *text(struct fake *f)
{
	fflush(f->out);
	return f->buf;
}

static void done(struct fake *f)
{
	fclose(f->out);
	free(f->buf);
}

static void format_gives_rate_and_time_left_once_known(void **state)
{
	(void)state;
	struct sd__progress p;
	struct fake f;
	char line[256];
	begin(&p, &f, 115, 0, 0);
	p.done = 1;
	sd__progress_format(&p, 105, line, sizeof line); /* one item: no rate yet */
	assert_string_equal(line, "run: 1/115 files · 0 failed");
	p.done = 2;
	sd__progress_format(&p, 100.5, line, sizeof line); /* under a second: none either */
	assert_string_equal(line, "run: 2/115 files · 0 failed");
	p.done = 37, p.findings = 1;
	sd__progress_format(&p, 103, line, sizeof line); /* 78 left at 12.33/s: 6.3 s, up */
	assert_string_equal(line, "run: 37/115 files · 12.3/s · 7 s left · 1 failed");
	p.done = 10;
	sd__progress_format(&p, 200, line, sizeof line); /* 105 left at 0.1/s */
	assert_string_equal(line, "run: 10/115 files · 0.1/s · 17 min 30 s left · 1 failed");
	p.done = 115;
	sd__progress_format(&p, 200, line, sizeof line); /* done: no time left */
	assert_string_equal(line, "run: 115/115 files · 1.1/s · 1 failed");
	done(&f);
}

static void terminal_line_is_redrawn_in_place_at_most_ten_times_a_second(void **state)
{
	(void)state;
	struct sd__progress p;
	struct fake f;
	begin(&p, &f, 3, 1, 0);
	assert_string_equal(text(&f), "\rrun: 0/3 files · 0 failed\033[K"); /* at once */
	f.t += 0.05;
	sd__progress_step(&p, 1, 0); /* too soon */
	assert_string_equal(text(&f), "\rrun: 0/3 files · 0 failed\033[K");
	f.t += 0.1;
	sd__progress_step(&p, 1, 1);
	assert_string_equal(text(&f), "\rrun: 0/3 files · 0 failed\033[K"
				      "\rrun: 1/3 files · 1 failed\033[K");
	sd__progress_hide(&p); /* other output follows: erased, then drawn again at once */
	sd__progress_step(&p, 2, 1);
	f.t += 0.01;
	sd__progress_step(&p, 3, 1); /* the last one, however soon */
	sd__progress_end(&p);
	assert_string_equal(text(&f), "\rrun: 0/3 files · 0 failed\033[K"
				      "\rrun: 1/3 files · 1 failed\033[K"
				      "\r\033[K"
				      "\rrun: 2/3 files · 1 failed\033[K"
				      "\rrun: 3/3 files · 1 failed\033[K"
				      "\r\033[K");
	done(&f);
}

static void terminal_line_is_cut_to_the_width(void **state)
{
	(void)state;
	struct sd__progress p;
	struct fake f;
	begin(&p, &f, 3, 0, 0);
	p.tty = 1, p.cols = 8;
	sd__progress_put(&p, "run: 0/3 files");
	assert_string_equal(text(&f), "\rrun: 0/3\033[K");
	done(&f);
}

static void log_gets_a_plain_line_every_period_and_none_in_a_short_run(void **state)
{
	(void)state;
	struct sd__progress p;
	struct fake f;
	begin(&p, &f, 4, 0, 0);
	f.t += 9.9;
	sd__progress_step(&p, 4, 0); /* the whole run under 10 s: nothing */
	sd__progress_end(&p);
	assert_string_equal(text(&f), "");
	done(&f);
	begin(&p, &f, 40, 0, 0);
	for (int i = 1; i <= 40; i++) {
		f.t += 1;
		sd__progress_step(&p, i, i / 20);
	}
	sd__progress_end(&p);
	assert_string_equal(text(&f), "run: 10/40 files · 1.0/s · 30 s left · 0 failed\n"
				      "run: 20/40 files · 1.0/s · 20 s left · 1 failed\n"
				      "run: 30/40 files · 1.0/s · 10 s left · 1 failed\n"
				      "run: 40/40 files · 1.0/s · 2 failed\n");
	done(&f);
}

static void period_set_for_tests_and_quiet_drops_everything(void **state)
{
	(void)state;
	struct sd__progress p;
	struct fake f;
	begin(&p, &f, 2, 0, 0);
	setenv(SD__PROGRESS_PERIOD_ENV, "0", 1);
	sd__progress_begin(&p); /* 0: a line at every step */
	sd__progress_step(&p, 1, 0);
	sd__progress_step(&p, 2, 0);
	assert_string_equal(text(&f), "run: 1/2 files · 0 failed\nrun: 2/2 files · 0 failed\n");
	done(&f);
	for (int tty = 0; tty < 2; tty++) {
		begin(&p, &f, 2, tty, 1);
		setenv(SD__PROGRESS_PERIOD_ENV, "0", 1);
		sd__progress_begin(&p);
		f.t += 60;
		sd__progress_step(&p, 1, 1);
		sd__progress_hide(&p);
		sd__progress_step(&p, 2, 1);
		sd__progress_end(&p);
		assert_string_equal(text(&f), "");
		done(&f);
	}
	unsetenv(SD__PROGRESS_PERIOD_ENV);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(format_gives_rate_and_time_left_once_known),
	T(terminal_line_is_redrawn_in_place_at_most_ten_times_a_second),
	T(terminal_line_is_cut_to_the_width),
	T(log_gets_a_plain_line_every_period_and_none_in_a_short_run),
	T(period_set_for_tests_and_quiet_drops_everything),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
