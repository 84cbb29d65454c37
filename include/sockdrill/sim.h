/* sockdrill: the `sim` backend, a deterministic in-memory TCP stack that behaves like Linux. */
#ifndef SOCKDRILL_SIM_H
#define SOCKDRILL_SIM_H

#include <stdint.h>
#include <stdio.h>

#include <sockdrill/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every choice the simulator makes (ephemeral ports, which actor runs next, how a stream is
 * cut into segments, which SO_REUSEPORT listener gets a connection) comes from one PRNG
 * seeded by sd_config.seed; time is a virtual clock that only moves when every actor is
 * blocked and a timer is due. Same seed, same calls => the same results, byte for byte.
 *
 * Options (sd_config.options, comma-separated key=value; docs/sim-vs-linux.md):
 *   segment=N      deliver each send as seeded pieces of 1..N bytes, 10 us apart (default 0: off)
 *   preempt=P      chance 0..1 of switching to another actor at each call (default 0.25)
 *   ports=LO-HI    ephemeral range (default 32768-60999)
 *   somaxconn=N    listen backlog cap (default 4096)
 *   wmem_max=N, rmem_max=N   SO_SNDBUF/SO_RCVBUF caps before doubling (default 4194304)
 *   nofile=N       descriptor limit, as RLIMIT_NOFILE (default 1024)
 *   fdbase=N       first descriptor number (default 3, as in a process with stdio open)
 *   unprivileged   ports below 1024 need privilege: bind gives EACCES
 *   stack=KB       coroutine stack per actor (default 256)
 *   allow-nonloopback  as for `real`: without it, non-loopback addresses give EPERM
 *   one-role=0|1   the kernel variant in which a TCP socket that has connected never listens
 *                  and one that has listened never connects (EINVAL): 1 models it, 0 (the
 *                  default) models mainline Linux, which allows both
 */
extern const struct sd_ops sd_sim_ops;

/* Turns tracing on: one line per call (virtual time, actor, call, arguments, result),
 * written to f, or only hashed when f is NULL. Off until first called (it costs a format
 * per call). -EINVAL when net is not a sim. */
int sd_sim_set_trace(struct sd_net *net, FILE *f);
/* FNV-1a hash of every trace line since tracing was turned on. */
uint64_t sd_sim_trace_hash(struct sd_net *net);
/* The deadlock report of the last call that found every actor blocked, or NULL. */
const char *sd_sim_deadlock_report(struct sd_net *net);

/* The sim's one-role option: 1 or 0, or -EINVAL when net is not a sim. */
int sd_sim_one_role(struct sd_net *net);

struct sd_sim_stats {
	uint64_t calls;    /* socket calls made */
	uint64_t sigpipes; /* SIGPIPEs Linux would have raised (never raised here) */
	int64_t now_ns;    /* the virtual clock */
	int open_fds;      /* descriptors open now */
};
int sd_sim_stats(struct sd_net *net, struct sd_sim_stats *out);

/* ioctl SIOCINQ (FIONREAD) when outq is 0: bytes readable on fd now; SIOCOUTQ when outq is 1:
 * bytes fd sent that its peer has not received (still arriving, or beyond the peer's receive
 * buffer). As on Linux, 0 while connecting, -EINVAL on a listener; -EBADF, or -EOPNOTSUPP when
 * net is not a sim. Constant time while no bytes are in flight (segment=N delivers pieces
 * later); linear in the pieces of the queue otherwise. */
long sd_sim_queued(struct sd_net *net, int fd, int outq);

#ifdef __cplusplus
}
#endif
#endif
