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
 * Options (sd_config.options, comma-separated key=value, or sd_config.sim typed: struct
 * sd_sim_config below; docs/sim-vs-linux.md):
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
 *   profile=NAME   the kernel tunables (ports, somaxconn, wmem_max, rmem_max and those
 *                  below) come from a profile: sd_sim_profile_find's NAME, or "host", this
 *                  machine's (sd_sim_profile_host). Options given explicitly override it,
 *                  wherever they stand. Default: linux-6.18 (sd_sim_profile_at(0)), whose
 *                  values the defaults above are
 *   syn_retries=N, syn_linear_timeouts=N, hz=N, fin_timeout=S   as the profile fields
 *   tcp_rmem_max=N, tcp_peek_off=0|1, tw_reuse=0|1|2, tw_reuse_delay=MS,
 *   notsent_lowat=N   as the profile fields
 */
extern const struct sd_ops sd_sim_ops;

/*
 * A kernel profile: the tunables of the kernel the sim imitates that it models. Linux's answer
 * depends on its version and its sysctls; a profile names one such kernel, with the source of
 * each value (docs/sim-vs-linux.md, "Kernel profiles").
 */
struct sd_sim_profile {
	char name[32];
	char source[160];        /* where the values come from */
	int syn_retries;         /* net.ipv4.tcp_syn_retries */
	int syn_linear_timeouts; /* net.ipv4.tcp_syn_linear_timeouts (0: none, before 6.18) */
	int rto_max_ms;          /* net.ipv4.tcp_rto_max_ms (TCP_RTO_MAX before 6.15) */
	int hz;                  /* CONFIG_HZ: SO_RCVTIMEO/SO_SNDTIMEO are kept in its ticks */
	int port_lo, port_hi;    /* net.ipv4.ip_local_port_range */
	int somaxconn;           /* net.core.somaxconn */
	int wmem_max, rmem_max;  /* net.core.wmem_max, rmem_max */
	int wmem_def, rmem_def;  /* net.ipv4.tcp_wmem[1], tcp_rmem[1]: SO_SNDBUF/SO_RCVBUF */
	int fin_timeout;         /* net.ipv4.tcp_fin_timeout, seconds */
	int tcp_rmem_max;        /* net.ipv4.tcp_rmem[2]: SO_RCVLOWAT's cap without SO_RCVBUF */
	int tcp_peek_off;        /* 1: TCP has SO_PEEK_OFF (Linux 6.10 and later), 0: EOPNOTSUPP */
	int tw_reuse;            /* net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only */
	int tw_reuse_delay;      /* net.ipv4.tcp_tw_reuse_delay, ms (6.14; 1000 before it) */
	/* net.ipv4.tcp_notsent_lowat, the TCP_NOTSENT_LOWAT of sockets that set none; a u32
	 * whose values from INT_MAX up (the default, UINT_MAX) all mean no mark: INT_MAX */
	int notsent_lowat;
};

/*
 * The sim's options, typed: what an options text says (above), parsed once where the text
 * enters (sd_sim_config_parse) or filled in by a driver, and given to sd_net_open as
 * sd_config.sim, which the sim then takes instead of parsing sd_config.options. Start from
 * sd_sim_config_init, the defaults, and change fields. create checks the fields of the
 * instance against the options' ranges (-EINVAL); the profile is taken as it is, as a named
 * profile's values are.
 */
struct sd_sim_config {
	int segment;           /* segment=N, 0..1048576 (0: off) */
	double preempt;        /* preempt=P, 0..1 */
	int nofile;            /* nofile=N, 1..16777216 */
	int fdbase;            /* fdbase=N, 0..1048576 */
	int stack_kb;          /* stack=KB, 16..1048576 */
	int one_role;          /* one-role=0|1 */
	int unprivileged;      /* 1: unprivileged */
	int allow_nonloopback; /* 1: allow-nonloopback (as SD_CFG_ALLOW_NONLOOPBACK) */
	/* profile=NAME's tunables (default: sd_sim_profile_at(0)), the ones the options name
	 * (ports=, somaxconn=, hz=, ...) set over them */
	struct sd_sim_profile profile;
};

/* The defaults: what an empty options text means. */
void sd_sim_config_init(struct sd_sim_config *cfg);
/* The options text (NULL or "": the defaults) into *cfg, its profile read first and the
 * options given beside it over its values, wherever they stand. 0, or -EINVAL with one line
 * in err (errlen 0: none) naming the option that is unknown or out of range. */
int sd_sim_config_parse(const char *text, struct sd_sim_config *cfg, char *err, size_t errlen);

/* The named profiles, in a fixed table: index 0..n-1, NULL past the end. */
const struct sd_sim_profile *sd_sim_profile_at(int i);
/* The named profile, or NULL ("host" is not in the table: see sd_sim_profile_host). */
const struct sd_sim_profile *sd_sim_profile_find(const char *name);
/*
 * This machine's profile, read from ROOT/proc/sys (root NULL or "": "/") and the kernel
 * version from ROOT/proc/sys/kernel/osrelease. A sysctl a kernel lacks takes the value that
 * kernel behaves with (tcp_syn_linear_timeouts 0, tcp_rto_max_ms 120000). hz > 0 is the
 * tick rate to use; hz <= 0 asks the kernel (sd_real_host_hz). 0, or a negative errno with
 * one line naming the file in err: -ENOENT (a sysctl every kernel has is missing), -EINVAL
 * (a value that does not parse or is out of range).
 */
int sd_sim_profile_read(const char *root, int hz, struct sd_sim_profile *out, char *err,
			size_t errlen);
/* sd_sim_profile_read("/", 0, ...) once per process, remembered; what profile=host uses. */
int sd_sim_profile_host(struct sd_sim_profile *out, char *err, size_t errlen);
/* The profile a sim runs with (its options applied): 0, or -EINVAL when net is not a sim. */
int sd_sim_profile_of(struct sd_net *net, struct sd_sim_profile *out);

/* The sd_sim_* calls take the sim, or a trace wrapper over it (sd_trace_wrap in
 * <sockdrill/trace.h>), which only watches the calls: a traced run's code keeps one net for
 * both. Any other net is "not a sim". */

/* The deadlock report of the last call that found every actor blocked, or NULL. */
const char *sd_sim_deadlock_report(struct sd_net *net);

/* The sim's one-role option: 1 or 0, or -EINVAL when net is not a sim. */
int sd_sim_one_role(struct sd_net *net);

struct sd_sim_stats {
	uint64_t calls;    /* socket calls made */
	uint64_t sigpipes; /* SIGPIPEs Linux would have raised (never raised here) */
	int64_t now_ns;    /* the virtual clock */
	int open_fds;      /* descriptors open now */
	int listening;     /* of them, sockets listening (descriptors of epoll instances aside) */
};
int sd_sim_stats(struct sd_net *net, struct sd_sim_stats *out);

/* Bytes arriving at socket fd from now on come in seeded pieces of 1..segment bytes, 0 whole,
 * -1 as the sim's `segment` option says (the default). 0, -EINVAL for a segment outside
 * -1..1048576, -EBADF, -ENOTSOCK (an epoll instance), -EOPNOTSUPP when net is not a sim. The fuzz
 * driver's clients take their replies whole: cutting a MiB reply into pieces of a few bytes tests
 * nothing of the server's and costs a scheduler round per piece. */
int sd_sim_set_segment(struct sd_net *net, int fd, int segment);

/* How many listening sockets of the sim a connect to address a (AF_INET or AF_INET6) would
 * reach now, 0 when it would be refused; nothing in the sim changes. -EINVAL for port 0 or a
 * short address, -EAFNOSUPPORT, -EFAULT for NULL, -EOPNOTSUPP when net is not a sim. */
int sd_sim_listening(struct sd_net *net, const struct sockaddr *a, socklen_t len);

/* ioctl SIOCINQ (FIONREAD) when outq is 0: bytes readable on fd now; SIOCOUTQ when outq is 1:
 * bytes fd sent that its peer has not received (still arriving, or beyond the peer's receive
 * buffer). As on Linux, 0 while connecting, -EINVAL on a listener; -EBADF, or -EOPNOTSUPP when
 * net is not a sim. Constant time while no bytes are in flight (segment=N delivers pieces
 * later); linear in the pieces of the queue otherwise. */
long sd_sim_queued(struct sd_net *net, int fd, int outq);

/* The `wake` member's POLLIN (sd_wake(net, fd, POLLIN)) made on the sim itself, so that a
 * trace wrapper above it shows no line: bytes left readable on fd count as a new arrival, its
 * readers wake and its edge-triggered EPOLLIN entries report again. 0, -EBADF, or -EOPNOTSUPP
 * when net is not a sim. */
int sd_sim_wake_readers(struct sd_net *net, int fd);

/*
 * Scheduler support for an in-process run (harness/libc/: threads, clocks and exit of a
 * server run as actors; docs/inproc.md). `net` is the sim itself or a trace wrapper over it
 * (not a fault wrapper). Actor 0 is main, the code that opened the sim and runs it by blocking; the
 * calls that act on "the running actor" are meant for the spawned ones.
 */

/* 1 with *out naming the sim, when an actor (not main) of some sim is what runs on the
 * calling OS thread; 0 otherwise (main, another thread, no sim running). */
int sd_sim_current(struct sd_net *out);
/* 1 when the caller runs as an actor (not main) of this sim, else 0. */
int sd_sim_is_actor(struct sd_net *net);
/* A number no other sim of this process had, so one run tells itself from the next even
 * when the new sim reuses the old one's memory; 0 when net is not a sim. */
uint64_t sd_sim_serial(struct sd_net *net);
/* Fills buf with n bytes of the sim's seeded stream (the layer's getrandom for a server):
 * the same seed gives the same bytes, and drawing them leaves the scheduler's choices as they
 * were. 0, or -EINVAL when net is not a sim. */
int sd_sim_random(struct sd_net *net, void *buf, size_t n);
/* The running actor's id (0: main), or -EINVAL when net is not a sim. */
int sd_sim_actor_id(struct sd_net *net);

#define SD_SIM_PARK_INTR 0x1 /* sd_sim_interrupt may end the wait (a cancellation point) */
/*
 * Parks the running actor on `key` (any address; not NULL for waits only sd_sim_unpark
 * ends) until sd_sim_unpark(key), the virtual deadline (ns on the sim clock, -1: none) or,
 * with SD_SIM_PARK_INTR, sd_sim_interrupt. Other actors run meanwhile; when every actor
 * waits and nothing is due, the deadlock report lists this actor as waiting in `what`
 * (copied, up to 63 bytes: "mutex 0x... held by actor 3"). A NULL key waits for any
 * change of the sim's state, as its socket calls do. 0 (unparked), -ETIMEDOUT, -EINTR,
 * -EDEADLK (main only: every actor is blocked for good), -EINVAL (not a sim).
 */
int sd_sim_park(struct sd_net *net, const void *key, int64_t deadline_ns, int flags,
		const char *what);
/* Makes runnable up to n (n < 0: all) actors parked on key, the earliest parked first;
 * returns how many, or -EINVAL. Who then runs first is the seeded scheduler's choice. */
int sd_sim_unpark(struct sd_net *net, const void *key, int n);
/* Interrupts actor id: a wait that allows it (a socket call, or sd_sim_park with
 * SD_SIM_PARK_INTR) ends at once (socket calls return -EINTR); an actor not in such a wait
 * has its next one end at once. 0, or -ESRCH (unknown or ended). */
int sd_sim_interrupt(struct sd_net *net, int id);
/* Ends the running actor now with `status` (pthread_exit, exit()): its frames are
 * abandoned, its joiners wake. Never returns for an actor; -EINVAL for main. */
int sd_sim_actor_exit(struct sd_net *net, int status);
/* Ends actor id where it waits (it never runs again; status -1), as the end of the process
 * ends every thread. 0 (also when it had ended), -EINVAL (main or the running actor),
 * -ESRCH (no such actor: ids run 1, 2, ... without gaps). */
int sd_sim_actor_stop(struct sd_net *net, int id);
/* Nobody will join actor id: its stack is given back as soon as it ends. 0 or -ESRCH. */
int sd_sim_detach(struct sd_net *net, int id);
/* 1 and *status (when not NULL) once actor id has ended, 0 while it runs or waits, -ESRCH. */
int sd_sim_actor_status(struct sd_net *net, int id, int *status);
/* A scheduling point: another runnable actor runs first; with maybe != 0, only with the
 * chance the preempt option gives (as at every socket call). 0 or -EINVAL. */
int sd_sim_yield(struct sd_net *net, int maybe);
/* The virtual clock does not move past t_ns (-1: no limit, the default): when every actor
 * waits and nothing is due before then, it is a deadlock (reported, -EDEADLK to main) even
 * if some wait would end later. Bounds a run whose actors include a thread that sleeps in a
 * loop, where otherwise time would run on for ever. 0 or -EINVAL. */
int sd_sim_set_time_limit(struct sd_net *net, int64_t t_ns);

#ifdef __cplusplus
}
#endif
#endif
