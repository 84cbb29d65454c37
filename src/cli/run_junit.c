/* sockdrill run --junit: JUnit XML, one test case per scenario file and backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run.h"

/* One backend's run of one file, kept until the end: the XML counts come first. */
struct verdict {
	const char *file, *backend; /* the run's list and the configuration's: they outlive us */
	int passed, skipped;
	double seconds;
	char message[640];
	char *details; /* every failure, one a line (malloc'd), or NULL for message alone */
};

struct junit_writer {
	struct run_writer w; /* first: the writer is this */
	struct run_report file;
	struct verdict *v;
	int n, cap;
	int oom; /* a verdict could not be kept */
};

void sd__xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fprintf(f, "&#%d;",
				ch == '\r' ? 13 : 63); /* XML 1.0 forbids most controls */
		else
			fputc(ch, f);
	}
}

static void write_case(FILE *f, const struct verdict *v, const char *backend)
{
	fprintf(f, "    <testcase classname=\"sockdrill.%s\" name=\"", backend);
	sd__xml_text(f, v->file);
	fprintf(f, "\" time=\"%.6f\"", v->seconds);
	if (v->passed) {
		fprintf(f, "/>\n");
		return;
	}
	if (v->skipped) {
		fprintf(f, ">\n      <skipped message=\"");
		sd__xml_text(f, v->message);
		fprintf(f, "\"/>\n    </testcase>\n");
		return;
	}
	fprintf(f, ">\n      <failure message=\"");
	sd__xml_text(f, v->message);
	fprintf(f, "\">");
	sd__xml_text(f, v->details ? v->details : v->message);
	fprintf(f, "</failure>\n    </testcase>\n");
}

static void write_junit(FILE *f, const struct verdict *v, int n)
{
	int failures = 0, skips = 0;
	double total = 0;
	for (int i = 0; i < n; i++)
		failures += !v[i].passed && !v[i].skipped, skips += v[i].skipped,
			total += v[i].seconds;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<testsuites name=\"sockdrill\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" "
		"time=\"%.6f\">\n",
		n, failures, skips, total);
	/* one suite per backend, in the order the run used them (sim, then real, on both) */
	for (int b = 0; b < n; b++) {
		const char *backend = v[b].backend;
		int tests = 0, fails = 0, skipped = 0, seen = 0;
		double t = 0;
		for (int i = 0; i < b && !seen; i++)
			seen = !strcmp(v[i].backend, backend);
		if (seen)
			continue;
		for (int i = b; i < n; i++)
			if (!strcmp(v[i].backend, backend))
				tests++, fails += !v[i].passed && !v[i].skipped,
					skipped += v[i].skipped, t += v[i].seconds;
		fprintf(f,
			"  <testsuite name=\"sockdrill.%s\" tests=\"%d\" failures=\"%d\" "
			"errors=\"0\" skipped=\"%d\" time=\"%.6f\">\n",
			backend, tests, fails, skipped, t);
		for (int i = b; i < n; i++)
			if (!strcmp(v[i].backend, backend))
				write_case(f, &v[i], backend);
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
}

/* Every failure of a run kept going, one a line, for a JUnit failure's text (malloc'd); NULL
 * when there is only one, which the message says. */
static char *failure_lines(const struct sd_sc_result *r)
{
	char *text = NULL;
	size_t len = 0;
	if (r->nfailures < 2)
		return NULL;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	for (int i = 0; i < r->nfailures; i++)
		fprintf(m, "%s\n", r->failures[i].message);
	if (r->nfailed > r->nfailures)
		fprintf(m, "(%d more failed steps not listed)\n", r->nfailed - r->nfailures);
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void junit_item(struct run_writer *w, const struct run_item *it)
{
	struct junit_writer *j = (struct junit_writer *)w;
	for (int b = 0; b < it->nres; b++) {
		if (j->n == j->cap) {
			int cap = j->cap ? j->cap * 2 : 64;
			struct verdict *g = realloc(j->v, (size_t)cap * sizeof *g);
			if (!g) {
				j->oom = 1;
				return;
			}
			j->v = g, j->cap = cap;
		}
		const struct sd_sc_result *r = it->res[b];
		struct verdict *v = &j->v[j->n++];
		*v = (struct verdict){.file = it->file,
				      .backend = it->backend[b],
				      .passed = r->passed,
				      .skipped = r->skipped,
				      .seconds = r->seconds,
				      .details = failure_lines(r)};
		snprintf(v->message, sizeof v->message, "%s", r->message);
	}
}

/* A file that did not load has no test case: it is counted in the run's summary. */
static void junit_malformed(struct run_writer *w, const char *file, const char *err)
{
	(void)w, (void)file, (void)err;
}

static void junit_free(struct junit_writer *j)
{
	for (int i = 0; i < j->n; i++)
		free(j->v[i].details);
	free(j->v);
	free(j);
}

static void junit_discard(struct run_writer *w)
{
	struct junit_writer *j = (struct junit_writer *)w;
	sd__run_report_discard(&j->file);
	junit_free(j);
}

static int junit_finish(struct run_writer *w, const struct run_totals *t)
{
	struct junit_writer *j = (struct junit_writer *)w;
	char *text = NULL;
	size_t len = 0;
	FILE *m = j->oom ? NULL : open_memstream(&text, &len);
	(void)t;
	if (m)
		write_junit(m, j->v, j->n);
	if (!m || fclose(m) != 0) {
		sd__usage_error("run", "out of memory");
		free(text);
		junit_discard(w);
		return -1;
	}
	int rc = sd__run_report_commit(&j->file, text, len);
	free(text);
	junit_free(j);
	return rc;
}

struct run_writer *sd__run_junit(const char *path)
{
	static const struct run_writer methods = {.malformed = junit_malformed,
						  .item = junit_item,
						  .finish = junit_finish,
						  .discard = junit_discard};
	struct junit_writer *j = (struct junit_writer *)sd__run_writer_new(sizeof *j, &methods);
	if (!j)
		return NULL;
	if (sd__run_report_open(&j->file, "--junit", path) < 0) {
		free(j);
		return NULL;
	}
	return &j->w;
}
