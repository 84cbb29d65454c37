/* sockdrill: fault injection: the spec, the seeded decisions, and the sd_ops wrapper. */
#ifndef SOCKDRILL_FAULT_H
#define SOCKDRILL_FAULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sockdrill/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The list below is laid out by hand: the formatter would reflow its columns. */
/* clang-format off */
/*
 * A spec is "NAME[=VALUE],..." (docs/faults.md):
 *   short-read[=N]     each read-side call moves a seeded 1..N bytes (default 1)
 *   short-write[=N]    each write-side call moves a seeded 1..N bytes (default 1)
 *   eintr[=P]          a blocking call fails with EINTR before doing anything
 *   eagain[=P]         a call on a non-blocking socket fails with EAGAIN
 *   reset[=P]          a read or write resets the connection: ECONNRESET here, RST to the peer
 *   accept-fail[=P]    accept fails with EMFILE, ECONNABORTED or ENFILE; the connection
 *                      stays queued
 *   connect-fail[=P]   connect fails with ECONNREFUSED or ETIMEDOUT
 *   delay[=MS]         each call waits MS milliseconds first (default 10)
 *   scope=all|accepted|connected
 *                      which sockets get faults (default all)
 *   level-triggered    the program waits level-triggered (poll, select, epoll without
 *                      EPOLLET): short reads and writes and EAGAIN on non-blocking sockets
 *                      even where the net below cannot make their readiness new (see
 *                      sd_fault_wrap)
 *   epipe[=P]          a write fails with EPIPE (SIGPIPE under the preload without
 *                      MSG_NOSIGNAL): the connection is dead, the peer gets an RST
 *   etimedout[=P]      a read fails with ETIMEDOUT: the connection is dead as after `reset`
 *   enobufs[=P]        a write fails with ENOBUFS; nothing else changes
 *   enomem[=P]         a write fails with ENOMEM; nothing else changes
 *   emfile[=P]         socket, accept or epoll_create fails with EMFILE (accept: the
 *                      connection stays queued)
 *   enfile[=P]         the same with ENFILE
 *   eai-again[=P]      getaddrinfo fails with EAI_AGAIN
 *   eai-noname[=P]     getaddrinfo fails with EAI_NONAME
 *   latency=MS[~J]     each read and write waits MS milliseconds, give or take a seeded J
 *   bandwidth=KBPS     each read or write of n bytes waits n / KBPS ms afterwards
 *                      (1 KB: 1000 B)
 *   slice=N[~V]        a write goes out in pieces of N bytes, give or take a seeded V, 1 ms
 *                      apart; the program sees the whole write
 *   limit-data=N       after N bytes in all on a connection it is shut both ways: the peer
 *                      gets a FIN, the program reads the end of the stream and writes EPIPE
 *   slow-close=MS      close and shutdown wait MS milliseconds first
 *   timeout=MS         the connection stops answering at its first read or write aimed at:
 *                      that call waits MS, then fails ETIMEDOUT; the connection is dead
 * A probability (P) defaults to 0.1 when no value is given; 0 turns the fault off.
 *
 * Each fault may be aimed with "@KEY=VALUE" parts after it (docs/faults.md, "Targets"):
 *   @conn=a2           only that connection (a: accepted, c: connecting, l: listener)
 *   @after=N           only calls after the connection's Nth (calls N+1, N+2, ...)
 *   @for=M             only M calls (after @after's): for=1 is transient, no @for persistent
 *   @op=read|write|accept|connect|socket|close|epoll|resolve
 *                      only those kinds of call
 *   @window=FROM-TO    only from FROM until TO since the start (e.g. 100ms-2s; virtual on sim)
 * e.g. "reset=0.5@conn=a2", "eintr=1@after=3@for=2", "short-read=1@window=1s-3s".
 */
/* clang-format on */
enum sd_fault_scope { SD_SCOPE_ALL, SD_SCOPE_ACCEPTED, SD_SCOPE_CONNECTED };

/* The kinds of fault, as indexes of a spec's targets. Appended only. */
enum sd_fault_kind {
	SD_FK_SHORT_READ,
	SD_FK_SHORT_WRITE,
	SD_FK_EINTR,
	SD_FK_EAGAIN,
	SD_FK_RESET,
	SD_FK_ACCEPT_FAIL,
	SD_FK_CONNECT_FAIL,
	SD_FK_DELAY,
	SD_FK_EPIPE,
	SD_FK_ETIMEDOUT,
	SD_FK_ENOBUFS,
	SD_FK_ENOMEM,
	SD_FK_EMFILE,
	SD_FK_ENFILE,
	SD_FK_LATENCY,
	SD_FK_BANDWIDTH,
	SD_FK_SLICE,
	SD_FK_LIMIT_DATA,
	SD_FK_SLOW_CLOSE,
	SD_FK_TIMEOUT,
	SD_FK_EAI_AGAIN,
	SD_FK_EAI_NONAME,
	SD_FK_KINDS
};

/* Where one kind of fault may fire; all zero: everywhere its probability says. */
struct sd_fault_target {
	uint64_t conn;          /* 0: any connection, else its ordinal (SD_CONN_* | n) */
	uint64_t after, count;  /* only calls after+1 .. after+count; count 0: no end */
	unsigned ops;           /* 1 << enum sd_fault_op for each op aimed at; 0: any */
	int64_t from_ns, to_ns; /* only from_ns <= t < to_ns since the start; to_ns 0: always */
};

struct sd_fault_spec {
	unsigned short_read, short_write; /* 0: off, else the largest piece */
	double eintr, eagain, reset, accept_fail, connect_fail;
	unsigned delay_ms;
	enum sd_fault_scope scope;
	int level_triggered; /* short calls and EAGAIN on non-blocking sockets anyway */
	/* Appended with the toxiproxy-like vocabulary; zero is off, as above. */
	double epipe, etimedout, enobufs, enomem, emfile, enfile;
	unsigned latency_ms, jitter_ms; /* latency: 0 off */
	unsigned bandwidth_kbps;        /* 0: off */
	unsigned slice, slice_var;      /* 0: off, else the piece size and its variation */
	unsigned limit_data;            /* bytes; 0: off */
	unsigned slow_close_ms, timeout_ms;
	double eai_again, eai_noname;
	int windows; /* some target has a window: decisions need the time */
	struct sd_fault_target target[SD_FK_KINDS];
};

/* 0, or -EINVAL with "faults: ..." naming the bad part in err. NULL or "" is no fault. */
int sd_fault_parse(const char *text, struct sd_fault_spec *spec, char *err, size_t errlen);
/* 1 when the spec injects anything at all. */
int sd_fault_active(const struct sd_fault_spec *spec);
/* The kinds as the parser knows them, for a caller that reports on a spec (wrap's summary):
 * kind k's name ("short-read", ...; NULL for no such kind), the ops it can touch (1 << enum
 * sd_fault_op for each), and 1 when spec asks for it. */
const char *sd_fault_kind_name(int k);
unsigned sd_fault_kind_ops(int k);
int sd_fault_kind_asked(const struct sd_fault_spec *spec, int k);
/* The ops (1 << enum sd_fault_op each) that some kind the spec asks for can touch. For any
 * other op sd_fault_decide_at gives "deliver unchanged" whatever its other arguments, so a
 * caller may skip deciding it (the wrapper with every fault at probability 0). */
unsigned sd_fault_ops_asked(const struct sd_fault_spec *spec);

/* The spec as text sd_fault_parse reads back to the same spec: its kinds in the order of
 * enum sd_fault_kind, each with its value and targets, then scope and level-triggered ("" for
 * no fault). Returns the length it needs; only the first size bytes are stored (with NUL). */
size_t sd_fault_spec_text(const struct sd_fault_spec *spec, char *out, size_t size);

/* Kinds of call, as the decisions see them. */
enum sd_fault_op {
	SD_OP_READ,
	SD_OP_WRITE,
	SD_OP_ACCEPT,
	SD_OP_CONNECT,
	SD_OP_SOCKET,
	SD_OP_CLOSE,
	SD_OP_EPOLL,   /* epoll_create, epoll_create1 */
	SD_OP_RESOLVE, /* getaddrinfo */
	SD_OP_KINDS
};

/* How a call waits, as the decisions see it. A kernel interrupts only a call that waits
 * (EINTR), and fails or cuts short a non-blocking one only when its queue is empty or full,
 * which epoll(7) then reports anew; a fault that does so with bytes queued or room free is
 * truthful only if readiness is made new after it. */
enum sd_fault_wait {
	SD_WAIT_NONBLOCKING, /* readiness is made new after a fault: EAGAIN and short calls */
	SD_WAIT_BLOCKING,    /* EINTR and short calls, never EAGAIN */
	SD_WAIT_NONBLOCKING_NO_EDGE, /* nothing can make readiness new: no EAGAIN, no short call */
};

/* One decision: what to inject, if anything. */
struct sd_fault_decision {
	const char *fault; /* "short-read", "eintr", ...; NULL: deliver unchanged */
	int err;           /* errno to return instead of calling, 0 if none; for
			    * SD_OP_RESOLVE an EAI_* code (negative) */
	size_t len;        /* the (possibly reduced) length to pass on */
	int reset;         /* reset the connection, then return -ECONNRESET */
	unsigned delay_ms; /* wait first */
	/* Appended: */
	unsigned bandwidth_kbps;   /* wait after the call, by the bytes it moved (0: no) */
	unsigned slice, slice_var; /* send the write in pieces (0: no): sd_fault_slice_piece */
	uint64_t slice_key;        /* the seeded sizes of the pieces */
	unsigned limit;            /* limit-data: the connection's byte budget (0: none) */
	int eof;                   /* a read to answer with the end of the stream, uncalled */
	/* Appended: what was decided for, for the hooks (sd_fault_hooks.seen): the connection's
	 * ordinal (0 for socket, epoll_create, getaddrinfo) and the call's number on it. */
	uint64_t conn, call;
};

/* The size of piece i (0, 1, ...) of a sliced write: slice +- slice_var, at least 1. */
size_t sd_fault_slice_piece(const struct sd_fault_decision *d, unsigned i);
/* How long to wait between the pieces of a sliced write. */
#define SD_FAULT_SLICE_GAP_NS 1000000

/*
 * Decides for call number `call` (1, 2, ...) on connection `conn` (an ordinal: which
 * connection this is in accept or connect order, with the role in the top bits), for an
 * operation asking `len` bytes, waiting as `wait` says. The same arguments always give the
 * same decision: that is what makes a run replay exactly.
 */
void sd_fault_decide(const struct sd_fault_spec *spec, uint64_t seed, uint64_t conn, uint64_t call,
		     enum sd_fault_op op, enum sd_fault_wait wait, size_t len,
		     struct sd_fault_decision *d);
/* The same at time t_ns since the start (virtual on the sim), for specs with windows;
 * sd_fault_decide is this at time 0. A `socket` call is decided with conn 0 and call the
 * ordinal of the socket call in the wrapper. */
void sd_fault_decide_at(const struct sd_fault_spec *spec, uint64_t seed, uint64_t conn,
			uint64_t call, enum sd_fault_op op, enum sd_fault_wait wait, size_t len,
			int64_t t_ns, struct sd_fault_decision *d);

/* Connection ordinals: role in the top byte, so accepted and connected sockets count apart. */
#define SD_CONN_ACCEPTED  (1ull << 56)
#define SD_CONN_CONNECTED (2ull << 56)
#define SD_CONN_LISTENER  (3ull << 56)
/* A socket that has not connected, been accepted or listened when a call on it was decided
 * ("s1", "s2", ...: numbered per wrapper, i.e. per process under the preload). */
#define SD_CONN_SOCKET (4ull << 56)

/* Writes one JSON object for an injected fault into buf; returns its length. */
size_t sd_fault_format(char *buf, size_t size, int64_t t_ns, uint64_t conn, uint64_t call,
		       const char *op, const struct sd_fault_decision *d, size_t asked);
/* sd_fault_format with the process in it (the preload, where forked workers share one log):
 * "pid":pid in the object and the connection as "conn_pid/a3" (conn_pid: the process that
 * numbered the connection). pid 0 leaves both out, as sd_fault_format does. */
size_t sd_fault_format_pid(char *buf, size_t size, int64_t t_ns, long pid, long conn_pid,
			   uint64_t conn, uint64_t call, const char *op,
			   const struct sd_fault_decision *d, size_t asked);
/* The same as one line of text without newline, for a trace (the `note` member): "fault a1
 * call 3 recv(7): short-read, 1 of 512 bytes", "fault l1 call 2 accept(5): eagain (EAGAIN)".
 * Returns its length. */
size_t sd_fault_describe(char *buf, size_t size, uint64_t conn, uint64_t call, const char *op,
			 int fd, const struct sd_fault_decision *d, size_t asked);

/*
 * Wraps `inner` (which must stay open as long as the wrapper) into *out: every call is
 * forwarded, with faults decided by spec and seed first. `log` (may be NULL) gets one JSON
 * line per injected fault, written before the call is forwarded; inner gets it as a line of
 * text in its record of calls too (its `note` member: a trace wrapper's line). Close with
 * sd_net_close(out); inner is not closed. 0, or -ENOMEM, -EINVAL.
 *
 * Faults stay within what a kernel can produce. After a short read or EAGAIN on a non-blocking
 * read-side call (recv, recvmsg, accept), or a short write or EAGAIN on a non-blocking send or
 * sendmsg, the socket's readiness is made new (inner's `wake` member), so an edge-triggered
 * program is woken as if the rest had just arrived or room had just been made. An inner net
 * that cannot do that (the real backend) gets none of those faults on non-blocking calls,
 * unless the spec says level-triggered.
 */
int sd_fault_wrap(struct sd_net *out, struct sd_net *inner, const struct sd_fault_spec *spec,
		  uint64_t seed, FILE *log);
/* A call with no connection of its own (socket, epoll_create, getaddrinfo: op says which),
 * decided by its ordinal among the wrapper's calls of that op, and logged. 0 to go on, or
 * what to fail it with: a negative errno, or for SD_OP_RESOLVE an EAI_* code. 0 for a net
 * that is not a wrapper. */
int sd_fault_call(struct sd_net *net, enum sd_fault_op op, const char *name);
/* Faults injected so far by a wrapper made with sd_fault_wrap (-EINVAL for another net). */
long sd_fault_count(struct sd_net *net);
/* The net a wrapper made with sd_fault_wrap forwards to (NULL for another net): for calls only
 * that backend offers, such as the sim's own API. */
struct sd_net *sd_fault_inner(struct sd_net *net);
/* Descriptor nfd, a copy of fd made outside the wrapper (dup, dup2, F_DUPFD seen by an
 * interposer), continues fd's connection: the same ordinal, its call count from fd's. 0, or
 * -EINVAL (not a wrapper), -ENOMEM. */
int sd_fault_dup(struct sd_net *net, int fd, int nfd);
/* Records that descriptor fd is now (on != 0) or no longer non-blocking, without forwarding:
 * for an interposer whose descriptor is the socket itself (the preload), where the C library
 * call the program made has set the flag already and asking inner again would be a system call
 * a sandbox may not expect. 0, or -EINVAL (not a wrapper). */
int sd_fault_note_nonblocking(struct sd_net *net, int fd, int on);
/* Descriptor fd, a socket the program had before the wrapper saw it (inherited across exec:
 * sshd's re-exec, inetd, systemd's LISTEN_FDS), is one of the wrapper's from now on: the next
 * ordinal of `role` (SD_CONN_ACCEPTED, SD_CONN_LISTENER or SD_CONN_CONNECTED; 0 for a socket
 * not yet connected, numbered when it connects or listens), blocking unless nonblock. 0, or
 * -EINVAL (not a wrapper), -ENOMEM. */
int sd_fault_adopt(struct sd_net *net, int fd, uint64_t role, int nonblock);
/* A connection's identity in a wrapper: its ordinal, the process that numbered it (0: the
 * wrapper had no pid) and the calls decided on this descriptor so far. The preload carries it
 * across exec (docs/faults.md, "Across exec"), so that a connection keeps its decisions. */
struct sd_fault_conn {
	uint64_t conn, calls;
	long pid;
};
/* Descriptor fd's identity into *c: 0, -ENOENT (fd is not numbered: no connection yet), or
 * -EINVAL (not a wrapper). */
int sd_fault_conn_of(struct sd_net *net, int fd, struct sd_fault_conn *c);
/* Descriptor fd, a socket the program had before the wrapper saw it, continues the connection
 * *c numbered elsewhere (by the image before an exec): its ordinal, its process and its call
 * count, without taking an ordinal of this wrapper's; blocking unless nonblock. 0, or -EINVAL
 * (not a wrapper, or c has no ordinal), -ENOMEM. */
int sd_fault_adopt_conn(struct sd_net *net, int fd, const struct sd_fault_conn *c, int nonblock);
/* Takes (lock != 0) or releases the wrapper's lock, e.g. around fork() in a threaded program,
 * so that no child starts with it held by a thread it does not have. */
void sd_fault_lock(struct sd_net *net, int lock);
/* From now on a wrapper made with sd_fault_wrap decides by this spec and seed and logs to
 * `log`; descriptors keep their connection ordinals and call counts (a long-lived server's
 * next fuzz input, persistent mode). 0, or -EINVAL (not a wrapper). */
int sd_fault_respec(struct sd_net *net, const struct sd_fault_spec *spec, uint64_t seed, FILE *log);

/*
 * What a wrapper tells besides its FILE log (the preload: its own log writer and its per-pid
 * counts). Every member may be NULL or 0.
 *   seen   called after every decision, injected or not, outside the wrapper's lock: it must
 *          make no system call (a sandboxed program may forbid any) and not block.
 *   line   one whole log line (newline included), instead of the FILE; called with the
 *          wrapper's lock held, so lines never interleave.
 *   pid    when not 0, lines carry "pid" and connection ids the pid that numbered them
 *          (sd_fault_format_pid); sd_fault_set_pid changes it after fork.
 *   spared (appended) called before `seen` for a non-blocking read, write or accept that no
 *          EAGAIN may refuse: the first of its direction since the program waited (see
 *          sd_fault_note_wait), whatever the decision was; the same rules as `seen`. With the
 *          calls `seen` counts it tells whether EAGAIN could ever have fired.
 */
struct sd_fault_hooks {
	void (*seen)(void *ctx, enum sd_fault_op op, int blocking,
		     const struct sd_fault_decision *d);
	void (*line)(void *ctx, const char *line, size_t len);
	void *ctx;
	long pid;
	void (*spared)(void *ctx, enum sd_fault_op op);
};
/* Installs hooks on a wrapper made with sd_fault_wrap. 0, or -EINVAL (not a wrapper). */
int sd_fault_set_hooks(struct sd_net *net, const struct sd_fault_hooks *hooks);
/* The process the wrapper now runs in, after fork(): call it with the wrapper's lock held
 * (sd_fault_lock, as around fork) or before any other thread uses the wrapper. */
void sd_fault_set_pid(struct sd_net *net, long pid);

/* The program waited for readiness (poll, select, epoll_wait), as an interposer that passes
 * those calls on to the kernel sees (the preload). Once told, the wrapper refuses a
 * non-blocking call with EAGAIN only in the middle of a read or write loop, never as the first
 * call of a direction after a wait, where a kernel would have had data or room
 * (docs/faults.md). No-op for another net. */
void sd_fault_note_wait(struct sd_net *net);

extern const struct sd_ops sd_fault_ops;

#ifdef __cplusplus
}
#endif
#endif
