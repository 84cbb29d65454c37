/* sockdrill run --inproc and repro --scenario: findings as scenarios, replayed in-process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/scenario.h>

#include "cli.h"
#include "proc.h"

/* How long a replay may run past its --max-time before the target is stopped: the bound is
 * checked between steps, and a server that spins without a call never lets a step end. */
#define GRACE_S 10

static const char placeholder[] = "# finding: not recorded (see the target's output)\n";

/* A directory of our own for one run of the target: its working directory (libFuzzer drops
 * crash-* files there) and the files it writes for us. Removed with rmtree. */
static int make_tmpdir(char *dir, size_t size)
{
	int n = snprintf(dir, size, "%s/sockdrill-inproc-XXXXXX", sd__proc_tmpdir());
	return n > 0 && (size_t)n < size && mkdtemp(dir) ? 0 : -1;
}

static void rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[PATH_MAX + 256];
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name), unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

void sd__show_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[8192];
	size_t n;
	fflush(stdout);
	while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, stderr);
	if (f)
		fclose(f);
}

static int nonempty(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_size > 0;
}

/* ---- run --inproc ----------------------------------------------------------------------- */

/* One file replayed: 0 passed, 1 failed (a step, a crash, a finding), 2 a harness error or a
 * target that does not replay scenarios; the printed lines as sockdrill run prints them. */
static int replay_one(const char *exe, const char *shown, const char *file, const char *seed,
		      int verbose, int max_time_s)
{
	char dir[PATH_MAX], res[PATH_MAX + 32], herr[PATH_MAX + 32], errs[PATH_MAX + 32];
	char abs[PATH_MAX], e_sc[PATH_MAX + 32], e_res[PATH_MAX + 64], e_herr[PATH_MAX + 64];
	char e_seed[64], e_max[64];
	if (!realpath(file, abs) || make_tmpdir(dir, sizeof dir) < 0) {
		sd__usage_error("run", "%s: %s", file, strerror(errno));
		return 2;
	}
	snprintf(res, sizeof res, "%s/verdict", dir);
	snprintf(herr, sizeof herr, "%s/harness-errors", dir);
	snprintf(errs, sizeof errs, "%s/stderr", dir);
	snprintf(e_sc, sizeof e_sc, "SOCKDRILL_SCENARIO=%s", abs);
	snprintf(e_res, sizeof e_res, "SOCKDRILL_SCENARIO_RESULT=%s", res);
	snprintf(e_herr, sizeof e_herr, "SOCKDRILL_HARNESS_ERRORS=%s", herr);
	snprintf(e_seed, sizeof e_seed, "SOCKDRILL_SCENARIO_SEED=%s", seed ? seed : "");
	snprintf(e_max, sizeof e_max, "SOCKDRILL_SCENARIO_MAX_TIME=%d", max_time_s);
	const char *env[] = {
		e_sc,   e_res,
		e_herr, e_seed,
		e_max,  verbose ? "SOCKDRILL_SCENARIO_VERBOSE=1" : "SOCKDRILL_SCENARIO_VERBOSE=",
		NULL};
	/* the target runs the file as its one input, which the replay does not read */
	char *av[] = {(char *)exe, abs, NULL};
	int status = 0, rc;
	fflush(stdout);
	struct sd__proc_io io = {.env = env, .cwd = dir, .path = errs};
	rc = sd__proc_run(av, &io, max_time_s + GRACE_S, &status);
	if (sd__proc_caught()) {
		rmtree(dir);
		return -1;
	}
	FILE *f = fopen(res, "r");
	char verdict[16] = "", message[1024] = "", finding[512] = "";
	double seconds = 0;
	int steps = 0, ran = f && fscanf(f, "%15s %lf %d ", verdict, &seconds, &steps) == 3;
	if (ran && !fgets(message, sizeof message, f))
		message[0] = 0;
	message[strcspn(message, "\n")] = 0;
	if (f)
		fclose(f);
	int exited0 = rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	int passed = ran && !strcmp(verdict, "passed") && exited0, code = passed ? 0 : 1;
	const char *av_repro[] = {"./sockdrill", "run", "--inproc", shown, file, NULL};
	char *repro = sd__shell_cmd(av_repro);
	if (!passed || verbose)
		sd__show_file(errs);
	if (nonempty(herr)) {
		FILE *h = fopen(herr, "r");
		char line[512] = "";
		if (h && !fgets(line, sizeof line, h))
			line[0] = 0;
		if (h)
			fclose(h);
		line[strcspn(line, "\n")] = 0;
		printf("ERR  %s  (inproc sim: a harness error, not a finding)\n      %s\n", file,
		       line);
		code = 2;
	} else if (!ran && exited0) {
		sd__usage_error("run",
				"%s did not replay %s: it is not an in-process server fuzzer "
				"(sd_fuzz_server_run, sockdrill/fuzz.h)",
				shown, file);
		code = 2;
	} else if (ran && exited0) {
		printf("%-4s %s  (inproc sim %.3f s, %d steps)\n", passed ? "ok" : "FAIL", file,
		       seconds, steps);
		if (!passed)
			printf("      sim: %s\n      reproduce: %s\n", message,
			       repro ? repro : "(out of memory)");
	} else {
		sd__finding_in(errs, finding, sizeof finding);
		if (rc == 1)
			snprintf(finding, sizeof finding,
				 "no verdict after %d s: the target was stopped",
				 max_time_s + GRACE_S);
		else if (!finding[0] && WIFSIGNALED(status))
			snprintf(finding, sizeof finding, "killed by signal %d (%s)",
				 WTERMSIG(status), strsignal(WTERMSIG(status)));
		else if (!finding[0])
			snprintf(finding, sizeof finding, "it exited with status %d",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		printf("FAIL %s  (inproc sim: the target stopped %s)\n", file,
		       ran ? "after the steps" : "during the replay");
		printf("      sim: %s\n      reproduce: %s\n", finding,
		       repro ? repro : "(out of memory)");
	}
	free(repro);
	rmtree(dir);
	return code;
}

int sd__run_inproc(const char *target, const char *engine, char *const files[], int nfiles,
		   const char *seed, int verbose, int max_time_s)
{
	char root[PATH_MAX], exe[PATH_MAX], name[PATH_MAX];
	int bad = 0, failed = 0, passed = 0, harness = 0;
	/* every file reads before the target is built or run */
	struct sd_sc_options load = {.target_port = 1, .server_started = 1};
	for (int i = 0; i < nfiles; i++) {
		char err[600];
		struct sd_scenario *sc;
		if (sd_scenario_load_opt(files[i], &load, &sc, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			bad++;
			continue;
		}
		sd_scenario_free(sc);
	}
	if (bad)
		return SD_EXIT_USAGE;
	if (sd__fuzz_target("run", target, engine, root, exe, name) < 0)
		return sd__proc_caught() ? sd__proc_exit_status() : SD_EXIT_USAGE;
	for (int i = 0; i < nfiles; i++) {
		int rc = replay_one(exe, target, files[i], seed, verbose, max_time_s);
		if (rc < 0)
			return sd__proc_exit_status();
		passed += rc == 0, failed += rc == 1, harness += rc == 2;
	}
	printf("run: %d scenario file%s in-process on sim (%s); sim: %d passed, %d failed", nfiles,
	       nfiles == 1 ? "" : "s", name, passed, failed);
	if (harness)
		printf(", %d not replayed", harness);
	printf("\nscenarios: %d passed, %d failed\n", passed, failed);
	return harness ? SD_EXIT_USAGE : failed ? SD_EXIT_CHECK : SD_EXIT_OK;
}

/* ---- repro --scenario ------------------------------------------------------------------- */

/* The connections a written scenario leaves open at its end: conn[k] the client of "Ck", or
 * -1 (the writer's own lines: "clientN: Ck = socket(inet) -> fd", "clientN: close(Ck) -> 0"). */
static void open_conns(const char *text, int *conn, int n)
{
	for (int k = 0; k < n; k++)
		conn[k] = -1;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		int client, k, used = 0;
		if (sscanf(p, "client%d: C%d = socket(inet) -> fd%n", &client, &k, &used) == 2 &&
		    used && k >= 0 && k < n)
			conn[k] = client;
		else if (sscanf(p, "client%d: close(C%d) -> 0%n", &client, &k, &used) == 2 &&
			 used && k >= 0 && k < n)
			conn[k] = -1;
	}
}

/* The written file with the finding in its header (the whole file rewritten: it holds at
 * most SD_SC_MAX_BYTES). When the target crashed, it ends with a receive on each connection
 * left open, which waits for the server's answer or its end: so the replay's last step waits
 * until the server has handled what it sent, on the kernel too, where the program's crash
 * would otherwise race with wrap stopping it. */
static int note_finding(const char *path, const char *finding, int stopped, int crashed)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char *text = malloc(SD_SC_MAX_BYTES + 1);
	size_t n = text ? fread(text, 1, SD_SC_MAX_BYTES, f) : 0;
	fclose(f);
	if (!text)
		return -1;
	text[n] = 0;
	char *at = strstr(text, placeholder);
	f = fopen(path, "w");
	if (!f) {
		free(text);
		return -1;
	}
	if (at) {
		fwrite(text, 1, (size_t)(at - text), f);
		fprintf(f, "# finding: %.400s\n", finding);
		fputs(at + sizeof placeholder - 1, f);
	} else {
		fputs(text, f);
	}
	if (stopped)
		fprintf(f, "# the target stopped here: %.400s\n", finding);
	int conn[64];
	open_conns(text, conn, 64);
	for (int k = 0; k < 64 && crashed; k++)
		if (conn[k] >= 0)
			fprintf(f,
				"client%d: recv(C%d, 65536) -> *    # the server's answer, or its "
				"end\n",
				conn[k], k);
	free(text);
	return fclose(f) == 0 ? 0 : -1;
}

int sd__repro_scenario(const char *target, const char *out, const char *out_abs,
		       const char *errpath, int rc)
{
	char finding[512] = "", err[600];
	if (!nonempty(out_abs)) {
		sd__usage_error("repro",
				"%s wrote no scenario: it is not an in-process server fuzzer "
				"(sd_fuzz_server_run, sockdrill/fuzz.h)",
				target);
		return SD_EXIT_USAGE;
	}
	int kind = rc != 0 ? sd__finding_in(errpath, finding, sizeof finding) : -1;
	if (rc != 0 && !finding[0])
		snprintf(finding, sizeof finding, "the target ended with status %d", rc);
	/* a crash is anything but an oracle's finding (a sanitizer, a signal) */
	if (note_finding(out_abs, rc ? finding : "none: the input runs clean", rc != 0,
			 rc != 0 && kind != 0) < 0) {
		sd__usage_error("repro", "--scenario %s: cannot write: %s", out, strerror(errno));
		return SD_EXIT_USAGE;
	}
	struct sd_sc_options load = {.target_port = 1, .server_started = 1};
	struct sd_scenario *sc;
	if (sd_scenario_load_opt(out_abs, &load, &sc, err, sizeof err) < 0) {
		if (strstr(err, ": no steps in this scenario"))
			sd__usage_error(
				"repro",
				"--scenario %s: the run made no client call before it ended: "
				"nothing to replay",
				out);
		else
			sd__usage_error("repro", "the scenario written does not read: %s", err);
		return SD_EXIT_USAGE;
	}
	FILE *f = fopen(out_abs, "r");
	char line[256];
	int cut = 0;
	while (f && fgets(line, sizeof line, f))
		cut |= !strncmp(line, "# cut here:", 11);
	if (f)
		fclose(f);
	printf("repro: the run as a scenario: %s (%d steps%s)\n", out, sd_scenario_steps(sc),
	       cut ? "; cut at the 1 MiB bound: the rest of the run is not in it" : "");
	sd_scenario_free(sc);
	const char *sim[] = {"./sockdrill", "run", "--inproc", target, out, NULL};
	const char *kern[] = {"./sockdrill", "wrap", "--run", out, "--", NULL};
	char *a = sd__shell_cmd(sim), *b = sd__shell_cmd(kern);
	printf("repro: replay in-process on the sim: %s\n", a ? a : "(out of memory)");
	printf("repro: replay on the kernel: %s NATIVE_SERVER ARGS (its build of the server, "
	       "{port} where it listens)\n",
	       b ? b : "(out of memory)");
	free(a), free(b);
	return 0;
}
