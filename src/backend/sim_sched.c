/* sockdrill sim: actors, a seeded scheduler, virtual time and its timers, deadlock reports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* The sim whose actor (not main) runs on this OS thread, or NULL: what tells the thread,
 * clock and exit interposers that their caller is an actor. Set at every switch. */
static _Thread_local struct sd__sim *running;

struct sd__sim *sd__running(void) { return running; }

/* Actor states are mirrored in three bit sets indexed by slot (main is 0), runnable,
 * parked and parked on a key, so the scheduler's scans visit only the actors concerned, in
 * id order (slots keep it). Every change of an actor's state goes through here. */
void sd__set_state(struct sd__sim *s, struct sd__actor *a, enum sd__astate st)
{
	size_t w = a->slot / 64;
	uint64_t b = 1ull << (a->slot % 64);
	s->njoined += st == A_JOINED && a->st != A_JOINED;
	uint64_t run = s->runq[w] & ~b, park = s->parkq[w] & ~b; /* one store each */
	uint64_t key = s->keyq[w] & ~b;
	s->runq[w] = st == A_RUNNABLE ? run | b : run;
	s->parkq[w] = st == A_PARKED ? park | b : park;
	s->keyq[w] = st == A_PARKED && a->key ? key | b : key;
	a->st = st;
}

/* Set bits of a word, without the library call a build without -mpopcnt makes of the
 * builtin, and without branches: a loop per bit mispredicts as the count varies. */
static unsigned bits(uint64_t m)
{
	m = m - ((m >> 1) & 0x5555555555555555ull);
	m = (m & 0x3333333333333333ull) + ((m >> 2) & 0x3333333333333333ull);
	m = (m + (m >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((m * 0x0101010101010101ull) >> 56);
}

/* The position of the k-th lowest set bit (from 0) of m, which has n > k of them: the loop
 * runs n - 1 times whatever k is, so a random k costs no mispredicted exit. */
static unsigned kth_bit(uint64_t m, unsigned n, unsigned k)
{
	for (unsigned j = 0; j + 1 < n; j++) {
		uint64_t c = m & (m - 1);
		m = j < k ? c : m;
	}
	return (unsigned)__builtin_ctzll(m);
}

static struct sd__actor *actor_at(struct sd__sim *s, size_t i) { return s->actors[i]; }

/* What a lookup of a forgotten actor's id finds: one joined, with status 0. */
static const struct sd__actor forgotten = {.st = A_JOINED};

/* The actor with this id (slots are in id order: a binary search); &forgotten for an id
 * given and forgotten since, NULL for one never given. */
struct sd__actor *sd__actor_find(struct sd__sim *s, int id)
{
	if (id < 0 || id > s->last_id)
		return NULL;
	size_t lo = 0, hi = s->nactors + 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->actors[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo <= s->nactors && s->actors[lo]->id == id)
		return s->actors[lo];
	return (struct sd__actor *)&forgotten;
}

/* Frees the joined actors with status 0 (a lookup finds them as &forgotten); the others move
 * down in order, so the scheduler's id-order scans, and with them every decision, stay as
 * they were. */
static void forget_joined(struct sd__sim *s)
{
	size_t n = 0;
	for (size_t i = 1; i <= s->nactors; i++) {
		struct sd__actor *a = s->actors[i];
		if (a->st == A_JOINED && a->status == 0) {
			if (a == s->prev) /* reap_prev has no more use for it */
				s->prev = NULL;
			free(a);
			continue;
		}
		s->actors[++n] = a;
		a->slot = n;
	}
	s->nactors = n;
	s->njoined = 0;
	memset(s->runq, 0, s->qwords * sizeof *s->runq);
	memset(s->parkq, 0, s->qwords * sizeof *s->parkq);
	memset(s->keyq, 0, s->qwords * sizeof *s->keyq);
	for (size_t i = 0; i <= n; i++) { /* the bits again, at the new slots */
		struct sd__actor *a = s->actors[i];
		uint64_t b = 1ull << (a->slot % 64);
		s->runq[a->slot / 64] |= a->st == A_RUNNABLE ? b : 0;
		s->parkq[a->slot / 64] |= a->st == A_PARKED ? b : 0;
		s->keyq[a->slot / 64] |= a->st == A_PARKED && a->key ? b : 0;
		s->njoined += a->st == A_JOINED;
	}
}

int sd__sched_init(struct sd__sim *s)
{
	static _Atomic uint64_t serials;
	s->serial = ++serials;
	s->limit = -1;
	s->qwords = 1;
	s->runq = calloc(3, sizeof *s->runq);
	if (!s->runq)
		return -ENOMEM;
	s->parkq = s->runq + 1;
	s->keyq = s->runq + 2;
	s->actors = malloc(sizeof *s->actors);
	if (!s->actors) {
		free(s->runq);
		s->runq = NULL;
		return -ENOMEM;
	}
	s->actors[0] = &s->main;
	s->main.id = 0;
	snprintf(s->main.name, sizeof s->main.name, "main");
	s->main.deadline = -1;
	sd__set_state(s, &s->main, A_RUNNABLE);
	s->cur = &s->main;
	return 0;
}

void sd__sched_free(struct sd__sim *s)
{
	for (size_t i = 1; i <= s->nactors; i++) {
		struct sd__actor *a = s->actors[i];
		if (a->stack)
			sd__stack_free(a);
		free(a);
	}
	free(s->actors);
	free(s->runq);
	free(s->deadlock);
}

/* Gives back the stack of a detached actor that just ended, once off it. */
static void reap_prev(struct sd__sim *s)
{
	struct sd__actor *p = s->prev;
	if (p && p->detached && p->st == A_DONE && p->stack) {
		sd__stack_free(p);
		sd__set_state(s, p, A_JOINED);
	}
}

/* Moves from the running actor to `to`. `dying` says the current one never comes back. */
static void switch_to(struct sd__sim *s, struct sd__actor *to, int dying)
{
	struct sd__actor *from = s->cur;
	if (to == from)
		return;
	s->cur = to;
	s->prev = from;
	if (from == &s->main)
		s->outer = running;
	running = to == &s->main ? s->outer : s;
	from->saved_errno = errno;
	sd__coro_swap(s, from, to, dying);
	errno = from->saved_errno;
	reap_prev(s);
}

/* A seeded choice among the runnable actors, or NULL when none is: the k-th runnable one in
 * id order, k drawn below their number. */
static struct sd__actor *pick_runnable(struct sd__sim *s, const struct sd__actor *skip)
{
	size_t sw = skip ? skip->slot / 64 : 0;
	uint64_t sb = skip ? 1ull << (skip->slot % 64) : 0;
	if (s->qwords == 1) { /* up to 63 actors: one word */
		uint64_t m = s->runq[0] & ~sb;
		if (!m)
			return NULL;
		unsigned n = bits(m);
		return actor_at(s, kth_bit(m, n, sd__rand_below(s, n)));
	}
	uint32_t n = 0;
	for (size_t w = 0; w < s->qwords; w++)
		n += bits(s->runq[w] & (w == sw ? ~sb : ~0ull));
	if (!n)
		return NULL;
	uint32_t k = sd__rand_below(s, n);
	for (size_t w = 0; w < s->qwords; w++) {
		uint64_t m = s->runq[w] & (w == sw ? ~sb : ~0ull);
		uint32_t c = bits(m);
		if (k >= c) {
			k -= c;
			continue;
		}
		while (k--)
			m &= m - 1;
		return actor_at(s, w * 64 + (size_t)__builtin_ctzll(m));
	}
	return NULL;
}

/* The earliest pending time: a parked actor's deadline or an internal timer; -1 if none. */
static int64_t next_event(struct sd__sim *s)
{
	int64_t t = -1;
	for (size_t w = 0; w < s->qwords; w++)
		for (uint64_t m = s->parkq[w]; m; m &= m - 1) {
			struct sd__actor *a = actor_at(s, w * 64 + (size_t)__builtin_ctzll(m));
			if (a->deadline >= 0 && (t < 0 || a->deadline < t))
				t = a->deadline;
		}
	if (s->ntimers && (t < 0 || s->timers[0] < t))
		t = s->timers[0];
	return t;
}

void sd__wake_all(struct sd__sim *s)
{
	for (size_t w = 0; w < s->qwords; w++) {
		uint64_t m = s->parkq[w] & ~s->keyq[w]; /* a keyed park waits for its key */
		if (!m)
			continue;
		s->parkq[w] &= ~m;
		s->runq[w] |= m;
		for (; m; m &= m - 1) {
			struct sd__actor *a = actor_at(s, w * 64 + (size_t)__builtin_ctzll(m));
			a->st = A_RUNNABLE;
			a->why = W_WOKEN;
		}
	}
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
	for (size_t w = 0; w < s->qwords; w++)
		for (uint64_t m = s->parkq[w]; m; m &= m - 1) {
			struct sd__actor *a = actor_at(s, w * 64 + (size_t)__builtin_ctzll(m));
			if (a->deadline >= 0 && a->deadline <= s->now) {
				sd__set_state(s, a, A_RUNNABLE);
				a->why = W_TIMEOUT;
			}
		}
}

/* The time the scheduler may move the clock to when every actor waits: the next event,
 * or -1 when there is none before the time limit (then it is a deadlock). */
static int64_t next_move(struct sd__sim *s)
{
	int64_t t = next_event(s);
	return s->limit >= 0 && t > s->limit ? -1 : t;
}

static void build_report(struct sd__sim *s)
{
	size_t cap = 256 + (s->nactors + 1) * 160, len = 0;
	char *r = malloc(cap);
	if (!r)
		return;
	len += (size_t)snprintf(r, cap, "deadlock at t=%lld.%09lld: every actor is blocked",
				(long long)(s->now / 1000000000), (long long)(s->now % 1000000000));
	if (s->limit >= 0 && next_event(s) >= 0) /* waits that end, but not before the limit */
		len += (size_t)snprintf(
			r + len, cap - len, " until past the time limit t=%lld.%09lld",
			(long long)(s->limit / 1000000000), (long long)(s->limit % 1000000000));
	for (size_t i = 0; i <= s->nactors && len < cap; i++) {
		struct sd__actor *a = actor_at(s, i);
		if (a->st == A_PARKED)
			len += (size_t)snprintf(r + len, cap - len, "; %s (actor %d) waits in %s",
						a->name, a->id, a->wait);
	}
	free(s->deadlock);
	s->deadlock = r;
}

enum sd__wake sd__park_on(struct sd__sim *s, const void *key, const char *what, int64_t deadline,
			  int intr)
{
	struct sd__actor *me = s->cur, *next;
	if (intr && me->intr_pending) { /* interrupted before it could wait */
		me->intr_pending = 0;
		return W_INTR;
	}
	me->key = key;
	me->intr_ok = intr;
	me->park_seq = ++s->park_seq;
	sd__set_state(s, me, A_PARKED);
	me->deadline = deadline;
	me->why = W_WOKEN;
	me->wait = what; /* lives in the caller's frame, which outlasts the park */
	for (;;) {
		next = pick_runnable(s, NULL);
		if (next)
			break;
		int64_t t = next_move(s);
		if (t < 0) {
			/* Nothing can ever happen again: hand control to main with the news. */
			build_report(s);
			next = &s->main;
			next->why = W_DEADLOCK;
			break;
		}
		if (t > s->now)
			s->now = t;
		sd__advance(s);
	}
	sd__set_state(s, next, A_RUNNABLE);
	switch_to(s, next, 0);
	me->deadline = -1;
	me->key = NULL;
	me->intr_ok = 0;
	return me->why;
}

void sd__yield(struct sd__sim *s)
{
	struct sd__actor *other = pick_runnable(s, s->cur);
	if (other)
		switch_to(s, other, 0);
}

/* The running actor has ended: the next one runs, and this stack is never used again. */
_Noreturn void sd__finish(struct sd__sim *s)
{
	struct sd__actor *me = s->cur;
	sd__set_state(s, me, A_DONE);
	sd__wake_all(s); /* joiners */
	for (;;) {
		struct sd__actor *next = pick_runnable(s, me);
		if (!next) {
			int64_t t = next_move(s);
			if (t >= 0) {
				if (t > s->now)
					s->now = t;
				sd__advance(s);
				continue;
			}
			build_report(s);
			next = &s->main;
			sd__set_state(s, next, A_RUNNABLE);
			next->why = W_DEADLOCK;
		}
		switch_to(s, next, 1);
	}
}

void sd__actor_main(struct sd__sim *s)
{
#ifdef SD_ASAN
	sd__fiber_arrived(s, NULL);
#endif
	errno = 0; /* as in a new thread */
	reap_prev(s);
	struct sd__actor *me = s->cur;
	me->fn(me->arg);
	sd__finish(s);
}

int sd__spawn(struct sd__sim *s, const char *name, void (*fn)(void *), void *arg)
{
	if (s->njoined >= 64 && 2 * s->njoined >= s->nactors)
		forget_joined(s);
	struct sd__actor *a = calloc(1, sizeof *a), **grown;
	if (!a)
		return -ENOMEM;
	grown = realloc(s->actors, (s->nactors + 2) * sizeof *grown);
	if (!grown) {
		free(a);
		return -ENOMEM;
	}
	s->actors = grown;
	if ((s->nactors + 1) / 64 >= s->qwords) { /* the bit sets grow by doubling */
		size_t nw = s->qwords * 2;
		uint64_t *q = calloc(3 * nw, sizeof *q);
		if (!q) {
			free(a);
			return -ENOMEM;
		}
		memcpy(q, s->runq, s->qwords * sizeof *q);
		memcpy(q + nw, s->parkq, s->qwords * sizeof *q);
		memcpy(q + 2 * nw, s->keyq, s->qwords * sizeof *q);
		free(s->runq);
		s->runq = q;
		s->parkq = q + nw;
		s->keyq = q + 2 * nw;
		s->qwords = nw;
	}
	a->stack_size = s->stack_kb * 1024;
	a->stack = sd__stack_get(a->stack_size);
	if (!a->stack) {
		free(a);
		return -ENOMEM;
	}
	a->asan_bottom = a->stack;
	a->asan_size = a->stack_size;
	a->id = ++s->last_id;
	a->slot = s->nactors + 1;
	snprintf(a->name, sizeof a->name, "%s", name && *name ? name : "actor");
	a->fn = fn;
	a->arg = arg;
	a->deadline = -1;
	sd__coro_start(s, a);
	s->actors[++s->nactors] = a;
	sd__set_state(s, a, A_RUNNABLE);
	return a->id;
}

int sd__join(struct sd__sim *s, int id) { return sd__join_until(s, id, -1); }

/* The caller parks with the deadline as a sleep would, so the scheduler runs the others and
 * moves the virtual clock up to it at most; -1 waits without one. */
int sd__join_until(struct sd__sim *s, int id, int64_t deadline)
{
	char what[64];
	struct sd__actor *a = id > 0 ? sd__actor_find(s, id) : NULL;
	if (!a || a->st == A_JOINED || a == s->cur)
		return -ESRCH;
	snprintf(what, sizeof what, "join(%s)", a->name);
	while (a->st != A_DONE) {
		if (deadline >= 0 && s->now >= deadline)
			return -ETIMEDOUT;
		if (sd__park_on(s, NULL, what, deadline, 0) == W_DEADLOCK)
			return -EDEADLK;
	}
	sd__stack_free(a);
	sd__set_state(s, a, A_JOINED);
	return 0;
}

int sd__sleep(struct sd__sim *s, int64_t ns)
{
	int64_t until = s->now + (ns > 0 ? ns : 0);
	while (s->now < until)
		if (sd__park_on(s, NULL, "sleep", until, 0) == W_DEADLOCK)
			return -EDEADLK;
	return 0;
}

/* ---- internal timers --------------------------------------------------------------------- */

/* Internal timers form a binary min-heap on their time: the scheduler asks for the earliest
 * one at every park, and tens of thousands can be pending (SYN retries of a large demo). */
void sd__timer_add(struct sd__sim *s, int64_t at)
{
	if (s->ntimers && s->timers[0] == at)
		return; /* most timers fall on the same instant as the earliest */
	if (s->ntimers == s->timers_cap) {
		size_t cap = s->timers_cap ? s->timers_cap * 2 : 64;
		int64_t *t = realloc(s->timers, cap * sizeof *t);
		if (!t)
			return; /* a lost timer only delays a wake-up to the next event */
		s->timers = t;
		s->timers_cap = cap;
	}
	size_t i = s->ntimers++;
	while (i && s->timers[(i - 1) / 2] > at) {
		s->timers[i] = s->timers[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->timers[i] = at;
}

void sd__timer_pop(struct sd__sim *s)
{
	int64_t last = s->timers[--s->ntimers];
	size_t i = 0, n = s->ntimers;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && s->timers[c + 1] < s->timers[c])
			c++;
		if (s->timers[c] >= last)
			break;
		s->timers[i] = s->timers[c];
		i = c;
	}
	if (n)
		s->timers[i] = last;
}
