/* The trace wrapper over the backend under test: one line per call, in the same words on sim
 * and on real (only the times differ, which no test here reads), notes in order, the hash. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include <sockdrill/fault.h>
#include <sockdrill/trace.h>

#include "sd_test.h"

const char sd_unit_module[] = "trace";

struct traced {
	struct sd_net t;
	char *text;
	size_t len;
	FILE *f;
};

static void trace_open(struct sd_net *inner, struct traced *x)
{
	x->text = NULL;
	x->f = open_memstream(&x->text, &x->len);
	assert_non_null(x->f);
	assert_int_equal(sd_trace_wrap(&x->t, inner, x->f), 0);
}

/* Closes the wrapper; the text stays in x->text (the caller frees it). */
static void trace_close(struct traced *x)
{
	sd_net_close(&x->t);
	fclose(x->f);
}

/* The lines without their times, each checked to start with one ("SEC.NSEC "), and the
 * times never going back. A copy the caller frees. */
static char *untimed(const char *text)
{
	char *out = calloc(1, strlen(text) + 1), *o = out;
	double last = 0;
	assert_non_null(out);
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n'), *sp = strchr(p, ' ');
		assert_non_null(eol);
		assert_true(sp && sp < eol && sp - p > 10 && p[sp - p - 10] == '.');
		double t = strtod(p, NULL);
		assert_true(t >= last);
		last = t;
		memcpy(o, sp + 1, (size_t)(eol - sp));
		o += eol - sp;
		p = eol + 1;
	}
	return out;
}

static uint64_t fnv(const char *text)
{
	uint64_t h = 0;
	for (const char *p = text; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

static void lines_name_each_call_and_result(void **state)
{
	struct traced x;
	int l, c, s, one = 1, type = 0;
	socklen_t tl = sizeof type;
	char buf[16], want[1024];
	trace_open(*state, &x);
	struct sd_net *net = &x.t;
	int port = sd_test_pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "hello", 5, MSG_NOSIGNAL), 5);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, 0), 5);
	assert_int_equal(sd_setsockopt(net, s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	assert_int_equal(sd_getsockopt(net, s, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
	assert_int_equal(sd_shutdown(net, c, SHUT_WR), 0);
	assert_int_equal(sd_recv(net, s, buf, sizeof buf, 0), 0);
	assert_int_equal(sd_close(net, c), 0);
	assert_int_equal(sd_close(net, c), -EBADF);
	sd_close(net, s), sd_close(net, l);
	trace_close(&x);
	snprintf(want, sizeof want,
		 "main socket(AF_INET, SOCK_STREAM) = %d\n"
		 "main bind(%d, 127.0.0.1:0) = 0\n"
		 "main listen(%d, 8) = 0\n"
		 "main getsockname(%d) = 0\n"
		 "main socket(AF_INET, SOCK_STREAM) = %d\n"
		 "main connect(%d, 127.0.0.1:%d) = 0\n"
		 "main accept(%d) = %d\n"
		 "main send(%d, 5 bytes, 0x4000) = 5\n"
		 "main recv(%d, 16, 0x0) = 5\n"
		 "main setsockopt(%d, 1, 2, 1) = 0\n"
		 "main getsockopt(%d, 1, 3) -> 1 = 0\n"
		 "main shutdown(%d, 1) = 0\n"
		 "main recv(%d, 16, 0x0) = 0\n"
		 "main close(%d) = 0\n"
		 "main close(%d) = -EBADF\n"
		 "main close(%d) = 0\n"
		 "main close(%d) = 0\n",
		 l, l, l, l, c, c, port, l, s, c, s, s, s, c, s, c, c, s, l);
	char *got = untimed(x.text);
	assert_string_equal(got, want);
	free(got);
	free(x.text);
}

/* How bind and connect show their address: as the socket reads it (an IPv4-mapped one on an
 * IPv6 socket as IPv4), the zero endpoint for one the call refused, "?" for none. */
static void addresses_as_the_socket_reads_them(void **state)
{
	struct traced x;
	struct sockaddr_in6 m = {.sin6_family = AF_INET6};
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr un = {.sa_family = AF_UNSPEC};
	trace_open(*state, &x);
	struct sd_net *net = &x.t;
	int v4 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	/* an IPv6 address on an IPv4 socket: refused, the zero endpoint */
	m.sin6_addr = in6addr_loopback;
	assert_int_equal(sd_bind(net, v4, (struct sockaddr *)&m, sizeof m), -EAFNOSUPPORT);
	assert_int_equal(sd_bind(net, 999, (struct sockaddr *)&in, sizeof in), -EBADF);
	assert_int_equal(sd_connect(net, v4, NULL, 0), -EINVAL);
	assert_int_equal(sd_connect(net, v4, &un, sizeof un), 0); /* a disconnect */
	sd_close(net, v4);
	int v6 = sd_socket(net, AF_INET6, SOCK_STREAM, 0);
	if (v6 >= 0) { /* a host without IPv6 has no line to check */
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
		assert_int_equal(sd_bind(net, v6, (struct sockaddr *)&m, sizeof m), 0);
		sd_close(net, v6);
	}
	trace_close(&x);
	char want[1024];
	int n = snprintf(want, sizeof want,
			 "main socket(AF_INET, SOCK_STREAM) = %d\n"
			 "main bind(%d, [::]:0) = -EAFNOSUPPORT\n"
			 "main bind(999, ?) = -EBADF\n"
			 "main connect(%d, ?) = -EINVAL\n"
			 "main connect(%d, ?) = 0\n"
			 "main close(%d) = 0\n",
			 v4, v4, v4, v4, v4);
	if (v6 >= 0)
		snprintf(want + n, sizeof want - (size_t)n,
			 "main socket(AF_INET6, SOCK_STREAM) = %d\n"
			 "main bind(%d, 127.0.0.1:0) = 0\n"
			 "main close(%d) = 0\n",
			 v6, v6, v6);
	char *got = untimed(x.text);
	assert_string_equal(got, want);
	free(got);
	free(x.text);
}

/* Under a fault wrapper, a fault's note is the line before the call it changed. */
static void notes_come_before_the_call_they_change(void **state)
{
	struct traced x;
	struct sd_net faulty;
	struct sd_fault_spec spec;
	char err[128], buf[64], want[128];
	int l, c, s;
	trace_open(*state, &x);
	assert_int_equal(sd_fault_parse("short-read=1", &spec, err, sizeof err), 0);
	assert_int_equal(sd_fault_wrap(&faulty, &x.t, &spec, 1, NULL), 0);
	sd_test_pair(&faulty, &l, &c, &s);
	assert_int_equal(sd_send(&faulty, c, "abc", 3, MSG_NOSIGNAL), 3);
	assert_int_equal(sd_recv(&faulty, s, buf, sizeof buf, 0), 1);
	assert_int_equal(sd_note(&faulty, "two\nlines"), -EINVAL); /* no line */
	sd_close(&faulty, c), sd_close(&faulty, s), sd_close(&faulty, l);
	sd_net_close(&faulty);
	trace_close(&x);
	char *got = untimed(x.text);
	snprintf(want, sizeof want, "main recv(%d, 1, 0x0) = 1\n", s);
	const char *call = strstr(got, want), *note = strstr(got, "main fault a1 call ");
	assert_non_null(call);
	assert_non_null(note);
	assert_ptr_equal(strchr(note, '\n') + 1, call); /* the note, then its call */
	assert_null(strstr(got, "two"));
	free(got);
	free(x.text);
}

/* The hash is FNV-1a of the lines written; without a file the lines are hashed all the same,
 * and a wrapper's question (wake on -1) makes none. */
static void hash_is_of_the_lines(void **state)
{
	struct traced x;
	struct sd_net quiet;
	trace_open(*state, &x);
	assert_int_equal(sd_trace_wrap(&quiet, &x.t, NULL), 0); /* a trace over a trace */
	int fd = sd_socket(&quiet, AF_INET, SOCK_STREAM, 0);
	int rc = sd_wake(&quiet, -1, POLLIN); /* forwarded, no line */
	assert_true(rc == -EBADF || rc == -EOPNOTSUPP);
	assert_int_equal(sd_note(&quiet, "a note"), 0);
	sd_close(&quiet, fd);
	uint64_t quiet_hash = sd_trace_hash(&quiet), hash = sd_trace_hash(&x.t);
	sd_net_close(&quiet);
	trace_close(&x);
	assert_int_equal(hash, fnv(x.text));
	/* both saw the same three lines (the note goes down too); on the sim at the same times */
	if (!strcmp(sd_test_backend, "sim"))
		assert_int_equal(quiet_hash, hash);
	else
		assert_true(quiet_hash != 0);
	char *got = untimed(x.text);
	char want[256];
	snprintf(want, sizeof want,
		 "main socket(AF_INET, SOCK_STREAM) = %d\nmain a note\nmain close(%d) = 0\n", fd,
		 fd);
	assert_string_equal(got, want);
	free(got);
	free(x.text);
}

/* The wrapper's API, and the sim's own API through the wrapper. */
static void unwrap_and_the_backends_api(void **state)
{
	struct sd_net *net = *state, t;
	struct sd_sim_stats st;
	assert_int_equal(sd_trace_wrap(NULL, net, NULL), -EINVAL);
	assert_int_equal(sd_trace_wrap(&t, NULL, NULL), -EINVAL);
	assert_int_equal(sd_trace_wrap(&t, net, NULL), 0);
	assert_ptr_equal(sd_trace_unwrap(&t), net);
	assert_null(sd_trace_unwrap(net));
	assert_int_equal(sd_trace_hash(net), 0);
	assert_int_equal(sd_trace_hash(&t), 0); /* no line yet */
	assert_int_equal(sd_caps(&t), sd_caps(net));
	assert_string_equal(sd_actor_name(&t), sd_actor_name(net));
	int fd = sd_socket(&t, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (!strcmp(sd_test_backend, "sim")) { /* sd_sim_* take the trace of a sim */
		assert_int_equal(sd_sim_stats(&t, &st), 0);
		assert_int_equal(st.open_fds, 1);
	} else {
		assert_int_equal(sd_sim_stats(&t, &st), -EINVAL);
	}
	sd_close(&t, fd);
	assert_true(sd_trace_hash(&t) != 0);
	sd_net_close(&t);
}

/* On the sim, the same seed and calls give the same trace, byte for byte. */
static void same_seed_same_trace(void **state)
{
	(void)state;
	char *text[2];
	for (int i = 0; i < 2; i++) {
		struct sd_net *sim = sd_test_open_sim(5, "segment=3");
		struct traced x;
		int l, c, s;
		char buf[64];
		trace_open(sim, &x);
		sd_test_pair(&x.t, &l, &c, &s);
		sd_send(&x.t, c, "0123456789", 10, MSG_NOSIGNAL);
		while (sd_recv(&x.t, s, buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
		sd_sleep_ns(&x.t, 1000000);
		trace_close(&x);
		sd_test_close_sim(sim);
		text[i] = x.text;
	}
	assert_string_equal(text[0], text[1]);
	assert_non_null(strstr(text[0], " main sleep(1000000 ns) = 0\n"));
	free(text[0]);
	free(text[1]);
}

/* A sink's events say what the lines say: actor, call, text, descriptor, result, with the
 * step set before the call, the time before and after it, and the bytes moved. The lines and
 * their hash do not change with a sink. */
struct seen {
	int n;
	char call[32][16], text[32][96], actor[32][16], data[32][16];
	int fd[32], step[32];
	long result[32];
	size_t ndata[32];
	int64_t start[32], end[32];
};

static void keep(void *ctx, const struct sd_trace_event *ev)
{
	struct seen *s = ctx;
	int i = s->n < 32 ? s->n++ : 31;
	snprintf(s->call[i], sizeof s->call[i], "%s", ev->call);
	snprintf(s->text[i], sizeof s->text[i], "%s", ev->text);
	snprintf(s->actor[i], sizeof s->actor[i], "%s", ev->actor);
	snprintf(s->data[i], sizeof s->data[i], "%.*s", (int)(ev->ndata < 15 ? ev->ndata : 15),
		 ev->data ? (const char *)ev->data : "");
	s->fd[i] = ev->fd, s->step[i] = ev->step, s->result[i] = ev->result;
	s->ndata[i] = ev->ndata, s->start[i] = ev->start_ns, s->end[i] = ev->end_ns;
}

static void events_say_what_the_lines_say(void **state)
{
	struct traced x;
	struct seen *seen = calloc(1, sizeof *seen);
	int l, c, s;
	char buf[16], b2[4];
	trace_open(*state, &x);
	assert_int_equal(sd_trace_set_sink(*state, keep, seen), -EINVAL); /* not a trace */
	assert_int_equal(sd_trace_set_sink(&x.t, keep, seen), 0);
	sd_test_pair(&x.t, &l, &c, &s);
	sd_trace_set_step(&x.t, 7);
	assert_int_equal(sd_send(&x.t, c, "hello", 5, MSG_NOSIGNAL), 5);
	struct iovec iov[2] = {{b2, 2}, {buf, sizeof buf}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	assert_int_equal(sd_recvmsg(&x.t, s, &m, 0), 5);
	assert_int_equal(sd_note(&x.t, "a note"), 0);
	assert_int_equal(sd_sleep_ns(&x.t, 1000000), 0);
	assert_int_equal(sd_recv(&x.t, s, buf, sizeof buf, MSG_DONTWAIT), -EAGAIN);
	sd_close(&x.t, c), sd_close(&x.t, s), sd_close(&x.t, l);
	uint64_t hash = sd_trace_hash(&x.t);
	trace_close(&x);
	assert_int_equal(hash, fnv(x.text));
	/* the pair's 7 calls, then ours */
	assert_int_equal(seen->n, 7 + 5 + 3);
	assert_string_equal(seen->call[0], "socket");
	assert_int_equal(seen->step[0], -1);
	assert_string_equal(seen->call[7], "send");
	char want[64];
	snprintf(want, sizeof want, "send(%d, 5 bytes, 0x4000)", c);
	assert_string_equal(seen->text[7], want);
	assert_int_equal(seen->fd[7], c);
	assert_int_equal(seen->step[7], 7);
	assert_string_equal(seen->actor[7], "main");
	assert_int_equal(seen->ndata[7], 5);
	assert_string_equal(seen->data[7], "hello");
	assert_string_equal(seen->call[8], "recvmsg");
	assert_string_equal(seen->data[8], "hello"); /* gathered from both pieces */
	assert_string_equal(seen->call[9], "note");
	assert_string_equal(seen->text[9], "a note");
	assert_string_equal(seen->call[10], "sleep");
	assert_true(seen->end[10] - seen->start[10] >= 1000000); /* a span */
	assert_string_equal(seen->call[11], "recv");
	assert_int_equal(seen->result[11], -EAGAIN);
	assert_int_equal(seen->ndata[11], 0);
	/* every line's text is its event's */
	char *got = untimed(x.text), *p = got;
	for (int i = 0; i < seen->n; i++, p = strchr(p, '\n') + 1)
		assert_int_equal(strncmp(p + strlen(seen->actor[i]) + 1, seen->text[i],
					 strlen(seen->text[i])),
				 0);
	free(got);
	free(x.text);
	free(seen);
}

/* ioctl through the table: the count as the call's result in the line (FIONREAD reads as
 * SIOCINQ, its other name), the same errors on both backends. */
static void queue_sizes_show_their_count(void **state)
{
	struct traced x;
	int l, c, s, n = -1;
	char want[256];
	trace_open(*state, &x);
	struct sd_net *net = &x.t;
	sd_test_pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "hello", 5, MSG_NOSIGNAL), 5);
	struct pollfd p = {.fd = s, .events = POLLIN};
	assert_int_equal(sd_poll(net, &p, 1, 1000), 1);
	assert_int_equal(sd_ioctl(net, s, FIONREAD, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(sd_ioctl(net, l, SIOCOUTQ, &n), -EINVAL); /* a listener */
	assert_int_equal(sd_ioctl(net, s, 0x1234, &n), -ENOTTY);
	assert_int_equal(sd_ioctl(net, 999, SIOCINQ, &n), -EBADF);
	sd_close(net, c), sd_close(net, s), sd_close(net, l);
	trace_close(&x);
	snprintf(want, sizeof want,
		 "main ioctl(%d, SIOCINQ) = 5\n"
		 "main ioctl(%d, SIOCOUTQ) = -EINVAL\n"
		 "main ioctl(%d, 0x1234) = -ENOTTY\n"
		 "main ioctl(999, SIOCINQ) = -EBADF\n",
		 s, l, s);
	char *got = untimed(x.text);
	assert_non_null(strstr(got, want));
	free(got);
	free(x.text);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(lines_name_each_call_and_result),
	T(addresses_as_the_socket_reads_them),
	T(notes_come_before_the_call_they_change),
	T(hash_is_of_the_lines),
	T(unwrap_and_the_backends_api),
	T(same_seed_same_trace),
	T(events_say_what_the_lines_say),
	T(queue_sizes_show_their_count),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
