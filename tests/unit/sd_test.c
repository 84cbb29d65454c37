/* main() for every unit-test executable: picks the backend and (optionally) one test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sd_test.h"

const char *sd_test_backend = "none";

int sd_test_setup(void **state)
{
	/* A hung test is killed (and so fails) instead of hanging the suite. */
	alarm(20);
	if (strcmp(sd_test_backend, "none") == 0) {
		*state = NULL;
		return 0;
	}
	struct sd_net *net = calloc(1, sizeof *net);
	if (!net || sd_net_open(net, sd_test_backend, NULL) < 0) {
		free(net);
		return -1;
	}
	*state = net;
	return 0;
}

int sd_test_teardown(void **state)
{
	struct sd_net *net = *state;
	if (net) {
		sd_net_close(net);
		free(net);
	}
	alarm(0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	char group[128];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
			sd_test_backend = argv[++i];
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--expect-count") == 0 && i + 1 < argc) {
			/* ctest's list comes from the source text: check it missed nothing */
			size_t want = strtoul(argv[++i], NULL, 10);
			if (want != sd_unit_ntests) {
				fprintf(stderr,
					"%s: %zu tests in the table, %zu registered with ctest\n",
					argv[0], sd_unit_ntests, want);
				return 1;
			}
			printf("%s: all %zu tests registered\n", sd_unit_module, want);
			return 0;
		} else {
			fprintf(stderr,
				"usage: %s [--backend NAME] [--only TEST] [--expect-count N]\n",
				argv[0]);
			return 2;
		}
	}
	if (strcmp(sd_test_backend, "none") != 0 && !sd_find(sd_test_backend)) {
		fprintf(stderr, "%s: unknown backend '%s'\n", argv[0], sd_test_backend);
		return 2;
	}
	/* SIGPIPE keeps its default action on purpose: a backend that let a write to a reset
	 * socket raise it would kill the test, which is the failure we want to see. */
	if (only)
		cmocka_set_test_filter(only);
	snprintf(group, sizeof group, "%s/%s", sd_unit_module, sd_test_backend);
	return _cmocka_run_group_tests(group, sd_unit_tests, sd_unit_ntests, NULL, NULL);
}

int sd_test_pair(struct sd_net *net, int *l, int *c, int *s)
{
	struct sockaddr_storage any, where;
	socklen_t al, wl = sizeof where;
	sd_addr_parse("127.0.0.1", 0, &any, &al);
	*l = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_bind(net, *l, (struct sockaddr *)&any, al), 0);
	assert_int_equal(sd_listen(net, *l, 8), 0);
	assert_int_equal(sd_getsockname(net, *l, (struct sockaddr *)&where, &wl), 0);
	*c = sd_socket(net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(net, *c, (struct sockaddr *)&where, wl), 0);
	*s = sd_accept(net, *l, NULL, NULL, 0);
	assert_true(*s >= 0);
	return sd_addr_port((struct sockaddr *)&where, wl);
}

struct sd_net *sd_test_open_sim(uint64_t seed, const char *options)
{
	struct sd_net *net = calloc(1, sizeof *net);
	struct sd_config cfg = {.seed = seed, .options = options};
	assert_non_null(net);
	assert_int_equal(sd_net_open(net, "sim", &cfg), 0);
	return net;
}

void sd_test_close_sim(struct sd_net *net)
{
	sd_net_close(net);
	free(net);
}
