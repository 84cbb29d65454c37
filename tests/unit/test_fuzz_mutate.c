/* Tests of the structure-keeping mutators (src/driver/fuzz/fuzz_mutate*.c): the plan's encoder,
 * each mutation, the bounds, determinism, and the libFuzzer and AFL++ entry points. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "fuzz_inputs.h"
#include "fuzz_internal.h"
#include "fuzz_messages.h"
#include "fuzz_mutate.h"
#include "sd_test.h"

#define PORT 7310

/* The entry points (fuzz_mutate_lf.c, fuzz_mutate_afl.c), as the engines call them. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
				 uint8_t *out, size_t max, unsigned int seed);
void *afl_custom_init(void *afl, unsigned int seed);
size_t afl_custom_fuzz(void *data, unsigned char *buf, size_t buf_size, unsigned char **out_buf,
		       unsigned char *add_buf, size_t add_buf_size, size_t max_size);
const char *afl_custom_describe(void *data, size_t max_description_len);
void afl_custom_deinit(void *data);

static const char *const text_msgs[] = {"HELLO\r\n", "QUIT\r\n", "LIST /\r\n"};
static const struct sd_fuzz_dict text = {text_msgs, NULL, 3};
/* Binary messages, NUL bytes inside. */
static const char bin0[] = {0x10, 0x00, 0x04, 'M', 'Q'}, bin1[] = {0x00}, bin2[] = {0x30, 0, 0};
static const char *const bin_msgs[] = {bin0, bin1, bin2};
static const size_t bin_lens[] = {sizeof bin0, sizeof bin1, sizeof bin2};
static const struct sd_fuzz_dict binary = {bin_msgs, bin_lens, 3};
/* More messages than a kind byte can pick (250 > 0xf0). */
static char many_buf[250][16];
static const char *many_msgs[250];
static struct sd_fuzz_dict many = {many_msgs, NULL, 250};

static const struct sd_fuzz_dict *const dicts[] = {NULL, &text, &binary, &many};

static void make_many(void)
{
	for (int i = 0; i < 250; i++) {
		snprintf(many_buf[i], sizeof many_buf[i], "m%d\n", i);
		many_msgs[i] = many_buf[i];
	}
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Random bytes, biased to small values now and then so that plans get many clients and
 * messages. */
static size_t random_input(uint8_t *buf, size_t cap, uint32_t *s)
{
	size_t n = lcg(s) % cap;
	int small = lcg(s) % 2;
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(small && lcg(s) % 3 ? lcg(s) % 40 : lcg(s));
	return n;
}

static int plans_equal(const struct sd_fuzz_plan *a, const struct sd_fuzz_plan *b)
{
	if (a->seed != b->seed || a->segment != b->segment ||
	    memcmp(a->fault, b->fault, sizeof a->fault) ||
	    memcmp(a->fault_kind, b->fault_kind, sizeof a->fault_kind) ||
	    memcmp(a->fault_aim, b->fault_aim, sizeof a->fault_aim) || a->nclients != b->nclients ||
	    a->together != b->together)
		return 0;
	for (int i = 0; i < a->nclients; i++) {
		const struct sd_fuzz_plan_client *x = &a->c[i], *y = &b->c[i];
		if (x->from != y->from || x->end != y->end || x->nmsgs != y->nmsgs)
			return 0;
		for (int j = 0; j < x->nmsgs; j++) {
			const struct sd_fuzz_plan_msg *m = &x->m[j], *n = &y->m[j];
			if (m->which != n->which || m->len != n->len ||
			    (m->len && memcmp(m->bytes, n->bytes, m->len)) ||
			    m->npieces != n->npieces || m->after != n->after ||
			    m->sleep_ms != n->sleep_ms ||
			    memcmp(m->cut, n->cut, sizeof m->cut[0] * (size_t)m->npieces))
				return 0;
			for (int k = 0; k < m->npieces - 1; k++)
				if (m->cut_at[k] != n->cut_at[k])
					return 0;
		}
	}
	return 1;
}

static int total_msgs(const struct sd_fuzz_plan *p)
{
	int n = 0;
	for (int i = 0; i < p->nclients; i++)
		n += p->c[i].nmsgs;
	return n;
}

/* Every input decodes to a plan that encodes to an input decoding to the same plan, and that
 * input is a fixed point of decode and encode. */
static void round_trip_keeps_every_plan(void **state)
{
	(void)state;
	make_many();
	static uint8_t in[1200], once[70000], twice[70000];
	uint32_t s = 1;
	for (int round = 0; round < 4000; round++) {
		const struct sd_fuzz_dict *d = dicts[round % 4];
		size_t n = random_input(in, sizeof in, &s);
		struct sd_fuzz_plan a, b;
		sd_fuzz_plan_decode(in, n, d, &a);
		size_t n1 = sd_fuzz_plan_encode(&a, once, sizeof once);
		assert_true(n1 <= sizeof once);
		sd_fuzz_plan_decode(once, n1, d, &b);
		assert_true(plans_equal(&a, &b));
		size_t n2 = sd_fuzz_plan_encode(&b, twice, sizeof twice);
		assert_int_equal(n1, n2);
		assert_memory_equal(once, twice, n1);
	}
}

/* The pieces' offsets as decoding sets them (tmsg leaves them 0). */
static void cuts(struct sd_fuzz_plan *p)
{
	for (int i = 0; i < p->nclients; i++)
		for (int j = 0; j < p->c[i].nmsgs; j++)
			sd_fuzz_plan_cuts(&p->c[i].m[j]);
}

/* A plan with `n` clients of three messages each: protocol messages 0, 1, 2 of the text dict
 * (client i's message j is (i + j) % 3), so every change shows. */
static void three_each(struct sd_fuzz_plan *p, int n)
{
	tplan(p, n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 3; j++) {
			int w = (i + j) % 3;
			tmsg(p, i, w, text_msgs[w], strlen(text_msgs[w]), SD_AFTER_REPLY);
		}
	cuts(p);
}

static struct sd_fuzz_mutator mutator(const struct sd_fuzz_dict *d, uint64_t seed)
{
	return (struct sd_fuzz_mutator){.dict = d, .rng = seed};
}

/* The client whose message count changed, asserting it changed by `by` and no other did. */
static int changed_client(const struct sd_fuzz_plan *before, const struct sd_fuzz_plan *after,
			  int by)
{
	int who = -1;
	assert_int_equal(before->nclients, after->nclients);
	for (int i = 0; i < after->nclients; i++)
		if (after->c[i].nmsgs != before->c[i].nmsgs) {
			assert_int_equal(who, -1);
			assert_int_equal(after->c[i].nmsgs, before->c[i].nmsgs + by);
			who = i;
		}
	assert_true(who >= 0);
	return who;
}

/* Whether b is a with one message added somewhere (messages told apart by `which`). */
static int one_more(const struct sd_fuzz_plan_client *a, const struct sd_fuzz_plan_client *b)
{
	for (int t = 0; t < b->nmsgs; t++) {
		int same = 1;
		for (int j = 0, k = 0; j < b->nmsgs && same; j++)
			if (j != t)
				same = b->m[j].which == a->m[k++].which;
		if (same)
			return 1;
	}
	return 0;
}

static void insert_adds_one_message(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		three_each(&p, 3);
		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_INSERT, NULL), 0);
		int i = changed_client(&p, &q, 1);
		assert_true(one_more(&p.c[i], &q.c[i]));
	}
	/* at the bound */
	struct sd_fuzz_mutator mu = mutator(&text, 7);
	struct sd_fuzz_plan p;
	tplan(&p, 1);
	for (int j = 0; j < SD_FUZZ_MAX_MSGS; j++)
		tmsg(&p, 0, 0, text_msgs[0], 7, SD_AFTER_NONE);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_INSERT, NULL), -ENOSPC);
	assert_int_equal(p.c[0].nmsgs, SD_FUZZ_MAX_MSGS);
}

static void delete_removes_one_message(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		three_each(&p, 2);
		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_DELETE, NULL), 0);
		int i = changed_client(&p, &q, -1);
		/* what is left is the old sequence with one message out */
		int k = 0, out = 0;
		for (int j = 0; j < 3; j++) {
			if (k < q.c[i].nmsgs && q.c[i].m[k].which == p.c[i].m[j].which)
				k++;
			else
				out++;
		}
		assert_int_equal(out, 1);
	}
	struct sd_fuzz_mutator mu = mutator(&text, 1);
	struct sd_fuzz_plan p;
	tplan(&p, 2);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_DELETE, NULL), -ENOENT);
}

static void replace_keeps_the_count_and_changes_a_message(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		three_each(&p, 2);
		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_REPLACE, NULL), 0);
		assert_int_equal(total_msgs(&q), total_msgs(&p));
		int changed = 0;
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < 3; j++) {
				const struct sd_fuzz_plan_msg *m = &q.c[i].m[j];
				if (m->which == p.c[i].m[j].which)
					continue;
				changed++;
				assert_true(m->which >= 0 && m->which < 3);
				assert_string_equal((const char *)m->bytes, text_msgs[m->which]);
				assert_int_equal(m->len, strlen(text_msgs[m->which]));
			}
		assert_int_equal(changed, 1);
	}
	/* no protocol messages: nothing to replace with */
	struct sd_fuzz_mutator mu = mutator(NULL, 1);
	struct sd_fuzz_plan p;
	tplan(&p, 1);
	tmsg(&p, 0, -1, "x", 1, SD_AFTER_NONE);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_REPLACE, NULL), -ENOENT);
}

static void repeat_sends_a_message_twice(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		three_each(&p, 2);
		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_REPEAT, NULL), 0);
		int i = changed_client(&p, &q, 1), twice = -1;
		for (int j = 0; j < 3 && twice < 0; j++)
			if (q.c[i].m[j + 1].which == p.c[i].m[j].which &&
			    q.c[i].m[j].which == p.c[i].m[j].which)
				twice = j;
		assert_true(twice >= 0);
		for (int j = twice + 1; j < 3; j++) /* the rest moved up one */
			assert_int_equal(q.c[i].m[j + 1].which, p.c[i].m[j].which);
	}
}

static void swap_exchanges_two_messages(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		struct sd_fuzz_mutator mu = mutator(NULL, seed);
		struct sd_fuzz_plan p, q;
		static const char *const raw[] = {"a", "b", "c", "d"};
		tplan(&p, 2);
		for (int k = 0; k < 4; k++) /* four different messages, two a client */
			tmsg(&p, k / 2, -1, raw[k], 1, SD_AFTER_NONE);
		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_SWAP, NULL), 0);
		int moved = 0;
		for (int k = 0; k < 4; k++)
			moved += q.c[k / 2].m[k % 2].bytes[0] != p.c[k / 2].m[k % 2].bytes[0];
		assert_int_equal(moved, 2);
		assert_int_equal(q.c[0].nmsgs + q.c[1].nmsgs, 4);
	}
}

/* A raw mutation leaves a raw message in place of the one it picked, its bytes changed
 * (nearly always: a byte flipped twice is the one way back). */
static void raw_mutation_changes_a_messages_bytes(void **state)
{
	(void)state;
	int differ = 0;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		three_each(&p, 1);
		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_RAW, NULL), 0);
		assert_int_equal(q.c[0].nmsgs, 3);
		int raw = 0;
		for (int j = 0; j < 3; j++) {
			const struct sd_fuzz_plan_msg *m = &q.c[0].m[j], *o = &p.c[0].m[j];
			if (m->which >= 0) {
				assert_int_equal(m->which, o->which);
				continue;
			}
			raw++;
			assert_ptr_equal(m->bytes, mu.raw);
			assert_true(m->len <= SD_FUZZ_MAX_RAW);
			differ += m->len != o->len || memcmp(m->bytes, o->bytes, m->len) != 0;
		}
		assert_int_equal(raw, 1);
	}
	assert_true(differ >= 90);
}

/* The header's and the clients' fields: each mutation changes its own and keeps it valid. */
static void field_mutations_change_their_field(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		three_each(&p, 4);
		p.c[2].from = 0, p.c[3].from = 2;
		p.together = 2;
		p.c[1].m[1].after = SD_AFTER_SLEEP;
		p.c[1].m[1].sleep_ms = 320;

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_FAULT, NULL), 0);
		int faults = 0;
		for (int k = 0; k < SD_FZ_KINDS; k++) {
			assert_true(q.fault[k] < 8);
			assert_true(q.fault_kind[k] < sd_fuzz_family(k, NULL));
			assert_true(q.fault_aim[k] < SD_AIM_COUNT);
			assert_true(q.fault[k] || (!q.fault_kind[k] && !q.fault_aim[k]));
			faults += q.fault[k] != p.fault[k] || q.fault_kind[k] != p.fault_kind[k] ||
				  q.fault_aim[k] != p.fault_aim[k];
		}
		assert_int_equal(faults, 1);

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_SEED, NULL), 0);
		assert_true(q.seed != p.seed || q.segment != p.segment);
		assert_true(q.segment <= 12);

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_END, NULL), 0);
		int ends = 0;
		for (int i = 0; i < 4; i++) {
			assert_true(q.c[i].end <= SD_END_RESET);
			ends += q.c[i].end != p.c[i].end;
		}
		assert_int_equal(ends, 1);

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_FROM, NULL), 0);
		int froms = 0;
		for (int i = 0; i < 4; i++) {
			assert_true(q.c[i].from >= -1 && q.c[i].from < i);
			froms += q.c[i].from != p.c[i].from;
		}
		assert_int_equal(froms, 1);

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_TOGETHER, NULL), 0);
		assert_true(q.together != p.together && q.together >= 1 && q.together <= 4);

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_PIECES, NULL), 0);
		assert_true(memcmp(&q, &p, sizeof q) != 0);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 3; j++) {
				const struct sd_fuzz_plan_msg *m = &q.c[i].m[j];
				assert_true(m->npieces >= 1 && m->npieces <= SD_FUZZ_MAX_PIECES);
				assert_int_equal(m->cut[m->npieces - 1], m->len);
			}

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_AFTER, NULL), 0);
		int afters = 0;
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 3; j++) {
				const struct sd_fuzz_plan_msg *m = &q.c[i].m[j], *o = &p.c[i].m[j];
				assert_true(m->sleep_ms >= 10 && m->sleep_ms <= 640 &&
					    m->sleep_ms % 10 == 0);
				afters += m->after != o->after || (m->after == SD_AFTER_SLEEP &&
								   m->sleep_ms != o->sleep_ms);
			}
		assert_int_equal(afters, 1);
	}
	/* a fault that is on goes off as often as it changes (level, kind or aim) */
	int off = 0, other = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p;
		three_each(&p, 1);
		memset(p.fault, 5, sizeof p.fault);
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_FAULT, NULL), 0);
		for (int k = 0; k < SD_FZ_KINDS; k++)
			if (p.fault[k] != 5 || p.fault_kind[k] || p.fault_aim[k])
				off += p.fault[k] == 0, other += p.fault[k] != 0;
	}
	assert_int_equal(off + other, 200);
	assert_true(off > 70 && other > 70);
	struct sd_fuzz_mutator mu = mutator(&text, 3);
	struct sd_fuzz_plan one;
	three_each(&one, 1);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &one, SD_MOP_FROM, NULL), -ENOENT);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &one, SD_MOP_TOGETHER, NULL), -ENOENT);
}

/* The kinds a plan's slots ask for, and their aims, as bits. */
static void kinds_seen(const struct sd_fuzz_plan *p, unsigned *kinds, unsigned *aims)
{
	for (int k = 0; k < SD_FZ_KINDS; k++)
		if (p->fault[k]) {
			*kinds |= 1u << sd_fuzz_plan_kind(p, k);
			*aims |= 1u << p->fault_aim[k];
		}
}

/* The fault mutation reaches every kind of the fault core and every aim, in inputs that keep
 * them (decoded from the bytes it wrote); so do the engines' mutations, from an input with no
 * fault at all. */
static void fault_mutations_reach_every_kind_and_aim(void **state)
{
	(void)state;
	struct sd_fuzz_plan p, q;
	static uint8_t buf[4096], out[4096];
	unsigned kinds = 0, aims = 0;
	three_each(&p, 2);
	for (uint64_t seed = 1; seed <= 2000; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_FAULT, NULL), 0);
		size_t n = sd_fuzz_plan_encode(&p, buf, sizeof buf);
		sd_fuzz_plan_decode(buf, n, &text, &q);
		assert_true(plans_equal(&p, &q));
		kinds_seen(&q, &kinds, &aims);
	}
	assert_int_equal(kinds, (1u << SD_FK_KINDS) - 1);
	assert_int_equal(aims, (1u << SD_AIM_COUNT) - 1);

	three_each(&p, 2);
	size_t n = sd_fuzz_plan_encode(&p, buf, sizeof buf);
	kinds = aims = 0;
	for (uint64_t seed = 1; seed <= 6000; seed++) { /* a chain, as a campaign's corpus grows */
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		size_t r = sd_fuzz_mutate(&mu, buf, n, out, sizeof out, NULL, 0);
		if (mu.last == SD_MOP_FAULT) {
			sd_fuzz_plan_decode(out, r, &text, &q);
			kinds_seen(&q, &kinds, &aims);
			memcpy(buf, out, r), n = r;
		}
		sd_fuzz_mutator_free(&mu);
	}
	assert_int_equal(kinds, (1u << SD_FK_KINDS) - 1);
	assert_int_equal(aims, (1u << SD_AIM_COUNT) - 1);
}

/* Clients added, removed and run twice: the count moves by one, every client still connects
 * to the server or to an earlier client, and a client told a port by another still is told
 * it by the same one (clients are told apart by their first message's bytes). */
static void client_mutations_keep_the_ports_they_follow(void **state)
{
	(void)state;
	static const char *const marks[] = {"c0", "c1", "c2", "c3"};
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q;
		tplan(&p, 4);
		for (int i = 0; i < 4; i++)
			tmsg(&p, i, -1, marks[i], 2, SD_AFTER_NONE);
		p.c[2].from = 1, p.c[3].from = 2; /* a chain 1 <- 2 <- 3 */
		p.together = 4;
		static const enum sd_fuzz_mop ops[] = {SD_MOP_ADD_CLIENT, SD_MOP_DEL_CLIENT,
						       SD_MOP_DUP_CLIENT};
		static const int by[] = {1, -1, 1};
		for (int o = 0; o < 3; o++) {
			q = p;
			assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, ops[o], NULL), 0);
			assert_int_equal(q.nclients, p.nclients + by[o]);
			assert_true(q.together >= 1 && q.together <= q.nclients);
			for (int i = 0; i < q.nclients; i++) {
				assert_true(q.c[i].from >= -1 && q.c[i].from < i);
				int was = -1; /* the client it was in p */
				for (int k = 0; k < 4; k++)
					if (q.c[i].m[0].bytes == (const unsigned char *)marks[k])
						was = k;
				if (was < 0) { /* the new client */
					assert_int_equal(q.c[i].from, -1);
					continue;
				}
				int f = p.c[was].from;
				if (q.c[i].from < 0) /* only when the one it followed went */
					assert_true(f < 0 || o == 1);
				else
					assert_ptr_equal(q.c[q.c[i].from].m[0].bytes,
							 p.c[f].m[0].bytes);
			}
		}
	}
	struct sd_fuzz_mutator mu = mutator(&text, 1);
	struct sd_fuzz_plan p;
	three_each(&p, SD_FUZZ_MAX_CLIENTS);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_ADD_CLIENT, NULL), -ENOSPC);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_DUP_CLIENT, NULL), -ENOSPC);
	three_each(&p, 1);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_DEL_CLIENT, NULL), -ENOENT);
}

/* A crossover brings a client, a message or the header of the other plan. */
static void crossover_takes_from_the_other_input(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		struct sd_fuzz_mutator mu = mutator(&text, seed);
		struct sd_fuzz_plan p, q, other;
		three_each(&p, 2);
		tplan(&other, 2);
		tmsg(&other, 0, -1, "OTHER-A", 7, SD_AFTER_NONE);
		tmsg(&other, 1, -1, "OTHER-B", 7, SD_AFTER_NONE);
		other.c[1].end = SD_END_CLOSE;

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_CROSS_MSG, &other), 0);
		int i = changed_client(&p, &q, 1), found = 0;
		for (int j = 0; j < q.c[i].nmsgs; j++)
			found += q.c[i].m[j].which < 0 && !memcmp(q.c[i].m[j].bytes, "OTHER-", 6);
		assert_int_equal(found, 1);

		q = p;
		assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_CROSS_CLIENT, &other), 0);
		found = 0;
		for (int k = 0; k < q.nclients; k++)
			found += q.c[k].nmsgs == 1 && !memcmp(q.c[k].m[0].bytes, "OTHER-", 6);
		assert_int_equal(found, 1);
		assert_true(q.nclients == 2 || q.nclients == 3);
	}
	struct sd_fuzz_mutator mu = mutator(&text, 1);
	struct sd_fuzz_plan p, q, other;
	three_each(&p, 1);
	tplan(&other, 1);
	other.seed = 77, other.segment = 5, other.fault[SD_FZ_RESET] = 3;
	other.fault_kind[SD_FZ_RESET] = 3, other.fault_aim[SD_FZ_RESET] = SD_AIM_FOURTH;
	q = p;
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &q, SD_MOP_CROSS_HEADER, &other), 0);
	assert_true(q.seed == 77 && q.segment == 5);
	assert_memory_equal(q.fault, other.fault, sizeof q.fault);
	assert_memory_equal(q.fault_kind, other.fault_kind, sizeof q.fault_kind);
	assert_memory_equal(q.fault_aim, other.fault_aim, sizeof q.fault_aim);
	assert_int_equal(q.nclients, 1);
	assert_int_equal(q.c[0].nmsgs, 3); /* the dialogs stay */
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_CROSS_HEADER, NULL), -ENOENT);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_CROSS_MSG, NULL), -ENOENT);
	assert_int_equal(sd_fuzz_mutate_plan(&mu, &p, SD_MOP_CROSS_CLIENT, NULL), -ENOENT);
}

/* Any input, any bound: the output fits, is never empty, and a structured one is exactly
 * the encoding of the plan it decodes to. */
static void outputs_fit_and_keep_the_structure(void **state)
{
	(void)state;
	make_many();
	static uint8_t in[1500], out[1500], other[1500], again[70000];
	uint32_t s = 7;
	unsigned long structured = 0, eligible = 0, ops[SD_MOP_COUNT] = {0};
	for (int round = 0; round < 6000; round++) {
		const struct sd_fuzz_dict *d = dicts[round % 4];
		struct sd_fuzz_mutator mu = mutator(d, (uint64_t)round);
		size_t n = random_input(in, sizeof in, &s),
		       on = random_input(other, sizeof other, &s);
		size_t max = 1 + lcg(&s) % (round % 3 ? 600 : 40);
		if (n > max)
			n = max; /* the engines never give more than they allow back */
		size_t r = round % 5 == 4 ? sd_fuzz_crossover(&mu, in, n, other, on, out, max)
					  : sd_fuzz_mutate(&mu, in, n, out, max,
							   round % 2 ? other : NULL, on);
		assert_true(r >= 1 && r <= max);
		ops[mu.last]++;
		eligible += max >= 23; /* room for a header and a client */
		if (mu.last != SD_MOP_BYTES) {
			struct sd_fuzz_plan p;
			sd_fuzz_plan_decode(out, r, d, &p);
			assert_int_equal(sd_fuzz_plan_encode(&p, again, sizeof again), r);
			assert_memory_equal(again, out, r);
			structured++;
		}
		sd_fuzz_mutator_free(&mu);
	}
	assert_true(structured * 10 >= eligible * 6); /* bytes one time in 4, the rest plans */
	for (int op = 0; op < SD_MOP_TAIL; op++)      /* every plan mutation happened */
		assert_true(ops[op] > 0);
}

/* The same seed and input give the same output, call after call; another seed another. */
static void same_seed_same_outputs(void **state)
{
	(void)state;
	uint8_t a[512], b[512], in[512];
	uint32_t s = 3;
	size_t n = random_input(in, sizeof in, &s);
	struct sd_fuzz_mutator x = mutator(&text, 42), y = mutator(&text, 42),
			       z = mutator(&text, 43);
	size_t na = n, nb = n, nz = n;
	memcpy(a, in, n), memcpy(b, in, n);
	int differ = 0;
	uint8_t c[512];
	memcpy(c, in, n);
	for (int k = 0; k < 300; k++) {
		na = sd_fuzz_mutate(&x, a, na, a, sizeof a, NULL, 0);
		nb = sd_fuzz_mutate(&y, b, nb, b, sizeof b, NULL, 0);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
		nz = sd_fuzz_mutate(&z, c, nz, c, sizeof c, NULL, 0);
		differ += nz != na || memcmp(a, c, na);
	}
	assert_true(differ > 0);
	sd_fuzz_mutator_free(&x), sd_fuzz_mutator_free(&y), sd_fuzz_mutator_free(&z);
}

/* A plan too long for the bound loses its last parts: the last raw message is cut short,
 * whole messages and empty clients go from the end. */
static void fit_drops_the_last_parts(void **state)
{
	(void)state;
	static char big[3][300];
	struct sd_fuzz_plan p;
	tplan(&p, 3);
	for (int i = 0; i < 3; i++) {
		memset(big[i], 'a' + i, sizeof big[i]);
		tmsg(&p, i, -1, big[i], sizeof big[i], SD_AFTER_REPLY);
		tmsg(&p, i, 1, text_msgs[1], strlen(text_msgs[1]), SD_AFTER_NONE);
	}
	cuts(&p);
	uint8_t out[2000];
	struct sd_fuzz_plan q = p;
	size_t full = sd_fuzz_plan_encode(&p, out, sizeof out);
	assert_int_equal(sd_fuzz_plan_fit(&q, out, full), full); /* fits: unchanged */
	assert_true(plans_equal(&p, &q));

	q = p;
	size_t r = sd_fuzz_plan_fit(&q, out, 500);
	assert_int_equal(r, 500); /* a raw message cut to what fits */
	struct sd_fuzz_plan d;
	sd_fuzz_plan_decode(out, r, &text, &d);
	assert_true(plans_equal(&q, &d));
	assert_int_equal(d.nclients, 2);
	assert_int_equal(d.c[0].nmsgs, 2);
	assert_int_equal(d.c[1].nmsgs, 1);
	assert_true(d.c[1].m[0].len < 300 && d.c[1].m[0].bytes[0] == 'b');

	q = p;
	r = sd_fuzz_plan_fit(&q, out, 24); /* the header and one empty client */
	assert_true(r <= 24);
	sd_fuzz_plan_decode(out, r, &text, &d);
	assert_int_equal(d.nclients, 1);
	q = p;
	assert_int_equal(sd_fuzz_plan_fit(&q, out, 5), 5); /* only a cut header fits */
}

/* A glue with its own client: its header is mutated as fields, the rest as bytes. */
static void custom_client_input_keeps_its_header(void **state)
{
	(void)state;
	uint8_t in[300], out[300];
	uint32_t s = 11;
	unsigned long seen[SD_MOP_COUNT] = {0};
	for (int round = 0; round < 2000; round++) {
		struct sd_fuzz_mutator mu = mutator(&text, (uint64_t)round);
		mu.custom_client = 1;
		size_t n = random_input(in, sizeof in, &s), max = 1 + lcg(&s) % 300;
		if (n > max)
			n = max;
		size_t r = sd_fuzz_mutate(&mu, in, n, out, max, NULL, 0);
		assert_true(r >= 1 && r <= max);
		seen[mu.last]++;
		if (mu.last == SD_MOP_TAIL && n >= 20 && max > 20) /* the header as it was */
			assert_memory_equal(out, in, 20);
		if (mu.last == SD_MOP_FAULT || mu.last == SD_MOP_SEED) { /* the rest as it was */
			assert_true(r >= 20);
			if (n > 20)
				assert_memory_equal(out + 20, in + 20, r - 20);
		}
		sd_fuzz_mutator_free(&mu);
	}
	for (int op = 0; op < SD_MOP_COUNT; op++)
		if (op == SD_MOP_FAULT || op == SD_MOP_SEED || op == SD_MOP_TAIL ||
		    op == SD_MOP_BYTES)
			assert_true(seen[op] > 0);
		else
			assert_int_equal(seen[op], 0);
}

static char *slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The messages file keeps binary messages exactly; a bad one is refused with file:line. */
static void messages_file_round_trip_and_errors(void **state)
{
	(void)state;
	char path[] = "/tmp/sd-msgs-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_int_equal(sd_fuzz_messages_write(f, &binary, 1), 0);
	fclose(f);
	struct sd_fuzz_dict d;
	int client = 0;
	char err[512];
	assert_int_equal(sd_fuzz_messages_read(path, &d, &client, err, sizeof err), 0);
	assert_int_equal(client, 1);
	assert_int_equal(d.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(d.lens[i], bin_lens[i]);
		assert_memory_equal(d.msgs[i], bin_msgs[i], bin_lens[i]);
	}
	sd_fuzz_messages_free(&d);

	static const struct {
		const char *text, *err;
	} bad[] = {
		{"", ":1: expected \"sockdrill-messages 1 N C\""},
		{"sockdrill-messages 2 0 0\n", ":1: expected \"sockdrill-messages 1 N C\""},
		{"sockdrill-messages 1 9999 0\n", ":1: 9999 messages, more than 4096"},
		{"sockdrill-messages 1 2 0\n4142\n", ":2: 2 messages announced, 1 found"},
		{"sockdrill-messages 1 1 0\n41\n42\n", ":3: more messages than the 1 announced"},
		{"sockdrill-messages 1 1 0\n414\n", ":2: an odd number of hex digits"},
		{"sockdrill-messages 1 1 0\n41g2\n", ":2:3: not a hex digit"},
		{"sockdrill-messages 1 1 0\n4g\n", ":2:2: not a hex digit"},
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		spit(path, bad[k].text);
		assert_int_equal(sd_fuzz_messages_read(path, &d, &client, err, sizeof err),
				 -EINVAL);
		assert_int_equal(strncmp(err, path, strlen(path)), 0);
		assert_string_equal(err + strlen(path), bad[k].err);
		assert_int_equal(d.n, 0);
	}
	unlink(path);
	assert_int_equal(sd_fuzz_messages_read(path, &d, &client, err, sizeof err), -ENOENT);
}

/* The dictionary escapes what the engines' format needs and leaves out what they cannot
 * take. */
static void dictionary_escapes_and_leaves_out_long_messages(void **state)
{
	(void)state;
	static char longer[70];
	memset(longer, 'x', 65);
	static const char *const msgs[] = {"GET \"/\\\"\r\n", "", longer, "\xff\x01"};
	struct sd_fuzz_dict d = {msgs, NULL, 4};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(sd_fuzz_messages_dict(f, &d, 64), 2);
	fclose(f);
	assert_non_null(
		strstr(buf, "\nmsg0=\"GET \\x22/\\x5c\\x22\\x0d\\x0a\"\nmsg3=\"\\xff\\x01\"\n"));
	assert_null(strstr(buf, "msg1="));
	assert_null(strstr(buf, "msg2="));
	free(buf);
}

/* AFL++'s entry points: the messages from SOCKDRILL_MESSAGES, outputs within max_size, a
 * description per mutation, a stats line at the end. */
static void afl_mutator_reads_the_messages(void **state)
{
	(void)state;
	char msgs[] = "/tmp/sd-msgs-XXXXXX", stats[] = "/tmp/sd-stats-XXXXXX";
	close(mkstemp(msgs)), close(mkstemp(stats));
	FILE *f = fopen(msgs, "w");
	sd_fuzz_messages_write(f, &text, 0);
	fclose(f);
	setenv("SOCKDRILL_MESSAGES", msgs, 1);
	setenv("SOCKDRILL_MUTATOR_STATS", stats, 1);
	void *m = afl_custom_init(NULL, 5);
	assert_non_null(m);
	uint8_t in[300], add[300];
	uint32_t s = 5;
	int protocol = 0;
	for (int k = 0; k < 500; k++) {
		size_t n = random_input(in, sizeof in, &s), an = random_input(add, sizeof add, &s);
		unsigned char *out = NULL;
		size_t r = afl_custom_fuzz(m, in, n, &out, k % 2 ? add : NULL, an, 400);
		assert_true(r >= 1 && r <= 400 && out);
		const char *desc = afl_custom_describe(m, 100);
		assert_int_equal(strncmp(desc, "sockdrill-", 10), 0);
		if (strcmp(desc, "sockdrill-bytes")) {
			struct sd_fuzz_plan p;
			sd_fuzz_plan_decode(out, r, &text, &p);
			for (int i = 0; i < p.nclients; i++)
				for (int j = 0; j < p.c[i].nmsgs; j++)
					protocol += p.c[i].m[j].which >= 0;
		}
	}
	assert_true(protocol > 0);
	assert_int_equal(strlen(afl_custom_describe(m, 4)), 4);
	afl_custom_deinit(m);
	char line[1024];
	slurp(stats, line, sizeof line);
	assert_int_equal(strncmp(line, "afl mutations=500 replace=", 26), 0);

	spit(msgs, "sockdrill-messages 1 1 0\nzz\n"); /* a bad file: no campaign */
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 2);
		afl_custom_init(NULL, 5);
		_exit(0);
	}
	close(pipefd[1]);
	ssize_t k = read(pipefd[0], line, sizeof line - 1);
	line[k > 0 ? k : 0] = 0;
	close(pipefd[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	char want[256];
	snprintf(want, sizeof want,
		 "sockdrill mutator: SOCKDRILL_MESSAGES=%s:2:1: not a hex digit\n", msgs);
	assert_string_equal(line, want);
	unlink(msgs), unlink(stats);
}

/* Accepts forever and reads each connection to its end. */
static void sink_server(void *arg)
{
	(void)arg;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return;
	for (;;) {
		int c = accept(l, NULL, NULL);
		char b[256];
		while (c >= 0 && recv(c, b, sizeof b, 0) > 0)
			;
		if (c >= 0)
			close(c);
	}
}

static void crash_server(void *arg)
{
	(void)arg;
	abort();
}

/* libFuzzer's hooks: plain bytes until a run shows the target's messages, then plans made of
 * them; the glue's list is copied (it may live on the glue's stack). */
static void libfuzzer_hooks_learn_the_messages_from_a_run(void **state)
{
	(void)state;
	uint8_t buf[400], other[64] = {0};
	memset(buf, 0, sizeof buf);
	assert_int_equal(LLVMFuzzerCustomCrossOver(buf, 30, other, 30, buf, sizeof buf, 1), 0);
	size_t n = LLVMFuzzerCustomMutator(buf, 30, sizeof buf, 1);
	assert_true(n >= 1 && n <= sizeof buf);

	char words[2][8] = {"PING\n", "STAT\n"}; /* the glue's list, gone after the run */
	const char *list[] = {words[0], words[1]};
	struct sd_fuzz_server s = {
		.serve = sink_server, .port = PORT, .requests = list, .nrequests = 2};
	struct sd_fuzz_plan p;
	tplan(&p, 1);
	tmsg(&p, 0, 0, words[0], 5, SD_AFTER_NONE);
	size_t in = tinput(&p, buf, sizeof buf);
	assert_int_equal(sd_fuzz_server_run(&s, buf, in), 0);
	memset(words, 0, sizeof words);

	struct sd_fuzz_dict d = {(const char *const[]){"PING\n", "STAT\n"}, NULL, 2};
	int structured = 0, raw_ping = 0;
	for (unsigned seed = 1; seed <= 400; seed++) {
		in = tinput(&p, buf, sizeof buf);
		n = LLVMFuzzerCustomMutator(buf, in, sizeof buf, seed);
		assert_true(n >= 1 && n <= sizeof buf);
		struct sd_fuzz_plan q;
		sd_fuzz_plan_decode(buf, n, &d, &q);
		uint8_t again[1000];
		if (sd_fuzz_plan_encode(&q, again, sizeof again) != n || memcmp(again, buf, n))
			continue; /* a byte mutation */
		structured++;
		for (int i = 0; i < q.nclients; i++)
			for (int j = 0; j < q.c[i].nmsgs; j++)
				raw_ping += q.c[i].m[j].which < 0 && q.c[i].m[j].len >= 5 &&
					    !memcmp(q.c[i].m[j].bytes, "PING", 4);
	}
	assert_true(structured > 250);
	assert_true(raw_ping > 0); /* the copy's bytes, not the cleared ones */
	in = tinput(&p, buf, sizeof buf);
	memcpy(other, buf, in);
	n = LLVMFuzzerCustomCrossOver(buf, in, other, in, buf + 200, 200, 9);
	assert_true(n >= 1 && n <= 200);
}

/* SOCKDRILL_MESSAGES_OUT: the first run writes the messages and ends the process with status
 * 0 before the server starts; a file that cannot be written is a harness error. */
static void messages_out_writes_the_list_and_exits(void **state)
{
	(void)state;
	char path[] = "/tmp/sd-msgs-XXXXXX";
	close(mkstemp(path));
	struct sd_fuzz_server s = {.serve = crash_server,
				   .port = PORT,
				   .requests = bin_msgs,
				   .request_lens = bin_lens,
				   .nrequests = 3};
	for (int bad = 0; bad < 2; bad++) {
		int pipefd[2];
		assert_int_equal(pipe(pipefd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(pipefd[1], 2);
			setenv("SOCKDRILL_MESSAGES_OUT", bad ? "/nonexistent/dir/m" : path, 1);
			sd_fuzz_server_run(&s, (const uint8_t *)"", 0);
			_exit(3);
		}
		close(pipefd[1]);
		char err[512];
		ssize_t k = read(pipefd[0], err, sizeof err - 1);
		err[k > 0 ? k : 0] = 0;
		close(pipefd[0]);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), bad ? 2 : 0);
		if (bad)
			assert_string_equal(err, "sockdrill: SOCKDRILL_MESSAGES_OUT: "
						 "/nonexistent/dir/m: No such file or directory\n");
		else
			assert_string_equal(err, "");
	}
	char text[256];
	assert_string_equal(slurp(path, text, sizeof text),
			    "sockdrill-messages 1 3 0\n1000044d51\n00\n300000\n");
	unlink(path);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(round_trip_keeps_every_plan),
	T(insert_adds_one_message),
	T(delete_removes_one_message),
	T(replace_keeps_the_count_and_changes_a_message),
	T(repeat_sends_a_message_twice),
	T(swap_exchanges_two_messages),
	T(raw_mutation_changes_a_messages_bytes),
	T(field_mutations_change_their_field),
	T(fault_mutations_reach_every_kind_and_aim),
	T(client_mutations_keep_the_ports_they_follow),
	T(crossover_takes_from_the_other_input),
	T(outputs_fit_and_keep_the_structure),
	T(same_seed_same_outputs),
	T(fit_drops_the_last_parts),
	T(custom_client_input_keeps_its_header),
	T(messages_file_round_trip_and_errors),
	T(dictionary_escapes_and_leaves_out_long_messages),
	T(afl_mutator_reads_the_messages),
	T(libfuzzer_hooks_learn_the_messages_from_a_run),
	T(messages_out_writes_the_list_and_exits),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "fuzz_mutate";
