/* sockdrill sim: SO_RCVLOWAT, TCP_USER_TIMEOUT, TCP_MAXSEG, TCP_NOTSENT_LOWAT, TCP_CORK and
 * IP_LOCAL_PORT_RANGE, as Linux 6.18 answers them on loopback. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "../util/sockopts.h" /* IP_LOCAL_PORT_RANGE where netinet/in.h lacks it */
#include "sim_internal.h"

#define TCP_MIN_MSS    88    /* TCP_MAXSEG's floor (tcp_setsockopt) */
#define MAX_TCP_WINDOW 32767 /* and its ceiling */
#define TS_OPT_LEN     12    /* the timestamp option every loopback segment carries */
#define TCP_HDR_TS     32    /* the TCP header with it (tp->tcp_header_len) */
#define LOOPBACK_MTU   65536

int sd__opt_ours(int level, int name)
{
	return (level == SOL_SOCKET && name == SO_RCVLOWAT) ||
	       (level == IPPROTO_TCP && (name == TCP_USER_TIMEOUT || name == TCP_MAXSEG ||
					 name == TCP_NOTSENT_LOWAT || name == TCP_CORK)) ||
	       (level == IPPROTO_IP && name == IP_LOCAL_PORT_RANGE);
}

/* sock_rcvlowat(): the bytes a recv of len waits for. */
size_t sd__rcv_target(const struct sd__sock *k, int flags, size_t len)
{
	size_t v = (flags & MSG_WAITALL)           ? len
		   : (size_t)sd__rcvlowat(k) < len ? (size_t)sd__rcvlowat(k)
						   : len;
	return v ? v : 1;
}

/* A reader waiting in recv is woken by arrivals only once the unread bytes reach SO_RCVLOWAT
 * (tcp_data_ready), whatever it already copied: with 3 bytes taken, 2 more queued and
 * SO_RCVLOWAT 5 it sleeps on (measured on 6.18). The end of the stream, an error or a
 * shutdown wake it as before. */
int sd__below_lowat(struct sd__sim *s, struct sd__sock *k)
{
	if (sd__rcvlowat(k) <= 1)
		return 0;
	sd__sync_fin(s, k);
	return sd__readable(s, k) < sd__rcvlowat(k) && !k->done && !k->err &&
	       !(k->shut & SD__RCV_SHUTDOWN) && k->st != T_CLOSE;
}

/* tcp_set_rcvlowat(): a negative value is INT_MAX; capped at half the receive buffer when
 * SO_RCVBUF fixed it, else at half of tcp_rmem[2], and the buffer grows to hold the value
 * (tcp_space_from_win at the initial scaling ratio, one half: twice the value). */
static int rcvlowat_set(struct sd__sim *s, struct sd__sock *k, int v)
{
	if (v < 0)
		v = INT_MAX;
	int cap = k->rcvbuf_lock ? k->rcvbuf >> 1 : s->prof.tcp_rmem_max >> 1;
	if (v > cap)
		v = cap;
	k->rcvlowat = v ? v : 1;
	if (!k->rcvbuf_lock && v > k->rcvbuf / 2)
		k->rcvbuf = v * 2;
	/* tcp_data_ready(): what is queued may reach the new mark, an edge for epoll */
	if (sd__readable(s, k) >= sd__rcvlowat(k)) {
		k->inseq++;
		sd__wake_all(s);
	}
	return 0;
}

/* IP_LOCAL_PORT_RANGE (do_ip_setsockopt): exactly a u32, low port in its low half, high in
 * its high half; either may be 0 (no bound), else low <= high. */
static int port_range_set(struct sd__sock *k, socklen_t l, uint32_t v)
{
	uint16_t lo = (uint16_t)v, hi = (uint16_t)(v >> 16);
	if (l != sizeof v || (lo && hi && lo > hi))
		return -EINVAL;
	k->port_range = v;
	return 0;
}

/* inet_sk_get_local_port_range(): the socket's bounds where they fall inside the system's
 * range, else the system's. Returns 1 when the socket has a range of its own, which makes
 * connect's search go through every port instead of one parity first. */
int sd__port_range(const struct sd__sim *s, const struct sd__sock *k, int *low, int *high)
{
	int lo = s->port_lo, hi = s->port_hi;
	if (k->port_range) {
		int sk_lo = (int)(k->port_range & 0xffff), sk_hi = (int)(k->port_range >> 16);
		if (lo <= sk_lo && sk_lo <= hi)
			lo = sk_lo;
		if (lo <= sk_hi && sk_hi <= hi)
			hi = sk_hi;
	}
	*low = lo, *high = hi;
	return k->port_range != 0;
}

int sd__opt_set(struct sd__sim *s, struct sd__sock *k, int level, int name, const void *v,
		socklen_t l, int *iv)
{
	if (!v || l < sizeof(int))
		return -EINVAL;
	memcpy(iv, v, sizeof *iv);
	if (level == IPPROTO_IP)
		return port_range_set(k, l, (uint32_t)*iv);
	if (level == SOL_SOCKET)
		return rcvlowat_set(s, k, *iv);
	if (name == TCP_NOTSENT_LOWAT) {
		/* any value, kept as Linux's u32; 0 (the default) means the sysctl's, which
		 * getsockopt does not show. Poll and send obey it (sim_cork.c); a lower mark
		 * makes no write space event (tcp_setsockopt only stores it). */
		k->notsent_lowat = (uint32_t)*iv;
		return 0;
	}
	if (name == TCP_CORK)
		return sd__cork_set(s, k, *iv);
	if (name == TCP_USER_TIMEOUT) {
		if (*iv < 0)
			return -EINVAL;
		k->user_timeout = *iv; /* a connecting socket's SYN retries give up by it */
		return 0;
	}
	/* TCP_MAXSEG: 0 clears; a connected socket keeps the size it had (mss_cache) */
	if (*iv && (*iv < TCP_MIN_MSS || *iv > MAX_TCP_WINDOW))
		return -EINVAL;
	k->user_mss = *iv;
	return 0;
}

int sd__opt_get(const struct sd__sock *k, int level, int name)
{
	if (level == IPPROTO_IP)
		return (int)k->port_range;
	if (level == SOL_SOCKET)
		return (int)sd__rcvlowat(k);
	if (name == TCP_USER_TIMEOUT)
		return k->user_timeout;
	if (name == TCP_NOTSENT_LOWAT)
		return (int)k->notsent_lowat;
	if (name == TCP_CORK)
		return k->cork;
	/* do_tcp_getsockopt: the user's size while closed or listening, else mss_cache */
	if (k->user_mss && (k->st == T_CLOSE || k->st == T_LISTEN))
		return k->user_mss;
	return k->mss_cache ? k->mss_cache : (int)TCP_MSS_DEFAULT;
}

/* TCP_USER_TIMEOUT while connecting (tcp_write_timeout, retransmits_timed_out): the attempt
 * gives up at a retransmission timer once that many ms have passed since the first SYN, but
 * not at the first timer, before any retransmission (user timeout 500: ETIMEDOUT at 1.004 s
 * at HZ 250, measured 1.016 s on 6.18). */
int sd__user_timeout_over(const struct sd__sim *s, const struct sd__sock *k)
{
	return k->user_timeout && k->retries > 0 &&
	       s->now - k->syn_at >= (int64_t)k->user_timeout * 1000000;
}

/* tcp_clamp_rto_to_user_timeout(): a timer set after a retransmission ends no later than the
 * user timeout, in whole ticks; one tick when it has passed already. The first SYN's timer
 * (tcp_connect) is the plain RTO. */
int64_t sd__user_timeout_clamp(const struct sd__sim *s, const struct sd__sock *k, int64_t rto)
{
	if (!k->user_timeout || k->retries == 0)
		return rto;
	int64_t tick = 1000000000 / s->prof.hz;
	int64_t left = (int64_t)k->user_timeout * 1000000 - (s->now - k->syn_at);
	if (left <= 0)
		return tick;
	left = (left + tick - 1) / tick * tick;
	return left < rto ? left : rto;
}

/* The loopback route's advertised MSS (dst_metric_advmss), clamped by the user's. */
static int mss_clamp(const struct sd__sock *k)
{
	int adv = k->v6 ? LOOPBACK_MTU - 40 - 20 : 65535 - 40;
	return k->user_mss && k->user_mss < adv ? k->user_mss : adv;
}

/* tcp_bound_to_half_wnd(): no segment larger than half the biggest window the peer offered. */
static int half_wnd(int mss, int max_window)
{
	int cutoff = max_window > (int)TCP_MSS_DEFAULT ? max_window >> 1 : max_window;
	if (cutoff && mss > cutoff)
		return cutoff > 68 - TCP_HDR_TS ? cutoff : 68 - TCP_HDR_TS;
	return mss;
}

/* mss_cache of both ends when the handshake completes (tcp_sync_mss): the smaller clamp less
 * the timestamp option, bounded by half the peer's window. The connector's window is the
 * child's SYN-ACK window (half its receive buffer, rounded down to whole segments, at most
 * 65535 unscaled); the child's is the connector's scaled window, half its receive buffer. */
void sd__mss_at_connect(struct sd__sock *k, struct sd__sock *c)
{
	int ck = mss_clamp(k), cc = mss_clamp(c);
	int mss = (ck < cc ? ck : cc) - TS_OPT_LEN;
	int space = c->rcvbuf / 2, wmss = cc - TS_OPT_LEN;
	if (space > wmss)
		space -= space % wmss;
	if (space > 65535)
		space = 65535;
	k->mss_cache = half_wnd(mss, space);
	c->mss_cache = half_wnd(mss, k->rcvbuf / 2);
}
