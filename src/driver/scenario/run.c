/* sockdrill scenarios: running a parsed scenario on one backend, step by step: the calls
 * that may block (jobs: actors of the backend, bounded where they block a thread), the step
 * loop and the result. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <time.h>

#include <sockdrill/fault.h>
#include <sockdrill/real.h>
#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "../../util/util.h"
#include "sc_internal.h"

/* ---- jobs: calls that may block, each an actor of the backend ---------------------------- */

/* A call that may block runs as an actor of the backend (sd_spawn): a thread on one whose
 * calls block their thread (SD_CAP_BLOCKS_THREAD), waited for with a deadline
 * (sd_join_until), so that a wrong expectation cannot hang the run; a coroutine on the sim,
 * joined when it is collected. */
struct job {
	struct sd_net *net;
	enum sc_call call;
	struct sc_args a;
	struct sc_res r;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done, is_thread, id, joined;
	int cancel; /* the run is over: a started sleep on a thread ends now */
	char name[32];
};

static struct timespec realtime_in(int64_t ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000)
		t.tv_sec++, t.tv_nsec -= 1000000000;
	return t;
}

/* On a thread, a started sleep waits on its job, so that the end of the run can cut it short. */
static void job_sleep(struct job *j, struct sc_res *r)
{
	struct timespec until = realtime_in(j->a.n[0]);
	memset(r, 0, sizeof *r);
	pthread_mutex_lock(&j->m);
	while (!j->cancel && pthread_cond_timedwait(&j->cv, &j->m, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&j->m);
}

static void job_actor(void *arg)
{
	struct job *j = arg;
	struct sc_res r;
	if (j->is_thread && j->call == C_SLEEP)
		job_sleep(j, &r);
	else
		sc__exec(j->net, j->call, &j->a, &r);
	pthread_mutex_lock(&j->m);
	j->r = r;
	j->done = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->m);
}

/* Starts the job as an actor; `threads`: the backend's calls block their thread. */
static int job_start(struct job *j, int threads)
{
	pthread_mutex_init(&j->m, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->is_thread = threads;
	if (threads)
		j->a.cancel = &j->cancel; /* a call that only a timeout ends looks at it */
	j->id = sd_spawn(j->net, j->name, job_actor, j);
	return j->id < 0 ? j->id : 0;
}

/* 1 when the job finished (within timeout_ms on a thread), 0 if not; on a sim, -EDEADLK when
 * it never can. */
static int job_wait(struct job *j, int timeout_ms)
{
	if (j->joined)
		return 1;
	int rc = j->is_thread ? sd_join_until(j->net, j->id,
					      sd_now_ns(j->net) + (int64_t)timeout_ms * 1000000)
			      : sd_join(j->net, j->id);
	if (j->is_thread && rc == -ETIMEDOUT)
		return 0;
	if (rc < 0)
		return rc;
	j->joined = 1;
	return 1;
}

static int job_done(struct job *j)
{
	pthread_mutex_lock(&j->m);
	int d = j->done;
	pthread_mutex_unlock(&j->m);
	return d;
}

/* ---- the run ----------------------------------------------------------------------------- */

struct handle {
	struct job *job;
	const struct sc_step *st;
	int collected; /* a wait saw it finish */
};

static struct sd_sc_outcome *record(struct run *R, const struct sc_step *st)
{
	struct sd_sc_result *res = R->res;
	if (R->verdict_only || res->n >= SD_SC_MAX_OUTCOMES)
		return NULL;
	if (res->n == R->capout) { /* doubling: n outcomes cost O(n) copying in all */
		int cap = R->capout ? R->capout * 2 : 64;
		if (cap > SD_SC_MAX_OUTCOMES)
			cap = SD_SC_MAX_OUTCOMES;
		struct sd_sc_outcome *g = realloc(res->out, (size_t)cap * sizeof *g);
		if (!g)
			return NULL;
		res->out = g;
		R->capout = cap;
		res->cost.outcome_allocs++;
	}
	struct sd_sc_outcome *o = &res->out[res->n++];
	memset(o, 0, sizeof *o);
	o->line = st->line;
	o->iteration = R->iter;
	o->ok = 1;
	snprintf(o->call, sizeof o->call, "%.*s", st->text_len, sc_text(R->sc, st));
	return o;
}

static int may_block(enum sc_call c)
{
	return c == C_ACCEPT || c == C_CONNECT || c == C_SEND || c == C_RECV || c == C_POLL ||
	       c == C_SLEEP || c == C_RECV_UNTIL || c == C_RECVLINE || c == C_SENDTO ||
	       c == C_RECVMSG || c == C_EPOLL_WAIT;
}

/* The call last started under the step's handle. */
static struct handle *find_handle(struct run *R, const struct sc_step *st, char *why, size_t wl)
{
	const struct sc_ref *r = sc_handle(R->sc, st);
	int indexed;
	int64_t index, *i;
	if (sc__ref_key(R, r, &indexed, &index, why, wl) < 0)
		return NULL;
	if ((i = sc__table_find(R, &R->handles, r->name, indexed, index, 0)))
		return &R->h[*i];
	char key[64];
	sc__key_text(R, r, indexed, index, key, sizeof key);
	snprintf(why, wl, "no call was started as %s", key);
	return NULL;
}

static void free_job(struct job *j)
{
	free(j->a.rbuf);
	free(j->a.sbuf);
	pthread_mutex_destroy(&j->m);
	pthread_cond_destroy(&j->cv);
	free(j);
}

/* On threads: how long a step may block, ms: the timeout, or what is left of the run's bound. */
static int step_limit(const struct run *R, int *by_max_time)
{
	double left = (R->deadline - sd__mono_s()) * 1000;
	*by_max_time = left < R->timeout_ms;
	return !*by_max_time ? R->timeout_ms : left > 0 ? (int)left : 0;
}

/* The run's time bound reached "in" or "before" step st: its failure, marked as the bound's (a
 * report tells it from the step's own), and the end of the run, as the steps after it would
 * only report the same bound. */
static void bound_failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o,
			  const char *when)
{
	struct sd_sc_result *res = R->res;
	int kept = res->nfailures;
	sc__failure(R, st, o, "the run reached its time bound (--max-time %d s) %s this step",
		    R->max_time_s, when);
	if (res->nfailures > kept)
		res->failures[kept].time_bound = 1;
	R->stop = 1;
}

static void blocked_failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o,
			    int limit, int by_max_time)
{
	if (o)
		snprintf(o->got, sizeof o->got, "blocked"),
			snprintf(o->norm, sizeof o->norm, "blocked");
	if (by_max_time)
		bound_failure(R, st, o, "in");
	else
		sc__failure(R, st, o, "still blocked after %d ms (see 'set timeout')", limit);
}

static void step_call(struct run *R, const struct sc_step *st)
{
	struct sd_sc_outcome *o = record(R, st);
	char why[160] = "";
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		sc__failure(R, st, o, "out of memory");
		return;
	}
	j->net = &R->net;
	j->call = st->call;
	if (st->actor_len)
		snprintf(j->name, sizeof j->name, "%.*s", st->actor_len, sc_text(R->sc, st));
	else
		snprintf(j->name, sizeof j->name, "step");
	if (sc__resolve(R, st, &j->a, why, sizeof why) < 0) {
		sc__failure(R, st, o, "%s", why);
		free_job(j);
		return;
	}
	if (st->kind == S_START) {
		const struct sc_ref *r = sc_handle(R->sc, st);
		if (R->pending == SC_MAX_PENDING) {
			sc__failure(
				R, st, o,
				"more than %d started calls pending (collect some with wait first)",
				SC_MAX_PENDING);
			free_job(j);
			return;
		}
		int indexed;
		int64_t index, *slot;
		if (sc__ref_key(R, r, &indexed, &index, why, sizeof why) < 0 ||
		    sc__grow((void **)&R->h, &R->caph, R->nh, sizeof *R->h) < 0 ||
		    !(slot = sc__table_find(R, &R->handles, r->name, indexed, index, 1))) {
			sc__failure(R, st, o, "%s", why[0] ? why : "out of memory");
			free_job(j);
			return;
		}
		int rc = job_start(j, R->threads);
		if (rc < 0) {
			sc__failure(R, st, o, "cannot start the call: %s", strerror(-rc));
			free_job(j);
			return;
		}
		*slot = R->nh; /* a handle started again names the new call from now on */
		R->h[R->nh++] = (struct handle){.job = j, .st = st};
		R->pending++;
		if (o)
			snprintf(o->got, sizeof o->got, "started"),
				snprintf(o->norm, sizeof o->norm, "started");
		return;
	}
	int by_max_time = 0, limit = R->threads ? step_limit(R, &by_max_time) : 0;
	if (R->threads && !by_max_time && st->call == C_SEND &&
	    (j->a.pace_ms > 0 || j->a.hold_ms > 0))
		/* a paced send's own pauses do not count against the timeout (bounded: resolve) */
		limit += (int)(j->a.pace_ms * (int64_t)(j->a.dlen ? j->a.dlen - 1 : 0) +
			       (j->a.hold_ms > 0 ? j->a.hold_ms : 0));
	if (R->threads && st->call == C_SLEEP) {
		/* wall time, here: a sleep past the bound sleeps to it and fails */
		int64_t ms = j->a.n[0] > limit ? limit : j->a.n[0];
		j->r.v = sd_sleep_ns(&R->net, ms * 1000000);
		if (ms < j->a.n[0]) {
			blocked_failure(R, st, o, limit, by_max_time);
			free_job(j);
			return;
		}
	} else if (R->threads && may_block(st->call)) {
		/* On the kernel a wrong expectation must not hang the run: bounded wait. */
		if (job_start(j, 1) < 0 || job_wait(j, limit) != 1) {
			blocked_failure(R, st, o, limit, by_max_time);
			if (sc__grow((void **)&R->stuck, &R->capstuck, R->nstuck,
				     sizeof *R->stuck) == 0)
				R->stuck[R->nstuck++] = j;
			return;
		}
	} else {
		sc__exec(&R->net, st->call, &j->a, &j->r);
	}
	sc__after_call(R, st->call, &j->a, &j->r);
	sc__conclude(R, st, st->call, &j->r, o);
	free_job(j);
}

static void step_wait(struct run *R, const struct sc_step *st)
{
	struct sd_sc_outcome *o = record(R, st);
	char why[160] = "";
	struct handle *h = find_handle(R, st, why, sizeof why);
	if (!h) {
		sc__failure(R, st, o, "%s", why);
		return;
	}
	if (st->kind == S_BLOCKED) {
		/* Give the call time to finish if it was going to: wall time on real, virtual
		 * time (other actors run meanwhile) on sim. */
		sd_sleep_ns(&R->net, 50 * 1000000LL);
		if (job_done(h->job)) {
			char got[96], norm[64];
			sc__describe(h->job->call, sc_expect_of(R->sc, h->st), &h->job->r, 1, got,
				     sizeof got, norm, sizeof norm);
			if (o)
				sd__textf(o->got, sizeof o->got, "returned %s", got),
					snprintf(o->norm, sizeof o->norm, "returned");
			sc__failure(R, st, o,
				    "expected the call to be still blocked, but it returned %s",
				    got);
		} else if (o) {
			snprintf(o->got, sizeof o->got, "blocked");
			snprintf(o->norm, sizeof o->norm, "blocked");
		}
		return;
	}
	int by_max_time = 0, limit = R->threads ? step_limit(R, &by_max_time) : 0;
	int rc = job_wait(h->job, limit);
	if (rc == 1 && !h->collected) {
		h->collected = 1;
		R->pending--;
		sc__after_call(R, h->job->call, &h->job->a, &h->job->r);
	}
	if (rc == 1) {
		sc__conclude(R, st, h->job->call, &h->job->r, o);
		return;
	}
	if (rc != -EDEADLK) {
		blocked_failure(R, st, o, limit, by_max_time);
		return;
	}
	if (o)
		snprintf(o->got, sizeof o->got, "blocked"),
			snprintf(o->norm, sizeof o->norm, "blocked");
	sc__failure(R, st, o, "the call can never finish: %s",
		    sc_deadlock_report(R) ? sc_deadlock_report(R) : "deadlock");
}

uint64_t sd_scenario_seed(const struct sd_scenario *sc, const struct sd_sc_options *opt)
{
	return opt && opt->has_seed ? opt->seed : sc->has_seed ? sc->seed : 1;
}

static void job_cancel(struct job *j)
{
	pthread_mutex_lock(&j->m);
	j->cancel = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->m);
}

/* Ends every background call: threads blocked in the kernel are released by shutting their
 * sockets down, sleeping ones told to stop; they get 2 s in all. On sim, actors are dropped
 * with the instance. 1 if a thread is still stuck. */
static int release_jobs(struct run *R)
{
	int stuck = 0;
	if (!R->threads)
		return 0;
	for (int i = 0; i < R->nfds; i++)
		sd_shutdown(&R->net, R->fds[i], SHUT_RDWR);
	for (int i = 0; i < R->nh; i++)
		job_cancel(R->h[i].job);
	for (int i = 0; i < R->nstuck; i++)
		job_cancel(R->stuck[i]);
	double until = sd__mono_s() + 2;
	for (int i = 0; i < R->nh + R->nstuck; i++) {
		struct job *j = i < R->nh ? R->h[i].job : R->stuck[i - R->nh];
		double left = (until - sd__mono_s()) * 1000;
		if (job_wait(j, left > 0 ? (int)left : 0) != 1)
			stuck = 1;
	}
	return stuck;
}

static void result_init(struct run *R, const struct sd_scenario *sc,
			const struct sd_sc_options *opt, struct sd_sc_result *res)
{
	*R = (struct run){.sc = sc, .iter = -1, .res = res, .opt = opt};
	memset(res, 0, sizeof *res);
	res->passed = 1;
	res->failed_at = -1;
	R->max_time_s = opt && opt->max_time_s > 0 ? opt->max_time_s : SD_SC_MAX_TIME_S;
	R->verdict_only = opt && opt->verdict_only;
	R->keep_going = opt && opt->keep_going;
	R->timeout_ms = opt && opt->timeout_ms > 0 ? opt->timeout_ms
			: sc->timeout_ms > 0       ? sc->timeout_ms
						   : 3000;
}

/* The steps in order, repeats repeated, until the end, a failure (unless keep_going) or a
 * bound of the whole run. */
static void step_loop(struct run *R)
{
	const struct sd_scenario *sc = R->sc;
	struct sd_sc_result *res = R->res;
	struct {
		int begin, count, iter;
	} stack[SC_MAX_DEPTH];
	int depth = 0;
	for (int pc = 0; pc < sc->n && !R->stop && (res->passed || R->keep_going); pc++) {
		const struct sc_step *st = &sc->steps[pc];
		/* the parser bounds the steps a file runs; repeat and '}' are not steps, and a
		 * repeat with no step inside is skipped whole, so they cost no more than these */
		if (st->kind != S_REPEAT && st->kind != S_END && ++res->cost.steps > SC_MAX_STEPS) {
			sc__failure(R, st, NULL, "stopped after %d steps", SC_MAX_STEPS);
			R->stop = 1;
			break;
		}
		if (st->kind != S_REPEAT && st->kind != S_END && sd__mono_s() >= R->deadline) {
			bound_failure(R, st, NULL, "before");
			break;
		}
		if (R->traced.ops && st->kind != S_REPEAT && st->kind != S_END)
			sd_trace_set_step(&R->traced, res->n); /* the outcome this step will be */
		switch (st->kind) {
		case S_REPEAT:
			if (st->count == 0) {
				pc = st->match;
				break;
			}
			stack[depth].begin = pc;
			stack[depth].count = st->count;
			stack[depth].iter = 0;
			depth++;
			R->iter = 0;
			break;
		case S_END:
			if (++stack[depth - 1].iter < stack[depth - 1].count) {
				pc = stack[depth - 1].begin;
				R->iter = stack[depth - 1].iter;
			} else {
				depth--;
				R->iter = depth ? stack[depth - 1].iter : -1;
			}
			break;
		case S_CALL:
		case S_START: step_call(R, st); break;
		case S_WAIT:
		case S_BLOCKED: step_wait(R, st); break;
		}
	}
}

/* After the steps: the background calls ended, the time taken, and what the run holds freed. */
static void run_free(struct run *R, int own, double t0)
{
	const struct sd_scenario *sc = R->sc;
	struct sd_sc_result *res = R->res;
	int stuck = release_jobs(R);
	res->seconds = sd__mono_s() - t0;
	if (!stuck) {
		/* on a sim the caller keeps, a call still waiting must never wake to a freed job */
		for (int i = 0; i < R->nh && !own && !R->threads; i++)
			if (!job_done(R->h[i].job))
				sd_sim_actor_stop(R->backend, R->h[i].job->id);
		for (int i = 0; i < R->nfds && R->close_fds; i++)
			sd_close(&R->net, R->fds[i]);
		for (int i = 0; i < R->nh; i++)
			free_job(R->h[i].job);
		for (int i = 0; i < R->nstuck; i++)
			free_job(R->stuck[i]);
		if (R->wrapped)
			sd_net_close(&R->net);
		if (R->traced.ops)
			sd_net_close(&R->traced);
		if (own)
			sd_net_close(R->backend);
		for (int i = 0; i < R->noldpats; i++)
			free(R->oldpats[i]);
		free(R->oldpats);
		free(R->pat);
	} else if (res->passed) {
		res->passed = 0;
		snprintf(res->message, sizeof res->message,
			 "%s: a background call could not be stopped after the run", sc->path);
	}
	/* (a thread still stuck in the kernel keeps its job and the instance: they leak rather
	 * than being freed under it) */
	for (size_t i = 0; i < R->vars.cap; i++)
		free(R->vars.s[i].str);
	free(R->vars.s);
	free(R->handles.s);
	free(R->h);
	free(R->fds);
	free(R->stuck);
	free(R->tails);
	free(R->msgs);
}

/* Runs the steps on R->backend (opened, and closed after when own), behind the file's faults;
 * 0, or a negative errno when the wrapper could not be made. */
static int run_steps(struct run *R, int own, uint64_t seed)
{
	const struct sd_scenario *sc = R->sc;
	const struct sd_sc_options *opt = R->opt;
	/* Faults wrap the backend: the run talks to the wrapper, which forwards to it. A trace
	 * sits between them, so that a fault's note comes before the call it changes. */
	const struct sd_fault_spec *spec = opt && opt->faults ? opt->faults : &sc->faults;
	struct sd_net *below = R->backend;
	int traced = opt && (opt->trace || opt->trace_sink);
	int rc = traced ? sd_trace_wrap(&R->traced, R->backend, opt->trace) : 0;
	if (rc == 0 && traced) {
		below = &R->traced;
		sd_trace_set_sink(&R->traced, opt->trace_sink, opt->trace_ctx);
	}
	if (rc == 0 && sd_fault_active(spec))
		rc = sd_fault_wrap(&R->net, below, spec, seed, opt ? opt->fault_log : NULL);
	else if (rc == 0)
		R->net = *below;
	if (rc < 0) {
		if (below != R->backend)
			sd_net_close(below);
		if (own)
			sd_net_close(R->backend);
		return rc;
	}
	R->wrapped = sd_fault_active(spec);
	if (opt && opt->target_port > 0 && sc->sym_target >= 0) {
		int64_t *slot = sc__table_find(R, &R->vars, sc->sym_target, 0, 0, 1);
		if (slot)
			*slot = opt->target_port;
	}
	double t0 = sd__mono_s();
	R->deadline = t0 + R->max_time_s;
	step_loop(R);
	run_free(R, own, t0);
	return 0;
}

int sd_scenario_run(const struct sd_scenario *sc, const char *backend,
		    const struct sd_sc_options *opt, struct sd_sc_result *res)
{
	struct run R;
	struct sd_sim_config sim;
	result_init(&R, sc, opt, res);
	/* the configuration depends on what the backend is: asked of it before it is opened */
	int caps = sd_backend_caps(backend);
	if (caps < 0)
		return caps;
	R.caps = (unsigned)caps;
	R.threads = !!(R.caps & SD_CAP_BLOCKS_THREAD);
	if ((R.caps & SD_CAP_KERNEL) && sc__kernel_lacks(sc, res))
		return 0;
	/* the file's settings reach a backend that takes the sim's configuration; the kernel
	 * has the host's */
	int sim_config = !!(R.caps & SD_CAP_SIM_CONFIG);
	int rc = sim_config ? sd_scenario_sim_config(sc, opt, &sim) : 0;
	if (rc < 0)
		return rc;
	struct sd_config cfg = {.seed = sd_scenario_seed(sc, opt), .sim = sim_config ? &sim : NULL};
	rc = sd_net_open(&R.base, backend, &cfg);
	if (rc < 0)
		return rc;
	R.backend = &R.base;
	return run_steps(&R, 1, cfg.seed);
}

int sd_scenario_run_on(const struct sd_scenario *sc, struct sd_net *net,
		       const struct sd_sc_options *opt, struct sd_sc_result *res)
{
	struct run R;
	result_init(&R, sc, opt, res);
	R.caps = sd_caps(net);
	R.threads = !!(R.caps & SD_CAP_BLOCKS_THREAD);
	R.close_fds = !R.threads;
	R.backend = net;
	return run_steps(&R, 0, sd_scenario_seed(sc, opt));
}

void sd_sc_result_free(struct sd_sc_result *res)
{
	free(res->out);
	res->out = NULL;
	res->n = 0;
	free(res->failures);
	res->failures = NULL;
	res->nfailures = 0;
}
