/* Differential test: seeded random op programs must give the same outcomes on sim and real. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sockdrill/diff.h>

#include "sd_test.h"

const char sd_unit_module[] = "diff";

/* SD_DIFF_SEED / SD_DIFF_COUNT / SD_DIFF_OPS replay or widen a run; defaults: 2000
 * programs of up to 30 calls from seed 1. SD_DIFF_STOP: how many mismatching programs end
 * the run (3; a survey of a wide run raises it). */
static uint64_t env_num(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : def;
}

static int env_retries; /* programs that matched only on a second real run */
static int env_held;    /* binds not compared: a socket outside the program held the port */

static void run_on(const char *backend, uint64_t seed, const struct sd_diff_prog *p,
		   struct sd_diff_result *r)
{
	struct sd_net net;
	assert_int_equal(sd_diff_open(&net, backend, seed), 0);
	assert_int_equal(sd_diff_run(&net, p, r), 0);
	sd_net_close(&net);
}

static int agree(const struct sd_diff_result *a, const struct sd_diff_result *b)
{
	return sd_diff_first_mismatch(a, b) < 0 && !a->stream_errors && !b->stream_errors;
}

static int run_one(uint64_t seed, int max_ops, int verbose)
{
	struct sd_diff_prog p;
	struct sd_diff_result rr, rs, again;
	int nops = 1 + (int)(seed % (uint64_t)max_ops);
	sd_diff_generate(seed, nops, &p);
	run_on("real", seed, &p, &rr);
	run_on("sim", seed, &p, &rs);
	env_held += rr.held_outside;
	if (agree(&rr, &rs) && !verbose)
		return 0;
	/* The kernel is shared with everything else on the machine, earlier programs' TIME_WAIT
	 * sockets included: a port the kernel picked may collide with one of them. A real
	 * divergence reproduces with fresh ports; such a collision does not. */
	for (int i = 0; i < 2 && !agree(&rr, &rs); i++) {
		run_on("real", seed, &p, &again);
		if (agree(&again, &rs)) {
			fprintf(stderr,
				"note: program seed %llu differed once and matched on a fresh "
				"real run (kernel state from outside the program)\n",
				(unsigned long long)seed);
			env_retries++;
			return 0;
		}
	}
	int m = sd_diff_first_mismatch(&rr, &rs);
	fprintf(stderr, "%s: program seed %llu (%d ops), stream errors real %d sim %d\n",
		m >= 0 ? "MISMATCH" : "program", (unsigned long long)seed, nops, rr.stream_errors,
		rs.stream_errors);
	sd_diff_report(stderr, &p, "real", &rr, "sim", &rs, m);
	fprintf(stderr,
		"replay: SD_DIFF_SEED=%llu SD_DIFF_COUNT=1 SD_DIFF_OPS=%d "
		"build/default/test_diff --only random_programs\n",
		(unsigned long long)seed, max_ops);
	return !agree(&rr, &rs);
}

static void random_programs(void **state)
{
	(void)state;
	uint64_t first = env_num("SD_DIFF_SEED", 1), count = env_num("SD_DIFF_COUNT", 2000);
	int nops = (int)env_num("SD_DIFF_OPS", 30), failures = 0;
	int stop = (int)env_num("SD_DIFF_STOP", 3);
	alarm((unsigned)(120 + count / 20)); /* 120 s for the default run, more for a wide one */
	uint64_t seed = first;
	for (; seed < first + count && failures < stop; seed++)
		failures += run_one(seed, nops, count == 1);
	fprintf(stderr,
		"diff: %llu programs from seed %llu, %d mismatches%s, %d matched only on "
		"retry, %d binds not compared (port held outside the program)\n",
		(unsigned long long)(seed - first), (unsigned long long)first, failures,
		failures >= stop ? " (stopped)" : "", env_retries, env_held);
	assert_int_equal(failures, 0);
	/* Retries are for rare collisions; many would mean the comparison itself is unsound. */
	assert_true(env_retries * 100 <= (int)count + 100);
}

/* A close on the kernel that, once the program's socket is gone, binds and listens on its
 * port from outside the program, as another process could at that moment. */
static struct {
	const struct sd_ops *inner;
	int holder;
} hook;

static int close_then_hold(void *state, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int named = hook.inner->getsockname(state, fd, (struct sockaddr *)&ss, &len);
	int rc = hook.inner->close(state, fd);
	if (named == 0 && hook.holder < 0) {
		hook.holder = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(hook.holder >= 0);
		/* EADDRINUSE would mean someone else outside got there first: as good. */
		int b = bind(hook.holder, (struct sockaddr *)&ss, len);
		assert_true(b == 0 || errno == EADDRINUSE);
		listen(hook.holder, 1);
	}
	return rc;
}

#define OP(k, s, a_, b_)                                                                           \
	{                                                                                          \
		.kind = SD_DIFF_##k, .slot = (s), .a = (a_), .b = (b_)                             \
	}

/* A bind the kernel refuses because a socket outside the program holds the port is not a
 * difference: it is marked "~ port held outside", counted, and not compared. */
static void bind_to_port_held_outside_is_not_compared(void **state)
{
	(void)state;
	struct sd_diff_prog p = {.n = 5,
				 .op = {
					 OP(SOCKET, 0, 0, 0), /* s0 = socket(AF_INET) */
					 OP(BIND, 0, 0, 0),   /* bind(s0, 127.0.0.1, port 0) */
					 OP(CLOSE, 0, 0, 0),  /* the hook now holds the port */
					 OP(SOCKET, 1, 0, 0), /* s1 = socket(AF_INET) */
					 OP(BIND, 1, 0, 1),   /* bind(s1, 127.0.0.1, port of s0) */
				 }};
	struct sd_net net;
	struct sd_config cfg = {.seed = 1};
	struct sd_diff_result real, sim;
	assert_int_equal(sd_net_open(&net, "real", &cfg), 0);
	struct sd_ops ops = *net.ops;
	hook.inner = net.ops, hook.holder = -1;
	ops.close = close_then_hold;
	struct sd_net held = {.ops = &ops, .state = net.state};
	assert_int_equal(sd_diff_run(&held, &p, &real), 0);
	sd_net_close(&net);
	assert_true(hook.holder >= 0);
	close(hook.holder);
	run_on("sim", 1, &p, &sim);
	sd_diff_report(stderr, &p, "real", &real, "sim", &sim, sd_diff_first_mismatch(&real, &sim));
	assert_string_equal(sim.out[4].text, "0");
	assert_string_equal(real.out[4].text, "~ port held outside");
	assert_int_equal(real.held_outside, 1);
	assert_int_equal(sd_diff_first_mismatch(&real, &sim), -1);
}

/* The check looks for sockets outside the program only: when the program's own sockets
 * hold the port (its listener, and a connection it has not accepted yet) the bind is
 * compared, so a sim that disagreed would be reported. */
static void bind_to_port_held_by_the_program_is_compared(void **state)
{
	(void)state;
	struct sd_diff_prog p = {
		.n = 7,
		.op = {
			OP(SOCKET, 0, 0, 0),  /* s0 = socket(AF_INET) */
			OP(BIND, 0, 0, 0),    /* bind(s0, 127.0.0.1, port 0) */
			OP(LISTEN, 0, 1, 0),  /* listen(s0, 1) */
			OP(SOCKET, 2, 0, 0),  /* s2 = socket(AF_INET) */
			OP(CONNECT, 2, 0, 0), /* connect(s2, 127.0.0.1, port of s0) */
			OP(SOCKET, 1, 0, 0),  /* s1 = socket(AF_INET) */
			OP(BIND, 1, 0, 1),    /* bind(s1, 127.0.0.1, port of s0) */
		}};
	struct sd_diff_result real, sim;
	run_on("real", 1, &p, &real);
	run_on("sim", 1, &p, &sim);
	sd_diff_report(stderr, &p, "real", &real, "sim", &sim, sd_diff_first_mismatch(&real, &sim));
	assert_string_equal(real.out[4].text, "-EINPROGRESS");
	assert_string_equal(real.out[6].text, "-EADDRINUSE");
	assert_int_equal(real.held_outside, 0);
	assert_int_equal(sd_diff_first_mismatch(&real, &sim), -1);
	struct sd_diff_result wrong = sim; /* a sim that let the bind through */
	snprintf(wrong.out[6].text, sizeof wrong.out[6].text, "0");
	assert_int_equal(sd_diff_first_mismatch(&real, &wrong), 6);
}

/* A program whose outcome depends on the kernel variant one-role (docs/sim-vs-linux.md,
 * "Kernel variants"): step 5 is a listen after a refused connect, step 9 a connect after a
 * listener was stopped by shutdown(SHUT_RD). */
static const struct sd_diff_prog variant_prog = {
	.n = 10,
	.op = {
		OP(SOCKET, 0, 0, 0),   /* s0 = socket(AF_INET) */
		OP(BIND, 0, 0, 0),     /* bind(s0, 127.0.0.1, port 0): connects to it are refused */
		OP(SOCKET, 1, 0, 0),   /* s1 = socket(AF_INET) */
		OP(CONNECT, 1, 0, 0),  /* connect(s1, 127.0.0.1, port of s0): EINPROGRESS */
		OP(CONNECT, 1, 0, 0),  /* ECONNREFUSED */
		OP(LISTEN, 1, 1, 0),   /* listen(s1, 1) */
		OP(SOCKET, 2, 0, 0),   /* s2 = socket(AF_INET) */
		OP(LISTEN, 2, 1, 0),   /* listen(s2, 1) */
		OP(SHUTDOWN, 2, 0, 0), /* shutdown(s2, SHUT_RD) */
		OP(CONNECT, 2, 0, 0),  /* connect(s2, 127.0.0.1, port of s0) */
	}};

/* Forced to each variant, the harness's sim gives that variant's outcomes. */
static void sim_of_each_variant(void **state)
{
	(void)state;
	struct sd_net net;
	struct sd_diff_result r[2];
	for (int v = 0; v <= 1; v++) {
		assert_int_equal(sd_diff_open_sim(&net, 1, v), 0);
		assert_int_equal(sd_sim_one_role(&net), v);
		assert_int_equal(sd_diff_run(&net, &variant_prog, &r[v]), 0);
		sd_net_close(&net);
	}
	sd_diff_report(stderr, &variant_prog, "mainline", &r[0], "one-role", &r[1],
		       sd_diff_first_mismatch(&r[0], &r[1]));
	assert_string_equal(r[0].out[5].text, "0");
	assert_string_equal(r[1].out[5].text, "-EINVAL");
	assert_string_equal(r[0].out[9].text, "-EINPROGRESS");
	assert_string_equal(r[1].out[9].text, "-EINVAL");
	assert_int_equal(sd_diff_first_mismatch(&r[0], &r[1]), 5);
	assert_int_equal(sd_diff_open_sim(&net, 1, 2), -EINVAL);
}

/* sd_diff_open gives the sim this host's variant, as the probe found it: the program agrees
 * with the kernel on that sim, the kernel gives what the probe predicts, and a sim of the
 * other variant would differ at the first step that depends on it. */
static void sim_models_the_host_variant(void **state)
{
	(void)state;
	int host = sd_real_host_one_role();
	assert_true(host == 0 || host == 1);
	struct sd_net net;
	assert_int_equal(sd_diff_open(&net, "sim", 1), 0);
	assert_int_equal(sd_sim_one_role(&net), host);
	sd_net_close(&net);
	struct sd_diff_result real, sim, other;
	run_on("real", 1, &variant_prog, &real);
	run_on("sim", 1, &variant_prog, &sim);
	sd_diff_report(stderr, &variant_prog, "real", &real, "sim", &sim,
		       sd_diff_first_mismatch(&real, &sim));
	assert_string_equal(real.out[5].text, host ? "-EINVAL" : "0");
	assert_string_equal(real.out[9].text, host ? "-EINVAL" : "-EINPROGRESS");
	assert_true(agree(&real, &sim));
	assert_int_equal(sd_diff_open_sim(&net, 1, !host), 0);
	assert_int_equal(sd_diff_run(&net, &variant_prog, &other), 0);
	sd_net_close(&net);
	assert_int_equal(sd_diff_first_mismatch(&real, &other), 5);
}

/* Every corpus/sim_vs_kernel/regress-* input (a program that once diverged, kept as a
 * fuzz seed) must agree, decoded as the fuzz target decodes it; a first miss gets the same
 * fresh real runs as the fuzz target gives it. */
static void regression_inputs(void **state)
{
	(void)state;
	DIR *d = opendir(SD_DIFF_CORPUS);
	assert_non_null(d);
	int n = 0, failed = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, "regress-", 8))
			continue;
		char path[4096];
		unsigned char data[4 * SD_DIFF_MAX_OPS];
		snprintf(path, sizeof path, "%s/%s", SD_DIFF_CORPUS, e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(data, 1, sizeof data, f);
		fclose(f);
		struct sd_diff_prog p;
		struct sd_diff_result real, sim;
		sd_diff_decode(data, len, 30, &p);
		run_on("sim", 1, &p, &sim);
		for (int attempt = 0; attempt < 3; attempt++) {
			run_on("real", 1, &p, &real);
			if (agree(&real, &sim))
				break;
		}
		n++;
		if (!agree(&real, &sim)) {
			failed++;
			fprintf(stderr, "MISMATCH: %s\n", path);
			sd_diff_report(stderr, &p, "real", &real, "sim", &sim,
				       sd_diff_first_mismatch(&real, &sim));
		}
	}
	closedir(d);
	fprintf(stderr, "diff: %d regression inputs, %d mismatches\n", n, failed);
	assert_true(n > 0);
	assert_int_equal(failed, 0);
}

/* s0 listens on 127.0.0.1, s1 connects to it, s2 is accepted with TCP_INQ on, and s1 sends
 * it 38 bytes: how the tests of the newer calls start, and what it gives on both stacks. */
#define INQ_CONNECTION                                                                             \
	OP(SOCKET, 0, 0, 0), OP(BIND, 0, 0, 0), OP(LISTEN, 0, 1, 0), OP(SOCKET, 1, 0, 0),          \
		OP(CONNECT, 1, 0, 0), OP(ACCEPT, 0, 0, 0), OP(SETOPT, 2, 11, 0), OP(SEND, 1, 1, 1)
#define INQ_CONNECTION_OUTCOMES "fd", "0", "0", "fd", "-EINPROGRESS", "fd peer=s1", "0", "all"

/* p on both stacks: the sim's outcomes are want[], and the kernel's the same. */
static void sim_gives_and_kernel_agrees(const struct sd_diff_prog *p, const char *const *want)
{
	struct sd_diff_result real, sim;
	run_on("real", 1, p, &real);
	run_on("sim", 1, p, &sim);
	sd_diff_report(stderr, p, "real", &real, "sim", &sim, sd_diff_first_mismatch(&real, &sim));
	for (int i = 0; i < p->n; i++)
		assert_string_equal(sim.out[i].text, want[i]);
	assert_true(agree(&real, &sim));
}

/* The newer calls on a connection, where random programs rarely get: TCP_INQ, recvmsg with
 * MSG_TRUNC and MSG_WAITALL, SIOCINQ, a dup whose copy keeps the connection open after the
 * first descriptor's close, TCP_INFO after a FIN, and SO_LINGER {0, 5} read back. Both
 * stacks agree, and the sim gives what Linux documents. */
static void new_calls_on_a_connection(void **state)
{
	(void)state;
	struct sd_diff_prog p = {
		.n = 25,
		.op = {
			INQ_CONNECTION,        /* 0..7 */
			OP(QUERY, 2, 0, 0),    /* ioctl SIOCINQ(s2) */
			OP(RECVMSG, 2, 2, 0),  /* recvmsg(s2, 1, MSG_TRUNC|MSG_DONTWAIT): dropped */
			OP(RECVMSG, 2, 6, 1),  /* 10 recvmsg(s2, 223, MSG_DONTWAIT) */
			OP(DUP, 2, 0, 0),      /* s3 = dup(s2) */
			OP(CLOSE, 2, 0, 0),    /* the connection lives on in s3 */
			OP(SEND, 1, 1, 1),     /* send(s1, 38) */
			OP(QUERY, 3, 0, 0),    /* ioctl SIOCINQ(s3) */
			OP(RECVMSG, 3, 3, 1),  /* 15 recvmsg(s3, 112, MSG_WAITALL|MSG_DONTWAIT) */
			OP(SHUTDOWN, 1, 1, 0), /* shutdown(s1, SHUT_WR) */
			OP(GETOPT, 1, 5, 0),   /* TCP_INFO(s1) */
			OP(QUERY, 1, 1, 0),   /* ioctl SIOCOUTQ(s1): the FIN's ACK may be delayed */
			OP(RECVMSG, 3, 0, 0), /* recvmsg(s3, 1, MSG_DONTWAIT): the end */
			OP(GETOPT, 3, 5, 0),  /* 20 TCP_INFO(s3) */
			OP(SETOPT, 3, 7, 0),  /* setsockopt(s3, SO_LINGER={0,5}) */
			OP(GETOPT, 3, 0, 0),  /* getsockopt(s3, SO_LINGER) */
			OP(EPOLL_CTL, 3, 0, 0), /* epoll_ctl(ADD, s3, IN): a dup'd socket */
			OP(GETOPT, 1, 2, 0),    /* getsockopt(s1, TCP_NODELAY) */
		}};
	static const char *const want[] = {
		INQ_CONNECTION_OUTCOMES,
		"38",
		"1 flags=0x0 inq=37",
		"37 flags=0x0 inq=0",
		"fd",
		"0",
		"all",
		"38",
		"38 flags=0x0 inq=0",
		"0",
		"state=FIN_WAIT1|2",
		"~ outq unacknowledged",
		"0 flags=0x0 inq=1",
		"state=CLOSE_WAIT",
		"0",
		"{0,0}",
		"0", /* the kernel's key (socket, number): the sim's too */
		"1"};
	sim_gives_and_kernel_agrees(&p, want);
}

/* dup2 and dup3 onto another slot, and recvmsg's smaller control buffers: the bytes left with
 * TCP_INQ (the FIN counted), MSG_CTRUNC, MSG_CMSG_CLOEXEC kept in msg_flags, the socket a dup2
 * replaced closing with its last descriptor. Both stacks agree, and the sim gives what Linux
 * documents. */
static void dup2_dup3_and_control_rooms(void **state)
{
	(void)state;
	struct sd_diff_prog p = {
		.n = 21,
		.op = {
			INQ_CONNECTION,        /* 0..7 */
			OP(RECVMSG, 2, 96, 0), /* recvmsg(s2, 1, MSG_DONTWAIT, control 8) */
			OP(RECVMSG, 2, 168,
			   0),               /* recvmsg(s2, 1, ...|MSG_CMSG_CLOEXEC, control 18) */
			OP(SOCKET, 3, 0, 0), /* 10 s3 = socket(AF_INET) */
			OP(DUP, 2, 2, 3),    /* dup2(s2, s3): s3's own socket closes */
			OP(DUP, 3, 3, 3),    /* dup3(s3, s3, 0): EINVAL */
			OP(DUP, 0, 3, 3 + 2 * SD_DIFF_SLOTS), /* dup3(s0, s3, O_NONBLOCK): EINVAL */
			OP(CLOSE, 2, 0, 0),                   /* the connection lives on in s3 */
			OP(SEND, 1, 1, 1),                    /* 15 send(s1, 38) */
			OP(RECVMSG, 3, 0, 0),  /* recvmsg(s3, 1, MSG_DONTWAIT, control 24) */
			OP(SHUTDOWN, 1, 1, 0), /* shutdown(s1, SHUT_WR) */
			OP(RECVMSG, 3, 0, 0),  /* 72 left, and the FIN counts in TCP_CM_INQ */
			OP(DUP, 0, 3 + 24,
			   3 + SD_DIFF_SLOTS), /* dup3(s0, s3, O_CLOEXEC) closes it */
			OP(RECV, 1, 3, 1),     /* 20 recv(s1, ...): reset, 72 bytes were unread */
		}};
	static const char *const want[] = {INQ_CONNECTION_OUTCOMES,
					   "1 flags=0x8 clen=0",
					   "1 flags=0x40000008 cmsg clen=18",
					   "fd",
					   "fd",
					   "-EINVAL",
					   "-EINVAL",
					   "0",
					   "all",
					   "1 flags=0x0 inq=73",
					   "0",
					   "1 flags=0x0 inq=73",
					   "fd",
					   "-ECONNRESET"};
	sim_gives_and_kernel_agrees(&p, want);
}

/* Every rule the comparison applies has its row in docs/sim-vs-linux.md's table of rules. */
static void every_rule_is_documented(void **state)
{
	(void)state;
	FILE *f = fopen(SD_DOCS_DIR "/sim-vs-linux.md", "r");
	assert_non_null(f);
	static char doc[1 << 18];
	size_t n = fread(doc, 1, sizeof doc - 1, f);
	fclose(f);
	doc[n] = 0;
	int i = 0;
	for (; sd_diff_rule_name(i); i++) {
		char row[80];
		snprintf(row, sizeof row, "| `~ %s` |", sd_diff_rule_name(i));
		if (!strstr(doc, row))
			fprintf(stderr, "not in docs/sim-vs-linux.md: %s\n", row);
		assert_non_null(strstr(doc, row));
	}
	assert_true(i >= 4); /* (the dup rule went when the sim keyed epoll entries as Linux) */
}

static void decode_folds_every_byte(void **state)
{
	(void)state;
	uint8_t bytes[16];
	struct sd_diff_prog p;
	memset(bytes, 0xff, sizeof bytes);
	sd_diff_decode(bytes, sizeof bytes - 1, 64, &p);
	assert_int_equal(p.n, 3); /* a trailing partial op is dropped */
	for (int i = 0; i < p.n; i++) {
		assert_true(p.op[i].kind < SD_DIFF_NKINDS);
		assert_true(p.op[i].slot < SD_DIFF_SLOTS);
	}
}

/* The generator as it was before programs could start connected: a seed's bytes. */
static void generate_unconnected(uint64_t seed, int n, struct sd_diff_prog *p)
{
	uint8_t bytes[SD_DIFF_MAX_OPS * 4];
	uint64_t x = seed;
	for (int i = 0; i < n * 4; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		bytes[i] = (uint8_t)(z ^ (z >> 31));
	}
	for (int i = 0; i < n && i < 4; i++)
		bytes[i * 4] = (uint8_t)(i < 2 ? SD_DIFF_SOCKET : bytes[i * 4] % 3);
	sd_diff_decode(bytes, (size_t)n * 4, n, p);
}

/* About one program in four starts with an accepted connection (s2 accepted from s0, s1's
 * peer), which the sim makes; every other program is the one its seed gave before, so seeds
 * in old reports replay the same program. */
static void some_programs_start_connected(void **state)
{
	(void)state;
	int connected = 0, total = 400;
	for (uint64_t seed = 1; seed <= (uint64_t)total; seed++) {
		int n = 1 + (int)(seed % 30);
		struct sd_diff_prog p, before;
		sd_diff_generate(seed, n, &p);
		generate_unconnected(seed, n, &before);
		assert_int_equal(p.n, n);
		if (!memcmp(p.op, before.op, sizeof p.op[0] * (size_t)n))
			continue;
		connected++;
		assert_true(n > 6);
		assert_int_equal(p.op[5].kind, SD_DIFF_ACCEPT);
		assert_int_equal(memcmp(&p.op[6], &before.op[6], sizeof p.op[0] * (size_t)(n - 6)), 0);
		if (connected > 3)
			continue;
		struct sd_diff_result sim;
		run_on("sim", seed, &p, &sim);
		assert_string_equal(sim.out[4].text, "-EINPROGRESS");
		assert_string_equal(sim.out[5].text, "fd peer=s1");
	}
	fprintf(stderr, "%d of %d programs start connected\n", connected, total);
	assert_in_range(connected, total / 8, total / 3);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(random_programs),
	T(regression_inputs),
	T(bind_to_port_held_outside_is_not_compared),
	T(bind_to_port_held_by_the_program_is_compared),
	T(decode_folds_every_byte),
	T(some_programs_start_connected),
	T(new_calls_on_a_connection),
	T(dup2_dup3_and_control_rooms),
	T(every_rule_is_documented),
	T(sim_of_each_variant),
	T(sim_models_the_host_variant),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
