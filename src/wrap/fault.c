/* sockdrill: the `fault` wrapper: decides a fault per call (seeded), then forwards to inner. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <sockdrill/fault.h>

struct finfo {
	uint64_t conn, calls;
	long pid; /* the process that numbered conn (hooks.pid; 0 without) */
	int nonblock;
	size_t peeked;         /* bytes a MSG_PEEK has shown queued that no read has taken yet */
	uint64_t moved;        /* limit-data: bytes read and written so far */
	int limited;           /* limit-data: the budget is spent, the connection shut */
	int stalled;           /* timeout: it fired on this connection */
	uint64_t gen[2];       /* f->waits at the last read-side [0] and write-side [1] call */
	unsigned char went[2]; /* such a call was made (since the socket became this one) */
};

struct fstate {
	struct sd_net *inner;
	int resignal; /* inner makes readiness new after a fault (its `wake` member) */
	struct sd_fault_spec spec;
	unsigned asked; /* sd_fault_ops_asked(&spec): the ops worth deciding at all */
	uint64_t seed;
	int64_t t0; /* the inner net's clock when wrapped: log times count from it */
	FILE *log;
	pthread_mutex_t m; /* guards fds, counters and the log */
	struct finfo *fds; /* fds[i] is descriptor lo + i */
	int lo, cap;
	uint64_t accepted, connected, listeners, sockets;
	uint64_t nth[SD_OP_KINDS]; /* calls decided with no connection (socket, epoll, resolve) */
	long injected;
	struct sd_fault_hooks hooks; /* sd_fault_set_hooks; zero: none */
	uint64_t waits;  /* sd_fault_note_wait: the program's poll, select and epoll waits */
	int waits_noted; /* they are told, so EAGAIN follows the rule of `drained` */
};

#define IN(f) ((f)->inner)

/* The record of descriptor fd. The table covers fds lo .. lo + cap - 1 only: a net may hand
 * out descriptors from a high base (the sim's fdbase option), and a table from 0 would be
 * cleared, mostly unused, for every wrapper made. info() is the path of every call, grow()
 * the rare one that makes room. */
static struct finfo *grow(struct fstate *f, int fd)
{
	if (fd < 0 || fd > (1 << 24))
		return NULL;
	if (!f->cap)
		f->lo = fd & ~63;
	if (fd < f->lo || fd - f->lo >= f->cap) {
		int lo = fd < f->lo ? fd & ~63 : f->lo, end = f->lo + f->cap, cap;
		if (fd >= end)
			end = fd + 1;
		for (cap = f->cap ? f->cap : 64; cap < end - lo;)
			cap *= 2;
		struct finfo *g = realloc(f->fds, (size_t)cap * sizeof *g);
		if (!g)
			return NULL;
		/* The old records move up by f->lo - lo; the rest is cleared. */
		int shift = f->lo - lo;
		memmove(g + shift, g, (size_t)f->cap * sizeof *g);
		memset(g, 0, (size_t)shift * sizeof *g);
		memset(g + shift + f->cap, 0, (size_t)(cap - shift - f->cap) * sizeof *g);
		f->fds = g;
		f->cap = cap;
		f->lo = lo;
	}
	return &f->fds[fd - f->lo];
}

static inline struct finfo *info(struct fstate *f, int fd)
{
	if ((unsigned)fd - (unsigned)f->lo < (unsigned)f->cap && fd <= (1 << 24))
		return &f->fds[fd - f->lo]; /* fd >= lo >= 0 */
	return grow(f, fd);
}

/* A read of bytes a peek has shown queued: Linux's tcp_recvmsg copies whatever is queued
 * before it would wait, so such a read neither fails with EINTR or EAGAIN nor comes back
 * shorter than min(len, known). */
static void settle_known(struct sd_fault_decision *d, size_t len, size_t known)
{
	size_t floor = len < known ? len : known;
	if (d->err == EINTR || d->err == EAGAIN) {
		d->err = 0;
		d->fault = d->delay_ms ? "delay" : NULL;
	}
	if (d->len < floor) {
		d->len = floor;
		if (d->len == len)
			d->fault = d->delay_ms ? "delay" : NULL;
	}
}

/* After a read of k > 0 bytes: a peek shows at least k queued, a read takes k of them. (The
 * lock stays even where no peek was ever made: in-process the layer's pthread_mutex_unlock
 * is a seeded scheduling point of the sim (harness/libc/sync.c), so the locks a call takes
 * are part of what a seed replays.) */
static void note_read(struct fstate *f, int fd, size_t k, int peek)
{
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i && peek)
		i->peeked = k > i->peeked ? k : i->peeked;
	else if (i)
		i->peeked = k < i->peeked ? i->peeked - k : 0;
	pthread_mutex_unlock(&f->m);
}

/* A net older than version 4 cannot make readiness new. */
static int inner_wake(struct fstate *f, int fd, short events)
{
	return IN(f)->ops->version < 4 ? -EOPNOTSUPP : sd_wake(IN(f), fd, events);
}

/* A decision in the inner net's record of calls (the sim's trace), in order with them. */
static void inner_note(struct fstate *f, const char *text)
{
	if (IN(f)->ops->version >= 4)
		sd_note(IN(f), text);
}

/* A socket's first decided call numbers it: a connect as a connecting socket ("c"), any other
 * call on one that never connected, was accepted or listened as a plain socket ("s"), which a
 * later connect renumbers. */
static void number(struct fstate *f, struct finfo *i, enum sd_fault_op op)
{
	uint64_t role = i->conn & (0xffull << 56);
	if (op == SD_OP_CONNECT && (!i->conn || role == SD_CONN_SOCKET))
		i->conn = SD_CONN_CONNECTED | ++f->connected;
	else if (!i->conn)
		i->conn = SD_CONN_SOCKET | ++f->sockets;
	else
		return;
	i->pid = f->hooks.pid;
}

/* One line for an injected fault, to the hooks' writer or the FILE; f->m held. */
static void log_line(struct fstate *f, long conn_pid, uint64_t conn, uint64_t call,
		     const char *name, const struct sd_fault_decision *d, size_t len)
{
	char line[320];
	if (!f->hooks.line && !f->log)
		return;
	size_t n = sd_fault_format_pid(line, sizeof line, sd_now_ns(IN(f)) - f->t0, f->hooks.pid,
				       conn_pid, conn, call, name, d, len);
	if (f->hooks.line) {
		f->hooks.line(f->hooks.ctx, line, n);
	} else {
		fwrite(line, 1, n, f->log);
		fflush(f->log);
	}
}

/* The time since the wrapper was made, for a spec whose targets have windows; 0 otherwise, so
 * that no other spec reads the clock per call. */
static int64_t since_start(struct fstate *f)
{
	return f->spec.windows ? sd_now_ns(IN(f)) - f->t0 : 0;
}

/* After the reset of an error kind that ends the connection (epipe, etimedout): the call
 * reports its own error, as the kernel's does (sock_error takes sk_err once), not the reset's
 * ECONNRESET on the next call; and the socket is then as tcp_done leaves one, shut both ways:
 * reads find the end of the stream, writes EPIPE. */
static void reported_dead(struct fstate *f, int fd)
{
	int e;
	socklen_t l = sizeof e;
	sd_getsockopt(IN(f), fd, SOL_SOCKET, SO_ERROR, &e, &l);
	sd_shutdown(IN(f), fd, SHUT_RDWR);
}

/* What depends on the connection's history: timeout fires once on a connection (then it is
 * dead, and the kernel answers), limit-data cuts the call that would pass the budget and
 * ends the connection after it (a read then finds the end of the stream, a write EPIPE). */
static void conn_kinds(struct fstate *f, int fd, enum sd_fault_op op, size_t len,
		       struct sd_fault_decision *d)
{
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i && d->err == ETIMEDOUT && d->fault && !strcmp(d->fault, "timeout")) {
		if (i->stalled)
			*d = (struct sd_fault_decision){.len = len};
		i->stalled = 1;
	}
	if (i && d->limit && !d->err) {
		if (i->limited || i->moved >= d->limit) {
			d->fault = "limit-data";
			d->eof = op == SD_OP_READ;
			d->err = op == SD_OP_READ ? 0 : EPIPE;
			d->len = 0;
		} else if (d->len > d->limit - i->moved) {
			d->fault = "limit-data";
			d->len = (size_t)(d->limit - i->moved);
			d->slice = 0;
		}
	}
	pthread_mutex_unlock(&f->m);
}

/* limit-data after a call moved k bytes: once the budget is spent, the connection is shut
 * both ways, so the peer gets a FIN and the kernel's readiness shows the end. */
static void spend(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k, int peek)
{
	int shut = 0;
	if (!d->limit || k <= 0 || peek)
		return;
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i) {
		i->moved += (uint64_t)k;
		shut = i->moved >= d->limit && !i->limited;
		if (shut)
			i->limited = 1;
	}
	pthread_mutex_unlock(&f->m);
	if (shut)
		sd_shutdown(IN(f), fd, SHUT_RDWR);
}

/*
 * Whether EAGAIN is something a kernel could answer this call (f->m held). A kernel refuses a
 * non-blocking read only when the receive queue is empty, and a write only when the send
 * buffer is full; a program that has just been told by poll, select or epoll that the socket
 * is ready finds data or room (OpenSSH's packet reader takes EAGAIN after ppoll as fatal, and
 * postgres its first 1-byte send's). So when the program's waits are told (the preload:
 * sd_fault_note_wait), EAGAIN comes only in the middle of a loop: the same direction's
 * previous call on this socket was made since the program last waited, as when it reads
 * until the queue runs dry or writes until the buffer is full. The first call after any wait,
 * and a socket's first call of a direction, are never refused. (Calls of other threads'
 * sockets between the wait and the call count as the same loop: waits are counted per
 * process, which only ever spares more.)
 */
static int drained(struct fstate *f, struct finfo *i, enum sd_fault_op op)
{
	if (op != SD_OP_READ && op != SD_OP_WRITE && op != SD_OP_ACCEPT)
		return 1;
	int dir = op == SD_OP_WRITE;
	uint64_t now = __atomic_load_n(&f->waits, __ATOMIC_RELAXED);
	int mid = !__atomic_load_n(&f->waits_noted, __ATOMIC_RELAXED) ||
		  (i->went[dir] && i->gen[dir] == now);
	i->gen[dir] = now;
	i->went[dir] = 1;
	return mid;
}

/* An injected fault: counted, logged, noted in inner's record; then its wait and its reset. A
 * non-blocking call that is to fail with EAGAIN has its readiness made new here; one that is
 * cut short gets in *wake the events to make new once it returned. 0 to go on or a negative
 * errno. */
static int inject(struct fstate *f, int fd, enum sd_fault_op op, int blocking, size_t len,
		  const char *name, long conn_pid, uint64_t conn, uint64_t call,
		  struct sd_fault_decision *d, short *wake)
{
	pthread_mutex_lock(&f->m);
	f->injected++;
	log_line(f, conn_pid, conn, call, name, d, len);
	pthread_mutex_unlock(&f->m);
	char text[256];
	sd_fault_describe(text, sizeof text, conn, call, name, fd, d, len);
	inner_note(f, text);
	if (d->delay_ms)
		sd_sleep_ns(IN(f), (int64_t)d->delay_ms * 1000000);
	if (d->reset) {
		struct sockaddr sa = {.sa_family = AF_UNSPEC};
		sd_connect(IN(f), fd, &sa, sizeof sa); /* tcp_disconnect: the peer gets an RST */
		if (d->err != ECONNRESET)
			reported_dead(f, fd);
	}
	if (!blocking && f->resignal && (d->err == EAGAIN || d->len != len)) {
		short ev = op == SD_OP_WRITE ? POLLOUT : POLLIN;
		if (d->err)
			inner_wake(f, fd, ev);
		else
			*wake = ev;
	}
	return d->err ? -d->err : 0;
}

/* What the wrapper knows of one call before deciding it. */
struct call_rec {
	uint64_t conn, call;
	long conn_pid;
	int blocking, mid_loop;
	size_t known;
};

/* The bookkeeping every call has, decided or not: its connection numbered, the call counted,
 * its wait and its place in a read or write loop noted. */
static inline void account(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait,
			   struct call_rec *r)
{
	*r = (struct call_rec){.blocking = !msg_dontwait, .mid_loop = 1};
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i) {
		number(f, i, op);
		r->conn = i->conn;
		r->conn_pid = i->pid;
		r->call = ++i->calls;
		r->blocking = r->blocking && !i->nonblock;
		r->known = op == SD_OP_READ ? i->peeked : 0;
		r->mid_loop = drained(f, i, op);
	}
	pthread_mutex_unlock(&f->m);
}

/* The hooks' view of a decided call (sd_fault_hooks: spared, then seen). */
static inline void tell(struct fstate *f, enum sd_fault_op op, const struct call_rec *r,
			const struct sd_fault_decision *d)
{
	if (!r->blocking && !r->mid_loop && f->hooks.spared)
		f->hooks.spared(f->hooks.ctx, op);
	if (f->hooks.seen)
		f->hooks.seen(f->hooks.ctx, op, r->blocking, d);
}

/* A call of an op that no asked kind can touch (every fault at probability 0): its decision
 * is "deliver unchanged" whatever the rest, so it is not worked out; the call is only
 * accounted for and told, as pre() would. */
static inline int quiet(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait, size_t len)
{
	if (f->asked & 1u << op)
		return 0;
	struct call_rec r;
	struct sd_fault_decision d = {.len = len};
	account(f, fd, op, msg_dontwait, &r);
	tell(f, op, &r, &d);
	return 1;
}

/* Decides for one call, then injects what was decided (inject); returns 0 to go on or a
 * negative errno, and in *wake the events to make new after the call (0: none). */
static int pre(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait, size_t len,
	       const char *name, struct sd_fault_decision *d, short *wake)
{
	struct call_rec r;
	*wake = 0;
	account(f, fd, op, msg_dontwait, &r);
	if (f->asked & 1u << op) {
		enum sd_fault_wait wait = r.blocking ? SD_WAIT_BLOCKING
					  : f->resignal || f->spec.level_triggered
						  ? SD_WAIT_NONBLOCKING
						  : SD_WAIT_NONBLOCKING_NO_EDGE;
		sd_fault_decide_at(&f->spec, f->seed, r.conn, r.call, op, wait, len, since_start(f),
				   d);
		if (r.known)
			settle_known(d, len, r.known);
		if (d->err == EAGAIN && !r.mid_loop) {
			/* not where a kernel refuses the call: see `drained` */
			d->err = 0;
			d->len = len;
			d->fault = d->delay_ms ? "delay" : NULL;
		}
	} else {
		*d = (struct sd_fault_decision){.len = len}; /* as quiet() */
	}
	tell(f, op, &r, d);
	if (d->limit || d->err == ETIMEDOUT)
		conn_kinds(f, fd, op, len, d);
	if (!d->fault)
		return 0;
	return inject(f, fd, op, r.blocking, len, name, r.conn_pid, r.conn, r.call, d, wake);
}

/* slow-close: close and shutdown decided (and logged) as calls of their own, only when the
 * spec has it, so that no other spec counts them. */
static void slow_close(struct fstate *f, int fd, const char *name)
{
	struct sd_fault_decision d;
	short wake;
	if (f->spec.slow_close_ms)
		pre(f, fd, SD_OP_CLOSE, 1, 0, name, &d, &wake);
}

/* After a call cut short: the rest counts as arriving (room as freed) after it. */
static inline void post(struct fstate *f, int fd, short wake)
{
	if (wake)
		inner_wake(f, fd, wake);
}

/* bandwidth: a call that moved k bytes takes k / rate (KB: 1000 bytes) in all, so it waits
 * that long after it returned (virtual time on the sim). */
static void pace_now(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k,
		     int peek)
{
	spend(f, fd, d, k, peek);
	if (d->bandwidth_kbps && k > 0)
		sd_sleep_ns(IN(f), (int64_t)((uint64_t)k * 1000000u / d->bandwidth_kbps));
}

/* Most calls have neither limit-data nor bandwidth: nothing to do after them. */
static inline void pace(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k,
			int peek)
{
	if (d->limit || d->bandwidth_kbps)
		pace_now(f, fd, d, k, peek);
}

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

/* A call with no connection (socket, epoll_create, getaddrinfo): only descriptor exhaustion
 * and resolver failures touch them, decided by the call's ordinal among the wrapper's calls of
 * that op (connection 0: there is none) and logged as pre() does; only when the spec has such
 * a kind, so that no other spec counts them. 0, or what to fail the call with: a negative
 * errno, or for a resolve an EAI_* code. */
static int call_fault(struct fstate *f, enum sd_fault_op op, const char *name)
{
	struct sd_fault_decision d;
	const struct sd_fault_spec *s = &f->spec;
	if (op == SD_OP_RESOLVE ? !(s->eai_again > 0 || s->eai_noname > 0)
				: !(s->emfile > 0 || s->enfile > 0))
		return 0;
	pthread_mutex_lock(&f->m);
	uint64_t call = ++f->nth[op];
	pthread_mutex_unlock(&f->m);
	sd_fault_decide_at(s, f->seed, 0, call, op, SD_WAIT_BLOCKING, 0, since_start(f), &d);
	if (f->hooks.seen)
		f->hooks.seen(f->hooks.ctx, op, 1, &d);
	if (!d.fault)
		return 0;
	pthread_mutex_lock(&f->m);
	f->injected++;
	log_line(f, f->hooks.pid, 0, call, name, &d, 0);
	pthread_mutex_unlock(&f->m);
	char text[256];
	sd_fault_describe(text, sizeof text, 0, call, name, -1, &d, 0);
	inner_note(f, text);
	return op == SD_OP_RESOLVE ? d.err : -d.err;
}

static int fault_socket(void *state, int domain, int type, int protocol)
{
	struct fstate *f = state;
	int fd = call_fault(f, SD_OP_SOCKET, "socket");
	if (fd < 0)
		return fd;
	fd = sd_socket(IN(f), domain, type, protocol);
	if (fd >= 0) {
		pthread_mutex_lock(&f->m);
		struct finfo *i = info(f, fd);
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
		struct finfo *i = info(f, fd);
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
	int rc = pre(f, fd, SD_OP_ACCEPT, 0, 0, "accept", &d, &wake);
	if (rc < 0)
		return rc;
	int nfd = sd_accept(IN(f), fd, a, l, flags);
	if (nfd >= 0) {
		pthread_mutex_lock(&f->m);
		struct finfo *i = info(f, nfd);
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
	int rc = pre(f, fd, SD_OP_CONNECT, 0, 0, "connect", &d, &wake);
	return rc < 0 ? rc : sd_connect(IN(f), fd, a, l);
}

static ssize_t fault_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct fstate *f = state;
	struct sd_fault_decision d;
	short wake;
	if (quiet(f, fd, SD_OP_WRITE, flags & MSG_DONTWAIT, len))
		return sd_send(IN(f), fd, buf, len, flags);
	int rc = pre(f, fd, SD_OP_WRITE, flags & MSG_DONTWAIT, len, "send", &d, &wake);
	if (rc < 0)
		return rc;
	ssize_t k = d.slice ? sliced(f, fd, buf, d.len, flags, &d)
			    : sd_send(IN(f), fd, buf, d.len, flags);
	post(f, fd, wake);
	pace(f, fd, &d, k, 0);
	return k;
}

static ssize_t fault_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct fstate *f = state;
	struct sd_fault_decision d;
	short wake;
	ssize_t k;
	if (quiet(f, fd, SD_OP_READ, flags & MSG_DONTWAIT, len)) {
		if ((k = sd_recv(IN(f), fd, buf, len, flags)) > 0)
			note_read(f, fd, (size_t)k, flags & MSG_PEEK);
		return k;
	}
	int rc = pre(f, fd, SD_OP_READ, flags & MSG_DONTWAIT, len, "recv", &d, &wake);
	if (rc < 0 || d.eof)
		return rc;
	k = sd_recv(IN(f), fd, buf, d.len, flags);
	if (k > 0)
		note_read(f, fd, (size_t)k, flags & MSG_PEEK);
	post(f, fd, wake);
	pace(f, fd, &d, k, flags & MSG_PEEK);
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
	size_t n = 0;
	for (size_t i = 0; msg && i < msg->msg_iovlen; i++)
		n += msg->msg_iov[i].iov_len;
	return n;
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
	int calm = quiet(f, fd, op, flags & MSG_DONTWAIT, len);
	if (!calm) {
		int rc = pre(f, fd, op, flags & MSG_DONTWAIT, len,
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
		note_read(f, fd, (size_t)k, flags & MSG_PEEK);
	if (op == SD_OP_READ) {
		msg->msg_namelen = m.msg_namelen;
		msg->msg_controllen = m.msg_controllen;
		msg->msg_flags = m.msg_flags;
	}
	if (calm)
		return k;
	free(v);
	post(f, fd, wake);
	pace(f, fd, &d, k, op == SD_OP_READ && (flags & MSG_PEEK));
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
	slow_close(state, fd, "shutdown");
	return sd_shutdown(IN((struct fstate *)state), fd, how);
}

/* Forgets the socket before its number is released: the moment it is, another thread's
 * socket or accept can get the same number, and that socket's state must not be wiped after
 * it was set (a non-blocking socket taken for a blocking one got EINTR). Linux releases the
 * number even when close fails. */
static int fault_close(void *state, int fd)
{
	struct fstate *f = state;
	slow_close(f, fd, "close");
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i)
		memset(i, 0, sizeof *i);
	pthread_mutex_unlock(&f->m);
	return sd_close(IN(f), fd);
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
	int rc = call_fault(state, SD_OP_EPOLL, "epoll_create");
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
	if (rc == 0) {
		pthread_mutex_lock(&f->m);
		struct finfo *i = info(f, fd);
		if (i)
			i->nonblock = on != 0;
		pthread_mutex_unlock(&f->m);
	}
	return rc;
}

/* Wrappers stack: what the backend below can do, this wrapper can. */
static int fault_wake(void *state, int fd, short events) { return inner_wake(state, fd, events); }

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
	f->resignal = inner_wake(f, -1, POLLIN) == -EBADF;
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

int sd_fault_call(struct sd_net *net, enum sd_fault_op op, const char *name)
{
	if (!net || net->ops != &sd_fault_ops || (unsigned)op >= SD_OP_KINDS)
		return 0;
	return call_fault(net->state, op, name);
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

int sd_fault_dup(struct sd_net *net, int fd, int nfd)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *from = info(f, fd), copy = from ? *from : (struct finfo){0};
	struct finfo *to = info(f, nfd); /* may move the table: from is not used after */
	if (to)
		*to = copy;
	pthread_mutex_unlock(&f->m);
	return to ? 0 : -ENOMEM;
}

int sd_fault_note_nonblocking(struct sd_net *net, int fd, int on)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i)
		i->nonblock = on != 0;
	pthread_mutex_unlock(&f->m);
	return 0;
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

int sd_fault_adopt(struct sd_net *net, int fd, uint64_t role, int nonblock)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i) {
		uint64_t n = role == SD_CONN_ACCEPTED    ? ++f->accepted
			     : role == SD_CONN_LISTENER  ? ++f->listeners
			     : role == SD_CONN_CONNECTED ? ++f->connected
							 : 0;
		*i = (struct finfo){.conn = n ? role | n : 0, .nonblock = nonblock != 0};
	}
	pthread_mutex_unlock(&f->m);
	return i ? 0 : -ENOMEM;
}

void sd_fault_note_wait(struct sd_net *net)
{
	if (!net || net->ops != &sd_fault_ops)
		return;
	struct fstate *f = net->state;
	__atomic_store_n(&f->waits_noted, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&f->waits, 1, __ATOMIC_RELAXED);
}

int sd_fault_conn_of(struct sd_net *net, int fd, struct sd_fault_conn *c)
{
	if (!net || net->ops != &sd_fault_ops || !c)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *i = fd >= f->lo && fd - f->lo < f->cap ? &f->fds[fd - f->lo] : NULL;
	int rc = i && i->conn ? 0 : -ENOENT;
	if (!rc)
		*c = (struct sd_fault_conn){.conn = i->conn, .calls = i->calls, .pid = i->pid};
	pthread_mutex_unlock(&f->m);
	return rc;
}

int sd_fault_adopt_conn(struct sd_net *net, int fd, const struct sd_fault_conn *c, int nonblock)
{
	if (!net || net->ops != &sd_fault_ops || !c || !(c->conn & (0xffull << 56)))
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *i = info(f, fd);
	if (i)
		*i = (struct finfo){.conn = c->conn,
				    .calls = c->calls,
				    .pid = c->pid,
				    .nonblock = nonblock != 0};
	pthread_mutex_unlock(&f->m);
	return i ? 0 : -ENOMEM;
}
