/* sockdrill: the structure-keeping mutators' changes to a plan (its messages, clients, faults
 * and header) and the plan fitted to the room an engine gives; fuzz_mutate.c turns inputs into
 * plans and back. */
#include <errno.h>
#include <string.h>

#include "fuzz_mutate_internal.h"

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
	n = sd__mutate_bytes(mu, mu->raw, n, SD_FUZZ_MAX_RAW);
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

/* The mutations of one message (or two, swap), picked at random among the plan's. */
static int mutate_msg(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p, enum sd_fuzz_mop op)
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
		set_raw(mu, m, mu->raw, sd__mutate_bytes(mu, mu->raw, m->len, SD_FUZZ_MAX_RAW));
		return 0;
	case SD_MOP_PIECES: return (m = pick_msg(mu, p, &ci)) ? change_pieces(mu, m) : -ENOENT;
	case SD_MOP_AFTER: return (m = pick_msg(mu, p, &ci)) ? change_after(mu, m) : -ENOENT;
	default: return -EINVAL;
	}
}

/* The mutations of the clients: how one ends, where it connects, how many run at once, one
 * added, removed or run twice. */
static int mutate_clients(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p, enum sd_fuzz_mop op)
{
	struct sd_fuzz_plan_client *c;
	int i;
	switch (op) {
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
	default: return -EINVAL;
	}
}

/* The header's seed or segmentation; or the other input's header taken whole. */
static int mutate_header(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p, enum sd_fuzz_mop op,
			 const struct sd_fuzz_plan *other)
{
	switch (op) {
	case SD_MOP_SEED:
		if (below(mu, 2))
			p->seed ^= 1 + below(mu, UINT64_MAX);
		else
			p->segment = (unsigned)((p->segment + 1 + below(mu, 12)) % 13);
		return 0;
	case SD_MOP_CROSS_HEADER:
		if (!other)
			return -ENOENT;
		memcpy(p->fault, other->fault, sizeof p->fault);
		memcpy(p->fault_kind, other->fault_kind, sizeof p->fault_kind);
		memcpy(p->fault_aim, other->fault_aim, sizeof p->fault_aim);
		p->seed = other->seed, p->segment = other->segment;
		return 0;
	default: return -EINVAL;
	}
}

int sd_fuzz_mutate_plan(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p, enum sd_fuzz_mop op,
			const struct sd_fuzz_plan *other)
{
	switch (op) {
	case SD_MOP_REPLACE:
	case SD_MOP_INSERT:
	case SD_MOP_DELETE:
	case SD_MOP_REPEAT:
	case SD_MOP_SWAP:
	case SD_MOP_RAW:
	case SD_MOP_PIECES:
	case SD_MOP_AFTER: return mutate_msg(mu, p, op);
	case SD_MOP_END:
	case SD_MOP_FROM:
	case SD_MOP_TOGETHER:
	case SD_MOP_ADD_CLIENT:
	case SD_MOP_DEL_CLIENT:
	case SD_MOP_DUP_CLIENT: return mutate_clients(mu, p, op);
	case SD_MOP_FAULT: return mutate_fault(mu, p);
	case SD_MOP_SEED:
	case SD_MOP_CROSS_HEADER: return mutate_header(mu, p, op, other);
	case SD_MOP_CROSS_CLIENT: return cross_client(mu, p, other);
	case SD_MOP_CROSS_MSG: return cross_msg(mu, p, other);
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
