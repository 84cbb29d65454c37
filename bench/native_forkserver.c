/* sockdrill bench: an LD_PRELOAD forkserver for a native server binary (bench/bench_native.c).
 *
 * What AFL++'s forkserver gives a program it fuzzes, for a program it cannot build: the
 * process has been exec'd and dynamically linked once; then, before main, this library's
 * constructor waits on a pipe and forks one child per request, which goes on into main. As
 * AFL++'s: 4 bytes on SD_FORKSRV_CTL_FD are a request, the child's pid and then its wait
 * status come back as 4 bytes each on SD_FORKSRV_ST_FD, and 4 bytes of hello first.
 *
 * Environment (all set by bench_native; without SD_BENCH_FORKSERVER the library does nothing
 * but pass calls through):
 *   SD_BENCH_FORKSERVER=1   run the fork loop
 *   SD_BENCH_LISTEN_PORT=P  a bind() to port P (the glue's port) binds port 0 instead: every
 *                           child listens on an ephemeral port of its own
 *   SD_BENCH_CONNECT_MAP=A:B,...  a connect() to port A goes to port B (a glue's upstream,
 *                           which bench_native runs on an ephemeral port)
 *   SD_BENCH_READY_FD=N     after each successful listen(), the child writes a record
 *                           {pid, family, port} there, so the client connects at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "native_forkserver.h"

#define EXPORT __attribute__((visibility("default")))

static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_listen)(int, int);
/* The environment as it was at start-up (a server may replace environ: nginx does). */
static int listen_port = -1, ready_fd = -1;
static char connect_map[256];

static int env_int(const char *name, int dflt)
{
	const char *e = getenv(name);
	return e && *e ? atoi(e) : dflt;
}

/* The port of an IPv4 or IPv6 address, or -1. */
static int port_of(const struct sockaddr *a, socklen_t n)
{
	if (a && a->sa_family == AF_INET && n >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a && a->sa_family == AF_INET6 && n >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return -1;
}

/* A copy of the address (n bytes, at most a sockaddr_storage) with its port set. */
static socklen_t with_port(struct sockaddr_storage *to, const struct sockaddr *a, socklen_t n,
			   int port)
{
	if (n > sizeof *to)
		n = sizeof *to;
	memcpy(to, a, n);
	if (to->ss_family == AF_INET)
		((struct sockaddr_in *)to)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)to)->sin6_port = htons((uint16_t)port);
	return n;
}

static int write_all(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

EXPORT int bind(int fd, const struct sockaddr *a, socklen_t n)
{
	int port = port_of(a, n);
	if (port <= 0 || port != listen_port)
		return real_bind(fd, a, n);
	struct sockaddr_storage ss;
	socklen_t m = with_port(&ss, a, n, 0);
	return real_bind(fd, (struct sockaddr *)&ss, m);
}

/* SD_BENCH_CONNECT_MAP "A:B,C:D": the port a connect to `port` goes to. */
static int mapped(int port)
{
	const char *e = connect_map;
	while (*e) {
		char *end;
		long from = strtol(e, &end, 10), to;
		if (*end != ':')
			break;
		to = strtol(end + 1, &end, 10);
		if (from == port && to > 0 && to < 65536)
			return (int)to;
		e = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			break;
	}
	return port;
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t n)
{
	int port = port_of(a, n);
	if (port <= 0 || mapped(port) == port)
		return real_connect(fd, a, n);
	struct sockaddr_storage ss;
	socklen_t m = with_port(&ss, a, n, mapped(port));
	return real_connect(fd, (struct sockaddr *)&ss, m);
}

EXPORT int listen(int fd, int backlog)
{
	int r = real_listen(fd, backlog), saved = errno;
	struct sockaddr_storage ss;
	socklen_t n = sizeof ss;
	if (r == 0 && ready_fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &n) == 0 &&
	    port_of((struct sockaddr *)&ss, n) > 0) {
		struct sd_forksrv_ready rec = {.pid = (int32_t)getpid(),
					       .family = ss.ss_family,
					       .port = port_of((struct sockaddr *)&ss, n)};
		(void)write_all(ready_fd, &rec, sizeof rec); /* one record: atomic on a pipe */
	}
	errno = saved;
	return r;
}

/* The fork loop, in the parent, until the control pipe closes; children return into main. */
static void fork_loop(void)
{
	uint32_t hello = SD_FORKSRV_HELLO, go;
	pid_t self = getpid();
	if (write_all(SD_FORKSRV_ST_FD, &hello, 4) < 0)
		return; /* no one is listening: run as a plain process */
	for (;;) {
		if (read(SD_FORKSRV_CTL_FD, &go, 4) != 4)
			_exit(0);
		pid_t pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid == 0) {
			/* A forkserver that dies (its client was killed) takes the server along. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != self)
				_exit(1);
			close(SD_FORKSRV_CTL_FD);
			close(SD_FORKSRV_ST_FD);
			return;
		}
		int32_t p = (int32_t)pid, status = 0;
		if (write_all(SD_FORKSRV_ST_FD, &p, 4) < 0)
			_exit(1);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (write_all(SD_FORKSRV_ST_FD, &status, 4) < 0)
			_exit(1);
	}
}

__attribute__((constructor)) static void forkserver_init(void)
{
	real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	real_connect =
		(int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	real_listen = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
	if (!real_bind || !real_connect || !real_listen)
		_exit(127);
	listen_port = env_int("SD_BENCH_LISTEN_PORT", -1);
	ready_fd = env_int("SD_BENCH_READY_FD", -1);
	const char *map = getenv("SD_BENCH_CONNECT_MAP");
	if (map && strlen(map) < sizeof connect_map)
		strcpy(connect_map, map);
	if (env_int("SD_BENCH_FORKSERVER", 0) == 1)
		fork_loop();
}
