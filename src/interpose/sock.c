/* sockdrill interposition layer: socket set-up, names, options, descriptors (dup, fcntl, ioctl). */
#include "layer.h"

#include <linux/sockios.h>
#include <sockdrill/fault.h>
#include <stdarg.h>
#include <stdint.h>

#include <sockdrill/fault.h>

#define RET(call) ((int)sd__ret(call))

/* C libraries before glibc 2.34 (OSS-Fuzz's Ubuntu 20.04 build image) do not name the flag;
 * the kernel's value is fixed (linux/close_range.h). */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int sd__on_socket(int d, int t, int p)
{
	struct sd_net *net = sd__route_socket_net(d, t, p);
	if (!net)
		return SD__LIBC(socket)(d, t, p);
	int sfd = sd_socket(net, d, t, p);
	if (sfd < 0)
		return RET(sfd);
	return RET(sd__route_adopt(net, sfd, t & (SOCK_NONBLOCK | SOCK_CLOEXEC)));
}

int sd__on_bind(struct sd__fdh *h, int fd, const struct sockaddr *a, socklen_t l)
{
	(void)fd;
	return RET(sd_bind(h->net, h->sfd, a, l));
}

int sd__on_listen(struct sd__fdh *h, int fd, int b)
{
	(void)fd;
	return RET(sd_listen(h->net, h->sfd, b));
}

int sd__on_accept4(struct sd__fdh *h, int fd, struct sockaddr *a, socklen_t *l, int f)
{
	(void)fd;
	sd__route_cancel_point();
	struct sd_net *net = h->net; /* h may be gone when a detach came while accept waited */
	int sfd = sd_accept(net, h->sfd, a, l, f);
	if (sfd < 0)
		return (int)sd__ret_cp(sfd);
	return RET(sd__route_adopt(net, sfd, f));
}

int sd__on_accept(struct sd__fdh *h, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd__on_accept4(h, fd, a, l, 0);
}

int sd__on_connect(struct sd__fdh *h, int fd, const struct sockaddr *a, socklen_t l)
{
	(void)fd;
	sd__route_cancel_point();
	return (int)sd__ret_cp(sd_connect(h->net, h->sfd, a, l));
}

int sd__on_getsockname(struct sd__fdh *h, int fd, struct sockaddr *a, socklen_t *l)
{
	(void)fd;
	return RET(sd_getsockname(h->net, h->sfd, a, l));
}

int sd__on_getpeername(struct sd__fdh *h, int fd, struct sockaddr *a, socklen_t *l)
{
	(void)fd;
	return RET(sd_getpeername(h->net, h->sfd, a, l));
}

int sd__on_getsockopt(struct sd__fdh *h, int fd, int lv, int n, void *v, socklen_t *l)
{
	(void)fd;
	return RET(sd_getsockopt(h->net, h->sfd, lv, n, v, l));
}

int sd__on_setsockopt(struct sd__fdh *h, int fd, int lv, int n, const void *v, socklen_t l)
{
	(void)fd;
	return RET(sd_setsockopt(h->net, h->sfd, lv, n, v, l));
}

int sd__on_shutdown(struct sd__fdh *h, int fd, int how)
{
	(void)fd;
	return RET(sd_shutdown(h->net, h->sfd, how));
}

int sd__on_close(int fd)
{
	struct sd__fdh *h = sd__fd_lookup(fd);
	if (!h) {
		/* not the program's: a loop closing every number must not take the route's */
		if (fd >= 0 && sd__route_own_fd((unsigned)fd, (unsigned)fd) == fd)
			return RET(-EBADF);
		return SD__LIBC(close)(fd);
	}
	struct sd__fdh *t = sd__fd_take(fd);
	if (!t) /* another thread closed it first */
		return SD__LIBC(close)(fd);
	return RET(sd__route_close(fd, t));
}

/* close_range over [lo, hi] in the kernel, leaving out the route's own descriptor: the range
 * is split around it. 0 or -1 with errno, as close_range. */
static int close_range_but_own(unsigned lo, unsigned hi, int f)
{
	int own = sd__route_own_fd(lo, hi);
	if (own < 0)
		return SD__LIBC(close_range)(lo, hi, f);
	int rc = 0;
	if ((unsigned)own > lo)
		rc = SD__LIBC(close_range)(lo, (unsigned)own - 1, f);
	if (rc == 0 && (unsigned)own < hi)
		rc = SD__LIBC(close_range)((unsigned)own + 1, hi, f);
	return rc;
}

void sd__on_closefrom(int lo)
{
	unsigned from = lo < 0 ? 0 : (unsigned)lo; /* glibc takes a negative lowest as 0 */
	int own = sd__route_own_fd(from, ~0u);
	if (own < 0) {
		SD__LIBC(closefrom)(lo);
	} else {
		/* below the route's descriptor: close_range, or one by one where the kernel has
		 * none (closefrom cannot fail, so neither may this) */
		if ((unsigned)own > from && SD__LIBC(close_range)(from, (unsigned)own - 1, 0) < 0)
			for (unsigned fd = from; fd < (unsigned)own; fd++)
				SD__LIBC(close)((int)fd);
		SD__LIBC(closefrom)(own + 1);
	}
	sd__fd_take_range(from, ~0u, sd__route_forget);
	sd__route_flush();
}

int sd__on_close_range(unsigned lo, unsigned hi, int f)
{
	int rc = close_range_but_own(lo, hi, f);
	/* with CLOSE_RANGE_CLOEXEC nothing is closed: the kernel marks the descriptors */
	if (rc == 0 && !(f & CLOSE_RANGE_CLOEXEC)) {
		sd__fd_take_range(lo, hi, sd__route_forget);
		sd__route_flush();
	}
	return rc;
}

int sd__on_dup(struct sd__fdh *h, int fd)
{
	int nfd = SD__LIBC(dup)(fd);
	if (nfd < 0)
		return nfd;
	int rc = sd__route_dup(h, fd, nfd);
	return rc < 0 ? RET(rc) : nfd;
}

/* After the kernel's dup2/dup3 made `to` a copy of fd (rc: its result): `to` no longer names
 * what it did, and names fd's socket if fd is one of the layer's. */
static int redup(int fd, int to, int rc)
{
	if (rc < 0 || fd == to)
		return rc;
	struct sd__fdh *old = sd__fd_take(to), *h = sd__fd_lookup(fd);
	if (old)
		sd__route_forget(to, old);
	int err = h ? sd__route_dup(h, fd, to) : 0;
	sd__route_flush();
	return err < 0 ? RET(err) : rc;
}

int sd__on_dup2(int fd, int to)
{
	sd__route_own_move(to);
	if (!sd__fd_lookup(fd) && !sd__fd_lookup(to))
		return SD__LIBC(dup2)(fd, to);
	return redup(fd, to, SD__LIBC(dup2)(fd, to));
}

int sd__on_dup3(int fd, int to, int f)
{
	sd__route_own_move(to);
	if (!sd__fd_lookup(fd) && !sd__fd_lookup(to))
		return SD__LIBC(dup3)(fd, to, f);
	return redup(fd, to, SD__LIBC(dup3)(fd, to, f));
}

/* The C library call the program made has just set or cleared O_NONBLOCK on h's descriptor:
 * its net follows. Under LD_PRELOAD the descriptor is the socket, so the flag is set already and
 * the fault wrapper only records it: no further system call (a sandboxed program may allow the
 * one it made and no other). */
static int follow_nonblocking(struct sd__fdh *h, int on)
{
	if (sd__route_kernel_fds && sd_fault_note_nonblocking(h->net, h->sfd, on) == 0)
		return 0;
	return RET(sd_set_nonblocking(h->net, h->sfd, on));
}

/* fcntl and fcntl64 on one of the layer's sockets. The descriptor flags (FD_CLOEXEC) and the
 * file status flags are the program descriptor's own, kept by the kernel and shared by its
 * copies as on a socket; O_NONBLOCK is also passed on to the socket's net. */
static int fcntl_on(int (*libc)(int, int, ...), const char *name, struct sd__fdh *h, int fd,
		    int cmd, void *arg)
{
	switch (cmd) {
	case F_GETFD:
	case F_SETFD:
	case F_GETFL: return libc(fd, cmd, arg);
	case F_SETFL: {
		int rc = libc(fd, cmd, arg);
		if (rc < 0)
			return rc;
		return follow_nonblocking(h, ((int)(intptr_t)arg & O_NONBLOCK) != 0);
	}
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		int nfd = libc(fd, cmd, arg);
		if (nfd < 0)
			return nfd;
		int rc = sd__route_dup(h, fd, nfd);
		return rc < 0 ? RET(rc) : nfd;
	}
	}
	if (sd__route_kernel_fds)
		return libc(fd, cmd, arg);
	sd__unsupported("%s(command %d)", name, cmd);
}

/* Variable arguments: at most one, of pointer size at most, read as a pointer (an int is
 * widened by the caller's register), as the C library's own wrapper reads it. */
#define ONE_ARG(last, arg)                                                                         \
	va_list ap;                                                                                \
	va_start(ap, last);                                                                        \
	void *arg = va_arg(ap, void *);                                                            \
	va_end(ap)

SD__EXPORT int fcntl(int fd, int cmd, ...)
{
	ONE_ARG(cmd, arg);
	struct sd__fdh *h = sd__fd_lookup(fd);
	if (!h)
		return SD__LIBC(fcntl)(fd, cmd, arg);
	return fcntl_on(SD__LIBC(fcntl), "fcntl", h, fd, cmd, arg);
}

SD__EXPORT int fcntl64(int fd, int cmd, ...)
{
	ONE_ARG(cmd, arg);
	struct sd__fdh *h = sd__fd_lookup(fd);
	if (!h)
		return SD__LIBC(fcntl64)(fd, cmd, arg);
	return fcntl_on(SD__LIBC(fcntl64), "fcntl64", h, fd, cmd, arg);
}

SD__EXPORT int ioctl(int fd, unsigned long req, ...)
{
	ONE_ARG(req, arg);
	struct sd__fdh *h = sd__fd_lookup(fd);
	if (!h)
		return SD__LIBC(ioctl)(fd, req, arg);
	switch (req) {
	case FIOCLEX:
	case FIONCLEX: return SD__LIBC(ioctl)(fd, req, arg);
	case FIONBIO: {
		int rc = SD__LIBC(ioctl)(fd, req, arg);
		if (rc < 0)
			return rc;
		return follow_nonblocking(h, *(const int *)arg != 0);
	}
	}
	/* The queue sizes go through the socket's net on either route, as its other calls do. */
	if (req == SIOCINQ || req == SIOCOUTQ) {
		long n = sd__route_queued(h, req == SIOCOUTQ);
		if (n != -EOPNOTSUPP) {
			if (n < 0)
				return RET(n);
			*(int *)arg = n > INT32_MAX ? INT32_MAX : (int)n;
			return 0;
		}
	}
	if (sd__route_kernel_fds)
		return SD__LIBC(ioctl)(fd, req, arg);
	sd__unsupported("ioctl(request 0x%lx)", req);
}

/* epoll. In-process, an epoll instance made while a sim is attached is the sim's, named by a
 * placeholder like its sockets. Kernel descriptors put in its set (an eventfd, a pipe, an
 * AF_UNIX pair) go to a kernel epoll beside it, which its waits check too; a simulated socket
 * put in a kernel epoll set is a harness error (docs/architecture.md). With kernel descriptors
 * (LD_PRELOAD) the kernel's epoll serves sockets and files alike. */
/* A kernel epoll instance under LD_PRELOAD can still fail with emfile or enfile (in-process,
 * an epoll of the sim's is decided by the fault wrapper around it): -1 with errno set, or 0. */
static int kernel_epoll_fault(void)
{
	int rc = sd__route_kernel_fds ? sd__route_call_fault(SD_OP_EPOLL, "epoll_create") : 0;
	return rc < 0 ? RET(rc) : 0;
}

int sd__on_epoll_create1(int f)
{
	struct sd_net *net =
		sd__route_kernel_fds ? NULL : sd__route_socket_net(AF_INET, SOCK_STREAM, 0);
	if (!net)
		return kernel_epoll_fault() ?: SD__LIBC(epoll_create1)(f);
	int sfd = net->ops->version >= 3 ? sd_epoll_create(net, f) : -EOPNOTSUPP;
	if (sfd < 0)
		return RET(sfd);
	int fd = sd__route_adopt(net, sfd, f & EPOLL_CLOEXEC ? SOCK_CLOEXEC : 0);
	if (fd >= 0)
		sd__fd_lookup(fd)->epoll = 1;
	return RET(fd);
}

int sd__on_epoll_create(int size)
{
	if (sd__route_kernel_fds || !sd__route_socket_net(AF_INET, SOCK_STREAM, 0))
		return kernel_epoll_fault() ?: SD__LIBC(epoll_create)(size);
	return size <= 0 ? RET(-EINVAL) : sd__on_epoll_create1(0);
}

/* A kernel descriptor in sim epoll he's set: the kernel's epoll_ctl on the kernel epoll
 * beside it, made on first use, answers (EBADF, EPERM for a regular file, EEXIST, ENOENT). */
static int ctl_kernel(struct sd__fdh *he, int op, int fd, struct epoll_event *e)
{
	if (!he->epoll) /* epoll_ctl on a socket: fd is looked at first, as Linux does */
		return SD__LIBC(fcntl)(fd, F_GETFD) < 0 ? -1 : RET(-EINVAL);
	if (he->kep < 0 && (he->kep = SD__LIBC(epoll_create1)(EPOLL_CLOEXEC)) < 0)
		return -1;
	return SD__LIBC(epoll_ctl)(he->kep, op, fd, e);
}

int sd__on_epoll_ctl(int ep, int op, int fd, struct epoll_event *e)
{
	struct sd__fdh *he = sd__fd_lookup(ep), *hf = sd__fd_lookup(fd);
	if (sd__route_kernel_fds || (!he && !hf))
		return SD__LIBC(epoll_ctl)(ep, op, fd, e);
	if (!he)
		sd__unsupported("epoll_ctl (a simulated socket in a kernel epoll set)");
	if (!hf)
		return ctl_kernel(he, op, fd, e);
	if (he->net != hf->net)
		sd__unsupported("epoll_ctl (sockets of two nets in one epoll set)");
	return RET(sd_epoll_ctl(he->net, he->sfd, op, hf->sfd, e));
}

int sd__on_epoll_wait(int ep, struct epoll_event *e, int n, int t)
{
	struct sd__fdh *h = sd__route_kernel_fds ? NULL : sd__fd_lookup(ep);
	if (sd__route_kernel_fds)
		sd__route_waited();
	if (!h)
		return SD__LIBC(epoll_wait)(ep, e, n, t);
	if (h->kep >= 0)
		return RET(sd__epoll_wait_mixed(h->net, h->sfd, h->kep, e, n, t));
	return RET(sd_epoll_wait(h->net, h->sfd, e, n, t));
}

/* No signal reaches the program during a sim wait, so the mask has nothing to change. */
int sd__on_epoll_pwait(int ep, struct epoll_event *e, int n, int t, const sigset_t *s)
{
	if (sd__route_kernel_fds || !sd__fd_lookup(ep)) {
		if (sd__route_kernel_fds)
			sd__route_waited();
		return SD__LIBC(epoll_pwait)(ep, e, n, t, s);
	}
	return sd__on_epoll_wait(ep, e, n, t);
}
