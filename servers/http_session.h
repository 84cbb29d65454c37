/* Glue helper for servers/: the session oracle of an HTTP server or proxy (fuzz.h
 * check_session): whatever a dialog sent, an HTTP/1 request is answered with HTTP responses. */
#ifndef SD_SERVERS_HTTP_SESSION_H
#define SD_SERVERS_HTTP_SESSION_H

#include <string.h>

#include <sockdrill/fuzz.h>

/* 1 when the first line sent is a well-formed HTTP/1 request line, "METHOD SP TARGET SP
 * HTTP/1.x CRLF" with single spaces, an upper-case method and a target of visible characters:
 * one an HTTP/1 server answers with a status line. Anything else (no version, two spaces,
 * control bytes) a server may take for HTTP/0.9 and answer with the body alone. */
static inline int http1_request(const unsigned char *p, size_t n)
{
	size_t i = 0, t;
	while (i < n && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i == 0 || i >= n || p[i++] != ' ')
		return 0;
	for (t = i; i < n && p[i] > ' ' && p[i] < 127; i++)
		;
	if (i == t || i >= n || p[i++] != ' ')
		return 0;
	return n - i >= 10 && !memcmp(p + i, "HTTP/1.", 7) &&
	       (p[i + 7] == '0' || p[i + 7] == '1') && p[i + 8] == '\r' && p[i + 9] == '\n';
}

/* Non-zero when the reply is not an HTTP response stream: not empty, it starts with a status
 * line "HTTP/1.0 NNN " or "HTTP/1.1 NNN " (cut short only where the client or a fault ended
 * the connection first); with no_500, and no faults on, the first status is not 500 Internal
 * Server Error (a server of static files has no reason for it; 501, 505, ... answer the
 * request). Weak by design: what the requests
 * were is not parsed here; `check` judges single requests exactly. */
static inline int sd_http_session_bad(const struct sd_fuzz_session *s, int no_500)
{
	const unsigned char *r = s->reply;
	if (!s->replylen || !http1_request(s->sent, s->sentlen))
		return 0; /* HTTP/0.9 is answered with the body alone */
	if (s->replylen < 13)
		return s->eof && !s->faults && !s->err &&
		       memcmp(r, "HTTP/1.1 000 ", s->replylen) != 0;
	if (memcmp(r, "HTTP/1.", 7) != 0 || (r[7] != '0' && r[7] != '1') || r[8] != ' ' ||
	    r[12] != ' ')
		return 1;
	for (int i = 9; i < 12; i++)
		if (r[i] < '0' || r[i] > '9')
			return 1;
	return no_500 && !s->faults && !memcmp(r + 9, "500", 3);
}

#endif
