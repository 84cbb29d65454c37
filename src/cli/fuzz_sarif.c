/* sockdrill fuzz --sarif: each crash the campaign saved, replayed once for its report, as a SARIF
 * result of the report's kind at the first frame in the code under test. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "fuzz_sarif.h"
#include "proc.h"
#include "sarif.h"

/* Crashes replayed for their reports, and how long each may take: a campaign that saved more
 * (AFL++ keeps every crash it tells apart) has the rest reported by their files alone. */
enum { REPLAY_MAX = 32, REPLAY_LIMIT_S = 60 };

struct crash_ctx {
	struct sd__sarif *log;
	const struct sd__fuzz_sarif_in *in;
	int replayed;
};

/* The kind a file's name gives when no report does (libFuzzer's artifact prefixes). */
static const char *kind_by_name(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	return !strncmp(base, "timeout-", 8) ? "timeout"
	       : !strncmp(base, "oom-", 4)   ? "out-of-memory"
	       : !strncmp(base, "leak-", 5)  ? "leak"
					     : "crash";
}

/* Runs the fuzzer once on the crash, its output into errpath (PATH_MAX): 0, or -1 when it
 * could not be (no report then). */
static int replay(const struct sd__fuzz_sarif_in *in, const char *path, char *errpath)
{
	int fd = sd__proc_tmpfile("sarif", errpath, PATH_MAX), status;
	if (fd < 0)
		return -1;
	close(fd);
	char *av[] = {(char *)in->exe, (char *)path, NULL};
	struct sd__proc_io io = {.path = errpath, .both = 1};
	if (sd__proc_run(av, &io, REPLAY_LIMIT_S, &status) < 0) {
		unlink(errpath);
		return -1;
	}
	return 0;
}

static void one_crash(void *ctx, const char *path, const struct stat *st)
{
	struct crash_ctx *c = ctx;
	const struct sd__fuzz_sarif_in *in = c->in;
	(void)st; /* its name tells the crash, not its time */
	char errpath[PATH_MAX], kind[128], what[512] = "", file[PATH_MAX], text[PATH_MAX + 600];
	struct sd__sarif_where at = {.file = NULL};
	snprintf(kind, sizeof kind, "%s", kind_by_name(path));
	/* once stopped by a signal nothing new starts: the file alone tells the crash */
	if (!sd__proc_caught() && c->replayed < REPLAY_MAX && replay(in, path, errpath) == 0) {
		char k[128];
		c->replayed++;
		if (sd__finding_kind(errpath, k, what, sizeof what) == 0)
			snprintf(kind, sizeof kind, "%s", k);
		sd__finding_frame(errpath, sd__sarif_root(c->log), &at, file, sizeof file);
		unlink(errpath);
	}
	/* no frame in the code under test: the target's own source, else the input itself */
	if (!at.file && in->source && access(in->source, R_OK) == 0)
		at.file = in->source;
	if (!at.file)
		at.file = path;
	snprintf(text, sizeof text, "%s: %s\ninput: %s", in->name,
		 *what ? what : "the target crashed on this input", path);
	char *cmd = sd__fuzz_repro_cmd(in->t, path, in->engine);
	sd__sarif_add(c->log, kind, text, cmd, &at, in->name);
	free(cmd);
}

int sd__fuzz_sarif(struct sd__sarif *log, const struct sd__fuzz_sarif_in *in)
{
	struct crash_ctx c = {.log = log, .in = in};
	return sd__fuzz_each_crash(in->art, in->before, in->since, one_crash, &c);
}
