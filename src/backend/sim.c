/* sockdrill sim: the `sim` backend's table, its instances and the socket calls. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

#include "../util/sockopts.h"
#include "sim_internal.h"

/* Every call starts here: count it, maybe let another actor run first, process due timers. */
void sim__enter(struct sim__sim *s)
{
	s->calls++;
	sim__maybe_yield(s);
	if (s->ntimers && s->timers[0] <= s->now)
		sim__advance(s);
}

/* ---- instance ---------------------------------------------------------------------------- */

static int sim_create(const struct sd_config *cfg, void **state)
{
	struct sim__sim *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->by_port = sim__ports_get();
	if (!s->by_port) {
		free(s);
		return -ENOMEM;
	}
	s->listeners = s->by_port + 65536;
	s->seed = cfg->seed;
	s->rng = cfg->seed ^ 0x5ced5eedull;
	s->bytes_rng = sd__mix(cfg->seed ^ 0x7261776279746573ull);
	s->wmem_auto = 3939840;
	if (sim__configure(s, cfg) < 0) {
		sim__ports_put(s);
		free(s);
		return -EINVAL;
	}
	s->port_lo = s->prof.port_lo, s->port_hi = s->prof.port_hi;
	s->somaxconn = s->prof.somaxconn;
	s->wmem_max = s->prof.wmem_max, s->rmem_max = s->prof.rmem_max;
	s->wmem_def = s->prof.wmem_def, s->rmem_def = s->prof.rmem_def;
	s->perturb_rng = s->rng; /* the next 256 draws are the perturb table's (sim__perturb) */
	s->rng += 256 * SD__GOLDEN;
	if (sim__sched_init(s) < 0) {
		sim__ports_put(s);
		free(s);
		return -ENOMEM;
	}
	*state = s;
	return 0;
}

static void sim_destroy(void *state)
{
	struct sim__sim *s = state;
	/* An actor left blocked in accept holds a reserved slot: not a socket to free. */
	for (int i = 0; i < s->nfds_cap; i++)
		if (s->fds[i] == &sim__reserved)
			s->fds[i] = NULL;
	sim__free_all(s);
	sim__epoll_free_all(s);
	sim__chunk_pool_free(s);
	free(s->fds);
	free(s->timers);
	sim__sched_free(s);
	sim__ports_put(s);
	free(s->ports_used);
	free(s);
}

/* ---- addresses across the boundary -------------------------------------------------------- */

/* Reads a caller's sockaddr for socket k. 0, or the errno Linux gives for a wrong length
 * (-EINVAL) or family (-EAFNOSUPPORT). */
int sim__ep_from(const struct sim__sock *k, const struct sockaddr *a, socklen_t len,
		 struct sim__ep *ep)
{
	memset(ep, 0, sizeof *ep);
	if (!a)
		return -EFAULT;
	if (!k->v6) {
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;
		if (a->sa_family != AF_INET &&
		    !(a->sa_family == AF_UNSPEC && in->sin_addr.s_addr == htonl(INADDR_ANY)))
			return -EAFNOSUPPORT;
		ep->a[10] = ep->a[11] = 0xff;
		memcpy(ep->a + 12, &in->sin_addr, 4);
		ep->port = ntohs(in->sin_port);
		return 0;
	}
	if (len < 24) /* SIN6_LEN_RFC2133 */
		return -EINVAL;
	if (a->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
	memcpy(ep->a, &in6->sin6_addr, 16);
	ep->port = ntohs(in6->sin6_port);
	return 0;
}

static void ep_to(const struct sim__sock *k, const struct sim__ep *ep, struct sockaddr *a,
		  socklen_t *len)
{
	struct sockaddr_storage ss;
	socklen_t n;
	memset(&ss, 0, sizeof ss);
	if (!k->v6) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(ep->port);
		memcpy(&in->sin_addr, ep->a + 12, 4);
		n = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(ep->port);
		memcpy(&in6->sin6_addr, ep->a, 16);
		n = sizeof *in6;
	}
	if (a && len) {
		memcpy(a, &ss, *len < n ? *len : n);
		*len = n;
	}
}

static int permitted(const struct sim__sim *s, const struct sockaddr *a, socklen_t len)
{
	return sd__addr_permitted(s->allow_nonloopback, a, len);
}

/* ---- the table's members ------------------------------------------------------------------- */

static int sim_socket(void *state, int domain, int type, int protocol)
{
	struct sim__sim *s = state;
	int fd;
	sim__enter(s);
	if (domain != AF_INET && domain != AF_INET6)
		fd = -EAFNOSUPPORT;
	else if (type & ~(SOCK_STREAM | SOCK_DGRAM | SOCK_RAW | SOCK_SEQPACKET | SOCK_NONBLOCK |
			  SOCK_CLOEXEC | 0xf))
		fd = -EINVAL;
	else if ((type & 0xf) != SOCK_STREAM)
		fd = -ESOCKTNOSUPPORT;
	else if (protocol != 0 && protocol != IPPROTO_TCP)
		fd = -EPROTONOSUPPORT;
	else {
		struct sim__sock *k = calloc(1, sizeof *k);
		if (!k) {
			fd = -ENOMEM;
		} else {
			k->id = ++s->next_id;
			k->refs = 1;
			k->v6 = domain == AF_INET6;
			k->nonblock = (type & SOCK_NONBLOCK) != 0;
			k->fin_at = -1;
			k->peek_off = -1;
			k->sndbuf = s->wmem_def;
			k->rcvbuf = s->rmem_def;
			if (!k->v6)
				k->local.a[10] = k->local.a[11] = 0xff;
			fd = sim__fd_alloc(s, k);
			if (fd < 0)
				free(k);
			else
				k->fd = fd, k->ndesc = 1;
		}
	}
	return fd;
}

static int sim_bind(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	struct sim__ep ep;
	int rc;
	sim__enter(s);
	if (!(k = sim__lookup(s, fd)))
		rc = sim__bad_fd(s, fd);
	else if (!permitted(s, a, len)) /* policy first, as the real backend does */
		rc = -EPERM;
	else if ((rc = sim__ep_from(k, a, len, &ep)) == 0)
		rc = sim__bind(s, k, &ep);
	return rc;
}

static int sim_listen(void *state, int fd, int backlog)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	int rc;
	sim__enter(s);
	rc = (k = sim__lookup(s, fd)) ? sim__listen(s, k, backlog) : sim__bad_fd(s, fd);
	return rc;
}

static int sim_accept(void *state, int fd, struct sockaddr *a, socklen_t *len, int flags)
{
	struct sim__sim *s = state;
	struct sim__sock *k, *c = NULL;
	int rc, nfd = -1;
	sim__enter(s);
	if (!(k = sim__lookup(s, fd)))
		rc = sim__bad_fd(s, fd);
	else if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		rc = -EINVAL;
	else if ((rc = nfd = sim__fd_alloc(s, &sim__reserved)) >= 0) {
		k->refs++;
		rc = sim__accept(s, k, &c, k->nonblock);
		sim__sock_unref(s, k);
		if (rc == 0) {
			s->fds[nfd - s->fdbase] = c;
			c->fd = nfd;
			c->ndesc = 1;
			c->nonblock = (flags & SOCK_NONBLOCK) != 0;
			ep_to(c, &c->remote, a, len);
			rc = nfd;
		} else {
			sim__fd_free(s, nfd);
		}
	}
	return rc;
}

static int sim_connect(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	struct sim__ep ep;
	int rc;
	sim__enter(s);
	if (!(k = sim__lookup(s, fd)))
		rc = sim__bad_fd(s, fd);
	else if (!permitted(s, a, len))
		rc = -EPERM;
	else if (a && len >= sizeof(sa_family_t) && a->sa_family == AF_UNSPEC)
		rc = sim__disconnect(s, k);
	else if (!a || len < sizeof(sa_family_t))
		rc = -EINVAL;
	else {
		int aerr = sim__ep_from(k, a, len, &ep);
		k->refs++;
		rc = sim__connect(s, k, aerr ? NULL : &ep, aerr, k->nonblock);
		sim__sock_unref(s, k);
	}
	return rc;
}

static ssize_t do_send(struct sim__sim *s, int fd, const struct iovec *iov, int n, int flags)
{
	struct sim__sock *k;
	ssize_t rc;
	sim__enter(s);
	if (!(k = sim__lookup(s, fd))) {
		rc = sim__bad_fd(s, fd);
	} else {
		k->refs++;
		rc = sim__send(s, k, iov, n, flags);
		sim__sock_unref(s, k);
	}
	return rc;
}

/* TCP_INQ's control message after a recvmsg (tcp_recvmsg): tcp_inq_hint() is rcv_nxt -
 * copied_seq, and the peer's FIN takes a sequence number: the bytes still readable plus 1 once
 * the FIN came (which a read that reached it consumed: then 0, which SOCK_DONE makes 1 again).
 * Either way, the bytes + 1 after the FIN; SIOCINQ takes the FIN off again (tcp_ioctl). Cut
 * short as put_cmsg() cuts it: MSG_CTRUNC when `room` holds less than the message, nothing at
 * all below a header. */
static void put_inq(struct sim__sim *s, struct sim__sock *k, struct msghdr *m, size_t room)
{
	size_t left = sim__arrived(s, k);
	int inq = left > INT_MAX - 1 ? INT_MAX : (int)left + (k->done != 0);
	if (!m->msg_control || room < sizeof(struct cmsghdr)) {
		m->msg_flags |= MSG_CTRUNC;
		return;
	}
	size_t len = CMSG_LEN(sizeof inq), space = CMSG_SPACE(sizeof inq);
	if (room < len)
		m->msg_flags |= MSG_CTRUNC, len = room;
	unsigned char msg[CMSG_SPACE(sizeof(int))] = {0};
	struct cmsghdr h = {.cmsg_len = len, .cmsg_level = SOL_TCP, .cmsg_type = TCP_CM_INQ};
	memcpy(msg, &h, sizeof h);
	memcpy(msg + CMSG_LEN(0), &inq, sizeof inq);
	memcpy(m->msg_control, msg, len);
	m->msg_controllen = room < space ? room : space;
}

/* m: recvmsg's header, for its control messages in `room` bytes (NULL for recv) */

/* SO_PEEK_OFF after a read of rc bytes (sk_peek_offset_fwd/_bwd): a peek moves the offset on
 * past what it saw, a read takes what it consumed off it (not below 0). */
static void peek_off_moves(struct sim__sock *k, int flags, ssize_t rc)
{
	if (rc <= 0 || k->peek_off < 0)
		return;
	if (flags & MSG_PEEK)
		k->peek_off = rc > INT_MAX - k->peek_off ? INT_MAX : k->peek_off + (int)rc;
	else
		k->peek_off = rc >= k->peek_off ? 0 : k->peek_off - (int)rc;
}

static ssize_t do_recv(struct sim__sim *s, int fd, const struct iovec *iov, int n, int flags,
		       struct msghdr *m, size_t room)
{
	struct sim__sock *k;
	ssize_t rc;
	sim__enter(s);
	if (!(k = sim__lookup(s, fd))) {
		rc = sim__bad_fd(s, fd);
	} else {
		k->refs++;
		rc = sim__recv(s, k, iov, n, flags);
		if (m && rc >= 0 && k->recvmsg_inq)
			put_inq(s, k, m, room);
		peek_off_moves(k, flags, rc);
		sim__sock_unref(s, k);
	}
	return rc;
}

static ssize_t sim_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct iovec v = {(void *)buf, len};
	return do_send(state, fd, &v, 1, flags);
}

static ssize_t sim_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct iovec v = {buf, len};
	return do_recv(state, fd, &v, 1, flags, NULL, 0);
}

static ssize_t sim_sendmsg(void *state, int fd, const struct msghdr *m, int flags)
{
	struct sim__sim *s = state;
	if (!m)
		return -EINVAL;
	if (m->msg_iovlen > 1024) /* UIO_MAXIOV */
		return -EMSGSIZE;
	if (m->msg_name && !permitted(s, m->msg_name, m->msg_namelen))
		return -EPERM;
	return do_send(s, fd, m->msg_iov, (int)m->msg_iovlen, flags);
}

static ssize_t sim_recvmsg(void *state, int fd, struct msghdr *m, int flags)
{
	if (!m)
		return -EINVAL;
	if (m->msg_iovlen > 1024) /* UIO_MAXIOV */
		return -EMSGSIZE;
	size_t room = m->msg_controllen;
	m->msg_namelen = 0;
	m->msg_controllen = 0;
	m->msg_flags = flags & MSG_CMSG_CLOEXEC; /* ____sys_recvmsg() keeps it for the caller */
	return do_recv(state, fd, m->msg_iov, (int)m->msg_iovlen, flags, m, room);
}

static int sim_shutdown(void *state, int fd, int how)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	int rc;
	sim__enter(s);
	rc = (k = sim__lookup(s, fd)) ? sim__shutdown(s, k, how) : sim__bad_fd(s, fd);
	return rc;
}

static int sim_getname(void *state, int fd, struct sockaddr *a, socklen_t *len, int peer)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	int rc = 0;
	sim__enter(s);
	if (!(k = sim__lookup(s, fd)))
		rc = sim__bad_fd(s, fd);
	else if (!len || (int)*len < 0)
		rc = -EINVAL;
	else if (peer && (k->st == T_CLOSE || k->st == T_SYN_SENT || k->st == T_LISTEN))
		rc = -ENOTCONN;
	else
		ep_to(k, peer ? &k->remote : &k->local, a, len);
	return rc;
}

static int sim_getsockname(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	return sim_getname(state, fd, a, len, 0);
}

static int sim_getpeername(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	return sim_getname(state, fd, a, len, 1);
}

static int poll_scan(struct sim__sim *s, struct pollfd *fds, nfds_t n)
{
	int ready = 0;
	for (nfds_t i = 0; i < n; i++) {
		struct sim__sock *k;
		fds[i].revents = 0;
		if (fds[i].fd < 0)
			continue;
		if (!(k = sim__slot(s, fds[i].fd)))
			fds[i].revents = POLLNVAL;
		else if (k->ep)
			fds[i].revents = (short)(sim__epoll_mask(s, k) & fds[i].events);
		else
			fds[i].revents =
				(short)(sim__poll_mask(s, k) & (fds[i].events | POLLERR | POLLHUP));
		ready += fds[i].revents != 0;
	}
	return ready;
}

static int sim_poll(void *state, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct sim__sim *s = state;
	int rc;
	sim__enter(s);
	if (n > (nfds_t)s->nofile) {
		rc = -EINVAL;
	} else {
		int64_t deadline = timeout_ms < 0 ? -1 : s->now + (int64_t)timeout_ms * 1000000;
		for (;;) {
			rc = poll_scan(s, fds, n);
			if (rc || timeout_ms == 0 || (deadline >= 0 && s->now >= deadline))
				break;
			enum sim__wake w = sim__park(s, "poll", deadline);
			if (w == W_DEADLOCK || w == W_INTR) {
				rc = w == W_INTR ? -EINTR : -EDEADLK;
				break;
			}
		}
	}
	return rc;
}

static int sim_spawn(void *state, const char *name, void (*fn)(void *), void *arg)
{
	return sim__spawn(state, name, fn, arg);
}

static int sim_join(void *state, int id) { return sim__join(state, id); }

static int sim_join_until(void *state, int id, int64_t deadline_ns)
{
	return sim__join_until(state, id, deadline_ns < 0 ? 0 : deadline_ns);
}

static int sim_sleep_ns(void *state, int64_t ns) { return sim__sleep(state, ns); }

static int64_t sim_now_ns(void *state) { return ((struct sim__sim *)state)->now; }

static unsigned sim_caps(void *state)
{
	(void)state;
	return SD_CAP_DETERMINISTIC | SD_CAP_VIRTUAL_TIME | SD_CAP_SIM_CONFIG;
}

static const char *sim_actor_name(void *state) { return ((struct sim__sim *)state)->cur->name; }

/* The `wake` member for a descriptor (sd_sim_wake_readers too); 0, -EINVAL or -EBADF. */
int sim__wake_fd(struct sim__sim *s, int fd, short events)
{
	struct sim__sock *k;
	if (!events || (events & ~(POLLIN | POLLOUT)))
		return -EINVAL;
	if (!(k = sim__lookup(s, fd)))
		return -EBADF;
	if (events & POLLIN)
		k->inseq++; /* an arrival for edge-triggered EPOLLIN entries (sim_epoll.c) */
	if (events & POLLOUT)
		sim__wake_writers(s, k);
	sim__wake_all(s);
	return 0;
}

/* No sim__enter: neither a scheduling point nor a draw, so a wrapper's wake leaves the run's
 * interleaving as it was. */
static int sim_wake(void *state, int fd, short events)
{
	if (fd < 0)
		return -EBADF; /* a caller asking whether the call is there: before events */
	return sim__wake_fd(state, fd, events);
}

/* The sim keeps no record of calls (a trace wrapper above it does, include/sockdrill/trace.h):
 * a note is checked and dropped. */
static int sim_note(void *state, const char *text)
{
	(void)state;
	return !text || strchr(text, '\n') ? -EINVAL : 0;
}

const struct sd_ops sd_sim_ops = {
	.version = SD_OPS_VERSION,
	.name = "sim",
	.create = sim_create,
	.destroy = sim_destroy,
	.socket = sim_socket,
	.bind = sim_bind,
	.listen = sim_listen,
	.accept = sim_accept,
	.connect = sim_connect,
	.send = sim_send,
	.recv = sim_recv,
	.sendmsg = sim_sendmsg,
	.recvmsg = sim_recvmsg,
	.shutdown = sim_shutdown,
	.close = sim__close,
	.setsockopt = sim__setsockopt,
	.getsockopt = sim__getsockopt,
	.getsockname = sim_getsockname,
	.getpeername = sim_getpeername,
	.poll = sim_poll,
	.set_nonblocking = sim__set_nonblocking,
	.spawn = sim_spawn,
	.join = sim_join,
	.sleep_ns = sim_sleep_ns,
	.now_ns = sim_now_ns,
	.epoll_create = sim__epoll_create,
	.epoll_ctl = sim__sim_epoll_ctl,
	.epoll_wait = sim__epoll_wait,
	.wake = sim_wake,
	.note = sim_note,
	.dup = sim__dup,
	.dup3 = sim__dup3,
	.caps = sim_caps,
	.join_until = sim_join_until,
	.actor_name = sim_actor_name,
	.ioctl = sim__ioctl,
};
