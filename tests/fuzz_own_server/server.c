/* A tiny HTTP-ish server: accepts forever, answers each request once. Its bug: one write()
 * for the answer, so a short write sends half of it (built with -DWRITE_ALL: fixed). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = argc > 2 ? atoi(argv[2]) : 8080, one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0)
		return 1;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		char buf[256];
		size_t n = 0;
		ssize_t k;
		while (n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
			n += (size_t)k;
			buf[n] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		const char *r = "HTTP/1.0 200 OK\r\n\r\n";
		size_t len = strlen(r), off = 0;
#ifdef WRITE_ALL
		while (off < len && (k = write(c, r + off, len - off)) > 0)
			off += (size_t)k;
#else
		(void)off;
		(void)!write(c, r, len);
#endif
		close(c);
	}
}
