/* The scenario language: parser messages and the evaluator, on the backend under test. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/scenario.h>
#include <sockdrill/sim.h>
#include <sockdrill/fault.h>
#include <sockdrill/sockdrill.h>

#include "sd_test.h"

const char sd_unit_module[] = "scenario";

static struct sd_scenario *parse_ok(const char *text)
{
	struct sd_scenario *sc;
	char err[512];
	int rc = sd_scenario_parse("t.sd", text, strlen(text), &sc, err, sizeof err);
	if (rc != 0)
		fail_msg("unexpected parse error: %s", err);
	return sc;
}

static void parse_err(const char *text, const char *want)
{
	struct sd_scenario *sc = (void *)1;
	char err[512] = "";
	assert_int_equal(sd_scenario_parse("t.sd", text, strlen(text), &sc, err, sizeof err),
			 -EINVAL);
	assert_null(sc);
	if (strcmp(err, want) != 0)
		fail_msg("got message \"%s\", want \"%s\"", err, want);
}

static void parser_messages_name_line_and_column(void **state)
{
	(void)state;
	parse_err("", "t.sd:1:1: no steps in this scenario");
	parse_err("# only a comment\n\n", "t.sd:1:1: no steps in this scenario");
	parse_err("a: frob(1)\n", "t.sd:1:4: unknown call 'frob'");
	parse_err("a: X = socket(inet) -> ENOPE\n",
		  "t.sd:1:24: unknown expectation 'ENOPE' (an errno name such as ECONNREFUSED, "
		  "poll flags, a number, a range, a comparison such as >= 1, even, odd, fd, a "
		  "string or *)");
	parse_err("x: S = socket(inet)\nx: bind(S, 1.2.3:0)\n",
		  "t.sd:2:12: not an IPv4 or IPv6 address: '1.2.3'");
	parse_err("x: S = socket(inet)\nx: bind(S, [::1)\n",
		  "t.sd:2:12: unterminated IPv6 address (missing ']')");
	parse_err("x: S = socket(inet)\nx: send(S, \"abc)\n", "t.sd:2:12: unterminated string");
	parse_err("x: S = socket(inet)\nx: send(S, \"a\\q\")\n", "t.sd:2:14: unknown escape '\\q'");
	parse_err("x: S = socket(inet)\n\x01\n", "t.sd:2:1: unexpected byte 0x01");
	parse_err("x: S = socket(inet) -> 5..2\n", "t.sd:1:24: empty range 5..2");
	parse_err("x: S = socket(inet, BOGUS)\n", "t.sd:1:21: unknown name 'BOGUS'");
	parse_err("x: bind(S, 127.0.0.1)\n", "t.sd:1:21: an address needs a port: ADDR:PORT");
	parse_err("x: bind(S, 127.0.0.1:70000)\n", "t.sd:1:22: port out of range: 70000");
	parse_err("x: listen(S)\n", "t.sd:1:4: listen needs at least 2 arguments");
	parse_err("x: close(S, S)\n", "t.sd:1:13: close takes at most 1 arguments");
	parse_err("x: send(S, 5)\n",
		  "t.sd:1:12: argument 2 of send must be a string or pattern(N)");
	/* an option's name is an option only where setsockopt and getsockopt take one */
	parse_err("x: send(S, \"a\", SO_LINGER)\n",
		  "t.sd:1:17: argument 3 of send must be a number");
	parse_err("x: setsockopt(S, 100005, 1)\n",
		  "t.sd:1:18: argument 2 of setsockopt must be a socket option name");
	parse_err("x: getsockopt(S, SO_LINGER|SO_KEEPALIVE)\n",
		  "t.sd:1:18: unknown name 'SO_LINGER'");
	parse_err("x: close(S) -> \"data\"\n",
		  "t.sd:1:16: a string expectation is only for recv, recv_until, recvline");
	parse_err("x: S = socket(inet)\nx: recv(S, 9) -> match /(/\n",
		  "t.sd:2:25: bad regular expression: Unmatched ( or \\(");
	parse_err("x: S = socket(inet)\nx: recv(S, 9) -> \"a\" | prefix 1\n",
		  "t.sd:2:31: prefix takes a string: prefix \"HTTP/1.1 200\"");
	parse_err("x: S = socket(inet)\nx: send(S, \"a\", hold_last=-1)\n",
		  "t.sd:2:27: hold_last takes milliseconds, 0..600000: hold_last=10ms");
	parse_err("x: close(S) -> IN|OUT\n",
		  "t.sd:1:16: poll flags are only an expectation for poll");
	parse_err("x: close(S) trailing\n", "t.sd:1:13: unexpected 't'");
	parse_err("repeat 2 {\nx: S = socket(inet)\n", "t.sd:1:1: repeat is never closed with '}'");
	parse_err("}\n", "t.sd:1:1: '}' without a matching 'repeat'");
	parse_err("set speed 3\nx: close(S)\n",
		  "t.sd:1:5: unknown setting 'speed' (seed, segment, preempt, timeout, faults, "
		  "server-faults, server-seed, unprivileged, hz, syn-retries, syn-linear-timeouts, "
		  "fin-timeout, port-range, somaxconn, wmem-max, rmem-max, tcp-rmem-max, "
		  "tcp-peek-off, tw-reuse, tw-reuse-delay, "
		  "notsent-lowat)");
	parse_err("set faults short-read\nx: close(S)\n",
		  "t.sd:1:12: faults takes a quoted spec, e.g. \"short-read=1\"");
	parse_err("set faults \"eintr=7\"\nx: close(S)\n",
		  "t.sd:1:12: faults: bad value '7' for eintr (a probability from 0 to 1)");
	parse_err("x: start A = close(S) -> 0\n",
		  "t.sd:1:23: a started call has no expectation here: check it at 'wait'");
	parse_err("x: close(S) -> 99999999999999999999\n", "t.sd:1:16: number too large");
}

/* Every name a line reads was made by a line before it: assigned (X = ...), started (start
 * X = ...), $i inside repeat; $TARGET_PORT only for a run that defines it. */
static void parser_refuses_unknown_names(void **state)
{
	(void)state;
	parse_err("x: send(C, \"x\")\n",
		  "t.sd:1:9: unknown variable $C (no line before this one assigns it)");
	parse_err("x: S = socket(inet)\nx: bind(S, 127.0.0.1:$P)\n",
		  "t.sd:2:22: unknown variable $P (no line before this one assigns it)");
	parse_err("repeat 2 {\n  x: C[$i] = socket(inet)\n}\nx: close(C[$j])\n",
		  "t.sd:4:12: unknown variable $j (no line before this one assigns it)");
	parse_err("x: S = socket(inet)\nx: recv(S, 4) -> $N\n",
		  "t.sd:2:18: unknown variable $N (no line before this one assigns it)");
	parse_err("x: S = socket(inet)\nx: send(S, pattern($N))\n",
		  "t.sd:2:20: unknown variable $N (no line before this one assigns it)");
	parse_err("x: sleep($i)\n", "t.sd:1:10: $i used outside repeat");
	parse_err("x: S = socket(inet)\nx: close(S[$i])\n", "t.sd:2:12: $i used outside repeat");
	parse_err("x: N = wait A -> 0\n", "t.sd:1:13: no call was started as A before this line");
	parse_err("x: blocked $A\n", "t.sd:1:12: no call was started as A before this line");
	parse_err("x: S = send(S, \"x\")\n",
		  "t.sd:1:13: unknown variable $S (no line before this one assigns it)");
	/* a later assignment, even in a repeat, does not count before it */
	parse_err("repeat 2 {\n  x: close(S)\n  x: S = socket(inet)\n}\n",
		  "t.sd:2:12: unknown variable $S (no line before this one assigns it)");
	const char qa[] = "x: C = socket(inet)\nx: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\n";
	parse_err(qa, "t.sd:2:25: unknown variable $TARGET_PORT (only 'sockdrill run --target' "
		      "and 'sockdrill wrap --run' define it)");
	struct sd_scenario *sc;
	char err[512];
	struct sd_sc_options o = {.target_port = 8080};
	assert_int_equal(sd_scenario_parse_opt("t.sd", qa, strlen(qa), &o, &sc, err, sizeof err),
			 0);
	sd_scenario_free(sc);
	/* made anywhere before, in a repeat too; start and assignment are separate names */
	sd_scenario_free(parse_ok("repeat 2 {\n  x: C[$i] = socket(inet)\n  x: start A[$i] = "
				  "accept(C[$i])\n}\nx: J = sleep(0)\nx: close(C[$J])\n"
				  "x: blocked A[0]\nx: A = wait A[1]\nx: close($A)\n"));
}

/* Numbers the runner passes on are checked where they stand: sleep(MS) in 0..a day (MS * 1e6
 * overflowed before), other numeric arguments in int. */
static void parser_bounds_numeric_arguments(void **state)
{
	(void)state;
	parse_err("x: sleep(922337203685477580)\n",
		  "t.sd:1:10: argument 1 of sleep must be 0..86400000 (milliseconds)");
	parse_err("x: sleep(-1)\n",
		  "t.sd:1:10: argument 1 of sleep must be 0..86400000 (milliseconds)");
	parse_err("x: S = socket(inet)\nx: listen(S, 2147483648)\n",
		  "t.sd:2:14: argument 2 of listen must be -2147483648..2147483647");
	parse_err("x: S = socket(inet)\nx: poll(S, IN, -2147483649)\n",
		  "t.sd:2:16: argument 3 of poll must be -2147483648..2147483647");
	sd_scenario_free(parse_ok("x: sleep(86400000)\nx: sleep(0)\n"));
}

/* The steps a file runs (repeat counts multiply) are counted when it is read. */
static void parser_bounds_the_steps_run(void **state)
{
	(void)state;
	parse_err("repeat 1000000 {\nx: sleep(0)\nx: sleep(0)\nx: sleep(0)\n}\n",
		  "t.sd:4:1: the scenario would run more than 2000000 steps here (a step in "
		  "repeat runs once per iteration)");
	parse_err("repeat 1000000 {\n repeat 1000000 {\n }\n x: sleep(0)\n repeat 3 {\n"
		  "  x: sleep(0)\n }\n}\n",
		  "t.sd:6:3: the scenario would run more than 2000000 steps here (a step in "
		  "repeat runs once per iteration)");
	parse_err("repeat 1000001 {\n}\n", "t.sd:1:8: repeat count must be 0..1000000");
}

/* Each started call is a thread or an actor: at most 10000 in a file, counted when it is read
 * (1000000 of them took 5.6 GB), and at most 1000 not yet collected by wait, when it runs. */
static void parser_bounds_the_calls_started(void **state)
{
	(void)state;
	parse_err("repeat 5001 {\n  x: start A = sleep(0)\n  x: wait A\n  x: start B = "
		  "sleep(0)\n  x: wait B\n}\n",
		  "t.sd:4:3: the scenario would start more than 10000 calls here (a start in "
		  "repeat runs once per iteration)");
	sd_scenario_free(parse_ok("repeat 10000 {\n  x: start A = sleep(0)\n  x: wait A\n}\n"));
}

static void parser_accepts_the_language(void **state)
{
	(void)state;
	struct sd_scenario *sc =
		parse_ok("# comment\n"
			 "set seed 9\nset segment 3\nset preempt 0.5\nset timeout 500\n"
			 "server: L = socket(inet, NONBLOCK) -> fd   # trailing comment\n"
			 "bind(L, [::ffff:127.0.0.1]:0) -> EAFNOSUPPORT|EINVAL\n"
			 "repeat 3 {\n"
			 "  c: C[$i] = socket(inet6) -> fd\n"
			 "  c: send($C[$i], \"a\\x41\\n\\\"\", MSG_NOSIGNAL|MSG_DONTWAIT) -> *\n"
			 "  repeat 0 {\n  c: close(C[$i]) -> 0\n  }\n"
			 "}\n"
			 "c: start R = recv(L, 10, MSG_PEEK)\n"
			 "c: blocked R\n"
			 "c: N = wait R -> 0..10\n"
			 "c: poll(L, IN|OUT, 10) -> IN|OUT\n"
			 "c: recv(L, 4) -> pattern(4)\n"
			 "c: setsockopt(L, SO_LINGER, 0) -> $N\n");
	assert_int_equal(sd_scenario_steps(sc), 15);
	struct sd_sc_options o = {0};
	assert_int_equal(sd_scenario_seed(sc, &o), 9);
	o.has_seed = 1, o.seed = 4;
	assert_int_equal(sd_scenario_seed(sc, &o), 4);
	sd_scenario_free(sc);
}

/* 'requires [no-]one-role' states the kernel variant a file describes, once. */
static void parser_reads_the_kernel_variant(void **state)
{
	(void)state;
	parse_err("requires two-role\nx: close(S)\n",
		  "t.sd:1:10: unknown kernel variant 'two-role' (one-role, no-one-role, or "
		  "TUNABLE=N)");
	parse_err("requires\nx: close(S)\n",
		  "t.sd:1:9: expected a kernel variant (one-role, no-one-role) or TUNABLE=N");
	parse_err("requires # none\nx: close(S)\n",
		  "t.sd:1:10: expected a kernel variant (one-role, no-one-role) or TUNABLE=N");
	parse_err("requires one-role\nx: S = socket(inet)\nrequires no-one-role\n",
		  "t.sd:3:10: line 1 already states the one-role variant");
	parse_err("requires one-role now\nx: close(S)\n", "t.sd:1:19: unexpected 'n'");
	parse_err("requires one-role\n", "t.sd:1:1: no steps in this scenario");
	sd_scenario_free(parse_ok("x: S = socket(inet)\n  requires\tno-one-role  # mainline\n"));
	sd_scenario_free(parse_ok("requires: S = socket(inet)\n")); /* an actor of that name */
}

static struct sd_sc_result run_opt(const char *text, const struct sd_sc_options *opt)
{
	struct sd_scenario *sc = parse_ok(text);
	struct sd_sc_result r;
	assert_int_equal(sd_scenario_run(sc, sd_test_backend, opt, &r), 0);
	sd_scenario_free(sc);
	return r;
}

static struct sd_sc_result run(const char *text) { return run_opt(text, NULL); }

static const char server_prologue[] = "s: L = socket(inet) -> fd\n"
				      "s: bind(L, 127.0.0.1:0) -> 0\n"
				      "s: listen(L, 16) -> 0\n"
				      "s: P = port(L) -> 1024..65535\n";

static void evaluator_runs_an_exchange(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof text,
		 "%s"
		 "s: start A = accept(L)\n"
		 "s: blocked A\n"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "s: S = wait A -> fd\n"
		 "s: peerport(S) -> *\n"
		 "c: Q = port(C)\n"
		 "s: peerport(S) -> $Q\n"
		 "c: send(C, \"ping\") -> 4\n"
		 "s: recv(S, 2) -> \"pi\"\n"
		 "s: recv(S, 10, MSG_PEEK) -> \"ng\"\n"
		 "s: recv(S, 10) -> 2\n"
		 "c: shutdown(C, SHUT_WR) -> 0\n"
		 "s: poll(S, IN|OUT|RDHUP) -> IN|OUT|RDHUP\n"
		 "s: recv(S, 10) -> 0\n"
		 "s: close(S) -> 0\n"
		 "c: recv(C, 1) -> 0\n"
		 "c: send(C, \"x\", MSG_NOSIGNAL) -> EPIPE\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	if (!r.passed)
		fail_msg("%s", r.message);
	assert_int_equal(r.n, 22);
	assert_int_equal(r.failed_at, -1);
	assert_string_equal(r.out[4].got, "started");
	assert_string_equal(r.out[5].got, "blocked");
	assert_string_equal(r.out[13].got, "\"pi\"");
	assert_string_equal(r.out[17].got, "IN|OUT|RDHUP");
	assert_string_equal(r.out[21].got, "-EPIPE");
	sd_sc_result_free(&r);
}

/* listen after a refused connect: EINVAL on a one-role kernel, 0 on mainline */
static struct sd_sc_result run_as(const char *requires, const char *listen_gives, int one_role)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "a: B = socket(inet) -> fd\n"
		 "a: bind(B, 127.0.0.1:0) -> 0\n"
		 "a: P = port(B)\n"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, 127.0.0.1:$P) -> ECONNREFUSED\n"
		 "c: listen(C, 1) -> %s\n",
		 requires, listen_gives);
	struct sd_scenario *sc = parse_ok(text);
	struct sd_sc_options o = {.one_role = one_role};
	struct sd_sc_result r;
	assert_int_equal(sd_scenario_run(sc, sd_test_backend, &o, &r), 0);
	sd_scenario_free(sc);
	return r;
}

/* A file that states its variant runs on sim as that variant whatever the run's one_role; on
 * real it runs when the kernel has it and is skipped (not passed) when not. A file that
 * states none runs on sim as the run's one_role says, on real as the kernel is. */
static void evaluator_runs_a_file_as_its_kernel_variant(void **state)
{
	(void)state;
	static const char *const req[2] = {"requires no-one-role\n", "requires one-role\n"};
	static const char *const gives[2] = {"0", "EINVAL"};
	int real = !strcmp(sd_test_backend, "real");
	int host = real ? sd_real_host_one_role() : -1;
	if (real)
		assert_true(host == 0 || host == 1);
	for (int opt = 0; opt <= 1; opt++) {
		for (int want = 0; want <= 1; want++) {
			struct sd_sc_result r = run_as(req[want], gives[want], opt);
			if (real && host != want) {
				char msg[200];
				snprintf(msg, sizeof msg,
					 "t.sd:1: not applicable: the file requires %s and this "
					 "kernel is %s",
					 want ? "one-role" : "no-one-role",
					 host ? "one-role" : "no-one-role");
				assert_true(r.skipped);
				assert_false(r.passed);
				assert_int_equal(r.n, 0);
				assert_string_equal(r.message, msg);
			} else {
				if (!r.passed)
					fail_msg("%s", r.message);
				assert_false(r.skipped);
			}
			sd_sc_result_free(&r);
			/* the variant stated is the one checked: the other's result fails */
			r = run_as(req[want], gives[!want], opt);
			assert_false(r.passed);
			assert_int_equal(r.skipped, real && host != want);
			sd_sc_result_free(&r);
			r = run_as("", gives[want], opt);
			assert_int_equal(r.passed, (real ? host : opt) == want);
			assert_false(r.skipped);
			sd_sc_result_free(&r);
		}
	}
}

static void evaluator_reports_the_first_failure(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "c: send(C, \"abc\") -> 3\n"
		 "c: send(C, \"abc\") -> 4\n"
		 "c: close(C) -> 0\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	assert_false(r.passed);
	assert_int_equal(r.failed_at, 7);
	assert_int_equal(r.n, 8); /* nothing after the failure runs */
	assert_string_equal(r.message, "t.sd:8: c: send(C, \"abc\") -> 4: expected 4, got 3");
	assert_false(r.out[7].ok);
	sd_sc_result_free(&r);
}

static void evaluator_repeat_and_indexed_names(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof text,
		 "%s"
		 "repeat 5 {\n"
		 "  c: C[$i] = socket(inet) -> fd\n"
		 "  c: connect(C[$i], 127.0.0.1:$P) -> 0\n"
		 "  s: S[$i] = accept(L) -> fd\n"
		 "}\n"
		 "repeat 5 {\n"
		 "  s: send(S[$i], pattern(70000)) -> 70000\n"
		 "  c: recv(C[$i], 70000, MSG_WAITALL) -> pattern(70000)\n"
		 "  c: close(C[$i]) -> 0\n"
		 "  s: recv(S[$i], 1) -> 0\n"
		 "}\n"
		 "c: close(C[9]) -> 0\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	assert_false(r.passed); /* C[9] was never made */
	assert_int_equal(r.n, 4 + 15 + 20 + 1);
	assert_string_equal(r.message, "t.sd:16: c: close(C[9]) -> 0: unknown variable $C[9]");
	assert_int_equal(r.out[5].iteration, 0);
	assert_int_equal(r.out[17].iteration, 4);
	sd_sc_result_free(&r);
}

/* A blocking call nobody can satisfy: sim reports the deadlock; real gives up at the timeout. */
static void evaluator_bounds_a_hanging_step(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof text,
		 "set timeout 300\n%s"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "s: S = accept(L) -> fd\n"
		 "s: recv(S, 10) -> 10\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	assert_false(r.passed);
	if (!strcmp(sd_test_backend, "sim"))
		assert_non_null(strstr(r.message, "would block forever: deadlock at"));
	else
		assert_non_null(strstr(r.message, "still blocked after 300 ms"));
	sd_sc_result_free(&r);
}

/* A sleep whose length comes from a variable is checked when it runs. */
static void evaluator_bounds_a_sleep_from_a_variable(void **state)
{
	(void)state;
	struct sd_sc_result r = run("s: L = socket(inet) -> fd\n"
				    "s: setsockopt(L, SO_RCVTIMEO, 2000000000) -> 0\n"
				    "s: T = getsockopt(L, SO_RCVTIMEO) -> 2000000000\n"
				    "s: sleep($T)\n");
	assert_false(r.passed);
	assert_string_equal(r.message, "t.sd:4: s: sleep($T): sleep of 2000000000 ms is out of "
				       "range (0..86400000)");
	sd_sc_result_free(&r);
}

/* The outcomes array grows geometrically: 100001 outcomes in a few allocations (64 entries
 * at a time made it quadratic). */
static void evaluator_keeps_outcomes_in_few_allocations(void **state)
{
	(void)state;
	struct sd_sc_result r = run("s: L = socket(inet) -> fd\n"
				    "repeat 100000 {\n"
				    "  s: port(L) -> 0\n"
				    "}\n");
	if (!r.passed)
		fail_msg("%s", r.message);
	assert_int_equal(r.n, 100001);
	assert_int_equal(r.out[100000].iteration, 99999);
	if (r.cost.outcome_allocs > 20)
		fail_msg("%ld allocations for %d outcomes", r.cost.outcome_allocs, r.n);
	sd_sc_result_free(&r);
}

/* The documented maximum runs: repeat 1000000 around one step (it stopped at "2000000
 * steps", the repeat and '}' counted as steps); loops with no step inside cost nothing. */
static void evaluator_runs_the_largest_repeat(void **state)
{
	(void)state;
	struct sd_sc_result r = run("s: L = socket(inet) -> fd\n"
				    "repeat 1000000 {\n"
				    "  repeat 1000000 {\n"
				    "  }\n"
				    "  s: port(L) -> 0\n"
				    "}\n");
	if (!r.passed)
		fail_msg("%s", r.message);
	assert_int_equal(r.cost.steps, 1000001);
	sd_sc_result_free(&r);
}

/* Variables and started calls are found in O(1): a table entry or two looked at per use, however
 * many there are (a list made 20000 iterations cost 200 million comparisons). */
static void evaluator_finds_names_in_constant_time(void **state)
{
	(void)state;
	struct sd_sc_result r = run("s: L = socket(inet) -> fd\n"
				    "repeat 20000 {\n"
				    "  s: X[$i] = port(L)\n"
				    "  s: port(L) -> $X[$i]\n"
				    "}\n"
				    "repeat 2000 {\n"
				    "  s: start A[$i] = port(L)\n"
				    "  s: Y = wait A[$i] -> $X[0]\n"
				    "}\n");
	if (!r.passed)
		fail_msg("%s", r.message);
	assert_int_equal(r.cost.steps, 1 + 2 * 20000 + 2 * 2000);
	/* about six uses of a name per iteration */
	if (r.cost.probes > 10 * 6 * 22000)
		fail_msg("%ld table entries looked at for %ld steps", r.cost.probes, r.cost.steps);
	sd_sc_result_free(&r);
}

/* pattern(N) is made once, not for every send: 100 sends of 1 MB generate about 1 MB of it
 * (100 MB before); a length from a variable grows it by doubling. */
static void evaluator_makes_the_pattern_once(void **state)
{
	(void)state;
	struct sd_sc_result r = run("x: S = socket(inet) -> fd\n"
				    "x: L = socket(inet) -> fd\n"
				    "x: bind(L, 127.0.0.1:0) -> 0\n"
				    "x: P = port(L)\n"
				    "repeat 100 {\n"
				    "  x: send(S, pattern(1000000), MSG_NOSIGNAL)\n"
				    "  x: send(S, pattern($P), MSG_NOSIGNAL)\n"
				    "}\n");
	if (!r.passed)
		fail_msg("%s", r.message);
	assert_int_equal(r.cost.steps, 4 + 200);
	if (r.cost.pattern_bytes > 2 * 1000000)
		fail_msg("%ld pattern bytes made", r.cost.pattern_bytes);
	sd_sc_result_free(&r);
}

static void evaluator_bounds_the_calls_pending(void **state)
{
	(void)state;
	struct sd_sc_result r = run("repeat 3000 {\n"
				    "  x: start A = sleep(0)\n"
				    "  x: wait A -> 0\n"
				    "}\n");
	if (!r.passed) /* collected as they go: never more than one pending */
		fail_msg("%s", r.message);
	sd_sc_result_free(&r);
	r = run("repeat 1001 {\n"
		"  x: start A[$i] = sleep(1)\n"
		"}\n");
	assert_false(r.passed);
	assert_string_equal(r.message, "t.sd:2: x: start A[$i] = sleep(1) (iteration 1000): more "
				       "than 1000 started calls pending (collect some with wait "
				       "first)");
	sd_sc_result_free(&r);
}

/* A run asked for its verdict only keeps no outcomes, whatever it runs, and still names the
 * failing step. */
static void evaluator_keeps_only_the_verdict_when_asked(void **state)
{
	(void)state;
	struct sd_scenario *sc = parse_ok("s: L = socket(inet) -> fd\n"
					  "repeat 1000 {\n"
					  "  s: port(L) -> 0\n"
					  "}\n"
					  "s: close(L) -> 1\n");
	struct sd_sc_options o = {.verdict_only = 1};
	struct sd_sc_result r;
	assert_int_equal(sd_scenario_run(sc, sd_test_backend, &o, &r), 0);
	assert_false(r.passed);
	assert_string_equal(r.message, "t.sd:5: s: close(L) -> 1: expected 1, got 0");
	assert_int_equal(r.cost.steps, 1002);
	assert_int_equal(r.n, 0);
	assert_null(r.out);
	assert_int_equal(r.cost.outcome_allocs, 0);
	assert_int_equal(r.failed_at, -1);
	sd_sc_result_free(&r);
	sd_scenario_free(sc);
}

/* On real a sleep is wall time bounded like any step, and one started and still sleeping when
 * the run ends is stopped with it (a thread left in nanosleep was reported as "could not be
 * stopped" and leaked). */
static void evaluator_ends_sleeps_with_the_run(void **state)
{
	(void)state;
	struct sd_sc_result r = run("x: start A = sleep(86400000)\n"
				    "x: blocked A\n");
	if (!r.passed)
		fail_msg("%s", r.message);
	sd_sc_result_free(&r);
	r = run("set timeout 300\nx: sleep(5000) -> 0\n");
	if (!strcmp(sd_test_backend, "sim")) {
		assert_true(r.passed); /* virtual time */
	} else {
		assert_false(r.passed);
		assert_string_equal(r.message, "t.sd:2: x: sleep(5000) -> 0: still blocked after "
					       "300 ms (see 'set timeout')");
	}
	sd_sc_result_free(&r);
}

/* A started recv still blocked when the scenario ends is dropped with the run, buffer and all
 * (LeakSanitizer fails this test if the buffer is lost). */
static void evaluator_frees_a_call_still_blocked_at_the_end(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "s: S = accept(L) -> fd\n"
		 "s: start R = recv(S, 100)\n"
		 "s: blocked R\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	if (!r.passed)
		fail_msg("%s", r.message);
	sd_sc_result_free(&r);
}

/* 'set server-faults' and 'set server-seed' are for a server sockdrill starts: a file stating
 * them reads only for such a run, which takes them through the accessors. */
static void parser_reads_the_server_settings(void **state)
{
	(void)state;
	static const char text[] = "set server-faults \"short-write=2,eintr=0.05\"\n"
				   "set server-seed 17\n"
				   "x: S = socket(inet)\n";
	parse_err(text, "t.sd:1:5: server-faults is for a server sockdrill starts: replay the "
			"file with 'sockdrill run --inproc TARGET' or 'sockdrill wrap --run'");
	parse_err("set server-seed 3\nx: S = socket(inet)\n",
		  "t.sd:1:5: server-seed is for a server sockdrill starts: replay the file with "
		  "'sockdrill run --inproc TARGET' or 'sockdrill wrap --run'");
	struct sd_sc_options o = {.server_started = 1};
	struct sd_scenario *sc;
	char err[512];
	assert_int_equal(
		sd_scenario_parse_opt("t.sd", text, strlen(text), &o, &sc, err, sizeof err), 0);
	uint64_t seed = 0;
	assert_string_equal(sd_scenario_server_faults(sc), "short-write=2,eintr=0.05");
	const struct sd_fault_spec *typed = sd_scenario_server_fault_spec(sc);
	assert_non_null(typed); /* parsed once, by the parser */
	assert_int_equal(typed->short_write, 2);
	assert_true(typed->eintr == 0.05);
	assert_int_equal(sd_scenario_server_seed(sc, &seed), 1);
	assert_int_equal(seed, 17);
	assert_int_equal(sd_scenario_seed(sc, NULL), 1); /* the sim's seed is apart */
	sd_scenario_free(sc);
	static const char *const bad[][2] = {
		{"set server-faults \"eintr=2\"\nx: S = socket(inet)\n",
		 "t.sd:1:19: faults: bad value '2' for eintr (a probability from 0 to 1)"},
		{"set server-seed -1\nx: S = socket(inet)\n",
		 "t.sd:1:17: value out of range for server-seed"},
		{"set server-port 1\nx: S = socket(inet)\n",
		 "t.sd:1:5: unknown setting 'server-port' (seed, segment, preempt, timeout, "
		 "faults, server-faults, server-seed, unprivileged, hz, syn-retries, "
		 "syn-linear-timeouts, fin-timeout, port-range, somaxconn, wmem-max, rmem-max, "
		 "tcp-rmem-max, tcp-peek-off, tw-reuse, tw-reuse-delay, "
		 "notsent-lowat)"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		assert_int_equal(sd_scenario_parse_opt("t.sd", bad[i][0], strlen(bad[i][0]), &o,
						       &sc, err, sizeof err),
				 -EINVAL);
		assert_string_equal(err, bad[i][1]);
	}
	sc = parse_ok("x: S = socket(inet)\n");
	assert_null(sd_scenario_server_faults(sc));
	assert_null(sd_scenario_server_fault_spec(sc));
	assert_int_equal(sd_scenario_server_seed(sc, &seed), 0);
	sd_scenario_free(sc);
}

static int port_42(const unsigned char *reply, size_t n)
{
	(void)reply;
	return n ? 42 : 0;
}

/* reply_port(fd) reads the port the bytes fd received name (FTP's PASV and EPSV forms, the
 * last one winning), 0 for none or a new socket; a run may bring its own reading. */
static void evaluator_reads_a_port_from_a_reply(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof text,
		 "%s"
		 "c: C = socket(inet) -> fd\n"
		 "c: reply_port(C) -> 0\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "s: S = accept(L) -> fd\n"
		 "s: send(S, \"227 Entering Passive Mode (127,0,0,1,4,210).\\r\\n\") -> 46\n"
		 "c: recv(C, 46, MSG_WAITALL) -> 46\n"
		 "c: Q = reply_port(C) -> 1234\n"
		 "s: send(S, \"229 (|||5678|)\\r\\n\") -> 16\n"
		 "c: recv(C, 16, MSG_WAITALL) -> 16\n"
		 "c: reply_port(C) -> 5678\n"
		 "s: send(S, \"(|||70000|) (1,2,3,4,300,1)\\n\") -> 28\n"
		 "c: recv(C, 28, MSG_WAITALL) -> 28\n"
		 "c: reply_port(C) -> 5678\n"
		 "c: close(C) -> 0\n"
		 "c: D = socket(inet) -> fd\n"
		 "c: reply_port(D) -> 0\n"
		 "s: close(S) -> 0\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	if (!r.passed)
		fail_msg("%s", r.message);
	sd_sc_result_free(&r);
	struct sd_scenario *sc = parse_ok(text);
	struct sd_sc_options o = {.reply_port = port_42};
	assert_int_equal(sd_scenario_run(sc, sd_test_backend, &o, &r), 0);
	assert_false(r.passed);
	assert_string_equal(r.message,
			    "t.sd:11: c: Q = reply_port(C) -> 1234: expected 1234, got 42");
	sd_sc_result_free(&r);
	sd_scenario_free(sc);
	assert_int_equal(sd_scenario_reply_port((const unsigned char *)"(0,0,0,0,0,0)", 13), 0);
	assert_int_equal(sd_scenario_reply_port((const unsigned char *)"(|||65535|", 10), 65535);
}

/* On an instance the caller opened: the run leaves it open, the calls still blocked stopped
 * and the sockets the file left open closed; the caller's own sockets stay. */
static void evaluator_runs_on_an_open_instance(void **state)
{
	struct sd_net *net = *state;
	int mine = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_true(mine >= 0);
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "s: S = accept(L) -> fd\n"
		 "s: start R = recv(S, 100)\n"
		 "s: blocked R\n"
		 "c: D = socket(inet) -> fd\n"
		 "c: close(D) -> 0\n",
		 server_prologue);
	struct sd_scenario *sc = parse_ok(text);
	struct sd_sc_result r;
	struct sd_sc_options o = {.timeout_ms = 200};
	assert_int_equal(sd_scenario_run_on(sc, net, &o, &r), 0);
	if (!r.passed)
		fail_msg("%s", r.message);
	sd_sc_result_free(&r);
	sd_scenario_free(sc);
	if (!strcmp(sd_test_backend, "sim")) {
		struct sd_sim_stats st;
		assert_int_equal(sd_sim_stats(net, &st), 0);
		assert_int_equal(st.open_fds, 1); /* mine */
		assert_int_equal(st.listening, 0);
	}
	assert_int_equal(sd_close(net, mine), 0);
}

/* Every errno name Linux has, comparisons and parity as expectations; misuse is refused at
 * its column. */
static void parser_reads_comparisons_and_every_errno(void **state)
{
	(void)state;
	sd_scenario_free(parse_ok("a: S = socket(inet) -> >= 0\n"
				  "a: port(S) -> EDOM | EDEADLK | EHWPOISON | ENOTSUP | 0\n"
				  "a: port(S) -> < 1 | > $S | <= -1 | != 5 | >= $S\n"
				  "a: port(S) -> even | odd | EDEADLOCK|EWOULDBLOCK\n"));
	parse_err("a: S = socket(inet) -> >=\n", "t.sd:1:26: >= takes a number or a variable: "
						 ">= 1, >= $X");
	parse_err("a: S = socket(inet) -> < x\n", "t.sd:1:26: < takes a number or a variable: "
						  "< 1, < $X");
	parse_err("a: S = socket(inet) -> ! 1\n",
		  "t.sd:1:24: expected a comparison: <, <=, >, >= or !=");
	parse_err("a: S = socket(inet) -> >= $Q\n",
		  "t.sd:1:27: unknown variable $Q (no line before this one assigns it)");
	parse_err("a: S = socket(inet) -> EVEN\n",
		  "t.sd:1:24: unknown expectation 'EVEN' (an errno name such as ECONNREFUSED, poll "
		  "flags, a number, a range, a comparison such as >= 1, even, odd, fd, a string or "
		  "*)");
}

static void evaluator_compares_results(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "c: C = socket(inet) -> >= 0\n"
		 "c: connect(C, 127.0.0.1:$P) -> <= 0\n"
		 "c: send(C, \"abc\") -> odd\n"
		 "c: send(C, \"ab\") -> even | EAGAIN\n"
		 "c: port(C) -> != $P\n"
		 "c: close(C) -> 0\n"
		 "c: close(C) -> < 1 | EBADF\n"
		 "c: send(C, \"abcd\") -> > 3\n",
		 server_prologue);
	struct sd_sc_result r = run(text);
	assert_false(r.passed);
	assert_int_equal(r.failed_at, 11); /* an error meets no comparison */
	assert_string_equal(r.message, "t.sd:12: c: send(C, \"abcd\") -> > 3: expected > 3, got "
				       "-EBADF");
	sd_sc_result_free(&r);
	snprintf(text, sizeof text, "%sc: X = port(L) -> odd | even\nc: port(L) -> > $X\n",
		 server_prologue);
	r = run(text);
	assert_false(r.passed);
	assert_int_equal(r.failed_at, 5);
	sd_sc_result_free(&r);
}

/* --keep-going: every failing step is reported, the first stays the message. */
static void evaluator_keeps_going_when_asked(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "c: C = socket(inet) -> EDOM\n"
		 "c: connect(C, 127.0.0.1:$P) -> 0\n"
		 "repeat 3 {\n"
		 "  c: send(C, \"ab\") -> 3\n"
		 "}\n"
		 "c: close(C) -> 0\n",
		 server_prologue);
	struct sd_sc_options opt = {.keep_going = 1};
	struct sd_sc_result r = run_opt(text, &opt);
	assert_false(r.passed);
	assert_int_equal(r.n, 10); /* every step ran */
	assert_int_equal(r.nfailed, 4);
	assert_int_equal(r.nfailures, 4);
	assert_int_equal(r.failed_at, 4);
	assert_string_equal(r.message, r.failures[0].message);
	assert_int_equal(r.failures[0].line, 5);
	assert_int_equal(r.failures[3].line, 8);
	assert_int_equal(r.failures[3].iteration, 2);
	assert_string_equal(r.failures[3].message,
			    "t.sd:8: c: send(C, \"ab\") -> 3 (iteration 2): expected 3, got 2");
	assert_true(r.out[9].ok);
	sd_sc_result_free(&r);
	r = run(text); /* and without: the first failure ends the run */
	assert_int_equal(r.n, 5);
	assert_int_equal(r.nfailed, 1);
	assert_int_equal(r.nfailures, 1);
	sd_sc_result_free(&r);
}

/* addr() and peer(): the address kept as the variable's text, connected to, compared. */
static void evaluator_keeps_and_compares_addresses(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof text,
		 "%s"
		 "s: A = addr(L) -> 127.0.0.1:$P\n"
		 "c: C = socket(inet) -> fd\n"
		 "c: connect(C, $A) -> 0\n"
		 "c: peer(C) -> $A\n"
		 "c: B = addr(C) -> 127.0.0.1:*\n"
		 "c: addr(C) -> $B\n"
		 "c: peer(C) -> $B | 127.0.0.2:$P\n"
		 "c: connect(C, $P) -> 0\n",
		 server_prologue);
	struct sd_sc_options opt = {.keep_going = 1};
	struct sd_sc_result r = run_opt(text, &opt);
	assert_int_equal(r.nfailed, 2);
	assert_int_equal(r.failed_at, 10);
	assert_string_equal(r.out[9].got, r.out[8].got); /* the address, as text */
	assert_int_equal(strncmp(r.out[9].got, "127.0.0.1:", 10), 0);
	assert_string_equal(r.out[9].norm, "127.0.0.1:port");
	char want[256];
	snprintf(want, sizeof want,
		 "t.sd:11: c: peer(C) -> $B | 127.0.0.2:$P: expected $B | "
		 "127.0.0.2:$P, got %s",
		 r.out[4].got);
	assert_string_equal(r.failures[0].message, want);
	assert_string_equal(r.failures[1].message, "t.sd:12: c: connect(C, $P) -> 0: $P holds no "
						   "address (addr() and peer() keep one)");
	sd_sc_result_free(&r);
}

/* An epoll_wait without a limit still waiting when the run ends is ended with it (on the
 * kernel no socket shut down wakes a wait on an empty set). */
static void evaluator_ends_an_epoll_wait_with_the_run(void **state)
{
	(void)state;
	struct sd_sc_result r = run("a: E = epoll_create() -> fd\n"
				    "a: start W = epoll_wait(E, -1)\n"
				    "a: blocked W\n"
				    "a: epoll_wait(E, 0) -> {}\n");
	if (!r.passed)
		fail_msg("%s", r.message);
	sd_sc_result_free(&r);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(evaluator_ends_an_epoll_wait_with_the_run),
	T(evaluator_keeps_and_compares_addresses),
	T(parser_reads_comparisons_and_every_errno),
	T(evaluator_compares_results),
	T(evaluator_keeps_going_when_asked),
	T(parser_messages_name_line_and_column),
	T(parser_reads_the_server_settings),
	T(evaluator_reads_a_port_from_a_reply),
	T(evaluator_runs_on_an_open_instance),
	T(parser_reads_the_kernel_variant),
	T(evaluator_runs_a_file_as_its_kernel_variant),
	T(parser_accepts_the_language),
	T(evaluator_runs_an_exchange),
	T(evaluator_reports_the_first_failure),
	T(evaluator_repeat_and_indexed_names),
	T(evaluator_bounds_a_hanging_step),
	T(evaluator_frees_a_call_still_blocked_at_the_end),
	T(parser_bounds_numeric_arguments),
	T(parser_refuses_unknown_names),
	T(evaluator_bounds_a_sleep_from_a_variable),
	T(evaluator_keeps_outcomes_in_few_allocations),
	T(parser_bounds_the_steps_run),
	T(evaluator_runs_the_largest_repeat),
	T(evaluator_finds_names_in_constant_time),
	T(evaluator_makes_the_pattern_once),
	T(parser_bounds_the_calls_started),
	T(evaluator_bounds_the_calls_pending),
	T(evaluator_keeps_only_the_verdict_when_asked),
	T(evaluator_ends_sleeps_with_the_run),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
