/* Fuzz target: harness/examples/fragile_server.c compiled unchanged (its main renamed by the
 * build), its libc socket calls routed to the sim by harness/inproc.c. The fuzzer is expected
 * to find its bug: a question that arrives in two pieces gets the wrong answer. */
#include "server_driver.h"

int sd_fragile_main(int argc, char **argv);

static void server(void *arg)
{
	(void)arg; /* the server reaches the net through the interposed libc calls */
	char port[16];
	snprintf(port, sizeof port, "%d", SERVER_PORT);
	/* It stops after a second without a client: virtual time, so at once once clients are
	 * done (the driver then joins it). */
	char *argv[] = {"sd-fragile-server", "--port", port, "--idle-seconds", "1", NULL};
	sd_fragile_main(5, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = {data, size};
	drive(&in, server, 1);
	return 0;
}
