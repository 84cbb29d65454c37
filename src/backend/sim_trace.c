/* sockdrill sim: the trace, one line per call, hashed and written when there is a file. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

#include "sim_internal.h"

/* Every line the trace gets is hashed, and written when there is a file. */
static void trace_line(struct sd__sim *s, const char *line)
{
	for (const char *p = line; *p; p++)
		s->trace_hash = (s->trace_hash ^ (unsigned char)*p) * 0x100000001b3ull;
	if (s->trace)
		fputs(line, s->trace);
}

void sd__trace(struct sd__sim *s, long result, const char *fmt, ...)
{
	char line[512], res[48];
	va_list ap;
	int n = snprintf(line, sizeof line, "%lld.%09lld %s ", (long long)(s->now / 1000000000),
			 (long long)(s->now % 1000000000), s->cur->name);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof line)
		snprintf(line + n, sizeof line - (size_t)n, " = %s\n",
			 sd_result_format(result, res, sizeof res));
	trace_line(s, line);
}

/* An endpoint as a trace shows it (an IPv4 one as a.b.c.d:port). */
const char *sd__epstr(const struct sd__ep *e, char *buf, size_t n)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(e->port)};
	memcpy(&a.sin6_addr, e->a, 16);
	if (sd__ep_is_v4(e)) {
		struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(e->port)};
		memcpy(&b.sin_addr, e->a + 12, 4);
		return sd_addr_format((struct sockaddr *)&b, sizeof b, buf, n);
	}
	return sd_addr_format((struct sockaddr *)&a, sizeof a, buf, n);
}

int sd__sim_note(void *state, const char *text)
{
	struct sd__sim *s = state;
	if (!text || strchr(text, '\n'))
		return -EINVAL;
	if (s->tracing) {
		char line[512];
		snprintf(line, sizeof line, "%lld.%09lld %s %s\n", (long long)(s->now / 1000000000),
			 (long long)(s->now % 1000000000), s->cur->name, text);
		trace_line(s, line);
	}
	return 0;
}
