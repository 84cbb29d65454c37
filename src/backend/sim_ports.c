/* sockdrill sim: addresses, the port table, bind conflicts and ephemeral port choice. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim_internal.h"

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

uint32_t sd__v4of(const struct sd__ep *e)
{
	return (uint32_t)e->a[12] << 24 | (uint32_t)e->a[13] << 16 | (uint32_t)e->a[14] << 8 |
	       e->a[15];
}

void sd__set_v4(struct sd__ep *e, uint32_t a)
{
	memset(e->a, 0, 10);
	e->a[10] = e->a[11] = 0xff;
	e->a[12] = (uint8_t)(a >> 24), e->a[13] = (uint8_t)(a >> 16);
	e->a[14] = (uint8_t)(a >> 8), e->a[15] = (uint8_t)a;
}

int sd__is_v6_loopback(const struct sd__ep *e) { return zero(e->a, 15) && e->a[15] == 1; }

/*
 * Do two bindings of one port overlap? Measured on Linux 6.x (every pair of IPv4, v4-mapped,
 * IPv6, wildcard and V6ONLY bindings; see docs/sim-vs-linux.md), the rule is symmetric:
 *  - IPv4 and v4-mapped addresses overlap when equal or when either is 0.0.0.0;
 *  - an IPv4 address and an IPv6 one overlap only through a dual-stack "::" (no V6ONLY);
 *  - IPv6 addresses overlap when equal or when either is "::".
 * One exception is one-sided: x, an IPv4 socket binding 0.0.0.0, also overlaps a dual-stack
 * IPv6 socket y with a specific IPv6 address. bind() cannot make such a socket (a specific
 * IPv6 address sets V6ONLY), connect() can: its port comes from the connect and its IPv4
 * view is LOOPBACK4_IPV6, which Linux's wildcard check matches.
 */
static int saddr_equal(const struct sd__sock *x, const struct sd__sock *y)
{
	int x4 = sd__ep_is_v4(&x->local), y4 = sd__ep_is_v4(&y->local);
	if (x4 && y4) {
		uint32_t a = sd__v4of(&x->local), b = sd__v4of(&y->local);
		return a == b || !a || !b;
	}
	if (x4 != y4) {
		const struct sd__sock *six = x4 ? y : x;
		if (sd__ep_any(&six->local) && !six->v6only)
			return 1;
		return x4 && !x->v6 && !sd__v4of(&x->local) && !y->v6only;
	}
	return sd__ep_any(&x->local) || sd__ep_any(&y->local) ||
	       memcmp(x->local.a, y->local.a, 16) == 0;
}

/* ---- the port table ------------------------------------------------------------------- */

void sd__port_link(struct sd__sim *s, struct sd__sock *k)
{
	uint16_t port = k->local.port;
	if (!(s->port_seen[port / 64] >> (port % 64) & 1)) {
		if (s->nports_used == s->capports_used) {
			size_t cap = s->capports_used ? s->capports_used * 2 : 64;
			uint16_t *g = realloc(s->ports_used, cap * sizeof *g);
			if (g) {
				s->ports_used = g;
				s->capports_used = cap;
			}
		}
		if (s->nports_used < s->capports_used) {
			s->ports_used[s->nports_used++] = port;
			s->port_seen[port / 64] |= 1ull << (port % 64);
		} else {
			s->ports_dirty = 1;
		}
	}
	struct sd__sock **head = &s->by_port[port];
	k->pprev = NULL;
	k->pnext = *head;
	if (*head)
		(*head)->pprev = k;
	*head = k;
	k->bound = 1;
}

/* A socket nobody holds (no fd, no call, no queue) and no table lists is gone. */
void sd__maybe_free(struct sd__sim *s, struct sd__sock *k)
{
	if (k && k->dead && k->refs <= 0 && !k->bound)
		sd__free_sock(s, k);
}

void sd__port_unlink(struct sd__sim *s, struct sd__sock *k)
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

void sd__listener_unlink(struct sd__sim *s, struct sd__sock *k)
{
	for (struct sd__sock **p = &s->listeners[k->local.port]; *p; p = &(*p)->lnext)
		if (*p == k) {
			*p = k->lnext;
			k->lnext = NULL;
			return;
		}
}

/* Drops expired TIME_WAIT and timed-out orphan FIN_WAIT2 entries from a port's chain, and
 * orphans that reached CLOSE through a late FIN. */
void sd__reap_port(struct sd__sim *s, uint16_t port)
{
	struct sd__sock *k = s->by_port[port], *next;
	for (; k; k = next) {
		next = k->pnext;
		if (!k->dead)
			continue;
		sd__sync_fin(s, k);
		if ((k->st == T_TIME_WAIT || k->st == T_FIN_WAIT2) && k->tw_until <= s->now) {
			k->st = T_CLOSE;
			if (k->peer)
				k->peer->peer = NULL, k->peer = NULL;
		}
		if (k->st == T_CLOSE) {
			sd__port_unlink(s, k);
			sd__maybe_free(s, k);
		}
	}
}

/* inet_csk_bind_conflict(). `relax`: an explicit port (SO_REUSEADDR may share with sockets
 * that are not listening); otherwise any overlapping owner conflicts (port 0 search). */
static int bind_conflict(struct sd__sim *s, struct sd__sock *sk, uint16_t port, int relax)
{
	/* sk_reuse itself, not "reuse unless listening": at listen() time only another
	 * listener (or a socket without SO_REUSEADDR) is in the way (inet_bind_conflict). */
	int reuse = sk->reuseaddr;
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
		int low, high;
		sd__port_range(s, k, &low, &high);
		high++;
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
				sd__reap_port(s, (uint16_t)port);
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
		uint32_t a = sd__v4of(ep);
		return a == 0 || (a >> 24) == 127;
	}
	(void)k;
	return sd__ep_any(ep) || sd__is_v6_loopback(ep);
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
	/* A failed bind leaves the socket's name as it was (getsockname may still show a
	 * stale port, as on Linux). */
	struct sd__ep old = k->local;
	k->local = *ep;
	if (ep->port) {
		sd__reap_port(s, ep->port);
		if (bind_conflict(s, k, ep->port, 1)) {
			k->local = old;
			return -EADDRINUSE;
		}
	} else if (pick_bind_port(s, k) < 0) {
		k->local = old;
		return -EADDRINUSE;
	}
	k->bind_lock = ep->port != 0;
	/* SOCK_BINDADDR_LOCK: any address but the family's own wildcard; for a v6 socket
	 * ::ffff:0.0.0.0 counts as an address. */
	k->addr_lock = k->v6 ? !(sd__ep_any(ep) && !sd__ep_is_v4(ep)) : !sd__ep_any(ep);
	/* __inet6_bind(): a specific IPv6 address makes the socket IPv6-only for good. */
	if (k->v6 && !sd__ep_any(ep) && !sd__ep_is_v4(ep))
		k->v6only = 1;
	sd__port_link(s, k);
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
		sd__reap_port(s, k->local.port);
		if (bind_conflict(s, k, k->local.port, 1)) {
			k->st = old;
			return -EADDRINUSE;
		}
	} else {
		if (pick_bind_port(s, k) < 0) {
			k->st = old;
			return -EADDRINUSE;
		}
		sd__port_link(s, k);
	}
	if (k->was_conn && s->one_role) {
		/* A one-role kernel takes the port (and keeps it) before refusing a socket that
		 * has been connected or connecting. */
		k->st = old;
		return -EINVAL;
	}
	k->was_listener = 1;
	k->backlog = backlog;
	k->lnext = s->listeners[k->local.port];
	s->listeners[k->local.port] = k;
	sd__wake_all(s);
	return 0;
}

/* ---- connecting -------------------------------------------------------------------------- */

/* How well listener l matches a connect to dst, as Linux's listener lookup scores it (an exact
 * address beats a wildcard); -1: it does not. */
static int listener_score(const struct sd__sock *l, const struct sd__ep *dst, int v4)
{
	int score;
	if (l->st != T_LISTEN)
		return -1;
	int any = sd__ep_any(&l->local), mapped = sd__ep_is_v4(&l->local);
	if (v4) {
		/* IPv4 reaches IPv4 and v4-mapped listeners, and a dual-stack "::". */
		if (l->v6 && !mapped && (!any || l->v6only))
			return -1;
		score = any ? 1 : sd__v4of(&l->local) == sd__v4of(dst) ? 3 : -1;
		if (score > 0 && !l->v6)
			score++; /* an IPv4 socket wins over a dual-stack one */
	} else {
		if (!l->v6 || mapped)
			return -1;
		score = any ? 1 : memcmp(l->local.a, dst->a, 16) == 0 ? 3 : -1;
	}
	return score;
}

int sd__listeners_for(struct sd__sim *s, const struct sd__ep *dst)
{
	int n = 0, v4 = sd__ep_is_v4(dst);
	for (const struct sd__sock *l = s->listeners[dst->port]; l; l = l->lnext)
		n += listener_score(l, dst, v4) >= 0;
	return n;
}

struct sd__sock *sd__find_listener(struct sd__sim *s, const struct sd__ep *dst)
{
	struct sd__sock *best[64];
	int nbest = 0, best_score = -1, v4 = sd__ep_is_v4(dst);
	for (struct sd__sock *l = s->listeners[dst->port]; l; l = l->lnext) {
		int score = listener_score(l, dst, v4);
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

static uint32_t tuple_hash(struct sd__sim *s, const struct sd__ep *src, const struct sd__ep *dst)
{
	uint64_t h = s->seed ^ SD__GOLDEN;
	for (int i = 0; i < 16; i++)
		h = (h ^ src->a[i]) * 0x100000001b3ull, h = (h ^ dst->a[i]) * 0x100000001b3ull;
	h = (h ^ dst->port) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static int same_tuple(const struct sd__sock *o, const struct sd__sock *k, const struct sd__ep *dst)
{
	return !memcmp(o->local.a, k->local.a, 16) && o->remote.port == dst->port &&
	       !memcmp(o->remote.a, dst->a, 16);
}

int sd__ep_loopback(const struct sd__ep *e)
{
	return sd__ep_is_v4(e) ? (sd__v4of(e) >> 24) == 127 : sd__is_v6_loopback(e);
}

/* tcp_twsk_unique() for a connect that searched for its port: net.ipv4.tcp_tw_reuse 1, or 2
 * (the default) when either end is loopback, lets it take over a TIME_WAIT entry with its
 * 4-tuple once tcp_tw_reuse_delay ms have passed since the entry began (6.14's
 * tw_entry_stamp; loopback always has the timestamps reuse needs). Measured on 6.18: 1000 ms
 * by default, 300 ms with the delay at 300, never with tcp_tw_reuse 0. */
static int tw_reusable(const struct sd__sim *s, const struct sd__sock *tw)
{
	int reuse = s->prof.tw_reuse;
	if (reuse == 2 && !sd__ep_loopback(&tw->local) && !sd__ep_loopback(&tw->remote))
		reuse = 0;
	int64_t entered = tw->tw_until - TIME_WAIT_LEN;
	return reuse && s->now > entered + (int64_t)s->prof.tw_reuse_delay * (SEC / 1000);
}

/* The connection takes the TIME_WAIT entry's place (inet_twsk_deschedule_put): it ends now. */
static void take_over(struct sd__sim *s, struct sd__sock *tw)
{
	tw->tw_until = s->now;
	sd__reap_port(s, tw->local.port);
}

/* May connect autobind take `port`? Only if every owner got it from connect too, and no
 * owner already has this very 4-tuple, but for a TIME_WAIT entry reuse lets it take over
 * (__inet_hash_connect + __inet_check_established). */
static int connect_port_ok(struct sd__sim *s, struct sd__sock *k, uint16_t port,
			   const struct sd__ep *dst)
{
	struct sd__sock *tw = NULL;
	sd__reap_port(s, port);
	for (struct sd__sock *o = s->by_port[port]; o; o = o->pnext) {
		if (!o->by_connect)
			return 0;
		if (same_tuple(o, k, dst)) {
			if (o->st != T_TIME_WAIT || !tw_reusable(s, o))
				return 0;
			tw = o;
		}
	}
	if (tw)
		take_over(s, tw);
	return 1;
}

/* Does another socket on k's port already have the 4-tuple k would take to dst? A TIME_WAIT
 * entry does not count: Linux lets a bound socket take it over at once, whatever
 * tcp_tw_reuse says (tcp_twsk_unique without twp, with the timestamps loopback always has;
 * measured on 6.18 with reuse 0 and 2), and it ends here. */
int sd__tuple_taken(struct sd__sim *s, const struct sd__sock *k, const struct sd__ep *dst)
{
	struct sd__sock *tw = NULL;
	for (struct sd__sock *o = s->by_port[k->local.port]; o; o = o->pnext)
		if (o != k && o->st != T_CLOSE && o->st != T_LISTEN && same_tuple(o, k, dst)) {
			if (o->st != T_TIME_WAIT)
				return 1;
			tw = o;
		}
	if (tw)
		take_over(s, tw);
	return 0;
}

/* __inet_hash_connect(): even ports first from a per-destination moving offset; a socket
 * with IP_LOCAL_PORT_RANGE tries every port in one pass. */
int sd__connect_autobind(struct sd__sim *s, struct sd__sock *k, const struct sd__ep *dst)
{
	static const int perturb_mask = 255;
	int low, high;
	int local = sd__port_range(s, k, &low, &high);
	int step = local ? 1 : 2;
	high++;
	uint32_t remaining = (uint32_t)(high - low);
	if (!local && remaining > 1)
		remaining &= ~1u;
	uint32_t h = tuple_hash(s, &k->local, dst);
	uint32_t *perturb = sd__perturb(s, h & (uint32_t)perturb_mask);
	uint32_t offset = (*perturb + (h >> 8)) % (remaining ? remaining : 1);
	if (!local)
		offset &= ~1u;
	for (int parity = 0; parity < step; parity++, offset++) {
		int port = low + (int)offset;
		for (uint32_t i = 0; i < remaining; i += (uint32_t)step, port += step) {
			if (port >= high)
				port -= (int)remaining;
			if (!connect_port_ok(s, k, (uint16_t)port, dst))
				continue;
			uint32_t r = sd__rand_below(s, 8) * (uint32_t)step;
			*perturb += (i > r ? i : r) + (uint32_t)step;
			k->local.port = (uint16_t)port;
			k->by_connect = 1;
			sd__port_link(s, k);
			return 0;
		}
		if (remaining <= 1)
			break;
	}
	return -EADDRNOTAVAIL;
}

/* tcp_v4_connect()/tcp_v6_connect() up to the SYN: checks, source address, port. */

/* ---- table_perturb (the PRNG itself is inline, in sim_internal.h) ---------------------- */

/* Linux's table_perturb starts random: entry i is the sim's (i + 1)-th draw, made at
 * creation. splitmix64 can compute any draw directly, so an entry is filled when first
 * used (a fuzz input uses a few of the 256) with the value it would have had. */
uint32_t *sd__perturb(struct sd__sim *s, unsigned i)
{
	i &= 255;
	if (!(s->perturb_set[i / 64] >> (i % 64) & 1)) {
		s->perturb[i] = (uint32_t)sd__mix(s->perturb_rng + (uint64_t)(i + 1) * SD__GOLDEN);
		s->perturb_set[i / 64] |= 1ull << (i % 64);
	}
	return &s->perturb[i];
}

/* ---- the port tables' memory ----------------------------------------------------------- */

#define PORT_TABLES (2 * 65536 * sizeof(struct sd__sock *))

/* The port tables are 1 MiB, of which a run touches a few pages: mmap's zero pages fault in
 * as used, where calloc from the heap would clear all of it. Under ASan they stay on the
 * heap: LeakSanitizer looks for pointers in heap blocks, not in private mappings (and ASan's
 * calloc of a block this size is fresh pages anyway). */
static struct sd__sock **ports_alloc(void)
{
#ifdef SD_ASAN
	return calloc(1, PORT_TABLES);
#else
	void *p =
		mmap(NULL, PORT_TABLES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
#endif
}

static void ports_free(struct sd__sock **p)
{
#ifdef SD_ASAN
	free(p);
#else
	munmap(p, PORT_TABLES);
#endif
}

/* One pair of tables kept for the next sim: a fuzz input opens a sim, and a fresh pair costs
 * a mapping, page faults on the pages touched and an unmapping (under ASan, clearing 1 MiB).
 * A sim gives its tables back all zero again: every entry ever set is for a port listed in
 * ports_used (sd__port_link), and those are cleared; a sim that could not list a port
 * (ports_dirty) frees its tables instead. A global, not thread-local, so LeakSanitizer sees
 * the kept block; threads take and give it atomically. */
static _Atomic(struct sd__sock **) ports_spare;

struct sd__sock **sd__ports_get(void)
{
	struct sd__sock **p = atomic_exchange(&ports_spare, NULL);
	if (!p)
		return ports_alloc();
#ifndef NDEBUG
	for (size_t i = 0; i < 2 * 65536; i++)
		assert(!p[i]); /* the reset in ports_put is complete */
#endif
	return p;
}

void sd__ports_put(struct sd__sim *s)
{
	struct sd__sock **p = s->by_port, **none = NULL;
	if (!s->ports_dirty) {
		for (size_t i = 0; i < s->nports_used; i++)
			p[s->ports_used[i]] = p[65536 + s->ports_used[i]] = NULL;
		if (atomic_compare_exchange_strong(&ports_spare, &none, p))
			return;
	}
	ports_free(p);
}
