/* sockdrill interposition layer: the descriptor table (program descriptor -> socket handle). */
#include "layer.h"

#include <sys/mman.h>

struct sd__fdh **sd__fdtab[SD__FD_CHUNKS];
int sd__fdtab_used;

void *sd__chunk_map(void **slot, size_t size)
{
	void *c = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *fresh;
	if (c)
		return c;
	fresh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fresh == MAP_FAILED)
		return NULL;
	if (__atomic_compare_exchange_n(slot, &c, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fresh;
	munmap(fresh, size);
	return c;
}

/* Chunk i, made on first use. */
static struct sd__fdh **chunk(unsigned i)
{
	return sd__chunk_map((void **)&sd__fdtab[i], SD__FD_CHUNK * sizeof(struct sd__fdh *));
}

int sd__fd_set(int fd, struct sd__fdh *h)
{
	if (fd < 0 || fd >= SD__FD_MAX)
		return -EMFILE;
	struct sd__fdh **c = chunk((unsigned)fd / SD__FD_CHUNK);
	if (!c)
		return -ENOMEM;
	struct sd__fdh *stale = __atomic_exchange_n(&c[fd % SD__FD_CHUNK], h, __ATOMIC_ACQ_REL);
	if (stale) /* closed behind the layer's back (a raw system call): the kernel reused it */
		sd__route_forget(fd, stale);
	else
		__atomic_fetch_add(&sd__fdtab_used, 1, __ATOMIC_RELEASE);
	return 0;
}

struct sd__fdh *sd__fd_take(int fd)
{
	if (fd < 0 || fd >= SD__FD_MAX)
		return NULL;
	struct sd__fdh **c = __atomic_load_n(&sd__fdtab[fd / SD__FD_CHUNK], __ATOMIC_ACQUIRE);
	struct sd__fdh *h =
		c ? __atomic_exchange_n(&c[fd % SD__FD_CHUNK], NULL, __ATOMIC_ACQ_REL) : NULL;
	if (h)
		__atomic_fetch_sub(&sd__fdtab_used, 1, __ATOMIC_RELEASE);
	return h;
}

void sd__fd_take_range(unsigned lo, unsigned hi, void (*fn)(int fd, struct sd__fdh *h))
{
	if (hi >= SD__FD_MAX)
		hi = SD__FD_MAX - 1;
	for (unsigned fd = lo; fd <= hi && sd__fd_any(); fd++) {
		if (!__atomic_load_n(&sd__fdtab[fd / SD__FD_CHUNK], __ATOMIC_ACQUIRE)) {
			fd |= SD__FD_CHUNK - 1; /* a chunk never made holds nothing */
			continue;
		}
		struct sd__fdh *h = sd__fd_take((int)fd);
		if (h)
			fn((int)fd, h);
	}
}

int sd__stale_fd(int fd)
{
	struct sd__fdh *h = sd__fd_take(fd);
	if (h)
		sd__route_forget(fd, h);
	sd__route_flush();
	return 1;
}
