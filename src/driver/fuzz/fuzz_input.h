/* sockdrill fuzz targets: reading decisions from the fuzz input, FuzzedDataProvider style.
 * When the input runs out every read returns 0, so any input is a complete run. */
#ifndef SD_FUZZ_INPUT_H
#define SD_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fin {
	const uint8_t *p;
	size_t n;
};

static inline unsigned fin_u8(struct fin *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint64_t fin_u64(struct fin *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | fin_u8(in);
	return v;
}

/* Two bytes, big-endian (read one after the other: the order of two calls in one expression
 * is the compiler's). */
static inline unsigned fin_u16(struct fin *in)
{
	unsigned hi = fin_u8(in);
	return hi << 8 | fin_u8(in);
}

/* A number in [lo, hi] from one byte. */
static inline unsigned fin_range(struct fin *in, unsigned lo, unsigned hi)
{
	return lo + fin_u8(in) % (hi - lo + 1);
}

/* A finding: say what, then abort so the fuzzer keeps the input. */
#define FINDING(...)                                                                               \
	do {                                                                                       \
		fprintf(stderr, "sockdrill finding: " __VA_ARGS__);                                \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

#endif
