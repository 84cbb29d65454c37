/* sockdrill fuzz: the files of a campaign (fuzz_files.c): inputs counted and copied, crashes
 * told from earlier ones, engine logs and harness errors shown. */
#ifndef SD_CLI_FUZZ_FILES_H
#define SD_CLI_FUZZ_FILES_H

#include <stddef.h>
#include <time.h>

#include "../util/util.h" /* sd__textf: paths and arguments into fixed buffers */

/* The entries of dir not starting with '.' (and starting with prefix, when given). */
int sd__fuzz_count_files(const char *dir, const char *prefix);

/* Copies each non-empty regular file of src whose name starts with prefix (NULL: any) into
 * dst, named tag-N: the number copied. */
int sd__fuzz_copy_files(const char *src, const char *prefix, const char *dst, const char *tag);

/* The names in a directory, each as "\nNAME\n" (a snapshot to tell new files from old):
 * malloc'd, or NULL. */
char *sd__fuzz_list_names(const char *dir);

/* This run's crash files in art, each handed to fn (NULL: only counted): names not in
 * `before`, or written after `since`. Their number. */
int sd__fuzz_each_crash(const char *art, const char *before, const struct timespec *since,
			void (*fn)(void *ctx, const char *path), void *ctx);
/* The command that replays crash file path on TARGET t (sockdrill repro): malloc'd, or NULL
 * when out of memory. */
char *sd__fuzz_repro_cmd(const char *t, const char *path, const char *engine);
/* This run's crash files in art, each printed with the command that replays it (t NULL: only
 * counted): names not in `before`, or written after `since`. Their number. */
int sd__print_crashes(const char *art, const char *t, const char *engine, const char *before,
		      const struct timespec *since);

/* The last lines of an engine's log on stderr (terminal escapes taken out), headed by where
 * all of it is; who names the engine. */
void sd__fuzz_show_tail(const char *log, const char *who);

/* The harness errors in the file SOCKDRILL_HARNESS_ERRORS named: the first on stderr, their
 * number returned (0 for none). */
int sd__fuzz_harness_errors(const char *path);

#endif
