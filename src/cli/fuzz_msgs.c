/* sockdrill fuzz: an in-process server fuzzer's protocol messages, as a dictionary and for the
 * AFL++ custom mutator (docs/inproc.md, "Mutations"). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz_messages.h"
#include "cli.h"
#include "fuzz_msgs.h"
#include "proc.h"

#define MARKER       "SOCKDRILL_MESSAGES_OUT" /* in every binary with the in-process driver */
#define PROBE_LIMIT  "120" /* seconds the one run listing the messages may take */
#define LF_DICT_MAX  64    /* longer entries libFuzzer reads and ignores */
#define AFL_DICT_MAX 128   /* longer ones AFL++ skips with a warning */

/* Whether the file holds the marker, read in pieces that overlap by its length. */
static int has_marker(const char *path)
{
	static char buf[1 << 16];
	const size_t m = sizeof MARKER - 1;
	FILE *f = fopen(path, "rb");
	size_t have = 0, n;
	int found = 0;
	while (f && !found && (n = fread(buf + have, 1, sizeof buf - have, f)) > 0) {
		have += n;
		found = memmem(buf, have, MARKER, m) != NULL;
		if (have > m) { /* keep the tail: the marker may straddle two reads */
			memmove(buf, buf + have - m, m);
			have = m;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* Runs exe once on a one-byte input with SOCKDRILL_MESSAGES_OUT=out, bounded, its output in
 * log: 0 when it wrote out, -1 otherwise. */
static int probe(const char *exe, const char *base, const char *out, const char *log)
{
	char input[PATH_MAX + 32], env[PATH_MAX + 128];
	snprintf(input, sizeof input, "%s/messages.input", base);
	snprintf(env, sizeof env, "SOCKDRILL_MESSAGES_OUT=%s", out);
	FILE *f = fopen(input, "wb");
	if (!f)
		return -1;
	fputc(0, f);
	fclose(f);
	unlink(out);
	char *av[] = {"timeout", PROBE_LIMIT, (char *)exe, input, NULL};
	const char *penv[] = {env, NULL};
	struct sd__proc_io io = {.env = penv, .path = log, .both = 1};
	if (sd__proc_run_code(av, &io) != 0)
		return -1;
	return access(out, R_OK) == 0 ? 0 : -1;
}

void sd__fuzz_messages(const char *exe, const char *engine, const char *base, char *dict,
		       size_t dictsize, int *have_dict, const char *env[4])
{
	static char msgs[PATH_MAX + 64], log[PATH_MAX + 64], lib[PATH_MAX];
	static char e_lib[PATH_MAX + 64], e_msgs[PATH_MAX + 128], e_stats[PATH_MAX + 64];
	int afl = !strcmp(engine, "afl"), n = 0;
	env[0] = NULL;
	if (!has_marker(exe))
		return; /* not an in-process server fuzzer: nothing to learn */
	snprintf(e_stats, sizeof e_stats, "SOCKDRILL_MUTATOR_STATS=%s/mutator-stats", base);
	unlink(e_stats + strlen("SOCKDRILL_MUTATOR_STATS="));
	env[n++] = e_stats, env[n] = NULL;
	snprintf(msgs, sizeof msgs, "%s/messages", base);
	snprintf(log, sizeof log, "%s/messages.log", base);
	if (probe(exe, base, msgs, log) < 0) {
		if (sd__proc_caught())
			return; /* stopped: the campaign will not start either */
		fprintf(stderr,
			"sockdrill fuzz: the target did not list its messages "
			"(SOCKDRILL_MESSAGES_OUT; "
			"its output in %s): no dictionary of them%s\n",
			log, afl ? ", no custom mutator" : "");
		return;
	}
	struct sd_fuzz_dict d;
	int client;
	char err[PATH_MAX + 128];
	if (sd_fuzz_messages_read(msgs, &d, &client, err, sizeof err) < 0) {
		fprintf(stderr, "sockdrill fuzz: %s\n", err);
		return;
	}
	if (!*have_dict && d.n) { /* none given: the protocol's messages */
		char path[PATH_MAX + 96];
		snprintf(path, sizeof path, "%s/messages.%s.dict", base, engine);
		FILE *f = fopen(path, "w");
		int k = f ? sd_fuzz_messages_dict(f, &d, afl ? AFL_DICT_MAX : LF_DICT_MAX) : 0;
		if (f && fclose(f) == 0 && k > 0 && strlen(path) < dictsize) {
			snprintf(dict, dictsize, "%s", path);
			*have_dict = 1;
		}
	}
	sd_fuzz_messages_free(&d);
	const char *off = getenv("SOCKDRILL_MUTATOR");
	if (!afl || (off && !strcmp(off, "0")))
		return; /* libFuzzer's mutator is in the target; none wanted */
	if (sd__find_library("SOCKDRILL_MUTATOR_LIBRARY", "libsockdrill_mutator.so", lib,
			     sizeof lib) < 0) {
		fprintf(stderr, "sockdrill fuzz: libsockdrill_mutator.so is not beside the "
				"sockdrill binary "
				"(or set SOCKDRILL_MUTATOR_LIBRARY): AFL++ runs without the custom "
				"mutator\n");
		return;
	}
	snprintf(e_lib, sizeof e_lib, "AFL_CUSTOM_MUTATOR_LIBRARY=%s", lib);
	snprintf(e_msgs, sizeof e_msgs, "SOCKDRILL_MESSAGES=%s", msgs);
	env[n++] = e_lib, env[n++] = e_msgs, env[n] = NULL;
}
