/* sockdrill run: what it prints: a line per file, its failures, and the run's summary. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "run.h"

struct console_writer {
	struct run_writer w; /* first: the writer is this */
	const struct run_cfg *cfg;
};

static void print_steps(const char *backend, const struct sd_sc_result *r)
{
	for (int i = 0; i < r->n; i++) {
		const struct sd_sc_outcome *o = &r->out[i];
		if (o->iteration >= 0)
			printf("    %-4s line %-4d #%-4d %-52s => %s%s\n", backend, o->line,
			       o->iteration, o->call, o->got, o->ok ? "" : "   <-- FAILED");
		else
			printf("    %-4s line %-4d       %-52s => %s%s\n", backend, o->line,
			       o->call, o->got, o->ok ? "" : "   <-- FAILED");
	}
}

/* A run that did not pass: why, every failure when it kept going, and its command. */
static void print_failures(const char *backend, const struct sd_sc_result *r, const char *repro)
{
	printf("      %s: %s\n", backend, r->message);
	for (int k = 1; k < r->nfailures; k++) /* --keep-going: the others */
		printf("      %s: %s\n", backend, r->failures[k].message);
	if (r->nfailed > r->nfailures)
		printf("      %s: (%d more failed steps not listed)\n", backend,
		       r->nfailed - r->nfailures);
	if (!r->skipped)
		printf("      reproduce: %s\n", *repro ? repro : "(out of memory)");
}

static void console_item(struct run_writer *w, const struct run_item *it)
{
	const struct run_cfg *cfg = ((struct console_writer *)w)->cfg;
	int ok_all = 1, nskip = 0;
	char took[2][32];
	for (int b = 0; b < it->nres; b++) {
		const struct sd_sc_result *r = it->res[b];
		ok_all &= r->passed || r->skipped;
		nskip += r->skipped;
		if (r->skipped)
			snprintf(took[b], sizeof took[b], "%s n/a", it->backend[b]);
		else
			snprintf(took[b], sizeof took[b], "%s %.3f s", it->backend[b], r->seconds);
	}
	/* n/a: not applicable on every backend it was to run on */
	const char *word = !ok_all ? "FAIL" : nskip == it->nres ? "n/a" : "ok";
	if (cfg->both)
		printf("%-4s %s  (%s, %s, %d steps)\n", word, it->file, took[0], took[1],
		       it->steps);
	else
		printf("%-4s %s  (%s, %d steps)\n", word, it->file, took[0], it->steps);
	for (int b = 0; b < it->nres; b++) {
		if (cfg->verbose)
			print_steps(it->backend[b], it->res[b]);
		if (!it->res[b]->passed)
			print_failures(it->backend[b], it->res[b], it->repro[b]);
	}
	if (it->compared && it->side)
		fputs(it->side, stdout);
}

/* The file's error is printed where it is found (run_loop.c): stderr, before its line. */
static void console_malformed(struct run_writer *w, const char *file, const char *err)
{
	(void)w, (void)file, (void)err;
}

static int console_finish(struct run_writer *w, const struct run_totals *t)
{
	const struct run_cfg *cfg = ((struct console_writer *)w)->cfg;
	printf("run: %d scenario files on %s, %.2f s", t->files,
	       cfg->both ? "sim and real" : cfg->backend, t->seconds);
	for (int b = 0; b < 2 && cfg->runs[b]; b++) {
		printf("; %s: %d passed, %d failed", cfg->runs[b], t->per_passed[b],
		       t->per_failed[b]);
		if (t->per_skipped[b])
			printf(", %d not applicable", t->per_skipped[b]);
	}
	if (t->malformed)
		printf("; %d malformed", t->malformed);
	printf("\n");
	/* "N passed, N failed[, N skipped]": the closing line test runners' readers know */
	printf("scenarios: %d passed, %d failed", t->passed, t->failed);
	if (t->skipped)
		printf(", %d skipped", t->skipped);
	printf("\n");
	free(w);
	return 0;
}

static void console_discard(struct run_writer *w) { free(w); }

struct run_writer *sd__run_console(const struct run_cfg *cfg)
{
	static const struct run_writer methods = {.malformed = console_malformed,
						  .item = console_item,
						  .finish = console_finish,
						  .discard = console_discard};
	struct console_writer *c = (struct console_writer *)sd__run_writer_new(sizeof *c, &methods);
	if (!c)
		return NULL;
	c->cfg = cfg;
	return &c->w;
}
