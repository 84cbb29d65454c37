/* sockdrill: the C library's own functions, found with dlsym before main or lazily
 * (src/util/libc.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "libc.h"

/* Stores the C library's definition of `name` in *slot. When it has none, a slot being called
 * stops the process; one filled ahead of time keeps its resolver (the program may never call
 * it, and an older C library may lack it). */
static void find(void *slot, const char *name, int calling)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p) {
		__atomic_store_n((void **)slot, p, __ATOMIC_RELAXED);
	} else if (calling) {
		/* dprintf writes through the C library's internal write, never an interposer */
		dprintf(2, "sockdrill: the C library has no %s\n", name);
		abort();
	}
}

/* The first call of each slot: look the name up, then make the call. */
#define SD__RESOLVER(ret, name, params, args)                                                      \
	static ret resolve_##name params                                                           \
	{                                                                                          \
		find(&sd__libc.name, #name, 1);                                                    \
		return SD__LIBC(name) args;                                                        \
	}
SD__LIBC_CALLS(SD__RESOLVER)
#undef SD__RESOLVER

/* fcntl and ioctl take at most one argument after the command, of pointer size at most (an int
 * is widened by the caller's register): it is read as a pointer and passed on, as the C
 * library's own wrappers do. */
static int resolve_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	find(&sd__libc.fcntl, "fcntl", 1);
	return SD__LIBC(fcntl)(fd, cmd, arg);
}

static int resolve_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	find(&sd__libc.fcntl64, "fcntl64", 1);
	return SD__LIBC(fcntl64)(fd, cmd, arg);
}

static int resolve_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	find(&sd__libc.ioctl, "ioctl", 1);
	return SD__LIBC(ioctl)(fd, req, arg);
}

/* prctl takes at most four arguments after the option, each an unsigned long (prctl(2)). */
static int resolve_prctl(int option, ...)
{
	va_list ap;
	unsigned long a[4];
	va_start(ap, option);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	find(&sd__libc.prctl, "prctl", 1);
	return SD__LIBC(prctl)(option, a[0], a[1], a[2], a[3]);
}

static void resolve_freeaddrinfo(struct addrinfo *ai)
{
	find(&sd__libc.freeaddrinfo, "freeaddrinfo", 1);
	SD__LIBC(freeaddrinfo)(ai);
}

static void resolve_closefrom(int lo)
{
	find(&sd__libc.closefrom, "closefrom", 1);
	SD__LIBC(closefrom)(lo);
}

struct sd__libc sd__libc = {
#define SD__INIT(ret, name, params, args) .name = resolve_##name,
	SD__LIBC_CALLS(SD__INIT)
#undef SD__INIT
		.fcntl = resolve_fcntl,
	.fcntl64 = resolve_fcntl64,
	.ioctl = resolve_ioctl,
	.freeaddrinfo = resolve_freeaddrinfo,
	.closefrom = resolve_closefrom,
	.prctl = resolve_prctl,
};

void *sd__libc_named[SD__LIBC_NAMED_COUNT];

static const struct {
	const char *name;
	int interceptor;
} named[SD__LIBC_NAMED_COUNT] = {
#define SD__NAMED_ENTRY(name, icpt) {#name, icpt},
	SD__LIBC_NAMED(SD__NAMED_ENTRY)
#undef SD__NAMED_ENTRY
};

/* Whether a sanitizer runtime with interceptors is in this program: every one of them
 * intercepts pthread_create. Asked once, so the other probes are made only then (a failed
 * dlsym allocates). */
static int interceptors(void)
{
	static int known, present;
	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		present = dlsym(RTLD_DEFAULT, "__interceptor_pthread_create") != NULL;
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	return present;
}

/* Entry i's function (NULL: none), stored. */
static void *find_named(int i)
{
	void *p = NULL;
	char icpt[80];
	if (named[i].interceptor && interceptors() &&
	    snprintf(icpt, sizeof icpt, "__interceptor_%s", named[i].name) < (int)sizeof icpt)
		p = dlsym(RTLD_DEFAULT, icpt);
	if (!p)
		p = dlsym(RTLD_NEXT, named[i].name);
	if (p)
		__atomic_store_n(&sd__libc_named[i], p, __ATOMIC_RELEASE);
	return p;
}

void *sd__libc_named_resolve(int i)
{
	void *p = find_named(i);
	if (!p) {
		dprintf(2, "sockdrill: the C library has no %s\n", named[i].name);
		abort();
	}
	return p;
}

/* The named entries with the given interceptor flag that are still empty. */
static void find_named_pass(int interceptor)
{
	for (int i = 0; i < SD__LIBC_NAMED_COUNT; i++)
		if (named[i].interceptor == interceptor &&
		    !__atomic_load_n(&sd__libc_named[i], __ATOMIC_ACQUIRE))
			find_named(i);
}

void sd__libc_resolve_all(void)
{
	/* The ones a sanitizer's allocator may call first: the later lookups may allocate. */
	find_named_pass(0);
#define SD__EAGER(ret, name, params, args) find(&sd__libc.name, #name, 0);
	SD__LIBC_CALLS(SD__EAGER)
#undef SD__EAGER
	find(&sd__libc.fcntl, "fcntl", 0);
	find(&sd__libc.fcntl64, "fcntl64", 0);
	find(&sd__libc.ioctl, "ioctl", 0);
	find(&sd__libc.freeaddrinfo, "freeaddrinfo", 0);
	find(&sd__libc.closefrom, "closefrom", 0);
	find(&sd__libc.prctl, "prctl", 0);
	find_named_pass(1);
}

/* Before main (src/util/libc.h says why), early among constructors so that few come first. */
__attribute__((constructor(101))) static void resolve_before_main(void)
{
	int saved = errno;
	sd__libc_resolve_all();
	errno = saved;
}
