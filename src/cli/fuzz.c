/* sockdrill fuzz: the command: options, the campaign's directories, an engine's run, the verdict.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_engine.h"
#include "fuzz_files.h"
#include "fuzz_msgs.h"
#include "fuzz_report.h"
#include "fuzz_sarif.h"
#include "fuzz_target.h"
#include "fuzz_watch.h"
#include "proc.h"
#include "sarif.h"

static const char fuzz_help_top[] =
	"usage: sockdrill fuzz TARGET [--engine libfuzzer|afl] [--time S] [--jobs N]\n"
	"                      [--seeds DIR] [--dict FILE] [--out DIR] [--sarif FILE]\n"
	"                      [--report DIR] [--quiet] [-- ENGINE_ARGS...]\n\n"
	"Builds TARGET for the engine (cmake preset of the same name) and fuzzes it for S seconds\n"
	"(default 60), starting from corpus/TARGET with fuzz/TARGET.dict. New inputs go to\n"
	"OUT/corpus-ENGINE, crashes to OUT/artifacts, each printed with the command that replays\n"
	"it (OUT: --out, default build/fuzz/TARGET).\n";

static const char fuzz_help_rest[] =
	"the path of a fuzzer you built for the engine (e.g. with sockdrill_add_server_fuzzer):\n"
	"it is run as it is, with the same handling; its seeds are PATH.seeds/ and its\n"
	"dictionary PATH.dict when they exist beside it, and OUT defaults to fuzz-out/NAME.\n"
	"  --engine E   libfuzzer (default; ASan+UBSan) or afl (AFL++, afl-clang-fast)\n"
	"  --time S     seconds, 1..86400\n"
	"  --jobs N     parallel fuzzers: libFuzzer -fork=N, AFL++ one -M and N-1 -S instances\n"
	"  --seeds DIR  seed inputs, a directory (default corpus/TARGET, PATH.seeds)\n"
	"  --dict FILE  a dictionary file (default fuzz/TARGET.dict, PATH.dict, when it exists;\n"
	"               else, for an in-process server fuzzer, its protocol messages up to 64\n"
	"               bytes for libFuzzer, 128 for AFL++)\n"
	"  --out DIR    where the corpus, the crashes and the engine's log go (OUT)\n"
	"  --sarif FILE write SARIF 2.1.0 for code scanning: a result per crash of this run, of\n"
	"               the kind its report names (each crash replayed once for it), at the\n"
	"               report's first frame in the code under test\n"
	"  --report DIR a page of the campaign, DIR/index.html (made if need be): exec/s,\n"
	"               coverage and corpus size over time, each crash with its time, kind,\n"
	"               repro command and timeline (DIR/crash-N.html, by repro --html); the\n"
	"               figures in DIR/series.json. Rewritten every 5 s while it runs, and at\n"
	"               the end (also after SIGINT/SIGTERM)\n"
	"  --quiet      no progress line (below); the summary, crash reports and errors are\n"
	"               printed all the same\n"
	"  -- ARGS...   up to 32 arguments passed to the engine as they are, after sockdrill's\n"
	"               own (libFuzzer flags such as -detect_leaks=0; afl-fuzz options)\n"
	"While it runs, a progress line on stderr: seconds so far/S, executions, exec/s, coverage\n"
	"(libFuzzer cov and ft; AFL++ edges found/map size), corpus, crashes, stability (AFL++'s;\n"
	"'-' on libFuzzer, which has none). On a terminal it is redrawn in place once a second;\n"
	"elsewhere a line comes with the engine's first figures, then one every 10 s at most.\n"
	"At the end a summary line (time, executions, average exec/s, coverage, corpus,\n"
	"stability), each crash with its repro command, then the count. A crash report reaches\n"
	"stderr whole (with up to 64 lines the target printed before it), as do libFuzzer's\n"
	"WARNING lines; all of the engine's output is kept in libfuzzer.log (AFL++: afl.log,\n"
	"afl-sN.log) beside the corpus, and its last lines are shown when it did not fuzz.\n"
	"Exit: 0 the engine fuzzed and found no crash, 1 a crash found, 2 bad input, a failed\n"
	"build, an engine that did not fuzz (its message is shown), or an input that ended in a\n"
	"harness error (an in-process server that never listened or exited at start-up, ...: the\n"
	"first is shown; all go to harness-errors beside the corpus).\n";

/* Between its two halves, the help names the built-in targets (fuzz/targets.txt). */
static void fuzz_help(void)
{
	fputs(fuzz_help_top, stdout);
	fputs("Targets: ", stdout);
	sd__fuzz_print_names(stdout);
	fputs(", or\n", stdout);
	fputs(fuzz_help_rest, stdout);
}

/* The command line as given. */
struct fuzz_opts {
	const char *engine, *seeds, *dict, *out, *sarif, *report, *t;
	uint64_t secs, jobs;
	char **args; /* after "--": the engine's */
	int nargs;
	int quiet;
};

/* Parses the command line into o: -1 to go on, else the exit status (help, bad input). */
static int fuzz_options(int argc, char **argv, struct fuzz_opts *o)
{
	static const struct option longopts[] = {
		{"engine", required_argument, NULL, 'e'},
		{"time", required_argument, NULL, 't'},
		{"jobs", required_argument, NULL, 'j'},
		{"seeds", required_argument, NULL, 's'},
		{"dict", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"sarif", required_argument, NULL, 'S'},
		{"report", required_argument, NULL, 'r'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int opt;
	*o = (struct fuzz_opts){.engine = "libfuzzer", .secs = 60, .jobs = 1};
	/* Everything after "--" goes to the engine as it is: libFuzzer flags, afl-fuzz options. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			o->args = argv + i + 1;
			o->nargs = argc - i - 1;
			argc = i;
			break;
		}
	if (o->nargs > SD__FUZZ_MAX_ENGINE_ARGS)
		return sd__usage_error("fuzz", "at most %d engine arguments after '--', not %d",
				       SD__FUZZ_MAX_ENGINE_ARGS, o->nargs);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *a = argv[optind - 1];
		switch (opt) {
		case 'e': o->engine = optarg; break;
		case 't':
			if (sd__parse_num("fuzz", "--time", optarg, 1, 86400, &o->secs))
				return SD_EXIT_USAGE;
			break;
		case 'j':
			if (sd__parse_num("fuzz", "--jobs", optarg, 1, 64, &o->jobs))
				return SD_EXIT_USAGE;
			break;
		case 's': o->seeds = optarg; break;
		case 'd': o->dict = optarg; break;
		case 'o': o->out = optarg; break;
		case 'S': o->sarif = optarg; break;
		case 'r': o->report = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'h': fuzz_help(); return SD_EXIT_OK;
		case ':': return sd__usage_error("fuzz", "option '%s' needs a value", a);
		default:
			return sd__usage_error(
				"fuzz", "unknown option '%s' (try 'sockdrill fuzz --help')", a);
		}
	}
	if (optind != argc - 1)
		return sd__usage_error("fuzz",
				       optind >= argc ? "no target given" : "one target at a time");
	o->t = argv[optind];
	return sd__fuzz_check("fuzz", o->t, o->engine) < 0 ? SD_EXIT_USAGE : -1;
}

/* Paths given on the command line are the caller's: made absolute (into the buffers, PATH_MAX
 * each) before a build changes directory, and checked for what an engine needs. 0, or the
 * exit status with the message printed. */
static int fuzz_abs_paths(struct fuzz_opts *o, char *seeds_abs, char *dict_abs, char *out_abs)
{
	char cwd[PATH_MAX];
	struct stat ost;
	if (o->seeds && (access(o->seeds, R_OK | X_OK) < 0 || !realpath(o->seeds, seeds_abs)))
		return sd__usage_error("fuzz", "--seeds: %s: %s", o->seeds, strerror(errno));
	if (o->dict && (access(o->dict, R_OK) < 0 || !realpath(o->dict, dict_abs)))
		return sd__usage_error("fuzz", "--dict: %s: %s", o->dict, strerror(errno));
	/* an engine given a file for seeds runs it once and stops; one given a directory for a
	 * dictionary refuses to start */
	if (o->seeds && (stat(seeds_abs, &ost) < 0 || !S_ISDIR(ost.st_mode)))
		return sd__usage_error("fuzz", "--seeds: %s: not a directory", o->seeds);
	if (o->dict && (stat(dict_abs, &ost) < 0 || !S_ISREG(ost.st_mode)))
		return sd__usage_error("fuzz", "--dict: %s: not a regular file", o->dict);
	if (o->out && o->out[0] != '/' && getcwd(cwd, sizeof cwd)) {
		sd__textf(out_abs, PATH_MAX, "%s/%s", cwd, o->out);
		o->out = out_abs;
	}
	o->seeds = o->seeds ? seeds_abs : NULL;
	o->dict = o->dict ? dict_abs : NULL;
	return 0;
}

/* Where a campaign's files are (each buffer PATH_MAX + 96). */
struct fuzz_paths {
	char seeds[PATH_MAX + 96], dict[PATH_MAX + 96], base[PATH_MAX + 96];
	char work[PATH_MAX + 96], art[PATH_MAX + 96], herr[PATH_MAX + 160];
	char herr_env[PATH_MAX + 200];
};

/* The seeds, dictionary and OUT a target gets when the command line names none: a user's
 * fuzzer from beside it (OUT fuzz-out/NAME), a built-in target from the checkout. */
static void fuzz_defaults(const struct fuzz_opts *o, const char *root, const char *exe,
			  const char *name, struct fuzz_paths *p)
{
	int external = strchr(o->t, '/') != NULL;
	if (o->seeds)
		sd__textf(p->seeds, sizeof p->seeds, "%s", o->seeds);
	else if (external)
		sd__fuzz_beside(o->t, exe, ".seeds", 1, p->seeds, sizeof p->seeds);
	else
		sd__textf(p->seeds, sizeof p->seeds, "%s/corpus/%s", root, o->t);
	if (o->dict)
		sd__textf(p->dict, sizeof p->dict, "%s", o->dict);
	else if (external)
		sd__fuzz_beside(o->t, exe, ".dict", 0, p->dict, sizeof p->dict);
	else
		sd__textf(p->dict, sizeof p->dict, "%s/fuzz/%s.dict", root, o->t);
	if (o->out) {
		sd__textf(p->base, sizeof p->base, "%s", o->out);
	} else if (external) {
		mkdir("fuzz-out", 0755);
		sd__textf(p->base, sizeof p->base, "fuzz-out/%s", name);
	} else {
		sd__textf(p->base, sizeof p->base, "%s/build/fuzz/%s", root, o->t);
	}
	if (!external) {
		char mk[PATH_MAX + 128];
		sd__textf(mk, sizeof mk, "%s/build/fuzz", root);
		mkdir(mk, 0755), mkdir(p->seeds, 0755);
	}
}

/* Makes OUT, its corpus and artifacts (with an empty input when there is none at all: an
 * engine needs one to start from) and marks the start: the artifacts already there into
 * *before, the time into since. 0, or the exit status with the message printed. */
static int fuzz_prepare(const char *engine, struct fuzz_paths *p, char **before,
			struct timespec *since)
{
	char mark[PATH_MAX + 160];
	struct stat mst;
	mkdir(p->base, 0755);
	sd__textf(p->work, sizeof p->work, "%s/corpus-%s", p->base, engine);
	sd__textf(p->art, sizeof p->art, "%s/artifacts", p->base);
	if (mkdir(p->work, 0755) < 0 && errno != EEXIST)
		return sd__usage_error("fuzz", "cannot create %s: %s", p->work, strerror(errno));
	mkdir(p->art, 0755);
	if ((!*p->seeds || !sd__fuzz_count_files(p->seeds, NULL)) &&
	    !sd__fuzz_count_files(p->work, NULL)) {
		char empty[PATH_MAX + 160];
		sd__textf(empty, sizeof empty, "%s/empty", p->work);
		FILE *f = fopen(empty, "wb");
		if (f)
			fclose(f);
	}
	*before = sd__fuzz_list_names(p->art);
	sd__textf(mark, sizeof mark, "%s/.started", p->art);
	FILE *mf = fopen(mark, "w");
	if (mf)
		fclose(mf);
	if (stat(mark, &mst) == 0)
		*since = mst.st_mtim;
	/* AFL++ takes a harness error's exit status 2 for a clean run: the inputs that ended in
	 * one are told here instead, on both engines. */
	sd__textf(p->herr, sizeof p->herr, "%s/harness-errors", p->base);
	sd__textf(p->herr_env, sizeof p->herr_env, "SOCKDRILL_HARNESS_ERRORS=%s", p->herr);
	unlink(p->herr);
	return 0;
}

/* After the engine: its crashes, a stop, harness errors or an engine that did not fuzz
 * decide the exit status. */
static int fuzz_verdict(const struct sd__fuzz_campaign *c, const struct sd__fuzz_engine *e,
			const struct watch *w, int crashes, int rc, int fuzzed)
{
	int failed = sd__watch_failed(w);
	char flog[PATH_MAX + 128];
	if (failed > 0) /* an AFL++ secondary's own log */
		sd__textf(flog, sizeof flog, "%s/afl-s%d.log", c->base, failed);
	else
		sd__textf(flog, sizeof flog, "%s", c->log);
	if (crashes && !w->afl && !w->shown) /* a crash without a report we could tell: its end */
		sd__fuzz_show_tail(flog, e->name);
	if (sd__proc_caught()) { /* the engine was stopped early; what it found is above */
		printf("fuzz: %s on %s: %d new crash%s before it was stopped\n", c->name, e->name,
		       crashes, crashes == 1 ? "" : "es");
		fprintf(stderr, "sockdrill fuzz: stopped by %s\n",
			sd__proc_caught() == SIGINT ? "SIGINT" : "SIGTERM");
		return sd__proc_exit_status();
	}
	/* An input the target could not run (a server that never listens, say) is no result
	 * either: the campaign fuzzed a broken target. */
	int nherr = sd__fuzz_harness_errors(c->herr);
	if (nherr) {
		fprintf(stderr,
			"sockdrill fuzz: %s on %s: %d input%s ended in a harness error (the first "
			"above; all in %s), not a finding: fix the target and fuzz again\n",
			c->name, e->name, nherr, nherr == 1 ? "" : "s", c->herr);
		return SD_EXIT_USAGE;
	}
	/* No crash is a result only if the engine fuzzed: one that refused to start (a bad
	 * dictionary, seeds or target) found nothing because it looked at nothing. */
	if (!crashes && (rc != 0 || !fuzzed)) {
		sd__fuzz_show_tail(flog, e->name);
		if (rc != 0)
			fprintf(stderr,
				"sockdrill fuzz: %s did not fuzz %s: it exited with status %d (its "
				"last lines are above)\n",
				e->name, c->name, rc);
		else
			fprintf(stderr, "sockdrill fuzz: %s did not fuzz %s: %s\n", e->name,
				c->name, e->no_fuzz);
		return SD_EXIT_USAGE;
	}
	printf("fuzz: %s on %s: %d new crash%s; corpus %s: %d inputs\n", c->name, e->name, crashes,
	       crashes == 1 ? "" : "es", c->work, sd__fuzz_count_files(c->work, NULL));
	return crashes ? SD_EXIT_CHECK : SD_EXIT_OK;
}

/* How the campaign ended, for --report's page. */
static const char *fuzz_status(const struct watch *w, char *text, size_t size)
{
	if (sd__proc_caught())
		return sd__proc_caught() == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM";
	sd__textf(text, size, "ended after %.0f s", w->t1 - w->t0);
	return text;
}

/* --sarif: the crashes of this run into the log, for its category ("sockdrill-fuzz/NAME/"). */
static void fuzz_sarif(struct sd__sarif *log, const struct fuzz_opts *o, const char *root,
		       const char *exe, const char *name, const struct fuzz_paths *p,
		       const char *before, const struct timespec *since, char *category)
{
	char source[PATH_MAX + 64] = "";
	if (!strchr(o->t, '/')) /* a built-in target is fuzz/NAME.c */
		sd__textf(source, sizeof source, "%s/fuzz/%s.c", root, o->t);
	struct sd__fuzz_sarif_in in = {.art = p->art,
				       .before = before,
				       .since = since,
				       .exe = exe,
				       .t = strchr(o->t, '/') ? exe : o->t,
				       .engine = o->engine,
				       .name = name,
				       .source = *source ? source : NULL};
	sd__fuzz_sarif(log, &in);
	sd__textf(category, PATH_MAX + 32, "sockdrill-fuzz/%s/", name);
}

/* The campaign: its exit status; *ran says whether the engine ran (the --sarif log then has
 * its crashes, and its category in category, PATH_MAX + 32). */
static int fuzz_campaign(struct fuzz_opts o, struct sd__sarif *log, int *ran, char *category)
{
	int rc;
	const struct sd__fuzz_engine *e = sd__fuzz_engine_find(o.engine);
	char root[PATH_MAX], exe[PATH_MAX], name[PATH_MAX];
	char seeds_abs[PATH_MAX], dict_abs[PATH_MAX], out_abs[PATH_MAX];
	if ((rc = fuzz_abs_paths(&o, seeds_abs, dict_abs, out_abs)) != 0)
		return rc;
	if (sd__fuzz_resolve("fuzz", o.t, o.engine, root, exe, name) < 0)
		return sd__proc_caught() ? sd__proc_exit_status() : SD_EXIT_USAGE;
	struct fuzz_paths p;
	char *before = NULL;
	struct timespec since = {0, 0};
	fuzz_defaults(&o, root, exe, name, &p);
	if ((rc = fuzz_prepare(o.engine, &p, &before, &since)) != 0)
		return rc;
	struct sd__fuzz_campaign c = {.exe = exe,
				      .name = name,
				      .seeds = p.seeds,
				      .dict = p.dict,
				      .base = p.base,
				      .work = p.work,
				      .art = p.art,
				      .herr = p.herr,
				      .herr_env = p.herr_env,
				      .secs = o.secs,
				      .jobs = o.jobs,
				      .args = o.args,
				      .nargs = o.nargs};
	int have_dict = *p.dict && access(p.dict, R_OK) == 0;
	/* A server fuzzer's messages: a dictionary if none was given, AFL++'s custom mutator. */
	const char *menv[4] = {NULL};
	sd__fuzz_messages(exe, o.engine, p.base, p.dict, sizeof p.dict, &have_dict, menv);
	c.have_dict = have_dict, c.menv = menv;
	printf("fuzz: %s on %s for %llu s (%llu job%s)\n", name, o.engine,
	       (unsigned long long)o.secs, (unsigned long long)o.jobs, o.jobs == 1 ? "" : "s");
	printf("fuzz: seeds %s, dictionary %s, output %s\n", *p.seeds ? p.seeds : "none",
	       have_dict ? p.dict : "none", p.base);
	fflush(stdout);
	struct watch w = {.fd = -1,
			  .log_path = c.log,
			  .art = p.art,
			  .before = before,
			  .since = &since,
			  .afl = e == &sd__fuzz_afl,
			  .ninst = (int)o.jobs,
			  .tty = isatty(2),
			  .quiet = o.quiet,
			  .secs = o.secs};
	sd__stats_init(&w.st);
	const char *t = strchr(o.t, '/') ? exe : o.t; /* as the repro command names it */
	if (o.report) {
		struct sd__fuzz_report_cfg rc_ = {o.report, t,     name,   o.engine, exe,
						  p.base,   p.art, before, &since,   o.secs};
		w.rep = sd__fuzz_report_new(&rc_, w.afl);
	}
	int fuzzed = 0;
	rc = e->run(&c, &w, &fuzzed);
	sd__fuzz_summary(&w, name, o.engine);
	fflush(stdout);
	int crashes = sd__print_crashes(p.art, t, o.engine, before, &since);
	char status[96];
	if (w.rep)
		sd__fuzz_report_finish(w.rep, fuzz_status(&w, status, sizeof status));
	if (log)
		fuzz_sarif(log, &o, root, exe, name, &p, before, &since, category);
	*ran = 1;
	free(before);
	return fuzz_verdict(&c, e, &w, crashes, rc, fuzzed);
}

int sd__cmd_fuzz(int argc, char **argv)
{
	struct fuzz_opts o;
	int rc = fuzz_options(argc, argv, &o), ran = 0;
	if (rc >= 0)
		return rc;
	/* checked before the build: a report that cannot be written stops nothing midway */
	char report_abs[PATH_MAX];
	if (o.report && (rc = sd__fuzz_report_dir(o.report, report_abs)) != 0)
		return rc;
	o.report = o.report ? report_abs : NULL;
	struct sd__sarif *log = NULL;
	if (o.sarif && !(log = sd__sarif_open("fuzz", o.sarif)))
		return SD_EXIT_USAGE;
	char category[PATH_MAX + 32];
	rc = fuzz_campaign(o, log, &ran, category);
	if (log && !ran)
		sd__sarif_discard(log);
	else if (log && sd__sarif_finish(log, category, rc != SD_EXIT_USAGE) < 0 &&
		 rc == SD_EXIT_OK)
		rc = SD_EXIT_USAGE;
	return rc;
}

const struct sd__fuzz_engine *sd__fuzz_engine_find(const char *name)
{
	static const struct sd__fuzz_engine *const engines[] = {&sd__fuzz_libfuzzer, &sd__fuzz_afl};
	for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
		if (!strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}
