/* sockdrill sim: actors as coroutines, a seeded scheduler, virtual time, deadlock reports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim_internal.h"

/* Switching coroutines. swapcontext also saves and restores the signal mask, a system call
 * per switch, and under ASan clears the shadow of the whole target stack; a fuzz input of
 * a server switches thousands of times. On x86-64 a switch is instead the callee-saved
 * registers, the SSE and x87 control words and the stack pointer; a new actor starts in
 * sd__ctx_entry with the sim in rbx and the entry function in r12. */
#if defined(__x86_64__) && !defined(SD_SIM_UCONTEXT)
#define SD_FAST_SWITCH 1
void sd__ctx_swap(void **save_sp, void *load_sp);
void sd__ctx_entry(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl sd__ctx_swap\n"
	".hidden sd__ctx_swap\n"
	".type sd__ctx_swap,@function\n"
	"sd__ctx_swap:\n"
	"\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
	"\tsubq $8, %rsp\n\tstmxcsr (%rsp)\n\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n\tfldcw 4(%rsp)\n\taddq $8, %rsp\n"
	"\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
	"\tret\n"
	".size sd__ctx_swap, .-sd__ctx_swap\n"
	".p2align 4\n"
	".globl sd__ctx_entry\n"
	".hidden sd__ctx_entry\n"
	".type sd__ctx_entry,@function\n"
	"sd__ctx_entry:\n"
	"\tmovq %rbx, %rdi\n"
	"\tcallq *%r12\n"
	"\tud2\n"
	".size sd__ctx_entry, .-sd__ctx_entry\n");
#endif

/* Actor states are mirrored in two bit sets indexed by actor id (main is 0), runnable and
 * parked, so the scheduler's scans visit only the actors concerned, in id order. Every
 * change of an actor's state goes through here. */
static void set_state(struct sd__sim *s, struct sd__actor *a, enum sd__astate st)
{
	size_t w = (size_t)a->id / 64;
	uint64_t b = 1ull << (a->id % 64);
	uint64_t run = s->runq[w] & ~b, park = s->parkq[w] & ~b; /* one store each */
	s->runq[w] = st == A_RUNNABLE ? run | b : run;
	s->parkq[w] = st == A_PARKED ? park | b : park;
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

/* Gives back an actor's stack. Frames that never returned (every actor's entry frame, and
 * all of one abandoned mid-call when the sim closed while it was blocked) keep their
 * redzones poisoned in ASan's shadow; they are cleared first, or the next mapping at that
 * address would inherit them. */
/* A few stacks kept per thread for the next actors: a fuzz input spawns 2 to 5 actors on a
 * fresh sim, and a fresh mapping costs page faults on every one. Matched by size; a thread
 * that ends leaves its few behind. */
#define STACK_CACHE 8
static _Thread_local struct {
	void *p[STACK_CACHE];
	size_t size[STACK_CACHE];
	int n;
} stack_cache;

static void *get_stack(size_t size)
{
	for (int i = stack_cache.n - 1; i >= 0; i--)
		if (stack_cache.size[i] == size) {
			void *p = stack_cache.p[i];
			stack_cache.n--;
			stack_cache.p[i] = stack_cache.p[stack_cache.n];
			stack_cache.size[i] = stack_cache.size[stack_cache.n];
			return p;
		}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void free_stack(struct sd__actor *a)
{
#ifdef SD_ASAN
	__asan_unpoison_memory_region(a->stack, a->stack_size);
#endif
	if (stack_cache.n < STACK_CACHE) {
		stack_cache.p[stack_cache.n] = a->stack;
		stack_cache.size[stack_cache.n++] = a->stack_size;
	} else {
		munmap(a->stack, a->stack_size);
	}
	a->stack = NULL;
}

int sd__sched_init(struct sd__sim *s)
{
	s->qwords = 1;
	s->runq = calloc(2, sizeof *s->runq);
	if (!s->runq)
		return -ENOMEM;
	s->parkq = s->runq + 1;
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
	set_state(s, &s->main, A_RUNNABLE);
	s->cur = &s->main;
	return 0;
}

void sd__sched_free(struct sd__sim *s)
{
	for (size_t i = 1; i <= s->nactors; i++) {
		struct sd__actor *a = s->actors[i];
		if (a->stack)
			free_stack(a);
		free(a);
	}
	free(s->actors);
	free(s->runq);
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
#else
	(void)dying;
#endif
#ifdef SD_FAST_SWITCH
	sd__ctx_swap(&from->sp, to->sp);
#else
	swapcontext(&from->ctx, &to->ctx);
#endif
#ifdef SD_ASAN
	sd__fiber_arrived(s, fake);
#endif
}

/* A seeded choice among the runnable actors, or NULL when none is: the k-th runnable one in
 * id order, k drawn below their number. */
static struct sd__actor *pick_runnable(struct sd__sim *s, const struct sd__actor *skip)
{
	size_t sw = skip ? (size_t)skip->id / 64 : 0;
	uint64_t sb = skip ? 1ull << (skip->id % 64) : 0;
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
		uint64_t m = s->parkq[w];
		if (!m)
			continue;
		s->parkq[w] = 0;
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
				set_state(s, a, A_RUNNABLE);
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
	set_state(s, me, A_PARKED);
	me->deadline = deadline;
	me->why = W_WOKEN;
	me->wait = what; /* lives in the caller's frame, which outlasts the park */
	for (;;) {
		next = pick_runnable(s, NULL);
		if (next)
			break;
		int64_t t = next_event(s);
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
	set_state(s, next, A_RUNNABLE);
	switch_to(s, next, 0);
	me->deadline = -1;
	return me->why;
}

void sd__yield(struct sd__sim *s)
{
	struct sd__actor *other = pick_runnable(s, s->cur);
	if (other)
		switch_to(s, other, 0);
}

static void actor_main(struct sd__sim *s)
{
#ifdef SD_ASAN
	sd__fiber_arrived(s, NULL);
#endif
	struct sd__actor *me = s->cur;
	me->fn(me->arg);
	set_state(s, me, A_DONE);
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
			set_state(s, next, A_RUNNABLE);
			next->why = W_DEADLOCK;
		}
		switch_to(s, next, 1);
	}
}

#ifndef SD_FAST_SWITCH
static void trampoline(unsigned lo, unsigned hi)
{
	actor_main((struct sd__sim *)(((uintptr_t)hi << 32) | (uintptr_t)lo));
}
#endif

int sd__spawn(struct sd__sim *s, const char *name, void (*fn)(void *), void *arg)
{
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
		uint64_t *q = calloc(2 * nw, sizeof *q);
		if (!q) {
			free(a);
			return -ENOMEM;
		}
		memcpy(q, s->runq, s->qwords * sizeof *q);
		memcpy(q + nw, s->parkq, s->qwords * sizeof *q);
		free(s->runq);
		s->runq = q;
		s->parkq = q + nw;
		s->qwords = nw;
	}
	a->stack_size = s->stack_kb * 1024;
	a->stack = get_stack(a->stack_size);
	if (!a->stack) {
		free(a);
		return -ENOMEM;
	}
	a->asan_bottom = a->stack;
	a->asan_size = a->stack_size;
	a->id = (int)s->nactors + 1;
	snprintf(a->name, sizeof a->name, "%s", name && *name ? name : "actor");
	a->fn = fn;
	a->arg = arg;
	a->deadline = -1;
#ifdef SD_FAST_SWITCH
	/* The frame sd__ctx_swap pops: control words, r15..r12, rbx, rbp, then the return
	 * address; after that ret the stack pointer is 16-byte aligned, as a call wants it. */
	uintptr_t top = ((uintptr_t)a->stack + a->stack_size - 16) & ~(uintptr_t)15;
	uint64_t *f = (uint64_t *)top - 8;
	f[0] = 0x1f80u | (uint64_t)0x037fu << 32;  /* default MXCSR; x87 control word */
	f[1] = f[2] = f[3] = 0;                    /* r15 r14 r13 */
	f[4] = (uint64_t)(uintptr_t)actor_main;    /* r12 */
	f[5] = (uint64_t)(uintptr_t)s;             /* rbx */
	f[6] = 0;                                  /* rbp */
	f[7] = (uint64_t)(uintptr_t)sd__ctx_entry; /* return address */
	a->sp = f;
#else
	getcontext(&a->ctx);
	a->ctx.uc_stack.ss_sp = a->stack;
	a->ctx.uc_stack.ss_size = a->stack_size;
	a->ctx.uc_link = NULL;
	uintptr_t p = (uintptr_t)s;
	makecontext(&a->ctx, (void (*)(void))trampoline, 2, (unsigned)(p & 0xffffffffu),
		    (unsigned)(p >> 32));
#endif
	s->actors[++s->nactors] = a;
	set_state(s, a, A_RUNNABLE);
	return a->id;
}

int sd__join(struct sd__sim *s, int id)
{
	char what[64];
	if (id <= 0 || (size_t)id > s->nactors || s->actors[id]->st == A_JOINED ||
	    s->actors[id] == s->cur)
		return -ESRCH;
	struct sd__actor *a = s->actors[id];
	snprintf(what, sizeof what, "join(%s)", a->name);
	while (a->st != A_DONE)
		if (sd__park(s, what, -1) == W_DEADLOCK)
			return -EDEADLK;
	free_stack(a);
	set_state(s, a, A_JOINED);
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
