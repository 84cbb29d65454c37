/* sockdrill scenarios: the calls added after the first set (addr, peer, ioctl, sendto, recvmsg). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "../libc.h"
#include "sc_internal.h"

/* SIOCINQ (FIONREAD) or SIOCOUTQ: the sim answers for its sockets, the kernel for its own
 * (a real backend's descriptors are the kernel's), through the C library's own ioctl. */
static int64_t queued(const struct sc_args *a, int fd)
{
	int outq = a->n[1] == SIOCOUTQ;
	if (a->n[1] != SIOCINQ && a->n[1] != SIOCOUTQ)
		return -EINVAL; /* the parser allows no other request */
	if (sd_sim_serial(a->backend))
		return sd_sim_queued(a->backend, fd, outq);
	int n = 0;
	if (SD__LIBC(ioctl)(fd, (unsigned long)a->n[1], &n) < 0)
		return -errno;
	return n;
}

void sd__sc_exec_ext(struct sd_net *net, enum sc_call call, const struct sc_args *a,
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
	case C_RECVMSG: {
		struct iovec v = {a->rbuf, a->rlen};
		struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
		/* (the buffer starts zeroed: MSG_TRUNC discards the bytes unread on Linux) */
		r->data = a->rbuf;
		r->v = sd_recvmsg(net, fd, &m, (int)a->n[2]);
		r->dlen = r->v > 0 ? (size_t)r->v : 0;
		if (r->dlen > a->rlen) /* MSG_TRUNC may count more than the buffer holds */
			r->dlen = a->rlen;
		break;
	}
	case C_EPOLL_CREATE: r->v = sd_epoll_create(net, 0); break;
	case C_EPOLL_CTL: {
		/* the entry's data is the descriptor: epoll_wait's events name it */
		struct epoll_event ev = {.events = (uint32_t)a->n[3], .data.fd = (int)a->n[2]};
		r->v = sd_epoll_ctl(net, fd, (int)a->n[1], (int)a->n[2], &ev);
		break;
	}
	case C_EPOLL_WAIT: {
		struct epoll_event *evs = (struct epoll_event *)a->rbuf; /* a->rlen of them */
		r->v = sd_epoll_wait(net, fd, evs, (int)a->rlen, (int)a->n[1]);
		r->data = a->rbuf;
		r->dlen = r->v > 0 ? (size_t)r->v * sizeof *evs : 0;
		break;
	}
	default: r->v = -ENOSYS; break;
	}
}

void sd__sc_describe_addr(const struct sc_res *r, char *got, size_t gl, char *norm, size_t nl)
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

int sd__sc_addr_matches(const struct sd_scenario *sc, const struct sc_expect *e,
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
		sd__sc_show_flags(evs[i].events, f, sizeof f);
		o += (size_t)snprintf(out + o, size - o, "%s%d: %s", i ? ", " : "", evs[i].data.fd,
				      f);
	}
	if (o < size)
		snprintf(out + o, size - o, "}");
}

void sd__sc_describe_events(const struct sc_res *r, char *got, size_t gl, char *norm, size_t nl)
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

int sd__sc_events_match(const struct sc_res *r, const int *fds, const int64_t *evs, int n)
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

void sd__sc_linger(struct sd_net *net, int set, const struct sc_args *a, struct sc_res *r)
{
	int fd = (int)a->n[0];
	struct linger lg = {1, (int)a->n[2]};
	socklen_t l = sizeof lg;
	if (set) {
		if (a->n[3]) /* {ON, SECS} */
			lg = (struct linger){(int)(a->n[2] >> 32), (int)(a->n[2] & 0xffffffff)};
		r->v = sd_setsockopt(net, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		return;
	}
	int rc = sd_getsockopt(net, fd, SOL_SOCKET, SO_LINGER, &lg, &l);
	r->v = rc < 0 ? rc : lg.l_onoff ? lg.l_linger : -1;
	if (rc == 0) {
		r->linger[0] = lg.l_onoff;
		r->linger[1] = lg.l_linger;
		r->has_linger = 1;
	}
}
