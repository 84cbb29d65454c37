/* sockdrill interposition layer: the exported C library functions, made from calls.h. */
#include "layer.h"

#include <stdarg.h>
#include <stdio.h>

SD__LAYER_CALLS(SD__DEF_FD, SD__DEF_ANY, SD__DEF_VOID)

void sd__unsupported(const char *fmt, ...)
{
	char call[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call, sizeof call, fmt, ap);
	va_end(ap);
	sd__route_unsupported(call);
}
