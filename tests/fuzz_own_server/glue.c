/* The glue of README's "Fuzzing your own server". */
#include <string.h>

#include <sockdrill/fuzz.h>

int my_server_main(int argc, char **argv);

static void serve(void *arg)
{
	(void)arg;
	char *av[] = {"srv", "--port", "7000", NULL};
	my_server_main(3, av);
}

static const char *const reqs[] = {"GET / HTTP/1.0\r\n\r\n"};

/* A request gets the whole answer, however it was cut; raw bytes may get anything. */
static int check(int which, const unsigned char *q, size_t ql, const unsigned char *r, size_t rl)
{
	(void)q, (void)ql;
	static const char ok[] = "HTTP/1.0 200 OK\r\n\r\n";
	return which == 0 && (rl != sizeof ok - 1 || memcmp(r, ok, rl) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct sd_fuzz_server s = {
		.serve = serve, .port = 7000, .requests = reqs, .nrequests = 1, .check = check};
	return sd_fuzz_server_run(&s, d, n);
}
