/* sockdrill scenarios: the calls a step makes, on the net the run gives (one per enum sc_call). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <linux/sockios.h>

#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "../../util/libc.h"
#include "../../util/util.h"
#include "sc_internal.h"

/* SIOCINQ (FIONREAD) or SIOCOUTQ through the table, as any other call: the count it gives. */
static int64_t queued(const struct sc_args *a, int fd)
{
	int n = 0;
	int rc = sd_ioctl(a->backend, fd, (unsigned long)a->n[1], &n);
	return rc < 0 ? rc : n;
}

static int64_t now_ms(void) { return sd__mono_ns() / 1000000; }

/* epoll_wait on a thread of its own (real) waits in slices of 100 ms, so that the end of the
 * run ends it: no socket shut down wakes a wait on an empty set, or one without a limit.
 * Elsewhere (sim, in virtual time) it is one call. */
static int epoll_wait_call(struct sd_net *net, int ep, struct epoll_event *evs, int max,
			   int timeout_ms, const int *cancel)
{
	if (!cancel || (timeout_ms >= 0 && timeout_ms <= 100))
		return sd_epoll_wait(net, ep, evs, max, timeout_ms);
	int64_t until = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	for (;;) {
		int64_t left = until - now_ms();
		int rc = sd_epoll_wait(net, ep, evs, max,
				       left < 100 ? (left > 0 ? (int)left : 0) : 100);
		if (rc != 0 || left <= 100 || __atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			return rc;
	}
}

/* recvmsg with a control buffer of a->control bytes (none when 0), aligned as CMSG_ macros
 * want; msg_flags, msg_controllen and a TCP_CM_INQ message are kept in r. */
static void recvmsg_call(struct sd_net *net, int fd, const struct sc_args *a, struct sc_res *r)
{
	union {
		struct cmsghdr h;
		unsigned char b[SC_MAX_CONTROL];
	} ctl;
	struct iovec v = {a->rbuf, a->rlen};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	if (a->control) {
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.b;
		m.msg_controllen = a->control;
	}
	/* (the buffer starts zeroed: MSG_TRUNC discards the bytes unread on Linux) */
	r->data = a->rbuf;
	r->v = sd_recvmsg(net, fd, &m, (int)a->n[2]);
	r->dlen = r->v > 0 ? (size_t)r->v : 0;
	if (r->dlen > a->rlen) /* MSG_TRUNC may count more than the buffer holds */
		r->dlen = a->rlen;
	if (r->v < 0)
		return;
	r->msg_flags = m.msg_flags;
	r->controllen = (int64_t)m.msg_controllen;
	if (!a->control)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&r->inq, CMSG_DATA(c), sizeof r->inq);
			r->has_inq = 1;
		}
}

/* The calls added after the first set: addresses, ioctl, sendto, recvmsg, epoll. */
static void exec_ext(struct sd_net *net, enum sc_call call, const struct sc_args *a,
		     struct sc_res *r)
{
	int fd = (int)a->n[0];
	switch (call) {
	case C_ADDR:
	case C_PEER: {
		r->alen = sizeof r->addr;
		int rc = call == C_ADDR
				 ? sd_getsockname(net, fd, (struct sockaddr *)&r->addr, &r->alen)
				 : sd_getpeername(net, fd, (struct sockaddr *)&r->addr, &r->alen);
		r->v = rc < 0 ? rc : sd_addr_port((struct sockaddr *)&r->addr, r->alen);
		if (rc < 0 || r->v < 0)
			break;
		r->data = a->rbuf; /* room for SD_ADDR_STRLEN (resolve) */
		sd_addr_format((struct sockaddr *)&r->addr, r->alen, (char *)r->data,
			       SD_ADDR_STRLEN);
		r->dlen = strlen((char *)r->data);
		break;
	}
	case C_IOCTL: r->v = queued(a, fd); break;
	case C_SENDTO: {
		struct iovec v = {(void *)a->data, a->dlen};
		struct msghdr m = {.msg_name = (void *)&a->addr,
				   .msg_namelen = a->alen,
				   .msg_iov = &v,
				   .msg_iovlen = 1};
		r->v = sd_sendmsg(net, fd, &m, (int)a->n[3]);
		break;
	}
	case C_RECVMSG: recvmsg_call(net, fd, a, r); break;
	case C_EPOLL_CREATE: r->v = sd_epoll_create(net, 0); break;
	case C_EPOLL_CTL: {
		/* the entry's data is the descriptor: epoll_wait's events name it */
		struct epoll_event ev = {.events = (uint32_t)a->n[3], .data.fd = (int)a->n[2]};
		r->v = sd_epoll_ctl(net, fd, (int)a->n[1], (int)a->n[2], &ev);
		break;
	}
	case C_EPOLL_WAIT: {
		struct epoll_event *evs = (struct epoll_event *)a->rbuf; /* a->rlen of them */
		r->v = epoll_wait_call(net, fd, evs, (int)a->rlen, (int)a->n[1], a->cancel);
		r->data = a->rbuf;
		r->dlen = r->v > 0 ? (size_t)r->v * sizeof *evs : 0;
		break;
	}
	default: r->v = -ENOSYS; break;
	}
}

/* send with pauses, in the backend's time (virtual on sim): pace_ms after each byte, hold_ms
 * before the last one. Bytes sent, or the error of the first call when none were. */
static int64_t paced_send(struct sd_net *net, int fd, const struct sc_args *a)
{
	size_t n = a->dlen, done = 0, last = a->hold_ms >= 0 && n ? n - 1 : n;
	int flags = (int)a->n[2];
	if (!n)
		return sd_send(net, fd, a->data, 0, flags);
	while (done < n) {
		if (done == last && a->hold_ms >= 0) {
			sd_sleep_ns(net, a->hold_ms * 1000000);
			last = n;
		}
		size_t chunk = a->pace_ms > 0 ? 1 : (done < last ? last : n) - done;
		ssize_t k = sd_send(net, fd, a->data + done, chunk, flags);
		if (k < 0)
			return done ? (int64_t)done : k;
		done += (size_t)k;
		if (a->pace_ms > 0 && done < n && done != last)
			sd_sleep_ns(net, a->pace_ms * 1000000);
	}
	return (int64_t)done;
}

/* Reads up to and including the delimiter, at most max bytes, never past it: each piece is
 * peeked first, and only the bytes before the delimiter's end taken. -EMSGSIZE when max bytes
 * came without it; at the end of the stream before it, 0 with r->eof (data what came). */
static void recv_until(struct sd_net *net, int fd, const unsigned char *delim, size_t dl,
		       unsigned char *buf, size_t max, struct sc_res *r)
{
	size_t have = 0;
	r->data = buf;
	for (;;) {
		if (have == max) {
			r->v = -EMSGSIZE;
			break;
		}
		ssize_t k = sd_recv(net, fd, buf + have, max - have, MSG_PEEK);
		if (k <= 0) {
			r->v = k;
			r->eof = k == 0;
			break;
		}
		size_t end = have + (size_t)k, found = end;
		for (size_t i = have >= dl ? have - dl + 1 : 0; i + dl <= end; i++)
			if (!memcmp(buf + i, delim, dl)) {
				found = i;
				break;
			}
		size_t take = found < end ? found + dl - have : (size_t)k;
		ssize_t got = sd_recv(net, fd, buf + have, take, 0);
		if (got <= 0) { /* what was peeked is gone: another reader, or a reset */
			r->v = got;
			r->eof = got == 0;
			break;
		}
		have += (size_t)got;
		if (found < end && (size_t)got == take) {
			r->v = (int64_t)have;
			break;
		}
	}
	r->dlen = have;
}

/* A file gives an option an int, or milliseconds where the option takes a struct timeval. */
static int64_t setsockopt_call(struct sd_net *net, int fd, const struct sd__sockopt *o, int64_t v)
{
	int iv = (int)v;
	switch (o->kind) {
	case SD__KIND_TIMEVAL: {
		struct timeval tv = {(time_t)(v / 1000), (suseconds_t)((v % 1000) * 1000)};
		return sd_setsockopt(net, fd, o->level, o->optname, &tv, sizeof tv);
	}
	case SD__KIND_TCP_INFO: return -ENOPROTOOPT; /* getsockopt's only */
	default: return sd_setsockopt(net, fd, o->level, o->optname, &iv, sizeof iv);
	}
}

static int64_t getsockopt_call(struct sd_net *net, int fd, const struct sd__sockopt *o)
{
	int v = 0, rc;
	socklen_t l = sizeof v;
	switch (o->kind) {
	case SD__KIND_TIMEVAL: {
		struct timeval tv;
		l = sizeof tv;
		rc = sd_getsockopt(net, fd, o->level, o->optname, &tv, &l);
		return rc < 0 ? rc : (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	}
	case SD__KIND_TCP_INFO: {
		/* the whole struct, of which a file reads the state (tcp_states.h numbering);
		 * the other fields are timing and congestion facts the sim does not keep */
		struct tcp_info ti;
		l = sizeof ti;
		rc = sd_getsockopt(net, fd, o->level, o->optname, &ti, &l);
		return rc < 0 ? rc : l < 1 ? -EINVAL : ti.tcpi_state;
	}
	default:
		rc = sd_getsockopt(net, fd, o->level, o->optname, &v, &l);
		if (rc == 0 && o->kind == SD__KIND_U32) /* a file reads it as 0..4294967295 */
			return (uint32_t)v;
		return rc < 0 ? rc : v;
	}
}

void sc__exec(struct sd_net *net, enum sc_call call, const struct sc_args *a, struct sc_res *r)
{
	int fd = (int)a->n[0];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	memset(r, 0, sizeof *r);
	switch (call) {
	case C_SOCKET:
		/* flags as given: a bit beyond NONBLOCK is the kernel's EINVAL to check */
		r->v = sd_socket(net, (int)a->n[0], SOCK_STREAM | (int)a->n[1], 0);
		break;
	case C_BIND: r->v = sd_bind(net, fd, (const struct sockaddr *)&a->addr, a->alen); break;
	case C_LISTEN: r->v = sd_listen(net, fd, (int)a->n[1]); break;
	case C_ACCEPT: r->v = sd_accept(net, fd, NULL, NULL, (int)a->n[1]); break;
	case C_CONNECT:
		r->v = sd_connect(net, fd, (const struct sockaddr *)&a->addr, a->alen);
		break;
	case C_SEND:
		if (a->pace_ms > 0 || a->hold_ms >= 0)
			r->v = paced_send(net, fd, a);
		else
			r->v = sd_send(net, fd, a->data, a->dlen, (int)a->n[2]);
		break;
	case C_RECV_UNTIL:
	case C_RECVLINE: recv_until(net, fd, a->data, a->dlen, a->rbuf, a->rlen, r); break;
	case C_RECV:
		r->data = a->rbuf;
		if (a->null_buf) /* null(N): the kernel's EFAULT (no bytes are shown) */
			r->v = sd_recv(net, fd, NULL, (size_t)a->n[1], (int)a->n[2]);
		else
			r->v = sd_recv(net, fd, r->data, a->rlen, (int)a->n[2]);
		r->dlen = r->v > 0 && !a->null_buf ? (size_t)r->v : 0;
		break;
	case C_SHUTDOWN: r->v = sd_shutdown(net, fd, (int)a->n[1]); break;
	case C_CLOSE: r->v = sd_close(net, fd); break;
	case C_SETSOCKOPT:
	case C_GETSOCKOPT:
		if (a->opt->kind == SD__KIND_LINGER)
			sc__linger(net, call == C_SETSOCKOPT, a, r);
		else if (call == C_SETSOCKOPT)
			r->v = setsockopt_call(net, fd, a->opt, a->n[2]);
		else
			r->v = getsockopt_call(net, fd, a->opt);
		break;
	case C_SO_ERROR: {
		int err = 0;
		socklen_t l = sizeof err;
		int rc = sd_getsockopt(net, fd, SOL_SOCKET, SO_ERROR, &err, &l);
		r->v = rc < 0 ? rc : -err;
		break;
	}
	case C_ADDR:
	case C_PEER:
	case C_IOCTL:
	case C_SENDTO:
	case C_RECVMSG:
	case C_EPOLL_CREATE:
	case C_EPOLL_CTL:
	case C_EPOLL_WAIT: exec_ext(net, call, a, r); break;
	case C_PORT:
	case C_PEERPORT: {
		int rc = call == C_PORT ? sd_getsockname(net, fd, (struct sockaddr *)&ss, &sl)
					: sd_getpeername(net, fd, (struct sockaddr *)&ss, &sl);
		r->v = rc < 0 ? rc : sd_addr_port((struct sockaddr *)&ss, sl);
		break;
	}
	case C_NONBLOCK:
	case C_BLOCK: r->v = sd_set_nonblocking(net, fd, call == C_NONBLOCK); break;
	case C_POLL: {
		struct pollfd p = {.fd = fd, .events = (short)a->n[1]};
		int rc = sd_poll(net, &p, 1, (int)a->n[2]);
		r->v = rc < 0 ? rc : p.revents;
		break;
	}
	case C_SLEEP: r->v = sd_sleep_ns(net, a->n[0] * 1000000); break;
	/* milliseconds rounded down at both ends: floor(t0 + d) - floor(t0) >= floor(d), so a
	 * lower bound the clock guarantees (a sleep, a timeout) holds for the difference too */
	case C_DUP: r->v = net->ops->version < 5 ? -EOPNOTSUPP : sd_dup(net, fd); break;
	case C_DUP2: r->v = sd_dup2(net, fd, (int)a->n[1]); break;
	case C_DUP3:
		r->v = net->ops->version < 6 ? -EOPNOTSUPP
					     : sd_dup3(net, fd, (int)a->n[1], (int)a->n[2]);
		break;
	case C_CMSG:
	case C_MSG_FLAGS:
	case C_CTLLEN: r->v = a->n[3]; break; /* the runner's answer (resolve) */
	case C_NOW: r->v = sd_now_ns(net) / 1000000; break;
	case C_ELAPSED: r->v = sd_now_ns(net) / 1000000 - a->n[0]; break;
	case C_REPLY_PORT: r->v = a->n[1]; break; /* read from what fd received, by resolve */
	}
}

void sc__describe_addr(const struct sc_res *r, char *got, size_t gl, char *norm, size_t nl)
{
	/* the port, when one was chosen, differs between backends: not the address */
	struct sockaddr_storage ss = r->addr;
	if (r->v > 0 && ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else if (r->v > 0)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	snprintf(got, gl, "%.*s", (int)r->dlen, (const char *)r->data);
	sd_addr_format((struct sockaddr *)&ss, r->alen, norm, nl);
	if (r->v > 0 && strlen(norm) + 4 < nl)
		strcpy(norm + strlen(norm) - 1, "port");
}

int sc__addr_matches(const struct sd_scenario *sc, const struct sc_expect *e,
		     const struct sc_res *r, int64_t port)
{
	const struct sc_addr *want = &sc->addrs[e->addr];
	if (r->addr.ss_family != want->v4.sin_family)
		return 0;
	if (!(e->op & (CMP_VAR | CMP_ANY)))
		port = sd_addr_port((const struct sockaddr *)want, want->len);
	if (!(e->op & CMP_ANY) && r->v != port)
		return 0;
	if (want->v4.sin_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)&r->addr)->sin_addr,
			       &want->v4.sin_addr, sizeof want->v4.sin_addr);
	return !memcmp(&((const struct sockaddr_in6 *)&r->addr)->sin6_addr, &want->v6.sin6_addr,
		       sizeof want->v6.sin6_addr);
}

static int by_fd(const void *x, const void *y)
{
	const struct epoll_event *a = x, *b = y;
	return (a->data.fd > b->data.fd) - (a->data.fd < b->data.fd);
}

/* "{fd: IN|OUT, ...}" of n events, from at most SC_MAX_EVENTS of them. */
static void show_events(const struct epoll_event *evs, int n, char *out, size_t size)
{
	size_t o = (size_t)snprintf(out, size, "{");
	for (int i = 0; i < n && o + 8 < size; i++) {
		char f[64];
		sc__show_flags(evs[i].events, f, sizeof f);
		o += (size_t)snprintf(out + o, size - o, "%s%d: %s", i ? ", " : "", evs[i].data.fd,
				      f);
	}
	if (o < size)
		snprintf(out + o, size - o, "}");
}

void sc__describe_events(const struct sc_res *r, char *got, size_t gl, char *norm, size_t nl)
{
	struct epoll_event sorted[SC_MAX_EVENTS];
	int n = (int)(r->dlen / sizeof sorted[0]);
	if (n > SC_MAX_EVENTS)
		n = SC_MAX_EVENTS;
	memcpy(sorted, r->data, (size_t)n * sizeof sorted[0]);
	show_events(sorted, n, got, gl);
	/* the kernel's ready list and the sim's may order the same events differently */
	qsort(sorted, (size_t)n, sizeof sorted[0], by_fd);
	show_events(sorted, n, norm, nl);
}

int sc__events_match(const struct sc_res *r, const int *fds, const int64_t *evs, int n)
{
	const struct epoll_event *got = (const struct epoll_event *)r->data;
	int have = (int)(r->dlen / sizeof *got);
	for (int i = 0; i < n; i++) {
		int k = 0;
		while (k < have && got[k].data.fd != fds[i])
			k++;
		if (k == have || got[k].events != (uint32_t)evs[i])
			return 0;
	}
	return 1;
}

void sc__linger(struct sd_net *net, int set, const struct sc_args *a, struct sc_res *r)
{
	int fd = (int)a->n[0];
	struct linger lg = {1, (int)a->n[2]};
	socklen_t l = sizeof lg;
	if (set) {
		if (a->n[3]) /* {ON, SECS} */
			lg = (struct linger){(int)(a->n[2] >> 32), (int)(a->n[2] & 0xffffffff)};
		r->v = sd_setsockopt(net, fd, a->opt->level, a->opt->optname, &lg, sizeof lg);
		return;
	}
	int rc = sd_getsockopt(net, fd, a->opt->level, a->opt->optname, &lg, &l);
	r->v = rc < 0 ? rc : lg.l_onoff ? lg.l_linger : -1;
	if (rc == 0) {
		r->linger[0] = lg.l_onoff;
		r->linger[1] = lg.l_linger;
		r->has_linger = 1;
	}
}
