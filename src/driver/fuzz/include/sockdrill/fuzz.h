/* sockdrill: fuzz a server in-process on the simulated stack, one call per fuzz input. */
#ifndef SOCKDRILL_FUZZ_H
#define SOCKDRILL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A server under test. It runs as an actor on a fresh sim for every input (or, in persistent
 * mode, on one sim across inputs); its libc socket calls reach the sim through the
 * interposition layer, src/interpose/, and its threads, clocks and exit() calls become actors,
 * virtual time and a recorded status (link the layer in; the CMake helper
 * sockdrill_add_server_fuzzer does; docs/inproc.md), so its source is compiled unchanged.
 *
 * The input (docs/inproc.md, "The input"; src/driver/fuzz/fuzz_plan.h) is a set of client dialogs:
 * up to 16 clients, how many of them at once, each connecting to 127.0.0.1:port or to a port
 * an earlier client's reply named (FTP's PASV), then sending up to 32 messages (one of
 * `requests`, the protocol's messages, or raw input bytes, up to 4 KiB), each cut into pieces
 * and followed by a wait for the reply, a virtual pause or nothing, and ending with a
 * half-close, a close or a reset. It also holds the scheduling seed, segmentation and the
 * faults on the server's calls (short reads and writes, EINTR, EAGAIN, resets, accept and
 * connect failures, delays). Clients read what arrives while they send, so a client never
 * blocks a server that is writing to it.
 */
struct sd_fuzz_client;
struct sd_fuzz_session;

struct sd_fuzz_server {
	/* Runs the server, as its main would. It may return when idle or accept forever: once
	 * the input is spent and the server has sat idle 10 virtual seconds, one still blocked
	 * is stopped where it waits and the sim with everything in it is discarded. (Memory only
	 * its stack pointed to is then unreachable, and LeakSanitizer reports it.) */
	void (*serve)(void *arg);
	void *arg;
	int port;
	/* The protocol's messages, which dialogs string together (NULL: raw input bytes only);
	 * C strings, or bytes of the lengths in `request_lens`. Up to 240 are reachable. */
	const char *const *requests;
	size_t nrequests;
	/* The oracle, optional: 0 when `reply` is right for request number `which` (or -1 for
	 * raw bytes); anything else is a finding. It is given the whole reply of a connection
	 * that sent one message and read to the end, with no fault on that may change replies
	 * (docs/inproc.md), up to SD_FUZZ_MAX_REPLY bytes; a longer reply is for `on_reply`
	 * (below), and one reaching a glue without it is a harness error. */
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
	 * way a message is sent whole. */
	const size_t *request_lens;
	/* Optional, the streaming oracle: called as each connection receives its reply, with
	 * `arg`, the connection's number (0..63), its first message's number (-1: raw bytes or
	 * none) and each piece of the reply in order; then, when the server ended the stream or
	 * the connection failed, once with bytes NULL and n the reply's whole length (not when
	 * the client closed first). Not called when faults that may change replies are on. Non-zero
	 * refuses the reply: no more calls for it, and a finding once the clients are done,
	 * showing the refused piece. It sees replies of any length without the driver holding
	 * them, so a glue can check a reply larger than SD_FUZZ_MAX_REPLY (`check`, if set, is
	 * then not called for it). */
	int (*on_reply)(void *arg, int client, int which, const unsigned char *bytes, size_t n);
	/* Optional: the oracles to switch off, SD_ORACLE_* or'ed (0: all on). Overridden at run
	 * time by SOCKDRILL_ORACLES (docs/inproc.md). */
	unsigned oracles_off;
	/* Optional: the port a reply names, for a client told to connect there (0: none). NULL:
	 * FTP's PASV "(h1,h2,h3,h4,p1,p2)" and EPSV "(|||port|)", the last one in the reply. */
	int (*reply_port)(const unsigned char *reply, size_t n);
	/* Optional: a client of the glue's own instead of the input's dialogs, for a protocol
	 * they cannot express. It runs as an actor once the server listens, takes its decisions
	 * from the input (sd_fuzz_take_*, after the header) and talks to the server through
	 * sd_fuzz_connect() and friends, below; it may spawn more actors on
	 * sd_fuzz_client_net(). The oracles judge each of its connections as they judge a
	 * dialog's. */
	void (*client)(void *arg, struct sd_fuzz_client *c);
	/* Optional, the session oracle: called for each connection with everything it sent and
	 * received (up to SD_FUZZ_MAX_REPLY bytes) once the clients are done; non-zero is a
	 * finding. `check`, when set, is called only for a connection that sent one message. */
	int (*check_session)(void *arg, const struct sd_fuzz_session *s);
	/* Non-zero: persistent mode. The server starts once and keeps running from one input to
	 * the next, each bringing new connections and faults; many times faster for a server
	 * with a costly start, at the price of inputs that depend on the ones before (a finding
	 * may not replay alone). SOCKDRILL_PERSISTENT=1 or 0 overrides it. Default: a fresh
	 * server per input. */
	int persistent;
};

/* Oracles (oracles_off, SOCKDRILL_ORACLES). Crashes and sanitizer reports are always on. */
#define SD_ORACLE_REPLY     0x01u /* check, check_session and on_reply */
#define SD_ORACLE_DEADLOCK  0x02u /* server and clients all blocked, or clients stuck */
#define SD_ORACLE_FD_LEAK   0x04u /* more descriptors open after the clients than before */
#define SD_ORACLE_LISTENERS 0x08u /* more listening sockets after the clients than before */
#define SD_ORACLE_EXIT      0x10u /* the server ended itself with an unexpected status */
#define SD_ORACLE_REFUSED   0x20u /* a client refused: the server stopped listening */

/* One connection as the session oracle sees it. */
struct sd_fuzz_session {
	int conn;   /* its number in the input (transcript order) */
	int client; /* the client that opened it */
	int nmsgs;  /* messages sent whole; which[k]: each one's number in `requests`, or -1 */
	const int *which;
	const unsigned char *sent; /* every byte it sent, in order */
	size_t sentlen;
	const unsigned char *reply; /* every byte it received, in order (up to the bound) */
	size_t replylen;
	int err;    /* the first failed call's errno (socket, connect, send, recv), 0 if none */
	int faults; /* 1: the input had faults on that can change what a correct server
		     * replies (resets, EINTR, EAGAIN, delays, accept and connect failures) */
	int eof;    /* 1: read to the end of the stream, so the reply is whole; 0: the client
		     * closed or reset first, and the reply may stop anywhere */
};

/* A custom client's handle (struct sd_fuzz_server.client) and one of its connections. */
struct sd_fuzz_conn;
struct sd_net;

/* The net the client talks through (the sim, without the server's faults). */
struct sd_net *sd_fuzz_client_net(struct sd_fuzz_client *c);
/* The server's port. */
int sd_fuzz_client_port(struct sd_fuzz_client *c);

/* Decisions from the input, FuzzedDataProvider style: once the input is spent every take
 * gives 0 (or nothing). */
unsigned sd_fuzz_take_u8(struct sd_fuzz_client *c);
uint64_t sd_fuzz_take_u64(struct sd_fuzz_client *c);
/* A number in [lo, hi]. */
unsigned sd_fuzz_take_range(struct sd_fuzz_client *c, unsigned lo, unsigned hi);
/* Up to max bytes of the input, as a 16-bit length and the bytes: their number, *p pointing
 * at them (valid for the run). */
size_t sd_fuzz_take_bytes(struct sd_fuzz_client *c, const unsigned char **p, size_t max);
/* A message as a dialog picks one: one of `requests` (its number) or raw bytes (-1). */
int sd_fuzz_take_msg(struct sd_fuzz_client *c, const unsigned char **p, size_t *len);
/* Bytes of the input not yet taken. */
size_t sd_fuzz_take_left(struct sd_fuzz_client *c);

/* Connects to 127.0.0.1:port: the connection, or NULL when it failed (its errno is then in
 * the transcript) or the run has 64 connections already. */
struct sd_fuzz_conn *sd_fuzz_connect(struct sd_fuzz_client *c, int port);
/* Sends n bytes (which: the message's number, or -1), reading what arrives meanwhile. 0, or
 * a negative errno once the connection failed. */
int sd_fuzz_send(struct sd_fuzz_conn *k, int which, const void *buf, size_t n);
/* Waits for a reply's first bytes (up to 5 virtual seconds), then until none come for 20
 * virtual ms. Returns how many bytes arrived. */
size_t sd_fuzz_wait_reply(struct sd_fuzz_conn *k);
/* Reads to the end of the stream (the server closes or the connection fails). */
void sd_fuzz_read_to_end(struct sd_fuzz_conn *k);
/* What the connection received so far (up to SD_FUZZ_MAX_REPLY bytes), its length in *n. */
const unsigned char *sd_fuzz_reply(struct sd_fuzz_conn *k, size_t *n);
/* The port a reply names, as reply_port (or the default) reads it: 0 when none. */
int sd_fuzz_reply_port(struct sd_fuzz_conn *k);
/* Ends the connection: SD_END_HALF_CLOSE (shutdown, then read to the end), SD_END_CLOSE or
 * SD_END_RESET (SO_LINGER 0). The connection stays readable with sd_fuzz_reply. */
void sd_fuzz_close(struct sd_fuzz_conn *k, int how);
#define SD_FUZZ_HALF_CLOSE 0
#define SD_FUZZ_CLOSE      1
#define SD_FUZZ_RESET      2

/* The most of one client's reply the driver holds for `check` (and the transcript): 16 MiB.
 * Clients read replies of any length to their end; what is beyond this only `on_reply`
 * sees. */
#define SD_FUZZ_MAX_REPLY (16u << 20)

/*
 * Runs one input. The server starts alone; its clients start once it listens on port.
 * Returns 0; a finding (a reply an oracle refuses, a client refused after the server
 * stopped listening, a deadlock of server and clients, clients still waiting past their
 * time limit, descriptors or listeners left open after the clients, an unexpected exit
 * status; each oracle switchable: oracles_off)
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
 * object a line per connection, in client order:
 *   {"client": 0, "port": 0, "which": [1, 0], "sent": "48454c4c4f0a", "reply": "...", "err": 0}
 * port: 0 for the server's, else the port a reply named; which: the messages sent whole,
 * each a request number or -1 for raw bytes; sent: every byte sent, in lower-case hex;
 * reply: what it received; err: the errno of its first failed call (socket, connect, send
 * or recv), 0 for none. A FILE that cannot be written is a harness error.
 *
 * SOCKDRILL_SCENARIO_OUT=FILE: each input's run is written to FILE as a scenario file (the
 * clients' calls as steps, the faults injected into the server's calls as annotations),
 * line by line as it happens, so a finding or a crash leaves it too; SOCKDRILL_SCENARIO=FILE:
 * instead of running the input, the server starts as usual and FILE's steps are its clients
 * on the same sim (docs/inproc.md, "Findings as scenarios"; sockdrill repro --scenario and
 * sockdrill run --inproc set them).
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
