/* sockdrill fuzz: the engines a campaign runs on, one table and one file each (fuzz_libfuzzer.c,
 * fuzz_afl.c), looked up by the name --engine gives. */
#ifndef SD_CLI_FUZZ_ENGINE_H
#define SD_CLI_FUZZ_ENGINE_H

#include <limits.h>
#include <stdint.h>

#include "fuzz_watch.h"

/* Arguments after "--" that go to the engine. */
#define SD__FUZZ_MAX_ENGINE_ARGS 32

/* One campaign as sd__cmd_fuzz set it up (absolute paths, directories made). */
struct sd__fuzz_campaign {
	const char *exe, *name;        /* the fuzzer binary; the target's name as printed */
	const char *seeds;             /* the seed directory, "" for none */
	const char *dict;              /* the dictionary, used when have_dict */
	int have_dict;                 /* ... */
	const char *base, *work, *art; /* OUT; OUT/corpus-ENGINE; OUT/artifacts */
	const char *herr, *herr_env;   /* the harness-errors file; SOCKDRILL_HARNESS_ERRORS=it */
	const char *const *menv;       /* the messages' environment (fuzz_msgs.h), 3 or NULL */
	uint64_t secs, jobs;           /* --time, --jobs */
	char **args;                   /* the user's engine arguments (after "--") */
	int nargs;                     /* ... */
	char log[PATH_MAX + 96];       /* set by the engine: where its (main) output is kept */
};

struct sd__fuzz_engine {
	const char *name; /* as --engine takes it */
	/* Runs the campaign, watched by w (the engine sets its descriptors, pids and log): the
	 * engine's exit status (127: it never started); *fuzzed says whether it ran inputs. */
	int (*run)(struct sd__fuzz_campaign *c, struct watch *w, int *fuzzed);
	/* Shrinks input, which makes exe crash, into min with the engine's own tool. */
	void (*minimize)(const char *exe, const char *input, const char *min);
	/* Why a run that exited 0 is not taken for fuzzing, for the message. */
	const char *no_fuzz;
};

extern const struct sd__fuzz_engine sd__fuzz_libfuzzer, sd__fuzz_afl;

/* The engine called name, or NULL. */
const struct sd__fuzz_engine *sd__fuzz_engine_find(const char *name);

#endif
