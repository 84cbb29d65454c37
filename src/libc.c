/* sockdrill: the C library's own functions, found lazily with dlsym(RTLD_NEXT) (src/libc.h). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>

#include "libc.h"

/* Stores the C library's definition of `name` in *slot. */
static void bind_slot(void *slot, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		/* dprintf writes through the C library's internal write, never an interposer */
		dprintf(2, "sockdrill: the C library has no %s\n", name);
		abort();
	}
	__atomic_store_n((void **)slot, p, __ATOMIC_RELAXED);
}

/* The first call of each slot: look the name up, then make the call. */
#define SD__RESOLVER(ret, name, params, args)                                                      \
	static ret resolve_##name params                                                           \
	{                                                                                          \
		bind_slot(&sd__libc.name, #name);                                                  \
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
	bind_slot(&sd__libc.fcntl, "fcntl");
	return SD__LIBC(fcntl)(fd, cmd, arg);
}

static int resolve_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	bind_slot(&sd__libc.fcntl64, "fcntl64");
	return SD__LIBC(fcntl64)(fd, cmd, arg);
}

static int resolve_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	bind_slot(&sd__libc.ioctl, "ioctl");
	return SD__LIBC(ioctl)(fd, req, arg);
}

static void resolve_freeaddrinfo(struct addrinfo *ai)
{
	bind_slot(&sd__libc.freeaddrinfo, "freeaddrinfo");
	SD__LIBC(freeaddrinfo)(ai);
}

static void resolve_closefrom(int lo)
{
	bind_slot(&sd__libc.closefrom, "closefrom");
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
#define SD__EAGER(ret, name, params, args) bind_slot(&sd__libc.name, #name);
	SD__LIBC_CALLS(SD__EAGER)
#undef SD__EAGER
	bind_slot(&sd__libc.fcntl, "fcntl");
	bind_slot(&sd__libc.fcntl64, "fcntl64");
	bind_slot(&sd__libc.ioctl, "ioctl");
	bind_slot(&sd__libc.freeaddrinfo, "freeaddrinfo");
	bind_slot(&sd__libc.closefrom, "closefrom");
}
