/* The table's plumbing: registry, stubs, instances, errno names, addresses, syscall table. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sd_test.h"

const char sd_unit_module[] = "core";

/* A minimal backend made of stubs, with a create that counts. */
static int creates, destroys;
static int toy_create(const struct sd_config *cfg, void **state)
{
	(void)cfg;
	creates++;
	*state = &creates;
	return 0;
}
static void toy_destroy(void *state)
{
	(void)state;
	destroys++;
}
static const struct sd_ops toy = {
	.version = SD_OPS_VERSION,
	.name = "toy",
	.create = toy_create,
	.destroy = toy_destroy,
	.socket = sd_no_socket,
	.bind = sd_no_bind,
	.listen = sd_no_listen,
	.accept = sd_no_accept,
	.connect = sd_no_connect,
	.send = sd_no_send,
	.recv = sd_no_recv,
	.sendmsg = sd_no_sendmsg,
	.recvmsg = sd_no_recvmsg,
	.shutdown = sd_no_shutdown,
	.close = sd_no_close,
	.setsockopt = sd_no_setsockopt,
	.getsockopt = sd_no_getsockopt,
	.getsockname = sd_no_getsockname,
	.getpeername = sd_no_getpeername,
	.poll = sd_no_poll,
	.set_nonblocking = sd_no_set_nonblocking,
	.spawn = sd_no_spawn,
	.join = sd_no_join,
	.sleep_ns = sd_no_sleep_ns,
	.now_ns = sd_no_now_ns,
	.epoll_create = sd_no_epoll_create,
	.epoll_ctl = sd_no_epoll_ctl,
	.epoll_wait = sd_no_epoll_wait,
	.wake = sd_no_wake,
	.note = sd_no_note,
	.dup = sd_no_dup,
	.dup3 = sd_no_dup3,
	.caps = sd_no_caps,
	.join_until = sd_no_join_until,
	.actor_name = sd_no_actor_name,
	.ioctl = sd_no_ioctl,
};

static void registry_finds_builtin(void **state)
{
	(void)state;
	assert_ptr_equal(sd_find("real"), &sd_real_ops);
	assert_null(sd_find("nope"));
	assert_null(sd_find(NULL));
	assert_ptr_equal(sd_backend_at(0), &sd_real_ops);
	struct sd_net net;
	assert_int_equal(sd_net_open(&net, "nope", NULL), -ENOENT);
	assert_null(net.ops);
	sd_net_close(&net); /* harmless on a failed open */
}

static void registry_validates(void **state)
{
	(void)state;
	struct sd_ops broken = toy;
	broken.recv = NULL;
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.join = NULL; /* a version-2 table needs its version-2 members */
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken.version = 1; /* ...which a version-1 table does not have */
	broken.name = "toy1";
	assert_int_equal(sd_register(&broken), 0);
	broken = toy;
	broken.version = 0;
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.note = NULL; /* a version-4 table needs its version-4 members */
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.dup = NULL; /* a version-5 table needs dup */
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.dup3 = NULL; /* a version-6 table needs dup3 */
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.join_until = NULL; /* a version-7 table needs caps, join_until, actor_name, ioctl */
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.caps = NULL;
	assert_int_equal(sd_register(&broken), -EINVAL);
	broken = toy;
	broken.ioctl = NULL;
	assert_int_equal(sd_register(&broken), -EINVAL);
	static struct sd_ops v6; /* registered: it must outlive the test */
	v6 = toy;
	v6.version = 6, v6.name = "toy6", v6.caps = NULL, v6.join_until = NULL,
	v6.actor_name = NULL, v6.ioctl = NULL;
	assert_int_equal(sd_register(&v6), 0);
	struct sd_net n6 = {&v6, NULL};
	assert_int_equal(sd_caps(&n6), 0); /* older tables: no capabilities, */
	assert_int_equal(sd_join_until(&n6, 1, 0), -EOPNOTSUPP); /* no join_until, */
	assert_string_equal(sd_actor_name(&n6), "main");         /* and one actor */
	int v = 7;
	assert_int_equal(sd_ioctl(&n6, 3, FIONREAD, &v), -EOPNOTSUPP); /* nor queue sizes */
	assert_int_equal(v, 7);
	static struct sd_ops v5; /* registered: it must outlive the test */
	v5 = toy;
	v5.version = 5, v5.name = "toy5", v5.dup3 = NULL;
	assert_int_equal(sd_register(&v5), 0);
	static struct sd_ops v4; /* registered: it must outlive the test */
	v4 = toy;
	v4.version = 4, v4.name = "toy4", v4.dup = NULL;
	assert_int_equal(sd_register(&v4), 0);
	static struct sd_ops v3; /* registered: it must outlive the test */
	v3 = toy;
	v3.version = 3, v3.name = "toy3", v3.wake = NULL, v3.note = NULL, v3.dup = NULL;
	assert_int_equal(sd_register(&v3), 0);
	broken = toy;
	broken.name = "real";
	assert_int_equal(sd_register(&broken), -EEXIST);
	assert_int_equal(sd_register(NULL), -EINVAL);
}

static void registered_backend_runs(void **state)
{
	(void)state;
	struct sd_net net;
	assert_int_equal(sd_register(&toy), 0);
	assert_int_equal(sd_register(&toy), -EEXIST);
	assert_ptr_equal(sd_find("toy"), &toy);
	assert_int_equal(sd_net_open(&net, "toy", NULL), 0);
	assert_int_equal(creates, 1);
	/* Every stub answers EOPNOTSUPP. */
	assert_int_equal(sd_socket(&net, AF_INET, SOCK_STREAM, 0), -EOPNOTSUPP);
	assert_int_equal(sd_send(&net, 3, "x", 1, 0), -EOPNOTSUPP);
	assert_int_equal(sd_poll(&net, NULL, 0, 0), -EOPNOTSUPP);
	assert_int_equal(sd_wake(&net, 3, POLLIN), -EOPNOTSUPP);
	assert_int_equal(sd_note(&net, "x"), -EOPNOTSUPP);
	sd_net_close(&net);
	sd_net_close(&net);
	assert_int_equal(destroys, 1);
}

/* Threads registering tables under one name at once: exactly one of them wins, every other
 * gets EEXIST, and the name finds the winner's table. A few rounds, each with a fresh name
 * (the registry has room for 32 tables and this test runs in its own process). */
enum { RACERS = 8, ROUNDS = 3 };
struct racer {
	struct sd_ops ops;
	pthread_barrier_t *start;
	int rc;
};
static void *race_register(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = sd_register(&r->ops);
	return NULL;
}

static void register_same_name_races(void **state)
{
	(void)state;
	static struct racer racers[ROUNDS][RACERS]; /* registered: they must outlive the test */
	static const char *const names[ROUNDS] = {"race0", "race1", "race2"};
	for (int round = 0; round < ROUNDS; round++) {
		pthread_barrier_t start;
		pthread_t th[RACERS];
		assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
		for (int i = 0; i < RACERS; i++) {
			struct racer *r = &racers[round][i];
			r->ops = toy;
			r->ops.name = names[round];
			r->start = &start;
			assert_int_equal(pthread_create(&th[i], NULL, race_register, r), 0);
		}
		int wins = 0, winner = -1;
		for (int i = 0; i < RACERS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			int rc = racers[round][i].rc;
			if (rc == 0)
				wins++, winner = i;
			else
				assert_int_equal(rc, -EEXIST);
		}
		pthread_barrier_destroy(&start);
		assert_int_equal(wins, 1);
		assert_ptr_equal(sd_find(names[round]), &racers[round][winner].ops);
	}
}

static void errno_names(void **state)
{
	(void)state;
	char buf[32];
	assert_string_equal(sd_errname(EADDRINUSE), "EADDRINUSE");
	assert_string_equal(sd_errname(-ECONNRESET), "ECONNRESET");
	assert_null(sd_errname(4000));
	assert_int_equal(sd_errno_by_name("EPIPE"), EPIPE);
	assert_int_equal(sd_errno_by_name("EWOULDBLOCK"), EAGAIN);
	assert_int_equal(sd_errno_by_name("ENOTANERROR"), 0);
	for (int e = 1; e < 200; e++) {
		const char *n = sd_errname(e);
		if (n)
			assert_int_equal(sd_errno_by_name(n), e);
	}
	assert_string_equal(sd_result_format(-EAGAIN, buf, sizeof buf), "-EAGAIN");
	assert_string_equal(sd_result_format(42, buf, sizeof buf), "42");
	assert_string_equal(sd_result_format(-4000, buf, sizeof buf), "-4000");
}

static void addresses(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[SD_ADDR_STRLEN];
	assert_int_equal(sd_addr_parse("127.0.0.1", 80, &ss, &len), 0);
	assert_string_equal(sd_addr_format((void *)&ss, len, buf, sizeof buf), "127.0.0.1:80");
	assert_int_equal(sd_addr_parse("[::1]:8080", 80, &ss, &len), 0);
	assert_string_equal(sd_addr_format((void *)&ss, len, buf, sizeof buf), "[::1]:8080");
	assert_int_equal(sd_addr_port((void *)&ss, len), 8080);
	assert_int_equal(sd_addr_parse("localhost:5", 0, &ss, &len), 0);
	assert_string_equal(sd_addr_format((void *)&ss, len, buf, sizeof buf), "127.0.0.1:5");
	assert_int_equal(sd_addr_parse("::", 1, &ss, &len), 0);
	assert_true(sd_addr_is_wildcard((void *)&ss, len));
	assert_false(sd_addr_is_loopback((void *)&ss, len));
	assert_int_equal(sd_addr_parse("::ffff:0.0.0.0", 1, &ss, &len), 0);
	assert_true(sd_addr_is_wildcard((void *)&ss, len));
	assert_int_equal(sd_addr_parse("::ffff:0.0.0.1", 1, &ss, &len), 0);
	assert_false(sd_addr_is_wildcard((void *)&ss, len));
	assert_int_equal(sd_addr_parse("127.9.8.7", 1, &ss, &len), 0);
	assert_true(sd_addr_is_loopback((void *)&ss, len));
	assert_int_equal(sd_addr_parse("::ffff:127.0.0.1", 1, &ss, &len), 0);
	assert_true(sd_addr_is_loopback((void *)&ss, len));
	assert_int_equal(sd_addr_parse("10.0.0.1", 1, &ss, &len), 0);
	assert_false(sd_addr_is_loopback((void *)&ss, len));
	assert_false(sd_addr_is_wildcard((void *)&ss, len));
	const char *bad[] = {"",       "1.2.3",    "127.0.0.1:",  "127.0.0.1:65536", "[::1",
			     "[::1]x", "[::1]:-1", "example.com", "1.2.3.4:80:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sd_addr_parse(bad[i], 0, &ss, &len), -EINVAL);
}

/* Replacing one libc call makes the real backend's error path observable. */
static int fail_socket(int d, int t, int p)
{
	(void)d, (void)t, (void)p;
	errno = EMFILE;
	return -1;
}

static void real_syscall_table(void **state)
{
	(void)state;
	struct sd_net net;
	struct sd_real_syscalls sys = sd_real_libc;
	assert_int_equal(sd_net_open(&net, "real", NULL), 0);
	sys.socket = fail_socket;
	assert_int_equal(sd_real_set_syscalls(&net, &sys), 0);
	assert_int_equal(sd_socket(&net, AF_INET, SOCK_STREAM, 0), -EMFILE);
	assert_int_equal(sd_real_set_syscalls(&net, NULL), 0);
	int fd = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sys.recv = NULL;
	assert_int_equal(sd_real_set_syscalls(&net, &sys), -EINVAL);
	struct sd_net toy_net = {.ops = &toy};
	assert_int_equal(sd_real_set_syscalls(&toy_net, &sd_real_libc), -EINVAL);
	assert_int_equal(sd_close(&net, fd), 0);
	sd_net_close(&net);
}

/* A descriptor made outside the instance becomes its own, and goes again unclosed. */
static void real_adopts_descriptors(void **state)
{
	(void)state;
	struct sd_net net, sim;
	int type = 0;
	socklen_t len = sizeof type;
	assert_int_equal(sd_net_open(&net, "real", NULL), 0);
	assert_int_equal(sd_net_open(&sim, "sim", NULL), 0);
	int fd = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	int copy = dup(fd);
	assert_true(copy >= 0);
	assert_int_equal(sd_getsockopt(&net, copy, SOL_SOCKET, SO_TYPE, &type, &len), -EBADF);
	assert_int_equal(sd_real_adopt(&net, copy, 1), 0);
	assert_int_equal(sd_getsockopt(&net, copy, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	assert_int_equal(type, SOCK_STREAM);
	assert_int_equal(sd_real_adopt(&net, copy, 0), 0);
	assert_int_equal(sd_getsockopt(&net, copy, SOL_SOCKET, SO_TYPE, &type, &len), -EBADF);
	assert_true(fcntl(copy, F_GETFD) >= 0); /* let go, not closed */
	assert_int_equal(sd_real_adopt(&net, -1, 1), -EBADF);
	assert_int_equal(sd_real_adopt(&sim, copy, 1), -EINVAL);
	close(copy);
	sd_net_close(&sim);
	sd_net_close(&net);
}

static void real_rejects_bad_options(void **state)
{
	(void)state;
	struct sd_net net;
	struct sd_config cfg = {.options = "frobnicate=1"};
	assert_int_equal(sd_net_open(&net, "real", &cfg), -EINVAL);
	cfg.options = "allow-nonloopback";
	assert_int_equal(sd_net_open(&net, "real", &cfg), 0);
	sd_net_close(&net);
}

/* The one-role probe's calls: sockets counted (each must be closed again), and listen or
 * connect answering as a chosen kernel would. */
static int probe_open, forced_errno;
static int counted_socket(int d, int t, int p)
{
	int fd = socket(d, t, p);
	probe_open += fd >= 0;
	return fd;
}
static int counted_close(int fd)
{
	probe_open--;
	return close(fd);
}
static int forced_listen(int fd, int backlog)
{
	(void)fd, (void)backlog;
	errno = forced_errno;
	return forced_errno ? -1 : 0;
}
static int forced_connect(int fd, const struct sockaddr *a, socklen_t len)
{
	(void)fd, (void)a, (void)len;
	errno = forced_errno;
	return forced_errno ? -1 : 0;
}

static int probe_with(int (*listen_fn)(int, int),
		      int (*connect_fn)(int, const struct sockaddr *, socklen_t), int err)
{
	struct sd_real_syscalls sys = sd_real_libc;
	sys.socket = counted_socket, sys.close = counted_close;
	sys.listen = listen_fn, sys.connect = connect_fn;
	forced_errno = err, probe_open = 0;
	int rc = sd_real_probe_one_role(&sys);
	assert_int_equal(probe_open, 0);
	return rc;
}

/* The probe reads the variant from listen() after a refused connect: EINVAL is the one-role
 * kernel, success mainline, anything else (or a connect that was not refused) no answer. */
static void one_role_probe_reads_the_kernel(void **state)
{
	(void)state;
	assert_int_equal(probe_with(forced_listen, sd_real_libc.connect, EINVAL), 1);
	assert_int_equal(probe_with(forced_listen, sd_real_libc.connect, 0), 0);
	assert_int_equal(probe_with(forced_listen, sd_real_libc.connect, EADDRINUSE), -EADDRINUSE);
	assert_int_equal(probe_with(sd_real_libc.listen, forced_connect, 0), -EPROTO);
	assert_int_equal(probe_with(sd_real_libc.listen, forced_connect, EINPROGRESS), -ETIMEDOUT);
	assert_int_equal(probe_with(sd_real_libc.listen, forced_connect, ENETUNREACH),
			 -ENETUNREACH);
	struct sd_real_syscalls sys = sd_real_libc;
	sys.socket = fail_socket;
	assert_int_equal(sd_real_probe_one_role(&sys), -EMFILE);
	/* This host's answer, remembered, is the probe's through libc. */
	int host = sd_real_host_one_role();
	assert_true(host == 0 || host == 1);
	assert_int_equal(sd_real_probe_one_role(NULL), host);
	assert_int_equal(sd_real_probe_one_role(&sd_real_libc), host);
	assert_int_equal(sd_real_host_one_role(), host);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(registry_finds_builtin),
	T(registry_validates),
	T(registered_backend_runs),
	T(register_same_name_races),
	T(errno_names),
	T(addresses),
	T(real_syscall_table),
	T(real_rejects_bad_options),
	T(real_adopts_descriptors),
	T(one_role_probe_reads_the_kernel),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
