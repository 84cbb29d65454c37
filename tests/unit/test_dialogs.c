/* The in-process driver's dialogs: a port taken from a reply, a glue's own client (the FTP
 * client of README), switchable oracles, persistent mode. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>
#include <sockdrill/sockdrill.h>

#include "fuzz_inputs.h"
#include "sd_test.h"

#define PORT 2121

static int starts;

static void say(int c, const char *s) { send(c, s, strlen(s), MSG_NOSIGNAL); }

/* A line into buf (up to n - 1 bytes, CRLF dropped): its length, or -1 at the end. */
static int line(int c, char *buf, size_t n)
{
	size_t k = 0;
	char ch;
	while (k + 1 < n && recv(c, &ch, 1, 0) == 1) {
		if (ch == '\n') {
			buf[k > 0 && buf[k - 1] == '\r' ? k - 1 : k] = '\0';
			return (int)k;
		}
		buf[k++] = ch;
	}
	return -1;
}

/* A tiny FTP-like server, one control connection at a time: "220" on connect; PASV opens a
 * data listener on an ephemeral port and names it as FTP does; RETR sends "DATA\n" on the
 * data connection; QUIT ends. `arg` non-NULL: the data listener is never closed (a leak). */
static void ftp_server(void *arg)
{
	starts++;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return;
	for (;;) {
		int c = accept(l, NULL, NULL), d = -1;
		if (c < 0)
			continue;
		say(c, "220 ready\r\n");
		char cmd[128];
		while (line(c, cmd, sizeof cmd) >= 0) {
			if (!strcmp(cmd, "PASV") && d < 0) {
				struct sockaddr_in da = a;
				socklen_t dl = sizeof da;
				da.sin_port = 0;
				d = socket(AF_INET, SOCK_STREAM, 0);
				bind(d, (struct sockaddr *)&da, sizeof da);
				listen(d, 1);
				getsockname(d, (struct sockaddr *)&da, &dl);
				unsigned p = ntohs(da.sin_port);
				char r[96];
				snprintf(r, sizeof r,
					 "227 Entering Passive Mode (127,0,0,1,%u,%u)\r\n", p >> 8,
					 p & 255);
				say(c, r);
			} else if (!strcmp(cmd, "RETR") && d >= 0) {
				int x = accept(d, NULL, NULL);
				say(x, "DATA\n");
				close(x);
				if (!arg)
					close(d), d = -1;
				say(c, "226 done\r\n");
			} else if (!strcmp(cmd, "QUIT")) {
				say(c, "221 bye\r\n");
				break;
			} else {
				say(c, "500 ?\r\n");
			}
		}
		if (d >= 0 && !arg)
			close(d);
		close(c);
	}
}

static const char *const ftp_msgs[] = {"PASV\r\n", "RETR\r\n", "QUIT\r\n", "NOOP\r\n"};

/* ---- the FTP client of README: a glue's own client ------------------------------------ */

static char data_got[64];

static void ftp_client(void *arg, struct sd_fuzz_client *c)
{
	(void)arg;
	struct sd_fuzz_conn *ctl = sd_fuzz_connect(c, sd_fuzz_client_port(c));
	if (!ctl)
		return;
	sd_fuzz_wait_reply(ctl); /* the banner */
	sd_fuzz_send(ctl, -1, "PASV\r\n", 6);
	sd_fuzz_wait_reply(ctl);
	struct sd_fuzz_conn *data = sd_fuzz_connect(c, sd_fuzz_reply_port(ctl));
	for (unsigned n = sd_fuzz_take_range(c, 0, 4); n > 0; n--) { /* commands from the input */
		const unsigned char *m;
		size_t len;
		int which = sd_fuzz_take_msg(c, &m, &len);
		sd_fuzz_send(ctl, which, m, len);
		sd_fuzz_wait_reply(ctl);
	}
	sd_fuzz_send(ctl, 1, "RETR\r\n", 6);
	sd_fuzz_read_to_end(data);
	size_t n;
	const unsigned char *got = sd_fuzz_reply(data, &n);
	memcpy(data_got, got, n < sizeof data_got - 1 ? n : sizeof data_got - 1);
	sd_fuzz_close(data, SD_FUZZ_CLOSE);
	sd_fuzz_close(ctl, SD_FUZZ_HALF_CLOSE);
}

static void custom_client_opens_the_pasv_data_connection(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = ftp_server,
				   .port = PORT,
				   .requests = ftp_msgs,
				   .nrequests = 4,
				   .client = ftp_client};
	/* the header (19 bytes), then the client's: 2 commands, NOOP and raw "HELP\r\n" */
	char path[] = "/tmp/sd-custom-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	setenv("SOCKDRILL_TRANSCRIPT", path, 1);
	uint8_t in[64] = {0};
	size_t n = 19;
	in[n++] = 2, in[n++] = 3;
	in[n++] = 0xff, in[n++] = 0, in[n++] = 6;
	memcpy(in + n, "HELP\r\n", 6), n += 6;
	memset(data_got, 0, sizeof data_got);
	assert_int_equal(sd_fuzz_server_run(&s, in, n), 0);
	unsetenv("SOCKDRILL_TRANSCRIPT");
	assert_string_equal(data_got, "DATA\n");
	/* the control connection sent PASV, the two commands from the input, RETR */
	FILE *f = fopen(path, "r");
	char text[2048];
	size_t k = fread(text, 1, sizeof text - 1, f);
	text[k] = '\0';
	fclose(f);
	unlink(path);
	assert_non_null(strstr(text, "\"which\": [-1, 3, -1, 1]"));
}

/* ---- a dialog's connection to a port named in another client's reply ------------------ */

static void dialog_connects_to_a_port_from_a_reply(void **state)
{
	(void)state;
	char path[] = "/tmp/sd-dialog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	setenv("SOCKDRILL_TRANSCRIPT", path, 1);
	struct sd_fuzz_server s = {
		.serve = ftp_server, .port = PORT, .requests = ftp_msgs, .nrequests = 4};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	tplan(&p, 2);
	tmsg(&p, 0, 0, ftp_msgs[0], 6, SD_AFTER_REPLY); /* PASV */
	tmsg(&p, 0, 1, ftp_msgs[1], 6, SD_AFTER_REPLY); /* RETR */
	tmsg(&p, 0, 2, ftp_msgs[2], 6, SD_AFTER_REPLY); /* QUIT */
	p.c[1].from = 0; /* the data connection: no messages, read to the end */
	assert_int_equal(sd_fuzz_server_run(&s, in, tinput(&p, in, sizeof in)), 0);
	unsetenv("SOCKDRILL_TRANSCRIPT");
	FILE *f = fopen(path, "r");
	char text[2048];
	size_t k = fread(text, 1, sizeof text - 1, f);
	text[k] = '\0';
	fclose(f);
	unlink(path);
	/* the second client's line: a port of its own, "DATA\n" (44415441 0a) as its reply */
	const char *second = strstr(text, "{\"client\": 1, \"port\": ");
	assert_non_null(second);
	assert_null(strstr(second, "\"port\": 0,"));
	assert_non_null(strstr(second, "\"reply\": \"444154410a\""));
}

/* ---- oracles ---------------------------------------------------------------------------- */

static int child_run(const struct sd_fuzz_server *s, const uint8_t *in, size_t n, const char *env)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (env)
			setenv("SOCKDRILL_ORACLES", env, 1);
		int devnull = open("/dev/null", 1);
		dup2(devnull, 2);
		sd_fuzz_server_run(s, in, n);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	return st;
}

/* The leaking server keeps its data listener: a finding by default, none with the listeners
 * oracle off (by the glue or by SOCKDRILL_ORACLES); a bad SOCKDRILL_ORACLES is exit 2. */
static void listener_oracle_is_switchable(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = ftp_server,
				   .arg = "leak",
				   .port = PORT,
				   .requests = ftp_msgs,
				   .nrequests = 4};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	tplan(&p, 1);
	tmsg(&p, 0, 0, ftp_msgs[0], 6, SD_AFTER_REPLY);
	tmsg(&p, 0, 2, ftp_msgs[2], 6, SD_AFTER_REPLY);
	size_t n = tinput(&p, in, sizeof in);
	int st = child_run(&s, in, n, NULL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	st = child_run(&s, in, n, "-listeners,-fd-leak");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	s.oracles_off = SD_ORACLE_LISTENERS | SD_ORACLE_FD_LEAK;
	st = child_run(&s, in, n, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = child_run(&s, in, n, "+listeners"); /* the environment switches it back on */
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	st = child_run(&s, in, n, "-no-such-oracle");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

/* ---- persistent mode ------------------------------------------------------------------ */

static void persistent_mode_starts_the_server_once(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = ftp_server, .port = PORT, .requests = ftp_msgs, .nrequests = 4};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	tplan(&p, 1);
	tmsg(&p, 0, 0, ftp_msgs[0], 6, SD_AFTER_REPLY);
	tmsg(&p, 0, 2, ftp_msgs[2], 6, SD_AFTER_REPLY);
	size_t n = tinput(&p, in, sizeof in);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) { /* a process of its own: persistent mode is chosen at the first input */
		setenv("SOCKDRILL_PERSISTENT", "1", 1);
		starts = 0;
		for (int i = 0; i < 20; i++)
			sd_fuzz_server_run(&s, in, n);
		_exit(starts == 1 ? 0 : 10 + starts);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	starts = 0; /* the default: a fresh server per input */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sd_fuzz_server_run(&s, in, n), 0);
	assert_int_equal(starts, 3);
}

/* ---- faults that stretch time or make up failures ------------------------------------- */

/* Accepts; after a failed accept it waits for ever for one of its connections to close, as a
 * server out of descriptors rightly does (it has none here to close). */
static void waits_after_a_failed_accept(void *arg)
{
	(void)arg;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			for (;;)
				sleep(1000);
		say(c, "hi\r\n");
		close(c);
	}
}

/* With the input's accept failures on, the liveness oracles stay out: no deadlock finding for
 * a server that waits for a close. */
static void made_up_accept_failures_are_no_deadlock(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = waits_after_a_failed_accept, .port = PORT};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	for (uint64_t seed = 0; seed < 8; seed++) { /* half the accepts fail, by the seed */
		tplan(&p, 4);
		p.seed = seed;
		p.together = 1;
		p.fault[SD_FZ_ACCEPT_FAIL] = 7;
		size_t n = tinput(&p, in, sizeof in);
		int st = child_run(&s, in, n, NULL);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/* Answers a line with 40,000 bytes in one-byte sends. */
static void slow_writer(void *arg)
{
	(void)arg;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
		return;
	for (;;) {
		int c = accept(l, NULL, NULL);
		char cmd[64];
		if (c < 0 || line(c, cmd, sizeof cmd) < 0) {
			close(c);
			continue;
		}
		for (int i = 0; i < 40000; i++)
			send(c, "x", 1, MSG_NOSIGNAL);
		close(c);
	}
}

/* 40,000 calls delayed 20 ms each take 800 virtual seconds, past the 600 s the clients have
 * without delays: slow, not stuck. */
static void delays_stretch_the_time_limit(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {
		.serve = slow_writer, .port = PORT, .requests = ftp_msgs, .nrequests = 4};
	struct sd_fuzz_plan p;
	uint8_t in[256];
	tplan(&p, 1);
	tmsg(&p, 0, 3, ftp_msgs[3], 6, SD_AFTER_NONE);
	p.fault[SD_FZ_DELAY] = 7;
	size_t n = tinput(&p, in, sizeof in);
	int st = child_run(&s, in, n, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(custom_client_opens_the_pasv_data_connection),
	T(dialog_connects_to_a_port_from_a_reply),
	T(listener_oracle_is_switchable),
	T(persistent_mode_starts_the_server_once),
	T(made_up_accept_failures_are_no_deadlock),
	T(delays_stretch_the_time_limit),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "dialogs";
