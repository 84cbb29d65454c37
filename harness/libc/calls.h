/* sockdrill interposition layer: every C library function it interposes, listed once. */
#ifndef SD_LAYER_CALLS_H
#define SD_LAYER_CALLS_H

/*
 * SD__LAYER_CALLS(FD, ANY, VOID) lists them; calls.c makes each exported function from its
 * line:
 *
 *   FD(ret, name, params, args, fd)   a call on descriptor `fd`. When fd is in the layer's
 *                                     table the call is sd__on_<name>(h, args...) (h: the
 *                                     socket fd names, src: io.c, sock.c); any other goes to
 *                                     the C library's `name` unchanged.
 *   ANY(ret, name, params, args)      a call that decides itself (it creates a descriptor,
 *                                     takes several, or none): always sd__on_<name>(args...).
 *   VOID(name, params, args)          the same, for a function that returns nothing.
 *
 * epoll_wait and epoll_pwait are ANY lines: the LD_PRELOAD route tells the fault wrapper of
 * every wait, on an epoll set of its own or not (sd__route_waited).
 * write and writev are ANY lines: on descriptors 1 and 2 the route sees what is written
 * (in-process, the tail of a server's output for harness errors, proc.c). close is one too:
 * the route's own descriptor (the LD_PRELOAD log) is never the program's to close.
 *
 * fcntl, fcntl64 and ioctl take variable arguments and are written out in sock.c; they are
 * listed in SD__LAYER_VARIADIC. socketpair is not interposed: AF_UNIX pairs are the kernel's,
 * and the kernel answers EOPNOTSUPP for AF_INET just as Linux does for a TCP pair.
 *
 * Adding a call: one line here, its C library slot in src/libc.h, and its sd__on_<name>.
 *
 * The thread, clock and process calls the in-process route also interposes (threads*.c,
 * sync*.c, clock.c, proc.c) are not listed: they route by caller (an actor of the attached sim
 * or not), not by descriptor, and the LD_PRELOAD library leaves them to the C library.
 */
#define SD__LAYER_CALLS(FD, ANY, VOID)                                                             \
	ANY(int, socket, (int d, int t, int p), (d, t, p))                                         \
	FD(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), fd)             \
	FD(int, listen, (int fd, int b), (fd, b), fd)                                              \
	FD(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l), fd)                \
	FD(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f), fd)     \
	FD(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), fd)          \
	FD(int, getsockname, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l), fd)           \
	FD(int, getpeername, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l), fd)           \
	FD(int, getsockopt, (int fd, int lv, int n, void *v, socklen_t *l), (fd, lv, n, v, l), fd) \
	FD(int, setsockopt, (int fd, int lv, int n, const void *v, socklen_t l),                   \
	   (fd, lv, n, v, l), fd)                                                                  \
	FD(int, shutdown, (int fd, int how), (fd, how), fd)                                        \
	ANY(int, close, (int fd), (fd))                                                            \
	VOID(closefrom, (int lo), (lo))                                                            \
	ANY(int, close_range, (unsigned lo, unsigned hi, int f), (lo, hi, f))                      \
	FD(int, dup, (int fd), (fd), fd)                                                           \
	ANY(int, dup2, (int fd, int to), (fd, to))                                                 \
	ANY(int, dup3, (int fd, int to, int f), (fd, to, f))                                       \
	FD(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n), fd)                             \
	FD(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl), fd)        \
	ANY(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))                         \
	FD(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n), fd)                 \
	ANY(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))                   \
	FD(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f), fd)                   \
	FD(ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t bl, int f), (fd, b, n, bl, f),  \
	   fd)                                                                                     \
	FD(ssize_t, recvfrom,                                                                      \
	   (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),                   \
	   (fd, b, n, f, a, l), fd)                                                                \
	FD(ssize_t, __recvfrom_chk,                                                                \
	   (int fd, void *b, size_t n, size_t bl, int f, struct sockaddr *a, socklen_t *l),        \
	   (fd, b, n, bl, f, a, l), fd)                                                            \
	FD(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f), fd)                    \
	FD(int, recvmmsg, (int fd, struct mmsghdr *v, unsigned n, int f, struct timespec *t),      \
	   (fd, v, n, f, t), fd)                                                                   \
	FD(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f), fd)             \
	FD(ssize_t, sendto,                                                                        \
	   (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),        \
	   (fd, b, n, f, a, l), fd)                                                                \
	FD(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f), fd)              \
	FD(int, sendmmsg, (int fd, struct mmsghdr *v, unsigned n, int f), (fd, v, n, f), fd)       \
	ANY(ssize_t, sendfile, (int out, int in, off_t *o, size_t n), (out, in, o, n))             \
	ANY(ssize_t, sendfile64, (int out, int in, off64_t *o, size_t n), (out, in, o, n))         \
	ANY(ssize_t, splice, (int in, off64_t *oi, int out, off64_t *oo, size_t n, unsigned f),    \
	    (in, oi, out, oo, n, f))                                                               \
	FD(FILE *, fdopen, (int fd, const char *mode), (fd, mode), fd)                             \
	ANY(int, poll, (struct pollfd * p, nfds_t n, int t), (p, n, t))                            \
	ANY(int, __poll_chk, (struct pollfd * p, nfds_t n, int t, size_t pl), (p, n, t, pl))       \
	ANY(int, ppoll,                                                                            \
	    (struct pollfd * p, nfds_t n, const struct timespec *t, const sigset_t *s),            \
	    (p, n, t, s))                                                                          \
	ANY(int, __ppoll_chk,                                                                      \
	    (struct pollfd * p, nfds_t n, const struct timespec *t, const sigset_t *s, size_t pl), \
	    (p, n, t, s, pl))                                                                      \
	ANY(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),              \
	    (n, r, w, e, t))                                                                       \
	ANY(int, pselect,                                                                          \
	    (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *s), \
	    (n, r, w, e, t, s))                                                                    \
	ANY(int, epoll_create, (int size), (size))                                                 \
	ANY(int, epoll_create1, (int f), (f))                                                      \
	ANY(int, epoll_ctl, (int ep, int op, int fd, struct epoll_event *e), (ep, op, fd, e))      \
	ANY(int, epoll_wait, (int ep, struct epoll_event *e, int n, int t), (ep, e, n, t))         \
	ANY(int, epoll_pwait, (int ep, struct epoll_event *e, int n, int t, const sigset_t *s),    \
	    (ep, e, n, t, s))                                                                      \
	ANY(int, getaddrinfo,                                                                      \
	    (const char *h, const char *s, const struct addrinfo *hi, struct addrinfo **r),        \
	    (h, s, hi, r))                                                                         \
	VOID(freeaddrinfo, (struct addrinfo * ai), (ai))                                           \
	ANY(int, getnameinfo,                                                                      \
	    (const struct sockaddr *a, socklen_t l, char *h, socklen_t hl, char *s, socklen_t sl,  \
	     int f),                                                                               \
	    (a, l, h, hl, s, sl, f))

#define SD__LAYER_VARIADIC(X) X(fcntl) X(fcntl64) X(ioctl)

#endif
