/* sockdrill fuzz: a campaign's files: inputs counted and copied, this run's crashes, the
 * engine's last lines, the harness errors. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "fuzz_files.h"

int sd__fuzz_count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' &&
		     (!prefix || !strncmp(e->d_name, prefix, strlen(prefix)));
	if (d)
		closedir(d);
	return n;
}

/* Copies each non-empty regular file of src whose name starts with prefix into dst, named by
 * tag-N; the number copied. (Every copy feeds AFL++ or comes from it: it refuses empty
 * inputs.) */
int sd__fuzz_copy_files(const char *src, const char *prefix, const char *dst, const char *tag)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix))))
			continue;
		char from[PATH_MAX * 2], to[PATH_MAX * 2], buf[65536];
		sd__textf(from, sizeof from, "%s/%s", src, e->d_name);
		if (stat(from, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			continue;
		sd__textf(to, sizeof to, "%s/%s-%d", dst, tag, n);
		FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
		size_t k;
		while (in && out && (k = fread(buf, 1, sizeof buf, in)) > 0)
			fwrite(buf, 1, k, out);
		if (in)
			fclose(in);
		if (out)
			fclose(out), n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* The names in a directory, newline-joined (a snapshot to tell new files from old). */
char *sd__fuzz_list_names(const char *dir)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (m && d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			fprintf(m, "\n%s\n", e->d_name);
	if (d)
		closedir(d);
	if (m)
		fclose(m);
	return buf;
}

static int later(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* This run's crash files: names that were not in `before`, and files written after the
 * `since` mark (libFuzzer names a crash by its content, so finding one again rewrites the same
 * file). The mark is a file's time, from the same clock as the crashes': a crash of an earlier
 * run in the same second is not this run's. */
int sd__fuzz_each_crash(const char *art, const char *before, const struct timespec *since,
			void (*fn)(void *ctx, const char *path), void *ctx)
{
	DIR *d = opendir(art);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		char path[PATH_MAX * 2], key[NAME_MAX + 4];
		struct stat st;
		sd__textf(key, sizeof key, "\n%s\n", e->d_name);
		sd__textf(path, sizeof path, "%s/%s", art, e->d_name);
		/* libFuzzer's slow-unit-* files are inputs it found slow: kept, not crashes */
		if (e->d_name[0] == '.' || !strncmp(e->d_name, "slow-unit-", 10) ||
		    stat(path, &st) < 0 ||
		    (before && strstr(before, key) && !later(&st.st_mtim, since)))
			continue;
		n++;
		if (fn)
			fn(ctx, path);
	}
	if (d)
		closedir(d);
	return n;
}

char *sd__fuzz_repro_cmd(const char *t, const char *path, const char *engine)
{
	const char *av[] = {"./sockdrill", "repro", t, path, "--engine", engine, NULL};
	return sd__shell_cmd(av);
}

struct print_ctx {
	const char *t, *engine;
};

static void print_crash(void *ctx, const char *path)
{
	const struct print_ctx *p = ctx;
	char *cmd = sd__fuzz_repro_cmd(p->t, path, p->engine);
	printf("reproduce: %s\n", cmd ? cmd : "(out of memory)");
	free(cmd);
}

int sd__print_crashes(const char *art, const char *t, const char *engine, const char *before,
		      const struct timespec *since)
{
	struct print_ctx p = {t, engine};
	return sd__fuzz_each_crash(art, before, since, t ? print_crash : NULL, &p);
}

enum { ENGINE_TAIL = 12 }; /* lines of an engine's log shown when it did not fuzz */

/* Writes s without its terminal escapes (AFL++ colours its messages even into a file). */
static void put_plain(const char *s, FILE *f)
{
	for (; *s; s++) {
		if (*s != '\033') {
			fputc(*s, f);
			continue;
		}
		if (s[1] == '[') /* CSI: parameters up to a final byte in @..~ */
			for (s += 2; *s && (*s < '@' || *s > '~'); s++)
				;
		else if (s[1])
			s++;
		if (!*s)
			break;
	}
}

/* The last lines of an engine's log on stderr, headed by where all of it is. */
void sd__fuzz_show_tail(const char *log, const char *who)
{
	FILE *f = fopen(log, "r");
	char *line = NULL, *ring[ENGINE_TAIL] = {0};
	size_t cap = 0, n = 0;
	while (f && getline(&line, &cap, f) > 0) {
		free(ring[n % ENGINE_TAIL]);
		ring[n++ % ENGINE_TAIL] = strdup(line);
	}
	if (f)
		fclose(f);
	free(line);
	fprintf(stderr, "sockdrill fuzz: the last lines of %s's output (all of it in %s):\n", who,
		log);
	for (size_t i = n > ENGINE_TAIL ? n - ENGINE_TAIL : 0; i < n; i++)
		if (ring[i % ENGINE_TAIL])
			put_plain(ring[i % ENGINE_TAIL], stderr);
	for (size_t i = 0; i < ENGINE_TAIL; i++)
		free(ring[i]);
}

/* The harness errors the fuzzer's inputs ended in (src/interpose/proc.c appends each to the file
 * SOCKDRILL_HARNESS_ERRORS names: a line "sockdrill: ...", then the server's last output
 * indented by two spaces). The first goes to stderr; their number, 0 for none. */
int sd__fuzz_harness_errors(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (f && getline(&line, &cap, f) > 0) {
		int more = !strncmp(line, "  ", 2);
		n += !more;
		if (n == 1)
			fputs(line, stderr);
	}
	if (f)
		fclose(f);
	free(line);
	return n;
}
