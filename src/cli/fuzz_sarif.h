/* sockdrill fuzz --sarif (fuzz_sarif.c): the campaign's crashes as SARIF results. */
#ifndef SD_CLI_FUZZ_SARIF_H
#define SD_CLI_FUZZ_SARIF_H

#include <time.h>

struct sd__sarif;

/* What the campaign knows of its crashes. */
struct sd__fuzz_sarif_in {
	const char *art, *before;     /* the artifacts, and the names there before the run */
	const struct timespec *since; /* the run's start mark (sd__fuzz_each_crash) */
	const char *exe;              /* the fuzzer, run once on each crash for its report */
	const char *t, *engine;       /* TARGET and --engine as `sockdrill repro` takes them */
	const char *name;             /* the target's name, as printed */
	const char *source;           /* its source (a built-in target's fuzz/NAME.c), or NULL */
};

/* Each crash of this run as a result in log: their number. */
int sd__fuzz_sarif(struct sd__sarif *log, const struct sd__fuzz_sarif_in *in);

#endif
