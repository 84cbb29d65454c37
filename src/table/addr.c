/* sockdrill: parsing, printing and classifying IPv4/IPv6 socket addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/addr.h>

#include "../util/util.h"

static int sd__parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int sd_addr_parse(const char *text, uint16_t port, struct sockaddr_storage *out, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t hl;

	if (!text || !*text)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	if (text[0] == '[') { /* [v6] or [v6]:port */
		const char *close = strchr(text, ']');
		if (!close || (size_t)(close - text - 1) >= sizeof host)
			return -EINVAL;
		hl = (size_t)(close - text - 1);
		memcpy(host, text + 1, hl);
		host[hl] = 0;
		if (close[1] == ':') {
			if (sd__parse_port(close + 2, &port) < 0)
				return -EINVAL;
		} else if (close[1]) {
			return -EINVAL;
		}
	} else if ((colon = strchr(text, ':')) && !strchr(colon + 1, ':')) { /* v4:port */
		hl = (size_t)(colon - text);
		if (hl >= sizeof host || sd__parse_port(colon + 1, &port) < 0)
			return -EINVAL;
		memcpy(host, text, hl);
		host[hl] = 0;
	} else {
		if (strlen(text) >= sizeof host)
			return -EINVAL;
		strcpy(host, text);
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");

	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof *v4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof *v6;
		return 0;
	}
	return -EINVAL;
}

char *sd_addr_format(const struct sockaddr *addr, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(v4->sin_port));
	} else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(v6->sin6_port));
	} else {
		snprintf(buf, size, "?");
	}
	return buf;
}

int sd_addr_port(const struct sockaddr *addr, socklen_t len)
{
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)addr)->sin_port);
	if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return -EAFNOSUPPORT;
}

int sd_addr_is_loopback(const struct sockaddr *addr, socklen_t len)
{
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		uint32_t a = ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr);
		return (a >> 24) == 127;
	}
	if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

int sd_addr_is_wildcard(const struct sockaddr *addr, socklen_t len)
{
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ((const struct sockaddr_in *)addr)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		static const uint8_t zero4[4];
		return IN6_IS_ADDR_UNSPECIFIED(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && !memcmp(a->s6_addr + 12, zero4, 4));
	}
	return 0;
}

int sd__addr_permitted(int allow_other, const struct sockaddr *a, socklen_t len)
{
	if (allow_other || !a)
		return 1;
	if (a->sa_family == AF_INET && len < sizeof(struct sockaddr_in))
		return 1; /* too short: the kernel answers EINVAL itself */
	if (a->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6))
		return 1;
	if (a->sa_family != AF_INET && a->sa_family != AF_INET6)
		return 1; /* AF_UNSPEC (disconnect) and friends: the kernel decides */
	return sd_addr_is_loopback(a, len) || sd_addr_is_wildcard(a, len);
}
