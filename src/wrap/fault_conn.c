/* sockdrill: the fault wrapper's connections: numbering, call counts, loops, byte budgets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault_int.h"

/* The record of descriptor fd, when it is out of the table (fault__info, fault_int.h, is
 * the path of every call; this the rare one that makes room). The table covers fds lo .. lo +
 * cap - 1 only: a net may hand out descriptors from a high base (the sim's fdbase option),
 * and a table from 0 would be cleared, mostly unused, for every wrapper made. */
struct finfo *fault__grow(struct fstate *f, int fd)
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

/* After a read of k > 0 bytes: a peek shows at least k queued, a read takes k of them. (The
 * lock stays even where no peek was ever made: in-process the layer's pthread_mutex_unlock
 * is a seeded scheduling point of the sim (harness/libc/sync.c), so the locks a call takes
 * are part of what a seed replays.) */
void fault__note_read(struct fstate *f, int fd, size_t k, int peek)
{
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
	if (i && peek)
		i->peeked = k > i->peeked ? k : i->peeked;
	else if (i)
		i->peeked = k < i->peeked ? i->peeked - k : 0;
	pthread_mutex_unlock(&f->m);
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

/* What depends on the connection's history: timeout fires once on a connection (then it is
 * dead, and the kernel answers), limit-data cuts the call that would pass the budget and
 * ends the connection after it (a read then finds the end of the stream, a write EPIPE). */
void fault__conn_kinds(struct fstate *f, int fd, enum sd_fault_op op, size_t len,
		       struct sd_fault_decision *d)
{
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
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
void fault__spend(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k, int peek)
{
	int shut = 0;
	if (!d->limit || k <= 0 || peek)
		return;
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
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

/* The bookkeeping every call has, decided or not: its connection numbered, the call counted,
 * its wait and its place in a read or write loop noted. */
void fault__account(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait,
		    struct call_rec *r)
{
	*r = (struct call_rec){.blocking = !msg_dontwait, .mid_loop = 1};
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
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

int sd_fault_dup(struct sd_net *net, int fd, int nfd)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *from = fault__info(f, fd), copy = from ? *from : (struct finfo){0};
	struct finfo *to = fault__info(f, nfd); /* may move the table: from is not used after */
	if (to)
		*to = copy;
	pthread_mutex_unlock(&f->m);
	return to ? 0 : -ENOMEM;
}

void fault__note_nonblock(struct fstate *f, int fd, int on)
{
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
	if (i)
		i->nonblock = on != 0;
	pthread_mutex_unlock(&f->m);
}

int sd_fault_note_nonblocking(struct sd_net *net, int fd, int on)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	fault__note_nonblock(net->state, fd, on);
	return 0;
}

int sd_fault_adopt(struct sd_net *net, int fd, uint64_t role, int nonblock)
{
	if (!net || net->ops != &sd_fault_ops)
		return -EINVAL;
	struct fstate *f = net->state;
	pthread_mutex_lock(&f->m);
	struct finfo *i = fault__info(f, fd);
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
	struct finfo *i = fault__info(f, fd);
	if (i)
		*i = (struct finfo){.conn = c->conn,
				    .calls = c->calls,
				    .pid = c->pid,
				    .nonblock = nonblock != 0};
	pthread_mutex_unlock(&f->m);
	return i ? 0 : -ENOMEM;
}
