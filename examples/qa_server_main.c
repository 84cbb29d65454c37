/* sd-qa-server: the example Q&A server as a program, on the real backend. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

#include "qa.h"

static atomic_int stop;
static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, 1);
}

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr, "sd-qa-server: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
	fprintf(stderr, "usage: sd-qa-server [--host ADDR] [--port P] [--max-clients N] "
			"[--idle-seconds S] (ADDR: loopback only)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	long port = 0, max_clients = 0, idle = 60;
	int port_given = 0;
	for (int i = 1; i < argc; i++) {
		char *end = NULL;
		long *dst = NULL;
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			dst = &port, port_given = 1;
		else if (strcmp(argv[i], "--max-clients") == 0 && i + 1 < argc)
			dst = &max_clients;
		else if (strcmp(argv[i], "--idle-seconds") == 0 && i + 1 < argc)
			dst = &idle;
		else
			return usage("unknown or incomplete argument", argv[i]);
		if (dst) {
			*dst = strtol(argv[++i], &end, 10);
			if (*end || *dst < 0 || (dst == &port && *dst > 65535))
				return usage("bad number", argv[i]);
		}
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	char where[SD_ADDR_STRLEN];
	int arc = sd_qa_server_addr(host, (unsigned)port, port_given, &ss, &sl);
	if (arc == -EINVAL)
		return usage("bad address", host);
	if (arc == -EEXIST) {
		fprintf(stderr,
			"sd-qa-server: --host %s carries a port and --port %ld was given too: "
			"give the port once\n",
			host, port);
		return 2;
	}
	if (arc == -EPERM) {
		fprintf(stderr,
			"sd-qa-server: --host %s is not a loopback address; the example "
			"serves on 127.0.0.0/8 or ::1 only\n",
			host);
		return 2;
	}

	struct sd_net net;
	if (sd_net_open(&net, "real", NULL) < 0)
		return usage("cannot open the real backend", NULL);
	int lfd = sd_qa_listen(&net, (struct sockaddr *)&ss, sl, 128);
	sd_addr_format((struct sockaddr *)&ss, sl, where, sizeof where);
	if (lfd < 0) {
		if (lfd == -EADDRINUSE)
			fprintf(stderr,
				"sd-qa-server: port already in use: cannot bind %s (EADDRINUSE)\n",
				where);
		else
			fprintf(stderr, "sd-qa-server: cannot listen on %s: %s\n", where,
				sd_errname(lfd) ? sd_errname(lfd) : "error");
		sd_net_close(&net);
		return 2;
	}
	sl = sizeof ss;
	sd_getsockname(&net, lfd, (struct sockaddr *)&ss, &sl);
	printf("listening on %s\n",
	       sd_addr_format((struct sockaddr *)&ss, sl, where, sizeof where));
	fflush(stdout);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	struct sd_qa_server_opts o = {.max_clients = (unsigned long)max_clients,
				      .poll_ms = 100,
				      .idle_polls = (int)idle * 10,
				      .stop = &stop};
	struct sd_qa_server_stats st;
	int rc = sd_qa_serve(&net, lfd, &o, &st);
	printf("served %lu clients, answered %lu questions, %lu errors\n", st.closed, st.answered,
	       st.errors);
	sd_net_close(&net);
	return rc < 0 ? 1 : 0;
}
