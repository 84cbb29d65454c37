/* sockdrill interposition layer: poll, select and epoll waits on sets with its sockets. */
#include "layer.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

/* A set mixing simulated sockets with the kernel's descriptors (pipes, eventfds, files), a poll
 * set or an epoll set, waits in
 * virtual time, so that other actors run: the kernel's descriptors are checked without
 * blocking every STEP of virtual time, from 1 ms doubling up to 64 ms. After STEPPING of
 * virtual time in one call the kernel's are no longer checked until a simulated socket is
 * ready or the call times out: a server waiting on a pipe that nobody writes then ends in the
 * sim's deadlock report instead of stepping forever. */
#define STEP_FIRST_NS 1000000LL
#define STEP_MAX_NS   64000000LL
#define STEPPING_NS   60000000000LL
#define SMALL_SET     16

static int ms_of(int64_t ns)
{
	if (ns < 0)
		return -1;
	int64_t ms = (ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int has_ours(const struct pollfd *p, nfds_t n)
{
	if (!sd__fd_any())
		return 0;
	for (nfds_t i = 0; i < n; i++)
		if (sd__fd_lookup(p[i].fd))
			return 1;
	return 0;
}

/* The sim's part of the set (sp, at p's indexes si) and the kernel's (rp at ri), once. */
static int check(struct sd_net *net, struct pollfd *sp, nfds_t ns, struct pollfd *rp, nfds_t nr)
{
	int rc = sd_poll(net, sp, ns, 0);
	if (rc < 0 || !nr)
		return rc;
	int rr = SD__LIBC(poll)(rp, nr, 0);
	return rr < 0 ? -errno : rc + rr;
}

static int wait_split(struct sd_net *net, struct pollfd *sp, nfds_t ns, struct pollfd *rp,
		      nfds_t nr, int64_t timeout_ns, int64_t *left_ns)
{
	int64_t start = sd_now_ns(net), deadline = -1;
	if (timeout_ns >= 0) /* a timeout past the clock's end is none */
		deadline = timeout_ns > INT64_MAX - start ? -1 : start + timeout_ns;
	int64_t step = STEP_FIRST_NS, now = start;
	int rc;
	for (;;) {
		rc = check(net, sp, ns, rp, nr);
		now = sd_now_ns(net);
		if (rc != 0 || (deadline >= 0 && now >= deadline))
			break;
		int64_t wait = deadline < 0 ? -1 : deadline - now;
		if (nr && now - start < STEPPING_NS) {
			if (wait < 0 || wait > step)
				wait = step;
			step = step * 2 > STEP_MAX_NS ? STEP_MAX_NS : step * 2;
		}
		if ((rc = sd_poll(net, sp, ns, ms_of(wait))) < 0)
			break;
	}
	if (left_ns)
		*left_ns = deadline < 0 ? -1 : deadline > now ? deadline - now : 0;
	return rc;
}

/* As wait_split, for epoll: the sim's instance first, then the kernel's fills what room is left.
 * A sim wait that reports events ends the call with them (reading them used up their edges). */
int sd__epoll_wait_mixed(struct sd_net *net, int sfd, int kep, struct epoll_event *e, int n,
			 int timeout_ms)
{
	int64_t start = sd_now_ns(net), deadline = -1;
	if (timeout_ms >= 0)
		deadline = start + (int64_t)timeout_ms * 1000000;
	int64_t step = STEP_FIRST_NS, now;
	for (;;) {
		/* the sim's own checks first: EINVAL, EBADF */
		int rc = sd_epoll_wait(net, sfd, e, n, 0);
		if (rc < 0)
			return rc;
		if (rc < n) {
			int k = SD__LIBC(epoll_wait)(kep, e + rc, n - rc, 0);
			if (k < 0 && !rc)
				return -errno;
			rc += k > 0 ? k : 0;
		}
		now = sd_now_ns(net);
		if (rc || (deadline >= 0 && now >= deadline))
			return rc;
		int64_t wait = deadline < 0 ? -1 : deadline - now;
		if (now - start < STEPPING_NS) {
			if (wait < 0 || wait > step)
				wait = step;
			step = step * 2 > STEP_MAX_NS ? STEP_MAX_NS : step * 2;
		}
		if ((rc = sd_epoll_wait(net, sfd, e, n, ms_of(wait))) != 0)
			return rc;
	}
}

int sd__wait(struct pollfd *p, nfds_t n, int64_t timeout_ns, const sigset_t *mask, int64_t *left_ns)
{
	struct pollfd small[2 * SMALL_SET];
	nfds_t small_idx[2 * SMALL_SET];
	struct pollfd *sp = small, *rp;
	nfds_t *si = small_idx, *ri, ns = 0, nr = 0;
	struct sd_net *net = NULL;
	if (n > SD__FD_MAX)
		return -EINVAL;
	if (n > SMALL_SET) {
		sp = malloc(2 * n * (sizeof *sp + sizeof *si));
		if (!sp)
			return -ENOMEM;
		si = (nfds_t *)(void *)(sp + 2 * n);
	}
	rp = sp + n, ri = si + n;
	for (nfds_t i = 0; i < n; i++) {
		struct sd__fdh *h = p[i].fd < 0 ? NULL : sd__fd_lookup(p[i].fd);
		p[i].revents = 0;
		if (h && !net)
			net = h->net;
		if (h)
			sp[ns] = (struct pollfd){h->sfd, p[i].events, 0}, si[ns++] = i;
		else if (p[i].fd >= 0)
			rp[nr] = p[i], ri[nr++] = i;
	}
	sigset_t saved;
	if (mask)
		pthread_sigmask(SIG_SETMASK, mask, &saved);
	int rc = wait_split(net, sp, ns, rp, nr, timeout_ns, left_ns);
	if (mask)
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc >= 0) {
		rc = 0;
		for (nfds_t j = 0; j < ns; j++)
			rc += (p[si[j]].revents = sp[j].revents) != 0;
		for (nfds_t j = 0; j < nr; j++)
			rc += (p[ri[j]].revents = rp[j].revents) != 0;
	}
	if (sp != small)
		free(sp);
	return rc;
}

int sd__on_poll(struct pollfd *p, nfds_t n, int t)
{
	if (sd__route_kernel_fds)
		sd__route_waited();
	if (sd__route_kernel_fds || !has_ours(p, n))
		return SD__LIBC(poll)(p, n, t);
	sd__route_cancel_point();
	return (int)sd__ret_cp(sd__wait(p, n, t < 0 ? -1 : (int64_t)t * 1000000, NULL, NULL));
}

/* _FORTIFY_SOURCE: an array shorter than n goes to the C library's check, which aborts. */
int sd__on___poll_chk(struct pollfd *p, nfds_t n, int t, size_t pl)
{
	if (pl / sizeof *p < n)
		return SD__LIBC(__poll_chk)(p, n, t, pl);
	return sd__on_poll(p, n, t);
}

/* A timespec as a timeout in ns (-1: none): 0, or -EINVAL as ppoll and pselect give. */
static int ts_ns(const struct timespec *t, int64_t *ns)
{
	*ns = -1;
	if (!t)
		return 0;
	if (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)
		return -EINVAL;
	*ns = t->tv_sec >= INT64_MAX / 1000000000 - 1
		      ? INT64_MAX
		      : (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
	return 0;
}

int sd__on_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *s)
{
	if (sd__route_kernel_fds)
		sd__route_waited();
	if (sd__route_kernel_fds || !has_ours(p, n))
		return SD__LIBC(ppoll)(p, n, t, s);
	sd__route_cancel_point();
	int64_t ns;
	if (ts_ns(t, &ns) < 0)
		return (int)sd__ret(-EINVAL);
	return (int)sd__ret_cp(sd__wait(p, n, ns, s, NULL));
}

int sd__on___ppoll_chk(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *s,
		       size_t pl)
{
	if (pl / sizeof *p < n)
		return SD__LIBC(__ppoll_chk)(p, n, t, s, pl);
	return sd__on_ppoll(p, n, t, s);
}

/* select's sets as a poll set and back, with Linux's readiness classes (POLLIN_SET,
 * POLLOUT_SET, POLLEX_SET of fs/select.c). */
#define IN_SET  (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define OUT_SET (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define EX_SET  POLLPRI

static int sets_have_ours(int n, fd_set *r, fd_set *w, fd_set *e)
{
	if (!sd__fd_any())
		return 0;
	for (int fd = 0; fd < n; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) &&
		    sd__fd_lookup(fd))
			return 1;
	return 0;
}

/* Leaves fd in set when it asked and is ready: 1 if so. */
static int mark(fd_set *set, int fd, int asked, int ready)
{
	if (!asked)
		return 0;
	if (!ready)
		FD_CLR(fd, set);
	return ready != 0;
}

static int select_wait(int n, fd_set *r, fd_set *w, fd_set *e, int64_t timeout_ns,
		       const sigset_t *mask, int64_t *left_ns)
{
	struct pollfd *p = malloc((size_t)n * sizeof *p);
	nfds_t np = 0;
	if (!p)
		return -ENOMEM;
	for (int fd = 0; fd < n; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
				   (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		if (ev)
			p[np++] = (struct pollfd){fd, ev, 0};
	}
	int rc = sd__wait(p, np, timeout_ns, mask, left_ns);
	for (nfds_t i = 0; rc >= 0 && i < np; i++)
		if (p[i].revents & POLLNVAL)
			rc = -EBADF;
	if (rc >= 0) {
		rc = 0;
		for (nfds_t i = 0; i < np; i++) {
			int fd = p[i].fd, ev = p[i].events, re = p[i].revents;
			rc += mark(r, fd, ev & POLLIN, re & IN_SET) +
			      mark(w, fd, ev & POLLOUT, re & OUT_SET) +
			      mark(e, fd, ev & POLLPRI, re & EX_SET);
		}
	}
	free(p);
	return rc;
}

int sd__on_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
	int m = n > FD_SETSIZE ? FD_SETSIZE : n;
	if (sd__route_kernel_fds)
		sd__route_waited();
	if (sd__route_kernel_fds || n < 0 || !sets_have_ours(m, r, w, e))
		return SD__LIBC(select)(n, r, w, e, t);
	sd__route_cancel_point();
	if (t && (t->tv_sec < 0 || t->tv_usec < 0))
		return (int)sd__ret(-EINVAL);
	int64_t left, ns = -1;
	if (t)
		ns = t->tv_sec >= INT64_MAX / 1000000000 - 1
			     ? INT64_MAX
			     : (int64_t)t->tv_sec * 1000000000 + (int64_t)t->tv_usec * 1000;
	int rc = select_wait(m, r, w, e, ns, NULL, &left);
	if (rc >= 0 && t && left >= 0) { /* Linux's select leaves the time not waited */
		t->tv_sec = left / 1000000000;
		t->tv_usec = (left % 1000000000) / 1000;
	}
	return (int)sd__ret_cp(rc);
}

int sd__on_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
		   const sigset_t *s)
{
	int m = n > FD_SETSIZE ? FD_SETSIZE : n;
	if (sd__route_kernel_fds)
		sd__route_waited();
	if (sd__route_kernel_fds || n < 0 || !sets_have_ours(m, r, w, e))
		return SD__LIBC(pselect)(n, r, w, e, t, s);
	sd__route_cancel_point();
	int64_t ns;
	if (ts_ns(t, &ns) < 0)
		return (int)sd__ret(-EINVAL);
	return (int)sd__ret_cp(select_wait(m, r, w, e, ns, s, NULL));
}
