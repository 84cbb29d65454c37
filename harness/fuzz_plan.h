/* sockdrill: what one server fuzz input asks for, decoded once. The in-process driver
 * (harness/fuzz_server.c) runs it on the sim; bench/bench_fuzz_route.c runs the same plan
 * over real sockets. */
#ifndef SD_FUZZ_PLAN_H
#define SD_FUZZ_PLAN_H

#include <string.h>

#include "fuzz_input.h"

#define SD_FUZZ_MAX_CLIENTS 4
#define SD_FUZZ_MAX_MSG     96

struct sd_fuzz_plan_client {
	int which; /* index into the requests, or -1 for raw bytes */
	unsigned char msg[SD_FUZZ_MAX_MSG];
	size_t len, cut[4]; /* sent in pieces ending at cut[0..ncut-1] */
	int ncut;
	unsigned gap_us; /* pause after each piece */
};

struct sd_fuzz_plan {
	uint64_t seed;
	unsigned segment, short_read, short_write;
	int nclients;
	struct sd_fuzz_plan_client c[SD_FUZZ_MAX_CLIENTS];
};

static inline void sd_fuzz_plan_decode(const uint8_t *data, size_t size,
				       const char *const *requests, const size_t *lens,
				       size_t nrequests, struct sd_fuzz_plan *p)
{
	struct fin in = {data, size};
	memset(p, 0, sizeof *p);
	p->seed = fin_u64(&in);
	p->segment = fin_range(&in, 0, 12);
	p->short_read = fin_range(&in, 0, 3);
	p->short_write = fin_range(&in, 0, 3);
	p->nclients = (int)fin_range(&in, 1, SD_FUZZ_MAX_CLIENTS);
	for (int i = 0; i < p->nclients; i++) {
		struct sd_fuzz_plan_client *c = &p->c[i];
		unsigned kind = fin_u8(&in);
		if (nrequests && kind < 200) {
			c->which = (int)(kind % nrequests);
			c->len = lens ? lens[c->which] : strlen(requests[c->which]);
			if (c->len > SD_FUZZ_MAX_MSG)
				c->len = SD_FUZZ_MAX_MSG;
			memcpy(c->msg, requests[c->which], c->len);
		} else {
			c->which = -1;
			c->len = fin_range(&in, 0, SD_FUZZ_MAX_MSG - 1);
			for (size_t k = 0; k < c->len; k++)
				c->msg[k] = (unsigned char)fin_u8(&in);
		}
		c->ncut = (int)fin_range(&in, 1, 4);
		for (int k = 0; k < c->ncut - 1; k++)
			c->cut[k] = c->len ? fin_u8(&in) % (c->len + 1) : 0;
		c->cut[c->ncut - 1] = c->len;
		for (int k = 1; k < c->ncut; k++)
			if (c->cut[k] < c->cut[k - 1])
				c->cut[k] = c->cut[k - 1];
		c->gap_us = fin_u8(&in) * 10;
	}
}

#endif
