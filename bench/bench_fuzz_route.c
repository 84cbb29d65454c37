/* sockdrill bench: one fuzz input of the Q&A server, two routes, the same inputs.
 *
 *   in-process   LLVMFuzzerTestOneInput of fuzz/example_server.c (sd_fuzz_server_run: the
 *                server on a fresh sim, its clients, faults and oracle), uninstrumented;
 *   loopback     what a fuzzer without desocketing does: a fresh server process per input
 *                (fork, as an AFL++ forkserver gives one), clients over real 127.0.0.1
 *                sockets sending the same requests cut the same way (src/driver/fuzz/fuzz_plan.h),
 *                the same oracle, then the server reaped.
 *                The loopback route is favoured: no pauses between pieces, no faults.
 *
 * Prints inputs/s of each and their ratio (target: in-process >= 10x loopback). The loopback
 * route leaves a TIME_WAIT entry per client (it half-closes first) on the kernel for 60 s;
 * a test binding ephemeral ports of the real stack meanwhile may meet one of them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "fuzz_plan.h"
#include "qa.h"
#include "qa_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_input(uint8_t *buf, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

/* One client of the plan over loopback: its bytes in the plan's pieces, half-close, read
 * all, the oracle. */
static int loopback_client(int port, const struct sd_fuzz_plan_client *c)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {.tv_sec = 2};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (int j = 0; j < c->nmsgs; j++) {
		const struct sd_fuzz_plan_msg *m = &c->m[j];
		for (int i = 0, from = 0; i < m->npieces; from = (int)m->cut[i++]) {
			size_t n = m->cut[i] - (size_t)from;
			if (n && send(fd, m->bytes + from, n, MSG_NOSIGNAL) != (ssize_t)n) {
				close(fd);
				return -1;
			}
		}
	}
	shutdown(fd, SHUT_WR);
	unsigned char got[512];
	size_t n = 0;
	for (ssize_t k; n < sizeof got && (k = recv(fd, got + n, sizeof got - n, 0)) > 0;)
		n += (size_t)k;
	close(fd);
	if (c->nmsgs != 1) /* the oracle judges one request and its reply */
		return 0;
	return sd_qa_check(c->m[0].which, c->m[0].bytes, c->m[0].len, got, n) ? -1 : 0;
}

/* One input on the loopback route; -1 when a client got a wrong answer or none. The server
 * process listens on an ephemeral port of its own and tells it through a pipe. */
static int loopback_input(const uint8_t *data, size_t size)
{
	struct sd_fuzz_plan plan; /* seed and faults have no meaning over real sockets */
	struct sd_fuzz_dict dict = {sd_qa_requests, NULL, sd_qa_nrequests};
	sd_fuzz_plan_decode(data, size, &dict, &plan);
	unsigned n = (unsigned)plan.nclients;
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]), close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		struct sd_net net;
		struct sockaddr_in a = {.sin_family = AF_INET};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t al = sizeof a;
		int l = -1;
		if (sd_net_open(&net, "real", NULL) < 0 ||
		    (l = sd_qa_listen(&net, (struct sockaddr *)&a, sizeof a, 16)) < 0 ||
		    sd_getsockname(&net, l, (struct sockaddr *)&a, &al) < 0)
			_exit(1);
		int port = ntohs(a.sin_port);
		if (write(pfd[1], &port, sizeof port) != sizeof port)
			_exit(1);
		struct sd_qa_server_opts o = {.max_clients = n, .poll_ms = 100, .idle_polls = 30};
		struct sd_qa_server_stats st;
		_exit(sd_qa_serve(&net, l, &o, &st) < 0 ? 1 : 0);
	}
	close(pfd[1]);
	int port = 0, bad = 0;
	if (read(pfd[0], &port, sizeof port) != sizeof port)
		bad = -1;
	close(pfd[0]);
	for (unsigned i = 0; i < n && !bad; i++)
		bad |= loopback_client(port, &plan.c[i]);
	if (bad)
		kill(pid, SIGKILL);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad = -1;
	return bad;
}

int main(int argc, char **argv)
{
	double secs = 3;
	int inproc_only = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			secs = 1;
		else if (!strcmp(argv[i], "--inproc-only")) /* for profiling */
			inproc_only = 1;
		else {
			fprintf(stderr, "bench_fuzz_route: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	uint8_t buf[64];

	/* in-process */
	unsigned long inproc = 0;
	double t0 = now_s(), t1;
	while ((t1 = now_s()) - t0 < secs) {
		for (int k = 0; k < 64; k++, inproc++) {
			make_input(buf, sizeof buf, (unsigned)inproc);
			LLVMFuzzerTestOneInput(buf, sizeof buf);
		}
	}
	double inproc_rate = (double)inproc / (t1 - t0);
	if (inproc_only) {
		printf("in-process on the sim %.0f inputs/s (%lu inputs)\n", inproc_rate, inproc);
		return 0;
	}

	/* loopback */
	unsigned long loop = 0, wrong = 0;
	t0 = now_s();
	while ((t1 = now_s()) - t0 < secs) {
		make_input(buf, sizeof buf, (unsigned)loop);
		wrong += loopback_input(buf, sizeof buf) < 0;
		loop++;
	}
	double loop_rate = (double)loop / (t1 - t0);

	double ratio = inproc_rate / loop_rate;
	printf("fuzz route (example_server, same inputs, uninstrumented, 1 core):\n");
	printf("  in-process on the sim      %9.0f inputs/s  (%lu inputs)\n", inproc_rate, inproc);
	printf("  loopback, fork per input   %9.0f inputs/s  (%lu inputs, %lu wrong answers)\n",
	       loop_rate, loop, wrong);
	printf("  ratio in-process/loopback  %9.1fx  (target >= 10x: %s)\n", ratio,
	       ratio >= 10 ? "meets target" : "MISSES target");
	printf("  in-process inputs/s        %9.0f  (target >= 20000/core: %s)\n", inproc_rate,
	       inproc_rate >= 20000 ? "meets target" : "MISSES target");
	return wrong ? 1 : 0;
}
