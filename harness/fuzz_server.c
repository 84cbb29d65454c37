/* sockdrill: the in-process server fuzz driver (include/sockdrill/fuzz.h): a fresh sim per
 * input, the server as an actor, clients and faults decided by the input, an oracle. */
#include <arpa/inet.h>
#include <errno.h>
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

struct client {
	struct sd_fuzz_plan_client q; /* what it sends, and how */
	struct sd_net *net;
	int port, err; /* err: the first failed call's negative errno, or 0 */
	size_t sent;   /* bytes of q.msg the sim took */
	unsigned char got[512];
	size_t gotlen;
};

static void client_actor(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = sd_socket(c->net, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		c->err = fd;
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
	ssize_t k = 0;
	while (c->gotlen < sizeof c->got &&
	       (k = sd_recv(c->net, fd, c->got + c->gotlen, sizeof c->got - c->gotlen, 0)) > 0)
		c->gotlen += (size_t)k;
	if (k < 0)
		c->err = (int)k;
done:
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
		fprintf(f, "\", \"err\": %d}\n", -c->err);
	}
	if (fclose(f) != 0)
		sd__harness_error("SOCKDRILL_TRANSCRIPT: %s: %s", path, strerror(errno));
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

int sd_fuzz_server_run(const struct sd_fuzz_server *srv, const uint8_t *data, size_t size)
{
	struct sd_fuzz_plan plan;
	sd_fuzz_plan_decode(data, size, srv->requests, srv->nrequests, &plan);
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

	sd__fresh_begin(); /* the server's globals, descriptors and signals as a new process's */
	server_returned = 0;
	int sid = sd_spawn(&sim, "server", server_actor, (void *)srv);
	if (sid < 0)
		FINDING("cannot start the server actor: %s", strerror(-sid));
	sd_sleep_ns(&sim, 1000000); /* the server runs (alone) until it blocks: listening */
	int status;
	if (sd__proc_exited(&status))
		sd__harness_error("the server exited with status %d during start-up, before its "
				  "first client (harness error)",
				  status);
	struct sd_sim_stats st;
	sd_sim_stats(&sim, &st);
	int base_fds = st.open_fds;

	static struct client cl[SD_FUZZ_MAX_CLIENTS];
	int n = plan.nclients;
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];
		memset(c, 0, sizeof *c);
		c->q = plan.c[i];
		c->net = &sim;
		c->port = srv->port;
	}
	int ids[SD_FUZZ_MAX_CLIENTS];
	for (int i = 0; i < n; i++)
		if ((ids[i] = sd_spawn(&sim, "client", client_actor, &cl[i])) < 0)
			FINDING("cannot start client %d: %s", i, strerror(-ids[i]));
	/* A server thread that sleeps in a loop keeps time moving: the limit ends such a run. */
	sd_sim_set_time_limit(&sim, sd_now_ns(&sim) + CLIENT_LIMIT_NS);
	int stuck = 0; /* a client that never ended, with the server still there */
	for (int i = 0; i < n && !stuck; i++)
		stuck = sd_join(&sim, ids[i]) < 0 && !sd__proc_exited(NULL);
	write_transcript(transcript, cl, n);
	if (stuck)
		FINDING("clients and server are all blocked: %s", sd_sim_deadlock_report(&sim));
	sd_sim_set_time_limit(&sim, -1);
	if (server_exited(srv)) /* every client stopped with it: nothing left to check */
		goto done;
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];
		if (c->err == -ECONNREFUSED)
			FINDING("client %d: connection refused (is the server listening on "
				"127.0.0.1:%d?)",
				i, srv->port);
		if (srv->check && srv->check(c->q.which, c->q.msg, c->q.len, c->got, c->gotlen)) {
			char sent[4 * SD_FUZZ_MAX_MSG + 1], got[4 * sizeof c->got + 1];
			escape(sent, c->q.msg, c->q.len);
			escape(got, c->got, c->gotlen);
			FINDING("client %d sent \"%s\" and got \"%s\"", i, sent, got);
		}
	}
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
