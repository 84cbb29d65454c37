/* sockdrill: the one table every TCP socket operation goes through. */
#ifndef SOCKDRILL_OPS_H
#define SOCKDRILL_OPS_H

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Conventions that hold for every member below:
 *  - the first argument is the backend's own state (the `state` of a struct sd_net);
 *  - a call returns a count or value >= 0 on success and a negative errno on failure
 *    (-EADDRINUSE, never -1 with errno set); the global errno is neither read nor written
 *    by the caller's contract;
 *  - "fd" is a descriptor in the backend's own descriptor space (kernel fds for `real`,
 *    simulated fds for `sim`);
 *  - no member is ever NULL: a backend without a call points it at the matching sd_no_*
 *    stub, which returns -EOPNOTSUPP. Wrappers can therefore forward without checks.
 *
 * The table only grows: new members are appended and SD_OPS_VERSION raised. A caller that
 * needs a member newer than version N checks `ops->version` first.
 */
#define SD_OPS_VERSION 7

/* Capabilities: what a backend is, from the `caps` member (version 7). A driver decides by these,
 * never by a backend's name; a table below version 7 has none. One that chooses an instance's
 * config by them asks sd_backend_caps(name) before creating it. */
#define SD_CAP_DETERMINISTIC 0x1u /* the same seed and calls give the same results and trace */
#define SD_CAP_VIRTUAL_TIME                                                                        \
	0x2u /* sleeps and timeouts run on a virtual clock, instant in wall time */
#define SD_CAP_BLOCKS_THREAD                                                                       \
	0x4u /* a blocking call blocks the calling thread: a driver runs                           \
	      * each one in an actor of its own (spawn, join_until) */
#define SD_CAP_KERNEL                                                                              \
	0x8u /* the host kernel answers: the reference of a side-by-side run,                      \
	      * subject to the host's settings and other processes' ports */
#define SD_CAP_SIM_CONFIG                                                                          \
	0x10u /* create reads the sim's configuration (sd_config.sim, or its options text):        \
	       * a driver hands it a scenario's or profile's settings, which a kernel takes        \
	       * from the host instead */

/* Flags of struct sd_config. */
#define SD_CFG_ALLOW_NONLOOPBACK 0x1u /* real: permit bind/connect beyond loopback */

struct sd_sim_config;

/* What a backend instance is created from. Zeroed means "defaults". Members are only
 * appended, so that a caller's initializer written for an older one still means the same. */
struct sd_config {
	uint64_t seed;       /* deterministic backends draw every choice from this */
	unsigned flags;      /* SD_CFG_* */
	const char *options; /* backend-specific "key=value,key=value" text, or NULL */
	/* sim: its options typed (sockdrill/sim.h), taken instead of `options` when not NULL,
	 * so that a driver that opens many sims does not format and parse text for each */
	const struct sd_sim_config *sim;
};

struct sd_ops {
	int version;      /* SD_OPS_VERSION this table was written for */
	const char *name; /* registry key, e.g. "real", "sim" */

	/* Version 1 members. */

	/* Creates one independent instance. 0 and *state set, or -ENOMEM / -EINVAL (bad options).
	 */
	int (*create)(const struct sd_config *cfg, void **state);
	/* Frees an instance, closing every socket it still holds. */
	void (*destroy)(void *state);

	/* socket(2). Returns a new fd, or -EAFNOSUPPORT, -EPROTONOSUPPORT, -EINVAL, -EMFILE,
	 * -ENFILE, -ENOBUFS, -ENOMEM. type may carry SOCK_NONBLOCK and SOCK_CLOEXEC. */
	int (*socket)(void *state, int domain, int type, int protocol);
	/* bind(2). 0, or -EADDRINUSE, -EADDRNOTAVAIL, -EINVAL (already bound, bad length),
	 * -EAFNOSUPPORT, -EACCES, -EBADF, -ENOTSOCK; real without permission: -EPERM for an
	 * address outside loopback. */
	int (*bind)(void *state, int fd, const struct sockaddr *addr, socklen_t len);
	/* listen(2). 0, or -EADDRINUSE (implicit bind found no port), -EINVAL, -EBADF,
	 * -EOPNOTSUPP. */
	int (*listen)(void *state, int fd, int backlog);
	/* accept4(2); flags are SOCK_NONBLOCK|SOCK_CLOEXEC. Returns the new fd, or -EAGAIN
	 * (non-blocking, none pending), -EINVAL (not listening), -EINTR, -ECONNABORTED, -EMFILE,
	 * -ENFILE, -EBADF. addr/len may be NULL; when given, *len is updated as accept4 does. */
	int (*accept)(void *state, int fd, struct sockaddr *addr, socklen_t *len, int flags);
	/* connect(2). 0, or -ECONNREFUSED, -EINPROGRESS (non-blocking), -EALREADY, -EISCONN,
	 * -ETIMEDOUT, -ENETUNREACH, -EADDRNOTAVAIL, -EAFNOSUPPORT, -EINTR, -EBADF; real without
	 * permission: -EPERM for an address outside loopback. */
	int (*connect)(void *state, int fd, const struct sockaddr *addr, socklen_t len);
	/* send(2). Bytes queued (possibly fewer than len), or -EAGAIN, -EPIPE, -ECONNRESET,
	 * -ENOTCONN, -EINTR, -EBADF. Never raises SIGPIPE. */
	ssize_t (*send)(void *state, int fd, const void *buf, size_t len, int flags);
	/* recv(2). Bytes read (0 = orderly end of stream), or -EAGAIN, -ECONNRESET, -ENOTCONN,
	 * -ETIMEDOUT, -EINTR, -EBADF. Honours MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL. */
	ssize_t (*recv)(void *state, int fd, void *buf, size_t len, int flags);
	/* sendmsg(2): as send, gathering from msg->msg_iov. Never raises SIGPIPE. */
	ssize_t (*sendmsg)(void *state, int fd, const struct msghdr *msg, int flags);
	/* recvmsg(2): as recv, scattering into msg->msg_iov; msg_flags is set. */
	ssize_t (*recvmsg)(void *state, int fd, struct msghdr *msg, int flags);
	/* shutdown(2) with SHUT_RD/SHUT_WR/SHUT_RDWR. 0, or -ENOTCONN, -EINVAL, -EBADF. */
	int (*shutdown)(void *state, int fd, int how);
	/* close(2). 0, or -EBADF. The fd is released even when the connection is reset. */
	int (*close)(void *state, int fd);
	/* setsockopt(2). 0, or -ENOPROTOOPT, -EINVAL, -EBADF. */
	int (*setsockopt)(void *state, int fd, int level, int name, const void *val, socklen_t len);
	/* getsockopt(2). 0 and *len updated, or -ENOPROTOOPT, -EINVAL, -EBADF. */
	int (*getsockopt)(void *state, int fd, int level, int name, void *val, socklen_t *len);
	/* getsockname(2). 0, or -EBADF, -EINVAL. */
	int (*getsockname)(void *state, int fd, struct sockaddr *addr, socklen_t *len);
	/* getpeername(2). 0, or -ENOTCONN, -EBADF. */
	int (*getpeername)(void *state, int fd, struct sockaddr *addr, socklen_t *len);
	/* poll(2) over fds of this backend. Number of ready entries (0 on timeout), or -EINTR,
	 * -EINVAL. timeout_ms < 0 waits without limit. */
	int (*poll)(void *state, struct pollfd *fds, nfds_t nfds, int timeout_ms);
	/* O_NONBLOCK on (on != 0) or off. 0, or -EBADF. */
	int (*set_nonblocking)(void *state, int fd, int on);

	/* Version 2 members: concurrency and time. Code under test runs as actors: threads on
	 * `real`; coroutines under the seeded scheduler on `sim`, where exactly one runs at a
	 * time and a blocking call lets another run. */

	/* Starts fn(arg) as a new actor named `name` (copied; for reports). It may not run
	 * before the caller blocks. The actor id (> 0), or -ENOMEM, -EAGAIN. */
	int (*spawn)(void *state, const char *name, void (*fn)(void *arg), void *arg);
	/* Waits until actor `id` has returned. 0, or -ESRCH (unknown or already joined),
	 * -EDEADLK (sim: every actor is blocked and no timer is pending; see the deadlock
	 * report of the backend). */
	int (*join)(void *state, int id);
	/* Sleeps: wall-clock time on `real`, virtual time on `sim` (instant in wall time).
	 * 0, or -EINTR, -EDEADLK. */
	int (*sleep_ns)(void *state, int64_t ns);
	/* Monotonic clock in ns: CLOCK_MONOTONIC on `real`, the virtual clock on `sim`. */
	int64_t (*now_ns)(void *state);

	/* Version 3 members: epoll over the backend's own descriptors. */

	/* epoll_create1(2); flags is 0 or EPOLL_CLOEXEC. A new epoll descriptor in the backend's
	 * descriptor space (closed with `close`, usable in `poll`), or -EINVAL, -EMFILE,
	 * -ENOMEM. */
	int (*epoll_create)(void *state, int flags);
	/* epoll_ctl(2), op EPOLL_CTL_ADD/MOD/DEL (ev may be NULL for DEL). 0, or -EBADF (epfd or fd
	 * not open here), -EEXIST (ADD of a registered fd), -ENOENT (MOD/DEL of an unregistered
	 * one), -EINVAL (epfd not an epoll descriptor, fd == epfd, unknown op, EPOLLEXCLUSIVE with
	 * MOD), -EPERM (fd cannot be polled), -ENOMEM. */
	int (*epoll_ctl)(void *state, int epfd, int op, int fd, struct epoll_event *ev);
	/* epoll_wait(2): up to maxevents ready entries into events (0 on timeout), or -EBADF,
	 * -EINVAL (epfd not an epoll descriptor, maxevents <= 0), -EINTR, -EDEADLK (sim).
	 * timeout_ms < 0 waits without limit; sim time is virtual. */
	int (*epoll_wait)(void *state, int epfd, struct epoll_event *events, int maxevents,
			  int timeout_ms);

	/* Version 4 members: what a wrapper needs of the backend below it. */

	/* Makes the readiness of fd new, as if bytes had just arrived (POLLIN; on a listener, a
	 * connection) or send space had just been freed (POLLOUT): waiters wake, and edge-triggered
	 * epoll entries report again while fd is ready that way. For a call a wrapper cut short or
	 * failed with EAGAIN on a non-blocking socket, which a kernel returns only with the queue
	 * drained or full: epoll(7) lets a program wait for the next edge then, so one has to
	 * come. events is POLLIN, POLLOUT or both. 0, or -EINVAL, -EBADF (fd -1 gives it at once:
	 * a caller may ask so whether the backend can), -EOPNOTSUPP (the backend cannot). */
	int (*wake)(void *state, int fd, short events);
	/* Adds text (one line, no newline) to the backend's record of calls, in order with them,
	 * when it keeps one (a trace wrapper): what a wrapper decided, such as a fault. 0, or
	 * -EINVAL (NULL, or a newline in text), -EOPNOTSUPP (the backend keeps no record; the sim
	 * keeps none either, but checks the text and answers 0). */
	int (*note)(void *state, const char *text);

	/* Version 5 members. */

	/* dup(2): the lowest free descriptor, naming the same open socket (or epoll instance) as
	 * fd: its state, options, O_NONBLOCK and the connection are shared, and the socket is
	 * closed only when the last descriptor naming it is. The new fd, or -EBADF, -EMFILE. */
	int (*dup)(void *state, int fd);

	/* Version 6 members. */

	/* dup3(2): makes newfd name what oldfd names, closing what newfd named first (a socket
	 * whose last descriptor that was closes). flags is 0 or O_CLOEXEC. newfd, or -EINVAL
	 * (other flags, oldfd == newfd), -EBADF (oldfd not open; newfd negative, beyond the
	 * descriptor limit, or held by something outside the instance: real never closes a
	 * descriptor it did not make), -EBUSY. dup2(a, b) is dup3(a, b, 0) for a != b; for
	 * a == b it is a if a is open (sd_dup2 below). */
	int (*dup3)(void *state, int oldfd, int newfd, int flags);

	/* Version 7 members: what a driver needs to know of a backend, and to wait for it. */

	/* SD_CAP_* flags of this instance. A function rather than a field, so that a wrapper
	 * (one static table over any inner one) reports its inner instance's. */
	unsigned (*caps)(void *state);
	/* As join, but gives up at deadline_ns on this backend's now_ns clock: 0, or -ETIMEDOUT
	 * (the actor still runs and may be joined later), -ESRCH, -EDEADLK. A deadline already
	 * past only looks. real: a timed wait for the actor's thread (CLOCK_MONOTONIC); sim: the
	 * scheduler runs the other actors, moving virtual time up to the deadline at most. */
	int (*join_until)(void *state, int id, int64_t deadline_ns);
	/* The name of the actor making the call ("main" outside any actor), for traces and
	 * reports; the string stays valid until that actor is joined. Never NULL. real: the
	 * name given to spawn on that actor's thread, "main" on any other. */
	const char *(*actor_name)(void *state);
	/* ioctl(2) for the int-valued queue sizes of a TCP socket: FIONREAD (= SIOCINQ), the bytes
	 * a read would take now; SIOCOUTQ, the bytes sent that the peer has not yet acknowledged
	 * (the sim: not yet taken into its receive buffer). 0 and *value set, or -EBADF, -EINVAL
	 * (a listener), -ENOTTY (any other request: what Linux says of one a socket does not
	 * know; the table passes ints only, so none that fills a struct). A member rather than
	 * each driver asking the kernel or the sim: wrappers see and trace the call, and any
	 * registered backend can answer. real: its own descriptors only (-EBADF for others). */
	int (*ioctl)(void *state, int fd, unsigned long request, int *value);
};

/* A live instance: a table plus the state its members take first. */
struct sd_net {
	const struct sd_ops *ops;
	void *state;
};

/* Stubs for members a backend does not support: each returns -EOPNOTSUPP. */
int sd_no_socket(void *state, int domain, int type, int protocol);
int sd_no_bind(void *state, int fd, const struct sockaddr *addr, socklen_t len);
int sd_no_listen(void *state, int fd, int backlog);
int sd_no_accept(void *state, int fd, struct sockaddr *addr, socklen_t *len, int flags);
int sd_no_connect(void *state, int fd, const struct sockaddr *addr, socklen_t len);
ssize_t sd_no_send(void *state, int fd, const void *buf, size_t len, int flags);
ssize_t sd_no_recv(void *state, int fd, void *buf, size_t len, int flags);
ssize_t sd_no_sendmsg(void *state, int fd, const struct msghdr *msg, int flags);
ssize_t sd_no_recvmsg(void *state, int fd, struct msghdr *msg, int flags);
int sd_no_shutdown(void *state, int fd, int how);
int sd_no_close(void *state, int fd);
int sd_no_setsockopt(void *state, int fd, int level, int name, const void *val, socklen_t len);
int sd_no_getsockopt(void *state, int fd, int level, int name, void *val, socklen_t *len);
int sd_no_getsockname(void *state, int fd, struct sockaddr *addr, socklen_t *len);
int sd_no_getpeername(void *state, int fd, struct sockaddr *addr, socklen_t *len);
int sd_no_poll(void *state, struct pollfd *fds, nfds_t nfds, int timeout_ms);
int sd_no_set_nonblocking(void *state, int fd, int on);
int sd_no_spawn(void *state, const char *name, void (*fn)(void *arg), void *arg);
int sd_no_join(void *state, int id);
int sd_no_sleep_ns(void *state, int64_t ns);
int64_t sd_no_now_ns(void *state);
int sd_no_epoll_create(void *state, int flags);
int sd_no_epoll_ctl(void *state, int epfd, int op, int fd, struct epoll_event *ev);
int sd_no_epoll_wait(void *state, int epfd, struct epoll_event *ev, int max, int timeout_ms);
int sd_no_wake(void *state, int fd, short events);
int sd_no_note(void *state, const char *text);
int sd_no_dup(void *state, int fd);
int sd_no_dup3(void *state, int oldfd, int newfd, int flags);
unsigned sd_no_caps(void *state);
int sd_no_join_until(void *state, int id, int64_t deadline_ns);
const char *sd_no_actor_name(void *state);
int sd_no_ioctl(void *state, int fd, unsigned long request, int *value);

/*
 * Registry. Built-in backends are always present; sd_register adds one more at run time
 * (0, -EEXIST for a taken name, -EINVAL for a table with NULL members or an unknown
 * version, -ENOSPC when full). The table must outlive the process's use of it.
 */
int sd_register(const struct sd_ops *ops);
const struct sd_ops *sd_find(const char *name);
/* The i-th registered table, or NULL past the end; for listing. */
const struct sd_ops *sd_backend_at(size_t i);

/* The SD_CAP_* flags of the registered backend `name`, for a driver that chooses an instance's
 * config by them: one instance is created with a zeroed config to be asked, and destroyed.
 * The flags (>= 0), or -ENOENT (no such backend), or what the backend's create returned. */
int sd_backend_caps(const char *name);

/* Finds `name` and creates an instance into *net. 0, -ENOENT (no such backend), or what
 * the backend's create returned. cfg may be NULL. */
int sd_net_open(struct sd_net *net, const char *name, const struct sd_config *cfg);
/* Destroys the instance; safe on a zeroed or already closed sd_net. */
void sd_net_close(struct sd_net *net);

/* Shorthands: sd_socket(net, ...) is net->ops->socket(net->state, ...). Functions, not
 * macros, so that a debugger and "go to definition" can follow them. */

static inline int sd_socket(struct sd_net *net, int domain, int type, int protocol)
{
	return net->ops->socket(net->state, domain, type, protocol);
}

static inline int sd_bind(struct sd_net *net, int fd, const struct sockaddr *addr, socklen_t len)
{
	return net->ops->bind(net->state, fd, addr, len);
}

static inline int sd_listen(struct sd_net *net, int fd, int backlog)
{
	return net->ops->listen(net->state, fd, backlog);
}

static inline int sd_accept(struct sd_net *net, int fd, struct sockaddr *addr, socklen_t *len,
			    int flags)
{
	return net->ops->accept(net->state, fd, addr, len, flags);
}

static inline int sd_connect(struct sd_net *net, int fd, const struct sockaddr *addr, socklen_t len)
{
	return net->ops->connect(net->state, fd, addr, len);
}

static inline ssize_t sd_send(struct sd_net *net, int fd, const void *buf, size_t len, int flags)
{
	return net->ops->send(net->state, fd, buf, len, flags);
}

static inline ssize_t sd_recv(struct sd_net *net, int fd, void *buf, size_t len, int flags)
{
	return net->ops->recv(net->state, fd, buf, len, flags);
}

static inline ssize_t sd_sendmsg(struct sd_net *net, int fd, const struct msghdr *msg, int flags)
{
	return net->ops->sendmsg(net->state, fd, msg, flags);
}

static inline ssize_t sd_recvmsg(struct sd_net *net, int fd, struct msghdr *msg, int flags)
{
	return net->ops->recvmsg(net->state, fd, msg, flags);
}

static inline int sd_shutdown(struct sd_net *net, int fd, int how)
{
	return net->ops->shutdown(net->state, fd, how);
}

static inline int sd_close(struct sd_net *net, int fd) { return net->ops->close(net->state, fd); }

static inline int sd_setsockopt(struct sd_net *net, int fd, int level, int name, const void *val,
				socklen_t len)
{
	return net->ops->setsockopt(net->state, fd, level, name, val, len);
}

static inline int sd_getsockopt(struct sd_net *net, int fd, int level, int name, void *val,
				socklen_t *len)
{
	return net->ops->getsockopt(net->state, fd, level, name, val, len);
}

static inline int sd_getsockname(struct sd_net *net, int fd, struct sockaddr *addr, socklen_t *len)
{
	return net->ops->getsockname(net->state, fd, addr, len);
}

static inline int sd_getpeername(struct sd_net *net, int fd, struct sockaddr *addr, socklen_t *len)
{
	return net->ops->getpeername(net->state, fd, addr, len);
}

static inline int sd_poll(struct sd_net *net, struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	return net->ops->poll(net->state, fds, nfds, timeout_ms);
}

static inline int sd_set_nonblocking(struct sd_net *net, int fd, int on)
{
	return net->ops->set_nonblocking(net->state, fd, on);
}

static inline int sd_spawn(struct sd_net *net, const char *name, void (*fn)(void *arg), void *arg)
{
	return net->ops->spawn(net->state, name, fn, arg);
}

static inline int sd_join(struct sd_net *net, int id) { return net->ops->join(net->state, id); }

static inline int sd_sleep_ns(struct sd_net *net, int64_t ns)
{
	return net->ops->sleep_ns(net->state, ns);
}

static inline int64_t sd_now_ns(struct sd_net *net) { return net->ops->now_ns(net->state); }

static inline int sd_epoll_create(struct sd_net *net, int flags)
{
	return net->ops->epoll_create(net->state, flags);
}

static inline int sd_epoll_ctl(struct sd_net *net, int epfd, int op, int fd, struct epoll_event *ev)
{
	return net->ops->epoll_ctl(net->state, epfd, op, fd, ev);
}

static inline int sd_epoll_wait(struct sd_net *net, int epfd, struct epoll_event *events,
				int maxevents, int timeout_ms)
{
	return net->ops->epoll_wait(net->state, epfd, events, maxevents, timeout_ms);
}

static inline int sd_wake(struct sd_net *net, int fd, short events)
{
	return net->ops->wake(net->state, fd, events);
}

static inline int sd_note(struct sd_net *net, const char *text)
{
	return net->ops->note(net->state, text);
}

static inline int sd_dup(struct sd_net *net, int fd) { return net->ops->dup(net->state, fd); }

static inline int sd_dup3(struct sd_net *net, int oldfd, int newfd, int flags)
{
	return net->ops->dup3(net->state, oldfd, newfd, flags);
}

/* Version 7 members through older tables: caps 0, join_until -EOPNOTSUPP, actor_name "main",
 * ioctl -EOPNOTSUPP. */
static inline unsigned sd_caps(struct sd_net *net)
{
	return net->ops->version >= 7 ? net->ops->caps(net->state) : 0u;
}
static inline int sd_join_until(struct sd_net *net, int id, int64_t deadline_ns)
{
	return net->ops->version >= 7 ? net->ops->join_until(net->state, id, deadline_ns)
				      : -EOPNOTSUPP;
}
static inline const char *sd_actor_name(struct sd_net *net)
{
	return net->ops->version >= 7 ? net->ops->actor_name(net->state) : "main";
}
static inline int sd_ioctl(struct sd_net *net, int fd, unsigned long request, int *value)
{
	return net->ops->version >= 7 ? net->ops->ioctl(net->state, fd, request, value)
				      : -EOPNOTSUPP;
}

/* dup2(2) through dup3: onto itself it only checks that oldfd is open (poll says POLLNVAL
 * for one that is not, on every backend). -EOPNOTSUPP below version 6. */
static inline int sd_dup2(struct sd_net *net, int oldfd, int newfd)
{
	if (net->ops->version < 6)
		return -EOPNOTSUPP;
	if (oldfd != newfd)
		return sd_dup3(net, oldfd, newfd, 0);
	struct pollfd p; /* (no designated initializer: C++ includes this header too) */
	p.fd = oldfd, p.events = 0, p.revents = 0;
	int rc = sd_poll(net, &p, 1, 0);
	return rc < 0 ? rc : (p.revents & POLLNVAL) || oldfd < 0 ? -EBADF : oldfd;
}

#ifdef __cplusplus
}
#endif
#endif
