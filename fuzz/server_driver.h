/* sockdrill fuzz targets: a server in-process on a fresh sim, its clients and the faults on
 * its side all decided by the fuzz input, and an oracle on what the clients receive. */
#ifndef SD_SERVER_DRIVER_H
#define SD_SERVER_DRIVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <sockdrill/fault.h>
#include <sockdrill/sockdrill.h>

#include "fuzz_input.h"
#include "inproc.h"
#include "qa.h"

#define SERVER_PORT 7777
#define MAX_CLIENTS 4

struct client {
	struct sd_net *net;
	unsigned char msg[96];
	size_t len;
	size_t cut[4]; /* the message goes out in pieces ending at these offsets */
	int ncut;
	unsigned gap_us; /* virtual time between pieces */
	int is_question;
	char got[256];
	size_t gotlen;
	int err;
};

static void client_actor(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SERVER_PORT)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = sd_socket(c->net, AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || (c->err = sd_connect(c->net, fd, (struct sockaddr *)&a, sizeof a)) < 0)
		return;
	size_t from = 0;
	for (int i = 0; i < c->ncut; i++) {
		while (from < c->cut[i]) {
			ssize_t k =
				sd_send(c->net, fd, c->msg + from, c->cut[i] - from, MSG_NOSIGNAL);
			if (k <= 0) {
				c->err = (int)k;
				goto done;
			}
			from += (size_t)k;
		}
		if (c->gap_us)
			sd_sleep_ns(c->net, (int64_t)c->gap_us * 1000);
	}
	sd_shutdown(c->net, fd, SHUT_WR);
	for (ssize_t k;
	     c->gotlen < sizeof c->got - 1 &&
	     (k = sd_recv(c->net, fd, c->got + c->gotlen, sizeof c->got - 1 - c->gotlen, 0)) > 0;)
		c->gotlen += (size_t)k;
done:
	sd_close(c->net, fd);
}

/* Runs one input: `server` runs as an actor on `faulty` (the sim seen through a fault
 * wrapper decided by the input); the clients talk to it on the plain sim. */
/* Set by the driver once every client is done: a server loop that watches it returns. */
static atomic_int server_stop;

static void drive(struct fin *in, void (*server)(void *), int check_answers)
{
	char opts[96];
	uint64_t seed = fin_u64(in);
	unsigned segment = fin_range(in, 0, 12), sr = fin_range(in, 0, 3), sw = fin_range(in, 0, 3);
	snprintf(opts, sizeof opts, "fdbase=%d,segment=%u,preempt=0.25", SD_INPROC_FDBASE, segment);
	struct sd_config cfg = {.seed = seed, .options = opts};
	struct sd_net sim, faulty;
	if (sd_net_open(&sim, "sim", &cfg) < 0)
		FINDING("cannot open the sim");
	struct sd_fault_spec spec = {.short_read = sr, .short_write = sw};
	if (sd_fault_wrap(&faulty, &sim, &spec, seed, NULL) < 0)
		FINDING("cannot wrap the sim");
	sd_inproc_attach(&faulty);
	/* SOCKDRILL_TRACE=1 (sockdrill repro sets it): every socket call, with virtual time
	 * and actor, on stderr. */
	const char *tr = getenv("SOCKDRILL_TRACE");
	if (tr && *tr && *tr != '0')
		sd_sim_set_trace(&sim, stderr);
	atomic_store(&server_stop, 0);

	static struct client cl[MAX_CLIENTS];
	int n = (int)fin_range(in, 1, MAX_CLIENTS);
	int sid = sd_spawn(&sim, "server", server, &faulty);
	/* The server runs (alone) until it blocks: it is listening before any client starts. */
	sd_sleep_ns(&sim, 1000000);
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];
		memset(c, 0, sizeof *c);
		c->net = &sim;
		unsigned kind = fin_u8(in);
		if (kind < 200) { /* the question, cut anywhere */
			c->is_question = 1;
			c->len = sizeof SD_QA_QUESTION - 1;
			memcpy(c->msg, SD_QA_QUESTION, c->len);
		} else { /* other bytes */
			c->len = fin_range(in, 0, sizeof c->msg - 1);
			for (size_t k = 0; k < c->len; k++)
				c->msg[k] = (unsigned char)fin_u8(in);
		}
		c->ncut = (int)fin_range(in, 1, 4);
		for (int k = 0; k < c->ncut - 1; k++)
			c->cut[k] = c->len ? fin_u8(in) % (c->len + 1) : 0;
		c->cut[c->ncut - 1] = c->len;
		for (int k = 1; k < c->ncut; k++) /* in order */
			if (c->cut[k] < c->cut[k - 1])
				c->cut[k] = c->cut[k - 1];
		c->gap_us = fin_u8(in) * 10;
	}
	int ids[MAX_CLIENTS];
	for (int i = 0; i < n; i++)
		ids[i] = sd_spawn(&sim, "client", client_actor, &cl[i]);
	for (int i = 0; i < n; i++)
		if (sd_join(&sim, ids[i]) < 0)
			FINDING("clients and server are all blocked: %s",
				sd_sim_deadlock_report(&sim));
	/* Oracle: whoever asked the question gets exactly the answer line back, however the
	 * bytes were cut up on the way. */
	for (int i = 0; check_answers && i < n; i++) {
		struct client *c = &cl[i];
		if (c->err == -ECONNREFUSED)
			FINDING("client %d: connection refused (the server is not listening)", i);
		if (c->is_question && (c->gotlen != sizeof SD_QA_ANSWER - 1 ||
				       memcmp(c->got, SD_QA_ANSWER, c->gotlen)))
			FINDING("client %d asked \"When is Charles' birthday?\" and got \"%.*s\"",
				i, (int)c->gotlen, c->got);
	}
	/* Let the server finish what it was doing, then nothing but its listener stays open. */
	sd_sleep_ns(&sim, 500000000LL);
	struct sd_sim_stats st;
	sd_sim_stats(&sim, &st);
	if (st.open_fds > 1)
		FINDING("%d descriptors open after every client left (a leak?)", st.open_fds);
	/* Then the server is told to stop (or idles out) and must return: a run ends clean. */
	atomic_store(&server_stop, 1);
	if (sd_join(&sim, sid) < 0)
		FINDING("the server did not return when asked to stop: %s",
			sd_sim_deadlock_report(&sim));
	sd_inproc_attach(NULL);
	sd_net_close(&faulty);
	sd_net_close(&sim);
}

#endif
