/* sockdrill interposition layer: the exported C library functions, made from calls.h. */
#include "layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
