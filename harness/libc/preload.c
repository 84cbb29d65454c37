/* sockdrill interposition layer: the LD_PRELOAD route, kernel sockets through the fault wrapper. */
#include "layer.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <sockdrill/fault.h>
#include <sockdrill/real.h>

#include "record.h"

/*
 * libsockdrill_preload.so (`sockdrill wrap`): the TCP sockets an unmodified program creates
 * itself (socket, accept) go through the fault wrapper (src/wrap/fault.c) to a `real`
 * instance, configured by SOCKDRILL_FAULTS, SOCKDRILL_SEED and SOCKDRILL_LOG
 * (docs/faults.md). A program descriptor is the kernel socket itself: what the layer does not
 * model goes to the C library on it. Files, pipes, UDP, sockets the program did not create,
 * and everything when no fault is configured (and no recording asked, SOCKDRILL_RECORD:
 * record.c), go to the C library untouched: the table stays empty and each call costs one
 * load.
 *
 * Safe in any program: the C library is reached through src/libc.c, which works before this
 * library's constructor ran (another library's constructor may call read first); tracking a
 * socket allocates nothing (handles live in chunks mapped beside the table); the wrapper's
 * lock is held across fork() so that no child inherits it taken.
 */
const int sd__route_kernel_fds = 1;

static struct sd_net real, faulty;
static struct sd_net *top = &faulty; /* what the sockets use: faulty, or a recorder before it */
static int active;

static struct sd__fdh *own[SD__FD_CHUNKS]; /* own[fd / SD__FD_CHUNK][fd % SD__FD_CHUNK] */

/* The handle kept for descriptor fd, or NULL (beyond the table, or no memory). */
static struct sd__fdh *own_handle(int fd)
{
	if (fd < 0 || fd >= SD__FD_MAX)
		return NULL;
	unsigned i = (unsigned)fd / SD__FD_CHUNK;
	struct sd__fdh *c = __atomic_load_n(&own[i], __ATOMIC_ACQUIRE), *fresh;
	if (!c) {
		fresh = mmap(NULL, SD__FD_CHUNK * sizeof *fresh, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fresh == MAP_FAILED)
			return NULL;
		if (__atomic_compare_exchange_n(&own[i], &c, fresh, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			c = fresh;
		else
			munmap(fresh, SD__FD_CHUNK * sizeof *fresh);
	}
	return &c[(unsigned)fd % SD__FD_CHUNK];
}

/* Enters kernel descriptor fd, one of the real instance's, in the table; one the table cannot
 * hold stays a plain socket of the program's. */
static void track(int fd)
{
	struct sd__fdh *h = own_handle(fd);
	if (!h)
		return;
	*h = (struct sd__fdh){.net = top, .sfd = fd, .refs = 1};
	if (sd__fd_set(fd, h) < 0)
		sd_real_adopt(&real, fd, 0);
}

static void fork_prepare(void) { sd_fault_lock(&faulty, 1); }
static void fork_done(void) { sd_fault_lock(&faulty, 0); }

__attribute__((constructor)) static void sd_preload_init(void)
{
	int saved = errno; /* the C library's functions were found before (src/libc.c) */
	const char *f = getenv("SOCKDRILL_FAULTS"), *s = getenv("SOCKDRILL_SEED");
	const char *l = getenv("SOCKDRILL_LOG");
	struct sd_fault_spec spec;
	struct sd_config cfg = {.flags = SD_CFG_ALLOW_NONLOOPBACK}; /* the program's own policy */
	char err[256];
	void *state;
	FILE *log = NULL;
	/* Any spec turns the decisions on, even one whose faults are all at probability 0 (which
	 * is how their overhead is measured); no spec is pure pass-through. */
	if ((!f || !*f) && !sd__record_wanted())
		goto out;
	if (!f)
		f = ""; /* recording with no fault: the wrapper passes every call through */
	if (sd_fault_parse(f, &spec, err, sizeof err) < 0) {
		/* sockdrill wrap checked the spec already; a hand-set bad one is said once */
		dprintf(2, "libsockdrill_preload: %s; no faults injected\n", err);
		goto out;
	}
	if (l && *l) {
		int fd = open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0 && !(log = SD__LIBC(fdopen)(fd, "a")))
			SD__LIBC(close)(fd);
	}
	if (sd_real_ops.create(&cfg, &state) < 0)
		goto out;
	real = (struct sd_net){.ops = &sd_real_ops, .state = state};
	if (sd_fault_wrap(&faulty, &real, &spec, s ? strtoull(s, NULL, 0) : 1, log) < 0)
		goto out;
	top = sd__record_wrap(&faulty);
	pthread_atfork(fork_prepare, fork_done, fork_done);
	__atomic_store_n(&active, 1, __ATOMIC_RELEASE);
out:
	errno = saved;
}

struct sd_net *sd__route_resolver(void) { return NULL; }

void sd__route_cancel_point(void) {}

void sd__route_output(const struct iovec *v, int n) { (void)v, (void)n; }

void sd__route_unsupported(const char *call)
{
	dprintf(2, "libsockdrill_preload: %s is not supported\n", call);
	SD__LIBC_FN(_exit)(2);
	abort();
}

long sd__route_queued(struct sd__fdh *h, int outq)
{
	(void)h, (void)outq;
	return -EOPNOTSUPP; /* never asked: the kernel answers for its own sockets */
}

void sd__route_read_short(struct sd_net *net, int sfd)
{
	(void)net, (void)sfd; /* the kernel's epoll cannot be told (docs/faults.md) */
}

struct sd_net *sd__route_socket_net(int domain, int type, int protocol)
{
	if (!__atomic_load_n(&active, __ATOMIC_ACQUIRE) ||
	    (domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return NULL;
	return top;
}

int sd__route_adopt(struct sd_net *net, int sfd, int flags)
{
	(void)net, (void)flags; /* the program's descriptor is the socket: flags are the kernel's */
	track(sfd);
	return sfd;
}

/* A copy continues the socket's connection (its ordinal, its call count). */
int sd__route_dup(struct sd__fdh *h, int fd, int nfd)
{
	(void)h;
	if (sd_real_adopt(&real, nfd, 1) == 0 && sd_fault_dup(&faulty, fd, nfd) == 0)
		track(nfd);
	return 0;
}

int sd__route_close(int fd, struct sd__fdh *h)
{
	int rc = sd_close(h->net, fd);
	/* not the instance's (it could not record it): still the program's to close */
	return rc == -EBADF ? (SD__LIBC(close)(fd) < 0 ? -errno : 0) : rc;
}

void sd__route_forget(int fd, struct sd__fdh *h)
{
	(void)h;
	sd_real_adopt(&real, fd, 0);
}

void sd__route_flush(void) {}
