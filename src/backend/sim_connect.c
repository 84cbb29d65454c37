/* sockdrill sim: connect and accept, following Linux's TCP code: the handshake (a child joins
 * the listener's queue), SYN retransmissions and when they give up, the source address. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static struct sd__sock *new_child(struct sd__sim *s, struct sd__sock *l)
{
	struct sd__sock *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->id = ++s->next_id;
	c->fd = -1;
	c->v6 = l->v6;
	c->fin_at = -1;
	c->reuseaddr = l->reuseaddr, c->reuseport = l->reuseport, c->v6only = l->v6only;
	c->keepalive = l->keepalive, c->nodelay = l->nodelay;
	c->recvmsg_inq = l->recvmsg_inq, c->peek_off = l->peek_off; /* copied, as sk_clone_lock */
	c->linger_on = l->linger_on, c->linger_s = l->linger_s;
	c->rcvtimeo = l->rcvtimeo, c->sndtimeo = l->sndtimeo;
	c->rcvlowat = l->rcvlowat, c->user_timeout = l->user_timeout, c->user_mss = l->user_mss;
	c->port_range = l->port_range, c->notsent_lowat = l->notsent_lowat;
	c->cork = l->cork; /* tp->nonagle is copied: an accepted socket is corked too */
	c->sndbuf = l->sndbuf_lock ? l->sndbuf : s->wmem_auto;
	c->rcvbuf = l->rcvbuf;
	c->sndbuf_lock = l->sndbuf_lock, c->rcvbuf_lock = l->rcvbuf_lock;
	c->shut = l->shut; /* the child is a copy of the listener, shutdown bits included */
	return c;
}

/* The handshake completes: a child joins the listener's queue and both ends are
 * ESTABLISHED. -ENOMEM leaves everything as it was. */
static int establish(struct sd__sim *s, struct sd__sock *k, struct sd__sock *l,
		     const struct sd__ep *dst)
{
	struct sd__sock *c = new_child(s, l);
	if (!c)
		return -ENOMEM;
	c->local = *dst;
	c->local.port = l->local.port;
	c->remote = k->local;
	if (!c->v6 && !sd__ep_is_v4(&c->remote))
		sd__set_v4(&c->remote, 0x7f000001u);
	c->st = T_ESTABLISHED;
	c->ss = SS_CONNECTED;
	c->was_conn = 1;
	c->had_window = 1;
	c->bind_lock = l->bind_lock;
	sd__port_link(s, c); /* children share the listener's port, as in Linux's bind buckets */
	c->parent = l;
	c->refs++; /* held by the accept queue */
	if (l->aq_tail)
		l->aq_tail->aq_next = c;
	else
		l->aq_head = c;
	l->aq_tail = c;
	l->aq_len++;
	l->inseq++;
	c->peer = k;
	k->peer = c;
	k->remote = c->local;
	if (!k->v6 && !sd__ep_is_v4(&k->remote))
		sd__set_v4(&k->remote, 0x7f000001u);
	k->st = T_ESTABLISHED;
	k->had_window = 1;
	k->evseq++;
	sd__mss_at_connect(k, c);
	if (!k->sndbuf_lock)
		k->sndbuf = s->wmem_auto;
	sd__unlink_connecting(s, k);
	/* A child reaches ESTABLISHED through SYN_RECV, where Linux sends the FIN at once if
	 * its (inherited) send side is shut; an active opener does not. */
	if (c->shut & SD__SEND_SHUTDOWN)
		sd__close_state_and_fin(s, c);
	sd__wake_all(s);
	return 0;
}

/* Sends (or resends) the SYN to the destination. Returns 1 if the SYN was dropped because
 * the listener's accept queue is full (the caller retries), 0 otherwise. */
static int syn(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__sock *l = sd__find_listener(s, &k->dst);
	if (!l && k->dst.port == k->local.port && !memcmp(k->dst.a, k->local.a, 16)) {
		/* SYN to our own address and port: simultaneous open with ourselves. */
		k->st = T_ESTABLISHED;
		k->had_window = 1;
		k->evseq++;
		k->peer = k;
		k->remote = k->local;
		sd__mss_at_connect(k, k);
		if (!k->sndbuf_lock)
			k->sndbuf = s->wmem_auto;
		sd__unlink_connecting(s, k);
		if (k->shut & SD__SEND_SHUTDOWN) /* via SYN_RECV, like a child: FIN at once */
			sd__close_state_and_fin(s, k);
		sd__wake_all(s);
		return 0;
	}
	if (!l) {
		sd__rst_arrives(s, k); /* ECONNREFUSED */
		return 0;
	}
	if (l->aq_len > l->backlog) /* sk_acceptq_is_full() */
		return 1;
	if (establish(s, k, l, &k->dst) < 0)
		return 1;
	return 0;
}

/* The wait before SYN retransmission n+1 (n made so far): the initial RTO of 1 s, kept for
 * the first tcp_syn_linear_timeouts retransmissions, then doubled each time up to the RTO
 * maximum (measured on 6.18: retries at 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s). */
static int64_t syn_rto(const struct sd__sim *s, int n)
{
	int64_t max = (int64_t)s->prof.rto_max_ms * 1000000, lin = s->prof.syn_linear_timeouts;
	if (n <= lin)
		return SEC;
	return n - lin >= 30 || (SEC << (n - lin)) > max ? max : SEC << (n - lin);
}

/* tcp_model_timeout(): how long after the first SYN a connect gives up, the time tcp_syn_retries
 * exponential retransmissions would take (127 s for 6); retransmissions stop at the first
 * timer past it, whatever their spacing, so linear ones make more of them. */
static int64_t syn_give_up(const struct sd__sim *s)
{
	int64_t rto_max = (int64_t)s->prof.rto_max_ms * 1000000;
	int b = s->prof.syn_retries, thresh = 0;
	while ((SEC << (thresh + 1)) <= rto_max) /* ilog2(TCP_RTO_MAX / TCP_TIMEOUT_INIT) */
		thresh++;
	if (b <= thresh)
		return ((2LL << b) - 1) * SEC;
	return ((2LL << thresh) - 1) * SEC + (int64_t)(b - thresh) * rto_max;
}

static void schedule_retry(struct sd__sim *s, struct sd__sock *k)
{
	k->retry_at = s->now + sd__user_timeout_clamp(s, k, syn_rto(s, k->retries));
	if (!k->in_connecting) {
		k->cprev = NULL;
		k->cnext = s->connecting;
		if (s->connecting)
			s->connecting->cprev = k;
		s->connecting = k;
		k->in_connecting = 1;
	}
	sd__timer_add(s, k->retry_at);
}

void sd__retry_connects(struct sd__sim *s)
{
	struct sd__sock *k = s->connecting, *next;
	for (; k; k = next) {
		next = k->cnext;
		if (k->st != T_SYN_SENT) {
			sd__unlink_connecting(s, k);
			continue;
		}
		if (k->retry_at > s->now)
			continue;
		if (s->now - k->syn_at >= syn_give_up(s) || /* tcp_write_timeout() */
		    sd__user_timeout_over(s, k)) {
			k->err = ETIMEDOUT;
			sd__tcp_done(s, k);
			continue;
		}
		if (!syn(s, k))
			continue; /* established or refused: unlinked by then */
		k->retries++;
		schedule_retry(s, k);
	}
}

/* Seeded stand-in for the hash of (saddr, daddr, dport) Linux starts its search from. */
static int prot_connect(struct sd__sim *s, struct sd__sock *k, const struct sd__ep *dst_in)
{
	struct sd__ep dst = *dst_in;
	int v4 = sd__ep_is_v4(&dst);
	if (k->v6 && v4 && k->v6only)
		return -ENETUNREACH;
	if (sd__ep_any(&dst)) {
		/* Connecting to the wildcard means this host: the socket's own bound address
		 * when it has one (so it can even reach itself), else loopback. */
		uint16_t port = dst.port;
		if (k->bound && !sd__ep_any(&k->local) && sd__ep_is_v4(&k->local) == v4)
			dst = k->local;
		else if (v4 || (k->v6 && sd__ep_is_v4(&k->local)))
			sd__set_v4(&dst, 0x7f000001u);
		else
			memset(dst.a, 0, 16), dst.a[15] = 1;
		dst.port = port;
		v4 = sd__ep_is_v4(&dst);
	}
	if (!sd__ep_loopback(&dst))
		return -ENETUNREACH; /* the simulated host has loopback only */
	/* A v6 socket bound to a real IPv6 address cannot reach a v4-mapped one (no route
	 * from it), and one bound to a v4-mapped address cannot reach IPv6 (ip6_dst_lookup). */
	int has_src = k->bound || k->addr_lock;
	int fixed_src = has_src && !sd__ep_any(&k->local);
	if (k->v6 && has_src && sd__ep_is_v4(&k->local) && !v4)
		return -EAFNOSUPPORT; /* even ::ffff:0.0.0.0 is a v4-mapped source */
	if (fixed_src && !sd__ep_is_v4(&k->local) && v4)
		return -ENETUNREACH;
	if (!fixed_src) {
		uint16_t port = k->local.port;
		if (v4)
			sd__set_v4(&k->local, 0x7f000001u); /* the route's preferred source */
		else
			memset(k->local.a, 0, 16), k->local.a[15] = 1;
		k->local.port = port;
	}
	/* A one-role kernel refuses a socket that has listened once the connect is under way;
	 * a bound socket whose port is shared may not repeat another's 4-tuple
	 * (__inet_check_established, for a port bind() or listen() gave). */
	int refused = k->was_listener && s->one_role ? -EINVAL : 0;
	if (!refused && k->bound && sd__tuple_taken(s, k, &dst))
		refused = -EADDRNOTAVAIL;
	if (refused) {
		/* undone as tcp_v4_connect's failure path does: the source address is reset and
		 * a port bind() did not name goes back */
		if (!k->addr_lock) {
			uint16_t port = k->local.port;
			memset(k->local.a, 0, 16);
			if (!k->v6)
				k->local.a[10] = k->local.a[11] = 0xff;
			k->local.port = port;
		}
		if (k->bound && !k->bind_lock)
			sd__port_unlink(s, k);
		return refused;
	}
	if (!k->bound) {
		int rc = sd__connect_autobind(s, k, &dst);
		if (rc < 0) {
			memset(&k->local, 0, sizeof k->local);
			if (!k->v6)
				sd__set_v4(&k->local, 0);
			return rc;
		}
	}
	k->dst = dst;
	k->remote = dst;
	k->st = T_SYN_SENT;
	k->was_conn = 1;
	k->disc_gap = 0; /* tcp_connect_init(): snd_nxt = write_seq */
	k->retries = 0;
	k->syn_at = s->now;
	k->err = 0;
	return 0;
}

/* __inet_stream_connect(). aerr is the address check's verdict, reported where Linux's
 * tcp_v4_connect would report it. */
int sd__connect(struct sd__sim *s, struct sd__sock *k, const struct sd__ep *dst, int aerr,
		int nonblock)
{
	int err;
	switch (k->ss) {
	default: return -EINVAL;
	case SS_CONNECTED: return -EISCONN;
	case SS_CONNECTING: err = -EALREADY; break;
	case SS_UNCONNECTED:
		if (k->st != T_CLOSE)
			return -EISCONN;
		if (aerr)
			return aerr;
		err = prot_connect(s, k, dst);
		if (err < 0)
			return err;
		k->ss = SS_CONNECTING;
		err = -EINPROGRESS;
		/* The SYN goes out now; on loopback the answer is handled before the caller's
		 * next step, but after this call has decided what to return. */
		if (syn(s, k))
			schedule_retry(s, k);
		if (nonblock)
			return err;
		break;
	}
	if (k->st == T_SYN_SENT) {
		if (nonblock)
			return err;
		if (k->sndtimeo < 0) /* a negative SO_SNDTIMEO: no waiting */
			return err;
		int64_t deadline = sd__deadline(s, k->sndtimeo);
		while (k->st == T_SYN_SENT) {
			enum sd__wake w = sd__park(s, "connect", deadline);
			if (w == W_DEADLOCK)
				return -EDEADLK;
			if (w == W_INTR) /* the handshake goes on; a second connect says EALREADY */
				return -EINTR;
			if (w == W_TIMEOUT && k->st == T_SYN_SENT)
				return err;
		}
	}
	if (k->st == T_CLOSE) {
		/* sock_error, then tcp_disconnect(): the socket is as new, shutdown bits too, and
		 * what it had received is purged with the connection. */
		err = k->err ? -k->err : -ECONNABORTED;
		k->err = 0;
		k->ss = SS_UNCONNECTED;
		sd__disconnect_seq(k);
		k->shut = 0;
		k->done = 0;
		sd__free_chunks(s, k);
		if (!k->addr_lock) {
			memset(k->local.a, 0, 16);
			if (!k->v6)
				k->local.a[10] = k->local.a[11] = 0xff;
		}
		/* No port is released here: the move to CLOSE (when the RST arrived) already
		 * did that, and a port bound since then stays. */
		memset(&k->remote, 0, sizeof k->remote);
		k->evseq++; /* tcp_disconnect() ends in sk_error_report(): every waiter wakes */
		return err;
	}
	k->ss = SS_CONNECTED;
	return 0;
}

int sd__accept(struct sd__sim *s, struct sd__sock *k, struct sd__sock **child, int nonblock)
{
	int64_t deadline = sd__deadline(s, k->rcvtimeo);
	nonblock = nonblock || k->rcvtimeo < 0;
	for (;;) {
		if (k->st != T_LISTEN)
			return -EINVAL;
		if (k->aq_head)
			break;
		if (nonblock)
			return -EAGAIN;
		enum sd__wake w = sd__park(s, "accept", deadline);
		if (w == W_DEADLOCK)
			return -EDEADLK;
		if (w == W_INTR)
			return -EINTR;
		if (w == W_TIMEOUT && !k->aq_head)
			return -EAGAIN;
	}
	struct sd__sock *c = k->aq_head;
	k->aq_head = c->aq_next;
	if (!k->aq_head)
		k->aq_tail = NULL;
	k->aq_len--;
	c->aq_next = NULL;
	c->parent = NULL;
	*child = c;      /* the queue's reference passes to the caller */
	sd__wake_all(s); /* room in the queue: a SYN retry may now succeed */
	return 0;
}
