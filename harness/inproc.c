/* sockdrill in-process harness: link-time interposition of the libc socket calls, so server
 * code compiled unchanged into a fuzz target runs on the simulated stack. Calls on
 * descriptors below SD_INPROC_FDBASE (files, stdio, the fuzzer's own) go to the C library. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inproc.h"
#include "libc/threads.h"

static struct sd_net *cur;

void sd_inproc_attach(struct sd_net *net) { cur = net; }

struct sd_net *sd_inproc_net(void) { return cur; }

static int ours(int fd) { return cur && fd >= SD_INPROC_FDBASE; }

/* A negative errno becomes -1 with errno set, as libc callers expect. */
static long ret(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

/* The same, for a call POSIX makes a cancellation point: a pthread_cancel that interrupted
 * it (EINTR) acts now, once the call is over. */
static long ret_cp(long rc)
{
	if (rc == -EINTR)
		sd__thread_cancel_point();
	return ret(rc);
}

/* Such a call also acts on a cancellation already pending before it starts. */
#define CANCEL_POINT() sd__thread_cancel_point()

#define NEXT(type, name) ((type)dlsym(RTLD_NEXT, #name))

int socket(int d, int t, int p)
{
	if (cur)
		return (int)ret(sd_socket(cur, d, t, p));
	return NEXT(int (*)(int, int, int), socket)(d, t, p);
}

int bind(int fd, const struct sockaddr *a, socklen_t l)
{
	if (ours(fd))
		return (int)ret(sd_bind(cur, fd, a, l));
	return NEXT(int (*)(int, const struct sockaddr *, socklen_t), bind)(fd, a, l);
}

int listen(int fd, int b)
{
	if (ours(fd))
		return (int)ret(sd_listen(cur, fd, b));
	return NEXT(int (*)(int, int), listen)(fd, b);
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	if (ours(fd)) {
		CANCEL_POINT();
		return (int)ret_cp(sd_accept(cur, fd, a, l, flags));
	}
	return NEXT(int (*)(int, struct sockaddr *, socklen_t *, int), accept4)(fd, a, l, flags);
}

int accept(int fd, struct sockaddr *a, socklen_t *l) { return accept4(fd, a, l, 0); }

int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	if (ours(fd)) {
		CANCEL_POINT();
		return (int)ret_cp(sd_connect(cur, fd, a, l));
	}
	return NEXT(int (*)(int, const struct sockaddr *, socklen_t), connect)(fd, a, l);
}

ssize_t send(int fd, const void *b, size_t n, int f)
{
	if (ours(fd)) {
		CANCEL_POINT();
		return ret_cp(sd_send(cur, fd, b, n, f));
	}
	return NEXT(ssize_t(*)(int, const void *, size_t, int), send)(fd, b, n, f);
}

ssize_t recv(int fd, void *b, size_t n, int f)
{
	if (ours(fd)) {
		CANCEL_POINT();
		return ret_cp(sd_recv(cur, fd, b, n, f));
	}
	return NEXT(ssize_t(*)(int, void *, size_t, int), recv)(fd, b, n, f);
}

ssize_t read(int fd, void *b, size_t n)
{
	if (ours(fd)) {
		CANCEL_POINT();
		return ret_cp(sd_recv(cur, fd, b, n, 0));
	}
	return NEXT(ssize_t(*)(int, void *, size_t), read)(fd, b, n);
}

ssize_t write(int fd, const void *b, size_t n)
{
	if (ours(fd)) {
		CANCEL_POINT();
		return ret_cp(sd_send(cur, fd, b, n, MSG_NOSIGNAL));
	}
	return NEXT(ssize_t(*)(int, const void *, size_t), write)(fd, b, n);
}

int shutdown(int fd, int how)
{
	if (ours(fd))
		return (int)ret(sd_shutdown(cur, fd, how));
	return NEXT(int (*)(int, int), shutdown)(fd, how);
}

int setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{
	if (ours(fd))
		return (int)ret(sd_setsockopt(cur, fd, lv, n, v, l));
	return NEXT(int (*)(int, int, int, const void *, socklen_t), setsockopt)(fd, lv, n, v, l);
}

int getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{
	if (ours(fd))
		return (int)ret(sd_getsockopt(cur, fd, lv, n, v, l));
	return NEXT(int (*)(int, int, int, void *, socklen_t *), getsockopt)(fd, lv, n, v, l);
}

int close(int fd)
{
	if (ours(fd))
		return (int)ret(sd_close(cur, fd));
	return NEXT(int (*)(int), close)(fd);
}

/* Polls on the net when every descriptor is its own (a server polling its sockets).
 * glibc declares poll's array write-only (__attr_access), so gcc takes our read of the
 * caller's fds for a read of uninitialized memory. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
int poll(struct pollfd *p, nfds_t n, int t)
{
	int all = cur != NULL;
	for (nfds_t i = 0; i < n && all; i++)
		all = p[i].fd < 0 || p[i].fd >= SD_INPROC_FDBASE;
	if (all && n) {
		CANCEL_POINT();
		return (int)ret_cp(sd_poll(cur, p, n, t));
	}
	return NEXT(int (*)(struct pollfd *, nfds_t, int), poll)(p, n, t);
}
