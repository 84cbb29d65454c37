/* sockdrill: the C library's own functions, found with dlsym(RTLD_NEXT) at first use (internal). */
#ifndef SD_LIBC_H
#define SD_LIBC_H

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/*
 * In a program that links sockdrill's interposition layer (harness/libc/), `send` names the
 * layer's send, not the C library's. Code that means the C library's (the real backend, the
 * layer itself when it forwards) calls it through this table instead: SD__LIBC(send)(fd, ...).
 *
 * Every slot starts at a resolver that looks the name up with dlsym(RTLD_NEXT, ...) (the next
 * definition after the object holding this table, past any interposer), stores it and calls
 * it. So the table works at any moment, even in another library's constructor before ours
 * ran; sd__libc_resolve_all() fills every slot ahead of time where a first call could come
 * from a signal handler (the LD_PRELOAD library). A name the C library lacks stops the process
 * with one line naming it when something calls it, not before.
 *
 * SD__LIBC_CALLS(X) lists the functions with fixed arguments, X(ret, name, params, args);
 * the variadic and void ones are spelled out in struct sd__libc.
 */
#define SD__LIBC_CALLS(X)                                                                          \
	X(int, socket, (int d, int t, int p), (d, t, p))                                           \
	X(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))                  \
	X(int, listen, (int fd, int b), (fd, b))                                                   \
	X(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                     \
	X(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f))          \
	X(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))               \
	X(int, getsockname, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                \
	X(int, getpeername, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                \
	X(int, getsockopt, (int fd, int lv, int n, void *v, socklen_t *l), (fd, lv, n, v, l))      \
	X(int, setsockopt, (int fd, int lv, int n, const void *v, socklen_t l), (fd, lv, n, v, l)) \
	X(int, shutdown, (int fd, int how), (fd, how))                                             \
	X(int, close, (int fd), (fd))                                                              \
	X(int, close_range, (unsigned lo, unsigned hi, int f), (lo, hi, f))                        \
	X(int, dup, (int fd), (fd))                                                                \
	X(int, dup2, (int fd, int to), (fd, to))                                                   \
	X(int, dup3, (int fd, int to, int f), (fd, to, f))                                         \
	X(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))                                  \
	X(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl))             \
	X(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))                           \
	X(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))                      \
	X(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))                     \
	X(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))                        \
	X(ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t bl, int f), (fd, b, n, bl, f))   \
	X(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l), \
	  (fd, b, n, f, a, l))                                                                     \
	X(ssize_t, __recvfrom_chk,                                                                 \
	  (int fd, void *b, size_t n, size_t bl, int f, struct sockaddr *a, socklen_t *l),         \
	  (fd, b, n, bl, f, a, l))                                                                 \
	X(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))                         \
	X(int, recvmmsg, (int fd, struct mmsghdr *v, unsigned n, int f, struct timespec *t),       \
	  (fd, v, n, f, t))                                                                        \
	X(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))                  \
	X(ssize_t, sendto,                                                                         \
	  (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),         \
	  (fd, b, n, f, a, l))                                                                     \
	X(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))                   \
	X(int, sendmmsg, (int fd, struct mmsghdr *v, unsigned n, int f), (fd, v, n, f))            \
	X(ssize_t, sendfile, (int out, int in, off_t *o, size_t n), (out, in, o, n))               \
	X(ssize_t, sendfile64, (int out, int in, off64_t *o, size_t n), (out, in, o, n))           \
	X(ssize_t, splice, (int in, off64_t *oi, int out, off64_t *oo, size_t n, unsigned f),      \
	  (in, oi, out, oo, n, f))                                                                 \
	X(int, poll, (struct pollfd * p, nfds_t n, int t), (p, n, t))                              \
	X(int, __poll_chk, (struct pollfd * p, nfds_t n, int t, size_t pl), (p, n, t, pl))         \
	X(int, ppoll, (struct pollfd * p, nfds_t n, const struct timespec *t, const sigset_t *s),  \
	  (p, n, t, s))                                                                            \
	X(int, __ppoll_chk,                                                                        \
	  (struct pollfd * p, nfds_t n, const struct timespec *t, const sigset_t *s, size_t pl),   \
	  (p, n, t, s, pl))                                                                        \
	X(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),                \
	  (n, r, w, e, t))                                                                         \
	X(int, pselect,                                                                            \
	  (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *s),   \
	  (n, r, w, e, t, s))                                                                      \
	X(int, epoll_create, (int size), (size))                                                   \
	X(int, epoll_create1, (int f), (f))                                                        \
	X(int, epoll_ctl, (int ep, int op, int fd, struct epoll_event *e), (ep, op, fd, e))        \
	X(int, epoll_wait, (int ep, struct epoll_event *e, int n, int t), (ep, e, n, t))           \
	X(int, epoll_pwait, (int ep, struct epoll_event *e, int n, int t, const sigset_t *s),      \
	  (ep, e, n, t, s))                                                                        \
	X(FILE *, fdopen, (int fd, const char *mode), (fd, mode))                                  \
	X(int, getaddrinfo,                                                                        \
	  (const char *h, const char *s, const struct addrinfo *hi, struct addrinfo **r),          \
	  (h, s, hi, r))                                                                           \
	X(int, getnameinfo,                                                                        \
	  (const struct sockaddr *a, socklen_t l, char *h, socklen_t hl, char *s, socklen_t sl,    \
	   int f),                                                                                 \
	  (a, l, h, hl, s, sl, f))                                                                 \
	X(int, nanosleep, (const struct timespec *t, struct timespec *rem), (t, rem))              \
	X(int, clock_gettime, (clockid_t c, struct timespec * t), (c, t))

struct sd__libc {
#define SD__LIBC_SLOT(ret, name, params, args) ret(*name) params;
	SD__LIBC_CALLS(SD__LIBC_SLOT)
#undef SD__LIBC_SLOT
	int (*fcntl)(int fd, int cmd, ...);
	int (*fcntl64)(int fd, int cmd, ...);
	int (*ioctl)(int fd, unsigned long req, ...);
	void (*freeaddrinfo)(struct addrinfo *ai);
	void (*closefrom)(int lo);
};

extern struct sd__libc sd__libc;

/* The C library's `name`, e.g. SD__LIBC(close)(fd). */
#define SD__LIBC(name) (__atomic_load_n(&sd__libc.name, __ATOMIC_RELAXED))

/* Looks every slot up now (where a later first call could not safely call dlsym). */
void sd__libc_resolve_all(void);

#endif
