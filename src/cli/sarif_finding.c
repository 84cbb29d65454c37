/* sockdrill --sarif: what a crash report tells of its finding: its kind and its place. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "sarif.h"

/* sockdrill's fuzz driver words its findings (src/driver/fuzz: FINDING) so: their kinds. */
static const struct {
	const char *words, *kind;
} own_kinds[] = {
	{"are all blocked", "deadlock"},
	{"cannot join the server", "deadlock"},
	{"the server exited", "server-exit"},
	{"descriptors open after", "descriptor-leak"},
	{"sockets listening after", "listener-leak"},
	{"client ", "oracle"},
};

/* The kind a sanitizer's or libFuzzer's words (after "Tool: ") name: its words up to a path,
 * an address or a parenthesis, joined by '-' ("data race" is data-race), a leak's count of
 * bytes being "leak". */
static void kind_of(const char *words, char *kind, size_t size)
{
	size_t n = 0;
	if (strstr(words, "leak")) { /* "detected memory leaks", "24 byte(s) leaked in ..." */
		snprintf(kind, size, "leak");
		return;
	}
	while (*words && n + 1 < size) {
		size_t w = strcspn(words, " ");
		if (!w || words[0] == '(' || memchr(words, '/', w) || !strncmp(words, "on ", 3) ||
		    !strncmp(words, "in ", 3) || !strncmp(words, "after ", 6) ||
		    !strncmp(words, "0x", 2))
			break;
		if (n)
			kind[n++] = '-';
		for (size_t i = 0; i < w && n + 1 < size; i++)
			kind[n++] = words[i] == ':' ? '-' : words[i];
		words += w + (words[w] == ' ');
	}
	kind[n] = 0;
	if (n > 11 && !memcmp(kind, "attempting-", 11)) /* ASan's "attempting double-free" */
		memmove(kind, kind + 11, n - 11 + 1);
	if (!n)
		snprintf(kind, size, "crash");
}

/* The words after "SUMMARY: Tool: " in the report, into out; 0 when it has no summary. */
static int summary(const char *errpath, char *out, size_t size)
{
	FILE *f = fopen(errpath, "r");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (f && !found && getline(&line, &cap, f) > 0) {
		char *m = strstr(line, "SUMMARY: "), *words = m ? strstr(m + 9, ": ") : NULL;
		if ((found = words != NULL)) {
			words[strcspn(words, "\n")] = 0;
			snprintf(out, size, "%s", words + 2);
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

int sd__finding_kind(const char *errpath, char *kind, char *text, size_t size)
{
	char words[512];
	int k = sd__finding_in(errpath, text, size);
	kind[0] = 0;
	if (k < 0)
		return -1;
	if (k == 0) { /* sockdrill's own: its words say which oracle refused */
		for (size_t i = 0; i < sizeof own_kinds / sizeof own_kinds[0] && !kind[0]; i++)
			if (strstr(text, own_kinds[i].words))
				snprintf(kind, size, "%s", own_kinds[i].kind);
		if (!kind[0])
			snprintf(kind, size, "finding");
		return 0;
	}
	if (strstr(text, "runtime error:")) { /* UBSan names no kind in its first line */
		snprintf(kind, size, "undefined-behavior");
		return 0;
	}
	/* the summary words a sanitizer's kind best ("allocation-size-too-big" where the first
	 * line has a sentence); its first line does when there is none */
	const char *from = strstr(text, ": ");
	if (summary(errpath, words, sizeof words))
		kind_of(words, kind, size);
	else
		kind_of(from ? from + 2 : text, kind, size);
	return 0;
}

/* "FILE:LINE[:COL]" at the end of a report's line: 1 with the file into buf and where set. */
static int position(const char *tok, struct sd__sarif_where *where, char *buf, size_t size)
{
	size_t n = strlen(tok);
	int nums[2] = {0, 0}, k = 0;
	while (k < 2) { /* up to two numbers from the right: COL, then LINE */
		size_t d = n;
		while (d > 0 && isdigit((unsigned char)tok[d - 1]))
			d--;
		if (d == n || d == 0 || tok[d - 1] != ':')
			break;
		nums[k++] = atoi(tok + d);
		n = d - 1;
	}
	if (!k || n == 0 || n >= size)
		return 0;
	memcpy(buf, tok, n);
	buf[n] = 0;
	where->file = buf;
	where->line = k == 2 ? nums[1] : nums[0];
	where->col = k == 2 ? nums[0] : 0;
	return 1;
}

/* Whether file is code under test: it exists under root and is not a part of sockdrill's
 * harness, which only carries a call or reports the finding. */
static int under_test(const char *file, const char *root)
{
	char abs[PATH_MAX];
	size_t n = strcmp(root, "/") ? strlen(root) : 0;
	return realpath(file, abs) && !strncmp(abs, root, n) && abs[n] == '/' &&
	       !strstr(abs, "/src/driver/fuzz/") && !strstr(abs, "/src/interpose/");
}

int sd__finding_frame(const char *errpath, const char *root, struct sd__sarif_where *where,
		      char *buf, size_t size)
{
	FILE *f = fopen(errpath, "r");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	struct sd__sarif_where at; /* *where changes only when one is found */
	while (f && !found && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		char *p = line + strspn(line, " \t"), *ub = strstr(line, ": runtime error:");
		if (strstr(line, "SUMMARY: "))
			break; /* the report's stacks are above it */
		if (ub) {      /* UBSan: "FILE:LINE:COL: runtime error: ..." */
			*ub = 0;
			found = position(p, &at, buf, size) && under_test(buf, root);
			continue;
		}
		/* a frame: "#N 0xADDR in FUNC FILE:LINE:COL" (or "(module+0x...)": no source) */
		if (*p != '#' || !isdigit((unsigned char)p[1]) || !strstr(p, " in "))
			continue;
		char *last = strrchr(p, ' ');
		found = last && last[1] != '(' && position(last + 1, &at, buf, size) &&
			under_test(buf, root);
	}
	free(line);
	if (f)
		fclose(f);
	if (found)
		*where = at;
	return found;
}
