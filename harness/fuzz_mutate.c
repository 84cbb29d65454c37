/* sockdrill: structure-keeping mutators for server fuzz inputs, plan in and plan out: the input
 * decoded into its plan, changed (fuzz_mutate_plan.c) and encoded again; byte mutations, the
 * crossover of two inputs, the mutation counts. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_mutate_internal.h"

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
size_t sd__mutate_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max)
{
	if (mu->bytes)
		return mu->bytes(b, n, max);
	return own_bytes(mu, b, n, max);
}

size_t sd_fuzz_mutate_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max)
{
	if (!max)
		return 0;
	return sd__mutate_bytes(mu, b, n < max ? n : max, max);
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
	return skip + sd__mutate_bytes(mu, out + skip, n - skip, max - skip);
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
