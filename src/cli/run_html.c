/* sockdrill run --html: every run's calls as a timeline, one self-contained page (html.c). */
#include <stdio.h>
#include <stdlib.h>

#include <sockdrill/sockdrill.h>

#include "cli.h"
#include "html.h"
#include "run.h"

struct html_writer {
	struct run_writer w; /* first: the writer is this */
	struct run_report file;
	FILE *m; /* the runs so far, in JSON */
	char *text;
	size_t len;
	int n;                     /* runs written */
	int virt[2];               /* each backend's clock is virtual */
	struct sd_html_events *ev; /* the run loop's collections (run_cfg.html) */
};

/* One backend's run of a file: its outcome, its steps and its calls. */
static void html_backend(FILE *f, const struct run_item *it, int b, struct sd_html_events *ev,
			 int virt)
{
	const struct sd_sc_result *r = it->res[b];
	fputs("{\"name\":", f);
	sd__html_str(f, it->backend[b]);
	fprintf(f, ",\"status\":\"%s\",\"virtual\":%s,\"failed_at\":%d,\"message\":",
		r->passed    ? "passed"
		: r->skipped ? "skipped"
			     : "failed",
		virt ? "true" : "false", r->failed_at);
	sd__html_str(f, r->passed ? "" : r->message);
	fputs(",\"reproduce\":", f);
	sd__html_str(f, it->repro[b]);
	fputs(",\"failures\":[", f);
	for (int i = 0; i < r->nfailures; i++)
		fprintf(f, "%s[%d,%d]", i ? "," : "", r->failures[i].line,
			r->failures[i].iteration);
	fputs("],\"outcomes\":[", f);
	for (int i = 0; i < r->n; i++) {
		const struct sd_sc_outcome *o = &r->out[i];
		fprintf(f, "%s{\"l\":%d,\"i\":%d,\"ok\":%d,\"c\":", i ? ",\n" : "", o->line,
			o->iteration, o->ok);
		sd__html_str(f, o->call);
		fputs(",\"g\":", f);
		sd__html_str(f, o->got);
		fputc('}', f);
	}
	fprintf(f, "],\"dropped\":%ld,\"events\":[\n%s]}", ev->dropped, sd__html_events_text(ev));
}

static void html_item(struct run_writer *w, const struct run_item *it)
{
	struct html_writer *h = (struct html_writer *)w;
	FILE *f = h->m;
	fputs(h->n++ ? ",\n{\"file\":" : "{\"file\":", f);
	sd__html_str(f, it->file);
	fprintf(f, ",\"seed\":%llu,\"compared\":%s,\"differs\":[", (unsigned long long)it->seed,
		it->compared ? "true" : "false");
	int diverged = 0;
	if (it->compared) { /* every step whose outcome differs, not only the first few */
		int n = it->res[0]->n < it->res[1]->n ? it->res[0]->n : it->res[1]->n;
		int *idx = n ? malloc(sizeof *idx * (size_t)n) : NULL;
		int k = idx ? sd__run_differing_steps(it->res[0], it->res[1], idx, n, &diverged)
			    : 0;
		for (int j = 0; j < k; j++)
			fprintf(f, "%s%d", j ? "," : "", idx[j]);
		free(idx);
	}
	fprintf(f, "],\"diverged\":%s,\"backends\":[", diverged ? "true" : "false");
	for (int b = 0; b < it->nres; b++) {
		fputs(b ? ",\n" : "", f);
		html_backend(f, it, b, &h->ev[b], h->virt[b]);
	}
	fputs("]}", f);
}

static void html_malformed(struct run_writer *w, const char *file, const char *err)
{
	(void)w, (void)file, (void)err; /* a file that did not load has no calls to draw */
}

static void html_free(struct html_writer *h)
{
	if (h->m)
		fclose(h->m);
	free(h->text);
	free(h);
}

static void html_discard(struct run_writer *w)
{
	struct html_writer *h = (struct html_writer *)w;
	sd__run_report_discard(&h->file);
	html_free(h);
}

static int html_finish(struct run_writer *w, const struct run_totals *t)
{
	struct html_writer *h = (struct html_writer *)w;
	fprintf(h->m, "\n],\"passed\":%d,\"failed\":%d,\"skipped\":%d,\"malformed\":%d}", t->passed,
		t->failed, t->skipped, t->malformed);
	int bad = fclose(h->m) != 0;
	h->m = NULL;
	char *page = NULL;
	size_t len = 0;
	FILE *p = bad ? NULL : open_memstream(&page, &len);
	bad = !p || sd__html_page(p, "sockdrill run: timeline", h->text, h->len) < 0;
	bad |= p && fclose(p) != 0;
	if (bad) {
		free(page);
		sd__usage_error("run", "out of memory");
		html_discard(w);
		return -1;
	}
	int rc = sd__run_report_commit(&h->file, page, len);
	free(page);
	html_free(h);
	return rc;
}

struct run_writer *sd__run_html(const char *path, const struct run_cfg *cfg)
{
	static const struct run_writer methods = {.malformed = html_malformed,
						  .item = html_item,
						  .finish = html_finish,
						  .discard = html_discard};
	struct html_writer *h = (struct html_writer *)sd__run_writer_new(sizeof *h, &methods);
	if (!h)
		return NULL;
	if (sd__run_report_open(&h->file, "--html", path) < 0) {
		free(h);
		return NULL;
	}
	if (!(h->m = open_memstream(&h->text, &h->len))) {
		sd__usage_error("run", "out of memory");
		html_discard(&h->w);
		return NULL;
	}
	for (int b = 0; b < 2; b++)
		h->virt[b] = !!(cfg->caps[b] & SD_CAP_VIRTUAL_TIME);
	h->ev = cfg->html;
	fputs("{\"kind\":\"run\",\"runs\":[\n", h->m);
	return &h->w;
}
