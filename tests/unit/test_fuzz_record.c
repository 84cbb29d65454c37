/* Tests of a fuzz input's run written as a scenario (src/driver/fuzz/fuzz_record.c) and of its
 * replay in-process (SOCKDRILL_SCENARIO, src/driver/fuzz/fuzz_server.c): servers on plain libc
 * calls, on the sim through the interposition layer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/fault.h>
#include <sockdrill/fuzz.h>
#include <sockdrill/scenario.h>

#include "fuzz_inputs.h"
#include "fuzz_internal.h"
#include "sd_test.h"

#define PORT      7400
#define DATA_PORT 7401

static int listener(int port)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return -1;
	return l;
}

/* One line from c into buf (NUL-terminated): its length with the newline, 0 at the end. */
static size_t read_line(int c, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n < cap - 1 && (k = recv(c, buf + n, 1, 0)) > 0)
		if (buf[n++] == '\n')
			break;
	buf[n] = 0;
	return n;
}

static void send_all(int c, const char *p, size_t n)
{
	for (ssize_t k; n && (k = send(c, p, n, MSG_NOSIGNAL)) > 0; p += k, n -= (size_t)k)
		;
}

/* Echoes one line a connection, upper-cased when `arg` is not NULL (a wrong answer), and
 * closes it; accepts for ever. */
static void line_echo(void *arg)
{
	int l = listener(PORT);
	for (char buf[128]; l >= 0;) {
		int c = accept(l, NULL, NULL);
		size_t n = c < 0 ? 0 : read_line(c, buf, sizeof buf);
		for (size_t i = 0; arg && i < n; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z')
				buf[i] = (char)(buf[i] - 'a' + 'A');
		send_all(c, buf, n);
		close(c);
	}
}

/* FTP-like: the control connection's first line gets "227 (|||7401|)", then the data
 * connection's line is echoed, then the control connection is read to its end. */
static void passive(void *arg)
{
	(void)arg;
	int l = listener(PORT), d = listener(DATA_PORT);
	for (char buf[128]; l >= 0 && d >= 0;) {
		int c = accept(l, NULL, NULL);
		if (c < 0 || !read_line(c, buf, sizeof buf))
			continue;
		send_all(c, "227 (|||7401|)\n", 15);
		int k = accept(d, NULL, NULL);
		send_all(k, buf, read_line(k, buf, sizeof buf));
		close(k);
		while (read_line(c, buf, sizeof buf))
			;
		close(c);
	}
}

/* Reads a connection's first line and keeps it open for ever, waiting for the next one. */
static void holds_on(void *arg)
{
	(void)arg;
	int l = listener(PORT);
	for (char buf[128]; l >= 0;) {
		int c = accept(l, NULL, NULL);
		if (c >= 0)
			read_line(c, buf, sizeof buf);
	}
}

/* Sends 2 MiB for any line: its run is longer than a scenario file holds. */
static void big_sender(void *arg)
{
	(void)arg;
	static char big[1 << 16];
	memset(big, 'x', sizeof big);
	int l = listener(PORT);
	for (char buf[128]; l >= 0;) {
		int c = accept(l, NULL, NULL);
		if (c >= 0 && read_line(c, buf, sizeof buf))
			for (int i = 0; i < 32; i++)
				send_all(c, big, sizeof big);
		close(c);
	}
}

static const char *const reqs[] = {"hello\n", "PASV\n", "data\n"};

static void temp_name(char *path, size_t cap, const char *what)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, cap, "%s/sd_%s_XXXXXX", dir && *dir ? dir : "/tmp", what);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
}

/* The whole of a file, NUL-terminated (malloc'd). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char *buf;
	buf = realloc(buf, SD_SC_MAX_BYTES + 1);
	assert_non_null(buf);
	size_t n = fread(buf, 1, SD_SC_MAX_BYTES, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Runs the input in a child with the environment settings given ("NAME=value", NULL-ended):
 * its wait status; its stdout and stderr into out. */
static int child(const struct sd_fuzz_server *s, const uint8_t *in, size_t n, char *const env[],
		 char *out, size_t cap)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		for (int i = 0; env[i]; i++)
			putenv(env[i]);
		sd_fuzz_server_run(s, in, n);
		_exit(0);
	}
	close(p[1]);
	size_t len = 0;
	for (ssize_t k; len < cap - 1 && (k = read(p[0], out + len, cap - 1 - len)) > 0;)
		len += (size_t)k;
	out[len] = '\0';
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* Records the input into `scenario` (in a child: the run may end in a finding): its status. */
static int record(const struct sd_fuzz_server *s, const uint8_t *in, size_t n, const char *scenario,
		  char *out, size_t cap)
{
	char env[300];
	snprintf(env, sizeof env, "SOCKDRILL_SCENARIO_OUT=%s", scenario);
	char *const e[] = {env, NULL};
	return child(s, in, n, e, out, cap);
}

/* Replays `scenario` in-process against s, in a child; the verdict file's first line into
 * verdict (empty when none was written), the child's output into out; its status. */
static int replay(const struct sd_fuzz_server *s, const char *scenario, const char *oracles,
		  char *verdict, size_t vcap, char *out, size_t cap)
{
	char sc[300], res[300], path[256], orc[64];
	temp_name(path, sizeof path, "verdict");
	snprintf(sc, sizeof sc, "SOCKDRILL_SCENARIO=%s", scenario);
	snprintf(res, sizeof res, "SOCKDRILL_SCENARIO_RESULT=%s", path);
	snprintf(orc, sizeof orc, "SOCKDRILL_ORACLES=%s", oracles ? oracles : "");
	char *const e[] = {sc, res, orc, NULL};
	int st = child(s, NULL, 0, e, out, cap);
	snprintf(verdict, vcap, "%s", slurp(path));
	unlink(path);
	return st;
}

/* A dialog's run is written as the language's steps, the connection to the server's port as
 * $TARGET_PORT, a receive as the exact bytes with MSG_WAITALL; the file replays in-process,
 * and a server answering otherwise fails the replay at that step. */
static void echo_run_replays_in_process(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = line_echo, .port = PORT, .requests = reqs, .nrequests = 3};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	char path[256], out[8192], verdict[1024];
	tplan(&p, 2);
	p.together = 1;
	tmsg(&p, 0, 0, NULL, 0, SD_AFTER_REPLY);
	tmsg(&p, 1, -1, "raw \"b${x}\"\\\n", 13, SD_AFTER_REPLY);
	p.c[1].end = SD_END_RESET;
	temp_name(path, sizeof path, "scenario");
	int st = record(&s, in, tinput(&p, in, sizeof in), path, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *text = slurp(path);
	assert_non_null(strstr(text, "\nset seed 0\nset segment 0\n"));
	assert_null(strstr(text, "server-faults"));
	assert_non_null(strstr(text, "\nclient0: C0 = socket(inet) -> fd\n"
				     "client0: connect(C0, 127.0.0.1:$TARGET_PORT) -> 0\n"
				     "client0: send(C0, \"hello\\n\") -> 6\n"
				     "client0: recv(C0, 6, MSG_WAITALL) -> \"hello\\n\"\n"));
	assert_non_null(strstr(text, "client0: shutdown(C0, SHUT_WR) -> 0\n"));
	assert_non_null(strstr(text, "client0: close(C0) -> 0\n"));
	/* the raw message's quotes, backslash and "${" escaped so the line reads back */
	assert_non_null(
		strstr(text, "client1: send(C1, \"raw \\\"b\\x24{x}\\\"\\x5c\\n\") -> 13\n"));
	assert_non_null(strstr(text, "client1: setsockopt(C1, SO_LINGER, 0) -> 0\n"
				     "client1: close(C1) -> 0\n"));
	assert_non_null(strstr(text, "\n# the run ended here, with no finding\n"));
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(strtok(verdict, "\n"), "passed");
	/* the same file against a server that upper-cases: the receive's step fails */
	s.arg = "upper";
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(verdict, "failed\n"));
	assert_non_null(strstr(verdict, "client0: recv(C0, 6, MSG_WAITALL) -> \"hello\\n\": "
					"expected \"hello\\n\", got \"HELLO\\n\""));
	unlink(path);
}

/* A client told to connect to a port another client's reply names: the reply's port is read
 * into a variable (reply_port), which the connect uses; the replay follows it. */
static void port_from_a_reply_is_a_variable(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = passive, .port = PORT, .requests = reqs, .nrequests = 3};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	char path[256], out[8192], verdict[1024];
	tplan(&p, 2);
	tmsg(&p, 0, 1, NULL, 0, SD_AFTER_REPLY);
	p.c[1].from = 0;
	tmsg(&p, 1, 2, NULL, 0, SD_AFTER_REPLY);
	temp_name(path, sizeof path, "scenario");
	int st = record(&s, in, tinput(&p, in, sizeof in), path, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *text = slurp(path);
	assert_non_null(strstr(text, "client0: recv(C0, 15, MSG_WAITALL) -> \"227 (|||7401|)\\n\"\n"
				     "client0: P0 = reply_port(C0)       # 7401 here\n"));
	assert_non_null(strstr(text, "client1: connect(C1, 127.0.0.1:$P0) -> 0\n"));
	assert_non_null(strstr(text, "client1: recv(C1, 5, MSG_WAITALL) -> \"data\\n\"\n"));
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(strtok(verdict, "\n"), "passed");
	unlink(path);
}

/* A deadlock: the receive still waiting when every actor blocked is written as a call
 * started and still blocked, after the finding's note; the replay finds it blocked again. */
static void deadlock_is_written_as_a_blocked_call(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = holds_on, .port = PORT, .requests = reqs, .nrequests = 3};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	char path[256], out[8192], verdict[1024];
	tplan(&p, 1);
	tmsg(&p, 0, 0, NULL, 0, SD_AFTER_NONE);
	temp_name(path, sizeof path, "scenario");
	int st = record(&s, in, tinput(&p, in, sizeof in), path, out, sizeof out);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	assert_non_null(strstr(out, "sockdrill finding: clients and server are all blocked"));
	const char *text = slurp(path);
	assert_non_null(strstr(text, "client0: shutdown(C0, SHUT_WR) -> 0\n"
				     "# here the clients and the server were all blocked:\n"
				     "client0: start R0 = recv(C0, 65536)\n"
				     "client0: blocked R0\n"));
	/* the server keeps the connection: only the leak oracle would add anything */
	st = replay(&s, path, "-fd-leak", verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(strtok(verdict, "\n"), "passed");
	unlink(path);
}

/* The input's faults on the server's calls: set as server-faults (and server-seed), each one
 * injected shown as an annotation where it happened, repeats counted; the replay applies
 * them to the server again. */
static void server_faults_are_settings_and_annotations(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = line_echo, .port = PORT, .requests = reqs, .nrequests = 3};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	char path[256], out[8192], verdict[1024];
	tplan(&p, 1);
	p.seed = 5;
	p.fault[SD_FZ_SHORT_WRITE] = 1;
	tmsg(&p, 0, 0, NULL, 0, SD_AFTER_REPLY);
	temp_name(path, sizeof path, "scenario");
	int st = record(&s, in, tinput(&p, in, sizeof in), path, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *text = slurp(path);
	assert_non_null(strstr(text, "faults on the server's calls: short-write=1\n"));
	assert_non_null(strstr(text, "\nset seed 5\nset segment 0\nset server-faults "
				     "\"short-write=1\"\nset server-seed 5\n"));
	/* "hello\n" sent back a byte a call: a fault for each send of 6 down to 2 bytes (the last
	 * byte goes whole), the first shown and the others counted, then the reply they cut */
	const char *f = strstr(text, "\n# server fault: a1 call ");
	assert_non_null(f);
	assert_non_null(strstr(f, " send: short-write, 1 of 6 bytes (t="));
	assert_non_null(strstr(f, "\n#   ... and 4 more like it\n"
				  "client0: recv(C0, 6, MSG_WAITALL) -> \"hello\\n\"\n"));
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(strtok(verdict, "\n"), "passed");
	unlink(path);
}

/* The kinds of the slots' families and their aims are written as the spec says them: the
 * input's description, server-faults that read back to the spec the run had, the faults
 * injected as annotations; the replay applies them again. */
static void family_kinds_are_written_with_their_aims(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = line_echo, .port = PORT, .requests = reqs, .nrequests = 3};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	char path[256], out[8192], verdict[1024], err[256];
	tplan(&p, 1);
	p.seed = 5;
	p.fault[SD_FZ_DELAY] = 7, p.fault_kind[SD_FZ_DELAY] = 1; /* latency */
	p.fault[SD_FZ_RESET] = 1, p.fault_kind[SD_FZ_RESET] = 4; /* limit-data */
	p.fault_aim[SD_FZ_RESET] = SD_AIM_LATER;
	tmsg(&p, 0, 0, NULL, 0, SD_AFTER_REPLY);
	temp_name(path, sizeof path, "scenario");
	int st = record(&s, in, tinput(&p, in, sizeof in), path, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *text = slurp(path);
	const char *spec = "latency=20~10,limit-data=65536@after=3";
	char line[256];
	snprintf(line, sizeof line, "faults on the server's calls: %s\n", spec);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof line, "\nset server-faults \"%s\"\nset server-seed 5\n", spec);
	assert_non_null(strstr(text, line));
	struct sd_fault_spec want, got;
	sd__fz_fault_spec(&p, &want);
	assert_int_equal(sd_fault_parse(spec, &got, err, sizeof err), 0);
	assert_memory_equal(&want, &got, sizeof want);
	assert_non_null(strstr(text, "\n# server fault: a1 call 1 recv: latency"));
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(strtok(verdict, "\n"), "passed");
	unlink(path);
}

/* A run longer than a scenario file holds is cut below the parser's 1 MiB, says so in the
 * file and on stderr, and the cut file still reads and replays. */
static void long_run_is_cut_below_the_bound(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = big_sender, .port = PORT, .requests = reqs, .nrequests = 3};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	char path[256], out[8192], verdict[1024];
	tplan(&p, 1);
	tmsg(&p, 0, 0, NULL, 0, SD_AFTER_REPLY);
	temp_name(path, sizeof path, "scenario");
	int st = record(&s, in, tinput(&p, in, sizeof in), path, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(out, "sockdrill: SOCKDRILL_SCENARIO_OUT: the run is longer than a "
				    "scenario file holds (1 MiB): its scenario was cut\n"));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > SD_SC_MAX_BYTES / 2 && sb.st_size < SD_SC_MAX_BYTES - 16384);
	const char *text = slurp(path);
	assert_non_null(strstr(text, "\n# cut here: the scenario reached its size bound"));
	assert_null(strstr(text, "close(C0)"));
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(strtok(verdict, "\n"), "passed");
	unlink(path);
}

/* A file that cannot be written, or a scenario to replay that does not read, is a harness
 * error (status 2) naming it. */
static void bad_files_are_harness_errors(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = line_echo, .port = PORT, .requests = reqs, .nrequests = 3};
	char out[4096], path[256], verdict[256];
	uint8_t in[16] = {0};
	int st = record(&s, in, sizeof in, "/nonexistent/dir/x.sd", out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	assert_string_equal(out, "sockdrill: SOCKDRILL_SCENARIO_OUT: /nonexistent/dir/x.sd: No "
				 "such file or directory\n");
	temp_name(path, sizeof path, "scenario");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("client0: C0 = socket(inet) -> fd\nclient0: connect(C0, 127.0.0.1:$PORT) -> 0\n", f);
	fclose(f);
	st = replay(&s, path, NULL, verdict, sizeof verdict, out, sizeof out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	char want[512];
	snprintf(want, sizeof want,
		 "sockdrill: SOCKDRILL_SCENARIO: %s:2:32: unknown variable $PORT (no line before "
		 "this one assigns it)\n",
		 path);
	assert_string_equal(out, want);
	assert_string_equal(verdict, "");
	unlink(path);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(echo_run_replays_in_process),
	T(port_from_a_reply_is_a_variable),
	T(deadlock_is_written_as_a_blocked_call),
	T(server_faults_are_settings_and_annotations),
	T(long_run_is_cut_below_the_bound),
	T(bad_files_are_harness_errors),
	T(family_kinds_are_written_with_their_aims),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "fuzz_record";
