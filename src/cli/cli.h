/* sockdrill CLI internals: subcommand table entries and argument helpers. */
#ifndef SD_CLI_H
#define SD_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit statuses shared by every subcommand. */
enum { SD_EXIT_OK = 0, SD_EXIT_CHECK = 1, SD_EXIT_USAGE = 2 };

/* Prints "sockdrill CMD: message" on stderr and returns SD_EXIT_USAGE. */
int sd__usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict decimal parse of `text` into [min, max]; 0 or -1 (with the message printed). */
int sd__parse_num(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
		  uint64_t *out);
/* argv (NULL-terminated) as one shell command line, each word quoted where the shell would
 * otherwise split or expand it: a malloc'd string, or NULL when out of memory. */
char *sd__shell_cmd(const char *const argv[]);

int sd__cmd_demo(int argc, char **argv);
int sd__cmd_run(int argc, char **argv);
int sd__cmd_wrap(int argc, char **argv);
int sd__cmd_fuzz(int argc, char **argv);
int sd__cmd_repro(int argc, char **argv);

#endif
