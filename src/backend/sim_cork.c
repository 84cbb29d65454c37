/* sockdrill sim: TCP_CORK, MSG_MORE and TCP_NOTSENT_LOWAT, as Linux 6.x sends on loopback. */
#include <limits.h>
#include <stdint.h>

#include "sim_internal.h"

#define RTO_MIN_NS 200000000LL /* TCP_RTO_MIN */
/* tcp_sendmsg() asks whether the not-sent bytes are below TCP_NOTSENT_LOWAT only when it
 * starts a new skb, which on loopback takes up to 64 KiB (the GSO size goal): a send may
 * queue that much past the mark (measured on 6.x: 54 kB past a mark of 1). */
#define SIZE_GOAL 65536

/*
 * Held bytes are queued at the peer like any others, with the time they arrive by themselves
 * (held_until), and the sender counts them: they are the last `held` bytes of the peer's
 * queue, as no byte is queued behind them without pushing them first. Nothing but the
 * reader's queue and the clock changes when the timer fires, so the sim needs no callback:
 * the bytes are readable from held_until on, and the sender forgets them (sync_held).
 */

/* When corked bytes leave by themselves: tcp_check_probe_timer() arms the zero-window probe
 * timer at the RTO (TCP_RTO_MIN on loopback, plus a tick), and tcp_write_wakeup() sends them.
 * It is armed when the first byte is held, not again for the bytes added (measured on 6.x at
 * HZ 250: 204..212 ms after the first held send, whatever came 100 ms after it). */
static int64_t probe_delay(const struct sim__sim *s)
{
	return RTO_MIN_NS + 1000000000LL / s->prof.hz;
}

static void sync_held(struct sim__sim *s, struct sim__sock *k)
{
	if (k->held && s->now >= k->held_until)
		k->held = 0;
}

/* The first chunk of p's queue that k holds back, and the chunk before it (NULL: none). */
static struct sim__chunk *first_held(struct sim__sock *p, size_t held, struct sim__chunk **prev)
{
	size_t rest = p->in_bytes;
	struct sim__chunk *c = p->in_head, *b = NULL;
	while (c && rest > held) {
		rest -= c->len - c->off;
		b = c;
		c = c->next;
	}
	*prev = b;
	return c;
}

void sim__cork_push(struct sim__sim *s, struct sim__sock *k)
{
	sync_held(s, k);
	struct sim__sock *p = k->peer;
	if (k->held && p) {
		struct sim__chunk *b, *c = first_held(p, k->held, &b);
		/* behind any piece still in flight (segment=N) */
		int64_t at = b && b->arrive > s->now ? b->arrive : s->now;
		for (; c; c = c->next)
			c->arrive = at;
		sim__wake_all(s);
	}
	k->held = 0;
}

void sim__cork_drop(struct sim__sim *s, struct sim__sock *k)
{
	sync_held(s, k);
	struct sim__sock *p = k->peer;
	if (k->held && p) {
		struct sim__chunk *b, *c = first_held(p, k->held, &b), *n;
		if (b)
			b->next = NULL;
		else
			p->in_head = NULL;
		p->in_tail = b;
		for (; c; c = n) {
			n = c->next;
			sim__chunk_free(s, c);
		}
		p->in_bytes -= k->held;
		p->rx_total -= k->held; /* never queued, as far as edge-triggered epoll knows */
	}
	k->held = 0;
}

/* TCP_CORK (__tcp_sock_set_cork): any nonzero value corks; uncorking pushes what is held,
 * MSG_MORE's bytes too. */
int sim__cork_set(struct sim__sim *s, struct sim__sock *k, int on)
{
	k->cork = on != 0;
	if (!on)
		sim__cork_push(s, k);
	return 0;
}

/* tcp_push() and tcp_write_xmit(): a send without MSG_MORE on an uncorked socket pushes
 * everything; otherwise only whole segments (the mss_cache the handshake settled) leave,
 * what was held first, and the rest waits. MSG_MORE is the call's, not the socket's: once a
 * segment left, its ACK pushes the rest (tcp_data_snd_check() with tp->nonagle), and on
 * loopback that is at once (measured: 40000 bytes with MSG_MORE came whole in 7 ms, with
 * TCP_CORK the last 7259 after 207 ms). */
size_t sim__cork_plan(struct sim__sim *s, struct sim__sock *k, size_t take, int more, size_t *hold)
{
	sync_held(s, k);
	if (!more) {
		sim__cork_push(s, k);
		*hold = 0;
		return take;
	}
	size_t mss = k->mss_cache > 0 ? (size_t)k->mss_cache : TCP_MSS_DEFAULT;
	size_t old = k->held, total = old + take, full = total - total % mss;
	if (full <= old) { /* held < mss, so this is full == 0 */
		*hold = take;
		return 0;
	}
	sim__cork_push(s, k);
	if (!k->cork) { /* MSG_MORE alone: the segments' ACK pushes the rest, uncorked */
		*hold = 0;
		return take;
	}
	*hold = total - full;
	return full - old;
}

/* The arrival time for bytes about to be held: a new hold arms the timer, bytes added to a
 * hold leave with it. After whole segments left, the remainder is a new hold (the ACK of
 * those segments arms the timer again: measured, the rest came ~210 ms after the send). */
int64_t sim__cork_hold_until(struct sim__sim *s, struct sim__sock *k, size_t hold)
{
	sync_held(s, k);
	if (!k->held && hold) {
		k->held_until = s->now + probe_delay(s);
		sim__timer_add(s, k->held_until);
	}
	return k->held_until;
}

/* The sim has no window apart from the peer's receive buffer: bytes queued at the peer past
 * it are the ones Linux would not have sent yet (docs/sim-vs-linux.md), and held ones; with
 * no peer, the gap a disconnect left (disconnect_seq in sim_tcp.c). */
uint64_t sim__notsent(struct sim__sim *s, struct sim__sock *k)
{
	sync_held(s, k);
	const struct sim__sock *p = k->peer;
	if (!p)
		return k->disc_gap;
	size_t sent = p->in_bytes - k->held;
	return k->held + (sent > (size_t)p->rcvbuf ? sent - (size_t)p->rcvbuf : 0);
}

/* tcp_notsent_lowat(): the socket's value, else net.ipv4.tcp_notsent_lowat. */
static uint64_t lowat_of(const struct sim__sim *s, const struct sim__sock *k)
{
	return k->notsent_lowat ? k->notsent_lowat : (uint32_t)s->prof.notsent_lowat;
}

/* A mark from INT_MAX up (the default, UINT_MAX) never binds: no queue holds 2 GiB. */
static int lowat_binds(uint64_t lowat) { return lowat < INT_MAX; }

/* __tcp_stream_memory_free(sk, 1), as tcp_poll() and sk_stream_write_space() ask it: the
 * not-sent bytes, doubled, below the mark. */
int sim__lowat_writable(struct sim__sim *s, struct sim__sock *k)
{
	uint64_t lowat = lowat_of(s, k);
	return !lowat_binds(lowat) || (sim__notsent(s, k) << 1) < lowat;
}

/* sk_stream_memory_free() at each new skb of tcp_sendmsg(): while the not-sent bytes reach
 * the mark, only what the last skb still takes, when it is the held one (held bytes are less
 * than a segment, the skb's size goal on loopback); else what fits in the peer's window and
 * one size goal past the mark. */
size_t sim__lowat_room(struct sim__sim *s, struct sim__sock *k)
{
	uint64_t lowat = lowat_of(s, k), ns;
	const struct sim__sock *p = k->peer;
	if (!lowat_binds(lowat) || !p)
		return SIZE_MAX;
	if ((ns = sim__notsent(s, k)) >= lowat) {
		size_t mss = k->mss_cache > 0 ? (size_t)k->mss_cache : TCP_MSS_DEFAULT;
		return k->held && k->held < mss ? mss - k->held : 0;
	}
	size_t sent = p->in_bytes - k->held, window = 0;
	if (!k->held && sent < (size_t)p->rcvbuf)
		window = (size_t)p->rcvbuf - sent;
	return window + (size_t)(lowat - ns) + SIZE_GOAL;
}
