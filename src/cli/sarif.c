/* sockdrill --sarif: findings as a SARIF 2.1.0 log, in the subset GitHub code scanning reads. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "cli.h"
#include "report.h"
#include "sarif.h"
#include "../util/util.h"

/* The kinds of finding sockdrill knows, as rules[] describes them. A kind not listed (a
 * sanitizer's own word, such as heap-buffer-overflow) is described by its name. */
static const struct known_rule {
	const char *id, *text, *level;
} known[] = {
	{"scenario-step-failed", "A scenario step did not give what the file expects", "error"},
	{"scenario-malformed", "A scenario file does not parse", "error"},
	{"side-by-side-difference",
	 "A step's outcome differs between the simulated stack and the kernel", "warning"},
	{"run-time-limit", "A scenario run reached its time bound (--max-time)", "error"},
	{"server-not-listening", "The server never listened on its port", "error"},
	{"server-crash", "The server died of a signal", "error"},
	{"server-exit", "The server exited on its own while it was being tested", "error"},
	{"deadlock", "The server and its clients were all blocked", "error"},
	{"descriptor-leak", "The server kept descriptors open after every client left", "error"},
	{"listener-leak", "The server listened on more sockets after every client left", "error"},
	{"oracle", "The target's oracle refused a reply the server gave", "error"},
	{"leak", "LeakSanitizer: memory was leaked", "error"},
	{"undefined-behavior", "UndefinedBehaviorSanitizer: undefined behaviour at run time",
	 "error"},
	{"timeout", "An input ran past the fuzzer's time limit", "error"},
	{"out-of-memory", "An input took more memory than the fuzzer allows", "error"},
	{"crash", "The target crashed, and no report said how", "error"},
};

struct sd__sarif {
	struct run_report file;
	char root[PATH_MAX]; /* the working directory: %SRCROOT% */
	FILE *m;             /* the results so far, in text */
	char *text;
	size_t len;
	int nresults;
	const char **rules; /* the rules used, in the order of their first result */
	int nrules, caprules;
	int oom;
};

/* A JSON string. Bytes that are not UTF-8 (a path's, a step's) become U+FFFD, so that the
 * document stays valid JSON for every reader. */
static void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	while (*p) {
		int n = *p < 0x80         ? 1
			: (*p >> 5) == 6  ? 2
			: (*p >> 4) == 14 ? 3
			: (*p >> 3) == 30 ? 4
					  : 0;
		int ok = n > 0;
		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (!ok) {
			fputs("\\ufffd", f);
			p++;
		} else if (n > 1) {
			fwrite(p, 1, (size_t)n, f);
			p += n;
		} else {
			sd__json_byte(f, *p++, 0);
		}
	}
	fputc('"', f);
}

/* path as a URI: its bytes outside RFC 3986's unreserved set, '/' and a few sub-delimiters
 * percent-encoded. */
static void uri_path(FILE *f, const char *path)
{
	static const char keep[] = "-._~/!$&'()*+,;=:@";
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p))
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
	}
}

static const struct known_rule *known_rule(const char *id)
{
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(known[i].id, id))
			return &known[i];
	return NULL;
}

/* The rule's index in rules[], added on its first result; -1 when out of memory. */
static int rule_index(struct sd__sarif *s, const char *id)
{
	for (int i = 0; i < s->nrules; i++)
		if (!strcmp(s->rules[i], id))
			return i;
	if (s->nrules == s->caprules) {
		int cap = s->caprules ? 2 * s->caprules : 16;
		const char **g = realloc(s->rules, (size_t)cap * sizeof *g);
		if (!g)
			return -1;
		s->rules = g, s->caprules = cap;
	}
	const struct known_rule *k = known_rule(id);
	if (!(s->rules[s->nrules] = k ? k->id : strdup(id)))
		return -1;
	return s->nrules++;
}

/* 64-bit FNV-1a, continued from h. */
static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL; /* a separator, so "ab"+"c" != "a"+"bc" */
}

/* The location: a file under the working directory as a path relative to %SRCROOT%, any other
 * as an absolute file: URI. Its URI text goes into key too, for the fingerprint. */
static void write_location(struct sd__sarif *s, const struct sd__sarif_where *w, char *key,
			   size_t size)
{
	char abs[PATH_MAX];
	const char *rel = NULL;
	size_t n = strcmp(s->root, "/") ? strlen(s->root) : 0;
	int found = realpath(w->file, abs) != NULL;
	if (found && !strncmp(abs, s->root, n) && abs[n] == '/')
		rel = abs + n + 1;
	else if (!found && w->file[0] != '/') /* not here (a report's): as given, from the root */
		rel = !strncmp(w->file, "./", 2) ? w->file + 2 : w->file;
	const char *uri = rel ? rel : found ? abs : w->file;
	fputs("\"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": \"", s->m);
	fputs(rel ? "" : "file://", s->m);
	uri_path(s->m, uri);
	fputs(rel ? "\", \"uriBaseId\": \"%SRCROOT%\"}" : "\"}", s->m);
	snprintf(key, size, "%s", uri);
	if (w->line > 0) {
		fprintf(s->m, ", \"region\": {\"startLine\": %d", w->line);
		if (w->col > 0)
			fprintf(s->m, ", \"startColumn\": %d", w->col);
		fputc('}', s->m);
	}
	fputs("}}], ", s->m);
}

void sd__sarif_add(struct sd__sarif *s, const char *rule, const char *text, const char *repro,
		   const struct sd__sarif_where *where, const char *key)
{
	int idx = rule_index(s, rule);
	if (idx < 0) {
		s->oom = 1;
		return;
	}
	const struct known_rule *k = known_rule(rule);
	char place[PATH_MAX + 32] = "";
	fputs(s->nresults++ ? ",\n        " : "\n        ", s->m);
	fputs("{\"ruleId\": ", s->m);
	json_str(s->m, rule);
	fprintf(s->m, ", \"ruleIndex\": %d, \"level\": \"%s\", \"message\": {\"text\": ", idx,
		k ? k->level : "error");
	char *msg = NULL;
	size_t len = 0;
	FILE *t = open_memstream(&msg, &len);
	if (!t) {
		s->oom = 1;
		return;
	}
	fprintf(t, "%s", text);
	if (repro && *repro)
		fprintf(t, "\nreproduce: %s", repro);
	if (fclose(t) != 0)
		s->oom = 1;
	json_str(s->m, msg ? msg : "");
	free(msg);
	fputs("}, ", s->m);
	/* code scanning needs a location: each caller gives one where it can */
	if (where && where->file)
		write_location(s, where, place, sizeof place);
	uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ULL, rule), place), key ? key : "");
	char line[16];
	snprintf(line, sizeof line, "%d", where ? where->line : 0);
	h = fnv(h, line);
	fprintf(s->m, "\"partialFingerprints\": {\"sockdrillFinding/v1\": \"%016llx\"}}",
		(unsigned long long)h);
}

/* The run's tool: sockdrill and the rules its results used. */
static void write_tool(FILE *f, const struct sd__sarif *s)
{
	fprintf(f,
		"      \"tool\": {\"driver\": {\"name\": \"sockdrill\", \"version\": \"%s\", "
		"\"semanticVersion\": \"%s\", \"rules\": [",
		sd_version(), sd_version());
	for (int i = 0; i < s->nrules; i++) {
		const struct known_rule *k = known_rule(s->rules[i]);
		char what[256];
		if (k)
			snprintf(what, sizeof what, "%s", k->text);
		else
			snprintf(what, sizeof what, "A sanitizer reported %s", s->rules[i]);
		fputs(i ? ",\n        {\"id\": " : "\n        {\"id\": ", f);
		json_str(f, s->rules[i]);
		fputs(", \"shortDescription\": {\"text\": ", f);
		json_str(f, what);
		fputs("}, \"help\": {\"text\": ", f);
		json_str(f, "The result's message ends with the sockdrill command that "
			    "reproduces it.");
		fprintf(f, "}, \"defaultConfiguration\": {\"level\": \"%s\"}}",
			k ? k->level : "error");
	}
	fputs(s->nrules ? "\n      ]}},\n" : "]}},\n", f);
}

static void sarif_free(struct sd__sarif *s)
{
	if (s->m)
		fclose(s->m);
	free(s->text);
	for (int i = 0; i < s->nrules; i++)
		if (!known_rule(s->rules[i]))
			free((char *)s->rules[i]);
	free(s->rules);
	free(s);
}

void sd__sarif_discard(struct sd__sarif *s)
{
	sd__run_report_discard(&s->file);
	sarif_free(s);
}

int sd__sarif_finish(struct sd__sarif *s, const char *category, int ok)
{
	char *doc = NULL;
	size_t len = 0;
	int bad = fclose(s->m) != 0 || s->oom;
	s->m = NULL;
	FILE *f = bad ? NULL : open_memstream(&doc, &len);
	if (f) {
		fputs("{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
		      "  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n",
		      f);
		write_tool(f, s);
		fputs("      \"automationDetails\": {\"id\": ", f);
		json_str(f, category);
		fputs("},\n      \"originalUriBaseIds\": {\"%SRCROOT%\": {\"uri\": \"file://", f);
		uri_path(f, strcmp(s->root, "/") ? s->root : "");
		fprintf(f, "/\"}},\n      \"invocations\": [{\"executionSuccessful\": %s}],\n",
			ok ? "true" : "false");
		fprintf(f, "      \"results\": [%.*s%s]\n    }\n  ]\n}\n", (int)s->len,
			s->text ? s->text : "", s->nresults ? "\n      " : "");
		bad = fclose(f) != 0;
	}
	if (bad || !f) {
		sd__usage_error(s->file.cmd, "out of memory");
		free(doc);
		sd__sarif_discard(s);
		return -1;
	}
	int rc = sd__run_report_commit(&s->file, doc, len);
	free(doc);
	sarif_free(s);
	return rc;
}

const char *sd__sarif_root(const struct sd__sarif *s) { return s->root; }

struct sd__sarif *sd__sarif_open(const char *cmd, const char *path)
{
	struct sd__sarif *s = calloc(1, sizeof *s);
	if (!s) {
		sd__usage_error(cmd, "out of memory");
		return NULL;
	}
	if (sd__report_open(&s->file, cmd, "--sarif", path) < 0) {
		free(s);
		return NULL;
	}
	if (!getcwd(s->root, sizeof s->root))
		snprintf(s->root, sizeof s->root, "/");
	if (!(s->m = open_memstream(&s->text, &s->len))) {
		sd__usage_error(cmd, "out of memory");
		sd__sarif_discard(s);
		return NULL;
	}
	return s;
}
