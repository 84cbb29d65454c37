/* sockdrill: the `real` backend, kernel TCP sockets restricted to loopback by default. */
#ifndef SOCKDRILL_REAL_H
#define SOCKDRILL_REAL_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <sockdrill/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const struct sd_ops sd_real_ops;

/*
 * The libc functions a real instance calls, one pointer each, in the libc convention
 * (-1 and errno). Replacing one lets a test make the kernel "fail" in a chosen way and so
 * check the backend's own error paths (as SQLite's test_syscall does for its VFS).
 */
struct sd_real_syscalls {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*fcntl)(int, int, ...);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	int (*dup3)(int, int, int);
	int (*ioctl)(int, unsigned long, ...); /* one int * argument: FIONREAD, SIOCOUTQ */
};

/* The C library's own functions, found past any interposer (a program linking sockdrill's
 * in-process layer has its own `socket`, `send`, ...: a real instance still reaches the kernel). */
extern const struct sd_real_syscalls sd_real_libc;

/* Makes the real instance `net` call `sys` from now on (NULL: back to libc).
 * 0, or -EINVAL when net is not a real instance or sys has a NULL member. */
int sd_real_set_syscalls(struct sd_net *net, const struct sd_real_syscalls *sys);

/* For an interposer that sees descriptors come and go outside the instance (dup, dup2,
 * close_range): own != 0 makes kernel descriptor fd one of the instance's, own == 0 lets it
 * go without closing it. 0, or -EINVAL (not a real instance), -EBADF (fd out of range). */
int sd_real_adopt(struct sd_net *net, int fd, int own);

/*
 * SD_MSG_PLAIN in the flags of send, recv, sendmsg or recvmsg: the call is a program's own
 * write, read, writev or readv (an interposer that passes a program's calls on: the preload),
 * so the instance makes that system call and not send/recv/sendmsg/recvmsg. A sandboxed
 * program (OpenSSH's seccomp filter kills sendto) sees the calls it made. Such a write gets
 * no MSG_NOSIGNAL: SIGPIPE is then the kernel's, as for the program's own call, and
 * sd_real_sigpipe_raised() says so. The bit is one Linux never takes from a program
 * (MSG_CMSG_COMPAT); sendmsg and recvmsg with an address or control data ignore it.
 */
#define SD_MSG_PLAIN ((int)0x80000000u)
/* 1 when this thread's last SD_MSG_PLAIN write failed with EPIPE, so that the kernel raised
 * SIGPIPE itself; reading clears it (an interposer asks before and after a write). */
int sd_real_sigpipe_raised(void);
/*
 * Kernel variants (docs/sim-vs-linux.md, "Kernel variants"): behaviours in which the kernels
 * sockdrill runs on differ, which the sim models either way. Comparisons of sim and kernel
 * give the sim the host's variant.
 *
 * one-role: a TCP socket that has been connecting or connected never listens, and one that
 * has listened never connects (EINVAL). Mainline Linux allows both.
 *
 * sd_real_probe_one_role asks the kernel through `sys` (NULL: libc): on loopback, a socket
 * whose blocking connect to a port bound by nobody listening was refused calls listen().
 * 1 when that gives EINVAL (the variant), 0 when it succeeds (mainline), a negative errno
 * when the probe could not run (-ETIMEDOUT when no answer came within 5 s). It uses two
 * sockets and closes them.
 */
int sd_real_probe_one_role(const struct sd_real_syscalls *sys);
/* The same for this host through libc: probed at the first call, remembered for the life of
 * the process (a probe that could not run is tried again at the next call). */
int sd_real_host_one_role(void);

/*
 * CONFIG_HZ of the kernel, read from how it keeps socket timeouts (in ticks, rounded up): a
 * SO_RCVTIMEO of 1 us reads back as one tick. Through `sys` (NULL: libc), with one socket it
 * closes. The tick rate (100, 250, 300, 1000, ...), or a negative errno; -EPROTO when the
 * value read back is no tick of a rate between 24 and 10000.
 */
int sd_real_probe_hz(const struct sd_real_syscalls *sys);
/* The same for this host through libc, probed once and remembered (as sd_real_host_one_role). */
int sd_real_host_hz(void);

#ifdef __cplusplus
}
#endif
#endif
