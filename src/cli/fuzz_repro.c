/* sockdrill repro: a fuzz input replayed once, traced; shrunk, or written as a scenario. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_engine.h"
#include "fuzz_files.h"
#include "fuzz_target.h"
#include "proc.h"

static const char repro_help[] =
	"usage: sockdrill repro TARGET FILE [--engine libfuzzer|afl] [--minimize]\n"
	"                       [--scenario OUT] [--html OUT]\n\n"
	"Runs TARGET (a built-in target, or the path of a fuzzer binary) once on FILE (a regular\n"
	"file) with SOCKDRILL_TRACE=1: the socket calls and faults that led to the finding are\n"
	"printed, then the finding itself. --minimize also shrinks FILE with the engine's own\n"
	"tool (libFuzzer -minimize_crash, afl-tmin) into FILE.min. --scenario OUT (an in-process\n"
	"server target) also writes the run to OUT as a scenario file, the finding in its header\n"
	"(at most 1 MiB: a longer run is cut), and prints the commands that replay it in-process\n"
	"on the sim (sockdrill run --inproc) and on the kernel (sockdrill wrap --run).\n"
	"--html OUT (an in-process server target) also writes the run's calls to OUT as a\n"
	"timeline: one self-contained HTML page, a lane per actor, the bytes of each send and\n"
	"recv, the finding and the command that reproduces it at the top.\n"
	"Exit: 0 the input runs clean, 1 it crashes, 2 bad input, a failed build or a harness\n"
	"error of the target on the input (docs/inproc.md).\n";

/* Runs exe once on abs with SOCKDRILL_TRACE=1; with out_abs (--scenario) or events (--html)
 * its stderr is kept in errpath (PATH_MAX; "" when it could not be) and shown, the scenario
 * written to out_abs and the trace's events to events. Its exit status (-1: it could not be
 * run); *harness says whether it ended in a harness error, which the fuzzer printed already. */
static int replay(const char *exe, const char *abs, const char *t, const char *file,
		  const char *out_abs, const char *events, char *errpath, int *harness)
{
	char herr[PATH_MAX], herr_env[PATH_MAX + 32];
	int hfd = sd__proc_tmpfile("repro", herr, sizeof herr);
	if (hfd >= 0)
		close(hfd);
	sd__textf(herr_env, sizeof herr_env, "SOCKDRILL_HARNESS_ERRORS=%s", hfd >= 0 ? herr : "");
	char e_out[PATH_MAX + 32], e_target[PATH_MAX + 32], e_input[PATH_MAX + 32];
	char e_events[PATH_MAX + 32];
	sd__textf(e_out, sizeof e_out, "SOCKDRILL_SCENARIO_OUT=%s", out_abs ? out_abs : "");
	sd__textf(e_target, sizeof e_target, "SOCKDRILL_SCENARIO_TARGET=%s", t);
	sd__textf(e_input, sizeof e_input, "SOCKDRILL_SCENARIO_INPUT=%s", file);
	sd__textf(e_events, sizeof e_events, "SOCKDRILL_TRACE_EVENTS=%s", events ? events : "");
	const char *env[7] = {"SOCKDRILL_TRACE=1", herr_env};
	int ne = 2;
	if (events)
		env[ne++] = e_events;
	if (out_abs)
		env[ne++] = e_out, env[ne++] = e_target, env[ne++] = e_input;
	env[ne] = NULL;
	char *av[] = {(char *)exe, (char *)abs, NULL};
	struct sd__proc_io io = {.env = env, .fd = -1};
	int rc, efd = -1;
	fflush(stdout);
	if (out_abs || events) { /* its stderr kept, to name the finding */
		if ((efd = sd__proc_tmpfile("repro", errpath, PATH_MAX)) >= 0)
			close(efd);
		io.path = errpath;
		rc = efd < 0 ? -1 : sd__proc_run_code(av, &io);
		if (efd >= 0)
			sd__show_file(errpath);
	} else {
		rc = sd__proc_run_code(av, &io);
	}
	FILE *hf = hfd >= 0 ? fopen(herr, "r") : NULL;
	*harness = hf && fgetc(hf) != EOF;
	if (hf)
		fclose(hf);
	if (hfd >= 0)
		unlink(herr);
	return rc;
}

int sd__cmd_repro(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"engine", required_argument, NULL, 'e'},   {"minimize", no_argument, NULL, 'm'},
		{"scenario", required_argument, NULL, 's'}, {"html", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},           {0, 0, 0, 0},
	};
	const char *engine = "libfuzzer", *scenario = NULL, *html = NULL;
	int opt, minimize = 0;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (opt) {
		case 'e': engine = optarg; break;
		case 'm': minimize = 1; break;
		case 's': scenario = optarg; break;
		case 'H': html = optarg; break;
		case 'h': fputs(repro_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("repro", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"repro", "unknown option '%s' (try 'sockdrill repro --help')", o);
		}
	}
	if (argc - optind != 2)
		return sd__usage_error("repro", "expected TARGET FILE");
	const char *t = argv[optind], *file = argv[optind + 1];
	if (sd__fuzz_check("repro", t, engine) < 0)
		return SD_EXIT_USAGE;
	char root[PATH_MAX], exe[PATH_MAX], abs[PATH_MAX], name[PATH_MAX];
	struct stat st;
	if (!realpath(file, abs))
		return sd__usage_error("repro", "%s: %s", file, strerror(errno));
	/* a fuzzer given a directory fuzzes it, and /dev/null is not an input that crashed */
	if (stat(abs, &st) < 0 || !S_ISREG(st.st_mode))
		return sd__usage_error("repro", "%s: not a regular file", file);
	/* emptied here: a target that writes no scenario leaves none that looks like one */
	char out_abs[PATH_MAX] = "";
	int ofd = scenario ? open(scenario, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	if (scenario && (ofd < 0 || !realpath(scenario, out_abs)))
		return sd__usage_error("repro", "--scenario %s: %s", scenario, strerror(errno));
	if (ofd >= 0)
		close(ofd);
	FILE *hf = html ? fopen(html, "w") : NULL; /* one that cannot be written: say so first */
	if (html && !hf)
		return sd__usage_error("repro", "--html %s: %s", html, strerror(errno));
	if (hf)
		fclose(hf);
	if (sd__fuzz_resolve("repro", t, engine, root, exe, name) < 0)
		return sd__proc_caught() ? sd__proc_exit_status() : SD_EXIT_USAGE;
	char errpath[PATH_MAX] = "", events[PATH_MAX] = "";
	int efd = html ? sd__proc_tmpfile("repro-events", events, sizeof events) : -1;
	if (efd >= 0)
		close(efd);
	else if (html)
		return sd__usage_error("repro", "--html: cannot make a temporary file");
	int harness, rc = replay(exe, abs, t, file, scenario ? out_abs : NULL, html ? events : NULL,
				 errpath, &harness);
	if (sd__proc_caught() || harness) {
		if (*errpath)
			unlink(errpath);
		if (*events)
			unlink(events);
		if (sd__proc_caught())
			return sd__proc_exit_status();
		printf("repro: %s on %s: a harness error (above), not a finding\n", t, file);
		return SD_EXIT_USAGE;
	}
	printf("repro: %s on %s: %s\n", t, file, rc == 0 ? "runs clean" : "the finding reproduces");
	int bad = scenario ? sd__repro_scenario(t, scenario, out_abs, errpath, rc) : 0;
	if (!bad && html)
		bad = sd__repro_html(html, t, file, engine, events, errpath, rc);
	if (*errpath)
		unlink(errpath);
	if (*events)
		unlink(events);
	if (bad)
		return bad;
	if (rc != 0 && minimize) {
		char min[PATH_MAX + 8];
		sd__textf(min, sizeof min, "%s.min", abs);
		sd__fuzz_engine_find(engine)->minimize(exe, abs, min);
		if (access(min, R_OK) == 0)
			printf("repro: minimized input: %s\n", min);
	}
	return rc == 0 ? SD_EXIT_OK : SD_EXIT_CHECK;
}
