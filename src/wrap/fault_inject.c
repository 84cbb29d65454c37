/* sockdrill: the fault wrapper's decisions: each call decided, then injected, logged, noted. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "fault_int.h"

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

/* A net older than version 4 cannot make readiness new. */
int fault__inner_wake(struct fstate *f, int fd, short events)
{
	return IN(f)->ops->version < 4 ? -EOPNOTSUPP : sd_wake(IN(f), fd, events);
}

/* A decision in the inner net's record of calls (a trace wrapper below), in order with them. */
static void inner_note(struct fstate *f, const char *text)
{
	if (IN(f)->ops->version >= 4)
		sd_note(IN(f), text);
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
			fault__inner_wake(f, fd, ev);
		else
			*wake = ev;
	}
	return d->err ? -d->err : 0;
}

/* Decides for one call, then injects what was decided (inject); returns 0 to go on or a
 * negative errno, and in *wake the events to make new after the call (0: none). */
int fault__pre(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait, size_t len,
	       const char *name, struct sd_fault_decision *d, short *wake)
{
	struct call_rec r;
	*wake = 0;
	fault__account(f, fd, op, msg_dontwait, &r);
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
		*d = (struct sd_fault_decision){.len = len}; /* as fault__quiet() */
	}
	fault__tell(f, op, &r, d);
	if (d->limit || d->err == ETIMEDOUT)
		fault__conn_kinds(f, fd, op, len, d);
	if (!d->fault)
		return 0;
	return inject(f, fd, op, r.blocking, len, name, r.conn_pid, r.conn, r.call, d, wake);
}

/* slow-close: close and shutdown decided (and logged) as calls of their own, only when the
 * spec has it, so that no other spec counts them. */
void fault__slow_close(struct fstate *f, int fd, const char *name)
{
	struct sd_fault_decision d;
	short wake;
	if (f->spec.slow_close_ms)
		fault__pre(f, fd, SD_OP_CLOSE, 1, 0, name, &d, &wake);
}

/* bandwidth: a call that moved k bytes takes k / rate (KB: 1000 bytes) in all, so it waits
 * that long after it returned (virtual time on the sim). */
void fault__pace_now(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k,
		     int peek)
{
	fault__spend(f, fd, d, k, peek);
	if (d->bandwidth_kbps && k > 0)
		sd_sleep_ns(IN(f), (int64_t)((uint64_t)k * 1000000u / d->bandwidth_kbps));
}

/* A call with no connection (socket, epoll_create, getaddrinfo): only descriptor exhaustion
 * and resolver failures touch them, decided by the call's ordinal among the wrapper's calls of
 * that op (connection 0: there is none) and logged as fault__pre() does; only when the spec has
 * such a kind, so that no other spec counts them. 0, or what to fail the call with: a negative
 * errno, or for a resolve an EAI_* code. */
int fault__call_fault(struct fstate *f, enum sd_fault_op op, const char *name)
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

int sd_fault_call(struct sd_net *net, enum sd_fault_op op, const char *name)
{
	if (!net || net->ops != &sd_fault_ops || (unsigned)op >= SD_OP_KINDS)
		return 0;
	return fault__call_fault(net->state, op, name);
}
