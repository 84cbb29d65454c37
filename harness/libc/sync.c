/* sockdrill in-process layer: mutexes, spinlocks and condition variables for a server's actors
 * (rwlocks, semaphores, barriers and pthread_once: sync_rwsem.c), cooperative: a contended lock
 * or a wait parks the actor and the seeded scheduler picks who runs. Their state is kept in a
 * side table by the object's address (so static initialisers work), dropped when a run ends. */
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
#include "sync_internal.h"
#include "threads.h"

/* Open addressing, linear probing, deletion by backward shift; size a power of two. */
static struct {
	struct sd__sync_obj *t;
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

static struct sd__sync_obj *find(const void *addr)
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
	struct sd__sync_obj *t = calloc(cap, sizeof *t);
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
	struct sd__sync_obj *o = find(addr);
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
struct sd__sync_obj *sd__sync_obj(const void *addr, enum sd__sync_kind kind)
{
	struct sd__sync_obj *o = find(addr);
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
void sd__sync_forget(const void *addr)
{
	struct sd_net sim;
	if (sd__in_actor(&sim) || T.cap)
		drop(addr);
}

/* ---- mutexes (and spinlocks, which park as a contended mutex does) ------------------- */

/* Locks; try: EBUSY instead of waiting; deadline: sim clock, -1 none. */
static int lock(struct sd_net *sim, int me, const void *m, enum sd__sync_kind kind, int try,
		int64_t deadline)
{
	sd_sim_yield(sim, 1);
	for (;;) {
		struct sd__sync_obj *o = sd__sync_obj(m, kind);
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

static int unlock(struct sd_net *sim, int me, const void *m, enum sd__sync_kind kind)
{
	struct sd__sync_obj *o = sd__sync_obj(m, kind);
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

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	sd__sync_forget(m);
	return SD__LIBC_FN(pthread_mutex_init)(m, a);
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (SD__ACTOR(sim, t)) {
		struct sd__sync_obj *o = find(m);
		if (o && o->kind == K_MUTEX && o->owner)
			return EBUSY;
	}
	sd__sync_forget(m);
	return SD__LIBC_FN(pthread_mutex_destroy)(m);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_lock)(m);
	return lock(&sim, sd__thr_id(t), m, K_MUTEX, 0, -1);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_trylock)(m);
	return lock(&sim, sd__thr_id(t), m, K_MUTEX, 1, -1);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
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
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_mutex_unlock)(m);
	return unlock(&sim, sd__thr_id(t), m, K_MUTEX);
}

int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	sd__sync_forget((const void *)l);
	return SD__LIBC_FN(pthread_spin_init)(l, pshared);
}

int pthread_spin_destroy(pthread_spinlock_t *l)
{
	sd__sync_forget((const void *)l);
	return SD__LIBC_FN(pthread_spin_destroy)(l);
}

/* A spinlock held by a parked actor would spin the one OS thread for ever: it parks. */
int pthread_spin_lock(pthread_spinlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_spin_lock)(l);
	return lock(&sim, sd__thr_id(t), (const void *)l, K_SPIN, 0, -1);
}

int pthread_spin_trylock(pthread_spinlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_spin_trylock)(l);
	return lock(&sim, sd__thr_id(t), (const void *)l, K_SPIN, 1, -1);
}

int pthread_spin_unlock(pthread_spinlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
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
	struct sd__sync_obj *o = sd__sync_obj(m, K_MUTEX);
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
	sd__sync_obj(m, K_MUTEX)->count = depth;
	if (intr) /* cancelled: the cleanup handlers run with the mutex held, as POSIX says */
		sd__thread_cancel_point();
	return rc;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_wait)(c, m);
	return cond_wait(&sim, sd__thr_id(t), c, m, -1);
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
			   const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
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
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_timedwait)(c, m, abs);
	int64_t d = sd__vdeadline(cond_clock(c), abs);
	return d == -EINVAL ? EINVAL : cond_wait(&sim, sd__thr_id(t), c, m, d);
}

int pthread_cond_signal(pthread_cond_t *c)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_signal)(c);
	sd_sim_unpark(&sim, c, 1);
	sd_sim_yield(&sim, 1);
	return 0;
}

int pthread_cond_broadcast(pthread_cond_t *c)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_cond_broadcast)(c);
	sd_sim_unpark(&sim, c, -1);
	sd_sim_yield(&sim, 1);
	return 0;
}
