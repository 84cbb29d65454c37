/* sockdrill bench: what bench_native and its LD_PRELOAD forkserver (native_forkserver.c)
 * exchange. The descriptors are AFL++'s (FORKSRV_FD and FORKSRV_FD + 1). */
#ifndef SD_BENCH_NATIVE_FORKSERVER_H
#define SD_BENCH_NATIVE_FORKSERVER_H

#include <stdint.h>

#define SD_FORKSRV_CTL_FD 198        /* bench -> forkserver: 4 bytes, "fork a child" */
#define SD_FORKSRV_ST_FD  199        /* forkserver -> bench: hello, then pid and status */
#define SD_FORKSRV_HELLO  0x53444653 /* "SDFS" */

/* Written by a child on SD_BENCH_READY_FD after each listen() that succeeded. */
struct sd_forksrv_ready {
	int32_t pid;
	int32_t family; /* AF_INET, AF_INET6 */
	int32_t port;
};

#endif
