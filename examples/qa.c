/* The seed example's logic: a poll-loop Q&A server and clients, all calls through sd_ops. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/addr.h>

#include "qa.h"

const char *sd_qa_answer_for(const char *line, size_t len)
{
	static const char q[] = SD_QA_QUESTION;
	if (len && line[len - 1] == '\r')
		len--; /* tolerate telnet-style CRLF */
	if (len == sizeof q - 2 && memcmp(line, q, len) == 0)
		return SD_QA_ANSWER;
	return SD_QA_UNKNOWN;
}

int sd_qa_server_addr(const char *host, unsigned port, int port_given,
		      struct sockaddr_storage *addr, socklen_t *len)
{
	struct sockaddr_storage other;
	socklen_t olen;
	if (port > 65535 || sd_addr_parse(host, (uint16_t)port, addr, len) < 0)
		return -EINVAL;
	/* Parsed again with another default port: the same port comes back only when HOST
	 * names one itself. */
	sd_addr_parse(host, (uint16_t)(port ^ 1), &other, &olen);
	if (port_given && sd_addr_port((struct sockaddr *)addr, *len) ==
				  sd_addr_port((struct sockaddr *)&other, olen))
		return -EEXIST;
	if (!sd_addr_is_loopback((struct sockaddr *)addr, *len))
		return -EPERM;
	return 0;
}

int sd_qa_listen(struct sd_net *net, const struct sockaddr *addr, socklen_t len, int backlog)
{
	int one = 1, rc;
	int fd = sd_socket(net, addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	/* As most servers do, so a restart does not trip over its own TIME_WAIT sockets. */
	rc = sd_setsockopt(net, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (rc == 0)
		rc = sd_bind(net, fd, addr, len);
	if (rc == 0)
		rc = sd_listen(net, fd, backlog);
	if (rc < 0) {
		sd_close(net, fd);
		return rc;
	}
	return fd;
}

/* ---- server -------------------------------------------------------------------------- */

struct conn {
	int fd;
	int eof;       /* peer finished sending */
	size_t inlen;  /* bytes of an unfinished line */
	size_t outlen; /* bytes queued, starting at out */
	char in[SD_QA_MAX_LINE];
	char out[256];
};

struct server {
	struct sd_net *net;
	struct sd_qa_server_stats *st;
	struct conn *conns; /* conns[i] goes with pfd[i + 1]; pfd[0] is the listener */
	struct pollfd *pfd;
	size_t n, cap;
};

static void note_error(int *first, unsigned long *count, int err)
{
	if (count)
		(*count)++;
	if (!*first)
		*first = err;
}

static void drop(struct server *s, size_t i)
{
	sd_close(s->net, s->conns[i].fd);
	s->st->closed++;
	s->n--;
	if (i != s->n) {
		s->conns[i] = s->conns[s->n];
		s->pfd[i + 1] = s->pfd[s->n + 1];
	}
}

static int grow(struct server *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct conn *c = realloc(s->conns, cap * sizeof *c);
	if (!c)
		return -ENOMEM;
	s->conns = c;
	struct pollfd *p = realloc(s->pfd, (cap + 1) * sizeof *p);
	if (!p)
		return -ENOMEM;
	s->pfd = p;
	s->cap = cap;
	return 0;
}

/* Takes every pending connection (bounded per round so clients are not starved). */
static void accept_some(struct server *s, int lfd)
{
	for (int round = 0; round < 1024; round++) {
		if (s->n == s->cap && grow(s) < 0)
			return;
		int fd = sd_accept(s->net, lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0) {
			if (fd != -EAGAIN && fd != -EINTR && fd != -ECONNABORTED)
				note_error(&s->st->first_error, &s->st->errors, fd);
			return;
		}
		s->st->accepted++;
		struct conn *c = &s->conns[s->n];
		c->fd = fd;
		c->eof = 0;
		c->inlen = c->outlen = 0;
		s->pfd[s->n + 1] = (struct pollfd){.fd = fd, .events = POLLIN};
		s->n++;
	}
}

/* Moves answers out; 0 to keep the connection, negative errno to drop it. */
static int flush(struct server *s, struct conn *c)
{
	while (c->outlen) {
		ssize_t k = sd_send(s->net, c->fd, c->out, c->outlen, 0);
		if (k == -EAGAIN || k == -EINTR)
			return 0;
		if (k < 0)
			return (int)k;
		s->st->bytes_out += (unsigned long)k;
		memmove(c->out, c->out + k, c->outlen - (size_t)k);
		c->outlen -= (size_t)k;
	}
	return 0;
}

/* Reads what is there and answers each complete line; <0 drops the connection. */
static int serve_input(struct server *s, struct conn *c)
{
	for (int round = 0; round < 16 && !c->eof; round++) {
		/* Leave room for one more answer before reading another question. */
		if (c->outlen + 64 > sizeof c->out)
			return 0;
		ssize_t k = sd_recv(s->net, c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
		if (k == -EAGAIN || k == -EINTR)
			return 0;
		if (k < 0)
			return (int)k;
		if (k == 0) {
			c->eof = 1;
			break;
		}
		s->st->bytes_in += (unsigned long)k;
		c->inlen += (size_t)k;
		char *nl;
		while ((nl = memchr(c->in, '\n', c->inlen)) && c->outlen + 64 <= sizeof c->out) {
			size_t line = (size_t)(nl - c->in);
			const char *a = sd_qa_answer_for(c->in, line);
			size_t alen = strlen(a);
			memcpy(c->out + c->outlen, a, alen);
			c->outlen += alen;
			s->st->answered++;
			memmove(c->in, nl + 1, c->inlen - line - 1);
			c->inlen -= line + 1;
		}
		if (c->inlen == sizeof c->in)
			return -EMSGSIZE; /* a "line" longer than any question */
	}
	return 0;
}

int sd_qa_serve(struct sd_net *net, int lfd, const struct sd_qa_server_opts *o,
		struct sd_qa_server_stats *st)
{
	struct server s = {.net = net, .st = st};
	int idle = 0, rc = 0;

	memset(st, 0, sizeof *st);
	if (grow(&s) < 0)
		return -ENOMEM;
	while (!(o->stop && atomic_load(o->stop))) {
		if (o->max_clients && st->closed >= o->max_clients)
			break;
		s.pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
		int ready = sd_poll(net, s.pfd, s.n + 1, o->poll_ms);
		if (ready == -EINTR)
			continue;
		if (ready < 0) {
			rc = ready;
			break;
		}
		if (ready == 0) {
			if (++idle >= o->idle_polls)
				break;
			continue;
		}
		idle = 0;
		/* Walk backwards so drop() (which moves the last entry into i) is safe. */
		for (size_t i = s.n; i-- > 0;) {
			struct conn *c = &s.conns[i];
			short re = s.pfd[i + 1].revents;
			int r = 0;
			if (re & (POLLIN | POLLHUP | POLLERR))
				r = serve_input(&s, c);
			if (r == 0)
				r = flush(&s, c);
			if (r < 0) {
				if (r != -ECONNRESET && r != -EPIPE)
					note_error(&st->first_error, &st->errors, r);
				drop(&s, i);
				continue;
			}
			if (c->eof && c->outlen == 0) {
				drop(&s, i);
				continue;
			}
			s.pfd[i + 1].events =
				(short)((c->eof ? 0 : POLLIN) | (c->outlen ? POLLOUT : 0));
		}
		if (s.pfd[0].revents & POLLIN)
			accept_some(&s, lfd);
	}
	while (s.n)
		drop(&s, s.n - 1);
	free(s.conns);
	free(s.pfd);
	return rc;
}

/* ---- clients ------------------------------------------------------------------------- */

enum cstate { C_CONNECTING, C_SENDING, C_RECEIVING };

struct client {
	int fd;
	enum cstate state;
	size_t sent, got;
	char buf[128];
};

struct clients {
	struct sd_net *net;
	struct sd_qa_client_stats *st;
	const struct sockaddr *addr;
	socklen_t len;
	unsigned long per_source, index;
};

static void client_fail(struct clients *cs, struct client *c, int err)
{
	if (c->fd >= 0)
		sd_close(cs->net, c->fd);
	c->fd = -1;
	note_error(&cs->st->first_error, &cs->st->failed, err);
}

/* Advances one client as far as it can go without blocking; returns 1 when it is done
 * (successfully or not), 0 when it waits for the events it left in *events. */
static int client_step(struct clients *cs, struct client *c, short *events)
{
	static const char q[] = SD_QA_QUESTION;
	static const char a[] = SD_QA_ANSWER;

	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		int rc = sd_getsockopt(cs->net, c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (rc < 0 || err) {
			client_fail(cs, c, rc < 0 ? rc : -err);
			return 1;
		}
		/* Still in progress: a non-blocking connect is done once writable. */
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		if (sd_getpeername(cs->net, c->fd, (struct sockaddr *)&peer, &pl) == -ENOTCONN) {
			*events = POLLOUT;
			return 0;
		}
		c->state = C_SENDING;
	}
	if (c->state == C_SENDING) {
		while (c->sent < sizeof q - 1) {
			ssize_t k = sd_send(cs->net, c->fd, q + c->sent, sizeof q - 1 - c->sent, 0);
			if (k == -EAGAIN || k == -EINTR) {
				*events = POLLOUT;
				return 0;
			}
			if (k < 0) {
				client_fail(cs, c, (int)k);
				return 1;
			}
			c->sent += (size_t)k;
			cs->st->bytes_out += (unsigned long)k;
		}
		c->state = C_RECEIVING;
	}
	for (;;) {
		ssize_t k = sd_recv(cs->net, c->fd, c->buf + c->got, sizeof c->buf - c->got, 0);
		if (k == -EAGAIN || k == -EINTR) {
			*events = POLLIN;
			return 0;
		}
		if (k <= 0) {
			client_fail(cs, c, k < 0 ? (int)k : -EPROTO);
			return 1;
		}
		cs->st->bytes_in += (unsigned long)k;
		c->got += (size_t)k;
		if (memchr(c->buf, '\n', c->got) || c->got == sizeof c->buf)
			break;
	}
	if (c->got != sizeof a - 1 || memcmp(c->buf, a, c->got) != 0) {
		client_fail(cs, c, -EPROTO);
		return 1;
	}
	sd_close(cs->net, c->fd);
	c->fd = -1;
	cs->st->ok++;
	return 1;
}

static int client_start(struct clients *cs, struct client *c, short *events)
{
	memset(c, 0, sizeof *c);
	c->fd = sd_socket(cs->net, cs->addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		client_fail(cs, c, c->fd);
		return 1;
	}
	unsigned long i = cs->index++;
	if (cs->per_source && cs->addr->sa_family == AF_INET) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i / cs->per_source));
		int brc = sd_bind(cs->net, c->fd, (struct sockaddr *)&src, sizeof src);
		if (brc < 0) {
			client_fail(cs, c, brc);
			return 1;
		}
	}
	int rc = sd_connect(cs->net, c->fd, cs->addr, cs->len);
	if (rc == -EINPROGRESS || rc == -EAGAIN) {
		c->state = C_CONNECTING;
		*events = POLLOUT;
		return 0;
	}
	if (rc < 0) {
		client_fail(cs, c, rc);
		return 1;
	}
	c->state = C_SENDING;
	return client_step(cs, c, events);
}

int sd_qa_run_clients(struct sd_net *net, const struct sockaddr *addr, socklen_t len,
		      const struct sd_qa_client_opts *o, struct sd_qa_client_stats *st)
{
	struct clients cs = {
		.net = net, .st = st, .addr = addr, .len = len, .per_source = o->per_source};
	unsigned long started = 0, n = o->clients, concurrency = o->concurrency;
	int poll_ms = o->poll_ms, idle_polls = o->idle_polls;
	size_t active = 0;
	int idle = 0;

	memset(st, 0, sizeof *st);
	if (concurrency == 0 || concurrency > n)
		concurrency = n ? n : 1;
	struct client *cl = calloc(concurrency, sizeof *cl);
	struct pollfd *pfd = calloc(concurrency, sizeof *pfd);
	if (!cl || !pfd) {
		free(cl);
		free(pfd);
		return -ENOMEM;
	}
	while (started < n || active) {
		if (o->progress)
			o->progress(o->progress_arg, st);
		while (active < concurrency && started < n) {
			short ev = 0;
			started++;
			if (!client_start(&cs, &cl[active], &ev)) {
				pfd[active] = (struct pollfd){.fd = cl[active].fd, .events = ev};
				active++;
			}
		}
		if (!active)
			continue;
		int ready = sd_poll(net, pfd, active, poll_ms);
		if (ready == -EINTR)
			continue;
		if (ready < 0 || (ready == 0 && ++idle >= idle_polls)) {
			for (size_t i = 0; i < active; i++)
				client_fail(&cs, &cl[i], ready < 0 ? ready : -ETIMEDOUT);
			st->failed += n - started;
			break;
		}
		if (ready == 0)
			continue;
		idle = 0;
		for (size_t i = active; i-- > 0;) {
			short ev = 0;
			if (!pfd[i].revents)
				continue;
			if (!client_step(&cs, &cl[i], &ev)) {
				pfd[i].events = ev;
				continue;
			}
			active--;
			cl[i] = cl[active];
			pfd[i] = pfd[active];
		}
	}
	free(cl);
	free(pfd);
	if (o->progress)
		o->progress(o->progress_arg, st);
	return st->failed ? -EPROTO : 0;
}

int sd_qa_ask(struct sd_net *net, const struct sockaddr *addr, socklen_t len, char *answer,
	      size_t cap)
{
	static const char q[] = SD_QA_QUESTION;
	size_t sent = 0, got = 0;
	int fd = sd_socket(net, addr->sa_family, SOCK_STREAM, 0);
	int rc = fd < 0 ? fd : sd_connect(net, fd, addr, len);

	while (rc == 0 && sent < sizeof q - 1) {
		ssize_t k = sd_send(net, fd, q + sent, sizeof q - 1 - sent, 0);
		if (k < 0 && k != -EINTR)
			rc = (int)k;
		else if (k > 0)
			sent += (size_t)k;
	}
	while (rc == 0 && got + 1 < cap && !memchr(answer, '\n', got)) {
		ssize_t k = sd_recv(net, fd, answer + got, cap - 1 - got, 0);
		if (k == 0)
			rc = -EPROTO;
		else if (k < 0 && k != -EINTR)
			rc = (int)k;
		else if (k > 0)
			got += (size_t)k;
	}
	if (cap)
		answer[got < cap ? got : cap - 1] = 0;
	if (rc == 0 && !memchr(answer, '\n', got))
		rc = -EPROTO;
	if (fd >= 0)
		sd_close(net, fd);
	return rc;
}
