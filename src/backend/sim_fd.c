/* sockdrill sim: the descriptor table, and the calls on descriptors (close, dup, dup3,
 * O_NONBLOCK). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* Marks a slot taken by an accept still in progress (sim_accept). */
struct sim__sock sim__reserved;

/* What fd names: a socket or an epoll instance (NULL: not open). */
struct sim__sock *sim__slot(struct sim__sim *s, int fd)
{
	int i = fd - s->fdbase;
	if (fd < s->fdbase || i >= s->nfds_cap || s->fds[i] == &sim__reserved)
		return NULL;
	return s->fds[i];
}

/* The socket fd names (NULL: not open, or an epoll descriptor). */
struct sim__sock *sim__lookup(struct sim__sim *s, int fd)
{
	struct sim__sock *k = sim__slot(s, fd);
	return k && !k->ep ? k : NULL;
}

/* Why a socket call found no socket at fd. */
int sim__bad_fd(struct sim__sim *s, int fd) { return sim__slot(s, fd) ? -ENOTSOCK : -EBADF; }

/* Room in the descriptor table for at least n entries, doubling. 0 or -ENOMEM. */
static int grow_fds(struct sim__sim *s, int n)
{
	int cap = s->nfds_cap ? s->nfds_cap : 64;
	while (cap < n)
		cap *= 2;
	if (cap <= s->nfds_cap)
		return 0;
	struct sim__sock **f = realloc(s->fds, (size_t)cap * sizeof *f);
	if (!f)
		return -ENOMEM;
	memset(f + s->nfds_cap, 0, (size_t)(cap - s->nfds_cap) * sizeof *f);
	s->fds = f;
	s->nfds_cap = cap;
	return 0;
}

/* The lowest free descriptor, as Linux hands out; -EMFILE past the limit. */
int sim__fd_alloc(struct sim__sim *s, struct sim__sock *k)
{
	if (s->open_fds >= s->nofile)
		return -EMFILE;
	int i = s->fd_hint;
	while (i < s->nfds_cap && s->fds[i])
		i++;
	if (i >= s->nfds_cap && grow_fds(s, i + 1) < 0)
		return -ENOMEM;
	s->fds[i] = k;
	s->fd_hint = i + 1;
	s->open_fds++;
	return i + s->fdbase;
}

void sim__fd_free(struct sim__sim *s, int fd)
{
	int i = fd - s->fdbase;
	s->fds[i] = NULL;
	s->open_fds--;
	if (i < s->fd_hint)
		s->fd_hint = i;
}

/* Releases descriptor fd, which names k: what close does, and dup3 to a taken number. */
static void drop_fd(struct sim__sim *s, int fd, struct sim__sock *k)
{
	sim__fd_free(s, fd);
	if (k->ep) {
		if (--k->ndesc == 0)
			k->fd = -1;
		sim__epoll_unref(s, k);
		return;
	}
	/* Linux drops a socket's epoll entries with its last descriptor (the open file): an
	 * entry added through a duplicate closed since still reports */
	if (--k->ndesc == 0) {
		k->fd = -1;
		sim__epoll_forget(s, k);
	}
	sim__sock_unref(s, k);
	sim__wake_all(s);
}

int sim__close(void *state, int fd)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	int rc = 0;
	sim__enter(s);
	if (!(k = sim__slot(s, fd)))
		rc = -EBADF;
	else
		drop_fd(s, fd, k);
	return rc;
}

/* dup(2): another descriptor for the same socket or epoll instance, which holds a reference,
 * so that closing either leaves the other working. */
int sim__dup(void *state, int fd)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	int rc;
	sim__enter(s);
	if (!(k = sim__slot(s, fd)))
		rc = -EBADF;
	else if ((rc = sim__fd_alloc(s, k)) >= 0)
		k->refs++, k->ndesc++;
	return rc;
}

/* dup3(2), after ksys_dup3(): flags first, then the number's range (the descriptor limit; the
 * sim's numbers start at fdbase, below it nothing is the sim's), then oldfd. A socket that
 * newfd named closes there if that was its last descriptor. */
int sim__dup3(void *state, int oldfd, int newfd, int flags)
{
	struct sim__sim *s = state;
	struct sim__sock *k, *old;
	int rc = newfd, i = newfd < s->fdbase ? -1 : newfd - s->fdbase;
	sim__enter(s);
	if ((flags & ~O_CLOEXEC) || oldfd == newfd)
		rc = -EINVAL;
	else if (i < 0 || i >= s->nofile)
		rc = -EBADF;
	else if (!(k = sim__slot(s, oldfd)))
		rc = -EBADF;
	else if (i >= s->nfds_cap && grow_fds(s, i + 1) < 0)
		rc = -ENOMEM;
	else {
		if ((old = s->fds[i]))
			drop_fd(s, newfd, old);
		s->fds[i] = k;
		s->open_fds++;
		k->refs++, k->ndesc++;
	}
	return rc;
}

int sim__set_nonblocking(void *state, int fd, int on)
{
	struct sim__sim *s = state;
	struct sim__sock *k;
	int rc = 0;
	sim__enter(s);
	if (!(k = sim__slot(s, fd)))
		rc = -EBADF;
	else
		k->nonblock = on != 0; /* an epoll descriptor takes O_NONBLOCK too (fcntl) */
	return rc;
}
