/* sockdrill run: the scenario files its PATH arguments name, directories walked in order. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "run.h"

static int add_file(struct run_files *f, const char *path)
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

void sd__run_files_free(struct run_files *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	*f = (struct run_files){0};
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
static int walk(struct run_files *f, const char *dir, int depth)
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
	struct run_files here = {0};
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
	sd__run_files_free(&here);
	return rc;
}

/* A directory with no scenario is an error: a run of nothing must not pass. */
int sd__run_add_path(struct run_files *f, const char *arg)
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
