/* sockdrill: the structure-keeping mutators as an AFL++ custom mutator library, built as
 * libsockdrill_mutator.so; the target's messages come from the file SOCKDRILL_MESSAGES names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/util/util.h"
#include "fuzz_messages.h"
#include "fuzz_mutate.h"

/* Only the AFL++ entry points leave the library. */
#define API __attribute__((visibility("default")))

struct state {
	struct sd_fuzz_mutator mu;
	struct sd_fuzz_dict dict;
	uint8_t *out;
	size_t outcap;
	char *stats;
	char describe[64];
};

API void *afl_custom_init(void *afl, unsigned int seed)
{
	(void)afl;
	struct state *s = calloc(1, sizeof *s);
	if (!s) {
		fputs("sockdrill mutator: out of memory\n", stderr);
		exit(2);
	}
	s->mu.rng = (uint64_t)seed * SD__GOLDEN;
	const char *path = getenv("SOCKDRILL_MESSAGES"), *stats = getenv("SOCKDRILL_MUTATOR_STATS");
	if (path && *path) {
		char err[512];
		int client = 0;
		if (sd_fuzz_messages_read(path, &s->dict, &client, err, sizeof err) < 0) {
			/* AFL++ 4.04c would go on with NULL and crash: the campaign ends here */
			fprintf(stderr, "sockdrill mutator: SOCKDRILL_MESSAGES=%s\n", err);
			exit(2);
		}
		s->mu.dict = s->dict.n ? &s->dict : NULL;
		s->mu.custom_client = client;
	}
	s->stats = stats && *stats ? strdup(stats) : NULL;
	return s;
}

API size_t afl_custom_fuzz(void *data, unsigned char *buf, size_t buf_size, unsigned char **out_buf,
			   unsigned char *add_buf, size_t add_buf_size, size_t max_size)
{
	struct state *s = data;
	if (max_size > s->outcap) {
		uint8_t *o = realloc(s->out, max_size);
		if (!o) { /* out of memory: the input unchanged */
			*out_buf = buf;
			return buf_size;
		}
		s->out = o, s->outcap = max_size;
	}
	size_t n = sd_fuzz_mutate(&s->mu, buf, buf_size, s->out, max_size, add_buf,
				  add_buf ? add_buf_size : 0);
	if (!n) {
		*out_buf = buf;
		return buf_size;
	}
	*out_buf = s->out;
	return n;
}

/* The last mutation, for the names of the inputs it found ("sockdrill-insert"). */
API const char *afl_custom_describe(void *data, size_t max_description_len)
{
	struct state *s = data;
	size_t cap = sizeof s->describe;
	if (max_description_len < cap)
		cap = max_description_len + 1;
	snprintf(s->describe, cap, "sockdrill-%s", sd_fuzz_mop_name(s->mu.last));
	return s->describe;
}

API void afl_custom_deinit(void *data)
{
	struct state *s = data;
	FILE *f = s->stats ? fopen(s->stats, "ae") : NULL;
	if (f) /* SOCKDRILL_MUTATOR_STATS: one line, the mutations made by name */
		sd_fuzz_mutator_stats(f, &s->mu, "afl"), fclose(f);
	sd_fuzz_mutator_free(&s->mu);
	sd_fuzz_messages_free(&s->dict);
	free(s->out);
	free(s->stats);
	free(s);
}
