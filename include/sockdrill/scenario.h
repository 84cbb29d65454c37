/* sockdrill: scenario files (docs/scenarios.md) parsed, and run on any backend. */
#ifndef SOCKDRILL_SCENARIO_H
#define SOCKDRILL_SCENARIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sockdrill/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SD_SC_MAX_BYTES (1 << 20) /* larger files are refused */

struct sd_scenario;   /* opaque: a parsed file */
struct sd_fault_spec; /* sockdrill/fault.h */

struct sd_sc_options;
struct sd_trace_event;

/* Parses `len` bytes of scenario text; `path` names it in messages. On success returns 0
 * and *out (free with sd_scenario_free). On a malformed file returns -EINVAL and writes
 * "path:line:col: message" into err; nothing is allocated. A malformed file includes one
 * that reads a variable no earlier line assigns, or waits for a call no earlier line starts. */
int sd_scenario_parse(const char *path, const char *text, size_t len, struct sd_scenario **out,
		      char *err, size_t errlen);
/* Reads and parses a file: as above, plus -ENOENT/-EIO/-EFBIG with a message. */
int sd_scenario_load(const char *path, struct sd_scenario **out, char *err, size_t errlen);
/* The same for a file that will run under `opt` (may be NULL): the variables it predefines
 * ($TARGET_PORT when target_port > 0) count as assigned. */
int sd_scenario_parse_opt(const char *path, const char *text, size_t len,
			  const struct sd_sc_options *opt, struct sd_scenario **out, char *err,
			  size_t errlen);
int sd_scenario_load_opt(const char *path, const struct sd_sc_options *opt,
			 struct sd_scenario **out, char *err, size_t errlen);
void sd_scenario_free(struct sd_scenario *sc);
/* The number of steps (lines with a call, wait, blocked, set or repeat). */
int sd_scenario_steps(const struct sd_scenario *sc);

/* Outcomes kept in a result: the first ones, up to this many. */
#define SD_SC_MAX_OUTCOMES 200000

/* One executed step (a step inside `repeat` runs once per iteration). */
struct sd_sc_outcome {
	int line;      /* in the file */
	int iteration; /* innermost repeat index, -1 outside repeat */
	int ok;        /* the expectation held */
	char call[96]; /* the step as written (trimmed, cut to fit) */
	char got[96];  /* what happened: "3", "-EAGAIN", "\"hello\"", "IN|OUT", "blocked" */
	char norm[64]; /* backend-independent form, for side-by-side comparison */
};

/* What a run did, counted: its cost must grow linearly with the steps run (tests check it). */
struct sd_sc_cost {
	long steps;          /* steps executed, a step in a repeat once per iteration */
	long probes;         /* entries of the variable and started-call tables looked at */
	long pattern_bytes;  /* pattern(N) bytes generated */
	long outcome_allocs; /* (re)allocations of out[] */
};

/* Failures a result lists: the first ones, up to this many (all of them are counted). */
#define SD_SC_MAX_FAILURES 1000

/* One failed step, as the run reported it. */
struct sd_sc_failure {
	int line;          /* in the file */
	int iteration;     /* innermost repeat index, -1 outside repeat */
	char message[512]; /* one line, as sd_sc_result.message for the first */
	int time_bound;    /* 1: the run's time bound (max_time_s) stopped it here */
};

struct sd_sc_result {
	int passed;        /* every expectation held */
	int failed_at;     /* index in out[] of the first failed step, -1 if none */
	char message[512]; /* the failure, one line */
	struct sd_sc_outcome *out;
	int n;
	double seconds; /* wall time of the run */
	struct sd_sc_cost cost;
	/* not run: the file requires a kernel variant (docs/scenarios.md) that the kernel does
	 * not have; passed is 0 and message says why */
	int skipped;
	/* the failed steps in the order they failed, the first SD_SC_MAX_FAILURES of them (one
	 * unless the run kept going, sd_sc_options.keep_going); nfailed counts all */
	struct sd_sc_failure *failures;
	int nfailures, nfailed;
};

struct sd_sc_options {
	uint64_t seed; /* sim seed, used when has_seed (else the file's `set seed`, else 1) */
	int has_seed;
	int timeout_ms;  /* real: bound of wait and of a blocking call (0: the file's or 3000) */
	int target_port; /* > 0: predefines $TARGET_PORT (a server under test, sockdrill wrap) */
	/* the faults around the backend, parsed (sd_fault_parse), or NULL: the file's 'set
	 * faults' */
	const struct sd_fault_spec *faults;
	FILE *fault_log; /* where injected faults are written (JSON lines), or NULL */
	/* keep no outcomes (out stays NULL, failed_at -1): the verdict and message only, in
	 * memory that does not grow with the steps run */
	int verdict_only;
	int max_time_s; /* wall-clock bound of the whole run, s (0: SD_SC_MAX_TIME_S) */
	/* sim: the kernel variant one-role (sim option one-role) for a file that does not
	 * state one with 'requires': 0 mainline (the default), 1 the variant. A run that
	 * compares sim with the kernel sets the host's, sd_real_host_one_role(). */
	int one_role;
	/* 1: the run has a server under test that sockdrill starts and sets faults in (sockdrill
	 * run --inproc, sockdrill wrap --run): the file may state 'set server-faults' and 'set
	 * server-seed' for it. 0: a file stating them is malformed (nothing would apply them). */
	int server_started;
	/* reply_port(fd) reads the port the bytes fd received name with this (a fuzz target's
	 * own reading, sockdrill/fuzz.h); NULL: sd_scenario_reply_port */
	int (*reply_port)(const unsigned char *reply, size_t n);
	/* sim: the kernel profile (sim option profile=, docs/sim-vs-linux.md), NULL the
	 * default; a run that compares sim with the kernel sets "host" */
	const char *profile;
	/* 1: a failed step does not end the run; every step runs (but past the run's time or
	 * step bound) and each failure is listed in sd_sc_result.failures */
	int keep_going;
	/* where the run's calls are traced, one line each (sd_trace_wrap, <sockdrill/trace.h>:
	 * right above the backend, under the faults), or NULL: no trace */
	FILE *trace;
	/* where each call also goes as a structured event (sd_trace_set_sink), or NULL; each
	 * event's step is the index in sd_sc_result.out of the step that was running when the
	 * call started */
	void (*trace_sink)(void *ctx, const struct sd_trace_event *ev);
	void *trace_ctx;
};

/* The default bound of one run (one file on one backend), in seconds. */
#define SD_SC_MAX_TIME_S 600

/* Runs the scenario on a fresh instance of `backend` ("sim", "real", ...). 0 and *res filled
 * (free with sd_sc_result_free), whatever the verdict; a negative errno if the backend
 * could not be opened. A file that requires a kernel variant runs on sim as that variant; on
 * the kernel, when the kernel does not have it, it does not run and res->skipped is set. */
int sd_scenario_run(const struct sd_scenario *sc, const char *backend,
		    const struct sd_sc_options *opt, struct sd_sc_result *res);
void sd_sc_result_free(struct sd_sc_result *res);

/* Runs the scenario on `net`, an instance the caller opened and still owns (a sim a server
 * runs on, in-process): as sd_scenario_run, but the file's seed, segment, preempt and
 * kernel variant are the caller's to apply when opening it (sd_scenario_seed,
 * sd_scenario_sim_config); its 'set faults' wrap net for the run's own calls. Calls still
 * blocked at the end are stopped (sim) or released (real); net stays open. 0 and *res, or a
 * negative errno. */
int sd_scenario_run_on(const struct sd_scenario *sc, struct sd_net *net,
		       const struct sd_sc_options *opt, struct sd_sc_result *res);
/* The sim options a run of sc on sim uses under opt, typed (for sd_config.sim): the file's
 * segment, preempt, kernel variant, tunables and 'set unprivileged', over opt's profile. 0,
 * or -EINVAL when opt names a profile there is not (or "host" and this host's cannot be
 * read). */
int sd_scenario_sim_config(const struct sd_scenario *sc, const struct sd_sc_options *opt,
			   struct sd_sim_config *cfg);
/* The file's 'set server-faults' spec, or NULL when it states none: as the file wrote it (for
 * a server in another process, which parses it from its environment), and parsed. */
const char *sd_scenario_server_faults(const struct sd_scenario *sc);
const struct sd_fault_spec *sd_scenario_server_fault_spec(const struct sd_scenario *sc);
/* 1 and *seed when the file states 'set server-seed', else 0. */
int sd_scenario_server_seed(const struct sd_scenario *sc, uint64_t *seed);
/* The port that reply bytes name the way FTP's passive replies do, "(h1,h2,h3,h4,p1,p2)"
 * (PASV) or "(|||port|)" (EPSV), the last one in the bytes winning; 0 when none. What
 * reply_port(fd) reads by default, and the in-process clients' default too. */
int sd_scenario_reply_port(const unsigned char *reply, size_t n);

/* The seed a run of sc uses under opt. */
uint64_t sd_scenario_seed(const struct sd_scenario *sc, const struct sd_sc_options *opt);

#ifdef __cplusplus
}
#endif
#endif
