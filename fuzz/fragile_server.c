/* Fuzz target: examples/fragile_server.c compiled unchanged (its main renamed to
 * sd_fragile_main by the build), its libc socket calls routed to the sim by the interposition
 * layer (src/interpose/).
 * This is all it takes to fuzz a server with sd_fuzz_server_run; the fuzzer is expected to
 * find its bugs (a question arriving in pieces, an answer sent short). */
#include <sockdrill/fuzz.h>

#include "qa_oracle.h"

int sd_fragile_main(int argc, char **argv);

static void serve(void *arg)
{
	(void)arg;
	char *argv[] = {"sd-fragile-server", "--port", "7777", "--idle-seconds", "1", NULL};
	sd_fragile_main(5, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_fuzz_server s = {.serve = serve,
				   .port = 7777,
				   .requests = sd_qa_requests,
				   .nrequests = sd_qa_nrequests,
				   .check = sd_qa_check};
	return sd_fuzz_server_run(&s, data, size);
}
