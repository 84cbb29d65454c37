/* sockdrill bench: the native route, linked with a server's glue (servers/NAME/glue.c) and
 * bench/run_inputs.c as bench_native_NAME. What users of a fuzzer without desocketing do
 * today: the server's own binary (Debian's) as a process per input under a forkserver
 * (native_forkserver.c, LD_PRELOAD), the input's dialogs sent by clients over real
 * 127.0.0.1 sockets, the server killed and reaped after each input.
 *
 * The glue is unchanged: its LLVMFuzzerTestOneInput calls sd_fuzz_server_run, which here is
 * this file's. The glue's serve() is called once, with sd_server_main a stub that keeps its
 * argv (the glue's config in its temporary directory); the binary is exec'd with that argv
 * once and forked per input. The glue's own servers (tinyproxy's upstream) run in this
 * process, their binds moved to ephemeral ports (bind() below) and the server's connects there
 * mapped by the forkserver library.
 *
 * Clients do what the sim's do (src/driver/fuzz/fuzz_client.c): connect, each message in its
 * pieces, then wait for the reply's first bytes and until it goes quiet, or pause, or go on; then a
 * half-close and read to the end, a close, or a reset; `together` clients at once (threads).
 * The sim's waits are virtual; here they are real time, scaled by SD_BENCH_WAIT_SCALE
 * (default 0.05: 250 ms for a reply's first bytes, 1 ms of quiet, pauses a twentieth, 50 us
 * between pieces, 250 ms for the server to close after a half-close: the smallest scale at
 * which no server of servers/ lost a reply byte on the seeds here, mosquitto did at 0.03,
 * its subscriber missing a PUBLISH when the pauses that order its clients got too short;
 * smaller favours this route, larger the sim's). A client told to connect
 * to a port a reply names is skipped (none of servers/ names one). The session oracle judges
 * each connection (the exact `check` expects the sim's virtual date); refusals are counted.
 *
 * Environment: SD_BENCH_SERVER (the binary), SD_BENCH_SHIM (native_forkserver's library),
 * SD_BENCH_WAIT_SCALE (0.01..1), SD_BENCH_LOG (the server's stdout and stderr; default
 * /dev/null). At exit, one line on stdout: "native: ..." with the counts and CPU seconds of
 * every process of the route. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "fuzz_plan.h"
#include "native_forkserver.h"

#define MAX_ARGS      64
#define MAX_MAPS      8
#define REPLY_KEEP    (64u << 10) /* bytes of a reply kept for the session oracle */
#define START_WAIT_MS 5000        /* for the forkserver's answers and the server to listen */
/* The sim's waits (src/driver/fuzz/fuzz_internal.h, fuzz_client.c), in ms, before scaling. */
#define REPLY_WAIT_MS 5000.0
#define QUIET_MS      20.0
#define PIECE_GAP_MS  1.0
#define SEND_WAIT_MS  60000.0
#define END_WAIT_MS   5000.0

static struct {
	int started;
	char *argv[MAX_ARGS + 1];
	int capturing, nmaps, map_from[MAX_MAPS], map_to[MAX_MAPS];
	pid_t fsrv;
	int ctl, st, ready;
	double scale;
	/* counts, for the summary */
	long inputs, failed_starts, refused, no_reply, end_waits, conn_errors, reply_bytes;
	double start_ms, clients_ms, reap_ms; /* where the time went, summed */
} B = {.ctl = -1, .st = -1, .ready = -1, .scale = 0.05};

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

/* One line on stderr, exit 2; the forkserver, if started, is ended first (and with it the
 * server it forked: native_forkserver.c). */
static void die(const char *fmt, const char *arg)
{
	if (B.fsrv > 0) {
		kill(B.fsrv, SIGKILL);
		while (waitpid(B.fsrv, NULL, 0) < 0 && errno == EINTR)
			;
		B.fsrv = 0;
	}
	fprintf(stderr, "bench_native: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

/* The glue's main: only its arguments are wanted. */
int sd_server_main(int argc, char **argv)
{
	if (argc > MAX_ARGS)
		die("the glue passes more than %s arguments", "64");
	for (int i = 0; i < argc; i++)
		if (!(B.argv[i] = strdup(argv[i])))
			die("%s", strerror(ENOMEM));
	return 0;
}

/* While the glue's serve() runs here: its listeners (tinyproxy's upstream) on ephemeral
 * ports, each remembered for the forkserver's connect map. */
int bind(int fd, const struct sockaddr *a, socklen_t n)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	if (!B.capturing || !a || a->sa_family != AF_INET || n < sizeof(struct sockaddr_in) ||
	    ((const struct sockaddr_in *)a)->sin_port == 0 || B.nmaps == MAX_MAPS)
		return real(fd, a, n);
	struct sockaddr_in sa = *(const struct sockaddr_in *)a;
	socklen_t sl = sizeof sa;
	int from = ntohs(sa.sin_port);
	sa.sin_port = 0;
	if (real(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	B.map_from[B.nmaps] = from, B.map_to[B.nmaps++] = ntohs(sa.sin_port);
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* poll() with a timeout in (fractional) ms: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, double ms, short *revents)
{
	struct pollfd p = {.fd = fd, .events = events};
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
	int r;
	while ((r = ppoll(&p, 1, ms < 0 ? NULL : &ts, NULL)) < 0 && errno == EINTR)
		;
	if (revents)
		*revents = r > 0 ? p.revents : 0;
	return r;
}

/* Reads exactly 4 bytes within START_WAIT_MS: 0, or -1. */
static int read4(int fd, void *p)
{
	if (wait_fd(fd, POLLIN, START_WAIT_MS, NULL) <= 0)
		return -1;
	return read(fd, p, 4) == 4 ? 0 : -1;
}

/* The binary, exec'd once with the forkserver library preloaded. */
static void start_forkserver(const struct sd_fuzz_server *srv)
{
	const char *bin = getenv("SD_BENCH_SERVER"), *shim = getenv("SD_BENCH_SHIM");
	const char *log = getenv("SD_BENCH_LOG"), *scale = getenv("SD_BENCH_WAIT_SCALE");
	if (!bin || !*bin || access(bin, X_OK) != 0)
		die("SD_BENCH_SERVER: '%s' is not an executable (the server's binary)",
		    bin ? bin : "");
	if (!shim || !*shim || access(shim, R_OK) != 0)
		die("SD_BENCH_SHIM: '%s' is not readable (libsd_bench_forkserver.so)",
		    shim ? shim : "");
	if (scale && *scale) {
		char *end;
		B.scale = strtod(scale, &end);
		if (*end || !(B.scale >= 0.01 && B.scale <= 1))
			die("SD_BENCH_WAIT_SCALE: '%s': a number 0.01..1", scale);
	}
	if (srv->client)
		die("%s", "a glue with a client of its own is not supported natively");
	B.capturing = 1;
	srv->serve(srv->arg);
	B.capturing = 0;
	if (!B.argv[0])
		die("%s", "the glue's serve() did not call sd_server_main");
	free(B.argv[0]);
	B.argv[0] = strdup(bin);

	char map[256] = "", port[16], rfd[16];
	for (int i = 0; i < B.nmaps; i++)
		snprintf(map + strlen(map), sizeof map - strlen(map), "%s%d:%d", i ? "," : "",
			 B.map_from[i], B.map_to[i]);
	int ctl[2], st[2], ready[2];
	/* All close on exec: the forkserver has only the copies dup2 puts on its fixed numbers
	 * (it must see the control pipe close when this process ends it). */
	if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The forkserver dies with this process (then its server with it: the library). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int out =
			open(log && *log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
		    dup2(ctl[0], SD_FORKSRV_CTL_FD) < 0 || dup2(st[1], SD_FORKSRV_ST_FD) < 0 ||
		    dup2(ready[1], 197) < 0)
			_exit(127);
		int in = open("/dev/null", O_RDONLY);
		if (in >= 0)
			dup2(in, 0);
		snprintf(port, sizeof port, "%d", srv->port);
		snprintf(rfd, sizeof rfd, "%d", 197);
		setenv("LD_PRELOAD", shim, 1);
		setenv("SD_BENCH_FORKSERVER", "1", 1);
		setenv("SD_BENCH_LISTEN_PORT", port, 1);
		setenv("SD_BENCH_READY_FD", rfd, 1);
		setenv("SD_BENCH_CONNECT_MAP", map, 1);
		execv(bin, B.argv);
		_exit(127);
	}
	close(ctl[0]), close(st[1]), close(ready[1]);
	B.fsrv = pid, B.ctl = ctl[1], B.st = st[0], B.ready = ready[0];
	uint32_t hello;
	if (read4(B.st, &hello) < 0 || hello != SD_FORKSRV_HELLO)
		die("%s: no hello from the forkserver (was SD_BENCH_SHIM preloaded?)", bin);
}

/* At exit: the forkserver ends when its pipe closes; then every process's CPU time. */
static void summary(void)
{
	if (!B.started || B.fsrv <= 0) /* not run, or ended by die() */
		return;
	close(B.ctl);
	int status;
	while (waitpid(B.fsrv, &status, 0) < 0 && errno == EINTR)
		;
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double cpu = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			      kids.ru_stime.tv_sec) +
		     (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
			      kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) /
			     1e6;
	double n = B.inputs ? (double)B.inputs : 1;
	printf("native: %ld inputs, %ld failed starts, %ld sessions refused by the oracle, %ld "
	       "connections without a reply (%ld reply bytes in all), %ld connection errors, %ld "
	       "half-closes unanswered "
	       "within the end wait; per input %.2f ms to fork and listen, %.2f ms of clients, "
	       "%.2f ms to kill and reap; cpu %.3f s (all processes); wait scale %g\n",
	       B.inputs, B.failed_starts, B.refused, B.no_reply, B.reply_bytes, B.conn_errors,
	       B.end_waits, B.start_ms / n, B.clients_ms / n, B.reap_ms / n, cpu, B.scale);
	fflush(stdout);
}

/* ---- one client ---------------------------------------------------------------------- */

struct conn {
	const struct sd_fuzz_server *srv;
	const struct sd_fuzz_plan_client *q;
	int id, port, fd, err, eof, nmsgs;
	int which[SD_FUZZ_MAX_MSGS];
	unsigned char *sent, *got;
	size_t sentlen, gotlen, total;
};

static void take_in(struct conn *k)
{
	unsigned char spill[4096];
	while (!k->eof) {
		unsigned char *to = k->gotlen < REPLY_KEEP ? k->got + k->gotlen : spill;
		size_t room = k->gotlen < REPLY_KEEP ? REPLY_KEEP - k->gotlen : sizeof spill;
		ssize_t r = recv(k->fd, to, room, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			if (r < 0 && !k->err)
				k->err = errno;
			k->eof = 1;
			return;
		}
		if (to != spill)
			k->gotlen += (size_t)r;
		k->total += (size_t)r;
	}
}

static void send_all(struct conn *k, const unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n && !k->err;) {
		short ev;
		int r = wait_fd(k->fd, POLLOUT | (k->eof ? 0 : POLLIN), SEND_WAIT_MS * B.scale,
				&ev);
		if (r <= 0) {
			k->err = r < 0 ? errno : ETIMEDOUT;
			return;
		}
		if (ev & (POLLIN | POLLHUP | POLLERR))
			take_in(k);
		if (!(ev & (POLLOUT | POLLHUP | POLLERR)))
			continue;
		ssize_t s = send(k->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (s < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (s <= 0) {
			k->err = s < 0 ? errno : EIO;
			return;
		}
		size_t keep =
			k->sentlen + (size_t)s <= REPLY_KEEP ? (size_t)s : REPLY_KEEP - k->sentlen;
		memcpy(k->sent + k->sentlen, p + off, keep);
		k->sentlen += keep, off += (size_t)s;
	}
}

/* The reply's first bytes (up to the scaled 5 s), then until it is quiet (scaled 20 ms). */
static void wait_reply(struct conn *k)
{
	size_t before = k->total;
	double until = now_ms() + REPLY_WAIT_MS * B.scale;
	while (!k->eof && k->total == before && now_ms() < until) {
		if (wait_fd(k->fd, POLLIN, until - now_ms(), NULL) > 0)
			take_in(k);
	}
	while (!k->eof && k->total > before) {
		size_t had = k->total;
		if (wait_fd(k->fd, POLLIN, QUIET_MS * B.scale, NULL) <= 0)
			break;
		take_in(k);
		if (k->total == had && !k->eof)
			break;
	}
}

static void *client(void *arg)
{
	struct conn *k = arg;
	const struct sd_fuzz_plan_client *q = k->q;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)k->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->fd < 0 || connect(k->fd, (struct sockaddr *)&a, sizeof a) < 0) {
		k->err = errno, k->eof = 1;
		return NULL;
	}
	for (int j = 0; j < q->nmsgs && !k->err; j++) {
		const struct sd_fuzz_plan_msg *m = &q->m[j];
		size_t off = 0;
		for (int p = 0; p < m->npieces && !k->err; p++) {
			if (p && off < m->len)
				sleep_ms(PIECE_GAP_MS * B.scale);
			send_all(k, m->bytes + off, m->cut[p] - off);
			off = m->cut[p];
		}
		if (k->err)
			break;
		k->which[k->nmsgs++] = m->which;
		if (m->after == SD_AFTER_REPLY)
			wait_reply(k);
		else if (m->after == SD_AFTER_SLEEP)
			sleep_ms(m->sleep_ms * B.scale);
	}
	if (q->end == SD_END_HALF_CLOSE) {
		shutdown(k->fd, SHUT_WR);
		double until = now_ms() + END_WAIT_MS * B.scale;
		while (!k->eof && now_ms() < until)
			if (wait_fd(k->fd, POLLIN, until - now_ms(), NULL) > 0)
				take_in(k);
		if (!k->eof) {
			pthread_mutex_lock(&count_lock);
			B.end_waits++;
			pthread_mutex_unlock(&count_lock);
		}
	} else if (q->end == SD_END_RESET) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	} else {
		take_in(k);
	}
	close(k->fd);
	return NULL;
}

/* ---- one input ----------------------------------------------------------------------- */

/* The pid of a new server process and the port it listens on for 127.0.0.1; 0 when it
 * did not start (its status is then collected). */
static pid_t fork_server(int *port)
{
	uint32_t go = 0;
	int32_t pid, status;
	if (write(B.ctl, &go, 4) != 4 || read4(B.st, &pid) < 0)
		die("%s", "the forkserver stopped answering");
	double until = now_ms() + START_WAIT_MS;
	for (;;) {
		struct pollfd p[2] = {{.fd = B.ready, .events = POLLIN},
				      {.fd = B.st, .events = POLLIN}};
		int left = (int)(until - now_ms()) + 1;
		if (left <= 0 || poll(p, 2, left) <= 0)
			break;
		if (p[0].revents & POLLIN) {
			struct sd_forksrv_ready rec;
			if (read(B.ready, &rec, sizeof rec) != sizeof rec)
				break;
			if (rec.pid == pid && rec.family == AF_INET) {
				*port = rec.port;
				return pid;
			}
			continue; /* an earlier server's, or its IPv6 listener */
		}
		if (p[1].revents & (POLLIN | POLLHUP))
			break; /* it exited before listening */
	}
	kill(pid, SIGKILL);
	if (read4(B.st, &status) < 0)
		die("%s", "the forkserver stopped answering");
	B.failed_starts++;
	return 0;
}

static struct conn conns[SD_FUZZ_MAX_CLIENTS];

int sd_fuzz_server_run(const struct sd_fuzz_server *srv, const uint8_t *data, size_t size)
{
	if (!B.started) {
		start_forkserver(srv);
		B.started = 1;
		atexit(summary);
		for (int i = 0; i < SD_FUZZ_MAX_CLIENTS; i++)
			if (!(conns[i].sent = malloc(REPLY_KEEP)) ||
			    !(conns[i].got = malloc(REPLY_KEEP)))
				die("%s", strerror(ENOMEM));
	}
	struct sd_fuzz_plan plan;
	struct sd_fuzz_dict dict = {srv->requests, srv->request_lens, srv->nrequests};
	sd_fuzz_plan_decode(data, size, &dict, &plan);
	B.inputs++;
	int port;
	double t0 = now_ms();
	pid_t pid = fork_server(&port);
	double t1 = now_ms();
	B.start_ms += t1 - t0;
	if (!pid)
		return 0;
	pthread_t tid[SD_FUZZ_MAX_CLIENTS];
	int threaded[SD_FUZZ_MAX_CLIENTS] = {0};
	for (int i = 0; i < plan.nclients; i++) {
		struct conn *k = &conns[i];
		*k = (struct conn){.srv = srv,
				   .q = &plan.c[i],
				   .id = i,
				   .port = port,
				   .fd = -1,
				   .sent = k->sent,
				   .got = k->got};
		if (i >= plan.together && threaded[i - plan.together])
			pthread_join(tid[i - plan.together], NULL);
		if (plan.c[i].from >= 0)
			continue; /* a port a reply names: none of servers/ has one */
		if (plan.together > 1 && pthread_create(&tid[i], NULL, client, k) == 0)
			threaded[i] = 1;
		else
			client(k);
	}
	for (int i = 0; i < plan.nclients; i++)
		if (threaded[i] && (i + plan.together >= plan.nclients))
			pthread_join(tid[i], NULL);
	double t2 = now_ms();
	kill(pid, SIGKILL);
	int32_t status;
	if (read4(B.st, &status) < 0)
		die("%s", "the forkserver stopped answering");
	B.clients_ms += t2 - t1, B.reap_ms += now_ms() - t2;
	for (int i = 0; i < plan.nclients; i++) {
		struct conn *k = &conns[i];
		if (plan.c[i].from >= 0)
			continue;
		B.conn_errors += k->err != 0;
		B.no_reply += k->total == 0;
		B.reply_bytes += (long)k->total;
		struct sd_fuzz_session s = {.conn = i,
					    .client = i,
					    .nmsgs = k->nmsgs,
					    .which = k->which,
					    .sent = k->sent,
					    .sentlen = k->sentlen,
					    .reply = k->got,
					    .replylen = k->gotlen,
					    .err = k->err,
					    .eof = k->eof};
		if (srv->check_session && k->total <= REPLY_KEEP &&
		    srv->check_session(srv->arg, &s))
			B.refused++;
	}
	return 0;
}
