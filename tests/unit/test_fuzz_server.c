/* Tests of the in-process server fuzz driver (harness/fuzz_server.c): servers written against
 * plain libc socket calls, run on the sim through the interposition layer (harness/libc/). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "sd_test.h"

#define PORT 7300

static int starts, answered;

/* Echoes one line per connection, upper-cased when `arg` is non-NULL (a wrong answer);
 * accepts forever, like most servers: it never returns by itself. */
static void accept_forever(void *arg)
{
	starts++;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return; /* the driver then reports the refused clients */
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		char buf[128];
		size_t n = 0;
		ssize_t k;
		while (n < sizeof buf && (k = recv(c, buf + n, sizeof buf - n, 0)) > 0) {
			n += (size_t)k;
			if (memchr(buf, '\n', n))
				break;
		}
		if (arg)
			for (size_t i = 0; i < n; i++)
				if (buf[i] >= 'a' && buf[i] <= 'z')
					buf[i] = (char)(buf[i] - 'a' + 'A');
		for (size_t off = 0; off < n && (k = send(c, buf + off, n - off, 0)) > 0;)
			off += (size_t)k;
		answered++;
		close(c);
	}
}

static const char *const reqs[] = {"hello\n", "one more line\n"};

static int echo_check(int which, const unsigned char *req, size_t reqlen,
		      const unsigned char *reply, size_t replylen)
{
	if (which < 0)
		return 0; /* raw bytes: a line of them may come back, or all */
	return replylen != reqlen || memcmp(req, reply, reqlen) != 0;
}

static void input(uint8_t *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

/* Each input starts a fresh server on a fresh sim (the port is free again), every client gets
 * its echo however the bytes were cut, and a server stuck in accept does not stop the run. */
static void accept_loop_server_stopped_each_input(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = accept_forever,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = echo_check};
	starts = answered = 0;
	uint8_t buf[64];
	for (unsigned i = 0; i < 200; i++) {
		input(buf, sizeof buf, i);
		buf[12] = 0; /* the first client sends a request, not raw bytes */
		assert_int_equal(sd_fuzz_server_run(&s, buf, sizeof buf), 0);
		assert_null(sd_fuzz_server_net());
	}
	assert_int_equal(starts, 200);
	assert_true(answered >= 200);
}

/* An empty input is a complete run too. */
static void empty_input_runs(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = accept_forever, .port = PORT};
	starts = 0;
	assert_int_equal(sd_fuzz_server_run(&s, NULL, 0), 0);
	assert_int_equal(starts, 1);
}

static const char bin_req[] = "nul\0inside\n";
static const size_t bin_lens[] = {sizeof bin_req - 1};
static int bin_whole;

/* Counts the echoes of the whole binary request rather than failing, so a short one is
 * an assertion below and not an abort. */
static int bin_check(int which, const unsigned char *req, size_t reqlen, const unsigned char *reply,
		     size_t replylen)
{
	(void)req, (void)reqlen;
	if (which == 0 && replylen == bin_lens[0] && memcmp(reply, bin_req, replylen) == 0)
		bin_whole++;
	return 0;
}

/* A request of a binary protocol holds NUL bytes: with `request_lens` all of it is sent, not
 * only what comes before the first NUL. */
static void binary_requests_sent_whole(void **state)
{
	(void)state;
	static const char *const bin_reqs[] = {bin_req};
	struct sd_fuzz_server s = {.serve = accept_forever,
				   .port = PORT,
				   .requests = bin_reqs,
				   .nrequests = 1,
				   .check = bin_check,
				   .request_lens = bin_lens};
	uint8_t in[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* one client, request 0 */
	bin_whole = 0;
	assert_int_equal(sd_fuzz_server_run(&s, in, sizeof in), 0);
	assert_int_equal(bin_whole, 1);
}

/* A wrong answer is a finding: the run aborts (so the fuzzer keeps the input). */
static void wrong_answer_aborts(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sd_fuzz_server s = {.serve = accept_forever,
					   .arg = "upper",
					   .port = PORT,
					   .requests = reqs,
					   .nrequests = 2,
					   .check = echo_check};
		uint8_t buf[64] = {0};
		sd_fuzz_server_run(&s, buf, sizeof buf);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(accept_loop_server_stopped_each_input),
	T(empty_input_runs),
	T(wrong_answer_aborts),
	T(binary_requests_sent_whole),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "fuzz_server";
