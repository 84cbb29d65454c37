/* sockdrill scenarios: the parsed form shared by the parser and the runner, and what the files
 * of each share (a heading per file). */
#ifndef SD_SC_INTERNAL_H
#define SD_SC_INTERNAL_H

#include <netinet/in.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>
#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "../util/sockopts.h"

/* Limits of the language (docs/scenarios.md, "Limits"). */
#define SC_MAX_SLEEP_MS 86400000 /* sleep(MS): a day (virtual time on sim, wall time on real) */
#define SC_MAX_REPEAT   1000000  /* iterations of one repeat */
#define SC_MAX_DEPTH    16       /* repeats nested */
#define SC_MAX_STEPS    2000000  /* steps a file runs, a step in repeat once per iteration */
#define SC_MAX_STARTS   10000    /* calls a file starts in all (each a thread or sim actor) */
#define SC_MAX_PENDING  1000     /* started calls not yet collected by wait, at one time */
#define SC_MAX_NAME     31       /* characters of a name */
#define SC_MAX_TEXT     95       /* bytes of a step's text kept for reports */
#define SC_REPLY_TAIL   4096     /* bytes a descriptor received last that reply_port() reads */
#define SC_MAX_CAPTURE  65536    /* bytes of received text a variable keeps */
#define SC_MAX_GROUPS   9        /* 'match /RE/ as A, B, ...': groups kept */
#define SC_MAX_ALTS     8        /* alternatives of one expectation ('"x" | eof | ECONNRESET') */
#define SC_MAX_PACE_MS  10000    /* send(..., pace=MS): the pause after each byte */
#define SC_MAX_PAUSES   600000   /* a paced send's pauses in all, ms (the largest timeout) */
#define SC_MAX_CONTROL  4096     /* recvmsg(..., control=BYTES): the control buffer */
#define SC_MAX_EVENTS   64       /* epoll_wait: events asked for at once, and pairs in {...} */

/* In a string that names variables ("GET ${X}\n"), bytes are a template: this byte followed
 * by SC_TPL_REF and a struct sc_ref is a variable's text, followed by itself a literal one. */
#define SC_TPL_MARK 0x01
#define SC_TPL_REF  0x02

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
	C_REPLY_PORT,
	C_RECV_UNTIL,
	C_RECVLINE,
	C_ADDR,         /* addr(fd): the local address (getsockname), the port as the number */
	C_PEER,         /* peer(fd): the peer's address (getpeername) */
	C_IOCTL,        /* ioctl(fd, FIONREAD | SIOCINQ | SIOCOUTQ): the count it gives */
	C_SENDTO,       /* sendto(fd, DATA, ADDR [, FLAGS]) */
	C_RECVMSG,      /* recvmsg(fd, N [, FLAGS]): as recv, through recvmsg */
	C_EPOLL_CREATE, /* epoll_create(): an epoll descriptor */
	C_EPOLL_CTL,    /* epoll_ctl(E, OP, fd [, EVENTS]): the entry's data is fd */
	C_EPOLL_WAIT,   /* epoll_wait(E, TIMEOUT_MS [, MAX]): the count; the events in data */
	C_NOW,          /* now(): the backend's clock in ms (virtual on sim, monotonic on real) */
	C_ELAPSED,      /* elapsed($T): ms since the now() that T kept, on the same clock */
	C_DUP,          /* dup(fd): another descriptor for the same socket */
	C_DUP2,         /* dup2(A, B): B names A's socket (B's old one closes with its last) */
	C_DUP3,         /* dup3(A, B, FLAGS): as dup2, FLAGS 0 or O_CLOEXEC; A == B is EINVAL */
	C_CMSG,         /* cmsg(fd, TCP_CM_INQ): that control message of fd's last recvmsg */
	C_MSG_FLAGS,    /* msg_flags(fd): msg_flags of fd's last recvmsg */
	C_CTLLEN,       /* msg_controllen(fd): the control bytes fd's last recvmsg gave */
};

/* The queries on a descriptor's last recvmsg: the runner answers them from what it kept. */
static inline int sc_msg_query(int call)
{
	return call == C_CMSG || call == C_MSG_FLAGS || call == C_CTLLEN;
}

/* The calls whose result carries an address (its text kept by a variable that takes it). */
static inline int sc_gives_addr(int call) { return call == C_ADDR || call == C_PEER; }

/* The calls that read bytes a string expectation can check. */
static inline int sc_reads_bytes(int call)
{
	return call == C_RECV || call == C_RECV_UNTIL || call == C_RECVLINE || call == C_RECVMSG;
}

/* Where a reference's index comes from; IX_ITER: no index, the reference is $i itself. */
enum sc_ix { IX_NONE, IX_NUM, IX_I, IX_VAR, IX_ITER };

/* A variable (or started call) reference: a name, as its symbol, and optionally an index. */
struct sc_ref {
	int64_t index; /* IX_NUM: the number; IX_VAR: the symbol of the index variable */
	int32_t name;  /* symbol: sc->names[name] */
	uint8_t ix;    /* enum sc_ix */
};

/* Bytes in sc->bytes. */
struct sc_span {
	uint32_t off, len;
};

/* V_PACE, V_HOLD: send's pace=MS and hold_last=MS, in num; V_LINGER: setsockopt's {ON, SECS}
 * for SO_LINGER, num = ON << 32 | SECS */
/* V_NULL: null(N), a NULL buffer of N bytes for send's data or recv's length (EFAULT). */
/* V_CONTROL: recvmsg's control=BYTES, the control buffer's size, in num. V_ALEN: bind's, connect's
 * and sendto's len=N, the address length passed instead of the address's own, in num. */
/* V_OPT: setsockopt's and getsockopt's option, its index in sd__sockopts in num. */
enum sc_vkind {
	V_NUM,
	V_VAR,
	V_ADDR,
	V_STR,
	V_PATTERN,
	V_PACE,
	V_HOLD,
	V_LINGER,
	V_NULL,
	V_CONTROL,
	V_ALEN,
	V_OPT
};

struct sc_value {
	union {
		int64_t num; /* V_NUM (flags are numbers too); V_PATTERN length */
		struct sc_ref
			var; /* V_VAR; V_ADDR port if port_is_var; V_PATTERN len if len_is_var */
		struct sc_span str; /* V_STR */
	};
	uint32_t addr; /* V_ADDR: index in sc->addrs (the port filled at run time if port_is_var) */
	uint8_t kind, port_is_var, len_is_var;
	uint8_t interp; /* V_STR: a template naming variables */
};

struct sc_addr {
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	};
	socklen_t len;
};

enum sc_ekind {
	E_NONE,
	E_ANY,
	E_NUM,
	E_RANGE,
	E_ERRNOS,
	E_FD,
	E_STR,
	E_PATTERN,
	E_FLAGS,
	E_VAR,
	E_PREFIX, /* prefix "..." */
	E_MATCH,  /* match /ERE/ [as A, B]: str the source, reg the compiled one */
	E_EOF,    /* eof: the end of the stream */
	E_CMP,    /* >= N, < $X, ...: op (enum sc_cmp), the operand in lo or, with CMP_VAR, var */
	E_PARITY, /* even (lo 0), odd (lo 1) */
	E_ADDR,   /* 127.0.0.1:$P, [::1]:*: addr in sc->addrs, the port as op says */
	E_EVENTS, /* {S: IN|OUT, C: IN}: ncaps pairs in sc->vals from caps (a V_VAR, a V_NUM) */
	E_LINGER, /* {ON, SECS}: getsockopt(SO_LINGER) read as a pair, lo ON and hi SECS */
};

/* The comparisons an expectation may make; CMP_VAR: the operand is a variable. */
enum sc_cmp { CMP_LT = 1, CMP_LE, CMP_GT, CMP_GE, CMP_NE, CMP_VAR = 0x10, CMP_ANY = 0x20 };

struct sc_expect {
	union {
		struct {
			int64_t lo,
				hi; /* E_NUM (lo), E_RANGE, E_PATTERN length (lo), E_FLAGS (lo) */
		};
		uint16_t errs[8];  /* E_ERRNOS */
		struct sc_ref var; /* E_VAR; E_CMP and E_PATTERN with CMP_VAR */
		struct {
			struct sc_span str; /* E_STR, E_PREFIX; E_MATCH: the expression */
			uint32_t reg;       /* E_MATCH: index in sc->regs */
			uint32_t caps;      /* E_MATCH: the ncaps variables, in sc->vals */
		};
		struct {
			struct sc_ref port; /* E_ADDR with CMP_VAR: the port's variable */
			uint32_t addr;      /* E_ADDR: index in sc->addrs */
		};
	};
	uint32_t next; /* 1 + index in sc->expects of the next alternative; 0 for none */
	uint8_t kind, nerrs, ncaps;
	uint8_t interp; /* E_STR, E_PREFIX: a template naming variables */
	/* E_CMP: enum sc_cmp; E_PATTERN: CMP_VAR when the length is a variable; E_ADDR: CMP_VAR
	 * (the port a variable's), CMP_ANY (any port) or 0 (the port in the address) */
	uint8_t op;
};

enum sc_kind { S_CALL, S_START, S_WAIT, S_BLOCKED, S_REPEAT, S_END };

/* One step in 24 bytes, its values and expectation in shared arrays: a file of short lines
 * parses into a few times its size. */
struct sc_step {
	int32_t line;
	uint32_t text; /* sc->bytes + text: the step as written, trimmed, cut to SC_MAX_TEXT */
	union {
		struct {                 /* a call, start, wait or blocked */
			uint32_t vals;   /* sc->vals + vals: arguments, then handle, then target */
			uint32_t expect; /* 1 + index in sc->expects; 0 when the step has none */
		};
		struct {               /* repeat and '}' */
			int32_t match; /* the index of the other one */
			int32_t count; /* S_REPEAT: iterations (0 also when no step inside) */
		};
	};
	uint8_t kind, call, nargs, has_target;
	uint8_t text_len, actor_len; /* the actor is the first actor_len bytes of the text */
};

_Static_assert(sizeof(struct sc_step) <= 24, "a step stays small: files are parsed per line");

#define SC_MAX_REQUIRES 8 /* 'requires TUNABLE=N' and 'set TUNABLE N' lines per file */

/* The kernel-profile values a file may require or set (docs/scenarios.md, "Kernel variants"):
 * the name in the file, where struct sd_sim_profile keeps it (a pair, LO-HI, keeps its second
 * value at offset_hi), and the range the sim takes. */
struct sc_tunable {
	const char *name;
	size_t offset, offset_hi;
	int pair;
	long lo, hi;
};
extern const struct sc_tunable sc_tunables[];
extern const int sc_ntunables;

struct sd_scenario {
	char path[256];
	struct sc_step *steps;
	int n, capsteps;
	struct sc_value *vals;
	uint32_t nvals, capvals;
	struct sc_expect *expects;
	uint32_t nexpects, capexpects;
	struct sc_addr *addrs;
	uint32_t naddrs, capaddrs;
	unsigned char *bytes; /* string literals and step texts */
	uint32_t nbytes, capbytes;
	char (*names)[SC_MAX_NAME + 1]; /* the symbols */
	int32_t nnames, capnames;
	int32_t sym_target; /* the symbol of TARGET_PORT, -1 when the file does not name it */
	uint64_t seed;
	int has_seed, segment, timeout_ms;
	double preempt;
	int has_preempt;
	/* 'requires [no-]one-role' (docs/scenarios.md): the kernel variant the file describes */
	int has_one_role, one_role, one_role_line;
	/* 'requires TUNABLE=N' (hz, syn-retries, ...): the kernel profile value the file needs */
	struct sc_require {
		int field;        /* index into sc_tunables */
		long value, hi;   /* hi: the second value of a pair (port-range) */
		int line, is_set; /* 'set' rather than 'requires': only the wording differs */
	} reqs[SC_MAX_REQUIRES];
	int nreqs;
	int unprivileged, unprivileged_line; /* 'set unprivileged' */
	/* 'requires free-ports=LO-HI': fixed loopback ports the file uses, which no socket of
	 * another process may hold on real (checked before the run; not applicable otherwise) */
	int free_lo, free_hi, free_line;
	struct sd_fault_spec faults; /* 'set faults "SPEC"', parsed (all zero: none) */
	/* 'set server-faults "SPEC"' and 'set server-seed N': for the server under test that
	 * sockdrill starts (run --inproc, wrap --run), not for the file's own calls. The spec
	 * parsed, and its text for a server in another process (wrap passes it on in the
	 * environment). */
	struct sd_fault_spec server_spec;
	char server_faults[256];
	int has_server_faults, has_server_seed;
	uint64_t server_seed;
	int uses_reply_port; /* a reply_port() step: the runner keeps what each fd received */
	regex_t *regs;       /* 'match /RE/' expressions, compiled once */
	uint32_t nregs, capregs;
};

static inline const struct sc_value *sc_args(const struct sd_scenario *sc, const struct sc_step *st)
{
	return sc->vals + st->vals;
}

/* start, wait and blocked name a started call: its handle follows the arguments. */
static inline int sc_has_handle(const struct sc_step *st)
{
	return st->kind == S_START || st->kind == S_WAIT || st->kind == S_BLOCKED;
}

static inline const struct sc_ref *sc_handle(const struct sd_scenario *sc, const struct sc_step *st)
{
	return &sc->vals[st->vals + st->nargs].var;
}

static inline const struct sc_ref *sc_target(const struct sd_scenario *sc, const struct sc_step *st)
{
	return &sc->vals[st->vals + st->nargs + sc_has_handle(st)].var;
}

static inline const struct sc_expect *sc_expect_of(const struct sd_scenario *sc,
						   const struct sc_step *st)
{
	static const struct sc_expect none = {.kind = E_NONE};
	return st->expect ? &sc->expects[st->expect - 1] : &none;
}

static inline const char *sc_text(const struct sd_scenario *sc, const struct sc_step *st)
{
	return (const char *)sc->bytes + st->text;
}

/* A call's arguments as the runner resolved them, and its result. */
struct sc_args {
	int64_t n[4];
	struct sd_net *backend; /* the backend under any fault wrapper (ioctl asks the sim) */
	const int *cancel;      /* a call on a thread of its own (real): set when the run ends */
	struct sockaddr_storage addr;
	socklen_t alen;
	const unsigned char *data; /* send: the string, or the run's pattern */
	size_t dlen;
	unsigned char *rbuf; /* recv: where the bytes go, owned with the arguments (a call still
			      * blocked when the run ends is dropped, not returned) */
	size_t rlen;
	unsigned char *sbuf;      /* a string naming variables, filled in (owned likewise) */
	int64_t pace_ms, hold_ms; /* send: pace=MS (0: none), hold_last=MS (-1: none) */
	int null_buf;             /* null(N): the call gets a NULL buffer (the kernel: EFAULT) */
	size_t control;           /* recvmsg: the control buffer's size (0: none) */
	const struct sd__sockopt *opt; /* setsockopt, getsockopt: the option */
};

struct sc_res {
	int64_t v;
	unsigned char *data; /* recv */
	size_t dlen;
	int eof; /* recv_until, recvline: the stream ended before the delimiter (v is 0, data
		  * what came before it) */
	struct sockaddr_storage addr; /* addr, peer: the address (data its text) */
	socklen_t alen;
	int linger[2], has_linger; /* getsockopt(SO_LINGER): {l_onoff, l_linger} */
	/* recvmsg: msg_flags, msg_controllen, and the TCP_CM_INQ control message if one came */
	int msg_flags, has_inq, inq;
	int64_t controllen;
};

/* calls.c: runs a step's call on net (the run's, a fault wrapper maybe) into r. */
void sd__sc_exec(struct sd_net *net, enum sc_call call, const struct sc_args *a, struct sc_res *r);
/* An address result as shown (got) and for the side-by-side comparison (norm), which sets a
 * chosen port aside: it differs between backends. */
void sd__sc_describe_addr(const struct sc_res *r, char *got, size_t gl, char *norm, size_t nl);
/* Whether the address of r is the expectation's (E_ADDR), its port `port` unless CMP_ANY. */
int sd__sc_addr_matches(const struct sd_scenario *sc, const struct sc_expect *e,
			const struct sc_res *r, int64_t port);

/* epoll_wait's events as shown (got: as returned) and compared (norm: by descriptor). */
void sd__sc_describe_events(const struct sc_res *r, char *got, size_t gl, char *norm, size_t nl);
/* Whether epoll_wait reported exactly descriptors fds[0..n) with events evs[0..n), in any
 * order (the caller checked the count). */
int sd__sc_events_match(const struct sc_res *r, const int *fds, const int64_t *evs, int n);
/* SO_LINGER set (a number N is {1, N}; a pair {ON, SECS} as given) or read: the result, as
 * ever, the seconds when on and -1 when off, and the pair kept in r->linger. */
void sd__sc_linger(struct sd_net *net, int set, const struct sc_args *a, struct sc_res *r);
/* names.c: poll or epoll flags as "IN|OUT|RDHUP"; recvmsg's msg_flags as
 * "MSG_CTRUNC|MSG_TRUNC". */
void sd__sc_show_flags(int64_t v, char *out, size_t size);
void sd__sc_show_msg_flags(int64_t v, char *out, size_t size);

/* names.c: the value a name stands for (flags, constants): 0, or -1 when the name is unknown;
 * whether a name is a poll flag. Option names are not values: the parser takes them where an
 * option is due (sd__sockopt_by_name). */
int sd__sc_lookup_const(const char *name, int64_t *out);
int sd__sc_is_poll_name(const char *name);
int sd__sc_is_msg_flag_name(const char *name); /* a flag msg_flags can hold (MSG_CTRUNC...) */

/* ---- the run: shared by run.c, vars.c, args.c, check.c -------------------------------- */

#define SC_MAX_IO (64 << 20) /* bytes one call sends or reads, a string filled in, a pattern */

/* The pattern's byte i: what send(pattern(N)) sends and a pattern(N) expectation checks. */
static inline unsigned char sc_pattern_byte(size_t i)
{
	return (unsigned char)(i * 31 + (i >> 8) + 7);
}

/* Variables and started calls, each a hash table keyed by (symbol, index): a use costs O(1)
 * however many there are. */
struct slot {
	int64_t index, v;
	int32_t name;
	int32_t used;       /* 0 empty, 1 a plain name, 2 an indexed one */
	unsigned char *str; /* the text it holds (received bytes), or NULL: its number's */
	uint32_t slen;
};

struct table {
	struct slot *s;
	size_t cap, n; /* cap a power of two, at most 3/4 full */
};

struct run {
	const struct sd_scenario *sc;
	struct sd_net net;      /* what the steps call: the backend, or a fault wrapper around it */
	struct sd_net *backend; /* the backend itself */
	struct sd_net traced;   /* opt->trace: the trace wrapper right above the backend */
	struct sd_net base;     /* sd_scenario_run: the backend it opened */
	int wrapped;            /* net is a fault wrapper of the run's own */
	int close_fds; /* a sim the caller keeps: sockets left open are closed at the end */
	unsigned caps; /* the backend's SD_CAP_* */
	int threads;   /* SD_CAP_BLOCKS_THREAD: a call that may block runs as a job, bounded */
	int timeout_ms;
	const struct sd_sc_options *opt;
	struct tail *tails; /* only when the file reads reply_port() */
	int ntails, captails;
	struct msgrec *msgs; /* per descriptor: what its last recvmsg gave (cmsg, msg_flags) */
	int nmsgs, capmsgs;
	int max_time_s;  /* the whole run's bound */
	double deadline; /* t0 + max_time_s, CLOCK_MONOTONIC seconds */
	struct table vars;
	struct table handles; /* the value: an index in h[] */
	struct handle *h;
	int nh, caph, pending; /* started calls not yet collected */
	int *fds; /* threads: the sockets made, shut down at the end to release blocked calls */
	int nfds, capfds;
	struct job **stuck; /* threads still blocked when the run ended */
	int nstuck, capstuck;
	int iter; /* innermost repeat index, -1 outside */
	struct sd_sc_result *res;
	int capout;         /* room in res->out */
	int capfail;        /* room in res->failures */
	int keep_going;     /* a failed step does not end the run (stop still does) */
	int stop;           /* a bound of the whole run was reached: no step runs after it */
	int verdict_only;   /* no outcomes kept */
	unsigned char *pat; /* the pattern's first patlen bytes, made once for every send */
	size_t patlen;
	unsigned char **oldpats; /* shorter ones it replaced: a started send may still read one */
	int noldpats, capoldpats;
};

static inline const char *sc_deadlock_report(struct run *R)
{
	return sd_sim_deadlock_report(R->backend);
}

/* vars.c: the variables and started calls (tables keyed by symbol and index), the text they
 * hold, templates filled in, the send pattern. */
/* Room for element n of an array of *cap, grown by doubling: 0, or -1 without memory. */
int sd__sc_grow(void **p, int *cap, int n, size_t size);
/* The value of (name, index): found, or added as 0 when create is set; NULL when it is not
 * there (or there is no memory for it). */
int64_t *sd__sc_table_find(struct run *R, struct table *t, int32_t name, int indexed, int64_t index,
			   int create);
const char *sd__sc_name_of(const struct run *R, int32_t sym);
/* A reference's name for messages: "C" or "C[3]". */
void sd__sc_key_text(const struct run *R, const struct sc_ref *r, int indexed, int64_t index,
		     char *out, size_t size);
/* The key of a reference, its index worked out: 0, or -1 with *why set. */
int sd__sc_ref_key(struct run *R, const struct sc_ref *r, int *indexed, int64_t *index, char *why,
		   size_t wl);
/* A variable's number: 0, or -1 with why set (unknown, or $i outside repeat). */
int sd__sc_ref_value(struct run *R, const struct sc_ref *r, int64_t *out, char *why, size_t wl);
/* A variable's text: what it holds (received bytes), or its number in decimal (into num). */
int sd__sc_ref_text(struct run *R, const struct sc_ref *r, const unsigned char **p, size_t *n,
		    char num[24], char *why, size_t wl);
/* A template (a string naming variables) filled in: a new buffer into *out, or -1 with why. */
int sd__sc_expand(struct run *R, const unsigned char *t, size_t n, unsigned char **out,
		  size_t *outlen, char *why, size_t wl);
/* A variable takes received bytes as its text (at most SC_MAX_CAPTURE of them); NULL clears. */
int sd__sc_set_text(int64_t *v, const unsigned char *d, size_t n);
/* The first n bytes of the pattern (NULL without memory). */
const unsigned char *sd__sc_pattern(struct run *R, size_t n);

/* args.c: a step's arguments resolved into a (0, or -1 with why); after a call, what the run
 * keeps of it (the descriptors made, each one's last recvmsg, the bytes for reply_port). */
int sd__sc_resolve(struct run *R, const struct sc_step *st, struct sc_args *a, char *why,
		   size_t wl);
void sd__sc_after_call(struct run *R, enum sc_call call, const struct sc_args *a,
		       const struct sc_res *r);

/* check.c: results against expectations, and failures. */
/* The result as shown (got) and in a backend-independent form (norm). */
void sd__sc_describe(enum sc_call call, const struct sc_expect *e, const struct sc_res *r,
		     int data_ok, char *got, size_t gl, char *norm, size_t nl);
/* Checks a finished call's result; records and keeps the variable. */
void sd__sc_conclude(struct run *R, const struct sc_step *st, enum sc_call call, struct sc_res *r,
		     struct sd_sc_outcome *o);
/* The step failed: o (when kept) marked, the message kept in R->res. */
void sd__sc_failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* requires.c: on real, a file whose 'requires' this kernel does not meet is not applicable
 * (or, when the kernel cannot be asked, fails): 1 with res filled in, 0 to run it. */
int sd__sc_kernel_lacks(const struct sd_scenario *sc, struct sd_sc_result *res);

/* ---- the parser: shared by parse.c, lex.c, expr.c, expect.c, settings.c ------------------ */

/* The parser's cursor: where it is in the file, and what this line and the ones before it
 * named. */
struct cur {
	const char *path, *p, *ls, *eol; /* position, line start, line end */
	int line;
	char *err;
	size_t errlen;
	struct sd_scenario *sc;
	const struct sd_sc_options *opt; /* what the run will define (may be NULL) */
	int32_t *symtab; /* open addressing: 1 + symbol, 0 empty; symcap a power of two */
	uint32_t symcap;
	uint8_t *known; /* per symbol: what lines before this one made of it (SYM_*) */
	uint32_t capknown;
	int depth; /* repeats open around this line */
	struct use {
		int32_t sym;
		const char *at;
		int what; /* U_* */
	} uses[16];       /* the names this line reads, checked once it parsed */
	int nuses;
	int32_t caps[SC_MAX_ALTS * SC_MAX_GROUPS]; /* the names 'as' assigns on this line */
	int ncaps;
};

enum { SYM_VAR = 1, SYM_STARTED = 2 };
enum { U_VAR, U_HANDLE, U_ITER };

/* How a reference is used: assigned (X = ...), read ($X), or a started call's handle. */
enum { REF_TARGET, REF_READ, REF_HANDLE };

/* A statement as parsed, before it is stored: the step and the values it refers to. */
struct stmt {
	struct sc_step st;
	struct sc_value args[6];
	struct sc_ref handle, target;
	uint32_t expect; /* 1 + index in sc->expects of the first alternative, 0 for none */
};

static inline void sc_ws(struct cur *c)
{
	while (c->p < c->eol && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static inline int sc_at_end(struct cur *c)
{
	sc_ws(c);
	return c->p >= c->eol || *c->p == '#';
}

static inline int sc_is_id0(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static inline int sc_is_id(char ch) { return sc_is_id0(ch) || (ch >= '0' && ch <= '9'); }

/* lex.c: the cursor's words. Each returns 0, or -1 with the error set (file:line:col). */
int sd__sc_fail(struct cur *c, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Room for `more` elements of `size` bytes after `n` in *p, grown by doubling; 0 or -1. */
int sd__sc_reserve(void *p, uint32_t *cap, uint32_t n, uint32_t more, size_t size);
/* An identifier into buf; 0, or -1 with the error set when there is none or it is long. */
int sd__sc_ident(struct cur *c, char *buf, size_t size, const char *what);
/* The symbol of a name (made on first sight when create is set), or -1. */
int32_t sd__sc_symbol_find(struct cur *c, const char *name, int create);
int sd__sc_expect_char(struct cur *c, char ch);
int sd__sc_number(struct cur *c, int64_t *out);
/* name, name[3], name[$i], name[$j]; the '$' before it, if any, already seen; how: REF_*. */
int sd__sc_ref(struct cur *c, struct sc_ref *r, int how);
/* A quoted string, its bytes appended to sc->bytes; with interp, "${NAME}" names a variable. */
int sd__sc_string_interp(struct cur *c, struct sc_span *out, uint8_t *interp);
int sd__sc_string(struct cur *c, struct sc_span *out);

/* expr.c: values and calls. */
/* a.b.c.d:PORT or [v6]:PORT; with any_port (an expectation), also '*' (*any_port set). */
int sd__sc_address_any(struct cur *c, struct sc_value *v, int *any_port);
/* NAME|NAME|... resolved to the OR of their values. */
int sd__sc_flags(struct cur *c, int64_t *out);
/* {ON, SECS}: SO_LINGER's pair; misplaced (the caller says) when not for SO_LINGER: an error. */
int sd__sc_linger_pair(struct cur *c, int64_t *on, int64_t *secs, int misplaced);
/* A call and its arguments into m. */
int sd__sc_call_expr(struct cur *c, struct stmt *m);

/* expect.c: an expectation's alternatives into sc->expects, *first 1 + the first's index. */
int sd__sc_expectation(struct cur *c, uint32_t *first, enum sc_call call, int is_call);

/* settings.c: a 'set' line (after "set") and a 'requires' line (after "requires"). */
int sd__sc_setting(struct cur *c, struct sd_scenario *sc, const struct sd_sc_options *opt);
int sd__sc_requirement(struct cur *c, struct sd_scenario *sc);

#endif
