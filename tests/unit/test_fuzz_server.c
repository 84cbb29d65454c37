/* Tests of the in-process server fuzz driver (harness/fuzz_server.c): servers written against
 * plain libc socket calls, run on the sim through the interposition layer (harness/libc/). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
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

/* A fresh file name for SOCKDRILL_TRANSCRIPT (the file itself exists, empty). */
static void temp_name(char *path, size_t cap)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, cap, "%s/sd_transcript_XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
}

/* The whole of a small file, NUL-terminated, in buf. */
static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* SOCKDRILL_TRANSCRIPT: one JSON object a line per client, what it sent and what came back in
 * hex, rewritten for each input. */
static void transcript_has_a_line_per_client(void **state)
{
	(void)state;
	char path[256], text[1024];
	temp_name(path, sizeof path);
	setenv("SOCKDRILL_TRANSCRIPT", path, 1);
	struct sd_fuzz_server s = {.serve = accept_forever,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = echo_check};
	/* seed 0, no faults, two clients: request 0 whole; raw "ab\n" whole */
	const uint8_t two[] = {0, 0, 0, 0, 0,   0, 0,   0,   0,    0, 0,
			       1, 0, 0, 0, 255, 3, 'a', 'b', '\n', 0, 0};
	assert_int_equal(sd_fuzz_server_run(&s, two, sizeof two), 0);
	slurp(path, text, sizeof text);
	assert_string_equal(text, "{\"client\": 0, \"which\": 0, \"sent\": \"68656c6c6f0a\", "
				  "\"reply\": \"68656c6c6f0a\", \"err\": 0}\n"
				  "{\"client\": 1, \"which\": -1, \"sent\": \"61620a\", "
				  "\"reply\": \"61620a\", \"err\": 0}\n");
	const uint8_t one[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
	assert_int_equal(sd_fuzz_server_run(&s, one, sizeof one), 0);
	slurp(path, text, sizeof text);
	assert_string_equal(text, "{\"client\": 0, \"which\": 1, \"sent\": "
				  "\"6f6e65206d6f7265206c696e650a\", \"reply\": "
				  "\"6f6e65206d6f7265206c696e650a\", \"err\": 0}\n");
	unsetenv("SOCKDRILL_TRANSCRIPT");
	unlink(path);
}

/* accept_forever after replacing environ by an array of its own with TZ only, as nginx does
 * (ngx_set_environment). */
static void environ_replacing_server(void *arg)
{
	static char tz[] = "TZ=UTC", *only_tz[] = {tz, NULL};
	environ = only_tz;
	accept_forever(arg);
}

/* The transcript goes where the environment said before the server ran. */
static void transcript_survives_the_servers_environment(void **state)
{
	(void)state;
	char path[256], text[512];
	temp_name(path, sizeof path);
	setenv("SOCKDRILL_TRANSCRIPT", path, 1);
	struct sd_fuzz_server s = {.serve = environ_replacing_server,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = echo_check};
	const uint8_t one[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(sd_fuzz_server_run(&s, one, sizeof one), 0);
	slurp(path, text, sizeof text);
	assert_string_equal(text, "{\"client\": 0, \"which\": 0, \"sent\": \"68656c6c6f0a\", "
				  "\"reply\": \"68656c6c6f0a\", \"err\": 0}\n");
	assert_string_equal(getenv("SOCKDRILL_TRANSCRIPT"), path); /* environ is put back */
	unsetenv("SOCKDRILL_TRANSCRIPT");
	unlink(path);
}

/* A transcript file that cannot be written is a harness error naming it. */
static void transcript_unwritable_is_a_harness_error(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 2);
		setenv("SOCKDRILL_TRANSCRIPT", "/nonexistent/dir/t.jsonl", 1);
		struct sd_fuzz_server s = {.serve = accept_forever, .port = PORT};
		uint8_t buf[16] = {0};
		sd_fuzz_server_run(&s, buf, sizeof buf);
		_exit(0);
	}
	close(p[1]);
	char err[512];
	size_t n = 0;
	for (ssize_t k; n < sizeof err - 1 && (k = read(p[0], err + n, sizeof err - 1 - n)) > 0;)
		n += (size_t)k;
	err[n] = '\0';
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_string_equal(err, "sockdrill: SOCKDRILL_TRANSCRIPT: /nonexistent/dir/t.jsonl: No "
				 "such file or directory\n");
}

/* A wrong answer is a finding: the run aborts (so the fuzzer keeps the input), and the
 * transcript of the input is written first. */
static void wrong_answer_aborts(void **state)
{
	(void)state;
	char path[256], text[512];
	temp_name(path, sizeof path);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("SOCKDRILL_TRANSCRIPT", path, 1);
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
	slurp(path, text, sizeof text);
	assert_string_equal(text, "{\"client\": 0, \"which\": 0, \"sent\": \"68656c6c6f0a\", "
				  "\"reply\": \"48454c4c4f0a\", \"err\": 0}\n");
	unlink(path);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(accept_loop_server_stopped_each_input),
	T(empty_input_runs),
	T(wrong_answer_aborts),
	T(transcript_has_a_line_per_client),
	T(transcript_survives_the_servers_environment),
	T(transcript_unwritable_is_a_harness_error),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "fuzz_server";
