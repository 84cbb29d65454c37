/* Tests of the fresh process each input gets (src/interpose/fresh.c): the server's globals put
 * back, the descriptors it opened closed, its signal handlers and timers kept for the run
 * only. The globals below sit in the sections ci/real-servers moves a server's data into. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SD_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SD_ASAN 1
#endif
#ifdef SD_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
#include <malloc.h>
static size_t heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd; /* hblkhd: the blocks mmap holds */
}
#endif

#include "sd_test.h"

#define PORT 7400

/* As a server's globals would be after the archive step: data and bss of their own. */
__attribute__((section("sd_srv_data"))) static int initialised_to = 41;
__attribute__((section("sd_srv_bss"))) static int counter;
__attribute__((section("sd_srv_bss"))) static char *first_seen;

/* What the server saw, kept outside its sections (as the test's own state). */
static int seen_initial[4], seen_counter[4], seen_env[4], runs;
static int leaked_fd = -1;
static struct sigaction seen_old_alarm;
static struct itimerval seen_timer;

static void on_alarm(int sig) { (void)sig; }

/* The server's code, where ci/real-servers puts it: its allocations are its own. */
#define SERVER_CODE __attribute__((section("sd_srv_text"), noinline))

static int leaked_stream_fd = -1;

SERVER_CODE static void allocate_and_keep(void)
{
	/* Blocks a server keeps in its globals until its process ends, and one it frees. */
	static char *keep[8] __attribute__((section("sd_srv_bss")));
	static regex_t re[4] __attribute__((section("sd_srv_bss")));
	keep[0] = malloc(1 << 20);
	memset(keep[0], 1, 1 << 20);
	keep[1] = calloc(1000, 64);
	keep[2] = strdup("a string the server keeps");
	keep[3] = realloc(NULL, 100);
	keep[3] = realloc(keep[3], 200000);
	char *gone = malloc(50);
	free(gone);
	if (posix_memalign((void **)&keep[4], 64, 4096) != 0)
		keep[4] = NULL;
	/* What C library calls allocate for it to keep: compiled regexes (tinyproxy's config
	 * grammar), a formatted string, a line. */
	for (int i = 0; i < 4; i++)
		regcomp(&re[i], "^([a-z]+)[[:space:]]+(\"[^\"]*\"|[0-9]+)$",
			REG_EXTENDED | REG_ICASE);
	regmatch_t m[3];
	for (int i = 0; i < 4; i++) /* matching fills each regex's state cache */
		regexec(&re[i], i % 2 ? "Port 8080" : "user \"nobody\"", 3, m, 0);
	regexec(&re[0], "no match wanted", 0, NULL, 0); /* nmatch 0: no array at all */
	if (asprintf(&keep[5], "%s=%d", "port", 8080) < 0)
		keep[5] = NULL;
	FILE *in = fopen("/proc/self/status", "r");
	size_t cap = 0;
	if (in) {
		if (getline(&keep[6], &cap, in) < 0)
			keep[6] = NULL;
		fclose(in);
	}
	/* Streams it never closes, with something buffered in each. */
	for (int i = 0; i < 16; i++) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			fputs("buffered", f);
			leaked_stream_fd = fileno(f);
		}
	}
}

/* As nginx's ngx_set_environment: environ pointed at an array of the server's, and (as putenv
 * does) an entry of the array it had replaced by a string of the server's; both given back
 * after the run. */
SERVER_CODE static void replace_environment(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = malloc((n + 1) * sizeof *env), *mine = strdup("SD_FRESH_ENV=server");
	if (!env || !mine)
		return;
	for (size_t i = 0; i <= n; i++) {
		if (environ[i] && !strncmp(environ[i], "SD_FRESH_ENV=", 13))
			environ[i] = mine;
		env[i] = environ[i];
	}
	environ = env;
}

SERVER_CODE static void server(void *arg)
{
	(void)arg;
	if (runs < 4) {
		seen_initial[runs] = initialised_to;
		seen_counter[runs] = counter;
		const char *v = getenv("SD_FRESH_ENV");
		seen_env[runs] = v && !strcmp(v, "test");
	}
	replace_environment();
	runs++;
	initialised_to++;
	counter += 10;
	if (!first_seen)
		first_seen = "set";
	allocate_and_keep();
	/* A log file it never closes, and stderr replaced by it, as nginx's error log does. */
	leaked_fd = open("/dev/null", O_WRONLY);
	if (leaked_fd >= 0)
		dup2(leaked_fd, 2);
	/* A SIGALRM handler and an interval timer: kept for the run, never installed. */
	struct sigaction sa = {.sa_handler = on_alarm}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGALRM, NULL, &old);
	seen_old_alarm = old;
	struct itimerval t = {.it_value = {.tv_sec = 30}};
	setitimer(ITIMER_REAL, &t, NULL);
	getitimer(ITIMER_REAL, &seen_timer);

	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0)
		return;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

static void each_input_sees_the_start_up_globals(void **state)
{
	(void)state;
	struct stat err_before, err_after;
	assert_int_equal(fstat(2, &err_before), 0);
	struct sigaction alarm_before, alarm_after;
	assert_int_equal(sigaction(SIGALRM, NULL, &alarm_before), 0);
	struct itimerval timer_before, t; /* the test runner's own time limit may be armed */
	assert_int_equal(getitimer(ITIMER_REAL, &timer_before), 0);
	assert_true(timer_before.it_value.tv_sec < 30);

	assert_int_equal(setenv("SD_FRESH_ENV", "test", 1), 0);
	struct sd_fuzz_server s = {.serve = server, .port = PORT};
	uint8_t in[16] = {0};
	for (int i = 0; i < 3; i++) {
		leaked_fd = -1;
		sd_fuzz_server_run(&s, in, sizeof in);
		/* The run's file is closed, and stderr is the test's own again. */
		assert_true(leaked_fd > 2);
		assert_int_equal(fcntl(leaked_fd, F_GETFD), -1);
		assert_int_equal(fstat(2, &err_after), 0);
		assert_int_equal(err_after.st_dev, err_before.st_dev);
		assert_int_equal(err_after.st_ino, err_before.st_ino);
		/* The environment is the test's again (the server's array and string are gone). */
		assert_string_equal(getenv("SD_FRESH_ENV"), "test");
	}
	assert_int_equal(runs, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(seen_initial[i], 41);
		assert_int_equal(seen_counter[i], 0);
		assert_true(seen_env[i]);
	}
	/* Within the run the server saw its own handler and timer ... */
	assert_ptr_equal(seen_old_alarm.sa_handler, on_alarm);
	assert_int_equal(seen_timer.it_value.tv_sec, 30);
	/* ... which never reached the process. */
	assert_int_equal(sigaction(SIGALRM, NULL, &alarm_after), 0);
	assert_ptr_equal(alarm_after.sa_handler, alarm_before.sa_handler);
	assert_int_equal(getitimer(ITIMER_REAL, &t), 0);
	assert_true(t.it_value.tv_sec <= timer_before.it_value.tv_sec);
	/* The globals are the last run's until the next one starts. */
	assert_int_equal(initialised_to, 42);
	assert_non_null(first_seen);
}

/* What the server allocated and kept, and the streams it left open, are given back after
 * each input: the heap does not grow by ~1.3 MiB an input. */
static void each_input_gives_its_memory_back(void **state)
{
	(void)state;
	struct sd_fuzz_server s = {.serve = server, .port = PORT};
	uint8_t in[16] = {0};
	sd_fuzz_server_run(&s, in, sizeof in); /* the first: the C library's own caches */
	size_t before = heap_in_use();
	for (int i = 0; i < 8; i++) {
		leaked_stream_fd = -1;
		sd_fuzz_server_run(&s, in, sizeof in);
		assert_true(leaked_stream_fd > 2);
		assert_int_equal(fcntl(leaked_stream_fd, F_GETFD), -1);
	}
	size_t after = heap_in_use();
	print_message("heap in use: %zu before, %zu after 8 inputs\n", before, after);
	/* kept, it would be 8 x ~1.4 MiB; the C library's allocator keeps a little for itself */
	assert_true(after < before + 256 * 1024);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(each_input_sees_the_start_up_globals),
	T(each_input_gives_its_memory_back),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "fresh";
