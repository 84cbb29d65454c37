/* sockdrill sim: the descriptor table, and the calls on descriptors (close, dup, dup3,
 * O_NONBLOCK). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* Marks a slot taken by an accept still in progress (sim_accept). */
struct sd__sock sd__reserved;

/* What fd names: a socket or an epoll instance (NULL: not open). */
struct sd__sock *sd__slot(struct sd__sim *s, int fd)
{
	int i = fd - s->fdbase;
	if (fd < s->fdbase || i >= s->nfds_cap || s->fds[i] == &sd__reserved)
		return NULL;
	return s->fds[i];
}

/* The socket fd names (NULL: not open, or an epoll descriptor). */
struct sd__sock *sd__lookup(struct sd__sim *s, int fd)
{
	struct sd__sock *k = sd__slot(s, fd);
	return k && !k->ep ? k : NULL;
}

/* Why a socket call found no socket at fd. */
int sd__bad_fd(struct sd__sim *s, int fd) { return sd__slot(s, fd) ? -ENOTSOCK : -EBADF; }

/* Room in the descriptor table for at least n entries, doubling. 0 or -ENOMEM. */
static int grow_fds(struct sd__sim *s, int n)
{
	int cap = s->nfds_cap ? s->nfds_cap : 64;
	while (cap < n)
		cap *= 2;
	if (cap <= s->nfds_cap)
		return 0;
	struct sd__sock **f = realloc(s->fds, (size_t)cap * sizeof *f);
	if (!f)
		return -ENOMEM;
	memset(f + s->nfds_cap, 0, (size_t)(cap - s->nfds_cap) * sizeof *f);
	s->fds = f;
	s->nfds_cap = cap;
	return 0;
}

/* The lowest free descriptor, as Linux hands out; -EMFILE past the limit. */
int sd__fd_alloc(struct sd__sim *s, struct sd__sock *k)
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

void sd__fd_free(struct sd__sim *s, int fd)
{
	int i = fd - s->fdbase;
	s->fds[i] = NULL;
	s->open_fds--;
	if (i < s->fd_hint)
		s->fd_hint = i;
}

/* Releases descriptor fd, which names k: what close does, and dup3 to a taken number. */
static void drop_fd(struct sd__sim *s, int fd, struct sd__sock *k)
{
	sd__fd_free(s, fd);
	if (k->ep) {
		if (--k->ndesc == 0)
			k->fd = -1;
		sd__epoll_unref(s, k);
		return;
	}
	/* Linux drops a socket's epoll entries with its last descriptor (the open file): an
	 * entry added through a duplicate closed since still reports */
	if (--k->ndesc == 0) {
		k->fd = -1;
		sd__epoll_forget(s, k);
	}
	sd__sock_unref(s, k);
	sd__wake_all(s);
}

int sd__sim_close(void *state, int fd)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0;
	sd__enter(s);
	if (!(k = sd__slot(s, fd)))
		rc = -EBADF;
	else
		drop_fd(s, fd, k);
	return rc;
}

/* dup(2): another descriptor for the same socket or epoll instance, which holds a reference,
 * so that closing either leaves the other working. */
int sd__sim_dup(void *state, int fd)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc;
	sd__enter(s);
	if (!(k = sd__slot(s, fd)))
		rc = -EBADF;
	else if ((rc = sd__fd_alloc(s, k)) >= 0)
		k->refs++, k->ndesc++;
	return rc;
}

/* dup3(2), after ksys_dup3(): flags first, then the number's range (the descriptor limit; the
 * sim's numbers start at fdbase, below it nothing is the sim's), then oldfd. A socket that
 * newfd named closes there if that was its last descriptor. */
int sd__sim_dup3(void *state, int oldfd, int newfd, int flags)
{
	struct sd__sim *s = state;
	struct sd__sock *k, *old;
	int rc = newfd, i = newfd < s->fdbase ? -1 : newfd - s->fdbase;
	sd__enter(s);
	if ((flags & ~O_CLOEXEC) || oldfd == newfd)
		rc = -EINVAL;
	else if (i < 0 || i >= s->nofile)
		rc = -EBADF;
	else if (!(k = sd__slot(s, oldfd)))
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

int sd__sim_set_nonblocking(void *state, int fd, int on)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0;
	sd__enter(s);
	if (!(k = sd__slot(s, fd)))
		rc = -EBADF;
	else
		k->nonblock = on != 0; /* an epoll descriptor takes O_NONBLOCK too (fcntl) */
	return rc;
}
