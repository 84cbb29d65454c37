/* sockdrill: the sd_no_* stubs a table points a member at when its backend lacks the call.
 * A file of their own: the LD_PRELOAD library links them without the registry. */
#include <errno.h>

#include <sockdrill/ops.h>

int sd_no_socket(void *s, int d, int t, int p)
{
	(void)s, (void)d, (void)t, (void)p;
	return -EOPNOTSUPP;
}
int sd_no_bind(void *s, int f, const struct sockaddr *a, socklen_t l)
{
	(void)s, (void)f, (void)a, (void)l;
	return -EOPNOTSUPP;
}
int sd_no_listen(void *s, int f, int b)
{
	(void)s, (void)f, (void)b;
	return -EOPNOTSUPP;
}
int sd_no_accept(void *s, int f, struct sockaddr *a, socklen_t *l, int fl)
{
	(void)s, (void)f, (void)a, (void)l, (void)fl;
	return -EOPNOTSUPP;
}
int sd_no_connect(void *s, int f, const struct sockaddr *a, socklen_t l)
{
	(void)s, (void)f, (void)a, (void)l;
	return -EOPNOTSUPP;
}
ssize_t sd_no_send(void *s, int f, const void *b, size_t n, int fl)
{
	(void)s, (void)f, (void)b, (void)n, (void)fl;
	return -EOPNOTSUPP;
}
ssize_t sd_no_recv(void *s, int f, void *b, size_t n, int fl)
{
	(void)s, (void)f, (void)b, (void)n, (void)fl;
	return -EOPNOTSUPP;
}
ssize_t sd_no_sendmsg(void *s, int f, const struct msghdr *m, int fl)
{
	(void)s, (void)f, (void)m, (void)fl;
	return -EOPNOTSUPP;
}
ssize_t sd_no_recvmsg(void *s, int f, struct msghdr *m, int fl)
{
	(void)s, (void)f, (void)m, (void)fl;
	return -EOPNOTSUPP;
}
int sd_no_shutdown(void *s, int f, int h)
{
	(void)s, (void)f, (void)h;
	return -EOPNOTSUPP;
}
int sd_no_close(void *s, int f)
{
	(void)s, (void)f;
	return -EOPNOTSUPP;
}
int sd_no_setsockopt(void *s, int f, int lv, int n, const void *v, socklen_t l)
{
	(void)s, (void)f, (void)lv, (void)n, (void)v, (void)l;
	return -EOPNOTSUPP;
}
int sd_no_getsockopt(void *s, int f, int lv, int n, void *v, socklen_t *l)
{
	(void)s, (void)f, (void)lv, (void)n, (void)v, (void)l;
	return -EOPNOTSUPP;
}
int sd_no_getsockname(void *s, int f, struct sockaddr *a, socklen_t *l)
{
	(void)s, (void)f, (void)a, (void)l;
	return -EOPNOTSUPP;
}
int sd_no_getpeername(void *s, int f, struct sockaddr *a, socklen_t *l)
{
	(void)s, (void)f, (void)a, (void)l;
	return -EOPNOTSUPP;
}
int sd_no_poll(void *s, struct pollfd *p, nfds_t n, int t)
{
	(void)s, (void)p, (void)n, (void)t;
	return -EOPNOTSUPP;
}
int sd_no_set_nonblocking(void *s, int f, int on)
{
	(void)s, (void)f, (void)on;
	return -EOPNOTSUPP;
}

int sd_no_spawn(void *s, const char *n, void (*fn)(void *), void *a)
{
	(void)s, (void)n, (void)fn, (void)a;
	return -EOPNOTSUPP;
}
int sd_no_join(void *s, int id)
{
	(void)s, (void)id;
	return -EOPNOTSUPP;
}
int sd_no_sleep_ns(void *s, int64_t ns)
{
	(void)s, (void)ns;
	return -EOPNOTSUPP;
}
int64_t sd_no_now_ns(void *s)
{
	(void)s;
	return -EOPNOTSUPP;
}

int sd_no_epoll_create(void *s, int f)
{
	(void)s, (void)f;
	return -EOPNOTSUPP;
}
int sd_no_epoll_ctl(void *s, int ep, int op, int f, struct epoll_event *e)
{
	(void)s, (void)ep, (void)op, (void)f, (void)e;
	return -EOPNOTSUPP;
}
int sd_no_epoll_wait(void *s, int ep, struct epoll_event *e, int n, int t)
{
	(void)s, (void)ep, (void)e, (void)n, (void)t;
	return -EOPNOTSUPP;
}

int sd_no_wake(void *s, int f, short ev)
{
	(void)s, (void)f, (void)ev;
	return -EOPNOTSUPP;
}
int sd_no_note(void *s, const char *t)
{
	(void)s, (void)t;
	return -EOPNOTSUPP;
}
unsigned sd_no_caps(void *s)
{
	(void)s;
	return 0;
}
int sd_no_join_until(void *s, int id, int64_t deadline_ns)
{
	(void)s, (void)id, (void)deadline_ns;
	return -EOPNOTSUPP;
}
const char *sd_no_actor_name(void *s)
{
	(void)s;
	return "main";
}
int sd_no_ioctl(void *s, int fd, unsigned long req, int *v)
{
	(void)s, (void)fd, (void)req, (void)v;
	return -EOPNOTSUPP;
}
int sd_no_dup(void *s, int fd)
{
	(void)s, (void)fd;
	return -EOPNOTSUPP;
}
int sd_no_dup3(void *s, int fd, int nfd, int flags)
{
	(void)s, (void)fd, (void)nfd, (void)flags;
	return -EOPNOTSUPP;
}
