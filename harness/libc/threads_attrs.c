/* sockdrill in-process layer: what an actor's thread carries besides its life (threads.c): its
 * signal mask, its name, scheduling and placement, its attributes; sched_yield, and
 * pthread_kill, which only a signal 0 passes. Outside a run, or for any caller that is not one
 * of its actors, calls go to libc. */
/* GNU names (sigorset, CPU_SET_S, the _np calls): the layer is also compiled in a user project
 * that does not define it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sockdrill/sim.h>

#include "../../src/libc.h"
#include "proc.h"
#include "threads.h"
#include "threads_internal.h"
/* ---- signal masks, yielding, and calls that take a thread id -------------------------- */

/* An actor's mask is its own and never the OS thread's: blocking SIGALRM or SIGSEGV there
 * would block them for the fuzzer too (its timeout, its crash reports). */
static int mask_change(struct sd__thr *me, int how, const sigset_t *set, sigset_t *old)
{
	sigset_t prev = me->mask;
	if (set) {
		if (how == SIG_BLOCK)
			sigorset(&me->mask, &me->mask, set);
		else if (how == SIG_UNBLOCK)
			for (int sig = 1; sig < NSIG; sig++) {
				if (sigismember(set, sig) == 1)
					sigdelset(&me->mask, sig);
			}
		else if (how == SIG_SETMASK)
			me->mask = *set;
		else
			return EINVAL;
	}
	if (old)
		*old = prev;
	return 0;
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	return me ? mask_change(me, how, set, old) : SD__LIBC_FN(pthread_sigmask)(how, set, old);
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	struct sd_net sim;
	struct sd__thr *me = sd__thr_self(&sim);
	if (!me)
		return SD__LIBC_FN(sigprocmask)(how, set, old);
	int rc = mask_change(me, how, set, old);
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

int sched_yield(void)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sched_yield)();
	sd_sim_yield(&sim, 0);
	return 0;
}

/* Signals are not simulated: a signal to an actor would reach the fuzzer instead. */
int pthread_kill(pthread_t tid, int sig)
{
	struct sd_net sim;
	if (!sd__tid_tagged(tid))
		return SD__LIBC_FN(pthread_kill)(tid, sig);
	struct sd__thr *t = sd__in_actor(&sim) ? sd__thr_of(tid) : NULL;
	if (!t || t->done)
		return ESRCH;
	if (sig != 0)
		sd__harness_error("pthread_kill() with a signal in an in-process server is not "
				  "supported; run such a server with `sockdrill wrap`");
	return 0;
}

int pthread_setname_np(pthread_t tid, const char *name)
{
	struct sd_net sim;
	if (!sd__tid_tagged(tid))
		return SD__LIBC_FN(pthread_setname_np)(tid, name);
	struct sd__thr *t = sd__in_actor(&sim) ? sd__thr_of(tid) : NULL;
	if (!t)
		return ESRCH;
	if (strlen(name) >= sizeof t->name)
		return ERANGE;
	snprintf(t->name, sizeof t->name, "%s", name);
	return 0;
}

int pthread_getname_np(pthread_t tid, char *buf, size_t len)
{
	struct sd_net sim;
	if (!sd__tid_tagged(tid))
		return SD__LIBC_FN(pthread_getname_np)(tid, buf, len);
	struct sd__thr *t = sd__in_actor(&sim) ? sd__thr_of(tid) : NULL;
	if (!t)
		return ESRCH;
	if (strlen(t->name) >= len)
		return ERANGE;
	snprintf(buf, len, "%s", t->name);
	return 0;
}

/* Scheduling and placement mean nothing on one OS thread: accepted, and left as they are. */
int pthread_setschedparam(pthread_t tid, int policy, const struct sched_param *p)
{
	return sd__tid_tagged(tid) ? 0 : SD__LIBC_FN(pthread_setschedparam)(tid, policy, p);
}

int pthread_getschedparam(pthread_t tid, int *policy, struct sched_param *p)
{
	if (!sd__tid_tagged(tid))
		return SD__LIBC_FN(pthread_getschedparam)(tid, policy, p);
	*policy = SCHED_OTHER;
	memset(p, 0, sizeof *p);
	return 0;
}

int pthread_setaffinity_np(pthread_t tid, size_t size, const cpu_set_t *set)
{
	return sd__tid_tagged(tid) ? 0 : SD__LIBC_FN(pthread_setaffinity_np)(tid, size, set);
}

int pthread_getaffinity_np(pthread_t tid, size_t size, cpu_set_t *set)
{
	if (!sd__tid_tagged(tid))
		return SD__LIBC_FN(pthread_getaffinity_np)(tid, size, set);
	CPU_ZERO_S(size, set);
	CPU_SET_S(0, size, set);
	return 0;
}

int pthread_getattr_np(pthread_t tid, pthread_attr_t *attr)
{
	if (!sd__tid_tagged(tid))
		return SD__LIBC_FN(pthread_getattr_np)(tid, attr);
	struct sd_net sim;
	struct sd__thr *t = sd__in_actor(&sim) ? sd__thr_of(tid) : NULL;
	if (!t)
		return ESRCH;
	int rc = pthread_attr_init(attr);
	if (!rc && t->detached)
		rc = pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
	return rc;
}
