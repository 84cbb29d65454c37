/* sockdrill wrap: a program under libsockdrill_preload.so, optionally checked by scenarios. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

#include "cli.h"
#include "html.h"
#include "run.h"
#include "proc.h"
#include "sarif.h"
#include "wrap.h"
#include "wrap_record.h"

static const char wrap_help[] =
	"usage: sockdrill wrap [--faults SPEC] [--seed N] [--log FILE] [--log-max BYTES]\n"
	"                      [--inherited] [--run SCENARIO]... [--timeout S]\n"
	"                      [--pidfile FILE] [--record FILE] [--html FILE] [--sarif FILE]\n"
	"                      [--quiet]\n"
	"                      -- CMD [ARGS...]\n\n"
	"Runs CMD with libsockdrill_preload.so, which injects faults into the TCP sockets CMD\n"
	"creates (docs/faults.md). {port} in ARGS becomes a free loopback port. Without --run,\n"
	"sockdrill waits for CMD (in a process group of its own; SIGINT and SIGTERM are passed "
	"on)\n"
	"and exits with its status. With --run, sockdrill waits until CMD listens on\n"
	"127.0.0.1:{port} (read from /proc/net/tcp: no probe connection), runs each scenario\n"
	"against it ($TARGET_PORT is the port), then stops CMD (SIGTERM to its process group,\n"
	"SIGKILL after 10 s). A CMD that daemonizes (exits 0, leaving a descendant that listens)\n"
	"is followed: sockdrill is a child subreaper, runs the scenarios against the daemon and\n"
	"stops every process of it left, by pid, at the end. A crash, a sanitizer report or a\n"
	"failed step is a finding (exit 1) printed with the command that reproduces it. SIGINT or\n"
	"SIGTERM to sockdrill is passed on to CMD (and a followed daemon) the same way, then\n"
	"sockdrill exits 130 or 143. CMD's stderr is kept in $TMPDIR (default /tmp). With faults,\n"
	"a summary goes to stderr at the end: faults by pid, kind and op, and a warning for a\n"
	"fault that could never fire.\n\n"
	"  --faults SPEC    e.g. short-read=1,short-write=1,eintr=0.05,scope=accepted (default:\n"
	"                   the --run files' 'set server-faults', which must then agree); aimed\n"
	"                   with @conn=a2, @after=N, @for=M, @op=read|write, @window=1s-5s\n"
	"  --seed N         seed of the fault decisions (default: their 'set server-seed', else "
	"1)\n"
	"  --log FILE       one JSON line per injected fault (appended; checked before CMD "
	"starts)\n"
	"  --log-max BYTES  cap on what the log grows by (default 67108864, 0: no cap); later\n"
	"                   faults are counted in the summary and in the log's last line\n"
	"  --inherited      also fault the TCP sockets CMD starts with (inherited from its "
	"parent:\n"
	"                   sshd's re-exec, inetd, systemd's LISTEN_FDS): listeners get l ids,\n"
	"                   connected ones a ids\n"
	"  --run FILE       a scenario file to run against CMD; repeatable, at most 64\n"
	"  --html FILE      with --run: the scenarios' calls as a timeline, one self-contained\n"
	"                   HTML page (a lane per actor, the failing step highlighted)\n"
	"  --timeout S      how long CMD may take to start listening (default 10)\n"
	"  --pidfile FILE   with --run: where CMD writes the server's pid; once the port is up,\n"
	"                   the process it names (a descendant of CMD) is the server\n"
	"  --sarif FILE     with --run: write SARIF 2.1.0 for code scanning, a result per failed\n"
	"                   step (at its file and line) and per crash, sanitizer report or exit\n"
	"                   of the server (at its report's first frame under the working\n"
	"                   directory, else the failed step's line)\n"
	"  --quiet          no end-of-run summary and, with --run, no progress line on stderr\n"
	"                   (on a terminal a line redrawn in place: scenarios done/total, rate,\n"
	"                   time left, findings so far; elsewhere the same as a plain line\n"
	"                   every 10 s of a longer run); findings and errors are printed\n"
	"  --record FILE    write what real clients did to CMD as a scenario once CMD ends (stop\n"
	"                   it with Ctrl-C): replay it with --run FILE (docs/scenarios.md)\n"
	"Exit: CMD's own status without --run (128 + N when signal N ended it); with --run 0\n"
	"clean, 1 a finding, 2 bad input, 130/143 stopped by SIGINT/SIGTERM.\n";

/* The files' 'set server-faults' and 'set server-seed' for CMD, where the command line gave
 * none (faults or seed NULL): one server takes one spec and one seed, so the files that state
 * one must agree. 0, or -1 with the message printed. */
static int server_settings(const char *const runs[], struct sd_scenario *const scs[], int n,
			   const char **faults, struct sd_fault_spec *spec, uint64_t *seed)
{
	int from_f = -1, from_s = -1;
	for (int i = 0; i < n; i++) {
		const char *f = faults ? sd_scenario_server_faults(scs[i]) : NULL;
		uint64_t s = 0;
		int has_s = seed && sd_scenario_server_seed(scs[i], &s);
		const char *what = NULL;
		int first = -1;
		if (f && from_f >= 0 && strcmp(f, *faults))
			what = "faults", first = from_f;
		else if (has_s && from_s >= 0 && s != *seed)
			what = "seed", first = from_s;
		if (what) {
			sd__usage_error(
				"wrap",
				"--run %s and %s set a different server-%s (one server: give "
				"--%s)",
				runs[first], runs[i], what, what);
			return -1;
		}
		if (f && from_f < 0) /* parsed when the file was loaded */
			*faults = f, *spec = *sd_scenario_server_fault_spec(scs[i]), from_f = i;
		if (has_s && from_s < 0)
			*seed = s, from_s = i;
	}
	return 0;
}

/* The command line as given. */
struct wrap_opts {
	const char *faults, *logpath, *runs[64], *pidfile, *record, *html, *sarif;
	int nruns, faults_given, seed_given, quiet, inherited;
	uint64_t seed, timeout, logmax;
	struct sd_fault_spec used; /* the spec the program gets: the --run files' when given */
};

/* Parses the options (CMD starts at optind): -1 to go on, else the exit status. */
static int wrap_options(int argc, char **argv, struct wrap_opts *o)
{
	static const struct option longopts[] = {
		{"faults", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},
		{"log", required_argument, NULL, 'l'},
		{"run", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},
		{"log-max", required_argument, NULL, 'm'},
		{"quiet", no_argument, NULL, 'q'},
		{"pidfile", required_argument, NULL, 'p'},
		{"inherited", no_argument, NULL, 'i'},
		{"record", required_argument, NULL, 'R'},
		{"html", required_argument, NULL, 'H'},
		{"sarif", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int opt;
	*o = (struct wrap_opts){.faults = "", .seed = 1, .timeout = 10, .logmax = 64ull << 20};
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		const char *a = argv[optind - 1];
		switch (opt) {
		case 'f': o->faults = optarg, o->faults_given = 1; break;
		case 'l': o->logpath = optarg; break;
		case 'p': o->pidfile = optarg; break;
		case 'i': o->inherited = 1; break;
		case 'r':
			if (o->nruns == 64)
				return sd__usage_error("wrap", "at most 64 --run scenarios");
			o->runs[o->nruns++] = optarg;
			break;
		case 's':
			if (sd__parse_num("wrap", "--seed", optarg, 0, UINT64_MAX, &o->seed))
				return SD_EXIT_USAGE;
			o->seed_given = 1;
			break;
		case 't':
			if (sd__parse_num("wrap", "--timeout", optarg, 1, 3600, &o->timeout))
				return SD_EXIT_USAGE;
			break;
		case 'm':
			if (sd__parse_num("wrap", "--log-max", optarg, 0, UINT64_MAX / 2,
					  &o->logmax))
				return SD_EXIT_USAGE;
			break;
		case 'q': o->quiet = 1; break;
		case 'R': o->record = optarg; break;
		case 'H': o->html = optarg; break;
		case 'S': o->sarif = optarg; break;
		case 'h': fputs(wrap_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("wrap", "option '%s' needs a value", a);
		default:
			return sd__usage_error(
				"wrap", "unknown option '%s' (try 'sockdrill wrap --help')", a);
		}
	}
	char err[256];
	if (sd_fault_parse(o->faults, &o->used, err, sizeof err) < 0)
		return sd__usage_error("wrap", "%s", err);
	if (optind >= argc)
		return sd__usage_error("wrap",
				       "no command given (sockdrill wrap [OPTIONS] -- CMD [ARGS])");
	if (o->record && o->nruns)
		return sd__usage_error("wrap", "--record and --run do not go together (record "
					       "first, then replay the file with --run)");
	return -1;
}

/* Loads every scenario before anything starts: a missing or malformed one is an input error.
 * A FIFO or a directory is refused before it is opened (a FIFO would block). They run with
 * $TARGET_PORT defined. 0, or -1 with the message printed; *nloaded are loaded either way. */
static int load_runs(const struct wrap_opts *o, int port, struct sd_scenario **scs, int *nloaded)
{
	struct sd_sc_options load_opt = {.target_port = port, .server_started = 1};
	char err[256];
	for (; *nloaded < o->nruns; ++*nloaded) {
		const char *run = o->runs[*nloaded];
		struct stat st;
		if (stat(run, &st) < 0) {
			sd__usage_error("wrap", "--run %s: %s", run, strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			sd__usage_error("wrap", "--run %s: not a regular file", run);
			return -1;
		}
		if (sd_scenario_load_opt(run, &load_opt, &scs[*nloaded], err, sizeof err) < 0) {
			sd__usage_error("wrap", "%s", err);
			return -1;
		}
	}
	return 0;
}

/* What the preload reads from the program's environment: itself (after a gcc ASan runtime
 * the program needs first), the faults, the seed, --inherited, the log (made absolute into
 * logabs, PATH_MAX). */
static void preload_environment(const struct wrap_opts *o, const struct sd__wrap *w,
				const char *preload, char *logabs)
{
	char seedtxt[32], ldp[PATH_MAX * 3], asan[PATH_MAX] = "", maxtxt[32];
	snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)w->seed);
	const char *old = getenv("LD_PRELOAD");
	if (sd__wrap_asan_runtime(w->prog, asan, sizeof asan) == 0)
		strcat(asan, " ");
	snprintf(ldp, sizeof ldp, "%s%s%s%s", asan, preload, old && *old ? " " : "",
		 old ? old : "");
	setenv("LD_PRELOAD", ldp, 1);
	setenv("SOCKDRILL_FAULTS", w->faults, 1);
	setenv("SOCKDRILL_SEED", seedtxt, 1);
	if (o->inherited) /* the preload tracks the TCP sockets CMD starts with */
		setenv("SOCKDRILL_INHERITED", "1", 1);
	else
		unsetenv("SOCKDRILL_INHERITED");
	if (o->logpath) {
		if (o->logpath[0] != '/' && getcwd(logabs, PATH_MAX))
			snprintf(logabs + strlen(logabs), PATH_MAX - strlen(logabs), "/%s",
				 o->logpath);
		else
			snprintf(logabs, PATH_MAX, "%s", o->logpath);
		setenv("SOCKDRILL_LOG", logabs, 1);
		snprintf(maxtxt, sizeof maxtxt, "%llu", (unsigned long long)o->logmax);
		setenv("SOCKDRILL_LOG_MAX", maxtxt, 1);
	} else {
		unsetenv("SOCKDRILL_LOG");
		unsetenv("SOCKDRILL_LOG_MAX");
	}
}

/* The checks between the command line and the start: the preload found, --pidfile and --run
 * given what they need, the scenarios loaded and agreeing, the log writable. 0, or -1 with
 * the message printed. */
static int wrap_check(struct wrap_opts *o, struct sd__wrap *w, char *preload, int *nloaded)
{
	if (sd__find_library("SOCKDRILL_PRELOAD", "libsockdrill_preload.so", preload, PATH_MAX) <
	    0) {
		sd__usage_error("wrap", "libsockdrill_preload.so not found beside the sockdrill "
					"binary (set SOCKDRILL_PRELOAD)");
		return -1;
	}
	if (o->pidfile && !o->nruns) {
		sd__usage_error("wrap", "--pidfile needs --run (it names the server to follow)");
		return -1;
	}
	if (o->html && !o->nruns) {
		sd__usage_error("wrap", "--html needs --run (it draws the scenarios' calls)");
		return -1;
	}
	if (o->sarif && !o->nruns) {
		sd__usage_error("wrap", "--sarif needs --run (its findings are the report)");
		return -1;
	}
	if (o->nruns && w->port < 0) {
		sd__usage_error("wrap",
				"--run needs {port} in the command, so sockdrill knows where "
				"it listens");
		return -1;
	}
	if (load_runs(o, w->port, w->scs, nloaded) < 0 ||
	    server_settings(o->runs, w->scs, o->nruns, o->faults_given ? NULL : &o->faults,
			    &o->used, o->seed_given ? NULL : &o->seed) < 0)
		return -1;
	if (o->logpath) {
		/* Opened here, so a log that cannot be written stops us before CMD starts. */
		int lfd = open(o->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lfd < 0) {
			sd__usage_error("wrap", "--log %s: %s", o->logpath, strerror(errno));
			return -1;
		}
		close(lfd);
	}
	if (o->sarif && !(w->sarif = sd__sarif_open("wrap", o->sarif)))
		return -1;
	return 0;
}

int sd__cmd_wrap(int argc, char **argv)
{
	struct wrap_opts o;
	/* Line by line: on a pipe, our lines and CMD's come out in the order they happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rc = wrap_options(argc, argv, &o), cargc = argc - optind, nloaded = 0;
	if (rc >= 0)
		return rc;
	struct sd__wrap w;
	char prog[PATH_MAX], preload[PATH_MAX], logabs[PATH_MAX];
	struct sd_scenario *scs[64];
	w = (struct sd__wrap){.prog = prog, .scs = scs, .runs = o.runs, .nruns = o.nruns};
	rc = SD_EXIT_USAGE;
	if (!(w.cargv = sd__wrap_command(cargc, argv + optind, &w.port)))
		return rc;
	if (sd__wrap_resolve(w.cargv[0], prog, sizeof prog) < 0) {
		sd__usage_error("wrap", "%s: command not found", w.cargv[0]);
		goto out;
	}
	if (wrap_check(&o, &w, preload, &nloaded) < 0)
		goto out;
	if (sd__wrap_is_static(prog))
		fprintf(stderr,
			"sockdrill wrap: warning: %s is statically linked: nothing can be "
			"interposed, so no fault will be injected\n",
			prog);
	w.faults = o.faults, w.seed = o.seed, w.timeout = o.timeout, w.logmax = o.logmax;
	w.pidfile = o.pidfile, w.quiet = o.quiet;
	preload_environment(&o, &w, preload, logabs);
	w.logpath = o.logpath ? logabs : NULL;
	w.used = o.used; /* parsed once: the command line's, or the --run files' */
	if (o.record) {
		rc = sd__wrap_record(o.record, prog, w.cargv, w.port);
		goto out;
	}
	/* the page's file opened before the server starts: one that cannot be written stops us */
	struct sd_html_events events = {0};
	struct run_cfg hcfg = {.caps = {(unsigned)sd_backend_caps("real")}, .html = &events};
	/* the command as given: it starts the server and runs the files again */
	char *repro = sd__wrap_repro_cmd(argc, argv);
	w.repro = repro ? repro : "";
	if (o.html && !(w.html = sd__run_html(o.html, &hcfg))) {
		free(repro);
		goto out;
	}
	w.events = &events;
	sd__proc_catch_signals(); /* from here on, a signal finds the counts file removed */
	unsetenv("SOCKDRILL_STATS");
	if (*w.faults)
		sd__wrap_stats_create(w.statspath, sizeof w.statspath);
	rc = o.nruns ? sd__wrap_serve(&w, argc, argv) : sd__wrap_plain(&w);
	if (w.html && sd__proc_caught()) /* a run cut short writes no page */
		w.html->discard(w.html);
	else if (w.html) {
		struct run_totals t = {.files = w.nruns, .passed = w.passed, .failed = w.failed};
		if (w.html->finish(w.html, &t) < 0 && rc == SD_EXIT_OK)
			rc = SD_EXIT_USAGE;
	}
	sd__html_events_free(&events);
	free(repro);
out:
	if (w.sarif) /* not written: the run did not come to its verdict */
		sd__sarif_discard(w.sarif);
	for (int i = 0; i < nloaded; i++)
		sd_scenario_free(scs[i]);
	for (int i = 0; i < cargc; i++)
		free(w.cargv[i]);
	free(w.cargv);
	return rc;
}
