/* sockdrill sim: handshakes, resets, FINs and teardown, following Linux's TCP code. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* ---- resets and closes ------------------------------------------------------------------ */

static void free_chunks(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__chunk *c = k->in_head, *n;
	for (; c; c = n) {
		n = c->next;
		sd__chunk_free(s, c);
	}
	k->in_head = k->in_tail = NULL;
	k->in_bytes = 0;
}

static void unlink_connecting(struct sd__sim *s, struct sd__sock *k)
{
	if (!k->in_connecting)
		return;
	if (k->cprev)
		k->cprev->cnext = k->cnext;
	else
		s->connecting = k->cnext;
	if (k->cnext)
		k->cnext->cprev = k->cprev;
	k->cnext = k->cprev = NULL;
	k->in_connecting = 0;
}

/* The socket is finished (tcp_done): CLOSE, both directions shut, port released unless the
 * application bound it explicitly. */
static void tcp_done(struct sd__sim *s, struct sd__sock *k)
{
	unlink_connecting(s, k);
	k->st = T_CLOSE;
	k->shut = SD__RCV_SHUTDOWN | SD__SEND_SHUTDOWN;
	k->held = 0; /* the write queue is purged */
	if (k->peer)
		k->peer->peer = NULL, k->peer = NULL;
	if (k->bound && (!k->bind_lock || k->dead))
		sd__port_unlink(s, k); /* getsockname keeps showing the old port, as on Linux */
	k->evseq++;
	sd__wake_all(s);
}

/* tcp_reset(): an RST arrived at k. */
void sd__rst_arrives(struct sd__sim *s, struct sd__sock *k)
{
	switch (k->st) {
	case T_SYN_SENT: k->err = ECONNREFUSED; break;
	case T_CLOSE_WAIT: k->err = EPIPE; break;
	case T_CLOSE: return;
	default: k->err = ECONNRESET; break;
	}
	tcp_done(s, k);
}

static void send_rst_to_peer(struct sd__sim *s, struct sd__sock *k)
{
	sd__cork_drop(s, k); /* tcp_write_queue_purge(): held bytes never leave */
	struct sd__sock *p = k->peer;
	if (p == k) { /* connected to itself: the socket is going away anyway */
		k->peer = NULL;
		return;
	}
	if (p) {
		/* The RST travels behind the bytes already sent: those still in flight (with
		 * segmentation on) arrive first, and stay readable before the error. */
		for (struct sd__chunk *c = p->in_head; c; c = c->next)
			if (c->arrive > s->now)
				c->arrive = s->now;
		p->peer = NULL;
		k->peer = NULL;
		sd__rst_arrives(s, p);
		sd__maybe_free(s, p); /* an orphan that just died */
	}
}

/* Our FIN reaches the peer (after the bytes sent before it). */
static void send_fin(struct sd__sim *s, struct sd__sock *k)
{
	sd__cork_push(s, k); /* tcp_send_fin(): held bytes leave, the FIN on the last */
	struct sd__sock *p = k->peer;
	if (!p)
		return;
	int64_t at = s->now;
	if (p->in_tail && p->in_tail->arrive > at)
		at = p->in_tail->arrive;
	p->fin_at = at;
	if (at > s->now)
		sd__timer_add(s, at);
	sd__sync_fin(s, p);
	if (p != k)
		sd__maybe_free(s, p);
}

/* tcp_time_wait(): a timewait entry takes over the port for TIME_WAIT_LEN; the socket
 * itself (which may still have its fd) is done. */
static void enter_time_wait(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__sock *tw = calloc(1, sizeof *tw);
	if (tw && k->bound) {
		tw->id = ++s->next_id;
		tw->fd = -1;
		tw->dead = 1;
		tw->v6 = k->v6, tw->v6only = k->v6only;
		tw->reuseaddr = k->reuseaddr, tw->reuseport = k->reuseport;
		tw->by_connect = k->by_connect;
		tw->local = k->local, tw->remote = k->remote;
		tw->st = T_TIME_WAIT;
		tw->fin_at = -1;
		tw->tw_until = s->now + TIME_WAIT_LEN;
		sd__port_link(s, tw);
	} else {
		free(tw);
	}
	if (k->peer)
		k->peer->peer = NULL, k->peer = NULL;
	tcp_done(s, k);
}

/* Applies a FIN whose arrival time has come (tcp_fin()). */
/* The peer's FIN, due now (sd__sync_fin decides). */
void sd__fin_arrives(struct sd__sim *s, struct sd__sock *k)
{
	k->fin_at = -1;
	k->done = 1;
	k->shut |= SD__RCV_SHUTDOWN;
	if (k->st == T_ESTABLISHED) {
		k->st = T_CLOSE_WAIT;
	} else if (k->st == T_FIN_WAIT2) {
		enter_time_wait(s, k); /* the caller frees k if it was an orphan */
	}
	k->evseq++;
	sd__wake_all(s);
}

/* tcp_close_state() + tcp_send_fin(): ESTABLISHED -> FIN_WAIT2 (instantly acked) and
 * CLOSE_WAIT -> CLOSE (LAST_ACK, instantly acked). */
static void close_state_and_fin(struct sd__sim *s, struct sd__sock *k)
{
	if (k->st == T_ESTABLISHED) {
		k->st = T_FIN_WAIT2;
		k->tw_until = s->now + s->prof.fin_timeout * SEC; /* tcp_fin_timeout */
		send_fin(s, k);
	} else if (k->st == T_CLOSE_WAIT) {
		/* LAST_ACK, acked at once: the peer (FIN_WAIT2) turns to TIME_WAIT. */
		send_fin(s, k);
		if (k->peer)
			k->peer->peer = NULL, k->peer = NULL;
		tcp_done(s, k);
	} else if (k->st == T_SYN_SENT) {
		tcp_done(s, k);
	}
}

/* A listener going away resets every connection waiting in its queue. */
static void listen_stop(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__sock *c, *n;
	sd__listener_unlink(s, k);
	for (c = k->aq_head; c; c = n) {
		n = c->aq_next;
		c->aq_next = NULL;
		c->parent = NULL;
		send_rst_to_peer(s, c);
		tcp_done(s, c);
		sd__sock_unref(s, c); /* the queue's reference: releases and frees it */
	}
	k->aq_head = k->aq_tail = NULL;
	k->aq_len = 0;
	k->st = T_CLOSE;
	sd__wake_all(s);
}

/* tcp_close(), run when the last reference to the socket is gone. */
void sd__release(struct sd__sim *s, struct sd__sock *k)
{
	k->dead = 1;
	sd__sync_fin(s, k);
	if (k->st == T_LISTEN) {
		listen_stop(s, k);
	} else if (k->st == T_CLOSE) {
		/* never connected, reset, or done: nothing to tell anybody */
	} else if (k->in_bytes || (k->linger_on && k->linger_s == 0)) {
		/* Unread data (or zero linger): RST instead of FIN, and no TIME_WAIT. */
		send_rst_to_peer(s, k);
		tcp_done(s, k);
	} else {
		close_state_and_fin(s, k);
	}
	k->shut = SD__RCV_SHUTDOWN | SD__SEND_SHUTDOWN;
	free_chunks(s, k);
	if (k->st == T_CLOSE) {
		unlink_connecting(s, k);
		if (k->peer)
			k->peer->peer = NULL, k->peer = NULL;
		sd__port_unlink(s, k);
		sd__free_sock(s, k);
	}
	/* Otherwise an orphan in FIN_WAIT2 stays in the port table until the peer's FIN or
	 * the FIN timeout. */
}

void sd__sock_unref(struct sd__sim *s, struct sd__sock *k)
{
	if (--k->refs > 0)
		return;
	if (!k->dead)
		sd__release(s, k);
	else
		sd__maybe_free(s, k);
}

void sd__free_sock(struct sd__sim *s, struct sd__sock *k)
{
	if (k->ep)
		sd__epoll_free(s, k);
	free_chunks(s, k);
	free(k);
}

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
	unlink_connecting(s, k);
	/* A child reaches ESTABLISHED through SYN_RECV, where Linux sends the FIN at once if
	 * its (inherited) send side is shut; an active opener does not. */
	if (c->shut & SD__SEND_SHUTDOWN)
		close_state_and_fin(s, c);
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
		unlink_connecting(s, k);
		if (k->shut & SD__SEND_SHUTDOWN) /* via SYN_RECV, like a child: FIN at once */
			close_state_and_fin(s, k);
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
			unlink_connecting(s, k);
			continue;
		}
		if (k->retry_at > s->now)
			continue;
		if (s->now - k->syn_at >= syn_give_up(s) || /* tcp_write_timeout() */
		    sd__user_timeout_over(s, k)) {
			k->err = ETIMEDOUT;
			tcp_done(s, k);
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

/* tcp_disconnect()'s write_seq = write_seq + max_window + 2, where max_window is the largest
 * window the peer offered. The sim keeps no window: a socket once ESTABLISHED takes
 * loopback's first one, 65483 (measured on 6.18; it grows to 65536 once data came back). */
static void disconnect_seq(struct sd__sock *k)
{
	k->disc_gap += (k->had_window ? 65483 : 0) + 2;
}

/* tcp_disconnect() via connect(AF_UNSPEC): back to an unconnected socket. */
int sd__disconnect(struct sd__sim *s, struct sd__sock *k)
{
	enum sd__tcp old = k->st;
	disconnect_seq(k);
	if (old == T_LISTEN) {
		listen_stop(s, k);
	} else if (old == T_ESTABLISHED || old == T_CLOSE_WAIT || old == T_FIN_WAIT2) {
		send_rst_to_peer(s, k);
		k->err = ECONNRESET;
	} else if (old == T_SYN_SENT) {
		k->err = ECONNRESET;
	}
	unlink_connecting(s, k);
	if (k->peer)
		k->peer->peer = NULL, k->peer = NULL;
	k->st = T_CLOSE;
	k->shut = 0;
	k->done = 0;
	k->fin_at = -1;
	free_chunks(s, k);
	memset(&k->remote, 0, sizeof k->remote);
	if (!k->addr_lock) {
		memset(k->local.a, 0, 16);
		if (!k->v6)
			k->local.a[10] = k->local.a[11] = 0xff;
	}
	if (!k->bind_lock && old != T_CLOSE) { /* tcp_set_state(CLOSE) puts the port */
		sd__port_unlink(s, k);
		k->by_connect = 0;
	}
	k->ss = SS_UNCONNECTED;
	k->evseq++;
	sd__wake_all(s);
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
		disconnect_seq(k);
		k->shut = 0;
		k->done = 0;
		free_chunks(s, k);
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

int sd__shutdown(struct sd__sim *s, struct sd__sock *k, int how)
{
	int bits = how + 1, err = 0;
	if (how < 0 || (bits & ~3) || !bits)
		return -EINVAL;
	sd__sync_fin(s, k);
	if (k->ss == SS_CONNECTING)
		k->ss = (k->st == T_SYN_SENT || k->st == T_CLOSE) ? SS_DISCONNECTING : SS_CONNECTED;
	switch (k->st) {
	case T_LISTEN:
		if (!(bits & SD__RCV_SHUTDOWN))
			break;
		listen_stop(s, k); /* tcp_disconnect(): an auto-bound port goes back */
		disconnect_seq(k);
		k->ss = SS_UNCONNECTED;
		k->shut = 0;
		if (!k->bind_lock)
			sd__port_unlink(s, k);
		break;
	case T_SYN_SENT:
		/* inet_shutdown() -> tcp_disconnect(): the connect is abandoned and ECONNRESET
		 * waits for the next call that reports errors (found by the sim_vs_kernel fuzzer)
		 */
		sd__disconnect(s, k);
		break;
	case T_CLOSE:
		err = -ENOTCONN;
		k->shut |= bits;
		break;
	default:
		k->shut |= bits;
		if (bits & SD__SEND_SHUTDOWN)
			close_state_and_fin(s, k);
		break;
	}
	k->evseq++; /* sk_state_change(): every waiter, whatever it polls for */
	sd__wake_all(s);
	return err;
}

/* tcp_poll(). */
/* Adds k to the list of sockets to free, once: 0, or -1 out of memory. */
static int collect(struct sd__sock *k, struct sd__sock ***all, size_t *n, size_t *cap)
{
	if (k->gc)
		return 0;
	if (*n == *cap) {
		struct sd__sock **g = realloc(*all, (*cap *= 2) * sizeof **all);
		if (!g)
			return -1;
		*all = g;
	}
	k->gc = 1;
	(*all)[(*n)++] = k;
	return 0;
}

void sd__free_all(struct sd__sim *s)
{
	/* Every live socket is in the fd table or the port table, or waits in a listener's
	 * accept queue: a queued connection that a reset closed has left the port table (it
	 * leaked when the sim closed with its listener open). Collect each once, then free. */
	size_t n = 0, cap = 64;
	struct sd__sock **all = malloc(cap * sizeof *all);
	int nomem = !all;
	for (int i = 0; i < s->nfds_cap && !nomem; i++)
		if (s->fds[i])
			nomem = collect(s->fds[i], &all, &n, &cap) < 0;
	for (size_t i = 0; i < s->nports_used && !nomem; i++)
		for (struct sd__sock *k = s->by_port[s->ports_used[i]]; k && !nomem; k = k->pnext)
			nomem = collect(k, &all, &n, &cap) < 0;
	for (size_t i = 0; i < n && !nomem; i++) /* n grows: children are listed as they come */
		for (struct sd__sock *c = all[i]->aq_head; c && !nomem; c = c->aq_next)
			nomem = collect(c, &all, &n, &cap) < 0;
	for (size_t i = 0; i < n; i++)
		sd__free_sock(s, all[i]);
	free(all);
}
