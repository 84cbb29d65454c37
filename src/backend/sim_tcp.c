/* sockdrill sim: ports, handshakes, byte streams and teardown, following Linux's TCP code. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SEC            1000000000LL
#define TIME_WAIT_LEN  (60 * SEC) /* TCP_TIMEWAIT_LEN */
#define FIN_TIMEOUT    (60 * SEC) /* tcp_fin_timeout */
#define SYN_RETRIES    6          /* tcp_syn_retries */
#define SEGMENT_GAP_NS 10000      /* spacing of pieces when segmentation is on */

/* ---- addresses -------------------------------------------------------------------------- */

int sd__ep_is_v4(const struct sd__ep *e)
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(e->a, pfx, 12) == 0;
}

static int zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

int sd__ep_any(const struct sd__ep *e)
{
	return sd__ep_is_v4(e) ? zero(e->a + 12, 4) : zero(e->a, 16);
}

static uint32_t v4of(const struct sd__ep *e)
{
	return (uint32_t)e->a[12] << 24 | (uint32_t)e->a[13] << 16 | (uint32_t)e->a[14] << 8 |
	       e->a[15];
}

static void set_v4(struct sd__ep *e, uint32_t a)
{
	memset(e->a, 0, 10);
	e->a[10] = e->a[11] = 0xff;
	e->a[12] = (uint8_t)(a >> 24), e->a[13] = (uint8_t)(a >> 16);
	e->a[14] = (uint8_t)(a >> 8), e->a[15] = (uint8_t)a;
}

static int is_v6_loopback(const struct sd__ep *e) { return zero(e->a, 15) && e->a[15] == 1; }

/*
 * Do two bindings of one port overlap? Measured on Linux 6.x (every pair of IPv4, v4-mapped,
 * IPv6, wildcard and V6ONLY bindings; see docs/sim-vs-linux.md), the rule is symmetric:
 *  - IPv4 and v4-mapped addresses overlap when equal or when either is 0.0.0.0;
 *  - an IPv4 address and an IPv6 one overlap only through a dual-stack "::" (no V6ONLY);
 *  - IPv6 addresses overlap when equal or when either is "::".
 */
static int saddr_equal(const struct sd__sock *x, const struct sd__sock *y)
{
	int x4 = sd__ep_is_v4(&x->local), y4 = sd__ep_is_v4(&y->local);
	if (x4 && y4) {
		uint32_t a = v4of(&x->local), b = v4of(&y->local);
		return a == b || !a || !b;
	}
	if (x4 != y4) {
		const struct sd__sock *six = x4 ? y : x;
		return sd__ep_any(&six->local) && !six->v6only;
	}
	return sd__ep_any(&x->local) || sd__ep_any(&y->local) ||
	       memcmp(x->local.a, y->local.a, 16) == 0;
}

/* ---- the port table ------------------------------------------------------------------- */

static void port_link(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__sock **head = &s->by_port[k->local.port];
	k->pprev = NULL;
	k->pnext = *head;
	if (*head)
		(*head)->pprev = k;
	*head = k;
	k->bound = 1;
}

static void free_sock(struct sd__sim *s, struct sd__sock *k);

/* A socket nobody holds (no fd, no call, no queue) and no table lists is gone. */
static void maybe_free(struct sd__sim *s, struct sd__sock *k)
{
	if (k && k->dead && k->refs <= 0 && !k->bound)
		free_sock(s, k);
}

static void port_unlink(struct sd__sim *s, struct sd__sock *k)
{
	if (!k->bound)
		return;
	if (k->pprev)
		k->pprev->pnext = k->pnext;
	else
		s->by_port[k->local.port] = k->pnext;
	if (k->pnext)
		k->pnext->pprev = k->pprev;
	k->pnext = k->pprev = NULL;
	k->bound = 0;
}

static void listener_unlink(struct sd__sim *s, struct sd__sock *k)
{
	for (struct sd__sock **p = &s->listeners[k->local.port]; *p; p = &(*p)->lnext)
		if (*p == k) {
			*p = k->lnext;
			k->lnext = NULL;
			return;
		}
}

static void sync_fin(struct sd__sim *s, struct sd__sock *k);

/* Drops expired TIME_WAIT and timed-out orphan FIN_WAIT2 entries from a port's chain, and
 * orphans that reached CLOSE through a late FIN. */
static void reap_port(struct sd__sim *s, uint16_t port)
{
	struct sd__sock *k = s->by_port[port], *next;
	for (; k; k = next) {
		next = k->pnext;
		if (!k->dead)
			continue;
		sync_fin(s, k);
		if ((k->st == T_TIME_WAIT || k->st == T_FIN_WAIT2) && k->tw_until <= s->now) {
			k->st = T_CLOSE;
			if (k->peer)
				k->peer->peer = NULL, k->peer = NULL;
		}
		if (k->st == T_CLOSE) {
			port_unlink(s, k);
			maybe_free(s, k);
		}
	}
}

/* inet_csk_bind_conflict(). `relax`: an explicit port (SO_REUSEADDR may share with sockets
 * that are not listening); otherwise any overlapping owner conflicts (port 0 search). */
static int bind_conflict(struct sd__sim *s, struct sd__sock *sk, uint16_t port, int relax)
{
	int reuse = sk->reuseaddr && sk->st != T_LISTEN;
	for (struct sd__sock *k2 = s->by_port[port]; k2; k2 = k2->pnext) {
		if (k2 == sk)
			continue;
		if (reuse && k2->reuseaddr && k2->st != T_LISTEN) {
			if (!relax && saddr_equal(sk, k2))
				return 1;
		} else if (!relax || !sk->reuseport || !k2->reuseport) {
			if (saddr_equal(sk, k2))
				return 1;
		}
	}
	return 0;
}

/* inet_csk_find_open_port(): a seeded start, odd ports first, SO_REUSEADDR sockets trying
 * the lower half of the range first. 0, or -EADDRINUSE. */
static int pick_bind_port(struct sd__sim *s, struct sd__sock *k)
{
	int attempt_half = k->reuseaddr ? 1 : 0;
	for (;;) {
		int low = s->port_lo, high = s->port_hi + 1;
		if (high - low < 4)
			attempt_half = 0;
		if (attempt_half) {
			int half = low + (((high - low) >> 2) << 1);
			if (attempt_half == 1)
				high = half;
			else
				low = half;
		}
		uint32_t remaining = (uint32_t)(high - low);
		if (remaining > 1)
			remaining &= ~1u;
		uint32_t offset = sd__rand_below(s, remaining ? remaining : 1) | 1u;
		for (int parity = 0; parity < 2; parity++, offset--) {
			int port = low + (int)offset;
			for (uint32_t i = 0; i < remaining; i += 2, port += 2) {
				if (port >= high)
					port -= (int)remaining;
				reap_port(s, (uint16_t)port);
				if (!bind_conflict(s, k, (uint16_t)port, 0)) {
					k->local.port = (uint16_t)port;
					return 0;
				}
			}
		}
		if (attempt_half != 1)
			return -EADDRINUSE;
		attempt_half = 2;
	}
}

static int is_local(const struct sd__sock *k, const struct sd__ep *ep)
{
	if (sd__ep_is_v4(ep)) {
		uint32_t a = v4of(ep);
		return a == 0 || (a >> 24) == 127;
	}
	(void)k;
	return sd__ep_any(ep) || is_v6_loopback(ep);
}

/* inet_bind()/inet6_bind(): the checks come in Linux's order. */
int sd__bind(struct sd__sim *s, struct sd__sock *k, const struct sd__ep *ep)
{
	if (k->v6 && k->v6only && sd__ep_is_v4(ep))
		return -EINVAL;
	if (!is_local(k, ep))
		return -EADDRNOTAVAIL;
	if (ep->port && ep->port < 1024 && !s->privileged)
		return -EACCES;
	if (k->bound || k->st != T_CLOSE)
		return -EINVAL;
	k->local = *ep;
	if (ep->port) {
		reap_port(s, ep->port);
		if (bind_conflict(s, k, ep->port, 1)) {
			memset(&k->local, 0, sizeof k->local);
			if (!k->v6)
				set_v4(&k->local, 0);
			return -EADDRINUSE;
		}
	} else if (pick_bind_port(s, k) < 0) {
		k->local.port = 0;
		return -EADDRINUSE;
	}
	k->bind_lock = ep->port != 0;
	k->addr_lock = !sd__ep_any(ep);
	/* __inet6_bind(): a specific IPv6 address makes the socket IPv6-only for good. */
	if (k->v6 && !sd__ep_any(ep) && !sd__ep_is_v4(ep))
		k->v6only = 1;
	port_link(s, k);
	return 0;
}

int sd__listen(struct sd__sim *s, struct sd__sock *k, int backlog)
{
	if (k->ss != SS_UNCONNECTED || (k->st != T_CLOSE && k->st != T_LISTEN))
		return -EINVAL;
	if ((unsigned)backlog > (unsigned)s->somaxconn)
		backlog = s->somaxconn;
	if (k->st == T_LISTEN) {
		k->backlog = backlog;
		return 0;
	}
	/* As inet_csk_listen_start: the port is taken again in LISTEN state, so SO_REUSEADDR
	 * no longer helps against another socket on it. */
	enum sd__tcp old = k->st;
	k->st = T_LISTEN;
	if (k->bound) {
		reap_port(s, k->local.port);
		if (bind_conflict(s, k, k->local.port, 1)) {
			k->st = old;
			return -EADDRINUSE;
		}
	} else {
		if (pick_bind_port(s, k) < 0) {
			k->st = old;
			return -EADDRINUSE;
		}
		port_link(s, k);
	}
	k->backlog = backlog;
	k->lnext = s->listeners[k->local.port];
	s->listeners[k->local.port] = k;
	sd__wake_all(s);
	return 0;
}

/* ---- resets and closes ------------------------------------------------------------------ */

static void free_chunks(struct sd__sock *k)
{
	struct sd__chunk *c = k->in_head, *n;
	for (; c; c = n) {
		n = c->next;
		free(c);
	}
	k->in_head = k->in_tail = NULL;
	k->in_bytes = 0;
}

static void unlink_connecting(struct sd__sim *s, struct sd__sock *k)
{
	for (struct sd__sock **p = &s->connecting; *p; p = &(*p)->cnext)
		if (*p == k) {
			*p = k->cnext;
			k->cnext = NULL;
			k->in_connecting = 0;
			return;
		}
}

/* The socket is finished (tcp_done): CLOSE, both directions shut, port released unless the
 * application bound it explicitly. */
static void tcp_done(struct sd__sim *s, struct sd__sock *k)
{
	unlink_connecting(s, k);
	k->st = T_CLOSE;
	k->shut = SD__RCV_SHUTDOWN | SD__SEND_SHUTDOWN;
	if (k->peer)
		k->peer->peer = NULL, k->peer = NULL;
	if (k->bound && (!k->bind_lock || k->dead))
		port_unlink(s, k); /* getsockname keeps showing the old port, as on Linux */
	sd__wake_all(s);
}

/* tcp_reset(): an RST arrived at k. */
static void rst_arrives(struct sd__sim *s, struct sd__sock *k)
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
	struct sd__sock *p = k->peer;
	if (p == k) { /* connected to itself: the socket is going away anyway */
		k->peer = NULL;
		return;
	}
	if (p) {
		p->peer = NULL;
		k->peer = NULL;
		rst_arrives(s, p);
		maybe_free(s, p); /* an orphan that just died */
	}
}

/* Our FIN reaches the peer (after the bytes sent before it). */
static void send_fin(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__sock *p = k->peer;
	if (!p)
		return;
	int64_t at = s->now;
	if (p->in_tail && p->in_tail->arrive > at)
		at = p->in_tail->arrive;
	p->fin_at = at;
	if (at > s->now)
		sd__timer_add(s, at);
	sync_fin(s, p);
	if (p != k)
		maybe_free(s, p);
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
		port_link(s, tw);
	} else {
		free(tw);
	}
	if (k->peer)
		k->peer->peer = NULL, k->peer = NULL;
	tcp_done(s, k);
}

/* Applies a FIN whose arrival time has come (tcp_fin()). */
static void sync_fin(struct sd__sim *s, struct sd__sock *k)
{
	/* The FIN travels behind the data: while more is queued than the receive window
	 * holds, the rest (and the FIN) still sits in the sender's queue. */
	if (k->fin_at < 0 || k->fin_at > s->now || k->in_bytes > (size_t)k->rcvbuf)
		return;
	k->fin_at = -1;
	k->done = 1;
	k->shut |= SD__RCV_SHUTDOWN;
	if (k->st == T_ESTABLISHED) {
		k->st = T_CLOSE_WAIT;
	} else if (k->st == T_FIN_WAIT2) {
		enter_time_wait(s, k); /* the caller frees k if it was an orphan */
	}
	sd__wake_all(s);
}

/* tcp_close_state() + tcp_send_fin(): ESTABLISHED -> FIN_WAIT2 (instantly acked) and
 * CLOSE_WAIT -> CLOSE (LAST_ACK, instantly acked). */
static void close_state_and_fin(struct sd__sim *s, struct sd__sock *k)
{
	if (k->st == T_ESTABLISHED) {
		k->st = T_FIN_WAIT2;
		k->tw_until = s->now + FIN_TIMEOUT;
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
	listener_unlink(s, k);
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

static size_t readable(struct sd__sim *s, const struct sd__sock *k);

/* tcp_close(), run when the last reference to the socket is gone. */
void sd__release(struct sd__sim *s, struct sd__sock *k)
{
	k->dead = 1;
	sync_fin(s, k);
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
	free_chunks(k);
	if (k->st == T_CLOSE) {
		unlink_connecting(s, k);
		if (k->peer)
			k->peer->peer = NULL, k->peer = NULL;
		port_unlink(s, k);
		free_sock(s, k);
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
		maybe_free(s, k);
}

static void free_sock(struct sd__sim *s, struct sd__sock *k)
{
	(void)s;
	free_chunks(k);
	free(k);
}

/* ---- connecting -------------------------------------------------------------------------- */

/* Scores as Linux's listener lookup does: an exact address beats a wildcard. */
static struct sd__sock *find_listener(struct sd__sim *s, const struct sd__ep *dst)
{
	struct sd__sock *best[64];
	int nbest = 0, best_score = -1, v4 = sd__ep_is_v4(dst);
	for (struct sd__sock *l = s->listeners[dst->port]; l; l = l->lnext) {
		int score;
		if (l->st != T_LISTEN)
			continue;
		if (!l->v6) {
			if (!v4)
				continue;
			score = sd__ep_any(&l->local) ? 1 : (v4of(&l->local) == v4of(dst) ? 3 : -1);
			if (score > 0)
				score++; /* an IPv4 socket wins over a dual-stack one */
		} else if (v4) {
			if (l->v6only)
				continue;
			if (sd__ep_any(&l->local) && !sd__ep_is_v4(&l->local))
				score = 1;
			else
				score = sd__ep_is_v4(&l->local) && v4of(&l->local) == v4of(dst)
						? 3
						: -1;
		} else {
			score = sd__ep_any(&l->local)                 ? 1
				: memcmp(l->local.a, dst->a, 16) == 0 ? 3
								      : -1;
		}
		if (score < 0)
			continue;
		if (score > best_score)
			best_score = score, nbest = 0;
		if (score == best_score && nbest < 64)
			best[nbest++] = l;
	}
	if (!nbest)
		return NULL;
	return best[nbest == 1 ? 0 : sd__rand_below(s, (uint32_t)nbest)]; /* SO_REUSEPORT group */
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
	c->linger_on = l->linger_on, c->linger_s = l->linger_s;
	c->rcvtimeo = l->rcvtimeo, c->sndtimeo = l->sndtimeo;
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
		set_v4(&c->remote, 0x7f000001u);
	c->st = T_ESTABLISHED;
	c->ss = SS_CONNECTED;
	c->bind_lock = l->bind_lock;
	port_link(s, c); /* children share the listener's port, as in Linux's bind buckets */
	c->parent = l;
	c->refs++; /* held by the accept queue */
	if (l->aq_tail)
		l->aq_tail->aq_next = c;
	else
		l->aq_head = c;
	l->aq_tail = c;
	l->aq_len++;
	c->peer = k;
	k->peer = c;
	k->remote = c->local;
	if (!k->v6 && !sd__ep_is_v4(&k->remote))
		set_v4(&k->remote, 0x7f000001u);
	k->st = T_ESTABLISHED;
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
	struct sd__sock *l = find_listener(s, &k->dst);
	if (!l && k->dst.port == k->local.port && !memcmp(k->dst.a, k->local.a, 16)) {
		/* SYN to our own address and port: simultaneous open with ourselves. */
		k->st = T_ESTABLISHED;
		k->peer = k;
		k->remote = k->local;
		if (!k->sndbuf_lock)
			k->sndbuf = s->wmem_auto;
		unlink_connecting(s, k);
		if (k->shut & SD__SEND_SHUTDOWN) /* via SYN_RECV, like a child: FIN at once */
			close_state_and_fin(s, k);
		sd__wake_all(s);
		return 0;
	}
	if (!l) {
		rst_arrives(s, k); /* ECONNREFUSED */
		return 0;
	}
	if (l->aq_len > l->backlog) /* sk_acceptq_is_full() */
		return 1;
	if (establish(s, k, l, &k->dst) < 0)
		return 1;
	return 0;
}

static void schedule_retry(struct sd__sim *s, struct sd__sock *k)
{
	k->retry_at = s->now + (SEC << k->retries);
	if (!k->in_connecting) {
		k->cnext = s->connecting;
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
		if (!syn(s, k))
			continue; /* established or refused: unlinked by then */
		if (++k->retries > SYN_RETRIES) {
			k->err = ETIMEDOUT;
			tcp_done(s, k);
		} else {
			schedule_retry(s, k);
		}
	}
}

/* Seeded stand-in for the hash of (saddr, daddr, dport) Linux starts its search from. */
static uint32_t tuple_hash(struct sd__sim *s, const struct sd__ep *src, const struct sd__ep *dst)
{
	uint64_t h = s->seed ^ 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ src->a[i]) * 0x100000001b3ull, h = (h ^ dst->a[i]) * 0x100000001b3ull;
	h = (h ^ dst->port) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

/* May connect autobind take `port`? Only if every owner got it from connect too, and no
 * owner already has this very 4-tuple (__inet_hash_connect + __inet_check_established). */
static int connect_port_ok(struct sd__sim *s, struct sd__sock *k, uint16_t port,
			   const struct sd__ep *dst)
{
	reap_port(s, port);
	for (struct sd__sock *o = s->by_port[port]; o; o = o->pnext) {
		if (!o->by_connect)
			return 0;
		if (memcmp(o->local.a, k->local.a, 16) == 0 && o->remote.port == dst->port &&
		    memcmp(o->remote.a, dst->a, 16) == 0)
			return 0;
	}
	return 1;
}

/* __inet_hash_connect(): even ports first from a per-destination moving offset. */
static int connect_autobind(struct sd__sim *s, struct sd__sock *k, const struct sd__ep *dst)
{
	static const int perturb_mask = 255;
	int low = s->port_lo, high = s->port_hi + 1;
	uint32_t remaining = (uint32_t)(high - low);
	if (remaining > 1)
		remaining &= ~1u;
	uint32_t h = tuple_hash(s, &k->local, dst);
	uint32_t *perturb = &s->perturb[h & (uint32_t)perturb_mask];
	uint32_t offset = (*perturb + (h >> 8)) % (remaining ? remaining : 1);
	offset &= ~1u;
	for (int parity = 0; parity < 2; parity++, offset++) {
		int port = low + (int)offset;
		for (uint32_t i = 0; i < remaining; i += 2, port += 2) {
			if (port >= high)
				port -= (int)remaining;
			if (!connect_port_ok(s, k, (uint16_t)port, dst))
				continue;
			uint32_t r = sd__rand_below(s, 8) * 2;
			*perturb += (i > r ? i : r) + 2;
			k->local.port = (uint16_t)port;
			k->by_connect = 1;
			port_link(s, k);
			return 0;
		}
		if (remaining <= 1)
			break;
	}
	return -EADDRNOTAVAIL;
}

/* tcp_v4_connect()/tcp_v6_connect() up to the SYN: checks, source address, port. */
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
			set_v4(&dst, 0x7f000001u);
		else
			memset(dst.a, 0, 16), dst.a[15] = 1;
		dst.port = port;
		v4 = sd__ep_is_v4(&dst);
	}
	if (v4 ? (v4of(&dst) >> 24) != 127 : !is_v6_loopback(&dst))
		return -ENETUNREACH; /* the simulated host has loopback only */
	/* A v6 socket bound to a real IPv6 address cannot reach a v4-mapped one (no route
	 * from it), and one bound to a v4-mapped address cannot reach IPv6 (ip6_dst_lookup). */
	int fixed_src = (k->bound || k->addr_lock) && !sd__ep_any(&k->local);
	if (fixed_src && sd__ep_is_v4(&k->local) != v4)
		return v4 ? -ENETUNREACH : -EAFNOSUPPORT;
	if (!fixed_src) {
		uint16_t port = k->local.port;
		if (v4)
			set_v4(&k->local, 0x7f000001u); /* the route's preferred source */
		else
			memset(k->local.a, 0, 16), k->local.a[15] = 1;
		k->local.port = port;
	}
	if (!k->bound) {
		int rc = connect_autobind(s, k, &dst);
		if (rc < 0) {
			memset(&k->local, 0, sizeof k->local);
			if (!k->v6)
				set_v4(&k->local, 0);
			return rc;
		}
	}
	k->dst = dst;
	k->remote = dst;
	k->st = T_SYN_SENT;
	k->retries = 0;
	k->err = 0;
	return 0;
}

/* tcp_disconnect() via connect(AF_UNSPEC): back to an unconnected socket. */
int sd__disconnect(struct sd__sim *s, struct sd__sock *k)
{
	enum sd__tcp old = k->st;
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
	free_chunks(k);
	memset(&k->remote, 0, sizeof k->remote);
	if (!k->addr_lock) {
		memset(k->local.a, 0, 16);
		if (!k->v6)
			k->local.a[10] = k->local.a[11] = 0xff;
	}
	if (!k->bind_lock && old != T_CLOSE) { /* tcp_set_state(CLOSE) puts the port */
		port_unlink(s, k);
		k->by_connect = 0;
	}
	k->ss = SS_UNCONNECTED;
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
		int64_t deadline = k->sndtimeo ? s->now + k->sndtimeo : -1;
		while (k->st == T_SYN_SENT) {
			enum sd__wake w = sd__park(s, "connect", deadline);
			if (w == W_DEADLOCK)
				return -EDEADLK;
			if (w == W_TIMEOUT && k->st == T_SYN_SENT)
				return err;
		}
	}
	if (k->st == T_CLOSE) {
		/* sock_error, then tcp_disconnect(): the socket is as new, shutdown bits too. */
		err = k->err ? -k->err : -ECONNABORTED;
		k->err = 0;
		k->ss = SS_UNCONNECTED;
		k->shut = 0;
		k->done = 0;
		if (!k->addr_lock) {
			memset(k->local.a, 0, 16);
			if (!k->v6)
				k->local.a[10] = k->local.a[11] = 0xff;
		}
		/* No port is released here: the move to CLOSE (when the RST arrived) already
		 * did that, and a port bound since then stays. */
		memset(&k->remote, 0, sizeof k->remote);
		return err;
	}
	k->ss = SS_CONNECTED;
	return 0;
}

int sd__accept(struct sd__sim *s, struct sd__sock *k, struct sd__sock **child, int nonblock)
{
	int64_t deadline = k->rcvtimeo ? s->now + k->rcvtimeo : -1;
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

/* ---- data ------------------------------------------------------------------------------- */

static size_t readable(struct sd__sim *s, const struct sd__sock *k)
{
	size_t n = 0;
	for (const struct sd__chunk *c = k->in_head; c && c->arrive <= s->now; c = c->next)
		n += c->len - c->off;
	return n;
}

/* How many bytes k may still queue toward its peer (send buffer + half the receive
 * buffer: see docs/sim-vs-linux.md). */
static size_t send_space(const struct sd__sock *k)
{
	const struct sd__sock *p = k->peer;
	size_t cap = (size_t)k->sndbuf + (p ? (size_t)p->rcvbuf / 2 : 0);
	size_t used = p ? p->in_bytes : 0;
	return used >= cap ? 0 : cap - used;
}

static int writable(const struct sd__sock *k)
{
	const struct sd__sock *p = k->peer;
	size_t used = p ? p->in_bytes : 0;
	return send_space(k) >= used / 2 && send_space(k) > 0;
}

static int queue_bytes(struct sd__sim *s, struct sd__sock *p, const struct iovec *iov, size_t total)
{
	size_t done = 0;
	int i = 0;
	size_t ioff = 0;
	int64_t at = s->now;
	if (p->in_tail && p->in_tail->arrive > at)
		at = p->in_tail->arrive;
	while (done < total) {
		size_t piece = total - done;
		if (s->segment) {
			size_t cut = 1 + sd__rand_below(s, (uint32_t)s->segment);
			if (cut < piece)
				piece = cut;
			at += SEGMENT_GAP_NS;
		}
		struct sd__chunk *c = malloc(sizeof *c + piece);
		if (!c)
			return done ? 0 : -ENOMEM;
		c->next = NULL;
		c->arrive = at;
		c->len = piece;
		c->off = 0;
		for (size_t got = 0; got < piece;) {
			size_t n = iov[i].iov_len - ioff;
			if (n > piece - got)
				n = piece - got;
			memcpy(c->data + got, (const char *)iov[i].iov_base + ioff, n);
			got += n;
			ioff += n;
			if (ioff == iov[i].iov_len)
				i++, ioff = 0;
		}
		if (p->in_tail)
			p->in_tail->next = c;
		else
			p->in_head = c;
		p->in_tail = c;
		p->in_bytes += piece;
		done += piece;
		if (at > s->now)
			sd__timer_add(s, at);
	}
	return 0;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Splits iov after `skip` bytes into out (at most 64 pieces). */
static int iov_advance(const struct iovec *iov, int iovcnt, size_t skip, struct iovec *out)
{
	int n = 0;
	for (int i = 0; i < iovcnt && n < 64; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		out[n].iov_base = (char *)iov[i].iov_base + skip;
		out[n].iov_len = iov[i].iov_len - skip;
		skip = 0;
		n++;
	}
	return n;
}

static ssize_t send_error(struct sd__sim *s, struct sd__sock *k, int flags)
{
	int e = k->err;
	k->err = 0;
	if (e)
		return -e;
	if (!(flags & MSG_NOSIGNAL))
		s->sigpipes++;
	return -EPIPE;
}

/* tcp_sendmsg_locked(). */
ssize_t sd__send(struct sd__sim *s, struct sd__sock *k, const struct iovec *iov, int iovcnt,
		 int flags)
{
	size_t total = iov_total(iov, iovcnt), copied = 0;
	int nonblock = k->nonblock || (flags & MSG_DONTWAIT);
	int64_t deadline = k->sndtimeo ? s->now + k->sndtimeo : -1;

	sync_fin(s, k);
	if (k->st != T_ESTABLISHED && k->st != T_CLOSE_WAIT) {
		/* sk_stream_wait_connect() */
		for (;;) {
			if (k->err) {
				int e = k->err;
				k->err = 0;
				return -e;
			}
			if (k->st != T_SYN_SENT)
				return send_error(s, k, flags);
			if (nonblock)
				return -EAGAIN;
			enum sd__wake w = sd__park(s, "send (connecting)", deadline);
			if (w == W_DEADLOCK)
				return -EDEADLK;
			if (w == W_TIMEOUT && k->st == T_SYN_SENT)
				return -EAGAIN;
			if (k->st == T_ESTABLISHED || k->st == T_CLOSE_WAIT)
				break;
		}
	}
	while (copied < total || total == 0) {
		if (k->err || (k->shut & SD__SEND_SHUTDOWN) || !k->peer)
			return copied ? (ssize_t)copied : send_error(s, k, flags);
		if (total == 0)
			return 0;
		size_t room = send_space(k);
		if (room) {
			struct iovec rest[64];
			iov_advance(iov, iovcnt, copied, rest);
			size_t take = total - copied < room ? total - copied : room;
			/* Bytes reaching a socket in FIN_WAIT2 that shut its read side (closed or
			 * SHUT_RD) are dropped and reset both ends (RFC 1122,
			 * tcp_rcv_state_process). The sender's call itself succeeds. */
			struct sd__sock *p = k->peer;
			if (p != k && p->st == T_FIN_WAIT2 && (p->shut & SD__RCV_SHUTDOWN)) {
				k->peer = p->peer = NULL;
				rst_arrives(s, k);
				rst_arrives(s, p);
				maybe_free(s, p);
				copied += take;
				return (ssize_t)copied;
			}
			int rc = queue_bytes(s, p, rest, take);
			if (rc < 0)
				return copied ? (ssize_t)copied : rc;
			copied += take;
			sd__wake_all(s);
			continue;
		}
		if (nonblock)
			return copied ? (ssize_t)copied : -EAGAIN;
		enum sd__wake w = sd__park(s, "send", deadline);
		if (w == W_DEADLOCK)
			return copied ? (ssize_t)copied : -EDEADLK;
		if (w == W_TIMEOUT && !send_space(k))
			return copied ? (ssize_t)copied : -EAGAIN;
	}
	return (ssize_t)copied;
}

/* Copies up to len readable bytes into iov; consumes them unless peek. */
static size_t take_bytes(struct sd__sim *s, struct sd__sock *k, const struct iovec *iov, int iovcnt,
			 size_t skip, size_t len, int peek)
{
	struct iovec out[64];
	int n = iov_advance(iov, iovcnt, skip, out), i = 0;
	size_t done = 0, oo = 0, cskip = peek ? skip : 0;
	struct sd__chunk *c = k->in_head;
	while (c && c->arrive <= s->now && done < len && i < n) {
		size_t avail = c->len - c->off;
		if (cskip >= avail) { /* a peek continuing past what it already copied */
			cskip -= avail;
			c = c->next;
			continue;
		}
		size_t m = avail - cskip;
		if (m > len - done)
			m = len - done;
		if (m > out[i].iov_len - oo)
			m = out[i].iov_len - oo;
		memcpy((char *)out[i].iov_base + oo, c->data + c->off + cskip, m);
		done += m;
		oo += m;
		if (oo == out[i].iov_len)
			i++, oo = 0;
		if (peek) {
			cskip += m;
			continue;
		}
		c->off += m;
		k->in_bytes -= m;
		if (c->off == c->len) {
			k->in_head = c->next;
			if (!k->in_head)
				k->in_tail = NULL;
			free(c);
			c = k->in_head;
		}
	}
	return done;
}

/* tcp_recvmsg_locked(). */
ssize_t sd__recv(struct sd__sim *s, struct sd__sock *k, const struct iovec *iov, int iovcnt,
		 int flags)
{
	size_t len = iov_total(iov, iovcnt), copied = 0;
	int nonblock = k->nonblock || (flags & MSG_DONTWAIT), peek = flags & MSG_PEEK;
	size_t target = (flags & MSG_WAITALL) && !peek ? len : (len ? 1 : 0);
	int64_t deadline = k->rcvtimeo ? s->now + k->rcvtimeo : -1;

	if (flags & MSG_OOB)
		return -EINVAL; /* no urgent data is ever pending in the simulation */
	if (k->st == T_LISTEN)
		return -ENOTCONN;
	for (;;) {
		sync_fin(s, k);
		if (copied < len) {
			size_t got = take_bytes(s, k, iov, iovcnt, copied, len - copied, peek);
			if (got && !peek)
				sd__wake_all(s); /* room for the sender */
			copied += got;
		}
		if (copied >= target)
			break;
		if (copied) {
			if (k->err || k->st == T_CLOSE || (k->shut & SD__RCV_SHUTDOWN) || nonblock)
				break;
		} else {
			if (k->done)
				break;
			if (k->err) {
				int e = k->err;
				k->err = 0;
				return -e;
			}
			if (k->shut & SD__RCV_SHUTDOWN)
				break;
			if (k->st == T_CLOSE)
				return -ENOTCONN;
			if (nonblock)
				return -EAGAIN;
		}
		enum sd__wake w = sd__park(s, "recv", deadline);
		if (w == W_DEADLOCK)
			return copied ? (ssize_t)copied : -EDEADLK;
		if (w == W_TIMEOUT && !readable(s, k)) {
			if (copied)
				break;
			return -EAGAIN;
		}
	}
	return (ssize_t)copied;
}

/* inet_shutdown() + tcp_shutdown(); how is SHUT_RD/SHUT_WR/SHUT_RDWR. */
int sd__shutdown(struct sd__sim *s, struct sd__sock *k, int how)
{
	int bits = how + 1, err = 0;
	if (how < 0 || (bits & ~3) || !bits)
		return -EINVAL;
	sync_fin(s, k);
	if (k->ss == SS_CONNECTING)
		k->ss = (k->st == T_SYN_SENT || k->st == T_CLOSE) ? SS_DISCONNECTING : SS_CONNECTED;
	switch (k->st) {
	case T_LISTEN:
		if (!(bits & SD__RCV_SHUTDOWN))
			break;
		listen_stop(s, k); /* tcp_disconnect(): an auto-bound port goes back */
		k->ss = SS_UNCONNECTED;
		k->shut = 0;
		if (!k->bind_lock)
			port_unlink(s, k);
		break;
	case T_SYN_SENT:
		tcp_done(s, k);
		k->shut = 0;
		k->ss = SS_UNCONNECTED;
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
	sd__wake_all(s);
	return err;
}

/* tcp_poll(). */
short sd__poll_mask(struct sd__sim *s, struct sd__sock *k)
{
	short m = 0;
	sync_fin(s, k);
	if (k->st == T_LISTEN)
		return k->aq_head ? (POLLIN | POLLRDNORM) : 0;
	if (k->shut == (SD__RCV_SHUTDOWN | SD__SEND_SHUTDOWN) || k->st == T_CLOSE)
		m |= POLLHUP;
	if (k->shut & SD__RCV_SHUTDOWN)
		m |= POLLIN | POLLRDNORM | POLLRDHUP;
	if (k->st != T_SYN_SENT) {
		if (readable(s, k))
			m |= POLLIN | POLLRDNORM;
		if (!(k->shut & SD__SEND_SHUTDOWN)) {
			if (!k->peer || writable(k))
				m |= POLLOUT | POLLWRNORM;
		} else {
			m |= POLLOUT | POLLWRNORM;
		}
	}
	if (k->err)
		m |= POLLERR;
	return m;
}

void sd__free_all(struct sd__sim *s)
{
	/* Every live socket is in the fd table or the port table (connected and queued ones
	 * are bound); collect each once, then free. */
	size_t n = 0, cap = 64;
	struct sd__sock **all = malloc(cap * sizeof *all);
	for (int pass = 0; pass < 2 && all; pass++) {
		int lim = pass == 0 ? s->nfds_cap : 65536;
		for (int i = 0; i < lim; i++) {
			struct sd__sock *k = pass == 0 ? s->fds[i] : s->by_port[i];
			for (; k; k = pass == 0 ? NULL : k->pnext) {
				if (k->gc)
					continue;
				k->gc = 1;
				if (n == cap) {
					struct sd__sock **g =
						realloc(all, (cap *= 2) * sizeof *all);
					if (!g)
						break;
					all = g;
				}
				all[n++] = k;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free_sock(s, all[i]);
	free(all);
}
