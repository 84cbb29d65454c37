/* sockdrill bench: the interposition layer's cost on a call it passes through to the C library.
 *
 * This program links the in-process layer (src/interpose/), so its write() is the layer's. It
 * times write() of one byte to /dev/null through the layer against the C library's write
 * called directly (src/util/libc.h), with no socket of the layer's open (the layer's table is
 * empty) and with a simulated socket open (every call looks its descriptor up). 201 rounds,
 * each a batch of the three back to back; it prints the median ns per call of each and the
 * median of the rounds' ratios to the C library (the machine's noise hits a round's three
 * alike). --quick runs batches a tenth as long. Figures only; nothing is asserted. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "../src/util/libc.h"
#include "inproc.h"

#include "bench_median.h"

static double now_ns(void)
{
	struct timespec ts;
	SD__LIBC(clock_gettime)(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* n calls, in ns per call. */
static double per_call(int fd, long n, int through_layer)
{
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if ((through_layer ? write(fd, "x", 1) : SD__LIBC(write)(fd, "x", 1)) != 1)
			exit(1);
	return (now_ns() - t0) / (double)n;
}

#define ROUNDS 201

int main(int argc, char **argv)
{
	long n = argc > 1 && !strcmp(argv[1], "--quick") ? 500 : 5000;
	int fd = open("/dev/null", O_WRONLY);
	struct sd_net sim;
	static double libc[ROUNDS], empty[ROUNDS], used[ROUNDS], r_empty[ROUNDS], r_used[ROUNDS];
	if (fd < 0) {
		perror("bench_layer: /dev/null");
		return 2;
	}
	if (sd_net_open(&sim, "sim", NULL) < 0)
		return 2;
	sd_inproc_attach(&sim);
	for (int r = 0; r < ROUNDS; r++) {
		libc[r] = per_call(fd, n, 0);
		empty[r] = per_call(fd, n, 1);
		int s = socket(AF_INET, SOCK_STREAM, 0); /* a simulated socket: the table in use */
		used[r] = per_call(fd, n, 1);
		close(s);
		r_empty[r] = empty[r] / libc[r];
		r_used[r] = used[r] / libc[r];
	}
	sd_inproc_attach(NULL);
	sd_net_close(&sim);
	close(fd);
	printf("layer pass-through: write(1 byte) to /dev/null, medians of %d rounds of %ld "
	       "calls\n",
	       ROUNDS, n);
	printf("  C library directly            %7.1f ns/call\n", median(libc, ROUNDS));
	printf("  through the layer, no socket  %7.1f ns/call  (ratio %.3fx)\n",
	       median(empty, ROUNDS), median(r_empty, ROUNDS));
	printf("  through the layer, 1 socket   %7.1f ns/call  (ratio %.3fx)\n",
	       median(used, ROUNDS), median(r_used, ROUNDS));
	return 0;
}
