/* sockdrill CLI: wrap's summary judges a fault's targets (wrap_targets.c). */
#ifndef SD_CLI_WRAP_TARGETS_H
#define SD_CLI_WRAP_TARGETS_H

#include <stddef.h>
#include <stdint.h>

#include <sockdrill/fault.h>

#include "../interpose/preload_stats.h"

/* Why kind k of spec sp could never have fired in this run because of its targets (@conn=,
 * @after=, @window=), from the preload's counts st and the run's length elapsed_ns (from
 * before the program started to after it ended), written into buf; NULL when its targets
 * could have let it fire, or the counts cannot tell. */
const char *sd__wrap_target_never(int k, const struct sd_fault_spec *sp,
				  const struct sd_stats_file *st, int64_t elapsed_ns, char *buf,
				  size_t size);

#endif
