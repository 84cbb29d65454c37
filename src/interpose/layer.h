/* sockdrill interposition layer: the descriptor table, the routes' hooks, the call bodies. */
#ifndef SD_LAYER_H
#define SD_LAYER_H

/* The layer defines read, recv, poll, ...: fortified inline versions of them must not be in
 * the way (every layer file includes this header first). */
#undef _FORTIFY_SOURCE

#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <sockdrill/ops.h>

#include "../util/libc.h"
#include "calls.h"

/*
 * A socket the layer owns. The program names it with a descriptor of its own (a placeholder
 * in-process, the kernel socket itself under LD_PRELOAD); `net` and `sfd` say where its calls
 * go. In-process, the descriptors dup() makes share one handle, and the socket is closed with
 * the last of them.
 */
struct sd__fdh {
	struct sd_net *net;
	int sfd;               /* the socket in net's own descriptor space */
	int refs;              /* program descriptors naming it (in-process) */
	struct sd__fdh *later; /* on the route's list of sockets to close after a kernel call */
	/* In-process, a sim epoll instance: epoll is 1, and the kernel descriptors put in its set
	 * (a server's eventfd, pipe or AF_UNIX pair) are watched by a kernel epoll, kep, made on
	 * the first of them (-1 until then) and closed with the handle. */
	int epoll, kep;
};

/*
 * The table: program descriptor -> handle, for descriptors below SD__FD_MAX, in chunks of
 * SD__FD_CHUNK entries made on first use and kept. Lookups take no lock and never allocate
 * (any thread, a signal handler); entries are set and taken with atomic exchanges.
 */
#define SD__FD_CHUNK  1024
#define SD__FD_CHUNKS 1024
#define SD__FD_MAX    (SD__FD_CHUNK * SD__FD_CHUNKS)

extern struct sd__fdh **sd__fdtab[SD__FD_CHUNKS];
extern int sd__fdtab_used; /* entries in the table: 0 is the fast path of every call */

static inline int sd__fd_any(void) { return __atomic_load_n(&sd__fdtab_used, __ATOMIC_RELAXED); }

/* The handle descriptor fd names, or NULL: the descriptor is not the layer's. */
static inline struct sd__fdh *sd__fd_lookup(int fd)
{
	if (!sd__fd_any() || (unsigned)fd >= SD__FD_MAX)
		return NULL;
	struct sd__fdh **c =
		__atomic_load_n(&sd__fdtab[(unsigned)fd / SD__FD_CHUNK], __ATOMIC_ACQUIRE);
	return c ? __atomic_load_n(&c[(unsigned)fd % SD__FD_CHUNK], __ATOMIC_ACQUIRE) : NULL;
}

/* The chunk of `size` bytes that *slot points to, mapped and set there on first use; NULL
 * without memory. mmap, not malloc: a table may grow inside any call of any program; and
 * the slot is set by compare-and-swap, so a thread that loses the race gives its mapping
 * back and takes the winner's. Both routes' descriptor tables grow this way. */
void *sd__chunk_map(void **slot, size_t size);

/* Enters fd -> h. 0, or -EMFILE (fd beyond SD__FD_MAX), -ENOMEM. An entry fd still had (its
 * descriptor was closed by a raw system call, unseen) goes to sd__route_forget. */
int sd__fd_set(int fd, struct sd__fdh *h);
/* Takes fd out of the table: its handle, or NULL. */
struct sd__fdh *sd__fd_take(int fd);
/* Takes every descriptor in [lo, hi] out of the table, handing each to fn. */
void sd__fd_take_range(unsigned lo, unsigned hi, void (*fn)(int fd, struct sd__fdh *h));

/*
 * The route: what differs between the in-process route (inproc.c) and the LD_PRELOAD route.
 */
/* The net a new socket(domain, type, protocol) is made in, or NULL: the C library makes it. */
struct sd_net *sd__route_socket_net(int domain, int type, int protocol);
/* Names the new socket sfd of net for the program and enters it in the table. The program's
 * descriptor, or a negative errno (sfd is then closed). flags: SOCK_NONBLOCK|SOCK_CLOEXEC. */
int sd__route_adopt(struct sd_net *net, int sfd, int flags);
/* The kernel just made descriptor nfd a copy of fd (dup, dup2, dup3, F_DUPFD): enters it,
 * naming the same socket. 0, or a negative errno (nfd is then closed). */
int sd__route_dup(struct sd__fdh *h, int fd, int nfd);
/* The program closes fd, already taken out of the table. 0, or a negative errno. */
int sd__route_close(int fd, struct sd__fdh *h);
/* The kernel has dropped descriptor fd (dup2 over it, closefrom), already taken out of the
 * table: what it named is released once sd__route_flush runs. */
void sd__route_forget(int fd, struct sd__fdh *h);
/* Closes the sockets sd__route_forget released (after the kernel call, so a socket closing
 * can never run another actor while the table and the kernel disagree). */
void sd__route_flush(void);
/* 1 where a program descriptor is its socket's kernel descriptor (LD_PRELOAD): what the layer
 * does not model goes to the C library on it. 0 for placeholders (in-process): a call the
 * layer does not model is a harness error. */
extern const int sd__route_kernel_fds;
/* ioctl SIOCINQ (outq 0) or SIOCOUTQ (outq 1) on one of the layer's sockets, through its net
 * (sd_ioctl): the count, a negative errno, or -EOPNOTSUPP where the route has no answer. */
long sd__route_queued(struct sd__fdh *h, int outq);
/* A read on socket sfd of net returned less than it asked, MSG_PEEK aside: in-process, bytes
 * still readable then (a fault wrapper's short read) count as a new arrival for edge-triggered
 * epoll (sd_sim_wake_readers), since on Linux such a read means the queue was drained; under
 * LD_PRELOAD nothing (the kernel's epoll cannot be told). */
void sd__route_read_short(struct sd_net *net, int sfd);
/* 1 when the kernel raised SIGPIPE itself for this thread's last write made as write(2)
 * (SD_MSG_PLAIN; the preload); reading clears it. 0 on a route without kernel sockets. */
int sd__route_sigpipe_raised(void);
/* 1 when a program's read, write, readv and writev on the kernel's sockets are to be made as
 * those system calls (SD_MSG_PLAIN): the preload, once the program sandboxed itself. */
int sd__route_plain_calls(void);
/* The program waits for readiness on the kernel's descriptors (poll, select, epoll): the
 * preload tells the fault wrapper (sd_fault_note_wait). */
void sd__route_waited(void);
/* The descriptor the route keeps for itself (under LD_PRELOAD the fault log, preload_out.c)
 * when it is in [lo, hi] and still the route's, else -1: the program's close, closefrom,
 * close_range, dup2 and dup3 never take it (sock.c). One load when it is not in the range. */
int sd__route_own_fd(unsigned lo, unsigned hi);
/* The program is about to make descriptor fd a copy of another (dup2, dup3): the route's own,
 * if it is fd, moves to another number first. */
void sd__route_own_move(int fd);
/* A call with no socket of the layer's (op: SD_OP_EPOLL for a kernel epoll_create,
 * SD_OP_RESOLVE for getaddrinfo) goes to the fault wrapper, if the route has one, for
 * emfile, enfile, eai-again and eai-noname (sd_fault_call): 0 to go on, or a negative errno
 * (epoll) or EAI_* code (getaddrinfo) to fail it with. */
int sd__route_call_fault(int op, const char *name);
/* The net names resolve in without DNS (in-process, attached), or NULL: the C library's. */
struct sd_net *sd__route_resolver(void);
/* A call POSIX makes a cancellation point (accept, connect, read*, recv*, write*, send*,
 * sendfile, poll, ppoll, select, pselect) starts on one of the layer's sockets, or ended with
 * EINTR there: in-process, a pending pthread_cancel of the calling actor acts now and the call
 * never returns (threads.c); under LD_PRELOAD nothing, the C library's own call is one. */
void sd__route_cancel_point(void);

/* The program writes v (n pieces) to descriptor 1 or 2 (write, writev): in-process, the tail
 * of a server's output kept for harness errors (proc.c); nothing under LD_PRELOAD. */
void sd__route_output(const struct iovec *v, int n);
/* A call the layer does not model on one of its descriptors (`call` names it): in-process a
 * harness error (one line, the server's last output, exit status 2: proc.c). Under LD_PRELOAD
 * a descriptor is the kernel's socket and such calls go to the C library, so it is never
 * reached; if it were, the same line and status. */
_Noreturn void sd__route_unsupported(const char *call);

/* A negative errno becomes -1 with errno set, the C library's convention; the only place
 * the layer writes errno for a result. */
static inline long sd__ret(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

/* sd__ret for a cancellation point: a pthread_cancel that interrupted the call (EINTR) acts
 * here, once the call has given back what it held. */
static inline long sd__ret_cp(long rc)
{
	if (rc == -EINTR)
		sd__route_cancel_point();
	return sd__ret(rc);
}

/* A call on a simulated socket that the layer does not model: one line on stderr naming it
 * (printf-style), then exit status 2, a harness error, not a crash (sd__route_unsupported;
 * docs/architecture.md, "Calls the layer does not model"). */
__attribute__((noreturn, format(printf, 1, 2))) void sd__unsupported(const char *fmt, ...);

/* The bodies, one per listed call (calls.c makes the exported functions from calls.h). */
#define SD__STRIP(...) __VA_ARGS__
#define SD__EXPORT     __attribute__((visibility("default")))
#define SD__ON_FD(ret, name, params, args, fd)                                                     \
	ret sd__on_##name(struct sd__fdh *h, SD__STRIP params);
#define SD__ON_ANY(ret, name, params, args) ret sd__on_##name params;
#define SD__ON_VOID(name, params, args)     void sd__on_##name params;
SD__LAYER_CALLS(SD__ON_FD, SD__ON_ANY, SD__ON_VOID)
#undef SD__ON_FD
#undef SD__ON_ANY
#undef SD__ON_VOID

/* Whether a call on one of the layer's descriptors found no socket there (r: its result,
 * -1 with ENOTSOCK): under LD_PRELOAD the number was closed behind the layer's back (a raw
 * system call) and reused for a file. The descriptor is then forgotten and the caller puts
 * errno back and redoes the call through the C library unchanged (fdtab.c). */
int sd__stale_fd(int fd);
static inline int sd__stale(intptr_t r, int fd)
{
	return sd__route_kernel_fds && r == -1 && errno == ENOTSOCK && sd__stale_fd(fd);
}

/* The exported function of one line of calls.h. A descriptor in the table goes to the layer's
 * body, any other to the C library: one load when the table is empty, as it is in a program
 * with no socket of the layer's. */
#define SD__DEF_FD(ret, name, params, args, fd)                                                    \
	SD__EXPORT ret name params                                                                 \
	{                                                                                          \
		struct sd__fdh *h = sd__fd_lookup(fd);                                             \
		if (h) {                                                                           \
			int saved_ = errno;                                                        \
			ret r = sd__on_##name(h, SD__STRIP args);                                  \
			if (!sd__stale((intptr_t)r, fd))                                           \
				return r;                                                          \
			errno = saved_;                                                            \
		}                                                                                  \
		return SD__LIBC(name) args;                                                        \
	}
#define SD__DEF_ANY(ret, name, params, args)                                                       \
	SD__EXPORT ret name params { return sd__on_##name args; }
#define SD__DEF_VOID(name, params, args)                                                           \
	SD__EXPORT void name params { sd__on_##name args; }

/* epoll_wait on sim epoll sfd of net whose set also holds kernel descriptors, watched by
 * kernel epoll kep (wait.c): both are checked, without blocking the kernel, in virtual time as
 * sd__wait does. The count of events, 0 on timeout, or a negative errno. */
int sd__epoll_wait_mixed(struct sd_net *net, int sfd, int kep, struct epoll_event *e, int n,
			 int timeout_ms);

/* Waits on a poll set holding at least one of the layer's sockets (wait.c). timeout_ns < 0
 * waits without limit; *left_ns (may be NULL) gets what is left of it. */
int sd__wait(struct pollfd *p, nfds_t n, int64_t timeout_ns, const sigset_t *mask,
	     int64_t *left_ns);

#endif
