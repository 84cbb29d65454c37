/* sockdrill: op programs that run the same socket calls on two backends and compare them. */
#ifndef SOCKDRILL_DIFF_H
#define SOCKDRILL_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sockdrill/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A program is a list of non-blocking calls on up to SD_DIFF_SLOTS socket slots (and one
 * epoll instance). Every
 * socket is created with SOCK_NONBLOCK and every address is loopback, so a program runs
 * on the kernel without waiting and without leaving the machine. Results are recorded in a
 * normalized form (descriptor numbers and ephemeral ports do not count; ports are named by
 * the slot that holds them), so two backends can be compared step by step.
 */
#define SD_DIFF_SLOTS   4
#define SD_DIFF_MAX_OPS 64

enum sd_diff_kind {
	SD_DIFF_SOCKET,   /* a: 0 AF_INET, 1 AF_INET6 */
	SD_DIFF_BIND,     /* a: address choice, b: 0 port 0, 1+ the port of slot b-1 */
	SD_DIFF_LISTEN,   /* a: backlog 0..3 */
	SD_DIFF_CONNECT,  /* a: address choice, b: slot whose port to connect to */
	SD_DIFF_ACCEPT,   /* the accepted socket fills the first free slot (else is closed) */
	SD_DIFF_SEND,     /* a*b*37+1 bytes */
	SD_DIFF_RECV,     /* a*b*37+1 bytes; flags from a: MSG_PEEK, MSG_WAITALL|DONTWAIT */
	SD_DIFF_SHUTDOWN, /* how = a % 3 */
	SD_DIFF_CLOSE,
	SD_DIFF_SETOPT,   /* a % 16: REUSEADDR on/off, V6ONLY, LINGER {1,0} {0,0} {0,5}, small
			   * SNDBUF, small RCVBUF, KEEPALIVE, NODELAY, REUSEPORT, TCP_INQ,
			   * RCVLOWAT 10 or 1000, PEEK_OFF 0 or 5 */
	SD_DIFF_SOERROR,  /* getsockopt(SO_ERROR) */
	SD_DIFF_POLL,     /* revents for POLLIN|POLLOUT|POLLRDHUP */
	SD_DIFF_PEERNAME, /* getpeername: the peer's slot-relative port */
	/* One epoll instance per program; its entries carry their slot as data. */
	SD_DIFF_EPOLL_CREATE, /* (re)creates it; a & 1: EPOLL_CLOEXEC */
	SD_DIFF_EPOLL_CTL,    /* a % 3: ADD, MOD, DEL of the slot; b: one of 16 event sets (the
			       * instance is created first if there is none) */
	SD_DIFF_EPOLL_WAIT,   /* timeout 0: the set of (slot, events) reported */
	SD_DIFF_DUP,          /* a copy of the slot's descriptor fills the first free slot */
	SD_DIFF_RECVMSG,      /* a*b*37+1 bytes, a % 6 picks the flags (all non-blocking); the count
			       * and msg_flags */
	SD_DIFF_QUERY,  /* a % 3: ioctl SIOCINQ (FIONREAD), ioctl SIOCOUTQ, getsockopt TCP_INQ */
	SD_DIFF_GETOPT, /* a % 8: SO_LINGER, SO_KEEPALIVE, TCP_NODELAY, SO_REUSEADDR,
			 * SO_ACCEPTCONN, TCP_INFO's state, SO_RCVLOWAT, SO_PEEK_OFF */
	SD_DIFF_NKINDS
};

struct sd_diff_op {
	uint8_t kind, slot, a, b;
};

struct sd_diff_prog {
	struct sd_diff_op op[SD_DIFF_MAX_OPS];
	int n;
};

/* One step's outcome, normalized: `text` is what is compared ("fd", "-EAGAIN", "27",
 * "partial", "0x5", "port(slot 1)"...); one starting with "~" is not compared. */
struct sd_diff_outcome {
	char text[48];
};

struct sd_diff_result {
	struct sd_diff_outcome out[SD_DIFF_MAX_OPS];
	int n;
	int stream_errors; /* bytes received that were not the bytes sent, in order */
	int held_outside;  /* kernel only: binds not compared ("~ port held outside"), as a
			    * socket outside the program held the port (EADDRINUSE) */
};

/* Opens `backend` for a differential run: sd_net_open with the seed, and a sim is given this
 * host's kernel variants (sd_real_host_one_role) and profile (profile=host,
 * sd_sim_profile_host), as it is compared with this host's kernel. 0, or a negative errno
 * (also when the host's kernel could not be probed or its profile read). */
int sd_diff_open(struct sd_net *net, const char *backend, uint64_t seed);
/* Opens a sim modelling the variant given (one_role 0 or 1, the sim option one-role), with the
 * default profile. 0 or a negative errno. */
int sd_diff_open_sim(struct sd_net *net, uint64_t seed, int one_role);
/* Decodes up to max_ops ops from bytes (4 per op, values folded into range). */
void sd_diff_decode(const uint8_t *data, size_t len, int max_ops, struct sd_diff_prog *p);
/* A seeded random program of n ops (n <= SD_DIFF_MAX_OPS). */
void sd_diff_generate(uint64_t seed, int n, struct sd_diff_prog *p);
/* Runs p on net, closing every socket it opened. 0, or a negative errno when the program
 * could not run at all (e.g. -EMFILE). */
int sd_diff_run(struct sd_net *net, const struct sd_diff_prog *p, struct sd_diff_result *r);
/* The index of the first step whose outcomes differ, or -1 when all agree. */
int sd_diff_first_mismatch(const struct sd_diff_result *a, const struct sd_diff_result *b);
/* Writes the program with both outcome columns, marking `mismatch` (may be -1). */
void sd_diff_report(FILE *f, const struct sd_diff_prog *p, const char *name_a,
		    const struct sd_diff_result *a, const char *name_b,
		    const struct sd_diff_result *b, int mismatch);
/* The name of documented difference i (0, 1, ...) that the comparison allows for, as an
 * uncompared outcome shows it ("~ NAME") and docs/sim-vs-linux.md lists it; NULL past the
 * last. */
const char *sd_diff_rule_name(int i);
/* One op as text, e.g. "connect(s1, 127.0.0.1, port of s0)". */
char *sd_diff_op_format(const struct sd_diff_op *op, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
