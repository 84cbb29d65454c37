/* sockdrill scenarios: a step's arguments resolved for the call (variables, addresses,
 * strings, buffers), and what the run keeps after each call: the descriptors made, each one's
 * last recvmsg and the bytes it received last (reply_port). */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <sockdrill/sockdrill.h>

#include "sc_internal.h"

/* What one descriptor received last, for reply_port(fd). */
struct tail {
	int fd;
	uint32_t n;
	unsigned char b[SC_REPLY_TAIL];
};

/* The number at *p (up to 5 digits), advancing p; -1 when none. */
static long port_number(const unsigned char **p, const unsigned char *end)
{
	long v = -1;
	for (int d = 0; *p < end && **p >= '0' && **p <= '9' && d < 5; d++, (*p)++)
		v = (v < 0 ? 0 : v * 10) + (**p - '0');
	return v;
}

int sd_scenario_reply_port(const unsigned char *r, size_t n)
{
	int port = 0;
	const unsigned char *end = r + n;
	for (const unsigned char *p = r; p < end; p++) {
		if (*p != '(')
			continue;
		const unsigned char *q = p + 1;
		if (end - q >= 3 && !memcmp(q, "|||", 3)) {
			q += 3;
			long v = port_number(&q, end);
			if (v > 0 && v < 65536 && q < end && *q == '|')
				port = (int)v;
			continue;
		}
		long v[6];
		int i = 0;
		for (; i < 6; i++) {
			v[i] = port_number(&q, end);
			if (v[i] < 0 || v[i] > 255 || q >= end || *q != (i < 5 ? ',' : ')'))
				break;
			q++;
		}
		if (i == 6 && v[4] * 256 + v[5] > 0)
			port = (int)(v[4] * 256 + v[5]);
	}
	return port;
}

/* What a descriptor's last recvmsg gave, for cmsg(), msg_flags() and msg_controllen(). */
struct msgrec {
	int fd, ok; /* ok: the recvmsg succeeded (a failed one leaves nothing to ask about) */
	int flags, has_inq, inq;
	int64_t controllen;
};

static struct msgrec *msg_of(struct run *R, int fd, int make)
{
	for (int i = 0; i < R->nmsgs; i++)
		if (R->msgs[i].fd == fd)
			return &R->msgs[i];
	if (!make || sd__sc_grow((void **)&R->msgs, &R->capmsgs, R->nmsgs, sizeof *R->msgs) < 0)
		return NULL;
	struct msgrec *m = &R->msgs[R->nmsgs++];
	memset(m, 0, sizeof *m);
	m->fd = fd;
	return m;
}

/* The answer to a query on fd's last recvmsg; -ENOMSG when there is none to give: no
 * successful recvmsg on fd since it was opened, or (cmsg) no such control message in it. */
static int64_t msg_answer(struct run *R, enum sc_call call, int fd)
{
	const struct msgrec *m = msg_of(R, fd, 0);
	if (!m || !m->ok)
		return -ENOMSG;
	if (call == C_MSG_FLAGS)
		return m->flags;
	if (call == C_CTLLEN)
		return m->controllen;
	return m->has_inq ? m->inq : -ENOMSG;
}

/* The tail kept for fd; with make, a new empty one when there is none (NULL: no memory). */
static struct tail *tail_of(struct run *R, int fd, int make)
{
	for (int i = 0; i < R->ntails; i++)
		if (R->tails[i].fd == fd)
			return &R->tails[i];
	if (!make || sd__sc_grow((void **)&R->tails, &R->captails, R->ntails, sizeof *R->tails) < 0)
		return NULL;
	struct tail *t = &R->tails[R->ntails++];
	t->fd = fd, t->n = 0;
	return t;
}

/* Whether the run keeps fd among the descriptors it made already (dup2 onto one of them). */
static int kept_fd(const struct run *R, int fd)
{
	for (int i = 0; i < R->nfds; i++)
		if (R->fds[i] == fd)
			return 1;
	return 0;
}

/* After a call: the sockets made (on threads: shut down at the end to release blocked calls; on a
 * sim the caller keeps, those still open are closed at the end), and what each descriptor
 * received, for reply_port() (a new or closed descriptor starts empty). */
void sd__sc_after_call(struct run *R, enum sc_call call, const struct sc_args *a,
		       const struct sc_res *r)
{
	struct tail *t;
	if ((R->threads || R->close_fds) &&
	    (call == C_SOCKET || call == C_ACCEPT || call == C_EPOLL_CREATE || call == C_DUP ||
	     call == C_DUP2 || call == C_DUP3) &&
	    r->v >= 0 && !kept_fd(R, (int)r->v) &&
	    sd__sc_grow((void **)&R->fds, &R->capfds, R->nfds, sizeof *R->fds) == 0)
		R->fds[R->nfds++] = (int)r->v;
	struct msgrec *m;
	/* a descriptor that names another socket now, or none, has had no recvmsg */
	int gone = call == C_CLOSE                                   ? (int)a->n[0]
		   : (call == C_DUP2 || call == C_DUP3) && r->v >= 0 ? (int)r->v
								     : -1;
	if (gone >= 0 && (m = msg_of(R, gone, 0)))
		m->ok = 0;
	if (call == C_RECVMSG && (m = msg_of(R, (int)a->n[0], 1))) {
		m->ok = r->v >= 0;
		m->flags = r->msg_flags, m->controllen = r->controllen;
		m->has_inq = r->has_inq, m->inq = r->inq;
	}
	for (int i = R->nfds - 1; R->close_fds && call == C_CLOSE && r->v == 0 && i >= 0; i--)
		if (R->fds[i] == (int)a->n[0]) {
			R->fds[i] = R->fds[--R->nfds];
			break;
		}
	if (!R->sc->uses_reply_port)
		return;
	if ((call == C_SOCKET || call == C_ACCEPT || call == C_DUP || call == C_DUP2 ||
	     call == C_DUP3) &&
	    r->v >= 0 && (t = tail_of(R, (int)r->v, 0)))
		t->n = 0;
	if (call == C_CLOSE && (t = tail_of(R, (int)a->n[0], 0)))
		t->n = 0;
	if (!sc_reads_bytes(call) || r->v <= 0 ||
	    ((call == C_RECV || call == C_RECVMSG) && (a->n[2] & MSG_PEEK)) ||
	    !(t = tail_of(R, (int)a->n[0], 1)))
		return;
	size_t n = r->dlen, keep = sizeof t->b;
	const unsigned char *d = r->data;
	if (n >= keep) {
		d += n - keep, n = keep;
		t->n = 0;
	} else if (t->n + n > keep) { /* the oldest bytes go */
		size_t drop = t->n + n - keep;
		memmove(t->b, t->b + drop, t->n - drop);
		t->n -= (uint32_t)drop;
	}
	memcpy(t->b + t->n, d, n);
	t->n += (uint32_t)n;
}

static int reply_port_of(struct run *R, int fd)
{
	struct tail *t = tail_of(R, fd, 0);
	int (*read_port)(const unsigned char *, size_t) =
		R->opt && R->opt->reply_port ? R->opt->reply_port : sd_scenario_reply_port;
	int port = t && t->n ? read_port(t->b, t->n) : 0;
	return port > 0 && port < 65536 ? port : 0;
}

/* The address a variable holds (the text addr() or peer() kept in it): 0, or -1 with why. */
static int ref_addr(struct run *R, const struct sc_ref *r, struct sockaddr_storage *ss,
		    socklen_t *len, char *why, size_t wl)
{
	const unsigned char *p;
	size_t n;
	char num[24], text[SD_ADDR_STRLEN];
	if (sd__sc_ref_text(R, r, &p, &n, num, why, wl) < 0)
		return -1;
	if (p == (const unsigned char *)num || n >= sizeof text) {
		snprintf(why, wl, "$%s holds no address (addr() and peer() keep one)",
			 sd__sc_name_of(R, r->name));
		return -1;
	}
	memcpy(text, p, n);
	text[n] = 0;
	if (sd_addr_parse(text, 0, ss, len) < 0) {
		snprintf(why, wl, "$%s holds no address (addr() and peer() keep one): %s",
			 sd__sc_name_of(R, r->name), text);
		return -1;
	}
	return 0;
}

/* Argument i of the step, its value v, into a: 0, or -1 with why. */
static int resolve_value(struct run *R, const struct sc_step *st, int i, const struct sc_value *v,
			 struct sc_args *a, char *why, size_t wl)
{
	switch (v->kind) {
	case V_NUM: a->n[i] = v->num; break;
	case V_VAR:
		if (((st->call == C_BIND || st->call == C_CONNECT) && i == 1) ||
		    (st->call == C_SENDTO && i == 2)) {
			if (ref_addr(R, &v->var, &a->addr, &a->alen, why, wl) < 0)
				return -1;
			break;
		}
		if (sd__sc_ref_value(R, &v->var, &a->n[i], why, wl) < 0)
			return -1;
		break;
	case V_ADDR: {
		const struct sc_addr *sa = &R->sc->addrs[v->addr];
		memcpy(&a->addr, sa, sa->len);
		a->alen = sa->len;
		if (v->port_is_var) {
			int64_t port;
			if (sd__sc_ref_value(R, &v->var, &port, why, wl) < 0)
				return -1;
			if (port < 0 || port > 65535) {
				snprintf(why, wl, "port $%s = %lld is out of range",
					 sd__sc_name_of(R, v->var.name), (long long)port);
				return -1;
			}
			if (a->addr.ss_family == AF_INET)
				((struct sockaddr_in *)&a->addr)->sin_port = htons((uint16_t)port);
			else
				((struct sockaddr_in6 *)&a->addr)->sin6_port =
					htons((uint16_t)port);
		}
		break;
	}
	case V_STR:
		a->data = R->sc->bytes + v->str.off;
		a->dlen = v->str.len;
		if (v->interp) {
			if (sd__sc_expand(R, a->data, a->dlen, &a->sbuf, &a->dlen, why, wl) < 0)
				return -1;
			a->data = a->sbuf;
		}
		break;
	case V_PACE: a->pace_ms = v->num; break;
	case V_LINGER:
		a->n[i] = v->num;
		a->n[3] = 1; /* the value is an {ON, SECS} pair */
		break;
	case V_HOLD: a->hold_ms = v->num; break;
	case V_CONTROL: a->control = (size_t)v->num; break;
	case V_ALEN: a->alen = (socklen_t)v->num; break; /* after the address */
	case V_OPT: a->opt = &sd__sockopts[v->num]; break;
	case V_NULL: /* send's data, recv's length: the buffer passed is NULL */
		a->null_buf = 1;
		if (st->call == C_SEND)
			a->data = NULL, a->dlen = (size_t)v->num;
		else
			a->n[i] = v->num;
		break;
	case V_PATTERN: {
		int64_t n = v->num;
		if (v->len_is_var && sd__sc_ref_value(R, &v->var, &n, why, wl) < 0)
			return -1;
		if (n < 0 || n > SC_MAX_IO) {
			snprintf(why, wl, "pattern length %lld out of range", (long long)n);
			return -1;
		}
		if (!(a->data = sd__sc_pattern(R, (size_t)n))) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
		a->dlen = (size_t)n;
		break;
	}
	}
	return 0;
}

/* What the call's arguments must meet together, and what the run answers for it (reply_port,
 * the recvmsg queries): 0, or -1 with why. */
static int resolve_call(struct run *R, const struct sc_step *st, struct sc_args *a, char *why,
			size_t wl)
{
	if (st->call == C_SLEEP && (a->n[0] < 0 || a->n[0] > SC_MAX_SLEEP_MS)) {
		snprintf(why, wl, "sleep of %lld ms is out of range (0..%d)", (long long)a->n[0],
			 SC_MAX_SLEEP_MS);
		return -1;
	}
	if (st->call == C_REPLY_PORT)
		a->n[1] = reply_port_of(R, (int)a->n[0]);
	if (sc_msg_query(st->call))
		a->n[3] = msg_answer(R, st->call, (int)a->n[0]);
	if (st->call == C_SEND && (a->pace_ms > 0 || a->hold_ms > 0)) {
		int64_t pauses = a->pace_ms * (int64_t)(a->dlen ? a->dlen - 1 : 0) +
				 (a->hold_ms > 0 ? a->hold_ms : 0);
		if (pauses > SC_MAX_PAUSES) {
			snprintf(why, wl,
				 "the send's pauses add up to %lld ms, more than %d (pace x bytes)",
				 (long long)pauses, SC_MAX_PAUSES);
			return -1;
		}
	}
	if (st->call == C_RECVLINE) {
		a->n[2] = a->n[1];
		a->data = (const unsigned char *)"\n";
		a->dlen = 1;
	}
	if (st->call == C_RECV_UNTIL && !a->dlen) {
		snprintf(why, wl, "recv_until needs a delimiter of one byte or more");
		return -1;
	}
	if ((st->call == C_RECV_UNTIL || st->call == C_RECVLINE) && a->n[2] <= 0) {
		snprintf(why, wl, "the most bytes to read must be 1 or more");
		return -1;
	}
	return 0;
}

/* The buffers the call fills in, owned with the arguments: 0, or -1 with why. */
static int resolve_buffers(const struct sc_step *st, struct sc_args *a, char *why, size_t wl)
{
	if (st->call == C_EPOLL_WAIT) {
		if (st->nargs < 3)
			a->n[2] = SC_MAX_EVENTS;
		if (a->n[2] < 1 || a->n[2] > SC_MAX_EVENTS) {
			snprintf(why, wl, "epoll_wait takes 1..%d events at once, not %lld",
				 SC_MAX_EVENTS, (long long)a->n[2]);
			return -1;
		}
		a->rlen = (size_t)a->n[2];
		if (!(a->rbuf = calloc((size_t)a->n[2], sizeof(struct epoll_event)))) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
	}
	if (sc_gives_addr(st->call) && !(a->rbuf = malloc(SD_ADDR_STRLEN))) {
		snprintf(why, wl, "out of memory");
		return -1;
	}
	if (sc_reads_bytes(st->call)) {
		int64_t max = st->call == C_RECV || st->call == C_RECVMSG ? a->n[1] : a->n[2];
		a->rlen = max > 0 && !a->null_buf ? (size_t)(max > SC_MAX_IO ? SC_MAX_IO : max) : 0;
		/* one more: a NUL after the bytes, for regexec (sanitizers read to it) */
		if (!(a->rbuf = calloc(1, a->rlen + 1))) { /* MSG_TRUNC leaves it unwritten */
			snprintf(why, wl, "out of memory");
			return -1;
		}
	}
	return 0;
}

int sd__sc_resolve(struct run *R, const struct sc_step *st, struct sc_args *a, char *why, size_t wl)
{
	const struct sc_value *args = sc_args(R->sc, st);
	memset(a, 0, sizeof *a);
	a->hold_ms = -1;
	a->backend = R->backend;
	for (int i = 0; i < st->nargs; i++)
		if (resolve_value(R, st, i, &args[i], a, why, wl) < 0)
			return -1;
	if (resolve_call(R, st, a, why, wl) < 0)
		return -1;
	return resolve_buffers(st, a, why, wl);
}
