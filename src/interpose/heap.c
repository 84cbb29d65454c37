/* sockdrill in-process layer: the memory a server allocated during a run, given back after it,
 * as a process's memory goes when it ends (part of the fresh process of fresh.c).
 *
 * Only for a server archived by ci/real-servers, whose code lies in the section sd_srv_text:
 * an allocation is the server's when the allocating function was called from that code
 * directly (malloc, calloc, realloc, reallocarray, strdup, strndup, posix_memalign,
 * aligned_alloc, memalign); memory the C library allocates on the server's behalf (its
 * caches, a FILE) is the C library's and stays. A realloc of a server block stays the
 * server's, whoever calls it. So is what a C library call the server made allocates for it to
 * keep (regcomp, regexec's state cache, getline, getdelim, asprintf, vasprintf, realpath, opendir,
 * fdopendir). After the run every server block still allocated is freed, and every stream the
 * server opened with fopen and did not close is closed.
 *
 * The allocator underneath is the sanitizer's where the program has one (its interceptors,
 * found without dlsym, which itself allocates), else glibc's __libc_ functions. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sockdrill/sim.h>

#include "../util/libc.h"
#include "inproc.h"
#include "fresh.h"
#include "threads.h"

extern char __start_sd_srv_text[] __attribute__((weak));
extern char __stop_sd_srv_text[] __attribute__((weak));

/* A sanitizer's allocator (statically linked into the program), when there is one. */
extern void *__interceptor_malloc(size_t) __attribute__((weak));
extern void *__interceptor_calloc(size_t, size_t) __attribute__((weak));
extern void *__interceptor_realloc(void *, size_t) __attribute__((weak));
extern void __interceptor_free(void *) __attribute__((weak));
extern void *__interceptor_memalign(size_t, size_t) __attribute__((weak));
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static void *real_malloc(size_t n)
{
	return __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
}
static void *real_calloc(size_t k, size_t n)
{
	return __interceptor_calloc ? __interceptor_calloc(k, n) : __libc_calloc(k, n);
}
static void *real_realloc(void *p, size_t n)
{
	return __interceptor_realloc ? __interceptor_realloc(p, n) : __libc_realloc(p, n);
}
static void real_free(void *p)
{
	if (__interceptor_free)
		__interceptor_free(p);
	else
		__libc_free(p);
}
static void *real_memalign(size_t a, size_t n)
{
	return __interceptor_memalign ? __interceptor_memalign(a, n) : __libc_memalign(a, n);
}

/* ---- the set of the server's blocks: open addressing in mmap'd memory ------------------- */

#define EMPTY ((uintptr_t)0)
#define GONE  ((uintptr_t)1)

static uintptr_t *slots;
static size_t cap, used, live; /* used counts live and GONE slots */
static int lock;
static int active; /* a run is on: new server blocks are noted */
/* Inside a C library call the server made that allocates for it. Per thread: the server runs
 * on the thread that runs the sim (its threads are actors there), so an allocation another
 * thread makes meanwhile (the fuzz engine's own, e.g. libFuzzer's RSS thread) is not the
 * server's; counted as the server's, it was freed again after the run while that thread
 * still held it, or freed by that thread first and then by the run's end (a double free
 * seen under load in tinyproxy's regexec). */
static __thread int on_behalf __attribute__((tls_model("initial-exec")));

static void take(void)
{
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		;
}
static void give(void) { __atomic_store_n(&lock, 0, __ATOMIC_RELEASE); }

static size_t hash(uintptr_t p) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull); }

static int grow(void);

static void put(uintptr_t p)
{
	if ((used + 1) * 2 > cap && grow() < 0)
		return; /* no memory for the set: that block stays the process's */
	size_t i = hash(p) & (cap - 1);
	while (slots[i] != EMPTY && slots[i] != GONE)
		i = (i + 1) & (cap - 1);
	if (slots[i] == EMPTY)
		used++;
	slots[i] = p;
	live++;
}

static int drop(uintptr_t p)
{
	if (!live)
		return 0;
	for (size_t i = hash(p) & (cap - 1), n = 0; n < cap; i = (i + 1) & (cap - 1), n++) {
		if (slots[i] == EMPTY)
			return 0;
		if (slots[i] == p) {
			slots[i] = GONE;
			live--;
			return 1;
		}
	}
	return 0;
}

static int grow(void)
{
	size_t ncap = cap ? cap * 2 : 4096;
	while (live * 2 >= ncap)
		ncap *= 2;
	uintptr_t *ns = mmap(NULL, ncap * sizeof *ns, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ns == MAP_FAILED)
		return -1;
	uintptr_t *old = slots;
	size_t ocap = cap;
	slots = ns, cap = ncap, used = live = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i] != EMPTY && old[i] != GONE)
			put(old[i]);
	if (old)
		munmap(old, ocap * sizeof *old);
	return 0;
}

static int from_server_code(const void *ra)
{
	return (const char *)ra >= __start_sd_srv_text && (const char *)ra < __stop_sd_srv_text;
}

static int from_server(const void *ra)
{
	return __atomic_load_n(&active, __ATOMIC_RELAXED) && (on_behalf || from_server_code(ra));
}

static void *noted(void *p, const void *ra)
{
	if (p && from_server(ra)) {
		take();
		put((uintptr_t)p);
		give();
	}
	return p;
}

/* ---- the allocation functions ----------------------------------------------------------- */

void *malloc(size_t n) { return noted(real_malloc(n), __builtin_return_address(0)); }

void *calloc(size_t k, size_t n) { return noted(real_calloc(k, n), __builtin_return_address(0)); }

void free(void *p)
{
	if (p && __atomic_load_n(&live, __ATOMIC_RELAXED)) {
		take();
		drop((uintptr_t)p);
		give();
	}
	real_free(p);
}

static void *realloc_from(void *p, size_t n, const void *ra)
{
	int was = 0;
	if (p && __atomic_load_n(&live, __ATOMIC_RELAXED)) {
		take();
		was = drop((uintptr_t)p);
		give();
	}
	void *q = real_realloc(p, n);
	if (!q && p && n) { /* failed: the old block is still there */
		if (was) {
			take();
			put((uintptr_t)p);
			give();
		}
		return NULL;
	}
	if (q && (was || from_server(ra))) {
		take();
		put((uintptr_t)q);
		give();
	}
	return q;
}

void *realloc(void *p, size_t n) { return realloc_from(p, n, __builtin_return_address(0)); }

void *reallocarray(void *p, size_t k, size_t n)
{
	size_t total;
	if (__builtin_mul_overflow(k, n, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_from(p, total, __builtin_return_address(0));
}

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = real_malloc(n);
	if (p)
		memcpy(p, s, n);
	return noted(p, __builtin_return_address(0));
}

char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = real_malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return noted(p, __builtin_return_address(0));
}

void *memalign(size_t a, size_t n)
{
	return noted(real_memalign(a, n), __builtin_return_address(0));
}

void *aligned_alloc(size_t a, size_t n)
{
	return noted(real_memalign(a, n), __builtin_return_address(0));
}

int posix_memalign(void **out, size_t a, size_t n)
{
	if (a < sizeof(void *) || (a & (a - 1)))
		return EINVAL;
	void *p = real_memalign(a, n ? n : 1);
	if (!p)
		return ENOMEM;
	*out = noted(p, __builtin_return_address(0));
	return 0;
}

/* ---- C library calls that allocate for their caller ------------------------------------- */

/* The memory these return (a compiled regex, a line buffer, a formatted string, a path, a
 * directory stream) is the caller's: called by the server during a run, whatever they
 * allocate is noted as the server's. */
#define ON_BEHALF(ra, call)                                                                        \
	({                                                                                         \
		int mine_ = __atomic_load_n(&active, __ATOMIC_RELAXED) && from_server_code(ra);    \
		if (mine_)                                                                         \
			on_behalf++;                                                               \
		__typeof__(call) r_ = (call);                                                      \
		if (mine_)                                                                         \
			on_behalf--;                                                               \
		r_;                                                                                \
	})

int regcomp(regex_t *re, const char *pattern, int flags)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(regcomp)(re, pattern, flags));
}

/* regexec fills the compiled regex's state cache as it matches: more of the server's regex. */
/* Defined under its assembler name: <regex.h> declares the match array with a variable
 * bound, which a definition must not evaluate (nmatch may be 0). */
int sd__regexec(const regex_t *re, const char *s, size_t n, regmatch_t *m,
		int flags) __asm__("regexec");
int sd__regexec(const regex_t *re, const char *s, size_t n, regmatch_t *m, int flags)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(regexec)(re, s, n, m, flags));
}

ssize_t getdelim(char **line, size_t *n, int delim, FILE *f)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(getdelim)(line, n, delim, f));
}

ssize_t getline(char **line, size_t *n, FILE *f)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(getdelim)(line, n, '\n', f));
}

int vasprintf(char **out, const char *fmt, va_list ap)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(vasprintf)(out, fmt, ap));
}

int asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(vasprintf)(out, fmt, ap));
	va_end(ap);
	return r;
}

char *realpath(const char *path, char *resolved)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(realpath)(path, resolved));
}

DIR *opendir(const char *path)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(opendir)(path));
}

DIR *fdopendir(int fd)
{
	return ON_BEHALF(__builtin_return_address(0), SD__LIBC_FN(fdopendir)(fd));
}

/* ---- streams ---------------------------------------------------------------------------- */

static FILE *streams[256];
static int nstreams;

static FILE *stream_noted(FILE *f)
{
	struct sd_net sim;
	if (f && sd_inproc_net() && sd__in_actor(&sim) &&
	    nstreams < (int)(sizeof streams / sizeof *streams))
		streams[nstreams++] = f;
	return f;
}

static void stream_gone(FILE *f)
{
	for (int i = 0; i < nstreams; i++)
		if (streams[i] == f) {
			streams[i] = streams[--nstreams];
			return;
		}
}

FILE *fopen(const char *path, const char *mode)
{
	return stream_noted(SD__LIBC_FN(fopen)(path, mode));
}

FILE *fopen64(const char *path, const char *mode)
{
	return stream_noted(SD__LIBC_FN(fopen64)(path, mode));
}

int fclose(FILE *f)
{
	if (nstreams)
		stream_gone(f);
	return SD__LIBC_FN(fclose)(f);
}

/* ---- the run ---------------------------------------------------------------------------- */

int sd__heap_tracked(void) { return __start_sd_srv_text != NULL && sd__fresh_globals(); }

void sd__heap_begin(void)
{
	if (sd__heap_tracked())
		__atomic_store_n(&active, 1, __ATOMIC_RELAXED);
}

void sd__heap_end_streams(void)
{
	while (nstreams) {
		FILE *f = streams[nstreams - 1];
		fclose(f); /* drops it from the list */
	}
}

void sd__heap_end(void)
{
	__atomic_store_n(&active, 0, __ATOMIC_RELAXED);
	take();
	uintptr_t *s = slots;
	size_t n = cap;
	slots = NULL, cap = used = live = 0;
	give();
	for (size_t i = 0; i < n; i++)
		if (s[i] != EMPTY && s[i] != GONE)
			real_free((void *)s[i]);
	if (s)
		munmap(s, n * sizeof *s);
}
