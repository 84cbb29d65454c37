/* sockdrill in-process layer: mutexes, condition variables, rwlocks, semaphores, spinlocks,
 * barriers and pthread_once for a server's actors, cooperative: a contended lock or a wait
 * parks the actor and the seeded scheduler picks who runs. Their state is kept in a side
 * table by the object's address (so static initialisers work), dropped when a run ends. */
/* GNU names (sigorset, CPU_SET_S, program_invocation_name, the _np calls): the layer is
 * also compiled in a user project that does not define it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sim.h>

#include "../../src/libc.h"
#include "proc.h"
#include "threads.h"

enum kind { K_MUTEX = 1, K_RWLOCK, K_SEM, K_SPIN, K_BARRIER };

struct obj {
	const void *addr; /* NULL: a free slot */
	enum kind kind;
	int type;       /* mutex: PTHREAD_MUTEX_NORMAL, _RECURSIVE or _ERRORCHECK */
	int owner;      /* mutex, spinlock, rwlock writer: actor id; 0 none */
	unsigned count; /* mutex: depth; rwlock: readers; semaphore: value; barrier: arrived */
	unsigned limit; /* barrier: how many it waits for */
	unsigned round; /* barrier: rounds completed */
};

/* Open addressing, linear probing, deletion by backward shift; size a power of two. */
static struct {
	struct obj *t;
	size_t cap, n;
} T;

void sd__sync_reset(void)
{
	free(T.t);
	memset(&T, 0, sizeof T);
}

static size_t slot_of(const void *addr, size_t cap)
{
	return (size_t)(((uintptr_t)addr >> 3) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static struct obj *find(const void *addr)
{
	if (!T.cap)
		return NULL;
	for (size_t i = slot_of(addr, T.cap);; i = (i + 1) & (T.cap - 1)) {
		if (T.t[i].addr == addr)
			return &T.t[i];
		if (!T.t[i].addr)
			return NULL;
	}
}

static void grow(void)
{
	size_t cap = T.cap ? T.cap * 2 : 64;
	struct obj *t = calloc(cap, sizeof *t);
	if (!t)
		sd__harness_error("out of memory in the thread layer");
	for (size_t i = 0; i < T.cap; i++)
		if (T.t[i].addr) {
			size_t j = slot_of(T.t[i].addr, cap);
			while (t[j].addr)
				j = (j + 1) & (cap - 1);
			t[j] = T.t[i];
		}
	free(T.t);
	T.t = t;
	T.cap = cap;
}

/* Forgets an object (it was initialised again, or destroyed). */
static void drop(const void *addr)
{
	struct obj *o = find(addr);
	if (!o)
		return;
	size_t i = (size_t)(o - T.t), j = i;
	T.t[i].addr = NULL;
	T.n--;
	for (;;) { /* move back entries whose probe passed through the hole */
		j = (j + 1) & (T.cap - 1);
		if (!T.t[j].addr)
			return;
		size_t home = slot_of(T.t[j].addr, T.cap);
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			T.t[i] = T.t[j];
			T.t[j].addr = NULL;
			i = j;
		}
	}
}

/* The state of the object at addr, made on first sight from what the C library wrote
 * there (an initialiser or an init call before the run). Re-looked-up after every park:
 * the table may have grown meanwhile. */
static struct obj *obj(const void *addr, enum kind kind)
{
	struct obj *o = find(addr);
	if (o && o->kind == kind)
		return o;
	if (o) /* memory reused for another kind of object without a destroy */
		drop(addr);
	if ((T.n + 1) * 4 > T.cap * 3)
		grow();
	size_t i = slot_of(addr, T.cap);
	while (T.t[i].addr)
		i = (i + 1) & (T.cap - 1);
	o = &T.t[i];
	memset(o, 0, sizeof *o);
	o->addr = addr;
	o->kind = kind;
	T.n++;
	if (kind == K_MUTEX) {
		/* glibc keeps the type in the low bits of __kind (adaptive acts as normal) */
		int k = ((const pthread_mutex_t *)addr)->__data.__kind & 3;
		o->type = k == PTHREAD_MUTEX_RECURSIVE || k == PTHREAD_MUTEX_ERRORCHECK
				  ? k
				  : PTHREAD_MUTEX_NORMAL;
	} else if (kind == K_SEM) {
		int v = 0;
		SD__LIBC_FN(sem_getvalue)((sem_t *)addr, &v);
		o->count = v > 0 ? (unsigned)v : 0;
	} else if (kind == K_BARRIER) {
		/* glibc's struct pthread_barrier: in, current_round, count, shared, out */
		o->limit = ((const unsigned *)addr)[2];
	}
	return o;
}

/* The table exists only during a run: outside one, init and destroy have nothing to drop. */
static void forget(const void *addr)
{
	struct sd_net sim;
	if (sd__in_actor(&sim) || T.cap)
		drop(addr);
}

/* ---- mutexes (and spinlocks, which park as a contended mutex does) ------------------- */

/* Locks; try: EBUSY instead of waiting; deadline: sim clock, -1 none. */
static int lock(struct sd_net *sim, int me, const void *m, enum kind kind, int try,
		int64_t deadline)
{
	sd_sim_yield(sim, 1);
	for (;;) {
		struct obj *o = obj(m, kind);
		if (!o->owner) {
			o->owner = me;
			o->count = 1;
			return 0;
		}
		if (o->owner == me) {
			if (o->type == PTHREAD_MUTEX_RECURSIVE) {
				if (o->count == UINT_MAX)
					return EAGAIN;
				o->count++;
				return 0;
			}
			if (o->type == PTHREAD_MUTEX_ERRORCHECK || kind == K_SPIN)
				return try ? EBUSY : EDEADLK;
			/* a normal mutex locked again by its owner waits forever, as in glibc */
		}
		if (try)
			return EBUSY;
		if (deadline >= 0 && sd_now_ns(sim) >= deadline)
			return ETIMEDOUT;
		char what[64];
		snprintf(what, sizeof what, "%s %p held by actor %d",
			 kind == K_SPIN ? "spinlock" : "mutex", m, o->owner);
		if (sd_sim_park(sim, m, deadline, 0, what) == -EDEADLK)
			return EDEADLK;
	}
}

static int unlock(struct sd_net *sim, int me, const void *m, enum kind kind)
{
	struct obj *o = obj(m, kind);
	if (o->owner != me) {
		/* as glibc: errorcheck and recursive mutexes refuse; a normal mutex or a
		 * spinlock is released whoever holds it */
		if (kind == K_MUTEX && o->type != PTHREAD_MUTEX_NORMAL)
			return EPERM;
		if (!o->owner)
			return 0;
	} else if (o->type == PTHREAD_MUTEX_RECURSIVE && --o->count > 0) {
		return 0;
	}
	o->owner = 0;
	o->count = 0;
	sd_sim_unpark(sim, m, 1);
	sd_sim_yield(sim, 1);
	return 0;
}

#define ACTOR(sim, t) (((t) = sd__thr_self(&(sim))) != NULL)

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	forget(m);
	return SD__LIBC_FN(pthread_mutex_init)(m, a);
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (ACTOR(sim, t)) {
		struct obj *o = find(m);
		if (o && o->kind == K_MUTEX && o->owner)
			return EBUSY;
	}
	forget(m);
	return SD__LIBC_FN(pthread_mutex_destroy)(m);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_lock)(m);
	return lock(&sim, sd__thr_id(t), m, K_MUTEX, 0, -1);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_trylock)(m);
	return lock(&sim, sd__thr_id(t), m, K_MUTEX, 1, -1);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_clocklock)(m, c, abs);
	int64_t d = sd__vdeadline(c, abs);
	return d == -EINVAL ? EINVAL : lock(&sim, sd__thr_id(t), m, K_MUTEX, 0, d);
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	return pthread_mutex_clocklock(m, CLOCK_REALTIME, abs);
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_unlock)(m);
	return unlock(&sim, sd__thr_id(t), m, K_MUTEX);
}

int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	forget((const void *)l);
	return SD__LIBC_FN(pthread_spin_init)(l, pshared);
}

int pthread_spin_destroy(pthread_spinlock_t *l)
{
	forget((const void *)l);
	return SD__LIBC_FN(pthread_spin_destroy)(l);
}

/* A spinlock held by a parked actor would spin the one OS thread for ever: it parks. */
int pthread_spin_lock(pthread_spinlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_spin_lock)(l);
	return lock(&sim, sd__thr_id(t), (const void *)l, K_SPIN, 0, -1);
}

int pthread_spin_trylock(pthread_spinlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_spin_trylock)(l);
	return lock(&sim, sd__thr_id(t), (const void *)l, K_SPIN, 1, -1);
}

int pthread_spin_unlock(pthread_spinlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_spin_unlock)(l);
	return unlock(&sim, sd__thr_id(t), (const void *)l, K_SPIN);
}

/* ---- condition variables: nothing kept but who waits; the clock is the object's ----- */

/* glibc marks a condition variable made with CLOCK_MONOTONIC in bit 1 of __wrefs. */
static clockid_t cond_clock(const pthread_cond_t *c)
{
	return c->__data.__wrefs & 2 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

static int cond_wait(struct sd_net *sim, int me, pthread_cond_t *c, pthread_mutex_t *m,
		     int64_t deadline)
{
	sd__thread_cancel_point();
	struct obj *o = obj(m, K_MUTEX);
	if (o->owner != me)
		return EPERM;
	unsigned depth = o->count; /* a recursive mutex is released whole, and taken back */
	o->owner = 0;
	o->count = 0;
	sd_sim_unpark(sim, m, 1);
	int rc = 0, intr = 0;
	if (deadline >= 0 && sd_now_ns(sim) >= deadline) {
		rc = ETIMEDOUT;
	} else {
		char what[40];
		snprintf(what, sizeof what, "cond %p", (void *)c);
		int r = sd_sim_park(sim, c, deadline, SD_SIM_PARK_INTR, what);
		rc = r == -ETIMEDOUT ? ETIMEDOUT : 0;
		intr = r == -EINTR;
	}
	lock(sim, me, m, K_MUTEX, 0, -1);
	obj(m, K_MUTEX)->count = depth;
	if (intr) /* cancelled: the cleanup handlers run with the mutex held, as POSIX says */
		sd__thread_cancel_point();
	return rc;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_wait)(c, m);
	return cond_wait(&sim, sd__thr_id(t), c, m, -1);
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
			   const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_clockwait)(c, m, clk, abs);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	int64_t d = sd__vdeadline(clk, abs);
	return d == -EINVAL ? EINVAL : cond_wait(&sim, sd__thr_id(t), c, m, d);
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_timedwait)(c, m, abs);
	int64_t d = sd__vdeadline(cond_clock(c), abs);
	return d == -EINVAL ? EINVAL : cond_wait(&sim, sd__thr_id(t), c, m, d);
}

int pthread_cond_signal(pthread_cond_t *c)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_signal)(c);
	sd_sim_unpark(&sim, c, 1);
	sd_sim_yield(&sim, 1);
	return 0;
}

int pthread_cond_broadcast(pthread_cond_t *c)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_broadcast)(c);
	sd_sim_unpark(&sim, c, -1);
	sd_sim_yield(&sim, 1);
	return 0;
}

/* ---- rwlocks: readers first, as glibc's default ----------------------------------------- */

static int rwlock(struct sd_net *sim, int me, pthread_rwlock_t *l, int write, int try,
		  int64_t deadline)
{
	sd_sim_yield(sim, 1);
	for (;;) {
		struct obj *o = obj(l, K_RWLOCK);
		if (o->owner == me)
			return EDEADLK;
		if (!o->owner && (!write || !o->count)) {
			if (write)
				o->owner = me;
			else if (o->count == UINT_MAX)
				return EAGAIN;
			else
				o->count++;
			return 0;
		}
		if (try)
			return EBUSY;
		if (deadline >= 0 && sd_now_ns(sim) >= deadline)
			return ETIMEDOUT;
		char what[64];
		if (o->owner)
			snprintf(what, sizeof what, "rwlock %p held by actor %d", (void *)l,
				 o->owner);
		else
			snprintf(what, sizeof what, "rwlock %p held by %u readers", (void *)l,
				 o->count);
		if (sd_sim_park(sim, l, deadline, 0, what) == -EDEADLK)
			return EDEADLK;
	}
}

int pthread_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *a)
{
	forget(l);
	return SD__LIBC_FN(pthread_rwlock_init)(l, a);
}

int pthread_rwlock_destroy(pthread_rwlock_t *l)
{
	forget(l);
	return SD__LIBC_FN(pthread_rwlock_destroy)(l);
}

int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_rdlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 0, 0, -1);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_wrlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 1, 0, -1);
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_tryrdlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 0, 1, -1);
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_trywrlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 1, 1, -1);
}

static int rwlock_clock(pthread_rwlock_t *l, int write, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *t = sd__thr_self(&sim);
	int64_t d = sd__vdeadline(c, abs);
	return d == -EINVAL ? EINVAL : rwlock(&sim, sd__thr_id(t), l, write, 0, d);
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(pthread_rwlock_clockrdlock)(l, c, abs);
	return rwlock_clock(l, 0, c, abs);
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(pthread_rwlock_clockwrlock)(l, c, abs);
	return rwlock_clock(l, 1, c, abs);
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abs)
{
	return pthread_rwlock_clockrdlock(l, CLOCK_REALTIME, abs);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abs)
{
	return pthread_rwlock_clockwrlock(l, CLOCK_REALTIME, abs);
}

int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_unlock)(l);
	struct obj *o = obj(l, K_RWLOCK);
	if (o->owner == sd__thr_id(t))
		o->owner = 0;
	else if (o->count)
		o->count--;
	else
		return EPERM;
	if (!o->owner && !o->count)
		sd_sim_unpark(&sim, l, -1);
	sd_sim_yield(&sim, 1);
	return 0;
}

/* ---- semaphores (unnamed, and named ones once open) --------------------------------- */

/* Waits for a unit: try gives EAGAIN; deadline: sim clock, -1 none. A cancellation point. */
static int sem_take(struct sd_net *sim, sem_t *s, int try, int64_t deadline)
{
	sd__thread_cancel_point();
	sd_sim_yield(sim, 1);
	for (;;) {
		struct obj *o = obj(s, K_SEM);
		if (o->count) {
			o->count--;
			return 0;
		}
		if (try)
			return EAGAIN;
		if (deadline >= 0 && sd_now_ns(sim) >= deadline)
			return ETIMEDOUT;
		char what[40];
		snprintf(what, sizeof what, "sem %p", (void *)s);
		int r = sd_sim_park(sim, s, deadline, SD_SIM_PARK_INTR, what);
		if (r == -EINTR)
			sd__thread_cancel_point();
		else if (r == -EDEADLK)
			return EDEADLK;
	}
}

static int sem_ret(int rc)
{
	if (!rc)
		return 0;
	errno = rc;
	return -1;
}

int sem_init(sem_t *s, int pshared, unsigned value)
{
	forget(s);
	return SD__LIBC_FN(sem_init)(s, pshared, value);
}

int sem_destroy(sem_t *s)
{
	forget(s);
	return SD__LIBC_FN(sem_destroy)(s);
}

int sem_wait(sem_t *s)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sem_wait)(s);
	return sem_ret(sem_take(&sim, s, 0, -1));
}

int sem_trywait(sem_t *s)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sem_trywait)(s);
	return sem_ret(sem_take(&sim, s, 1, -1));
}

int sem_clockwait(sem_t *s, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sem_clockwait)(s, c, abs);
	int64_t d = sd__vdeadline(c, abs);
	return sem_ret(d == -EINVAL ? EINVAL : sem_take(&sim, s, 0, d));
}

int sem_timedwait(sem_t *s, const struct timespec *abs)
{
	return sem_clockwait(s, CLOCK_REALTIME, abs);
}

int sem_post(sem_t *s)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sem_post)(s);
	struct obj *o = obj(s, K_SEM);
	if (o->count >= SEM_VALUE_MAX)
		return sem_ret(EOVERFLOW);
	o->count++;
	sd_sim_unpark(&sim, s, 1);
	sd_sim_yield(&sim, 1);
	return 0;
}

int sem_getvalue(sem_t *restrict s, int *restrict v)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sem_getvalue)(s, v);
	*v = (int)obj(s, K_SEM)->count;
	return 0;
}

/* ---- barriers ------------------------------------------------------------------------ */

int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned count)
{
	forget(b);
	return SD__LIBC_FN(pthread_barrier_init)(b, a, count);
}

int pthread_barrier_destroy(pthread_barrier_t *b)
{
	forget(b);
	return SD__LIBC_FN(pthread_barrier_destroy)(b);
}

int pthread_barrier_wait(pthread_barrier_t *b)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(pthread_barrier_wait)(b);
	struct obj *o = obj(b, K_BARRIER);
	if (++o->count >= o->limit) {
		o->count = 0;
		o->round++;
		sd_sim_unpark(&sim, b, -1);
		sd_sim_yield(&sim, 1);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	unsigned round = o->round;
	char what[64];
	snprintf(what, sizeof what, "barrier %p (%u of %u there)", (void *)b, o->count, o->limit);
	while (obj(b, K_BARRIER)->round == round)
		if (sd_sim_park(&sim, b, -1, 0, what) == -EDEADLK)
			return EDEADLK;
	return 0;
}

/* ---- pthread_once: its state lives in the object, as glibc keeps it -------------------- */

/* glibc: bit 1 done, bit 0 in progress (higher bits count forks). An object left done stays
 * done from one input to the next, as any other global of the server would. */
int pthread_once(pthread_once_t *once, void (*init)(void))
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!ACTOR(sim, t))
		return SD__LIBC_FN(pthread_once)(once, init);
	for (;;) {
		int v = __atomic_load_n(once, __ATOMIC_RELAXED);
		if (v & 2)
			return 0;
		if (!(v & 1))
			break;
		char what[40];
		snprintf(what, sizeof what, "once %p", (void *)once);
		if (sd_sim_park(&sim, once, -1, 0, what) == -EDEADLK)
			return EDEADLK;
	}
	__atomic_store_n(once, 1, __ATOMIC_RELAXED);
	sd__thr_set_once(t, once);
	init();
	sd__thr_set_once(t, NULL);
	__atomic_store_n(once, 2, __ATOMIC_RELAXED);
	sd_sim_unpark(&sim, once, -1);
	return 0;
}
