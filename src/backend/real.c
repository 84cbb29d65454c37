/* sockdrill: the `real` backend, kernel TCP sockets confined to loopback unless allowed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "../util/libc.h"
#include "../util/util.h"
#include "real_internal.h"

/* The C library's functions, reached through src/util/libc.h: in a program that links the
 * interposition layer, the names socket, send, ... are the layer's, and a real instance opened
 * while a sim is attached must still reach the kernel. */
static int lc_socket(int d, int t, int p) { return SD__LIBC(socket)(d, t, p); }
static int lc_bind(int fd, const struct sockaddr *a, socklen_t l)
{
	return SD__LIBC(bind)(fd, a, l);
}
static int lc_listen(int fd, int b) { return SD__LIBC(listen)(fd, b); }
static int lc_accept4(int fd, struct sockaddr *a, socklen_t *l, int f)
{
	return SD__LIBC(accept4)(fd, a, l, f);
}
static int lc_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return SD__LIBC(connect)(fd, a, l);
}
static ssize_t lc_send(int fd, const void *b, size_t n, int f)
{
	return SD__LIBC(send)(fd, b, n, f);
}
static ssize_t lc_recv(int fd, void *b, size_t n, int f) { return SD__LIBC(recv)(fd, b, n, f); }
static ssize_t lc_sendmsg(int fd, const struct msghdr *m, int f)
{
	return SD__LIBC(sendmsg)(fd, m, f);
}
static ssize_t lc_recvmsg(int fd, struct msghdr *m, int f) { return SD__LIBC(recvmsg)(fd, m, f); }
static ssize_t lc_read(int fd, void *b, size_t n) { return SD__LIBC(read)(fd, b, n); }
static ssize_t lc_write(int fd, const void *b, size_t n) { return SD__LIBC(write)(fd, b, n); }
static ssize_t lc_readv(int fd, const struct iovec *v, int n) { return SD__LIBC(readv)(fd, v, n); }
static ssize_t lc_writev(int fd, const struct iovec *v, int n)
{
	return SD__LIBC(writev)(fd, v, n);
}
static int lc_shutdown(int fd, int how) { return SD__LIBC(shutdown)(fd, how); }
static int lc_close(int fd) { return SD__LIBC(close)(fd); }
static int lc_setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{
	return SD__LIBC(setsockopt)(fd, lv, n, v, l);
}
static int lc_getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{
	return SD__LIBC(getsockopt)(fd, lv, n, v, l);
}
static int lc_getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	return SD__LIBC(getsockname)(fd, a, l);
}
static int lc_getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
	return SD__LIBC(getpeername)(fd, a, l);
}
static int lc_poll(struct pollfd *p, nfds_t n, int t) { return SD__LIBC(poll)(p, n, t); }
/* The backend passes every command one argument (0 where the command takes none). */
static int lc_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return SD__LIBC(fcntl)(fd, cmd, arg);
}

static int lc_dup3(int fd, int to, int f) { return SD__LIBC(dup3)(fd, to, f); }
/* The backend asks only for int-valued queue sizes: one int * argument. */
static int lc_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	int *arg = va_arg(ap, int *);
	va_end(ap);
	return SD__LIBC(ioctl)(fd, req, arg);
}

static int lc_epoll_create1(int f) { return SD__LIBC(epoll_create1)(f); }
static int lc_epoll_ctl(int ep, int op, int fd, struct epoll_event *e)
{
	return SD__LIBC(epoll_ctl)(ep, op, fd, e);
}
static int lc_epoll_wait(int ep, struct epoll_event *e, int n, int t)
{
	return SD__LIBC(epoll_wait)(ep, e, n, t);
}

const struct sd_real_syscalls sd_real_libc = {
	.socket = lc_socket,
	.bind = lc_bind,
	.listen = lc_listen,
	.accept4 = lc_accept4,
	.connect = lc_connect,
	.send = lc_send,
	.recv = lc_recv,
	.sendmsg = lc_sendmsg,
	.recvmsg = lc_recvmsg,
	.shutdown = lc_shutdown,
	.close = lc_close,
	.setsockopt = lc_setsockopt,
	.getsockopt = lc_getsockopt,
	.getsockname = lc_getsockname,
	.getpeername = lc_getpeername,
	.poll = lc_poll,
	.fcntl = lc_fcntl,
	.epoll_create1 = lc_epoll_create1,
	.epoll_ctl = lc_epoll_ctl,
	.epoll_wait = lc_epoll_wait,
	.read = lc_read,
	.write = lc_write,
	.readv = lc_readv,
	.writev = lc_writev,
	.dup3 = lc_dup3,
	.ioctl = lc_ioctl,
};

#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)

static int owned(const struct real *r, int fd)
{
	if (fd < 0 || (size_t)fd >= r->nbits)
		return 0;
	return (__atomic_load_n(&r->owned[fd / WORD_BITS], __ATOMIC_ACQUIRE) >> (fd % WORD_BITS)) &
	       1;
}

static void set_owned(struct real *r, int fd, int on)
{
	unsigned long bit = 1UL << (fd % WORD_BITS);
	if (on)
		__atomic_fetch_or(&r->owned[fd / WORD_BITS], bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&r->owned[fd / WORD_BITS], ~bit, __ATOMIC_RELEASE);
}

/* Records a descriptor the kernel just gave us; one beyond the bitmap is given back. */
static int adopt(struct real *r, int fd)
{
	if (fd < 0)
		return -errno;
	if ((size_t)fd >= r->nbits) {
		r->sys->close(fd);
		return -EMFILE;
	}
	set_owned(r, fd, 1);
	return fd;
}

#define RET(call) ((call) < 0 ? -errno : 0)
#define CHECK_FD(r, fd)                                                                            \
	do {                                                                                       \
		if (!owned(r, fd))                                                                 \
			return -EBADF;                                                             \
	} while (0)

/* The loopback policy (sd__addr_permitted), shared with the sim. */
static int permitted(const struct real *r, const struct sockaddr *a, socklen_t len)
{
	return sd__addr_permitted(!!(r->flags & SD_CFG_ALLOW_NONLOOPBACK), a, len);
}

static int real_create(const struct sd_config *cfg, void **state)
{
	struct rlimit rl;
	struct real *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->flags = cfg->flags;
	if (cfg->options && *cfg->options) {
		if (strcmp(cfg->options, "allow-nonloopback") != 0) {
			free(r);
			return -EINVAL;
		}
		r->flags |= SD_CFG_ALLOW_NONLOOPBACK;
	}
	r->sys = &sd_real_libc;
	pthread_mutex_init(&r->lock, NULL);
	r->nbits = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max > r->nbits && rl.rlim_max <= (1u << 24))
		r->nbits = rl.rlim_max;
	r->owned = calloc(r->nbits / WORD_BITS + 1, sizeof *r->owned);
	if (!r->owned) {
		free(r);
		return -ENOMEM;
	}
	*state = r;
	return 0;
}

static void real_destroy(void *state)
{
	struct real *r = state;
	for (size_t fd = 0; fd < r->nbits; fd++)
		if (owned(r, (int)fd))
			r->sys->close((int)fd);
	/* Actors are threads that may be blocked anywhere: they are joined by their owner,
	 * not here; only the bookkeeping of the ones never joined is let go. */
	sd__real_actors_free(r);
	pthread_mutex_destroy(&r->lock);
	free(r->owned);
	free(r);
}

static int real_socket(void *state, int domain, int type, int protocol)
{
	struct real *r = state;
	if (domain != AF_INET && domain != AF_INET6)
		return -EAFNOSUPPORT;
	/* sockdrill is about TCP: other types are refused; unknown flag bits are the kernel's
	 * to answer (EINVAL), as the sim does */
	if ((type & 0xf) != SOCK_STREAM) /* SOCK_TYPE_MASK */
		return -ESOCKTNOSUPPORT;
	return adopt(r, r->sys->socket(domain, type, protocol));
}

static int real_bind(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	if (!permitted(r, a, len))
		return -EPERM;
	return RET(r->sys->bind(fd, a, len));
}

static int real_listen(void *state, int fd, int backlog)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return RET(r->sys->listen(fd, backlog));
}

static int real_accept(void *state, int fd, struct sockaddr *a, socklen_t *len, int flags)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return adopt(r, r->sys->accept4(fd, a, len, flags));
}

static int real_connect(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	if (!permitted(r, a, len))
		return -EPERM;
	return RET(r->sys->connect(fd, a, len));
}

/* SD_MSG_PLAIN (sockdrill/real.h): a program's own write, read, writev or readv, made as that
 * system call. A write's EPIPE came with the kernel's SIGPIPE: noted for the interposer. */
static __thread int plain_epipe;

int sd_real_sigpipe_raised(void)
{
	int was = plain_epipe;
	plain_epipe = 0;
	return was;
}

static ssize_t plain_result(ssize_t n)
{
	if (n < 0 && errno == EPIPE)
		plain_epipe = 1;
	return n < 0 ? -errno : n;
}

/* writev and readv stand for sendmsg and recvmsg only without an address or control data
 * (and IOV_MAX pieces at most, as they take). */
static int plain_msg(const struct msghdr *msg, int flags)
{
	return flags == SD_MSG_PLAIN && msg && !msg->msg_name && !msg->msg_controllen &&
	       msg->msg_iovlen <= 1024;
}

static ssize_t real_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct real *r = state;
	ssize_t n;
	CHECK_FD(r, fd);
	if (flags == SD_MSG_PLAIN) { /* the program's own write */
		n = r->sys->write(fd, buf, len);
		return plain_result(n);
	}
	/* A library must not kill its host with SIGPIPE: EPIPE is the result instead. */
	n = r->sys->send(fd, buf, len, (flags & ~SD_MSG_PLAIN) | MSG_NOSIGNAL);
	return n < 0 ? -errno : n;
}

static ssize_t real_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct real *r = state;
	ssize_t n;
	CHECK_FD(r, fd);
	n = flags == SD_MSG_PLAIN ? r->sys->read(fd, buf, len)
				  : r->sys->recv(fd, buf, len, flags & ~SD_MSG_PLAIN);
	return n < 0 ? -errno : n;
}

static ssize_t real_sendmsg(void *state, int fd, const struct msghdr *msg, int flags)
{
	struct real *r = state;
	ssize_t n;
	CHECK_FD(r, fd);
	if (msg && msg->msg_name && !permitted(r, msg->msg_name, msg->msg_namelen))
		return -EPERM;
	if (plain_msg(msg, flags)) {
		n = r->sys->writev(fd, msg->msg_iov, (int)msg->msg_iovlen);
		return plain_result(n);
	}
	n = r->sys->sendmsg(fd, msg, (flags & ~SD_MSG_PLAIN) | MSG_NOSIGNAL);
	return n < 0 ? -errno : n;
}

static ssize_t real_recvmsg(void *state, int fd, struct msghdr *msg, int flags)
{
	struct real *r = state;
	ssize_t n;
	CHECK_FD(r, fd);
	if (plain_msg(msg, flags)) {
		n = r->sys->readv(fd, msg->msg_iov, (int)msg->msg_iovlen);
		if (n >= 0)
			msg->msg_flags = 0, msg->msg_namelen = 0, msg->msg_controllen = 0;
	} else {
		n = r->sys->recvmsg(fd, msg, flags & ~SD_MSG_PLAIN);
	}
	return n < 0 ? -errno : n;
}

static int real_shutdown(void *state, int fd, int how)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return RET(r->sys->shutdown(fd, how));
}

static int real_close(void *state, int fd)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	set_owned(r, fd, 0);
	/* Linux releases the descriptor even when close reports an error. */
	return RET(r->sys->close(fd));
}

/* dup(2) through the fcntl the syscall table has: the lowest free descriptor, close-on-exec
 * (nothing sockdrill starts inherits it), owned like the socket so the instance closes it. */
static int real_dup(void *state, int fd)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return adopt(r, r->sys->fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

/* dup3(2), close-on-exec whatever flags say (as dup). newfd may be the instance's own or a free
 * number: one that something else in the process holds is -EBADF, never closed. The kernel's
 * own checks come first where they touch nothing (flags, oldfd == newfd). */
static int real_dup3(void *state, int oldfd, int newfd, int flags)
{
	struct real *r = state;
	if ((flags & ~O_CLOEXEC) || oldfd == newfd)
		return -EINVAL;
	if (newfd < 0 || (size_t)newfd >= r->nbits)
		return -EBADF;
	CHECK_FD(r, oldfd);
	if (!owned(r, newfd) && r->sys->fcntl(newfd, F_GETFD, 0) >= 0)
		return -EBADF;
	int rc = r->sys->dup3(oldfd, newfd, O_CLOEXEC);
	if (rc < 0)
		return -errno;
	set_owned(r, newfd, 1);
	return newfd;
}

static int real_setsockopt(void *state, int fd, int level, int name, const void *v, socklen_t l)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return RET(r->sys->setsockopt(fd, level, name, v, l));
}

static int real_getsockopt(void *state, int fd, int level, int name, void *v, socklen_t *l)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return RET(r->sys->getsockopt(fd, level, name, v, l));
}

static int real_getsockname(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return RET(r->sys->getsockname(fd, a, len));
}

static int real_getpeername(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	return RET(r->sys->getpeername(fd, a, len));
}

/* Entries naming descriptors this instance does not own report POLLNVAL, as a closed fd
 * would, and the kernel never sees them: they are hidden as negative fds (which poll skips)
 * for a non-blocking look at the rest. This path is rare, so it may allocate. */
static int real_poll(void *state, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct real *r = state;
	unsigned char *hidden = NULL;
	int rc, foreign = 0;

	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && !owned(r, fds[i].fd)) {
			if (!hidden && !(hidden = calloc(n, 1)))
				return -ENOMEM;
			hidden[i] = 1;
			fds[i].fd = -fds[i].fd - 1;
			foreign++;
		}
	rc = r->sys->poll(fds, n, foreign ? 0 : timeout_ms);
	rc = rc < 0 ? -errno : rc;
	for (nfds_t i = 0; foreign && i < n; i++)
		if (hidden[i]) {
			fds[i].fd = -fds[i].fd - 1;
			fds[i].revents = POLLNVAL;
			if (rc >= 0)
				rc++;
		}
	free(hidden);
	return rc;
}

/* Kernel epoll; the epoll descriptor is owned like a socket (closed with the instance), and
 * only descriptors of this instance may be watched. */
static int real_epoll_create(void *state, int flags)
{
	struct real *r = state;
	return adopt(r, r->sys->epoll_create1(flags));
}

static int real_epoll_ctl(void *state, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct real *r = state;
	CHECK_FD(r, epfd);
	CHECK_FD(r, fd);
	return RET(r->sys->epoll_ctl(epfd, op, fd, ev));
}

static int real_epoll_wait(void *state, int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
	struct real *r = state;
	CHECK_FD(r, epfd);
	int rc = r->sys->epoll_wait(epfd, ev, max, timeout_ms);
	return rc < 0 ? -errno : rc;
}

static int real_set_nonblocking(void *state, int fd, int on)
{
	struct real *r = state;
	int fl;
	CHECK_FD(r, fd);
	fl = r->sys->fcntl(fd, F_GETFL, 0);
	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return RET(r->sys->fcntl(fd, F_SETFL, fl));
}

int sd_real_set_syscalls(struct sd_net *net, const struct sd_real_syscalls *sys)
{
	struct real *r;
	if (!net || net->ops != &sd_real_ops)
		return -EINVAL;
	r = net->state;
	if (!sys) {
		r->sys = &sd_real_libc;
		return 0;
	}
	const void *const *p = (const void *const *)sys;
	for (size_t i = 0; i < sizeof *sys / sizeof(void *); i++)
		if (!p[i])
			return -EINVAL;
	r->sys = sys;
	return 0;
}

int sd_real_adopt(struct sd_net *net, int fd, int own)
{
	struct real *r;
	if (!net || net->ops != &sd_real_ops)
		return -EINVAL;
	r = net->state;
	if (fd < 0 || (size_t)fd >= r->nbits)
		return -EBADF;
	set_owned(r, fd, own != 0);
	return 0;
}

/* The kernel's readiness cannot be made new from here, so the fault wrapper injects no short
 * call or EAGAIN on a non-blocking socket of this backend; and there is no record of calls.
 * Not sd_no_*: the preload library is built without src/table/ops.c. */
static int real_wake(void *state, int fd, short events)
{
	(void)state, (void)fd, (void)events;
	return -EOPNOTSUPP;
}

static int real_note(void *state, const char *text)
{
	(void)state, (void)text;
	return -EOPNOTSUPP;
}

/* Only the int-valued queue sizes: any other request could fill more than the int given. */
static int real_ioctl(void *state, int fd, unsigned long request, int *value)
{
	struct real *r = state;
	CHECK_FD(r, fd);
	if (request != SIOCINQ && request != SIOCOUTQ)
		return -ENOTTY;
	return RET(r->sys->ioctl(fd, request, value));
}

static unsigned real_caps(void *state)
{
	(void)state;
	return SD_CAP_BLOCKS_THREAD | SD_CAP_KERNEL;
}

const struct sd_ops sd_real_ops = {
	.version = SD_OPS_VERSION,
	.name = "real",
	.create = real_create,
	.destroy = real_destroy,
	.socket = real_socket,
	.bind = real_bind,
	.listen = real_listen,
	.accept = real_accept,
	.connect = real_connect,
	.send = real_send,
	.recv = real_recv,
	.sendmsg = real_sendmsg,
	.recvmsg = real_recvmsg,
	.shutdown = real_shutdown,
	.close = real_close,
	.setsockopt = real_setsockopt,
	.getsockopt = real_getsockopt,
	.getsockname = real_getsockname,
	.getpeername = real_getpeername,
	.poll = real_poll,
	.set_nonblocking = real_set_nonblocking,
	.spawn = sd__real_spawn,
	.join = sd__real_join,
	.sleep_ns = sd__real_sleep_ns,
	.now_ns = sd__real_now_ns,
	.epoll_create = real_epoll_create,
	.epoll_ctl = real_epoll_ctl,
	.epoll_wait = real_epoll_wait,
	.wake = real_wake,
	.note = real_note,
	.dup = real_dup,
	.dup3 = real_dup3,
	.caps = real_caps,
	.join_until = sd__real_join_until,
	.actor_name = sd__real_actor_name,
	.ioctl = real_ioctl,
};
