/* sockdrill bench: sim against real on one workload, sim call rate, demo scale (ratios). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "bench_median.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, long rc)
{
	char b[48];
	fprintf(stderr, "bench: %s failed: %s\n", what, sd_result_format(rc, b, sizeof b));
	exit(1);
}

#define CHECK(what, x)                                                                             \
	do {                                                                                       \
		long rc_ = (long)(x);                                                              \
		if (rc_ < 0)                                                                       \
			die(what, rc_);                                                            \
	} while (0)

/* N cycles of: connect, accept, client sends 1 KiB, server reads it and answers 1 KiB,
 * server closes first (its TIME_WAIT entries have distinct 4-tuples, so the kernel never
 * runs out of ports), client reads the answer and closes. 10 calls a cycle. */
static double cycles(const char *backend, int n, unsigned long *calls)
{
	struct sd_net net;
	struct sd_config cfg = {.seed = 1};
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	static char out[1024], in[1024];
	CHECK("open", sd_net_open(&net, backend, &cfg));
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	int l = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	CHECK("bind", sd_bind(&net, l, (struct sockaddr *)&any, al));
	CHECK("listen", sd_listen(&net, l, 128));
	sd_getsockname(&net, l, (struct sockaddr *)&where, &wl);
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		int c = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
		CHECK("socket", c);
		CHECK("connect", sd_connect(&net, c, (struct sockaddr *)&where, wl));
		int s = sd_accept(&net, l, NULL, NULL, 0);
		CHECK("accept", s);
		CHECK("send", sd_send(&net, c, out, sizeof out, 0));
		CHECK("recv", sd_recv(&net, s, in, sizeof in, MSG_WAITALL));
		CHECK("send", sd_send(&net, s, out, sizeof out, 0));
		CHECK("close", sd_close(&net, s));
		CHECK("recv", sd_recv(&net, c, in, sizeof in, MSG_WAITALL));
		CHECK("recv", sd_recv(&net, c, in, sizeof in, 0)); /* end of stream */
		CHECK("close", sd_close(&net, c));
	}
	double dt = now_s() - t0;
	sd_close(&net, l);
	sd_net_close(&net);
	*calls = (unsigned long)n * 10;
	return dt;
}

/* Raw call rate of the sim: small send/recv pairs on one established connection. */
static double sim_calls(unsigned long n)
{
	struct sd_net net;
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	char b[64] = {0};
	CHECK("open", sd_net_open(&net, "sim", NULL));
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	int l = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	sd_bind(&net, l, (struct sockaddr *)&any, al);
	sd_listen(&net, l, 4);
	sd_getsockname(&net, l, (struct sockaddr *)&where, &wl);
	int c = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	CHECK("connect", sd_connect(&net, c, (struct sockaddr *)&where, wl));
	int s = sd_accept(&net, l, NULL, NULL, 0);
	double t0 = now_s();
	for (unsigned long i = 0; i < n / 2; i++) {
		CHECK("send", sd_send(&net, c, b, sizeof b, 0));
		CHECK("recv", sd_recv(&net, s, b, sizeof b, 0));
	}
	double dt = now_s() - t0;
	sd_net_close(&net);
	return dt;
}

static const char *verdict(int ok) { return ok ? "meets target" : "MISSES target"; }

/* ---- a 1 MiB reply through the sim against memcpy of the same bytes ------------------------ */

#define REPLY_SIZE (1 << 20)

struct replier {
	struct sd_net *net;
	int listener, replies;
	const unsigned char *data;
};

/* A server actor: for each connection, the whole reply in one send call, then close. */
static void reply_server(void *arg)
{
	struct replier *r = arg;
	for (int i = 0; i < r->replies; i++) {
		int c = sd_accept(r->net, r->listener, NULL, NULL, 0);
		CHECK("accept", c);
		for (size_t off = 0; off < REPLY_SIZE;) {
			ssize_t k = sd_send(r->net, c, r->data + off, REPLY_SIZE - off, 0);
			CHECK("send", k);
			off += (size_t)k;
		}
		CHECK("close", sd_close(r->net, c));
	}
}

/* n times, back to back: one reply on its own connection, received by main (a client actor)
 * to the end of stream into `into`, then memcpy of the same bytes into `into`. The medians
 * of the two times and of their ratios, pair by pair: the machine's noise hits both alike. */
static void reply_ratio(int scale, const char *options)
{
	int n = scale ? 700 : 70;
	unsigned char *data = malloc(REPLY_SIZE), *into = malloc(REPLY_SIZE + 1);
	double *ts = malloc(3 * sizeof(double) * (size_t)n), *tc = ts + n, *ratio = tc + n;
	if (!data || !into || !ts)
		die("malloc", -ENOMEM);
	for (size_t i = 0; i < REPLY_SIZE; i++)
		data[i] = (unsigned char)(i * 7 + i / 4096);
	struct sd_net net;
	struct sd_config cfg = {.seed = 1, .options = options};
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	CHECK("open", sd_net_open(&net, "sim", &cfg));
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	struct replier r = {.net = &net, .replies = n + 1, .data = data};
	r.listener = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	CHECK("bind", sd_bind(&net, r.listener, (struct sockaddr *)&any, al));
	CHECK("listen", sd_listen(&net, r.listener, 4));
	sd_getsockname(&net, r.listener, (struct sockaddr *)&where, &wl);
	int id = sd_spawn(&net, "server", reply_server, &r);
	CHECK("spawn", id);
	for (int i = -1; i < n; i++) { /* reply -1 warms up, and its bytes are checked */
		double t0 = now_s();
		int c = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
		if (options) /* as the fuzz driver's clients do */
			CHECK("set_segment", sd_sim_set_segment(&net, c, 0));
		CHECK("connect", sd_connect(&net, c, (struct sockaddr *)&where, wl));
		size_t got = 0;
		for (ssize_t k; (k = sd_recv(&net, c, into + got, REPLY_SIZE - got + 1, 0)) != 0;) {
			CHECK("recv", k);
			got += (size_t)k;
		}
		CHECK("close", sd_close(&net, c));
		double t1 = now_s();
		if (got != REPLY_SIZE || (i < 0 && memcmp(data, into, REPLY_SIZE) != 0))
			die("recv (the reply differs)", -EPROTO);
		memcpy(into, data, REPLY_SIZE);
		__asm__ volatile("" : : "r"(into) : "memory"); /* the copy is not optimised away */
		double t2 = now_s();
		if (i >= 0) {
			ts[i] = t1 - t0, tc[i] = t2 - t1;
			ratio[i] = ts[i] / tc[i];
		}
	}
	CHECK("join", sd_join(&net, id));
	sd_net_close(&net);
	double q = median(ratio, n);
	printf("1 MiB reply, server actor -> client actor through the sim%s: %.1f us, memcpy of 1 "
	       "MiB %.1f us (medians of %d); ratio %.2fx (target <= 3x: %s)\n",
	       options ? " as in a fuzz input (segment=12, the client taking it whole)" : "",
	       median(ts, n) * 1e6, median(tc, n) * 1e6, n, q, verdict(q <= 3));
	free(ts);
	free(data);
	free(into);
}

/* Runs the sockdrill binary with argv (output discarded); wall seconds and peak RSS (KiB). */
static int child(const char *exe, char *const argv[], double *wall, long *rss_kb)
{
	double t0 = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execv(exe, argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*wall = now_s() - t0;
	*rss_kb = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
	int n = 10000, scale = 1;
	const char *exe = NULL, *scenarios = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sockdrill") && i + 1 < argc)
			exe = argv[++i];
		else if (!strcmp(argv[i], "--scenarios") && i + 1 < argc)
			scenarios = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			scale = 0;
		else {
			fprintf(stderr,
				"usage: bench_sim [--cycles N] [--quick] [--sockdrill PATH]\n");
			return 2;
		}
	}
	if (n < 1)
		n = 1;
	unsigned long calls;
	double real = cycles("real", n, &calls), sim = cycles("sim", n, &calls);
	printf("workload: %d cycles of connect, accept, 1 KiB each way, close (%lu calls)\n", n,
	       calls);
	printf("  real: %8.3f s  %10.0f calls/s\n", real, (double)calls / real);
	printf("  sim:  %8.3f s  %10.0f calls/s\n", sim, (double)calls / sim);
	printf("  ratio sim/real: %.1fx (target >= 20x: %s)\n", real / sim,
	       verdict(real / sim >= 20));
	unsigned long m = scale ? 4000000 : 200000;
	double t = sim_calls(m);
	printf("sim call rate: %lu send/recv calls of 64 B in %.3f s = %.2f M calls/s (target >= 2 "
	       "M: "
	       "%s)\n",
	       m, t, (double)m / t / 1e6, verdict((double)m / t >= 2e6));
	reply_ratio(scale, NULL);
	reply_ratio(scale, "segment=12");
	if (exe && scenarios) {
		double t[2] = {0, 0};
		long kb;
		const char *backends[] = {"real", "sim"};
		int rc[2];
		for (int b = 0; b < 2; b++) {
			char *argv[] = {(char *)exe,       "run", "--backend", (char *)backends[b],
					(char *)scenarios, NULL};
			rc[b] = child(exe, argv, &t[b], &kb);
		}
		printf("scenario suite %s: real %.3f s (exit %d), sim %.3f s (exit %d), ratio "
		       "sim/real "
		       "%.1fx\n",
		       scenarios, t[0], rc[0], t[1], rc[1], t[1] > 0 ? t[0] / t[1] : 0.0);
	}
	if (exe) {
		const char *sizes[] = {"10000", "100000"};
		for (int i = 0; i < (scale ? 2 : 1); i++) {
			double wall = 0;
			long kb = 0;
			char *argv[] = {(char *)exe,      "demo",   "--backend", "sim", "--clients",
					(char *)sizes[i], "--seed", "1",         NULL};
			int rc = child(exe, argv, &wall, &kb);
			printf("demo on sim, %6s clients at once: exit %d, %.2f s wall, %.1f MiB "
			       "peak RSS%s\n",
			       sizes[i], rc, wall, (double)kb / 1024,
			       i == 1 ? (kb < 1024 * 1024 ? " (target < 1 GiB: meets target)"
							  : " (target < 1 GiB: MISSES target)")
				      : "");
		}
	}
	return 0;
}
