/* sockdrill: fuzz a server in-process on the simulated stack, one call per fuzz input. */
#ifndef SOCKDRILL_FUZZ_H
#define SOCKDRILL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A server under test. It runs as an actor on a fresh sim for every input; its libc socket
 * calls reach the sim through the interposition layer, harness/libc/, and its threads, clocks
 * and exit() calls become actors, virtual time and a recorded status (link the layer in; the
 * CMake helper sockdrill_add_server_fuzzer does; docs/inproc.md), so its source is compiled
 * unchanged. The input decides how many clients connect to 127.0.0.1:port, what each sends
 * (one of `requests`, or raw input bytes), how the bytes are cut and spaced, the scheduling
 * seed, segmentation, and short reads and writes on the server's side.
 */
struct sd_fuzz_server {
	/* Runs the server, as its main would. It may return when idle or accept forever: once
	 * the input is spent and the server has sat idle 10 virtual seconds, one still blocked
	 * is stopped where it waits and the sim with everything in it is discarded. (Memory only
	 * its stack pointed to is then unreachable, and LeakSanitizer reports it.) */
	void (*serve)(void *arg);
	void *arg;
	int port;
	/* Requests clients pick from (NULL: clients send raw input bytes). */
	const char *const *requests;
	size_t nrequests;
	/* The oracle, optional: 0 when `reply` is right for request number `which` (or -1 for
	 * raw bytes); anything else is a finding. */
	int (*check)(int which, const unsigned char *request, size_t reqlen,
		     const unsigned char *reply, size_t replylen);

	/* Members appended later; a glue written before them leaves them zero. */

	/* Optional: called after every input, once the server's actors and its sim are gone,
	 * with `arg`. For a server whose main keeps globals (counters, lists, "initialised"
	 * flags, memory it frees at exit): put them back as a fresh process has them, so the
	 * next input starts from the same state. */
	void (*reset)(void *arg);
	/* Optional: whether the server ending itself with `status` (exit(), _exit(), err(),
	 * errx(), ... after start-up) is expected: non-zero ends the input quietly, 0 makes it
	 * a finding "the server exited with status N". NULL: only status 0 is expected. An
	 * exit during start-up (before the first client) is always a harness error. */
	int (*exit_expected)(int status);
};

/*
 * Runs one input. Returns 0; a finding (wrong reply, server not listening, a deadlock of
 * server and clients, clients still waiting after 600 virtual seconds, descriptors left
 * open after the clients, an unexpected exit status) prints "sockdrill finding: ..." and
 * aborts, so the fuzzer keeps the input. A harness error (the server exited during
 * start-up, or called fork(), exec*(), system(), ... which an in-process server cannot)
 * prints "sockdrill: ..." and ends the process with status 2, which no engine takes for a
 * crash. SOCKDRILL_TRACE=1 in the environment prints every socket call first.
 *
 * SOCKDRILL_TRANSCRIPT=FILE in the environment: once the clients are done, before any
 * verdict (so an input that is a finding leaves one too), FILE is rewritten with one JSON
 * object a line per client:
 *   {"client": 0, "which": 1, "sent": "48454c4c4f0a", "reply": "...", "err": 0}
 * which: the request number, -1 for raw bytes; sent: the bytes of the message the client
 * got sent, in lower-case hex; reply: what it received; err: the errno of the client's
 * first failed call (socket, connect, send or recv), 0 for none. A FILE that cannot be
 * written is a harness error.
 */
int sd_fuzz_server_run(const struct sd_fuzz_server *srv, const uint8_t *data, size_t size);

struct sd_net;
/* During a run, the net the server sees (the sim behind the input's faults): for a server
 * written against sd_ops rather than libc. NULL outside a run. */
struct sd_net *sd_fuzz_server_net(void);

#ifdef __cplusplus
}
#endif
#endif
