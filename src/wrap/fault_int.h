/* sockdrill: the fault wrapper's private state and the calls its files share (fault*.c). */
#ifndef SD_WRAP_FAULT_INT_H
#define SD_WRAP_FAULT_INT_H

#include <pthread.h>
#include <sys/types.h>

#include <sockdrill/fault.h>

struct finfo {
	uint64_t conn, calls;
	long pid; /* the process that numbered conn (hooks.pid; 0 without) */
	int nonblock;
	size_t peeked;         /* bytes a MSG_PEEK has shown queued that no read has taken yet */
	uint64_t moved;        /* limit-data: bytes read and written so far */
	int limited;           /* limit-data: the budget is spent, the connection shut */
	int stalled;           /* timeout: it fired on this connection */
	uint64_t gen[2];       /* f->waits at the last read-side [0] and write-side [1] call */
	unsigned char went[2]; /* such a call was made (since the socket became this one) */
};

struct fstate {
	struct sd_net *inner;
	int resignal; /* inner makes readiness new after a fault (its `wake` member) */
	struct sd_fault_spec spec;
	unsigned asked; /* sd_fault_ops_asked(&spec): the ops worth deciding at all */
	uint64_t seed;
	int64_t t0; /* the inner net's clock when wrapped: log times count from it */
	FILE *log;
	pthread_mutex_t m; /* guards fds, counters and the log */
	struct finfo *fds; /* fds[i] is descriptor lo + i */
	int lo, cap;
	uint64_t accepted, connected, listeners, sockets;
	uint64_t nth[SD_OP_KINDS]; /* calls decided with no connection (socket, epoll, resolve) */
	long injected;
	struct sd_fault_hooks hooks; /* sd_fault_set_hooks; zero: none */
	uint64_t waits;  /* sd_fault_note_wait: the program's poll, select and epoll waits */
	int waits_noted; /* they are told, so EAGAIN follows the rule of `drained` */
};

#define IN(f) ((f)->inner)

/* What the wrapper knows of one call before deciding it. */
struct call_rec {
	uint64_t conn, call;
	long conn_pid;
	int blocking, mid_loop;
	size_t known;
};

/* ---- fault_conn.c: what the wrapper knows of each descriptor ---------------------------- */

struct finfo *fault__grow(struct fstate *f, int fd);

static inline struct finfo *fault__info(struct fstate *f, int fd)
{
	if ((unsigned)fd - (unsigned)f->lo < (unsigned)f->cap && fd <= (1 << 24))
		return &f->fds[fd - f->lo]; /* fd >= lo >= 0 */
	return fault__grow(f, fd);
}

void fault__note_read(struct fstate *f, int fd, size_t k, int peek);
/* fd's O_NONBLOCK as the program set it (the wrapper's call or sd_fault_note_nonblocking). */
void fault__note_nonblock(struct fstate *f, int fd, int on);
void fault__conn_kinds(struct fstate *f, int fd, enum sd_fault_op op, size_t len,
		       struct sd_fault_decision *d);
void fault__spend(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k, int peek);
void fault__account(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait,
		    struct call_rec *r);

/* ---- fault_inject.c: deciding a call, and injecting and logging what was decided -------- */

int fault__inner_wake(struct fstate *f, int fd, short events);
int fault__pre(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait, size_t len,
	       const char *name, struct sd_fault_decision *d, short *wake);
void fault__slow_close(struct fstate *f, int fd, const char *name);
void fault__pace_now(struct fstate *f, int fd, const struct sd_fault_decision *d, ssize_t k,
		     int peek);
int fault__call_fault(struct fstate *f, enum sd_fault_op op, const char *name);

/* The hooks' view of a decided call (sd_fault_hooks: spared, then seen). */
static inline void fault__tell(struct fstate *f, enum sd_fault_op op, const struct call_rec *r,
			       const struct sd_fault_decision *d)
{
	if (!r->blocking && !r->mid_loop && f->hooks.spared)
		f->hooks.spared(f->hooks.ctx, op);
	if (f->hooks.seen)
		f->hooks.seen(f->hooks.ctx, op, r->blocking, d);
}

/* A call of an op that no asked kind can touch (every fault at probability 0): its decision
 * is "deliver unchanged" whatever the rest, so it is not worked out; the call is only
 * accounted for and told, as fault__pre() would. */
static inline int fault__quiet(struct fstate *f, int fd, enum sd_fault_op op, int msg_dontwait,
			       size_t len)
{
	if (f->asked & 1u << op)
		return 0;
	struct call_rec r;
	struct sd_fault_decision d = {.len = len};
	fault__account(f, fd, op, msg_dontwait, &r);
	fault__tell(f, op, &r, &d);
	return 1;
}

/* After a call cut short: the rest counts as arriving (room as freed) after it. */
static inline void fault__post(struct fstate *f, int fd, short wake)
{
	if (wake)
		fault__inner_wake(f, fd, wake);
}

/* Most calls have neither limit-data nor bandwidth: nothing to do after them. */
static inline void fault__pace(struct fstate *f, int fd, const struct sd_fault_decision *d,
			       ssize_t k, int peek)
{
	if (d->limit || d->bandwidth_kbps)
		fault__pace_now(f, fd, d, k, peek);
}

#endif
