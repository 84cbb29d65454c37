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
 * seed, and segmentation, short reads and short writes on the server's side (clients take
 * what arrives whole).
 */
struct sd_fuzz_server {
	/* Runs the server, as its main would. It may return when idle or accept forever: once
	 * the input is spent and the server has sat idle 10 virtual seconds, one still blocked
	 * is stopped where it waits and the sim with everything in it is discarded. (Memory only
	 * its stack pointed to is then unreachable, and LeakSanitizer reports it.) */
	void (*serve)(void *arg);
	void *arg;
	int port;
	/* Requests clients pick from (NULL: clients send raw input bytes); C strings, or bytes
	 * of the lengths in `request_lens`. */
	const char *const *requests;
	size_t nrequests;
	/* The oracle, optional: 0 when `reply` is right for request number `which` (or -1 for
	 * raw bytes); anything else is a finding. It is given each client's whole reply, up to
	 * SD_FUZZ_MAX_REPLY bytes; a longer reply is for `on_reply` (below), and one reaching
	 * a glue without it is a harness error. */
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
	/* Optional: the length of each of the `nrequests` requests, for a binary protocol whose
	 * messages hold NUL bytes (MQTT, DNS, ...). NULL: each request is a C string. Either
	 * way a request is cut at 96 bytes (SD_FUZZ_MAX_MSG). */
	const size_t *request_lens;
	/* Optional, the streaming oracle: called as each client receives its reply, with `arg`,
	 * the client's number (0..3), its request number (-1: raw bytes) and each piece of the
	 * reply in order; then once when the reply has ended (the server closed, the connection
	 * failed or never opened) with bytes NULL and n the reply's whole length. Non-zero
	 * refuses the reply: no more calls for it, and a finding once the clients are done,
	 * showing the refused piece. It sees replies of any length without the driver holding
	 * them, so a glue can check a reply larger than SD_FUZZ_MAX_REPLY (`check`, if set, is
	 * then not called for it). */
	int (*on_reply)(void *arg, int client, int which, const unsigned char *bytes, size_t n);
};

/* The most of one client's reply the driver holds for `check` (and the transcript): 16 MiB.
 * Clients read replies of any length to their end; what is beyond this only `on_reply`
 * sees. */
#define SD_FUZZ_MAX_REPLY (16u << 20)

/*
 * Runs one input. The server starts alone; its clients start once it listens on port.
 * Returns 0; a finding (a reply an oracle refuses, a client refused after the server
 * stopped listening, a deadlock of server and clients, clients still waiting after 600
 * virtual seconds, descriptors left open after the clients, an unexpected exit status)
 * prints "sockdrill finding: ..." and aborts, so the fuzzer keeps the input. A harness
 * error (the server exited or returned during start-up, never listened on port within 30
 * virtual seconds, called fork(), exec*(), system(), ... or a socket call the layer does
 * not model) prints "sockdrill: ...", then the server's last output on stdout and stderr
 * (its last 2 KiB), and ends the process with status 2, which no engine takes for a crash;
 * the same text is appended to the file SOCKDRILL_HARNESS_ERRORS names, if set (how
 * `sockdrill fuzz` learns of it under AFL++). SOCKDRILL_TRACE=1 in the environment prints
 * every socket call first.
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
