/* lighttpd (Debian bookworm), unchanged, fuzzed in-process on the sim: `lighttpd -D -f CONF`
 * with its epoll event handler on 127.0.0.1:8080, static modules (servers/lighttpd/build.sh)
 * and a docroot in a private temporary directory. The requests are a static-file session
 * (GET, HEAD, ranges, an alias, a directory redirect, 403, 404 from an error file, 400s and two
 * requests in one message); the oracle knows each reply exactly, up to the Date header's time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#include "../http_session.h"
#include "../reply_pattern.h"

int sd_server_main(int argc, char **argv);

#define PORT 8080

/* big.bin: more than 1 MiB, so a whole reply takes many sendfile calls; line i is i in 15
 * digits and a newline, so any range of it is known. */
#define BIG_LINES 100000

static char dir[4000], conf[4096];

static void glue_fail(const char *what)
{
	fprintf(stderr, "sockdrill: lighttpd glue: %s: %m (harness error)\n", what);
	fflush(stdout);
	_exit(2);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void remove_tree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void remove_dir(void) { remove_tree(dir); }

/* A process that ends without exit() (AFL++ kills its target, a finding aborts) leaves its
 * directory: the next one removes those of ours whose process is gone. */
static void remove_stale(const char *tmp)
{
	DIR *d = opendir(tmp);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		long pid;
		char path[4200], x;
		struct stat st;
		if (sscanf(e->d_name, "sd-lighttpd-%ld-%c", &pid, &x) != 2 || pid <= 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
		if (kill((pid_t)pid, 0) != 0 && errno == ESRCH && lstat(path, &st) == 0 &&
		    S_ISDIR(st.st_mode) && st.st_uid == getuid())
			remove_tree(path);
	}
	closedir(d);
}

/* A file under dir, dated 2024-01-01 00:00:00 UTC, so Last-Modified is the same on every run. */
static FILE *create(const char *name)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		glue_fail(path);
	return f;
}

static void finish(FILE *f, const char *name)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct timespec t[2] = {{1704067200, 0}, {1704067200, 0}};
	if (ferror(f) || fclose(f) != 0 || utimensat(AT_FDCWD, path, t, 0) != 0)
		glue_fail(path);
}

static void put(const char *name, const char *text)
{
	FILE *f = create(name);
	fputs(text, f);
	finish(f, name);
}

static void setup(void)
{
	if (conf[0])
		return;
	const char *tmp = getenv("TMPDIR");
	tmp = tmp && *tmp ? tmp : "/tmp";
	remove_stale(tmp);
	snprintf(dir, sizeof dir, "%s/sd-lighttpd-%ld-XXXXXX", tmp, (long)getpid());
	if (!mkdtemp(dir))
		glue_fail("mkdtemp");
	atexit(remove_dir);
	static const char *const dirs[] = {"www", "www/dir"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", dir, dirs[i]);
		if (mkdir(path, 0755) != 0)
			glue_fail(path);
	}
	put("www/index.html", "<html>index</html>\n");
	put("www/file.txt", "hello from lighttpd\n");
	put("www/dir/a.txt", "a\n");
	put("err-404.html", "not found\n");
	put("err-400.html", "bad request\n");
	FILE *f = create("www/big.bin");
	for (int i = 0; i < BIG_LINES; i++)
		fprintf(f, "%015d\n", i);
	finish(f, "www/big.bin");

	/* The error log goes nowhere unless asked for (SD_LIGHTTPD_ERRORLOG=/dev/stderr, say). */
	const char *log = getenv("SD_LIGHTTPD_ERRORLOG");
	const char *status_html = getenv("SD_LIGHTTPD_STATUS_HTML");
	f = create("lighttpd.conf");
	fprintf(f,
		"server.document-root = \"%s/www\"\n"
		"server.bind = \"127.0.0.1\"\n"
		"server.port = %d\n"
		"server.event-handler = \"linux-sysepoll\"\n"
		"server.network-backend = \"sendfile\"\n"
		"server.errorlog = \"%s\"\n"
		"server.tag = \"lighttpd\"\n"
		"server.errorfile-prefix = \"%s/err-\"\n"
		"server.modules = (\"mod_access\", \"mod_alias\", \"mod_setenv\", \"mod_status\",\n"
		"  \"mod_indexfile\", \"mod_dirlisting\", \"mod_staticfile\")\n"
		"index-file.names = (\"index.html\")\n"
		"dir-listing.activate = \"enable\"\n"
		"static-file.etags = \"disable\"\n"
		"url.access-deny = (\"~\", \".inc\")\n"
		"alias.url = (\"/alias/\" => \"%s/www/dir/\")\n"
		"setenv.add-response-header = (\"X-Sd\" => \"1\")\n"
		"status.status-url = \"/server-status\"\n"
		"%s"
		"status.config-url = \"/server-config\"\n"
		"mimetype.assign = (\".txt\" => \"text/plain\", \".html\" => \"text/html\",\n"
		"  \".bin\" => \"application/octet-stream\")\n",
		dir, PORT, log && *log ? log : "/dev/null", dir, dir,
		/* The status page in HTML divides by the uptime, 0 in the first second: a real
		 * lighttpd bug (docs/server-findings.md), found, confirmed and written up. Fuzzing
		 * goes on past it: that page is off (the ?auto page stays) unless
		 * SD_LIGHTTPD_STATUS_HTML=1 asks for it, to replay the finding. */
		status_html && *status_html == '1'
			? ""
			: "$HTTP[\"querystring\"] != \"auto\" { status.status-url = \"\" }\n");
	finish(f, "lighttpd.conf");
	snprintf(conf, sizeof conf, "%s/lighttpd.conf", dir);
}

static void serve(void *arg)
{
	(void)arg;
	optind = 1; /* getopt's state is the C library's: start as a fresh process does */
	char *av[] = {"lighttpd", "-D", "-f", conf, NULL};
	sd_server_main(4, av);
}

#define KEEP_ALIVE_1 "GET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n"
#define KEEP_ALIVE_2 "HEAD /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

static const char *const reqs[] = {
	"GET / HTTP/1.0\r\n\r\n",
	"GET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n",
	"HEAD /file.txt HTTP/1.0\r\n\r\n",
	"GET /missing HTTP/1.0\r\n\r\n",
	KEEP_ALIVE_1 KEEP_ALIVE_2,
	"GET / HTTP/1.1\r\n\r\n",
	"BLAH\r\n\r\n",
	"GET /file.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-4\r\n\r\n",
	"GET /alias/a.txt HTTP/1.0\r\n\r\n",
	"GET /dir HTTP/1.0\r\n\r\n",
	"GET /x.inc HTTP/1.0\r\n\r\n",
	"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1048576-1048607\r\n\r\n",
	/* for dialogs: a POST body on a keep-alive connection (the session oracle judges it) */
	"POST /file.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
};

#define NREQ (sizeof reqs / sizeof reqs[0])

/* The replies. '#' stands for one or more digits (the Date header's time). */
#define DATE    "Date: Mon, 01 Jan 2024 #:#:# GMT\r\nServer: lighttpd\r\n\r\n"
#define LASTMOD "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
#define FILE_TXT                                                                                   \
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" LASTMOD                                  \
	"Content-Length: 20\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n" DATE "hello from lighttpd\n"
#define FORBIDDEN                                                                                  \
	"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD "    \
	"XHTML 1.0 Transitional//EN\"\n         \"http://www.w3.org/TR/xhtml1/DTD/"                \
	"xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "                \
	"xml:lang=\"en\" "                                                                         \
	"lang=\"en\">\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n  <h1>403 "     \
	"Forbidden</h1>\n </body>\n</html>\n"

static const char *const replies[NREQ] = {
	"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n" LASTMOD
	"Content-Length: 19\r\nX-Sd: 1\r\nConnection: close\r\n" DATE "<html>index</html>\n",
	FILE_TXT,
	"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n" LASTMOD
	"Content-Length: 20\r\nX-Sd: 1\r\nConnection: close\r\n" DATE,
	"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nX-Sd: 1\r\nContent-Length: 10\r\n"
	"Connection: close\r\n" DATE "not found\n",
	FILE_TXT
	"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" LASTMOD
	"Content-Length: 19\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\nConnection: close\r\n" DATE,
	"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 12\r\n"
	"Connection: close\r\n" DATE "bad request\n",
	"HTTP/1.0 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 12\r\n"
	"Connection: close\r\n" DATE "bad request\n",
	"HTTP/1.1 206 Partial Content\r\nContent-Type: text/plain\r\n" LASTMOD
	"Content-Length: 5\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\nContent-Range: bytes "
	"0-4/20\r\n" DATE "hello",
	"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n" LASTMOD
	"Content-Length: 2\r\nX-Sd: 1\r\nConnection: close\r\n" DATE "a\n",
	"HTTP/1.0 301 Moved Permanently\r\nLocation: /dir/\r\nX-Sd: 1\r\nContent-Length: 0\r\n"
	"Connection: close\r\n" DATE,
	"HTTP/1.0 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 341\r\n"
	"Connection: close\r\n" DATE FORBIDDEN,
	"HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n" LASTMOD
	"Content-Length: 32\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n"
	"Content-Range: bytes 1048576-1048607/1600000\r\n" DATE
	"000000000065536\n000000000065537\n",
	NULL,
};

static int check(int which, const unsigned char *q, size_t ql, const unsigned char *r, size_t rl)
{
	(void)q, (void)ql;
	if (which < 0 || !replies[which]) /* raw bytes: whatever lighttpd makes of them */
		return 0;
	return !sd_reply_matches(replies[which], r, rl);
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
				   .nrequests = NREQ,
				   .check = check,
				   .check_session = check_session};
	return sd_fuzz_server_run(&s, d, n);
}
