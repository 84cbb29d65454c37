/* sockdrill bench: the interposition layer's cost on a call it passes through to the C library.
 *
 * This program links the in-process layer (harness/libc/), so its write() is the layer's. It
 * times write() of one byte to /dev/null through the layer against the C library's write
 * called directly (src/libc.h), with no socket of the layer's open (the layer's table is
 * empty) and with a simulated socket open (every call looks its descriptor up), and prints ns
 * per call and the ratios (the three interleaved, best of 7 rounds). --quick runs a tenth
 * of the calls. Figures only; nothing is asserted. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "../src/libc.h"
#include "inproc.h"

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

static void keep_best(double *best, double t)
{
	if (*best == 0 || t < *best)
		*best = t;
}

int main(int argc, char **argv)
{
	long n = argc > 1 && !strcmp(argv[1], "--quick") ? 100000 : 1000000;
	int fd = open("/dev/null", O_WRONLY);
	struct sd_net sim;
	double libc = 0, empty = 0, used = 0;
	if (fd < 0) {
		perror("bench_layer: /dev/null");
		return 2;
	}
	if (sd_net_open(&sim, "sim", NULL) < 0)
		return 2;
	sd_inproc_attach(&sim);
	/* The three interleaved, best of 7 rounds each: the machine's noise hits all alike. */
	for (int round = 0; round < 7; round++) {
		keep_best(&libc, per_call(fd, n, 0));
		keep_best(&empty, per_call(fd, n, 1));
		int s = socket(AF_INET, SOCK_STREAM, 0); /* a simulated socket: the table in use */
		keep_best(&used, per_call(fd, n, 1));
		close(s);
	}
	sd_inproc_attach(NULL);
	sd_net_close(&sim);
	close(fd);
	printf("layer pass-through: write(1 byte) to /dev/null, best of 7 x %ld calls\n", n);
	printf("  C library directly            %7.1f ns/call\n", libc);
	printf("  through the layer, no socket  %7.1f ns/call  (%.3fx)\n", empty, empty / libc);
	printf("  through the layer, 1 socket   %7.1f ns/call  (%.3fx)\n", used, used / libc);
	return 0;
}
