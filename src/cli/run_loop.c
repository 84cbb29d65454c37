/* sockdrill run: each scenario file run on each backend, its results told to the writers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "cli.h"
#include "html.h"
#include "progress.h"
#include "run.h"

/* The shell command that reproduces one backend's run of `file` (malloc'd; NULL when out of
 * memory). */
static char *reproduce_cmd(const struct run_cfg *cfg, int b, uint64_t seed, const char *file)
{
	const char *backend = cfg->runs[b];
	/* the variant and profile went to a backend that takes the sim's configuration (on
	 * both, the host's, as that run gave them) */
	int sim_config = !!(cfg->caps[b] & SD_CAP_SIM_CONFIG);
	const struct sd_sc_options *opt = &cfg->opt;
	char seed_s[24], timeout_s[16], max_s[16];
	const char *av[24]; /* every option below given at once, the file and NULL */
	int n = 0;
	snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
	av[n++] = "./sockdrill", av[n++] = "run", av[n++] = "--backend", av[n++] = backend;
	av[n++] = "--seed", av[n++] = seed_s;
	if (opt->timeout_ms) {
		snprintf(timeout_s, sizeof timeout_s, "%d", opt->timeout_ms);
		av[n++] = "--timeout", av[n++] = timeout_s;
	}
	if (opt->max_time_s) {
		snprintf(max_s, sizeof max_s, "%d", opt->max_time_s);
		av[n++] = "--max-time", av[n++] = max_s;
	}
	if (cfg->faults_text) /* as given: the spec in the user's words */
		av[n++] = "--faults", av[n++] = cfg->faults_text;
	if (opt->keep_going)
		av[n++] = "--keep-going";
	if (opt->target_port)
		av[n++] = "--target", av[n++] = cfg->target;
	if (opt->one_role && sim_config)
		av[n++] = "--one-role", av[n++] = "1";
	if (opt->profile && sim_config)
		av[n++] = "--profile", av[n++] = opt->profile;
	av[n++] = file, av[n] = NULL;
	return sd__shell_cmd(av);
}

/* Runs done so far (a malformed file counts as done on every backend) and how many failed. */
static void step(const struct run_cfg *cfg, struct sd__progress *p, const struct run_totals *t)
{
	long done = t->passed + t->failed + t->skipped + (long)t->malformed * (cfg->both ? 2 : 1);
	sd__progress_step(p, done, t->failed + t->malformed);
}

static void count(struct run_totals *t, int b, const struct sd_sc_result *r)
{
	int fail = !r->passed && !r->skipped;
	t->seconds += r->seconds;
	t->passed += r->passed, t->per_passed[b] += r->passed;
	t->failed += fail, t->per_failed[b] += fail;
	t->skipped += r->skipped, t->per_skipped[b] += r->skipped;
}

/* One loaded file on every backend: 0, or -1 when a backend could not be opened (printed). */
static int run_file(const struct run_cfg *cfg, const char *file, struct sd_scenario *sc,
		    struct run_writer *const w[], int nw, struct run_totals *t,
		    struct sd__progress *p)
{
	struct sd_sc_result res[2];
	char *repro[2] = {NULL, NULL}, *side = NULL;
	struct run_item it = {.file = file, .steps = sd_scenario_steps(sc)};
	int nskip = 0;
	for (int b = 0; b < 2 && cfg->runs[b]; b++) {
		struct sd_sc_options opt = cfg->opt;
		if ((opt.trace = cfg->trace[b])) /* whose lines follow, in a file of many runs */
			fprintf(opt.trace, "# %s on %s, seed %llu\n", file, cfg->runs[b],
				(unsigned long long)sd_scenario_seed(sc, &cfg->opt));
		if (cfg->html && sd__html_events_reset(&cfg->html[b]) == 0) {
			opt.trace_sink = sd__html_sink; /* the timeline's events */
			opt.trace_ctx = &cfg->html[b];
		}
		if (sd_scenario_run(sc, cfg->runs[b], &opt, &res[b]) < 0) {
			sd__progress_hide(p);
			fprintf(stderr, "sockdrill run: cannot open backend %s\n", cfg->runs[b]);
			for (int k = 0; k < b; k++)
				sd_sc_result_free(&res[k]);
			return -1;
		}
		count(t, b, &res[b]);
		step(cfg, p, t);
		nskip += res[b].skipped;
		it.backend[b] = cfg->runs[b];
		it.res[b] = &res[b];
		it.nres++;
	}
	it.seed = sd_scenario_seed(sc, &cfg->opt);
	for (int b = 0; b < it.nres; b++) {
		repro[b] = reproduce_cmd(cfg, b, it.seed, file);
		it.repro[b] = repro[b] ? repro[b] : "";
	}
	/* side by side also when both passed: ranges and '*' can hide a difference; not when a
	 * backend did not run the file */
	it.compared = cfg->both && !nskip;
	if (it.compared)
		it.side = side = sd__run_side_by_side(&res[0], &res[1]);
	sd__progress_hide(p); /* the console's lines go above it */
	for (int i = 0; i < nw; i++)
		w[i]->item(w[i], &it);
	step(cfg, p, t);
	free(side);
	for (int b = 0; b < it.nres; b++) {
		free(repro[b]);
		sd_sc_result_free(&res[b]);
	}
	return 0;
}

struct run_writer *sd__run_writer_new(size_t size, const struct run_writer *methods)
{
	struct run_writer *w = calloc(1, size);
	if (!w) {
		sd__usage_error("run", "out of memory");
		return NULL;
	}
	*w = *methods;
	return w;
}

int sd__run_loop(const struct run_cfg *cfg, const struct run_files *files,
		 struct run_writer *const w[], int nw)
{
	struct run_totals t = {.files = files->n};
	struct sd__progress p;
	sd__progress_start(&p, (long)files->n * (cfg->both ? 2 : 1), "run",
			   cfg->both ? "runs" : "files", "failed", isatty(2), cfg->quiet);
	for (int i = 0; i < files->n; i++) {
		char err[512];
		struct sd_scenario *sc;
		if (sd_scenario_load_opt(files->v[i], &cfg->opt, &sc, err, sizeof err) < 0) {
			sd__progress_hide(&p);
			fprintf(stderr, "%s\n", err);
			t.malformed++;
			for (int k = 0; k < nw; k++)
				w[k]->malformed(w[k], files->v[i], err);
			step(cfg, &p, &t);
			continue;
		}
		int rc = run_file(cfg, files->v[i], sc, w, nw, &t, &p);
		sd_scenario_free(sc);
		if (rc < 0) {
			sd__progress_end(&p);
			for (int k = 0; k < nw; k++)
				w[k]->discard(w[k]);
			return SD_EXIT_USAGE;
		}
	}
	sd__progress_end(&p); /* the summary starts on a clean line */
	/* A report that cannot be written is a usage error, not a malformed scenario; the
	 * others are still written. */
	int report_failed = 0;
	for (int k = 0; k < nw; k++)
		report_failed |= w[k]->finish(w[k], &t) < 0;
	return t.malformed || report_failed ? SD_EXIT_USAGE : t.failed ? SD_EXIT_CHECK : SD_EXIT_OK;
}
