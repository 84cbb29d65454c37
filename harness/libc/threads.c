/* sockdrill in-process layer: a server's POSIX threads as actors of the attached sim: created,
 * joined, detached and ended, with deferred cancellation, cleanup handlers and thread-specific
 * data (their signal masks, names and the calls that only take a thread id: threads_attrs.c).
 * Outside a run, or for any caller that is not one of its actors, calls go to libc. */
/* GNU names (sigorset, CPU_SET_S, program_invocation_name, the _np calls): the layer is
 * also compiled in a user project that does not define it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sim.h>

#include "../inproc.h"
#include "../../src/libc.h"
#include "proc.h"
#include "threads.h"
#include "threads_internal.h"

/* Keys made during a run are numbered from here, out of the C library's range (it has
 * PTHREAD_KEYS_MAX = 1024), and given back when the run ends: a server's main runs once
 * per input and makes its keys again each time. */
#define SD__KEY_BASE 0x5d000000u
#define SD__KEYS     1024

static struct {
	uint64_t serial; /* the sim of the run this state belongs to; 0: none */
	unsigned gen;    /* counts runs */
	struct sd_net sim;
	struct sd__thr **thr; /* by actor id */
	size_t nthr;
	sigset_t base_mask; /* the real mask when the run began */
	struct {
		int used;
		void (*dtor)(void *);
	} keys[SD__KEYS];
} R;

static _Noreturn void oom(void) { sd__harness_error("out of memory in the thread layer"); }

static void run_begin(struct sd_net *sim)
{
	sd__threads_reset();
	R.serial = sd_sim_serial(sim);
	R.gen++;
	R.sim = *sim;
	SD__LIBC_FN(pthread_sigmask)(SIG_BLOCK, NULL, &R.base_mask);
}

int sd__in_actor(struct sd_net *sim)
{
	if (!sd_inproc_net() || !sd_sim_current(sim))
		return 0;
	if (sd_sim_serial(sim) != R.serial)
		run_begin(sim);
	return 1;
}

int sd__in_signal_handler(void)
{
	sigset_t now;
	if (SD__LIBC_FN(pthread_sigmask)(SIG_BLOCK, NULL, &now) != 0)
		return 0;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&now, sig) == 1 && sigismember(&R.base_mask, sig) != 1)
			return 1;
	return 0;
}

void sd__threads_reset(void)
{
	for (size_t i = 0; i < R.nthr; i++) {
		struct sd__thr *t = R.thr[i];
		if (!t)
			continue;
		if (t->once) /* its actor was abandoned inside the init routine */
			__atomic_store_n(t->once, 0, __ATOMIC_RELAXED);
		free(t->tsd);
		free(t);
	}
	free(R.thr);
	R.thr = NULL;
	R.nthr = 0;
	R.serial = 0;
	memset(R.keys, 0, sizeof R.keys);
	sd__sync_reset();
}

static void thr_put(int id, struct sd__thr *t)
{
	if ((size_t)id >= R.nthr) {
		size_t n = R.nthr ? R.nthr : 16;
		while (n <= (size_t)id)
			n *= 2;
		struct sd__thr **g = realloc(R.thr, n * sizeof *g);
		if (!g)
			oom();
		memset(g + R.nthr, 0, (n - R.nthr) * sizeof *g);
		R.thr = g;
		R.nthr = n;
	}
	R.thr[id] = t;
}

struct sd__thr *sd__thr_self(struct sd_net *sim)
{
	if (!sd__in_actor(sim))
		return NULL;
	int id = sd_sim_actor_id(sim);
	if ((size_t)id < R.nthr && R.thr[id])
		return R.thr[id];
	struct sd__thr *t = calloc(1, sizeof *t); /* an actor the driver started */
	if (!t)
		oom();
	t->id = id;
	t->mask = R.base_mask;
	thr_put(id, t);
	return t;
}

int sd__thr_id(const struct sd__thr *t) { return t->id; }

void sd__thr_set_once(struct sd__thr *t, pthread_once_t *once) { t->once = once; }

static pthread_t tid_of(const struct sd__thr *t)
{
	return (pthread_t)(SD__TID_TAG << 56 | (uint64_t)(R.gen & 0xffffffu) << 32 |
			   (uint32_t)t->id);
}

/* The thread a tagged id names in this run, or NULL (stale, or never ours). */
struct sd__thr *sd__thr_of(pthread_t tid)
{
	uint64_t v = (uint64_t)tid;
	size_t id = (uint32_t)v;
	if (!sd__tid_tagged(tid) || ((v >> 32) & 0xffffffu) != (R.gen & 0xffffffu) || id >= R.nthr)
		return NULL;
	return R.thr[id];
}

/* ---- ending a thread ---------------------------------------------------------------- */

static void run_tsd_destructors(struct sd__thr *t)
{
	/* POSIX: up to PTHREAD_DESTRUCTOR_ITERATIONS rounds, while values are left */
	for (int round = 0; t->tsd && round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
		int any = 0;
		for (int k = 0; k < SD__KEYS; k++) {
			void *v = t->tsd[k];
			if (!v || !R.keys[k].used || !R.keys[k].dtor)
				continue;
			t->tsd[k] = NULL;
			R.keys[k].dtor(v);
			any = 1;
		}
		if (!any)
			break;
	}
}

/* What every thread does last, however it ends. */
static void thread_end(struct sd__thr *t, void *retval)
{
	t->exiting = 1;
	t->retval = retval;
	run_tsd_destructors(t);
	if (t->once) { /* ended inside an init routine: as if it had never started */
		__atomic_store_n(t->once, 0, __ATOMIC_RELAXED);
		sd_sim_unpark(&R.sim, t->once, -1);
		t->once = NULL;
	}
	t->done = 1;
	sd_sim_unpark(&R.sim, t, -1); /* its joiner */
}

/* Runs the innermost cleanup handler still registered (glibc's pthread_cleanup_push in C
 * is a sigsetjmp buffer: jumping back into it runs the handler, which then calls
 * __pthread_unwind_next, which comes back here); with none left, the actor ends. */
static _Noreturn void unwind(struct sd__thr *t)
{
	__pthread_unwind_buf_t *b = t->cleanup;
	if (b) {
		/* the registers saved there, in a whole jmp_buf (no signal mask was saved) */
		jmp_buf to;
		memcpy(to[0].__jmpbuf, b->__cancel_jmp_buf[0].__cancel_jmp_buf,
		       sizeof to[0].__jmpbuf);
		to[0].__mask_was_saved = 0;
		t->cleanup = b->__pad[0];
		longjmp(to, 1);
	}
	thread_end(t, t->retval);
	sd_sim_actor_exit(&R.sim, 0);
	abort(); /* not reached: the actor has ended */
}

static _Noreturn void do_exit(struct sd__thr *t, void *retval)
{
	t->exiting = 1;
	t->cancel_off = 1;
	t->retval = retval;
	unwind(t);
}

void sd__thread_cancel_point(void)
{
	struct sd_net sim;
	struct sd__thr *t = sd__thr_self(&sim);
	if (t && t->cancel_pending && !t->cancel_off && !t->exiting)
		do_exit(t, PTHREAD_CANCELED);
}

static void thread_main(void *arg)
{
	struct sd__thr *t = arg;
	thread_end(t, t->start(t->arg));
}

/* ---- creating, joining, detaching ------------------------------------------------------- */

int pthread_create(pthread_t *tid, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me)
		return SD__LIBC_FN(pthread_create)(tid, attr, start, arg);
	/* The detach state is honoured; the stack size is not: every actor has the sim's
	 * stack (option stack=KB). */
	int detach = PTHREAD_CREATE_JOINABLE;
	if (attr && pthread_attr_getdetachstate(attr, &detach) != 0)
		return EINVAL;
	struct sd__thr *t = calloc(1, sizeof *t);
	if (!t)
		return EAGAIN;
	t->start = start;
	t->arg = arg;
	t->mask = me->mask;
	int id = sd_spawn(sd__route_calls_net(&sim), "thread", thread_main, t);
	if (id < 0) {
		free(t);
		return EAGAIN;
	}
	t->id = id;
	thr_put(id, t);
	if (detach == PTHREAD_CREATE_DETACHED) {
		t->detached = 1;
		sd_sim_detach(&sim, id);
	}
	*tid = tid_of(t);
	sd_sim_yield(&sim, 1);
	return 0;
}

/* Waits for t until the sim-clock deadline (-1: none; 0 with `now`: only a look). */
static int join(struct sd_net *sim, struct sd__thr *me, pthread_t tid, void **ret, int64_t deadline,
		int now)
{
	sd__thread_cancel_point();
	struct sd__thr *t = sd__thr_of(tid);
	if (!t || t->joined)
		return ESRCH;
	if (t == me || me->joiner == t->id)
		return EDEADLK;
	if (t->detached || (t->joiner && t->joiner != me->id))
		return EINVAL;
	char what[48];
	snprintf(what, sizeof what, "join of actor %d", t->id);
	t->joiner = me->id;
	while (!t->done) {
		int r = 0;
		if (now)
			r = EBUSY;
		else if (deadline >= 0 && sd_now_ns(sim) >= deadline)
			r = ETIMEDOUT;
		else if ((r = -sd_sim_park(sim, t, deadline, SD_SIM_PARK_INTR, what)) == EINTR) {
			t->joiner = 0; /* POSIX: a cancelled join leaves the target joinable */
			sd__thread_cancel_point();
			t->joiner = me->id;
			continue;
		} else if (r == ETIMEDOUT) {
			continue; /* it may have ended at the deadline: looked at above */
		}
		if (r) {
			t->joiner = 0;
			return r;
		}
	}
	sd_join(sd__route_calls_net(sim), t->id); /* gives back its stack */
	t->joined = 1;
	if (ret)
		*ret = t->retval;
	return 0;
}

int pthread_join(pthread_t tid, void **ret)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me || !sd__tid_tagged(tid))
		return sd__tid_tagged(tid) ? ESRCH : SD__LIBC_FN(pthread_join)(tid, ret);
	return join(&sim, me, tid, ret, -1, 0);
}

int pthread_tryjoin_np(pthread_t tid, void **ret)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me || !sd__tid_tagged(tid))
		return sd__tid_tagged(tid) ? ESRCH : SD__LIBC_FN(pthread_tryjoin_np)(tid, ret);
	return join(&sim, me, tid, ret, -1, 1);
}

int pthread_clockjoin_np(pthread_t tid, void **ret, clockid_t c, const struct timespec *abs)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me || !sd__tid_tagged(tid))
		return sd__tid_tagged(tid) ? ESRCH
					   : SD__LIBC_FN(pthread_clockjoin_np)(tid, ret, c, abs);
	int64_t d = abs ? sd__vdeadline(c, abs) : -1;
	return d == -EINVAL ? EINVAL : join(&sim, me, tid, ret, d, 0);
}

int pthread_timedjoin_np(pthread_t tid, void **ret, const struct timespec *abs)
{
	return pthread_clockjoin_np(tid, ret, CLOCK_REALTIME, abs);
}

int pthread_detach(pthread_t tid)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me || !sd__tid_tagged(tid))
		return sd__tid_tagged(tid) ? ESRCH : SD__LIBC_FN(pthread_detach)(tid);
	struct sd__thr *t = sd__thr_of(tid);
	if (!t || t->joined)
		return ESRCH;
	if (t->detached)
		return EINVAL;
	t->detached = 1;
	sd_sim_detach(&sim, t->id);
	return 0;
}

pthread_t pthread_self(void)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	return me ? tid_of(me) : SD__LIBC_FN(pthread_self)();
}

/* pthread_equal is not taken over: glibc's compares the ids, which suits these too. */

void pthread_exit(void *retval)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (me)
		do_exit(me, retval);
	SD__LIBC_FN(pthread_exit)(retval);
	abort(); /* not reached */
}

/* ---- cancellation --------------------------------------------------------------------- */

int pthread_cancel(pthread_t tid)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me || !sd__tid_tagged(tid))
		return sd__tid_tagged(tid) ? ESRCH : SD__LIBC_FN(pthread_cancel)(tid);
	struct sd__thr *t = sd__thr_of(tid);
	if (!t || t->joined)
		return ESRCH;
	if (t->done)
		return 0;
	t->cancel_pending = 1;
	if (!t->cancel_off) {
		sd_sim_interrupt(&sim, t->id); /* a wait at a cancellation point ends */
		if (t == me && t->cancel_async)
			do_exit(me, PTHREAD_CANCELED);
	}
	sd_sim_yield(&sim, 1);
	return 0;
}

int pthread_setcancelstate(int state, int *old)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me)
		return SD__LIBC_FN(pthread_setcancelstate)(state, old);
	if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE)
		return EINVAL;
	if (old)
		*old = me->cancel_off ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE;
	if (me->exiting)
		return 0;
	me->cancel_off = state == PTHREAD_CANCEL_DISABLE;
	if (!me->cancel_off && me->cancel_pending) {
		if (me->cancel_async)
			do_exit(me, PTHREAD_CANCELED);
		sd_sim_interrupt(&sim, me->id); /* its next wait at a cancellation point */
	}
	return 0;
}

/* Asynchronous cancellation is kept as a setting but acts as deferred does: an actor only
 * ever stops running at a call, so there is no moment in between to act at. */
int pthread_setcanceltype(int type, int *old)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me)
		return SD__LIBC_FN(pthread_setcanceltype)(type, old);
	if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS)
		return EINVAL;
	if (old)
		*old = me->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
	me->cancel_async = type == PTHREAD_CANCEL_ASYNCHRONOUS;
	if (me->cancel_async)
		sd__thread_cancel_point();
	return 0;
}

void pthread_testcancel(void)
{
	struct sd_net sim;
	if (!sd__thr_self(&sim))
		SD__LIBC_FN(pthread_testcancel)();
	else
		sd__thread_cancel_point();
}

/* pthread_cleanup_push/pop in C (glibc, without -fexceptions) register a sigsetjmp buffer;
 * an actor's are chained through the buffer's spare words. */
void __pthread_register_cancel(__pthread_unwind_buf_t *buf)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me) {
		SD__LIBC_FN(__pthread_register_cancel)(buf);
		return;
	}
	buf->__pad[0] = me->cleanup;
	me->cleanup = buf;
}

void __pthread_unregister_cancel(__pthread_unwind_buf_t *buf)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me) {
		SD__LIBC_FN(__pthread_unregister_cancel)(buf);
		return;
	}
	me->cleanup = buf->__pad[0];
}

void __pthread_unwind_next(__pthread_unwind_buf_t *buf)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (me && me->exiting)
		unwind(me);
	SD__LIBC_FN(__pthread_unwind_next)(buf);
	abort(); /* not reached */
}

/* ---- thread-specific data ------------------------------------------------------------- */

int pthread_key_create(pthread_key_t *key, void (*dtor)(void *))
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me)
		return SD__LIBC_FN(pthread_key_create)(key, dtor);
	for (int k = 0; k < SD__KEYS; k++)
		if (!R.keys[k].used) {
			for (size_t i = 0; i < R.nthr; i++) /* a new key holds NULL everywhere */
				if (R.thr[i] && R.thr[i]->tsd)
					R.thr[i]->tsd[k] = NULL;
			R.keys[k].used = 1;
			R.keys[k].dtor = dtor;
			*key = SD__KEY_BASE + (pthread_key_t)k;
			return 0;
		}
	return EAGAIN;
}

static int our_key(pthread_key_t key) { return key - SD__KEY_BASE < SD__KEYS; }

int pthread_key_delete(pthread_key_t key)
{
	if (!our_key(key))
		return SD__LIBC_FN(pthread_key_delete)(key);
	if (!R.keys[key - SD__KEY_BASE].used)
		return EINVAL;
	R.keys[key - SD__KEY_BASE].used = 0;
	return 0;
}

/* The range test comes first: sanitizer runtimes call this on every allocation. */
void *pthread_getspecific(pthread_key_t key)
{
	if (!our_key(key))
		return SD__LIBC_FN(pthread_getspecific)(key);
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	return me && me->tsd ? me->tsd[key - SD__KEY_BASE] : NULL;
}

int pthread_setspecific(pthread_key_t key, const void *v)
{
	if (!our_key(key))
		return SD__LIBC_FN(pthread_setspecific)(key, v);
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me || !R.keys[key - SD__KEY_BASE].used)
		return EINVAL;
	if (!me->tsd && !(me->tsd = calloc(SD__KEYS, sizeof *me->tsd)))
		return ENOMEM;
	me->tsd[key - SD__KEY_BASE] = (void *)v;
	return 0;
}
