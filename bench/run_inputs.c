/* sockdrill bench: a main for a fuzz target built without an engine (ci/real-servers --engine
 * plain): runs LLVMFuzzerTestOneInput on the given inputs, round after round, and prints how
 * many it ran and how fast. No mutation, no coverage: the target's own cost per input.
 *
 * usage: PROG [--rounds N] [--seconds S] FILE|DIR...
 *   --rounds N    rounds over the inputs, 1..1000000 (default 1)
 *   --seconds S   stop after the round in which S seconds have passed, 0.001..3600 (with
 *                 --rounds too, whichever ends first)
 *   FILE|DIR      inputs: files, or every regular file directly in a directory, in name
 *                 order; up to 10000 inputs of up to 1 MiB each
 * Prints one line "inputs: N in T s, R inputs/s, cpu C s (F files, K rounds)" on stdout (C:
 * this process's user and system time over the rounds). Exit 0, or 2 on bad usage or an
 * input that cannot be read (one line on stderr). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_INPUTS 10000
#define MAX_BYTES  (1 << 20)
#define MAX_ROUNDS 1000000L
#define MAX_SECS   3600.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

struct input {
	uint8_t *bytes;
	size_t len;
};

static struct input inputs[MAX_INPUTS];
static size_t ninputs;

static void usage(const char *prog, const char *why)
{
	fprintf(stderr, "%s: %s\nusage: %s [--rounds N] [--seconds S] FILE|DIR...\n", prog, why,
		prog);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void load_file(const char *prog, const char *path)
{
	if (ninputs == MAX_INPUTS) {
		fprintf(stderr, "%s: %s: more than %d inputs\n", prog, path, MAX_INPUTS);
		exit(2);
	}
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		exit(2);
	}
	if (st.st_size > MAX_BYTES) {
		fprintf(stderr, "%s: %s: larger than %d bytes\n", prog, path, MAX_BYTES);
		exit(2);
	}
	/* At least one byte allocated, so an empty input has a pointer of its own. */
	struct input *in = &inputs[ninputs];
	in->bytes = malloc((size_t)st.st_size + 1);
	if (!in->bytes) {
		fprintf(stderr, "%s: %s: out of memory\n", prog, path);
		exit(2);
	}
	in->len = fread(in->bytes, 1, (size_t)st.st_size, f);
	if (ferror(f) || in->len != (size_t)st.st_size) {
		fprintf(stderr, "%s: %s: read error\n", prog, path);
		exit(2);
	}
	fclose(f);
	ninputs++;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's regular files, in name order (one level: its subdirectories are skipped). */
static void load_dir(const char *prog, const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		exit(2);
	}
	char **names = NULL;
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char full[4096];
		struct stat st;
		if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full ||
		    stat(full, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		char **more = realloc(names, (n + 1) * sizeof *names);
		if (!more || !(more[n] = strdup(full))) {
			fprintf(stderr, "%s: %s: out of memory\n", prog, path);
			exit(2);
		}
		names = more, n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		load_file(prog, names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	const char *prog = argv[0];
	long rounds = 1;
	double secs = 0;
	int rounds_given = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		char *end;
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (i + 1 == argc)
			usage(prog, "an option without its value");
		if (!strcmp(argv[i], "--rounds")) {
			rounds = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || rounds < 1 || rounds > MAX_ROUNDS)
				usage(prog, "--rounds: a whole number, 1..1000000");
			rounds_given = 1;
		} else if (!strcmp(argv[i], "--seconds")) {
			secs = strtod(argv[++i], &end);
			if (*end || end == argv[i] || !(secs >= 0.001 && secs <= MAX_SECS))
				usage(prog, "--seconds: a number of seconds, 0.001..3600");
		} else {
			fprintf(stderr, "%s: unknown option %s\n", prog, argv[i]);
			exit(2);
		}
	}
	if (i == argc)
		usage(prog, "no input named");
	if (secs > 0 && !rounds_given)
		rounds = MAX_ROUNDS;
	for (; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[i], strerror(errno));
			exit(2);
		}
		if (S_ISDIR(st.st_mode))
			load_dir(prog, argv[i]);
		else
			load_file(prog, argv[i]);
	}
	if (!ninputs)
		usage(prog, "no input in the files and directories named");
	/* The result goes to stdout as it is now: a server kept running across inputs (persistent
	 * mode) may have put /dev/null on descriptor 1 (lighttpd does at start-up). */
	int saved = fcntl(1, F_DUPFD_CLOEXEC, 3);
	FILE *out = saved >= 0 ? fdopen(saved, "w") : NULL;
	if (!out)
		out = stdout;
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);

	long done = 0, r = 0;
	double t0 = now_s(), t = t0, c0 = cpu_s();
	while (r < rounds && (secs <= 0 || t - t0 < secs)) {
		for (size_t k = 0; k < ninputs; k++, done++)
			LLVMFuzzerTestOneInput(inputs[k].bytes, inputs[k].len);
		r++;
		t = now_s();
	}
	double dt = t - t0;
	fprintf(out, "inputs: %ld in %.3f s, %.1f inputs/s, cpu %.3f s (%zu files, %ld rounds)\n",
		done, dt, dt > 0 ? (double)done / dt : 0.0, cpu_s() - c0, ninputs, r);
	fflush(out);
	for (size_t k = 0; k < ninputs; k++)
		free(inputs[k].bytes);
	return 0;
}
