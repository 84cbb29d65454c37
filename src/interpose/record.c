/* sockdrill interposition layer: recording what a server's accepted connections carry (wrap
 * --record). */
#include "record.h"
#include "../util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/*
 * A wrapper net in front of the one the preload's sockets use (SQLite's test_osinst, for
 * sockets): every call is forwarded, and on an accepted connection what the server received
 * and sent, the end of the stream it saw, a reset, a shutdown and the close are appended to the
 * file SOCKDRILL_RECORD names, one fixed header (struct sd_rec) and the bytes per record.
 * sockdrill wrap --record turns the file into a scenario (src/cli/wrap_record.c).
 *
 * The file is written with raw system calls, so nothing here goes through the layer again or
 * meets a fault; it is opened when the program starts (before it can drop privileges), its
 * descriptor kept high and close-on-exec, and checked (device, inode) before each record: a
 * program that closed it, or reused its number, gets it reopened by path rather than written
 * into. Forked workers append to the same file (O_APPEND, one writev per
 * record) with their own pid; the connection keeps the pid and number of the process that
 * accepted it. Bounded: SD_REC_MAX_BYTES of bytes recorded per process (SOCKDRILL_RECORD_MAX
 * may lower it), then one SD_REC_CUT record and nothing more.
 */

struct rec_net {
	struct sd_net inner;
	char path[4096];
	int fd;
	dev_t dev;
	ino_t ino;
	pid_t pid; /* this process (fork resets it) */
	uint64_t written, max;
	uint32_t conns; /* connections accepted by this process */
	int cut;
	pthread_mutex_t lock;
};

/* Per descriptor: the connection it is (apid, number), for descriptors below SD_REC_FDS; made
 * on first accept, inherited by fork as the sockets are. */
#define SD_REC_FDS 65536
struct conn_id {
	int32_t apid;
	uint32_t conn; /* 1 + the number; 0: not a recorded connection */
};
static struct conn_id *conns;
static struct rec_net *the; /* the one recorder (atfork needs it) */

static struct rec_net *R(void *state) { return state; }

/* The file's descriptor, checked and reopened when the program took its number: -1 if none. */
static int rec_fd(struct rec_net *r)
{
	struct stat st;
	if (r->fd >= 0 && syscall(SYS_fstat, r->fd, &st) == 0 && st.st_dev == r->dev &&
	    st.st_ino == r->ino)
		return r->fd;
	/* not ours any more (closed, or the number reused): leave that descriptor alone */
	r->fd = -1;
	int fd = (int)syscall(SYS_openat, AT_FDCWD, r->path,
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 900);
	if (high >= 0) {
		syscall(SYS_close, fd);
		fd = high;
	}
	if (syscall(SYS_fstat, fd, &st) < 0) {
		syscall(SYS_close, fd);
		return -1;
	}
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	return r->fd = fd;
}

static void put(struct rec_net *r, int kind, int fd, const void *data, size_t len, int aux)
{
	if ((unsigned)fd >= SD_REC_FDS || !conns)
		return;
	struct sd_rec h = {.kind = (uint8_t)kind, .aux = (int16_t)aux, .t_ns = sd__mono_ns()};
	pthread_mutex_lock(&r->lock); /* the table too: accept and close change it */
	h.pid = r->pid;
	h.apid = conns[fd].apid;
	h.conn = conns[fd].conn - 1;
	if (!conns[fd].conn || r->cut) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (r->written + len > r->max) {
		r->cut = 1;
		h.kind = SD_REC_CUT;
		len = 0;
	}
	h.len = (uint32_t)len;
	struct iovec v[2] = {{&h, sizeof h}, {(void *)data, len}};
	int wfd = rec_fd(r);
	if (wfd >= 0 && syscall(SYS_writev, wfd, v, len ? 2 : 1) > 0)
		r->written += len;
	pthread_mutex_unlock(&r->lock);
}

/* The bytes of a msghdr's first n, one record per piece. */
static void put_iov(struct rec_net *r, int kind, int fd, const struct msghdr *m, size_t n)
{
	for (size_t i = 0; i < (size_t)m->msg_iovlen && n; i++) {
		size_t k = m->msg_iov[i].iov_len < n ? m->msg_iov[i].iov_len : n;
		if (k)
			put(r, kind, fd, m->msg_iov[i].iov_base, k, 0);
		n -= k;
	}
}

/* What a read's or a write's result says about the connection. */
static void after_io(struct rec_net *r, int fd, int kind, ssize_t rc, int flags)
{
	if (flags & MSG_PEEK)
		return;
	if (rc == 0 && kind == SD_REC_IN)
		put(r, SD_REC_EOF, fd, NULL, 0, 0);
	else if (rc == -ECONNRESET || rc == -EPIPE)
		put(r, SD_REC_RESET, fd, NULL, 0, kind == SD_REC_IN ? 0 : 1);
}

static int rec_accept(void *state, int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	struct rec_net *r = R(state);
	int nfd = sd_accept(&r->inner, fd, a, l, flags);
	if (nfd < 0 || nfd >= SD_REC_FDS || !conns)
		return nfd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int port = 0, family = AF_INET;
	if (sd_getsockname(&r->inner, nfd, (struct sockaddr *)&ss, &sl) == 0) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		/* a dual-stack listener's IPv4 client: the client spoke IPv4 */
		family = ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)
				 ? AF_INET
				 : ss.ss_family;
		port = sd_addr_port((struct sockaddr *)&ss, sl);
	}
	pthread_mutex_lock(&r->lock);
	conns[nfd] = (struct conn_id){.apid = r->pid, .conn = ++r->conns};
	pthread_mutex_unlock(&r->lock);
	uint16_t p16 = (uint16_t)port;
	put(r, SD_REC_ACCEPT, nfd, &p16, sizeof p16, family);
	return nfd;
}

static ssize_t rec_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct rec_net *r = R(state);
	ssize_t rc = sd_send(&r->inner, fd, buf, len, flags);
	if (rc > 0)
		put(r, SD_REC_OUT, fd, buf, (size_t)rc, 0);
	after_io(r, fd, SD_REC_OUT, rc, 0);
	return rc;
}

static ssize_t rec_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct rec_net *r = R(state);
	ssize_t rc = sd_recv(&r->inner, fd, buf, len, flags);
	if (rc > 0 && !(flags & MSG_PEEK))
		put(r, SD_REC_IN, fd, buf, (size_t)rc, 0);
	after_io(r, fd, SD_REC_IN, rc, flags);
	return rc;
}

static ssize_t rec_sendmsg(void *state, int fd, const struct msghdr *m, int flags)
{
	struct rec_net *r = R(state);
	ssize_t rc = sd_sendmsg(&r->inner, fd, m, flags);
	if (rc > 0)
		put_iov(r, SD_REC_OUT, fd, m, (size_t)rc);
	after_io(r, fd, SD_REC_OUT, rc, 0);
	return rc;
}

static ssize_t rec_recvmsg(void *state, int fd, struct msghdr *m, int flags)
{
	struct rec_net *r = R(state);
	ssize_t rc = sd_recvmsg(&r->inner, fd, m, flags);
	if (rc > 0 && !(flags & MSG_PEEK))
		put_iov(r, SD_REC_IN, fd, m, (size_t)rc);
	after_io(r, fd, SD_REC_IN, rc, flags);
	return rc;
}

static int rec_shutdown(void *state, int fd, int how)
{
	struct rec_net *r = R(state);
	int rc = sd_shutdown(&r->inner, fd, how);
	if (rc == 0)
		put(r, SD_REC_SHUTDOWN, fd, NULL, 0, how);
	return rc;
}

static int rec_close(void *state, int fd)
{
	struct rec_net *r = R(state);
	put(r, SD_REC_CLOSE, fd, NULL, 0, 0);
	if ((unsigned)fd < SD_REC_FDS && conns) {
		pthread_mutex_lock(&r->lock);
		conns[fd] = (struct conn_id){0};
		pthread_mutex_unlock(&r->lock);
	}
	return sd_close(&r->inner, fd);
}

/* The rest is forwarded as it is. */
static int rec_socket(void *s, int d, int t, int p) { return sd_socket(&R(s)->inner, d, t, p); }
static int rec_bind(void *s, int fd, const struct sockaddr *a, socklen_t l)
{
	return sd_bind(&R(s)->inner, fd, a, l);
}
static int rec_listen(void *s, int fd, int b) { return sd_listen(&R(s)->inner, fd, b); }
static int rec_connect(void *s, int fd, const struct sockaddr *a, socklen_t l)
{
	return sd_connect(&R(s)->inner, fd, a, l);
}
/* SO_LINGER with 0 s makes the server's close a reset, which the client then reads. */
static int rec_setsockopt(void *s, int fd, int lv, int n, const void *v, socklen_t l)
{
	int rc = sd_setsockopt(&R(s)->inner, fd, lv, n, v, l);
	if (rc == 0 && lv == SOL_SOCKET && n == SO_LINGER && v && l >= sizeof(struct linger)) {
		const struct linger *lg = v;
		put(R(s), SD_REC_LINGER0, fd, NULL, 0, lg->l_onoff && !lg->l_linger);
	}
	return rc;
}
static int rec_getsockopt(void *s, int fd, int lv, int n, void *v, socklen_t *l)
{
	return sd_getsockopt(&R(s)->inner, fd, lv, n, v, l);
}
static int rec_getsockname(void *s, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd_getsockname(&R(s)->inner, fd, a, l);
}
static int rec_getpeername(void *s, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd_getpeername(&R(s)->inner, fd, a, l);
}
static int rec_poll(void *s, struct pollfd *p, nfds_t n, int t)
{
	return sd_poll(&R(s)->inner, p, n, t);
}
static int rec_set_nonblocking(void *s, int fd, int on)
{
	return sd_set_nonblocking(&R(s)->inner, fd, on);
}
static int rec_spawn(void *s, const char *name, void (*fn)(void *), void *arg)
{
	return sd_spawn(&R(s)->inner, name, fn, arg);
}
static int rec_join(void *s, int id) { return sd_join(&R(s)->inner, id); }
static int rec_sleep_ns(void *s, int64_t ns) { return sd_sleep_ns(&R(s)->inner, ns); }
static int64_t rec_now_ns(void *s) { return sd_now_ns(&R(s)->inner); }
static unsigned rec_caps(void *s) { return sd_caps(&R(s)->inner); }
static int rec_join_until(void *s, int id, int64_t deadline_ns)
{
	return sd_join_until(&R(s)->inner, id, deadline_ns);
}
static const char *rec_actor_name(void *s) { return sd_actor_name(&R(s)->inner); }
static int rec_ioctl(void *s, int fd, unsigned long req, int *v)
{
	return sd_ioctl(&R(s)->inner, fd, req, v);
}
static int rec_epoll_create(void *s, int f) { return sd_epoll_create(&R(s)->inner, f); }
static int rec_epoll_ctl(void *s, int ep, int op, int fd, struct epoll_event *ev)
{
	return sd_epoll_ctl(&R(s)->inner, ep, op, fd, ev);
}
static int rec_epoll_wait(void *s, int ep, struct epoll_event *ev, int max, int t)
{
	return sd_epoll_wait(&R(s)->inner, ep, ev, max, t);
}
static int rec_wake(void *s, int fd, short ev)
{
	return R(s)->inner.ops->wake(R(s)->inner.state, fd, ev);
}
static int rec_note(void *s, const char *text)
{
	return R(s)->inner.ops->note(R(s)->inner.state, text);
}
/* A duplicate is the same connection: its records name it as the original's do. */
static void rec_copy_conn(struct rec_net *r, int fd, int nfd)
{
	if ((unsigned)fd >= SD_REC_FDS || (unsigned)nfd >= SD_REC_FDS || !conns)
		return;
	pthread_mutex_lock(&r->lock);
	conns[nfd] = conns[fd];
	pthread_mutex_unlock(&r->lock);
}
static int rec_dup(void *s, int fd)
{
	int nfd = R(s)->inner.ops->version < 5 ? -EOPNOTSUPP : sd_dup(&R(s)->inner, fd);
	if (nfd >= 0)
		rec_copy_conn(R(s), fd, nfd);
	return nfd;
}
/* dup3 over a recorded connection's descriptor closes that descriptor first, as close does. */
static int rec_dup3(void *s, int fd, int nfd, int flags)
{
	struct rec_net *r = R(s);
	int rc = r->inner.ops->version < 6 ? -EOPNOTSUPP : sd_dup3(&r->inner, fd, nfd, flags);
	if (rc < 0)
		return rc;
	if ((unsigned)nfd < SD_REC_FDS && conns && conns[nfd].conn)
		put(r, SD_REC_CLOSE, nfd, NULL, 0, 0);
	rec_copy_conn(r, fd, nfd);
	return rc;
}
static int rec_create(const struct sd_config *cfg, void **state)
{
	(void)cfg, (void)state;
	return -EINVAL; /* made by sd__record_wrap only */
}
static void rec_destroy(void *state) { (void)state; /* lives as long as the process */ }

static const struct sd_ops rec_ops = {
	.version = SD_OPS_VERSION,
	.name = "record",
	.create = rec_create,
	.destroy = rec_destroy,
	.socket = rec_socket,
	.bind = rec_bind,
	.listen = rec_listen,
	.accept = rec_accept,
	.connect = rec_connect,
	.send = rec_send,
	.recv = rec_recv,
	.sendmsg = rec_sendmsg,
	.recvmsg = rec_recvmsg,
	.shutdown = rec_shutdown,
	.close = rec_close,
	.setsockopt = rec_setsockopt,
	.getsockopt = rec_getsockopt,
	.getsockname = rec_getsockname,
	.getpeername = rec_getpeername,
	.poll = rec_poll,
	.set_nonblocking = rec_set_nonblocking,
	.spawn = rec_spawn,
	.join = rec_join,
	.sleep_ns = rec_sleep_ns,
	.now_ns = rec_now_ns,
	.epoll_create = rec_epoll_create,
	.epoll_ctl = rec_epoll_ctl,
	.epoll_wait = rec_epoll_wait,
	.wake = rec_wake,
	.note = rec_note,
	.dup = rec_dup,
	.dup3 = rec_dup3,
	.caps = rec_caps,
	.join_until = rec_join_until,
	.actor_name = rec_actor_name,
	.ioctl = rec_ioctl,
};

static void fork_prepare(void) { pthread_mutex_lock(&the->lock); }
static void fork_parent(void) { pthread_mutex_unlock(&the->lock); }
static void fork_child(void)
{
	/* a worker of its own: its pid in its records, its own bound; the file stays shared */
	the->pid = (pid_t)syscall(SYS_getpid);
	the->written = 0;
	the->conns = 0;
	pthread_mutex_unlock(&the->lock);
}

int sd__record_wanted(void)
{
	const char *p = getenv("SOCKDRILL_RECORD");
	return p && *p;
}

struct sd_net *sd__record_wrap(struct sd_net *inner)
{
	static struct rec_net rec;
	static struct sd_net net;
	const char *p = getenv("SOCKDRILL_RECORD"), *m = getenv("SOCKDRILL_RECORD_MAX");
	if (!p || !*p || strlen(p) >= sizeof rec.path)
		return inner;
	conns = mmap(NULL, SD_REC_FDS * sizeof *conns, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (conns == MAP_FAILED) {
		conns = NULL;
		return inner;
	}
	rec.inner = *inner;
	snprintf(rec.path, sizeof rec.path, "%s", p);
	rec.fd = -1;
	rec.pid = (pid_t)syscall(SYS_getpid);
	rec.max = SD_REC_MAX_BYTES;
	if (m && *m) {
		unsigned long long v = strtoull(m, NULL, 10);
		if (v > 0 && v < rec.max)
			rec.max = v;
	}
	pthread_mutex_init(&rec.lock, NULL);
	/* opened now, while the program still has the rights it started with: a server started
	 * as root that then drops them (mosquitto to its own user) could not open the file later */
	rec_fd(&rec);
	the = &rec;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	net = (struct sd_net){.ops = &rec_ops, .state = &rec};
	return &net;
}
