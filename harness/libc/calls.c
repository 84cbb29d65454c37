/* sockdrill interposition layer: the exported C library functions, made from calls.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"

/* A descriptor in the table goes to the layer's body, any other to the C library: one load
 * when the table is empty, as it is in a program with no socket of the layer's. */
#define SD__DEF_FD(ret, name, params, args, fd)                                                    \
	SD__EXPORT ret name params                                                                 \
	{                                                                                          \
		struct sd__fdh *h = sd__fd_lookup(fd);                                             \
		if (h)                                                                             \
			return sd__on_##name(h, SD__STRIP args);                                   \
		return SD__LIBC(name) args;                                                        \
	}
#define SD__DEF_ANY(ret, name, params, args)                                                       \
	SD__EXPORT ret name params { return sd__on_##name args; }
#define SD__DEF_VOID(name, params, args)                                                           \
	SD__EXPORT void name params { sd__on_##name args; }

SD__LAYER_CALLS(SD__DEF_FD, SD__DEF_ANY, SD__DEF_VOID)

void sd__unsupported(const char *fmt, ...)
{
	char call[120], line[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call, sizeof call, fmt, ap);
	va_end(ap);
	int n = snprintf(line, sizeof line,
			 "sockdrill harness error: %s on a simulated socket is not supported\n",
			 call);
	if (n > 0)
		(void)!SD__LIBC(write)(2, line,
				       (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	abort();
}
