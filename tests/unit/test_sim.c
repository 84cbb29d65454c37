/* What only the simulator promises: determinism, virtual time, actors, deadlock reports. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sockdrill/fault.h>

#include "sd_test.h"

#ifdef __SANITIZE_ADDRESS__
size_t __sanitizer_get_current_allocated_bytes(void); /* ASan's interface */
#endif

const char sd_unit_module[] = "sim";

#define MS 1000000LL

#define open_sim  sd_test_open_sim
#define close_sim sd_test_close_sim

/* A listener on 127.0.0.1, ephemeral port; *where receives its address. */
static int listener(struct sd_net *net, int backlog, struct sockaddr_storage *where, socklen_t *wl)
{
	struct sockaddr_storage any;
	socklen_t al;
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	int l = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(sd_bind(net, l, (struct sockaddr *)&any, al), 0);
	assert_int_equal(sd_listen(net, l, backlog), 0);
	*wl = sizeof *where;
	assert_int_equal(sd_getsockname(net, l, (struct sockaddr *)where, wl), 0);
	return l;
}

/* ---- a small workload: a server actor and client actors, many interleavings possible ---- */

struct world {
	struct sd_net *net;
	struct sockaddr_storage where;
	socklen_t wlen;
	int lfd, clients;
};

static void server(void *arg)
{
	struct world *w = arg;
	for (int i = 0; i < w->clients; i++) {
		char buf[64];
		int s = sd_accept(w->net, w->lfd, NULL, NULL, 0);
		if (s < 0)
			return;
		ssize_t n = sd_recv(w->net, s, buf, sizeof buf, 0);
		if (n > 0)
			sd_send(w->net, s, buf, (size_t)n, 0);
		sd_close(w->net, s);
	}
}

static void client(void *arg)
{
	struct world *w = arg;
	char buf[16];
	int c = sd_socket(w->net, AF_INET, SOCK_STREAM, 0);
	if (sd_connect(w->net, c, (struct sockaddr *)&w->where, w->wlen) == 0) {
		sd_send(w->net, c, "ping", 4, 0);
		sd_recv(w->net, c, buf, sizeof buf, 0);
	}
	sd_close(w->net, c);
}

/* The same server as one epoll event loop: edge-triggered listener, level-triggered
 * connections; it echoes one message per connection and ends after w->clients of them. */
static void epoll_server(void *arg)
{
	struct world *w = arg;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = w->lfd}, out[4];
	int ep = sd_epoll_create(w->net, 0), served = 0;
	sd_set_nonblocking(w->net, w->lfd, 1);
	sd_epoll_ctl(w->net, ep, EPOLL_CTL_ADD, w->lfd, &ev);
	for (int rounds = 0; served < w->clients && rounds < 100; rounds++) {
		int n = sd_epoll_wait(w->net, ep, out, 4, 1000);
		for (int i = 0; i < n; i++) {
			int fd = out[i].data.fd, s;
			char buf[64];
			if (fd == w->lfd) {
				while ((s = sd_accept(w->net, w->lfd, NULL, NULL, SOCK_NONBLOCK)) >=
				       0) {
					struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP,
								  .data.fd = s};
					sd_epoll_ctl(w->net, ep, EPOLL_CTL_ADD, s, &cev);
				}
				continue;
			}
			ssize_t got = sd_recv(w->net, fd, buf, sizeof buf, 0);
			if (got > 0)
				sd_send(w->net, fd, buf, (size_t)got, 0);
			sd_close(w->net, fd);
			served++;
		}
	}
	sd_close(w->net, ep);
}

/* Runs the workload with tracing into memory; returns the trace text (caller frees). */
static char *run_world_with(uint64_t seed, const char *options, uint64_t *hash,
			    void (*serve)(void *))
{
	struct sd_net *sim = open_sim(seed, options), traced, *net = &traced;
	struct world w = {.net = net, .clients = 5};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(sd_trace_wrap(&traced, sim, f), 0);
	w.lfd = listener(net, 16, &w.where, &w.wlen);
	int ids[6];
	ids[0] = sd_spawn(net, "server", serve, &w);
	for (int i = 1; i <= w.clients; i++) {
		char name[16];
		snprintf(name, sizeof name, "client%d", i);
		ids[i] = sd_spawn(net, name, client, &w);
	}
	for (int i = 0; i <= w.clients; i++)
		assert_int_equal(sd_join(net, ids[i]), 0);
	sd_close(net, w.lfd);
	*hash = sd_trace_hash(net);
	sd_net_close(&traced);
	close_sim(sim);
	fclose(f);
	return text;
}

static char *run_world(uint64_t seed, const char *options, uint64_t *hash)
{
	return run_world_with(seed, options, hash, server);
}

static void same_seed_same_trace(void **state)
{
	(void)state;
	uint64_t h1, h2;
	char *a = run_world(42, NULL, &h1), *b = run_world(42, NULL, &h2);
	assert_true(strlen(a) > 500);
	assert_string_equal(a, b); /* byte for byte */
	assert_true(h1 == h2);
	assert_non_null(strstr(a, "client3 connect("));
	free(a);
	free(b);
}

/* Trace lines of client actors whose recv returned 4 bytes (the echo). */
static int client_echoes(const char *trace)
{
	int n = 0;
	for (const char *p = trace; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char line[256];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		n += strstr(line, " client") && strstr(line, " recv(") && strstr(line, " = 4");
	}
	return n;
}

/* An epoll event loop is as reproducible as blocking calls: same seed, same trace. */
static void same_seed_same_trace_with_epoll(void **state)
{
	(void)state;
	uint64_t h1, h2;
	char *a = run_world_with(7, NULL, &h1, epoll_server);
	char *b = run_world_with(7, NULL, &h2, epoll_server);
	assert_string_equal(a, b);
	assert_true(h1 == h2);
	assert_non_null(strstr(a, " server epoll_wait("));
	assert_non_null(strstr(a, " server epoll_ctl("));
	assert_int_equal(client_echoes(a), 5); /* the event loop served every client */
	free(a);
	free(b);
}

static void different_seeds_explore_interleavings(void **state)
{
	(void)state;
	uint64_t h0, h;
	char *base = run_world(1, NULL, &h0);
	int differ = 0;
	for (uint64_t seed = 2; seed < 12; seed++) {
		char *t = run_world(seed, NULL, &h);
		differ += strcmp(t, base) != 0;
		free(t);
	}
	free(base);
	assert_true(differ >= 5); /* most seeds order the actors differently */
}

static void blocked_reader(void *arg)
{
	int *fds = arg;
	char b;
	extern struct sd_net *sd_test_current;
	sd_recv(sd_test_current, fds[0], &b, 1, 0);
}

struct sd_net *sd_test_current;

static void deadlock_is_reported(void **state)
{
	(void)state;
	struct sd_net *net = sd_test_current = open_sim(7, NULL);
	struct sockaddr_storage where;
	socklen_t wl;
	int l = listener(net, 4, &where, &wl);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	int s = sd_accept(net, l, NULL, NULL, 0);
	/* Both ends wait to read; nobody writes. */
	int a1[1] = {c}, a2[1] = {s};
	int r1 = sd_spawn(net, "alice", blocked_reader, a1);
	int r2 = sd_spawn(net, "bob", blocked_reader, a2);
	assert_null(sd_sim_deadlock_report(net));
	assert_int_equal(sd_join(net, r1), -EDEADLK);
	const char *report = sd_sim_deadlock_report(net);
	assert_non_null(report);
	assert_non_null(strstr(report, "every actor is blocked"));
	assert_non_null(strstr(report, "alice (actor 1) waits in recv"));
	assert_non_null(strstr(report, "bob (actor 2) waits in recv"));
	assert_non_null(strstr(report, "main (actor 0) waits in join(alice)"));
	/* main alone blocking forever is a deadlock too, reported instead of hanging */
	char b;
	assert_int_equal(sd_recv(net, s, &b, 1, 0), -EDEADLK);
	(void)r2;
	close_sim(net);
}

static void epoll_waiter(void *arg)
{
	int *a = arg; /* {epfd, result} */
	struct epoll_event ev;
	a[1] = sd_epoll_wait(sd_test_current, a[0], &ev, 1, -1);
}

/* An epoll descriptor closed while an actor waits on it: the wait goes on (as on Linux), the
 * deadlock report names it, and the instance is freed with the sim (ASan's leak check). */
static void epoll_closed_while_waited(void **state)
{
	(void)state;
	struct sd_net *net = sd_test_current = open_sim(3, NULL);
	int a[2] = {sd_epoll_create(net, 0), 1};
	int id = sd_spawn(net, "waiter", epoll_waiter, a);
	assert_int_equal(sd_sleep_ns(net, 10 * MS), 0);
	assert_int_equal(sd_close(net, a[0]), 0);
	assert_int_equal(sd_join(net, id), -EDEADLK);
	assert_int_equal(a[1], 1); /* still waiting */
	assert_non_null(
		strstr(sd_sim_deadlock_report(net), "waiter (actor 1) waits in epoll_wait"));
	close_sim(net);
}

static void rcvtimeo_runs_on_virtual_time(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(3, NULL);
	struct sockaddr_storage where;
	socklen_t wl;
	listener(net, 4, &where, &wl); /* closed with the instance */
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	struct timeval tv = {30, 0};
	assert_int_equal(sd_setsockopt(net, c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	char b;
	int64_t t0 = sd_now_ns(net);
	/* 30 s of virtual time; the test's 20 s alarm proves it was not 30 s of wall time. */
	assert_int_equal(sd_recv(net, c, &b, 1, 0), -EAGAIN);
	assert_true(sd_now_ns(net) - t0 == 30000 * MS);
	assert_int_equal(sd_sleep_ns(net, 3600000 * MS), 0); /* an hour, instantly */
	assert_true(sd_now_ns(net) - t0 == 3630000 * MS);
	close_sim(net);
}

struct late_acceptor {
	struct sd_net *net;
	int lfd, fd;
};

static void accept_after_two_seconds(void *arg)
{
	struct late_acceptor *a = arg;
	sd_sleep_ns(a->net, 2000 * MS);
	a->fd = sd_accept(a->net, a->lfd, NULL, NULL, 0);
}

/* A sim whose listener *l (backlog 0) has its one connection queued: SYNs to it are dropped. */
static struct sd_net *sim_with_full_queue(const char *opts, int *l, struct sockaddr_storage *where,
					  socklen_t *wl)
{
	struct sd_net *net = open_sim(8, opts);
	*l = listener(net, 0, where, wl);
	int c1 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c1, (struct sockaddr *)where, *wl), 0);
	return net;
}

/* Backlog 0 admits one connection; a blocking connect beyond it waits, and gets in at the
 * first SYN retry after accept made room: with linux-6.1's exponential schedule, retries go
 * at 1 s, then 2 s later (t = 3 s). (The default profile's schedule: test_sim_profile.c.) */
static void blocking_connect_waits_for_backlog_room(void **state)
{
	(void)state;
	struct sockaddr_storage where;
	socklen_t wl;
	int l;
	struct sd_net *net = sim_with_full_queue("preempt=0,profile=linux-6.1", &l, &where, &wl);
	struct late_acceptor a = {.net = net, .lfd = l, .fd = -1};
	int id = sd_spawn(net, "acceptor", accept_after_two_seconds, &a);
	int c2 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	int64_t t0 = sd_now_ns(net);
	assert_int_equal(sd_connect(net, c2, (struct sockaddr *)&where, wl), 0);
	assert_true(sd_now_ns(net) - t0 == 3000 * MS);
	assert_int_equal(sd_join(net, id), 0);
	assert_true(a.fd >= 0);
	/* c2's connection now fills the queue and nobody accepts again: a blocking connect
	 * gives up after the last retry (1+2+4+8+16+32+64 = 127 s), reported as ETIMEDOUT. */
	int c3 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	t0 = sd_now_ns(net);
	assert_int_equal(sd_connect(net, c3, (struct sockaddr *)&where, wl), -ETIMEDOUT);
	assert_true(sd_now_ns(net) - t0 == 127000 * MS);
	int err = 0;
	socklen_t el = sizeof err;
	assert_int_equal(sd_getsockopt(net, c3, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0); /* the error was reported by connect itself */
	close_sim(net);
}

/* TCP_USER_TIMEOUT ends a connect that gets no answer: at the first retransmission timer past
 * it, never at the first SYN's own timer (1 s), and each later timer ends no later than the
 * timeout (whole ticks of HZ 250). Linux 6.18 measured: 500 ms gives up at 1.016 s, 2500 ms at
 * 2.516 s; without it the connect would wait 127 s. */
static void user_timeout_ends_syn_retries(void **state)
{
	(void)state;
	static const struct {
		int ut_ms;
		int64_t gives_up;
	} cases[] = {{500, 1004 * MS}, {2500, 2500 * MS}, {1000, 1004 * MS}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage where;
		socklen_t wl;
		int l;
		struct sd_net *net =
			sim_with_full_queue("preempt=0,profile=linux-6.18", &l, &where, &wl);
		int c2 = sd_socket(net, AF_INET, SOCK_STREAM, 0), v = cases[i].ut_ms;
		assert_int_equal(
			sd_setsockopt(net, c2, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v), 0);
		int64_t t0 = sd_now_ns(net);
		assert_int_equal(sd_connect(net, c2, (struct sockaddr *)&where, wl), -ETIMEDOUT);
		assert_true(sd_now_ns(net) - t0 == cases[i].gives_up);
		sd_close(net, l);
		close_sim(net);
	}
}

static void accept_forever(void *arg)
{
	struct late_acceptor *a = arg;
	a->fd = sd_accept(a->net, a->lfd, NULL, NULL, 0);
}

/* Fuzz runs end with the server still waiting: destroying the sim then must be clean. */
static void destroy_with_actors_still_blocked(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(4, NULL);
	struct sockaddr_storage where;
	socklen_t wl;
	struct late_acceptor a = {.net = net, .fd = -1};
	a.lfd = listener(net, 4, &where, &wl);
	assert_true(sd_spawn(net, "server", accept_forever, &a) > 0);
	assert_int_equal(sd_sleep_ns(net, 10 * MS), 0); /* the server is now parked in accept */
	assert_int_equal(a.fd, -1);
	close_sim(net);
}

/* A sim closed with its listener open frees the connections queued for accept, those a reset
 * closed too: they have left the port table (LeakSanitizer judges this test). */
static void destroy_frees_queued_connections(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(4, NULL);
	struct sockaddr_storage where;
	socklen_t wl;
	struct linger reset = {1, 0};
	listener(net, 8, &where, &wl);
	for (int i = 0; i < 3; i++) {
		int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
		if (i == 2)
			break; /* the last stays connected */
		assert_int_equal(sd_setsockopt(net, c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset),
				 0);
		assert_int_equal(sd_close(net, c), 0);
	}
	close_sim(net);
}

static void segmentation_gives_partial_reads(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(5, "segment=7");
	struct sockaddr_storage where;
	socklen_t wl;
	unsigned char out[1000], in[1000];
	for (int i = 0; i < 1000; i++)
		out[i] = (unsigned char)(i * 13);
	int l = listener(net, 4, &where, &wl);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	int s = sd_accept(net, l, NULL, NULL, 0);
	assert_int_equal(sd_send(net, c, out, sizeof out, 0), 1000);
	/* Not there yet: pieces arrive over (virtual) time. */
	assert_int_equal(sd_recv(net, s, in, sizeof in, MSG_DONTWAIT), -EAGAIN);
	size_t got = 0;
	int calls = 0;
	while (got < sizeof in) {
		ssize_t k = sd_recv(net, s, in + got, sizeof in - got, 0);
		assert_true(k > 0 && k <= 7);
		got += (size_t)k;
		calls++;
	}
	assert_true(calls >= 1000 / 7);
	assert_memory_equal(in, out, sizeof out);
	assert_int_equal(sd_close(net, c), 0);
	assert_int_equal(sd_recv(net, s, in, 1, 0), 0); /* the FIN after the last piece */
	/* An RST also travels behind the bytes in flight: they are read first, then the error. */
	int c2 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c2, (struct sockaddr *)&where, wl), 0);
	int s2 = sd_accept(net, l, NULL, NULL, 0);
	assert_int_equal(sd_send(net, c2, "question", 8, 0), 8);
	assert_int_equal(sd_send(net, s2, out, 100, 0), 100); /* pieces still in flight... */
	assert_int_equal(sd_recv(net, s2, in, 1, MSG_WAITALL), 1);
	assert_int_equal(sd_close(net, s2), 0); /* ...when s2 closes with unread data: RST */
	size_t got2 = 0;
	ssize_t k2;
	while ((k2 = sd_recv(net, c2, in + got2, sizeof in - got2, 0)) > 0)
		got2 += (size_t)k2;
	assert_int_equal(got2, 100);
	assert_memory_equal(in, out, 100);
	assert_int_equal(k2, -ECONNRESET);
	close_sim(net);
}

/* Reads until n bytes came; the most one recv gave. */
static size_t largest_read(struct sd_net *net, int fd, unsigned char *in, size_t n)
{
	size_t got = 0, most = 0;
	while (got < n) {
		ssize_t k = sd_recv(net, fd, in + got, n - got, 0);
		assert_true(k > 0);
		got += (size_t)k;
		most = (size_t)k > most ? (size_t)k : most;
	}
	return most;
}

/* sd_sim_set_segment: one socket takes what arrives whole (or in its own pieces) while the
 * other direction keeps the sim's segment option. */
static void segmentation_per_receiving_socket(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(5, "segment=7");
	struct sockaddr_storage where;
	socklen_t wl;
	static unsigned char out[5000], in[5000];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (unsigned char)(i * 13);
	int l = listener(net, 4, &where, &wl);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_sim_set_segment(net, c, 0), 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	int s = sd_accept(net, l, NULL, NULL, 0);
	assert_int_equal(sd_send(net, s, out, sizeof out, 0), (ssize_t)sizeof out);
	assert_int_equal(sd_recv(net, c, in, sizeof in, MSG_DONTWAIT), (ssize_t)sizeof in);
	assert_memory_equal(in, out, sizeof out);
	assert_int_equal(sd_send(net, c, out, sizeof out, 0), (ssize_t)sizeof out);
	assert_true(largest_read(net, s, in, sizeof in) <= 7);
	assert_int_equal(sd_sim_set_segment(net, c, 3), 0);
	assert_int_equal(sd_send(net, s, out, sizeof out, 0), (ssize_t)sizeof out);
	assert_true(largest_read(net, c, in, sizeof in) <= 3);
	assert_int_equal(sd_sim_set_segment(net, c, -1), 0); /* the option's again */
	assert_int_equal(sd_send(net, s, out, sizeof out, 0), (ssize_t)sizeof out);
	size_t most = largest_read(net, c, in, sizeof in);
	assert_true(most > 3 && most <= 7);
	assert_memory_equal(in, out, sizeof out);
	assert_int_equal(sd_sim_set_segment(net, c, -2), -EINVAL);
	assert_int_equal(sd_sim_set_segment(net, c, (1 << 20) + 1), -EINVAL);
	assert_int_equal(sd_sim_set_segment(net, 999, 0), -EBADF);
	close_sim(net);
	struct sd_net real;
	assert_int_equal(sd_net_open(&real, "real", NULL), 0);
	assert_int_equal(sd_sim_set_segment(&real, 0, 0), -EOPNOTSUPP);
	sd_net_close(&real);
}

static void sigpipe_is_an_event_not_a_signal(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(9, NULL);
	struct sd_sim_stats st;
	int f = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	/* Linux raises SIGPIPE here (send on a never-connected socket); the sim counts it. */
	assert_int_equal(sd_send(net, f, "x", 1, 0), -EPIPE);
	assert_int_equal(sd_send(net, f, "x", 1, MSG_NOSIGNAL), -EPIPE);
	assert_int_equal(sd_sim_stats(net, &st), 0);
	assert_int_equal(st.sigpipes, 1);
	/* The peer closed: one send goes out, the peer's RST stores EPIPE, and the send that
	 * reports it raises SIGPIPE on Linux too. */
	struct sockaddr_storage where;
	socklen_t wl;
	int l = listener(net, 4, &where, &wl);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	assert_int_equal(sd_close(net, sd_accept(net, l, NULL, NULL, 0)), 0);
	assert_int_equal(sd_send(net, c, "x", 1, 0), 1);
	assert_int_equal(sd_send(net, c, "x", 1, 0), -EPIPE);
	assert_int_equal(sd_sim_stats(net, &st), 0);
	assert_int_equal(st.sigpipes, 2);
	/* Urgent data is not modelled: said plainly rather than sent as ordinary bytes. */
	assert_int_equal(sd_send(net, c, "x", 1, MSG_OOB), -EOPNOTSUPP);
	close_sim(net);
}

static void lowest_free_descriptor_and_limit(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(1, "nofile=3");
	assert_int_equal(sd_socket(net, AF_INET, SOCK_STREAM, 0), 3);
	assert_int_equal(sd_socket(net, AF_INET6, SOCK_STREAM, 0), 4);
	assert_int_equal(sd_socket(net, AF_INET, SOCK_STREAM, 0), 5);
	assert_int_equal(sd_socket(net, AF_INET, SOCK_STREAM, 0), -EMFILE);
	assert_int_equal(sd_close(net, 4), 0);
	assert_int_equal(sd_socket(net, AF_INET, SOCK_STREAM, 0), 4);
	close_sim(net);
	net = open_sim(1, "fdbase=100");
	assert_int_equal(sd_socket(net, AF_INET, SOCK_STREAM, 0), 100);
	close_sim(net);
}

/* The kernel variant one-role is a typed option, mainline (0) unless set, and readable. */
static void one_role_option(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(1, NULL);
	assert_int_equal(sd_sim_one_role(net), 0);
	close_sim(net);
	net = open_sim(1, "one-role=1,segment=4");
	assert_int_equal(sd_sim_one_role(net), 1);
	close_sim(net);
	net = open_sim(1, "one-role=0");
	assert_int_equal(sd_sim_one_role(net), 0);
	close_sim(net);
	struct sd_net real;
	assert_int_equal(sd_net_open(&real, "real", NULL), 0);
	assert_int_equal(sd_sim_one_role(&real), -EINVAL);
	sd_net_close(&real);
}

static void bad_options_are_rejected(void **state)
{
	(void)state;
	const char *bad[] = {"segment",  "segment=-1", "preempt=2",      "ports=5-1",
			     "nofile=0", "frobnicate", "unprivileged=1", "stack=1",
			     "one-role", "one-role=2", "one-role=yes"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sd_net net;
		struct sd_config cfg = {.options = bad[i]};
		assert_int_equal(sd_net_open(&net, "sim", &cfg), -EINVAL);
	}
	struct sd_net *net = open_sim(1, "unprivileged,ports=40000-40001");
	struct sockaddr_storage a;
	socklen_t al;
	sd_addr_parse("127.0.0.1", 80, &a, &al);
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, fd, (struct sockaddr *)&a, al), -EACCES);
	sd_addr_parse("127.0.0.1", 0, &a, &al);
	assert_int_equal(sd_bind(net, fd, (struct sockaddr *)&a, al), 0);
	int fd2 = sd_socket(net, AF_INET, SOCK_STREAM, 0),
	    fd3 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, fd2, (struct sockaddr *)&a, al), 0);
	assert_int_equal(sd_bind(net, fd3, (struct sockaddr *)&a, al),
			 -EADDRINUSE); /* range used up */
	close_sim(net);
}

/* Many simulated networks in one process do not see each other. */
static void instances_are_independent(void **state)
{
	(void)state;
	uint64_t alone, h;
	char *t1 = run_world(77, NULL, &alone);
	struct sd_net *other = open_sim(77, NULL);
	int fd = sd_socket(other, AF_INET, SOCK_STREAM, 0);
	char *t2 = run_world(77, NULL, &h);
	assert_string_equal(t1, t2);
	assert_int_equal(sd_close(other, fd), 0);
	close_sim(other);
	free(t1);
	free(t2);
}

/* ---- the scheduler support of in-process runs (sd_sim_park and friends) -------------- */

struct parker {
	struct sd_net *net;
	const void *on;
	int key, rc, order, fd;
};

static int woken_order;

static void park_on_key(void *arg)
{
	struct parker *p = arg;
	p->rc = sd_sim_park(p->net, p->on, -1, 0, "the key");
	p->order = ++woken_order;
}

static void recv_until_interrupted(void *arg)
{
	struct parker *p = arg;
	char b;
	p->rc = (int)sd_recv(p->net, p->fd, &b, 1, 0);
}

/* A keyed park ends only by its key (never by the sim's own wake-ups), earliest parked
 * first; an interrupt ends a socket call with EINTR; stopping and exiting set a status. */
static void keyed_parks_and_interrupts(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(5, NULL);
	struct parker p[3];
	int id[3], key;
	woken_order = 0;
	for (int i = 0; i < 3; i++) { /* all on one key, parked in id order */
		p[i] = (struct parker){.net = net, .on = &key};
		id[i] = sd_spawn(net, "parker", park_on_key, &p[i]);
		assert_int_equal(sd_sleep_ns(net, MS), 0);
	}
	/* socket activity wakes the sim's own waits, not these */
	int fds[2];
	struct sockaddr_storage where;
	socklen_t wl;
	int l = listener(net, 4, &where, &wl);
	fds[0] = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, fds[0], (struct sockaddr *)&where, wl), 0);
	fds[1] = sd_accept(net, l, NULL, NULL, 0);
	assert_int_equal(sd_send(net, fds[0], "x", 1, 0), 1);
	assert_int_equal(sd_sleep_ns(net, MS), 0);
	assert_int_equal(woken_order, 0);
	assert_int_equal(sd_sim_actor_status(net, id[0], NULL), 0);
	/* one at a time, the earliest parked first */
	assert_int_equal(sd_sim_unpark(net, &fds, -1), 0);
	assert_int_equal(sd_sim_unpark(net, &key, 1), 1);
	assert_int_equal(sd_join(net, id[0]), 0);
	assert_int_equal(sd_sim_unpark(net, &key, 1), 1);
	assert_int_equal(sd_join(net, id[1]), 0);
	assert_int_equal(p[0].order, 1);
	assert_int_equal(p[1].order, 2);
	assert_int_equal(p[0].rc, 0);
	/* p[2] never wakes: stopped where it waits */
	assert_int_equal(sd_sim_actor_stop(net, id[2]), 0);
	int status = 0;
	assert_int_equal(sd_sim_actor_status(net, id[2], &status), 1);
	assert_int_equal(status, -1);
	assert_int_equal(sd_sim_unpark(net, &key, -1), 0);
	assert_int_equal(sd_sim_actor_stop(net, 99), -ESRCH);
	assert_int_equal(sd_sim_actor_stop(net, 0), -EINVAL);
	/* an interrupt ends a blocked recv with EINTR */
	struct parker r = {.net = net, .fd = fds[1]};
	char b;
	assert_int_equal(sd_recv(net, fds[1], &b, 1, 0), 1); /* the "x" */
	int rid = sd_spawn(net, "reader", recv_until_interrupted, &r);
	assert_int_equal(sd_sleep_ns(net, MS), 0);
	assert_int_equal(sd_sim_interrupt(net, rid), 0);
	assert_int_equal(sd_join(net, rid), 0);
	assert_int_equal(r.rc, -EINTR);
	assert_int_equal(sd_sim_interrupt(net, rid), -ESRCH);
	assert_int_equal(sd_sim_is_actor(net), 0); /* main is not an actor */
	struct sd_net cur;
	assert_int_equal(sd_sim_current(&cur), 0);
	close_sim(net);
}

static void deadline_park(void *arg)
{
	struct parker *p = arg;
	for (;;) /* a thread that sleeps in a loop: time never stops moving */
		p->rc = sd_sim_park(p->net, &p->key, sd_now_ns(p->net) + 1000 * MS, 0, "tick");
}

/* A time limit turns "every actor waits, and only ever more waiting is due" into a
 * deadlock report, where the clock would otherwise run for ever. */
static void time_limit_ends_a_ticking_run(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(5, NULL);
	struct parker p = {.net = net};
	sd_spawn(net, "ticker", deadline_park, &p);
	assert_int_equal(sd_sim_set_time_limit(net, 60000 * MS), 0);
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_storage where;
	socklen_t wl;
	listener(net, 4, &where, &wl);
	assert_int_equal(sd_connect(net, fd, (struct sockaddr *)&where, wl), 0);
	char b;
	assert_int_equal(sd_recv(net, fd, &b, 1, 0), -EDEADLK); /* nobody ever writes */
	assert_int_equal(sd_now_ns(net), 60000 * MS);
	assert_int_equal(p.rc, -ETIMEDOUT);
	const char *r = sd_sim_deadlock_report(net);
	assert_non_null(strstr(r, "until past the time limit t=60.000000000"));
	assert_non_null(strstr(r, "ticker (actor 1) waits in tick"));
	assert_int_equal(sd_sim_set_time_limit(net, -1), 0);
	close_sim(net);
}

/* sd_sim_listening(addr): the listeners a connect to addr would reach, as connect finds them
 * (an address of the listener's or its wildcard, IPv4 reaching a dual-stack "::"), none once
 * the listener closed. */
static int reach(struct sd_net *net, const char *ip, int port)
{
	struct sockaddr_storage a;
	socklen_t al;
	assert_int_equal(sd_addr_parse(ip, (uint16_t)port, &a, &al), 0);
	return sd_sim_listening(net, (struct sockaddr *)&a, al);
}

static void listening_counts_the_listeners_a_connect_reaches(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(1, NULL);
	struct sockaddr_storage where;
	socklen_t wl;
	int l = listener(net, 4, &where, &wl); /* 127.0.0.1, ephemeral port */
	int port = ntohs(((struct sockaddr_in *)&where)->sin_port);
	assert_int_equal(reach(net, "127.0.0.1", port), 1);
	assert_int_equal(reach(net, "127.0.0.2", port), 0);
	assert_int_equal(reach(net, "::1", port), 0);
	assert_int_equal(reach(net, "127.0.0.1", port == 65535 ? 1 : port + 1), 0);
	sd_close(net, l);
	assert_int_equal(reach(net, "127.0.0.1", port), 0);
	int six = sd_socket(net, AF_INET6, SOCK_STREAM, 0); /* bound, then a dual-stack "::" */
	struct sockaddr_storage any;
	socklen_t al;
	sd_addr_parse("::", (uint16_t)port, &any, &al);
	assert_int_equal(sd_bind(net, six, (struct sockaddr *)&any, al), 0);
	assert_int_equal(reach(net, "::1", port), 0);
	assert_int_equal(sd_listen(net, six, 1), 0);
	assert_int_equal(reach(net, "::1", port), 1);
	assert_int_equal(reach(net, "127.0.0.2", port), 1);
	sd_close(net, six);
	assert_int_equal(reach(net, "::1", port), 0);
	assert_int_equal(reach(net, "127.0.0.1", 0), -EINVAL);
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	assert_int_equal(sd_sim_listening(net, (struct sockaddr *)&v4, 4), -EINVAL);
	struct sockaddr_in un = {.sin_family = AF_UNIX, .sin_port = htons(1)};
	assert_int_equal(sd_sim_listening(net, (struct sockaddr *)&un, sizeof un), -EAFNOSUPPORT);
	close_sim(net);
	struct sd_net real;
	assert_int_equal(sd_net_open(&real, "real", NULL), 0);
	assert_int_equal(sd_sim_listening(&real, (struct sockaddr *)&where, wl), -EOPNOTSUPP);
	sd_net_close(&real);
}

/* ---- readiness made new above the sim (`wake`), and the fault wrapper's use of it ------- */

/* How many of the entries of ep report now (epoll_wait without waiting). */
static int reports(struct sd_net *net, int ep)
{
	struct epoll_event out[4];
	return sd_epoll_wait(net, ep, out, 4, 0);
}

static void wake_makes_readiness_new(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(1, NULL);
	struct sockaddr_storage where;
	socklen_t wl;
	int l = listener(net, 4, &where, &wl);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	int s = sd_accept(net, l, NULL, NULL, SOCK_NONBLOCK);
	assert_int_equal(sd_send(net, c, "abcdef", 6, 0), 6);
	int in = sd_epoll_create(net, 0), out = sd_epoll_create(net, 0),
	    lt = sd_epoll_create(net, 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = s};
	assert_int_equal(sd_epoll_ctl(net, in, EPOLL_CTL_ADD, s, &ev), 0);
	ev.events = EPOLLOUT | EPOLLET;
	assert_int_equal(sd_epoll_ctl(net, out, EPOLL_CTL_ADD, s, &ev), 0);
	ev.events = EPOLLIN;
	assert_int_equal(sd_epoll_ctl(net, lt, EPOLL_CTL_ADD, s, &ev), 0);
	assert_int_equal(reports(net, in), 1);
	assert_int_equal(reports(net, out), 1);
	char b[4];
	assert_int_equal(sd_recv(net, s, b, 2, 0), 2); /* a read that leaves bytes queued */
	assert_int_equal(reports(net, in), 0);         /* no edge: nothing arrived */
	assert_int_equal(sd_wake(net, s, POLLIN), 0);
	assert_int_equal(reports(net, in), 1); /* the rest counts as arriving now */
	assert_int_equal(reports(net, in), 0); /* once */
	assert_int_equal(reports(net, out), 0);
	assert_int_equal(sd_wake(net, s, POLLOUT), 0);
	assert_int_equal(reports(net, out), 1); /* room counts as freed now */
	assert_int_equal(reports(net, in), 0);
	assert_int_equal(sd_wake(net, s, POLLIN | POLLOUT), 0);
	assert_int_equal(reports(net, in) + reports(net, out), 2);
	assert_int_equal(reports(net, lt), 1); /* level-triggered reports as it did */
	assert_int_equal(sd_recv(net, s, b, 4, 0), 4);
	assert_int_equal(sd_wake(net, s, POLLIN), 0);
	assert_int_equal(reports(net, in), 0); /* nothing readable: nothing to report */
	/* on a listener, the connections left queued count as arriving */
	int c2 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c2, (struct sockaddr *)&where, wl), 0);
	ev.events = EPOLLIN | EPOLLET, ev.data.fd = l;
	assert_int_equal(sd_epoll_ctl(net, lt, EPOLL_CTL_ADD, l, &ev), 0);
	assert_int_equal(reports(net, lt), 1); /* l on arming; s level-triggered is quiet */
	assert_int_equal(reports(net, lt), 0);
	assert_int_equal(sd_wake(net, l, POLLIN), 0);
	assert_int_equal(reports(net, lt), 1);
	/* bad calls */
	assert_int_equal(sd_wake(net, s, 0), -EINVAL);
	assert_int_equal(sd_wake(net, s, POLLPRI), -EINVAL);
	assert_int_equal(sd_wake(net, 999, POLLIN), -EBADF);
	assert_int_equal(sd_wake(net, -1, POLLIN), -EBADF);
	assert_int_equal(sd_wake(net, in, POLLIN), -EBADF); /* an epoll instance */
	assert_int_equal(sd_note(net, "two\nlines"), -EINVAL);
	assert_int_equal(sd_note(net, NULL), -EINVAL);
	assert_int_equal(sd_note(net, "untraced"), 0);
	close_sim(net);
}

/* A server behind the fault wrapper: an edge-triggered echo of ECHO_LEN bytes on a non-blocking
 * socket, trusting epoll(7) (a short call or EAGAIN means "wait for the next edge"). */
#define ECHO_LEN 40

struct faulty_world {
	struct sd_net *net, *w;
	struct sockaddr_storage where;
	socklen_t wl;
	int l;
	size_t echoed;
};

static void et_echo_server(void *arg)
{
	struct faulty_world *fw = arg;
	struct sd_net *w = fw->w;
	char buf[ECHO_LEN];
	size_t got = 0, sent = 0;
	int s = sd_accept(w, fw->l, NULL, NULL, SOCK_NONBLOCK), ep = sd_epoll_create(w, 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = s}, out;
	sd_epoll_ctl(w, ep, EPOLL_CTL_ADD, s, &ev);
	for (int round = 0; round < 200 && sent < ECHO_LEN; round++) {
		if (sd_epoll_wait(w, ep, &out, 1, 1000) != 1)
			break;
		for (ssize_t k; got < ECHO_LEN; got += (size_t)k)
			if ((k = sd_recv(w, s, buf + got, ECHO_LEN - got, 0)) <= 0 ||
			    (size_t)k < ECHO_LEN - got) {
				got += k > 0 ? (size_t)k : 0;
				break;
			}
		for (ssize_t k; sent < got; sent += (size_t)k)
			if ((k = sd_send(w, s, buf + sent, got - sent, 0)) <= 0 ||
			    (size_t)k < got - sent) {
				sent += k > 0 ? (size_t)k : 0;
				break;
			}
	}
	fw->echoed = sent;
	sd_close(w, s), sd_close(w, ep);
}

static void echo_client(void *arg)
{
	struct faulty_world *fw = arg;
	char msg[ECHO_LEN], back[ECHO_LEN];
	for (int i = 0; i < ECHO_LEN; i++)
		msg[i] = (char)('a' + i % 26);
	int c = sd_socket(fw->net, AF_INET, SOCK_STREAM, 0);
	if (sd_connect(fw->net, c, (struct sockaddr *)&fw->where, fw->wl) == 0 &&
	    sd_send(fw->net, c, msg, sizeof msg, 0) == ECHO_LEN)
		sd_recv(fw->net, c, back, sizeof back, MSG_WAITALL);
	sd_close(fw->net, c);
}

/* Runs the echo with the fault wrapper's log and the trace in one stream, the trace wrapper
 * between the fault wrapper and the sim; returns the text. */
static char *run_faulty_echo(uint64_t seed, uint64_t *hash, size_t *echoed)
{
	struct sd_net *sim = open_sim(seed, NULL), traced, *net = &traced, w;
	struct faulty_world fw = {.net = net, .w = &w};
	struct sd_fault_spec spec;
	char err[128], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(
		sd_fault_parse("short-read=4,short-write=3,eagain=0.3", &spec, err, sizeof err), 0);
	assert_int_equal(sd_trace_wrap(&traced, sim, f), 0);
	assert_int_equal(sd_fault_wrap(&w, net, &spec, seed, f), 0);
	fw.l = listener(net, 4, &fw.where, &fw.wl);
	int ids[2] = {sd_spawn(net, "server", et_echo_server, &fw),
		      sd_spawn(net, "client", echo_client, &fw)};
	assert_int_equal(sd_join(net, ids[0]), 0);
	assert_int_equal(sd_join(net, ids[1]), 0);
	*hash = sd_trace_hash(net);
	*echoed = fw.echoed;
	sd_net_close(&w);
	sd_net_close(&traced);
	close_sim(sim);
	fclose(f);
	return text;
}

/* The line of text that starts at or after p and contains `what`, or NULL (also for p NULL). */
static const char *line_with(const char *p, const char *what)
{
	const char *hit = p ? strstr(p, what) : NULL;
	if (!hit)
		return NULL;
	while (hit > p && hit[-1] != '\n')
		hit--;
	return hit;
}

/* 1 when the line at p contains what. */
static int in_line(const char *p, const char *what)
{
	const char *hit = p ? strstr(p, what) : NULL, *end = p ? strchr(p, '\n') : NULL;
	return hit && (!end || hit < end);
}

/* The line after the one at p, or NULL. */
static const char *next_line(const char *p)
{
	const char *end = p ? strchr(p, '\n') : NULL;
	return end ? end + 1 : NULL;
}

/* Each fault shows in the trace where it was decided: its log line, then its trace line, then
 * the call it changed, then the readiness made new; the same seed gives the same text. */
static void fault_decisions_in_the_trace_in_order(void **state)
{
	(void)state;
	uint64_t h1, h2, h3;
	size_t e1, e2, e3;
	char *a = run_faulty_echo(5, &h1, &e1), *b = run_faulty_echo(5, &h2, &e2);
	char *c = run_faulty_echo(6, &h3, &e3);
	assert_int_equal(e1, ECHO_LEN);
	assert_int_equal(e3, ECHO_LEN);
	assert_string_equal(a, b);
	assert_true(h1 == h2 && h1 != h3);
	assert_string_not_equal(a, c);
	const char *json = line_with(a, "\"op\":\"recv\",\"fault\":\"short-read\"");
	assert_non_null(json);
	const char *note = next_line(json), *call = next_line(note), *wake = next_line(call);
	if (!in_line(note, " server fault a1 call ") || !in_line(note, " recv(4): short-read, ") ||
	    !in_line(call, " server recv(4, ") || !in_line(wake, " server wake(4, POLLIN) = 0"))
		fail_msg("a short read out of order in the trace:\n%.600s", json);
	const char *eagain = line_with(a, "): eagain (EAGAIN)");
	assert_non_null(eagain); /* an EAGAIN is decided, never forwarded: its wake follows */
	assert_true(in_line(next_line(eagain), " server wake("));
	assert_non_null(line_with(a, "): short-write, "));
	assert_non_null(strstr(a, ", POLLOUT) = 0\n"));
	free(a), free(b), free(c);
}

/* The bytes the program has allocated now (ASan's count under ASan, glibc's otherwise). */
static size_t allocated_bytes(void)
{
#ifdef __SANITIZE_ADDRESS__
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

static void tick(void *arg)
{
	struct sd_net *net = arg;
	sd_sleep_ns(net, MS);
}

/* A sim that lives long (a persistent fuzzing campaign spawns clients for every input) holds
 * the actors it has now, not all it ever ran: its memory stays flat (it grew by an actor's
 * record for every one, and the scheduler's scans with them). Ids keep counting, and a
 * forgotten actor answers as a joined one with status 0. */
static void a_long_lived_sim_forgets_joined_actors(void **state)
{
	(void)state;
	struct sd_net *net = open_sim(3, "preempt=0.25");
	int key;
	struct parker live = {.net = net, .on = &key};
	int live_id = sd_spawn(net, "parker", park_on_key, &live);
	int first = sd_spawn(net, "tick", tick, net);
	assert_int_equal(sd_join(net, first), 0);
	for (int i = 0; i < 500; i++) /* the tables at their working size */
		assert_int_equal(sd_join(net, sd_spawn(net, "tick", tick, net)), 0);
	size_t before = allocated_bytes();
	int id = 0;
	for (int i = 0; i < 20000; i++) {
		id = sd_spawn(net, "tick", tick, net);
		assert_int_equal(sd_join(net, id), 0);
	}
	/* it was 20000 actor records, over 20 MiB */
	assert_true(allocated_bytes() < before + 256 * 1024);
	assert_int_equal(id, first + 20500); /* never an id twice */
	int status = -5;
	assert_int_equal(sd_join(net, first), -ESRCH);
	assert_int_equal(sd_sim_actor_status(net, first, &status), 1);
	assert_int_equal(status, 0);
	assert_int_equal(sd_sim_actor_stop(net, first), 0);
	assert_int_equal(sd_sim_interrupt(net, first), -ESRCH);
	assert_int_equal(sd_sim_detach(net, first), -ESRCH);
	assert_int_equal(sd_sim_actor_stop(net, id + 1), -ESRCH);
	assert_int_equal(sd_sim_actor_status(net, id + 1, NULL), -ESRCH);
	/* the actor parked all along is still found, and runs */
	assert_int_equal(sd_sim_actor_status(net, live_id, NULL), 0);
	assert_int_equal(sd_sim_unpark(net, &key, -1), 1);
	assert_int_equal(sd_join(net, live_id), 0);
	assert_int_equal(live.rc, 0);
	close_sim(net);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(same_seed_same_trace),
	T(same_seed_same_trace_with_epoll),
	T(different_seeds_explore_interleavings),
	T(deadlock_is_reported),
	T(epoll_closed_while_waited),
	T(rcvtimeo_runs_on_virtual_time),
	T(blocking_connect_waits_for_backlog_room),
	T(user_timeout_ends_syn_retries),
	T(destroy_with_actors_still_blocked),
	T(destroy_frees_queued_connections),
	T(segmentation_gives_partial_reads),
	T(segmentation_per_receiving_socket),
	T(sigpipe_is_an_event_not_a_signal),
	T(lowest_free_descriptor_and_limit),
	T(one_role_option),
	T(bad_options_are_rejected),
	T(instances_are_independent),
	T(keyed_parks_and_interrupts),
	T(time_limit_ends_a_ticking_run),
	T(listening_counts_the_listeners_a_connect_reaches),
	T(wake_makes_readiness_new),
	T(fault_decisions_in_the_trace_in_order),
	T(a_long_lived_sim_forgets_joined_actors),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
