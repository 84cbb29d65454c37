/* sockdrill in-process layer: what the synchronisation interposers' files share (sync.c: the
 * side table, mutexes, spinlocks, condition variables; sync_rwsem.c: rwlocks, semaphores,
 * barriers, pthread_once). Not a public header. */
#ifndef SD_LIBC_SYNC_INTERNAL_H
#define SD_LIBC_SYNC_INTERNAL_H

enum sd__sync_kind { K_MUTEX = 1, K_RWLOCK, K_SEM, K_SPIN, K_BARRIER };

struct sd__sync_obj {
	const void *addr; /* NULL: a free slot */
	enum sd__sync_kind kind;
	int type;       /* mutex: PTHREAD_MUTEX_NORMAL, _RECURSIVE or _ERRORCHECK */
	int owner;      /* mutex, spinlock, rwlock writer: actor id; 0 none */
	unsigned count; /* mutex: depth; rwlock: readers; semaphore: value; barrier: arrived */
	unsigned limit; /* barrier: how many it waits for */
	unsigned round; /* barrier: rounds completed */
};

/* The state of the object at addr, made on first sight from what the C library wrote there
 * (an initialiser or an init call before the run). Re-looked-up after every park: the table
 * may have grown meanwhile. */
struct sd__sync_obj *sd__sync_obj(const void *addr, enum sd__sync_kind kind);
/* An object initialised again or destroyed: its state forgotten, if a run keeps any. */
void sd__sync_forget(const void *addr);

/* 1 with sim and t set when the caller is an actor of the run (threads.h). */
#define SD__ACTOR(sim, t) (((t) = sd__thr_self(&(sim))) != NULL)

#endif
