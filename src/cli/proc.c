/* sockdrill CLI: child processes in their own process groups, signals forwarded, bounded stops. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define POLL_MS 20

static const int stop_signals[] = {SIGINT, SIGTERM};
#define NSIGNALS (sizeof stop_signals / sizeof stop_signals[0])

static atomic_int caught;                /* the first stop signal received, 0 before */
static atomic_int groups[SD__PROC_MAX];  /* running children's process groups; 0: free */
static int handled[NSIGNALS], installed; /* which signals have our handler */

/* Async-signal-safe: atomics and kill(2) only. */
static void on_stop_signal(int sig)
{
	int saved = errno, none = 0;
	atomic_compare_exchange_strong(&caught, &none, sig);
	for (int i = 0; i < SD__PROC_MAX; i++) {
		int g = atomic_load(&groups[i]);
		if (g > 0)
			kill(-g, sig);
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

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
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
		sleep_ms(POLL_MS);
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
		sleep_ms(POLL_MS);
	}
}

int sd__proc_caught(void) { return atomic_load(&caught); }

int sd__proc_exit_status(void) { return 128 + atomic_load(&caught); }
