/* sockdrill sim: the actors' coroutines, their stacks and the switch between them. */
#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "sim_internal.h"

/* Switching coroutines. swapcontext also saves and restores the signal mask, a system call
 * per switch, and under ASan clears the shadow of the whole target stack; a fuzz input of
 * a server switches thousands of times. On x86-64 a switch is instead the callee-saved
 * registers, the SSE and x87 control words and the stack pointer; a new actor starts in
 * sim__ctx_entry with the sim in rbx and the entry function in r12. */
#if defined(__x86_64__) && !defined(SD_SIM_UCONTEXT)
#define SD_FAST_SWITCH 1
void sim__ctx_swap(void **save_sp, void *load_sp);
void sim__ctx_entry(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl sim__ctx_swap\n"
	".hidden sim__ctx_swap\n"
	".type sim__ctx_swap,@function\n"
	"sim__ctx_swap:\n"
	"\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
	"\tsubq $8, %rsp\n\tstmxcsr (%rsp)\n\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n\tfldcw 4(%rsp)\n\taddq $8, %rsp\n"
	"\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
	"\tret\n"
	".size sim__ctx_swap, .-sim__ctx_swap\n"
	".p2align 4\n"
	".globl sim__ctx_entry\n"
	".hidden sim__ctx_entry\n"
	".type sim__ctx_entry,@function\n"
	"sim__ctx_entry:\n"
	"\tmovq %rbx, %rdi\n"
	"\tcallq *%r12\n"
	"\tud2\n"
	".size sim__ctx_entry, .-sim__ctx_entry\n");
#endif

/* A few stacks kept per thread for the next actors: a fuzz input spawns 2 to 5 actors on a
 * fresh sim, and a fresh mapping costs page faults on every one. Matched by size; a thread
 * that ends leaves its few behind. */
#define STACK_CACHE 8
static _Thread_local struct {
	void *p[STACK_CACHE];
	size_t size[STACK_CACHE];
	int n;
} stack_cache;

void *sim__stack_get(size_t size)
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

/* Gives back an actor's stack. Frames that never returned (every actor's entry frame, and
 * all of one abandoned mid-call when the sim closed while it was blocked) keep their
 * redzones poisoned in ASan's shadow; they are cleared first, or the next mapping at that
 * address would inherit them. */
void sim__stack_free(struct sim__actor *a)
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

#ifdef SD_ASAN
/* Called first thing after a switch lands: the sanitizer reports the bounds of the stack we
 * came from, which is how main's (not allocated by us) becomes known. */
void sim__fiber_arrived(struct sim__sim *s, void *fake)
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

#ifndef SD_FAST_SWITCH
static void trampoline(unsigned lo, unsigned hi)
{
	sim__actor_main((struct sim__sim *)(((uintptr_t)hi << 32) | (uintptr_t)lo));
}
#endif

/* Readies a new actor's stack so that the first switch to it enters sim__actor_main. */
void sim__coro_start(struct sim__sim *s, struct sim__actor *a)
{
#ifdef SD_FAST_SWITCH
	/* The frame sim__ctx_swap pops: control words, r15..r12, rbx, rbp, then the return
	 * address; after that ret the stack pointer is 16-byte aligned, as a call wants it. */
	uintptr_t top = ((uintptr_t)a->stack + a->stack_size - 16) & ~(uintptr_t)15;
	uint64_t *f = (uint64_t *)top - 8;
	f[0] = 0x1f80u | (uint64_t)0x037fu << 32;    /* default MXCSR; x87 control word */
	f[1] = f[2] = f[3] = 0;                      /* r15 r14 r13 */
	f[4] = (uint64_t)(uintptr_t)sim__actor_main; /* r12 */
	f[5] = (uint64_t)(uintptr_t)s;               /* rbx */
	f[6] = 0;                                    /* rbp */
	f[7] = (uint64_t)(uintptr_t)sim__ctx_entry;  /* return address */
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
}

/* The switch itself, from `from` to `to`, telling the sanitizer whose stack is next; returns
 * when `from` runs again. `dying`: `from` never does. */
void sim__coro_swap(struct sim__sim *s, struct sim__actor *from, struct sim__actor *to, int dying)
{
#ifdef SD_ASAN
	void *fake = NULL;
	__sanitizer_start_switch_fiber(dying ? NULL : &fake, to->asan_bottom, to->asan_size);
#else
	(void)dying;
#endif
#ifdef SD_FAST_SWITCH
	sim__ctx_swap(&from->sp, to->sp);
#else
	swapcontext(&from->ctx, &to->ctx);
#endif
#ifdef SD_ASAN
	sim__fiber_arrived(s, fake);
#else
	(void)s;
#endif
}
