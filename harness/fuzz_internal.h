/* sockdrill: what the in-process server driver's parts share (fuzz_server.c runs an input,
 * fuzz_client.c is its clients, fuzz_faults.c its faults, fuzz_oracles.c judges its
 * connections, fuzz_record.c writes a run as a scenario). */
#ifndef SD_FUZZ_INTERNAL_H
#define SD_FUZZ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <sockdrill/fuzz.h>

#include "fuzz_plan.h"

#define SD_FUZZ_MAX_CONNS 64 /* connections per input */
/* A client's waits, in virtual time: for a reply's first bytes, then for more before it counts
 * as whole; between the pieces of a message. */
#define SD_FZ_REPLY_WAIT_MS 5000
#define SD_FZ_QUIET_MS      20
#define SD_FZ_PIECE_GAP_NS  1000000LL

/* One connection a client opened, with everything it sent and received. */
struct sd_fuzz_conn {
	struct sd_fuzz_client *cl;
	int id, client, fd, port, to_server; /* to_server: port is the server's */
	int err;                             /* the first failed call's negative errno */
	int eof, ended;
	int which[SD_FUZZ_MAX_MSGS]; /* the messages sent whole, numbered as in `requests` */
	int nmsgs;
	unsigned char *sent; /* every byte sent (the sim took), sentcap allocated */
	size_t sentlen, sentcap;
	/* The reply: its first SD_FUZZ_MAX_REPLY bytes held in got (cap allocated), total
	 * counting all of them; spill takes what is beyond the bound. */
	unsigned char *got, *spill;
	size_t gotlen, cap, total;
	/* on_reply refused the reply at byte refused_at (SIZE_MAX: it did not): the piece of
	 * refused_len bytes, the first of them kept in refused (0: at the end). */
	size_t refused_at, refused_len;
	unsigned char refused[128];
};

/* One run's clients: what the server is, the net they use, the input's rest. */
struct sd_fuzz_client {
	const struct sd_fuzz_server *srv;
	struct sd_net *net;
	const struct sd_fuzz_dict *dict;
	struct fin in; /* a custom client's decisions */
	int id;
	int oracle_reply; /* 1: replies are judged (streamed to on_reply) */
};

/* The run's connections, in the order they were opened. */
extern struct sd_fuzz_conn sd__fz_conns[SD_FUZZ_MAX_CONNS];
extern int sd__fz_nconns;

/* Clears the table for a new input (buffers are kept). */
void sd__fz_conns_reset(void);
/* Frees what the table holds (large buffers only unless all). */
void sd__fz_conns_trim(int all);

/* The default client: runs the plan's client number `i` (its dialog) on its connection;
 * `from` is the client whose reply names the port, or NULL. */
void sd__fz_dialog(struct sd_fuzz_client *cl, const struct sd_fuzz_plan_client *q,
		   struct sd_fuzz_client *from_cl);
/* The port the connections of client `c` were told, 0 while none; sets *ended when that
 * client has finished. */
int sd__fz_client_port_seen(int client, int *ended);
/* Marks client `c` finished (wakes clients waiting for a port from it). */
void sd__fz_client_done(struct sd_net *net, int client);
/* A parked client waits on this key for client `c`'s replies. */
const void *sd__fz_client_key(int client);

/* The structure-keeping mutators learn the target's messages from each run (fuzz_mutate_lf.c);
 * with SOCKDRILL_MESSAGES_OUT=FILE set, the first run writes them there and ends the process
 * with status 0. */
void sd__fz_learn(const struct sd_fuzz_server *srv);

/* Recording a run as a scenario (SOCKDRILL_SCENARIO_OUT; fuzz_record.c): each client call
 * once it returned. NULL when not recording. */
enum sd__fz_ev {
	SD_EV_SOCKET,
	SD_EV_CONNECT,
	SD_EV_SEND,
	SD_EV_RECV,
	SD_EV_SHUTDOWN,
	SD_EV_CLOSE,
	SD_EV_LINGER0,
	SD_EV_SLEEP,
	SD_EV_RECV_BEGIN /* a blocking receive starts (it may never return: a deadlock) */
};
struct sd__fz_event {
	enum sd__fz_ev ev;
	const struct sd_fuzz_conn *k;
	const unsigned char *bytes; /* SEND: what was sent; RECV: what arrived */
	ssize_t result;             /* the call's return: count, fd, 0 or a negative errno */
	int64_t ms;                 /* SLEEP */
};
extern void (*sd__fz_record)(const struct sd__fz_event *e);
/* Starts recording this input when SOCKDRILL_SCENARIO_OUT names a file: the FILE the fault
 * wrapper logs to (its lines become annotations), else NULL. */
FILE *sd__fz_record_start(const struct sd_fuzz_server *srv, const struct sd_fuzz_plan *plan,
			  const uint8_t *data, size_t size);
/* Ends the recording, if any. */
void sd__fz_record_finish(void);
/* The run stopped with every actor blocked (a finding follows): the receives still waiting
 * are written as calls started and still blocked. */
void sd__fz_record_blocked(void);

/* fuzz_faults.c: the input's fault levels as a spec for the server's calls (docs/inproc.md
 * maps them). */
struct sd_fault_spec;
void sd__fz_fault_spec(const struct sd_fuzz_plan *p, struct sd_fault_spec *spec);
/* The spec the server starts under: spec without the kinds that would only keep it from
 * listening. 1 when that leaves something out. */
int sd__fz_startup_spec(const struct sd_fault_spec *spec, struct sd_fault_spec *start);
/* sd__fz_faults_change_replies: the input may make a send fail and the connection go on */
#define SD_FAULTS_LOSE_WRITES 2
/* 1 when the input's faults may change what a correct server replies (the reply oracles stay
 * out of it), SD_FAULTS_LOSE_WRITES when they may even leave a hole in its stream, else 0. */
int sd__fz_faults_change_replies(const struct sd_fuzz_plan *p);
/* The virtual time the input's waits may add to a run. */
int64_t sd__fz_delay_stretch(const struct sd_fuzz_plan *p);

/* fuzz_oracles.c: the oracles switched off (the glue's choice, then SOCKDRILL_ORACLES), the
 * oracles' verdict on one connection (a FINDING ends the input), the transcript of the run's
 * connections (SOCKDRILL_TRANSCRIPT, path NULL or empty: none). */
unsigned sd__fz_oracles_off(const struct sd_fuzz_server *srv);
void sd__fz_judge(const struct sd_fuzz_server *srv, const struct sd_fuzz_conn *k, unsigned off,
		  int faults);
void sd__fz_write_transcript(const char *path, int nclients);

#endif
