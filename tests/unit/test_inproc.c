/* The interposition layer's in-process route: servers written against libc, run on a sim. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inproc.h"
#include "sd_test.h"

const char sd_unit_module[] = "inproc";

static struct sd_net *open_sim(const char *options)
{
	struct sd_net *net = calloc(1, sizeof *net);
	struct sd_config cfg = {.seed = 1, .options = options};
	assert_non_null(net);
	assert_int_equal(sd_net_open(net, "sim", &cfg), 0);
	return net;
}

static void close_sim(struct sd_net *net)
{
	sd_net_close(net);
	free(net);
}

/* A `real` instance opened while a sim is attached reaches the kernel: its libc calls are the
 * C library's, not the layer's (which would hand it a simulated socket). */
static void real_backend_reaches_kernel_while_attached(void **state)
{
	(void)state;
	struct sd_net *sim = open_sim(NULL), real;
	sd_inproc_attach(sim);
	assert_int_equal(sd_net_open(&real, "real", NULL), 0);
	int fd = sd_socket(&real, AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(sd_bind(&real, fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(sd_listen(&real, fd, 4), 0);
	/* the kernel itself names the socket, past any interposer */
	struct sockaddr_in got;
	socklen_t len = sizeof got;
	assert_int_equal(syscall(SYS_getsockname, fd, (struct sockaddr *)&got, &len), 0);
	assert_int_equal(got.sin_family, AF_INET);
	assert_int_not_equal(got.sin_port, 0);
	struct sd_sim_stats st;
	assert_int_equal(sd_sim_stats(sim, &st), 0);
	assert_int_equal(st.open_fds, 0);
	assert_int_equal(sd_close(&real, fd), 0);
	sd_net_close(&real);
	sd_inproc_attach(NULL);
	close_sim(sim);
}

const struct CMUnitTest sd_unit_tests[] = {
	T(real_backend_reaches_kernel_while_attached),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
