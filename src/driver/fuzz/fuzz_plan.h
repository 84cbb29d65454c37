/* sockdrill: what one server fuzz input asks for, decoded once (docs/inproc.md, "The input").
 * The in-process driver (src/driver/fuzz/fuzz_server.c) runs it on the sim;
 * bench/bench_fuzz_route.c runs the same plan over real sockets; the structure-keeping mutators
 * (src/driver/fuzz/fuzz_mutate.c) decode, change and encode it. Any bytes are a valid input: what
 * is missing reads as 0. */
#ifndef SD_FUZZ_PLAN_H
#define SD_FUZZ_PLAN_H

#include <string.h>

#include <sockdrill/fault.h>

#include "fuzz_input.h"

#define SD_FUZZ_MAX_CLIENTS 16   /* clients per input */
#define SD_FUZZ_MAX_MSGS    32   /* messages per client */
#define SD_FUZZ_MAX_RAW     4096 /* bytes of one raw message */
#define SD_FUZZ_MAX_PIECES  4    /* pieces one message is cut into */
#define SD_FUZZ_DICT_KINDS  0xf0 /* a kind byte below this picks a protocol message */

/* After a message: wait for the reply's first bytes (then until it goes quiet), go on at
 * once, or sleep a virtual time. */
enum sd_fuzz_after { SD_AFTER_REPLY, SD_AFTER_NONE, SD_AFTER_SLEEP };
/* How a client ends: half-close and read the rest to the end; close at once (after reading
 * what is there); abort with a reset (SO_LINGER 0). */
enum sd_fuzz_end { SD_END_HALF_CLOSE, SD_END_CLOSE, SD_END_RESET };

struct sd_fuzz_plan_msg {
	int which;                  /* index into the protocol's messages, or -1 for raw bytes */
	const unsigned char *bytes; /* len bytes: the message's or the input's own */
	size_t len;
	size_t cut[SD_FUZZ_MAX_PIECES]; /* sent in pieces ending at cut[0..npieces-1] */
	int npieces;
	unsigned char cut_at[SD_FUZZ_MAX_PIECES - 1]; /* the cuts as encoded: k/256 of len */
	enum sd_fuzz_after after;
	unsigned sleep_ms; /* SD_AFTER_SLEEP: 10..640 */
};

struct sd_fuzz_plan_client {
	int from; /* -1: connect to the server's port; k: to a port client k's reply names */
	enum sd_fuzz_end end;
	int nmsgs;
	struct sd_fuzz_plan_msg m[SD_FUZZ_MAX_MSGS];
};

/* The faults on the server's calls: eight slots, each a level byte (docs/inproc.md, "Faults
 * from the input"). Bits 0..2 are the level, 0..7 (0: off). When the segmentation byte is
 * SD_FZ_FAMILIES_ON or more (the segmentation is still byte % 13), bits 3..5 pick the slot's
 * kind among its family, modulo their number (0: the kind the slot always had), and bits 6..7
 * aim it (enum sd_fuzz_aim); below, they are ignored as they always were, so that every input
 * written before the families (by the encoder, the seed corpora, servers/seeds.py: all with a
 * segmentation byte below 13) means what it meant. */
enum {
	SD_FZ_SHORT_READ,
	SD_FZ_SHORT_WRITE,
	SD_FZ_EINTR,
	SD_FZ_EAGAIN,
	SD_FZ_RESET,
	SD_FZ_ACCEPT_FAIL,
	SD_FZ_CONNECT_FAIL,
	SD_FZ_DELAY,
	SD_FZ_KINDS
};

#define SD_FZ_FAMILY      5   /* kinds a slot can pick, at most */
#define SD_FZ_FAMILIES_ON 128 /* a segmentation byte from this on: the slots' high bits count */
/* The slot's family, as kinds of the fault core (enum sd_fault_kind), into kinds: the first
 * is the slot's own, the rest fail or slow the same calls in another way. Every kind of the
 * core is in one family. Returns how many. */
static inline unsigned sd_fuzz_family(int slot, unsigned char kinds[SD_FZ_FAMILY])
{
	static const unsigned char family[SD_FZ_KINDS][SD_FZ_FAMILY + 1] = {
		[SD_FZ_SHORT_READ] = {1, SD_FK_SHORT_READ},
		[SD_FZ_SHORT_WRITE] = {3, SD_FK_SHORT_WRITE, SD_FK_ENOBUFS, SD_FK_ENOMEM},
		[SD_FZ_EINTR] = {1, SD_FK_EINTR},
		[SD_FZ_EAGAIN] = {1, SD_FK_EAGAIN},
		[SD_FZ_RESET] = {5, SD_FK_RESET, SD_FK_EPIPE, SD_FK_ETIMEDOUT, SD_FK_TIMEOUT,
				 SD_FK_LIMIT_DATA},
		[SD_FZ_ACCEPT_FAIL] = {3, SD_FK_ACCEPT_FAIL, SD_FK_EMFILE, SD_FK_ENFILE},
		[SD_FZ_CONNECT_FAIL] = {3, SD_FK_CONNECT_FAIL, SD_FK_EAI_AGAIN, SD_FK_EAI_NONAME},
		[SD_FZ_DELAY] = {5, SD_FK_DELAY, SD_FK_LATENCY, SD_FK_BANDWIDTH, SD_FK_SLICE,
				 SD_FK_SLOW_CLOSE},
	};
	if (kinds)
		memcpy(kinds, family[slot] + 1, SD_FZ_FAMILY);
	return family[slot][0];
}

/* Where a slot's fault may fire (bits 6..7 of its byte): every call, as the spec's targets
 * @after=3, @for=3 or @after=3@for=1 say (per connection; per op for socket, epoll_create and
 * getaddrinfo, which have none). */
enum sd_fuzz_aim { SD_AIM_ALL, SD_AIM_LATER, SD_AIM_FIRST, SD_AIM_FOURTH, SD_AIM_COUNT };
#define SD_FZ_AIM_CALLS 3 /* the calls @after skips and @for allows */

struct sd_fuzz_plan {
	uint64_t seed;
	unsigned segment;                 /* 0..12: sim segmentation of what the server receives */
	unsigned char fault[SD_FZ_KINDS]; /* each slot's level, 0..7; 0: off */
	unsigned char fault_kind[SD_FZ_KINDS]; /* which of the slot's family (0 when off) */
	unsigned char fault_aim[SD_FZ_KINDS];  /* enum sd_fuzz_aim (0 when off) */
	int nclients, together; /* together: how many clients run at once, 1..nclients */
	struct sd_fuzz_plan_client c[SD_FUZZ_MAX_CLIENTS];
};

/* The fault kind (enum sd_fault_kind) slot k of the plan asks for, if on. */
static inline int sd_fuzz_plan_kind(const struct sd_fuzz_plan *p, int k)
{
	unsigned char kinds[SD_FZ_FAMILY];
	sd_fuzz_family(k, kinds);
	return kinds[p->fault_kind[k] % SD_FZ_FAMILY];
}

/* The protocol's messages a kind byte picks from (NULL/0: raw bytes only). */
struct sd_fuzz_dict {
	const char *const *msgs;
	const size_t *lens; /* NULL: C strings */
	size_t n;
};

static inline size_t sd_fuzz_dict_len(const struct sd_fuzz_dict *d, size_t k)
{
	return d->lens ? d->lens[k] : strlen(d->msgs[k]);
}

/* The offsets where a message of len bytes is cut, from the encoded fractions. */
static inline void sd_fuzz_plan_cuts(struct sd_fuzz_plan_msg *m)
{
	for (int k = 0; k < m->npieces - 1; k++) {
		m->cut[k] = m->len * m->cut_at[k] / 256;
		if (k && m->cut[k] < m->cut[k - 1])
			m->cut[k] = m->cut[k - 1];
	}
	m->cut[m->npieces - 1] = m->len;
}

/* The input's header (19 bytes): the seed, segmentation, the fault slots, the clients and
 * how many run at once. What follows is the clients', or a custom client's (fuzz.h). */
static inline void sd_fuzz_plan_header(struct fin *in, struct sd_fuzz_plan *p)
{
	p->seed = fin_u64(in);
	unsigned seg = fin_u8(in);
	p->segment = seg % 13;
	/* a slot that is off has no kind or aim: one plan, one encoding */
	int families = seg >= SD_FZ_FAMILIES_ON;
	for (int k = 0; k < SD_FZ_KINDS; k++) {
		unsigned b = fin_u8(in), on = families && b % 8;
		p->fault[k] = (unsigned char)(b % 8);
		p->fault_kind[k] = (unsigned char)(on ? (b >> 3 & 7) % sd_fuzz_family(k, NULL) : 0);
		p->fault_aim[k] = (unsigned char)(on ? b >> 6 : 0);
	}
	p->nclients = (int)fin_range(in, 1, SD_FUZZ_MAX_CLIENTS);
	p->together = (int)fin_range(in, 1, (unsigned)p->nclients);
}

/* Decodes the input into *p, whose raw messages then point into data. The header is the seed
 * (8 bytes), segmentation, the eight fault slots, the clients and how many run at once;
 * then per client its connect target, its end and its messages; per message a kind byte (a
 * protocol message, or raw: a 16-bit length and the bytes), its pieces and what follows it. */
static inline void sd_fuzz_plan_decode(const uint8_t *data, size_t size,
				       const struct sd_fuzz_dict *dict, struct sd_fuzz_plan *p)
{
	struct fin in = {data, size};
	sd_fuzz_plan_header(&in, p);
	for (int i = 0; i < p->nclients; i++) {
		struct sd_fuzz_plan_client *c = &p->c[i];
		unsigned to = fin_u8(&in) % (unsigned)(i + 1);
		c->from = (int)to - 1;
		c->end = (enum sd_fuzz_end)(fin_u8(&in) % 3);
		c->nmsgs = (int)((fin_u8(&in) + 1) % (SD_FUZZ_MAX_MSGS + 1)); /* 0: one message */
		for (int j = 0; j < c->nmsgs; j++) {
			struct sd_fuzz_plan_msg *m = &c->m[j];
			unsigned kind = fin_u8(&in);
			if (dict && dict->n && kind < SD_FUZZ_DICT_KINDS) {
				m->which = (int)(kind % dict->n);
				m->bytes = (const unsigned char *)dict->msgs[m->which];
				m->len = sd_fuzz_dict_len(dict, (size_t)m->which);
			} else {
				m->which = -1;
				m->len = fin_u16(&in) % (SD_FUZZ_MAX_RAW + 1);
				if (m->len > in.n)
					m->len = in.n;
				m->bytes = in.p;
				in.p += m->len, in.n -= m->len;
			}
			m->npieces = (int)fin_range(&in, 1, SD_FUZZ_MAX_PIECES);
			for (int k = 0; k < m->npieces - 1; k++)
				m->cut_at[k] = (unsigned char)fin_u8(&in);
			sd_fuzz_plan_cuts(m);
			unsigned after = fin_u8(&in);
			m->after = after % 4 == 3   ? SD_AFTER_SLEEP
				   : after % 4 == 2 ? SD_AFTER_NONE
						    : SD_AFTER_REPLY;
			m->sleep_ms = (after / 4 + 1) * 10;
		}
	}
}

/* The encoder's output, written by sd_fuzz_plan_encode: a byte store that stops at cap. */
struct sd_fuzz_out {
	uint8_t *p;
	size_t n, cap;
};

static inline void sd_fuzz_put(struct sd_fuzz_out *o, unsigned b)
{
	if (o->n < o->cap)
		o->p[o->n] = (uint8_t)b;
	o->n++;
}

/* Writes the plan as an input that decodes back to it (with the same dict; a protocol
 * message is written as its number). Returns the input's length; only the first cap bytes
 * are stored, so a return above cap means it did not fit. */
static inline size_t sd_fuzz_plan_encode(const struct sd_fuzz_plan *p, uint8_t *buf, size_t cap)
{
	struct sd_fuzz_out o = {buf, 0, cap};
	for (int k = 7; k >= 0; k--)
		sd_fuzz_put(&o, (unsigned)(p->seed >> (8 * k)) & 255);
	int families = 0;
	for (int k = 0; k < SD_FZ_KINDS; k++)
		families |= p->fault[k] && (p->fault_kind[k] || p->fault_aim[k]);
	/* with the families, the segmentation byte is the one of 128..140 that is segment % 13 */
	sd_fuzz_put(&o,
		    families ? SD_FZ_FAMILIES_ON + (p->segment + 13 - SD_FZ_FAMILIES_ON % 13) % 13
			     : p->segment);
	for (int k = 0; k < SD_FZ_KINDS; k++)
		sd_fuzz_put(&o, !p->fault[k] ? 0
				: !families  ? p->fault[k]
					     : p->fault[k] | (unsigned)p->fault_kind[k] << 3 |
						      (unsigned)p->fault_aim[k] << 6);
	sd_fuzz_put(&o, (unsigned)p->nclients - 1);
	sd_fuzz_put(&o, (unsigned)p->together - 1);
	for (int i = 0; i < p->nclients; i++) {
		const struct sd_fuzz_plan_client *c = &p->c[i];
		sd_fuzz_put(&o, (unsigned)(c->from + 1));
		sd_fuzz_put(&o, c->end);
		sd_fuzz_put(&o, (unsigned)(c->nmsgs + SD_FUZZ_MAX_MSGS) % (SD_FUZZ_MAX_MSGS + 1));
		for (int j = 0; j < c->nmsgs; j++) {
			const struct sd_fuzz_plan_msg *m = &c->m[j];
			if (m->which >= 0) {
				sd_fuzz_put(&o, (unsigned)m->which);
			} else {
				sd_fuzz_put(&o, 0xff);
				sd_fuzz_put(&o, (unsigned)(m->len >> 8));
				sd_fuzz_put(&o, (unsigned)(m->len & 255));
				for (size_t b = 0; b < m->len; b++)
					sd_fuzz_put(&o, m->bytes[b]);
			}
			sd_fuzz_put(&o, (unsigned)m->npieces - 1);
			for (int k = 0; k < m->npieces - 1; k++)
				sd_fuzz_put(&o, m->cut_at[k]);
			unsigned a = m->after == SD_AFTER_SLEEP  ? 3
				     : m->after == SD_AFTER_NONE ? 2
								 : 0;
			sd_fuzz_put(&o, a + 4 * (m->sleep_ms / 10 - 1));
		}
	}
	return o.n;
}

#endif
