/* sockdrill fuzz: the AFL++ engine (afl-fuzz, one -M and N-1 -S instances, StatsD figures). */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_engine.h"
#include "fuzz_files.h"
#include "proc.h"

/* What every instance's environment gets (the campaign's own entries follow). */
static const char *const afl_env[] = {"AFL_SKIP_CPUFREQ=1",
				      "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1", "AFL_NO_UI=1",
				      "AFL_BENCH_UNTIL_CRASH=1"};
#define NAFL_ENV (sizeof afl_env / sizeof afl_env[0])

/* Whether the AFL++ main instance ran the target: its fuzzer_stats with execs_done > 0. */
static int afl_fuzzed(const char *out)
{
	char path[PATH_MAX + 160], *line = NULL;
	size_t cap = 0;
	unsigned long long execs = 0;
	sd__textf(path, sizeof path, "%s/main/fuzzer_stats", out);
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
 * (the campaign's harness-errors file is not empty), else 0. */
static int afl_preflight(const struct sd__fuzz_campaign *c, const char *in)
{
	DIR *d = opendir(in);
	struct dirent *e;
	char first[PATH_MAX + 300] = "";
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			sd__textf(first, sizeof first, "%s/%s", in, e->d_name);
			break;
		}
	if (d)
		closedir(d);
	if (!*first)
		return 0;
	char log[PATH_MAX + 96];
	sd__textf(log, sizeof log, "%s/afl-preflight.log", c->base);
	char *av[] = {"timeout", "120", (char *)c->exe, first, NULL};
	const char *env[] = {c->herr_env, NULL};
	struct sd__proc_io io = {.env = env, .path = log, .both = 1};
	sd__proc_run_code(av, &io);
	struct stat st;
	return stat(c->herr, &st) == 0 && st.st_size > 0;
}

/* Every run starts with an empty output directory (afl-fuzz refuses one holding more than 25
 * minutes of work): the last one's crashes and queue were already brought home, and it is
 * kept as afl-out.prev. afl-in is this run's own: the seeds and the corpus so far, without
 * the empty inputs AFL++ refuses, else a one-byte seed. */
static void afl_dirs(const struct sd__fuzz_campaign *c, const char *out, const char *in)
{
	char prev[PATH_MAX + 160];
	sd__textf(prev, sizeof prev, "%s.prev", out);
	char *rm[] = {"rm", "-rf", prev, NULL};
	sd__proc_run_code(rm, NULL);
	rename(out, prev);
	char *rm_in[] = {"rm", "-rf", (char *)in, NULL};
	sd__proc_run_code(rm_in, NULL);
	mkdir(in, 0755);
	int nin = *c->seeds ? sd__fuzz_copy_files(c->seeds, NULL, in, "seed") : 0;
	nin += sd__fuzz_copy_files(c->work, NULL, in, "work");
	if (!nin) {
		char empty[PATH_MAX + 160];
		sd__textf(empty, sizeof empty, "%s/empty", in);
		FILE *f = fopen(empty, "wb");
		if (f)
			fputc(0, f), fclose(f);
	}
}

/* A loopback UDP socket of ours for an instance's StatsD, bound to a port the kernel picks,
 * named in port ("AFL_STATSD_PORT=N"): the socket, or -1. */
static int statsd_socket(char *port, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof sa;
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u >= 0 && (bind(u, (struct sockaddr *)&sa, sizeof sa) < 0 ||
		       getsockname(u, (struct sockaddr *)&sa, &salen) < 0))
		close(u), u = -1;
	if (u >= 0)
		sd__textf(port, size, "AFL_STATSD_PORT=%u", ntohs(sa.sin_port));
	return u;
}

/* Starts instance j (0: the main, its output on fd; the others to a log of their own), with
 * its StatsD socket when statsd is set. */
static void afl_instance(const struct sd__fuzz_campaign *c, struct watch *w, uint64_t j, int fd,
			 int statsd, const char *in, const char *out, const char *a_time)
{
	char role[16], name[16], slog[PATH_MAX + 128], port[48];
	const char *ienv[12] = {0};
	int ne = 0, u = statsd ? statsd_socket(port, sizeof port) : -1;
	for (size_t i = 0; i < NAFL_ENV; i++)
		ienv[ne++] = afl_env[i];
	ienv[ne++] = c->herr_env;
	for (int i = 0; i < 3 && c->menv[i]; i++)
		ienv[ne++] = c->menv[i];
	if (u >= 0) {
		ienv[ne++] = "AFL_STATSD=1";
		ienv[ne++] = "AFL_STATSD_HOST=127.0.0.1";
		ienv[ne++] = port;
	}
	sd__textf(role, sizeof role, j ? "-S" : "-M");
	sd__textf(name, sizeof name, j ? "s%llu" : "main", (unsigned long long)j);
	char *av[16 + SD__FUZZ_MAX_ENGINE_ARGS];
	int n = 0;
	av[n++] = "afl-fuzz", av[n++] = "-i", av[n++] = (char *)in, av[n++] = "-o";
	av[n++] = (char *)out, av[n++] = "-V", av[n++] = (char *)a_time, av[n++] = role;
	av[n++] = name;
	if (c->have_dict)
		av[n++] = "-x", av[n++] = (char *)c->dict;
	for (int i = 0; i < c->nargs; i++)
		av[n++] = c->args[i];
	av[n++] = "--", av[n++] = (char *)c->exe, av[n] = NULL;
	sd__textf(slog, sizeof slog, "%s/afl-%s.log", c->base, name);
	if (j)
		fd = open(slog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct sd__proc_io io = {.env = ienv, .fd = fd, .both = 1};
	pid_t p = fd >= 0 ? sd__proc_exec(av, &io) : -1;
	if (j && fd >= 0)
		close(fd);
	if (p > 0)
		w->pid[w->np++] = p;
	if (p > 0 && u >= 0)
		sd__stats_init(&w->inst[w->nudp]), w->udp[w->nudp++] = u;
	else if (u >= 0)
		close(u);
}

/* Crashes and the grown queue come home (crash names unique to this run). */
static void afl_bring_home(const struct sd__fuzz_campaign *c, const char *out)
{
	char tag[64];
	sd__textf(tag, sizeof tag, "afl-crash-%lld-%d", (long long)time(NULL), (int)getpid());
	DIR *d = opendir(out);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char sub[PATH_MAX * 2];
		sd__textf(sub, sizeof sub, "%s/%s/crashes", out, e->d_name);
		sd__fuzz_copy_files(sub, "id:", c->art, tag);
		sd__textf(sub, sizeof sub, "%s/%s/queue", out, e->d_name);
		sd__fuzz_copy_files(sub, "id:", c->work, "afl-queue");
	}
	if (d)
		closedir(d);
}

static int afl_run(struct sd__fuzz_campaign *c, struct watch *w, int *fuzzed)
{
	char out[PATH_MAX + 128], in[PATH_MAX + 128], a_time[32];
	sd__textf(out, sizeof out, "%s/afl-out", c->base);
	sd__textf(in, sizeof in, "%s/afl-in", c->base);
	afl_dirs(c, out, in);
	sd__textf(a_time, sizeof a_time, "%llu", (unsigned long long)c->secs);
	/* AFL++ takes a harness error's exit status 2 for a clean run, so a target that cannot
	 * run any input (its server never listens, say) would be fuzzed for the whole time
	 * first: one of the inputs replayed alone says so at once. */
	int skip = afl_preflight(c, in);
	if (skip)
		printf("fuzz: %s on afl: its first input ended in a harness error; not fuzzing\n",
		       c->name);
	sd__textf(c->log, sizeof c->log, "%s/afl.log", c->base);
	w->afl_out = out;
	/* Each instance's output to a log of its own (the main's through a pipe, read as it
	 * comes): a line per queue entry is a flood, and the figures come by StatsD. */
	int pfd[2] = {-1, -1};
	if (!skip && pipe2(pfd, O_CLOEXEC) == 0) {
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		w->fd = pfd[0];
		w->log = fopen(c->log, "we");
	}
	/* The caller's own StatsD (AFL_STATSD) is left alone; else each instance reports to a
	 * loopback socket of ours. */
	int statsd = !getenv("AFL_STATSD");
	for (uint64_t j = 0; w->fd >= 0 && j < c->jobs; j++)
		afl_instance(c, w, j, pfd[1], statsd, in, out, a_time);
	if (pfd[1] >= 0)
		close(pfd[1]);
	sd__watch_run(w);
	if (w->log)
		fclose(w->log), w->log = NULL;
	int rc = sd__watch_status(w);
	afl_bring_home(c, out);
	*fuzzed = afl_fuzzed(out);
	w->afl_out = NULL; /* out goes with this frame */
	return rc;
}

static void afl_minimize(const char *exe, const char *input, const char *min)
{
	static const char *const env[] = {"AFL_SKIP_CPUFREQ=1", NULL};
	char *mv[] = {"afl-tmin", "-i", (char *)input, "-o", (char *)min, "--", (char *)exe, NULL};
	struct sd__proc_io io = {.env = env, .fd = -1};
	sd__proc_run_code(mv, &io);
}

const struct sd__fuzz_engine sd__fuzz_afl = {
	.name = "afl",
	.run = afl_run,
	.minimize = afl_minimize,
	.no_fuzz = "no executions in its fuzzer_stats",
};
