/* A small line server with a bug planted after a dialog (tests/py/test_scenario_replay.py):
 * "LOGIN name" gets "OK name", "STAT" gets "STAT nobody" before a login and, after one, a
 * report written past the end of its buffer (the bug); "QUIT" gets "BYE" and the end of the
 * connection, anything else "ERR". One connection at a time, on 127.0.0.1 at --port P: a
 * native program (sockdrill wrap) and, main renamed, an in-process fuzz target. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void reply(int c, const char *text)
{
	size_t n = strlen(text);
	for (ssize_t k; n && (k = send(c, text, n, MSG_NOSIGNAL)) > 0; text += k, n -= (size_t)k)
		;
}

/* One command; 0 when the connection is to end. */
static int command(int c, const char *line, char *user, size_t usize)
{
	if (!strncmp(line, "LOGIN ", 6) && line[6] && strlen(line + 6) < usize) {
		char out[64];
		strcpy(user, line + 6);
		snprintf(out, sizeof out, "OK %s\n", user);
		reply(c, out);
	} else if (!strcmp(line, "STAT") && !user[0]) {
		reply(c, "STAT nobody\n");
	} else if (!strcmp(line, "STAT")) {
		size_t n = strlen(user);
		char *report = malloc(n + 8); /* the bug: " logged in\n" needs 11 bytes after it */
		memcpy(report, "STAT ", 5);
		memcpy(report + 5, user, n);
		memcpy(report + 5 + n, " logged in\n", 12);
		reply(c, report);
		free(report);
	} else if (!strcmp(line, "QUIT")) {
		reply(c, "BYE\n");
		return 0;
	} else {
		reply(c, "ERR\n");
	}
	return 1;
}

static void serve(int c)
{
	char buf[256], user[32] = "";
	size_t n = 0;
	for (ssize_t k; (k = recv(c, buf + n, sizeof buf - 1 - n, 0)) > 0;) {
		n += (size_t)k;
		buf[n] = 0;
		for (char *nl; (nl = strchr(buf, '\n'));) {
			*nl = 0;
			if (nl > buf && nl[-1] == '\r')
				nl[-1] = 0;
			if (!command(c, buf, user, sizeof user))
				return;
			n -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, n + 1);
		}
		if (n == sizeof buf - 1)
			return; /* a line too long */
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--port")) {
		fprintf(stderr, "usage: dialog --port P\n");
		return 2;
	}
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0) {
		perror("dialog: bind/listen");
		return 2;
	}
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		serve(c);
		close(c);
	}
}
