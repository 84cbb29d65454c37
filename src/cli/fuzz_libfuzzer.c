/* sockdrill fuzz: the libFuzzer engine (the target's own -fsanitize=fuzzer main, ASan+UBSan). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_engine.h"
#include "fuzz_files.h"
#include "proc.h"

/* Whether libFuzzer's log shows a run that fuzzed to its end: "Done N runs in S second(s)"
 * (N > 0), or "INFO: exiting: 0" from the -fork driver. */
static int fuzzed_to_end(const char *log)
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

static int lf_run(struct sd__fuzz_campaign *c, struct watch *w, int *fuzzed)
{
	char a_time[32], a_art[PATH_MAX + 128], a_dict[PATH_MAX + 128], a_jobs[32];
	sd__textf(a_time, sizeof a_time, "-max_total_time=%llu", (unsigned long long)c->secs);
	sd__textf(a_art, sizeof a_art, "-artifact_prefix=%s/", c->art);
	sd__textf(a_dict, sizeof a_dict, "-dict=%s", c->dict);
	sd__textf(a_jobs, sizeof a_jobs, "-fork=%llu", (unsigned long long)c->jobs);
	char *av[12 + SD__FUZZ_MAX_ENGINE_ARGS];
	int n = 0;
	av[n++] = (char *)c->exe, av[n++] = a_time, av[n++] = a_art;
	av[n++] = "-print_final_stats=1";
	if (c->have_dict)
		av[n++] = a_dict;
	if (c->jobs > 1)
		av[n++] = a_jobs;
	for (int i = 0; i < c->nargs; i++) /* the user's flags, after ours: they win */
		av[n++] = c->args[i];
	av[n++] = (char *)c->work;
	if (*c->seeds)
		av[n++] = (char *)c->seeds;
	av[n] = NULL;
	sd__textf(c->log, sizeof c->log, "%s/libfuzzer.log", c->base);
	const char *env[] = {c->herr_env, c->menv[0], c->menv[1], c->menv[2], NULL};
	/* its output through a pipe: status lines to the progress line, crash reports to
	 * stderr, all of it to the log */
	int pfd[2];
	w->log = fopen(c->log, "we");
	if (pipe2(pfd, O_CLOEXEC) == 0) {
		fcntl(pfd[0], F_SETFL, O_NONBLOCK); /* ours only: the engine's end blocks */
		struct sd__proc_io io = {.env = env, .fd = pfd[1], .both = 1};
		pid_t p = sd__proc_exec(av, &io);
		close(pfd[1]);
		w->fd = pfd[0];
		if (p > 0)
			w->pid[w->np++] = p;
	}
	sd__watch_run(w);
	if (w->log)
		fclose(w->log), w->log = NULL;
	*fuzzed = fuzzed_to_end(c->log);
	return w->np ? sd__watch_status(w) : 127;
}

static void lf_minimize(const char *exe, const char *input, const char *min)
{
	char a1[PATH_MAX + 64];
	sd__textf(a1, sizeof a1, "-exact_artifact_path=%s", min);
	char *mv[] = {(char *)exe,          "-minimize_crash=1", a1,
		      "-max_total_time=30", (char *)input,       NULL};
	sd__proc_run_code(mv, NULL);
}

const struct sd__fuzz_engine sd__fuzz_libfuzzer = {
	.name = "libfuzzer",
	.run = lf_run,
	.minimize = lf_minimize,
	.no_fuzz = "its output has no \"Done N runs\"",
};
