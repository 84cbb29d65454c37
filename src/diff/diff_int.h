/* sockdrill diff: the run state, rules and helpers shared by the differential test's files. */
#ifndef SD_DIFF_INT_H
#define SD_DIFF_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sockdrill/diff.h>

#include "../util/sockopts.h"

/* Beyond this many unread bytes on a connection the two stacks' buffer sizes differ
 * (docs/sim-vs-linux.md), so "all" and "partial" sends count as the same outcome. */
#define NEAR_CAPACITY  60000
#define SMALL_CAPACITY 2048        /* with SO_SNDBUF/SO_RCVBUF=4096 on either end */
#define HELD_SAFE_NS   150000000LL /* see R_HELD */
#define HELD_SEGMENT   16384       /* below loopback's smallest segment size, 32741 */
/* Past this many unread bytes, Linux's reader delays its ACKs (measured on 6.x: a send that
 * leaves 32769 unread has 1 byte in SIOCOUTQ until the delayed ACK, 40 ms later). */
#define DELAYED_ACK_UNREAD 32768

/* ---- the program's ops decoded (diff_gen.c) -------------------------------------------- */

/* A socket option an SD_DIFF_SETOPT sets (an entry of util/sockopts.h's table): an int value,
 * or for SO_LINGER {val, secs} */
struct setopt {
	enum sd__opt opt;
	int val, secs;
};

const struct setopt *sd__diff_setopt_of(const struct sd_diff_op *o);
/* The socket option an SD_DIFF_GETOPT reads. */
const struct sd__sockopt *sd__diff_getopt_of(const struct sd_diff_op *o);
int sd__diff_send_more(const struct sd_diff_op *o);
size_t sd__diff_io_size(const struct sd_diff_op *o);
size_t sd__diff_control_room(const struct sd_diff_op *o);
int sd__diff_msg_flags(const struct sd_diff_op *o);
uint32_t sd__diff_ep_set(const struct sd_diff_op *o);
void sd__diff_make_addr(int v6, int choice, int port, struct sockaddr_storage *ss, socklen_t *len);

/* ---- the documented differences (diff_rules.c) ----------------------------------------- */

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

void sd__diff_not_compared(struct sd_diff_outcome *out, enum rule r);

/* ---- the run state (diff_state.c) ------------------------------------------------------ */

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
	 * connects to them are not compared (see sd__diff_step()). */
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

void sd__diff_sync_copies(struct run *r, const struct slot *sl);
void sd__diff_held_unsure_all(struct run *r, struct slot *p);
long sd__diff_close_slot(struct run *r, struct slot *sl);
void sd__diff_taint(struct run *r, struct slot *sl);
int sd__diff_port_tainted(const struct run *r, int port);
int sd__diff_held_outside(struct run *r, int port);
unsigned char sd__diff_pattern(uint64_t off, int port);
void sd__diff_learn_ports(struct run *r, struct slot *sl);
int sd__diff_slot_of_port(const struct run *r, int port);
struct slot *sd__diff_peer_slot(struct run *r, const struct slot *sl);
void sd__diff_no_nagle(struct run *r, int fd);
void sd__diff_set_text(struct sd_diff_outcome *o, long rc);
long sd__diff_inq_of(struct run *r, const struct slot *sl);
int sd__diff_tcp_state(struct run *r, const struct slot *sl);

/* ---- the steps (diff_step.c, diff_io.c) ------------------------------------------------ */

/* What a step function returns when it wrote the outcome itself; any other value is the
 * call's result (a count or a negative errno), which the dispatcher writes as the outcome. */
#define STEP_WRITTEN LONG_MIN

/* One op kind's step: runs op o on its slot sl (open, unless the kind runs on any slot). */
typedef long sd__diff_step_fn(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			      struct sd_diff_outcome *out, struct sd_diff_result *res);
sd__diff_step_fn sd__diff_step_send, sd__diff_step_recv, sd__diff_step_recvmsg, sd__diff_step_query;

/* Runs one op of the program and records its outcome, with the rules that leave it
 * uncompared applied. */
void sd__diff_step(struct run *r, const struct sd_diff_op *o, struct sd_diff_outcome *out,
		   struct sd_diff_result *res);

#endif
