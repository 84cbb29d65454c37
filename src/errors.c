/* sockdrill: errno <-> name table used by reports, traces and the scenario language. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sockdrill/errors.h>

#define E(x)                                                                                       \
	{                                                                                          \
		x, #x                                                                              \
	}
static const struct {
	int num;
	const char *name;
} table[] = {
	E(EPERM),           E(ENOENT),       E(EINTR),        E(EIO),          E(EBADF),
	E(EAGAIN),          E(ENOMEM),       E(EACCES),       E(EFAULT),       E(EBUSY),
	E(EEXIST),          E(ENODEV),       E(EINVAL),       E(ENFILE),       E(EMFILE),
	E(ENOSPC),          E(EPIPE),        E(ERANGE),       E(ENOSYS),       E(ENOTSOCK),
	E(EDESTADDRREQ),    E(EMSGSIZE),     E(EPROTOTYPE),   E(ENOPROTOOPT),  E(EPROTONOSUPPORT),
	E(ESOCKTNOSUPPORT), E(EOPNOTSUPP),   E(EPFNOSUPPORT), E(EAFNOSUPPORT), E(EADDRINUSE),
	E(EADDRNOTAVAIL),   E(ENETDOWN),     E(ENETUNREACH),  E(ENETRESET),    E(ECONNABORTED),
	E(ECONNRESET),      E(ENOBUFS),      E(EISCONN),      E(ENOTCONN),     E(ESHUTDOWN),
	E(ETIMEDOUT),       E(ECONNREFUSED), E(EHOSTDOWN),    E(EHOSTUNREACH), E(EALREADY),
	E(EINPROGRESS),     E(EPROTO),
};
#undef E

const char *sd_errname(int err)
{
	if (err < 0)
		err = -err;
	/* EWOULDBLOCK == EAGAIN and ENOTSUP == EOPNOTSUPP on Linux: the first entry names them. */
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].num == err)
			return table[i].name;
	return NULL;
}

int sd_errno_by_name(const char *name)
{
	if (!name)
		return 0;
	if (strcmp(name, "EWOULDBLOCK") == 0)
		return EWOULDBLOCK;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(table[i].name, name) == 0)
			return table[i].num;
	return 0;
}

char *sd_result_format(long result, char *buf, unsigned size)
{
	const char *n = result < 0 ? sd_errname((int)-result) : NULL;
	if (n)
		snprintf(buf, size, "-%s", n);
	else
		snprintf(buf, size, "%ld", result);
	return buf;
}
