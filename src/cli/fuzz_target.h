/* sockdrill fuzz / repro: the targets (fuzz_target.c): the built-in ones listed in
 * fuzz/targets.txt, or the path of a fuzzer built elsewhere. */
#ifndef SD_CLI_FUZZ_TARGET_H
#define SD_CLI_FUZZ_TARGET_H

#include <stddef.h>
#include <stdio.h>

/* TARGET a listed one or a path, engine a known one: 0, or -1 with the message printed. */
int sd__fuzz_check(const char *cmd, const char *t, const char *engine);

/* The fuzzer binary for TARGET into exe (PATH_MAX) and its name into name (PATH_MAX): a
 * path is taken as it is; a built-in target is built in the checkout (root, PATH_MAX). 0, or
 * -1 with the message printed. */
int sd__fuzz_resolve(const char *cmd, const char *t, const char *engine, char *root, char *exe,
		     char *name);

/* A user's fuzzer's seeds (suffix ".seeds", dir 1) or dictionary (".dict", dir 0) beside it,
 * by the path as given or the file it resolves to: absolute into out, "" when there is none. */
void sd__fuzz_beside(const char *given, const char *exe, const char *suffix, int dir, char *out,
		     size_t size);

/* The built-in targets' names, ", "-joined, on f. */
void sd__fuzz_print_names(FILE *f);

/* The list as `sockdrill list --targets` prints it: a line per target, its name, kind,
 * max_len and expected outcome (fuzz/targets.txt). */
void sd__fuzz_list_targets(FILE *f);

#endif
