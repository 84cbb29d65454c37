/* sockdrill: op programs run on any backend with normalized outcomes, for differential tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>
#include <sockdrill/diff.h>

#include "kports.h"
#include "util/util.h"

/* Beyond this many unread bytes on a connection the two stacks' buffer sizes differ
 * (docs/sim-vs-linux.md), so "all" and "partial" sends count as the same outcome. */
#define NEAR_CAPACITY  60000
#define SMALL_CAPACITY 2048        /* with SO_SNDBUF/SO_RCVBUF=4096 on either end */
#define HELD_SAFE_NS   150000000LL /* see R_HELD */
#define HELD_SEGMENT   16384       /* below loopback's smallest segment size, 32741 */
/* Past this many unread bytes, Linux's reader delays its ACKs (measured on 6.x: a send that
 * leaves 32769 unread has 1 byte in SIOCOUTQ until the delayed ACK, 40 ms later). */
#define DELAYED_ACK_UNREAD 32768

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
static const char *const ep_set_names[EP_SETS] = {
	"IN",
	"OUT",
	"IN|OUT",
	"IN|ET",
	"IN|OUT|ET",
	"IN|ONESHOT",
	"IN|RDHUP",
	"IN|RDHUP|ET|ONESHOT",
	"OUT|ET",
	"OUT|ONESHOT",
	"OUT|ET|ONESHOT",
	"IN|OUT|RDHUP",
	"IN|OUT|RDHUP|ET",
	"IN|OUT|ONESHOT",
	"RDHUP",
	"IN|OUT|RDHUP|ET|ONESHOT",
};

/* SD_DIFF_SETOPT (a % NOPTS): an int value, or for SO_LINGER {val, secs} */
#define NOPTS 16
static const struct setopt {
	const char *name;
	int level, opt, val, secs;
} setopts[NOPTS] = {
	{"SO_REUSEADDR=1", SOL_SOCKET, SO_REUSEADDR, 1, 0},
	{"IPV6_V6ONLY=1", IPPROTO_IPV6, IPV6_V6ONLY, 1, 0},
	{"SO_LINGER={1,0}", SOL_SOCKET, SO_LINGER, 1, 0},
	{"SO_SNDBUF=4096", SOL_SOCKET, SO_SNDBUF, 4096, 0},
	{"SO_RCVBUF=4096", SOL_SOCKET, SO_RCVBUF, 4096, 0},
	{"SO_REUSEADDR=0", SOL_SOCKET, SO_REUSEADDR, 0, 0},
	{"SO_LINGER={0,0}", SOL_SOCKET, SO_LINGER, 0, 0},
	{"SO_LINGER={0,5}", SOL_SOCKET, SO_LINGER, 0, 5},
	{"SO_KEEPALIVE=1", SOL_SOCKET, SO_KEEPALIVE, 1, 0},
	{"TCP_NODELAY=1", IPPROTO_TCP, TCP_NODELAY, 1, 0},
	{"SO_REUSEPORT=1", SOL_SOCKET, SO_REUSEPORT, 1, 0},
	{"TCP_INQ=1", IPPROTO_TCP, TCP_INQ, 1, 0},
	{"SO_RCVLOWAT=10", SOL_SOCKET, SO_RCVLOWAT, 10, 0},
	{"SO_RCVLOWAT=1000", SOL_SOCKET, SO_RCVLOWAT, 1000, 0},
	{"SO_PEEK_OFF=0", SOL_SOCKET, SO_PEEK_OFF, 0, 0},
	{"SO_PEEK_OFF=5", SOL_SOCKET, SO_PEEK_OFF, 5, 0},
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
	{"TCP_CORK=1", IPPROTO_TCP, TCP_CORK, 1, 0},
	{"TCP_CORK=0", IPPROTO_TCP, TCP_CORK, 0, 0},
	{"TCP_NOTSENT_LOWAT=1", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 1, 0},
	{"TCP_NOTSENT_LOWAT=16384", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 16384, 0},
	{"TCP_NOTSENT_LOWAT=0", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0, 0},
};
static const struct setopt *setopt_of(const struct sd_diff_op *o)
{
	return o->b % 8 == 1 ? &setopts2[o->a % NOPTS2] : &setopts[o->a % NOPTS];
}
/* SD_DIFF_SEND with b % 8 == 7 sends with MSG_MORE */
static int send_more(const struct sd_diff_op *o)
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
static const struct getopt {
	const char *name;
	int level, opt;
} getopts[NGETOPTS] = {
	{"SO_LINGER", SOL_SOCKET, SO_LINGER},         {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},
	{"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR},
	{"SO_ACCEPTCONN", SOL_SOCKET, SO_ACCEPTCONN}, {"TCP_INFO", IPPROTO_TCP, TCP_INFO},
	{"SO_RCVLOWAT", SOL_SOCKET, SO_RCVLOWAT},     {"SO_PEEK_OFF", SOL_SOCKET, SO_PEEK_OFF},
};

static const char *const addr_names[2][6] = {
	{"127.0.0.1", "0.0.0.0", "127.0.0.2", "::1", "127.255.255.254", "10.1.2.3"},
	{"::1", "::", "::ffff:127.0.0.1", "127.0.0.1", "::ffff:0.0.0.0", "10.1.2.3"},
};

static int send_more(const struct sd_diff_op *o);

/* A MSG_MORE send is small (below a segment), so that what it holds shows. */
static size_t io_size(const struct sd_diff_op *o)
{
	if (send_more(o))
		return 1 + (size_t)o->a * 37;
	return 1 + (size_t)o->a * o->b * 37;
}

/* SD_DIFF_RECVMSG's control buffer (a / 48 % 4; a % 6 is the flags, a / 24 % 2 adds
 * MSG_CMSG_CLOEXEC): room for TCP_CM_INQ whole, none, less
 * than a header, a header without its int (put_cmsg cuts the last two with MSG_CTRUNC). */
static size_t control_room(const struct sd_diff_op *o)
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
		snprintf(buf, size, "send(s%d, %zu%s)", o->slot, io_size(o),
			 send_more(o) ? ", MSG_MORE" : "");
		break;
	case SD_DIFF_RECV:
		snprintf(buf, size, "recv(s%d, %zu, %s)", o->slot, io_size(o), rflags[o->a % 4]);
		break;
	case SD_DIFF_SHUTDOWN: snprintf(buf, size, "shutdown(s%d, %d)", o->slot, o->a % 3); break;
	case SD_DIFF_SETOPT:
		snprintf(buf, size, "setsockopt(s%d, %s)", o->slot, setopt_of(o)->name);
		break;
	case SD_DIFF_RECVMSG:
		snprintf(buf, size, "recvmsg(s%d, %zu, %s%s, control %zu)", o->slot, io_size(o),
			 msg_flag_names[o->a % 6], o->a / 24 % 2 ? "|MSG_CMSG_CLOEXEC" : "",
			 control_room(o));
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
		snprintf(buf, size, "getsockopt(s%d, %s)", o->slot, getopts[o->a % NGETOPTS].name);
		break;
	case SD_DIFF_EPOLL_CREATE:
		snprintf(buf, size, "epoll_create(%s)", o->a & 1 ? "EPOLL_CLOEXEC" : "0");
		break;
	case SD_DIFF_EPOLL_CTL:
		snprintf(buf, size, "epoll_ctl(%s, s%d, %s)",
			 o->a % 3 == 0   ? "ADD"
			 : o->a % 3 == 1 ? "MOD"
					 : "DEL",
			 o->slot, ep_set_names[o->b % EP_SETS]);
		break;
	case SD_DIFF_EPOLL_WAIT: snprintf(buf, size, "epoll_wait(0 ms)"); break;
	default: snprintf(buf, size, "%s(s%d)", k, o->slot); break;
	}
	return buf;
}

/* ---- running -------------------------------------------------------------------------- */

/* The documented differences (docs/sim-vs-linux.md) the comparison allows for, each by name:
 * an outcome left uncompared reads "~ NAME", so a listing says which rule applied. A new
 * allowance is a row here, one in sim-vs-linux.md's table of rules, and its check. */
enum rule {
	R_BUFFER,       /* window autotuning: the connection's later outcomes */
	R_MAPPED_V6,    /* Linux loses the SYN of a plain-IPv6 connect after a v4-mapped one */
	R_HELD_OUTSIDE, /* a kernel socket outside the program holds the port bound */
	R_OUTQ,         /* SIOCOUTQ after a FIN, a second send or past 32 KiB unread (their ACK
			 * is delayed) or on a closed socket */
	R_HELD,         /* bytes TCP_CORK or MSG_MORE held: the probe timer, the reader's close */
	R_NRULES
};
static const char *const rule_names[R_NRULES] = {
	"buffer autotuning",   "v4-mapped then IPv6", "port held outside",
	"outq unacknowledged", "held bytes",
};

const char *sd_diff_rule_name(int i) { return i >= 0 && i < R_NRULES ? rule_names[i] : NULL; }

static void not_compared(struct sd_diff_outcome *out, enum rule r)
{
	snprintf(out->text, sizeof out->text, "~ %s", rule_names[r]);
}

struct slot {
	int fd, v6, port, peer_port;
	int file;         /* which socket: the slots a dup made share it (and every field below) */
	int fin_sent;     /* a shutdown sent its FIN (SHUT_WR or SHUT_RDWR succeeded) */
	int acks_delayed; /* it sent twice, or past DELAYED_ACK_UNREAD unread: see R_OUTQ */
	int peek_off;     /* SO_PEEK_OFF set: a peek's bytes start past recvd, so are not checked */
	uint64_t sent, recvd; /* stream offsets, for the byte check */
	int tainted;          /* buffer-size differences make exact counts meaningless */
	int small_buf;        /* SO_SNDBUF or SO_RCVBUF shrunk (on it or on its listener) */
	int mapped_tried;     /* an IPv6 socket that connected to a v4-mapped address */
	int mapped_bound;     /* an IPv6 socket bound to a v4-mapped address */
	int corked;           /* TCP_CORK set (on it or on its listener) */
	int64_t held_since;   /* when it began holding bytes back (TCP_CORK, MSG_MORE); 0 none */
	int held_unsure;      /* those may have left by the probe timer: see R_HELD */
};

struct run {
	struct sd_net *net;
	struct slot s[SD_DIFF_SLOTS];
	unsigned char *buf;
	size_t buflen;
	/* Local ports of every socket that was ever tainted, closed ones included: binds and
	 * connects to them are not compared (see step()). */
	int tainted_ports[4 * SD_DIFF_MAX_OPS];
	int ntainted;
	/* Every port the program's sockets held or were connected to, closed ones included:
	 * a kernel socket on a port it binds belongs to the program when its peer is here. */
	int own_ports[8 * SD_DIFF_MAX_OPS];
	int nown;
	int settle_ms; /* on the kernel: how long a connect in progress may take to settle */
	int ep;        /* the program's epoll descriptor, or -1 */
	int kernel;    /* descriptors are the kernel's: ioctl is a system call */
	int files;     /* sockets made so far (slot.file) */
};

/* A dup's slot shares the socket's state: after a change to sl, its copies get it too. */
static void sync_copies(struct run *r, const struct slot *sl)
{
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (&r->s[i] != sl && r->s[i].fd >= 0 && sl->fd >= 0 && r->s[i].file == sl->file) {
			int fd = r->s[i].fd;
			r->s[i] = *sl;
			r->s[i].fd = fd;
		}
}

static struct slot *peer_slot(struct run *r, const struct slot *sl);

/* Every slot naming a's socket or its peer's: sync_copies() only follows the slot a step
 * acted on, and either end's outcomes depend on where held bytes went. */
static void conn_unsure(struct run *r, struct slot *a)
{
	struct slot *b = peer_slot(r, a);
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && (r->s[i].file == a->file || (b && r->s[i].file == b->file)))
			r->s[i].held_unsure = 1;
	a->held_unsure = 1;
}

/* What p holds may arrive otherwise on the two stacks (its reader closed, sent, or shut
 * down): see R_HELD. */
static void held_unsure_all(struct run *r, struct slot *p)
{
	if (p && p->held_since)
		conn_unsure(r, p);
}

/* Each slot holds a descriptor of its own (dup is the ops table's on both stacks): the
 * socket closes with the last, on either. */
static long close_slot(struct run *r, struct slot *sl)
{
	/* A reader closing while its peer holds bytes for it: the sim resets at once (they
	 * count as unread), Linux sends its FIN and resets when they reach it. The same when
	 * the bytes are held after the close (SD_DIFF_SEND). */
	held_unsure_all(r, peer_slot(r, sl));
	/* A holder closing whose bytes are unsure: its reader's later outcomes are too. */
	if (sl->held_unsure)
		conn_unsure(r, sl);
	int fd = sl->fd;
	sl->fd = -1;
	return sd_close(r->net, fd);
}

static void taint(struct run *r, struct slot *sl)
{
	sl->tainted = 1;
	if (sl->port && r->ntainted < (int)(sizeof r->tainted_ports / sizeof r->tainted_ports[0]))
		r->tainted_ports[r->ntainted++] = sl->port;
	sync_copies(r, sl);
}

static int port_tainted(const struct run *r, int port)
{
	for (int i = 0; i < r->ntainted; i++)
		if (port && r->tainted_ports[i] == port)
			return 1;
	return 0;
}

static void note_port(struct run *r, int port)
{
	for (int i = 0; i < r->nown; i++)
		if (r->own_ports[i] == port)
			return;
	if (port && r->nown < (int)(sizeof r->own_ports / sizeof r->own_ports[0]))
		r->own_ports[r->nown++] = port;
}

static int own_port(const struct run *r, int port)
{
	for (int i = 0; i < r->nown; i++)
		if (r->own_ports[i] == port)
			return 1;
	return 0;
}

/* Whether a kernel socket outside the program holds `port`: one that is neither open in a
 * slot (its inode) nor a closed or unaccepted one of the program's own connections (no inode,
 * a peer port the program used). Other processes' TIME_WAIT entries and connections sharing
 * an ephemeral port make a bind fail with EADDRINUSE on the kernel alone. When the kernel
 * cannot be asked, nobody outside is assumed, so the step is compared as before. */
static int held_outside(struct run *r, int port)
{
	struct sd__kport k[128];
	int n = sd__kports((uint16_t)port, k, 128);
	if (n < 0)
		return 0;
	if (n > 128)
		return 1; /* more sockets on one port than a program can own */
	for (int i = 0; i < n; i++) {
		int own = 0;
		for (int j = 0; j < SD_DIFF_SLOTS && !own && k[i].inode; j++) {
			struct stat st;
			own = r->s[j].fd >= 0 && fstat(r->s[j].fd, &st) == 0 &&
			      st.st_ino == k[i].inode;
		}
		if (!k[i].inode)
			own = k[i].dport && own_port(r, k[i].dport);
		if (!own)
			return 1;
	}
	return 0;
}

static unsigned char pattern(uint64_t off, int port)
{
	return (unsigned char)((off * 131) >> 3 ^ off ^ (uint64_t)port);
}

static void learn_ports(struct run *r, struct slot *sl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (sd_getsockname(r->net, sl->fd, (struct sockaddr *)&ss, &len) == 0)
		sl->port = sd_addr_port((struct sockaddr *)&ss, len);
	len = sizeof ss;
	if (sd_getpeername(r->net, sl->fd, (struct sockaddr *)&ss, &len) == 0)
		sl->peer_port = sd_addr_port((struct sockaddr *)&ss, len);
	note_port(r, sl->port);
	note_port(r, sl->peer_port);
}

static int slot_of_port(const struct run *r, int port)
{
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && port && r->s[i].port == port)
			return i;
	return -1;
}

static struct slot *peer_slot(struct run *r, const struct slot *sl)
{
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && &r->s[i] != sl && sl->peer_port &&
		    r->s[i].port == sl->peer_port && r->s[i].peer_port == sl->port)
			return &r->s[i];
	return NULL;
}

static void make_addr(int v6, int choice, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	sd_addr_parse(addr_names[v6][choice], (uint16_t)port, ss, len);
}

/* Documented difference (docs/sim-vs-linux.md): the sim sends at once where Linux's Nagle
 * algorithm holds a small segment until the previous one is acknowledged (a delayed ACK can
 * take 40 ms), so every socket of a run has TCP_NODELAY on both stacks. */
static void no_nagle(struct run *r, int fd)
{
	int one = 1;
	if (fd >= 0)
		sd_setsockopt(r->net, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void set_text(struct sd_diff_outcome *o, long rc)
{
	sd_result_format(rc, o->text, sizeof o->text);
}

/* SD_DIFF_DUP: a % 4 is dup into a free slot (0, 1), dup2 (2) or dup3 (3) onto the slot
 * b % SD_DIFF_SLOTS, when that one is open (a number no slot holds means a different one on
 * each stack); dup3's flags (b / SD_DIFF_SLOTS % 3) are 0, O_CLOEXEC or O_NONBLOCK (EINVAL).
 * The target slot then names the socket too, sharing its record; what it named closes with
 * its last descriptor, on both stacks alike. */
static void dup_step(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		     struct sd_diff_outcome *out)
{
	static const int dup3_flags[3] = {0, O_CLOEXEC, O_NONBLOCK};
	struct slot *dst = NULL;
	int how = o->a % 4, rc;
	if (how < 2) {
		for (int i = 0; i < SD_DIFF_SLOTS && !dst; i++)
			if (r->s[i].fd < 0)
				dst = &r->s[i];
	} else if (r->s[o->b % SD_DIFF_SLOTS].fd >= 0) {
		dst = &r->s[o->b % SD_DIFF_SLOTS];
	}
	if (!dst) {
		snprintf(out->text, sizeof out->text, how < 2 ? "no free slot" : "no target");
		return;
	}
	if (how < 2)
		rc = sd_dup(r->net, sl->fd);
	else if (how == 2)
		rc = sd_dup2(r->net, sl->fd, dst->fd);
	else
		rc = sd_dup3(r->net, sl->fd, dst->fd, dup3_flags[o->b / SD_DIFF_SLOTS % 3]);
	if (rc < 0) {
		set_text(out, rc);
		return;
	}
	if (dst != sl) {
		/* What dst named lost a descriptor, maybe its last: a reader closing while its
		 * peer holds bytes for it, as in close_slot(). */
		if (how >= 2)
			held_unsure_all(r, peer_slot(r, dst));
		*dst = *sl;
		dst->fd = rc;
	}
	snprintf(out->text, sizeof out->text, "fd");
}

/* epoll_create and epoll_wait, which name no slot. A wait's outcome is the set of (slot,
 * events) it reported, in slot order (the two stacks' report orders are not compared);
 * tainted slots are left out, as their readiness depends on buffer sizes. */
static void epoll_step(struct run *r, const struct sd_diff_op *o, struct sd_diff_outcome *out)
{
	if (o->kind == SD_DIFF_EPOLL_CREATE) {
		if (r->ep >= 0)
			sd_close(r->net, r->ep);
		r->ep = sd_epoll_create(r->net, o->a & 1 ? EPOLL_CLOEXEC : 0);
		if (r->ep < 0)
			set_text(out, r->ep), r->ep = -1;
		else
			snprintf(out->text, sizeof out->text, "ep");
		return;
	}
	if (r->ep < 0) {
		snprintf(out->text, sizeof out->text, "skip");
		return;
	}
	struct epoll_event ev[2 * SD_DIFF_SLOTS];
	uint32_t got[SD_DIFF_SLOTS] = {0};
	int n = sd_epoll_wait(r->net, r->ep, ev, 2 * SD_DIFF_SLOTS, 0);
	if (n < 0) {
		set_text(out, n);
		return;
	}
	for (int i = 0; i < n; i++)
		if (ev[i].data.u32 < SD_DIFF_SLOTS)
			got[ev[i].data.u32] |= ev[i].events | 0x80000000u; /* reported */
	size_t len = (size_t)snprintf(out->text, sizeof out->text, "ev");
	for (int i = 0; i < SD_DIFF_SLOTS && len < sizeof out->text; i++) {
		struct slot *p = r->s[i].fd >= 0 ? peer_slot(r, &r->s[i]) : NULL;
		if (!got[i] || r->s[i].tainted || (p && p->tainted) || r->s[i].held_unsure ||
		    (p && p->held_unsure))
			continue;
		len += (size_t)snprintf(out->text + len, sizeof out->text - len, " s%d:0x%x", i,
					(unsigned)(got[i] & 0x7fffffffu));
	}
}

/* TCP_INFO's state as compared. Documented difference (docs/sim-vs-linux.md): Linux's peer
 * delays the ACK of a FIN (up to 40 ms), the sim's comes at once, so FIN_WAIT1 and FIN_WAIT2
 * are one outcome (teardown/fin_ack_delayed.sd shows it). */
static const char *state_name(int st)
{
	static const char *const names[] = {"0",           "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
					    "FIN_WAIT1|2", "FIN_WAIT1|2", "TIME_WAIT", "CLOSE",
					    "CLOSE_WAIT",  "LAST_ACK",    "LISTEN",    "CLOSING"};
	return st >= 0 && st < (int)(sizeof names / sizeof names[0]) ? names[st] : "?";
}

/* SIOCINQ of the slot: the kernel's ioctl, or the sim's count (the ops table has no ioctl). */
static long inq_of(struct run *r, const struct slot *sl)
{
	int v = 0;
	if (!r->kernel)
		return sd_sim_queued(r->net, sl->fd, 0);
	return ioctl(sl->fd, SIOCINQ, &v) < 0 ? -errno : v;
}

/* The socket's TCP state as TCP_INFO names it, or -1. */
static int tcp_state(struct run *r, const struct slot *sl)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (sd_getsockopt(r->net, sl->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return ti.tcpi_state;
}

static void step_inner(struct run *r, const struct sd_diff_op *o, struct sd_diff_outcome *out,
		       struct sd_diff_result *res)
{
	struct slot *sl = &r->s[o->slot % SD_DIFF_SLOTS];
	struct sockaddr_storage ss;
	socklen_t len;
	long rc;

	if (o->kind == SD_DIFF_EPOLL_CREATE || o->kind == SD_DIFF_EPOLL_WAIT) {
		epoll_step(r, o, out);
		return;
	}
	if (o->kind != SD_DIFF_SOCKET && sl->fd < 0) {
		snprintf(out->text, sizeof out->text, "skip");
		return;
	}
	/* Documented difference (docs/sim-vs-linux.md): once a connection has held more unread
	 * bytes than a receive window, Linux's window autotuning decides how much moves when,
	 * which the sim does not model. Its sockets are then still driven (and their byte
	 * streams still checked), but their outcomes are not compared. */

	switch (o->kind) {
	case SD_DIFF_SOCKET:
		if (sl->fd >= 0)
			close_slot(r, sl);
		memset(sl, 0, sizeof *sl);
		sl->file = ++r->files;
		sl->v6 = o->a & 1;
		sl->fd = sd_socket(r->net, sl->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK,
				   0);
		no_nagle(r, sl->fd);
		snprintf(out->text, sizeof out->text, sl->fd >= 0 ? "fd" : "%ld", (long)sl->fd);
		if (sl->fd < 0)
			set_text(out, sl->fd), sl->fd = -1;
		return;
	case SD_DIFF_BIND: {
		int src = o->b % (SD_DIFF_SLOTS + 1);
		int port = src ? r->s[src - 1].port : 0;
		make_addr(sl->v6, o->a % 6, port, &ss, &len);
		rc = sd_bind(r->net, sl->fd, (struct sockaddr *)&ss, len);
		if (rc == 0 && sl->v6 && (o->a % 6 == 2 || o->a % 6 == 4))
			sl->mapped_bound = 1;
		if (rc == -EADDRINUSE && r->settle_ms && port && held_outside(r, port)) {
			/* Not a difference of the stacks: the sim has no such socket. The socket
			 * is now unbound here and maybe bound there, so it is not compared again
			 * (nor are binds and connects to its port). */
			not_compared(out, R_HELD_OUTSIDE);
			res->held_outside++;
			taint(r, sl);
			return;
		}
		break;
	}
	case SD_DIFF_LISTEN: rc = sd_listen(r->net, sl->fd, o->a % 4); break;
	case SD_DIFF_CONNECT:
		make_addr(sl->v6, o->a % 4, r->s[o->b % SD_DIFF_SLOTS].port, &ss, &len);
		/* "::" from a socket bound to a v4-mapped address is a v4-mapped connect too
		 * (tcp_v6_connect turns it into ::ffff:127.0.0.1) */
		if (sl->v6 && (o->a % 4 == 2 || (o->a % 4 == 1 && sl->mapped_bound)))
			sl->mapped_tried = 1;
		else if (sl->v6 && sl->mapped_tried && o->a % 4 != 3) {
			/* Documented difference (docs/sim-vs-linux.md): after a v4-mapped connect,
			 * Linux loses the SYN of a later IPv6 connect on the same socket. */
			not_compared(out, R_MAPPED_V6);
			return;
		}
		rc = sd_connect(r->net, sl->fd, (struct sockaddr *)&ss, len);
		if (rc == -EINPROGRESS && r->settle_ms) {
			/* The kernel answers the SYN (SYN-ACK, RST, or nothing from a full accept
			 * queue) in a softirq that can run after connect() returned, and on a busy
			 * machine well after; the sim has answered before its next call. Wait,
			 * bounded, for the answer, so the next step sees the same state on both (a
			 * dropped SYN costs the whole bound). */
			struct pollfd pf = {.fd = sl->fd, .events = POLLOUT};
			sd_poll(r->net, &pf, 1, r->settle_ms);
		}
		break;
	case SD_DIFF_ACCEPT: {
		rc = sd_accept(r->net, sl->fd, NULL, NULL, SOCK_NONBLOCK);
		if (rc < 0)
			break;
		struct slot *dst = NULL;
		for (int i = 0; i < SD_DIFF_SLOTS && !dst; i++)
			if (r->s[i].fd < 0)
				dst = &r->s[i];
		no_nagle(r, (int)rc);
		struct slot tmp = {.fd = (int)rc,
				   .v6 = sl->v6,
				   .small_buf = sl->small_buf,
				   .corked = sl->corked,
				   .file = ++r->files};
		learn_ports(r, &tmp);
		int from = slot_of_port(r, tmp.peer_port);
		if (from >= 0 && r->s[from].tainted)
			taint(r, &tmp); /* bytes the client sent before the accept count too */
		snprintf(out->text, sizeof out->text, "fd peer=s%d", from);
		if (dst)
			*dst = tmp;
		else
			sd_close(r->net, (int)rc);
		return;
	}
	case SD_DIFF_SEND: {
		size_t n = io_size(o);
		struct slot *p = peer_slot(r, sl);
		uint64_t unread = p ? sl->sent - p->recvd : 0;
		for (size_t i = 0; i < n; i++)
			r->buf[i] = pattern(sl->sent + i, sl->port);
		int more = send_more(o);
		/* what a holding send held back: the bytes its peer did not get (on loopback the
		 * kernel delivers the rest before the call returns) */
		long before = (more || sl->corked) && p ? inq_of(r, p) : -1;
		/* The reader closed or shut down before (its FIN came): the sim resets at once if
		 * it shut its read side, Linux when the held bytes reach it (close_slot()). */
		int reader_closed =
			(more || sl->corked) && sl->peer_port && tcp_state(r, sl) == TCP_CLOSE_WAIT;
		/* A segment from the reader makes Linux send what MSG_MORE held on an uncorked
		 * socket (tcp_data_snd_check()); the sim holds them on (the reader's FIN too:
		 * SD_DIFF_SHUTDOWN). */
		if (p && !p->corked)
			held_unsure_all(r, p);
		rc = sd_send(r->net, sl->fd, r->buf, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		if (rc > 0 && reader_closed)
			sl->held_unsure = 1;
		if (rc > 0 && (more || sl->corked) && !sl->held_since)
			sl->held_since = sd_now_ns(r->net) | 1;
		/* Held past a segment, what is held depends on the segment size, which Linux
		 * raises as data flows and the sim keeps (docs/sim-vs-linux.md, TCP_MAXSEG) */
		if (rc > 0 && (more || sl->corked) && n >= HELD_SEGMENT)
			sl->held_unsure = 1;
		else if (rc > 0 && !more && !sl->corked)
			sl->held_since = 0; /* pushed */
		/* A shrunk buffer on either end makes the window small, whatever was advertised
		 * before: any send beyond it is in the autotuning zone too. */
		uint64_t cap =
			sl->small_buf || (p && p->small_buf) ? SMALL_CAPACITY : NEAR_CAPACITY;
		if (rc == -EAGAIN && unread + n > cap) {
			snprintf(out->text, sizeof out->text, "blocked~");
			taint(r, sl);
			if (p)
				taint(r, p);
			return;
		}
		if (rc < 0)
			break;
		/* Past its first segments (quick ACK mode) Linux's receiver delays an ACK up to
		 * 40 ms: seen with a second send while the first was unread (30786 bytes unread),
		 * and past DELAYED_ACK_UNREAD unread (unread: those of a peer not accepted yet
		 * too). */
		if (sl->sent > 0 ||
		    sl->sent + (uint64_t)rc - (p ? p->recvd : 0) > DELAYED_ACK_UNREAD)
			sl->acks_delayed = 1;
		sl->sent += (uint64_t)rc;
		int near = unread + n > cap;
		if ((size_t)rc < n || near)
			taint(r, sl);
		if (p && ((size_t)rc < n || near))
			taint(r, p);
		long after = before >= 0 && !near ? inq_of(r, p) : -1;
		if (after >= before && before >= 0)
			snprintf(out->text, sizeof out->text, "%s held=%ld",
				 (size_t)rc == n ? "all" : "partial", rc - (after - before));
		else
			snprintf(out->text, sizeof out->text, "%s%s",
				 (size_t)rc == n ? "all" : "partial", near ? "~" : "");
		return;
	}
	case SD_DIFF_RECV: {
		static const int flags[] = {0, MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT};
		size_t n = io_size(o);
		struct slot *p = peer_slot(r, sl);
		rc = sd_recv(r->net, sl->fd, r->buf, n, flags[o->a % 4]);
		if (rc < 0)
			break;
		int peeked_past = (flags[o->a % 4] & MSG_PEEK) && sl->peek_off;
		for (long i = 0; i < rc && !peeked_past; i++)
			if (p && r->buf[i] != pattern(sl->recvd + (uint64_t)i, p->port))
				res->stream_errors++;
		if (!(flags[o->a % 4] & MSG_PEEK))
			sl->recvd += (uint64_t)rc;
		if (sl->tainted)
			snprintf(out->text, sizeof out->text, rc ? "data" : "0");
		else
			set_text(out, rc);
		return;
	}
	case SD_DIFF_SHUTDOWN: {
		/* The reader's FIN while its peer holds bytes for it: on Linux the segment that
		 * carries it makes the peer send what MSG_MORE held (tcp_data_snd_check() on an
		 * uncorked socket), and a reader that shut its read side resets; the sim keeps them
		 * held. */
		struct slot *p = peer_slot(r, sl);
		if (o->a % 3 != SHUT_RD)
			held_unsure_all(r, p);
		rc = sd_shutdown(r->net, sl->fd, o->a % 3);
		sl->fin_sent |= rc == 0 && o->a % 3 != SHUT_RD;
		if (sl->fin_sent)
			sl->held_since = 0; /* the FIN pushed them */
		break;
	}
	case SD_DIFF_CLOSE: rc = close_slot(r, sl); break;
	case SD_DIFF_DUP: dup_step(r, o, sl, out); return;
	case SD_DIFF_RECVMSG: {
		int fl = msg_flags[o->a % 6];
		struct slot *p = peer_slot(r, sl);
		struct iovec iov = {.iov_base = r->buf, .iov_len = io_size(o)};
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		size_t room = control_room(o);
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = room ? &ctl : NULL,
				    .msg_controllen = room};
		memset(&ctl, 0, sizeof ctl);
		rc = sd_recvmsg(r->net, sl->fd, &mh, fl | (o->a / 24 % 2 ? MSG_CMSG_CLOEXEC : 0));
		if (rc < 0)
			break;
		/* MSG_TRUNC on TCP: the bytes are counted (and, without MSG_PEEK, dropped),
		 * not copied */
		for (long i = 0; i < rc && !(fl & MSG_TRUNC) && !((fl & MSG_PEEK) && sl->peek_off);
		     i++)
			if (p && r->buf[i] != pattern(sl->recvd + (uint64_t)i, p->port))
				res->stream_errors++;
		if (!(fl & MSG_PEEK))
			sl->recvd += (uint64_t)rc;
		/* TCP_INQ's count of the bytes left (setsockopt TCP_INQ=1) */
		int inq = -1;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		if (c && c->cmsg_len >= CMSG_LEN(sizeof inq) && c->cmsg_level == SOL_TCP &&
		    c->cmsg_type == TCP_CM_INQ)
			memcpy(&inq, CMSG_DATA(c), sizeof inq);
		char clen[24] = "";
		if (room != sizeof ctl) /* the usual room: the message's whole space */
			snprintf(clen, sizeof clen, " clen=%zu", (size_t)mh.msg_controllen);
		char t[128];
		if (sl->tainted)
			snprintf(t, sizeof t, rc ? "data" : "0");
		else if (inq >= 0)
			snprintf(t, sizeof t, "%ld flags=0x%x inq=%d%s", rc, (unsigned)mh.msg_flags,
				 inq, clen);
		else
			snprintf(t, sizeof t, "%ld flags=0x%x%s%s", rc, (unsigned)mh.msg_flags,
				 c ? " cmsg" : "", clen);
		snprintf(out->text, sizeof out->text, "%.47s", t);
		return;
	}
	case SD_DIFF_QUERY: {
		int v = 0;
		socklen_t vl = sizeof v;
		if (o->a % 3 == 2) {
			rc = sd_getsockopt(r->net, sl->fd, IPPROTO_TCP, TCP_INQ, &v, &vl);
			rc = rc < 0 ? rc : v;
		} else if (r->kernel) { /* the ops table has no ioctl: the in-process layer's way */
			rc = ioctl(sl->fd, o->a % 3 ? SIOCOUTQ : SIOCINQ, &v) < 0 ? -errno : v;
		} else {
			rc = sd_sim_queued(r->net, sl->fd, o->a % 3);
		}
		if (o->a % 3 == 1 && rc >= 0 &&
		    (sl->fin_sent || sl->acks_delayed || tcp_state(r, sl) == TCP_CLOSE)) {
			/* Documented differences (docs/sim-vs-linux.md): Linux counts a FIN in
			 * SIOCOUTQ until its ACK, which the peer delays, and bytes of a second send
			 * or past DELAYED_ACK_UNREAD unread too; and a closed socket's
			 * SIOCOUTQ is what its sequence numbers were left at (1 for the SYN of a
			 * refused connect). The sim says 0 for all. */
			not_compared(out, R_OUTQ);
			return;
		}
		break;
	}
	case SD_DIFF_GETOPT: {
		const struct getopt *go = &getopts[o->a % NGETOPTS];
		union {
			int i;
			struct linger lg;
			struct tcp_info ti;
		} v;
		socklen_t vl = sizeof v;
		memset(&v, 0, sizeof v);
		rc = sd_getsockopt(r->net, sl->fd, go->level, go->opt, &v, &vl);
		if (rc < 0)
			break;
		if (go->opt == SO_LINGER)
			snprintf(out->text, sizeof out->text, "{%d,%d}", v.lg.l_onoff,
				 v.lg.l_linger);
		else if (go->level == IPPROTO_TCP && go->opt == TCP_INFO)
			snprintf(out->text, sizeof out->text, "state=%s",
				 state_name(v.ti.tcpi_state));
		else
			snprintf(out->text, sizeof out->text, "%d", v.i);
		return;
	}
	case SD_DIFF_SETOPT: {
		const struct setopt *so = setopt_of(o);
		struct linger lg = {so->val, so->secs};
		int v = so->val;
		if (so->level == SOL_SOCKET && so->opt == SO_LINGER)
			rc = sd_setsockopt(r->net, sl->fd, so->level, so->opt, &lg, sizeof lg);
		else
			rc = sd_setsockopt(r->net, sl->fd, so->level, so->opt, &v, sizeof v);
		if (so->level == SOL_SOCKET && (so->opt == SO_SNDBUF || so->opt == SO_RCVBUF))
			sl->small_buf |= rc == 0;
		if (so->level == SOL_SOCKET && so->opt == SO_PEEK_OFF)
			sl->peek_off |= rc == 0;
		if (rc == 0 && so->level == IPPROTO_TCP && so->opt == TCP_CORK)
			sl->corked = so->val;
		if (rc == 0 && so->level == IPPROTO_TCP &&
		    ((so->opt == TCP_CORK && !so->val) || so->opt == TCP_NODELAY))
			sl->held_since = 0; /* pushed */
		break;
	}
	case SD_DIFF_SOERROR: {
		int err = 0;
		socklen_t el = sizeof err;
		rc = sd_getsockopt(r->net, sl->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (rc == 0) {
			snprintf(out->text, sizeof out->text, "err=%s",
				 err ? sd_errname(err) : "0");
			return;
		}
		break;
	}
	case SD_DIFF_POLL: {
		struct pollfd pf = {.fd = sl->fd, .events = POLLIN | POLLOUT | POLLRDHUP};
		rc = sd_poll(r->net, &pf, 1, 0);
		if (rc < 0)
			break;
		short ev = pf.revents;
		if (sl->tainted)
			ev &= (short)~POLLOUT; /* writability depends on buffer sizes */
		snprintf(out->text, sizeof out->text, "revents=0x%x", (unsigned)ev);
		return;
	}
	case SD_DIFF_EPOLL_CTL: {
		static const int ops[3] = {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL};
		struct epoll_event ev = {.events = ep_sets[o->b % EP_SETS],
					 .data.u32 = (uint32_t)(sl - r->s)};
		if (r->ep < 0) /* the first epoll_ctl makes the instance, as a program would */
			r->ep = sd_epoll_create(r->net, 0);
		rc = r->ep < 0 ? r->ep : sd_epoll_ctl(r->net, r->ep, ops[o->a % 3], sl->fd, &ev);
		if (r->ep < 0)
			r->ep = -1;
		break;
	}
	case SD_DIFF_PEERNAME:
		len = sizeof ss;
		rc = sd_getpeername(r->net, sl->fd, (struct sockaddr *)&ss, &len);
		if (rc == 0) {
			int from = slot_of_port(r, sd_addr_port((struct sockaddr *)&ss, len));
			snprintf(out->text, sizeof out->text, "peer=s%d len=%u", from,
				 (unsigned)len);
			return;
		}
		break;
	default: rc = -EINVAL; break;
	}
	set_text(out, rc);
	if (rc == 0 && sl->fd >= 0 &&
	    (o->kind == SD_DIFF_BIND || o->kind == SD_DIFF_LISTEN || o->kind == SD_DIFF_CONNECT))
		learn_ports(r, sl);
	if (rc == -EINPROGRESS)
		learn_ports(r, sl);
}

/* Documented difference (docs/sim-vs-linux.md): once a connection has held more unread
 * bytes than a receive window, Linux's window autotuning decides how much moves when, which
 * the sim does not model. Its sockets are then still driven, and their byte streams still
 * checked, but their step outcomes are no longer compared ("~"). */
static void step(struct run *r, const struct sd_diff_op *o, struct sd_diff_outcome *out,
		 struct sd_diff_result *res)
{
	struct slot *sl = &r->s[o->slot % SD_DIFF_SLOTS];
	struct slot *peer = sl->fd >= 0 ? peer_slot(r, sl) : NULL;
	int unsure = o->kind != SD_DIFF_SOCKET && o->kind != SD_DIFF_EPOLL_CREATE &&
		     o->kind != SD_DIFF_EPOLL_WAIT && sl->fd >= 0 &&
		     (sl->tainted || (peer && peer->tainted));
	/* A bind or connect to a port a tainted connection's socket holds or held depends on
	 * whether that socket (or the orphan Linux keeps after close) still has it, which the
	 * buffer difference decides: the sim may reset it where Linux's closed window sent
	 * nothing. The port of a listener is also that of the connections it accepted. */
	int src = -1;
	if (o->kind == SD_DIFF_BIND)
		src = (int)(o->b % (SD_DIFF_SLOTS + 1)) - 1;
	else if (o->kind == SD_DIFF_CONNECT)
		src = (int)(o->b % SD_DIFF_SLOTS);
	int racy =
		src >= 0 && sl->fd >= 0 && (r->s[src].tainted || port_tainted(r, r->s[src].port));
	/* Bytes held back leave by the probe timer no sooner than 200 ms after the first of
	 * them (TCP_RTO_MIN): a run that took 150 ms since may see them gone on one stack (the
	 * kernel's clock runs while a loaded machine stalls the program; the sim's does not). */
	int64_t now = sd_now_ns(r->net);
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && r->s[i].held_since &&
		    now - r->s[i].held_since >= HELD_SAFE_NS)
			r->s[i].held_unsure = 1;
	int held = o->kind != SD_DIFF_SOCKET && o->kind != SD_DIFF_EPOLL_CREATE &&
		   o->kind != SD_DIFF_EPOLL_WAIT && sl->fd >= 0 &&
		   (sl->held_unsure || (peer && peer->held_unsure));
	/* A bind or connect to the port of a socket whose held bytes went otherwise on one
	 * stack: the sim may have reset it where Linux keeps it (and its port) open. */
	int held_racy = src >= 0 && sl->fd >= 0 && r->s[src].held_unsure;
	step_inner(r, o, out, res);
	sync_copies(r, sl);
	/* Bound or connected on one stack and not on the other: the socket's own later
	 * outcomes are not compared either. */
	if (racy)
		taint(r, sl);
	else if (held_racy) /* and its own later outcomes, as a tainted socket's */
		sl->held_unsure = 1;
	if (unsure || racy)
		not_compared(out, R_BUFFER);
	else if (held || held_racy)
		not_compared(out, R_HELD);
}

int sd_diff_open_sim(struct sd_net *net, uint64_t seed, int one_role)
{
	struct sd_config cfg = {.seed = seed, .options = one_role ? "one-role=1" : "one-role=0"};
	if (one_role != 0 && one_role != 1)
		return -EINVAL;
	return sd_net_open(net, "sim", &cfg);
}

int sd_diff_open(struct sd_net *net, const char *backend, uint64_t seed)
{
	struct sd_config cfg = {.seed = seed};
	struct sd_sim_profile host;
	int caps = sd_backend_caps(backend);
	if (caps < 0) {
		net->ops = NULL, net->state = NULL;
		return caps;
	}
	if (!(caps & SD_CAP_SIM_CONFIG))
		return sd_net_open(net, backend, &cfg);
	/* The sim is compared with the kernel it runs on, so it models that kernel's variant
	 * and takes its tunables (the host's profile). */
	int one_role = sd_real_host_one_role();
	int rc = one_role < 0 ? one_role : sd_sim_profile_host(&host, NULL, 0);
	if (rc < 0) {
		net->ops = NULL, net->state = NULL;
		return rc;
	}
	cfg.options = one_role ? "one-role=1,profile=host" : "one-role=0,profile=host";
	return sd_net_open(net, backend, &cfg);
}

int sd_diff_run(struct sd_net *net, const struct sd_diff_prog *p, struct sd_diff_result *res)
{
	/* Only the kernel answers SYNs asynchronously; on the sim a poll with a timeout would
	 * move its virtual clock. */
	int kernel = !!(sd_caps(net) & SD_CAP_KERNEL);
	struct run r = {.net = net, .settle_ms = kernel ? 20 : 0, .ep = -1, .kernel = kernel};
	size_t max = 1;
	for (int i = 0; i < p->n; i++)
		if ((p->op[i].kind == SD_DIFF_SEND || p->op[i].kind == SD_DIFF_RECV ||
		     p->op[i].kind == SD_DIFF_RECVMSG) &&
		    io_size(&p->op[i]) > max)
			max = io_size(&p->op[i]);
	r.buf = malloc(max);
	if (!r.buf)
		return -ENOMEM;
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		r.s[i].fd = -1;
	memset(res, 0, sizeof *res);
	for (int i = 0; i < p->n; i++) {
		step(&r, &p->op[i], &res->out[i], res);
		/* A connection's peer is known once both ends exist: learn late pairings. */
		for (int j = 0; j < SD_DIFF_SLOTS; j++)
			if (r.s[j].fd >= 0 && !r.s[j].peer_port)
				learn_ports(&r, &r.s[j]);
	}
	res->n = p->n;
	/* The outcomes are in. On the kernel the sockets left are reset rather than closed, so
	 * they leave no TIME_WAIT entries: sim_vs_kernel, at about 130 programs a second, kept
	 * over a thousand of them, whose ports later programs' binds can collide with. (This
	 * halves them; the rest come from closes inside the programs, which are compared.) */
	struct linger rst = {.l_onoff = 1, .l_linger = 0};
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r.s[i].fd >= 0) {
			if (r.settle_ms)
				sd_setsockopt(net, r.s[i].fd, SOL_SOCKET, SO_LINGER, &rst,
					      sizeof rst);
			close_slot(&r, &r.s[i]);
		}
	if (r.ep >= 0)
		sd_close(net, r.ep);
	free(r.buf);
	return 0;
}

/* "all~" and "partial~" are one outcome: see NEAR_CAPACITY. */
static int same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (a[0] == '~' || b[0] == '~') /* not compared on either side */
		return 1;
	if (la && lb && a[la - 1] == '~' && b[lb - 1] == '~')
		return 1;
	return strcmp(a, b) == 0;
}

int sd_diff_first_mismatch(const struct sd_diff_result *a, const struct sd_diff_result *b)
{
	int n = a->n < b->n ? a->n : b->n;
	for (int i = 0; i < n; i++)
		if (!same(a->out[i].text, b->out[i].text))
			return i;
	return a->n == b->n ? -1 : n;
}

void sd_diff_report(FILE *f, const struct sd_diff_prog *p, const char *name_a,
		    const struct sd_diff_result *a, const char *name_b,
		    const struct sd_diff_result *b, int mismatch)
{
	char op[96];
	fprintf(f, "  %-3s %-44s %-20s %-20s\n", "#", "call", name_a, name_b);
	for (int i = 0; i < p->n; i++)
		fprintf(f, "%s %-3d %-44s %-20s %-20s\n", i == mismatch ? ">>" : "  ", i,
			sd_diff_op_format(&p->op[i], op, sizeof op), i < a->n ? a->out[i].text : "",
			i < b->n ? b->out[i].text : "");
}
