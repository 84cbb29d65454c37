/* dialog.c fuzzed in-process: its three commands are the clients' messages. */
#include <sockdrill/fuzz.h>

int dialog_main(int argc, char **argv);

static void serve(void *arg)
{
	(void)arg;
	char *av[] = {"dialog", "--port", "7010", NULL};
	dialog_main(3, av);
}

static const char *const reqs[] = {"LOGIN x\n", "STAT\n", "QUIT\n"};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct sd_fuzz_server s = {.serve = serve, .port = 7010, .requests = reqs, .nrequests = 3};
	return sd_fuzz_server_run(&s, d, n);
}
