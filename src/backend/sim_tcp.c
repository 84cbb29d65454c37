/* sockdrill sim: how a connection ends, following Linux's TCP code: resets, FINs, TIME_WAIT,
 * close, shutdown and disconnect, and the sockets' teardown (sim_connect.c opens them). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* ---- resets and closes ------------------------------------------------------------------ */

void sd__free_chunks(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__chunk *c = k->in_head, *n;
	for (; c; c = n) {
		n = c->next;
		sd__chunk_free(s, c);
	}
	k->in_head = k->in_tail = NULL;
	k->in_bytes = 0;
}

void sd__unlink_connecting(struct sd__sim *s, struct sd__sock *k)
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
void sd__tcp_done(struct sd__sim *s, struct sd__sock *k)
{
	sd__unlink_connecting(s, k);
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
	sd__tcp_done(s, k);
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
	sd__tcp_done(s, k);
}

/* tcp_fin(): the peer's FIN, due now (sd__sync_fin decides). */
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
void sd__close_state_and_fin(struct sd__sim *s, struct sd__sock *k)
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
		sd__tcp_done(s, k);
	} else if (k->st == T_SYN_SENT) {
		sd__tcp_done(s, k);
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
		sd__tcp_done(s, c);
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
		sd__tcp_done(s, k);
	} else {
		sd__close_state_and_fin(s, k);
	}
	k->shut = SD__RCV_SHUTDOWN | SD__SEND_SHUTDOWN;
	sd__free_chunks(s, k);
	if (k->st == T_CLOSE) {
		sd__unlink_connecting(s, k);
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
	sd__free_chunks(s, k);
	free(k);
}

/* tcp_disconnect()'s write_seq = write_seq + max_window + 2, where max_window is the largest
 * window the peer offered. The sim keeps no window: a socket once ESTABLISHED takes
 * loopback's first one, 65483 (measured on 6.18; it grows to 65536 once data came back). */
void sd__disconnect_seq(struct sd__sock *k) { k->disc_gap += (k->had_window ? 65483 : 0) + 2; }

/* tcp_disconnect() via connect(AF_UNSPEC): back to an unconnected socket. */
int sd__disconnect(struct sd__sim *s, struct sd__sock *k)
{
	enum sd__tcp old = k->st;
	sd__disconnect_seq(k);
	if (old == T_LISTEN) {
		listen_stop(s, k);
	} else if (old == T_ESTABLISHED || old == T_CLOSE_WAIT || old == T_FIN_WAIT2) {
		send_rst_to_peer(s, k);
		k->err = ECONNRESET;
	} else if (old == T_SYN_SENT) {
		k->err = ECONNRESET;
	}
	sd__unlink_connecting(s, k);
	if (k->peer)
		k->peer->peer = NULL, k->peer = NULL;
	k->st = T_CLOSE;
	k->shut = 0;
	k->done = 0;
	k->fin_at = -1;
	sd__free_chunks(s, k);
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
		sd__disconnect_seq(k);
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
			sd__close_state_and_fin(s, k);
		break;
	}
	k->evseq++; /* sk_state_change(): every waiter, whatever it polls for */
	sd__wake_all(s);
	return err;
}

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
