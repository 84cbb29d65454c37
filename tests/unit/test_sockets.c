/* Socket behaviour every backend must show, one test body per behaviour. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "sd_test.h"

const char sd_unit_module[] = "sockets";

struct ep {
	struct sockaddr_storage ss;
	socklen_t len;
};

static struct ep loopback(int family, uint16_t port)
{
	struct ep e;
	assert_int_equal(
		sd_addr_parse(family == AF_INET6 ? "::1" : "127.0.0.1", port, &e.ss, &e.len), 0);
	return e;
}

#define SA(e) ((struct sockaddr *)&(e)->ss)

/* A listening socket on an ephemeral loopback port; *where receives its address. */
static int listener(struct sd_net *net, int family, int type_flags, struct ep *where)
{
	struct ep e = loopback(family, 0);
	int fd = sd_socket(net, family, SOCK_STREAM | type_flags, 0);
	assert_true(fd >= 0);
	assert_int_equal(sd_bind(net, fd, SA(&e), e.len), 0);
	assert_int_equal(sd_listen(net, fd, 16), 0);
	where->len = sizeof where->ss;
	assert_int_equal(sd_getsockname(net, fd, SA(where), &where->len), 0);
	assert_true(sd_addr_port(SA(where), where->len) > 0);
	return fd;
}

/* A connected pair over loopback: *c the client end, *s the accepted end. */
static void pair(struct sd_net *net, int family, int *lfd, int *c, int *s)
{
	struct ep where;
	*lfd = listener(net, family, 0, &where);
	*c = sd_socket(net, family, SOCK_STREAM, 0);
	assert_true(*c >= 0);
	assert_int_equal(sd_connect(net, *c, SA(&where), where.len), 0);
	*s = sd_accept(net, *lfd, NULL, NULL, 0);
	assert_true(*s >= 0);
}

static void send_all(struct sd_net *net, int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = sd_send(net, fd, p, n, 0);
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

/* Waits (bounded) until fd reports `ev`; fails the test if it never does. */
static void wait_for(struct sd_net *net, int fd, short ev)
{
	struct pollfd p = {.fd = fd, .events = ev};
	assert_int_equal(sd_poll(net, &p, 1, 5000), 1);
	assert_true(p.revents & ev);
}

static void bind_conflict(void **state)
{
	struct sd_net *net = *state;
	struct ep held;
	int a = listener(net, AF_INET, 0, &held);
	int b = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_true(b >= 0);
	assert_int_equal(sd_bind(net, b, SA(&held), held.len), -EADDRINUSE);
	/* Also without a listener: a merely bound socket holds the port too. */
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	struct ep any = loopback(AF_INET, 0), got;
	assert_int_equal(sd_bind(net, c, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, c, SA(&got), &got.len), 0);
	int d = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, d, SA(&got), got.len), -EADDRINUSE);
	sd_close(net, a), sd_close(net, b), sd_close(net, c), sd_close(net, d);
}

static void bind_port_zero(void **state)
{
	struct sd_net *net = *state;
	struct ep any = loopback(AF_INET, 0), got;
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, fd, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, fd, SA(&got), &got.len), 0);
	assert_int_equal(got.len, sizeof(struct sockaddr_in));
	int port = sd_addr_port(SA(&got), got.len);
	assert_in_range(port, 1024, 65535);
	/* Binding twice is EINVAL, whatever the address. */
	assert_int_equal(sd_bind(net, fd, SA(&any), any.len), -EINVAL);
	sd_close(net, fd);
}

static void listen_accept(void **state)
{
	struct sd_net *net = *state;
	struct ep where, cname, peer;
	int l = listener(net, AF_INET, 0, &where);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	peer.len = sizeof peer.ss;
	int s = sd_accept(net, l, SA(&peer), &peer.len, 0);
	assert_true(s >= 0);
	/* accept names the client exactly as the client names itself. */
	cname.len = sizeof cname.ss;
	assert_int_equal(sd_getsockname(net, c, SA(&cname), &cname.len), 0);
	assert_int_equal(peer.len, cname.len);
	assert_memory_equal(&peer.ss, &cname.ss, cname.len);
	/* accept on a socket that is not listening */
	assert_int_equal(sd_accept(net, c, NULL, NULL, 0), -EINVAL);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

struct acceptor {
	struct sd_net *net;
	int lfd, result;
	atomic_int done;
};

static void accept_actor(void *arg)
{
	struct acceptor *a = arg;
	a->result = sd_accept(a->net, a->lfd, NULL, NULL, 0);
	atomic_store(&a->done, 1);
}

#define MS 1000000LL

/* An actor is a thread on real and a coroutine on sim; sleeping is wall-clock time on real
 * and virtual time on sim, so the same body checks both. */
static void accept_blocks_until_client(void **state)
{
	struct sd_net *net = *state;
	struct ep where;
	struct acceptor a = {.net = net};
	a.lfd = listener(net, AF_INET, 0, &where);
	int id = sd_spawn(net, "acceptor", accept_actor, &a);
	assert_true(id > 0);
	/* With no client, accept must still be waiting after a while. */
	assert_int_equal(sd_sleep_ns(net, 200 * MS), 0);
	assert_int_equal(atomic_load(&a.done), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	/* Bounded wait for accept to return now that a client is there. */
	for (int i = 0; i < 500 && !atomic_load(&a.done); i++)
		sd_sleep_ns(net, 10 * MS);
	assert_int_equal(atomic_load(&a.done), 1);
	assert_int_equal(sd_join(net, id), 0);
	assert_true(a.result >= 0);
	sd_close(net, a.result), sd_close(net, c), sd_close(net, a.lfd);
}

static void connect_refused(void **state)
{
	struct sd_net *net = *state;
	/* A bound but not listening socket keeps the port ours, and refuses connections. */
	struct ep any = loopback(AF_INET, 0), got;
	int holder = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, holder, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, holder, SA(&got), &got.len), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -ECONNREFUSED);
	sd_close(net, c), sd_close(net, holder);
}

static void send_recv_roundtrip(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char buf[64];
	pair(net, AF_INET, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "hello", 5, 0), 5);
	assert_int_equal(sd_recv(net, s, buf, 5, MSG_WAITALL), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(sd_send(net, s, "world!", 6, 0), 6);
	assert_int_equal(sd_recv(net, c, buf, 6, MSG_WAITALL), 6);
	assert_memory_equal(buf, "world!", 6);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void partial_recv_small_buffer(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char buf[16];
	pair(net, AF_INET, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "0123456789", 10, 0), 10);
	wait_for(net, s, POLLIN);
	assert_int_equal(sd_recv(net, s, buf, 4, 0), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, 0), 6);
	assert_memory_equal(buf, "456789", 6);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void shutdown_wr_gives_eof(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char buf[8];
	pair(net, AF_INET, &l, &c, &s);
	send_all(net, c, "bye", 3);
	assert_int_equal(sd_shutdown(net, c, SHUT_WR), 0);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, MSG_WAITALL), 3);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, 0), 0);
	/* Half-closed, not closed: the other direction still works. */
	assert_int_equal(sd_send(net, s, "ok", 2, 0), 2);
	assert_int_equal(sd_recv(net, c, buf, 2, MSG_WAITALL), 2);
	/* Sending on the shut-down side is EPIPE. */
	assert_int_equal(sd_send(net, c, "x", 1, 0), -EPIPE);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* The accepted end closes while the client's bytes sit unread: Linux sends RST. */
static void reset_pair(struct sd_net *net, int *l, int *c)
{
	int s;
	pair(net, AF_INET, l, c, &s);
	send_all(net, *c, "unread", 6);
	wait_for(net, s, POLLIN);
	assert_int_equal(sd_close(net, s), 0);
}

static void close_unread_resets_peer(void **state)
{
	struct sd_net *net = *state;
	int l, c;
	char buf[8];
	reset_pair(net, &l, &c);
	assert_int_equal(sd_recv(net, c, buf, sizeof buf, 0), -ECONNRESET);
	sd_close(net, c), sd_close(net, l);
}

static void send_after_reset_epipe(void **state)
{
	struct sd_net *net = *state;
	int l, c;
	char buf[8];
	reset_pair(net, &l, &c);
	assert_int_equal(sd_recv(net, c, buf, sizeof buf, 0), -ECONNRESET);
	/* Default SIGPIPE disposition is kept in tests: reaching the next line proves no
	 * signal was raised. */
	assert_int_equal(sd_send(net, c, "x", 1, 0), -EPIPE);
	assert_int_equal(sd_send(net, c, "x", 1, 0), -EPIPE);
	sd_close(net, c), sd_close(net, l);
}

static void nonblocking_accept_eagain(void **state)
{
	struct sd_net *net = *state;
	struct ep where;
	int l = listener(net, AF_INET, SOCK_NONBLOCK, &where);
	assert_int_equal(sd_accept(net, l, NULL, NULL, 0), -EAGAIN);
	/* Switching blocking mode off after the fact works the same. */
	int l2 = listener(net, AF_INET, 0, &where);
	assert_int_equal(sd_set_nonblocking(net, l2, 1), 0);
	assert_int_equal(sd_accept(net, l2, NULL, NULL, 0), -EAGAIN);
	/* And readiness follows: a client arrives, accept succeeds. */
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	wait_for(net, l2, POLLIN);
	int s = sd_accept(net, l2, NULL, NULL, 0);
	assert_true(s >= 0);
	sd_close(net, s), sd_close(net, c), sd_close(net, l2), sd_close(net, l);
}

static void ipv6_roundtrip(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char buf[16];
	struct ep peer;
	pair(net, AF_INET6, &l, &c, &s);
	peer.len = sizeof peer.ss;
	assert_int_equal(sd_getpeername(net, s, SA(&peer), &peer.len), 0);
	assert_int_equal(peer.ss.ss_family, AF_INET6);
	assert_true(sd_addr_is_loopback(SA(&peer), peer.len));
	send_all(net, c, "v6 works", 8);
	assert_int_equal(sd_recv(net, s, buf, 8, MSG_WAITALL), 8);
	assert_memory_equal(buf, "v6 works", 8);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void refuses_nonloopback(void **state)
{
	struct sd_net *net = *state;
	struct ep far;
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	/* 192.0.2.0/24 is TEST-NET-1: never routed, and nothing is ever sent to it here. */
	assert_int_equal(sd_addr_parse("192.0.2.1", 80, &far.ss, &far.len), 0);
	assert_int_equal(sd_connect(net, fd, SA(&far), far.len), -EPERM);
	assert_int_equal(sd_bind(net, fd, SA(&far), far.len), -EPERM);
	assert_int_equal(sd_addr_parse("2001:db8::1", 80, &far.ss, &far.len), 0);
	int fd6 = sd_socket(net, AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, fd6, SA(&far), far.len), -EPERM);
	sd_close(net, fd), sd_close(net, fd6);

	/* The explicit permission lets the call reach the kernel, which has no such local
	 * address to bind (bind sends nothing). */
	struct sd_net open;
	struct sd_config cfg = {.flags = SD_CFG_ALLOW_NONLOOPBACK};
	assert_int_equal(sd_net_open(&open, sd_test_backend, &cfg), 0);
	fd = sd_socket(&open, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_addr_parse("192.0.2.1", 0, &far.ss, &far.len), 0);
	assert_int_equal(sd_bind(&open, fd, SA(&far), far.len), -EADDRNOTAVAIL);
	sd_net_close(&open);
}

static void foreign_fds_untouched(void **state)
{
	struct sd_net *net = *state;
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	/* A descriptor this instance did not create is not a socket of this backend. */
	assert_int_equal(sd_close(net, pipefd[0]), -EBADF);
	assert_int_equal(sd_send(net, pipefd[1], "x", 1, 0), -EBADF);
	struct pollfd p = {.fd = pipefd[1], .events = POLLOUT};
	assert_int_equal(sd_poll(net, &p, 1, 0), 1);
	assert_int_equal(p.revents, POLLNVAL);
	assert_int_equal(p.fd, pipefd[1]);
	/* ...and it is still open for its real owner. */
	assert_int_equal(write(pipefd[1], "y", 1), 1);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void unsupported_socket_types(void **state)
{
	struct sd_net *net = *state;
	assert_int_equal(sd_socket(net, AF_UNIX, SOCK_STREAM, 0), -EAFNOSUPPORT);
	assert_int_equal(sd_socket(net, AF_INET, SOCK_DGRAM, 0), -ESOCKTNOSUPPORT);
	assert_int_equal(sd_close(net, 12345), -EBADF);
}

/* dup: the copy shares the connection; it ends (the peer reads EOF) with the last descriptor;
 * a NULL buffer with a length is EFAULT once there is something to copy, the bytes kept. */
static void dup_shares_until_last_close(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char b[8];
	pair(net, AF_INET, &l, &c, &s);
	int d = sd_dup(net, s);
	assert_true(d >= 0 && d != s);
	assert_int_equal(sd_dup(net, -1), -EBADF);
	assert_int_equal(sd_socket(net, AF_INET, SOCK_STREAM | 0x100, 0), -EINVAL);
	assert_int_equal(sd_send(net, c, NULL, 4, 0), -EFAULT);
	send_all(net, c, "ab", 2);
	struct pollfd p = {.fd = d, .events = POLLIN};
	assert_int_equal(sd_poll(net, &p, 1, 1000), 1);
	assert_int_equal(sd_recv(net, d, NULL, 2, 0), -EFAULT);
	assert_int_equal(sd_close(net, s), 0);
	assert_int_equal(sd_recv(net, d, b, sizeof b, 0), 2);
	p.fd = c;
	assert_int_equal(sd_poll(net, &p, 1, 0), 0); /* no FIN: d still holds it */
	assert_int_equal(sd_close(net, d), 0);
	assert_int_equal(sd_recv(net, c, b, sizeof b, 0), 0);
	sd_close(net, c);
	sd_close(net, l);
}

static void poll_readiness(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char b;
	pair(net, AF_INET, &l, &c, &s);
	struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = c, .events = POLLOUT}};
	assert_int_equal(sd_poll(net, p, 2, 0), 1);
	assert_int_equal(p[0].revents, 0);
	assert_int_equal(p[1].revents, POLLOUT);
	assert_int_equal(sd_send(net, c, "z", 1, 0), 1);
	wait_for(net, s, POLLIN);
	assert_int_equal(sd_recv(net, s, &b, 1, MSG_PEEK), 1);
	assert_int_equal(sd_recv(net, s, &b, 1, MSG_DONTWAIT), 1);
	assert_int_equal(b, 'z');
	assert_int_equal(sd_recv(net, s, &b, 1, MSG_DONTWAIT), -EAGAIN);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static int so_error(struct sd_net *net, int fd)
{
	int err = -1;
	socklen_t len = sizeof err;
	assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	return err;
}

static void set_int(struct sd_net *net, int fd, int level, int name, int v)
{
	assert_int_equal(sd_setsockopt(net, fd, level, name, &v, sizeof v), 0);
}

/* A server that closes first leaves TIME_WAIT on its port: a restart binds again only with
 * SO_REUSEADDR (which the old listener had too, as servers do). */
static void time_wait_needs_reuseaddr(void **state)
{
	struct sd_net *net = *state;
	struct ep any = loopback(AF_INET, 0), where;
	char b;
	int l = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	set_int(net, l, SOL_SOCKET, SO_REUSEADDR, 1);
	assert_int_equal(sd_bind(net, l, SA(&any), any.len), 0);
	assert_int_equal(sd_listen(net, l, 4), 0);
	where.len = sizeof where.ss;
	assert_int_equal(sd_getsockname(net, l, SA(&where), &where.len), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	int s = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s >= 0);
	assert_int_equal(sd_close(net, s), 0);          /* server: FIN first */
	assert_int_equal(sd_recv(net, c, &b, 1, 0), 0); /* client sees the end */
	assert_int_equal(sd_close(net, c), 0);          /* server side -> TIME_WAIT */
	assert_int_equal(sd_close(net, l), 0);
	int again = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, again, SA(&where), where.len), -EADDRINUSE);
	set_int(net, again, SOL_SOCKET, SO_REUSEADDR, 1);
	assert_int_equal(sd_bind(net, again, SA(&where), where.len), 0);
	assert_int_equal(sd_listen(net, again, 4), 0);
	sd_close(net, again);
}

static void reuseport_shares_a_port(void **state)
{
	struct sd_net *net = *state;
	struct ep any = loopback(AF_INET, 0), where;
	int l1 = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int l2 = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int l3 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	set_int(net, l1, SOL_SOCKET, SO_REUSEPORT, 1);
	set_int(net, l2, SOL_SOCKET, SO_REUSEPORT, 1);
	assert_int_equal(sd_bind(net, l1, SA(&any), any.len), 0);
	where.len = sizeof where.ss;
	assert_int_equal(sd_getsockname(net, l1, SA(&where), &where.len), 0);
	assert_int_equal(sd_bind(net, l2, SA(&where), where.len), 0);
	assert_int_equal(sd_bind(net, l3, SA(&where), where.len), -EADDRINUSE);
	assert_int_equal(sd_listen(net, l1, 8), 0);
	assert_int_equal(sd_listen(net, l2, 8), 0);
	/* Every connection lands on one of the group, whichever. */
	int c[6], got = 0;
	for (int i = 0; i < 6; i++) {
		c[i] = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		assert_int_equal(sd_connect(net, c[i], SA(&where), where.len), 0);
	}
	for (int round = 0; round < 100 && got < 6; round++) {
		struct pollfd p[2] = {{.fd = l1, .events = POLLIN}, {.fd = l2, .events = POLLIN}};
		assert_true(sd_poll(net, p, 2, 1000) > 0);
		for (int i = 0; i < 2; i++) {
			int s = sd_accept(net, p[i].fd, NULL, NULL, 0);
			if (s >= 0)
				got++, sd_close(net, s);
		}
	}
	assert_int_equal(got, 6);
	for (int i = 0; i < 6; i++)
		sd_close(net, c[i]);
	sd_close(net, l1), sd_close(net, l2), sd_close(net, l3);
}

/* A listener with listen(fd, 0) at `where`, c1 connected into its one slot, and c2's
 * non-blocking connect pending in SYN_SENT (its SYN dropped: the queue is full). */
static int full_backlog(struct sd_net *net, struct ep *where, int *c1, int *c2)
{
	struct ep any = loopback(AF_INET, 0);
	int l = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, l, SA(&any), any.len), 0);
	assert_int_equal(sd_listen(net, l, 0), 0);
	where->len = sizeof where->ss;
	assert_int_equal(sd_getsockname(net, l, SA(where), &where->len), 0);
	*c1 = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	*c2 = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(sd_connect(net, *c1, SA(where), where->len), -EINPROGRESS);
	wait_for(net, *c1, POLLOUT);
	assert_int_equal(sd_connect(net, *c2, SA(where), where->len), -EINPROGRESS);
	return l;
}

/* listen(fd, 0) admits one connection (Linux counts backlog+1); the next stays in SYN_SENT
 * until accept makes room and the SYN is retried. */
static void backlog_overflow_stays_pending(void **state)
{
	struct sd_net *net = *state;
	struct ep where;
	int c1, c2, l = full_backlog(net, &where, &c1, &c2);
	struct pollfd p = {.fd = c2, .events = POLLOUT};
	assert_int_equal(sd_poll(net, &p, 1, 200), 0); /* still pending */
	assert_int_equal(sd_connect(net, c2, SA(&where), where.len), -EALREADY);
	int s1 = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s1 >= 0);
	/* The SYN is retried (after 1 s on Linux): bounded wait for it to get through. */
	p.revents = 0;
	assert_int_equal(sd_poll(net, &p, 1, 5000), 1);
	assert_int_equal(so_error(net, c2), 0);
	assert_int_equal(sd_connect(net, c2, SA(&where), where.len), 0);
	assert_int_equal(sd_connect(net, c2, SA(&where), where.len), -EISCONN);
	int s2 = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s2 >= 0);
	sd_close(net, s1), sd_close(net, s2), sd_close(net, c1), sd_close(net, c2),
		sd_close(net, l);
}

/* shutdown() of a connect still in SYN_SENT (its SYN dropped by a full backlog) abandons
 * it the way tcp_disconnect does: 0, the socket unconnected, ECONNRESET pending once. */
static void shutdown_while_connecting_leaves_reset(void **state)
{
	struct sd_net *net = *state;
	struct ep where;
	int c1, c2, l = full_backlog(net, &where, &c1, &c2);
	assert_int_equal(sd_shutdown(net, c2, SHUT_WR), 0);
	char b[4];
	assert_int_equal(sd_recv(net, c2, b, sizeof b, MSG_DONTWAIT), -ECONNRESET);
	assert_int_equal(sd_recv(net, c2, b, sizeof b, MSG_DONTWAIT), -ENOTCONN);
	struct ep peer = {.len = sizeof peer.ss};
	assert_int_equal(sd_getpeername(net, c2, SA(&peer), &peer.len), -ENOTCONN);
	sd_close(net, c1), sd_close(net, c2), sd_close(net, l);
}

static void nonblocking_connect_refused_so_error(void **state)
{
	struct sd_net *net = *state;
	struct ep any = loopback(AF_INET, 0), got;
	int holder = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, holder, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, holder, SA(&got), &got.len), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -EINPROGRESS);
	struct pollfd p = {.fd = c, .events = POLLOUT};
	assert_int_equal(sd_poll(net, &p, 1, 5000), 1);
	assert_true(p.revents & POLLERR);
	assert_int_equal(so_error(net, c), ECONNREFUSED);
	assert_int_equal(so_error(net, c), 0); /* reading SO_ERROR clears it */
	/* ...so the next connect can only say the attempt was aborted. */
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -ECONNABORTED);
	sd_close(net, c), sd_close(net, holder);
}

/* Runs body(net, one_role) for the kernel variant one-role (docs/sim-vs-linux.md, "Kernel
 * variants"): on real once, expecting what the host's probe found; on sim once per variant,
 * each on a sim of its own (the test's own sim is the mainline default). */
static void for_each_variant(void **state, void (*body)(struct sd_net *, int))
{
	struct sd_net *net = *state;
	if (!strcmp(sd_test_backend, "real")) {
		int host = sd_real_host_one_role();
		assert_true(host == 0 || host == 1);
		body(net, host);
		return;
	}
	assert_int_equal(sd_sim_one_role(net), 0);
	for (int v = 0; v <= 1; v++) {
		struct sd_net sim;
		struct sd_config cfg = {.options = v ? "one-role=1" : "one-role=0"};
		assert_int_equal(sd_net_open(&sim, "sim", &cfg), 0);
		body(&sim, v);
		sd_net_close(&sim);
	}
}

/* A one-role kernel never lets a socket that has been connected or connecting listen, even
 * after the connection is gone: a refused connect, then listen() is EINVAL, with an
 * ephemeral port taken all the same. Mainline lets it listen. */
static void listen_after_active_open_body(struct sd_net *net, int one_role)
{
	struct ep any = loopback(AF_INET, 0), got;
	int holder = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, holder, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, holder, SA(&got), &got.len), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -EINPROGRESS);
	wait_for(net, c, POLLOUT);
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -ECONNREFUSED);
	assert_int_equal(sd_listen(net, c, 1), one_role ? -EINVAL : 0);
	assert_int_equal(sd_bind(net, c, SA(&any), any.len), -EINVAL); /* it holds a port */
	/* still a client with the variant; a listener, "connected" for connect, without */
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), one_role ? -EINPROGRESS : -EISCONN);
	/* An accepted connection, disconnected, is the same. */
	int l, a, s;
	pair(net, AF_INET, &l, &a, &s);
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	assert_int_equal(sd_connect(net, s, &unspec, sizeof unspec), 0);
	assert_int_equal(sd_listen(net, s, 1), one_role ? -EINVAL : 0);
	sd_close(net, s), sd_close(net, a), sd_close(net, l), sd_close(net, c),
		sd_close(net, holder);
}

static void listen_after_active_open(void **state)
{
	for_each_variant(state, listen_after_active_open_body);
}

/* ...and a socket that has listened never connects: after shutdown(SHUT_RD) stopped the
 * listener, connect() is EINVAL and gives back a port bind() did not name; listen() works.
 * Mainline starts the handshake (refused here, as nobody listens). */
static void connect_after_listening_body(struct sd_net *net, int one_role)
{
	struct ep any = loopback(AF_INET, 0), got, mine;
	int holder = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, holder, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, holder, SA(&got), &got.len), 0);
	int l = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), other = -1;
	assert_int_equal(sd_listen(net, l, 1), 0);
	assert_int_equal(sd_shutdown(net, l, SHUT_RD), 0);
	assert_int_equal(sd_shutdown(net, l, SHUT_WR), -ENOTCONN);
	assert_int_equal(sd_connect(net, l, SA(&got), got.len), one_role ? -EINVAL : -EINPROGRESS);
	if (one_role) {
		assert_int_equal(sd_bind(net, l, SA(&any), any.len), 0);
		mine.len = sizeof mine.ss;
		assert_int_equal(sd_getsockname(net, l, SA(&mine), &mine.len), 0);
		assert_int_equal(sd_connect(net, l, SA(&got), got.len), -EINVAL);
		other = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		assert_int_equal(sd_bind(net, other, SA(&mine), mine.len),
				 0); /* the port went back */
	} else {
		wait_for(net, l, POLLOUT);
		assert_int_equal(sd_connect(net, l, SA(&got), got.len), -ECONNREFUSED);
	}
	assert_int_equal(sd_listen(net, l, 1), 0);
	assert_int_equal(sd_connect(net, l, SA(&got), got.len), -EISCONN);
	if (other >= 0)
		sd_close(net, other);
	sd_close(net, l), sd_close(net, holder);
}

static void connect_after_listening(void **state)
{
	for_each_variant(state, connect_after_listening_body);
}

static void rcvtimeo_expires_with_eagain(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char b;
	struct timeval tv = {0, 100000};
	pair(net, AF_INET, &l, &c, &s);
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	int64_t t0 = sd_now_ns(net);
	assert_int_equal(sd_recv(net, s, &b, 1, 0), -EAGAIN);
	assert_true(sd_now_ns(net) - t0 >= 100 * MS); /* it did wait, on the backend's clock */
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* A small send buffer and a peer that does not read: a non-blocking send moves part, then
 * nothing; every byte that moved arrives once, in order. */
static void partial_send_small_sndbuf(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	static unsigned char out[1 << 20], in[1 << 20];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 9));
	pair(net, AF_INET, &l, &c, &s);
	set_int(net, c, SOL_SOCKET, SO_SNDBUF, 4096);
	assert_int_equal(sd_set_nonblocking(net, c, 1), 0);
	ssize_t first = sd_send(net, c, out, sizeof out, 0);
	assert_true(first > 0 && (size_t)first < sizeof out);
	size_t sent = (size_t)first;
	ssize_t k;
	while ((k = sd_send(net, c, out + sent, sizeof out - sent, 0)) > 0)
		sent += (size_t)k;
	assert_int_equal(k, -EAGAIN);
	assert_true(sent < sizeof out);
	size_t got = 0;
	while (got < sent) {
		k = sd_recv(net, s, in + got, sent - got, 0);
		assert_true(k > 0);
		got += (size_t)k;
	}
	assert_memory_equal(in, out, sent);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void sndtimeo_expires_with_partial_count(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	static char big[16 << 20];
	struct timeval tv = {0, 200000};
	pair(net, AF_INET, &l, &c, &s);
	set_int(net, c, SOL_SOCKET, SO_SNDBUF, 4096);
	assert_int_equal(sd_setsockopt(net, c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
	/* Blocking, peer not reading: the call gives up after the timeout with what it moved. */
	ssize_t k = sd_send(net, c, big, sizeof big, 0);
	assert_true(k > 0 && (size_t)k < sizeof big);
	/* Again with the buffers full: EAGAIN after the timeout. On the kernel the peer's
	 * receive queue may be collapsed meanwhile (tcp_collapse frees truesize and opens the
	 * window), so a few more bytes can move first: then it is a partial count, also after
	 * the whole timeout. */
	int64_t t0 = sd_now_ns(net);
	k = sd_send(net, c, big, sizeof big, 0);
	assert_true(k == -EAGAIN || (k > 0 && (size_t)k < sizeof big));
	assert_true(sd_now_ns(net) - t0 >= 200 * MS);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Scatter/gather beyond 64 pieces, and the UIO_MAXIOV limit. */
static void many_iovecs(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	static char out[1000], in[1000];
	struct iovec vo[100], vi[100];
	for (int i = 0; i < 1000; i++)
		out[i] = (char)(i * 3);
	for (int i = 0; i < 100; i++) {
		vo[i] = (struct iovec){out + i * 10, 10};
		vi[i] = (struct iovec){in + i * 10, 10};
	}
	pair(net, AF_INET, &l, &c, &s);
	struct msghdr mo = {.msg_iov = vo, .msg_iovlen = 100};
	struct msghdr mi = {.msg_iov = vi, .msg_iovlen = 100};
	assert_int_equal(sd_sendmsg(net, c, &mo, 0), 1000);
	assert_int_equal(sd_recvmsg(net, s, &mi, MSG_WAITALL), 1000);
	assert_memory_equal(in, out, 1000);
	static struct iovec too_many[1025];
	struct msghdr mt = {.msg_iov = too_many, .msg_iovlen = 1025};
	assert_int_equal(sd_sendmsg(net, c, &mt, 0), -EMSGSIZE);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* A negative SO_RCVTIMEO becomes "no wait at all" on Linux. */
static void negative_rcvtimeo_does_not_wait(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char b;
	struct timeval tv = {-1, 0};
	pair(net, AF_INET, &l, &c, &s);
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	assert_int_equal(sd_recv(net, s, &b, 1, 0), -EAGAIN);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static struct timeval get_timeo(struct sd_net *net, int fd, int name)
{
	struct timeval tv = {-7, -7};
	socklen_t l = sizeof tv;
	assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, name, &tv, &l), 0);
	assert_int_equal(l, sizeof tv);
	return tv;
}

/* Linux sock_set_timeout: a tv_sec too large to count in jiffies (the LONG_MAX idiom) means
 * "wait forever", read back as {0, 0}; a large one that fits is kept; tv_usec outside
 * [0, 1000000) is EDOM. */
static void huge_timeouts_mean_forever(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char b;
	pair(net, AF_INET, &l, &c, &s);
	struct timeval forever = {LONG_MAX, 999999}, big = {1000000000, 0};
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof forever),
			 0);
	assert_int_equal(sd_setsockopt(net, c, SOL_SOCKET, SO_SNDTIMEO, &forever, sizeof forever),
			 0);
	struct timeval got = get_timeo(net, s, SO_RCVTIMEO);
	assert_true(got.tv_sec == 0 && got.tv_usec == 0);
	got = get_timeo(net, c, SO_SNDTIMEO);
	assert_true(got.tv_sec == 0 && got.tv_usec == 0);
	/* the calls still work, and one that must wait waits for good */
	send_all(net, c, "x", 1);
	assert_int_equal(sd_recv(net, s, &b, 1, 0), 1);
	if (!strcmp(sd_test_backend, "sim"))
		assert_int_equal(sd_recv(net, s, &b, 1, 0), -EDEADLK); /* no timer to end it */
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVTIMEO, &big, sizeof big), 0);
	got = get_timeo(net, s, SO_RCVTIMEO);
	assert_true(got.tv_sec == 1000000000 && got.tv_usec == 0);
	struct timeval bad[] = {{0, 1000000}, {0, -1}, {LONG_MAX, LONG_MAX}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(
			sd_setsockopt(net, s, SOL_SOCKET, SO_RCVTIMEO, &bad[i], sizeof bad[i]),
			-EDOM);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* An IPv6 listener on ::ffff:0.0.0.0 takes IPv4 clients (and no IPv6 ones). */
static void mapped_wildcard_listener(void **state)
{
	struct sd_net *net = *state;
	struct ep any, where, v4, v6;
	assert_int_equal(sd_addr_parse("::ffff:0.0.0.0", 0, &any.ss, &any.len), 0);
	int l = sd_socket(net, AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, l, SA(&any), any.len), 0);
	assert_int_equal(sd_listen(net, l, 4), 0);
	where.len = sizeof where.ss;
	assert_int_equal(sd_getsockname(net, l, SA(&where), &where.len), 0);
	int port = sd_addr_port(SA(&where), where.len);
	v4 = loopback(AF_INET, (uint16_t)port);
	v6 = loopback(AF_INET6, (uint16_t)port);
	int c4 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c4, SA(&v4), v4.len), 0);
	int c6 = sd_socket(net, AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c6, SA(&v6), v6.len), -ECONNREFUSED);
	int s = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s >= 0);
	sd_close(net, s), sd_close(net, c4), sd_close(net, c6), sd_close(net, l);
}

static void peek_and_waitall(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char buf[16];
	pair(net, AF_INET, &l, &c, &s);
	send_all(net, c, "abc", 3);
	send_all(net, c, "defgh", 5);
	assert_int_equal(sd_recv(net, s, buf, 8, MSG_WAITALL), 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	send_all(net, c, "xyz", 3);
	wait_for(net, s, POLLIN);
	assert_int_equal(sd_recv(net, s, buf, 2, MSG_PEEK), 2);
	assert_int_equal(sd_recv(net, s, buf, 16, MSG_PEEK), 3);
	assert_int_equal(sd_recv(net, s, buf, 16, 0), 3);
	assert_memory_equal(buf, "xyz", 3);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void poll_flags_through_teardown(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	pair(net, AF_INET, &l, &c, &s);
	struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT | POLLRDHUP};
	assert_int_equal(sd_shutdown(net, c, SHUT_WR), 0);
	assert_int_equal(sd_poll(net, &p, 1, 5000), 1);
	assert_int_equal(p.revents, POLLIN | POLLOUT | POLLRDHUP);
	assert_int_equal(sd_shutdown(net, s, SHUT_WR), 0);
	assert_int_equal(sd_poll(net, &p, 1, 0), 1);
	assert_int_equal(p.revents, POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
	/* A fresh socket: writable and hung up, as Linux reports it. */
	int f = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	struct pollfd q = {.fd = f, .events = POLLIN | POLLOUT};
	assert_int_equal(sd_poll(net, &q, 1, 0), 1);
	assert_int_equal(q.revents, POLLOUT | POLLHUP);
	sd_close(net, f), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* ---- epoll ------------------------------------------------------------------------------- */

/* How long a wait for an expected event may take (virtual on sim): a bound, not a timing. */
#define EP_WAIT_MS 5000

static void ep_add(struct sd_net *net, int ep, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, fd, &ev), 0);
}

/* Level-triggered: reported at every wait until the data is read. */
static void epoll_level_triggered(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, 0);
	struct epoll_event out[4];
	char buf[8];
	assert_true(ep >= 0);
	pair(net, AF_INET, &l, &c, &s);
	ep_add(net, ep, s, EPOLLIN);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	send_all(net, c, "ab", 2);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(out[0].data.fd, s);
	assert_int_equal(out[0].events, EPOLLIN);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 1);
	assert_int_equal(sd_recv(net, s, buf, 1, 0), 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 1);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, 0), 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	sd_close(net, ep), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Edge-triggered: one report per arrival, even while earlier bytes are unread. */
static void epoll_edge_triggered(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, EPOLL_CLOEXEC);
	struct epoll_event out[4];
	assert_true(ep >= 0);
	pair(net, AF_INET, &l, &c, &s);
	ep_add(net, ep, s, EPOLLIN | EPOLLET);
	send_all(net, c, "a", 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(out[0].events, EPOLLIN);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	send_all(net, c, "b", 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(out[0].data.fd, s);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	sd_close(net, ep), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Setting SO_SNDBUF wakes writers (sk_write_space), an EPOLLOUT edge even with nothing
 * sent (found by the differential test). */
static void epoll_edge_on_sndbuf_change(void **state)
{
	struct sd_net *net = *state;
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0), ep = sd_epoll_create(net, 0), v = 4096;
	struct epoll_event out[2];
	ep_add(net, ep, fd, EPOLLIN | EPOLLOUT | EPOLLET);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 1);
	assert_int_equal(out[0].events, EPOLLOUT | EPOLLHUP);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 0);
	assert_int_equal(sd_setsockopt(net, fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 0);
	assert_int_equal(sd_setsockopt(net, fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 1);
	assert_int_equal(out[0].events, EPOLLOUT | EPOLLHUP);
	sd_close(net, ep), sd_close(net, fd);
}

/* The connect that finds its earlier attempt refused ends in tcp_disconnect(), whose error
 * report wakes every entry: an edge (found by the differential test). */
static void epoll_edge_on_aborted_connect(void **state)
{
	struct sd_net *net = *state;
	struct ep any = loopback(AF_INET, 0), got;
	struct epoll_event out[2];
	int holder = sd_socket(net, AF_INET, SOCK_STREAM, 0), ep = sd_epoll_create(net, 0);
	assert_int_equal(sd_bind(net, holder, SA(&any), any.len), 0);
	got.len = sizeof got.ss;
	assert_int_equal(sd_getsockname(net, holder, SA(&got), &got.len), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -EINPROGRESS);
	wait_for(net, c, POLLOUT);
	assert_int_equal(so_error(net, c), ECONNREFUSED);
	ep_add(net, ep, c, EPOLLIN | EPOLLET);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 1);
	assert_int_equal(out[0].events, EPOLLIN | EPOLLHUP);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 0);
	assert_int_equal(sd_connect(net, c, SA(&got), got.len), -ECONNABORTED);
	assert_int_equal(sd_epoll_wait(net, ep, out, 2, 0), 1);
	assert_int_equal(out[0].events, EPOLLHUP); /* the shutdown bits went with the disconnect */
	sd_close(net, ep), sd_close(net, c), sd_close(net, holder);
}

/* EPOLLONESHOT: one report, then nothing until EPOLL_CTL_MOD re-arms the entry. */
static void epoll_oneshot_and_mod(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, 0);
	struct epoll_event out[4], ev = {.events = EPOLLIN | EPOLLONESHOT};
	assert_true(ep >= 0);
	pair(net, AF_INET, &l, &c, &s);
	ev.data.fd = s;
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, s, &ev), 0);
	send_all(net, c, "a", 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	send_all(net, c, "b", 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_MOD, s, &ev), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 1);
	assert_int_equal(out[0].events, EPOLLIN);
	/* MOD to writability, level-triggered: reported at every wait */
	ev.events = EPOLLOUT;
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_MOD, s, &ev), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 1);
	assert_int_equal(out[0].events, EPOLLOUT);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 1);
	sd_close(net, ep), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* EPOLLRDHUP when the peer shuts its sending side; a listener is readable with a pending
 * connection. */
static void epoll_rdhup_and_listener(void **state)
{
	struct sd_net *net = *state;
	struct ep where;
	struct epoll_event out[4];
	int ep = sd_epoll_create(net, 0);
	int l = listener(net, AF_INET, 0, &where);
	ep_add(net, ep, l, EPOLLIN);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(out[0].data.fd, l);
	assert_int_equal(out[0].events, EPOLLIN);
	int s = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s >= 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	ep_add(net, ep, s, EPOLLIN | EPOLLRDHUP);
	assert_int_equal(sd_shutdown(net, c, SHUT_WR), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(out[0].data.fd, s);
	assert_int_equal(out[0].events, EPOLLIN | EPOLLRDHUP);
	sd_close(net, ep), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* epoll_ctl and epoll_wait errors, in Linux's order of checks. */
static void epoll_errors(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, 0);
	struct epoll_event out[1], ev = {.events = EPOLLIN};
	pair(net, AF_INET, &l, &c, &s);
	assert_int_equal(sd_epoll_create(net, 0x7), -EINVAL);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_MOD, s, &ev), -ENOENT);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, s, NULL), -ENOENT);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, s, &ev), 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, s, &ev), -EEXIST);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, s, NULL), 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, s, NULL), -ENOENT);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, ep, &ev), -EINVAL);
	assert_int_equal(sd_epoll_ctl(net, s, EPOLL_CTL_ADD, c, &ev), -EINVAL);
	assert_int_equal(sd_epoll_ctl(net, ep, 99, s, &ev), -EINVAL);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, 1000, &ev), -EBADF);
	/* only the instance's own descriptors: stdin is not one on either backend */
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, 0, &ev), -EBADF);
	assert_int_equal(sd_epoll_wait(net, 0, out, 1, 0), -EBADF);
	assert_int_equal(sd_epoll_ctl(net, 1000, EPOLL_CTL_ADD, s, &ev), -EBADF);
	/* EPOLLEXCLUSIVE: accepted on ADD with plain events only, never with MOD */
	ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, s, &ev), -EINVAL);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_ADD, s, &ev), 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_MOD, s, &ev), -EINVAL);
	ev.events = EPOLLIN;
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_MOD, s, &ev), -EINVAL);
	assert_int_equal(sd_epoll_wait(net, ep, out, 0, 0), -EINVAL);
	assert_int_equal(sd_epoll_wait(net, s, out, 1, 0), -EINVAL);
	assert_int_equal(sd_epoll_wait(net, 1000, out, 1, 0), -EBADF);
	/* an epoll descriptor is not a socket */
	assert_int_equal(sd_listen(net, ep, 1), -ENOTSOCK);
	assert_int_equal(sd_close(net, ep), 0);
	assert_int_equal(sd_close(net, ep), -EBADF);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Closing a socket's descriptor drops its entry: nothing more is reported for it. */
static void epoll_entry_dropped_on_close(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, 0);
	struct epoll_event out[4];
	pair(net, AF_INET, &l, &c, &s);
	ep_add(net, ep, s, EPOLLIN);
	send_all(net, c, "a", 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(sd_close(net, s), 0);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, 0), 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, s, NULL), -EBADF);
	/* a new socket, maybe with the same number, is not in the set */
	int t = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, t, NULL), -ENOENT);
	ep_add(net, ep, t, EPOLLOUT);
	sd_close(net, t), sd_close(net, ep), sd_close(net, c), sd_close(net, l);
}

/* dup3 and dup2 as ksys_dup3() and dup2(): argument checks first; newfd then names oldfd's
 * socket, and the socket newfd named closes with its last descriptor (the peer reads EOF). */
static void dup3_replaces_newfd(void **state)
{
	struct sd_net *net = *state;
	int l, c, s;
	char b[8];
	pair(net, AF_INET, &l, &c, &s);
	int x = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_true(x >= 0);
	assert_int_equal(sd_dup3(net, s, s, 0), -EINVAL);
	assert_int_equal(sd_dup3(net, s, x, O_NONBLOCK), -EINVAL);
	assert_int_equal(sd_dup3(net, -1, x, 0), -EBADF);
	assert_int_equal(sd_dup3(net, s, -1, 0), -EBADF);
	assert_int_equal(sd_dup3(net, s, INT_MAX, 0), -EBADF);
	assert_int_equal(sd_dup3(net, s, INT_MIN, 0), -EBADF);
	assert_int_equal(sd_dup2(net, s, s), s);
	assert_int_equal(sd_dup2(net, -1, -1), -EBADF);
	assert_int_equal(sd_dup3(net, s, x, O_CLOEXEC), x);
	send_all(net, c, "ab", 2);
	wait_for(net, x, POLLIN);
	assert_int_equal(sd_recv(net, x, b, sizeof b, 0), 2);
	assert_int_equal(sd_close(net, s), 0); /* x still holds the connection */
	struct pollfd p = {.fd = c, .events = POLLIN};
	assert_int_equal(sd_poll(net, &p, 1, 0), 0);
	assert_int_equal(sd_dup2(net, l, x), x); /* its last descriptor: the connection ends */
	assert_int_equal(sd_recv(net, c, b, sizeof b, 0), 0);
	int y = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_listen(net, x, 4), 0); /* x is the listener now */
	assert_int_equal(sd_close(net, l), 0);
	assert_int_equal(sd_close(net, x), 0);
	assert_int_equal(sd_close(net, x), -EBADF);
	/* onto a number nothing holds */
	assert_int_equal(sd_dup2(net, y, x), x);
	assert_int_equal(sd_close(net, x), 0);
	sd_close(net, y), sd_close(net, c);
}

/* An epoll entry is keyed by (socket, number): after dup2 gives the number to another socket
 * while a duplicate keeps the old one open, the number can be added again for the new one. */
static void epoll_key_is_socket_and_number(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, 0);
	struct epoll_event out[4];
	pair(net, AF_INET, &l, &c, &s);
	int keep = sd_dup(net, s), t = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	ep_add(net, ep, s, EPOLLIN);
	assert_int_equal(sd_dup2(net, t, s), s); /* s names t's socket; keep the old one */
	ep_add(net, ep, s, EPOLLIN);             /* a new entry, not EEXIST */
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, s, NULL), 0);
	assert_int_equal(sd_epoll_ctl(net, ep, EPOLL_CTL_DEL, s, NULL), -ENOENT);
	/* the old entry still reports for the connection, under the number it was added with */
	send_all(net, c, "a", 1);
	assert_int_equal(sd_epoll_wait(net, ep, out, 4, EP_WAIT_MS), 1);
	assert_int_equal(out[0].data.fd, s);
	sd_close(net, keep), sd_close(net, s), sd_close(net, t);
	sd_close(net, ep), sd_close(net, c), sd_close(net, l);
}

/* The epoll descriptor itself is readable in poll() while an entry is ready. */
static void epoll_fd_in_poll(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, ep = sd_epoll_create(net, 0);
	pair(net, AF_INET, &l, &c, &s);
	ep_add(net, ep, s, EPOLLIN);
	struct pollfd p = {.fd = ep, .events = POLLIN};
	assert_int_equal(sd_poll(net, &p, 1, 0), 0);
	send_all(net, c, "a", 1);
	assert_int_equal(sd_poll(net, &p, 1, EP_WAIT_MS), 1);
	assert_int_equal(p.revents, POLLIN);
	sd_close(net, ep), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

struct ep_waiter {
	struct sd_net *net;
	int ep, result;
	struct epoll_event ev;
	atomic_int done;
};

static void ep_wait_actor(void *arg)
{
	struct ep_waiter *w = arg;
	w->result = sd_epoll_wait(w->net, w->ep, &w->ev, 1, 10 * EP_WAIT_MS);
	atomic_store(&w->done, 1);
}

/* A blocked epoll_wait lets other actors run and returns when a connection arrives. */
static void epoll_wait_blocks_until_connection(void **state)
{
	struct sd_net *net = *state;
	struct ep where;
	struct ep_waiter w = {.net = net, .ep = sd_epoll_create(net, 0)};
	int l = listener(net, AF_INET, 0, &where);
	ep_add(net, w.ep, l, EPOLLIN);
	int id = sd_spawn(net, "waiter", ep_wait_actor, &w);
	assert_true(id > 0);
	assert_int_equal(sd_sleep_ns(net, 200 * MS), 0);
	assert_int_equal(atomic_load(&w.done), 0);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	for (int i = 0; i < 500 && !atomic_load(&w.done); i++)
		sd_sleep_ns(net, 10 * MS);
	assert_int_equal(sd_join(net, id), 0);
	assert_int_equal(w.result, 1);
	assert_int_equal(w.ev.data.fd, l);
	assert_int_equal(w.ev.events, EPOLLIN);
	sd_close(net, c), sd_close(net, w.ep), sd_close(net, l);
}

static int tcp_state(struct sd_net *net, int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof *ti;
	memset(ti, 0xff, sizeof *ti);
	assert_int_equal(sd_getsockopt(net, fd, IPPROTO_TCP, TCP_INFO, ti, &len), 0);
	assert_int_equal(len, sizeof *ti);
	return ti->tcpi_state;
}

/* TCP_INFO's state: a server tells a peer's half-close (CLOSE_WAIT) from a reset with it
 * (lighttpd on EPOLLRDHUP). A listener reports its accept queue and backlog. */
static void tcp_info_state(void **state)
{
	struct sd_net *net = *state;
	struct tcp_info ti;
	struct ep where;
	char buf[4];
	int l = listener(net, AF_INET, 0, &where);
	assert_int_equal(tcp_state(net, l, &ti), TCP_LISTEN);
	assert_int_equal(ti.tcpi_unacked, 0);
	assert_int_equal(ti.tcpi_sacked, 16);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(tcp_state(net, c, &ti), TCP_CLOSE);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	wait_for(net, l, POLLIN);
	assert_int_equal(tcp_state(net, l, &ti), TCP_LISTEN);
	assert_int_equal(ti.tcpi_unacked, 1);
	int s = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s >= 0);
	assert_int_equal(tcp_state(net, c, &ti), TCP_ESTABLISHED);
	assert_int_equal(tcp_state(net, s, &ti), TCP_ESTABLISHED);
	assert_int_equal(sd_shutdown(net, c, SHUT_WR), 0);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, 0), 0);
	assert_int_equal(tcp_state(net, s, &ti), TCP_CLOSE_WAIT);
	/* FIN_WAIT1 until the FIN's ACK comes back: the sim acks at once, Linux maybe later. */
	int st = tcp_state(net, c, &ti);
	assert_true(st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2);
	/* A short buffer gets the first bytes, the state among them. */
	unsigned char first = 0;
	socklen_t len = 1;
	assert_int_equal(sd_getsockopt(net, s, SOL_TCP, TCP_INFO, &first, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(first, TCP_CLOSE_WAIT);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* SO_LINGER reads back {on, seconds}; turning lingering off keeps the seconds set before
 * (sock_setsockopt stores them only with l_onoff), so {0, 5} on a fresh socket reads {0, 0}. */
static void linger_off_keeps_old_seconds(void **state)
{
	struct sd_net *net = *state;
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct linger set[] = {{0, 5}, {1, 7}, {0, 0}, {0, 3}},
		      want[] = {{0, 0}, {1, 7}, {0, 7}, {0, 7}};
	for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
		struct linger got;
		socklen_t len = sizeof got;
		assert_int_equal(
			sd_setsockopt(net, fd, SOL_SOCKET, SO_LINGER, &set[i], sizeof set[i]), 0);
		assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, SO_LINGER, &got, &len), 0);
		assert_int_equal(got.l_onoff, want[i].l_onoff);
		assert_int_equal(got.l_linger, want[i].l_linger);
	}
	sd_close(net, fd);
}

/* The TCP_CM_INQ a recvmsg of s gives (after reading up to n bytes), -1 when none. */
static int recv_inq(struct sd_net *net, int s, size_t n, ssize_t *got)
{
	char buf[64];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {buf, n};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = &ctl,
			   .msg_controllen = sizeof ctl};
	int inq = -1;
	*got = sd_recvmsg(net, s, &m, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ)
		memcpy(&inq, CMSG_DATA(c), sizeof inq);
	return inq;
}

/* TCP_INQ: getsockopt reads the flag (not the queue); with it on, recvmsg tells how many
 * bytes are left, 1 at the end of the stream; accepted sockets inherit it. */
static void tcp_inq_reports_bytes_left(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, v = -1, one = 1, two = 2;
	socklen_t len = sizeof v;
	struct ep where;
	l = listener(net, AF_INET, 0, &where);
	assert_int_equal(sd_getsockopt(net, l, IPPROTO_TCP, TCP_INQ, &v, &len), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sd_setsockopt(net, l, IPPROTO_TCP, TCP_INQ, &two, sizeof two), -EINVAL);
	assert_int_equal(sd_setsockopt(net, l, IPPROTO_TCP, TCP_INQ, &one, sizeof one), 0);
	c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, SA(&where), where.len), 0);
	s = sd_accept(net, l, NULL, NULL, 0);
	assert_true(s >= 0);
	len = sizeof v;
	assert_int_equal(sd_getsockopt(net, s, IPPROTO_TCP, TCP_INQ, &v, &len), 0);
	assert_int_equal(v, 1);
	send_all(net, c, "0123456789", 10);
	wait_for(net, s, POLLIN);
	ssize_t got;
	assert_int_equal(recv_inq(net, s, 4, &got), 6);
	assert_int_equal(got, 4);
	assert_int_equal(sd_shutdown(net, c, SHUT_WR), 0);
	wait_for(net, s, POLLRDHUP);
	assert_int_equal(recv_inq(net, s, 64, &got), 1); /* none left, and the end: 1 */
	assert_int_equal(got, 6);
	assert_int_equal(recv_inq(net, s, 64, &got), 1);
	assert_int_equal(got, 0);
	/* no room: MSG_CTRUNC; a header's room: the header alone, cut short */
	char buf[4], ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	assert_int_equal(sd_recvmsg(net, s, &m, 0), 0);
	assert_int_equal(m.msg_flags & MSG_CTRUNC, MSG_CTRUNC);
	assert_int_equal(m.msg_controllen, 0);
	m.msg_control = ctl, m.msg_controllen = sizeof(struct cmsghdr);
	assert_int_equal(sd_recvmsg(net, s, &m, 0), 0);
	assert_int_equal(m.msg_flags & MSG_CTRUNC, MSG_CTRUNC);
	assert_int_equal(m.msg_controllen, sizeof(struct cmsghdr));
	assert_int_equal(CMSG_FIRSTHDR(&m)->cmsg_type, TCP_CM_INQ);
	m.msg_controllen = CMSG_LEN(sizeof(int)); /* enough: no padding needed */
	assert_int_equal(sd_recvmsg(net, s, &m, 0), 0);
	assert_int_equal(m.msg_flags, 0);
	assert_int_equal(m.msg_controllen, CMSG_LEN(sizeof(int)));
	sd_close(net, c);
	sd_close(net, s);
	sd_close(net, l);
}

static int rcvlowat(struct sd_net *net, int fd)
{
	int v = -1;
	socklen_t len = sizeof v;
	assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, SO_RCVLOWAT, &v, &len), 0);
	return v;
}

static short revents(struct sd_net *net, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	assert_true(sd_poll(net, &p, 1, 0) >= 0);
	return p.revents;
}

/* SO_RCVLOWAT: readable (poll) only from that many bytes; a non-blocking recv still takes
 * fewer; 0 reads back as 1 and a locked SO_RCVBUF caps it at half (tcp_set_rcvlowat). */
static void rcvlowat_sets_readability(void **state)
{
	struct sd_net *net = *state;
	int l, c, s, v;
	char buf[64];
	pair(net, AF_INET, &l, &c, &s);
	assert_int_equal(rcvlowat(net, s), 1);
	v = 0;
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v), 0);
	assert_int_equal(rcvlowat(net, s), 1);
	v = 10;
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v), 0);
	assert_int_equal(rcvlowat(net, s), 10);
	send_all(net, c, "12345", 5);
	assert_int_equal(sd_poll(net, &(struct pollfd){.fd = s, .events = POLLIN}, 1, 200), 0);
	assert_int_equal(revents(net, s) & POLLIN, 0);
	v = 5; /* reached now: readable at once */
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v), 0);
	assert_int_equal(revents(net, s) & POLLIN, POLLIN);
	v = 10;
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v), 0);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK), 5);
	send_all(net, c, "67890", 5);
	wait_for(net, s, POLLIN);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, MSG_DONTWAIT), 10);
	v = 4096; /* SO_RCVBUF 8192 once doubled: half of it at most */
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
	v = 100000;
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v), 0);
	assert_int_equal(rcvlowat(net, s), 4096);
	sd_close(net, c);
	wait_for(net, s, POLLIN); /* the end of the stream is readable whatever the mark */
	sd_close(net, s);
	sd_close(net, l);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(bind_conflict),
	T(bind_port_zero),
	T(listen_accept),
	T(accept_blocks_until_client),
	T(connect_refused),
	T(send_recv_roundtrip),
	T(partial_recv_small_buffer),
	T(shutdown_wr_gives_eof),
	T(close_unread_resets_peer),
	T(send_after_reset_epipe),
	T(nonblocking_accept_eagain),
	T(ipv6_roundtrip),
	T(refuses_nonloopback),
	T(foreign_fds_untouched),
	T(unsupported_socket_types),
	T(dup_shares_until_last_close),
	T(dup3_replaces_newfd),
	T(epoll_key_is_socket_and_number),
	T(poll_readiness),
	T(time_wait_needs_reuseaddr),
	T(reuseport_shares_a_port),
	T(backlog_overflow_stays_pending),
	T(shutdown_while_connecting_leaves_reset),
	T(nonblocking_connect_refused_so_error),
	T(listen_after_active_open),
	T(connect_after_listening),
	T(rcvtimeo_expires_with_eagain),
	T(partial_send_small_sndbuf),
	T(sndtimeo_expires_with_partial_count),
	T(many_iovecs),
	T(negative_rcvtimeo_does_not_wait),
	T(huge_timeouts_mean_forever),
	T(mapped_wildcard_listener),
	T(peek_and_waitall),
	T(poll_flags_through_teardown),
	T(epoll_level_triggered),
	T(epoll_edge_triggered),
	T(epoll_edge_on_sndbuf_change),
	T(epoll_edge_on_aborted_connect),
	T(epoll_oneshot_and_mod),
	T(epoll_rdhup_and_listener),
	T(epoll_errors),
	T(epoll_entry_dropped_on_close),
	T(epoll_fd_in_poll),
	T(epoll_wait_blocks_until_connection),
	T(tcp_info_state),
	T(linger_off_keeps_old_seconds),
	T(tcp_inq_reports_bytes_left),
	T(rcvlowat_sets_readability),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
