/* sockdrill repro --html: a fuzz input's run as a timeline page (html.c): the calls the
 * in-process driver wrote as events (SOCKDRILL_TRACE_EVENTS), the finding and the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "html.h"

/* A line of the run's stderr that is a trace line ("SEC.NSEC ACTOR ..."), not the finding. */
static int trace_line(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n && s[n] == '.' && strspn(s + n + 1, "0123456789") == 9 && s[n + 10] == ' ';
}

/* Where the finding starts in what the run printed: the driver's own word, a sanitizer's. */
static int finding_start(const char *s)
{
	return strstr(s, "sockdrill finding") || strstr(s, "ERROR: ") ||
	       strstr(s, "runtime error") || strstr(s, "deadly signal");
}

/* The finding as the run printed it, without its trace and fault-log lines: from its first
 * line on, at most `cap` bytes ("" for a clean run). */
static char *finding_text(const char *errpath, size_t cap)
{
	char *out = NULL, line[4096];
	size_t len = 0;
	int in = 0;
	FILE *m = open_memstream(&out, &len), *f = *errpath ? fopen(errpath, "r") : NULL;
	while (m && f && fgets(line, sizeof line, f)) {
		in |= finding_start(line);
		if (in && !trace_line(line) && line[0] != '{' && len + strlen(line) < cap) {
			fputs(line, m);
			fflush(m);
		}
	}
	if (f)
		fclose(f);
	if (m)
		fclose(m);
	return out;
}

/* The page's data: one run of one backend (the sim) with no steps, its calls from events. */
static void repro_data(FILE *f, const char *file, const char *cmd, const char *finding,
		       const char *events, int rc)
{
	fputs("{\"kind\":\"repro\",\"title\":\"sockdrill repro\",\"command\":", f);
	sd__html_str(f, cmd);
	fputs(",\"finding\":", f);
	sd__html_str(f, finding);
	fputs(",\"runs\":[{\"file\":", f);
	sd__html_str(f, file);
	fprintf(f,
		",\"seed\":0,\"compared\":false,\"differs\":[],\"diverged\":false,"
		"\"backends\":[{\"name\":\"sim\",\"status\":\"%s\",\"virtual\":true,"
		"\"failed_at\":-1,\"message\":\"\",\"reproduce\":",
		rc ? "failed" : "passed");
	sd__html_str(f, cmd);
	fputs(",\"failures\":[],\"outcomes\":[],\"dropped\":0,\"events\":[\n", f);
	FILE *ev = fopen(events, "r");
	char *line = NULL;
	size_t cap = 0;
	long n = 0;
	/* a JSON line each, as sd_trace_json_lines wrote them; a line a crash cut is left out */
	while (ev && getline(&line, &cap, ev) > 0 && n < SD_HTML_MAX_EVENTS) {
		size_t l = strcspn(line, "\n");
		if (l < 2 || line[0] != '{' || line[l - 1] != '}' || line[l] != '\n')
			continue;
		line[l] = 0;
		fprintf(f, "%s%s", n++ ? ",\n" : "", line);
	}
	free(line);
	if (ev)
		fclose(ev);
	fputs("]}]}],\"passed\":0,\"failed\":0}", f);
}

int sd__repro_html(const char *out, const char *target, const char *file, const char *engine,
		   const char *events, const char *errpath, int rc)
{
	const char *av[] = {"./sockdrill", "repro", target, file, "--engine", engine, NULL};
	if (!strcmp(engine, "libfuzzer"))
		av[4] = NULL; /* the default */
	char *cmd = sd__shell_cmd(av), *finding = finding_text(errpath, 16384);
	char *data = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&data, &len);
	if (m) {
		repro_data(m, file, cmd ? cmd : "", finding ? finding : "", events, rc);
		fclose(m);
	}
	FILE *f = data ? fopen(out, "w") : NULL;
	int bad = !f || sd__html_page(f, "sockdrill repro: timeline", data, len) < 0;
	bad |= f && fclose(f) != 0;
	if (bad)
		fprintf(stderr, "sockdrill repro: --html: cannot write %s\n", out);
	else
		printf("repro: timeline: %s\n", out);
	free(cmd);
	free(finding);
	free(data);
	return bad ? SD_EXIT_USAGE : 0;
}
