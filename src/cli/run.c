/* sockdrill run: the command and its options; the run itself is run_loop.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sockdrill.h>
#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

#include "cli.h"
#include "html.h"
#include "run.h"

static const char run_help[] =
	"usage: sockdrill run [--backend sim|real|both] [--seed N] [--junit FILE] [--json FILE]\n"
	"                     [--sarif FILE] [--verbose] [--keep-going] [--timeout MS]\n"
	"                     [--max-time S] [--faults SPEC] [--fault-log FILE] [--trace FILE]\n"
	"                     [--html FILE]\n"
	"                     [--target ADDR:PORT] [--one-role 0|1] [--profile NAME] [--quiet]\n"
	"                     PATH...\n"
	"       sockdrill run --inproc TARGET [--engine E] [--seed N] [--verbose] [--max-time S]\n"
	"                     PATH...\n\n"
	"Runs scenario files (docs/scenarios.md): each PATH is a .sd file or a directory whose\n"
	".sd files run in name order (links to directories are not followed, at most 32 levels\n"
	"deep; a directory with no .sd file is an error). A file holds at most 1 MiB. On both,\n"
	"every scenario runs on sim and on real and any step whose outcome differs is shown\n"
	"side by side. A failing step prints the command that reproduces it. A file that requires\n"
	"a kernel variant the kernel does not have is not applicable there: n/a, counted as\n"
	"skipped. Report files are opened before anything runs. Exit 0 all passed or skipped,\n"
	"1 a step failed, 2 a malformed file or argument.\n\n"
	"  --backend B    sim (default), real, both (side by side) or another registered one\n"
	"  --seed N       sim seed (default: the file's 'set seed', else 1)\n"
	"  --junit FILE   write JUnit XML: one test case per scenario and backend\n"
	"  --json FILE    write the results as one JSON document (docs/scenarios.md)\n"
	"  --sarif FILE   write SARIF 2.1.0 for code scanning: a result per failed step, per\n"
	"                 step that differs on both, per malformed file, at its file and line\n"
	"  --verbose      print every step and its outcome\n"
	"  --quiet        no progress line on stderr (on a terminal a line redrawn in place:\n"
	"                 runs done/total, rate, time left, failed so far; elsewhere the same\n"
	"                 as a plain line every 10 s of a longer run); results, errors and the\n"
	"                 summary are printed all the same\n"
	"  --keep-going   a failed step does not end the file's run: every failing step is\n"
	"                 reported (printed, and listed in --json and --junit)\n"
	"  --timeout MS   real: how long a blocking step may take (default 3000)\n"
	"  --max-time S   bound of each file's run on each backend, in wall-clock seconds\n"
	"                 (1..86400, default 600); a run past it fails (exit 1)\n"
	"  --faults SPEC  inject faults around the backend (docs/faults.md); seeded by --seed\n"
	"  --fault-log F  one JSON line per injected fault\n"
	"  --trace FILE   every socket call of the runs, one line each: time (virtual on sim,\n"
	"                 monotonic on real), actor, call, result, a fault's note before the\n"
	"                 call it changes; each file's run starts with a '# ' line. On both,\n"
	"                 FILE.sim and FILE.real\n"
	"  --html FILE    every run's calls as a timeline: one self-contained HTML page, a lane\n"
	"                 per actor (and backend), each step and call a mark, failing steps and\n"
	"                 steps where sim and real differ highlighted (docs/scenarios.md)\n"
	"  --target A:P   a server under test: $TARGET_PORT is P (A must be loopback)\n"
	"  --one-role N   sim: the kernel variant of files that state none (docs/scenarios.md):\n"
	"                 0 mainline (default) or 1; on both, the sim takes this kernel's\n"
	"  --profile NAME sim: the kernel profile, its tunables ('sockdrill list' names them,\n"
	"                 'host' is this machine's; default linux-6.18); on both, the host's\n"
	"  --inproc T     replay each file against the in-process server of fuzz target T (a\n"
	"                 built-in target or the path of a fuzzer), on its sim: the server starts\n"
	"                 as for a fuzz input, behind the file's 'set server-faults', and the\n"
	"                 steps are its clients ($TARGET_PORT its port; docs/inproc.md). With\n"
	"                 --seed, --verbose, --max-time and --engine only; a crash or a finding\n"
	"                 of the target fails the file\n"
	"  --engine E     --inproc: the build of a built-in target, libfuzzer (default) or afl\n";

/* What the options ask for beyond cfg: the report files, the fault log, --inproc. */
struct run_args {
	const char *junit, *json, *sarif, *fault_log, *trace, *html;
	const char *inproc, *engine, *seed_text;
	const char *not_inproc; /* an option --inproc does not take */
	int one_role_given;
};

/* --backend names neither both nor a registered backend: the message lists the registry's
 * (a program linking the CLI may have added its own), "real, sim" and any such. */
static int bad_backend(const char *name)
{
	char list[256] = "";
	size_t n = 0;
	const struct sd_ops *o;
	for (size_t i = 0; (o = sd_backend_at(i)) != NULL && n < sizeof list; i++) {
		int k = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", o->name);
		n += k > 0 ? (size_t)k : 0;
	}
	return sd__usage_error(
		"run", "--backend must be both or a registered backend: %s; not '%s'", list, name);
}

/* One option into cfg and a: 0, 1 for --help (printed), or SD_EXIT_USAGE (printed). */
static int take_option(int c, const char *o, struct run_cfg *cfg, struct run_args *a)
{
	struct sd_sc_options *opt = &cfg->opt;
	uint64_t num;
	switch (c) {
	case 'b':
		cfg->backend = optarg;
		if (strcmp(optarg, cfg->runs[0]))
			a->not_inproc = "--backend"; /* in-process is on its own sim: the default */
		/* both, or any registered backend (a program linking the CLI may add one) */
		if (strcmp(optarg, "both") && !sd_find(optarg))
			return bad_backend(optarg);
		return 0;
	case 's':
		if (sd__parse_num("run", "--seed", optarg, 0, UINT64_MAX, &num))
			return SD_EXIT_USAGE;
		opt->seed = num, opt->has_seed = 1, a->seed_text = optarg;
		return 0;
	case 't':
		if (sd__parse_num("run", "--timeout", optarg, 1, 600000, &num))
			return SD_EXIT_USAGE;
		opt->timeout_ms = (int)num, a->not_inproc = "--timeout";
		return 0;
	case 'M':
		if (sd__parse_num("run", "--max-time", optarg, 1, 86400, &num))
			return SD_EXIT_USAGE;
		opt->max_time_s = (int)num;
		return 0;
	case 'j': a->junit = optarg, a->not_inproc = "--junit"; return 0;
	case 'J': a->json = optarg, a->not_inproc = "--json"; return 0;
	case 'S': a->sarif = optarg, a->not_inproc = "--sarif"; return 0;
	case 'f': {
		/* parsed here, once: the runs take the typed spec */
		char why[256];
		if (sd_fault_parse(optarg, &cfg->faults, why, sizeof why) < 0)
			return sd__usage_error("run", "%s", why);
		opt->faults = &cfg->faults, cfg->faults_text = optarg, a->not_inproc = "--faults";
		return 0;
	}
	case 'L': a->fault_log = optarg, a->not_inproc = "--fault-log"; return 0;
	case 'X': a->trace = optarg, a->not_inproc = "--trace"; return 0;
	case 'H': a->html = optarg, a->not_inproc = "--html"; return 0;
	case 'T': {
		struct sockaddr_storage ss;
		socklen_t sl;
		int p;
		if (sd_addr_parse(optarg, 0, &ss, &sl) < 0 ||
		    (p = sd_addr_port((void *)&ss, sl)) <= 0 ||
		    !sd_addr_is_loopback((void *)&ss, sl))
			return sd__usage_error(
				"run", "--target expects a loopback ADDR:PORT, got '%s'", optarg);
		opt->target_port = p, cfg->target = optarg, a->not_inproc = "--target";
		return 0;
	}
	case 'R':
		if (sd__parse_num("run", "--one-role", optarg, 0, 1, &num))
			return SD_EXIT_USAGE;
		opt->one_role = (int)num, a->one_role_given = 1, a->not_inproc = "--one-role";
		return 0;
	case 'P':
		if (strcmp(optarg, "host") && !sd_sim_profile_find(optarg))
			return sd__usage_error(
				"run", "--profile: unknown profile '%s' (see 'sockdrill list')",
				optarg);
		opt->profile = optarg, a->not_inproc = "--profile";
		return 0;
	case 'I': a->inproc = optarg; return 0;
	case 'E': a->engine = optarg; return 0;
	case 'v': cfg->verbose = 1; return 0;
	case 'q': cfg->quiet = 1, a->not_inproc = "--quiet"; return 0;
	case 'k': opt->keep_going = 1, a->not_inproc = "--keep-going"; return 0;
	case 'h': fputs(run_help, stdout); return 1;
	case ':': return sd__usage_error("run", "option '%s' needs a value", o);
	default:
		return sd__usage_error("run", "unknown option '%s' (try 'sockdrill run --help')",
				       o);
	}
}

/* The options, each checked and then together: 0, 1 for --help, or SD_EXIT_USAGE. */
static int parse_options(int argc, char **argv, struct run_cfg *cfg, struct run_args *a)
{
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"seed", required_argument, NULL, 's'},
		{"junit", required_argument, NULL, 'j'},
		{"json", required_argument, NULL, 'J'},
		{"sarif", required_argument, NULL, 'S'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"keep-going", no_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 't'},
		{"max-time", required_argument, NULL, 'M'},
		{"faults", required_argument, NULL, 'f'},
		{"fault-log", required_argument, NULL, 'L'},
		{"trace", required_argument, NULL, 'X'},
		{"html", required_argument, NULL, 'H'},
		{"target", required_argument, NULL, 'T'},
		{"one-role", required_argument, NULL, 'R'},
		{"profile", required_argument, NULL, 'P'},
		{"inproc", required_argument, NULL, 'I'},
		{"engine", required_argument, NULL, 'E'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hv", longopts, NULL)) != -1)
		if ((rc = take_option(c, argv[optind - 1], cfg, a)))
			return rc;
	if (optind >= argc)
		return sd__usage_error("run", "no scenario files or directories given");
	if (a->inproc && a->not_inproc)
		return sd__usage_error("run",
				       "%s is not for --inproc (its options: --seed, "
				       "--verbose, --max-time, --engine)",
				       a->not_inproc);
	if (a->engine && !a->inproc)
		return sd__usage_error("run", "--engine is for --inproc");
	/* the variant and the profile are the sim's configuration: for a backend that takes it */
	int caps = strcmp(cfg->backend, "both") ? sd_backend_caps(cfg->backend) : 0;
	int sim_config = caps > 0 && (caps & SD_CAP_SIM_CONFIG);
	if (a->one_role_given && !sim_config)
		return sd__usage_error("run",
				       "--one-role is for --backend sim (on both, the sim models "
				       "this kernel's variant)");
	if (cfg->opt.profile && !sim_config)
		return sd__usage_error("run", "--profile is for --backend sim (on both, the sim "
					      "takes this machine's profile)");
	struct sd_sim_profile host;
	char err[256];
	if (cfg->opt.profile && !strcmp(cfg->opt.profile, "host") &&
	    sd_sim_profile_host(&host, err, sizeof err) < 0)
		return sd__usage_error("run", "--profile host: %s", err);
	return 0;
}

/* On both, the sim models this kernel: its variant and its tunables. 0, or -1 (printed). */
static int model_the_host(struct run_cfg *cfg)
{
	struct sd_sim_profile host_profile;
	char err[256];
	int host = sd_real_host_one_role();
	if (host < 0) {
		fprintf(stderr, "sockdrill run: cannot tell whether this kernel is one-role: %s\n",
			strerror(-host));
		return -1;
	}
	cfg->opt.one_role = host;
	if (sd_sim_profile_host(&host_profile, err, sizeof err) < 0) {
		fprintf(stderr, "sockdrill run: cannot read this machine's profile: %s\n", err);
		return -1;
	}
	cfg->opt.profile = "host";
	return 0;
}

/* --trace: FILE for the one backend, FILE.sim and FILE.real on both. 0, or -1 (printed). */
static int open_traces(struct run_cfg *cfg, const char *path)
{
	for (int b = 0; b < 2 && cfg->runs[b]; b++) {
		char name[4096];
		snprintf(name, sizeof name, cfg->both ? "%s.%s" : "%s", path, cfg->runs[b]);
		if (!(cfg->trace[b] = fopen(name, "w"))) {
			sd__usage_error("run", "--trace: cannot write %s: %s", name,
					strerror(errno));
			return -1;
		}
	}
	return 0;
}

int sd__cmd_run(int argc, char **argv)
{
	struct run_cfg cfg = {.backend = "sim", .runs = {"sim"}};
	struct run_args a = {0};
	int rc = parse_options(argc, argv, &cfg, &a);
	if (rc)
		return rc == 1 ? SD_EXIT_OK : rc;
	cfg.both = !strcmp(cfg.backend, "both");
	cfg.runs[0] = cfg.both ? "sim" : cfg.backend;
	cfg.runs[1] = cfg.both ? "real" : NULL;
	for (int b = 0; b < 2 && cfg.runs[b]; b++) {
		int caps = sd_backend_caps(cfg.runs[b]);
		if (caps < 0) {
			fprintf(stderr, "sockdrill run: cannot open backend %s\n", cfg.runs[b]);
			return SD_EXIT_USAGE;
		}
		cfg.caps[b] = (unsigned)caps;
	}
	/* each step's outcome is needed only to list, write or compare them */
	cfg.opt.verdict_only = !cfg.verbose && !a.json && !a.html && !cfg.both;

	/* From here every exit goes through `out`, which frees and closes what was taken. */
	struct run_files files = {0};
	struct run_writer *w[5]; /* junit, json, html, sarif, console */
	struct sd_html_events html[2] = {{0}};
	int nw = 0;
	FILE *fault_log = NULL;
	rc = SD_EXIT_USAGE;
	for (int i = optind; i < argc; i++)
		if (sd__run_add_path(&files, argv[i]) < 0)
			goto out;
	if (a.inproc) {
		rc = sd__run_inproc(a.inproc, a.engine ? a.engine : "libfuzzer", files.v, files.n,
				    a.seed_text, cfg.verbose,
				    cfg.opt.max_time_s ? cfg.opt.max_time_s : SD_SC_MAX_TIME_S);
		goto out;
	}
	/* The report files first: one that cannot be written stops the run before it starts. */
	if ((a.junit && !(w[nw++] = sd__run_junit(a.junit))) ||
	    (a.json && !(w[nw++] = sd__run_json(a.json))) ||
	    (a.html && (cfg.html = html, !(w[nw++] = sd__run_html(a.html, &cfg)))) ||
	    (a.sarif && !(w[nw++] = sd__run_sarif(a.sarif))) ||
	    !(w[nw++] = sd__run_console(&cfg))) {
		nw--;
		goto out;
	}
	if (a.fault_log && !(fault_log = fopen(a.fault_log, "w"))) {
		sd__usage_error("run", "--fault-log: cannot write %s: %s", a.fault_log,
				strerror(errno));
		goto out;
	}
	cfg.opt.fault_log = fault_log;
	if (a.trace && open_traces(&cfg, a.trace) < 0)
		goto out;
	if (cfg.both && model_the_host(&cfg) < 0)
		goto out;
	rc = sd__run_loop(&cfg, &files, w, nw);
	nw = 0; /* the loop finished or discarded them */
out:
	for (int i = 0; i < nw; i++)
		w[i]->discard(w[i]);
	sd__run_files_free(&files);
	if (fault_log)
		fclose(fault_log);
	for (int b = 0; b < 2; b++) {
		if (cfg.trace[b])
			fclose(cfg.trace[b]);
		sd__html_events_free(&html[b]);
	}
	return rc;
}
