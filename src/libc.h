/* sockdrill: the C library's own functions, found with dlsym before main or at first use. */
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
 * ran; sd__libc_resolve_all(), run by a constructor, fills every slot before main. A name the
 * C library lacks stops the process with one line naming it when something calls it, not
 * before.
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
	int (*prctl)(int option, ...);
};

extern struct sd__libc sd__libc;

/* The C library's `name`, e.g. SD__LIBC(close)(fd). */
#define SD__LIBC(name) (__atomic_load_n(&sd__libc.name, __ATOMIC_RELAXED))

/*
 * The functions behind the in-process route's thread, clock and process interposers
 * (harness/libc/threads*.c, sync*.c, clock.c, proc.c), as X(name, interceptor): found by name
 * into sd__libc_named[] and called as SD__LIBC_FN(name)(...), typed from the C library's own
 * declaration (the caller includes its header). interceptor 1: where a sanitizer runtime with
 * interceptors is in the program, its __interceptor_<name> is taken, since a runtime linked
 * statically (clang's ASan, so every libFuzzer build) sits in the program itself, which
 * RTLD_NEXT skips, and pthread_create must go through it for the runtime to know the thread.
 * 0: functions sanitizer runtimes call themselves on their hot paths, where the probe would
 * only cost. (Socket calls never take an interceptor: under LD_PRELOAD, an instrumented
 * program's interceptor calls the layer, which would call the interceptor again.)
 */
/* clang-format off */
#define SD__LIBC_NAMED(X) \
	X(pthread_getspecific, 0) X(pthread_setspecific, 0) X(pthread_key_create, 0) \
	X(pthread_key_delete, 0) X(pthread_create, 1) X(pthread_join, 1) \
	X(pthread_tryjoin_np, 1) X(pthread_clockjoin_np, 1) X(pthread_detach, 1) \
	X(pthread_self, 1) X(pthread_exit, 1) X(pthread_cancel, 1) X(pthread_setcancelstate, 1) \
	X(pthread_setcanceltype, 1) X(pthread_testcancel, 1) X(__pthread_register_cancel, 1) \
	X(__pthread_unregister_cancel, 1) X(__pthread_unwind_next, 1) X(pthread_sigmask, 1) \
	X(sigprocmask, 1) X(sched_yield, 1) X(pthread_kill, 1) X(pthread_setname_np, 1) \
	X(pthread_getname_np, 1) X(pthread_setschedparam, 1) X(pthread_getschedparam, 1) \
	X(pthread_setaffinity_np, 1) X(pthread_getaffinity_np, 1) X(pthread_getattr_np, 1) \
	X(pthread_mutex_init, 1) X(pthread_mutex_destroy, 1) X(pthread_mutex_lock, 1) \
	X(pthread_mutex_trylock, 1) X(pthread_mutex_clocklock, 1) X(pthread_mutex_unlock, 1) \
	X(pthread_spin_init, 1) X(pthread_spin_destroy, 1) X(pthread_spin_lock, 1) \
	X(pthread_spin_trylock, 1) X(pthread_spin_unlock, 1) X(pthread_cond_wait, 1) \
	X(pthread_cond_clockwait, 1) X(pthread_cond_timedwait, 1) X(pthread_cond_signal, 1) \
	X(pthread_cond_broadcast, 1) X(pthread_rwlock_init, 1) X(pthread_rwlock_destroy, 1) \
	X(pthread_rwlock_rdlock, 1) X(pthread_rwlock_wrlock, 1) X(pthread_rwlock_tryrdlock, 1) \
	X(pthread_rwlock_trywrlock, 1) X(pthread_rwlock_clockrdlock, 1) \
	X(pthread_rwlock_clockwrlock, 1) X(pthread_rwlock_unlock, 1) X(sem_init, 1) \
	X(sem_destroy, 1) X(sem_wait, 1) X(sem_trywait, 1) X(sem_clockwait, 1) X(sem_post, 1) \
	X(sem_getvalue, 1) X(pthread_barrier_init, 1) X(pthread_barrier_destroy, 1) \
	X(pthread_barrier_wait, 1) X(pthread_once, 1) X(gettimeofday, 1) X(time, 1) \
	X(sleep, 1) X(usleep, 1) X(clock_nanosleep, 1) X(_exit, 1) X(exit, 1) X(_Exit, 1) \
	X(quick_exit, 1) X(verr, 1) X(verrx, 1) X(fork, 1) X(_Fork, 1) X(daemon, 1) \
	X(system, 1) X(popen, 1) X(posix_spawn, 1) X(posix_spawnp, 1) X(execve, 1) X(execv, 1) \
	X(execvp, 1) X(execvpe, 1) X(fexecve, 1) X(sigaction, 1) X(signal, 1) X(bsd_signal, 1) \
	X(setitimer, 1) X(getitimer, 1) X(alarm, 0) X(fopen, 1) X(fopen64, 1) X(fclose, 1) \
	X(regcomp, 1) X(regexec, 1) X(getdelim, 1) X(vasprintf, 1) X(realpath, 1) X(opendir, 1) X(fdopendir, 1) \
	X(getrandom, 1) X(getentropy, 1) \
	X(freopen, 1) X(freopen64, 1)

enum {
#define SD__LIBC_NAMED_ENUM(name, icpt) SD__LIBC_N_##name,
	SD__LIBC_NAMED(SD__LIBC_NAMED_ENUM)
#undef SD__LIBC_NAMED_ENUM
	SD__LIBC_NAMED_COUNT
};
/* clang-format on */

extern void *sd__libc_named[SD__LIBC_NAMED_COUNT];
/* Looks entry i up now and stores it; a name the C library lacks stops the process with one
 * line naming it. */
void *sd__libc_named_resolve(int i);

static inline void *sd__libc_named_at(int i)
{
	void *p = __atomic_load_n(&sd__libc_named[i], __ATOMIC_ACQUIRE);
	return p ? p : sd__libc_named_resolve(i);
}

/* The C library's `name` of SD__LIBC_NAMED, e.g. SD__LIBC_FN(pthread_join)(t, &ret). */
#define SD__LIBC_FN(name) ((__typeof__(&name))sd__libc_named_at(SD__LIBC_N_##name))

/*
 * Looks every slot up now. A constructor of libc.c calls it before main, so that no first
 * call needs dlsym later, where it may never return: LeakSanitizer calls sched_yield (which
 * the in-process route interposes) with every other thread stopped at exit, and the LD_PRELOAD
 * library's first call may come from a signal handler. A call made before that constructor
 * ran (from another library's constructor) still resolves its own slot on the spot.
 */
void sd__libc_resolve_all(void);

#endif
