/* sockdrill real backend: what its files share (real.c the sockets, real_actors.c the actors,
 * real_probe.c the kernel variant probes). */
#ifndef SD_REAL_INTERNAL_H
#define SD_REAL_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sockdrill/sockdrill.h>

struct real_actor;

/*
 * An instance only touches descriptors it created itself (socket, accept): everything else
 * is -EBADF, so a scenario that closes "fd 0" cannot close the harness's stdin, and destroy
 * can close what a test leaked. The set is a bitmap sized from the descriptor limit and
 * updated with atomics, so calls from many threads need no lock.
 */
struct real {
	unsigned flags;
	const struct sd_real_syscalls *sys;
	size_t nbits;
	unsigned long *owned;
	pthread_mutex_t lock;       /* guards actors */
	struct real_actor **actors; /* actors[id - 1]; NULL once joined */
	size_t nactors;
};

/* ---- real_actors.c: actors are threads ---------------------------------------------------- */

int sd__real_spawn(void *state, const char *name, void (*fn)(void *), void *arg);
int sd__real_join(void *state, int id);
int sd__real_join_until(void *state, int id, int64_t deadline_ns);
int sd__real_sleep_ns(void *state, int64_t ns);
int64_t sd__real_now_ns(void *state);
const char *sd__real_actor_name(void *state);
/* destroy's part: the bookkeeping of actors never joined (their threads are left to end). */
void sd__real_actors_free(struct real *r);

#endif
