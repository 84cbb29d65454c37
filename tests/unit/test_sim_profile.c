/* The sim's kernel profiles: the table, the host reader, and the tunables they set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "sd_test.h"

const char sd_unit_module[] = "sim_profile";

#define MS 1000000LL

/* the profile tests' sims: seed 5 */
#define open_sim(options) sd_test_open_sim(5, options)
#define close_sim         sd_test_close_sim

/* A listener on 127.0.0.1, ephemeral port; *a receives its address. */
static int listener(struct sd_net *net, int backlog, struct sockaddr_storage *a, socklen_t *al)
{
	int l = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	*al = sizeof *a;
	sd_addr_parse("127.0.0.1", 0, a, al);
	assert_int_equal(sd_bind(net, l, (struct sockaddr *)a, *al), 0);
	assert_int_equal(sd_listen(net, l, backlog), 0);
	*al = sizeof *a;
	assert_int_equal(sd_getsockname(net, l, (struct sockaddr *)a, al), 0);
	return l;
}

static void table_has_the_named_kernels(void **state)
{
	(void)state;
	const struct sd_sim_profile *def = sd_sim_profile_at(0), *p;
	assert_non_null(def);
	assert_string_equal(def->name, "linux-6.18");
	int n = 0;
	for (; (p = sd_sim_profile_at(n)) != NULL; n++) {
		assert_true(strlen(p->source) >
			    10); /* every table says where its values are from */
		assert_ptr_equal(sd_sim_profile_find(p->name), p);
		assert_true(p->hz > 0 && p->port_lo <= p->port_hi && p->syn_retries > 0);
	}
	assert_true(n >= 2);
	assert_null(sd_sim_profile_at(-1));
	assert_null(sd_sim_profile_find("host")); /* read from the machine, not a table entry */
	assert_null(sd_sim_profile_find("linux-2.4"));
	assert_null(sd_sim_profile_find(NULL));
	p = sd_sim_profile_find("linux-6.1");
	assert_non_null(p);
	assert_int_equal(p->syn_linear_timeouts, 0);
	assert_int_equal(p->wmem_max, 212992);
	assert_int_equal(p->tcp_peek_off, 0);
	assert_int_equal(def->syn_linear_timeouts, 4);
	assert_int_equal(def->wmem_max, 4194304);
	assert_int_equal(def->tcp_peek_off, 1);
	assert_int_equal(def->tw_reuse, 2);
	assert_int_equal(def->tw_reuse_delay, 1000);
}

/* A plain sim runs the default profile; profile= picks another; an option given beside it
 * wins wherever it stands; bad names and two profiles are rejected. */
static void options_pick_and_override_the_profile(void **state)
{
	(void)state;
	struct sd_sim_profile got;
	struct sd_net *net = open_sim(NULL);
	assert_int_equal(sd_sim_profile_of(net, &got), 0);
	assert_memory_equal(&got, sd_sim_profile_at(0), sizeof got);
	close_sim(net);

	net = open_sim("syn_retries=3,profile=linux-6.1,hz=1000,ports=40000-40099");
	assert_int_equal(sd_sim_profile_of(net, &got), 0);
	assert_string_equal(got.name, "linux-6.1");
	assert_int_equal(got.syn_retries, 3);
	assert_int_equal(got.hz, 1000);
	assert_int_equal(got.port_lo, 40000);
	assert_int_equal(got.rmem_max, 212992); /* the rest is the profile's */
	int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0), v = 1 << 20;
	socklen_t l = sizeof v;
	assert_int_equal(sd_setsockopt(net, fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
	assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, SO_RCVBUF, &v, &l), 0);
	assert_int_equal(v, 2 * 212992); /* capped at the profile's rmem_max, then doubled */
	close_sim(net);

	/* SO_RCVLOWAT without SO_RCVBUF: capped at half the profile's tcp_rmem[2], and the
	 * receive buffer grows to twice that (6.1: 6 MB, 6.18: 32 MB) */
	static const struct {
		const char *opts;
		int lowat;
	} caps[] = {{"profile=linux-6.1", 3145728}, {"profile=linux-6.18", 16777216}};
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		net = open_sim(caps[i].opts);
		fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		v = -1;
		l = sizeof v;
		assert_int_equal(sd_setsockopt(net, fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v), 0);
		assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, SO_RCVLOWAT, &v, &l), 0);
		assert_int_equal(v, caps[i].lowat);
		assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, SO_RCVBUF, &v, &l), 0);
		assert_int_equal(v, 2 * caps[i].lowat);
		close_sim(net);
	}

	static const char *const bad[] = {
		"profile=linux-2.4",
		"profile=",
		"profile=linux-6.1,profile=linux-6.18",
		"hz=0",
		"hz=x",
		"syn_retries=0",
		"fin_timeout=0",
		"syn_linear_timeouts=-1",
		"tcp_peek_off=2",
		"tw_reuse=3",
		"tw_reuse_delay=0",
		"tw_reuse_delay=60001",
		"tcp_rmem_max=0",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sd_net n2;
		struct sd_config cfg = {.seed = 1, .options = bad[i]};
		assert_int_equal(sd_net_open(&n2, "sim", &cfg), -EINVAL);
	}
	assert_int_equal(sd_sim_profile_of(NULL, &got), -EINVAL);
}

/* A fake /proc under a temporary root. */
struct fake_root {
	char dir[64];
};

static void put(struct fake_root *r, const char *rel, const char *text)
{
	char path[256], *slash;
	snprintf(path, sizeof path, "%s/%s", r->dir, rel);
	for (slash = strchr(path + strlen(r->dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = 0;
		mkdir(path, 0700);
		*slash = '/';
	}
	if (!text) {
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void fake_kernel(struct fake_root *r)
{
	snprintf(r->dir, sizeof r->dir, "/tmp/sd-profile-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	put(r, "proc/sys/kernel/osrelease", "6.9.1-test\n");
	put(r, "proc/sys/net/ipv4/tcp_syn_retries", "5\n");
	put(r, "proc/sys/net/ipv4/tcp_syn_linear_timeouts", "2\n");
	put(r, "proc/sys/net/ipv4/tcp_rto_max_ms", "60000\n");
	put(r, "proc/sys/net/ipv4/ip_local_port_range", "20000\t29999\n");
	put(r, "proc/sys/net/core/somaxconn", "128\n");
	put(r, "proc/sys/net/core/wmem_max", "212992\n");
	put(r, "proc/sys/net/core/rmem_max", "425984\n");
	put(r, "proc/sys/net/ipv4/tcp_wmem", "4096\t32768\t4194304\n");
	put(r, "proc/sys/net/ipv4/tcp_rmem", "4096\t87380\t6291456\n");
	put(r, "proc/sys/net/ipv4/tcp_fin_timeout", "30\n");
	put(r, "proc/sys/net/ipv4/tcp_tw_reuse", "1\n");
	put(r, "proc/sys/net/ipv4/tcp_tw_reuse_delay", "250\n");
}

static void remove_root(struct fake_root *r)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
	assert_int_equal(system(cmd), 0);
}

static void host_reader_parses_a_proc_root(void **state)
{
	(void)state;
	struct fake_root r;
	struct sd_sim_profile p;
	char err[256];
	fake_kernel(&r);
	assert_int_equal(sd_sim_profile_read(r.dir, 300, &p, err, sizeof err), 0);
	assert_string_equal(p.name, "host");
	assert_non_null(strstr(p.source, "6.9.1-test"));
	assert_int_equal(p.syn_retries, 5);
	assert_int_equal(p.syn_linear_timeouts, 2);
	assert_int_equal(p.rto_max_ms, 60000);
	assert_int_equal(p.hz, 300);
	assert_int_equal(p.port_lo, 20000);
	assert_int_equal(p.port_hi, 29999);
	assert_int_equal(p.somaxconn, 128);
	assert_int_equal(p.wmem_max, 212992);
	assert_int_equal(p.rmem_max, 425984);
	assert_int_equal(p.wmem_def, 32768);
	assert_int_equal(p.rmem_def, 87380);
	assert_int_equal(p.tcp_rmem_max, 6291456);
	assert_int_equal(p.fin_timeout, 30);
	assert_int_equal(p.tw_reuse, 1);
	assert_int_equal(p.tw_reuse_delay, 250);
	assert_int_equal(p.tcp_peek_off, 0); /* 6.9: TCP has no SO_PEEK_OFF yet */

	/* an older kernel lacks the newer sysctls: it behaves as without them */
	put(&r, "proc/sys/net/ipv4/tcp_syn_linear_timeouts", NULL);
	put(&r, "proc/sys/net/ipv4/tcp_rto_max_ms", NULL);
	put(&r, "proc/sys/net/ipv4/tcp_tw_reuse_delay", NULL);
	assert_int_equal(sd_sim_profile_read(r.dir, 100, &p, err, sizeof err), 0);
	assert_int_equal(p.syn_linear_timeouts, 0);
	assert_int_equal(p.rto_max_ms, 120000);
	assert_int_equal(p.tw_reuse_delay, 1000);

	/* SO_PEEK_OFF on TCP goes with the version: 6.10 and later have it */
	static const struct {
		const char *release;
		int peek_off;
	} versions[] = {{"6.10.0\n", 1},
			{"6.18.44-fc-v1045\n", 1},
			{"7.0\n", 1},
			{"6.1.55-amd64\n", 0},
			{"5.15.0\n", 0}};
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		put(&r, "proc/sys/kernel/osrelease", versions[i].release);
		assert_int_equal(sd_sim_profile_read(r.dir, 100, &p, err, sizeof err), 0);
		assert_int_equal(p.tcp_peek_off, versions[i].peek_off);
	}
	put(&r, "proc/sys/kernel/osrelease", "unknown\n");
	assert_int_equal(sd_sim_profile_read(r.dir, 100, &p, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "kernel/osrelease"));

	/* a sysctl every kernel has, missing; then values that do not parse or fit */
	put(&r, "proc/sys/net/core/somaxconn", NULL);
	assert_int_equal(sd_sim_profile_read(r.dir, 100, &p, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "net/core/somaxconn: missing"));
	static const struct {
		const char *rel, *text;
	} bad[] = {
		{"proc/sys/net/core/somaxconn", "lots\n"},
		{"proc/sys/net/ipv4/tcp_syn_retries", "0\n"},
		{"proc/sys/net/ipv4/tcp_syn_retries", "6 7\n"},
		{"proc/sys/net/ipv4/ip_local_port_range", "40000\n"},
		{"proc/sys/net/ipv4/ip_local_port_range", "40000 30000\n"},
		{"proc/sys/net/ipv4/tcp_rmem", "4096 87380\n"},
		{"proc/sys/net/ipv4/tcp_tw_reuse", "3\n"},
		{"proc/sys/net/ipv4/tcp_tw_reuse_delay", "0\n"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fake_kernel(&r);
		put(&r, bad[i].rel, bad[i].text);
		assert_int_equal(sd_sim_profile_read(r.dir, 100, &p, err, sizeof err), -EINVAL);
		assert_non_null(strstr(err, bad[i].rel + strlen("proc/sys/")));
		remove_root(&r);
	}
	fake_kernel(&r);
	put(&r, "proc/sys/kernel/osrelease", NULL);
	assert_int_equal(sd_sim_profile_read(r.dir, 100, &p, err, sizeof err), -ENOENT);
	remove_root(&r);
}

/* What the kernel reads back for a SO_RCVTIMEO of 1 us, faked: one tick of its HZ. */
static long fake_tick_us;

static int fake_setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{
	(void)fd, (void)lv, (void)n, (void)v, (void)l;
	return 0;
}

static int fake_getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{
	(void)fd, (void)lv, (void)n;
	struct timeval tv = {0, (suseconds_t)fake_tick_us};
	memcpy(v, &tv, sizeof tv);
	*l = sizeof tv;
	return 0;
}

static void hz_is_read_from_a_timeout(void **state)
{
	(void)state;
	struct sd_real_syscalls sys = sd_real_libc;
	sys.setsockopt = fake_setsockopt;
	sys.getsockopt = fake_getsockopt;
	static const struct {
		long tick_us;
		int hz;
	} cases[] = {{4000, 250}, {1000, 1000}, {3333, 300}, {10000, 100}, {5, -EPROTO}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_tick_us = cases[i].tick_us;
		assert_int_equal(sd_real_probe_hz(&sys), cases[i].hz);
	}
	/* this kernel: a rate kernels are built with, and the host profile carries it */
	int hz = sd_real_probe_hz(NULL);
	assert_true(hz == 100 || hz == 250 || hz == 300 || hz == 1000);
	struct sd_sim_profile host;
	char err[256];
	assert_int_equal(sd_sim_profile_host(&host, err, sizeof err), 0);
	assert_int_equal(host.hz, hz);
	assert_string_equal(host.name, "host");
	struct sd_net *net = open_sim("profile=host");
	struct sd_sim_profile got;
	assert_int_equal(sd_sim_profile_of(net, &got), 0);
	assert_memory_equal(&got, &host, sizeof got);
	close_sim(net);
}

/* SO_RCVTIMEO/SO_SNDTIMEO are kept in ticks, rounded up (measured on 6.18 at HZ 250), read
 * back so, and last so long. */
static void timeouts_are_whole_ticks(void **state)
{
	(void)state;
	static const struct {
		const char *options;
		long sec, usec, back_sec, back_usec;
	} cases[] = {
		{NULL, 0, 250000, 0, 252000}, {NULL, 0, 1000, 0, 4000},
		{NULL, 0, 1, 0, 4000},        {NULL, 2, 500, 2, 4000},
		{NULL, 0, 999999, 1, 0},      {NULL, 0, 4001, 0, 8000},
		{NULL, 7, 0, 7, 0},           {"hz=1000", 0, 250000, 0, 250000},
		{"hz=1000", 0, 1, 0, 1000},   {"hz=300", 0, 1000, 0, 3333},
		{"hz=300", 1, 3334, 1, 6666}, {"hz=100", 0, 1000, 0, 10000},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sd_net *net = open_sim(cases[i].options);
		int fd = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		struct timeval tv = {cases[i].sec, cases[i].usec};
		socklen_t l = sizeof tv;
		for (int o = 0; o < 2; o++) {
			int name = o ? SO_SNDTIMEO : SO_RCVTIMEO;
			tv = (struct timeval){cases[i].sec, cases[i].usec};
			assert_int_equal(sd_setsockopt(net, fd, SOL_SOCKET, name, &tv, sizeof tv),
					 0);
			assert_int_equal(sd_getsockopt(net, fd, SOL_SOCKET, name, &tv, &l), 0);
			assert_int_equal(tv.tv_sec, cases[i].back_sec);
			assert_int_equal(tv.tv_usec, cases[i].back_usec);
		}
		close_sim(net);
	}
	/* a recv with 250 ms at HZ 250 gives up after 63 ticks */
	struct sd_net *net = open_sim(NULL);
	struct sockaddr_storage a;
	socklen_t al;
	listener(net, 1, &a, &al);
	int c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, c, (struct sockaddr *)&a, al), 0);
	struct timeval tv = {0, 250000};
	assert_int_equal(sd_setsockopt(net, c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	char b[4];
	int64_t t0 = sd_now_ns(net);
	assert_int_equal(sd_recv(net, c, b, sizeof b, 0), -EAGAIN);
	assert_int_equal(sd_now_ns(net) - t0, 252 * MS);
	close_sim(net);
}

struct acceptor {
	struct sd_net *net;
	int lfd, fd;
	int64_t at;
};

static void accept_later(void *arg)
{
	struct acceptor *a = arg;
	sd_sleep_ns(a->net, a->at);
	a->fd = sd_accept(a->net, a->lfd, NULL, NULL, 0);
}

/*
 * A blocking connect past a full accept queue, its SYNs dropped. With nobody accepting, when
 * does it give up? Each such row was measured on Linux 6.18 by a connect whose SYNs were all
 * dropped (a network namespace routing an address to lo), with the sysctls set as in the row:
 * retransmissions at 1 s intervals for the first tcp_syn_linear_timeouts, then doubling up to
 * tcp_rto_max_ms, and ETIMEDOUT at the first one due past tcp_model_timeout(tcp_syn_retries).
 * The kernel's times were a few tenths of a second later (timer slack): 7.15, 19.4, 130.5,
 * 134.6 and 374.1 s. With room made at 3.5 s, it gets in at the next retry: 6.18's schedule
 * (1, 2, 3, 4, 5, 7 s) at 4 s, 6.1's (1, 3, 7 s) at 7 s.
 */
static void syn_retries_follow_the_profile_schedule(void **state)
{
	(void)state;
	static const struct {
		const char *options;
		int64_t accept_ms; /* -1: nobody accepts */
		int rc;
		int64_t after_ms;
	} cases[] = {
		{"syn_retries=2,syn_linear_timeouts=4", -1, -ETIMEDOUT, 7000},
		{"syn_retries=3,syn_linear_timeouts=4", -1, -ETIMEDOUT, 19000},
		{"profile=linux-6.1", -1, -ETIMEDOUT, 127000},
		{NULL, -1, -ETIMEDOUT, 131000}, /* the default profile: 6.18's 6 and 4 */
		{"syn_retries=8,syn_linear_timeouts=2", -1, -ETIMEDOUT, 369000},
		{"preempt=0", 3500, 0, 4000},
		{"preempt=0,profile=linux-6.1", 3500, 0, 7000},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sd_net *net = open_sim(cases[i].options);
		struct sockaddr_storage a;
		socklen_t al;
		int l = listener(net, 0, &a, &al);
		/* backlog 0 admits one connection: the next one's SYNs are dropped */
		int c1 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		assert_int_equal(sd_connect(net, c1, (struct sockaddr *)&a, al), 0);
		struct acceptor ac = {
			.net = net, .lfd = l, .fd = -1, .at = cases[i].accept_ms * MS};
		int id = cases[i].accept_ms < 0 ? 0 : sd_spawn(net, "acceptor", accept_later, &ac);
		int c2 = sd_socket(net, AF_INET, SOCK_STREAM, 0);
		int64_t t0 = sd_now_ns(net);
		assert_int_equal(sd_connect(net, c2, (struct sockaddr *)&a, al), cases[i].rc);
		assert_int_equal(sd_now_ns(net) - t0, cases[i].after_ms * MS);
		if (id > 0) {
			assert_int_equal(sd_join(net, id), 0);
			assert_true(ac.fd >= 0);
		}
		close_sim(net);
	}
}

const struct CMUnitTest sd_unit_tests[] = {
	T(table_has_the_named_kernels),    T(options_pick_and_override_the_profile),
	T(host_reader_parses_a_proc_root), T(hz_is_read_from_a_timeout),
	T(timeouts_are_whole_ticks),       T(syn_retries_follow_the_profile_schedule),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
