/* nginx (Debian bookworm 1.22) in-process: one process, one thread, epoll, static files. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "../http_session.h"

int sd_server_main(int argc, char **argv);

#define PORT 8080

/* The docroot's files; their mtime is fixed, so Last-Modified and ETag are too. */
static const char index_body[] = "<p>sockdrill</p>\n";
static const char file_body[] = "hello from nginx\n";
#define MTIME 1704067200 /* 2024-01-01 00:00:00 UTC: Last-Modified, and ETag's 65920080 */

/* The temp dir: under TMPDIR when that is shorter than DIR_MAX (else /tmp), so every path
 * below fits its buffer. */
#define DIR_MAX 400
static char dir[DIR_MAX + 32];

static void put(const char *name, const char *text)
{
	char path[sizeof dir + 32];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	struct timespec t[2] = {{MTIME, 0}, {MTIME, 0}};
	utimensat(AT_FDCWD, path, t, 0);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* The temp dir goes when the fuzzer exits normally (a crash leaves it for a look). */
static void remove_dir(void) { nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

/* The prefix, config and docroot, once per process: the pid file, the client body temp
 * directory and (with -e) the start-up log all live in it, never under nginx's own prefix. */
static void setup(void)
{
	if (dir[0])
		return;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/sd-nginx-XXXXXX",
		 t && *t && strlen(t) < DIR_MAX ? t : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(remove_dir);
	char conf[2 * sizeof dir + 512], www[sizeof dir + 8];
	snprintf(www, sizeof www, "%s/www", dir);
	mkdir(www, 0755);
	snprintf(conf, sizeof conf,
		 "master_process off;\n"
		 "daemon off;\n"
		 "worker_processes 1;\n"
		 "error_log stderr crit;\n"
		 "events { use epoll; worker_connections 64; }\n"
		 "http {\n"
		 "  access_log off;\n"
		 "  sendfile on;\n"
		 "  server_tokens off;\n"
		 "  server { listen 127.0.0.1:%d; root %s; }\n"
		 "}\n",
		 PORT, www);
	put("nginx.conf", conf);
	put("www/index.html", index_body);
	put("www/file.txt", file_body);
}

static void serve(void *arg)
{
	(void)arg;
	char prefix[sizeof dir + 2], conf[sizeof dir + 16], pid[sizeof dir + 32];
	snprintf(prefix, sizeof prefix, "%s/", dir);
	snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
	/* A directive by -g: without one nginx copies its NULL parameters with memcpy, which
	 * UBSan stops at on every start (docs/server-findings.md, nginx). */
	snprintf(pid, sizeof pid, "pid %s/nginx.pid;", dir);
	char *av[] = {"nginx", "-p", prefix, "-c", conf, "-e", "stderr", "-g", pid, NULL};
	sd_server_main(9, av);
}

static const char *const reqs[] = {
	"GET / HTTP/1.0\r\n\r\n",
	"GET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n",
	"HEAD /file.txt HTTP/1.0\r\n\r\n",
	"GET /nope HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET /file.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=6-9\r\n\r\n",
	/* for dialogs: a POST body on a keep-alive connection (the session oracle judges it) */
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
};
#define NREQS (sizeof reqs / sizeof *reqs)

/* The replies, with "@" where the Date header's value stands (it follows the virtual clock). */
#define DATE    "Date: @\r\n"
#define LASTMOD "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
#define OK_INDEX                                                                                   \
	"HTTP/1.1 200 OK\r\nServer: nginx\r\n" DATE "Content-Type: text/html\r\n"                  \
	"Content-Length: 17\r\n" LASTMOD
#define OK_FILE                                                                                    \
	"HTTP/1.1 200 OK\r\nServer: nginx\r\n" DATE "Content-Type: text/plain\r\n"                 \
	"Content-Length: 17\r\n" LASTMOD
#define ETAG "ETag: \"65920080-11\"\r\nAccept-Ranges: bytes\r\n\r\n"
#define ERRPAGE(code)                                                                              \
	"<html>\r\n<head><title>" code "</title></head>\r\n<body>\r\n"                             \
	"<center><h1>" code "</h1></center>\r\n<hr><center>nginx</center>\r\n"                     \
	"</body>\r\n</html>\r\n"

static const char *const replies[NREQS] = {
	OK_INDEX "Connection: close\r\n" ETAG "<p>sockdrill</p>\n",
	OK_FILE "Connection: keep-alive\r\n" ETAG "hello from nginx\n",
	OK_FILE "Connection: close\r\n" ETAG,
	"HTTP/1.1 404 Not Found\r\nServer: nginx\r\n" DATE "Content-Type: text/html\r\n"
	"Content-Length: 146\r\nConnection: close\r\n\r\n" ERRPAGE("404 Not Found"),
	OK_INDEX "Connection: keep-alive\r\n" ETAG "<p>sockdrill</p>\n" OK_FILE
		 "Connection: keep-alive\r\n" ETAG "hello from nginx\n",
	"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n" DATE "Content-Type: text/html\r\n"
	"Content-Length: 150\r\nConnection: close\r\n\r\n" ERRPAGE("400 Bad Request"),
	"HTTP/1.1 206 Partial Content\r\nServer: nginx\r\n" DATE "Content-Type: text/plain\r\n"
	"Content-Length: 4\r\n" LASTMOD "Connection: keep-alive\r\nETag: \"65920080-11\"\r\n"
	"Content-Range: bytes 6-9/17\r\n\r\nfrom",
	NULL,
};

/* The Date header's value on the virtual clock: the first day of 2024, at any time of it. */
static int is_date(const unsigned char *p, size_t n)
{
	static const char form[] = "Mon, 01 Jan 2024 99:99:99 GMT";
	if (n < sizeof form - 1)
		return 0;
	for (size_t i = 0; i < sizeof form - 1; i++)
		if (form[i] == '9' ? p[i] < '0' || p[i] > '9' : p[i] != (unsigned char)form[i])
			return 0;
	return 1;
}

/* 0 when reply is want exactly, each "@" standing for a date. */
static int differs(const char *want, const unsigned char *r, size_t rl)
{
	size_t j = 0;
	for (const char *w = want; *w; w++) {
		if (*w == '@') {
			if (!is_date(r + j, rl - j))
				return 1;
			j += 29;
		} else if (j >= rl || r[j++] != (unsigned char)*w) {
			return 1;
		}
	}
	return j != rl;
}

/* A request gets its exact reply however it was cut or its reads and writes were shortened;
 * raw bytes may get anything (nginx answers most with 400, some as HTTP/0.9). */
static int check(int which, const unsigned char *q, size_t ql, const unsigned char *r, size_t rl)
{
	(void)q, (void)ql;
	if (which < 0 || !replies[which])
		return 0;
	return differs(replies[which], r, rl);
}

/* Any dialog: HTTP responses, and no 500 from a server of static files. */
static int check_session(void *arg, const struct sd_fuzz_session *s)
{
	(void)arg;
	return sd_http_session_bad(s, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	setup();
	struct sd_fuzz_server s = {.serve = serve,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = NREQS,
				   .check = check,
				   .check_session = check_session};
	return sd_fuzz_server_run(&s, d, n);
}
