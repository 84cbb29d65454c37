/* sockdrill tests: a connected TCP pair on loopback for the wrap test programs. */
#ifndef SD_TEST_WRAP_PAIR_H
#define SD_TEST_WRAP_PAIR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* fds[0] the client, fds[1] the accepted end; the listener is closed. Exits 3 on failure. */
static inline void sd_test_pair(int fds[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0 ||
	    (fds[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fds[0], (struct sockaddr *)&a, len) < 0 ||
	    (fds[1] = accept(l, NULL, NULL)) < 0) {
		perror("pair");
		exit(3);
	}
	close(l);
}

#endif
