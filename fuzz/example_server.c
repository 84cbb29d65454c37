/* Fuzz target: the seed example's Q&A server (written against sd_ops), in-process on the sim
 * through sd_fuzz_server_run: clients, byte splits, scheduling and short I/O come from the
 * input; a wrong answer, a deadlock or a leaked descriptor is a finding. */
#include <arpa/inet.h>

#include <sockdrill/fuzz.h>
#include <sockdrill/sockdrill.h>

#include "qa.h"
#include "qa_oracle.h"

static void serve(void *arg)
{
	(void)arg;
	struct sd_net *net = sd_fuzz_server_net();
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = sd_qa_listen(net, (struct sockaddr *)&a, sizeof a, 16);
	if (l < 0)
		return;
	/* returns after 2 s without anything to do: virtual time, so at once at the end */
	struct sd_qa_server_opts o = {.poll_ms = 100, .idle_polls = 20};
	struct sd_qa_server_stats st;
	sd_qa_serve(net, l, &o, &st);
	sd_close(net, l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* It ends itself after 2 idle seconds, by design: a client later than that (an input's
	 * pauses can add up to more) is refused, and that is no bug. */
	static const struct sd_fuzz_server srv = {.serve = serve,
						  .port = 7777,
						  .requests = sd_qa_requests,
						  .check = sd_qa_check,
						  .oracles_off = SD_ORACLE_REFUSED};
	struct sd_fuzz_server s = srv;
	s.nrequests = sd_qa_nrequests;
	return sd_fuzz_server_run(&s, data, size);
}
