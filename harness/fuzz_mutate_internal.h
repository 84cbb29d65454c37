/* sockdrill: what the structure-keeping mutators' files share (fuzz_mutate.c: bytes, inputs in
 * and out; fuzz_mutate_plan.c: a plan's mutations): the draws from the mutator's seed and its
 * byte mutator. Not a public header. */
#ifndef SD_FUZZ_MUTATE_INTERNAL_H
#define SD_FUZZ_MUTATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../src/util/util.h"
#include "fuzz_mutate.h"

/* splitmix64: one draw from the mutator's seed. */
static inline uint64_t rnd(struct sd_fuzz_mutator *mu) { return sd__splitmix64(&mu->rng); }

/* A number in [0, n) (0 when n is 0). */
static inline size_t below(struct sd_fuzz_mutator *mu, size_t n) { return n ? rnd(mu) % n : 0; }

/* How many protocol messages a kind byte can pick. */
static inline size_t kinds(const struct sd_fuzz_mutator *mu)
{
	if (!mu->dict || !mu->dict->n)
		return 0;
	return mu->dict->n < SD_FUZZ_DICT_KINDS ? mu->dict->n : SD_FUZZ_DICT_KINDS;
}

/* The engine's byte mutator, or ours (fuzz_mutate.c), on the n bytes at b with room for max. */
size_t sd__mutate_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max);

#endif
