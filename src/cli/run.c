/* sockdrill run: scenario files on sim, real or both, with reports and JUnit XML. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sockdrill/sockdrill.h>
#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

#include "cli.h"

static const char run_help[] =
	"usage: sockdrill run [--backend sim|real|both] [--seed N] [--junit FILE] [--json FILE]\n"
	"                     [--verbose] [--timeout MS] [--faults SPEC] [--fault-log FILE]\n"
	"                     [--target ADDR:PORT] PATH...\n\n"
	"Runs scenario files (docs/scenarios.md): each PATH is a .sd file or a directory whose\n"
	".sd files run in name order. On both, every scenario runs on sim and on real and any\n"
	"step whose outcome differs is shown side by side. A failing step prints the command\n"
	"that reproduces it. Exit 0 all passed, 1 a step failed, 2 a malformed file or "
	"argument.\n\n"
	"  --backend B    sim (default), real or both\n"
	"  --seed N       sim seed (default: the file's 'set seed', else 1)\n"
	"  --junit FILE   write JUnit XML: one test case per scenario and backend\n"
	"  --json FILE    write the results as one JSON document (docs/scenarios.md)\n"
	"  --verbose      print every step and its outcome\n"
	"  --timeout MS   real: how long a blocking step may take (default 3000)\n"
	"  --faults SPEC  inject faults around the backend (docs/faults.md); seeded by --seed\n"
	"  --fault-log F  one JSON line per injected fault\n"
	"  --target A:P   a server under test: $TARGET_PORT is P (A must be loopback)\n";

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
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects .sd files below dir, depth-first; returns -1 on an unreadable directory. */
static int walk(struct files *f, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct files here = {0};
	if (!d || depth > 32)
		return -1;
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0)
			continue;
		size_t n = strlen(e->d_name);
		if (S_ISDIR(st.st_mode) || (n > 3 && !strcmp(e->d_name + n - 3, ".sd")))
			add_file(&here, path);
	}
	closedir(d);
	qsort(here.v, (size_t)here.n, sizeof *here.v, by_name);
	for (int i = 0; i < here.n; i++) {
		struct stat st;
		if (stat(here.v[i], &st) == 0 && S_ISDIR(st.st_mode))
			walk(f, here.v[i], depth + 1);
		else
			add_file(f, here.v[i]);
		free(here.v[i]);
	}
	free(here.v);
	return 0;
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
	int passed;
	double seconds;
	char message[640];
};

static int write_junit(const char *path, struct verdict *v, int n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int failures = 0;
	double total = 0;
	for (int i = 0; i < n; i++)
		failures += !v[i].passed, total += v[i].seconds;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"sockdrill\" tests=\"%d\" failures=\"%d\" time=\"%.6f\">\n",
		n, failures, total);
	const char *backends[] = {"sim", "real"};
	for (int b = 0; b < 2; b++) {
		int tests = 0, fails = 0;
		double t = 0;
		for (int i = 0; i < n; i++)
			if (!strcmp(v[i].backend, backends[b]))
				tests++, fails += !v[i].passed, t += v[i].seconds;
		if (!tests)
			continue;
		fprintf(f,
			"  <testsuite name=\"sockdrill.%s\" tests=\"%d\" failures=\"%d\" "
			"errors=\"0\" "
			"time=\"%.6f\">\n",
			backends[b], tests, fails, t);
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
			fprintf(f, ">\n      <failure message=\"");
			xml_text(f, v[i].message);
			fprintf(f, "\">");
			xml_text(f, v[i].message);
			fprintf(f, "</failure>\n    </testcase>\n");
		}
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
	return fclose(f) == 0 ? 0 : -1;
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

/* The command that reproduces one backend's run of `file`. */
static void reproduce_cmd(char *buf, size_t size, const char *backend, uint64_t seed,
			  const struct sd_sc_options *opt, const char *target, const char *file)
{
	int n = snprintf(buf, size, "./sockdrill run --backend %s --seed %llu", backend,
			 (unsigned long long)seed);
	if (opt->timeout_ms && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " --timeout %d", opt->timeout_ms);
	if (opt->faults && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " --faults '%s'", opt->faults);
	if (opt->target_port && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " --target %s", target);
	if (n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " %s", file);
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
		r->passed ? "passed" : "failed", (unsigned long long)seed);
	fprintf(f, "\"seconds\": %.6f, \"steps\": %d, \"message\": ", r->seconds, steps);
	json_str(f, r->passed ? "" : r->message);
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

int sd__cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"seed", required_argument, NULL, 's'},
		{"junit", required_argument, NULL, 'j'},
		{"json", required_argument, NULL, 'J'},
		{"verbose", no_argument, NULL, 'v'},
		{"timeout", required_argument, NULL, 't'},
		{"faults", required_argument, NULL, 'f'},
		{"fault-log", required_argument, NULL, 'L'},
		{"target", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *backend = "sim", *junit = NULL, *json_path = NULL;
	struct sd_sc_options opt = {0};
	int verbose = 0, optc;
	FILE *fault_log = NULL;
	const char *target = NULL;
	uint64_t num;

	optind = 1;
	opterr = 0;
	while ((optc = getopt_long(argc, argv, "+:hv", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (optc) {
		case 'b':
			backend = optarg;
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
			break;
		case 't':
			if (sd__parse_num("run", "--timeout", optarg, 1, 600000, &num))
				return SD_EXIT_USAGE;
			opt.timeout_ms = (int)num;
			break;
		case 'j': junit = optarg; break;
		case 'J': json_path = optarg; break;
		case 'f': {
			struct sd_fault_spec spec;
			char why[256];
			if (sd_fault_parse(optarg, &spec, why, sizeof why) < 0)
				return sd__usage_error("run", "%s", why);
			opt.faults = optarg;
			break;
		}
		case 'L':
			if (!(fault_log = fopen(optarg, "w")))
				return sd__usage_error("run", "--fault-log: cannot write %s",
						       optarg);
			opt.fault_log = fault_log;
			break;
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
			target = optarg;
			break;
		}
		case 'v': verbose = 1; break;
		case 'h': fputs(run_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("run", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"run", "unknown option '%s' (try 'sockdrill run --help')", o);
		}
	}
	if (optind >= argc)
		return sd__usage_error("run", "no scenario files or directories given");

	struct files files = {0};
	for (int i = optind; i < argc; i++) {
		struct stat st;
		const char *bad = NULL;
		if (stat(argv[i], &st) < 0)
			bad = "no such file or directory";
		else if (S_ISDIR(st.st_mode)) {
			int before = files.n;
			if (walk(&files, argv[i], 0) < 0)
				bad = "cannot read the directory";
			else if (files.n == before)
				bad = "no .sd files below it";
		} else {
			add_file(&files, argv[i]);
		}
		if (bad) { /* the paths gathered so far are freed: no leak on bad input */
			free_files(&files);
			if (fault_log)
				fclose(fault_log);
			return sd__usage_error("run", "%s: %s", argv[i], bad);
		}
	}

	FILE *json = NULL;
	if (json_path && !(json = fopen(json_path, "w"))) {
		free_files(&files);
		if (fault_log)
			fclose(fault_log);
		return sd__usage_error("run", "--json: cannot write %s", json_path);
	}
	if (json)
		fputs("{\"version\": 1, \"results\": [\n", json);
	int njson = 0;

	int both = !strcmp(backend, "both"), bad_files = 0, failed = 0, passed = 0;
	int per_passed[2] = {0, 0}, per_failed[2] = {0, 0};
	const char *runs[2] = {both ? "sim" : backend, both ? "real" : NULL};
	struct verdict *verdicts = calloc((size_t)files.n * 2 + 1, sizeof *verdicts);
	int nverdicts = 0;
	double total = 0;
	for (int i = 0; i < files.n; i++) {
		char err[512];
		struct sd_scenario *sc;
		if (sd_scenario_load(files.v[i], &sc, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			bad_files++;
			if (json) {
				fprintf(json, "%s{\"file\": ", njson++ ? ",\n" : "");
				json_str(json, files.v[i]);
				fputs(", \"backend\": null, \"status\": \"malformed\", "
				      "\"message\": ",
				      json);
				json_str(json, err);
				fputc('}', json);
			}
			continue;
		}
		struct sd_sc_result res[2];
		int nres = 0, ok_all = 1;
		for (int b = 0; b < 2 && runs[b]; b++) {
			if (sd_scenario_run(sc, runs[b], &opt, &res[b]) < 0) {
				fprintf(stderr, "sockdrill run: cannot open backend %s\n", runs[b]);
				for (int k = 0; k < b; k++)
					sd_sc_result_free(&res[k]);
				sd_scenario_free(sc);
				return SD_EXIT_USAGE;
			}
			nres++;
			ok_all &= res[b].passed;
			total += res[b].seconds;
			struct verdict *v = &verdicts[nverdicts++];
			v->file = files.v[i];
			v->backend = runs[b];
			v->passed = res[b].passed;
			v->seconds = res[b].seconds;
			snprintf(v->message, sizeof v->message, "%s", res[b].message);
			passed += res[b].passed;
			failed += !res[b].passed;
			per_passed[b] += res[b].passed;
			per_failed[b] += !res[b].passed;
		}
		uint64_t seed = sd_scenario_seed(sc, &opt);
		if (both)
			printf("%-4s %s  (sim %.3f s, real %.3f s, %d steps)\n",
			       ok_all ? "ok" : "FAIL", files.v[i], res[0].seconds, res[1].seconds,
			       sd_scenario_steps(sc));
		else
			printf("%-4s %s  (%s %.3f s, %d steps)\n", ok_all ? "ok" : "FAIL",
			       files.v[i], runs[0], res[0].seconds, sd_scenario_steps(sc));
		char repro[2][1024];
		for (int b = 0; b < nres; b++) {
			reproduce_cmd(repro[b], sizeof repro[b], runs[b], seed, &opt, target,
				      files.v[i]);
			if (verbose)
				print_steps(runs[b], &res[b]);
			if (res[b].passed)
				continue;
			printf("      %s: %s\n", runs[b], res[b].message);
			printf("      reproduce: %s\n", repro[b]);
		}
		/* the side-by-side report also when both passed: ranges and '*' can hide a
		 * difference */
		char *report = NULL;
		size_t report_len = 0;
		if (both) {
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
				    repro[b], both ? &res[0] : NULL, both ? &res[1] : NULL,
				    report ? report : "");
		}
		free(report);
		for (int b = 0; b < nres; b++)
			sd_sc_result_free(&res[b]);
		sd_scenario_free(sc);
	}
	if (json) {
		fprintf(json, "\n], \"passed\": %d, \"failed\": %d, \"malformed\": %d}\n", passed,
			failed, bad_files);
		if (fclose(json) != 0) {
			fprintf(stderr, "sockdrill run: cannot write %s\n", json_path);
			bad_files++;
		}
	}
	if (junit && write_junit(junit, verdicts, nverdicts) < 0) {
		fprintf(stderr, "sockdrill run: cannot write %s\n", junit);
		bad_files++;
	}
	printf("run: %d scenario files on %s, %.2f s", files.n, both ? "sim and real" : backend,
	       total);
	for (int b = 0; b < 2 && runs[b]; b++)
		printf("; %s: %d passed, %d failed", runs[b], per_passed[b], per_failed[b]);
	if (bad_files)
		printf("; %d malformed", bad_files);
	printf("\n");
	printf("scenarios: %d passed, %d failed\n", passed, failed);
	for (int i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	free(verdicts);
	if (fault_log)
		fclose(fault_log);
	if (bad_files)
		return SD_EXIT_USAGE;
	return failed ? SD_EXIT_CHECK : SD_EXIT_OK;
}
