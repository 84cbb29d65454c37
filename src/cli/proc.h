/* sockdrill CLI: child processes in their own process groups, signals forwarded, bounded stops. */
#ifndef SD_CLI_PROC_H
#define SD_CLI_PROC_H

#include <sys/types.h>

/* How long a child may take to end after a signal before its process group gets SIGKILL. */
#define SD__PROC_GRACE_MS 10000
/* Children running at once (wrap: 1; fuzz: up to 64 AFL++ instances). */
#define SD__PROC_MAX 80

/* Installs the handler that passes SIGINT and SIGTERM on to every running child's process
 * group (a signal ignored when we started stays ignored); sd__proc_spawn does it too. Call it
 * before creating what a signal must not leave behind. */
void sd__proc_catch_signals(void);

/* fork() for a child the CLI looks after: 0 in the child, which leads a process group of its
 * own (so a terminal's Ctrl-C reaches it once, through us); its pid in the parent; -EINTR once
 * SIGINT or SIGTERM has arrived (nothing new starts then), -EAGAIN with SD__PROC_MAX children
 * running, or another negative errno from fork. Flushes stdio first, so nothing buffered is
 * written twice. */
pid_t sd__proc_spawn(void);

/* $TMPDIR, or /tmp when it is unset or empty: where the CLI keeps its own files. */
const char *sd__proc_tmpdir(void);
/* Creates an empty file of its own, sd__proc_tmpdir()/sockdrill-STEM-XXXXXX, close-on-exec:
 * its descriptor with its name in path, or a negative errno (-ENAMETOOLONG: it does not fit
 * in size bytes). */
int sd__proc_tmpfile(const char *stem, char *path, size_t size);

/* Waits for the child to end and reaps it: 0 with its wait status, or a negative errno. Once
 * SIGINT or SIGTERM has arrived, the wait is bounded as in sd__proc_stop. */
int sd__proc_wait(pid_t pid, int *status);

/* Whether the child has ended: 1 (reaped, its wait status set), 0 still running, or a negative
 * errno. */
int sd__proc_poll(pid_t pid, int *status);

/* Stops the child: `sig` (0: none, the handler sent one already) to its process group, at most
 * SD__PROC_GRACE_MS for it to end, then SIGKILL; whatever else is left of its group gets
 * SIGKILL too. 0 when it ended within the grace, 1 when it had to be killed, or a negative
 * errno. */
int sd__proc_stop(pid_t pid, int sig, int *status);

/* The SIGINT or SIGTERM that asked the CLI to stop, or 0. */
int sd__proc_caught(void);

/* The exit status after that signal, as a shell reports it: 128 + signal. */
int sd__proc_exit_status(void);

/*
 * A server that daemonizes (forks, the parent exits, the child calls setsid) leaves our
 * process group and would be reparented to init: wrap makes itself a child subreaper, so
 * such orphans become its children, which it can signal by pid and reap.
 */
/* prctl(PR_SET_CHILD_SUBREAPER): 0 or a negative errno. */
int sd__proc_subreaper(void);

/* Our running children other than those sd__proc_spawn made (their pids in out, at most max;
 * the count, which may exceed max, or a negative errno). Ended ones are reaped on the way,
 * except `keep` (0: none), whose wait status the caller wants. */
int sd__proc_children(pid_t *out, int max, pid_t keep);

/* The last child sd__proc_children reaped that exited non-zero or died of a signal (its wait
 * status in *status), or 0: how a daemon that never listened ended. */
pid_t sd__proc_children_failed(int *status);

/* 1 when pid is a descendant of ours (its parents, followed up, lead to us), else 0. */
int sd__proc_is_descendant(pid_t pid);

/* SIGINT and SIGTERM to the CLI go on to pid too, a child of ours (one that arrived already
 * goes at once). 0, or -EAGAIN when SD__PROC_MAX are followed. */
int sd__proc_follow(pid_t pid);

/* Stops every child left (sd__proc_children): `sig` to each once, SIGKILL to all after
 * SD__PROC_GRACE_MS, each reaped; children reparented to us meanwhile get the same, for at most
 * twice the grace. `server` (0: none), if a child of ours, is reaped into *status, and *alone
 * (may be NULL) says whether it had ended before we signalled it. 1 when SIGKILL was needed,
 * else 0. */
int sd__proc_stop_children(int sig, pid_t server, int *status, int *alone);

/* Sleeps ms milliseconds (a signal may cut it short). */
void sd__proc_sleep_ms(long ms);

/* This program's own file (/proc/self/exe), NUL-terminated in out: 0, or -1. */
int sd__proc_self_exe(char *out, size_t size);

/* How a child started by sd__proc_exec is set up; NULL for none of it. */
struct sd__proc_io {
	const char *file; /* the program to run; NULL: argv[0], searched in PATH */
	const char *const
		*env;     /* NAME=value entries added to its environment (NULL-ended), or NULL */
	const char *cwd;  /* its working directory (NULL: ours); it exits 127 without it */
	const char *path; /* a file (created or emptied, 0644) its stderr goes to, or NULL */
	int fd;           /* when path is NULL: a descriptor its stderr goes to, -1: ours */
	int both;         /* stdout too goes there */
};

/* Starts argv as sd__proc_spawn does, set up as io says: its pid, or a negative errno. A
 * program that cannot be started says so on its stderr and exits 127. */
pid_t sd__proc_exec(char *const argv[], const struct sd__proc_io *io);

/* sd__proc_exec, then waits: 0 with its wait status, or a negative errno. With limit_s > 0 it
 * is stopped (SIGKILL to its group) after that many seconds, and 1 returned. */
int sd__proc_run(char *const argv[], const struct sd__proc_io *io, int limit_s, int *status);

/* A wait status as a shell reports it: the exit status, or 128 + the signal. */
int sd__proc_code(int status);

/* sd__proc_run without a limit: the child's sd__proc_code, or -1 when it could not be run. */
int sd__proc_run_code(char *const argv[], const struct sd__proc_io *io);

/* The sanitizer report marks, one list for every reader (wrap --run, repro, run --inproc,
 * the Python fixture through `sockdrill list --sanitizer-marks`): mark i, NULL past the
 * last. */
const char *sd__sanitizer_mark(int i);

/* The first mark of the list (in its order) that a line of the file holds, or NULL. */
const char *sd__sanitizer_report(const char *path);

/* The finding a target's stderr (in errpath) tells, on one line into out: sockdrill's own
 * first (0), then a sanitizer's in the list's order (1..), then libFuzzer's (last); -1 and ""
 * when none. */
int sd__finding_in(const char *errpath, char *out, size_t size);

#endif
