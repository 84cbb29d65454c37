/* sockdrill run --sarif: each failed step, side-by-side difference and malformed file as a SARIF
 * result at its scenario file and line (sarif.c writes the log). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run.h"
#include "sarif.h"

struct sarif_writer {
	struct run_writer w; /* first: the writer is this */
	struct sd__sarif *log;
};

/* One backend's failed steps, each a result at its line (or the file's, for a failure no step
 * is to blame for). */
static void failed_run(struct sd__sarif *log, const struct run_item *it, int b)
{
	const struct sd_sc_result *r = it->res[b];
	char text[640], key[64];
	for (int i = 0; i < r->nfailures || (i == 0 && !r->nfailures); i++) {
		const struct sd_sc_failure *f = r->nfailures ? &r->failures[i] : NULL;
		struct sd__sarif_where at = {.file = it->file, .line = f ? f->line : 0};
		snprintf(text, sizeof text, "%s (on %s)", f ? f->message : r->message,
			 it->backend[b]);
		/* the place and the backend tell one failure from another, never its text: what
		 * the kernel gave may differ from run to run */
		snprintf(key, sizeof key, "%s %d", it->backend[b], f ? f->iteration : -1);
		sd__sarif_add(log, f && f->time_bound ? "run-time-limit" : "scenario-step-failed",
			      text, it->repro[b], &at, key);
	}
}

/* The steps whose outcomes differ between sim and real, each a result at its line. */
static void differences(struct sd__sarif *log, const struct run_item *it)
{
	const struct sd_sc_result *sim = it->res[0], *real = it->res[1];
	int idx[SD_RUN_SIDE_LIMIT], diverged;
	int k = sd__run_differing_steps(sim, real, idx, SD_RUN_SIDE_LIMIT, &diverged);
	char text[512], key[32], *repro = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&repro, &len);
	if (m) { /* both runs' commands: the difference is between them */
		fprintf(m, "%s\nreproduce: %s", it->repro[0], it->repro[1]);
		if (fclose(m) != 0)
			free(repro), repro = NULL;
	}
	for (int j = 0; j < k; j++) {
		const struct sd_sc_outcome *x = &sim->out[idx[j]], *y = &real->out[idx[j]];
		struct sd__sarif_where at = {.file = it->file, .line = x->line};
		if (x->iteration >= 0)
			snprintf(text, sizeof text,
				 "%s:%d: %s (iteration %d): sim gave %s, real %s", it->file,
				 x->line, x->call, x->iteration, x->got, y->got);
		else
			snprintf(text, sizeof text, "%s:%d: %s: sim gave %s, real %s", it->file,
				 x->line, x->call, x->got, y->got);
		snprintf(key, sizeof key, "%d", x->iteration);
		sd__sarif_add(log, "side-by-side-difference", text, repro, &at, key);
	}
	free(repro);
}

static void sarif_item(struct run_writer *w, const struct run_item *it)
{
	struct sd__sarif *log = ((struct sarif_writer *)w)->log;
	for (int b = 0; b < it->nres; b++)
		if (!it->res[b]->passed && !it->res[b]->skipped)
			failed_run(log, it, b);
	if (it->compared)
		differences(log, it);
}

/* The error names its place first, "FILE:LINE:COL: ..." (or "FILE:LINE: ...", or none). */
static void sarif_malformed(struct run_writer *w, const char *file, const char *err)
{
	struct sd__sarif *log = ((struct sarif_writer *)w)->log;
	struct sd__sarif_where at = {.file = file};
	size_t n = strlen(file);
	if (!strncmp(err, file, n) && err[n] == ':' &&
	    sscanf(err + n, ":%d:%d", &at.line, &at.col) < 1)
		at.line = at.col = 0;
	const char *av[] = {"./sockdrill", "run", file, NULL};
	char *cmd = sd__shell_cmd(av);
	sd__sarif_add(log, "scenario-malformed", err, cmd, &at, "");
	free(cmd);
}

static int sarif_finish(struct run_writer *w, const struct run_totals *t)
{
	struct sarif_writer *s = (struct sarif_writer *)w;
	int rc = sd__sarif_finish(s->log, "sockdrill-run/", !t->malformed);
	free(s);
	return rc;
}

static void sarif_discard(struct run_writer *w)
{
	struct sarif_writer *s = (struct sarif_writer *)w;
	sd__sarif_discard(s->log);
	free(s);
}

struct run_writer *sd__run_sarif(const char *path)
{
	static const struct run_writer methods = {.malformed = sarif_malformed,
						  .item = sarif_item,
						  .finish = sarif_finish,
						  .discard = sarif_discard};
	struct sarif_writer *s = (struct sarif_writer *)sd__run_writer_new(sizeof *s, &methods);
	if (!s)
		return NULL;
	if (!(s->log = sd__sarif_open("run", path))) {
		free(s);
		return NULL;
	}
	return &s->w;
}
