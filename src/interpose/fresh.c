/* sockdrill in-process layer: a fresh process for every input. A server's main runs once per
 * input in one long-lived fuzzer process; what a real process would get back when it ends,
 * the run gets back here:
 *  - its globals: when the server's objects were archived by ci/real-servers, their writable
 *    data lies in the sections sd_srv_data and sd_srv_bss, copied at the first run and put
 *    back before every later one (as the loader would lay them out);
 *  - its descriptors: every one opened during the run is closed after it, and the standard
 *    ones are put back if the server closed or replaced them (dup2 of a log onto stderr);
 *  - its signal dispositions and timers: sigaction, signal and setitimer/alarm from an actor
 *    are kept for the run, never installed (a handler of the server's in the fuzzer process
 *    would catch the engine's own SIGALRM and SIGINT), and forgotten after it; its atexit
 *    handlers are not registered;
 *  - its environment: `environ` and the entries of the array it pointed to, as at the start
 *    (nginx points environ at an array of its own, which heap.c then gives back);
 *  - its memory and streams, where heap.c is linked in (ci/real-servers). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sockdrill/sim.h>

#include "../util/libc.h"
#include "inproc.h"
#include "fresh.h"
#include "threads.h"

/* Made by the linker when some object has such a section (ci/real-servers' archive step);
 * otherwise NULL. */
extern char __start_sd_srv_data[] __attribute__((weak));
extern char __stop_sd_srv_data[] __attribute__((weak));
extern char __start_sd_srv_bss[] __attribute__((weak));
extern char __stop_sd_srv_bss[] __attribute__((weak));

/* The copy crosses AddressSanitizer's red zones between globals: bytes nobody reads, whose
 * shadow stays as it is. */
__attribute__((no_sanitize("address", "hwaddress"))) static void
copy_raw(char *to, const char *from, size_t n)
{
	size_t i = 0;
	if (((uintptr_t)to | (uintptr_t)from) % sizeof(long) == 0)
		for (; i + sizeof(long) <= n; i += sizeof(long))
			*(volatile long *)(to + i) = *(const volatile long *)(from + i);
	for (; i < n; i++)
		*(volatile char *)(to + i) = *(const volatile char *)(from + i);
}

struct region {
	char *start;
	size_t len;
	char *saved;
};

static struct region regions[2];

static void region_take(struct region *r, char *start, char *stop)
{
	if (!start || !stop || stop <= start || r->saved)
		return;
	r->start = start;
	r->len = (size_t)(stop - start);
	r->saved = malloc(r->len);
	if (!r->saved)
		abort();
	copy_raw(r->saved, start, r->len);
}

int sd__fresh_globals(void) { return __start_sd_srv_data != NULL || __start_sd_srv_bss != NULL; }

/* LeakSanitizer's switch: a whole server is abandoned where it waits at the end of an input,
 * its memory still its own (a process would end there, not free it): not a leak. Programs
 * without archived server globals keep leak detection. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return sd__fresh_globals(); }

/* ---- descriptors ------------------------------------------------------------------------ */

static unsigned char *open_before; /* one byte per descriptor number, 1: open before the run */
static int open_before_n;
static int std_saved[3] = {-1, -1, -1};
static struct stat std_stat[3];

/* Calls fn(fd) for every open descriptor of the process but the listing's own. */
static void each_open(void (*fn)(int fd))
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd == self || fd < 0 || fd > INT32_MAX)
			continue;
		fn((int)fd);
	}
	closedir(d);
}

static void mark_open(int fd)
{
	if (fd >= open_before_n) {
		int n = open_before_n ? open_before_n : 64;
		while (n <= fd)
			n *= 2;
		unsigned char *p = realloc(open_before, (size_t)n);
		if (!p)
			abort();
		memset(p + open_before_n, 0, (size_t)(n - open_before_n));
		open_before = p, open_before_n = n;
	}
	open_before[fd] = 1;
}

static int to_close[256];
static int nclose;

static void note_new(int fd)
{
	if (fd > 2 && (fd >= open_before_n || !open_before[fd]) &&
	    nclose < (int)(sizeof to_close / sizeof *to_close))
		to_close[nclose++] = fd;
}

static int same_file(int fd, const struct stat *s)
{
	struct stat now;
	return fstat(fd, &now) == 0 && now.st_dev == s->st_dev && now.st_ino == s->st_ino &&
	       now.st_rdev == s->st_rdev;
}

/* ---- signals ---------------------------------------------------------------------------- */

static struct {
	int set;
	struct sigaction act;
} sig_kept[NSIG];
static struct itimerval timer_kept[3];

static int in_run_actor(void)
{
	struct sd_net sim;
	return sd_inproc_net() && sd__in_actor(&sim) && !sd__in_signal_handler();
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!in_run_actor())
		return SD__LIBC_FN(sigaction)(sig, act, old);
	if (sig < 1 || sig >= NSIG || (act && (sig == SIGKILL || sig == SIGSTOP))) {
		errno = EINVAL;
		return -1;
	}
	if (old) {
		if (sig_kept[sig].set)
			*old = sig_kept[sig].act;
		else if (SD__LIBC_FN(sigaction)(sig, NULL, old) < 0)
			return -1;
	}
	if (act) {
		sig_kept[sig].set = 1;
		sig_kept[sig].act = *act;
	}
	return 0;
}

static sighandler_t kept_handler(int sig, sighandler_t h)
{
	struct sigaction act = {.sa_handler = h, .sa_flags = SA_RESTART}, old;
	sigemptyset(&act.sa_mask);
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

sighandler_t signal(int sig, sighandler_t h)
{
	if (!in_run_actor())
		return SD__LIBC_FN(signal)(sig, h);
	return kept_handler(sig, h);
}

sighandler_t bsd_signal(int sig, sighandler_t h)
{
	if (!in_run_actor())
		return SD__LIBC_FN(bsd_signal)(sig, h);
	return kept_handler(sig, h);
}

int setitimer(__itimer_which_t which, const struct itimerval *nv, struct itimerval *ov)
{
	if (!in_run_actor())
		return SD__LIBC_FN(setitimer)(which, nv, ov);
	if ((int)which < 0 || (int)which > 2) {
		errno = EINVAL;
		return -1;
	}
	if (ov)
		*ov = timer_kept[which];
	if (nv)
		timer_kept[which] = *nv;
	return 0;
}

int getitimer(__itimer_which_t which, struct itimerval *cur)
{
	if (!in_run_actor())
		return SD__LIBC_FN(getitimer)(which, cur);
	if ((int)which < 0 || (int)which > 2) {
		errno = EINVAL;
		return -1;
	}
	*cur = timer_kept[which];
	return 0;
}

unsigned alarm(unsigned secs)
{
	if (!in_run_actor())
		return SD__LIBC_FN(alarm)(secs);
	unsigned left = (unsigned)timer_kept[ITIMER_REAL].it_value.tv_sec;
	timer_kept[ITIMER_REAL] = (struct itimerval){.it_value = {.tv_sec = secs}};
	return left;
}

/* atexit from the server registers nothing: its process ends without running them (as
 * server_exit in proc.c does), and the fuzzer's own exit must not call into a server whose
 * globals were put back since. */
extern void *__dso_handle __attribute__((weak));
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

int atexit(void (*fn)(void))
{
	if (in_run_actor())
		return 0;
	return __cxa_atexit((void (*)(void *))(void *)fn, NULL, __dso_handle);
}

/* ---- the environment ------------------------------------------------------------------ */

extern char **environ;
static char **env_start; /* environ when the run began */
static char **env_copy;  /* its entries then, NULL-terminated */
static char **env_ours;  /* an array of ours environ was put back to, if any */
static size_t env_n;

static void env_note(void)
{
	env_start = environ;
	env_n = 0;
	while (environ && environ[env_n])
		env_n++;
	char **c = realloc(env_copy, (env_n + 1) * sizeof *c);
	if (!c)
		abort();
	env_copy = c;
	if (environ)
		memcpy(env_copy, environ, (env_n + 1) * sizeof *c);
}

/* The same array, its entries changed in place (putenv, unsetenv): they are put back. Another
 * array: environ gets a copy of ours, as the one it had may have been freed or reallocated
 * (glibc's setenv reallocates the array it made). */
static void env_put_back(void)
{
	if (!env_start)
		return;
	size_t sz = (env_n + 1) * sizeof *env_copy;
	if (environ == env_start) {
		if (memcmp(environ, env_copy, sz) != 0)
			memcpy(environ, env_copy, sz);
		return;
	}
	char **mine = malloc(sz), **old = env_ours;
	if (!mine)
		abort();
	memcpy(mine, env_copy, sz);
	environ = env_ours = mine;
	free(old); /* the copy environ had at the start of this run, if it was ours */
}

/* ---- the run ---------------------------------------------------------------------------- */

void sd__fresh_begin(void)
{
	if (sd__fresh_globals()) {
		if (!regions[0].saved && !regions[1].saved) {
			region_take(&regions[0], __start_sd_srv_data, __stop_sd_srv_data);
			region_take(&regions[1], __start_sd_srv_bss, __stop_sd_srv_bss);
		} else {
			for (int i = 0; i < 2; i++)
				if (regions[i].saved)
					copy_raw(regions[i].start, regions[i].saved,
						 regions[i].len);
		}
	}
	if (open_before)
		memset(open_before, 0, (size_t)open_before_n);
	for (int i = 0; i < 3; i++) {
		if (std_saved[i] < 0 && fcntl(i, F_GETFD) >= 0 && fstat(i, &std_stat[i]) == 0)
			std_saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 100);
	}
	each_open(mark_open);
	memset(sig_kept, 0, sizeof sig_kept);
	memset(timer_kept, 0, sizeof timer_kept);
	env_note();
	if (sd__heap_begin)
		sd__heap_begin();
}

void sd__fresh_end(void)
{
	if (sd__heap_end_streams)
		sd__heap_end_streams(); /* before their descriptors go */
	do {                            /* in rounds of at most 256 */
		nclose = 0;
		each_open(note_new);
		for (int i = 0; i < nclose; i++)
			close(to_close[i]);
	} while (nclose == (int)(sizeof to_close / sizeof *to_close));
	for (int i = 0; i < 3; i++)
		if (std_saved[i] >= 0 && !same_file(i, &std_stat[i]))
			dup2(std_saved[i], i);
	env_put_back(); /* before the heap goes: environ may point into it */
	if (sd__heap_end)
		sd__heap_end();
	memset(sig_kept, 0, sizeof sig_kept);
	memset(timer_kept, 0, sizeof timer_kept);
}
