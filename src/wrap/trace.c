/* sockdrill: the `trace` wrapper's table: each call forwarded, then one line for it, written
 * when there is a file and hashed either way (include/sockdrill/trace.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include <sockdrill/addr.h>
#include <sockdrill/errors.h>

#include "../util/libc.h"
#include "../util/sockopts.h"
#include "../util/util.h"
#include "trace_int.h"

#define IN(t) ((t)->inner)
/* The C library's lock, never an interposer's: in-process, the layer makes pthread mutexes
 * actor locks that may let another actor run, and a trace must not change the schedule. */
#define LOCK(t)    SD__LIBC_FN(pthread_mutex_lock)(&(t)->m)
#define UNLOCK(t)  SD__LIBC_FN(pthread_mutex_unlock)(&(t)->m)
#define MAX_PIECES 1024 /* UIO_MAXIOV: a sendmsg or recvmsg with more never reaches a socket */

/* ---- lines -------------------------------------------------------------------------------- */

/* Every line is hashed (FNV-1a from 0), and written when there is a file; with a sink, the
 * call it describes (c; NULL for a note, whose text follows the head) goes there too, in the
 * lines' order. */
static void emit(struct tstate *t, const char *line, int headlen, const struct tcall *c,
		 long result, int64_t now)
{
	LOCK(t);
	for (const char *p = line; *p; p++)
		t->hash = (t->hash ^ (unsigned char)*p) * 0x100000001b3ull;
	if (t->f)
		fputs(line, t->f);
	if (t->sink)
		trace__sink(t, line, headlen, c, result, now);
	UNLOCK(t);
}

/* A call about to be forwarded: with a sink, the time and step it starts at. */
static struct tcall begin(struct tstate *t, int fd)
{
	struct tcall c = {.fd = fd, .step = -1};
	if (t->sink) {
		c.start = sd_now_ns(IN(t));
		LOCK(t);
		c.step = t->step;
		UNLOCK(t);
	}
	return c;
}

/* "SEC.NSEC ACTOR " into line: the time and actor as inner has them now, after the call. */
static int head(struct tstate *t, char *line, size_t size, int64_t *at)
{
	int64_t now = *at = sd_now_ns(IN(t));
	return snprintf(line, size, "%lld.%09lld %s ", (long long)(now / 1000000000),
			(long long)(now % 1000000000), sd_actor_name(IN(t)));
}

/* One call's line: the head, the call as fmt says, " = " and its result. A line longer than
 * the buffer is cut, without its result. */
__attribute__((format(printf, 4, 5))) static void line(struct tstate *t, const struct tcall *c,
						       long result, const char *fmt, ...)
{
	char text[512], res[48];
	va_list ap;
	int64_t now;
	int n = head(t, text, sizeof text, &now), h = n;
	if (n < 0 || n >= (int)sizeof text)
		return;
	va_start(ap, fmt);
	n += vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof text)
		snprintf(text + n, sizeof text - (size_t)n, " = %s\n",
			 sd_result_format(result, res, sizeof res));
	emit(t, text, h, c, result, now);
}

/* ---- descriptors' families ---------------------------------------------------------------- */

int trace__family(struct tstate *t, int fd)
{
	LOCK(t);
	int fam = fd >= 0 && fd < t->nfam ? t->fam[fd] : 0;
	UNLOCK(t);
	return fam;
}

/* fd is now a socket of family fam (0: not a socket the wrapper knows, or closed). */
static void set_family(struct tstate *t, int fd, int fam)
{
	if (fd < 0)
		return;
	LOCK(t);
	if (fd >= t->nfam && fam) {
		int cap = t->nfam ? t->nfam : 64;
		while (cap <= fd)
			cap *= 2;
		unsigned char *p = realloc(t->fam, (size_t)cap);
		if (p) {
			memset(p + t->nfam, 0, (size_t)(cap - t->nfam));
			t->fam = p, t->nfam = cap;
		}
	}
	if (fd < t->nfam)
		t->fam[fd] = (unsigned char)fam;
	UNLOCK(t);
}

/* ---- the table's members ------------------------------------------------------------------ */

static int trace_create(const struct sd_config *cfg, void **state)
{
	(void)cfg, (void)state;
	return -EINVAL; /* made by sd_trace_wrap, around an instance, not by name */
}

static void trace_destroy(void *state)
{
	struct tstate *t = state;
	SD__LIBC_FN(pthread_mutex_destroy)(&t->m);
	free(t->fam);
	free(t);
}

static int trace_socket(void *state, int domain, int type, int protocol)
{
	struct tstate *t = state;
	struct tcall c = begin(t, -1);
	int fd = sd_socket(IN(t), domain, type, protocol);
	if (fd >= 0)
		set_family(t, fd, domain == AF_INET6 || domain == AF_INET ? domain : 0);
	line(t, &c, fd, "socket(%s, SOCK_STREAM%s)", domain == AF_INET6 ? "AF_INET6" : "AF_INET",
	     type & SOCK_NONBLOCK ? "|SOCK_NONBLOCK" : "");
	return fd;
}

static int trace_bind(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct tstate *t = state;
	char b[SD_ADDR_STRLEN];
	struct tcall c = begin(t, fd);
	int rc = sd_bind(IN(t), fd, a, len);
	line(t, &c, rc, "bind(%d, %s)", fd, trace__bind_addr(t, fd, a, len, rc, b, sizeof b));
	return rc;
}

static int trace_listen(void *state, int fd, int backlog)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_listen(IN(t), fd, backlog);
	line(t, &c, rc, "listen(%d, %d)", fd, backlog);
	return rc;
}

static int trace_accept(void *state, int fd, struct sockaddr *a, socklen_t *len, int flags)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_accept(IN(t), fd, a, len, flags);
	if (rc >= 0)
		set_family(t, rc, trace__family(t, fd));
	line(t, &c, rc, "accept(%d%s)", fd, flags & SOCK_NONBLOCK ? ", SOCK_NONBLOCK" : "");
	return rc;
}

static int trace_connect(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct tstate *t = state;
	char b[SD_ADDR_STRLEN];
	struct tcall c = begin(t, fd);
	int rc = sd_connect(IN(t), fd, a, len);
	line(t, &c, rc, "connect(%d, %s)", fd, trace__connect_addr(t, fd, a, len, rc, b, sizeof b));
	return rc;
}

static ssize_t trace_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	ssize_t rc = sd_send(IN(t), fd, buf, len, flags);
	c.data = buf, c.ndata = rc > 0 ? (size_t)rc : 0;
	line(t, &c, rc, "send(%d, %zu bytes, 0x%x)", fd, len, (unsigned)flags);
	return rc;
}

static ssize_t trace_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	ssize_t rc = sd_recv(IN(t), fd, buf, len, flags);
	c.data = buf, c.ndata = rc > 0 ? (size_t)rc : 0;
	line(t, &c, rc, "recv(%d, %zu, 0x%x)", fd, len, (unsigned)flags);
	return rc;
}

static ssize_t trace_sendmsg(void *state, int fd, const struct msghdr *m, int flags)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	ssize_t rc = sd_sendmsg(IN(t), fd, m, flags);
	c.msg = m, c.ndata = rc > 0 ? (size_t)rc : 0;
	/* refused before any socket was looked at: no call to show (as a backend counts none) */
	if (!m || m->msg_iovlen > MAX_PIECES || (m->msg_name && rc == -EPERM))
		return rc;
	line(t, &c, rc, "sendmsg(%d, %zu bytes, 0x%x)", fd, sd__iov_sum(m->msg_iov, m->msg_iovlen),
	     (unsigned)flags);
	return rc;
}

static ssize_t trace_recvmsg(void *state, int fd, struct msghdr *m, int flags)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	ssize_t rc = sd_recvmsg(IN(t), fd, m, flags);
	c.msg = m, c.ndata = rc > 0 ? (size_t)rc : 0;
	if (!m || m->msg_iovlen > MAX_PIECES)
		return rc;
	line(t, &c, rc, "recvmsg(%d, %zu, 0x%x)", fd, sd__iov_sum(m->msg_iov, m->msg_iovlen),
	     (unsigned)flags);
	return rc;
}

static int trace_shutdown(void *state, int fd, int how)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_shutdown(IN(t), fd, how);
	line(t, &c, rc, "shutdown(%d, %d)", fd, how);
	return rc;
}

static int trace_close(void *state, int fd)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_close(IN(t), fd);
	if (rc == 0)
		set_family(t, fd, 0);
	line(t, &c, rc, "close(%d)", fd);
	return rc;
}

static int trace_setsockopt(void *state, int fd, int level, int name, const void *v, socklen_t l)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_setsockopt(IN(t), fd, level, name, v, l);
	line(t, &c, rc, "setsockopt(%d, %d, %d, %d)", fd, level, name,
	     trace__set_value(level, name, v, l, rc));
	return rc;
}

static int trace_getsockopt(void *state, int fd, int level, int name, void *v, socklen_t *l)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_getsockopt(IN(t), fd, level, name, v, l);
	line(t, &c, rc, "getsockopt(%d, %d, %d) -> %d", fd, level, name,
	     trace__get_value(level, name, v, l, rc));
	return rc;
}

static int trace_getsockname(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_getsockname(IN(t), fd, a, len);
	line(t, &c, rc, "getsockname(%d)", fd);
	return rc;
}

static int trace_getpeername(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_getpeername(IN(t), fd, a, len);
	line(t, &c, rc, "getpeername(%d)", fd);
	return rc;
}

static int trace_poll(void *state, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct tstate *t = state;
	struct tcall c = begin(t, -1);
	int rc = sd_poll(IN(t), fds, n, timeout_ms);
	line(t, &c, rc, "poll(%lu fds, %d ms)", (unsigned long)n, timeout_ms);
	return rc;
}

static int trace_set_nonblocking(void *state, int fd, int on)
{
	struct tstate *t = state;
	struct tcall c = begin(t, fd);
	int rc = sd_set_nonblocking(IN(t), fd, on);
	line(t, &c, rc, "set_nonblocking(%d, %d)", fd, on);
	return rc;
}

static int trace_spawn(void *state, const char *name, void (*fn)(void *), void *arg)
{
	struct tstate *t = state;
	struct tcall c = begin(t, -1);
	int rc = sd_spawn(IN(t), name, fn, arg);
	line(t, &c, rc, "spawn(%s)", name ? name : "actor");
	return rc;
}

static int trace_join(void *state, int id)
{
	struct tstate *t = state;
	struct tcall c = begin(t, -1);
	int rc = sd_join(IN(t), id);
	line(t, &c, rc, "join(%d)", id);
	return rc;
}

static int trace_sleep_ns(void *state, int64_t ns)
{
	struct tstate *t = state;
	struct tcall c = begin(t, -1);
	int rc = sd_sleep_ns(IN(t), ns);
	line(t, &c, rc, "sleep(%lld ns)", (long long)ns);
	return rc;
}

static int64_t trace_now_ns(void *state) { return sd_now_ns(IN((struct tstate *)state)); }

/* Members of a later version than inner's table: what sd_no_* would say, without a line. */
static int below(const struct tstate *t, int version) { return t->inner->ops->version < version; }

static int trace_epoll_create(void *state, int flags)
{
	struct tstate *t = state;
	if (below(t, 3))
		return -EOPNOTSUPP;
	struct tcall c = begin(t, -1);
	int fd = sd_epoll_create(IN(t), flags);
	set_family(t, fd, 0);
	line(t, &c, fd, "epoll_create(%s)", flags & EPOLL_CLOEXEC ? "EPOLL_CLOEXEC" : "0");
	return fd;
}

static int trace_epoll_ctl(void *state, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct tstate *t = state;
	if (below(t, 3))
		return -EOPNOTSUPP;
	struct tcall c = begin(t, epfd);
	int rc = sd_epoll_ctl(IN(t), epfd, op, fd, ev);
	line(t, &c, rc, "epoll_ctl(%d, %s, %d, 0x%x)", epfd,
	     op == EPOLL_CTL_ADD   ? "ADD"
	     : op == EPOLL_CTL_MOD ? "MOD"
	     : op == EPOLL_CTL_DEL ? "DEL"
				   : "?",
	     fd, ev && op != EPOLL_CTL_DEL ? ev->events : 0u);
	return rc;
}

static int trace_epoll_wait(void *state, int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
	struct tstate *t = state;
	if (below(t, 3))
		return -EOPNOTSUPP;
	struct tcall c = begin(t, epfd);
	int rc = sd_epoll_wait(IN(t), epfd, ev, max, timeout_ms);
	line(t, &c, rc, "epoll_wait(%d, %d, %d ms)", epfd, max, timeout_ms);
	return rc;
}

static int trace_wake(void *state, int fd, short events)
{
	struct tstate *t = state;
	if (below(t, 4))
		return -EOPNOTSUPP;
	struct tcall c = begin(t, fd);
	int rc = sd_wake(IN(t), fd, events);
	if (fd < 0) /* a wrapper above asking whether the member works: not a call to show */
		return rc;
	char ev[16];
	/* POLLIN, POLLOUT or both by name, as the wrappers wake; anything else as a number */
	if (events && !(events & ~(POLLIN | POLLOUT)))
		sd__pollflags_show((unsigned short)events, SD__PF_POLL, "POLL", ev, sizeof ev);
	else
		snprintf(ev, sizeof ev, "0x%x", (unsigned)(unsigned short)events);
	line(t, &c, rc, "wake(%d, %s)", fd, ev);
	return rc;
}

/* A note is a line of its own, in order with the calls; it goes on to inner, which may keep a
 * record too (another trace below), and whose answer does not matter here. */
static int trace_note(void *state, const char *text)
{
	struct tstate *t = state;
	char text_line[512];
	if (!text || strchr(text, '\n'))
		return -EINVAL;
	int64_t now;
	int n = head(t, text_line, sizeof text_line, &now);
	if (n >= 0 && n < (int)sizeof text_line) {
		snprintf(text_line + n, sizeof text_line - (size_t)n, "%s\n", text);
		emit(t, text_line, n, NULL, 0, now);
	}
	if (!below(t, 4))
		sd_note(IN(t), text);
	return 0;
}

static int trace_dup(void *state, int fd)
{
	struct tstate *t = state;
	if (below(t, 5))
		return -EOPNOTSUPP;
	struct tcall c = begin(t, fd);
	int rc = sd_dup(IN(t), fd);
	if (rc >= 0)
		set_family(t, rc, trace__family(t, fd));
	line(t, &c, rc, "dup(%d)", fd);
	return rc;
}

static int trace_dup3(void *state, int oldfd, int newfd, int flags)
{
	struct tstate *t = state;
	if (below(t, 6))
		return -EOPNOTSUPP;
	struct tcall c = begin(t, oldfd);
	int rc = sd_dup3(IN(t), oldfd, newfd, flags);
	if (rc >= 0)
		set_family(t, newfd, trace__family(t, oldfd));
	line(t, &c, rc, "dup3(%d, %d, %#x)", oldfd, newfd, (unsigned)flags);
	return rc;
}

static unsigned trace_caps(void *state) { return sd_caps(IN((struct tstate *)state)); }

static int trace_join_until(void *state, int id, int64_t deadline_ns)
{
	return sd_join_until(IN((struct tstate *)state), id, deadline_ns);
}

static const char *trace_actor_name(void *state)
{
	return sd_actor_name(IN((struct tstate *)state));
}

/* "ioctl(FD, SIOCINQ) = N": the count a call gives is its result in the line (FIONREAD is
 * SIOCINQ's other name, the same number, so it reads SIOCINQ). */
static int trace_ioctl(void *state, int fd, unsigned long request, int *value)
{
	struct tstate *t = state;
	char req[24];
	struct tcall c = begin(t, fd);
	int rc = sd_ioctl(IN(t), fd, request, value);
	if (request == SIOCINQ || request == SIOCOUTQ)
		snprintf(req, sizeof req, "%s", request == SIOCINQ ? "SIOCINQ" : "SIOCOUTQ");
	else
		snprintf(req, sizeof req, "%#lx", request);
	line(t, &c, rc < 0 ? rc : *value, "ioctl(%d, %s)", fd, req);
	return rc;
}

const struct sd_ops sd_trace_ops = {
	.version = SD_OPS_VERSION,
	.name = "trace",
	.create = trace_create,
	.destroy = trace_destroy,
	.socket = trace_socket,
	.bind = trace_bind,
	.listen = trace_listen,
	.accept = trace_accept,
	.connect = trace_connect,
	.send = trace_send,
	.recv = trace_recv,
	.sendmsg = trace_sendmsg,
	.recvmsg = trace_recvmsg,
	.shutdown = trace_shutdown,
	.close = trace_close,
	.setsockopt = trace_setsockopt,
	.getsockopt = trace_getsockopt,
	.getsockname = trace_getsockname,
	.getpeername = trace_getpeername,
	.poll = trace_poll,
	.set_nonblocking = trace_set_nonblocking,
	.spawn = trace_spawn,
	.join = trace_join,
	.sleep_ns = trace_sleep_ns,
	.now_ns = trace_now_ns,
	.epoll_create = trace_epoll_create,
	.epoll_ctl = trace_epoll_ctl,
	.epoll_wait = trace_epoll_wait,
	.wake = trace_wake,
	.note = trace_note,
	.dup = trace_dup,
	.dup3 = trace_dup3,
	.caps = trace_caps,
	.join_until = trace_join_until,
	.actor_name = trace_actor_name,
	.ioctl = trace_ioctl,
};

/* ---- the API ------------------------------------------------------------------------------ */

int sd_trace_wrap(struct sd_net *out, struct sd_net *inner, FILE *f)
{
	if (!out || !inner || !inner->ops || inner->ops->version < 2)
		return -EINVAL;
	struct tstate *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->inner = inner;
	t->f = f;
	t->step = -1;
	SD__LIBC_FN(pthread_mutex_init)(&t->m, NULL);
	out->ops = &sd_trace_ops;
	out->state = t;
	return 0;
}

int sd_trace_set_sink(struct sd_net *traced, sd_trace_sink fn, void *ctx)
{
	if (!traced || traced->ops != &sd_trace_ops)
		return -EINVAL;
	struct tstate *t = traced->state;
	LOCK(t);
	t->sink = fn, t->sink_ctx = ctx;
	UNLOCK(t);
	return 0;
}

void sd_trace_set_step(struct sd_net *traced, int step)
{
	if (!traced || traced->ops != &sd_trace_ops)
		return;
	struct tstate *t = traced->state;
	LOCK(t);
	t->step = step;
	UNLOCK(t);
}

uint64_t sd_trace_hash(struct sd_net *traced)
{
	if (!traced || traced->ops != &sd_trace_ops)
		return 0;
	struct tstate *t = traced->state;
	LOCK(t);
	uint64_t h = t->hash;
	UNLOCK(t);
	return h;
}

struct sd_net *sd_trace_unwrap(struct sd_net *traced)
{
	if (!traced || traced->ops != &sd_trace_ops)
		return NULL;
	return ((struct tstate *)traced->state)->inner;
}
