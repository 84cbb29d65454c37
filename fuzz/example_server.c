/* Fuzz target: the seed example's Q&A server (written against sd_ops), in-process on the sim,
 * with clients, byte splits, scheduling and short I/O decided by the input. Any answer other
 * than the right one, a deadlock or a leaked descriptor is a finding. */
#include "server_driver.h"

static void server(void *arg)
{
	struct sd_net *net = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SERVER_PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = sd_qa_listen(net, (struct sockaddr *)&a, sizeof a, 16);
	if (l < 0)
		FINDING("the server cannot listen: %d", l);
	struct sd_qa_server_opts o = {.poll_ms = 100, .idle_polls = 1000, .stop = &server_stop};
	struct sd_qa_server_stats st;
	sd_qa_serve(net, l, &o, &st);
	sd_close(net, l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = {data, size};
	drive(&in, server, 1);
	return 0;
}
