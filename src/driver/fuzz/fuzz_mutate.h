/* sockdrill: structure-keeping mutators for server fuzz inputs (docs/inproc.md, "Mutations"):
 * decode an input into its plan (fuzz_plan.h), change the plan, encode it again. Shared by the
 * libFuzzer hooks (fuzz_mutate_lf.c) and the AFL++ custom mutator (fuzz_mutate_afl.c). */
#ifndef SD_FUZZ_MUTATE_H
#define SD_FUZZ_MUTATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fuzz_plan.h"

/* The mutations, in the order of their names (sd_fuzz_mop_name). */
enum sd_fuzz_mop {
	SD_MOP_REPLACE,      /* a message becomes another protocol message */
	SD_MOP_INSERT,       /* a new message: a protocol one, or raw bytes */
	SD_MOP_DELETE,       /* a message removed */
	SD_MOP_REPEAT,       /* a message sent twice in a row */
	SD_MOP_SWAP,         /* two messages exchanged (of one client or two) */
	SD_MOP_RAW,          /* a message's bytes mutated (a protocol message turns raw first) */
	SD_MOP_PIECES,       /* how many pieces a message is cut into, and where */
	SD_MOP_AFTER,        /* what follows a message: the reply, nothing, a pause */
	SD_MOP_END,          /* how a client ends */
	SD_MOP_FROM,         /* where a client connects */
	SD_MOP_TOGETHER,     /* how many clients run at once */
	SD_MOP_ADD_CLIENT,   /* a new client with one message */
	SD_MOP_DEL_CLIENT,   /* a client removed */
	SD_MOP_DUP_CLIENT,   /* a client run twice */
	SD_MOP_FAULT,        /* one fault level */
	SD_MOP_SEED,         /* the scheduling seed or the segmentation */
	SD_MOP_CROSS_CLIENT, /* a client of the other input, replacing one or added */
	SD_MOP_CROSS_MSG,    /* a message of the other input, inserted */
	SD_MOP_CROSS_HEADER, /* the other input's fault levels, seed and segmentation */
	SD_MOP_TAIL,         /* a custom client's decisions (after the header), as bytes */
	SD_MOP_BYTES,        /* the whole input as bytes */
	SD_MOP_COUNT
};

/* A byte mutator: changes the n bytes at b in place (room for max); the new length, 1..max.
 * LLVMFuzzerMutate has this shape. */
typedef size_t (*sd_fuzz_bytes_fn)(uint8_t *b, size_t n, size_t max);

struct sd_fuzz_mutator {
	const struct sd_fuzz_dict *dict; /* the protocol's messages; NULL: raw bytes only */
	int custom_client;               /* 1: the glue has its own client: only the header */
	uint64_t rng;                    /* the seed; every mutation draws from it */
	sd_fuzz_bytes_fn bytes;          /* the engine's byte mutator; NULL: sockdrill's own */
	enum sd_fuzz_mop last;           /* the last mutation made */
	unsigned long count[SD_MOP_COUNT];
	uint8_t *in, *other; /* copies of the inputs, which the plans point into */
	size_t incap, othercap;
	uint8_t raw[SD_FUZZ_MAX_RAW]; /* the bytes of a message made or mutated */
};

/* The mutation's name, "insert" ... (NULL past the end). */
const char *sd_fuzz_mop_name(enum sd_fuzz_mop op);

/* Applies one mutation to plan p (other: the second input's plan, for the crossovers). 0, or
 * -ENOENT when there is nothing to apply it to (delete in a plan without messages, crossover
 * without a second input), -ENOSPC when the plan is at a bound (insert with 32 messages). */
int sd_fuzz_mutate_plan(struct sd_fuzz_mutator *mu, struct sd_fuzz_plan *p, enum sd_fuzz_mop op,
			const struct sd_fuzz_plan *other);

/* Encodes p into out, dropping its last parts until it fits in max bytes: the last message
 * of the last client is cut short (raw) or removed, an empty last client removed. The length
 * (max when only a cut header fits). p is changed to what was written. */
size_t sd_fuzz_plan_fit(struct sd_fuzz_plan *p, uint8_t *out, size_t max);

/* Mutates the n-byte input `in` into out (room for max; in may be out): one mutation picked
 * by the seed, a byte mutation of the whole input one time in 4. `other` (NULL: none) is a
 * second input for crossovers. The output's length, 1..max (0: out of memory). */
size_t sd_fuzz_mutate(struct sd_fuzz_mutator *mu, const uint8_t *in, size_t n, uint8_t *out,
		      size_t max, const uint8_t *other, size_t on);

/* The n bytes at b through the byte mutator (the engine's, or sockdrill's own), in place with
 * room for max: the new length, 1..max. */
size_t sd_fuzz_mutate_bytes(struct sd_fuzz_mutator *mu, uint8_t *b, size_t n, size_t max);

/* A crossover of inputs a and b into out (room for max): a client or a message of b taken
 * into a, else a's beginning and b's end. The output's length, 1..max (0: out of memory). */
size_t sd_fuzz_crossover(struct sd_fuzz_mutator *mu, const uint8_t *a, size_t an, const uint8_t *b,
			 size_t bn, uint8_t *out, size_t max);

/* One line for SOCKDRILL_MUTATOR_STATS: "ENGINE mutations=N replace=N insert=N ...". */
void sd_fuzz_mutator_stats(FILE *f, const struct sd_fuzz_mutator *mu, const char *engine);

/* Frees the mutator's copies of inputs. */
void sd_fuzz_mutator_free(struct sd_fuzz_mutator *mu);

#endif
