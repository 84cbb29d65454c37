/* sockdrill sim: the structures shared by the simulator's files (not a public header). */
#ifndef SD_SIM_INTERNAL_H
#define SD_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <ucontext.h>

#include <sockdrill/sim.h>

#include "../util/util.h"

/* Times and sizes the sim's TCP files share. */
#define SEC             1000000000LL
#define TIME_WAIT_LEN   (60 * SEC) /* TCP_TIMEWAIT_LEN */
#define SEGMENT_GAP_NS  10000      /* spacing of pieces when segmentation is on */
#define TCP_MSS_DEFAULT 536U       /* mss_cache before a connection (tcp_init_sock) */

/* SD_ASAN: built with AddressSanitizer (gcc or clang), and the ASan interface the sim uses
 * (coroutine stacks, pooled chunks). */
#if defined(__SANITIZE_ADDRESS__)
#define SD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SD_ASAN 1
#endif
#endif
#ifdef SD_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old);
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

/* An endpoint address, always held as IPv6 (IPv4 as ::ffff:a.b.c.d) plus a port. */
struct sim__ep {
	uint8_t a[16];
	uint16_t port;
};

/* Linux's TCP states, reduced to the ones a loopback connection passes through: with
 * instant ACKs, SYN_RECV, FIN_WAIT1, CLOSING and LAST_ACK last no time at all. */
enum sim__tcp {
	T_CLOSE,
	T_LISTEN,
	T_SYN_SENT,
	T_ESTABLISHED,
	T_FIN_WAIT2,  /* we sent FIN, the peer has not */
	T_CLOSE_WAIT, /* the peer sent FIN, we have not */
	T_TIME_WAIT,
};

/* The socket layer's view (struct socket::state), which differs from the TCP state in
 * exactly the ways that make a second connect() return 0, EALREADY or ECONNABORTED. */
enum sim__ss { SS_UNCONNECTED, SS_CONNECTING, SS_CONNECTED, SS_DISCONNECTING };

#define SD__RCV_SHUTDOWN  1
#define SD__SEND_SHUTDOWN 2

struct sim__chunk {
	struct sim__chunk *next;
	int64_t arrive; /* virtual time the bytes become readable */
	size_t len, off;
	unsigned char data[];
};

/* Chunks of up to SD__CHUNK_POOLED bytes all have that capacity (len never changes, so len
 * tells which kind a chunk is); they are carved from slabs and go back to the sim's free
 * list, not to malloc: a send makes one per segment, a fuzz input dozens of a few bytes. */
#define SD__CHUNK_POOLED 96

struct sim__sock {
	uint64_t id; /* creation ordinal, for traces */
	int refs;    /* fd table, calls in progress, accept queue */
	int fd;      /* -1 when it has none (not yet accepted, orphaned, TIME_WAIT) */
	int ndesc;   /* descriptors naming it (more than 1 after dup) */
	int v6;      /* AF_INET6 socket */
	int nonblock;
	enum sim__tcp st;
	enum sim__ss ss;
	int shut; /* SD__*_SHUTDOWN bits (sk_shutdown) */
	int err;  /* pending error (sk_err), positive errno */
	int done; /* SOCK_DONE: the peer's FIN was processed */
	int dead; /* the last reference is gone (orphan) */
	int gc, in_connecting;
	/* The roles the socket has taken (docs/sim-vs-linux.md, "One role for good"): it has
	 * been connected or connecting (an accepted child too), or it has listened. */
	int was_conn, was_listener;

	/* binding */
	int bound;      /* has a local port (in the port table) */
	int bind_lock;  /* bind() named the port (SOCK_BINDPORT_LOCK) */
	int addr_lock;  /* bind() named the address (SOCK_BINDADDR_LOCK) */
	int by_connect; /* the port was chosen by connect (Linux: fastreuse -1 bucket) */
	struct sim__ep local, remote;
	struct sim__sock *pnext, *pprev; /* port-table chain for local.port */

	/* options */
	int reuseaddr, reuseport, v6only, keepalive, nodelay;
	int recvmsg_inq; /* TCP_INQ: recvmsg reports the bytes left (TCP_CM_INQ) */
	int peek_off;    /* SO_PEEK_OFF: where MSG_PEEK starts past the unread bytes; -1 off */
	int rcvlowat;    /* SO_RCVLOWAT; 0 stands for Linux's default, 1 (sim__rcvlowat) */
	int sndbuf, rcvbuf, sndbuf_lock, rcvbuf_lock;
	int64_t rcvtimeo, sndtimeo; /* ns; 0 = none */
	int linger_on, linger_s;
	int user_timeout;       /* TCP_USER_TIMEOUT, ms: ends SYN retries */
	int user_mss;           /* TCP_MAXSEG as set; 0 none */
	int mss_cache;          /* the segment size the handshake settled; 0 not connected */
	uint32_t notsent_lowat; /* TCP_NOTSENT_LOWAT as set; 0: the profile's (sim_cork.c) */
	/* Linux's tcp_disconnect() moves write_seq past snd_nxt by max_window + 2, and only a
	 * new connect's tcp_connect_init() closes the gap: until then a closed socket counts
	 * that many not-sent bytes against TCP_NOTSENT_LOWAT (sim__notsent) */
	int had_window; /* it was ESTABLISHED once: max_window is set, and kept by disconnect */
	uint64_t disc_gap;
	/* TCP_CORK and MSG_MORE (sim_cork.c): the last `held` bytes of the peer's queue are held
	 * back by this sender, and arrive at held_until (the probe timer) unless pushed first */
	int cork;
	size_t held;
	int64_t held_until;
	uint32_t port_range; /* IP_LOCAL_PORT_RANGE: high << 16 | low; 0 none */

	/* listener */
	int backlog;
	struct sim__sock *aq_head, *aq_tail, *aq_next; /* accept queue; aq_next links children */
	int aq_len;
	struct sim__sock *lnext;  /* listener chain for local.port */
	struct sim__sock *parent; /* listener of a not yet accepted child */

	/* connection */
	struct sim__sock *peer;
	struct sim__chunk *in_head, *in_tail; /* bytes from the peer, oldest first */
	size_t in_bytes;
	int64_t fin_at; /* when the peer's FIN arrives; -1 none */
	/* Bytes arriving here are cut into pieces of 1..rx_segment bytes (0: whole) instead of
	 * the sim's `segment` option, when rx_segment_own is set (sd_sim_set_segment). */
	int rx_segment_own, rx_segment;

	/* connecting, with the listener's accept queue full: SYN retransmissions */
	struct sim__sock *cnext, *cprev;
	struct sim__ep dst;
	int64_t retry_at, syn_at; /* the next retransmission; the first SYN */
	int retries;

	int64_t tw_until; /* TIME_WAIT expiry */

	/* epoll (sim_epoll.c) */
	struct sim__epoll *ep; /* non-NULL: this descriptor is an epoll instance, not a socket */
	uint64_t rx_total;     /* bytes ever queued to this socket, for edge-triggered arrivals */
	uint64_t evseq;        /* state changes: wake every waiter (sk_state_change) */
	uint64_t inseq;        /* accept-queue additions, `wake` POLLIN: wake readers */
	uint64_t outseq;       /* write space after SOCK_NOSPACE, `wake` POLLOUT: wake writers */
	int nospace;           /* SOCK_NOSPACE: a writer found no room; freed space is an event */
};

enum sim__astate { A_RUNNABLE, A_PARKED, A_DONE, A_JOINED };
/* Why a park ended. W_INTR: sd_sim_interrupt (a pthread_cancel) woke an interruptible wait. */
enum sim__wake { W_WOKEN, W_TIMEOUT, W_DEADLOCK, W_INTR };

struct sim__actor {
	int id;
	size_t slot; /* its place in actors[] and the bit sets */
	char name[32];
	enum sim__astate st;
	enum sim__wake why;
	int64_t deadline; /* -1 = none */
	const char *wait; /* the call it is blocked in, for deadlock reports */
	ucontext_t ctx;   /* where the fast switch is not available */
	void *sp;         /* saved stack pointer of the fast switch (x86-64) */
	void *stack;
	size_t stack_size;
	void (*fn)(void *);
	void *arg;
	const void *asan_bottom; /* stack bounds, for the sanitizer's fiber switching */
	size_t asan_size;

	/* keyed parks (sd_sim_park): only sd_sim_unpark on the same key, the deadline or an
	 * interrupt ends them, never the sim's own wake-ups */
	const void *key;
	uint64_t park_seq; /* when it parked: sd_sim_unpark wakes the earliest first */
	int intr_ok;       /* the wait in progress may be interrupted */
	int intr_pending;  /* an interrupt came while it was not in such a wait */
	int detached;      /* nobody joins it: its stack goes back as soon as it ends */
	int status;        /* sd_sim_actor_exit's status; 0 when fn returned */
	int saved_errno;   /* errno is per actor, as it is per thread */
	char wait_buf[64]; /* the wait a keyed park names in reports */
};

struct sim__sim {
	uint64_t seed, rng;
	int64_t now;

	/* options */
	int port_lo, port_hi, somaxconn, wmem_max, rmem_max, wmem_def, rmem_def, wmem_auto;
	int nofile, fdbase, segment, privileged, allow_nonloopback;
	int one_role; /* the kernel variant "one-role" (docs/sim-vs-linux.md): 0 mainline */
	/* the kernel profile with the options applied; port_lo..rmem_def above are copies */
	struct sd_sim_profile prof;
	unsigned preempt; /* chance in 1/1024 of switching actors at a call */
	size_t stack_kb;

	/* descriptors: fds[i] is fd fdbase+i */
	struct sim__sock **fds;
	int nfds_cap, fd_hint, open_fds;
	uint64_t next_id;

	/* ports: chains of every socket holding a port, and of listeners */
	struct sim__sock **by_port;   /* [65536] */
	struct sim__sock **listeners; /* [65536]; both in one mapping of fresh zero pages */
	/* ports that ever held a socket, so teardown visits only those */
	uint64_t port_seen[65536 / 64];
	uint16_t *ports_used;
	size_t nports_used, capports_used;
	int ports_dirty;       /* a port is in the tables but not in ports_used (out of memory) */
	uint32_t perturb[256]; /* Linux's table_perturb: where connect's port search resumes */
	uint64_t perturb_set[4], perturb_rng; /* entries filled so far; draws they come from */

	struct sim__epoll *epolls;    /* every open epoll instance (sim_epoll.c) */
	struct sim__sock *connecting; /* SYN_SENT sockets waiting for accept-queue room */

	/* pooled chunks (sim_data.c): the free ones, the slabs they are carved from (freed
	 * with the sim), and the part of the newest slab not yet handed out */
	struct sim__chunk *chunk_pool;
	void *chunk_slabs;
	char *slab_next, *slab_end;

	/* timers that are not actor deadlines: data and FIN arrivals, SYN retries */
	int64_t *timers;
	size_t ntimers, timers_cap;

	/* actors */
	struct sim__actor main;
	/* actors[slot]: &main, then the spawned ones in id order. Joined actors (status 0) are
	 * forgotten once they are half the table, the others keeping their order: a sim that
	 * lives long (persistent fuzzing) holds the actors of now, not all it ever ran. */
	struct sim__actor **actors;
	size_t nactors, njoined;
	int last_id; /* the last id given: ids are 1, 2, ..., never given twice */
	/* bit slot % 64 of word slot / 64: actor runnable, parked, parked on a key */
	uint64_t *runq, *parkq, *keyq;
	size_t qwords;
	uint64_t park_seq, serial;
	uint64_t bytes_rng; /* sd_sim_random's stream, apart from the scheduler's draws */
	struct sim__actor *cur, *prev;
	struct sim__sim *outer; /* the sim running on this OS thread when this one's main left */
	int64_t limit;          /* sd_sim_set_time_limit; -1 none */
	char *deadlock;
	int in_scheduler;

	uint64_t calls, sigpipes;
};

/* SO_RCVTIMEO/SO_SNDTIMEO: 0 waits without limit; a negative setting (Linux turns a
 * negative tv_sec into 0 jiffies) does not wait at all. */
static inline int64_t sim__deadline(const struct sim__sim *s, int64_t timeo)
{
	return timeo > 0 ? s->now + timeo : -1;
}

/* The PRNG (splitmix64, util.h), the only source of choices; inline, as the scheduler draws
 * at nearly every call. */
static inline uint64_t sim__rand(struct sim__sim *s) { return sd__splitmix64(&s->rng); }

/* A draw below n (0 for n <= 1, without drawing). */
static inline uint32_t sim__rand_below(struct sim__sim *s, uint32_t n)
{
	if (n <= 1)
		return 0;
	uint64_t r = sim__rand(s);
	/* The scheduler's choices are among a few actors: a constant divisor is a multiply. */
	switch (n) {
	case 2: return (uint32_t)(r % 2);
	case 3: return (uint32_t)(r % 3);
	case 4: return (uint32_t)(r % 4);
	case 5: return (uint32_t)(r % 5);
	case 6: return (uint32_t)(r % 6);
	default: return (uint32_t)(r % n);
	}
}

/* sim.c */
void sim__enter(struct sim__sim *s); /* every call starts here */
int sim__ep_from(const struct sim__sock *k, const struct sockaddr *a, socklen_t len,
		 struct sim__ep *ep);
int sim__wake_fd(struct sim__sim *s, int fd, short events); /* the `wake` member */

/* sim_fd.c */
extern struct sim__sock sim__reserved; /* the slot of an accept still in progress */
struct sim__sock *sim__slot(struct sim__sim *s, int fd);   /* socket or epoll at fd, or NULL */
struct sim__sock *sim__lookup(struct sim__sim *s, int fd); /* the socket at fd, or NULL */
int sim__bad_fd(struct sim__sim *s, int fd);               /* -ENOTSOCK or -EBADF */
int sim__fd_alloc(struct sim__sim *s, struct sim__sock *k);
void sim__fd_free(struct sim__sim *s, int fd);
int sim__close(void *state, int fd);
int sim__dup(void *state, int fd);
int sim__dup3(void *state, int oldfd, int newfd, int flags);
int sim__ioctl(void *state, int fd, unsigned long request, int *value);
int sim__set_nonblocking(void *state, int fd, int on);

/* sim_config.c: the instance's options from cfg (typed, or its text parsed): 0 or -EINVAL. */
int sim__configure(struct sim__sim *s, const struct sd_config *cfg);

/* sim_sockopt.c */
int sim__setsockopt(void *state, int fd, int level, int name, const void *v, socklen_t l);
int sim__getsockopt(void *state, int fd, int level, int name, void *v, socklen_t *l);

/* sim_sched.c */
int sim__sched_init(struct sim__sim *s);
void sim__sched_free(struct sim__sim *s);
/* Parks the running actor until woken, the deadline (-1: none) or, when intr, an interrupt.
 * A NULL key is a wait on the sim's own events (every state change wakes it); any other
 * key only sd_sim_unpark ends. */
enum sim__wake sim__park_on(struct sim__sim *s, const void *key, const char *what, int64_t deadline,
			    int intr);
/* The socket calls' waits: on the sim's events, interruptible. */
static inline enum sim__wake sim__park(struct sim__sim *s, const char *what, int64_t deadline)
{
	return sim__park_on(s, NULL, what, deadline, 1);
}
void sim__yield(struct sim__sim *s); /* another runnable actor, if any, runs first */
/* Preemption at a call: with chance preempt/1024, a yield. Inline, as most calls only draw. */
static inline void sim__maybe_yield(struct sim__sim *s)
{
	if (s->last_id && s->preempt && (sim__rand(s) & 1023) < s->preempt)
		sim__yield(s);
}
void sim__advance(struct sim__sim *s);  /* process timers due at s->now */
void sim__wake_all(struct sim__sim *s); /* every parked actor runs again */
int sim__spawn(struct sim__sim *s, const char *name, void (*fn)(void *), void *arg);
int sim__join(struct sim__sim *s, int id);
/* As sim__join, giving up with -ETIMEDOUT once virtual time reaches deadline (-1: never). */
int sim__join_until(struct sim__sim *s, int id, int64_t deadline);
int sim__sleep(struct sim__sim *s, int64_t ns);
void sim__timer_add(struct sim__sim *s, int64_t at);
void sim__timer_pop(struct sim__sim *s); /* drops the earliest */
void sim__set_state(struct sim__sim *s, struct sim__actor *a, enum sim__astate st);
/* The actor with this id; a joined one for an id forgotten since, NULL for one never given. */
struct sim__actor *sim__actor_find(struct sim__sim *s, int id);
_Noreturn void sim__finish(struct sim__sim *s); /* the running actor has ended */
void sim__actor_main(struct sim__sim *s);       /* where sim_coro.c starts a new actor */
struct sim__sim *sim__running(void);            /* the sim whose actor runs on this thread */

/* sim_coro.c */
void *sim__stack_get(size_t size);
void sim__stack_free(struct sim__actor *a);
void sim__coro_start(struct sim__sim *s, struct sim__actor *a); /* its first switch: actor_main */
void sim__coro_swap(struct sim__sim *s, struct sim__actor *from, struct sim__actor *to, int dying);
#ifdef SD_ASAN
void sim__fiber_arrived(struct sim__sim *s, void *fake);
#endif

/* sim_ports.c */
uint32_t sim__v4of(const struct sim__ep *e);
void sim__set_v4(struct sim__ep *e, uint32_t a);
int sim__is_v6_loopback(const struct sim__ep *e);
int sim__ep_loopback(const struct sim__ep *e); /* 127.0.0.0/8 or ::1 */
int sim__ep_is_v4(const struct sim__ep *e);    /* IPv4, held as ::ffff:a.b.c.d */
int sim__ep_any(const struct sim__ep *e);
void sim__port_link(struct sim__sim *s, struct sim__sock *k);
void sim__port_unlink(struct sim__sim *s, struct sim__sock *k);
void sim__listener_unlink(struct sim__sim *s, struct sim__sock *k);
void sim__reap_port(struct sim__sim *s, uint16_t port);
struct sim__sock *sim__find_listener(struct sim__sim *s, const struct sim__ep *dst);
/* How many listeners a connect to dst could reach (sim__find_listener picks one of the best). */
int sim__listeners_for(struct sim__sim *s, const struct sim__ep *dst);
int sim__connect_autobind(struct sim__sim *s, struct sim__sock *k, const struct sim__ep *dst);
int sim__tuple_taken(struct sim__sim *s, const struct sim__sock *k, const struct sim__ep *dst);
void sim__maybe_free(struct sim__sim *s, struct sim__sock *k);
int sim__bind(struct sim__sim *s, struct sim__sock *k, const struct sim__ep *ep);
int sim__listen(struct sim__sim *s, struct sim__sock *k, int backlog);
uint32_t *sim__perturb(struct sim__sim *s, unsigned i); /* table_perturb[i & 255] */
struct sim__sock **sim__ports_get(void);                /* zeroed port tables for a new sim */
void sim__ports_put(struct sim__sim *s);                /* and back, when it ends */

/* sim_tcp.c */
void sim__sock_unref(struct sim__sim *s, struct sim__sock *k);
/* What sim_connect.c shares with the teardown: tcp_done() (CLOSE, port released), the
 * connecting list, the close of one side with its FIN, the receive queue purged, and the
 * sequence jump tcp_disconnect() makes. */
void sim__tcp_done(struct sim__sim *s, struct sim__sock *k);
void sim__unlink_connecting(struct sim__sim *s, struct sim__sock *k);
void sim__close_state_and_fin(struct sim__sim *s, struct sim__sock *k);
void sim__free_chunks(struct sim__sim *s, struct sim__sock *k);
void sim__disconnect_seq(struct sim__sock *k);
void sim__free_sock(struct sim__sim *s, struct sim__sock *k);
void sim__fin_arrives(struct sim__sim *s, struct sim__sock *k);
/* Processes the peer's FIN if it is due: not yet there, or still behind more queued data than
 * the receive window holds (the rest, and the FIN, still sit in the sender's queue), it waits.
 * Inline, as it is checked at every send, receive and poll, and is mostly not due. */
static inline void sim__sync_fin(struct sim__sim *s, struct sim__sock *k)
{
	if (k->fin_at < 0 || k->fin_at > s->now || k->in_bytes > (size_t)k->rcvbuf)
		return;
	sim__fin_arrives(s, k);
}
void sim__rst_arrives(struct sim__sim *s, struct sim__sock *k);
int sim__disconnect(struct sim__sim *s, struct sim__sock *k);
/* sim_connect.c */
int sim__accept(struct sim__sim *s, struct sim__sock *k, struct sim__sock **child, int nonblock);
int sim__connect(struct sim__sim *s, struct sim__sock *k, const struct sim__ep *dst, int aerr,
		 int nonblock);
void sim__retry_connects(struct sim__sim *s);
/* sim_opts.c */
int sim__opt_ours(int level, int name); /* SO_RCVLOWAT, TCP_USER_TIMEOUT, TCP_MAXSEG */
int sim__opt_set(struct sim__sim *s, struct sim__sock *k, int level, int name, const void *v,
		 socklen_t l, int *iv);
int sim__opt_get(const struct sim__sock *k, int level, int name);
size_t sim__rcv_target(const struct sim__sock *k, int flags, size_t len);
int sim__below_lowat(struct sim__sim *s, struct sim__sock *k); /* a waiting reader sleeps on */
void sim__mss_at_connect(struct sim__sock *k, struct sim__sock *c);
int sim__port_range(const struct sim__sim *s, const struct sim__sock *k, int *low, int *high);
int sim__user_timeout_over(const struct sim__sim *s, const struct sim__sock *k);
int64_t sim__user_timeout_clamp(const struct sim__sim *s, const struct sim__sock *k, int64_t rto);
/* sim_cork.c */
int sim__cork_set(struct sim__sim *s, struct sim__sock *k, int on);
void sim__cork_push(struct sim__sim *s, struct sim__sock *k); /* held bytes leave now */
void sim__cork_drop(struct sim__sim *s, struct sim__sock *k); /* a reset: held bytes are lost */
/* How many of `take` bytes a send round queues to leave now (*hold: those held after them),
 * pushing or keeping what is held already; `more`: corked, or MSG_MORE. */
size_t sim__cork_plan(struct sim__sim *s, struct sim__sock *k, size_t take, int more, size_t *hold);
int64_t sim__cork_hold_until(struct sim__sim *s, struct sim__sock *k, size_t hold);
uint64_t sim__notsent(struct sim__sim *s, struct sim__sock *k); /* write_seq - snd_nxt */
/* TCP_NOTSENT_LOWAT: whether poll reports k writable, and how many bytes a send round may
 * queue (SIZE_MAX: no limit) */
int sim__lowat_writable(struct sim__sim *s, struct sim__sock *k);
size_t sim__lowat_room(struct sim__sim *s, struct sim__sock *k);
/* sim_data.c */
ssize_t sim__send(struct sim__sim *s, struct sim__sock *k, const struct iovec *iov, int iovcnt,
		  int flags);
ssize_t sim__recv(struct sim__sim *s, struct sim__sock *k, const struct iovec *iov, int iovcnt,
		  int flags);
short sim__poll_mask(struct sim__sim *s, struct sim__sock *k);
/* sk_stream_write_space(): a wakeup for writers (an EPOLLOUT edge) if there is room. */
void sim__write_space(struct sim__sim *s, struct sim__sock *k);
/* The `wake` member's POLLOUT: send space on k counts as just freed. */
void sim__wake_writers(struct sim__sim *s, struct sim__sock *k);
size_t sim__readable(struct sim__sim *s, const struct sim__sock *k);
size_t sim__arrived(struct sim__sim *s, const struct sim__sock *k); /* sim__readable, fast */
/* sk_rcvlowat: how many readable bytes make the socket readable (poll) and end a recv */
static inline size_t sim__rcvlowat(const struct sim__sock *k)
{
	return k->rcvlowat > 0 ? (size_t)k->rcvlowat : 1;
}
static inline size_t sim__iov_total(const struct iovec *iov, int iovcnt)
{
	return sd__iov_sum(iov, iovcnt > 0 ? (size_t)iovcnt : 0);
}
void sim__chunk_free(struct sim__sim *s, struct sim__chunk *c);
void sim__chunk_pool_free(struct sim__sim *s);

/* sim_epoll.c */
struct epoll_event;
struct sim__sock *sim__epoll_new(struct sim__sim *s); /* a descriptor-less epoll instance */
void sim__epoll_free(struct sim__sim *s, struct sim__sock *k);
void sim__epoll_free_all(struct sim__sim *s); /* the ones no descriptor names any more */
void sim__epoll_forget(struct sim__sim *s, const struct sim__sock *k); /* its interest entries */
int sim__epoll_ctl(struct sim__sim *s, struct sim__sock *e, int op, int fd, struct sim__sock *k,
		   const struct epoll_event *ev);
int sim__epoll_ready(struct sim__sim *s, struct sim__sock *e, struct epoll_event *out, int max);
short sim__epoll_mask(struct sim__sim *s, struct sim__sock *e); /* the epoll fd in poll */
void sim__epoll_unref(struct sim__sim *s, struct sim__sock *e);
int sim__epoll_create(void *state, int flags);
int sim__sim_epoll_ctl(void *state, int epfd, int op, int fd, struct epoll_event *ev);
int sim__epoll_wait(void *state, int epfd, struct epoll_event *ev, int max, int timeout_ms);

/* sim_tcp.c, continued */
int sim__shutdown(struct sim__sim *s, struct sim__sock *k, int how);
void sim__release(struct sim__sim *s, struct sim__sock *k); /* last reference dropped */
void sim__free_all(struct sim__sim *s);

#endif
