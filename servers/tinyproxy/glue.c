/* tinyproxy (Debian bookworm), unchanged, fuzzed in-process on the sim: the proxy listens on
 * port 8080 (the wildcard addresses, IPv4 and IPv6) and the glue's own upstream, a thread of
 * the run, on 127.0.0.1:8081. The requests are ones tinyproxy answers itself (its stats page,
 * 400, 403, 500) and ones it relays to the upstream; the oracle knows each reply exactly, up
 * to the digits of the Date header and of the stats page's counters. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "../http_session.h"
#include "../reply_pattern.h"

int sd_server_main(int argc, char **argv);

#define PROXY_PORT    8080
#define UPSTREAM_PORT 8081

static char conf_path[4096];

/* The config and filter files, written once per process into a private directory. */
static void write_files(void)
{
	if (conf_path[0])
		return;
	const char *tmp = getenv("TMPDIR");
	char dir[4000];
	snprintf(dir, sizeof dir, "%s/sd-tinyproxy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("sd-tinyproxy glue: mkdtemp");
		exit(2);
	}
	char filter[4096];
	snprintf(filter, sizeof filter, "%s/filter", dir);
	snprintf(conf_path, sizeof conf_path, "%s/tinyproxy.conf", dir);
	FILE *f = fopen(filter, "w");
	if (!f || fputs("blocked\\.test\n", f) < 0 || fclose(f) != 0) {
		perror("sd-tinyproxy glue: filter file");
		exit(2);
	}
	/* No LogFile: it logs to stdout, and only critical messages. No User/Group: as root it
	 * would otherwise switch the whole fuzzer's uid. Timeout well below the driver's 600 s. */
	f = fopen(conf_path, "w");
	if (!f ||
	    fprintf(f,
		    "Port %d\n"
		    "Timeout 60\n"
		    "MaxClients 16\n"
		    "LogLevel Critical\n"
		    "Allow 127.0.0.1\n"
		    "XTinyproxy Yes\n"
		    "ViaProxyName \"tinyproxy\"\n"
		    "StatHost \"tinyproxy.stats\"\n"
		    "ConnectPort 443\n"
		    "ConnectPort %d\n"
		    "Filter \"%s\"\n",
		    PROXY_PORT, UPSTREAM_PORT, filter) < 0 ||
	    fclose(f) != 0) {
		perror("sd-tinyproxy glue: config file");
		exit(2);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k, n -= (size_t)k;
	}
	return 0;
}

/* Answers one connection: reads the request head and replies with headers only (no body,
 * so a relay cut short by the client's half-close loses nothing): X-Request holds the
 * request line as received, X-Headers the names of the headers in order. */
static void upstream_answer(int c)
{
	char buf[1024];
	size_t n = 0;
	char *end = NULL;
	while (n < sizeof buf - 1 && !end) {
		ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (end) {
		char names[512] = "", reply[sizeof buf + sizeof names + 128];
		*end = '\0';
		char *eol = strstr(buf, "\r\n"), *h = NULL; /* none: a request line alone */
		if (eol) {
			*eol = '\0';
			h = eol + 2;
		}
		while (h && *h) {
			char *next = strstr(h, "\r\n"), *colon;
			if (next)
				*next = '\0';
			if ((colon = strchr(h, ':')) != NULL) {
				*colon = '\0';
				if (names[0])
					strncat(names, ",", sizeof names - strlen(names) - 1);
				strncat(names, h, sizeof names - strlen(names) - 1);
			}
			h = next ? next + 2 : NULL;
		}
		int len = snprintf(reply, sizeof reply,
				   "HTTP/1.0 200 OK\r\nX-Request: %s\r\nX-Headers: %s\r\n"
				   "Content-Length: 0\r\n\r\n",
				   buf, names);
		if (write_all(c, reply, (size_t)len) == 0)
			shutdown(c, SHUT_WR);
		/* Whatever else comes (a request body) is read, so closing sends no RST. */
		for (int i = 0; i < 64 && read(c, buf, sizeof buf) > 0; i++)
			;
	}
	close(c);
}

static void *upstream(void *arg)
{
	int l = (int)(intptr_t)arg;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c >= 0)
			upstream_answer(c);
		else if (errno != EINTR && errno != ECONNABORTED)
			return NULL;
	}
}

static void serve(void *arg)
{
	(void)arg;
	/* The upstream listens before the proxy starts, so its first client finds it. */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(UPSTREAM_PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
	pthread_t t;
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0 ||
	    pthread_create(&t, NULL, upstream, (void *)(intptr_t)l) != 0) {
		perror("sd-tinyproxy glue: upstream");
		exit(2);
	}
	pthread_detach(t);
	optind = 1; /* getopt's state is the C library's: start as a fresh process does */
	char *av[] = {"tinyproxy", "-d", "-c", conf_path, NULL};
	sd_server_main(4, av);
}

static const char *const reqs[] = {
	"GET http://tinyproxy.stats/ HTTP/1.0\r\n\r\n",
	"FOO\r\n\r\n",
	"CONNECT 127.0.0.1:25 HTTP/1.0\r\n\r\n",
	"GET http://127.0.0.1:8081/a?b HTTP/1.0\r\nUser-Agent: t\r\n\r\n",
	"GET http://no.such.host/ HTTP/1.0\r\n\r\n",
	"GET http://127.0.0.1:9/ HTTP/1.0\r\n\r\n",
	"GET http://blocked.test/ HTTP/1.0\r\n\r\n",
	"CONNECT 127.0.0.1:8081 HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: tinyproxy.stats\r\n\r\n",
	"HEAD http://127.0.0.1:8081/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	/* for dialogs: a request through a CONNECT tunnel to the origin (session oracle only) */
	"GET /t HTTP/1.0\r\n\r\n",
};

#define NREQ (sizeof reqs / sizeof reqs[0])

/* The replies. '#' stands for one or more digits: the Date header and the counters. */
#define ERRPAGE(code, title, detail)                                                               \
	"HTTP/1.0 " code " " title "\r\nServer: tinyproxy/1.11.1\r\n"                              \
	"Content-Type: text/html\r\nConnection: close\r\n\r\n"                                     \
	"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD "        \
	"XHTML 1.1//EN\" \"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">\n<html>\n"              \
	"<head><title>" code " " title "</title></head>\n<body>\n<h1>" title "</h1>\n<p>" detail   \
	"</p>\n<hr />\n<p><em>Generated by tinyproxy version 1.11.1.</em></p>\n"                   \
	"</body>\n</html>\n"

#define STATS                                                                                      \
	"HTTP/1.0 200 OK\r\nServer: tinyproxy/1.11.1\r\nContent-type: text/html\r\n"               \
	"Connection: close\r\nDate: Mon, 01 Jan 2024 #:#:# GMT\r\nContent-length: #\r\n\r\n"       \
	"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD "        \
	"XHTML 1.1//EN\" \"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">\n<html>\n"              \
	"<head><title>tinyproxy version 1.11.1 run-time statistics</title></head>\n<body>\n"       \
	"<h1>tinyproxy version 1.11.1 run-time statistics</h1>\n<p>\n"                             \
	"Number of open connections: #<br />\nNumber of requests: #<br />\n"                       \
	"Number of bad connections: #<br />\nNumber of denied connections: #<br />\n"              \
	"Number of refused connections due to high load: #\n</p>\n<hr />\n"                        \
	"<p><em>Generated by tinyproxy version 1.11.1.</em></p>\n</body>\n</html>\n"

#define UNABLE                                                                                     \
	ERRPAGE("500", "Unable to connect",                                                        \
		"Tinyproxy was unable to connect to the remote web server.")

static const char *const replies[NREQ] = {
	STATS,
	ERRPAGE("400", "Bad Request", "Request has an invalid format"),
	ERRPAGE("403", "Access violation",
		"The CONNECT method not allowed with the port you tried to use."),
	"HTTP/1.0 200 OK\r\nVia: 1.0 tinyproxy (tinyproxy/1.11.1)\r\n"
	"X-Request: GET /a?b HTTP/1.0\r\nX-Headers: Host,Connection,Via,User-Agent,X-Tinyproxy\r\n"
	"Content-Length: 0\r\n\r\n",
	UNABLE,
	UNABLE,
	ERRPAGE("403", "Filtered", "The request you made has been filtered"),
	"HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n",
	STATS,
	"HTTP/1.0 200 OK\r\nVia: 1.1 tinyproxy (tinyproxy/1.11.1)\r\n"
	"X-Request: HEAD / HTTP/1.1\r\nX-Headers: Host,Connection,Via,X-Tinyproxy\r\n"
	"Content-Length: 0\r\n\r\n",
	NULL,
};

static int check(int which, const unsigned char *q, size_t ql, const unsigned char *r, size_t rl)
{
	/* Raw bytes: to a well-formed HTTP/1 request line tinyproxy's own answers and the
	 * upstream's all start with a status line (anything else it may answer as HTTP/0.9, with
	 * the page alone); no answer at all is fine too (a request never finished, a tunnel
	 * closed). */
	if (which < 0 || !replies[which])
		return rl > 0 && http1_request(q, ql) && memcmp(r, "HTTP/1.", rl < 7 ? rl : 7) != 0;
	return !sd_reply_matches(replies[which], r, rl);
}

/* Any dialog: HTTP responses (a proxy's 5xx are its answers about upstreams). */
static int check_session(void *arg, const struct sd_fuzz_session *s)
{
	(void)arg;
	return sd_http_session_bad(s, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	write_files();
	struct sd_fuzz_server s = {.serve = serve,
				   .port = PROXY_PORT,
				   .requests = reqs,
				   .nrequests = NREQ,
				   .check = check,
				   .check_session = check_session};
	return sd_fuzz_server_run(&s, d, n);
}
