/* The fault wrapper over the backend under test: every fault fires, is logged, replays. */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
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
		{"reset=0.5@conn=x2", "faults: bad target '@conn=x2' for reset (a connection"},
		{"reset@conn=a0", "faults: bad target '@conn=a0' for reset"},
		{"eintr@for=0", "faults: bad target '@for=0' for eintr (a count of calls, 1 or"},
		{"eintr@after=-1", "faults: bad target '@after=-1' for eintr"},
		{"eintr@op=read|", "faults: bad target '@op=read|' for eintr"},
		{"eintr@op=poll", "faults: bad target '@op=poll' for eintr"},
		{"epipe@op=read", "faults: epipe never applies to read ('@op=read')"},
		{"emfile@op=write|accept", "faults: emfile never applies to write"},
		{"eintr@window=2s-1s", "faults: bad target '@window=2s-1s' for eintr (FROM-TO"},
		{"eintr@window=5-9", "faults: bad target '@window=5-9' for eintr"},
		{"eintr@window=1s-90000s", "faults: bad target '@window=1s-90000s'"},
		{"eintr@after=1@after=2", "faults: target '@after' given twice for eintr"},
		{"eintr@frob=1", "faults: unknown target '@frob' for eintr (conn, after"},
		{"eintr@", "faults: empty target after eintr"},
		{"level-triggered@op=read", "faults: level-triggered takes no target ('@op=read')"},
		{"enobufs=3", "faults: bad value '3' for enobufs (a probability from 0 to 1)"},
		{"latency=0", "faults: bad value '0' for latency (milliseconds, 1..60000"},
		{"latency=5~x", "faults: bad value '5~x' for latency"},
		{"latency", "faults: bad value '' for latency"},
		{"bandwidth", "faults: bad value '' for bandwidth (kilobytes a second"},
		{"bandwidth=0", "faults: bad value '0' for bandwidth"},
		{"slice=8~8", "faults: bad value '8~8' for slice (a byte count from 1, and ~"},
		{"slice=8@op=read", "faults: slice never applies to read"},
		{"limit-data", "faults: bad value '' for limit-data (a byte count, 1..1073741824)"},
		{"timeout=0", "faults: bad value '0' for timeout (milliseconds, 1..60000)"},
		{"slow-close=5@op=read", "faults: slow-close never applies to read"},
		{"eai-again@op=socket", "faults: eai-again never applies to socket"},
		{"emfile@op=resolve", "faults: emfile never applies to resolve"},
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
	assert_int_equal(sd_fault_parse("reset=0.5@conn=a2,eintr=1@after=3@for=2@op=read|write,"
					"short-read=2@window=100ms-2s,emfile,enfile=0",
					&s, err, sizeof err),
			 0);
	assert_true(s.reset == 0.5 && s.target[SD_FK_RESET].conn == (SD_CONN_ACCEPTED | 2));
	assert_true(s.target[SD_FK_EINTR].after == 3 && s.target[SD_FK_EINTR].count == 2);
	assert_int_equal(s.target[SD_FK_EINTR].ops, 1u << SD_OP_READ | 1u << SD_OP_WRITE);
	assert_true(s.target[SD_FK_SHORT_READ].from_ns == 100000000 &&
		    s.target[SD_FK_SHORT_READ].to_ns == 2000000000ll && s.windows);
	assert_true(s.emfile == 0.1 && s.enfile == 0 && sd_fault_active(&s));
	assert_int_equal(sd_fault_parse("epipe=0,etimedout=0,enobufs=0,enomem=0,emfile=0,enfile=0",
					&s, err, sizeof err),
			 0);
	assert_false(sd_fault_active(&s));
	assert_int_equal(sd_fault_parse("latency=100~20@op=read,bandwidth=10,slice=64~16", &s, err,
					sizeof err),
			 0);
	assert_true(s.latency_ms == 100 && s.jitter_ms == 20 && s.bandwidth_kbps == 10);
	assert_true(s.slice == 64 && s.slice_var == 16 && sd_fault_active(&s));
	assert_int_equal(s.target[SD_FK_LATENCY].ops, 1u << SD_OP_READ);
	assert_int_equal(sd_fault_parse("latency=5~50,slice=3", &s, err, sizeof err), 0);
	assert_true(s.jitter_ms == 50 && s.slice == 3 && s.slice_var == 0);
}

/* Latency is seeded within MS +- J, per call, never below 0; slices within N +- V. */
static void latency_and_slice_sizes_are_seeded(void **state)
{
	(void)state;
	struct sd_fault_spec spec;
	struct sd_fault_decision d;
	char err[256];
	unsigned lo = ~0u, hi = 0;
	assert_int_equal(sd_fault_parse("latency=100~20@op=write", &spec, err, sizeof err), 0);
	for (uint64_t call = 1; call <= 200; call++) {
		sd_fault_decide(&spec, 3, SD_CONN_ACCEPTED | 1, call, SD_OP_WRITE,
				SD_WAIT_NONBLOCKING_NO_EDGE, 10, &d);
		assert_string_equal(d.fault, "latency");
		lo = d.delay_ms < lo ? d.delay_ms : lo;
		hi = d.delay_ms > hi ? d.delay_ms : hi;
		sd_fault_decide(&spec, 3, SD_CONN_ACCEPTED | 1, call, SD_OP_READ,
				SD_WAIT_NONBLOCKING_NO_EDGE, 10, &d);
		assert_null(d.fault); /* one direction only */
	}
	assert_true(lo >= 80 && hi <= 120 && hi - lo >= 30);
	assert_int_equal(sd_fault_parse("latency=5~50", &spec, err, sizeof err), 0);
	for (uint64_t call = 1; call <= 50; call++) {
		sd_fault_decide(&spec, 3, SD_CONN_ACCEPTED | 1, call, SD_OP_READ, SD_WAIT_BLOCKING,
				10, &d);
		assert_true(d.delay_ms <= 55);
	}
	assert_int_equal(sd_fault_parse("slice=10~3", &spec, err, sizeof err), 0);
	sd_fault_decide(&spec, 3, SD_CONN_ACCEPTED | 1, 1, SD_OP_WRITE, SD_WAIT_BLOCKING, 1000, &d);
	assert_string_equal(d.fault, "slice");
	assert_int_equal(d.len, 1000); /* the program's write stays whole */
	lo = ~0u, hi = 0;
	for (unsigned i = 0; i < 100; i++) {
		size_t n = sd_fault_slice_piece(&d, i);
		lo = n < lo ? (unsigned)n : lo;
		hi = n > hi ? (unsigned)n : hi;
	}
	assert_true(lo == 7 && hi == 13);
	/* a write no bigger than a piece is not sliced; reads never are */
	sd_fault_decide(&spec, 3, SD_CONN_ACCEPTED | 1, 1, SD_OP_WRITE, SD_WAIT_BLOCKING, 5, &d);
	assert_true(!d.fault && !d.slice);
	sd_fault_decide(&spec, 3, SD_CONN_ACCEPTED | 1, 1, SD_OP_READ, SD_WAIT_BLOCKING, 1000, &d);
	assert_true(!d.fault && !d.slice);
}

/* What kinds fire where, over calls 1..n of connection conn ('-': none, else the fault's
 * first letter), blocking unless the op is socket. */
static void fired(const char *spec_text, uint64_t conn, enum sd_fault_op op, int64_t t, int n,
		  char *out)
{
	struct sd_fault_spec spec;
	struct sd_fault_decision d;
	char err[256];
	assert_int_equal(sd_fault_parse(spec_text, &spec, err, sizeof err), 0);
	for (int call = 1; call <= n; call++) {
		sd_fault_decide_at(&spec, 7, conn, (uint64_t)call, op, SD_WAIT_BLOCKING, 100, t,
				   &d);
		out[call - 1] = d.fault ? d.fault[0] : '-';
	}
	out[n] = 0;
}

/* Targets only narrow where a kind fires: a countdown (SQLite's test_vfs), one connection, one
 * op, a window of time; the decisions elsewhere stay what they were. */
static void targets_aim_the_decisions(void **state)
{
	(void)state;
	char got[64], want[64];
	const uint64_t a1 = SD_CONN_ACCEPTED | 1, a2 = SD_CONN_ACCEPTED | 2;
	fired("eintr=1@after=3@for=2", a1, SD_OP_READ, 0, 8, got);
	assert_string_equal(got, "---ee---"); /* calls 4 and 5 only */
	fired("eintr=1@after=2@for=1", a1, SD_OP_WRITE, 0, 4, got);
	assert_string_equal(got, "--e-"); /* transient */
	fired("eintr=1@after=2", a1, SD_OP_WRITE, 0, 5, got);
	assert_string_equal(got, "--eee"); /* persistent */
	fired("reset=1@conn=a2", a1, SD_OP_READ, 0, 3, got);
	assert_string_equal(got, "---");
	fired("reset=1@conn=a2", a2, SD_OP_READ, 0, 3, got);
	assert_string_equal(got, "rrr");
	fired("eintr=1@op=read", a1, SD_OP_WRITE, 0, 3, got);
	assert_string_equal(got, "---");
	fired("eintr=1@op=read", a1, SD_OP_READ, 0, 3, got);
	assert_string_equal(got, "eee");
	fired("eintr=1@window=100ms-2s", a1, SD_OP_READ, 99999999, 2, got);
	assert_string_equal(got, "--");
	fired("eintr=1@window=100ms-2s", a1, SD_OP_READ, 100000000, 2, got);
	assert_string_equal(got, "ee");
	fired("eintr=1@window=100ms-2s", a1, SD_OP_READ, 2000000000, 2, got);
	assert_string_equal(got, "--");
	/* a target on one kind leaves the others' seeded decisions as they were */
	fired("short-read=7,eintr=0.3", a1, SD_OP_READ, 0, 60, want);
	fired("short-read=7,eintr=0.3,reset=1@conn=c9,epipe=1@op=write", a1, SD_OP_READ, 0, 60,
	      got);
	assert_string_equal(got, want);
	assert_non_null(strchr(want, 'e'));
	/* and a countdown is the untargeted decision, cut to its calls */
	fired("eintr=0.3@after=20", a1, SD_OP_READ, 0, 60, got);
	fired("eintr=0.3", a1, SD_OP_READ, 0, 60, want);
	assert_memory_equal(got + 20, want + 20, 40);
	assert_true(!memchr(got, 'e', 20) && memchr(want + 20, 'e', 40));
	/* socket() is decided only for descriptor exhaustion, by its ordinal */
	fired("emfile=1@after=1@for=1,delay=5,eintr=1", 0, SD_OP_SOCKET, 0, 3, got);
	assert_string_equal(got, "-e-");
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
	sd_test_pair(&x.w, &l, &c, &s);
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
	sd_test_pair(&y.w, &l2, &c2, &s2);
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
	sd_test_pair(&x.w, &l, &c, &s);
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
	sd_test_pair(net, &l, &c, &s); /* made without faults */
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
	sd_test_pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "data", 4, 0), 4);
	wrap(net, "eagain=1,level-triggered", 1, &x); /* on every backend, as the program waits */
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
	sd_test_pair(net, &l, &c, &s);
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
	sd_test_pair(net, &l, &c, &s);
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
	sd_test_pair(&x.w, &l, &c, &s);
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

	sd_test_pair(net, &l, &c, &s);
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

/* ---- non-blocking sockets: only faults a kernel could produce --------------------------------
 * epoll(7): a short read or write on a non-blocking socket means the queue was drained or the
 * send buffer filled, EAGAIN that nothing is there; an edge-triggered program then waits for
 * the next edge. A fault that says so while bytes are still queued (or send space is free) must
 * be followed by that edge, or the program waits for ever where a kernel would never leave it. */

#define NB_BYTES   2000
#define NB_WAIT_MS 2000 /* a wait longer than this is a stall (virtual time on sim) */
#define NB_ROUNDS  4000

enum nb_mode { NB_ET, NB_ONESHOT, NB_LT, NB_POLL };
static const char *const nb_mode_name[] = {"edge-triggered", "edge-triggered one-shot",
					   "level-triggered", "poll"};

struct nb_run {
	struct sd_net *w, *net; /* the server's calls go through w, the client's straight to net */
	enum nb_mode mode;
	int writes; /* the server writes NB_BYTES instead of reading them */
	int l;      /* the listener, non-blocking, made through w */
	struct sockaddr_storage where;
	socklen_t wl;
	unsigned char data[NB_BYTES], got[NB_BYTES];
	size_t moved;    /* bytes the server read or wrote */
	size_t received; /* bytes the client read (writes) */
	const char *stall;
	atomic_int finished;
};

/* Waits until fd is ready for `events` the way the mode says: 1 ready, 0 timed out. */
static int nb_wait(struct nb_run *r, int ep, int fd, uint32_t events)
{
	if (r->mode == NB_POLL) {
		struct pollfd p = {.fd = fd, .events = (short)events};
		return sd_poll(r->w, &p, 1, NB_WAIT_MS) > 0;
	}
	if (r->mode == NB_ONESHOT) { /* re-armed before each wait, as such a program does */
		struct epoll_event ev = {.events = events | EPOLLET | EPOLLONESHOT, .data.fd = fd};
		if (sd_epoll_ctl(r->w, ep, EPOLL_CTL_MOD, fd, &ev) < 0)
			return 0;
	}
	struct epoll_event out;
	return sd_epoll_wait(r->w, ep, &out, 1, NB_WAIT_MS) == 1 && out.data.fd == fd;
}

static int nb_watch(struct nb_run *r, int ep, int op, int fd, uint32_t events)
{
	uint32_t how[] = {EPOLLET, EPOLLET | EPOLLONESHOT, 0, 0};
	struct epoll_event ev = {.events = events | how[r->mode], .data.fd = fd};
	return r->mode == NB_POLL ? 0 : sd_epoll_ctl(r->w, ep, op, fd, &ev);
}

/* Accepts one connection on the non-blocking listener: accept until EAGAIN, then wait. */
static int nb_accept(struct nb_run *r, int ep)
{
	if (nb_watch(r, ep, EPOLL_CTL_ADD, r->l, EPOLLIN) < 0)
		return -1;
	for (int round = 0; round < NB_ROUNDS; round++) {
		if (!nb_wait(r, ep, r->l, EPOLLIN))
			break;
		int s = sd_accept(r->w, r->l, NULL, NULL, SOCK_NONBLOCK);
		if (s >= 0) {
			if (r->mode != NB_POLL)
				sd_epoll_ctl(r->w, ep, EPOLL_CTL_DEL, r->l, NULL);
			return s;
		}
		if (s != -EAGAIN)
			break;
	}
	r->stall = "accept";
	return -1;
}

/* The server: a non-blocking socket in an event loop that trusts epoll(7): it reads (writes)
 * until a call comes back short or with EAGAIN, then waits for readiness. */
static void nb_server(void *arg)
{
	struct nb_run *r = arg;
	int ep = r->mode == NB_POLL ? -1 : sd_epoll_create(r->w, 0);
	int s = nb_accept(r, ep);
	uint32_t events = r->writes ? EPOLLOUT : EPOLLIN;
	if (s >= 0 && nb_watch(r, ep, EPOLL_CTL_ADD, s, events) < 0)
		r->stall = "epoll_ctl";
	for (int round = 0; s >= 0 && !r->stall && r->moved < NB_BYTES; round++) {
		if (round == NB_ROUNDS || !nb_wait(r, ep, s, events)) {
			r->stall = r->writes ? "write" : "read";
			break;
		}
		for (;;) {
			size_t ask = NB_BYTES - r->moved < 64 ? NB_BYTES - r->moved : 64;
			ssize_t k = r->writes ? sd_send(r->w, s, r->data + r->moved, ask, 0)
					      : sd_recv(r->w, s, r->got + r->moved, ask, 0);
			if (k <= 0) {
				if (k != -EAGAIN)
					r->stall = "an error or the end of the stream";
				break;
			}
			r->moved += (size_t)k;
			if ((size_t)k < ask || r->moved == NB_BYTES)
				break;
		}
	}
	atomic_store(&r->finished, 1);
	if (s >= 0)
		sd_close(r->w, s);
	if (ep >= 0)
		sd_close(r->w, ep);
}

/* The client, blocking and without faults: sends NB_BYTES and stays connected until the server
 * is done (its end of stream would be an edge of its own), or reads until the server closes. */
static void nb_client(void *arg)
{
	struct nb_run *r = arg;
	int c = sd_socket(r->net, AF_INET, SOCK_STREAM, 0);
	if (sd_connect(r->net, c, (struct sockaddr *)&r->where, r->wl) == 0 && !r->writes) {
		for (size_t sent = 0; sent < NB_BYTES;) {
			ssize_t k = sd_send(r->net, c, r->data + sent, NB_BYTES - sent, 0);
			if (k <= 0)
				break;
			sent += (size_t)k;
		}
		for (int i = 0; i < 5 * NB_WAIT_MS && !atomic_load(&r->finished); i++)
			sd_sleep_ns(r->net, 1000000);
	}
	while (r->writes && r->received < NB_BYTES) {
		ssize_t k = sd_recv(r->net, c, r->got + r->received, NB_BYTES - r->received, 0);
		if (k <= 0)
			break;
		r->received += (size_t)k;
	}
	sd_close(r->net, c);
}

/* Runs the server under `spec` in every wait mode; returns the faults injected in all. */
static long nb_serve(struct sd_net *net, const char *spec, uint64_t seed, int writes, char **logs)
{
	long faults = 0;
	size_t total = 0;
	*logs = NULL;
	for (enum nb_mode mode = NB_ET; mode <= NB_POLL; mode++) {
		struct wrapped x;
		struct nb_run *r = calloc(1, sizeof *r);
		struct sockaddr_storage any;
		socklen_t al;
		assert_non_null(r);
		wrap(net, spec, seed, &x);
		r->w = &x.w, r->net = net, r->mode = mode, r->writes = writes;
		for (size_t i = 0; i < NB_BYTES; i++)
			r->data[i] = (unsigned char)(i * 13 + (i >> 7));
		sd_addr_parse("127.0.0.1", 0, &any, &al);
		r->l = sd_socket(&x.w, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_int_equal(sd_bind(&x.w, r->l, (struct sockaddr *)&any, al), 0);
		assert_int_equal(sd_listen(&x.w, r->l, 8), 0);
		r->wl = sizeof r->where;
		assert_int_equal(sd_getsockname(net, r->l, (struct sockaddr *)&r->where, &r->wl),
				 0);
		int sid = sd_spawn(net, "server", nb_server, r);
		int cid = sd_spawn(net, "client", nb_client, r);
		assert_true(sid > 0 && cid > 0);
		assert_int_equal(sd_join(net, sid), 0);
		assert_int_equal(sd_join(net, cid), 0);
		if (r->stall || r->moved != NB_BYTES)
			fail_msg("%s server, faults '%s', seed %llu: stalled in %s after %zu of %d "
				 "bytes",
				 nb_mode_name[mode], spec, (unsigned long long)seed,
				 r->stall ? r->stall : "?", r->moved, NB_BYTES);
		assert_int_equal(writes ? r->received : r->moved, NB_BYTES);
		assert_memory_equal(r->got, r->data, NB_BYTES); /* nothing lost or reordered */
		faults += sd_fault_count(&x.w);
		sd_close(&x.w, r->l);
		fflush(x.f);
		char *all = realloc(*logs, total + x.loglen + 1);
		assert_non_null(all);
		memcpy(all + total, x.log, x.loglen + 1);
		total += x.loglen;
		*logs = all;
		unwrap(&x);
		free(r);
	}
	return faults;
}

/* On the sim the wrapper re-signals readiness after each such fault, so they are injected; the
 * real backend cannot, so on its non-blocking sockets they are not. */
static void check_nonblocking_faults(struct sd_net *net, const char *spec, uint64_t seed,
				     int writes, const char *kind)
{
	char *logs;
	long n = nb_serve(net, spec, seed, writes, &logs);
	int can = strcmp(sd_test_backend, "sim") == 0;
	if (can && (!n || !strstr(logs, kind)))
		fail_msg("faults '%s', seed %llu: no %s injected (%ld faults)", spec,
			 (unsigned long long)seed, kind, n);
	if (!can && (n || *logs))
		fail_msg("faults '%s' on %s: injected on a non-blocking socket:\n%s", spec,
			 sd_test_backend, logs);
	free(logs);
}

static void nonblocking_short_reads_leave_the_socket_ready(void **state)
{
	check_nonblocking_faults(*state, "short-read=1", 1, 0, "\"fault\":\"short-read\"");
	check_nonblocking_faults(*state, "short-read=9", 2, 0, "\"fault\":\"short-read\"");
}

/* EAGAIN on a listener with a connection queued, and on a socket with bytes queued. */
static void nonblocking_eagain_on_reads_leaves_the_socket_ready(void **state)
{
	check_nonblocking_faults(*state, "eagain=0.5", 3, 0,
				 "\"op\":\"recv\",\"fault\":\"eagain\"");
	check_nonblocking_faults(*state, "eagain=0.5", 3, 0,
				 "\"op\":\"accept\",\"fault\":\"eagain\"");
}

static void nonblocking_short_writes_leave_the_socket_ready(void **state)
{
	check_nonblocking_faults(*state, "short-write=5", 4, 1, "\"fault\":\"short-write\"");
	check_nonblocking_faults(*state, "eagain=0.5", 5, 1,
				 "\"op\":\"send\",\"fault\":\"eagain\"");
}

/* level-triggered: the program says it waits level-triggered (poll, select, epoll without
 * EPOLLET), so where readiness cannot be re-signalled the faults are injected anyway. */
static void level_triggered_programs_get_every_fault(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	sd_test_pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "data", 4, 0), 4);
	wrap(net, "eagain=1,short-read=1,level-triggered", 1, &x);
	assert_int_equal(sd_set_nonblocking(&x.w, s, 1), 0);
	struct pollfd p = {.fd = s, .events = POLLIN};
	assert_int_equal(sd_poll(&x.w, &p, 1, 5000), 1);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, 0), -EAGAIN);
	unwrap(&x);
	wrap(net, "short-read=1,level-triggered", 1, &x);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, MSG_DONTWAIT), 1);
	unwrap(&x);
	struct sd_fault_spec spec;
	char err[256];
	assert_int_equal(sd_fault_parse("level-triggered=1", &spec, err, sizeof err), -EINVAL);
	assert_string_equal(err, "faults: level-triggered takes no value ('1')");
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
		sd_test_pair(&x.w, &l, &c, &s);
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

/* dup3 through the wrapper: the number it gives continues the connection it now names (the
 * same ordinal, the next call), as a dup's copy does. */
static void dup3_continues_the_connection(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char buf[8];
	wrap(net, "short-write=1", 5, &x);
	sd_test_pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(&x.w, c, "ab", 2, 0), 1);
	assert_int_equal(sd_send(&x.w, c, "cd", 2, 0), 1);
	int t = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_true(t >= 0);
	assert_int_equal(sd_dup3(&x.w, c, t, 0), t);
	assert_int_equal(sd_dup3(&x.w, c, c, 0), -EINVAL);
	assert_int_equal(sd_send(&x.w, t, "ef", 2, 0), 1);
	assert_int_equal(sd_recv(&x.w, s, buf, sizeof buf, 0), 3);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"c1\",\"call\":3,\"op\":\"send\""));
	unwrap(&x);
	sd_close(net, t), sd_close(net, s), sd_close(net, c), sd_close(net, l);
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
	sd_test_pair(&x.w, &l, &c, &s);
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

/* What the hooks see (the preload's counts and log writer): every decided call, blocking or
 * not, and one whole line per fault, with the pid in the object and in the connection id of
 * the process that numbered it. A socket that never connected gets an "s" id, and a later
 * connect renumbers it. Without hooks the log keeps its format (no pid). */
struct seen_log {
	long calls[4][2], faults;
	char lines[4096];
	size_t len;
};

static void on_seen(void *ctx, enum sd_fault_op op, int blocking, const struct sd_fault_decision *d)
{
	struct seen_log *s = ctx;
	s->calls[op][blocking != 0]++;
	s->faults += d->fault != NULL;
}

static void on_line(void *ctx, const char *line, size_t n)
{
	struct seen_log *s = ctx;
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_true(s->len + n < sizeof s->lines);
	memcpy(s->lines + s->len, line, n);
	s->len += n;
	s->lines[s->len] = 0;
}

static void hooks_see_every_call_and_lines_carry_the_pid(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	struct seen_log seen = {0};
	int l, c, s;
	char buf[8];
	wrap(net, "short-read=1", 7, &x);
	struct sd_fault_hooks h = {.seen = on_seen, .line = on_line, .ctx = &seen, .pid = 4242};
	assert_int_equal(sd_fault_set_hooks(&x.w, &h), 0);
	assert_int_equal(sd_fault_set_hooks(net, &h), -EINVAL);
	int u = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_true(sd_recv(&x.w, u, buf, sizeof buf, 0) < 0); /* never connected */
	sd_test_pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(&x.w, c, "abc", 3, 0), 3);
	sd_fault_set_pid(&x.w, 4343); /* as in a forked child */
	assert_int_equal(sd_recv(&x.w, s, buf, sizeof buf, 0), 1);
	assert_int_equal(sd_fault_note_nonblocking(&x.w, s, 1), 0);
	assert_int_equal(sd_recv(&x.w, s, buf, 1, MSG_PEEK), 1);
	assert_int_equal(sd_fault_note_nonblocking(net, s, 1), -EINVAL);
	/* reads: u's and s's blocking, the peek non-blocking; a write; an accept; a connect */
	assert_int_equal(seen.calls[SD_OP_READ][1], 2);
	assert_int_equal(seen.calls[SD_OP_READ][0], 1);
	assert_int_equal(seen.calls[SD_OP_WRITE][1], 1);
	assert_int_equal(seen.calls[SD_OP_ACCEPT][1], 1);
	assert_int_equal(seen.calls[SD_OP_CONNECT][1], 1);
	assert_int_equal(seen.faults, 2);
	assert_ptr_equal(strstr(seen.lines, ",\"pid\":4242,\"conn\":\"4242/s1\",\"call\":1,"
					    "\"op\":\"recv\",\"fault\":\"short-read\",\"bytes\":1,"
					    "\"asked\":8}\n{\"t\":"),
			 strchr(seen.lines, ','));
	/* the second line: s was numbered (accepted) while the pid was 4242 */
	const char *second = strchr(seen.lines, '\n') + 1;
	assert_non_null(strstr(second, ",\"pid\":4343,\"conn\":\"4242/a1\",\"call\":1,"));
	fflush(x.f);
	assert_int_equal(x.loglen, 0); /* the hook writes the lines, not the FILE */
	char line[256];
	struct sd_fault_decision d = {.fault = "eintr", .err = EINTR};
	sd_fault_format(line, sizeof line, 0, SD_CONN_SOCKET | 2, 1, "recv", &d, 5);
	assert_string_equal(line,
			    "{\"t\":0.000000000,\"conn\":\"s2\",\"call\":1,\"op\":\"recv\","
			    "\"fault\":\"eintr\",\"bytes\":0,\"asked\":5,\"errno\":\"EINTR\"}\n");
	unwrap(&x);
	sd_close(net, u), sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* A client *c of listener l on net, accepted through the wrapper w as *s, which reads (under
 * short-read=1) one byte of what it sent. */
static void accept_and_read(struct sd_net *net, struct sd_net *w, int l, int *c, int *s)
{
	struct sockaddr_storage where;
	socklen_t wl = sizeof where;
	char buf[8];
	assert_int_equal(sd_getsockname(net, l, (struct sockaddr *)&where, &wl), 0);
	*c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, *c, (struct sockaddr *)&where, wl), 0);
	*s = sd_accept(w, l, NULL, NULL, 0);
	assert_true(*s >= 0);
	assert_int_equal(sd_send(net, *c, "cd", 2, 0), 2);
	assert_int_equal(sd_recv(w, *s, buf, sizeof buf, 0), 1);
}

/* Sockets made before the wrapper saw them (inherited across exec) become its own with
 * sd_fault_adopt: the next ordinal of their role, their blocking mode as told; sockets it
 * sees made afterwards continue the numbering. */
static void adopted_sockets_continue_the_numbering(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s, c2, s2;
	char buf[8];
	sd_test_pair(net, &l, &c, &s); /* made on the inner net, unseen by the wrapper */
	wrap(net, "short-read=1", 5, &x);
	assert_int_equal(sd_fault_adopt(&x.w, l, SD_CONN_LISTENER, 0), 0);
	assert_int_equal(sd_fault_adopt(&x.w, s, SD_CONN_ACCEPTED, 0), 0);
	assert_int_equal(sd_fault_adopt(net, s, SD_CONN_ACCEPTED, 0), -EINVAL);
	assert_int_equal(sd_send(net, c, "ab", 2, 0), 2);
	assert_int_equal(sd_recv(&x.w, s, buf, sizeof buf, 0), 1);
	/* a connection accepted through the wrapper on the adopted listener is the second */
	accept_and_read(net, &x.w, l, &c2, &s2);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"a1\",\"call\":1,\"op\":\"recv\""));
	assert_non_null(strstr(x.log, "\"conn\":\"a2\",\"call\":1,\"op\":\"recv\""));
	unwrap(&x);
	sd_close(net, s2), sd_close(net, c2);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* A connection's identity (sd_fault_conn_of) handed to another wrapper (sd_fault_adopt_conn,
 * the preload's new image after an exec) continues it there: the same ordinal and process in
 * the log, its calls counted on from the old wrapper's, no ordinal of the new one taken. */
static void identity_carries_a_connection_to_another_wrapper(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x, y;
	struct sd_fault_conn id, none = {0};
	int l, c, s, fresh;
	char buf[8];
	wrap(net, "short-read=1", 5, &x);
	assert_int_equal(sd_fault_set_hooks(&x.w, &(struct sd_fault_hooks){.pid = 4242}), 0);
	sd_test_pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "abcd", 4, 0), 4);
	assert_int_equal(sd_recv(&x.w, s, buf, sizeof buf, 0), 1);
	assert_int_equal(sd_recv(&x.w, s, buf, sizeof buf, 0), 1);
	assert_int_equal(sd_fault_conn_of(&x.w, s, &id), 0);
	assert_true(id.conn == (SD_CONN_ACCEPTED | 1) && id.calls == 2 && id.pid == 4242);
	fresh = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0); /* no call yet: no connection */
	assert_int_equal(sd_fault_conn_of(&x.w, fresh, &none), -ENOENT);
	assert_int_equal(sd_fault_conn_of(net, s, &none), -EINVAL);
	wrap(net, "short-read=1", 5, &y);
	assert_int_equal(sd_fault_set_hooks(&y.w, &(struct sd_fault_hooks){.pid = 99}), 0);
	assert_int_equal(sd_fault_adopt_conn(&y.w, s, &none, 0), -EINVAL); /* no ordinal */
	assert_int_equal(sd_fault_adopt_conn(&y.w, s, &id, 0), 0);
	assert_int_equal(sd_recv(&y.w, s, buf, sizeof buf, 0), 1);
	/* the new wrapper's own first accepted connection is still its a1 */
	int c2, s2;
	accept_and_read(net, &y.w, l, &c2, &s2);
	fflush(y.f);
	assert_non_null(strstr(y.log, "\"conn\":\"4242/a1\",\"call\":3,\"op\":\"recv\""));
	assert_non_null(strstr(y.log, "\"conn\":\"99/a1\",\"call\":1,\"op\":\"recv\""));
	unwrap(&y);
	unwrap(&x);
	sd_close(net, s2), sd_close(net, c2), sd_close(net, fresh);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* The inner net's close, and then at once what another thread can do: make a socket, which
 * may get the number just released, and set it non-blocking. */
static const struct sd_ops *reuse_inner;
static struct sd_net *reuse_outer;
static int reuse_fd = -1;

static int close_then_reuse(void *state, int fd)
{
	int rc = reuse_inner->close(state, fd);
	if (reuse_outer) {
		reuse_fd = sd_socket(reuse_outer, AF_INET, SOCK_STREAM, 0);
		assert_int_equal(sd_set_nonblocking(reuse_outer, reuse_fd, 1), 0);
		reuse_outer = NULL;
	}
	return rc;
}

/* haproxy (two threads) under wrap: a socket made while another thread closed the same
 * number lost its non-blocking flag and its connection ("conn":"?0") and got EINTR. */
static void close_forgets_before_the_number_is_reused(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	struct sd_ops ops = *net->ops;
	ops.close = close_then_reuse;
	reuse_inner = net->ops;
	struct sd_net shim = {.ops = &ops, .state = net->state};
	wrap(&shim, "eintr=1", 1, &x);
	int fd = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	reuse_outer = &x.w;
	assert_int_equal(sd_close(&x.w, fd), 0);
	assert_int_equal(reuse_fd, fd); /* the lowest free number, as the kernel gives it */
	char b[4];
	/* non-blocking: never interrupted (not connected: ENOTCONN) */
	assert_int_equal(sd_recv(&x.w, reuse_fd, b, sizeof b, 0), -ENOTCONN);
	unwrap(&x);
	sd_close(net, reuse_fd);
}

/* A countdown through the wrapper counts the connection's calls: the connect is c1's first. */
static void countdown_counts_the_connections_calls(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	wrap(net, "eintr=1@after=2@for=1@op=write", 1, &x);
	sd_test_pair(&x.w, &l, &c, &s);                    /* c1 call 1: connect */
	assert_int_equal(sd_send(&x.w, c, "ab", 2, 0), 2); /* call 2 */
	assert_int_equal(sd_send(&x.w, c, "cd", 2, 0), -EINTR);
	assert_int_equal(sd_send(&x.w, c, "ef", 2, 0), 2);
	assert_int_equal(sd_recv(&x.w, s, b, 4, MSG_WAITALL), 4);
	assert_memory_equal(b, "abef", 4);
	fflush(x.f);
	assert_non_null(
		strstr(x.log, "\"conn\":\"c1\",\"call\":3,\"op\":\"send\",\"fault\":\"eintr\""));
	assert_null(strstr(x.log, "\"call\":2"));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* epipe and etimedout end the connection as reset does: the peer gets an RST, later calls
 * find it dead. */
static void epipe_and_etimedout_kill_the_connection(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	sd_test_pair(net, &l, &c, &s);
	wrap(net, "epipe=1@for=1,etimedout=1@for=1", 1, &x);
	assert_int_equal(sd_send(&x.w, c, "x", 1, MSG_NOSIGNAL), -EPIPE);
	assert_int_equal(sd_recv(net, s, b, sizeof b, 0), -ECONNRESET); /* the peer saw the RST */
	/* then as a kernel leaves a dead connection: the end of the stream, writes EPIPE */
	assert_int_equal(sd_send(&x.w, c, "y", 1, MSG_NOSIGNAL), -EPIPE);
	assert_int_equal(sd_recv(&x.w, c, b, sizeof b, 0), 0);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"fault\":\"epipe\",\"bytes\":0,\"asked\":1,"
				      "\"errno\":\"EPIPE\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
	sd_test_pair(net, &l, &c, &s);
	wrap(net, "etimedout=1@for=1", 1, &x);
	assert_int_equal(sd_recv(&x.w, c, b, sizeof b, 0), -ETIMEDOUT);
	assert_int_equal(sd_recv(net, s, b, sizeof b, 0), -ECONNRESET);
	assert_int_equal(sd_recv(&x.w, c, b, sizeof b, 0), 0);
	assert_int_equal(sd_send(&x.w, c, "y", 1, MSG_NOSIGNAL), -EPIPE);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"fault\":\"etimedout\""));
	assert_non_null(strstr(x.log, "\"errno\":\"ETIMEDOUT\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* enobufs and enomem fail one send and change nothing else: the stream goes on intact. */
static void enobufs_and_enomem_fail_one_send(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	sd_test_pair(net, &l, &c, &s);
	wrap(net, "enobufs=1@after=1@for=1,enomem=1@after=2@for=1", 1, &x);
	assert_int_equal(sd_send(&x.w, c, "ab", 2, 0), 2);
	assert_int_equal(sd_send(&x.w, c, "XX", 2, 0), -ENOBUFS);
	assert_int_equal(sd_send(&x.w, c, "YY", 2, 0), -ENOMEM);
	assert_int_equal(sd_send(&x.w, c, "cd", 2, 0), 2);
	assert_int_equal(sd_recv(net, s, b, 4, MSG_WAITALL), 4);
	assert_memory_equal(b, "abcd", 4);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"errno\":\"ENOBUFS\""));
	assert_non_null(strstr(x.log, "\"errno\":\"ENOMEM\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Waits until fd has bytes to read (bounded: 5 s): loopback may hand them over a moment after
 * the send returned. */
static void readable(struct sd_net *net, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(sd_poll(net, &p, 1, 5000), 1);
}

static void on_spared(void *ctx, enum sd_fault_op op) { ((int *)ctx)[op]++; }

/* The kinds a caller may list (wrap's summary) are the parser's: each has a name that parses
 * to a spec asking for it alone, and the ops it may touch. */
static void kinds_are_the_parsers(void **state)
{
	(void)state;
	for (int k = 0; k < SD_FK_KINDS; k++) {
		const char *name = sd_fault_kind_name(k);
		struct sd_fault_spec spec;
		char text[64], err[256];
		assert_non_null(name);
		assert_true(sd_fault_kind_ops(k) != 0);
		snprintf(text, sizeof text, "%s=1", name);
		assert_int_equal(sd_fault_parse(text, &spec, err, sizeof err), 0);
		for (int j = 0; j < SD_FK_KINDS; j++)
			assert_int_equal(sd_fault_kind_asked(&spec, j), j == k);
		assert_true(sd_fault_active(&spec));
		for (int j = 0; j < k; j++)
			assert_string_not_equal(sd_fault_kind_name(j), name);
	}
	assert_null(sd_fault_kind_name(SD_FK_KINDS));
	assert_null(sd_fault_kind_name(-1));
	assert_int_equal(sd_fault_kind_ops(SD_FK_KINDS), 0);
	assert_string_equal(sd_fault_kind_name(SD_FK_EPIPE), "epipe");
	assert_int_equal(sd_fault_kind_ops(SD_FK_EMFILE),
			 1u << SD_OP_ACCEPT | 1u << SD_OP_SOCKET | 1u << SD_OP_EPOLL);
	struct sd_fault_spec none;
	char err[256];
	assert_int_equal(sd_fault_parse("eintr=0,delay=0,scope=accepted", &none, err, sizeof err),
			 0);
	assert_false(sd_fault_active(&none));
}

/* A spec written as text reads back to the same spec, whatever its kinds, values and targets
 * (a fuzz input's faults written into a scenario: harness/fuzz_record.c); the text is cut at
 * the size given and says how long it would be. */
static void spec_text_reads_back(void **state)
{
	(void)state;
	static const char *const specs[] = {
		"",
		"short-read=3,short-write=1,eintr=0.05,eagain=0.5,reset=0.01,accept-fail=0.2,"
		"connect-fail=0.3,delay=20",
		"epipe=0.1@after=3,etimedout=0.2@for=3,enobufs=0.5@after=3@for=1,enomem=1",
		"emfile=0.3@op=accept|socket,enfile=0.1@op=epoll,eai-again=0.5,eai-noname=0.02",
		"latency=20~10@conn=a2,bandwidth=10,slice=64~16@op=write,limit-data=65536",
		"slow-close=100@window=100ms-2s,timeout=10000@conn=c1,scope=accepted",
		"reset=0.123456789@conn=l1@after=4@for=2@op=read|write@window=0ms-1s,"
		"latency=5,slice=3,level-triggered,scope=connected",
	};
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		struct sd_fault_spec a, b;
		char text[512], err[256];
		assert_int_equal(sd_fault_parse(specs[i], &a, err, sizeof err), 0);
		size_t n = sd_fault_spec_text(&a, text, sizeof text);
		assert_int_equal(n, strlen(text));
		assert_int_equal(sd_fault_parse(text, &b, err, sizeof err), 0);
		assert_memory_equal(&a, &b, sizeof a);
		char cut[8];
		assert_int_equal(sd_fault_spec_text(&a, cut, sizeof cut), n);
		assert_int_equal(strlen(cut), n < sizeof cut ? n : sizeof cut - 1);
		assert_memory_equal(cut, text, strlen(cut));
	}
	struct sd_fault_spec a;
	char text[256], err[256];
	assert_int_equal(sd_fault_parse("delay=2,short-read=1,latency=3~1@after=3@for=1", &a, err,
					sizeof err),
			 0);
	sd_fault_spec_text(&a, text, sizeof text); /* in the kinds' order, values as written */
	assert_string_equal(text, "short-read=1,delay=2,latency=3~1@after=3@for=1");
}

/* Whether decision d leaves a call of len bytes exactly as asked. */
static int untouched(const struct sd_fault_decision *d, size_t len)
{
	return !d->fault && !d->err && d->len == len && !d->reset && !d->delay_ms &&
	       !d->bandwidth_kbps && !d->slice && !d->slice_var && !d->slice_key && !d->limit &&
	       !d->eof;
}

/* The ops whose decisions kind k's spec ("NAME=1": it fires wherever it may) touches, over
 * every op, wait, role, call and a few lengths. */
static unsigned touched_ops(const struct sd_fault_spec *spec)
{
	static const uint64_t conns[] = {0, SD_CONN_ACCEPTED | 1, SD_CONN_CONNECTED | 2,
					 SD_CONN_LISTENER | 1, SD_CONN_SOCKET | 3};
	static const size_t lens[] = {0, 1, 2, 100, 70000};
	unsigned ops = 0;
	for (int op = 0; op < SD_OP_KINDS; op++)
		for (int w = SD_WAIT_NONBLOCKING; w <= SD_WAIT_NONBLOCKING_NO_EDGE; w++)
			for (size_t c = 0; c < sizeof conns / sizeof conns[0]; c++)
				for (uint64_t call = 1; call <= 12; call++)
					for (size_t n = 0; n < sizeof lens / sizeof lens[0]; n++) {
						struct sd_fault_decision d;
						sd_fault_decide_at(spec, 5, conns[c], call,
								   (enum sd_fault_op)op,
								   (enum sd_fault_wait)w, lens[n],
								   (int64_t)call * 1000000, &d);
						if (!untouched(&d, lens[n]))
							ops |= 1u << op;
					}
	return ops;
}

/* sd_fault_ops_asked is what lets the wrapper skip deciding an op (every fault at
 * probability 0): it must name every op some asked kind's decision touches. Each kind alone
 * at full strength touches exactly the ops its row says; kinds at 0 touch none. */
static void ops_asked_are_the_ops_decisions_touch(void **state)
{
	(void)state;
	struct sd_fault_spec spec;
	char err[256], text[64];
	for (int k = 0; k < SD_FK_KINDS; k++) {
		snprintf(text, sizeof text, "%s=1", sd_fault_kind_name(k));
		assert_int_equal(sd_fault_parse(text, &spec, err, sizeof err), 0);
		unsigned touched = touched_ops(&spec);
		if (touched != sd_fault_kind_ops(k))
			fail_msg("%s touches ops 0x%x, its row says 0x%x", text, touched,
				 sd_fault_kind_ops(k));
		assert_int_equal(sd_fault_ops_asked(&spec), touched);
	}
	/* a mix: the union, and a target only narrows */
	assert_int_equal(
		sd_fault_parse("eai-again=0.5,epipe=0.2@conn=a1,latency=3~2,scope=accepted", &spec,
			       err, sizeof err),
		0);
	assert_int_equal(sd_fault_ops_asked(&spec),
			 1u << SD_OP_RESOLVE | 1u << SD_OP_WRITE | 1u << SD_OP_READ);
	assert_int_equal(touched_ops(&spec) & ~sd_fault_ops_asked(&spec), 0);
	/* every kind with a probability, at 0 (bench/bench_wrap_servers.py's p=0), and the
	 * value kinds that take 0: nothing to decide anywhere */
	assert_int_equal(
		sd_fault_parse("eintr=0,eagain=0,reset=0,accept-fail=0,connect-fail=0,epipe=0,"
			       "etimedout=0,enobufs=0,enomem=0,emfile=0,enfile=0,eai-again=0,"
			       "eai-noname=0,delay=0,level-triggered,eintr=0@window=1s-2s",
			       &spec, err, sizeof err),
		0);
	assert_int_equal(sd_fault_ops_asked(&spec), 0);
	assert_int_equal(touched_ops(&spec), 0);
}

/* A wrapper whose faults are all at 0 still counts every call, so a spec given later
 * (sd_fault_respec: a long-lived server's next input) decides by the same call numbers as
 * one given from the start, and its hooks still see every call. */
static void zero_faults_keep_the_call_numbers(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	struct seen_log seen = {0};
	struct sd_fault_spec later;
	char err[256], b[8];
	int l, c, s;
	wrap(net, "eintr=0,reset=0,epipe=0,emfile=0,eai-again=0", 1, &x);
	struct sd_fault_hooks h = {.seen = on_seen, .ctx = &seen};
	assert_int_equal(sd_fault_set_hooks(&x.w, &h), 0);
	sd_test_pair(&x.w, &l, &c, &s);                    /* c1 call 1: connect */
	assert_int_equal(sd_send(&x.w, c, "ab", 2, 0), 2); /* call 2 */
	assert_int_equal(sd_send(&x.w, c, "cd", 2, 0), 2); /* call 3 */
	assert_int_equal(sd_recv(&x.w, s, b, 4, MSG_WAITALL), 4);
	assert_memory_equal(b, "abcd", 4);
	assert_int_equal(seen.calls[SD_OP_WRITE][1], 2);
	assert_int_equal(seen.calls[SD_OP_READ][1], 1);
	assert_int_equal(seen.calls[SD_OP_CONNECT][1], 1);
	assert_int_equal(seen.calls[SD_OP_ACCEPT][1], 1);
	assert_int_equal(seen.faults, 0);
	assert_int_equal(sd_fault_count(&x.w), 0);
	assert_int_equal(sd_fault_parse("eintr=1@after=3@for=1@op=write", &later, err, sizeof err),
			 0);
	assert_int_equal(sd_fault_respec(&x.w, &later, 1, x.f), 0);
	assert_int_equal(sd_send(&x.w, c, "ef", 2, 0), -EINTR); /* c1's call 4 */
	assert_int_equal(sd_send(&x.w, c, "gh", 2, 0), 2);
	fflush(x.f);
	assert_non_null(
		strstr(x.log, "\"conn\":\"c1\",\"call\":4,\"op\":\"send\",\"fault\":\"eintr\""));
	assert_int_equal(seen.faults, 1);
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* Told of the program's waits (the preload: sd_fault_note_wait), the wrapper refuses a
 * non-blocking call with EAGAIN only in the middle of a loop: never the first call of a
 * direction after a wait, where a kernel has the data or the room poll promised. */
static void eagain_only_mid_loop_once_waits_are_told(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	sd_test_pair(net, &l, &c, &s);
	assert_int_equal(sd_send(net, c, "abcdef", 6, 0), 6);
	readable(net, s);
	wrap(net, "eagain=1,level-triggered", 1, &x);
	int spared[SD_OP_KINDS] = {0}; /* the calls the hook is told no EAGAIN may refuse */
	struct sd_fault_hooks h = {.spared = on_spared, .ctx = spared};
	assert_int_equal(sd_fault_set_hooks(&x.w, &h), 0);
	/* not told: any non-blocking call may be refused, as before */
	assert_int_equal(sd_recv(&x.w, s, b, 2, MSG_DONTWAIT), -EAGAIN);
	sd_fault_note_wait(&x.w);
	assert_int_equal(sd_recv(&x.w, s, b, 2, MSG_DONTWAIT), 2); /* first after the wait */
	assert_int_equal(sd_recv(&x.w, s, b + 2, 2, MSG_DONTWAIT), -EAGAIN); /* mid-loop */
	sd_fault_note_wait(&x.w);
	assert_int_equal(sd_recv(&x.w, s, b + 2, 4, MSG_DONTWAIT), 4);
	assert_memory_equal(b, "abcdef", 6);
	/* the write side keeps its own count: a socket's first write is never refused */
	assert_int_equal(sd_send(&x.w, c, "gh", 2, MSG_DONTWAIT), 2);
	assert_int_equal(sd_send(&x.w, c, "ij", 2, MSG_DONTWAIT), -EAGAIN);
	sd_fault_note_wait(&x.w);
	assert_int_equal(sd_send(&x.w, c, "ij", 2, MSG_DONTWAIT), 2);
	readable(net, s);
	assert_int_equal(sd_recv(net, s, b, 4, MSG_WAITALL), 4);
	assert_memory_equal(b, "ghij", 4);
	/* spared: each direction's first call after a wait, none before the waits were told */
	assert_int_equal(spared[SD_OP_READ], 2);
	assert_int_equal(spared[SD_OP_WRITE], 2);
	assert_int_equal(spared[SD_OP_ACCEPT] + spared[SD_OP_CONNECT], 0);
	sd_fault_note_wait(net); /* another net: nothing */
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* emfile and enfile: socket() fails by its ordinal; accept fails and leaves the connection
 * queued, as accept-fail does. */
static void emfile_and_enfile_on_socket_and_accept(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	wrap(net, "emfile=1@op=socket@after=1@for=1,enfile=1@op=accept", 5, &x);
	int l = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(sd_socket(&x.w, AF_INET, SOCK_STREAM, 0), -EMFILE);
	assert_int_equal(sd_bind(&x.w, l, (struct sockaddr *)&any, al), 0);
	assert_int_equal(sd_listen(&x.w, l, 8), 0);
	sd_getsockname(&x.w, l, (struct sockaddr *)&where, &wl);
	int c = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&where, wl), 0);
	assert_int_equal(sd_accept(&x.w, l, NULL, NULL, 0), -ENFILE);
	int s = sd_accept(net, l, NULL, NULL, 0); /* without the wrapper: still there */
	assert_true(s >= 0);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"?0\",\"call\":2,\"op\":\"socket\","
				      "\"fault\":\"emfile\""));
	assert_non_null(strstr(x.log, "\"conn\":\"l1\",\"call\":1,\"op\":\"accept\","
				      "\"fault\":\"enfile\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* A window counts from when the wrapper was made, in the net's time (virtual on the sim);
 * it starts late enough that a loaded machine reaches the first send before it. */
static void window_follows_the_nets_clock(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	sd_test_pair(net, &l, &c, &s);
	wrap(net, "enobufs=1@window=2s-600s", 1, &x);
	assert_int_equal(sd_send(&x.w, c, "a", 1, 0), 1);
	sd_sleep_ns(net, 2000000000);
	assert_int_equal(sd_send(&x.w, c, "b", 1, 0), -ENOBUFS);
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* bandwidth and slice change when bytes move, never which: the stream is exact, the calls
 * take at least what the rate and the gaps between pieces say (the net's time: virtual on the
 * sim); latency aimed at writes leaves reads alone. */
static void time_kinds_keep_the_stream_exact(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	unsigned char out[2000], in[2000];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (unsigned char)(i * 13 + 1);
	sd_test_pair(net, &l, &c, &s);
	wrap(net, "bandwidth=100@op=write,slice=100~30,latency=20@op=write", 4, &x);
	int64_t t0 = sd_now_ns(&x.w);
	assert_int_equal(sd_send(&x.w, c, out, sizeof out, 0), (ssize_t)sizeof out);
	int64_t took = sd_now_ns(&x.w) - t0;
	/* 2000 bytes at 100 KB/s: 20 ms; at least 2000 / 130 pieces: 15 gaps of 1 ms; 20 ms */
	assert_true(took >= 20000000 + 15 * SD_FAULT_SLICE_GAP_NS + 20000000);
	assert_int_equal(sd_recv(&x.w, s, in, sizeof in, MSG_WAITALL), (ssize_t)sizeof in);
	assert_memory_equal(in, out, sizeof out);
	struct iovec v[2] = {{out, 700}, {out + 700, 1300}};
	struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
	assert_int_equal(sd_sendmsg(&x.w, c, &m, 0), (ssize_t)sizeof out);
	assert_int_equal(sd_recv(net, s, in, sizeof in, MSG_WAITALL), (ssize_t)sizeof in);
	assert_memory_equal(in, out, sizeof out);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"op\":\"send\",\"fault\":\"slice\",\"bytes\":2000"));
	assert_non_null(strstr(x.log, "\"op\":\"sendmsg\",\"fault\":\"slice\""));
	assert_null(strstr(x.log, "\"op\":\"recv\"")); /* aimed at writes only */
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* limit-data (toxiproxy's limit_data): the call that would pass the budget is cut to it, then
 * the connection is shut both ways: the peer reads the bytes and a FIN, the program the end of
 * the stream, and its writes fail EPIPE. */
static void limit_data_closes_cleanly(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[32];
	wrap(net, "limit-data=10@conn=c1", 1, &x);
	sd_test_pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(&x.w, c, "abcdef", 6, 0), 6);
	assert_int_equal(sd_send(&x.w, c, "ghijkl", 6, 0), 4);
	assert_int_equal(sd_recv(&x.w, s, b, 10, MSG_WAITALL), 10);
	assert_memory_equal(b, "abcdefghij", 10);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, 0), 0);        /* the FIN */
	assert_int_equal(sd_send(&x.w, s, "zz", 2, MSG_NOSIGNAL), 2); /* half-closed: fine */
	assert_int_equal(sd_recv(&x.w, c, b, sizeof b, 0), 0);
	assert_int_equal(sd_send(&x.w, c, "m", 1, MSG_NOSIGNAL), -EPIPE);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"c1\",\"call\":3,\"op\":\"send\","
				      "\"fault\":\"limit-data\",\"bytes\":4,\"asked\":6}"));
	assert_non_null(strstr(x.log, "\"op\":\"recv\",\"fault\":\"limit-data\",\"bytes\":0"));
	assert_null(strstr(x.log, "\"conn\":\"a1\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, c), sd_close(net, l);
}

/* slow-close waits before close and shutdown; timeout stalls one call, then the connection is
 * dead for good (it fires once). */
static void slow_close_and_timeout(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	int l, c, s;
	char b[8];
	wrap(net, "slow-close=30@conn=c1,timeout=40@conn=a1@after=1", 1, &x);
	sd_test_pair(&x.w, &l, &c, &s);
	assert_int_equal(sd_send(&x.w, c, "hi", 2, 0), 2);
	assert_int_equal(sd_recv(&x.w, s, b, 2, MSG_WAITALL), 2); /* a1 call 1 */
	int64_t t0 = sd_now_ns(&x.w);
	assert_int_equal(sd_send(&x.w, s, "yo", 2, 0), -ETIMEDOUT);
	assert_true(sd_now_ns(&x.w) - t0 >= 40000000);
	assert_int_equal(sd_recv(&x.w, c, b, sizeof b, 0), -ECONNRESET); /* the peer */
	t0 = sd_now_ns(&x.w);
	assert_int_equal(sd_recv(&x.w, s, b, sizeof b, 0), 0); /* dead, not stalled again */
	assert_int_equal(sd_send(&x.w, s, "x", 1, MSG_NOSIGNAL), -EPIPE);
	t0 = sd_now_ns(&x.w);
	sd_shutdown(&x.w, c, SHUT_RDWR);
	assert_int_equal(sd_close(&x.w, c), 0);
	assert_true(sd_now_ns(&x.w) - t0 >= 60000000);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"a1\",\"call\":2,\"op\":\"send\","
				      "\"fault\":\"timeout\",\"bytes\":0,\"asked\":2,"
				      "\"errno\":\"ETIMEDOUT\"}"));
	assert_non_null(strstr(x.log, "\"op\":\"shutdown\",\"fault\":\"slow-close\""));
	assert_non_null(strstr(x.log, "\"op\":\"close\",\"fault\":\"slow-close\""));
	const char *t = strstr(x.log, "\"fault\":\"timeout\"");
	assert_null(strstr(t + 1, "\"fault\":\"timeout\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, l);
}

/* emfile and enfile on epoll_create, eai-again and eai-noname on getaddrinfo: calls with no
 * connection, decided by their ordinal among the calls of their op (sd_fault_call). */
static void epoll_create_and_resolver_failures(void **state)
{
	struct sd_net *net = *state;
	struct wrapped x;
	wrap(net, "enfile=1@op=epoll@for=1,eai-again=1@after=1@for=1,eai-noname=1@after=2", 1, &x);
	assert_int_equal(sd_epoll_create(&x.w, 0), -ENFILE);
	int ep = sd_epoll_create(&x.w, 0);
	assert_true(ep >= 0);
	assert_int_equal(sd_fault_call(&x.w, SD_OP_RESOLVE, "getaddrinfo"), 0);
	assert_int_equal(sd_fault_call(&x.w, SD_OP_RESOLVE, "getaddrinfo"), EAI_AGAIN);
	assert_int_equal(sd_fault_call(&x.w, SD_OP_RESOLVE, "getaddrinfo"), EAI_NONAME);
	assert_int_equal(sd_fault_call(net, SD_OP_RESOLVE, "getaddrinfo"), 0); /* no wrapper */
	/* a socket's ordinal is its own: epoll and resolve calls did not count */
	int s = sd_socket(&x.w, AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	fflush(x.f);
	assert_non_null(strstr(x.log, "\"conn\":\"?0\",\"call\":1,\"op\":\"epoll_create\","
				      "\"fault\":\"enfile\",\"bytes\":0,\"asked\":0,"
				      "\"errno\":\"ENFILE\"}"));
	assert_non_null(strstr(x.log, "\"call\":2,\"op\":\"getaddrinfo\",\"fault\":\"eai-again\","
				      "\"bytes\":0,\"asked\":0,\"errno\":\"EAI_AGAIN\"}"));
	assert_non_null(
		strstr(x.log, "\"call\":3,\"op\":\"getaddrinfo\",\"fault\":\"eai-noname\""));
	unwrap(&x);
	sd_close(net, s), sd_close(net, ep);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(spec_errors),
	T(kinds_are_the_parsers),
	T(spec_text_reads_back),
	T(targets_aim_the_decisions),
	T(latency_and_slice_sizes_are_seeded),
	T(time_kinds_keep_the_stream_exact),
	T(limit_data_closes_cleanly),
	T(slow_close_and_timeout),
	T(epoll_create_and_resolver_failures),
	T(countdown_counts_the_connections_calls),
	T(epipe_and_etimedout_kill_the_connection),
	T(enobufs_and_enomem_fail_one_send),
	T(emfile_and_enfile_on_socket_and_accept),
	T(window_follows_the_nets_clock),
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
	T(dup3_continues_the_connection),
	T(adopted_sockets_continue_the_numbering),
	T(identity_carries_a_connection_to_another_wrapper),
	T(nonblocking_short_reads_leave_the_socket_ready),
	T(nonblocking_eagain_on_reads_leaves_the_socket_ready),
	T(nonblocking_short_writes_leave_the_socket_ready),
	T(level_triggered_programs_get_every_fault),
	T(hooks_see_every_call_and_lines_carry_the_pid),
	T(close_forgets_before_the_number_is_reused),
	T(eagain_only_mid_loop_once_waits_are_told),
	T(ops_asked_are_the_ops_decisions_touch),
	T(zero_faults_keep_the_call_numbers),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
