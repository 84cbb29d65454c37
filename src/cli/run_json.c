/* sockdrill run --json: the results as one JSON document (docs/scenarios.md, "JSON results"). */
#include <stdio.h>
#include <stdlib.h>

#include "../util/util.h"
#include "cli.h"
#include "run.h"

struct json_writer {
	struct run_writer w; /* first: the writer is this */
	struct run_report file;
	FILE *m; /* the document so far, in text */
	char *text;
	size_t len;
	int n; /* entries written */
};

static void json_str(FILE *f, const char *s) { sd__json_str(f, s, 0); }

/* The steps of a file compared on sim and real whose outcomes differ: "differs": [...]. */
static void json_differs(FILE *f, const struct sd_sc_result *sim, const struct sd_sc_result *real,
			 const char *side)
{
	int idx[SD_RUN_SIDE_LIMIT], diverged;
	int k = sd__run_differing_steps(sim, real, idx, SD_RUN_SIDE_LIMIT, &diverged);
	fputc('[', f);
	for (int j = 0; j < k; j++) {
		const struct sd_sc_outcome *x = &sim->out[idx[j]], *y = &real->out[idx[j]];
		fprintf(f, "%s{\"line\": %d, \"iteration\": %d, \"call\": ", j ? ", " : "", x->line,
			x->iteration);
		json_str(f, x->call);
		fputs(", \"sim\": ", f);
		json_str(f, x->got);
		fputs(", \"real\": ", f);
		json_str(f, y->got);
		fputc('}', f);
	}
	fprintf(f, "], \"diverged\": %s, \"side_by_side\": ", diverged ? "true" : "false");
	json_str(f, side ? side : "");
}

/* One JSON object for backend b's run of a file. */
static void json_result(FILE *f, const struct run_item *it, int b)
{
	const struct sd_sc_result *r = it->res[b];
	fputs("{\"file\": ", f);
	json_str(f, it->file);
	fprintf(f, ", \"backend\": \"%s\", \"status\": \"%s\", \"seed\": %llu, ", it->backend[b],
		r->passed    ? "passed"
		: r->skipped ? "skipped"
			     : "failed",
		(unsigned long long)it->seed);
	fprintf(f, "\"seconds\": %.6f, \"steps\": %d, \"message\": ", r->seconds, it->steps);
	json_str(f, r->passed ? "" : r->message);
	fputs(", \"failures\": [", f);
	for (int i = 0; i < r->nfailures; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, r->failures[i].message);
	}
	fprintf(f, "], \"failed_steps\": %d", r->nfailed);
	fputs(", \"reproduce\": ", f);
	json_str(f, it->repro[b]);
	fputs(", \"outcomes\": [", f);
	for (int i = 0; i < r->n; i++) {
		const struct sd_sc_outcome *o = &r->out[i];
		fprintf(f,
			"%s{\"line\": %d, \"iteration\": %d, \"ok\": %s, \"call\": ", i ? ", " : "",
			o->line, o->iteration, o->ok ? "true" : "false");
		json_str(f, o->call);
		fputs(", \"got\": ", f);
		json_str(f, o->got);
		fputc('}', f);
	}
	fputs("], \"differs\": ", f);
	if (it->compared)
		json_differs(f, it->res[0], it->res[1], it->side);
	else
		fputs("null", f);
	fputc('}', f);
}

static void json_item(struct run_writer *w, const struct run_item *it)
{
	struct json_writer *j = (struct json_writer *)w;
	for (int b = 0; b < it->nres; b++) {
		fputs(j->n++ ? ",\n" : "", j->m);
		json_result(j->m, it, b);
	}
}

/* A file that did not load: its entry has no backend. */
static void json_malformed(struct run_writer *w, const char *file, const char *err)
{
	struct json_writer *j = (struct json_writer *)w;
	fputs(j->n++ ? ",\n" : "", j->m);
	fputs("{\"file\": ", j->m);
	json_str(j->m, file);
	fputs(", \"backend\": null, \"status\": \"malformed\", \"message\": ", j->m);
	json_str(j->m, err);
	fputc('}', j->m);
}

static void json_free(struct json_writer *j)
{
	if (j->m)
		fclose(j->m);
	free(j->text);
	free(j);
}

static void json_discard(struct run_writer *w)
{
	struct json_writer *j = (struct json_writer *)w;
	sd__run_report_discard(&j->file);
	json_free(j);
}

static int json_finish(struct run_writer *w, const struct run_totals *t)
{
	struct json_writer *j = (struct json_writer *)w;
	fprintf(j->m, "\n], \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"malformed\": %d}\n",
		t->passed, t->failed, t->skipped, t->malformed);
	int bad = fclose(j->m) != 0;
	j->m = NULL;
	if (bad) {
		sd__usage_error("run", "out of memory");
		json_discard(w);
		return -1;
	}
	int rc = sd__run_report_commit(&j->file, j->text, j->len);
	json_free(j);
	return rc;
}

struct run_writer *sd__run_json(const char *path)
{
	static const struct run_writer methods = {.malformed = json_malformed,
						  .item = json_item,
						  .finish = json_finish,
						  .discard = json_discard};
	struct json_writer *j = (struct json_writer *)sd__run_writer_new(sizeof *j, &methods);
	if (!j)
		return NULL;
	if (sd__run_report_open(&j->file, "--json", path) < 0) {
		free(j);
		return NULL;
	}
	if (!(j->m = open_memstream(&j->text, &j->len))) {
		sd__usage_error("run", "out of memory");
		json_discard(&j->w);
		return NULL;
	}
	fputs("{\"version\": 1, \"results\": [\n", j->m);
	return &j->w;
}
