/* sockdrill scenarios: running a parsed scenario on one backend, step by step. */
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

#include "../util/util.h"
#include "sc_internal.h"

#define MAX_IO (64 << 20)

/* snprintf for messages where cutting a long line short is the intent. */
static unsigned char pattern_byte(size_t i) { return (unsigned char)(i * 31 + (i >> 8) + 7); }

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
		sd__sc_exec(j->net, j->call, &j->a, &r);
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

/* Variables and started calls, each a hash table keyed by (symbol, index): a use costs O(1)
 * however many there are. */
struct slot {
	int64_t index, v;
	int32_t name;
	int32_t used;       /* 0 empty, 1 a plain name, 2 an indexed one */
	unsigned char *str; /* the text it holds (received bytes), or NULL: its number's */
	uint32_t slen;
};

static struct slot *slot_of(int64_t *v)
{
	return (struct slot *)((char *)v - offsetof(struct slot, v));
}

struct table {
	struct slot *s;
	size_t cap, n; /* cap a power of two, at most 3/4 full */
};

struct handle {
	struct job *job;
	const struct sc_step *st;
	int collected; /* a wait saw it finish */
};

/* What one descriptor received last, for reply_port(fd). */
struct tail {
	int fd;
	uint32_t n;
	unsigned char b[SC_REPLY_TAIL];
};

struct run {
	const struct sd_scenario *sc;
	struct sd_net net;      /* what the steps call: the backend, or a fault wrapper around it */
	struct sd_net *backend; /* the backend itself */
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

static const char *deadlock_report(struct run *R) { return sd_sim_deadlock_report(R->backend); }

static int grow(void **p, int *cap, int n, size_t size)
{
	if (n < *cap)
		return 0;
	int ncap = *cap ? *cap * 2 : 16;
	void *g = realloc(*p, (size_t)ncap * size);
	if (!g)
		return -1;
	*p = g;
	*cap = ncap;
	return 0;
}

static size_t slot_hash(int32_t name, int indexed, int64_t index)
{
	return (size_t)sd__mix((uint64_t)index * SD__GOLDEN ^ ((uint64_t)(uint32_t)name << 1) ^
			       (uint64_t)indexed);
}

static int64_t *table_find(struct run *R, struct table *t, int32_t name, int indexed, int64_t index,
			   int create);

static int table_grow(struct run *R, struct table *t)
{
	struct table old = *t;
	size_t cap = old.cap ? old.cap * 2 : 64;
	if (!(t->s = calloc(cap, sizeof *t->s))) {
		*t = old;
		return -1;
	}
	t->cap = cap;
	t->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.s[i].used) {
			int64_t *v = table_find(R, t, old.s[i].name, old.s[i].used == 2,
						old.s[i].index, 1);
			*v = old.s[i].v;
			slot_of(v)->str = old.s[i].str;
			slot_of(v)->slen = old.s[i].slen;
		}
	free(old.s);
	return 0;
}

/* The value of (name, index): found, or added as 0 when create is set; NULL when it is not
 * there (or there is no memory for it). */
static int64_t *table_find(struct run *R, struct table *t, int32_t name, int indexed, int64_t index,
			   int create)
{
	if (create && (t->n + 1) * 4 > t->cap * 3 && table_grow(R, t) < 0)
		return NULL;
	if (!t->cap)
		return NULL;
	indexed = indexed != 0;
	for (size_t i = slot_hash(name, indexed, index) & (t->cap - 1);;
	     i = (i + 1) & (t->cap - 1)) {
		struct slot *s = &t->s[i];
		R->res->cost.probes++;
		if (!s->used) {
			if (!create)
				return NULL;
			*s = (struct slot){.index = index, .name = name, .used = 1 + indexed};
			t->n++;
			return &s->v;
		}
		if (s->name == name && s->used == 1 + indexed && s->index == index)
			return &s->v;
	}
}

static const char *name_of(const struct run *R, int32_t sym) { return R->sc->names[sym]; }

/* A reference's name for messages: "C" or "C[3]". */
static void key_text(const struct run *R, const struct sc_ref *r, int indexed, int64_t index,
		     char *out, size_t size)
{
	if (indexed)
		snprintf(out, size, "%s[%lld]", name_of(R, r->name), (long long)index);
	else
		snprintf(out, size, "%s", name_of(R, r->name));
}

/* The key of a reference, its index worked out: 0, or -1 with *why set. */
static int ref_key(struct run *R, const struct sc_ref *r, int *indexed, int64_t *index, char *why,
		   size_t wl)
{
	*indexed = r->ix == IX_NUM || r->ix == IX_I || r->ix == IX_VAR;
	*index = 0;
	if (r->ix == IX_NUM) {
		*index = r->index;
	} else if (r->ix == IX_I) {
		if (R->iter < 0) {
			snprintf(why, wl, "$i used outside repeat");
			return -1;
		}
		*index = R->iter;
	} else if (r->ix == IX_VAR) {
		int64_t *v = table_find(R, &R->vars, (int32_t)r->index, 0, 0, 0);
		if (!v) {
			snprintf(why, wl, "unknown variable $%s", name_of(R, (int32_t)r->index));
			return -1;
		}
		*index = *v;
	}
	return 0;
}

static int ref_value(struct run *R, const struct sc_ref *r, int64_t *out, char *why, size_t wl)
{
	int indexed;
	int64_t index;
	if (r->ix == IX_ITER) {
		if (R->iter < 0) {
			snprintf(why, wl, "$i used outside repeat");
			return -1;
		}
		*out = R->iter;
		return 0;
	}
	if (ref_key(R, r, &indexed, &index, why, wl) < 0)
		return -1;
	int64_t *v = table_find(R, &R->vars, r->name, indexed, index, 0);
	if (!v) {
		char key[64];
		key_text(R, r, indexed, index, key, sizeof key);
		snprintf(why, wl, "unknown variable $%s", key);
		return -1;
	}
	*out = *v;
	return 0;
}

/* A variable's text: what it holds (received bytes), or its number in decimal (into num). */
static int ref_text(struct run *R, const struct sc_ref *r, const unsigned char **p, size_t *n,
		    char num[24], char *why, size_t wl)
{
	int indexed;
	int64_t index, *v, x;
	if (r->ix != IX_ITER && ref_key(R, r, &indexed, &index, why, wl) == 0 &&
	    (v = table_find(R, &R->vars, r->name, indexed, index, 0)) && slot_of(v)->str) {
		*p = slot_of(v)->str;
		*n = slot_of(v)->slen;
		return 0;
	}
	if (ref_value(R, r, &x, why, wl) < 0)
		return -1;
	*n = (size_t)snprintf(num, 24, "%lld", (long long)x);
	*p = (const unsigned char *)num;
	return 0;
}

/* A template (a string naming variables) filled in: a new buffer into *out, or -1 with why. */
static int expand(struct run *R, const unsigned char *t, size_t n, unsigned char **out,
		  size_t *outlen, char *why, size_t wl)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t o = 0;
		for (size_t i = 0; i < n; i++) {
			const unsigned char *p = t + i;
			size_t k = 1;
			char num[24];
			if (t[i] == SC_TPL_MARK && i + 1 < n && t[i + 1] == SC_TPL_REF) {
				struct sc_ref r;
				memcpy(&r, t + i + 2, sizeof r);
				if (ref_text(R, &r, &p, &k, num, why, wl) < 0) {
					free(buf);
					return -1;
				}
				i += 1 + sizeof r;
			} else if (t[i] == SC_TPL_MARK) {
				i++; /* a literal mark byte, doubled */
			}
			if (pass && k)
				memcpy(buf + o, p, k);
			o += k;
			if (o > MAX_IO) {
				snprintf(why, wl, "the string filled in is longer than %d bytes",
					 MAX_IO);
				return -1;
			}
		}
		if (!pass && !(buf = malloc(o ? o : 1))) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
		len = o;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* A variable takes received bytes as its text (at most SC_MAX_CAPTURE of them); NULL clears. */
static int set_text(int64_t *v, const unsigned char *d, size_t n)
{
	struct slot *s = slot_of(v);
	free(s->str);
	s->str = NULL;
	s->slen = 0;
	if (!d)
		return 0;
	if (n > SC_MAX_CAPTURE)
		n = SC_MAX_CAPTURE;
	if (!(s->str = malloc(n ? n : 1)))
		return -1;
	memcpy(s->str, d, n);
	s->slen = (uint32_t)n;
	return 0;
}

/* The first n bytes of the pattern; made longer (at least doubled) only when n needs it. */
static const unsigned char *pattern(struct run *R, size_t n)
{
	if (n <= R->patlen && R->pat)
		return R->pat;
	size_t len = n > 2 * R->patlen ? n : 2 * R->patlen;
	if (len > MAX_IO)
		len = MAX_IO;
	unsigned char *p = malloc(len + 1);
	if (!p || grow((void **)&R->oldpats, &R->capoldpats, R->noldpats, sizeof *R->oldpats) < 0) {
		free(p);
		return NULL;
	}
	for (size_t k = 0; k < len; k++)
		p[k] = pattern_byte(k);
	R->res->cost.pattern_bytes += (long)len;
	if (R->pat)
		R->oldpats[R->noldpats++] = R->pat;
	R->pat = p;
	R->patlen = len;
	return p;
}

/* The number at *p (up to 5 digits), advancing p; -1 when none. */
static long port_number(const unsigned char **p, const unsigned char *end)
{
	long v = -1;
	for (int d = 0; *p < end && **p >= '0' && **p <= '9' && d < 5; d++, (*p)++)
		v = (v < 0 ? 0 : v * 10) + (**p - '0');
	return v;
}

int sd_scenario_reply_port(const unsigned char *r, size_t n)
{
	int port = 0;
	const unsigned char *end = r + n;
	for (const unsigned char *p = r; p < end; p++) {
		if (*p != '(')
			continue;
		const unsigned char *q = p + 1;
		if (end - q >= 3 && !memcmp(q, "|||", 3)) {
			q += 3;
			long v = port_number(&q, end);
			if (v > 0 && v < 65536 && q < end && *q == '|')
				port = (int)v;
			continue;
		}
		long v[6];
		int i = 0;
		for (; i < 6; i++) {
			v[i] = port_number(&q, end);
			if (v[i] < 0 || v[i] > 255 || q >= end || *q != (i < 5 ? ',' : ')'))
				break;
			q++;
		}
		if (i == 6 && v[4] * 256 + v[5] > 0)
			port = (int)(v[4] * 256 + v[5]);
	}
	return port;
}

/* What a descriptor's last recvmsg gave, for cmsg(), msg_flags() and msg_controllen(). */
struct msgrec {
	int fd, ok; /* ok: the recvmsg succeeded (a failed one leaves nothing to ask about) */
	int flags, has_inq, inq;
	int64_t controllen;
};

static struct msgrec *msg_of(struct run *R, int fd, int make)
{
	for (int i = 0; i < R->nmsgs; i++)
		if (R->msgs[i].fd == fd)
			return &R->msgs[i];
	if (!make || grow((void **)&R->msgs, &R->capmsgs, R->nmsgs, sizeof *R->msgs) < 0)
		return NULL;
	struct msgrec *m = &R->msgs[R->nmsgs++];
	memset(m, 0, sizeof *m);
	m->fd = fd;
	return m;
}

/* The answer to a query on fd's last recvmsg; -ENOMSG when there is none to give: no
 * successful recvmsg on fd since it was opened, or (cmsg) no such control message in it. */
static int64_t msg_answer(struct run *R, enum sc_call call, int fd)
{
	const struct msgrec *m = msg_of(R, fd, 0);
	if (!m || !m->ok)
		return -ENOMSG;
	if (call == C_MSG_FLAGS)
		return m->flags;
	if (call == C_CTLLEN)
		return m->controllen;
	return m->has_inq ? m->inq : -ENOMSG;
}

/* The tail kept for fd; with make, a new empty one when there is none (NULL: no memory). */
static struct tail *tail_of(struct run *R, int fd, int make)
{
	for (int i = 0; i < R->ntails; i++)
		if (R->tails[i].fd == fd)
			return &R->tails[i];
	if (!make || grow((void **)&R->tails, &R->captails, R->ntails, sizeof *R->tails) < 0)
		return NULL;
	struct tail *t = &R->tails[R->ntails++];
	t->fd = fd, t->n = 0;
	return t;
}

/* Whether the run keeps fd among the descriptors it made already (dup2 onto one of them). */
static int kept_fd(const struct run *R, int fd)
{
	for (int i = 0; i < R->nfds; i++)
		if (R->fds[i] == fd)
			return 1;
	return 0;
}

/* After a call: the sockets made (on threads: shut down at the end to release blocked calls; on a
 * sim the caller keeps, those still open are closed at the end), and what each descriptor
 * received, for reply_port() (a new or closed descriptor starts empty). */
static void after_call(struct run *R, enum sc_call call, const struct sc_args *a,
		       const struct sc_res *r)
{
	struct tail *t;
	if ((R->threads || R->close_fds) &&
	    (call == C_SOCKET || call == C_ACCEPT || call == C_EPOLL_CREATE || call == C_DUP ||
	     call == C_DUP2 || call == C_DUP3) &&
	    r->v >= 0 && !kept_fd(R, (int)r->v) &&
	    grow((void **)&R->fds, &R->capfds, R->nfds, sizeof *R->fds) == 0)
		R->fds[R->nfds++] = (int)r->v;
	struct msgrec *m;
	/* a descriptor that names another socket now, or none, has had no recvmsg */
	int gone = call == C_CLOSE                                   ? (int)a->n[0]
		   : (call == C_DUP2 || call == C_DUP3) && r->v >= 0 ? (int)r->v
								     : -1;
	if (gone >= 0 && (m = msg_of(R, gone, 0)))
		m->ok = 0;
	if (call == C_RECVMSG && (m = msg_of(R, (int)a->n[0], 1))) {
		m->ok = r->v >= 0;
		m->flags = r->msg_flags, m->controllen = r->controllen;
		m->has_inq = r->has_inq, m->inq = r->inq;
	}
	for (int i = R->nfds - 1; R->close_fds && call == C_CLOSE && r->v == 0 && i >= 0; i--)
		if (R->fds[i] == (int)a->n[0]) {
			R->fds[i] = R->fds[--R->nfds];
			break;
		}
	if (!R->sc->uses_reply_port)
		return;
	if ((call == C_SOCKET || call == C_ACCEPT || call == C_DUP || call == C_DUP2 ||
	     call == C_DUP3) &&
	    r->v >= 0 && (t = tail_of(R, (int)r->v, 0)))
		t->n = 0;
	if (call == C_CLOSE && (t = tail_of(R, (int)a->n[0], 0)))
		t->n = 0;
	if (!sc_reads_bytes(call) || r->v <= 0 ||
	    ((call == C_RECV || call == C_RECVMSG) && (a->n[2] & MSG_PEEK)) ||
	    !(t = tail_of(R, (int)a->n[0], 1)))
		return;
	size_t n = r->dlen, keep = sizeof t->b;
	const unsigned char *d = r->data;
	if (n >= keep) {
		d += n - keep, n = keep;
		t->n = 0;
	} else if (t->n + n > keep) { /* the oldest bytes go */
		size_t drop = t->n + n - keep;
		memmove(t->b, t->b + drop, t->n - drop);
		t->n -= (uint32_t)drop;
	}
	memcpy(t->b + t->n, d, n);
	t->n += (uint32_t)n;
}

static int reply_port_of(struct run *R, int fd)
{
	struct tail *t = tail_of(R, fd, 0);
	int (*read_port)(const unsigned char *, size_t) =
		R->opt && R->opt->reply_port ? R->opt->reply_port : sd_scenario_reply_port;
	int port = t && t->n ? read_port(t->b, t->n) : 0;
	return port > 0 && port < 65536 ? port : 0;
}

/* The address a variable holds (the text addr() or peer() kept in it): 0, or -1 with why. */
static int ref_addr(struct run *R, const struct sc_ref *r, struct sockaddr_storage *ss,
		    socklen_t *len, char *why, size_t wl)
{
	const unsigned char *p;
	size_t n;
	char num[24], text[SD_ADDR_STRLEN];
	if (ref_text(R, r, &p, &n, num, why, wl) < 0)
		return -1;
	if (p == (const unsigned char *)num || n >= sizeof text) {
		snprintf(why, wl, "$%s holds no address (addr() and peer() keep one)",
			 name_of(R, r->name));
		return -1;
	}
	memcpy(text, p, n);
	text[n] = 0;
	if (sd_addr_parse(text, 0, ss, len) < 0) {
		snprintf(why, wl, "$%s holds no address (addr() and peer() keep one): %s",
			 name_of(R, r->name), text);
		return -1;
	}
	return 0;
}

static int resolve(struct run *R, const struct sc_step *st, struct sc_args *a, char *why, size_t wl)
{
	const struct sc_value *args = sc_args(R->sc, st);
	memset(a, 0, sizeof *a);
	a->hold_ms = -1;
	a->backend = R->backend;
	for (int i = 0; i < st->nargs; i++) {
		const struct sc_value *v = &args[i];
		switch (v->kind) {
		case V_NUM: a->n[i] = v->num; break;
		case V_VAR:
			if (((st->call == C_BIND || st->call == C_CONNECT) && i == 1) ||
			    (st->call == C_SENDTO && i == 2)) {
				if (ref_addr(R, &v->var, &a->addr, &a->alen, why, wl) < 0)
					return -1;
				break;
			}
			if (ref_value(R, &v->var, &a->n[i], why, wl) < 0)
				return -1;
			break;
		case V_ADDR: {
			const struct sc_addr *sa = &R->sc->addrs[v->addr];
			memcpy(&a->addr, sa, sa->len);
			a->alen = sa->len;
			if (v->port_is_var) {
				int64_t port;
				if (ref_value(R, &v->var, &port, why, wl) < 0)
					return -1;
				if (port < 0 || port > 65535) {
					snprintf(why, wl, "port $%s = %lld is out of range",
						 name_of(R, v->var.name), (long long)port);
					return -1;
				}
				if (a->addr.ss_family == AF_INET)
					((struct sockaddr_in *)&a->addr)->sin_port =
						htons((uint16_t)port);
				else
					((struct sockaddr_in6 *)&a->addr)->sin6_port =
						htons((uint16_t)port);
			}
			break;
		}
		case V_STR:
			a->data = R->sc->bytes + v->str.off;
			a->dlen = v->str.len;
			if (v->interp) {
				if (expand(R, a->data, a->dlen, &a->sbuf, &a->dlen, why, wl) < 0)
					return -1;
				a->data = a->sbuf;
			}
			break;
		case V_PACE: a->pace_ms = v->num; break;
		case V_LINGER:
			a->n[i] = v->num;
			a->n[3] = 1; /* the value is an {ON, SECS} pair */
			break;
		case V_HOLD: a->hold_ms = v->num; break;
		case V_CONTROL: a->control = (size_t)v->num; break;
		case V_ALEN: a->alen = (socklen_t)v->num; break; /* after the address */
		case V_NULL: /* send's data, recv's length: the buffer passed is NULL */
			a->null_buf = 1;
			if (st->call == C_SEND)
				a->data = NULL, a->dlen = (size_t)v->num;
			else
				a->n[i] = v->num;
			break;
		case V_PATTERN: {
			int64_t n = v->num;
			if (v->len_is_var && ref_value(R, &v->var, &n, why, wl) < 0)
				return -1;
			if (n < 0 || n > MAX_IO) {
				snprintf(why, wl, "pattern length %lld out of range", (long long)n);
				return -1;
			}
			if (!(a->data = pattern(R, (size_t)n))) {
				snprintf(why, wl, "out of memory");
				return -1;
			}
			a->dlen = (size_t)n;
			break;
		}
		}
	}
	if (st->call == C_SLEEP && (a->n[0] < 0 || a->n[0] > SC_MAX_SLEEP_MS)) {
		snprintf(why, wl, "sleep of %lld ms is out of range (0..%d)", (long long)a->n[0],
			 SC_MAX_SLEEP_MS);
		return -1;
	}
	if (st->call == C_REPLY_PORT)
		a->n[1] = reply_port_of(R, (int)a->n[0]);
	if (sc_msg_query(st->call))
		a->n[3] = msg_answer(R, st->call, (int)a->n[0]);
	if (st->call == C_SEND && (a->pace_ms > 0 || a->hold_ms > 0)) {
		int64_t pauses = a->pace_ms * (int64_t)(a->dlen ? a->dlen - 1 : 0) +
				 (a->hold_ms > 0 ? a->hold_ms : 0);
		if (pauses > SC_MAX_PAUSES) {
			snprintf(why, wl,
				 "the send's pauses add up to %lld ms, more than %d (pace x bytes)",
				 (long long)pauses, SC_MAX_PAUSES);
			return -1;
		}
	}
	if (st->call == C_RECVLINE) {
		a->n[2] = a->n[1];
		a->data = (const unsigned char *)"\n";
		a->dlen = 1;
	}
	if (st->call == C_RECV_UNTIL && !a->dlen) {
		snprintf(why, wl, "recv_until needs a delimiter of one byte or more");
		return -1;
	}
	if ((st->call == C_RECV_UNTIL || st->call == C_RECVLINE) && a->n[2] <= 0) {
		snprintf(why, wl, "the most bytes to read must be 1 or more");
		return -1;
	}
	if (st->call == C_EPOLL_WAIT) {
		if (st->nargs < 3)
			a->n[2] = SC_MAX_EVENTS;
		if (a->n[2] < 1 || a->n[2] > SC_MAX_EVENTS) {
			snprintf(why, wl, "epoll_wait takes 1..%d events at once, not %lld",
				 SC_MAX_EVENTS, (long long)a->n[2]);
			return -1;
		}
		a->rlen = (size_t)a->n[2];
		if (!(a->rbuf = calloc((size_t)a->n[2], sizeof(struct epoll_event)))) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
	}
	if (sc_gives_addr(st->call) && !(a->rbuf = malloc(SD_ADDR_STRLEN))) {
		snprintf(why, wl, "out of memory");
		return -1;
	}
	if (sc_reads_bytes(st->call)) {
		int64_t max = st->call == C_RECV || st->call == C_RECVMSG ? a->n[1] : a->n[2];
		a->rlen = max > 0 && !a->null_buf ? (size_t)(max > MAX_IO ? MAX_IO : max) : 0;
		/* one more: a NUL after the bytes, for regexec (sanitizers read to it) */
		if (!(a->rbuf = calloc(1, a->rlen + 1))) { /* MSG_TRUNC leaves it unwritten */
			snprintf(why, wl, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Bytes as a quoted string for messages; one cut short ends in "..." inside the quotes (room
 * for it and the closing quote: the escaper stops while 8 bytes are still free). */
static void show_bytes(const unsigned char *d, size_t n, char *out, size_t size)
{
	size_t o = 0, done;
	out[o++] = '"';
	o += sd__escape(out + o, size > 5 ? size - 5 : 0, d, n,
			SD__ESC_NL | SD__ESC_QUOTE | SD__ESC_BACKSLASH, &done);
	if (done && done < n)
		o += (size_t)snprintf(out + o, size - o, "...");
	snprintf(out + o, size - o, "\"");
}

void sd__sc_show_flags(int64_t v, char *out, size_t size)
{
	static const struct {
		int bit;
		const char *name;
	} f[] = {{POLLIN, "IN"},   {POLLPRI, "PRI"},   {POLLOUT, "OUT"},    {POLLERR, "ERR"},
		 {POLLHUP, "HUP"}, {POLLNVAL, "NVAL"}, {POLLRDHUP, "RDHUP"}};
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (v & f[i].bit)
			o += (size_t)snprintf(out + o, size - o, "%s%s", o ? "|" : "", f[i].name);
	v &= ~(int64_t)(POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLRDHUP |
			POLLRDNORM | POLLWRNORM | POLLRDBAND | POLLWRBAND);
	if (v || !o)
		snprintf(out + o, size - o, "%s%lld", o ? "|" : "", (long long)v);
}

/* The result as shown (got) and in a backend-independent form (norm). */
static void describe(enum sc_call call, const struct sc_expect *e, const struct sc_res *r,
		     int data_ok, char *got, size_t gl, char *norm, size_t nl)
{
	char b[48];
	if (r->v < 0) {
		sd_result_format((long)r->v, got, (unsigned)gl);
		snprintf(norm, nl, "%s", got);
		return;
	}
	switch (call) {
	case C_RECV:
	case C_RECVMSG:
	case C_RECV_UNTIL:
	case C_RECVLINE:
		show_bytes(r->data, r->dlen, got, gl);
		if (r->eof) {
			char part[64];
			show_bytes(r->data, r->dlen, part, sizeof part);
			snprintf(got, gl, "eof after %s", part);
		}
		if (e->kind == E_STR || e->kind == E_PATTERN || e->kind == E_PREFIX ||
		    e->kind == E_MATCH)
			snprintf(norm, nl, "%s", data_ok ? "expected bytes" : "other bytes");
		else if (r->eof)
			snprintf(norm, nl, "eof");
		else
			snprintf(norm, nl, "%lld", (long long)r->v);
		if (e->kind == E_PATTERN || (r->dlen > 40 && !r->eof))
			snprintf(got, gl, "%lld bytes%s", (long long)r->v,
				 e->kind == E_PATTERN
					 ? (data_ok ? " (the pattern)" : " (not the pattern)")
					 : "");
		return;
	case C_GETSOCKOPT:
		/* a pair, or a number as any call's (a break here left both unwritten) */
		if (r->has_linger)
			snprintf(got, gl, "{%d, %d}", r->linger[0], r->linger[1]);
		else
			snprintf(got, gl, "%lld", (long long)r->v);
		snprintf(norm, nl, "%s", got);
		return;
	case C_POLL:
		sd__sc_show_flags(r->v, got, gl);
		snprintf(norm, nl, "%s", got);
		return;
	case C_MSG_FLAGS:
		sd__sc_show_msg_flags(r->v, got, gl);
		snprintf(norm, nl, "%s", got);
		return;
	case C_SOCKET:
	case C_ACCEPT:
	case C_DUP:
	case C_DUP2:
	case C_DUP3:
		snprintf(got, gl, "%lld", (long long)r->v);
		snprintf(norm, nl, "fd");
		return;
	case C_ADDR:
	case C_PEER: sd__sc_describe_addr(r, got, gl, norm, nl); return;
	case C_EPOLL_WAIT: sd__sc_describe_events(r, got, gl, norm, nl); return;
	case C_PORT:
	case C_PEERPORT:
	case C_REPLY_PORT:
		snprintf(got, gl, "%lld", (long long)r->v);
		snprintf(norm, nl, "port");
		return;
	case C_NOW:
	case C_ELAPSED: /* the clocks differ: whether the expectation held is compared */
		snprintf(got, gl, "%lld ms", (long long)r->v);
		snprintf(norm, nl, "time");
		return;
	default:
		snprintf(b, sizeof b, "%lld", (long long)r->v);
		snprintf(got, gl, "%s", b);
		snprintf(norm, nl, "%s", b);
	}
}

/* The bytes a string expectation names, filled in when it names variables (*owned is then
 * the buffer to free); NULL with why set when a variable is missing. */
static const unsigned char *expected_bytes(struct run *R, const struct sc_expect *e, size_t *n,
					   unsigned char **owned, char *why, size_t wl)
{
	*owned = NULL;
	*n = e->str.len;
	if (!e->interp)
		return R->sc->bytes + e->str.off;
	if (expand(R, R->sc->bytes + e->str.off, e->str.len, owned, n, why, wl) < 0)
		return NULL;
	return *owned;
}

/* Whether received bytes meet a string, prefix, pattern or match expectation (others: 1);
 * pm, when given, gets a match's groups. */
static int data_matches(struct run *R, const struct sc_expect *e, const struct sc_res *r,
			regmatch_t *pm, char *why, size_t wl)
{
	const struct sd_scenario *sc = R->sc;
	if (e->kind == E_STR || e->kind == E_PREFIX) {
		unsigned char *owned;
		size_t n;
		const unsigned char *want = expected_bytes(R, e, &n, &owned, why, wl);
		int ok = want && r->v >= 0 && !r->eof &&
			 (e->kind == E_STR ? r->dlen == n : r->dlen >= n) &&
			 !memcmp(r->data, want, n);
		free(owned);
		return ok;
	}
	if (e->kind == E_MATCH) {
		regmatch_t m[SC_MAX_GROUPS + 1];
		if (r->v < 0 || r->eof)
			return 0;
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)r->dlen;
		if (r->dlen)
			r->data[r->dlen] = 0; /* the buffer has room for it (resolve) */
		if (regexec(&sc->regs[e->reg], r->dlen ? (const char *)r->data : "",
			    SC_MAX_GROUPS + 1, m, REG_STARTEND) != 0)
			return 0;
		if (pm)
			memcpy(pm, m, sizeof m);
		return 1;
	}
	if (e->kind == E_PATTERN) {
		int64_t n = e->lo;
		if ((e->op & CMP_VAR) && ref_value(R, &e->var, &n, why, wl) < 0)
			return 0;
		if (r->v != n || r->eof)
			return 0;
		for (size_t i = 0; i < r->dlen; i++)
			if (r->data[i] != pattern_byte(i))
				return 0;
		return 1;
	}
	return 1;
}

static int check_one(struct run *R, const struct sc_expect *e, const struct sc_res *r,
		     regmatch_t *pm, char *why, size_t wl)
{
	int64_t v = r->v, want;
	switch (e->kind) {
	case E_NONE:
	case E_ANY: return 1;
	case E_NUM: return v == e->lo;
	case E_RANGE: return v >= e->lo && v <= e->hi;
	case E_FD: return v >= 0;
	case E_FLAGS: return v == e->lo;
	case E_STR:
	case E_PREFIX:
	case E_MATCH:
	case E_PATTERN: return data_matches(R, e, r, pm, why, wl);
	case E_EOF: return v == 0;
	case E_ERRNOS:
		for (int i = 0; i < e->nerrs; i++)
			if (v == -e->errs[i])
				return 1;
		return 0;
	case E_VAR:
		if (r->alen && r->data) { /* an address: the whole of it, as a variable's text */
			const unsigned char *p;
			size_t n;
			char num[24];
			return ref_text(R, &e->var, &p, &n, num, why, wl) == 0 && v >= 0 &&
			       n == r->dlen && !memcmp(p, r->data, n);
		}
		if (ref_value(R, &e->var, &want, why, wl) < 0)
			return 0;
		return v == want;
	case E_PARITY: return v >= 0 && (v & 1) == e->lo;
	case E_LINGER: return r->has_linger && r->linger[0] == e->lo && r->linger[1] == e->hi;
	case E_EVENTS: {
		int fds[SC_MAX_EVENTS];
		int64_t evs[SC_MAX_EVENTS];
		for (int i = 0; i < e->ncaps; i++) {
			int64_t fd;
			if (ref_value(R, &R->sc->vals[e->caps + 2 * (uint32_t)i].var, &fd, why,
				      wl) < 0)
				return 0;
			fds[i] = (int)fd;
			evs[i] = R->sc->vals[e->caps + 2 * (uint32_t)i + 1].num;
		}
		return v == e->ncaps && sd__sc_events_match(r, fds, evs, e->ncaps);
	}
	case E_ADDR:
		want = 0;
		if ((e->op & CMP_VAR) && ref_value(R, &e->port, &want, why, wl) < 0)
			return 0;
		return v >= 0 && sd__sc_addr_matches(R->sc, e, r, want);
	case E_CMP:
		want = e->lo;
		if ((e->op & CMP_VAR) && ref_value(R, &e->var, &want, why, wl) < 0)
			return 0;
		if (v < 0) /* an error meets no comparison: it is named as an alternative */
			return 0;
		switch (e->op & ~CMP_VAR) {
		case CMP_LT: return v < want;
		case CMP_LE: return v <= want;
		case CMP_GT: return v > want;
		case CMP_GE: return v >= want;
		default: return v != want;
		}
	}
	return 0;
}

/* The alternative the result meets, or NULL; pm gets its groups when it is a match. */
static const struct sc_expect *check(struct run *R, const struct sc_expect *e,
				     const struct sc_res *r, regmatch_t *pm, char *why, size_t wl)
{
	for (;;) {
		if (check_one(R, e, r, pm, why, wl))
			return e;
		if (!e->next)
			return NULL;
		e = &R->sc->expects[e->next - 1];
	}
}

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

static void failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o,
		    const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (o)
		o->ok = 0;
	struct sd_sc_result *res = R->res;
	char line[sizeof res->message];
	if (R->iter >= 0)
		sd__textf(line, sizeof line, "%s:%d: %.*s (iteration %d): %s", R->sc->path,
			  st->line, st->text_len, sc_text(R->sc, st), R->iter, msg);
	else
		sd__textf(line, sizeof line, "%s:%d: %.*s: %s", R->sc->path, st->line, st->text_len,
			  sc_text(R->sc, st), msg);
	if (res->passed) {
		res->passed = 0;
		res->failed_at = o ? (int)(o - res->out) : -1;
		snprintf(res->message, sizeof res->message, "%s", line);
	}
	res->nfailed++;
	if (res->nfailures < SD_SC_MAX_FAILURES &&
	    grow((void **)&res->failures, &R->capfail, res->nfailures, sizeof *res->failures) ==
		    0) {
		struct sd_sc_failure *f = &res->failures[res->nfailures++];
		f->line = st->line;
		f->iteration = R->iter;
		snprintf(f->message, sizeof f->message, "%s", line);
	}
}

static void expected_one(const struct run *R, const struct sc_expect *e, char *out, size_t size)
{
	char b[64];
	switch (e->kind) {
	case E_PREFIX:
		snprintf(out, size, "prefix ");
		show_bytes(R->sc->bytes + e->str.off, e->str.len, out + 7, size - 7);
		break;
	case E_MATCH:
		snprintf(out, size, "match /%.*s/", (int)(e->str.len > 80 ? 80 : e->str.len),
			 (const char *)R->sc->bytes + e->str.off);
		break;
	case E_EOF: snprintf(out, size, "eof"); break;
	case E_NUM: snprintf(out, size, "%lld", (long long)e->lo); break;
	case E_RANGE: snprintf(out, size, "%lld..%lld", (long long)e->lo, (long long)e->hi); break;
	case E_FD: snprintf(out, size, "a descriptor"); break;
	case E_FLAGS:
		if (e->op) /* msg_flags' */
			sd__sc_show_msg_flags(e->lo, out, size);
		else
			sd__sc_show_flags(e->lo, out, size);
		break;
	case E_STR: show_bytes(R->sc->bytes + e->str.off, e->str.len, out, size); break;
	case E_PATTERN:
		if (e->op & CMP_VAR)
			snprintf(out, size, "pattern($%s)", name_of(R, e->var.name));
		else
			snprintf(out, size, "pattern(%lld)", (long long)e->lo);
		break;
	case E_VAR: snprintf(out, size, "$%s", name_of(R, e->var.name)); break;
	case E_PARITY: snprintf(out, size, "%s", e->lo ? "odd" : "even"); break;
	case E_LINGER:
		snprintf(out, size, "{%lld, %lld}", (long long)e->lo, (long long)e->hi);
		break;
	case E_EVENTS: {
		size_t o = (size_t)snprintf(out, size, "{");
		for (int i = 0; i < e->ncaps && o + 8 < size; i++) {
			char f[64];
			sd__sc_show_flags(R->sc->vals[e->caps + 2 * (uint32_t)i + 1].num, f,
					  sizeof f);
			o += (size_t)snprintf(
				out + o, size - o, "%s$%s: %s", i ? ", " : "",
				name_of(R, R->sc->vals[e->caps + 2 * (uint32_t)i].var.name), f);
		}
		if (o < size)
			snprintf(out + o, size - o, "}");
		break;
	}
	case E_ADDR: {
		const struct sc_addr *a = &R->sc->addrs[e->addr];
		char t[SD_ADDR_STRLEN];
		sd_addr_format((const struct sockaddr *)a, a->len, t, sizeof t);
		if (e->op & (CMP_VAR | CMP_ANY)) /* "...:0" written as the port expected */
			snprintf(out, size, "%.*s%s%s", (int)(strrchr(t, ':') + 1 - t), t,
				 e->op & CMP_ANY ? "*" : "$",
				 e->op & CMP_ANY ? "" : name_of(R, e->port.name));
		else
			snprintf(out, size, "%s", t);
		break;
	}
	case E_CMP: {
		static const char *const ops[] = {"", "<", "<=", ">", ">=", "!="};
		const char *op = ops[(e->op & ~CMP_VAR) % 6];
		if (e->op & CMP_VAR)
			snprintf(out, size, "%s $%s", op, name_of(R, e->var.name));
		else
			snprintf(out, size, "%s %lld", op, (long long)e->lo);
		break;
	}
	case E_ERRNOS: {
		size_t o = 0;
		out[0] = 0;
		for (int i = 0; i < e->nerrs; i++)
			o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "|" : "",
					      sd_errname(e->errs[i]) ? sd_errname(e->errs[i])
								     : "?");
		break;
	}
	default: snprintf(b, sizeof b, "anything"), snprintf(out, size, "%s", b);
	}
}

/* The expectation as text, its alternatives joined by " | " (a string naming variables is
 * shown as written). */
static void expected_text(const struct run *R, const struct sc_expect *e, char *out, size_t size)
{
	size_t o = 0;
	out[0] = 0;
	for (;;) {
		expected_one(R, e, out + o, size - o);
		o += strlen(out + o);
		if (!e->next || o + 4 >= size)
			return;
		o += (size_t)snprintf(out + o, size - o, " | ");
		e = &R->sc->expects[e->next - 1];
	}
}

/* A match's groups into the variables its 'as' names: each its text, and its number the
 * text's value when it is a decimal integer (a port), else its length. */
static int keep_groups(struct run *R, const struct sc_expect *e, const struct sc_res *r,
		       const regmatch_t *pm, char *why, size_t wl)
{
	for (int g = 0; g < e->ncaps; g++) {
		const struct sc_ref *t = &R->sc->vals[e->caps + (uint32_t)g].var;
		const regmatch_t *m = &pm[g + 1];
		const unsigned char *d = m->rm_so >= 0 ? r->data + m->rm_so : r->data;
		size_t n = m->rm_so >= 0 ? (size_t)(m->rm_eo - m->rm_so) : 0;
		int indexed;
		int64_t index, *slot, num = 0;
		int digits = n > 0 && n <= 18;
		for (size_t k = 0; k < n && digits; k++)
			digits = d[k] >= '0' && d[k] <= '9';
		for (size_t k = 0; k < n && digits; k++)
			num = num * 10 + (d[k] - '0');
		if (ref_key(R, t, &indexed, &index, why, wl) < 0)
			return -1;
		if (!(slot = table_find(R, &R->vars, t->name, indexed, index, 1)) ||
		    set_text(slot, d, n) < 0) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
		*slot = digits ? num : (int64_t)n;
	}
	return 0;
}

/* Checks a finished call's result; records and keeps the variable. */
static void conclude(struct run *R, const struct sc_step *st, enum sc_call call, struct sc_res *r,
		     struct sd_sc_outcome *o)
{
	char why[160] = "", exp[128];
	const struct sc_expect *e = sc_expect_of(R->sc, st), *met;
	regmatch_t pm[SC_MAX_GROUPS + 1];
	met = check(R, e, r, pm, why, sizeof why);
	int data_ok = met != NULL;
	if (met && (met->kind == E_STR || met->kind == E_PREFIX || met->kind == E_MATCH ||
		    met->kind == E_PATTERN))
		e = met; /* the alternative the bytes met decides how they are shown */
	char got[96], norm[64];
	describe(call, e, r, data_ok, got, sizeof got, norm, sizeof norm);
	if (o) {
		snprintf(o->got, sizeof o->got, "%s", got);
		snprintf(o->norm, sizeof o->norm, "%s", norm);
	}
	if (st->has_target) {
		const struct sc_ref *t = sc_target(R->sc, st);
		int indexed;
		int64_t index, *slot;
		if (ref_key(R, t, &indexed, &index, why, sizeof why) < 0 ||
		    !(slot = table_find(R, &R->vars, t->name, indexed, index, 1))) {
			failure(R, st, o, "%s", why[0] ? why : "out of memory");
			return;
		}
		*slot = r->v;
		/* a read keeps its bytes as the variable's text */
		if (set_text(slot,
			     (sc_reads_bytes(call) || sc_gives_addr(call)) && r->v >= 0 ? r->data
											: NULL,
			     r->dlen) < 0) {
			failure(R, st, o, "out of memory");
			return;
		}
	}
	if (met && met->kind == E_MATCH && met->ncaps &&
	    keep_groups(R, met, r, pm, why, sizeof why) < 0) {
		failure(R, st, o, "%s", why);
		return;
	}
	if (!met) {
		expected_text(R, e, exp, sizeof exp);
		if (r->v == -EDEADLK && (R->caps & SD_CAP_DETERMINISTIC) && deadlock_report(R))
			failure(R, st, o, "expected %s, but the call would block forever: %s", exp,
				deadlock_report(R));
		else if (why[0])
			failure(R, st, o, "%s", why);
		else
			failure(R, st, o, "expected %s, got %s", exp, got);
	}
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
	if (ref_key(R, r, &indexed, &index, why, wl) < 0)
		return NULL;
	if ((i = table_find(R, &R->handles, r->name, indexed, index, 0)))
		return &R->h[*i];
	char key[64];
	key_text(R, r, indexed, index, key, sizeof key);
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

static void blocked_failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o,
			    int limit, int by_max_time)
{
	if (o)
		snprintf(o->got, sizeof o->got, "blocked"),
			snprintf(o->norm, sizeof o->norm, "blocked");
	if (by_max_time) {
		failure(R, st, o, "the run reached its time bound (--max-time %d s) in this step",
			R->max_time_s);
		R->stop = 1; /* the steps after it would only report the same bound */
	} else
		failure(R, st, o, "still blocked after %d ms (see 'set timeout')", limit);
}

static void step_call(struct run *R, const struct sc_step *st)
{
	struct sd_sc_outcome *o = record(R, st);
	char why[160] = "";
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		failure(R, st, o, "out of memory");
		return;
	}
	j->net = &R->net;
	j->call = st->call;
	if (st->actor_len)
		snprintf(j->name, sizeof j->name, "%.*s", st->actor_len, sc_text(R->sc, st));
	else
		snprintf(j->name, sizeof j->name, "step");
	if (resolve(R, st, &j->a, why, sizeof why) < 0) {
		failure(R, st, o, "%s", why);
		free_job(j);
		return;
	}
	if (st->kind == S_START) {
		const struct sc_ref *r = sc_handle(R->sc, st);
		if (R->pending == SC_MAX_PENDING) {
			failure(R, st, o,
				"more than %d started calls pending (collect some with wait first)",
				SC_MAX_PENDING);
			free_job(j);
			return;
		}
		int indexed;
		int64_t index, *slot;
		if (ref_key(R, r, &indexed, &index, why, sizeof why) < 0 ||
		    grow((void **)&R->h, &R->caph, R->nh, sizeof *R->h) < 0 ||
		    !(slot = table_find(R, &R->handles, r->name, indexed, index, 1))) {
			failure(R, st, o, "%s", why[0] ? why : "out of memory");
			free_job(j);
			return;
		}
		int rc = job_start(j, R->threads);
		if (rc < 0) {
			failure(R, st, o, "cannot start the call: %s", strerror(-rc));
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
			if (grow((void **)&R->stuck, &R->capstuck, R->nstuck, sizeof *R->stuck) ==
			    0)
				R->stuck[R->nstuck++] = j;
			return;
		}
	} else {
		sd__sc_exec(&R->net, st->call, &j->a, &j->r);
	}
	after_call(R, st->call, &j->a, &j->r);
	conclude(R, st, st->call, &j->r, o);
	free_job(j);
}

static void step_wait(struct run *R, const struct sc_step *st)
{
	struct sd_sc_outcome *o = record(R, st);
	char why[160] = "";
	struct handle *h = find_handle(R, st, why, sizeof why);
	if (!h) {
		failure(R, st, o, "%s", why);
		return;
	}
	if (st->kind == S_BLOCKED) {
		/* Give the call time to finish if it was going to: wall time on real, virtual
		 * time (other actors run meanwhile) on sim. */
		sd_sleep_ns(&R->net, 50 * 1000000LL);
		if (job_done(h->job)) {
			char got[96], norm[64];
			describe(h->job->call, sc_expect_of(R->sc, h->st), &h->job->r, 1, got,
				 sizeof got, norm, sizeof norm);
			if (o)
				sd__textf(o->got, sizeof o->got, "returned %s", got),
					snprintf(o->norm, sizeof o->norm, "returned");
			failure(R, st, o,
				"expected the call to be still blocked, but it returned %s", got);
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
		after_call(R, h->job->call, &h->job->a, &h->job->r);
	}
	if (rc == 1) {
		conclude(R, st, h->job->call, &h->job->r, o);
		return;
	}
	if (rc != -EDEADLK) {
		blocked_failure(R, st, o, limit, by_max_time);
		return;
	}
	if (o)
		snprintf(o->got, sizeof o->got, "blocked"),
			snprintf(o->norm, sizeof o->norm, "blocked");
	failure(R, st, o, "the call can never finish: %s",
		deadlock_report(R) ? deadlock_report(R) : "deadlock");
}

static const char *variant_name(int one_role) { return one_role ? "one-role" : "no-one-role"; }

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

void sd_scenario_sim_options(const struct sd_scenario *sc, const struct sd_sc_options *opt,
			     char *buf, size_t size)
{
	/* on sim, a file that requires a variant always runs as that variant */
	int one_role = sc->has_one_role ? sc->one_role : opt && opt->one_role;
	int n = snprintf(buf, size, "segment=%d,preempt=%g,one-role=%d%s%s", sc->segment,
			 sc->has_preempt ? sc->preempt : 0.25, one_role,
			 opt && opt->profile ? ",profile=" : "",
			 opt && opt->profile ? opt->profile : "");
	/* and the tunables it requires, over any profile's (explicit options win) */
	for (int i = 0; i < sc->nreqs && n > 0 && (size_t)n < size; i++) {
		const struct sc_require *r = &sc->reqs[i];
		if (sc_tunables[r->field].pair)
			n += snprintf(buf + n, size - (size_t)n, ",%s=%ld-%ld",
				      sc_tunables[r->field].option, r->value, r->hi);
		else
			n += snprintf(buf + n, size - (size_t)n, ",%s=%ld",
				      sc_tunables[r->field].option, r->value);
	}
	if (sc->unprivileged && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ",unprivileged");
}

/* Whether this process binds below 1024 as 'set unprivileged' describes (EACCES): it lacks
 * CAP_NET_BIND_SERVICE (root has it) and the kernel keeps the default
 * net.ipv4.ip_unprivileged_port_start of 1024. 1 yes, 0 no, with why in `why`. */
static int host_unprivileged(char *why, size_t size)
{
	char line[256];
	unsigned long long cap = ~0ull;
	long start = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &cap) == 1)
			break;
	if (f)
		fclose(f);
	f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	if (f && fscanf(f, "%ld", &start) != 1)
		start = -1;
	if (f)
		fclose(f);
	if (cap & (1ull << 10)) /* CAP_NET_BIND_SERVICE, or a status that could not be read */
		snprintf(why, size,
			 "this process may bind ports below 1024 (CAP_NET_BIND_SERVICE)");
	else if (start != 1024)
		snprintf(why, size, "this kernel has ip_unprivileged_port_start=%ld", start);
	else
		return 1;
	return 0;
}

/* 'requires free-ports=LO-HI': each port can be bound on 127.0.0.1 and ::1 now (no socket,
 * TIME_WAIT included, holds it: one made by another process's bind(0) would make the file's
 * own binds and connects fail). 0, or the first port held with why. */
static int port_held(int lo, int hi, char *why, size_t size)
{
	for (int port = lo; port <= hi; port++)
		for (int v6 = 0; v6 < 2; v6++) {
			struct sockaddr_in a4 = {.sin_family = AF_INET,
						 .sin_port = htons((uint16_t)port),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
						  .sin6_port = htons((uint16_t)port),
						  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
			const struct sd_real_syscalls *sys = &sd_real_libc; /* the host's own */
			int fd =
				sys->socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				if (v6 && errno == EAFNOSUPPORT)
					continue;
				snprintf(why, size, "cannot make a socket to probe: %s",
					 strerror(errno));
				return port;
			}
			int rc = v6 ? sys->bind(fd, (struct sockaddr *)&a6, sizeof a6)
				    : sys->bind(fd, (struct sockaddr *)&a4, sizeof a4);
			int err = errno;
			sys->close(fd);
			if (rc < 0 && !(v6 && err == EADDRNOTAVAIL)) { /* no ::1 configured */
				snprintf(why, size, "port %d is held on this machine (%s on %s)",
					 port, strerror(err), v6 ? "::1" : "127.0.0.1");
				return port;
			}
		}
	return 0;
}

/* On the kernel, a file whose 'requires' it does not meet is not applicable (or, when the
 * kernel cannot be asked, fails): 1 with res filled in, 0 to run it. */
static int kernel_lacks(const struct sd_scenario *sc, struct sd_sc_result *res)
{
	if (sc->free_line) {
		char why[160];
		if (port_held(sc->free_lo, sc->free_hi, why, sizeof why)) {
			snprintf(res->message, sizeof res->message,
				 "%s:%d: not applicable: the file requires free-ports=%d-%d and %s",
				 sc->path, sc->free_line, sc->free_lo, sc->free_hi, why);
			res->passed = 0, res->skipped = 1;
			return 1;
		}
	}
	if (sc->has_one_role) {
		int host = sd_real_host_one_role();
		if (host < 0)
			snprintf(res->message, sizeof res->message,
				 "%s:%d: cannot tell whether this kernel is one-role: %s", sc->path,
				 sc->one_role_line, strerror(-host));
		else if (host != sc->one_role)
			snprintf(
				res->message, sizeof res->message,
				"%s:%d: not applicable: the file requires %s and this kernel is %s",
				sc->path, sc->one_role_line, variant_name(sc->one_role),
				variant_name(host));
		if (host != sc->one_role) {
			res->passed = 0, res->skipped = host >= 0;
			return 1;
		}
	}
	if (sc->unprivileged) {
		char why[120];
		if (!host_unprivileged(why, sizeof why)) {
			snprintf(res->message, sizeof res->message,
				 "%s:%d: not applicable: the file sets unprivileged and %s",
				 sc->path, sc->unprivileged_line, why);
			res->passed = 0, res->skipped = 1;
			return 1;
		}
	}
	if (!sc->nreqs)
		return 0;
	struct sd_sim_profile host;
	char err[160] = "";
	int rc = sd_sim_profile_host(&host, err, sizeof err);
	if (rc < 0) {
		snprintf(res->message, sizeof res->message,
			 "%s:%d: cannot read this kernel's %s: %s", sc->path, sc->reqs[0].line,
			 sc_tunables[sc->reqs[0].field].name, err[0] ? err : strerror(-rc));
		res->passed = 0, res->skipped = 0;
		return 1;
	}
	for (int i = 0; i < sc->nreqs; i++) {
		const struct sc_tunable *t = &sc_tunables[sc->reqs[i].field];
		const struct sc_require *r = &sc->reqs[i];
		int have, have_hi = 0;
		memcpy(&have, (const char *)&host + t->offset, sizeof have);
		if (t->pair)
			memcpy(&have_hi, (const char *)&host + t->offset_hi, sizeof have_hi);
		if (have != r->value || have_hi != r->hi) {
			char want[32] = "", got[32] = "";
			if (t->pair)
				snprintf(want, sizeof want, "-%ld", r->hi),
					snprintf(got, sizeof got, "-%d", have_hi);
			snprintf(res->message, sizeof res->message,
				 "%s:%d: not applicable: the file %s %s=%ld%s and this kernel "
				 "has %s=%d%s",
				 sc->path, r->line, r->is_set ? "sets" : "requires", t->name,
				 r->value, want, t->name, have, got);
			res->passed = 0, res->skipped = 1;
			return 1;
		}
	}
	return 0;
}

const char *sd_scenario_server_faults(const struct sd_scenario *sc)
{
	return sc->has_server_faults ? sc->server_faults : NULL;
}

const struct sd_fault_spec *sd_scenario_server_fault_spec(const struct sd_scenario *sc)
{
	return sc->has_server_faults ? &sc->server_spec : NULL;
}

int sd_scenario_server_seed(const struct sd_scenario *sc, uint64_t *seed)
{
	if (sc->has_server_seed)
		*seed = sc->server_seed;
	return sc->has_server_seed;
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

/* Runs the steps on R->backend (opened, and closed after when own), behind the file's faults;
 * 0, or a negative errno when the wrapper could not be made. */
static int run_steps(struct run *R, int own, uint64_t seed)
{
	const struct sd_scenario *sc = R->sc;
	const struct sd_sc_options *opt = R->opt;
	struct sd_sc_result *res = R->res;
	/* Faults wrap the backend: the run talks to the wrapper, which forwards to it. */
	const struct sd_fault_spec *spec = opt && opt->faults ? opt->faults : &sc->faults;
	int rc = 0;
	if (sd_fault_active(spec))
		rc = sd_fault_wrap(&R->net, R->backend, spec, seed, opt ? opt->fault_log : NULL);
	else
		R->net = *R->backend;
	if (rc < 0) {
		if (own)
			sd_net_close(R->backend);
		return rc;
	}
	R->wrapped = sd_fault_active(spec);
	if (opt && opt->target_port > 0 && sc->sym_target >= 0) {
		int64_t *slot = table_find(R, &R->vars, sc->sym_target, 0, 0, 1);
		if (slot)
			*slot = opt->target_port;
	}
	double t0 = sd__mono_s();
	R->deadline = t0 + R->max_time_s;
	struct {
		int begin, count, iter;
	} stack[SC_MAX_DEPTH];
	int depth = 0;
	for (int pc = 0; pc < sc->n && !R->stop && (res->passed || R->keep_going); pc++) {
		const struct sc_step *st = &sc->steps[pc];
		/* the parser bounds the steps a file runs; repeat and '}' are not steps, and a
		 * repeat with no step inside is skipped whole, so they cost no more than these */
		if (st->kind != S_REPEAT && st->kind != S_END && ++res->cost.steps > SC_MAX_STEPS) {
			failure(R, st, NULL, "stopped after %d steps", SC_MAX_STEPS);
			R->stop = 1;
			break;
		}
		if (st->kind != S_REPEAT && st->kind != S_END && sd__mono_s() >= R->deadline) {
			failure(R, st, NULL,
				"the run reached its time bound (--max-time %d s) before this step",
				R->max_time_s);
			R->stop = 1;
			break;
		}
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
	return 0;
}

int sd_scenario_run(const struct sd_scenario *sc, const char *backend,
		    const struct sd_sc_options *opt, struct sd_sc_result *res)
{
	struct run R;
	char options[512];
	result_init(&R, sc, opt, res);
	/* the configuration depends on what the backend is: asked of it before it is opened */
	int caps = sd_backend_caps(backend);
	if (caps < 0)
		return caps;
	R.caps = (unsigned)caps;
	R.threads = !!(R.caps & SD_CAP_BLOCKS_THREAD);
	if ((R.caps & SD_CAP_KERNEL) && kernel_lacks(sc, res))
		return 0;
	/* the file's settings reach a backend that takes the sim's configuration; the kernel
	 * has the host's */
	sd_scenario_sim_options(sc, opt, options, sizeof options);
	struct sd_config cfg = {.seed = sd_scenario_seed(sc, opt),
				.options = R.caps & SD_CAP_SIM_CONFIG ? options : NULL};
	int rc = sd_net_open(&R.base, backend, &cfg);
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
