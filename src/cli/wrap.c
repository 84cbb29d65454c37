/* sockdrill wrap: a program under libsockdrill_preload.so, optionally checked by scenarios. */
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>
#include <sockdrill/sockdrill.h>

#include "cli.h"
#include "proc.h"
#include "wrap_record.h"

static const char wrap_help[] =
	"usage: sockdrill wrap [--faults SPEC] [--seed N] [--log FILE] [--run SCENARIO]...\n"
	"                      [--timeout S] [--record FILE] -- CMD [ARGS...]\n\n"
	"Runs CMD with libsockdrill_preload.so, which injects faults into the TCP sockets CMD\n"
	"creates (docs/faults.md). {port} in ARGS becomes a free loopback port. With --run, "
	"sockdrill\n"
	"waits until CMD listens on 127.0.0.1:{port}, runs each scenario against it ($TARGET_PORT\n"
	"is the port), then stops CMD (SIGTERM to its process group, SIGKILL after 10 s); a\n"
	"crash, a sanitizer report or a failed step is a finding (exit 1) printed with the\n"
	"command that reproduces it. SIGINT or SIGTERM to sockdrill is passed on to CMD the same\n"
	"way, then sockdrill exits 130 or 143. CMD's stderr is kept in $TMPDIR (default /tmp).\n\n"
	"  --faults SPEC   e.g. short-read=1,short-write=1,eintr=0.05,scope=accepted (default:\n"
	"                  the --run files' 'set server-faults', which must then agree)\n"
	"  --seed N        seed of the fault decisions (default: their 'set server-seed', else 1)\n"
	"  --log FILE      one JSON line per injected fault (appended; checked before CMD starts)\n"
	"  --run FILE      a scenario file to run against CMD; repeatable, at most 64\n"
	"  --timeout S     how long CMD may take to start listening (default 10)\n"
	"  --record FILE   write what real clients did to CMD as a scenario once CMD ends (stop\n"
	"                  it with Ctrl-C): replay it with --run FILE (docs/scenarios.md)\n"
	"Exit: CMD's own status without --run; with --run 0 clean, 1 a finding, 2 bad input,\n"
	"130/143 stopped by SIGINT/SIGTERM.\n";

/* The program file for argv0 (a path, or searched in PATH). */
static int resolve(const char *argv0, char *out, size_t size)
{
	if (strchr(argv0, '/')) {
		snprintf(out, size, "%s", argv0);
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	const char *path = getenv("PATH");
	char buf[8192];
	snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		int n = snprintf(out, size, "%s/%s", *d ? d : ".", argv0);
		struct stat st;
		if (n > 0 && (size_t)n < size && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* 1 for an ELF program without an interpreter (static), 0 for dynamic or not ELF. */
static int is_static_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	int dynamic = 0, elf = 0;
	if (fd < 0)
		return 0;
	if (read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
		elf = 1;
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph,
				  (off_t)(eh.e_phoff + (size_t)i * sizeof ph)) !=
			    (ssize_t)sizeof ph)
				break;
			dynamic |= ph.p_type == PT_INTERP;
		}
	}
	close(fd);
	return elf && !dynamic;
}

/* A program built with gcc's ASan needs its runtime first in LD_PRELOAD, before ours. Its
 * DT_NEEDED name ("libasan.so.8") stands in .dynstr; finding the text is enough to ask. */
static int asan_runtime(const char *prog, char *out, size_t size)
{
	FILE *f = fopen(prog, "rb");
	char buf[65536 + 32], name[32] = "";
	size_t keep = 0, n;
	if (!f)
		return -1;
	while (!name[0] && (n = fread(buf + keep, 1, sizeof buf - 32 - keep, f)) > 0) {
		size_t len = keep + n;
		for (size_t i = 0; i + 13 < len; i++)
			if (!memcmp(buf + i, "libasan.so.", 11) && buf[i + 11] >= '0' &&
			    buf[i + 11] <= '9') {
				size_t j = i + 11;
				while (j < len && j - i < sizeof name - 1 && buf[j] >= '0' &&
				       buf[j] <= '9')
					j++;
				memcpy(name, buf + i, j - i);
				name[j - i] = 0;
				break;
			}
		keep = len < 16 ? len : 16; /* a name cut between two reads */
		memmove(buf, buf + len - keep, keep);
	}
	fclose(f);
	if (!name[0])
		return -1;
	const char *const dirs[] = {"/usr/lib/x86_64-linux-gnu",
				    "/lib/x86_64-linux-gnu",
				    "/usr/lib64",
				    "/usr/lib",
				    "/lib64",
				    "/lib"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		int k = snprintf(out, size, "%s/%s", dirs[i], name);
		if (k > 0 && (size_t)k < size && access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static int listening(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int found = 0;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

static void print_file(const char *path, const char *prefix, int max_lines)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	for (int n = 0; f && n < max_lines && fgets(line, sizeof line, f); n++)
		printf("%s%s", prefix, line);
	if (f)
		fclose(f);
}

/* The files' 'set server-faults' and 'set server-seed' for CMD, where the command line gave
 * none (faults or seed NULL): one server takes one spec and one seed, so the files that state
 * one must agree. 0, or -1 with the message printed. */
static int server_settings(const char *const runs[], struct sd_scenario *const scs[], int n,
			   const char **faults, uint64_t *seed)
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
		if (f && from_f < 0)
			*faults = f, from_f = i;
		if (has_s && from_s < 0)
			*seed = s, from_s = i;
	}
	return 0;
}

static void reproduce(int argc, char **argv)
{
	printf("reproduce: ./sockdrill");
	for (int i = 0; i < argc; i++) {
		int plain = strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789-_./=,:{}@%+") == strlen(argv[i]);
		printf(plain && *argv[i] ? " %s" : " '%s'", argv[i]);
	}
	printf("\n");
}

int sd__cmd_wrap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"faults", required_argument, NULL, 'f'},  {"seed", required_argument, NULL, 's'},
		{"log", required_argument, NULL, 'l'},     {"run", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'}, {"record", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},          {0, 0, 0, 0},
	};
	const char *faults = "", *logpath = NULL, *runs[64], *record = NULL;
	int nruns = 0, opt, faults_given = 0, seed_given = 0;
	uint64_t seed = 1, timeout = 10;
	char err[256];

	/* Line by line: on a pipe, our lines and CMD's come out in the order they happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (opt) {
		case 'f': faults = optarg, faults_given = 1; break;
		case 'l': logpath = optarg; break;
		case 'r':
			if (nruns == 64)
				return sd__usage_error("wrap", "at most 64 --run scenarios");
			runs[nruns++] = optarg;
			break;
		case 's':
			if (sd__parse_num("wrap", "--seed", optarg, 0, UINT64_MAX, &seed))
				return SD_EXIT_USAGE;
			seed_given = 1;
			break;
		case 't':
			if (sd__parse_num("wrap", "--timeout", optarg, 1, 3600, &timeout))
				return SD_EXIT_USAGE;
			break;
		case 'R': record = optarg; break;
		case 'h': fputs(wrap_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("wrap", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"wrap", "unknown option '%s' (try 'sockdrill wrap --help')", o);
		}
	}
	struct sd_fault_spec spec;
	if (sd_fault_parse(faults, &spec, err, sizeof err) < 0)
		return sd__usage_error("wrap", "%s", err);
	if (optind >= argc)
		return sd__usage_error("wrap",
				       "no command given (sockdrill wrap [OPTIONS] -- CMD [ARGS])");
	if (record && nruns)
		return sd__usage_error("wrap", "--record and --run do not go together (record "
					       "first, then replay the file with --run)");
	int cargc = argc - optind, rc = SD_EXIT_USAGE, nloaded = 0;
	char **cargv = calloc((size_t)cargc + 1, sizeof *cargv), prog[PATH_MAX], preload[PATH_MAX];
	struct sd_scenario *scs[64];
	int port = -1;
	if (!cargv)
		return sd__usage_error("wrap", "out of memory");
	for (int i = 0; i < cargc; i++) {
		const char *a = argv[optind + i], *p = strstr(a, "{port}");
		if (p && port < 0 && (port = free_port()) < 0) {
			sd__usage_error("wrap", "cannot find a free loopback port");
			goto out;
		}
		if (!p) {
			cargv[i] = strdup(a);
			continue;
		}
		char buf[4096];
		size_t o = 0;
		for (; *a && o + 8 < sizeof buf; a++) {
			if (!strncmp(a, "{port}", 6)) {
				o += (size_t)snprintf(buf + o, sizeof buf - o, "%d", port);
				a += 5;
			} else {
				buf[o++] = *a;
			}
		}
		buf[o] = 0;
		cargv[i] = strdup(buf);
	}
	if (resolve(cargv[0], prog, sizeof prog) < 0) {
		sd__usage_error("wrap", "%s: command not found", cargv[0]);
		goto out;
	}
	if (sd__find_library("SOCKDRILL_PRELOAD", "libsockdrill_preload.so", preload,
			     sizeof preload) < 0) {
		sd__usage_error("wrap", "libsockdrill_preload.so not found beside the sockdrill "
					"binary (set SOCKDRILL_PRELOAD)");
		goto out;
	}
	if (nruns && port < 0) {
		sd__usage_error("wrap",
				"--run needs {port} in the command, so sockdrill knows where "
				"it listens");
		goto out;
	}
	/* Load every scenario before anything starts: a missing or malformed one is an input
	 * error. A FIFO or a directory is refused before it is opened (a FIFO would block). They
	 * run with $TARGET_PORT defined. */
	struct sd_sc_options load_opt = {.target_port = port, .server_started = 1};
	for (; nloaded < nruns; nloaded++) {
		struct stat st;
		if (stat(runs[nloaded], &st) < 0) {
			sd__usage_error("wrap", "--run %s: %s", runs[nloaded], strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			sd__usage_error("wrap", "--run %s: not a regular file", runs[nloaded]);
			goto out;
		}
		if (sd_scenario_load_opt(runs[nloaded], &load_opt, &scs[nloaded], err, sizeof err) <
		    0) {
			sd__usage_error("wrap", "%s", err);
			goto out;
		}
	}
	if (server_settings(runs, scs, nruns, faults_given ? NULL : &faults,
			    seed_given ? NULL : &seed) < 0)
		goto out;
	char seedtxt[32], logabs[PATH_MAX], ldp[PATH_MAX * 3], asan[PATH_MAX] = "";
	if (logpath) {
		/* Opened here, so a log that cannot be written stops us before CMD starts. */
		int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lfd < 0) {
			sd__usage_error("wrap", "--log %s: %s", logpath, strerror(errno));
			goto out;
		}
		close(lfd);
	}
	if (is_static_elf(prog))
		fprintf(stderr,
			"sockdrill wrap: warning: %s is statically linked: nothing can be "
			"interposed, so no fault will be injected\n",
			prog);

	snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)seed);
	const char *old = getenv("LD_PRELOAD");
	if (asan_runtime(prog, asan, sizeof asan) == 0)
		strcat(asan, " ");
	snprintf(ldp, sizeof ldp, "%s%s%s%s", asan, preload, old && *old ? " " : "",
		 old ? old : "");
	setenv("LD_PRELOAD", ldp, 1);
	setenv("SOCKDRILL_FAULTS", faults, 1);
	setenv("SOCKDRILL_SEED", seedtxt, 1);
	if (logpath) {
		if (logpath[0] != '/' && getcwd(logabs, sizeof logabs))
			snprintf(logabs + strlen(logabs), sizeof logabs - strlen(logabs), "/%s",
				 logpath);
		else
			snprintf(logabs, sizeof logabs, "%s", logpath);
		setenv("SOCKDRILL_LOG", logabs, 1);
	} else {
		unsetenv("SOCKDRILL_LOG");
	}
	if (record) {
		rc = sd__wrap_record(record, prog, cargv, port);
		goto out;
	}
	if (!nruns) {
		fflush(NULL);
		execv(prog, cargv);
		sd__usage_error("wrap", "cannot run %s: %s", prog, strerror(errno));
		goto out;
	}

	/* --run: the program is a server; its stderr goes to a file we read for sanitizer
	 * reports (and show on a finding). Close-on-exec: the server gets it as fd 2 only. */
	sd__proc_catch_signals(); /* from here on, a signal finds the file removed */
	const char *tmp = getenv("TMPDIR");
	char errpath[PATH_MAX];
	int n = snprintf(errpath, sizeof errpath, "%s/sockdrill-wrap-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
	int errfd = n > 0 && (size_t)n < sizeof errpath ? mkostemp(errpath, O_CLOEXEC) : -1;
	if (errfd < 0) {
		sd__usage_error(
			"wrap", "cannot create a file in %s: %s", tmp && *tmp ? tmp : "/tmp",
			n > 0 && (size_t)n < sizeof errpath ? strerror(errno) : "path too long");
		goto out;
	}
	printf("wrap: %s on 127.0.0.1:%d, faults '%s', seed %llu\n", cargv[0], port, faults,
	       (unsigned long long)seed);
	pid_t pid = sd__proc_spawn();
	if (pid == 0) {
		if (errfd == 2) /* we were started without a stderr */
			fcntl(2, F_SETFD, 0);
		else
			dup2(errfd, 2);
		execv(prog, cargv);
		_exit(127);
	}
	close(errfd);
	if (pid < 0) {
		unlink(errpath);
		rc = sd__proc_caught() ? sd__proc_exit_status()
				       : sd__usage_error("wrap", "cannot start %s: %s", cargv[0],
							 strerror((int)-pid));
		goto out;
	}
	unsetenv("LD_PRELOAD"); /* not for our own scenario client */
	int status = 0, findings = 0, up = 0, exited = 0;
	for (long waited = 0; !sd__proc_caught() && waited < (long)timeout * 1000; waited += 50) {
		if ((exited = sd__proc_poll(pid, &status)) != 0)
			break;
		if ((up = listening(port)))
			break;
		sleep_ms(50);
	}
	if (!up) {
		if (!exited && sd__proc_caught())
			sd__proc_wait(pid, &status); /* the handler passed the signal on */
		else if (!exited)
			sd__proc_stop(pid, SIGTERM, &status);
		if (!sd__proc_caught()) {
			char how[96];
			if (!exited)
				snprintf(how, sizeof how, "was not listening after %llu s",
					 (unsigned long long)timeout);
			else if (WIFSIGNALED(status))
				snprintf(how, sizeof how, "died of signal %d (%s)",
					 WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				snprintf(how, sizeof how, "exited with status %d",
					 WEXITSTATUS(status));
			printf("FINDING: the server %s before listening on 127.0.0.1:%d\n", how,
			       port);
			print_file(errpath, "  server: ", 20);
		}
		findings++;
	} else {
		struct sd_sc_options o = {.seed = seed, .has_seed = 1, .target_port = port};
		for (int i = 0; i < nruns && !sd__proc_caught(); i++) {
			struct sd_sc_result r;
			if (sd_scenario_run(scs[i], "real", &o, &r) < 0) {
				findings++;
				continue;
			}
			if (!sd__proc_caught()) /* a run cut short by the signal says nothing */
				printf("%-4s %s  (%d steps, %.3f s)\n",
				       r.passed    ? "ok"
				       : r.skipped ? "n/a"
						   : "FAIL",
				       runs[i], r.n, r.seconds);
			if (!r.passed && !sd__proc_caught()) {
				printf("      %s\n", r.message);
				findings +=
					!r.skipped; /* a file for another kernel finds nothing */
			}
			sd_sc_result_free(&r);
		}
		/* How the server ended is one finding, whatever the order: a crash closes the
		 * client's socket a moment before the process can be reaped, so "it had exited"
		 * and "we stopped it and it died of SIGSEGV" are the same event seen at two
		 * instants. The sanitizer report, when there is one, tells it best. */
		int alone = 0;
		if (sd__proc_caught())
			sd__proc_wait(pid, &status); /* the handler passed the signal on */
		else if ((alone = sd__proc_poll(pid, &status)) == 0)
			sd__proc_stop(pid, SIGTERM, &status);
		int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		if (sd__proc_caught()) {
			/* a run cut short by the signal says nothing */
		} else if (file_has(errpath, "ERROR: AddressSanitizer") ||
			   file_has(errpath, "ERROR: LeakSanitizer") ||
			   file_has(errpath, "runtime error:")) {
			printf("FINDING: the server printed a sanitizer report:\n");
			print_file(errpath, "  server: ", 40);
			findings++;
		} else if (sig && sig != SIGTERM && sig != SIGKILL) {
			printf("FINDING: the server died of signal %d (%s)\n", sig, strsignal(sig));
			findings++;
		} else if (alone > 0) {
			printf("FINDING: the server exited during the scenarios (status %d)\n",
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + sig);
			findings++;
		}
	}
	unlink(errpath);
	if (sd__proc_caught()) {
		fprintf(stderr, "sockdrill wrap: stopped by %s; %s was stopped too\n",
			sd__proc_caught() == SIGINT ? "SIGINT" : "SIGTERM", cargv[0]);
		rc = sd__proc_exit_status();
		goto out;
	}
	printf("wrap: %d finding%s\n", findings, findings == 1 ? "" : "s");
	if (findings)
		reproduce(argc, argv);
	rc = findings ? SD_EXIT_CHECK : SD_EXIT_OK;
out:
	for (int i = 0; i < nloaded; i++)
		sd_scenario_free(scs[i]);
	for (int i = 0; i < cargc; i++)
		free(cargv[i]);
	free(cargv);
	return rc;
}
