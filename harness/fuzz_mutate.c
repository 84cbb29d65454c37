/* sockdrill: structure-keeping mutators for server fuzz inputs, plan in and plan out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../src/util/util.h"
#include "fuzz_mutate.h"

#define HEADER 20 /* bytes of the input's header (fuzz_plan.h) */

static const char *const names[SD_MOP_COUNT] = {
	"replace",      "insert",     "delete", "repeat", "swap",         "raw",
	"pieces",       "after",      "end",    "from",   "together",     "add-client",
	"del-client",   "dup-client", "fault",  "seed",   "cross-client", "cross-msg",
	"cross-header", "tail",       "bytes",
};

const char *sd_fuzz_mop_name(enum sd_fuzz_mop op)
{
	return (unsigned)op < SD_MOP_COUNT ? names[op] : NULL;
}

/* splitmix64: one draw from the mutator's seed. */
static uint64_t rnd(struct sd_fuzz_mutator *mu) { return sd__splitmix64(&mu->rng); }

/* A number in [0, n) (0 when n is 0). */
static size_t below(struct sd_fuzz_mutator *mu, size_t n) { return n ? rnd(mu) % n : 0; }

/* How many protocol messages a kind byte can pick. */
static size_t kinds(const struct sd_fuzz_mutator *mu)
{
	if (!mu->dict || !mu->dict->n)
		return 0;
	return mu->dict->n < SD_FUZZ_DICT_KINDS ? mu->dict->n : SD_FUZZ_DICT_KINDS;
}

/* ---- bytes ----------------------------------------------------------------------------- */

/* A few byte changes of our own, for engines without a byte mutator to call (AFL++ runs its
 * own havoc apart): flips, new and special bytes, removals, copies, a protocol message's
 * piece. */
static size_t own_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max)
{
	static const uint8_t special[] = {0, 0xff, 0x7f, 0x80, '\r', '\n', ' ', '0', '9', '/', ':'};
	for (int k = 1 + (int)below(mu, 3); k > 0; k--) {
		size_t at = below(mu, n), len;
		switch (n ? below(mu, 7) : 0) {
		case 0: /* insert a byte */
			if (n >= max)
				break;
			at = below(mu, n + 1);
			memmove(b + at + 1, b + at, n - at);
			b[at] = (uint8_t)rnd(mu);
			n++;
			break;
		case 1: b[at] ^= (uint8_t)(1u << below(mu, 8)); break;
		case 2: b[at] = (uint8_t)rnd(mu); break;
		case 3: b[at] = special[below(mu, sizeof special)]; break;
		case 4: /* remove up to 4 bytes */
			len = 1 + below(mu, n - at < 4 ? n - at : 4);
			if (len >= n)
				break;
			memmove(b + at, b + at + len, n - at - len);
			n -= len;
			break;
		case 5: /* a piece of the input copied in again */
			len = 1 + below(mu, n - at < 16 ? n - at : 16);
			if (n + len > max)
				break;
			size_t to = below(mu, n + 1);
			uint8_t piece[16];
			memcpy(piece, b + at, len);
			memmove(b + to + len, b + to, n - to);
			memcpy(b + to, piece, len);
			n += len;
			break;
		default: { /* a piece of a protocol message written over the bytes */
			if (!kinds(mu))
				break;
			size_t w = below(mu, kinds(mu)), wl = sd_fuzz_dict_len(mu->dict, w);
			if (!wl)
				break;
			size_t from = below(mu, wl);
			len = 1 + below(mu, wl - from);
			if (at + len > max)
				len = max - at;
			memcpy(b + at, mu->dict->msgs[w] + from, len);
			if (at + len > n)
				n = at + len;
			break;
		}
		}
	}
	return n ? n : (b[0] = (uint8_t)rnd(mu), 1);
}

/* The engine's byte mutator, or ours. */
static size_t mutate_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max)
{
	if (mu->bytes)
		return mu->bytes(b, n, max);
	return own_bytes(mu, b, n, max);
}

size_t sd_fuzz_mutate_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max)
{
	if (!max)
		return 0;
	return mutate_bytes(mu, b, n < max ? n : max, max);
}

/* ---- the plan's parts ------------------------------------------------------------------ */

static void set_protocol(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan_msg *m, size_t which)
{
	m->which = (int)which;
	m->bytes = (const unsigned char *)mu->dict->msgs[which];
	m->len = sd_fuzz_dict_len(mu->dict, which);
	sd_fuzz_plan_cuts(m);
}

/* The message's bytes now the mutator's own copy (len bytes of src), raw. */
static void set_raw(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan_msg *m, const void *src,
		    size_t len)
{
	if (len > SD_FUZZ_MAX_RAW)
		len = SD_FUZZ_MAX_RAW;
	memmove(mu->raw, src, len);
	m->which = -1;
	m->bytes = mu->raw;
	m->len = len;
	sd_fuzz_plan_cuts(m);
}

/* A new message, sent whole: mostly a protocol message; else raw bytes, a protocol message's
 * mutated or a few new ones. */
static void new_msg(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan_msg *m)
{
	memset(m, 0, sizeof *m);
	m->npieces = 1;
	m->after = below(mu, 4) ? SD_AFTER_REPLY : SD_AFTER_NONE;
	m->sleep_ms = 10;
	size_t k = kinds(mu);
	if (k && below(mu, 4)) {
		set_protocol(mu, m, below(mu, k));
		return;
	}
	size_t n = 0;
	if (k && below(mu, 2)) {
		size_t w = below(mu, k);
		n = sd_fuzz_dict_len(mu->dict, w);
		n = n < SD_FUZZ_MAX_RAW ? n : SD_FUZZ_MAX_RAW;
		memcpy(mu->raw, mu->dict->msgs[w], n);
	} else {
		n = 1 + below(mu, 16);
		for (size_t i = 0; i < n; i++)
			mu->raw[i] = (uint8_t)(' ' + below(mu, 95));
	}
	n = mutate_bytes(mu, mu->raw, n, SD_FUZZ_MAX_RAW);
	set_raw(mu, m, mu->raw, n);
}

/* A client picked at random among those that satisfy want (-1: none). */
static int pick_client(struct sd_fuzz_mutator *mu, const struct sd_fuzz_plan *p,
		       int (*want)(const struct sd_fuzz_plan_client *))
{
	int ok[SD_FUZZ_MAX_CLIENTS], n = 0;
	for (int i = 0; i < p->nclients; i++)
		if (want(&p->c[i]))
			ok[n++] = i;
	return n ? ok[below(mu, (size_t)n)] : -1;
}

static int has_msgs(const struct sd_fuzz_plan_client *c) { return c->nmsgs > 0; }
static int has_room(const struct sd_fuzz_plan_client *c) { return c->nmsgs < SD_FUZZ_MAX_MSGS; }
static int has_both(const struct sd_fuzz_plan_client *c) { return has_msgs(c) && has_room(c); }

/* Room for a message at m[j] of client c (nmsgs below the bound). */
static struct sd_fuzz_plan_msg *open_msg(struct sd_fuzz_plan_client *c, int j)
{
	memmove(&c->m[j + 1], &c->m[j], (size_t)(c->nmsgs - j) * sizeof c->m[0]);
	c->nmsgs++;
	return &c->m[j];
}

/* Room for a client at c[k]; those after it that connect to a port named by a client at k
 * or later follow it. */
static struct sd_fuzz_plan_client *open_client(struct sd_fuzz_plan *p, int k)
{
	memmove(&p->c[k + 1], &p->c[k], (size_t)(p->nclients - k) * sizeof p->c[0]);
	p->nclients++;
	for (int i = k + 1; i < p->nclients; i++)
		if (p->c[i].from >= k)
			p->c[i].from++;
	return &p->c[k];
}

/* Client k removed; one told a port by it now connects to the server. */
static void close_client(struct sd_fuzz_plan *p, int k)
{
	memmove(&p->c[k], &p->c[k + 1], (size_t)(p->nclients - k - 1) * sizeof p->c[0]);
	p->nclients--;
	for (int i = k; i < p->nclients; i++)
		if (p->c[i].from == k)
			p->c[i].from = -1;
		else if (p->c[i].from > k)
			p->c[i].from--;
	if (p->together > p->nclients)
		p->together = p->nclients;
}

/* A message of the plan picked at random: its client into *ci (-1: no message at all). */
static struct sd_fuzz_plan_msg *pick_msg(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p,
					 int *ci)
{
	*ci = pick_client(mu, p, has_msgs);
	return *ci < 0 ? NULL : &p->c[*ci].m[below(mu, (size_t)p->c[*ci].nmsgs)];
}

/* ---- the mutations --------------------------------------------------------------------- */

static int swap_msgs(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p)
{
	int total = 0;
	for (int i = 0; i < p->nclients; i++)
		total += p->c[i].nmsgs;
	if (total < 2)
		return -ENOENT;
	int ci, cj, tries = 0;
	struct sd_fuzz_plan_msg *a = pick_msg(mu, p, &ci), *b;
	do
		b = pick_msg(mu, p, &cj);
	while (b == a && ++tries < 64);
	if (b == a)
		return -ENOENT;
	struct sd_fuzz_plan_msg t = *a;
	*a = *b, *b = t;
	return 0;
}

static int change_pieces(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan_msg *m)
{
	int n = 1 + (int)below(mu, SD_FUZZ_MAX_PIECES);
	if (n == m->npieces && n == 1)
		n = 2;
	if (n == m->npieces) /* the same number: one cut moves */
		m->cut_at[below(mu, (size_t)n - 1)] += (unsigned char)(1 + below(mu, 255));
	else
		for (int k = 0; k < n - 1; k++)
			m->cut_at[k] = (unsigned char)rnd(mu);
	m->npieces = n;
	sd_fuzz_plan_cuts(m);
	return 0;
}

static int change_after(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan_msg *m)
{
	if (m->after == SD_AFTER_SLEEP && below(mu, 2)) /* another pause */
		m->sleep_ms = 10 * (unsigned)(1 + (m->sleep_ms / 10 + below(mu, 63)) % 64);
	else
		m->after = (enum sd_fuzz_after)((m->after + 1 + below(mu, 2)) % 3);
	if (m->after == SD_AFTER_SLEEP && m->sleep_ms == 10)
		m->sleep_ms = 10 * (unsigned)(1 + below(mu, 64));
	return 0;
}

/* A client of `other` copied into p: replacing client i, or at the end when add. */
static int cross_client(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p,
			const struct sd_fuzz_plan *other)
{
	if (!other || !other->nclients)
		return -ENOENT;
	const struct sd_fuzz_plan_client *src = &other->c[below(mu, (size_t)other->nclients)];
	int add = p->nclients < SD_FUZZ_MAX_CLIENTS && below(mu, 2);
	int i = add ? p->nclients : (int)below(mu, (size_t)p->nclients);
	if (add)
		p->nclients++;
	p->c[i] = *src;
	if (p->c[i].from >= i)
		p->c[i].from = -1;
	return 0;
}

static int cross_msg(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p,
		     const struct sd_fuzz_plan *other)
{
	if (!other)
		return -ENOENT;
	int oi = -1, n = 0;
	for (int i = 0; i < other->nclients; i++) /* a client with messages, at random */
		if (other->c[i].nmsgs && !below(mu, (size_t)++n))
			oi = i;
	int ci = pick_client(mu, p, has_room);
	if (oi < 0 || ci < 0)
		return oi < 0 ? -ENOENT : -ENOSPC;
	const struct sd_fuzz_plan_client *src = &other->c[oi];
	struct sd_fuzz_plan_client *c = &p->c[ci];
	struct sd_fuzz_plan_msg m = src->m[below(mu, (size_t)src->nmsgs)];
	*open_msg(c, (int)below(mu, (size_t)c->nmsgs + 1)) = m;
	return 0;
}

/* One fault slot changed. One that is on goes off half the time (some hide replies from
 * `check`), else changes its level, its kind within the slot's family, or its aim; one turned
 * on picks its kind from the family and, one time in four, an aim. */
static int mutate_fault(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p)
{
	int i = (int)below(mu, SD_FZ_KINDS);
	size_t n = sd_fuzz_family(i, NULL), what = p->fault[i] ? below(mu, 4) : 0;
	if (p->fault[i] && below(mu, 2)) {
		p->fault[i] = p->fault_kind[i] = p->fault_aim[i] = 0;
		return 0;
	}
	if (what == 2 && n > 1) {
		p->fault_kind[i] = (unsigned char)((p->fault_kind[i] + 1 + below(mu, n - 1)) % n);
	} else if (what == 3) {
		p->fault_aim[i] =
			(unsigned char)((p->fault_aim[i] + 1 + below(mu, SD_AIM_COUNT - 1)) %
					SD_AIM_COUNT);
	} else if (p->fault[i]) {
		p->fault[i] = (unsigned char)((p->fault[i] + 1 + below(mu, 7)) % 8);
	} else {
		p->fault[i] = (unsigned char)(1 + below(mu, 7));
		p->fault_kind[i] = (unsigned char)below(mu, n);
		p->fault_aim[i] =
			(unsigned char)(below(mu, 4) ? 0 : 1 + below(mu, SD_AIM_COUNT - 1));
	}
	if (!p->fault[i]) /* a level that came round to 0: off, as decoding has it */
		p->fault_kind[i] = p->fault_aim[i] = 0;
	return 0;
}

int sd_fuzz_mutate_plan(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p, enum sd_fuzz_mop op,
			const struct sd_fuzz_plan *other)
{
	struct sd_fuzz_plan_msg *m;
	struct sd_fuzz_plan_client *c;
	int ci, i;
	size_t k = kinds(mu);
	switch (op) {
	case SD_MOP_REPLACE:
		if (!(m = pick_msg(mu, p, &ci)))
			return -ENOENT;
		if (!k || (k == 1 && m->which == 0))
			return -ENOENT;
		if (m->which < 0)
			set_protocol(mu, m, below(mu, k));
		else
			set_protocol(mu, m, ((size_t)m->which + 1 + below(mu, k - 1)) % k);
		return 0;
	case SD_MOP_INSERT:
		if ((ci = pick_client(mu, p, has_room)) < 0)
			return -ENOSPC;
		c = &p->c[ci];
		new_msg(mu, open_msg(c, (int)below(mu, (size_t)c->nmsgs + 1)));
		return 0;
	case SD_MOP_DELETE:
		if ((ci = pick_client(mu, p, has_msgs)) < 0)
			return -ENOENT;
		c = &p->c[ci];
		i = (int)below(mu, (size_t)c->nmsgs);
		memmove(&c->m[i], &c->m[i + 1], (size_t)(c->nmsgs - i - 1) * sizeof c->m[0]);
		c->nmsgs--;
		return 0;
	case SD_MOP_REPEAT:
		if ((ci = pick_client(mu, p, has_both)) < 0)
			return pick_client(mu, p, has_msgs) < 0 ? -ENOENT : -ENOSPC;
		c = &p->c[ci];
		i = (int)below(mu, (size_t)c->nmsgs);
		*open_msg(c, i + 1) = c->m[i];
		return 0;
	case SD_MOP_SWAP: return swap_msgs(mu, p);
	case SD_MOP_RAW:
		if (!(m = pick_msg(mu, p, &ci)))
			return -ENOENT;
		set_raw(mu, m, m->bytes, m->len);
		set_raw(mu, m, mu->raw, mutate_bytes(mu, mu->raw, m->len, SD_FUZZ_MAX_RAW));
		return 0;
	case SD_MOP_PIECES: return (m = pick_msg(mu, p, &ci)) ? change_pieces(mu, m) : -ENOENT;
	case SD_MOP_AFTER: return (m = pick_msg(mu, p, &ci)) ? change_after(mu, m) : -ENOENT;
	case SD_MOP_END:
		c = &p->c[below(mu, (size_t)p->nclients)];
		c->end = (enum sd_fuzz_end)((c->end + 1 + below(mu, 2)) % 3);
		return 0;
	case SD_MOP_FROM: /* client 0 can only connect to the server */
		if (p->nclients < 2)
			return -ENOENT;
		i = 1 + (int)below(mu, (size_t)p->nclients - 1);
		p->c[i].from =
			(int)((size_t)(p->c[i].from + 2 + below(mu, (size_t)i)) % (size_t)(i + 1)) -
			1;
		return 0;
	case SD_MOP_TOGETHER:
		if (p->nclients < 2)
			return -ENOENT;
		p->together = (int)((size_t)(p->together + below(mu, (size_t)p->nclients - 1)) %
				    (size_t)p->nclients) +
			      1;
		return 0;
	case SD_MOP_ADD_CLIENT:
		if (p->nclients >= SD_FUZZ_MAX_CLIENTS)
			return -ENOSPC;
		c = open_client(p, (int)below(mu, (size_t)p->nclients + 1));
		memset(c, 0, sizeof *c);
		c->from = -1;
		c->end = (enum sd_fuzz_end)below(mu, 3);
		c->nmsgs = 1;
		new_msg(mu, &c->m[0]);
		return 0;
	case SD_MOP_DEL_CLIENT:
		if (p->nclients < 2)
			return -ENOENT;
		close_client(p, (int)below(mu, (size_t)p->nclients));
		return 0;
	case SD_MOP_DUP_CLIENT:
		if (p->nclients >= SD_FUZZ_MAX_CLIENTS)
			return -ENOSPC;
		i = (int)below(mu, (size_t)p->nclients);
		*open_client(p, i + 1) = p->c[i];
		return 0;
	case SD_MOP_FAULT: return mutate_fault(mu, p);
	case SD_MOP_SEED:
		if (below(mu, 2))
			p->seed ^= 1 + below(mu, UINT64_MAX);
		else
			p->segment = (unsigned)((p->segment + 1 + below(mu, 12)) % 13);
		return 0;
	case SD_MOP_CROSS_CLIENT: return cross_client(mu, p, other);
	case SD_MOP_CROSS_MSG: return cross_msg(mu, p, other);
	case SD_MOP_CROSS_HEADER:
		if (!other)
			return -ENOENT;
		memcpy(p->fault, other->fault, sizeof p->fault);
		memcpy(p->fault_kind, other->fault_kind, sizeof p->fault_kind);
		memcpy(p->fault_aim, other->fault_aim, sizeof p->fault_aim);
		p->seed = other->seed, p->segment = other->segment;
		return 0;
	default: return -EINVAL; /* TAIL and BYTES act on bytes, not on a plan */
	}
}

size_t sd_fuzz_plan_fit(struct sd_fuzz_plan *p, uint8_t *out, size_t max)
{
	for (;;) {
		size_t n = sd_fuzz_plan_encode(p, out, max);
		if (n <= max)
			return n;
		struct sd_fuzz_plan_client *c = &p->c[p->nclients - 1];
		if (!c->nmsgs && p->nclients == 1)
			return max; /* a header cut short: still an input */
		if (!c->nmsgs) {
			close_client(p, p->nclients - 1);
			continue;
		}
		struct sd_fuzz_plan_msg *m = &c->m[c->nmsgs - 1];
		if (m->which < 0 && m->len > n - max) {
			m->len -= n - max;
			sd_fuzz_plan_cuts(m);
		} else {
			c->nmsgs--;
		}
	}
}

/* ---- inputs in, inputs out ------------------------------------------------------------- */

/* A copy of n bytes in *buf (grown as needed): the plans point into it. NULL: out of memory. */
static uint8_t *keep(uint8_t **buf, size_t *cap, const uint8_t *p, size_t n)
{
	if (n > *cap || !*buf) {
		uint8_t *b = realloc(*buf, n ? n : 1);
		if (!b)
			return NULL;
		*buf = b, *cap = n ? n : 1;
	}
	if (n)
		memmove(*buf, p, n);
	return *buf;
}

/* The whole input, or (tail) what follows its header, through the byte mutator. */
static size_t whole_bytes(struct sd_fuzz_mutator *mu, const uint8_t *in, size_t n, uint8_t *out,
			  size_t max, int tail)
{
	size_t skip = tail && max > HEADER ? HEADER : 0;
	if (n > max)
		n = max;
	memmove(out, in, n);
	if (n < skip) /* the header's missing bytes read as 0 */
		memset(out + n, 0, skip - n), n = skip;
	return skip + mutate_bytes(mu, out + skip, n - skip, max - skip);
}

/* A custom client's input: its header's faults, seed and segmentation, or its decisions as
 * bytes. */
static size_t mutate_custom(struct sd_fuzz_mutator *mu, const uint8_t *in, size_t n, uint8_t *out,
			    size_t max)
{
	size_t pick = below(mu, 8);
	if (pick < 2 || max <= HEADER) {
		mu->last = SD_MOP_BYTES;
		return whole_bytes(mu, in, n, out, max, 0);
	}
	if (pick < 5) {
		mu->last = SD_MOP_TAIL;
		return whole_bytes(mu, in, n, out, max, 1);
	}
	struct sd_fuzz_plan p;
	struct fin f = {in, n};
	sd_fuzz_plan_header(&f, &p);
	mu->last = pick < 7 ? SD_MOP_FAULT : SD_MOP_SEED;
	sd_fuzz_mutate_plan(mu, &p, mu->last, NULL);
	size_t rest = n > HEADER ? n - HEADER : 0;
	if (rest > max - HEADER)
		rest = max - HEADER;
	memmove(out + HEADER, in + HEADER, rest);
	p.nclients = p.together = 1;
	p.c[0] = (struct sd_fuzz_plan_client){.from = -1};
	sd_fuzz_plan_encode(&p, out, HEADER); /* the header only: the clients do not fit */
	return HEADER + rest;
}

/* The mutations a plan may get, each as often as its weight says: faults most, for they are
 * what sockdrill adds to a client's dialog. */
static const unsigned char weight[SD_MOP_COUNT] = {
	[SD_MOP_REPLACE] = 4,      [SD_MOP_INSERT] = 3,       [SD_MOP_DELETE] = 4,
	[SD_MOP_REPEAT] = 1,       [SD_MOP_SWAP] = 2,         [SD_MOP_RAW] = 4,
	[SD_MOP_PIECES] = 3,       [SD_MOP_AFTER] = 2,        [SD_MOP_END] = 1,
	[SD_MOP_FROM] = 1,         [SD_MOP_TOGETHER] = 1,     [SD_MOP_ADD_CLIENT] = 3,
	[SD_MOP_DEL_CLIENT] = 1,   [SD_MOP_DUP_CLIENT] = 1,   [SD_MOP_FAULT] = 8,
	[SD_MOP_SEED] = 3,         [SD_MOP_CROSS_CLIENT] = 2, [SD_MOP_CROSS_MSG] = 3,
	[SD_MOP_CROSS_HEADER] = 1,
};

static enum sd_fuzz_mop pick_op(struct sd_fuzz_mutator *mu, int crossing)
{
	unsigned total = 0;
	for (int op = 0; op < SD_MOP_COUNT; op++)
		total += crossing || op < SD_MOP_CROSS_CLIENT ? weight[op] : 0;
	size_t r = below(mu, total);
	int op = 0;
	for (;; op++) {
		unsigned w = crossing || op < SD_MOP_CROSS_CLIENT ? weight[op] : 0;
		if (r < w)
			break;
		r -= w;
	}
	return (enum sd_fuzz_mop)op;
}

size_t sd_fuzz_mutate(struct sd_fuzz_mutator *mu, const uint8_t *in, size_t n, uint8_t *out,
		      size_t max, const uint8_t *other, size_t on)
{
	if (!max)
		return 0;
	in = keep(&mu->in, &mu->incap, in, n);
	other = other ? keep(&mu->other, &mu->othercap, other, on) : NULL;
	if (!in)
		return 0; /* out of memory */
	if (mu->custom_client) {
		size_t r = mutate_custom(mu, in, n, out, max);
		mu->count[mu->last]++;
		return r;
	}
	/* One time in 4 the engine's own byte-level power; and when no plan fits. */
	if (!below(mu, 4) || max < HEADER + 3) {
		mu->last = SD_MOP_BYTES;
		mu->count[SD_MOP_BYTES]++;
		return whole_bytes(mu, in, n, out, max, 0);
	}
	struct sd_fuzz_plan p, q;
	sd_fuzz_plan_decode(in, n, mu->dict, &p);
	if (other)
		sd_fuzz_plan_decode(other, on, mu->dict, &q);
	enum sd_fuzz_mop op = SD_MOP_BYTES;
	for (int tries = 0; tries < 16 && op == SD_MOP_BYTES; tries++) {
		enum sd_fuzz_mop o = pick_op(mu, other != NULL);
		if (sd_fuzz_mutate_plan(mu, &p, o, other ? &q : NULL) == 0)
			op = o;
	}
	mu->last = op;
	mu->count[op]++;
	if (op == SD_MOP_BYTES)
		return whole_bytes(mu, in, n, out, max, 0);
	return sd_fuzz_plan_fit(&p, out, max);
}

size_t sd_fuzz_crossover(struct sd_fuzz_mutator *mu, const uint8_t *a, size_t an, const uint8_t *b,
			 size_t bn, uint8_t *out, size_t max)
{
	if (!max)
		return 0;
	a = keep(&mu->in, &mu->incap, a, an);
	b = keep(&mu->other, &mu->othercap, b, bn);
	if (!a || !b)
		return 0;
	if (!mu->custom_client && max >= HEADER + 3) {
		struct sd_fuzz_plan p, q;
		sd_fuzz_plan_decode(a, an, mu->dict, &p);
		sd_fuzz_plan_decode(b, bn, mu->dict, &q);
		size_t r = below(mu, 6);
		enum sd_fuzz_mop op = r < 3   ? SD_MOP_CROSS_MSG
				      : r < 5 ? SD_MOP_CROSS_CLIENT
					      : SD_MOP_CROSS_HEADER;
		int rc = sd_fuzz_mutate_plan(mu, &p, op, &q);
		if (rc < 0 && op == SD_MOP_CROSS_MSG) { /* b has no message: a client of it */
			op = SD_MOP_CROSS_CLIENT;
			rc = sd_fuzz_mutate_plan(mu, &p, op, &q);
		}
		if (rc == 0) {
			mu->last = op;
			mu->count[op]++;
			/* Half the time one more change: engines cross inputs as often as they
			 * mutate one, and two inputs of a corpus often differ little. */
			for (int tries = below(mu, 2) ? 0 : 16; tries < 16; tries++) {
				enum sd_fuzz_mop more = pick_op(mu, 0);
				if (sd_fuzz_mutate_plan(mu, &p, more, NULL) == 0) {
					mu->count[more]++;
					break;
				}
			}
			return sd_fuzz_plan_fit(&p, out, max);
		}
	}
	/* A's beginning (a custom client's header at least), b's end. */
	size_t cut = mu->custom_client ? HEADER : below(mu, an + 1);
	size_t from = mu->custom_client ? HEADER : below(mu, bn + 1);
	if (cut > max)
		cut = max;
	size_t n = 0;
	if (an)
		memcpy(out, a, cut < an ? cut : an);
	n = cut < an ? cut : an;
	if (n < cut) /* a's missing header bytes read as 0 */
		memset(out + n, 0, cut - n), n = cut;
	size_t rest = from < bn ? bn - from : 0;
	if (rest > max - n)
		rest = max - n;
	memcpy(out + n, b + (from < bn ? from : bn), rest);
	mu->last = SD_MOP_BYTES;
	mu->count[SD_MOP_BYTES]++;
	n += rest;
	return n ? n : (out[0] = 0, 1);
}

void sd_fuzz_mutator_stats(FILE *f, const struct sd_fuzz_mutator *mu, const char *engine)
{
	unsigned long total = 0;
	for (int op = 0; op < SD_MOP_COUNT; op++)
		total += mu->count[op];
	fprintf(f, "%s mutations=%lu", engine, total);
	for (int op = 0; op < SD_MOP_COUNT; op++)
		fprintf(f, " %s=%lu", names[op], mu->count[op]);
	fputc('\n', f);
}

void sd_fuzz_mutator_free(struct sd_fuzz_mutator *mu)
{
	free(mu->in), free(mu->other);
	mu->in = mu->other = NULL;
	mu->incap = mu->othercap = 0;
}
