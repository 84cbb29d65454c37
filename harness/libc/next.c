/* sockdrill in-process layer: finding the C library's own functions (harness/libc/next.h). */
#ifndef _GNU_SOURCE /* also built in user projects that do not define it */
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "next.h"

void *sd__next_fn[SD__NX_COUNT];

static const struct {
	const char *name;
	int interceptor;
} names[SD__NX_COUNT] = {
#define SD__NEXT_NAME(name, icpt) {#name, icpt},
	SD__NEXT_LIST(SD__NEXT_NAME)
#undef SD__NEXT_NAME
};

/* Whether a sanitizer runtime with interceptors sits in this program: every one of them
 * intercepts pthread_create. Asked once, so the probes of the others are only made then
 * (a failed dlsym allocates). */
static int interceptors(void)
{
	static int known, present;
	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		present = dlsym(RTLD_DEFAULT, "__interceptor_pthread_create") != NULL;
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	return present;
}

void *sd__next_resolve(int i)
{
	void *p = NULL;
	char icpt[80];
	if (names[i].interceptor && interceptors() &&
	    snprintf(icpt, sizeof icpt, "__interceptor_%s", names[i].name) < (int)sizeof icpt)
		p = dlsym(RTLD_DEFAULT, icpt);
	if (!p)
		p = dlsym(RTLD_NEXT, names[i].name);
	if (!p) {
		fprintf(stderr, "sockdrill: the C library has no %s()\n", names[i].name);
		abort();
	}
	__atomic_store_n(&sd__next_fn[i], p, __ATOMIC_RELEASE);
	return p;
}

/* Early (priority 101): the plain ones first, as resolving the others may allocate. */
__attribute__((constructor(101))) static void resolve_all(void)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < SD__NX_COUNT; i++)
			if (names[i].interceptor == pass && !sd__next_fn[i])
				sd__next_resolve(i);
}
