/* sockdrill sim: epoll instances over simulated sockets, after Linux's fs/eventpoll.c. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "sim_internal.h"

/*
 * Linux keeps, per epoll instance, the interest entries (epitems) and a ready list that a
 * socket's wakeup callback appends to. The sim has no callbacks: readiness is the poll mask
 * (sd__poll_mask), computed when asked, and a wakeup is a change of the socket's event
 * counters since an entry last reported. Like Linux's wakeups, they are keyed: bytes that
 * arrived (rx_total minus what is still in flight) and accept-queue additions (inseq) wake
 * entries watching EPOLLIN, write space after SOCK_NOSPACE (outseq) those watching EPOLLOUT,
 * state changes (evseq: connected, FIN, RST, shutdown) every entry. Level-triggered entries
 * report while the mask matches; edge-triggered ones when the mask matches and a wakeup for
 * them happened since their last report (or since ADD/MOD).
 */

/* Event bits an entry may carry besides the ones it reports. */
#define EP_PRIVATE (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
/* What EPOLLEXCLUSIVE may be combined with (EPOLLEXCLUSIVE_OK_BITS). */
#define EP_EXCL_OK                                                                                 \
	(EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)

struct sd__epi {
	struct sd__epi *next; /* in report order: a reported level-triggered entry goes last */
	struct sd__sock *k;
	int fd;
	uint32_t events; /* as registered, with EPOLLERR|EPOLLHUP always added */
	epoll_data_t data;
	int armed;        /* edge-triggered: ADD/MOD since the last report */
	uint64_t seen_in; /* the wakeup counters at the last report (or ADD/MOD) */
	uint64_t seen_out;
	uint64_t seen_ev;
};

struct sd__epoll {
	struct sd__epoll *next, *prev; /* s->epolls */
	struct sd__sock *self;         /* the descriptor-table entry that is this instance */
	struct sd__epi *head;
};

struct sd__sock *sd__epoll_new(struct sd__sim *s)
{
	struct sd__sock *k = calloc(1, sizeof *k);
	struct sd__epoll *e = calloc(1, sizeof *e);
	if (!k || !e) {
		free(k);
		free(e);
		return NULL;
	}
	k->id = ++s->next_id;
	k->refs = 1;
	k->fin_at = -1;
	k->ep = e;
	e->self = k;
	e->next = s->epolls;
	if (s->epolls)
		s->epolls->prev = e;
	s->epolls = e;
	return k;
}

void sd__epoll_free(struct sd__sim *s, struct sd__sock *k)
{
	struct sd__epoll *e = k->ep;
	for (struct sd__epi *i = e->head, *n; i; i = n) {
		n = i->next;
		free(i);
	}
	if (e->prev)
		e->prev->next = e->next;
	else
		s->epolls = e->next;
	if (e->next)
		e->next->prev = e->prev;
	free(e);
	k->ep = NULL;
}

/* At sim_destroy, after the descriptor table: instances whose descriptor was closed while an
 * actor (now discarded) still waited on them. */
void sd__epoll_free_all(struct sd__sim *s)
{
	while (s->epolls) {
		struct sd__sock *k = s->epolls->self;
		sd__epoll_free(s, k);
		free(k);
	}
}

/* eventpoll_release(): the socket's last descriptor is gone, and with it every entry. */
void sd__epoll_forget(struct sd__sim *s, const struct sd__sock *k)
{
	for (struct sd__epoll *e = s->epolls; e; e = e->next)
		for (struct sd__epi **pp = &e->head; *pp;) {
			struct sd__epi *i = *pp;
			if (i->k == k) {
				*pp = i->next;
				free(i);
			} else {
				pp = &i->next;
			}
		}
}

/* Bytes that have reached k so far (queued ones still in flight excluded). */
static uint64_t rx_arrived(struct sd__sim *s, const struct sd__sock *k)
{
	return k->rx_total - (k->in_bytes - sd__arrived(s, k));
}

/* The sum of the counters of the wakeups an entry listens to (sums only grow). */
static uint64_t in_events(struct sd__sim *s, const struct sd__sock *k)
{
	return rx_arrived(s, k) + k->inseq;
}

static void mark_seen(struct sd__sim *s, struct sd__epi *i)
{
	i->seen_in = in_events(s, i->k);
	i->seen_out = i->k->outseq;
	i->seen_ev = i->k->evseq;
}

/* A wakeup for entry i since mark_seen (ep_poll_callback's key filter). */
static int woken(struct sd__sim *s, const struct sd__epi *i)
{
	const struct sd__sock *k = i->k;
	return k->evseq != i->seen_ev ||
	       ((i->events & (EPOLLIN | EPOLLRDNORM)) && in_events(s, k) != i->seen_in) ||
	       ((i->events & (EPOLLOUT | EPOLLWRNORM)) && k->outseq != i->seen_out);
}

/* ep_insert()/ep_modify(): an entry starts armed, so a socket ready now is reported. */
static void arm(struct sd__sim *s, struct sd__epi *i, const struct epoll_event *ev)
{
	i->events = (ev->events & ~(uint32_t)EPOLLWAKEUP) | EPOLLERR | EPOLLHUP;
	i->data = ev->data;
	i->armed = 1;
	mark_seen(s, i);
}

/* ep_find(): an entry is keyed by the open file and the descriptor number together, so one
 * that outlived its number's dup2 to another socket is not the new socket's. */
static struct sd__epi *find(struct sd__epoll *e, int fd, const struct sd__sock *k)
{
	for (struct sd__epi *i = e->head; i; i = i->next)
		if (i->fd == fd && i->k == k)
			return i;
	return NULL;
}

/* do_epoll_ctl() after the descriptors were found: e is the epoll instance named by epfd (NULL
 * when epfd is something else), k what fd names. */
int sd__epoll_ctl(struct sd__sim *s, struct sd__sock *e, int op, int fd, struct sd__sock *k,
		  const struct epoll_event *ev)
{
	if (!e || !e->ep || e == k)
		return -EINVAL;
	if (k->ep)
		return -EINVAL; /* nested epoll is not modelled (docs/sim-vs-linux.md) */
	if (op != EPOLL_CTL_DEL && (ev->events & EPOLLEXCLUSIVE)) {
		if (op == EPOLL_CTL_MOD || (ev->events & ~(uint32_t)EP_EXCL_OK))
			return -EINVAL;
	}
	struct sd__epi *i = find(e->ep, fd, k);
	switch (op) {
	case EPOLL_CTL_ADD: {
		if (i)
			return -EEXIST;
		i = calloc(1, sizeof *i);
		if (!i)
			return -ENOMEM;
		i->k = k;
		i->fd = fd;
		arm(s, i, ev);
		struct sd__epi **pp = &e->ep->head;
		while (*pp)
			pp = &(*pp)->next;
		*pp = i;
		break;
	}
	case EPOLL_CTL_MOD:
		if (!i)
			return -ENOENT;
		if (i->events & EPOLLEXCLUSIVE)
			return -EINVAL;
		arm(s, i, ev);
		break;
	case EPOLL_CTL_DEL:
		if (!i)
			return -ENOENT;
		for (struct sd__epi **pp = &e->ep->head; *pp; pp = &(*pp)->next)
			if (*pp == i) {
				*pp = i->next;
				break;
			}
		free(i);
		break;
	default: return -EINVAL;
	}
	sd__wake_all(s); /* a waiter on this instance may now have something to report */
	return 0;
}

/* What entry i would report now (0: nothing). */
static uint32_t due(struct sd__sim *s, const struct sd__epi *i)
{
	if (!(i->events & ~(uint32_t)EP_PRIVATE))
		return 0; /* a one-shot entry that already reported, until EPOLL_CTL_MOD */
	uint32_t m = (uint32_t)(unsigned short)sd__poll_mask(s, i->k) & i->events;
	if (!m || !(i->events & EPOLLET))
		return m;
	if (i->armed || woken(s, i))
		return m;
	return 0;
}

/* ep_send_events(): up to max ready entries into out (NULL: only count whether any is). */
int sd__epoll_ready(struct sd__sim *s, struct sd__sock *e, struct epoll_event *out, int max)
{
	struct sd__epi *later = NULL, **later_tail = &later;
	int n = 0;
	for (struct sd__epi **pp = &e->ep->head; *pp && n < max;) {
		struct sd__epi *i = *pp;
		uint32_t m = due(s, i);
		if (!out) {
			if (m)
				return 1;
			pp = &i->next;
			continue;
		}
		if (i->events & EPOLLET) {
			/* an edge is used up whether or not it found the socket ready */
			i->armed = 0;
			mark_seen(s, i);
		}
		if (!m) {
			pp = &i->next;
			continue;
		}
		out[n].events = m;
		out[n].data = i->data;
		n++;
		if (i->events & EPOLLONESHOT)
			i->events &= (uint32_t)EP_PRIVATE;
		else if (!(i->events & EPOLLET)) {
			/* level-triggered: back on the ready list's tail, after the others */
			*pp = i->next;
			i->next = NULL;
			*later_tail = i;
			later_tail = &i->next;
			continue;
		}
		pp = &i->next;
	}
	if (later) {
		struct sd__epi **pp = &e->ep->head;
		while (*pp)
			pp = &(*pp)->next;
		*pp = later;
	}
	return n;
}

short sd__epoll_mask(struct sd__sim *s, struct sd__sock *e)
{
	return sd__epoll_ready(s, e, NULL, 1) ? (POLLIN | POLLRDNORM) : 0;
}

/* An epoll instance lives while its descriptor is open or a wait on it is in progress. */
void sd__epoll_unref(struct sd__sim *s, struct sd__sock *k)
{
	if (--k->refs == 0) {
		sd__epoll_free(s, k);
		free(k);
	}
}

/* ---- the table's members (sd_ops version 3) ---------------------------------------------- */

int sd__sim_epoll_create(void *state, int flags)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int fd;
	sd__enter(s);
	if (flags & ~EPOLL_CLOEXEC)
		fd = -EINVAL;
	else if (!(k = sd__epoll_new(s)))
		fd = -ENOMEM;
	else if ((fd = sd__fd_alloc(s, k)) < 0)
		sd__epoll_unref(s, k);
	else
		k->fd = fd, k->ndesc = 1;
	return fd;
}

int sd__sim_epoll_ctl(void *state, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct sd__sim *s = state;
	struct sd__sock *e, *k;
	int rc;
	sd__enter(s);
	if (op != EPOLL_CTL_DEL && !ev)
		rc = -EFAULT;
	else if (!(e = sd__slot(s, epfd)) || !(k = sd__slot(s, fd)))
		rc = -EBADF;
	else
		rc = sd__epoll_ctl(s, e, op, fd, k, ev);
	return rc;
}

/* Linux's EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event). */
#define EP_MAX_EVENTS ((int)(INT_MAX / sizeof(struct epoll_event)))

int sd__sim_epoll_wait(void *state, int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
	struct sd__sim *s = state;
	struct sd__sock *e = NULL;
	int rc;
	sd__enter(s);
	if (max <= 0 || max > EP_MAX_EVENTS)
		rc = -EINVAL;
	else if (!ev)
		rc = -EFAULT;
	else if (!(e = sd__slot(s, epfd)))
		rc = -EBADF;
	else if (!e->ep)
		rc = -EINVAL, e = NULL;
	else {
		int64_t deadline = timeout_ms < 0 ? -1 : s->now + (int64_t)timeout_ms * 1000000;
		e->refs++; /* another actor may close epfd while this one waits */
		for (;;) {
			rc = sd__epoll_ready(s, e, ev, max);
			if (rc || timeout_ms == 0 || (deadline >= 0 && s->now >= deadline))
				break;
			if (sd__park(s, "epoll_wait", deadline) == W_DEADLOCK) {
				rc = -EDEADLK;
				break;
			}
		}
		sd__epoll_unref(s, e);
	}
	return rc;
}
