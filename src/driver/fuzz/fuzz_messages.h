/* sockdrill: a target's protocol messages as a file, written by the target
 * (SOCKDRILL_MESSAGES_OUT) and read by the AFL++ mutator and `sockdrill fuzz`, which also makes
 * the engines' dictionary of them (docs/inproc.md, "Mutations"). */
#ifndef SD_FUZZ_MESSAGES_H
#define SD_FUZZ_MESSAGES_H

#include <stdio.h>

#include "fuzz_plan.h"

/* The bounds of the file: messages, and bytes of one. */
#define SD_FUZZ_MSGS_MAX      4096
#define SD_FUZZ_MSG_BYTES_MAX (1u << 20)

/* A target's messages as a file (SOCKDRILL_MESSAGES_OUT; docs/inproc.md): a first line
 * "sockdrill-messages 1 N C" (N messages, C 1 for a custom client), then each message in
 * lower-case hex on its own line; the first SD_FUZZ_MSGS_MAX messages, each cut at
 * SD_FUZZ_MSG_BYTES_MAX bytes. 0 or a negative errno. */
int sd_fuzz_messages_write(FILE *f, const struct sd_fuzz_dict *d, int custom_client);

/* The messages read back: an allocated dict (free with sd_fuzz_messages_free). 0, or a
 * negative errno with a line "FILE:LINE[:COL]: what" in err (errsize bytes). */
int sd_fuzz_messages_read(const char *path, struct sd_fuzz_dict *d, int *custom_client, char *err,
			  size_t errsize);
void sd_fuzz_messages_free(struct sd_fuzz_dict *d);

/* Writes the messages as a dictionary for libFuzzer's -dict and AFL++'s -x: one entry
 * msgN="..." a message, bytes escaped as \xNN where the format needs it; messages longer
 * than limit bytes (or empty) are left out. The number written. */
int sd_fuzz_messages_dict(FILE *f, const struct sd_fuzz_dict *d, size_t limit);

#endif
