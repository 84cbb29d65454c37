/* sockdrill: the in-process server fuzz driver (src/driver/fuzz/include/sockdrill/fuzz.h): the
 * server as an actor on the sim (a fresh one per input, or one kept across inputs in persistent
 * mode), the input's clients (fuzz_client.c) and its faults on the server's calls (fuzz_faults.c),
 * the server's oracles (the connections': fuzz_oracles.c), a scenario run instead of an input. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/fault.h>
#include <sockdrill/fuzz.h>
#include <sockdrill/scenario.h>
#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>
#include <sockdrill/trace.h>

#include "../../util/util.h"
#include "fuzz_input.h"
#include "fuzz_internal.h"
#include "../../interpose/inproc.h"
#include "../../interpose/fresh.h"
#include "../../interpose/proc.h"
#include "../../interpose/threads.h"

/* How long clients may take, in virtual time, before a run counts as stuck: long enough for
 * a server's own idle timeouts (300 s is common) to end a connection first. */
#define CLIENT_LIMIT_NS (600 * 1000000000LL)
/* How long a server may take, in virtual time, to listen on its port after it started. */
#define STARTUP_LIMIT_NS (30 * 1000000000LL)
/* How long the server may take to close what its clients left, checked every step. */
#define LEAK_GRACE_NS (10 * 1000000000LL)
#define GRACE_STEP_NS (50 * 1000000LL)

static struct sd_net *current;

struct sd_net *sd_fuzz_server_net(void) { return current; }

static int server_returned;

static void server_actor(void *arg)
{
	const struct sd_fuzz_server *srv = arg;
	srv->serve(srv->arg);
	server_returned = 1;
}

/* Start-up: the server runs alone until it blocks; then virtual time moves in growing steps
 * (1 ms, 2 ms, 4 ms, ...) until a client's connect to 127.0.0.1:port would find it listening. One
 * that exits first, returns without listening, or has not listened after STARTUP_LIMIT_NS is a
 * harness error: its clients could only be refused. Its actor id. */
static int start_server(const struct sd_fuzz_server *srv, struct sd_net *sim)
{
	server_returned = 0;
	int sid = sd_spawn(sim, "server", server_actor, (void *)srv), status;
	if (sid < 0)
		FINDING("cannot start the server actor: %s", strerror(-sid));
	struct sockaddr_in where = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
	where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int64_t step = 1000000, waited = 0;; step *= 2) {
		sd_sleep_ns(sim, step);
		waited += step;
		int listening = sd_sim_listening(sim, (struct sockaddr *)&where, sizeof where) > 0;
		if (sd__proc_exited(&status))
			sd__harness_error(
				"the server exited with status %d during start-up, %s "
				"127.0.0.1:%d (harness error)",
				status, listening ? "having listened on" : "before it listened on",
				srv->port);
		if (listening)
			return sid;
		if (server_returned)
			sd__harness_error(
				"the server returned during start-up without listening on "
				"127.0.0.1:%d (harness error)",
				srv->port);
		if (waited >= STARTUP_LIMIT_NS)
			sd__harness_error(
				"the server never listened on 127.0.0.1:%d: nothing listened "
				"there %lld virtual seconds after it started (is that its "
				"port?) (harness error)",
				srv->port, (long long)(waited / 1000000000));
	}
}

/* ---- the clients ---------------------------------------------------------------------- */

/* The virtual time the clients may take before the run counts as stuck: CLIENT_LIMIT_NS
 * beyond the longest the plan's own waits and pauses could add up to (clients one after
 * another) and what its delays may add. */
static int64_t client_limit(const struct sd_fuzz_server *srv, const struct sd_fuzz_plan *p)
{
	int64_t t = CLIENT_LIMIT_NS + sd__fz_delay_stretch(p);
	for (int i = 0; !srv->client && i < p->nclients; i++)
		for (int j = 0; j < p->c[i].nmsgs; j++) {
			const struct sd_fuzz_plan_msg *m = &p->c[i].m[j];
			t += (int64_t)m->npieces * SD_FZ_PIECE_GAP_NS;
			if (m->after == SD_AFTER_REPLY)
				t += (SD_FZ_REPLY_WAIT_MS + SD_FZ_QUIET_MS) * 1000000LL;
			else if (m->after == SD_AFTER_SLEEP)
				t += m->sleep_ms * 1000000LL;
		}
	return t;
}

struct slot {
	struct sd_fuzz_client cl;
	const struct sd_fuzz_plan_client *q; /* NULL: the glue's own client */
	struct sd_fuzz_client *from;
};

static struct slot slots[SD_FUZZ_MAX_CLIENTS];

static void client_actor(void *arg)
{
	struct slot *s = arg;
	if (s->q)
		sd__fz_dialog(&s->cl, s->q, s->from);
	else
		s->cl.srv->client(s->cl.srv->arg, &s->cl);
	/* a custom client's connections left open are closed as a dialog's are */
	for (int i = 0; i < sd__fz_nconns; i++)
		if (sd__fz_conns[i].client == s->cl.id && sd__fz_conns[i].fd >= 0)
			sd_fuzz_close(&sd__fz_conns[i], SD_FUZZ_CLOSE);
	sd__fz_client_done(s->cl.net, s->cl.id);
}

/* The clients, each an actor, `together` at a time, until every one has ended; the
 * transcript; a run where they wait for ever (or past CLIENT_LIMIT_NS) with the server still
 * there is a finding, unless that oracle is off (then the run ends there). */
static void run_clients(const struct sd_fuzz_server *srv, const struct sd_fuzz_plan *plan,
			const struct sd_fuzz_dict *dict, struct fin rest, struct sd_net *sim,
			unsigned off, int faults, const char *transcript)
{
	int n = srv->client ? 1 : plan->nclients, together = srv->client ? 1 : plan->together;
	int ids[SD_FUZZ_MAX_CLIENTS];
	sd__fz_conns_reset();
	for (int i = 0; i < n; i++)
		slots[i] = (struct slot){
			.cl = {.srv = srv,
			       .net = sim,
			       .dict = dict,
			       .in = rest,
			       .id = i,
			       .oracle_reply = !(off & SD_ORACLE_REPLY) && !faults},
			.q = srv->client ? NULL : &plan->c[i],
			.from = !srv->client && plan->c[i].from >= 0 ? &slots[plan->c[i].from].cl
								     : NULL};
	/* A server thread that sleeps in a loop keeps time moving: the limit ends such a run. */
	sd_sim_set_time_limit(sim, sd_now_ns(sim) + client_limit(srv, plan));
	int stuck = 0, started = 0; /* stuck: a client that never ended, the server still there */
	for (int i = 0; i < n && !stuck; i++) {
		if (i >= together)
			stuck = sd_join(sim, ids[i - together]) < 0 && !sd__proc_exited(NULL);
		if (stuck)
			break;
		if ((ids[i] = sd_spawn(sim, "client", client_actor, &slots[i])) < 0)
			FINDING("cannot start client %d: %s", i, strerror(-ids[i]));
		started++;
	}
	for (int i = started > together ? started - together : 0; i < started && !stuck; i++)
		stuck = sd_join(sim, ids[i]) < 0 && !sd__proc_exited(NULL);
	sd__fz_write_transcript(transcript, n);
	if (stuck)
		sd__fz_record_blocked();
	if (stuck && !(off & SD_ORACLE_DEADLOCK))
		FINDING("clients and server are all blocked: %s", sd_sim_deadlock_report(sim));
	sd_sim_set_time_limit(sim, -1);
}

/* ---- one input ------------------------------------------------------------------------ */

/* The server's world: its sim (kept across inputs in persistent mode) and the fault wrapper
 * its calls go through. Every call goes to `sim`: the sim itself (`backend`), or with
 * SOCKDRILL_TRACE a trace wrapper right above it, under the fault wrapper. */
static struct {
	int live, sid, base_fds, base_listening, persistent;
	long inputs, starts;
	struct sd_net backend, sim, faulty;
	FILE *events; /* SOCKDRILL_TRACE_EVENTS: the trace's events, a JSON line each */
} W;

static int persistent_mode(const struct sd_fuzz_server *srv)
{
	const char *e = getenv("SOCKDRILL_PERSISTENT");
	if (e && *e)
		return *e != '0';
	return srv->persistent != 0;
}

/* At exit, in persistent mode: how many inputs one server start served (a server that exits
 * is started again), the figure that says how persistent a campaign was. */
static void persistent_summary(void)
{
	fprintf(stderr, "sockdrill: persistent mode: %ld inputs, the server started %ld time%s\n",
		W.inputs, W.starts, W.starts == 1 ? "" : "s");
}

/* Opens the sim and the wrapper and starts the server on them (under startup_spec). */
static void open_world(const struct sd_fuzz_server *srv, uint64_t seed,
		       const struct sd_sim_config *sim, const struct sd_fault_spec *spec,
		       uint64_t fault_seed, FILE *fault_log)
{
	struct sd_config cfg = {.seed = seed, .sim = sim};
	struct sd_fault_spec start;
	int later = sd__fz_startup_spec(spec, &start);
	if (sd_net_open(&W.backend, "sim", &cfg) < 0)
		FINDING("cannot open the sim");
	const char *tr = getenv("SOCKDRILL_TRACE");
	W.sim = W.backend;
	if (tr && *tr && *tr != '0' && sd_trace_wrap(&W.sim, &W.backend, stderr) < 0)
		FINDING("cannot trace the sim");
	/* with the trace, its calls as events too, for a timeline (sockdrill repro --html);
	 * opened before the server's world begins, appended to when the server starts again */
	const char *evpath = getenv("SOCKDRILL_TRACE_EVENTS");
	if (W.sim.ops == &sd_trace_ops && evpath && *evpath) {
		if (!(W.events = fopen(evpath, "ae")))
			FINDING("cannot write the trace's events");
		setvbuf(W.events, NULL, _IOLBF, 0); /* each line out at once: a crash keeps it */
		sd_trace_set_sink(&W.sim, sd_trace_json_lines, W.events);
	}
	if (sd_fault_wrap(&W.faulty, &W.sim, &start, fault_seed, fault_log) < 0)
		FINDING("cannot wrap the sim");
	/* The server's own calls go through the fault wrapper; the clients' do not. */
	current = &W.faulty;
	sd_inproc_attach(&W.faulty);
	sd__output_capture(1); /* the server's last output, for a harness error */
	sd__fresh_begin(); /* the server's globals, descriptors and signals as a new process's */
	W.sid = start_server(srv, &W.sim);
	if (later)
		sd_fault_respec(&W.faulty, spec, fault_seed, fault_log);
	struct sd_sim_stats st;
	sd_sim_stats(&W.sim, &st);
	W.base_fds = st.open_fds;
	W.base_listening = st.listening;
	W.live = 1;
	W.starts++;
}

/* Discards the sim with everything in it, and the server's process state. */
static void close_world(const struct sd_fuzz_server *srv)
{
	sd__fz_conns_trim(0);
	sd__output_capture(0);
	sd_inproc_attach(NULL);
	current = NULL;
	sd_net_close(&W.faulty);
	if (W.sim.ops != W.backend.ops)
		sd_net_close(&W.sim); /* the trace wrapper */
	if (W.events)
		fclose(W.events);
	W.events = NULL;
	sd_net_close(&W.backend);
	sd__fresh_end();
	/* The run's threads, locks and exit are forgotten; then the glue's own globals. */
	sd__threads_reset();
	sd__proc_reset();
	W.live = 0;
	if (srv->reset)
		srv->reset(srv->arg);
}

/* 1 when the server has ended itself (the input is over); an unexpected status is a finding
 * unless that oracle is off. */
static int server_exited_judged(const struct sd_fuzz_server *srv, unsigned off)
{
	int status;
	if (!sd__proc_exited(&status))
		return 0;
	if (!(off & SD_ORACLE_EXIT) &&
	    (srv->exit_expected ? !srv->exit_expected(status) : status != 0))
		FINDING("the server exited with status %d", status);
	return 1;
}

/* After the clients: unless the server has ended (ended), it has up to LEAK_GRACE_NS to close
 * what they left, then holds no more descriptors or listeners than when it was listening
 * (calls the input delays take longer). 1 when the server has ended. */
static int leak_oracles(const struct sd_fuzz_server *srv, unsigned off, int ended, int64_t stretch)
{
	struct sd_sim_stats st = {0};
	int64_t step = GRACE_STEP_NS;
	for (int64_t waited = 0; !ended;
	     waited += step, step = step < LEAK_GRACE_NS ? 2 * step : step) {
		sd_sim_stats(&W.sim, &st);
		if ((st.open_fds <= W.base_fds && st.listening <= W.base_listening) ||
		    waited >= LEAK_GRACE_NS + stretch)
			break;
		sd_sleep_ns(&W.sim, step);
		ended = server_exited_judged(srv, off);
	}
	if (!ended) {
		if (!(off & SD_ORACLE_FD_LEAK) && st.open_fds > W.base_fds)
			FINDING("%d descriptors open after every client left, %d before (a leak?)",
				st.open_fds, W.base_fds);
		if (!(off & SD_ORACLE_LISTENERS) && st.listening > W.base_listening)
			FINDING("%d sockets listening after every client left, %d before",
				st.listening, W.base_listening);
	}
	return ended;
}

/* The input is spent. A server that returns by itself when idle is joined; one still blocked
 * (an accept loop that never ends) is stopped where it waits: closing the sim reclaims its
 * stack and descriptors, so the next input starts from nothing. */
static void end_world(const struct sd_fuzz_server *srv, unsigned off, int ended, int64_t stretch)
{
	if (!ended) {
		sd_sleep_ns(&W.sim, 10000000000LL);
		/* What the input's waits held up (a call that stops answering for 10 s, delays on
		 * every call) may still be under way: a server that returns when idle gets that
		 * long too, in doubling steps, before it is stopped where it waits (stopped, it
		 * would leave what it allocated: a false leak). No wall time passes. */
		for (int64_t waited = 0, step = GRACE_STEP_NS;
		     waited < stretch && !server_returned && !sd__proc_exited(NULL);
		     waited += step, step *= 2)
			sd_sleep_ns(&W.sim, step < stretch - waited ? step : stretch - waited);
		if (!server_exited_judged(srv, off) && server_returned &&
		    sd_join(&W.sim, W.sid) < 0)
			FINDING("cannot join the server: %s", sd_sim_deadlock_report(&W.sim));
	}
	close_world(srv);
}

static int replay(const struct sd_fuzz_server *srv, const char *path);

int sd_fuzz_server_run(const struct sd_fuzz_server *srv, const uint8_t *data, size_t size)
{
	const char *scenario = getenv("SOCKDRILL_SCENARIO");
	if (scenario && *scenario)
		return replay(srv, scenario);
	sd__fz_learn(srv); /* the mutators' view of the messages (fuzz_mutate_lf.c) */
	struct sd_fuzz_plan plan;
	struct sd_fuzz_dict dict = {srv->requests, srv->request_lens, srv->nrequests};
	struct fin rest = {data, size};
	if (srv->client)
		sd_fuzz_plan_header(&rest, &plan);
	else
		sd_fuzz_plan_decode(data, size, &dict, &plan);
	unsigned off = sd__fz_oracles_off(srv);
	int faults = sd__fz_faults_change_replies(&plan);
	/* A failed accept the input makes up exhausts no descriptor: a server that then waits for
	 * one of its connections to close before it accepts again (lighttpd does) waits for
	 * ever, correctly. Such inputs are judged by crashes, sanitizers and exits only. */
	if (plan.fault[SD_FZ_ACCEPT_FAIL])
		off |= SD_ORACLE_DEADLOCK | SD_ORACLE_FD_LEAK | SD_ORACLE_LISTENERS;
	/* Likewise a send refused with ENOBUFS or ENOMEM that the server does not notice: its
	 * peer waits for what never came, and the server for the peer's answer (tinyproxy and
	 * its upstream), until a time-out of the server's own. */
	if (faults == SD_FAULTS_LOSE_WRITES)
		off |= SD_ORACLE_DEADLOCK | SD_ORACLE_FD_LEAK | SD_ORACLE_LISTENERS;
	struct sd_fault_spec spec;
	sd__fz_fault_spec(&plan, &spec);
	/* Read before the server runs: it may replace environ (nginx keeps only TZ). */
	const char *tr = getenv("SOCKDRILL_TRACE"), *transcript = getenv("SOCKDRILL_TRANSCRIPT");
	FILE *fault_log = sd__fz_record_start(srv, &plan, data, size);
	if (!fault_log && tr && *tr && *tr != '0')
		fault_log = stderr; /* each injected fault in the trace, before the call it hits */
	if (!W.inputs++ && (W.persistent = persistent_mode(srv)))
		atexit(persistent_summary);
	if (W.live) {
		sd_fault_respec(&W.faulty, &spec, plan.seed, fault_log);
	} else {
		struct sd_sim_config sim;
		sd_sim_config_init(&sim);
		sim.segment = (int)plan.segment; /* 0..12 */
		open_world(srv, plan.seed, &sim, &spec, plan.seed, fault_log);
	}

	run_clients(srv, &plan, &dict, rest, &W.sim, off, faults, transcript);
	int ended = server_exited_judged(srv, off); /* every client stopped with it */
	for (int i = 0; i < sd__fz_nconns && !ended; i++)
		sd__fz_judge(srv, &sd__fz_conns[i], off, faults);
	ended = leak_oracles(srv, off, ended, sd__fz_delay_stretch(&plan));
	sd__fz_record_finish();
	if (W.persistent && !ended) {
		sd_fault_respec(&W.faulty, &spec, plan.seed, NULL); /* the log may close now */
		return 0;
	}
	end_world(srv, off, ended, sd__fz_delay_stretch(&plan));
	return 0;
}

/* ---- a scenario instead of the input (sockdrill run --inproc; docs/inproc.md) ------------- */

static void replay_options(const struct sd_fuzz_server *srv, struct sd_sc_options *opt)
{
	const char *v = getenv("SOCKDRILL_SCENARIO_VERBOSE"), *seed, *max;
	*opt = (struct sd_sc_options){.target_port = srv->port,
				      .server_started = 1,
				      .reply_port = srv->reply_port,
				      .verdict_only = !(v && *v == '1')};
	if ((seed = getenv("SOCKDRILL_SCENARIO_SEED")) && *seed)
		opt->seed = strtoull(seed, NULL, 10), opt->has_seed = 1;
	if ((max = getenv("SOCKDRILL_SCENARIO_MAX_TIME")) && *max)
		opt->max_time_s = atoi(max);
}

/* SOCKDRILL_SCENARIO=FILE: the server starts as for an input, on a sim opened with the file's
 * seed and segment, behind its 'set server-faults' (seeded by 'set server-seed'); the file's
 * steps are its clients, on the same sim; the oracles on the server then apply as after an
 * input's clients (the leak oracles only when every step matched). The verdict goes to the
 * file SOCKDRILL_SCENARIO_RESULT names: "passed" or "failed", the seconds and steps, the
 * message. A crash ends the process before, as for an input. Once per process. */
static int replay(const struct sd_fuzz_server *srv, const char *path)
{
	static int replayed; /* libFuzzer runs an input again to look for leaks: once is the run */
	if (replayed++)
		return 0;
	struct sd_sc_options opt;
	struct sd_scenario *sc;
	struct sd_sc_result res;
	static const struct sd_fault_spec none; /* a file without 'set server-faults' */
	struct sd_sim_config sim;
	char err[600];
	const char *tr = getenv("SOCKDRILL_TRACE"), *out = getenv("SOCKDRILL_SCENARIO_RESULT");
	replay_options(srv, &opt);
	if (sd_scenario_load_opt(path, &opt, &sc, err, sizeof err) < 0)
		sd__harness_error("SOCKDRILL_SCENARIO: %s", err);
	const struct sd_fault_spec *spec = sd_scenario_server_fault_spec(sc);
	uint64_t seed = sd_scenario_seed(sc, &opt), fault_seed = seed;
	sd_scenario_server_seed(sc, &fault_seed);
	if (sd_scenario_sim_config(sc, &opt, &sim) < 0)
		FINDING("cannot open the sim");
	unsigned off = sd__fz_oracles_off(srv);
	if (W.live)
		close_world(srv); /* a persistent server of an earlier input */
	open_world(srv, seed, &sim, spec ? spec : &none, fault_seed,
		   tr && *tr && *tr != '0' ? stderr : NULL);
	sd_sim_set_time_limit(&W.sim, sd_now_ns(&W.sim) + CLIENT_LIMIT_NS);
	if (sd_scenario_run_on(sc, &W.sim, &opt, &res) < 0)
		sd__harness_error("SOCKDRILL_SCENARIO: %s: cannot run its steps", path);
	sd_sim_set_time_limit(&W.sim, -1);
	for (int i = 0; i < res.n; i++) /* as sockdrill run --verbose shows them */
		printf("    sim  line %-4d %-58s => %s%s\n", res.out[i].line, res.out[i].call,
		       res.out[i].got, res.out[i].ok ? "" : "   <-- FAILED");
	fflush(stdout);
	int ended = server_exited_judged(srv, off);
	if (res.passed)
		ended = leak_oracles(srv, off, ended, 0);
	end_world(srv, off, ended, 0);
	FILE *f = out && *out ? fopen(out, "we") : NULL;
	if (out && *out && !f)
		sd__harness_error("SOCKDRILL_SCENARIO_RESULT: %s: %s", out, strerror(errno));
	if (f) {
		fprintf(f, "%s\n%.6f %d\n%s\n", res.passed ? "passed" : "failed", res.seconds,
			sd_scenario_steps(sc), res.message);
		if (fclose(f) != 0)
			sd__harness_error("SOCKDRILL_SCENARIO_RESULT: %s: %s", out,
					  strerror(errno));
	}
	sd_sc_result_free(&res);
	sd_scenario_free(sc);
	return 0;
}
