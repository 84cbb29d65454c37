/* The interposition layer's in-process route: servers written against libc, run on a sim.
 * Built with _FORTIFY_SOURCE=2, so reads into arrays and FD_SET take glibc's checked paths. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/fault.h>

#include "inproc.h"
#include "sd_test.h"

const char sd_unit_module[] = "inproc";

#define MS  1000000LL
#define SEC 1000000000LL

/* Actors cannot use cmocka's asserts (they jump out of the test from another stack): they note
 * the first failed expectation, and the test checks it once they are joined. */
static int fail_line;
static const char *fail_text;
#define EXPECT(c)                                                                                  \
	do {                                                                                       \
		if (!(c) && !fail_line)                                                            \
			fail_line = __LINE__, fail_text = #c;                                      \
	} while (0)

static void expect_none(void)
{
	if (fail_line)
		fail_msg("line %d: expected %s", fail_line, fail_text);
}

static struct sd_net *sim, faulty;

/* Lengths the compiler cannot know, so that fortified calls on arrays are the checked
 * versions (__read_chk, __recv_chk, __recvfrom_chk, __poll_chk), as in real servers. */
size_t sd_test_len8 = 8, sd_test_nfds2 = 2;

/* A fresh sim, attached; `options` as for sd_config. */
static void attach(const char *options)
{
	struct sd_config cfg = {.seed = 7, .options = options};
	fail_line = 0;
	sim = calloc(1, sizeof *sim);
	assert_non_null(sim);
	assert_int_equal(sd_net_open(sim, "sim", &cfg), 0);
	sd_inproc_attach(sim);
	assert_ptr_equal(sd_inproc_net(), sim);
}

/* The same, the program's calls going through a fault wrapper (injecting none) first, as in
 * the fuzz driver. */
static void attach_wrapped(const char *options)
{
	struct sd_fault_spec none = {0};
	attach(options);
	assert_int_equal(sd_fault_wrap(&faulty, sim, &none, 1, NULL), 0);
	sd_inproc_attach(&faulty);
}

static void detach(void)
{
	sd_inproc_attach(NULL);
	sd_net_close(&faulty);
	sd_net_close(sim);
	free(sim);
	sim = NULL;
	expect_none();
}

static int open_fds(void)
{
	struct sd_sim_stats st;
	assert_int_equal(sd_sim_stats(sim, &st), 0);
	return st.open_fds;
}

/* Runs fn(arg) for each pair as actors and joins them all. */
static void run2(void (*a)(void *), void *aa, void (*b)(void *), void *ba)
{
	int ia = sd_spawn(sim, "a", a, aa), ib = sd_spawn(sim, "b", b, ba);
	assert_true(ia > 0 && ib > 0);
	assert_int_equal(sd_join(sim, ia), 0);
	assert_int_equal(sd_join(sim, ib), 0);
}

/* A listener on 127.0.0.1, port chosen by the sim; *port gets it. */
static int listener(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT(l >= 0);
	EXPECT(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	EXPECT(listen(l, 16) == 0);
	EXPECT(getsockname(l, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return l;
}

static int dial(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT(fd >= 0);
	EXPECT(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	return fd;
}

/* Reads until n bytes or the end of the stream: how many. */
static size_t read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	for (ssize_t k; got < n && (k = read(fd, buf + got, n - got)) > 0;)
		got += (size_t)k;
	return got;
}

/* The lowest descriptor the kernel would hand out now. */
static int lowest_free(void)
{
	int fd = dup(0);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

/* How many descriptors the process has open (the kernel's count, /proc/self/fd). */
static int kernel_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A `real` instance opened while a sim is attached reaches the kernel: its libc calls are the
 * C library's, not the layer's (which would hand it a simulated socket). */
static void real_backend_reaches_kernel_while_attached(void **state)
{
	(void)state;
	struct sd_net real;
	attach(NULL);
	assert_int_equal(sd_net_open(&real, "real", NULL), 0);
	int fd = sd_socket(&real, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(sd_bind(&real, fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(sd_listen(&real, fd, 4), 0);
	/* the kernel itself names the socket, past any interposer */
	struct sockaddr_in got;
	socklen_t len = sizeof got;
	assert_int_equal(syscall(SYS_getsockname, fd, (struct sockaddr *)&got, &len), 0);
	assert_int_equal(got.sin_family, AF_INET);
	assert_int_not_equal(got.sin_port, 0);
	assert_int_equal(open_fds(), 0);
	assert_int_equal(sd_close(&real, fd), 0);
	sd_net_close(&real);
	detach();
}

/* A simulated socket is named by a real descriptor: the lowest free number, a socket for
 * fstat, closed for the kernel once the program closes it; and only TCP is simulated. */
static void descriptors_are_small_and_real(void **state)
{
	(void)state;
	attach(NULL);
	int want = lowest_free();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(fd, want);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(open_fds(), 1);
	want = lowest_free();
	int v6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(v6, want);
	assert_int_equal(fcntl(v6, F_GETFD), FD_CLOEXEC);
	assert_int_equal(open_fds(), 2);
	/* UDP and AF_UNIX sockets are the kernel's */
	int u = socket(AF_INET, SOCK_DGRAM, 0), x = socket(AF_UNIX, SOCK_STREAM, 0), dom = 0;
	socklen_t len = sizeof dom;
	assert_true(u >= 0 && x >= 0);
	assert_int_equal(getsockopt(x, SOL_SOCKET, SO_DOMAIN, &dom, &len), 0);
	assert_int_equal(dom, AF_UNIX);
	assert_int_equal(open_fds(), 2);
	int pair[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	assert_int_equal(socketpair(AF_INET, SOCK_STREAM, 0, pair + 0), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(close(fd), 0);
	assert_int_equal(open_fds(), 1);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	close(u), close(x), close(pair[0]), close(pair[1]), close(v6);
	assert_int_equal(open_fds(), 0);
	detach();
}

/* Detaching closes the placeholders; the sockets stay the net's until it is closed. */
static void detach_closes_placeholders(void **state)
{
	(void)state;
	attach(NULL);
	int fd = socket(AF_INET, SOCK_STREAM, 0), copy = dup(fd);
	assert_true(fd >= 0 && copy >= 0);
	sd_inproc_attach(NULL);
	assert_null(sd_inproc_net());
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(fcntl(copy, F_GETFD), -1);
	assert_int_equal(open_fds(), 1);
	sd_inproc_attach(sim);
	detach();
}

/* ---- a select() server ------------------------------------------------------------------ */

struct echo {
	int port, clients, served;
};

/* Echoes one line per connection to `clients` clients, all through one select() loop. */
static void select_server(void *arg)
{
	struct echo *e = arg;
	int l = listener(&e->port), conns[8], n = 0;
	while (e->served < e->clients) {
		fd_set r;
		FD_ZERO(&r);
		FD_SET(l, &r);
		int top = l;
		for (int i = 0; i < n; i++)
			if (conns[i] >= 0) {
				EXPECT(conns[i] < FD_SETSIZE);
				FD_SET(conns[i], &r);
				top = conns[i] > top ? conns[i] : top;
			}
		struct timeval tv = {.tv_sec = 5};
		int rc = select(top + 1, &r, NULL, NULL, &tv);
		EXPECT(rc > 0);
		if (rc <= 0)
			return;
		EXPECT(tv.tv_sec <= 5);
		if (FD_ISSET(l, &r) && n < 8)
			conns[n++] = accept(l, NULL, NULL);
		for (int i = 0; i < n; i++) {
			char buf[64];
			size_t got = 0;
			if (conns[i] < 0 || !FD_ISSET(conns[i], &r))
				continue;
			/* the line may come in pieces: the rest of it is waited for */
			for (ssize_t k; got < sizeof buf && !memchr(buf, '\n', got) &&
					(k = read(conns[i], buf + got, sizeof buf - got)) > 0;)
				got += (size_t)k;
			EXPECT(write(conns[i], buf, got) == (ssize_t)got);
			close(conns[i]);
			conns[i] = -1;
			e->served++;
		}
	}
	close(l);
}

static void echo_clients(void *arg)
{
	struct echo *e = arg;
	while (!e->port)
		sd_sleep_ns(sim, MS);
	for (int i = 0; i < e->clients; i++) {
		char got[16];
		int fd = dial(e->port);
		EXPECT(write(fd, "line\n", 5) == 5);
		EXPECT(shutdown(fd, SHUT_WR) == 0);
		EXPECT(read_all(fd, got, sizeof got) == 5 && !memcmp(got, "line\n", 5));
		close(fd);
	}
}

static void select_server_echoes(void **state)
{
	(void)state;
	struct echo e = {.clients = 3};
	attach("segment=3");
	run2(select_server, &e, echo_clients, &e);
	assert_int_equal(e.served, 3);
	assert_int_equal(open_fds(), 0);
	detach();
}

/* ---- poll with a pipe in the set -------------------------------------------------------- */

struct pipe_srv {
	int port, pipe[2], answered, quit;
	int64_t woke_at;
};

/* Serves connections until a byte arrives on the pipe: a set of a simulated listener, its
 * connections and a kernel pipe. */
static void pipe_server(void *arg)
{
	struct pipe_srv *s = arg;
	int l = listener(&s->port);
	while (!s->quit) {
		struct pollfd p[2] = {{.fd = l, .events = POLLIN},
				      {.fd = s->pipe[0], .events = POLLIN}};
		int rc = poll(p, sd_test_nfds2, -1);
		EXPECT(rc > 0);
		if (rc <= 0)
			break;
		if (p[1].revents & POLLIN) {
			char c;
			EXPECT(read(s->pipe[0], &c, 1) == 1);
			s->quit = 1;
			s->woke_at = sd_now_ns(sim);
		}
		if (p[0].revents & POLLIN) {
			int c = accept(l, NULL, NULL);
			char buf[8];
			ssize_t k = recv(c, buf, sd_test_len8, 0);
			EXPECT(k == 4);
			EXPECT(send(c, "pong", 4, 0) == 4);
			close(c);
			s->answered++;
		}
	}
	close(l);
}

static void pipe_client(void *arg)
{
	struct pipe_srv *s = arg;
	while (!s->port)
		sd_sleep_ns(sim, MS);
	int fd = dial(s->port);
	char got[8];
	EXPECT(send(fd, "ping", 4, 0) == 4);
	EXPECT(read_all(fd, got, sizeof got) == 4);
	close(fd);
	sd_sleep_ns(sim, 2 * SEC); /* the server keeps waiting meanwhile, in virtual time */
	EXPECT(write(s->pipe[1], "q", 1) == 1);
}

static void poll_waits_on_pipe_and_sockets(void **state)
{
	(void)state;
	struct pipe_srv s = {0};
	assert_int_equal(pipe(s.pipe), 0);
	attach(NULL);
	run2(pipe_server, &s, pipe_client, &s);
	assert_int_equal(s.answered, 1);
	assert_true(s.quit);
	/* woken once the pipe had its byte, at most one checking step later */
	assert_true(s.woke_at >= 2 * SEC && s.woke_at <= 2 * SEC + 100 * MS);
	close(s.pipe[0]), close(s.pipe[1]);
	detach();
}

/* A wait on a pipe nobody writes ends in the sim's deadlock report, not in stepping forever. */
static void poll_on_silent_pipe_deadlocks(void **state)
{
	(void)state;
	struct pipe_srv s = {0};
	assert_int_equal(pipe(s.pipe), 0);
	attach(NULL);
	int id = sd_spawn(sim, "server", pipe_server, &s);
	assert_int_equal(sd_join(sim, id), -EDEADLK);
	assert_non_null(strstr(sd_sim_deadlock_report(sim), "waits in poll"));
	assert_true(sd_now_ns(sim) >= 60 * SEC);
	close(s.pipe[0]), close(s.pipe[1]);
	detach();
}

/* pipe_server as an epoll loop, the pipe edge-triggered as nginx has its eventfd: a sim epoll
 * set holding a kernel descriptor (docs/architecture.md). */
static void epoll_pipe_server(void *arg)
{
	struct pipe_srv *s = arg;
	int l = listener(&s->port), ep = epoll_create(8);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1}, out[2];
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u64 = 2};
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, s->pipe[0], &ev) == 0);
	while (!s->quit) {
		int rc = epoll_wait(ep, out, 2, -1);
		EXPECT(rc > 0);
		if (rc <= 0)
			break;
		for (int i = 0; i < rc; i++) {
			if (out[i].data.u64 == 2) {
				EXPECT(out[i].events == EPOLLIN);
				s->quit = 1;
				s->woke_at = sd_now_ns(sim);
				continue;
			}
			int c = accept(l, NULL, NULL);
			char buf[8];
			EXPECT(recv(c, buf, sd_test_len8, 0) == 4);
			EXPECT(send(c, "pong", 4, 0) == 4);
			close(c);
			s->answered++;
		}
	}
	EXPECT(close(ep) == 0);
	close(l);
}

static void epoll_waits_on_pipe_and_sockets(void **state)
{
	(void)state;
	struct pipe_srv s = {0};
	assert_int_equal(pipe(s.pipe), 0);
	int before = kernel_fds();
	attach(NULL);
	run2(epoll_pipe_server, &s, pipe_client, &s);
	assert_int_equal(s.answered, 1);
	assert_true(s.quit);
	assert_true(s.woke_at >= 2 * SEC && s.woke_at <= 2 * SEC + 100 * MS);
	/* the kernel epoll beside the sim's went with its placeholder */
	assert_int_equal(kernel_fds(), before);
	close(s.pipe[0]), close(s.pipe[1]);
	detach();
}

/* The rest of epoll on a mixed set, as a server's start-up probes it (nginx's EPOLLRDHUP test
 * on an AF_UNIX pair), with the kernel's answers for the kernel's descriptors. */
static void epoll_mixed_set(void **state)
{
	(void)state;
	int u[2], p[2], f = open("/dev/null", O_RDONLY);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, u), 0);
	assert_int_equal(pipe(p), 0);
	assert_true(f >= 0);
	attach(NULL);
	int before = kernel_fds();
	int port, l = listener(&port), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLET | EPOLLIN | EPOLLRDHUP, .data.u64 = 7}, out[4];
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, u[0], &ev), 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, u[0], &ev), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), -1);
	assert_int_equal(errno, EPERM); /* a regular file */
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, 1000, &ev), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(epoll_ctl(l, EPOLL_CTL_ADD, p[0], &ev), -1);
	assert_int_equal(errno, EINVAL); /* a socket is no epoll instance */
	/* nothing ready: the timeout runs on the virtual clock */
	int64_t t0 = sd_now_ns(sim);
	assert_int_equal(epoll_wait(ep, out, 4, 30), 0);
	assert_true(sd_now_ns(sim) - t0 >= 30 * MS);
	assert_int_equal(epoll_wait(ep, out, 0, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(shutdown(u[1], SHUT_WR), 0); /* as the peer's close, keeping the fd */
	t0 = sd_now_ns(sim);
	assert_int_equal(epoll_pwait(ep, out, 4, 5000, NULL), 1);
	assert_int_equal(sd_now_ns(sim), t0);
	assert_int_equal(out[0].data.u64, 7);
	assert_true(out[0].events & EPOLLRDHUP);
	assert_int_equal(epoll_wait(ep, out, 4, 0), 0); /* its edge is used up */
	/* a simulated socket and a kernel descriptor ready at once: both reported */
	ev = (struct epoll_event){.events = EPOLLOUT, .data.u64 = 8};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev), 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	ev.data.u64 = 9;
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev), 0);
	assert_int_equal(epoll_wait(ep, out, 4, -1), 2);
	assert_int_equal(out[0].data.u64 + out[1].data.u64, 17);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), 0);
	assert_int_equal(epoll_wait(ep, out, 4, 0), 1);
	assert_int_equal(out[0].data.u64, 9);
	/* detaching takes the kernel epoll with the placeholder */
	sd_inproc_attach(NULL);
	assert_int_equal(kernel_fds(), before);
	sd_inproc_attach(sim);
	close(u[0]), close(u[1]), close(p[0]), close(p[1]), close(f);
	detach();
}

/* Timeouts of poll, ppoll, select and pselect run on the virtual clock. */
static void waits_time_out_in_virtual_time(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	attach(NULL);
	int port, fd = listener(&port); /* nothing to accept: never ready */
	struct pollfd set[2] = {{.fd = fd, .events = POLLIN}, {.fd = p[0], .events = POLLIN}};
	int64_t t0 = sd_now_ns(sim);
	assert_int_equal(poll(set, 2, 30), 0);
	assert_true(sd_now_ns(sim) - t0 >= 30 * MS);
	struct timespec ts = {.tv_nsec = 20 * MS};
	t0 = sd_now_ns(sim);
	assert_int_equal(ppoll(set, 2, &ts, NULL), 0);
	assert_true(sd_now_ns(sim) - t0 >= 20 * MS);
	t0 = sd_now_ns(sim); /* fortified: __ppoll_chk */
	assert_int_equal(ppoll(set, sd_test_nfds2, &ts, NULL), 0);
	assert_true(sd_now_ns(sim) - t0 >= 20 * MS);
	fd_set r;
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	fd_set ex;
	FD_ZERO(&ex);
	FD_SET(fd, &ex);
	struct timeval tv = {.tv_usec = 15000};
	t0 = sd_now_ns(sim);
	assert_int_equal(select(fd > p[0] ? fd + 1 : p[0] + 1, &r, NULL, &ex, &tv), 0);
	assert_true(sd_now_ns(sim) - t0 >= 15 * MS);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
	assert_false(FD_ISSET(p[0], &r));
	FD_ZERO(&ex);
	FD_SET(fd, &ex);
	t0 = sd_now_ns(sim);
	assert_int_equal(pselect(fd + 1, NULL, NULL, &ex, &ts, NULL), 0);
	assert_true(sd_now_ns(sim) - t0 >= 20 * MS);
	/* a ready pipe ends the wait at once, and select says which */
	assert_int_equal(write(p[1], "x", 1), 1);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	FD_SET(fd, &r);
	t0 = sd_now_ns(sim);
	assert_int_equal(select(fd > p[0] ? fd + 1 : p[0] + 1, &r, NULL, NULL, NULL), 1);
	assert_true(FD_ISSET(p[0], &r));
	assert_false(FD_ISSET(fd, &r));
	assert_int_equal(sd_now_ns(sim), t0);
	close(fd), close(p[0]), close(p[1]);
	detach();
}

/* ---- O_NONBLOCK, FD_CLOEXEC, ioctl ------------------------------------------------------ */

struct pair {
	int port, srv, cli;
};

static void pair_accept(void *arg)
{
	struct pair *p = arg;
	int l = listener(&p->port);
	p->srv = accept(l, NULL, NULL);
	EXPECT(p->srv >= 0);
	close(l);
}

static void pair_dial(void *arg)
{
	struct pair *p = arg;
	while (!p->port)
		sd_sleep_ns(sim, MS);
	p->cli = dial(p->port);
}

/* A connected pair of simulated sockets, made by two actors. */
static struct pair connected(void)
{
	struct pair p = {0};
	run2(pair_accept, &p, pair_dial, &p);
	expect_none();
	return p;
}

static void nonblocking_and_flags(void **state)
{
	(void)state;
	char buf[8];
	attach(NULL);
	struct pair p = connected();
	int fl = fcntl(p.srv, F_GETFL);
	assert_int_equal(fl & O_NONBLOCK, 0);
	assert_int_equal(fl & O_ACCMODE, O_RDWR);
	assert_int_equal(fcntl64(p.srv, F_SETFL, fl | O_NONBLOCK), 0);
	assert_int_equal(fcntl64(p.srv, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	assert_int_equal(fcntl(p.srv, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	assert_int_equal(read(p.srv, buf, sd_test_len8), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(recv(p.srv, buf, sizeof buf, 0), -1);
	assert_int_equal(errno, EAGAIN);
	/* FIONBIO turns it off again: a blocking read then waits for the bytes */
	int off = 0;
	assert_int_equal(ioctl(p.srv, FIONBIO, &off), 0);
	assert_int_equal(fcntl(p.srv, F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(write(p.cli, "abc", 3), 3);
	assert_int_equal(read(p.srv, buf, sizeof buf), 3);
	/* close-on-exec is the descriptor's own */
	assert_int_equal(fcntl(p.srv, F_GETFD), 0);
	assert_int_equal(fcntl(p.srv, F_SETFD, FD_CLOEXEC), 0);
	assert_int_equal(fcntl(p.srv, F_GETFD), FD_CLOEXEC);
	assert_int_equal(ioctl(p.srv, FIONCLEX), 0);
	assert_int_equal(fcntl(p.srv, F_GETFD), 0);
	/* a non-blocking listener: accept4 gives EAGAIN, then a non-blocking child */
	int port, l = listener(&port);
	assert_int_equal(fcntl(l, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(accept4(l, NULL, NULL, 0), -1);
	assert_int_equal(errno, EAGAIN);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(fcntl(c, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	int rc = connect(c, (struct sockaddr *)&a, sizeof a);
	assert_true(rc == 0 || errno == EINPROGRESS);
	struct pollfd pl = {.fd = l, .events = POLLIN};
	assert_int_equal(poll(&pl, 1, 1000), 1);
	int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(s >= 0);
	assert_int_equal(fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	assert_int_equal(fcntl(s, F_GETFD), FD_CLOEXEC);
	assert_int_equal(recv(s, buf, sizeof buf, 0), -1);
	assert_int_equal(errno, EAGAIN);
	close(s), close(c), close(l), close(p.srv), close(p.cli);
	assert_int_equal(open_fds(), 0);
	detach();
}

/* FIONREAD/SIOCINQ counts what a read would take now; SIOCOUTQ what the peer has not taken
 * in; a listener has neither. */
static void ioctl_queue_sizes(void **state)
{
	(void)state;
	char big[20000];
	int n = -1;
	memset(big, 'x', sizeof big);
	attach_wrapped(NULL); /* the queue sizes are the sim's, found under the wrapper */
	struct pair p = connected();
	assert_int_equal(ioctl(p.srv, FIONREAD, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(send(p.cli, big, 100, 0), 100);
	assert_int_equal(ioctl(p.srv, FIONREAD, &n), 0);
	assert_int_equal(n, 100);
	assert_int_equal(ioctl(p.srv, SIOCINQ, &n), 0);
	assert_int_equal(n, 100);
	assert_int_equal(ioctl(p.cli, SIOCOUTQ, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(recv(p.srv, big, 30, 0), 30);
	assert_int_equal(ioctl(p.srv, FIONREAD, &n), 0);
	assert_int_equal(n, 70);
	/* a receive buffer of 2304 bytes: the rest of a big send waits on the sender's side */
	int small = 1;
	assert_int_equal(setsockopt(p.srv, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	assert_int_equal(fcntl(p.cli, F_SETFL, O_NONBLOCK), 0);
	ssize_t k = send(p.cli, big, sizeof big, 0);
	assert_true(k > 2304);
	assert_int_equal(ioctl(p.cli, SIOCOUTQ, &n), 0);
	assert_int_equal(n, 70 + (int)k - 2304);
	int port, l = listener(&port);
	assert_int_equal(ioctl(l, FIONREAD, &n), -1);
	assert_int_equal(errno, EINVAL);
	close(l), close(p.srv), close(p.cli);
	detach();
}

/* ---- vectored I/O, names ---------------------------------------------------------------- */

static void vectored_io_and_names(void **state)
{
	(void)state;
	attach(NULL);
	struct pair p = connected();
	struct iovec out[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
	assert_int_equal(writev(p.cli, out, 3), 6);
	char a[1], b[2], c[8];
	struct iovec in[3] = {{a, 1}, {b, 2}, {c, 8}};
	assert_int_equal(readv(p.srv, in, 3), 6);
	assert_memory_equal(a, "a", 1);
	assert_memory_equal(b, "bc", 2);
	assert_memory_equal(c, "def", 3);
	struct msghdr m = {.msg_iov = out, .msg_iovlen = 2};
	assert_int_equal(sendmsg(p.srv, &m, 0), 5);
	struct msghdr r = {.msg_iov = in, .msg_iovlen = 3};
	assert_int_equal(recvmsg(p.cli, &r, 0), 5);
	assert_memory_equal(a, "a", 1);
	assert_memory_equal(c, "de", 2);
	/* several messages in one call each way */
	struct iovec one = {"xy", 2}, two = {"z", 1};
	struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = &one, .msg_iovlen = 1}},
				{.msg_hdr = {.msg_iov = &two, .msg_iovlen = 1}}};
	assert_int_equal(sendmmsg(p.cli, mm, 2, 0), 2);
	assert_int_equal(mm[0].msg_len, 2);
	assert_int_equal(mm[1].msg_len, 1);
	struct iovec got = {c, sizeof c};
	struct mmsghdr rm[2] = {{.msg_hdr = {.msg_iov = &got, .msg_iovlen = 1}},
				{.msg_hdr = {.msg_iov = &got, .msg_iovlen = 1}}};
	assert_int_equal(recvmmsg(p.srv, rm, 2, MSG_WAITFORONE, NULL), 1);
	assert_int_equal(rm[0].msg_len, 3);
	/* recvfrom on TCP gives no address; sendto's is ignored */
	struct sockaddr_in from, self, peer;
	socklen_t fl = sizeof from, sl = sizeof self, pl = sizeof peer;
	assert_int_equal(sendto(p.cli, "q", 1, 0, NULL, 0), 1);
	assert_int_equal(recvfrom(p.srv, c, sd_test_len8, 0, (struct sockaddr *)&from, &fl), 1);
	assert_int_equal(fl, 0);
	/* each end's name is the other's peer */
	assert_int_equal(getsockname(p.cli, (struct sockaddr *)&self, &sl), 0);
	assert_int_equal(getpeername(p.srv, (struct sockaddr *)&peer, &pl), 0);
	assert_int_equal(sl, sizeof self);
	assert_int_equal(self.sin_port, peer.sin_port);
	assert_int_equal(self.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	close(p.srv), close(p.cli);
	detach();
}

/* ---- dup and closing ranges ------------------------------------------------------------- */

/* The socket lives while any copy of its descriptor does; dup2 over a copy closes only that
 * copy, and over the last descriptor of another socket, that socket. */
static void dup_keeps_socket_alive(void **state)
{
	(void)state;
	char buf[8];
	attach(NULL);
	struct pair p = connected();
	int d1 = dup(p.srv), d2 = fcntl(p.srv, F_DUPFD_CLOEXEC, 50),
	    d3 = dup3(p.srv, 60, O_CLOEXEC);
	assert_true(d1 >= 0);
	assert_int_equal(d2, 50);
	assert_int_equal(d3, 60);
	assert_int_equal(fcntl(d2, F_GETFD), FD_CLOEXEC);
	assert_int_equal(close(p.srv), 0);
	assert_int_equal(close(d1), 0);
	assert_int_equal(close(d3), 0);
	assert_int_equal(write(p.cli, "hi", 2), 2);
	assert_int_equal(read(d2, buf, sizeof buf), 2);
	assert_int_equal(open_fds(), 2);
	/* a file duplicated over the last descriptor of the server socket closes it */
	int devnull = open("/dev/null", O_WRONLY);
	assert_true(devnull >= 0);
	assert_int_equal(dup2(devnull, d2), d2);
	assert_int_equal(open_fds(), 1);
	assert_int_equal(read(p.cli, buf, sizeof buf), 0); /* the peer's FIN */
	assert_int_equal(write(d2, "x", 1), 1);            /* d2 is /dev/null now */
	/* and a socket duplicated over a file makes the number the socket's */
	assert_int_equal(dup2(p.cli, devnull), devnull);
	int err = -1;
	socklen_t len = sizeof err;
	assert_int_equal(getsockopt(devnull, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	assert_int_equal(err, 0);
	close(d2), close(devnull), close(p.cli);
	assert_int_equal(open_fds(), 0);
	detach();
}

static void closefrom_and_close_range(void **state)
{
	(void)state;
	attach(NULL);
	int base = lowest_free();
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0),
	    c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(a, base);
	assert_int_equal(c, base + 2);
	assert_int_equal(close_range((unsigned)a, (unsigned)c, CLOSE_RANGE_CLOEXEC), 0);
	assert_int_equal(open_fds(), 3);
	assert_int_equal(fcntl(b, F_GETFD), FD_CLOEXEC);
	assert_int_equal(close_range((unsigned)b, (unsigned)b, 0), 0);
	assert_int_equal(open_fds(), 2);
	assert_int_equal(fcntl(b, F_GETFD), -1);
	/* closefrom closes whatever lies above too: in a child, which reports by its status */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		closefrom(a);
		_exit(open_fds() == 0 && fcntl(a, F_GETFD) == -1 && fcntl(c, F_GETFD) == -1 ? 0
											    : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(close_range((unsigned)a, (unsigned)c, 0), 0);
	assert_int_equal(open_fds(), 0);
	/* the numbers are free for the next sockets */
	assert_int_equal(socket(AF_INET, SOCK_STREAM, 0), base);
	detach();
}

/* ---- sendfile --------------------------------------------------------------------------- */

struct file_srv {
	int port, file;
	size_t size;
};

static void file_server(void *arg)
{
	struct file_srv *f = arg;
	int l = listener(&f->port), c = accept(l, NULL, NULL);
	off_t off = 1000;
	/* the first 1000 bytes from the file's offset, the rest from an offset of the caller's */
	EXPECT(sendfile(c, f->file, NULL, 1000) == 1000);
	EXPECT(lseek(f->file, 0, SEEK_CUR) == 1000);
	EXPECT(sendfile64(c, f->file, &off, f->size) == (ssize_t)f->size - 1000);
	EXPECT(off == (off_t)f->size);
	EXPECT(lseek(f->file, 0, SEEK_CUR) == 1000);
	close(c), close(l);
}

static void file_client(void *arg)
{
	struct file_srv *f = arg;
	while (!f->port)
		sd_sleep_ns(sim, MS);
	int fd = dial(f->port);
	char *got = malloc(f->size + 1);
	EXPECT(read_all(fd, got, f->size + 1) == f->size);
	for (size_t i = 0; i < f->size; i++)
		if (got[i] != (char)(i * 7)) {
			EXPECT(got[i] == (char)(i * 7));
			break;
		}
	free(got);
	close(fd);
}

static void sendfile_from_a_file(void **state)
{
	(void)state;
	char path[] = "/tmp/sd-test-inproc-XXXXXX";
	struct file_srv f = {.size = 300000};
	f.file = mkstemp(path);
	assert_true(f.file >= 0);
	unlink(path);
	char *data = malloc(f.size);
	for (size_t i = 0; i < f.size; i++)
		data[i] = (char)(i * 7);
	assert_int_equal(write(f.file, data, f.size), (ssize_t)f.size);
	free(data);
	assert_int_equal(lseek(f.file, 0, SEEK_SET), 0);
	attach("segment=5000");
	run2(file_server, &f, file_client, &f);
	close(f.file);
	detach();
}

/* The whole file, one sendfile call after another, to a socket that takes one byte a call. */
static void file_server_bytewise(void *arg)
{
	struct file_srv *f = arg;
	int l = listener(&f->port), c = accept(l, NULL, NULL);
	off_t off = 0;
	while (off < (off_t)f->size) {
		ssize_t k = sendfile(c, f->file, &off, f->size - (size_t)off);
		if (k != 1) {
			EXPECT(k == 1);
			break;
		}
	}
	close(c), close(l);
}

/* Each sendfile call reads the file in pieces the socket may not take; the first is small, so
 * a socket taking a byte a call (short writes) costs a small read per call, not 64 KiB (on
 * lighttpd's big replies that was most of the run). The fault log shows what each send was
 * offered. */
static void sendfile_short_writes_offer_small_pieces(void **state)
{
	(void)state;
	char path[] = "/tmp/sd-test-inproc-XXXXXX";
	struct file_srv f = {.size = 20000};
	f.file = mkstemp(path);
	assert_true(f.file >= 0);
	unlink(path);
	char *data = malloc(f.size);
	for (size_t i = 0; i < f.size; i++)
		data[i] = (char)(i * 7);
	assert_int_equal(write(f.file, data, f.size), (ssize_t)f.size);
	free(data);
	char *log = NULL;
	size_t loglen = 0;
	FILE *lf = open_memstream(&log, &loglen);
	assert_non_null(lf);
	struct sd_fault_spec one_byte = {.short_write = 1};
	attach(NULL);
	assert_int_equal(sd_fault_wrap(&faulty, sim, &one_byte, 1, lf), 0);
	sd_inproc_attach(&faulty);
	run2(file_server_bytewise, &f, file_client, &f);
	close(f.file);
	detach();
	assert_int_equal(fclose(lf), 0);
	size_t writes = 0, most = 0;
	char *save = NULL;
	for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *a = strstr(line, "\"asked\":");
		if (!strstr(line, "\"op\":\"send\"") || !a)
			continue;
		size_t asked = strtoul(a + 8, NULL, 10);
		most = asked > most ? asked : most;
		writes++;
	}
	free(log);
	/* every call cut to a byte but the last, which asked for one */
	assert_int_equal(writes, f.size - 1);
	assert_true(most <= 4096);
}

/* ---- names without DNS ------------------------------------------------------------------ */

static void resolves_localhost_and_numbers(void **state)
{
	(void)state;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	attach(NULL);
	assert_int_equal(getaddrinfo("localhost", "8080", &hints, &res), 0);
	assert_int_equal(res->ai_family, AF_INET);
	assert_int_equal(((struct sockaddr_in *)res->ai_addr)->sin_port, htons(8080));
	assert_int_equal(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr,
			 htonl(INADDR_LOOPBACK));
	assert_non_null(res->ai_next);
	assert_int_equal(res->ai_next->ai_family, AF_INET6);
	assert_null(res->ai_next->ai_next);
	/* a server binds what it was given */
	int l = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	assert_int_equal(bind(l, res->ai_addr, res->ai_addrlen), 0);
	freeaddrinfo(res);
	hints.ai_flags = AI_PASSIVE;
	assert_int_equal(getaddrinfo(NULL, "80", &hints, &res), 0);
	assert_int_equal(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr, htonl(INADDR_ANY));
	freeaddrinfo(res);
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_family = AF_INET6;
	assert_int_equal(getaddrinfo("::1", NULL, &hints, &res), 0);
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr));
	freeaddrinfo(res);
	assert_int_equal(getaddrinfo("127.0.0.1", NULL, &hints, &res), EAI_ADDRFAMILY);
	assert_int_equal(getaddrinfo("localhost", NULL, &hints, &res), EAI_NONAME);
	hints.ai_flags = 0;
	assert_int_equal(getaddrinfo("example.com", "80", NULL, &res), EAI_NONAME);
	assert_int_equal(getaddrinfo("127.0.0.1", "http", NULL, &res), EAI_SERVICE);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(8080),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char host[64], serv[8];
	assert_int_equal(getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, serv,
				     sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(serv, "8080");
	assert_int_equal(
		getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL, 0, 0), 0);
	assert_string_equal(host, "localhost");
	a.sin_addr.s_addr = htonl(0x0a000001);
	assert_int_equal(getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL, 0,
				     NI_NAMEREQD),
			 EAI_NONAME);
	assert_int_equal(getnameinfo((struct sockaddr *)&a, sizeof a, host, 4, NULL, 0, 0),
			 EAI_OVERFLOW);
	close(l);
	/* a result of the C library's, freed while attached, goes back to it */
	sd_inproc_attach(NULL);
	hints = (struct addrinfo){.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	assert_int_equal(getaddrinfo("127.0.0.1", "1", &hints, &res), 0);
	sd_inproc_attach(sim);
	freeaddrinfo(res);
	detach();
}

/* ---- an epoll server ----------------------------------------------------------------------- */

/* select_server as an epoll loop: the layer's epoll_create1/epoll_ctl/epoll_wait on the
 * sim's own epoll, the data field carried through. */
static void epoll_server(void *arg)
{
	struct line {
		char buf[64];
		size_t n;
	} lines[16] = {0};
	struct echo *e = arg;
	int l = listener(&e->port), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, out[4];
	EXPECT(ep >= 0 && ep < FD_SETSIZE);
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == -1 && errno == EEXIST);
	EXPECT(epoll_wait(ep, out, 0, 0) == -1 && errno == EINVAL);
	while (e->served < e->clients) {
		/* epoll_pwait as well, with no mask: the same wait */
		int n = e->served % 2 ? epoll_pwait(ep, out, 4, 5000, NULL) : epoll_wait(ep, out, 4, 5000);
		EXPECT(n > 0);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			int fd = out[i].data.fd;
			ssize_t got;
			if (fd == l) {
				struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP};
				cev.data.fd = accept(l, NULL, NULL);
				EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, cev.data.fd, &cev) == 0);
				continue;
			}
			/* a line may come in pieces: each read keeps what has come */
			struct line *ln = &lines[fd % 16];
			got = read(fd, ln->buf + ln->n, sizeof ln->buf - ln->n);
			EXPECT(got > 0);
			ln->n += got > 0 ? (size_t)got : 0;
			if (got > 0 && !memchr(ln->buf, '\n', ln->n))
				continue;
			EXPECT(ln->n == 5 && write(fd, ln->buf, ln->n) == 5);
			ln->n = 0;
			close(fd); /* drops its entry */
			e->served++;
		}
	}
	EXPECT(close(ep) == 0);
	close(l);
}

static void epoll_server_echoes(void **state)
{
	(void)state;
	struct echo e = {.clients = 3};
	attach_wrapped("segment=3");
	run2(epoll_server, &e, echo_clients, &e);
	assert_int_equal(e.served, 3);
	assert_int_equal(open_fds(), 0);
	detach();
}

/* ---- short reads and edge-triggered epoll ---------------------------------------------- */

/* Reads as nginx does on an edge-triggered socket: until a read returns less than it asked,
 * which epoll(7) says means the socket is drained, then waits for the next edge. Under
 * short-read=1 every read returns one byte with more queued: the rest must come as edges. */
static void et_line_server(void *arg)
{
	struct echo *e = arg;
	int l = listener(&e->port), ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	EXPECT(epoll_wait(ep, &out, 1, 5000) == 1);
	int c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLET};
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0);
	char line[16];
	size_t n = 0;
	while (n < sizeof line && !memchr(line, '\n', n)) {
		int rc = epoll_wait(ep, &out, 1, 5000);
		EXPECT(rc == 1); /* an edge for the bytes a short read left */
		if (rc != 1)
			break;
		for (ssize_t k; n < sizeof line;) {
			size_t room = sizeof line - n;
			if ((k = recv(c, line + n, room, 0)) <= 0)
				break;
			n += (size_t)k;
			if ((size_t)k < room)
				break;
		}
	}
	/* the line read, the socket drained: no edge until the client sends again */
	EXPECT(epoll_wait(ep, &out, 1, 0) == 0);
	EXPECT(n == 5 && send(c, line, n, 0) == 5);
	e->served++;
	close(c), close(ep), close(l);
}

static void line_client(void *arg)
{
	struct echo *e = arg;
	while (!e->port)
		sd_sleep_ns(sim, MS);
	char got[8];
	int fd = dial(e->port);
	EXPECT(send(fd, "line\n", 5, 0) == 5);
	EXPECT(read_all(fd, got, 5) == 5 && !memcmp(got, "line\n", 5));
	close(fd);
}

static void short_reads_keep_edges_coming(void **state)
{
	(void)state;
	struct echo e = {.clients = 1};
	struct sd_fault_spec spec = {.short_read = 1};
	attach(NULL);
	assert_int_equal(sd_fault_wrap(&faulty, sim, &spec, 1, NULL), 0);
	sd_inproc_attach(&faulty);
	run2(et_line_server, &e, line_client, &e);
	assert_int_equal(e.served, 1);
	detach();
	/* the sim's call on a descriptor not open, and on a net that is no sim */
	struct sd_net none = {0};
	attach(NULL);
	assert_int_equal(sd_sim_wake_readers(sim, 999), -EBADF);
	assert_int_equal(sd_sim_wake_readers(&none, 0), -EOPNOTSUPP);
	detach();
}

/* ---- calls the layer does not model ------------------------------------------------------ */

/* One line naming the call, then abort: never a fall through to the C library with a
 * placeholder. */
static void fcntl_setown(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	fcntl(fd, F_SETOWN, getpid());
}

/* A simulated socket in a kernel epoll set, made before the run (docs/architecture.md). */
static void socket_in_kernel_epoll(void)
{
	sd_inproc_attach(NULL);
	int ep = epoll_create1(0);
	sd_inproc_attach(sim);
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(ep, EPOLL_CTL_ADD, socket(AF_INET, SOCK_STREAM, 0), &ev);
}

/* Runs fn in a child with a sim attached; its stderr, which must say `expect`, and its exit
 * status, which must be 2: a harness error, not a crash (an abort was one for the engines). */
static void harness_error_of(void (*fn)(void), const char *expect)
{
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 2);
		attach(NULL);
		fn();
		_exit(0);
	}
	close(out[1]);
	char text[512] = "";
	size_t n = 0;
	for (ssize_t k;
	     n < sizeof text - 1 && (k = read(out[0], text + n, sizeof text - 1 - n)) > 0;)
		n += (size_t)k;
	text[n] = '\0';
	close(out[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_string_equal(text, expect);
}

static void unsupported_call_is_a_harness_error(void **state)
{
	(void)state;
	harness_error_of(fcntl_setown, "sockdrill: fcntl(command 8) on a simulated socket is not "
				       "supported (harness error)\n");
	harness_error_of(socket_in_kernel_epoll,
			 "sockdrill: epoll_ctl (a simulated socket in a kernel epoll set) on a "
			 "simulated socket is not supported (harness error)\n");
}

const struct CMUnitTest sd_unit_tests[] = {
	T(real_backend_reaches_kernel_while_attached),
	T(descriptors_are_small_and_real),
	T(detach_closes_placeholders),
	T(select_server_echoes),
	T(epoll_server_echoes),
	T(poll_waits_on_pipe_and_sockets),
	T(poll_on_silent_pipe_deadlocks),
	T(epoll_waits_on_pipe_and_sockets),
	T(epoll_mixed_set),
	T(short_reads_keep_edges_coming),
	T(waits_time_out_in_virtual_time),
	T(nonblocking_and_flags),
	T(ioctl_queue_sizes),
	T(vectored_io_and_names),
	T(dup_keeps_socket_alive),
	T(closefrom_and_close_range),
	T(sendfile_from_a_file),
	T(sendfile_short_writes_offer_small_pieces),
	T(resolves_localhost_and_numbers),
	T(unsupported_call_is_a_harness_error),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
