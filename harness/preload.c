/* libsockdrill_preload.so: faults on the TCP sockets of an unmodified dynamically linked
 * program. Configured by SOCKDRILL_FAULTS, SOCKDRILL_SEED and SOCKDRILL_LOG (docs/faults.md).
 * Files, pipes, UDP and sockets the program did not create itself are passed through
 * untouched; so is everything when no fault is configured. No allocation, no lock. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/fault.h>

#define MAXFD  65536
#define EXPORT __attribute__((visibility("default")))

static struct sd_fault_spec spec;
static uint64_t seed;
static int active, log_fd = -1;
static int64_t t0;
static _Atomic unsigned char is_tcp[MAXFD];
static _Atomic uint64_t conn_of[MAXFD], calls_of[MAXFD];
static _Atomic uint64_t n_accepted, n_connected, n_listeners;

/* The real functions, found once. */
#define REAL(name) static __typeof__(name) *real_##name
REAL(socket);
REAL(listen);
REAL(accept);
REAL(accept4);
REAL(connect);
REAL(send);
REAL(sendto);
REAL(sendmsg);
REAL(recv);
REAL(recvfrom);
REAL(recvmsg);
REAL(read);
REAL(write);
REAL(readv);
REAL(writev);
REAL(close);
REAL(sendfile);
REAL(dup);
REAL(dup2);
REAL(dup3);
static ssize_t (*real___read_chk)(int, void *, size_t, size_t);
static ssize_t (*real___recv_chk)(int, void *, size_t, size_t, int);

#define FIND(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((constructor)) static void sd_preload_init(void)
{
	int saved = errno;
	FIND(socket), FIND(listen), FIND(accept), FIND(accept4), FIND(connect), FIND(send);
	FIND(sendto), FIND(sendmsg), FIND(recv), FIND(recvfrom), FIND(recvmsg), FIND(read);
	FIND(write), FIND(readv), FIND(writev), FIND(close), FIND(sendfile);
	FIND(dup), FIND(dup2), FIND(dup3);
	real___read_chk = (ssize_t(*)(int, void *, size_t, size_t))dlsym(RTLD_NEXT, "__read_chk");
	real___recv_chk =
		(ssize_t(*)(int, void *, size_t, size_t, int))dlsym(RTLD_NEXT, "__recv_chk");
	const char *f = getenv("SOCKDRILL_FAULTS"), *s = getenv("SOCKDRILL_SEED");
	const char *l = getenv("SOCKDRILL_LOG");
	char err[256];
	if (f && sd_fault_parse(f, &spec, err, sizeof err) < 0) {
		/* sockdrill wrap checked the spec already; a hand-set bad one is said once */
		dprintf(2, "libsockdrill_preload: %s; no faults injected\n", err);
		memset(&spec, 0, sizeof spec);
	}
	seed = s ? strtoull(s, NULL, 0) : 1;
	/* Any spec given turns the decision path on, even one whose faults are all at
	 * probability 0 (which is how its overhead is measured); no spec is pure pass-through. */
	active = f && *f && sd_fault_parse(f, &spec, err, sizeof err) == 0;
	if (l && *l)
		log_fd = open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	t0 = mono_ns();
	errno = saved;
}

static int tcp(int fd)
{
	return fd >= 0 && fd < MAXFD && atomic_load_explicit(&is_tcp[fd], memory_order_relaxed);
}

static void track(int fd, uint64_t conn)
{
	if (fd >= 0 && fd < MAXFD) {
		atomic_store(&conn_of[fd], conn);
		atomic_store(&calls_of[fd], 0);
		atomic_store(&is_tcp[fd], 1);
	}
}

static int blocking(int fd, int flags)
{
	int saved = errno, fl;
	if (flags & MSG_DONTWAIT)
		return 0;
	fl = fcntl(fd, F_GETFL);
	errno = saved;
	return fl >= 0 && !(fl & O_NONBLOCK);
}

/* The decision for this call on fd; when it says so, the call is not made: -1, errno set. */
static int decide(int fd, enum sd_fault_op op, int flags, size_t len, const char *name,
		  struct sd_fault_decision *d)
{
	if (op == SD_OP_CONNECT && !atomic_load(&conn_of[fd]))
		atomic_store(&conn_of[fd],
			     SD_CONN_CONNECTED | (atomic_fetch_add(&n_connected, 1) + 1));
	uint64_t conn = atomic_load(&conn_of[fd]);
	uint64_t call = atomic_fetch_add(&calls_of[fd], 1) + 1;
	int b = (spec.eintr > 0 || spec.eagain > 0) ? blocking(fd, flags) : !(flags & MSG_DONTWAIT);
	sd_fault_decide(&spec, seed, conn, call, op, b, len, d);
	if (!d->fault)
		return 0;
	int saved = errno;
	if (log_fd >= 0) {
		char line[256];
		size_t n = sd_fault_format(line, sizeof line, mono_ns() - t0, conn, call, name, d,
					   len);
		if (real_write(log_fd, line, n) < 0) {
			/* nothing to do: the program goes on */
		}
	}
	if (d->delay_ms) {
		struct timespec ts = {d->delay_ms / 1000, (long)(d->delay_ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (d->reset) {
		struct sockaddr sa = {.sa_family = AF_UNSPEC};
		real_connect(fd, &sa, sizeof sa); /* tcp_disconnect: the peer gets an RST */
	}
	errno = saved;
	if (d->err) {
		errno = d->err;
		return -1;
	}
	return 0;
}

#define GUARD(fd) (active && tcp(fd))

EXPORT int socket(int domain, int type, int protocol)
{
	int fd = real_socket(domain, type, protocol);
	if (fd >= 0 && fd < MAXFD) {
		int stream = (domain == AF_INET || domain == AF_INET6) &&
			     (type & 0xf) == SOCK_STREAM &&
			     (protocol == 0 || protocol == IPPROTO_TCP);
		if (stream)
			track(fd, 0);
		else
			atomic_store(&is_tcp[fd], 0);
	}
	return fd;
}

EXPORT int listen(int fd, int backlog)
{
	int rc = real_listen(fd, backlog);
	if (rc == 0 && tcp(fd) && !atomic_load(&conn_of[fd]))
		atomic_store(&conn_of[fd],
			     SD_CONN_LISTENER | (atomic_fetch_add(&n_listeners, 1) + 1));
	return rc;
}

static int after_accept(int lfd, int fd)
{
	if (fd >= 0 && tcp(lfd))
		track(fd, SD_CONN_ACCEPTED | (atomic_fetch_add(&n_accepted, 1) + 1));
	return fd;
}

EXPORT int accept(int fd, struct sockaddr *a, socklen_t *l)
{
	struct sd_fault_decision d;
	if (GUARD(fd) && decide(fd, SD_OP_ACCEPT, 0, 0, "accept", &d) < 0)
		return -1;
	return after_accept(fd, real_accept(fd, a, l));
}

EXPORT int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	struct sd_fault_decision d;
	if (GUARD(fd) && decide(fd, SD_OP_ACCEPT, 0, 0, "accept4", &d) < 0)
		return -1;
	return after_accept(fd, real_accept4(fd, a, l, flags));
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	struct sd_fault_decision d;
	if (GUARD(fd) && a && a->sa_family != AF_UNSPEC &&
	    decide(fd, SD_OP_CONNECT, 0, 0, "connect", &d) < 0)
		return -1;
	return real_connect(fd, a, l);
}

EXPORT ssize_t send(int fd, const void *b, size_t n, int flags)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(fd) && decide(fd, SD_OP_WRITE, flags, n, "send", &d) < 0)
		return -1;
	return real_send(fd, b, d.len, flags);
}

EXPORT ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *a,
		      socklen_t l)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(fd) && decide(fd, SD_OP_WRITE, flags, n, "sendto", &d) < 0)
		return -1;
	return real_sendto(fd, b, d.len, flags, a, l);
}

EXPORT ssize_t recv(int fd, void *b, size_t n, int flags)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(fd) && decide(fd, SD_OP_READ, flags, n, "recv", &d) < 0)
		return -1;
	return real_recv(fd, b, d.len, flags);
}

EXPORT ssize_t recvfrom(int fd, void *b, size_t n, int flags, struct sockaddr *a, socklen_t *l)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(fd) && decide(fd, SD_OP_READ, flags, n, "recvfrom", &d) < 0)
		return -1;
	return real_recvfrom(fd, b, d.len, flags, a, l);
}

EXPORT ssize_t read(int fd, void *b, size_t n)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(fd) && decide(fd, SD_OP_READ, 0, n, "read", &d) < 0)
		return -1;
	return real_read(fd, b, d.len);
}

EXPORT ssize_t write(int fd, const void *b, size_t n)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(fd) && decide(fd, SD_OP_WRITE, 0, n, "write", &d) < 0)
		return -1;
	return real_write(fd, b, d.len);
}

/* _FORTIFY_SOURCE builds call these instead of read/recv. */
EXPORT ssize_t __read_chk(int fd, void *b, size_t n, size_t buflen)
{
	struct sd_fault_decision d = {.len = n};
	if (n <= buflen && GUARD(fd) && decide(fd, SD_OP_READ, 0, n, "read", &d) < 0)
		return -1;
	return real___read_chk(fd, b, d.len, buflen);
}

EXPORT ssize_t __recv_chk(int fd, void *b, size_t n, size_t buflen, int flags)
{
	struct sd_fault_decision d = {.len = n};
	if (n <= buflen && GUARD(fd) && decide(fd, SD_OP_READ, flags, n, "recv", &d) < 0)
		return -1;
	return real___recv_chk(fd, b, d.len, buflen, flags);
}

static size_t iov_total(const struct iovec *v, int n)
{
	size_t t = 0;
	for (int i = 0; i < n; i++)
		t += v[i].iov_len;
	return t;
}

/* The first `len` bytes of v (at most 64 pieces are kept: a short call either way). */
static int iov_cut(const struct iovec *v, int n, size_t len, struct iovec *out)
{
	int k = 0;
	for (int i = 0; i < n && len && k < 64; i++, k++) {
		out[k] = v[i];
		if (out[k].iov_len > len)
			out[k].iov_len = len;
		len -= out[k].iov_len;
	}
	return k;
}

/* readv and writev: the same decision, then the call on the first d.len bytes when short. */
static ssize_t vec_call(int fd, const struct iovec *v, int n, enum sd_fault_op op)
{
	struct sd_fault_decision d;
	struct iovec cut[64];
	size_t len = iov_total(v, n);
	if (decide(fd, op, 0, len, op == SD_OP_READ ? "readv" : "writev", &d) < 0)
		return -1;
	if (d.len != len)
		n = iov_cut(v, n, d.len, cut), v = cut;
	return op == SD_OP_READ ? real_readv(fd, v, n) : real_writev(fd, v, n);
}

EXPORT ssize_t readv(int fd, const struct iovec *v, int n)
{
	return GUARD(fd) && n >= 0 ? vec_call(fd, v, n, SD_OP_READ) : real_readv(fd, v, n);
}

EXPORT ssize_t writev(int fd, const struct iovec *v, int n)
{
	return GUARD(fd) && n >= 0 ? vec_call(fd, v, n, SD_OP_WRITE) : real_writev(fd, v, n);
}

static ssize_t msg_call(int fd, struct msghdr *m, int flags, enum sd_fault_op op, const char *name)
{
	struct sd_fault_decision d;
	struct iovec cut[64];
	size_t len = iov_total(m->msg_iov, (int)m->msg_iovlen);
	if (decide(fd, op, flags, len, name, &d) < 0)
		return -1;
	if (d.len == len)
		return op == SD_OP_READ ? real_recvmsg(fd, m, flags) : real_sendmsg(fd, m, flags);
	struct msghdr copy = *m;
	copy.msg_iov = cut;
	copy.msg_iovlen = (size_t)iov_cut(m->msg_iov, (int)m->msg_iovlen, d.len, cut);
	ssize_t k =
		op == SD_OP_READ ? real_recvmsg(fd, &copy, flags) : real_sendmsg(fd, &copy, flags);
	m->msg_namelen = copy.msg_namelen;
	m->msg_controllen = copy.msg_controllen;
	m->msg_flags = copy.msg_flags;
	return k;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	if (!GUARD(fd) || !m || m->msg_iovlen > 1024)
		return real_sendmsg(fd, m, flags);
	return msg_call(fd, (struct msghdr *)m, flags, SD_OP_WRITE, "sendmsg");
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	if (!GUARD(fd) || !m || m->msg_iovlen > 1024)
		return real_recvmsg(fd, m, flags);
	return msg_call(fd, m, flags, SD_OP_READ, "recvmsg");
}

/* Web servers send files this way: a short write is a smaller count. */
EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	struct sd_fault_decision d = {.len = n};
	if (GUARD(out) && decide(out, SD_OP_WRITE, 0, n, "sendfile", &d) < 0)
		return -1;
	return real_sendfile(out, in, off, d.len);
}

/* A descriptor number takes over what it now refers to: a copy of a traced socket is traced
 * (same connection), and a file duplicated over a traced number is no longer a socket. */
static int copy_mark(int from, int to)
{
	if (to >= 0 && to < MAXFD && to != from) {
		int t = tcp(from);
		if (t) {
			atomic_store(&conn_of[to], atomic_load(&conn_of[from]));
			atomic_store(&calls_of[to], atomic_load(&calls_of[from]));
		}
		atomic_store(&is_tcp[to], (unsigned char)t);
	}
	return to;
}

EXPORT int dup(int fd) { return copy_mark(fd, real_dup(fd)); }
EXPORT int dup2(int fd, int to) { return copy_mark(fd, real_dup2(fd, to)); }
EXPORT int dup3(int fd, int to, int flags) { return copy_mark(fd, real_dup3(fd, to, flags)); }

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	static int (*real_close_range)(unsigned, unsigned, int);
	if (!real_close_range)
		real_close_range =
			(int (*)(unsigned, unsigned, int))dlsym(RTLD_NEXT, "close_range");
	if (!real_close_range) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_close_range(first, last, flags);
	if (rc == 0 && !(flags & 4 /* CLOSE_RANGE_CLOEXEC: nothing is closed */))
		for (unsigned fd = first; fd <= last && fd < MAXFD; fd++)
			atomic_store(&is_tcp[fd], 0);
	return rc;
}

EXPORT int close(int fd)
{
	if (fd >= 0 && fd < MAXFD)
		atomic_store(&is_tcp[fd], 0);
	return real_close(fd);
}

REAL(sendfile64);

EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
	struct sd_fault_decision d = {.len = n};
	if (!real_sendfile64)
		real_sendfile64 = (__typeof__(real_sendfile64))dlsym(RTLD_NEXT, "sendfile64");
	if (GUARD(out) && decide(out, SD_OP_WRITE, 0, n, "sendfile", &d) < 0)
		return -1;
	return real_sendfile64(out, in, off, d.len);
}
