/* Tests of the in-process driver: fuzz inputs written from a plan (src/driver/fuzz/fuzz_plan.h). */
#ifndef SD_TEST_FUZZ_INPUTS_H
#define SD_TEST_FUZZ_INPUTS_H

#include "fuzz_plan.h"

/* A plan of n clients, all at once, each to the server's port with no messages yet, ending
 * with a half-close; no faults, seed 0. */
static inline void tplan(struct sd_fuzz_plan *p, int n)
{
	memset(p, 0, sizeof *p);
	p->nclients = p->together = n;
	for (int i = 0; i < n; i++)
		p->c[i].from = -1;
}

/* Client i sends message `which` (or, with which -1, the len raw bytes), whole, and then
 * goes on at once (`after` SD_AFTER_NONE) or waits as `after` says. */
static inline struct sd_fuzz_plan_msg *tmsg(struct sd_fuzz_plan *p, int i, int which,
					    const char *raw, size_t len, enum sd_fuzz_after after)
{
	struct sd_fuzz_plan_msg *m = &p->c[i].m[p->c[i].nmsgs++];
	memset(m, 0, sizeof *m);
	m->which = which;
	m->bytes = (const unsigned char *)raw;
	m->len = raw ? len : 0;
	m->npieces = 1;
	m->after = after;
	m->sleep_ms = 10;
	return m;
}

/* The plan as an input in buf (cap bytes): its length. */
static inline size_t tinput(const struct sd_fuzz_plan *p, uint8_t *buf, size_t cap)
{
	size_t n = sd_fuzz_plan_encode(p, buf, cap);
	return n <= cap ? n : 0;
}

#endif
