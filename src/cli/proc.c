/* sockdrill CLI: child processes in their own process groups, signals forwarded, bounded stops. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define POLL_MS 20

static const int stop_signals[] = {SIGINT, SIGTERM};
#define NSIGNALS (sizeof stop_signals / sizeof stop_signals[0])

static atomic_int caught;                 /* the first stop signal received, 0 before */
static atomic_int groups[SD__PROC_MAX];   /* running children's process groups; 0: free */
static atomic_int followed[SD__PROC_MAX]; /* a daemon's processes, our children: by pid */
static int handled[NSIGNALS], installed;  /* which signals have our handler */

/* Async-signal-safe: atomics and kill(2) only. */
static void on_stop_signal(int sig)
{
	int saved = errno, none = 0;
	atomic_compare_exchange_strong(&caught, &none, sig);
	for (int i = 0; i < SD__PROC_MAX; i++) {
		int g = atomic_load(&groups[i]);
		if (g > 0)
			kill(-g, sig);
		if ((g = atomic_load(&followed[i])) > 0)
			kill(g, sig);
	}
	errno = saved;
}

/* SA_RESTART: the rest of the CLI (stdio, scenario runs) never sees EINTR; waits here poll. A
 * signal ignored when we started (a background job of a script) stays ignored. */
void sd__proc_catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART}, old;
	if (installed)
		return;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIGNALS; i++)
		if (sigaction(stop_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			handled[i] = sigaction(stop_signals[i], &sa, NULL) == 0;
	installed = 1;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < SD__PROC_MAX; i++) {
		int g = pid;
		if (atomic_compare_exchange_strong(&groups[i], &g, 0))
			return;
	}
}

void sd__proc_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int sd__proc_self_exe(char *out, size_t size)
{
	ssize_t n = size ? readlink("/proc/self/exe", out, size - 1) : -1;
	if (n <= 0)
		return -1;
	out[n] = 0;
	return 0;
}

const char *sd__proc_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");
	return tmp && *tmp ? tmp : "/tmp";
}

int sd__proc_tmpfile(const char *stem, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/sockdrill-%s-XXXXXX", sd__proc_tmpdir(), stem);
	if (n < 0 || (size_t)n >= size) {
		if (size)
			path[0] = 0;
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		path[0] = 0;
		return -e;
	}
	return fd;
}

pid_t sd__proc_spawn(void)
{
	sigset_t block, old;
	int slot = -1;
	sd__proc_catch_signals();
	/* Blocked from before fork until the pid is in the table: a signal in between would
	 * miss the new child. */
	sigemptyset(&block);
	for (size_t i = 0; i < NSIGNALS; i++)
		sigaddset(&block, stop_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (int i = 0; i < SD__PROC_MAX && slot < 0; i++)
		if (!atomic_load(&groups[i]))
			slot = i;
	if (atomic_load(&caught) || slot < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return atomic_load(&caught) ? -EINTR : -EAGAIN;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		for (size_t i = 0; i < NSIGNALS; i++)
			if (handled[i])
				signal(stop_signals[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	int e = errno;
	if (pid > 0) {
		setpgid(pid, pid); /* also here: whichever of the two runs first makes the group */
		atomic_store(&groups[slot], pid);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid > 0 ? pid : -e;
}

/* 1 when the child has ended, left unreaped (WNOWAIT): while the leader is a zombie its pid
 * cannot be reused, so its group id still names only what we started. 0 running, or -errno. */
static int ended(pid_t pid)
{
	siginfo_t si = {0};
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		if (errno != EINTR)
			return -errno;
	return si.si_pid == pid;
}

/* Reaps the ended child. Once we are stopping (killed, or a stop signal came), whatever is
 * left of its group goes too: a helper that ignored the signal must not outlive us. */
static void reap(pid_t pid, int *status, int sweep)
{
	forget(pid); /* first: once reaped, the pid may name someone else's process */
	if (sweep || atomic_load(&caught))
		kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

int sd__proc_poll(pid_t pid, int *status)
{
	int r = ended(pid);
	if (r < 0)
		forget(pid);
	if (r == 1)
		reap(pid, status, 0);
	return r;
}

int sd__proc_stop(pid_t pid, int sig, int *status)
{
	int killed = 0, r;
	if (sig)
		kill(-pid, sig);
	for (long ms = 0; (r = ended(pid)) == 0; ms += POLL_MS) {
		if (ms >= SD__PROC_GRACE_MS && !killed) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
		sd__proc_sleep_ms(POLL_MS);
	}
	if (r < 0) {
		forget(pid);
		return r;
	}
	reap(pid, status, 1);
	return killed;
}

int sd__proc_wait(pid_t pid, int *status)
{
	/* Polled rather than blocking, so a stop signal turns it into a bounded wait whatever
	 * SA_RESTART does to waitpid. */
	for (;;) {
		if (atomic_load(&caught)) { /* the handler passed the signal on already */
			int r = sd__proc_stop(pid, 0, status);
			return r < 0 ? r : 0;
		}
		int r = sd__proc_poll(pid, status);
		if (r != 0)
			return r < 0 ? r : 0;
		sd__proc_sleep_ms(POLL_MS);
	}
}

int sd__proc_caught(void) { return atomic_load(&caught); }

int sd__proc_exit_status(void) { return 128 + atomic_load(&caught); }

/* ---- descendants: a server that daemonizes (wrap --run) ---------------------------------- */

int sd__proc_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0; }

/* Field `k` (2: state as a char, 3: ppid) of /proc/PID/stat; -1 when gone or unreadable. */
static long stat_field(pid_t pid, int k)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	if (k == 2)
		return (unsigned char)p[2];
	return strtol(p + 4, NULL, 10);
}

static pid_t failed_pid; /* the last child sd__proc_children reaped that failed */
static int failed_status;

pid_t sd__proc_children_failed(int *status)
{
	*status = failed_status;
	return failed_pid;
}

static void unfollow(pid_t pid)
{
	for (int i = 0; i < SD__PROC_MAX; i++) {
		int g = pid;
		if (atomic_compare_exchange_strong(&followed[i], &g, 0))
			return;
	}
}

int sd__proc_children(pid_t *out, int max, pid_t keep)
{
	DIR *d = opendir("/proc");
	pid_t self = getpid();
	int n = 0;
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || stat_field((pid_t)pid, 3) != self)
			continue;
		int tracked = 0;
		for (int i = 0; i < SD__PROC_MAX && !tracked; i++)
			tracked = atomic_load(&groups[i]) == pid;
		if (tracked) /* sd__proc_poll and sd__proc_stop reap those */
			continue;
		if (pid != keep && stat_field((pid_t)pid, 2) == 'Z') {
			int st = 0;
			unfollow((pid_t)pid);
			if (waitpid((pid_t)pid, &st, WNOHANG) == pid &&
			    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
				failed_pid = (pid_t)pid, failed_status = st;
			continue;
		}
		if (n < max)
			out[n] = (pid_t)pid;
		n++;
	}
	closedir(d);
	return n;
}

int sd__proc_is_descendant(pid_t pid)
{
	pid_t self = getpid();
	/* bounded: a chain of parents is short, and a loop in it impossible */
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		long pp = stat_field(pid, 3);
		if (pp == self)
			return 1;
		if (pp <= 0)
			return 0;
		pid = (pid_t)pp;
	}
	return 0;
}

int sd__proc_follow(pid_t pid)
{
	for (int i = 0; i < SD__PROC_MAX; i++) {
		int g = atomic_load(&followed[i]);
		if (g == pid)
			return 0;
	}
	for (int i = 0; i < SD__PROC_MAX; i++) {
		int none = 0;
		if (atomic_compare_exchange_strong(&followed[i], &none, pid)) {
			int sig = atomic_load(&caught);
			if (sig) /* it came before we knew this one */
				kill(pid, sig);
			return 0;
		}
	}
	return -EAGAIN;
}

int sd__proc_stop_children(int sig, pid_t server, int *status, int *alone)
{
	pid_t kids[SD__PROC_MAX], sent[4 * SD__PROC_MAX];
	int nsent = 0, killed = 0;
	if (alone)
		*alone = server > 0 && ended(server) == 1;
	/* A child may fork more and die, reparenting them to us: each round looks again. After
	 * the grace, SIGKILL to all; a bound keeps a fork loop from holding us for ever. */
	for (long ms = 0; ms <= 2 * SD__PROC_GRACE_MS; ms += POLL_MS) {
		if (server > 0 && ended(server) == 1) {
			unfollow(server);
			while (waitpid(server, status, 0) < 0 && errno == EINTR)
				;
			server = 0;
		}
		int n = sd__proc_children(kids, SD__PROC_MAX, server);
		if (n <= 0)
			break;
		killed |= ms >= SD__PROC_GRACE_MS;
		for (int i = 0; i < n && i < SD__PROC_MAX; i++) {
			int known = 0;
			for (int j = 0; j < nsent && !known; j++)
				known = sent[j] == kids[i];
			if (killed || !known)
				kill(kids[i], killed ? SIGKILL : sig);
			if (!known && nsent < (int)(sizeof sent / sizeof sent[0]))
				sent[nsent++] = kids[i];
		}
		sd__proc_sleep_ms(POLL_MS);
	}
	return killed;
}

/* ---- one child run: the exec every subcommand shares --------------------------------- */

/* In the child: io's output descriptor onto stderr (and stdout); one that is already there
 * only loses its close-on-exec (we were started without a stderr, say). */
static void redirect(int fd, int both)
{
	for (int target = both ? 1 : 2; target <= 2; target++)
		if (fd == target)
			fcntl(fd, F_SETFD, 0);
		else
			dup2(fd, target);
}

pid_t sd__proc_exec(char *const argv[], const struct sd__proc_io *io)
{
	pid_t pid = sd__proc_spawn();
	if (pid != 0)
		return pid;
	const char *file = io && io->file ? io->file : argv[0];
	for (int i = 0; io && io->env && io->env[i]; i++)
		putenv((char *)io->env[i]);
	if (io && io->path) { /* opened in the child: a file nobody else holds open */
		int fd = open(io->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			redirect(fd, io->both);
	} else if (io && io->fd >= 0) {
		redirect(io->fd, io->both);
	}
	if (io && io->cwd && chdir(io->cwd) < 0)
		_exit(127);
	execvp(file, argv);
	fprintf(stderr, "sockdrill: cannot run %s: %s\n", file, strerror(errno));
	_exit(127);
}

int sd__proc_run(char *const argv[], const struct sd__proc_io *io, int limit_s, int *status)
{
	pid_t pid = sd__proc_exec(argv, io);
	if (pid < 0)
		return (int)pid;
	for (long waited = 0; limit_s > 0; waited += 50) {
		int rc = sd__proc_poll(pid, status);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		if (sd__proc_caught() || waited >= (long)limit_s * 1000)
			break;
		sd__proc_sleep_ms(50);
	}
	if (limit_s > 0 && !sd__proc_caught()) {
		sd__proc_stop(pid, SIGKILL, status);
		return 1;
	}
	return sd__proc_wait(pid, status);
}

int sd__proc_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int sd__proc_run_code(char *const argv[], const struct sd__proc_io *io)
{
	int status = 0, rc = sd__proc_run(argv, io, 0, &status);
	return rc < 0 ? -1 : sd__proc_code(status);
}

/* ---- sanitizer reports: the one list of the lines that start one --------------------- */

/* What each sanitizer prints first, as the runtimes word it: ASan, LSan and allocation
 * failures as ERROR, TSan and MSan reports as WARNING (their fatal errors as ERROR), UBSan
 * after the source position. A report's words start at the sanitizer's name (skip), or with
 * the line itself (-1: UBSan's position is its subject). */
static const struct {
	const char *mark;
	int skip;
} marks[] = {
	{"ERROR: AddressSanitizer", 7}, {"runtime error:", -1},
	{"ERROR: LeakSanitizer", 7},    {"WARNING: ThreadSanitizer", 9},
	{"ERROR: ThreadSanitizer", 7},  {"WARNING: MemorySanitizer", 9},
	{"ERROR: MemorySanitizer", 7},
};
#define NMARKS ((int)(sizeof marks / sizeof marks[0]))

const char *sd__sanitizer_mark(int i) { return i >= 0 && i < NMARKS ? marks[i].mark : NULL; }

const char *sd__sanitizer_report(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int best = NMARKS;
	while (f && best && getline(&line, &cap, f) > 0)
		for (int i = 0; i < best; i++)
			if (strstr(line, marks[i].mark))
				best = i;
	free(line);
	if (f)
		fclose(f);
	return best < NMARKS ? marks[best].mark : NULL;
}

/* The first line of `from` into out, without its newline. */
static void take(const char *from, char *out, size_t size)
{
	size_t n = strcspn(from, "\n");
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), from);
}

/* Where in `line` mark k (0 sockdrill's, 1..NMARKS a sanitizer's, NMARKS+1 libFuzzer's)
 * stands, and from where its words run into *from; NULL when it is not there. */
static const char *finding_mark(const char *line, int k, const char **from)
{
	static const char own[] = "sockdrill finding: ", lf[] = "ERROR: libFuzzer: ";
	const char *m;
	if (k == 0)
		return (m = strstr(line, own)) ? (*from = m + strlen(own), m) : NULL;
	if (k == NMARKS + 1)
		return (m = strstr(line, lf)) ? (*from = m + 7, m) : NULL;
	if (!(m = strstr(line, marks[k - 1].mark)))
		return NULL;
	*from = marks[k - 1].skip < 0 ? line : m + marks[k - 1].skip;
	return m;
}

int sd__finding_in(const char *errpath, char *out, size_t size)
{
	FILE *f = fopen(errpath, "r");
	char *line = NULL;
	size_t cap = 0;
	int best = NMARKS + 2;
	out[0] = 0;
	while (f && best && getline(&line, &cap, f) > 0)
		for (int k = 0; k < best; k++) {
			const char *from;
			if (!finding_mark(line, k, &from))
				continue;
			take(from, out, size);
			/* a sanitizer's line up to its address */
			char *addr = k > 0 && k <= NMARKS ? strstr(out, " on address") : NULL;
			if (addr)
				*addr = 0;
			best = k;
			break;
		}
	free(line);
	if (f)
		fclose(f);
	return out[0] ? best : -1;
}
