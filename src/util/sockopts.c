/* sockdrill: the socket-option and poll-flag tables (sockopts.h). */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "sockopts.h"

const struct sd__sockopt sd__sockopts[SD__NSOCKOPTS] = {
	[SD__SO_REUSEADDR] = {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, SD__KIND_BOOL},
	[SD__SO_REUSEPORT] = {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, SD__KIND_BOOL},
	[SD__SO_KEEPALIVE] = {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, SD__KIND_BOOL},
	[SD__SO_SNDBUF] = {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, SD__KIND_INT},
	[SD__SO_RCVBUF] = {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, SD__KIND_INT},
	[SD__SO_LINGER] = {"SO_LINGER", SOL_SOCKET, SO_LINGER, SD__KIND_LINGER},
	[SD__SO_RCVTIMEO] = {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, SD__KIND_TIMEVAL},
	[SD__SO_SNDTIMEO] = {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, SD__KIND_TIMEVAL},
	[SD__TCP_NODELAY] = {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, SD__KIND_BOOL},
	[SD__IPV6_V6ONLY] = {"IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, SD__KIND_BOOL},
	[SD__SO_TYPE] = {"SO_TYPE", SOL_SOCKET, SO_TYPE, SD__KIND_INT},
	[SD__SO_ACCEPTCONN] = {"SO_ACCEPTCONN", SOL_SOCKET, SO_ACCEPTCONN, SD__KIND_BOOL},
	[SD__TCP_INQ] = {"TCP_INQ", IPPROTO_TCP, TCP_INQ, SD__KIND_BOOL},
	[SD__SO_PEEK_OFF] = {"SO_PEEK_OFF", SOL_SOCKET, SO_PEEK_OFF, SD__KIND_INT},
	[SD__SO_RCVLOWAT] = {"SO_RCVLOWAT", SOL_SOCKET, SO_RCVLOWAT, SD__KIND_INT},
	[SD__TCP_USER_TIMEOUT] = {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, SD__KIND_INT},
	[SD__TCP_MAXSEG] = {"TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG, SD__KIND_INT},
	[SD__IP_LOCAL_PORT_RANGE] = {"IP_LOCAL_PORT_RANGE", IPPROTO_IP, IP_LOCAL_PORT_RANGE,
				     SD__KIND_U32},
	[SD__TCP_NOTSENT_LOWAT] = {"TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT,
				   SD__KIND_U32},
	[SD__TCP_INFO] = {"TCP_INFO", IPPROTO_TCP, TCP_INFO, SD__KIND_TCP_INFO},
	[SD__TCP_CORK] = {"TCP_CORK", IPPROTO_TCP, TCP_CORK, SD__KIND_BOOL},
};

const struct sd__sockopt *sd__sockopt_by_name(const char *name)
{
	for (int i = 0; i < SD__NSOCKOPTS; i++)
		if (!strcmp(sd__sockopts[i].name, name))
			return &sd__sockopts[i];
	return NULL;
}

const struct sd__sockopt *sd__sockopt_find(int level, int optname)
{
	for (int i = 0; i < SD__NSOCKOPTS; i++)
		if (sd__sockopts[i].level == level && sd__sockopts[i].optname == optname)
			return &sd__sockopts[i];
	return NULL;
}

#define BOTH (SD__PF_POLL | SD__PF_EPOLL)
/* POLLIN is EPOLLIN and so on (the kernel's epoll reports the poll mask), so one bit each. */
const struct sd__pollflag sd__pollflags[] = {
	{"IN", POLLIN, BOTH},
	{"PRI", POLLPRI, BOTH},
	{"OUT", POLLOUT, BOTH},
	{"ERR", POLLERR, BOTH},
	{"HUP", POLLHUP, BOTH},
	{"NVAL", POLLNVAL, SD__PF_POLL},
	{"RDHUP", POLLRDHUP, BOTH},
	{"ET", (uint32_t)EPOLLET, SD__PF_EPOLL},
	{"ONESHOT", EPOLLONESHOT, SD__PF_EPOLL},
};
const int sd__npollflags = (int)(sizeof sd__pollflags / sizeof sd__pollflags[0]);
_Static_assert(POLLIN == EPOLLIN && POLLPRI == EPOLLPRI && POLLOUT == EPOLLOUT &&
		       POLLERR == EPOLLERR && POLLHUP == EPOLLHUP && POLLRDHUP == EPOLLRDHUP,
	       "a flag both calls know has one bit");

const struct sd__pollflag *sd__pollflag_find(const char *name, unsigned calls)
{
	for (int i = 0; i < sd__npollflags; i++)
		if ((sd__pollflags[i].calls & calls) && !strcmp(sd__pollflags[i].name, name))
			return &sd__pollflags[i];
	return NULL;
}

uint32_t sd__pollflags_mask(unsigned calls)
{
	uint32_t m = 0;
	for (int i = 0; i < sd__npollflags; i++)
		if (sd__pollflags[i].calls & calls)
			m |= sd__pollflags[i].bit;
	return m;
}

size_t sd__pollflags_show(uint64_t v, unsigned calls, const char *prefix, char *out, size_t size)
{
	size_t o = 0;
	if (size)
		out[0] = 0;
	for (int i = 0; i < sd__npollflags; i++) {
		const struct sd__pollflag *f = &sd__pollflags[i];
		if (!(f->calls & calls) || !(v & f->bit))
			continue;
		int n = snprintf(out + (o < size ? o : size), o < size ? size - o : 0, "%s%s%s",
				 o ? "|" : "", prefix, f->name);
		o += n > 0 ? (size_t)n : 0;
	}
	return o;
}
