/* sockdrill fuzz / repro: build a target for an engine, run it time-boxed, replay a crash. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_msgs.h"
#include "fuzz_watch.h"
#include "proc.h"

/* Arguments after "--" that go to the engine. */
#define MAX_ENGINE_ARGS 32

/* Formats a path or an argument into a fixed buffer (vsnprintf: cut rather than overflow). */
void sd__pathf(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sd__pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

static const char *const targets[] = {"scenario_parser", "sim_ops", "sim_vs_kernel",
				      "example_server", "fragile_server"};
#define NTARGETS (sizeof targets / sizeof targets[0])

static const char fuzz_help[] =
	"usage: sockdrill fuzz TARGET [--engine libfuzzer|afl] [--time S] [--jobs N]\n"
	"                      [--seeds DIR] [--dict FILE] [--out DIR] [-- ENGINE_ARGS...]\n\n"
	"Builds TARGET for the engine (cmake preset of the same name) and fuzzes it for S seconds\n"
	"(default 60), starting from corpus/TARGET with fuzz/TARGET.dict. New inputs go to\n"
	"OUT/corpus-ENGINE, crashes to OUT/artifacts, each printed with the command that replays\n"
	"it (OUT: --out, default build/fuzz/TARGET).\n"
	"Targets: scenario_parser, sim_ops, sim_vs_kernel, example_server, fragile_server, or\n"
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

static const char repro_help[] =
	"usage: sockdrill repro TARGET FILE [--engine libfuzzer|afl] [--minimize]\n"
	"                       [--scenario OUT]\n\n"
	"Runs TARGET (a built-in target, or the path of a fuzzer binary) once on FILE (a regular\n"
	"file) with SOCKDRILL_TRACE=1: the socket calls and faults that led to the finding are\n"
	"printed, then the finding itself. --minimize also shrinks FILE with the engine's own\n"
	"tool (libFuzzer -minimize_crash, afl-tmin) into FILE.min. --scenario OUT (an in-process\n"
	"server target) also writes the run to OUT as a scenario file, the finding in its header\n"
	"(at most 1 MiB: a longer run is cut), and prints the commands that replay it in-process\n"
	"on the sim (sockdrill run --inproc) and on the kernel (sockdrill wrap --run).\n"
	"Exit: 0 the input runs clean, 1 it crashes, 2 bad input, a failed build or a harness\n"
	"error of the target on the input (docs/inproc.md).\n";

/* The checkout this binary was built in: build/PRESET/sockdrill -> ../../.. */
static int project_root(char *out, size_t size)
{
	const char *env = getenv("SOCKDRILL_ROOT");
	char exe[PATH_MAX], presets[PATH_MAX + 32];
	if (env && *env) {
		sd__pathf(out, size, "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n <= 0)
			return -1;
		exe[n] = 0;
		char *d = dirname(dirname(dirname(exe)));
		sd__pathf(out, size, "%s", d);
	}
	sd__pathf(presets, sizeof presets, "%s/CMakePresets.json", out);
	return access(presets, R_OK) == 0 ? 0 : -1;
}

/* Runs argv (with extra environment assignments), waits; the exit status, or 128+signal. It
 * runs in a process group of its own, which gets our SIGINT/SIGTERM (proc.h). */
static int run(char *const argv[], const char *const env[], const char *log)
{
	pid_t pid = sd__proc_spawn();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (log) {
			FILE *f = fopen(log, "we");
			if (f) {
				dup2(fileno(f), 1);
				dup2(fileno(f), 2);
			}
		}
		execvp(argv[0], argv);
		fprintf(stderr, "sockdrill: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	if (sd__proc_wait(pid, &status) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A TARGET with a '/' is the path of a fuzzer binary built elsewhere: no build, no
 * checkout needed. Its absolute path into exe, its name (without a fuzz_ prefix) into name. */
static int external_target(const char *cmd, const char *t, char *exe, char *name, size_t size)
{
	struct stat st;
	if (!realpath(t, exe) || stat(exe, &st) < 0 || !S_ISREG(st.st_mode) ||
	    access(exe, X_OK) < 0) {
		sd__usage_error(cmd, "%s: not an executable fuzzer", t);
		return -1;
	}
	const char *b = strrchr(exe, '/') + 1;
	if (!strncmp(b, "fuzz_", 5) && b[5])
		b += 5;
	sd__pathf(name, size, "%s", b);
	return 0;
}

/* A user's fuzzer keeps its seeds and dictionary beside it, named after it: PATH.seeds/ (dir)
 * and PATH.dict (a regular file), by the path as given or the file it resolves to. The one
 * found, made absolute, into out; "" when there is none. */
static void beside(const char *given, const char *exe, const char *suffix, int dir, char *out,
		   size_t size)
{
	const char *paths[] = {given, exe};
	*out = 0;
	for (int i = 0; i < 2; i++) {
		char p[PATH_MAX + 16], abs[PATH_MAX];
		struct stat st;
		sd__pathf(p, sizeof p, "%s%s", paths[i], suffix);
		if (stat(p, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) &&
		    access(p, dir ? R_OK | X_OK : R_OK) == 0 && realpath(p, abs)) {
			sd__pathf(out, size, "%s", abs);
			return;
		}
	}
}

static int check_target(const char *cmd, const char *t)
{
	for (size_t i = 0; i < NTARGETS; i++)
		if (!strcmp(t, targets[i]))
			return 0;
	return sd__usage_error(cmd,
			       "unknown target '%s' (scenario_parser, sim_ops, sim_vs_kernel, "
			       "example_server, fragile_server)",
			       t);
}

static int check_engine(const char *cmd, const char *e)
{
	if (strcmp(e, "libfuzzer") && strcmp(e, "afl"))
		return sd__usage_error(cmd, "--engine must be libfuzzer or afl, not '%s'", e);
	return 0;
}

/* Configures the engine's preset and builds the target; the binary path into exe. */
static int build_target(const char *cmd, const char *root, const char *engine, const char *t,
			char *exe, size_t size)
{
	char bdir[PATH_MAX], log[PATH_MAX + 64], tgt[64], jobs[16];
	sd__pathf(bdir, sizeof bdir, "%s/build/%s", root, engine);
	sd__pathf(log, sizeof log, "%s/build/%s.fuzz-build.log", root, engine);
	sd__pathf(tgt, sizeof tgt, "fuzz_%s", t);
	sd__pathf(jobs, sizeof jobs, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	char top[PATH_MAX];
	sd__pathf(top, sizeof top, "%s/build", root);
	mkdir(top, 0755);
	mkdir(bdir, 0755);
	fprintf(stderr, "sockdrill %s: building %s for %s (log: %s)\n", cmd, t, engine, log);
	char *conf[] = {"cmake", "--preset", (char *)engine, "-S", (char *)root, NULL};
	char *bld[] = {"cmake", "--build", bdir, "--target", tgt, "-j", jobs, NULL};
	/* Two `sockdrill fuzz` started together must not build one tree at once: the second
	 * waits for the first (the lock goes with the descriptor, even if we are killed). */
	char lockpath[PATH_MAX + 16];
	sd__pathf(lockpath, sizeof lockpath, "%s/build/%s.fuzz-build.lock", root, engine);
	int lk = open(lockpath, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (lk >= 0)
		flock(lk, LOCK_EX);
	int ok = chdir(root) == 0 && run(conf, NULL, log) == 0 && run(bld, NULL, log) == 0;
	if (lk >= 0)
		close(lk);
	if (!ok && sd__proc_caught())
		return -1; /* stopped by SIGINT/SIGTERM, not a failed build */
	if (!ok) {
		fprintf(stderr, "sockdrill %s: the %s build failed; see %s\n", cmd, engine, log);
		return -1;
	}
	sd__pathf(exe, size, "%s/%s", bdir, tgt);
	return 0;
}

/* The fuzzer binary for TARGET into exe (PATH_MAX) and its name into name (PATH_MAX): a
 * path is taken as it is; a built-in target is built in the checkout (root, PATH_MAX). */
static int resolve_target(const char *cmd, const char *t, const char *engine, char *root, char *exe,
			  char *name)
{
	if (strchr(t, '/'))
		return external_target(cmd, t, exe, name, PATH_MAX) < 0 ? -1 : 0;
	if (project_root(root, PATH_MAX) < 0) {
		sd__usage_error(cmd, "cannot find the sockdrill checkout (set SOCKDRILL_ROOT)");
		return -1;
	}
	sd__pathf(name, PATH_MAX, "%s", t);
	return build_target(cmd, root, engine, t, exe, PATH_MAX);
}

static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' &&
		     (!prefix || !strncmp(e->d_name, prefix, strlen(prefix)));
	if (d)
		closedir(d);
	return n;
}

/* Copies each non-empty regular file of src whose name starts with prefix into dst, named by
 * tag-N; the number copied. (Every copy feeds AFL++ or comes from it: it refuses empty
 * inputs.) */
static int copy_files(const char *src, const char *prefix, const char *dst, const char *tag)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix))))
			continue;
		char from[PATH_MAX * 2], to[PATH_MAX * 2], buf[65536];
		sd__pathf(from, sizeof from, "%s/%s", src, e->d_name);
		if (stat(from, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			continue;
		sd__pathf(to, sizeof to, "%s/%s-%d", dst, tag, n);
		FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
		size_t k;
		while (in && out && (k = fread(buf, 1, sizeof buf, in)) > 0)
			fwrite(buf, 1, k, out);
		if (in)
			fclose(in);
		if (out)
			fclose(out), n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* The names in a directory, newline-joined (a snapshot to tell new files from old). */
static char *list_names(const char *dir)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (m && d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			fprintf(m, "\n%s\n", e->d_name);
	if (d)
		closedir(d);
	if (m)
		fclose(m);
	return buf;
}

static int later(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* This run's crash files, each with the command that replays it (none when t is NULL: a
 * count only): names that were not in `before`, and files written after the `since` mark
 * (libFuzzer names a crash by its content, so finding one again rewrites the same file). The
 * mark is a file's time, from the same clock as the crashes': a crash of an earlier run in the
 * same second is not this run's. */
int sd__print_crashes(const char *art, const char *t, const char *engine, const char *before,
		      const struct timespec *since)
{
	DIR *d = opendir(art);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		char path[PATH_MAX * 2], key[NAME_MAX + 4];
		struct stat st;
		sd__pathf(key, sizeof key, "\n%s\n", e->d_name);
		sd__pathf(path, sizeof path, "%s/%s", art, e->d_name);
		/* libFuzzer's slow-unit-* files are inputs it found slow: kept, not crashes */
		if (e->d_name[0] == '.' || !strncmp(e->d_name, "slow-unit-", 10) ||
		    stat(path, &st) < 0 ||
		    (before && strstr(before, key) && !later(&st.st_mtim, since)))
			continue;
		n++;
		if (!t)
			continue;
		const char *av[] = {"./sockdrill", "repro", t, path, "--engine", engine, NULL};
		char *cmd = sd__shell_cmd(av);
		printf("reproduce: %s\n", cmd ? cmd : "(out of memory)");
		free(cmd);
	}
	if (d)
		closedir(d);
	return n;
}

enum { ENGINE_TAIL = 12 }; /* lines of an engine's log shown when it did not fuzz */

/* Writes s without its terminal escapes (AFL++ colours its messages even into a file). */
static void put_plain(const char *s, FILE *f)
{
	for (; *s; s++) {
		if (*s != '\033') {
			fputc(*s, f);
			continue;
		}
		if (s[1] == '[') /* CSI: parameters up to a final byte in @..~ */
			for (s += 2; *s && (*s < '@' || *s > '~'); s++)
				;
		else if (s[1])
			s++;
		if (!*s)
			break;
	}
}

/* The last lines of an engine's log on stderr, headed by where all of it is. */
static void show_tail(const char *log, const char *who)
{
	FILE *f = fopen(log, "r");
	char *line = NULL, *ring[ENGINE_TAIL] = {0};
	size_t cap = 0, n = 0;
	while (f && getline(&line, &cap, f) > 0) {
		free(ring[n % ENGINE_TAIL]);
		ring[n++ % ENGINE_TAIL] = strdup(line);
	}
	if (f)
		fclose(f);
	free(line);
	fprintf(stderr, "sockdrill fuzz: the last lines of %s's output (all of it in %s):\n", who,
		log);
	for (size_t i = n > ENGINE_TAIL ? n - ENGINE_TAIL : 0; i < n; i++)
		if (ring[i % ENGINE_TAIL])
			put_plain(ring[i % ENGINE_TAIL], stderr);
	for (size_t i = 0; i < ENGINE_TAIL; i++)
		free(ring[i]);
}

/* Whether libFuzzer's log shows a run that fuzzed to its end: "Done N runs in S second(s)"
 * (N > 0), or "INFO: exiting: 0" from the -fork driver. */
static int libfuzzer_fuzzed(const char *log)
{
	FILE *f = fopen(log, "r");
	char *line = NULL;
	size_t cap = 0;
	int fuzzed = 0;
	unsigned long long runs;
	while (f && getline(&line, &cap, f) > 0)
		if ((sscanf(line, "Done %llu runs in ", &runs) == 1 && runs > 0) ||
		    !strncmp(line, "INFO: exiting: 0 ", 17))
			fuzzed = 1;
	if (f)
		fclose(f);
	free(line);
	return fuzzed;
}

/* Whether the AFL++ main instance ran the target: its fuzzer_stats with execs_done > 0. */
static int afl_fuzzed(const char *out)
{
	char path[PATH_MAX + 160], *line = NULL;
	size_t cap = 0;
	unsigned long long execs = 0;
	sd__pathf(path, sizeof path, "%s/main/fuzzer_stats", out);
	FILE *f = fopen(path, "r");
	while (f && getline(&line, &cap, f) > 0)
		if (sscanf(line, "execs_done : %llu", &execs) == 1)
			break;
	if (f)
		fclose(f);
	free(line);
	return execs > 0;
}

/* Replays the first input of `in` through exe (an AFL++ build runs a file argument once),
 * bounded by 120 s, its output in base/afl-preflight.log: 1 when it ended in a harness error
 * (herr, the file SOCKDRILL_HARNESS_ERRORS names, is not empty), else 0. */
static int afl_preflight(const char *exe, const char *in, const char *herr_env, const char *base,
			 const char *herr)
{
	DIR *d = opendir(in);
	struct dirent *e;
	char first[PATH_MAX + 300] = "";
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			sd__pathf(first, sizeof first, "%s/%s", in, e->d_name);
			break;
		}
	if (d)
		closedir(d);
	if (!*first)
		return 0;
	char log[PATH_MAX + 96];
	sd__pathf(log, sizeof log, "%s/afl-preflight.log", base);
	char *av[] = {"timeout", "120", (char *)exe, first, NULL};
	const char *env[] = {herr_env, NULL};
	run(av, env, log);
	struct stat st;
	return stat(herr, &st) == 0 && st.st_size > 0;
}

/* The harness errors the fuzzer's inputs ended in (harness/libc/proc.c appends each to the file
 * SOCKDRILL_HARNESS_ERRORS names: a line "sockdrill: ...", then the server's last output
 * indented by two spaces). The first goes to stderr; their number, 0 for none. */
static int harness_errors(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (f && getline(&line, &cap, f) > 0) {
		int more = !strncmp(line, "  ", 2);
		n += !more;
		if (n == 1)
			fputs(line, stderr);
	}
	if (f)
		fclose(f);
	free(line);
	return n;
}

int sd__cmd_fuzz(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"engine", required_argument, NULL, 'e'}, {"time", required_argument, NULL, 't'},
		{"jobs", required_argument, NULL, 'j'},   {"seeds", required_argument, NULL, 's'},
		{"dict", required_argument, NULL, 'd'},   {"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},         {0, 0, 0, 0},
	};
	const char *engine = "libfuzzer", *seeds_opt = NULL, *dict_opt = NULL, *out_opt = NULL;
	uint64_t secs = 60, jobs = 1;
	int opt;
	/* Everything after "--" goes to the engine as it is: libFuzzer flags, afl-fuzz options. */
	char **engine_args = NULL;
	int nengine = 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			engine_args = argv + i + 1;
			nengine = argc - i - 1;
			argc = i;
			break;
		}
	if (nengine > MAX_ENGINE_ARGS)
		return sd__usage_error("fuzz", "at most %d engine arguments after '--', not %d",
				       MAX_ENGINE_ARGS, nengine);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (opt) {
		case 'e': engine = optarg; break;
		case 't':
			if (sd__parse_num("fuzz", "--time", optarg, 1, 86400, &secs))
				return SD_EXIT_USAGE;
			break;
		case 'j':
			if (sd__parse_num("fuzz", "--jobs", optarg, 1, 64, &jobs))
				return SD_EXIT_USAGE;
			break;
		case 's': seeds_opt = optarg; break;
		case 'd': dict_opt = optarg; break;
		case 'o': out_opt = optarg; break;
		case 'h': fputs(fuzz_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("fuzz", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"fuzz", "unknown option '%s' (try 'sockdrill fuzz --help')", o);
		}
	}
	if (optind != argc - 1)
		return sd__usage_error("fuzz",
				       optind >= argc ? "no target given" : "one target at a time");
	const char *t = argv[optind];
	int external = strchr(t, '/') != NULL;
	if ((!external && check_target("fuzz", t)) || check_engine("fuzz", engine))
		return SD_EXIT_USAGE;
	char root[PATH_MAX], exe[PATH_MAX], seeds[PATH_MAX + 64], base[PATH_MAX + 64];
	char work[PATH_MAX + 96], art[PATH_MAX + 96], dict[PATH_MAX + 96], name[PATH_MAX];
	/* Paths given on the command line are the caller's: made absolute before a build
	 * changes directory. */
	char seeds_abs[PATH_MAX], dict_abs[PATH_MAX], out_abs[PATH_MAX], cwd[PATH_MAX];
	if (seeds_opt && (access(seeds_opt, R_OK | X_OK) < 0 || !realpath(seeds_opt, seeds_abs)))
		return sd__usage_error("fuzz", "--seeds: %s: %s", seeds_opt, strerror(errno));
	if (dict_opt && (access(dict_opt, R_OK) < 0 || !realpath(dict_opt, dict_abs)))
		return sd__usage_error("fuzz", "--dict: %s: %s", dict_opt, strerror(errno));
	/* an engine given a file for seeds runs it once and stops; one given a directory for a
	 * dictionary refuses to start */
	struct stat ost;
	if (seeds_opt && (stat(seeds_abs, &ost) < 0 || !S_ISDIR(ost.st_mode)))
		return sd__usage_error("fuzz", "--seeds: %s: not a directory", seeds_opt);
	if (dict_opt && (stat(dict_abs, &ost) < 0 || !S_ISREG(ost.st_mode)))
		return sd__usage_error("fuzz", "--dict: %s: not a regular file", dict_opt);
	if (out_opt && out_opt[0] != '/' && getcwd(cwd, sizeof cwd)) {
		sd__pathf(out_abs, sizeof out_abs, "%s/%s", cwd, out_opt);
		out_opt = out_abs;
	}
	seeds_opt = seeds_opt ? seeds_abs : NULL;
	dict_opt = dict_opt ? dict_abs : NULL;
	if (resolve_target("fuzz", t, engine, root, exe, name) < 0)
		return sd__proc_caught() ? sd__proc_exit_status() : SD_EXIT_USAGE;
	if (external) {
		/* a user's fuzzer gets what a built-in target has, from beside it */
		if (seeds_opt)
			sd__pathf(seeds, sizeof seeds, "%s", seeds_opt);
		else
			beside(t, exe, ".seeds", 1, seeds, sizeof seeds);
		if (dict_opt)
			sd__pathf(dict, sizeof dict, "%s", dict_opt);
		else
			beside(t, exe, ".dict", 0, dict, sizeof dict);
		if (!out_opt) {
			mkdir("fuzz-out", 0755);
			sd__pathf(base, sizeof base, "fuzz-out/%s", name);
		}
	} else {
		if (seeds_opt)
			sd__pathf(seeds, sizeof seeds, "%s", seeds_opt);
		else
			sd__pathf(seeds, sizeof seeds, "%s/corpus/%s", root, t);
		if (dict_opt)
			sd__pathf(dict, sizeof dict, "%s", dict_opt);
		else
			sd__pathf(dict, sizeof dict, "%s/fuzz/%s.dict", root, t);
		char mk[PATH_MAX + 128];
		sd__pathf(mk, sizeof mk, "%s/build/fuzz", root);
		mkdir(mk, 0755), mkdir(seeds, 0755);
		if (!out_opt)
			sd__pathf(base, sizeof base, "%s/build/fuzz/%s", root, t);
	}
	if (out_opt)
		sd__pathf(base, sizeof base, "%s", out_opt);
	mkdir(base, 0755);
	sd__pathf(work, sizeof work, "%s/corpus-%s", base, engine);
	sd__pathf(art, sizeof art, "%s/artifacts", base);
	if (mkdir(work, 0755) < 0 && errno != EEXIST)
		return sd__usage_error("fuzz", "cannot create %s: %s", work, strerror(errno));
	mkdir(art, 0755);
	if ((!*seeds || !count_files(seeds, NULL)) &&
	    !count_files(work, NULL)) { /* engines need one input to start from */
		char empty[PATH_MAX + 96];
		sd__pathf(empty, sizeof empty, "%s/empty", work);
		FILE *f = fopen(empty, "wb");
		if (f)
			fclose(f);
	}
	char *before = list_names(art), mark[PATH_MAX + 160];
	struct timespec since = {0, 0};
	struct stat mst;
	sd__pathf(mark, sizeof mark, "%s/.started", art);
	FILE *mf = fopen(mark, "w");
	if (mf)
		fclose(mf);
	if (stat(mark, &mst) == 0)
		since = mst.st_mtim;
	/* AFL++ takes a harness error's exit status 2 for a clean run: the inputs that ended in
	 * one are told here instead, on both engines. */
	char herr[PATH_MAX + 160], herr_env[PATH_MAX + 200];
	sd__pathf(herr, sizeof herr, "%s/harness-errors", base);
	sd__pathf(herr_env, sizeof herr_env, "SOCKDRILL_HARNESS_ERRORS=%s", herr);
	unlink(herr);
	int rc, fuzzed;
	char a_time[32], a_art[PATH_MAX + 128], a_dict[PATH_MAX + 128], a_jobs[32];
	char log[PATH_MAX + 96]; /* the engine's output (AFL++: its main instance's) */
	int have_dict = *dict && access(dict, R_OK) == 0;
	/* A server fuzzer's messages: a dictionary if none was given, AFL++'s custom mutator. */
	const char *menv[4] = {NULL};
	sd__fuzz_messages(exe, engine, base, dict, sizeof dict, &have_dict, menv);
	printf("fuzz: %s on %s for %llu s (%llu job%s)\n", name, engine, (unsigned long long)secs,
	       (unsigned long long)jobs, jobs == 1 ? "" : "s");
	printf("fuzz: seeds %s, dictionary %s, output %s\n", *seeds ? seeds : "none",
	       have_dict ? dict : "none", base);
	fflush(stdout);
	struct watch w = {.fd = -1,
			  .log_path = log,
			  .art = art,
			  .before = before,
			  .since = &since,
			  .afl = !strcmp(engine, "afl"),
			  .ninst = (int)jobs,
			  .tty = isatty(2),
			  .secs = secs};
	sd__stats_init(&w.st);
	int pfd[2] = {-1, -1};
	if (!strcmp(engine, "libfuzzer")) {
		sd__pathf(a_time, sizeof a_time, "-max_total_time=%llu", (unsigned long long)secs);
		sd__pathf(a_art, sizeof a_art, "-artifact_prefix=%s/", art);
		sd__pathf(a_dict, sizeof a_dict, "-dict=%s", dict);
		sd__pathf(a_jobs, sizeof a_jobs, "-fork=%llu", (unsigned long long)jobs);
		char *av[12 + MAX_ENGINE_ARGS];
		int n = 0;
		av[n++] = exe, av[n++] = a_time, av[n++] = a_art, av[n++] = "-print_final_stats=1";
		if (have_dict)
			av[n++] = a_dict;
		if (jobs > 1)
			av[n++] = a_jobs;
		for (int i = 0; i < nengine; i++) /* the user's flags, after ours: they win */
			av[n++] = engine_args[i];
		av[n++] = work;
		if (*seeds)
			av[n++] = seeds;
		av[n] = NULL;
		sd__pathf(log, sizeof log, "%s/libfuzzer.log", base);
		const char *env[] = {herr_env, menv[0], menv[1], menv[2], NULL};
		/* its output through a pipe: status lines to the progress line, crash reports to
		 * stderr, all of it to the log */
		w.log = fopen(log, "we");
		if (pipe2(pfd, O_CLOEXEC) == 0) {
			fcntl(pfd[0], F_SETFL, O_NONBLOCK); /* ours only: the engine's end blocks */
			pid_t p = sd__spawn_engine(av, env, pfd[1]);
			close(pfd[1]);
			w.fd = pfd[0];
			if (p > 0)
				w.pid[w.np++] = p;
		}
		sd__watch_run(&w);
		if (w.log)
			fclose(w.log);
		rc = w.np ? sd__watch_status(&w) : 127;
		fuzzed = libfuzzer_fuzzed(log);
	} else {
		const char *const env[] = {"AFL_SKIP_CPUFREQ=1",
					   "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1",
					   "AFL_NO_UI=1",
					   "AFL_BENCH_UNTIL_CRASH=1",
					   herr_env,
					   menv[0],
					   menv[1],
					   menv[2],
					   NULL};
		char out[PATH_MAX + 128], in[PATH_MAX + 128];
		sd__pathf(out, sizeof out, "%s/afl-out", base);
		sd__pathf(in, sizeof in, "%s/afl-in", base);
		/* Every run starts with an empty output directory (afl-fuzz refuses one holding
		 * more than 25 minutes of work): the last one's crashes and queue were already
		 * brought home, and it is kept as afl-out.prev. */
		char prev[PATH_MAX + 160];
		sd__pathf(prev, sizeof prev, "%s.prev", out);
		char *rm[] = {"rm", "-rf", prev, NULL};
		run(rm, NULL, NULL);
		rename(out, prev);
		/* afl-in is this run's own: the seeds and the corpus so far, without the empty
		 * inputs AFL++ refuses, else a one-byte seed */
		char *rm_in[] = {"rm", "-rf", in, NULL};
		run(rm_in, NULL, NULL);
		mkdir(in, 0755);
		int nin = *seeds ? copy_files(seeds, NULL, in, "seed") : 0;
		nin += copy_files(work, NULL, in, "work");
		if (!nin) {
			char empty[PATH_MAX + 160];
			sd__pathf(empty, sizeof empty, "%s/empty", in);
			FILE *f = fopen(empty, "wb");
			if (f)
				fputc(0, f), fclose(f);
		}
		sd__pathf(a_time, sizeof a_time, "%llu", (unsigned long long)secs);
		/* AFL++ takes a harness error's exit status 2 for a clean run, so a target that
		 * cannot run any input (its server never listens, say) would be fuzzed for the
		 * whole time first: one of the inputs replayed alone says so at once. */
		int skip = afl_preflight(exe, in, herr_env, base, herr);
		if (skip)
			printf("fuzz: %s on %s: its first input ended in a harness error; not "
			       "fuzzing\n",
			       name, engine);
		sd__pathf(log, sizeof log, "%s/afl.log", base);
		w.afl_out = out;
		/* Each instance's output to a log of its own (the main's through a pipe, read as it
		 * comes): a line per queue entry is a flood, and the figures come by StatsD. */
		if (!skip && pipe2(pfd, O_CLOEXEC) == 0) {
			fcntl(pfd[0], F_SETFL, O_NONBLOCK);
			w.fd = pfd[0];
			w.log = fopen(log, "we");
		}
		/* The caller's own StatsD (AFL_STATSD) is left alone; else each instance reports
		 * to a loopback socket of ours, bound to a port the kernel picks. */
		int statsd = !getenv("AFL_STATSD");
		for (uint64_t j = 0; w.fd >= 0 && j < jobs; j++) {
			char role[16], name[16], slog[PATH_MAX + 128], port[48];
			const char *ienv[12] = {0};
			int ne = 0;
			for (int i = 0; env[i]; i++)
				ienv[ne++] = env[i];
			struct sockaddr_in sa = {.sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			socklen_t salen = sizeof sa;
			int u = -1;
			if (statsd)
				u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (u >= 0 && (bind(u, (struct sockaddr *)&sa, sizeof sa) < 0 ||
				       getsockname(u, (struct sockaddr *)&sa, &salen) < 0))
				close(u), u = -1;
			if (u >= 0) {
				sd__pathf(port, sizeof port, "AFL_STATSD_PORT=%u",
					  ntohs(sa.sin_port));
				ienv[ne++] = "AFL_STATSD=1";
				ienv[ne++] = "AFL_STATSD_HOST=127.0.0.1";
				ienv[ne++] = port;
			}
			sd__pathf(role, sizeof role, j ? "-S" : "-M");
			sd__pathf(name, sizeof name, j ? "s%llu" : "main", (unsigned long long)j);
			char *av[16 + MAX_ENGINE_ARGS];
			int n = 0;
			av[n++] = "afl-fuzz", av[n++] = "-i", av[n++] = in, av[n++] = "-o",
			av[n++] = out;
			av[n++] = "-V", av[n++] = a_time, av[n++] = role, av[n++] = name;
			if (have_dict)
				av[n++] = "-x", av[n++] = dict;
			for (int i = 0; i < nengine; i++)
				av[n++] = engine_args[i];
			av[n++] = "--", av[n++] = exe, av[n] = NULL;
			sd__pathf(slog, sizeof slog, "%s/afl-%s.log", base, name);
			int fd = j ? open(slog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
				   : pfd[1];
			pid_t p = fd >= 0 ? sd__spawn_engine(av, ienv, fd) : -1;
			if (j && fd >= 0)
				close(fd);
			if (p > 0)
				w.pid[w.np++] = p;
			if (p > 0 && u >= 0)
				sd__stats_init(&w.inst[w.nudp]), w.udp[w.nudp++] = u;
			else if (u >= 0)
				close(u);
		}
		if (pfd[1] >= 0)
			close(pfd[1]);
		sd__watch_run(&w);
		if (w.log)
			fclose(w.log);
		rc = sd__watch_status(&w);
		/* Crashes and the grown queue come home (crash names unique to this run). */
		char tag[64];
		sd__pathf(tag, sizeof tag, "afl-crash-%lld-%d", (long long)time(NULL),
			  (int)getpid());
		DIR *d = opendir(out);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char sub[PATH_MAX * 2];
			sd__pathf(sub, sizeof sub, "%s/%s/crashes", out, e->d_name);
			copy_files(sub, "id:", art, tag);
			sd__pathf(sub, sizeof sub, "%s/%s/queue", out, e->d_name);
			copy_files(sub, "id:", work, "afl-queue");
		}
		if (d)
			closedir(d);
		fuzzed = afl_fuzzed(out);
	}
	sd__fuzz_summary(&w, name, engine);
	fflush(stdout);
	int crashes = sd__print_crashes(art, external ? exe : t, engine, before, &since);
	free(before);
	int failed = sd__watch_failed(&w);
	char flog[PATH_MAX + 128];
	if (failed > 0) /* an AFL++ secondary's own log */
		sd__pathf(flog, sizeof flog, "%s/afl-s%d.log", base, failed);
	else
		sd__pathf(flog, sizeof flog, "%s", log);
	if (crashes && !w.afl && !w.shown) /* a crash without a report we could tell: its end */
		show_tail(flog, engine);
	if (sd__proc_caught()) { /* the engine was stopped early; what it found is above */
		printf("fuzz: %s on %s: %d new crash%s before it was stopped\n", name, engine,
		       crashes, crashes == 1 ? "" : "es");
		fprintf(stderr, "sockdrill fuzz: stopped by %s\n",
			sd__proc_caught() == SIGINT ? "SIGINT" : "SIGTERM");
		return sd__proc_exit_status();
	}
	/* An input the target could not run (a server that never listens, say) is no result
	 * either: the campaign fuzzed a broken target. */
	int nherr = harness_errors(herr);
	if (nherr) {
		fprintf(stderr,
			"sockdrill fuzz: %s on %s: %d input%s ended in a harness error (the first "
			"above; all in %s), not a finding: fix the target and fuzz again\n",
			name, engine, nherr, nherr == 1 ? "" : "s", herr);
		return SD_EXIT_USAGE;
	}
	/* No crash is a result only if the engine fuzzed: one that refused to start (a bad
	 * dictionary, seeds or target) found nothing because it looked at nothing. */
	if (!crashes && (rc != 0 || !fuzzed)) {
		show_tail(flog, engine);
		if (rc != 0)
			fprintf(stderr,
				"sockdrill fuzz: %s did not fuzz %s: it exited with status %d (its "
				"last lines are above)\n",
				engine, name, rc);
		else
			fprintf(stderr, "sockdrill fuzz: %s did not fuzz %s: %s\n", engine, name,
				strcmp(engine, "afl") ? "its output has no \"Done N runs\""
						      : "no executions in its fuzzer_stats");
		return SD_EXIT_USAGE;
	}
	printf("fuzz: %s on %s: %d new crash%s; corpus %s: %d inputs\n", name, engine, crashes,
	       crashes == 1 ? "" : "es", work, count_files(work, NULL));
	return crashes ? SD_EXIT_CHECK : SD_EXIT_OK;
}

int sd__cmd_repro(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"engine", required_argument, NULL, 'e'},
		{"minimize", no_argument, NULL, 'm'},
		{"scenario", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *engine = "libfuzzer", *scenario = NULL;
	int opt, minimize = 0;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (opt) {
		case 'e': engine = optarg; break;
		case 'm': minimize = 1; break;
		case 's': scenario = optarg; break;
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
	if ((!strchr(t, '/') && check_target("repro", t)) || check_engine("repro", engine))
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
	if (resolve_target("repro", t, engine, root, exe, name) < 0)
		return sd__proc_caught() ? sd__proc_exit_status() : SD_EXIT_USAGE;
	char herr[PATH_MAX], herr_env[PATH_MAX + 32];
	int hfd = sd__proc_tmpfile("repro", herr, sizeof herr);
	if (hfd >= 0)
		close(hfd);
	sd__pathf(herr_env, sizeof herr_env, "SOCKDRILL_HARNESS_ERRORS=%s", hfd >= 0 ? herr : "");
	char e_out[PATH_MAX + 32], e_target[PATH_MAX + 32], e_input[PATH_MAX + 32];
	char errpath[PATH_MAX] = "";
	sd__pathf(e_out, sizeof e_out, "SOCKDRILL_SCENARIO_OUT=%s", out_abs);
	sd__pathf(e_target, sizeof e_target, "SOCKDRILL_SCENARIO_TARGET=%s", t);
	sd__pathf(e_input, sizeof e_input, "SOCKDRILL_SCENARIO_INPUT=%s", file);
	const char *env[] = {"SOCKDRILL_TRACE=1", herr_env, e_out, e_target, e_input, NULL};
	char *av[] = {exe, abs, NULL};
	fflush(stdout);
	int rc, efd = -1, status = 0;
	if (scenario) { /* its stderr kept, to name the finding in the scenario */
		if ((efd = sd__proc_tmpfile("repro", errpath, sizeof errpath)) >= 0)
			close(efd);
		rc = efd < 0 ? -1 : sd__spawn_captured(av, env, NULL, errpath, 0, &status);
		rc = rc < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (efd >= 0)
			sd__show_file(errpath);
	} else {
		env[2] = NULL;
		rc = run(av, env, NULL);
	}
	/* the fuzzer printed its harness error already: only whether there was one */
	FILE *hf = hfd >= 0 ? fopen(herr, "r") : NULL;
	int harness = hf && fgetc(hf) != EOF;
	if (hf)
		fclose(hf);
	if (hfd >= 0)
		unlink(herr);
	if (sd__proc_caught() || harness) {
		if (efd >= 0)
			unlink(errpath);
		if (sd__proc_caught())
			return sd__proc_exit_status();
		printf("repro: %s on %s: a harness error (above), not a finding\n", t, file);
		return SD_EXIT_USAGE;
	}
	printf("repro: %s on %s: %s\n", t, file, rc == 0 ? "runs clean" : "the finding reproduces");
	if (scenario) {
		int bad = sd__repro_scenario(t, scenario, out_abs, errpath, rc);
		unlink(errpath);
		if (bad)
			return bad;
	}
	if (rc != 0 && minimize) {
		char min[PATH_MAX + 8], a1[PATH_MAX + 64], a2[PATH_MAX + 64];
		sd__pathf(min, sizeof min, "%s.min", abs);
		if (!strcmp(engine, "libfuzzer")) {
			sd__pathf(a1, sizeof a1, "-exact_artifact_path=%s", min);
			sd__pathf(a2, sizeof a2, "-max_total_time=30");
			char *mv[] = {exe, "-minimize_crash=1", a1, a2, abs, NULL};
			run(mv, NULL, NULL);
		} else {
			static const char *const aenv[] = {"AFL_SKIP_CPUFREQ=1", NULL};
			char *mv[] = {"afl-tmin", "-i", abs, "-o", min, "--", exe, NULL};
			run(mv, aenv, NULL);
		}
		if (access(min, R_OK) == 0)
			printf("repro: minimized input: %s\n", min);
	}
	return rc == 0 ? SD_EXIT_OK : SD_EXIT_CHECK;
}

int sd__fuzz_target(const char *cmd, const char *t, const char *engine, char *root, char *exe,
		    char *name)
{
	if ((!strchr(t, '/') && check_target(cmd, t)) || check_engine(cmd, engine))
		return -1;
	return resolve_target(cmd, t, engine, root, exe, name);
}
