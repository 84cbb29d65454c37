/* Glue helper for servers/: a reply matched against the reply a correct server gives, with
 * '#' standing for one or more digits (a Date header's time, a counter). */
#ifndef SD_SERVERS_REPLY_PATTERN_H
#define SD_SERVERS_REPLY_PATTERN_H

#include <stddef.h>

/* 1 when the rl bytes at r are pat exactly, each '#' matching a run of digits. */
static inline int sd_reply_matches(const char *pat, const unsigned char *r, size_t rl)
{
	size_t i = 0;
	for (; *pat; pat++) {
		if (i == rl)
			return 0;
		if (*pat != '#') {
			if (r[i++] != (unsigned char)*pat)
				return 0;
			continue;
		}
		if (r[i] < '0' || r[i] > '9')
			return 0;
		while (i < rl && r[i] >= '0' && r[i] <= '9')
			i++;
	}
	return i == rl;
}

#endif
