/* sockdrill scenarios: the names a scenario file uses for constants and flags (socket options
 * and poll flags are the shared tables' of util/sockopts.h). */
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "../util/sockopts.h"
#include "sc_internal.h"

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
	{"MSG_CTRUNC", MSG_CTRUNC},
	{"MSG_CMSG_CLOEXEC", MSG_CMSG_CLOEXEC},
	{"MSG_ERRQUEUE", MSG_ERRQUEUE},
	{"O_CLOEXEC", O_CLOEXEC},
	{"TCP_CM_INQ", TCP_INQ}, /* linux/tcp.h: TCP_CM_INQ is TCP_INQ */
	{"MSG_MORE", MSG_MORE},
	{"FIONREAD", FIONREAD},
	{"SIOCINQ", SIOCINQ},
	{"SIOCOUTQ", SIOCOUTQ},
	{"EPOLL_CTL_ADD", EPOLL_CTL_ADD},
	{"EPOLL_CTL_MOD", EPOLL_CTL_MOD},
	{"EPOLL_CTL_DEL", EPOLL_CTL_DEL},
	{"SHUT_RD", SHUT_RD},
	{"SHUT_WR", SHUT_WR},
	{"SHUT_RDWR", SHUT_RDWR},
};

/* What recvmsg may leave in msg_flags, in the order they are shown. */
static const struct {
	const char *name;
	int bit;
} msg_flags[] = {{"MSG_OOB", MSG_OOB},           {"MSG_CTRUNC", MSG_CTRUNC},
		 {"MSG_TRUNC", MSG_TRUNC},       {"MSG_EOR", MSG_EOR},
		 {"MSG_ERRQUEUE", MSG_ERRQUEUE}, {"MSG_CMSG_CLOEXEC", MSG_CMSG_CLOEXEC}};
#define NMSGF (sizeof msg_flags / sizeof msg_flags[0])

int sd__sc_is_msg_flag_name(const char *n)
{
	for (size_t i = 0; i < NMSGF; i++)
		if (!strcmp(msg_flags[i].name, n))
			return 1;
	return 0;
}

void sd__sc_show_msg_flags(int64_t v, char *out, size_t size)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < NMSGF && o < size; i++)
		if (v & msg_flags[i].bit) {
			o += (size_t)snprintf(out + o, size - o, "%s%s", o ? "|" : "",
					      msg_flags[i].name);
			v &= ~(int64_t)msg_flags[i].bit;
		}
	if ((v || !o) && o < size)
		snprintf(out + o, size - o, "%s%#llx", o ? "|" : "", (unsigned long long)v);
}

int sd__sc_lookup_const(const char *name, int64_t *out)
{
	for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
		if (!strcmp(consts[i].name, name)) {
			*out = consts[i].value;
			return 0;
		}
	/* EPOLLIN, EPOLLET, ... for epoll_ctl, as the C int epoll_event.events reads them
	 * (EPOLLET, bit 31, is negative); IN, OUT, ... for poll */
	const struct sd__pollflag *f;
	if (!strncmp(name, "EPOLL", 5) && (f = sd__pollflag_find(name + 5, SD__PF_EPOLL))) {
		*out = (int32_t)f->bit;
		return 0;
	}
	if ((f = sd__pollflag_find(name, SD__PF_POLL))) {
		*out = f->bit;
		return 0;
	}
	return -1;
}

int sd__sc_is_poll_name(const char *n) { return sd__pollflag_find(n, SD__PF_POLL) != NULL; }

void sd__sc_show_flags(int64_t v, char *out, size_t size)
{
	size_t o = sd__pollflags_show((uint64_t)v, SD__PF_POLL, "", out, size);
	/* the bits poll reports besides (POLLRDNORM, ...) are no news: not shown */
	v &= ~(int64_t)(sd__pollflags_mask(SD__PF_POLL) | POLLRDNORM | POLLWRNORM | POLLRDBAND |
			POLLWRBAND);
	if ((v || !o) && o < size)
		snprintf(out + o, size - o, "%s%lld", o ? "|" : "", (long long)v);
}
