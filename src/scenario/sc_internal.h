/* sockdrill scenarios: the parsed form shared by the parser and the runner. */
#ifndef SD_SC_INTERNAL_H
#define SD_SC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sockdrill/scenario.h>

/* Limits of the language (docs/scenarios.md, "Limits"). */
#define SC_MAX_SLEEP_MS 86400000 /* sleep(MS): a day (virtual time on sim, wall time on real) */
#define SC_MAX_REPEAT   1000000  /* iterations of one repeat */
#define SC_MAX_DEPTH    16       /* repeats nested */
#define SC_MAX_STEPS    2000000  /* steps a file runs, a step in repeat once per iteration */

enum sc_call {
	C_SOCKET,
	C_BIND,
	C_LISTEN,
	C_ACCEPT,
	C_CONNECT,
	C_SEND,
	C_RECV,
	C_SHUTDOWN,
	C_CLOSE,
	C_SETSOCKOPT,
	C_GETSOCKOPT,
	C_SO_ERROR,
	C_PORT,
	C_PEERPORT,
	C_NONBLOCK,
	C_BLOCK,
	C_POLL,
	C_SLEEP,
};

/* A variable reference: name, and optionally an index (a number, $i or another variable). */
struct sc_ref {
	char name[32];
	int has_index;
	int index_kind; /* 0 number, 1 $i, 2 variable */
	int64_t index_num;
	char index_var[32];
};

enum sc_vkind { V_NUM, V_VAR, V_ADDR, V_STR, V_PATTERN };

struct sc_value {
	enum sc_vkind kind;
	int64_t num;       /* V_NUM (flags are numbers too), V_PATTERN length */
	struct sc_ref var; /* V_VAR; V_ADDR port when port_is_var; V_PATTERN length if len_is_var */
	int port_is_var, len_is_var;
	struct sockaddr_storage addr; /* V_ADDR, port filled at run time when port_is_var */
	socklen_t alen;
	unsigned char *str; /* V_STR */
	size_t slen;
};

enum sc_ekind { E_NONE, E_ANY, E_NUM, E_RANGE, E_ERRNOS, E_FD, E_STR, E_PATTERN, E_FLAGS, E_VAR };

struct sc_expect {
	enum sc_ekind kind;
	int64_t lo, hi; /* E_NUM (lo), E_RANGE, E_PATTERN length (lo), E_FLAGS mask (lo) */
	int errs[8];
	int nerrs;
	unsigned char *str;
	size_t slen;
	struct sc_ref var;
};

enum sc_kind { S_CALL, S_START, S_WAIT, S_BLOCKED, S_REPEAT, S_END };

struct sc_step {
	enum sc_kind kind;
	int line;
	char actor[32];
	char text[96];
	int has_target;
	struct sc_ref target; /* X = ... ; for start/wait/blocked: the handle */
	struct sc_ref handle;
	enum sc_call call;
	struct sc_value args[4];
	int nargs;
	struct sc_expect expect;
	int64_t repeat_n; /* S_REPEAT */
	int match;        /* S_REPEAT: index of its S_END, and back */
};

struct sd_scenario {
	char path[256];
	struct sc_step *steps;
	int n;
	uint64_t seed;
	int has_seed, segment, timeout_ms;
	double preempt;
	int has_preempt;
	char faults[256]; /* 'set faults "SPEC"' */
};

#endif
