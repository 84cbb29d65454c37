/* Tests of the in-process server fuzz driver (src/driver/fuzz/fuzz_server.c): servers written
 * against plain libc socket calls, run on the sim through the interposition layer (src/interpose/).
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "fuzz_inputs.h"
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
		return; /* a harness error: it never listened */
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
	struct sd_fuzz_plan p;
	uint8_t in[256];
	tplan(&p, 2);
	tmsg(&p, 0, 0, reqs[0], 6, SD_AFTER_NONE);
	tmsg(&p, 1, -1, "ab\n", 3, SD_AFTER_NONE);
	assert_int_equal(sd_fuzz_server_run(&s, in, tinput(&p, in, sizeof in)), 0);
	slurp(path, text, sizeof text);
	assert_string_equal(text, "{\"client\": 0, \"port\": 0, \"which\": [0], "
				  "\"sent\": \"68656c6c6f0a\", \"reply\": \"68656c6c6f0a\", "
				  "\"err\": 0}\n"
				  "{\"client\": 1, \"port\": 0, \"which\": [-1], "
				  "\"sent\": \"61620a\", \"reply\": \"61620a\", \"err\": 0}\n");
	/* then one client, a dialog: request 1, its reply, request 0 (which the server, one
	 * line a connection, has closed on by then) */
	tplan(&p, 1);
	tmsg(&p, 0, 1, reqs[1], 14, SD_AFTER_REPLY);
	tmsg(&p, 0, 0, reqs[0], 6, SD_AFTER_NONE);
	assert_int_equal(sd_fuzz_server_run(&s, in, tinput(&p, in, sizeof in)), 0);
	slurp(path, text, sizeof text);
	assert_string_equal(text,
			    "{\"client\": 0, \"port\": 0, \"which\": [1, 0], "
			    "\"sent\": \"6f6e65206d6f7265206c696e650a68656c6c6f0a\", \"reply\": "
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
	assert_string_equal(text, "{\"client\": 0, \"port\": 0, \"which\": [0], "
				  "\"sent\": \"68656c6c6f0a\", \"reply\": \"68656c6c6f0a\", "
				  "\"err\": 0}\n");
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
	assert_string_equal(text, "{\"client\": 0, \"port\": 0, \"which\": [0], \"sent\": "
				  "\"68656c6c6f0a\", \"reply\": \"48454c4c4f0a\", \"err\": 0}\n");
	unlink(path);
}

/* ---- replies of any size --------------------------------------------------------------- */

static unsigned char pattern_at(size_t i) { return (unsigned char)(i * 7 + i / 4093); }

/* Answers every connection with *(size_t *)arg bytes of the pattern, once its request is in. */
static void big_replier(void *arg)
{
	size_t size = *(const size_t *)arg;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return;
	static unsigned char buf[65536];
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		char req[128];
		while (recv(c, req, sizeof req, 0) > 0)
			;
		for (size_t off = 0; off < size;) {
			size_t n = size - off < sizeof buf ? size - off : sizeof buf;
			for (size_t i = 0; i < n; i++)
				buf[i] = pattern_at(off + i);
			ssize_t k = send(c, buf, n, 0);
			if (k <= 0)
				break;
			off += (size_t)k;
		}
		close(c);
	}
}

static size_t checked_len, streamed, stream_end, stream_calls, refuse_from = SIZE_MAX;
static int checks;

static int pattern_check(int which, const unsigned char *req, size_t reqlen,
			 const unsigned char *reply, size_t replylen)
{
	(void)which, (void)req, (void)reqlen;
	checks++;
	checked_len = replylen;
	for (size_t i = 0; i < replylen; i++)
		if (reply[i] != pattern_at(i))
			return 1;
	return 0;
}

/* Checks each piece against the pattern; refuses from byte refuse_from on. */
static int pattern_stream(void *arg, int client, int which, const unsigned char *bytes, size_t n)
{
	(void)arg, (void)which;
	assert_int_equal(client, 0);
	stream_calls++;
	if (!bytes) {
		stream_end = n;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (bytes[i] != pattern_at(streamed + i) || streamed + i >= refuse_from)
			return 1;
	streamed += n;
	return 0;
}

/* One client sending request 0 whole, no faults. */
static const uint8_t one_request[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* A reply of 3 MiB (the driver held 512 bytes) reaches `check` whole. */
static void long_reply_reaches_check_whole(void **state)
{
	(void)state;
	size_t size = 3u << 20;
	struct sd_fuzz_server s = {.serve = big_replier,
				   .arg = &size,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = pattern_check};
	checks = 0;
	assert_int_equal(sd_fuzz_server_run(&s, one_request, sizeof one_request), 0);
	assert_int_equal(checks, 1);
	assert_int_equal(checked_len, size);
}

/* Beyond SD_FUZZ_MAX_REPLY the streaming oracle sees every byte and the reply's length;
 * `check`, which could only be given part of it, is not called. The transcript holds the
 * first SD_FUZZ_MAX_REPLY bytes and says the whole length. */
static void reply_beyond_the_bound_is_streamed(void **state)
{
	(void)state;
	char path[256];
	temp_name(path, sizeof path);
	setenv("SOCKDRILL_TRANSCRIPT", path, 1);
	size_t size = SD_FUZZ_MAX_REPLY + 100000;
	struct sd_fuzz_server s = {.serve = big_replier,
				   .arg = &size,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = pattern_check,
				   .on_reply = pattern_stream};
	checks = 0, streamed = stream_end = stream_calls = 0, refuse_from = SIZE_MAX;
	assert_int_equal(sd_fuzz_server_run(&s, one_request, sizeof one_request), 0);
	unsetenv("SOCKDRILL_TRANSCRIPT");
	assert_int_equal(checks, 0);
	assert_int_equal(streamed, size);
	assert_int_equal(stream_end, size);
	assert_true(stream_calls > 2);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char tail[64];
	assert_int_equal(fseek(f, -(long)sizeof tail + 1, SEEK_END), 0);
	size_t n = fread(tail, 1, sizeof tail - 1, f);
	tail[n] = '\0';
	static const char head[] = "{\"client\": 0, \"port\": 0, \"which\": [0], "
				   "\"sent\": \"68656c6c6f0a\", \"reply\": \"",
			  end[] = "\", \"reply_bytes\": 16877216, \"err\": 0}\n";
	assert_non_null(strstr(tail, end));
	assert_int_equal(ftell(f), sizeof head - 1 + 2 * SD_FUZZ_MAX_REPLY + sizeof end - 1);
	fclose(f);
	unlink(path);
}

/* The input's segmentation cuts what the server receives; its clients take a reply as it
 * comes, whole: a reply of 100000 bytes cut in pieces of 1..12 bytes took ~15000 receive
 * calls, each a round of the scheduler (a MiB took 90 ms instead of 0.1). Counted from the
 * trace, in a child whose stderr is a file. */
static void clients_take_replies_whole_under_segmentation(void **state)
{
	(void)state;
	char path[256];
	temp_name(path, sizeof path);
	size_t size = 100000;
	struct sd_fuzz_server s = {.serve = big_replier,
				   .arg = &size,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = pattern_check};
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_TRUNC);
		dup2(fd, 2);
		setenv("SOCKDRILL_TRACE", "1", 1);
		/* seed 0, segment=12, no faults, one client: request 0 whole */
		const uint8_t in[] = {0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0};
		sd_fuzz_server_run(&s, in, sizeof in);
		_exit(checks == 1 && checked_len == size ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[512];
	int client_recvs = 0, server_recvs = 0;
	while (fgets(line, sizeof line, f)) {
		client_recvs += strstr(line, " client recv(") != NULL;
		server_recvs += strstr(line, " server recv(") != NULL;
	}
	fclose(f);
	unlink(path);
	assert_true(server_recvs > 1); /* "hello\n" still comes in pieces */
	assert_true(client_recvs > 0 && client_recvs < 100);
}

/* Runs one input of s in a child; its wait status and what it wrote on stdout and stderr. */
static int child_input(const struct sd_fuzz_server *s, const uint8_t *in, size_t n, char *err,
		       size_t cap)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		sd_fuzz_server_run(s, in, n);
		_exit(0);
	}
	close(p[1]);
	size_t len = 0;
	for (ssize_t k; len < cap - 1 && (k = read(p[0], err + len, cap - 1 - len)) > 0;)
		len += (size_t)k;
	err[len] = '\0';
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* A reply too long for `check`, and no streaming oracle: a harness error, not a finding. */
static void reply_beyond_the_bound_without_on_reply_is_a_harness_error(void **state)
{
	(void)state;
	size_t size = SD_FUZZ_MAX_REPLY + 1;
	struct sd_fuzz_server s = {.serve = big_replier,
				   .arg = &size,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = pattern_check};
	char err[1024];
	int st = child_input(&s, one_request, sizeof one_request, err, sizeof err);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_string_equal(err,
			    "sockdrill: client 0 got a reply of 16777217 bytes, more than "
			    "`check` is given (SD_FUZZ_MAX_REPLY, 16777216): judge replies "
			    "this long with the streaming oracle `on_reply` (sockdrill/fuzz.h)\n");
}

/* A piece the streaming oracle refuses is a finding naming where it came, with at most 128
 * bytes of it; a long wrong reply for `check` shows at most 256. */
static void refused_replies_are_findings_with_an_excerpt(void **state)
{
	(void)state;
	size_t size = 1u << 20;
	struct sd_fuzz_server s = {.serve = big_replier,
				   .arg = &size,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .on_reply = pattern_stream};
	char err[4096];
	streamed = 0, refuse_from = 500000;
	int st = child_input(&s, one_request, sizeof one_request, err, sizeof err);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	const char *f = strstr(err, "sockdrill finding: client 0 sent \"hello\\n\" and on_reply "
				    "refused the reply at byte ");
	assert_non_null(f);
	assert_true(strlen(f) < 4 * 128 + 200);
	assert_non_null(strstr(f, "\"...\n"));
	size = 100000;
	s.on_reply = NULL;
	s.check = echo_check; /* the pattern is not the echo */
	st = child_input(&s, one_request, sizeof one_request, err, sizeof err);
	assert_true(WIFSIGNALED(st));
	f = strstr(err, "sockdrill finding: client 0 sent \"hello\\n\" and got 100000 bytes: \"");
	assert_non_null(f);
	assert_true(strlen(f) < 4 * 256 + 200);
	assert_non_null(strstr(f, "\"...\n"));
}

/* ---- start-up is checked ----------------------------------------------------------------- */

/* Says why it will not serve, in every way a server writes (stdio's two streams, write(2)),
 * and never listens; a timer keeps virtual time moving. */
static void never_listens(void *arg)
{
	(void)arg;
	printf("quiet: starting\n");
	fprintf(stderr, "quiet: no port today\n");
	if (write(2, "quiet: raw\n", 11) != 11)
		return;
	for (;;)
		sleep(1000);
}

static void returns_at_once(void *arg) { (void)arg; }

static void exits_at_start_up(void *arg)
{
	(void)arg;
	fputs("quiet: reading /etc/quiet.conf\n", stdout);
	errno = ENOENT;
	err(3, "cannot read %s", "/etc/quiet.conf");
}

/* A server that never listens on its port: a harness error (exit status 2, not a finding),
 * one line, then the server's last output, which also went out as it was written. */
static void never_listening_is_a_harness_error_with_its_output(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = never_listens, .port = PORT};
	char out[4096], path[256], text[4096];
	temp_name(path, sizeof path);
	setenv("SOCKDRILL_HARNESS_ERRORS", path, 1); /* the children's */
	int st = child_input(&s, one_request, sizeof one_request, out, sizeof out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_string_equal(out, "quiet: starting\nquiet: no port today\nquiet: raw\n"
				 "sockdrill: the server never listened on 127.0.0.1:7300: nothing "
				 "listened there 32 virtual seconds after it started (is that its "
				 "port?) (harness error); the server's last output:\n"
				 "  quiet: starting\n  quiet: no port today\n  quiet: raw\n");
	s.serve = returns_at_once;
	st = child_input(&s, one_request, sizeof one_request, out, sizeof out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_string_equal(out, "sockdrill: the server returned during start-up without "
				 "listening on 127.0.0.1:7300 (harness error)\n");
	/* SOCKDRILL_HARNESS_ERRORS has each error, as printed after the server's own output */
	slurp(path, text, sizeof text);
	assert_string_equal(text,
			    "sockdrill: the server never listened on 127.0.0.1:7300: nothing "
			    "listened there 32 virtual seconds after it started (is that its "
			    "port?) (harness error); the server's last output:\n"
			    "  quiet: starting\n  quiet: no port today\n  quiet: raw\n"
			    "sockdrill: the server returned during start-up without listening "
			    "on 127.0.0.1:7300 (harness error)\n");
	assert_int_equal(truncate(path, 65536), 0); /* full: it grows no more */
	st = child_input(&s, one_request, sizeof one_request, out, sizeof out);
	assert_int_equal(WEXITSTATUS(st), 2);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 65536);
	unsetenv("SOCKDRILL_HARNESS_ERRORS");
	unlink(path);
}

static void exit_at_start_up_shows_its_last_output(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = exits_at_start_up, .port = PORT};
	char out[4096];
	int st = child_input(&s, one_request, sizeof one_request, out, sizeof out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	const char *e = strstr(out, "sockdrill: the server exited with status 3 during start-up, "
				    "before it listened on 127.0.0.1:7300 (harness error); the "
				    "server's last output:\n  quiet: reading /etc/quiet.conf\n  ");
	assert_non_null(e);
	assert_non_null(strstr(e, ": cannot read /etc/quiet.conf: No such file or directory\n"));
}

/* Only the last SD__OUTPUT_TAIL (2048) bytes are kept, from a line's start. */
static void chatty(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		printf("line %d\n", i);
	exit(1);
}

static void only_the_output_tail_is_shown(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = chatty, .port = PORT};
	static char out[65536];
	int st = child_input(&s, one_request, sizeof one_request, out, sizeof out);
	assert_int_equal(WEXITSTATUS(st), 2);
	const char *t = strstr(out, "(harness error); the server's last output:\n");
	assert_non_null(t);
	t = strchr(t, '\n') + 1;
	assert_true(strlen(t) <= 2048 + 2 * 260);
	assert_true(!strncmp(t, "  line 8", 8) || !strncmp(t, "  line 7", 8));
	assert_non_null(strstr(t, "\n  line 998\n  line 999\n"));
	assert_int_equal(t[strlen(t) - 1], '\n');
}

static char log_path[256];

/* Sends its stderr to a log file, as a daemon's start-up might, then serves. */
static void logs_to_a_file(void *arg)
{
	if (!freopen(log_path, "w", stderr))
		exit(9);
	fprintf(stderr, "logged\n");
	accept_forever(arg);
}

/* freopen of stderr during a run (glibc's crashed on the driver's stream) opens the log for
 * the server; the run is clean and the fuzzer's stderr is its own again afterwards. */
static void freopen_of_stderr_opens_the_servers_log(void **state)
{
	(void)state;
	temp_name(log_path, sizeof log_path);
	struct sd_fuzz_server s = {.serve = logs_to_a_file,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = 2,
				   .check = echo_check};
	FILE *before = stderr;
	assert_int_equal(sd_fuzz_server_run(&s, one_request, sizeof one_request), 0);
	assert_ptr_equal(stderr, before);
	char text[64];
	slurp(log_path, text, sizeof text);
	assert_string_equal(text, "logged\n");
	unlink(log_path);
}

/* Accepts one connection, answers it, and stops listening. */
static void listens_once(void *arg)
{
	(void)arg;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return;
	int c = accept(l, NULL, NULL);
	close(l);
	char b[64];
	while (c >= 0 && recv(c, b, sizeof b, 0) > 0)
		;
	close(c);
	for (;;)
		sleep(1000);
}

/* A server that listened and later stopped is still a finding when a client is refused (the
 * seed decides whether the second client comes after the close, so a few are tried). */
static void refused_after_listening_is_a_finding(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = listens_once, .port = PORT};
	char out[4096];
	int refused = 0;
	for (uint8_t seed = 0; seed < 64 && !refused; seed++) {
		struct sd_fuzz_plan p;
		uint8_t two[64];
		tplan(&p, 2);
		p.seed = seed;
		p.together =
			seed & 1 ? 1 : 2; /* one at a time: the second always after the close */
		int st = child_input(&s, two, tinput(&p, two, sizeof two), out, sizeof out);
		assert_true(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
		refused = WIFSIGNALED(st);
	}
	assert_true(refused);
	assert_non_null(strstr(out, "sockdrill finding: client 1: connection refused: the server "
				    "no longer listens on 127.0.0.1:7300\n"));
}

const struct CMUnitTest sd_unit_tests[] = {
	T(accept_loop_server_stopped_each_input),
	T(empty_input_runs),
	T(wrong_answer_aborts),
	T(transcript_has_a_line_per_client),
	T(transcript_survives_the_servers_environment),
	T(transcript_unwritable_is_a_harness_error),
	T(binary_requests_sent_whole),
	T(long_reply_reaches_check_whole),
	T(reply_beyond_the_bound_is_streamed),
	T(reply_beyond_the_bound_without_on_reply_is_a_harness_error),
	T(refused_replies_are_findings_with_an_excerpt),
	T(clients_take_replies_whole_under_segmentation),
	T(never_listening_is_a_harness_error_with_its_output),
	T(exit_at_start_up_shows_its_last_output),
	T(only_the_output_tail_is_shown),
	T(refused_after_listening_is_a_finding),
	T(freopen_of_stderr_opens_the_servers_log),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "fuzz_server";
