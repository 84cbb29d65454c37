/* sockdrill in-process layer: rwlocks (readers first), semaphores, barriers and pthread_once
 * for a server's actors, cooperative as the mutexes of sync.c are, their state in its side
 * table (pthread_once's in the object itself). */
/* GNU names (the clock* calls): the layer is also compiled in a user project that does not
 * define it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>

#include <sockdrill/sim.h>

#include "../../src/libc.h"
#include "sync_internal.h"
#include "threads.h"

/* ---- rwlocks: readers first, as glibc's default ----------------------------------------- */

static int rwlock(struct sd_net *sim, int me, pthread_rwlock_t *l, int write, int try,
		  int64_t deadline)
{
	sd_sim_yield(sim, 1);
	for (;;) {
		struct sd__sync_obj *o = sd__sync_obj(l, K_RWLOCK);
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
	sd__sync_forget(l);
	return SD__LIBC_FN(pthread_rwlock_init)(l, a);
}

int pthread_rwlock_destroy(pthread_rwlock_t *l)
{
	sd__sync_forget(l);
	return SD__LIBC_FN(pthread_rwlock_destroy)(l);
}

int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_rdlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 0, 0, -1);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_wrlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 1, 0, -1);
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_tryrdlock)(l);
	return rwlock(&sim, sd__thr_id(t), l, 0, 1, -1);
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	struct sd_net sim;
	struct sd__thr *t;
	if (!SD__ACTOR(sim, t))
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
	if (!SD__ACTOR(sim, t))
		return SD__LIBC_FN(pthread_rwlock_unlock)(l);
	struct sd__sync_obj *o = sd__sync_obj(l, K_RWLOCK);
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
		struct sd__sync_obj *o = sd__sync_obj(s, K_SEM);
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
	sd__sync_forget(s);
	return SD__LIBC_FN(sem_init)(s, pshared, value);
}

int sem_destroy(sem_t *s)
{
	sd__sync_forget(s);
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
	struct sd__sync_obj *o = sd__sync_obj(s, K_SEM);
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
	*v = (int)sd__sync_obj(s, K_SEM)->count;
	return 0;
}

/* ---- barriers ------------------------------------------------------------------------ */

int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned count)
{
	sd__sync_forget(b);
	return SD__LIBC_FN(pthread_barrier_init)(b, a, count);
}

int pthread_barrier_destroy(pthread_barrier_t *b)
{
	sd__sync_forget(b);
	return SD__LIBC_FN(pthread_barrier_destroy)(b);
}

int pthread_barrier_wait(pthread_barrier_t *b)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(pthread_barrier_wait)(b);
	struct sd__sync_obj *o = sd__sync_obj(b, K_BARRIER);
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
	while (sd__sync_obj(b, K_BARRIER)->round == round)
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
	if (!SD__ACTOR(sim, t))
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
