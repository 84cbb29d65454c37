/* sockdrill run: scenario files on sim, real or both, with reports and JUnit XML. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>
#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

#include "cli.h"

static const char run_help[] =
	"usage: sockdrill run [--backend sim|real|both] [--seed N] [--junit FILE] [--json FILE]\n"
	"                     [--verbose] [--keep-going] [--timeout MS] [--max-time S]\n"
	"                     [--faults SPEC] [--fault-log FILE] [--target ADDR:PORT]\n"
	"                     [--one-role 0|1] [--profile NAME] PATH...\n"
	"       sockdrill run --inproc TARGET [--engine E] [--seed N] [--verbose] [--max-time S]\n"
	"                     PATH...\n\n"
	"Runs scenario files (docs/scenarios.md): each PATH is a .sd file or a directory whose\n"
	".sd files run in name order (links to directories are not followed, at most 32 levels\n"
	"deep; a directory with no .sd file is an error). A file holds at most 1 MiB. On both,\n"
	"every scenario runs on sim and on real and any step whose outcome differs is shown\n"
	"side by side. A failing step prints the command that reproduces it. A file that requires\n"
	"a kernel variant the kernel does not have is not applicable there: n/a, counted as\n"
	"skipped. Report files are opened before anything runs. Exit 0 all passed or skipped,\n"
	"1 a step failed, 2 a malformed file or argument.\n\n"
	"  --backend B    sim (default), real or both\n"
	"  --seed N       sim seed (default: the file's 'set seed', else 1)\n"
	"  --junit FILE   write JUnit XML: one test case per scenario and backend\n"
	"  --json FILE    write the results as one JSON document (docs/scenarios.md)\n"
	"  --verbose      print every step and its outcome\n"
	"  --keep-going   a failed step does not end the file's run: every failing step is\n"
	"                 reported (printed, and listed in --json and --junit)\n"
	"  --timeout MS   real: how long a blocking step may take (default 3000)\n"
	"  --max-time S   bound of each file's run on each backend, in wall-clock seconds\n"
	"                 (1..86400, default 600); a run past it fails (exit 1)\n"
	"  --faults SPEC  inject faults around the backend (docs/faults.md); seeded by --seed\n"
	"  --fault-log F  one JSON line per injected fault\n"
	"  --target A:P   a server under test: $TARGET_PORT is P (A must be loopback)\n"
	"  --one-role N   sim: the kernel variant of files that state none (docs/scenarios.md):\n"
	"                 0 mainline (default) or 1; on both, the sim takes this kernel's\n"
	"  --profile NAME sim: the kernel profile, its tunables ('sockdrill list' names them,\n"
	"                 'host' is this machine's; default linux-6.18); on both, the host's\n"
	"  --inproc T     replay each file against the in-process server of fuzz target T (a\n"
	"                 built-in target or the path of a fuzzer), on its sim: the server starts\n"
	"                 as for a fuzz input, behind the file's 'set server-faults', and the\n"
	"                 steps are its clients ($TARGET_PORT its port; docs/inproc.md). With\n"
	"                 --seed, --verbose, --max-time and --engine only; a crash or a finding\n"
	"                 of the target fails the file\n"
	"  --engine E     --inproc: the build of a built-in target, libfuzzer (default) or afl\n";

struct files {
	char **v;
	int n, cap;
};

static int add_file(struct files *f, const char *path)
{
	if (f->n == f->cap) {
		int cap = f->cap ? f->cap * 2 : 64;
		char **g = realloc(f->v, (size_t)cap * sizeof *g);
		if (!g)
			return -1;
		f->v = g;
		f->cap = cap;
	}
	f->v[f->n] = strdup(path);
	return f->v[f->n] ? (f->n++, 0) : -1;
}

static void free_files(struct files *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	*f = (struct files){0};
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum { WALK_MAX_DEPTH = 32 }; /* directories below a PATH argument (docs/scenarios.md) */

/* What one path found in the walk is: 1 a directory to walk, 0 a scenario file, 2 a link to a
 * directory (not followed: two links to "." would make the walk exponential), -1 an error
 * (printed). */
static int walk_kind(const char *path)
{
	struct stat st;
	int link = 0;
	if (lstat(path, &st) < 0 || ((link = S_ISLNK(st.st_mode)) && stat(path, &st) < 0)) {
		sd__usage_error("run", "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return link ? 2 : 1;
	if (S_ISREG(st.st_mode))
		return 0;
	sd__usage_error("run", "%s: not a regular file or directory", path);
	return -1;
}

/* Adds the .sd files below dir to f, depth-first in name order: 0, or -1 with the message
 * printed. Every directory is closed before its subdirectories are opened. */
static int walk(struct files *f, const char *dir, int depth)
{
	if (depth > WALK_MAX_DEPTH) {
		sd__usage_error("run", "%s: directories nested deeper than %d levels", dir,
				WALK_MAX_DEPTH);
		return -1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		sd__usage_error("run", "%s: cannot read the directory: %s", dir, strerror(errno));
		return -1;
	}
	struct files here = {0};
	struct dirent *e;
	int rc = 0;
	while ((errno = 0, e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
			sd__usage_error("run", "%s/%s: path too long", dir, e->d_name);
			rc = -1;
			break;
		}
		/* other names matter only as directories (lstat: a link to one is not walked) */
		if (!(n > 3 && !strcmp(e->d_name + n - 3, ".sd")) &&
		    !(lstat(path, &st) == 0 && S_ISDIR(st.st_mode)))
			continue;
		if (add_file(&here, path) < 0) {
			sd__usage_error("run", "out of memory");
			rc = -1;
			break;
		}
	}
	if (rc == 0 && errno) {
		sd__usage_error("run", "%s: cannot read the directory: %s", dir, strerror(errno));
		rc = -1;
	}
	closedir(d);
	if (here.n > 1)
		qsort(here.v, (size_t)here.n, sizeof *here.v, by_name);
	for (int i = 0; i < here.n && rc == 0; i++) {
		int kind = walk_kind(here.v[i]);
		if (kind < 0)
			rc = -1;
		else if (kind == 1)
			rc = walk(f, here.v[i], depth + 1);
		else if (kind == 0 && add_file(f, here.v[i]) < 0) {
			sd__usage_error("run", "out of memory");
			rc = -1;
		}
	}
	free_files(&here);
	return rc;
}

/* Adds one PATH argument: a directory's scenario files, or the file itself. 0, or -1 with
 * the message printed. A directory with no scenario is an error: a run of nothing must not
 * pass. */
static int add_argument(struct files *f, const char *arg)
{
	struct stat st;
	if (stat(arg, &st) < 0) {
		sd__usage_error("run", "%s: %s", arg,
				errno == ENOENT ? "no such file or directory" : strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		int before = f->n;
		if (walk(f, arg, 0) < 0)
			return -1;
		if (f->n == before) {
			sd__usage_error("run", "%s: no .sd files below it", arg);
			return -1;
		}
		return 0;
	}
	if (!S_ISREG(st.st_mode)) { /* a FIFO would block the read forever */
		sd__usage_error("run", "%s: not a regular file or directory", arg);
		return -1;
	}
	if (add_file(f, arg) < 0) {
		sd__usage_error("run", "out of memory");
		return -1;
	}
	return 0;
}

/* A report file (--junit, --json): opened before anything runs, so that one that cannot be
 * written is a usage error up front; emptied and written only when the run is complete, and
 * removed again on an error path if this run created it. */
struct report {
	const char *opt, *path;
	int fd, created;
};

/* An error path: the file is left as it was (removed if this run created it). */
static void report_discard(struct report *r)
{
	if (r->fd < 0)
		return;
	close(r->fd);
	r->fd = -1;
	if (r->created)
		unlink(r->path);
}

static int report_open(struct report *r, const char *opt, const char *path)
{
	/* O_NONBLOCK: a FIFO nobody reads is refused (ENXIO) rather than waited for */
	r->opt = opt, r->path = path;
	r->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0666);
	r->created = r->fd >= 0;
	if (r->fd < 0 && errno == EEXIST)
		r->fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (r->fd < 0 || fcntl(r->fd, F_SETFL, 0) < 0) {
		sd__usage_error("run", "%s: cannot write %s: %s", opt, path, strerror(errno));
		report_discard(r);
		return -1;
	}
	return 0;
}

/* Replaces the file's content with text[0..len): 0, or -1 with the message printed. */
static int report_commit(struct report *r, const char *text, size_t len)
{
	struct stat st;
	int rc = 0;
	if (r->fd < 0)
		return 0;
	if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(r->fd, 0) < 0)
		rc = -1;
	for (size_t done = 0; rc == 0 && done < len;) {
		ssize_t k = write(r->fd, text + done, len - done);
		if (k > 0)
			done += (size_t)k;
		else if (k == 0 || errno != EINTR)
			rc = -1;
	}
	if (rc < 0)
		sd__usage_error("run", "%s: cannot write %s: %s", r->opt, r->path, strerror(errno));
	if (close(r->fd) < 0 && rc == 0) {
		sd__usage_error("run", "%s: cannot write %s: %s", r->opt, r->path, strerror(errno));
		rc = -1;
	}
	r->fd = -1;
	if (rc < 0 && r->created) /* no half-written report left behind */
		unlink(r->path);
	return rc;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fprintf(f, "&#%d;",
				ch == '\r' ? 13 : 63); /* XML 1.0 forbids most controls */
		else
			fputc(ch, f);
	}
}

struct verdict {
	const char *file;
	const char *backend;
	int passed, skipped;
	double seconds;
	char message[640];
	char *details; /* every failure, one a line (malloc'd), or NULL for message alone */
};

static void write_junit(FILE *f, struct verdict *v, int n)
{
	int failures = 0, skips = 0;
	double total = 0;
	for (int i = 0; i < n; i++)
		failures += !v[i].passed && !v[i].skipped, skips += v[i].skipped,
			total += v[i].seconds;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<testsuites name=\"sockdrill\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" "
		"time=\"%.6f\">\n",
		n, failures, skips, total);
	const char *backends[] = {"sim", "real"};
	for (int b = 0; b < 2; b++) {
		int tests = 0, fails = 0, skipped = 0;
		double t = 0;
		for (int i = 0; i < n; i++)
			if (!strcmp(v[i].backend, backends[b]))
				tests++, fails += !v[i].passed && !v[i].skipped,
					skipped += v[i].skipped, t += v[i].seconds;
		if (!tests)
			continue;
		fprintf(f,
			"  <testsuite name=\"sockdrill.%s\" tests=\"%d\" failures=\"%d\" "
			"errors=\"0\" skipped=\"%d\" time=\"%.6f\">\n",
			backends[b], tests, fails, skipped, t);
		for (int i = 0; i < n; i++) {
			if (strcmp(v[i].backend, backends[b]))
				continue;
			fprintf(f, "    <testcase classname=\"sockdrill.%s\" name=\"", backends[b]);
			xml_text(f, v[i].file);
			fprintf(f, "\" time=\"%.6f\"", v[i].seconds);
			if (v[i].passed) {
				fprintf(f, "/>\n");
				continue;
			}
			if (v[i].skipped) {
				fprintf(f, ">\n      <skipped message=\"");
				xml_text(f, v[i].message);
				fprintf(f, "\"/>\n    </testcase>\n");
				continue;
			}
			fprintf(f, ">\n      <failure message=\"");
			xml_text(f, v[i].message);
			fprintf(f, "\">");
			xml_text(f, v[i].details ? v[i].details : v[i].message);
			fprintf(f, "</failure>\n    </testcase>\n");
		}
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
}

/* Every failure of a run kept going, one a line, for a JUnit failure's text (malloc'd); NULL
 * when there is only one, which the message says. */
static char *failure_lines(const struct sd_sc_result *r)
{
	char *text = NULL;
	size_t len = 0;
	if (r->nfailures < 2)
		return NULL;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	for (int i = 0; i < r->nfailures; i++)
		fprintf(m, "%s\n", r->failures[i].message);
	if (r->nfailed > r->nfailures)
		fprintf(m, "(%d more failed steps not listed)\n", r->nfailed - r->nfailures);
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void print_steps(const char *backend, const struct sd_sc_result *r)
{
	for (int i = 0; i < r->n; i++) {
		const struct sd_sc_outcome *o = &r->out[i];
		if (o->iteration >= 0)
			printf("    %-4s line %-4d #%-4d %-52s => %s%s\n", backend, o->line,
			       o->iteration, o->call, o->got, o->ok ? "" : "   <-- FAILED");
		else
			printf("    %-4s line %-4d       %-52s => %s%s\n", backend, o->line,
			       o->call, o->got, o->ok ? "" : "   <-- FAILED");
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Steps whose backend-independent outcome differs between a (sim) and b (real): their
 * indices into out[], at most `limit`; *diverged is set when the runs took different paths
 * (a different step at the same index, or a different number of steps). */
static int differing_steps(const struct sd_sc_result *a, const struct sd_sc_result *b, int *idx,
			   int limit, int *diverged)
{
	int n = a->n < b->n ? a->n : b->n, k = 0;
	*diverged = a->n != b->n;
	for (int i = 0; i < n && k < limit; i++) {
		const struct sd_sc_outcome *x = &a->out[i], *y = &b->out[i];
		if (x->line != y->line || x->iteration != y->iteration) {
			*diverged = 1; /* the runs went different ways from here */
			break;
		}
		if (strcmp(x->norm, y->norm))
			idx[k++] = i;
	}
	return k;
}

enum { SIDE_LIMIT = 8 };

/* The side-by-side report of those steps, as `sockdrill run` prints it, into f. */
static void side_by_side(FILE *f, const struct sd_sc_result *a, const struct sd_sc_result *b)
{
	int idx[SIDE_LIMIT], diverged;
	int k = differing_steps(a, b, idx, SIDE_LIMIT, &diverged);
	if (k)
		fprintf(f, "      steps whose outcome differs between sim and real:\n");
	for (int j = 0; j < k; j++) {
		const struct sd_sc_outcome *x = &a->out[idx[j]], *y = &b->out[idx[j]];
		if (x->iteration >= 0)
			fprintf(f, "      line %d, iteration %d: %s\n", x->line, x->iteration,
				x->call);
		else
			fprintf(f, "      line %d: %s\n", x->line, x->call);
		fprintf(f, "          sim:  %-30s real: %s\n", x->got, y->got);
	}
	if (a->n != b->n && k < SIDE_LIMIT)
		fprintf(f, "      (sim ran %d steps, real %d)\n", a->n, b->n);
}

/* The shell command that reproduces one backend's run of `file` (malloc'd; NULL when out of
 * memory). */
static char *reproduce_cmd(const char *backend, uint64_t seed, const struct sd_sc_options *opt,
			   const char *faults, const char *target, const char *file)
{
	char seed_s[24], timeout_s[16], max_s[16];
	const char *av[24]; /* every option below given at once, the file and NULL */
	int n = 0;
	snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
	av[n++] = "./sockdrill", av[n++] = "run", av[n++] = "--backend", av[n++] = backend;
	av[n++] = "--seed", av[n++] = seed_s;
	if (opt->timeout_ms) {
		snprintf(timeout_s, sizeof timeout_s, "%d", opt->timeout_ms);
		av[n++] = "--timeout", av[n++] = timeout_s;
	}
	if (opt->max_time_s) {
		snprintf(max_s, sizeof max_s, "%d", opt->max_time_s);
		av[n++] = "--max-time", av[n++] = max_s;
	}
	if (faults) /* as given: the spec's own words */
		av[n++] = "--faults", av[n++] = faults;
	if (opt->keep_going)
		av[n++] = "--keep-going";
	if (opt->target_port)
		av[n++] = "--target", av[n++] = target;
	if (opt->one_role && !strcmp(backend, "sim")) /* as --backend both gave the sim */
		av[n++] = "--one-role", av[n++] = "1";
	if (opt->profile && !strcmp(backend, "sim"))
		av[n++] = "--profile", av[n++] = opt->profile;
	av[n++] = file, av[n] = NULL;
	return sd__shell_cmd(av);
}

/* One JSON object for one backend's run of a file (docs/scenarios.md, "JSON results"). */
static void json_result(FILE *f, const char *file, const char *backend, uint64_t seed, int steps,
			const struct sd_sc_result *r, const char *repro,
			const struct sd_sc_result *sim, const struct sd_sc_result *real,
			const char *report)
{
	fputs("{\"file\": ", f);
	json_str(f, file);
	fprintf(f, ", \"backend\": \"%s\", \"status\": \"%s\", \"seed\": %llu, ", backend,
		r->passed    ? "passed"
		: r->skipped ? "skipped"
			     : "failed",
		(unsigned long long)seed);
	fprintf(f, "\"seconds\": %.6f, \"steps\": %d, \"message\": ", r->seconds, steps);
	json_str(f, r->passed ? "" : r->message);
	fputs(", \"failures\": [", f);
	for (int i = 0; i < r->nfailures; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, r->failures[i].message);
	}
	fprintf(f, "], \"failed_steps\": %d", r->nfailed);
	fputs(", \"reproduce\": ", f);
	json_str(f, repro);
	fputs(", \"outcomes\": [", f);
	for (int i = 0; i < r->n; i++) {
		const struct sd_sc_outcome *o = &r->out[i];
		fprintf(f,
			"%s{\"line\": %d, \"iteration\": %d, \"ok\": %s, \"call\": ", i ? ", " : "",
			o->line, o->iteration, o->ok ? "true" : "false");
		json_str(f, o->call);
		fputs(", \"got\": ", f);
		json_str(f, o->got);
		fputc('}', f);
	}
	fputs("], \"differs\": ", f);
	if (!sim || !real) {
		fputs("null", f);
	} else {
		int idx[SIDE_LIMIT], diverged;
		int k = differing_steps(sim, real, idx, SIDE_LIMIT, &diverged);
		fputc('[', f);
		for (int j = 0; j < k; j++) {
			const struct sd_sc_outcome *x = &sim->out[idx[j]], *y = &real->out[idx[j]];
			fprintf(f, "%s{\"line\": %d, \"iteration\": %d, \"call\": ", j ? ", " : "",
				x->line, x->iteration);
			json_str(f, x->call);
			fputs(", \"sim\": ", f);
			json_str(f, x->got);
			fputs(", \"real\": ", f);
			json_str(f, y->got);
			fputc('}', f);
		}
		fprintf(f, "], \"diverged\": %s, \"side_by_side\": ", diverged ? "true" : "false");
		json_str(f, report);
	}
	fputc('}', f);
}

/* One scenario file's entry in the JSON document for a file that did not load. */
static void json_malformed(FILE *f, const char *file, const char *err)
{
	fputs("{\"file\": ", f);
	json_str(f, file);
	fputs(", \"backend\": null, \"status\": \"malformed\", \"message\": ", f);
	json_str(f, err);
	fputc('}', f);
}

int sd__cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"seed", required_argument, NULL, 's'},
		{"junit", required_argument, NULL, 'j'},
		{"json", required_argument, NULL, 'J'},
		{"verbose", no_argument, NULL, 'v'},
		{"keep-going", no_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 't'},
		{"max-time", required_argument, NULL, 'M'},
		{"faults", required_argument, NULL, 'f'},
		{"fault-log", required_argument, NULL, 'L'},
		{"target", required_argument, NULL, 'T'},
		{"one-role", required_argument, NULL, 'R'},
		{"profile", required_argument, NULL, 'P'},
		{"inproc", required_argument, NULL, 'I'},
		{"engine", required_argument, NULL, 'E'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *backend = "sim", *junit_path = NULL, *json_path = NULL, *fault_log_path = NULL;
	struct sd_sc_options opt = {0};
	int verbose = 0, optc, one_role_given = 0;
	struct sd_sim_profile host_profile;
	char profile_err[256];
	const char *target = NULL, *inproc = NULL, *engine = NULL, *seed_text = NULL;
	const char *not_inproc = NULL; /* an option --inproc does not take */
	const char *faults_text = NULL; /* --faults, parsed into fault_spec */
	struct sd_fault_spec fault_spec;
	uint64_t num;

	optind = 1;
	opterr = 0;
	while ((optc = getopt_long(argc, argv, "+:hv", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (optc) {
		case 'b':
			backend = optarg;
			if (strcmp(backend, "sim"))
				not_inproc = "--backend"; /* in-process is on the sim */
			if (strcmp(backend, "sim") && strcmp(backend, "real") &&
			    strcmp(backend, "both"))
				return sd__usage_error(
					"run", "--backend must be sim, real or both, not '%s'",
					backend);
			break;
		case 's':
			if (sd__parse_num("run", "--seed", optarg, 0, UINT64_MAX, &num))
				return SD_EXIT_USAGE;
			opt.seed = num, opt.has_seed = 1;
			seed_text = optarg;
			break;
		case 't':
			if (sd__parse_num("run", "--timeout", optarg, 1, 600000, &num))
				return SD_EXIT_USAGE;
			opt.timeout_ms = (int)num, not_inproc = "--timeout";
			break;
		case 'M':
			if (sd__parse_num("run", "--max-time", optarg, 1, 86400, &num))
				return SD_EXIT_USAGE;
			opt.max_time_s = (int)num;
			break;
		case 'j': junit_path = optarg, not_inproc = "--junit"; break;
		case 'J': json_path = optarg, not_inproc = "--json"; break;
		case 'f': {
			char why[256];
			if (sd_fault_parse(optarg, &fault_spec, why, sizeof why) < 0)
				return sd__usage_error("run", "%s", why);
			opt.faults = &fault_spec, faults_text = optarg, not_inproc = "--faults";
			break;
		}
		case 'L': fault_log_path = optarg, not_inproc = "--fault-log"; break;
		case 'T': {
			struct sockaddr_storage ss;
			socklen_t sl;
			int p;
			if (sd_addr_parse(optarg, 0, &ss, &sl) < 0 ||
			    (p = sd_addr_port((void *)&ss, sl)) <= 0 ||
			    !sd_addr_is_loopback((void *)&ss, sl))
				return sd__usage_error(
					"run", "--target expects a loopback ADDR:PORT, got '%s'",
					optarg);
			opt.target_port = p;
			target = optarg, not_inproc = "--target";
			break;
		}
		case 'R':
			if (sd__parse_num("run", "--one-role", optarg, 0, 1, &num))
				return SD_EXIT_USAGE;
			opt.one_role = (int)num, one_role_given = 1, not_inproc = "--one-role";
			break;
		case 'P':
			if (strcmp(optarg, "host") && !sd_sim_profile_find(optarg))
				return sd__usage_error("run",
						       "--profile: unknown profile '%s' (see "
						       "'sockdrill list')",
						       optarg);
			opt.profile = optarg, not_inproc = "--profile";
			break;
		case 'I': inproc = optarg; break;
		case 'E': engine = optarg; break;
		case 'v': verbose = 1; break;
		case 'k': opt.keep_going = 1, not_inproc = "--keep-going"; break;
		case 'h': fputs(run_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("run", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"run", "unknown option '%s' (try 'sockdrill run --help')", o);
		}
	}
	if (optind >= argc)
		return sd__usage_error("run", "no scenario files or directories given");
	if (inproc && not_inproc)
		return sd__usage_error("run",
				       "%s is not for --inproc (its options: --seed, "
				       "--verbose, --max-time, --engine)",
				       not_inproc);
	if (engine && !inproc)
		return sd__usage_error("run", "--engine is for --inproc");
	if (one_role_given && strcmp(backend, "sim"))
		return sd__usage_error("run",
				       "--one-role is for --backend sim (on both, the sim models "
				       "this kernel's variant)");
	if (opt.profile && strcmp(backend, "sim"))
		return sd__usage_error("run", "--profile is for --backend sim (on both, the sim "
					      "takes this machine's profile)");
	if (opt.profile && !strcmp(opt.profile, "host") &&
	    sd_sim_profile_host(&host_profile, profile_err, sizeof profile_err) < 0)
		return sd__usage_error("run", "--profile host: %s", profile_err);
	/* each step's outcome is needed only to list, write or compare them */
	opt.verdict_only = !verbose && !json_path && strcmp(backend, "both") != 0;

	/* From here every exit goes through `out`, which frees and closes what was taken. */
	int rc = SD_EXIT_USAGE;
	struct files files = {0};
	struct report junit = {.fd = -1}, json_rep = {.fd = -1};
	FILE *fault_log = NULL, *json = NULL;
	char *json_text = NULL, *junit_text = NULL;
	size_t json_len = 0, junit_len = 0;
	struct verdict *verdicts = NULL;

	for (int i = optind; i < argc; i++)
		if (add_argument(&files, argv[i]) < 0)
			goto out;
	if (inproc) {
		rc = sd__run_inproc(inproc, engine ? engine : "libfuzzer", files.v, files.n,
				    seed_text, verbose,
				    opt.max_time_s ? opt.max_time_s : SD_SC_MAX_TIME_S);
		goto out;
	}
	if ((junit_path && report_open(&junit, "--junit", junit_path) < 0) ||
	    (json_path && report_open(&json_rep, "--json", json_path) < 0))
		goto out;
	if (json_path && !(json = open_memstream(&json_text, &json_len))) {
		sd__usage_error("run", "out of memory");
		goto out;
	}
	if (fault_log_path && !(fault_log = fopen(fault_log_path, "w"))) {
		sd__usage_error("run", "--fault-log: cannot write %s: %s", fault_log_path,
				strerror(errno));
		goto out;
	}
	opt.fault_log = fault_log;
	verdicts = calloc((size_t)files.n * 2 + 1, sizeof *verdicts);
	if (!verdicts) {
		sd__usage_error("run", "out of memory");
		goto out;
	}
	if (json)
		fputs("{\"version\": 1, \"results\": [\n", json);
	int njson = 0;

	int both = !strcmp(backend, "both"), bad_files = 0, failed = 0, passed = 0, skipped = 0;
	int per_passed[2] = {0, 0}, per_failed[2] = {0, 0}, per_skipped[2] = {0, 0};
	if (both) {
		/* compared with this kernel, the sim models this kernel's variant */
		int host = sd_real_host_one_role();
		if (host < 0) {
			fprintf(stderr,
				"sockdrill run: cannot tell whether this kernel is one-role: %s\n",
				strerror(-host));
			goto out;
		}
		opt.one_role = host;
		/* and its tunables: this machine's profile */
		if (sd_sim_profile_host(&host_profile, profile_err, sizeof profile_err) < 0) {
			fprintf(stderr, "sockdrill run: cannot read this machine's profile: %s\n",
				profile_err);
			goto out;
		}
		opt.profile = "host";
	}
	const char *runs[2] = {both ? "sim" : backend, both ? "real" : NULL};
	int nverdicts = 0;
	double total = 0;
	for (int i = 0; i < files.n; i++) {
		char err[512];
		struct sd_scenario *sc;
		if (sd_scenario_load_opt(files.v[i], &opt, &sc, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			bad_files++;
			if (json) {
				fputs(njson++ ? ",\n" : "", json);
				json_malformed(json, files.v[i], err);
			}
			continue;
		}
		struct sd_sc_result res[2];
		int nres = 0, ok_all = 1, nskip = 0;
		for (int b = 0; b < 2 && runs[b]; b++) {
			if (sd_scenario_run(sc, runs[b], &opt, &res[b]) < 0) {
				fprintf(stderr, "sockdrill run: cannot open backend %s\n", runs[b]);
				for (int k = 0; k < b; k++)
					sd_sc_result_free(&res[k]);
				sd_scenario_free(sc);
				goto out;
			}
			nres++;
			int fail = !res[b].passed && !res[b].skipped;
			ok_all &= !fail;
			nskip += res[b].skipped;
			total += res[b].seconds;
			struct verdict *v = &verdicts[nverdicts++];
			v->file = files.v[i];
			v->backend = runs[b];
			v->passed = res[b].passed;
			v->skipped = res[b].skipped;
			v->seconds = res[b].seconds;
			snprintf(v->message, sizeof v->message, "%s", res[b].message);
			v->details = failure_lines(&res[b]);
			passed += res[b].passed;
			failed += fail;
			skipped += res[b].skipped;
			per_passed[b] += res[b].passed;
			per_failed[b] += fail;
			per_skipped[b] += res[b].skipped;
		}
		uint64_t seed = sd_scenario_seed(sc, &opt);
		/* n/a: not applicable on every backend it was to run on */
		const char *word = !ok_all ? "FAIL" : nskip == nres ? "n/a" : "ok";
		char took[2][32];
		for (int b = 0; b < nres; b++)
			if (res[b].skipped)
				snprintf(took[b], sizeof took[b], "%s n/a", runs[b]);
			else
				snprintf(took[b], sizeof took[b], "%s %.3f s", runs[b],
					 res[b].seconds);
		if (both)
			printf("%-4s %s  (%s, %s, %d steps)\n", word, files.v[i], took[0], took[1],
			       sd_scenario_steps(sc));
		else
			printf("%-4s %s  (%s, %d steps)\n", word, files.v[i], took[0],
			       sd_scenario_steps(sc));
		char *repro[2] = {NULL, NULL};
		for (int b = 0; b < nres; b++) {
			repro[b] = reproduce_cmd(runs[b], seed, &opt, faults_text, target, files.v[i]);
			if (verbose)
				print_steps(runs[b], &res[b]);
			if (res[b].passed)
				continue;
			printf("      %s: %s\n", runs[b], res[b].message);
			for (int k = 1; k < res[b].nfailures; k++) /* --keep-going: the others */
				printf("      %s: %s\n", runs[b], res[b].failures[k].message);
			if (res[b].nfailed > res[b].nfailures)
				printf("      %s: (%d more failed steps not listed)\n", runs[b],
				       res[b].nfailed - res[b].nfailures);
			if (!res[b].skipped)
				printf("      reproduce: %s\n",
				       repro[b] ? repro[b] : "(out of memory)");
		}
		/* the side-by-side report also when both passed: ranges and '*' can hide a
		 * difference; none when a backend did not run the file */
		char *report = NULL;
		size_t report_len = 0;
		int compared = both && !nskip;
		if (compared) {
			FILE *m = open_memstream(&report, &report_len);
			if (m) {
				side_by_side(m, &res[0], &res[1]);
				fclose(m);
				fputs(report, stdout);
			}
		}
		for (int b = 0; b < nres && json; b++) {
			fputs(njson++ ? ",\n" : "", json);
			json_result(json, files.v[i], runs[b], seed, sd_scenario_steps(sc), &res[b],
				    repro[b] ? repro[b] : "", compared ? &res[0] : NULL,
				    compared ? &res[1] : NULL, report ? report : "");
		}
		free(report);
		for (int b = 0; b < nres; b++) {
			free(repro[b]);
			sd_sc_result_free(&res[b]);
		}
		sd_scenario_free(sc);
	}
	/* The reports: a file that cannot be written is a usage error, not a malformed
	 * scenario. */
	int report_failed = 0;
	if (json) {
		fprintf(json,
			"\n], \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"malformed\": "
			"%d}\n",
			passed, failed, skipped, bad_files);
		int bad = fclose(json) != 0;
		json = NULL;
		if (bad) {
			sd__usage_error("run", "out of memory");
			goto out;
		}
		report_failed |= report_commit(&json_rep, json_text, json_len) < 0;
	}
	if (junit_path) {
		FILE *m = open_memstream(&junit_text, &junit_len);
		if (!m) {
			sd__usage_error("run", "out of memory");
			goto out;
		}
		write_junit(m, verdicts, nverdicts);
		if (fclose(m) != 0) {
			sd__usage_error("run", "out of memory");
			goto out;
		}
		report_failed |= report_commit(&junit, junit_text, junit_len) < 0;
	}
	printf("run: %d scenario files on %s, %.2f s", files.n, both ? "sim and real" : backend,
	       total);
	for (int b = 0; b < 2 && runs[b]; b++) {
		printf("; %s: %d passed, %d failed", runs[b], per_passed[b], per_failed[b]);
		if (per_skipped[b])
			printf(", %d not applicable", per_skipped[b]);
	}
	if (bad_files)
		printf("; %d malformed", bad_files);
	printf("\n");
	/* "N passed, N failed[, N skipped]": the closing line test runners' readers know */
	printf("scenarios: %d passed, %d failed", passed, failed);
	if (skipped)
		printf(", %d skipped", skipped);
	printf("\n");
	rc = bad_files || report_failed ? SD_EXIT_USAGE : failed ? SD_EXIT_CHECK : SD_EXIT_OK;
out:
	if (json)
		fclose(json);
	report_discard(&json_rep);
	report_discard(&junit);
	free(json_text);
	free(junit_text);
	for (int i = 0; verdicts && i < files.n * 2; i++)
		free(verdicts[i].details);
	free_files(&files);
	free(verdicts);
	if (fault_log)
		fclose(fault_log);
	return rc;
}
