/* sockdrill LD_PRELOAD route: its fault log and per-process counts (preload_out.c). */
#ifndef SD_PRELOAD_OUT_H
#define SD_PRELOAD_OUT_H

#include <sockdrill/fault.h>

/* Opens the log (SOCKDRILL_LOG; max: SOCKDRILL_LOG_MAX, bytes, 0 or NULL no cap) and maps the
 * counts (SOCKDRILL_STATS), and hooks both into the wrapper `faulty`, which decides by spec.
 * The paths may be NULL. */
void sd__preload_out_init(struct sd_net *faulty, const struct sd_fault_spec *spec,
			  const char *logpath, const char *max, const char *statspath);
/* Around fork (pthread_atfork), inside the wrapper's lock: the child takes its own pid and
 * its own slot of the counts. */
void sd__preload_out_fork_prepare(void);
void sd__preload_out_fork_parent(void);
void sd__preload_out_fork_child(struct sd_net *faulty);

#endif
