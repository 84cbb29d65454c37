/* sd-fragile-server: the Q&A server written the fragile way, with plain libc calls: it
 * assumes one recv() returns one whole question, and one send() sends the whole answer.
 * Right with no faults; wrong as soon as reads or writes come back short (sockdrill wrap
 * --faults short-read or short-write finds it, and so does the fragile_server fuzz target). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qa.h"

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	long port = 0, idle_s = 60;
	for (int i = 1; i + 1 < argc; i += 2) {
		char *end;
		long v = strtol(argv[i + 1], &end, 10);
		if (*end || v < 0 || (!strcmp(argv[i], "--port") && v > 65535))
			goto usage;
		if (!strcmp(argv[i], "--port"))
			port = v;
		else if (!strcmp(argv[i], "--idle-seconds"))
			idle_s = v;
		else
			goto usage;
	}
	if (argc % 2 == 0)
		goto usage;
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 64) < 0) {
		perror("sd-fragile-server: bind/listen");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	for (long idle = 0; !stop && idle < idle_s * 10;) {
		struct pollfd p = {.fd = l, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0) {
			idle++;
			continue;
		}
		idle = 0;
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		char buf[512];
		ssize_t n = recv(c, buf, sizeof buf, 0); /* the bug: one recv is not one message */
		if (n > 0) {
			const char *ans = sd_qa_answer_for(buf, (size_t)n - (buf[n - 1] == '\n'));
			send(c, ans, strlen(ans), MSG_NOSIGNAL);
		}
		close(c);
	}
	close(l);
	return 0;
usage:
	fprintf(stderr, "usage: sd-fragile-server [--port P] [--idle-seconds S]\n");
	return 2;
}
