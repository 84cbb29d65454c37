/* sockdrill LD_PRELOAD route: what it tells: its fault log (a descriptor it owns) and counts. */
#include "layer.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "preload_out.h"
#include "preload_stats.h"

/*
 * The log. Programs close every descriptor they did not open (dnsmasq, sshd, closefrom(3)),
 * and a number we still wrote to after that would be someone else's: a netlink socket, a
 * client's TCP stream. So the log is a descriptor of its own, high and close-on-exec; the
 * layer's close, closefrom, close_range, dup2 and dup3 leave it alone (sock.c); and before each
 * line its identity (st_dev, st_ino) is checked, so that a number taken behind the layer's back
 * (a raw system call) is given up, never written: the path is opened again (O_APPEND, no
 * O_CREAT) and used only if it is the same file. A line that cannot be written to the log
 * itself (a sandbox refusing fstat or open) is dropped and counted. One write() per line, so
 * lines from forked workers never interleave (O_APPEND).
 */
static pthread_mutex_t log_m = PTHREAD_MUTEX_INITIALIZER; /* guards the log's fd and state */
static int log_fd = -1;     /* read without the lock by sd__route_own_fd */
static char log_path[4096]; /* "" without a log */
static dev_t log_dev;
static ino_t log_ino;
static uint64_t log_max;     /* bytes; 0: no cap */
static uint64_t log_written; /* this process's bytes, when there is no shared table */
static int log_capped;       /* this process saw the cap reached */

static struct sd_stats_file *stats;
static struct sd_stats_slot *slot;
static pid_t self;

/* The lowest number the log may take: high, so a program's own descriptors (and select's
 * FD_SETSIZE) stay below it, but not so high that the kernel's table grows large for it. */
static int high_base(void)
{
	struct rlimit rl;
	rlim_t lim = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		lim = rl.rlim_cur;
	if (lim > 4096)
		lim = 4096;
	return lim > 128 ? (int)lim - 64 : lim > 16 ? (int)lim / 2 : 3;
}

/* fd moved to a high close-on-exec number (fd is closed), or -1 (fd is closed). */
static int move_high(int fd)
{
	int nfd = SD__LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, high_base());
	if (nfd < 0) /* every high number taken: the one we have is still ours */
		nfd = SD__LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
	SD__LIBC(close)(fd);
	return nfd;
}

/* Whether log_fd still names the log; forgets it (without closing: the number is the
 * program's now) when it was closed or reused behind our back. A sandbox that refuses fstat
 * leaves it as it was. log_m held. */
static void recheck(void)
{
	struct stat st;
	int r = log_fd >= 0 ? fstat(log_fd, &st) : 0;
	if (log_fd >= 0 && ((r < 0 && errno == EBADF) ||
			    (r == 0 && (st.st_dev != log_dev || st.st_ino != log_ino))))
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);
}

int sd__route_own_fd(unsigned lo, unsigned hi)
{
	int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
	if (fd < 0 || (unsigned)fd < lo || (unsigned)fd > hi)
		return -1;
	int saved = errno;
	pthread_mutex_lock(&log_m);
	recheck();
	fd = log_fd;
	pthread_mutex_unlock(&log_m);
	errno = saved;
	return fd >= 0 && (unsigned)fd >= lo && (unsigned)fd <= hi ? fd : -1;
}

void sd__route_own_move(int fd)
{
	if (fd < 0 || sd__route_own_fd((unsigned)fd, (unsigned)fd) != fd)
		return;
	pthread_mutex_lock(&log_m);
	if (fd == log_fd) {
		/* lowest free at or above the base: not fd, which is still open */
		int nfd = SD__LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, high_base());
		SD__LIBC(close)(fd);
		__atomic_store_n(&log_fd, nfd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&log_m);
}

/* Opens the log at path; 0, or -1 (no log: lines are dropped and counted). */
static int log_open(const char *path, int create)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (!create && (st.st_dev != log_dev || st.st_ino != log_ino))) {
		SD__LIBC(close)(fd); /* another file by that name (a chroot): not our log */
		return -1;
	}
	log_dev = st.st_dev, log_ino = st.st_ino;
	__atomic_store_n(&log_fd, move_high(fd), __ATOMIC_RELEASE);
	return log_fd < 0 ? -1 : 0;
}

/* The log descriptor, checked to be the log; -1 when there is none to write to. log_m held. */
static int log_checked(void)
{
	struct stat st;
	if (log_fd >= 0) {
		int r = fstat(log_fd, &st);
		if (r == 0 && st.st_dev == log_dev && st.st_ino == log_ino)
			return log_fd;
		if (r < 0 && errno != EBADF)
			return -1; /* not allowed to look (a sandbox): not allowed to write */
		/* closed or reused behind our back: the number is not ours to close */
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);
	}
	if (!log_path[0] || log_open(log_path, 0) < 0)
		return -1;
	return log_fd;
}

/* Whether a line of n bytes still fits under the cap; counts it when it does. */
static int log_room(size_t n)
{
	if (!log_max)
		return 1;
	if (stats) {
		uint64_t before = __atomic_fetch_add(&stats->log_bytes, n, __ATOMIC_RELAXED);
		if (before + n <= log_max)
			return 1;
		__atomic_store_n(&stats->capped, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (log_written + n > log_max)
		return 0;
	log_written += n;
	return 1;
}

/* The wrapper's line writer (sd_fault_hooks.line), called under the wrapper's lock. */
static void log_line(void *ctx, const char *line, size_t n)
{
	(void)ctx;
	int saved = errno;
	pthread_mutex_lock(&log_m);
	if (!log_path[0]) {
		pthread_mutex_unlock(&log_m);
		return;
	}
	int fd = log_capped ? -1 : log_checked();
	if (fd >= 0 && !log_room(n)) {
		if (!stats && !log_capped) {
			/* no wrap to write the last line: the process that reached the cap does */
			char end[160];
			int k = snprintf(end, sizeof end,
					 "{\"pid\":%ld,\"truncated\":true,\"log_max\":%llu}\n",
					 (long)self, (unsigned long long)log_max);
			if (k > 0)
				(void)!SD__LIBC(write)(fd, end, (size_t)k);
		}
		log_capped = 1;
		fd = -1;
	}
	if (fd < 0) {
		if (slot)
			__atomic_fetch_add(log_capped ? &slot->capped : &slot->unlogged, 1,
					   __ATOMIC_RELAXED);
	} else if (SD__LIBC(write)(fd, line, n) != (ssize_t)n && slot) {
		__atomic_fetch_add(&slot->unlogged, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&log_m);
	errno = saved;
}

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The kind's index in the shared table, entering it the first time; -1 when full. */
static int kind_index(const char *name)
{
	for (int i = 0; i < SD_STATS_KINDS; i++) {
		struct sd_stats_kind *k = &stats->kinds[i];
		uint32_t st = __atomic_load_n(&k->state, __ATOMIC_ACQUIRE), free_ = 0;
		if (st == 0 && __atomic_compare_exchange_n(&k->state, &free_, 1, 0,
							   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			snprintf(k->name, sizeof k->name, "%s", name);
			__atomic_store_n(&k->state, 2, __ATOMIC_RELEASE);
			return i;
		}
		/* another process is writing this one: a few spins, then the name is there */
		for (int spin = 0;
		     spin < 1000000 && __atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == 1; spin++)
			spin_pause();
		if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == 2 &&
		    !strncmp(k->name, name, sizeof k->name))
			return i;
	}
	return -1;
}

/* The kinds the spec aims at one connection (@conn=), for the counts of its calls. */
static struct {
	uint64_t conn;
	int k;
} named[SD_FK_KINDS];
static int nnamed;

/* *p = max(*p, v), for counts other processes' threads may raise too. */
static void raise_to(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* The wrapper's per-decision hook (sd_fault_hooks.seen): atomic adds, no system call. */
static void seen(void *ctx, enum sd_fault_op op, int blocking, const struct sd_fault_decision *d)
{
	(void)ctx;
	if (!slot || (unsigned)op >= SD_STATS_OPS)
		return;
	__atomic_fetch_add(&slot->calls[op][blocking != 0], 1, __ATOMIC_RELAXED);
	if (d->conn) {
		unsigned role = (unsigned)(d->conn >> 56);
		if (role < SD_STATS_ROLES)
			raise_to(&slot->conn_max[role], d->conn & ((1ull << 56) - 1));
		raise_to(&slot->call_max, d->call);
		for (int i = 0; i < nnamed; i++)
			if (named[i].conn == d->conn)
				raise_to(&slot->named_calls[named[i].k], d->call);
	}
	if (!d->fault)
		return;
	int k = kind_index(d->fault);
	if (k >= 0)
		__atomic_fetch_add(&slot->faults[k][op], 1, __ATOMIC_RELAXED);
}

/* sd_fault_hooks.spared: the same rules as `seen`. */
static void spared(void *ctx, enum sd_fault_op op)
{
	(void)ctx;
	if (slot && (unsigned)op < SD_STATS_OPS)
		__atomic_fetch_add(&slot->spared[op], 1, __ATOMIC_RELAXED);
}

/* This process's slot (claimed by pid), or NULL when the table is full. A program that execs
 * keeps its pid, and its new image the slot. */
static struct sd_stats_slot *claim(pid_t pid, pid_t ppid)
{
	for (int i = 0; stats && i < SD_STATS_SLOTS; i++)
		if (__atomic_load_n(&stats->slots[i].pid, __ATOMIC_ACQUIRE) == (int32_t)pid)
			return &stats->slots[i];
	for (int i = 0; stats && i < SD_STATS_SLOTS; i++) {
		int32_t none = 0;
		if (__atomic_compare_exchange_n(&stats->slots[i].pid, &none, (int32_t)pid, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			stats->slots[i].ppid = ppid;
			return &stats->slots[i];
		}
	}
	if (stats)
		__atomic_fetch_add(&stats->lost, 1, __ATOMIC_RELAXED);
	return NULL;
}

void sd__preload_out_init(struct sd_net *faulty, const struct sd_fault_spec *spec,
			  const char *logpath, const char *max, const char *statspath)
{
	self = getpid();
	for (int k = 0; k < SD_FK_KINDS && k < SD_STATS_FK; k++)
		if (spec->target[k].conn)
			named[nnamed].conn = spec->target[k].conn, named[nnamed++].k = k;
	if (statspath && *statspath) {
		int fd = open(statspath, O_RDWR | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof *stats) {
			void *p = mmap(NULL, sizeof *stats, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				       0);
			if (p != MAP_FAILED && ((struct sd_stats_file *)p)->magic == SD_STATS_MAGIC)
				stats = p;
			else if (p != MAP_FAILED)
				munmap(p, sizeof *stats);
		}
		if (fd >= 0)
			SD__LIBC(close)(fd);
		slot = claim(self, getppid());
	}
	log_max = max && *max ? strtoull(max, NULL, 10) : 0;
	if (logpath && *logpath && strlen(logpath) < sizeof log_path && log_open(logpath, 1) == 0)
		snprintf(log_path, sizeof log_path, "%s", logpath);
	struct sd_fault_hooks h = {
		.seen = stats ? seen : NULL,
		.line = log_path[0] ? log_line : NULL,
		.pid = self,
		.spared = stats ? spared : NULL,
	};
	sd_fault_set_hooks(faulty, &h);
}

void sd__preload_out_fork_prepare(void) { pthread_mutex_lock(&log_m); }

void sd__preload_out_fork_parent(void) { pthread_mutex_unlock(&log_m); }

/* In the child, with the wrapper's lock held (preload.c): its own pid, its own slot. */
void sd__preload_out_fork_child(struct sd_net *faulty)
{
	pid_t parent = self;
	self = getpid();
	sd_fault_set_pid(faulty, self);
	if (stats)
		slot = claim(self, parent);
	pthread_mutex_unlock(&log_m);
}
