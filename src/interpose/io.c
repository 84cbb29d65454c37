/* sockdrill interposition layer: reading and writing (read, recv*, write, send*, sendfile). */
#include "../util/util.h"
#include "layer.h"

#include <signal.h>
#include <stdlib.h>

#include <sockdrill/real.h>

#define IOV_LIMIT 1024 /* UIO_MAXIOV */

/* The kernel raises SIGPIPE for a write to a broken connection without MSG_NOSIGNAL; the
 * backends never do (a library must not kill its host). Under LD_PRELOAD the program is the
 * host, so the layer raises it as the kernel would have; in-process the sim only counts it
 * (sd_sim_stats.sigpipes), so the fuzzer goes on. */
static ssize_t sent(ssize_t rc, int flags)
{
	if (rc == -EPIPE && sd__route_kernel_fds && !(flags & MSG_NOSIGNAL) &&
	    !((flags & SD_MSG_PLAIN) && sd__route_sigpipe_raised()))
		raise(SIGPIPE);
	return sd__ret_cp(rc);
}

/* Once a program has sandboxed itself (the preload saw prctl(PR_SET_NO_NEW_PRIVS) or
 * prctl(PR_SET_SECCOMP): OpenSSH, libseccomp), its read, write, readv and writev on the
 * kernel's sockets are made as those very system calls, not as recv or send (SD_MSG_PLAIN): a
 * filter that allows write but kills sendto (OpenSSH's) sees only calls it expects. Then a
 * write's SIGPIPE is the kernel's own, and `sent` raises it only for an EPIPE the fault
 * wrapper injected. Before that, recv and send keep the ENOTSOCK check (sd__stale): a number
 * that a raw system call gave to a file is never read or written as a socket. */
static int plain(void)
{
	if (!sd__route_plain_calls())
		return 0;
	sd__route_sigpipe_raised(); /* nothing left over from an earlier call */
	return SD_MSG_PLAIN;
}

/* A read's result. One shorter than asked (a peek aside) goes to the route, which keeps
 * epoll(7)'s promise that such a read drained the socket. net and sfd are read before the
 * call: h may be gone once it has waited. */
static ssize_t got(struct sd_net *net, int sfd, ssize_t rc, size_t asked, int flags)
{
	if (rc > 0 && (size_t)rc < asked && !(flags & MSG_PEEK))
		sd__route_read_short(net, sfd);
	return sd__ret_cp(rc);
}

ssize_t sd__on_read(struct sd__fdh *h, int fd, void *b, size_t n)
{
	(void)fd;
	sd__route_cancel_point();
	struct sd_net *net = h->net;
	int sfd = h->sfd;
	return got(net, sfd, sd_recv(net, sfd, b, n, plain()), n, 0);
}

/* _FORTIFY_SOURCE's checked versions: an overflowing length goes to the C library's own, which
 * reports it and aborts before reading. */
ssize_t sd__on___read_chk(struct sd__fdh *h, int fd, void *b, size_t n, size_t bl)
{
	if (n > bl)
		return SD__LIBC(__read_chk)(fd, b, n, bl);
	return sd__on_read(h, fd, b, n);
}

ssize_t sd__on_recv(struct sd__fdh *h, int fd, void *b, size_t n, int f)
{
	(void)fd;
	sd__route_cancel_point();
	struct sd_net *net = h->net;
	int sfd = h->sfd;
	return got(net, sfd, sd_recv(net, sfd, b, n, f), n, f);
}

ssize_t sd__on___recv_chk(struct sd__fdh *h, int fd, void *b, size_t n, size_t bl, int f)
{
	if (n > bl)
		return SD__LIBC(__recv_chk)(fd, b, n, bl, f);
	return sd__on_recv(h, fd, b, n, f);
}

/* A TCP socket has no source address per message: Linux sets the length to 0. */
ssize_t sd__on_recvfrom(struct sd__fdh *h, int fd, void *b, size_t n, int f, struct sockaddr *a,
			socklen_t *l)
{
	(void)fd;
	sd__route_cancel_point();
	struct sd_net *net = h->net;
	int sfd = h->sfd;
	ssize_t rc = sd_recv(net, sfd, b, n, f);
	if (rc >= 0 && a && l)
		*l = 0;
	return got(net, sfd, rc, n, f);
}

ssize_t sd__on___recvfrom_chk(struct sd__fdh *h, int fd, void *b, size_t n, size_t bl, int f,
			      struct sockaddr *a, socklen_t *l)
{
	if (n > bl)
		return SD__LIBC(__recvfrom_chk)(fd, b, n, bl, f, a, l);
	return sd__on_recvfrom(h, fd, b, n, f, a, l);
}

ssize_t sd__on_recvmsg(struct sd__fdh *h, int fd, struct msghdr *m, int f)
{
	(void)fd;
	sd__route_cancel_point();
	struct sd_net *net = h->net;
	int sfd = h->sfd;
	ssize_t rc = sd_recvmsg(net, sfd, m, f);
	/* the iovecs are known good once the call has filled some */
	return got(net, sfd, rc, rc > 0 ? sd__iov_sum(m->msg_iov, m->msg_iovlen) : 0, f);
}

ssize_t sd__on_readv(struct sd__fdh *h, int fd, const struct iovec *v, int n)
{
	(void)fd;
	sd__route_cancel_point();
	if (n < 0 || n > IOV_LIMIT)
		return sd__ret(-EINVAL);
	struct msghdr m = {.msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)n};
	struct sd_net *net = h->net;
	int sfd = h->sfd;
	ssize_t rc = sd_recvmsg(net, sfd, &m, plain());
	return got(net, sfd, rc, rc > 0 ? sd__iov_sum(v, (size_t)n) : 0, 0);
}

/* As Linux's do_recvmmsg: one recvmsg per entry until one fails; after MSG_WAITFORONE's first
 * message the rest do not wait. (The timeout is not looked at: TCP sockets wait per call.) */
int sd__on_recvmmsg(struct sd__fdh *h, int fd, struct mmsghdr *v, unsigned n, int f,
		    struct timespec *t)
{
	(void)fd, (void)t;
	sd__route_cancel_point();
	struct sd_net *net = h->net; /* h is not looked at again once a call may have waited */
	int sfd = h->sfd;
	unsigned i = 0;
	if (n > IOV_LIMIT)
		n = IOV_LIMIT;
	for (int flags = f & ~MSG_WAITFORONE; i < n; i++) {
		ssize_t rc = sd_recvmsg(net, sfd, &v[i].msg_hdr, flags);
		if (rc < 0) {
			if (i == 0)
				return (int)sd__ret_cp(rc);
			break;
		}
		v[i].msg_len = (unsigned)rc;
		if (f & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
	}
	return (int)i;
}

ssize_t sd__on_write(int fd, const void *b, size_t n)
{
	struct sd__fdh *h = sd__fd_lookup(fd);
	if (!h) {
		if (fd == 1 || fd == 2) {
			struct iovec v = {(void *)b, n};
			sd__route_output(&v, 1);
		}
		return SD__LIBC(write)(fd, b, n);
	}
	sd__route_cancel_point();
	int saved = errno;
	int f = plain();
	ssize_t r = sent(sd_send(h->net, h->sfd, b, n, f), f);
	if (!sd__stale(r, fd))
		return r;
	errno = saved;
	return SD__LIBC(write)(fd, b, n);
}

ssize_t sd__on_send(struct sd__fdh *h, int fd, const void *b, size_t n, int f)
{
	(void)fd;
	sd__route_cancel_point();
	return sent(sd_send(h->net, h->sfd, b, n, f), f);
}

/* TCP ignores a destination address; it goes along only for the backend's address policy. */
ssize_t sd__on_sendto(struct sd__fdh *h, int fd, const void *b, size_t n, int f,
		      const struct sockaddr *a, socklen_t l)
{
	(void)fd;
	sd__route_cancel_point();
	if (!a)
		return sent(sd_send(h->net, h->sfd, b, n, f), f);
	struct iovec v = {(void *)b, n};
	struct msghdr m = {.msg_name = (void *)a, .msg_namelen = l, .msg_iov = &v, .msg_iovlen = 1};
	return sent(sd_sendmsg(h->net, h->sfd, &m, f), f);
}

ssize_t sd__on_sendmsg(struct sd__fdh *h, int fd, const struct msghdr *m, int f)
{
	(void)fd;
	sd__route_cancel_point();
	return sent(sd_sendmsg(h->net, h->sfd, m, f), f);
}

ssize_t sd__on_writev(int fd, const struct iovec *v, int n)
{
	struct sd__fdh *h = sd__fd_lookup(fd);
	if (!h) {
		if ((fd == 1 || fd == 2) && n > 0 && n <= IOV_LIMIT)
			sd__route_output(v, n);
		return SD__LIBC(writev)(fd, v, n);
	}
	sd__route_cancel_point();
	if (n < 0 || n > IOV_LIMIT)
		return sd__ret(-EINVAL);
	struct msghdr m = {.msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)n};
	int saved = errno;
	int f = plain();
	ssize_t r = sent(sd_sendmsg(h->net, h->sfd, &m, f), f);
	if (!sd__stale(r, fd))
		return r;
	errno = saved;
	return SD__LIBC(writev)(fd, v, n);
}

int sd__on_sendmmsg(struct sd__fdh *h, int fd, struct mmsghdr *v, unsigned n, int f)
{
	(void)fd;
	sd__route_cancel_point();
	struct sd_net *net = h->net; /* h is not looked at again once a call may have waited */
	int sfd = h->sfd;
	unsigned i = 0;
	if (n > IOV_LIMIT)
		n = IOV_LIMIT;
	for (; i < n; i++) {
		ssize_t rc = sd_sendmsg(net, sfd, &v[i].msg_hdr, f);
		if (rc < 0) {
			if (i == 0)
				return (int)sent(rc, f);
			break;
		}
		v[i].msg_len = (unsigned)rc;
	}
	return (int)i;
}

#define FILE_PIECE_FIRST 4096
#define FILE_PIECE       65536

/* sendfile to one of the layer's sockets: the file is read with pread from *o (or its own
 * offset) and sent in pieces; a piece the socket takes only in part ends the call, and the
 * offset moves by what was sent, as sendfile's does. Pieces start at 4 KiB and double up to
 * 64 KiB while the socket takes them whole: a socket that takes a few bytes a call (short
 * writes) then costs a small read per call, not 64 KiB. Input that cannot be read at an
 * offset (a pipe) is EINVAL in-process; under LD_PRELOAD the kernel sends it, without faults. */
static ssize_t file_to_socket(struct sd__fdh *h, int in, off_t *o, size_t n)
{
	sd__route_cancel_point();
	struct sd_net *net = h->net; /* h is not looked at again once a send may have waited */
	int sfd = h->sfd;
	off_t pos = o ? *o : lseek(in, 0, SEEK_CUR);
	if (pos < 0 && errno == ESPIPE && sd__route_kernel_fds) /* a pipe: the kernel's own */
		return SD__LIBC(sendfile)(h->sfd, in, o, n);
	if (pos < 0) /* a pipe: what the sim would be sent could not be read back when short */
		return errno == ESPIPE ? sd__ret(-EINVAL) : -1;
	char *buf = NULL;
	size_t total = 0, piece = FILE_PIECE_FIRST, cap = 0;
	ssize_t err = 0;
	while (total < n) {
		size_t want = n - total < piece ? n - total : piece;
		if (want > cap) {
			char *grown = realloc(buf, want);
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			buf = grown, cap = want;
		}
		ssize_t k = pread(in, buf, want, pos + (off_t)total);
		if (k <= 0) {
			err = k < 0 ? -errno : 0;
			break;
		}
		ssize_t s = sd_send(net, sfd, buf, (size_t)k, 0);
		if (s < 0) {
			err = s;
			break;
		}
		total += (size_t)s;
		if (s < k)
			break;
		if (piece < FILE_PIECE)
			piece *= 2;
	}
	free(buf);
	if (total == 0 && err < 0)
		return sent(err, 0);
	if (o)
		*o = pos + (off_t)total;
	else
		lseek(in, pos + (off_t)total, SEEK_SET);
	return (ssize_t)total;
}

ssize_t sd__on_sendfile(int out, int in, off_t *o, size_t n)
{
	struct sd__fdh *ho = sd__fd_lookup(out), *hi = sd__fd_lookup(in);
	if (!ho && !hi)
		return SD__LIBC(sendfile)(out, in, o, n);
	if (hi && !sd__route_kernel_fds)
		sd__unsupported("sendfile (in_fd)");
	if (!ho)
		return SD__LIBC(sendfile)(out, in, o, n);
	return file_to_socket(ho, in, o, n);
}

ssize_t sd__on_sendfile64(int out, int in, off64_t *o, size_t n)
{
	struct sd__fdh *ho = sd__fd_lookup(out), *hi = sd__fd_lookup(in);
	if (!ho && !hi)
		return SD__LIBC(sendfile64)(out, in, o, n);
	if (hi && !sd__route_kernel_fds)
		sd__unsupported("sendfile64 (in_fd)");
	if (!ho)
		return SD__LIBC(sendfile64)(out, in, o, n);
	off_t pos = o ? (off_t)*o : 0;
	ssize_t rc = file_to_socket(ho, in, o ? &pos : NULL, n);
	if (o)
		*o = pos;
	return rc;
}

ssize_t sd__on_splice(int in, off64_t *oi, int out, off64_t *oo, size_t n, unsigned f)
{
	if (!sd__route_kernel_fds && (sd__fd_lookup(in) || sd__fd_lookup(out)))
		sd__unsupported("splice");
	return SD__LIBC(splice)(in, oi, out, oo, n, f);
}

/* stdio reads and writes through the C library's internal calls, which no interposer sees. */
FILE *sd__on_fdopen(struct sd__fdh *h, int fd, const char *mode)
{
	(void)h;
	if (!sd__route_kernel_fds)
		sd__unsupported("fdopen");
	return SD__LIBC(fdopen)(fd, mode);
}
