/* sockdrill: the `real` backend's actors, one thread each, and its clock. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sockdrill/sockdrill.h>

#include "../libc.h"
#include "../util/util.h"
#include "real_internal.h"

/*
 * An actor's thread says it has ended through its own lock and condition, not the instance's:
 * an actor still blocked in the kernel when the instance is destroyed is left running
 * ("orphaned"), and frees its record itself once its function returns. A join waits on the
 * condition without taking the actor out of the table, so that a join that gives up at its
 * deadline leaves it joinable; the join that sees it ended takes it out and joins the thread.
 */
struct real_actor {
	pthread_t thread;
	void (*fn)(void *);
	void *arg;
	const struct real *owner;
	pthread_mutex_t m;
	pthread_cond_t ended; /* on CLOCK_MONOTONIC, the clock of now_ns and join_until */
	int done;             /* fn returned (under m) */
	int orphaned;         /* the instance is gone: the thread frees this (under m) */
	int waiters;          /* joins waiting on it (under the instance's lock) */
	int claimed;          /* a join took it out of the table (under the instance's lock) */
	char name[32];
};

/* The actor whose thread this is, for actor_name: NULL on every other thread. */
static __thread const struct real_actor *current;

static void actor_free(struct real_actor *a)
{
	pthread_cond_destroy(&a->ended);
	pthread_mutex_destroy(&a->m);
	free(a);
}

static void *actor_main(void *arg)
{
	struct real_actor *a = arg;
	current = a;
	a->fn(a->arg);
	current = NULL;
	pthread_mutex_lock(&a->m);
	a->done = 1;
	int orphaned = a->orphaned;
	pthread_cond_broadcast(&a->ended);
	pthread_mutex_unlock(&a->m);
	if (orphaned)
		actor_free(a);
	return NULL;
}

static struct real_actor *actor_new(const struct real *r, const char *name, void (*fn)(void *),
				    void *arg)
{
	struct real_actor *a = calloc(1, sizeof *a);
	pthread_condattr_t ca;
	if (!a)
		return NULL;
	a->fn = fn, a->arg = arg, a->owner = r;
	snprintf(a->name, sizeof a->name, "%s", name && *name ? name : "actor");
	pthread_mutex_init(&a->m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->ended, &ca);
	pthread_condattr_destroy(&ca);
	return a;
}

int sd__real_spawn(void *state, const char *name, void (*fn)(void *), void *arg)
{
	struct real *r = state;
	struct real_actor *a = actor_new(r, name, fn, arg), **grown;
	int id;
	if (!a)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	grown = realloc(r->actors, (r->nactors + 1) * sizeof *grown);
	if (!grown) {
		pthread_mutex_unlock(&r->lock);
		actor_free(a);
		return -ENOMEM;
	}
	r->actors = grown;
	int rc = pthread_create(&a->thread, NULL, actor_main, a);
	if (rc) {
		pthread_mutex_unlock(&r->lock);
		actor_free(a);
		return -rc;
	}
	r->actors[r->nactors++] = a;
	id = (int)r->nactors;
	pthread_mutex_unlock(&r->lock);
	return id;
}

/* Waits until actor `id` has ended or `until` (CLOCK_MONOTONIC; NULL: no limit) has passed. The
 * join that finds it ended takes it out of the table; the last one still holding it joins its
 * thread and frees it. 0, -ETIMEDOUT (still running: joinable later), -ESRCH. */
static int await_actor(struct real *r, int id, const struct timespec *until)
{
	struct real_actor *a = NULL;
	pthread_mutex_lock(&r->lock);
	if (id > 0 && (size_t)id <= r->nactors && (a = r->actors[id - 1]))
		a->waiters++;
	pthread_mutex_unlock(&r->lock);
	if (!a)
		return -ESRCH;
	int rc = 0;
	pthread_mutex_lock(&a->m);
	while (!a->done && rc != ETIMEDOUT)
		rc = until ? pthread_cond_timedwait(&a->ended, &a->m, until)
			   : pthread_cond_wait(&a->ended, &a->m);
	int done = a->done;
	pthread_mutex_unlock(&a->m);

	pthread_mutex_lock(&r->lock);
	a->waiters--;
	int mine = done && !a->claimed, other = a->claimed && !mine;
	if (mine)
		a->claimed = 1, r->actors[id - 1] = NULL;
	int last = a->claimed && !a->waiters;
	pthread_mutex_unlock(&r->lock);
	if (last) {
		pthread_join(a->thread, NULL);
		actor_free(a);
	}
	return mine ? 0 : other ? -ESRCH : -ETIMEDOUT;
}

int sd__real_join(void *state, int id) { return await_actor(state, id, NULL); }

int sd__real_join_until(void *state, int id, int64_t deadline_ns)
{
	struct timespec until = {deadline_ns / 1000000000, deadline_ns % 1000000000};
	if (deadline_ns < 0)
		until.tv_sec = 0, until.tv_nsec = 0; /* long past: a look, no wait */
	return await_actor(state, id, &until);
}

const char *sd__real_actor_name(void *state)
{
	return current && current->owner == state ? current->name : "main";
}

void sd__real_actors_free(struct real *r)
{
	for (size_t i = 0; i < r->nactors; i++) {
		struct real_actor *a = r->actors[i];
		if (!a)
			continue;
		pthread_mutex_lock(&a->m);
		int done = a->done;
		if (!done) { /* still running: its thread frees it */
			a->orphaned = 1;
			pthread_detach(a->thread);
		}
		pthread_mutex_unlock(&a->m);
		if (done) {
			pthread_join(a->thread, NULL);
			actor_free(a);
		}
	}
	free(r->actors);
}

int sd__real_sleep_ns(void *state, int64_t ns)
{
	(void)state;
	if (ns <= 0)
		return 0;
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	return SD__LIBC(nanosleep)(&ts, NULL) < 0 ? -errno : 0;
}

int64_t sd__real_now_ns(void *state)
{
	struct timespec ts;
	(void)state;
	SD__LIBC(clock_gettime)(CLOCK_MONOTONIC, &ts); /* the host's clock, even inside a run */
	return sd__ts_ns(&ts);
}
