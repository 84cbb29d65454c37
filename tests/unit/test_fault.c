/* The fault wrapper over the backend under test: every fault fires, is logged, replays. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/fault.h>

#include "sd_test.h"

const char sd_unit_module[] = "fault";

struct wrapped {
	struct sd_net w;
	char *log;
	size_t loglen;
	FILE *f;
};

static void wrap(struct sd_net *inner, const char *spec_text, uint64_t seed, struct wrapped *x)
{
	struct sd_fault_spec spec;
	char err[256];
	assert_int_equal(sd_fault_parse(spec_text, &spec, err, sizeof err), 0);
	x->log = NULL;
	x->f = open_memstream(&x->log, &x->loglen);
	assert_int_equal(sd_fault_wrap(&x->w, inner, &spec, seed, x->f), 0);
}

static void unwrap(struct wrapped *x)
{
	sd_net_close(&x->w);
	fclose(x->f);
	free(x->log);
}

/* A connected pair through net: *c the client, *s the accepted end. */
static void pair(struct sd_net *net, int *l, int *c, int *s)
{
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	*l = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, *l, (struct sockaddr *)&any, al), 0);
	assert_int_equal(sd_listen(net, *l, 8), 0);
	assert_int_equal(sd_getsockname(net, *l, (struct sockaddr *)&where, &wl), 0);
	*c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, *c, (struct sockaddr *)&where, wl), 0);
	*s = sd_accept(net, *l, NULL, NULL, 0);
	assert_true(*s >= 0);
}

static void spec_errors(void **state)
{
	(void)state;
	struct sd_fault_spec s;
	char err[256];
	const struct {
		const char *spec, *msg;
	} bad[] = {
		{"frobnicate", "faults: unknown fault 'frobnicate'"},
		{"eintr=2", "faults: bad value '2' for eintr (a probability from 0 to 1)"},
		{"short-read=0", "faults: bad value '0' for short-read (a byte count from 1)"},
		{"delay=-5", "faults: bad value '-5' for delay (milliseconds, 0..60000)"},
		{"scope=everyone",
		 "faults: scope must be all, accepted or connected, not 'everyone'"},
		{"short-\nread", "faults: the spec has a control character (0x0a)"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(sd_fault_parse(bad[i].spec, &s, err, sizeof err), -EINVAL);
		if (strncmp(err, bad[i].msg, strlen(bad[i].msg)))
			fail_msg("%s: got \"%s\"", bad[i].spec, err);
	}
	assert_int_equal(sd_fault_parse("short-read,eintr,delay", &s, err, sizeof err), 0);
	assert_int_equal(s.short_read, 1);
	assert_true(s.eintr == 0.1 && s.delay_ms == 10 && sd_fault_active(&s));
	assert_int_equal(sd_fault_parse("eintr=0,reset=0", &s, err, sizeof err), 0);
	assert_false(sd_fault_active(&s));
	assert_int_equal(sd_fault_parse(NULL, &s, err, sizeof err), 0);
}

/* Short reads and writes move 1..N bytes, never lose or reorder one. */
static void short_io_keeps_the_stream_exact(void **state)
{
	struct wrapped x;
	int l, c, s;
	unsigned char out[3000], in[3000];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 8));
	wrap(*state, "short-read=3,short-write=5", 11, &x);
	pair(&x.w, &l, &c, &s);
	size_t sent = 0, got = 0;
	int max_w = 0, max_r = 0, writes = 0;
	while (sent < sizeof out) {
		ssize_t k = sd_send(&x.w, c, out + sent, sizeof out - sent, 0);
		assert_true(k >= 1 && k <= 5);
		max_w = k > max_w ? (int)k : max_w;
		sent += (size_t)k;
		writes++;
	}
	while (got < sizeof in) {
		ssize_t k = sd_recv(&x.w, s, in + got, sizeof in - got, 0);
		assert_true(k >= 1 && k <= 3);
		max_r = k > max_r ? (int)k : max_r;
		got += (size_t)k;
	}
	assert_memory_equal(in, out, sizeof out);
	/* scope: only the accepted end is faulted, the client's sends go through whole */
	struct wrapped y;
	int l2, c2, s2;
	wrap(*state, "short-read=3,short-write=5,scope=accepted", 11, &y);
	pair(&y.w, &l2, &c2, &s2);
	assert_int_equal(sd_send(&y.w, c2, out, 100, 0), 100);
	assert_true(sd_send(&y.w, s2, out, 100, 0) <= 5);
	unwrap(&y);
	assert_int_equal(max_w, 5); /* seeded choice over the whole 1..N range */
	assert_int_equal(max_r, 3);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"fault\":\"short-write\""));
	assert_non_null(strstr(x.log, "\"fault\":\"short-read\""));
	assert_non_null(strstr(x.log, "\"conn\":\"c1\""));
	assert_non_null(strstr(x.log, "\"conn\":\"a1\""));
	assert_true(sd_fault_count(&x.w) >= writes);
	unwrap(&x);
}

/* sendmsg/recvmsg: the short call covers only the first bytes of the iovecs. */
static void short_msg_calls_keep_the_stream_exact(void **state)
{
	struct wrapped x;
	int l, c, s;
	char out[30], in[30];
	for (int i = 0; i < 30; i++)
		out[i] = (char)('a' + i % 26);
	wrap(*state, "short-read=3,short-write=4", 9, &x);
	pair(&x.w, &l, &c, &s);
	size_t sent = 0, got = 0;
	while (sent < sizeof out) {
		struct iovec v[3] = {{out + sent, 0}, {out + sent, 0}, {out + sent, 0}};
		size_t left = sizeof out - sent;
		for (int i = 0; i < 3; i++) { /* split what is left over three pieces */
			v[i].iov_base = out + sent + (left * (size_t)i) / 3;
			v[i].iov_len = (left * (size_t)(i + 1)) / 3 - (left * (size_t)i) / 3;
		}
		struct msghdr m = {.msg_iov = v, .msg_iovlen = 3};
		ssize_t k = sd_sendmsg(&x.w, c, &m, 0);
		assert_true(k >= 1 && k <= 4);
		sent += (size_t)k;
	}
	while (got < sizeof in) {
		struct iovec v[2] = {{in + got, 1}, {in + got + 1, sizeof in - got - 1}};
		struct msghdr m = {.msg_iov = v, .msg_iovlen = sizeof in - got > 1 ? 2 : 1};
		ssize_t k = sd_recvmsg(&x.w, s, &m, 0);
		assert_true(k >= 1 && k <= 3);
		got += (size_t)k;
	}
	assert_memory_equal(in, out, sizeof out);
	unwrap(&x);
}

static void eintr_fails_blocking_calls_first(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	pair(net, &l, &c, &s); /* made without faults */
	wrap(net, "eintr=1", 1, &x);
	assert_int_equal(sd_send(&x.w, c, "hi", 2, 0), -EINTR);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, 0), -EINTR);
	/* non-blocking calls are never interrupted */
	assert_int_equal(sd_send(&x.w, c, "hi", 2, MSG_DONTWAIT), 2);
	struct pollfd p = {.fd = s, .events = POLLIN};
	assert_int_equal(sd_poll(&x.w, &p, 1, 5000), 1);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, MSG_DONTWAIT), 2);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"fault\":\"eintr\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void eagain_only_on_nonblocking_calls(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "data", 4, 0), 4);
	wrap(net, "eagain=1", 1, &x);
	struct pollfd p = {.fd = s, .events = POLLIN};
	assert_int_equal(sd_poll(&x.w, &p, 1, 5000), 1);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, MSG_DONTWAIT), -EAGAIN); /* data is there */
	assert_int_equal(sd_recv(&x.w, s, b, 4, MSG_WAITALL), 4);               /* blocking: fine */
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void reset_reaches_the_peer(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	pair(net, &l, &c, &s);
	wrap(net, "reset=1", 1, &x);
	assert_int_equal(sd_send(&x.w, c, "x", 1, 0), -ECONNRESET);
	assert_int_equal(sd_recv(net, s, b, sizeof b, 0), -ECONNRESET); /* the peer saw the RST */
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"fault\":\"reset\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void accept_fail_leaves_the_connection_queued(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	wrap(net, "accept-fail=1", 5, &x);
	int l = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(&x.w, l, (struct sockaddr *)&any, al), 0);
	assert_int_equal(sd_listen(&x.w, l, 8), 0);
	sd_getsockname(&x.w, l, (struct sockaddr *)&where, &wl);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	int rc = sd_accept(&x.w, l, NULL, NULL, 0);
	assert_true(rc == -EMFILE || rc == -ECONNABORTED || rc == -ENFILE);
	int s = sd_accept(net, l, NULL, NULL, 0); /* without the wrapper: still there */
	assert_true(s >= 0);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"l1\""));
	assert_true(strstr(x.log, "\"errno\":\"EMFILE\"") ||
		    strstr(x.log, "\"errno\":\"ENFILE\"") ||
		    strstr(x.log, "\"errno\":\"ECONNABORTED\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

static void connect_fail_and_delay(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	pair(net, &l, &c, &s);
	struct sockaddr_storage where;
	socklen_t wl = sizeof where;
	sd_getsockname(net, l, (struct sockaddr *)&where, &wl);
	wrap(net, "connect-fail=1", 2, &x);
	int d = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	int rc = sd_connect(&x.w, d, (struct sockaddr *)&where, wl);
	assert_true(rc == -ECONNREFUSED || rc == -ETIMEDOUT);
	unwrap(&x);
	wrap(net, "delay=20", 2, &x);
	int64_t t0 = sd_now_ns(&x.w);
	assert_int_equal(sd_send(&x.w, c, "z", 1, 0), 1);
	assert_true(sd_now_ns(&x.w) - t0 >= 20000000);
	unwrap(&x);
	sd_close(net, d), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Bytes a MSG_PEEK has shown are in the receive queue: Linux's tcp_recvmsg copies what is
 * queued, so reading them never comes back short, never blocks (no EINTR) and never finds
 * nothing (no EAGAIN). tinyproxy peeks for a line, then reads exactly that many bytes and
 * trusts the count; a short read there was a false finding. */
static void peeked_bytes_are_read_whole(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char out[40], b[64];
	for (int i = 0; i < 40; i++)
		out[i] = (char)('a' + i % 26);
	wrap(net, "short-read=2,scope=accepted", 3, &x);
	pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(&x.w, c, out, sizeof out, 0), (ssize_t)sizeof out);
	size_t got = 0;
	for (int round = 0; round < 20; round++) {
		ssize_t k = 0;
		for (int tries = 0; tries < 50 && k < 2; tries++) /* a peek may be short itself */
			k = sd_recv(&x.w, s, b, sizeof b, MSG_PEEK);
		assert_int_equal(k, 2);
		assert_int_equal(sd_recv(&x.w, s, b, 2, 0), 2);
		assert_memory_equal(b, out + got, 2);
		got += 2;
	}
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);

	pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "line\n", 5, 0), 5);
	struct pollfd p = {.fd = s, .events = POLLIN};
	wrap(net, "eintr=1", 1, &x);
	assert_int_equal(sd_poll(&x.w, &p, 1, 5000), 1);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, MSG_PEEK | MSG_DONTWAIT), 5);
	assert_int_equal(sd_recv(&x.w, s, b, 3, 0), 3); /* blocking, but the bytes are there */
	struct iovec v = {b, 2};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	assert_int_equal(sd_recvmsg(&x.w, s, &m, 0), 2);
	assert_memory_equal(b, "e\n", 2);
	assert_int_equal(sd_recv(&x.w, s, b, 1, 0), -EINTR); /* what was peeked is spent */
	unwrap(&x);
	assert_int_equal(sd_send(net, c, "more", 4, 0), 4);
	wrap(net, "eagain=1", 1, &x);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, MSG_PEEK), 4);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, MSG_DONTWAIT), 4);
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* The decisions are a function of (seed, connection, call): a replay is identical. */
static void same_seed_same_faults(void **state)
{
	struct sd_net *net = *state;
	char logs[3][4096];
	for (int run = 0; run < 3; run++) {
		struct wrapped x;
		int l, c, s;
		char buf[400] = {0};
		wrap(net, "short-read=7,eintr=0.3", run == 2 ? 99 : 42, &x);
		pair(&x.w, &l, &c, &s);
		int n = 0;
		for (int i = 0; i < 30; i++) {
			ssize_t k = sd_send(&x.w, c, buf, 10, 0);
			n += snprintf(logs[run] + n, sizeof logs[run] - (size_t)n, "s%zd ", k);
			k = sd_recv(&x.w, s, buf, 10, 0);
			n += snprintf(logs[run] + n, sizeof logs[run] - (size_t)n, "r%zd ", k);
		}
		unwrap(&x);
		sd_close(net, s), sd_close(net, c), sd_close(net, l);
	}
	assert_string_equal(logs[0], logs[1]);
	assert_string_not_equal(logs[0], logs[2]);
	assert_non_null(strstr(logs[0], "-4")); /* some EINTR happened */
}

/* A copy of a descriptor made outside the wrapper (sd_fault_dup) continues its connection:
 * the same ordinal and call count. Log times count from when the wrapper was made. */
static void copy_continues_the_connection(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char buf[8];
	int64_t before = sd_now_ns(net);
	wrap(net, "short-write=1", 5, &x);
	pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(&x.w, c, "ab", 2, 0), 1);
	assert_int_equal(sd_send(&x.w, c, "cd", 2, 0), 1);
	assert_int_equal(sd_fault_dup(&x.w, c, 1000), 0);
	/* descriptor 1000 is no socket of the inner net's: decided as c's third call, then EBADF */
	assert_int_equal(sd_send(&x.w, 1000, "ef", 2, 0), -EBADF);
	int64_t after = sd_now_ns(net);
	assert_int_equal(sd_fault_dup(net, c, 1000), -EINVAL);
	/* the lock is the wrapper's own: taken and given back, calls go on */
	sd_fault_lock(&x.w, 1);
	sd_fault_lock(&x.w, 0);
	assert_int_equal(sd_recv(&x.w, s, buf, sizeof buf, 0), 2);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"c1\",\"call\":3,\"op\":\"send\""));
	double t = -1;
	assert_int_equal(sscanf(x.log, "{\"t\":%lf", &t), 1);
	assert_true(t >= 0 && t <= (double)(after - before) / 1e9);
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(spec_errors),
	T(short_io_keeps_the_stream_exact),
	T(short_msg_calls_keep_the_stream_exact),
	T(eintr_fails_blocking_calls_first),
	T(eagain_only_on_nonblocking_calls),
	T(reset_reaches_the_peer),
	T(accept_fail_leaves_the_connection_queued),
	T(connect_fail_and_delay),
	T(peeked_bytes_are_read_whole),
	T(same_seed_same_faults),
	T(copy_continues_the_connection),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
