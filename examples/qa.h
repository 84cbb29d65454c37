/* The seed example: a question/answer server and client written only against sd_ops. */
#ifndef SD_EXAMPLES_QA_H
#define SD_EXAMPLES_QA_H

#include <stdatomic.h>
#include <stddef.h>

#include <sockdrill/ops.h>

#define SD_QA_QUESTION "When is Charles' birthday?\n"
#define SD_QA_ANSWER   "Charles' birthday is on 14 November.\n"
#define SD_QA_UNKNOWN  "I do not know.\n"
#define SD_QA_MAX_LINE 512 /* a longer line without '\n' ends the connection */

/* The answer line for one question line (without its '\n'). */
const char *sd_qa_answer_for(const char *line, size_t len);

/* The server's address from --host HOST and --port PORT (port_given: --port was on the command
 * line). HOST may carry its own port (ADDR:PORT, [V6]:PORT), used when --port is not given.
 * 0; -EINVAL when HOST is no IPv4/IPv6 address; -EEXIST when HOST carries a port and --port
 * was given too; -EPERM when the address is not loopback (127.0.0.0/8, ::1): the example
 * never serves on a wildcard or a public address. */
int sd_qa_server_addr(const char *host, unsigned port, int port_given,
		      struct sockaddr_storage *addr, socklen_t *len);

/* Binds `addr` and listens (non-blocking listener). The fd, or a negative errno, e.g.
 * -EADDRINUSE when another socket holds the port. */
int sd_qa_listen(struct sd_net *net, const struct sockaddr *addr, socklen_t len, int backlog);

struct sd_qa_server_opts {
	unsigned long max_clients; /* return after this many connections ended; 0: no limit */
	int poll_ms;               /* one poll's timeout */
	int idle_polls;            /* return after this many polls in a row saw nothing */
	const atomic_int *stop;    /* return soon after *stop becomes non-zero; may be NULL */
};

struct sd_qa_server_stats {
	unsigned long accepted, answered, closed, errors, bytes_in, bytes_out;
	int first_error; /* first negative errno met, 0 if none */
};

/* Serves every client that connects to `lfd`, many at once, from one poll loop: each line
 * received is answered, a client is closed after its end of stream. 0 when a limit in
 * opts ended the loop, or a negative errno when poll itself failed. */
int sd_qa_serve(struct sd_net *net, int lfd, const struct sd_qa_server_opts *opts,
		struct sd_qa_server_stats *stats);

struct sd_qa_client_stats {
	unsigned long ok, failed, bytes_out, bytes_in;
	int first_error;
};

struct sd_qa_client_opts {
	unsigned long clients;     /* how many in all */
	unsigned long concurrency; /* connected at once (0: all) */
	int poll_ms, idle_polls;   /* give up after idle_polls polls of poll_ms without progress */
	/* One IPv4 source address serves at most ~28k connections to one server (the
	 * ephemeral range): with per_source > 0, client i binds 127.0.0.(2 + i / per_source)
	 * before connecting (up to 253 addresses). IPv4 servers only. */
	unsigned long per_source;
	/* Called, when set, after each round of the poll loop with the counts so far (a progress
	 * line): it must not call the net. */
	void (*progress)(void *arg, const struct sd_qa_client_stats *stats);
	void *progress_arg;
};

/* Runs the clients against addr from one poll loop: connect, send the question, read one
 * answer line, check it, close. 0 when every client got the right answer, else -EPROTO
 * (see stats), or -ENOMEM. */
int sd_qa_run_clients(struct sd_net *net, const struct sockaddr *addr, socklen_t len,
		      const struct sd_qa_client_opts *opts, struct sd_qa_client_stats *stats);

/* One blocking client: connect, ask, read the answer line into `answer` (NUL-terminated).
 * 0, or a negative errno (-EPROTO for a malformed or missing answer). */
int sd_qa_ask(struct sd_net *net, const struct sockaddr *addr, socklen_t len, char *answer,
	      size_t cap);

#endif
