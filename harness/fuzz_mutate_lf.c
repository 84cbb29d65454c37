/* sockdrill: the structure-keeping mutators as libFuzzer's custom mutator and crossover, in
 * every server fuzzer; the target's messages are learnt from its runs (sd_fuzz_server_run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/util/util.h"
#include "fuzz_internal.h"
#include "fuzz_messages.h"
#include "fuzz_mutate.h"
#include "libc/proc.h"

/* libFuzzer's own byte mutator; absent (NULL) when no libFuzzer is linked in. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max) __attribute__((weak));

static struct {
	int known, client, env_read, off;
	const void *seen_msgs, *seen_lens; /* the glue's list as last seen */
	size_t seen_n;
	struct sd_fuzz_dict dict; /* our copy of it: the glue's may live on its stack */
	struct sd_fuzz_mutator mu;
	char *stats;
	int stats_armed;
} L;

/* SOCKDRILL_MUTATOR_STATS=FILE: one line appended at exit, the mutations made by name. */
static void write_stats(void)
{
	FILE *f = fopen(L.stats, "ae");
	if (f)
		sd_fuzz_mutator_stats(f, &L.mu, "libfuzzer"), fclose(f);
}

void sd__fz_learn(const struct sd_fuzz_server *srv)
{
	struct sd_fuzz_dict theirs = {srv->requests, srv->request_lens,
				      srv->requests ? srv->nrequests : 0};
	int client = srv->client != NULL;
	if (!L.env_read) { /* before the server runs: it may replace environ */
		L.env_read = 1;
		const char *out = getenv("SOCKDRILL_MESSAGES_OUT");
		if (out && *out) {
			FILE *f = fopen(out, "we");
			if (!f || sd_fuzz_messages_write(f, &theirs, client) < 0 || fclose(f) != 0)
				sd__harness_error("SOCKDRILL_MESSAGES_OUT: %s: %s", out,
						  strerror(errno ? errno : EIO));
			_exit(0); /* exit() would be a crash to libFuzzer */
		}
		const char *off = getenv("SOCKDRILL_MUTATOR"), *stats;
		L.off = off && !strcmp(off, "0");
		stats = getenv("SOCKDRILL_MUTATOR_STATS");
		L.stats = stats && *stats ? strdup(stats) : NULL;
	}
	if (L.known && L.seen_msgs == (const void *)theirs.msgs &&
	    L.seen_lens == (const void *)theirs.lens && L.seen_n == theirs.n && L.client == client)
		return;
	sd_fuzz_messages_free(&L.dict);
	char **msgs = calloc(theirs.n ? theirs.n : 1, sizeof *msgs);
	size_t *lens = calloc(theirs.n ? theirs.n : 1, sizeof *lens);
	for (size_t i = 0; msgs && lens && i < theirs.n; i++) {
		lens[i] = sd_fuzz_dict_len(&theirs, i);
		if (!(msgs[i] = malloc(lens[i] + 1)))
			break;
		memcpy(msgs[i], theirs.msgs[i], lens[i]);
		msgs[i][lens[i]] = 0;
	}
	L.dict = (struct sd_fuzz_dict){(const char *const *)msgs, lens, theirs.n};
	for (size_t i = 0; i < theirs.n; i++)
		if (!msgs || !lens || !msgs[i]) { /* out of memory: not known, bytes only */
			L.dict.n = i;
			sd_fuzz_messages_free(&L.dict);
			L.known = 0;
			return;
		}
	L.seen_msgs = theirs.msgs, L.seen_lens = theirs.lens, L.seen_n = theirs.n;
	L.client = client;
	L.known = 1;
}

/* Ready for a call with libFuzzer's seed: whether the structure is known (and wanted). */
static int ready(unsigned int seed)
{
	L.mu.dict = L.dict.n ? &L.dict : NULL;
	L.mu.custom_client = L.client;
	L.mu.bytes = LLVMFuzzerMutate;
	L.mu.rng = (uint64_t)seed * SD__GOLDEN;
	if (L.stats && !L.stats_armed)
		L.stats_armed = !atexit(write_stats);
	return L.known && !L.off;
}

__attribute__((weak)) size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max,
						     unsigned int seed)
{
	if (!ready(seed)) { /* before the first run, or switched off: libFuzzer's own */
		L.mu.count[SD_MOP_BYTES]++;
		return sd_fuzz_mutate_bytes(&L.mu, data, size, max);
	}
	return sd_fuzz_mutate(&L.mu, data, size, data, max, NULL, 0);
}

__attribute__((weak)) size_t LLVMFuzzerCustomCrossOver(const uint8_t *a, size_t an,
						       const uint8_t *b, size_t bn, uint8_t *out,
						       size_t max, unsigned int seed)
{
	if (!ready(seed))
		return 0; /* no crossover: libFuzzer tries another mutation */
	return sd_fuzz_crossover(&L.mu, a, an, b, bn, out, max);
}
