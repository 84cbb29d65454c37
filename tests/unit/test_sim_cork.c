/* The sim's TCP_CORK, MSG_MORE and TCP_NOTSENT_LOWAT (src/backend/sim_cork.c), in virtual time. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <sockdrill/addr.h>
#include <sockdrill/sim.h>

#include "sd_test.h"

const char sd_unit_module[] = "sim_cork";

#define MS    1000000LL
#define PROBE (204 * MS) /* TCP_RTO_MIN and a tick at HZ 250 */

struct conn {
	struct sd_net *net;
	int l, c, s;
};

/* A sim with a listener (corked when lcork), a client c connected to it and the accepted s. */
static void conn_open(struct conn *k, const char *options, int lcork)
{
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	int one = 1;
	k->net = sd_test_open_sim(7, options);
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	k->l = sd_socket(k->net, AF_INET, SOCK_STREAM, 0);
	if (lcork)
		assert_int_equal(sd_setsockopt(k->net, k->l, IPPROTO_TCP, TCP_CORK, &one, 4), 0);
	assert_int_equal(sd_bind(k->net, k->l, (struct sockaddr *)&any, al), 0);
	assert_int_equal(sd_listen(k->net, k->l, 4), 0);
	assert_int_equal(sd_getsockname(k->net, k->l, (struct sockaddr *)&where, &wl), 0);
	k->c = sd_socket(k->net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(k->net, k->c, (struct sockaddr *)&where, wl), 0);
	k->s = sd_accept(k->net, k->l, NULL, NULL, 0);
	assert_true(k->s >= 0);
}

static void opt(struct conn *k, int fd, int name, int v)
{
	assert_int_equal(sd_setsockopt(k->net, fd, IPPROTO_TCP, name, &v, sizeof v), 0);
}

static int getopt_int(struct conn *k, int fd, int name)
{
	int v = -1;
	socklen_t l = sizeof v;
	assert_int_equal(sd_getsockopt(k->net, fd, IPPROTO_TCP, name, &v, &l), 0);
	return v;
}

static short revents(struct sd_net *net, int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	assert_true(sd_poll(net, &p, 1, 0) >= 0);
	return p.revents;
}

static long inq(struct conn *k, int fd) { return sd_sim_queued(k->net, fd, 0); }
static long outq(struct conn *k, int fd) { return sd_sim_queued(k->net, fd, 1); }

/* The timer is armed by the first held byte and not again by later ones; the next hold after
 * it fired arms it anew. */
static void probe_timer_sends_held_bytes_once(void **state)
{
	(void)state;
	struct conn k;
	char b[16];
	conn_open(&k, NULL, 0);
	opt(&k, k.c, TCP_CORK, 1);
	int64_t t0 = sd_now_ns(k.net);
	assert_int_equal(sd_send(k.net, k.c, "a", 1, 0), 1);
	assert_int_equal(outq(&k, k.c), 1);
	assert_int_equal(inq(&k, k.s), 0);
	assert_int_equal(revents(k.net, k.s, POLLIN | POLLOUT), POLLOUT);
	assert_int_equal(revents(k.net, k.c, POLLIN | POLLOUT), POLLOUT);
	assert_int_equal(sd_sleep_ns(k.net, 100 * MS), 0);
	assert_int_equal(sd_send(k.net, k.c, "b", 1, 0), 1);
	assert_int_equal(sd_recv(k.net, k.s, b, sizeof b, 0), 2);
	assert_memory_equal(b, "ab", 2);
	assert_true(sd_now_ns(k.net) - t0 == PROBE);
	assert_int_equal(outq(&k, k.c), 0);
	int64_t t1 = sd_now_ns(k.net);
	assert_int_equal(sd_send(k.net, k.c, "c", 1, 0), 1);
	assert_int_equal(sd_recv(k.net, k.s, b, sizeof b, 0), 1);
	assert_true(sd_now_ns(k.net) - t1 == PROBE);
	assert_int_equal(getopt_int(&k, k.c, TCP_CORK), 1);
	sd_test_close_sim(k.net);
}

/* Corked, whole segments (TCP_MAXSEG) leave and the rest waits; MSG_MORE alone lets the rest
 * follow them. */
static void full_segments_leave(void **state)
{
	(void)state;
	static char big[40000];
	struct conn k;
	conn_open(&k, NULL, 0);
	int mss = getopt_int(&k, k.c, TCP_MAXSEG);
	assert_int_equal(mss, 32741);
	opt(&k, k.c, TCP_CORK, 1);
	assert_int_equal(sd_send(k.net, k.c, big, sizeof big, 0), (ssize_t)sizeof big);
	assert_int_equal(inq(&k, k.s), mss);
	assert_int_equal(outq(&k, k.c), (long)sizeof big - mss);
	/* bytes added to a hold below a segment stay held; reaching it sends one more */
	assert_int_equal(sd_send(k.net, k.c, big, (size_t)mss - 7259 - 1, 0), mss - 7259 - 1);
	assert_int_equal(inq(&k, k.s), mss);
	assert_int_equal(sd_send(k.net, k.c, big, 1, 0), 1);
	assert_int_equal(inq(&k, k.s), 2 * mss);
	assert_int_equal(outq(&k, k.c), 0);
	opt(&k, k.c, TCP_CORK, 0);
	assert_int_equal(sd_send(k.net, k.c, big, sizeof big, MSG_MORE), (ssize_t)sizeof big);
	assert_int_equal(inq(&k, k.s), 2 * mss + (long)sizeof big);
	/* below a segment, MSG_MORE holds */
	assert_int_equal(sd_send(k.net, k.c, big, 10, MSG_MORE), 10);
	assert_int_equal(outq(&k, k.c), 10);
	assert_int_equal(sd_send(k.net, k.c, big, 5, MSG_DONTWAIT), 5);
	assert_int_equal(outq(&k, k.c), 0);
	sd_test_close_sim(k.net);
}

/* Uncorking, TCP_NODELAY 1 and the FIN push held bytes at once; TCP_NODELAY 0 does not. */
static void pushes(void **state)
{
	(void)state;
	struct conn k;
	char b[16];
	conn_open(&k, NULL, 0);
	int64_t t0 = sd_now_ns(k.net);
	opt(&k, k.c, TCP_CORK, 9);
	assert_int_equal(getopt_int(&k, k.c, TCP_CORK), 1);
	assert_int_equal(sd_send(k.net, k.c, "abc", 3, 0), 3);
	assert_int_equal(inq(&k, k.s), 0);
	opt(&k, k.c, TCP_CORK, 0);
	assert_int_equal(inq(&k, k.s), 3);
	assert_int_equal(sd_send(k.net, k.c, "de", 2, MSG_MORE), 2);
	opt(&k, k.c, TCP_NODELAY, 0);
	assert_int_equal(inq(&k, k.s), 3);
	opt(&k, k.c, TCP_NODELAY, 1);
	assert_int_equal(inq(&k, k.s), 5);
	opt(&k, k.c, TCP_CORK, 1);
	assert_int_equal(sd_send(k.net, k.c, "f", 1, 0), 1); /* corked beats TCP_NODELAY */
	assert_int_equal(inq(&k, k.s), 5);
	assert_int_equal(sd_shutdown(k.net, k.c, SHUT_WR), 0);
	assert_int_equal(sd_recv(k.net, k.s, b, sizeof b, MSG_WAITALL), 6);
	assert_memory_equal(b, "abcdef", 6);
	assert_int_equal(sd_recv(k.net, k.s, b, sizeof b, 0), 0);
	assert_true(sd_now_ns(k.net) == t0); /* nothing waited for the timer */
	sd_test_close_sim(k.net);
}

/* A reset loses held bytes: the reader sees the reset, never them. */
static void reset_discards_held(void **state)
{
	(void)state;
	struct conn k;
	char b[16];
	struct linger lg = {1, 0};
	conn_open(&k, NULL, 0);
	opt(&k, k.c, TCP_CORK, 1);
	assert_int_equal(sd_send(k.net, k.c, "lost", 4, 0), 4);
	assert_int_equal(sd_setsockopt(k.net, k.c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	assert_int_equal(sd_close(k.net, k.c), 0);
	assert_int_equal(inq(&k, k.s), 0);
	assert_int_equal(sd_recv(k.net, k.s, b, sizeof b, 0), -ECONNRESET);
	assert_int_equal(sd_sleep_ns(k.net, 2 * PROBE), 0);
	assert_int_equal(sd_recv(k.net, k.s, b, sizeof b, MSG_DONTWAIT), 0);
	sd_test_close_sim(k.net);
}

/* An accepted socket is corked when its listener is (tp->nonagle is copied). */
static void accepted_socket_inherits_cork(void **state)
{
	(void)state;
	struct conn k;
	char b[4];
	conn_open(&k, NULL, 1);
	assert_int_equal(getopt_int(&k, k.s, TCP_CORK), 1);
	assert_int_equal(getopt_int(&k, k.c, TCP_CORK), 0);
	int64_t t0 = sd_now_ns(k.net);
	assert_int_equal(sd_send(k.net, k.s, "x", 1, 0), 1);
	assert_int_equal(sd_recv(k.net, k.c, b, sizeof b, 0), 1);
	assert_true(sd_now_ns(k.net) - t0 == PROBE);
	sd_test_close_sim(k.net);
}

/* Fills c toward a reader that never reads: what non-blocking sends queued. */
static long fill(struct conn *k)
{
	static char chunk[16384];
	long total = 0;
	ssize_t n;
	while ((n = sd_send(k->net, k->c, chunk, sizeof chunk, MSG_DONTWAIT)) > 0)
		total += n;
	assert_int_equal(n, -EAGAIN);
	return total;
}

/* TCP_NOTSENT_LOWAT, the socket's or the profile's (notsent_lowat=N): sends stop once the
 * bytes not sent reach it, poll reports POLLOUT only below half of it. */
static void notsent_lowat_limits_the_queue(void **state)
{
	(void)state;
	struct conn k;
	conn_open(&k, NULL, 0);
	long plain = fill(&k);
	assert_true(plain > 1000000);
	sd_test_close_sim(k.net);

	conn_open(&k, NULL, 0);
	opt(&k, k.c, TCP_NOTSENT_LOWAT, 1);
	long marked = fill(&k);
	assert_true(marked < 300000);
	assert_true(outq(&k, k.c) >= 1);
	assert_int_equal(revents(k.net, k.c, POLLOUT), 0);
	sd_test_close_sim(k.net);

	conn_open(&k, "notsent_lowat=100000", 0);
	long prof = fill(&k);
	assert_true(prof > marked && prof < plain);
	assert_true(outq(&k, k.c) >= 100000);
	assert_int_equal(revents(k.net, k.c, POLLOUT), 0);
	/* the socket's own value wins over the profile's */
	assert_int_equal(getopt_int(&k, k.c, TCP_NOTSENT_LOWAT), 0);
	sd_test_close_sim(k.net);

	/* held bytes are not sent: twice 100 is not below 200, but is below 201 */
	conn_open(&k, NULL, 0);
	opt(&k, k.c, TCP_NOTSENT_LOWAT, 200);
	opt(&k, k.c, TCP_CORK, 1);
	static char hundred[100];
	assert_int_equal(sd_send(k.net, k.c, hundred, sizeof hundred, 0), 100);
	assert_int_equal(revents(k.net, k.c, POLLOUT), 0);
	opt(&k, k.c, TCP_NOTSENT_LOWAT, 201);
	assert_int_equal(revents(k.net, k.c, POLLOUT), POLLOUT);
	sd_test_close_sim(k.net);

	/* past the mark, a send still fills the held skb (up to a segment), as Linux appends to
	 * its last skb unchecked: measured, 10 + 10 + 30000 + 5000 corked with a mark of 1 all
	 * went, 32741 of them as a segment */
	static char many[30000];
	conn_open(&k, NULL, 0);
	opt(&k, k.c, TCP_NOTSENT_LOWAT, 1);
	opt(&k, k.c, TCP_CORK, 1);
	assert_int_equal(sd_send(k.net, k.c, many, 10, MSG_DONTWAIT), 10);
	assert_int_equal(sd_send(k.net, k.c, many, 10, MSG_DONTWAIT), 10);
	assert_int_equal(sd_send(k.net, k.c, many, 30000, MSG_DONTWAIT), 30000);
	assert_int_equal(sd_send(k.net, k.c, many, 5000, MSG_DONTWAIT), 5000);
	assert_int_equal(inq(&k, k.s), 32741);
	assert_int_equal(outq(&k, k.c), 35020 - 32741);
	sd_test_close_sim(k.net);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(probe_timer_sends_held_bytes_once),
	T(full_segments_leave),
	T(pushes),
	T(reset_discards_held),
	T(accepted_socket_inherits_cork),
	T(notsent_lowat_limits_the_queue),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
