/* sockdrill: the C library's own functions, found lazily with dlsym(RTLD_NEXT) (src/libc.h). */
#include <dlfcn.h>
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
};

void sd__libc_resolve_all(void)
{
#define SD__EAGER(ret, name, params, args) find(&sd__libc.name, #name, 0);
	SD__LIBC_CALLS(SD__EAGER)
#undef SD__EAGER
	find(&sd__libc.fcntl, "fcntl", 0);
	find(&sd__libc.fcntl64, "fcntl64", 0);
	find(&sd__libc.ioctl, "ioctl", 0);
	find(&sd__libc.freeaddrinfo, "freeaddrinfo", 0);
	find(&sd__libc.closefrom, "closefrom", 0);
}
