/* sockdrill sim: the sim-only API of include/sockdrill/sim.h (stats, queues, the
 * scheduler for in-process runs). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include <sockdrill/sockdrill.h>
#include <sockdrill/trace.h>

#include "sim_internal.h"

/* The sim of net: net itself, or the sim under trace wrappers, which only watch its calls
 * (a traced run's code keeps one net for the calls and for this API). */
static struct sim__sim *as_sim(struct sd_net *net)
{
	while (net && net->ops == &sd_trace_ops)
		net = sd_trace_unwrap(net);
	return net && net->ops == &sd_sim_ops ? net->state : NULL;
}

const char *sd_sim_deadlock_report(struct sd_net *net)
{
	struct sim__sim *s = as_sim(net);
	return s ? s->deadlock : NULL;
}

int sd_sim_profile_of(struct sd_net *net, struct sd_sim_profile *out)
{
	struct sim__sim *s = as_sim(net);
	if (!s || !out)
		return -EINVAL;
	*out = s->prof;
	return 0;
}

int sd_sim_one_role(struct sd_net *net)
{
	struct sim__sim *s = as_sim(net);
	return s ? s->one_role : -EINVAL;
}

int sd_sim_stats(struct sd_net *net, struct sd_sim_stats *out)
{
	struct sim__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	out->calls = s->calls;
	out->sigpipes = s->sigpipes;
	out->now_ns = s->now;
	/* A slot an accept in progress holds is no descriptor yet (Linux allocates it when a
	 * connection is taken). */
	out->open_fds = out->listening = 0;
	for (int i = 0; i < s->nfds_cap; i++) {
		struct sim__sock *k = s->fds[i];
		if (!k || k == &sim__reserved)
			continue;
		out->open_fds++;
		out->listening += k->st == T_LISTEN;
	}
	return 0;
}

int sd_sim_set_segment(struct sd_net *net, int fd, int segment)
{
	struct sim__sim *s = as_sim(net);
	struct sim__sock *k;
	if (!s)
		return -EOPNOTSUPP;
	if (segment < -1 || segment > (1 << 20))
		return -EINVAL;
	if (!(k = sim__lookup(s, fd)))
		return -EBADF;
	if (k->ep)
		return -ENOTSOCK;
	k->rx_segment_own = segment >= 0;
	k->rx_segment = segment;
	return 0;
}

int sd_sim_listening(struct sd_net *net, const struct sockaddr *a, socklen_t len)
{
	struct sim__sim *s = as_sim(net);
	if (!s)
		return -EOPNOTSUPP;
	struct sim__sock as = {.v6 = a &&
				     a->sa_family == AF_INET6}; /* a connect from that family */
	struct sim__ep ep;
	int rc = sim__ep_from(&as, a, len, &ep);
	if (rc < 0)
		return rc;
	return ep.port ? sim__listeners_for(s, &ep) : -EINVAL;
}

long sd_sim_queued(struct sd_net *net, int fd, int outq)
{
	struct sim__sim *s = as_sim(net);
	struct sim__sock *k;
	if (!s)
		return -EOPNOTSUPP;
	if (!(k = sim__lookup(s, fd)))
		return -EBADF;
	if (k->st == T_LISTEN)
		return -EINVAL;
	if (k->st == T_SYN_SENT)
		return 0;
	if (!outq)
		return (long)sim__arrived(s, k);
	/* what the peer holds past its receive buffer is, for Linux, still in our send queue */
	const struct sim__sock *p = k->peer;
	if (!p)
		return 0;
	size_t got = sim__arrived(s, p);
	if (got > (size_t)p->rcvbuf)
		got = (size_t)p->rcvbuf;
	return (long)(p->in_bytes - got);
}

/* The table's ioctl: the queue sizes above, the descriptor checked first as Linux does (a bad
 * one is -EBADF whatever the request), then the request. */
int sim__ioctl(void *state, int fd, unsigned long request, int *value)
{
	struct sd_net net = {&sd_sim_ops, state};
	long n = sd_sim_queued(&net, fd, request == SIOCOUTQ);
	if (n == -EBADF)
		return (int)n;
	if (request != SIOCINQ && request != SIOCOUTQ)
		return -ENOTTY;
	if (n < 0)
		return (int)n;
	*value = n > INT_MAX ? INT_MAX : (int)n;
	return 0;
}

int sd_sim_wake_readers(struct sd_net *net, int fd)
{
	struct sim__sim *s = as_sim(net);
	return s ? sim__wake_fd(s, fd, POLLIN) : -EOPNOTSUPP;
}

/* ---- the scheduler, for in-process runs -------------------------------------------------- */

static struct sim__actor *actor_of(struct sim__sim *s, int id)
{
	return s ? sim__actor_find(s, id) : NULL;
}

int sd_sim_current(struct sd_net *out)
{
	struct sim__sim *s = sim__running();
	if (!s)
		return 0;
	out->ops = &sd_sim_ops;
	out->state = s;
	return 1;
}

int sd_sim_is_actor(struct sd_net *net)
{
	struct sim__sim *s = as_sim(net);
	return s && sim__running() == s && s->cur != &s->main;
}

uint64_t sd_sim_serial(struct sd_net *net)
{
	struct sim__sim *s = as_sim(net);
	return s ? s->serial : 0;
}

int sd_sim_random(struct sd_net *net, void *buf, size_t n)
{
	struct sim__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	for (unsigned char *p = buf; n;) {
		uint64_t r = sd__splitmix64(&s->bytes_rng);
		size_t k = n < sizeof r ? n : sizeof r;
		memcpy(p, &r, k);
		p += k, n -= k;
	}
	return 0;
}

int sd_sim_actor_id(struct sd_net *net)
{
	struct sim__sim *s = as_sim(net);
	return s ? s->cur->id : -EINVAL;
}

int sd_sim_park(struct sd_net *net, const void *key, int64_t deadline_ns, int flags,
		const char *what)
{
	struct sim__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	struct sim__actor *me = s->cur;
	snprintf(me->wait_buf, sizeof me->wait_buf, "%s", what ? what : "park");
	switch (sim__park_on(s, key, me->wait_buf, deadline_ns, (flags & SD_SIM_PARK_INTR) != 0)) {
	case W_TIMEOUT: return -ETIMEDOUT;
	case W_DEADLOCK: return -EDEADLK;
	case W_INTR: return -EINTR;
	default: return 0;
	}
}

int sd_sim_unpark(struct sd_net *net, const void *key, int n)
{
	struct sim__sim *s = as_sim(net);
	int woken = 0;
	if (!s || !key)
		return -EINVAL;
	while (n < 0 || woken < n) {
		struct sim__actor *first = NULL;
		for (size_t w = 0; w < s->qwords; w++)
			for (uint64_t m = s->keyq[w]; m; m &= m - 1) {
				struct sim__actor *a =
					s->actors[w * 64 + (size_t)__builtin_ctzll(m)];
				if (a->key == key && (!first || a->park_seq < first->park_seq))
					first = a;
			}
		if (!first)
			break;
		sim__set_state(s, first, A_RUNNABLE);
		first->key = NULL;
		first->why = W_WOKEN;
		woken++;
	}
	return woken;
}

int sd_sim_interrupt(struct sd_net *net, int id)
{
	struct sim__sim *s = as_sim(net);
	struct sim__actor *a = actor_of(s, id);
	if (!a || a->st == A_DONE || a->st == A_JOINED)
		return -ESRCH;
	if (a->st == A_PARKED && a->intr_ok) {
		sim__set_state(s, a, A_RUNNABLE);
		a->why = W_INTR;
	} else {
		a->intr_pending = 1;
	}
	return 0;
}

int sd_sim_actor_exit(struct sd_net *net, int status)
{
	struct sim__sim *s = as_sim(net);
	if (!s || s->cur == &s->main || sim__running() != s)
		return -EINVAL;
	s->cur->status = status;
	sim__finish(s);
}

int sd_sim_actor_stop(struct sd_net *net, int id)
{
	struct sim__sim *s = as_sim(net);
	struct sim__actor *a = actor_of(s, id);
	if (!a)
		return -ESRCH;
	if (a == &s->main || a == s->cur)
		return -EINVAL;
	if (a->st == A_DONE || a->st == A_JOINED)
		return 0;
	a->key = NULL;
	a->status = -1;
	sim__set_state(s, a, A_DONE);
	if (a->detached) {
		sim__stack_free(a);
		sim__set_state(s, a, A_JOINED);
	}
	sim__wake_all(s); /* joiners */
	return 0;
}

int sd_sim_detach(struct sd_net *net, int id)
{
	struct sim__sim *s = as_sim(net);
	struct sim__actor *a = actor_of(s, id);
	if (!a || a == &s->main || a->st == A_JOINED)
		return -ESRCH;
	a->detached = 1;
	if (a->st == A_DONE && a != s->cur) {
		sim__stack_free(a);
		sim__set_state(s, a, A_JOINED);
	}
	return 0;
}

int sd_sim_actor_status(struct sd_net *net, int id, int *status)
{
	struct sim__actor *a = actor_of(as_sim(net), id);
	if (!a)
		return -ESRCH;
	if (a->st != A_DONE && a->st != A_JOINED)
		return 0;
	if (status)
		*status = a->status;
	return 1;
}

int sd_sim_yield(struct sd_net *net, int maybe)
{
	struct sim__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	if (maybe)
		sim__maybe_yield(s);
	else
		sim__yield(s);
	return 0;
}

int sd_sim_set_time_limit(struct sd_net *net, int64_t t_ns)
{
	struct sim__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	s->limit = t_ns < 0 ? -1 : t_ns;
	return 0;
}
