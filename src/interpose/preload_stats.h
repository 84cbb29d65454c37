/* sockdrill: the preload's per-process counts, a file shared by the processes and `wrap`. */
#ifndef SD_PRELOAD_STATS_H
#define SD_PRELOAD_STATS_H

#include <stdint.h>

/*
 * `sockdrill wrap` creates the file (SOCKDRILL_STATS names it), each process under the preload
 * maps it MAP_SHARED in its constructor and claims a slot by its pid (an atomic compare and
 * swap; a forked child claims its own in its atfork handler), so counts survive _exit and
 * crashes. Counting is atomic adds, never a system call. wrap reads it once every process is
 * gone and prints the summary (src/cli/wrap_stats.c).
 *
 * Fault kinds are names ("short-read", ...), entered once in `kinds` by the first process
 * that injects one: the table knows no list of kinds, so a new kind needs nothing here.
 */
#define SD_STATS_MAGIC 0x33737473646b73ull /* "skdsts3" */
#define SD_STATS_SLOTS 128                 /* processes counted; later ones add to `lost` */
#define SD_STATS_KINDS 32                  /* distinct fault kinds; later ones are dropped */
#define SD_STATS_OPS   8                   /* enum sd_fault_op (SD_OP_KINDS) */
#define SD_STATS_ROLES 5  /* a connection ordinal's role (top byte): 1 a, 2 c, 3 l, 4 s */
#define SD_STATS_FK    32 /* enum sd_fault_kind (SD_FK_KINDS), for the targets */

struct sd_stats_slot {
	int32_t pid; /* 0: free */
	int32_t ppid;
	uint64_t calls[SD_STATS_OPS][2]; /* [op][1: blocking, 0: non-blocking] */
	uint64_t faults[SD_STATS_KINDS][SD_STATS_OPS];
	uint64_t unlogged; /* lines not written: the log could not be verified or reopened */
	uint64_t capped;   /* faults after the log reached its cap */
	/* non-blocking calls no EAGAIN may refuse, the first after a wait (sd_fault_hooks.spared):
	 * counted in calls[op][0] as well */
	uint64_t spared[SD_STATS_OPS];
	/* For judging targets (@conn=, @after=): the highest ordinal numbered per role, the
	 * highest call number on any connection, and per kind aimed with @conn= the highest call
	 * number on that connection (plain loads, and a store only when one grows) */
	uint64_t conn_max[SD_STATS_ROLES];
	uint64_t call_max;
	uint64_t named_calls[SD_STATS_FK];
};

struct sd_stats_kind {
	uint32_t state; /* 0 free, 1 being written, 2 ready */
	char name[28];
};

struct sd_stats_file {
	uint64_t magic;
	uint64_t log_bytes; /* bytes written to the log by every process (the cap is on it) */
	uint32_t lost;      /* processes that found no free slot */
	uint32_t capped;    /* 1 once the log reached its cap */
	struct sd_stats_kind kinds[SD_STATS_KINDS];
	struct sd_stats_slot slots[SD_STATS_SLOTS];
};

#endif
