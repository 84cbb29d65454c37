/* sockdrill: the `trace` wrapper's pieces of a line made from a call's own arguments:
 * addresses as the socket reads them, and the int an option was set to or read back. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <sockdrill/addr.h>

#include "trace_int.h"

/* The address a socket of family v6 (1) or IPv4 (0) takes from a caller's sockaddr, as
 * bind and connect read it: an IPv4 one as its IPv4-mapped IPv6 form, an AF_UNSPEC wildcard
 * on an IPv4 socket as 0.0.0.0. 0 and *ep set, or -1 where the call itself refuses the
 * address (too short, the other family), which leaves *ep zero. */
static int read_ep(int v6, const struct sockaddr *a, socklen_t len, struct sockaddr_in6 *ep)
{
	memset(ep, 0, sizeof *ep);
	ep->sin6_family = AF_INET6;
	if (!a)
		return -1;
	if (!v6) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;
		if (len < sizeof *in ||
		    (a->sa_family != AF_INET &&
		     !(a->sa_family == AF_UNSPEC && in->sin_addr.s_addr == htonl(INADDR_ANY))))
			return -1;
		ep->sin6_addr.s6_addr[10] = ep->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&ep->sin6_addr.s6_addr[12], &in->sin_addr, 4);
		ep->sin6_port = in->sin_port;
		return 0;
	}
	if (len < 24 || a->sa_family != AF_INET6) /* 24: SIN6_LEN_RFC2133, no scope id */
		return -1;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
	ep->sin6_addr = in6->sin6_addr;
	ep->sin6_port = in6->sin6_port;
	return 0;
}

/* An endpoint as a line shows it: an IPv4-mapped one as a.b.c.d:port, any other as
 * [v6]:port (the zero endpoint of a refused address as [::]:0). */
static const char *ep_str(const struct sockaddr_in6 *ep, char *buf, size_t n)
{
	if (IN6_IS_ADDR_V4MAPPED(&ep->sin6_addr)) {
		struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = ep->sin6_port};
		memcpy(&b.sin_addr, &ep->sin6_addr.s6_addr[12], 4);
		return sd_addr_format((struct sockaddr *)&b, sizeof b, buf, n);
	}
	return sd_addr_format((const struct sockaddr *)ep, sizeof *ep, buf, n);
}

/* Whether fd's socket is IPv6: as the wrapper saw it made, else by the address's family. */
static int is_v6(struct tstate *t, int fd, const struct sockaddr *a)
{
	int fam = trace__family(t, fd);
	if (fam)
		return fam == AF_INET6;
	return a && a->sa_family == AF_INET6;
}

const char *trace__bind_addr(struct tstate *t, int fd, const struct sockaddr *a, socklen_t len,
			     int rc, char *buf, size_t n)
{
	struct sockaddr_in6 ep = {.sin6_family = AF_INET6};
	if (rc == -EBADF)
		return "?";
	/* no socket there, or refused by the loopback policy before the address was read: the
	 * zero endpoint, as for an address the call refuses */
	if (rc != -ENOTSOCK && rc != -EPERM)
		read_ep(is_v6(t, fd, a), a, len, &ep);
	return ep_str(&ep, buf, n);
}

const char *trace__connect_addr(struct tstate *t, int fd, const struct sockaddr *a, socklen_t len,
				int rc, char *buf, size_t n)
{
	struct sockaddr_in6 ep;
	/* "?" for what never became a destination: no socket, the policy's refusal, no address,
	 * AF_UNSPEC (a disconnect), an address of the wrong length or family */
	if (rc == -EBADF || rc == -ENOTSOCK || rc == -EPERM || !a || len < sizeof(sa_family_t) ||
	    a->sa_family == AF_UNSPEC || read_ep(is_v6(t, fd, a), a, len, &ep) < 0)
		return "?";
	return ep_str(&ep, buf, n);
}

/* Options whose value is a struct, not an int: a line shows 0 for them. */
static int struct_valued(int level, int name)
{
	return level == SOL_SOCKET &&
	       (name == SO_LINGER || name == SO_RCVTIMEO || name == SO_SNDTIMEO);
}

int trace__set_value(int level, int name, const void *v, socklen_t l, int rc)
{
	int iv = 0;
	/* no socket; a value shorter than an int; an option the socket does not know (SOL_SOCKET
	 * reads the int before it finds out, the other levels do not) */
	if (rc == -EBADF || rc == -ENOTSOCK || !v || l < sizeof iv || struct_valued(level, name) ||
	    (rc == -ENOPROTOOPT && level != SOL_SOCKET))
		return 0;
	memcpy(&iv, v, sizeof iv);
	return iv;
}

int trace__get_value(int level, int name, const void *v, const socklen_t *l, int rc)
{
	int iv = 0;
	if (rc != 0 || !v || !l || struct_valued(level, name))
		return 0;
	if (level == IPPROTO_TCP && name == TCP_INFO) /* its state, the struct's first byte */
		return *l >= 1 ? ((const struct tcp_info *)v)->tcpi_state : 0;
	memcpy(&iv, v, *l < sizeof iv ? *l : sizeof iv);
	return iv;
}
