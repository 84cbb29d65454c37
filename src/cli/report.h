/* sockdrill CLI: a report file (run_report.c), written beside its path and renamed over it
 * once complete: run --junit, --json and --sarif, fuzz --sarif, wrap --sarif. */
#ifndef SD_CLI_REPORT_H
#define SD_CLI_REPORT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * A report file (--junit, --json, --sarif). Opened before anything runs, so that one that cannot be
 * written is a usage error up front. Its text goes into a new file beside it, which replaces
 * it by rename() once complete: an error or a crash midway leaves the old report as it was
 * (and no new one). A path that is not a regular file (a FIFO, /dev/stdout) is written in
 * place, as is a file in a directory we may not create files in.
 */
struct run_report {
	const char *cmd, *opt, *path; /* the command and option that name it, for its errors */
	int fd;
	int in_place;        /* writing to path itself */
	int created;         /* in place: this run created path (removed on an error) */
	mode_t mode;         /* the mode the report gets: the old file's, else 0666 & ~umask */
	char tmp[PATH_MAX];  /* the new file while it is written ("" when in place) */
	char dest[PATH_MAX]; /* what tmp replaces: path, or where its links lead */
};

/* 0, or -1 with the message printed ("sockdrill CMD: OPT: cannot write PATH: why"). */
int sd__report_open(struct run_report *r, const char *cmd, const char *opt, const char *path);
/* sd__report_open for `sockdrill run`. */
int sd__run_report_open(struct run_report *r, const char *opt, const char *path);
/* The report becomes text[0..len): 0, or -1 with the message printed and the old report
 * left as it was. */
int sd__run_report_commit(struct run_report *r, const char *text, size_t len);
/* An error path: the old report stays as it was, no new one is left. */
void sd__run_report_discard(struct run_report *r);

#endif
