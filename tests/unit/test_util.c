/* The shared helpers of src/util/util.h: the PRNG, the clock, iov sums, the loopback policy,
 * key=value cutting, the escaper with each of its callers' rules, hex digits, and the
 * socket-option and poll-flag tables. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "sd_test.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>

#include "../../src/util/sockopts.h"
#include "../../src/util/util.h"

const char sd_unit_module[] = "util";

static void splitmix64_gives_the_reference_sequence(void **state)
{
	(void)state;
	uint64_t x = 0; /* Vigna's splitmix64.c from state 0 */
	assert_true(sd__splitmix64(&x) == 0xe220a8397b1dcdafull);
	assert_true(sd__splitmix64(&x) == 0x6e789e6aa1b965f4ull);
	assert_true(sd__splitmix64(&x) == 0x06c45d188009454full);
	assert_true(x == 3 * SD__GOLDEN);
	assert_true(sd__mix(SD__GOLDEN) == 0xe220a8397b1dcdafull);
}

static void mono_clock_does_not_go_back(void **state)
{
	(void)state;
	int64_t a = sd__mono_ns();
	double s = sd__mono_s();
	int64_t b = sd__mono_ns();
	assert_true(a > 0 && b >= a);
	assert_true(s >= (double)a / 1e9 - 1e-6 && s <= (double)b / 1e9 + 1e-6);
	struct timespec ts = {.tv_sec = 3, .tv_nsec = 7};
	assert_true(sd__ts_ns(&ts) == 3000000007LL);
}

static void iov_sum_adds_every_piece(void **state)
{
	(void)state;
	char b[10];
	struct iovec v[3] = {{b, 3}, {b, 0}, {b + 3, 7}};
	assert_int_equal(sd__iov_sum(v, 3), 10);
	assert_int_equal(sd__iov_sum(v, 1), 3);
	assert_int_equal(sd__iov_sum(NULL, 0), 0);
}

static int permitted(int allow, int family, const char *text, socklen_t cut)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, text, &a->sin_addr);
		len = sizeof *a;
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, text, &a->sin6_addr);
		len = sizeof *a;
	} else {
		ss.ss_family = (sa_family_t)family;
		len = sizeof(struct sockaddr_un);
	}
	return sd__addr_permitted(allow, (struct sockaddr *)&ss, len - cut);
}

static void loopback_policy_passes_loopback_and_what_the_kernel_refuses(void **state)
{
	(void)state;
	assert_true(permitted(0, AF_INET, "127.0.0.1", 0));
	assert_true(permitted(0, AF_INET, "127.9.8.7", 0));
	assert_true(permitted(0, AF_INET, "0.0.0.0", 0));
	assert_true(permitted(0, AF_INET6, "::1", 0));
	assert_true(permitted(0, AF_INET6, "::", 0));
	assert_true(permitted(0, AF_INET6, "::ffff:127.0.0.1", 0));
	assert_false(permitted(0, AF_INET, "10.1.2.3", 0));
	assert_false(permitted(0, AF_INET6, "2001:db8::1", 0));
	assert_true(permitted(1, AF_INET, "10.1.2.3", 0)); /* SD_CFG_ALLOW_NONLOOPBACK */
	assert_true(permitted(0, AF_INET, "10.1.2.3", 1)); /* too short: EINVAL from the call */
	assert_true(permitted(0, AF_INET6, "2001:db8::1", 1));
	assert_true(permitted(0, AF_UNSPEC, NULL, 0)); /* connect's disconnect */
	assert_true(permitted(0, AF_UNIX, NULL, 0));
	assert_true(sd__addr_permitted(0, NULL, 0));
}

static void kv_cut_splits_at_the_first_equals(void **state)
{
	(void)state;
	char a[] = "seed=1=2", b[] = "flag", c[] = "=v";
	assert_string_equal(sd__kv_cut(a), "1=2");
	assert_string_equal(a, "seed");
	assert_null(sd__kv_cut(b));
	assert_string_equal(b, "flag");
	assert_string_equal(sd__kv_cut(c), "v");
	assert_string_equal(c, "");
}

static void textf_cuts_rather_than_overflows(void **state)
{
	(void)state;
	char b[8];
	memset(b, 'x', sizeof b);
	sd__textf(b, 6, "%s-%d", "abc", 1234);
	assert_string_equal(b, "abc-1");
	assert_int_equal(b[6], 'x');
}

/* Every byte that has a rule, and some that have none. */
static const unsigned char sample[] = "a\n\r\t\"\\${$x\x01\x7f\xff";
#define SAMPLE_LEN (sizeof sample - 1)

static const char *esc(unsigned flags)
{
	static char out[128];
	size_t done = 0;
	size_t n = sd__escape(out, sizeof out, sample, SAMPLE_LEN, flags, &done);
	assert_int_equal(done, SAMPLE_LEN);
	assert_int_equal(n, strlen(out));
	return out;
}

static void escape_keeps_each_callers_rule(void **state)
{
	(void)state;
	/* scenario messages (src/scenario/run.c show_bytes) */
	assert_string_equal(esc(SD__ESC_NL | SD__ESC_QUOTE | SD__ESC_BACKSLASH),
			    "a\\n\\x0d\\x09\\\"\\\\${$x\\x01\\x7f\\xff");
	/* wrap --record's scenario steps (src/cli/wrap_record.c): "${" is not a variable */
	assert_string_equal(esc(SD__ESC_NL | SD__ESC_CR | SD__ESC_TAB | SD__ESC_QUOTE |
				SD__ESC_BACKSLASH | SD__ESC_DOLLAR),
			    "a\\n\\r\\t\\\"\\\\\\${$x\\x01\\x7f\\xff");
	/* the fuzz driver's findings (harness/fuzz_server.c): C string contents */
	assert_string_equal(esc(SD__ESC_CR | SD__ESC_NL | SD__ESC_QUOTE | SD__ESC_BACKSLASH),
			    "a\\n\\r\\x09\\\"\\\\${$x\\x01\\x7f\\xff");
	/* the fuzz recorder's scenarios (harness/fuzz_record.c): no quote after a backslash */
	assert_string_equal(
		esc(SD__ESC_NL | SD__ESC_CR | SD__ESC_TAB | SD__ESC_QUOTE | SD__ESC_DOLLAR_HEX),
		"a\\n\\r\\t\\\"\\x5c\\x24{$x\\x01\\x7f\\xff");
	/* AFL's dictionary (harness/fuzz_messages.c): only printable bytes stay */
	assert_string_equal(esc(0), "a\\x0a\\x0d\\x09\\x22\\x5c${$x\\x01\\x7f\\xff");
}

static void escape_in_pieces_gives_the_same_text(void **state)
{
	(void)state;
	static const unsigned flags[] = {0, SD__ESC_DOLLAR, SD__ESC_DOLLAR_HEX,
					 SD__ESC_NL | SD__ESC_QUOTE | SD__ESC_BACKSLASH};
	for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
		for (size_t size = SD__ESC_MAX + 1; size < 12; size++) {
			char whole[128], joined[128] = "", piece[12];
			sd__escape(whole, sizeof whole, sample, SAMPLE_LEN, flags[f], NULL);
			for (size_t i = 0, done; i < SAMPLE_LEN; i += done) {
				size_t n = sd__escape(piece, size, sample + i, SAMPLE_LEN - i,
						      flags[f], &done);
				assert_true(done > 0 && n < size);
				strcat(joined, piece);
			}
			assert_string_equal(joined, whole);
		}
}

static void escape_stops_while_the_longest_escape_still_fits(void **state)
{
	(void)state;
	char out[16];
	size_t done;
	/* size 9: a byte is written only while 4 + 1 bytes are free */
	assert_int_equal(sd__escape(out, 9, "abcdefgh", 8, 0, &done), 5);
	assert_int_equal(done, 5);
	assert_string_equal(out, "abcde");
	assert_int_equal(sd__escape(out, 9, "\x01\x02\x03", 3, 0, &done), 8);
	assert_int_equal(done, 2);
	assert_int_equal(sd__escape(out, 4, "a", 1, 0, &done), 0);
	assert_int_equal(done, 0);
	assert_string_equal(out, "");
	assert_int_equal(sd__escape(out, 0, "a", 1, 0, &done), 0);
	assert_int_equal(done, 0);
}

static void hex_written_and_read_back(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	sd__hex_write(f,
		      "\x00\x0f\xa5\xff"
		      "A",
		      5);
	sd__hex_write(f, "", 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, "000fa5ff41");
	free(text);
	assert_int_equal(sd__hexval('0'), 0);
	assert_int_equal(sd__hexval('9'), 9);
	assert_int_equal(sd__hexval('a'), 10);
	assert_int_equal(sd__hexval('F'), 15);
	assert_int_equal(sd__hexval('g'), -1);
	assert_int_equal(sd__hexval('/'), -1);
	assert_int_equal(sd__hexval((char)0xe0), -1); /* a negative char */
}

/* Each option is found by its name and by (level, name), as the one entry it is. */
static void sockopt_table_finds_each_entry_both_ways(void **state)
{
	(void)state;
	for (int i = 0; i < SD__NSOCKOPTS; i++) {
		const struct sd__sockopt *o = &sd__sockopts[i];
		assert_non_null(o->name);
		assert_ptr_equal(sd__sockopt_by_name(o->name), o);
		assert_ptr_equal(sd__sockopt_find(o->level, o->optname), o);
	}
	assert_int_equal(sd__sockopts[SD__SO_LINGER].kind, SD__KIND_LINGER);
	assert_int_equal(sd__sockopts[SD__IP_LOCAL_PORT_RANGE].optname, IP_LOCAL_PORT_RANGE);
	assert_int_equal(sd__sockopts[SD__TCP_INFO].level, IPPROTO_TCP);
	assert_null(sd__sockopt_by_name("TCP_QUICKACK"));
	assert_null(sd__sockopt_find(SOL_SOCKET, SO_ERROR));
}

/* Flags are named in the table's order, each call's own only, with the prefix asked for. */
static void pollflags_show_names_each_calls_flags(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(
		sd__pollflags_show(POLLRDHUP | POLLOUT | POLLIN, SD__PF_POLL, "", out, sizeof out),
		12);
	assert_string_equal(out, "IN|OUT|RDHUP");
	sd__pollflags_show(EPOLLIN | EPOLLRDHUP | EPOLLET | EPOLLONESHOT, SD__PF_EPOLL, "", out,
			   sizeof out);
	assert_string_equal(out, "IN|RDHUP|ET|ONESHOT");
	sd__pollflags_show(EPOLLET | POLLNVAL | POLLIN, SD__PF_POLL, "POLL", out, sizeof out);
	assert_string_equal(out, "POLLIN|POLLNVAL"); /* ET is epoll's */
	sd__pollflags_show(POLLNVAL, SD__PF_EPOLL, "", out, sizeof out);
	assert_string_equal(out, ""); /* and NVAL poll's */
	assert_int_equal(sd__pollflags_show(POLLIN | POLLOUT, SD__PF_POLL, "", out, 4), 6);
	assert_string_equal(out, "IN|");
	assert_true(sd__pollflag_find("ONESHOT", SD__PF_EPOLL)->bit == EPOLLONESHOT);
	assert_null(sd__pollflag_find("ONESHOT", SD__PF_POLL));
	assert_true(sd__pollflags_mask(SD__PF_POLL) ==
		    (POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLRDHUP));
}

const struct CMUnitTest sd_unit_tests[] = {
	T(splitmix64_gives_the_reference_sequence),
	T(mono_clock_does_not_go_back),
	T(iov_sum_adds_every_piece),
	T(loopback_policy_passes_loopback_and_what_the_kernel_refuses),
	T(kv_cut_splits_at_the_first_equals),
	T(textf_cuts_rather_than_overflows),
	T(escape_keeps_each_callers_rule),
	T(escape_in_pieces_gives_the_same_text),
	T(escape_stops_while_the_longest_escape_still_fits),
	T(hex_written_and_read_back),
	T(sockopt_table_finds_each_entry_both_ways),
	T(pollflags_show_names_each_calls_flags),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
