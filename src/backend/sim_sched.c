/* sockdrill sim: actors as coroutines, a seeded scheduler, virtual time, deadlock reports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define SD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SD_ASAN 1
#endif
#endif

#ifdef SD_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old);
#endif

int sd__sched_init(struct sd__sim *s)
{
	s->main.id = 0;
	snprintf(s->main.name, sizeof s->main.name, "main");
	s->main.st = A_RUNNABLE;
	s->main.deadline = -1;
	s->cur = &s->main;
	return 0;
}

void sd__sched_free(struct sd__sim *s)
{
	for (size_t i = 0; i < s->nactors; i++) {
		struct sd__actor *a = s->actors[i];
		if (a->stack)
			munmap(a->stack, a->stack_size);
		free(a);
	}
	free(s->actors);
	free(s->deadlock);
}

#ifdef SD_ASAN
/* Called first thing after a switch lands: the sanitizer reports the bounds of the stack we
 * came from, which is how main's (not allocated by us) becomes known. */
static void sd__fiber_arrived(struct sd__sim *s, void *fake)
{
	const void *bottom;
	size_t size;
	__sanitizer_finish_switch_fiber(fake, &bottom, &size);
	if (s->prev == &s->main) {
		s->main.asan_bottom = bottom;
		s->main.asan_size = size;
	}
}
#endif

/* Moves from the running actor to `to`. `dying` says the current one never comes back. */
static void switch_to(struct sd__sim *s, struct sd__actor *to, int dying)
{
	struct sd__actor *from = s->cur;
	if (to == from)
		return;
	s->cur = to;
	s->prev = from;
#ifdef SD_ASAN
	void *fake = NULL;
	__sanitizer_start_switch_fiber(dying ? NULL : &fake, to->asan_bottom, to->asan_size);
	swapcontext(&from->ctx, &to->ctx);
	sd__fiber_arrived(s, fake);
#else
	(void)dying;
	swapcontext(&from->ctx, &to->ctx);
#endif
}

static struct sd__actor *actor_at(struct sd__sim *s, size_t i)
{
	return i == 0 ? &s->main : s->actors[i - 1];
}

/* A seeded choice among the runnable actors, or NULL when none is. */
static struct sd__actor *pick_runnable(struct sd__sim *s, const struct sd__actor *skip)
{
	size_t n = 0;
	for (size_t i = 0; i <= s->nactors; i++) {
		struct sd__actor *a = actor_at(s, i);
		n += a->st == A_RUNNABLE && a != skip;
	}
	if (!n)
		return NULL;
	uint32_t k = sd__rand_below(s, (uint32_t)n);
	for (size_t i = 0; i <= s->nactors; i++) {
		struct sd__actor *a = actor_at(s, i);
		if (a->st == A_RUNNABLE && a != skip && k-- == 0)
			return a;
	}
	return NULL;
}

/* The earliest pending time: a parked actor's deadline or an internal timer; -1 if none. */
static int64_t next_event(struct sd__sim *s)
{
	int64_t t = -1;
	for (size_t i = 0; i <= s->nactors; i++) {
		struct sd__actor *a = actor_at(s, i);
		if (a->st == A_PARKED && a->deadline >= 0 && (t < 0 || a->deadline < t))
			t = a->deadline;
	}
	if (s->ntimers && (t < 0 || s->timers[0] < t))
		t = s->timers[0];
	return t;
}

void sd__advance(struct sd__sim *s)
{
	int fired = 0;
	while (s->ntimers && s->timers[0] <= s->now) {
		sd__timer_pop(s);
		fired = 1;
	}
	if (fired) {
		sd__retry_connects(s);
		sd__wake_all(s);
	}
	for (size_t i = 0; i <= s->nactors; i++) {
		struct sd__actor *a = actor_at(s, i);
		if (a->st == A_PARKED && a->deadline >= 0 && a->deadline <= s->now) {
			a->st = A_RUNNABLE;
			a->why = W_TIMEOUT;
		}
	}
}

static void build_report(struct sd__sim *s)
{
	size_t cap = 256 + (s->nactors + 1) * 160, len = 0;
	char *r = malloc(cap);
	if (!r)
		return;
	len += (size_t)snprintf(r, cap, "deadlock at t=%lld.%09lld: every actor is blocked",
				(long long)(s->now / 1000000000), (long long)(s->now % 1000000000));
	for (size_t i = 0; i <= s->nactors; i++) {
		struct sd__actor *a = actor_at(s, i);
		if (a->st == A_PARKED)
			len += (size_t)snprintf(r + len, cap - len, "; %s (actor %d) waits in %s",
						a->name, a->id, a->wait);
	}
	free(s->deadlock);
	s->deadlock = r;
}

enum sd__wake sd__park(struct sd__sim *s, const char *what, int64_t deadline)
{
	struct sd__actor *me = s->cur, *next;
	me->st = A_PARKED;
	me->deadline = deadline;
	me->why = W_WOKEN;
	snprintf(me->wait, sizeof me->wait, "%s", what);
	for (;;) {
		next = pick_runnable(s, NULL);
		if (next)
			break;
		int64_t t = next_event(s);
		if (t < 0) {
			/* Nothing can ever happen again: hand control to main with the news. */
			build_report(s);
			next = &s->main;
			next->st = A_RUNNABLE;
			next->why = W_DEADLOCK;
			break;
		}
		if (t > s->now)
			s->now = t;
		sd__advance(s);
	}
	next->st = A_RUNNABLE;
	switch_to(s, next, 0);
	me->deadline = -1;
	return me->why;
}

void sd__maybe_yield(struct sd__sim *s)
{
	if (!s->nactors || !s->preempt || (sd__rand(s) & 1023) >= s->preempt)
		return;
	struct sd__actor *other = pick_runnable(s, s->cur);
	if (other)
		switch_to(s, other, 0);
}

static void trampoline(unsigned lo, unsigned hi)
{
	struct sd__sim *s = (struct sd__sim *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
#ifdef SD_ASAN
	sd__fiber_arrived(s, NULL);
#endif
	struct sd__actor *me = s->cur;
	me->fn(me->arg);
	me->st = A_DONE;
	sd__wake_all(s); /* joiners */
	for (;;) {
		struct sd__actor *next = pick_runnable(s, me);
		if (!next) {
			int64_t t = next_event(s);
			if (t >= 0) {
				if (t > s->now)
					s->now = t;
				sd__advance(s);
				continue;
			}
			build_report(s);
			next = &s->main;
			next->st = A_RUNNABLE;
			next->why = W_DEADLOCK;
		}
		switch_to(s, next, 1);
	}
}

int sd__spawn(struct sd__sim *s, const char *name, void (*fn)(void *), void *arg)
{
	struct sd__actor *a = calloc(1, sizeof *a), **grown;
	if (!a)
		return -ENOMEM;
	grown = realloc(s->actors, (s->nactors + 1) * sizeof *grown);
	if (!grown) {
		free(a);
		return -ENOMEM;
	}
	s->actors = grown;
	a->stack_size = s->stack_kb * 1024;
	a->stack = mmap(NULL, a->stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (a->stack == MAP_FAILED) {
		free(a);
		return -ENOMEM;
	}
	a->asan_bottom = a->stack;
	a->asan_size = a->stack_size;
	a->id = (int)s->nactors + 1;
	snprintf(a->name, sizeof a->name, "%s", name && *name ? name : "actor");
	a->fn = fn;
	a->arg = arg;
	a->st = A_RUNNABLE;
	a->deadline = -1;
	getcontext(&a->ctx);
	a->ctx.uc_stack.ss_sp = a->stack;
	a->ctx.uc_stack.ss_size = a->stack_size;
	a->ctx.uc_link = NULL;
	uintptr_t p = (uintptr_t)s;
	makecontext(&a->ctx, (void (*)(void))trampoline, 2, (unsigned)(p & 0xffffffffu),
		    (unsigned)(p >> 32));
	s->actors[s->nactors++] = a;
	return a->id;
}

int sd__join(struct sd__sim *s, int id)
{
	char what[64];
	if (id <= 0 || (size_t)id > s->nactors || s->actors[id - 1]->st == A_JOINED ||
	    s->actors[id - 1] == s->cur)
		return -ESRCH;
	struct sd__actor *a = s->actors[id - 1];
	snprintf(what, sizeof what, "join(%s)", a->name);
	while (a->st != A_DONE)
		if (sd__park(s, what, -1) == W_DEADLOCK)
			return -EDEADLK;
	a->st = A_JOINED;
	munmap(a->stack, a->stack_size);
	a->stack = NULL;
	return 0;
}

int sd__sleep(struct sd__sim *s, int64_t ns)
{
	int64_t until = s->now + (ns > 0 ? ns : 0);
	while (s->now < until)
		if (sd__park(s, "sleep", until) == W_DEADLOCK)
			return -EDEADLK;
	return 0;
}
