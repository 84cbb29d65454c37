/* sockdrill: the in-process server fuzz driver (include/sockdrill/fuzz.h): a fresh sim per
 * input, the server as an actor, clients and faults decided by the input, an oracle. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/fault.h>
#include <sockdrill/fuzz.h>
#include <sockdrill/sockdrill.h>

#include "fuzz_input.h"
#include "fuzz_plan.h"
#include "inproc.h"
#include "libc/fresh.h"
#include "libc/proc.h"
#include "libc/threads.h"

/* How long clients may take, in virtual time, before a run counts as stuck: long enough for
 * a server's own idle timeouts (300 s is common) to end a connection first. */
#define CLIENT_LIMIT_NS (600 * 1000000000LL)
/* How long a server may take, in virtual time, to listen on its port after it started. */
#define STARTUP_LIMIT_NS (30 * 1000000000LL)

struct client {
	struct sd_fuzz_plan_client q; /* what it sends, and how */
	struct sd_net *net;
	const struct sd_fuzz_server *srv;
	int id, port, err; /* err: the first failed call's negative errno, or 0 */
	size_t sent;       /* bytes of q.msg the sim took */
	/* The reply: its first SD_FUZZ_MAX_REPLY bytes held in got (cap bytes, kept from one
	 * input to the next), total counting all of them. */
	unsigned char *got, *spill; /* spill: SPILL bytes, for what is beyond the bound */
	size_t gotlen, cap, total;
	/* on_reply refused the reply at byte refused_at (SIZE_MAX: it did not): the piece of
	 * refused_len bytes, the first of them kept in refused (0: at the end). */
	size_t refused_at, refused_len;
	unsigned char refused[128];
};

#define SPILL   65536 /* receive size beyond the bound */
#define EXCERPT 256   /* bytes of a reply a finding shows */

/* Where the next received bytes go, and how many fit: the held reply while below the bound
 * (grown by doubling), else the spill buffer. NULL when out of memory. */
static unsigned char *room(struct client *c, size_t *n)
{
	if (c->total < SD_FUZZ_MAX_REPLY) {
		if (c->gotlen == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 4096;
			if (cap > SD_FUZZ_MAX_REPLY)
				cap = SD_FUZZ_MAX_REPLY;
			unsigned char *g = realloc(c->got, cap);
			if (!g)
				return NULL;
			c->got = g, c->cap = cap;
		}
		*n = c->cap - c->gotlen;
		return c->got + c->gotlen;
	}
	if (!c->spill && !(c->spill = malloc(SPILL)))
		return NULL;
	*n = SPILL;
	return c->spill;
}

/* Hands received bytes to the streaming oracle until it refuses (bytes NULL: the end). */
static void stream(struct client *c, const unsigned char *bytes, size_t n)
{
	if (!c->srv->on_reply || c->refused_at != SIZE_MAX ||
	    !c->srv->on_reply(c->srv->arg, c->id, c->q.which, bytes, bytes ? n : c->total))
		return;
	c->refused_at = c->total;
	c->refused_len = bytes ? n : 0;
	memcpy(c->refused, bytes ? bytes : c->refused,
	       c->refused_len < sizeof c->refused ? c->refused_len : sizeof c->refused);
}

static void client_actor(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = sd_socket(c->net, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		c->err = fd;
	else /* the input's segmentation is for the server's side; a long reply comes whole */
		sd_sim_set_segment(c->net, fd, 0);
	if (fd < 0 || (c->err = sd_connect(c->net, fd, (struct sockaddr *)&a, sizeof a)) < 0)
		goto done;
	for (int i = 0; i < c->q.ncut; i++) {
		while (c->sent < c->q.cut[i]) {
			ssize_t k = sd_send(c->net, fd, c->q.msg + c->sent, c->q.cut[i] - c->sent,
					    MSG_NOSIGNAL);
			if (k <= 0) {
				c->err = (int)k;
				goto done;
			}
			c->sent += (size_t)k;
		}
		if (c->q.gap_us)
			sd_sleep_ns(c->net, (int64_t)c->q.gap_us * 1000);
	}
	sd_shutdown(c->net, fd, SHUT_WR);
	/* The reply, to its end, however long: held up to the bound, streamed all along. */
	for (;;) {
		size_t n;
		unsigned char *to = room(c, &n);
		ssize_t k = to ? sd_recv(c->net, fd, to, n, 0) : -ENOMEM;
		if (k <= 0) {
			if (k < 0)
				c->err = (int)k;
			break;
		}
		if (to != c->spill)
			c->gotlen += (size_t)k;
		stream(c, to, (size_t)k);
		c->total += (size_t)k;
	}
done:
	stream(c, NULL, 0);
	if (fd >= 0)
		sd_close(c->net, fd);
}

/* Bytes as a C string literal's contents, so a finding stays on one line. out holds
 * 4 * n + 1. */
static void escape(char *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = p[i];
		if (ch == '\r')
			*out++ = '\\', *out++ = 'r';
		else if (ch == '\n')
			*out++ = '\\', *out++ = 'n';
		else if (ch == '"' || ch == '\\')
			*out++ = '\\', *out++ = (char)ch;
		else if (ch < 32 || ch > 126)
			out += sprintf(out, "\\x%02x", ch);
		else
			*out++ = (char)ch;
	}
	*out = '\0';
}

/* Bytes as lower-case hex, for the transcript. */
static void hex(FILE *f, const unsigned char *p, size_t n)
{
	static const char digit[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		putc(digit[p[i] >> 4], f);
		putc(digit[p[i] & 15], f);
	}
}

/* SOCKDRILL_TRANSCRIPT=FILE: what each client sent and received, one JSON object a line,
 * written anew for every input once the clients are done and before any verdict, so an
 * input that is a finding leaves its transcript too (docs/inproc.md). */
static void write_transcript(const char *path, const struct client *cl, int n)
{
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "we");
	if (!f)
		sd__harness_error("SOCKDRILL_TRANSCRIPT: %s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		const struct client *c = &cl[i];
		fprintf(f, "{\"client\": %d, \"which\": %d, \"sent\": \"", i, c->q.which);
		hex(f, c->q.msg, c->sent);
		fputs("\", \"reply\": \"", f);
		hex(f, c->got, c->gotlen);
		if (c->total > c->gotlen) /* cut at the bound: the whole length */
			fprintf(f, "\", \"reply_bytes\": %zu", c->total);
		else
			putc('"', f);
		fprintf(f, ", \"err\": %d}\n", -c->err);
	}
	if (fclose(f) != 0)
		sd__harness_error("SOCKDRILL_TRANSCRIPT: %s: %s", path, strerror(errno));
}

/* n bytes as a quoted string, cut to `limit` bytes with "..." after the quote. out holds
 * 4 * limit + 6. */
static const char *quoted(char *out, const unsigned char *p, size_t n, size_t limit)
{
	out[0] = '"';
	escape(out + 1, p, n < limit ? n : limit);
	strcat(out, n > limit ? "\"..." : "\"");
	return out;
}

/* The oracles' verdict on one client: a finding says what it sent and shows at most EXCERPT
 * bytes of the reply. */
static void judge(const struct sd_fuzz_server *srv, const struct client *c)
{
	char sent[4 * SD_FUZZ_MAX_MSG + 6], got[4 * EXCERPT + 6];
	if (c->err == -ECONNREFUSED) /* it listened there at start-up (start_server) */
		FINDING("client %d: connection refused: the server no longer listens on "
			"127.0.0.1:%d",
			c->id, srv->port);
	quoted(sent, c->q.msg, c->q.len, SD_FUZZ_MAX_MSG);
	if (c->refused_at != SIZE_MAX && c->refused_len)
		FINDING("client %d sent %s and on_reply refused the reply at byte %zu: %s", c->id,
			sent, c->refused_at,
			quoted(got, c->refused, c->refused_len, sizeof c->refused));
	if (c->refused_at != SIZE_MAX)
		FINDING("client %d sent %s and on_reply refused the reply at its end (%zu bytes): "
			"%s",
			c->id, sent, c->total, quoted(got, c->got, c->total, EXCERPT));
	if (!srv->check)
		return;
	if (c->total > c->gotlen) { /* cut at the bound */
		if (!srv->on_reply)
			sd__harness_error(
				"client %d got a reply of %zu bytes, more than `check` is "
				"given (SD_FUZZ_MAX_REPLY, %u): judge replies this long with "
				"the streaming oracle `on_reply` (sockdrill/fuzz.h)",
				c->id, c->total, SD_FUZZ_MAX_REPLY);
		return; /* on_reply saw it all */
	}
	if (!srv->check(c->q.which, c->q.msg, c->q.len, c->got, c->gotlen))
		return;
	if (c->gotlen <= EXCERPT)
		FINDING("client %d sent %s and got %s", c->id, sent,
			quoted(got, c->got, c->gotlen, EXCERPT));
	FINDING("client %d sent %s and got %zu bytes: %s", c->id, sent, c->gotlen,
		quoted(got, c->got, c->gotlen, EXCERPT));
}

static struct sd_net *current;

struct sd_net *sd_fuzz_server_net(void) { return current; }

static int server_returned;

static void server_actor(void *arg)
{
	const struct sd_fuzz_server *srv = arg;
	srv->serve(srv->arg);
	server_returned = 1;
}

/* 1 when the server has ended itself with an expected status (the input is over), 0 when
 * it has not; an unexpected status is a finding. */
static int server_exited(const struct sd_fuzz_server *srv)
{
	int status;
	if (!sd__proc_exited(&status))
		return 0;
	if (srv->exit_expected ? !srv->exit_expected(status) : status != 0)
		FINDING("the server exited with status %d", status);
	return 1;
}

/* Start-up: the server runs alone until it blocks; then virtual time moves in growing steps
 * (1 ms, 2 ms, 4 ms, ...) until a client's connect to 127.0.0.1:port would find it listening. One
 * that exits first, returns without listening, or has not listened after STARTUP_LIMIT_NS is a
 * harness error: its clients could only be refused. Its actor id. */
static int start_server(const struct sd_fuzz_server *srv, struct sd_net *sim)
{
	server_returned = 0;
	int sid = sd_spawn(sim, "server", server_actor, (void *)srv), status;
	if (sid < 0)
		FINDING("cannot start the server actor: %s", strerror(-sid));
	struct sockaddr_in where = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
	where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int64_t step = 1000000, waited = 0;; step *= 2) {
		sd_sleep_ns(sim, step);
		waited += step;
		int listening = sd_sim_listening(sim, (struct sockaddr *)&where, sizeof where) > 0;
		if (sd__proc_exited(&status))
			sd__harness_error(
				"the server exited with status %d during start-up, %s "
				"127.0.0.1:%d (harness error)",
				status, listening ? "having listened on" : "before it listened on",
				srv->port);
		if (listening)
			return sid;
		if (server_returned)
			sd__harness_error(
				"the server returned during start-up without listening on "
				"127.0.0.1:%d (harness error)",
				srv->port);
		if (waited >= STARTUP_LIMIT_NS)
			sd__harness_error(
				"the server never listened on 127.0.0.1:%d: nothing listened "
				"there %lld virtual seconds after it started (is that its "
				"port?) (harness error)",
				srv->port, (long long)(waited / 1000000000));
	}
}

/* The clients, each an actor, until every one has ended; the transcript (to `transcript`, if
 * not NULL); a run where they wait for ever (or past CLIENT_LIMIT_NS) with the server still
 * there is a finding. */
static void run_clients(const struct sd_fuzz_server *srv, const struct sd_fuzz_plan *plan,
			struct sd_net *sim, struct client *cl, const char *transcript)
{
	int n = plan->nclients, ids[SD_FUZZ_MAX_CLIENTS];
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];
		unsigned char *got = c->got, *spill = c->spill; /* kept from input to input */
		size_t cap = c->cap;
		*c = (struct client){.q = plan->c[i],
				     .net = sim,
				     .srv = srv,
				     .id = i,
				     .port = srv->port,
				     .got = got,
				     .spill = spill,
				     .cap = cap,
				     .refused_at = SIZE_MAX};
	}
	for (int i = 0; i < n; i++)
		if ((ids[i] = sd_spawn(sim, "client", client_actor, &cl[i])) < 0)
			FINDING("cannot start client %d: %s", i, strerror(-ids[i]));
	/* A server thread that sleeps in a loop keeps time moving: the limit ends such a run. */
	sd_sim_set_time_limit(sim, sd_now_ns(sim) + CLIENT_LIMIT_NS);
	int stuck = 0; /* a client that never ended, with the server still there */
	for (int i = 0; i < n && !stuck; i++)
		stuck = sd_join(sim, ids[i]) < 0 && !sd__proc_exited(NULL);
	write_transcript(transcript, cl, n);
	if (stuck)
		FINDING("clients and server are all blocked: %s", sd_sim_deadlock_report(sim));
	sd_sim_set_time_limit(sim, -1);
}

int sd_fuzz_server_run(const struct sd_fuzz_server *srv, const uint8_t *data, size_t size)
{
	struct sd_fuzz_plan plan;
	sd_fuzz_plan_decode(data, size, srv->requests, srv->request_lens, srv->nrequests, &plan);
	char opts[64];
	snprintf(opts, sizeof opts, "segment=%u,preempt=0.25", plan.segment);
	struct sd_config cfg = {.seed = plan.seed, .options = opts};
	struct sd_net sim, faulty;
	if (sd_net_open(&sim, "sim", &cfg) < 0)
		FINDING("cannot open the sim");
	struct sd_fault_spec spec = {.short_read = plan.short_read,
				     .short_write = plan.short_write};
	if (sd_fault_wrap(&faulty, &sim, &spec, plan.seed, NULL) < 0)
		FINDING("cannot wrap the sim");
	/* Read before the server runs: it may replace environ (nginx keeps only TZ). */
	const char *tr = getenv("SOCKDRILL_TRACE"), *transcript = getenv("SOCKDRILL_TRANSCRIPT");
	if (tr && *tr && *tr != '0')
		sd_sim_set_trace(&sim, stderr);
	/* The server's own calls go through the fault wrapper; the clients' do not. */
	current = &faulty;
	sd_inproc_attach(&faulty);
	sd__output_capture(1); /* the server's last output, for a harness error */

	sd__fresh_begin(); /* the server's globals, descriptors and signals as a new process's */
	int sid = start_server(srv, &sim);
	struct sd_sim_stats st;
	sd_sim_stats(&sim, &st);
	int base_fds = st.open_fds;
	static struct client cl[SD_FUZZ_MAX_CLIENTS];
	int n = plan.nclients;
	run_clients(srv, &plan, &sim, cl, transcript);
	if (server_exited(srv)) /* every client stopped with it: nothing left to check */
		goto done;
	for (int i = 0; i < n; i++)
		judge(srv, &cl[i]);
	/* After the clients, the server holds no more descriptors than when it was listening. */
	sd_sleep_ns(&sim, 500000000LL);
	if (server_exited(srv))
		goto done;
	sd_sim_stats(&sim, &st);
	if (st.open_fds > base_fds)
		FINDING("%d descriptors open after every client left, %d before (a leak?)",
			st.open_fds, base_fds);
	/* The input is spent. A server that returns by itself when idle is joined; one still
	 * blocked (an accept loop that never ends) is stopped where it waits: closing the sim
	 * reclaims its stack and descriptors, so the next input starts from nothing. */
	sd_sleep_ns(&sim, 10000000000LL);
	if (!server_exited(srv) && server_returned && sd_join(&sim, sid) < 0)
		FINDING("cannot join the server: %s", sd_sim_deadlock_report(&sim));
done:
	for (int i = 0; i < SD_FUZZ_MAX_CLIENTS; i++)
		if (cl[i].cap > (1u << 20)) { /* the common small reply keeps its buffer */
			free(cl[i].got);
			cl[i].got = NULL, cl[i].cap = 0;
		}
	sd__output_capture(0);
	sd_inproc_attach(NULL);
	current = NULL;
	sd_net_close(&faulty);
	sd_net_close(&sim);
	sd__fresh_end();
	/* The run's threads, locks and exit are forgotten; then the glue's own globals. */
	sd__threads_reset();
	sd__proc_reset();
	if (srv->reset)
		srv->reset(srv->arg);
	return 0;
}
