/* sockdrill diff: programs generated, decoded from bytes, their ops' arguments and text. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include <sockdrill/sockdrill.h>

#include "../util/util.h"
#include "diff_int.h"

void sd_diff_decode(const uint8_t *data, size_t len, int max_ops, struct sd_diff_prog *p)
{
	if (max_ops > SD_DIFF_MAX_OPS)
		max_ops = SD_DIFF_MAX_OPS;
	p->n = 0;
	for (size_t i = 0; i + 4 <= len && p->n < max_ops; i += 4) {
		struct sd_diff_op *o = &p->op[p->n++];
		o->kind = data[i] % SD_DIFF_NKINDS;
		o->slot = data[i + 1] % SD_DIFF_SLOTS;
		o->a = data[i + 2];
		o->b = data[i + 3];
	}
}

/* The opening of a connected program: s0 listens, s1 connects to it, s2 is accepted (both
 * in the family a picks), as 4-byte ops: kind, slot, a, b. */
#define PAIR_OPS 6
static const uint8_t pair_ops[PAIR_OPS][4] = {
	{SD_DIFF_SOCKET, 0, 0, 0}, {SD_DIFF_BIND, 0, 0, 0},    {SD_DIFF_LISTEN, 0, 1, 0},
	{SD_DIFF_SOCKET, 1, 0, 0}, {SD_DIFF_CONNECT, 1, 0, 0}, {SD_DIFF_ACCEPT, 0, 0, 0},
};

void sd_diff_generate(uint64_t seed, int n, struct sd_diff_prog *p)
{
	uint8_t bytes[SD_DIFF_MAX_OPS * 4];
	uint64_t x = seed;
	if (n > SD_DIFF_MAX_OPS)
		n = SD_DIFF_MAX_OPS;
	for (int i = 0; i < n * 4; i++)
		bytes[i] = (uint8_t)sd__splitmix64(&x);
	/* Most programs need sockets first: bias the opening ops toward socket/bind/listen. */
	for (int i = 0; i < n && i < 4; i++)
		bytes[i * 4] = (uint8_t)(i < 2 ? SD_DIFF_SOCKET : bytes[i * 4] % 3);
	/* One program in four starts with an accepted connection, so that what needs a reader
	 * at the other end (held bytes, TCP_NOTSENT_LOWAT, the queues) is reached often: from
	 * scratch, few programs get that far. The choice comes from a stream of its own, so the
	 * other programs are the bytes a seed gave before. */
	uint64_t y = seed ^ 0x70a1c0de5eedull;
	if (n > PAIR_OPS && sd__splitmix64(&y) % 4 == 0) {
		int v6 = (int)(sd__splitmix64(&y) & 1);
		memcpy(bytes, pair_ops, sizeof pair_ops);
		bytes[0 * 4 + 2] = bytes[3 * 4 + 2] = (uint8_t)v6;
	}
	sd_diff_decode(bytes, (size_t)n * 4, n, p);
}

static const char *const kind_names[] = {
	"socket",    "bind",       "listen", "connect",  "accept", "send",        "recv",
	"shutdown",  "close",      "setopt", "so_error", "poll",   "getpeername", "epoll_create",
	"epoll_ctl", "epoll_wait", "dup",    "recvmsg",  "query",  "getsockopt",
};

/* The event sets an SD_DIFF_EPOLL_CTL op registers (b % 16). */
#define EP_SETS 16
static const uint32_t ep_sets[EP_SETS] = {
	EPOLLIN,
	EPOLLOUT,
	EPOLLIN | EPOLLOUT,
	EPOLLIN | EPOLLET,
	EPOLLIN | EPOLLOUT | EPOLLET,
	EPOLLIN | EPOLLONESHOT,
	EPOLLIN | EPOLLRDHUP,
	EPOLLIN | EPOLLRDHUP | EPOLLET | EPOLLONESHOT,
	EPOLLOUT | EPOLLET,
	EPOLLOUT | EPOLLONESHOT,
	EPOLLOUT | EPOLLET | EPOLLONESHOT,
	EPOLLIN | EPOLLOUT | EPOLLRDHUP,
	EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	EPOLLIN | EPOLLOUT | EPOLLONESHOT,
	EPOLLRDHUP,
	EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET | EPOLLONESHOT,
};

/* SD_DIFF_SETOPT (a % NOPTS): an int value, or for SO_LINGER {val, secs} */
#define NOPTS 16
static const struct setopt setopts[NOPTS] = {
	{SD__SO_REUSEADDR, 1, 0}, {SD__IPV6_V6ONLY, 1, 0},    {SD__SO_LINGER, 1, 0},
	{SD__SO_SNDBUF, 4096, 0}, {SD__SO_RCVBUF, 4096, 0},   {SD__SO_REUSEADDR, 0, 0},
	{SD__SO_LINGER, 0, 0},    {SD__SO_LINGER, 0, 5},      {SD__SO_KEEPALIVE, 1, 0},
	{SD__TCP_NODELAY, 1, 0},  {SD__SO_REUSEPORT, 1, 0},   {SD__TCP_INQ, 1, 0},
	{SD__SO_RCVLOWAT, 10, 0}, {SD__SO_RCVLOWAT, 1000, 0}, {SD__SO_PEEK_OFF, 0, 0},
	{SD__SO_PEEK_OFF, 5, 0},
};

/* SD_DIFF_RECVMSG (a % 6): every one returns at once on a non-blocking socket */
static const int msg_flags[6] = {
	MSG_DONTWAIT,
	MSG_PEEK,
	MSG_TRUNC | MSG_DONTWAIT,
	MSG_WAITALL | MSG_DONTWAIT,
	MSG_PEEK | MSG_TRUNC,
	MSG_PEEK | MSG_WAITALL,
};
/* SD_DIFF_SETOPT with b % 8 == 1 takes its option here instead (a % NOPTS2): the options
 * that hold bytes back or stop sends (TCP_CORK, TCP_NOTSENT_LOWAT) */
#define NOPTS2 5
static const struct setopt setopts2[NOPTS2] = {
	{SD__TCP_CORK, 1, 0},          {SD__TCP_CORK, 0, 0},
	{SD__TCP_NOTSENT_LOWAT, 1, 0}, {SD__TCP_NOTSENT_LOWAT, 16384, 0},
	{SD__TCP_NOTSENT_LOWAT, 0, 0},
};
const struct setopt *sd__diff_setopt_of(const struct sd_diff_op *o)
{
	return o->b % 8 == 1 ? &setopts2[o->a % NOPTS2] : &setopts[o->a % NOPTS];
}
/* SD_DIFF_SEND with b % 8 == 7 sends with MSG_MORE */
int sd__diff_send_more(const struct sd_diff_op *o)
{
	return o->kind == SD_DIFF_SEND && o->b % 8 == 7;
}

static const char *const msg_flag_names[6] = {
	"MSG_DONTWAIT",           "MSG_PEEK",
	"MSG_TRUNC|MSG_DONTWAIT", "MSG_WAITALL|MSG_DONTWAIT",
	"MSG_PEEK|MSG_TRUNC",     "MSG_PEEK|MSG_WAITALL",
};
static const char *const query_names[3] = {"ioctl SIOCINQ", "ioctl SIOCOUTQ", "getsockopt TCP_INQ"};
/* SD_DIFF_GETOPT (a % NGETOPTS) */
#define NGETOPTS 8
static const enum sd__opt getopts[NGETOPTS] = {
	SD__SO_LINGER,     SD__SO_KEEPALIVE, SD__TCP_NODELAY, SD__SO_REUSEADDR,
	SD__SO_ACCEPTCONN, SD__TCP_INFO,     SD__SO_RCVLOWAT, SD__SO_PEEK_OFF,
};

static const char *const addr_names[2][6] = {
	{"127.0.0.1", "0.0.0.0", "127.0.0.2", "::1", "127.255.255.254", "10.1.2.3"},
	{"::1", "::", "::ffff:127.0.0.1", "127.0.0.1", "::ffff:0.0.0.0", "10.1.2.3"},
};

const struct sd__sockopt *sd__diff_getopt_of(const struct sd_diff_op *o)
{
	return &sd__sockopts[getopts[o->a % NGETOPTS]];
}
int sd__diff_msg_flags(const struct sd_diff_op *o) { return msg_flags[o->a % 6]; }
uint32_t sd__diff_ep_set(const struct sd_diff_op *o) { return ep_sets[o->b % EP_SETS]; }

void sd__diff_make_addr(int v6, int choice, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	sd_addr_parse(addr_names[v6][choice], (uint16_t)port, ss, len);
}

/* A MSG_MORE send is small (below a segment), so that what it holds shows. */
size_t sd__diff_io_size(const struct sd_diff_op *o)
{
	if (sd__diff_send_more(o))
		return 1 + (size_t)o->a * 37;
	return 1 + (size_t)o->a * o->b * 37;
}

/* SD_DIFF_RECVMSG's control buffer (a / 48 % 4; a % 6 is the flags, a / 24 % 2 adds
 * MSG_CMSG_CLOEXEC): room for TCP_CM_INQ whole, none, less
 * than a header, a header without its int (put_cmsg cuts the last two with MSG_CTRUNC). */
size_t sd__diff_control_room(const struct sd_diff_op *o)
{
	static const size_t rooms[4] = {CMSG_SPACE(sizeof(int)), 0, 8, sizeof(struct cmsghdr) + 2};
	return rooms[o->a / 48 % 4];
}

char *sd_diff_op_format(const struct sd_diff_op *o, char *buf, size_t size)
{
	static const char *const rflags[] = {"0", "MSG_PEEK", "MSG_WAITALL", "MSG_DONTWAIT"};
	const char *k = kind_names[o->kind % SD_DIFF_NKINDS];
	switch (o->kind) {
	case SD_DIFF_SOCKET:
		snprintf(buf, size, "s%d = socket(%s)", o->slot, o->a & 1 ? "AF_INET6" : "AF_INET");
		break;
	case SD_DIFF_BIND:
		if (o->b % (SD_DIFF_SLOTS + 1))
			snprintf(buf, size, "bind(s%d, addr#%d, port of s%d)", o->slot, o->a % 6,
				 o->b % (SD_DIFF_SLOTS + 1) - 1);
		else
			snprintf(buf, size, "bind(s%d, addr#%d, port 0)", o->slot, o->a % 6);
		break;
	case SD_DIFF_LISTEN: snprintf(buf, size, "listen(s%d, %d)", o->slot, o->a % 4); break;
	case SD_DIFF_CONNECT:
		snprintf(buf, size, "connect(s%d, addr#%d, port of s%d)", o->slot, o->a % 4,
			 o->b % SD_DIFF_SLOTS);
		break;
	case SD_DIFF_SEND:
		snprintf(buf, size, "send(s%d, %zu%s)", o->slot, sd__diff_io_size(o),
			 sd__diff_send_more(o) ? ", MSG_MORE" : "");
		break;
	case SD_DIFF_RECV:
		snprintf(buf, size, "recv(s%d, %zu, %s)", o->slot, sd__diff_io_size(o),
			 rflags[o->a % 4]);
		break;
	case SD_DIFF_SHUTDOWN: snprintf(buf, size, "shutdown(s%d, %d)", o->slot, o->a % 3); break;
	case SD_DIFF_SETOPT: {
		const struct setopt *so = sd__diff_setopt_of(o);
		const struct sd__sockopt *opt = &sd__sockopts[so->opt];
		if (opt->kind == SD__KIND_LINGER)
			snprintf(buf, size, "setsockopt(s%d, %s={%d,%d})", o->slot, opt->name,
				 so->val, so->secs);
		else
			snprintf(buf, size, "setsockopt(s%d, %s=%d)", o->slot, opt->name, so->val);
		break;
	}
	case SD_DIFF_RECVMSG:
		snprintf(buf, size, "recvmsg(s%d, %zu, %s%s, control %zu)", o->slot,
			 sd__diff_io_size(o), msg_flag_names[o->a % 6],
			 o->a / 24 % 2 ? "|MSG_CMSG_CLOEXEC" : "", sd__diff_control_room(o));
		break;
	case SD_DIFF_DUP:
		if (o->a % 4 < 2)
			snprintf(buf, size, "dup(s%d)", o->slot);
		else if (o->a % 4 == 2)
			snprintf(buf, size, "dup2(s%d, s%d)", o->slot, o->b % SD_DIFF_SLOTS);
		else
			snprintf(buf, size, "dup3(s%d, s%d, %s)", o->slot, o->b % SD_DIFF_SLOTS,
				 (const char *[]){"0", "O_CLOEXEC",
						  "O_NONBLOCK"}[o->b / SD_DIFF_SLOTS % 3]);
		break;
	case SD_DIFF_QUERY: snprintf(buf, size, "%s(s%d)", query_names[o->a % 3], o->slot); break;
	case SD_DIFF_GETOPT:
		snprintf(buf, size, "getsockopt(s%d, %s)", o->slot, sd__diff_getopt_of(o)->name);
		break;
	case SD_DIFF_EPOLL_CREATE:
		snprintf(buf, size, "epoll_create(%s)", o->a & 1 ? "EPOLL_CLOEXEC" : "0");
		break;
	case SD_DIFF_EPOLL_CTL: {
		char ev[64];
		sd__pollflags_show(sd__diff_ep_set(o), SD__PF_EPOLL, "", ev, sizeof ev);
		snprintf(buf, size, "epoll_ctl(%s, s%d, %s)",
			 o->a % 3 == 0   ? "ADD"
			 : o->a % 3 == 1 ? "MOD"
					 : "DEL",
			 o->slot, ev);
		break;
	}
	case SD_DIFF_EPOLL_WAIT: snprintf(buf, size, "epoll_wait(0 ms)"); break;
	default: snprintf(buf, size, "%s(s%d)", k, o->slot); break;
	}
	return buf;
}
