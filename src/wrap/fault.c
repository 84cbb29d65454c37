/* sockdrill: the `fault` wrapper's table: each call decided (fault_inject.c), then forwarded. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "../util/util.h"
#include "fault_int.h"

/* slice: the write goes out in the decision's pieces, SD_FAULT_SLICE_GAP_NS apart; it ends
 * early only as a send would (room short, an error after some bytes went). */
static ssize_t sliced(struct fstate *f, int fd, const char *buf, size_t len, int flags,
		      const struct sd_fault_decision *d)
{
	size_t done = 0;
	for (unsigned i = 0; done < len; i++) {
		size_t n = sd_fault_slice_piece(d, i);
		if (i)
			sd_sleep_ns(IN(f), SD_FAULT_SLICE_GAP_NS);
		n = n < len - done ? n : len - done;
		ssize_t k = sd_send(IN(f), fd, buf + done, n, flags);
		if (k < 0)
			return done ? (ssize_t)done : k;
		done += (size_t)k;
		if ((size_t)k < n)
			break;
	}
	return (ssize_t)done;
}

/* A sliced sendmsg: its bytes gathered, then sent as one sliced write (TCP keeps no message
 * boundaries); one with control data goes out whole. */
static ssize_t sliced_msg(struct fstate *f, int fd, const struct msghdr *m, size_t len, int flags,
			  const struct sd_fault_decision *d)
{
	if (m->msg_controllen)
		return sd_sendmsg(IN(f), fd, m, flags);
	char *buf = malloc(len), *p = buf;
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < m->msg_iovlen; i++) {
		memcpy(p, m->msg_iov[i].iov_base, m->msg_iov[i].iov_len);
		p += m->msg_iov[i].iov_len;
	}
	ssize_t k = sliced(f, fd, buf, len, flags, d);
	free(buf);
	return k;
}

static int fault_create(const struct sd_config *cfg, void **state)
{
	(void)cfg, (void)state;
	return -EINVAL; /* made by sd_fault_wrap, around an instance, not by name */
}

static void fault_destroy(void *state)
{
	struct fstate *f = state;
	pthread_mutex_destroy(&f->m);
	free(f->fds);
	free(f);
}

static int fault_socket(void *state, int domain, int type, int protocol)
{
	struct fstate *f = state;
	int fd = fault__call_fault(f, SD_OP_SOCKET, "socket");
	if (fd < 0)
		return fd;
	fd = sd_socket(IN(f), domain, type, protocol);
	if (fd >= 0) {
		pthread_mutex_lock(&f->m);
		struct finfo *i = fault__info(f, fd);
		if (i)
			*i = (struct finfo){.nonblock = (type & SOCK_NONBLOCK) != 0};
		pthread_mutex_unlock(&f->m);
	}
	return fd;
}

static int fault_bind(void *state, int fd, const struct sockaddr *a, socklen_t l)
{
	return sd_bind(IN((struct fstate *)state), fd, a, l);
}

static int fault_listen(void *state, int fd, int backlog)
{
	struct fstate *f = state;
	int rc = sd_listen(IN(f), fd, backlog);
	if (rc == 0) {
		pthread_mutex_lock(&f->m);
		struct finfo *i = fault__info(f, fd);
		if (i && (!i->conn || (i->conn & (0xffull << 56)) == SD_CONN_SOCKET)) {
			i->conn = SD_CONN_LISTENER | ++f->listeners;
			i->pid = f->hooks.pid;
		}
		pthread_mutex_unlock(&f->m);
	}
	return rc;
}

static int fault_accept(void *state, int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	struct fstate *f = state;
	struct sd_fault_decision d;
	short wake;
	int rc = fault__pre(f, fd, SD_OP_ACCEPT, 0, 0, "accept", &d, &wake);
	if (rc < 0)
		return rc;
	int nfd = sd_accept(IN(f), fd, a, l, flags);
	if (nfd >= 0) {
		pthread_mutex_lock(&f->m);
		struct finfo *i = fault__info(f, nfd);
		if (i)
			*i = (struct finfo){.conn = SD_CONN_ACCEPTED | ++f->accepted,
					    .pid = f->hooks.pid,
					    .nonblock = (flags & SOCK_NONBLOCK) != 0};
		pthread_mutex_unlock(&f->m);
	}
	return nfd;
}

static int fault_connect(void *state, int fd, const struct sockaddr *a, socklen_t l)
{
	struct fstate *f = state;
	struct sd_fault_decision d;
	if (a && l >= sizeof(sa_family_t) && a->sa_family == AF_UNSPEC)
		return sd_connect(IN(f), fd, a, l);
	short wake;
	int rc = fault__pre(f, fd, SD_OP_CONNECT, 0, 0, "connect", &d, &wake);
	return rc < 0 ? rc : sd_connect(IN(f), fd, a, l);
}

static ssize_t fault_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct fstate *f = state;
	struct sd_fault_decision d;
	short wake;
	if (fault__quiet(f, fd, SD_OP_WRITE, flags & MSG_DONTWAIT, len))
		return sd_send(IN(f), fd, buf, len, flags);
	int rc = fault__pre(f, fd, SD_OP_WRITE, flags & MSG_DONTWAIT, len, "send", &d, &wake);
	if (rc < 0)
		return rc;
	ssize_t k = d.slice ? sliced(f, fd, buf, d.len, flags, &d)
			    : sd_send(IN(f), fd, buf, d.len, flags);
	fault__post(f, fd, wake);
	fault__pace(f, fd, &d, k, 0);
	return k;
}

static ssize_t fault_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct fstate *f = state;
	struct sd_fault_decision d;
	short wake;
	ssize_t k;
	if (fault__quiet(f, fd, SD_OP_READ, flags & MSG_DONTWAIT, len)) {
		if ((k = sd_recv(IN(f), fd, buf, len, flags)) > 0)
			fault__note_read(f, fd, (size_t)k, flags & MSG_PEEK);
		return k;
	}
	int rc = fault__pre(f, fd, SD_OP_READ, flags & MSG_DONTWAIT, len, "recv", &d, &wake);
	if (rc < 0 || d.eof)
		return rc;
	k = sd_recv(IN(f), fd, buf, d.len, flags);
	if (k > 0)
		fault__note_read(f, fd, (size_t)k, flags & MSG_PEEK);
	fault__post(f, fd, wake);
	fault__pace(f, fd, &d, k, flags & MSG_PEEK);
	return k;
}

/* A copy of msg whose iovecs cover only the first `len` bytes (a short read or write). */
static struct iovec *trim(const struct msghdr *msg, size_t len, struct msghdr *out)
{
	struct iovec *v = malloc((msg->msg_iovlen ? msg->msg_iovlen : 1) * sizeof *v);
	size_t n = 0;
	if (!v)
		return NULL;
	*out = *msg;
	for (size_t i = 0; i < msg->msg_iovlen && len; i++, n++) {
		v[n] = msg->msg_iov[i];
		if (v[n].iov_len > len)
			v[n].iov_len = len;
		len -= v[n].iov_len;
	}
	out->msg_iov = v;
	out->msg_iovlen = n;
	return v;
}

static size_t msg_len(const struct msghdr *msg)
{
	return msg ? sd__iov_sum(msg->msg_iov, msg->msg_iovlen) : 0;
}

/* sendmsg and recvmsg: the same decision, then the call on a trimmed copy when short. */
static ssize_t msg_call(struct fstate *f, int fd, struct msghdr *msg, int flags,
			enum sd_fault_op op)
{
	struct sd_fault_decision d = {0};
	size_t len = msg_len(msg);
	short wake = 0;
	struct msghdr m = *msg;
	struct iovec *v = NULL;
	int calm = fault__quiet(f, fd, op, flags & MSG_DONTWAIT, len);
	if (!calm) {
		int rc = fault__pre(f, fd, op, flags & MSG_DONTWAIT, len,
				    op == SD_OP_READ ? "recvmsg" : "sendmsg", &d, &wake);
		if (rc < 0 || d.eof)
			return rc;
		if (d.len != len && !(v = trim(msg, d.len, &m)))
			return -ENOMEM;
	}
	ssize_t k = op == SD_OP_READ ? sd_recvmsg(IN(f), fd, &m, flags)
		    : d.slice        ? sliced_msg(f, fd, &m, d.len, flags, &d)
				     : sd_sendmsg(IN(f), fd, &m, flags);
	if (op == SD_OP_READ && k > 0)
		fault__note_read(f, fd, (size_t)k, flags & MSG_PEEK);
	if (op == SD_OP_READ) {
		msg->msg_namelen = m.msg_namelen;
		msg->msg_controllen = m.msg_controllen;
		msg->msg_flags = m.msg_flags;
	}
	if (calm)
		return k;
	free(v);
	fault__post(f, fd, wake);
	fault__pace(f, fd, &d, k, op == SD_OP_READ && (flags & MSG_PEEK));
	return k;
}

static ssize_t fault_sendmsg(void *state, int fd, const struct msghdr *msg, int flags)
{
	return msg_call(state, fd, (struct msghdr *)msg, flags, SD_OP_WRITE);
}

static ssize_t fault_recvmsg(void *state, int fd, struct msghdr *msg, int flags)
{
	return msg_call(state, fd, msg, flags, SD_OP_READ);
}

static int fault_shutdown(void *state, int fd, int how)
{
	fault__slow_close(state, fd, "shutdown");
	return sd_shutdown(IN((struct fstate *)state), fd, how);
}

/* Forgets the socket before its number is released: the moment it is, another thread's
 * socket or accept can get the same number, and that socket's state must not be wiped after
 * it was set (a non-blocking socket taken for a blocking one got EINTR). Linux releases the
 * number even when close fails. */
static int fault_close(void *state, int fd)
{
	struct fstate *f = state;
	fault__slow_close(f, fd, "close");
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
	if (i)
		memset(i, 0, sizeof *i);
	pthread_mutex_unlock(&f->m);
	return sd_close(IN(f), fd);
}

/* A duplicate names the same connection: it takes the descriptor's record (sd_fault_dup). */
static int fault_dup(void *state, int fd)
{
	struct fstate *f = state;
	int nfd = IN(f)->ops->version < 5 ? -EOPNOTSUPP : sd_dup(IN(f), fd);
	if (nfd >= 0) {
		struct sd_net self = {&sd_fault_ops, f};
		sd_fault_dup(&self, fd, nfd);
	}
	return nfd;
}

/* dup3 is no fault site (Linux's fails only on bad arguments or a full table): newfd takes
 * oldfd's record, as after dup. */
static int fault_dup3(void *state, int fd, int nfd, int flags)
{
	struct fstate *f = state;
	int rc = IN(f)->ops->version < 6 ? -EOPNOTSUPP : sd_dup3(IN(f), fd, nfd, flags);
	if (rc >= 0) {
		struct sd_net self = {&sd_fault_ops, f};
		sd_fault_dup(&self, fd, nfd);
	}
	return rc;
}

static int fault_setsockopt(void *state, int fd, int lv, int n, const void *v, socklen_t l)
{
	return sd_setsockopt(IN((struct fstate *)state), fd, lv, n, v, l);
}

static int fault_getsockopt(void *state, int fd, int lv, int n, void *v, socklen_t *l)
{
	return sd_getsockopt(IN((struct fstate *)state), fd, lv, n, v, l);
}

static int fault_getsockname(void *state, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd_getsockname(IN((struct fstate *)state), fd, a, l);
}

static int fault_getpeername(void *state, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd_getpeername(IN((struct fstate *)state), fd, a, l);
}

static int fault_poll(void *state, struct pollfd *p, nfds_t n, int t)
{
	return sd_poll(IN((struct fstate *)state), p, n, t);
}

/* epoll passes through: its descriptors are the inner backend's, and the calls it reports
 * ready are faulted when the program makes them. An inner table older than version 3 has no
 * epoll. */
static int fault_epoll_create(void *state, int flags)
{
	struct sd_net *in = IN((struct fstate *)state);
	int rc = fault__call_fault(state, SD_OP_EPOLL, "epoll_create");
	if (rc < 0)
		return rc;
	return in->ops->version < 3 ? -EOPNOTSUPP : sd_epoll_create(in, flags);
}

static int fault_epoll_ctl(void *state, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct sd_net *in = IN((struct fstate *)state);
	return in->ops->version < 3 ? -EOPNOTSUPP : sd_epoll_ctl(in, epfd, op, fd, ev);
}

static int fault_epoll_wait(void *state, int epfd, struct epoll_event *ev, int max, int t)
{
	struct sd_net *in = IN((struct fstate *)state);
	return in->ops->version < 3 ? -EOPNOTSUPP : sd_epoll_wait(in, epfd, ev, max, t);
}

static int fault_set_nonblocking(void *state, int fd, int on)
{
	struct fstate *f = state;
	int rc = sd_set_nonblocking(IN(f), fd, on);
	if (rc == 0)
		fault__note_nonblock(f, fd, on);
	return rc;
}

/* Wrappers stack: what the backend below can do, this wrapper can. */
static int fault_wake(void *state, int fd, short events)
{
	return fault__inner_wake(state, fd, events);
}

static int fault_note(void *state, const char *text)
{
	struct fstate *f = state;
	return IN(f)->ops->version < 4 ? -EOPNOTSUPP : sd_note(IN(f), text);
}

static int fault_spawn(void *state, const char *name, void (*fn)(void *), void *arg)
{
	return sd_spawn(IN((struct fstate *)state), name, fn, arg);
}

static int fault_join(void *state, int id) { return sd_join(IN((struct fstate *)state), id); }
static int fault_sleep_ns(void *state, int64_t ns)
{
	return sd_sleep_ns(IN((struct fstate *)state), ns);
}
static int64_t fault_now_ns(void *state) { return sd_now_ns(IN((struct fstate *)state)); }

static unsigned fault_caps(void *state) { return sd_caps(IN((struct fstate *)state)); }
static int fault_join_until(void *state, int id, int64_t deadline_ns)
{
	return sd_join_until(IN((struct fstate *)state), id, deadline_ns);
}
static const char *fault_actor_name(void *state)
{
	return sd_actor_name(IN((struct fstate *)state));
}

/* The queue sizes are no fault site: Linux's ioctl fails only on bad arguments. */
static int fault_ioctl(void *state, int fd, unsigned long request, int *value)
{
	return sd_ioctl(IN((struct fstate *)state), fd, request, value);
}

const struct sd_ops sd_fault_ops = {
	.version = SD_OPS_VERSION,
	.name = "fault",
	.create = fault_create,
	.destroy = fault_destroy,
	.socket = fault_socket,
	.bind = fault_bind,
	.listen = fault_listen,
	.accept = fault_accept,
	.connect = fault_connect,
	.send = fault_send,
	.recv = fault_recv,
	.sendmsg = fault_sendmsg,
	.recvmsg = fault_recvmsg,
	.shutdown = fault_shutdown,
	.close = fault_close,
	.setsockopt = fault_setsockopt,
	.getsockopt = fault_getsockopt,
	.getsockname = fault_getsockname,
	.getpeername = fault_getpeername,
	.poll = fault_poll,
	.set_nonblocking = fault_set_nonblocking,
	.spawn = fault_spawn,
	.join = fault_join,
	.sleep_ns = fault_sleep_ns,
	.now_ns = fault_now_ns,
	.epoll_create = fault_epoll_create,
	.epoll_ctl = fault_epoll_ctl,
	.epoll_wait = fault_epoll_wait,
	.wake = fault_wake,
	.note = fault_note,
	.dup = fault_dup,
	.dup3 = fault_dup3,
	.caps = fault_caps,
	.join_until = fault_join_until,
	.actor_name = fault_actor_name,
	.ioctl = fault_ioctl,
};

int sd_fault_wrap(struct sd_net *out, struct sd_net *inner, const struct sd_fault_spec *spec,
		  uint64_t seed, FILE *log)
{
	struct fstate *f;
	if (!out || !inner || !inner->ops || !spec || inner->ops->version < 2)
		return -EINVAL;
	f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	f->inner = inner;
	f->resignal = fault__inner_wake(f, -1, POLLIN) == -EBADF;
	f->spec = *spec;
	f->asked = sd_fault_ops_asked(spec);
	f->seed = seed;
	f->log = log;
	f->t0 = sd_now_ns(inner);
	pthread_mutex_init(&f->m, NULL);
	out->ops = &sd_fault_ops;
	out->state = f;
	return 0;
}

long sd_fault_count(struct sd_net *net)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	long n = f->injected;
	pthread_mutex_unlock(&f->m);
	return n;
}

struct sd_net *sd_fault_inner(struct sd_net *net)
{
	if (!net || net->ops != &sd_fault_ops)
		return NULL;
	return ((struct fstate *)net->state)->inner;
}

void sd_fault_lock(struct sd_net *net, int lock)
{
	if (!net || net->ops != &sd_fault_ops)
		return;
	struct fstate *f = net->state;
	if (lock)
		pthread_mutex_lock(&f->m);
	else
		pthread_mutex_unlock(&f->m);
}

int sd_fault_set_hooks(struct sd_net *net, const struct sd_fault_hooks *hooks)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	f->hooks = hooks ? *hooks : (struct sd_fault_hooks){0};
	pthread_mutex_unlock(&f->m);
	return 0;
}

void sd_fault_set_pid(struct sd_net *net, long pid)
{
	if (net && net->ops == &sd_fault_ops)
		((struct fstate *)net->state)->hooks.pid = pid;
}

int sd_fault_respec(struct sd_net *net, const struct sd_fault_spec *spec, uint64_t seed, FILE *log)
{
	if (!net || net->ops != &sd_fault_ops || !spec)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	f->spec = *spec;
	f->asked = sd_fault_ops_asked(spec);
	f->seed = seed;
	f->log = log;
	pthread_mutex_unlock(&f->m);
	return 0;
}
