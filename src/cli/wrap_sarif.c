/* sockdrill wrap --run --sarif: the findings against a server as SARIF results. */
#include <limits.h>
#include <stdio.h>

#include "sarif.h"
#include "wrap.h"

void sd__wrap_sarif_steps(const struct sd__wrap *w, int i, const struct sd_sc_result *r,
			  const char *repro, struct sd__sarif_where *blame)
{
	char text[640], key[32];
	for (int k = 0; w->sarif && k < r->nfailures; k++) {
		const struct sd_sc_failure *f = &r->failures[k];
		struct sd__sarif_where at = {.file = w->runs[i], .line = f->line};
		snprintf(text, sizeof text, "%s (against %s)", f->message, w->cargv[0]);
		snprintf(key, sizeof key, "%d", f->iteration);
		sd__sarif_add(w->sarif, f->time_bound ? "run-time-limit" : "scenario-step-failed",
			      text, repro, &at, key);
		if (!blame->file)
			*blame = at;
	}
}

void sd__wrap_sarif_server(const struct sd__wrap *w, const char *rule, const char *text,
			   const char *errpath, const char *repro,
			   const struct sd__sarif_where *blame)
{
	char file[PATH_MAX], kind[128], what[512], msg[1024];
	struct sd__sarif_where at = {.file = w->runs[0]};
	if (!w->sarif)
		return;
	/* a sanitizer's report: its kind is the rule, its words the text */
	if (!rule && sd__finding_kind(errpath, kind, what, sizeof what) == 0) {
		rule = kind;
		snprintf(msg, sizeof msg, "%s: %s", text, what);
		text = msg;
	}
	if (!sd__finding_frame(errpath, sd__sarif_root(w->sarif), &at, file, sizeof file) &&
	    blame->file)
		at = *blame;
	sd__sarif_add(w->sarif, rule ? rule : "crash", text, repro, &at, w->cargv[0]);
}
