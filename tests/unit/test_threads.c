/* Tests of harness/libc/ (threads, sync, clock, proc): small servers written against plain
 * libc and pthread calls, run as actors of a sim through the in-process layer. */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "inproc.h"
#include "libc/proc.h"
#include "libc/threads.h"
#include "sd_test.h"

#define PORT 7400
#define NS   1000000000LL

/* Checks made inside actors (a cmocka assert would longjmp off a coroutine's stack): the
 * first failing line is kept and asserted on by the test's main. */
static int fail_line;
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c) && !fail_line) {                                                          \
			fail_line = __LINE__;                                                      \
			fprintf(stderr, "CHECK failed at line %d: %s\n", __LINE__, #c);            \
		}                                                                                  \
	} while (0)

/* ---- a run: a sim, attached, with clients that speak through sd_ops ------------------ */

/* sim: what the run's calls go to, the sim itself (backend) or a trace wrapper over it */
static struct sd_net backend, sim;

static void run_open_traced(uint64_t seed, int traced)
{
	struct sd_config cfg = {.seed = seed};
	assert_int_equal(sd_net_open(&backend, "sim", &cfg), 0);
	sim = backend;
	if (traced) /* hashed only */
		assert_int_equal(sd_trace_wrap(&sim, &backend, NULL), 0);
	sd_inproc_attach(&sim);
	fail_line = 0;
}

static void run_open(uint64_t seed) { run_open_traced(seed, 0); }

static void run_close(void)
{
	sd_inproc_attach(NULL);
	if (sim.ops != backend.ops)
		sd_net_close(&sim);
	sd_net_close(&backend);
	sd__threads_reset();
	sd__proc_reset();
}

struct client {
	const char *msg; /* NULL: sends nothing, only reads */
	char got[128];
	size_t gotlen;
	int err;
};

static void client_actor(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = sd_socket(&sim, AF_INET, SOCK_STREAM, 0);
	if ((c->err = sd_connect(&sim, fd, (struct sockaddr *)&a, sizeof a)) == 0) {
		if (c->msg) {
			sd_send(&sim, fd, c->msg, strlen(c->msg), MSG_NOSIGNAL);
			sd_shutdown(&sim, fd, SHUT_WR);
		}
		ssize_t k = 0;
		while (c->gotlen < sizeof c->got - 1 &&
		       (k = sd_recv(&sim, fd, c->got + c->gotlen, sizeof c->got - 1 - c->gotlen,
				    0)) > 0)
			c->gotlen += (size_t)k;
		if (k < 0)
			c->err = (int)k;
	}
	sd_close(&sim, fd);
}

/* Starts the server, lets it reach accept, runs the clients to their end, then waits for
 * the server; returns what joining it gave. */
static int run_server(void (*serve)(void *), void *arg, struct client *cl, int n)
{
	int sid = sd_spawn(&sim, "server", serve, arg);
	assert_true(sid > 0);
	sd_sleep_ns(&sim, 1000000);
	int ids[8];
	for (int i = 0; i < n; i++)
		assert_true((ids[i] = sd_spawn(&sim, "client", client_actor, &cl[i])) > 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(sd_join(&sim, ids[i]), 0);
	return sd_join(&sim, sid);
}

static int listen_on(int port)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 16) == 0);
	return l;
}

static size_t read_all(int c, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n < cap - 1 && (k = recv(c, buf + n, cap - 1 - n, 0)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	return n;
}

/* ---- a thread per connection, a counter under a mutex, a condition variable -------- */

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t count_cond = PTHREAD_COND_INITIALIZER;
static int served, inside, overlaps;
static char order[16]; /* first byte of each request, in the order the counter saw them */

static void *per_connection(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[64], reply[96];
	size_t n = read_all(c, buf, sizeof buf);
	pthread_mutex_lock(&count_lock);
	overlaps += inside; /* another thread in here: the mutex let two in */
	inside = 1;
	int mine = ++served;
	order[mine - 1] = n ? buf[0] : '?';
	usleep(100); /* every other actor gets to run meanwhile */
	inside = 0;
	pthread_cond_broadcast(&count_cond);
	pthread_mutex_unlock(&count_lock);
	int len = snprintf(reply, sizeof reply, "%d:%s", mine, buf);
	send(c, reply, (size_t)len, 0);
	close(c);
	return NULL;
}

static void tpc_server(void *arg)
{
	int want = *(int *)arg;
	int l = listen_on(PORT);
	for (int i = 0; i < want; i++) {
		int c = accept(l, NULL, NULL);
		CHECK(c >= 0);
		pthread_t t;
		CHECK(pthread_create(&t, NULL, per_connection, (void *)(intptr_t)c) == 0);
		CHECK(pthread_detach(t) == 0);
	}
	pthread_mutex_lock(&count_lock);
	while (served < want)
		pthread_cond_wait(&count_cond, &count_lock);
	pthread_mutex_unlock(&count_lock);
	close(l);
}

/* Runs the server with four clients; returns the trace hash, fills order. */
static uint64_t tpc_run(uint64_t seed)
{
	static const char *const msgs[] = {"alpha", "bravo", "charlie", "delta"};
	struct client cl[4];
	memset(cl, 0, sizeof cl);
	for (int i = 0; i < 4; i++)
		cl[i].msg = msgs[i];
	served = inside = overlaps = 0;
	memset(order, 0, sizeof order);
	run_open_traced(seed, 1);
	int want = 4;
	assert_int_equal(run_server(tpc_server, &want, cl, 4), 0);
	uint64_t hash = sd_trace_hash(&sim);
	run_close();
	assert_int_equal(fail_line, 0);
	assert_int_equal(served, 4);
	assert_int_equal(overlaps, 0);
	int seen = 0;
	for (int i = 0; i < 4; i++) { /* "k:msg", each k once */
		int k = 0;
		char rest[64];
		assert_int_equal(cl[i].err, 0);
		assert_int_equal(sscanf(cl[i].got, "%d:%63s", &k, rest), 2);
		assert_string_equal(rest, msgs[i]);
		assert_true(k >= 1 && k <= 4 && !(seen & 1 << k));
		seen |= 1 << k;
	}
	return hash;
}

static void thread_per_connection_counter(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 6; seed++)
		tpc_run(seed);
}

/* Same seed, same trace and the same interleaving; other seeds, other interleavings. */
static void same_seed_same_interleaving(void **state)
{
	(void)state;
	uint64_t h = tpc_run(42);
	char first[16];
	memcpy(first, order, sizeof first);
	assert_int_equal(tpc_run(42), h);
	assert_memory_equal(order, first, sizeof first);
	int other = 0;
	for (uint64_t seed = 1; seed <= 16; seed++) {
		tpc_run(seed);
		other += memcmp(order, first, sizeof first) != 0;
	}
	assert_true(other > 0);
}

/* ---- a worker pool fed through a semaphore ------------------------------------------- */

#define WORKERS 3
static sem_t jobs;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static int queue[16], qhead, qtail;

static void *worker(void *arg)
{
	intptr_t handled = 0;
	for (;;) {
		CHECK(sem_wait(&jobs) == 0);
		pthread_mutex_lock(&queue_lock);
		int c = queue[qhead++ % 16];
		pthread_mutex_unlock(&queue_lock);
		if (c < 0)
			break;
		char buf[64], reply[96];
		read_all(c, buf, sizeof buf);
		int len = snprintf(reply, sizeof reply, "w%d:%s", (int)(intptr_t)arg, buf);
		send(c, reply, (size_t)len, 0);
		close(c);
		handled++;
	}
	return (void *)handled;
}

static void push(int c)
{
	pthread_mutex_lock(&queue_lock);
	queue[qtail++ % 16] = c;
	pthread_mutex_unlock(&queue_lock);
	CHECK(sem_post(&jobs) == 0);
}

static void pool_server(void *arg)
{
	int want = *(int *)arg;
	CHECK(sem_init(&jobs, 0, 0) == 0);
	CHECK(sem_trywait(&jobs) == -1 && errno == EAGAIN);
	pthread_t w[WORKERS];
	for (intptr_t i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&w[i], NULL, worker, (void *)i) == 0);
	int l = listen_on(PORT);
	for (int i = 0; i < want; i++)
		push(accept(l, NULL, NULL));
	for (int i = 0; i < WORKERS; i++)
		push(-1);
	intptr_t total = 0;
	for (int i = 0; i < WORKERS; i++) {
		void *r;
		CHECK(pthread_join(w[i], &r) == 0);
		total += (intptr_t)r;
	}
	CHECK(total == want);
	int v = -1;
	CHECK(sem_getvalue(&jobs, &v) == 0 && v == 0);
	sem_destroy(&jobs);
	close(l);
}

static void worker_pool_semaphore(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct client cl[4] = {
			{.msg = "one"}, {.msg = "two"}, {.msg = "three"}, {.msg = "four"}};
		qhead = qtail = 0;
		run_open(seed);
		int want = 4;
		assert_int_equal(run_server(pool_server, &want, cl, 4), 0);
		run_close();
		assert_int_equal(fail_line, 0);
		for (int i = 0; i < 4; i++) {
			int w = -1;
			char rest[64];
			assert_int_equal(sscanf(cl[i].got, "w%d:%63s", &w, rest), 2);
			assert_true(w >= 0 && w < WORKERS);
			assert_string_equal(rest, cl[i].msg);
		}
	}
}

/* ---- a lock-order cycle ------------------------------------------------------------ */

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER, lock_b = PTHREAD_MUTEX_INITIALIZER;

static void *a_then_b(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_a);
	usleep(1000);
	pthread_mutex_lock(&lock_b);
	return NULL;
}

static void *b_then_a(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_b);
	usleep(1000);
	pthread_mutex_lock(&lock_a);
	return NULL;
}

static void cycle_server(void *arg)
{
	(void)arg;
	pthread_t t1, t2;
	pthread_create(&t1, NULL, a_then_b, NULL); /* actor 2 */
	pthread_create(&t2, NULL, b_then_a, NULL); /* actor 3 */
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
}

static void lock_cycle_is_a_deadlock_report(void **state)
{
	(void)state;
	run_open(7);
	int sid = sd_spawn(&sim, "server", cycle_server, NULL);
	assert_int_equal(sd_join(&sim, sid), -EDEADLK);
	const char *r = sd_sim_deadlock_report(&sim);
	assert_non_null(r);
	char want[4][96];
	snprintf(want[0], sizeof want[0], "thread (actor 2) waits in mutex %p held by actor 3",
		 (void *)&lock_b);
	snprintf(want[1], sizeof want[1], "thread (actor 3) waits in mutex %p held by actor 2",
		 (void *)&lock_a);
	snprintf(want[2], sizeof want[2], "server (actor 1) waits in join of actor 2");
	snprintf(want[3], sizeof want[3], "main (actor 0) waits in join(server)");
	for (int i = 0; i < 4; i++)
		if (!strstr(r, want[i]))
			fail_msg("report lacks \"%s\": %s", want[i], r);
	run_close();
}

/* ---- cancellation ------------------------------------------------------------------- */

static int cleanups, after_recv, canceled;

static void close_it(void *arg)
{
	cleanups++;
	close(*(int *)arg);
}

static void *reader(void *arg)
{
	int c = (int)(intptr_t)arg;
	pthread_cleanup_push(close_it, &c);
	char b[16];
	recv(c, b, sizeof b, 0); /* the client sends nothing: blocks until cancelled */
	after_recv = 1;
	pthread_cleanup_pop(0);
	return NULL;
}

static void cancel_server(void *arg)
{
	(void)arg;
	int l = listen_on(PORT);
	int c = accept(l, NULL, NULL);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, reader, (void *)(intptr_t)c) == 0);
	usleep(1000); /* it blocks in recv */
	CHECK(pthread_cancel(t) == 0);
	void *r = NULL;
	CHECK(pthread_join(t, &r) == 0);
	canceled = r == PTHREAD_CANCELED;
	close(l);
}

/* pthread_cancel of a thread blocked in recv: the recv ends, the cleanup handler runs (and
 * closes the connection, which the client sees as the end of the stream). */
static void cancel_at_socket_call_runs_cleanup(void **state)
{
	(void)state;
	cleanups = after_recv = canceled = 0;
	run_open(3);
	struct client cl = {.msg = NULL};
	assert_int_equal(run_server(cancel_server, NULL, &cl, 1), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	assert_int_equal(cleanups, 1);
	assert_int_equal(after_recv, 0);
	assert_true(canceled);
	assert_int_equal(cl.err, 0);
	assert_int_equal(cl.gotlen, 0);
}

static pthread_mutex_t cw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cw_cond = PTHREAD_COND_INITIALIZER;
static int cw_held_in_cleanup, marker;

static void unlock_it(void *arg)
{
	/* POSIX: a cancelled condition wait takes the mutex back before the handlers run */
	cw_held_in_cleanup = pthread_mutex_trylock(arg) == EBUSY;
	pthread_mutex_unlock(arg);
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cw_lock);
	pthread_cleanup_push(unlock_it, &cw_lock);
	for (;;)
		pthread_cond_wait(&cw_cond, &cw_lock);
	pthread_cleanup_pop(1);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	int old;
	CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) == 0);
	CHECK(old == PTHREAD_CANCEL_ENABLE);
	sleep(5); /* cancelled meanwhile, but cancellation is off: it sleeps on */
	marker = 1;
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	pthread_testcancel();
	marker = 2;
	return NULL;
}

static int64_t now_s(void) { return sd_now_ns(&sim) / NS; }

static void cancel_points_server(void *arg)
{
	(void)arg;
	pthread_t t;
	void *r;
	CHECK(pthread_create(&t, NULL, cond_waiter, NULL) == 0);
	usleep(1000);
	CHECK(pthread_cancel(t) == 0);
	CHECK(pthread_join(t, &r) == 0 && r == PTHREAD_CANCELED);
	CHECK(pthread_mutex_trylock(&cw_lock) == 0); /* the handler gave it back */
	pthread_mutex_unlock(&cw_lock);

	CHECK(pthread_create(&t, NULL, sleeper, NULL) == 0);
	usleep(1000);
	CHECK(pthread_cancel(t) == 0);
	CHECK(pthread_join(t, &r) == 0 && r == PTHREAD_CANCELED);
	CHECK(marker == 1);
	CHECK(now_s() == 5); /* the disabled sleep ran its course; nothing else waited */
}

static void cancel_at_cond_wait_and_when_enabled(void **state)
{
	(void)state;
	cw_held_in_cleanup = marker = 0;
	run_open(5);
	int sid = sd_spawn(&sim, "server", cancel_points_server, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	assert_true(cw_held_in_cleanup);
}

/* Every socket call POSIX makes a cancellation point, on a simulated socket: a cancel pending
 * when it starts acts there (run 1, non-blocking descriptors: no call waits), and one that
 * comes while it waits ends it (run 2, each call blocked). connect only in run 1: on the sim
 * a connect to a listener never waits for an actor. */
enum cp_call {
	CP_ACCEPT,
	CP_CONNECT,
	CP_READ,
	CP_READV,
	CP_RECV,
	CP_RECVFROM,
	CP_RECVMSG,
	CP_RECVMMSG,
	CP_WRITE,
	CP_WRITEV,
	CP_SEND,
	CP_SENDTO,
	CP_SENDMSG,
	CP_SENDMMSG,
	CP_SENDFILE,
	CP_POLL,
	CP_PPOLL,
	CP_SELECT,
	CP_PSELECT,
	CP_N
};
static const char *const cp_names[CP_N] = {
	"accept",   "connect", "read",   "readv",  "recv",   "recvfrom", "recvmsg",
	"recvmmsg", "write",   "writev", "send",   "sendto", "sendmsg",  "sendmmsg",
	"sendfile", "poll",    "ppoll",  "select", "pselect"};
static struct {
	int blocking;  /* run 2 */
	int l, rd, wr; /* a listener; a connection nobody sends to; one nobody reads */
	int file;      /* a memfd with a byte in it, for sendfile */
	int returned[CP_N], canceled[CP_N], cleanups[CP_N];
} cp;

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void cp_call(enum cp_call which)
{
	char b[64] = "x";
	struct iovec v = {b, sizeof b};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	struct mmsghdr mm = {.msg_hdr = m};
	struct pollfd p = {.fd = cp.rd, .events = POLLIN};
	struct timespec zero = {0, 0};
	struct timeval tzero = {0, 0};
	struct sockaddr_in a = loopback(PORT);
	off_t off = 0;
	fd_set set;
	FD_ZERO(&set);
	FD_SET(cp.rd, &set);
	int w = cp.blocking, s;
	switch (which) {
	case CP_ACCEPT: accept(cp.l, NULL, NULL); break;
	case CP_CONNECT:
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(s, (struct sockaddr *)&a, sizeof a);
		close(s);
		break;
	case CP_READ: (void)!read(cp.rd, b, sizeof b); break;
	case CP_READV: readv(cp.rd, &v, 1); break;
	case CP_RECV: recv(cp.rd, b, sizeof b, 0); break;
	case CP_RECVFROM: recvfrom(cp.rd, b, sizeof b, 0, NULL, NULL); break;
	case CP_RECVMSG: recvmsg(cp.rd, &m, 0); break;
	case CP_RECVMMSG: recvmmsg(cp.rd, &mm, 1, 0, NULL); break;
	case CP_WRITE: (void)!write(cp.wr, b, 1); break;
	case CP_WRITEV: v.iov_len = 1, writev(cp.wr, &v, 1); break;
	case CP_SEND: send(cp.wr, b, 1, 0); break;
	case CP_SENDTO: sendto(cp.wr, b, 1, 0, NULL, 0); break;
	case CP_SENDMSG: v.iov_len = 1, sendmsg(cp.wr, &m, 0); break;
	case CP_SENDMMSG: v.iov_len = 1, mm.msg_hdr = m, sendmmsg(cp.wr, &mm, 1, 0); break;
	case CP_SENDFILE: sendfile(cp.wr, cp.file, &off, 1); break;
	case CP_POLL: poll(&p, 1, w ? -1 : 0); break;
	case CP_PPOLL: ppoll(&p, 1, w ? NULL : &zero, NULL); break;
	case CP_SELECT: select(cp.rd + 1, &set, NULL, NULL, w ? NULL : &tzero); break;
	case CP_PSELECT: pselect(cp.rd + 1, &set, NULL, NULL, w ? NULL : &zero, NULL); break;
	case CP_N: break;
	}
}

static void cp_cleanup(void *arg) { cp.cleanups[(intptr_t)arg]++; }

static void *cp_thread(void *arg)
{
	enum cp_call which = (enum cp_call)(intptr_t)arg;
	pthread_cleanup_push(cp_cleanup, arg);
	if (!cp.blocking) { /* pending, acted on by no call before the one tested */
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL) == 0);
		CHECK(pthread_cancel(pthread_self()) == 0);
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL) == 0);
	}
	cp_call(which);
	cp.returned[which] = 1;
	pthread_cleanup_pop(0);
	return NULL;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl >= 0 && fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) == 0);
}

static void cp_server(void *arg)
{
	(void)arg;
	struct sockaddr_in a = loopback(PORT);
	cp.l = listen_on(PORT);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0);
	cp.rd = accept(cp.l, NULL, NULL);
	cp.wr = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(cp.wr, (struct sockaddr *)&a, sizeof a) == 0);
	int peer = accept(cp.l, NULL, NULL);
	CHECK(cp.rd >= 0 && peer >= 0);
	cp.file = memfd_create("cp", 0);
	CHECK(cp.file >= 0 && write(cp.file, "y", 1) == 1);
	if (cp.blocking) { /* fill wr's way: its writes wait */
		char b[4096] = {0};
		set_nonblock(cp.wr, 1);
		for (int i = 0; i < 100000 && send(cp.wr, b, sizeof b, 0) > 0; i++)
			;
		CHECK(errno == EAGAIN);
		set_nonblock(cp.wr, 0);
	} else {
		set_nonblock(cp.l, 1), set_nonblock(cp.rd, 1), set_nonblock(cp.wr, 1);
	}
	for (int i = 0; i < CP_N; i++) {
		if (cp.blocking && i == CP_CONNECT)
			continue;
		pthread_t t;
		void *r = NULL;
		CHECK(pthread_create(&t, NULL, cp_thread, (void *)(intptr_t)i) == 0);
		if (cp.blocking) {
			usleep(1000); /* it waits in the call */
			CHECK(pthread_cancel(t) == 0);
		}
		CHECK(pthread_join(t, &r) == 0);
		cp.canceled[i] = r == PTHREAD_CANCELED;
	}
	close(cp.file), close(peer), close(s), close(cp.wr), close(cp.rd), close(cp.l);
}

static void cp_run(int blocking)
{
	memset(&cp, 0, sizeof cp);
	cp.blocking = blocking;
	run_open(11);
	int sid = sd_spawn(&sim, "server", cp_server, NULL);
	assert_true(sid > 0);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	int wrong = 0;
	for (int i = 0; i < CP_N; i++) {
		if ((blocking && i == CP_CONNECT) ||
		    (cp.canceled[i] && !cp.returned[i] && cp.cleanups[i] == 1))
			continue;
		print_message("%s (%s): canceled %d, returned %d, cleanups %d\n", cp_names[i],
			      blocking ? "cancelled while it waits" : "cancel pending at its start",
			      cp.canceled[i], cp.returned[i], cp.cleanups[i]);
		wrong++;
	}
	assert_int_equal(wrong, 0);
}

static void cancel_pending_acts_at_each_socket_call(void **state)
{
	(void)state;
	cp_run(0);
}

static void cancel_ends_each_waiting_socket_call(void **state)
{
	(void)state;
	cp_run(1);
}

/* ---- virtual time ---------------------------------------------------------------------- */

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond_outside; /* made before the run, on CLOCK_MONOTONIC */
static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * NS + t.tv_nsec; }

static void idle_timers(void *arg)
{
	(void)arg;
	struct timespec a, b, abs;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
	CHECK(ts_ns(a) == SD_VCLOCK_MONO_BASE_S * NS + sd_now_ns(&sim));
	sleep(30);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
	CHECK(ts_ns(b) - ts_ns(a) == 30 * NS);

	/* a condition variable's default clock is CLOCK_REALTIME */
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	CHECK(clock_gettime(CLOCK_REALTIME, &abs) == 0);
	CHECK(abs.tv_sec == SD_VCLOCK_REAL_BASE_S + now_s());
	abs.tv_sec += 30;
	pthread_mutex_lock(&idle_lock);
	CHECK(pthread_cond_timedwait(&c, &idle_lock, &abs) == ETIMEDOUT);
	pthread_mutex_unlock(&idle_lock);
	CHECK(time(NULL) == SD_VCLOCK_REAL_BASE_S + 60);
	struct timeval tv;
	CHECK(gettimeofday(&tv, NULL) == 0 && tv.tv_sec == SD_VCLOCK_REAL_BASE_S + 60);

	/* one set to CLOCK_MONOTONIC before the run keeps that clock */
	CHECK(clock_gettime(CLOCK_MONOTONIC, &abs) == 0);
	abs.tv_sec += 30;
	pthread_mutex_lock(&idle_lock);
	CHECK(pthread_cond_timedwait(&idle_cond_outside, &idle_lock, &abs) == ETIMEDOUT);
	pthread_mutex_unlock(&idle_lock);
	CHECK(now_s() == 90);

	struct timespec rel = {.tv_sec = 10};
	CHECK(nanosleep(&rel, NULL) == 0);
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL) == 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &abs) == 0);
	abs.tv_sec += 10;
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == 0);
	CHECK(usleep(500000) == 0);
	CHECK(sd_now_ns(&sim) == 120 * NS + NS / 2);
}

/* A server's 30 s idle timers (sleep, condition waits, clock reads) run on the sim's clock:
 * they fire as soon as every actor waits, at exactly the virtual time asked. */
static void idle_timer_fires_in_virtual_time(void **state)
{
	(void)state;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&idle_cond_outside, &ca);
	run_open(1);
	int sid = sd_spawn(&sim, "server", idle_timers, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	struct sd_sim_stats st;
	sd_sim_stats(&sim, &st);
	assert_int_equal(st.now_ns, 120 * NS + NS / 2);
	run_close();
	assert_int_equal(fail_line, 0);
	pthread_cond_destroy(&idle_cond_outside);
}

/* Outside a run, and for code of the run that is not an actor (main), clocks are real. */
static void clocks_are_real_outside_actors(void **state)
{
	(void)state;
	struct timespec before, ours, after;
	run_open(1);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &before);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ours), 0);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &after);
	assert_true(ts_ns(before) <= ts_ns(ours) && ts_ns(ours) <= ts_ns(after));
	run_close();
}

/* A signal handler that runs on an actor's stack (libFuzzer's timeout alarm) reads the
 * real clock: it compares it with the wall clock it read before the run. */
static struct timespec in_handler, raw_before, raw_after;

static void on_alarm(int sig)
{
	(void)sig;
	clock_gettime(CLOCK_REALTIME, &in_handler);
}

static void raising(void *arg)
{
	(void)arg;
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	CHECK(t.tv_sec == SD_VCLOCK_REAL_BASE_S);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &raw_before);
	raise(SIGALRM);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &raw_after);
	clock_gettime(CLOCK_REALTIME, &t);
	CHECK(t.tv_sec == SD_VCLOCK_REAL_BASE_S); /* after the handler: virtual again */
}

static void signal_handler_reads_the_real_clock(void **state)
{
	(void)state;
	struct sigaction sa = {.sa_handler = on_alarm}, old;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	run_open(1);
	int sid = sd_spawn(&sim, "server", raising, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	sigaction(SIGALRM, &old, NULL);
	assert_int_equal(fail_line, 0);
	assert_true(ts_ns(raw_before) <= ts_ns(in_handler) &&
		    ts_ns(in_handler) <= ts_ns(raw_after));
}

/* ---- the primitives, one by one ------------------------------------------------------- */

static pthread_mutex_t rec_static = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t err_lock, plain_lock = PTHREAD_MUTEX_INITIALIZER;

static void *try_others(void *arg)
{
	(void)arg;
	CHECK(pthread_mutex_trylock(&rec_static) == EBUSY);
	CHECK(pthread_mutex_unlock(&err_lock) == EPERM);
	CHECK(pthread_mutex_trylock(&plain_lock) == EBUSY);
	struct timespec abs;
	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_sec += 2;
	int64_t t0 = sd_now_ns(&sim);
	CHECK(pthread_mutex_timedlock(&plain_lock, &abs) == ETIMEDOUT);
	CHECK(sd_now_ns(&sim) - t0 == 2 * NS);
	return NULL;
}

static void mutex_server(void *arg)
{
	(void)arg;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	CHECK(pthread_mutex_init(&err_lock, &a) == 0);
	CHECK(pthread_mutex_lock(&rec_static) == 0);
	CHECK(pthread_mutex_lock(&rec_static) == 0); /* recursive, from its initialiser */
	CHECK(pthread_mutex_lock(&err_lock) == 0);
	CHECK(pthread_mutex_lock(&err_lock) == EDEADLK);
	CHECK(pthread_mutex_lock(&plain_lock) == 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, try_others, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(pthread_mutex_destroy(&err_lock) == EBUSY);
	CHECK(pthread_mutex_unlock(&err_lock) == 0);
	CHECK(pthread_mutex_destroy(&err_lock) == 0);
	CHECK(pthread_mutex_unlock(&rec_static) == 0);
	CHECK(pthread_mutex_trylock(&rec_static) == 0); /* still its own: depth 1 again */
	CHECK(pthread_mutex_unlock(&rec_static) == 0);
	CHECK(pthread_mutex_unlock(&rec_static) == 0);
	CHECK(pthread_mutex_unlock(&rec_static) == EPERM);
	CHECK(pthread_mutex_unlock(&plain_lock) == 0);
}

static void mutex_types(void **state)
{
	(void)state;
	run_open(2);
	int sid = sd_spawn(&sim, "server", mutex_server, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	/* the run's state is gone: the C library's own mutexes work as before */
	assert_int_equal(pthread_mutex_lock(&plain_lock), 0);
	assert_int_equal(pthread_mutex_unlock(&plain_lock), 0);
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int readers_in, max_readers, writer_saw;

static void *rw_reader(void *arg)
{
	(void)arg;
	CHECK(pthread_rwlock_rdlock(&rw) == 0);
	readers_in++;
	if (readers_in > max_readers)
		max_readers = readers_in;
	usleep(1000);
	readers_in--;
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	return NULL;
}

static void *rw_writer(void *arg)
{
	(void)arg;
	usleep(10); /* the readers are in */
	CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY);
	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	writer_saw = readers_in;
	CHECK(pthread_rwlock_wrlock(&rw) == EDEADLK);
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	return NULL;
}

static void rw_server(void *arg)
{
	(void)arg;
	pthread_t t[3];
	pthread_create(&t[0], NULL, rw_reader, NULL);
	pthread_create(&t[1], NULL, rw_reader, NULL);
	pthread_create(&t[2], NULL, rw_writer, NULL);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

static void rwlock_readers_share_writer_waits(void **state)
{
	(void)state;
	readers_in = max_readers = 0;
	writer_saw = -1;
	run_open(4);
	int sid = sd_spawn(&sim, "server", rw_server, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	assert_int_equal(max_readers, 2);
	assert_int_equal(writer_saw, 0);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int inits;
static pthread_key_t key;
static int dtor_sum;

static void init_once(void)
{
	usleep(1000); /* the others arrive while it runs */
	inits++;
}

static void dtor(void *v) { dtor_sum += (int)(intptr_t)v; }

static void *once_and_tsd(void *arg)
{
	CHECK(pthread_once(&once, init_once) == 0);
	CHECK(inits == 1);
	CHECK(pthread_getspecific(key) == NULL);
	CHECK(pthread_setspecific(key, arg) == 0);
	usleep(100);
	CHECK(pthread_getspecific(key) == arg); /* its own, whatever the others set */
	if (arg == (void *)3)
		pthread_exit((void *)33);
	return arg;
}

static void once_tsd_server(void *arg)
{
	(void)arg;
	CHECK(pthread_key_create(&key, dtor) == 0);
	pthread_t t[3];
	for (intptr_t i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, once_and_tsd, (void *)(i + 1)) == 0);
	void *r;
	CHECK(pthread_tryjoin_np(t[0], &r) == EBUSY);
	CHECK(pthread_join(t[0], &r) == 0 && r == (void *)1);
	CHECK(pthread_join(t[0], &r) == ESRCH);
	CHECK(pthread_join(t[1], &r) == 0 && r == (void *)2);
	CHECK(pthread_join(t[2], &r) == 0 && r == (void *)33);
	CHECK(pthread_join(pthread_self(), &r) == EDEADLK);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	CHECK(pthread_create(&t[0], &a, once_and_tsd, (void *)4) == 0);
	CHECK(pthread_join(t[0], &r) == EINVAL);
	CHECK(!pthread_equal(t[0], pthread_self()));
	usleep(1000);
	CHECK(pthread_key_delete(key) == 0);
}

/* pthread_once runs its routine once while others wait; keys hold a value per thread and
 * destructors run at thread exit; join gives the return or pthread_exit value. */
static void once_keys_join_detach(void **state)
{
	(void)state;
	once = PTHREAD_ONCE_INIT;
	inits = dtor_sum = 0;
	run_open(9);
	int sid = sd_spawn(&sim, "server", once_tsd_server, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	assert_int_equal(inits, 1);
	assert_int_equal(dtor_sum, 1 + 2 + 3 + 4);
	assert_int_equal(once, 2); /* done, as glibc marks it */
}

static int errno_seen[2];
static pthread_barrier_t barrier; /* made before the run, for three */
static int serials;

static void *at_barrier(void *arg)
{
	(void)arg;
	int rc = pthread_barrier_wait(&barrier);
	CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
	serials += rc == PTHREAD_BARRIER_SERIAL_THREAD;
	return NULL;
}

static void *errno_keeper(void *arg)
{
	int mine = (int)(intptr_t)arg;
	errno = mine;
	usleep(1000); /* the other sets its own meanwhile */
	errno_seen[mine - 100] = errno;
	return NULL;
}

static void misc_server(void *arg)
{
	(void)arg;
	/* an actor's signal mask is its own, not the OS thread's */
	sigset_t set, old, real;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	CHECK(sigprocmask(SIG_BLOCK, NULL, &old) == 0 && sigismember(&old, SIGUSR1) == 1);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &real, 8);
	CHECK(sigismember(&real, SIGUSR1) == 0);
	/* errno is per actor */
	pthread_t t[2];
	pthread_create(&t[0], NULL, errno_keeper, (void *)100);
	pthread_create(&t[1], NULL, errno_keeper, (void *)101);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	CHECK(errno_seen[0] == 100 && errno_seen[1] == 101);
	/* a spinlock held by a parked actor parks the next one instead of spinning */
	static pthread_spinlock_t spin;
	CHECK(pthread_spin_init(&spin, 0) == 0);
	CHECK(pthread_spin_lock(&spin) == 0);
	CHECK(pthread_spin_trylock(&spin) == EBUSY);
	CHECK(pthread_spin_unlock(&spin) == 0);
	CHECK(sched_yield() == 0);
	/* a barrier lets all three through together, one of them "serial" */
	pthread_create(&t[0], NULL, at_barrier, NULL);
	pthread_create(&t[1], NULL, at_barrier, NULL);
	at_barrier(NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	CHECK(serials == 1);
	/* a semaphore nobody posts: the timed wait ends at its virtual deadline */
	sem_t sem;
	struct timespec abs;
	CHECK(sem_init(&sem, 0, 0) == 0);
	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_sec += 3;
	int64_t t0 = sd_now_ns(&sim);
	CHECK(sem_timedwait(&sem, &abs) == -1 && errno == ETIMEDOUT);
	CHECK(sd_now_ns(&sim) - t0 == 3 * NS);
	sem_destroy(&sem);
}

static void masks_errno_spinlocks_barriers(void **state)
{
	(void)state;
	serials = 0;
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 3), 0);
	run_open(11);
	int sid = sd_spawn(&sim, "server", misc_server, NULL);
	assert_int_equal(sd_join(&sim, sid), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	assert_int_equal(pthread_barrier_destroy(&barrier), 0);
}

/* Outside a run every call reaches the C library: real threads, real locks. */
static pthread_mutex_t real_lock = PTHREAD_MUTEX_INITIALIZER;
static int real_count;

static void *real_thread(void *arg)
{
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&real_lock);
		real_count++;
		pthread_mutex_unlock(&real_lock);
	}
	return arg;
}

static void outside_a_run_libc_threads(void **state)
{
	(void)state;
	pthread_t t[2];
	void *r;
	real_count = 0;
	assert_int_equal(pthread_create(&t[0], NULL, real_thread, (void *)1), 0);
	assert_int_equal(pthread_create(&t[1], NULL, real_thread, (void *)2), 0);
	assert_int_equal(pthread_join(t[0], &r), 0);
	assert_ptr_equal(r, (void *)1);
	assert_int_equal(pthread_join(t[1], &r), 0);
	assert_int_equal(real_count, 2000);
	assert_true(pthread_self() >> 56 != 0x5d);
}

/* ---- exit, fork and reset through the fuzz driver ------------------------------------- */

static int exit_how, exits_seen, resets;

static void exiting_server(void *arg)
{
	(void)arg;
	if (exit_how == 1)
		exit(5); /* during start-up */
	int l = listen_on(PORT);
	int c = accept(l, NULL, NULL);
	char b[8];
	recv(c, b, sizeof b, 0);
	switch (exit_how) {
	case 2: exit(3);
	case 3: errx(4, "bad request");
	case 4: _exit(6);
	case 5: errno = EPIPE, err(7, "cannot go on");
	case 6: fork(); break;
	case 7:
		if (system("true")) {
		}
		break;
	}
	for (;;)
		accept(l, NULL, NULL);
}

static int exit_expected(int status)
{
	exits_seen = exits_seen * 10 + status;
	return 1;
}

static void reset(void *arg)
{
	(void)arg;
	resets++;
}

static const struct sd_fuzz_server exiting = {
	.serve = exiting_server, .port = PORT, .reset = reset, .exit_expected = exit_expected};

/* exit(), _exit(), err(), errx() end the server with their status, reported to the glue;
 * the test process (the fuzzer) lives on, input after input, and reset runs after each. */
static void exit_is_reported_process_lives_on(void **state)
{
	(void)state;
	uint8_t in[16] = {0};
	exits_seen = resets = 0;
	for (exit_how = 2; exit_how <= 5; exit_how++)
		assert_int_equal(sd_fuzz_server_run(&exiting, in, sizeof in), 0);
	assert_int_equal(exits_seen, 3467);
	assert_int_equal(resets, 4);
	assert_int_equal(sd__proc_exited(NULL), 0);
}

/* Runs one input of `exiting` with exit_how = how in a child; returns its wait status and
 * what it wrote on stderr. */
static int child_run(int how, const struct sd_fuzz_server *srv, char *err, size_t cap)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		exit_how = how;
		uint8_t in[16] = {0};
		sd_fuzz_server_run(srv, in, sizeof in);
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t k;
	while (n < cap - 1 && (k = read(p[0], err + n, cap - 1 - n)) > 0)
		n += (size_t)k;
	err[n] = '\0';
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* An exit during start-up is a harness error (status 2, no crash); a later exit the glue
 * did not expect is a finding (abort). */
static void exit_at_startup_error_later_finding(void **state)
{
	(void)state;
	char err[512];
	int st = child_run(1, &exiting, err, sizeof err);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_non_null(strstr(err, "sockdrill: the server exited with status 5 during start-up"));
	struct sd_fuzz_server plain = {.serve = exiting_server, .port = PORT};
	st = child_run(2, &plain, err, sizeof err);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(err, "sockdrill finding: the server exited with status 3"));
	st = child_run(3, &plain, err, sizeof err);
	assert_true(WIFSIGNALED(st));
	assert_non_null(strstr(err, ": bad request\n"));
	st = child_run(5, &exiting, err, sizeof err); /* expected: the input ends quietly */
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(err, ": cannot go on: Broken pipe\n"));
}

/* fork() and system() in the server: one line naming the call and `sockdrill wrap`, then
 * status 2. */
static void fork_is_refused_with_one_line(void **state)
{
	(void)state;
	char err[512];
	int st = child_run(6, &exiting, err, sizeof err);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_string_equal(err, "sockdrill: fork() in an in-process server is not supported; "
				 "run such a server with `sockdrill wrap`\n");
	st = child_run(7, &exiting, err, sizeof err);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_non_null(strstr(err, "sockdrill: system() in an in-process server"));
}

/* A thread that sleeps in a loop keeps virtual time moving; a client that never gets its
 * answer is still reported (after 600 virtual seconds) instead of hanging the fuzzer. */
static void *ticker(void *arg)
{
	(void)arg;
	for (;;)
		sleep(1);
	return NULL;
}

static void silent_server(void *arg)
{
	(void)arg;
	pthread_t t;
	pthread_create(&t, NULL, ticker, NULL);
	int l = listen_on(PORT);
	for (;;)
		accept(l, NULL, NULL); /* never answers, never closes */
}

static void sleeping_thread_does_not_hang_the_run(void **state)
{
	(void)state;
	char err[2048];
	static const char *const reqs[] = {"ping\n"};
	struct sd_fuzz_server s = {
		.serve = silent_server, .port = PORT, .requests = reqs, .nrequests = 1};
	int st = child_run(0, &s, err, sizeof err);
	assert_true(WIFSIGNALED(st));
	assert_non_null(strstr(err, "clients and server are all blocked"));
	assert_non_null(strstr(err, "until past the time limit"));
	assert_non_null(strstr(err, "thread (actor 2) waits in sleep"));
}

/* What an actor drew from getrandom and getentropy in one run. */
static unsigned char drawn[48];

static void drawing(void *arg)
{
	(void)arg;
	CHECK(getrandom(drawn, 16, 0) == 16);
	CHECK(getrandom(drawn + 16, 16, GRND_NONBLOCK) == 16);
	CHECK(getentropy(drawn + 32, 16) == 0);
	unsigned char x[257];
	errno = 0;
	CHECK(getrandom(x, 4, 0x80) == -1 && errno == EINVAL); /* an unknown flag */
	errno = 0;
	CHECK(getrandom(x, 4, GRND_INSECURE | GRND_RANDOM) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(getentropy(x, sizeof x) == -1 && errno == EIO); /* more than 256 bytes */
}

static void draw_run(uint64_t seed, unsigned char *out)
{
	run_open(seed);
	int id = sd_spawn(&sim, "server", drawing, NULL);
	assert_int_equal(sd_join(&sim, id), 0);
	run_close();
	assert_int_equal(fail_line, 0);
	memcpy(out, drawn, sizeof drawn);
}

/* A server's random bytes (an id it makes up and sends, as mosquitto's for an MQTT 5 client)
 * come from the seed: the same input replays them byte for byte. Outside a run they are real. */
static void random_bytes_follow_the_seed(void **state)
{
	(void)state;
	unsigned char a[48], b[48], c[48], zero[48] = {0};
	draw_run(5, a);
	draw_run(5, b);
	draw_run(6, c);
	assert_memory_equal(a, b, sizeof a);
	assert_memory_not_equal(a, c, sizeof a);
	assert_memory_not_equal(a, zero, sizeof a);
	assert_memory_not_equal(a, a + 16, 16); /* a stream, not one value again */
	unsigned char r[16] = {0};
	assert_int_equal(getrandom(r, sizeof r, 0), (ssize_t)sizeof r);
	assert_int_equal(getentropy(r, sizeof r), 0);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(thread_per_connection_counter),
	T(same_seed_same_interleaving),
	T(worker_pool_semaphore),
	T(lock_cycle_is_a_deadlock_report),
	T(cancel_at_socket_call_runs_cleanup),
	T(cancel_at_cond_wait_and_when_enabled),
	T(cancel_pending_acts_at_each_socket_call),
	T(cancel_ends_each_waiting_socket_call),
	T(idle_timer_fires_in_virtual_time),
	T(clocks_are_real_outside_actors),
	T(signal_handler_reads_the_real_clock),
	T(mutex_types),
	T(rwlock_readers_share_writer_waits),
	T(once_keys_join_detach),
	T(masks_errno_spinlocks_barriers),
	T(outside_a_run_libc_threads),
	T(exit_is_reported_process_lives_on),
	T(exit_at_startup_error_later_finding),
	T(fork_is_refused_with_one_line),
	T(sleeping_thread_does_not_hang_the_run),
	T(random_bytes_follow_the_seed),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
const char sd_unit_module[] = "threads";
