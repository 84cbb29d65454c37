/* sockdrill fuzz: what the structure-keeping mutators need from a campaign (fuzz_msgs.c). */
#ifndef SD_CLI_FUZZ_MSGS_H
#define SD_CLI_FUZZ_MSGS_H

#include <stddef.h>

/* For exe, when it is an in-process server fuzzer (it holds the driver): its protocol messages
 * listed in base/messages by one run of it; when *have_dict is 0, a dictionary of them written
 * to base/messages.ENGINE.dict, named in dict (dictsize bytes) and *have_dict set; and in env
 * (NULL-terminated, room for 3 entries) what the engine's environment needs:
 * SOCKDRILL_MUTATOR_STATS=base/mutator-stats, and for AFL++ AFL_CUSTOM_MUTATOR_LIBRARY and
 * SOCKDRILL_MESSAGES. Other programs get an empty env. A step that fails says so on stderr,
 * and the campaign goes on without it. */
void sd__fuzz_messages(const char *exe, const char *engine, const char *base, char *dict,
		       size_t dictsize, int *have_dict, const char *env[4]);

#endif
