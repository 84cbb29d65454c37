/* sockdrill scenarios: the names a scenario file uses for constants, options and poll flags. */
#include <linux/sockios.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sc_internal.h"

/* Option names stand for these numbers until the runner maps them to (level, name).
 * TCP_INFO is getsockopt's only: the state. */
enum { OPT_BASE = 100000 };
static const char *const opt_names[] = {
	"SO_REUSEADDR", "SO_REUSEPORT",        "SO_KEEPALIVE",      "SO_SNDBUF",
	"SO_RCVBUF",    "SO_LINGER",           "SO_RCVTIMEO",       "SO_SNDTIMEO",
	"TCP_NODELAY",  "IPV6_V6ONLY",         "SO_TYPE",           "SO_ACCEPTCONN",
	"TCP_INQ",      "SO_PEEK_OFF",         "SO_RCVLOWAT",       "TCP_USER_TIMEOUT",
	"TCP_MAXSEG",   "IP_LOCAL_PORT_RANGE", "TCP_NOTSENT_LOWAT", "TCP_INFO"};
#define NOPTS (int)(sizeof opt_names / sizeof opt_names[0])

static const struct {
	const char *name;
	int64_t value;
} consts[] = {
	{"inet", AF_INET},
	{"inet6", AF_INET6},
	{"NONBLOCK", SOCK_NONBLOCK},
	{"MSG_PEEK", MSG_PEEK},
	{"MSG_WAITALL", MSG_WAITALL},
	{"MSG_DONTWAIT", MSG_DONTWAIT},
	{"MSG_NOSIGNAL", MSG_NOSIGNAL},
	{"MSG_OOB", MSG_OOB},
	{"MSG_TRUNC", MSG_TRUNC},
	{"MSG_EOR", MSG_EOR}, /* accepted; on a loopback stream the reader sees no boundary */
	{"FIONREAD", FIONREAD},
	{"SIOCINQ", SIOCINQ},
	{"SIOCOUTQ", SIOCOUTQ},
	{"EPOLL_CTL_ADD", EPOLL_CTL_ADD},
	{"EPOLL_CTL_MOD", EPOLL_CTL_MOD},
	{"EPOLL_CTL_DEL", EPOLL_CTL_DEL},
	{"EPOLLIN", EPOLLIN},
	{"EPOLLOUT", EPOLLOUT},
	{"EPOLLRDHUP", EPOLLRDHUP},
	{"EPOLLPRI", EPOLLPRI},
	{"EPOLLERR", EPOLLERR},
	{"EPOLLHUP", EPOLLHUP},
	{"EPOLLET", (int32_t)EPOLLET}, /* bit 31: as the C int epoll_event.events is read as */
	{"EPOLLONESHOT", EPOLLONESHOT},
	{"SHUT_RD", SHUT_RD},
	{"SHUT_WR", SHUT_WR},
	{"SHUT_RDWR", SHUT_RDWR},
	{"IN", POLLIN},
	{"OUT", POLLOUT},
	{"ERR", POLLERR},
	{"HUP", POLLHUP},
	{"RDHUP", POLLRDHUP},
	{"NVAL", POLLNVAL},
	{"PRI", POLLPRI},
};
static const char *const poll_names[] = {"IN", "OUT", "ERR", "HUP", "RDHUP", "NVAL", "PRI"};

int sd__sc_option(int64_t v)
{
	return v >= OPT_BASE && v < OPT_BASE + NOPTS ? (int)(v - OPT_BASE) : -1;
}
const char *sd__sc_option_name(int i) { return opt_names[i]; }

/* Options whose value is the kernel's u32: a file gives and reads it as 0..4294967295. */
int sd__sc_option_u32(int i)
{
	return i >= 0 && (!strcmp(opt_names[i], "IP_LOCAL_PORT_RANGE") ||
			  !strcmp(opt_names[i], "TCP_NOTSENT_LOWAT"));
}

int sd__sc_lookup_const(const char *name, int64_t *out)
{
	for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
		if (!strcmp(consts[i].name, name)) {
			*out = consts[i].value;
			return 0;
		}
	for (int i = 0; i < NOPTS; i++)
		if (!strcmp(opt_names[i], name)) {
			*out = OPT_BASE + i;
			return 0;
		}
	return -1;
}

int sd__sc_is_poll_name(const char *n)
{
	for (size_t i = 0; i < sizeof poll_names / sizeof poll_names[0]; i++)
		if (!strcmp(poll_names[i], n))
			return 1;
	return 0;
}
