/* sockdrill in-process layer: a server's getrandom and getentropy draw from the sim's seeded
 * stream, so the ids and nonces it sends replay byte for byte; real randomness outside. */
#ifndef _GNU_SOURCE /* also built in user projects that do not define it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/types.h>
#include <unistd.h>

#include <sockdrill/sim.h>

#include "../util/libc.h"
#include "threads.h"

/* The most one getrandom call gives on Linux (MAX_RW_COUNT, as for a read), and getentropy's
 * limit (more is EIO). */
#define GETRANDOM_MAX  ((size_t)(INT_MAX & ~4095))
#define GETENTROPY_MAX 256u

ssize_t getrandom(void *buf, size_t n, unsigned flags)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(getrandom)(buf, n, flags);
	/* As the kernel: an unknown flag, or GRND_INSECURE with GRND_RANDOM, is EINVAL. */
	if ((flags & ~(unsigned)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)) ||
	    (flags & (GRND_INSECURE | GRND_RANDOM)) == (GRND_INSECURE | GRND_RANDOM)) {
		errno = EINVAL;
		return -1;
	}
	if (n > GETRANDOM_MAX)
		n = GETRANDOM_MAX;
	sd_sim_random(&sim, buf, n);
	return (ssize_t)n;
}

int getentropy(void *buf, size_t n)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(getentropy)(buf, n);
	if (n > GETENTROPY_MAX) {
		errno = EIO;
		return -1;
	}
	sd_sim_random(&sim, buf, n);
	return 0;
}
